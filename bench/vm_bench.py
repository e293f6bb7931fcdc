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

After those, the cost of being polled in the guest: one simulated hour of KubeVirt's and of
Proxmox's polling (bench.POLL_MIXES) per agent, played as fast as the agent answers, through
the same chardev and framed as each stack frames it; the figure is the agent's CPU time in the
guest (utime+stime of /proc/PID/stat, read in the guest before and after). Then both
connections are closed and the agents' CPU time is watched with no host connected.

Imported by bench.py only when --vm is given.
"""
import os
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "tests", "vm"))
import guest as vm  # noqa: E402
from hostdriver import AgentConn  # noqa: E402

from bench import (AGENTS, POLL_MIXES, VM_DAY_FACTOR, alternate, log, mix_hour,  # noqa: E402
                   ratio, spread, summary)

GUEST_BIN = "/usr/local/sbin/quiesce-agent"
AGENT_UNIT = "qa-bench-agent"
METRICS = ("fsinfo_ms", "freeze_ms", "thaw_ms")
UNITS = {"quiesce-agent": AGENT_UNIT, "qemu-ga": vm.QGA_COMPARE_UNIT}
# the stacks' hours played in the guest, one run per agent (the host plays every mix)
VM_MIXES = ("kubevirt", "proxmox-gui")
# how long the Proxmox mix waits for a reply before it gives up on it (Proxmox: 5 s; more here,
# for a TCG guest on a loaded host)
PVE_TIMEOUT_S = 10


def guest_cpu(g, unit):
    """An agent's CPU time in the guest: utime+stime of /proc/PID/stat (all threads, dead ones
    too; ticks of 1/CLK_TCK s), and the run time in ns and run count of its live threads
    (/proc/PID/task/*/schedstat)."""
    _, out = g.run(f"pid=$(systemctl show -p MainPID --value {unit}); "
                   "read -r line < /proc/$pid/stat; echo ${line##*) }; getconf CLK_TCK; "
                   "cat /proc/$pid/task/*/schedstat", check=True)
    lines = out.split("\n")
    fields = lines[0].split()
    sched = [[int(x) for x in ln.split()] for ln in lines[2:] if ln.strip()]
    return {"ticks": int(fields[11]) + int(fields[12]), "tck": int(lines[1]),
            "run_ns": sum(x[0] for x in sched), "runs": sum(x[2] for x in sched)}


def play_mix_vm(g, conn, unit, key):
    """One simulated hour of a stack's polling through QEMU's chardev, as the stack sends it.
    libvirt stays connected: one guest-sync first, then bare requests. Proxmox connects for
    each command and closes after its reply (PVE::QMPClient: "qemu can only handle 1
    connection, so we close connections asap"), writing guest-sync-delimited and the command
    at once: the agent sees the port opened and closed by the host around every command."""
    mix = POLL_MIXES[key]
    events = mix_hour(mix)
    if mix["framing"] == "libvirt":
        conn.sync()
    before = guest_cpu(g, unit)
    t0 = time.perf_counter()
    errors, unanswered = {}, {}
    for cmd in events:
        if mix["framing"] == "libvirt":
            reply = conn.execute(cmd, sync=False, timeout=120)
        else:
            conn.close()
            conn.connect()
            try:
                reply = conn.pve_execute(cmd, timeout=PVE_TIMEOUT_S)
            except TimeoutError:
                # Proxmox gives up on the command (its timeout is 5 s) and goes on with the next
                # one, on a new connection: so does the benchmark, and counts it
                unanswered[cmd] = unanswered.get(cmd, 0) + 1
                log(f"vm: {unit}: no reply to {cmd} within {PVE_TIMEOUT_S} s")
                continue
        if "error" in reply:
            errors[cmd] = errors.get(cmd, 0) + 1
    wall = time.perf_counter() - t0
    after = guest_cpu(g, unit)
    conn.transcript.clear()  # an hour of replies is not worth keeping for a failure report
    cpu_s = (after["ticks"] - before["ticks"]) / after["tck"]
    return {"cpu_s": cpu_s, "run_ns": after["run_ns"] - before["run_ns"], "wall_s": wall,
            "errors": errors, "unanswered": unanswered,
            "requests": len(events) * (2 if mix["framing"] == "proxmox" else 1)}


def bench_fleet_vm(g, conns):
    out = {}
    for i, key in enumerate(VM_MIXES):
        mix = POLL_MIXES[key]
        res = {}
        for name in alternate(i):
            res[name] = play_mix_vm(g, conns[name], UNITS[name], key)
            log(f"vm: {key} {name}: {res[name]['cpu_s'] * 1e3:.0f} ms CPU for the hour, "
                f"{res[name]['wall_s']:.0f} s wall")
        out[key] = {"label": mix["label"], "framing": mix["framing"],
                    "requests_per_hour": res[AGENTS[0]]["requests"]}
        for name in AGENTS:
            r = res[name]
            out[key][name] = {"cpu_s_per_hour": summary([r["cpu_s"]]),
                              "cpu_s_per_1000_vm_day": r["cpu_s"] * VM_DAY_FACTOR,
                              "wall_s": summary([r["wall_s"]]), "errors": r["errors"],
                              "unanswered": r["unanswered"], "runs": [r]}
    return out


def bench_idle_vm(g, conns, seconds):
    """Both agents with no host connected (the benchmark's connections to QEMU's chardevs
    closed): CPU time over `seconds` (run time of live threads, ns) and times scheduled."""
    for c in conns.values():
        c.close()
    time.sleep(2)
    before = {n: guest_cpu(g, UNITS[n]) for n in AGENTS}
    time.sleep(seconds)
    after = {n: guest_cpu(g, UNITS[n]) for n in AGENTS}
    out = {"seconds": seconds}
    for n in AGENTS:
        cpu_s = (after[n]["run_ns"] - before[n]["run_ns"]) / 1e9
        out[n] = {"cpu_ms": cpu_s * 1e3, "ctx_switches": after[n]["runs"] - before[n]["runs"],
                  "ticks": after[n]["ticks"] - before[n]["ticks"],
                  "cpu_s_per_1000_vm_day": cpu_s / seconds * 86400 * 1000}
    log("vm: idle " + " ".join(f"{n}={out[n]['cpu_ms']:.2f}ms/{out[n]['ctx_switches']} runs"
                               for n in AGENTS))
    return out


def timed(conn, command):
    """One command's round trip in ms, after an untimed sync; returns (ms, return value)."""
    conn.sync()
    t0 = time.perf_counter()
    reply = conn.execute(command, sync=False, timeout=300)
    ms = (time.perf_counter() - t0) * 1e3
    if "error" in reply:
        raise RuntimeError(f"{command}: {reply['error']}")
    return ms, reply["return"]


def bench_vm(binary, reps, idle_s=60):
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
            log("vm: one simulated hour of polling per stack and agent")
            fleet = bench_fleet_vm(g, conns)
            log(f"vm: idle, no host connected, {idle_s:.0f} s")
            idle = bench_idle_vm(g, conns, idle_s)
        finally:
            for c in conns.values():
                try:
                    if c.sock is None:  # closed for the idle measurement
                        c.connect()
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
        out["fleet"] = fleet
        out["idle"] = idle
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
