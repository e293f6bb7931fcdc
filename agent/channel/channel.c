#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <linux/vm_sockets.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "channel-private.h"
#include "qa-fd.h"

static gboolean
qa_channel_io_cb(gint fd, GIOCondition condition, gpointer user_data);
static gboolean
qa_channel_accept_cb(gint fd, GIOCondition condition, gpointer user_data);

GSource *
qa_channel_fd_source_new(gint fd, GIOCondition condition, GUnixFDSourceFunc func, gpointer data)
{
	GSource *source = g_unix_fd_source_new(fd, condition);

	/* GLib (2.74) takes a source's descriptors out of the poll set around each dispatch of a
	 * source that cannot recurse and puts them back after, and each of those changes signals
	 * the context's wakeup: two eventfd writes and one more poll() per request. The agent runs
	 * no nested main loop, so the source cannot be dispatched inside itself anyway. */
	g_source_set_can_recurse(source, TRUE);
	g_source_set_callback(source, G_SOURCE_FUNC(func), data, NULL);
	g_source_attach(source, NULL);
	return source;
}

static void
qa_channel_unwatch(GSource **source)
{
	if (*source == NULL)
		return;
	g_source_destroy(*source);
	g_clear_pointer(source, g_source_unref);
}

/* output not written yet */
static gsize
qa_channel_pending(QaChannel *channel)
{
	return channel->out->len - channel->out_start;
}

/* (Re)arms the watch on the connected descriptor for what is wanted now: input unless too much
 * output is queued (back-pressure), output while any is queued. */
void
qa_channel_watch(QaChannel *channel)
{
	GIOCondition condition = G_IO_HUP | G_IO_ERR;

	qa_channel_unwatch(&channel->io_source);
	/* a port whose host hung up reports POLLHUP until a host is there again */
	if (channel->fd < 0 || !channel->connected || channel->host == QA_PORT_HOST_AWAY)
		return;
	if (qa_channel_pending(channel) < QA_CHANNEL_OUTPUT_HIGH && !channel->is_input_closed &&
	    !channel->is_input_paused)
		condition |= G_IO_IN;
	if (qa_channel_pending(channel) > 0)
		condition |= G_IO_OUT;
	channel->io_source =
	    qa_channel_fd_source_new(channel->fd, condition, qa_channel_io_cb, channel);
}

void
qa_channel_drop_output(QaChannel *channel)
{
	if (qa_channel_pending(channel) > 0)
		g_info("dropping %" G_GSIZE_FORMAT " bytes of replies for a host that went away",
		       qa_channel_pending(channel));
	g_byte_array_set_size(channel->out, 0);
	channel->out_start = 0;
}

void
qa_channel_set_connected(QaChannel *channel, gboolean connected)
{
	if (channel->connected == connected)
		return;
	channel->connected = connected;
	channel->is_input_closed = FALSE;
	channel->is_closing = FALSE;
	qa_channel_drop_output(channel);
	if (connected) {
		g_info("host connected channel=%s", channel->description);
		channel->events.on_connect(channel->user_data);
	} else {
		g_info("host disconnected channel=%s", channel->description);
		channel->events.on_disconnect(channel->user_data);
	}
	qa_channel_watch(channel);
}

/* a client of a listening channel went away: serve the next one */
static void
qa_channel_client_closed(QaChannel *channel)
{
	qa_channel_unwatch(&channel->io_source);
	if (channel->fd >= 0) {
		close(channel->fd);
		channel->fd = -1;
	}
	qa_channel_set_connected(channel, FALSE);
	channel->listen_source =
	    qa_channel_fd_source_new(channel->listen_fd, G_IO_IN, qa_channel_accept_cb, channel);
}

static void
qa_channel_lost(QaChannel *channel)
{
	switch (channel->kind) {
	case QA_CHANNEL_LISTEN:
		qa_channel_client_closed(channel);
		break;
	case QA_CHANNEL_PORT:
	case QA_CHANNEL_SERIAL:
		qa_channel_port_lost(channel);
		break;
	}
}

/* Writes what the host will take. A partial write only moves @out_start: moving the rest to
 * the front after every write made draining a large queue in small writes quadratic. */
static gboolean
qa_channel_flush(QaChannel *channel)
{
	while (qa_channel_pending(channel) > 0) {
		gssize n = write(channel->fd,
				 channel->out->data + channel->out_start,
				 qa_channel_pending(channel));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return TRUE;
		if (n <= 0) {
			g_info("cannot write to channel=%s: %s",
			       channel->description,
			       n < 0 ? g_strerror(errno) : "no progress");
			return FALSE;
		}
		channel->out_start += (gsize)n;
	}
	g_byte_array_set_size(channel->out, 0);
	channel->out_start = 0;
	return TRUE;
}

/* Appends to the queue. The written part at its front is dropped only once it is at least half
 * of the buffer, so the bytes moved are never more than the bytes written: O(n) in all. */
static void
qa_channel_queue(QaChannel *channel, const gchar *data, gsize len)
{
	if (channel->out_start > 0 && channel->out_start >= channel->out->len / 2) {
		g_byte_array_remove_range(channel->out, 0, (guint)channel->out_start);
		channel->out_start = 0;
	}
	g_byte_array_append(channel->out, (const guint8 *)data, (guint)len);
}

static gboolean
qa_channel_io_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	QaChannel *channel = user_data;
	gsize before = qa_channel_pending(channel);

	/* On a port, a hang-up is handled before any input and without reading it: the virtio
	 * console driver tells of a host's arrival after that host's first bytes may already be
	 * readable, so bytes waiting now can be the next host's request. They stay in the kernel
	 * for whoever is connected next. The hang-up itself may be over already: the port is
	 * looked at again (port-host.h says what follows). */
	if (channel->kind == QA_CHANNEL_PORT && (condition & G_IO_HUP)) {
		qa_channel_port_hangup(channel);
		return G_SOURCE_CONTINUE;
	}
	if (condition & G_IO_OUT) {
		if (!qa_channel_flush(channel)) {
			qa_channel_lost(channel);
			return G_SOURCE_CONTINUE; /* the source was replaced or destroyed */
		}
		if (channel->is_closing && qa_channel_pending(channel) == 0) {
			qa_channel_client_closed(channel);
			return G_SOURCE_CONTINUE;
		}
		if (before >= QA_CHANNEL_OUTPUT_HIGH &&
		    qa_channel_pending(channel) < QA_CHANNEL_OUTPUT_HIGH &&
		    channel->events.on_output_drained != NULL) {
			channel->events.on_output_drained(channel->user_data);
			if (channel->fd < 0 || !channel->connected)
				return G_SOURCE_CONTINUE;
		}
	}
	if (condition & G_IO_IN) {
		guint8 buf[QA_CHANNEL_READ_SIZE];
		gssize n = read(fd, buf, sizeof(buf));

		if (n > 0) {
			channel->events.on_data(buf, (gsize)n, channel->user_data);
			if (channel->fd < 0 || !channel->connected)
				return G_SOURCE_CONTINUE;
		} else if (n == 0 && channel->kind == QA_CHANNEL_LISTEN) {
			/* the client is done sending; it may still be reading its replies */
			channel->is_input_closed = TRUE;
			qa_channel_watch(channel);
			channel->events.on_input_closed(channel->user_data);
			return G_SOURCE_CONTINUE;
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			/* EOF on a port: the host closed its end */
			if (channel->kind == QA_CHANNEL_PORT)
				qa_channel_port_hangup(channel);
			else
				qa_channel_lost(channel);
			return G_SOURCE_CONTINUE;
		}
	} else if (condition & (G_IO_HUP | G_IO_ERR)) {
		if (channel->kind == QA_CHANNEL_PORT && !(condition & G_IO_ERR))
			qa_channel_port_hangup(channel);
		else
			qa_channel_lost(channel);
		return G_SOURCE_CONTINUE;
	}
	/* re-arm only when the wanted conditions changed */
	if ((before == 0) != (qa_channel_pending(channel) == 0) ||
	    (before >= QA_CHANNEL_OUTPUT_HIGH) !=
		(qa_channel_pending(channel) >= QA_CHANNEL_OUTPUT_HIGH))
		qa_channel_watch(channel);
	return G_SOURCE_CONTINUE;
}

void
qa_channel_send(QaChannel *channel, const gchar *data, gsize len)
{
	gboolean was_empty = qa_channel_pending(channel) == 0;

	if (!channel->connected || channel->fd < 0)
		return; /* nobody to deliver to: never keep it for the next host */
	qa_channel_queue(channel, data, len);
	/* kept until the host is back or its grace is over: it may be this reply's host */
	if (channel->host == QA_PORT_HOST_AWAY)
		return;
	/* replies go out as soon as possible: try now and wait for POLLOUT only on EAGAIN */
	if (!qa_channel_flush(channel)) {
		qa_channel_lost(channel);
		return;
	}
	if (was_empty != (qa_channel_pending(channel) == 0) ||
	    qa_channel_pending(channel) >= QA_CHANNEL_OUTPUT_HIGH)
		qa_channel_watch(channel);
}

/* Ends a client connection once everything queued for it is written (ports have no client to
 * close: there it does nothing). */
void
qa_channel_close_when_flushed(QaChannel *channel)
{
	if (channel->kind != QA_CHANNEL_LISTEN || channel->fd < 0 || !channel->connected)
		return;
	if (qa_channel_pending(channel) == 0) {
		qa_channel_client_closed(channel);
		return;
	}
	channel->is_closing = TRUE;
}

gsize
qa_channel_get_pending_output(QaChannel *channel)
{
	return qa_channel_pending(channel);
}

void
qa_channel_set_input_paused(QaChannel *channel, gboolean is_paused)
{
	if (channel->is_input_paused == is_paused)
		return;
	channel->is_input_paused = is_paused;
	qa_channel_watch(channel);
}

gboolean
qa_channel_is_connected(QaChannel *channel)
{
	return channel->connected;
}

const gchar *
qa_channel_describe(QaChannel *channel)
{
	return channel->description;
}

static gboolean
qa_channel_accept_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	QaChannel *channel = user_data;
	gint client = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (client < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			g_warning("cannot accept on channel=%s: %s",
				  channel->description,
				  g_strerror(errno));
		return G_SOURCE_CONTINUE;
	}
	/* one host at a time: the next one waits in the backlog until this one leaves */
	qa_channel_unwatch(&channel->listen_source);
	channel->fd = client;
	qa_channel_set_connected(channel, TRUE);
	return G_SOURCE_CONTINUE;
}

static QaChannel *
qa_channel_alloc(QaChannelKind kind,
		 const gchar *description,
		 const gchar *path,
		 const QaChannelEvents *events,
		 gpointer user_data)
{
	QaChannel *channel = g_new0(QaChannel, 1);

	channel->kind = kind;
	channel->description = g_strdup(description);
	channel->path = g_strdup(path);
	channel->events = *events;
	channel->user_data = user_data;
	channel->listen_fd = -1;
	channel->fd = -1;
	channel->sigio_fd = -1;
	channel->inotify_fd = -1;
	channel->watch_wd = -1;
	channel->out = g_byte_array_new();
	return channel;
}

static gboolean
qa_channel_listen_start(QaChannel *channel, gint fd)
{
	channel->listen_fd = fd;
	channel->listen_source =
	    qa_channel_fd_source_new(fd, G_IO_IN, qa_channel_accept_cb, channel);
	return TRUE;
}

/* What is at @path: nothing (ENOENT), a socket nobody listens on any more (ECONNREFUSED), or
 * a socket that accepts connections (0), probed with a connect() that never blocks: a listener
 * whose backlog is full (EAGAIN) is alive too. The agent there sees a host come and go. */
static gint
qa_channel_unix_probe(const gchar *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	g_auto(QaFd) fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return errno;
	g_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 || errno == EAGAIN ||
	    errno == EINPROGRESS)
		return 0;
	return errno;
}

/* Only a stale socket at @path is replaced: one that accepts connections belongs to a live
 * agent (or to another program), and replacing it would cut that agent off from its hosts. */
static gboolean
qa_channel_unix_check_path(const gchar *path, GError **error)
{
	struct stat st;
	gint probe;

	if (lstat(path, &st) < 0)
		return TRUE;
	if (!S_ISSOCK(st.st_mode)) {
		g_set_error(error,
			    G_FILE_ERROR,
			    G_FILE_ERROR_EXIST,
			    "cannot listen on '%s': it exists and is not a socket",
			    path);
		return FALSE;
	}
	probe = qa_channel_unix_probe(path);
	if (probe == ECONNREFUSED || probe == ENOENT)
		return TRUE;
	if (probe == 0) {
		g_set_error(error,
			    G_FILE_ERROR,
			    G_FILE_ERROR_EXIST,
			    "cannot listen on '%s': a process listens on it already (another "
			    "quiesce-agent?); stop it, or choose another path",
			    path);
		return FALSE;
	}
	g_set_error(error,
		    G_FILE_ERROR,
		    g_file_error_from_errno(probe),
		    "cannot listen on '%s': cannot tell whether the socket there is in use: %s",
		    path,
		    g_strerror(probe));
	return FALSE;
}

/* The socket appears at @path only once it accepts connections: it is bound under a temporary
 * name, listened on, then renamed into place, so a client never sees a socket that refuses.
 * @out_st: what the socket file is, for qa_channel_free() to recognise it. */
static gint
qa_channel_listen_unix(const gchar *path, struct stat *out_st, GError **error)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	g_autofree gchar *tmp_path = g_strdup_printf("%s.%d.tmp", path, (gint)getpid());
	g_auto(QaFd) fd = -1;

	if (strlen(tmp_path) >= sizeof(addr.sun_path)) {
		g_set_error(error,
			    G_FILE_ERROR,
			    G_FILE_ERROR_NAMETOOLONG,
			    "socket path '%s' is too long (at most %zu bytes)",
			    path,
			    sizeof(addr.sun_path) - 1 - (strlen(tmp_path) - strlen(path)));
		return -1;
	}
	strcpy(addr.sun_path, tmp_path);
	unlink(tmp_path);
	if (!qa_channel_unix_check_path(path, error))
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 8) < 0 ||
	    lstat(tmp_path, out_st) < 0 || rename(tmp_path, path) < 0) {
		gint saved = errno;
		unlink(tmp_path);
		g_set_error(error,
			    G_FILE_ERROR,
			    g_file_error_from_errno(saved),
			    "cannot listen on unix socket '%s': %s",
			    path,
			    g_strerror(saved));
		return -1;
	}
	return qa_fd_steal(&fd);
}

/* At exit the path is removed only while it is still the socket this process bound: a newer
 * agent may have replaced a socket it took for stale (the window between the check and the
 * unlink is as small as it can be without a way to unlink by inode). */
static void
qa_channel_unix_remove(QaChannel *channel)
{
	struct stat st;

	if (lstat(channel->path, &st) < 0 || st.st_dev != channel->socket_dev ||
	    st.st_ino != channel->socket_ino) {
		g_info("not removing '%s': it is no longer the socket this agent created",
		       channel->path);
		return;
	}
	unlink(channel->path);
}

static gboolean
qa_channel_parse_vsock(const gchar *spec, struct sockaddr_vm *addr, GError **error)
{
	g_auto(GStrv) parts = g_strsplit(spec, ":", 2);
	gint64 cid;
	guint64 port;

	if (g_strv_length(parts) != 2 ||
	    !g_ascii_string_to_signed(parts[0], 10, -1, G_MAXUINT32, &cid, NULL) ||
	    !g_ascii_string_to_unsigned(parts[1], 10, 0, G_MAXUINT32, &port, NULL)) {
		g_set_error(error,
			    G_FILE_ERROR,
			    G_FILE_ERROR_INVAL,
			    "vsock address '%s' is not CID:PORT (for example -1:1024 for any CID)",
			    spec);
		return FALSE;
	}
	memset(addr, 0, sizeof(*addr));
	addr->svm_family = AF_VSOCK;
	addr->svm_cid = cid < 0 ? VMADDR_CID_ANY : (guint32)cid;
	addr->svm_port = (guint32)port;
	return TRUE;
}

static gint
qa_channel_listen_vsock(const gchar *spec, GError **error)
{
	struct sockaddr_vm addr;
	g_auto(QaFd) fd = -1;

	if (!qa_channel_parse_vsock(spec, &addr, error))
		return -1;
	fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 8) < 0) {
		gint saved = errno;
		g_set_error(error,
			    G_FILE_ERROR,
			    g_file_error_from_errno(saved),
			    "cannot listen on vsock '%s': %s",
			    spec,
			    g_strerror(saved));
		return -1;
	}
	return qa_fd_steal(&fd);
}

/* the kind of each method: which way qa_channel_new() opens it */
typedef enum {
	QA_METHOD_VIRTIO_SERIAL,
	QA_METHOD_ISA_SERIAL,
	QA_METHOD_UNIX_LISTEN,
	QA_METHOD_VSOCK_LISTEN,
} QaChannelMethodKind;

const QaChannelMethod *
qa_channel_get_methods(void)
{
	static const QaChannelMethod methods[] = {
	    {"virtio-serial", "/dev/virtio-ports/org.qemu.guest_agent.0", QA_METHOD_VIRTIO_SERIAL},
	    {"isa-serial", "/dev/ttyS0", QA_METHOD_ISA_SERIAL},
	    {"unix-listen", NULL, QA_METHOD_UNIX_LISTEN},
	    {"vsock-listen", NULL, QA_METHOD_VSOCK_LISTEN},
	    {NULL, NULL, 0},
	};
	return methods;
}

QaChannel *
qa_channel_new(const gchar *method,
	       const gchar *path,
	       const QaChannelEvents *events,
	       gpointer user_data,
	       GError **error)
{
	const QaChannelMethod *entry = qa_channel_find_method(method, error);
	g_autofree gchar *description = g_strdup_printf("%s:%s", method, path);
	struct stat socket_st = {0};
	QaChannel *channel;
	gint fd;

	if (entry == NULL)
		return NULL;
	switch ((QaChannelMethodKind)entry->kind) {
	case QA_METHOD_VIRTIO_SERIAL:
	case QA_METHOD_ISA_SERIAL:
		channel = qa_channel_alloc(entry->kind == QA_METHOD_ISA_SERIAL ? QA_CHANNEL_SERIAL
									       : QA_CHANNEL_PORT,
					   description,
					   path,
					   events,
					   user_data);
		if (!qa_channel_port_open(channel, error)) {
			qa_channel_free(channel);
			return NULL;
		}
		return channel;
	case QA_METHOD_UNIX_LISTEN:
		fd = qa_channel_listen_unix(path, &socket_st, error);
		break;
	case QA_METHOD_VSOCK_LISTEN:
	default: /* the table has no other kind */
		fd = qa_channel_listen_vsock(path, error);
		break;
	}
	if (fd < 0)
		return NULL;
	channel = qa_channel_alloc(QA_CHANNEL_LISTEN, description, path, events, user_data);
	channel->socket_dev = socket_st.st_dev;
	channel->socket_ino = socket_st.st_ino;
	qa_channel_listen_start(channel, fd);
	return channel;
}

QaChannel *
qa_channel_new_from_fd(gint fd, const QaChannelEvents *events, gpointer user_data, GError **error)
{
	gint listening = 0;
	socklen_t len = sizeof(listening);
	g_autofree gchar *description = g_strdup_printf("systemd-socket:fd%d", fd);
	QaChannel *channel;

	/* one process serves every host, one after another, and keeps what it froze between
	 * them: a connection of its own (Accept=yes) or a port it could never reopen is not a
	 * channel it can serve (qa_service_get_activated_fd() says so at start-up) */
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 || !listening) {
		g_set_error(error,
			    G_FILE_ERROR,
			    G_FILE_ERROR_INVAL,
			    "descriptor %d passed by systemd is not a listening socket",
			    fd);
		return NULL;
	}
	g_unix_set_fd_nonblocking(fd, TRUE, NULL);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	channel = qa_channel_alloc(QA_CHANNEL_LISTEN, description, NULL, events, user_data);
	qa_channel_listen_start(channel, fd);
	return channel;
}

void
qa_channel_free(QaChannel *channel)
{
	if (channel == NULL)
		return;
	qa_channel_unwatch(&channel->io_source);
	qa_channel_unwatch(&channel->listen_source);
	qa_channel_port_cleanup(channel);
	if (channel->fd >= 0)
		close(channel->fd);
	if (channel->listen_fd >= 0) {
		close(channel->listen_fd);
		if (channel->path != NULL && channel->kind == QA_CHANNEL_LISTEN &&
		    g_str_has_prefix(channel->description, "unix-listen:"))
			qa_channel_unix_remove(channel);
	}
	g_byte_array_unref(channel->out);
	g_free(channel->description);
	g_free(channel->path);
	g_free(channel);
}
