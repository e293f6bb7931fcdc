/* Result or error -> one reply line: compact ASCII JSON, then '\n'. */
#pragma once

#include <glib.h>
#include "json.h"

const gchar *
qa_reply_error_class(const GError *error);
/* @value: the return value as JSON text (written by the marshallers); @id may be NULL;
 * @delimited prefixes the line with 0xFF */
GString *
qa_reply_encode_return_text(const GString *value, const QaJson *id, gboolean delimited);
GString *
qa_reply_encode_error(const GError *error, const QaJson *id);
