#include "roots.h"

#include <string.h>

QaRoots *
qa_roots_new(const gchar *proc, const gchar *sys, const gchar *dev, gboolean use_udev)
{
	QaRoots *roots = g_new0(QaRoots, 1);
	roots->proc = g_strdup(proc);
	roots->sys = g_strdup(sys);
	roots->dev = g_strdup(dev);
	roots->mountinfo = g_build_filename(proc, "self", "mountinfo", NULL);
	roots->use_udev = use_udev;
	return roots;
}

QaRoots *
qa_roots_new_default(void)
{
	return qa_roots_new("/proc", "/sys", "/dev", TRUE);
}

QaRoots *
qa_roots_copy(const QaRoots *roots)
{
	QaRoots *copy = qa_roots_new(roots->proc, roots->sys, roots->dev, roots->use_udev);
	g_free(copy->mountinfo);
	copy->mountinfo = g_strdup(roots->mountinfo);
	copy->confine = g_strdup(roots->confine);
	return copy;
}

void
qa_roots_free(QaRoots *roots)
{
	if (roots == NULL)
		return;
	g_free(roots->proc);
	g_free(roots->sys);
	g_free(roots->dev);
	g_free(roots->mountinfo);
	g_free(roots->confine);
	g_free(roots);
}

/* TRUE when @path is the confinement directory or lies below it (or when nothing is confined).
 * Compared as strings on canonical paths: the mount table holds canonical mountpoints. */
gboolean
qa_roots_is_confined_path(const QaRoots *roots, const gchar *path)
{
	gsize len;

	if (roots->confine == NULL)
		return TRUE;
	len = strlen(roots->confine);
	while (len > 1 && roots->confine[len - 1] == '/')
		len--;
	if (strncmp(path, roots->confine, len) != 0)
		return FALSE;
	return path[len] == '\0' || path[len] == '/' || (len == 1 && roots->confine[0] == '/');
}
