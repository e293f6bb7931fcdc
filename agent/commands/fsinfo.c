/* guest-get-fsinfo: every mounted filesystem backed by a block device, with its disks.
 *
 * Only /proc, /sys and statvfs() are used (through an O_PATH descriptor, which only resolves the
 * path): nothing on a filesystem is read or written, so the command is answered while
 * filesystems are frozen (QEMU's agent refuses it then). A filesystem is listed when a block
 * device backs it (see qa_mounts_is_block_backed()); proc, sysfs, cgroup, tmpfs, overlay and
 * network filesystems are not. Each mountpoint is one entry, bind mounts included,
 * in reverse mount order (libvirt reverses the list back). Sizes follow statvfs(3):
 *   used-bytes             = (f_blocks - f_bfree) * f_frsize
 *   total-bytes            = used-bytes + f_bavail * f_frsize   (what an unprivileged user sees)
 *   total-bytes-privileged = f_blocks * f_frsize                 (including root's reserve)
 * and are left out for a mountpoint whose statvfs() fails (logged), without dropping the entry.
 * They depend only on the superblock and the directory mounted (project quotas make a
 * directory's sizes its own), so mounts of one directory of one filesystem (bind mounts) share
 * one statvfs() per request, taken through a mount that is verified to be the one its
 * mountpoint reaches. A mount hidden under another one therefore reports the sizes of its own
 * directory when a mount of that directory is visible, else what statvfs() of its mountpoint
 * gives (the sizes of what hides it), as before.
 * Extension: a loop device's disks are those of the filesystem holding its backing file.
 *
 * The mount table is the agent's (agent->mount_table), and so is the block device model
 * (agent->models), kept from one request to the next while no uevent and no change of the mount
 * table says it may be stale: commands that are not worker commands, this one included, all run
 * on the main thread, their owner. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "agent.h"
#include "blockdev.h"
#include "disk-address.h"
#include "freezer.h"
#include "mounts.h"
#include "qa-fd.h"
#include "qa-schema.h"

typedef struct {
	guint64 used;
	guint64 total;
	guint64 total_privileged;
} QaFsinfoSizes;

/* mounts of one directory of one superblock: a key of borrowed QaMount */
static guint
qa_fsinfo_root_hash(gconstpointer key)
{
	const QaMount *mount = key;
	return g_str_hash(mount->fs_root) ^ (guint)makedev(mount->major, mount->minor);
}

static gboolean
qa_fsinfo_root_equal(gconstpointer a, gconstpointer b)
{
	const QaMount *ma = a;
	const QaMount *mb = b;
	return ma->major == mb->major && ma->minor == mb->minor &&
	       strcmp(ma->fs_root, mb->fs_root) == 0;
}

/* statvfs() of @mount's mountpoint; *out_is_own is TRUE when the path reaches @mount itself
 * (not a mount hiding it), which kernels before 5.8 cannot tell (no STATX_MNT_ID) */
static gboolean
qa_fsinfo_statvfs(const QaMount *mount, QaFsinfoSizes *out, gboolean *out_is_own)
{
	/* O_PATH opens nothing on the filesystem: safe while it is frozen, as statvfs() is */
	g_auto(QaFd) fd = open(mount->mountpoint, O_PATH | O_CLOEXEC);
	struct statvfs st;
	struct statx stx;

	if (fd < 0 || fstatvfs(fd, &st) != 0) {
		g_warning("cannot statvfs mountpoint=%s, reporting it without sizes: %s",
			  mount->mountpoint,
			  g_strerror(errno));
		return FALSE;
	}
	out->used = ((guint64)st.f_blocks - st.f_bfree) * st.f_frsize;
	out->total = out->used + (guint64)st.f_bavail * st.f_frsize;
	out->total_privileged = (guint64)st.f_blocks * st.f_frsize;
	*out_is_own = statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) == 0 &&
		      (stx.stx_mask & STATX_MNT_ID) != 0 &&
		      stx.stx_mnt_id == (guint64)mount->mount_id;
	return TRUE;
}

static void
qa_fsinfo_apply_sizes(QaGuestFilesystemInfo *info, const QaFsinfoSizes *sizes)
{
	info->has_used_bytes = TRUE;
	info->used_bytes = sizes->used;
	info->has_total_bytes = TRUE;
	info->total_bytes = sizes->total;
	info->has_total_bytes_privileged = TRUE;
	info->total_bytes_privileged = sizes->total_privileged;
}

/* a mount whose mountpoint reaches another mount: sized at the end of the request */
typedef struct {
	QaGuestFilesystemInfo *info;
	const QaMount *mount;
	QaFsinfoSizes sizes; /* what statvfs() of its mountpoint gave */
} QaFsinfoHidden;

static void
qa_fsinfo_set_sizes(QaGuestFilesystemInfo *info,
		    const QaMount *mount,
		    GHashTable *shared,
		    GArray *hidden)
{
	const QaFsinfoSizes *sizes = g_hash_table_lookup(shared, mount);
	QaFsinfoHidden later = {info, mount, {0}};
	gboolean is_own = FALSE;

	if (sizes != NULL) {
		qa_fsinfo_apply_sizes(info, sizes);
		return;
	}
	if (!qa_fsinfo_statvfs(mount, &later.sizes, &is_own))
		return;
	if (!is_own) {
		g_array_append_val(hidden, later);
		return;
	}
	g_hash_table_insert(shared, (gpointer)mount, g_memdup2(&later.sizes, sizeof(later.sizes)));
	qa_fsinfo_apply_sizes(info, &later.sizes);
}

/* hidden mounts take the sizes of a visible mount of the same directory, listed before or
 * after them; failing that, what statvfs() of their mountpoint gave */
static void
qa_fsinfo_set_hidden_sizes(GHashTable *shared, GArray *hidden)
{
	for (guint i = 0; i < hidden->len; i++) {
		const QaFsinfoHidden *later = &g_array_index(hidden, QaFsinfoHidden, i);
		const QaFsinfoSizes *sizes = g_hash_table_lookup(shared, later->mount);

		qa_fsinfo_apply_sizes(later->info, sizes != NULL ? sizes : &later->sizes);
	}
}

/* the wire list of @mount's disks (a new reference). Mounts of one device share one list, as
 * they share the device's walk in the model; not btrfs mounts, whose disks are those of every
 * device of their filesystem. */
static GPtrArray *
qa_fsinfo_get_disks(QaBlockdevModel *model,
		    const QaMount *mount,
		    const QaBlockdev *dev,
		    GHashTable *by_device)
{
	gboolean is_shared = g_strcmp0(mount->fstype, "btrfs") != 0;
	g_autoptr(GPtrArray) disks = NULL;
	GPtrArray *wire = is_shared ? g_hash_table_lookup(by_device, dev) : NULL;

	if (wire != NULL)
		return g_ptr_array_ref(wire);
	disks = qa_blockdev_model_get_mount_disks(model, mount);
	wire = qa_disk_address_list_to_wire(disks);
	if (is_shared)
		g_hash_table_insert(by_device, (gpointer)dev, g_ptr_array_ref(wire));
	return wire;
}

gboolean
qa_cmd_guest_get_fsinfo(QaAgent *agent, GPtrArray **out_ret, GError **error)
{
	g_autoptr(GPtrArray) mounts = qa_mount_table_load(agent->mount_table, agent->roots, error);
	QaBlockdevModel *model = NULL;
	QaStorageEpoch epoch = {0};
	g_autoptr(GPtrArray) infos = qa_guest_filesystem_info_list_new();
	g_autoptr(GHashTable) sizes =
	    g_hash_table_new_full(qa_fsinfo_root_hash, qa_fsinfo_root_equal, NULL, g_free);
	g_autoptr(GArray) hidden = g_array_new(FALSE, FALSE, sizeof(QaFsinfoHidden));
	g_autoptr(GHashTable) disks = g_hash_table_new_full(
	    g_direct_hash, g_direct_equal, NULL, (GDestroyNotify)g_ptr_array_unref);

	if (mounts == NULL)
		return FALSE;
	/* the device model is reused while it is valid; sizes and frozen flags are read anew */
	qa_storage_epoch_load(
	    agent->roots, qa_mount_table_get_generation(agent->mount_table), &epoch);
	model =
	    qa_model_cache_get(agent->models, agent->roots, mounts, &epoch, agent->serials, NULL);
	for (guint i = mounts->len; i > 0; i--) {
		const QaMount *mount = g_ptr_array_index(mounts, i - 1);
		const QaBlockdev *dev = qa_blockdev_model_get_mount_device(model, mount);
		QaGuestFilesystemInfo *info;

		if (dev == NULL || !qa_roots_is_confined_path(agent->roots, mount->mountpoint))
			continue;
		info = qa_guest_filesystem_info_new();
		info->name = g_strdup(dev->name);
		info->mountpoint = g_strdup(mount->mountpoint);
		info->type = g_strdup(mount->fstype);
		qa_fsinfo_set_sizes(info, mount, sizes, hidden);
		if (info->disk != NULL)
			g_ptr_array_unref(info->disk);
		info->disk = qa_fsinfo_get_disks(model, mount, dev, disks);
		if (agent->freezer != NULL) {
			info->has_frozen = TRUE;
			info->frozen =
			    qa_freezer_is_frozen(agent->freezer, mount->major, mount->minor);
		}
		g_ptr_array_add(infos, info);
	}
	qa_fsinfo_set_hidden_sizes(sizes, hidden);
	*out_ret = g_steal_pointer(&infos);
	return TRUE;
}
