/* The storage commands on Windows, in QEMU's Windows agent's shapes:
 *
 * - guest-get-fsinfo: one entry per mount path of every volume (a drive letter and each mounted
 *   folder; a volume without one is reported with mountpoint "System Reserved", as QEMU's agent
 *   does, so no volume goes missing). name is the volume GUID path, type the file system
 *   ("NTFS"), used/total bytes from GetDiskFreeSpaceEx (Windows has no privileged total), and
 *   the disks under the volume with bus type, controller PCI address, SCSI bus/target/LUN and
 *   serial; each unknown is -1 or "unknown", never a failure.
 * - guest-get-disks: every disk as \\.\PhysicalDriveN with its address.
 * - guest-fsfreeze-*: the shared handlers (agent/commands/fsfreeze.c) over the VSS freezer
 *   (freezer-win32.c).
 * - guest-fstrim: not implemented on Windows; a clear error. */
#include "agent.h"
#include "freezer-win32.h"
#include "fsfreeze-disks.h"
#include "qa-error.h"
#include "qa-schema.h"
#include "volumes-win32.h"

#define QA_FSINFO_NO_MOUNT "System Reserved"

static QaGuestDiskBusType
qa_win_bus_to_wire(QaWinBus bus)
{
	switch (bus) {
	case QA_WIN_BUS_SCSI:
		return QA_GUEST_DISK_BUS_TYPE_SCSI;
	case QA_WIN_BUS_ATAPI:
	case QA_WIN_BUS_ATA:
		return QA_GUEST_DISK_BUS_TYPE_IDE;
	case QA_WIN_BUS_IEEE1394:
		return QA_GUEST_DISK_BUS_TYPE_IEEE1394;
	case QA_WIN_BUS_SSA:
		return QA_GUEST_DISK_BUS_TYPE_SSA;
	case QA_WIN_BUS_FIBRE:
		return QA_GUEST_DISK_BUS_TYPE_FIBRE;
	case QA_WIN_BUS_USB:
		return QA_GUEST_DISK_BUS_TYPE_USB;
	case QA_WIN_BUS_RAID:
		return QA_GUEST_DISK_BUS_TYPE_RAID;
	case QA_WIN_BUS_ISCSI:
		return QA_GUEST_DISK_BUS_TYPE_ISCSI;
	case QA_WIN_BUS_SAS:
		return QA_GUEST_DISK_BUS_TYPE_SAS;
	case QA_WIN_BUS_SATA:
		return QA_GUEST_DISK_BUS_TYPE_SATA;
	case QA_WIN_BUS_SD:
		return QA_GUEST_DISK_BUS_TYPE_SD;
	case QA_WIN_BUS_MMC:
		return QA_GUEST_DISK_BUS_TYPE_MMC;
	case QA_WIN_BUS_VIRTUAL:
		return QA_GUEST_DISK_BUS_TYPE_VIRTUAL;
	case QA_WIN_BUS_FILE_BACKED_VIRTUAL:
		return QA_GUEST_DISK_BUS_TYPE_FILE_BACKED_VIRTUAL;
	case QA_WIN_BUS_NVME:
		return QA_GUEST_DISK_BUS_TYPE_NVME;
	case QA_WIN_BUS_UNKNOWN:
	default:
		return QA_GUEST_DISK_BUS_TYPE_UNKNOWN;
	}
}

/* every member libvirt requires is set, -1 when unknown */
static QaGuestDiskAddress *
qa_win_disk_to_wire(const QaWinDisk *disk)
{
	QaGuestDiskAddress *wire = qa_guest_disk_address_new();

	if (wire->pci_controller == NULL)
		wire->pci_controller = qa_guest_pci_address_new();
	wire->pci_controller->domain = disk->pci_domain;
	wire->pci_controller->bus = disk->pci_bus;
	wire->pci_controller->slot = disk->pci_slot;
	wire->pci_controller->function = disk->pci_function;
	wire->bus_type = qa_win_bus_to_wire(disk->bus);
	wire->bus = disk->scsi_bus;
	wire->target = disk->scsi_target;
	wire->unit = disk->scsi_lun;
	wire->serial = g_strdup(disk->serial);
	wire->dev = g_strdup(disk->dev);
	return wire;
}

static QaGuestFilesystemInfo *
qa_win_fsinfo_entry(QaAgent *agent, const QaWinVolume *volume, const gchar *mountpoint)
{
	QaGuestFilesystemInfo *info = qa_guest_filesystem_info_new();

	info->name = g_strdup(volume->guid_path);
	info->mountpoint = g_strdup(mountpoint);
	info->type = g_strdup(volume->fstype != NULL ? volume->fstype : "unknown");
	if (volume->has_size) {
		info->has_used_bytes = TRUE;
		info->used_bytes =
		    volume->total_bytes - MIN(volume->free_bytes, volume->total_bytes);
		info->has_total_bytes = TRUE;
		info->total_bytes = volume->total_bytes;
	}
	if (info->disk == NULL)
		info->disk = qa_guest_disk_address_list_new();
	for (guint i = 0; i < volume->disks->len; i++)
		g_ptr_array_add(info->disk,
				qa_win_disk_to_wire(g_ptr_array_index(volume->disks, i)));
	if (agent->freezer != NULL) {
		info->has_frozen = TRUE;
		info->frozen = qa_freezer_is_volume_frozen(agent->freezer, mountpoint);
	}
	return info;
}

gboolean
qa_cmd_guest_get_fsinfo(QaAgent *agent, GPtrArray **out_ret, GError **error)
{
	g_autoptr(GPtrArray) volumes = qa_win_volumes_load(TRUE, error);
	g_autoptr(GPtrArray) infos = qa_guest_filesystem_info_list_new();

	if (volumes == NULL)
		return FALSE;
	for (guint i = 0; i < volumes->len; i++) {
		const QaWinVolume *volume = g_ptr_array_index(volumes, i);

		if (volume->paths->len == 0) {
			g_ptr_array_add(infos,
					qa_win_fsinfo_entry(agent, volume, QA_FSINFO_NO_MOUNT));
			continue;
		}
		for (guint j = 0; j < volume->paths->len; j++)
			g_ptr_array_add(infos,
					qa_win_fsinfo_entry(
					    agent, volume, g_ptr_array_index(volume->paths, j)));
	}
	*out_ret = g_steal_pointer(&infos);
	return TRUE;
}

gboolean
qa_cmd_guest_get_disks(QaAgent *agent, GPtrArray **out_ret, GError **error)
{
	g_autoptr(GPtrArray) disks = qa_win_disks_load(error);
	GPtrArray *infos;

	if (disks == NULL)
		return FALSE;
	infos = g_ptr_array_new_with_free_func((GDestroyNotify)qa_guest_disk_info_free);
	for (guint i = 0; i < disks->len; i++) {
		const QaWinDisk *disk = g_ptr_array_index(disks, i);
		QaGuestDiskInfo *info = qa_guest_disk_info_new();

		info->name = g_strdup(disk->dev);
		info->partition = FALSE;
		info->address = qa_win_disk_to_wire(disk);
		g_ptr_array_add(infos, info);
	}
	*out_ret = infos;
	return TRUE;
}

gboolean
qa_cmd_guest_fstrim(QaAgent *agent,
		    const QaGuestFstrimArgs *args,
		    QaGuestFilesystemTrimResponse **out_ret,
		    GError **error)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "guest-fstrim is not supported by quiesce-agent on Windows; Windows trims "
		    "volumes itself (Optimize Drives).");
	return FALSE;
}

/* VSS freezes volumes: guest-fsfreeze-freeze-list and -thaw name them by mountpoint only */
gboolean
qa_fsfreeze_disks_from_wire(GPtrArray *wire, GPtrArray **out_disks, GError **error)
{
	*out_disks = NULL;
	return qa_freezer_check_no_disks(wire, error);
}
