"""guest-shutdown and guest-suspend-* over the socket, on the machine the tests run on.

That machine must stay up: no request here could power it off or put it to sleep. guest-shutdown
is sent only with modes that are not valid (never without a mode, never with null, which means
the default), and a suspend command only when this machine's kernel cannot do it by the same
rules the agent applies (each test checks that first and skips otherwise). What only a guest
can show (the power-off itself, the refusal while frozen, systemd's and pm-utils' paths, the
kernel's files) is tested in the QEMU guest.
"""

import os
import re
import unittest

import qalib

# the modes guest-shutdown accepts: none of them may ever be sent here
VALID_MODES = ("powerdown", "halt", "reboot")


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def kernel_offers():
    """What this machine's kernel offers, read as system/power.c reads it."""
    state = (read("/sys/power/state") or "").split()
    disk = read("/sys/power/disk") or ""
    modes = [m.strip("[]") for m in disk.split()]
    swaps = [line for line in (read("/proc/swaps") or "").splitlines()[1:] if line.strip()]
    hibernate = "disk" in state and bool(swaps)
    return {
        "guest-suspend-ram": "mem" in state,
        "guest-suspend-disk": hibernate,
        "guest-suspend-hybrid": hibernate and "suspend" in modes,
    }


OFFERS = kernel_offers()


def refused_here(command):
    return unittest.skipIf(OFFERS[command],
                           f"this machine's kernel could {command}: never sent here")


class PowerTest(unittest.TestCase):
    def setUp(self):
        # confined to an empty directory: nothing here may touch a real filesystem
        self.agent = qalib.Agent("--confine-mounts", "/nonexistent-confinement")
        self.client = self.agent.client()

    def tearDown(self):
        self.client.close()
        self.agent.__exit__(None, None, None)

    def error(self, command, arguments=None):
        if command == "guest-shutdown":
            # the guard of this file: a valid mode or the default never leaves it
            self.assertIsInstance(arguments, dict)
            self.assertIn("mode", arguments)
            self.assertNotIn(arguments["mode"], VALID_MODES + (None,))
        r = self.client.execute(command, arguments)
        self.assertIn("error", r, f"{command} {arguments} should fail: {r}")
        self.assertEqual(r["error"]["class"], "GenericError", r)
        self.assertEqual(set(r), {"error"}, r)
        return r["error"]["desc"]

    def assert_alive(self):
        self.assertEqual(self.client.execute("guest-ping"), {"return": {}})

    def test_invalid_modes_are_refused_naming_the_valid_ones(self):
        for mode in ("", "foo", "Reboot", "POWERDOWN", "poweroff", "reboot ", " halt", "halt\n",
                     "reboot;halt", "r\u00e9boot", "x" * 65536):
            with self.subTest(mode=mode[:20]):
                desc = self.error("guest-shutdown", {"mode": mode})
                self.assertIn("is invalid", desc)
                self.assertIn("halt, powerdown, reboot", desc)
        self.assert_alive()

    def test_invalid_mode_is_quoted(self):
        desc = self.error("guest-shutdown", {"mode": "sleepy"})
        self.assertIn("'sleepy'", desc)

    def test_mode_of_the_wrong_type(self):
        for mode in (1, 0, True, False, ["reboot"], {"mode": "reboot"}, 1.5):
            with self.subTest(mode=mode):
                desc = self.error("guest-shutdown", {"mode": mode})
                self.assertIn("mode", desc)
        self.assert_alive()

    def test_unknown_argument(self):
        desc = self.error("guest-shutdown", {"mode": "nope", "force": True})
        self.assertIn("force", desc)
        desc = self.error("guest-shutdown", {"mode": "nope", "delay": 0})
        self.assertIn("delay", desc)

    def test_suspend_takes_no_argument(self):
        for command in sorted(OFFERS):
            if OFFERS[command]:
                continue
            with self.subTest(command=command):
                desc = self.error(command, {"mode": "ram"})
                self.assertIn("'mode'", desc)
        self.assert_alive()

    @refused_here("guest-suspend-ram")
    def test_suspend_ram_refused(self):
        desc = self.error("guest-suspend-ram")
        self.assertIn("cannot suspend to RAM", desc)
        self.assertRegex(desc, r"'mem' is not among|Cannot read")

    @refused_here("guest-suspend-disk")
    def test_suspend_disk_refused(self):
        desc = self.error("guest-suspend-disk")
        self.assertIn("suspend to disk", desc)
        self.assertRegex(desc, r"'disk' is not among|lists none|Cannot read")

    @refused_here("guest-suspend-hybrid")
    def test_suspend_hybrid_refused(self):
        desc = self.error("guest-suspend-hybrid")
        self.assertIn("suspend to disk and RAM (hybrid)", desc)
        self.assertRegex(desc, r"'disk' is not among|lists none|'suspend' is not among"
                         r"|Cannot read")

    def test_info_lists_them_without_a_success_response(self):
        info = self.client.ok("guest-info")
        listed = {c["name"]: c for c in info["supported_commands"]}
        for name in ("guest-shutdown", "guest-suspend-disk", "guest-suspend-ram",
                     "guest-suspend-hybrid"):
            with self.subTest(name=name):
                self.assertTrue(listed[name]["enabled"])
                self.assertFalse(listed[name]["success-response"])

    def test_each_refusal_is_replied_in_order(self):
        """Only success is silent: every refusal gets its reply, in request order within the
        system lane these commands share."""
        self.client.send('{"execute":"guest-shutdown","arguments":{"mode":"bad1"},"id":1}'
                         '{"execute":"guest-shutdown","arguments":{"mode":"bad2"},"id":2}')
        first = self.client.reply()
        second = self.client.reply()
        self.assertEqual(first.get("id"), 1, first)
        self.assertIn("'bad1'", first["error"]["desc"])
        self.assertEqual(second.get("id"), 2, second)
        self.assertIn("'bad2'", second["error"]["desc"])


@qalib.needs_root
class FrozenTest(unittest.TestCase):
    """A suspend is refused while the agent holds a filesystem frozen, before the kernel is
    even asked. Only commands this machine cannot do are sent, so that the test is harmless
    even if the frozen check were broken."""

    def setUp(self):
        self.mounts = qalib.LoopMounts()
        self.mp = self.mounts.add("ext4")
        self.agent = qalib.Agent(f"--confine-mounts={self.mounts.root}",
                                 "--fsfreeze-timeout=60")
        self.client = self.agent.client()

    def tearDown(self):
        try:
            self.client.execute("guest-fsfreeze-thaw")
            self.client.close()
            self.agent.__exit__(None, None, None)
        finally:
            self.mounts.close()

    def test_suspend_refused_while_frozen(self):
        commands = [c for c in sorted(OFFERS) if not OFFERS[c]]
        if not commands:
            self.skipTest("this machine's kernel could suspend: never sent here")
        self.assertEqual(self.client.ok("guest-fsfreeze-freeze"), 1)
        for command in commands:
            with self.subTest(command=command):
                r = self.client.execute(command)
                self.assertEqual(r.get("error", {}).get("class"), "GenericError", r)
                desc = r["error"]["desc"]
                self.assertIn("frozen", desc)
                self.assertIn("guest-fsfreeze-thaw", desc)
                self.assertTrue(re.search(r"^Cannot suspend to ", desc), desc)
        self.assertEqual(self.client.ok("guest-fsfreeze-status"), "frozen")
        self.assertEqual(self.client.ok("guest-fsfreeze-thaw"), 1)
        # thawed, the same command is refused for the kernel's reason instead
        r = self.client.execute(commands[0])
        self.assertNotIn("frozen", r["error"]["desc"])


if __name__ == "__main__":
    unittest.main()
