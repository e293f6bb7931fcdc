/* The log holds lines in bounded memory while filesystems are frozen, and writes them after. */
#include <glib.h>
#include <glib/gstdio.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"

static gchar *
read_log(const gchar *path)
{
	gchar *text = NULL;

	g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
	return text;
}

static void
test_log_hold_and_release(void **state)
{
	g_autofree gchar *dir = g_dir_make_tmp("qa-log-XXXXXX", NULL);
	g_autofree gchar *path = g_build_filename(dir, "log", NULL);
	g_autofree gchar *before = NULL;
	g_autofree gchar *after = NULL;

	assert_true(qa_log_set_file(path, NULL));
	g_message("first line");
	qa_log_hold();
	assert_true(qa_log_is_held());
	g_message("held line");
	qa_log_hold(); /* holds nest */
	qa_log_release();
	g_message("still held");
	before = read_log(path);
	assert_non_null(strstr(before, "first line"));
	assert_null(strstr(before, "held line"));
	qa_log_release();
	assert_false(qa_log_is_held());
	after = read_log(path);
	assert_non_null(strstr(after, "held line"));
	assert_non_null(strstr(after, "still held"));
	assert_true(strstr(after, "held line") < strstr(after, "still held"));
	g_unlink(path);
	g_rmdir(dir);
}

static void
test_log_hold_is_bounded(void **state)
{
	g_autofree gchar *dir = g_dir_make_tmp("qa-log-XXXXXX", NULL);
	g_autofree gchar *path = g_build_filename(dir, "log", NULL);
	g_autofree gchar *text = NULL;
	g_autofree gchar *filler = g_strnfill(1000, 'x');

	assert_true(qa_log_set_file(path, NULL));
	qa_log_hold();
	for (guint i = 0; i < 1000; i++)
		g_message("line=%u %s", i, filler);
	qa_log_release();
	text = read_log(path);
	assert_true(strlen(text) < QA_LOG_HOLD_LIMIT + 4096);
	assert_non_null(strstr(text, "log lines were dropped while filesystems were frozen"));
	assert_non_null(strstr(text, "line=999 ")); /* the newest lines are kept */
	assert_null(strstr(text, "line=0 "));
	g_unlink(path);
	g_rmdir(dir);
}

/* a reopen asked for while lines are held waits for the release: the new file may be on a
 * filesystem that is frozen until then */
static void
test_log_reopen_while_held(void **state)
{
	g_autofree gchar *dir = g_dir_make_tmp("qa-log-XXXXXX", NULL);
	g_autofree gchar *path = g_build_filename(dir, "log", NULL);
	g_autofree gchar *rotated = g_build_filename(dir, "log.1", NULL);
	g_autofree gchar *old_text = NULL;
	g_autofree gchar *new_text = NULL;

	assert_true(qa_log_set_file(path, NULL));
	g_message("before rotation");
	assert_int_equal(g_rename(path, rotated), 0);
	qa_log_hold();
	g_message("while frozen");
	assert_true(qa_log_reopen(path, NULL));
	assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
	qa_log_release();
	old_text = read_log(rotated);
	new_text = read_log(path);
	assert_non_null(strstr(old_text, "before rotation"));
	assert_non_null(strstr(new_text, "while frozen"));
	g_unlink(path);
	g_unlink(rotated);
	g_rmdir(dir);
}

/* a reopen that fails at the release says so in the log it keeps writing to */
static void
test_log_reopen_failing_at_release(void **state)
{
	g_autofree gchar *dir = g_dir_make_tmp("qa-log-XXXXXX", NULL);
	g_autofree gchar *path = g_build_filename(dir, "log", NULL);
	g_autofree gchar *unopenable = g_build_filename(dir, "missing", "log", NULL);
	g_autofree gchar *text = NULL;

	assert_true(qa_log_set_file(path, NULL));
	qa_log_hold();
	g_message("while frozen");
	assert_true(qa_log_reopen(unopenable, NULL));
	qa_log_release();
	text = read_log(path);
	assert_non_null(strstr(text, "cannot reopen the log file, still writing to the old one"));
	assert_non_null(strstr(text, "while frozen"));
	g_unlink(path);
	g_rmdir(dir);
}

/* what hosts send reaches the log escaped: nothing in it can end a line or start one */
static void
test_log_escape(void **state)
{
	static const struct {
		const gchar *message;
		const gchar *logged;
	} cases[] = {
	    {"plain text, 'quoted' /path", "plain text, 'quoted' /path"},
	    {"name\n<0>forged line", "name\\n<0>forged line"},
	    {"a\rb\tc\x1b[31mred", "a\\rb\\tc\\x1b[31mred"},
	    {"back\\slash \\n", "back\\\\slash \\\\n"},
	    {"del\x7f", "del\\x7f"},
	    {"caf\xc3\xa9 \xe2\x82\xac", "caf\xc3\xa9 \xe2\x82\xac"}, /* printable UTF-8 */
	    {"bad \xff\xc3 utf-8", "bad \\xff\\xc3 utf-8"},	      /* not UTF-8 */
	    {"nel\xc2\x85 ls\xe2\x80\xa8 ps\xe2\x80\xa9", "nel\\u0085 ls\\u2028 ps\\u2029"},
	    {"bidi \xe2\x80\xae", "bidi \\u202e"},	 /* a format character */
	    {"tag \xf3\xa0\x80\x81", "tag \\U000e0001"}, /* beyond the BMP */
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *got = qa_log_escape(cases[i].message);

		if (g_strcmp0(got, cases[i].logged) != 0)
			fail_msg("case %u: got '%s', expected '%s'", i, got, cases[i].logged);
	}
}

/* every record is one line, also in journald's format, whoever wrote its message */
static void
test_log_one_line_per_record(void **state)
{
	g_autofree gchar *dir = g_dir_make_tmp("qa-log-XXXXXX", NULL);
	g_autofree gchar *path = g_build_filename(dir, "log", NULL);
	g_autofree gchar *text = NULL;
	g_auto(GStrv) lines = NULL;
	g_autofree gchar *huge = g_strnfill(QA_LOG_MESSAGE_MAX * 2, 'x');

	assert_true(qa_log_set_file(path, NULL));
	g_message("command=(none) failed: The command guest-x\n<0>quiesce-agent: forged has not "
		  "been found");
	g_info("hidden info");
	g_message("long %s", huge);
	text = read_log(path);
	lines = g_strsplit(text, "\n", -1);
	assert_int_equal(g_strv_length(lines), 3); /* two records and the end of the last */
	assert_non_null(strstr(lines[0], "guest-x\\n<0>quiesce-agent: forged"));
	assert_true(strlen(lines[1]) < QA_LOG_MESSAGE_MAX + 200);
	/* "long " and 16379 of the x fill the message; 16389 are cut */
	assert_non_null(strstr(lines[1], "xxx... (16389 more bytes)"));
	g_unlink(path);
	g_rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_log_hold_and_release),
	    cmocka_unit_test(test_log_hold_is_bounded),
	    cmocka_unit_test(test_log_reopen_while_held),
	    cmocka_unit_test(test_log_reopen_failing_at_release),
	    cmocka_unit_test(test_log_escape),
	    cmocka_unit_test(test_log_one_line_per_record),
	};

	qa_log_init(FALSE);
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
