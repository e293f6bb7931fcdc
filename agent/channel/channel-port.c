/* Ports that stay open while hosts come and go: virtio-serial and isa-serial.
 *
 * A virtio-serial port must be held open at all times (libvirt considers the agent present only
 * while the guest has the port open). While no host is connected, poll() reports POLLHUP on it
 * continuously, so the descriptor is taken out of the main loop's poll set instead of being
 * polled in a loop. The virtio console driver sends SIGIO to the owner of a port opened with
 * O_ASYNC whenever the host side connects or disconnects; SIGIO is blocked in every thread and
 * read from a signalfd in the main loop, so the agent sleeps until the host comes. A slow timer
 * is only the fallback where that notification cannot be set up.
 *
 * The device path is watched with inotify for as long as the port is in use. A hot-unplugged
 * port looks like a host that left: the driver sends SIGIO and poll() reports POLLHUP from then
 * on (Linux 6.1), so only the device path's removal tells the agent to close the dead
 * descriptor. Its creation tells it that the port is back. udev removes /dev/virtio-ports
 * itself with the last port in it, so while a directory on the way is missing, its nearest
 * existing ancestor is watched for it to come back. The watch is read by the main loop like
 * every other descriptor: no thread of its own. */
#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "channel-private.h"

#define QA_PORT_FALLBACK_SECONDS 5 /* only without SIGIO, or to notice a port coming back */

static void
qa_channel_port_check(QaChannel *channel);
static void
qa_channel_port_wait_for_device(QaChannel *channel);
static void
qa_channel_port_start_retry(QaChannel *channel);
static void
qa_channel_port_watch_path(QaChannel *channel);
static void
qa_channel_port_unwatch_path(QaChannel *channel);
static gboolean
qa_channel_port_grace_cb(gpointer user_data);

static gboolean
qa_channel_port_host_has_hung_up(gint fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	if (poll(&pfd, 1, 0) < 0)
		return FALSE;
	return (pfd.revents & POLLHUP) != 0;
}

static gboolean
qa_channel_port_sigio_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	QaChannel *channel = user_data;
	struct signalfd_siginfo info[8];

	/* several notifications may have coalesced: one look at the port answers them all */
	while (read(fd, info, sizeof(info)) > 0)
		;
	qa_channel_port_check(channel);
	return G_SOURCE_CONTINUE;
}

static gboolean
qa_channel_port_retry_cb(gpointer user_data)
{
	QaChannel *channel = user_data;

	if (channel->fd < 0) {
		g_autoptr(GError) error_local = NULL;
		g_clear_pointer(&channel->retry_source, g_source_unref);
		if (!qa_channel_port_open(channel, &error_local)) {
			g_debug("port still unavailable: %s", error_local->message);
			qa_channel_port_start_retry(channel);
		}
		return G_SOURCE_REMOVE;
	}
	qa_channel_port_check(channel);
	return G_SOURCE_CONTINUE;
}

static void
qa_channel_port_start_retry(QaChannel *channel)
{
	if (channel->retry_source != NULL)
		return;
	channel->retry_source = g_timeout_source_new_seconds(QA_PORT_FALLBACK_SECONDS);
	g_source_set_callback(channel->retry_source, qa_channel_port_retry_cb, channel, NULL);
	g_source_attach(channel->retry_source, NULL);
}

static void
qa_channel_port_stop_retry(QaChannel *channel)
{
	if (channel->retry_source == NULL)
		return;
	g_source_destroy(channel->retry_source);
	g_clear_pointer(&channel->retry_source, g_source_unref);
}

static void
qa_channel_port_stop_grace(QaChannel *channel)
{
	if (channel->grace_source == NULL)
		return;
	g_source_destroy(channel->grace_source);
	g_clear_pointer(&channel->grace_source, g_source_unref);
}

/* Does what port-host.h decided. Only a host that arrives after a final hang-up is a new
 * connection (the session starts over); a host back within the grace gets what was queued. */
static void
qa_channel_port_apply(QaChannel *channel, QaPortHostAction action)
{
	switch (action) {
	case QA_PORT_HOST_NOTHING:
		return;
	case QA_PORT_HOST_ARRIVED:
		qa_channel_set_connected(channel, TRUE);
		break;
	case QA_PORT_HOST_HUNG_UP:
		g_info("host hung up channel=%s; its connection ends unless a host is back "
		       "within %u ms",
		       channel->description,
		       QA_PORT_HOST_GRACE_MS);
		qa_channel_watch(channel); /* neither read nor written while away */
		qa_channel_port_stop_grace(channel);
		channel->hung_up_at = g_get_monotonic_time();
		channel->grace_source = g_timeout_source_new(QA_PORT_HOST_GRACE_MS);
		g_source_set_callback(
		    channel->grace_source, qa_channel_port_grace_cb, channel, NULL);
		g_source_attach(channel->grace_source, NULL);
		return;
	case QA_PORT_HOST_BACK:
		g_info("host back channel=%s %.1f ms after its hang-up: the connection goes on",
		       channel->description,
		       (gdouble)(g_get_monotonic_time() - channel->hung_up_at) / 1000.0);
		qa_channel_port_stop_grace(channel);
		qa_channel_watch(channel); /* writes what was queued meanwhile */
		break;
	case QA_PORT_HOST_LEFT:
		qa_channel_port_stop_grace(channel);
		qa_channel_set_connected(channel, FALSE);
		break;
	}
	/* without SIGIO, only the timer notices a host arriving */
	if (channel->sigio_source == NULL) {
		if (channel->connected)
			qa_channel_port_stop_retry(channel);
		else
			qa_channel_port_start_retry(channel);
	}
}

static gboolean
qa_channel_port_grace_cb(gpointer user_data)
{
	QaChannel *channel = user_data;

	g_clear_pointer(&channel->grace_source, g_source_unref);
	qa_channel_port_apply(
	    channel,
	    qa_port_host_grace_over(&channel->host, qa_channel_port_host_has_hung_up(channel->fd)));
	return G_SOURCE_REMOVE;
}

/* Looks at the port now and reports a host arriving or leaving. */
static void
qa_channel_port_check(QaChannel *channel)
{
	if (channel->fd < 0)
		return;
	qa_channel_port_apply(
	    channel,
	    qa_port_host_seen(&channel->host, qa_channel_port_host_has_hung_up(channel->fd)));
}

static gboolean
qa_channel_port_setup_sigio(QaChannel *channel)
{
	sigset_t mask;
	gint flags;

	if (channel->sigio_fd < 0) {
		sigemptyset(&mask);
		sigaddset(&mask, SIGIO);
		channel->sigio_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
		if (channel->sigio_fd < 0)
			return FALSE;
		channel->sigio_source = qa_channel_fd_source_new(
		    channel->sigio_fd, G_IO_IN, qa_channel_port_sigio_cb, channel);
	}
	flags = fcntl(channel->fd, F_GETFL);
	if (fcntl(channel->fd, F_SETOWN, getpid()) < 0 || flags < 0 ||
	    fcntl(channel->fd, F_SETFL, flags | O_ASYNC) < 0)
		return FALSE;
	return TRUE;
}

static gboolean
qa_channel_port_set_raw(gint fd, GError **error)
{
	struct termios tio;

	if (tcgetattr(fd, &tio) < 0) {
		gint saved = errno;
		g_set_error(error,
			    G_FILE_ERROR,
			    g_file_error_from_errno(saved),
			    "cannot read serial settings: %s",
			    g_strerror(saved));
		return FALSE;
	}
	cfmakeraw(&tio);
	tio.c_cflag |= CLOCAL | CREAD;
	if (tcsetattr(fd, TCSANOW, &tio) < 0) {
		gint saved = errno;
		g_set_error(error,
			    G_FILE_ERROR,
			    g_file_error_from_errno(saved),
			    "cannot put the serial port in raw mode: %s",
			    g_strerror(saved));
		return FALSE;
	}
	return TRUE;
}

gboolean
qa_channel_port_open(QaChannel *channel, GError **error)
{
	gint fd = open(channel->path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);

	if (fd < 0 && errno == ENOENT) {
		/* not plugged in (yet): wait for it instead of failing the service; said once, not
		 * at every retry of a long unplug */
		if (!channel->is_port_absent)
			g_message("waiting for channel=%s to appear", channel->description);
		channel->is_port_absent = TRUE;
		qa_channel_port_wait_for_device(channel);
		return TRUE;
	}
	if (fd < 0) {
		gint saved = errno;
		g_set_error(error,
			    G_FILE_ERROR,
			    g_file_error_from_errno(saved),
			    saved == EBUSY
				? "cannot open '%s': %s (another process, perhaps another "
				  "guest agent, holds the port open)"
				: "cannot open '%s': %s",
			    channel->path,
			    g_strerror(saved));
		return FALSE;
	}
	channel->fd = fd;
	channel->is_port_absent = FALSE;
	qa_channel_port_stop_retry(channel);
	if (channel->kind == QA_CHANNEL_SERIAL) {
		qa_channel_port_unwatch_path(channel);
		if (isatty(fd) && !qa_channel_port_set_raw(fd, error)) {
			g_prefix_error(error, "'%s': ", channel->path);
			close(fd);
			channel->fd = -1;
			return FALSE;
		}
		qa_channel_set_connected(channel, TRUE);
		return TRUE;
	}
	/* before the first look at the port, so a host connecting in between is not missed */
	if (!qa_channel_port_setup_sigio(channel)) {
		g_warning("no connection notifications for channel=%s (%s), checking every %u s",
			  channel->description,
			  g_strerror(errno),
			  QA_PORT_FALLBACK_SECONDS);
		qa_channel_port_start_retry(channel);
	}
	g_message("opened channel=%s", channel->description);
	qa_channel_port_watch_path(channel);
	qa_channel_port_check(channel);
	return TRUE;
}

static gboolean
qa_channel_port_path_is_ours(QaChannel *channel)
{
	struct stat by_path;
	struct stat by_fd;

	if (stat(channel->path, &by_path) < 0)
		return errno != ENOENT;
	if (fstat(channel->fd, &by_fd) < 0)
		return TRUE;
	return by_path.st_rdev == by_fd.st_rdev;
}

/* A change in the watched directory that concerns the path: look at the port again. */
static void
qa_channel_port_path_changed(QaChannel *channel)
{
	g_autoptr(GError) error_local = NULL;

	/* first follow the path down (or up) to the directory to watch now, so that a change
	 * made while the port is looked at below is not missed */
	qa_channel_port_watch_path(channel);
	if (channel->fd >= 0) {
		/* udev also replaces the link in place (rename): only a path that is gone or names
		 * another device means that the port is */
		if (!qa_channel_port_path_is_ours(channel))
			qa_channel_port_lost(channel);
		return;
	}
	if (!qa_channel_port_open(channel, &error_local))
		g_warning("channel=%s came back but cannot be opened: %s",
			  channel->description,
			  error_local->message);
}

static gboolean
qa_channel_port_inotify_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	QaChannel *channel = user_data;
	gchar buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	gboolean concerns_path = FALSE;
	gssize n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (gchar *p = buf; p < buf + n;) {
			const struct inotify_event *event = (const struct inotify_event *)p;

			/* the entry on the way to the path, the watched directory itself going away,
			 * or events lost to an overflow */
			if ((event->mask & (IN_Q_OVERFLOW | IN_IGNORED | IN_DELETE_SELF |
					    IN_MOVE_SELF)) != 0 ||
			    (event->wd == channel->watch_wd && event->len > 0 &&
			     g_strcmp0(event->name, channel->watched_name) == 0))
				concerns_path = TRUE;
			p += sizeof(struct inotify_event) + event->len;
		}
	}
	if (concerns_path)
		qa_channel_port_path_changed(channel);
	return G_SOURCE_CONTINUE;
}

static void
qa_channel_port_unwatch_path(QaChannel *channel)
{
	if (channel->inotify_source != NULL) {
		g_source_destroy(channel->inotify_source);
		g_clear_pointer(&channel->inotify_source, g_source_unref);
	}
	if (channel->inotify_fd >= 0) {
		close(channel->inotify_fd);
		channel->inotify_fd = -1;
	}
	channel->watch_wd = -1;
	g_clear_pointer(&channel->watched_name, g_free);
}

/* Watches the directory that holds the path or, while that is missing, the nearest existing
 * directory above it; called again at every change that concerns the path, it moves the watch
 * to where the path's next missing piece will appear. Without a watch, the retry timer is what
 * notices the port. */
static void
qa_channel_port_watch_path(QaChannel *channel)
{
	const guint32 mask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
			     IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
	g_autofree gchar *dir = g_path_get_dirname(channel->path);
	g_autofree gchar *name = g_path_get_basename(channel->path);
	gint wd;

	if (channel->inotify_fd < 0) {
		channel->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (channel->inotify_fd < 0) {
			g_debug("cannot watch %s: inotify: %s", channel->path, g_strerror(errno));
			return;
		}
		channel->inotify_source = qa_channel_fd_source_new(
		    channel->inotify_fd, G_IO_IN, qa_channel_port_inotify_cb, channel);
	}
	while ((wd = inotify_add_watch(channel->inotify_fd, dir, mask)) < 0) {
		g_autofree gchar *parent = g_path_get_dirname(dir);

		if ((errno != ENOENT && errno != ENOTDIR) || g_strcmp0(parent, dir) == 0) {
			g_debug("cannot watch %s: %s: %s", channel->path, dir, g_strerror(errno));
			qa_channel_port_unwatch_path(channel);
			return;
		}
		g_free(name);
		name = g_path_get_basename(dir);
		g_free(dir);
		dir = g_steal_pointer(&parent);
	}
	/* the same directory yields the same watch; another one replaces it */
	if (channel->watch_wd >= 0 && channel->watch_wd != wd)
		inotify_rm_watch(channel->inotify_fd, channel->watch_wd);
	channel->watch_wd = wd;
	g_free(channel->watched_name);
	channel->watched_name = g_steal_pointer(&name);
}

static void
qa_channel_port_wait_for_device(QaChannel *channel)
{
	qa_channel_port_watch_path(channel);
	/* inotify can miss a device node made before the watch existed */
	qa_channel_port_start_retry(channel);
}

/* The port reported a hang-up (POLLHUP, or EOF on a read): keep the port, and look at it again.
 *
 * The hang-up was sampled when the main loop polled, and a host may be there again since: one
 * that closes and reconnects at once (libvirt after a timeout, Proxmox, which connects for every
 * command) makes the driver report both changes before the agent looks. Their SIGIOs coalesce,
 * so no notification may be left to announce the host that is back. The port's state now is
 * the truth: a host there now is served at once; a hang-up still there starts the grace
 * (port-host.h), after which the departed host's replies are dropped. */
void
qa_channel_port_hangup(QaChannel *channel)
{
	qa_channel_port_check(channel);
}

/* the port itself failed or vanished (hot-unplug): close it and wait for it to come back */
void
qa_channel_port_lost(QaChannel *channel)
{
	g_message("lost channel=%s, waiting for it to come back", channel->description);
	if (channel->fd >= 0) {
		close(channel->fd);
		channel->fd = -1;
	}
	/* no grace: a port that is gone has no host to come back */
	qa_channel_port_stop_grace(channel);
	qa_port_host_lost(&channel->host);
	qa_channel_set_connected(channel, FALSE);
	qa_channel_port_wait_for_device(channel);
}

void
qa_channel_port_cleanup(QaChannel *channel)
{
	qa_channel_port_stop_grace(channel);
	qa_channel_port_stop_retry(channel);
	qa_channel_port_unwatch_path(channel);
	if (channel->sigio_source != NULL) {
		g_source_destroy(channel->sigio_source);
		g_clear_pointer(&channel->sigio_source, g_source_unref);
	}
	if (channel->sigio_fd >= 0) {
		close(channel->sigio_fd);
		channel->sigio_fd = -1;
	}
}
