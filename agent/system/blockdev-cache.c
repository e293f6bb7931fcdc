/* A block device model kept between requests, and what says it is still valid.
 *
 * A model reads sysfs (and udev, for serials) once per device, and what it read changes only
 * when the kernel's device model does, which the kernel announces with a uevent: every add,
 * remove, change (media change, resize, dm table load, md array change, loop device set up or
 * cleared), move and rename takes the next number of the one counter it exports,
 * /sys/kernel/uevent_seqnum, whether anybody listens or not. Which mounts there are, and so
 * which loop backing files are where, changes with the mount table. A model is therefore
 * reused while both the seqnum and the mount table's generation are what they were when it was
 * built, and while everything it read was final: a serial udev had not finished with, or an
 * address that did not resolve, can change without a uevent (udev finishing is not one), so such
 * a model is built again next time. The seqnum is read before the model walks sysfs: a change
 * that the walk missed announces itself with a later number.
 *
 * One change to the disks under a mount comes with neither: `btrfs device add` links the new
 * device under /sys/fs/btrfs/<fsid>/devices and sends no uevent (measured: the seqnum stays). So
 * the epoch also holds a hash of those lists, read before the walk as the seqnum is; a system
 * without btrfs pays one failed opendir() for it. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "blockdev-private.h"
#include "blockdev.h"
#include "qa-fd.h"

gboolean
qa_storage_epoch_parse_seqnum(const gchar *text, guint64 *out)
{
	gchar *end = NULL;
	guint64 value;

	if (text == NULL || !g_ascii_isdigit(text[0]))
		return FALSE;
	errno = 0;
	value = g_ascii_strtoull(text, &end, 10);
	if (errno != 0 || (*end != '\0' && *end != '\n') || (*end == '\n' && end[1] != '\0'))
		return FALSE;
	*out = value;
	return TRUE;
}

/* FNV-1a over @text and its terminating NUL, which keeps "ab","c" apart from "a","bc" */
static guint64
qa_storage_epoch_fold(guint64 hash, const gchar *text)
{
	const guchar *p = (const guchar *)text;

	do {
		hash ^= *p;
		hash *= G_GUINT64_CONSTANT(1099511628211);
	} while (*p++ != '\0');
	return hash;
}

/* A sum of one hash per (fsid, device) pair, the same whatever order readdir gives them in,
 * so nothing is sorted: this runs on every fsinfo and freeze. */
static void
qa_storage_epoch_btrfs_add(const gchar *fsid, GPtrArray *devices, gpointer data)
{
	guint64 *sum = data;
	guint64 seed = qa_storage_epoch_fold(G_GUINT64_CONSTANT(14695981039346656037), fsid);

	for (guint i = 0; i < devices->len; i++)
		*sum += qa_storage_epoch_fold(seed, g_ptr_array_index(devices, i));
}

static guint64
qa_storage_epoch_btrfs_hash(const QaRoots *roots)
{
	guint64 sum = 0;

	qa_blockdev_btrfs_foreach(roots, qa_storage_epoch_btrfs_add, &sum);
	return sum;
}

void
qa_storage_epoch_load(const QaRoots *roots, guint64 mount_generation, QaStorageEpoch *out)
{
	g_autofree gchar *path = g_build_filename(roots->sys, "kernel", "uevent_seqnum", NULL);
	g_auto(QaFd) fd = open(path, O_RDONLY | O_CLOEXEC);
	gchar buf[32];
	gssize n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	out->mounts = mount_generation;
	out->btrfs = qa_storage_epoch_btrfs_hash(roots);
	out->is_known = FALSE;
	if (n <= 0)
		return;
	buf[n] = '\0';
	out->is_known = qa_storage_epoch_parse_seqnum(buf, &out->uevents);
}

gboolean
qa_storage_epoch_is_same(const QaStorageEpoch *a, const QaStorageEpoch *b)
{
	return a->is_known && b->is_known && a->uevents == b->uevents && a->mounts == b->mounts &&
	       a->btrfs == b->btrfs;
}

struct _QaModelCache {
	QaStorageEpoch epoch;
	GPtrArray *mounts; /* a reference: the model borrows it */
	QaBlockdevModel *model;
};

QaModelCache *
qa_model_cache_new(void)
{
	return g_new0(QaModelCache, 1);
}

static void
qa_model_cache_clear(QaModelCache *cache)
{
	g_clear_pointer(&cache->model, qa_blockdev_model_free);
	g_clear_pointer(&cache->mounts, g_ptr_array_unref);
}

void
qa_model_cache_free(QaModelCache *cache)
{
	if (cache == NULL)
		return;
	qa_model_cache_clear(cache);
	g_free(cache);
}

gboolean
qa_blockdev_model_is_settled(const QaBlockdevModel *model)
{
	return !model->is_unsettled;
}

gboolean
qa_model_cache_is_valid(const QaStorageEpoch *kept, const QaStorageEpoch *now, gboolean is_settled)
{
	return is_settled && qa_storage_epoch_is_same(kept, now);
}

QaBlockdevModel *
qa_model_cache_get(QaModelCache *cache,
		   const QaRoots *roots,
		   GPtrArray *mounts,
		   const QaStorageEpoch *epoch,
		   QaSerialCache *serials,
		   gboolean *out_is_reused)
{
	gboolean is_reused = cache->model != NULL && cache->mounts == mounts &&
			     qa_model_cache_is_valid(
				 &cache->epoch, epoch, qa_blockdev_model_is_settled(cache->model));

	if (out_is_reused != NULL)
		*out_is_reused = is_reused;
	if (is_reused)
		return cache->model;
	qa_model_cache_clear(cache);
	cache->epoch = *epoch;
	cache->mounts = g_ptr_array_ref(mounts);
	cache->model = qa_blockdev_model_new(roots, cache->mounts);
	qa_blockdev_model_set_serial_cache(cache->model, serials);
	return cache->model;
}
