/* Request text -> command -> reply line. Main-loop commands are answered before
 * qa_dispatcher_handle_text() returns; worker commands run one at a time, in arrival order, on
 * the dispatcher's worker thread, and their reply is delivered later on the main thread. The
 * @tag given with a request comes back with its reply so the caller can drop replies meant for
 * a host that has gone away. */
#pragma once

#include <glib.h>

#include "config.h"
#include "schema-runtime.h"

typedef struct _QaDispatcher QaDispatcher;

/* called on the main thread once for every request handed in; @line is the whole reply
 * including '\n', or NULL for a request that succeeded without a reply */
typedef void (*QaReplyFunc)(const GString *line, guint64 tag, gpointer user_data);

#define QA_DISPATCH_MAX_DEPTH 64

QaDispatcher *
qa_dispatcher_new(QaAgent *agent,
		  const QaConfig *config,
		  QaReplyFunc func,
		  gpointer user_data);
void
qa_dispatcher_free(QaDispatcher *dispatcher);
void
qa_dispatcher_handle_text(QaDispatcher *dispatcher, const gchar *text, gsize len, guint64 tag);
void
qa_dispatcher_handle_error(QaDispatcher *dispatcher, const GError *error, guint64 tag);
gboolean
qa_dispatcher_is_busy(QaDispatcher *dispatcher);
/* requests waiting behind the running worker command */
guint
qa_dispatcher_get_n_waiting(QaDispatcher *dispatcher);
const QaCommandDef *
qa_dispatch_lookup(const gchar *name);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaDispatcher, qa_dispatcher_free)
