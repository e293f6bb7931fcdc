/* Windows transports behind channel.h: the virtio-serial port as Windows guests see it
 * (\\.\Global\org.qemu.guest_agent.0), a COM port, and a named pipe for tests and local
 * administration. Bytes in, bytes out, connect/disconnect events; no JSON here.
 *
 * Everything is overlapped I/O: at most one read, one write and (pipes) one connect are in
 * flight, each with its own manual-reset event polled by the GLib main loop, so the agent sleeps
 * until something completes. Output queued for a host is dropped when that host goes away; while
 * more than QA_CHANNEL_OUTPUT_HIGH bytes are queued no read is issued (back-pressure).
 *
 * - pipe: one instance (one host at a time; the next client gets ERROR_PIPE_BUSY and waits);
 *   a client that closes its end is a disconnect, after which the instance is disconnected and
 *   listened on again. A named pipe has no half-close, so on_input_closed never fires.
 * - virtio-serial: the port is held open; a read or write that fails means the host or the
 *   device went away: output is dropped, the port is closed and reopened (every
 *   QA_PORT_RETRY_SECONDS while it is missing, e.g. before the driver is loaded).
 * - isa-serial: like virtio-serial, in raw 8-bit mode; a serial line has no notion of a host. */
#include <glib.h>
#include <windows.h>

#include "channel.h"

#define QA_PORT_RETRY_SECONDS 1
#define QA_PIPE_BUFFER 65536

typedef enum {
	QA_CHANNEL_PIPE,
	QA_CHANNEL_PORT,
	QA_CHANNEL_SERIAL,
} QaChannelKind;

/* one overlapped operation and the main-loop source that waits for it */
typedef struct {
	OVERLAPPED ov;
	gboolean is_pending;
	GSource *source;
} QaOverlapped;

struct _QaChannel {
	QaChannelKind kind;
	gchar *description;
	gchar *path;
	gunichar2 *path_w;
	QaChannelEvents events;
	gpointer user_data;

	HANDLE handle;
	gboolean connected;
	gboolean is_closing; /* pipe: disconnect the client once the queued output is written */
	gboolean is_input_paused; /* the session cannot take more requests for now */
	GByteArray *out;     /* queued output for the current host, not yet handed to WriteFile */
	GByteArray *writing; /* the bytes of the write in flight: never touched while pending */
	guint8 read_buf[QA_CHANNEL_READ_SIZE];
	QaOverlapped read;
	QaOverlapped write;
	QaOverlapped connect;
	GSource *retry_source;
	gboolean is_waiting_logged;
};

/* --- a GSource that fires when an event handle is signalled ---------------------------------- */

typedef struct {
	GSource source;
	GPollFD pfd;
} QaEventSource;

static gboolean
qa_event_source_check(GSource *source)
{
	return ((QaEventSource *)source)->pfd.revents != 0;
}

static gboolean
qa_event_source_dispatch(GSource *source, GSourceFunc callback, gpointer user_data)
{
	return callback(user_data);
}

static GSourceFuncs qa_event_source_funcs = {
    .check = qa_event_source_check,
    .dispatch = qa_event_source_dispatch,
};

static GSource *
qa_event_source_new(HANDLE event, GSourceFunc func, gpointer user_data)
{
	GSource *source = g_source_new(&qa_event_source_funcs, sizeof(QaEventSource));
	QaEventSource *self = (QaEventSource *)source;

	self->pfd.fd = (gintptr)event;
	self->pfd.events = G_IO_IN;
	g_source_add_poll(source, &self->pfd);
	g_source_set_callback(source, func, user_data, NULL);
	g_source_attach(source, NULL);
	return source;
}

static void
qa_overlapped_init(QaOverlapped *op, GSourceFunc func, gpointer user_data)
{
	op->ov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
	op->source = qa_event_source_new(op->ov.hEvent, func, user_data);
}

static void
qa_overlapped_prepare(QaOverlapped *op)
{
	HANDLE event = op->ov.hEvent;

	memset(&op->ov, 0, sizeof(op->ov));
	op->ov.hEvent = event;
	ResetEvent(event);
}

/* cancels the operation and waits until the system no longer uses its buffer */
static void
qa_overlapped_cancel(QaOverlapped *op, HANDLE handle)
{
	DWORD n;

	if (!op->is_pending)
		return;
	CancelIoEx(handle, &op->ov);
	GetOverlappedResult(handle, &op->ov, &n, TRUE);
	op->is_pending = FALSE;
	ResetEvent(op->ov.hEvent);
}

/* After @op's event fired: TRUE when the operation has ended, with @out_n bytes and @out_code
 * ERROR_SUCCESS or why it failed; FALSE when there is nothing to collect (none was in flight, or
 * it has not ended yet). Resets the event, so that the main loop waits for the next one. */
static gboolean
qa_overlapped_collect(QaOverlapped *op, HANDLE handle, DWORD *out_n, DWORD *out_code)
{
	*out_n = 0;
	*out_code = ERROR_SUCCESS;
	if (!op->is_pending) {
		ResetEvent(op->ov.hEvent);
		return FALSE;
	}
	if (!GetOverlappedResult(handle, &op->ov, out_n, FALSE)) {
		*out_code = GetLastError();
		if (*out_code == ERROR_IO_INCOMPLETE)
			return FALSE;
	}
	op->is_pending = FALSE;
	ResetEvent(op->ov.hEvent);
	return TRUE;
}

static void
qa_overlapped_clear(QaOverlapped *op)
{
	if (op->source != NULL) {
		g_source_destroy(op->source);
		g_clear_pointer(&op->source, g_source_unref);
	}
	if (op->ov.hEvent != NULL) {
		CloseHandle(op->ov.hEvent);
		op->ov.hEvent = NULL;
	}
}

/* --- connection state ----------------------------------------------------------------------- */

static void
qa_channel_start_read(QaChannel *channel);
static void
qa_channel_start_write(QaChannel *channel);
static void
qa_channel_pipe_listen(QaChannel *channel);
static void
qa_channel_port_start_retry(QaChannel *channel);

static gsize
qa_channel_queued(QaChannel *channel)
{
	return channel->out->len + channel->writing->len;
}

static void
qa_channel_set_connected(QaChannel *channel, gboolean connected)
{
	if (channel->connected == connected)
		return;
	channel->connected = connected;
	channel->is_closing = FALSE;
	if (qa_channel_queued(channel) > 0)
		g_info("dropping %" G_GSIZE_FORMAT " bytes of replies for a host that went away",
		       qa_channel_queued(channel));
	g_byte_array_set_size(channel->out, 0);
	if (!channel->write.is_pending)
		g_byte_array_set_size(channel->writing, 0);
	if (connected) {
		g_info("host connected channel=%s", channel->description);
		channel->events.on_connect(channel->user_data);
	} else {
		g_info("host disconnected channel=%s", channel->description);
		channel->events.on_disconnect(channel->user_data);
	}
}

/* stops both directions and forgets what was in flight */
static void
qa_channel_cancel_io(QaChannel *channel)
{
	if (channel->handle == INVALID_HANDLE_VALUE)
		return;
	qa_overlapped_cancel(&channel->read, channel->handle);
	qa_overlapped_cancel(&channel->write, channel->handle);
	qa_overlapped_cancel(&channel->connect, channel->handle);
	g_byte_array_set_size(channel->writing, 0);
}

/* the host (pipe client) went away, or the port failed: drop its output, wait for the next */
static void
qa_channel_lost(QaChannel *channel, DWORD code)
{
	g_autofree gchar *reason = g_win32_error_message((gint)code);

	g_info("channel=%s ended: %s", channel->description, reason);
	qa_channel_cancel_io(channel);
	qa_channel_set_connected(channel, FALSE);
	switch (channel->kind) {
	case QA_CHANNEL_PIPE:
		DisconnectNamedPipe(channel->handle);
		qa_channel_pipe_listen(channel);
		break;
	case QA_CHANNEL_PORT:
	case QA_CHANNEL_SERIAL:
		CloseHandle(channel->handle);
		channel->handle = INVALID_HANDLE_VALUE;
		qa_channel_port_start_retry(channel);
		break;
	}
}

/* --- reading and writing -------------------------------------------------------------------- */

/* after @op's event fired: TRUE with @out_n when a read or write has completed; one that failed
 * means the host went away */
static gboolean
qa_channel_collect(QaChannel *channel, QaOverlapped *op, DWORD *out_n)
{
	DWORD code;

	if (!qa_overlapped_collect(op, channel->handle, out_n, &code))
		return FALSE;
	if (code != ERROR_SUCCESS) {
		qa_channel_lost(channel, code);
		return FALSE;
	}
	return TRUE;
}

/* issues a read into or a write from @buf on @op: then in flight (also when it completed at
 * once: the event is set and the callback takes the result), or the host is gone */
static void
qa_channel_issue(QaChannel *channel, QaOverlapped *op, gboolean is_write, guint8 *buf, DWORD len)
{
	BOOL ok;
	DWORD code;

	qa_overlapped_prepare(op);
	ok = is_write ? WriteFile(channel->handle, buf, len, NULL, &op->ov)
		      : ReadFile(channel->handle, buf, len, NULL, &op->ov);
	code = ok ? ERROR_SUCCESS : GetLastError();
	if (code != ERROR_SUCCESS && code != ERROR_IO_PENDING) {
		qa_channel_lost(channel, code);
		return;
	}
	op->is_pending = TRUE;
}

static void
qa_channel_start_read(QaChannel *channel)
{
	if (channel->read.is_pending || !channel->connected ||
	    channel->handle == INVALID_HANDLE_VALUE ||
	    qa_channel_queued(channel) >= QA_CHANNEL_OUTPUT_HIGH || channel->is_input_paused)
		return;
	qa_channel_issue(
	    channel, &channel->read, FALSE, channel->read_buf, sizeof(channel->read_buf));
}

static gboolean
qa_channel_read_cb(gpointer user_data)
{
	QaChannel *channel = user_data;
	DWORD n;

	if (!qa_channel_collect(channel, &channel->read, &n))
		return G_SOURCE_CONTINUE;
	/* a serial read that timed out returns nothing: just read again */
	if (n > 0)
		channel->events.on_data(channel->read_buf, n, channel->user_data);
	qa_channel_start_read(channel);
	return G_SOURCE_CONTINUE;
}

static void
qa_channel_start_write(QaChannel *channel)
{
	if (channel->write.is_pending || channel->out->len == 0 || !channel->connected ||
	    channel->handle == INVALID_HANDLE_VALUE)
		return;
	/* the queue becomes the write buffer: later replies append to a fresh queue, so the
	 * memory the system is reading from never moves */
	g_byte_array_unref(channel->writing);
	channel->writing = channel->out;
	channel->out = g_byte_array_new();
	qa_channel_issue(
	    channel, &channel->write, TRUE, channel->writing->data, channel->writing->len);
}

static gboolean
qa_channel_write_cb(gpointer user_data)
{
	QaChannel *channel = user_data;
	DWORD n;

	if (!qa_channel_collect(channel, &channel->write, &n))
		return G_SOURCE_CONTINUE;
	g_byte_array_remove_range(channel->writing, 0, MIN(n, channel->writing->len));
	if (channel->writing->len > 0) {
		/* a partial write: what is left goes first */
		g_byte_array_prepend(channel->out, channel->writing->data, channel->writing->len);
		g_byte_array_set_size(channel->writing, 0);
	}
	if (channel->is_closing && channel->out->len == 0) {
		qa_channel_lost(channel, ERROR_SUCCESS);
		return G_SOURCE_CONTINUE;
	}
	qa_channel_start_write(channel);
	/* below the high-water mark again: take requests */
	qa_channel_start_read(channel);
	return G_SOURCE_CONTINUE;
}

/* --- named pipes ---------------------------------------------------------------------------- */

static void
qa_channel_pipe_connected(QaChannel *channel)
{
	qa_channel_set_connected(channel, TRUE);
	qa_channel_start_read(channel);
}

static void
qa_channel_pipe_listen(QaChannel *channel)
{
	DWORD code;

	qa_overlapped_prepare(&channel->connect);
	if (ConnectNamedPipe(channel->handle, &channel->connect.ov)) {
		qa_channel_pipe_connected(channel);
		return;
	}
	code = GetLastError();
	if (code == ERROR_IO_PENDING) {
		channel->connect.is_pending = TRUE;
	} else if (code == ERROR_PIPE_CONNECTED) {
		qa_channel_pipe_connected(channel);
	} else {
		/* ERROR_NO_DATA: a client came and went before we looked; listen again */
		g_autofree gchar *reason = g_win32_error_message((gint)code);
		g_info("cannot listen on channel=%s, retrying: %s", channel->description, reason);
		DisconnectNamedPipe(channel->handle);
		qa_channel_port_start_retry(channel);
	}
}

static gboolean
qa_channel_connect_cb(gpointer user_data)
{
	QaChannel *channel = user_data;
	DWORD n, code;

	if (!qa_overlapped_collect(&channel->connect, channel->handle, &n, &code))
		return G_SOURCE_CONTINUE;
	if (code != ERROR_SUCCESS) {
		DisconnectNamedPipe(channel->handle);
		qa_channel_pipe_listen(channel);
		return G_SOURCE_CONTINUE;
	}
	qa_channel_pipe_connected(channel);
	return G_SOURCE_CONTINUE;
}

static gboolean
qa_channel_pipe_open(QaChannel *channel, GError **error)
{
	/* one instance: the pipe serves one host at a time, and a second agent on the same
	 * name fails here instead of taking turns with the first */
	channel->handle = CreateNamedPipeW(
	    channel->path_w,
	    PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED | FILE_FLAG_FIRST_PIPE_INSTANCE,
	    PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS,
	    1,
	    QA_PIPE_BUFFER,
	    QA_PIPE_BUFFER,
	    0,
	    NULL);
	if (channel->handle == INVALID_HANDLE_VALUE) {
		DWORD code = GetLastError();
		g_autofree gchar *reason = g_win32_error_message((gint)code);

		g_set_error(error,
			    G_FILE_ERROR,
			    code == ERROR_ACCESS_DENIED ? G_FILE_ERROR_ACCES : G_FILE_ERROR_FAILED,
			    code == ERROR_ACCESS_DENIED
				? "cannot create pipe '%s': %s (another process, perhaps another "
				  "agent, serves it)"
				: "cannot create pipe '%s': %s",
			    channel->path,
			    reason);
		return FALSE;
	}
	g_message("listening on channel=%s", channel->description);
	qa_channel_pipe_listen(channel);
	return TRUE;
}

/* --- ports ---------------------------------------------------------------------------------- */

static gboolean
qa_channel_serial_set_raw(QaChannel *channel, GError **error)
{
	DCB dcb = {.DCBlength = sizeof(dcb)};
	/* wait for the first byte as long as it takes, then return what has arrived */
	COMMTIMEOUTS timeouts = {
	    .ReadIntervalTimeout = MAXDWORD,
	    .ReadTotalTimeoutMultiplier = MAXDWORD,
	    .ReadTotalTimeoutConstant = MAXDWORD - 1,
	};

	if (!GetCommState(channel->handle, &dcb)) {
		g_autofree gchar *reason = g_win32_error_message((gint)GetLastError());
		g_set_error(error,
			    G_FILE_ERROR,
			    G_FILE_ERROR_FAILED,
			    "cannot read the settings of '%s': %s",
			    channel->path,
			    reason);
		return FALSE;
	}
	dcb.fBinary = TRUE;
	dcb.fParity = FALSE;
	dcb.ByteSize = 8;
	dcb.Parity = NOPARITY;
	dcb.StopBits = ONESTOPBIT;
	dcb.fOutX = dcb.fInX = FALSE;
	dcb.fOutxCtsFlow = dcb.fOutxDsrFlow = FALSE;
	dcb.fDtrControl = DTR_CONTROL_ENABLE;
	dcb.fRtsControl = RTS_CONTROL_ENABLE;
	if (!SetCommState(channel->handle, &dcb) || !SetCommTimeouts(channel->handle, &timeouts)) {
		g_autofree gchar *reason = g_win32_error_message((gint)GetLastError());
		g_set_error(error,
			    G_FILE_ERROR,
			    G_FILE_ERROR_FAILED,
			    "cannot put '%s' in raw mode: %s",
			    channel->path,
			    reason);
		return FALSE;
	}
	return TRUE;
}

/* Opens the port; a port that does not exist (yet) is waited for, not an error. */
static gboolean
qa_channel_port_open(QaChannel *channel, GError **error)
{
	DWORD code;

	channel->handle = CreateFileW(channel->path_w,
				      GENERIC_READ | GENERIC_WRITE,
				      0,
				      NULL,
				      OPEN_EXISTING,
				      FILE_FLAG_OVERLAPPED,
				      NULL);
	if (channel->handle != INVALID_HANDLE_VALUE) {
		if (channel->kind == QA_CHANNEL_SERIAL &&
		    !qa_channel_serial_set_raw(channel, error)) {
			CloseHandle(channel->handle);
			channel->handle = INVALID_HANDLE_VALUE;
			return FALSE;
		}
		g_message("opened channel=%s", channel->description);
		channel->is_waiting_logged = FALSE;
		qa_channel_set_connected(channel, TRUE);
		qa_channel_start_read(channel);
		return TRUE;
	}
	code = GetLastError();
	if (code == ERROR_FILE_NOT_FOUND || code == ERROR_PATH_NOT_FOUND) {
		if (!channel->is_waiting_logged)
			g_message("waiting for channel=%s to appear", channel->description);
		channel->is_waiting_logged = TRUE;
		qa_channel_port_start_retry(channel);
		return TRUE;
	}
	{
		g_autofree gchar *reason = g_win32_error_message((gint)code);
		g_set_error(error,
			    G_FILE_ERROR,
			    code == ERROR_ACCESS_DENIED || code == ERROR_SHARING_VIOLATION
				? G_FILE_ERROR_AGAIN
				: G_FILE_ERROR_FAILED,
			    code == ERROR_ACCESS_DENIED || code == ERROR_SHARING_VIOLATION
				? "cannot open '%s': %s (another process, perhaps another guest "
				  "agent, holds the port open)"
				: "cannot open '%s': %s",
			    channel->path,
			    reason);
	}
	return FALSE;
}

static gboolean
qa_channel_retry_cb(gpointer user_data)
{
	QaChannel *channel = user_data;
	g_autoptr(GError) error_local = NULL;

	g_clear_pointer(&channel->retry_source, g_source_unref);
	if (channel->kind == QA_CHANNEL_PIPE) {
		qa_channel_pipe_listen(channel);
	} else if (!qa_channel_port_open(channel, &error_local)) {
		g_debug("port still unavailable: %s", error_local->message);
		qa_channel_port_start_retry(channel);
	}
	return G_SOURCE_REMOVE;
}

static void
qa_channel_port_start_retry(QaChannel *channel)
{
	if (channel->retry_source != NULL)
		return;
	channel->retry_source = g_timeout_source_new_seconds(QA_PORT_RETRY_SECONDS);
	g_source_set_callback(channel->retry_source, qa_channel_retry_cb, channel, NULL);
	g_source_attach(channel->retry_source, NULL);
}

/* --- channel.h ------------------------------------------------------------------------------ */

const QaChannelMethod *
qa_channel_get_methods(void)
{
	static const QaChannelMethod methods[] = {
	    {"virtio-serial", "\\\\.\\Global\\org.qemu.guest_agent.0", QA_CHANNEL_PORT},
	    {"isa-serial", "COM1", QA_CHANNEL_SERIAL},
	    {"pipe", "\\\\.\\pipe\\quiesce-agent", QA_CHANNEL_PIPE},
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
	g_autoptr(QaChannel) channel = NULL;
	gboolean ok;

	if (entry == NULL)
		return NULL;
	channel = g_new0(QaChannel, 1);
	channel->kind = (QaChannelKind)entry->kind;
	/* "COM10" and above only open as \\.\COM10 */
	if (channel->kind == QA_CHANNEL_SERIAL && !g_str_has_prefix(path, "\\\\"))
		channel->path = g_strdup_printf("\\\\.\\%s", path);
	else
		channel->path = g_strdup(path);
	channel->path_w = g_utf8_to_utf16(channel->path, -1, NULL, NULL, NULL);
	channel->description = g_strdup_printf("%s:%s", method, path);
	channel->events = *events;
	channel->user_data = user_data;
	channel->handle = INVALID_HANDLE_VALUE;
	channel->out = g_byte_array_new();
	channel->writing = g_byte_array_new();
	qa_overlapped_init(&channel->read, qa_channel_read_cb, channel);
	qa_overlapped_init(&channel->write, qa_channel_write_cb, channel);
	qa_overlapped_init(&channel->connect, qa_channel_connect_cb, channel);
	if (channel->kind == QA_CHANNEL_PIPE)
		ok = qa_channel_pipe_open(channel, error);
	else
		ok = qa_channel_port_open(channel, error);
	if (!ok)
		return NULL;
	return g_steal_pointer(&channel);
}

QaChannel *
qa_channel_new_from_fd(gint fd, const QaChannelEvents *events, gpointer user_data, GError **error)
{
	g_set_error(error,
		    G_FILE_ERROR,
		    G_FILE_ERROR_NOSYS,
		    "socket activation is a systemd feature; Windows has none");
	return NULL;
}

void
qa_channel_free(QaChannel *channel)
{
	if (channel == NULL)
		return;
	qa_channel_cancel_io(channel);
	if (channel->retry_source != NULL) {
		g_source_destroy(channel->retry_source);
		g_clear_pointer(&channel->retry_source, g_source_unref);
	}
	qa_overlapped_clear(&channel->read);
	qa_overlapped_clear(&channel->write);
	qa_overlapped_clear(&channel->connect);
	if (channel->handle != INVALID_HANDLE_VALUE) {
		if (channel->kind == QA_CHANNEL_PIPE)
			DisconnectNamedPipe(channel->handle);
		CloseHandle(channel->handle);
	}
	g_clear_pointer(&channel->out, g_byte_array_unref);
	g_clear_pointer(&channel->writing, g_byte_array_unref);
	g_free(channel->description);
	g_free(channel->path);
	g_free(channel->path_w);
	g_free(channel);
}

void
qa_channel_send(QaChannel *channel, const gchar *data, gsize len)
{
	if (!channel->connected || channel->handle == INVALID_HANDLE_VALUE)
		return; /* nobody to deliver to: never keep it for the next host */
	g_byte_array_append(channel->out, (const guint8 *)data, (guint)len);
	qa_channel_start_write(channel);
}

gsize
qa_channel_get_pending_output(QaChannel *channel)
{
	return qa_channel_queued(channel);
}

/* a read already issued completes; no further one is issued until input is resumed */
void
qa_channel_set_input_paused(QaChannel *channel, gboolean is_paused)
{
	if (channel->is_input_paused == is_paused)
		return;
	channel->is_input_paused = is_paused;
	if (!is_paused)
		qa_channel_start_read(channel);
}

void
qa_channel_close_when_flushed(QaChannel *channel)
{
	if (channel->kind != QA_CHANNEL_PIPE || !channel->connected)
		return;
	if (qa_channel_queued(channel) == 0) {
		qa_channel_lost(channel, ERROR_SUCCESS);
		return;
	}
	channel->is_closing = TRUE;
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
