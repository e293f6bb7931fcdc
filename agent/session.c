#include "session.h"

#include "channel.h"
#include "dispatch.h"
#include "qa-error.h"
#include "splitter.h"

struct _QaSession {
	QaAgent *agent;
	QaChannel *channel;
	QaSplitter *splitter;
	QaDispatcher *dispatcher;
	guint64 generation;	  /* which host connection a reply belongs to */
	guint in_flight;	  /* requests of this connection not answered yet */
	gboolean is_input_closed; /* the client sent all it will send */
	gboolean is_input_paused; /* it cannot take more requests: the channel is not read */
	guint resume_id;	  /* idle source that takes in more requests once it can */
};

static void
qa_session_pump(QaSession *session);

/* Replies the host has not read. Checked between requests, so that one read of many small
 * requests with large replies (guest-get-fsinfo) cannot queue more than the limit and one
 * reply. On Windows the channel does not yet report when its output drains
 * (on_output_drained), so there the limit stays the channel's, per read. */
static gboolean
qa_session_is_output_full(QaSession *session)
{
#ifdef G_OS_WIN32
	return FALSE;
#else
	return qa_channel_get_pending_output(session->channel) >= QA_CHANNEL_OUTPUT_HIGH;
#endif
}

static gboolean
qa_session_can_take(QaSession *session)
{
	return qa_dispatcher_get_n_waiting(session->dispatcher) < QA_SESSION_MAX_WAITING &&
	       qa_dispatcher_get_waiting_bytes(session->dispatcher) <
		   QA_SESSION_MAX_WAITING_BYTES &&
	       !qa_session_is_output_full(session);
}

/* the dispatcher's gate: requests that waited start only while the host reads its replies */
static gboolean
qa_session_gate(gpointer user_data)
{
	return !qa_session_is_output_full(user_data);
}

/* Runs from the main loop, never inside a reply callback: the dispatcher is draining its queue
 * there, and a request handed in then would overtake the ones still waiting. */
static gboolean
qa_session_resume_cb(gpointer user_data)
{
	QaSession *session = user_data;

	session->resume_id = 0;
	qa_dispatcher_resume(session->dispatcher);
	qa_session_pump(session);
	return G_SOURCE_REMOVE;
}

static void
qa_session_schedule_resume(QaSession *session)
{
	if (session->resume_id == 0)
		session->resume_id = g_idle_add(qa_session_resume_cb, session);
}

static void
qa_session_reply(const GString *line, guint64 tag, const gchar *command, gpointer user_data)
{
	QaSession *session = user_data;

	if (tag != session->generation) {
		/* a command that had started when its host left (a freeze among them) */
		g_message("command=%s of a host that has disconnected has finished; its reply is "
			  "dropped",
			  command != NULL ? command : "(invalid request)");
	} else {
		session->in_flight--;
		if (line != NULL)
			qa_channel_send(session->channel, line->str, line->len);
		if (session->is_input_closed && session->in_flight == 0)
			qa_channel_close_when_flushed(session->channel);
	}
	/* after the send, which may have written all the host had not read (the channel tells
	 * only of output that drains later, on_output_drained); also for replies of a previous
	 * host: its requests may be what filled the queue */
	if (session->is_input_paused && qa_session_can_take(session))
		qa_session_schedule_resume(session);
}

static void
qa_session_take(QaSession *session, QaSplitterEvent event, const gchar *text, gsize text_len)
{
	g_autoptr(GError) error = NULL;

	switch (event) {
	case QA_SPLITTER_TEXT:
		qa_dispatcher_handle_text(session->dispatcher, text, text_len, session->generation);
		return;
	case QA_SPLITTER_TOO_LARGE:
		g_set_error(&error,
			    QA_PROTOCOL_ERROR,
			    QA_PROTOCOL_ERROR_TOO_LARGE,
			    "Invalid request: larger than %u bytes; it is discarded up to its "
			    "end (or up to a 0xFF byte)",
			    QA_SESSION_MAX_REQUEST);
		break;
	case QA_SPLITTER_TOO_DEEP:
		g_set_error(&error,
			    QA_PROTOCOL_ERROR,
			    QA_PROTOCOL_ERROR_TOO_DEEP,
			    "Invalid request: nested deeper than %u levels; it is discarded up "
			    "to its end (or up to a 0xFF byte)",
			    QA_DISPATCH_MAX_DEPTH);
		break;
	case QA_SPLITTER_NONE:
		return;
	}
	qa_dispatcher_handle_error(session->dispatcher, error, session->generation);
}

/* Hands complete requests to the dispatcher, one at a time while it can take them
 * (qa_session_can_take()); the rest of the input stays in the splitter and the channel stops
 * reading, so a host that pipelines without end, or does not read its replies, cannot grow the
 * agent's memory. */
static void
qa_session_pump(QaSession *session)
{
	const gchar *text;
	gsize text_len;
	QaSplitterEvent event;

	while (qa_session_can_take(session) &&
	       (event = qa_splitter_next(session->splitter, &text, &text_len)) !=
		   QA_SPLITTER_NONE) {
		session->in_flight++;
		qa_session_take(session, event, text, text_len);
		/* the host left while we were answering: the rest of its input is moot */
		if (!qa_channel_is_connected(session->channel))
			break;
	}
	session->is_input_paused = !qa_session_can_take(session);
	qa_channel_set_input_paused(session->channel, session->is_input_paused);
}

static void
qa_session_on_data(const guint8 *data, gsize len, gpointer user_data)
{
	QaSession *session = user_data;

	qa_splitter_feed(session->splitter, data, len);
	qa_session_pump(session);
}

/* Each host starts from a clean slate: no partial request, no reply of the previous host, and
 * none of its requests that had not started (qa_dispatcher_drop_waiting() says which are
 * kept). The input pause is looked at again once the queue has shrunk. */
static void
qa_session_reset(gpointer user_data)
{
	QaSession *session = user_data;

	session->generation++;
	session->in_flight = 0;
	session->is_input_closed = FALSE;
	qa_splitter_reset(session->splitter);
	qa_dispatcher_drop_waiting(session->dispatcher, session->generation);
	qa_session_schedule_resume(session);
}

/* a client that shut down its sending side still gets the replies it is owed, then is closed;
 * an unfinished request it left behind can never complete and is dropped */
static void
qa_session_on_input_closed(gpointer user_data)
{
	QaSession *session = user_data;

	session->is_input_closed = TRUE;
	qa_splitter_reset(session->splitter);
	if (session->in_flight == 0)
		qa_channel_close_when_flushed(session->channel);
}

/* the host read enough of its replies: take requests again */
static void
qa_session_on_output_drained(gpointer user_data)
{
	qa_session_schedule_resume(user_data);
}

QaSession *
qa_session_new(
    QaAgent *agent, const gchar *method, const gchar *path, gint activated_fd, GError **error)
{
	g_autoptr(QaSession) session = g_new0(QaSession, 1);
	const QaChannelEvents events = {
	    qa_session_reset, /* on connect */
	    qa_session_on_data,
	    qa_session_reset, /* on disconnect */
	    qa_session_on_input_closed,
	    qa_session_on_output_drained,
	};

	session->agent = agent;
	session->splitter = qa_splitter_new(QA_SESSION_MAX_REQUEST, QA_DISPATCH_MAX_DEPTH);
	session->dispatcher =
	    qa_dispatcher_new(agent, agent->config, qa_session_reply, qa_session_gate, session);
	if (activated_fd >= 0)
		session->channel = qa_channel_new_from_fd(activated_fd, &events, session, error);
	else
		session->channel = qa_channel_new(method, path, &events, session, error);
	if (session->channel == NULL)
		return NULL;
	return g_steal_pointer(&session);
}

gboolean
qa_session_is_busy(QaSession *session)
{
	return qa_dispatcher_is_busy(session->dispatcher);
}

void
qa_session_free(QaSession *session)
{
	if (session == NULL)
		return;
	if (session->resume_id != 0)
		g_source_remove(session->resume_id);
	qa_channel_free(session->channel);
	qa_dispatcher_free(session->dispatcher);
	qa_splitter_free(session->splitter);
	g_free(session);
}
