/* Disk serial numbers.
 *
 * The serial reported is the one the host configured (serial= on the QEMU device): udev's
 * ID_SCSI_SERIAL for SCSI disks (the unit serial number, VPD page 0x80), else ID_SERIAL_SHORT
 * where udev has it (SATA, NVMe, SCSI: the bare serial), else ID_SERIAL (virtio-blk, where udev
 * sets only that, to the bare serial), else the disk's sysfs serial
 * attribute (virtio-blk) or its parent device's (the NVMe controller). QEMU's agent reports
 * ID_SERIAL instead, which for SCSI and SATA disks carries vendor and model in front
 * ("0QEMU_QEMU_HARDDISK_<serial>", "QEMU_HARDDISK_<serial>"), so the host cannot compare it with
 * what it configured. A SCSI disk with a WWN (QEMU's wwn=, libvirt's <wwn>; mptsas needs one)
 * has the WWN in ID_SERIAL_SHORT, which is why ID_SCSI_SERIAL comes first.
 *
 * With roots->use_udev FALSE (fixture tests) the udev properties come from
 * <sys>/../udev/b<MAJ>:<MIN>, the udevadm dump tests/fixtures/capture.sh writes. */
#include <sys/sysmacros.h>

#include "autocleanups.h"
#include "blockdev-private.h"
#include "sysfs.h"

/* udev properties holding the serial, best first */
static const gchar *const qa_blockdev_serial_keys[] = {
    "ID_SCSI_SERIAL",
    "ID_SERIAL_SHORT",
    "ID_SERIAL",
};

static gchar *
qa_blockdev_serial_from_properties(const gchar *text)
{
	for (guint i = 0; i < G_N_ELEMENTS(qa_blockdev_serial_keys); i++) {
		gchar *serial = qa_sysfs_lookup_key(text, qa_blockdev_serial_keys[i]);

		if (serial != NULL && serial[0] != '\0')
			return serial;
		g_free(serial);
	}
	return NULL;
}

/* more disks than this in the agent's lifetime (hot-plug churn) start the cache over */
#define QA_SERIAL_CACHE_MAX 1024

struct _QaSerialCache {
	GHashTable *serials; /* "MAJ:MIN:DISKSEQ" -> serial, "" for a disk without one */
};

QaSerialCache *
qa_serial_cache_new(void)
{
	QaSerialCache *cache = g_new0(QaSerialCache, 1);

	cache->serials = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	return cache;
}

void
qa_serial_cache_free(QaSerialCache *cache)
{
	if (cache == NULL)
		return;
	g_hash_table_unref(cache->serials);
	g_free(cache);
}

/* @out_is_final: the answer may be kept (the fixture exists: it stands for a processed device) */
static gchar *
qa_blockdev_serial_from_fixture(const QaRoots *roots,
				guint major,
				guint minor,
				gboolean *out_is_final)
{
	g_autofree gchar *name = g_strdup_printf("b%u:%u", major, minor);
	g_autofree gchar *path = g_build_filename(roots->sys, "..", "udev", name, NULL);
	g_autofree gchar *text = qa_kernel_file_read(path, NULL);

	*out_is_final = text != NULL;
	return qa_blockdev_serial_from_properties(text);
}

/* @out_is_final: udev has finished processing the device, so what it says will not change */
static gchar *
qa_blockdev_serial_from_udev(struct udev *ctx, guint major, guint minor, gboolean *out_is_final)
{
	g_autoptr(udev_device) device = NULL;

	*out_is_final = FALSE;
	if (ctx == NULL)
		return NULL;
	device = udev_device_new_from_devnum(ctx, 'b', makedev(major, minor));
	if (device == NULL)
		return NULL;
	*out_is_final = udev_device_get_is_initialized(device) > 0;
	for (guint i = 0; i < G_N_ELEMENTS(qa_blockdev_serial_keys); i++) {
		const gchar *value =
		    udev_device_get_property_value(device, qa_blockdev_serial_keys[i]);
		if (value != NULL && value[0] != '\0')
			return g_strdup(value);
	}
	return NULL;
}

static gchar *
qa_blockdev_serial_find(const QaRoots *roots,
			struct udev *ctx,
			const QaBlockdev *disk,
			gboolean *out_is_final)
{
	gchar *serial;

	if (roots->use_udev)
		serial = qa_blockdev_serial_from_udev(ctx, disk->major, disk->minor, out_is_final);
	else
		serial =
		    qa_blockdev_serial_from_fixture(roots, disk->major, disk->minor, out_is_final);
	if (serial != NULL)
		return serial;
	serial = qa_sysfs_read_attr(disk->syspath, "serial");
	if (serial != NULL)
		return serial;
	/* an NVMe namespace has no serial of its own: its controller (or subsystem) does */
	return qa_sysfs_read_attr(disk->syspath, "device/serial");
}

gchar *
qa_blockdev_serial_lookup(const QaRoots *roots,
			  struct udev *ctx,
			  QaSerialCache *cache,
			  const QaBlockdev *disk,
			  gboolean *out_is_settled)
{
	g_autofree gchar *diskseq = NULL;
	g_autofree gchar *key = NULL;
	const gchar *known;
	gchar *serial;
	gboolean is_final = FALSE;

	if (cache != NULL)
		diskseq = qa_sysfs_read_attr(disk->syspath, "diskseq");
	if (diskseq != NULL) {
		key = g_strdup_printf("%u:%u:%s", disk->major, disk->minor, diskseq);
		known = g_hash_table_lookup(cache->serials, key);
		*out_is_settled = known != NULL;
		if (known != NULL)
			return known[0] != '\0' ? g_strdup(known) : NULL;
	}
	serial = qa_blockdev_serial_find(roots, ctx, disk, &is_final);
	*out_is_settled = is_final;
	if (key != NULL && is_final) {
		if (g_hash_table_size(cache->serials) >= QA_SERIAL_CACHE_MAX)
			g_hash_table_remove_all(cache->serials);
		g_hash_table_insert(
		    cache->serials, g_steal_pointer(&key), g_strdup(serial != NULL ? serial : ""));
	}
	return serial;
}
