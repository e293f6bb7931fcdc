#include "freezer-select.h"

#include <errno.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "qa-error.h"

void
qa_freeze_select_confine(const QaRoots *roots, GPtrArray *filesystems)
{
	for (guint i = filesystems->len; i > 0; i--) {
		QaFilesystem *fs = g_ptr_array_index(filesystems, i - 1);
		for (guint j = fs->mountpoints->len; j > 0; j--) {
			const gchar *mp = g_ptr_array_index(fs->mountpoints, j - 1);
			if (!qa_roots_is_confined_path(roots, mp))
				g_ptr_array_remove_index(fs->mountpoints, j - 1);
		}
		if (fs->mountpoints->len == 0)
			g_ptr_array_remove_index(filesystems, i - 1);
	}
}

static const gchar *
qa_freeze_select_excluded_by(const QaFreezeSelect *select, QaFilesystem *fs)
{
	const gchar *const *types = select->exclude_types;
	const gchar *const *mountpoints = select->exclude_mountpoints;

	for (guint i = 0; types != NULL && types[i] != NULL; i++) {
		if (g_pattern_match_simple(types[i], fs->fstype))
			return types[i];
	}
	for (guint i = 0; mountpoints != NULL && mountpoints[i] != NULL; i++) {
		for (guint j = 0; j < fs->mountpoints->len; j++) {
			const gchar *mp = g_ptr_array_index(fs->mountpoints, j);
			if (g_pattern_match_simple(mountpoints[i], mp))
				return mountpoints[i];
		}
	}
	return NULL;
}

/* the filesystem mounted at @path; the last match wins, as the last mount hides earlier ones */
static QaFilesystem *
qa_freeze_select_lookup(GPtrArray *filesystems, const gchar *path)
{
	QaFilesystem *found = NULL;

	for (guint i = 0; i < filesystems->len; i++) {
		QaFilesystem *fs = g_ptr_array_index(filesystems, i);
		for (guint j = 0; j < fs->mountpoints->len; j++) {
			if (g_strcmp0(g_ptr_array_index(fs->mountpoints, j), path) == 0)
				found = fs;
		}
	}
	return found;
}

static QaFilesystem *
qa_freeze_select_resolve(const QaFreezeSelect *select,
			 GPtrArray *filesystems,
			 const gchar *name,
			 GError **error)
{
	QaFilesystem *fs;
	g_autofree gchar *canonical = NULL;

	if (!g_path_is_absolute(name)) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_INVALID,
			    "'%s' is not an absolute path; expected a mountpoint such as '/' or "
			    "'/var'.",
			    name);
		return NULL;
	}
	/* the exact name first: resolving a path walks directories that may be frozen */
	fs = qa_freeze_select_lookup(filesystems, name);
	if (fs != NULL)
		return fs;
	canonical = realpath(name, NULL);
	if (canonical == NULL) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_NOT_FOUND,
			    "The mountpoint '%s' does not exist: %s.",
			    name,
			    g_strerror(errno));
		return NULL;
	}
	fs = qa_freeze_select_lookup(filesystems, canonical);
	if (fs != NULL)
		return fs;
	if (!qa_roots_is_confined_path(select->roots, canonical)) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_NOT_FOUND,
			    "'%s' is outside '%s', the only directory whose mounts this agent may "
			    "freeze.",
			    name,
			    select->roots->confine);
		return NULL;
	}
	g_set_error(
	    error,
	    QA_SYSTEM_ERROR,
	    QA_SYSTEM_ERROR_NOT_FOUND,
	    "'%s' is not a mountpoint; expected the mountpoint of a filesystem, as listed by "
	    "guest-get-fsinfo.",
	    name);
	return NULL;
}

static gboolean
qa_freeze_select_check(const QaFreezeSelect *select,
		       QaFilesystem *fs,
		       const gchar *name,
		       GError **error)
{
	return select->check == NULL || select->check(fs, name, select->check_data, error);
}

/* one name of a list: everything that makes it unfreezable is an error naming it */
static QaFilesystem *
qa_freeze_select_one(const QaFreezeSelect *select,
		     GPtrArray *filesystems,
		     const gchar *name,
		     GError **error)
{
	QaFilesystem *fs = qa_freeze_select_resolve(select, filesystems, name, error);
	const gchar *pattern;

	if (fs == NULL)
		return NULL;
	pattern = qa_freeze_select_excluded_by(select, fs);
	if (pattern != NULL) {
		g_set_error(
		    error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_INVALID,
		    "'%s' (%s) is excluded from freezing by the configuration pattern '%s'.",
		    name,
		    fs->fstype,
		    pattern);
		return NULL;
	}
	if (!fs->is_block_backed) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_UNSUPPORTED,
			    "'%s' cannot be frozen: its filesystem (%s from '%s') has no block "
			    "device.",
			    name,
			    fs->fstype,
			    fs->source != NULL ? fs->source : "?");
		return NULL;
	}
	if (!qa_freeze_select_check(select, fs, name, error))
		return NULL;
	return fs;
}

/* tells select->note why @fs is left alone: excluded by @pattern, or no block device */
static void
qa_freeze_select_note(const QaFreezeSelect *select,
		      QaFilesystem *fs,
		      gboolean is_excluded,
		      const gchar *pattern)
{
	g_autofree gchar *why = NULL;

	if (select->note == NULL)
		return;
	why = is_excluded ? g_strdup_printf("excluded by the configuration pattern '%s'", pattern)
			  : g_strdup_printf("no block device (%s from '%s')",
					    fs->fstype,
					    fs->source != NULL ? fs->source : "?");
	select->note(fs, is_excluded, why, select->check_data);
}

gchar *
qa_freeze_select_explain(const QaFreezeSelect *select, QaFilesystem *fs)
{
	const gchar *pattern = qa_freeze_select_excluded_by(select, fs);

	if (pattern != NULL)
		return g_strdup_printf("excluded by the configuration pattern '%s'", pattern);
	if (!fs->is_block_backed)
		return g_strdup("no block device");
	return NULL;
}

GPtrArray *
qa_freeze_select_disks(const QaFreezeSelect *select,
		       GPtrArray *filesystems,
		       GPtrArray *matches,
		       GError **error)
{
	g_autoptr(GPtrArray) selected = g_ptr_array_new();

	for (guint i = 0; i < filesystems->len; i++) {
		QaFilesystem *fs = g_ptr_array_index(filesystems, i);
		const gchar *pattern;
		gboolean is_caught = FALSE;

		for (guint j = 0; j < matches->len && !is_caught; j++) {
			QaDiskSelectMatch *match = g_ptr_array_index(matches, j);
			for (guint k = 0; k < match->filesystems->len && !is_caught; k++)
				is_caught = g_array_index(match->filesystems, guint, k) == i;
		}
		if (!is_caught)
			continue;
		pattern = qa_freeze_select_excluded_by(select, fs);
		if (pattern != NULL || !fs->is_block_backed) {
			qa_freeze_select_note(select, fs, pattern != NULL, pattern);
			continue;
		}
		if (!qa_freeze_select_check(
			select, fs, g_ptr_array_index(fs->mountpoints, 0), error))
			return NULL;
		g_ptr_array_add(selected, fs);
	}
	return g_steal_pointer(&selected);
}

GPtrArray *
qa_freeze_select(const QaFreezeSelect *select,
		 GPtrArray *filesystems,
		 GPtrArray *names,
		 GError **error)
{
	g_autoptr(GPtrArray) selected = g_ptr_array_new();

	for (guint i = 0; names != NULL && i < names->len; i++) {
		QaFilesystem *fs =
		    qa_freeze_select_one(select, filesystems, g_ptr_array_index(names, i), error);
		if (fs == NULL)
			return NULL;
		/* aliases (bind mounts) of one filesystem freeze it once */
		if (!g_ptr_array_find(selected, fs, NULL))
			g_ptr_array_add(selected, fs);
	}
	for (guint i = 0; names == NULL && i < filesystems->len; i++) {
		QaFilesystem *fs = g_ptr_array_index(filesystems, i);
		const gchar *mp = g_ptr_array_index(fs->mountpoints, 0);
		const gchar *pattern = qa_freeze_select_excluded_by(select, fs);

		if (pattern != NULL) {
			g_info("not freezing mountpoint=%s fstype=%s: excluded by pattern=%s",
			       mp,
			       fs->fstype,
			       pattern);
			qa_freeze_select_note(select, fs, TRUE, pattern);
			continue;
		}
		if (!fs->is_block_backed) {
			g_info("not freezing mountpoint=%s fstype=%s: no block device",
			       mp,
			       fs->fstype);
			qa_freeze_select_note(select, fs, FALSE, NULL);
			continue;
		}
		if (!qa_freeze_select_check(select, fs, mp, error))
			return NULL;
		g_ptr_array_add(selected, fs);
	}
	return g_steal_pointer(&selected);
}

/* filesystems that keep their data in memory: writing to them can never wait for a frozen disk */
static gboolean
qa_freeze_select_is_memory_fs(const struct statfs *sfs)
{
	return sfs->f_type == TMPFS_MAGIC || sfs->f_type == RAMFS_MAGIC;
}

/* The state directory is written while filesystems are frozen: a write that waits for a frozen
 * filesystem would never return, and then neither would the thaw. Comparing device numbers with
 * the filesystems being frozen is not enough (btrfs reports another number to stat() than to
 * mountinfo; an overlay or a loop device may sit on a frozen filesystem), so the directory must
 * be on a memory filesystem, as /run is. It must also be the agent's alone: a directory, not a
 * link, owned by the agent's user and writable by nobody else, since its file decides what a
 * restarted agent thaws. */
gboolean
qa_freeze_select_check_statedir(const gchar *statedir, GError **error)
{
	struct stat st;
	struct statfs sfs;

	if (lstat(statedir, &st) != 0) {
		g_set_error(
		    error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_FAILED,
		    "Refusing to freeze: the state directory '%s' is missing (%s); expected "
		    "a directory on a tmpfs, such as /run/quiesce-agent.",
		    statedir,
		    g_strerror(errno));
		return FALSE;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022) != 0) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Refusing to freeze: the state directory '%s' %s; expected a directory "
			    "(not a link) owned by uid %u and writable by nobody else.",
			    statedir,
			    S_ISLNK(st.st_mode)	     ? "is a symbolic link"
			    : !S_ISDIR(st.st_mode)   ? "is not a directory"
			    : st.st_uid != geteuid() ? "belongs to another user"
						     : "is writable by group or others",
			    (guint)geteuid());
		return FALSE;
	}
	if (statfs(statedir, &sfs) != 0 || !qa_freeze_select_is_memory_fs(&sfs)) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Refusing to freeze: the state directory '%s' is not on a memory "
			    "filesystem; the agent writes it while filesystems are frozen, so it "
			    "must be on a tmpfs (such as /run or /dev/shm) that is never frozen.",
			    statedir);
		return FALSE;
	}
	return TRUE;
}
