/* JSON text <-> json-glib trees, the way the guest-agent protocol needs it.
 *
 * json-glib 1.6's own parser silently wraps integers out of the 64-bit range, keeps the last of
 * duplicate keys and accepts comments and trailing garbage; a request that means something else
 * than it says must be refused instead, so requests are read by this strict parser. It accepts
 * RFC 8259 JSON plus the one extension QEMU's agent accepts and admins type: single-quoted
 * strings. Integers that do not fit in 64 bits are read as doubles, so schema validation can
 * say they are out of range. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <string.h>

JsonNode *
qa_json_parse(const gchar *text, gsize len, guint max_depth, GError **error);

/* what a value is, for error messages: "an object", "a string", "a number that is not a 64-bit
 * integer", ... */
const gchar *
qa_json_describe(JsonNode *node);

/* compact, ASCII only: every non-ASCII character is written as \uXXXX */
void
qa_json_write(GString *out, JsonNode *node);
/* @str as a JSON string, the way qa_json_write() writes strings */
void
qa_json_write_string(GString *out, const gchar *str);

/* g_string_append_len() without a call when the text fits: GLib 2.74 has no inline version,
 * and a reply of a thousand filesystems appends tens of thousands of short runs */
static inline void
qa_json_append_len(GString *out, const gchar *text, gsize len)
{
	if (out->len + len < out->allocated_len) {
		memcpy(out->str + out->len, text, len);
		out->len += len;
		out->str[out->len] = '\0';
		return;
	}
	g_string_append_len(out, text, len);
}
