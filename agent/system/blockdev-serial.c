/* Disk serial numbers.
 *
 * The serial reported is the one the host configured (serial= on the QEMU device): udev's
 * ID_SERIAL_SHORT where udev has it (SCSI, SATA, NVMe: the bare serial), else ID_SERIAL
 * (virtio-blk, where udev sets only that, to the bare serial), else the disk's sysfs serial
 * attribute (virtio-blk) or its parent device's (the NVMe controller). QEMU's agent reports
 * ID_SERIAL instead, which for SCSI and SATA disks carries vendor and model in front
 * ("0QEMU_QEMU_HARDDISK_<serial>", "QEMU_HARDDISK_<serial>"), so the host cannot compare it with
 * what it configured.
 *
 * udev's properties of a device are read from its entry in udev's database,
 * /run/udev/data/b<MAJ>:<MIN>, whose "E:KEY=VALUE" lines are where libudev itself takes them
 * from (a kernel uevent never carries ID_SERIAL*). That is one open() and read() per disk, where
 * udev_device_new_from_devnum() first verifies the device's sysfs path component by component
 * (two syscalls each, a dozen components deep) and seeds hash tables from getrandom(): three
 * quarters of the syscalls of a disk's serial, and a third of a whole guest-get-fsinfo in a
 * guest with a dozen disks. A device udev has not processed has no entry, hence no udev serial,
 * as with libudev.
 *
 * With roots->use_udev FALSE (fixture tests) the properties come from
 * <sys>/../udev/b<MAJ>:<MIN>, the udevadm dump tests/fixtures/capture.sh writes; both formats
 * are parsed by the same qa_sysfs_lookup_key(). */
#include "autocleanups.h"
#include "blockdev-private.h"
#include "sysfs.h"

static gchar *
qa_blockdev_serial_from_properties(const gchar *text)
{
	gchar *serial = qa_sysfs_lookup_key(text, "ID_SERIAL_SHORT");

	if (serial != NULL && serial[0] != '\0')
		return serial;
	g_free(serial);
	serial = qa_sysfs_lookup_key(text, "ID_SERIAL");
	if (serial != NULL && serial[0] != '\0')
		return serial;
	g_free(serial);
	return NULL;
}

/* where udev keeps the properties of block devices: the same in systemd's udev and eudev */
#define QA_BLOCKDEV_UDEV_DATA "/run/udev/data"

static gchar *
qa_blockdev_serial_from_udev(const QaRoots *roots, guint major, guint minor)
{
	g_autofree gchar *name = g_strdup_printf("b%u:%u", major, minor);
	g_autofree gchar *path = roots->use_udev
				     ? g_build_filename(QA_BLOCKDEV_UDEV_DATA, name, NULL)
				     : g_build_filename(roots->sys, "..", "udev", name, NULL);
	g_autofree gchar *text = qa_sysfs_read_file(path, NULL);

	return qa_blockdev_serial_from_properties(text);
}

gchar *
qa_blockdev_serial_lookup(const QaRoots *roots, const QaBlockdev *disk)
{
	gchar *serial = qa_blockdev_serial_from_udev(roots, disk->major, disk->minor);

	if (serial != NULL)
		return serial;
	serial = qa_sysfs_read_attr(disk->syspath, "serial");
	if (serial != NULL)
		return serial;
	/* an NVMe namespace has no serial of its own: its controller (or subsystem) does */
	return qa_sysfs_read_attr(disk->syspath, "device/serial");
}
