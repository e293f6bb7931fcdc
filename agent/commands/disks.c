/* guest-get-disks: every block device the guest sees (see qa_blockdev_model_list() for which
 * placeholders are skipped), by device node, with what it is built on and, for physical
 * disks, where it is attached. Reads only sysfs (and udev for serials), so it is answered while
 * filesystems are frozen. */
#include "agent.h"
#include "blockdev.h"
#include "disk-address.h"
#include "qa-schema.h"

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
	return info;
}

gboolean
qa_cmd_guest_get_disks(QaAgent *agent, GPtrArray **out_ret, GError **error)
{
	g_autoptr(QaBlockdevModel) model = qa_blockdev_model_new(agent->roots, NULL);
	g_autoptr(GPtrArray) devices = NULL;
	g_autoptr(GPtrArray) infos = qa_guest_disk_info_list_new();

	qa_blockdev_model_set_serial_cache(model, agent->serials);
	devices = qa_blockdev_model_list(model);

	for (guint i = 0; i < devices->len; i++)
		g_ptr_array_add(
		    infos, qa_disks_info_new(model, agent->roots, g_ptr_array_index(devices, i)));
	*out_ret = g_steal_pointer(&infos);
	return TRUE;
}
