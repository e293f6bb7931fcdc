"""The Windows agent under wine: storage commands, freeze without VSS, the service, the .msi.

What wine can show: the replies are well formed for wine's volumes (which have no storage
stack under them, so buses are unknown), the freeze commands say clearly that VSS is missing
while everything else keeps working, and the service and the installer work with wine's
service manager and msiexec. What only a real Windows guest shows is in win32/README.md.
"""

import os
import subprocess
import time
import unittest

import qalib

SERVICE = "quiesce-agent"
BUS_TYPES = {"ide", "fdc", "scsi", "virtio", "xen", "usb", "uml", "sata", "sd", "unknown",
             "ieee1394", "ssa", "fibre", "raid", "iscsi", "sas", "mmc", "virtual",
             "file-backed-virtual", "nvme"}


def wine(*args, check=True, timeout=120):
    r = subprocess.run(["wine", *args], capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise AssertionError(f"wine {' '.join(args)} exited with {r.returncode}:\n"
                             f"{r.stdout}\n{r.stderr}")
    return r


def service_state():
    """RUNNING, STOPPED, ... or None when the service is not installed."""
    r = wine("sc", "query", SERVICE, check=False)
    for line in r.stdout.splitlines():
        if "STATE" in line:
            return line.split()[-1]
    return None


def wait_state(want, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = service_state()
        if state == want:
            return
        time.sleep(0.2)
    raise AssertionError(f"service state is {service_state()}, expected {want}")


def unix_path(windows_path):
    return subprocess.run(["winepath", "-u", windows_path], capture_output=True, text=True,
                          check=True).stdout.strip()


def assert_disk_address(test, disk):
    for key in ("pci-controller", "bus-type", "bus", "target", "unit"):
        test.assertIn(key, disk)
    test.assertIn(disk["bus-type"], BUS_TYPES)
    for key in ("domain", "bus", "slot", "function"):
        test.assertIsInstance(disk["pci-controller"][key], int)


@unittest.skipUnless(qalib.IS_WINE, "the Windows agent under wine")
class StorageTest(unittest.TestCase):
    def setUp(self):
        self.agent = qalib.Agent()
        self.client = self.agent.client()

    def tearDown(self):
        self.client.close()
        self.agent.__exit__(None, None, None)

    def test_fsinfo_lists_wine_volumes(self):
        infos = self.client.ok("guest-get-fsinfo")
        self.assertTrue(infos, "wine has at least C:")
        mountpoints = {i["mountpoint"] for i in infos}
        self.assertIn("C:\\", mountpoints)
        for info in infos:
            self.assertRegex(info["name"], r"^\\\\\?\\Volume\{.*\}\\$")
            self.assertIsInstance(info["type"], str)
            self.assertFalse(info["frozen"])
            self.assertIsInstance(info["disk"], list)
            for disk in info["disk"]:
                assert_disk_address(self, disk)
            if "total-bytes" in info:
                self.assertLessEqual(info["used-bytes"], info["total-bytes"])
        c = next(i for i in infos if i["mountpoint"] == "C:\\")
        self.assertIn("total-bytes", c)
        # wine's drives have no storage stack under them: no disk extents, so the volume is
        # its own "disk", with no controller (wine answers the storage property query itself)
        self.assertEqual(len(c["disk"]), 1, c)
        self.assertEqual(c["disk"][0]["dev"], c["name"].rstrip("\\"))
        self.assertEqual(set(c["disk"][0]["pci-controller"].values()), {-1}, c)

    def test_get_disks_is_well_formed(self):
        disks = self.client.ok("guest-get-disks")
        self.assertIsInstance(disks, list)
        for disk in disks:
            self.assertRegex(disk["name"], r"^\\\\\.\\PhysicalDrive\d+$")
            self.assertFalse(disk["partition"])
            assert_disk_address(self, disk["address"])

    def test_freeze_says_vss_is_unavailable(self):
        for command, args in (("guest-fsfreeze-freeze", None),
                              ("guest-fsfreeze-freeze-list", {"mountpoints": ["C:\\"]})):
            r = self.client.execute(command, args)
            self.assertEqual(r["error"]["class"], "GenericError", r)
            self.assertIn("VSS is not available", r["error"]["desc"])
        # nothing is frozen, and everything else keeps working
        self.assertEqual(self.client.ok("guest-fsfreeze-status"), "thawed")
        self.assertEqual(self.client.ok("guest-fsfreeze-thaw"), 0)
        self.assertTrue(self.client.ok("guest-get-fsinfo"))
        self.assertEqual(self.client.ok("guest-ping"), {})

    def test_freeze_list_of_no_volume_is_an_error(self):
        r = self.client.execute("guest-fsfreeze-freeze-list", {"mountpoints": ["Q:\\nowhere"]})
        self.assertIn("is not the mount path of a volume", r["error"]["desc"])

    def test_fstrim_is_a_clear_error(self):
        r = self.client.execute("guest-fstrim")
        self.assertIn("not supported by quiesce-agent on Windows", r["error"]["desc"])


@unittest.skipUnless(qalib.IS_WINE, "the Windows agent under wine")
class ServiceTest(unittest.TestCase):
    """One test, in order: install, start, talk, stop, uninstall (the service name is global)."""

    def setUp(self):
        if service_state() is not None:
            wine(qalib.AGENT, "-s", "uninstall", check=False)

    def test_install_start_stop_uninstall(self):
        pipe = "\\\\.\\pipe\\qa-service-test"
        log = "C:\\qa-service-test.log"
        wine(qalib.AGENT, "-s", "install", "-m", "pipe", "-p", pipe, "-l", log, "-v")
        try:
            # an auto-start service: a wine that boots now starts it itself
            self.assertIn(service_state(), ("STOPPED", "RUNNING"))
            r = wine(qalib.AGENT, "-s", "install", check=False)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("already installed", r.stderr)

            if service_state() != "RUNNING":
                wine("net", "start", SERVICE)
            wait_state("RUNNING")
            relay = subprocess.Popen(["wine", qalib.RELAY, pipe], stdout=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL)
            try:
                port = int(relay.stdout.readline())
                c = qalib.Client(("127.0.0.1", port))
                self.assertEqual(c.execute("guest-sync", {"id": 5}), {"return": 5})
                self.assertEqual(c.ok("guest-fsfreeze-status"), "thawed")
                c.close()
            finally:
                relay.kill()
                relay.wait()
                relay.stdout.close()

            wine("net", "stop", SERVICE)
            wait_state("STOPPED")
            with open(unix_path(log)) as f:
                text = f.read()
            self.assertIn("ready", text)
            self.assertIn("stop requested", text)
            self.assertIn("quiesce-agent stopped", text)
        finally:
            wine(qalib.AGENT, "-s", "uninstall", check=False)
        self.assertIsNone(service_state())
        r = wine(qalib.AGENT, "-s", "uninstall", check=False)
        self.assertNotEqual(r.returncode, 0)


@unittest.skipUnless(qalib.IS_WINE and os.environ.get("QA_MSI"), "the .msi under wine")
class MsiTest(unittest.TestCase):
    def setUp(self):
        if service_state() is not None:
            wine(qalib.AGENT, "-s", "uninstall", check=False)

    def test_install_and_uninstall(self):
        msi = os.environ["QA_MSI"]
        exe = unix_path("C:\\Program Files\\quiesce-agent\\quiesce-agent.exe")
        conf = unix_path("C:\\ProgramData\\quiesce-agent\\quiesce-agent.conf")
        wine("msiexec", "/i", msi, "/qn")
        try:
            self.assertTrue(os.path.exists(exe))
            self.assertTrue(os.path.exists(conf))
            # started on install; under wine it waits for the virtio-serial port
            wait_state("RUNNING")
            r = wine(exe, "-D")
            self.assertIn("method=virtio-serial", r.stdout)
        finally:
            wine("msiexec", "/x", msi, "/qn")
        # uninstalling a running agent stops it and removes the service
        self.assertIsNone(service_state())
        wait_agent_exited()

        # Windows Installer waits for that stop (Wait="yes") before it removes files. Wine's
        # msiexec sends the stop and goes on, so there the binary of an agent still exiting
        # stays behind, as any file in use does. That the files go is checked with the
        # agent stopped before the uninstall.
        wine("msiexec", "/i", msi, "/qn")
        try:
            wait_state("RUNNING")
            wine("net", "stop", SERVICE)
            wait_state("STOPPED")
            wait_agent_exited()
        finally:
            wine("msiexec", "/x", msi, "/qn")
        self.assertIsNone(service_state())
        self.assertFalse(os.path.exists(exe))
        self.assertFalse(os.path.exists(conf))


def wait_agent_exited():
    """Waits until no installed agent process runs (the service reports STOPPED, then exits)."""
    pattern = r"Program Files.quiesce-agent.quiesce-agent\.exe"
    deadline = time.monotonic() + qalib.TIMEOUT
    while time.monotonic() < deadline:
        if subprocess.run(["pgrep", "-f", pattern], capture_output=True).returncode != 0:
            return
        time.sleep(0.1)
    raise AssertionError("the installed agent is still running after its service stopped")


if __name__ == "__main__":
    unittest.main(verbosity=2)
