#!/usr/bin/env python3
"""QEMU guest harness for quiesce-agent's VM tests (python3 stdlib only).

A Guest owns one QEMU process and one temporary directory holding its scratch disks, sockets and
console log. It boots the cached Debian 12 image (tests/vm/build-image.sh) with a fixed storage
topology (TOPOLOGY below), so every disk's expected PCI address, bus and target/unit are known from
the command line. The host talks to the guest through two virtio-serial ports:

  org.qemu.guest_agent.0   the agent's port, backed by <workdir>/qga.sock (the test subject)
  org.quiesce.test.0       the test runner's port (<workdir>/runner.sock): run commands, copy files

Usage as a module:

    with Guest() as g:          # cleanup (QEMU, temp dir) is guaranteed, also on exceptions
        g.boot()
        g.provision()
        rc, out = g.run("lsblk")

As a tool:

    python3 tests/vm/guest.py --shell [--provision]   # boot, then run typed commands in the guest
    python3 tests/vm/guest.py --print-cmdline         # the QEMU command line, nothing started

Environment:
  QA_VM_CACHE    image cache directory (default ~/.cache/quiesce-agent/vm)
  QA_VM_KVM=1    use KVM instead of TCG (opt-in: nested KVM may hang on CI machines)
  QA_VM_TMPDIR   where per-run directories are made (default: the system temp dir)
  QA_VM_KEEP=1   keep the per-run directory after cleanup (for debugging)
"""

import atexit
import base64
import ctypes
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD_IMAGE = os.path.join(HERE, "build-image.sh")
PROVISION = os.path.join(HERE, "in-guest", "provision.sh")

RUNNER_PORT = "org.quiesce.test.0"
AGENT_PORT = "org.qemu.guest_agent.0"
# Debian's qemu-guest-agent can be run on this second port for side-by-side comparisons.
QGA_COMPARE_PORT = "org.qemu.guest_agent.1"
QGA_COMPARE_UNIT = "qa-qemu-ga"  # the transient service that runs it (Guest.start_qemu_ga)
# QEMU device id and chardev of the agent's port, for hot-unplug and plugging it back over QMP.
AGENT_PORT_ID = "port-qga"
AGENT_PORT_DEVICE = dict(driver="virtserialport", id=AGENT_PORT_ID, bus="vser0.0", nr=1,
                         chardev="ch-qga", name=AGENT_PORT)

# Every controller sits at an explicit slot on pcie.0 (bus 0), so guest PCI addresses are fixed.
# NVMe sits behind a PCIe root port; the firmware gives the port's secondary bus number 1.
CONTROLLERS = [
    # id, device, slot, extra properties
    ("scsi0", "virtio-scsi-pci", 0x04, ""),
    ("hba0", "megasas-gen2", 0x05, ""),
    ("ahci0", "ich9-ahci", 0x06, ""),
    ("rp0", "pcie-root-port", 0x07, ",chassis=1,port=0x10"),
    ("vser0", "virtio-serial-pci", 0x0A, ""),
    ("lsi0", "lsi53c895a", 0x0C, ""),
    ("pvscsi0", "pvscsi", 0x0D, ""),
    ("sas0", "mptsas1068", 0x0E, ""),
]

# The scratch disks. "expect" is what guest-get-fsinfo should report for the disk (pci is the
# controller's guest PCI address domain:bus:slot.function), which is libvirt's <address> for it;
# "kernel" is the target and LUN the guest kernel shows (H:C:T:L) where they are not expect's
# target and unit; "mount" is where provisioning puts it.
# lsi53c895a and pvscsi take LUN 0 only (QEMU refuses lun=1: "bad scsi device lun").
TOPOLOGY = [
    dict(id="root", serial="QA-ROOT", bus="virtio", slot=0x02, size=None,
         expect=dict(pci="0000:00:02.0", bus_type="virtio", bus=0, target=0, unit=0),
         mount="/"),
    dict(id="data", serial="QA-DATA", bus="virtio", slot=0x03, size="512M",
         expect=dict(pci="0000:00:03.0", bus_type="virtio", bus=0, target=0, unit=0),
         mount="/data (part1), /bind, /loop (image file on /data)"),
    dict(id="scsi00", serial="QA-SCSI-T0L0", bus="scsi", controller="scsi0", scsi_id=0, lun=0,
         size="256M",
         expect=dict(pci="0000:00:04.0", bus_type="scsi", bus=0, target=0, unit=0),
         mount="/scsi (btrfs)"),
    dict(id="scsi23", serial="QA-SCSI-T2L3", bus="scsi", controller="scsi0", scsi_id=2, lun=3,
         size="256M",
         expect=dict(pci="0000:00:04.0", bus_type="scsi", bus=0, target=2, unit=3),
         mount="/lvm (LVM with sata2)"),
    dict(id="hba", serial="QA-MEGASAS", bus="scsi", controller="hba0", scsi_id=1, lun=0,
         size="128M",
         expect=dict(pci="0000:00:05.0", bus_type="scsi", bus=0, target=1, unit=0),
         mount="/hba"),
    dict(id="sata2", serial="QA-SATA-P2", bus="sata", controller="ahci0", port=2, size="256M",
         expect=dict(pci="0000:00:06.0", bus_type="sata", bus=0, target=0, unit=2),
         mount="/lvm (LVM with scsi23)"),
    dict(id="nvme", serial="QA-NVME", bus="nvme", controller="rp0", size="256M",
         expect=dict(pci="0000:01:00.0", bus_type="nvme", bus=0, target=0, unit=0),
         mount="/nvme"),
    dict(id="raida", serial="QA-RAID-A", bus="virtio", slot=0x08, size="128M",
         expect=dict(pci="0000:00:08.0", bus_type="virtio", bus=0, target=0, unit=0),
         mount="/raid (MD RAID1 with raidb)"),
    dict(id="raidb", serial="QA-RAID-B", bus="virtio", slot=0x09, size="128M",
         expect=dict(pci="0000:00:09.0", bus_type="virtio", bus=0, target=0, unit=0),
         mount="/raid (MD RAID1 with raida)"),
    # libvirt's 'lsilogic' puts its disks' unit in QEMU's scsi-id (its target must be 0)
    dict(id="lsi", serial="QA-LSI", bus="scsi", controller="lsi0", scsi_id=3, lun=0,
         size="64M", kernel=dict(target=3, lun=0),
         expect=dict(pci="0000:00:0c.0", bus_type="scsi", bus=0, target=0, unit=3),
         mount="/lsi"),
    dict(id="pvscsi", serial="QA-PVSCSI", bus="scsi", controller="pvscsi0", scsi_id=4, lun=0,
         size="64M",
         expect=dict(pci="0000:00:0d.0", bus_type="scsi", bus=0, target=4, unit=0),
         mount="/pvscsi"),
    # Linux's mptsas ignores a SAS end device whose address (scsi-hd's wwn) is 0
    dict(id="sas", serial="QA-MPTSAS", bus="scsi", controller="sas0", scsi_id=5, lun=1,
         size="64M", wwn=0x5000c50015ea7051, kernel=dict(target=0, lun=1),
         expect=dict(pci="0000:00:0e.0", bus_type="scsi", bus=0, target=5, unit=1),
         mount="/sas"),
]
RNG_SLOT = 0x0B
# One virtio NIC on QEMU's user-mode network (restrict=on: nothing reaches the host or beyond).
# The guest configures nothing on it; the command checks give it addresses of the documentation
# ranges (suite.net_up) so that guest-network-get-interfaces and -get-route report a real NIC.
NIC_SLOT = 0x10
NIC_MAC = "52:54:00:51:a0:01"

KERNEL_APPEND = (
    "root=/dev/vda rw console=ttyS0,115200 "
    # panic=-1 with -no-reboot: a kernel panic ends QEMU at once instead of hanging until timeout.
    "panic=-1 "
    # TCG is slow enough; speculative-execution mitigations only cost time in a test guest.
    "mitigations=off "
    # Scan SCSI buses synchronously: disks get their sdX names in bus order on every boot.
    "scsi_mod.scan=sync "
    "systemd.show_status=auto loglevel=4"
)


class GuestError(Exception):
    """The guest or QEMU did not behave (died, timed out, protocol broke)."""


def log(msg):
    print(f"[vm {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _die_with_parent():
    """preexec_fn: QEMU gets SIGKILL if the harness dies without cleaning up (even SIGKILL)."""
    PR_SET_PDEATHSIG = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    # Own process group, so a terminal's ^C reaches the harness only; it shuts QEMU down in order.
    os.setpgrp()


def ensure_host_tools():
    """Install QEMU and friends with apt-get when missing: CI starts from a fresh Debian 12."""
    need = {"qemu-system-x86_64": "qemu-system-x86", "qemu-img": "qemu-utils"}
    missing = sorted({pkg for cmd, pkg in need.items() if shutil.which(cmd) is None})
    if missing:
        log(f"installing host tools: {' '.join(missing)}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-q"], check=True, stdout=sys.stderr, env=env)
        subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
                       check=True, stdout=sys.stderr, env=env)


def build_image():
    """Build or reuse the cached image; returns its directory."""
    res = subprocess.run(["bash", BUILD_IMAGE], stdout=subprocess.PIPE, text=True)
    if res.returncode != 0:
        raise GuestError(f"{BUILD_IMAGE} failed with status {res.returncode}")
    return res.stdout.strip().splitlines()[-1]


def _prune_stale_workdirs(parent):
    """Remove per-run directories of harnesses that were killed before they could clean up."""
    for name in os.listdir(parent):
        if not name.startswith("qa-vm-"):
            continue
        path = os.path.join(parent, name)
        try:
            with open(os.path.join(path, "owner.pid")) as f:
                pid = int(f.read())
        except (OSError, ValueError):
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:
            pass


class _Stream:
    """Buffered reads with deadlines over a connected unix socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError from None
        if not data:
            raise GuestError("the runner socket was closed by QEMU")
        self.buf += data

    def readline(self, deadline):
        while b"\n" not in self.buf:
            self._fill(deadline)
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def readexact(self, n, deadline):
        while len(self.buf) < n:
            self._fill(deadline)
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def send(self, data, timeout=30):
        self.sock.settimeout(timeout)
        self.sock.sendall(data)


class Guest:
    def __init__(self, image_dir=None, memory=1536, smp=2, kvm=None, workdir_parent=None):
        self.image_dir = image_dir
        self.memory = memory
        self.smp = smp
        self.kvm = os.environ.get("QA_VM_KVM") == "1" if kvm is None else kvm
        self.workdir_parent = workdir_parent or os.environ.get("QA_VM_TMPDIR") or tempfile.gettempdir()
        self.workdir = None
        self.proc = None
        self.runner = None
        self._seq = 0
        self._desync = False
        self.timings = {}
        self._cleaned = False

    # ---- paths -------------------------------------------------------------------------
    def path(self, name):
        return os.path.join(self.workdir, name)

    @property
    def agent_socket(self):
        """Host end of org.qemu.guest_agent.0 (connect here to talk to the agent)."""
        return self.path("qga.sock")

    @property
    def compare_socket(self):
        """Host end of org.qemu.guest_agent.1 (for Debian's qemu-guest-agent, when started)."""
        return self.path("qga-compare.sock")

    @property
    def console_log(self):
        return self.path("console.log")

    # ---- setup -------------------------------------------------------------------------
    def prepare(self):
        """Make the work directory and disks; idempotent (a second boot reuses the disks)."""
        if self.workdir:
            return
        ensure_host_tools()
        if self.image_dir is None:
            t0 = time.monotonic()
            self.image_dir = build_image()
            self.timings["image"] = time.monotonic() - t0
        os.makedirs(self.workdir_parent, exist_ok=True)
        _prune_stale_workdirs(self.workdir_parent)
        self.workdir = tempfile.mkdtemp(prefix="qa-vm-", dir=self.workdir_parent)
        with open(self.path("owner.pid"), "w") as f:
            f.write(str(os.getpid()))
        atexit.register(self.cleanup)
        # The root disk is a qcow2 overlay: the cached image is never written.
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
                        os.path.join(self.image_dir, "root.raw"), self.path("root.qcow2")],
                       check=True)
        # Scratch disks are sparse raw files: no format metadata cached inside QEMU, so what the
        # guest flushed is in the file for host-side snapshot checks.
        for d in TOPOLOGY:
            if d["size"]:
                subprocess.run(["qemu-img", "create", "-q", "-f", "raw", self.disk_path(d),
                                d["size"]], check=True)

    @staticmethod
    def disk_name(d):
        return "root.qcow2" if d["id"] == "root" else f"disk-{d['id']}.raw"

    def disk_path(self, d):
        return self.path(self.disk_name(d))

    def qemu_cmdline(self):
        """The full QEMU command line (paths inside the work directory)."""
        wd = self.workdir or "WORKDIR"
        img = self.image_dir or "IMAGE_DIR"
        accel = ["-accel", "kvm", "-cpu", "host"] if self.kvm else ["-accel", "tcg"]
        cmd = ["qemu-system-x86_64", "-machine", "q35", *accel,
               "-m", str(self.memory), "-smp", str(self.smp),
               "-nographic", "-nodefaults", "-no-reboot", "-no-user-config",
               "-kernel", os.path.join(img, "vmlinuz"),
               "-initrd", os.path.join(img, "initrd.img"),
               "-append", KERNEL_APPEND,
               "-serial", f"file:{wd}/console.log",
               "-monitor", "none",
               "-qmp", f"unix:{wd}/qmp.sock,server=on,wait=off"]
        for cid, dev, slot, extra in CONTROLLERS:
            cmd += ["-device", f"{dev},id={cid},bus=pcie.0,addr=0x{slot:x}{extra}"]
        for d in TOPOLOGY:
            fmt = "qcow2" if d["id"] == "root" else "raw"
            path = os.path.join(wd, self.disk_name(d))
            cmd += ["-drive", f"file={path},format={fmt},if=none,id=d-{d['id']},"
                              "cache=writeback,discard=unmap"]
            serial = f"serial={d['serial']}"
            drive = f"drive=d-{d['id']}"
            if d["bus"] == "virtio":
                cmd += ["-device", f"virtio-blk-pci,bus=pcie.0,addr=0x{d['slot']:x},{drive},{serial}"]
            elif d["bus"] == "scsi":
                wwn = f",wwn=0x{d['wwn']:016x}" if "wwn" in d else ""
                cmd += ["-device", f"scsi-hd,bus={d['controller']}.0,channel=0,"
                                   f"scsi-id={d['scsi_id']},lun={d['lun']},{drive},{serial}{wwn}"]
            elif d["bus"] == "sata":
                cmd += ["-device", f"ide-hd,bus={d['controller']}.{d['port']},{drive},{serial}"]
            elif d["bus"] == "nvme":
                cmd += ["-device", f"nvme,bus={d['controller']},addr=0x0,{drive},{serial}"]
        cmd += ["-chardev", f"socket,id=ch-qga,path={wd}/qga.sock,server=on,wait=off",
                "-device", ",".join([AGENT_PORT_DEVICE["driver"]] + [
                    f"{k}={v}" for k, v in AGENT_PORT_DEVICE.items() if k != "driver"]),
                "-chardev", f"socket,id=ch-runner,path={wd}/runner.sock,server=on,wait=off",
                "-device", f"virtserialport,bus=vser0.0,nr=2,chardev=ch-runner,name={RUNNER_PORT}",
                "-chardev", f"socket,id=ch-qgacmp,path={wd}/qga-compare.sock,server=on,wait=off",
                "-device", f"virtserialport,bus=vser0.0,nr=3,chardev=ch-qgacmp,"
                           f"name={QGA_COMPARE_PORT}",
                # Entropy for the guest's early boot (no RDRAND under TCG's default CPU).
                "-device", f"virtio-rng-pci,bus=pcie.0,addr=0x{RNG_SLOT:x}",
                "-netdev", "user,id=net0,restrict=on",
                "-device", f"virtio-net-pci,netdev=net0,mac={NIC_MAC},bus=pcie.0,"
                           f"addr=0x{NIC_SLOT:x}"]
        return cmd

    # ---- lifecycle ---------------------------------------------------------------------
    def start(self):
        self.prepare()
        if self.proc and self.proc.poll() is None:
            raise GuestError("QEMU is already running")
        for sock in ("qga.sock", "runner.sock", "qga-compare.sock", "qmp.sock"):
            if os.path.exists(self.path(sock)):
                os.unlink(self.path(sock))
        cmd = self.qemu_cmdline()
        with open(self.path("qemu-cmdline.txt"), "w") as f:
            f.write(shlex.join(cmd) + "\n")
        self.t_start = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=open(self.path("qemu.out"), "ab"),
                                     stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        log(f"QEMU pid {self.proc.pid} started ({'kvm' if self.kvm else 'tcg'}), "
            f"workdir {self.workdir}")

    def _connect_runner(self, deadline):
        # QEMU creates the listening socket shortly after it starts.
        while True:
            self._check_alive()
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.path("runner.sock"))
                self.runner = _Stream(s)
                return
            except (FileNotFoundError, ConnectionRefusedError):
                s.close()
                if time.monotonic() > deadline:
                    raise GuestError("QEMU never opened the runner socket") from None
                time.sleep(0.1)

    def _resync(self, deadline, per_try=2.0):
        """PING until our token comes back; drop anything older (stale replies, half lines).

        QEMU does not read a port the guest has not opened (yet, or while it reboots): the
        PINGs wait in the socket, and too many fill it. So the wait for an answer doubles after
        each try (up to 16 s), and a PING that cannot be sent at once is not retried until the
        next try (a half-sent one is a garbage line the runner skips)."""
        token = secrets.token_hex(8)
        while True:
            self._check_alive()
            try:
                self.runner.send(f"PING {token}\n".encode(), timeout=1)
            except TimeoutError:
                pass
            try_deadline = min(deadline, time.monotonic() + per_try)
            per_try = min(per_try * 2, 16.0)
            try:
                while True:
                    if self.runner.readline(try_deadline).strip() == f"PONG {token}".encode():
                        # The guest may answer earlier PINGs of this token later; a fresh token
                        # next time keeps them from matching anything.
                        self._desync = False
                        return
            except TimeoutError:
                if time.monotonic() >= deadline:
                    raise GuestError("the guest's test runner did not answer") from None

    def _check_alive(self):
        if self.proc is None or self.proc.poll() is not None:
            rc = None if self.proc is None else self.proc.returncode
            raise GuestError(f"QEMU is not running (exit status {rc})\n{self.console_tail()}")

    def boot(self, timeout=300, wait_system=True):
        """Start QEMU and wait until the runner answers (and systemd has finished booting)."""
        self.start()
        deadline = time.monotonic() + timeout
        self._connect_runner(deadline)
        try:
            self._resync(deadline)
        except GuestError as e:
            raise GuestError(f"{e} within {timeout}s\n{self.console_tail()}") from None
        self.timings["runner_ready"] = time.monotonic() - self.t_start
        if wait_system:
            left = max(10, int(deadline - time.monotonic()))
            rc, out = self.run("systemctl is-system-running --wait", timeout=left)
            state = out.strip()
            self.timings["system_running"] = time.monotonic() - self.t_start
            if state != "running":
                _, failed = self.run("systemctl --failed --no-legend --plain")
                log(f"warning: guest system state is '{state}'; failed units:\n{failed}")
        log(f"guest up: runner after {self.timings['runner_ready']:.1f}s"
            + (f", systemd done after {self.timings['system_running']:.1f}s" if wait_system else ""))

    def shutdown(self, timeout=90):
        """Power off gracefully; after `timeout` s ask QEMU to quit; then kill it."""
        if self.proc is None or self.proc.poll() is not None:
            self._close_runner()
            return
        t0 = time.monotonic()
        if self.runner and not self._desync:
            try:
                # The runner may be stopped (or QEMU gone) before its reply arrives: not an error.
                self.run("systemctl poweroff --no-block", timeout=20)
            except (GuestError, OSError):
                pass
        try:
            self.proc.wait(timeout)
            self.timings["shutdown"] = time.monotonic() - t0
        except subprocess.TimeoutExpired:
            log(f"guest did not power off within {timeout}s; stopping QEMU")
            try:
                self.qmp("quit")
            except (OSError, GuestError):
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close_runner()

    def _close_runner(self):
        if self.runner:
            self.runner.sock.close()
            self.runner = None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close_runner()

    def cleanup(self):
        """Stop QEMU (kill if needed) and delete the work directory. Safe to call twice."""
        if self._cleaned:
            return
        self._cleaned = True
        self.kill()
        if self.workdir and os.environ.get("QA_VM_KEEP") != "1":
            shutil.rmtree(self.workdir, ignore_errors=True)
        elif self.workdir:
            log(f"keeping {self.workdir}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        # A clean exit powers off first; an exception goes straight to killing QEMU.
        if exc[0] is None:
            self.shutdown()
        self.cleanup()
        return False

    # ---- talking to the guest ----------------------------------------------------------
    def _request(self, header, payload, timeout):
        self._check_alive()
        if self.runner is None:  # closed while the guest rebooted: connect again
            self._connect_runner(time.monotonic() + 30)
            self._desync = True
        if self._desync:
            self._resync(time.monotonic() + 30)
        self._seq += 1
        rid = f"{self._seq}-{secrets.token_hex(4)}"
        # Host-side margin over the guest-side timeout: TCG can be slow to even start a process.
        deadline = time.monotonic() + timeout + 30
        try:
            self.runner.send(header.replace("{id}", rid).encode() + b"\n" + payload)
            while True:
                line = self.runner.readline(deadline).decode(errors="replace").split()
                if len(line) == 4 and line[0] == "DONE" and line[1] == rid:
                    break
            out = self.runner.readexact(int(line[3]), deadline)
            return int(line[2]), out
        except TimeoutError:
            self._desync = True
            raise GuestError(f"no reply from the guest within {timeout + 30}s to: {header[:200]}")
        except Exception:
            self._desync = True
            raise

    def run_bytes(self, cmd, timeout=120):
        """Run `cmd` with bash in the guest; returns (exit status, stdout+stderr as bytes).
        Exit status 124 means the guest-side timeout hit."""
        b64 = base64.b64encode(cmd.encode()).decode()
        return self._request(f"EXEC {{id}} {int(timeout)} {b64}", b"", timeout)

    def run(self, cmd, timeout=120, check=False):
        """Like run_bytes, with text output. check=True raises GuestError on non-zero status."""
        rc, out = self.run_bytes(cmd, timeout)
        text = out.decode(errors="replace")
        if check and rc != 0:
            raise GuestError(f"guest command failed with status {rc}: {cmd}\n{text}")
        return rc, text

    def put(self, data, guest_path, mode=0o644):
        """Write bytes (or a host file's content, given its path as str) to guest_path."""
        if isinstance(data, str):
            with open(data, "rb") as f:
                data = f.read()
        b64 = base64.b64encode(guest_path.encode()).decode()
        rc, _ = self._request(f"PUT {{id}} {mode:o} {len(data)} {b64}", data,
                              timeout=60 + len(data) // 100000)
        if rc != 0:
            raise GuestError(f"could not write {guest_path} in the guest")

    def get(self, guest_path):
        """A guest file's content as bytes."""
        rc, out = self.run_bytes(f"cat -- {shlex.quote(guest_path)}")
        if rc != 0:
            raise GuestError(f"could not read {guest_path} in the guest: {out[-300:]!r}")
        return out

    def start_service(self, unit, command):
        """Run `command` (a shell command line) as the transient systemd service `unit`,
        replacing an earlier one of that name (stopped, or failed and not yet reset)."""
        self.run(f"systemctl stop {unit} 2>/dev/null; systemctl reset-failed {unit} 2>/dev/null;"
                 f" systemd-run --unit={unit} {command}", check=True)

    def stop_service(self, unit):
        self.run(f"systemctl stop {unit}", timeout=60)

    def start_qemu_ga(self):
        """Debian's qemu-ga on org.qemu.guest_agent.1; talk to it on compare_socket."""
        self.start_service(QGA_COMPARE_UNIT,
                           f"qemu-ga -m virtio-serial -p /dev/virtio-ports/{QGA_COMPARE_PORT}")

    def provision(self, timeout=600):
        """Build the storage stacks (idempotent, see in-guest/provision.sh); returns its output."""
        t0 = time.monotonic()
        self.put(PROVISION, "/run/qa/provision.sh", 0o755)
        rc, out = self.run("bash /run/qa/provision.sh", timeout=timeout)
        self.timings["provision"] = time.monotonic() - t0
        if rc != 0:
            raise GuestError(f"provisioning failed with status {rc}:\n{out}")
        log(f"provisioned in {self.timings['provision']:.1f}s")
        return out

    def qmp(self, command, arguments=None, timeout=30, event=None):
        """One QMP command on a fresh connection; returns its 'return' value.

        event=(name, data): also wait, within `timeout`, for that event whose data contains
        `data` (it may arrive before or after the return), e.g. ("DEVICE_DELETED",
        {"device": id}) after device_del, which returns before the device is gone."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        deadline = time.monotonic() + timeout

        def matches(msg):
            return event is not None and msg.get("event") == event[0] and \
                all(msg.get("data", {}).get(k) == v for k, v in event[1].items())
        try:
            s.connect(self.path("qmp.sock"))
            f = s.makefile("rwb")
            json.loads(f.readline())  # greeting
            seen = False
            for req in ({"execute": "qmp_capabilities"},
                        {"execute": command, **({"arguments": arguments} if arguments else {})}):
                f.write(json.dumps(req).encode() + b"\n")
                f.flush()
                while True:
                    line = f.readline()
                    if not line:
                        if command == "quit":
                            return {}
                        raise GuestError("QMP connection closed")
                    msg = json.loads(line)
                    seen = seen or matches(msg)
                    if "return" in msg:
                        break
                    if "error" in msg:
                        raise GuestError(f"QMP {req['execute']}: {msg['error']}")
            ret = msg["return"]
            while event is not None and not seen:
                s.settimeout(max(0.1, deadline - time.monotonic()))
                try:
                    line = f.readline()
                except socket.timeout:
                    line = None
                if not line:
                    raise GuestError(f"QMP {command}: no {event[0]} {event[1]} within "
                                     f"{timeout}s")
                seen = matches(json.loads(line))
            return ret
        finally:
            s.close()

    def console_tail(self, lines=40):
        try:
            with open(self.console_log, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 64 * 1024))
                text = f.read().decode(errors="replace")
        except (OSError, TypeError):
            return "(no console log)"
        tail = "\n".join(text.replace("\r", "").splitlines()[-lines:])
        return f"--- last {lines} lines of the guest console ---\n{tail}\n--- end of console ---"


def _install_signal_handlers():
    """SIGTERM/SIGHUP become SystemExit so `with Guest()` blocks and atexit still clean up."""
    def handler(signum, _frame):
        raise SystemExit(128 + signum)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shell", action="store_true", help="boot, then run commands typed on stdin")
    ap.add_argument("--provision", action="store_true", help="provision the storage stacks first")
    ap.add_argument("--run", metavar="CMD", action="append", default=[],
                    help="run CMD in the guest (repeatable) and print its output")
    ap.add_argument("--print-cmdline", action="store_true",
                    help="print the QEMU command line and exit")
    ap.add_argument("--timeout", type=int, default=300, help="boot timeout in seconds")
    args = ap.parse_args(argv)
    _install_signal_handlers()
    if args.print_cmdline:
        print(shlex.join(Guest().qemu_cmdline()))
        return 0
    status = 0
    with Guest() as g:
        g.boot(timeout=args.timeout)
        if args.provision:
            print(g.provision(), end="")
        for cmd in args.run:
            rc, out = g.run(cmd, timeout=600)
            print(out, end="")
            print(f"[exit status {rc}]", file=sys.stderr)
            status = status or rc
        if args.shell:
            print(f"guest shell: commands run with bash in the guest; agent socket "
                  f"{g.agent_socket}; console {g.console_log}; ^D powers off", file=sys.stderr)
            while True:
                try:
                    line = input("guest# ")
                except EOFError:
                    print(file=sys.stderr)
                    break
                if not line.strip():
                    continue
                rc, out = g.run(line, timeout=600)
                print(out, end="" if out.endswith("\n") or not out else "\n")
                if rc:
                    print(f"[exit status {rc}]", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
