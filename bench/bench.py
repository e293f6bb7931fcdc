#!/usr/bin/env python3
"""quiesce-agent against QEMU's guest agent (Debian's qemu-guest-agent), side by side in one run.

Both agents run on this machine on unix sockets and are driven by the same client, alternating
run by run. Nothing but loop-mounted images this script creates is ever frozen:

- the whole run happens in a private mount namespace (re-executed under `unshare --mount
  --propagation private`), so its loop and bind mounts never appear outside it, and block-backed
  mounts other than / that belong to anyone else are detached inside it (they stay mounted for
  their owners): QEMU's agent thaws every filesystem of its mount table, and must not thaw
  someone else's;
- quiesce-agent runs with --confine-mounts=<work dir> --fsfreeze-timeout=30 whenever it may
  freeze; QEMU's agent cannot be confined, so it runs with `-b guest-fsfreeze-freeze` (checked
  through guest-info before use) and is only ever sent guest-fsfreeze-freeze-list with the
  mountpoints of this script's own images;
- on exit, failure or Ctrl-C every image is thawed (fsfreeze -u), unmounted and detached, bind
  mounts are removed and both agents are stopped.

See docs/performance.md for what each figure means. bench/run.sh installs, builds and runs this.
"""
import argparse
import ctypes
import datetime
import json
import os
import platform
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QEMU_GA = "/usr/sbin/qemu-ga"
NS_ENV = "QA_BENCH_IN_NAMESPACE"
FREEZE_CMDS = ["guest-fsfreeze-freeze", "guest-fsfreeze-freeze-list", "guest-fsfreeze-thaw",
               "guest-fstrim"]
AGENTS = ["quiesce-agent", "qemu-ga"]

libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                       ctypes.c_void_p]
libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
MS_BIND = 4096
MNT_DETACH = 2
PR_SET_PDEATHSIG = 1


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(*cmd, check=True, capture=False):
    return subprocess.run(cmd, check=check, text=True,
                          stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                          stderr=subprocess.PIPE if capture else subprocess.DEVNULL)


def median(xs):
    return statistics.median(xs) if xs else None


def pct(xs, p):
    if not xs:
        return None
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def summary(xs):
    """median and spread of a sample"""
    return {"median": median(xs), "min": min(xs), "max": max(xs), "p25": pct(xs, 25),
            "p75": pct(xs, 75), "n": len(xs), "samples": xs}


# ---------------------------------------------------------------------------------------------
# mounts and images


def bind_mount(src, dst):
    if libc.mount(src.encode(), dst.encode(), None, MS_BIND, None) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"bind mount {src} on {dst}: {os.strerror(e)}")


def umount(path, detach=False):
    return libc.umount2(path.encode(), MNT_DETACH if detach else 0) == 0


def mountinfo():
    rows = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            mp = fields[4].encode().decode("unicode_escape")
            rows.append((fields[2], mp))
    return rows


def hide_foreign_mounts():
    """Detaches, in this namespace only, block-backed mounts other than / (other sessions'
    test images): both agents then see the same small table, and QEMU's agent's thaw-all
    cannot touch what does not belong to this run."""
    hidden = 0
    for devnum, mp in reversed(mountinfo()):
        if devnum.split(":")[0] != "0" and mp != "/":
            if umount(mp, detach=True):
                hidden += 1
    return hidden


class Images:
    """Loop-mounted ext4 images under one directory; everything undone by cleanup()."""

    def __init__(self, root, direct_io):
        self.root = root
        self.direct_io = direct_io
        self.mounted = []  # (mountpoint, loopdev)
        self.binds = []

    def make(self, name, size_mib):
        img = os.path.join(self.root, name + ".img")
        mp = os.path.join(self.root, name)
        os.makedirs(mp, exist_ok=True)
        with open(img, "wb") as f:
            f.truncate(size_mib << 20)
        # no lazy init: ext4lazyinit writing in the background would disturb the timings
        run("mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", img)
        dev = run("losetup", f"--direct-io={self.direct_io}", "-f", "--show", img,
                  capture=True).stdout.strip()
        try:
            run("mount", "-t", "ext4", dev, mp)
        except subprocess.CalledProcessError:
            run("losetup", "-d", dev, check=False)
            raise
        self.mounted.append((mp, dev))
        return mp

    def dio_state(self):
        states = set()
        for _, dev in self.mounted:
            try:
                with open(f"/sys/block/{os.path.basename(dev)}/loop/dio") as f:
                    states.add(f.read().strip())
            except OSError:
                pass
        return sorted(states)

    def bind(self, src, dst):
        os.makedirs(dst, exist_ok=True)
        bind_mount(src, dst)
        self.binds.append(dst)

    def unbind_all(self):
        while self.binds:
            dst = self.binds.pop()
            if not umount(dst):
                umount(dst, detach=True)

    def cleanup(self):
        self.unbind_all()
        for mp, dev in reversed(self.mounted):
            run("fsfreeze", "-u", mp, check=False)  # EINVAL when not frozen: fine
        for mp, dev in reversed(self.mounted):
            if not umount(mp):
                umount(mp, detach=True)
            run("losetup", "-d", dev, check=False)
        self.mounted = []


# ---------------------------------------------------------------------------------------------
# agents


def _child_setup():
    # the writers die with this script
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


# The agents die with this script too, through setpriv rather than a preexec_fn: with one,
# Python has to fork() its whole process instead of vfork(), which added about 15 ms of copying
# the benchmark's own memory to every start-up figure of both agents and buried the difference
# between them. setpriv execs the agent in place (same pid); its exec counts for both alike.
DIE_WITH_BENCH = ["setpriv", "--pdeathsig", "TERM", "--"]


class Agent:
    """One agent process on a unix socket, and one client connection to it."""

    def __init__(self, kind, workdir, binary, name, confine=None, block=(), verbose=True):
        self.kind = kind
        self.name = name
        self.dir = os.path.join(workdir, "agents", name)
        os.makedirs(self.dir, exist_ok=True)
        self.sock_path = os.path.join(self.dir, "sock")
        state = os.path.join(self.dir, "state")
        os.makedirs(state, exist_ok=True)
        pidfile = os.path.join(self.dir, "pid")
        logfile = os.path.join(self.dir, "log")
        if kind == "qemu-ga":
            blocked = sorted(set(block) | {"guest-fsfreeze-freeze"})
            self.argv = [QEMU_GA, "-m", "unix-listen", "-p", self.sock_path, "-t", state,
                         "-f", pidfile, "-l", logfile, "-b", ",".join(blocked)]
        else:
            conf = os.path.join(self.dir, "quiesce-agent.conf")
            with open(conf, "w") as f:
                f.write("[general]\n")
            self.argv = [binary, "-m", "unix-listen", "-p", self.sock_path, "-t", state,
                         "-f", pidfile, "-l", logfile, "-c", conf, "--fsfreeze-timeout=30"]
            if confine is not None:
                self.argv.append(f"--confine-mounts={confine}")
            if block:
                self.argv += ["-b", ",".join(block)]
            # --verbose logs a line per request: the freeze items read the freezer's phases
            # from it; the polled items run without it, as a production agent does
            if verbose:
                self.argv.append("--verbose")
        self.logfile = logfile
        self.proc = None
        self.conn = None
        self.reader = None

    def start(self):
        """Starts the agent; returns seconds from exec to the first guest-sync reply."""
        if os.path.exists(self.sock_path):
            os.unlink(self.sock_path)
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(DIE_WITH_BENCH + self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = t0 + 10
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.sock_path)
                break
            except OSError:
                s.close()
                if self.proc.poll() is not None or time.perf_counter() > deadline:
                    raise RuntimeError(f"{self.name} did not start: {' '.join(self.argv)}; "
                                       f"see {self.logfile}")
                time.sleep(0.0002)
        self.conn = s
        self.reader = s.makefile("rb")
        reply = self.call("guest-sync", {"id": 4242})
        t1 = time.perf_counter()
        if reply.get("return") != 4242:
            raise RuntimeError(f"{self.name}: unexpected guest-sync reply {reply}")
        return t1 - t0

    def disconnect(self):
        """The host goes away; the agent keeps running."""
        if self.conn is not None:
            self.reader.close()
            self.conn.close()
            self.conn = self.reader = None

    def stop(self):
        self.disconnect()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    @staticmethod
    def request(execute, arguments=None):
        req = {"execute": execute}
        if arguments is not None:
            req["arguments"] = arguments
        return (json.dumps(req) + "\n").encode()

    def call(self, execute, arguments=None):
        self.conn.sendall(self.request(execute, arguments))
        return json.loads(self.reader.readline())

    def call_ok(self, execute, arguments=None):
        reply = self.call(execute, arguments)
        if "return" not in reply:
            raise RuntimeError(f"{self.name} {execute}: {reply}")
        return reply["return"]

    def timed(self, execute, arguments=None):
        data = self.request(execute, arguments)
        t0 = time.perf_counter()
        self.conn.sendall(data)
        line = self.reader.readline()
        dt = time.perf_counter() - t0
        reply = json.loads(line)
        if "return" not in reply:
            raise RuntimeError(f"{self.name} {execute}: {reply}")
        return dt, reply["return"]

    def pipeline(self, datas):
        """Sends every request from a second thread while reading the replies; returns the
        seconds from the first byte sent to the last reply read."""
        def writer():
            for d in datas:
                self.conn.sendall(d)
        t = threading.Thread(target=writer)
        t0 = time.perf_counter()
        t.start()
        for _ in datas:
            if not self.reader.readline():
                raise RuntimeError(f"{self.name} closed the connection")
        dt = time.perf_counter() - t0
        t.join()
        return dt

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return None

    def cpu_ns(self):
        """The agent's CPU time so far, all its threads (dead ones too), in ns: the process
        CPU clock, which is the utime+stime of /proc/PID/stat without its 10 ms ticks. Python
        has no clock_getcpuclockid(); (~pid << 3) | 2 is the clock id it returns on Linux
        (CPUCLOCK_SCHED of the whole process)."""
        return time.clock_gettime_ns(((~self.proc.pid) << 3) | 2)

    def stat_ticks(self):
        """(utime, stime) of /proc/PID/stat, in clock ticks (user and kernel time apart)."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]), int(fields[12])

    def ctx_switches(self):
        """voluntary + involuntary context switches of all live threads: each request, or
        each idle wake-up, is at least one"""
        n = 0
        for task in os.listdir(f"/proc/{self.proc.pid}/task"):
            try:
                with open(f"/proc/{self.proc.pid}/task/{task}/status") as f:
                    for line in f:
                        if "ctxt_switches:" in line:
                            n += int(line.split()[1])
            except OSError:
                pass
        return n

    def check_freeze_all_blocked(self):
        info = self.call_ok("guest-info")
        for c in info["supported_commands"]:
            if c["name"] == "guest-fsfreeze-freeze" and c["enabled"]:
                raise RuntimeError(f"{self.name}: guest-fsfreeze-freeze is not blocked")


def alternate(rep):
    return AGENTS if rep % 2 == 0 else list(reversed(AGENTS))


# ---------------------------------------------------------------------------------------------
# the measurements


def bench_ping(agents, n, n_pipe):
    out = {}
    for name in alternate(0):
        a = agents[name]
        for _ in range(200):  # warm-up
            a.timed("guest-ping")
    lat = {name: [] for name in AGENTS}
    chunk = max(1, n // 10)
    for rep in range(10):  # alternating in ten slices
        for name in alternate(rep):
            a = agents[name]
            lat[name] += [a.timed("guest-ping")[0] * 1e6 for _ in range(chunk)]
    thr = {name: [] for name in AGENTS}
    datas = [Agent.request("guest-ping")] * n_pipe
    for rep in range(3):
        for name in alternate(rep):
            thr[name].append(n_pipe / agents[name].pipeline(datas))
    for name in AGENTS:
        out[name] = {"rtt_us": summary(lat[name]), "rtt_p99_us": pct(lat[name], 99),
                     "pipelined_req_per_s": summary(thr[name])}
        out[name]["rtt_us"]["samples"] = None  # too many to keep
    return out


def bench_startup(make_agent, reps, rss_reps):
    """Start-up differences are a millisecond in a spread of several: many runs. Idle RSS
    (0.2 s after the reply) varies less and is taken in the first rss_reps runs only."""
    times = {name: [] for name in AGENTS}
    idle = {name: [] for name in AGENTS}
    for rep in range(reps):
        for name in alternate(rep):
            a = make_agent(name)
            try:
                times[name].append(a.start() * 1e3)
                if rep < rss_reps:
                    time.sleep(0.2)
                    idle[name].append(a.rss_kib())
            finally:
                a.stop()
    return {name: {"startup_ms": summary(times[name]), "idle_rss_kib": summary(idle[name])}
            for name in AGENTS}


def bench_memory(agents, total):
    mix = [Agent.request("guest-ping"), Agent.request("guest-sync", {"id": 7}),
           Agent.request("guest-info"), Agent.request("guest-fsfreeze-status"),
           Agent.request("guest-get-fsinfo"), Agent.request("guest-get-disks"),
           Agent.request("guest-no-such-command"), b'{"execute": "guest-ping", "id": [1]}\n',
           Agent.request("guest-ping"), Agent.request("guest-sync-delimited", {"id": 8})]
    out = {}
    batch = 1000
    checkpoints = sorted({total // 10, total // 2, total})
    for name in alternate(0):
        a = agents[name]
        series = [(0, a.rss_kib())]
        sent = 0
        t0 = time.perf_counter()
        while sent < total:
            datas = [mix[(sent + i) % len(mix)] for i in range(batch)]
            a.pipeline(datas)
            sent += batch
            if sent in checkpoints:
                series.append((sent, a.rss_kib()))
        out[name] = {"rss_series_kib": series, "seconds": time.perf_counter() - t0,
                     "growth_kib": series[-1][1] - series[1][1]}
    return out


def bench_fsinfo(agents, images, workdir, counts, reps):
    base = images.make("fsinfo-base", 64)
    binds = os.path.join(workdir, "binds")
    os.makedirs(binds, exist_ok=True)
    out = {name: {} for name in AGENTS}
    made = 1
    for count in counts:
        while made < count:
            images.bind(base, os.path.join(binds, f"{made:05d}"))
            made += 1
        entries = {}
        for name in AGENTS:  # warm-up; both must list the same filesystems
            entries[name] = len(agents[name].call_ok("guest-get-fsinfo"))
        if entries["quiesce-agent"] != entries["qemu-ga"]:
            log(f"warning: fsinfo entry counts differ at {count} mounts: {entries}")
        lat = {name: [] for name in AGENTS}
        for rep in range(reps):
            for name in alternate(rep):
                lat[name].append(agents[name].timed("guest-get-fsinfo")[0] * 1e3)
        for name in AGENTS:
            out[name][count] = {"ms": summary(lat[name]), "entries": entries[name]}
        log(f"fsinfo mounts={count} " + " ".join(
            f"{n}={median(lat[n]):.2f}ms/{entries[n]}" for n in AGENTS))
    images.unbind_all()
    return out


# ---------------------------------------------------------------------------------------------
# the commands the management stacks poll, and what being polled costs


# Items 8-10. The commands libvirt (for KubeVirt), KubeVirt itself and Proxmox send on a timer
# (../shared/QGA-CLIENTS.md), and guest-fsfreeze-status, which KubeVirt sends most often.
POLLED = ["guest-network-get-interfaces", "guest-get-osinfo", "guest-get-host-name",
          "guest-get-users", "guest-get-timezone", "guest-get-load", "guest-get-time",
          "guest-get-vcpus", "guest-info", "guest-get-fsinfo", "guest-fsfreeze-status"]
# syscalls per request are counted (strace -c) for these
TRACED = POLLED

# What each stack sends per VM and hour, read from its sources (facts only; periods in s):
# - KubeVirt main (d923fdb8), cmd/virt-launcher/virt-launcher.go flag defaults and
#   pkg/virt-launcher/virtwrap/agent-poller/agent_poller.go CreatePoller: libvirt
#   GetGuestInfo(INTERFACES|OS|HOSTNAME|TIMEZONE) every --qemu-agent-sys-interval (120 s),
#   GetGuestInfo(LOAD) every 120 s too, GetGuestInfo(USERS) every --qemu-agent-user-interval
#   (10 s); raw guest-info every --qemu-agent-version-interval (300 s), guest-get-fsinfo every
#   --qemu-agent-file-interval (300 s), guest-fsfreeze-status every
#   --qemu-fsfreeze-status-interval (5 s). libvirt turns each info type into one command and
#   sends guest-sync only when it (re)connects to the channel, not per command.
# - The same with a guestAgentPing readiness probe (cmd/virt-probe; Kubernetes' default
#   periodSeconds, 10 s): one guest-ping more every 10 s. Probes are opt-in per VM.
# - Proxmox VE (pve-manager www/manager6/panel/IPView.js, interval 10000 ms), while a VM's
#   Summary is open in a browser: agent/network-get-interfaces every 10 s; the API checks the
#   agent with guest-ping first (qemu-server PVE/QemuServer/Agent.pm assert_agent_available),
#   and PVE::QMPClient writes guest-sync-delimited and the command in one write, for each.
POLL_MIXES = {
    "kubevirt": {
        "label": "KubeVirt, virt-launcher defaults (via libvirt)", "framing": "libvirt",
        "schedule": [(120, ["guest-network-get-interfaces", "guest-get-osinfo",
                            "guest-get-host-name", "guest-get-timezone"]),
                     (120, ["guest-get-load"]), (10, ["guest-get-users"]),
                     (300, ["guest-info"]), (300, ["guest-get-fsinfo"]),
                     (5, ["guest-fsfreeze-status"])]},
    "kubevirt-probe": {
        "label": "KubeVirt, defaults + guestAgentPing probe every 10 s", "framing": "libvirt",
        "schedule": [(120, ["guest-network-get-interfaces", "guest-get-osinfo",
                            "guest-get-host-name", "guest-get-timezone"]),
                     (120, ["guest-get-load"]), (10, ["guest-get-users"]),
                     (300, ["guest-info"]), (300, ["guest-get-fsinfo"]),
                     (5, ["guest-fsfreeze-status"]), (10, ["guest-ping"])]},
    "proxmox-gui": {
        "label": "Proxmox VE, VM Summary open in a browser", "framing": "proxmox",
        "schedule": [(10, ["guest-ping", "guest-network-get-interfaces"])]},
}
VM_DAY_FACTOR = 24 * 1000  # CPU-seconds per simulated hour -> per 1,000 VMs per day


def mix_hour(mix):
    """The commands one VM receives in an hour, in the order their timers fire."""
    events = []
    for i, (period, cmds) in enumerate(mix["schedule"]):
        for k in range(3600 // period):
            for j, cmd in enumerate(cmds):
                events.append((k * period, i, j, cmd))
    return [cmd for _, _, _, cmd in sorted(events)]


def mix_writes(mix):
    """The hour as (bytes written at once, reply lines expected, command) as the stack writes
    them: libvirt one compact request per line; Proxmox guest-sync-delimited (id "<pid>0<seq>")
    and the command in one write, whose replies are the 0xFF-led sync reply and the command's."""
    out = []
    for seq, cmd in enumerate(mix_hour(mix), 1):
        req = json.dumps({"execute": cmd}, separators=(",", ":")).encode() + b"\n"
        if mix["framing"] == "proxmox":
            sync = json.dumps({"execute": "guest-sync-delimited",
                               "arguments": {"id": int(f"{os.getpid()}0{seq}")}},
                              separators=(",", ":")).encode() + b"\n"
            out.append((sync + req, 2, cmd))
        else:
            out.append((req, 1, cmd))
    return out


def mix_counts(mix):
    counts = {}
    for cmd in mix_hour(mix):
        counts[cmd] = counts.get(cmd, 0) + 1
    return counts


def raw_call(agent, data, lines=1):
    """Sends data, reads `lines` reply lines; returns the last one (bytes)."""
    agent.conn.sendall(data)
    line = b""
    for _ in range(lines):
        line = agent.reader.readline()
        if not line:
            raise RuntimeError(f"{agent.name} closed the connection")
    return line


def play_mix(agent, writes):
    """One simulated hour, each request sent as soon as the previous reply is read. Returns
    the agent's CPU time for it, wall time and the errors per command."""
    errors = {}
    c0, t0, w0 = agent.cpu_ns(), agent.stat_ticks(), time.perf_counter()
    for data, lines, cmd in writes:
        line = raw_call(agent, data, lines)
        if line.startswith(b'{"error"'):
            errors[cmd] = errors.get(cmd, 0) + 1
    w1, c1, t1 = time.perf_counter(), agent.cpu_ns(), agent.stat_ticks()
    return {"cpu_s": (c1 - c0) / 1e9, "wall_s": w1 - w0, "user_ticks": t1[0] - t0[0],
            "sys_ticks": t1[1] - t0[1], "errors": errors}


def bench_polled(agents, n):
    """Item 8: each polled command's round trip, alternating agents in ten slices, and the
    agent's CPU time over those requests (process CPU clock = utime+stime, all threads)."""
    out = {}
    chunk = max(1, n // 10)
    tck = os.sysconf("SC_CLK_TCK")
    for cmd in POLLED:
        data = Agent.request(cmd)
        res = {}
        for name in AGENTS:
            a = agents[name]
            line = raw_call(a, data)
            reply = json.loads(line)
            if "return" not in reply:
                res[name] = {"unsupported": reply.get("error", {}).get("desc", str(reply))}
                continue
            for _ in range(50):  # warm-up: page cache, dentries, the agents' own caches
                raw_call(a, data)
            res[name] = {"reply_bytes": len(line), "lat": [], "cpu_ns": 0, "ticks": [0, 0]}
        for rep in range(10):
            for name in alternate(rep):
                r = res[name]
                if "unsupported" in r:
                    continue
                a = agents[name]
                c0, t0 = a.cpu_ns(), a.stat_ticks()
                r["lat"] += [a.timed(cmd)[0] * 1e6 for _ in range(chunk)]
                c1, t1 = a.cpu_ns(), a.stat_ticks()
                r["cpu_ns"] += c1 - c0
                r["ticks"][0] += t1[0] - t0[0]
                r["ticks"][1] += t1[1] - t0[1]
        for name in AGENTS:
            r = res[name]
            if "unsupported" in r:
                continue
            lat = r.pop("lat")
            reqs = len(lat)
            r.update(rtt_us=summary(lat), rtt_p99_us=pct(lat, 99), requests=reqs,
                     cpu_us_per_req=r.pop("cpu_ns") / 1e3 / reqs,
                     # the same time from /proc/PID/stat's ticks, and how it splits
                     stat_cpu_us_per_req=(r["ticks"][0] + r["ticks"][1]) / tck * 1e6 / reqs,
                     user_ticks=r["ticks"][0], sys_ticks=r.pop("ticks")[1])
            r["rtt_us"]["samples"] = None
        out[cmd] = res
        log(f"polled {cmd} " + " ".join(
            f"{nm}={res[nm]['rtt_us']['median']:.0f}us/{res[nm]['cpu_us_per_req']:.1f}us-cpu"
            if "rtt_us" in res[nm] else f"{nm}=unsupported" for nm in AGENTS))
    return out


def strace_counts(agent, data, n):
    """Syscalls the agent makes for n identical requests (strace -c -f attached to it)."""
    fd, out = tempfile.mkstemp(prefix="strace-", suffix=".txt")
    os.close(fd)
    p = subprocess.Popen(["strace", "-c", "-f", "-U", "name,calls,errors", "-o", out,
                          "-p", str(agent.proc.pid)], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # "strace: Process N attached"
            r, _, _ = select.select([p.stderr], [], [], 0.5)
            if r and "attached" in p.stderr.readline():
                break
        time.sleep(0.2)
        for _ in range(n):
            raw_call(agent, data)
        time.sleep(0.1)
    finally:
        p.send_signal(signal.SIGINT)
        p.wait(timeout=30)
    counts = {}
    with open(out) as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 2 and fields[1].isdigit() and not fields[0].startswith("total"):
                counts[fields[0]] = int(fields[1])
    os.unlink(out)
    return counts


def bench_syscalls(agents, n):
    """Syscalls per request of each polled command, both agents (counts, not time)."""
    out = {}
    for cmd in TRACED:
        data = Agent.request(cmd)
        out[cmd] = {}
        for name in AGENTS:
            if "return" not in json.loads(raw_call(agents[name], data)):
                continue  # qemu-ga 7.2 has no guest-get-load
            counts = strace_counts(agents[name], data, n)
            per = {k: v / n for k, v in sorted(counts.items(), key=lambda kv: -kv[1])}
            out[cmd][name] = {"per_request": sum(per.values()), "by_syscall": per}
        log(f"syscalls {cmd} " + " ".join(f"{nm}={v['per_request']:.1f}"
                                          for nm, v in out[cmd].items()))
    return out


def bench_fleet(agents, reps):
    """Item 9: one simulated hour of each stack's polling per agent, each agent alone."""
    out = {}
    for key, mix in POLL_MIXES.items():
        writes = mix_writes(mix)
        res = {name: [] for name in AGENTS}
        for name in AGENTS:  # the libvirt handshake, once per connection, not counted
            agents[name].call_ok("guest-sync", {"id": 1})
        for rep in range(reps):
            for name in alternate(rep):
                res[name].append(play_mix(agents[name], writes))
        out[key] = {"label": mix["label"], "framing": mix["framing"],
                    "requests_per_hour": len(writes) * (2 if mix["framing"] == "proxmox"
                                                        else 1),
                    "commands_per_hour": mix_counts(mix)}
        for name in AGENTS:
            cpu = [r["cpu_s"] for r in res[name]]
            out[key][name] = {"cpu_s_per_hour": summary(cpu),
                              "cpu_s_per_1000_vm_day": median(cpu) * VM_DAY_FACTOR,
                              "wall_s": summary([r["wall_s"] for r in res[name]]),
                              "errors": res[name][-1]["errors"], "runs": res[name]}
        log(f"fleet {key} " + " ".join(
            f"{nm}={out[key][nm]['cpu_s_per_hour']['median'] * 1e3:.1f}ms-cpu/h"
            for nm in AGENTS))
    return out


def bench_idle(make_agent, seconds):
    """Item 10: both agents started, their one client gone, then left alone: CPU time and
    context switches (wake-ups) over `seconds`."""
    agents = {n: make_agent(n) for n in AGENTS}
    try:
        for a in agents.values():
            a.start()
            a.disconnect()
        time.sleep(1.0)
        before = {n: (a.cpu_ns(), a.ctx_switches()) for n, a in agents.items()}
        time.sleep(seconds)
        out = {"seconds": seconds}
        for n, a in agents.items():
            cpu_s = (a.cpu_ns() - before[n][0]) / 1e9
            out[n] = {"cpu_ms": cpu_s * 1e3, "ctx_switches": a.ctx_switches() - before[n][1],
                      "cpu_s_per_1000_vm_day": cpu_s / seconds * 86400 * 1000}
    finally:
        for a in agents.values():
            a.stop()
    log("idle " + " ".join(f"{n}={out[n]['cpu_ms']:.2f}ms/{out[n]['ctx_switches']}cs"
                           for n in AGENTS))
    return out


def freeze_thaw(agent, mps):
    t0 = time.perf_counter()
    n = agent.call_ok("guest-fsfreeze-freeze-list", {"mountpoints": mps})
    t1 = time.perf_counter()
    try:
        if n != len(mps):
            raise RuntimeError(f"{agent.name} froze {n} of {len(mps)}")
    finally:
        m = agent.call_ok("guest-fsfreeze-thaw")
        t2 = time.perf_counter()
    if m != len(mps):
        raise RuntimeError(f"{agent.name} thawed {m} of {len(mps)}")
    return (t1 - t0) * 1e3, (t2 - t1) * 1e3


def bench_freeze_clean(agents, images, counts, reps):
    mps = [images.make(f"clean{i:02d}", 32) for i in range(max(counts))]
    run("sync")
    out = {name: {} for name in AGENTS}
    for count in counts:
        for name in AGENTS:
            freeze_thaw(agents[name], mps[:count])  # warm-up
        res = {name: ([], [], [], []) for name in AGENTS}
        for rep in range(reps):
            for name in alternate(rep):
                offset = log_size(agents[name])
                f, t = freeze_thaw(agents[name], mps[:count])
                res[name][0].append(f)
                res[name][1].append(t)
                res[name][2].append(f + t)
                p = freeze_phases(agents[name], offset)
                if p:
                    res[name][3].append(p)
        for name in AGENTS:
            out[name][count] = {"freeze_ms": summary(res[name][0]),
                                "thaw_ms": summary(res[name][1]),
                                "total_ms": summary(res[name][2])}
            if res[name][3]:
                out[name][count]["phases_ms"] = phase_medians(res[name][3])
        log(f"freeze+thaw filesystems={count} " + " ".join(
            f"{n}={median(res[n][2]):.2f}ms" for n in AGENTS))
        for name in AGENTS:
            if "phases_ms" in out[name][count]:
                log(f"  {name} phases (medians): " + " ".join(
                    f"{k}={v:.2f}" for k, v in out[name][count]["phases_ms"].items()))
    return out


WRITER = r"""
import json, os, select, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
period = float(sys.argv[2])
buf = b"x" * 4096
span = 4 << 20
off = 0
worst = 0.0; worst_at = 0.0; n = 0; slow = []
print("ready", flush=True)
while True:
    r, _, _ = select.select([sys.stdin], [], [], period)
    if r:
        c = sys.stdin.readline().strip()
        if c == "reset":
            worst = 0.0; worst_at = 0.0; n = 0; slow = []
            print("ok", flush=True)
            continue
        print(json.dumps({"worst_s": worst, "worst_at": worst_at, "writes": n,
                          "slow": slow[:50]}), flush=True)
        break
    t0 = time.monotonic()
    os.pwrite(fd, buf, off)
    dt = time.monotonic() - t0
    off = (off + 4096) % span
    n += 1
    if dt > worst:
        worst = dt; worst_at = t0
    if dt > 0.005:
        slow.append([t0, dt])
"""


class Writers:
    def __init__(self, mps, period):
        self.procs = []
        for mp in mps:
            p = subprocess.Popen([sys.executable, "-c", WRITER, os.path.join(mp, "app.log"),
                                  str(period)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 text=True, preexec_fn=_child_setup)
            self.procs.append(p)
        for p in self.procs:
            p.stdout.readline()

    def reset(self):
        for p in self.procs:
            p.stdin.write("reset\n")
            p.stdin.flush()
        for p in self.procs:
            p.stdout.readline()

    def report(self):
        res = []
        for p in self.procs:
            p.stdin.write("report\n")
            p.stdin.flush()
        for p in self.procs:
            res.append(json.loads(p.stdout.readline()))
            p.wait()
        self.procs = []
        return res

    def kill(self):
        for p in self.procs:
            p.kill()
            p.wait()
        self.procs = []


def meminfo_dirty_mib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("Dirty:"):
                return int(line.split()[1]) / 1024.0
    return None


def dirty(mps, mib):
    chunk = b"d" * (1 << 20)
    for mp in mps:
        fd = os.open(os.path.join(mp, "dirty.bin"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                     0o644)
        try:
            for _ in range(mib):
                os.write(fd, chunk)
        finally:
            os.close(fd)


def log_size(agent):
    try:
        return os.path.getsize(agent.logfile)
    except OSError:
        return 0


def freeze_phases(agent, offset):
    """quiesce-agent's own account of the freeze, from its verbose log: the summary line
    ("froze count=... prepare_ms=...") and one line per filesystem ("froze mountpoint=...")."""
    if agent.kind == "qemu-ga":
        return None
    try:
        with open(agent.logfile, "rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
    except OSError:
        return None
    def value(v):
        try:
            return [float(x) for x in v.split(",")] if "," in v else float(v)
        except ValueError:
            return v

    out = {"filesystems": [], "fithaw_ms": []}
    for line in text.splitlines():
        fields = {k: value(v) for k, v in re.findall(r"(\w+)=(\S+)", line)}
        if "froze count=" in line:
            out.update({k: v for k, v in fields.items()
                        if k.endswith(("_ms", "_kib", "_writes")) or k in ("rcu", "storage")})
        elif "froze mountpoint=" in line:
            out["filesystems"].append(fields)
        elif "thawed mountpoint=" in line:
            out["fithaw_ms"].append(fields.get("fithaw_ms"))
        elif "thawed count=" in line:
            out["thaw_ms"] = fields.get("ms")
            if "state_writes" in fields:
                out["thaw_state_writes"] = fields["state_writes"]
                out["thaw_state_ms"] = fields.get("state_ms")
    return out


def phase_medians(phases):
    """median of each numeric phase of the agent's log over trials; for the per-filesystem
    lines, the median over all filesystems of each one's first syncfs pass and FIFREEZE"""
    keys = [k for k, v in phases[0].items() if isinstance(v, float)]
    out = {k: median([p[k] for p in phases if isinstance(p.get(k), float)]) for k in keys}
    for key, field in (("fs_syncfs1_ms", "syncfs_ms"), ("fs_fifreeze_ms", "fifreeze_ms")):
        xs = []
        for p in phases:
            for fs in p["filesystems"]:
                v = fs.get(field)
                v = v[0] if isinstance(v, list) else v
                if isinstance(v, float):
                    xs.append(v)
        if xs:
            out[key] = median(xs)
    fithaw = [x for p in phases for x in p["fithaw_ms"] if isinstance(x, float)]
    if fithaw:
        out["fithaw_each_ms"] = median(fithaw)
    return out


def stall_trial(agent, mps, mib, hold, period):
    for mp in mps:
        run("sync", "-f", mp)
    offset = log_size(agent)
    writers = Writers(mps, period)
    try:
        dirty(mps, mib)
        time.sleep(0.2)
        writers.reset()
        dirty_before = meminfo_dirty_mib()
        t0 = time.perf_counter()
        n = agent.call_ok("guest-fsfreeze-freeze-list", {"mountpoints": mps})
        t1 = time.perf_counter()
        woke = None
        try:
            time.sleep(hold)
            woke = time.perf_counter()
        finally:
            agent.call_ok("guest-fsfreeze-thaw")
        t2 = time.perf_counter()
        if n != len(mps):
            raise RuntimeError(f"{agent.name} froze {n} of {len(mps)}")
        time.sleep(0.2)
        res = writers.report()
    finally:
        writers.kill()
    worst = max(r["worst_s"] for r in res)
    return {"freeze_ms": (t1 - t0) * 1e3, "thaw_ms": (t2 - t1 - hold) * 1e3,
            "worst_stall_ms": worst * 1e3, "beyond_hold_ms": (worst - hold) * 1e3,
            "per_fs_worst_ms": [r["worst_s"] * 1e3 for r in res],
            "dirty_mib_before": dirty_before, "writes": sum(r["writes"] for r in res),
            # how late this client itself woke up from the hold: on a loaded machine it is
            # part of thaw_ms and beyond_hold_ms, for both agents alike
            "hold_overshoot_ms": (woke - t1 - hold) * 1e3,
            "phases": freeze_phases(agent, offset)}


def bench_stall(agents, images, n_fs, mib, hold, reps, period):
    size = max(512, 4 * mib)
    mps = [images.make(f"stall{i}", size) for i in range(n_fs)]
    # baseline: the writers' worst latency with nobody freezing
    writers = Writers(mps, period)
    try:
        dirty(mps, mib)
        writers.reset()
        time.sleep(1.0)
        base = max(r["worst_s"] for r in writers.report()) * 1e3
    finally:
        writers.kill()
    out = {name: [] for name in AGENTS}
    for rep in range(reps):
        for name in alternate(rep):
            r = stall_trial(agents[name], mps, mib, hold, period)
            out[name].append(r)
            log(f"stall {name}: freeze={r['freeze_ms']:.1f}ms thaw={r['thaw_ms']:.1f}ms "
                f"beyond-hold={r['beyond_hold_ms']:.1f}ms dirty={r['dirty_mib_before']:.0f}MiB "
                f"client-overslept={r['hold_overshoot_ms']:.1f}ms")
            if r["phases"]:
                p = r["phases"]
                log("  phases: " + " ".join(f"{k}={v}" for k, v in p.items()
                                            if k != "filesystems"))
                for fs in p["filesystems"]:
                    log("  " + " ".join(f"{k}={fs.get(k)}" for k in
                                        ("syncfs_ms", "checkpoint", "checkpoint_ms",
                                         "fifreeze_ms")))
    res = {"baseline_worst_write_ms": base, "filesystems": n_fs, "dirty_mib_each": mib,
           "hold_ms": hold * 1e3, "write_period_ms": period * 1e3}
    for name in AGENTS:
        res[name] = {"freeze_ms": summary([r["freeze_ms"] for r in out[name]]),
                     "thaw_ms": summary([r["thaw_ms"] for r in out[name]]),
                     "beyond_hold_ms": summary([r["beyond_hold_ms"] for r in out[name]]),
                     "trials": out[name]}
        phases = [r["phases"] for r in out[name] if r["phases"]]
        if phases:
            # the agent's own breakdown, median per phase, to set against beyond_hold_ms
            keys = [k for k, v in phases[0].items() if k.endswith("_ms") and
                    isinstance(v, float)]
            res[name]["phases_ms"] = {k: median([p[k] for p in phases if k in p])
                                      for k in keys}
    return res


# ---------------------------------------------------------------------------------------------
# output


def fmt(x, digits=1):
    if x is None:
        return "–"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.{digits}f}"


def spread(s, digits=1):
    return f"{fmt(s['median'], digits)} [{fmt(s['min'], digits)}–{fmt(s['max'], digits)}]"


def ratio(a, b):
    if a is None or b is None or a == 0:
        return None
    return b / a


def table(res):
    rows = []

    def row(metric, q, g, r, target, ok):
        rows.append(f"| {metric} | {q} | {g} | {fmt(r, 2) + 'x' if r else '–'} | {target} | "
                    f"{'yes' if ok else ('NO' if ok is not None else '–')} |")

    p = res.get("ping")
    if p:
        q, g = p["quiesce-agent"], p["qemu-ga"]
        r = ratio(q["rtt_us"]["median"], g["rtt_us"]["median"])
        row("guest-ping round trip, median µs [min–max]", spread(q["rtt_us"]),
            spread(g["rtt_us"]), r, "≥ 1x", r >= 1)
        r = ratio(q["rtt_p99_us"], g["rtt_p99_us"])
        row("guest-ping round trip, p99 µs", fmt(q["rtt_p99_us"]), fmt(g["rtt_p99_us"]), r,
            "–", None)
        qs, gs = q["pipelined_req_per_s"], g["pipelined_req_per_s"]
        r = ratio(gs["median"], qs["median"])
        row("pipelined guest-ping, requests/s", spread(qs, 0), spread(gs, 0), r, "–", None)
    s = res.get("startup")
    if s:
        q, g = s["quiesce-agent"], s["qemu-ga"]
        r = ratio(q["startup_ms"]["median"], g["startup_ms"]["median"])
        row("start-up to first guest-sync reply, ms", spread(q["startup_ms"], 2),
            spread(g["startup_ms"], 2), r, "≥ 1x", r >= 1)
        r = ratio(q["idle_rss_kib"]["median"], g["idle_rss_kib"]["median"])
        row("idle RSS, KiB", spread(q["idle_rss_kib"], 0), spread(g["idle_rss_kib"], 0), r,
            "≥ 1x", r >= 1)
    m = res.get("memory")
    if m:
        q, g = m["quiesce-agent"], m["qemu-ga"]
        n = q["rss_series_kib"][-1][0]
        qs = " → ".join(str(v) for _, v in q["rss_series_kib"])
        gs = " → ".join(str(v) for _, v in g["rss_series_kib"])
        row(f"RSS at 0 → … → {n:,} mixed requests, KiB", qs, gs, None,
            "flat after warm-up", q["growth_kib"] <= 64)
    f = res.get("fsinfo")
    if f:
        for count in sorted(f["quiesce-agent"], key=int):
            q, g = f["quiesce-agent"][count]["ms"], f["qemu-ga"][count]["ms"]
            r = ratio(q["median"], g["median"])
            big = int(count) >= 1000
            row(f"guest-get-fsinfo, {count} mounts, ms", spread(q, 2), spread(g, 2), r,
                "≥ 8x" if big else "–", (r >= 8) if big else None)
        lin = f.get("linearity")
        if lin:
            row("guest-get-fsinfo, µs per mount (slope 100→1000)",
                fmt(lin["quiesce-agent"], 2), fmt(lin["qemu-ga"], 2),
                ratio(lin["quiesce-agent"], lin["qemu-ga"]), "linear", None)
    c = res.get("freeze_clean")
    if c:
        for count in sorted(c["quiesce-agent"], key=int):
            q, g = c["quiesce-agent"][count], c["qemu-ga"][count]
            r = ratio(q["total_ms"]["median"], g["total_ms"]["median"])
            big = int(count) >= 32
            row(f"freeze+thaw {count} clean filesystems, ms (freeze / thaw)",
                f"{spread(q['total_ms'], 2)} ({fmt(q['freeze_ms']['median'], 2)} / "
                f"{fmt(q['thaw_ms']['median'], 2)})",
                f"{spread(g['total_ms'], 2)} ({fmt(g['freeze_ms']['median'], 2)} / "
                f"{fmt(g['thaw_ms']['median'], 2)})", r,
                "≥ 1x" if big else "–", (r >= 1) if big else None)
    st = res.get("stall")
    if st:
        q, g = st["quiesce-agent"], st["qemu-ga"]
        label = f"{st['filesystems']} fs × {st['dirty_mib_each']} MiB dirty, hold " \
                f"{st['hold_ms']:.0f} ms"
        r = ratio(q["freeze_ms"]["median"], g["freeze_ms"]["median"])
        row(f"freeze reply under load ({label}), ms", spread(q["freeze_ms"]),
            spread(g["freeze_ms"]), r, "≥ 1x", r >= 1)
        r = ratio(max(q["beyond_hold_ms"]["median"], 0.001), g["beyond_hold_ms"]["median"])
        row("worst application write stall beyond the hold, ms", spread(q["beyond_hold_ms"]),
            spread(g["beyond_hold_ms"]), r, "≥ 10x", r >= 10)
        row("thaw reply under load, ms", spread(q["thaw_ms"]), spread(g["thaw_ms"]),
            ratio(q["thaw_ms"]["median"], g["thaw_ms"]["median"]), "–", None)
    if res.get("vm"):
        import vm_bench
        vm_bench.table_rows(res["vm"], row)
    head = ["| measurement | quiesce-agent | qemu-ga | qemu-ga / quiesce-agent | target | met |",
            "|---|---|---|---|---|---|"]
    return "\n".join(head + rows)


def polled_table(res):
    """Item 8 (and the syscall counts): one row per polled command."""
    p = res.get("polled")
    if not p:
        return ""
    sc = res.get("syscalls", {})
    rows = ["| command | quiesce-agent round trip µs, median / p99 | qemu-ga | "
            "qemu-ga / quiesce-agent (median) | quiesce-agent CPU µs per request | qemu-ga | "
            "qemu-ga / quiesce-agent (CPU) | syscalls per request (quiesce-agent / qemu-ga) | "
            "reply bytes |",
            "|---|---|---|---|---|---|---|---|---|"]
    for cmd, r in p.items():
        q, g = r["quiesce-agent"], r["qemu-ga"]

        def lat(x):
            return (f"{fmt(x['rtt_us']['median'])} / {fmt(x['rtt_p99_us'])}"
                    if "rtt_us" in x else "not served")

        def cpu(x):
            return fmt(x["cpu_us_per_req"]) if "cpu_us_per_req" in x else "–"
        both = "rtt_us" in q and "rtt_us" in g
        rl = ratio(q["rtt_us"]["median"], g["rtt_us"]["median"]) if both else None
        rc = ratio(q["cpu_us_per_req"], g["cpu_us_per_req"]) if both else None
        s = sc.get(cmd, {})
        sys_ = " / ".join(fmt(s[n]["per_request"]) if n in s else "–" for n in AGENTS) \
            if s else "–"
        size = " / ".join(str(x.get("reply_bytes", "–")) for x in (q, g))
        rows.append(f"| {cmd} | {lat(q)} | {lat(g)} | {fmt(rl, 2) + 'x' if rl else '–'} | "
                    f"{cpu(q)} | {cpu(g)} | {fmt(rc, 2) + 'x' if rc else '–'} | {sys_} | "
                    f"{size} |")
    return "\n".join(rows)


def fleet_table(res):
    """Items 9 and 10 (and their in-guest figures): CPU time of being polled, at fleet scale."""
    f, idle = res.get("fleet"), res.get("idle")
    vm = (res.get("vm") or {}).get("fleet")
    vm_idle = (res.get("vm") or {}).get("idle")
    if not (f or idle or vm or vm_idle):
        return ""
    rows = ["| where | what the agent receives | requests per VM-hour | quiesce-agent CPU ms "
            "per VM-hour | qemu-ga | quiesce-agent CPU-s per 1,000 VMs per day | qemu-ga | "
            "qemu-ga / quiesce-agent |",
            "|---|---|---|---|---|---|---|---|"]

    def ms(x):
        if x["n"] == 1:
            return fmt(x["median"] * 1e3)
        return spread({k: x[k] * 1e3 for k in ("median", "min", "max")})

    def mix_rows(where, f):
        for key, m in f.items():
            q, g = m["quiesce-agent"], m["qemu-ga"]
            notes = []
            for name, x in (("quiesce-agent", q), ("qemu-ga", g)):
                said = [f"{c} → error ×{n}" for c, n in (x.get("errors") or {}).items()]
                said += [f"{c} unanswered ×{n}" for c, n in (x.get("unanswered") or {}).items()]
                if said:
                    notes.append(f"{name}: " + ", ".join(said))
            note = f" ({'; '.join(notes)})" if notes else ""
            day_g = g["cpu_s_per_1000_vm_day"]
            rows.append(f"| {where} | {m['label']}{note} | {m['requests_per_hour']:,} | "
                        f"{ms(q['cpu_s_per_hour'])} | {ms(g['cpu_s_per_hour'])} | "
                        f"{fmt(q['cpu_s_per_1000_vm_day'])} | {fmt(g['cpu_s_per_1000_vm_day'])} | "
                        f"{fmt(ratio(q['cpu_s_per_1000_vm_day'], day_g), 2)}x |")

    def idle_row(where, i):
        q, g = i["quiesce-agent"], i["qemu-ga"]
        per_h = 3600 / i["seconds"]
        rows.append(f"| {where} | nothing: no host connected, {i['seconds']:.0f} s watched "
                    f"(context switches {q['ctx_switches']} / {g['ctx_switches']}) | 0 | "
                    f"{fmt(q['cpu_ms'] * per_h, 2)} | {fmt(g['cpu_ms'] * per_h, 2)} | "
                    f"{fmt(q['cpu_s_per_1000_vm_day'], 2)} | "
                    f"{fmt(g['cpu_s_per_1000_vm_day'], 2)} | – |")
    if f:
        mix_rows("host", f)
    if idle:
        idle_row("host", idle)
    if vm:
        mix_rows("guest (TCG)", vm)
    if vm_idle:
        idle_row("guest (TCG)", vm_idle)
    return "\n".join(rows)


def svg_chart(x0, y0, w, h, title, xlabel, series):
    """a small line chart: series = [(label, colour, [(x, y), ...])]"""
    xs = [x for _, _, pts in series for x, _ in pts]
    ys = [y for _, _, pts in series for _, y in pts]
    xmax = max(xs) * 1.05
    ymax = max(ys) * 1.1
    left, bottom, top, right = 60, 45, 30, 15
    pw, ph = w - left - right, h - top - bottom

    def px(x):
        return x0 + left + pw * x / xmax

    def py(y):
        return y0 + top + ph * (1 - y / ymax)

    out = [f'<text x="{x0 + w / 2}" y="{y0 + 18}" text-anchor="middle" font-size="14">'
           f'{title}</text>',
           f'<rect x="{x0 + left}" y="{y0 + top}" width="{pw}" height="{ph}" fill="none" '
           f'stroke="#888"/>']
    for i in range(6):
        yv = ymax * i / 5
        out.append(f'<text x="{x0 + left - 5}" y="{py(yv) + 4:.1f}" text-anchor="end" '
                   f'font-size="11">{yv:.3g}</text>')
        out.append(f'<line x1="{x0 + left}" x2="{x0 + left + pw}" y1="{py(yv):.1f}" '
                   f'y2="{py(yv):.1f}" stroke="#eee"/>')
    for x in sorted(set(xs)):
        out.append(f'<text x="{px(x):.1f}" y="{y0 + top + ph + 15}" text-anchor="middle" '
                   f'font-size="11">{x}</text>')
    out.append(f'<text x="{x0 + left + pw / 2}" y="{y0 + h - 5}" text-anchor="middle" '
               f'font-size="12">{xlabel}</text>')
    out.append(f'<text x="{x0 + 14}" y="{y0 + top + ph / 2}" font-size="12" '
               f'transform="rotate(-90 {x0 + 14} {y0 + top + ph / 2})" '
               f'text-anchor="middle">ms (median)</text>')
    for i, (label, colour, pts) in enumerate(series):
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                   f'stroke-width="2"/>')
        for x, y in pts:
            out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>')
        out.append(f'<rect x="{x0 + left + 10}" y="{y0 + top + 8 + 16 * i}" width="12" '
                   f'height="4" fill="{colour}"/>')
        out.append(f'<text x="{x0 + left + 27}" y="{y0 + top + 14 + 16 * i}" '
                   f'font-size="12">{label}</text>')
    return out


def plot(res, path):
    colours = {"quiesce-agent": "#1f77b4", "qemu-ga": "#d62728"}
    charts = []
    if res.get("fsinfo"):
        f = res["fsinfo"]
        charts.append(("guest-get-fsinfo", "mounts", [
            (n, colours[n], [(int(c), f[n][c]["ms"]["median"])
                             for c in sorted(f[n], key=int) if c != "linearity"])
            for n in AGENTS]))
    if res.get("freeze_clean"):
        c = res["freeze_clean"]
        charts.append(("freeze-list + thaw, clean ext4", "filesystems", [
            (n, colours[n], [(int(k), c[n][k]["total_ms"]["median"])
                             for k in sorted(c[n], key=int)]) for n in AGENTS]))
    if not charts:
        return
    w, h = 460, 320
    body = []
    for i, (title, xlabel, series) in enumerate(charts):
        body += svg_chart(i * w, 0, w, h, title, xlabel, series)
    with open(path, "w") as f:
        f.write(f'<svg xmlns="http://www.w3.org/2000/svg" width="{w * len(charts)}" '
                f'height="{h}" font-family="sans-serif">\n'
                f'<rect width="100%" height="100%" fill="white"/>\n' + "\n".join(body) +
                "\n</svg>\n")


def machine(binary, dio):
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    qv = run(QEMU_GA, "--version", capture=True, check=False).stdout.strip().splitlines()
    rev = run("git", "-C", TOP, "describe", "--always", "--dirty", capture=True,
              check=False).stdout.strip()
    return {"nproc": os.cpu_count(), "cpu": model, "kernel": platform.release(),
            "qemu_ga": qv[0] if qv else "?", "quiesce_agent_rev": rev,
            "loop_direct_io": dio, "date": datetime.datetime.now().isoformat(timespec="seconds")}


# ---------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=os.path.join(TOP, "build-bench", "agent",
                                                     "quiesce-agent"))
    ap.add_argument("--out", default=os.path.join(TOP, "build-bench", "results"))
    ap.add_argument("--quick", action="store_true", help="fewer repetitions, about a minute")
    ap.add_argument("--only",
                    default="ping,startup,memory,polled,syscalls,fleet,idle,fsinfo,freeze,stall",
                    help="comma-separated subset of: ping,startup,memory,polled,syscalls,fleet,"
                    "idle,fsinfo,freeze,stall,vm (vm is --vm)")
    ap.add_argument("--idle-s", type=float, default=None,
                    help="seconds the idle agents are watched (default 180, --quick 30; in the "
                    "guest 60 and 30)")
    ap.add_argument("--dirty-mib", type=int, default=128)
    ap.add_argument("--hold-ms", type=float, default=100)
    ap.add_argument("--loop-direct-io", choices=["on", "off"], default="on")
    ap.add_argument("--freeze-counts", default="1,8,32",
                    help="how many clean filesystems each freeze item freezes, comma-separated")
    ap.add_argument("--freeze-reps", type=int, default=None,
                    help="rounds per count of the clean freeze (default 10, --quick 3)")
    ap.add_argument("--vm", action="store_true",
                    help="also item 7: fsinfo and freeze-all/thaw in the QEMU test guest of "
                    "tests/vm (boots it: minutes; --only vm runs nothing else)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root: it creates loop devices and freezes them")
    if os.environ.get(NS_ENV) != "1":
        env = dict(os.environ, **{NS_ENV: "1"})
        os.execvpe("unshare", ["unshare", "--mount", "--propagation", "private", "--",
                               sys.executable, os.path.abspath(__file__)] + sys.argv[1:], env)
    for tool in ("mkfs.ext4", "losetup", "fsfreeze", QEMU_GA, args.binary):
        if shutil.which(tool) is None:
            sys.exit(f"missing {tool}: run bench/run.sh, which installs and builds it")
    only = set(args.only.split(","))
    q = args.quick
    os.makedirs(args.out, exist_ok=True)
    vm_res = None
    if args.vm or "vm" in only:
        # before foreign mounts are detached: the guest's image cache may live on one
        import vm_bench
        log("fsinfo and freeze-all in the QEMU guest (boots the test guest)")
        vm_res = vm_bench.bench_vm(args.binary, 5 if q else 15,
                                   args.idle_s or (30 if q else 60))
    hidden = hide_foreign_mounts()
    if hidden:
        log(f"detached {hidden} foreign block-backed mounts inside this private namespace")

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    workdir = tempfile.mkdtemp(prefix="qa-bench-", dir="/tmp")
    run("mount", "--bind", workdir, workdir)
    run("mount", "--make-private", workdir)
    # the agents' state directories and logs on a tmpfs, as in production (/run)
    os.makedirs(os.path.join(workdir, "agents"))
    run("mount", "-t", "tmpfs", "-o", "size=64m,mode=0700", "qa-bench",
        os.path.join(workdir, "agents"))
    images = Images(workdir, args.loop_direct_io)
    agents = {}
    res = {"vm": vm_res} if vm_res else {}
    started = time.perf_counter()
    try:
        def ro_agent(name, tag="ro", verbose=True):
            # read-only instances: the same mount table for both, every freeze command blocked
            return Agent(name, workdir, args.binary, f"{name}-{tag}", confine=None,
                         block=FREEZE_CMDS, verbose=verbose)
        if "startup" in only:
            log("start-up and idle RSS")
            res["startup"] = bench_startup(lambda n: ro_agent(n, "start"), 10 if q else 100,
                                           5 if q else 20)
        ro = {n: ro_agent(n) for n in AGENTS}
        for a in ro.values():
            a.start()
        agents = dict(ro)
        if "ping" in only:
            log("guest-ping round trip and throughput")
            res["ping"] = bench_ping(ro, 2000 if q else 10000, 2000 if q else 10000)
        if "memory" in only:
            log("RSS under mixed requests")
            res["memory"] = bench_memory(ro, 20000 if q else 100000)
        if only & {"polled", "syscalls", "fleet"}:
            # production-like instances: no --verbose (no log line per request)
            po = {n: ro_agent(n, "poll", verbose=False) for n in AGENTS}
            agents = dict(ro, **{n + "-poll": a for n, a in po.items()})
            for a in po.values():
                a.start()
            if "polled" in only:
                log("polled commands: round trip and CPU time per request")
                res["polled"] = bench_polled(po, 1000 if q else 5000)
            if "syscalls" in only and shutil.which("strace"):
                log("polled commands: syscalls per request (strace -c)")
                res["syscalls"] = bench_syscalls(po, 50 if q else 200)
            if "fleet" in only:
                log("one simulated hour of each stack's polling, each agent alone")
                res["fleet"] = bench_fleet(po, 2 if q else 5)
            for a in po.values():
                a.stop()
        if "idle" in only:
            idle_s = args.idle_s or (30 if q else 180)
            log(f"idle: no host connected, {idle_s:.0f} s")
            res["idle"] = bench_idle(lambda n: ro_agent(n, "idle", verbose=False), idle_s)
        if "fsinfo" in only:
            log("guest-get-fsinfo against the number of mounts")
            counts = [1, 100, 1000] if q else [1, 100, 250, 500, 1000]
            f = bench_fsinfo(ro, images, workdir, counts, 5 if q else 15)
            f = {n: {str(k): v for k, v in f[n].items()} for n in AGENTS}
            f["linearity"] = {n: (f[n]["1000"]["ms"]["median"] - f[n]["100"]["ms"]["median"])
                              / 900 * 1e3 for n in AGENTS}
            res["fsinfo"] = f
        for a in ro.values():
            a.stop()
        if "freeze" in only or "stall" in only:
            # no --verbose: the freezer's phase lines are logged at the default level, and a
            # line per request is what neither agent writes in production
            fz = {n: Agent(n, workdir, args.binary, f"{n}-freeze", confine=workdir,
                           block=["guest-fsfreeze-freeze"], verbose=False) for n in AGENTS}
            agents = fz
            for a in fz.values():
                a.start()
                a.check_freeze_all_blocked()
            if "freeze" in only:
                log("freeze + thaw of clean filesystems")
                counts = [int(n) for n in args.freeze_counts.split(",")]
                reps = args.freeze_reps or (3 if q else 10)
                c = bench_freeze_clean(fz, images, counts, reps)
                res["freeze_clean"] = {n: {str(k): v for k, v in c[n].items()} for n in AGENTS}
            if "stall" in only:
                log("application stall under load")
                res["stall"] = bench_stall(fz, images, 4, args.dirty_mib, args.hold_ms / 1e3,
                                           2 if q else 5, 0.001)
        res["machine"] = machine(args.binary, images.dio_state())
        res["seconds"] = time.perf_counter() - started
    finally:
        for a in agents.values():
            a.stop()
        images.cleanup()
        for d in (os.path.join(workdir, "agents"), workdir):
            umount(d) or umount(d, detach=True)
        shutil.rmtree(workdir, ignore_errors=True)

    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    md = table(res)
    m = res["machine"]
    header = (f"quiesce-agent {m['quiesce_agent_rev']} vs {m['qemu_ga']}; {m['nproc']} CPUs "
              f"({m['cpu']}), kernel {m['kernel']}, loop direct I/O {m['loop_direct_io']}, "
              f"{m['date']}, {res['seconds']:.0f} s\n\n")
    if md.count("\n") < 2:
        md = ""  # no row of the main table was measured
    md = "\n\n".join(x for x in (md, polled_table(res), fleet_table(res)) if x)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(header + md + "\n")
    plot(res, os.path.join(args.out, "latency.svg"))
    print(header + md)
    print(f"\nwritten: {args.out}/results.md, results.json, latency.svg")


if __name__ == "__main__":
    main()
