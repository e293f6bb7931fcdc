"""guest-get-fsinfo and guest-get-disks on real loop-mounted filesystems this test creates."""

import os
import shutil
import subprocess
import tempfile
import unittest

import qalib


def statvfs_sizes(path):
    st = os.statvfs(path)
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    return {"used-bytes": used, "total-bytes": used + st.f_bavail * st.f_frsize,
            "total-bytes-privileged": st.f_blocks * st.f_frsize}


@qalib.needs_root
class FsinfoTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mounts = qalib.LoopMounts()
        try:
            cls.ext4 = cls.mounts.add("ext4", "ext4 with space é")
            cls.xfs = cls.mounts.add("xfs")
            cls.btrfs = cls.mounts.add("btrfs")
            os.makedirs(os.path.join(cls.ext4, "sub"))
            cls.bind = cls.mounts.bind(os.path.join(cls.ext4, "sub"), "bind")
            cls.agent = qalib.Agent("--confine-mounts", cls.mounts.root)
        except Exception:
            cls.mounts.close()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.agent.__exit__(None, None, None)
        finally:
            cls.mounts.close()

    def setUp(self):
        self.client = self.agent.client()

    def tearDown(self):
        self.client.close()

    def fsinfo(self):
        return {fs["mountpoint"]: fs for fs in self.client.ok("guest-get-fsinfo")}

    def test_lists_exactly_the_confined_mounts_in_reverse_mount_order(self):
        listed = [fs["mountpoint"] for fs in self.client.ok("guest-get-fsinfo")]
        self.assertEqual(listed, list(reversed(self.mounts.mountpoints)))

    def test_types_names_and_sizes(self):
        info = self.fsinfo()
        for mp, fstype in ((self.ext4, "ext4"), (self.xfs, "xfs"), (self.btrfs, "btrfs"),
                           (self.bind, "ext4")):
            fs = info[mp]
            self.assertEqual(fs["type"], fstype)
            self.assertRegex(fs["name"], r"^loop\d+$")
            for key, value in statvfs_sizes(mp).items():
                self.assertEqual(fs[key], value, (mp, key))

    def test_every_entry_has_what_libvirt_requires(self):
        for fs in self.client.ok("guest-get-fsinfo"):
            for key in ("name", "mountpoint", "type", "disk"):
                self.assertIn(key, fs)
            for disk in fs["disk"]:
                for key in ("bus", "target", "unit", "bus-type"):
                    self.assertIn(key, disk)
                self.assertEqual(set(disk["pci-controller"]),
                                 {"domain", "bus", "slot", "function"})

    def test_loop_resolves_to_the_disks_of_the_backing_filesystem(self):
        """The images live on the host's own filesystem: their disks are that filesystem's."""
        info = self.fsinfo()
        ext4_disks = info[self.ext4]["disk"]
        self.assertTrue(ext4_disks, "a loop mount must report the disks its image lives on")
        for mp in (self.xfs, self.btrfs):
            self.assertEqual(info[mp]["disk"], ext4_disks)

    def test_bind_mount_has_the_same_disks(self):
        info = self.fsinfo()
        self.assertEqual(info[self.bind]["name"], info[self.ext4]["name"])
        self.assertEqual(info[self.bind]["disk"], info[self.ext4]["disk"])

    def test_reply_is_ascii_and_names_round_trip(self):
        self.client.send('{"execute":"guest-get-fsinfo"}')
        line = self.client.read_line()
        self.assertTrue(all(b < 0x80 for b in line))
        self.assertIn(b"ext4 with space \\u00e9", line)

    def test_answers_while_a_filesystem_is_frozen(self):
        subprocess.run(["fsfreeze", "--freeze", self.xfs], check=True)
        try:
            info = self.fsinfo()
            self.assertIn(self.xfs, info)
            self.assertTrue(self.client.ok("guest-get-disks"))
        finally:
            subprocess.run(["fsfreeze", "--unfreeze", self.xfs], check=True)

    def test_get_disks_lists_the_loop_devices(self):
        disks = {d["name"]: d for d in self.client.ok("guest-get-disks")}
        for fs in self.client.ok("guest-get-fsinfo"):
            self.assertIn("/dev/" + fs["name"], disks)
            self.assertFalse(disks["/dev/" + fs["name"]]["partition"])


@qalib.needs_root
class FsinfoChangesTest(unittest.TestCase):
    """The agent keeps the mount table between requests: each reply must still be current."""

    def setUp(self):
        self.mounts = qalib.LoopMounts()
        try:
            self.a = self.mounts.add("ext4", "a")
            self.b = self.mounts.add("ext4", "b", size_mb=96)
            self.agent = qalib.Agent("--confine-mounts", self.mounts.root)
        except Exception:
            self.mounts.close()
            raise
        self.client = self.agent.client()

    def tearDown(self):
        try:
            self.client.close()
            self.agent.__exit__(None, None, None)
        finally:
            self.mounts.close()

    def entries(self, mountpoint):
        return [fs for fs in self.client.ok("guest-get-fsinfo") if fs["mountpoint"] == mountpoint]

    def umount(self, mountpoint):
        subprocess.run(["umount", mountpoint], check=True)
        self.mounts.mountpoints.remove(mountpoint)

    def test_sees_a_mount_made_and_one_unmounted_after_a_previous_call(self):
        later = os.path.join(self.mounts.root, "later")
        self.assertEqual(self.entries(later), [])
        self.mounts.bind(self.a, "later")
        self.assertEqual(len(self.entries(later)), 1)
        self.umount(later)
        self.assertEqual(self.entries(later), [])
        self.assertEqual(len(self.entries(self.a)), 1)

    def without_sizes(self, client):
        sized = ("used-bytes", "total-bytes", "total-bytes-privileged")
        return [{k: v for k, v in fs.items() if k not in sized}
                for fs in client.ok("guest-get-fsinfo")]

    def assert_as_fresh(self):
        """The long-lived agent, which keeps its device model between calls, answers as an
        agent that has never answered before."""
        with qalib.Agent("--confine-mounts", self.mounts.root) as fresh:
            client = fresh.client()
            try:
                self.assertEqual(self.without_sizes(self.client), self.without_sizes(client))
            finally:
                client.close()

    def loop_name(self, mountpoint):
        source = subprocess.run(["findmnt", "-n", "-o", "SOURCE", mountpoint], check=True,
                                capture_output=True, text=True).stdout.strip()
        return os.path.basename(source)

    def test_new_loop_device_mount_and_unmount_between_two_calls(self):
        """A loop device set up and mounted, detached, and another image on the loop device
        number it freed: each shows on the next call."""
        self.assertEqual(len(self.entries(self.a)), 1)
        c = self.mounts.add("ext4", "c")
        (entry,) = self.entries(c)
        self.assertEqual(entry["name"], self.loop_name(c))
        self.assertEqual(entry["disk"], self.entries(self.a)[0]["disk"])
        self.assert_as_fresh()
        subprocess.run(["umount", "-d", c], check=True)
        self.mounts.mountpoints.remove(c)
        self.assertEqual(self.entries(c), [])
        self.assert_as_fresh()
        d = self.mounts.add("ext4", "d")
        (entry,) = self.entries(d)
        self.assertEqual(entry["name"], self.loop_name(d))
        self.assert_as_fresh()

    def test_a_uevent_without_a_mount_change_keeps_replies_right(self):
        """A loop device attached and detached with nothing mounted on it (two uevents, the
        mount table unchanged), and sizes and the frozen flag read anew on every call."""
        before = self.entries(self.b)
        image = os.path.join(self.mounts.root, "spare.img")
        with open(image, "wb") as f:
            f.truncate(8 << 20)
        dev = subprocess.run(["losetup", "-f", "--show", image], check=True,
                             capture_output=True, text=True).stdout.strip()
        try:
            self.assertEqual(self.entries(self.b), before)
        finally:
            subprocess.run(["losetup", "-d", dev], check=True)
        with open(os.path.join(self.b, "grow.bin"), "wb") as f:
            f.write(b"x" * (4 << 20))
            os.fsync(f.fileno())
        (after,) = self.entries(self.b)
        self.assertEqual(after["used-bytes"], statvfs_sizes(self.b)["used-bytes"])
        self.assertGreater(after["used-bytes"], before[0]["used-bytes"])
        self.assertFalse(after.get("frozen", False))
        self.assert_as_fresh()

    @unittest.skipIf(shutil.which("btrfs") is None, "needs btrfs")
    def test_a_btrfs_device_added_between_two_calls(self):
        """`btrfs device add` sends no uevent (the kernel's counter stays where it was) and
        changes no mount, yet the mount's disks change. (Where no udev daemon runs, as on a
        build machine, the model is never kept; with udev, as in a guest, it is, and the
        epoch's btrfs hash is what sees this change: tests/unit/test-blockdev.c.)"""
        if not self.entries(self.a)[0]["disk"]:
            self.skipTest("the test's images are on no disk here")
        # the first device's image on a memory filesystem: no disk under the mount at first
        shm = tempfile.mkdtemp(dir="/dev/shm", prefix="qa-btrfs-")
        self.addCleanup(shutil.rmtree, shm, True)
        mp = self.mounts.add("btrfs", "multi", image_dir=shm)
        # the second device is set up first: setting it up is a uevent
        image = os.path.join(self.mounts.root, "second.img")
        with open(image, "wb") as f:
            f.truncate(128 << 20)
        dev = subprocess.run(["losetup", "-f", "--show", image], check=True,
                             capture_output=True, text=True).stdout.strip()
        # runs after tearDown has unmounted the filesystem
        self.addCleanup(subprocess.run, ["losetup", "-d", dev], check=False)
        subprocess.run(["udevadm", "settle"], check=False)
        (entry,) = self.entries(mp)
        self.assertEqual(entry["disk"], [])
        (entry,) = self.entries(mp)
        subprocess.run(["btrfs", "device", "add", "-f", dev, mp], check=True,
                       stdout=subprocess.DEVNULL)
        (entry,) = self.entries(mp)
        self.assertEqual(entry["disk"], self.entries(self.a)[0]["disk"])
        self.assert_as_fresh()

    def test_follows_a_directory_renamed_above_a_mountpoint(self):
        """A rename is no mount event (poll() on mountinfo does not report it), yet it changes
        the mountpoints the kernel lists."""
        os.makedirs(os.path.join(self.mounts.root, "dir"))
        old = self.mounts.bind(self.a, os.path.join("dir", "mp"))
        self.assertEqual(len(self.entries(old)), 1)
        new = os.path.join(self.mounts.root, "moved", "mp")
        os.rename(os.path.join(self.mounts.root, "dir"), os.path.join(self.mounts.root, "moved"))
        self.mounts.mountpoints[self.mounts.mountpoints.index(old)] = new
        self.assertEqual(self.entries(old), [])
        self.assertEqual(len(self.entries(new)), 1)

    def test_bind_mounts_share_sizes_and_a_hidden_mount_keeps_its_own(self):
        """Mounts of one directory share one statvfs() per request; a mount hidden under
        another reports its own filesystem's sizes, not those of what hides it."""
        binds = [self.mounts.bind(self.a, f"bind{i}") for i in range(3)]
        covered = self.mounts.bind(self.a, "covered")
        self.mounts.bind(self.b, "covered")
        with open(os.path.join(self.a, "data"), "wb") as f:
            f.write(b"x" * (4 << 20))
            os.fsync(f.fileno())
        sizes_a, sizes_b = statvfs_sizes(self.a), statvfs_sizes(self.b)
        self.assertNotEqual(sizes_a, sizes_b)
        info = {fs["mountpoint"]: fs for fs in self.client.ok("guest-get-fsinfo")}
        name_a, name_b = info[self.a]["name"], info[self.b]["name"]
        for mp in [self.a] + binds:
            self.assertEqual({k: info[mp][k] for k in sizes_a}, sizes_a, mp)
        both = {fs["name"]: fs for fs in self.entries(covered)}
        self.assertEqual(set(both), {name_a, name_b})
        self.assertEqual({k: both[name_a][k] for k in sizes_a}, sizes_a)
        self.assertEqual({k: both[name_b][k] for k in sizes_b}, sizes_b)


if __name__ == "__main__":
    unittest.main(verbosity=2)
