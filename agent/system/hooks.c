#include "hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "autocleanups.h"
#include "qa-error.h"

/* a hook that prints more than this keeps only its tail: the last line is what gets reported */
#define QA_HOOK_OUTPUT_MAX (64 * 1024)
/* how often the wait loop looks at the child while its output pipe stays open */
#define QA_HOOK_POLL_MS 50

/* A directory through which the hook is looked up must not let anyone but root (or the agent's
 * own user) replace what it holds. A sticky directory (/tmp) is fine: there only the owner of an
 * entry may rename or remove it, and every entry on the way is checked too. */
static gboolean
qa_hook_check_dir(const gchar *hook, const gchar *dir, GError **error)
{
	struct stat st;

	if (stat(dir, &st) != 0) {
		g_set_error(
		    error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_NOT_FOUND,
		    "The fsfreeze hook '%s' cannot be used: cannot read its directory '%s': "
		    "%s.",
		    hook,
		    dir,
		    g_strerror(errno));
		return FALSE;
	}
	if ((st.st_uid != 0 && st.st_uid != geteuid()) ||
	    ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0)) {
		g_set_error(
		    error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_INVALID,
		    "The fsfreeze hook '%s' is in a directory that users other than root can "
		    "modify: '%s' (owner uid %u, mode %04o); expected every directory on "
		    "the way owned by root and without group or other write permission.",
		    hook,
		    dir,
		    (guint)st.st_uid,
		    (guint)(st.st_mode & 07777));
		return FALSE;
	}
	return TRUE;
}

/* pushes the components of @text on the stack @todo so that the first one is popped first */
static void
qa_hook_push_components(GPtrArray *todo, const gchar *text)
{
	g_auto(GStrv) parts = g_strsplit(text, "/", -1);

	for (guint i = g_strv_length(parts); i > 0; i--)
		g_ptr_array_add(todo, g_strdup(parts[i - 1]));
}

/* Follows @path the way the kernel will when the hook is run, checking every directory a name
 * is looked up in, including those that symbolic links lead through. */
static gboolean
qa_hook_check_dirs(const gchar *path, GError **error)
{
	g_autofree gchar *cwd = g_path_is_absolute(path) ? NULL : g_get_current_dir();
	g_autofree gchar *abs = g_build_filename(cwd != NULL ? cwd : "/", path, NULL);
	g_autoptr(GPtrArray) todo = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GString) dir = g_string_new("/");
	guint n_links = 0;

	qa_hook_push_components(todo, abs);
	while (todo->len > 0) {
		g_autofree gchar *name = g_ptr_array_steal_index(todo, todo->len - 1);
		g_autofree gchar *next = NULL;
		g_autofree gchar *target = NULL;
		struct stat st;

		if (name[0] == '\0' || g_strcmp0(name, ".") == 0)
			continue;
		if (g_strcmp0(name, "..") == 0) {
			/* @dir is resolved already, so its parent is a plain string operation */
			g_autofree gchar *parent = g_path_get_dirname(dir->str);
			g_string_assign(dir, parent);
			continue;
		}
		if (!qa_hook_check_dir(path, dir->str, error))
			return FALSE;
		next = g_build_filename(dir->str, name, NULL);
		if (lstat(next, &st) != 0 || !S_ISLNK(st.st_mode)) {
			g_string_assign(dir, next);
			continue;
		}
		target = g_file_read_link(next, NULL);
		if (target == NULL || ++n_links > 40) {
			g_set_error(error,
				    QA_SYSTEM_ERROR,
				    QA_SYSTEM_ERROR_INVALID,
				    "The fsfreeze hook '%s' cannot be used: cannot follow the link "
				    "'%s'.",
				    path,
				    next);
			return FALSE;
		}
		if (g_path_is_absolute(target))
			g_string_assign(dir, "/");
		qa_hook_push_components(todo, target);
	}
	return TRUE;
}

gboolean
qa_hook_check(const gchar *path, GError **error)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_NOT_FOUND,
			    "The fsfreeze hook '%s' cannot be used: %s.",
			    path,
			    g_strerror(errno));
		return FALSE;
	}
	if (!S_ISREG(st.st_mode) || access(path, X_OK) != 0) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_INVALID,
			    "The fsfreeze hook '%s' is not an executable regular file.",
			    path);
		return FALSE;
	}
	if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_INVALID,
			    "The fsfreeze hook '%s' is writable by users other than root "
			    "(owner uid %u, mode %04o); expected owner root and no group or other "
			    "write permission.",
			    path,
			    (guint)st.st_uid,
			    (guint)(st.st_mode & 07777));
		return FALSE;
	}
	return qa_hook_check_dirs(path, error);
}

/* runs in the child between fork and exec: async-signal-safe calls only */
static void
qa_hook_child_setup(gpointer user_data)
{
	sigset_t none;

	/* own process group, so a timeout kills the hook's children too */
	setsid();
	/* the agent blocks the signals it reads from signalfds; a blocked mask survives exec, and
	 * a hook must stay killable by SIGTERM like any program */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static void
qa_hook_output_append(GString *output, const gchar *buf, gssize len)
{
	g_string_append_len(output, buf, len);
	if (output->len > QA_HOOK_OUTPUT_MAX)
		g_string_erase(output, 0, output->len - QA_HOOK_OUTPUT_MAX);
}

/* reads what is available; FALSE at end of file or on error */
static gboolean
qa_hook_output_read(int fd, GString *output)
{
	gchar buf[4096];
	gssize n = read(fd, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return TRUE;
	if (n <= 0)
		return FALSE;
	qa_hook_output_append(output, buf, n);
	return TRUE;
}

static gchar *
qa_hook_last_line(const gchar *output)
{
	g_auto(GStrv) lines = g_strsplit(output, "\n", -1);

	for (gint i = (gint)g_strv_length(lines) - 1; i >= 0; i--) {
		g_strstrip(lines[i]);
		if (lines[i][0] != '\0')
			return g_strdup(lines[i]);
	}
	return g_strdup("(no output)");
}

static void
qa_hook_log_output(const gchar *path, const gchar *action, const gchar *output)
{
	g_auto(GStrv) lines = g_strsplit(output, "\n", -1);

	for (guint i = 0; lines[i] != NULL; i++) {
		if (lines[i][0] == '\0')
			continue;
		g_message("fsfreeze hook=%s action=%s output=%s", path, action, lines[i]);
	}
}

/* Waits for the child while collecting its output. Returns TRUE with the wait status once the
 * child exited; FALSE when the deadline passed (the child is then still running). The output
 * pipe is not enough to wait on: a hook may leave a daemon holding it open after it exits. */
static gboolean
qa_hook_wait(GPid pid, int out_fd, gint64 deadline, GString *output, int *out_status)
{
	gboolean is_open = TRUE;

	for (;;) {
		int status = 0;
		gint64 now = g_get_monotonic_time();
		int wait_ms = QA_HOOK_POLL_MS;
		pid_t ret;

		if (deadline > 0) {
			if (now >= deadline)
				return FALSE;
			wait_ms = (int)MIN((deadline - now) / 1000 + 1, QA_HOOK_POLL_MS);
		}
		if (is_open) {
			struct pollfd pfd = {.fd = out_fd, .events = POLLIN};
			if (poll(&pfd, 1, wait_ms) > 0)
				is_open = qa_hook_output_read(out_fd, output);
		} else {
			g_usleep(wait_ms * 1000);
		}
		ret = waitpid(pid, &status, WNOHANG);
		if (ret == pid || (ret < 0 && errno == ECHILD)) {
			/* take what the hook wrote just before exiting */
			while (is_open && qa_hook_output_read(out_fd, output)) {
				struct pollfd pfd = {.fd = out_fd, .events = POLLIN};
				if (poll(&pfd, 1, 0) <= 0)
					break;
			}
			*out_status = ret == pid ? status : 0;
			return TRUE;
		}
	}
}

static gboolean
qa_hook_spawn(const gchar *path, const gchar *action, GPid *out_pid, int *out_fd, GError **error)
{
	const gchar *argv[] = {path, action, NULL};
	int fds[2];
	g_auto(QaFd) read_fd = -1;
	g_auto(QaFd) write_fd = -1;
	g_autoptr(GError) error_local = NULL;

	if (pipe2(fds, O_CLOEXEC) != 0) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot create a pipe for the fsfreeze hook '%s': %s.",
			    path,
			    g_strerror(errno));
		return FALSE;
	}
	read_fd = fds[0];
	write_fd = fds[1];
	if (!g_spawn_async_with_pipes_and_fds("/",
					      argv,
					      NULL,
					      G_SPAWN_DO_NOT_REAP_CHILD |
						  G_SPAWN_STDIN_FROM_DEV_NULL,
					      qa_hook_child_setup,
					      NULL,
					      -1,
					      write_fd,
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
			    "Cannot run the fsfreeze hook '%s %s': %s.",
			    path,
			    action,
			    error_local->message);
		return FALSE;
	}
	g_unix_set_fd_nonblocking(read_fd, TRUE, NULL);
	*out_fd = qa_fd_steal(&read_fd);
	return TRUE;
}

gboolean
qa_hook_run(
    const gchar *path, const gchar *action, guint timeout_ms, gchar **out_output, GError **error)
{
	g_autoptr(GString) output = g_string_new(NULL);
	g_autofree gchar *last_line = NULL;
	g_auto(QaFd) out_fd = -1;
	gint64 deadline = timeout_ms > 0 ? g_get_monotonic_time() + (gint64)timeout_ms * 1000 : 0;
	GPid pid = 0;
	int status = 0;
	gboolean has_exited;

	if (!qa_hook_spawn(path, action, &pid, &out_fd, error))
		return FALSE;
	has_exited = qa_hook_wait(pid, out_fd, deadline, output, &status);
	if (!has_exited) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		qa_hook_output_read(out_fd, output);
	}
	qa_hook_log_output(path, action, output->str);
	last_line = qa_hook_last_line(output->str);
	if (out_output != NULL)
		*out_output = g_strdup(output->str);

	if (!has_exited) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "The fsfreeze hook '%s %s' did not finish within %u ms and was killed; "
			    "its last output line: %s",
			    path,
			    action,
			    timeout_ms,
			    last_line);
		return FALSE;
	}
	if (WIFSIGNALED(status)) {
		g_set_error(
		    error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_FAILED,
		    "The fsfreeze hook '%s %s' was killed by signal %d; its last output line: %s",
		    path,
		    action,
		    WTERMSIG(status),
		    last_line);
		return FALSE;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "The fsfreeze hook '%s %s' failed with exit status %d; its last output "
			    "line: %s",
			    path,
			    action,
			    WEXITSTATUS(status),
			    last_line);
		return FALSE;
	}
	return TRUE;
}
