/* guest-get-devices (Windows only, as in QEMU's agent): the present PCI devices of the virtio
 * and QEMU vendors with their driver's name, version and date, what oVirt shows as the guest's
 * driver list. SetupAPI and the device properties are behind QaWinOps (wine has neither the
 * devices nor the driver store); the choice of devices and the reply are here. Runs on the
 * main loop: the device tree is in memory. */
#include "agent.h"
#include "identity-win32.h"
#include "qa-error.h"
#include "qa-schema.h"
#include "system-win32.h"

static QaGuestDeviceInfo *
qa_win_devices_info_new(QaWinDevice *device)
{
	QaGuestDeviceInfo *info = NULL;
	guint vendor = 0;
	guint id = 0;

	/* as QEMU's agent: a device without a driver version or date is left out */
	if (!qa_win_device_parse_pci_id(device->hardware_id, &vendor, &id) ||
	    device->driver_version == NULL || device->driver_date < 0)
		return NULL;
	info = qa_guest_device_info_new();
	info->driver_name = g_steal_pointer(&device->driver_name);
	info->driver_version = g_steal_pointer(&device->driver_version);
	info->has_driver_date = TRUE;
	info->driver_date = qa_win_filetime_to_ns(device->driver_date);
	info->id = qa_guest_device_id_new();
	info->id->type = QA_GUEST_DEVICE_TYPE_PCI;
	info->id->u_pci = qa_guest_device_id_pci_new();
	info->id->u_pci->vendor_id = vendor;
	info->id->u_pci->device_id = id;
	return info;
}

gboolean
qa_cmd_guest_get_devices(QaAgent *agent, GPtrArray **out_ret, GError **error)
{
	g_autoptr(GPtrArray) devices = agent->win_ops->list_pci_devices(error);
	g_autoptr(GPtrArray) ret = NULL;

	if (devices == NULL)
		return FALSE;
	ret = qa_guest_device_info_list_new();
	for (guint i = 0; i < devices->len; i++) {
		QaGuestDeviceInfo *info = qa_win_devices_info_new(g_ptr_array_index(devices, i));

		if (info != NULL)
			g_ptr_array_add(ret, info);
	}
	*out_ret = g_steal_pointer(&ret);
	return TRUE;
}
