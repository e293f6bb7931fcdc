/* libFuzzer target: the mount table parser, the table kept between requests, and the grouping
 * of mounts into filesystems. mountinfo is written by the kernel, but its fields carry
 * user-chosen paths and sources. */
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "mounts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static gboolean
fuzz_same_mounts(GPtrArray *a, GPtrArray *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	if (a->len != b->len)
		return FALSE;
	for (guint i = 0; i < a->len; i++) {
		const QaMount *x = g_ptr_array_index(a, i);
		const QaMount *y = g_ptr_array_index(b, i);
		if (strcmp(x->mountpoint, y->mountpoint) != 0 ||
		    strcmp(x->fstype, y->fstype) != 0 || strcmp(x->source, y->source) != 0 ||
		    strcmp(x->fs_root, y->fs_root) != 0 || x->major != y->major ||
		    x->minor != y->minor || x->mount_id != y->mount_id ||
		    x->parent_id != y->parent_id || x->is_readonly != y->is_readonly)
			return FALSE;
	}
	return TRUE;
}

/* The first byte splits the rest into two tables read one after the other: whatever the table
 * kept from the first, the second must give what parsing it afresh gives (never stale), and
 * so must the first read again. */
static void
fuzz_table(const uint8_t *data, size_t size)
{
	g_autoptr(QaMountTable) table = qa_mount_table_new();
	size_t split = size > 1 ? (size_t)data[0] * (size - 1) / 255 : 0;
	g_autofree gchar *first = g_strndup((const gchar *)data + 1, split);
	g_autofree gchar *second = g_strndup((const gchar *)data + 1 + split, size - 1 - split);
	/* the raw bytes, NULs included: the table must compare only what it parses */
	const struct {
		const gchar *raw;
		gsize len;
		const gchar *text;
	} reads[] = {
	    {(const gchar *)data + 1, split, first},
	    {(const gchar *)data + 1 + split, size - 1 - split, second},
	    {(const gchar *)data + 1, split, first},
	};

	for (guint i = 0; i < G_N_ELEMENTS(reads); i++) {
		g_autoptr(GPtrArray) kept =
		    qa_mount_table_update(table, reads[i].raw, reads[i].len, NULL);
		g_autoptr(GPtrArray) fresh = qa_mounts_parse(reads[i].text, NULL);

		if (!fuzz_same_mounts(kept, fresh))
			__builtin_trap();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autofree gchar *text = g_strndup((const gchar *)data, size);
	g_autoptr(GPtrArray) mounts = qa_mounts_parse(text, NULL);
	g_autoptr(QaRoots) roots = qa_roots_new("/nonexistent/proc", "/nonexistent/sys",
						"/nonexistent/dev", FALSE);
	g_autoptr(GPtrArray) filesystems = NULL;

	if (size > 0)
		fuzz_table(data, size);
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
