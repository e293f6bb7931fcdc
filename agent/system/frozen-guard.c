#include "frozen-guard.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "freezer.h"
#include "mounts.h"
#include "qa-error.h"

/* the mount id and device of @path, or of its nearest existing ancestor */
static gboolean
qa_frozen_guard_stat(const gchar *path, guint64 *out_mount_id, dev_t *out_dev)
{
	g_autofree gchar *probe = g_strdup(path);

	for (;;) {
		struct statx stx = {0};

		if (statx(AT_FDCWD, probe, 0, STATX_MNT_ID, &stx) == 0) {
			*out_mount_id = (stx.stx_mask & STATX_MNT_ID) != 0 ? stx.stx_mnt_id : 0;
			*out_dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
			return TRUE;
		}
		if (g_strcmp0(probe, "/") == 0 || g_strcmp0(probe, ".") == 0)
			return FALSE;
		{
			gchar *parent = g_path_get_dirname(probe);
			g_free(probe);
			probe = parent;
		}
	}
}

gboolean
qa_frozen_guard_check_path(QaFreezer *freezer,
			   const QaRoots *roots,
			   const gchar *path,
			   const gchar *purpose,
			   GError **error)
{
	guint64 mount_id = 0;
	dev_t dev = 0;
	guint major, minor;
	const gchar *mountpoint = NULL;
	g_autoptr(GPtrArray) mounts = NULL;

	if (freezer == NULL || !qa_freezer_is_any_frozen(freezer))
		return TRUE;
	if (!qa_frozen_guard_stat(path, &mount_id, &dev))
		return TRUE;
	major = major(dev);
	minor = minor(dev);
	/* the mount id leads to the superblock's number as mountinfo has it, which is what the
	 * freezer records; stat's st_dev differs from it on btrfs */
	mounts = qa_mounts_load(roots, NULL);
	for (guint i = 0; mounts != NULL && mount_id != 0 && i < mounts->len; i++) {
		const QaMount *mount = g_ptr_array_index(mounts, i);
		if ((guint64)mount->mount_id == mount_id) {
			major = mount->major;
			minor = mount->minor;
			mountpoint = mount->mountpoint;
			break;
		}
	}
	if (!qa_freezer_is_frozen(freezer, major, minor))
		return TRUE;
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_BUSY,
		    "Cannot %s: '%s' is on the filesystem %s%s%s(%u:%u), which the agent holds "
		    "frozen; thaw it first (guest-fsfreeze-thaw)",
		    purpose,
		    path,
		    mountpoint != NULL ? "mounted at '" : "",
		    mountpoint != NULL ? mountpoint : "",
		    mountpoint != NULL ? "' " : "",
		    major,
		    minor);
	return FALSE;
}
