#include "volumes-win32.h"

/* <windows.h> first, the others need its types */
/* clang-format off */
#include <windows.h>
#include <cfgmgr32.h>
#include <ntddscsi.h>
#include <setupapi.h>
#include <winioctl.h>
/* clang-format on */

#include "qa-error.h"

/* GUID_DEVINTERFACE_DISK, spelled out: <initguid.h> would define every GUID of the headers */
static const GUID QA_GUID_DEVINTERFACE_DISK = {
    0x53f56307, 0xb6bf, 0x11d0, {0x94, 0xf2, 0x00, 0xa0, 0xc9, 0x1e, 0xfb, 0x8b}};

G_DEFINE_AUTO_CLEANUP_FREE_FUNC(HANDLE, CloseHandle, INVALID_HANDLE_VALUE)

static gchar *
qa_win_utf8(const gunichar2 *text)
{
	return g_utf16_to_utf8(text, -1, NULL, NULL, NULL);
}

static gunichar2 *
qa_win_utf16(const gchar *text)
{
	return g_utf8_to_utf16(text, -1, NULL, NULL, NULL);
}

static gboolean
qa_win_set_error(GError **error, gint code, const gchar *what, const gchar *name)
{
	DWORD saved = GetLastError();
	g_autofree gchar *reason = g_win32_error_message((gint)saved);

	g_set_error(error, QA_SYSTEM_ERROR, code, "%s '%s': %s", what, name, reason);
	return FALSE;
}

void
qa_win_disk_free(QaWinDisk *disk)
{
	if (disk == NULL)
		return;
	g_free(disk->dev);
	g_free(disk->serial);
	g_free(disk);
}

void
qa_win_volume_free(QaWinVolume *volume)
{
	if (volume == NULL)
		return;
	g_free(volume->guid_path);
	g_ptr_array_unref(volume->paths);
	g_free(volume->fstype);
	g_ptr_array_unref(volume->disks);
	g_free(volume);
}

const gchar *
qa_win_bus_to_string(QaWinBus bus)
{
	static const gchar *const names[] = {
	    [QA_WIN_BUS_UNKNOWN] = "unknown",
	    [QA_WIN_BUS_SCSI] = "scsi",
	    [QA_WIN_BUS_ATAPI] = "ide",
	    [QA_WIN_BUS_ATA] = "ide",
	    [QA_WIN_BUS_IEEE1394] = "ieee1394",
	    [QA_WIN_BUS_SSA] = "ssa",
	    [QA_WIN_BUS_FIBRE] = "fibre",
	    [QA_WIN_BUS_USB] = "usb",
	    [QA_WIN_BUS_RAID] = "raid",
	    [QA_WIN_BUS_ISCSI] = "iscsi",
	    [QA_WIN_BUS_SAS] = "sas",
	    [QA_WIN_BUS_SATA] = "sata",
	    [QA_WIN_BUS_SD] = "sd",
	    [QA_WIN_BUS_MMC] = "mmc",
	    [QA_WIN_BUS_VIRTUAL] = "virtual",
	    [QA_WIN_BUS_FILE_BACKED_VIRTUAL] = "file-backed-virtual",
	    [QA_WIN_BUS_NVME] = "nvme",
	};
	return (guint)bus < G_N_ELEMENTS(names) ? names[bus] : "unknown";
}

/* STORAGE_BUS_TYPE -> ours; BusTypeSpaces (16) and anything newer are unknown */
static QaWinBus
qa_win_bus_from_storage(STORAGE_BUS_TYPE type)
{
	if ((gint)type >= 0 && (gint)type <= (gint)QA_WIN_BUS_FILE_BACKED_VIRTUAL)
		return (QaWinBus)type;
	if ((gint)type == 17)
		return QA_WIN_BUS_NVME;
	return QA_WIN_BUS_UNKNOWN;
}

/* --- one disk ------------------------------------------------------------------------------- */

/* bus type and serial (IOCTL_STORAGE_QUERY_PROPERTY, StorageDeviceProperty) */
static void
qa_win_disk_query_property(HANDLE handle, QaWinDisk *disk)
{
	STORAGE_PROPERTY_QUERY query = {.PropertyId = StorageDeviceProperty,
					.QueryType = PropertyStandardQuery};
	STORAGE_DESCRIPTOR_HEADER header = {0};
	g_autofree STORAGE_DEVICE_DESCRIPTOR *desc = NULL;
	DWORD got = 0;

	if (!DeviceIoControl(handle,
			     IOCTL_STORAGE_QUERY_PROPERTY,
			     &query,
			     sizeof(query),
			     &header,
			     sizeof(header),
			     &got,
			     NULL) ||
	    header.Size < sizeof(STORAGE_DEVICE_DESCRIPTOR) || header.Size > 64 * 1024) {
		g_debug("no storage property for dev=%s, bus unknown", disk->dev);
		return;
	}
	desc = g_malloc0(header.Size);
	if (!DeviceIoControl(handle,
			     IOCTL_STORAGE_QUERY_PROPERTY,
			     &query,
			     sizeof(query),
			     desc,
			     header.Size,
			     &got,
			     NULL) ||
	    got < sizeof(STORAGE_DEVICE_DESCRIPTOR))
		return;
	disk->bus = qa_win_bus_from_storage(desc->BusType);
	/* the serial is a NUL-terminated string inside what was returned, or absent */
	if (desc->SerialNumberOffset > 0 && desc->SerialNumberOffset < got) {
		const gchar *serial = (const gchar *)desc + desc->SerialNumberOffset;
		gsize len = strnlen(serial, got - desc->SerialNumberOffset);
		g_autofree gchar *text = g_strstrip(g_strndup(serial, len));

		if (text[0] != '\0' && g_utf8_validate(text, -1, NULL))
			disk->serial = g_steal_pointer(&text);
	}
}

static void
qa_win_disk_query_scsi(HANDLE handle, QaWinDisk *disk)
{
	SCSI_ADDRESS addr = {0};
	DWORD got = 0;

	/* answered by SCSI, IDE, RAID and SAS miniports alike (and virtio-scsi, vioscsi) */
	if (!DeviceIoControl(
		handle, IOCTL_SCSI_GET_ADDRESS, NULL, 0, &addr, sizeof(addr), &got, NULL)) {
		g_debug("no SCSI address for dev=%s", disk->dev);
		return;
	}
	disk->scsi_bus = addr.PathId;
	disk->scsi_target = addr.TargetId;
	disk->scsi_lun = addr.Lun;
}

static gboolean
qa_win_devinst_get_pci(DEVINST inst, QaWinDisk *disk)
{
	ULONG bus = 0, addr = 0;
	ULONG len = sizeof(bus);
	ULONG type = 0;

	if (CM_Get_DevNode_Registry_PropertyW(inst, CM_DRP_BUSNUMBER, &type, &bus, &len, 0) !=
	    CR_SUCCESS)
		return FALSE;
	len = sizeof(addr);
	if (CM_Get_DevNode_Registry_PropertyW(inst, CM_DRP_ADDRESS, &type, &addr, &len, 0) !=
	    CR_SUCCESS)
		return FALSE;
	/* for PCI, the address is (device << 16) | function */
	disk->pci_domain = 0;
	disk->pci_bus = (gint)bus;
	disk->pci_slot = (gint)((addr >> 16) & 0xffff);
	disk->pci_function = (gint)(addr & 0xffff);
	return TRUE;
}

/* The disk's storage controller: walk up the device tree from the disk's device node to the
 * first ancestor whose enumerator is PCI, and read its bus number and address. */
static void
qa_win_disk_query_pci(HDEVINFO set, SP_DEVINFO_DATA *info, QaWinDisk *disk)
{
	DEVINST inst = info->DevInst;

	for (guint depth = 0; depth < 8; depth++) {
		DEVINST parent;
		WCHAR id[512];

		if (CM_Get_Parent(&parent, inst, 0) != CR_SUCCESS)
			return;
		inst = parent;
		if (CM_Get_Device_IDW(inst, id, G_N_ELEMENTS(id), 0) != CR_SUCCESS)
			return;
		if (wcsncmp(id, L"PCI\\", 4) == 0) {
			if (!qa_win_devinst_get_pci(inst, disk))
				g_debug("no PCI address for the controller of dev=%s", disk->dev);
			return;
		}
	}
}

static QaWinDisk *
qa_win_disk_new(guint number)
{
	QaWinDisk *disk = g_new0(QaWinDisk, 1);

	disk->number = number;
	disk->dev = g_strdup_printf("\\\\.\\PhysicalDrive%u", number);
	disk->bus = QA_WIN_BUS_UNKNOWN;
	disk->pci_domain = disk->pci_bus = disk->pci_slot = disk->pci_function = -1;
	disk->scsi_bus = disk->scsi_target = disk->scsi_lun = -1;
	return disk;
}

/* the device node of disk @number in the disk interface set, for the PCI walk */
static gboolean
qa_win_disk_find_devinfo(HDEVINFO set, guint number, SP_DEVINFO_DATA *out_info)
{
	SP_DEVICE_INTERFACE_DATA iface = {.cbSize = sizeof(iface)};

	for (DWORD i = 0;
	     SetupDiEnumDeviceInterfaces(set, NULL, &QA_GUID_DEVINTERFACE_DISK, i, &iface);
	     i++) {
		g_autofree SP_DEVICE_INTERFACE_DETAIL_DATA_W *detail = NULL;
		SP_DEVINFO_DATA info = {.cbSize = sizeof(info)};
		STORAGE_DEVICE_NUMBER sdn = {0};
		DWORD size = 0;
		DWORD got = 0;
		g_auto(HANDLE) handle = INVALID_HANDLE_VALUE;

		SetupDiGetDeviceInterfaceDetailW(set, &iface, NULL, 0, &size, NULL);
		if (size == 0 || size > 64 * 1024)
			continue;
		detail = g_malloc0(size);
		detail->cbSize = sizeof(*detail);
		if (!SetupDiGetDeviceInterfaceDetailW(set, &iface, detail, size, NULL, &info))
			continue;
		handle = CreateFileW(detail->DevicePath,
				     0,
				     FILE_SHARE_READ | FILE_SHARE_WRITE,
				     NULL,
				     OPEN_EXISTING,
				     0,
				     NULL);
		if (handle == INVALID_HANDLE_VALUE ||
		    !DeviceIoControl(handle,
				     IOCTL_STORAGE_GET_DEVICE_NUMBER,
				     NULL,
				     0,
				     &sdn,
				     sizeof(sdn),
				     &got,
				     NULL))
			continue;
		if (sdn.DeviceNumber == number) {
			*out_info = info;
			return TRUE;
		}
	}
	return FALSE;
}

/* everything the storage stack says about disk @number; what it cannot say stays unknown */
static QaWinDisk *
qa_win_disk_load(guint number)
{
	QaWinDisk *disk = qa_win_disk_new(number);
	g_autofree gunichar2 *dev_w = qa_win_utf16(disk->dev);
	g_auto(HANDLE) handle =
	    CreateFileW(dev_w, 0, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, OPEN_EXISTING, 0, NULL);
	HDEVINFO set;
	SP_DEVINFO_DATA info = {.cbSize = sizeof(info)};

	if (handle == INVALID_HANDLE_VALUE) {
		g_debug("cannot open dev=%s, reporting it unknown", disk->dev);
		return disk;
	}
	qa_win_disk_query_property(handle, disk);
	qa_win_disk_query_scsi(handle, disk);
	set = SetupDiGetClassDevsW(
	    &QA_GUID_DEVINTERFACE_DISK, NULL, NULL, DIGCF_PRESENT | DIGCF_DEVICEINTERFACE);
	if (set != INVALID_HANDLE_VALUE) {
		if (qa_win_disk_find_devinfo(set, number, &info))
			qa_win_disk_query_pci(set, &info, disk);
		SetupDiDestroyDeviceInfoList(set);
	}
	return disk;
}

GPtrArray *
qa_win_disks_load(GError **error)
{
	GPtrArray *disks = g_ptr_array_new_with_free_func((GDestroyNotify)qa_win_disk_free);
	HDEVINFO set = SetupDiGetClassDevsW(
	    &QA_GUID_DEVINTERFACE_DISK, NULL, NULL, DIGCF_PRESENT | DIGCF_DEVICEINTERFACE);
	SP_DEVICE_INTERFACE_DATA iface = {.cbSize = sizeof(iface)};

	/* no device tree (wine has none for its drives): no disks, not an error */
	if (set == INVALID_HANDLE_VALUE)
		return disks;
	for (DWORD i = 0;
	     SetupDiEnumDeviceInterfaces(set, NULL, &QA_GUID_DEVINTERFACE_DISK, i, &iface);
	     i++) {
		g_autofree SP_DEVICE_INTERFACE_DETAIL_DATA_W *detail = NULL;
		STORAGE_DEVICE_NUMBER sdn = {0};
		DWORD size = 0;
		DWORD got = 0;
		g_auto(HANDLE) handle = INVALID_HANDLE_VALUE;

		SetupDiGetDeviceInterfaceDetailW(set, &iface, NULL, 0, &size, NULL);
		if (size == 0 || size > 64 * 1024)
			continue;
		detail = g_malloc0(size);
		detail->cbSize = sizeof(*detail);
		if (!SetupDiGetDeviceInterfaceDetailW(set, &iface, detail, size, NULL, NULL))
			continue;
		handle = CreateFileW(detail->DevicePath,
				     0,
				     FILE_SHARE_READ | FILE_SHARE_WRITE,
				     NULL,
				     OPEN_EXISTING,
				     0,
				     NULL);
		if (handle == INVALID_HANDLE_VALUE ||
		    !DeviceIoControl(handle,
				     IOCTL_STORAGE_GET_DEVICE_NUMBER,
				     NULL,
				     0,
				     &sdn,
				     sizeof(sdn),
				     &got,
				     NULL)) {
			g_debug("skipping a disk interface without a device number");
			continue;
		}
		g_ptr_array_add(disks, qa_win_disk_load(sdn.DeviceNumber));
	}
	SetupDiDestroyDeviceInfoList(set);
	return disks;
}

/* --- volumes -------------------------------------------------------------------------------- */

/* the disks under a volume: one per disk extent; a volume that is not on a disk (a CD, a
 * network or wine drive) is its own "disk" with an unknown bus, as QEMU's agent reports it */
static GPtrArray *
qa_win_volume_load_disks(const gchar *guid_path)
{
	GPtrArray *disks = g_ptr_array_new_with_free_func((GDestroyNotify)qa_win_disk_free);
	g_autofree gchar *name = g_strdup(guid_path);
	g_autofree gunichar2 *name_w = NULL;
	g_auto(HANDLE) handle = INVALID_HANDLE_VALUE;
	g_autofree VOLUME_DISK_EXTENTS *extents = NULL;
	DWORD size = sizeof(VOLUME_DISK_EXTENTS) + 31 * sizeof(DISK_EXTENT);
	DWORD got = 0;

	/* the volume device is the GUID path without its final backslash */
	if (g_str_has_suffix(name, "\\"))
		name[strlen(name) - 1] = '\0';
	name_w = qa_win_utf16(name);
	handle = CreateFileW(
	    name_w, 0, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, OPEN_EXISTING, 0, NULL);
	extents = g_malloc0(size);
	if (handle == INVALID_HANDLE_VALUE ||
	    !DeviceIoControl(
		handle, IOCTL_VOLUME_GET_VOLUME_DISK_EXTENTS, NULL, 0, extents, size, &got, NULL) ||
	    extents->NumberOfDiskExtents == 0) {
		QaWinDisk *disk = qa_win_disk_new(0);

		g_free(disk->dev);
		disk->dev = g_strdup(name);
		if (handle != INVALID_HANDLE_VALUE) {
			qa_win_disk_query_property(handle, disk);
			qa_win_disk_query_scsi(handle, disk);
		}
		g_ptr_array_add(disks, disk);
		return disks;
	}
	for (DWORD i = 0; i < extents->NumberOfDiskExtents && i < 32; i++)
		g_ptr_array_add(disks, qa_win_disk_load(extents->Extents[i].DiskNumber));
	return disks;
}

static GPtrArray *
qa_win_volume_load_paths(const gunichar2 *guid_w)
{
	GPtrArray *paths = g_ptr_array_new_with_free_func(g_free);
	DWORD len = 0;
	g_autofree gunichar2 *names = NULL;

	GetVolumePathNamesForVolumeNameW(guid_w, NULL, 0, &len);
	if (len == 0 || len > 1024 * 1024)
		return paths;
	names = g_new0(gunichar2, len + 1);
	if (!GetVolumePathNamesForVolumeNameW(guid_w, names, len, &len))
		return paths;
	/* a list of NUL-terminated strings ended by an empty one */
	for (const gunichar2 *p = names; *p != 0; p += wcslen(p) + 1)
		g_ptr_array_add(paths, qa_win_utf8(p));
	return paths;
}

static QaWinVolume *
qa_win_volume_load(const gunichar2 *guid_w, gboolean with_disks)
{
	QaWinVolume *volume = g_new0(QaWinVolume, 1);
	WCHAR fstype[MAX_PATH + 1] = {0};
	ULARGE_INTEGER avail, total, free_bytes;

	volume->guid_path = qa_win_utf8(guid_w);
	volume->paths = qa_win_volume_load_paths(guid_w);
	volume->drive_type = GetDriveTypeW(guid_w);
	if (GetVolumeInformationW(guid_w, NULL, 0, NULL, NULL, NULL, fstype, G_N_ELEMENTS(fstype)))
		volume->fstype = qa_win_utf8(fstype);
	if (GetDiskFreeSpaceExW(guid_w, &avail, &total, &free_bytes)) {
		volume->has_size = TRUE;
		volume->total_bytes = total.QuadPart;
		volume->free_bytes = free_bytes.QuadPart;
	} else if (volume->paths->len > 0) {
		/* some volumes answer only through a mount path */
		g_autofree gunichar2 *path_w = qa_win_utf16(g_ptr_array_index(volume->paths, 0));
		if (GetDiskFreeSpaceExW(path_w, &avail, &total, &free_bytes)) {
			volume->has_size = TRUE;
			volume->total_bytes = total.QuadPart;
			volume->free_bytes = free_bytes.QuadPart;
		}
	}
	/* some systems (wine) answer the drive type only for a mount path */
	if (volume->drive_type <= DRIVE_NO_ROOT_DIR && volume->paths->len > 0) {
		g_autofree gunichar2 *path_w = qa_win_utf16(g_ptr_array_index(volume->paths, 0));
		volume->drive_type = GetDriveTypeW(path_w);
	}
	if (with_disks)
		volume->disks = qa_win_volume_load_disks(volume->guid_path);
	else
		volume->disks = g_ptr_array_new_with_free_func((GDestroyNotify)qa_win_disk_free);
	return volume;
}

GPtrArray *
qa_win_volumes_load(gboolean with_disks, GError **error)
{
	GPtrArray *volumes = g_ptr_array_new_with_free_func((GDestroyNotify)qa_win_volume_free);
	WCHAR guid_w[MAX_PATH + 1];
	HANDLE find = FindFirstVolumeW(guid_w, G_N_ELEMENTS(guid_w));

	if (find == INVALID_HANDLE_VALUE) {
		if (GetLastError() == ERROR_NO_MORE_FILES)
			return volumes;
		g_ptr_array_unref(volumes);
		qa_win_set_error(error, QA_SYSTEM_ERROR_FAILED, "cannot list the volumes", "");
		return NULL;
	}
	do {
		g_ptr_array_add(volumes, qa_win_volume_load(guid_w, with_disks));
	} while (FindNextVolumeW(find, guid_w, G_N_ELEMENTS(guid_w)));
	FindVolumeClose(find);
	return volumes;
}

gchar *
qa_win_volumes_resolve(const gchar *path, GError **error)
{
	g_autofree gchar *normal = NULL;
	g_autofree gunichar2 *normal_w = NULL;
	WCHAR guid_w[MAX_PATH + 1];

	if (path == NULL || path[0] == '\0') {
		g_set_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_NOT_FOUND, "an empty path");
		return NULL;
	}
	normal = g_strdelimit(g_strdup(path), "/", '\\');
	if (!g_str_has_suffix(normal, "\\")) {
		gchar *with = g_strconcat(normal, "\\", NULL);
		g_free(normal);
		normal = with;
	}
	if (g_ascii_isalpha(normal[0]) && normal[1] == ':')
		normal[0] = g_ascii_toupper(normal[0]);
	normal_w = qa_win_utf16(normal);
	if (!GetVolumeNameForVolumeMountPointW(normal_w, guid_w, G_N_ELEMENTS(guid_w))) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_NOT_FOUND,
			    "'%s' is not the mount path of a volume (expected a drive like 'C:\\' "
			    "or a mounted folder)",
			    path);
		return NULL;
	}
	return g_steal_pointer(&normal);
}

gchar *
qa_win_volumes_get_guid_path(const gchar *mountpath, GError **error)
{
	g_autofree gunichar2 *path_w = qa_win_utf16(mountpath);
	WCHAR guid_w[MAX_PATH + 1];

	if (!GetVolumeNameForVolumeMountPointW(path_w, guid_w, G_N_ELEMENTS(guid_w))) {
		qa_win_set_error(
		    error, QA_SYSTEM_ERROR_NOT_FOUND, "cannot find the volume of", mountpath);
		return NULL;
	}
	return qa_win_utf8(guid_w);
}
