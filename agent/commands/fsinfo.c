/* guest-get-fsinfo: every mounted filesystem backed by a block device, with its disks.
 *
 * Only /proc, /sys and statvfs() are used: nothing on a filesystem is opened, so the command is
 * answered while filesystems are frozen (QEMU's agent refuses it then). A filesystem is listed
 * when a block device backs it (see qa_mounts_is_block_backed()); proc, sysfs, cgroup, tmpfs,
 * overlay and network filesystems are not. Each mountpoint is one entry, bind mounts included,
 * in reverse mount order (libvirt reverses the list back). Sizes follow statvfs(3):
 *   used-bytes             = (f_blocks - f_bfree) * f_frsize
 *   total-bytes            = used-bytes + f_bavail * f_frsize   (what an unprivileged user sees)
 *   total-bytes-privileged = f_blocks * f_frsize                 (including root's reserve)
 * and are left out for a mountpoint whose statvfs() fails (logged), without dropping the entry.
 * Extension: a loop device's disks are those of the filesystem holding its backing file.
 *
 * The mount table is the agent's (agent->mount_table): commands that are not worker commands,
 * this one included, all run on the main thread, its owner. */
#include <errno.h>
#include <sys/statvfs.h>

#include "agent.h"
#include "blockdev.h"
#include "disk-address.h"
#include "freezer.h"
#include "mounts.h"
#include "qa-schema.h"

static void
qa_fsinfo_set_sizes(QaGuestFilesystemInfo *info)
{
	struct statvfs st;
	guint64 used;

	if (statvfs(info->mountpoint, &st) != 0) {
		g_warning("cannot statvfs mountpoint=%s, reporting it without sizes: %s",
			  info->mountpoint,
			  g_strerror(errno));
		return;
	}
	used = ((guint64)st.f_blocks - st.f_bfree) * st.f_frsize;
	info->has_used_bytes = TRUE;
	info->used_bytes = used;
	info->has_total_bytes = TRUE;
	info->total_bytes = used + (guint64)st.f_bavail * st.f_frsize;
	info->has_total_bytes_privileged = TRUE;
	info->total_bytes_privileged = (guint64)st.f_blocks * st.f_frsize;
}

gboolean
qa_cmd_guest_get_fsinfo(QaAgent *agent, GPtrArray **out_ret, GError **error)
{
	g_autoptr(GPtrArray) mounts = qa_mount_table_load(agent->mount_table, agent->roots, error);
	g_autoptr(QaBlockdevModel) model = NULL;
	g_autoptr(GPtrArray) infos = qa_guest_filesystem_info_list_new();

	if (mounts == NULL)
		return FALSE;
	model = qa_blockdev_model_new(agent->roots, mounts);
	for (guint i = mounts->len; i > 0; i--) {
		const QaMount *mount = g_ptr_array_index(mounts, i - 1);
		const QaBlockdev *dev = qa_blockdev_model_get_mount_device(model, mount);
		g_autoptr(GPtrArray) disks = NULL;
		QaGuestFilesystemInfo *info;

		if (dev == NULL || !qa_roots_is_confined_path(agent->roots, mount->mountpoint))
			continue;
		info = qa_guest_filesystem_info_new();
		info->name = g_strdup(dev->name);
		info->mountpoint = g_strdup(mount->mountpoint);
		info->type = g_strdup(mount->fstype);
		qa_fsinfo_set_sizes(info);
		disks = qa_blockdev_model_get_mount_disks(model, mount);
		if (info->disk != NULL)
			g_ptr_array_unref(info->disk);
		info->disk = qa_disk_address_list_to_wire(disks);
		if (agent->freezer != NULL) {
			info->has_frozen = TRUE;
			info->frozen =
			    qa_freezer_is_frozen(agent->freezer, mount->major, mount->minor);
		}
		g_ptr_array_add(infos, info);
	}
	*out_ret = g_steal_pointer(&infos);
	return TRUE;
}
