#include "fsfreeze-disks.h"

#include "disk-select.h"
#include "qa-schema.h"

/* a number no disk has, for one outside what a disk address can hold */
static gint
qa_fsfreeze_disks_int(gint64 value)
{
	return (gint)CLAMP(value, (gint64)G_MININT, (gint64)G_MAXINT);
}

static QaDiskSelector *
qa_fsfreeze_disk_from_wire(const QaGuestFsfreezeDisk *wire)
{
	QaDiskSelector *selector = qa_disk_selector_new();

	selector->serial = g_strdup(wire->serial);
	selector->dev = g_strdup(wire->dev);
	if (wire->pci_controller != NULL) {
		selector->has_pci = TRUE;
		selector->pci.domain = qa_fsfreeze_disks_int(wire->pci_controller->domain);
		selector->pci.bus = qa_fsfreeze_disks_int(wire->pci_controller->bus);
		selector->pci.slot = qa_fsfreeze_disks_int(wire->pci_controller->slot);
		selector->pci.function = qa_fsfreeze_disks_int(wire->pci_controller->function);
	}
	if (wire->has_bus_type)
		selector->bus_type = g_strdup(qa_guest_disk_bus_type_to_string(wire->bus_type));
	selector->has_bus = wire->has_bus;
	selector->bus = qa_fsfreeze_disks_int(wire->bus);
	selector->has_target = wire->has_target;
	selector->target = qa_fsfreeze_disks_int(wire->target);
	selector->has_unit = wire->has_unit;
	selector->unit = qa_fsfreeze_disks_int(wire->unit);
	selector->has_ccw = wire->ccw_address != NULL;
	return selector;
}

gboolean
qa_fsfreeze_disks_from_wire(GPtrArray *wire, GPtrArray **out_disks, GError **error)
{
	GPtrArray *disks;

	if (wire == NULL) {
		*out_disks = NULL;
		return TRUE;
	}
	disks = g_ptr_array_new_with_free_func((GDestroyNotify)qa_disk_selector_free);
	for (guint i = 0; i < wire->len; i++)
		g_ptr_array_add(disks, qa_fsfreeze_disk_from_wire(g_ptr_array_index(wire, i)));
	*out_disks = disks;
	return TRUE;
}
