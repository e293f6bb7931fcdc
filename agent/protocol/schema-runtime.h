/* The runtime behind the generated schema code: one validator, serialiser and destructor for every
 * type the schema describes. Generated code (qa-schema.[ch]) only declares structs and tables. */
#pragma once

#include <glib.h>
#include "json.h"

typedef enum {
	QA_KIND_STR,
	QA_KIND_INT,
	QA_KIND_UINT64,
	QA_KIND_BOOL,
	QA_KIND_ENUM,
	QA_KIND_STRUCT,
	QA_KIND_LIST,
	QA_KIND_NUMBER,	   /* gdouble */
	QA_KIND_ALTERNATE, /* one of several types, chosen by the JSON type of the value */
	QA_KIND_UNION,	   /* a flat union: base members, then the members of one variant */
} QaKind;

typedef struct _QaTypeDesc QaTypeDesc;

typedef struct {
	const gchar *name; /* wire name; NULL ends a member table */
	const QaTypeDesc *type;
	gsize offset;
	gssize has_offset; /* offset of has_<name> for optional scalars, else -1 */
	gboolean optional;
	gboolean is_extension;
	/* QA_KIND_UNION: the value of the discriminator whose variant this member is (a pointer
	 * to the variant's struct, written flat into the union's object); -1 for a base member */
	gint variant;
} QaMemberDesc;

struct _QaTypeDesc {
	QaKind kind;
	const gchar *name;	   /* schema name, used in error messages */
	gsize size;		   /* size of the C value (of the struct for QA_KIND_STRUCT) */
	const QaTypeDesc *element; /* QA_KIND_LIST */
	const gchar *const *enum_values; /* QA_KIND_ENUM, NULL terminated */
	/* QA_KIND_STRUCT and QA_KIND_UNION: the members; QA_KIND_ALTERNATE: the branches, after
	 * a gint at offset 0 that says which branch holds the value */
	const QaMemberDesc *members;
	GDestroyNotify free_func; /* QA_KIND_STRUCT; NULL for argument structs */
	gsize tag_offset;	  /* QA_KIND_UNION: offset of the discriminator (an enum) */
};

typedef struct _QaAgent QaAgent;
/* Runs the command and appends its return value as JSON text to @out, which already holds the
 * start of the reply line: a reply of a thousand filesystems is written once, where it is sent
 * from. @args: the request's "arguments" object, NULL when absent. On failure @out may end in a
 * partial value, which the caller drops. */
typedef gboolean (*QaMarshalFunc)(QaAgent *agent,
				  const QaJson *args,
				  GString *out,
				  GError **error);

typedef struct {
	const gchar *name;
	QaMarshalFunc marshal;
	const QaTypeDesc *args_type; /* NULL: the command takes no arguments */
	gboolean success_response;
	gboolean is_worker;   /* runs on the freezer's thread, one at a time */
	gboolean is_blocking; /* may block on the system: runs on the system thread */
	gboolean allow_oob; /* answered at once, even ahead of a running worker command */
	gboolean is_extension;
} QaCommandDef;

extern const QaTypeDesc qa_type_str;
extern const QaTypeDesc qa_type_int;
extern const QaTypeDesc qa_type_uint64;
extern const QaTypeDesc qa_type_bool;
extern const QaTypeDesc qa_type_number;
extern const QaTypeDesc qa_type_str_list;

gpointer
qa_schema_args_parse(const QaTypeDesc *type,
		     const gchar *command,
		     const QaJson *args,
		     GError **error);
gboolean
qa_schema_args_check_empty(const gchar *command, const QaJson *args, GError **error);
void
qa_schema_value_write(GString *out, const QaTypeDesc *type, gconstpointer value);
void
qa_schema_struct_free(const QaTypeDesc *type, gpointer value);
const gchar *
qa_schema_kind_describe(const QaTypeDesc *type);
