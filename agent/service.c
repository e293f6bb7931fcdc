#include "service.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "qa-fd.h"

#define QA_LISTEN_FDS_START 3

static gboolean
qa_service_set_errno_error(GError **error, const gchar *what, const gchar *path)
{
	gint saved = errno;

	g_set_error(error,
		    G_FILE_ERROR,
		    g_file_error_from_errno(saved),
		    "%s '%s': %s",
		    what,
		    path,
		    g_strerror(saved));
	return FALSE;
}

gboolean
qa_service_daemonize(GError **error)
{
	pid_t pid = fork();
	gint null_fd;

	if (pid < 0)
		return qa_service_set_errno_error(
		    error, "cannot fork to run in the background", "");
	if (pid > 0)
		_exit(0);
	if (setsid() < 0)
		return qa_service_set_errno_error(error, "cannot start a new session", "");
	pid = fork();
	if (pid < 0)
		return qa_service_set_errno_error(
		    error, "cannot fork to run in the background", "");
	if (pid > 0)
		_exit(0);
	if (chdir("/") < 0)
		return qa_service_set_errno_error(error, "cannot change directory to", "/");
	umask(022);
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd < 0)
		return qa_service_set_errno_error(error, "cannot open", "/dev/null");
	dup2(null_fd, STDIN_FILENO);
	dup2(null_fd, STDOUT_FILENO);
	dup2(null_fd, STDERR_FILENO);
	if (null_fd > STDERR_FILENO)
		close(null_fd);
	return TRUE;
}

gboolean
qa_service_write_pidfile(const gchar *path, GError **error)
{
	g_autofree gchar *pid = g_strdup_printf("%d\n", (gint)getpid());
	g_auto(QaFd) fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0)
		return qa_service_set_errno_error(error, "cannot create pidfile", path);
	/* a second agent on the same pidfile would fight over the channel: refuse to start */
	if (lockf(fd, F_TLOCK, 0) < 0) {
		g_set_error(error,
			    G_FILE_ERROR,
			    G_FILE_ERROR_AGAIN,
			    "pidfile '%s' is locked: another quiesce-agent is running",
			    path);
		return FALSE;
	}
	if (ftruncate(fd, 0) < 0 || write(fd, pid, strlen(pid)) != (gssize)strlen(pid))
		return qa_service_set_errno_error(error, "cannot write pidfile", path);
	/* the descriptor stays open for the lifetime of the process: it holds the lock */
	qa_fd_steal(&fd);
	return TRUE;
}

void
qa_service_remove_pidfile(const gchar *path)
{
	if (path != NULL)
		unlink(path);
}

/* Accept=yes would start an agent per connection, all at once: each would take the freezer's
 * state file for its own, thaw at start what another one holds frozen, and thaw everything when
 * its connection ends. */
static gboolean
qa_service_is_listening(gint fd)
{
	gint listening = 0;
	socklen_t len = sizeof(listening);

	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening;
}

gboolean
qa_service_get_activated_fd(gint *out_fd, GError **error)
{
	const gchar *pid_str = g_getenv("LISTEN_PID");
	const gchar *fds_str = g_getenv("LISTEN_FDS");
	guint64 pid = 0;
	guint64 n_fds = 0;

	*out_fd = -1;
	if (pid_str == NULL || fds_str == NULL)
		return TRUE;
	if (!g_ascii_string_to_unsigned(pid_str, 10, 1, G_MAXINT32, &pid, NULL) ||
	    (pid_t)pid != getpid())
		return TRUE; /* meant for another process */
	g_unsetenv("LISTEN_PID");
	g_unsetenv("LISTEN_FDS");
	g_unsetenv("LISTEN_FDNAMES");
	if (!g_ascii_string_to_unsigned(fds_str, 10, 0, 64, &n_fds, NULL) || n_fds != 1) {
		g_set_error(error,
			    G_FILE_ERROR,
			    G_FILE_ERROR_INVAL,
			    "systemd passed %s sockets; the agent serves exactly one",
			    fds_str);
		return FALSE;
	}
	if (!qa_service_is_listening(QA_LISTEN_FDS_START)) {
		g_set_error(
		    error,
		    G_FILE_ERROR,
		    G_FILE_ERROR_INVAL,
		    "systemd passed a descriptor that is not a listening socket (a socket "
		    "unit with Accept=yes, or ListenSpecial=); the agent serves its hosts one "
		    "after another from one process, which keeps what it froze between "
		    "connections: use ListenStream= with Accept=no, or -m virtio-serial for "
		    "a port");
		return FALSE;
	}
	*out_fd = QA_LISTEN_FDS_START;
	return TRUE;
}

void
qa_service_notify(const gchar *state)
{
	const gchar *socket_path = g_getenv("NOTIFY_SOCKET");
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	gsize len;
	g_auto(QaFd) fd = -1;

	if (socket_path == NULL || (socket_path[0] != '/' && socket_path[0] != '@'))
		return;
	len = strlen(socket_path);
	if (len >= sizeof(addr.sun_path))
		return;
	memcpy(addr.sun_path, socket_path, len);
	if (addr.sun_path[0] == '@')
		addr.sun_path[0] = '\0'; /* abstract namespace */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd,
		   state,
		   strlen(state),
		   MSG_NOSIGNAL,
		   (struct sockaddr *)&addr,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
		g_debug("cannot notify systemd: %s", g_strerror(errno));
}
