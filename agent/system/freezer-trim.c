/* guest-fstrim: FITRIM on every block filesystem the agent does not hold frozen. */
#include <errno.h>

#include "autocleanups.h"
#include "freezer-private.h"

void
qa_trim_result_free(QaTrimResult *result)
{
	if (result == NULL)
		return;
	g_free(result->mountpoint);
	g_free(result->error);
	g_free(result);
}

/* trimming ------------------------------------------------------------------------------------- */

static QaTrimResult *
qa_freezer_trim_one(QaFreezer *self, QaFilesystem *fs, guint64 minimum)
{
	g_autoptr(QaTrimResult) result = g_new0(QaTrimResult, 1);
	g_auto(QaFd) fd = -1;
	guint64 trimmed = 0;
	gint ret;

	result->mountpoint = g_strdup(g_ptr_array_index(fs->mountpoints, 0));
	/* FITRIM on a frozen filesystem would block until the thaw */
	if (qa_freezer_is_frozen(self, fs->major, fs->minor)) {
		result->error = g_strdup("the filesystem is frozen; thaw it first");
		return g_steal_pointer(&result);
	}
	fd = self->ops.open(result->mountpoint, fs->major, fs->minor, fs->fstype, self->ops_data);
	if (fd < 0) {
		result->error = g_strdup_printf("failed to open: %s", g_strerror(-fd));
		return g_steal_pointer(&result);
	}
	ret = self->ops.trim(fd, result->mountpoint, &minimum, &trimmed, self->ops_data);
	if (ret == -ENOTTY || ret == -EOPNOTSUPP) {
		result->error = g_strdup("trim not supported");
	} else if (ret != 0) {
		result->error = g_strdup_printf("failed to trim: %s", g_strerror(-ret));
	} else {
		result->is_trimmed = TRUE;
		result->trimmed = trimmed;
		result->minimum = minimum;
	}
	return g_steal_pointer(&result);
}

GPtrArray *
qa_freezer_trim(QaFreezer *self, gboolean has_minimum, guint64 minimum, GError **error)
{
	/* no freeze can start while trimming, so a filesystem seen thawed stays thawed */
	g_autoptr(GMutexLocker) op G_GNUC_UNUSED = g_mutex_locker_new(&self->op_lock);
	g_autoptr(GPtrArray) filesystems = qa_freezer_load_filesystems(self, error);
	g_autoptr(GPtrArray) results =
	    g_ptr_array_new_with_free_func((GDestroyNotify)qa_trim_result_free);

	if (filesystems == NULL)
		return NULL;
	for (guint i = 0; i < filesystems->len; i++) {
		QaFilesystem *fs = g_ptr_array_index(filesystems, i);
		if (!fs->is_block_backed)
			continue;
		g_ptr_array_add(results, qa_freezer_trim_one(self, fs, has_minimum ? minimum : 0));
	}
	return g_steal_pointer(&results);
}
