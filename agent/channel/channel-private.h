/* Shared between the channel core (channel.c) and the port transports (channel-port.c). */
#pragma once

#include <glib-unix.h>
#include <glib.h>
#include <sys/types.h>

#include "channel.h"
#include "port-host.h"

typedef enum {
	QA_CHANNEL_LISTEN, /* unix-listen, vsock-listen, socket activation: accept one client */
	QA_CHANNEL_PORT,   /* virtio-serial: always open, the host comes and goes (POLLHUP) */
	QA_CHANNEL_SERIAL, /* isa-serial: always open, no notion of a host connection */
} QaChannelKind;

struct _QaChannel {
	QaChannelKind kind;
	gchar *description; /* "unix-listen:/path", for log lines */
	gchar *path;
	QaChannelEvents events;
	gpointer user_data;

	gint listen_fd;
	GSource *listen_source;
	gint fd; /* the connected client, or the port */
	GSource *io_source;
	gboolean connected;
	gboolean is_input_closed; /* the client shut down its sending side */
	gboolean is_closing;	  /* close the client once the queued output is written */
	gboolean is_input_paused; /* the session cannot take more requests for now */
	GByteArray *out;	  /* output for the current host; written up to @out_start */
	gsize out_start;	  /* what is left to write starts here; compacted rarely */
	/* unix-listen: the socket this process bound, so that it removes only its own at exit */
	dev_t socket_dev;
	ino_t socket_ino;

	/* ports */
	gint sigio_fd; /* signalfd for SIGIO: the port driver's "host (dis)connected" */
	GSource *sigio_source;
	GSource *retry_source;	 /* fallback timer when SIGIO is unavailable or the port vanished */
	gboolean is_port_absent; /* said once that the port is missing, until it is opened */
	/* AWAY: still connected, but neither read nor written until the host is back or the grace
	 * (port-host.h) is over */
	QaPortHostState host;
	GSource *grace_source; /* ends the grace of a host that hung up */
	gint64 hung_up_at;     /* monotonic µs, for the log */
	/* a port's device path, for its removal and its return: an inotify watch on the path's
	 * directory, or on its nearest existing ancestor while that directory is gone */
	gint inotify_fd;
	GSource *inotify_source;
	gint watch_wd;	     /* -1: nothing watched */
	gchar *watched_name; /* the entry of the watched directory on the way to the path */
};

GSource *
qa_channel_fd_source_new(gint fd, GIOCondition condition, GUnixFDSourceFunc func, gpointer data);
void
qa_channel_watch(QaChannel *channel);
void
qa_channel_set_connected(QaChannel *channel, gboolean connected);
void
qa_channel_drop_output(QaChannel *channel);

gboolean
qa_channel_port_open(QaChannel *channel, GError **error);
void
qa_channel_port_lost(QaChannel *channel);
void
qa_channel_port_hangup(QaChannel *channel);
void
qa_channel_port_cleanup(QaChannel *channel);
