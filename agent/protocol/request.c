#include "request.h"

#include "json.h"
#include "qa-error.h"

void
qa_request_free(QaRequest *request)
{
	if (request == NULL)
		return;
	g_free(request->execute);
	if (request->arguments != NULL)
		json_object_unref(request->arguments);
	if (request->id != NULL)
		json_node_unref(request->id);
	g_clear_error(&request->error);
	g_free(request);
}

static gboolean
qa_request_check_members(JsonObject *object, GError **error)
{
	JsonObjectIter iter;
	const gchar *key;
	JsonNode *node;

	json_object_iter_init_ordered(&iter, object);
	while (json_object_iter_next_ordered(&iter, &key, &node)) {
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
qa_request_decode(QaRequest *request, JsonNode *root, GError **error)
{
	JsonObject *object;
	JsonNode *execute;
	JsonNode *arguments;

	if (!JSON_NODE_HOLDS_OBJECT(root)) {
		g_set_error(
		    error,
		    QA_PROTOCOL_ERROR,
		    QA_PROTOCOL_ERROR_INVALID_REQUEST,
		    "Invalid request: expected an object like {\"execute\": \"guest-ping\"}, "
		    "got %s",
		    qa_json_describe(root));
		return FALSE;
	}
	object = json_node_get_object(root);
	/* take the id first: even a request that is wrong otherwise gets its id back */
	if (json_object_has_member(object, "id"))
		request->id = json_node_copy(json_object_get_member(object, "id"));
	execute = json_object_get_member(object, "execute");
	if (execute == NULL) {
		g_set_error_literal(error,
				    QA_PROTOCOL_ERROR,
				    QA_PROTOCOL_ERROR_INVALID_REQUEST,
				    "Invalid request: member 'execute' is missing; expected "
				    "{\"execute\": COMMAND, \"arguments\": {...}}");
		return FALSE;
	}
	if (!JSON_NODE_HOLDS_VALUE(execute) || json_node_get_value_type(execute) != G_TYPE_STRING) {
		g_set_error(error,
			    QA_PROTOCOL_ERROR,
			    QA_PROTOCOL_ERROR_INVALID_REQUEST,
			    "Invalid request: 'execute' must be a string naming a command, not %s",
			    qa_json_describe(execute));
		return FALSE;
	}
	arguments = json_object_get_member(object, "arguments");
	if (arguments != NULL && !JSON_NODE_HOLDS_OBJECT(arguments)) {
		g_set_error(error,
			    QA_PROTOCOL_ERROR,
			    QA_PROTOCOL_ERROR_INVALID_REQUEST,
			    "Invalid request: 'arguments' must be an object, not %s",
			    qa_json_describe(arguments));
		return FALSE;
	}
	if (!qa_request_check_members(object, error))
		return FALSE;
	if (arguments != NULL)
		request->arguments = json_object_ref(json_node_get_object(arguments));
	request->execute = g_strdup(json_node_get_string(execute));
	return TRUE;
}

/* Never fails: a text that is not a valid request yields a request whose @error says why. */
QaRequest *
qa_request_new_from_text(const gchar *text, gsize len, guint max_depth)
{
	g_autoptr(QaRequest) request = g_new0(QaRequest, 1);
	g_autoptr(JsonNode) root = qa_json_parse(text, len, max_depth, &request->error);

	if (root == NULL)
		return g_steal_pointer(&request);
	if (!qa_request_decode(request, root, &request->error))
		g_clear_pointer(&request->execute, g_free);
	return g_steal_pointer(&request);
}
