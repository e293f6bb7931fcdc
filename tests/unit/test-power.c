/* Unit tests of system/power.c: mode names, the /sys/power and /proc/swaps parsers on captured
 * and hand-written fixtures (tests/fixtures/power/), the choice of tool in fake PATH directories,
 * and the runner on harmless children (sh, sleep). Nothing here powers anything off. */
#include <fcntl.h>
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

#include "child.h"
#include "fixture-roots.h"
#include "power.h"
#include "qa-error.h"

static const struct {
	const gchar *text;
	gint mode; /* -1: refused */
} mode_cases[] = {
    {NULL, QA_POWER_MODE_POWERDOWN},
    {"powerdown", QA_POWER_MODE_POWERDOWN},
    {"halt", QA_POWER_MODE_HALT},
    {"reboot", QA_POWER_MODE_REBOOT},
    {"", -1},
    {"Reboot", -1},
    {"poweroff", -1},
    {"reboot ", -1},
    {"halt\n", -1},
};

static void
test_mode_parse(void **state)
{
	for (guint i = 0; i < G_N_ELEMENTS(mode_cases); i++) {
		g_autoptr(GError) error = NULL;
		QaPowerMode mode = 99;
		gboolean ok = qa_power_mode_parse(mode_cases[i].text, &mode, &error);

		if (mode_cases[i].mode < 0) {
			assert_false(ok);
			g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_INVALID);
			assert_non_null(strstr(error->message, "halt, powerdown, reboot"));
			assert_non_null(strstr(error->message, "Mode '"));
		} else {
			assert_true(ok);
			assert_int_equal(mode, mode_cases[i].mode);
		}
	}
}

static const struct {
	const gchar *text;
	gboolean has_mem;
	gboolean has_disk;
} state_cases[] = {
    {"", FALSE, FALSE},
    {"\n", FALSE, FALSE},
    {"freeze mem disk\n", TRUE, TRUE},
    {"freeze\tmem", TRUE, FALSE},
    {"disk", FALSE, TRUE},
    {"memory diskette standby", FALSE, FALSE},
};

static void
test_state_parse(void **state)
{
	for (guint i = 0; i < G_N_ELEMENTS(state_cases); i++) {
		g_autoptr(QaPowerSupport) support = qa_power_support_new();

		qa_power_state_parse(state_cases[i].text, support);
		assert_int_equal(support->has_state_mem, state_cases[i].has_mem);
		assert_int_equal(support->has_state_disk, state_cases[i].has_disk);
	}
}

static const struct {
	const gchar *text;
	const gchar *modes;   /* joined by spaces; NULL: refused */
	const gchar *current; /* NULL: none in brackets */
} disk_cases[] = {
    {"[platform] shutdown reboot suspend test_resume \n",
     "platform shutdown reboot suspend test_resume",
     "platform"},
    {"platform [shutdown] reboot suspend test_resume \n",
     "platform shutdown reboot suspend test_resume",
     "shutdown"},
    {"shutdown reboot\n", "shutdown reboot", NULL},
    {"", "", NULL},
    {"[platform] [shutdown]\n", NULL, NULL},
    {"[]\n", NULL, NULL},
    {"[\n", NULL, NULL},
    {"[platform shutdown]\n", NULL, NULL},
    {"platform]\n", NULL, NULL},
};

static void
test_disk_parse(void **state)
{
	for (guint i = 0; i < G_N_ELEMENTS(disk_cases); i++) {
		g_autoptr(QaPowerSupport) support = qa_power_support_new();
		g_autoptr(GError) error = NULL;
		gboolean ok = qa_power_disk_parse(disk_cases[i].text, support, &error);
		g_autofree gchar *joined = NULL;

		if (disk_cases[i].modes == NULL) {
			assert_false(ok);
			g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_PARSE);
			continue;
		}
		assert_true(ok);
		joined = g_strjoinv(" ", support->disk_modes);
		assert_string_equal(joined, disk_cases[i].modes);
		assert_true(g_strcmp0(support->disk_mode, disk_cases[i].current) == 0);
	}
}

#define SWAP_HEADER "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"

static const struct {
	const gchar *text;
	gint n_swaps; /* -1: refused */
} swaps_cases[] = {
    {SWAP_HEADER, 0},
    {SWAP_HEADER "/dev/vda3  partition\t1046524\t\t0\t\t-2\n", 1},
    {SWAP_HEADER "/swap\\040file file 524284 0 -2\n/dev/zram0 partition 2097148 1024 100\n\n", 2},
    {SWAP_HEADER "\n\n", 0},
    {"", -1},
    {"/dev/vda3 partition 1046524 0 -2\n", -1},
    {SWAP_HEADER "/swap file with spaces file 524284 0 -2\n", -1},
    {SWAP_HEADER "/dev/vda3 partition 1046524 0\n", -1},
};

static void
test_swaps_parse(void **state)
{
	for (guint i = 0; i < G_N_ELEMENTS(swaps_cases); i++) {
		g_autoptr(GError) error = NULL;
		guint n_swaps = 99;
		gboolean ok = qa_power_swaps_parse(swaps_cases[i].text, &n_swaps, &error);

		if (swaps_cases[i].n_swaps < 0) {
			assert_false(ok);
			g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_PARSE);
		} else {
			assert_true(ok);
			assert_int_equal(n_swaps, swaps_cases[i].n_swaps);
		}
	}
}

/* what each machine allows; NULL: allowed, else a piece of the refusal */
static const struct {
	const gchar *fixture; /* below tests/fixtures/power/ */
	gint load_code;	      /* -1: loads, else the error code of the load */
	const gchar *ram;
	const gchar *disk;
	const gchar *hybrid;
} support_cases[] = {
    {"host-debian12", -1, "'mem' is not among", "'disk' is not among", "'disk' is not among"},
    {"qemu-swap-partition", -1, NULL, NULL, NULL},
    {"swap-file-zram", -1, NULL, NULL, NULL},
    {"no-swap", -1, NULL, "lists none", "lists none"},
    {"no-disk", -1, NULL, "'disk' is not among", "'disk' is not among"},
    {"no-suspend", -1, "'mem' is not among", NULL, "'suspend' is not among"},
    {"bad-disk", QA_SYSTEM_ERROR_PARSE, NULL, NULL, NULL},
    {"bad-swaps", QA_SYSTEM_ERROR_PARSE, NULL, NULL, NULL},
    {"does-not-exist", QA_SYSTEM_ERROR_UNSUPPORTED, NULL, NULL, NULL},
};

static void
assert_support(const QaPowerSupport *support, QaPowerSleep sleep, const gchar *expected)
{
	g_autoptr(GError) error = NULL;
	gboolean ok = qa_power_support_check(support, sleep, &error);

	if (expected == NULL) {
		assert_true(ok);
		return;
	}
	assert_false(ok);
	g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_UNSUPPORTED);
	if (strstr(error->message, expected) == NULL)
		fail_msg("'%s' does not contain '%s'", error->message, expected);
	assert_non_null(strstr(error->message, qa_power_sleep_to_string(sleep)));
}

static void
test_support_fixtures(void **state)
{
	for (guint i = 0; i < G_N_ELEMENTS(support_cases); i++) {
		g_autofree gchar *name = g_build_filename("power", support_cases[i].fixture, NULL);
		g_autoptr(QaRoots) roots = qa_test_fixture_roots(name);
		g_autoptr(GError) error = NULL;
		g_autoptr(QaPowerSupport) support = qa_power_support_load(roots, &error);

		if (support_cases[i].load_code >= 0) {
			assert_null(support);
			g_assert_error(error, QA_SYSTEM_ERROR, support_cases[i].load_code);
			continue;
		}
		assert_non_null(support);
		assert_support(support, QA_POWER_SLEEP_RAM, support_cases[i].ram);
		assert_support(support, QA_POWER_SLEEP_DISK, support_cases[i].disk);
		assert_support(support, QA_POWER_SLEEP_HYBRID, support_cases[i].hybrid);
	}
}

static void
test_support_fixture_values(void **state)
{
	g_autoptr(QaRoots) roots = qa_test_fixture_roots("power/swap-file-zram");
	g_autoptr(QaPowerSupport) support = qa_power_support_load(roots, NULL);

	assert_non_null(support);
	assert_int_equal(support->n_swaps, 2);
	assert_string_equal(support->disk_mode, "shutdown");
	assert_true(qa_power_support_has_disk_mode(support, "suspend"));
	assert_false(qa_power_support_has_disk_mode(support, "[shutdown]"));
}

/* a temporary directory of fake tools: a PATH of two directories, a/ and b/ */
typedef struct {
	gchar *dir;
	gchar *a;
	gchar *b;
	gchar *search_path;
} FakePath;

static FakePath *
fake_path_new(void)
{
	FakePath *fp = g_new0(FakePath, 1);

	fp->dir = g_dir_make_tmp("qa-power-XXXXXX", NULL);
	g_assert_nonnull(fp->dir);
	fp->a = g_build_filename(fp->dir, "a", NULL);
	fp->b = g_build_filename(fp->dir, "b", NULL);
	g_mkdir(fp->a, 0755);
	g_mkdir(fp->b, 0755);
	/* relative and empty entries are never searched: the agent runs from / */
	fp->search_path = g_strdup_printf("relative::%s:%s", fp->a, fp->b);
	return fp;
}

static void
fake_path_add(const gchar *dir, const gchar *name, int mode)
{
	g_autofree gchar *path = g_build_filename(dir, name, NULL);

	g_assert_true(g_file_set_contents(path, "#!/bin/sh\nexit 0\n", -1, NULL));
	g_assert_cmpint(g_chmod(path, mode), ==, 0);
}

static void
fake_path_free(FakePath *fp)
{
	g_autofree gchar *cmd = g_strdup_printf("rm -rf '%s'", fp->dir);

	g_assert_true(g_spawn_command_line_sync(cmd, NULL, NULL, NULL, NULL));
	g_free(fp->dir);
	g_free(fp->a);
	g_free(fp->b);
	g_free(fp->search_path);
	g_free(fp);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FakePath, fake_path_free)

static void
test_find_tool(void **state)
{
	g_autoptr(FakePath) fp = fake_path_new();
	g_autofree gchar *a_halt = g_build_filename(fp->a, "halt", NULL);
	g_autofree gchar *b_halt = g_build_filename(fp->b, "halt", NULL);
	g_autofree gchar *a_reboot = g_build_filename(fp->a, "reboot", NULL);
	g_autofree gchar *found = NULL;

	/* not executable in a/, executable in b/ */
	fake_path_add(fp->a, "poweroff", 0644);
	fake_path_add(fp->b, "poweroff", 0755);
	found = qa_child_find_program(fp->search_path, "poweroff");
	assert_non_null(found);
	assert_true(g_str_has_prefix(found, fp->b));
	g_clear_pointer(&found, g_free);

	/* a directory of that name is skipped */
	g_mkdir(a_halt, 0755);
	fake_path_add(fp->b, "halt", 0755);
	found = qa_child_find_program(fp->search_path, "halt");
	assert_string_equal(found, b_halt);
	g_clear_pointer(&found, g_free);

	/* a symbolic link to an executable is the executable (poweroff -> systemctl) */
	fake_path_add(fp->b, "systemctl", 0755);
	assert_int_equal(symlink("../b/systemctl", a_reboot), 0);
	found = qa_child_find_program(fp->search_path, "reboot");
	assert_string_equal(found, a_reboot);
	g_clear_pointer(&found, g_free);

	/* a dangling link is nothing */
	g_unlink(a_reboot);
	assert_int_equal(symlink("../b/nothing", a_reboot), 0);
	found = qa_child_find_program(fp->search_path, "reboot");
	assert_null(found);

	assert_null(qa_child_find_program(fp->search_path, "shutdown"));
	assert_null(qa_child_find_program("", "poweroff"));
}

static gchar *
argv_join(gchar **argv, const gchar *strip)
{
	g_autoptr(GString) text = g_string_new(NULL);

	for (guint i = 0; argv[i] != NULL; i++) {
		const gchar *arg = argv[i];
		if (i == 0 && g_str_has_prefix(arg, strip))
			arg += strlen(strip) + 1;
		g_string_append_printf(text, "%s%s", i > 0 ? "|" : "", arg);
	}
	return g_string_free(g_steal_pointer(&text), FALSE);
}

static const struct {
	QaPowerMode mode;
	const gchar *tools; /* in b/, separated by spaces */
	const gchar *argv;  /* joined by |, argv[0] relative to the fake dir; NULL: refused */
} shutdown_cases[] = {
    {QA_POWER_MODE_POWERDOWN, "poweroff halt reboot shutdown", "b/poweroff"},
    {QA_POWER_MODE_HALT, "poweroff halt reboot shutdown", "b/halt"},
    {QA_POWER_MODE_REBOOT, "poweroff halt reboot shutdown", "b/reboot"},
    {QA_POWER_MODE_POWERDOWN,
     "halt reboot shutdown",
     "b/shutdown|-h|-P|+0|hypervisor initiated shutdown"},
    {QA_POWER_MODE_HALT, "shutdown", "b/shutdown|-h|-H|+0|hypervisor initiated shutdown"},
    {QA_POWER_MODE_REBOOT, "shutdown", "b/shutdown|-r|+0|hypervisor initiated shutdown"},
    {QA_POWER_MODE_POWERDOWN, "halt reboot", NULL},
    {QA_POWER_MODE_REBOOT, "", NULL},
};

static void
test_shutdown_argv(void **state)
{
	for (guint i = 0; i < G_N_ELEMENTS(shutdown_cases); i++) {
		g_autoptr(FakePath) fp = fake_path_new();
		g_auto(GStrv) tools = g_strsplit(shutdown_cases[i].tools, " ", -1);
		g_auto(GStrv) argv = NULL;
		g_autoptr(GError) error = NULL;
		g_autofree gchar *joined = NULL;

		for (guint j = 0; tools[j] != NULL; j++) {
			if (tools[j][0] != '\0')
				fake_path_add(fp->b, tools[j], 0755);
		}
		if (shutdown_cases[i].argv == NULL) {
			assert_false(qa_power_shutdown_argv(
			    shutdown_cases[i].mode, fp->search_path, &argv, &error));
			g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_NOT_FOUND);
			assert_non_null(strstr(error->message, "'shutdown' is installed"));
			continue;
		}
		assert_true(
		    qa_power_shutdown_argv(shutdown_cases[i].mode, fp->search_path, &argv, &error));
		joined = argv_join(argv, fp->dir);
		assert_string_equal(joined, shutdown_cases[i].argv);
	}
}

static const struct {
	QaPowerSleep sleep;
	gboolean has_systemd;
	const gchar *tools;
	const gchar *argv; /* "": the kernel's files; NULL: refused */
	guint timeout_ms;
} sleep_cases[] = {
    {QA_POWER_SLEEP_RAM, TRUE, "systemctl pm-suspend", "b/systemctl|suspend", 30000},
    {QA_POWER_SLEEP_DISK, TRUE, "systemctl", "b/systemctl|hibernate", 30000},
    {QA_POWER_SLEEP_HYBRID, TRUE, "systemctl", "b/systemctl|hybrid-sleep", 30000},
    {QA_POWER_SLEEP_RAM, TRUE, "pm-suspend", NULL, 0},
    {QA_POWER_SLEEP_RAM, FALSE, "systemctl pm-suspend", "b/pm-suspend", 120000},
    {QA_POWER_SLEEP_DISK, FALSE, "pm-hibernate", "b/pm-hibernate", 120000},
    {QA_POWER_SLEEP_HYBRID, FALSE, "pm-suspend-hybrid", "b/pm-suspend-hybrid", 120000},
    {QA_POWER_SLEEP_HYBRID, FALSE, "pm-suspend pm-hibernate", "", 30000},
    {QA_POWER_SLEEP_RAM, FALSE, "", "", 30000},
};

static void
test_sleep_argv(void **state)
{
	for (guint i = 0; i < G_N_ELEMENTS(sleep_cases); i++) {
		g_autoptr(FakePath) fp = fake_path_new();
		g_auto(GStrv) tools = g_strsplit(sleep_cases[i].tools, " ", -1);
		g_auto(GStrv) argv = NULL;
		g_autoptr(GError) error = NULL;
		g_autofree gchar *joined = NULL;
		guint timeout_ms = 0;
		gboolean ok;

		for (guint j = 0; tools[j] != NULL; j++) {
			if (tools[j][0] != '\0')
				fake_path_add(fp->b, tools[j], 0755);
		}
		ok = qa_power_sleep_argv(sleep_cases[i].sleep,
					 sleep_cases[i].has_systemd,
					 fp->search_path,
					 &argv,
					 &timeout_ms,
					 &error);
		if (sleep_cases[i].argv == NULL) {
			assert_false(ok);
			g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_NOT_FOUND);
			assert_non_null(strstr(error->message, "'systemctl'"));
			continue;
		}
		assert_true(ok);
		assert_int_equal(timeout_ms, sleep_cases[i].timeout_ms);
		joined = argv != NULL ? argv_join(argv, fp->dir) : g_strdup("");
		assert_string_equal(joined, sleep_cases[i].argv);
	}
}

static const struct {
	const gchar *modes; /* what power/disk offers */
	QaPowerSleep sleep;
	const gchar *disk; /* what power/disk holds afterwards: its old content when untouched */
	const gchar *state;
} sysfs_cases[] = {
    {"[platform] shutdown reboot suspend test_resume \n", QA_POWER_SLEEP_RAM, "old", "mem"},
    {"[platform] shutdown reboot suspend test_resume \n", QA_POWER_SLEEP_DISK, "platform", "disk"},
    {"platform [suspend]\n", QA_POWER_SLEEP_DISK, "platform", "disk"},
    {"[platform] shutdown reboot suspend\n", QA_POWER_SLEEP_HYBRID, "suspend", "disk"},
    /* no platform mode (no ACPI S4): shutdown */
    {"[shutdown] reboot suspend\n", QA_POWER_SLEEP_DISK, "shutdown", "disk"},
    /* nothing systemd would choose: the kernel's current mode stays */
    {"[reboot] test_resume\n", QA_POWER_SLEEP_DISK, "old", "disk"},
};

/* the kernel's files written in a temporary tree, never in /sys */
static void
test_sleep_sysfs(void **state)
{
	for (guint i = 0; i < G_N_ELEMENTS(sysfs_cases); i++) {
		g_autoptr(FakePath) fp = fake_path_new();
		g_autoptr(QaPowerSupport) support = qa_power_support_new();
		g_autofree gchar *power = g_build_filename(fp->dir, "power", NULL);
		g_autofree gchar *disk_path = g_build_filename(power, "disk", NULL);
		g_autofree gchar *state_path = g_build_filename(power, "state", NULL);
		g_autoptr(QaRoots) roots =
		    qa_roots_new("/nonexistent", fp->dir, "/nonexistent", FALSE);
		g_autofree gchar *disk = NULL;
		g_autofree gchar *written = NULL;

		assert_true(qa_power_disk_parse(sysfs_cases[i].modes, support, NULL));
		g_mkdir(power, 0755);
		g_assert_true(g_file_set_contents(disk_path, "old", -1, NULL));
		g_assert_true(g_file_set_contents(state_path, "", -1, NULL));
		assert_true(qa_power_sleep_sysfs(roots, support, sysfs_cases[i].sleep, NULL));
		g_assert_true(g_file_get_contents(disk_path, &disk, NULL, NULL));
		g_assert_true(g_file_get_contents(state_path, &written, NULL, NULL));
		assert_string_equal(written, sysfs_cases[i].state);
		/* the file is overwritten from its start: "platform" over "old" */
		assert_string_equal(disk, sysfs_cases[i].disk);
	}
}

static void
test_sleep_sysfs_fails(void **state)
{
	g_autoptr(QaRoots) fixture_roots = qa_test_fixture_roots("power/qemu-swap-partition");
	g_autoptr(QaPowerSupport) support = qa_power_support_load(fixture_roots, NULL);
	g_autoptr(QaRoots) roots =
	    qa_roots_new("/nonexistent", "/nonexistent", "/nonexistent", FALSE);
	g_autoptr(GError) error = NULL;

	assert_false(qa_power_sleep_sysfs(roots, support, QA_POWER_SLEEP_RAM, &error));
	g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_FAILED);
	assert_string_equal(error->message,
			    "Cannot write 'mem' to '/nonexistent/power/state': No such file or "
			    "directory");
}

static const struct {
	gint status;
	const gchar *stderr_text;
	const gchar *message; /* NULL: success */
} status_cases[] = {
    {0, "warnings are fine\n", NULL},
    {1 << 8, "", "'tool arg' failed with exit status 1 and printed no error"},
    {3 << 8,
     "first\nFailed to talk to init daemon.\n\n  \n",
     "'tool arg' failed with exit status 3: Failed to talk to init daemon."},
    {SIGKILL, NULL, "'tool arg' was killed by signal 9 (Killed) and printed no error"},
    {SIGTERM, "bye", "'tool arg' was killed by signal 15 (Terminated): bye"},
    {0x137f, "", "'tool arg' ended with wait status 0x137f and printed no error"},
};

static void
test_check_wait_status(void **state)
{
	gchar *argv[] = {"tool", "arg", NULL};

	for (guint i = 0; i < G_N_ELEMENTS(status_cases); i++) {
		g_autoptr(GError) error = NULL;
		gboolean ok = qa_child_check_status((const gchar *const *)argv,
						    status_cases[i].status,
						    status_cases[i].stderr_text,
						    &error);

		if (status_cases[i].message == NULL) {
			assert_true(ok);
			continue;
		}
		assert_false(ok);
		g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_FAILED);
		assert_string_equal(error->message, status_cases[i].message);
	}
}

static gchar *
run_sh(const gchar *script, guint timeout_ms, gint *out_status, GError **error)
{
	gchar *argv[] = {"/bin/sh", "-c", (gchar *)script, NULL};
	gchar *text = NULL;

	if (!qa_child_run_capture((const gchar *const *)argv, timeout_ms, out_status, &text, error))
		return NULL;
	return text;
}

static void
test_run_tool_output(void **state)
{
	g_autoptr(GError) error = NULL;
	gchar *argv[] = {"/bin/sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 4", NULL};
	g_autofree gchar *text = NULL;
	gint status = 0;

	/* stdout goes nowhere, stderr is kept */
	text = run_sh("echo to-stdout; echo to-stderr >&2; exit 4", 10000, &status, &error);
	assert_non_null(text);
	assert_string_equal(text, "to-stderr\n");
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 4);

	assert_false(qa_child_run_checked((const gchar *const *)argv, 10000, &error));
	assert_string_equal(error->message,
			    "'/bin/sh -c echo to-stdout; echo to-stderr >&2; exit 4' failed "
			    "with exit status 4: to-stderr");
	g_clear_error(&error);

	argv[2] = "exit 0";
	assert_true(qa_child_run_checked((const gchar *const *)argv, 10000, &error));
	assert_null(error);
}

static void
test_run_tool_bounded_output(void **state)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *text = NULL;
	gint status = 0;

	/* 1 MiB of stderr keeps the last 16 KiB, ending with the last line */
	text = run_sh("i=0; while [ $i -lt 16384 ]; do "
		      "echo 0123456789012345678901234567890123456789012345678901234567890 >&2; "
		      "i=$((i+1)); done; echo last >&2",
		      60000,
		      &status,
		      &error);
	assert_non_null(text);
	assert_true(strlen(text) <= 16 * 1024);
	assert_true(g_str_has_suffix(text, "\nlast\n"));
}

static void
test_run_tool_stdin_is_null(void **state)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *text = NULL;
	gint status = 0;

	/* a tool that reads stdin gets end of file at once */
	text = run_sh("cat; echo done >&2", 10000, &status, &error);
	assert_non_null(text);
	assert_string_equal(text, "done\n");
}

static void
test_run_tool_timeout(void **state)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(FakePath) fp = fake_path_new();
	g_autofree gchar *pidfile = g_build_filename(fp->dir, "pid", NULL);
	g_autofree gchar *script =
	    g_strdup_printf("echo started >&2; sleep 60 & echo $! > '%s'; wait", pidfile);
	g_autofree gchar *pid_text = NULL;
	gint status = 0;

	/* the shell and the sleep it started are both killed */
	assert_null(run_sh(script, 300, &status, &error));
	g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_FAILED);
	assert_non_null(strstr(error->message, "did not finish within 300 ms and was killed"));
	/* a shell that had not started its sleep yet leaves nothing more to check */
	if (!g_file_get_contents(pidfile, &pid_text, NULL, NULL) || atoi(pid_text) <= 0)
		return;
	assert_true(g_str_has_suffix(error->message, "; its last error line: started"));
	/* the group was killed with SIGKILL: the orphaned sleep is gone or a zombie being reaped;
	 * give init a moment, then it must not be a live process */
	for (guint i = 0; i < 100; i++) {
		g_autofree gchar *stat_path =
		    g_strdup_printf("/proc/%d/stat", atoi(g_strstrip(pid_text)));
		g_autofree gchar *stat = NULL;

		if (!g_file_get_contents(stat_path, &stat, NULL, NULL) ||
		    strstr(stat, ") Z") != NULL)
			return;
		g_usleep(50 * 1000);
	}
	fail_msg("the child of the killed tool still runs");
}

/* a tool that leaves a process holding its stderr is done when it exits */
static void
test_run_tool_orphan_holds_stderr(void **state)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *text = NULL;
	gint status = -1;

	text = run_sh("sleep 3 >&2 & echo bye >&2; exit 0", 60000, &status, &error);
	assert_non_null(text);
	assert_string_equal(text, "bye\n");
	assert_int_equal(status, 0);
}

static void
test_run_tool_missing(void **state)
{
	g_autoptr(GError) error = NULL;
	gchar *argv[] = {"/nonexistent/poweroff", NULL};
	gint status = 0;

	assert_false(qa_child_run_capture((const gchar *const *)argv, 1000, &status, NULL, &error));
	g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_FAILED);
	assert_non_null(strstr(error->message, "Cannot run '/nonexistent/poweroff'"));
}

/* the agent blocks SIGTERM and friends in every thread; its children must not inherit that,
 * nor any descriptor it holds */
static void
test_run_tool_clean_child(void **state)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *text = NULL;
	g_auto(GStrv) fds = NULL;
	sigset_t blocked, old;
	int leak = open("/dev/null", O_RDONLY); /* no O_CLOEXEC on purpose */
	gint status = 0;

	assert_true(leak >= 0);
	assert_int_equal(dup2(leak, 57), 57);
	close(leak);
	sigemptyset(&blocked);
	sigaddset(&blocked, SIGTERM);
	sigaddset(&blocked, SIGHUP);
	sigaddset(&blocked, SIGIO);
	pthread_sigmask(SIG_BLOCK, &blocked, &old);
	signal(SIGPIPE, SIG_IGN);

	text = run_sh("grep -E 'SigBlk|SigIgn' /proc/self/status >&2; exec ls /proc/self/fd >&2",
		      10000,
		      &status,
		      &error);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	signal(SIGPIPE, SIG_DFL);
	close(57);
	assert_non_null(text);
	assert_non_null(strstr(text, "SigBlk:\t0000000000000000\n"));
	/* SIGPIPE (bit 13), ignored by the agent, is reset for the tool */
	assert_null(strstr(text, "SigIgn:\t0000000000001000\n"));
	assert_non_null(strstr(text, "SigIgn:\t0000000000000000\n"));
	fds = g_strsplit_set(strchr(strchr(text, '\n') + 1, '\n') + 1, "\n", -1);
	/* ls's own: 0 1 2 and the directory it reads */
	assert_false(g_strv_contains((const gchar *const *)fds, "57"));
	assert_true(g_strv_contains((const gchar *const *)fds, "2"));
	assert_true(g_strv_length(fds) <= 5);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mode_parse),
	    cmocka_unit_test(test_state_parse),
	    cmocka_unit_test(test_disk_parse),
	    cmocka_unit_test(test_swaps_parse),
	    cmocka_unit_test(test_support_fixtures),
	    cmocka_unit_test(test_support_fixture_values),
	    cmocka_unit_test(test_find_tool),
	    cmocka_unit_test(test_shutdown_argv),
	    cmocka_unit_test(test_sleep_argv),
	    cmocka_unit_test(test_sleep_sysfs),
	    cmocka_unit_test(test_sleep_sysfs_fails),
	    cmocka_unit_test(test_check_wait_status),
	    cmocka_unit_test(test_run_tool_output),
	    cmocka_unit_test(test_run_tool_bounded_output),
	    cmocka_unit_test(test_run_tool_stdin_is_null),
	    cmocka_unit_test(test_run_tool_timeout),
	    cmocka_unit_test(test_run_tool_orphan_holds_stderr),
	    cmocka_unit_test(test_run_tool_missing),
	    cmocka_unit_test(test_run_tool_clean_child),
	};
	return cmocka_run_group_tests_name("power", tests, NULL, NULL);
}
