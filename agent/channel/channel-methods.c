/* The transports' method table, the same on both platforms: each transport (channel.c,
 * win32/channel-win32.c) lists its methods once, with their default paths, in the table
 * qa_channel_get_methods() returns; everything that looks a method up reads that table. */
#include <glib.h>

#include "channel.h"

/* "a, b, c or d": the methods of this platform, for messages */
gchar *
qa_channel_describe_methods(void)
{
	const QaChannelMethod *methods = qa_channel_get_methods();
	g_autoptr(GString) text = g_string_new(NULL);

	for (guint i = 0; methods[i].name != NULL; i++) {
		if (i > 0)
			g_string_append(text, methods[i + 1].name == NULL ? " or " : ", ");
		g_string_append(text, methods[i].name);
	}
	return g_string_free(g_steal_pointer(&text), FALSE);
}

const QaChannelMethod *
qa_channel_find_method(const gchar *name, GError **error)
{
	const QaChannelMethod *methods = qa_channel_get_methods();
	g_autofree gchar *expected = NULL;

	for (guint i = 0; methods[i].name != NULL; i++) {
		if (g_strcmp0(methods[i].name, name) == 0)
			return &methods[i];
	}
	expected = qa_channel_describe_methods();
	g_set_error(error,
		    G_FILE_ERROR,
		    G_FILE_ERROR_INVAL,
		    "unknown method '%s'; expected %s",
		    name,
		    expected);
	return NULL;
}

const gchar *
qa_channel_get_default_path(const gchar *method)
{
	const QaChannelMethod *entry = qa_channel_find_method(method, NULL);

	return entry != NULL ? entry->default_path : NULL;
}
