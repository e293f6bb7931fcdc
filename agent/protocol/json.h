/* JSON text <-> a value tree of the agent's own, the way the guest-agent protocol needs it.
 *
 * The agent reads requests and writes replies itself, strictly: a request that means something
 * else than it says (an integer out of the 64-bit range, a key given twice, a comment, trailing
 * garbage) must be refused, not quietly reinterpreted. The reader accepts RFC 8259 JSON plus the
 * one extension QEMU's agent accepts and admins type: single-quoted strings. Integers that do not
 * fit in 64 bits are read as doubles, so schema validation can say they are out of range; a
 * number keeps its text where its value would not give that text back, so a request's id is
 * echoed as it was sent (1e999, 18446744073709551616, -0).
 *
 * What one text may cost is bounded by QaJsonLimits: nesting depth, values in the whole text
 * (a tree costs 30 to 100 bytes a value, whatever the text spent on it) and members per object.
 * Objects of more than a few members are indexed with a hash keyed at random once per process,
 * so that keys chosen to collide cannot make the index a list.
 *
 * The tree is plain data, owned by whoever parsed it and read from one thread at a time; it
 * needs no type system, so the agent links no object system and loads none at start-up. */
#pragma once

#include <glib.h>
#include <string.h>

typedef enum {
	QA_JSON_NULL,
	QA_JSON_BOOLEAN,
	QA_JSON_INTEGER,
	QA_JSON_DOUBLE, /* also an integer too large for 64 bits */
	QA_JSON_STRING,
	QA_JSON_ARRAY,
	QA_JSON_OBJECT,
} QaJsonType;

typedef struct _QaJson QaJson;

typedef struct {
	gchar *name;
	QaJson *value;
} QaJsonMember;

struct _QaJson {
	QaJsonType type;
	union {
		gboolean boolean;
		struct {
			union {
				gint64 integer; /* QA_JSON_INTEGER */
				gdouble number; /* QA_JSON_DOUBLE */
			};
			/* the number as the text spelt it, when writing the value would not give
			 * that back: every double, and -0; else NULL */
			gchar *text;
		};
		gchar *string;
		GPtrArray *elements; /* of QaJson, owned; NULL when empty */
		struct {
			/* of QaJsonMember in text order, owned; NULL when empty */
			GArray *members;
			GHashTable *index; /* name -> position + 1, once an object is large */
		} object;
	};
};

void
qa_json_free(QaJson *value);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaJson, qa_json_free)

QaJson *
qa_json_new_integer(gint64 integer);
/* copies @str */
QaJson *
qa_json_new_string(const gchar *str);

/* the member of @object called @name, or NULL */
QaJson *
qa_json_object_get(const QaJson *object, const gchar *name);

static inline guint
qa_json_object_size(const QaJson *object)
{
	return object->object.members != NULL ? object->object.members->len : 0;
}

static inline const QaJsonMember *
qa_json_object_member(const QaJson *object, guint i)
{
	return &g_array_index(object->object.members, QaJsonMember, i);
}

/* what one text may cost the reader; every limit is inclusive */
typedef struct {
	guint max_depth;   /* nesting: the outermost object or array is level 1 */
	guint max_values;  /* values in the whole text, containers included */
	guint max_members; /* members of one object */
} QaJsonLimits;

/* The error is QA_PROTOCOL_ERROR_PARSE for text that is not JSON, QA_PROTOCOL_ERROR_TOO_DEEP
 * or QA_PROTOCOL_ERROR_TOO_LARGE for JSON over one of @limits. */
static inline guint
qa_json_array_size(const QaJson *array)
{
	return array->elements != NULL ? array->elements->len : 0;
}

static inline const QaJson *
qa_json_array_element(const QaJson *array, guint i)
{
	return g_ptr_array_index(array->elements, i);
}

QaJson *
qa_json_parse(const gchar *text, gsize len, const QaJsonLimits *limits, GError **error);

/* The hash of an object's index: SipHash-2-4 of the name under a key drawn at random once per
 * process (GLib's g_str_hash is unkeyed, so a host could send names that all collide). */
guint
qa_json_name_hash(gconstpointer name);

/* what a value is, for error messages: "an object", "a string", "a number that is not a 64-bit
 * integer", ... */
const gchar *
qa_json_describe(const QaJson *value);

/* compact, ASCII only: every non-ASCII character is written as \uXXXX */
void
qa_json_write(GString *out, const QaJson *value);
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
