/* mountinfo parsing with libmount, the block-backed rule and the superblock grouping. */
/* cmocka.h needs these before it */
/* clang-format off */
#include <glib.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
/* clang-format on */

#include <string.h>

#include "fixture-roots.h"
#include "mounts.h"
#include "qa-error.h"

static void
test_mounts_parse(void **state)
{
	const gchar *text =
	    "36 1 254:0 /www /var/www rw,relatime shared:1 - ext4 /dev/mapper/vg0-data rw\n"
	    "this is not a mountinfo line\n"
	    "37 36 0:40 / /mnt/with\\040space/\xc3\xa9 ro,nosuid - tmpfs tmp\\040fs rw,size=4k\n";
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) mounts = qa_mounts_parse(text, &error);
	QaMount *mount;

	assert_non_null(mounts);
	assert_int_equal(mounts->len, 2);
	mount = g_ptr_array_index(mounts, 0);
	assert_string_equal(mount->mountpoint, "/var/www");
	assert_string_equal(mount->fstype, "ext4");
	assert_string_equal(mount->source, "/dev/mapper/vg0-data");
	assert_string_equal(mount->fs_root, "/www");
	assert_int_equal(mount->major, 254);
	assert_int_equal(mount->minor, 0);
	assert_int_equal(mount->mount_id, 36);
	assert_int_equal(mount->parent_id, 1);
	assert_false(mount->is_readonly);
	mount = g_ptr_array_index(mounts, 1);
	/* escapes undone: the name as the kernel knows it */
	assert_string_equal(mount->mountpoint, "/mnt/with space/\xc3\xa9");
	assert_true(mount->is_readonly);
}

static void
test_mounts_parse_bad(void **state)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) empty = qa_mounts_parse("", NULL);
	g_autoptr(GPtrArray) bad = qa_mounts_parse("garbage\nmore garbage\n", &error);

	assert_non_null(empty);
	assert_int_equal(empty->len, 0);
	assert_null(bad);
	assert_true(g_error_matches(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_PARSE));
}

/* the table kept between requests: parsed again exactly when the text differs */
static void
test_mount_table_reuses_only_equal_text(void **state)
{
	const gchar *one = "36 1 8:1 / / rw - ext4 /dev/sda1 rw\n";
	const gchar *two = "36 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
			   "40 36 8:1 /srv /a/b rw - ext4 /dev/sda1 rw\n";
	/* a directory above a mountpoint renamed: no mount or unmount, only the text differs */
	const gchar *renamed = "36 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
			       "40 36 8:1 /srv /z/b rw - ext4 /dev/sda1 rw\n";
	static const gchar with_nul[] = "36 1 8:1 / / rw - ext4 /dev/sda1 rw\n\0junk";
	g_autoptr(QaMountTable) table = qa_mount_table_new();
	g_autoptr(GPtrArray) first = qa_mount_table_update(table, one, strlen(one), NULL);
	g_autoptr(GPtrArray) again = qa_mount_table_update(table, one, strlen(one), NULL);
	g_autoptr(GPtrArray) grown = qa_mount_table_update(table, two, strlen(two), NULL);
	g_autoptr(GPtrArray) moved = qa_mount_table_update(table, renamed, strlen(renamed), NULL);
	g_autoptr(GPtrArray) bad = NULL;
	g_autoptr(GPtrArray) after_bad = NULL;
	g_autoptr(GPtrArray) truncated = NULL;
	g_autoptr(GError) error = NULL;

	assert_non_null(first);
	assert_int_equal(first->len, 1);
	assert_ptr_equal(again, first);
	assert_int_equal(grown->len, 2);
	assert_string_equal(((QaMount *)g_ptr_array_index(grown, 1))->mountpoint, "/a/b");
	assert_int_equal(moved->len, 2);
	assert_string_equal(((QaMount *)g_ptr_array_index(moved, 1))->mountpoint, "/z/b");
	/* what a caller holds is not changed by later updates */
	assert_string_equal(((QaMount *)g_ptr_array_index(grown, 1))->mountpoint, "/a/b");

	/* a table that cannot be parsed fails the load and leaves the last one in place */
	bad = qa_mount_table_update(table, "garbage\n", strlen("garbage\n"), &error);
	assert_null(bad);
	assert_int_equal(error->code, QA_SYSTEM_ERROR_PARSE);
	after_bad = qa_mount_table_update(table, renamed, strlen(renamed), NULL);
	assert_ptr_equal(after_bad, moved);

	/* text is compared as far as it is parsed: up to @len or a NUL */
	truncated = qa_mount_table_update(table, two, strlen(one), NULL);
	assert_int_equal(truncated->len, 1);
	g_ptr_array_unref(truncated);
	truncated = qa_mount_table_update(table, with_nul, sizeof(with_nul) - 1, NULL);
	assert_int_equal(truncated->len, 1);
}

static const struct {
	const gchar *path;
	const gchar *expected; /* mountpoint of the holding mount */
} holding_cases[] = {
    {"/images/disk.img", "/images"},
    {"/imagesX/disk.img", "/"},
    {"/mnt/img/inner img", "/mnt/img"},
    {"/run/user/0/x", "/run/user/0"},
    {"/", "/"},
    {"relative", NULL},
};

static void
test_mounts_find_holding(void **state)
{
	g_autoptr(QaRoots) roots = qa_test_fixture_roots("debian12-q35-synthetic");
	g_autoptr(GPtrArray) mounts = qa_mounts_load(roots, NULL);

	assert_non_null(mounts);
	for (guint i = 0; i < G_N_ELEMENTS(holding_cases); i++) {
		const QaMount *mount = qa_mounts_find_holding(mounts, holding_cases[i].path);
		if (holding_cases[i].expected == NULL) {
			assert_null(mount);
			continue;
		}
		assert_non_null(mount);
		assert_string_equal(mount->mountpoint, holding_cases[i].expected);
	}
}

/* pseudo filesystems are those without a block device; bind mounts share a superblock */
static void
test_mounts_filesystems(void **state)
{
	g_autoptr(QaRoots) roots = qa_test_fixture_roots("debian12-q35-synthetic");
	g_autoptr(GPtrArray) mounts = qa_mounts_load(roots, NULL);
	g_autoptr(GPtrArray) filesystems = qa_filesystems_from_mounts(roots, mounts);
	g_autoptr(GString) str = g_string_new(NULL);

	for (guint i = 0; i < filesystems->len; i++) {
		QaFilesystem *fs = g_ptr_array_index(filesystems, i);
		g_string_append_printf(
		    str, "%s%s%s", i > 0 ? " " : "", fs->is_block_backed ? "" : "-", fs->fstype);
		for (guint j = 0; j < fs->mountpoints->len; j++)
			g_string_append_printf(
			    str, ",%s", (const gchar *)g_ptr_array_index(fs->mountpoints, j));
	}
	assert_string_equal(
	    str->str,
	    "-proc,/proc -sysfs,/sys -devtmpfs,/dev ext4,/ -tmpfs,/run ext4,/images "
	    "ext4,/data,/var/www,/mnt/with space/\xc3\xa9 xfs,/srv ext4,/nvme ext4,/lsi "
	    "ext4,/mnt/img ext4,/mnt/dmloop ext4,/mnt/inner -tmpfs,/run/user/0");
}

/* btrfs: anonymous 0:N superblock, block-backed through its source */
static void
test_mounts_btrfs_block_backed(void **state)
{
	g_autoptr(QaRoots) roots = qa_test_fixture_roots("host-debian12-virtio-blk");
	g_autoptr(GPtrArray) mounts = qa_mounts_load(roots, NULL);
	const QaMount *btrfs = qa_mounts_find_holding(mounts, "/tmp/qa-fx/btrfs");
	const QaMount *tmp = qa_mounts_find_holding(mounts, "/tmp/qa-fx/tmp");

	assert_int_equal(btrfs->major, 0);
	assert_true(qa_mounts_is_block_backed(roots, btrfs));
	assert_false(qa_mounts_is_block_backed(roots, tmp));
}

static void
test_mounts_confine(void **state)
{
	g_autoptr(QaRoots) roots = qa_test_fixture_roots("debian12-q35-synthetic");
	g_autoptr(GPtrArray) mounts = NULL;
	guint confined = 0;

	roots->confine = g_strdup("/mnt");
	mounts = qa_mounts_load(roots, NULL);
	assert_non_null(mounts);
	/* the table stays whole (resolution needs it); callers confine what they report */
	for (guint i = 0; i < mounts->len; i++) {
		const QaMount *mount = g_ptr_array_index(mounts, i);
		confined += qa_roots_is_confined_path(roots, mount->mountpoint);
	}
	assert_true(mounts->len > 4);
	assert_int_equal(confined, 4);
}

/* the generation moves exactly when the table gives other mounts, never back */
static void
test_mount_table_generation(void **state)
{
	const gchar *one = "36 1 8:1 / / rw - ext4 /dev/sda1 rw\n";
	const gchar *two = "36 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
			   "40 36 8:1 /srv /a/b rw - ext4 /dev/sda1 rw\n";
	g_autoptr(QaMountTable) table = qa_mount_table_new();
	g_autoptr(GPtrArray) m1 = NULL;
	g_autoptr(GPtrArray) m2 = NULL;
	g_autoptr(GPtrArray) m3 = NULL;
	g_autoptr(GPtrArray) m4 = NULL;
	g_autoptr(GError) error = NULL;

	assert_int_equal(qa_mount_table_get_generation(table), 0);
	m1 = qa_mount_table_update(table, one, strlen(one), NULL);
	assert_int_equal(qa_mount_table_get_generation(table), 1);
	m2 = qa_mount_table_update(table, one, strlen(one), NULL);
	assert_int_equal(qa_mount_table_get_generation(table), 1);
	m3 = qa_mount_table_update(table, two, strlen(two), NULL);
	assert_int_equal(qa_mount_table_get_generation(table), 2);
	/* back to the first text: other mounts than the last, so a new generation */
	m4 = qa_mount_table_update(table, one, strlen(one), NULL);
	assert_int_equal(qa_mount_table_get_generation(table), 3);
	assert_null(qa_mount_table_update(table, "garbage\n", 8, &error));
	assert_int_equal(qa_mount_table_get_generation(table), 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mounts_parse),
	    cmocka_unit_test(test_mounts_parse_bad),
	    cmocka_unit_test(test_mount_table_reuses_only_equal_text),
	    cmocka_unit_test(test_mounts_find_holding),
	    cmocka_unit_test(test_mounts_filesystems),
	    cmocka_unit_test(test_mounts_btrfs_block_backed),
	    cmocka_unit_test(test_mounts_confine),
	    cmocka_unit_test(test_mount_table_generation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
