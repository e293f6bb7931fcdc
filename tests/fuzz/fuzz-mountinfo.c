/* libFuzzer target: the mount table parser and the grouping of mounts into filesystems.
 * mountinfo is written by the kernel, but its fields carry user-chosen paths and sources. */
#include <glib.h>
#include <stdint.h>

#include "mounts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autofree gchar *text = g_strndup((const gchar *)data, size);
	g_autoptr(GPtrArray) mounts = qa_mounts_parse(text, NULL);
	g_autoptr(QaRoots) roots = qa_roots_new("/nonexistent/proc", "/nonexistent/sys",
						"/nonexistent/dev", FALSE);
	g_autoptr(GPtrArray) filesystems = NULL;

	if (mounts == NULL)
		return 0;
	filesystems = qa_filesystems_from_mounts(roots, mounts);
	for (guint i = 0; i < mounts->len; i++) {
		const QaMount *mount = g_ptr_array_index(mounts, i);
		g_autoptr(QaMount) copy = qa_mount_copy(mount);
		(void)qa_roots_is_confined_path(roots, copy->mountpoint);
		(void)qa_mounts_find_holding(mounts, copy->mountpoint);
	}
	return 0;
}
