#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qa-error.h"

/* objects up to this size are searched member by member; larger ones get an index (keyed: see
 * qa_json_name_hash()), so that finding a key given twice stays linear up to the member limit */
#define QA_JSON_INDEX_FROM 16

static QaJson *
qa_json_new(QaJsonType type)
{
	QaJson *value = g_new0(QaJson, 1);

	value->type = type;
	return value;
}

QaJson *
qa_json_new_integer(gint64 integer)
{
	QaJson *value = qa_json_new(QA_JSON_INTEGER);

	value->integer = integer;
	return value;
}

static QaJson *
qa_json_new_string_take(gchar *str)
{
	QaJson *value = qa_json_new(QA_JSON_STRING);

	value->string = str;
	return value;
}

QaJson *
qa_json_new_string(const gchar *str)
{
	return qa_json_new_string_take(g_strdup(str));
}

static void
qa_json_member_clear(gpointer data)
{
	QaJsonMember *member = data;

	g_free(member->name);
	qa_json_free(member->value);
}

static QaJson *
qa_json_new_object(void)
{
	/* its members are allocated with the first: {} is one node, as small as 0 */
	return qa_json_new(QA_JSON_OBJECT);
}

static QaJson *
qa_json_new_array(void)
{
	/* its elements are allocated with the first, as an object's members are */
	return qa_json_new(QA_JSON_ARRAY);
}

void
qa_json_free(QaJson *value)
{
	if (value == NULL)
		return;
	switch (value->type) {
	case QA_JSON_STRING:
		g_free(value->string);
		break;
	case QA_JSON_INTEGER:
	case QA_JSON_DOUBLE:
		g_free(value->text);
		break;
	case QA_JSON_ARRAY:
		g_clear_pointer(&value->elements, g_ptr_array_unref);
		break;
	case QA_JSON_OBJECT:
		g_clear_pointer(&value->object.index, g_hash_table_unref);
		g_clear_pointer(&value->object.members, g_array_unref);
		break;
	default:
		break;
	}
	g_free(value);
}

/* SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012): a hash an
 * attacker who does not know the key cannot make collide, cheap on short inputs */
#define QA_SIP_ROTL(x, b) (guint64)(((x) << (b)) | ((x) >> (64 - (b))))

static inline void
qa_json_sip_round(guint64 v[4])
{
	v[0] += v[1];
	v[1] = QA_SIP_ROTL(v[1], 13);
	v[1] ^= v[0];
	v[0] = QA_SIP_ROTL(v[0], 32);
	v[2] += v[3];
	v[3] = QA_SIP_ROTL(v[3], 16);
	v[3] ^= v[2];
	v[0] += v[3];
	v[3] = QA_SIP_ROTL(v[3], 21);
	v[3] ^= v[0];
	v[2] += v[1];
	v[1] = QA_SIP_ROTL(v[1], 17);
	v[1] ^= v[2];
	v[2] = QA_SIP_ROTL(v[2], 32);
}

static guint64
qa_json_siphash(const guint8 *data, gsize len, const guint64 key[2])
{
	guint64 v[4] = {
	    key[0] ^ G_GUINT64_CONSTANT(0x736f6d6570736575),
	    key[1] ^ G_GUINT64_CONSTANT(0x646f72616e646f6d),
	    key[0] ^ G_GUINT64_CONSTANT(0x6c7967656e657261),
	    key[1] ^ G_GUINT64_CONSTANT(0x7465646279746573),
	};
	guint64 last = (guint64)len << 56;
	gsize whole = len - len % 8;

	for (gsize i = 0; i < whole; i += 8) {
		guint64 m;

		memcpy(&m, data + i, sizeof(m));
		m = GUINT64_FROM_LE(m);
		v[3] ^= m;
		qa_json_sip_round(v);
		qa_json_sip_round(v);
		v[0] ^= m;
	}
	for (gsize i = whole; i < len; i++)
		last |= (guint64)data[i] << (8 * (i - whole));
	v[3] ^= last;
	qa_json_sip_round(v);
	qa_json_sip_round(v);
	v[0] ^= last;
	v[2] ^= 0xff;
	for (guint i = 0; i < 4; i++)
		qa_json_sip_round(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* Drawn once, at the first index, from GLib's generator (seeded from /dev/urandom) and never
 * changed after: the process's one piece of state here, written before anything reads it. */
static const guint64 *
qa_json_hash_key(void)
{
	static guint64 key[2];
	static gsize is_drawn = 0;

	if (g_once_init_enter(&is_drawn)) {
		for (guint i = 0; i < G_N_ELEMENTS(key); i++)
			key[i] = (guint64)g_random_int() << 32 | g_random_int();
		g_once_init_leave(&is_drawn, 1);
	}
	return key;
}

guint
qa_json_name_hash(gconstpointer name)
{
	const gchar *str = name;

	return (guint)qa_json_siphash((const guint8 *)str, strlen(str), qa_json_hash_key());
}

QaJson *
qa_json_object_get(const QaJson *object, const gchar *name)
{
	GArray *members = object->object.members;

	if (members == NULL)
		return NULL;
	if (object->object.index != NULL) {
		guint pos = GPOINTER_TO_UINT(g_hash_table_lookup(object->object.index, name));

		return pos == 0 ? NULL : g_array_index(members, QaJsonMember, pos - 1).value;
	}
	for (guint i = 0; i < members->len; i++) {
		if (strcmp(g_array_index(members, QaJsonMember, i).name, name) == 0)
			return g_array_index(members, QaJsonMember, i).value;
	}
	return NULL;
}

/* takes @name and @member */
static void
qa_json_object_add(QaJson *object, gchar *name, QaJson *member)
{
	GArray *members = object->object.members;
	QaJsonMember entry = {name, member};

	if (members == NULL) {
		members = object->object.members = g_array_new(FALSE, FALSE, sizeof(QaJsonMember));
		g_array_set_clear_func(members, qa_json_member_clear);
	}
	g_array_append_val(members, entry);
	if (object->object.index == NULL && members->len >= QA_JSON_INDEX_FROM) {
		/* the names are owned by the members; the index only points at them */
		object->object.index = g_hash_table_new(qa_json_name_hash, g_str_equal);
		for (guint i = 0; i + 1 < members->len; i++)
			g_hash_table_insert(object->object.index,
					    g_array_index(members, QaJsonMember, i).name,
					    GUINT_TO_POINTER(i + 1));
	}
	if (object->object.index != NULL)
		g_hash_table_insert(object->object.index, name, GUINT_TO_POINTER(members->len));
}

typedef struct {
	const gchar *text;
	gsize len;
	gsize pos;
	guint depth;
	guint n_values;
	const QaJsonLimits *limits;
	GString *scratch; /* the string being read */
} QaJsonReader;

static QaJson *
qa_json_read_value(QaJsonReader *r, GError **error);

static gboolean
qa_json_fail(QaJsonReader *r, GError **error, const gchar *expected)
{
	if (r->pos >= r->len) {
		g_set_error(error,
			    QA_PROTOCOL_ERROR,
			    QA_PROTOCOL_ERROR_PARSE,
			    "Invalid JSON: the text ends where %s was expected",
			    expected);
	} else {
		guchar c = (guchar)r->text[r->pos];
		g_set_error(error,
			    QA_PROTOCOL_ERROR,
			    QA_PROTOCOL_ERROR_PARSE,
			    g_ascii_isprint(c) ? "Invalid JSON at byte %" G_GSIZE_FORMAT
						 ": found '%c' where %s was expected"
					       : "Invalid JSON at byte %" G_GSIZE_FORMAT
						 ": found byte 0x%02x where %s was expected",
			    r->pos,
			    c,
			    expected);
	}
	return FALSE;
}

static void
qa_json_skip_space(QaJsonReader *r)
{
	while (r->pos < r->len && strchr(" \t\r\n", r->text[r->pos]) != NULL && r->text[r->pos])
		r->pos++;
}

static gboolean
qa_json_read_hex4(QaJsonReader *r, gunichar *out, GError **error)
{
	gunichar value = 0;

	for (guint i = 0; i < 4; i++) {
		gint digit;

		if (r->pos >= r->len || (digit = g_ascii_xdigit_value(r->text[r->pos])) < 0)
			return qa_json_fail(r, error, "four hexadecimal digits after \\u");
		value = value * 16 + (gunichar)digit;
		r->pos++;
	}
	*out = value;
	return TRUE;
}

static gboolean
qa_json_read_escape(QaJsonReader *r, GString *out, GError **error)
{
	gunichar ch;
	const gchar *simple = "\"\\/'bfnrt";
	const gchar *mapped = "\"\\/'\b\f\n\r\t";
	const gchar *hit;

	if (r->pos >= r->len)
		return qa_json_fail(r, error, "an escape sequence");
	hit = strchr(simple, r->text[r->pos]);
	if (hit != NULL && r->text[r->pos] != '\0') {
		g_string_append_c(out, mapped[hit - simple]);
		r->pos++;
		return TRUE;
	}
	if (r->text[r->pos] != 'u')
		return qa_json_fail(r, error, "one of \\\" \\\\ \\/ \\' \\b \\f \\n \\r \\t \\u");
	r->pos++;
	if (!qa_json_read_hex4(r, &ch, error))
		return FALSE;
	if (ch >= 0xD800 && ch < 0xDC00) {
		gunichar low;

		if (r->pos + 1 >= r->len || r->text[r->pos] != '\\' || r->text[r->pos + 1] != 'u')
			return qa_json_fail(r, error, "the low half of a UTF-16 surrogate pair");
		r->pos += 2;
		if (!qa_json_read_hex4(r, &low, error))
			return FALSE;
		if (low < 0xDC00 || low >= 0xE000)
			return qa_json_fail(r, error, "the low half of a UTF-16 surrogate pair");
		ch = 0x10000 + ((ch - 0xD800) << 10) + (low - 0xDC00);
	} else if (ch >= 0xDC00 && ch < 0xE000) {
		return qa_json_fail(r, error, "a character, not a lone UTF-16 surrogate");
	}
	if (ch == 0) {
		/* C strings end at NUL: a name with one inside could not mean what it says */
		r->pos -= 6;
		return qa_json_fail(r, error, "a character other than NUL (\\u0000)");
	}
	g_string_append_unichar(out, ch);
	return TRUE;
}

static gchar *
qa_json_read_string(QaJsonReader *r, GError **error)
{
	gchar quote = r->text[r->pos++];
	GString *out = r->scratch;

	/* decoded into the reader's buffer, then copied at its size: a GString of its own would
	 * keep at least 128 bytes for every string, where most are names of a few */
	g_string_truncate(out, 0);
	while (r->pos < r->len) {
		guchar c = (guchar)r->text[r->pos];

		if (c == (guchar)quote) {
			r->pos++;
			return g_strndup(out->str, out->len);
		}
		if (c < 0x20) {
			qa_json_fail(
			    r, error, "a printable character (control characters must be escaped)");
			return NULL;
		}
		r->pos++;
		if (c == '\\') {
			if (!qa_json_read_escape(r, out, error))
				return NULL;
			continue;
		}
		g_string_append_c(out, (gchar)c);
	}
	qa_json_fail(r, error, "the closing quote of a string");
	return NULL;
}

static QaJson *
qa_json_read_number(QaJsonReader *r, GError **error)
{
	gsize begin = r->pos;
	gboolean is_integer = TRUE;
	g_autofree gchar *token = NULL;
	QaJson *node;

	if (r->pos < r->len && r->text[r->pos] == '-')
		r->pos++;
	if (r->pos < r->len && r->text[r->pos] == '0') {
		r->pos++;
	} else if (r->pos < r->len && g_ascii_isdigit(r->text[r->pos])) {
		while (r->pos < r->len && g_ascii_isdigit(r->text[r->pos]))
			r->pos++;
	} else {
		qa_json_fail(r, error, "a value");
		return NULL;
	}
	if (r->pos < r->len && r->text[r->pos] == '.') {
		is_integer = FALSE;
		r->pos++;
		if (r->pos >= r->len || !g_ascii_isdigit(r->text[r->pos])) {
			qa_json_fail(r, error, "a digit after the decimal point");
			return NULL;
		}
		while (r->pos < r->len && g_ascii_isdigit(r->text[r->pos]))
			r->pos++;
	}
	if (r->pos < r->len && (r->text[r->pos] == 'e' || r->text[r->pos] == 'E')) {
		is_integer = FALSE;
		r->pos++;
		if (r->pos < r->len && (r->text[r->pos] == '+' || r->text[r->pos] == '-'))
			r->pos++;
		if (r->pos >= r->len || !g_ascii_isdigit(r->text[r->pos])) {
			qa_json_fail(r, error, "a digit in the exponent");
			return NULL;
		}
		while (r->pos < r->len && g_ascii_isdigit(r->text[r->pos]))
			r->pos++;
	}
	token = g_strndup(r->text + begin, r->pos - begin);
	if (is_integer) {
		gint64 value;

		errno = 0;
		value = g_ascii_strtoll(token, NULL, 10);
		if (errno == 0) {
			node = qa_json_new_integer(value);
			/* "-0" is the integer 0, but an id must come back as it was sent */
			if (value == 0 && token[0] == '-')
				node->text = g_steal_pointer(&token);
			return node;
		}
	}
	/* a double's text is kept as it was: printing the value back would turn 1e999 into
	 * null, 18446744073709551616 into 1.8446744073709552e+19 and 1.50 into 1.5 */
	node = qa_json_new(QA_JSON_DOUBLE);
	node->number = g_ascii_strtod(token, NULL);
	node->text = g_steal_pointer(&token);
	return node;
}

static gboolean
qa_json_enter(QaJsonReader *r, GError **error)
{
	if (++r->depth > r->limits->max_depth) {
		g_set_error(error,
			    QA_PROTOCOL_ERROR,
			    QA_PROTOCOL_ERROR_TOO_DEEP,
			    "Invalid request: nested deeper than %u levels",
			    r->limits->max_depth);
		return FALSE;
	}
	r->pos++;
	qa_json_skip_space(r);
	return TRUE;
}

static void
qa_json_set_duplicate_error(const gchar *key, GError **error)
{
	/* a key can be a megabyte long: the error (and the log line) quotes its start */
	glong n_chars = g_utf8_strlen(key, -1);
	g_autofree gchar *shown = g_utf8_substring(key, 0, MIN(n_chars, 64));

	g_set_error(error,
		    QA_PROTOCOL_ERROR,
		    QA_PROTOCOL_ERROR_PARSE,
		    "Invalid JSON: member '%s%s' appears twice in one object",
		    shown,
		    n_chars > 64 ? "..." : "");
}

static QaJson *
qa_json_read_object(QaJsonReader *r, GError **error)
{
	g_autoptr(QaJson) object = qa_json_new_object();

	if (!qa_json_enter(r, error))
		return NULL;
	if (r->pos < r->len && r->text[r->pos] == '}') {
		r->pos++;
	} else {
		for (;;) {
			g_autofree gchar *key = NULL;
			QaJson *member;

			qa_json_skip_space(r);
			if (r->pos >= r->len ||
			    (r->text[r->pos] != '"' && r->text[r->pos] != '\'')) {
				qa_json_fail(r, error, "a member name in quotes");
				return NULL;
			}
			if (qa_json_object_size(object) >= r->limits->max_members) {
				g_set_error(error,
					    QA_PROTOCOL_ERROR,
					    QA_PROTOCOL_ERROR_TOO_LARGE,
					    "Invalid request: an object has more than %u members",
					    r->limits->max_members);
				return NULL;
			}
			key = qa_json_read_string(r, error);
			if (key == NULL)
				return NULL;
			if (qa_json_object_get(object, key) != NULL) {
				qa_json_set_duplicate_error(key, error);
				return NULL;
			}
			qa_json_skip_space(r);
			if (r->pos >= r->len || r->text[r->pos] != ':') {
				qa_json_fail(r, error, "':' after a member name");
				return NULL;
			}
			r->pos++;
			member = qa_json_read_value(r, error);
			if (member == NULL)
				return NULL;
			qa_json_object_add(object, g_steal_pointer(&key), member);
			qa_json_skip_space(r);
			if (r->pos < r->len && r->text[r->pos] == ',') {
				r->pos++;
				continue;
			}
			if (r->pos < r->len && r->text[r->pos] == '}') {
				r->pos++;
				break;
			}
			qa_json_fail(r, error, "',' or '}'");
			return NULL;
		}
	}
	r->depth--;
	return g_steal_pointer(&object);
}

static QaJson *
qa_json_read_array(QaJsonReader *r, GError **error)
{
	g_autoptr(QaJson) array = qa_json_new_array();

	if (!qa_json_enter(r, error))
		return NULL;
	if (r->pos < r->len && r->text[r->pos] == ']') {
		r->pos++;
	} else {
		for (;;) {
			QaJson *element = qa_json_read_value(r, error);

			if (element == NULL)
				return NULL;
			if (array->elements == NULL)
				array->elements =
				    g_ptr_array_new_with_free_func((GDestroyNotify)qa_json_free);
			g_ptr_array_add(array->elements, element);
			qa_json_skip_space(r);
			if (r->pos < r->len && r->text[r->pos] == ',') {
				r->pos++;
				continue;
			}
			if (r->pos < r->len && r->text[r->pos] == ']') {
				r->pos++;
				break;
			}
			qa_json_fail(r, error, "',' or ']'");
			return NULL;
		}
	}
	r->depth--;
	return g_steal_pointer(&array);
}

static QaJson *
qa_json_read_literal(QaJsonReader *r, GError **error)
{
	static const struct {
		const gchar *word;
		gint value; /* -1 null, else boolean */
	} literals[] = {{"true", 1}, {"false", 0}, {"null", -1}};

	for (guint i = 0; i < G_N_ELEMENTS(literals); i++) {
		gsize n = strlen(literals[i].word);
		QaJson *node;

		if (r->len - r->pos < n || memcmp(r->text + r->pos, literals[i].word, n) != 0)
			continue;
		r->pos += n;
		if (literals[i].value < 0)
			return qa_json_new(QA_JSON_NULL);
		node = qa_json_new(QA_JSON_BOOLEAN);
		node->boolean = literals[i].value == 1;
		return node;
	}
	qa_json_fail(r, error, "a value");
	return NULL;
}

static QaJson *
qa_json_read_value(QaJsonReader *r, GError **error)
{
	gchar c;

	qa_json_skip_space(r);
	if (r->pos >= r->len) {
		qa_json_fail(r, error, "a value");
		return NULL;
	}
	if (++r->n_values > r->limits->max_values) {
		g_set_error(error,
			    QA_PROTOCOL_ERROR,
			    QA_PROTOCOL_ERROR_TOO_LARGE,
			    "Invalid request: more than %u values",
			    r->limits->max_values);
		return NULL;
	}
	c = r->text[r->pos];
	if (c == '{')
		return qa_json_read_object(r, error);
	if (c == '[')
		return qa_json_read_array(r, error);
	if (c == '"' || c == '\'') {
		gchar *str = qa_json_read_string(r, error);

		return str == NULL ? NULL : qa_json_new_string_take(str);
	}
	if (c == '-' || g_ascii_isdigit(c))
		return qa_json_read_number(r, error);
	return qa_json_read_literal(r, error);
}

QaJson *
qa_json_parse(const gchar *text, gsize len, const QaJsonLimits *limits, GError **error)
{
	g_autoptr(GString) scratch = g_string_new(NULL);
	QaJsonReader r = {.text = text, .len = len, .limits = limits, .scratch = scratch};
	const gchar *bad = NULL;
	g_autoptr(QaJson) node = NULL;

	/* rejects invalid and overlong sequences, surrogates and NUL bytes in one pass */
	if (!g_utf8_validate_len(text, len, &bad)) {
		g_set_error(
		    error,
		    QA_PROTOCOL_ERROR,
		    QA_PROTOCOL_ERROR_PARSE,
		    "Invalid JSON at byte %" G_GSIZE_FORMAT
		    ": byte 0x%02x is not part of valid UTF-8 text (NUL is not allowed either)",
		    (gsize)(bad - text),
		    (guchar)*bad);
		return NULL;
	}
	node = qa_json_read_value(&r, error);
	if (node == NULL)
		return NULL;
	qa_json_skip_space(&r);
	if (r.pos != r.len) {
		qa_json_fail(&r, error, "the end of the value");
		return NULL;
	}
	return g_steal_pointer(&node);
}

/* ---------------------------------------------------------------------------------------- */

const gchar *
qa_json_describe(const QaJson *value)
{
	switch (value->type) {
	case QA_JSON_OBJECT:
		return "an object";
	case QA_JSON_ARRAY:
		return "an array";
	case QA_JSON_NULL:
		return "null";
	case QA_JSON_STRING:
		return "a string";
	case QA_JSON_BOOLEAN:
		return "a boolean";
	case QA_JSON_INTEGER:
		return "an integer";
	case QA_JSON_DOUBLE:
		return "a number that is not a 64-bit integer";
	}
	return "a value of unknown type";
}

static void
qa_json_write_char(GString *out, gunichar ch)
{
	switch (ch) {
	case '"':
		g_string_append(out, "\\\"");
		return;
	case '\\':
		g_string_append(out, "\\\\");
		return;
	case '\n':
		g_string_append(out, "\\n");
		return;
	case '\r':
		g_string_append(out, "\\r");
		return;
	case '\t':
		g_string_append(out, "\\t");
		return;
	default:
		break;
	}
	if (ch >= 0x20 && ch < 0x7f) {
		g_string_append_c(out, (gchar)ch);
	} else if (ch < 0x10000) {
		g_string_append_printf(out, "\\u%04x", ch);
	} else {
		ch -= 0x10000;
		g_string_append_printf(
		    out, "\\u%04x\\u%04x", 0xD800 + (ch >> 10), 0xDC00 + (ch & 0x3FF));
	}
}

void
qa_json_write_string(GString *out, const gchar *str)
{
	/* printable ASCII that needs no escape: everything from 0x20 to 0x7e but '"' and '\\' */
	static const guint8 is_plain[256] = {
	    [0x20 ... 0x21] = 1,
	    [0x23 ... 0x5b] = 1,
	    [0x5d ... 0x7e] = 1,
	};
	const gchar *end = str + strlen(str);

	g_string_append_c(out, '"');
	for (const gchar *p = str; p < end;) {
		const gchar *run = p;
		gunichar ch;

		/* runs of plain characters are copied in one go */
		while (p < end && is_plain[(guchar)*p])
			p++;
		if (p > run)
			qa_json_append_len(out, run, p - run);
		if (p >= end)
			break;
		ch = g_utf8_get_char_validated(p, end - p);
		if (ch == (gunichar)-1 || ch == (gunichar)-2) {
			/* a path can be any bytes; JSON text cannot: mark each bad byte visibly */
			g_string_append(out, "\\ufffd");
			p++;
			continue;
		}
		qa_json_write_char(out, ch);
		p = g_utf8_next_char(p);
	}
	g_string_append_c(out, '"');
}

void
qa_json_write(GString *out, const QaJson *value)
{
	switch (value->type) {
	case QA_JSON_OBJECT:
		g_string_append_c(out, '{');
		for (guint i = 0; i < qa_json_object_size(value); i++) {
			const QaJsonMember *member = qa_json_object_member(value, i);

			if (i > 0)
				g_string_append_c(out, ',');
			qa_json_write_string(out, member->name);
			g_string_append_c(out, ':');
			qa_json_write(out, member->value);
		}
		g_string_append_c(out, '}');
		break;
	case QA_JSON_ARRAY:
		g_string_append_c(out, '[');
		for (guint i = 0; i < qa_json_array_size(value); i++) {
			if (i > 0)
				g_string_append_c(out, ',');
			qa_json_write(out, qa_json_array_element(value, i));
		}
		g_string_append_c(out, ']');
		break;
	case QA_JSON_STRING:
		qa_json_write_string(out, value->string);
		break;
	case QA_JSON_INTEGER:
		if (value->text != NULL)
			g_string_append(out, value->text);
		else
			g_string_append_printf(out, "%" G_GINT64_FORMAT, value->integer);
		break;
	case QA_JSON_BOOLEAN:
		g_string_append(out, value->boolean ? "true" : "false");
		break;
	case QA_JSON_DOUBLE: {
		gchar buf[G_ASCII_DTOSTR_BUF_SIZE];

		if (value->text != NULL) {
			g_string_append(out, value->text);
			break;
		}
		if (!isfinite(value->number)) {
			g_string_append(out, "null"); /* JSON has no infinities */
			break;
		}
		g_string_append(out, g_ascii_dtostr(buf, sizeof(buf), value->number));
		break;
	}
	case QA_JSON_NULL:
		g_string_append(out, "null");
		break;
	}
}
