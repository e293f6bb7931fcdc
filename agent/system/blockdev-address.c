/* The host-side address of a physical disk, read from the sysfs topology above it.
 *
 * The walk goes from the disk's parent device up to the nearest PCI function and notes what it
 * passes: a SCSI device (H:C:T:L), an ATA port, a virtio device, an NVMe controller, a USB
 * device. The bus is decided from that topology, never from driver names, so any SCSI host
 * adapter that is a PCI function resolves, including ones QEMU's agent does not know.
 *
 * Rules, each stated in the terms libvirt writes in <address type='drive' controller= bus=
 * target= unit=> (what `virsh domfsinfo` matches against):
 * - virtio-blk: bus-type virtio, pci = the virtio device's PCI function, bus/target/unit 0.
 * - SCSI (virtio-scsi, lsi53c895a, megasas, pvscsi, mptsas1068, ...): bus-type scsi, pci = the
 *   host adapter's function, bus = channel, target = SCSI id, unit = LUN from the kernel's
 *   H:C:T:L, except where the kernel numbers differently from what libvirt configured (each
 *   proven in the debian12-qemu-q35 capture, tests/fixtures/README.md):
 *   - virtio-scsi and pvscsi (vmw_pvscsi) number exactly as QEMU's channel/scsi-id/lun
 *     (virtio-scsi scsi-id=2,lun=3 is 12:0:2:3, pvscsi scsi-id=4 is 15:0:4:0).
 *   - megaraid_sas shows the disks of QEMU's megasas, which are logical drives to it, on
 *     channels from 2 (MEGASAS_MAX_PD_CHANNELS) up, so guest channel 2 is the host's bus 0
 *     (scsi-id=1 is 13:2:1:0; qa_blockdev_scsi_numbering).
 *   - sym53c8xx (QEMU's lsi53c895a): the kernel's target is the SCSI id, but libvirt's
 *     'lsilogic' model puts the SCSI id in <address unit=> and requires target 0, and QEMU's
 *     agent reports it so: target 0, unit = SCSI id (scsi-id=3 is 14:0:3:0, unit 3).
 *   - A target below a SAS end device (mptsas with QEMU's mptsas1068): the SAS transport class
 *     numbers targets in discovery order, so the target is the end device's phy_identifier,
 *     the adapter phy it is attached to, which QEMU's mptsas1068 makes the scsi-id (scsi-id=5,
 *     lun=1 alone on its adapter is 16:0:0:1 below end_device-16:0 with phy_identifier 5).
 * - SATA (AHCI, any ATA port under a PCI function that is not an IDE controller): bus-type sata,
 *   unit = the AHCI port, bus/target 0. libata gives every port its own SCSI host, numbered
 *   across all controllers, so neither host nor target number is the port; the port is the
 *   ATA port's port_no attribute (ata_port/ataN/port_no), which counts from 1 within its
 *   controller: unit = port_no - 1. libvirt's unit='2' is QEMU's ide.2, AHCI port 2, port_no 3.
 * - IDE (PCI class 01:01, e.g. PIIX): bus-type ide, bus = channel = port_no - 1, target 0,
 *   unit = master (0) or slave (1), which libata puts in the SCSI id (H:0:id:0).
 * - NVMe: bus-type nvme, pci = the controller's own function (found however many PCIe root
 *   ports and bridges sit above it, so the bus number is the controller's secondary bus), bus
 *   and target 0, unit = namespace id - 1. With native multipath the disk lives under
 *   /sys/devices/virtual/nvme-subsystem; each controller with a path to the namespace gives
 *   one address.
 * - USB mass storage: bus-type usb, pci = the USB host controller, bus/target/unit = the SCSI
 *   channel/target/LUN of the usb-storage device.
 * - Xen vbd, MMC: their bus types with pci -1 unless a PCI function is above them.
 * - Anything else that is not a virtual device: bus-type unknown, with the nearest PCI function
 *   above it when there is one. */
#include <stdio.h>
#include <string.h>

#include "blockdev.h"
#include "qa-error.h"
#include "sysfs.h"

typedef struct {
	gboolean has_hctl;
	guint channel;
	guint target;
	guint lun;
	gchar *scsi_driver; /* proc_name of the SCSI host above the disk */
	gint ata_port;	    /* port_no attribute, counting from 1; -1 when no ATA port was passed */
	gint sas_phy;	    /* phy_identifier of the SAS end device above the disk, or -1 */
	gboolean is_virtio;
	gboolean is_usb;
	gboolean is_xen;
	gboolean is_mmc;
	gchar *nvme_ctrl;   /* the NVMe controller directory */
	gchar *nvme_subsys; /* the NVMe subsystem directory (native multipath) */
	gboolean has_pci;
	QaPciAddress pci;
	guint pci_class;
} QaBlockdevWalk;

static void
qa_blockdev_walk_clear(QaBlockdevWalk *walk)
{
	g_clear_pointer(&walk->nvme_ctrl, g_free);
	g_clear_pointer(&walk->scsi_driver, g_free);
	g_clear_pointer(&walk->nvme_subsys, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(QaBlockdevWalk, qa_blockdev_walk_clear)

static gboolean
qa_blockdev_walk_pci(const gchar *dir, const gchar *name, QaBlockdevWalk *walk)
{
	g_autofree gchar *class = NULL;
	guint domain, bus, slot, function;
	gint consumed = 0;

	if (sscanf(name, "%x:%x:%x.%x%n", &domain, &bus, &slot, &function, &consumed) != 4 ||
	    name[consumed] != '\0')
		return FALSE;
	walk->has_pci = TRUE;
	walk->pci.domain = (gint)domain;
	walk->pci.bus = (gint)bus;
	walk->pci.slot = (gint)slot;
	walk->pci.function = (gint)function;
	class = qa_sysfs_read_attr(dir, "class");
	if (class != NULL)
		walk->pci_class = (guint)g_ascii_strtoull(class, NULL, 16);
	return TRUE;
}

/* SCSI host drivers whose disks the kernel numbers differently from the libvirt <address> that
 * configured them (proc_name of the SCSI host; its PCI function is the controller either way) */
static const struct {
	const gchar *driver;
	/* guest channels from here up are the host's buses from 0 up */
	guint first_channel;
	/* the host's unit is the SCSI id and its target 0 */
	gboolean id_is_unit;
} qa_blockdev_scsi_numbering[] = {
    /* logical drives start at MEGASAS_MAX_PD_CHANNELS; QEMU's megasas presents its disks so */
    {"megaraid_sas", 2, FALSE},
    /* QEMU's lsi53c895a: libvirt's 'lsilogic' model passes <address unit=> as scsi-id and
     * requires target 0 (QEMU's own agent reports sym53c8xx disks the same way) */
    {"sym53c8xx", 0, TRUE},
};

static void
qa_blockdev_scsi_address(const QaBlockdevWalk *walk, QaDiskAddress *address)
{
	address->bus = (gint)walk->channel;
	/* the SAS transport class hands out target numbers in discovery order; the phy the end
	 * device is attached to is what the adapter was configured with */
	address->target = walk->sas_phy >= 0 ? walk->sas_phy : (gint)walk->target;
	address->unit = (gint)walk->lun;
	for (guint i = 0; i < G_N_ELEMENTS(qa_blockdev_scsi_numbering); i++) {
		guint first = qa_blockdev_scsi_numbering[i].first_channel;

		if (g_strcmp0(walk->scsi_driver, qa_blockdev_scsi_numbering[i].driver) != 0)
			continue;
		if (walk->channel >= first)
			address->bus = (gint)(walk->channel - first);
		if (qa_blockdev_scsi_numbering[i].id_is_unit) {
			address->target = 0;
			address->unit = (gint)walk->target;
		}
		return;
	}
}

static void
qa_blockdev_walk_scsi(const gchar *dir, const gchar *name, QaBlockdevWalk *walk)
{
	guint host, channel, target, lun;
	gint consumed = 0;

	/* the SCSI host adapter: its driver decides how channels are numbered */
	if (sscanf(name, "host%u%n", &host, &consumed) == 1 && name[consumed] == '\0') {
		g_autofree gchar *host_dir = g_build_filename(dir, "scsi_host", name, NULL);
		if (walk->has_hctl && walk->scsi_driver == NULL)
			walk->scsi_driver = qa_sysfs_read_attr(host_dir, "proc_name");
		return;
	}

	/* the first H:C:T:L from the disk up is the disk's own; a SCSI host, target or a second
	 * H:C:T:L further up (e.g. an enclosure) does not count */
	if (walk->has_hctl)
		return;
	if (sscanf(name, "%u:%u:%u:%u%n", &host, &channel, &target, &lun, &consumed) != 4 ||
	    name[consumed] != '\0')
		return;
	walk->has_hctl = TRUE;
	walk->channel = channel;
	walk->target = target;
	walk->lun = lun;
}

static void
qa_blockdev_walk_ata(const gchar *dir, const gchar *name, QaBlockdevWalk *walk)
{
	g_autofree gchar *port_dir = g_build_filename(dir, "ata_port", name, NULL);
	guint64 port_no = 0;
	guint print_id;

	if (sscanf(name, "ata%u", &print_id) != 1)
		return;
	if (qa_sysfs_read_uint(port_dir, "port_no", &port_no) && port_no >= 1 && port_no < 64)
		walk->ata_port = (gint)port_no;
}

static void
qa_blockdev_walk_sas(const gchar *dir, const gchar *name, QaBlockdevWalk *walk)
{
	g_autofree gchar *sas_dir = g_build_filename(dir, "sas_device", name, NULL);
	guint64 phy = 0;

	/* only the end device the disk's own target hangs off */
	if (!walk->has_hctl || walk->sas_phy >= 0)
		return;
	if (qa_sysfs_read_uint(sas_dir, "phy_identifier", &phy) && phy <= G_MAXINT)
		walk->sas_phy = (gint)phy;
}

/* notes what @dir is; TRUE when it is the PCI function that ends the walk */
static gboolean
qa_blockdev_walk_classify(const gchar *dir, QaBlockdevWalk *walk)
{
	g_autofree gchar *name = g_path_get_basename(dir);
	g_autofree gchar *subsystem = qa_sysfs_link_name(dir, "subsystem");

	if (g_strcmp0(subsystem, "pci") == 0)
		return qa_blockdev_walk_pci(dir, name, walk);
	if (g_strcmp0(subsystem, "scsi") == 0)
		qa_blockdev_walk_scsi(dir, name, walk);
	else if (g_str_has_prefix(name, "end_device-"))
		qa_blockdev_walk_sas(dir, name, walk);
	else if (g_str_has_prefix(name, "ata"))
		qa_blockdev_walk_ata(dir, name, walk);
	else if (g_strcmp0(subsystem, "virtio") == 0)
		walk->is_virtio = TRUE;
	else if (g_strcmp0(subsystem, "usb") == 0)
		walk->is_usb = TRUE;
	else if (g_strcmp0(subsystem, "xen") == 0)
		walk->is_xen = TRUE;
	else if (g_strcmp0(subsystem, "mmc") == 0)
		walk->is_mmc = TRUE;
	else if (g_strcmp0(subsystem, "nvme") == 0 && walk->nvme_ctrl == NULL)
		walk->nvme_ctrl = g_strdup(dir);
	else if (g_strcmp0(subsystem, "nvme-subsystem") == 0 && walk->nvme_subsys == NULL)
		walk->nvme_subsys = g_strdup(dir);
	return FALSE;
}

/* walks from @start up to the PCI function above it, or to the top of /sys/devices */
static void
qa_blockdev_walk_up(const gchar *sys, const gchar *start, QaBlockdevWalk *walk)
{
	g_autofree gchar *devices = g_build_filename(sys, "devices", NULL);
	g_autofree gchar *dir = g_strdup(start);
	gsize devices_len = strlen(devices);

	while (g_str_has_prefix(dir, devices) && strlen(dir) > devices_len + 1 &&
	       dir[devices_len] == '/') {
		g_autofree gchar *up = NULL;
		if (qa_blockdev_walk_classify(dir, walk))
			return;
		up = g_path_get_dirname(dir);
		g_free(dir);
		dir = g_steal_pointer(&up);
	}
}

/* the device a disk hangs off: its device link, else the directory holding it */
static gchar *
qa_blockdev_address_parent(const gchar *syspath)
{
	g_autofree gchar *link = g_build_filename(syspath, "device", NULL);
	g_autofree gchar *parent = qa_sysfs_resolve_link(link, NULL);

	if (parent != NULL)
		return g_steal_pointer(&parent);
	parent = g_path_get_dirname(syspath);
	if (g_str_has_suffix(parent, "/block")) {
		gchar *up = g_path_get_dirname(parent);
		g_free(parent);
		parent = up;
	}
	return g_steal_pointer(&parent);
}

static gint
qa_blockdev_address_nvme_unit(const gchar *syspath)
{
	g_autofree gchar *name = g_path_get_basename(syspath);
	guint64 nsid = 0;
	guint a, b, c;

	if (qa_sysfs_read_uint(syspath, "nsid", &nsid) && nsid >= 1 && nsid <= G_MAXINT)
		return (gint)nsid - 1;
	/* older kernels have no nsid attribute on the disk; the name carries the instance */
	if (sscanf(name, "nvme%uc%un%u", &a, &b, &c) == 3 && c >= 1)
		return (gint)c - 1;
	if (sscanf(name, "nvme%un%u", &a, &c) == 2 && c >= 1)
		return (gint)c - 1;
	return 0;
}

static QaDiskAddress *
qa_blockdev_address_from_walk(const QaBlockdevWalk *walk)
{
	g_autoptr(QaDiskAddress) address = qa_disk_address_new();

	if (walk->has_pci)
		address->pci = walk->pci;
	if (walk->nvme_ctrl != NULL) {
		address->bus_type = QA_BLOCKDEV_BUS_NVME;
	} else if (walk->has_hctl && walk->ata_port >= 1 && (walk->pci_class >> 8) == 0x0101) {
		address->bus_type = QA_BLOCKDEV_BUS_IDE;
		address->bus = walk->ata_port - 1;
		address->unit = (gint)walk->target;
	} else if (walk->has_hctl && walk->ata_port >= 1) {
		address->bus_type = QA_BLOCKDEV_BUS_SATA;
		address->unit = walk->ata_port - 1;
	} else if (walk->has_hctl) {
		address->bus_type = walk->is_usb ? QA_BLOCKDEV_BUS_USB : QA_BLOCKDEV_BUS_SCSI;
		qa_blockdev_scsi_address(walk, address);
	} else if (walk->is_virtio) {
		address->bus_type = QA_BLOCKDEV_BUS_VIRTIO;
	} else if (walk->is_xen) {
		address->bus_type = QA_BLOCKDEV_BUS_XEN;
	} else if (walk->is_mmc) {
		address->bus_type = QA_BLOCKDEV_BUS_MMC;
	} else {
		address->bus_type = QA_BLOCKDEV_BUS_UNKNOWN;
	}
	return g_steal_pointer(&address);
}

static gint
qa_blockdev_address_strcmp(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

/* TRUE when controller @ctrl_dir has a path to the multipath head disk @head */
static gboolean
qa_blockdev_address_nvme_has_path(const gchar *ctrl_dir, const gchar *head)
{
	g_autofree gchar *ctrl = g_path_get_basename(ctrl_dir);
	g_autofree gchar *path_name = NULL;
	g_autofree gchar *path_dir = NULL;
	guint subsys, nsid, instance;

	if (sscanf(head, "nvme%un%u", &subsys, &nsid) != 2 ||
	    sscanf(ctrl, "nvme%u", &instance) != 1)
		return FALSE;
	path_name = g_strdup_printf("nvme%uc%un%u", subsys, instance, nsid);
	path_dir = g_build_filename(ctrl_dir, path_name, NULL);
	return g_file_test(path_dir, G_FILE_TEST_IS_DIR);
}

/* the controllers of a native-multipath subsystem: those with a path to the disk, or all of
 * them when the kernel does not show the paths */
static GPtrArray *
qa_blockdev_address_nvme_controllers(const gchar *subsys_dir, const gchar *syspath)
{
	g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) with_path = g_ptr_array_new_with_free_func(g_free);
	g_autofree gchar *head = g_path_get_basename(syspath);
	g_autoptr(GDir) dir = g_dir_open(subsys_dir, 0, NULL);
	const gchar *entry;

	while (dir != NULL && (entry = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *link = g_build_filename(subsys_dir, entry, NULL);
		g_autofree gchar *ctrl = NULL;
		guint instance;
		gint consumed = 0;

		/* controllers are links named nvme<instance>; namespaces are directories */
		if (sscanf(entry, "nvme%u%n", &instance, &consumed) != 1 ||
		    entry[consumed] != '\0' || !g_file_test(link, G_FILE_TEST_IS_SYMLINK))
			continue;
		ctrl = qa_sysfs_resolve_link(link, NULL);
		if (ctrl == NULL)
			continue;
		if (qa_blockdev_address_nvme_has_path(ctrl, head))
			g_ptr_array_add(with_path, g_strdup(ctrl));
		g_ptr_array_add(all, g_steal_pointer(&ctrl));
	}
	g_ptr_array_sort(all, qa_blockdev_address_strcmp);
	g_ptr_array_sort(with_path, qa_blockdev_address_strcmp);
	return with_path->len > 0 ? g_steal_pointer(&with_path) : g_steal_pointer(&all);
}

static GPtrArray *
qa_blockdev_address_resolve_multipath(const gchar *sys,
				      const gchar *subsys_dir,
				      const gchar *syspath,
				      GError **error)
{
	g_autoptr(GPtrArray) controllers =
	    qa_blockdev_address_nvme_controllers(subsys_dir, syspath);
	g_autoptr(GPtrArray) addresses =
	    g_ptr_array_new_with_free_func((GDestroyNotify)qa_disk_address_free);

	for (guint i = 0; i < controllers->len; i++) {
		g_auto(QaBlockdevWalk) walk = {.ata_port = -1, .sas_phy = -1};
		QaDiskAddress *address;

		qa_blockdev_walk_up(sys, g_ptr_array_index(controllers, i), &walk);
		address = qa_blockdev_address_from_walk(&walk);
		address->unit = qa_blockdev_address_nvme_unit(syspath);
		g_ptr_array_add(addresses, address);
	}
	if (addresses->len == 0) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_PARSE,
			    "NVMe subsystem '%s' lists no controller: expected nvme<N> links",
			    subsys_dir);
		return NULL;
	}
	return g_steal_pointer(&addresses);
}

GPtrArray *
qa_blockdev_resolve_address(const gchar *sys, const gchar *disk_syspath, GError **error)
{
	g_autofree gchar *parent = qa_blockdev_address_parent(disk_syspath);
	g_autofree gchar *virtual = g_build_filename(sys, "devices", "virtual", NULL);
	g_autoptr(GPtrArray) addresses =
	    g_ptr_array_new_with_free_func((GDestroyNotify)qa_disk_address_free);
	g_auto(QaBlockdevWalk) walk = {.ata_port = -1, .sas_phy = -1};
	QaDiskAddress *address;

	qa_blockdev_walk_up(sys, parent, &walk);
	if (walk.nvme_subsys != NULL)
		return qa_blockdev_address_resolve_multipath(
		    sys, walk.nvme_subsys, disk_syspath, error);
	address = qa_blockdev_address_from_walk(&walk);
	if (address->bus_type == QA_BLOCKDEV_BUS_UNKNOWN && !walk.has_pci &&
	    g_str_has_prefix(disk_syspath, virtual)) {
		qa_disk_address_free(address);
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_NOT_FOUND,
			    "'%s' is a virtual device, not a disk with a bus address",
			    disk_syspath);
		return NULL;
	}
	if (address->bus_type == QA_BLOCKDEV_BUS_NVME)
		address->unit = qa_blockdev_address_nvme_unit(disk_syspath);
	g_ptr_array_add(addresses, address);
	return g_steal_pointer(&addresses);
}
