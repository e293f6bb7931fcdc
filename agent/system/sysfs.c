#include "sysfs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qa-error.h"

gchar *
qa_sysfs_read_attr(const gchar *dir, const gchar *name)
{
	g_autofree gchar *path = g_build_filename(dir, name, NULL);
	g_autofree gchar *text = NULL;

	if (!g_file_get_contents(path, &text, NULL, NULL))
		return NULL;
	g_strstrip(text);
	if (text[0] == '\0')
		return NULL;
	return g_steal_pointer(&text);
}

gboolean
qa_sysfs_read_uint(const gchar *dir, const gchar *name, guint64 *out_value)
{
	g_autofree gchar *text = qa_sysfs_read_attr(dir, name);

	if (text == NULL)
		return FALSE;
	return g_ascii_string_to_unsigned(text, 10, 0, G_MAXUINT64, out_value, NULL);
}

gchar *
qa_sysfs_link_name(const gchar *dir, const gchar *name)
{
	g_autofree gchar *path = g_build_filename(dir, name, NULL);
	g_autofree gchar *target = g_file_read_link(path, NULL);

	if (target == NULL)
		return NULL;
	return g_path_get_basename(target);
}

gchar *
qa_sysfs_realpath(const gchar *path, GError **error)
{
	g_autofree gchar *real = realpath(path, NULL);

	if (real == NULL) {
		gint errsv = errno;
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    errsv == ENOENT ? QA_SYSTEM_ERROR_NOT_FOUND : QA_SYSTEM_ERROR_FAILED,
			    "cannot resolve '%s': %s",
			    path,
			    g_strerror(errsv));
		return NULL;
	}
	/* realpath() memory comes from malloc(); hand out GLib memory */
	return g_strdup(real);
}

gchar *
qa_sysfs_lookup_key(const gchar *text, const gchar *key)
{
	g_auto(GStrv) lines = NULL;
	gsize keylen = strlen(key);

	if (text == NULL)
		return NULL;
	lines = g_strsplit(text, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		const gchar *line = lines[i];
		/* udev database files prefix properties with "E:" */
		if (g_str_has_prefix(line, "E:"))
			line += 2;
		if (strncmp(line, key, keylen) == 0 && line[keylen] == '=')
			return g_strstrip(g_strdup(line + keylen + 1));
	}
	return NULL;
}

gboolean
qa_sysfs_parse_devnum(const gchar *text, guint *out_major, guint *out_minor)
{
	guint major;
	guint minor;
	gint consumed = 0;

	if (text == NULL || sscanf(text, "%u:%u%n", &major, &minor, &consumed) != 2 ||
	    text[consumed] != '\0')
		return FALSE;
	*out_major = major;
	*out_minor = minor;
	return TRUE;
}
