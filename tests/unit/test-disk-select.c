/* Naming disks: which filesystems a disk selector catches, on the captured and synthetic sysfs
 * trees of tests/fixtures (see the README of each), through every bus and stack there is. */
/* cmocka.h needs these before it */
/* clang-format off */
#include <glib.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "disk-select.h"
#include "fixture-roots.h"
#include "mounts.h"
#include "qa-error.h"

/* "key=value key=value" as a host would send the members: serial, dev, bus-type, pci
 * (DDDD:BB:SS.F, or "unknown" for all -1), bus, target, unit, ccw */
static QaDiskSelector *
test_selector_parse(const gchar *text)
{
	g_autoptr(QaDiskSelector) selector = qa_disk_selector_new();
	g_auto(GStrv) words = g_strsplit(text, " ", -1);

	for (guint i = 0; words[i] != NULL; i++) {
		const gchar *eq = strchr(words[i], '=');
		const gchar *value = eq != NULL ? eq + 1 : "";
		guint d, b, s, f;

		if (g_str_has_prefix(words[i], "serial="))
			selector->serial = g_strdup(value);
		else if (g_str_has_prefix(words[i], "dev="))
			selector->dev = g_strdup(value);
		else if (g_str_has_prefix(words[i], "bus-type="))
			selector->bus_type = g_strdup(value);
		else if (g_str_has_prefix(words[i], "pci=unknown"))
			selector->has_pci = TRUE;
		else if (g_str_has_prefix(words[i], "pci=") &&
			 sscanf(value, "%x:%x:%x.%x", &d, &b, &s, &f) == 4) {
			selector->has_pci = TRUE;
			selector->pci = (QaPciAddress){(gint)d, (gint)b, (gint)s, (gint)f};
		} else if (g_str_has_prefix(words[i], "bus=")) {
			selector->has_bus = TRUE;
			selector->bus = atoi(value);
		} else if (g_str_has_prefix(words[i], "target=")) {
			selector->has_target = TRUE;
			selector->target = atoi(value);
		} else if (g_str_has_prefix(words[i], "unit=")) {
			selector->has_unit = TRUE;
			selector->unit = atoi(value);
		} else if (g_str_has_prefix(words[i], "ccw")) {
			selector->has_ccw = TRUE;
		} else {
			fail_msg("bad selector word '%s'", words[i]);
		}
	}
	return g_steal_pointer(&selector);
}

static const struct {
	const gchar *fixture;
	const gchar *selectors; /* one selector per "|" */
	/* the first mountpoint of every filesystem caught, in mount order, each followed by
	 * "(+dev ...)" for the disks it lives on that no selector named; NULL: an error whose
	 * message holds @error */
	const gchar *expected;
	const gchar *error;
} cases[] = {
    /* real (the VM test guest, tests/fixtures/debian12-qemu-q35/README.md): every bus */
    {"debian12-qemu-q35", "serial=QA-ROOT", "/", NULL},
    /* a partition: its filesystem (mounted twice) and the loop image whose file is on it */
    {"debian12-qemu-q35", "serial=QA-DATA", "/data,/loop", NULL},
    {"debian12-qemu-q35", "dev=/dev/vdb", "/data,/loop", NULL},
    {"debian12-qemu-q35", "dev=/dev/vdb1", "/data,/loop", NULL},
    /* a partition with no filesystem: named, nothing caught, no error */
    {"debian12-qemu-q35", "dev=/dev/vdb2", "", NULL},
    /* what guest-get-fsinfo reported for /data, sent back whole: the partition's node names
     * the whole disk */
    {"debian12-qemu-q35",
     "pci=0000:00:03.0 bus-type=virtio bus=0 target=0 unit=0 serial=QA-DATA dev=/dev/vdb1",
     "/data,/loop",
     NULL},
    /* the loop device alone: only what is on it */
    {"debian12-qemu-q35", "dev=/dev/loop0", "/loop", NULL},
    /* LVM over SATA port 2 and virtio-scsi 2/3: one disk named, the other reported */
    {"debian12-qemu-q35", "serial=QA-SATA-P2", "/lvm(+/dev/sdc)", NULL},
    {"debian12-qemu-q35",
     "pci=0000:00:04.0 bus-type=scsi bus=0 target=2 unit=3",
     "/lvm(+/dev/sda)",
     NULL},
    {"debian12-qemu-q35", "serial=QA-SATA-P2|serial=QA-SCSI-T2L3", "/lvm", NULL},
    {"debian12-qemu-q35",
     "pci=0000:00:06.0 bus-type=sata bus=0 target=0 unit=2",
     "/lvm(+/dev/sdc)",
     NULL},
    {"debian12-qemu-q35", "dev=/dev/mapper/qa--vg-span", "/lvm", NULL},
    {"debian12-qemu-q35", "dev=/dev/dm-0", "/lvm", NULL},
    /* a controller's function alone names every disk on it: both virtio-scsi disks */
    {"debian12-qemu-q35", "pci=0000:00:04.0", "/lvm(+/dev/sda),/scsi", NULL},
    /* btrfs on the virtio-scsi disk at 0/0 */
    {"debian12-qemu-q35", "serial=QA-SCSI-T0L0", "/scsi", NULL},
    /* MD RAID1 */
    {"debian12-qemu-q35", "serial=QA-RAID-A", "/raid(+/dev/vdd)", NULL},
    {"debian12-qemu-q35", "dev=/dev/md127", "/raid", NULL},
    {"debian12-qemu-q35", "serial=QA-RAID-A|dev=/dev/vdd", "/raid", NULL},
    /* NVMe behind a root port, megasas, lsi, pvscsi, mptsas */
    {"debian12-qemu-q35", "pci=0000:01:00.0 bus-type=nvme", "/nvme", NULL},
    {"debian12-qemu-q35", "pci=0000:00:05.0 bus=0 target=1 unit=0", "/hba", NULL},
    {"debian12-qemu-q35", "pci=0000:00:0c.0 target=0 unit=3", "/lsi", NULL},
    {"debian12-qemu-q35", "serial=QA-PVSCSI", "/pvscsi", NULL},
    {"debian12-qemu-q35", "pci=0000:00:0e.0 bus-type=scsi bus=0 target=5 unit=1", "/sas", NULL},
    /* names that name nothing, or cannot tell disks apart */
    {"debian12-qemu-q35", "pci=0000:00:0e.0 target=4", NULL, "matches no disk"},
    {"debian12-qemu-q35", "serial=QA-ROOT|serial=NOPE", NULL, "{serial=NOPE} matches no disk"},
    {"debian12-qemu-q35", "dev=/dev/nope", NULL, "matches no block device"},
    {"debian12-qemu-q35", "serial=QA-DATA dev=/dev/vda", NULL, "matches no disk"},
    {"debian12-qemu-q35", "bus-type=scsi target=2 unit=3", NULL, "does not tell disks apart"},
    {"debian12-qemu-q35", "pci=unknown bus-type=unknown", NULL, "does not tell disks apart"},
    {"debian12-qemu-q35", "serial=", NULL, "empty serial"},
    {"debian12-qemu-q35", "ccw", NULL, "matches no disk"},
    /* real (the build VM): btrfs RAID1 over loop2 and loop3, loop over loop, files on / */
    {"host-debian12-virtio-blk", "dev=/dev/loop3", "/tmp/qa-fx/btrfs", NULL},
    {"host-debian12-virtio-blk", "dev=/dev/loop0", "/tmp/qa-fx/part,/tmp/qa-fx/nested", NULL},
    {"host-debian12-virtio-blk",
     "serial=overlayblk",
     "/,/tmp/qa-fx/part,/tmp/qa-fx/nested,/tmp/qa-fx/btrfs",
     NULL},
    /* synthetic: LVM on LUKS on a logical partition; btrfs RAID1 over two whole disks */
    {"debian12-luks-synthetic", "serial=LUKS-ROOT", "/,/boot,/home", NULL},
    {"debian12-luks-synthetic", "dev=/dev/vda5", "/,/home", NULL},
    {"debian12-luks-synthetic", "dev=/dev/mapper/vda5_crypt", "/,/home", NULL},
    {"debian12-luks-synthetic", "dev=/dev/dm-2", "/home", NULL},
    {"debian12-luks-synthetic", "dev=/dev/vda1", "/boot", NULL},
    {"debian12-luks-synthetic", "serial=BTRFS-B", "/srv(+/dev/vdb)", NULL},
    {"debian12-luks-synthetic", "pci=0000:00:05.0", "/srv(+/dev/vdc)", NULL},
    {"debian12-luks-synthetic", "serial=BTRFS-A|serial=BTRFS-B", "/srv", NULL},
    /* synthetic q35: loop on a partition, dm over loop, loop over loop with a deleted file */
    {"debian12-q35-synthetic",
     "serial=VIRTIO-ROOT",
     "/,/images,/mnt/img,/mnt/dmloop,/mnt/inner",
     NULL},
    {"debian12-q35-synthetic", "dev=/dev/vda2", "/images,/mnt/img,/mnt/dmloop,/mnt/inner", NULL},
    {"debian12-q35-synthetic", "dev=/dev/loop0", "/mnt/img,/mnt/inner", NULL},
    {"debian12-q35-synthetic", "serial=SCSI00", "/data(+/dev/sdb)", NULL},
    {"debian12-q35-synthetic", "dev=/dev/nvme0n1", "/srv(+/dev/sdc),/nvme", NULL},
    {"debian12-q35-synthetic", "pci=0000:02:01.0 target=0 unit=1", "/lsi", NULL},
    /* native NVMe multipath: the namespace under the subsystem */
    {"debian12-nvme-multipath-synthetic", "serial=NVMEMP01", "/", NULL},
    {"debian12-nvme-multipath-synthetic", "pci=0000:01:00.0 unit=0", "/", NULL},
};

/* what @selectors catch among the block filesystems of @roots, as the cases write it */
static gchar *
test_catch(const QaRoots *roots, GPtrArray *selectors, GError **error)
{
	g_autoptr(GPtrArray) mounts = qa_mounts_load(roots, NULL);
	g_autoptr(GPtrArray) filesystems = qa_filesystems_from_mounts(roots, mounts);
	g_autoptr(QaDiskSelectStorage) storage = NULL;
	g_autoptr(GPtrArray) matches = NULL;
	g_autoptr(GString) str = g_string_new(NULL);

	storage = qa_disk_select_load(roots, filesystems, selectors, error);
	assert_non_null(storage);
	matches = qa_disk_select_match(selectors, storage, error);
	if (matches == NULL)
		return NULL;
	for (guint i = 0; i < filesystems->len; i++) {
		QaFilesystem *fs = g_ptr_array_index(filesystems, i);
		g_autoptr(GPtrArray) others = NULL;
		gboolean is_caught = FALSE;

		for (guint j = 0; j < matches->len && !is_caught; j++) {
			QaDiskSelectMatch *match = g_ptr_array_index(matches, j);
			for (guint k = 0; k < match->filesystems->len; k++)
				is_caught |= g_array_index(match->filesystems, guint, k) == i;
		}
		if (!is_caught)
			continue;
		g_string_append_printf(str,
				       "%s%s",
				       str->len > 0 ? "," : "",
				       (const gchar *)g_ptr_array_index(fs->mountpoints, 0));
		others = qa_disk_select_others(selectors, g_ptr_array_index(storage->storages, i));
		for (guint j = 0; j < others->len; j++) {
			const QaDiskAddress *disk = g_ptr_array_index(others, j);
			g_string_append_printf(str, "(+%s)", disk->dev);
		}
	}
	return g_strdup(str->str);
}

static void
test_disk_select_fixtures(void **state)
{
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(QaRoots) roots = qa_test_fixture_roots(cases[i].fixture);
		g_autoptr(GPtrArray) selectors =
		    g_ptr_array_new_with_free_func((GDestroyNotify)qa_disk_selector_free);
		g_auto(GStrv) texts = g_strsplit(cases[i].selectors, "|", -1);
		g_autoptr(GError) error = NULL;
		g_autofree gchar *got = NULL;

		g_test_message("case %u: %s %s", i, cases[i].fixture, cases[i].selectors);
		for (guint j = 0; texts[j] != NULL; j++)
			g_ptr_array_add(selectors, test_selector_parse(texts[j]));
		got = test_catch(roots, selectors, &error);
		if (cases[i].expected == NULL) {
			assert_null(got);
			assert_non_null(error);
			if (strstr(error->message, cases[i].error) == NULL)
				fail_msg(
				    "case %u: '%s' lacks '%s'", i, error->message, cases[i].error);
			continue;
		}
		g_assert_no_error(error);
		if (g_strcmp0(got, cases[i].expected) != 0)
			fail_msg("case %u (%s): got '%s', expected '%s'",
				 i,
				 cases[i].selectors,
				 got,
				 cases[i].expected);
	}
}

/* the disks a match names, as guest-get-fsinfo would report them */
static void
test_disk_select_match_disks(void **state)
{
	g_autoptr(QaRoots) roots = qa_test_fixture_roots("debian12-qemu-q35");
	g_autoptr(GPtrArray) mounts = qa_mounts_load(roots, NULL);
	g_autoptr(GPtrArray) filesystems = qa_filesystems_from_mounts(roots, mounts);
	g_autoptr(GPtrArray) selectors =
	    g_ptr_array_new_with_free_func((GDestroyNotify)qa_disk_selector_free);
	g_autoptr(QaDiskSelectStorage) storage = NULL;
	g_autoptr(GPtrArray) matches = NULL;
	g_autofree gchar *first = NULL;
	g_autofree gchar *text = NULL;
	QaDiskSelectMatch *match;

	g_ptr_array_add(selectors, test_selector_parse("pci=0000:00:04.0"));
	g_ptr_array_add(selectors, test_selector_parse("dev=/dev/vdb2"));
	storage = qa_disk_select_load(roots, filesystems, selectors, NULL);
	matches = qa_disk_select_match(selectors, storage, NULL);
	assert_non_null(matches);
	match = g_ptr_array_index(matches, 0);
	assert_int_equal(match->disks->len, 2);
	first = qa_disk_address_to_string(g_ptr_array_index(match->disks, 0));
	assert_string_equal(
	    first, "scsi pci=0000:00:04.0 bus=0 target=0 unit=0 serial=QA-SCSI-T0L0 dev=/dev/sdb");
	/* a partition names its disk's address */
	match = g_ptr_array_index(matches, 1);
	assert_int_equal(match->disks->len, 1);
	assert_int_equal(match->filesystems->len, 0);
	text = qa_disk_selector_to_string(match->selector);
	assert_string_equal(text, "dev=/dev/vdb2");
}

/* the selector's own text, every member */
static void
test_disk_selector_to_string(void **state)
{
	g_autoptr(QaDiskSelector) all = test_selector_parse(
	    "serial=S dev=/dev/vdb bus-type=scsi pci=0000:00:04.0 bus=1 target=2 unit=3 ccw");
	g_autoptr(QaDiskSelector) unknown = test_selector_parse("pci=unknown");
	g_autoptr(QaDiskSelector) none = qa_disk_selector_new();
	g_autoptr(QaDiskSelector) copy = qa_disk_selector_copy(all);
	g_autofree gchar *a = qa_disk_selector_to_string(all);
	g_autofree gchar *b = qa_disk_selector_to_string(unknown);
	g_autofree gchar *c = qa_disk_selector_to_string(none);
	g_autofree gchar *d = qa_disk_selector_to_string(copy);

	assert_string_equal(a,
			    "serial=S dev=/dev/vdb bus-type=scsi pci=0000:00:04.0 bus=1 target=2 "
			    "unit=3 ccw-address");
	assert_string_equal(b, "pci=-1:-1:-1.-1");
	assert_string_equal(c, "{}");
	assert_string_equal(d, a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_disk_select_fixtures),
	    cmocka_unit_test(test_disk_select_match_disks),
	    cmocka_unit_test(test_disk_selector_to_string),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
