"""Faults around a freeze, through the real agent: a host that leaves mid-reply, a hook that never
exits, a state directory that cannot be written, SIGKILL at every step of a freeze, and path
arguments that look like globs or shell. Freezes touch only loop-mounted images created here,
with the agent confined to their directory and a short auto-thaw (see test_fsfreeze.py).
"""

import ctypes
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import qalib

AUTO_THAW = "30"


def can_run_root():
    if os.geteuid() != 0:
        return "needs root for loop mounts"
    for tool in ("mkfs.ext4", "fsfreeze", "losetup"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    return None


def write_hook(directory, body):
    hook = os.path.join(directory, "hook")
    with open(hook, "w") as f:
        f.write("#!/bin/sh\n" + body + "\n")
    os.chmod(hook, 0o755)
    return hook


class Probe:
    """Whether the kernel holds a filesystem frozen, seen from outside the agent: a child creates
    a file on it. It is frozen when the child is seen waiting for the filesystem's freeze in the
    kernel (/proc/PID/wchan or /proc/PID/stack), thawed when the child finishes. No time limit
    decides the answer: a machine under load only makes the answer slower. A writer that does
    neither (blocked elsewhere, e.g. behind a frozen filesystem its image is stored on) fails the
    test once the safety timeout passes. A blocked writer finishes once the filesystem is thawed.

    Only for states that do not change while they are probed: nothing may freeze or thaw them
    meanwhile. Never probes with FIFREEZE itself (freezing an image whose backing filesystem is
    frozen can hang)."""

    def __init__(self):
        self.n = 0
        self.pending = []

    @staticmethod
    def describe(pid):
        try:
            with open(f"/proc/{pid}/stack") as f:
                return f.read()
        except OSError as e:
            return str(e)

    def frozen(self, mountpoints, timeout=120):
        procs = {}
        for mp in mountpoints:
            self.n += 1
            path = os.path.join(mp, f".probe-{os.getpid()}-{self.n}")
            procs[mp] = subprocess.Popen(["sh", "-c", f"echo x > '{path}' && rm -f '{path}'"])
        result = set()
        deadline = time.monotonic() + timeout
        while procs:
            for mp, p in list(procs.items()):
                if qalib.waits_for_freeze(p.pid):
                    result.add(mp)
                    self.pending.append(p)
                    del procs[mp]
                elif p.poll() is not None:
                    if p.returncode != 0:
                        raise AssertionError(f"probe of {mp} failed: exit {p.returncode}")
                    del procs[mp]
            if procs and time.monotonic() > deadline:
                stuck = {mp: self.describe(p.pid) for mp, p in procs.items()}
                self.pending += procs.values()
                raise AssertionError(f"probe writers neither finished nor waited for a freeze "
                                     f"within {timeout} s: {stuck}")
            time.sleep(0.01)
        return result

    def finish(self, timeout=60):
        for p in self.pending:
            p.wait(timeout=timeout)
        self.pending = []


class HostFaultTest(unittest.TestCase):
    """Faults of the host and of hooks; nothing is frozen here."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="qa-faults-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_disconnect_while_a_worker_command_runs(self):
        """The reply of a freeze that was running when its host left is not delivered to the
        next host, nor are the replies queued behind it."""
        hook = write_hook(self.dir, '[ "$1" = freeze ] && sleep 2\nexit 0')
        with qalib.Agent("--confine-mounts", self.dir, "-F", hook) as agent:
            c = agent.client()
            c.send(b'{"execute":"guest-fsfreeze-freeze-list","arguments":{"mountpoints":[]}}'
                   + b'{"execute":"guest-get-fsinfo","id":"old"}' * 50
                   + b'{"execute":"guest-info","id":"old"}' * 500)
            time.sleep(0.3)
            c.close()
            c = agent.client()
            # the new host's requests wait for the freeze too, then get their own replies only
            c.send(b'{"execute":"guest-get-fsinfo","id":"new"}')
            self.assertEqual(c.reply(), {"return": [], "id": "new"})
            for i in range(3):
                self.assertEqual(c.execute("guest-sync", {"id": i}), {"return": i})
            c.close()

    def test_hook_that_never_exits(self):
        """A hook stuck in "freeze" is killed with everything it started after the hook timeout;
        the freeze fails, nothing is frozen, and the agent answers throughout."""
        pidfile = os.path.join(self.dir, "child.pid")
        hook = write_hook(self.dir, f'echo starting\n[ "$1" = freeze ] && '
                          f'{{ sleep 1000 & echo $! > {pidfile}; wait; }}\nexit 0')
        with qalib.Agent("--confine-mounts", self.dir, "-F", hook,
                         "--fsfreeze-hook-timeout=1") as agent:
            c = agent.client()
            start = time.monotonic()
            c.send(b'{"execute":"guest-fsfreeze-freeze-list","arguments":{"mountpoints":[]}}')
            time.sleep(0.3)
            self.assertEqual(c.execute("guest-ping"), {"return": {}})
            self.assertEqual(c.execute("guest-fsfreeze-status"), {"return": "thawed"})
            r = c.reply()
            self.assertLess(time.monotonic() - start, 10)
            self.assertIn("did not finish within 1000 ms", r["error"]["desc"])
            self.assertIn("starting", r["error"]["desc"])
            with open(pidfile) as f:
                child = int(f.read())
            deadline = time.monotonic() + 5
            while os.path.exists(f"/proc/{child}") and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertFalse(os.path.exists(f"/proc/{child}"), "the hook's child survived")
            self.assertEqual(c.execute("guest-fsfreeze-status"), {"return": "thawed"})
            c.close()

    def test_hook_in_a_writable_directory_is_refused(self):
        os.chmod(self.dir, 0o777)
        hook = write_hook(self.dir, "exit 0")
        with qalib.Agent("--confine-mounts", self.dir, "-F", hook) as agent:
            c = agent.client()
            r = c.execute("guest-fsfreeze-freeze-list", {"mountpoints": []})
            self.assertIn("users other than root can modify", r["error"]["desc"])
            c.close()

    def test_hook_path_is_not_a_shell_command(self):
        """The hook is executed, never interpreted: a path with spaces and $(...) is one file."""
        odd = os.path.join(self.dir, "my hook $(touch pwned);x")
        os.makedirs(odd)
        log = os.path.join(self.dir, "ran")
        hook = write_hook(odd, f'echo "$1" >> {log}')
        with qalib.Agent("--confine-mounts", self.dir, "-F", hook) as agent:
            c = agent.client()
            self.assertEqual(c.execute("guest-fsfreeze-freeze-list", {"mountpoints": []}),
                             {"return": 0})
            c.close()
        with open(log) as f:
            self.assertEqual(f.read().split(), ["freeze", "thaw"])
        self.assertFalse(os.path.exists(os.path.join(self.dir, "pwned")))
        self.assertFalse(os.path.exists("pwned"))


@unittest.skipIf(can_run_root() is not None, can_run_root())
class FreezeFaultTest(unittest.TestCase):
    """Faults around real freezes of loop-mounted ext4 images: a, outer, and inner (an image
    stored on outer, so inner must be frozen before outer and thawed after it)."""

    @classmethod
    def setUpClass(cls):
        cls.mounts = qalib.LoopMounts()
        try:
            cls.a = cls.mounts.add("ext4", "a", size_mb=32)
            cls.outer = cls.mounts.add("ext4", "outer", size_mb=64)
            cls.inner = cls.mounts.add("ext4", "inner", size_mb=16, image_dir=cls.outer)
        except Exception:
            cls.mounts.close()
            raise
        cls.all = [cls.a, cls.outer, cls.inner]

    @classmethod
    def tearDownClass(cls):
        cls.mounts.close()

    def setUp(self):
        self.probe = Probe()

    def tearDown(self):
        for mp in reversed(self.all):
            subprocess.run(["fsfreeze", "--unfreeze", mp], stderr=subprocess.DEVNULL)
        self.probe.finish()

    def start(self, *args, statedir=None):
        agent = qalib.Agent(f"--confine-mounts={self.mounts.root}",
                            f"--fsfreeze-timeout={AUTO_THAW}", *args)
        return agent

    def test_state_directory_not_writable(self):
        """A freeze that could not be recorded could not be undone by the next agent: it is
        refused before anything is frozen."""
        ro = tempfile.mkdtemp(prefix="qa-ro-state-")
        subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", ro], check=True)
        try:
            with self.start("-t", ro) as agent:
                c = agent.client()
                r = c.execute("guest-fsfreeze-freeze-list", {"mountpoints": [self.a]})
                self.assertIn("error", r, r)
                self.assertIn("Refusing to freeze", r["error"]["desc"])
                self.assertIn(ro, r["error"]["desc"])
                self.assertEqual(self.probe.frozen(self.all), set())
                self.assertEqual(c.execute("guest-fsfreeze-status"), {"return": "thawed"})
                c.close()
        finally:
            subprocess.run(["umount", ro])
            os.rmdir(ro)

    def dead_fuse_mount(self):
        """A FUSE mount whose daemon never answers (a /dev/fuse descriptor nobody reads): every
        lookup below it blocks until the connection is aborted. Returns (directory, abort)."""
        fuse_dir = tempfile.mkdtemp(prefix="qa-dead-fuse-")
        fd = os.open("/dev/fuse", os.O_RDWR)
        libc = ctypes.CDLL(None, use_errno=True)
        opts = f"fd={fd},rootmode=40000,user_id=0,group_id=0".encode()
        if libc.mount(b"qa-dead-fuse", fuse_dir.encode(), b"fuse", 0, opts) != 0:
            os.close(fd)
            os.rmdir(fuse_dir)
            self.skipTest(f"cannot mount FUSE: {os.strerror(ctypes.get_errno())}")

        def abort():
            # closing the device aborts the connection: what waited on it fails and returns
            subprocess.run(["umount", "-l", fuse_dir])
            os.close(fd)
            os.rmdir(fuse_dir)
        return fuse_dir, abort

    def test_thaw_naming_a_path_under_a_dead_fuse_mount(self):
        """A thaw naming a path under a FUSE mount whose daemon never answers is refused at once:
        names are not resolved through the filesystem (realpath() there blocks forever), so the
        thaw, status, ping and the watchdog never wait on it."""
        fuse_dir, abort = self.dead_fuse_mount()
        try:
            with self.start() as agent:
                c = agent.client()
                self.assertEqual(c.ok("guest-fsfreeze-freeze-list", {"mountpoints": [self.a]}), 1)
                name = os.path.join(fuse_dir, "sub", "..", "x")
                r = c.execute("guest-fsfreeze-thaw", {"mountpoints": [name]})
                self.assertIn("is not a mountpoint this agent holds frozen", r["error"]["desc"])
                self.assertEqual(c.ok("guest-fsfreeze-status"), "frozen")
                self.assertEqual(c.ok("guest-fsfreeze-thaw"), 1)
                self.assertEqual(self.probe.frozen(self.all), set())
                c.close()
        finally:
            abort()

    def test_stuck_file_open_holds_up_nothing_else(self):
        """A guest-file-open stuck on a dead filesystem (here FUSE, for NFS whose server is gone)
        holds the system thread only: ping, status, a freeze and its thaw, and a main-loop
        command sent after it are all answered while it waits; its own reply comes once the
        filesystem gives up."""
        fuse_dir, abort = self.dead_fuse_mount()
        aborted = False
        try:
            with self.start() as agent:
                c = agent.client()
                c.send(json.dumps({"execute": "guest-file-open", "id": "stuck",
                                   "arguments": {"path": os.path.join(fuse_dir, "f")}}))
                self.assertEqual(c.ok("guest-ping"), {})
                self.assertEqual(c.ok("guest-fsfreeze-freeze-list", {"mountpoints": [self.a]}), 1)
                self.assertEqual(c.ok("guest-fsfreeze-status"), "frozen")
                self.assertIn("kernel-release", c.ok("guest-get-osinfo"))
                self.assertEqual(c.ok("guest-fsfreeze-thaw"), 1)
                self.assertEqual(self.probe.frozen(self.all), set())
                abort()
                aborted = True
                r = c.reply()
                self.assertEqual(r.get("id"), "stuck")
                self.assertIn("failed to open file", r["error"]["desc"])
                c.close()
        finally:
            if not aborted:
                abort()

    def test_dependencies_hold_across_calls(self):
        """inner's image is on outer: inner is not frozen after outer was (its flush would wait
        on outer forever), and not thawed while outer stays frozen (its FITHAW would)."""
        with self.start() as agent:
            c = agent.client()
            self.assertEqual(c.ok("guest-fsfreeze-freeze-list", {"mountpoints": [self.outer]}), 1)
            r = c.execute("guest-fsfreeze-freeze-list", {"mountpoints": [self.inner]})
            self.assertIn(f"'{self.outer}', which this agent holds frozen", r["error"]["desc"])
            self.assertEqual(self.probe.frozen([self.inner, self.a]), set())
            self.assertEqual(c.ok("guest-fsfreeze-thaw"), 1)
            both = [self.outer, self.inner]
            self.assertEqual(c.ok("guest-fsfreeze-freeze-list", {"mountpoints": both}), 2)
            r = c.execute("guest-fsfreeze-thaw", {"mountpoints": [self.inner]})
            self.assertIn(f"'{self.outer}', which stays frozen", r["error"]["desc"])
            self.assertEqual(c.ok("guest-fsfreeze-status"), "frozen")
            self.assertEqual(c.ok("guest-fsfreeze-thaw"), 2)
            self.assertEqual(self.probe.frozen(self.all), set())
            c.close()

    def test_state_directory_must_be_private_and_in_memory(self):
        """A state directory on a disk filesystem (which may be frozen, or sit on one that is),
        a symbolic link or a directory others may write is refused before anything freezes."""
        on_disk = tempfile.mkdtemp(prefix="qa-disk-state-", dir=self.mounts.root)
        private = tempfile.mkdtemp(prefix="qa-state-", dir=qalib.STATE_ROOT)
        link = os.path.join(tempfile.mkdtemp(prefix="qa-link-", dir=qalib.STATE_ROOT), "state")
        os.symlink(private, link)
        open_dir = tempfile.mkdtemp(prefix="qa-open-state-", dir=qalib.STATE_ROOT)
        os.chmod(open_dir, 0o777)
        cases = [(on_disk, "not on a memory filesystem"), (link, "is a symbolic link"),
                 (open_dir, "writable by group or others")]
        try:
            for statedir, text in cases:
                with self.start("-t", statedir) as agent:
                    c = agent.client()
                    r = c.execute("guest-fsfreeze-freeze-list", {"mountpoints": [self.a]})
                    self.assertIn(text, r["error"]["desc"], statedir)
                    self.assertEqual(self.probe.frozen(self.all), set())
                    c.close()
        finally:
            for d in (on_disk, private, os.path.dirname(link), open_dir):
                shutil.rmtree(d, ignore_errors=True)

    def test_literal_mountpoint_names(self):
        """Names are looked up as they are: no globbing, no shell, no ~ or $VAR expansion."""
        names = ["x*", "x?", "[xa]", "$(touch pwned)", "`touch pwned2`", "~", "$HOME",
                 "sp ace", "back\\slash"]
        extra = qalib.LoopMounts()
        try:
            mps = [extra.add("ext4", n, size_mb=8) for n in names]
            xa = extra.add("ext4", "xa", size_mb=8)
            with qalib.Agent(f"--confine-mounts={extra.root}",
                             f"--fsfreeze-timeout={AUTO_THAW}") as agent:
                c = agent.client()
                for mp in mps:
                    with self.subTest(mp=mp):
                        r = c.execute("guest-fsfreeze-freeze-list", {"mountpoints": [mp]})
                        self.assertEqual(r, {"return": 1})
                        self.assertEqual(self.probe.frozen(mps + [xa]), {mp})
                        self.assertEqual(c.execute("guest-fsfreeze-thaw"), {"return": 1})
                        self.probe.finish()
                # a pattern that matches existing mountpoints but is not one itself
                r = c.execute("guest-fsfreeze-freeze-list",
                              {"mountpoints": [os.path.join(extra.root, "x[a]")]})
                self.assertIn("does not exist", r["error"]["desc"])
                self.assertEqual(self.probe.frozen(mps + [xa]), set())
                infos = {i["mountpoint"] for i in c.execute("guest-get-fsinfo")["return"]}
                self.assertEqual(infos, set(mps + [xa]))
                c.close()
            for bad in ("pwned", "pwned2"):
                self.assertFalse(os.path.exists(os.path.join(extra.root, bad)))
        finally:
            extra.close()

    def known_frozen(self, client):
        infos = client.execute("guest-get-fsinfo")["return"]
        return {i["mountpoint"] for i in infos if i["frozen"] and i["mountpoint"] in self.all}

    def freeze_duration_ms(self):
        with self.start() as agent:
            c = agent.client()
            start = time.monotonic()
            self.assertEqual(c.execute("guest-fsfreeze-freeze-list",
                                       {"mountpoints": self.all}), {"return": 3})
            duration = (time.monotonic() - start) * 1000
            self.assertEqual(c.execute("guest-fsfreeze-thaw"), {"return": 3})
            c.close()
        return duration

    def test_sigkill_at_every_step_of_a_freeze(self):
        """Kill the agent N ms into a freeze of three filesystems (a loop image inside one of
        them), for N from 0 to past the end of the freeze, restart it on the same state
        directory: what the kernel holds frozen is exactly what the agent reports, and a thaw
        leaves nothing frozen."""
        statedir = tempfile.mkdtemp(prefix="qa-kill-state-", dir=qalib.STATE_ROOT)
        outcomes = {}
        agent = None
        # the agent starts in ~10 ms and freezes these in ~50-300 ms, depending on the machine
        total = self.freeze_duration_ms()
        delays = sorted(set(list(range(0, 60, 4)) +
                            [int(total * k / 10) for k in range(1, 16)] + [int(total * 3)]))
        # and once after the reply: a loaded machine may stretch every delay above
        delays.append(None)
        try:
            for delay_ms in delays:
                agent = self.start("-t", statedir)
                c = agent.client()
                c.send(json.dumps({"execute": "guest-fsfreeze-freeze-list",
                                   "arguments": {"mountpoints": self.all}}))
                if delay_ms is None:
                    self.assertEqual(c.reply(), {"return": 3})
                else:
                    time.sleep(delay_ms / 1000)
                agent.stop(signal.SIGKILL)
                c.close()
                frozen_at_kill = self.probe.frozen(self.all)
                os.unlink(agent.sock)
                agent.start()
                c = agent.client()
                kernel = self.probe.frozen(self.all)
                known = self.known_frozen(c)
                status = c.execute("guest-fsfreeze-status")["return"]
                self.assertEqual(kernel, known, f"after a kill at {delay_ms} ms")
                self.assertEqual(status, "frozen" if known else "thawed")
                thawed = c.execute("guest-fsfreeze-thaw")
                self.assertEqual(thawed, {"return": len(known)}, f"at {delay_ms} ms")
                self.probe.finish()
                self.assertEqual(self.probe.frozen(self.all), set(), f"at {delay_ms} ms")
                self.assertEqual(c.execute("guest-fsfreeze-status")["return"], "thawed")
                c.close()
                agent.close()
                agent = None
                key = (len(frozen_at_kill), len(known))
                outcomes[key] = outcomes.get(key, 0) + 1
            # (frozen when killed, frozen after the restart): the killed agent's freeze was
            # complete at least once, and then the restarted agent knew all of it
            print(f"freeze takes {total:.0f} ms; outcomes: {outcomes}")
            self.assertIn((3, 3), outcomes)
        finally:
            if agent is not None:
                agent.close()
            shutil.rmtree(statedir, ignore_errors=True)


class HookScriptTest(unittest.TestCase):
    """The shipped hook runs fsfreeze-hook.d's scripts as root only when root alone can change
    them: a script or directory others may write fails "freeze" before anything runs, and is
    skipped by "thaw"."""

    HOOK = os.path.join(os.path.dirname(__file__), "..", "..", "packaging", "fsfreeze-hook")

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to own the scripts")
        self.dir = tempfile.mkdtemp(prefix="qa-hookd-")
        os.chmod(self.dir, 0o755)
        self.hook = os.path.join(self.dir, "fsfreeze-hook")
        shutil.copy(self.HOOK, self.hook)
        os.chmod(self.hook, 0o755)
        self.d = os.path.join(self.dir, "fsfreeze-hook.d")
        os.mkdir(self.d, 0o755)
        self.log = os.path.join(self.dir, "ran")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def script(self, name, mode=0o755, uid=0):
        path = os.path.join(self.d, name)
        with open(path, "w") as f:
            f.write(f"#!/bin/sh\necho {name} $1 >> {self.log}\n")
        os.chmod(path, mode)
        os.chown(path, uid, 0)
        return path

    def run_hook(self, action):
        r = subprocess.run([self.hook, action], capture_output=True, text=True, timeout=60)
        ran = open(self.log).read().split("\n") if os.path.exists(self.log) else []
        return r.returncode, r.stdout, [x for x in ran if x]

    def test_safe_scripts_run(self):
        self.script("10-a")
        self.script("20-b")
        self.assertEqual(self.run_hook("freeze"), (0, "", ["10-a freeze", "20-b freeze"]))

    def test_unsafe_scripts_are_refused(self):
        self.script("10-a")
        for name, mode, uid, why in (("20-group", 0o775, 0, "writable by group or others"),
                                     ("20-other", 0o757, 0, "writable by group or others"),
                                     ("20-user", 0o755, 65534, "not owned by root")):
            path = self.script(name, mode, uid)
            rc, out, ran = self.run_hook("freeze")
            self.assertEqual(rc, 1)
            self.assertIn(f"refusing {name}: it is {why}", out)
            self.assertEqual(ran, [], "freeze ran a script despite an unsafe one")
            rc, out, ran = self.run_hook("thaw")
            self.assertEqual(rc, 1)
            self.assertEqual(ran, ["10-a thaw"])
            os.unlink(path)
            os.unlink(self.log)

    def test_unsafe_directory_is_refused(self):
        self.script("10-a")
        os.chmod(self.d, 0o777)
        rc, out, ran = self.run_hook("freeze")
        self.assertEqual(rc, 1)
        self.assertIn("writable by group or others", out)
        self.assertEqual(ran, [])


class HiddenBackingFileTest(unittest.TestCase):
    """An image attached through a path that is no longer visible (a bind mount of the host's
    directory, lazily unmounted since) is still known to live on the filesystem holding it: the
    loop driver's device number for the file says so, and freezing everything puts the image's
    filesystem a level before its host's. (Matching the file's path against the mountpoints put
    both in one level, frozen in parallel.)"""

    def setUp(self):
        reason = can_run_root()
        if reason:
            self.skipTest(reason)
        self.mounts = qalib.LoopMounts()
        try:
            self.host = self.mounts.add("ext4", "host", size_mb=64)
            sub = os.path.join(self.host, "sub")
            os.mkdir(sub)
            self.elsewhere = tempfile.mkdtemp(prefix="qa-elsewhere-")
            subprocess.run(["mount", "--bind", sub, self.elsewhere], check=True)
            self.img = self.mounts.add("ext4", "img", size_mb=16, image_dir=self.elsewhere)
            subprocess.run(["umount", "-l", self.elsewhere], check=True)
        except Exception:
            self.mounts.close()
            raise

    def tearDown(self):
        for mp in (self.img, self.host):
            subprocess.run(["fsfreeze", "--unfreeze", mp], stderr=subprocess.DEVNULL)
        self.mounts.close()
        os.rmdir(self.elsewhere)

    def test_freeze_all_orders_by_the_kernel_backing_device(self):
        with qalib.Agent(f"--confine-mounts={self.mounts.root}",
                         f"--fsfreeze-timeout={AUTO_THAW}") as agent:
            c = agent.client()
            self.assertEqual(c.ok("guest-fsfreeze-freeze"), 2)
            self.assertEqual(c.ok("guest-fsfreeze-thaw"), 2)
            log = agent.log_text()
            self.assertIn("froze count=2 levels=2", log)
            self.assertLess(log.index(f"froze mountpoint={self.img}"),
                            log.index(f"froze mountpoint={self.host}"))
            c.close()


class OddNamesTest(unittest.TestCase):
    """A mountpoint that is not UTF-8 (a name from a Latin-1 era script) is recorded byte for
    byte: an agent killed while it is frozen is succeeded by one that still knows, reports
    "frozen" and thaws it. (The previous state file refused such a name, and the successor
    reported "thawed" while the filesystem stayed frozen.)"""

    def setUp(self):
        reason = can_run_root()
        if reason:
            self.skipTest(reason)
        self.root = tempfile.mkdtemp(prefix="qa-oddname-")
        self.image = os.path.join(self.root, "img")
        with open(self.image, "wb") as f:
            f.truncate(32 * 1024 * 1024)
        subprocess.run(["mkfs.ext4", "-q", self.image], check=True)
        self.mp = os.fsencode(self.root) + b"/caf\xe9 100%"
        os.mkdir(self.mp)
        subprocess.run(["mount", "-o", "loop", self.image, self.mp], check=True)

    def tearDown(self):
        subprocess.run([b"fsfreeze", b"--unfreeze", self.mp], stderr=subprocess.DEVNULL)
        subprocess.run([b"umount", self.mp])
        shutil.rmtree(self.root, ignore_errors=True)

    def writer(self):
        path = self.mp + b"/file"
        return subprocess.Popen([b"sh", b"-c", b"echo x > '" + path + b"'"])

    def test_killed_agent_successor_thaws_a_non_utf8_mountpoint(self):
        agent = qalib.Agent(f"--confine-mounts={self.root}", f"--fsfreeze-timeout={AUTO_THAW}")
        try:
            c = agent.client()
            self.assertEqual(c.ok("guest-fsfreeze-freeze"), 1)
            c.close()
            agent.stop(signal.SIGKILL)
            os.unlink(agent.sock)
            agent.start()
            c = agent.client()
            self.assertEqual(c.ok("guest-fsfreeze-status"), "frozen")
            w = self.writer()
            deadline = time.monotonic() + 60
            while not qalib.waits_for_freeze(w.pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            self.assertTrue(qalib.waits_for_freeze(w.pid), "the filesystem is not frozen")
            self.assertEqual(c.ok("guest-fsfreeze-thaw"), 1)
            self.assertEqual(w.wait(timeout=60), 0)
            c.close()
        finally:
            agent.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
