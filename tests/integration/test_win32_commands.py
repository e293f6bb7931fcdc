"""The Windows agent's command families under wine, end to end over its named pipe.

What wine implements is called for real here (adapters, time zone, the clock, sessions,
processes, files); what it lacks or what must not happen on a test machine (shutdown, suspend,
setting the clock or a password, SetupAPI driver dates) is tested against a fake in
win32/tests/test-commands-win32.c, and here only for its argument checks and error shapes.
"""

import base64
import time
import unittest

import qalib

WINDOWS_COMMANDS = {
    "guest-shutdown", "guest-suspend-disk", "guest-suspend-ram",
    "guest-get-osinfo", "guest-get-host-name", "guest-get-timezone", "guest-get-users",
    "guest-network-get-interfaces", "guest-get-time", "guest-set-time",
}
LINUX_ONLY = {"guest-suspend-hybrid", "guest-network-get-route", "guest-set-vcpus",
              "guest-get-memory-blocks", "guest-set-memory-blocks",
              "guest-get-memory-block-info", "guest-get-cpustats", "guest-get-diskstats",
              "guest-fsfreeze-get-report"}


@unittest.skipUnless(qalib.IS_WINE, "the Windows agent under wine")
class CommandsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.agent = qalib.Agent()

    @classmethod
    def tearDownClass(cls):
        cls.agent.__exit__(None, None, None)

    def setUp(self):
        self.client = self.agent.client()

    def tearDown(self):
        self.client.close()

    def error(self, command, arguments=None):
        r = self.client.execute(command, arguments)
        self.assertIn("error", r, f"{command} should fail: {r}")
        self.assertEqual(r["error"]["class"], "GenericError")
        return r["error"]["desc"]

    def test_info_lists_what_windows_has(self):
        listed = {c["name"] for c in self.client.ok("guest-info")["supported_commands"]}
        self.assertLessEqual(WINDOWS_COMMANDS, listed)
        self.assertFalse(LINUX_ONLY & listed, LINUX_ONLY & listed)

    def test_osinfo(self):
        info = self.client.ok("guest-get-osinfo")
        self.assertEqual(info["id"], "mswindows")
        self.assertEqual(info["name"], "Microsoft Windows")
        self.assertIn(info["variant"], ("server", "client"))
        self.assertEqual(info["variant-id"], info["variant"])
        self.assertRegex(info["kernel-version"], r"^\d+\.\d+$")
        self.assertRegex(info["kernel-release"], r"^\d+$")
        self.assertEqual(info["machine"], "x86_64")
        self.assertTrue(info["pretty-name"])
        self.assertTrue(info["version"].startswith("Microsoft Windows") or
                        info["version"] == "N/A")

    def test_host_name(self):
        name = self.client.ok("guest-get-host-name")["host-name"]
        self.assertTrue(name)

    def test_timezone(self):
        tz = self.client.ok("guest-get-timezone")
        self.assertIsInstance(tz["offset"], int)
        self.assertEqual(tz["offset"] % 60, 0)

    def test_users(self):
        users = self.client.ok("guest-get-users")
        self.assertIsInstance(users, list)
        for user in users:
            self.assertIsInstance(user["user"], str)
            self.assertIsInstance(user["login-time"], float)

    def test_get_time(self):
        before = time.time_ns()
        got = self.client.ok("guest-get-time")
        after = time.time_ns()
        # wine's clock is the host's: same second, give or take the round trip
        self.assertLess(abs(got - (before + after) // 2), 5 * 10**9)

    def test_set_time_refuses_bad_times(self):
        self.assertIn("is invalid", self.error("guest-set-time", {"time": -1}))
        self.assertIn("integer", self.error("guest-set-time", {"time": "now"}))

    def test_network_interfaces(self):
        adapters = self.client.ok("guest-network-get-interfaces")
        self.assertTrue(adapters, "wine has at least a loopback adapter")
        for adapter in adapters:
            self.assertIsInstance(adapter["name"], str)
            if "hardware-address" in adapter:
                self.assertRegex(adapter["hardware-address"], r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")
            for ip in adapter.get("ip-addresses", []):
                self.assertIn(ip["ip-address-type"], ("ipv4", "ipv6"))
                self.assertGreaterEqual(ip["prefix"], 0)
                self.assertLessEqual(ip["prefix"], 128)
            if "statistics" in adapter:
                for key in ("rx-bytes", "rx-packets", "rx-errs", "rx-dropped",
                            "tx-bytes", "tx-packets", "tx-errs", "tx-dropped"):
                    self.assertGreaterEqual(adapter["statistics"][key], 0)
        addresses = {ip["ip-address"] for a in adapters for ip in a.get("ip-addresses", [])}
        self.assertIn("127.0.0.1", addresses)

    def test_shutdown_bad_mode(self):
        self.assertEqual(self.error("guest-shutdown", {"mode": "sleep"}),
                         "Mode 'sleep' is invalid; valid values are: halt, powerdown, reboot")


if __name__ == "__main__":
    unittest.main()
