/* Transports: bytes in, bytes out, and connect/disconnect events. Knows nothing about JSON.
 *
 * Every transport serves one host at a time. Output queued for a host is dropped when that host
 * goes away, never delivered to the next one. A virtio-serial port cannot always tell a host that
 * left from the next one already there (port-host.h): a host there again within
 * QA_PORT_HOST_GRACE_MS of a hang-up is served as the same connection. While the queued output
 * reaches QA_CHANNEL_OUTPUT_HIGH the channel stops reading, and says when it has fallen below again
 * (on_output_drained), so that the session, which checks it between requests, can stop taking
 * requests from a host that does not read its replies and go on once it does. Runs on the main
 * loop. */
#pragma once

#include <glib.h>

#define QA_CHANNEL_OUTPUT_HIGH (1024 * 1024)
#define QA_CHANNEL_READ_SIZE (64 * 1024)

typedef struct _QaChannel QaChannel;

typedef struct {
	void (*on_connect)(gpointer user_data);
	void (*on_data)(const guint8 *data, gsize len, gpointer user_data);
	void (*on_disconnect)(gpointer user_data);
	/* a socket client shut down its sending side (e.g. socat after its input ended): it may
	 * still read, so it gets its replies; call qa_channel_close_when_flushed() when no more
	 * are coming */
	void (*on_input_closed)(gpointer user_data);
	/* the output queued for the host has fallen below QA_CHANNEL_OUTPUT_HIGH after reaching
	 * it; called from the main loop, never from inside qa_channel_send() */
	void (*on_output_drained)(gpointer user_data);
} QaChannelEvents;

/* a transport this platform serves */
typedef struct {
	const gchar *name;	   /* as -m and method= spell it */
	const gchar *default_path; /* where it listens or which device it opens when no path is
				    * given; NULL: it needs one */
	gint kind;		   /* how the transport opens it; the transport's own tag */
} QaChannelMethod;

/* the transports this platform serves, ended by an entry without a name; the first is the
 * default. Each transport defines it; channel-methods.c reads it for everyone else. */
const QaChannelMethod *
qa_channel_get_methods(void);
/* the entry of @name; NULL with G_FILE_ERROR_INVAL, naming the methods there are,
 * when this platform has no such method */
const QaChannelMethod *
qa_channel_find_method(const gchar *name, GError **error);
/* "a, b, c or d": the methods of this platform, for messages */
gchar *
qa_channel_describe_methods(void);
/* the default path of @method; NULL: it needs one, or there is no such method */
const gchar *
qa_channel_get_default_path(const gchar *method);

QaChannel *
qa_channel_new(const gchar *method,
	       const gchar *path,
	       const QaChannelEvents *events,
	       gpointer user_data,
	       GError **error);
/* serve a listening socket passed by systemd socket activation; anything else (a connected
 * socket of Accept=yes, a port of ListenSpecial=) is refused with G_FILE_ERROR_INVAL */
QaChannel *
qa_channel_new_from_fd(gint fd, const QaChannelEvents *events, gpointer user_data, GError **error);
void
qa_channel_free(QaChannel *channel);
void
qa_channel_send(QaChannel *channel, const gchar *data, gsize len);
gsize
qa_channel_get_pending_output(QaChannel *channel);
/* stops (or resumes) reading from the host, e.g. while too many requests wait to be run */
void
qa_channel_set_input_paused(QaChannel *channel, gboolean is_paused);
void
qa_channel_close_when_flushed(QaChannel *channel);
gboolean
qa_channel_is_connected(QaChannel *channel);
const gchar *
qa_channel_describe(QaChannel *channel);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaChannel, qa_channel_free)
