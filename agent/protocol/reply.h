/* Result or error -> one reply line: compact ASCII JSON, then '\n'. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

const gchar *
qa_reply_error_class(const GError *error);
/* takes nothing; @id may be NULL; @delimited prefixes the line with 0xFF */
GString *
qa_reply_encode_return(JsonNode *value, JsonNode *id, gboolean delimited);
/* the same, with the return value already written as JSON text (by the marshallers) */
GString *
qa_reply_encode_return_text(const GString *value, JsonNode *id, gboolean delimited);
GString *
qa_reply_encode_error(const GError *error, JsonNode *id);
