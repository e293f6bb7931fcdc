/* Freeze order from the storage stack.
 *
 * Reverse mount order is not a dependency order: an image file on /data can be loop-mounted
 * at /mnt/img before or after other mounts, and freezing /data first leaves /mnt/img's
 * writeback blocked on a frozen filesystem, which can hang the guest. So a filesystem whose
 * block devices include a loop device (directly or through partitions, device-mapper and MD)
 * is frozen in an earlier level than the filesystem that holds the loop device's backing file,
 * recursively (loop over loop). Filesystems in one level do not depend on each other; within a
 * level they keep reverse mount order (children before parents), as QEMU's agent and libvirt
 * expect. */
#include "storage-graph.h"

#include <sys/sysmacros.h>

#include "blockdev.h"
#include "qa-error.h"

/* the filesystems that hold the backing files of loop devices under filesystem @index */
static GArray *
qa_storage_graph_holders(QaBlockdevModel *model, GPtrArray *mounts, guint index)
{
	GArray *holders = g_array_new(FALSE, FALSE, sizeof(guint));
	const QaMount *first = NULL;
	g_autoptr(GArray) devnums = NULL;

	for (guint i = 0; i < mounts->len && first == NULL; i++) {
		const QaMount *mount = g_ptr_array_index(mounts, i);
		if (mount->mount_id == (gint)index)
			first = mount;
	}
	if (first == NULL)
		return holders;
	devnums = qa_blockdev_model_get_mount_devices(model, first);
	for (guint i = 0; i < devnums->len; i++) {
		dev_t devnum = g_array_index(devnums, dev_t, i);
		g_autoptr(GPtrArray) loops =
		    qa_blockdev_model_get_loops(model, major(devnum), minor(devnum));
		for (guint j = 0; j < loops->len; j++) {
			const QaBlockdev *loop = g_ptr_array_index(loops, j);
			const QaMount *holder = qa_blockdev_model_find_backing_mount(model, loop);
			guint holder_index;
			if (holder == NULL || holder->mount_id == (gint)index)
				continue;
			holder_index = (guint)holder->mount_id;
			g_array_append_val(holders, holder_index);
		}
	}
	return holders;
}

/* one walk of every filesystem's devices, then the levels of them all */
GPtrArray *
qa_storage_graph_freeze_levels(const QaRoots *roots, GPtrArray *filesystems, GError **error)
{
	g_autoptr(GPtrArray) depends =
	    qa_storage_graph_dependencies(roots, filesystems, NULL, error);

	return qa_storage_graph_levels(filesystems, depends, filesystems, error);
}

GPtrArray *
qa_storage_graph_dependencies(const QaRoots *roots,
			      GPtrArray *filesystems,
			      GPtrArray *selected,
			      GError **error)
{
	g_autoptr(GPtrArray) mounts = qa_filesystems_to_mounts(filesystems);
	g_autoptr(QaBlockdevModel) model = qa_blockdev_model_new(roots, mounts);

	return qa_storage_graph_dependencies_in(model, mounts, filesystems, selected);
}

GPtrArray *
qa_storage_graph_dependencies_in(QaBlockdevModel *model,
				 GPtrArray *mounts,
				 GPtrArray *filesystems,
				 GPtrArray *selected)
{
	GPtrArray *holders = g_ptr_array_new_with_free_func((GDestroyNotify)g_array_unref);
	g_autoptr(GArray) queue = g_array_new(FALSE, FALSE, sizeof(guint));

	/* walking a filesystem's devices costs syscalls into sysfs, so only those of the selected
	 * filesystems and of what they are stored on are walked, not every mounted one */
	g_ptr_array_set_size(holders, filesystems->len);
	for (guint i = 0; i < filesystems->len; i++) {
		if (selected == NULL ||
		    g_ptr_array_find(selected, g_ptr_array_index(filesystems, i), NULL))
			g_array_append_val(queue, i);
	}
	for (guint q = 0; q < queue->len; q++) {
		guint index = g_array_index(queue, guint, q);
		GArray *direct;

		if (g_ptr_array_index(holders, index) != NULL)
			continue;
		direct = qa_storage_graph_holders(model, mounts, index);
		g_ptr_array_index(holders, index) = direct;
		for (guint j = 0; j < direct->len; j++)
			g_array_append_val(queue, g_array_index(direct, guint, j));
	}
	for (guint i = 0; i < filesystems->len; i++) {
		if (g_ptr_array_index(holders, i) == NULL)
			g_ptr_array_index(holders, i) = g_array_new(FALSE, FALSE, sizeof(guint));
	}
	return holders;
}

/* marks in @below every filesystem @index is stored on, directly or not; FALSE when the walk
 * comes back to @start (a cycle through it) */
static gboolean
qa_storage_graph_collect(GPtrArray *depends, guint start, guint index, gboolean *below)
{
	GArray *direct = g_ptr_array_index(depends, index);

	for (guint i = 0; i < direct->len; i++) {
		guint next = g_array_index(direct, guint, i);
		if (next == start)
			return FALSE;
		if (below[next])
			continue;
		below[next] = TRUE;
		if (!qa_storage_graph_collect(depends, start, next, below))
			return FALSE;
	}
	return TRUE;
}

/* the level of selected filesystem @s (index into @sel): one more than that of every selected
 * filesystem stored on it, 0 when none is */
static gint
qa_storage_graph_level_of(guint s, guint n_sel, const guint *sel, gboolean **below, gint *level)
{
	gint result = 0;

	if (level[s] >= 0)
		return level[s];
	for (guint t = 0; t < n_sel; t++) {
		if (t != s && below[t][sel[s]])
			result =
			    MAX(result, qa_storage_graph_level_of(t, n_sel, sel, below, level) + 1);
	}
	level[s] = result;
	return result;
}

GPtrArray *
qa_storage_graph_levels(GPtrArray *filesystems,
			GPtrArray *depends,
			GPtrArray *selected,
			GError **error)
{
	guint n_sel = selected->len;
	g_autofree guint *sel = g_new0(guint, MAX(n_sel, 1));
	g_autofree gint *level = g_new(gint, MAX(n_sel, 1));
	g_autofree gboolean **below = g_new0(gboolean *, MAX(n_sel, 1));
	g_autoptr(GPtrArray) levels =
	    g_ptr_array_new_with_free_func((GDestroyNotify)g_ptr_array_unref);
	gboolean is_acyclic = TRUE;
	gint max_level = -1;

	for (guint s = 0; s < n_sel && is_acyclic; s++) {
		QaFilesystem *fs = g_ptr_array_index(selected, s);
		if (!g_ptr_array_find(filesystems, fs, &sel[s]))
			g_return_val_if_reached(NULL);
		level[s] = -1;
		below[s] = g_new0(gboolean, filesystems->len);
		is_acyclic = qa_storage_graph_collect(depends, sel[s], sel[s], below[s]);
		if (!is_acyclic)
			g_set_error(error,
				    QA_SYSTEM_ERROR,
				    QA_SYSTEM_ERROR_INVALID,
				    "loop devices form a cycle through the filesystem at '%s': "
				    "expected each backing file on a filesystem below it",
				    (const gchar *)g_ptr_array_index(fs->mountpoints, 0));
	}
	for (guint s = 0; s < n_sel && is_acyclic; s++)
		max_level = MAX(max_level, qa_storage_graph_level_of(s, n_sel, sel, below, level));
	for (gint l = 0; l <= max_level; l++) {
		GPtrArray *members = g_ptr_array_new();
		/* within a level, the reverse of @selected's order: for filesystems in order of
		 * first mount, reverse mount order (children before parents) */
		for (guint s = n_sel; s > 0; s--) {
			if (level[s - 1] == l)
				g_ptr_array_add(members, g_ptr_array_index(selected, s - 1));
		}
		g_ptr_array_add(levels, members);
	}
	for (guint s = 0; s < n_sel; s++)
		g_free(below[s]);
	return is_acyclic ? g_steal_pointer(&levels) : NULL;
}
