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
} QaKind;

typedef struct _QaTypeDesc QaTypeDesc;

typedef struct {
	const gchar *name; /* wire name; NULL ends a member table */
	const QaTypeDesc *type;
	gsize offset;
	gssize has_offset; /* offset of has_<name> for optional scalars, else -1 */
	gboolean optional;
	gboolean is_extension;
} QaMemberDesc;

struct _QaTypeDesc {
	QaKind kind;
	const gchar *name;	   /* schema name, used in error messages */
	gsize size;		   /* size of the C value (of the struct for QA_KIND_STRUCT) */
	const QaTypeDesc *element; /* QA_KIND_LIST */
	const gchar *const *enum_values; /* QA_KIND_ENUM, NULL terminated */
	const QaMemberDesc *members;	 /* QA_KIND_STRUCT */
	GDestroyNotify free_func;	 /* QA_KIND_STRUCT; NULL for argument structs */
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
	gboolean is_worker; /* runs off the main loop, one at a time */
	gboolean allow_oob; /* answered at once, even ahead of a running worker command */
	gboolean is_extension;
} QaCommandDef;

extern const QaTypeDesc qa_type_str;
extern const QaTypeDesc qa_type_int;
extern const QaTypeDesc qa_type_uint64;
extern const QaTypeDesc qa_type_bool;
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
