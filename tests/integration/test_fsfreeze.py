"""Freeze and thaw through the real agent, on loop-mounted images this test creates.

Safety, because freezing the machine's own filesystems hangs it: every agent runs with
--confine-mounts=<our temp dir> (nothing else exists for it) and a short --fsfreeze-timeout, every
freeze names its mountpoints, and tearDown thaws with fsfreeze -u whatever is still frozen. Needs
root and mkfs.xfs/mkfs.btrfs; skipped otherwise.
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import qalib

AUTO_THAW = "20"  # seconds: the safety net of every agent here


def sh(cmd):
    subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def can_run():
    if os.geteuid() != 0:
        return "needs root for loop mounts"
    for tool in ("mkfs.ext4", "mkfs.xfs", "mkfs.btrfs", "fsfreeze", "losetup"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    return None


@unittest.skipIf(can_run() is not None, can_run())
class FsfreezeTest(qalib.FreezeChecks, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="qa-fsfreeze-")
        cls.mounted = []
        try:
            cls.make("ext4", "a", 64)
            cls.make("xfs", "b", 300)
            cls.make("btrfs", "c", 300)
            cls.make("ext4", "outer", 128)
            cls.make("ext4", "inner", 32, image_dir=cls.mp("outer"))
            os.makedirs(cls.mp("a-bind"))
            sh(f"mount --bind {cls.mp('a')} {cls.mp('a-bind')}")
            cls.mounted.append(cls.mp("a-bind"))
            os.makedirs(cls.mp("t"))
            sh(f"mount -t tmpfs tmpfs {cls.mp('t')}")
            cls.mounted.append(cls.mp("t"))
            os.makedirs(cls.mp("plain-dir"))
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for mp in reversed(cls.mounted):
            subprocess.run(["fsfreeze", "-u", mp], stderr=subprocess.DEVNULL)
            if subprocess.run(["umount", mp], stderr=subprocess.DEVNULL).returncode != 0:
                subprocess.run(["umount", "-l", mp])
        shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def mp(cls, name):
        return os.path.join(cls.dir, name)

    @classmethod
    def make(cls, fstype, name, size_mb, image_dir=None):
        image = os.path.join(image_dir or cls.dir, name + ".img")
        mkfs = {"ext4": "mkfs.ext4 -q -F", "xfs": "mkfs.xfs -q -f", "btrfs": "mkfs.btrfs -q -f"}
        sh(f"truncate -s {size_mb}M {image} && {mkfs[fstype]} {image}")
        os.makedirs(cls.mp(name))
        sh(f"mount -o loop {image} {cls.mp(name)}")
        cls.mounted.append(cls.mp(name))

    def start(self, *args):
        return qalib.Agent(f"--confine-mounts={self.dir}", f"--fsfreeze-timeout={AUTO_THAW}",
                           *args)

    def setUp(self):
        self.agent = self.start()
        self.client = self.agent.client()

    def tearDown(self):
        self.client.close()
        self.agent.close()
        for mp in self.mounted:
            subprocess.run(["fsfreeze", "-u", mp], stderr=subprocess.DEVNULL)

    def test_freeze_list_status_thaw(self):
        c = self.client
        self.assertEqual(c.ok("guest-fsfreeze-status"), "thawed")
        n = c.ok("guest-fsfreeze-freeze-list",
                 {"mountpoints": [self.mp("a"), self.mp("b"), self.mp("c")]})
        self.assertEqual(n, 3)
        writers = [self.writer(x) for x in ("a", "b", "c")]
        for w in writers:
            self.assert_blocked(w)
        # the agent keeps answering while frozen
        c.sync()
        self.assertEqual(c.ok("guest-ping"), {})
        self.assertEqual(c.ok("guest-fsfreeze-status"), "frozen")
        self.assertEqual(c.ok("guest-fsfreeze-thaw"), 3)
        for w in writers:
            self.assert_completes(w)
        self.assertEqual(c.ok("guest-fsfreeze-status"), "thawed")
        self.assertEqual(c.ok("guest-fsfreeze-thaw"), 0)

    def test_flush_phases_in_the_log(self):
        """ext4's journal is checkpointed before FIFREEZE (Linux 5.14 and later); xfs and btrfs
        have no such call, which does not fail their freeze; the log says where the time went.
        (Whether a checkpoint is tried at all depends on how long the first syncfs took.)"""
        c = self.client
        for name in ("a", "b", "c"):
            sh(f"dd if=/dev/zero of={self.mp(name)}/dirty bs=1M count=8 status=none")
        n = c.ok("guest-fsfreeze-freeze-list",
                 {"mountpoints": [self.mp("a"), self.mp("b"), self.mp("c")]})
        self.assertEqual(n, 3)
        self.assertEqual(c.ok("guest-fsfreeze-thaw"), 3)
        log = self.agent.log_text()
        kernel = tuple(int(x) for x in re.findall(r"\d+", os.uname().release)[:2])
        # skipped when the first syncfs found next to nothing to flush (the agent decides by time)
        ext4 = "(done|skipped)" if kernel >= (5, 14) else "(unsupported|skipped)"
        self.assertRegex(log, rf"froze mountpoint={re.escape(self.mp('a'))} fstype=ext4 "
                              rf"syncfs_ms=[\d.,]+ checkpoint={ext4} checkpoint_ms=[\d.]+ "
                              rf"fifreeze_ms=[\d.]+")
        for name, fstype in (("b", "xfs"), ("c", "btrfs")):
            self.assertRegex(log, rf"froze mountpoint={re.escape(self.mp(name))} "
                                  rf"fstype={fstype} syncfs_ms=[\d.,]+ "
                                  rf"checkpoint=(unsupported|skipped) ")
        self.assertRegex(log, r"froze count=3 levels=1 prepare_ms=[\d.]+ begin_ms=[\d.]+ "
                              r"flush_ms=[\d.]+ fifreeze_ms=[\d.]+ save_ms=[\d.]+ "
                              r"total_ms=[\d.]+ load_ms=[\d.]+ plan_ms=[\d.]+ "
                              r"state_writes=2 state_ms=[\d.]+ rcu_ms=[\d.]+ dirty_ms=[\d.]+ "
                              r"dirty_kib=\d+,\d+,\d+ "
                              r"rcu=(expedited|already-expedited|unavailable) "
                              r"storage=(built|kept)\n")
        self.assertRegex(log, r"thawed count=3 ms=[\d.]+ fithaw_ms=[\d.]+ state_ms=[\d.]+")
        self.assertRegex(log, r"thawed mountpoint=\S+ fithaw_ms=[\d.]+")
        self.assertNotIn("checkpoint mountpoint", log)

    def test_rcu_left_alone_when_configured(self):
        """fsfreeze-expedite-rcu=false: the freeze says it left RCU grace periods alone."""
        with self.start("--fsfreeze-expedite-rcu=false") as agent:
            c = agent.client()
            self.assertEqual(c.ok("guest-fsfreeze-freeze-list", {"mountpoints": [self.mp("a")]}),
                             1)
            self.assertEqual(c.ok("guest-fsfreeze-thaw"), 1)
            c.close()
            self.assertRegex(agent.log_text(), r"froze count=1 .* rcu=off storage=(built|kept)\n")

    def test_no_nesting(self):
        c = self.client
        self.assertEqual(c.ok("guest-fsfreeze-freeze-list", {"mountpoints": [self.mp("a")]}), 1)
        desc = self.error("guest-fsfreeze-freeze-list", {"mountpoints": [self.mp("a-bind")]})
        self.assertIn("already frozen by this agent", desc)
        # another filesystem may be frozen independently
        self.assertEqual(c.ok("guest-fsfreeze-freeze-list", {"mountpoints": [self.mp("b")]}), 1)
        self.assertEqual(c.ok("guest-fsfreeze-thaw"), 2)

    def test_frozen_by_someone_else(self):
        sh(f"fsfreeze -f {self.mp('c')}")
        try:
            desc = self.error("guest-fsfreeze-freeze-list",
                              {"mountpoints": [self.mp("a"), self.mp("c")]})
        finally:
            sh(f"fsfreeze -u {self.mp('c')}")
        self.assertIn(self.mp("c"), desc)
        self.assertIn("another process", desc)
        # a was rolled back
        self.assertEqual(self.client.ok("guest-fsfreeze-status"), "thawed")
        self.assert_completes(self.writer("a"))

    def test_invalid_names_freeze_nothing(self):
        cases = [(self.mp("missing"), "does not exist"),
                 (self.mp("plain-dir"), "is not a mountpoint"),
                 (self.mp("t"), "no block device"),
                 ("/", "outside")]
        for name, text in cases:
            desc = self.error("guest-fsfreeze-freeze-list",
                              {"mountpoints": [self.mp("a"), name]})
            self.assertIn(name, desc)
            self.assertIn(text, desc)
        self.assertEqual(self.client.ok("guest-fsfreeze-status"), "thawed")

    def test_thaw_list(self):
        c = self.client
        c.ok("guest-fsfreeze-freeze-list", {"mountpoints": [self.mp("a"), self.mp("b")]})
        desc = self.error("guest-fsfreeze-thaw", {"mountpoints": [self.mp("c")]})
        self.assertIn("is not a mountpoint this agent holds frozen", desc)
        # names are compared as the mount table spells them, after lexical clean-up only
        self.assertEqual(c.ok("guest-fsfreeze-thaw",
                              {"mountpoints": [self.mp("a-bind") + "//./"]}), 1)
        self.assertEqual(c.ok("guest-fsfreeze-status"), "frozen")
        self.assertEqual(c.ok("guest-fsfreeze-thaw"), 1)

    def test_loop_image_frozen_before_its_backing_filesystem(self):
        c = self.client
        n = c.ok("guest-fsfreeze-freeze-list",
                 {"mountpoints": [self.mp("outer"), self.mp("inner")]})
        self.assertEqual(n, 2)
        self.assertEqual(c.ok("guest-fsfreeze-thaw"), 2)
        log = self.agent.log_text()
        self.assertLess(log.index(f"froze mountpoint={self.mp('inner')}"),
                        log.index(f"froze mountpoint={self.mp('outer')}"))

    def test_restart_while_frozen(self):
        self.client.ok("guest-fsfreeze-freeze-list", {"mountpoints": [self.mp("b")]})
        self.client.close()
        self.agent.stop(signal.SIGKILL)
        os.unlink(self.agent.sock)  # left by the killed agent; start() waits for a new one
        self.agent.start()
        self.client = self.agent.client()
        self.assertEqual(self.client.ok("guest-fsfreeze-status"), "frozen")
        self.assertEqual(self.client.ok("guest-fsfreeze-thaw"), 1)
        self.assert_completes(self.writer("b"))

    def test_sigterm_while_frozen_thaws(self):
        self.client.ok("guest-fsfreeze-freeze-list", {"mountpoints": [self.mp("a")]})
        w = self.writer("a")
        self.assert_blocked(w)
        self.client.close()
        self.assertEqual(self.agent.stop(signal.SIGTERM), 0)
        self.assert_completes(w)
        self.agent.start()
        self.client = self.agent.client()
        self.assertEqual(self.client.ok("guest-fsfreeze-status"), "thawed")

    def test_auto_thaw(self):
        self.client.close()
        self.agent.close()
        self.agent = qalib.Agent(f"--confine-mounts={self.dir}", "--fsfreeze-timeout=2")
        self.client = self.agent.client()
        self.client.ok("guest-fsfreeze-freeze-list", {"mountpoints": [self.mp("a")]})
        w = self.writer("a")
        self.assert_completes(w)
        self.assertEqual(self.client.ok("guest-fsfreeze-status"), "thawed")
        desc = self.error("guest-fsfreeze-thaw")
        self.assertIn("thawed automatically at", desc)
        self.assertEqual(self.client.ok("guest-fsfreeze-thaw"), 0)

    def test_hooks(self):
        hookdir = tempfile.mkdtemp(prefix="qa-hook-")
        try:
            hook = os.path.join(hookdir, "hook")
            log = os.path.join(hookdir, "log")
            with open(hook, "w") as f:
                f.write(f"#!/bin/sh\necho \"$1\" >> {log}\n"
                        f"[ -e {hookdir}/fail ] && [ \"$1\" = freeze ] && "
                        "{ echo 'database says no'; exit 1; }\nexit 0\n")
            os.chmod(hook, 0o755)
            self.client.close()
            self.agent.close()
            self.agent = self.start("-F", hook)
            self.client = self.agent.client()
            self.client.ok("guest-fsfreeze-freeze-list", {"mountpoints": [self.mp("a")]})
            self.client.ok("guest-fsfreeze-thaw")
            open(os.path.join(hookdir, "fail"), "w").close()
            desc = self.error("guest-fsfreeze-freeze-list", {"mountpoints": [self.mp("a")]})
            self.assertIn("database says no", desc)
            with open(log) as f:
                self.assertEqual(f.read().split(), ["freeze", "thaw", "freeze", "thaw"])
        finally:
            shutil.rmtree(hookdir, ignore_errors=True)

    def test_hooks_run_with_no_signal_blocked(self):
        """The agent reads its signals from signalfds, so it blocks them; a blocked mask
        survives exec, and a hook must not inherit it (a database script would then ignore
        the SIGTERM its own tools send)."""
        hookdir = tempfile.mkdtemp(prefix="qa-hook-")
        try:
            hook = os.path.join(hookdir, "hook")
            log = os.path.join(hookdir, "log")
            with open(hook, "w") as f:
                f.write(f"#!/bin/sh\ngrep ^SigBlk: /proc/self/status >> {log}\nexit 0\n")
            os.chmod(hook, 0o755)
            self.restart("-F", hook)
            self.client.ok("guest-fsfreeze-freeze-list", {"mountpoints": [self.mp("a")]})
            self.client.ok("guest-fsfreeze-thaw")
            with open(log) as f:
                masks = [line.split()[1] for line in f]
            self.assertEqual(len(masks), 2)
            for mask in masks:
                self.assertEqual(int(mask, 16), 0, f"hook ran with signals blocked: {mask}")
        finally:
            shutil.rmtree(hookdir, ignore_errors=True)

    @unittest.skipIf(qalib.WRAPPER, "a wrapper (valgrind) runs threads of its own")
    def test_no_thread_before_the_first_freeze(self):
        """No hidden threads: an agent that has not frozen anything runs on its main thread
        alone; the first freeze starts the auto-thaw watchdog, which then stays."""
        def threads():
            tasks = f"/proc/{self.agent.proc.pid}/task"
            names = []
            for tid in os.listdir(tasks):
                with open(f"{tasks}/{tid}/comm") as f:
                    names.append(f.read().strip())
            return sorted(names)

        self.client.ok("guest-get-fsinfo")
        self.assertEqual(threads(), ["quiesce-agent"])
        self.client.ok("guest-fsfreeze-freeze-list", {"mountpoints": [self.mp("a")]})
        self.client.ok("guest-fsfreeze-thaw")
        # a new thread carries its creator's name until it has run far enough to set its own
        # (GLib names it from inside), which under load can be after the thaw's reply
        deadline = time.monotonic() + qalib.TIMEOUT
        while "qa-watchdog" not in threads() and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertIn("qa-watchdog", threads())

    def restart(self, *args):
        self.client.close()
        self.agent.close()
        self.agent = self.start(*args)
        self.client = self.agent.client()

    def test_answers_ping_and_status_during_a_slow_freeze(self):
        """A freeze that takes seconds (here: a slow hook) leaves the agent answering liveness
        checks; everything else, and the freeze's own reply, keep their order."""
        hookdir = tempfile.mkdtemp(prefix="qa-hook-")
        try:
            hook = os.path.join(hookdir, "hook")
            with open(hook, "w") as f:
                f.write('#!/bin/sh\n[ "$1" = freeze ] && sleep 2\nexit 0\n')
            os.chmod(hook, 0o755)
            self.restart("-F", hook)
            start = time.monotonic()
            self.client.send('{"execute":"guest-fsfreeze-freeze-list","arguments":'
                             '{"mountpoints":["%s"]},"id":"freeze"}' % self.mp("a"))
            self.client.send('{"execute":"guest-get-fsinfo","id":"fsinfo"}')
            self.client.send('{"execute":"guest-ping","id":"ping"}')
            self.client.send('{"execute":"guest-fsfreeze-status","id":"status"}')
            first = self.client.reply()
            self.assertEqual(first["id"], "ping")
            self.assertLess(time.monotonic() - start, 1.5, "ping waited for the freeze")
            self.assertEqual(self.client.reply(), {"return": "thawed", "id": "status"})
            self.assertEqual(self.client.reply(), {"return": 1, "id": "freeze"})
            fsinfo = self.client.reply()
            self.assertEqual(fsinfo["id"], "fsinfo")
            frozen = {fs["mountpoint"]: fs["frozen"] for fs in fsinfo["return"]}
            self.assertTrue(frozen[self.mp("a")], "fsinfo ran before the freeze it followed")
            self.assertEqual(self.client.ok("guest-fsfreeze-thaw"), 1)
        finally:
            shutil.rmtree(hookdir, ignore_errors=True)

    def test_exclusions_from_the_config_file(self):
        conf = os.path.join(self.dir, "exclude.conf")
        with open(conf, "w") as f:
            f.write(f"[general]\nfsfreeze-exclude-mountpoints={self.mp('b')};{self.dir}/out*\n"
                    "fsfreeze-exclude-types=btrfs\n")
        try:
            self.restart("-c", conf)
            desc = self.error("guest-fsfreeze-freeze-list", {"mountpoints": [self.mp("b")]})
            self.assertIn("excluded", desc)
            self.assertIn(self.mp("b"), desc)
            self.assertIn("excluded", self.error("guest-fsfreeze-freeze-list",
                                                 {"mountpoints": [self.mp("c")]}))
            # freeze-all leaves b (mountpoint), c (type) and outer (pattern) alone
            count = self.client.ok("guest-fsfreeze-freeze")
            frozen = {fs["mountpoint"] for fs in self.client.ok("guest-get-fsinfo")
                      if fs.get("frozen")}
            self.assertEqual(frozen, {self.mp("a"), self.mp("a-bind"), self.mp("inner")})
            self.assertEqual(count, 2)  # a and its bind mount are one filesystem
            self.assertEqual(self.client.ok("guest-fsfreeze-thaw"), 2)
        finally:
            os.unlink(conf)

    def test_log_file_on_frozen_filesystem(self):
        self.client.close()
        self.agent.close()
        self.agent = self.start("-l", os.path.join(self.mp("a"), "agent.log"))
        self.client = self.agent.client()
        self.client.ok("guest-fsfreeze-freeze-list", {"mountpoints": [self.mp("a")]})
        for i in range(20):
            self.client.ok("guest-info")
            self.assertEqual(self.client.ok("guest-fsfreeze-status"), "frozen")
        self.assertEqual(self.client.ok("guest-fsfreeze-thaw"), 1)

    def test_fstrim_skips_frozen(self):
        self.client.ok("guest-fsfreeze-freeze-list", {"mountpoints": [self.mp("b")]})
        paths = {p["path"]: p for p in self.client.ok("guest-fstrim")["paths"]}
        self.assertIn("frozen", paths[self.mp("b")]["error"])
        self.assertIn("trimmed", paths[self.mp("a")])
        self.assertNotIn(self.mp("t"), paths)
        self.client.ok("guest-fsfreeze-thaw")


if __name__ == "__main__":
    unittest.main(verbosity=2)
