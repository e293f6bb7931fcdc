/* What a freeze call knows of the kernel's storage, kept for the next call: the mount table, the
 * filesystems grouped from it and the block device model the dependency walk reads.
 *
 * Owned by whichever thread holds op_lock (the dispatcher's worker lane); nothing else touches it.
 * Every call reads mountinfo again (the mount table parses it only when its text changed) and
 * /sys/kernel/uevent_seqnum after it. The filesystems and the model are kept while both are what
 * they were when they were built, as fsinfo's model (blockdev-cache.c): which filesystems there
 * are and where changes only with the mount table; which block devices back them, which loop
 * devices are under them and which file each loop device reads only with a uevent (every add,
 * remove and change of a device, a loop device set up or cleared, a dm table loaded). Anything
 * else, or a seqnum that cannot be read, builds everything again. */
#include "blockdev.h"
#include "freezer-private.h"
#include "freezer-select.h"
#include "storage-graph.h"

struct _QaFreezerStorage {
	QaMountTable *table;
	QaStorageEpoch epoch;
	GPtrArray *mounts;	/* the table's array the filesystems were grouped from */
	GPtrArray *filesystems; /* confined; handed out by reference, never modified */
	GPtrArray *fs_mounts;	/* qa_filesystems_to_mounts(filesystems), for the model */
	QaModelCache *models;
	guint n_builds; /* for the log and tests: how often the filesystems were built */
};

QaFreezerStorage *
qa_freezer_storage_new(void)
{
	QaFreezerStorage *storage = g_new0(QaFreezerStorage, 1);

	storage->table = qa_mount_table_new();
	storage->models = qa_model_cache_new();
	return storage;
}

static void
qa_freezer_storage_clear(QaFreezerStorage *storage)
{
	g_clear_pointer(&storage->mounts, g_ptr_array_unref);
	g_clear_pointer(&storage->filesystems, g_ptr_array_unref);
	g_clear_pointer(&storage->fs_mounts, g_ptr_array_unref);
	/* a new cache: the model must never outlive the mounts it borrows */
	g_clear_pointer(&storage->models, qa_model_cache_free);
	storage->models = qa_model_cache_new();
}

void
qa_freezer_storage_free(QaFreezerStorage *storage)
{
	if (storage == NULL)
		return;
	qa_freezer_storage_clear(storage);
	qa_model_cache_free(storage->models);
	qa_mount_table_free(storage->table);
	g_free(storage);
}

GPtrArray *
qa_freezer_storage_load(QaFreezerStorage *storage,
			const QaRoots *roots,
			gboolean *out_is_kept,
			GError **error)
{
	g_autoptr(GPtrArray) mounts = qa_mount_table_load(storage->table, roots, error);
	QaStorageEpoch now;

	if (mounts == NULL)
		return NULL;
	/* after the table, before anything reads sysfs: a uevent during the reads below gives
	 * the next call another number */
	qa_storage_epoch_load(roots, qa_mount_table_get_generation(storage->table), &now);
	*out_is_kept = storage->filesystems != NULL && storage->mounts == mounts &&
		       qa_storage_epoch_is_same(&storage->epoch, &now);
	if (*out_is_kept)
		return g_ptr_array_ref(storage->filesystems);
	qa_freezer_storage_clear(storage);
	storage->epoch = now;
	storage->mounts = g_steal_pointer(&mounts);
	storage->filesystems = qa_filesystems_from_mounts(roots, storage->mounts);
	qa_freeze_select_confine(roots, storage->filesystems);
	storage->fs_mounts = qa_filesystems_to_mounts(storage->filesystems);
	storage->n_builds++;
	return g_ptr_array_ref(storage->filesystems);
}

GPtrArray *
qa_freezer_storage_depends_on(QaFreezerStorage *storage,
			      const QaRoots *roots,
			      GPtrArray *filesystems,
			      GPtrArray *selected)
{
	QaBlockdevModel *model;

	/* only the filesystems the last load gave: the model is built over their mounts */
	g_return_val_if_fail(filesystems == storage->filesystems, NULL);
	model = qa_model_cache_get(
	    storage->models, roots, storage->fs_mounts, &storage->epoch, NULL, NULL);
	return qa_storage_graph_dependencies_in(model, storage->fs_mounts, filesystems, selected);
}

guint
qa_freezer_storage_get_builds(const QaFreezerStorage *storage)
{
	return storage->n_builds;
}
