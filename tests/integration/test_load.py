"""Load: many requests on one connection, many connections one after another. After a warm-up
(GLib and the allocator reach their working set), neither the agent's resident memory nor its
open file descriptors may grow."""

import json
import os
import socket
import time
import unittest

import qalib

VALGRIND = bool(qalib.WRAPPER)
with open(qalib.AGENT, "rb") as f:
    ASAN = b"__asan_init" in f.read()
# ASan's quarantine and valgrind's own heap make RSS meaningless there; LeakSanitizer and
# memcheck check for leaks in those runs instead
CHECK_RSS = not VALGRIND and not ASAN
N_REQUESTS = 5_000 if VALGRIND else 100_000
N_CONNECTIONS = 100 if VALGRIND else 1_000
# allocator noise allowed between two measurements of a steady state
RSS_SLACK_KB = 512
AGENT_ENV = {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=16"}


class LoadTest(unittest.TestCase):
    def setUp(self):
        self.agent = qalib.Agent("--confine-mounts", "/nonexistent-confinement", env=AGENT_ENV)

    def tearDown(self):
        self.agent.__exit__(None, None, None)

    def snapshot(self):
        return self.agent.status()["VmRSS"], sorted(self.agent.fds().values())

    def idle_snapshot(self):
        """once the agent has seen the last client go: only its listening socket is left"""
        deadline = time.monotonic() + qalib.TIMEOUT
        while time.monotonic() < deadline:
            rss, fds = self.snapshot()
            if sum(1 for f in fds if f.startswith("socket:")) == 1:
                return rss, fds
            time.sleep(0.02)
        self.fail(f"the agent still holds a client connection: {fds}")

    def assert_no_growth(self, before, after, what):
        rss_before, fds_before = before
        rss_after, fds_after = after
        print(f"{what}: VmRSS {rss_before} -> {rss_after} kB, {len(fds_after)} fds")
        self.assertEqual(fds_after, fds_before, f"file descriptors changed after {what}")
        if CHECK_RSS:
            self.assertLess(rss_after - rss_before, RSS_SLACK_KB, f"memory grew after {what}")

    def batch(self, client, first, n):
        """n requests of different kinds in one write, then all their replies."""
        reqs = []
        for i in range(first, first + n):
            kind = i % 4
            if kind == 0:
                reqs.append({"execute": "guest-sync", "arguments": {"id": i}})
            elif kind == 1:
                reqs.append({"execute": "guest-ping", "id": i})
            elif kind == 2:
                reqs.append({"execute": "guest-info", "id": i})
            else:
                reqs.append({"execute": "guest-no-such", "id": i})
        client.send("".join(json.dumps(r) for r in reqs))
        for i in range(first, first + n):
            r = client.reply()
            if i % 4 == 0:
                self.assertEqual(r, {"return": i})
            else:
                self.assertEqual(r["id"], i)

    def test_100k_requests_on_one_connection(self):
        c = self.agent.client()
        start = time.monotonic()
        self.batch(c, 0, 2_000)  # warm-up
        before = self.snapshot()
        for first in range(2_000, N_REQUESTS, 1_000):
            self.batch(c, first, 1_000)
        self.assertEqual(c.execute("guest-ping"), {"return": {}})
        self.assert_no_growth(before, self.snapshot(), f"{N_REQUESTS} requests")
        print(f"{N_REQUESTS} requests: {time.monotonic() - start:.1f} s")
        c.close()

    def cycle(self, i):
        """connect, one request, disconnect; every fourth leaves a partial request behind and
        every fourth closes with replies unread"""
        c = qalib.Client(self.agent.sock)
        if i % 4 == 1:
            c.send(b'{"execute":"guest-sync","argum')
        elif i % 4 == 2:
            c.send(b'{"execute":"guest-info"}' * 20)
        else:
            self.assertEqual(c.execute("guest-sync", {"id": i}), {"return": i})
        if i % 4 == 3:
            c.sock.shutdown(socket.SHUT_WR)
        c.close()

    def test_1000_connect_disconnect_cycles(self):
        start = time.monotonic()
        for i in range(100):  # warm-up
            self.cycle(i)
        c = self.agent.client()
        self.assertEqual(c.execute("guest-sync", {"id": 1}), {"return": 1})
        c.close()
        before = self.idle_snapshot()
        for i in range(N_CONNECTIONS):
            self.cycle(i)
        c = self.agent.client()
        # the agent is ready for the next host, with no reply of an earlier one pending
        self.assertEqual(c.execute("guest-sync", {"id": 2}), {"return": 2})
        c.close()
        self.assert_no_growth(before, self.idle_snapshot(), f"{N_CONNECTIONS} connections")
        print(f"{N_CONNECTIONS} connections: {time.monotonic() - start:.1f} s")


if __name__ == "__main__":
    unittest.main(verbosity=2)
