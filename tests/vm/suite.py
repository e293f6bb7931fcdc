#!/usr/bin/env python3
"""The VM test suite: boot the test guest, install the agent, run named checks in that one guest.

    tests/vm/run-suite.sh [--agent-bin PATH] [--agent-unit PATH] [--agent-file SRC:DEST ...]
                          [--compare-qga[=JSON]] [--no-libvirt] [--list] [CHECK ...]

With no CHECK names every check runs, in the order they are defined here (destructive ones
last). Prints one line per check and a final `N passed, N failed[, N skipped]`; exits 0 only
when no selected check failed. A check that fails prints the tail of the guest console and of
the agent's journal.

Sequence: boot (runner only), copy the agent, its unit and files in, power off and boot again
so that udev starts the agent at boot as on a real guest, provision the storage, run the
checks; the `libvirt*` checks then boot the same disks once more under libvirtd.

Adding a check: write `def check_NAME(ctx)` below, decorated with @check("NAME") (or
@check("NAME", where="libvirt") for one that runs in the libvirt domain); raise CheckFailed (or
any exception) to fail, SkipCheck("why") to skip. ctx.guest is the booted, provisioned Guest
(the harness guest, or the libvirt domain's LibvirtGuest); ctx.agent() a connected
hostdriver.AgentConn. Before each check the suite puts the disks where the check wants them: a
harness check after one that ended the guest (a power check, the libvirt domain) boots the
harness guest again; the first libvirt check powers the harness guest off and boots the domain,
which the following libvirt checks share.
"""

import argparse
import base64
import contextlib
import hashlib
import ipaddress
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import guest as vm  # noqa: E402
import hostdriver  # noqa: E402
import lvdomain  # noqa: E402
from hostdriver import AgentConn, AgentError  # noqa: E402

CHECKS = {}


class CheckFailed(Exception):
    pass


class SkipCheck(Exception):
    """The check cannot run here (the reason is printed); it is neither passed nor failed."""


def check(name, where="harness"):
    """Register a check; `where` is the guest it runs in: "harness" (guest.py's QEMU) or
    "libvirt" (the same disks under libvirtd, lvdomain.LibvirtGuest)."""
    def register(fn):
        fn.where = where
        CHECKS[name] = fn
        return fn
    return register


class Context:
    def __init__(self, g, agent_unit, args=None):
        self.guest = g  # the guest the current check runs in
        self.harness = g  # guest.py's QEMU
        self.libvirt_guest = None  # the libvirt domain, while one is defined
        self.libvirt_unavailable = None  # why libvirt cannot run here, once known
        self.agent_unit = agent_unit  # unit name inside the guest, or None
        self.args = args
        self.agent_bin = "/usr/sbin/quiesce-agent"  # where install_agent put it
        self.boot_agent_ready = None  # seconds from QEMU start to the first answered sync
        self.boot_runner_ready = None
        self.notes = []  # measured numbers, printed at the end of the suite

    def run(self, cmd, timeout=120):
        """Run in the guest; raise CheckFailed on non-zero status; return the output."""
        rc, out = self.guest.run(cmd, timeout=timeout)
        if rc != 0:
            raise CheckFailed(f"`{cmd}` exited with {rc}:\n{out}")
        return out

    def need_agent(self):
        if not self.agent_unit:
            raise SkipCheck("no agent installed (run with --agent-bin and --agent-unit)")

    def agent(self, mode="libvirt", timeout=60):
        """A fresh host connection to the agent, synced once (up to 30 s for a restarting agent)."""
        self.need_agent()
        a = AgentConn(self.guest.agent_socket, mode=mode, timeout=timeout)
        try:
            a.wait_ready(30)
        except TimeoutError as e:
            a.close()
            raise CheckFailed(str(e)) from None
        return a

    def note(self, text):
        self.notes.append(text)
        say(f"   {text}")

    # ---- where a check runs ---------------------------------------------------------------
    def place(self, where):
        if where == "libvirt":
            self.use_libvirt()
        else:
            self.use_harness()

    def use_harness(self):
        """The harness guest, running and provisioned: the libvirt domain is stopped first, and
        a guest a check ended (guest-shutdown) is booted again."""
        self.stop_libvirt()
        g = self.guest = self.harness
        if g.proc is not None and g.proc.poll() is None:
            return
        say("   (the harness guest is not running: booting it again)")
        g.shutdown()  # closes the dead runner connection
        boot_and_time_agent(g, self, self.args.boot_timeout, record=False)
        g.provision()

    def use_libvirt(self):
        """The libvirt domain, running, provisioned and with libvirt connected to the agent;
        booted (the harness guest powered off first) unless it already runs."""
        self.need_agent()
        if self.libvirt_unavailable:
            raise SkipCheck(f"libvirt cannot run here: {self.libvirt_unavailable}")
        lg = self.libvirt_guest
        if lg is not None and lg.proc is not None and lg.proc.poll() is None:
            self.guest = lg
            return lg
        try:
            version = lvdomain.ensure_libvirtd(say)
        except lvdomain.Unavailable as e:
            self.libvirt_unavailable = str(e)
            raise SkipCheck(f"libvirt cannot run here: {e}") from None
        say("   " + " ".join(version.split()))
        self.stop_libvirt()  # a domain a check shut down: undefined before the next one
        self.harness.shutdown()  # the disks move over to the libvirt domain
        lg = self.libvirt_guest = lvdomain.LibvirtGuest(self.harness)
        self.guest = lg  # failure details (console, journal) now come from this guest
        lg.boot(timeout=self.args.boot_timeout)
        say(f"   domain {lg.name} up after {lg.timings['system_running']:.0f}s")
        lg.provision()
        waited = wait_libvirt_agent(lg.name)
        say(f"   libvirt reaches the agent ({waited:.0f}s after boot)")
        return lg

    def stop_libvirt(self, graceful=True):
        """Power the libvirt domain off (if it runs; graceful=False: no power-off first),
        destroy and undefine it."""
        lg, self.libvirt_guest = self.libvirt_guest, None
        if lg is None:
            return
        try:
            if graceful:
                lg.shutdown(timeout=60)
        finally:
            lg.cleanup()


def say(msg):
    print(msg, flush=True)


# ---- checks ---------------------------------------------------------------------------------

EXPECTED_MOUNTS = ["/data", "/bind", "/loop", "/lvm", "/raid", "/nvme", "/scsi", "/hba", "/lsi",
                   "/pvscsi", "/sas", "/scratch"]


@check("harness")
def check_harness(ctx):
    """The test bed itself: storage topology as TOPOLOGY says, mounts provisioned, agent port."""
    g = ctx.guest
    # 1. Every provisioned mountpoint is mounted.
    mountinfo = ctx.run("cat /proc/self/mountinfo")
    mounted = {line.split()[4] for line in mountinfo.splitlines()}
    missing = [m for m in EXPECTED_MOUNTS if m not in mounted]
    if missing:
        raise CheckFailed(f"not mounted in the guest: {missing}")
    # 2. Every disk is where the QEMU command line put it (PCI address, SCSI target/LUN, port).
    listing = ctx.run(
        "for b in /sys/block/*; do [ -e $b/device ] || continue; "
        "s=$(lsblk -dno SERIAL /dev/${b##*/}); "
        "echo \"${s:--} $(readlink -f $b) $(lsblk -dno HCTL /dev/${b##*/})\"; done")
    found = {}
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            found[parts[0]] = (parts[1], parts[2] if len(parts) > 2 else "")
    problems = []
    for d in vm.TOPOLOGY:
        exp = d["expect"]
        if d["serial"] not in found:
            problems.append(f"{d['serial']}: no disk with this serial")
            continue
        path, hctl = found[d["serial"]]
        if f"/{exp['pci']}/" not in path:
            problems.append(f"{d['serial']}: expected under PCI {exp['pci']}, sysfs path {path}")
        if d["bus"] == "scsi":
            t, lun = hctl.split(":")[2:4] if hctl.count(":") == 3 else ("?", "?")
            kern = d.get("kernel", dict(target=exp["target"], lun=exp["unit"]))
            if (t, lun) != (str(kern["target"]), str(kern["lun"])):
                problems.append(f"{d['serial']}: expected target {kern['target']} LUN "
                                f"{kern['lun']}, HCTL {hctl}")
        if d["bus"] == "sata":
            m = re.search(r"/(ata\d+)/", path)
            port = ctx.run(f"cat /sys/class/ata_port/{m.group(1)}/port_no").strip() if m else "?"
            # libata numbers the ports of a host from 1
            if port != str(exp["unit"] + 1):
                problems.append(f"{d['serial']}: expected AHCI port {exp['unit']}, "
                                f"port_no {port} ({path})")
    if problems:
        raise CheckFailed("topology differs from guest.TOPOLOGY:\n  " + "\n  ".join(problems))
    # 3. The agent's virtio-serial port exists in the guest...
    ctx.run(f"test -c /dev/virtio-ports/{vm.AGENT_PORT}")
    # 4. ...and its host end is a connectable unix socket.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        s.connect(g.agent_socket)
    except OSError as e:
        raise CheckFailed(f"cannot connect to {g.agent_socket}: {e}") from None
    finally:
        s.close()


# ---- helpers for the agent checks -----------------------------------------------------------

# Which TOPOLOGY disks every block-backed mountpoint lives on. /bind is /data/sub bind-mounted;
# /loop is an image file on /data, which the agent resolves to the disk holding the file.
MOUNT_DISKS = {
    "/": ["root"], "/data": ["data"], "/bind": ["data"], "/loop": ["data"],
    "/lvm": ["scsi23", "sata2"], "/raid": ["raida", "raidb"], "/nvme": ["nvme"],
    "/scsi": ["scsi00"], "/hba": ["hba"], "/lsi": ["lsi"], "/pvscsi": ["pvscsi"], "/sas": ["sas"],
}
# Disks whose filesystems sit on a partition: `dev` is then the partition's node.
PARTITION_OF = {"data": 1}
NOT_LISTED = ["/scratch"]  # tmpfs
TOPO = {d["id"]: d for d in vm.TOPOLOGY}
RUNDIR = "/run/qa"  # everything the checks create in the guest outside the tested filesystems


def pci_dict(text):
    dom, bus, slotfn = text.split(":")
    slot, fn = slotfn.split(".")
    return {"domain": int(dom, 16), "bus": int(bus, 16), "slot": int(slot, 16),
            "function": int(fn, 16)}


def guest_layout(ctx):
    """Facts from the guest itself: kernel names and nodes by serial, mounts in mount order."""
    out = ctx.run("lsblk -J -p -o NAME,KNAME,SERIAL,TYPE,PKNAME,MAJ:MIN")
    devs = []

    def walk(nodes):
        for n in nodes:
            devs.append(n)
            walk(n.get("children", []))
    walk(json.loads(out)["blockdevices"])
    by_serial = {d["serial"]: d for d in devs if d.get("serial") and d["type"] == "disk"}
    parts = {}
    for d in devs:
        if d["type"] == "part" and d.get("pkname"):
            parts.setdefault(d["pkname"], []).append(d["kname"])
    # mountpoint -> (fstype, kernel name of the source device), in /proc/self/mountinfo order
    script = ("while read -r _ _ majmin _ mp rest; do src=${rest#* - }; set -- $src; "
              "kn=-; [ -e /sys/dev/block/$majmin ] && "
              "kn=$(basename \"$(readlink -f /sys/dev/block/$majmin)\"); "
              "case $2 in /dev/*) kn2=$(basename \"$(readlink -f $2)\");; *) kn2=-;; esac; "
              "echo \"$mp $1 $majmin ${kn:--} $kn2\"; done </proc/self/mountinfo")
    mounts = []
    for line in ctx.run(script).splitlines():
        mp, fstype, majmin, kn, kn2 = line.split()
        mounts.append((mp.encode().decode("unicode_escape"), fstype, majmin,
                       kn if kn != "-" else kn2))
    return by_serial, parts, mounts


def expected_disk(disk_id, by_serial, parts):
    d = TOPO[disk_id]
    exp = d["expect"]
    node = by_serial[d["serial"]]["kname"]
    if disk_id in PARTITION_OF:
        node = sorted(parts[node])[PARTITION_OF[disk_id] - 1]
    return {"pci-controller": pci_dict(exp["pci"]), "bus-type": exp["bus_type"],
            "bus": exp["bus"], "target": exp["target"], "unit": exp["unit"],
            "serial": d["serial"], "dev": node}


def compare_disk(where, got, exp):
    problems = []
    for key in ("pci-controller", "bus-type", "bus", "target", "unit", "serial", "dev"):
        if got.get(key) != exp[key]:
            problems.append(f"{where}: {key} is {got.get(key)!r}, expected {exp[key]!r}")
    return problems


def fsinfo_by_mount(a):
    return {fs["mountpoint"]: fs for fs in a.call("guest-get-fsinfo")}


def frozen_mounts(a):
    return sorted(m for m, fs in fsinfo_by_mount(a).items() if fs.get("frozen"))


class Writer:
    """A shell loop in the guest appending to a file on a tested filesystem, counting its
    writes in /run. Started detached (setsid) so the runner is free; it touches only /run and
    its target file, so it never blocks the runner while its filesystem is frozen."""

    def __init__(self, ctx, path, tag):
        self.ctx, self.path, self.tag = ctx, path, tag
        self.base = f"{RUNDIR}/writer-{tag}"

    def start(self):
        b = self.base
        loop = (f"echo $$ >{b}.pid; n=0; while [ ! -e {b}.stop ]; do "
                f"echo \"$n $(date +%s.%N)\" >>{shlex.quote(self.path)}; n=$((n+1)); "
                f"echo $n >{b}.count; sleep 0.1; done; echo $n >{b}.done")
        self.ctx.run(f"mkdir -p {RUNDIR}; rm -f {b}.*; echo 0 >{b}.count; "
                     f"setsid -f bash -c {shlex.quote(loop)} </dev/null >/dev/null 2>&1; "
                     f"for i in $(seq 50); do [ -s {b}.pid ] && break; sleep 0.1; done")
        self.wait_progress(what="start")
        return self

    def count(self):
        out = self.ctx.run(f"cat {self.base}.count 2>/dev/null || true").strip()
        return int(out) if out.isdigit() else -1

    def state(self):
        return self.ctx.run(f"p=$(cat {self.base}.pid); "
                            f"awk '{{print $3}}' /proc/$p/stat 2>/dev/null || echo gone").strip()

    def assert_blocked(self, seconds=3):
        c1 = self.count()
        self.ctx.run(f"sleep {seconds}")
        c2 = self.count()
        st = self.state()
        if c2 != c1:
            raise CheckFailed(f"the writer on {self.path} kept writing while frozen "
                              f"({c1} -> {c2} writes in {seconds}s, state {st})")
        if st != "D":
            raise CheckFailed(f"the writer on {self.path} is in state {st!r}, not blocked (D)")
        return c2

    def wait_progress(self, timeout=30, what="thaw"):
        c0 = self.count()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(0.5)
            if self.count() > max(c0, 0) + 1:
                return
        raise CheckFailed(f"the writer on {self.path} did not write after {what} within "
                          f"{timeout}s (count {self.count()}, state {self.state()})")

    def stop(self):
        try:
            self.ctx.guest.run(f"touch {self.base}.stop; for i in $(seq 100); do "
                               f"[ -e {self.base}.done ] && break; sleep 0.1; done", timeout=30)
        except vm.GuestError:
            pass


def freeze_data(a):
    """freeze-list /data on connection @a; it must freeze exactly that one filesystem"""
    if a.call("guest-fsfreeze-freeze-list", {"mountpoints": ["/data"]}) != 1:
        raise CheckFailed("freeze-list /data did not return 1")


def ensure_thawed(ctx):
    """After a freezing check, whatever happened: thaw through the agent, then with fsfreeze -u
    in the guest (each mountpoint; EINVAL for the ones not frozen is ignored)."""
    try:
        with ctx.agent() as a:
            a.call("guest-fsfreeze-thaw")
            if a.call("guest-fsfreeze-status") == "thawed":
                return
    except Exception as e:  # noqa: BLE001 - best effort, the fallback follows
        say(f"   (thaw through the agent failed: {e}; thawing with fsfreeze -u)")
    mps = " ".join(shlex.quote(m) for m in MOUNT_DISKS)
    try:
        ctx.guest.run(f"for m in {mps}; do fsfreeze -u $m 2>/dev/null && echo thawed $m; done; "
                      "true", timeout=60)
    except vm.GuestError as e:
        say(f"   (fsfreeze -u in the guest failed: {e})")


def agent_pid(ctx):
    return ctx.run(f"systemctl show -P MainPID {ctx.agent_unit}").strip()


def wait_new_pid(ctx, old, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = agent_pid(ctx)
        active = ctx.guest.run(f"systemctl is-active {ctx.agent_unit}")[1].strip()
        if pid not in ("0", old) and active == "active":
            return pid
        time.sleep(1)
    raise CheckFailed(f"systemd did not restart the agent within {timeout}s "
                      f"(MainPID {agent_pid(ctx)})")


# ---- the agent checks (non-destructive first) -----------------------------------------------

@check("service_starts_at_boot")
def check_service_starts_at_boot(ctx):
    """udev starts the packaged unit at boot; it answers in bounded time; its hardening holds."""
    ctx.need_agent()
    unit = ctx.agent_unit
    if ctx.boot_agent_ready is None:
        raise CheckFailed("the agent did not answer guest-sync after boot (see the boot log)")
    active = ctx.guest.run(f"systemctl is-active {unit}")[1].strip()
    enabled = ctx.guest.run(f"systemctl is-enabled {unit}")[1].strip()
    if active != "active":
        raise CheckFailed(f"{unit} is {active!r} after boot")
    if enabled == "enabled":
        raise CheckFailed(f"{unit} is enabled: it must be started by its udev rule, not enabled")
    port = f"/dev/virtio-ports/{vm.AGENT_PORT}"
    info = ctx.run(f"udevadm info {port}")
    wants_env = re.search(r"^E: SYSTEMD_WANTS=(.*)$", info, re.M)
    if "TAGS=:systemd:" not in info or not wants_env or unit not in wants_env.group(1).split():
        raise CheckFailed(f"the port is not tagged for systemd / does not want {unit}:\n{info}")
    # pulled in by the port's device unit (SYSTEMD_WANTS), not by a target it is enabled in
    wanted_by = [u.strip('"') for u in ctx.run(f"systemctl show -P WantedBy {unit}").split()]
    if not any(u.endswith(".device") for u in wanted_by) or \
            any(u.endswith(".target") for u in wanted_by):
        raise CheckFailed(f"{unit} is not wanted by its port's device unit only "
                          f"(WantedBy={' '.join(wanted_by)})")
    ctx.note(f"{unit} WantedBy={' '.join(wanted_by)}")
    # started during this boot, before any check touched it
    since_boot = int(ctx.run(f"systemctl show -P ActiveEnterTimestampMonotonic {unit}")) / 1e6
    restarts = ctx.run(f"systemctl show -P NRestarts {unit}").strip()
    ctx.note(f"agent active {since_boot:.1f}s after kernel start; first guest-sync answered "
             f"{ctx.boot_agent_ready:.1f}s after QEMU start (runner {ctx.boot_runner_ready:.1f}s);"
             f" NRestarts={restarts}")
    if since_boot > 120 or ctx.boot_agent_ready > 180:
        raise CheckFailed("the agent took too long to start after boot")
    # hardening, as systemd and the kernel see it
    props = dict(line.split("=", 1) for line in ctx.run(
        f"systemctl show -p NoNewPrivileges -p CapabilityBoundingSet -p SystemCallFilter "
        f"-p RestrictNamespaces {unit}").splitlines() if "=" in line)
    if props.get("NoNewPrivileges") != "yes":
        raise CheckFailed(f"NoNewPrivileges={props.get('NoNewPrivileges')}")
    caps = set(props.get("CapabilityBoundingSet", "").split())
    if "cap_sys_admin" not in caps or "cap_sys_module" in caps or "cap_net_admin" in caps:
        raise CheckFailed(f"CapabilityBoundingSet={sorted(caps)}")
    status = ctx.run(f"grep -E '^(CapBnd|NoNewPrivs|Seccomp):' /proc/{agent_pid(ctx)}/status")
    st = dict(re.findall(r"^(\w+):\s+(\S+)", status, re.M))
    if st.get("NoNewPrivs") != "1" or st.get("Seccomp") != "2" or \
            int(st.get("CapBnd", "ffff"), 16) & (1 << 16):  # CAP_SYS_MODULE
        raise CheckFailed(f"the agent process is not sandboxed as the unit says:\n{status}")
    # ... and works under it, in both dialects
    for mode in ("libvirt", "delimited"):
        with ctx.agent(mode) as a:
            a.call("guest-ping")
            info = a.call("guest-info")
            names = {c["name"] for c in info["supported_commands"]}
            for need in ("guest-get-fsinfo", "guest-fsfreeze-freeze-list", "guest-get-disks"):
                if need not in names:
                    raise CheckFailed(f"guest-info does not list {need}")
            if a.call("guest-fsfreeze-status") != "thawed":
                raise CheckFailed("fsfreeze-status is not 'thawed' after boot")
    ctx.note(f"agent {info.get('version')}; sandbox {status.strip().replace(chr(10), ', ')}")


@check("fsinfo_addresses")
def check_fsinfo_addresses(ctx):
    """guest-get-fsinfo: every block mount with the QEMU command line's addresses; disks agree."""
    ctx.need_agent()
    by_serial, parts, mounts = guest_layout(ctx)
    with ctx.agent() as a:
        fsinfo = a.call("guest-get-fsinfo")
        disks = a.call("guest-get-disks")
    problems = []
    listed = [fs["mountpoint"] for fs in fsinfo]
    fs_by_mp = {fs["mountpoint"]: fs for fs in fsinfo}
    for mp in MOUNT_DISKS:
        if mp not in fs_by_mp:
            problems.append(f"{mp} is not listed")
    for mp in NOT_LISTED:
        if mp in fs_by_mp:
            problems.append(f"{mp} (tmpfs) is listed")
    if len(set(listed)) != len(listed):
        problems.append(f"a mountpoint is listed twice: {listed}")
    # reverse mount order (libvirt reverses the list to get mount order back)
    order = [m[0] for m in mounts if m[0] in fs_by_mp]
    if listed != list(reversed(order)):
        problems.append(f"not in reverse mount order:\n    listed  {listed}\n"
                        f"    mounted {order}")
    mount_info = {m[0]: m for m in mounts}
    for mp, ids in MOUNT_DISKS.items():
        fs = fs_by_mp.get(mp)
        if fs is None:
            continue
        for key in ("name", "mountpoint", "type", "disk"):
            if key not in fs:
                problems.append(f"{mp}: no {key!r} member")
        _, fstype, _, kname = mount_info[mp]
        if fs.get("name") != kname:
            problems.append(f"{mp}: name {fs.get('name')!r}, expected {kname!r}")
        if fs.get("type") != fstype:
            problems.append(f"{mp}: type {fs.get('type')!r}, expected {fstype!r}")
        exp_disks = {TOPO[i]["serial"]: expected_disk(i, by_serial, parts) for i in ids}
        got = fs.get("disk", [])
        serials = [d.get("serial") for d in got]
        if sorted(serials) != sorted(exp_disks):
            problems.append(f"{mp}: disks {serials}, expected {sorted(exp_disks)}")
        for d in got:
            if d.get("serial") in exp_disks:
                problems += compare_disk(f"{mp} {d.get('serial')}", d, exp_disks[d["serial"]])
        for key in ("used-bytes", "total-bytes"):
            if not isinstance(fs.get(key), int):
                problems.append(f"{mp}: {key} is {fs.get(key)!r}")
    # statvfs formula for one filesystem (REFERENCE.md §3)
    blocks, frsize = ctx.run("stat -f -c '%b %S' /data").split()
    if fs_by_mp.get("/data", {}).get("total-bytes-privileged") != int(blocks) * int(frsize):
        problems.append(f"/data total-bytes-privileged {fs_by_mp['/data'].get('total-bytes-privileged')}"
                        f" != f_blocks*f_frsize {int(blocks) * int(frsize)}")
    # guest-get-disks agrees
    by_name = {d["name"]: d for d in disks}
    for did, d in TOPO.items():
        node = by_serial[d["serial"]]["kname"]
        info = by_name.get(node)
        if info is None:
            problems.append(f"guest-get-disks: no {node} ({d['serial']})")
            continue
        if info.get("partition") is not False:
            problems.append(f"guest-get-disks: {node} partition={info.get('partition')}")
        exp = expected_disk(did, by_serial, parts)
        exp["dev"] = node
        problems += compare_disk(f"guest-get-disks {node}", info.get("address") or {}, exp)
        # the NVMe controller's health, and no other disk's
        smart = info.get("smart")
        if d["bus"] == "nvme" and (smart or {}).get("type") != "nvme":
            problems.append(f"guest-get-disks: {node} smart={smart}, expected the NVMe log")
        elif d["bus"] != "nvme" and smart is not None:
            problems.append(f"guest-get-disks: {node} ({d['bus']}) smart={smart}")
    data_node = by_serial["QA-DATA"]["kname"]
    for p in parts.get(data_node, []):
        info = by_name.get(p, {})
        if info.get("partition") is not True or info.get("dependencies") != [data_node]:
            problems.append(f"guest-get-disks: partition {p}: {info or 'missing'}")
    lvm_nodes = sorted(by_serial[TOPO[i]["serial"]]["kname"] for i in ("scsi23", "sata2"))
    raid_nodes = sorted(by_serial[TOPO[i]["serial"]]["kname"] for i in ("raida", "raidb"))
    lv = by_name.get(f"/dev/{mount_info['/lvm'][3]}", {})
    if lv.get("alias") != "qa--vg-span" or sorted(lv.get("dependencies") or []) != lvm_nodes:
        problems.append(f"guest-get-disks: LV {mount_info['/lvm'][3]}: {lv or 'missing'} "
                        f"(expected alias qa--vg-span, dependencies {lvm_nodes})")
    md = by_name.get(f"/dev/{mount_info['/raid'][3]}", {})
    if sorted(md.get("dependencies") or []) != raid_nodes:
        problems.append(f"guest-get-disks: MD {mount_info['/raid'][3]}: {md or 'missing'} "
                        f"(expected dependencies {raid_nodes})")
    if problems:
        raise CheckFailed("guest-get-fsinfo/guest-get-disks differ from the QEMU command line:\n  "
                          + "\n  ".join(problems))
    ctx.note("fsinfo: " + ", ".join(
        f"{fs['mountpoint']}={fs['name']}[" + " ".join(
            f"{d['bus-type']}@{d['pci-controller']['bus']:02x}:{d['pci-controller']['slot']:02x}"
            f"/{d['bus']}:{d['target']}:{d['unit']}" for d in fs["disk"]) + "]"
        for fs in fsinfo))


UDEVD_UNITS = ("systemd-udevd-control.socket systemd-udevd-kernel.socket "
               "systemd-udevd.service")


@check("fsinfo_btrfs_device_add")
def check_fsinfo_btrfs_device_add(ctx):
    """A btrfs device added between two guest-get-fsinfo calls shows in the second. With udev
    the agent keeps its device model between calls; `btrfs device add` changes no mount and the
    kernel sends no uevent for it. Here udevd's inotify watch turns the tool's close of the
    device into a "change" uevent a moment later, so udevd is stopped for the add (the devices
    are set up and processed before): the agent must see the new device without any uevent."""
    ctx.need_agent()
    mp = "/run/qa-btrfs"
    first, second = "/dev/shm/qa-btrfs-a.img", "/data/qa-btrfs-b.img"

    def disks_of(a):
        (fs,) = [fs for fs in a.call("guest-get-fsinfo") if fs["mountpoint"] == mp]
        return sorted(d.get("serial") for d in fs["disk"])

    ctx.run(f"mkdir -p {mp} && truncate -s 256M {first} {second} && "
            f"A=$(losetup -f --show {first}) && losetup -f {second} && "
            f"mkfs.btrfs -q -f $A >/dev/null && mount $A {mp} && udevadm settle")
    try:
        added = ctx.run(f"losetup -j {second} -O NAME -n").strip()
        ctx.run(f"systemctl stop {UDEVD_UNITS}")
        with ctx.agent() as a:
            # the first call builds the model, the second keeps it: no device under it yet
            # (its image is on a memory filesystem)
            before = [disks_of(a), disks_of(a)]
            seqnum = ctx.run("cat /sys/kernel/uevent_seqnum").strip()
            ctx.run(f"btrfs device add -f {added} {mp} >/dev/null")
            quiet = ctx.run("cat /sys/kernel/uevent_seqnum").strip() == seqnum
            after = disks_of(a)
        if before != [[], []] or after != ["QA-DATA"]:
            raise CheckFailed(f"disks of {mp}: {before[0]}, {before[1]}, then after adding "
                              f"{added} (on /data): {after}; expected [], [], ['QA-DATA']")
        ctx.note(f"btrfs device add {'sent no uevent' if quiet else 'sent a uevent'}; "
                 f"fsinfo followed: {after}")
    finally:
        ctx.guest.run(f"systemctl start {UDEVD_UNITS}; umount {mp}; "
                      f"for f in {first} {second}; do "
                      f"for d in $(losetup -j $f -O NAME -n); do losetup -d $d; done; "
                      f"rm -f $f; done; rmdir {mp}; udevadm settle")


@check("freeze_all")
def check_freeze_all(ctx):
    """Freeze everything: a writer on /data blocks, ping and fsinfo answer, thaw releases it."""
    ctx.need_agent()
    w = Writer(ctx, "/data/writer-all.log", "all")
    w.start()
    try:
        with ctx.agent() as a:
            names = {fs["name"] for fs in a.call("guest-get-fsinfo")}
            # /data and /bind are one filesystem: one count per superblock
            n = a.call("guest-fsfreeze-freeze", timeout=120)
            if n != len(names):
                raise CheckFailed(f"freeze froze {n} filesystems, expected {len(names)} "
                                  f"({sorted(names)})")
            w.assert_blocked()
            if a.call("guest-fsfreeze-status") != "frozen":
                raise CheckFailed("status is not 'frozen' after freeze-all")
            a.call("guest-ping")
            fsinfo = a.call("guest-get-fsinfo")
            not_frozen = [fs["mountpoint"] for fs in fsinfo if fs.get("frozen") is not True]
            if not_frozen:
                raise CheckFailed(f"fsinfo while frozen: not marked frozen: {not_frozen}")
            # the other dialect while frozen (one host at a time: QEMU's chardev socket serves
            # one connection and leaves a second one waiting in its listen queue)
            a.close()
            with ctx.agent("delimited") as b:
                b.call("guest-ping")
                if b.call("guest-fsfreeze-status") != "frozen":
                    raise CheckFailed("status is not 'frozen' for a delimited-sync host")
            a.connect()
            late = None
            try:
                a.sync()  # libvirt gives up after 5 s
            except TimeoutError:
                t0 = time.monotonic()
                a.close()
                a.wait_ready(60)
                late = (f"after a host reconnected while everything was frozen, the agent did "
                        f"not answer guest-sync within 5 s (answered "
                        f"{5 + time.monotonic() - t0:.1f}s after the reconnect)")
                say(f"   {late}")
            t = a.call("guest-fsfreeze-thaw", timeout=120)
            if t != n:
                raise CheckFailed(f"thaw returned {t}, expected {n}")
            w.wait_progress()
            if late:
                raise CheckFailed(late)
            if a.call("guest-fsfreeze-status") != "thawed":
                raise CheckFailed("status is not 'thawed' after thaw")
            if a.call("guest-fsfreeze-thaw") != 0:
                raise CheckFailed("a thaw with nothing frozen did not return 0")
    finally:
        ensure_thawed(ctx)
        w.stop()


@check("freeze_list_and_nesting")
def check_freeze_list_and_nesting(ctx):
    """freeze-list one mountpoint; freezing it again fails naming it; thaw-list thaws only it."""
    ctx.need_agent()
    w = Writer(ctx, "/data/writer-list.log", "list")
    w.start()
    try:
        with ctx.agent() as a:
            freeze_data(a)
            w.assert_blocked(2)
            if frozen_mounts(a) != ["/bind", "/data"]:
                raise CheckFailed(f"after freeze-list /data, frozen: {frozen_mounts(a)}")
            for again in (["/data"], ["/bind"], ["/nvme", "/data"]):
                try:
                    r = a.call("guest-fsfreeze-freeze-list", {"mountpoints": again})
                    raise CheckFailed(f"freeze-list {again} while /data is frozen returned {r}")
                except AgentError as e:
                    if "/data" not in e.desc and "/bind" not in e.desc:
                        raise CheckFailed(f"the error does not name the mountpoint: {e}")
                    say(f"   freeze-list {again}: {e.desc}")
                if frozen_mounts(a) != ["/bind", "/data"]:
                    raise CheckFailed(f"a refused freeze-list {again} changed the frozen set: "
                                      f"{frozen_mounts(a)}")
            for bad in (["/data/sub"], ["/no/such/dir"], ["/scratch"]):
                try:
                    r = a.call("guest-fsfreeze-freeze-list", {"mountpoints": bad})
                    raise CheckFailed(f"freeze-list {bad} returned {r}")
                except AgentError as e:
                    if bad[0] not in e.desc:
                        raise CheckFailed(f"the error for {bad} does not name it: {e}")
            if a.call("guest-fsfreeze-freeze-list", {"mountpoints": ["/nvme"]}) != 1:
                raise CheckFailed("freeze-list /nvme (independent of /data) did not return 1")
            if frozen_mounts(a) != ["/bind", "/data", "/nvme"]:
                raise CheckFailed(f"frozen: {frozen_mounts(a)}")
            if a.call("guest-fsfreeze-thaw", {"mountpoints": ["/data"]}) != 1:
                raise CheckFailed("thaw-list /data did not return 1")
            w.wait_progress()
            if frozen_mounts(a) != ["/nvme"] or a.call("guest-fsfreeze-status") != "frozen":
                raise CheckFailed(f"after thaw-list /data, frozen: {frozen_mounts(a)}")
            try:
                a.call("guest-fsfreeze-thaw", {"mountpoints": ["/data"]})
                raise CheckFailed("thaw-list of a thawed mountpoint succeeded")
            except AgentError as e:
                say(f"   thaw-list /data again: {e.desc}")
            if a.call("guest-fsfreeze-thaw") != 1 or a.call("guest-fsfreeze-status") != "thawed":
                raise CheckFailed("the final thaw did not thaw /nvme")
    finally:
        ensure_thawed(ctx)
        w.stop()


@check("freeze_by_disk")
def check_freeze_by_disk(ctx):
    """Freeze by disk for each controller type, named by serial and by the address exactly as
    guest-get-fsinfo reported it: what lives on the disk is frozen (a writer there blocks, one
    elsewhere does not), nothing else is, the report says what each disk caught and which
    filesystem also lives on a disk not named, and a thaw by the same disk thaws it."""
    ctx.need_agent()
    problems = []
    with ctx.agent() as a:
        fsinfo = a.call("guest-get-fsinfo")
    reported = {d["serial"]: d for fs in fsinfo for d in fs["disk"] if d.get("serial")}
    for disk in vm.TOPOLOGY:
        mounts = sorted(mp for mp, ids in MOUNT_DISKS.items() if disk["id"] in ids)
        if disk["id"] == "root" or not mounts or disk["serial"] not in reported:
            continue
        names = {fs["name"] for fs in fsinfo if fs["mountpoint"] in mounts}
        elsewhere = "/hba" if "/hba" not in mounts else "/nvme"
        for kind, selector in (("serial", {"serial": disk["serial"]}),
                               ("address", reported[disk["serial"]])):
            where = f"{disk['id']} by {kind}"
            # writers for the serial round only: the address round checks the same freeze
            writers = []
            if kind == "serial":
                writers = [Writer(ctx, f"{mounts[0]}/writer-disk.log", f"in-{disk['id']}"),
                           Writer(ctx, f"{elsewhere}/writer-disk.log", f"out-{disk['id']}")]
            try:
                with ctx.agent() as a:
                    for w in writers:
                        w.start()
                    n = a.call("guest-fsfreeze-freeze-list", {"disks": [selector]}, timeout=120)
                    if n != len(names):
                        problems.append(f"{where}: froze {n}, expected {len(names)} ({mounts})")
                    if frozen_mounts(a) != mounts:
                        problems.append(f"{where}: frozen {frozen_mounts(a)}, expected {mounts}")
                    if writers:
                        writers[0].assert_blocked()
                        writers[1].wait_progress(what="a freeze of another disk")
                    call = a.call("guest-fsfreeze-get-report")["last-freeze"]
                    caught = sorted(call["disks"][0]["mountpoints"])
                    if not set(caught) <= set(mounts) or not caught:
                        problems.append(f"{where}: the report says it caught {caught}")
                    others = {d.get("serial") for fs in call["filesystems"]
                              for d in fs.get("other-disks", [])}
                    partners = {TOPO[i]["serial"] for mp in mounts for i in MOUNT_DISKS[mp]
                                if i != disk["id"]}
                    if others != partners:
                        problems.append(f"{where}: other disks {sorted(others)}, expected "
                                        f"{sorted(partners)}")
                    t = a.call("guest-fsfreeze-thaw", {"disks": [selector]}, timeout=120)
                    if t != n or a.call("guest-fsfreeze-status") != "thawed":
                        problems.append(f"{where}: thaw by disk returned {t} of {n}")
                    if writers:
                        writers[0].wait_progress()
                say(f"   {where}: froze {n} ({', '.join(mounts)})")
            except (CheckFailed, AgentError) as e:
                problems.append(f"{where}: {e}")
            finally:
                ensure_thawed(ctx)
                for w in writers:
                    w.stop()
    if problems:
        raise CheckFailed("freezing by disk:\n  " + "\n  ".join(problems))


@check("reconnect")
def check_reconnect(ctx):
    """The host goes away and comes back, idle and while frozen: no partial request and no reply
    the agent makes after the hang-up crosses over to the next host (one that connects after the
    agent's grace of 250 ms: within it, the port cannot tell a new host from the departed one,
    see proxmox_per_connection).

    Replies the guest wrote before QEMU noticed the host's close are another matter: QEMU's
    virtio-console keeps what its chardev could not write and flushes it to the next client.
    Those bytes have left the guest, so no guest agent can take them back (qemu-ga shows the same
    below); clients skip them by syncing, as libvirt does. They are measured, not asserted.
    Likewise, bytes a host writes in the instant before it closes may reach the guest only after
    the next host has connected; the partial request below is sent half a second before the
    close, so that it reaches the agent while its host is still there."""
    ctx.need_agent()
    g = ctx.guest
    problems = []
    unit = ctx.agent_unit
    dropin = f"/etc/systemd/system/{unit}.d/qa-slow-hook.conf"
    hook = "/usr/local/sbin/qa-slow-hook"
    try:
        # verbose, so a failure comes with the agent's view of every connect and disconnect;
        # a freeze hook that takes 4 s, for a reply that is made after its host has gone
        g.put(b'#!/bin/sh\n[ "$1" = freeze ] && sleep 4\nexit 0\n', hook)
        ctx.run(f"chown root:root {hook} && chmod 0755 {hook}")
        g.put(f"[Service]\nExecStart=\nExecStart={ctx.agent_bin} -v -F {hook}\n".encode(),
              dropin)
        old = agent_pid(ctx)
        ctx.run(f"systemctl daemon-reload && systemctl restart {unit}")
        wait_new_pid(ctx, old)
        for mode in ("libvirt", "delimited"):
            # idle: connect, sync, close, reconnect, sync
            a = ctx.agent(mode)
            a.call("guest-ping")
            a.close()
            a.connect()
            a.sync()
            a.call("guest-ping")
            # a partial request of the old host must not be glued to the new host's first
            # one: libvirt's plain guest-sync (no 0xFF) would then never be answered
            a.send_raw(b'{"execute":"guest-sync","argu')
            time.sleep(0.5)
            a.close()
            time.sleep(1)
            a.connect()
            try:
                a.sync(timeout=10)
            except Exception as e:  # noqa: BLE001 - reported below
                problems.append(f"{mode}: no answer to the sync after a partial request and a "
                                f"reconnect ({e!r})")
                a.close()
                a.connect()
                a.sync(timeout=30)
            # measured only: replies written before QEMU saw the close (see the docstring)
            for i in range(20):
                a.send({"execute": "guest-get-fsinfo", "id": f"stale-{mode}-{i}"})
            a.close()
            time.sleep(1)
            mark = len(a.transcript)
            a.connect()
            a.sync(timeout=10)
            a.read_lines_for(2)
            received = b"".join(data for d, data in a.transcript[mark:] if d == "<")
            n = len(set(re.findall(rb"stale-[a-z]+-\d+", received)))
            ctx.note(f"reconnect ({mode}): QEMU delivered {n} of 20 replies written before it "
                     f"noticed the close ({len(received)} bytes) to the next host")
            # the host leaves while the freeze it asked for is in its hook; the agent sees the
            # hang-up seconds before the freeze ends and must drop the reply
            a.send({"execute": "guest-fsfreeze-freeze-list",
                    "arguments": {"mountpoints": ["/data"]}, "id": f"late-{mode}"})
            time.sleep(1)
            a.close()
            time.sleep(6)
            mark = len(a.transcript)
            a.connect()
            a.sync(timeout=10)
            a.read_lines_for(2)
            received = b"".join(data for d, data in a.transcript[mark:] if d == "<")
            if f"late-{mode}".encode() in received:
                problems.append(f"{mode}: the reply to a freeze whose host had left reached the "
                                f"next host: {received[:200]!r}")
            if a.call("guest-fsfreeze-status") != "frozen":
                problems.append(f"{mode}: the freeze of a departed host did not happen")
            if a.call("guest-fsfreeze-thaw") != 1:
                problems.append(f"{mode}: thawing the departed host's freeze did not return 1")
            a.close()
        if problems:
            problems.append(ctx.run(f"journalctl -b --no-pager -u {unit} | tail -60"))
    finally:
        ensure_thawed(ctx)
        try:
            old = agent_pid(ctx)
            g.run(f"rm -f {dropin} {hook}; systemctl daemon-reload; systemctl restart {unit}",
                  timeout=60)
            wait_new_pid(ctx, old)
        except (vm.GuestError, CheckFailed) as e:
            say(f"   (restoring the unit failed: {e})")
    # the same with Debian's qemu-ga on the second port, for comparison only (no assertion):
    # stale replies there too point at QEMU's chardev or the guest's virtio console, not the agent
    try:
        g.start_qemu_ga()
        q = AgentConn(g.compare_socket, timeout=60)
        q.wait_ready(60)
        for i in range(20):
            q.send({"execute": "guest-get-fsinfo", "id": f"stale-qga-{i}"})
        q.close()
        time.sleep(1)
        mark = len(q.transcript)
        q.connect()
        q.wait_ready(30)
        q.read_lines_for(3)
        got = b"".join(data for d, data in q.transcript[mark:] if d == "<")
        q.close()
        n = len(set(re.findall(rb"stale-qga-\d+", got)))
        ctx.note(f"reconnect, for comparison: qemu-ga delivered {n} of 20 stale replies "
                 f"({len(got)} bytes) to the next host")
    except Exception as e:  # noqa: BLE001 - comparison only
        say(f"   (qemu-ga comparison failed: {e})")
    finally:
        g.stop_service(vm.QGA_COMPARE_UNIT)
    # back to back: each next host connects before the previous one has closed (it waits in
    # the chardev's listen queue and is taken the moment the old connection ends), as tools that
    # open one connection per command do. The guest's driver then reports the hang-up and the
    # new host together, and every new host must be answered at once, not after yet another
    # reconnect.
    unanswered = []
    prev = ctx.agent()
    for i in range(12):
        nxt = AgentConn(g.agent_socket, timeout=30)
        prev.close()
        try:
            nxt.sync(timeout=10)
        except Exception as e:  # noqa: BLE001 - reported below
            unanswered.append(f"{i} ({e!r})")
            nxt.close()
            nxt.connect()
            nxt.sync(timeout=30)
        prev = nxt
    prev.close()
    if unanswered:
        problems.append("hosts that connected while the previous one was closing got no answer: "
                        + ", ".join(unanswered)
                        + "\n" + ctx.run(f"journalctl -b --no-pager -u {unit} | tail -40"))
    # while frozen
    try:
        a = ctx.agent()
        freeze_data(a)
        a.close()
        time.sleep(1)
        b = ctx.agent("delimited")
        if b.call("guest-fsfreeze-status") != "frozen":
            raise CheckFailed("after reconnecting while frozen, status is not 'frozen'")
        b.close()
        a.connect()
        a.sync()
        if a.call("guest-fsfreeze-thaw") != 1:
            raise CheckFailed("thaw after reconnecting did not return 1")
        a.close()
    finally:
        ensure_thawed(ctx)
    if problems:
        raise CheckFailed("\n".join(problems))


IDLE_CPU_S, IDLE_WAKEUPS = 0.5, 50  # bounds for an agent with nothing to do, over 10 s


def assert_idle(ctx, pid, what, seconds=10):
    """The guest process `pid` sleeps: its CPU time (utime+stime, reaped threads included) and
    voluntary context switches (summed over the threads alive at both ends of the window) over
    `seconds` stay under IDLE_CPU_S and IDLE_WAKEUPS. Records the numbers as a note."""
    snap = (f"p={pid}; sed 's/.*) //' /proc/$p/stat | awk '{{print \"cpu\", $12 + $13}}'; "
            "for t in /proc/$p/task/*; do echo \"tid ${t##*/} "
            "$(awk '/^voluntary_ctxt_switches/ {print $2}' $t/status)\"; done")
    out = ctx.run(f"{snap}; echo ==; sleep {seconds}; {snap}; echo hz $(getconf CLK_TCK)",
                  timeout=seconds + 50)
    before, after = out.split("==")

    def parse(text):
        cpu = int(re.search(r"^cpu (\d+)", text, re.M).group(1))
        return cpu, {tid: int(v) for tid, v in re.findall(r"^tid (\d+) (\d+)", text, re.M)}
    c0, t0 = parse(before)
    c1, t1 = parse(after)
    hz = int(re.search(r"^hz (\d+)", after, re.M).group(1))
    cpu = (c1 - c0) / hz
    wakeups = sum(t1[tid] - t0[tid] for tid in t1 if tid in t0)
    if set(t0) != set(t1):
        say(f"   threads changed during the window: {sorted(t0)} -> {sorted(t1)}")
    ctx.note(f"{what}: agent CPU {cpu:.2f}s and {wakeups} voluntary context switches "
             f"in {seconds}s ({len(t1)} threads)")
    if cpu >= IDLE_CPU_S or wakeups >= IDLE_WAKEUPS:
        raise CheckFailed(f"the agent is not idle ({what}): CPU {cpu:.2f}s, "
                          f"{wakeups} wake-ups in {seconds}s")


@check("idle_no_spin")
def check_idle_no_spin(ctx):
    """With no host connected the agent sleeps: CPU time and wake-ups over 10 s."""
    ctx.need_agent()
    # no host connection is open here (every check closes its own)
    assert_idle(ctx, agent_pid(ctx), "idle, no host")


def data_partition_offset(image):
    """Byte offset of partition 1 of a GPT disk image (512-byte sectors), read on the host."""
    import struct
    with open(image, "rb") as f:
        f.seek(512)
        hdr = f.read(92)
        if hdr[:8] != b"EFI PART":
            raise CheckFailed(f"{image}: no GPT header")
        entries_lba = struct.unpack_from("<Q", hdr, 72)[0]
        f.seek(entries_lba * 512)
        entry = f.read(128)
    return struct.unpack_from("<Q", entry, 32)[0] * 512


def debugfs_cat(image, offset, path):
    """A file's content from an ext4 image at `offset`, read on the host without mounting."""
    res = subprocess.run(["debugfs", "-R", f"cat {path}", f"{image}?offset={offset}"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return res.stdout


def e2fsck_clean(image, offset):
    """e2fsck -fn on a copy of the partition: 0 = the snapshot is a clean filesystem."""
    with tempfile.NamedTemporaryFile(dir=os.path.dirname(image), suffix=".ext4") as part:
        subprocess.run(["dd", f"if={image}", f"of={part.name}", "bs=1M", "conv=sparse",
                        f"skip={offset // (1 << 20)}", "status=none"], check=True)
        res = subprocess.run(["e2fsck", "-fn", part.name], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        return res.returncode, res.stdout


@check("snapshot_contains_data")
def check_snapshot_contains_data(ctx):
    """A host-side copy of the data disk made while /data is frozen holds what was written."""
    ctx.need_agent()
    g = ctx.guest
    token = os.urandom(8).hex()
    synced = f"synced {token}\n" * 4096        # written, then sync(1)
    unsynced = f"unsynced {token}\n" * 4096    # written just before the freeze, no sync
    ctx.run(f"mkdir -p {RUNDIR}; yes 'synced {token}' | head -n 4096 >/data/snap-synced; sync; "
            f"yes 'unsynced {token}' | head -n 4096 >/data/snap-unsynced")
    disk = g.disk_path(TOPO["data"])
    snap = g.path("snapshot-data.raw")
    try:
        with ctx.agent() as a:
            freeze_data(a)
            try:
                # raw with cache=writeback: QEMU writes through to the file (the host's page
                # cache) and keeps no data of its own, so the file is the guest's disk
                t0 = time.monotonic()
                subprocess.run(["cp", "--sparse=always", disk, snap], check=True)
                copy_s = time.monotonic() - t0
            finally:
                t = a.call("guest-fsfreeze-thaw", {"mountpoints": ["/data"]})
            if t != 1:
                raise CheckFailed(f"thaw-list /data returned {t}")
        off = data_partition_offset(snap)
        problems = []
        for name, want in (("snap-synced", synced), ("snap-unsynced", unsynced)):
            got = debugfs_cat(snap, off, f"/{name}").decode(errors="replace")
            if got != want:
                problems.append(f"/data/{name}: {len(got)} bytes in the snapshot, "
                                f"{len(want)} written (starts {got[:40]!r})")
        rc, fsck = e2fsck_clean(snap, off)
        if rc != 0:
            problems.append(f"e2fsck -fn of the snapshot exited {rc}:\n{fsck[-800:]}")
        if problems:
            raise CheckFailed("the snapshot taken while frozen is incomplete:\n  "
                              + "\n  ".join(problems))
        ctx.note(f"snapshot: copied the data disk in {copy_s:.1f}s while frozen; both files "
                 f"intact, e2fsck -fn clean")
    finally:
        ensure_thawed(ctx)
        if os.path.exists(snap):
            os.unlink(snap)


# ---- destructive checks: they kill or reconfigure the agent ---------------------------------

@check("sigkill_while_frozen")
def check_sigkill_while_frozen(ctx):
    """SIGKILL while /data is frozen: systemd restarts the agent, which reports and thaws it."""
    ctx.need_agent()
    w = Writer(ctx, "/data/writer-kill.log", "kill")
    w.start()
    try:
        with ctx.agent() as a:
            freeze_data(a)
        w.assert_blocked(2)
        old = agent_pid(ctx)
        ctx.run(f"kill -9 {old}")
        t0 = time.monotonic()
        new = wait_new_pid(ctx, old)
        with ctx.agent() as a:
            ctx.note(f"SIGKILLed agent {old} replaced by {new} after "
                     f"{time.monotonic() - t0:.1f}s")
            if a.call("guest-fsfreeze-status") != "frozen":
                raise CheckFailed("the restarted agent does not report 'frozen'")
            if frozen_mounts(a) != ["/bind", "/data"]:
                raise CheckFailed(f"the restarted agent holds {frozen_mounts(a)} frozen")
            w.assert_blocked(1)
            t = a.call("guest-fsfreeze-thaw")
            if t != 1:
                raise CheckFailed(f"thaw after restart returned {t}")
        w.wait_progress()
    finally:
        ensure_thawed(ctx)
        w.stop()


def remove_dropin(ctx, dropin):
    """Removes a check's drop-in of the agent's unit and restarts the agent without it; a
    failure is reported, not raised (it runs in a check's finally)."""
    try:
        old = agent_pid(ctx)
        ctx.guest.run(f"rm -f {dropin}; systemctl daemon-reload; "
                      f"systemctl restart {ctx.agent_unit}", timeout=60)
        wait_new_pid(ctx, old)
    except (vm.GuestError, CheckFailed) as e:
        say(f"   (restoring the unit failed: {e})")


# The timeout runs from before the first FIFREEZE (a FIFREEZE that never returns holds writers
# too), and a FIFREEZE under TCG on a loaded host has taken over 3 s: the check needs the
# writer seen blocked for a second after the reply, so the timeout leaves room for both.
AUTO_THAW_S = 15


@check("auto_thaw")
def check_auto_thaw(ctx):
    """With a short fsfreeze-timeout and the host gone, the agent thaws by itself and says so."""
    ctx.need_agent()
    unit = ctx.agent_unit
    dropin_dir = f"/etc/systemd/system/{unit}.d"
    dropin = f"{dropin_dir}/qa-auto-thaw.conf"
    w = Writer(ctx, "/data/writer-auto.log", "auto")
    try:
        # the command-line option overrides the config file's fsfreeze-timeout=600
        g = ctx.guest
        g.put(f"[Service]\nExecStart=\nExecStart={ctx.agent_bin} "
              f"--fsfreeze-timeout={AUTO_THAW_S}\n".encode(), dropin)
        old = agent_pid(ctx)
        ctx.run(f"systemctl daemon-reload && systemctl restart {unit}")
        wait_new_pid(ctx, old)
        w.start()
        t_freeze = time.monotonic()
        with ctx.agent() as a:
            freeze_data(a)
        ctx.note(f"the freeze took {time.monotonic() - t_freeze:.1f}s of the {AUTO_THAW_S}s")
        # the host is gone now (connection closed, nothing sends a thaw)
        w.assert_blocked(1)
        t0 = time.monotonic()
        w.wait_progress(timeout=AUTO_THAW_S + 40, what="the auto-thaw timeout")
        ctx.note(f"auto-thaw released the writer {time.monotonic() - t0:.1f}s after "
                 f"disconnecting (timeout {AUTO_THAW_S}s)")
        with ctx.agent() as a:
            if a.call("guest-fsfreeze-status") != "thawed":
                raise CheckFailed("status is not 'thawed' after the auto-thaw")
            try:
                r = a.call("guest-fsfreeze-thaw")
                raise CheckFailed(f"the thaw after an auto-thaw returned {r}, not an error")
            except AgentError as e:
                if "automatically" not in e.desc:
                    raise CheckFailed(f"the thaw after an auto-thaw: unexpected error {e}")
                say(f"   thaw after auto-thaw: {e.desc}")
            # the error is reported once; afterwards thaw is back to normal
            r = a.call("guest-fsfreeze-thaw")
            if r != 0:
                raise CheckFailed(f"the second thaw after an auto-thaw returned {r}")
        journal = ctx.run(f"journalctl -b --no-pager -u {unit} | tail -20")
        if not re.search(r"automatic|auto-thaw|thaw\S* within", journal, re.I):
            raise CheckFailed(f"the journal does not mention the auto-thaw:\n{journal}")
    finally:
        ensure_thawed(ctx)
        w.stop()
        remove_dropin(ctx, dropin)


# ---- side by side with Debian's qemu-guest-agent ---------------------------------------------

def fs_rows(fsinfo):
    rows = {}
    for fs in fsinfo:
        disks = []
        for d in fs.get("disk", []):
            p = d.get("pci-controller", {})
            disks.append(f"{d.get('bus-type')} {p.get('bus', -1):02x}:{p.get('slot', -1):02x}."
                         f"{p.get('function', -1)} {d.get('bus')}:{d.get('target')}:"
                         f"{d.get('unit')} {d.get('serial', '-')} {d.get('dev', '-')}")
        rows[fs["mountpoint"]] = (fs.get("name"), fs.get("type"), sorted(disks))
    return rows


@check("compare_qga")
def check_compare_qga(ctx):
    """Debian's qemu-guest-agent on org.qemu.guest_agent.1: the same fsinfo report, side by side."""
    ctx.need_agent()
    g = ctx.guest
    g.start_qemu_ga()
    try:
        qga = AgentConn(g.compare_socket, timeout=120)
        try:
            qga.wait_ready(60)
            theirs = qga.call("guest-get-fsinfo")
            version = qga.call("guest-info")["version"]
        finally:
            qga.close()
        with ctx.agent() as a:
            ours = a.call("guest-get-fsinfo")
    finally:
        g.stop_service(vm.QGA_COMPARE_UNIT)
    a_rows, b_rows = fs_rows(ours), fs_rows(theirs)
    lines = [f"guest-get-fsinfo, quiesce-agent vs qemu-ga {version} (disk: bus-type pci "
             "bus:target:unit serial dev)"]
    for mp in list(a_rows) + [m for m in b_rows if m not in a_rows]:
        a_r, b_r = a_rows.get(mp), b_rows.get(mp)
        same = "=" if a_r == b_r else "≠"
        lines.append(f" {same} {mp}")
        lines.append(f"     quiesce-agent: {a_r[0] + ' ' + a_r[1] if a_r else '(not listed)'}"
                     + "".join(f"\n         {d}" for d in (a_r[2] if a_r else [])))
        lines.append(f"     qemu-ga:       {b_r[0] + ' ' + b_r[1] if b_r else '(not listed)'}"
                     + "".join(f"\n         {d}" for d in (b_r[2] if b_r else [])))
    say("\n".join(lines))
    out = getattr(ctx.args, "compare_qga", None)
    if out:
        with open(out, "w") as f:
            json.dump({"quiesce-agent": ours, "qemu-ga": theirs, "qemu-ga-version": version},
                      f, indent=1)
        say(f"   both replies written to {out}")
    if not theirs:
        raise CheckFailed("qemu-ga returned no filesystems")


# ---- the command families: what the guest really has, and helpers shared with libvirt ----------

# The ten commands KubeVirt requires, present and enabled (virt-handler's isGuestAgentSupported).
KUBEVIRT_REQUIRED = ["guest-ping", "guest-get-time", "guest-info", "guest-shutdown",
                     "guest-network-get-interfaces", "guest-get-fsinfo", "guest-get-host-name",
                     "guest-get-users", "guest-get-timezone", "guest-get-osinfo"]
# Addresses the checks give the test NIC (guest.NIC_MAC): documentation ranges, RFC 5737/3849.
NET4 = ("192.0.2.10", 24, "192.0.2.1")
NET6 = ("2001:db8:51::10", 64, "2001:db8:51::1")
LOGIN_USER = "qa-login"  # logged in on a pseudo-terminal while the read-only commands run
# Public keys made with ssh-keygen -t ed25519 for these tests (their private halves are gone).
SSH_KEYS = [
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICCrLMscCCVgkhCFY8kHe9DmMhjoXEZBWQlJ4pCWJUey"
    " qa-key-1@host",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICr59VGwWsRlvklgvs0FPbDJ34Qpk2+4SU0GVRqT8fuu"
    " qa-key-2@host",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA57Z7L0ice+quYMYBF04o5YDTAmaGIuWMC/lavlPLJC"
    " qa-key-3@host",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ0DEQSgAT1U4AdfxyJ7GW5Oms8oljYBADJvO7LZz/nC"
    " qa-key-4@host",
]
# crypt(3) hashes stored as they are by a crypted set-user-password (openssl passwd -6).
CRYPTED = [
    "$6$QaSaltCrypted01$4zwLZxDeNUxmJOpbMKgOJjTqq3pgNETlpMqqkTcLVTqSSoJ/1U/L6ePGWPKGOczoNwOauu5L"
    "bWLwpbRPFbgLh.",
    "$6$QaSaltCrypted02$J8O6Vo8OW/utRH2ltIRME09iPOq6vp7R1dbWK7pe.Vt6bwoMOW.7s9SydF1JVqPf6ujh8bNg"
    "kyyfLopgkfIIJ0",
]
CLOCK_TOLERANCE = 5.0  # seconds between what the agent or virsh reports and the host's clock


def b64(data):
    """base64 as libvirt (g_base64_encode) and KubeVirt send it: one line."""
    return base64.b64encode(data).decode()


def b64_perl(data):
    """base64 as Proxmox sends passwords and file contents (Perl's encode_base64($x)): a
    newline after every 76 characters and at the end."""
    return base64.encodebytes(data).decode()


class Steps:
    """The parts of a check that go on after one fails, so that one run shows everything that
    is missing (a command family that has not landed fails its part with the agent's "... is
    not implemented yet" text). Each part is printed with its time; finish() fails the check
    if any part failed."""

    def __init__(self):
        self.failed = []

    @contextlib.contextmanager
    def step(self, name):
        t0 = time.monotonic()
        try:
            yield
        except Exception as e:  # noqa: BLE001 - every failure of a part is that part's
            text = str(e) if isinstance(e, (CheckFailed, AgentError, vm.GuestError)) else \
                f"{type(e).__name__}: {e}"
            self.failed.append(f"{name}: {text}")
            say(f"   FAIL {name} ({time.monotonic() - t0:.1f}s): {text}")
        else:
            say(f"   ok   {name} ({time.monotonic() - t0:.1f}s)")

    def finish(self):
        if self.failed:
            raise CheckFailed(f"{len(self.failed)} part(s) failed:\n  " + "\n  ".join(self.failed))


def expect_error(fn, what):
    """fn() must fail with the agent's GenericError; returns its text."""
    try:
        got = fn()
    except AgentError as e:
        if e.cls != "GenericError":
            raise CheckFailed(f"{what}: error class {e.cls}, expected GenericError ({e.desc})")
        if "not implemented yet" in e.desc:
            raise CheckFailed(f"{what}: {e.desc}") from None
        return e.desc
    raise CheckFailed(f"{what}: succeeded ({got!r}), expected an error")


def nic_name(ctx):
    for link in json.loads(ctx.run("ip -j link show")):
        if link.get("address") == vm.NIC_MAC:
            return link["ifname"]
    raise CheckFailed(f"no network interface with MAC {vm.NIC_MAC} in the guest")


def net_up(ctx):
    """The test NIC up with NET4 and NET6 and default routes through their gateways (the guest
    configures no network itself); returns its name once no address is tentative any more."""
    dev = nic_name(ctx)
    a4, p4, gw4 = NET4
    a6, p6, gw6 = NET6
    ctx.run(f"ip link set {dev} up && ip addr replace {a4}/{p4} dev {dev} && "
            f"ip -6 addr replace {a6}/{p6} dev {dev} nodad && "
            f"ip route replace default via {gw4} dev {dev} && "
            f"ip -6 route replace default via {gw6} dev {dev} && "
            f"for i in $(seq 100); do [ -z \"$(ip -6 addr show dev {dev} tentative)\" ] && "
            f"[ -n \"$(ip -6 addr show dev {dev} scope link)\" ] && exit 0; sleep 0.1; done; "
            f"ip addr show dev {dev}; exit 1")
    return dev


def net_down(ctx):
    try:
        dev = nic_name(ctx)
        ctx.guest.run(f"ip addr flush dev {dev}; ip -6 route flush dev {dev}; "
                      f"ip link set {dev} down", timeout=60)
    except (CheckFailed, vm.GuestError) as e:
        say(f"   (taking the test NIC down: {e})")


def guest_interfaces(ctx):
    """The guest's own view (ip -j addr): {name: (MAC, {(address, "ipv4"|"ipv6", prefix)})}."""
    out = {}
    for link in json.loads(ctx.run("ip -j addr show")):
        addrs = {(a["local"], "ipv4" if a["family"] == "inet" else "ipv6", a["prefixlen"])
                 for a in link.get("addr_info", []) if a.get("family") in ("inet", "inet6")}
        out[link["ifname"]] = (link.get("address"), addrs)
    return out


def agent_interfaces(reply):
    """guest-network-get-interfaces in guest_interfaces()'s form (name:alias merged, as libvirt
    does)."""
    out = {}
    for nic in reply:
        name = nic["name"].split(":")[0]
        mac, addrs = out.get(name, (None, set()))
        addrs = addrs | {(a["ip-address"], a["ip-address-type"], a["prefix"])
                         for a in nic.get("ip-addresses", [])}
        out[name] = (mac or nic.get("hardware-address"), addrs)
    return out


def interfaces_text(ifs):
    return "; ".join(f"{n} {m} " + ",".join(f"{a}/{p}" for a, _, p in sorted(s))
                     for n, (m, s) in sorted(ifs.items()))


def make_user(ctx, name):
    """A throwaway local user with its home under RUNDIR (any earlier one of that name goes)."""
    home = f"{RUNDIR}/home-{name}"
    ctx.run(f"mkdir -p {RUNDIR}; userdel -f -r {name} >/dev/null 2>&1; rm -rf {home}; "
            f"useradd -m -d {home} -s /bin/bash {name}")
    return home


def drop_user(ctx, name):
    try:
        ctx.guest.run(f"pkill -KILL -u {name}; sleep 0.2; userdel -f -r {name}; "
                      f"rm -rf {RUNDIR}/home-{name}", timeout=60)
    except vm.GuestError as e:
        say(f"   (deleting user {name}: {e})")


def shadow_hash(ctx, name):
    return ctx.run(f"getent shadow {name} | cut -d: -f2").strip()


def password_matches(ctx, hashed, password):
    """Whether crypt(password, hashed) == hashed, computed in the guest (libcrypt, through
    python3's crypt module): a password check without su or PAM."""
    out = ctx.run("python3 -W ignore -c 'import crypt, sys; "
                  "print(crypt.crypt(sys.argv[2], sys.argv[1]) == sys.argv[1])' "
                  f"{shlex.quote(hashed)} {shlex.quote(password)}")
    return out.strip() == "True"


def start_login(ctx, user):
    """`user` logs in on a pseudo-terminal: `login -f` under script(1) writes the utmp
    USER_PROCESS record that a console or ssh login writes (what guest-get-users reads). The
    session's input is a pipe that never delivers anything."""
    make_user(ctx, user)
    ctx.run(f"setsid -f sh -c 'echo $$ >{RUNDIR}/login-{user}.sid; "
            f"sleep 3600 | script -qfec \"login -f {user}\" /dev/null' "
            f"</dev/null >/dev/null 2>&1; for i in $(seq 150); do "
            f"who | grep -q '^{user} ' && exit 0; sleep 0.2; done; who; exit 1")


def end_login(ctx, user):
    """End the session (the outer one of script(1), the pty's), drop its utmp record (a login on
    a pty leaves it: the logout record is the terminal owner's to write, and script(1) writes
    none) and delete the user. (No `pkill -f`: it would match the runner's own command line.)"""
    try:
        rc, out = ctx.guest.run(
            f"for t in $(who | awk '$1 == \"{user}\" {{print $2}}'); do pkill -KILL -t $t; done; "
            f"[ -s {RUNDIR}/login-{user}.sid ] && pkill -KILL -s $(cat {RUNDIR}/login-{user}.sid); "
            f"pkill -KILL -u {user}; rm -f {RUNDIR}/login-{user}.sid; sleep 0.3; "
            f"utmpdump /run/utmp >{RUNDIR}/utmp.txt 2>/dev/null && "
            f"grep -v '^\\[7\\] \\[[0-9 ]*\\] \\[[^]]*\\] \\[{user} *\\]' {RUNDIR}/utmp.txt | "
            f"utmpdump -r -o /run/utmp 2>/dev/null; rm -f {RUNDIR}/utmp.txt; "
            f"! who | grep '^{user} '", timeout=60)
    except vm.GuestError as e:
        say(f"   (ending the login of {user}: {e})")
    else:
        if rc != 0:
            say(f"   (the login of {user} is still in utmp: {out.strip()})")
    drop_user(ctx, user)


def guest_clock_ns(ctx):
    return int(ctx.run("date +%s%N").strip())


def check_clock(what, got_ns, before_ns, after_ns, offset_s=0.0, tol=CLOCK_TOLERANCE):
    """got_ns (a guest clock read between the host's before_ns and after_ns) must be the host's
    clock + offset_s within tol seconds; returns the difference in seconds."""
    lo = before_ns / 1e9 + offset_s - tol
    hi = after_ns / 1e9 + offset_s + tol
    got = got_ns / 1e9
    if not lo <= got <= hi:
        raise CheckFailed(f"{what}: {got:.3f}, expected host clock {offset_s:+.0f}s "
                          f"({lo + tol:.3f}..{hi - tol:.3f}) within {tol}s")
    return got - (before_ns + after_ns) / 2e9 - offset_s


def restore_guest_clock(ctx):
    """The guest's clock and RTC from the host's clock (date -s, hwclock -w), whatever a check
    did to them."""
    try:
        ctx.guest.run(f"date -u -s @{time.time() + 0.5:.3f} >/dev/null && hwclock -w -u",
                      timeout=60)
    except vm.GuestError as e:
        say(f"   (restoring the guest's clock: {e})")


def rtc_seconds(ctx):
    return int(ctx.run("cat /sys/class/rtc/rtc0/since_epoch").strip())


# ---- side by side with Debian's qemu-guest-agent, every read-only command -------------------

# (command, identity key of list entries by path) for every read-only Linux command. Paths are
# "" for the reply and ".key" for nested members; entries of lists of objects are paired by the
# identity key, else by position.
READ_ONLY = [
    ("guest-ping", {}),
    ("guest-info", {".supported_commands": "name"}),
    ("guest-get-time", {}),
    ("guest-get-host-name", {}),
    ("guest-get-osinfo", {}),
    ("guest-get-timezone", {}),
    ("guest-get-users", {"": "user"}),
    ("guest-get-load", {}),
    ("guest-network-get-interfaces", {"": "name", ".ip-addresses": "ip-address"}),
    ("guest-network-get-route", {}),
    ("guest-get-vcpus", {"": "logical-id"}),
    ("guest-get-memory-blocks", {"": "phys-index"}),
    ("guest-get-memory-block-info", {}),
    ("guest-get-cpustats", {"": "cpu"}),
    ("guest-get-diskstats", {"": "name"}),
    ("guest-get-fsinfo", {"": "mountpoint", ".disk": "dev"}),
    ("guest-get-disks", {"": "name"}),
    ("guest-fsfreeze-status", {}),
]
# Commands qemu-ga 7.2 (Debian 12) does not have: checked for shape against the guest instead.
QGA72_LACKS = {"guest-get-load": "QEMU 10.0", "guest-network-get-route": "QEMU 9.1"}
# Members that may be ours only or qemu-ga's only, and why: added by QEMU after 7.2, or a
# difference our schema (qapi-schema/quiesce-agent.json) declares.
KNOWN_MEMBERS = {
    ("guest-get-fsinfo", "total-bytes-privileged"): "ours only: QEMU 9.1",
    ("guest-get-fsinfo", "frozen"): "ours only: the schema's 'extension' feature",
}
# Commands qemu-ga 7.2 lists that QEMU 10.2 no longer has on Linux.
QGA72_ONLY = {"guest-get-devices": "Windows only in QEMU 10.2's schema"}
# Whose per-entry members may differ (counters the kernel has or not, devices listed or not):
# their differences are shown, not failed.
MAY_DIFFER = {"guest-get-cpustats", "guest-get-diskstats"}
# The members of an NVMe disk's SMART log that stay put while the check runs (the I/O counters
# move with every read either agent makes).
SMART_STABLE = ("critical-warning", "temperature", "available-spare", "available-spare-threshold",
                "percentage-used", "power-cycles-lo", "power-cycles-hi", "power-on-hours-lo",
                "power-on-hours-hi", "unsafe-shutdowns-lo", "unsafe-shutdowns-hi",
                "media-errors-lo", "media-errors-hi", "number-of-error-log-entries-lo",
                "number-of-error-log-entries-hi")
# JSON 'number' members: an integral value may be written without a fraction.
NUMBER_MEMBERS = {"login-time", "load1m", "load5m", "load15m"}


def json_type(v, member):
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number" if member in NUMBER_MEMBERS or isinstance(v, float) else "int"
    return {str: "str", list: "list", dict: "object", type(None): "null"}[type(v)]


def shape_diff(cmd, ours, theirs, keys, path="", member=""):
    """Differences of structure between two replies: members (recursively), types, and list
    entries paired by identity. Returns (structural, informational) lists of text."""
    hard, soft = [], []
    where = f"{cmd}{path or ''}"
    to, tt = json_type(ours, member), json_type(theirs, member)
    if to != tt:
        return [f"{where}: ours is {to}, qemu-ga's {tt}"], []
    if to == "object":
        for k in sorted(set(ours) | set(theirs)):
            if (k not in theirs or k not in ours) and (cmd, k) in KNOWN_MEMBERS:
                soft.append(f"{where}.{k}: {KNOWN_MEMBERS[(cmd, k)]}")
            elif k not in theirs:
                hard.append(f"{where}: member {k} is ours only")
            elif k not in ours:
                hard.append(f"{where}: member {k} is qemu-ga's only")
            else:
                h, s = shape_diff(cmd, ours[k], theirs[k], keys, f"{path}.{k}", k)
                hard += h
                soft += s
    elif to == "list":
        ident = keys.get(re.sub(r"\[[^]]*\]", "", path))
        if ident and all(isinstance(e, dict) for e in ours + theirs):
            a = {str(e.get(ident)): e for e in ours}
            b = {str(e.get(ident)): e for e in theirs}
            only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
            if only_a or only_b:
                soft.append(f"{where}: entries ours only {only_a}, qemu-ga's only {only_b}")
            pairs = [(k, a[k], b[k]) for k in a if k in b]
        else:
            pairs = [(str(i), x, y) for i, (x, y) in enumerate(zip(ours, theirs))]
            if not ident and len(ours) != len(theirs):
                soft.append(f"{where}: {len(ours)} entries, qemu-ga {len(theirs)}")
        for k, x, y in pairs:
            h, s = shape_diff(cmd, x, y, keys, f"{path}[{k}]", member)
            hard += h
            soft += s
    return hard, soft


def squeeze(lines):
    """Lines that differ only in a list entry's key ("fsinfo[/data].x: ...") said once, with
    the keys."""
    groups = {}
    for line in lines:
        m = re.match(r"^([^\[]*)\[([^]]*)\](.*)$", line)
        key, ent = (m.group(1) + "[*]" + m.group(3), m.group(2)) if m else (line, None)
        groups.setdefault(key, []).append(ent)
    return [k if ents == [None] else k.replace("[*]", "[" + " ".join(ents) + "]", 1)
            for k, ents in groups.items()]


def must_equal(cmd, ours, theirs):
    """Values both agents read from the same place: (ours, qemu-ga's) as compared, or None
    when the command has none."""
    if cmd in ("guest-get-host-name", "guest-get-osinfo", "guest-get-timezone",
               "guest-get-memory-block-info"):
        return ours, theirs
    if cmd in ("guest-get-vcpus", "guest-get-memory-blocks"):
        key = "logical-id" if cmd == "guest-get-vcpus" else "phys-index"
        return sorted(ours, key=lambda e: e[key]), sorted(theirs, key=lambda e: e[key])
    if cmd == "guest-get-users":
        return sorted(u["user"] for u in ours), sorted(u["user"] for u in theirs)
    if cmd == "guest-network-get-interfaces":
        return agent_interfaces(ours), agent_interfaces(theirs)
    if cmd == "guest-get-disks":
        # the same controller asked twice: its health, which disks report one
        def smart(disks):
            return {d["name"]: {k: d["smart"].get(k) for k in ("type",) + SMART_STABLE}
                    for d in disks if "smart" in d}
        return smart(ours), smart(theirs)
    return None


def summarize(cmd, reply):
    """A short text of a reply for the side-by-side table."""
    try:
        return _summarize(cmd, reply)
    except (AttributeError, KeyError, TypeError) as e:
        return f"(unexpected shape: {e!r}) {json.dumps(reply)[:80]}"


def _summarize(cmd, reply):
    if isinstance(reply, dict) and "error" in reply:
        return f"ERROR {reply['error'].get('desc', reply['error'])}"
    v = reply.get("return") if isinstance(reply, dict) else reply
    if cmd == "guest-get-host-name":
        return v.get("host-name")
    if cmd == "guest-get-osinfo":
        return f"{v.get('pretty-name')} {v.get('kernel-release')} {v.get('machine')}"
    if cmd == "guest-get-timezone":
        return f"{v.get('zone')} {v.get('offset')}"
    if cmd == "guest-get-users":
        return ",".join(u.get("user", "?") for u in v) or "(none)"
    if cmd == "guest-network-get-interfaces":
        return interfaces_text(agent_interfaces(v))
    if cmd == "guest-get-vcpus":
        return " ".join(f"{c['logical-id']}:{'on' if c['online'] else 'off'}"
                        f"{'/can-off' if c.get('can-offline') else ''}" for c in v)
    if cmd == "guest-get-memory-blocks":
        on = sum(1 for m in v if m.get("online"))
        return f"{len(v)} blocks, {on} online"
    if cmd == "guest-info":
        return f"{v.get('version')}: {len(v.get('supported_commands', []))} commands"
    if cmd == "guest-get-time":
        return f"{v / 1e9:.3f}" if isinstance(v, (int, float)) else repr(v)
    if isinstance(v, list):
        return f"{len(v)} entries"
    if isinstance(v, dict):
        return "{" + ",".join(f"{k}" for k in v) + "}" if len(json.dumps(v)) > 60 else json.dumps(v)
    return json.dumps(v)


def check_guest_info(info, problems):
    """Every command we list is enabled (default configuration); KubeVirt's ten are there."""
    cmds = {c["name"]: c for c in info.get("supported_commands", [])}
    disabled = sorted(n for n, c in cmds.items() if not c.get("enabled"))
    if disabled:
        problems.append(f"guest-info: disabled in the default configuration: {disabled}")
    missing = [n for n in KUBEVIRT_REQUIRED if n not in cmds or not cmds[n].get("enabled")]
    if missing:
        problems.append(f"guest-info: KubeVirt's required commands missing or disabled: {missing}")
    return cmds


def route_truth(ctx):
    """The guest's routes from /proc/net/route and /proc/net/ipv6_route, as guest-network-get-
    route's comparable members (counters like use and refcnt left out)."""
    def ip4(h):  # /proc/net/route: the address's bytes in memory order, as a hex number
        return str(ipaddress.IPv4Address(int(h, 16).to_bytes(4, "little")))

    def ip6(h):
        return str(ipaddress.IPv6Address(bytes.fromhex(h)))
    rows = set()
    for line in ctx.run("cat /proc/net/route").splitlines()[1:]:
        f = line.split()
        if len(f) >= 11:
            rows.add((4, f[0], ip4(f[1]), ip4(f[2]), ip4(f[7]), int(f[6]), int(f[3], 16),
                      int(f[8])))
    for line in ctx.run("cat /proc/net/ipv6_route").splitlines():
        f = line.split()
        if len(f) >= 10:
            rows.add((6, f[9], ip6(f[0]), str(int(f[1], 16)), ip6(f[2]), str(int(f[3], 16)),
                      ip6(f[4]), int(f[5], 16), int(f[8], 16)))
    return rows


def u32(v):
    """A metric as the kernel's unsigned 32-bit value (QEMU reads IPv6 metrics with %x into an
    int, so 0xffffffff comes out as -1 there): both forms compare equal."""
    return v & 0xFFFFFFFF if isinstance(v, int) else v


def route_rows(routes):
    rows = set()
    for r in routes:
        if r.get("version") == 4:
            rows.add((4, r.get("iface"), r.get("destination"), r.get("gateway"), r.get("mask"),
                      r.get("metric"), r.get("flags"), r.get("mtu")))
        else:
            rows.add((6, r.get("iface"), r.get("destination"), r.get("desprefixlen"),
                      r.get("source"), r.get("srcprefixlen"), r.get("nexthop"),
                      u32(r.get("metric")), r.get("flags")))
    return rows


def ask_both(qga, a, cmd):
    """The command's whole reply from each agent (a reply object, errors included)."""
    ours = a.execute(cmd)
    theirs = qga.execute(cmd) if cmd not in QGA72_LACKS else None
    return ours, theirs


@check("compare_qga_commands")
def check_compare_qga_commands(ctx):
    """Every read-only command to both agents: same shapes; values equal where both read the
    same source; guest-info lists every command enabled, KubeVirt's ten included."""
    ctx.need_agent()
    g = ctx.guest
    problems, notes = [], []
    replies = {}
    try:
        net_up(ctx)
        start_login(ctx, LOGIN_USER)
        g.start_qemu_ga()
        qga = AgentConn(g.compare_socket, timeout=120)
        try:
            qga.wait_ready(60)
            version = qga.call("guest-info")["version"]
            with ctx.agent() as a:
                for cmd, _ in READ_ONLY:
                    replies[cmd] = ask_both(qga, a, cmd)
        finally:
            qga.close()
        truth = {"hostname": ctx.run("hostname").strip(),
                 "ifs": guest_interfaces(ctx),
                 "nproc": int(ctx.run("nproc").strip()),
                 "who": sorted(set(ctx.run("who | awk '{print $1}'").split())),
                 "loadavg": ctx.run("cat /proc/loadavg").split()[:3]}
    finally:
        g.stop_service(vm.QGA_COMPARE_UNIT)
        end_login(ctx, LOGIN_USER)
        net_down(ctx)
    rows = []
    for cmd, keys in READ_ONLY:
        ours, theirs = replies[cmd]
        verdict, equal = "", ""
        if "error" in ours:
            problems.append(f"{cmd}: {ours['error'].get('desc')}")
            verdict = "ERROR"
        elif theirs is None:
            verdict = f"(qemu-ga {version} lacks it: {QGA72_LACKS[cmd]})"
        elif "error" in theirs:
            notes.append(f"{cmd}: qemu-ga answered {theirs['error']}")
            verdict = "qemu-ga error"
        else:
            hard, soft = shape_diff(cmd, ours["return"], theirs["return"], keys)
            if cmd in MAY_DIFFER:
                soft, hard = soft + hard, []
            problems += hard
            notes += soft
            verdict = "shape ≠" if hard else ("shape ≈" if soft else "shape =")
            pair = must_equal(cmd, ours["return"], theirs["return"])
            if pair is not None:
                if pair[0] == pair[1]:
                    equal = "values ="
                else:
                    equal = "values ≠"
                    problems.append(f"{cmd}: values differ:\n      ours    {pair[0]}\n"
                                    f"      qemu-ga {pair[1]}")
        rows.append((cmd, summarize(cmd, ours), summarize(cmd, theirs) if theirs else "-",
                     f"{verdict} {equal}".strip()))
    # what the guest itself says
    ok = {c: r[0]["return"] for c, r in replies.items() if "return" in r[0]}
    if "guest-info" in ok:
        cmds = check_guest_info(ok["guest-info"], problems)
        if "guest-info" in replies and replies["guest-info"][1] and \
                "return" in replies["guest-info"][1]:
            theirs = {c["name"]: c for c in
                      replies["guest-info"][1]["return"]["supported_commands"]}
            for name in sorted(set(theirs) - set(cmds)):
                if name in QGA72_ONLY:
                    notes.append(f"guest-info: qemu-ga {version} lists {theirs[name]}, which we "
                                 f"do not: {QGA72_ONLY[name]}")
                else:
                    problems.append(f"guest-info: qemu-ga {version} lists {theirs[name]}, which "
                                    "we do not")
    if "guest-get-host-name" in ok and ok["guest-get-host-name"].get("host-name") != \
            truth["hostname"]:
        problems.append(f"guest-get-host-name: {ok['guest-get-host-name']}, the guest's hostname "
                        f"is {truth['hostname']!r}")
    if "guest-network-get-interfaces" in ok and \
            agent_interfaces(ok["guest-network-get-interfaces"]) != truth["ifs"]:
        problems.append("guest-network-get-interfaces differs from ip -j addr:\n      agent "
                        f"{interfaces_text(agent_interfaces(ok['guest-network-get-interfaces']))}"
                        f"\n      guest {interfaces_text(truth['ifs'])}")
    if "guest-get-vcpus" in ok and sum(1 for c in ok["guest-get-vcpus"] if c["online"]) != \
            truth["nproc"]:
        problems.append(f"guest-get-vcpus: {ok['guest-get-vcpus']}, nproc {truth['nproc']}")
    if "guest-get-users" in ok:
        users = sorted(u["user"] for u in ok["guest-get-users"])
        if users != truth["who"]:
            problems.append(f"guest-get-users: {users}, who: {truth['who']}")
    if "guest-get-load" in ok:
        load = ok["guest-get-load"]
        if sorted(load) != ["load15m", "load1m", "load5m"] or \
                not all(isinstance(v, (int, float)) for v in load.values()):
            problems.append(f"guest-get-load: {load}")
    if "guest-network-get-route" in ok:
        for r in ok["guest-network-get-route"]:
            need = {"iface", "destination", "metric", "version"}
            if not need <= set(r):
                problems.append(f"guest-network-get-route: an entry lacks {need - set(r)}: {r}")
                break
    w = max(len(r[0]) for r in rows)
    w2 = max(24, min(44, max(len(r[1]) for r in rows)))
    lines = [f"read-only commands, quiesce-agent vs qemu-ga {version} (guest: hostname "
             f"{truth['hostname']}, nproc {truth['nproc']}, who {truth['who']}, loadavg "
             f"{' '.join(truth['loadavg'])}; ip: {interfaces_text(truth['ifs'])})"]
    lines.append(f"   {'command':<{w}}  {'quiesce-agent':<{w2}}  {'qemu-ga':<{w2}}  result")
    for cmd, a_t, b_t, verdict in rows:
        lines.append(f"   {cmd:<{w}}  {a_t[:w2 + 40]:<{w2}}  {b_t[:w2 + 40]:<{w2}}  {verdict}")
    say("\n".join(lines))
    for n in squeeze(notes):
        say(f"   note: {n}")
    out = getattr(ctx.args, "compare_qga", None)
    if out:
        path = re.sub(r"\.json$", "", out) + "-commands.json"
        with open(path, "w") as f:
            json.dump({"qemu-ga-version": version,
                       "replies": {c: {"quiesce-agent": r[0], "qemu-ga": r[1]}
                                   for c, r in replies.items()}}, f, indent=1)
        say(f"   both agents' replies written to {path}")
    ctx.note(f"compare_qga_commands: {sum(1 for r in rows if 'ERROR' not in r[3])}/{len(rows)} "
             f"commands answered; {len(problems)} problem(s)")
    if problems:
        raise CheckFailed("\n  ".join(["differences from qemu-ga or the guest:"]
                                      + squeeze(problems)))


# ---- commands that change the guest, at the protocol level (harness guest) -----------------

@check("set_time")
def check_set_time(ctx):
    """guest-set-time with `time` (clock and RTC), without (clock from the RTC); guest-get-time
    agrees with the guest's clock; the clock is restored from the host's."""
    ctx.need_agent()
    steps = Steps()
    try:
        with ctx.agent() as a:
            with steps.step("guest-get-time = host clock"):
                t0 = time.time_ns()
                got = a.call("guest-get-time")
                d = check_clock("guest-get-time", got, t0, time.time_ns())
                ctx.note(f"guest-get-time - host clock: {d:+.3f}s")
            with steps.step("guest-set-time {time: host + 3600 s}"):
                t0 = time.monotonic()
                a.call("guest-set-time", {"time": time.time_ns() + 3600 * 10**9})
                took = time.monotonic() - t0
                t0 = time.time_ns()
                got = a.call("guest-get-time")
                check_clock("guest-get-time after set-time", got, t0, time.time_ns(), 3600)
                t0 = time.time_ns()
                check_clock("the guest's date", guest_clock_ns(ctx), t0, time.time_ns(), 3600)
                rtc = rtc_seconds(ctx) * 10**9
                check_clock("the guest's RTC (hwclock -w)", rtc, t0 - 10**9, time.time_ns(),
                            3600)
                ctx.note(f"guest-set-time with time took {took:.2f}s")
            with steps.step("guest-set-time {} (the clock from the RTC)"):
                # the system clock back to the host's, the RTC still an hour ahead: only a
                # clock read from the RTC comes out an hour ahead again
                ctx.run(f"date -u -s @{time.time():.3f} >/dev/null")
                t0 = time.monotonic()
                a.call("guest-set-time")
                took = time.monotonic() - t0
                t0 = time.time_ns()
                got = a.call("guest-get-time")
                check_clock("guest-get-time after set-time without time", got, t0,
                            time.time_ns(), 3600)
                ctx.note(f"guest-set-time without time took {took:.2f}s")
            with steps.step("guest-set-time {time: host} restores"):
                a.call("guest-set-time", {"time": time.time_ns()})
                t0 = time.time_ns()
                d = check_clock("guest-get-time after restoring", a.call("guest-get-time"),
                                t0, time.time_ns())
                check_clock("the guest's RTC after restoring", rtc_seconds(ctx) * 10**9,
                            t0 - 10**9, time.time_ns())
                ctx.note(f"after restoring: guest-get-time - host clock {d:+.3f}s")
            with steps.step("guest-set-time refuses a time before 1970 or past 2069"):
                expect_error(lambda: a.call("guest-set-time", {"time": -10**9}),
                             "set-time to 1969")
                expect_error(lambda: a.call("guest-set-time", {"time": 4102444800 * 10**9}),
                             "set-time to 2100")
    finally:
        restore_guest_clock(ctx)
    steps.finish()


def cpu_online(ctx):
    return ctx.run("cat /sys/devices/system/cpu/online").strip(), int(ctx.run("nproc").strip())


@check("set_vcpus")
def check_set_vcpus(ctx):
    """guest-get-vcpus as sysfs has them; guest-set-vcpus takes CPU 1 offline and back online."""
    ctx.need_agent()
    steps = Steps()
    try:
        with ctx.agent() as a:
            with steps.step("guest-get-vcpus = sysfs"):
                vcpus = a.call("guest-get-vcpus")
                online, nproc = cpu_online(ctx)
                ids = sorted(c["logical-id"] for c in vcpus)
                if ids != list(range(ctx.guest.smp)) or not all(c["online"] for c in vcpus):
                    raise CheckFailed(f"guest-get-vcpus {vcpus}; the guest has {nproc} online "
                                      f"({online}), -smp {ctx.guest.smp}")
                if not any(c["logical-id"] == 1 and c.get("can-offline") for c in vcpus):
                    raise CheckFailed(f"CPU 1 is not can-offline: {vcpus}")
                say(f"   guest-get-vcpus: {summarize('guest-get-vcpus', vcpus)}; sysfs online "
                    f"{online}")
            with steps.step("guest-set-vcpus CPU 1 offline"):
                n = a.call("guest-set-vcpus", {"vcpus": [{"logical-id": 1, "online": False}]})
                online, nproc = cpu_online(ctx)
                if n != 1 or nproc != 1 or online != "0":
                    raise CheckFailed(f"set-vcpus returned {n}; the guest has {nproc} online "
                                      f"({online})")
                cpu1 = [c for c in a.call("guest-get-vcpus") if c["logical-id"] == 1]
                if not cpu1 or cpu1[0]["online"]:
                    raise CheckFailed(f"guest-get-vcpus after offlining: {cpu1}")
            with steps.step("guest-set-vcpus CPU 1 online"):
                n = a.call("guest-set-vcpus", {"vcpus": [{"logical-id": 1, "online": True}]})
                online, nproc = cpu_online(ctx)
                if n != 1 or nproc != 2 or online != "0-1":
                    raise CheckFailed(f"set-vcpus returned {n}; the guest has {nproc} online "
                                      f"({online})")
            with steps.step("guest-set-vcpus refuses CPU 7 (there is none)"):
                expect_error(lambda: a.call("guest-set-vcpus", {
                    "vcpus": [{"logical-id": 7, "online": False}]}), "set-vcpus of CPU 7")
    finally:
        ctx.guest.run("echo 1 >/sys/devices/system/cpu/cpu1/online", timeout=60)
    steps.finish()


@check("user_password")
def check_user_password(ctx):
    """guest-set-user-password, plain (Proxmox's base64 with newlines, libvirt's without) and
    crypted (the exact hash lands in /etc/shadow), for a throwaway user; bad users refused."""
    ctx.need_agent()
    user = "qa-pw"
    steps = Steps()
    try:
        make_user(ctx, user)
        before = shadow_hash(ctx, user)
        with steps.step("plain, Proxmox's way (sync-delimited in the same write, base64 with "
                        "newlines)"):
            pw = f"Qa-pve-{os.urandom(6).hex()}"
            with ctx.agent("delimited") as a:
                ret = a.pve_call("guest-set-user-password", {
                    "username": user, "password": b64_perl(pw.encode()), "crypted": False})
            after = shadow_hash(ctx, user)
            if ret != {} or after == before or not password_matches(ctx, after, pw):
                raise CheckFailed(f"reply {ret!r}; shadow hash {before!r} -> {after!r} does not "
                                  "verify the password")
            say(f"   shadow: {before!r} -> {after[:12]}... (verifies)")
        with steps.step("plain, libvirt's way (one-line base64), a long password"):
            pw = "Qa-lv-" + os.urandom(60).hex()
            with ctx.agent() as a:
                a.call("guest-set-user-password", {"username": user,
                                                   "password": b64(pw.encode()),
                                                   "crypted": False})
            if not password_matches(ctx, shadow_hash(ctx, user), pw):
                raise CheckFailed("the shadow hash does not verify the password")
        with steps.step("crypted: the hash stored as it is"):
            with ctx.agent() as a:
                for h in CRYPTED:
                    a.call("guest-set-user-password", {"username": user,
                                                       "password": b64(h.encode()),
                                                       "crypted": True})
                    got = shadow_hash(ctx, user)
                    if got != h:
                        raise CheckFailed(f"shadow has {got!r}, set {h!r}")
        with steps.step("refused: no such user, ':' in the name, newline in the password"):
            entry = shadow_hash(ctx, user)
            with ctx.agent() as a:
                for args, what in (({"username": "qa-nobody-here", "password": b64(b"x1234"),
                                     "crypted": False}, "an unknown user"),
                                   ({"username": f"{user}:x", "password": b64(b"x1234"),
                                     "crypted": False}, "a name with ':'"),
                                   ({"username": user, "password": b64(b"abc\ndef"),
                                     "crypted": False}, "a newline in the password")):
                    desc = expect_error(lambda: a.call("guest-set-user-password", args), what)
                    say(f"   {what}: {desc}")
            if shadow_hash(ctx, user) != entry:
                raise CheckFailed("a refused request changed the shadow entry")
    finally:
        drop_user(ctx, user)
    steps.finish()


def authorized_keys_file(ctx, home):
    """(mode and owner of ~/.ssh, of authorized_keys, its key lines)"""
    out = ctx.run(f"stat -c '%a %U' {home}/.ssh {home}/.ssh/authorized_keys; echo ---; "
                  f"cat {home}/.ssh/authorized_keys")
    stat, text = out.split("---\n", 1)
    keys = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    return stat.split("\n")[0], stat.split("\n")[1], keys


@check("ssh_keys")
def check_ssh_keys(ctx):
    """guest-ssh-add (append, no duplicates, reset), -get, -remove (absent keys are no error)
    for a throwaway user: the file, its mode and owner as OpenSSH needs them."""
    ctx.need_agent()
    user = "qa-ssh"
    k1, k2, k3, k4 = SSH_KEYS
    steps = Steps()
    try:
        home = make_user(ctx, user)
        with ctx.agent() as a:
            def get():
                return a.call("guest-ssh-get-authorized-keys", {"username": user})["keys"]

            def expect(want, what):
                got = get()
                ssh_dir, akeys, lines = authorized_keys_file(ctx, home)
                if got != want or lines != want:
                    raise CheckFailed(f"{what}: get {got}, file {lines}, expected {want}")
                if ssh_dir != f"700 {user}" or akeys != f"600 {user}":
                    raise CheckFailed(f"{what}: ~/.ssh is {ssh_dir}, authorized_keys {akeys}")

            with steps.step("add two keys (reset false): ~/.ssh 0700, the file 0600, the user's"):
                a.call("guest-ssh-add-authorized-keys",
                       {"username": user, "keys": [k1, k2], "reset": False})
                expect([k1, k2], "after adding k1 k2")
            with steps.step("add k2 k3 (no reset member): k2 not twice"):
                a.call("guest-ssh-add-authorized-keys", {"username": user, "keys": [k2, k3]})
                expect([k1, k2, k3], "after adding k2 k3")
            with steps.step("remove k1 and an absent key"):
                a.call("guest-ssh-remove-authorized-keys", {"username": user, "keys": [k1, k4]})
                expect([k2, k3], "after removing k1 k4")
            with steps.step("add k4 with reset: only k4"):
                a.call("guest-ssh-add-authorized-keys",
                       {"username": user, "keys": [k4], "reset": True})
                expect([k4], "after the reset")
            with steps.step("remove k4: an empty list"):
                a.call("guest-ssh-remove-authorized-keys", {"username": user, "keys": [k4]})
                if get() != []:
                    raise CheckFailed(f"after removing every key: {get()}")
            with steps.step("an empty key among the keys (virsh sends one for a key file's "
                            "final newline; qemu-ga takes it): no blank line lands"):
                a.call("guest-ssh-add-authorized-keys", {"username": user, "keys": [k1, ""]})
                expect([k1], "after adding k1 and ''")
                a.call("guest-ssh-remove-authorized-keys", {"username": user, "keys": [k1, ""]})
                if get() != []:
                    raise CheckFailed(f"after removing k1 and '': {get()}")
            with steps.step("refused: unknown user, a key with a newline"):
                expect_error(lambda: a.call("guest-ssh-get-authorized-keys",
                                            {"username": "qa-nobody-here"}), "an unknown user")
                expect_error(lambda: a.call("guest-ssh-add-authorized-keys", {
                    "username": user, "keys": [k1 + "\n" + k2]}), "a key with a newline")
    finally:
        drop_user(ctx, user)
    steps.finish()


def pve_exec(a, args, polls_max=30):
    """Proxmox's `qm guest exec`: guest-exec, then guest-exec-status every 1 s until exited.
    Returns (status, number of polls)."""
    pid = a.pve_call("guest-exec", args)["pid"]
    if not isinstance(pid, int) or pid <= 0:
        raise CheckFailed(f"guest-exec returned pid {pid!r}")
    for n in range(1, polls_max + 1):
        st = a.pve_call("guest-exec-status", {"pid": pid})
        if st.get("exited"):
            return pid, st, n
        time.sleep(1)
    raise CheckFailed(f"{args}: not exited after {polls_max} polls")


def out_data(st, key="out-data"):
    return base64.b64decode(st[key]) if st.get(key) else b""


@check("exec")
def check_exec(ctx):
    """guest-exec the way Proxmox and KubeVirt run programs: a bare name found in PATH, output
    captured, status polled every second until exited; stdin, exit codes, signals."""
    ctx.need_agent()
    steps = Steps()
    want = ctx.run("getent passwd root").encode()
    with ctx.agent("delimited") as a:
        with steps.step("getent passwd root (Proxmox: bare name, capture-output, 1 s polls)"):
            t0 = time.monotonic()
            pid, st, polls = pve_exec(a, {"path": "getent", "arg": ["passwd", "root"],
                                          "capture-output": True})
            if st.get("exitcode") != 0 or out_data(st) != want or out_data(st, "err-data"):
                raise CheckFailed(f"status {st}, expected exit 0 and out {want!r}")
            ctx.note(f"guest-exec getent: exited after {polls} status poll(s), "
                     f"{time.monotonic() - t0:.1f}s")
        with steps.step("the exited process is forgotten (a second status is an error)"):
            desc = expect_error(lambda: a.pve_call("guest-exec-status", {"pid": pid}),
                                "status after exited")
            say(f"   {desc}")
        with steps.step("input-data to cat (Proxmox encodes it on one line)"):
            data = b"line one\nline two \xff\x00 binary\n" * 100
            _, st, _ = pve_exec(a, {"path": "cat", "capture-output": True,
                                    "input-data": b64(data)})
            if out_data(st) != data or st.get("exitcode") != 0:
                raise CheckFailed(f"cat returned {len(out_data(st))} bytes, exit "
                                  f"{st.get('exitcode')}")
        with steps.step("exit code 3, stderr apart"):
            _, st, _ = pve_exec(a, {"path": "sh", "arg": ["-c", "echo out; echo err >&2; exit 3"],
                                    "capture-output": True})
            if st.get("exitcode") != 3 or out_data(st) != b"out\n" or \
                    out_data(st, "err-data") != b"err\n":
                raise CheckFailed(f"status {st}")
        with steps.step("killed by SIGKILL: signal 9"):
            _, st, _ = pve_exec(a, {"path": "sh", "arg": ["-c", "kill -9 $$"]})
            if st.get("signal") != 9:
                raise CheckFailed(f"status {st}")
        with steps.step("no such program: an error"):
            desc = expect_error(lambda: a.pve_call("guest-exec", {"path": "qa-no-such-program"}),
                                "a program that does not exist")
            say(f"   {desc}")
    with ctx.agent() as a:
        with steps.step("KubeVirt's way through libvirt's framing (getent, capture-output)"):
            pid = a.call("guest-exec", {"path": "getent", "arg": ["passwd", "root"],
                                        "capture-output": True})["pid"]
            for _ in range(60):
                st = a.call("guest-exec-status", {"pid": pid})
                if st["exited"]:
                    break
                time.sleep(0.5)
            if out_data(st) != want or st.get("exitcode", 0) != 0:
                raise CheckFailed(f"status {st}")
    steps.finish()


EXEC_STATUS_PROBE = ("grep -E '^(NoNewPrivs|CapBnd):' /proc/self/status; umask; "
                     "if unshare -n true 2>/dev/null; then echo unshare=ok; else echo unshare=refused; fi")
FULL_CAPBND = "000001ffffffffff"  # every capability of the guest's 6.1 kernel (CAP_LAST_CAP 40)
EXEC_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def exec_sandbox_facts(a):
    _, st, _ = pve_exec(a, {"path": "sh", "arg": ["-c", EXEC_STATUS_PROBE],
                            "capture-output": True})
    facts = dict(re.findall(r"^(\w+)[:=]\s*(\S+)$", out_data(st).decode(), re.M))
    if st.get("exitcode") != 0 or out_data(st, "err-data"):
        raise CheckFailed(f"the sandbox probe: {st}")
    facts["umask"] = out_data(st).decode().split("\n")[2]
    return facts


@check("exec_unconfined")
def check_exec_unconfined(ctx):
    """guest-exec's programs run outside the agent's sandbox (a transient service through
    systemd-run) with the wire behaviour of `exec` unchanged: exit codes (1, 3, 255), signals
    (KILL, TERM, SEGV) reported as signals, stdin, separated and merged output, exactly the
    host's environment; no unit or environment file left. With exec-confined=true the old
    behaviour (NoNewPrivs, the unit's CapBnd, umask 0077, no namespaces)."""
    ctx.need_agent()
    steps = Steps()
    unit = ctx.agent_unit
    # systemd-run --wait reaches PID 1 through the system bus (the image has dbus; without a
    # bus the agent spawns programs itself, confined, as the `exec` check ran it before)
    rc, out = ctx.guest.run("systemctl is-active dbus && test -S /run/dbus/system_bus_socket")
    if rc != 0:
        raise CheckFailed(f"no D-Bus system bus in the guest: {out.strip()}")
    with ctx.agent("delimited") as a:
        with steps.step("unconfined: NoNewPrivs 0, full CapBnd, umask 0022, unshare -n works"):
            f = exec_sandbox_facts(a)
            if (f.get("NoNewPrivs"), f.get("CapBnd"), f.get("umask"), f.get("unshare")) != \
                    ("0", FULL_CAPBND, "0022", "ok"):
                raise CheckFailed(f"{f}")
            ctx.note(f"guest-exec unconfined: {f}")
        with steps.step("exit codes 1, 3, 255 and signals KILL, TERM, SEGV as before"):
            for script, key, want in (("exit 1", "exitcode", 1), ("exit 3", "exitcode", 3),
                                      ("exit 255", "exitcode", 255),
                                      ("kill -9 $$", "signal", 9),
                                      ("kill -TERM $$", "signal", 15),
                                      ("kill -SEGV $$", "signal", 11)):
                _, st, _ = pve_exec(a, {"path": "sh", "arg": ["-c", script],
                                        "capture-output": True})
                other = "signal" if key == "exitcode" else "exitcode"
                if st.get(key) != want or other in st or out_data(st, "err-data"):
                    raise CheckFailed(f"`{script}`: {st}")
        with steps.step("input-data to cat; separated and merged output"):
            data = b"line one\nline two \xff\x00 binary\n" * 100
            _, st, _ = pve_exec(a, {"path": "cat", "capture-output": True,
                                    "input-data": b64(data)})
            if out_data(st) != data or st.get("exitcode") != 0:
                raise CheckFailed(f"cat returned {len(out_data(st))} bytes, {st.get('exitcode')}")
            script = "printf out; printf err >&2; exit 4"
            _, st, _ = pve_exec(a, {"path": "sh", "arg": ["-c", script],
                                    "capture-output": "separated"})
            if (out_data(st), out_data(st, "err-data"), st.get("exitcode")) != (b"out", b"err", 4):
                raise CheckFailed(f"separated: {st}")
            _, st, _ = pve_exec(a, {"path": "sh", "arg": ["-c", script],
                                    "capture-output": "merged"})
            if (out_data(st), "err-data" in st, st.get("exitcode")) != (b"outerr", False, 4):
                raise CheckFailed(f"merged: {st}")
        with steps.step("exactly the host's environment (quotes, a newline) plus PATH"):
            env = ["A=x y", "Q=it's \"q\" \\ $HOME %n", "N=line1\nline2"]
            _, st, _ = pve_exec(a, {"path": "env", "arg": ["-0"], "env": env,
                                    "capture-output": True})
            got = set(out_data(st).decode().split("\0")) - {""}
            want = set(env) | {f"PATH={EXEC_DEFAULT_PATH}"}
            if got != want or st.get("exitcode") != 0:
                raise CheckFailed(f"environment {sorted(got)}, expected {sorted(want)}")
        with steps.step("no unit and no environment file left behind"):
            left = ctx.run("systemctl list-units --all --plain --no-legend "
                           "'quiesce-agent-exec-*'; ls /run/quiesce-agent/ | grep '\\.env$' || true")
            if left.strip():
                raise CheckFailed(f"left behind: {left}")
        a.pve_call("guest-exec", {"path": "sh", "arg": ["-c", "sleep 4; exit 3"]})
    with steps.step("a failing program the agent was restarted under: its unit settled by the "
                    "next agent's first guest-exec"):
        old = agent_pid(ctx)
        ctx.run(f"systemctl restart {unit}")
        wait_new_pid(ctx, old)
        listing = ("systemctl list-units --all --plain --no-legend 'quiesce-agent-exec-*'; "
                   "ls /run/quiesce-agent/ | grep '\\.env$' || true")
        deadline = time.monotonic() + 30
        while "failed" not in ctx.run(listing) and time.monotonic() < deadline:
            time.sleep(1)
        orphan = ctx.run(listing)
        if "failed" not in orphan or ".env" not in orphan:
            raise CheckFailed(f"expected the program's unit failed and its file there: {orphan}")
        with ctx.agent("delimited") as a:
            _, st, _ = pve_exec(a, {"path": "true"})
        left = ctx.run(listing)
        if left.strip() or st.get("exitcode") != 0:
            raise CheckFailed(f"after the next guest-exec ({st}), left behind: {left}")
        ctx.note("an earlier agent's failed exec unit: " + orphan.split()[0] +
                 " failed, settled by the next guest-exec")
    dropin_dir = f"/etc/systemd/system/{unit}.d"
    dropin = f"{dropin_dir}/qa-exec-confined.conf"
    g = ctx.guest
    try:
        g.put(f"[Service]\nExecStart=\nExecStart={ctx.agent_bin} --exec-confined=true\n".encode(),
              dropin)
        old = agent_pid(ctx)
        ctx.run(f"systemctl daemon-reload && systemctl restart {unit}")
        wait_new_pid(ctx, old)
        with ctx.agent("delimited") as a:
            with steps.step("exec-confined=true: NoNewPrivs 1, the unit's CapBnd, umask 0077"):
                f = exec_sandbox_facts(a)
                if (f.get("NoNewPrivs"), f.get("umask"), f.get("unshare")) != \
                        ("1", "0077", "refused") or f.get("CapBnd") == FULL_CAPBND:
                    raise CheckFailed(f"{f}")
                ctx.note(f"guest-exec confined: {f}")
            with steps.step("exec-confined=true: a signal, an exit code"):
                _, st, _ = pve_exec(a, {"path": "sh", "arg": ["-c", "kill -9 $$"]})
                _, st2, _ = pve_exec(a, {"path": "sh", "arg": ["-c", "exit 255"]})
                if st.get("signal") != 9 or st2.get("exitcode") != 255:
                    raise CheckFailed(f"{st} {st2}")
    finally:
        remove_dropin(ctx, dropin)
    steps.finish()


def pve_file_read(a, path, offset=0):
    """Proxmox's file-read: open (default mode), seek {whence:"set"} when offset > 0, read
    1 MiB at a time until eof, close. Returns (bytes, number of reads)."""
    h = a.pve_call("guest-file-open", {"path": path})
    if not isinstance(h, int):
        raise CheckFailed(f"guest-file-open returned {h!r}, not an int handle")
    try:
        if offset:
            pos = a.pve_call("guest-file-seek", {"handle": h, "offset": offset, "whence": "set"})
            if pos.get("position") != offset:
                raise CheckFailed(f"seek to {offset}: {pos}")
        data, reads = b"", 0
        while True:
            r = a.pve_call("guest-file-read", {"handle": h, "count": 1 << 20})
            reads += 1
            chunk = base64.b64decode(r["buf-b64"])
            if r["count"] != len(chunk):
                raise CheckFailed(f"read {reads}: count {r['count']}, {len(chunk)} bytes")
            data += chunk
            if r["eof"]:
                return data, reads
            if reads > 64:
                raise CheckFailed("no eof after 64 reads")
    finally:
        a.pve_call("guest-file-close", {"handle": h})


@check("file")
def check_file(ctx):
    """guest-file-* as Proxmox's file-write and file-read use them: base64 with newlines, 1 MiB
    reads until eof, seek with whence "set"; a new file is 0600; a missing one is named."""
    ctx.need_agent()
    steps = Steps()
    wpath, rpath = f"{RUNDIR}/pve-file-write", f"{RUNDIR}/pve-file-read"
    try:
        ctx.run(f"mkdir -p {RUNDIR}; rm -f {wpath}; head -c 2621440 /dev/urandom >{rpath}")
        with ctx.agent("delimited") as a:
            with steps.step("file-write: open wb, 60 KiB in base64 with newlines, close"):
                data = os.urandom(61440)
                h = a.pve_call("guest-file-open", {"path": wpath, "mode": "wb"})
                w = a.pve_call("guest-file-write", {"handle": h, "buf-b64": b64_perl(data)})
                a.pve_call("guest-file-close", {"handle": h})
                got = ctx.run(f"sha256sum <{wpath}; stat -c '%a %s' {wpath}").split()
                if w.get("count") != len(data) or got[0] != hashlib.sha256(data).hexdigest():
                    raise CheckFailed(f"write returned {w}; the file's sha256 {got[0]}")
                if got[2] != "600":
                    raise CheckFailed(f"a new file has mode {got[2]}, expected 600")
            with steps.step("file-read: 2.5 MiB in 1 MiB reads until eof"):
                t0 = time.monotonic()
                data, reads = pve_file_read(a, rpath)
                want = ctx.run(f"sha256sum <{rpath}").split()[0]
                if hashlib.sha256(data).hexdigest() != want or len(data) != 2621440:
                    raise CheckFailed(f"read {len(data)} bytes in {reads} reads, sha256 differs")
                ctx.note(f"guest-file-read 2.5 MiB: {reads} reads, {time.monotonic() - t0:.1f}s")
            with steps.step("file-read from offset 1234567 (seek whence set)"):
                data, _ = pve_file_read(a, rpath, offset=1234567)
                want = ctx.run(f"tail -c +1234568 {rpath} | sha256sum").split()[0]
                if hashlib.sha256(data).hexdigest() != want:
                    raise CheckFailed(f"{len(data)} bytes from the offset, sha256 differs")
            with steps.step("open of a missing file says 'No such file or directory'"):
                desc = expect_error(lambda: a.pve_call("guest-file-open",
                                                       {"path": f"{RUNDIR}/no-such-file"}),
                                    "opening a missing file")
                if "No such file or directory" not in desc:
                    raise CheckFailed(f"KubeVirt matches 'No such file or directory': {desc}")
    finally:
        ctx.guest.run(f"rm -f {wpath} {rpath}")
    steps.finish()


@check("network_route")
def check_network_route(ctx):
    """guest-network-get-route = /proc/net/route and /proc/net/ipv6_route, with the test NIC's
    addresses and default routes (IPv4 and IPv6)."""
    ctx.need_agent()
    try:
        dev = net_up(ctx)
        before = route_truth(ctx)
        with ctx.agent() as a:
            routes = a.call("guest-network-get-route")
        after = route_truth(ctx)
        iproute = len(json.loads(ctx.run("ip -j route show"))) + \
            len(json.loads(ctx.run("ip -j -6 route show table all")))
    finally:
        net_down(ctx)
    got = route_rows(routes)
    missing = sorted(map(str, (before & after) - got))
    extra = sorted(map(str, got - (before | after)))
    default4 = [r for r in routes if r.get("version") == 4 and r.get("destination") == "0.0.0.0"
                and r.get("gateway") == NET4[2] and r.get("iface") == dev]
    default6 = [r for r in routes if r.get("version") == 6 and r.get("destination") == "::"
                and r.get("nexthop") == NET6[2] and r.get("iface") == dev]
    say(f"   {len(routes)} routes ({sum(1 for r in routes if r.get('version') == 4)} IPv4); "
        f"`ip route` (IPv4 main, IPv6 all tables) shows {iproute}")
    problems = []
    if missing:
        problems.append("routes the kernel has and the agent does not:\n    " +
                        "\n    ".join(missing))
    if extra:
        problems.append("routes the agent reports and the kernel does not have:\n    " +
                        "\n    ".join(extra))
    if not default4 or not default6:
        problems.append(f"default routes via {NET4[2]} / {NET6[2]} on {dev}: {default4} "
                        f"{default6}")
    if problems:
        raise CheckFailed("\n  ".join(problems))
    ctx.note(f"guest-network-get-route: {len(routes)} routes, as /proc/net has them")


# Proxmox's polling, one connection per command: the GUI's pair (guest-ping and
# guest-network-get-interfaces every 10 s), and one command of each lane that runs off the main
# thread (a thaw with nothing frozen on the freezer's thread, whose replies are never dropped,
# and a read of root's authorized keys on the system thread). QA_VM_PVE_COMMANDS sets how many.
PVE_PER_CONNECTION = (("guest-ping", None), ("guest-network-get-interfaces", None),
                      ("guest-ping", None), ("guest-network-get-interfaces", None),
                      ("guest-ssh-get-authorized-keys", {"username": "root"}),
                      ("guest-fsfreeze-thaw", None))
PVE_TIMEOUT_S = 10  # Proxmox waits 5 s (more for some commands); more here, for TCG


@check("proxmox_per_connection")
def check_proxmox_per_connection(ctx):
    """Proxmox's per-command connections (QA_VM_PVE_COMMANDS, default 720): each command on a
    fresh connection to QEMU's chardev, guest-sync-delimited and the command in one write, the
    connection closed after the reply. Every command is answered: the guest sees the port
    closed and opened around each one, and the new host's request can reach the agent before
    the previous host's hang-up does. QA_VM_PVE_VERBOSE=1 runs the agent with -v for the check
    and notes how often, and how late, a host came back within the agent's grace."""
    ctx.need_agent()
    total = int(os.environ.get("QA_VM_PVE_COMMANDS", "720"))
    verbose = os.environ.get("QA_VM_PVE_VERBOSE") == "1"
    dropin = f"/etc/systemd/system/{ctx.agent_unit}.d/qa-verbose.conf"
    if verbose:
        ctx.guest.put(f"[Service]\nExecStart=\nExecStart={ctx.agent_bin} -v\n".encode(), dropin)
        old = agent_pid(ctx)
        ctx.run(f"systemctl daemon-reload && systemctl restart {ctx.agent_unit}")
        wait_new_pid(ctx, old)
    since = ctx.run("date '+%Y-%m-%d %H:%M:%S'").strip()
    a = AgentConn(ctx.guest.agent_socket, connect=False)
    unanswered, errors = [], []
    t0 = time.monotonic()
    try:
        if verbose:
            a.wait_ready(30)
        for i in range(total):
            cmd, args = PVE_PER_CONNECTION[i % len(PVE_PER_CONNECTION)]
            a.close()
            a.connect()
            try:
                reply = a.pve_execute(cmd, args, timeout=PVE_TIMEOUT_S)
            except (TimeoutError, ConnectionError, ValueError) as e:
                # Proxmox gives up on the command and goes on with the next, on a new connection
                unanswered.append(f"#{i} {cmd}: {e!r}")
                say(f"   #{i} {cmd}: no reply within {PVE_TIMEOUT_S} s ({e!r})")
                continue
            if "return" not in reply and cmd != "guest-ssh-get-authorized-keys":
                errors.append(f"#{i} {cmd}: {reply}")
    finally:
        a.close()
        wall = time.monotonic() - t0
        journal = ctx.run(f"journalctl --no-pager -o cat -u {ctx.agent_unit} --since '{since}' "
                          "| grep -E 'went away|has disconnected|dropping|dropped|host back|"
                          "host hung up'; true")
        if verbose:
            old = agent_pid(ctx)
            ctx.run(f"rm -f {dropin} && systemctl daemon-reload && "
                    f"systemctl restart {ctx.agent_unit}")
            wait_new_pid(ctx, old)
    ctx.note(f"proxmox_per_connection: {total - len(unanswered)} of {total} commands answered "
             f"on {total} connections in {wall:.0f} s")
    if verbose:
        back = [float(ms) for ms in re.findall(r"host back \S+ ([0-9.]+) ms after", journal)]
        ctx.note(f"proxmox_per_connection: {journal.count('host hung up')} hang-ups seen, "
                 f"{len(back)} hosts back within the grace"
                 + (f" (after {min(back):.1f} to {max(back):.1f} ms)" if back else ""))
    if unanswered or errors:
        interesting = [ln for ln in journal.splitlines() if "host back" not in ln and
                       "host hung up" not in ln]
        raise CheckFailed("\n  ".join(
            [f"{len(unanswered)} of {total} commands unanswered:"] + unanswered[:20] +
            [f"{len(errors)} error replies:"] + errors[:5] +
            ["the agent's journal:"] + interesting[-20:]))


# ---- hot-unplug of the agent's port (destructive: the port goes away and comes back) ---------

PORT_NODE = f"/dev/virtio-ports/{vm.AGENT_PORT}"


def unit_state(ctx):
    """ActiveState/SubState, MainPID and NRestarts of the agent's unit."""
    out = ctx.run(f"systemctl show -p ActiveState -p SubState -p MainPID -p NRestarts "
                  f"{ctx.agent_unit}")
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def wait_guest(ctx, cond, what, timeout=60):
    """Poll a guest shell condition until it holds; returns the seconds it took."""
    t0 = time.monotonic()
    while True:
        if ctx.guest.run(cond, timeout=30)[0] == 0:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise CheckFailed(f"{what}: not within {timeout}s (`{cond}`; unit "
                              f"{unit_state(ctx)})")
        time.sleep(0.5)


def unplug_agent_port(ctx):
    """device_del the agent's port; returns once QEMU has deleted it and the guest's node is gone
    (seconds from device_del to the node's removal)."""
    t0 = time.monotonic()
    ctx.guest.qmp("device_del", {"id": vm.AGENT_PORT_ID},
                  event=("DEVICE_DELETED", {"device": vm.AGENT_PORT_ID}))
    wait_guest(ctx, f"! test -e {PORT_NODE}", "the port node did not go away after device_del")
    return time.monotonic() - t0


def plug_agent_port(ctx):
    """device_add the port back with the command line's id, name and chardev."""
    ctx.guest.qmp("device_add", dict(vm.AGENT_PORT_DEVICE))
    wait_guest(ctx, f"test -c {PORT_NODE}", "the port node did not come back after device_add")


def assert_stopped_by_unplug(ctx, since):
    """The unit binds to the port's device: losing the port stops it (a clean stop, not a
    failure and no restart). Returns the agent's journal lines since `since`."""
    unit = ctx.agent_unit
    binds = [b.strip('"') for b in ctx.run(f"systemctl show -P BindsTo {unit}").split()]
    if not any(b.endswith(".device") for b in binds):
        raise CheckFailed(f"{unit} does not bind to the port's device (BindsTo={binds})")
    wait_guest(ctx, f"[ \"$(systemctl show -P ActiveState {unit})\" = inactive ]",
               f"{unit} did not stop when its port went away", timeout=100)
    journal = ctx.run(f"journalctl --no-pager -o cat -u {unit} --since=@{since}")
    st = unit_state(ctx)
    if st.get("SubState") != "dead":
        raise CheckFailed(f"{unit} after the unplug: {st}\n{journal}")
    return journal


def wait_agent_back(ctx, old_pid, a=None, timeout=60):
    """After the port is back: the unit runs a new agent (started by the udev rule) and the
    host's guest-sync is answered, on `a` (reconnecting as needed) or on a fresh connection.
    Returns (seconds to the answer, connection)."""
    t0 = time.monotonic()
    wait_new_pid(ctx, old_pid, timeout)
    a = a or AgentConn(ctx.guest.agent_socket, connect=False)
    try:
        a.wait_ready(max(5, timeout - (time.monotonic() - t0)))
    except TimeoutError as e:
        a.close()
        raise CheckFailed(f"after device_add: {e}") from None
    return time.monotonic() - t0, a


def after_hotplug(ctx, conn, writer):
    """Whatever a hot-plug check left: its host connection closed, the port plugged back,
    everything thawed, its writer stopped."""
    if conn is not None:
        conn.close()
    if ctx.guest.run(f"test -c {PORT_NODE}")[0] != 0:
        try:
            plug_agent_port(ctx)
        except (vm.GuestError, CheckFailed) as e:
            say(f"   (plugging the port back failed: {e})")
    ensure_thawed(ctx)
    writer.stop()


@check("hotplug_port")
def check_hotplug_port(ctx):
    """Port hot-unplugged (also while frozen): the unit stops and thaws; plugged back, it answers.

    The unit binds to the port's device (BindsTo=): losing the port stops the agent cleanly
    (SIGTERM, which thaws whatever it froze), and the udev rule starts it again when the port
    comes back. QEMU's chardev outlives the port device, so the host's connection survives."""
    ctx.need_agent()
    unit = ctx.agent_unit
    # 1. idle: no host connected
    with ctx.agent() as a:
        a.call("guest-ping")
    old = agent_pid(ctx)
    since = int(ctx.run("date +%s").strip())
    gone = unplug_agent_port(ctx)
    journal = assert_stopped_by_unplug(ctx, since)
    ctx.note(f"hotplug: device_del -> node gone {gone:.1f}s; {unit} BindsTo its device: stopped "
             f"({unit_state(ctx)['SubState']})")
    plug_agent_port(ctx)
    back, a = wait_agent_back(ctx, old)
    with a:
        a.call("guest-ping")
    ctx.note(f"hotplug: device_add -> new agent answered guest-sync after {back:.1f}s")

    # 2. /data frozen, the host still connected, when the port goes away
    w = Writer(ctx, "/data/writer-hotplug.log", "hotplug")
    w.start()
    a = None
    try:
        a = ctx.agent()
        freeze_data(a)
        w.assert_blocked(2)
        old = agent_pid(ctx)
        since = int(ctx.run("date +%s").strip())
        unplug_agent_port(ctx)
        t0 = time.monotonic()
        journal = assert_stopped_by_unplug(ctx, since)
        # the stop (SIGTERM) thaws before the agent exits
        w.wait_progress(timeout=30, what="the unplug of the agent's port")
        thawed_after = time.monotonic() - t0
        if not re.search(r"thaw", journal, re.I):
            raise CheckFailed(f"the agent's journal does not mention thawing on stop:\n{journal}")
        # a clean stop leaves nothing recorded frozen (the next agent would report it); the
        # state file stays, telling the last freeze and thaw
        rc, state = ctx.guest.run(f"{ctx.agent_bin} --status")
        if rc != 0 or "Frozen: nothing" not in state:
            raise CheckFailed(f"after the stop, the state directory records (exit {rc}):\n{state}")
        ctx.note(f"hotplug while /data frozen: {unit} stopped and the writer on /data wrote again "
                 f"within {thawed_after:.1f}s of the node going away (polled); journal: "
                 + " | ".join(l for l in journal.splitlines() if re.search(r"thaw|lost|stop",
                                                                         l, re.I))[:400])
        host_sock = a.sock
        plug_agent_port(ctx)
        # the same host connection: QEMU's chardev outlives the port device, so the host may
        # still be connected or may have to reconnect
        back, a = wait_agent_back(ctx, old, a)
        if a.call("guest-fsfreeze-status") != "thawed":
            raise CheckFailed("after the port came back, guest-fsfreeze-status is not 'thawed'")
        if frozen_mounts(a):
            raise CheckFailed(f"after the port came back, frozen: {frozen_mounts(a)}")
        ctx.note(f"hotplug while frozen: the port back, guest-sync answered after {back:.1f}s "
                 f"on {'the same' if a.sock is host_sock else 'a new'} host connection; "
                 f"status thawed")
    finally:
        after_hotplug(ctx, a, w)


HOTPLUG_AGENT_UNIT = "qa-hotplug-agent"  # the agent, not bound to its port (hotplug_reopen)


@check("hotplug_reopen")
def check_hotplug_reopen(ctx):
    """Not bound to its port, the agent outlives an unplug, sleeps, and reopens the port itself.

    Idle while the port is gone, the same process answers once it is back, also with /data
    frozen across the unplug (it stays frozen until the host thaws it).

    The packaged unit is stopped when its port goes away (hotplug_port); an agent run by other
    means must itself wait for the port (an inotify watch on the device path, a slow retry as
    the fallback) and reopen it. Here the same binary runs as a transient unit, and the packaged
    unit, which udev would start when the port comes back, is held off by a runtime drop-in."""
    ctx.need_agent()
    g = ctx.guest
    unit, own = ctx.agent_unit, HOTPLUG_AGENT_UNIT
    block = f"/run/systemd/system/{unit}.d/qa-hotplug-reopen.conf"
    w = Writer(ctx, "/data/writer-reopen.log", "reopen")
    packaged = agent_pid(ctx)
    start = int(ctx.run("date +%s").strip())
    a = None

    def own_pid():
        return ctx.run(f"systemctl show -P MainPID {own}").strip()

    def assert_same_agent(pid, when):
        now = own_pid()
        if now != pid or g.run(f"kill -0 {pid}")[0] != 0:
            raise CheckFailed(f"{when}: the agent {pid} is gone (MainPID of {own} now {now})")

    def lost_and_idle(pid, what):
        # the agent notices the port going away, stays alive and sleeps. Noticed = the dead
        # port's descriptor closed (its log lines are held while anything is frozen)
        gone = unplug_agent_port(ctx)
        noticed = wait_guest(ctx, f"! ls -l /proc/{pid}/fd | grep -q 'vport.*(deleted)'",
                             "the agent did not close its unplugged port", timeout=30)
        assert_same_agent(pid, "after device_del")
        assert_idle(ctx, pid, f"port unplugged, {what}")
        return gone, noticed

    def reopened(pid, conn):
        # the same process answers on the port plugged back; returns seconds from device_add
        t0 = time.monotonic()
        plug_agent_port(ctx)
        try:
            conn.wait_ready(30)
        except TimeoutError as e:
            raise CheckFailed(f"after device_add: {e}") from None
        back = time.monotonic() - t0
        assert_same_agent(pid, "after device_add")
        return back

    try:
        # udev starts the packaged unit whenever the port appears: a failing condition keeps it
        # from taking the port from the agent under test
        g.put(b"[Unit]\nConditionPathExists=/nonexistent/qa-hotplug-reopen\n", block)
        ctx.run(f"systemctl daemon-reload && systemctl stop {unit}")
        # no auto-thaw: what keeps /data frozen across the unplug is the agent alone
        g.start_service(own, f"-p Type=notify {ctx.agent_bin} -v --fsfreeze-timeout=0")
        pid = own_pid()

        # 1. no host connected: the port is out of the agent's poll set, and an unplugged port
        # reports only a hang-up, so the removal of its device path is what the agent sees
        with ctx.agent() as a0:
            a0.call("guest-ping")
        gone, noticed = lost_and_idle(pid, "no host")
        a = AgentConn(g.agent_socket, connect=False)
        back = reopened(pid, a)
        a.call("guest-ping")
        a.close()
        journal = ctx.run(f"journalctl --no-pager -o cat -u {own} --since=@{start}")
        if "lost channel" not in journal:
            raise CheckFailed("the agent did not log the loss of its port")
        ctx.note(f"hotplug, agent not bound to the port: device_del -> node gone {gone:.1f}s, "
                 f"the agent closed the dead port {noticed:.1f}s later; device_add -> the same "
                 f"agent {pid} answered guest-sync after {back:.1f}s")

        # 2. /data frozen and the host connected when the port goes away
        w.start()
        a = ctx.agent()
        freeze_data(a)
        w.assert_blocked(2)
        host_sock = a.sock
        gone, noticed = lost_and_idle(pid, "/data frozen, host connected")
        w.assert_blocked(1)
        back = reopened(pid, a)
        if a.call("guest-fsfreeze-status") != "frozen":
            raise CheckFailed("after the port came back, guest-fsfreeze-status is not 'frozen'")
        if frozen_mounts(a) != ["/bind", "/data"]:
            raise CheckFailed(f"after the port came back, frozen: {frozen_mounts(a)}")
        if a.call("guest-fsfreeze-thaw") != 1:
            raise CheckFailed("thaw after the port came back did not return 1")
        w.wait_progress()
        ctx.note(f"hotplug while /data frozen, agent not bound: closed the dead port "
                 f"{noticed:.1f}s after the node went away; device_add -> guest-sync answered "
                 f"after {back:.1f}s on {'the same' if a.sock is host_sock else 'a new'} host "
                 f"connection, still frozen, thaw = 1")
    except (CheckFailed, AgentError, TimeoutError) as e:
        journal = g.run(f"journalctl --no-pager -o short-monotonic -u {own} --since=@{start} "
                        f"| tail -40")[1]
        raise CheckFailed(f"{e}\n--- {own} journal ---\n{journal}") from None
    finally:
        after_hotplug(ctx, a, w)
        try:
            g.run(f"systemctl stop {own}; systemctl reset-failed {own} 2>/dev/null; "
                  f"rm -f {block}; systemctl daemon-reload; systemctl start {unit}", timeout=120)
            wait_new_pid(ctx, packaged)
        except (vm.GuestError, CheckFailed) as e:
            say(f"   (restoring {unit} failed: {e})")


# ---- power, Proxmox's way (destructive: the harness guest ends; a later harness check boots it
# again, the libvirt checks boot the disks under libvirtd anyway) -----------------------------

@check("shutdown_proxmox")
def check_shutdown_proxmox(ctx):
    """guest-shutdown with no mode, as Proxmox sends it (guest-ping first; sync-delimited and
    the command in one write; no reply, then EOF, is success): the guest powers off and QEMU
    exits within Proxmox's default 60 s."""
    ctx.need_agent()
    g = ctx.guest
    with ctx.agent("delimited") as a:
        a.pve_call("guest-ping")
        t0 = time.monotonic()
        try:
            reply = a.pve_execute("guest-shutdown", timeout=120, allow_close=True)
        except TimeoutError:
            reply = "no reply and no EOF within 120 s"
        t_reply = time.monotonic() - t0
    if isinstance(reply, dict) and "error" in reply:
        raise CheckFailed(f"guest-shutdown: {AgentError(reply)}")
    try:
        rc = g.proc.wait(max(1, 60 - (time.monotonic() - t0)))
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"QEMU still runs 60 s after guest-shutdown (reply: {reply!r})") \
            from None
    took = time.monotonic() - t0
    g.shutdown()  # the runner's connection
    console = g.console_tail(60)
    if rc != 0 or "reboot: Power down" not in console:
        raise CheckFailed(f"QEMU exited with {rc} after guest-shutdown; the console does not say "
                          f"'reboot: Power down':\n{console}")
    ctx.note(f"guest-shutdown (Proxmox framing, no mode): "
             f"{'EOF after the sync reply' if reply is None else reply} after {t_reply:.1f}s; "
             f"QEMU exited (power down) {took:.1f}s after the request")


# ---- real libvirt (last: it powers the harness guest off and boots the disks under libvirtd) --

# The libvirt disk targets in domain.xml.in, by TOPOLOGY id. NVMe is passed through with
# <qemu:commandline>: libvirt does not know it, so /nvme has no target.
LIBVIRT_TARGETS = {"root": "vda", "data": "vdb", "raida": "vdc", "raidb": "vdd",
                   "scsi00": "sda", "scsi23": "sdb", "hba": "sdc", "sata2": "sdd", "nvme": None,
                   "lsi": "sde", "pvscsi": "sdf", "sas": "sdg"}


def libvirt_expected_targets(mp):
    return sorted(t for t in (LIBVIRT_TARGETS[i] for i in MOUNT_DISKS[mp]) if t)


def parse_domfsinfo(text):
    rows = {}
    lines = text.splitlines()
    for line in lines[2:]:
        parts = line.split()
        if len(parts) >= 3:
            rows[parts[0]] = (parts[1], parts[2], sorted(parts[3].split(",")) if len(parts) > 3
                              else [])
    return rows


def agent_via_virsh(dom, cmd, arguments=None):
    req = {"execute": cmd, **({"arguments": arguments} if arguments else {})}
    out = lvdomain.virsh("qemu-agent-command", dom, json.dumps(req), "--timeout", "30")
    return json.loads(out)["return"]


def guest_side_of_missing_agent(g):
    """Why no agent answers, as far as the guest can tell: whether its test runner answers
    (the guest finished booting) and, if so, what systemd says of the agent."""
    try:
        g._connect_runner(time.monotonic() + 20)
        g._resync(time.monotonic() + 20)
    except Exception as e:  # the runner's own errors, OSError, timeouts: all mean "not up"
        return f"the test runner does not answer either ({e}): the guest has not finished booting"
    _, out = g.run("systemctl --no-pager status 'quiesce-agent*' 2>&1 | head -30; "
                   "journalctl -b --no-pager SYSLOG_IDENTIFIER=quiesce-agent 2>&1 | tail -20",
                   timeout=60)
    return "the guest is up (its test runner answers); systemd says:\n" + out


def wait_libvirt_agent(dom, timeout=60):
    """libvirt connects to the agent when the guest opens the port: guest-ping through virsh
    until it answers; returns the seconds waited."""
    t0 = time.monotonic()
    while True:
        res = lvdomain.virsh("qemu-agent-command", dom, '{"execute":"guest-ping"}',
                             "--timeout", "5", check=False)
        if res.strip().startswith("{"):
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise CheckFailed(f"libvirt cannot reach the agent within {timeout}s:\n{res}")
        time.sleep(1)


@check("libvirt", where="libvirt")
def check_libvirt(ctx):
    """Under libvirtd 9.0: domfsinfo targets, guestinfo, domfsfreeze/thaw, quiesced snapshot."""
    lg = ctx.guest
    dom = lg.name
    problems = []
    # 1. virsh domfsinfo: libvirt matched each disk address to one of its <disk>s
    text = lvdomain.virsh("domfsinfo", dom)
    say("   virsh domfsinfo:\n" + "\n".join("     " + l for l in text.rstrip().splitlines()))
    ctx.note("virsh domfsinfo: " + "; ".join(
        f"{mp} {r[0]} {r[1]} [{','.join(r[2])}]" for mp, r in parse_domfsinfo(text).items()))
    rows = parse_domfsinfo(text)
    for mp in MOUNT_DISKS:
        want = libvirt_expected_targets(mp)
        if mp not in rows:
            problems.append(f"domfsinfo: {mp} missing")
        elif rows[mp][2] != want:
            problems.append(f"domfsinfo: {mp} targets {rows[mp][2]}, expected {want}")
    if "/scratch" in rows:
        problems.append("domfsinfo lists /scratch (tmpfs)")
    # 2. virsh guestinfo --filesystem
    text = lvdomain.virsh("guestinfo", dom, "--filesystem")
    info = dict(re.findall(r"^(\S+)\s*:\s*(.*?)\s*$", text, re.M))
    seen = {}
    for i in range(int(info.get("fs.count", 0))):
        mp = info.get(f"fs.{i}.mountpoint")
        aliases = sorted(info.get(f"fs.{i}.disk.{j}.alias", "")
                         for j in range(int(info.get(f"fs.{i}.disk.count", 0))))
        serials = sorted(info.get(f"fs.{i}.disk.{j}.serial", "")
                         for j in range(int(info.get(f"fs.{i}.disk.count", 0))))
        seen[mp] = (aliases, serials)
    for mp in MOUNT_DISKS:
        want_serials = sorted(TOPO[i]["serial"] for i in MOUNT_DISKS[mp])
        got = seen.get(mp)
        if got is None:
            problems.append(f"guestinfo --filesystem: {mp} missing")
            continue
        if [a for a in got[0] if a] != libvirt_expected_targets(mp):
            problems.append(f"guestinfo: {mp} aliases {got[0]}")
        if got[1] != want_serials:
            problems.append(f"guestinfo: {mp} serials {got[1]}, expected {want_serials}")
    # 3. domfsfreeze --mountpoint / domfsthaw
    out = lvdomain.virsh("domfsfreeze", dom, "--mountpoint", "/data")
    say(f"   domfsfreeze --mountpoint /data: {out.strip()}")
    if "Froze 1 filesystem" not in out:
        problems.append(f"domfsfreeze --mountpoint /data: {out.strip()}")
    fs = agent_via_virsh(dom, "guest-get-fsinfo")
    frozen = sorted(f["mountpoint"] for f in fs if f.get("frozen"))
    if frozen != ["/bind", "/data"]:
        problems.append(f"after domfsfreeze --mountpoint /data, frozen: {frozen}")
    out = lvdomain.virsh("domfsthaw", dom)
    say(f"   domfsthaw: {out.strip()}")
    if "Thawed 1 filesystem" not in out:
        problems.append(f"domfsthaw: {out.strip()}")
    if agent_via_virsh(dom, "guest-fsfreeze-status") != "thawed":
        problems.append("not thawed after domfsthaw")
    # 4. a quiesced external disk-only snapshot of the data disk: the base image must hold
    # what the guest wrote (without sync) just before
    token = os.urandom(8).hex()
    ctx.run(f"yes 'libvirt {token}' | head -n 4096 >/data/lv-snap")
    want = f"libvirt {token}\n" * 4096
    overlay = lg.path("disk-data.lv-snap.qcow2")
    specs = ["--diskspec", f"vdb,snapshot=external,file={overlay}"]
    for t in sorted(t for t in LIBVIRT_TARGETS.values() if t and t != "vdb"):
        specs += ["--diskspec", f"{t},snapshot=no"]
    t0 = time.monotonic()
    out = lvdomain.virsh("snapshot-create-as", dom, "qa-quiesced", "--disk-only",
                         "--quiesce", "--atomic", *specs, timeout=300)
    say(f"   snapshot-create-as --disk-only --quiesce: {out.strip()} "
        f"({time.monotonic() - t0:.1f}s)")
    if agent_via_virsh(dom, "guest-fsfreeze-status") != "thawed":
        problems.append("the guest is still frozen after snapshot-create-as --quiesce")
    journal = ctx.run(f"journalctl -b --no-pager -u {ctx.agent_unit} | "
                      "grep -iE 'freez|thaw' | tail -6 || true")
    base = lg.disk_path(TOPO["data"])
    off = data_partition_offset(base)
    got = debugfs_cat(base, off, "/lv-snap").decode(errors="replace")
    if got != want:
        problems.append(f"the snapshot's base image holds {len(got)} bytes of /data/lv-snap, "
                        f"{len(want)} were written (agent log:\n{journal})")
    rc, fsck = e2fsck_clean(base, off)
    if rc != 0:
        problems.append(f"e2fsck -fn of the snapshot's base image exited {rc}:\n"
                        f"{fsck[-600:]}")
    lvdomain.virsh("snapshot-list", dom)
    if problems:
        raise CheckFailed("under libvirt:\n  " + "\n  ".join(problems))
    ctx.note("libvirt: domfsinfo targets right for every mountpoint, quiesced snapshot's base "
             "image holds the data, e2fsck clean")


def virsh_kv(text):
    """`virsh guestinfo` / `guestvcpus` output as {key: value}."""
    return dict(re.findall(r"^(\S+)\s*:\s*(.*?)\s*$", text, re.M))


def guest_os(ctx):
    """os-release and uname, as guestinfo --os names them."""
    text = ctx.run("cat /etc/os-release; printf 'KR=%s\\nKV=%s\\nM=%s\\n' \"$(uname -r)\" "
                   "\"$(uname -v)\" \"$(uname -m)\"")
    kv = {}
    for line in text.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            kv[k] = v.strip().strip('"')
    names = {"id": "ID", "name": "NAME", "pretty-name": "PRETTY_NAME", "version": "VERSION",
             "version-id": "VERSION_ID", "variant": "VARIANT", "variant-id": "VARIANT_ID",
             "kernel-release": "KR", "kernel-version": "KV", "machine": "M"}
    return {f"os.{k}": kv[v] for k, v in names.items() if v in kv}


def guest_tz(ctx):
    name, off = ctx.run("date +'%Z %z'").split()
    sign = -1 if off[0] == "-" else 1
    return name, sign * (int(off[1:3]) * 3600 + int(off[3:5]) * 60)


def guestinfo_interfaces(kv):
    out = {}
    for i in range(int(kv.get("if.count", 0))):
        addrs = set()
        for j in range(int(kv.get(f"if.{i}.addr.count", 0))):
            addrs.add((kv.get(f"if.{i}.addr.{j}.addr"), kv.get(f"if.{i}.addr.{j}.type"),
                       int(kv.get(f"if.{i}.addr.{j}.prefix", -1))))
        out[kv.get(f"if.{i}.name")] = (kv.get(f"if.{i}.hwaddr"), addrs)
    return out


def domifaddr_interfaces(text):
    """`virsh domifaddr --source agent`: rows of name, MAC, protocol, address/prefix; a row
    whose name is '-' continues the interface above."""
    out, name = {}, None
    for line in text.splitlines()[2:]:
        f = line.split()
        if len(f) < 4:
            continue
        if f[0] != "-":
            name = f[0]
            out[name] = (f[1], set())
        addr, prefix = f[3].rsplit("/", 1)
        out[name][1].add((addr, f[2], int(prefix)))
    return out


def without_unaddressed(ifs):
    """domifaddr lists only interfaces with an address."""
    return {n: v for n, v in ifs.items() if v[1]}


def libvirt_domtime(dom):
    return int(re.search(r"Time:\s*(\d+)", lvdomain.virsh("domtime", dom)).group(1))


@check("libvirt_commands", where="libvirt")
def check_libvirt_commands(ctx):
    """Through real virsh: domifaddr --source agent, guestinfo per group and all at once,
    domhostname, domtime (--time/--now/--sync), guestvcpus, vcpucount --guest,
    set-user-password (plain, --encrypted), set/get-user-sshkeys, domfstrim: each as the guest
    has it."""
    lg = ctx.guest
    dom = lg.name
    virsh = lvdomain.virsh
    steps = Steps()
    pw_user, ssh_user = "qa-lv-pw", "qa-lv-ssh"
    keyfile = lg.path("lv-sshkeys.txt")

    def keys_file(keys, end="\n"):
        with open(keyfile, "w") as f:
            f.write("\n".join(keys) + end)
        return keyfile
    try:
        net_up(ctx)
        start_login(ctx, LOGIN_USER)
        truth_ifs = guest_interfaces(ctx)
        hostname = ctx.run("hostname").strip()
        with steps.step("virsh domifaddr --source agent = ip -j addr"):
            text = virsh("domifaddr", dom, "--source", "agent")
            say("\n".join("     " + ln for ln in text.rstrip().splitlines()))
            got = domifaddr_interfaces(text)
            if got != without_unaddressed(truth_ifs):
                raise CheckFailed(f"domifaddr {interfaces_text(got)}\n      ip -j addr "
                                  f"{interfaces_text(without_unaddressed(truth_ifs))}")
        with steps.step("virsh guestinfo --os = os-release and uname"):
            kv = virsh_kv(virsh("guestinfo", dom, "--os"))
            want = guest_os(ctx)
            diff = {k: (kv.get(k), v) for k, v in want.items() if kv.get(k) != v}
            if diff:
                raise CheckFailed(f"(guestinfo, guest) differ: {diff}")
            say(f"   {kv.get('os.pretty-name')}, {kv.get('os.kernel-release')}")
        with steps.step("virsh guestinfo --hostname = hostname"):
            kv = virsh_kv(virsh("guestinfo", dom, "--hostname"))
            if kv.get("hostname") != hostname:
                raise CheckFailed(f"guestinfo {kv}, hostname {hostname!r}")
        with steps.step("virsh guestinfo --timezone = date +%Z %z"):
            kv = virsh_kv(virsh("guestinfo", dom, "--timezone"))
            name, off = guest_tz(ctx)
            if kv.get("timezone.offset") != str(off) or kv.get("timezone.name", name) != name:
                raise CheckFailed(f"guestinfo {kv}, the guest: {name} {off}")
        with steps.step("virsh guestinfo --user = who"):
            kv = virsh_kv(virsh("guestinfo", dom, "--user"))
            users = sorted(kv.get(f"user.{i}.name") for i in range(int(kv.get("user.count", 0))))
            who = sorted(set(ctx.run("who | awk '{print $1}'").split()))
            if users != who or LOGIN_USER not in users:
                raise CheckFailed(f"guestinfo users {users}, who {who}")
            say(f"   users {users}")
        with steps.step("virsh guestinfo --interface = ip -j addr"):
            kv = virsh_kv(virsh("guestinfo", dom, "--interface"))
            got = guestinfo_interfaces(kv)
            if got != truth_ifs:
                raise CheckFailed(f"guestinfo {interfaces_text(got)}\n      ip -j addr "
                                  f"{interfaces_text(truth_ifs)}")
        with steps.step("virsh guestinfo --filesystem: every block mount"):
            kv = virsh_kv(virsh("guestinfo", dom, "--filesystem"))
            mps = {kv.get(f"fs.{i}.mountpoint") for i in range(int(kv.get("fs.count", 0)))}
            if not set(MOUNT_DISKS) <= mps or set(NOT_LISTED) & mps:
                raise CheckFailed(f"guestinfo --filesystem mountpoints {sorted(mps)}")
        with steps.step("virsh guestinfo --disk: every disk with its serial"):
            kv = virsh_kv(virsh("guestinfo", dom, "--disk"))
            disks = {kv.get(f"disk.{i}.name"): kv.get(f"disk.{i}.serial")
                     for i in range(int(kv.get("disk.count", 0)))}
            by_serial, _, _ = guest_layout(ctx)
            problems = [f"{d['serial']} on {by_serial[d['serial']]['name']}: guestinfo has "
                        f"{disks.get(by_serial[d['serial']]['name'], '(no such disk)')!r}"
                        for d in vm.TOPOLOGY
                        if disks.get(by_serial[d["serial"]]["name"]) != d["serial"]]
            if problems:
                raise CheckFailed("; ".join(problems))
            say(f"   {len(disks)} disks")
        with steps.step("virsh guestinfo (every group at once)"):
            kv = virsh_kv(virsh("guestinfo", dom))
            need = ["os.id", "hostname", "timezone.offset", "user.count", "if.count",
                    "fs.count", "disk.count"]
            if [k for k in need if k not in kv]:
                raise CheckFailed(f"missing {[k for k in need if k not in kv]}")
            say(f"   {len(kv)} keys")
        with steps.step("virsh domhostname = hostname"):
            got = virsh("domhostname", dom).strip()
            if got != hostname:
                raise CheckFailed(f"domhostname {got!r}, hostname {hostname!r}")
        with steps.step("virsh domtime = host clock"):
            t0 = time.time_ns()
            got = libvirt_domtime(dom)
            d = check_clock("virsh domtime", got * 10**9, t0 - 10**9, time.time_ns())
            say(f"   domtime - host clock: {d:+.1f}s")
        with steps.step("virsh domtime --time (host + 3600), --now, --sync"):
            virsh("domtime", dom, "--time", str(int(time.time()) + 3600))
            t0 = time.time_ns()
            check_clock("domtime after --time", libvirt_domtime(dom) * 10**9, t0 - 10**9,
                        time.time_ns(), 3600)
            check_clock("the guest's date after --time", guest_clock_ns(ctx), t0 - 10**9,
                        time.time_ns(), 3600)
            virsh("domtime", dom, "--now")
            t0 = time.time_ns()
            check_clock("domtime after --now", libvirt_domtime(dom) * 10**9, t0 - 10**9,
                        time.time_ns())
            # --sync reads the RTC, which --now set: the clock must stay the host's
            ctx.run(f"date -u -s @{time.time() + 1800:.3f} >/dev/null")
            virsh("domtime", dom, "--sync")
            t0 = time.time_ns()
            check_clock("domtime after --sync", libvirt_domtime(dom) * 10**9, t0 - 10**9,
                        time.time_ns())
        with steps.step("virsh guestvcpus, vcpucount --guest = sysfs, nproc"):
            kv = virsh_kv(virsh("guestvcpus", dom))
            present = ctx.run("cat /sys/devices/system/cpu/present").strip()
            online, nproc = cpu_online(ctx)
            count = virsh("vcpucount", dom, "--guest").strip()
            if kv.get("vcpus") != present or kv.get("online") != online or count != str(nproc):
                raise CheckFailed(f"guestvcpus {kv}, vcpucount --guest {count}; sysfs present "
                                  f"{present} online {online}, nproc {nproc}")
            say(f"   guestvcpus {kv}; vcpucount --guest {count}")
        with steps.step("virsh guestvcpus --cpulist 1 --disable / --enable"):
            virsh("guestvcpus", dom, "--cpulist", "1", "--disable")
            online, nproc = cpu_online(ctx)
            count = virsh("vcpucount", dom, "--guest").strip()
            if online != "0" or count != "1":
                raise CheckFailed(f"after --disable: online {online}, vcpucount --guest {count}")
            virsh("guestvcpus", dom, "--cpulist", "1", "--enable")
            online, nproc = cpu_online(ctx)
            if online != "0-1" or nproc != 2:
                raise CheckFailed(f"after --enable: online {online}")
        with steps.step("virsh set-user-password (plain, then --encrypted)"):
            make_user(ctx, pw_user)
            pw = f"Qa-virsh-{os.urandom(6).hex()}"
            virsh("set-user-password", dom, pw_user, pw)
            h = shadow_hash(ctx, pw_user)
            if not password_matches(ctx, h, pw):
                raise CheckFailed(f"the shadow hash {h!r} does not verify the password")
            virsh("set-user-password", dom, pw_user, CRYPTED[0], "--encrypted")
            if shadow_hash(ctx, pw_user) != CRYPTED[0]:
                raise CheckFailed(f"shadow {shadow_hash(ctx, pw_user)!r}, set {CRYPTED[0]!r}")
        home = make_user(ctx, ssh_user)
        k1, k2, k3, k4 = SSH_KEYS

        def expect(want, what):
            # virsh 9.0 prints the keys one after the other with no newline between them
            # (vshPrint "%s" per key), whichever agent answers: compared as one string
            got = virsh("get-user-sshkeys", dom, ssh_user).replace("\n", "")
            _, _, lines = authorized_keys_file(ctx, home)
            if got != "".join(want) or lines != want:
                raise CheckFailed(f"{what}: get-user-sshkeys {got!r}, file {lines}, expected "
                                  f"{want}")
        with steps.step("virsh set-user-sshkeys (append, --reset, --remove), get-user-sshkeys"):
            # key files without a final newline: virsh sends each line, and nothing more
            virsh("set-user-sshkeys", dom, ssh_user, "--file", keys_file([k1, k2], end=""))
            expect([k1, k2], "after set-user-sshkeys k1 k2")
            virsh("set-user-sshkeys", dom, ssh_user, "--file", keys_file([k3], end=""))
            expect([k1, k2, k3], "after appending k3")
            virsh("set-user-sshkeys", dom, ssh_user, "--reset", "--file",
                  keys_file([k2], end=""))
            expect([k2], "after --reset k2")
            virsh("set-user-sshkeys", dom, ssh_user, "--remove", "--file",
                  keys_file([k2], end=""))
            expect([], "after --remove k2")
        with steps.step("virsh set-user-sshkeys, --remove with a key file as ssh-keygen writes "
                        "it (a final newline: virsh also sends an empty key, as qemu-ga takes)"):
            virsh("set-user-sshkeys", dom, ssh_user, "--file", keys_file([k4]))
            expect([k4], "after set-user-sshkeys k4 (file ending in a newline)")
            virsh("set-user-sshkeys", dom, ssh_user, "--remove", "--file", keys_file([k4]))
            expect([], "after --remove k4 (file ending in a newline)")
        with steps.step("virsh domfstrim, and with --minimum 1048576"):
            # (libvirt 9.0 refuses --mountpoint itself: "not supported for now")
            t0 = time.monotonic()
            virsh("domfstrim", dom, timeout=600)
            t1 = time.monotonic()
            virsh("domfstrim", dom, "--minimum", "1048576", timeout=600)
            say(f"   domfstrim {t1 - t0:.1f}s, --minimum 1 MiB {time.monotonic() - t1:.1f}s")
    finally:
        for u in (pw_user, ssh_user):
            drop_user(ctx, u)
        end_login(ctx, LOGIN_USER)
        net_down(ctx)
        lg.run("echo 1 >/sys/devices/system/cpu/cpu1/online", timeout=60)
        restore_guest_clock(ctx)
        if os.path.exists(keyfile):
            os.unlink(keyfile)
    steps.finish()


def boot_id(g, timeout=10):
    return g.run("cat /proc/sys/kernel/random/boot_id", timeout=timeout)[1].strip()


def kernel_restarts(g):
    """How often the guest's kernel restarted the machine, by its console log ("reboot:
    Restarting system" is printed at emergency level, whatever the loglevel; SeaBIOS does not
    greet again on the serial port after a reset)."""
    try:
        with open(g.console_log, "rb") as f:
            return f.read().count(b"reboot: Restarting system")
    except OSError:
        return 0


@check("libvirt_power", where="libvirt")
def check_libvirt_power(ctx):
    """virsh reboot --mode agent: the guest reboots (new boot id) and the agent answers libvirt
    again; virsh shutdown --mode agent: the domain is shut off within 60 s."""
    lg = ctx.guest
    dom = lg.name
    steps = Steps()
    restarted = back = False
    with steps.step("virsh reboot --mode agent: the guest's kernel restarts the machine"):
        before = boot_id(lg)
        starts = kernel_restarts(lg)
        # Nothing goes to the runner's port while the guest is down: QEMU does not read a
        # port no guest has open, and the host's writes would pile up in the socket.
        lg._close_runner()
        t0 = time.monotonic()
        out = lvdomain.virsh("reboot", dom, "--mode", "agent")
        say(f"   {out.strip()}")
        deadline = t0 + ctx.args.boot_timeout
        while kernel_restarts(lg) <= starts:
            if time.monotonic() > deadline:
                raise CheckFailed(f"no restart within {ctx.args.boot_timeout}s (domstate "
                                  f"{lvdomain.virsh('domstate', dom).strip()})\n"
                                  f"{lg.console_tail(20)}")
            time.sleep(1)
        t_reset = time.monotonic() - t0
        restarted = True
        ctx.note(f"virsh reboot --mode agent: the kernel restarted the machine after "
                 f"{t_reset:.0f}s")
    if restarted:
        with steps.step("the guest comes back: the agent answers libvirt, a new boot id"):
            # A loaded TCG host can make the boot after the restart much slower than the first
            # (RCU stalls, initramfs's udev settle timing out). Seen in CI: an RCU stall 38 s
            # in, before the initramfs had started, and the boot not done 300 s later, where
            # the first boot took 49 s. So twice the boot timeout, and on failure the runner
            # tells a guest still booting from an agent that did not start.
            timeout = 2 * ctx.args.boot_timeout
            t0 = time.monotonic()
            deadline = t0 + timeout
            try:
                t_agent = wait_libvirt_agent(dom, timeout=timeout)
            except CheckFailed as e:
                status = lvdomain.virsh("qemu-monitor-command", dom, "--hmp", "info status",
                                        check=False).strip()
                raise CheckFailed(f"{e}\nQEMU: {status}; {guest_side_of_missing_agent(lg)}; "
                                  f"the console since the restart:\n{lg.console_tail(25)}") \
                    from None
            lg._connect_runner(deadline)
            lg._resync(deadline)
            now = boot_id(lg)
            if now == before:
                raise CheckFailed(f"the boot id is still {now}")
            back = True
            ctx.note(f"after the restart the agent answers libvirt again after {t_agent:.0f}s "
                     f"(domstate {lvdomain.virsh('domstate', dom).strip()})")
    if not back:
        # the shutdown is judged on a domain of its own, not on one that did not come back
        say("   (a new domain for the shutdown)")
        ctx.stop_libvirt(graceful=False)
        lg = ctx.use_libvirt()
        dom = lg.name
    with steps.step("virsh shutdown --mode agent: shut off within 60 s"):
        t0 = time.monotonic()
        out = lvdomain.virsh("shutdown", dom, "--mode", "agent")
        say(f"   {out.strip()}")
        try:
            lg.proc.wait(60)
        except subprocess.TimeoutExpired:
            raise CheckFailed(f"domstate after 60 s: {lvdomain.virsh('domstate', dom).strip()}") \
                from None
        state = lvdomain.virsh("domstate", dom).strip()
        if state != "shut off":
            raise CheckFailed(f"domstate {state!r}")
        ctx.note(f"virsh shutdown --mode agent: shut off after {time.monotonic() - t0:.0f}s")
    steps.finish()


# ---- driver ---------------------------------------------------------------------------------

def install_agent(g, args, ctx):
    """Copy the agent, its unit and extra files into the guest; returns the unit name.
    Nothing is started here: the suite reboots so that udev starts the unit at boot."""
    files = []
    unit_name = None
    bin_dest = "/usr/sbin/quiesce-agent"
    if args.agent_unit:
        unit_name = os.path.basename(args.agent_unit)
        with open(args.agent_unit) as f:
            m = re.search(r"^ExecStart=[-@+!:]*(\S+)", f.read(), re.M)
        if m:
            bin_dest = m.group(1)  # install the binary where the unit expects it
        files.append((args.agent_unit, f"/etc/systemd/system/{unit_name}", 0o644))
    if args.agent_bin:
        files.append((args.agent_bin, bin_dest, 0o755))
    ctx.agent_bin = bin_dest
    for spec in args.agent_file:
        src, dest = spec.split(":", 1)
        files.append((src, dest, 0o755 if os.access(src, os.X_OK) else 0o644))
    for src, dest, mode in files:
        say(f"  copying {src} -> guest:{dest}")
        g.put(src, dest, mode)
    if unit_name:
        with open(args.agent_unit) as f:
            installable = "[Install]" in f.read()
        # A unit without [Install] is started by its udev rule when the port appears (at boot);
        # one with [Install] is enabled, as its package would.
        enable = f" && systemctl enable {unit_name}" if installable else ""
        g.run(f"systemctl daemon-reload{enable}; sync", check=True)
    return unit_name


def boot_and_time_agent(g, ctx, timeout, record=True):
    """Boot; measure when the runner and (if installed) the agent first answer, from QEMU start
    (record=False: a later boot, whose times do not replace the first boot's)."""
    g.boot(timeout=timeout, wait_system=False)
    if record:
        ctx.boot_runner_ready = g.timings["runner_ready"]
    if ctx.agent_unit:
        a = AgentConn(g.agent_socket, connect=False)
        try:
            a.wait_ready(max(30, timeout - (time.monotonic() - g.t_start)))
            if record:
                ctx.boot_agent_ready = time.monotonic() - g.t_start
            else:
                say(f"   agent answered {time.monotonic() - g.t_start:.0f}s after QEMU start")
        except TimeoutError as e:
            say(f"   {e}")
        finally:
            a.close()
    rc, out = g.run("systemctl is-system-running --wait", timeout=timeout)
    g.timings["system_running"] = time.monotonic() - g.t_start
    if out.strip() != "running":
        _, failed = g.run("systemctl --failed --no-legend --plain")
        say(f"   warning: guest system state is {out.strip()!r}; failed units:\n{failed}")


def failure_details(g, agent_unit):
    text = g.console_tail(40)
    if agent_unit and g.proc and g.proc.poll() is None:
        try:
            _, journal = g.run(f"journalctl -b --no-pager -n 40 -u {agent_unit}", timeout=30)
            text += f"\n--- agent journal ({agent_unit}) ---\n{journal}--- end of journal ---"
        except vm.GuestError as e:
            text += f"\n(agent journal unavailable: {e})"
    return text


def main(argv):
    ap = argparse.ArgumentParser(description="Run the quiesce-agent VM checks in a QEMU guest.")
    ap.add_argument("--agent-bin", help="agent binary to install in the guest")
    ap.add_argument("--agent-unit", help="systemd unit to install in the guest (started by udev "
                    "at boot when it has no [Install] section, else enabled)")
    ap.add_argument("--agent-file", action="append", default=[], metavar="SRC:DEST",
                    help="extra file to copy into the guest (udev rule, config); repeatable")
    ap.add_argument("--compare-qga", nargs="?", const="", default=None, metavar="JSON",
                    help="run only compare_qga and compare_qga_commands (unless checks are "
                    "named) and write both agents' replies to JSON (fsinfo) and "
                    "JSON-commands.json (every read-only command) when given")
    ap.add_argument("--no-libvirt", action="store_true", help="skip the libvirt check")
    ap.add_argument("--list", action="store_true", help="list the checks and exit")
    ap.add_argument("--boot-timeout", type=int, default=300)
    ap.add_argument("checks", nargs="*", metavar="CHECK")
    args = ap.parse_args(argv)
    if args.list:
        for name, fn in CHECKS.items():
            print(f"{name}: {(fn.__doc__ or '').strip().splitlines()[0]}")
        return 0
    unknown = [c for c in args.checks if c not in CHECKS]
    if unknown:
        ap.error(f"unknown checks: {' '.join(unknown)} (see --list)")
    selected = args.checks or (["compare_qga", "compare_qga_commands"]
                               if args.compare_qga is not None else list(CHECKS))
    if args.no_libvirt:
        selected = [c for c in selected if CHECKS[c].where != "libvirt"]
    if args.compare_qga:
        args.compare_qga = os.path.abspath(args.compare_qga)
    vm._install_signal_handlers()

    passed = failed = skipped = 0
    t_suite = time.monotonic()
    g = vm.Guest()
    ctx = Context(g, None, args)
    try:
        say("== building or reusing the guest image")
        g.prepare()
        say(f"   image {g.image_dir} ({g.timings.get('image', 0):.0f}s)")
        say("== booting the guest")
        if args.agent_bin or args.agent_unit or args.agent_file:
            g.boot(timeout=args.boot_timeout, wait_system=False)
            say(f"   runner up after {g.timings['runner_ready']:.0f}s")
            say("== installing the agent")
            ctx.agent_unit = install_agent(g, args, ctx)
            say("== rebooting, so that udev starts the agent at boot")
            g.shutdown()
        boot_and_time_agent(g, ctx, args.boot_timeout)
        say(f"   up after {g.timings['system_running']:.0f}s (runner "
            f"{ctx.boot_runner_ready:.0f}s" + (f", agent {ctx.boot_agent_ready:.0f}s"
                                               if ctx.boot_agent_ready else "") + ")")
        say("== provisioning storage")
        g.provision()
        say(f"   done in {g.timings['provision']:.0f}s")
        for name in selected:
            t0 = time.monotonic()
            say(f"-- {name}")
            try:
                ctx.place(CHECKS[name].where)
                CHECKS[name](ctx)
            except SkipCheck as e:
                skipped += 1
                say(f"SKIP {name} ({time.monotonic() - t0:.1f}s): {e}")
            except Exception as e:  # any failure of a check is that check's failure
                failed += 1
                detail = str(e) if isinstance(e, (CheckFailed, vm.GuestError, AgentError)) \
                    else traceback.format_exc()
                say(f"FAIL {name} ({time.monotonic() - t0:.1f}s)\n{detail}")
                cur = ctx.guest
                try:
                    if cur.proc and cur.proc.poll() is None:
                        say(failure_details(cur, ctx.agent_unit))
                except Exception as e2:  # noqa: BLE001 - details are best effort
                    say(f"   (no failure details: {e2})")
            else:
                passed += 1
                say(f"PASS {name} ({time.monotonic() - t0:.1f}s)")
        say("== shutting down")
        ctx.stop_libvirt()
        g.shutdown()
    except (Exception, KeyboardInterrupt, SystemExit) as e:
        # Setup broke (image, boot, provisioning): every check that did not run failed.
        failed = len(selected) - passed - skipped
        say(f"ERROR: {e if isinstance(e, vm.GuestError) else traceback.format_exc()}")
        if g.workdir:
            say(g.console_tail(40))
    finally:
        try:
            ctx.stop_libvirt(graceful=False)
        except Exception as e:  # noqa: BLE001 - best effort on the way out
            say(f"   (stopping the libvirt domain: {e})")
        g.cleanup()
    if ctx.notes:
        say("== measured")
        for n in ctx.notes:
            say(f"   {n}")
    say(f"   suite took {time.monotonic() - t_suite:.0f}s")
    say(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
