/* Joins a channel to the protocol: bytes from the host go through the splitter to the
 * dispatcher, replies go back to the host that asked. Main thread only. */
#pragma once

#include <glib.h>

#include "agent.h"

#define QA_SESSION_MAX_REQUEST (1024 * 1024) /* bytes in one request */
/* requests waiting behind a running worker command; beyond this the host is not read from */
#define QA_SESSION_MAX_WAITING 1024

typedef struct _QaSession QaSession;

QaSession *
qa_session_new(
    QaAgent *agent, const gchar *method, const gchar *path, gint activated_fd, GError **error);
void
qa_session_free(QaSession *session);
gboolean
qa_session_is_busy(QaSession *session);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaSession, qa_session_free)
