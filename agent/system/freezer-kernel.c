/* The freezer's default ops: the kernel's FIFREEZE, FITHAW, syncfs, FITRIM, ext4 checkpoint and
 * RCU knob, and the filesystem loaders. Tests replace them through QaFreezerOps. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "autocleanups.h"
#include "freezer-private.h"
#include "kernel-file.h"
#include "storage-graph.h"

/* not in the kernel's uapi headers: fs/ext4/ext4.h, since Linux 5.14 */
#ifndef EXT4_IOC_CHECKPOINT
#define EXT4_IOC_CHECKPOINT _IOW('f', 43, guint32)

#endif

/* FIFREEZE and FITHAW are declared _IOWR(..., int): the kernel ignores the argument, but
 * valgrind reads it as a pointer, so it gets one */
static gint
qa_freezer_kernel_freeze(gint fd, const gchar *mountpoint, gpointer user_data)
{
	gint unused = 0;
	return ioctl(fd, FIFREEZE, &unused) == 0 ? 0 : -errno;
}

static gint
qa_freezer_kernel_thaw(gint fd, const gchar *mountpoint, gpointer user_data)
{
	gint unused = 0;
	return ioctl(fd, FITHAW, &unused) == 0 ? 0 : -errno;
}

static gint
qa_freezer_kernel_sync(gint fd, const gchar *mountpoint, gpointer user_data)
{
	return syncfs(fd) == 0 ? 0 : -errno;
}

static gint
qa_freezer_kernel_checkpoint(gint fd,
			     const gchar *mountpoint,
			     const gchar *fstype,
			     gpointer user_data)
{
	guint32 flags = 0;

	/* the number is ext4's own: another filesystem may give it another meaning */
	if (g_strcmp0(fstype, "ext4") != 0 && g_strcmp0(fstype, "ext3") != 0)
		return -EOPNOTSUPP;
	return ioctl(fd, EXT4_IOC_CHECKPOINT, &flags) == 0 ? 0 : -errno;
}

/* FIFREEZE waits for an RCU grace period for each of its three freeze levels (the superblock's
 * percpu rwsems), with writers blocked during two of them: tens of ms on a busy machine, most
 * of what FIFREEZE costs once the data is flushed. Expedited grace periods take microseconds.
 * Writes only when the knob reads otherwise, so setting it back to normal leaves a 0 alone. */
static gint
qa_freezer_kernel_expedite_rcu(const QaRoots *roots, gboolean is_expedited, gpointer user_data)
{
	g_autofree gchar *path = g_build_filename(roots->sys, "kernel", "rcu_expedited", NULL);
	g_auto(QaFd) fd = open(path, O_RDWR | O_CLOEXEC);
	gchar was[2] = {0};

	if (fd < 0)
		return -errno;
	if (read(fd, was, 1) != 1)
		return -EIO;
	if ((was[0] != '0') == is_expedited)
		return was[0] != '0';
	if (pwrite(fd, is_expedited ? "1" : "0", 1, 0) != 1)
		return -errno;
	return was[0] != '0';
}

/* Dirty + Writeback of the whole system in KiB, or -1: for the log only, to tell how much the
 * flush before FIFREEZE left */
gint64
qa_freezer_read_dirty_kib(const QaRoots *roots)
{
	g_autofree gchar *path = g_build_filename(roots->proc, "meminfo", NULL);
	g_autofree gchar *text = qa_kernel_file_read(path, NULL);
	static const gchar *const keys[] = {"\nDirty:", "\nWriteback:"};
	gint64 total = 0;

	if (text == NULL)
		return -1;
	/* neither is the first line (MemTotal is) */
	for (guint i = 0; i < G_N_ELEMENTS(keys); i++) {
		const gchar *line = strstr(text, keys[i]);
		gchar *end;
		gint64 kib;

		if (line == NULL)
			return -1;
		kib = g_ascii_strtoll(line + strlen(keys[i]), &end, 10);
		if (end == line + strlen(keys[i]))
			return -1;
		total += kib;
	}
	return total;
}

static gint
qa_freezer_kernel_trim(gint fd,
		       const gchar *mountpoint,
		       guint64 *inout_minimum,
		       guint64 *out_trimmed,
		       gpointer user_data)
{
	struct fstrim_range range = {.start = 0, .len = G_MAXUINT64, .minlen = *inout_minimum};

	if (ioctl(fd, FITRIM, &range) != 0)
		return -errno;
	*inout_minimum = range.minlen;
	*out_trimmed = range.len;
	return 0;
}

static GPtrArray *
qa_freezer_kernel_load_filesystems(const QaRoots *roots, gpointer user_data, GError **error)
{
	g_autoptr(GPtrArray) mounts = qa_mounts_load(roots, error);

	if (mounts == NULL)
		return NULL;
	return qa_filesystems_from_mounts(roots, mounts);
}

static GPtrArray *
qa_freezer_kernel_freeze_levels(const QaRoots *roots,
				GPtrArray *filesystems,
				gpointer user_data,
				GError **error)
{
	return qa_storage_graph_freeze_levels(roots, filesystems, error);
}

/* Opens a mountpoint for the ioctls and checks that it still is the filesystem the table named:
 * the table may be stale by the time it is used, and a directory may have replaced the mount or a
 * symbolic link the mountpoint. The descriptor must be the root of a mount (not a directory a
 * mount was taken off, nor what a link leads to) of the expected filesystem: its device, or for
 * btrfs, which reports a device of its own for every subvolume, its filesystem type. Returns the
 * fd or a negative errno (-ESTALE for another filesystem). */
gint
qa_freezer_open_checked(
    const gchar *mountpoint, guint major, guint minor, const gchar *fstype, gpointer user_data)
{
	struct statx stx = {0};
	g_auto(QaFd) fd = open(mountpoint, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return errno == ELOOP || errno == ENOTDIR ? -ESTALE : -errno;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_TYPE, &stx) != 0)
		return -errno;
	/* kernels before 5.8 do not say whether a directory is a mount's root */
	if ((stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) != 0 &&
	    (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) == 0)
		return -ESTALE;
	if (g_strcmp0(fstype, "btrfs") == 0) {
		struct statfs sfs;
		if (fstatfs(fd, &sfs) != 0)
			return -errno;
		if (sfs.f_type != BTRFS_SUPER_MAGIC)
			return -ESTALE;
	} else if (stx.stx_dev_major != major || stx.stx_dev_minor != minor) {
		return -ESTALE;
	}
	return qa_fd_steal(&fd);
}

static GPtrArray *
qa_freezer_kernel_depends_on(const QaRoots *roots,
			     GPtrArray *filesystems,
			     GPtrArray *selected,
			     gpointer user_data,
			     GError **error)
{
	return qa_storage_graph_dependencies(roots, filesystems, selected, error);
}

static QaDiskSelectStorage *
qa_freezer_kernel_load_storage(const QaRoots *roots,
			       GPtrArray *filesystems,
			       GPtrArray *selectors,
			       gpointer user_data,
			       GError **error)
{
	return qa_disk_select_load(roots, filesystems, selectors, error);
}

static gboolean
qa_freezer_kernel_save_state(const gchar *statedir,
			     const QaState *state,
			     gpointer user_data,
			     GError **error)
{
	return qa_state_file_save(statedir, state, error);
}

/* the kernel's calls where the options left an op NULL */
void
qa_freezer_kernel_fill_ops(QaFreezerOps *ops)
{
	if (ops->open == NULL)
		ops->open = qa_freezer_open_checked;
	if (ops->freeze == NULL)
		ops->freeze = qa_freezer_kernel_freeze;
	if (ops->thaw == NULL)
		ops->thaw = qa_freezer_kernel_thaw;
	if (ops->sync == NULL)
		ops->sync = qa_freezer_kernel_sync;
	if (ops->trim == NULL)
		ops->trim = qa_freezer_kernel_trim;
	if (ops->checkpoint == NULL)
		ops->checkpoint = qa_freezer_kernel_checkpoint;
	if (ops->expedite_rcu == NULL)
		ops->expedite_rcu = qa_freezer_kernel_expedite_rcu;
	if (ops->load_filesystems == NULL)
		ops->load_filesystems = qa_freezer_kernel_load_filesystems;
	if (ops->freeze_levels == NULL)
		ops->freeze_levels = qa_freezer_kernel_freeze_levels;
	if (ops->depends_on == NULL)
		ops->depends_on = qa_freezer_kernel_depends_on;
	if (ops->save_state == NULL)
		ops->save_state = qa_freezer_kernel_save_state;
	if (ops->load_storage == NULL)
		ops->load_storage = qa_freezer_kernel_load_storage;
}
