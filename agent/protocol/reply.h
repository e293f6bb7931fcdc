/* Result or error -> one reply line: compact ASCII JSON, then '\n'. */
#pragma once

#include <glib.h>

#include "json.h"

const gchar *
qa_reply_error_class(const GError *error);
/* A success reply is written in place: qa_reply_return_begin() starts the line (@delimited
 * prefixes it with 0xFF), a marshaller appends the return value, qa_reply_return_end() closes
 * it with @id and gives it back. @id is the request's id as JSON text (QaRequest.id), copied
 * as it is; NULL when the request had none. */
GString *
qa_reply_return_begin(gboolean delimited);
GString *
qa_reply_return_end(GString *line, const gchar *id);
GString *
qa_reply_encode_error(const GError *error, const gchar *id);
