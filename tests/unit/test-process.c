/* Unit tests of system/process.c: capture plans, argv and environment assembly, the PATH lookup
 * in temporary directories, the record state machine and its truncation accounting without any
 * process, and the table itself on harmless children (printf, cat, true, sleep) watched on a
 * private main context. */
#include <glib.h>
#include <glib/gstdio.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "process.h"
#include "qa-error.h"

/* --- capture plans --------------------------------------------------------------------------- */

static const struct {
	QaProcessCapture capture;
	const gchar *name;
	gboolean pipes_stdout;
	gboolean pipes_stderr;
	gboolean merges_stderr;
	guint full_captures; /* streams of QA_PROCESS_OUTPUT_MAX it may hold */
} plan_cases[] = {
    {QA_PROCESS_CAPTURE_NONE, "none", FALSE, FALSE, FALSE, 0},
    {QA_PROCESS_CAPTURE_STDOUT, "stdout", TRUE, FALSE, FALSE, 1},
    {QA_PROCESS_CAPTURE_STDERR, "stderr", FALSE, TRUE, FALSE, 1},
    {QA_PROCESS_CAPTURE_SEPARATED, "separated", TRUE, TRUE, FALSE, 2},
    {QA_PROCESS_CAPTURE_MERGED, "merged", TRUE, FALSE, TRUE, 1},
};

static void
test_capture_plan(void **state)
{
	for (guint i = 0; i < G_N_ELEMENTS(plan_cases); i++) {
		QaProcessCapturePlan plan = qa_process_capture_plan(plan_cases[i].capture);

		assert_string_equal(qa_process_capture_to_string(plan_cases[i].capture),
				    plan_cases[i].name);
		assert_int_equal(plan.pipes_stdout, plan_cases[i].pipes_stdout);
		assert_int_equal(plan.pipes_stderr, plan_cases[i].pipes_stderr);
		assert_int_equal(plan.merges_stderr, plan_cases[i].merges_stderr);
		assert_int_equal(qa_process_capture_max_bytes(plan_cases[i].capture),
				 plan_cases[i].full_captures * (gsize)QA_PROCESS_OUTPUT_MAX);
	}
	assert_string_equal(qa_process_capture_to_string(99), "unknown");
}

/* --- argv and environment -------------------------------------------------------------------- */

static GPtrArray *
strings_new(const gchar *const *items)
{
	GPtrArray *array = g_ptr_array_new_with_free_func(g_free);

	for (guint i = 0; items != NULL && items[i] != NULL; i++)
		g_ptr_array_add(array, g_strdup(items[i]));
	return array;
}

static void
test_argv_build(void **state)
{
	const gchar *args[] = {"-c", "echo $0", "", NULL};
	g_autoptr(GPtrArray) list = strings_new(args);
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) argv = qa_process_argv_build("sh", list, &error);
	g_auto(GStrv) alone = qa_process_argv_build("/bin/true", NULL, &error);

	assert_non_null(argv);
	assert_int_equal(g_strv_length(argv), 4);
	assert_string_equal(argv[0], "sh");
	assert_string_equal(argv[2], "echo $0");
	assert_string_equal(argv[3], "");
	assert_non_null(alone);
	assert_int_equal(g_strv_length(alone), 1);
	assert_string_equal(alone[0], "/bin/true");
}

static void
test_argv_build_refuses(void **state)
{
	g_autofree gchar *longest = g_strnfill(QA_PROCESS_STRING_MAX - 1, 'x');
	g_autofree gchar *too_long = g_strnfill(QA_PROCESS_STRING_MAX, 'x');
	const gchar *ok_args[] = {longest, NULL};
	const gchar *bad_args[] = {"fine", too_long, NULL};
	g_autoptr(GPtrArray) ok_list = strings_new(ok_args);
	g_autoptr(GPtrArray) bad_list = strings_new(bad_args);
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) ok = qa_process_argv_build("x", ok_list, &error);
	gchar **argv;

	assert_non_null(ok);
	argv = qa_process_argv_build("", NULL, &error);
	assert_null(argv);
	g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_INVALID);
	assert_non_null(strstr(error->message, "empty"));
	g_clear_error(&error);
	argv = qa_process_argv_build("x", bad_list, &error);
	assert_null(argv);
	g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_INVALID);
	assert_non_null(strstr(error->message, "Argument 2 is 131072 bytes long"));
	g_clear_error(&error);
	argv = qa_process_argv_build(too_long, NULL, &error);
	assert_null(argv);
	assert_non_null(strstr(error->message, "Argument 0"));
}

static const struct {
	const gchar *env[4]; /* NULL-terminated; env[0] NULL with is_null: no list at all */
	gboolean is_null;
	const gchar *expected; /* entries joined by '|'; NULL: refused */
} env_cases[] = {
    {{NULL}, TRUE, "PATH=" QA_PROCESS_DEFAULT_PATH},
    {{NULL}, FALSE, "PATH=" QA_PROCESS_DEFAULT_PATH},
    {{"A=1", "B=", NULL}, FALSE, "A=1|B=|PATH=" QA_PROCESS_DEFAULT_PATH},
    {{"PATH=/opt", "A=1", NULL}, FALSE, "PATH=/opt|A=1"},
    {{"PATH=", NULL}, FALSE, "PATH="},
    /* a name that starts like PATH is not PATH */
    {{"PATHX=1", NULL}, FALSE, "PATHX=1|PATH=" QA_PROCESS_DEFAULT_PATH},
    {{"X=a=b", "X=c", NULL}, FALSE, "X=a=b|X=c|PATH=" QA_PROCESS_DEFAULT_PATH},
    {{"PATH", NULL}, FALSE, NULL},
    {{"A=1", "=1", NULL}, FALSE, NULL},
    {{"", NULL}, FALSE, NULL},
};

static void
test_envp_build(void **state)
{
	for (guint i = 0; i < G_N_ELEMENTS(env_cases); i++) {
		g_autoptr(GPtrArray) list =
		    env_cases[i].is_null ? NULL : strings_new(env_cases[i].env);
		g_autoptr(GError) error = NULL;
		g_auto(GStrv) envp = qa_process_envp_build(list, &error);

		if (env_cases[i].expected == NULL) {
			assert_null(envp);
			g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_INVALID);
			assert_non_null(strstr(error->message, "expected NAME=VALUE"));
		} else {
			g_autofree gchar *joined = NULL;

			assert_non_null(envp);
			joined = g_strjoinv("|", envp);
			assert_string_equal(joined, env_cases[i].expected);
		}
	}
}

static void
test_envp_build_refuses_long_entries(void **state)
{
	g_autofree gchar *filler = g_strnfill(QA_PROCESS_STRING_MAX, 'y');
	g_autofree gchar *entry = g_strconcat("A=", filler, NULL);
	const gchar *items[] = {"B=1", entry, NULL};
	g_autoptr(GPtrArray) list = strings_new(items);
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) envp = qa_process_envp_build(list, &error);

	assert_null(envp);
	g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_INVALID);
	assert_non_null(strstr(error->message, "Environment entry 1"));
}

/* --- PATH lookup ------------------------------------------------------------------------------ */

static void
write_file(const gchar *dir, const gchar *name, gint mode)
{
	g_autofree gchar *path = g_build_filename(dir, name, NULL);

	assert_true(g_file_set_contents(path, "#!/bin/sh\n", -1, NULL));
	assert_int_equal(g_chmod(path, mode), 0);
}

typedef struct {
	gchar *root;
	gchar *dirs[4]; /* plain file, directory, executable, another executable */
} PathFixture;

static int
path_setup(void **state)
{
	PathFixture *f = g_new0(PathFixture, 1);

	f->root = g_dir_make_tmp("qa-process-XXXXXX", NULL);
	assert_non_null(f->root);
	for (guint i = 0; i < G_N_ELEMENTS(f->dirs); i++) {
		f->dirs[i] = g_strdup_printf("%s/d%u", f->root, i);
		assert_int_equal(g_mkdir(f->dirs[i], 0755), 0);
	}
	write_file(f->dirs[0], "prog", 0644);
	{
		g_autofree gchar *dir = g_build_filename(f->dirs[1], "prog", NULL);
		assert_int_equal(g_mkdir(dir, 0755), 0);
	}
	write_file(f->dirs[2], "prog", 0755);
	write_file(f->dirs[3], "prog", 0700);
	write_file(f->dirs[3], "only-here", 0500);
	*state = f;
	return 0;
}

static int
path_teardown(void **state)
{
	PathFixture *f = *state;
	g_autofree gchar *cmd = g_strdup_printf("rm -rf '%s'", f->root);

	assert_int_equal(system(cmd), 0);
	for (guint i = 0; i < G_N_ELEMENTS(f->dirs); i++)
		g_free(f->dirs[i]);
	g_free(f->root);
	g_free(f);
	return 0;
}

static void
test_find_program(void **state)
{
	PathFixture *f = *state;
	/* an empty entry (the working directory to execvp) is never searched */
	g_autofree gchar *search =
	    g_strdup_printf("%s::%s:%s:%s", f->dirs[0], f->dirs[1], f->dirs[2], f->dirs[3]);
	g_autofree gchar *expected = g_build_filename(f->dirs[2], "prog", NULL);
	g_autofree gchar *expected_last = g_build_filename(f->dirs[3], "only-here", NULL);
	/* relative entries are taken from "/", the child's working directory */
	g_autofree gchar *relative = g_strdup(f->dirs[3] + 1);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *found = qa_process_find_program("prog", search, &error);
	g_autofree gchar *found_last = qa_process_find_program("only-here", search, &error);
	g_autofree gchar *found_relative = qa_process_find_program("only-here", relative, &error);
	g_autofree gchar *slash = qa_process_find_program("./x/prog", "", &error);
	g_autofree gchar *absolute = qa_process_find_program("/no/such/prog", search, &error);

	assert_string_equal(found, expected);
	assert_string_equal(found_last, expected_last);
	assert_string_equal(found_relative, expected_last);
	/* a name with a slash is not looked up: execve() says what is wrong with it */
	assert_string_equal(slash, "./x/prog");
	assert_string_equal(absolute, "/no/such/prog");
	assert_null(error);
}

static void
test_find_program_fails(void **state)
{
	PathFixture *f = *state;
	g_autofree gchar *search = g_strdup_printf("%s:%s", f->dirs[0], f->dirs[1]);
	const gchar *paths[] = {search, "", ":", "/nonexistent-qa-dir"};

	for (guint i = 0; i < G_N_ELEMENTS(paths); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree gchar *found = qa_process_find_program("prog", paths[i], &error);
		g_autofree gchar *quoted = g_strdup_printf("PATH '%s'", paths[i]);

		assert_null(found);
		g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_NOT_FOUND);
		assert_non_null(strstr(error->message, "'prog'"));
		assert_non_null(strstr(error->message, quoted));
		assert_non_null(strstr(error->message, "No such file or directory"));
	}
}

/* --- the record state machine --------------------------------------------------------------- */

#define EXITED(code) ((code) << 8)
#define KILLED(sig) (sig)

static void
assert_bytes(GBytes *bytes, const gchar *expected)
{
	gsize len = 0;
	const gchar *data;

	assert_non_null(bytes);
	data = g_bytes_get_data(bytes, &len);
	assert_int_equal(len, strlen(expected));
	assert_memory_equal(data, expected, len);
}

static void
test_record_without_capture(void **state)
{
	g_autoptr(QaProcessRecord) record = qa_process_record_new(42, QA_PROCESS_CAPTURE_NONE);
	g_autoptr(QaProcessStatus) running = qa_process_record_take_status(record);
	g_autoptr(QaProcessStatus) ended = NULL;

	assert_false(running->has_exited);
	assert_false(running->has_exitcode);
	assert_false(qa_process_record_is_exited(record));
	/* nothing captured: reaped is exited, no grace */
	assert_false(qa_process_record_set_reaped(record, EXITED(3)));
	assert_true(qa_process_record_is_exited(record));
	ended = qa_process_record_take_status(record);
	assert_true(ended->has_exited);
	assert_true(ended->has_exitcode);
	assert_int_equal(ended->exitcode, 3);
	assert_false(ended->has_signal);
	assert_null(ended->out_data);
	assert_null(ended->err_data);
}

static void
test_record_waits_for_every_pipe(void **state)
{
	g_autoptr(QaProcessRecord) record = qa_process_record_new(42, QA_PROCESS_CAPTURE_SEPARATED);
	g_autoptr(QaProcessStatus) status = NULL;

	assert_int_equal(qa_process_record_add_output(
			     record, QA_PROCESS_STREAM_OUT, (const guint8 *)"out", 3, G_MAXSIZE),
			 3);
	/* reaped before EOF: the caller starts the grace timer */
	assert_true(qa_process_record_set_reaped(record, KILLED(SIGKILL)));
	assert_false(qa_process_record_is_exited(record));
	qa_process_record_end_output(record, QA_PROCESS_STREAM_OUT);
	assert_false(qa_process_record_is_exited(record));
	/* output that came before EOF still counts after reaping */
	assert_int_equal(qa_process_record_add_output(
			     record, QA_PROCESS_STREAM_ERR, (const guint8 *)"err", 3, G_MAXSIZE),
			 3);
	qa_process_record_end_output(record, QA_PROCESS_STREAM_ERR);
	assert_true(qa_process_record_is_exited(record));
	status = qa_process_record_take_status(record);
	assert_true(status->has_exited);
	assert_false(status->has_exitcode);
	assert_true(status->has_signal);
	assert_int_equal(status->signal, SIGKILL);
	assert_bytes(status->out_data, "out");
	assert_bytes(status->err_data, "err");
	assert_false(status->is_out_truncated);
	assert_false(status->is_err_truncated);
}

static void
test_record_eof_before_reaping(void **state)
{
	g_autoptr(QaProcessRecord) record = qa_process_record_new(42, QA_PROCESS_CAPTURE_MERGED);
	g_autoptr(QaProcessStatus) status = NULL;

	qa_process_record_end_output(record, QA_PROCESS_STREAM_OUT);
	assert_false(qa_process_record_is_exited(record));
	assert_false(qa_process_record_set_reaped(record, EXITED(0)));
	assert_true(qa_process_record_is_exited(record));
	status = qa_process_record_take_status(record);
	assert_int_equal(status->exitcode, 0);
	/* streams that produced nothing are absent from the reply */
	assert_null(status->out_data);
	assert_null(status->err_data);
}

static void
test_record_gives_up_on_held_pipes(void **state)
{
	g_autoptr(QaProcessRecord) record = qa_process_record_new(42, QA_PROCESS_CAPTURE_STDOUT);
	g_autoptr(QaProcessStatus) status = NULL;
	g_autoptr(QaProcessStatus) again = NULL;

	qa_process_record_add_output(
	    record, QA_PROCESS_STREAM_OUT, (const guint8 *)"mine", 4, G_MAXSIZE);
	assert_true(qa_process_record_set_reaped(record, EXITED(0)));
	qa_process_record_give_up_pipes(record);
	assert_true(qa_process_record_is_exited(record));
	/* what a descendant writes afterwards is not the process's */
	assert_int_equal(qa_process_record_add_output(
			     record, QA_PROCESS_STREAM_OUT, (const guint8 *)"daemon", 6, G_MAXSIZE),
			 0);
	status = qa_process_record_take_status(record);
	assert_bytes(status->out_data, "mine");
	assert_false(status->is_out_truncated);
	assert_int_equal(qa_process_record_get_held(record), 0);
	/* the output moved out with the first status */
	again = qa_process_record_take_status(record);
	assert_true(again->has_exited);
	assert_null(again->out_data);
}

/* --- truncation accounting ------------------------------------------------------------------- */

static void
test_record_truncates_at_the_stream_limit(void **state)
{
	g_autoptr(QaProcessRecord) record = qa_process_record_new(1, QA_PROCESS_CAPTURE_SEPARATED);
	g_autofree guint8 *chunk = g_malloc0(1024 * 1024 + 1);
	g_autoptr(QaProcessStatus) status = NULL;
	gsize kept = 0;

	for (guint i = 0; i < 17; i++)
		kept += qa_process_record_add_output(
		    record, QA_PROCESS_STREAM_OUT, chunk, 1024 * 1024 + 1, G_MAXSIZE);
	assert_int_equal(kept, QA_PROCESS_OUTPUT_MAX);
	assert_int_equal(qa_process_record_get_held(record), QA_PROCESS_OUTPUT_MAX);
	/* a full stream keeps nothing more, the other stream is not affected */
	assert_int_equal(qa_process_record_add_output(record, QA_PROCESS_STREAM_OUT, chunk, 1, 9),
			 0);
	assert_int_equal(qa_process_record_add_output(record, QA_PROCESS_STREAM_ERR, chunk, 5, 9),
			 5);
	assert_int_equal(qa_process_record_get_held(record), QA_PROCESS_OUTPUT_MAX + 5);
	qa_process_record_end_output(record, QA_PROCESS_STREAM_OUT);
	qa_process_record_end_output(record, QA_PROCESS_STREAM_ERR);
	qa_process_record_set_reaped(record, EXITED(0));
	status = qa_process_record_take_status(record);
	assert_int_equal(g_bytes_get_size(status->out_data), QA_PROCESS_OUTPUT_MAX);
	assert_true(status->is_out_truncated);
	assert_int_equal(g_bytes_get_size(status->err_data), 5);
	assert_false(status->is_err_truncated);
}

static void
test_record_truncates_at_the_budget(void **state)
{
	g_autoptr(QaProcessRecord) record = qa_process_record_new(1, QA_PROCESS_CAPTURE_SEPARATED);
	g_autoptr(QaProcessStatus) status = NULL;

	assert_int_equal(qa_process_record_add_output(
			     record, QA_PROCESS_STREAM_OUT, (const guint8 *)"abcdef", 6, 4),
			 4);
	/* no room at all: the stream still produced bytes, so it is reported, empty */
	assert_int_equal(qa_process_record_add_output(
			     record, QA_PROCESS_STREAM_ERR, (const guint8 *)"xyz", 3, 0),
			 0);
	/* the uncaptured case and empty reads keep nothing and mark nothing */
	assert_int_equal(qa_process_record_add_output(record, QA_PROCESS_STREAM_OUT, NULL, 0, 0),
			 0);
	qa_process_record_end_output(record, QA_PROCESS_STREAM_OUT);
	qa_process_record_end_output(record, QA_PROCESS_STREAM_ERR);
	qa_process_record_set_reaped(record, EXITED(1));
	status = qa_process_record_take_status(record);
	assert_bytes(status->out_data, "abcd");
	assert_true(status->is_out_truncated);
	assert_bytes(status->err_data, "");
	assert_true(status->is_err_truncated);
}

static void
test_record_uncaptured_stream(void **state)
{
	g_autoptr(QaProcessRecord) record = qa_process_record_new(1, QA_PROCESS_CAPTURE_STDERR);
	g_autoptr(QaProcessStatus) status = NULL;

	assert_int_equal(qa_process_record_add_output(
			     record, QA_PROCESS_STREAM_OUT, (const guint8 *)"x", 1, G_MAXSIZE),
			 0);
	/* only the captured stream is waited for */
	assert_true(qa_process_record_set_reaped(record, EXITED(0)));
	qa_process_record_end_output(record, QA_PROCESS_STREAM_ERR);
	assert_true(qa_process_record_is_exited(record));
	status = qa_process_record_take_status(record);
	assert_null(status->out_data);
	assert_null(status->err_data);
}

/* --- the table, on real children ---------------------------------------------------------------
 */

typedef struct {
	GMainContext *context;
	QaProcessTable *table;
	GSource *tick; /* so that an iteration never blocks for ever */
} TableFixture;

static gboolean
tick(gpointer user_data)
{
	return G_SOURCE_CONTINUE;
}

static int
table_setup(void **state)
{
	TableFixture *f = g_new0(TableFixture, 1);

	f->context = g_main_context_new();
	f->table = qa_process_table_new(f->context);
	f->tick = g_timeout_source_new(50);
	g_source_set_callback(f->tick, tick, NULL, NULL);
	g_source_attach(f->tick, f->context);
	*state = f;
	return 0;
}

static int
table_teardown(void **state)
{
	TableFixture *f = *state;

	qa_process_table_free(f->table);
	g_source_destroy(f->tick);
	g_source_unref(f->tick);
	g_main_context_unref(f->context);
	g_free(f);
	return 0;
}

static gint64
spawn(TableFixture *f, const QaProcessSpec *spec)
{
	g_autoptr(GError) error = NULL;
	gint64 pid = 0;

	if (!qa_process_table_spawn(f->table, spec, &pid, &error))
		fail_msg("spawn failed: %s", error->message);
	assert_true(pid > 0);
	return pid;
}

static QaProcessStatus *
wait_exited(TableFixture *f, gint64 pid)
{
	gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;

	for (;;) {
		g_autoptr(GError) error = NULL;
		g_autoptr(QaProcessStatus) status =
		    qa_process_table_take_status(f->table, pid, &error);

		assert_non_null(status);
		if (status->has_exited)
			return g_steal_pointer(&status);
		assert_true(g_get_monotonic_time() < deadline);
		g_main_context_iteration(f->context, TRUE);
	}
}

static void
test_table_runs_and_reports_once(void **state)
{
	TableFixture *f = *state;
	const gchar *args[] = {"-c", "printf out; printf err >&2; exit 7", NULL};
	g_autoptr(GPtrArray) list = strings_new(args);
	QaProcessSpec spec = {.path = "sh", .args = list, .capture = QA_PROCESS_CAPTURE_SEPARATED};
	gint64 pid = spawn(f, &spec);
	g_autoptr(QaProcessStatus) status = wait_exited(f, pid);
	g_autoptr(GError) error = NULL;
	g_autoptr(QaProcessStatus) again = NULL;
	guint running = 99;
	guint finished = 99;

	assert_int_equal(status->exitcode, 7);
	assert_bytes(status->out_data, "out");
	assert_bytes(status->err_data, "err");
	again = qa_process_table_take_status(f->table, pid, &error);
	assert_null(again);
	g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_NOT_FOUND);
	qa_process_table_get_counts(f->table, &running, &finished);
	assert_int_equal(running, 0);
	assert_int_equal(finished, 0);
}

static void
test_table_feeds_input(void **state)
{
	TableFixture *f = *state;
	gsize len = 300 * 1024; /* several pipe buffers */
	g_autofree guint8 *data = g_malloc(len);
	g_autoptr(GBytes) input = NULL;
	QaProcessSpec spec = {.path = "cat", .capture = QA_PROCESS_CAPTURE_MERGED};
	g_autoptr(QaProcessStatus) status = NULL;

	for (gsize i = 0; i < len; i++)
		data[i] = (guint8)(i * 7);
	input = g_bytes_new(data, len);
	spec.input = input;
	status = wait_exited(f, spawn(f, &spec));
	assert_int_equal(status->exitcode, 0);
	assert_true(g_bytes_equal(status->out_data, input));
}

static void
test_table_spawn_failures(void **state)
{
	TableFixture *f = *state;
	const QaProcessSpec specs[] = {
	    {.path = ""},
	    {.path = "/nonexistent/qa-program"},
	    {.path = "qa-no-such-program"},
	};
	guint running = 99;
	guint finished = 99;

	for (guint i = 0; i < G_N_ELEMENTS(specs); i++) {
		g_autoptr(GError) error = NULL;
		gint64 pid = 0;

		assert_false(qa_process_table_spawn(f->table, &specs[i], &pid, &error));
		assert_non_null(error);
	}
	qa_process_table_get_counts(f->table, &running, &finished);
	assert_int_equal(running, 0);
	assert_int_equal(finished, 0);
}

static void
wait_until_idle(TableFixture *f, guint *out_finished)
{
	gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
	guint running = 99;

	for (;;) {
		qa_process_table_get_counts(f->table, &running, out_finished);
		if (running == 0)
			return;
		assert_true(g_get_monotonic_time() < deadline);
		g_main_context_iteration(f->context, TRUE);
	}
}

/* Collects the ends of @pids, all ended: returns how many were dropped; the others exited 0
 * with @out_size bytes of output. Which one is dropped depends on the order they ended in. */
static guint
collect_ends(TableFixture *f, const gint64 *pids, guint n_pids, gsize out_size)
{
	guint n_dropped = 0;

	for (guint i = 0; i < n_pids; i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(QaProcessStatus) status =
		    qa_process_table_take_status(f->table, pids[i], &error);

		if (status == NULL) {
			g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_NOT_FOUND);
			n_dropped++;
			continue;
		}
		assert_true(status->has_exited);
		assert_int_equal(status->exitcode, 0);
		assert_int_equal(status->out_data != NULL ? g_bytes_get_size(status->out_data) : 0,
				 out_size);
		assert_false(status->is_out_truncated);
	}
	return n_dropped;
}

static void
test_table_makes_room_in_the_budget(void **state)
{
	TableFixture *f = *state;
	const gchar *args[] = {"-c", "16M", "/dev/zero", NULL};
	g_autoptr(GPtrArray) list = strings_new(args);
	QaProcessSpec big = {.path = "head", .args = list, .capture = QA_PROCESS_CAPTURE_STDOUT};
	QaProcessSpec small = {.path = "true", .capture = QA_PROCESS_CAPTURE_SEPARATED};
	gint64 pids[3];
	guint finished = 0;
	g_autoptr(QaProcessStatus) small_status = NULL;

	for (guint i = 0; i < G_N_ELEMENTS(pids); i++)
		pids[i] = spawn(f, &big);
	wait_until_idle(f, &finished);
	assert_int_equal(finished, 3);
	/* 48 MiB held: a capture of two streams needs room for 32, so the oldest end goes */
	small_status = wait_exited(f, spawn(f, &small));
	assert_int_equal(small_status->exitcode, 0);
	assert_int_equal(collect_ends(f, pids, G_N_ELEMENTS(pids), QA_PROCESS_OUTPUT_MAX), 1);
}

static void
test_table_drains_pipes_a_daemon_holds(void **state)
{
	TableFixture *f = *state;
	const gchar *args[] = {"-c", "sleep 1000 & echo $!", NULL};
	g_autoptr(GPtrArray) list = strings_new(args);
	QaProcessSpec spec = {.path = "sh", .args = list, .capture = QA_PROCESS_CAPTURE_MERGED};
	g_autoptr(QaProcessStatus) status = wait_exited(f, spawn(f, &spec));
	g_autofree gchar *text =
	    g_strndup(g_bytes_get_data(status->out_data, NULL), g_bytes_get_size(status->out_data));
	gint64 daemon = g_ascii_strtoll(text, NULL, 10);
	guint running = 0;
	guint finished = 0;

	assert_int_equal(status->exitcode, 0);
	assert_true(daemon > 0);
	/* reported, but still watched until the daemon lets go of the pipe */
	qa_process_table_get_counts(f->table, &running, &finished);
	assert_int_equal(running, 1);
	assert_int_equal(finished, 0);
	assert_int_equal(kill((pid_t)daemon, SIGKILL), 0);
	wait_until_idle(f, &finished);
	assert_int_equal(finished, 0);
}

static void
test_table_drops_the_oldest_unreported_end(void **state)
{
	TableFixture *f = *state;
	QaProcessSpec spec = {.path = "true"};
	gint64 pids[QA_PROCESS_FINISHED_MAX + 1];
	guint finished = 99;

	for (guint i = 0; i < G_N_ELEMENTS(pids); i++)
		pids[i] = spawn(f, &spec);
	wait_until_idle(f, &finished);
	assert_int_equal(finished, QA_PROCESS_FINISHED_MAX);
	assert_int_equal(collect_ends(f, pids, G_N_ELEMENTS(pids), 0), 1);
}

static void
test_table_leaves_running_processes_alone(void **state)
{
	TableFixture *f = *state;
	const gchar *args[] = {"1000", NULL};
	g_autoptr(GPtrArray) list = strings_new(args);
	QaProcessSpec spec = {
	    .path = "sleep", .args = list, .capture = QA_PROCESS_CAPTURE_SEPARATED};
	gint64 pid = spawn(f, &spec);
	g_autoptr(QaProcessStatus) status = NULL;
	g_autoptr(GError) error = NULL;
	guint running = 0;
	guint finished = 0;
	int wait_status = 0;

	g_main_context_iteration(f->context, FALSE);
	status = qa_process_table_take_status(f->table, pid, &error);
	assert_non_null(status);
	assert_false(status->has_exited);
	qa_process_table_get_counts(f->table, &running, &finished);
	assert_int_equal(running, 1);
	/* freeing the table stops watching, and kills nothing */
	qa_process_table_free(f->table);
	f->table = qa_process_table_new(f->context);
	assert_int_equal(kill((pid_t)pid, 0), 0);
	assert_int_equal(kill((pid_t)pid, SIGKILL), 0);
	assert_int_equal(waitpid((pid_t)pid, &wait_status, 0), pid);
	assert_true(WIFSIGNALED(wait_status));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_capture_plan),
	    cmocka_unit_test(test_argv_build),
	    cmocka_unit_test(test_argv_build_refuses),
	    cmocka_unit_test(test_envp_build),
	    cmocka_unit_test(test_envp_build_refuses_long_entries),
	    cmocka_unit_test_setup_teardown(test_find_program, path_setup, path_teardown),
	    cmocka_unit_test_setup_teardown(test_find_program_fails, path_setup, path_teardown),
	    cmocka_unit_test(test_record_without_capture),
	    cmocka_unit_test(test_record_waits_for_every_pipe),
	    cmocka_unit_test(test_record_eof_before_reaping),
	    cmocka_unit_test(test_record_gives_up_on_held_pipes),
	    cmocka_unit_test(test_record_truncates_at_the_stream_limit),
	    cmocka_unit_test(test_record_truncates_at_the_budget),
	    cmocka_unit_test(test_record_uncaptured_stream),
	    cmocka_unit_test_setup_teardown(
		test_table_runs_and_reports_once, table_setup, table_teardown),
	    cmocka_unit_test_setup_teardown(test_table_feeds_input, table_setup, table_teardown),
	    cmocka_unit_test_setup_teardown(test_table_spawn_failures, table_setup, table_teardown),
	    cmocka_unit_test_setup_teardown(
		test_table_drops_the_oldest_unreported_end, table_setup, table_teardown),
	    cmocka_unit_test_setup_teardown(
		test_table_makes_room_in_the_budget, table_setup, table_teardown),
	    cmocka_unit_test_setup_teardown(
		test_table_drains_pipes_a_daemon_holds, table_setup, table_teardown),
	    cmocka_unit_test_setup_teardown(
		test_table_leaves_running_processes_alone, table_setup, table_teardown),
	};

	/* as the agent: feeding a child that closed its stdin must fail with EPIPE, not kill us */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("process", tests, NULL, NULL);
}
