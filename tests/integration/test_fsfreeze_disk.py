"""Freezing by disk, the freeze report, --status and --emergency-thaw, through the real agent on
loop images this test creates.

Safety, as in test_fsfreeze.py: every agent runs with --confine-mounts=<our temp dir> (nothing
else exists for it) and a short --fsfreeze-timeout, and tearDown thaws, holders first, whatever
is still frozen. Disks named here are our loop devices, or the disk holding our image files:
confined, the agent can only catch our images on it. LVM and MD stacks need device-mapper and
MD in the kernel and are skipped where the kernel has neither (btrfs over two loop devices
spans disks everywhere). Needs root, mkfs.ext4 and mkfs.btrfs.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import qalib

AUTO_THAW = "30"  # seconds: the safety net of every agent here


def sh(cmd, **kwargs):
    return subprocess.run(cmd, shell=True, check=True, capture_output=True, text=True,
                          timeout=120, **kwargs).stdout.strip()


def can_run():
    if os.geteuid() != 0:
        return "needs root for loop mounts"
    for tool in ("mkfs.ext4", "mkfs.btrfs", "fsfreeze", "losetup", "findmnt"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    return None


def loop_of(image):
    """The loop device backing IMAGE."""
    return sh(f"losetup -j {image} -O NAME -n").splitlines()[0].strip()


def process_state(pid):
    """The state letter of /proc/PID/stat: R, S, T (stopped), ..."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


@unittest.skipIf(can_run() is not None, can_run())
class DiskFreezeTest(qalib.FreezeChecks, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="qa-disk-")
        cls.mounted = []  # in mount order: tearDown thaws in this order, holders first
        cls.loops = []    # attached by hand, detached in tearDownClass
        try:
            cls.make("ext4", "a", 64)
            cls.make("ext4", "b", 64)
            cls.make("ext4", "outer", 128)
            cls.make("ext4", "inner", 32, image_dir=cls.mp("outer"))
            cls.make_btrfs_raid1()
            cls.bare = cls.attach(cls.image("bare", 16))
            cls.hook = cls.make_hook()
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for mp in cls.mounted:
            subprocess.run(["fsfreeze", "-u", mp], stderr=subprocess.DEVNULL)
        for mp in reversed(cls.mounted):
            if subprocess.run(["umount", mp], stderr=subprocess.DEVNULL).returncode != 0:
                subprocess.run(["umount", "-l", mp])
        for loop in cls.loops:
            subprocess.run(["losetup", "-d", loop], stderr=subprocess.DEVNULL)
        shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def mp(cls, name):
        return os.path.join(cls.dir, name)

    @classmethod
    def image(cls, name, size_mb, image_dir=None):
        path = os.path.join(image_dir or cls.dir, name + ".img")
        sh(f"truncate -s {size_mb}M {path}")
        return path

    @classmethod
    def attach(cls, image):
        loop = sh(f"losetup -f --show {image}")
        cls.loops.append(loop)
        return loop

    @classmethod
    def make(cls, fstype, name, size_mb, image_dir=None):
        image = cls.image(name, size_mb, image_dir)
        sh(f"mkfs.{fstype} -q -F {image}")
        os.makedirs(cls.mp(name))
        sh(f"mount -o loop {image} {cls.mp(name)}")
        cls.mounted.append(cls.mp(name))

    @classmethod
    def make_btrfs_raid1(cls):
        cls.raid_loops = [cls.attach(cls.image(f"raid{i}", 128)) for i in (1, 2)]
        sh(f"mkfs.btrfs -q -f -d raid1 -m raid1 {' '.join(cls.raid_loops)}")
        os.makedirs(cls.mp("raid"))
        sh(f"mount -t btrfs {cls.raid_loops[0]} {cls.mp('raid')}")
        cls.mounted.append(cls.mp("raid"))

    @classmethod
    def make_hook(cls):
        hook = os.path.join(cls.dir, "hook")
        with open(hook, "w") as f:
            f.write(f"#!/bin/sh\necho \"$1\" >> {cls.dir}/hook.log\necho \"hook $1 ok\"\n")
        os.chmod(hook, 0o755)
        return hook

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
        if os.path.exists(os.path.join(self.dir, "hook.log")):
            os.unlink(os.path.join(self.dir, "hook.log"))

    def dev(self, name):
        return sh(f"findmnt -no SOURCE {self.mp(name)}").splitlines()[0]

    def report(self, client=None):
        return (client or self.client).ok("guest-fsfreeze-get-report")

    def entry(self, report, name):
        for fs in report["filesystems"]:
            if self.mp(name) in fs["mountpoints"]:
                return fs
        self.fail(f"{name} is not in the report: {json.dumps(report)}")

    def result(self, report, name):
        for fs in report["last-freeze"]["filesystems"]:
            if self.mp(name) in fs["mountpoints"]:
                return fs
        self.fail(f"{name} is not in the last freeze: {json.dumps(report['last-freeze'])}")

    # freezing by disk ---------------------------------------------------------------------

    def test_freeze_by_dev_of_a_loop_device(self):
        c = self.client
        disk = {"dev": self.dev("a")}
        self.assertEqual(c.ok("guest-fsfreeze-freeze-list", {"disks": [disk]}), 1)
        w = self.writer("a")
        self.assert_blocked(w)
        self.assert_completes(self.writer("b"))
        report = self.report()
        self.assertEqual(report["status"], "frozen")
        call = report["last-freeze"]
        self.assertTrue(call["success"])
        self.assertEqual(call["command"], "guest-fsfreeze-freeze-list")
        self.assertEqual(call["disks"][0]["disk"], f"dev={self.dev('a')}")
        self.assertEqual(call["disks"][0]["mountpoints"], [self.mp("a")])
        self.assertEqual(self.result(report, "a")["result"], "frozen")
        a = self.entry(report, "a")
        self.assertTrue(a["frozen"])
        self.assertEqual(a["frozen-by"], call["serial"])
        self.assertEqual(a["name"], os.path.basename(self.dev("a")))
        self.assertFalse(self.entry(report, "b")["frozen"])
        self.assertIn("auto-thaw-at", report)
        self.assertEqual(c.ok("guest-fsfreeze-thaw", {"disks": [disk]}), 1)
        self.assert_completes(w)
        thaw = self.report()["last-thaw"]
        self.assertEqual((thaw["by"], thaw["count"], thaw["mountpoints"]),
                         ("host", 1, [self.mp("a")]))

    def test_loop_over_loop(self):
        """The outer image's loop device holds the inner image's file: both are caught, the
        inner frozen first; the inner alone cannot be thawed while the outer stays frozen."""
        c = self.client
        self.assertEqual(c.ok("guest-fsfreeze-freeze-list",
                              {"disks": [{"dev": self.dev("outer")}]}), 2)
        desc = self.error("guest-fsfreeze-thaw", {"disks": [{"dev": self.dev("inner")}]})
        self.assertIn("alone", desc)
        self.assertEqual(c.ok("guest-fsfreeze-status"), "frozen")
        self.assertEqual(c.ok("guest-fsfreeze-thaw", {"disks": [{"dev": self.dev("outer")}]}), 2)
        self.assertEqual(c.ok("guest-fsfreeze-status"), "thawed")
        # the log is held while anything is frozen: read once thawed
        log = self.agent.log_text()
        self.assertLess(log.index(f"froze mountpoint={self.mp('inner')} "),
                        log.index(f"froze mountpoint={self.mp('outer')} "))

    def test_btrfs_over_two_loop_devices(self):
        """btrfs RAID1 spans two loop devices: the member that is not the mount's source names
        it too, and a thaw by the other member thaws it."""
        c = self.client
        self.assertEqual(c.ok("guest-fsfreeze-freeze-list",
                              {"disks": [{"dev": self.raid_loops[1]}]}), 1)
        w = self.writer("raid")
        self.assert_blocked(w)
        report = self.report()
        self.assertEqual(report["last-freeze"]["disks"][0]["mountpoints"], [self.mp("raid")])
        self.assertEqual(c.ok("guest-fsfreeze-thaw", {"disks": [{"dev": self.raid_loops[0]}]}),
                         1)
        self.assert_completes(w)

    def test_disk_from_fsinfo_sent_back(self):
        """What guest-get-fsinfo reports as the disk of an image (the disk holding its file)
        catches every image of ours on that disk, and only those: the agent is confined."""
        c = self.client
        fsinfo = c.ok("guest-get-fsinfo")
        disks = [fs["disk"] for fs in fsinfo if fs["mountpoint"] == self.mp("a")][0]
        if not disks:
            self.skipTest("the images' directory is on no disk (a memory filesystem)")
        ours = {fs["mountpoint"] for fs in fsinfo if fs["disk"] == disks}
        n = c.ok("guest-fsfreeze-freeze-list", {"disks": [disks[0]]})
        report = self.report()
        frozen = {mp for fs in report["filesystems"] if fs["frozen"] for mp in fs["mountpoints"]}
        self.assertEqual(n, len([fs for fs in report["filesystems"] if fs["frozen"]]))
        self.assertTrue({self.mp(x) for x in ("a", "b", "outer", "inner", "raid")} <= frozen)
        self.assertEqual(frozen, ours)
        self.assertEqual(c.ok("guest-fsfreeze-thaw", {"disks": [disks[0]]}), n)

    def test_disk_errors(self):
        c = self.client
        cases = [([{"serial": "QA-NO-SUCH-SERIAL"}], "matches no disk"),
                 ([{"dev": self.dev("a")}, {"dev": "/dev/qa-no-such-dev"}],
                  "matches no block device"),
                 ([{"bus-type": "scsi", "unit": 3}], "does not tell disks apart"),
                 ([{"pci-controller": {"domain": -1, "bus": -1, "slot": -1, "function": -1}}],
                  "does not tell disks apart"),
                 ([{"serial": ""}], "empty serial"),
                 ([{"ccw-address": {"cssid": 0, "ssid": 0, "subchno": 1, "devno": 2}}],
                  "matches no disk")]
        for disks, text in cases:
            desc = self.error("guest-fsfreeze-freeze-list", {"disks": disks})
            self.assertIn(text, desc)
            self.assertEqual(c.ok("guest-fsfreeze-status"), "thawed")
        for bad in ({"disks": "vda"}, {"disks": [{"dev": 5}]}, {"disks": [{"bus-type": "tape"}]},
                    {"disks": [{"nope": 1}]}):
            self.error("guest-fsfreeze-freeze-list", bad)
        self.assertEqual(c.ok("guest-fsfreeze-status"), "thawed")
        report = self.report()
        self.assertFalse(report["last-freeze"]["success"])
        # a disk with nothing mounted on it is no error
        self.assertEqual(c.ok("guest-fsfreeze-freeze-list", {"disks": [{"dev": self.bare}]}), 0)
        self.assertEqual(self.report()["last-freeze"]["disks"][0]["mountpoints"], [])
        # no nesting: a named disk's filesystem that is frozen already fails the call
        c.ok("guest-fsfreeze-freeze-list", {"mountpoints": [self.mp("a")]})
        desc = self.error("guest-fsfreeze-freeze-list",
                          {"disks": [{"dev": self.dev("b")}, {"dev": self.dev("a")}]})
        self.assertIn(f"'{self.mp('a')}' is already frozen", desc)
        self.assert_completes(self.writer("b"))
        # thawing by a disk that matches nothing thaws nothing
        self.error("guest-fsfreeze-thaw", {"disks": [{"serial": "QA-NO-SUCH-SERIAL"}]})
        self.assertEqual(c.ok("guest-fsfreeze-thaw", {"disks": [{"dev": self.dev("b")}]}), 0)
        self.assertEqual(c.ok("guest-fsfreeze-thaw"), 1)

    def test_lvm_or_md_over_two_loop_devices(self):
        """An LV (or an MD RAID1) over two loop devices is caught by either of them."""
        with open("/proc/devices") as f:
            has_dm = "device-mapper" in f.read().split()
        if has_dm and shutil.which("lvcreate"):
            self.span_with_lvm()
        elif os.path.exists("/proc/mdstat") and shutil.which("mdadm"):
            self.span_with_md()
        else:
            self.skipTest("the kernel has neither device-mapper nor MD")

    def span_with_lvm(self):
        vg = f"qa{os.getpid()}"
        pvs = [self.attach(self.image(f"pv{i}-{vg}", 64)) for i in (1, 2)]
        env = dict(os.environ, DM_DISABLE_UDEV="1")
        mp = self.mp(f"lv-{vg}")
        try:
            sh(f"pvcreate -q {' '.join(pvs)} && vgcreate -q {vg} {' '.join(pvs)} && "
               f"lvcreate -q -y -l 100%FREE -n span {vg}", env=env)
            sh(f"mkfs.ext4 -q -F /dev/mapper/{vg}-span && mkdir -p {mp} && "
               f"mount /dev/mapper/{vg}-span {mp}")
            self.freeze_span(mp, pvs)
        finally:
            subprocess.run(["fsfreeze", "-u", mp], stderr=subprocess.DEVNULL)
            subprocess.run(["umount", mp], stderr=subprocess.DEVNULL)
            subprocess.run(["vgremove", "-q", "-f", vg], env=env, capture_output=True)
            for pv in pvs:
                subprocess.run(["losetup", "-d", pv], stderr=subprocess.DEVNULL)

    def span_with_md(self):
        md = f"/dev/md/qa{os.getpid()}"
        members = [self.attach(self.image(f"md{i}-{os.getpid()}", 64)) for i in (1, 2)]
        mp = self.mp(f"md-{os.getpid()}")
        try:
            sh(f"mdadm --create {md} --run --level=1 --raid-devices=2 --metadata=1.2 "
               f"{' '.join(members)}")
            sh(f"mkfs.ext4 -q -F {md} && mkdir -p {mp} && mount {md} {mp}")
            self.freeze_span(mp, members)
        finally:
            subprocess.run(["fsfreeze", "-u", mp], stderr=subprocess.DEVNULL)
            subprocess.run(["umount", mp], stderr=subprocess.DEVNULL)
            subprocess.run(["mdadm", "--stop", md], capture_output=True)
            for member in members:
                subprocess.run(["losetup", "-d", member], stderr=subprocess.DEVNULL)

    def freeze_span(self, mp, members):
        c = self.client
        self.assertEqual(c.ok("guest-fsfreeze-freeze-list", {"disks": [{"dev": members[1]}]}),
                         1)
        report = self.report()
        self.assertEqual(report["last-freeze"]["disks"][0]["mountpoints"], [mp])
        self.assertEqual(c.ok("guest-fsfreeze-thaw", {"disks": [{"dev": members[0]}]}), 1)

    # the report -------------------------------------------------------------------------

    def test_report_after_failure_rolls_back(self):
        """b is frozen by someone else: its FIFREEZE fails, a (frozen in the same level) is
        rolled back, and the report says so for each."""
        sh(f"fsfreeze -f {self.mp('b')}")
        try:
            desc = self.error("guest-fsfreeze-freeze-list",
                              {"mountpoints": [self.mp("a"), self.mp("b")]})
        finally:
            sh(f"fsfreeze -u {self.mp('b')}")
        report = self.report()
        call = report["last-freeze"]
        self.assertFalse(call["success"])
        self.assertEqual(call["error"], desc)
        self.assertEqual(call["mountpoints"], [self.mp("a"), self.mp("b")])
        self.assertEqual(self.result(report, "b")["result"], "failed")
        self.assertIn("busy", self.result(report, "b")["detail"])
        self.assertIn(self.result(report, "a")["result"], ("rolled-back", "skipped"))
        self.assertEqual(report["status"], "thawed")

    def test_report_of_a_success_with_hooks(self):
        c = self.client
        c.close()
        self.agent.close()
        self.agent = self.start(f"--fsfreeze-hook={self.hook}")
        self.client = c = self.agent.client()
        self.assertEqual(c.ok("guest-fsfreeze-freeze-list",
                              {"mountpoints": [self.mp("a"), self.mp("outer"),
                                               self.mp("inner")]}), 3)
        report = self.report()
        call = report["last-freeze"]
        self.assertTrue(call["success"])
        self.assertEqual(call["count"], 3)
        self.assertTrue(report["thaw-hook-owed"])
        for key in ("prepare-ms", "flush-ms", "freeze-ms", "started", "ended"):
            self.assertGreaterEqual(call[key], 0)
        self.assertEqual([h["action"] for h in call["hooks"]], ["freeze"])
        self.assertEqual(call["hooks"][0]["exit-status"], 0)
        self.assertEqual(call["hooks"][0]["last-line"], "hook freeze ok")
        names = [fs["mountpoints"][0] for fs in call["filesystems"]]
        self.assertLess(names.index(self.mp("inner")), names.index(self.mp("outer")))
        for fs in call["filesystems"]:
            self.assertEqual(fs["result"], "frozen")
            self.assertIn("freeze-ms", fs)
        self.assertEqual(c.ok("guest-fsfreeze-thaw"), 3)
        thaw = self.report()["last-thaw"]
        self.assertEqual((thaw["by"], thaw["count"], thaw["left"]), ("host", 3, 0))
        self.assertEqual(thaw["hook"]["action"], "thaw")

    def test_report_answers_during_a_freeze(self):
        """A freeze hook that waits: the report answers at once and shows the call running."""
        gate = os.path.join(self.dir, "gate")
        hook = os.path.join(self.dir, "slow-hook")
        with open(hook, "w") as f:
            f.write(f"#!/bin/sh\n[ \"$1\" = freeze ] || exit 0\n"
                    f"while [ ! -e {gate} ]; do sleep 0.05; done\nrm -f {gate}\n")
        os.chmod(hook, 0o755)
        self.client.close()
        self.agent.close()
        self.agent = self.start(f"--fsfreeze-hook={hook}")
        self.client = c = self.agent.client()
        c.send(json.dumps({"execute": "guest-fsfreeze-freeze-list",
                           "arguments": {"mountpoints": [self.mp("a")]}, "id": "freeze"}))
        try:
            # out of band: answered before the freeze's reply, on the same connection
            deadline = time.monotonic() + qalib.TIMEOUT
            while True:
                report = self.report()
                call = report.get("last-freeze", {})
                if call.get("serial") == 1 and call["filesystems"]:
                    break
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.02)
            self.assertNotIn("ended", call)
            self.assertFalse(call["success"])
            self.assertEqual(self.result(report, "a")["result"], "planned")
            self.assertEqual(report["status"], "thawed")
        finally:
            open(gate, "w").close()
        self.assertEqual(c.reply(), {"return": 1, "id": "freeze"})
        self.assertEqual(c.ok("guest-fsfreeze-thaw"), 1)

    def test_report_auto_thaw(self):
        self.client.close()
        self.agent.close()
        self.agent = qalib.Agent(f"--confine-mounts={self.dir}", "--fsfreeze-timeout=1")
        self.client = c = self.agent.client()
        c.ok("guest-fsfreeze-freeze-list", {"mountpoints": [self.mp("a")]})
        deadline = time.monotonic() + qalib.TIMEOUT
        while c.ok("guest-fsfreeze-status") == "frozen":
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        report = self.report()
        self.assertEqual(report["last-thaw"]["by"], "auto-thaw")
        self.assertEqual(report["last-thaw"]["mountpoints"], [self.mp("a")])
        self.assertIn("unreported-thaw", report)
        self.assertNotIn("auto-thaw-at", report)
        self.assertIn("thawed automatically", self.error("guest-fsfreeze-thaw"))
        self.assertNotIn("unreported-thaw", self.report())

    def test_report_of_a_killed_agents_successor(self):
        c = self.client
        c.ok("guest-fsfreeze-freeze-list", {"mountpoints": [self.mp("b"), self.mp("a")]})
        serial = self.report()["last-freeze"]["serial"]
        c.close()
        self.agent.stop(signal.SIGKILL)
        os.unlink(self.agent.sock)
        self.agent.start()
        self.client = c = self.agent.client()
        report = self.report()
        self.assertEqual(report["status"], "frozen")
        self.assertEqual(report["last-freeze"]["serial"], serial)
        self.assertTrue(report["last-freeze"]["success"])
        self.assertEqual(self.entry(report, "b")["frozen-by"], serial)
        self.assertEqual(c.ok("guest-fsfreeze-thaw"), 2)
        self.assertEqual(c.ok("guest-fsfreeze-freeze-list", {"mountpoints": [self.mp("a")]}), 1)
        self.assertEqual(self.report()["last-freeze"]["serial"], serial + 1)
        self.assertEqual(c.ok("guest-fsfreeze-thaw"), 1)

    # in the guest: --status and --emergency-thaw -----------------------------------------

    def offline(self, option):
        return subprocess.run([qalib.AGENT, "-t", self.agent.statedir,
                               f"--confine-mounts={self.dir}", f"--fsfreeze-hook={self.hook}",
                               option], capture_output=True, text=True, timeout=60)

    def hook_log(self):
        try:
            with open(os.path.join(self.dir, "hook.log")) as f:
                return f.read().split()
        except FileNotFoundError:
            return []

    def freeze_for_the_operator(self):
        self.client.close()
        self.agent.close()
        self.agent = self.start(f"--fsfreeze-hook={self.hook}")
        self.client = c = self.agent.client()
        self.assertEqual(c.ok("guest-fsfreeze-freeze-list",
                              {"mountpoints": [self.mp("outer"), self.mp("inner"),
                                               self.mp("a")]}), 3)
        r = self.offline("--status")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("Frozen: 3 filesystems", r.stdout)
        self.assertRegex(r.stdout, rf"{self.mp('inner')} \(ext4, \d+:\d+\), frozen at \S+ "
                                   r"\(\d+ s ago\) by freeze call #1")
        self.assertIn("Auto-thaw: at ", r.stdout)
        self.assertIn("Thaw hook: owed", r.stdout)
        self.assertIn("Last freeze: call #1, guest-fsfreeze-freeze-list", r.stdout)
        return [self.writer(x) for x in ("a", "inner", "outer")]

    def emergency_thaw(self, writers):
        r = self.offline("--emergency-thaw")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("Thawed 3 filesystems.", r.stdout)
        self.assertIn("Last thaw: by operator", r.stdout)
        for w in writers:
            self.assert_completes(w)
        self.assertEqual(self.hook_log(), ["freeze", "thaw"])
        r = self.offline("--status")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("Frozen: nothing", r.stdout)

    def assert_agent_knows(self):
        c = self.client
        self.assertEqual(c.ok("guest-fsfreeze-status"), "thawed")
        report = self.report()
        self.assertEqual(report["last-thaw"]["by"], "operator")
        self.assertFalse(report["thaw-hook-owed"])
        self.assertIn("--emergency-thaw", self.error("guest-fsfreeze-thaw"))
        self.assertEqual(c.ok("guest-fsfreeze-thaw"), 0)
        # the thaw hook ran once, by the operator's thaw
        self.assertEqual(self.hook_log(), ["freeze", "thaw"])
        self.assertEqual(c.ok("guest-fsfreeze-freeze-list", {"mountpoints": [self.mp("a")]}), 1)
        self.assertEqual(c.ok("guest-fsfreeze-thaw"), 1)

    def test_emergency_thaw_with_the_agent_alive(self):
        writers = self.freeze_for_the_operator()
        r = self.offline("--status")
        self.assertRegex(r.stdout, r"Agent: pid \d+, running")
        self.emergency_thaw(writers)
        self.assert_agent_knows()

    def test_emergency_thaw_with_the_agent_hung(self):
        writers = self.freeze_for_the_operator()
        self.agent.send_signal(signal.SIGSTOP)
        try:
            # kill() returns before the agent has stopped on another CPU
            deadline = time.monotonic() + qalib.TIMEOUT
            while process_state(self.agent.proc.pid) != "T":
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.01)
            r = self.offline("--status")
            self.assertRegex(r.stdout, r"Agent: pid \d+, stopped")
            self.emergency_thaw(writers)
        finally:
            self.agent.send_signal(signal.SIGCONT)
        self.assert_agent_knows()

    def test_emergency_thaw_with_the_agent_dead(self):
        writers = self.freeze_for_the_operator()
        self.client.close()
        self.agent.stop(signal.SIGKILL)
        r = self.offline("--status")
        self.assertRegex(r.stdout, r"Agent: pid \d+, not running")
        self.emergency_thaw(writers)
        os.unlink(self.agent.sock)
        self.agent.start()
        self.client = c = self.agent.client()
        self.assertEqual(c.ok("guest-fsfreeze-status"), "thawed")
        self.assertEqual(self.report()["last-thaw"]["by"], "operator")
        self.assertEqual(c.ok("guest-fsfreeze-thaw"), 0)
        self.assertEqual(self.hook_log(), ["freeze", "thaw"])

    def test_status_of_an_empty_state_directory(self):
        r = self.offline("--status")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Frozen: nothing", r.stdout)
        r = self.offline("--emergency-thaw")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Thawed 0 filesystems.", r.stdout)
        r = subprocess.run([qalib.AGENT, "--status", "--emergency-thaw"], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 2)
        self.assertIn("one at a time", r.stderr)


if __name__ == "__main__":
    unittest.main()
