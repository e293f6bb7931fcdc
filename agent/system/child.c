#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qa-error.h"
#include "qa-fd.h"

#define QA_CHILD_OUTPUT_MAX (64 * 1024)
/* how often the wait looks at the child when its output pipe is quiet or closed */
#define QA_CHILD_POLL_MS 50

void
qa_child_start_clean(void)
{
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigset_t none;

	setsid();
	/* ignored signals stay ignored across exec (the agent ignores SIGPIPE), and blocked ones
	 * (those it reads from signalfds) stay blocked: start as a login would */
	for (int sig = 1; sig < NSIG; sig++) {
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &dfl, NULL);
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* runs in the child between fork and exec: async-signal-safe calls only */
static void
qa_child_setup(gpointer user_data)
{
	qa_child_start_clean();
}

typedef struct {
	const QaChildSpec *spec;
	GPid pid;
	QaFd out_fd; /* -1 once at end of file */
	QaFd in_fd;  /* -1 once all input is written, or when there is none */
	gsize input_done;
	GString *output;
} QaChild;

static void
qa_child_clear(QaChild *child)
{
	qa_fd_close(&child->out_fd);
	qa_fd_close(&child->in_fd);
	if (child->output != NULL)
		g_string_free(child->output, TRUE);
}

static gboolean
qa_child_pipe(int fds[2], const gchar *program, GError **error)
{
	if (pipe2(fds, O_CLOEXEC) == 0)
		return TRUE;
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_FAILED,
		    "Cannot create a pipe for '%s': %s",
		    program,
		    g_strerror(errno));
	return FALSE;
}

static gboolean
qa_child_spawn(QaChild *child, GError **error)
{
	const QaChildSpec *spec = child->spec;
	int out[2];
	int in[2] = {-1, -1};
	g_auto(QaFd) out_write = -1;
	g_auto(QaFd) in_read = -1;
	g_autoptr(GError) error_local = NULL;
	GSpawnFlags flags = G_SPAWN_DO_NOT_REAP_CHILD;

	if (!qa_child_pipe(out, spec->argv[0], error))
		return FALSE;
	child->out_fd = out[0];
	out_write = out[1];
	if (spec->input != NULL) {
		if (!qa_child_pipe(in, spec->argv[0], error))
			return FALSE;
		in_read = in[0];
		child->in_fd = in[1];
	} else {
		flags |= G_SPAWN_STDIN_FROM_DEV_NULL;
	}
	if (!spec->is_stdout_captured)
		flags |= G_SPAWN_STDOUT_TO_DEV_NULL;
	/* without G_SPAWN_LEAVE_DESCRIPTORS_OPEN, GLib closes every descriptor above 2 */
	if (!g_spawn_async_with_pipes_and_fds("/",
					      spec->argv,
					      NULL,
					      flags,
					      qa_child_setup,
					      NULL,
					      in_read,
					      spec->is_stdout_captured ? out_write : -1,
					      out_write,
					      NULL,
					      NULL,
					      0,
					      &child->pid,
					      NULL,
					      NULL,
					      NULL,
					      &error_local)) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot run '%s': %s",
			    spec->argv[0],
			    error_local->message);
		return FALSE;
	}
	g_unix_set_fd_nonblocking(child->out_fd, TRUE, NULL);
	if (child->in_fd >= 0)
		g_unix_set_fd_nonblocking(child->in_fd, TRUE, NULL);
	return TRUE;
}

/* reads what is available; closes the pipe at end of file or on error */
static void
qa_child_read(QaChild *child)
{
	gchar buf[4096];
	gsize max = child->spec->output_max > 0 ? child->spec->output_max : QA_CHILD_OUTPUT_MAX;
	gssize n = read(child->out_fd, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		qa_fd_close(&child->out_fd);
		child->out_fd = -1;
		return;
	}
	g_string_append_len(child->output, buf, n);
	if (child->output->len > max)
		g_string_erase(child->output, 0, child->output->len - max);
}

/* writes what the pipe takes of the input; closes it when all is written, or the child is gone */
static void
qa_child_write(QaChild *child)
{
	const QaChildSpec *spec = child->spec;
	gssize n = write(
	    child->in_fd, spec->input + child->input_done, spec->input_len - child->input_done);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n > 0)
		child->input_done += (gsize)n;
	if (n < 0 || child->input_done == spec->input_len) {
		qa_fd_close(&child->in_fd);
		child->in_fd = -1;
	}
}

/* one round of waiting on the pipes, at most @wait_ms */
static void
qa_child_poll(QaChild *child, int wait_ms)
{
	struct pollfd pfds[2];
	nfds_t n = 0;

	if (child->out_fd >= 0)
		pfds[n++] = (struct pollfd){.fd = child->out_fd, .events = POLLIN};
	if (child->in_fd >= 0)
		pfds[n++] = (struct pollfd){.fd = child->in_fd, .events = POLLOUT};
	if (n == 0) {
		g_usleep((gulong)wait_ms * 1000);
		return;
	}
	if (poll(pfds, n, wait_ms) <= 0)
		return;
	for (nfds_t i = 0; i < n; i++) {
		if (pfds[i].revents == 0)
			continue;
		if (pfds[i].fd == child->out_fd)
			qa_child_read(child);
		else
			qa_child_write(child);
	}
}

/* what the child wrote just before it exited, without waiting for a writer that may never close
 * the pipe, nor reading forever from one that never stops */
static void
qa_child_drain(QaChild *child)
{
	gsize max = child->spec->output_max > 0 ? child->spec->output_max : QA_CHILD_OUTPUT_MAX;

	for (gsize i = 0; child->out_fd >= 0 && i < 4 * max / 4096 + 1; i++) {
		struct pollfd pfd = {.fd = child->out_fd, .events = POLLIN};

		if (poll(&pfd, 1, 0) <= 0)
			return;
		qa_child_read(child);
	}
}

/* TRUE with the wait status once the child exited; FALSE when the deadline passed */
static gboolean
qa_child_wait(QaChild *child, gint64 deadline, gint *out_status)
{
	for (;;) {
		gint64 now = g_get_monotonic_time();
		int wait_ms = QA_CHILD_POLL_MS;
		int status = 0;
		pid_t ret;

		if (deadline > 0) {
			if (now >= deadline)
				return FALSE;
			wait_ms = (int)MIN((deadline - now) / 1000 + 1, QA_CHILD_POLL_MS);
		}
		qa_child_poll(child, wait_ms);
		ret = waitpid(child->pid, &status, WNOHANG);
		if (ret == child->pid || (ret < 0 && errno == ECHILD)) {
			qa_child_drain(child);
			*out_status = ret == child->pid ? status : 0;
			return TRUE;
		}
	}
}

gboolean
qa_child_run(const QaChildSpec *spec, QaChildResult *out_result, GError **error)
{
	QaChild child = {.spec = spec, .out_fd = -1, .in_fd = -1, .output = g_string_new(NULL)};
	gint64 deadline =
	    spec->timeout_ms > 0 ? g_get_monotonic_time() + (gint64)spec->timeout_ms * 1000 : 0;
	gint status = 0;

	g_return_val_if_fail(spec->argv != NULL && spec->argv[0] != NULL, FALSE);
	memset(out_result, 0, sizeof(*out_result));
	if (!qa_child_spawn(&child, error)) {
		qa_child_clear(&child);
		return FALSE;
	}
	out_result->has_exited = qa_child_wait(&child, deadline, &status);
	if (!out_result->has_exited) {
		kill(-child.pid, SIGKILL);
		kill(child.pid, SIGKILL);
		while (waitpid(child.pid, &status, 0) < 0 && errno == EINTR)
			;
		qa_child_drain(&child);
	}
	out_result->wait_status = status;
	out_result->output = g_string_free(g_steal_pointer(&child.output), FALSE);
	qa_child_clear(&child);
	return TRUE;
}

void
qa_child_result_clear(QaChildResult *result)
{
	g_clear_pointer(&result->output, g_free);
}

gchar *
qa_child_last_line(const gchar *output)
{
	g_auto(GStrv) lines = g_strsplit(output != NULL ? output : "", "\n", -1);

	for (gint i = (gint)g_strv_length(lines) - 1; i >= 0; i--) {
		g_strstrip(lines[i]);
		if (lines[i][0] != '\0')
			return g_strdup(lines[i]);
	}
	return NULL;
}

gchar *
qa_child_describe_end(const QaChildSpec *spec, const QaChildResult *result)
{
	gint status = result->wait_status;

	if (!result->has_exited)
		return g_strdup_printf("did not finish within %u ms and was killed",
				       spec->timeout_ms);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return NULL;
	if (WIFEXITED(status))
		return g_strdup_printf("failed with exit status %d", WEXITSTATUS(status));
	if (WIFSIGNALED(status))
		return g_strdup_printf("was killed by signal %d (%s)",
				       WTERMSIG(status),
				       g_strsignal(WTERMSIG(status)));
	return g_strdup_printf("ended with wait status 0x%x", (guint)status);
}

#define QA_CHILD_STDERR_MAX (16 * 1024)

gboolean
qa_child_run_capture(const gchar *const *argv,
		     guint timeout_ms,
		     gint *out_wait_status,
		     gchar **out_stderr,
		     GError **error)
{
	const QaChildSpec spec = {
	    .argv = argv,
	    .timeout_ms = timeout_ms,
	    .output_max = QA_CHILD_STDERR_MAX,
	};
	QaChildResult result;

	if (!qa_child_run(&spec, &result, error))
		return FALSE;
	if (!result.has_exited) {
		g_autofree gchar *last_line = qa_child_last_line(result.output);
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "'%s' did not finish within %u ms and was killed%s%s",
			    argv[0],
			    timeout_ms,
			    last_line != NULL ? "; its last error line: " : "",
			    last_line != NULL ? last_line : "");
		qa_child_result_clear(&result);
		return FALSE;
	}
	*out_wait_status = result.wait_status;
	if (out_stderr != NULL)
		*out_stderr = g_steal_pointer(&result.output);
	qa_child_result_clear(&result);
	return TRUE;
}

gboolean
qa_child_check_status(const gchar *const *argv,
		      gint wait_status,
		      const gchar *stderr_text,
		      GError **error)
{
	const QaChildSpec spec = {.argv = argv};
	const QaChildResult result = {.has_exited = TRUE, .wait_status = wait_status};
	g_autofree gchar *command = g_strjoinv(" ", (gchar **)argv);
	g_autofree gchar *last_line = qa_child_last_line(stderr_text);
	g_autofree gchar *how = qa_child_describe_end(&spec, &result);

	if (how == NULL)
		return TRUE;
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
qa_child_run_checked(const gchar *const *argv, guint timeout_ms, GError **error)
{
	g_autofree gchar *text = NULL;
	gint status = 0;

	if (!qa_child_run_capture(argv, timeout_ms, &status, &text, error))
		return FALSE;
	return qa_child_check_status(argv, status, text, error);
}

gchar *
qa_child_find_program(const gchar *search_path, const gchar *name)
{
	g_auto(GStrv) dirs = g_strsplit(search_path, ":", -1);

	for (guint i = 0; dirs[i] != NULL; i++) {
		g_autofree gchar *path = NULL;
		struct stat st;

		/* an empty entry means the working directory to execvp(): never searched; a
		 * relative one is taken from "/", the working directory of the agent and of every
		 * child, as execvp() there would */
		if (dirs[i][0] == '\0')
			continue;
		path = g_build_filename("/", dirs[i], name, NULL);
		/* what execve() runs: a regular file with an execute bit (root may execute any file
		 * that has one, and access() alone would also accept directories) */
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111) != 0 &&
		    access(path, X_OK) == 0)
			return g_steal_pointer(&path);
	}
	return NULL;
}
