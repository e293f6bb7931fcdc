/* Joins a channel to the protocol: bytes from the host go through the splitter to the
 * dispatcher, replies go back to the host that asked. Main thread only.
 *
 * What one host can make the agent hold is bounded between requests, not per read: the agent
 * takes the next request only while fewer than QA_SESSION_MAX_WAITING requests, holding less
 * than QA_SESSION_MAX_WAITING_BYTES, wait behind running ones, and while less than
 * QA_CHANNEL_OUTPUT_HIGH of replies wait for the host to read them. Beyond that the rest of its
 * input stays unread in the channel. */
#pragma once

#include <glib.h>

#include "agent.h"

#define QA_SESSION_MAX_REQUEST (1024 * 1024) /* bytes in one request */
/* requests waiting behind a running command, and what they hold (their text, about what the
 * host sent): beyond either, the host is not read from */
#define QA_SESSION_MAX_WAITING 1024
#define QA_SESSION_MAX_WAITING_BYTES (1024 * 1024)

typedef struct _QaSession QaSession;

QaSession *
qa_session_new(
    QaAgent *agent, const gchar *method, const gchar *path, gint activated_fd, GError **error);
void
qa_session_free(QaSession *session);
gboolean
qa_session_is_busy(QaSession *session);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaSession, qa_session_free)
