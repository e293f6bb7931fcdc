#include "schema-runtime.h"

#include <math.h>

#include "json.h"
#include "qa-error.h"

#define QA_BUILTIN(kind_, name_, ctype_)                                                           \
	{                                                                                          \
		.kind = kind_, .name = name_, .size = sizeof(ctype_)                               \
	}
const QaTypeDesc qa_type_str = QA_BUILTIN(QA_KIND_STR, "str", gchar *);
const QaTypeDesc qa_type_int = QA_BUILTIN(QA_KIND_INT, "int", gint64);
const QaTypeDesc qa_type_uint64 = QA_BUILTIN(QA_KIND_UINT64, "uint64", guint64);
const QaTypeDesc qa_type_bool = QA_BUILTIN(QA_KIND_BOOL, "bool", gboolean);
const QaTypeDesc qa_type_number = QA_BUILTIN(QA_KIND_NUMBER, "number", gdouble);
const QaTypeDesc qa_type_str_list = {.kind = QA_KIND_LIST,
				     .name = "list of str",
				     .size = sizeof(GPtrArray *),
				     .element = &qa_type_str};

/* what the value must be, as the end of the sentence "must be ..." */
const gchar *
qa_schema_kind_describe(const QaTypeDesc *type)
{
	switch (type->kind) {
	case QA_KIND_STR:
		return "a string";
	case QA_KIND_INT:
		return "an integer between -9223372036854775808 and 9223372036854775807";
	case QA_KIND_UINT64:
		return "an integer between 0 and 9223372036854775807";
	case QA_KIND_BOOL:
		return "true or false";
	case QA_KIND_ENUM:
		return "one of the strings listed in the protocol reference";
	case QA_KIND_STRUCT:
		return "an object";
	case QA_KIND_LIST:
		return type->element->kind == QA_KIND_STR ? "an array of strings" : "an array";
	case QA_KIND_NUMBER:
		return "a number";
	case QA_KIND_ALTERNATE:
		return "one of the forms listed in the protocol reference";
	case QA_KIND_UNION:
		return "an object";
	}
	return "a value";
}

static gboolean
qa_schema_value_parse(const QaTypeDesc *type,
		      const QaJson *node,
		      gpointer dest,
		      const gchar *command,
		      const gchar *path,
		      GError **error);

static void
qa_schema_set_type_error(const QaTypeDesc *type,
			 const QaJson *node,
			 const gchar *command,
			 const gchar *path,
			 GError **error)
{
	g_set_error(error,
		    QA_PROTOCOL_ERROR,
		    QA_PROTOCOL_ERROR_INVALID_ARGUMENT,
		    "Argument '%s' of command '%s' must be %s, not %s",
		    path,
		    command,
		    qa_schema_kind_describe(type),
		    qa_json_describe(node));
}

static gboolean
qa_schema_list_parse(const QaTypeDesc *type,
		     const QaJson *node,
		     gpointer dest,
		     const gchar *command,
		     const gchar *path,
		     GError **error)
{
	guint n = qa_json_array_size(node);
	GDestroyNotify free_func =
	    type->element->kind == QA_KIND_STR ? g_free : type->element->free_func;
	g_autoptr(GPtrArray) list = g_ptr_array_new_full(n, free_func);

	for (guint i = 0; i < n; i++) {
		g_autofree gchar *elem_path = g_strdup_printf("%s[%u]", path, i);
		gpointer elem = NULL;

		if (!qa_schema_value_parse(type->element,
					   qa_json_array_element(node, i),
					   &elem,
					   command,
					   elem_path,
					   error))
			return FALSE;
		g_ptr_array_add(list, elem);
	}
	*(GPtrArray **)dest = g_steal_pointer(&list);
	return TRUE;
}

static gboolean
qa_schema_enum_parse(const QaTypeDesc *type,
		     const QaJson *node,
		     gpointer dest,
		     const gchar *command,
		     const gchar *path,
		     GError **error)
{
	const gchar *str = node->string;
	g_autofree gchar *allowed = g_strjoinv(", ", (gchar **)type->enum_values);

	for (guint i = 0; type->enum_values[i] != NULL; i++) {
		if (g_strcmp0(str, type->enum_values[i]) == 0) {
			*(gint *)dest = (gint)i;
			return TRUE;
		}
	}
	g_set_error(error,
		    QA_PROTOCOL_ERROR,
		    QA_PROTOCOL_ERROR_INVALID_ARGUMENT,
		    "Argument '%s' of command '%s' must be one of: %s; got '%s'",
		    path,
		    command,
		    allowed,
		    str);
	return FALSE;
}

static gboolean
qa_schema_members_parse(const QaTypeDesc *type,
			const QaJson *object,
			guint8 *base,
			const gchar *command,
			const gchar *prefix,
			GError **error);

/* whether a JSON value of @node's type can be a value of @type at all */
static gboolean
qa_schema_kind_accepts(const QaTypeDesc *type, const QaJson *node)
{
	switch (type->kind) {
	case QA_KIND_STR:
	case QA_KIND_ENUM:
		return node->type == QA_JSON_STRING;
	case QA_KIND_INT:
	case QA_KIND_UINT64:
		return node->type == QA_JSON_INTEGER || node->type == QA_JSON_DOUBLE;
	case QA_KIND_NUMBER:
		return node->type == QA_JSON_INTEGER || node->type == QA_JSON_DOUBLE;
	case QA_KIND_BOOL:
		return node->type == QA_JSON_BOOLEAN;
	case QA_KIND_LIST:
		return node->type == QA_JSON_ARRAY;
	case QA_KIND_STRUCT:
	case QA_KIND_UNION:
		return node->type == QA_JSON_OBJECT;
	case QA_KIND_ALTERNATE:
		return FALSE;
	}
	return FALSE;
}

/* An alternate's branch is the one whose type the JSON value has (QAPI requires the branches
 * to differ in that), so "whence": 0 and "whence": "set" both parse; the value itself is then
 * checked as that branch's type. */
static gboolean
qa_schema_alternate_parse(const QaTypeDesc *type,
			  const QaJson *node,
			  gpointer dest,
			  const gchar *command,
			  const gchar *path,
			  GError **error)
{
	g_autofree guint8 *value = NULL;
	g_autoptr(GString) forms = g_string_new(NULL);
	gint branch = 0;

	for (const QaMemberDesc *m = type->members; m->name != NULL; m++, branch++) {
		if (!qa_schema_kind_accepts(m->type, node)) {
			if (forms->len > 0)
				g_string_append(forms, " or ");
			if (m->type->kind == QA_KIND_ENUM) {
				g_autofree gchar *values =
				    g_strjoinv(", ", (gchar **)m->type->enum_values);
				g_string_append_printf(forms, "one of the strings %s", values);
			} else {
				g_string_append(forms, qa_schema_kind_describe(m->type));
			}
			continue;
		}
		value = g_malloc0(type->size);
		*(gint *)value = branch;
		if (!qa_schema_value_parse(
			m->type, node, value + m->offset, command, path, error)) {
			qa_schema_struct_free(type, g_steal_pointer(&value));
			return FALSE;
		}
		*(gpointer *)dest = g_steal_pointer(&value);
		return TRUE;
	}
	g_set_error(error,
		    QA_PROTOCOL_ERROR,
		    QA_PROTOCOL_ERROR_INVALID_ARGUMENT,
		    "Argument '%s' of command '%s' must be %s, not %s",
		    path,
		    command,
		    forms->str,
		    qa_json_describe(node));
	return FALSE;
}

static gboolean
qa_schema_value_parse(const QaTypeDesc *type,
		      const QaJson *node,
		      gpointer dest,
		      const gchar *command,
		      const gchar *path,
		      GError **error)
{
	switch (type->kind) {
	case QA_KIND_STR:
		if (node->type != QA_JSON_STRING)
			break;
		*(gchar **)dest = g_strdup(node->string);
		return TRUE;
	case QA_KIND_INT:
		if (node->type != QA_JSON_INTEGER)
			break;
		*(gint64 *)dest = node->integer;
		return TRUE;
	case QA_KIND_UINT64:
		if (node->type != QA_JSON_INTEGER || node->integer < 0)
			break;
		*(guint64 *)dest = (guint64)node->integer;
		return TRUE;
	case QA_KIND_BOOL:
		if (node->type != QA_JSON_BOOLEAN)
			break;
		*(gboolean *)dest = node->boolean;
		return TRUE;
	case QA_KIND_ENUM:
		if (node->type != QA_JSON_STRING)
			break;
		return qa_schema_enum_parse(type, node, dest, command, path, error);
	case QA_KIND_LIST:
		if (node->type != QA_JSON_ARRAY)
			break;
		return qa_schema_list_parse(type, node, dest, command, path, error);
	case QA_KIND_NUMBER:
		if (node->type == QA_JSON_INTEGER)
			*(gdouble *)dest = (gdouble)node->integer;
		else if (node->type == QA_JSON_DOUBLE)
			*(gdouble *)dest = node->number;
		else
			break;
		return TRUE;
	case QA_KIND_ALTERNATE:
		return qa_schema_alternate_parse(type, node, dest, command, path, error);
	case QA_KIND_UNION:
		/* the schema admits unions in replies only (generate.py checks it) */
		g_return_val_if_reached(FALSE);
	case QA_KIND_STRUCT: {
		g_autofree guint8 *value = NULL;
		g_autofree gchar *prefix = g_strconcat(path, ".", NULL);

		if (node->type != QA_JSON_OBJECT)
			break;
		value = g_malloc0(type->size);
		if (!qa_schema_members_parse(type, node, value, command, prefix, error)) {
			qa_schema_struct_free(type, g_steal_pointer(&value));
			return FALSE;
		}
		*(gpointer *)dest = g_steal_pointer(&value);
		return TRUE;
	}
	}
	qa_schema_set_type_error(type, node, command, path, error);
	return FALSE;
}

static gchar *
qa_schema_member_names(const QaTypeDesc *type)
{
	g_autoptr(GString) names = g_string_new(NULL);

	for (const QaMemberDesc *m = type->members; m->name != NULL; m++) {
		if (names->len > 0)
			g_string_append(names, ", ");
		g_string_append(names, m->name);
		if (m->optional)
			g_string_append(names, " (optional)");
	}
	return g_string_free(g_steal_pointer(&names), FALSE);
}

static gboolean
qa_schema_members_parse(const QaTypeDesc *type,
			const QaJson *object,
			guint8 *base,
			const gchar *command,
			const gchar *prefix,
			GError **error)
{
	/* unknown members first: a typo is the likeliest mistake, and naming it helps most */
	for (guint i = 0; object != NULL && i < qa_json_object_size(object); i++) {
		const gchar *key = qa_json_object_member(object, i)->name;
		const QaMemberDesc *m = type->members;

		while (m->name != NULL && g_strcmp0(m->name, key) != 0)
			m++;
		if (m->name == NULL) {
			g_autofree gchar *names = qa_schema_member_names(type);
			g_set_error(error,
				    QA_PROTOCOL_ERROR,
				    QA_PROTOCOL_ERROR_INVALID_ARGUMENT,
				    "Command '%s' has no argument '%s%s'; %s%s",
				    command,
				    prefix,
				    key,
				    names[0] != '\0' ? "expected: " : "it takes none",
				    names);
			return FALSE;
		}
	}
	for (const QaMemberDesc *m = type->members; m->name != NULL; m++) {
		g_autofree gchar *path = g_strconcat(prefix, m->name, NULL);
		const QaJson *node = object != NULL ? qa_json_object_get(object, m->name) : NULL;

		if (node == NULL) {
			if (m->optional)
				continue;
			g_set_error(error,
				    QA_PROTOCOL_ERROR,
				    QA_PROTOCOL_ERROR_INVALID_ARGUMENT,
				    "Command '%s' requires argument '%s' (%s)",
				    command,
				    path,
				    qa_schema_kind_describe(m->type));
			return FALSE;
		}
		/* null is a value like any other, and not the member's type: QEMU's agent refuses
		 * it too (its input visitor takes a present member as present), where taking it for
		 * absent would turn {"mode": null} into guest-shutdown's default, powerdown */
		if (!qa_schema_value_parse(m->type, node, base + m->offset, command, path, error))
			return FALSE;
		if (m->has_offset >= 0)
			*(gboolean *)(base + m->has_offset) = TRUE;
	}
	return TRUE;
}

gpointer
qa_schema_args_parse(const QaTypeDesc *type,
		     const gchar *command,
		     const QaJson *args,
		     GError **error)
{
	g_autofree guint8 *value = g_malloc0(type->size);

	g_return_val_if_fail(type->kind == QA_KIND_STRUCT, NULL);
	if (!qa_schema_members_parse(type, args, value, command, "", error)) {
		qa_schema_struct_free(type, g_steal_pointer(&value));
		return NULL;
	}
	return g_steal_pointer(&value);
}

gboolean
qa_schema_args_check_empty(const gchar *command, const QaJson *args, GError **error)
{
	if (args == NULL || qa_json_object_size(args) == 0)
		return TRUE;
	g_set_error(error,
		    QA_PROTOCOL_ERROR,
		    QA_PROTOCOL_ERROR_INVALID_ARGUMENT,
		    "Command '%s' has no argument '%s'; it takes none",
		    command,
		    qa_json_object_member(args, 0)->name);
	return FALSE;
}

/* decimal digits without printf, which costs more than the rest of an fsinfo entry */
static void
qa_schema_write_uint(GString *out, guint64 value, gboolean is_negative)
{
	gchar buf[24];
	gsize pos = sizeof(buf);

	do {
		buf[--pos] = (gchar)('0' + value % 10);
		value /= 10;
	} while (value > 0);
	if (is_negative)
		buf[--pos] = '-';
	qa_json_append_len(out, buf + pos, sizeof(buf) - pos);
}

/* One reply being written. Lists shared by reference (the disks of every mount of one device in
 * guest-get-fsinfo) are written once and copied after that: the last list written is
 * remembered by address. The values are not changed while they are written. */
typedef struct {
	GString *out;
	gconstpointer last_list;
	gsize last_list_start;
	gsize last_list_len;
} QaSchemaWriter;

static void
qa_schema_writer_value(QaSchemaWriter *writer, const QaTypeDesc *type, gconstpointer value);

static void
qa_schema_members_write(QaSchemaWriter *writer,
			const QaTypeDesc *type,
			const guint8 *base,
			gboolean *is_first);

static void
qa_schema_struct_write(QaSchemaWriter *writer, const QaTypeDesc *type, const guint8 *base)
{
	gboolean is_first = TRUE;

	g_string_append_c(writer->out, '{');
	qa_schema_members_write(writer, type, base, &is_first);
	g_string_append_c(writer->out, '}');
}

/* A flat union's object holds its base members and, in the same object, the members of the
 * variant its discriminator names, as QAPI writes it ({"type": "linux", "cpu": 0, ...}). */
static void
qa_schema_members_write(QaSchemaWriter *writer,
			const QaTypeDesc *type,
			const guint8 *base,
			gboolean *is_first)
{
	GString *out = writer->out;

	for (const QaMemberDesc *m = type->members; m->name != NULL; m++) {
		const guint8 *field = base + m->offset;

		if (m->variant >= 0) {
			const guint8 *variant = *(const guint8 *const *)field;
			if (m->variant == *(const gint *)(base + type->tag_offset) &&
			    variant != NULL)
				qa_schema_members_write(writer, m->type, variant, is_first);
			continue;
		}

		if (m->has_offset >= 0 && !*(const gboolean *)(base + m->has_offset))
			continue;
		if (m->optional && m->has_offset < 0 && *(const gpointer *)field == NULL)
			continue;
		/* member names need no escaping: the generator admits letters, digits, - and _ */
		g_string_append(out, *is_first ? "\"" : ",\"");
		*is_first = FALSE;
		g_string_append(out, m->name);
		g_string_append(out, "\":");
		qa_schema_writer_value(writer, m->type, field);
	}
}

/* QEMU writes numbers with 17 significant digits, which reads back to the same double */
static void
qa_schema_write_number(GString *out, gdouble value)
{
	gchar buf[G_ASCII_DTOSTR_BUF_SIZE];

	if (!isfinite(value))
		value = 0; /* JSON has no infinity or NaN */
	g_string_append(out, g_ascii_formatd(buf, sizeof(buf), "%.17g", value));
}

static void
qa_schema_list_write(QaSchemaWriter *writer, const QaTypeDesc *type, const GPtrArray *list)
{
	GString *out = writer->out;
	gsize start = out->len;

	if (list != NULL && list == writer->last_list) {
		/* GLib copies correctly from the string's own buffer, even when it grows */
		g_string_append_len(out, out->str + writer->last_list_start, writer->last_list_len);
		return;
	}
	g_string_append_c(out, '[');
	for (guint i = 0; list != NULL && i < list->len; i++) {
		gpointer elem = g_ptr_array_index(list, i);
		if (i > 0)
			g_string_append_c(out, ',');
		qa_schema_writer_value(writer, type->element, &elem);
	}
	g_string_append_c(out, ']');
	writer->last_list = list;
	writer->last_list_start = start;
	writer->last_list_len = out->len - start;
}

static void
qa_schema_writer_value(QaSchemaWriter *writer, const QaTypeDesc *type, gconstpointer value)
{
	GString *out = writer->out;

	switch (type->kind) {
	case QA_KIND_STR:
		qa_json_write_string(out, *(gchar *const *)value ? *(gchar *const *)value : "");
		return;
	case QA_KIND_INT: {
		gint64 v = *(const gint64 *)value;
		/* negated as unsigned, so that G_MININT64 has a magnitude too */
		qa_schema_write_uint(out, v < 0 ? -(guint64)v : (guint64)v, v < 0);
		return;
	}
	case QA_KIND_UINT64:
		/* the protocol's integers are signed 64-bit: larger values are capped */
		qa_schema_write_uint(out, MIN(*(const guint64 *)value, (guint64)G_MAXINT64), FALSE);
		return;
	case QA_KIND_BOOL:
		g_string_append(out, *(const gboolean *)value ? "true" : "false");
		return;
	case QA_KIND_ENUM:
		qa_json_write_string(out, type->enum_values[*(const gint *)value]);
		return;
	case QA_KIND_STRUCT:
		qa_schema_struct_write(writer, type, *(const guint8 *const *)value);
		return;
	case QA_KIND_LIST:
		qa_schema_list_write(writer, type, *(GPtrArray *const *)value);
		return;
	case QA_KIND_NUMBER:
		qa_schema_write_number(out, *(const gdouble *)value);
		return;
	case QA_KIND_UNION:
		qa_schema_struct_write(writer, type, *(const guint8 *const *)value);
		return;
	case QA_KIND_ALTERNATE: {
		const guint8 *alt = *(const guint8 *const *)value;
		const QaMemberDesc *branch = &type->members[*(const gint *)alt];
		qa_schema_writer_value(writer, branch->type, alt + branch->offset);
		return;
	}
	}
	g_return_if_reached();
}

/* @value points at the C storage of a value of @type: a gint64, a gchar *, a QaFoo *, ...
 * Written straight to text: a reply of a thousand filesystems built as a tree first spent most
 * of its time creating and freeing hash tables. */
void
qa_schema_value_write(GString *out, const QaTypeDesc *type, gconstpointer value)
{
	QaSchemaWriter writer = {.out = out};

	qa_schema_writer_value(&writer, type, value);
}

void
qa_schema_struct_free(const QaTypeDesc *type, gpointer value)
{
	guint8 *base = value;

	if (value == NULL)
		return;
	for (const QaMemberDesc *m = type->members; m->name != NULL; m++) {
		gpointer *field = (gpointer *)(base + m->offset);

		switch (m->type->kind) {
		case QA_KIND_STR:
			g_free(*field);
			break;
		case QA_KIND_STRUCT:
		case QA_KIND_UNION:
		case QA_KIND_ALTERNATE:
			qa_schema_struct_free(m->type, *field);
			break;
		case QA_KIND_LIST:
			if (*field != NULL)
				g_ptr_array_unref(*field);
			break;
		default:
			break;
		}
	}
	g_free(value);
}
