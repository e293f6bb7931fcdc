#include "disk-address.h"

static QaGuestDiskBusType
qa_disk_address_bus_to_wire(QaBlockdevBus bus)
{
	switch (bus) {
	case QA_BLOCKDEV_BUS_VIRTIO:
		return QA_GUEST_DISK_BUS_TYPE_VIRTIO;
	case QA_BLOCKDEV_BUS_SCSI:
		return QA_GUEST_DISK_BUS_TYPE_SCSI;
	case QA_BLOCKDEV_BUS_SATA:
		return QA_GUEST_DISK_BUS_TYPE_SATA;
	case QA_BLOCKDEV_BUS_IDE:
		return QA_GUEST_DISK_BUS_TYPE_IDE;
	case QA_BLOCKDEV_BUS_NVME:
		return QA_GUEST_DISK_BUS_TYPE_NVME;
	case QA_BLOCKDEV_BUS_USB:
		return QA_GUEST_DISK_BUS_TYPE_USB;
	case QA_BLOCKDEV_BUS_XEN:
		return QA_GUEST_DISK_BUS_TYPE_XEN;
	case QA_BLOCKDEV_BUS_MMC:
		return QA_GUEST_DISK_BUS_TYPE_MMC;
	case QA_BLOCKDEV_BUS_UNKNOWN:
	default:
		return QA_GUEST_DISK_BUS_TYPE_UNKNOWN;
	}
}

/* every member libvirt requires is always set: bus, target, unit and all four PCI numbers (-1
 * when unknown); one missing member makes libvirt reject the whole reply */
QaGuestDiskAddress *
qa_disk_address_to_wire(const QaDiskAddress *address)
{
	QaGuestDiskAddress *wire = qa_guest_disk_address_new();

	wire->pci_controller = qa_guest_pci_address_new();
	wire->pci_controller->domain = address->pci.domain;
	wire->pci_controller->bus = address->pci.bus;
	wire->pci_controller->slot = address->pci.slot;
	wire->pci_controller->function = address->pci.function;
	wire->bus_type = qa_disk_address_bus_to_wire(address->bus_type);
	wire->bus = address->bus;
	wire->target = address->target;
	wire->unit = address->unit;
	wire->serial = g_strdup(address->serial);
	wire->dev = g_strdup(address->dev);
	return wire;
}

GPtrArray *
qa_disk_address_list_to_wire(GPtrArray *addresses)
{
	GPtrArray *wire = qa_guest_disk_address_list_new();

	for (guint i = 0; addresses != NULL && i < addresses->len; i++)
		g_ptr_array_add(wire, qa_disk_address_to_wire(g_ptr_array_index(addresses, i)));
	return wire;
}
