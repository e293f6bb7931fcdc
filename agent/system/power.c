#include "power.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kernel-file.h"
#include "qa-error.h"
#include "qa-fd.h"

/* a tool that prints more than this keeps only its tail: the last line is what gets reported */
#define QA_POWER_STDERR_MAX (16 * 1024)
/* how often the wait loop looks at the child while its stderr stays open */
#define QA_POWER_POLL_MS 50
/* the message qemu-ga's and every init's shutdown(8) broadcast to logged-in users */
#define QA_POWER_SHUTDOWN_MESSAGE "hypervisor initiated shutdown"

/* indexed by QaPowerMode */
static const struct {
	const gchar *name;
	QaPowerMode mode;
	const gchar *verb;	    /* for messages */
	const gchar *tool;	    /* the admin's own command, run without arguments */
	const gchar *shutdown_flag; /* else "shutdown <flag> +0 <message>" */
} qa_power_modes[] = {
    /* sysvinit's shutdown needs -h for a halt or power-off (without it, it goes to
     * single-user mode); systemd's accepts it */
    {"powerdown", QA_POWER_MODE_POWERDOWN, "power off", "poweroff", "-h -P"},
    {"halt", QA_POWER_MODE_HALT, "halt", "halt", "-h -H"},
    {"reboot", QA_POWER_MODE_REBOOT, "reboot", "reboot", "-r"},
};

/* indexed by QaPowerSleep */
static const struct {
	const gchar *name;	    /* for messages */
	const gchar *systemd_verb;  /* systemctl <verb> */
	const gchar *pm_utils_tool; /* pm-utils' script */
	const gchar *state;	    /* what <sys>/power/state gets */
	const gchar *disk_modes[3]; /* what <sys>/power/disk gets: the first it offers */
} qa_power_sleeps[] = {
    /* the disk modes are systemd's defaults (HibernateMode=platform shutdown; hybrid-sleep:
     * suspend), so that every way of hibernating behaves alike */
    {"suspend to disk", "hibernate", "pm-hibernate", "disk", {"platform", "shutdown", NULL}},
    {"suspend to RAM", "suspend", "pm-suspend", "mem", {NULL}},
    {"suspend to disk and RAM (hybrid)",
     "hybrid-sleep",
     "pm-suspend-hybrid",
     "disk",
     {"suspend", NULL}},
};

QaPowerSupport *
qa_power_support_new(void)
{
	QaPowerSupport *support = g_new0(QaPowerSupport, 1);

	support->disk_modes = g_new0(gchar *, 1);
	return support;
}

void
qa_power_support_free(QaPowerSupport *support)
{
	if (support == NULL)
		return;
	g_strfreev(support->disk_modes);
	g_free(support->disk_mode);
	g_free(support);
}

gboolean
qa_power_mode_parse(const gchar *text, QaPowerMode *out_mode, GError **error)
{
	if (text == NULL) {
		*out_mode = QA_POWER_MODE_POWERDOWN;
		return TRUE;
	}
	for (guint i = 0; i < G_N_ELEMENTS(qa_power_modes); i++) {
		if (g_strcmp0(text, qa_power_modes[i].name) == 0) {
			*out_mode = qa_power_modes[i].mode;
			return TRUE;
		}
	}
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_INVALID,
		    "Mode '%s' is invalid; valid values are: halt, powerdown, reboot",
		    text);
	return FALSE;
}

const gchar *
qa_power_sleep_to_string(QaPowerSleep sleep)
{
	g_return_val_if_fail(sleep < G_N_ELEMENTS(qa_power_sleeps), NULL);
	return qa_power_sleeps[sleep].name;
}

/* the words of a kernel file: space or newline separated */
static gchar **
qa_power_split_words(const gchar *text)
{
	g_autoptr(GPtrArray) words = g_ptr_array_new();
	g_auto(GStrv) parts = g_strsplit_set(text, " \t\n", -1);

	for (guint i = 0; parts[i] != NULL; i++) {
		if (parts[i][0] != '\0')
			g_ptr_array_add(words, g_strdup(parts[i]));
	}
	g_ptr_array_add(words, NULL);
	return (gchar **)g_ptr_array_free(g_steal_pointer(&words), FALSE);
}

void
qa_power_state_parse(const gchar *text, QaPowerSupport *support)
{
	g_auto(GStrv) words = qa_power_split_words(text);

	support->has_state_mem = g_strv_contains((const gchar *const *)words, "mem");
	support->has_state_disk = g_strv_contains((const gchar *const *)words, "disk");
}

gboolean
qa_power_disk_parse(const gchar *text, QaPowerSupport *support, GError **error)
{
	g_auto(GStrv) words = qa_power_split_words(text);
	g_autofree gchar *current = NULL;
	g_autofree gchar *stripped = g_strstrip(g_strdup(text));

	for (guint i = 0; words[i] != NULL; i++) {
		gchar *word = words[i];
		gsize len = strlen(word);

		if (word[0] != '[' && word[len - 1] != ']')
			continue;
		if (len < 3 || word[0] != '[' || word[len - 1] != ']' || current != NULL) {
			g_set_error(error,
				    QA_SYSTEM_ERROR,
				    QA_SYSTEM_ERROR_PARSE,
				    "Cannot parse the hibernation modes '%s': expected words with "
				    "one of them in brackets",
				    stripped);
			return FALSE;
		}
		memmove(word, word + 1, len - 2);
		word[len - 2] = '\0';
		current = g_strdup(word);
	}
	g_strfreev(support->disk_modes);
	support->disk_modes = g_steal_pointer(&words);
	g_free(support->disk_mode);
	support->disk_mode = g_steal_pointer(&current);
	return TRUE;
}

gboolean
qa_power_swaps_parse(const gchar *text, guint *out_n_swaps, GError **error)
{
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	guint n_swaps = 0;

	if (!g_str_has_prefix(text, "Filename")) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_PARSE,
			    "Cannot parse the list of swap areas: expected a header starting "
			    "with 'Filename'");
		return FALSE;
	}
	for (guint i = 1; lines[i] != NULL; i++) {
		g_auto(GStrv) fields = qa_power_split_words(lines[i]);
		guint n_fields = g_strv_length(fields);

		if (n_fields == 0)
			continue;
		/* Filename Type Size Used Priority; a name with spaces is escaped (\040) */
		if (n_fields != 5) {
			g_set_error(error,
				    QA_SYSTEM_ERROR,
				    QA_SYSTEM_ERROR_PARSE,
				    "Cannot parse the swap area line %u: expected 5 fields, found "
				    "%u",
				    i + 1,
				    n_fields);
			return FALSE;
		}
		n_swaps++;
	}
	*out_n_swaps = n_swaps;
	return TRUE;
}

gboolean
qa_power_support_has_disk_mode(const QaPowerSupport *support, const gchar *mode)
{
	return g_strv_contains((const gchar *const *)support->disk_modes, mode);
}

QaPowerSupport *
qa_power_support_load(const QaRoots *roots, GError **error)
{
	g_autoptr(QaPowerSupport) support = qa_power_support_new();
	g_autofree gchar *state_path = g_build_filename(roots->sys, "power", "state", NULL);
	g_autofree gchar *disk_path = g_build_filename(roots->sys, "power", "disk", NULL);
	g_autofree gchar *swaps_path = g_build_filename(roots->proc, "swaps", NULL);
	g_autofree gchar *state = qa_kernel_file_read(state_path, NULL);
	g_autofree gchar *disk = NULL;
	g_autofree gchar *swaps = NULL;

	if (state == NULL) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_UNSUPPORTED,
			    "Cannot read '%s': %s; the kernel offers no sleep states",
			    state_path,
			    g_strerror(errno));
		return NULL;
	}
	qa_power_state_parse(state, support);
	/* without hibernation support the kernel has no power/disk */
	disk = qa_kernel_file_read(disk_path, NULL);
	if (disk != NULL && !qa_power_disk_parse(disk, support, error)) {
		g_prefix_error(error, "'%s': ", disk_path);
		return NULL;
	}
	/* without CONFIG_SWAP there is no /proc/swaps, and no swap */
	swaps = qa_kernel_file_read_generated(swaps_path, 4096, NULL);
	if (swaps != NULL && !qa_power_swaps_parse(swaps, &support->n_swaps, error)) {
		g_prefix_error(error, "'%s': ", swaps_path);
		return NULL;
	}
	return g_steal_pointer(&support);
}

static gboolean
qa_power_check_hibernation(const QaPowerSupport *support, const gchar *what, GError **error)
{
	if (!support->has_state_disk) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_UNSUPPORTED,
			    "The guest cannot %s: its kernel offers no hibernation ('disk' is not "
			    "among the sleep states in /sys/power/state)",
			    what);
		return FALSE;
	}
	if (support->n_swaps == 0) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_UNSUPPORTED,
			    "The guest cannot %s: hibernation needs an active swap area to write "
			    "memory to, and /proc/swaps lists none",
			    what);
		return FALSE;
	}
	return TRUE;
}

gboolean
qa_power_support_check(const QaPowerSupport *support, QaPowerSleep sleep, GError **error)
{
	const gchar *what = qa_power_sleep_to_string(sleep);

	switch (sleep) {
	case QA_POWER_SLEEP_RAM:
		if (support->has_state_mem)
			return TRUE;
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_UNSUPPORTED,
			    "The guest cannot %s: its kernel offers no suspend to RAM ('mem' is "
			    "not among the sleep states in /sys/power/state)",
			    what);
		return FALSE;
	case QA_POWER_SLEEP_DISK:
		return qa_power_check_hibernation(support, what, error);
	case QA_POWER_SLEEP_HYBRID:
		if (!qa_power_check_hibernation(support, what, error))
			return FALSE;
		if (qa_power_support_has_disk_mode(support, "suspend"))
			return TRUE;
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_UNSUPPORTED,
			    "The guest cannot %s: its kernel cannot suspend after hibernating "
			    "('suspend' is not among the hibernation modes in /sys/power/disk)",
			    what);
		return FALSE;
	}
	g_return_val_if_reached(FALSE);
}

gchar *
qa_power_find_tool(const gchar *search_path, const gchar *name)
{
	g_auto(GStrv) dirs = g_strsplit(search_path, ":", -1);

	for (guint i = 0; dirs[i] != NULL; i++) {
		g_autofree gchar *path = NULL;
		struct stat st;

		/* an empty or relative entry means a current directory, and the agent's is "/":
		 * never where an admin's tool is meant to come from */
		if (!g_path_is_absolute(dirs[i]))
			continue;
		path = g_build_filename(dirs[i], name, NULL);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0)
			return g_steal_pointer(&path);
	}
	return NULL;
}

gboolean
qa_power_shutdown_argv(QaPowerMode mode,
		       const gchar *search_path,
		       gchar ***out_argv,
		       GError **error)
{
	const gchar *tool = qa_power_modes[mode].tool;
	g_autofree gchar *path = qa_power_find_tool(search_path, tool);
	g_auto(GStrv) flags = NULL;
	g_autoptr(GStrvBuilder) builder = NULL;

	if (path != NULL) {
		*out_argv = g_new0(gchar *, 2);
		(*out_argv)[0] = g_steal_pointer(&path);
		return TRUE;
	}
	path = qa_power_find_tool(search_path, "shutdown");
	if (path == NULL) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_NOT_FOUND,
			    "Cannot %s the guest: neither '%s' nor 'shutdown' is installed in "
			    "%s",
			    qa_power_modes[mode].verb,
			    tool,
			    search_path);
		return FALSE;
	}
	builder = g_strv_builder_new();
	g_strv_builder_add(builder, path);
	flags = g_strsplit(qa_power_modes[mode].shutdown_flag, " ", -1);
	g_strv_builder_addv(builder, (const gchar **)flags);
	g_strv_builder_add_many(builder, "+0", QA_POWER_SHUTDOWN_MESSAGE, NULL);
	*out_argv = g_strv_builder_end(builder);
	return TRUE;
}

gboolean
qa_power_sleep_argv(QaPowerSleep sleep,
		    gboolean has_systemd,
		    const gchar *search_path,
		    gchar ***out_argv,
		    guint *out_timeout_ms,
		    GError **error)
{
	g_autofree gchar *path = NULL;

	*out_argv = NULL;
	*out_timeout_ms = QA_POWER_TOOL_TIMEOUT_MS;
	if (has_systemd) {
		path = qa_power_find_tool(search_path, "systemctl");
		if (path == NULL) {
			g_set_error(error,
				    QA_SYSTEM_ERROR,
				    QA_SYSTEM_ERROR_NOT_FOUND,
				    "Cannot %s: systemd runs, but 'systemctl' is not installed in "
				    "%s",
				    qa_power_sleeps[sleep].name,
				    search_path);
			return FALSE;
		}
		*out_argv = g_new0(gchar *, 3);
		(*out_argv)[0] = g_steal_pointer(&path);
		(*out_argv)[1] = g_strdup(qa_power_sleeps[sleep].systemd_verb);
		return TRUE;
	}
	path = qa_power_find_tool(search_path, qa_power_sleeps[sleep].pm_utils_tool);
	if (path != NULL) {
		*out_argv = g_new0(gchar *, 2);
		(*out_argv)[0] = g_steal_pointer(&path);
		*out_timeout_ms = QA_POWER_PM_UTILS_TIMEOUT_MS;
	}
	return TRUE;
}

/* runs in the child between fork and exec: async-signal-safe calls only */
static void
qa_power_child_setup(gpointer user_data)
{
	sigset_t none;

	/* own session, so that a timeout kills whatever the tool started too */
	setsid();
	/* the agent blocks the signals it reads from signalfds, and a blocked mask survives
	 * exec: a tool must stay killable and see the signals an init sends */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* SIGPIPE, the one signal the agent ignores (an ignored signal stays ignored across
	 * exec), GLib's spawn resets to its default itself */
}

static gboolean
qa_power_spawn(gchar **argv, GPid *out_pid, int *out_fd, GError **error)
{
	int fds[2];
	g_auto(QaFd) read_fd = -1;
	g_auto(QaFd) write_fd = -1;
	g_autoptr(GError) error_local = NULL;

	if (pipe2(fds, O_CLOEXEC) != 0) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot create a pipe for '%s': %s",
			    argv[0],
			    g_strerror(errno));
		return FALSE;
	}
	read_fd = fds[0];
	write_fd = fds[1];
	/* without G_SPAWN_LEAVE_DESCRIPTORS_OPEN, GLib closes every descriptor above 2 */
	if (!g_spawn_async_with_pipes_and_fds("/",
					      (const gchar *const *)argv,
					      NULL,
					      G_SPAWN_DO_NOT_REAP_CHILD |
						  G_SPAWN_STDIN_FROM_DEV_NULL |
						  G_SPAWN_STDOUT_TO_DEV_NULL,
					      qa_power_child_setup,
					      NULL,
					      -1,
					      -1,
					      write_fd,
					      NULL,
					      NULL,
					      0,
					      out_pid,
					      NULL,
					      NULL,
					      NULL,
					      &error_local)) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot run '%s': %s",
			    argv[0],
			    error_local->message);
		return FALSE;
	}
	g_unix_set_fd_nonblocking(read_fd, TRUE, NULL);
	*out_fd = qa_fd_steal(&read_fd);
	return TRUE;
}

static gchar *
qa_power_last_line(const gchar *text)
{
	g_auto(GStrv) lines = g_strsplit(text != NULL ? text : "", "\n", -1);

	for (gint i = (gint)g_strv_length(lines) - 1; i >= 0; i--) {
		g_strstrip(lines[i]);
		if (lines[i][0] != '\0')
			return g_strdup(lines[i]);
	}
	return NULL;
}

/* reads what is available; FALSE at end of file or on error */
static gboolean
qa_power_read_stderr(int fd, GString *text)
{
	gchar buf[4096];
	gssize n = read(fd, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return TRUE;
	if (n <= 0)
		return FALSE;
	g_string_append_len(text, buf, n);
	if (text->len > QA_POWER_STDERR_MAX)
		g_string_erase(text, 0, text->len - QA_POWER_STDERR_MAX);
	return TRUE;
}

/* takes what is in the pipe now, without waiting for a writer that may never close it, nor
 * reading forever from one that never stops */
static void
qa_power_drain_stderr(int fd, GString *text)
{
	for (guint i = 0; i < 4 * QA_POWER_STDERR_MAX / 4096; i++) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};

		if (poll(&pfd, 1, 0) <= 0 || !qa_power_read_stderr(fd, text))
			return;
	}
}

/* Waits for the child while collecting its stderr; TRUE with its wait status once it exited,
 * FALSE when the deadline passed. The pipe alone is not enough to wait on: a tool may leave a
 * process holding it open after it exits. */
static gboolean
qa_power_wait(GPid pid, int fd, gint64 deadline, GString *text, gint *out_status)
{
	gboolean is_open = TRUE;

	for (;;) {
		gint64 now = g_get_monotonic_time();
		int wait_ms = (int)MIN((deadline - now) / 1000 + 1, QA_POWER_POLL_MS);
		int status = 0;
		pid_t ret;

		if (now >= deadline)
			return FALSE;
		if (is_open) {
			struct pollfd pfd = {.fd = fd, .events = POLLIN};
			if (poll(&pfd, 1, wait_ms) > 0)
				is_open = qa_power_read_stderr(fd, text);
		} else {
			g_usleep(wait_ms * 1000);
		}
		ret = waitpid(pid, &status, WNOHANG);
		if (ret == pid) {
			/* what it wrote just before exiting */
			if (is_open)
				qa_power_drain_stderr(fd, text);
			*out_status = status;
			return TRUE;
		}
	}
}

gboolean
qa_power_run_tool(
    gchar **argv, guint timeout_ms, gint *out_wait_status, gchar **out_stderr, GError **error)
{
	g_autoptr(GString) text = g_string_new(NULL);
	g_auto(QaFd) fd = -1;
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	GPid pid = 0;
	gint status = 0;

	g_return_val_if_fail(argv != NULL && argv[0] != NULL, FALSE);
	if (!qa_power_spawn(argv, &pid, &fd, error))
		return FALSE;
	if (!qa_power_wait(pid, fd, deadline, text, &status)) {
		g_autofree gchar *last_line = NULL;

		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		qa_power_drain_stderr(fd, text);
		last_line = qa_power_last_line(text->str);
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "'%s' did not finish within %u ms and was killed%s%s",
			    argv[0],
			    timeout_ms,
			    last_line != NULL ? "; its last error line: " : "",
			    last_line != NULL ? last_line : "");
		return FALSE;
	}
	*out_wait_status = status;
	if (out_stderr != NULL)
		*out_stderr = g_string_free(g_steal_pointer(&text), FALSE);
	return TRUE;
}

gboolean
qa_power_check_wait_status(gchar **argv, gint wait_status, const gchar *stderr_text, GError **error)
{
	g_autofree gchar *command = g_strjoinv(" ", argv);
	g_autofree gchar *last_line = qa_power_last_line(stderr_text);
	g_autofree gchar *how = NULL;

	if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0)
		return TRUE;
	if (WIFEXITED(wait_status))
		how = g_strdup_printf("failed with exit status %d", WEXITSTATUS(wait_status));
	else if (WIFSIGNALED(wait_status))
		how = g_strdup_printf("was killed by signal %d (%s)",
				      WTERMSIG(wait_status),
				      g_strsignal(WTERMSIG(wait_status)));
	else
		how = g_strdup_printf("ended with wait status 0x%x", (guint)wait_status);
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_FAILED,
		    "'%s' %s%s%s",
		    command,
		    how,
		    last_line != NULL ? ": " : " and printed no error",
		    last_line != NULL ? last_line : "");
	return FALSE;
}

gboolean
qa_power_run_tool_checked(gchar **argv, guint timeout_ms, GError **error)
{
	g_autofree gchar *text = NULL;
	gint status = 0;

	if (!qa_power_run_tool(argv, timeout_ms, &status, &text, error))
		return FALSE;
	return qa_power_check_wait_status(argv, status, text, error);
}

gboolean
qa_power_shutdown(QaPowerMode mode, GError **error)
{
	g_auto(GStrv) argv = NULL;

	if (!qa_power_shutdown_argv(mode, QA_POWER_TOOL_PATH, &argv, error))
		return FALSE;
	g_message("shutdown mode=%s command=%s", qa_power_modes[mode].name, argv[0]);
	if (!qa_power_run_tool_checked(argv, QA_POWER_TOOL_TIMEOUT_MS, error)) {
		g_prefix_error(error, "Cannot %s the guest: ", qa_power_modes[mode].verb);
		return FALSE;
	}
	return TRUE;
}

static gboolean
qa_power_write_attr(const QaRoots *roots, const gchar *name, const gchar *value, GError **error)
{
	g_autofree gchar *path = g_build_filename(roots->sys, "power", name, NULL);
	g_auto(QaFd) fd = open(path, O_WRONLY | O_CLOEXEC);
	gsize len = strlen(value);
	gssize n = -1;

	if (fd >= 0) {
		do
			n = write(fd, value, len);
		while (n < 0 && errno == EINTR);
	}
	if (n != (gssize)len) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot write '%s' to '%s': %s",
			    value,
			    path,
			    n < 0 ? g_strerror(errno) : "short write");
		return FALSE;
	}
	return TRUE;
}

gboolean
qa_power_sleep_sysfs(const QaRoots *roots,
		     const QaPowerSupport *support,
		     QaPowerSleep sleep,
		     GError **error)
{
	const gchar *const *disk_modes = qa_power_sleeps[sleep].disk_modes;

	for (guint i = 0; disk_modes[i] != NULL; i++) {
		if (!qa_power_support_has_disk_mode(support, disk_modes[i]))
			continue;
		if (!qa_power_write_attr(roots, "disk", disk_modes[i], error))
			return FALSE;
		break;
	}
	return qa_power_write_attr(roots, "state", qa_power_sleeps[sleep].state, error);
}

gboolean
qa_power_sleep(const QaRoots *roots, QaPowerSleep sleep, GError **error)
{
	g_autoptr(QaPowerSupport) support = qa_power_support_load(roots, error);
	g_auto(GStrv) argv = NULL;
	guint timeout_ms = 0;
	gboolean has_systemd = g_file_test(QA_POWER_SYSTEMD_DIR, G_FILE_TEST_IS_DIR);

	if (support == NULL)
		return FALSE;
	if (!qa_power_support_check(support, sleep, error))
		return FALSE;
	if (!qa_power_sleep_argv(sleep, has_systemd, QA_POWER_TOOL_PATH, &argv, &timeout_ms, error))
		return FALSE;
	if (argv == NULL) {
		g_message("suspend mode=%s method=sysfs", qa_power_sleeps[sleep].state);
		return qa_power_sleep_sysfs(roots, support, sleep, error);
	}
	g_message("suspend mode=%s command=%s", qa_power_sleeps[sleep].systemd_verb, argv[0]);
	if (!qa_power_run_tool_checked(argv, timeout_ms, error)) {
		g_prefix_error(error, "Cannot %s: ", qa_power_sleeps[sleep].name);
		return FALSE;
	}
	return TRUE;
}
