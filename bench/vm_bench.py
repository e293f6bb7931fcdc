"""Item 7 of the benchmark (--vm): both agents in the QEMU test guest of tests/vm, measured from
the host.

The guest is the VM test suite's (tests/vm/guest.py): Debian 12 under QEMU (q35; TCG unless
QA_VM_KVM=1), provisioned with its filesystems on virtio-blk, virtio-scsi, SATA, NVMe, megasas,
LVM, MD, loop and a bind mount. quiesce-agent runs on org.qemu.guest_agent.0 and Debian's
qemu-ga on org.qemu.guest_agent.1, each as a transient systemd service without further options,
so both see the same mount table and both freeze all of it. Freezing everything is the point
here and is allowed: it happens in the guest, whose disks are scratch files of this run.

Every figure is a host-to-guest round trip through QEMU's chardev (host unix socket ->
virtio-serial -> the agent -> back), taken after an untimed guest-sync on the same connection,
so it holds the command's work plus the virtio-serial transport, as a host sees it; not the
agent's own time. The agents alternate which goes first from one run to the next.

Imported by bench.py only when --vm is given.
"""
import os
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "tests", "vm"))
import guest as vm  # noqa: E402
from hostdriver import AgentConn  # noqa: E402

from bench import AGENTS, alternate, log, ratio, spread, summary  # noqa: E402

GUEST_BIN = "/usr/local/sbin/quiesce-agent"
AGENT_UNIT = "qa-bench-agent"
METRICS = ("fsinfo_ms", "freeze_ms", "thaw_ms")


def timed(conn, command):
    """One command's round trip in ms, after an untimed sync; returns (ms, return value)."""
    conn.sync()
    t0 = time.perf_counter()
    reply = conn.execute(command, sync=False, timeout=300)
    ms = (time.perf_counter() - t0) * 1e3
    if "error" in reply:
        raise RuntimeError(f"{command}: {reply['error']}")
    return ms, reply["return"]


def bench_vm(binary, reps):
    """Boots the test guest, runs both agents in it, returns results.json's "vm" entry."""
    started = time.perf_counter()
    samples = {n: {m: [] for m in METRICS} for n in AGENTS}
    counts = {n: {} for n in AGENTS}
    with vm.Guest() as g:
        g.boot()
        g.provision()
        g.put(binary, GUEST_BIN, 0o755)
        g.start_service(AGENT_UNIT, f"{GUEST_BIN} -m virtio-serial "
                                    f"-p /dev/virtio-ports/{vm.AGENT_PORT}")
        g.start_qemu_ga()
        conns = {"quiesce-agent": AgentConn(g.agent_socket, timeout=300),
                 "qemu-ga": AgentConn(g.compare_socket, timeout=300)}
        try:
            versions = {}
            for name, c in conns.items():
                c.wait_ready(60)
                versions[name] = c.call("guest-info")["version"]
                timed(c, "guest-get-fsinfo")  # warm-up: page cache, sysfs dentries
            log(f"vm: guest up after {g.timings['system_running']:.0f}s; quiesce-agent "
                f"{versions['quiesce-agent']}, qemu-ga {versions['qemu-ga']}; {reps} runs each")
            for rep in range(reps):
                for name in alternate(rep):
                    c = conns[name]
                    ms, fs = timed(c, "guest-get-fsinfo")
                    samples[name]["fsinfo_ms"].append(ms)
                    counts[name]["filesystems"] = len(fs)
                for name in alternate(rep):
                    c = conns[name]
                    ms, n = timed(c, "guest-fsfreeze-freeze")
                    samples[name]["freeze_ms"].append(ms)
                    counts[name]["frozen"] = n
                    ms, n = timed(c, "guest-fsfreeze-thaw")
                    samples[name]["thaw_ms"].append(ms)
                    counts[name]["thawed"] = n
        finally:
            for c in conns.values():
                try:
                    c.call("guest-fsfreeze-thaw")
                except Exception:  # noqa: BLE001 - best effort; the guest is discarded anyway
                    pass
                c.close()
            g.stop_service(AGENT_UNIT)
            g.stop_service(vm.QGA_COMPARE_UNIT)
        out = {n: {m: summary(samples[n][m]) for m in METRICS} for n in AGENTS}
        for n in AGENTS:
            out[n].update(counts[n], version=versions[n])
        out["guest"] = (f"Debian 12, QEMU q35 {'KVM' if g.kvm else 'TCG'}, {g.smp} vCPUs, "
                        f"{g.memory} MiB")
        out["boot_s"] = g.timings["system_running"]
    out["seconds"] = time.perf_counter() - started
    return out


def table_rows(v, row):
    """The "vm" rows of results.md, through bench.table()'s row(); counts are quiesce-agent's /
    qemu-ga's."""
    q, g = v["quiesce-agent"], v["qemu-ga"]
    for metric, label in (
            ("fsinfo_ms", f"vm guest-get-fsinfo, {q.get('filesystems')} / {g.get('filesystems')} "
                          f"filesystems ({v['guest']}), host round trip ms"),
            ("freeze_ms", f"vm freeze-all, {q.get('frozen')} / {g.get('frozen')} frozen, ms"),
            ("thaw_ms", "vm thaw-all, ms")):
        row(label, spread(q[metric], 2), spread(g[metric], 2),
            ratio(q[metric]["median"], g[metric]["median"]), "–", None)
