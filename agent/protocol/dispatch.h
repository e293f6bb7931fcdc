/* Request text -> command -> reply line. Main-loop commands are answered before
 * qa_dispatcher_handle_text() returns; worker commands run one at a time, in arrival order, on
 * the dispatcher's worker thread, and their reply is delivered later on the main thread. The
 * @tag given with a request comes back with its reply so the caller can drop replies meant for
 * a host that has gone away.
 *
 * A request that has to wait for earlier ones is kept as its text, and parsed again when it
 * starts: a parsed tree costs up to 100 bytes a value, its text as little as two, so what waits is
 * counted (qa_dispatcher_get_waiting_bytes()) in about the bytes the host sent. */
#pragma once

#include <glib.h>

#include "config.h"
#include "json.h"
#include "schema-runtime.h"

typedef struct _QaDispatcher QaDispatcher;

/* called on the main thread once for every request handed in and not dropped; @line is the
 * whole reply including '\n', or NULL for a request that succeeded without a reply; @command
 * is the command's name, NULL for a request that named none that can run */
typedef void (*QaReplyFunc)(const GString *line,
			    guint64 tag,
			    const gchar *command,
			    gpointer user_data);
/* whether waiting requests may start now (FALSE, e.g., while the host has not read the replies
 * it has); once it would say TRUE again, call qa_dispatcher_resume() */
typedef gboolean (*QaGateFunc)(gpointer user_data);

#define QA_DISPATCH_MAX_DEPTH 64
/* values in one request: a tree costs up to 100 bytes a value (an object of one member), so at
 * most some 6 MiB, where 1 MiB of text can hold 512 Ki values; the largest requests a client
 * sends (guest-set-memory-blocks of thousands of blocks) hold a few tens of thousands */
#define QA_DISPATCH_MAX_VALUES (64 * 1024)
/* members of one object: no command takes more than a dozen arguments */
#define QA_DISPATCH_MAX_MEMBERS 1024

/* the limits every request is read with */
extern const QaJsonLimits qa_dispatch_limits;

QaDispatcher *
qa_dispatcher_new(
    QaAgent *agent, const QaConfig *config, QaReplyFunc func, QaGateFunc gate, gpointer user_data);
void
qa_dispatcher_free(QaDispatcher *dispatcher);
void
qa_dispatcher_handle_text(QaDispatcher *dispatcher, const gchar *text, gsize len, guint64 tag);
void
qa_dispatcher_handle_error(QaDispatcher *dispatcher, const GError *error, guint64 tag);
/* starts the waiting requests the gate held back */
void
qa_dispatcher_resume(QaDispatcher *dispatcher);
/* Drops the waiting requests (not started yet) of every tag but @keep_tag, one log line each
 * naming the command, except guest-fsfreeze-thaw: a departed host cannot learn that a freeze
 * ran, and a thaw can only undo one. Returns how many were dropped. */
guint
qa_dispatcher_drop_waiting(QaDispatcher *dispatcher, guint64 keep_tag);
gboolean
qa_dispatcher_is_busy(QaDispatcher *dispatcher);
/* requests waiting behind running ones, and the bytes they hold */
guint
qa_dispatcher_get_n_waiting(QaDispatcher *dispatcher);
gsize
qa_dispatcher_get_waiting_bytes(QaDispatcher *dispatcher);
const QaCommandDef *
qa_dispatch_lookup(const gchar *name);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaDispatcher, qa_dispatcher_free)
