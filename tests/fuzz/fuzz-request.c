/* libFuzzer target: the whole request path up to the handlers. Bytes are split into texts,
 * decoded into requests, looked up in the command table and validated against the schema;
 * main-loop commands that only read state (ping, sync, info) are run, so their replies are
 * encoded too. Commands that touch filesystems are validated but not run: their edges are
 * fuzzed through their own targets.
 *
 * Each text is also read under small limits (so that inputs of a few kilobytes reach the
 * value and member limits), written back and read again (what the writer gives the reader
 * must read back to the same text: ids are echoed through it), and escaped for the log (the
 * result must be one line of printable text). */
#include <glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "dispatch.h"
#include "json.h"
#include "log.h"
#include "qa-schema.h"
#include "reply.h"
#include "request.h"
#include "splitter.h"

static gboolean
fuzz_is_pure(const QaCommandDef *def)
{
	const gchar *pure[] = {
	    "guest-ping", "guest-sync", "guest-sync-delimited", "guest-info", NULL};
	return g_strv_contains(pure, def->name);
}

/* what is written back from a parsed text reads back to itself */
static void
fuzz_check_roundtrip(const gchar *text, gsize len)
{
	static const QaJsonLimits small = {.max_depth = 8, .max_values = 64, .max_members = 8};
	g_autoptr(QaJson) tree = qa_json_parse(text, len, &qa_dispatch_limits, NULL);
	g_autoptr(GString) once = g_string_new(NULL);
	g_autoptr(GString) twice = g_string_new(NULL);
	g_autoptr(QaJson) again = NULL;
	g_autoptr(GError) error = NULL;

	qa_json_free(qa_json_parse(text, len, &small, NULL));
	if (tree == NULL)
		return;
	qa_json_write(once, tree);
	again = qa_json_parse(once->str, once->len, &qa_dispatch_limits, &error);
	if (again == NULL) {
		g_printerr("written text does not read back: %s\n%s\n", error->message, once->str);
		abort();
	}
	qa_json_write(twice, again);
	if (!g_str_equal(once->str, twice->str)) {
		g_printerr("written text reads back differently:\n%s\n%s\n", once->str, twice->str);
		abort();
	}
}

/* a log line quoting host text stays one line of printable text */
static void
fuzz_check_log_escape(const gchar *text, gsize len)
{
	g_autofree gchar *message = g_strndup(text, len);
	g_autofree gchar *escaped = qa_log_escape(message);

	for (const gchar *p = escaped; *p != '\0'; p++) {
		if ((guchar)*p < 0x20 || *p == 0x7f) {
			g_printerr("control byte 0x%02x in an escaped log message\n", (guchar)*p);
			abort();
		}
	}
	if (!g_utf8_validate(escaped, -1, NULL)) {
		g_printerr("escaped log message is not UTF-8\n");
		abort();
	}
}

static void
fuzz_one_text(QaAgent *agent, const gchar *text, gsize len)
{
	g_autoptr(QaRequest) request = qa_request_new_from_text(text, len, &qa_dispatch_limits);
	g_autoptr(GError) error = NULL;
	g_autoptr(GString) line = NULL;
	g_autoptr(GString) error_line = NULL;
	const QaCommandDef *def;

	fuzz_check_roundtrip(text, len);
	fuzz_check_log_escape(text, len);
	if (request->error != NULL) {
		line = qa_reply_encode_error(request->error, request->id);
		return;
	}
	def = qa_dispatch_lookup(request->execute);
	if (def == NULL)
		return;
	if (fuzz_is_pure(def)) {
		line = qa_reply_return_begin(FALSE);
		if (def->marshal(agent, request->arguments, line, &error))
			line = qa_reply_return_end(line, request->id);
	} else if (def->args_type != NULL) {
		gpointer args =
		    qa_schema_args_parse(def->args_type, def->name, request->arguments, &error);
		qa_schema_struct_free(def->args_type, args);
	}
	if (error != NULL)
		error_line = qa_reply_encode_error(error, request->id);
}

/* the log would be most of the time spent (dropped requests are logged one by one) */
static GLogWriterOutput
fuzz_log_discard(GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
	return G_LOG_WRITER_HANDLED;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static QaConfig *config = NULL;
	/* as large as the inputs dev.sh gives (-max_len=65536): wide objects and many requests
	 * in one read reach the parser whole */
	g_autoptr(QaSplitter) splitter = qa_splitter_new(64 * 1024, QA_DISPATCH_MAX_DEPTH);
	QaAgent agent;
	const gchar *text;
	gsize len;
	QaSplitterEvent event;

	if (config == NULL) {
		g_log_set_writer_func(fuzz_log_discard, NULL, NULL);
		config = qa_config_new_default();
	}
	agent = (QaAgent){.config = config};
	/* the first byte picks a chunk size, so boundaries inside values get exercised; a large
	 * one feeds many requests in one read */
	gsize chunk = size > 0 ? (data[0] % 17 == 16 ? size : (gsize)(data[0] % 17) + 1) : 1;
	for (gsize pos = 0; pos < size; pos += chunk) {
		qa_splitter_feed(splitter, data + pos, MIN(chunk, size - pos));
		while ((event = qa_splitter_next(splitter, &text, &len)) != QA_SPLITTER_NONE) {
			if (event == QA_SPLITTER_TEXT)
				fuzz_one_text(&agent, text, len);
		}
	}
	return 0;
}
