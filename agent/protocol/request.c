#include "request.h"

#include "json.h"
#include "qa-error.h"

void
qa_request_free(QaRequest *request)
{
	if (request == NULL)
		return;
	g_free(request->execute);
	g_free(request->id);
	qa_json_free(request->tree);
	g_clear_error(&request->error);
	g_free(request);
}

static gboolean
qa_request_check_members(const QaJson *object, GError **error)
{
	for (guint i = 0; i < qa_json_object_size(object); i++) {
		const gchar *key = qa_json_object_member(object, i)->name;
		g_autofree gchar *shown = NULL;

		if (g_strcmp0(key, "execute") == 0 || g_strcmp0(key, "arguments") == 0 ||
		    g_strcmp0(key, "id") == 0)
			continue;
		shown = g_utf8_substring(key, 0, MIN(g_utf8_strlen(key, -1), 64));
		g_set_error(error,
			    QA_PROTOCOL_ERROR,
			    QA_PROTOCOL_ERROR_INVALID_REQUEST,
			    "Invalid request: unexpected member '%s'; a request has only "
			    "'execute', 'arguments' and 'id'",
			    shown);
		return FALSE;
	}
	return TRUE;
}

static gboolean
qa_request_decode(QaRequest *request, const QaJson *root, GError **error)
{
	const QaJson *execute;
	const QaJson *arguments;
	const QaJson *id;

	if (root->type != QA_JSON_OBJECT) {
		g_set_error(
		    error,
		    QA_PROTOCOL_ERROR,
		    QA_PROTOCOL_ERROR_INVALID_REQUEST,
		    "Invalid request: expected an object like {\"execute\": \"guest-ping\"}, "
		    "got %s",
		    qa_json_describe(root));
		return FALSE;
	}
	/* take the id first: even a request that is wrong otherwise gets its id back */
	id = qa_json_object_get(root, "id");
	if (id != NULL) {
		g_autoptr(GString) text = g_string_new(NULL);

		qa_json_write(text, id);
		request->id = g_string_free(g_steal_pointer(&text), FALSE);
	}
	execute = qa_json_object_get(root, "execute");
	if (execute == NULL) {
		g_set_error_literal(error,
				    QA_PROTOCOL_ERROR,
				    QA_PROTOCOL_ERROR_INVALID_REQUEST,
				    "Invalid request: member 'execute' is missing; expected "
				    "{\"execute\": COMMAND, \"arguments\": {...}}");
		return FALSE;
	}
	if (execute->type != QA_JSON_STRING) {
		g_set_error(error,
			    QA_PROTOCOL_ERROR,
			    QA_PROTOCOL_ERROR_INVALID_REQUEST,
			    "Invalid request: 'execute' must be a string naming a command, not %s",
			    qa_json_describe(execute));
		return FALSE;
	}
	arguments = qa_json_object_get(root, "arguments");
	if (arguments != NULL && arguments->type != QA_JSON_OBJECT) {
		g_set_error(error,
			    QA_PROTOCOL_ERROR,
			    QA_PROTOCOL_ERROR_INVALID_REQUEST,
			    "Invalid request: 'arguments' must be an object, not %s",
			    qa_json_describe(arguments));
		return FALSE;
	}
	if (!qa_request_check_members(root, error))
		return FALSE;
	request->arguments = arguments;
	request->execute = g_strdup(execute->string);
	return TRUE;
}

/* Never fails: a text that is not a valid request yields a request whose @error says why. */
QaRequest *
qa_request_new_from_text(const gchar *text, gsize len, const QaJsonLimits *limits)
{
	g_autoptr(QaRequest) request = g_new0(QaRequest, 1);

	request->tree = qa_json_parse(text, len, limits, &request->error);
	if (request->tree == NULL)
		return g_steal_pointer(&request);
	if (!qa_request_decode(request, request->tree, &request->error))
		g_clear_pointer(&request->execute, g_free);
	return g_steal_pointer(&request);
}
