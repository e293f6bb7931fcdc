/* Unit tests of system/nvme.c: the SMART / Health log page parse on a page laid out as the NVMe
 * specification says, each field with a value no other field has, so that a field read from the
 * wrong offset or in the wrong byte order shows; and the read's error on what is no NVMe node.
 * The values a real controller gives are checked in the guest, against qemu-ga's, by the VM
 * suite (tests/vm/suite.py, compare_qga_commands). */
#include <glib.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "nvme.h"
#include "qa-error.h"

static void
put_le(guint8 *p, guint64 value, guint n)
{
	for (guint i = 0; i < n; i++)
		p[i] = (guint8)(value >> (8 * i));
}

static void
test_parse_every_field(void **state)
{
	guint8 page[QA_NVME_SMART_LOG_SIZE];
	QaNvmeSmart smart;

	/* what the parse must not read shows as 0xa5 everywhere */
	memset(page, 0xa5, sizeof(page));
	page[0] = 0x04;		     /* critical warning: reliability degraded */
	put_le(page + 1, 0x0143, 2); /* 323 K, 50 °C */
	page[3] = 97;		     /* available spare */
	page[4] = 10;		     /* threshold */
	page[5] = 3;		     /* percentage used */
	for (guint i = 0; i < QA_NVME_N_COUNTERS; i++) {
		put_le(page + 32 + 16 * i, 0x0102030405060708ull + i, 8);
		put_le(page + 32 + 16 * i + 8, 0x10 + i, 8);
	}
	qa_nvme_smart_parse(page, &smart);
	assert_int_equal(smart.critical_warning, 0x04);
	assert_int_equal(smart.temperature, 323);
	assert_int_equal(smart.available_spare, 97);
	assert_int_equal(smart.available_spare_threshold, 10);
	assert_int_equal(smart.percentage_used, 3);
	for (guint i = 0; i < QA_NVME_N_COUNTERS; i++) {
		assert_true(smart.counters[i][0] == 0x0102030405060708ull + i);
		assert_true(smart.counters[i][1] == 0x10 + i);
	}
	/* the last counter ends at byte 191 */
	assert_true(smart.counters[QA_NVME_COUNTER_ERROR_LOG_ENTRIES][1] ==
		    0x10 + QA_NVME_COUNTER_ERROR_LOG_ENTRIES);
}

static void
test_parse_full_counters(void **state)
{
	guint8 page[QA_NVME_SMART_LOG_SIZE] = {0};
	QaNvmeSmart smart;

	put_le(page + 1, 0xffff, 2);
	put_le(page + 32, G_MAXUINT64, 8);
	put_le(page + 40, G_MAXUINT64, 8);
	qa_nvme_smart_parse(page, &smart);
	assert_int_equal(smart.temperature, 0xffff);
	assert_true(smart.counters[QA_NVME_COUNTER_DATA_UNITS_READ][0] == G_MAXUINT64);
	assert_true(smart.counters[QA_NVME_COUNTER_DATA_UNITS_READ][1] == G_MAXUINT64);
	assert_true(smart.counters[QA_NVME_COUNTER_DATA_UNITS_WRITTEN][0] == 0);
}

static void
test_read_names_node(void **state)
{
	g_autoptr(GError) error = NULL;
	QaNvmeSmart smart;

	/* not an NVMe device: the kernel refuses the ioctl */
	assert_false(qa_nvme_smart_read("/dev/null", &smart, &error));
	assert_non_null(error);
	assert_non_null(strstr(error->message, "/dev/null"));
	g_clear_error(&error);
	assert_false(qa_nvme_smart_read("/nonexistent/nvme9n1", &smart, &error));
	assert_non_null(strstr(error->message, "/nonexistent/nvme9n1"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_every_field),
	    cmocka_unit_test(test_parse_full_counters),
	    cmocka_unit_test(test_read_names_node),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
