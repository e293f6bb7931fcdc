/* Naming disks the way guest-get-fsinfo and guest-get-disks report them, and finding what is
 * stored on them: the freezer's "freeze (thaw) what lives on these disks".
 *
 * A selector is a disk address with every member optional. What it names:
 * - with only @dev: that block device, whatever it is (a disk, a partition, a dm, md or loop
 *   device, as guest-get-disks lists them; a /dev/mapper or /dev/disk/by-* link to one);
 * - otherwise the physical disks whose address matches every member given (members left out
 *   are not compared): @serial equal; @pci-controller equal in all four numbers (-1 included,
 *   as reported for an unknown function); @bus-type, @bus, @target, @unit equal; @dev, given
 *   with them, is the disk's node or one of its partitions' (a partition's node is what
 *   guest-get-fsinfo reports as the disk of a filesystem on it), and names the whole disk.
 * A partial address therefore names every disk it fits: a controller's PCI function alone
 * names every disk on that controller. A selector must carry at least one member that tells
 * disks apart: @serial, @dev, @ccw-address, or a @pci-controller that is not all -1. CCW
 * addresses (s390x) are never resolved here, so a selector with one names no disk.
 *
 * A filesystem is on a selector's disks when any block device it is stored on (see
 * QaBlockdevStorage: through partitions, LVM and other dm devices, MD, LUKS, every device of a
 * btrfs filesystem, and loop devices whose backing file lives on such a filesystem) is one of
 * them. Matching is pure; qa_disk_select_load() reads what it needs from sysfs and /dev
 * (devtmpfs: never frozen), nothing from a mounted filesystem. */
#pragma once

#include <glib.h>

#include "blockdev.h"
#include "mounts.h"
#include "roots.h"

typedef struct {
	gchar *serial; /* NULL: not compared */
	gchar *dev;    /* NULL: not compared */
	gboolean has_pci;
	QaPciAddress pci;
	gchar *bus_type; /* a GuestDiskBusType name ("virtio", "scsi", ...); NULL: not compared */
	gboolean has_bus;
	gint bus;
	gboolean has_target;
	gint target;
	gboolean has_unit;
	gint unit;
	gboolean has_ccw;
	/* set by qa_disk_select_load(): the device @dev names (0: no block device), the disk it
	 * is or is a partition of (0: neither), and every physical disk below it (dev_t) */
	guint64 dev_devnum;
	guint64 dev_disk_devnum;
	GArray *dev_disks;
} QaDiskSelector;

/* what a request's filesystems are stored on, and every disk there is */
typedef struct {
	GPtrArray *storages; /* QaBlockdevStorage per filesystem, in the order given */
	GPtrArray *disks;    /* QaDiskAddress of every physical disk of the guest */
	GArray *devices;     /* dev_t of every block device of the guest */
} QaDiskSelectStorage;

/* one selector's catch */
typedef struct {
	const QaDiskSelector *selector; /* borrowed */
	GPtrArray *disks;		/* QaDiskAddress copies: the physical disks it names */
	GArray *filesystems;		/* guint indexes of the filesystems on them */
} QaDiskSelectMatch;

QaDiskSelector *
qa_disk_selector_new(void);
QaDiskSelector *
qa_disk_selector_copy(const QaDiskSelector *selector);
void
qa_disk_selector_free(QaDiskSelector *selector);
/* the members given, for messages and the report: "serial=QA-DATA dev=/dev/vdb" */
gchar *
qa_disk_selector_to_string(const QaDiskSelector *selector);

/* pure: FALSE with an error naming the selector when it cannot tell disks apart */
gboolean
qa_disk_select_check(const QaDiskSelector *selector, GError **error);
/* pure: whether @selector names the physical disk @disk; with only @dev, whether @disk is
 * below the device it names (so that a filesystem caught through a partition or a dm device is
 * not said to live on disks nobody named) */
gboolean
qa_disk_select_matches_disk(const QaDiskSelector *selector, const QaDiskAddress *disk);
/* pure: whether @selector names a device of @storage (with only @dev, one of its devices; else
 * one of its disks); @out_disks (nullable) receives copies of the disks of @storage it names
 * (see qa_disk_select_matches_disk()) that it does not hold yet */
gboolean
qa_disk_select_matches_storage(const QaDiskSelector *selector,
			       const QaBlockdevStorage *storage,
			       GPtrArray *out_disks);
/* pure: per selector (same order) a QaDiskSelectMatch; fails, naming it, on the first selector
 * that is not valid or names no disk or device of @storage. A disk with no filesystem on it is
 * a match with no filesystems, not an error. */
GPtrArray *
qa_disk_select_match(GPtrArray *selectors, const QaDiskSelectStorage *storage, GError **error);
/* pure: the disks of @storage that none of @selectors names */
GPtrArray *
qa_disk_select_others(GPtrArray *selectors, const QaBlockdevStorage *storage);

/* Reads what @filesystems (GPtrArray of QaFilesystem) are stored on and every disk of the
 * guest, and resolves the @dev of each of @selectors (GPtrArray of QaDiskSelector, changed in
 * place). Devices that cannot be read are logged and left out. */
QaDiskSelectStorage *
qa_disk_select_load(const QaRoots *roots,
		    GPtrArray *filesystems,
		    GPtrArray *selectors,
		    GError **error);
void
qa_disk_select_storage_free(QaDiskSelectStorage *storage);
void
qa_disk_select_match_free(QaDiskSelectMatch *match);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaDiskSelector, qa_disk_selector_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaDiskSelectStorage, qa_disk_select_storage_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaDiskSelectMatch, qa_disk_select_match_free)
