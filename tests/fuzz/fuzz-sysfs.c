/* libFuzzer target: the storage model over a mutated sysfs/proc/dev tree. The input is decoded
 * into a file tree in a scratch directory, then the model is built over it the way
 * guest-get-fsinfo and guest-get-disks build it: every block device, its disks and their
 * addresses, and the disks of every mount.
 *
 * The input is one record per line (make-sysfs-corpus.py writes the seeds from tests/fixtures):
 *   d <TAB> path                a directory
 *   f <TAB> path <TAB> content  a file; the content is C-escaped (\n, \t, \\)
 *   l <TAB> path <TAB> target   a symbolic link
 * Paths are relative to the tree's root. So that the tree never leads outside its directory,
 * records with ".." or an absolute path are dropped, nothing is created through a link, and a
 * link's target is relative: some ".." (at most as deep as the link), then plain names. */
#include <errno.h>
#include <ftw.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blockdev.h"
#include "mounts.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_RECORDS 2000

static gchar *fuzz_root;

static gboolean
fuzz_is_plain_name(const gchar *name)
{
	return name[0] != '\0' && g_strcmp0(name, ".") != 0 && g_strcmp0(name, "..") != 0;
}

/* a relative path of plain names; the number of names in @out_depth */
static gboolean
fuzz_is_safe_path(const gchar *path, guint *out_depth)
{
	g_auto(GStrv) parts = g_strsplit(path, "/", -1);

	if (parts[0] == NULL)
		return FALSE;
	for (guint i = 0; parts[i] != NULL; i++) {
		if (!fuzz_is_plain_name(parts[i]))
			return FALSE;
	}
	*out_depth = g_strv_length(parts);
	return TRUE;
}

/* leading "..", no more than @depth - 1 of them, then plain names */
static gboolean
fuzz_is_safe_target(const gchar *target, guint depth)
{
	g_auto(GStrv) parts = g_strsplit(target, "/", -1);
	guint i = 0;

	if (target[0] == '/' || parts[0] == NULL)
		return FALSE;
	for (; parts[i] != NULL && g_strcmp0(parts[i], "..") == 0; i++)
		;
	if (i >= depth)
		return FALSE;
	for (; parts[i] != NULL; i++) {
		if (!fuzz_is_plain_name(parts[i]))
			return FALSE;
	}
	return TRUE;
}

/* creates the directories above @path; FALSE when one of them exists as anything else */
static gboolean
fuzz_make_parents(const gchar *path)
{
	g_auto(GStrv) parts = g_strsplit(path, "/", -1);
	g_autoptr(GString) dir = g_string_new(fuzz_root);

	for (guint i = 0; parts[i] != NULL && parts[i + 1] != NULL; i++) {
		struct stat st;

		g_string_append_printf(dir, "/%s", parts[i]);
		if (mkdir(dir->str, 0755) != 0 && errno != EEXIST)
			return FALSE;
		if (lstat(dir->str, &st) != 0 || !S_ISDIR(st.st_mode))
			return FALSE;
	}
	return TRUE;
}

static void
fuzz_add_record(const gchar *line)
{
	g_auto(GStrv) fields = g_strsplit(line, "\t", 3);
	g_autofree gchar *full = NULL;
	g_autofree gchar *value = NULL;
	guint depth = 0;

	if (g_strv_length(fields) < 2 || !fuzz_is_safe_path(fields[1], &depth) ||
	    !fuzz_make_parents(fields[1]))
		return;
	full = g_build_filename(fuzz_root, fields[1], NULL);
	value = fields[2] != NULL ? g_strcompress(fields[2]) : g_strdup("");
	if (g_strcmp0(fields[0], "d") == 0) {
		(void)mkdir(full, 0755);
	} else if (g_strcmp0(fields[0], "f") == 0) {
		struct stat st;
		/* never write through a link made by an earlier record */
		if (lstat(full, &st) == 0 && !S_ISREG(st.st_mode))
			return;
		(void)g_file_set_contents(full, value, -1, NULL);
	} else if (g_strcmp0(fields[0], "l") == 0 && fuzz_is_safe_target(value, depth)) {
		(void)symlink(value, full);
	}
}

static int
fuzz_remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (ftw->level > 0 && remove(path) != 0)
		g_critical("cannot remove %s: %s", path, g_strerror(errno));
	return 0;
}

/* empties the scratch directory, not following links */
static void
fuzz_remove_tree(void)
{
	g_assert_cmpint(nftw(fuzz_root, fuzz_remove_one, 16, FTW_DEPTH | FTW_PHYS), ==, 0);
}

static void
fuzz_cleanup(void)
{
	fuzz_remove_tree();
	(void)rmdir(fuzz_root);
}

static void
fuzz_walk_model(const QaRoots *roots)
{
	g_autoptr(GPtrArray) mounts = qa_mounts_load(roots, NULL);
	g_autoptr(QaBlockdevModel) model = qa_blockdev_model_new(roots, mounts);
	g_autoptr(GPtrArray) devices = qa_blockdev_model_list(model);

	for (guint i = 0; i < devices->len; i++) {
		const QaBlockdev *dev = g_ptr_array_index(devices, i);
		GPtrArray *disks = qa_blockdev_model_get_disks(model, dev->major, dev->minor);

		for (guint j = 0; j < disks->len; j++)
			g_free(qa_disk_address_to_string(g_ptr_array_index(disks, j)));
		(void)qa_blockdev_model_get_address(model, dev);
		g_ptr_array_unref(qa_blockdev_model_get_loops(model, dev->major, dev->minor));
	}
	for (guint i = 0; mounts != NULL && i < mounts->len; i++) {
		const QaMount *mount = g_ptr_array_index(mounts, i);
		g_ptr_array_unref(qa_blockdev_model_get_mount_disks(model, mount));
		g_array_unref(qa_blockdev_model_get_mount_devices(model, mount));
		(void)qa_blockdev_model_get_mount_device(model, mount);
	}
}

static void
fuzz_log_nothing(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data)
{
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autofree gchar *text = g_strndup((const gchar *)data, size);
	g_auto(GStrv) lines = NULL;
	g_autoptr(QaRoots) roots = NULL;
	g_autofree gchar *proc = NULL;
	g_autofree gchar *sys = NULL;
	g_autofree gchar *dev = NULL;

	if (fuzz_root == NULL) {
		/* a tmpfs when there is one: thousands of small trees a second */
		const gchar *base =
		    g_file_test("/dev/shm", G_FILE_TEST_IS_DIR) ? "/dev/shm" : g_get_tmp_dir();
		g_autofree gchar *tmpl = g_build_filename(base, "qa-fuzz-sysfs-XXXXXX", NULL);
		fuzz_root = g_mkdtemp(g_steal_pointer(&tmpl));
		g_assert_nonnull(fuzz_root);
		g_log_set_default_handler(fuzz_log_nothing, NULL);
		atexit(fuzz_cleanup);
	}
	lines = g_strsplit(text, "\n", FUZZ_MAX_RECORDS + 1);
	for (guint i = 0; lines[i] != NULL && i < FUZZ_MAX_RECORDS; i++)
		fuzz_add_record(lines[i]);

	proc = g_build_filename(fuzz_root, "proc", NULL);
	sys = g_build_filename(fuzz_root, "sys", NULL);
	dev = g_build_filename(fuzz_root, "dev", NULL);
	roots = qa_roots_new(proc, sys, dev, FALSE);
	fuzz_walk_model(roots);
	fuzz_remove_tree();
	return 0;
}
