#!/usr/bin/env python3
"""The VM test guest under real libvirt (Debian 12's libvirtd 9.0), for suite.py's `libvirt` check.

Host setup, done idempotently by ensure_libvirtd():
  - apt-get installs libvirt-daemon-system and libvirt-clients when virsh/libvirtd are missing;
  - /etc/libvirt/qemu.conf gets a marked block at its end (earlier uncommented lines of the same
    keys are removed) so the QEMU driver runs guests as root without a security driver:
        user = "root"; group = "root"      no libvirt-qemu user owning the test's disk files
        security_driver = "none"           no AppArmor/SELinux labelling (none on CI machines)
        dynamic_ownership = 0              libvirt leaves the owner of the disk files alone
        namespaces = [ ]                   no private /dev mount namespace per guest (containers)
    libvirtd reads qemu.conf at start: when the block had to change and libvirtd runs, the
    check says so and skips instead of restarting a daemon it did not start;
  - there may be no systemd on the host: `virtlogd -d` and `libvirtd -d` are started directly
    when not running (and left running, as a service would be).

LibvirtGuest is a guest.Guest whose QEMU is started by libvirt from domain.xml.in, with the
same work directory (disks, runner socket, console log) as the harness guest it follows, so the
runner, provisioning and every Guest method work unchanged.
"""

import os
import re
import shutil
import subprocess
import time

import guest as vm

HERE = os.path.dirname(os.path.abspath(__file__))
DOMAIN_XML = os.path.join(HERE, "domain.xml.in")
QEMU_CONF = "/etc/libvirt/qemu.conf"
URI = "qemu:///system"
SOCKET = "/run/libvirt/libvirt-sock"
SETTINGS = [("user", '"root"'), ("group", '"root"'), ("security_driver", '"none"'),
            ("dynamic_ownership", "0"), ("namespaces", "[ ]")]
MARKER = "# --- quiesce-agent VM tests (tests/vm/lvdomain.py): guests as root, no security driver"


class Unavailable(Exception):
    """libvirt cannot run here; the message says why (the check is skipped with it)."""


def virsh(*args, timeout=120, check=True):
    res = subprocess.run(["virsh", "-c", URI, *args], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise vm.GuestError(f"virsh {' '.join(args)} failed ({res.returncode}):\n{res.stdout}")
    return res.stdout


def _running(name):
    return subprocess.run(["pgrep", "-x", name], stdout=subprocess.DEVNULL).returncode == 0


def _configure_qemu_conf():
    """Write the settings block unless every key already has its value; returns True when the
    file changed."""
    with open(QEMU_CONF) as f:
        old = f.read()
    keys = "|".join(k for k, _ in SETTINGS)
    active = {m.group(1): re.sub(r"\s+", " ", m.group(2).strip()) for m in
              re.finditer(rf"^\s*({keys})\s*=\s*(.*?)\s*$", old, re.M)}
    if all(active.get(k) == v for k, v in SETTINGS):
        return False
    lines = [line for line in old.splitlines()
             if not re.match(rf"\s*({keys})\s*=", line) and line != MARKER]
    lines.append(MARKER)
    lines += [f"{k} = {v}" for k, v in SETTINGS]
    new = "\n".join(lines) + "\n"
    if new != old:
        with open(QEMU_CONF, "w") as f:
            f.write(new)
    return new != old


def ensure_libvirtd(say):
    if shutil.which("virsh") is None or not os.path.exists("/usr/sbin/libvirtd"):
        say("   installing libvirt-daemon-system libvirt-clients")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for cmd in (["apt-get", "update", "-q"],
                    ["apt-get", "install", "-y", "-q", "--no-install-recommends",
                     "libvirt-daemon-system", "libvirt-clients"]):
            res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, env=env)
            if res.returncode != 0:
                raise Unavailable(f"{' '.join(cmd[:2])} failed:\n{res.stdout[-1500:]}")
    changed = _configure_qemu_conf()
    if changed and _running("libvirtd"):
        raise Unavailable(f"{QEMU_CONF} needed the test settings but libvirtd was already "
                          "running with the old ones; restart libvirtd and run again")
    if not _running("virtlogd"):
        subprocess.run(["virtlogd", "-d"], check=True)
    if not _running("libvirtd"):
        subprocess.run(["libvirtd", "-d"], check=True)
    deadline = time.monotonic() + 30
    while True:
        res = subprocess.run(["virsh", "-c", URI, "version"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, timeout=30)
        if res.returncode == 0:
            return res.stdout
        if time.monotonic() > deadline:
            raise Unavailable(f"libvirtd does not answer on {URI}:\n{res.stdout}")
        time.sleep(0.5)


class _DomainProc:
    """Stands in for Guest.proc: the domain's state through virsh."""

    def __init__(self, name):
        self.name = name
        self.returncode = None

    def poll(self):
        if self.returncode is not None:
            return self.returncode
        out = virsh("domstate", self.name, check=False, timeout=30).strip()
        if out in ("running", "paused", "in shutdown"):
            return None
        self.returncode = 0
        return 0

    def wait(self, timeout=None):
        deadline = time.monotonic() + (timeout if timeout is not None else 1e9)
        while self.poll() is None:
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("virsh", timeout)
            time.sleep(0.5)
        return self.returncode

    def kill(self):
        virsh("destroy", self.name, check=False, timeout=60)


class LibvirtGuest(vm.Guest):
    def __init__(self, harness_guest):
        super().__init__(image_dir=harness_guest.image_dir)
        self.workdir = harness_guest.workdir  # same disks; the harness guest cleans the dir up
        self.name = f"qa-vm-{os.getpid()}"
        self.defined = False

    def domain_xml(self):
        with open(DOMAIN_XML) as f:
            xml = f.read()
        for key, value in (("@NAME@", self.name), ("@WORKDIR@", self.workdir),
                           ("@IMAGE@", self.image_dir), ("@CMDLINE@", vm.KERNEL_APPEND),
                           ("@NIC_MAC@", vm.NIC_MAC)):
            xml = xml.replace(key, value)
        return xml

    def start(self):
        for sock in ("qga.sock", "runner.sock", "qga-compare.sock"):
            if os.path.exists(self.path(sock)):
                os.unlink(self.path(sock))
        path = self.path("domain.xml")
        with open(path, "w") as f:
            f.write(self.domain_xml())
        virsh("define", path)
        self.defined = True
        self.t_start = time.monotonic()
        virsh("start", self.name)
        self.proc = _DomainProc(self.name)
        vm.log(f"libvirt domain {self.name} started, workdir {self.workdir}")

    def qmp(self, command, arguments=None, timeout=30):
        raise vm.GuestError("no QMP socket under libvirt (use virsh qemu-monitor-command)")

    def cleanup(self):
        """Destroy and undefine the domain with its snapshot metadata; the files in the work
        directory (overlays made by snapshots included) go with the harness guest's cleanup."""
        if self._cleaned:
            return
        self._cleaned = True
        self._close_runner()
        if self.defined:
            virsh("destroy", self.name, check=False, timeout=60)
            virsh("undefine", self.name, "--snapshots-metadata", check=False, timeout=60)
            self.defined = False
