/* The hook runner with small shell scripts, and the freezer's promise that "thaw" runs exactly
 * once after every "freeze", whatever happens in between. */
/* cmocka.h needs these first */
/* clang-format off */
#include <errno.h>
#include <glib/gstdio.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
/* clang-format on */

#include "freezer-fake.h"
#include "hooks.h"
#include "qa-error.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Fake, fake_free)

static const FakeFs two[] = {
    {"a", NULL, "ext4", 0, TRUE, NULL, NULL},
    {"b", NULL, "xfs", 1, TRUE, NULL, NULL},
};

/* writes an executable script; its actions are appended to <dir>/hook.log */
static gchar *
write_hook(const gchar *dir, const gchar *body)
{
	g_autofree gchar *path = g_build_filename(dir, "hook", NULL);
	g_autofree gchar *text =
	    g_strdup_printf("#!/bin/sh\necho \"$1\" >> '%s/hook.log'\n%s\n", dir, body);

	g_assert_true(g_file_set_contents(path, text, -1, NULL));
	g_assert_cmpint(g_chmod(path, 0755), ==, 0);
	return g_steal_pointer(&path);
}

/* strings handed out by read_log(), so tests can compare them inline; freed after each test */
static GPtrArray *log_texts;

static const gchar *
read_log(const gchar *dir)
{
	g_autofree gchar *path = g_build_filename(dir, "hook.log", NULL);
	gchar *text = NULL;

	if (!g_file_get_contents(path, &text, NULL, NULL))
		text = g_strdup("");
	g_strdelimit(text, "\n", ' ');
	g_ptr_array_add(log_texts, g_strchomp(text));
	return text;
}

static void
test_run_success(void **state)
{
	g_autoptr(Fake) fake = fake_new(two, 2);
	g_autofree gchar *hook =
	    write_hook(fake->dir, "echo out; echo err >&2; read x; echo \"stdin=$x\"");
	g_autoptr(GError) error = NULL;
	g_autofree gchar *output = NULL;

	assert_true(qa_hook_check(hook, &error));
	assert_true(qa_hook_run(hook, "freeze", 5000, &output, NULL, &error));
	g_assert_no_error(error);
	/* stdout and stderr are both captured; stdin is /dev/null, so read sees end of file */
	assert_non_null(strstr(output, "out\n"));
	assert_non_null(strstr(output, "err\n"));
	assert_non_null(strstr(output, "stdin=\n"));
}

static void
test_run_failure_last_line(void **state)
{
	g_autoptr(Fake) fake = fake_new(two, 2);
	g_autofree gchar *hook =
	    write_hook(fake->dir, "echo first; echo 'database refused' >&2; exit 3");
	g_autoptr(GError) error = NULL;
	g_autoptr(QaHookRun) run = NULL;

	assert_false(qa_hook_run(hook, "freeze", 5000, NULL, &run, &error));
	g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_FAILED);
	assert_non_null(strstr(error->message, "exit status 3"));
	assert_non_null(strstr(error->message, "database refused"));
	/* the run's record, for the freeze report */
	assert_string_equal(run->action, "freeze");
	assert_int_equal(run->exit_status, 3);
	assert_int_equal(run->signal, 0);
	assert_false(run->is_timed_out);
	assert_string_equal(run->last_line, "database refused");
	assert_string_equal(run->error, error->message);
	assert_true(run->started_at > 0 && run->duration_us > 0);
}

static void
test_run_record_signal(void **state)
{
	g_autoptr(Fake) fake = fake_new(two, 2);
	g_autofree gchar *hook = write_hook(fake->dir, "echo bye; kill -TERM $$");
	g_autoptr(QaHookRun) run = NULL;
	g_autoptr(QaHookRun) ok = NULL;
	g_autoptr(QaHookRun) copy = NULL;
	g_autofree gchar *quiet = NULL;

	assert_false(qa_hook_run(hook, "thaw", 5000, NULL, &run, NULL));
	assert_int_equal(run->exit_status, -1);
	assert_int_equal(run->signal, 15);
	assert_string_equal(run->last_line, "bye");
	assert_non_null(strstr(run->error, "signal 15"));
	copy = qa_hook_run_copy(run);
	assert_string_equal(copy->error, run->error);
	quiet = write_hook(fake->dir, "exit 0");
	assert_true(qa_hook_run(quiet, "thaw", 5000, NULL, &ok, NULL));
	assert_int_equal(ok->exit_status, 0);
	assert_null(ok->last_line);
	assert_null(ok->error);
}

/* gone or a zombie (its reaper may be slow to collect it) */
static gboolean
is_alive(const gchar *proc_stat)
{
	g_autofree gchar *text = NULL;
	const gchar *state;

	if (!g_file_get_contents(proc_stat, &text, NULL, NULL))
		return FALSE;
	state = strrchr(text, ')');
	return state != NULL && state[1] == ' ' && state[2] != 'Z' && state[2] != 'X';
}

static void
test_run_timeout_kills_group(void **state)
{
	g_autoptr(Fake) fake = fake_new(two, 2);
	g_autofree gchar *pidfile = g_build_filename(fake->dir, "child.pid", NULL);
	g_autofree gchar *body =
	    g_strdup_printf("echo waiting; sleep 30 & echo $! > '%s'; wait", pidfile);
	g_autofree gchar *hook = write_hook(fake->dir, body);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *pid = NULL;
	g_autofree gchar *proc = NULL;
	gint64 start = g_get_monotonic_time();

	g_autoptr(QaHookRun) run = NULL;

	assert_false(qa_hook_run(hook, "freeze", 300, NULL, &run, &error));
	assert_true(run->is_timed_out);
	assert_int_equal(run->exit_status, -1);
	assert_true(g_get_monotonic_time() - start < 3 * G_USEC_PER_SEC);
	assert_non_null(strstr(error->message, "did not finish within 300 ms"));
	assert_non_null(strstr(error->message, "waiting"));
	/* the hook's child died with it */
	assert_true(g_file_get_contents(pidfile, &pid, NULL, NULL));
	proc = g_strdup_printf("/proc/%s/stat", g_strstrip(pid));
	for (guint i = 0; i < 100 && is_alive(proc); i++)
		g_usleep(10 * 1000);
	assert_false(is_alive(proc));
}

static void
test_check_refuses(void **state)
{
	g_autoptr(Fake) fake = fake_new(two, 2);
	g_autofree gchar *hook = write_hook(fake->dir, "exit 0");
	g_autofree gchar *missing = g_build_filename(fake->dir, "missing", NULL);
	g_autoptr(GError) error = NULL;

	assert_int_equal(g_chmod(hook, 0775), 0);
	assert_false(qa_hook_check(hook, &error));
	assert_non_null(strstr(error->message, "writable by users other than root"));
	g_clear_error(&error);
	assert_int_equal(g_chmod(hook, 0644), 0);
	assert_false(qa_hook_check(hook, &error));
	g_clear_error(&error);
	assert_false(qa_hook_check(missing, &error));
	g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_NOT_FOUND);
}

/* a hook in a directory of @mode below the test directory, or a link to it */
static gchar *
write_hook_in(const gchar *dir, const gchar *sub, guint mode)
{
	g_autofree gchar *subdir = g_build_filename(dir, sub, NULL);

	g_assert_cmpint(g_mkdir_with_parents(subdir, 0755), ==, 0);
	g_assert_cmpint(g_chmod(subdir, mode), ==, 0);
	return write_hook(subdir, "exit 0");
}

static void
assert_check(const gchar *hook, const gchar *expected_in_error)
{
	g_autoptr(GError) error = NULL;
	gboolean ret = qa_hook_check(hook, &error);

	if (expected_in_error == NULL) {
		g_assert_no_error(error);
		assert_true(ret);
		return;
	}
	if (ret)
		fail_msg("'%s' was accepted", hook);
	if (strstr(error->message, expected_in_error) == NULL)
		fail_msg("'%s' does not contain '%s'", error->message, expected_in_error);
}

/* the hook is replaceable when any directory it is reached through is: its own, an ancestor,
 * or one that a symbolic link on the way leads through */
static void
test_check_refuses_writable_dirs(void **state)
{
	g_autoptr(Fake) fake = fake_new(two, 2);
	g_autofree gchar *safe = write_hook_in(fake->dir, "safe", 0755);
	g_autofree gchar *group = write_hook_in(fake->dir, "group", 0775);
	g_autofree gchar *deep = write_hook_in(fake->dir, "open/inner", 0755);
	g_autofree gchar *open = g_build_filename(fake->dir, "open", NULL);
	g_autofree gchar *sticky = write_hook_in(fake->dir, "sticky", 01777);
	g_autofree gchar *link_in_open = g_build_filename(open, "link", NULL);
	g_autofree gchar *link_to_open = g_build_filename(fake->dir, "safe", "to-open", NULL);
	g_autofree gchar *link_to_safe = g_build_filename(fake->dir, "safe", "to-safe", NULL);
	g_autofree gchar *dotdot = g_build_filename(fake->dir, "open", "..", "safe", "hook", NULL);

	assert_int_equal(g_chmod(open, 0777), 0);
	assert_check(safe, NULL);
	assert_check(group, "group'");
	assert_check(deep, "open'");
	assert_check(sticky, NULL);
	/* links: where the link is, and where it leads */
	assert_int_equal(symlink(safe, link_in_open), 0);
	assert_check(link_in_open, "open'");
	assert_int_equal(symlink("../open/inner/hook", link_to_open), 0);
	assert_check(link_to_open, "open'");
	assert_int_equal(symlink("../safe/hook", link_to_safe), 0);
	assert_check(link_to_safe, NULL);
	/* ".." leads back to the directory "open" was found in: nobody can redirect it */
	assert_check(dotdot, NULL);
	if (geteuid() == 0) {
		g_autofree gchar *owned = write_hook_in(fake->dir, "owned", 0755);
		g_autofree gchar *owned_dir = g_path_get_dirname(owned);
		assert_int_equal(chown(owned_dir, 65534, 65534), 0);
		assert_check(owned, "owner uid 65534");
	}
}

static QaFreezer *
new_hooked_freezer(Fake *fake, const gchar *body)
{
	g_autofree gchar *hook = write_hook(fake->dir, body);
	g_autoptr(GError) error = NULL;
	QaFreezer *freezer;

	fake->options.hook = hook;
	fake->options.hook_timeout_ms = 1000;
	freezer = qa_freezer_new(&fake->options, &error);
	g_assert_no_error(error);
	fake->options.hook = NULL;
	return freezer;
}

static void
test_freezer_hook_pairs(void **state)
{
	g_autoptr(Fake) fake = fake_new(two, 2);
	g_autoptr(QaFreezer) freezer = new_hooked_freezer(fake, "exit 0");
	g_autoptr(GPtrArray) a = fake_paths(fake, "a", NULL);
	g_autoptr(GPtrArray) b = fake_paths(fake, "b", NULL);
	g_autoptr(GError) error = NULL;
	guint count = 0;

	/* one epoch across two freeze-list calls: freeze once, thaw once at the end */
	assert_true(qa_freezer_freeze(freezer, a, &count, &error));
	assert_true(qa_freezer_freeze(freezer, b, &count, &error));
	assert_string_equal(read_log(fake->dir), "freeze");
	assert_true(qa_freezer_thaw(freezer, a, &count, &error));
	assert_string_equal(read_log(fake->dir), "freeze");
	assert_true(qa_freezer_thaw(freezer, NULL, &count, &error));
	assert_string_equal(read_log(fake->dir), "freeze thaw");
}

static gpointer
freeze_all_in_thread(gpointer data)
{
	g_autoptr(GError) error = NULL;
	guint count = 0;

	return GINT_TO_POINTER(qa_freezer_freeze(data, NULL, &count, &error));
}

/* A shutdown while the freeze hook runs still owes it its "thaw": the debt is recorded before
 * the hook starts, and the freeze that was running gives up once its hook returns. */
static void
test_shutdown_during_freeze_hook(void **state)
{
	g_autoptr(Fake) fake = fake_new(two, 2);
	g_autoptr(QaFreezer) freezer = NULL;
	g_autofree gchar *started = g_build_filename(fake->dir, "hook.log", NULL);
	GThread *thread;
	gint64 start = g_get_monotonic_time();

	fake->options.shutdown_wait_ms = 30 * 1000;
	freezer = new_hooked_freezer(fake, "[ \"$1\" = freeze ] && sleep 1; exit 0");
	thread = g_thread_new("freeze", freeze_all_in_thread, freezer);
	while (!g_file_test(started, G_FILE_TEST_EXISTS) &&
	       g_get_monotonic_time() - start < 10 * G_USEC_PER_SEC)
		g_usleep(10 * 1000);
	assert_int_equal(qa_freezer_thaw_for_shutdown(freezer), 0);
	/* the shutdown waited for the freeze to end: nothing froze, and the thaw hook ran */
	assert_false(GPOINTER_TO_INT(g_thread_join(thread)));
	assert_int_equal(fake_kernel_n_frozen(fake), 0);
	assert_string_equal(fake_calls(fake, "freeze"), "");
	assert_string_equal(read_log(fake->dir), "freeze thaw");
}

static void
test_freezer_hook_failure(void **state)
{
	g_autoptr(Fake) fake = fake_new(two, 2);
	g_autoptr(QaFreezer) freezer = new_hooked_freezer(
	    fake, "[ \"$1\" = freeze ] && { echo 'cannot lock tables'; exit 1; }; exit 0");
	g_autoptr(GError) error = NULL;
	guint count = 0;

	assert_false(qa_freezer_freeze(freezer, NULL, &count, &error));
	assert_non_null(strstr(error->message, "cannot lock tables"));
	/* nothing froze, and the hook undid what it prepared */
	assert_int_equal(fake->calls->len, 0);
	assert_string_equal(read_log(fake->dir), "freeze thaw");
	assert_false(qa_freezer_is_any_frozen(freezer));
}

static void
test_freezer_hook_timeout(void **state)
{
	g_autoptr(Fake) fake = fake_new(two, 2);
	g_autoptr(QaFreezer) freezer =
	    new_hooked_freezer(fake, "[ \"$1\" = freeze ] && { echo stuck; sleep 30; }; exit 0");
	g_autoptr(GError) error = NULL;
	guint count = 0;

	assert_false(qa_freezer_freeze(freezer, NULL, &count, &error));
	assert_non_null(strstr(error->message, "killed"));
	assert_non_null(strstr(error->message, "stuck"));
	assert_int_equal(fake->calls->len, 0);
	assert_string_equal(read_log(fake->dir), "freeze thaw");
}

static void
test_freezer_hook_after_failed_fifreeze(void **state)
{
	g_autoptr(Fake) fake = fake_new(two, 2);
	g_autoptr(QaFreezer) freezer = new_hooked_freezer(fake, "exit 0");
	g_autoptr(GError) error = NULL;
	guint count = 0;

	fake_set_fault(fake, "freeze", "b", -EIO);
	assert_false(qa_freezer_freeze(freezer, NULL, &count, &error));
	assert_string_equal(read_log(fake->dir), "freeze thaw");
	g_clear_error(&error);
	/* the next freeze starts a new epoch */
	fake_set_fault(fake, "freeze", "b", 0);
	assert_true(qa_freezer_freeze(freezer, NULL, &count, &error));
	assert_int_equal(count, 2);
	assert_int_equal(qa_freezer_thaw_for_shutdown(freezer), 2);
	assert_string_equal(read_log(fake->dir), "freeze thaw freeze thaw");
}

static void
test_freezer_hook_nothing_frozen(void **state)
{
	g_autoptr(Fake) fake = fake_new(two, 2);
	g_autoptr(QaFreezer) freezer = new_hooked_freezer(fake, "exit 0");
	g_autoptr(GPtrArray) empty = g_ptr_array_new();
	g_autoptr(GError) error = NULL;
	guint count = 1;

	/* QEMU's agent runs "freeze" here and never "thaw" */
	assert_true(qa_freezer_freeze(freezer, empty, &count, &error));
	assert_int_equal(count, 0);
	assert_string_equal(read_log(fake->dir), "freeze thaw");
	assert_false(qa_freezer_is_any_frozen(freezer));
}

static void
test_freezer_thaw_hook_failure_reported(void **state)
{
	g_autoptr(Fake) fake = fake_new(two, 2);
	g_autoptr(QaFreezer) freezer = new_hooked_freezer(
	    fake, "[ \"$1\" = thaw ] && { echo 'unlock failed'; exit 2; }; exit 0");
	g_autoptr(GError) error = NULL;
	guint count = 0;

	assert_true(qa_freezer_freeze(freezer, NULL, &count, &error));
	assert_false(qa_freezer_thaw(freezer, NULL, &count, &error));
	assert_non_null(strstr(error->message, "Thawed 2 filesystems"));
	assert_non_null(strstr(error->message, "unlock failed"));
	/* the filesystems stay thawed */
	assert_int_equal(fake_kernel_n_frozen(fake), 0);
	assert_false(qa_freezer_is_any_frozen(freezer));
}

static void
test_freezer_hook_after_watchdog(void **state)
{
	g_autoptr(Fake) fake = fake_new(two, 2);
	g_autoptr(QaFreezer) freezer = NULL;
	g_autoptr(GError) error = NULL;
	gint64 start;
	guint count = 0;

	fake->options.auto_thaw_ms = 500;
	freezer = new_hooked_freezer(fake, "exit 0");
	assert_true(qa_freezer_freeze(freezer, NULL, &count, &error));
	start = g_get_monotonic_time();
	while (g_strcmp0(read_log(fake->dir), "freeze thaw") != 0 &&
	       g_get_monotonic_time() - start < 5 * G_USEC_PER_SEC)
		g_usleep(20 * 1000);
	assert_string_equal(read_log(fake->dir), "freeze thaw");
	assert_int_equal(fake_kernel_n_frozen(fake), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_run_success),
	    cmocka_unit_test(test_run_failure_last_line),
	    cmocka_unit_test(test_run_record_signal),
	    cmocka_unit_test(test_run_timeout_kills_group),
	    cmocka_unit_test(test_check_refuses),
	    cmocka_unit_test(test_check_refuses_writable_dirs),
	    cmocka_unit_test(test_freezer_hook_pairs),
	    cmocka_unit_test(test_shutdown_during_freeze_hook),
	    cmocka_unit_test(test_freezer_hook_failure),
	    cmocka_unit_test(test_freezer_hook_timeout),
	    cmocka_unit_test(test_freezer_hook_after_failed_fifreeze),
	    cmocka_unit_test(test_freezer_hook_nothing_frozen),
	    cmocka_unit_test(test_freezer_thaw_hook_failure_reported),
	    cmocka_unit_test(test_freezer_hook_after_watchdog),
	};
	gint failed;

	log_texts = g_ptr_array_new_with_free_func(g_free);
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	g_ptr_array_unref(log_texts);
	return failed;
}
