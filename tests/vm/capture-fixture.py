#!/usr/bin/env python3
"""Capture the provisioned test guest's storage layout into tests/fixtures/debian12-qemu-q35/.

    python3 tests/vm/capture-fixture.py [OUTDIR]

Boots the guest (tests/vm/guest.py), provisions it, runs tests/fixtures/capture.sh inside it and
replaces OUTDIR (default tests/fixtures/debian12-qemu-q35) with the result plus a README naming
the QEMU command line. The guest's boot order, driver load order and every UUID are fixed (see
tests/vm/image/ and tests/vm/in-guest/provision.sh), so a second capture gives the same files;
review `git diff` after recapturing.
"""

import io
import os
import shlex
import shutil
import sys
import tarfile
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import guest as vm  # noqa: E402

REPO = os.path.dirname(os.path.dirname(vm.HERE))
CAPTURE = os.path.join(REPO, "tests", "fixtures", "capture.sh")
DEFAULT_OUT = os.path.join(REPO, "tests", "fixtures", "debian12-qemu-q35")


def readme(g, kernel):
    # Paths that differ per run are replaced by placeholders.
    cmd = shlex.join(g.qemu_cmdline()).replace(g.workdir, "$WORKDIR").replace(
        g.image_dir, "$IMAGE")
    cmd = cmd.replace(" -", " \\\n  -")
    rows = "\n".join(
        f"| {d['serial']} | {d['bus']} | {d['expect']['pci']} | {d['expect']['bus']} | "
        f"{d['expect']['target']} | {d['expect']['unit']} | {d['mount']} |"
        for d in vm.TOPOLOGY)
    return f"""# debian12-qemu-q35

The storage layout of the VM test guest (Debian 12, kernel {kernel}, QEMU 7.2 q35 under TCG)
after `tests/vm/in-guest/provision.sh`, captured by `tests/fixtures/capture.sh` inside the guest.
Do not edit by hand; recapture with

    python3 tests/vm/capture-fixture.py

(root; builds or reuses the guest image, boots it, provisions, captures, powers off) and review
the diff. The capture is reproducible: HBA drivers load in a fixed order, SCSI scanning is
synchronous, every UUID is fixed by the provisioning script and the pseudo filesystems that
systemd mounts in parallel (debugfs, tracefs, mqueue, hugetlbfs, configfs, fusectl, binfmt_misc)
are masked in the image. Normalised by `capture-fixture.py`, nothing else changed from what
`capture.sh` wrote: mount IDs and peer group numbers in `proc/self/mountinfo` are renumbered in
line order (parent links and sharing kept; the kernel's numbers depend on systemd's transient
service namespaces), the DEVLINKS value in `udev/*` is sorted, and `ID_FS_UUID_SUB*` (MD and
btrfs member UUIDs, random on Debian 12 and not settable) is dropped.

## What the host configured (expected addresses)

`pci` is the controller's guest PCI address; bus/target/unit are what `guest-get-fsinfo` should
report and what libvirt matches (SCSI: bus = channel, target = SCSI id, unit = LUN, except on
libvirt's `lsilogic`: target 0, unit = SCSI id; SATA: unit = AHCI port).

| serial | bus | pci | bus | target | unit | mounted at |
| --- | --- | --- | --- | --- | --- | --- |
{rows}

## What the kernel shows (worth knowing when resolving addresses)

- virtio-scsi target 2 LUN 3 appears as HCTL `12:0:2:3` (`.../0000:00:04.0/virtio2/host12/target12:0:2/12:0:2:3`).
- The megasas disk (`scsi-id=1,lun=0` on the command line) appears as HCTL `13:2:1:0`: the
  megaraid_sas driver puts JBOD/system physical disks on channel 2, so the channel the guest sees
  is not the one the host configured (bus 0).
- The lsi53c895a disk (`scsi-id=3`) is HCTL `14:0:3:0` (driver sym53c8xx). libvirt's `lsilogic`
  model writes that disk as `target='0' unit='3'` (it passes unit= as scsi-id), so the reported
  address is target 0 unit 3.
- The pvscsi disk (`scsi-id=4`) is HCTL `15:0:4:0` (vmw_pvscsi), numbered as configured.
- The mptsas1068 disk (`scsi-id=5,lun=1`, with a `wwn`: mptsas ignores SAS address 0) is HCTL
  `16:0:0:1` under `host16/port-16:0/end_device-16:0`: the SAS transport class numbers targets
  in discovery order; `end_device-16:0/sas_device/end_device-16:0/phy_identifier` is `5`, the
  adapter phy QEMU attached scsi-id 5 to.
- SATA port 2 of the AHCI controller at 00:06.0 is `ata3`, `host2`, HCTL `2:0:0:0`;
  `/sys/class/ata_port/ata3/port_no` is `3` (libata counts ports of a host from 1). The q35
  chipset's built-in AHCI at 00:1f.2 also registers six ports (ata7..ata12).
- The NVMe controller behind the root port at 00:07.0 is `0000:01:00.0`.
- MD RAID1 is `md127` (`/dev/md/qa-raid`), the LV `dm-0` (`/dev/mapper/qa--vg-span`), the image on
  /data is `loop0`.

## QEMU command line

```
{cmd}
```
"""


def normalise_udev(directory):
    """Make udev property files independent of the boot: udev lists DEVLINKS in the order the
    links happened to be created (sort them), and ID_FS_UUID_SUB is the per-member UUID that
    mdadm and mkfs.btrfs of Debian 12 draw at random and cannot be told (drop it). Belongs in
    capture.sh eventually; done here so the committed capture is reproducible now."""
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        with open(path) as f:
            lines = f.read().splitlines()
        out = []
        for line in lines:
            key, _, value = line.partition("=")
            if key in ("ID_FS_UUID_SUB", "ID_FS_UUID_SUB_ENC"):
                continue
            if key == "DEVLINKS":
                line = "DEVLINKS=" + " ".join(sorted(value.split()))
            out.append(line)
        with open(path, "w") as f:
            f.write("".join(x + "\n" for x in out))


def normalise_mountinfo(path):
    """Renumber mount IDs and peer groups in line order. The kernel hands out both from a pool
    that systemd's short-lived service namespaces also draw from, so the same mounts get other
    numbers on every boot; the tree (parent links, sharing) is kept exactly."""
    with open(path) as f:
        rows = [line.split(" ") for line in f.read().splitlines()]
    ids = {row[0]: str(21 + i) for i, row in enumerate(rows)}
    groups = {}
    for row in rows:
        row[0] = ids[row[0]]
        row[1] = ids.get(row[1], row[1])  # the root's parent is not in the table: keep it
        sep = row.index("-")
        for j in range(6, sep):
            tag, _, num = row[j].partition(":")
            if tag in ("shared", "master"):
                row[j] = f"{tag}:{groups.setdefault(num, str(len(groups) + 1))}"
    with open(path, "w") as f:
        f.write("".join(" ".join(row) + "\n" for row in rows))


def main(argv):
    out_dir = os.path.abspath(argv[0]) if argv else DEFAULT_OUT
    if not os.path.exists(CAPTURE):
        sys.exit(f"{CAPTURE} does not exist yet")
    vm._install_signal_handlers()
    with vm.Guest() as g:
        g.boot()
        g.provision()
        g.put(CAPTURE, "/run/qa/capture.sh", 0o755)
        # /run is noexec in the guest: run scripts through bash.
        g.run("rm -rf /run/qa/capture && bash /run/qa/capture.sh /run/qa/capture",
              timeout=600, check=True)
        rc, tar = g.run_bytes("tar -C /run/qa/capture -cf - .", timeout=300)
        if rc != 0:
            raise vm.GuestError(f"tar failed in the guest: {tar[-500:]!r}")
        _, kernel = g.run("uname -r", check=True)
        text = readme(g, kernel.strip())
    with tempfile.TemporaryDirectory(dir=os.path.dirname(out_dir)) as tmp:
        with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
            tf.extractall(tmp, filter="tar") if hasattr(tarfile, "data_filter") \
                else tf.extractall(tmp)
        normalise_mountinfo(os.path.join(tmp, "proc", "self", "mountinfo"))
        if os.path.isdir(os.path.join(tmp, "udev")):
            normalise_udev(os.path.join(tmp, "udev"))
        with open(os.path.join(tmp, "README.md"), "w") as f:
            f.write(text)
        if os.path.exists(out_dir):
            shutil.rmtree(out_dir)
        shutil.copytree(tmp, out_dir, symlinks=True)
    print(f"captured into {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
