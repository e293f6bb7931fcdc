"""The Windows agent's command families under wine, end to end over its named pipe.

What wine implements is called for real here (adapters, time zone, the clock, sessions,
processes, files); what it lacks or what must not happen on a test machine (shutdown, suspend,
setting the clock or a password, SetupAPI driver dates) is tested against a fake in
win32/tests/test-commands-win32.c, and here only for its argument checks and error shapes.
"""

import base64
import getpass
import time
import unittest

import qalib

WINDOWS_COMMANDS = {
    "guest-shutdown", "guest-suspend-disk", "guest-suspend-ram",
    "guest-get-osinfo", "guest-get-host-name", "guest-get-timezone", "guest-get-users",
    "guest-network-get-interfaces", "guest-get-time", "guest-set-time",
    "guest-file-open", "guest-file-close", "guest-file-read", "guest-file-write",
    "guest-file-seek", "guest-file-flush", "guest-exec", "guest-exec-status",
    "guest-set-user-password", "guest-get-vcpus", "guest-get-devices", "guest-get-load",
    "guest-ssh-get-authorized-keys", "guest-ssh-add-authorized-keys",
    "guest-ssh-remove-authorized-keys",
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

    def test_load(self):
        # wine has no "\System\Processor Queue Length" counter: the clear refusal; a Windows
        # that has it answers three non-negative averages (win32/tests: the damping, on a fake)
        r = self.client.execute("guest-get-load")
        if "error" in r:
            self.assertEqual(r["error"]["class"], "GenericError")
            self.assertIn("'\\System\\Processor Queue Length'", r["error"]["desc"])
            self.assertIn("PdhAddEnglishCounterW failed with 0x", r["error"]["desc"])
        else:
            for key in ("load1m", "load5m", "load15m"):
                self.assertGreaterEqual(r["return"][key], 0.0)

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


    # ---- guest-file-* ----------------------------------------------------------------------

    def windows_temp(self, name):
        """A path in wine's C:\\windows\\temp, fresh for this test."""
        return "C:\\windows\\temp\\" + f"qa-{name}-{time.monotonic_ns()}"

    def test_file_write_then_read_back(self):
        path = self.windows_temp("rw")
        data = b"line one\r\nline two\n\x00\xff\x1a binary"
        h = self.client.ok("guest-file-open", {"path": path, "mode": "w+"})
        self.assertGreaterEqual(h, 1000)
        w = self.client.ok("guest-file-write",
                           {"handle": h, "buf-b64": base64.b64encode(data).decode()})
        self.assertEqual(w, {"count": len(data), "eof": False})
        self.client.ok("guest-file-flush", {"handle": h})
        self.assertEqual(self.client.ok("guest-file-seek",
                                        {"handle": h, "offset": 0, "whence": "set"}),
                         {"position": 0, "eof": False})
        r = self.client.ok("guest-file-read", {"handle": h, "count": 4096})
        # binary mode: no CRLF translation, ^Z is a byte like any other
        self.assertEqual(base64.b64decode(r["buf-b64"]), data)
        self.assertEqual(r["count"], len(data))
        r = self.client.ok("guest-file-read", {"handle": h})
        self.assertEqual((r["count"], r["eof"]), (0, True))
        self.assertEqual(self.client.ok("guest-file-seek",
                                        {"handle": h, "offset": -3, "whence": 2})["position"],
                         len(data) - 3)
        self.client.ok("guest-file-close", {"handle": h})
        self.assertIn("handle", self.error("guest-file-read", {"handle": h}))

    def test_file_append_and_unicode_name(self):
        path = self.windows_temp("ap") + "-été.txt"
        for chunk in (b"a", b"b"):
            h = self.client.ok("guest-file-open", {"path": path, "mode": "a"})
            self.client.ok("guest-file-write",
                           {"handle": h, "buf-b64": base64.b64encode(chunk).decode()})
            self.client.ok("guest-file-close", {"handle": h})
        h = self.client.ok("guest-file-open", {"path": path})
        r = self.client.ok("guest-file-read", {"handle": h})
        self.client.ok("guest-file-close", {"handle": h})
        self.assertEqual(base64.b64decode(r["buf-b64"]), b"ab")

    def test_file_errors(self):
        self.assertIn("No such file", self.error("guest-file-open",
                                                  {"path": self.windows_temp("none")}))
        self.assertIn("not absolute", self.error("guest-file-open", {"path": "relative.txt"}))
        self.assertIn("not absolute", self.error("guest-file-open", {"path": "\\x.txt"}))
        self.assertIn("invalid file open mode", self.error("guest-file-open",
                                          {"path": self.windows_temp("m"), "mode": "rw"}))
        path = self.windows_temp("ro")
        h = self.client.ok("guest-file-open", {"path": path, "mode": "w"})
        self.client.ok("guest-file-close", {"handle": h})
        h = self.client.ok("guest-file-open", {"path": path, "mode": "r"})
        self.error("guest-file-write", {"handle": h, "buf-b64": "YQ=="})
        self.error("guest-file-read", {"handle": h, "count": -1})
        self.error("guest-file-seek", {"handle": h, "offset": 0, "whence": 7})
        self.client.ok("guest-file-close", {"handle": h})
        self.error("guest-file-close", {"handle": h})


    # ---- guest-exec ------------------------------------------------------------------------

    def wait_exec(self, pid):
        deadline = time.monotonic() + qalib.TIMEOUT
        while time.monotonic() < deadline:
            status = self.client.ok("guest-exec-status", {"pid": pid})
            if status["exited"]:
                return status
            self.assertEqual(status, {"exited": False})
            time.sleep(0.1)
        self.fail(f"process {pid} did not end")

    def test_exec_captures_output_and_exit_code(self):
        pid = self.client.ok("guest-exec", {
            "path": "cmd.exe", "arg": ["/c", "echo hello& echo oops 1>&2& exit 3"],
            "capture-output": True})["pid"]
        self.assertIsInstance(pid, int)
        status = self.wait_exec(pid)
        self.assertEqual(status["exitcode"], 3)
        self.assertNotIn("signal", status)
        self.assertEqual(base64.b64decode(status["out-data"]).strip(), b"hello")
        self.assertEqual(base64.b64decode(status["err-data"]).strip(), b"oops")
        self.assertEqual((status["out-truncated"], status["err-truncated"]), (False, False))
        self.assertIn("pid", self.error("guest-exec-status", {"pid": pid}))

    def test_exec_merged_and_no_capture(self):
        pid = self.client.ok("guest-exec", {
            "path": "cmd.exe", "arg": ["/c", "echo a& echo b 1>&2"],
            "capture-output": "merged"})["pid"]
        status = self.wait_exec(pid)
        self.assertEqual(base64.b64decode(status["out-data"]).split(), [b"a", b"b"])
        self.assertNotIn("err-data", status)
        pid = self.client.ok("guest-exec", {"path": "cmd.exe", "arg": ["/c", "echo x"]})["pid"]
        status = self.wait_exec(pid)
        self.assertEqual(status, {"exited": True, "exitcode": 0})

    def test_exec_input_and_environment(self):
        text = b"one\r\ntwo\r\n"
        pid = self.client.ok("guest-exec", {
            "path": "C:\\windows\\system32\\cmd.exe",
            "arg": ["/c", "more & echo %QA_TEST_VALUE%"],
            "env": ["QA_TEST_VALUE=a b \"c\"", "SystemRoot=C:\\windows"],
            "input-data": base64.b64encode(text).decode(), "capture-output": True})["pid"]
        status = self.wait_exec(pid)
        out = base64.b64decode(status["out-data"])
        self.assertIn(b"two", out)
        self.assertIn(b'a b "c"', out)

    def test_exec_errors(self):
        self.assertIn("Cannot run", self.error("guest-exec", {"path": "no-such-program.exe"}))
        self.assertIn("input-data", self.error("guest-exec", {"path": "cmd.exe",
                                                              "input-data": "%%%"}))
        self.assertIn("NAME=VALUE", self.error("guest-exec", {"path": "cmd.exe",
                                                              "env": ["novalue"]}))
        self.error("guest-exec-status", {"pid": 999999})


    # ---- accounts, vCPUs -------------------------------------------------------------------

    def test_set_user_password_refusals(self):
        # the success path changes a real account: tested against the fake only
        self.assertEqual(self.error("guest-set-user-password",
                                    {"username": "Administrator", "password": "YQ==",
                                     "crypted": True}),
                         "'crypted' must be off on this host")
        self.assertIn("base64", self.error("guest-set-user-password",
                                           {"username": "Administrator", "password": "%%",
                                            "crypted": False}))
        self.assertIn("user name", self.error("guest-set-user-password",
                                              {"username": "", "password": "YQ==",
                                               "crypted": False}).lower())

    def test_vcpus(self):
        cpus = self.client.ok("guest-get-vcpus")
        self.assertTrue(cpus)
        self.assertEqual([c["logical-id"] for c in cpus], list(range(len(cpus))))
        for cpu in cpus:
            self.assertEqual((cpu["online"], cpu["can-offline"]), (True, False))

    # ---- SSH keys (the fake in win32/tests covers the DACLs and a user's own file) ---------

    K1 = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILEehauZVh2h6snr8MahYnx7Dtfufq0tVrhz/dRWSJuU "
          "k1@test")
    K2 = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAID5GBOrkn4L0GVnLIekJXkLe5Ut+9BXtZ/ey7r7QR+rS "
          "k2@test")

    def test_ssh_keys_round_trip(self):
        # wine's user is in Administrators: the shared administrators_authorized_keys in the
        # test's own wine prefix, with the real lookup, ProgramData and DACL calls
        user = getpass.getuser()
        self.client.ok("guest-ssh-add-authorized-keys",
                       {"username": user, "keys": [self.K1, self.K2, ""], "reset": True})
        keys = self.client.ok("guest-ssh-get-authorized-keys", {"username": user})["keys"]
        self.assertEqual(keys, [self.K1, self.K2])
        self.client.ok("guest-ssh-add-authorized-keys", {"username": user, "keys": [self.K1]})
        self.client.ok("guest-ssh-remove-authorized-keys", {"username": user, "keys": [self.K1]})
        keys = self.client.ok("guest-ssh-get-authorized-keys", {"username": user})["keys"]
        self.assertEqual(keys, [self.K2])
        self.client.ok("guest-ssh-remove-authorized-keys", {"username": user, "keys": [self.K2]})

    def test_ssh_keys_refusals(self):
        # the texts of the Linux commands (tests/integration/test_accounts.py)
        user = getpass.getuser()
        self.assertEqual(self.error("guest-ssh-get-authorized-keys",
                                    {"username": "qa-no-such-user-4711"}),
                         "The user 'qa-no-such-user-4711' does not exist")
        self.assertIn("does not exist", self.error("guest-ssh-add-authorized-keys",
                                                   {"username": "qa-no-such-user-4711",
                                                    "keys": [self.K1]}))
        self.assertIn("Invalid OpenSSH public key",
                      self.error("guest-ssh-add-authorized-keys",
                                 {"username": user, "keys": [self.K1, "a\nb"]}))
        self.assertIn("Invalid OpenSSH public key",
                      self.error("guest-ssh-remove-authorized-keys",
                                 {"username": user, "keys": ["# comment"]}))
        self.assertIn("':'", self.error("guest-ssh-get-authorized-keys", {"username": "a:b"}))
        self.assertIn("keys", self.error("guest-ssh-add-authorized-keys", {"username": user}))

    def test_devices_well_formed(self):
        # wine has no virtio devices and no driver store: a list, whatever it holds
        for device in self.client.ok("guest-get-devices"):
            self.assertIsInstance(device["driver-name"], str)
            self.assertIn(device["id"]["vendor-id"], (0x1af4, 0x1b36))


if __name__ == "__main__":
    unittest.main()
