/* Windows volumes and the disks under them, from the storage stack: volume enumeration, mount
 * paths, disk extents, storage property and SCSI address queries, and the PCI address of the
 * storage controller through SetupAPI. A query that fails leaves its field unknown; it never
 * drops a volume or fails the whole answer. */
#pragma once

#include <glib.h>

typedef enum {
	QA_WIN_BUS_UNKNOWN,
	QA_WIN_BUS_SCSI,
	QA_WIN_BUS_ATAPI,
	QA_WIN_BUS_ATA,
	QA_WIN_BUS_IEEE1394,
	QA_WIN_BUS_SSA,
	QA_WIN_BUS_FIBRE,
	QA_WIN_BUS_USB,
	QA_WIN_BUS_RAID,
	QA_WIN_BUS_ISCSI,
	QA_WIN_BUS_SAS,
	QA_WIN_BUS_SATA,
	QA_WIN_BUS_SD,
	QA_WIN_BUS_MMC,
	QA_WIN_BUS_VIRTUAL,
	QA_WIN_BUS_FILE_BACKED_VIRTUAL,
	QA_WIN_BUS_NVME,
} QaWinBus;

typedef struct {
	gchar *dev; /* \\.\PhysicalDriveN, or the volume itself when it has no disk extents */
	guint number;
	QaWinBus bus;
	gint pci_domain, pci_bus, pci_slot, pci_function; /* -1: unknown */
	gint scsi_bus, scsi_target, scsi_lun;		  /* -1: unknown */
	gchar *serial;					  /* NULL: unknown */
} QaWinDisk;

typedef struct {
	gchar *guid_path; /* \\?\Volume{...}\ */
	GPtrArray *paths; /* of gchar *: "C:\", "C:\mnt\data\"; empty when not mounted */
	gchar *fstype;	  /* "NTFS"; NULL: unknown */
	gboolean has_size;
	guint64 total_bytes;
	guint64 free_bytes;
	guint drive_type; /* GetDriveType(): DRIVE_FIXED, DRIVE_CDROM, ... */
	GPtrArray *disks; /* of QaWinDisk */
} QaWinVolume;

/* every volume of the system, with or without mount paths; GPtrArray of QaWinVolume */
GPtrArray *
qa_win_volumes_load(gboolean with_disks, GError **error);
/* every disk (GUID_DEVINTERFACE_DISK); GPtrArray of QaWinDisk */
GPtrArray *
qa_win_disks_load(GError **error);
/* the mount path of the volume mounted at @path ("c:" -> "C:\"), or NULL + NOT_FOUND */
gchar *
qa_win_volumes_resolve(const gchar *path, GError **error);
/* "C:\" -> \\?\Volume{...}\, for VSS */
gchar *
qa_win_volumes_get_guid_path(const gchar *mountpath, GError **error);
const gchar *
qa_win_bus_to_string(QaWinBus bus);

void
qa_win_volume_free(QaWinVolume *volume);
void
qa_win_disk_free(QaWinDisk *disk);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaWinVolume, qa_win_volume_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaWinDisk, qa_win_disk_free)
