/* Disk addresses per topology, on sysfs trees in tests/fixtures (captured or synthetic; see the
 * README of each). Every case names the exact address libvirt must see. */
/* cmocka.h needs these before it */
/* clang-format off */
#include <glib.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
/* clang-format on */

#include <errno.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blockdev.h"
#include "fixture-roots.h"
#include "mounts.h"
#include "qa-error.h"
#include "sysfs.h"

static gchar *
test_join_disks(GPtrArray *disks)
{
	g_autoptr(GString) str = g_string_new(NULL);

	for (guint i = 0; i < disks->len; i++) {
		g_autofree gchar *one = qa_disk_address_to_string(g_ptr_array_index(disks, i));
		if (i > 0)
			g_string_append(str, "; ");
		g_string_append(str, one);
	}
	return g_strdup(str->str);
}

static const struct {
	const gchar *fixture; /* tests/fixtures/<guest>/ */
	guint major;
	guint minor;
	const gchar *expected; /* NULL: expect error `code` */
	gint code;
} resolve_cases[] = {
    /* real: this project's CI host, a virtio-blk VM */
    {"host-debian12-virtio-blk",
     254,
     0,
     "virtio pci=0000:00:02.0 bus=0 target=0 unit=0 serial=overlayblk dev=/dev/vda",
     0},
    /* real: xfs on loop1, its file on ext4 on loop0, whose file is on / (vda): loop over loop */
    {"host-debian12-virtio-blk",
     7,
     1,
     "virtio pci=0000:00:02.0 bus=0 target=0 unit=0 serial=overlayblk dev=/dev/vda",
     0},
    /* real: btrfs member loop2, file on / */
    {"host-debian12-virtio-blk",
     7,
     2,
     "virtio pci=0000:00:02.0 bus=0 target=0 unit=0 serial=overlayblk dev=/dev/vda",
     0},
    /* real: zram is a virtual device with no disk under it */
    {"host-debian12-virtio-blk", 253, 0, "", 0},
    {"host-debian12-virtio-blk", 8, 0, NULL, QA_SYSTEM_ERROR_NOT_FOUND},
    /* real: the VM test guest (tests/fixtures/debian12-qemu-q35/README.md has the QEMU command
     * line); every address is what that command line configured */
    {"debian12-qemu-q35",
     254,
     0,
     "virtio pci=0000:00:02.0 bus=0 target=0 unit=0 serial=QA-ROOT dev=/dev/vda",
     0},
    {"debian12-qemu-q35",
     254,
     17,
     "virtio pci=0000:00:03.0 bus=0 target=0 unit=0 serial=QA-DATA dev=/dev/vdb1",
     0},
    /* the image file behind /loop lives on /data, the first partition of QA-DATA */
    {"debian12-qemu-q35",
     7,
     0,
     "virtio pci=0000:00:03.0 bus=0 target=0 unit=0 serial=QA-DATA dev=/dev/vdb1",
     0},
    /* btrfs on the virtio-scsi disk at scsi-id=0,lun=0 */
    {"debian12-qemu-q35",
     8,
     16,
     "scsi pci=0000:00:04.0 bus=0 target=0 unit=0 serial=QA-SCSI-T0L0 dev=/dev/sdb",
     0},
    /* LVM spanning SATA port 2 and virtio-scsi scsi-id=2,lun=3: both, target 2 unit 3 */
    {"debian12-qemu-q35",
     252,
     0,
     "sata pci=0000:00:06.0 bus=0 target=0 unit=2 serial=QA-SATA-P2 dev=/dev/sda; "
     "scsi pci=0000:00:04.0 bus=0 target=2 unit=3 serial=QA-SCSI-T2L3 dev=/dev/sdc",
     0},
    /* megasas-gen2, scsi-id=1: the guest's H:C:T:L is 13:2:1:0, the host's bus is 0 */
    {"debian12-qemu-q35",
     8,
     48,
     "scsi pci=0000:00:05.0 bus=0 target=1 unit=0 serial=QA-MEGASAS dev=/dev/sdd",
     0},
    /* lsi53c895a, scsi-id=3: H:C:T:L 14:0:3:0; libvirt's lsilogic writes it target 0 unit 3 */
    {"debian12-qemu-q35",
     8,
     64,
     "scsi pci=0000:00:0c.0 bus=0 target=0 unit=3 serial=QA-LSI dev=/dev/sde",
     0},
    /* pvscsi, scsi-id=4: H:C:T:L 15:0:4:0, numbered as configured */
    {"debian12-qemu-q35",
     8,
     80,
     "scsi pci=0000:00:0d.0 bus=0 target=4 unit=0 serial=QA-PVSCSI dev=/dev/sdf",
     0},
    /* mptsas1068, scsi-id=5,lun=1 with a WWN: H:C:T:L 16:0:0:1 below an end device on phy 5;
     * the serial is the configured one, not the WWN udev puts in ID_SERIAL_SHORT */
    {"debian12-qemu-q35",
     8,
     96,
     "scsi pci=0000:00:0e.0 bus=0 target=5 unit=1 serial=QA-MPTSAS dev=/dev/sdg",
     0},
    /* MD RAID1 over two virtio-blk disks */
    {"debian12-qemu-q35",
     9,
     127,
     "virtio pci=0000:00:08.0 bus=0 target=0 unit=0 serial=QA-RAID-A dev=/dev/vdc; "
     "virtio pci=0000:00:09.0 bus=0 target=0 unit=0 serial=QA-RAID-B dev=/dev/vdd",
     0},
    /* NVMe behind the pcie-root-port at 00:07.0 */
    {"debian12-qemu-q35",
     259,
     0,
     "nvme pci=0000:01:00.0 bus=0 target=0 unit=0 serial=QA-NVME dev=/dev/nvme0n1",
     0},
    /* synthetic q35 */
    {"debian12-q35-synthetic",
     252,
     1,
     "virtio pci=0000:00:04.0 bus=0 target=0 unit=0 serial=VIRTIO-ROOT dev=/dev/vda1",
     0},
    {"debian12-q35-synthetic",
     8,
     0,
     "scsi pci=0000:00:05.0 bus=0 target=0 unit=0 serial=SCSI00 dev=/dev/sda",
     0},
    /* scsi-id=2,lun=3 is target 2 unit 3 (QEMU's agent says target 0) */
    {"debian12-q35-synthetic",
     8,
     16,
     "scsi pci=0000:00:05.0 bus=0 target=2 unit=3 serial=SCSI23 dev=/dev/sdb",
     0},
    /* AHCI port 2: ata3, port_no 3, SCSI host 3 */
    {"debian12-q35-synthetic",
     8,
     32,
     "sata pci=0000:00:1f.2 bus=0 target=0 unit=2 serial=SATA2 dev=/dev/sdc",
     0},
    /* NVMe behind a PCIe root port: the controller's own function on bus 1 */
    {"debian12-q35-synthetic",
     259,
     1,
     "nvme pci=0000:01:00.0 bus=0 target=0 unit=0 serial=NVME0001 dev=/dev/nvme0n1p1",
     0},
    /* lsi53c895a behind a pcie-pci-bridge: scsi-id=1 is libvirt's lsilogic unit 1, target 0 */
    {"debian12-q35-synthetic",
     8,
     48,
     "scsi pci=0000:02:01.0 bus=0 target=0 unit=1 serial=LSI10 dev=/dev/sdd",
     0},
    /* LVM spanning two disks: both, once each */
    {"debian12-q35-synthetic",
     254,
     0,
     "scsi pci=0000:00:05.0 bus=0 target=0 unit=0 serial=SCSI00 dev=/dev/sda; "
     "scsi pci=0000:00:05.0 bus=0 target=2 unit=3 serial=SCSI23 dev=/dev/sdb",
     0},
    /* MD RAID1 over a SATA disk and an NVMe partition (members in name order) */
    {"debian12-q35-synthetic",
     9,
     0,
     "nvme pci=0000:01:00.0 bus=0 target=0 unit=0 serial=NVME0001 dev=/dev/nvme0n1p1; "
     "sata pci=0000:00:1f.2 bus=0 target=0 unit=2 serial=SATA2 dev=/dev/sdc",
     0},
    /* loop on a partition: the partition holding the image */
    {"debian12-q35-synthetic",
     7,
     0,
     "virtio pci=0000:00:04.0 bus=0 target=0 unit=0 serial=VIRTIO-ROOT dev=/dev/vda2",
     0},
    /* dm over loop */
    {"debian12-q35-synthetic",
     254,
     1,
     "virtio pci=0000:00:04.0 bus=0 target=0 unit=0 serial=VIRTIO-ROOT dev=/dev/vda2",
     0},
    /* loop over loop, backing file deleted and with a space in its name */
    {"debian12-q35-synthetic",
     7,
     2,
     "virtio pci=0000:00:04.0 bus=0 target=0 unit=0 serial=VIRTIO-ROOT dev=/dev/vda2",
     0},
    /* unbound loop: nothing under it */
    {"debian12-q35-synthetic", 7, 3, "", 0},
    /* native NVMe multipath: still the controller's PCI function */
    {"debian12-nvme-multipath-synthetic",
     259,
     1,
     "nvme pci=0000:01:00.0 bus=0 target=0 unit=0 serial=NVMEMP01 dev=/dev/nvme0n1p1",
     0},
    /* PIIX IDE: bus = channel, unit = master/slave */
    {"debian12-pc-synthetic",
     8,
     0,
     "ide pci=0000:00:01.1 bus=0 target=0 unit=0 serial=QM00001 dev=/dev/sda",
     0},
    {"debian12-pc-synthetic",
     8,
     16,
     "ide pci=0000:00:01.1 bus=1 target=0 unit=1 serial=QM00004 dev=/dev/sdb",
     0},
    /* USB storage on xHCI: the host controller's function */
    {"debian12-pc-synthetic",
     8,
     32,
     "usb pci=0000:00:05.0 bus=0 target=0 unit=0 serial=USB0001 dev=/dev/sdc",
     0},
    /* SCSI with no PCI function above it */
    {"debian12-pc-synthetic",
     8,
     48,
     "scsi pci=none bus=0 target=0 unit=0 serial=DEBUG dev=/dev/sdd",
     0},
    /* a platform block device: unknown, never an error */
    {"debian12-pc-synthetic", 240, 0, "unknown pci=none bus=0 target=0 unit=0 dev=/dev/fb0", 0},
    /* a disk without a device link: the directory above it is its parent */
    {"debian12-pc-synthetic",
     241,
     0,
     "unknown pci=0000:00:06.0 bus=0 target=0 unit=0 dev=/dev/xx0",
     0},
};

static void
test_blockdev_resolve(void **state)
{
	for (guint i = 0; i < G_N_ELEMENTS(resolve_cases); i++) {
		g_autoptr(QaRoots) roots = qa_test_fixture_roots(resolve_cases[i].fixture);
		g_autoptr(GPtrArray) mounts = qa_mounts_load(roots, NULL);
		g_autoptr(QaBlockdevModel) model = qa_blockdev_model_new(roots, mounts);
		g_autoptr(GError) error = NULL;
		g_autofree gchar *got = NULL;
		const QaBlockdev *dev = qa_blockdev_model_lookup(
		    model, resolve_cases[i].major, resolve_cases[i].minor, &error);

		g_test_message("case %u: %s %u:%u",
			       i,
			       resolve_cases[i].fixture,
			       resolve_cases[i].major,
			       resolve_cases[i].minor);
		if (resolve_cases[i].expected == NULL) {
			assert_null(dev);
			assert_true(g_error_matches(error, QA_SYSTEM_ERROR, resolve_cases[i].code));
			continue;
		}
		assert_non_null(dev);
		got = test_join_disks(qa_blockdev_model_get_disks(
		    model, resolve_cases[i].major, resolve_cases[i].minor));
		assert_string_equal(got, resolve_cases[i].expected);
	}
}

/* the one-shot API without mounts: loop devices then have no disks */
static void
test_blockdev_resolve_oneshot(void **state)
{
	g_autoptr(QaRoots) roots = qa_test_fixture_roots("debian12-q35-synthetic");
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) disks = qa_blockdev_resolve(roots, 8, 16, &error);
	g_autoptr(GPtrArray) none = qa_blockdev_resolve(roots, 1, 99, NULL);
	g_autofree gchar *got = NULL;

	assert_non_null(disks);
	got = test_join_disks(disks);
	assert_string_equal(
	    got, "scsi pci=0000:00:05.0 bus=0 target=2 unit=3 serial=SCSI23 dev=/dev/sdb");
	assert_null(none);
}

/* a model of the fixture copy at @base (the model keeps its own copy of the roots) */
static QaBlockdevModel *
test_model_of_copy(const gchar *base)
{
	g_autofree gchar *proc = g_build_filename(base, "proc", NULL);
	g_autofree gchar *sys = g_build_filename(base, "sys", NULL);
	g_autoptr(QaRoots) roots = qa_roots_new(proc, sys, "/dev", FALSE);

	return qa_blockdev_model_new(roots, NULL);
}

/* the serial of the disk at 8:16 of a copy of debian12-q35-synthetic, through @cache */
static gchar *
test_serial_through_cache(const gchar *base, QaSerialCache *cache)
{
	g_autoptr(QaBlockdevModel) model = test_model_of_copy(base);
	const QaBlockdev *disk = qa_blockdev_model_lookup(model, 8, 16, NULL);
	GPtrArray *addresses;

	assert_non_null(disk);
	qa_blockdev_model_set_serial_cache(model, cache);
	addresses = qa_blockdev_model_get_address(model, disk);
	assert_non_null(addresses);
	return g_strdup(((QaDiskAddress *)g_ptr_array_index(addresses, 0))->serial);
}

static void
test_write_diskseq(const gchar *base, const gchar *diskseq)
{
	g_autoptr(QaBlockdevModel) model = test_model_of_copy(base);
	const QaBlockdev *disk = qa_blockdev_model_lookup(model, 8, 16, NULL);
	g_autofree gchar *path = g_build_filename(disk->syspath, "diskseq", NULL);

	assert_true(g_file_set_contents(path, diskseq, -1, NULL));
}

/* A serial is kept per diskseq: the same attachment is not looked up again, a new attachment
 * under the same numbers is, and a disk without diskseq is looked up every time. Each step
 * first writes udev's answer and the disk's diskseq (NULL: left as they are), then asks. */
static const struct {
	const gchar *udev;
	const gchar *diskseq;
	const gchar *expected;
} serial_cache_steps[] = {
    {NULL, NULL, "SCSI23"},
    /* without diskseq nothing is kept: a changed answer shows at once */
    {"ID_SERIAL_SHORT=RENAMED\n", NULL, "RENAMED"},
    /* with diskseq the first answer is kept for that attachment */
    {NULL, "7\n", "RENAMED"},
    {"ID_SERIAL_SHORT=OTHER\n", NULL, "RENAMED"},
    /* a new attachment is looked up again */
    {NULL, "8\n", "OTHER"},
};

static void
test_serial_cache(void **state)
{
	const gchar *fixtures = g_getenv("QA_FIXTURES");
	g_autofree gchar *src =
	    g_build_filename(fixtures != NULL ? fixtures : ".", "debian12-q35-synthetic", NULL);
	g_autofree gchar *base = g_dir_make_tmp("qa-serial-XXXXXX", NULL);
	g_autofree gchar *udev = g_build_filename(base, "udev", "b8:16", NULL);
	g_autofree gchar *copy = g_strdup_printf("cp -a '%s/.' '%s'", src, base);
	g_autofree gchar *rm = g_strdup_printf("rm -rf '%s'", base);
	g_autoptr(QaSerialCache) cache = qa_serial_cache_new();
	gint status = -1;

	assert_non_null(base);
	assert_true(g_spawn_command_line_sync(copy, NULL, NULL, &status, NULL) && status == 0);
	for (guint i = 0; i < G_N_ELEMENTS(serial_cache_steps); i++) {
		g_autofree gchar *got = NULL;

		if (serial_cache_steps[i].udev != NULL)
			assert_true(
			    g_file_set_contents(udev, serial_cache_steps[i].udev, -1, NULL));
		if (serial_cache_steps[i].diskseq != NULL)
			test_write_diskseq(base, serial_cache_steps[i].diskseq);
		got = test_serial_through_cache(base, cache);
		g_test_message("step %u", i);
		assert_string_equal(got, serial_cache_steps[i].expected);
	}
	assert_true(g_spawn_command_line_sync(rm, NULL, NULL, &status, NULL) && status == 0);
}

static const struct {
	const gchar *fixture;
	const gchar *expected; /* name:kind:parent-or-slaves:alias, "|" between devices */
} list_cases[] = {
    {"host-debian12-virtio-blk", "loop0 loop1 loop2 loop3 vda"},
    {"debian12-q35-synthetic",
     "dm-0[sda,sdb](vg0-data) dm-1[loop1](loopvg-lv) loop0 loop1 loop2 md0[nvme0n1p1,sdc] "
     "nvme0n1 nvme0n1p1<nvme0n1> sda sdb sdc sdd vda vda1<vda> vda2<vda>"},
    {"debian12-nvme-multipath-synthetic", "nvme0n1 nvme0n1p1<nvme0n1>"},
};

static void
test_blockdev_list(void **state)
{
	for (guint i = 0; i < G_N_ELEMENTS(list_cases); i++) {
		g_autoptr(QaRoots) roots = qa_test_fixture_roots(list_cases[i].fixture);
		g_autoptr(QaBlockdevModel) model = qa_blockdev_model_new(roots, NULL);
		g_autoptr(GPtrArray) devices = qa_blockdev_model_list(model);
		g_autoptr(GString) str = g_string_new(NULL);

		for (guint j = 0; j < devices->len; j++) {
			const QaBlockdev *dev = g_ptr_array_index(devices, j);
			if (j > 0)
				g_string_append_c(str, ' ');
			g_string_append(str, dev->name);
			if (dev->parent != NULL)
				g_string_append_printf(str, "<%s>", dev->parent);
			for (guint k = 0; k < dev->slaves->len; k++)
				g_string_append_printf(
				    str,
				    "%s%s%s",
				    k == 0 ? "[" : ",",
				    (const gchar *)g_ptr_array_index(dev->slaves, k),
				    k + 1 == dev->slaves->len ? "]" : "");
			if (dev->dm_name != NULL)
				g_string_append_printf(str, "(%s)", dev->dm_name);
		}
		assert_string_equal(str->str, list_cases[i].expected);
	}
}

/* btrfs over two devices lists both; a bind mount has the same disks as its source */
static void
test_blockdev_mount_disks(void **state)
{
	g_autoptr(QaRoots) roots = qa_test_fixture_roots("host-debian12-virtio-blk");
	g_autoptr(GPtrArray) mounts = qa_mounts_load(roots, NULL);
	g_autoptr(QaBlockdevModel) model = qa_blockdev_model_new(roots, mounts);
	const QaMount *btrfs = qa_mounts_find_holding(mounts, "/tmp/qa-fx/btrfs");
	const QaMount *bind = qa_mounts_find_holding(mounts, "/tmp/qa-fx/bind");
	g_autoptr(GArray) devices = NULL;
	g_autoptr(GPtrArray) disks = NULL;
	g_autofree gchar *got = NULL;

	assert_non_null(btrfs);
	assert_string_equal(btrfs->mountpoint, "/tmp/qa-fx/btrfs");
	devices = qa_blockdev_model_get_mount_devices(model, btrfs);
	assert_int_equal(devices->len, 2);
	assert_string_equal(qa_blockdev_model_get_mount_device(model, btrfs)->name, "loop2");
	disks = qa_blockdev_model_get_mount_disks(model, bind);
	got = test_join_disks(disks);
	assert_string_equal(
	    got, "virtio pci=0000:00:02.0 bus=0 target=0 unit=0 serial=overlayblk dev=/dev/vda");
}

/* @link resolves by name to what realpath() gives, on a canonical path */
static void
test_assert_resolves_as_realpath(const gchar *link)
{
	g_autofree gchar *real = realpath(link, NULL);
	g_autofree gchar *got = qa_sysfs_resolve_link(link, NULL);

	if (real == NULL) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_string_equal(got, real);
}

/* every device link of every captured tree (<sys>/dev/block/M:M, then each device's
 * "device" link) resolves as realpath() resolves it */
static void
test_sysfs_resolve_link_fixtures(void **state)
{
	const gchar *fixtures = g_getenv("QA_FIXTURES");
	g_autofree gchar *top = realpath(fixtures != NULL ? fixtures : ".", NULL);
	g_autoptr(GDir) dir = g_dir_open(top, 0, NULL);
	const gchar *fixture;
	guint checked = 0;

	assert_non_null(dir);
	while ((fixture = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *block =
		    g_build_filename(top, fixture, "sys", "dev", "block", NULL);
		g_autoptr(GDir) links = g_dir_open(block, 0, NULL);
		const gchar *entry;

		while (links != NULL && (entry = g_dir_read_name(links)) != NULL) {
			g_autofree gchar *link = g_build_filename(block, entry, NULL);
			g_autofree gchar *syspath = qa_sysfs_resolve_link(link, NULL);
			g_autofree gchar *device = NULL;

			test_assert_resolves_as_realpath(link);
			if (syspath == NULL)
				continue;
			device = g_build_filename(syspath, "device", NULL);
			test_assert_resolves_as_realpath(device);
			checked++;
		}
	}
	assert_true(checked > 20);
}

/* a missing target is NOT_FOUND, links in a loop fail, a link to a link is followed, a path
 * that is no link is itself */
static void
test_sysfs_resolve_link_edges(void **state)
{
	g_autofree gchar *tmp = g_dir_make_tmp("qa-sysfs-XXXXXX", NULL);
	g_autofree gchar *a = g_build_filename(tmp, "a", NULL);
	g_autofree gchar *b = g_build_filename(tmp, "b", NULL);
	g_autofree gchar *b2 = g_build_filename(tmp, "b2", NULL);
	g_autofree gchar *d = g_build_filename(tmp, "d", NULL);
	g_autofree gchar *dir = g_build_filename(d, "e", NULL);
	g_autofree gchar *chain = g_build_filename(d, "chain", NULL);
	g_autofree gchar *dangling = g_build_filename(tmp, "dangling", NULL);
	g_autofree gchar *got_chain = NULL;
	g_autofree gchar *got_dir = NULL;
	g_autoptr(GError) error = NULL;

	assert_int_equal(g_mkdir_with_parents(dir, 0755), 0);
	assert_int_equal(symlink("b", a), 0);
	assert_int_equal(symlink("a", b), 0);
	assert_int_equal(symlink("../b2", chain), 0);
	assert_int_equal(symlink("d/e", b2), 0);
	assert_int_equal(symlink("nothing", dangling), 0);

	assert_null(qa_sysfs_resolve_link(a, &error));
	assert_non_null(error);
	g_clear_error(&error);
	assert_null(qa_sysfs_resolve_link(dangling, &error));
	assert_true(g_error_matches(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_NOT_FOUND));
	got_chain = qa_sysfs_resolve_link(chain, NULL);
	assert_string_equal(got_chain, dir);
	test_assert_resolves_as_realpath(chain);
	got_dir = qa_sysfs_resolve_link(dir, NULL);
	assert_string_equal(got_dir, dir);

	assert_int_equal(g_unlink(a) | g_unlink(b) | g_unlink(b2) | g_unlink(chain), 0);
	assert_int_equal(g_unlink(dangling) | g_rmdir(dir) | g_rmdir(d) | g_rmdir(tmp), 0);
}

/* a file of several pages is read whole; an attribute's whitespace goes */
static void
test_sysfs_read_file(void **state)
{
	g_autofree gchar *tmp = g_dir_make_tmp("qa-sysfs-XXXXXX", NULL);
	g_autofree gchar *big = g_build_filename(tmp, "big", NULL);
	g_autofree gchar *attr = g_build_filename(tmp, "attr", NULL);
	g_autofree gchar *missing = g_build_filename(tmp, "missing", NULL);
	g_autofree gchar *content = g_strnfill(3 * 4096 + 17, 'x');
	g_autofree gchar *got = NULL;
	g_autofree gchar *value = NULL;
	gsize len = 0;

	for (gsize pages = 0; pages < 2; pages++) {
		/* exactly a page, then three pages and a bit */
		gsize size = pages == 0 ? 4096 : strlen(content);
		g_free(got);
		assert_true(g_file_set_contents(big, content, (gssize)size, NULL));
		got = qa_kernel_file_read(big, &len);
		assert_non_null(got);
		assert_int_equal(len, size);
		assert_int_equal(strlen(got), size);
	}
	assert_true(g_file_set_contents(attr, " 0x010400\n", -1, NULL));
	value = qa_sysfs_read_attr(tmp, "attr");
	assert_string_equal(value, "0x010400");
	assert_null(qa_kernel_file_read(missing, NULL));

	assert_int_equal(g_unlink(big) | g_unlink(attr) | g_rmdir(tmp), 0);
}

static gpointer
test_write_later(gpointer data)
{
	gint fd = GPOINTER_TO_INT(data);

	g_usleep(50000);
	assert_int_equal(write(fd, "def", 3), 3);
	close(fd);
	return NULL;
}

/* A generated file (mountinfo) may give a short read before its end: it is read until read()
 * returns 0. A pipe whose writer pauses after "abc" gives that short read. */
static void
test_sysfs_read_generated(void **state)
{
	gint fds[2];
	g_autofree gchar *path = NULL;
	g_autofree gchar *got = NULL;
	g_autoptr(GThread) writer = NULL;
	gsize len = 0;

	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], "abc", 3), 3);
	path = g_strdup_printf("/proc/self/fd/%d", fds[0]);
	writer = g_thread_new("writer", test_write_later, GINT_TO_POINTER(fds[1]));
	got = qa_kernel_file_read_generated(path, 0, &len);
	g_thread_join(g_steal_pointer(&writer));
	close(fds[0]);
	assert_string_equal(got, "abcdef");
	assert_int_equal(len, 6);
	assert_null(qa_kernel_file_read_generated("/nonexistent/mountinfo", 0, NULL));
	assert_int_equal(errno, ENOENT);
}

/* the text of /sys/kernel/uevent_seqnum */
static void
test_storage_epoch_parse(void **state)
{
	guint64 value = 7;

	assert_true(qa_storage_epoch_parse_seqnum("0\n", &value));
	assert_int_equal(value, 0);
	assert_true(qa_storage_epoch_parse_seqnum("3462\n", &value));
	assert_int_equal(value, 3462);
	assert_true(qa_storage_epoch_parse_seqnum("18446744073709551615", &value));
	assert_true(value == G_MAXUINT64);
	value = 7;
	assert_false(qa_storage_epoch_parse_seqnum("18446744073709551616\n", &value));
	assert_false(qa_storage_epoch_parse_seqnum("", &value));
	assert_false(qa_storage_epoch_parse_seqnum("\n", &value));
	assert_false(qa_storage_epoch_parse_seqnum("-1\n", &value));
	assert_false(qa_storage_epoch_parse_seqnum(" 12\n", &value));
	assert_false(qa_storage_epoch_parse_seqnum("12x\n", &value));
	assert_false(qa_storage_epoch_parse_seqnum("12\n\n", &value));
	assert_false(qa_storage_epoch_parse_seqnum(NULL, &value));
	assert_int_equal(value, 7);
}

/* a kept model is valid only at the same uevent seqnum and mount generation, both known, and
 * only when everything it read was final */
static void
test_model_cache_validity(void **state)
{
	const QaStorageEpoch kept = {.mounts = 4, .uevents = 100, .is_known = TRUE};
	const QaStorageEpoch same = kept;
	const QaStorageEpoch uevent = {.mounts = 4, .uevents = 101, .is_known = TRUE};
	const QaStorageEpoch remount = {.mounts = 5, .uevents = 100, .is_known = TRUE};
	const QaStorageEpoch unknown = {.mounts = 4, .uevents = 100, .is_known = FALSE};

	assert_true(qa_model_cache_is_valid(&kept, &same, TRUE));
	assert_false(qa_model_cache_is_valid(&kept, &same, FALSE));
	assert_false(qa_model_cache_is_valid(&kept, &uevent, TRUE));
	assert_false(qa_model_cache_is_valid(&kept, &remount, TRUE));
	assert_false(qa_model_cache_is_valid(&kept, &unknown, TRUE));
	assert_false(qa_model_cache_is_valid(&unknown, &unknown, TRUE));
}

/* the model itself: the kept one while valid, a new one after a uevent, a mount change, or a
 * serial udev had not settled; the seqnum read from <sys>/kernel/uevent_seqnum */
static void
test_model_cache_get(void **state)
{
	g_autoptr(QaRoots) roots = qa_test_fixture_roots("debian12-q35-synthetic");
	g_autoptr(GPtrArray) mounts = qa_mounts_load(roots, NULL);
	g_autoptr(GPtrArray) other = qa_mounts_load(roots, NULL);
	g_autoptr(QaModelCache) cache = qa_model_cache_new();
	QaStorageEpoch epoch = {.mounts = 1, .uevents = 10, .is_known = TRUE};
	QaStorageEpoch loaded = {0};
	QaBlockdevModel *model;
	gboolean is_reused = TRUE;

	assert_non_null(mounts);
	model = qa_model_cache_get(cache, roots, mounts, &epoch, NULL, &is_reused);
	assert_false(is_reused);
	assert_non_null(qa_blockdev_model_lookup(model, 254, 0, NULL));
	assert_true(qa_blockdev_model_is_settled(model));
	assert_ptr_equal(qa_model_cache_get(cache, roots, mounts, &epoch, NULL, &is_reused), model);
	assert_true(is_reused);
	/* another array of mounts is another table, whatever the epoch says */
	qa_model_cache_get(cache, roots, other, &epoch, NULL, &is_reused);
	assert_false(is_reused);
	epoch.uevents++;
	qa_model_cache_get(cache, roots, other, &epoch, NULL, &is_reused);
	assert_false(is_reused);
	qa_model_cache_get(cache, roots, other, &epoch, NULL, &is_reused);
	assert_true(is_reused);
	epoch.mounts++;
	qa_model_cache_get(cache, roots, other, &epoch, NULL, &is_reused);
	assert_false(is_reused);

	/* the fixture has no uevent_seqnum: unknown, never reused */
	qa_storage_epoch_load(roots, 1, &loaded);
	assert_false(loaded.is_known);
	qa_model_cache_get(cache, roots, other, &loaded, NULL, &is_reused);
	qa_model_cache_get(cache, roots, other, &loaded, NULL, &is_reused);
	assert_false(is_reused);
}

static void
touch(const gchar *dir, const gchar *name, const gchar *text)
{
	g_autofree gchar *path = g_build_filename(dir, name, NULL);

	assert_int_equal(g_mkdir_with_parents(dir, 0755), 0);
	assert_true(g_file_set_contents(path, text, -1, NULL));
}

/* `btrfs device add` links the new device under /sys/fs/btrfs/<fsid>/devices and sends no
 * uevent: the epoch changes with those lists, and only with them */
static void
test_storage_epoch_btrfs_devices(void **state)
{
	g_autofree gchar *tmp = g_dir_make_tmp("qa-epoch-XXXXXX", NULL);
	g_autofree gchar *sys = g_build_filename(tmp, "sys", NULL);
	g_autofree gchar *proc = g_build_filename(tmp, "proc", NULL);
	g_autofree gchar *kernel = g_build_filename(sys, "kernel", NULL);
	g_autofree gchar *btrfs = g_build_filename(sys, "fs", "btrfs", NULL);
	g_autofree gchar *features = g_build_filename(btrfs, "features", NULL);
	g_autofree gchar *one = g_build_filename(btrfs, "4ed1c5e2", "devices", NULL);
	g_autofree gchar *added = g_build_filename(one, "sdb", NULL);
	g_autofree gchar *cmd = NULL;
	g_autoptr(QaRoots) roots = qa_roots_new(proc, sys, "/dev", FALSE);
	QaStorageEpoch none = {0};
	QaStorageEpoch before = {0};
	QaStorageEpoch after = {0};
	QaStorageEpoch removed = {0};

	touch(kernel, "uevent_seqnum", "7\n");
	qa_storage_epoch_load(roots, 1, &none);
	touch(features, "metadata_uuid", "0\n");
	touch(one, "sda", "");
	qa_storage_epoch_load(roots, 1, &before);
	assert_true(before.is_known);
	assert_int_equal(before.uevents, 7);
	assert_false(qa_storage_epoch_is_same(&none, &before));
	touch(one, "sdb", "");
	qa_storage_epoch_load(roots, 1, &after);
	assert_false(qa_storage_epoch_is_same(&before, &after));
	assert_int_equal(g_unlink(added), 0);
	qa_storage_epoch_load(roots, 1, &removed);
	assert_true(qa_storage_epoch_is_same(&before, &removed));
	cmd = g_strdup_printf("rm -rf '%s'", tmp);
	assert_int_equal(system(cmd), 0);
}

/* the kernel's own counter reads as a number here */
static void
test_storage_epoch_load_real(void **state)
{
	g_autoptr(QaRoots) roots = qa_roots_new("/proc", "/sys", "/dev", FALSE);
	QaStorageEpoch epoch = {0};

	if (!g_file_test("/sys/kernel/uevent_seqnum", G_FILE_TEST_EXISTS))
		skip();
	qa_storage_epoch_load(roots, 3, &epoch);
	assert_true(epoch.is_known);
	assert_int_equal(epoch.mounts, 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_blockdev_resolve),
	    cmocka_unit_test(test_blockdev_resolve_oneshot),
	    cmocka_unit_test(test_serial_cache),
	    cmocka_unit_test(test_blockdev_list),
	    cmocka_unit_test(test_blockdev_mount_disks),
	    cmocka_unit_test(test_sysfs_resolve_link_fixtures),
	    cmocka_unit_test(test_sysfs_resolve_link_edges),
	    cmocka_unit_test(test_sysfs_read_file),
	    cmocka_unit_test(test_sysfs_read_generated),
	    cmocka_unit_test(test_storage_epoch_parse),
	    cmocka_unit_test(test_storage_epoch_btrfs_devices),
	    cmocka_unit_test(test_model_cache_validity),
	    cmocka_unit_test(test_model_cache_get),
	    cmocka_unit_test(test_storage_epoch_load_real),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
