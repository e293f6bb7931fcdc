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
qa_reply_line_begin(const gchar *key, gboolean delimited)
{
	GString *line = g_string_sized_new(128);

	if (delimited)
		g_string_append_c(line, (gchar)0xFF);
	g_string_append(line, "{\"");
	g_string_append(line, key);
	g_string_append(line, "\":");
	return line;
}

static GString *
qa_reply_line_end(GString *line, const gchar *id)
{
	if (id != NULL) {
		g_string_append(line, ",\"id\":");
		g_string_append(line, id);
	}
	g_string_append(line, "}\n");
	return line;
}

GString *
qa_reply_return_begin(gboolean delimited)
{
	return qa_reply_line_begin("return", delimited);
}

GString *
qa_reply_return_end(GString *line, const gchar *id)
{
	return qa_reply_line_end(line, id);
}

GString *
qa_reply_encode_error(const GError *error, const gchar *id)
{
	GString *line = qa_reply_line_begin("error", FALSE);

	g_string_append(line, "{\"class\":");
	qa_json_write_string(line, qa_reply_error_class(error));
	g_string_append(line, ",\"desc\":");
	qa_json_write_string(line, error->message);
	g_string_append_c(line, '}');
	return qa_reply_line_end(line, id);
}
