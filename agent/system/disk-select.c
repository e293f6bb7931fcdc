#include "disk-select.h"

#include <sys/sysmacros.h>

#include "qa-error.h"

QaDiskSelector *
qa_disk_selector_new(void)
{
	QaDiskSelector *selector = g_new0(QaDiskSelector, 1);

	selector->pci.domain = -1;
	selector->pci.bus = -1;
	selector->pci.slot = -1;
	selector->pci.function = -1;
	return selector;
}

QaDiskSelector *
qa_disk_selector_copy(const QaDiskSelector *selector)
{
	QaDiskSelector *copy = g_new0(QaDiskSelector, 1);

	*copy = *selector;
	copy->serial = g_strdup(selector->serial);
	copy->dev = g_strdup(selector->dev);
	copy->bus_type = g_strdup(selector->bus_type);
	if (selector->dev_disks != NULL)
		copy->dev_disks = g_array_copy(selector->dev_disks);
	return copy;
}

void
qa_disk_selector_free(QaDiskSelector *selector)
{
	if (selector == NULL)
		return;
	g_free(selector->serial);
	g_free(selector->dev);
	g_free(selector->bus_type);
	if (selector->dev_disks != NULL)
		g_array_unref(selector->dev_disks);
	g_free(selector);
}

gchar *
qa_disk_selector_to_string(const QaDiskSelector *selector)
{
	g_autoptr(GString) str = g_string_new(NULL);

	if (selector->serial != NULL)
		g_string_append_printf(str, " serial=%s", selector->serial);
	if (selector->dev != NULL)
		g_string_append_printf(str, " dev=%s", selector->dev);
	if (selector->bus_type != NULL)
		g_string_append_printf(str, " bus-type=%s", selector->bus_type);
	if (selector->has_pci && selector->pci.domain < 0)
		g_string_append_printf(str,
				       " pci=%d:%d:%d.%d",
				       selector->pci.domain,
				       selector->pci.bus,
				       selector->pci.slot,
				       selector->pci.function);
	else if (selector->has_pci)
		g_string_append_printf(str,
				       " pci=%04x:%02x:%02x.%x",
				       (guint)selector->pci.domain,
				       (guint)selector->pci.bus,
				       (guint)selector->pci.slot,
				       (guint)selector->pci.function);
	if (selector->has_bus)
		g_string_append_printf(str, " bus=%d", selector->bus);
	if (selector->has_target)
		g_string_append_printf(str, " target=%d", selector->target);
	if (selector->has_unit)
		g_string_append_printf(str, " unit=%d", selector->unit);
	if (selector->has_ccw)
		g_string_append(str, " ccw-address");
	if (str->len == 0)
		return g_strdup("{}");
	return g_strdup(str->str + 1);
}

static gboolean
qa_disk_select_is_dev_only(const QaDiskSelector *selector)
{
	return selector->dev != NULL && selector->serial == NULL && !selector->has_pci &&
	       selector->bus_type == NULL && !selector->has_bus && !selector->has_target &&
	       !selector->has_unit && !selector->has_ccw;
}

static gboolean
qa_disk_select_is_pci_known(const QaPciAddress *pci)
{
	return pci->domain >= 0 || pci->bus >= 0 || pci->slot >= 0 || pci->function >= 0;
}

gboolean
qa_disk_select_check(const QaDiskSelector *selector, GError **error)
{
	g_autofree gchar *text = qa_disk_selector_to_string(selector);

	if ((selector->serial != NULL && selector->serial[0] == '\0') ||
	    (selector->dev != NULL && selector->dev[0] == '\0')) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_INVALID,
			    "The disk {%s} has an empty serial or dev, which names no disk; leave "
			    "out what is unknown.",
			    text);
		return FALSE;
	}
	if (selector->serial != NULL || selector->dev != NULL || selector->has_ccw ||
	    (selector->has_pci && qa_disk_select_is_pci_known(&selector->pci)))
		return TRUE;
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_INVALID,
		    "The disk {%s} does not tell disks apart; expected at least a serial, a dev or "
		    "a pci-controller, as guest-get-fsinfo and guest-get-disks report them.",
		    text);
	return FALSE;
}

static gboolean
qa_disk_select_has_devnum(GArray *devnums, guint64 devnum)
{
	for (guint i = 0; devnums != NULL && i < devnums->len; i++) {
		if ((guint64)g_array_index(devnums, dev_t, i) == devnum)
			return TRUE;
	}
	return FALSE;
}

gboolean
qa_disk_select_matches_disk(const QaDiskSelector *selector, const QaDiskAddress *disk)
{
	const QaPciAddress *pci = &selector->pci;
	guint64 devnum = makedev(disk->major, disk->minor);

	if (qa_disk_select_is_dev_only(selector))
		return qa_disk_select_has_devnum(selector->dev_disks, devnum);
	/* this agent resolves no channel I/O address: such a selector names no disk here */
	if (selector->has_ccw)
		return FALSE;
	if (selector->serial != NULL && g_strcmp0(selector->serial, disk->serial) != 0)
		return FALSE;
	if (selector->has_pci &&
	    (pci->domain != disk->pci.domain || pci->bus != disk->pci.bus ||
	     pci->slot != disk->pci.slot || pci->function != disk->pci.function))
		return FALSE;
	if (selector->bus_type != NULL &&
	    g_strcmp0(selector->bus_type, qa_blockdev_bus_to_string(disk->bus_type)) != 0)
		return FALSE;
	if ((selector->has_bus && selector->bus != disk->bus) ||
	    (selector->has_target && selector->target != disk->target) ||
	    (selector->has_unit && selector->unit != disk->unit))
		return FALSE;
	/* with an address, dev may be a partition's node: it names the disk of that partition */
	if (selector->dev != NULL &&
	    (selector->dev_disk_devnum == 0 || selector->dev_disk_devnum != devnum))
		return FALSE;
	return TRUE;
}

static void
qa_disk_select_add_disk(GPtrArray *disks, const QaDiskAddress *disk)
{
	for (guint i = 0; i < disks->len; i++) {
		const QaDiskAddress *seen = g_ptr_array_index(disks, i);
		if (seen->major == disk->major && seen->minor == disk->minor)
			return;
	}
	g_ptr_array_add(disks, qa_disk_address_copy(disk));
}

gboolean
qa_disk_select_matches_storage(const QaDiskSelector *selector,
			       const QaBlockdevStorage *storage,
			       GPtrArray *out_disks)
{
	/* a device is named itself: a partition's disk is not the other partitions' */
	gboolean is_match =
	    qa_disk_select_is_dev_only(selector)
		? selector->dev_devnum != 0 &&
		      qa_disk_select_has_devnum(storage->devices, selector->dev_devnum)
		: FALSE;

	for (guint i = 0; i < storage->disks->len; i++) {
		const QaDiskAddress *disk = g_ptr_array_index(storage->disks, i);
		if (!qa_disk_select_matches_disk(selector, disk))
			continue;
		if (!qa_disk_select_is_dev_only(selector))
			is_match = TRUE;
		if (out_disks != NULL)
			qa_disk_select_add_disk(out_disks, disk);
	}
	return is_match;
}

/* one selector, checked and matched; NULL with an error when it names nothing there is */
static QaDiskSelectMatch *
qa_disk_select_match_one(const QaDiskSelector *selector,
			 const QaDiskSelectStorage *storage,
			 GError **error)
{
	g_autoptr(QaDiskSelectMatch) match = g_new0(QaDiskSelectMatch, 1);
	g_autofree gchar *text = qa_disk_selector_to_string(selector);

	if (!qa_disk_select_check(selector, error))
		return NULL;
	match->selector = selector;
	match->disks = g_ptr_array_new_with_free_func((GDestroyNotify)qa_disk_address_free);
	match->filesystems = g_array_new(FALSE, FALSE, sizeof(guint));
	for (guint i = 0; i < storage->disks->len; i++) {
		const QaDiskAddress *disk = g_ptr_array_index(storage->disks, i);
		if (qa_disk_select_matches_disk(selector, disk))
			qa_disk_select_add_disk(match->disks, disk);
	}
	if (qa_disk_select_is_dev_only(selector)
		? !qa_disk_select_has_devnum(storage->devices, selector->dev_devnum)
		: match->disks->len == 0) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_NOT_FOUND,
			    "The disk {%s} matches no %s of this guest; nothing was done. "
			    "guest-get-disks lists them, guest-get-fsinfo gives each filesystem's.",
			    text,
			    qa_disk_select_is_dev_only(selector) ? "block device" : "disk");
		return NULL;
	}
	for (guint i = 0; i < storage->storages->len; i++) {
		if (qa_disk_select_matches_storage(
			selector, g_ptr_array_index(storage->storages, i), NULL))
			g_array_append_val(match->filesystems, i);
	}
	return g_steal_pointer(&match);
}

GPtrArray *
qa_disk_select_match(GPtrArray *selectors, const QaDiskSelectStorage *storage, GError **error)
{
	g_autoptr(GPtrArray) matches =
	    g_ptr_array_new_with_free_func((GDestroyNotify)qa_disk_select_match_free);

	for (guint i = 0; i < selectors->len; i++) {
		QaDiskSelectMatch *match =
		    qa_disk_select_match_one(g_ptr_array_index(selectors, i), storage, error);
		if (match == NULL)
			return NULL;
		g_ptr_array_add(matches, match);
	}
	return g_steal_pointer(&matches);
}

GPtrArray *
qa_disk_select_others(GPtrArray *selectors, const QaBlockdevStorage *storage)
{
	GPtrArray *others = g_ptr_array_new_with_free_func((GDestroyNotify)qa_disk_address_free);

	for (guint i = 0; i < storage->disks->len; i++) {
		const QaDiskAddress *disk = g_ptr_array_index(storage->disks, i);
		gboolean is_named = FALSE;

		for (guint j = 0; j < selectors->len && !is_named; j++)
			is_named =
			    qa_disk_select_matches_disk(g_ptr_array_index(selectors, j), disk);
		if (!is_named)
			qa_disk_select_add_disk(others, disk);
	}
	return others;
}

void
qa_disk_select_match_free(QaDiskSelectMatch *match)
{
	if (match == NULL)
		return;
	if (match->disks != NULL)
		g_ptr_array_unref(match->disks);
	if (match->filesystems != NULL)
		g_array_unref(match->filesystems);
	g_free(match);
}

void
qa_disk_select_storage_free(QaDiskSelectStorage *storage)
{
	if (storage == NULL)
		return;
	g_ptr_array_unref(storage->storages);
	g_ptr_array_unref(storage->disks);
	g_array_unref(storage->devices);
	g_free(storage);
}

/* reading the system --------------------------------------------------------------------------
 */

/* what @selector's dev names: the device, its disk, and the physical disks below it */
static void
qa_disk_select_resolve_dev(QaBlockdevModel *model, const QaRoots *roots, QaDiskSelector *selector)
{
	const QaBlockdev *dev;
	const QaBlockdev *disk = NULL;
	GPtrArray *below;
	guint major = 0;
	guint minor = 0;

	if (selector->dev_disks == NULL)
		selector->dev_disks = g_array_new(FALSE, FALSE, sizeof(dev_t));
	g_array_set_size(selector->dev_disks, 0);
	selector->dev_devnum = 0;
	selector->dev_disk_devnum = 0;
	if (selector->dev == NULL ||
	    !qa_blockdev_lookup_source(roots, selector->dev, &major, &minor))
		return;
	dev = qa_blockdev_model_lookup(model, major, minor, NULL);
	if (dev == NULL)
		return;
	selector->dev_devnum = makedev(major, minor);
	if (dev->kind == QA_BLOCKDEV_KIND_DISK)
		disk = dev;
	else if (dev->kind == QA_BLOCKDEV_KIND_PARTITION)
		disk = qa_blockdev_model_lookup_name(model, dev->parent, NULL);
	if (disk != NULL && disk->kind == QA_BLOCKDEV_KIND_DISK)
		selector->dev_disk_devnum = makedev(disk->major, disk->minor);
	below = qa_blockdev_model_get_disks(model, major, minor);
	for (guint i = 0; i < below->len; i++) {
		const QaDiskAddress *address = g_ptr_array_index(below, i);
		dev_t devnum = makedev(address->major, address->minor);
		if (!qa_disk_select_has_devnum(selector->dev_disks, devnum))
			g_array_append_val(selector->dev_disks, devnum);
	}
}

/* The whole mount table: the filesystem holding a loop device's file may be outside the
 * filesystems asked about (outside --confine-mounts); NULL, logged, when it cannot be read */
static GPtrArray *
qa_disk_select_load_table(const QaRoots *roots)
{
	g_autoptr(GError) error_local = NULL;
	GPtrArray *mounts = qa_mounts_load(roots, &error_local);

	if (mounts == NULL)
		g_warning("cannot read the mount table, following loop devices only to the "
			  "filesystems asked about: %s",
			  error_local->message);
	return mounts;
}

QaDiskSelectStorage *
qa_disk_select_load(const QaRoots *roots,
		    GPtrArray *filesystems,
		    GPtrArray *selectors,
		    GError **error)
{
	g_autoptr(GPtrArray) mounts = qa_filesystems_to_mounts(filesystems);
	g_autoptr(GPtrArray) table = qa_disk_select_load_table(roots);
	g_autoptr(QaBlockdevModel) model =
	    qa_blockdev_model_new(roots, table != NULL ? table : mounts);
	g_autoptr(QaDiskSelectStorage) storage = g_new0(QaDiskSelectStorage, 1);
	g_autoptr(GPtrArray) devices = qa_blockdev_model_list(model);

	storage->storages =
	    g_ptr_array_new_with_free_func((GDestroyNotify)qa_blockdev_storage_free);
	storage->disks = g_ptr_array_new_with_free_func((GDestroyNotify)qa_disk_address_free);
	storage->devices = g_array_new(FALSE, FALSE, sizeof(dev_t));
	for (guint i = 0; i < filesystems->len; i++) {
		const QaMount *first = NULL;

		for (guint j = 0; j < mounts->len && first == NULL; j++) {
			const QaMount *mount = g_ptr_array_index(mounts, j);
			if (mount->mount_id == (gint)i)
				first = mount;
		}
		g_ptr_array_add(storage->storages,
				qa_blockdev_model_get_mount_storage(model, first));
	}
	for (guint i = 0; i < devices->len; i++) {
		const QaBlockdev *dev = g_ptr_array_index(devices, i);
		dev_t devnum = makedev(dev->major, dev->minor);

		GPtrArray *addresses = qa_blockdev_model_get_address(model, dev);

		g_array_append_val(storage->devices, devnum);
		for (guint j = 0; addresses != NULL && j < addresses->len; j++)
			qa_disk_select_add_disk(storage->disks, g_ptr_array_index(addresses, j));
	}
	for (guint i = 0; selectors != NULL && i < selectors->len; i++)
		qa_disk_select_resolve_dev(model, roots, g_ptr_array_index(selectors, i));
	return g_steal_pointer(&storage);
}
