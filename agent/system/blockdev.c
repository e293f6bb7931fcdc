/* The block device model of one request: devices read from sysfs on first use and cached, and
 * the physical disks under each device, resolved once however many mounts share the device.
 *
 * A device that cannot be read (it vanished mid-walk, an attribute is unreadable) is logged and
 * affects only the entries built on it: a disk whose address cannot be resolved is reported with
 * bus-type unknown, a device that cannot be read contributes no disk. Nothing fails the whole
 * model. */
#include <fcntl.h>
#include <linux/loop.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>

#include "autocleanups.h"
#include "blockdev-private.h"
#include "qa-error.h"
#include "sysfs.h"

gpointer
qa_blockdev_key(guint major, guint minor)
{
	return GSIZE_TO_POINTER((gsize)makedev(major, minor));
}

QaDiskAddress *
qa_disk_address_new(void)
{
	QaDiskAddress *address = g_new0(QaDiskAddress, 1);
	address->pci.domain = -1;
	address->pci.bus = -1;
	address->pci.slot = -1;
	address->pci.function = -1;
	address->bus_type = QA_BLOCKDEV_BUS_UNKNOWN;
	return address;
}

QaDiskAddress *
qa_disk_address_copy(const QaDiskAddress *address)
{
	QaDiskAddress *copy = g_new0(QaDiskAddress, 1);
	*copy = *address;
	copy->serial = g_strdup(address->serial);
	copy->dev = g_strdup(address->dev);
	return copy;
}

void
qa_disk_address_free(QaDiskAddress *address)
{
	if (address == NULL)
		return;
	g_free(address->serial);
	g_free(address->dev);
	g_free(address);
}

const gchar *
qa_blockdev_bus_to_string(QaBlockdevBus bus)
{
	static const gchar *names[] = {
	    [QA_BLOCKDEV_BUS_UNKNOWN] = "unknown",
	    [QA_BLOCKDEV_BUS_VIRTIO] = "virtio",
	    [QA_BLOCKDEV_BUS_SCSI] = "scsi",
	    [QA_BLOCKDEV_BUS_SATA] = "sata",
	    [QA_BLOCKDEV_BUS_IDE] = "ide",
	    [QA_BLOCKDEV_BUS_NVME] = "nvme",
	    [QA_BLOCKDEV_BUS_USB] = "usb",
	    [QA_BLOCKDEV_BUS_XEN] = "xen",
	    [QA_BLOCKDEV_BUS_MMC] = "mmc",
	};
	if ((guint)bus >= G_N_ELEMENTS(names))
		return "unknown";
	return names[bus];
}

gchar *
qa_disk_address_to_string(const QaDiskAddress *address)
{
	GString *str = g_string_new(qa_blockdev_bus_to_string(address->bus_type));

	if (address->pci.domain < 0)
		g_string_append(str, " pci=none");
	else
		g_string_append_printf(str,
				       " pci=%04x:%02x:%02x.%x",
				       (guint)address->pci.domain,
				       (guint)address->pci.bus,
				       (guint)address->pci.slot,
				       (guint)address->pci.function);
	g_string_append_printf(
	    str, " bus=%d target=%d unit=%d", address->bus, address->target, address->unit);
	if (address->serial != NULL)
		g_string_append_printf(str, " serial=%s", address->serial);
	if (address->dev != NULL)
		g_string_append_printf(str, " dev=%s", address->dev);
	return g_string_free(str, FALSE);
}

static void
qa_blockdev_free(QaBlockdev *dev)
{
	if (dev == NULL)
		return;
	g_free(dev->name);
	g_free(dev->node);
	g_free(dev->syspath);
	g_free(dev->parent);
	if (dev->slaves != NULL)
		g_ptr_array_unref(dev->slaves);
	g_free(dev->dm_name);
	g_free(dev->loop_backing_file);
	g_free(dev);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaBlockdev, qa_blockdev_free)

gint
qa_blockdev_name_cmp(gconstpointer a, gconstpointer b)
{
	const gchar *name_a = *(const gchar *const *)a;
	const gchar *name_b = *(const gchar *const *)b;
	g_autofree gchar *key_a = g_utf8_collate_key_for_filename(name_a, -1);
	g_autofree gchar *key_b = g_utf8_collate_key_for_filename(name_b, -1);
	return strcmp(key_a, key_b);
}

/* the entries of directory @path, sorted so that output does not depend on readdir order */
static GPtrArray *
qa_blockdev_list_dir(const gchar *path)
{
	GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
	const gchar *entry;

	while (dir != NULL && (entry = g_dir_read_name(dir)) != NULL)
		g_ptr_array_add(names, g_strdup(entry));
	g_ptr_array_sort(names, qa_blockdev_name_cmp);
	return names;
}

static gchar *
qa_blockdev_read_backing_file(const gchar *syspath)
{
	g_autofree gchar *path = g_build_filename(syspath, "loop", "backing_file", NULL);
	gsize len = 0;
	/* not qa_sysfs_read_attr(): a file name may end in spaces; only the newline goes */
	g_autofree gchar *text = qa_kernel_file_read(path, &len);

	if (text == NULL || len == 0)
		return NULL;
	if (text[len - 1] == '\n')
		text[--len] = '\0';
	if (g_str_has_suffix(text, " (deleted)"))
		text[len - strlen(" (deleted)")] = '\0';
	return text[0] == '/' ? g_steal_pointer(&text) : NULL;
}

/* the device of the backing file's filesystem, from the loop driver itself */
static guint64
qa_blockdev_read_backing_dev(const gchar *node)
{
	struct loop_info64 info = {0};
	g_auto(QaFd) fd = open(node, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);

	if (fd < 0 || ioctl(fd, LOOP_GET_STATUS64, &info) != 0)
		return 0;
	return info.lo_device;
}

static void
qa_blockdev_classify(QaBlockdevModel *model, QaBlockdev *dev)
{
	g_autofree gchar *virtual = g_build_filename(model->sys, "devices", "virtual", "", NULL);
	g_autofree gchar *subsys = g_build_filename(virtual, "nvme-subsystem", "", NULL);
	g_autofree gchar *dm_dir = g_build_filename(dev->syspath, "dm", NULL);
	g_autofree gchar *md_dir = g_build_filename(dev->syspath, "md", NULL);
	g_autofree gchar *loop_dir = g_build_filename(dev->syspath, "loop", NULL);
	g_autofree gchar *partition = g_build_filename(dev->syspath, "partition", NULL);

	if (g_file_test(partition, G_FILE_TEST_EXISTS)) {
		g_autofree gchar *disk_dir = g_path_get_dirname(dev->syspath);
		dev->kind = QA_BLOCKDEV_KIND_PARTITION;
		dev->parent = g_path_get_basename(disk_dir);
	} else if (g_file_test(dm_dir, G_FILE_TEST_IS_DIR)) {
		dev->kind = QA_BLOCKDEV_KIND_DM;
		dev->dm_name = qa_sysfs_read_attr(dm_dir, "name");
	} else if (g_file_test(md_dir, G_FILE_TEST_IS_DIR)) {
		dev->kind = QA_BLOCKDEV_KIND_MD;
	} else if (g_file_test(loop_dir, G_FILE_TEST_IS_DIR) ||
		   (g_str_has_prefix(dev->name, "loop") &&
		    g_str_has_prefix(dev->syspath, virtual))) {
		dev->kind = QA_BLOCKDEV_KIND_LOOP;
		dev->loop_backing_file = qa_blockdev_read_backing_file(dev->syspath);
		/* device nodes are the live system's only (fixtures have none) */
		if (dev->loop_backing_file != NULL && model->roots->use_udev)
			dev->loop_backing_dev = qa_blockdev_read_backing_dev(dev->node);
	} else if (g_str_has_prefix(dev->syspath, virtual) &&
		   !g_str_has_prefix(dev->syspath, subsys)) {
		dev->kind = QA_BLOCKDEV_KIND_VIRTUAL;
	} else {
		dev->kind = QA_BLOCKDEV_KIND_DISK;
	}
}

static QaBlockdev *
qa_blockdev_load(QaBlockdevModel *model, guint major, guint minor, GError **error)
{
	g_autofree gchar *link = g_strdup_printf("%s/dev/block/%u:%u", model->sys, major, minor);
	g_autofree gchar *uevent_path = NULL;
	g_autofree gchar *uevent = NULL;
	g_autofree gchar *devname = NULL;
	g_autofree gchar *slaves = NULL;
	g_autoptr(QaBlockdev) dev = g_new0(QaBlockdev, 1);

	/* <sys>/dev/block is canonical (model->sys is), so the link resolves by name */
	dev->syspath = qa_sysfs_resolve_link(link, error);
	if (dev->syspath == NULL) {
		g_prefix_error(error, "no block device %u:%u: ", major, minor);
		return NULL;
	}
	dev->major = major;
	dev->minor = minor;
	dev->name = g_path_get_basename(dev->syspath);
	uevent_path = g_build_filename(dev->syspath, "uevent", NULL);
	uevent = qa_kernel_file_read(uevent_path, NULL);
	if (uevent != NULL)
		devname = qa_sysfs_lookup_key(uevent, "DEVNAME");
	/* without uevent, the kernel name is the node name ('!' stands for '/' in sysfs) */
	if (devname == NULL || devname[0] == '\0' || strstr(devname, "..") != NULL) {
		g_free(devname);
		devname = g_strdelimit(g_strdup(dev->name), "!", '/');
	}
	dev->node = g_build_filename(model->roots->dev, devname, NULL);
	qa_blockdev_classify(model, dev);
	/* Only stacked devices have slaves: a physical disk, a partition or a loop device never
	 * does, and listing their empty (or missing) slaves directory was five syscalls each. */
	if (dev->kind == QA_BLOCKDEV_KIND_DM || dev->kind == QA_BLOCKDEV_KIND_MD ||
	    dev->kind == QA_BLOCKDEV_KIND_VIRTUAL) {
		slaves = g_build_filename(dev->syspath, "slaves", NULL);
		dev->slaves = qa_blockdev_list_dir(slaves);
	} else {
		dev->slaves = g_ptr_array_new_with_free_func(g_free);
	}
	return g_steal_pointer(&dev);
}

static void
qa_blockdev_ptr_array_unref(gpointer array)
{
	if (array != NULL)
		g_ptr_array_unref(array);
}

QaBlockdevModel *
qa_blockdev_model_new(const QaRoots *roots, GPtrArray *mounts)
{
	QaBlockdevModel *model = g_new0(QaBlockdevModel, 1);

	model->roots = qa_roots_copy(roots);
	/* syspaths are canonical, so the root they are compared with must be too */
	model->sys = qa_sysfs_realpath(roots->sys, NULL);
	if (model->sys == NULL)
		model->sys = g_strdup(roots->sys);
	model->mounts = mounts;
	if (roots->use_udev)
		model->udev = udev_new();
	model->devices = g_hash_table_new_full(
	    g_direct_hash, g_direct_equal, NULL, (GDestroyNotify)qa_blockdev_free);
	model->names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	model->addresses =
	    g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, qa_blockdev_ptr_array_unref);
	model->disks =
	    g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, qa_blockdev_ptr_array_unref);
	model->visiting = g_hash_table_new(g_direct_hash, g_direct_equal);
	model->sources = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	model->empty = g_ptr_array_new();
	return model;
}

void
qa_blockdev_model_free(QaBlockdevModel *model)
{
	if (model == NULL)
		return;
	qa_roots_free(model->roots);
	g_free(model->sys);
	if (model->udev != NULL)
		udev_unref(model->udev);
	g_hash_table_unref(model->devices);
	g_hash_table_unref(model->names);
	g_hash_table_unref(model->addresses);
	g_hash_table_unref(model->disks);
	g_hash_table_unref(model->visiting);
	g_hash_table_unref(model->sources);
	if (model->btrfs != NULL)
		g_hash_table_unref(model->btrfs);
	g_ptr_array_unref(model->empty);
	g_free(model);
}

const QaBlockdev *
qa_blockdev_model_lookup(QaBlockdevModel *model, guint major, guint minor, GError **error)
{
	gpointer key = qa_blockdev_key(major, minor);
	gpointer value = NULL;
	g_autoptr(GError) error_local = NULL;
	QaBlockdev *dev;

	if (g_hash_table_lookup_extended(model->devices, key, NULL, &value)) {
		if (value == NULL)
			g_set_error(error,
				    QA_SYSTEM_ERROR,
				    QA_SYSTEM_ERROR_NOT_FOUND,
				    "no block device %u:%u",
				    major,
				    minor);
		return value;
	}
	dev = qa_blockdev_load(model, major, minor, &error_local);
	g_hash_table_insert(model->devices, key, dev);
	if (dev == NULL) {
		g_propagate_error(error, g_steal_pointer(&error_local));
		return NULL;
	}
	g_hash_table_insert(model->names, g_strdup(dev->name), key);
	return dev;
}

const QaBlockdev *
qa_blockdev_model_lookup_name(QaBlockdevModel *model, const gchar *name, GError **error)
{
	g_autofree gchar *dir = NULL;
	g_autofree gchar *devnum = NULL;
	gpointer key = NULL;
	guint major;
	guint minor;

	if (g_hash_table_lookup_extended(model->names, name, NULL, &key))
		return g_hash_table_lookup(model->devices, key);
	if (name[0] == '\0' || name[0] == '.' || strchr(name, '/') != NULL) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_PARSE,
			    "'%s' is not a kernel device name",
			    name);
		return NULL;
	}
	dir = g_build_filename(model->sys, "class", "block", name, NULL);
	devnum = qa_sysfs_read_attr(dir, "dev");
	if (!qa_sysfs_parse_devnum(devnum, &major, &minor)) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_NOT_FOUND,
			    "no block device '%s': expected MAJ:MIN in %s/dev",
			    name,
			    dir);
		return NULL;
	}
	return qa_blockdev_model_lookup(model, major, minor, error);
}

void
qa_blockdev_model_set_serial_cache(QaBlockdevModel *model, QaSerialCache *cache)
{
	model->serials = cache;
}

GPtrArray *
qa_blockdev_model_get_address(QaBlockdevModel *model, const QaBlockdev *disk)
{
	gpointer key = qa_blockdev_key(disk->major, disk->minor);
	g_autoptr(GError) error_local = NULL;
	GPtrArray *addresses;
	g_autofree gchar *serial = NULL;
	gboolean is_serial_settled = FALSE;

	if (disk->kind != QA_BLOCKDEV_KIND_DISK)
		return NULL;
	addresses = g_hash_table_lookup(model->addresses, key);
	if (addresses != NULL)
		return addresses;
	addresses = qa_blockdev_resolve_address(model->sys, disk->syspath, &error_local);
	if (addresses == NULL) {
		g_warning("cannot resolve the address of dev=%s, reporting bus-type unknown: %s",
			  disk->node,
			  error_local->message);
		addresses = g_ptr_array_new_with_free_func((GDestroyNotify)qa_disk_address_free);
		g_ptr_array_add(addresses, qa_disk_address_new());
		model->is_unsettled = TRUE;
	}
	serial = qa_blockdev_serial_lookup(
	    model->roots, model->udev, model->serials, disk, &is_serial_settled);
	model->is_unsettled |= !is_serial_settled;
	for (guint i = 0; i < addresses->len; i++) {
		QaDiskAddress *address = g_ptr_array_index(addresses, i);
		address->serial = g_strdup(serial);
		address->dev = g_strdup(disk->node);
		address->major = disk->major;
		address->minor = disk->minor;
		g_debug("resolved dev=%u:%u %s",
			disk->major,
			disk->minor,
			qa_blockdev_bus_to_string(address->bus_type));
	}
	g_hash_table_insert(model->addresses, key, addresses);
	return addresses;
}

static gboolean
qa_blockdev_same_disk(const QaDiskAddress *a, const QaDiskAddress *b)
{
	return a->major == b->major && a->minor == b->minor && a->pci.domain == b->pci.domain &&
	       a->pci.bus == b->pci.bus && a->pci.slot == b->pci.slot &&
	       a->pci.function == b->pci.function && a->bus == b->bus && a->target == b->target &&
	       a->unit == b->unit;
}

void
qa_blockdev_merge(GPtrArray *dst, GPtrArray *src, const gchar *dev)
{
	for (guint i = 0; src != NULL && i < src->len; i++) {
		const QaDiskAddress *address = g_ptr_array_index(src, i);
		QaDiskAddress *copy;
		gboolean seen = FALSE;

		for (guint j = 0; j < dst->len && !seen; j++)
			seen = qa_blockdev_same_disk(g_ptr_array_index(dst, j), address);
		if (seen)
			continue;
		copy = qa_disk_address_copy(address);
		if (dev != NULL) {
			g_free(copy->dev);
			copy->dev = g_strdup(dev);
		}
		g_ptr_array_add(dst, copy);
	}
}

static const QaBlockdev *
qa_blockdev_lookup_logged(QaBlockdevModel *model, const gchar *name)
{
	g_autoptr(GError) error_local = NULL;
	const QaBlockdev *dev = qa_blockdev_model_lookup_name(model, name, &error_local);

	if (dev == NULL)
		g_warning("cannot read block device name=%s, ignoring it: %s",
			  name,
			  error_local->message);
	return dev;
}

static void
qa_blockdev_collect(QaBlockdevModel *model, const QaBlockdev *dev, GPtrArray *disks)
{
	const QaBlockdev *parent;

	switch (dev->kind) {
	case QA_BLOCKDEV_KIND_DISK:
		qa_blockdev_merge(disks, qa_blockdev_model_get_address(model, dev), NULL);
		return;
	case QA_BLOCKDEV_KIND_PARTITION:
		parent = qa_blockdev_lookup_logged(model, dev->parent);
		if (parent == NULL)
			return;
		/* a filesystem on a partition names the partition's node, as QEMU's agent does */
		if (parent->kind == QA_BLOCKDEV_KIND_DISK)
			qa_blockdev_merge(
			    disks, qa_blockdev_model_get_address(model, parent), dev->node);
		else
			qa_blockdev_merge(
			    disks,
			    qa_blockdev_model_get_disks(model, parent->major, parent->minor),
			    NULL);
		return;
	case QA_BLOCKDEV_KIND_LOOP:
		if (dev->loop_backing_file != NULL && model->mounts != NULL) {
			const QaMount *mount = qa_blockdev_model_find_backing_mount(model, dev);
			g_autoptr(GPtrArray) held = NULL;
			if (mount == NULL)
				return;
			held = qa_blockdev_model_get_mount_disks(model, mount);
			qa_blockdev_merge(disks, held, NULL);
		}
		return;
	case QA_BLOCKDEV_KIND_DM:
	case QA_BLOCKDEV_KIND_MD:
	case QA_BLOCKDEV_KIND_VIRTUAL:
	default:
		for (guint i = 0; i < dev->slaves->len; i++) {
			const QaBlockdev *slave =
			    qa_blockdev_lookup_logged(model, g_ptr_array_index(dev->slaves, i));
			if (slave != NULL)
				qa_blockdev_merge(
				    disks,
				    qa_blockdev_model_get_disks(model, slave->major, slave->minor),
				    NULL);
		}
		return;
	}
}

GPtrArray *
qa_blockdev_model_get_disks(QaBlockdevModel *model, guint major, guint minor)
{
	gpointer key = qa_blockdev_key(major, minor);
	g_autoptr(GError) error_local = NULL;
	GPtrArray *disks = g_hash_table_lookup(model->disks, key);
	const QaBlockdev *dev;

	if (disks != NULL)
		return disks;
	if (g_hash_table_contains(model->visiting, key) || model->depth >= QA_BLOCKDEV_MAX_DEPTH) {
		g_warning("block devices stacked in a cycle at dev=%u:%u, ignoring the cycle",
			  major,
			  minor);
		return model->empty;
	}
	dev = qa_blockdev_model_lookup(model, major, minor, &error_local);
	disks = g_ptr_array_new_with_free_func((GDestroyNotify)qa_disk_address_free);
	if (dev == NULL) {
		g_warning("cannot read dev=%u:%u, reporting no disk for it: %s",
			  major,
			  minor,
			  error_local->message);
	} else {
		g_hash_table_add(model->visiting, key);
		model->depth++;
		qa_blockdev_collect(model, dev, disks);
		model->depth--;
		g_hash_table_remove(model->visiting, key);
	}
	g_hash_table_insert(model->disks, key, disks);
	return disks;
}

static void
qa_blockdev_collect_loops(QaBlockdevModel *model,
			  const QaBlockdev *dev,
			  GHashTable *seen,
			  GPtrArray *loops)
{
	const QaBlockdev *below;

	if (!g_hash_table_add(seen, (gpointer)dev) || g_hash_table_size(seen) > 4096)
		return;
	if (dev->kind == QA_BLOCKDEV_KIND_LOOP) {
		g_ptr_array_add(loops, (gpointer)dev);
		return;
	}
	if (dev->kind == QA_BLOCKDEV_KIND_PARTITION) {
		below = qa_blockdev_lookup_logged(model, dev->parent);
		if (below != NULL)
			qa_blockdev_collect_loops(model, below, seen, loops);
		return;
	}
	for (guint i = 0; i < dev->slaves->len; i++) {
		below = qa_blockdev_lookup_logged(model, g_ptr_array_index(dev->slaves, i));
		if (below != NULL)
			qa_blockdev_collect_loops(model, below, seen, loops);
	}
}

GPtrArray *
qa_blockdev_model_get_loops(QaBlockdevModel *model, guint major, guint minor)
{
	g_autoptr(GHashTable) seen = g_hash_table_new(g_direct_hash, g_direct_equal);
	GPtrArray *loops = g_ptr_array_new();
	const QaBlockdev *dev = qa_blockdev_model_lookup(model, major, minor, NULL);

	if (dev != NULL)
		qa_blockdev_collect_loops(model, dev, seen, loops);
	return loops;
}

/* guest-get-disks lists every device except placeholders: a virtual device (loop, zram, nbd,
 * dm or md under /sys/devices/virtual) of size 0 is not configured, and an unbound loop device
 * has no backing file. Physical disks of size 0 (an empty CD-ROM drive) are listed. */
static gboolean
qa_blockdev_is_listed(const QaBlockdev *dev)
{
	guint64 size = 0;

	if (dev->kind == QA_BLOCKDEV_KIND_DISK || dev->kind == QA_BLOCKDEV_KIND_PARTITION)
		return TRUE;
	if (dev->kind == QA_BLOCKDEV_KIND_LOOP && dev->loop_backing_file == NULL)
		return FALSE;
	/* read here, not with the device: guest-get-fsinfo never needs it */
	return qa_sysfs_read_uint(dev->syspath, "size", &size) && size > 0;
}

GPtrArray *
qa_blockdev_model_list(QaBlockdevModel *model)
{
	g_autofree gchar *class_dir = g_build_filename(model->sys, "class", "block", NULL);
	g_autoptr(GPtrArray) names = qa_blockdev_list_dir(class_dir);
	GPtrArray *devices = g_ptr_array_new();

	for (guint i = 0; i < names->len; i++) {
		const gchar *name = g_ptr_array_index(names, i);
		g_autofree gchar *dir = g_build_filename(class_dir, name, NULL);
		g_autofree gchar *devnum = qa_sysfs_read_attr(dir, "dev");
		const QaBlockdev *dev;

		/* hidden disks (NVMe multipath paths) have no device number and no node */
		if (devnum == NULL)
			continue;
		dev = qa_blockdev_lookup_logged(model, name);
		if (dev != NULL && qa_blockdev_is_listed(dev))
			g_ptr_array_add(devices, (gpointer)dev);
	}
	return devices;
}

GPtrArray *
qa_blockdev_resolve(const QaRoots *roots, guint major, guint minor, GError **error)
{
	g_autoptr(QaBlockdevModel) model = qa_blockdev_model_new(roots, NULL);
	GPtrArray *disks = g_ptr_array_new_with_free_func((GDestroyNotify)qa_disk_address_free);

	if (qa_blockdev_model_lookup(model, major, minor, error) == NULL) {
		g_ptr_array_unref(disks);
		return NULL;
	}
	qa_blockdev_merge(disks, qa_blockdev_model_get_disks(model, major, minor), NULL);
	return disks;
}
