/* Block devices and the physical disks under them, read from sysfs (and udev for serials).
 *
 * Everything is read through QaRoots, so the same code runs on /sys and on fixture trees. The
 * walk from a device to its disks is pure path logic: sysfs paths in, addresses out; nothing on
 * a mounted filesystem is opened, so it works while filesystems are frozen. A QaBlockdevModel
 * caches every device and address it resolves, so one request walks each device once however
 * many mounts share it. */
#pragma once

#include <glib.h>

#include "mounts.h"
#include "roots.h"

typedef enum {
	QA_BLOCKDEV_BUS_UNKNOWN,
	QA_BLOCKDEV_BUS_VIRTIO,
	QA_BLOCKDEV_BUS_SCSI,
	QA_BLOCKDEV_BUS_SATA,
	QA_BLOCKDEV_BUS_IDE,
	QA_BLOCKDEV_BUS_NVME,
	QA_BLOCKDEV_BUS_USB,
	QA_BLOCKDEV_BUS_XEN,
	QA_BLOCKDEV_BUS_MMC,
} QaBlockdevBus;

/* a PCI function; every member is -1 when unknown */
typedef struct {
	gint domain;
	gint bus;
	gint slot;
	gint function;
} QaPciAddress;

/* Where a physical disk is attached, in the host's terms (see qa_blockdev_resolve_address()
 * for the rule per bus). */
typedef struct {
	QaPciAddress pci; /* the disk's own function (virtio-blk, NVMe) or its controller's */
	QaBlockdevBus bus_type;
	gint bus;
	gint target;
	gint unit;
	gchar *serial; /* NULL when unknown */
	gchar *dev;    /* node the disk was reached through: the partition's for a partition */
	guint major;   /* the whole disk */
	guint minor;
} QaDiskAddress;

typedef enum {
	QA_BLOCKDEV_KIND_DISK,	    /* a physical disk (has a bus address) */
	QA_BLOCKDEV_KIND_PARTITION, /* a partition of any disk, physical or not */
	QA_BLOCKDEV_KIND_DM,	    /* device-mapper: LVM, dm-crypt, multipath, ... */
	QA_BLOCKDEV_KIND_MD,	    /* MD RAID */
	QA_BLOCKDEV_KIND_LOOP,
	QA_BLOCKDEV_KIND_VIRTUAL, /* any other device under /sys/devices/virtual: zram, nbd, ... */
} QaBlockdevKind;

typedef struct {
	guint major;
	guint minor;
	gchar *name;	/* kernel name: vda1, dm-0, nvme0n1p2 */
	gchar *node;	/* device node: <roots->dev>/<DEVNAME> */
	gchar *syspath; /* canonical sysfs directory */
	QaBlockdevKind kind;
	gchar *parent;		  /* partitions: kernel name of the disk; else NULL */
	GPtrArray *slaves;	  /* of gchar *: kernel names of what a dm/md device is built on;
				   * empty for disks, partitions and loop devices */
	gchar *dm_name;		  /* device-mapper name, or NULL */
	gchar *loop_backing_file; /* loop devices: the backing file, " (deleted)" removed */
	/* loop devices: the device number of the filesystem holding the backing file, as the
	 * kernel has it (st_dev of the inode, LOOP_GET_STATUS64), which holds even when the
	 * file's path is no longer a visible mount; 0 when unknown (no device node) */
	guint64 loop_backing_dev;
} QaBlockdev;

typedef struct _QaBlockdevModel QaBlockdevModel;

QaDiskAddress *
qa_disk_address_new(void);
QaDiskAddress *
qa_disk_address_copy(const QaDiskAddress *address);
void
qa_disk_address_free(QaDiskAddress *address);
/* one line for logs and tests: "scsi pci=0000:00:05.0 bus=0 target=2 unit=3 dev=/dev/sdb" */
gchar *
qa_disk_address_to_string(const QaDiskAddress *address);
const gchar *
qa_blockdev_bus_to_string(QaBlockdevBus bus);

/* Pure: the addresses of the physical disk whose canonical sysfs directory is @disk_syspath,
 * below the canonical sysfs root @sys. One address, or one per controller for NVMe native
 * multipath. serial, dev, major and minor are left empty. Fails with NOT_FOUND when the device
 * is not a physical disk (a virtual device) and PARSE when sysfs is not as expected. */
GPtrArray *
qa_blockdev_resolve_address(const gchar *sys, const gchar *disk_syspath, GError **error);

/* TRUE when @major:@minor is a block device in sysfs */
gboolean
qa_blockdev_exists(const QaRoots *roots, guint major, guint minor);
/* the block device a mount source names ("/dev/vdb", "/dev/mapper/vg-lv", "UUID=..." is not
 * resolved); FALSE when it is not a block device */
gboolean
qa_blockdev_lookup_source(const QaRoots *roots,
			  const gchar *source,
			  guint *out_major,
			  guint *out_minor);

/* @mounts (nullable, borrowed for the model's lifetime) locate loop devices' backing files */
QaBlockdevModel *
qa_blockdev_model_new(const QaRoots *roots, GPtrArray *mounts);
void
qa_blockdev_model_free(QaBlockdevModel *model);
/* the device, cached; NULL with NOT_FOUND when there is no such block device */
const QaBlockdev *
qa_blockdev_model_lookup(QaBlockdevModel *model, guint major, guint minor, GError **error);
const QaBlockdev *
qa_blockdev_model_lookup_name(QaBlockdevModel *model, const gchar *name, GError **error);
/* every block device worth listing (see the rule in blockdev.c), sorted by name; a new array of
 * borrowed devices. Devices that cannot be read are logged and skipped. */
GPtrArray *
qa_blockdev_model_list(QaBlockdevModel *model);
/* the address of a physical disk (KIND_DISK); NULL otherwise. Borrowed array of QaDiskAddress. */
GPtrArray *
qa_blockdev_model_get_address(QaBlockdevModel *model, const QaBlockdev *disk);
/* every physical disk under @major:@minor, through partitions, dm/md slaves and loop backing
 * files, each listed once; borrowed, never NULL (empty when nothing resolves) */
GPtrArray *
qa_blockdev_model_get_disks(QaBlockdevModel *model, guint major, guint minor);
/* the block devices a mount lives on: its superblock's device, or every device of a btrfs
 * filesystem. A new GArray of dev_t; empty for pseudo filesystems. */
GArray *
qa_blockdev_model_get_mount_devices(QaBlockdevModel *model, const QaMount *mount);
/* the device whose kernel name guest-get-fsinfo reports for @mount; NULL when none */
const QaBlockdev *
qa_blockdev_model_get_mount_device(QaBlockdevModel *model, const QaMount *mount);
/* every physical disk of a mount (btrfs: of all its devices); a new array of copies */
GPtrArray *
qa_blockdev_model_get_mount_disks(QaBlockdevModel *model, const QaMount *mount);
/* the loop devices under @major:@minor (through partitions, dm and md, not through other
 * loop devices' files); a new array of borrowed devices */
GPtrArray *
qa_blockdev_model_get_loops(QaBlockdevModel *model, guint major, guint minor);
/* the mount (of the model's mounts) holding @loop's backing file: found by the device number
 * the loop driver reports for the file (which needs no visible path), else by the file's path;
 * NULL when none is known */
const QaMount *
qa_blockdev_model_find_backing_mount(QaBlockdevModel *model, const QaBlockdev *loop);

/* Everything a mount is stored on, for choosing filesystems by disk. */
typedef struct {
	/* dev_t of every block device below the mount, each once: its own (every device of a
	 * btrfs filesystem), a partition's disk, the members of dm and md devices, loop devices
	 * and, through their backing files, the devices of the filesystems holding those */
	GArray *devices;
	/* the physical disks among them, as qa_blockdev_model_get_mount_disks() gives them */
	GPtrArray *disks;
} QaBlockdevStorage;

/* @mount NULL: an empty storage */
QaBlockdevStorage *
qa_blockdev_model_get_mount_storage(QaBlockdevModel *model, const QaMount *mount);
void
qa_blockdev_storage_free(QaBlockdevStorage *storage);

/* convenience for one device: the disks under it, as copies; NULL with @error when
 * @major:@minor is not a block device */
GPtrArray *
qa_blockdev_resolve(const QaRoots *roots, guint major, guint minor, GError **error);

/* Serials of disks looked up before, kept for the agent's lifetime: a lookup through libudev
 * costs dozens of syscalls per disk (it verifies the whole sysfs path), which in a guest is most
 * of what guest-get-fsinfo spends per disk, and a disk's serial cannot change while it stays
 * attached. Entries are keyed by the disk's numbers and its diskseq (sysfs, Linux 5.15+), which
 * the kernel gives anew at every attach and media change, so a disk plugged in again under the
 * same numbers is looked up again; disks without diskseq are looked up every time, and only
 * answers of udev about a device it has finished processing are kept. Not thread-safe: the
 * agent uses one on the main thread only. */
typedef struct _QaSerialCache QaSerialCache;

QaSerialCache *
qa_serial_cache_new(void);
void
qa_serial_cache_free(QaSerialCache *cache);
/* @cache (borrowed, nullable) serves and keeps the serials @model looks up */
void
qa_blockdev_model_set_serial_cache(QaBlockdevModel *model, QaSerialCache *cache);

/* Everything the model read stays valid until the next uevent: no serial udev had not finished
 * with, no address that failed to resolve (blockdev-cache.c) */
gboolean
qa_blockdev_model_is_settled(const QaBlockdevModel *model);

/* What a kept model is valid for (blockdev-cache.c): the kernel's uevent sequence number, the
 * mount table's generation (qa_mount_table_get_generation()) and the devices of every mounted
 * btrfs filesystem, which `btrfs device add` changes without a uevent. */
typedef struct {
	guint64 mounts;
	guint64 uevents;
	guint64 btrfs;	   /* a hash of /sys/fs/btrfs/<fsid>/devices, every fsid */
	gboolean is_known; /* uevents could be read; an unknown epoch equals none */
} QaStorageEpoch;

/* pure: the text of /sys/kernel/uevent_seqnum ("1234\n") */
gboolean
qa_storage_epoch_parse_seqnum(const gchar *text, guint64 *out);
/* reads <sys>/kernel/uevent_seqnum (is_known FALSE when it cannot) */
void
qa_storage_epoch_load(const QaRoots *roots, guint64 mount_generation, QaStorageEpoch *out);
/* pure: both known and equal */
gboolean
qa_storage_epoch_is_same(const QaStorageEpoch *a, const QaStorageEpoch *b);

/* A model kept between requests (one owner, not thread-safe): reused while the epoch it was
 * built at is the epoch now and it is settled. */
typedef struct _QaModelCache QaModelCache;

QaModelCache *
qa_model_cache_new(void);
void
qa_model_cache_free(QaModelCache *cache);
/* pure: may a model kept at @kept be used at @now? */
gboolean
qa_model_cache_is_valid(const QaStorageEpoch *kept, const QaStorageEpoch *now, gboolean is_settled);
/* The model for @mounts (the mount table's array for epoch->mounts) at @epoch, with @serials
 * (nullable): the kept one when it is valid, else a new one, kept. Borrowed from @cache until its
 * next call. @epoch must be loaded before the model is used, never after. */
QaBlockdevModel *
qa_model_cache_get(QaModelCache *cache,
		   const QaRoots *roots,
		   GPtrArray *mounts,
		   const QaStorageEpoch *epoch,
		   QaSerialCache *serials,
		   gboolean *out_is_reused);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaDiskAddress, qa_disk_address_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaBlockdevModel, qa_blockdev_model_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaBlockdevStorage, qa_blockdev_storage_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaSerialCache, qa_serial_cache_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaModelCache, qa_model_cache_free)
