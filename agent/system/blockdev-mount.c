/* From mounts to block devices: which device a mount source names, and every device of a
 * multi-device btrfs filesystem (whose superblock carries an anonymous 0:N device number, so
 * mountinfo alone does not lead to its disks). */
#include <string.h>
#include <sys/sysmacros.h>

#include "blockdev-private.h"
#include "sysfs.h"

gboolean
qa_blockdev_exists(const QaRoots *roots, guint major, guint minor)
{
	g_autofree gchar *link = g_strdup_printf("%s/dev/block/%u:%u", roots->sys, major, minor);
	return g_file_test(link, G_FILE_TEST_EXISTS);
}

/* "/dev/mapper/NAME" -> the kernel name of the device-mapper device called NAME */
static gchar *
qa_blockdev_dm_kernel_name(const QaRoots *roots, const gchar *dm_name)
{
	g_autofree gchar *block = g_build_filename(roots->sys, "block", NULL);
	g_autoptr(GDir) dir = g_dir_open(block, 0, NULL);
	const gchar *entry;

	while (dir != NULL && (entry = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *dm = g_build_filename(block, entry, "dm", NULL);
		g_autofree gchar *name = qa_sysfs_read_attr(dm, "name");
		if (g_strcmp0(name, dm_name) == 0)
			return g_strdup(entry);
	}
	return NULL;
}

/* the kernel name of the device a "/dev/..." source names; the node itself is looked up under
 * roots->dev (devtmpfs: safe while filesystems are frozen) to follow /dev/mapper and
 * /dev/disk/by-* links */
static gchar *
qa_blockdev_source_kernel_name(const QaRoots *roots, const gchar *source)
{
	const gchar *rel;
	g_autofree gchar *node = NULL;
	g_autofree gchar *real = NULL;

	if (source == NULL || !g_str_has_prefix(source, "/dev/"))
		return NULL;
	rel = source + strlen("/dev/");
	if (rel[0] == '\0' || strstr(rel, "..") != NULL)
		return NULL;
	node = g_build_filename(roots->dev, rel, NULL);
	real = qa_sysfs_realpath(node, NULL);
	if (real != NULL && g_strcmp0(real, node) != 0)
		return g_path_get_basename(real);
	if (g_str_has_prefix(rel, "mapper/"))
		return qa_blockdev_dm_kernel_name(roots, rel + strlen("mapper/"));
	/* kernel names use '!' where node names have '/' (cciss!c0d0) */
	return g_strdelimit(g_strdup(rel), "/", '!');
}

gboolean
qa_blockdev_lookup_source(const QaRoots *roots,
			  const gchar *source,
			  guint *out_major,
			  guint *out_minor)
{
	g_autofree gchar *name = qa_blockdev_source_kernel_name(roots, source);
	g_autofree gchar *dir = NULL;
	g_autofree gchar *devnum = NULL;

	if (name == NULL)
		return FALSE;
	dir = g_build_filename(roots->sys, "class", "block", name, NULL);
	devnum = qa_sysfs_read_attr(dir, "dev");
	return qa_sysfs_parse_devnum(devnum, out_major, out_minor);
}

void
qa_blockdev_btrfs_foreach(const QaRoots *roots, QaBlockdevBtrfsFunc func, gpointer data)
{
	g_autofree gchar *top = g_build_filename(roots->sys, "fs", "btrfs", NULL);
	g_autoptr(GDir) dir = g_dir_open(top, 0, NULL);
	const gchar *fsid;

	while (dir != NULL && (fsid = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *path = NULL;
		g_autoptr(GDir) devices = NULL;
		g_autoptr(GPtrArray) names = NULL;
		const gchar *name;

		/* the module's own directory, beside the filesystems */
		if (strcmp(fsid, "features") == 0)
			continue;
		path = g_build_filename(top, fsid, "devices", NULL);
		devices = g_dir_open(path, 0, NULL);
		names = g_ptr_array_new_with_free_func(g_free);
		while (devices != NULL && (name = g_dir_read_name(devices)) != NULL)
			g_ptr_array_add(names, g_strdup(name));
		if (names->len > 0)
			func(fsid, names, data);
	}
}

static void
qa_blockdev_btrfs_map_add(const gchar *fsid, GPtrArray *devices, gpointer data)
{
	GHashTable *map = data;

	g_ptr_array_sort(devices, qa_blockdev_name_cmp);
	for (guint i = 0; i < devices->len; i++)
		g_hash_table_insert(
		    map, g_strdup(g_ptr_array_index(devices, i)), g_ptr_array_ref(devices));
}

/* kernel name -> every kernel name of its btrfs filesystem */
static GHashTable *
qa_blockdev_btrfs_load(const QaRoots *roots)
{
	GHashTable *map = g_hash_table_new_full(
	    g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_ptr_array_unref);

	qa_blockdev_btrfs_foreach(roots, qa_blockdev_btrfs_map_add, map);
	return map;
}

static void
qa_blockdev_append_devnum(GArray *devnums, const QaBlockdev *dev)
{
	dev_t devnum = makedev(dev->major, dev->minor);

	for (guint i = 0; i < devnums->len; i++) {
		if (g_array_index(devnums, dev_t, i) == devnum)
			return;
	}
	g_array_append_val(devnums, devnum);
}

/* the device a btrfs mount's source names, looked up once per model: a request asks for every
 * mount's device and again for its disks */
static gboolean
qa_blockdev_model_lookup_source(QaBlockdevModel *model,
				const gchar *source,
				guint *out_major,
				guint *out_minor)
{
	gpointer key = NULL;

	if (source == NULL)
		return FALSE;
	if (!g_hash_table_lookup_extended(model->sources, source, NULL, &key)) {
		if (qa_blockdev_lookup_source(model->roots, source, out_major, out_minor))
			key = qa_blockdev_key(*out_major, *out_minor);
		g_hash_table_insert(model->sources, g_strdup(source), key);
	}
	if (key == NULL)
		return FALSE;
	*out_major = major(GPOINTER_TO_SIZE(key));
	*out_minor = minor(GPOINTER_TO_SIZE(key));
	return TRUE;
}

const QaBlockdev *
qa_blockdev_model_get_mount_device(QaBlockdevModel *model, const QaMount *mount)
{
	guint major = mount->major;
	guint minor = mount->minor;

	/* btrfs superblocks have anonymous device numbers: the source names the device */
	if (g_strcmp0(mount->fstype, "btrfs") == 0 &&
	    !qa_blockdev_model_lookup_source(model, mount->source, &major, &minor))
		return NULL;
	if (major == 0)
		return NULL;
	return qa_blockdev_model_lookup(model, major, minor, NULL);
}

GArray *
qa_blockdev_model_get_mount_devices(QaBlockdevModel *model, const QaMount *mount)
{
	GArray *devnums = g_array_new(FALSE, FALSE, sizeof(dev_t));
	const QaBlockdev *dev = qa_blockdev_model_get_mount_device(model, mount);
	GPtrArray *names;

	if (dev == NULL)
		return devnums;
	qa_blockdev_append_devnum(devnums, dev);
	if (g_strcmp0(mount->fstype, "btrfs") != 0)
		return devnums;
	if (model->btrfs == NULL)
		model->btrfs = qa_blockdev_btrfs_load(model->roots);
	names = g_hash_table_lookup(model->btrfs, dev->name);
	for (guint i = 0; names != NULL && i < names->len; i++) {
		g_autoptr(GError) error_local = NULL;
		const QaBlockdev *member =
		    qa_blockdev_model_lookup_name(model, g_ptr_array_index(names, i), &error_local);
		if (member == NULL) {
			g_warning("cannot read btrfs device name=%s, ignoring it: %s",
				  (const gchar *)g_ptr_array_index(names, i),
				  error_local->message);
			continue;
		}
		qa_blockdev_append_devnum(devnums, member);
	}
	return devnums;
}

GPtrArray *
qa_blockdev_model_get_mount_disks(QaBlockdevModel *model, const QaMount *mount)
{
	g_autoptr(GArray) devnums = qa_blockdev_model_get_mount_devices(model, mount);
	GPtrArray *disks = g_ptr_array_new_with_free_func((GDestroyNotify)qa_disk_address_free);

	for (guint i = 0; i < devnums->len; i++) {
		dev_t devnum = g_array_index(devnums, dev_t, i);
		qa_blockdev_merge(
		    disks, qa_blockdev_model_get_disks(model, major(devnum), minor(devnum)), NULL);
	}
	return disks;
}

const QaMount *
qa_blockdev_model_find_backing_mount(QaBlockdevModel *model, const QaBlockdev *loop)
{
	if (model->mounts == NULL || loop->loop_backing_file == NULL)
		return NULL;
	for (guint i = 0; loop->loop_backing_dev != 0 && i < model->mounts->len; i++) {
		const QaMount *mount = g_ptr_array_index(model->mounts, i);
		if (makedev(mount->major, mount->minor) == loop->loop_backing_dev)
			return mount;
	}
	/* btrfs gives its files another device number than its superblock's */
	return qa_mounts_find_holding(model->mounts, loop->loop_backing_file);
}

void
qa_blockdev_storage_free(QaBlockdevStorage *storage)
{
	if (storage == NULL)
		return;
	g_array_unref(storage->devices);
	g_ptr_array_unref(storage->disks);
	g_free(storage);
}

/* @dev and everything below it into @devices, once each; @depth bounds stacks that loop back
 * on themselves (a loop device whose file is on the filesystem it holds) */
static void
qa_blockdev_collect_stack(QaBlockdevModel *model,
			  const QaBlockdev *dev,
			  GArray *devices,
			  guint depth)
{
	const QaBlockdev *below;
	const QaMount *holder;
	g_autoptr(GArray) holder_devices = NULL;
	guint n = devices->len;

	qa_blockdev_append_devnum(devices, dev);
	if (devices->len == n || depth >= QA_BLOCKDEV_MAX_DEPTH)
		return;
	switch (dev->kind) {
	case QA_BLOCKDEV_KIND_DISK:
		return;
	case QA_BLOCKDEV_KIND_PARTITION:
		below = qa_blockdev_model_lookup_name(model, dev->parent, NULL);
		if (below != NULL)
			qa_blockdev_collect_stack(model, below, devices, depth + 1);
		return;
	case QA_BLOCKDEV_KIND_LOOP:
		holder = qa_blockdev_model_find_backing_mount(model, dev);
		if (holder == NULL)
			return;
		holder_devices = qa_blockdev_model_get_mount_devices(model, holder);
		for (guint i = 0; i < holder_devices->len; i++) {
			dev_t devnum = g_array_index(holder_devices, dev_t, i);
			below = qa_blockdev_model_lookup(model, major(devnum), minor(devnum), NULL);
			if (below != NULL)
				qa_blockdev_collect_stack(model, below, devices, depth + 1);
		}
		return;
	case QA_BLOCKDEV_KIND_DM:
	case QA_BLOCKDEV_KIND_MD:
	case QA_BLOCKDEV_KIND_VIRTUAL:
	default:
		for (guint i = 0; i < dev->slaves->len; i++) {
			below = qa_blockdev_model_lookup_name(
			    model, g_ptr_array_index(dev->slaves, i), NULL);
			if (below != NULL)
				qa_blockdev_collect_stack(model, below, devices, depth + 1);
		}
		return;
	}
}

QaBlockdevStorage *
qa_blockdev_model_get_mount_storage(QaBlockdevModel *model, const QaMount *mount)
{
	QaBlockdevStorage *storage = g_new0(QaBlockdevStorage, 1);
	g_autoptr(GArray) own = NULL;

	storage->devices = g_array_new(FALSE, FALSE, sizeof(dev_t));
	if (mount == NULL) {
		storage->disks =
		    g_ptr_array_new_with_free_func((GDestroyNotify)qa_disk_address_free);
		return storage;
	}
	own = qa_blockdev_model_get_mount_devices(model, mount);
	for (guint i = 0; i < own->len; i++) {
		dev_t devnum = g_array_index(own, dev_t, i);
		const QaBlockdev *dev =
		    qa_blockdev_model_lookup(model, major(devnum), minor(devnum), NULL);
		if (dev != NULL)
			qa_blockdev_collect_stack(model, dev, storage->devices, 0);
	}
	storage->disks = qa_blockdev_model_get_mount_disks(model, mount);
	return storage;
}
