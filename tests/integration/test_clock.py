"""guest-get-time and guest-set-time over the socket, on the machine the tests run on.

That machine's clock must never change: guest-set-time is sent only with times the agent must
refuse before it touches anything, and chosen so that the kernel itself would refuse them too
(negative, or past what clock_settime accepts), so that even a broken check changes nothing.
It is never sent without a time (that reads the hardware clock into the system clock), with
null (the same), or with a time of another type. Setting the clocks is tested in the QEMU
guest.
"""

import time
import unittest

import qalib

NS = 10**9
# the first time refused: 2070-01-01T00:00:00Z (qemu-ga accepts the years 1970 to 2069)
END_NS = 3155760000 * NS
# generous: only correctness is checked, not how fast the agent answers
SLACK_NS = 60 * NS
# times the agent refuses; clock_settime refuses them too (before 1970, or past 2232)
REFUSED = (-1, -NS, -(2**63), 2**63 - 1, 9 * 10**18)


class ClockTest(unittest.TestCase):
    def setUp(self):
        self.agent = qalib.Agent("--confine-mounts", "/nonexistent-confinement")
        self.client = self.agent.client()

    def tearDown(self):
        self.client.close()
        self.agent.__exit__(None, None, None)

    def set_time_error(self, arguments):
        # the guard of this file: only a time that can never be set leaves it
        self.assertIsInstance(arguments, dict)
        self.assertIn(arguments.get("time"), REFUSED)
        r = self.client.execute("guest-set-time", arguments)
        self.assertEqual(r.get("error", {}).get("class"), "GenericError", r)
        self.assertEqual(set(r), {"error"}, r)
        return r["error"]["desc"]

    def assert_clock_unchanged(self):
        got = self.client.ok("guest-get-time")
        self.assertLess(abs(got - time.time_ns()), SLACK_NS)

    def test_get_time(self):
        before = time.time_ns()
        got = self.client.ok("guest-get-time")
        after = time.time_ns()
        self.assertIsInstance(got, int)
        self.assertGreater(got, 0)
        self.assertLess(got, END_NS)
        self.assertGreater(got, before - SLACK_NS)
        self.assertLess(got, after + SLACK_NS)

    def test_get_time_has_nanoseconds(self):
        """CLOCK_REALTIME in ns: not every reading is a whole microsecond."""
        readings = [self.client.ok("guest-get-time") for _ in range(20)]
        self.assertTrue(any(r % 1000 != 0 for r in readings), readings)

    def test_get_time_takes_no_argument(self):
        r = self.client.execute("guest-get-time", {"time": 0})
        self.assertEqual(r.get("error", {}).get("class"), "GenericError", r)
        self.assertIn("'time'", r["error"]["desc"])

    def test_set_time_out_of_range_refused(self):
        for ns in REFUSED:
            with self.subTest(time=ns):
                desc = self.set_time_error({"time": ns})
                self.assertTrue(desc.startswith("Invalid time "), desc)
                self.assertIn(str(ns), desc)
                self.assertIn(str(END_NS - 1), desc)
        self.assert_clock_unchanged()

    def test_set_time_unknown_argument(self):
        desc = self.set_time_error({"time": -1, "utc": True})
        self.assertIn("'utc'", desc)
        self.assert_clock_unchanged()

    def test_info_lists_both(self):
        info = self.client.ok("guest-info")
        listed = {c["name"]: c for c in info["supported_commands"]}
        for name in ("guest-get-time", "guest-set-time"):
            with self.subTest(name=name):
                self.assertTrue(listed[name]["enabled"])
                self.assertTrue(listed[name]["success-response"])


if __name__ == "__main__":
    unittest.main()
