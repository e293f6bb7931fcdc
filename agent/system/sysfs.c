#include "sysfs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autocleanups.h"
#include "qa-error.h"

/* how many links one resolution follows before it reports a loop, as the kernel's ELOOP */
#define QA_SYSFS_MAX_LINKS 40

gchar *
qa_sysfs_read_attr(const gchar *dir, const gchar *name)
{
	g_autofree gchar *path = g_build_filename(dir, name, NULL);
	g_autofree gchar *text = qa_kernel_file_read(path, NULL);

	if (text == NULL)
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

/* @path with "." and ".." taken away by name, not by resolving anything: @path is absolute */
static gchar *
qa_sysfs_normalize(const gchar *path)
{
	g_auto(GStrv) parts = g_strsplit(path, "/", -1);
	g_autoptr(GPtrArray) kept = g_ptr_array_new();
	GString *out = g_string_new(NULL);

	for (guint i = 0; parts[i] != NULL; i++) {
		if (parts[i][0] == '\0' || strcmp(parts[i], ".") == 0)
			continue;
		if (strcmp(parts[i], "..") == 0) {
			if (kept->len > 0)
				g_ptr_array_set_size(kept, kept->len - 1);
			continue;
		}
		g_ptr_array_add(kept, parts[i]);
	}
	for (guint i = 0; i < kept->len; i++)
		g_string_append_printf(out, "/%s", (const gchar *)g_ptr_array_index(kept, i));
	if (out->len == 0)
		g_string_append_c(out, '/');
	return g_string_free(out, FALSE);
}

gchar *
qa_sysfs_resolve_link(const gchar *path, GError **error)
{
	g_autofree gchar *current = g_strdup(path);
	gchar target[PATH_MAX];

	for (guint hops = 0; hops <= QA_SYSFS_MAX_LINKS; hops++) {
		gssize len = readlink(current, target, sizeof(target));
		gint errsv = errno;
		g_autofree gchar *joined = NULL;

		if (len < 0 && errsv == EINVAL)
			return g_steal_pointer(&current); /* there, and not a link */
		if (len < 0 || (gsize)len >= sizeof(target)) {
			errsv = len < 0 ? errsv : ENAMETOOLONG;
			g_set_error(error,
				    QA_SYSTEM_ERROR,
				    errsv == ENOENT ? QA_SYSTEM_ERROR_NOT_FOUND
						    : QA_SYSTEM_ERROR_FAILED,
				    "cannot resolve '%s': %s",
				    path,
				    g_strerror(errsv));
			return NULL;
		}
		target[len] = '\0';
		if (target[0] == '/') {
			joined = g_strdup(target);
		} else {
			g_autofree gchar *dir = g_path_get_dirname(current);
			joined = g_build_filename(dir, target, NULL);
		}
		g_free(current);
		current = qa_sysfs_normalize(joined);
	}
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_FAILED,
		    "cannot resolve '%s': %s",
		    path,
		    g_strerror(ELOOP));
	return NULL;
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
