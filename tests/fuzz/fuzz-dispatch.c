/* libFuzzer target: the dispatcher's queue, as the session drives it. Texts from the splitter
 * are handed in while a gate the input opens and closes holds waiting requests back (as a host
 * that does not read its replies does), and hosts leave (their waiting requests are dropped).
 * Only commands that read nothing of the system are enabled (ping, sync, info); every other
 * one is refused as disabled, which still takes its place in the queue.
 *
 * Checked: every request handed in gets exactly one reply unless it was dropped; what waits is
 * counted, and nothing is counted once nothing waits; no reply reaches the tag of a host that
 * left but a kept guest-fsfreeze-thaw's. */
#include <glib.h>
#include <stdint.h>
#include <stdlib.h>

#include "agent.h"
#include "dispatch.h"
#include "qa-error.h"
#include "splitter.h"

typedef struct {
	QaDispatcher *dispatcher;
	gboolean is_open;	  /* the gate */
	gboolean leaves_on_reply; /* the next reply ends the connection, as a failed send does */
	guint64 tag;		  /* the current host */
	guint n_handed;
	guint n_replies;
	guint n_dropped;
} FuzzState;

static void
fuzz_fail(const gchar *what)
{
	g_printerr("fuzz-dispatch: %s\n", what);
	abort();
}

static void
fuzz_reply(const GString *line, guint64 tag, const gchar *command, gpointer user_data)
{
	FuzzState *state = user_data;

	state->n_replies++;
	if (tag != state->tag && g_strcmp0(command, "guest-fsfreeze-thaw") != 0)
		fuzz_fail("a reply for a host that left, of a request that had not started");
	/* the session drops the waiting requests from inside a reply when the send fails */
	if (state->leaves_on_reply) {
		state->leaves_on_reply = FALSE;
		state->tag++;
		state->n_dropped += qa_dispatcher_drop_waiting(state->dispatcher, state->tag);
	}
	if (line != NULL && (line->len == 0 || line->str[line->len - 1] != '\n'))
		fuzz_fail("a reply line that does not end in a newline");
}

static gboolean
fuzz_gate(gpointer user_data)
{
	return ((FuzzState *)user_data)->is_open;
}

static void
fuzz_check_counts(QaDispatcher *dispatcher, const FuzzState *state)
{
	guint n_waiting = qa_dispatcher_get_n_waiting(dispatcher);
	gsize bytes = qa_dispatcher_get_waiting_bytes(dispatcher);

	if ((n_waiting == 0) != (bytes == 0))
		fuzz_fail("waiting bytes counted without waiting requests, or the reverse");
	if (state->n_replies + state->n_dropped + n_waiting != state->n_handed)
		fuzz_fail("a request was answered twice, or lost");
}

/* one control byte per text: bit 0 toggles the gate, bit 1 lets the host leave, bit 2
 * resumes the queue, bit 3 makes the next reply end the connection */
static void
fuzz_control(QaDispatcher *dispatcher, FuzzState *state, guint8 control)
{
	if (control & 8)
		state->leaves_on_reply = TRUE;
	if (control & 1)
		state->is_open = !state->is_open;
	if (control & 2) {
		state->tag++;
		state->n_dropped += qa_dispatcher_drop_waiting(dispatcher, state->tag);
	}
	if (control & 4)
		qa_dispatcher_resume(dispatcher);
}

static void
fuzz_hand_in(
    QaDispatcher *dispatcher, FuzzState *state, QaSplitterEvent event, const gchar *text, gsize len)
{
	g_autoptr(GError) error = NULL;

	state->n_handed++;
	if (event == QA_SPLITTER_TEXT) {
		qa_dispatcher_handle_text(dispatcher, text, len, state->tag);
		return;
	}
	g_set_error_literal(&error, QA_PROTOCOL_ERROR, QA_PROTOCOL_ERROR_TOO_LARGE, "too large");
	qa_dispatcher_handle_error(dispatcher, error, state->tag);
}

/* the log would be most of the time spent (dropped requests are logged one by one) */
static GLogWriterOutput
fuzz_log_discard(GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
	return G_LOG_WRITER_HANDLED;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static QaConfig *config = NULL;
	FuzzState state = {.is_open = TRUE, .tag = 1};
	g_autoptr(QaSplitter) splitter = qa_splitter_new(64 * 1024, QA_DISPATCH_MAX_DEPTH);
	g_autoptr(QaDispatcher) dispatcher = NULL;
	QaAgent agent;
	const gchar *text;
	gsize len;
	QaSplitterEvent event;
	gsize n_controls = MIN(size, 16); /* the first bytes steer, cyclically */
	guint i = 0;

	if (config == NULL) {
		g_log_set_writer_func(fuzz_log_discard, NULL, NULL);
		config = qa_config_new_default();
		if (!qa_config_set(config,
				   "allow-rpcs",
				   "guest-ping,guest-sync,guest-sync-delimited,guest-info",
				   NULL))
			fuzz_fail("cannot set allow-rpcs");
	}
	agent = (QaAgent){.config = config};
	dispatcher = qa_dispatcher_new(&agent, config, fuzz_reply, fuzz_gate, &state);
	state.dispatcher = dispatcher;
	qa_splitter_feed(splitter, data, size);
	while ((event = qa_splitter_next(splitter, &text, &len)) != QA_SPLITTER_NONE) {
		if (n_controls > 0)
			fuzz_control(dispatcher, &state, data[i++ % n_controls]);
		fuzz_hand_in(dispatcher, &state, event, text, len);
		fuzz_check_counts(dispatcher, &state);
	}
	state.is_open = TRUE;
	qa_dispatcher_resume(dispatcher);
	if (qa_dispatcher_get_n_waiting(dispatcher) != 0)
		fuzz_fail("requests still wait with the gate open");
	fuzz_check_counts(dispatcher, &state);
	return 0;
}
