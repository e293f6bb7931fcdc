/* guest-get-disks: every block device the guest sees (see qa_blockdev_model_list() for which
 * placeholders are skipped), by device node, with what it is built on and, for physical
 * disks, where it is attached and, for NVMe disks, the health their controller reports. Reads
 * sysfs (and udev for serials) and asks NVMe controllers, never a filesystem, so it is answered
 * while filesystems are frozen. It runs on the system thread (the schema marks it blocking): a
 * controller that does not answer its admin queue holds the SMART log read until the kernel's
 * admin timeout (60 s by default) resets it, and that must not hold up a thaw, a status or an
 * fsinfo. So it has a serial cache of its own, agent->disk_serials. */
#include "agent.h"
#include "blockdev.h"
#include "disk-address.h"
#include "nvme.h"
#include "qa-schema.h"

/* a whole NVMe disk's SMART log page; NULL when the controller does not answer (the agent
 * lacks CAP_SYS_ADMIN, the namespace went away), which leaves the member out as for any
 * other disk */
static QaGuestDiskSmart *
qa_disks_nvme_smart(const gchar *node)
{
	g_autoptr(GError) error = NULL;
	QaGuestDiskSmart *smart;
	QaGuestNVMeSmart *nvme;
	QaNvmeSmart log;

	if (!qa_nvme_smart_read(node, &log, &error)) {
		g_debug("%s", error->message);
		return NULL;
	}
	nvme = qa_guest_nvme_smart_new();
	nvme->critical_warning = log.critical_warning;
	nvme->temperature = log.temperature;
	nvme->available_spare = log.available_spare;
	nvme->available_spare_threshold = log.available_spare_threshold;
	nvme->percentage_used = log.percentage_used;
#define QA_DISKS_COUNTER(member, counter)                                                          \
	nvme->member##_lo = log.counters[QA_NVME_COUNTER_##counter][0];                            \
	nvme->member##_hi = log.counters[QA_NVME_COUNTER_##counter][1]
	QA_DISKS_COUNTER(data_units_read, DATA_UNITS_READ);
	QA_DISKS_COUNTER(data_units_written, DATA_UNITS_WRITTEN);
	QA_DISKS_COUNTER(host_read_commands, HOST_READ_COMMANDS);
	QA_DISKS_COUNTER(host_write_commands, HOST_WRITE_COMMANDS);
	QA_DISKS_COUNTER(controller_busy_time, CONTROLLER_BUSY_TIME);
	QA_DISKS_COUNTER(power_cycles, POWER_CYCLES);
	QA_DISKS_COUNTER(power_on_hours, POWER_ON_HOURS);
	QA_DISKS_COUNTER(unsafe_shutdowns, UNSAFE_SHUTDOWNS);
	QA_DISKS_COUNTER(media_errors, MEDIA_ERRORS);
	QA_DISKS_COUNTER(number_of_error_log_entries, ERROR_LOG_ENTRIES);
#undef QA_DISKS_COUNTER
	smart = qa_guest_disk_smart_new();
	smart->type = QA_GUEST_DISK_BUS_TYPE_NVME;
	smart->u_nvme = nvme;
	return smart;
}

static void
qa_disks_add_dependency(QaGuestDiskInfo *info,
			QaBlockdevModel *model,
			const QaRoots *roots,
			const gchar *name)
{
	const QaBlockdev *dep = qa_blockdev_model_lookup_name(model, name, NULL);

	/* a member that vanished mid-walk is still named, by its kernel name */
	if (dep == NULL)
		g_ptr_array_add(info->dependencies, g_build_filename(roots->dev, name, NULL));
	else
		g_ptr_array_add(info->dependencies, g_strdup(dep->node));
}

static QaGuestDiskInfo *
qa_disks_info_new(QaBlockdevModel *model, const QaRoots *roots, const QaBlockdev *dev)
{
	QaGuestDiskInfo *info = qa_guest_disk_info_new();
	GPtrArray *addresses = qa_blockdev_model_get_address(model, dev);

	info->name = g_strdup(dev->node);
	info->partition = dev->kind == QA_BLOCKDEV_KIND_PARTITION;
	if (info->dependencies == NULL)
		info->dependencies = g_ptr_array_new_with_free_func(g_free);
	if (dev->parent != NULL)
		qa_disks_add_dependency(info, model, roots, dev->parent);
	for (guint i = 0; i < dev->slaves->len; i++)
		qa_disks_add_dependency(info, model, roots, g_ptr_array_index(dev->slaves, i));
	/* a multipath NVMe namespace has one address per controller; the first one stands for
	 * the disk here, guest-get-fsinfo lists them all */
	if (addresses != NULL && addresses->len > 0)
		info->address = qa_disk_address_to_wire(g_ptr_array_index(addresses, 0));
	info->alias = g_strdup(dev->dm_name);
	if (!info->partition && info->address != NULL &&
	    info->address->bus_type == QA_GUEST_DISK_BUS_TYPE_NVME)
		info->smart = qa_disks_nvme_smart(dev->node);
	return info;
}

gboolean
qa_cmd_guest_get_disks(QaAgent *agent, GPtrArray **out_ret, GError **error)
{
	g_autoptr(QaBlockdevModel) model = qa_blockdev_model_new(agent->roots, NULL);
	g_autoptr(GPtrArray) devices = NULL;
	g_autoptr(GPtrArray) infos = qa_guest_disk_info_list_new();

	qa_blockdev_model_set_serial_cache(model, agent->disk_serials);
	devices = qa_blockdev_model_list(model);

	for (guint i = 0; i < devices->len; i++)
		g_ptr_array_add(
		    infos, qa_disks_info_new(model, agent->roots, g_ptr_array_index(devices, i)));
	*out_ret = g_steal_pointer(&infos);
	return TRUE;
}
