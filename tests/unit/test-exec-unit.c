/* Unit tests of system/exec-unit.c: systemd-run's argv (every argument an element of its own,
 * nothing a host sent inside a property), the environment file (quoting, the first of a name
 * wins, what systemd would drop refused, what the manager adds unset), the end a unit reports
 * (`systemctl show` text to a wait status), unit names, and the launch on a system without
 * systemd (no unit: the caller spawns the program itself). */
#include <glib.h>
#include <glib/gstdio.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "exec-unit.h"
#include "qa-error.h"

static void
test_argv_build(void **state)
{
	gchar *program_argv[] = {
	    "sh", "-c", "echo $1; --property=Bad=1", "--", "-E", "$$${X}", NULL};
	gchar *unset[] = {"INVOCATION_ID", "LANG", NULL};
	const QaExecUnitSpec spec = {
	    .systemd_run = "systemd-run",
	    .unit = "quiesce-agent-exec-0.service",
	    .env_file = "/run/quiesce-agent/quiesce-agent-exec-0.service.env",
	    .unset_env = unset,
	    .program = "/usr/bin/sh",
	    .argv = program_argv,
	};
	const gchar *expected[] = {
	    "systemd-run",
	    "--quiet",
	    "--no-ask-password",
	    "--pipe",
	    "--wait",
	    "--service-type=oneshot",
	    "--property=TimeoutStartSec=infinity",
	    "--unit",
	    "quiesce-agent-exec-0.service",
	    "--description=Program run by quiesce-agent's guest-exec",
	    "--working-directory=/",
	    "--property=KillMode=process",
	    "--property=UMask=0022",
	    "--property=EnvironmentFile=/run/quiesce-agent/quiesce-agent-exec-0.service.env",
	    "--property=UnsetEnvironment=INVOCATION_ID LANG",
	    "--",
	    "/usr/bin/sh",
	    "-c",
	    "echo $$1; --property=Bad=1",
	    "--",
	    "-E",
	    "$$$$$${X}",
	    NULL,
	};
	g_auto(GStrv) argv = qa_exec_unit_argv_build(&spec);

	(void)state;
	assert_int_equal(g_strv_length(argv), G_N_ELEMENTS(expected) - 1);
	for (guint i = 0; expected[i] != NULL; i++)
		assert_string_equal(argv[i], expected[i]);
}

static void
test_argv_build_no_args_no_unset(void **state)
{
	gchar *program_argv[] = {"true", NULL};
	gchar *unset[] = {NULL};
	const QaExecUnitSpec spec = {
	    .systemd_run = "systemd-run",
	    .unit = "u.service",
	    .env_file = "/e",
	    .unset_env = unset,
	    .program = "/usr/bin/true",
	    .argv = program_argv,
	};
	g_auto(GStrv) argv = qa_exec_unit_argv_build(&spec);
	guint n = g_strv_length(argv);

	(void)state;
	assert_string_equal(argv[n - 2], "--");
	assert_string_equal(argv[n - 1], "/usr/bin/true");
	for (guint i = 0; i < n; i++)
		assert_false(g_str_has_prefix(argv[i], "--property=UnsetEnvironment"));
}

static const struct {
	const gchar *entries;	    /* separated by '\x1f' */
	const gchar *expected_file; /* NULL: refused */
} env_cases[] = {
    {"PATH=/usr/bin", "PATH='/usr/bin'\n"},
    {"A=x y\x1f"
     "B=",
     "A='x y'\nB=''\n"},
    {"Q=it's", "Q='it'\"'\"'s'\n"},
    {"N=line1\nline2", "N='line1\nline2'\n"},
    {"D=$HOME %n \\ \"q\" ${X} `id`", "D='$HOME %n \\ \"q\" ${X} `id`'\n"},
    {"X=1\x1fX=2\x1fY=3", "X='1'\nY='3'\n"},
    {"_a1=v=w", "_a1='v=w'\n"},
    {"A-B=1", NULL},
    {"1A=1", NULL},
    {"A B=1", NULL},
    {"X=\xff", NULL},
};

static void
test_env_file_build(void **state)
{
	(void)state;
	for (guint i = 0; i < G_N_ELEMENTS(env_cases); i++) {
		g_auto(GStrv) envp = g_strsplit(env_cases[i].entries, "\x1f", -1);
		g_auto(GStrv) unset = NULL;
		g_autoptr(GError) error = NULL;
		g_autofree gchar *text = qa_exec_unit_env_file_build(envp, &unset, &error);

		if (env_cases[i].expected_file == NULL) {
			assert_null(text);
			assert_true(
			    g_error_matches(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_INVALID));
			assert_non_null(strstr(error->message, "service manager refuses"));
			continue;
		}
		assert_non_null(text);
		assert_string_equal(text, env_cases[i].expected_file);
	}
}

static void
test_env_file_unset(void **state)
{
	gchar *envp[] = {"LANG=C", "PATH=/bin", NULL};
	g_auto(GStrv) unset = NULL;
	g_autofree gchar *text = qa_exec_unit_env_file_build(envp, &unset, NULL);

	(void)state;
	assert_non_null(text);
	assert_true(g_strv_contains((const gchar *const *)unset, "INVOCATION_ID"));
	assert_true(g_strv_contains((const gchar *const *)unset, "SYSTEMD_EXEC_PID"));
	assert_true(g_strv_contains((const gchar *const *)unset, "LC_ALL"));
	/* the host set it: the program gets the host's */
	assert_false(g_strv_contains((const gchar *const *)unset, "LANG"));
	assert_false(g_strv_contains((const gchar *const *)unset, "PATH"));
}

static const struct {
	const gchar *text;
	gboolean has_exitcode;
	gint value; /* exit status or signal */
	gboolean is_dumped;
	gboolean is_error;
} status_cases[] = {
    {"ExecMainCode=1\nExecMainStatus=0\n", TRUE, 0, FALSE, FALSE},
    {"ExecMainCode=1\nExecMainStatus=3\n", TRUE, 3, FALSE, FALSE},
    {"ExecMainStatus=255\nExecMainCode=1\n", TRUE, 255, FALSE, FALSE},
    {"ExecMainCode=2\nExecMainStatus=9\n", FALSE, 9, FALSE, FALSE},
    {"ExecMainCode=2\nExecMainStatus=15\n", FALSE, 15, FALSE, FALSE},
    {"ExecMainCode=3\nExecMainStatus=11\n", FALSE, 11, TRUE, FALSE},
    /* the unit never ran its program (systemd-run failed, or the unit is unknown) */
    {"ExecMainCode=0\nExecMainStatus=0\n", FALSE, 0, FALSE, TRUE},
    {"", FALSE, 0, FALSE, TRUE},
    {"ExecMainCode=2\nExecMainStatus=0\n", FALSE, 0, FALSE, TRUE},
    {"ExecMainCode=1\nExecMainStatus=256\n", FALSE, 0, FALSE, TRUE},
    {"ExecMainCode=x\nExecMainStatus=1\n", FALSE, 0, FALSE, TRUE},
    {"ExecMainCode=2\nExecMainStatus=200\n", FALSE, 0, FALSE, TRUE},
};

static void
test_status_parse(void **state)
{
	(void)state;
	for (guint i = 0; i < G_N_ELEMENTS(status_cases); i++) {
		g_autoptr(GError) error = NULL;
		gint wait_status = -1;
		gboolean ok = qa_exec_unit_status_parse(status_cases[i].text, &wait_status, &error);

		if (status_cases[i].is_error) {
			assert_false(ok);
			assert_true(g_error_matches(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_PARSE));
			continue;
		}
		assert_true(ok);
		if (status_cases[i].has_exitcode) {
			assert_true(WIFEXITED(wait_status));
			assert_int_equal(WEXITSTATUS(wait_status), status_cases[i].value);
		} else {
			assert_true(WIFSIGNALED(wait_status));
			assert_int_equal(WTERMSIG(wait_status), status_cases[i].value);
			assert_int_equal(!!WCOREDUMP(wait_status), status_cases[i].is_dumped);
		}
	}
}

static void
test_name_new(void **state)
{
	g_autofree gchar *a = qa_exec_unit_name_new();
	g_autofree gchar *b = qa_exec_unit_name_new();

	(void)state;
	assert_true(g_str_has_prefix(a, QA_EXEC_UNIT_PREFIX));
	assert_true(g_str_has_suffix(a, ".service"));
	assert_int_equal(strlen(a), strlen(QA_EXEC_UNIT_PREFIX) + 32 + strlen(".service"));
	assert_string_not_equal(a, b);
	for (const gchar *p = a + strlen(QA_EXEC_UNIT_PREFIX); *p != '.'; p++)
		assert_true(g_ascii_isxdigit(*p));
}

/* no systemd directory: no launch, no error, no file written */
static void
test_launch_without_systemd(void **state)
{
	g_autofree gchar *dir = g_dir_make_tmp("qa-exec-unit-XXXXXX", NULL);
	g_autofree gchar *missing = g_build_filename(dir, "no-systemd", NULL);
	gchar *argv[] = {"true", NULL};
	gchar *envp[] = {"PATH=/bin", NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(QaExecUnitLaunch) launch =
	    qa_exec_unit_launch_new(missing, "/", dir, "/bin/true", argv, envp, &error);
	g_autoptr(GDir) listing = g_dir_open(dir, 0, NULL);

	(void)state;
	assert_null(launch);
	assert_null(error);
	assert_null(g_dir_read_name(listing));
	/* systemd, but no D-Bus broker: no launch either */
	launch = qa_exec_unit_launch_new(dir, missing, dir, "/bin/true", argv, envp, &error);
	assert_null(launch);
	assert_null(error);
	g_rmdir(dir);
}

#define ID "0123456789abcdef0123456789ABCDEF"

static void
test_from_env_file_name(void **state)
{
	g_autofree gchar *unit = qa_exec_unit_from_env_file_name(QA_EXEC_UNIT_PREFIX ID ".service.env");
	g_autofree gchar *fresh = qa_exec_unit_name_new();
	g_autofree gchar *fresh_file = g_strconcat(fresh, ".env", NULL);
	g_autofree gchar *back = qa_exec_unit_from_env_file_name(fresh_file);
	const gchar *others[] = {
	    "fsfreeze.state",
	    QA_EXEC_UNIT_PREFIX ID ".service",
	    QA_EXEC_UNIT_PREFIX ID ".env",
	    QA_EXEC_UNIT_PREFIX "0123.service.env",
	    QA_EXEC_UNIT_PREFIX ID "0.service.env",
	    QA_EXEC_UNIT_PREFIX "0123456789abcdef0123456789abcdeg.service.env",
	    "x" QA_EXEC_UNIT_PREFIX ID ".service.env",
	    QA_EXEC_UNIT_PREFIX ".service.env",
	    "",
	};

	assert_string_equal(unit, QA_EXEC_UNIT_PREFIX ID ".service");
	assert_string_equal(back, fresh);
	for (guint i = 0; i < G_N_ELEMENTS(others); i++)
		assert_null(qa_exec_unit_from_env_file_name(others[i]));
}

static void
test_states_parse(void **state)
{
	g_autoptr(GHashTable) states = qa_exec_unit_states_parse(
	    "Id=a.service\nActiveState=failed\n\nActiveState=active\nId=b.service\n\n"
	    "Id=c.service\nLoadState=not-found\nActiveState=inactive");
	g_autoptr(GHashTable) none = qa_exec_unit_states_parse("");

	assert_int_equal(g_hash_table_size(states), 3);
	assert_string_equal(g_hash_table_lookup(states, "a.service"), "failed");
	assert_string_equal(g_hash_table_lookup(states, "b.service"), "active");
	assert_string_equal(g_hash_table_lookup(states, "c.service"), "inactive");
	assert_int_equal(g_hash_table_size(none), 0);
}

/* A stand-in for systemctl at the edge: `show` answers for the units named by the files the
 * test made, and every call is logged. */
static gchar *
write_systemctl(const gchar *dir)
{
	g_autofree gchar *log = g_build_filename(dir, "calls", NULL);
	g_autofree gchar *script = g_strdup_printf(
	    "#!/bin/sh\n"
	    "echo \"$*\" >> '%s'\n"
	    "[ \"$1\" = show ] || exit 0\n"
	    "shift 4\n"
	    "for u in \"$@\"; do\n"
	    "  case $u in\n"
	    "    *aaaa*) s=failed;; *bbbb*) s=inactive;; *cccc*) s=active;; *) s=deactivating;;\n"
	    "  esac\n"
	    "  printf 'Id=%%s\\nActiveState=%%s\\n\\n' \"$u\" $s\n"
	    "done\n",
	    log);
	gchar *path = g_build_filename(dir, "systemctl", NULL);

	assert_true(g_file_set_contents(path, script, -1, NULL));
	assert_int_equal(g_chmod(path, 0755), 0);
	return path;
}

static gboolean
exists(const gchar *dir, const gchar *name)
{
	g_autofree gchar *path = g_build_filename(dir, name, NULL);
	return g_file_test(path, G_FILE_TEST_EXISTS);
}

#define UNIT(x) QA_EXEC_UNIT_PREFIX x x x x x x x x ".service"

/* what an earlier agent left: a failed unit is unloaded and its file removed, a gone one's
 * file removed, a running one left for later; this agent's own files and other files stay */
static void
test_sweep(void **state)
{
	g_autofree gchar *tmp = g_dir_make_tmp("qa-sweep-XXXXXX", NULL);
	g_autofree gchar *systemctl = write_systemctl(tmp);
	g_autofree gchar *log_path = g_build_filename(tmp, "calls", NULL);
	g_autofree gchar *log = NULL;
	g_autoptr(GHashTable) live = g_hash_table_new(g_str_hash, g_str_equal);
	const gchar *files[] = {
	    UNIT("aaaa") ".env", /* failed */
	    UNIT("bbbb") ".env", /* inactive: gone */
	    UNIT("cccc") ".env", /* still running */
	    UNIT("dddd") ".env", /* this agent's */
	    "fsfreeze.state",
	};
	g_autofree gchar *cmd = g_strdup_printf("rm -rf '%s'", tmp);
	g_auto(GStrv) calls = NULL;

	for (guint i = 0; i < G_N_ELEMENTS(files); i++) {
		g_autofree gchar *path = g_build_filename(tmp, files[i], NULL);
		assert_true(g_file_set_contents(path, "", 0, NULL));
	}
	g_hash_table_add(live, (gpointer)files[3]);
	assert_int_equal(qa_exec_unit_sweep(systemctl, tmp, live), 2);
	assert_false(exists(tmp, files[0]));
	assert_false(exists(tmp, files[1]));
	assert_true(exists(tmp, files[2]));
	assert_true(exists(tmp, files[3]));
	assert_true(exists(tmp, files[4]));
	assert_true(g_file_get_contents(log_path, &log, NULL, NULL));
	assert_non_null(strstr(log, "show --property=Id --property=ActiveState -- "));
	assert_null(strstr(log, "dddd"));
	assert_non_null(strstr(log, "reset-failed -- " UNIT("aaaa") "\n"));
	/* nothing of an earlier agent's left but what still runs: no call unless needed */
	g_clear_pointer(&log, g_free);
	g_hash_table_add(live, (gpointer)files[2]);
	assert_int_equal(qa_exec_unit_sweep(systemctl, tmp, live), 0);
	assert_true(g_file_get_contents(log_path, &log, NULL, NULL));
	calls = g_strsplit(log, "\n", -1);
	assert_int_equal(g_strv_length(calls), 3);
	assert_int_equal(system(cmd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_argv_build),
	    cmocka_unit_test(test_argv_build_no_args_no_unset),
	    cmocka_unit_test(test_env_file_build),
	    cmocka_unit_test(test_env_file_unset),
	    cmocka_unit_test(test_status_parse),
	    cmocka_unit_test(test_name_new),
	    cmocka_unit_test(test_launch_without_systemd),
	    cmocka_unit_test(test_from_env_file_name),
	    cmocka_unit_test(test_states_parse),
	    cmocka_unit_test(test_sweep),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
