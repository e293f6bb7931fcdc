/* Requests in, replies out: the strict JSON reader, request decoding, argument validation
 * against the schema, and reply encoding. */
#include <glib.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "agent.h"
#include "dispatch.h"
#include "json.h"
#include "qa-error.h"
#include "qa-schema.h"
#include "reply.h"
#include "request.h"

static gchar *
roundtrip(const gchar *text)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(QaJson) node = qa_json_parse(text, strlen(text), &qa_dispatch_limits, &error);
	GString *out;

	if (node == NULL)
		return g_strdup_printf("ERROR %s", error->message);
	out = g_string_new(NULL);
	qa_json_write(out, node);
	return g_string_free(out, FALSE);
}

static const struct {
	const gchar *input;
	const gchar *expected; /* "ERROR <prefix of message>" for errors */
} json_cases[] = {
    {"{\"a\":1,\"b\":[true,false,null],\"c\":\"x\"}",
     "{\"a\":1,\"b\":[true,false,null],\"c\":\"x\"}"},
    {" { 'a' : 'it\\'s' } ", "{\"a\":\"it's\"}"},
    {"\"\\u00e9\\ud83d\\ude00\"", "\"\\u00e9\\ud83d\\ude00\""},
    {"\"\xc3\xa9\"", "\"\\u00e9\""},
    {"\"tab\\there\\n\"", "\"tab\\there\\n\""},
    {"9223372036854775807", "9223372036854775807"},
    {"-9223372036854775808", "-9223372036854775808"},
    /* numbers that are not 64-bit integers keep their text: a request's id is echoed as sent */
    {"9223372036854775808", "9223372036854775808"},
    {"-18446744073709551616", "-18446744073709551616"},
    {"1.5", "1.5"},
    {"1.50", "1.50"},
    {"1e400", "1e400"},
    {"-1E-999", "-1E-999"},
    {"1e+2", "1e+2"},
    {"-0", "-0"},
    {"-0.0", "-0.0"},
    {"[-0,0,{\"a\":1e999}]", "[-0,0,{\"a\":1e999}]"},
    {"{\"a\":1,\"a\":2}", "ERROR Invalid JSON: member 'a' appears twice"},
    {"{\"a\":1,}", "ERROR Invalid JSON at byte 7: found '}' where a member name"},
    {"[1,]", "ERROR Invalid JSON at byte 3: found ']' where a value"},
    {"01", "ERROR Invalid JSON at byte 1"},
    {"{} {}", "ERROR Invalid JSON at byte 3"},
    {"/*c*/{}", "ERROR Invalid JSON at byte 0"},
    {"nan", "ERROR Invalid JSON at byte 0"},
    {"\"\\ud800\"", "ERROR Invalid JSON at byte 7: found '\"' where the low half"},
    {"\"\\udc00\"", "ERROR Invalid JSON"},
    {"\"\\u0000\"", "ERROR Invalid JSON at byte 1: found '\\' where a character other than NUL"},
    {"\"a\tb\"", "ERROR Invalid JSON at byte 2"},
    {"\"\xc0\xaf\"", "ERROR Invalid JSON at byte 1: byte 0xc0 is not part of valid UTF-8"},
    {"\"\xed\xa0\x80\"", "ERROR Invalid JSON at byte 1"},
    {"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]"
     "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
     "ERROR Invalid request: nested deeper than 64 levels"},
    {"", "ERROR Invalid JSON: the text ends where a value"},
    {"\"abc", "ERROR Invalid JSON: the text ends where the closing quote"},
};

static void
test_json_cases(void **state)
{
	for (guint i = 0; i < G_N_ELEMENTS(json_cases); i++) {
		g_autofree gchar *got = roundtrip(json_cases[i].input);
		if (!g_str_has_prefix(got, json_cases[i].expected))
			fail_msg(
			    "case %u: got '%s', expected '%s'", i, got, json_cases[i].expected);
	}
}

/* an embedded NUL byte ends nothing early: it is rejected */
static void
test_json_nul_byte(void **state)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(QaJson) node = qa_json_parse("\"a\0b\"", 5, &qa_dispatch_limits, &error);

	assert_null(node);
	assert_non_null(strstr(error->message, "byte 0x00"));
}

/* past a few members an object is indexed: text order, lookups and duplicates hold there too */
static void
test_json_large_object(void **state)
{
	g_autoptr(GString) text = g_string_new("{");
	g_autoptr(GString) out = g_string_new(NULL);
	g_autoptr(QaJson) node = NULL;
	g_autoptr(QaJson) twice = NULL;
	g_autoptr(GError) error = NULL;

	for (guint i = 0; i < 100; i++)
		g_string_append_printf(text, "%s\"m%u\":%u", i > 0 ? "," : "", 99 - i, i);
	g_string_append_c(text, '}');
	node = qa_json_parse(text->str, text->len, &qa_dispatch_limits, &error);
	g_assert_no_error(error);
	assert_int_equal(qa_json_object_size(node), 100);
	for (guint i = 0; i < 100; i++) {
		g_autofree gchar *name = g_strdup_printf("m%u", i);
		QaJson *member = qa_json_object_get(node, name);

		assert_non_null(member);
		assert_int_equal(member->integer, 99 - i);
	}
	assert_null(qa_json_object_get(node, "m100"));
	qa_json_write(out, node);
	assert_string_equal(out->str, text->str);

	g_string_truncate(text, text->len - 1);
	g_string_append(text, ",\"m42\":0}");
	twice = qa_json_parse(text->str, text->len, &qa_dispatch_limits, &error);
	assert_null(twice);
	assert_non_null(strstr(error->message, "member 'm42' appears twice"));
}

/* a path is any bytes; the reply is still valid ASCII JSON */
static void
test_json_write_invalid_utf8(void **state)
{
	g_autoptr(QaJson) node = qa_json_new_string("/mnt/a\xff\xc3\xa9");
	g_autoptr(GString) out = g_string_new(NULL);

	qa_json_write(out, node);
	assert_string_equal(out->str, "\"/mnt/a\\ufffd\\u00e9\"");
}

/* every byte next to a boundary of the runs copied without escaping */
static void
test_json_write_string_boundaries(void **state)
{
	g_autoptr(GString) out = g_string_new(NULL);

	qa_json_write_string(out, "\x1f !\"#[\\]~\x7f\t");
	assert_string_equal(out->str, "\"\\u001f !\\\"#[\\\\]~\\u007f\\t\"");
}

/* every limit is exact: at the limit a text is read, one past it is refused */
static void
test_json_limits(void **state)
{
	const QaJsonLimits limits = {.max_depth = 4, .max_values = 5, .max_members = 3};
	static const struct {
		const gchar *text;
		const gchar *error; /* NULL: read */
	} cases[] = {
	    {"[1,2,3,4]", NULL},
	    {"[1,2,3,4,5]", "Invalid request: more than 5 values"},
	    {"{\"a\":[],\"b\":{}}", NULL},
	    {"{\"a\":{},\"b\":{},\"c\":{}}", NULL},
	    {"{\"a\":{},\"b\":{},\"c\":{},\"d\":{}}", "more than"},
	    {"{\"a\":1,\"b\":2,\"c\":3}", NULL},
	    {"{\"a\":1,\"b\":2,\"c\":3,\"d\":4}",
	     "Invalid request: an object has more than 3 members"},
	    {"[[[[]]]]", NULL},
	    {"[[[[[]]]]]", "nested deeper than 4"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(QaJson) node =
		    qa_json_parse(cases[i].text, strlen(cases[i].text), &limits, &error);

		if (cases[i].error == NULL) {
			g_assert_no_error(error);
			assert_non_null(node);
			continue;
		}
		assert_null(node);
		if (strstr(error->message, cases[i].error) == NULL)
			fail_msg(
			    "case %u: got '%s', expected '%s'", i, error->message, cases[i].error);
		assert_true(error->code == QA_PROTOCOL_ERROR_TOO_LARGE ||
			    error->code == QA_PROTOCOL_ERROR_TOO_DEEP);
	}
}

/* the limits a request is read with: as many values and members as documented, not one more */
static void
test_json_request_limits(void **state)
{
	g_autoptr(GString) values = g_string_new("[0");
	g_autoptr(GString) members = g_string_new("{");
	g_autoptr(GError) error = NULL;
	g_autoptr(QaJson) node = NULL;

	/* the array itself is one value */
	for (guint i = 2; i < QA_DISPATCH_MAX_VALUES; i++)
		g_string_append(values, ",0");
	g_string_append_c(values, ']');
	node = qa_json_parse(values->str, values->len, &qa_dispatch_limits, &error);
	g_assert_no_error(error);
	g_clear_pointer(&node, qa_json_free);
	g_string_insert(values, 1, "0,");
	node = qa_json_parse(values->str, values->len, &qa_dispatch_limits, &error);
	assert_null(node);
	assert_non_null(strstr(error->message, "more than 65536 values"));
	g_clear_error(&error);

	for (guint i = 0; i < QA_DISPATCH_MAX_MEMBERS; i++)
		g_string_append_printf(members, "%s\"m%u\":0", i > 0 ? "," : "", i);
	g_string_append_c(members, '}');
	node = qa_json_parse(members->str, members->len, &qa_dispatch_limits, &error);
	g_assert_no_error(error);
	assert_int_equal(qa_json_object_size(node), QA_DISPATCH_MAX_MEMBERS);
	g_clear_pointer(&node, qa_json_free);
	g_string_insert(members, 1, "\"x\":0,");
	node = qa_json_parse(members->str, members->len, &qa_dispatch_limits, &error);
	assert_null(node);
	assert_non_null(strstr(error->message, "more than 1024 members"));
}

/* Names chosen to collide under GLib's g_str_hash (h * 33 + c: "Aa" and "B@" add the same) do
 * not collide under the index's keyed hash, and an object of them is read and looked up. */
static void
test_json_colliding_names(void **state)
{
	g_autoptr(GHashTable) seen = g_hash_table_new(NULL, NULL);
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GString) text = g_string_new("{");
	g_autoptr(GError) error = NULL;
	g_autoptr(QaJson) node = NULL;

	for (guint bits = 0; bits < 1024; bits++) {
		GString *name = g_string_new(NULL);

		for (guint b = 0; b < 10; b++)
			g_string_append(name, (bits >> b) & 1 ? "B@" : "Aa");
		g_ptr_array_add(names, g_string_free(name, FALSE));
	}
	for (guint i = 0; i < names->len; i++) {
		const gchar *name = g_ptr_array_index(names, i);

		assert_int_equal(g_str_hash(name), g_str_hash(g_ptr_array_index(names, 0)));
		g_hash_table_add(seen, GUINT_TO_POINTER(qa_json_name_hash(name)));
		g_string_append_printf(text, "%s\"%s\":%u", i > 0 ? "," : "", name, i);
	}
	/* 1024 hashes of 32 bits: a collision or two by chance, not a thousand */
	assert_true(g_hash_table_size(seen) >= 1020);
	g_string_append_c(text, '}');
	node = qa_json_parse(text->str, text->len, &qa_dispatch_limits, &error);
	g_assert_no_error(error);
	for (guint i = 0; i < names->len; i++)
		assert_int_equal(qa_json_object_get(node, g_ptr_array_index(names, i))->integer, i);
}

/* a key given twice is quoted in the error up to 64 characters: it can be a megabyte */
static void
test_json_duplicate_key_is_cut(void **state)
{
	g_autofree gchar *key = g_strnfill(100000, 'k');
	g_autofree gchar *text = g_strdup_printf("{\"%s\":1,\"%s\":2}", key, key);
	g_autoptr(GError) error = NULL;
	g_autoptr(QaJson) node = qa_json_parse(text, strlen(text), &qa_dispatch_limits, &error);

	assert_null(node);
	assert_true(strlen(error->message) < 200);
	assert_non_null(strstr(error->message, "...' appears twice"));
}

static void
test_request_decode(void **state)
{
	static const struct {
		const gchar *text;
		const gchar *execute;
		const gchar *error;
		gboolean has_id;
	} cases[] = {
	    {"{\"execute\":\"guest-ping\"}", "guest-ping", NULL, FALSE},
	    {"{\"execute\":\"guest-ping\",\"id\":[1]}", "guest-ping", NULL, TRUE},
	    {"{\"execute\":\"x\",\"arguments\":{},\"id\":null}", "x", NULL, TRUE},
	    {"{\"id\":1}", NULL, "'execute' is missing", TRUE},
	    {"{\"execute\":1,\"id\":1}", NULL, "'execute' must be a string", TRUE},
	    {"{\"execute\":\"x\",\"arguments\":1}", NULL, "'arguments' must be an object", FALSE},
	    {"{\"execute\":\"x\",\"argument\":{}}", NULL, "unexpected member 'argument'", FALSE},
	    {"[]", NULL, "expected an object", FALSE},
	    {"{", NULL, "Invalid JSON", FALSE},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(QaRequest) r = qa_request_new_from_text(
		    cases[i].text, strlen(cases[i].text), &qa_dispatch_limits);

		assert_string_equal(r->execute ? r->execute : "(null)",
				    cases[i].execute ? cases[i].execute : "(null)");
		if (cases[i].error != NULL)
			assert_non_null(strstr(r->error->message, cases[i].error));
		else
			assert_null(r->error);
		assert_int_equal(r->id != NULL, cases[i].has_id);
	}
}

/* the id a reply echoes: the value as sent, numbers spelt as they were */
static void
test_request_id(void **state)
{
	static const struct {
		const gchar *id;
		const gchar *echoed;
	} cases[] = {
	    {"1", "1"},
	    {"-0", "-0"},
	    {"1e999", "1e999"},
	    {"-1E-999", "-1E-999"},
	    {"18446744073709551616", "18446744073709551616"},
	    {"1.50", "1.50"},
	    {"[ 1 , {\"a\" : -0.0} ]", "[1,{\"a\":-0.0}]"},
	    {"'it\\'s'", "\"it's\""},
	    {"\"\xc3\xa9\"", "\"\\u00e9\""},
	    {"null", "null"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *text =
		    g_strdup_printf("{\"execute\":\"guest-ping\",\"id\":%s}", cases[i].id);
		g_autoptr(QaRequest) r =
		    qa_request_new_from_text(text, strlen(text), &qa_dispatch_limits);

		assert_null(r->error);
		assert_string_equal(r->id, cases[i].echoed);
	}
}

/* replies the dispatcher gives back, as "tag command line" */
typedef struct {
	GPtrArray *replies;
	gboolean is_open;
	QaDispatcher *leave_on_reply; /* drop its waiting requests at the next reply */
} TestDispatch;

static void
test_dispatch_reply(const GString *line, guint64 tag, const gchar *command, gpointer user_data)
{
	TestDispatch *t = user_data;

	g_ptr_array_add(t->replies,
			g_strdup_printf("%" G_GUINT64_FORMAT " %s %s",
					tag,
					command != NULL ? command : "-",
					line != NULL ? line->str : "-\n"));
	/* as the session does when sending the reply finds the host gone */
	if (t->leave_on_reply != NULL)
		qa_dispatcher_drop_waiting(g_steal_pointer(&t->leave_on_reply), tag + 1);
}

static gboolean
test_dispatch_gate(gpointer user_data)
{
	return ((TestDispatch *)user_data)->is_open;
}

static void
test_dispatch_text(QaDispatcher *dispatcher, const gchar *text, guint64 tag)
{
	qa_dispatcher_handle_text(dispatcher, text, strlen(text), tag);
}

/* A request that waits is kept as its text: what it holds is about the bytes the host sent,
 * not the tree (some 20 times as much for an array of small values); it is parsed again when it
 * starts and answered as if it had not waited. */
static void
test_dispatcher_waiting_is_compact(void **state)
{
	g_autoptr(QaConfig) config = qa_config_new_default();
	QaAgent agent = {.config = config};
	TestDispatch t = {g_ptr_array_new_with_free_func(g_free), FALSE, NULL};
	g_autoptr(QaDispatcher) dispatcher =
	    qa_dispatcher_new(&agent, config, test_dispatch_reply, test_dispatch_gate, &t);
	g_autoptr(GString) big = g_string_new("{\"execute\":\"guest-get-time\",\"id\":[0");

	for (guint i = 1; i < 60000; i++)
		g_string_append(big, ",0");
	g_string_append(big, "]}");
	test_dispatch_text(dispatcher, big->str, 1);
	test_dispatch_text(dispatcher, "{\"execute\":\"no-such\",\"id\":2}", 1);
	/* ping is answered at once, ahead of what waits */
	test_dispatch_text(dispatcher, "{\"execute\":\"guest-ping\",\"id\":3}", 1);
	assert_int_equal(t.replies->len, 1);
	assert_string_equal(g_ptr_array_index(t.replies, 0),
			    "1 guest-ping {\"return\":{},\"id\":3}\n");
	assert_int_equal(qa_dispatcher_get_n_waiting(dispatcher), 2);
	/* the text, the id it will echo (as long again) and a little more, not 2 MiB of tree */
	assert_true(qa_dispatcher_get_waiting_bytes(dispatcher) < 3 * big->len);
	t.is_open = TRUE;
	qa_dispatcher_resume(dispatcher);
	assert_int_equal(qa_dispatcher_get_n_waiting(dispatcher), 0);
	assert_int_equal(qa_dispatcher_get_waiting_bytes(dispatcher), 0);
	assert_int_equal(t.replies->len, 3);
	assert_true(g_str_has_prefix(g_ptr_array_index(t.replies, 1), "1 guest-get-time {\""));
	assert_true(g_str_has_suffix(g_ptr_array_index(t.replies, 1), ",0,0]}\n"));
	assert_true(g_str_has_prefix(g_ptr_array_index(t.replies, 2), "1 - {\"error\":"));
	g_ptr_array_unref(t.replies);
}

static GString *test_log_lines;

static GLogWriterOutput
test_log_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
	for (gsize i = 0; i < n_fields; i++) {
		if (g_strcmp0(fields[i].key, "MESSAGE") == 0 && test_log_lines != NULL)
			g_string_append_printf(
			    test_log_lines, "%s\n", (const gchar *)fields[i].value);
	}
	return G_LOG_WRITER_HANDLED;
}

/* When a host leaves, its requests that had not started are dropped, each said in one line
 * with its command's name and nothing of its arguments; a thaw is kept: it can only undo a
 * freeze the departed host can no longer learn of. */
static void
test_dispatcher_drop_waiting(void **state)
{
	g_autoptr(QaConfig) config = qa_config_new_default();
	QaAgent agent = {.config = config};
	TestDispatch t = {g_ptr_array_new_with_free_func(g_free), FALSE, NULL};
	g_autoptr(QaDispatcher) dispatcher =
	    qa_dispatcher_new(&agent, config, test_dispatch_reply, test_dispatch_gate, &t);

	test_log_lines = g_string_new(NULL);
	test_dispatch_text(dispatcher,
			   "{\"execute\":\"guest-fsfreeze-freeze-list\","
			   "\"arguments\":{\"mountpoints\":[\"/secret-mountpoint\"]}}",
			   1);
	test_dispatch_text(dispatcher, "{\"execute\":\"guest-fsfreeze-thaw\"}", 1);
	test_dispatch_text(dispatcher, "{\"execute\":\"guest-fstrim\"}", 1);
	test_dispatch_text(dispatcher, "{\"execute\":\"guest-get-time\"}", 1);
	test_dispatch_text(dispatcher, "[]", 1);
	test_dispatch_text(dispatcher, "{\"execute\":\"guest-get-time\"}", 2);
	assert_int_equal(qa_dispatcher_get_n_waiting(dispatcher), 6);
	assert_int_equal(qa_dispatcher_drop_waiting(dispatcher, 2), 4);
	assert_int_equal(qa_dispatcher_get_n_waiting(dispatcher), 2);
	assert_string_equal(
	    test_log_lines->str,
	    "dropped command=guest-fsfreeze-freeze-list of a host that has "
	    "disconnected: it had not started\n"
	    "dropped command=guest-fstrim of a host that has disconnected: it had "
	    "not started\n"
	    "dropped command=guest-get-time of a host that has disconnected: it had "
	    "not started\n"
	    "dropped command=(invalid request) of a host that has disconnected: it "
	    "had not started\n");
	assert_int_equal(t.replies->len, 0);
	g_string_free(test_log_lines, TRUE);
	test_log_lines = NULL;
	/* the kept thaw is freed unrun with the dispatcher: this agent has no freezer */
	g_ptr_array_unref(t.replies);
}

/* the host can leave while the queue drains: the reply of one request ends the connection, and
 * the requests after it are dropped under the drain's feet */
static void
test_dispatcher_drop_while_draining(void **state)
{
	g_autoptr(QaConfig) config = qa_config_new_default();
	QaAgent agent = {.config = config};
	TestDispatch t = {g_ptr_array_new_with_free_func(g_free), FALSE, NULL};
	g_autoptr(QaDispatcher) dispatcher =
	    qa_dispatcher_new(&agent, config, test_dispatch_reply, test_dispatch_gate, &t);

	test_log_lines = g_string_new(NULL);
	for (guint i = 0; i < 4; i++)
		test_dispatch_text(dispatcher, "{\"execute\":\"guest-get-time\"}", 1);
	test_dispatch_text(dispatcher, "{\"execute\":\"no-such\"}", 1);
	t.is_open = TRUE;
	t.leave_on_reply = dispatcher;
	qa_dispatcher_resume(dispatcher);
	assert_int_equal(t.replies->len, 1);
	assert_int_equal(qa_dispatcher_get_n_waiting(dispatcher), 0);
	assert_int_equal(qa_dispatcher_get_waiting_bytes(dispatcher), 0);
	assert_non_null(strstr(test_log_lines->str, "dropped command=(invalid request)"));
	g_string_free(test_log_lines, TRUE);
	test_log_lines = NULL;
	g_ptr_array_unref(t.replies);
}

static void
test_reply_encode(void **state)
{
	const gchar *id = "\"r\\u00e9q\"";
	g_autoptr(GString) plain = NULL;
	g_autoptr(GString) delimited = NULL;
	g_autoptr(GString) error_line = NULL;
	g_autoptr(GError) not_found = g_error_new_literal(QA_PROTOCOL_ERROR,
							  QA_PROTOCOL_ERROR_COMMAND_NOT_FOUND,
							  "The command x has not been found");
	g_autoptr(GError) disabled = g_error_new_literal(
	    QA_PROTOCOL_ERROR, QA_PROTOCOL_ERROR_COMMAND_DISABLED, "Command x has been disabled");
	g_autoptr(GError) system = g_error_new_literal(
	    QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_BUSY, "'/data' is frozen \"already\"");

	plain = qa_reply_return_begin(FALSE);
	g_string_append(plain, "42");
	plain = qa_reply_return_end(plain, id);
	assert_string_equal(plain->str, "{\"return\":42,\"id\":\"r\\u00e9q\"}\n");
	delimited = qa_reply_return_begin(TRUE);
	g_string_append(delimited, "42");
	delimited = qa_reply_return_end(delimited, NULL);
	assert_int_equal(delimited->str[0], (gchar)0xFF);
	assert_string_equal(delimited->str + 1, "{\"return\":42}\n");
	error_line = qa_reply_encode_error(system, NULL);
	assert_string_equal(error_line->str,
			    "{\"error\":{\"class\":\"GenericError\",\"desc\":\"'/data' is frozen "
			    "\\\"already\\\"\"}}\n");
	assert_string_equal(qa_reply_error_class(not_found), "CommandNotFound");
	assert_string_equal(qa_reply_error_class(disabled), "CommandNotFound");
	assert_string_equal(qa_reply_error_class(system), "GenericError");
}

static GPtrArray *
disk_list(const gchar *serial, guint n)
{
	GPtrArray *disks = qa_guest_disk_address_list_new();

	for (guint i = 0; i < n; i++) {
		QaGuestDiskAddress *disk = qa_guest_disk_address_new();
		disk->pci_controller = qa_guest_pci_address_new();
		disk->pci_controller->slot = 5 + i;
		disk->unit = i;
		disk->serial = g_strdup(serial);
		disk->dev = g_strdup_printf("/dev/sd%c", 'a' + i);
		g_ptr_array_add(disks, disk);
	}
	return disks;
}

/* Lists shared by reference are written once and copied: the text must be exactly what writing
 * every entry on its own gives, whatever the sharing pattern. */
static void
test_reply_shared_lists(void **state)
{
	g_autoptr(GPtrArray) shared = disk_list("s\"1", 2);
	g_autoptr(GPtrArray) same_content = disk_list("s\"1", 2);
	g_autoptr(GPtrArray) empty = qa_guest_disk_address_list_new();
	GPtrArray *pattern[] = {shared, shared, same_content, shared, empty, empty, NULL, shared};
	g_autoptr(GPtrArray) infos = qa_guest_filesystem_info_list_new();
	g_autoptr(GString) whole = g_string_new(NULL);
	g_autoptr(GString) one_by_one = g_string_new("[");

	for (guint i = 0; i < G_N_ELEMENTS(pattern); i++) {
		QaGuestFilesystemInfo *info = qa_guest_filesystem_info_new();
		g_autoptr(GString) alone = g_string_new(NULL);

		info->name = g_strdup_printf("dm-%u", i);
		info->mountpoint = g_strdup_printf("/m\u00e9/%u", i);
		info->type = g_strdup("xfs");
		if (info->disk != NULL)
			g_ptr_array_unref(info->disk);
		info->disk = pattern[i] != NULL ? g_ptr_array_ref(pattern[i]) : NULL;
		g_ptr_array_add(infos, info);
		qa_schema_value_write(alone, &qa_type_guest_filesystem_info, &info);
		g_string_append(one_by_one, i > 0 ? "," : "");
		g_string_append_len(one_by_one, alone->str, alone->len);
	}
	g_string_append_c(one_by_one, ']');
	qa_schema_value_write(whole, &qa_type_guest_filesystem_info_list, &infos);
	assert_string_equal(whole->str, one_by_one->str);
	assert_non_null(strstr(whole->str, "\"serial\":\"s\\\"1\""));
}

/* argument validation against the schema, through the generated marshallers */
static gchar *
marshal(const gchar *command, const gchar *args_json)
{
	const QaCommandDef *def = qa_dispatch_lookup(command);
	g_autoptr(GError) error = NULL;
	g_autoptr(QaJson) args = NULL;
	g_autoptr(GString) result = g_string_new(NULL);
	g_autoptr(QaConfig) config = qa_config_new_default();
	QaAgent agent = {.config = config};

	assert_non_null(def);
	if (args_json != NULL)
		args = qa_json_parse(args_json, strlen(args_json), &qa_dispatch_limits, &error);
	g_assert_no_error(error);
	if (!def->marshal(&agent, args, result, &error))
		return g_strdup_printf("ERROR %s", error->message);
	return g_strndup(result->str, result->len);
}

static const struct {
	const gchar *command;
	const gchar *args;
	const gchar *expected;
} marshal_cases[] = {
    {"guest-sync", "{\"id\":5}", "5"},
    {"guest-sync-delimited", "{\"id\":-5}", "-5"},
    {"guest-ping", NULL, "{}"},
    {"guest-ping", "{}", "{}"},
    {"guest-sync", NULL, "ERROR Command 'guest-sync' requires argument 'id' (an integer"},
    {"guest-sync", "{}", "ERROR Command 'guest-sync' requires argument 'id'"},
    {"guest-sync",
     "{\"id\":true}",
     "ERROR Argument 'id' of command 'guest-sync' must be an "
     "integer between -9223372036854775808 and "
     "9223372036854775807, not a boolean"},
    {"guest-sync", "{\"id\":1.0}", "ERROR Argument 'id' of command 'guest-sync' must be"},
    {"guest-sync", "{\"id\":null}", "ERROR Argument 'id' of command 'guest-sync' must be"},
    {"guest-sync",
     "{\"id\":1,\"x\":2}",
     "ERROR Command 'guest-sync' has no argument 'x'; "
     "expected: id"},
    {"guest-ping", "{\"x\":2}", "ERROR Command 'guest-ping' has no argument 'x'; it takes none"},
    {"guest-fsfreeze-freeze-list",
     "{\"mountpoints\":\"/a\"}",
     "ERROR Argument 'mountpoints' of command 'guest-fsfreeze-freeze-list' must be an array of "
     "strings, not a string"},
    {"guest-fsfreeze-freeze-list",
     "{\"mountpoints\":[\"/a\",{}]}",
     "ERROR Argument 'mountpoints[1]' of command 'guest-fsfreeze-freeze-list' must be a string, "
     "not an object"},
    {"guest-fstrim", "{\"minimum\":\"1\"}", "ERROR Argument 'minimum' of command 'guest-fstrim'"},
    {"guest-info", NULL, "{\"version\":"},
};

static void
test_marshal_cases(void **state)
{
	for (guint i = 0; i < G_N_ELEMENTS(marshal_cases); i++) {
		g_autofree gchar *got = marshal(marshal_cases[i].command, marshal_cases[i].args);
		if (!g_str_has_prefix(got, marshal_cases[i].expected))
			fail_msg(
			    "case %u: got '%s', expected '%s'", i, got, marshal_cases[i].expected);
	}
}

/* the generated table is the schema's: names unique, worker flags where commands may block */
static void
test_command_table(void **state)
{
	g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
	const gchar *workers[] = {"guest-fsfreeze-freeze",
				  "guest-fsfreeze-freeze-list",
				  "guest-fsfreeze-thaw",
				  "guest-fstrim",
				  NULL};

	assert_true(qa_schema_n_commands >= 11);
	for (guint i = 0; i < qa_schema_n_commands; i++) {
		const QaCommandDef *def = &qa_schema_commands[i];
		assert_true(g_hash_table_add(seen, (gpointer)def->name));
		assert_int_equal(def->is_worker, g_strv_contains(workers, def->name));
		assert_ptr_equal(qa_dispatch_lookup(def->name), def);
	}
	/* a command of another platform is not in the table, nor in guest-info */
	assert_null(qa_dispatch_lookup("guest-get-devices"));
	assert_non_null(qa_dispatch_lookup("guest-exec"));
	assert_true(qa_dispatch_lookup("guest-exec")->is_blocking);
	assert_false(qa_dispatch_lookup("guest-shutdown")->success_response);
}

/* a flat union is one object: the base members, then the named variant's */
static void
test_union_write(void **state)
{
	g_autoptr(QaGuestCpuStats) stats = qa_guest_cpu_stats_new();
	g_autoptr(GString) out = g_string_new(NULL);

	stats->type = QA_GUEST_CPU_STATS_TYPE_LINUX;
	stats->u_linux = qa_guest_linux_cpu_stats_new();
	stats->u_linux->cpu = 1;
	stats->u_linux->user = 20;
	stats->u_linux->has_steal = TRUE;
	stats->u_linux->steal = 3;
	qa_schema_value_write(out, &qa_type_guest_cpu_stats, &stats);
	assert_string_equal(out->str,
			    "{\"type\":\"linux\",\"cpu\":1,\"user\":20,\"nice\":0,"
			    "\"system\":0,\"idle\":0,\"steal\":3}");
}

/* numbers as QEMU writes them: 17 significant digits, no locale */
static void
test_number_write(void **state)
{
	g_autoptr(QaGuestLoadAverage) load = qa_guest_load_average_new();
	g_autoptr(GString) out = g_string_new(NULL);

	load->load1m = 0.5;
	load->load5m = 2;
	load->load15m = 0.1;
	qa_schema_value_write(out, &qa_type_guest_load_average, &load);
	assert_string_equal(out->str,
			    "{\"load1m\":0.5,\"load5m\":2,\"load15m\":0.10000000000000001}");
}

/* an alternate takes the branch of the JSON value's type; other types are refused naming the
 * forms it accepts */
typedef struct {
	QaGuestFileWhence *whence;
} TestWhenceArgs;

static const QaMemberDesc test_whence_members[] = {
    {"whence", &qa_type_guest_file_whence, offsetof(TestWhenceArgs, whence), -1, FALSE, FALSE, -1},
    {NULL, NULL, 0, -1, FALSE, FALSE, -1},
};
static const QaTypeDesc test_whence_type = {.kind = QA_KIND_STRUCT,
					    .name = "test",
					    .size = sizeof(TestWhenceArgs),
					    .members = test_whence_members};

static TestWhenceArgs *
test_whence_parse(const gchar *text, GError **error)
{
	const QaJsonLimits limits = {.max_depth = 8, .max_values = 64, .max_members = 8};
	g_autoptr(QaJson) json = qa_json_parse(text, strlen(text), &limits, NULL);

	assert_non_null(json);
	return qa_schema_args_parse(&test_whence_type, "test", json, error);
}

static void
test_alternate_parse(void **state)
{
	g_autoptr(GError) error = NULL;
	TestWhenceArgs *args = test_whence_parse("{\"whence\": 2}", &error);

	assert_non_null(args);
	assert_int_equal(args->whence->type, QA_GUEST_FILE_WHENCE_KIND_VALUE);
	assert_int_equal(args->whence->value, 2);
	qa_schema_struct_free(&test_whence_type, args);

	args = test_whence_parse("{\"whence\": \"end\"}", &error);
	assert_non_null(args);
	assert_int_equal(args->whence->type, QA_GUEST_FILE_WHENCE_KIND_NAME);
	assert_int_equal(args->whence->name, QA_QGA_SEEK_END);
	qa_schema_struct_free(&test_whence_type, args);

	assert_null(test_whence_parse("{\"whence\": \"middle\"}", &error));
	assert_non_null(strstr(error->message, "set, cur, end"));
	g_clear_error(&error);
	assert_null(test_whence_parse("{\"whence\": true}", &error));
	assert_non_null(strstr(error->message, "must be an integer"));
	assert_non_null(strstr(error->message, "one of the strings set, cur, end"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_cases),
	    cmocka_unit_test(test_json_nul_byte),
	    cmocka_unit_test(test_json_large_object),
	    cmocka_unit_test(test_json_limits),
	    cmocka_unit_test(test_json_request_limits),
	    cmocka_unit_test(test_json_colliding_names),
	    cmocka_unit_test(test_json_duplicate_key_is_cut),
	    cmocka_unit_test(test_json_write_invalid_utf8),
	    cmocka_unit_test(test_json_write_string_boundaries),
	    cmocka_unit_test(test_request_decode),
	    cmocka_unit_test(test_request_id),
	    cmocka_unit_test(test_dispatcher_waiting_is_compact),
	    cmocka_unit_test(test_dispatcher_drop_waiting),
	    cmocka_unit_test(test_dispatcher_drop_while_draining),
	    cmocka_unit_test(test_reply_encode),
	    cmocka_unit_test(test_reply_shared_lists),
	    cmocka_unit_test(test_marshal_cases),
	    cmocka_unit_test(test_command_table),
	    cmocka_unit_test(test_union_write),
	    cmocka_unit_test(test_number_write),
	    cmocka_unit_test(test_alternate_parse),
	};
	g_log_set_writer_func(test_log_writer, NULL, NULL);
	return cmocka_run_group_tests_name("protocol", tests, NULL, NULL);
}
