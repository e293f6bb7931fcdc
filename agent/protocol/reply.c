#include "reply.h"

#include "json.h"
#include "qa-error.h"

/* The only place that decides QGA error classes (as libvirt's qemuAgentCheckError is the only
 * place that reads them): hosts act on CommandNotFound, everything else is GenericError. */
const gchar *
qa_reply_error_class(const GError *error)
{
	if (error->domain == QA_PROTOCOL_ERROR &&
	    (error->code == QA_PROTOCOL_ERROR_COMMAND_NOT_FOUND ||
	     error->code == QA_PROTOCOL_ERROR_COMMAND_DISABLED))
		return "CommandNotFound";
	return "GenericError";
}

static GString *
qa_reply_encode(
    const gchar *key, JsonNode *value, const GString *text, JsonNode *id, gboolean delimited)
{
	GString *line = g_string_sized_new(128);

	if (delimited)
		g_string_append_c(line, (gchar)0xFF);
	g_string_append(line, "{\"");
	g_string_append(line, key);
	g_string_append(line, "\":");
	if (text != NULL)
		g_string_append_len(line, text->str, text->len);
	else
		qa_json_write(line, value);
	if (id != NULL) {
		g_string_append(line, ",\"id\":");
		qa_json_write(line, id);
	}
	g_string_append(line, "}\n");
	return line;
}

GString *
qa_reply_encode_return(JsonNode *value, JsonNode *id, gboolean delimited)
{
	return qa_reply_encode("return", value, NULL, id, delimited);
}

GString *
qa_reply_encode_return_text(const GString *value, JsonNode *id, gboolean delimited)
{
	return qa_reply_encode("return", NULL, value, id, delimited);
}

GString *
qa_reply_encode_error(const GError *error, JsonNode *id)
{
	g_autoptr(JsonObject) object = json_object_new();
	g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);

	json_object_set_string_member(object, "class", qa_reply_error_class(error));
	json_object_set_string_member(object, "desc", error->message);
	json_node_set_object(node, object);
	return qa_reply_encode("error", node, NULL, id, FALSE);
}
