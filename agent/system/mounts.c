/* The mount table, parsed by libmount, and the filesystems (superblocks) behind it. */
#include "mounts.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "autocleanups.h"
#include "blockdev.h"
#include "qa-error.h"
#include "sysfs.h"

QaMount *
qa_mount_copy(const QaMount *mount)
{
	QaMount *copy = g_new0(QaMount, 1);
	*copy = *mount;
	copy->mountpoint = g_strdup(mount->mountpoint);
	copy->fstype = g_strdup(mount->fstype);
	copy->source = g_strdup(mount->source);
	copy->fs_root = g_strdup(mount->fs_root);
	return copy;
}

void
qa_mount_free(QaMount *mount)
{
	if (mount == NULL)
		return;
	g_free(mount->mountpoint);
	g_free(mount->fstype);
	g_free(mount->source);
	g_free(mount->fs_root);
	g_free(mount);
}

QaFilesystem *
qa_filesystem_new(guint major, guint minor, const gchar *fstype, const gchar *source)
{
	QaFilesystem *fs = g_new0(QaFilesystem, 1);
	fs->major = major;
	fs->minor = minor;
	fs->fstype = g_strdup(fstype);
	fs->source = g_strdup(source);
	fs->mountpoints = g_ptr_array_new_with_free_func(g_free);
	return fs;
}

void
qa_filesystem_free(QaFilesystem *fs)
{
	if (fs == NULL)
		return;
	g_free(fs->fstype);
	g_free(fs->source);
	g_ptr_array_unref(fs->mountpoints);
	g_free(fs);
}

/* a malformed line is skipped rather than failing the whole table: one odd entry (a kernel
 * newer than libmount, a truncated read) must not hide every other filesystem */
static int
qa_mounts_parser_errcb(struct libmnt_table *table, const char *filename, int line)
{
	g_debug("skipping malformed mountinfo line=%d", line);
	return 1;
}

static gboolean
qa_mounts_has_option(const gchar *optstr, const gchar *name)
{
	return optstr != NULL && mnt_optstr_get_option(optstr, name, NULL, NULL) == 0;
}

static QaMount *
qa_mounts_from_fs(struct libmnt_fs *fs)
{
	QaMount *mount;
	const gchar *target = mnt_fs_get_target(fs);
	dev_t devno = mnt_fs_get_devno(fs);

	/* validate field by field: mountinfo is untrusted input */
	if (target == NULL || target[0] != '/' || mnt_fs_get_fstype(fs) == NULL)
		return NULL;
	mount = g_new0(QaMount, 1);
	mount->mountpoint = g_strdup(target);
	mount->fstype = g_strdup(mnt_fs_get_fstype(fs));
	mount->source = g_strdup(mnt_fs_get_source(fs) != NULL ? mnt_fs_get_source(fs) : "none");
	mount->fs_root = g_strdup(mnt_fs_get_root(fs) != NULL ? mnt_fs_get_root(fs) : "/");
	mount->major = major(devno);
	mount->minor = minor(devno);
	mount->mount_id = mnt_fs_get_id(fs);
	mount->parent_id = mnt_fs_get_parent_id(fs);
	mount->is_readonly = qa_mounts_has_option(mnt_fs_get_vfs_options(fs), "ro") ||
			     qa_mounts_has_option(mnt_fs_get_fs_options(fs), "ro");
	return mount;
}

GPtrArray *
qa_mounts_parse(const gchar *text, GError **error)
{
	g_autoptr(GPtrArray) mounts = g_ptr_array_new_with_free_func((GDestroyNotify)qa_mount_free);
	g_autoptr(libmnt_table) table = mnt_new_table();
	g_autoptr(libmnt_iter) iter = mnt_new_iter(MNT_ITER_FORWARD);
	struct libmnt_fs *fs = NULL;
	FILE *stream;
	gsize len;
	int rc;

	g_return_val_if_fail(text != NULL, NULL);

	/* fmemopen() refuses a zero-sized buffer: an empty table is simply empty */
	len = strlen(text);
	if (len == 0)
		return g_steal_pointer(&mounts);
	if (table == NULL || iter == NULL) {
		g_set_error_literal(error,
				    QA_SYSTEM_ERROR,
				    QA_SYSTEM_ERROR_FAILED,
				    "cannot allocate a libmount table");
		return NULL;
	}
	stream = fmemopen((gpointer)text, len, "r");
	if (stream == NULL) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "cannot read the mount table from memory: %s",
			    g_strerror(errno));
		return NULL;
	}
	mnt_table_set_parser_errcb(table, qa_mounts_parser_errcb);
	rc = mnt_table_parse_stream(table, stream, "mountinfo");
	fclose(stream);
	if (rc != 0) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_PARSE,
			    "cannot parse the mount table: expected mountinfo lines (%s)",
			    g_strerror(-rc));
		return NULL;
	}
	while (mnt_table_next_fs(table, iter, &fs) == 0) {
		QaMount *mount = qa_mounts_from_fs(fs);
		if (mount != NULL)
			g_ptr_array_add(mounts, mount);
	}
	if (mounts->len == 0) {
		g_set_error_literal(error,
				    QA_SYSTEM_ERROR,
				    QA_SYSTEM_ERROR_PARSE,
				    "cannot parse the mount table: no line is a mountinfo entry");
		return NULL;
	}
	return g_steal_pointer(&mounts);
}

/* @size_hint: the last table's size. Through stdio (g_file_get_contents) 1,000 mounts took
 * 40 read() calls of 1 and 3 KiB, each copied once more, where the kernel needs 20 of a page,
 * and a tenth of a guest-get-fsinfo request. */
static gchar *
qa_mounts_read(const QaRoots *roots, gsize size_hint, gsize *out_len, GError **error)
{
	gchar *text = qa_kernel_file_read_generated(
	    roots->mountinfo, MAX(size_hint + size_hint / 4, 16384), out_len);

	if (text == NULL)
		g_set_error(error,
			    G_FILE_ERROR,
			    g_file_error_from_errno(errno),
			    "cannot read the mount table %s: %s",
			    roots->mountinfo,
			    g_strerror(errno));
	return text;
}

GPtrArray *
qa_mounts_load(const QaRoots *roots, GError **error)
{
	g_autofree gchar *text = qa_mounts_read(roots, 0, NULL, error);
	g_autoptr(GPtrArray) mounts = NULL;

	if (text == NULL)
		return NULL;
	mounts = qa_mounts_parse(text, error);
	if (mounts == NULL) {
		g_prefix_error(error, "%s: ", roots->mountinfo);
		return NULL;
	}
	return g_steal_pointer(&mounts);
}

struct _QaMountTable {
	gchar *text; /* what @mounts were parsed from; NULL before the first successful parse */
	gsize len;
	GPtrArray *mounts;
	guint64 generation; /* parses that changed the table: 0 before the first */
};

QaMountTable *
qa_mount_table_new(void)
{
	return g_new0(QaMountTable, 1);
}

void
qa_mount_table_free(QaMountTable *table)
{
	if (table == NULL)
		return;
	g_free(table->text);
	if (table->mounts != NULL)
		g_ptr_array_unref(table->mounts);
	g_free(table);
}

GPtrArray *
qa_mount_table_update(QaMountTable *table, const gchar *text, gsize len, GError **error)
{
	g_autofree gchar *copy = NULL;
	GPtrArray *mounts;

	/* the parser stops at a NUL, so the text compared must too */
	len = strnlen(text, len);
	if (table->text != NULL && len == table->len && memcmp(text, table->text, len) == 0)
		return g_ptr_array_ref(table->mounts);
	copy = g_strndup(text, len);
	mounts = qa_mounts_parse(copy, error);
	if (mounts == NULL)
		return NULL;
	g_free(table->text);
	table->text = g_steal_pointer(&copy);
	table->len = len;
	if (table->mounts != NULL)
		g_ptr_array_unref(table->mounts);
	table->mounts = mounts;
	table->generation++;
	return g_ptr_array_ref(mounts);
}

guint64
qa_mount_table_get_generation(const QaMountTable *table)
{
	return table->generation;
}

GPtrArray *
qa_mount_table_load(QaMountTable *table, const QaRoots *roots, GError **error)
{
	gsize len = 0;
	g_autofree gchar *text = qa_mounts_read(roots, table->len, &len, error);
	GPtrArray *mounts;

	if (text == NULL)
		return NULL;
	mounts = qa_mount_table_update(table, text, len, error);
	if (mounts == NULL)
		g_prefix_error(error, "%s: ", roots->mountinfo);
	return mounts;
}

/* The rule for "backed by a block device", shared by guest-get-fsinfo and the freezer: the
 * superblock's device number is a block device in sysfs, or (btrfs, whose superblocks carry an
 * anonymous 0:N number) the mount source is one. Everything else (proc, sysfs, cgroup, devtmpfs,
 * tmpfs, overlay, nfs, fuse without a device, ...) is a pseudo or network filesystem and is not
 * reported. No list of filesystem type names is involved, so new pseudo filesystems need no
 * update. */
gboolean
qa_mounts_is_block_backed(const QaRoots *roots, const QaMount *mount)
{
	guint major = 0;
	guint minor = 0;

	if (mount->major != 0 && qa_blockdev_exists(roots, mount->major, mount->minor))
		return TRUE;
	return g_strcmp0(mount->fstype, "btrfs") == 0 &&
	       qa_blockdev_lookup_source(roots, mount->source, &major, &minor);
}

GPtrArray *
qa_filesystems_from_mounts(const QaRoots *roots, GPtrArray *mounts)
{
	g_autoptr(GPtrArray) filesystems =
	    g_ptr_array_new_with_free_func((GDestroyNotify)qa_filesystem_free);
	g_autoptr(GHashTable) by_devnum = g_hash_table_new(g_direct_hash, g_direct_equal);

	for (guint i = 0; i < mounts->len; i++) {
		QaMount *mount = g_ptr_array_index(mounts, i);
		gpointer key = GSIZE_TO_POINTER((gsize)makedev(mount->major, mount->minor));
		QaFilesystem *fs = g_hash_table_lookup(by_devnum, key);

		if (fs == NULL) {
			fs = qa_filesystem_new(
			    mount->major, mount->minor, mount->fstype, mount->source);
			fs->is_block_backed = qa_mounts_is_block_backed(roots, mount);
			g_hash_table_insert(by_devnum, key, fs);
			g_ptr_array_add(filesystems, fs);
		}
		g_ptr_array_add(fs->mountpoints, g_strdup(mount->mountpoint));
	}
	return g_steal_pointer(&filesystems);
}

GPtrArray *
qa_filesystems_to_mounts(GPtrArray *filesystems)
{
	GPtrArray *mounts = g_ptr_array_new_with_free_func((GDestroyNotify)qa_mount_free);

	for (guint i = 0; i < filesystems->len; i++) {
		QaFilesystem *fs = g_ptr_array_index(filesystems, i);
		for (guint j = 0; j < fs->mountpoints->len; j++) {
			QaMount *mount = g_new0(QaMount, 1);
			mount->mountpoint = g_strdup(g_ptr_array_index(fs->mountpoints, j));
			mount->fstype = g_strdup(fs->fstype);
			mount->source = g_strdup(fs->source);
			mount->fs_root = g_strdup("/");
			mount->major = fs->major;
			mount->minor = fs->minor;
			mount->mount_id = (gint)i;
			g_ptr_array_add(mounts, mount);
		}
	}
	return mounts;
}

/* The mount through which @path is reached: the one whose mountpoint is the longest prefix of
 * @path, the later one when several are stacked on one mountpoint (it hides the earlier). Pure
 * path logic: nothing on any filesystem is opened or stat()ed, so this works while filesystems
 * are frozen or a network server hangs. */
const QaMount *
qa_mounts_find_holding(GPtrArray *mounts, const gchar *path)
{
	const QaMount *best = NULL;
	gsize best_len = 0;

	if (path == NULL || path[0] != '/')
		return NULL;
	for (guint i = 0; i < mounts->len; i++) {
		const QaMount *mount = g_ptr_array_index(mounts, i);
		gsize len = strlen(mount->mountpoint);

		while (len > 1 && mount->mountpoint[len - 1] == '/')
			len--;
		if (strncmp(path, mount->mountpoint, len) != 0)
			continue;
		if (!(len == 1 || path[len] == '\0' || path[len] == '/'))
			continue;
		if (best == NULL || len >= best_len) {
			best = mount;
			best_len = len;
		}
	}
	return best;
}
