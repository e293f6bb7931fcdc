/* libFuzzer target: the whole request path up to the handlers. Bytes are split into texts,
 * decoded into requests, looked up in the command table and validated against the schema;
 * main-loop commands that only read state (ping, sync, info) are run, so their replies are
 * encoded too. Commands that touch filesystems are validated but not run: their edges are
 * fuzzed through their own targets. */
#include <glib.h>
#include <stdint.h>

#include "agent.h"
#include "dispatch.h"
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

static void
fuzz_one_text(QaAgent *agent, const gchar *text, gsize len)
{
	g_autoptr(QaRequest) request = qa_request_new_from_text(text, len, QA_DISPATCH_MAX_DEPTH);
	g_autoptr(GError) error = NULL;
	g_autoptr(GString) line = NULL;
	g_autoptr(GString) error_line = NULL;
	const QaCommandDef *def;

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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static QaConfig *config = NULL;
	g_autoptr(QaSplitter) splitter = qa_splitter_new(4096, QA_DISPATCH_MAX_DEPTH);
	QaAgent agent;
	const gchar *text;
	gsize len;
	QaSplitterEvent event;

	if (config == NULL)
		config = qa_config_new_default();
	agent = (QaAgent){.config = config};
	/* the first byte picks a chunk size, so boundaries inside values get exercised */
	gsize chunk = size > 0 ? (data[0] % 17) + 1 : 1;
	for (gsize pos = 0; pos < size; pos += chunk) {
		qa_splitter_feed(splitter, data + pos, MIN(chunk, size - pos));
		while ((event = qa_splitter_next(splitter, &text, &len)) != QA_SPLITTER_NONE) {
			if (event == QA_SPLITTER_TEXT)
				fuzz_one_text(&agent, text, len);
		}
	}
	return 0;
}
