/* Unit tests of system/clock.c: the range of times guest-set-time accepts, /etc/adjtime's time
 * scale, and the RTC's broken-down time both ways. Nothing here sets a clock: the functions that
 * do run only in the QEMU guest tests. */
#include <glib.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "clock.h"
#include "qa-error.h"

#define NS G_GINT64_CONSTANT(1000000000)

static const struct {
	gint64 ns;
	gboolean is_valid;
} check_cases[] = {
    {0, TRUE},
    {1, TRUE},
    {G_GINT64_CONSTANT(1700000000) * NS + 123456789, TRUE},
    /* 2038-01-19T03:14:08Z: past a 32-bit time_t, fine with a 64-bit one */
    {G_GINT64_CONSTANT(2147483648) * NS, TRUE},
    /* 2069-12-31T23:59:59.999999999Z, the last accepted */
    {G_GINT64_CONSTANT(3155760000) * NS - 1, TRUE},
    /* 2070-01-01T00:00:00Z, the first refused */
    {G_GINT64_CONSTANT(3155760000) * NS, FALSE},
    {-1, FALSE},
    {-NS, FALSE},
    {G_MININT64, FALSE},
    {G_MAXINT64, FALSE},
};

static void
test_check_ns(void **state)
{
	for (guint i = 0; i < G_N_ELEMENTS(check_cases); i++) {
		g_autoptr(GError) error = NULL;
		gboolean ok = qa_clock_check_ns(check_cases[i].ns, &error);
		g_autofree gchar *number = g_strdup_printf("%" G_GINT64_FORMAT, check_cases[i].ns);

		assert_int_equal(ok, check_cases[i].is_valid);
		if (ok)
			continue;
		g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_INVALID);
		assert_true(g_str_has_prefix(error->message, "Invalid time "));
		assert_non_null(strstr(error->message, number));
		assert_non_null(strstr(error->message, "3155759999999999999"));
	}
}

static void
test_get_ns(void **state)
{
	gint64 ns = 0;
	time_t before = time(NULL);
	time_t after;

	assert_true(qa_clock_get_ns(&ns, NULL));
	after = time(NULL);
	assert_true(ns / NS >= before && ns / NS <= after);
}

static const struct {
	const gchar *text;
	gint is_local; /* -1: refused */
} adjtime_cases[] = {
    {NULL, FALSE},
    {"", FALSE},
    {"0.000000 1700000000 0.000000\n1700000000\nUTC\n", FALSE},
    {"0.000000 1700000000 0.000000\n1700000000\nLOCAL\n", TRUE},
    {"0.000000 0 0.000000\n0\nLOCAL", TRUE},
    {"0.000000 0 0.000000\n0\n", FALSE},
    {"0.000000 0 0.000000\n0\n\n", FALSE},
    {"0.0 0 0.0\n", FALSE},
    {"0.000000 0 0.000000\n0\n  UTC  \n", FALSE},
    {"0.000000 0 0.000000\n0\nlocal\n", -1},
    {"0.000000 0 0.000000\n0\nGMT\n", -1},
};

static void
test_adjtime_parse(void **state)
{
	for (guint i = 0; i < G_N_ELEMENTS(adjtime_cases); i++) {
		g_autoptr(GError) error = NULL;
		gboolean is_local = 99;
		gboolean ok = qa_clock_adjtime_parse(adjtime_cases[i].text, &is_local, &error);

		if (adjtime_cases[i].is_local < 0) {
			assert_false(ok);
			g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_PARSE);
			assert_non_null(strstr(error->message, "expected UTC or LOCAL"));
			continue;
		}
		assert_true(ok);
		assert_int_equal(is_local, adjtime_cases[i].is_local);
	}
}

static const struct {
	gint year, mon, mday, hour, min, sec; /* as people write them */
	gint64 seconds;			      /* -1: refused */
} tm_cases[] = {
    {1970, 1, 1, 0, 0, 0, 0},
    {2023, 11, 14, 22, 13, 20, 1700000000},
    {2024, 2, 29, 12, 0, 0, 1709208000},
    {2069, 12, 31, 23, 59, 59, 3155759999},
    /* an RTC may hold years past 2069 (the century register); the system clock decides */
    {2099, 12, 31, 23, 59, 59, 4102444799},
    {1969, 12, 31, 23, 59, 59, -1},
    {2023, 2, 29, 0, 0, 0, -1},
    {2023, 13, 1, 0, 0, 0, -1},
    {2023, 0, 1, 0, 0, 0, -1},
    {2023, 4, 31, 0, 0, 0, -1},
    {2023, 1, 0, 0, 0, 0, -1},
    {2023, 1, 1, 24, 0, 0, -1},
    {2023, 1, 1, 0, 60, 0, -1},
    {2023, 1, 1, 0, 0, 60, -1},
    {2023, 1, 1, -1, 0, 0, -1},
    {12000, 1, 1, 0, 0, 0, -1},
};

static void
test_tm_utc(void **state)
{
	for (guint i = 0; i < G_N_ELEMENTS(tm_cases); i++) {
		struct tm tm = {
		    .tm_year = tm_cases[i].year - 1900,
		    .tm_mon = tm_cases[i].mon - 1,
		    .tm_mday = tm_cases[i].mday,
		    .tm_hour = tm_cases[i].hour,
		    .tm_min = tm_cases[i].min,
		    .tm_sec = tm_cases[i].sec,
		};
		struct tm back;
		g_autoptr(GError) error = NULL;
		gint64 seconds = 0;
		gboolean ok = qa_clock_tm_to_seconds(&tm, FALSE, &seconds, &error);

		if (tm_cases[i].seconds < 0) {
			assert_false(ok);
			g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_INVALID);
			assert_non_null(strstr(error->message, "hardware clock"));
			continue;
		}
		assert_true(ok);
		assert_int_equal(seconds, tm_cases[i].seconds);
		/* and back, as RTC_SET_TIME gets it */
		assert_true(qa_clock_seconds_to_tm(seconds, FALSE, &back, NULL));
		assert_int_equal(back.tm_year, tm.tm_year);
		assert_int_equal(back.tm_mon, tm.tm_mon);
		assert_int_equal(back.tm_mday, tm.tm_mday);
		assert_int_equal(back.tm_hour, tm.tm_hour);
		assert_int_equal(back.tm_min, tm.tm_min);
		assert_int_equal(back.tm_sec, tm.tm_sec);
	}
}

/* an RTC kept in local time (/etc/adjtime LOCAL, dual-boot with Windows) */
static void
test_tm_local(void **state)
{
	g_autofree gchar *old_tz = g_strdup(g_getenv("TZ"));
	/* Central European Time without tzdata: UTC+1, summer UTC+2 */
	struct tm winter = {.tm_year = 124, .tm_mon = 0, .tm_mday = 15, .tm_hour = 13};
	struct tm summer = {.tm_year = 124, .tm_mon = 6, .tm_mday = 15, .tm_hour = 14};
	struct tm back;
	gint64 seconds = 0;

	g_setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", TRUE);
	tzset();
	/* 2024-01-15T12:00:00Z and 2024-07-15T12:00:00Z */
	assert_true(qa_clock_tm_to_seconds(&winter, TRUE, &seconds, NULL));
	assert_int_equal(seconds, 1705320000);
	assert_true(qa_clock_tm_to_seconds(&summer, TRUE, &seconds, NULL));
	assert_int_equal(seconds, 1721044800);
	assert_true(qa_clock_seconds_to_tm(1721044800, TRUE, &back, NULL));
	assert_int_equal(back.tm_hour, 14);
	assert_true(qa_clock_seconds_to_tm(1721044800, FALSE, &back, NULL));
	assert_int_equal(back.tm_hour, 12);

	if (old_tz != NULL)
		g_setenv("TZ", old_tz, TRUE);
	else
		g_unsetenv("TZ");
	tzset();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check_ns),
	    cmocka_unit_test(test_get_ns),
	    cmocka_unit_test(test_adjtime_parse),
	    cmocka_unit_test(test_tm_utc),
	    cmocka_unit_test(test_tm_local),
	};
	return cmocka_run_group_tests_name("clock", tests, NULL, NULL);
}
