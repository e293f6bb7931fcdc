"""Hostile protocol input: whatever a host sends, the agent answers each request it could make out
with one reply, keeps its memory bounded, and answers guest-ping on the same connection afterwards.

The limits under test are documented in docs/security.md: 1 MiB per request, nesting depth 64,
65536 values per request, 1024 members per object, 1 MiB of queued replies and 1024 requests or
1 MiB of them waiting behind a running command before the agent stops taking requests; a value
over a limit is discarded to its end or to a 0xFF byte. Cases that test_protocol.py covers
already (the basic forms of each) are not repeated here.
"""

import itertools
import json
import os
import shutil
import tempfile
import threading
import time
import unittest

import qalib

MiB = 1024 * 1024


def is_asan():
    with open(qalib.AGENT, "rb") as f:
        return b"__asan_init" in f.read()


# under valgrind (QA_AGENT_WRAPPER) the agent is ~50 times slower and its RSS is valgrind's
VALGRIND = bool(qalib.WRAPPER)
# resident memory the agent may reach while under attack; it idles at about 6 MiB
RSS_BOUND_KB = 64 * 1024
# a million requests take about 15 s in an optimised build, 150 s under ASan
N_PIPELINED = 20_000 if VALGRIND else 200_000 if is_asan() else 1_000_000
BIG = 8 * MiB if VALGRIND else 100 * MiB
# ASan's quarantine holds freed memory (256 MiB by default): keep it small so RSS says something
AGENT_ENV = {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=16"}


class Peak:
    """Samples the agent's VmRSS in a thread; VmHWM (the kernel's peak) is checked as well."""

    def __init__(self, agent):
        self.agent = agent
        self.max_rss = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.done.wait(0.01):
            try:
                self.max_rss = max(self.max_rss, self.agent.status().get("VmRSS", 0))
            except (AttributeError, OSError):
                return  # the agent is gone: the test reports why

    def stop(self):
        self.done.set()
        self.thread.join()
        return max(self.max_rss, self.agent.status().get("VmHWM", 0))


def start_writer(client, data):
    """Writes @data in a thread. The writer may wait a long time for the agent to read on (that
    is the back-pressure under test), longer than the client's per-reply timeout: it writes
    through a duplicate of the socket with a timeout of its own."""
    sock = client.sock.dup()
    sock.settimeout(600)

    def write():
        try:
            sock.sendall(data)
        finally:
            sock.close()
    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    return writer


def colliding_names(n):
    """@n names that all have one hash under GLib's g_str_hash (h * 33 + c): "Aa" and "B@" add
    the same to it, so every string of k such blocks collides with every other."""
    k = max(1, (n - 1).bit_length())
    return ["".join(p) for p in itertools.islice(itertools.product(["Aa", "B@"], repeat=k), n)]


class HostileTest(unittest.TestCase):
    def setUp(self):
        self.agent = qalib.Agent("--confine-mounts", "/nonexistent-confinement", env=AGENT_ENV)
        self.client = self.agent.client()
        self.n_alive = 0

    def tearDown(self):
        self.client.close()
        self.agent.__exit__(None, None, None)

    def alive(self, resync=False, n_others=0):
        """guest-ping on the same connection; returns the other replies that came before its
        own, and after it until there are @n_others of them: ping may overtake the replies of
        worker commands (freeze, thaw, fstrim), which validate their arguments on the worker.
        With @resync the ping is preceded by 0xFF, as hosts do after sending garbage."""
        self.n_alive += 1
        ident = f"alive-{self.n_alive}"
        self.client.send((b"\xff" if resync else b"") +
                         json.dumps({"execute": "guest-ping", "id": ident}).encode())
        others = []
        is_pinged = False
        while not is_pinged or len(others) < n_others:
            r = self.client.reply()
            if r.get("id") == ident:
                self.assertEqual(r, {"return": {}, "id": ident})
                is_pinged = True
            else:
                others.append(r)
        return others

    def expect(self, data, errors, resync=False):
        """Sends @data; the replies to it must be exactly one error per entry of @errors, each
        containing that text, and a guest-ping sent after it must be answered."""
        self.client.send(data)
        before = self.alive(resync, len(errors))
        if before:
            # anything more would come before the answer to a second ping
            before += self.alive()
        shown = [str(r)[:300] for r in before]
        self.assertEqual(len(before), len(errors), shown)
        for reply, text in zip(before, errors):
            self.assertIn("error", reply, str(reply)[:300])
            self.assertIn(text, reply["error"]["desc"][:300])
        return before

    # --- 0xFF inside values --------------------------------------------------------------------

    def test_0xff_inside_a_string(self):
        # the partial request is dropped; what follows the 0xFF is a new value: "cd" is one bad
        # value, then '"}}' opens a string that only the 0xFF before the ping ends
        self.expect(b'{"execute":"guest-sync","arguments":{"id":"ab\xffcd"}}',
                    ["Invalid JSON"], resync=True)

    def test_0xff_inside_a_number(self):
        # 34 is a number on its own, then two stray closing braces: three errors
        self.expect(b'{"execute":"guest-sync","arguments":{"id":12\xff34}}',
                    ["expected an object", "Invalid JSON", "Invalid JSON"])

    def test_0xff_inside_a_key_and_the_command_name(self):
        self.client.send(b'{"exe\xff{"execute":"guest-sync","arguments":{"id":5}}')
        self.assertEqual(self.client.reply(), {"return": 5})
        self.client.send(b'{"execute":"guest-pi\xff')
        self.client.send(b'{"execute":"guest-sync","arguments":{"id":6}}')
        self.assertEqual(self.client.reply(), {"return": 6})
        self.alive()

    def test_0xff_inside_a_single_quoted_string_and_an_escape(self):
        self.expect(b"{'execute':'guest-sync','arguments':{'id':'a\\\xff", [])
        self.expect(b'{"execute":"guest-ping","id":"\\u00\xff', [])

    def test_0xff_storm(self):
        self.expect(b"\xff" * MiB, [])
        self.expect(b'{"execute":' + b"\xff{" * 100000, [], resync=True)

    # --- limits: depth and size ---------------------------------------------------------------

    def test_10_mib_of_open_brackets(self):
        peak = Peak(self.agent)
        self.client.send(b"[" * (10 * MiB))
        # one error for the whole value, sent as soon as it went over the depth limit
        self.assert_error(self.client.reply(), "nested deeper than 64")
        self.expect(b"\xff", [])
        self.assert_bounded(peak.stop())

    def test_10_mib_of_open_brackets_closed_again(self):
        # the discarded value ends at its matching bracket: no 0xFF needed
        self.expect(b"[" * (10 * MiB) + b"]" * (10 * MiB), ["nested deeper than 64"])

    def test_depth_limit_is_exact(self):
        def nested(depth):
            return b"[" * depth + b"]" * depth
        # the request object itself is the first level
        ok = b'{"execute":"guest-ping","id":' + nested(63) + b"}"
        self.client.send(ok)
        self.assertEqual(self.client.reply(), {"return": {}, "id": json.loads(nested(63))})
        self.expect(b'{"execute":"guest-ping","id":' + nested(64) + b"}",
                    ["nested deeper than 64"])
        deep_objects = b'{"a":' * 100 + b"1" + b"}" * 100
        self.expect(b'{"execute":"guest-sync","arguments":{"id":' + deep_objects + b"}}",
                    ["nested deeper than 64"])
        # brackets inside strings do not count
        self.client.send(b'{"execute":"guest-ping","id":"' + b"[{" * 10000 + b'"}')
        self.assertEqual(self.client.reply()["id"], "[{" * 10000)
        self.alive()

    def stream_big(self, head, filler, tail, total):
        """Sends head + filler... + tail, @total bytes, in 1 MiB writes; returns the peak RSS."""
        peak = Peak(self.agent)
        chunk = filler * (MiB // len(filler))
        self.client.send(head)
        sent = len(head)
        while sent < total:
            self.client.send(chunk)
            sent += len(chunk)
        self.client.send(tail)
        return peak.stop()

    def test_100_mib_request_in_a_string(self):
        start = time.monotonic()
        peak = self.stream_big(b'{"execute":"guest-ping","id":"', b"a", b'"}', BIG)
        self.assertEqual(len(self.expect(b"", ["larger than 1048576 bytes"])), 1)
        self.assert_bounded(peak)
        print(f"{BIG // MiB} MiB string: {time.monotonic() - start:.1f} s, peak {peak} kB")

    def test_100_mib_request_of_many_members(self):
        peak = self.stream_big(b'{"execute":"guest-fsfreeze-freeze-list","arguments":'
                               b'{"mountpoints":["/a"', b',"/mnt/x"', b"]}}", BIG)
        self.assertEqual(len(self.expect(b"", ["larger than 1048576 bytes"])), 1)
        self.assert_bounded(peak)

    def test_size_limit_is_exact(self):
        head = b'{"execute":"guest-ping","id":"'
        fits = head + b"a" * (MiB - len(head) - 2) + b'"}'
        self.assertEqual(len(fits), MiB)
        self.client.send(fits)
        self.assertEqual(len(self.client.reply()["id"]), MiB - len(head) - 2)
        self.expect(head + b"a" * (MiB - len(head) - 1) + b'"}', ["larger than 1048576"])

    def test_oversized_bare_values_get_one_error_each(self):
        # a number or a stray word longer than the limit is one request: one error
        self.expect(b"1" * (2 * MiB) + b" ", ["larger than"])
        self.expect(b"x" * (2 * MiB) + b"\n", ["larger than"])
        self.expect(b'{"execute":"guest-sync","arguments":{"id":' + b"9" * (2 * MiB) + b"}}",
                    ["larger than"])

    # --- a million requests, and back-pressure ---------------------------------------------------

    def test_a_million_pipelined_requests(self):
        """Written by a thread while nobody reads: the agent stops reading once 1 MiB of replies
        is queued, its memory stays bounded, and every reply arrives once the host reads."""
        request = b'{"execute":"guest-ping"}'
        reply = b'{"return":{}}\n'
        peak = Peak(self.agent)
        start = time.monotonic()
        writer = start_writer(self.client, request * N_PIPELINED)
        time.sleep(1.5)
        self.assertTrue(writer.is_alive(), "the agent read everything without pushing back")
        self.assert_bounded(self.agent.status().get("VmRSS", 0))
        want = len(reply) * N_PIPELINED
        got = bytearray(self.client.buf)
        self.client.buf = b""
        deadline = time.monotonic() + 300
        while len(got) < want and time.monotonic() < deadline:
            got += self.client.sock.recv(MiB)
        writer.join(timeout=qalib.TIMEOUT)
        self.assertEqual(len(got), want)
        self.assertEqual(bytes(got), reply * N_PIPELINED)
        self.assert_bounded(peak.stop())
        self.alive()
        print(f"{N_PIPELINED} pipelined requests: {time.monotonic() - start:.1f} s")

    # --- what a request may cost: values, members, hash flooding --------------------------------

    def test_values_per_request_limit_is_exact(self):
        """A tree costs up to 100 bytes a value, whatever the text spent on it: 1 MiB of "[0]"
        was 35 MiB of tree. 65536 values are read, one more is one error."""
        head = b'{"execute":"guest-ping","id":['
        # the request object, "guest-ping" and the array are three values
        fits = head + b",".join([b"0"] * (65536 - 3)) + b"]}"
        self.client.send(fits)
        self.assertEqual(len(self.client.reply()["id"]), 65536 - 3)
        self.expect(head + b",".join([b"[0]"] * 40000) + b"]}", ["more than 65536 values"])

    def test_colliding_keys(self):
        """28,000 keys that collide under an unkeyed string hash took 7.9 s of the main
        thread: objects hold at most 1024 members, and their index is keyed at random."""
        names = colliding_names(28_000)
        members = ",".join(f'"{name}":0' for name in names).encode()
        self.expect(b'{"execute":"guest-ping","id":{' + members + b"}}",
                    ["an object has more than 1024 members"])
        # at the limit the object is read, and every member is there
        fits = {name: i for i, name in enumerate(colliding_names(1024))}
        r = self.client.execute("guest-ping", id=fits)
        self.assertEqual(r, {"return": {}, "id": fits})
        # many objects of a thousand colliding keys each, in one request
        obj = b"{" + members[:20000].rsplit(b",", 1)[0] + b"}"
        self.client.send(b'{"execute":"guest-ping","id":[' + b",".join([obj] * 40) + b"]}")
        self.assertEqual(len(self.client.reply()["id"]), 40)
        self.alive()

    def restart_with_slow_freeze(self, seconds):
        """The agent again, with a freeze hook that takes @seconds: a freeze-list of no
        mountpoints then keeps the freezer lane busy that long, freezing nothing."""
        self.hookdir = tempfile.mkdtemp(prefix="qa-hook-")
        self.addCleanup(shutil.rmtree, self.hookdir, True)
        hook = os.path.join(self.hookdir, "hook")
        with open(hook, "w") as f:
            f.write(f'#!/bin/sh\n[ "$1" = freeze ] && sleep {seconds}\nexit 0\n')
        os.chmod(hook, 0o755)
        self.client.close()
        self.agent.__exit__(None, None, None)
        self.agent = qalib.Agent("--confine-mounts", self.hookdir, "-F", hook, env=AGENT_ENV)
        self.client = self.agent.client()

    def test_waiting_requests_are_compact(self):
        """Requests waiting behind a freeze kept their parsed tree, some 35 times their text:
        25 requests of 1 MiB grew the agent by 794 MB. They wait as text now, 1 MiB of it at
        most (and the one request that crossed that), and are parsed when they run."""
        self.restart_with_slow_freeze(3)
        self.client.send(b'{"execute":"guest-fsfreeze-freeze-list",'
                         b'"arguments":{"mountpoints":[]},"id":"freeze"}')
        time.sleep(0.3)
        # small values, as many as a request may hold: a tree some 35 times the text
        many = b",".join([b"[0]"] * 32000)
        big = b'{"execute":"guest-get-fsinfo","id":["%d",' + many + b"]}"
        # one value of (nearly) 1 MiB: a tree as large as its text
        string = b'{"execute":"guest-get-fsinfo","id":"%d' + b"s" * (MiB - 64) + b'"}'
        requests = [(big if i % 2 else string) % i for i in range(50)]
        peak = Peak(self.agent)
        writer = start_writer(self.client, b"".join(requests))
        time.sleep(1.5)
        self.assertTrue(writer.is_alive(), "the agent queued everything")
        self.assert_bounded(self.agent.status().get("VmRSS", 0))
        self.assertEqual(self.client.reply(), {"return": 0, "id": "freeze"})
        for i in range(50):
            r = self.client.reply()
            self.assertEqual(r["return"], [])
            if i % 2:
                self.assertEqual(r["id"][0], str(i))
                self.assertEqual(len(r["id"]), 32001)
            else:
                self.assertTrue(r["id"].startswith(str(i) + "s"))
        writer.join(timeout=qalib.TIMEOUT)
        self.assert_bounded(peak.stop())
        self.alive()

    def test_output_back_pressure_between_requests(self):
        """The agent stops taking requests while 1 MiB of replies waits for the host, between
        requests: one read of small requests with large replies was answered in full however
        little the host read (206 MB for guest-get-fsinfo with 301 mounts)."""
        request = b'{"execute":"guest-info"}'
        reply_len = len(json.dumps(self.client.execute("guest-info"),
                                   separators=(",", ":")).encode()) + 1
        n = 3000  # 72 KB: more than one read (64 KiB) of requests, 12 MB of replies
        self.client.send(request * n)
        # the agent runs requests until its queue of replies is full, then waits for the host
        ran, last, stable_since = 0, -1, time.monotonic()
        deadline = time.monotonic() + qalib.TIMEOUT
        while time.monotonic() - stable_since < 1.0 and time.monotonic() < deadline:
            ran = self.agent.log_text().count("running command=guest-info")
            if ran != last:
                last, stable_since = ran, time.monotonic()
            time.sleep(0.05)
        # 1 MiB queued, what the socket holds (~400 KiB), and the one request that crossed it
        bound = (MiB + 1024 * 1024) // reply_len + 2
        self.assertLess(ran - 1, bound, f"{ran} requests answered while the host read nothing")
        self.assertLess(ran, 2730)  # what one read held
        for _ in range(n):
            self.assertIn("supported_commands", self.client.reply()["return"])
        self.alive()

    def test_requests_of_a_departed_host_are_dropped(self):
        """A host that leaves while a freeze runs: its requests that had not started are dropped
        (freezes, trims, the rest), one log line each naming the command and nothing of its
        arguments; its thaw still runs. They all ran before, freezes included, for nobody."""
        self.restart_with_slow_freeze(2)
        self.client.send(b'{"execute":"guest-fsfreeze-freeze-list","arguments":{"mountpoints":[]}}'
                         b'{"execute":"guest-fsfreeze-freeze-list",'
                         b'"arguments":{"mountpoints":["/secret-argument"]}}'
                         b'{"execute":"guest-fstrim","arguments":{"minimum":4096}}'
                         b'{"execute":"guest-get-fsinfo"}'
                         b'{"execute":"guest-fsfreeze-thaw"}'
                         b'{"execute":"guest-fsfreeze-freeze"}'
                         b'{"execute":"no-such-command"}')
        time.sleep(0.3)
        self.client.close()
        self.client = self.agent.client()
        # main-lane requests wait for the freezer lane: this runs after the kept thaw
        self.assertEqual(self.client.execute("guest-get-fsinfo", id="new"),
                         {"return": [], "id": "new"})
        self.assertEqual(self.client.execute("guest-fsfreeze-status"), {"return": "thawed"})
        log = self.agent.log_text()
        dropped = [line.split("dropped command=")[1].split()[0]
                   for line in log.splitlines() if "dropped command=" in line]
        self.assertEqual(dropped, ["guest-fsfreeze-freeze-list", "guest-fstrim",
                                   "guest-get-fsinfo", "guest-fsfreeze-freeze", "(invalid"])
        self.assertNotIn("secret-argument", log)
        self.assertIn("command=guest-fsfreeze-freeze-list of a host that has disconnected has "
                      "finished", log)
        self.assertIn("command=guest-fsfreeze-thaw of a host that has disconnected has finished",
                      log)

    def test_requests_behind_a_running_freeze_are_bounded(self):
        """Requests that must wait for a worker command are queued up to 1024; then the agent
        stops reading. Before this limit each waiting request cost about 175 bytes, without
        bound (a host flooding during a slow freeze hook grew the agent by 180 MiB per million).
        """
        hookdir = tempfile.mkdtemp(prefix="qa-hook-")
        try:
            hook = os.path.join(hookdir, "hook")
            with open(hook, "w") as f:
                f.write('#!/bin/sh\n[ "$1" = freeze ] && sleep 3\nexit 0\n')
            os.chmod(hook, 0o755)
            self.client.close()
            self.agent.__exit__(None, None, None)
            self.agent = qalib.Agent("--confine-mounts", hookdir, "-F", hook, env=AGENT_ENV)
            self.client = self.agent.client()
            self.client.send(b'{"execute":"guest-fsfreeze-freeze-list",'
                             b'"arguments":{"mountpoints":[]},"id":"freeze"}')
            time.sleep(0.3)
            # more than fit in the queue (1024) and the socket buffers (~400 KiB)
            n = max(N_PIPELINED // 4, 50_000)
            peak = Peak(self.agent)
            writer = start_writer(self.client, b'{"execute":"no-such-command"}' * n)
            time.sleep(1.5)
            self.assertTrue(writer.is_alive(), "the agent queued everything")
            self.assert_bounded(self.agent.status().get("VmRSS", 0))
            first = self.client.reply()
            self.assertEqual(first, {"return": 0, "id": "freeze"})
            for _ in range(n):
                self.assertEqual(self.client.reply()["error"]["class"], "CommandNotFound")
            writer.join(timeout=qalib.TIMEOUT)
            self.assert_bounded(peak.stop())
            self.alive()
        finally:
            import shutil
            shutil.rmtree(hookdir, ignore_errors=True)

    # --- text encoding -------------------------------------------------------------------------

    def test_invalid_utf8_everywhere(self):
        bad = [
            b"\xe0\x80\xaf",  # overlong 3-byte '/'
            b"\xf0\x80\x80\xaf",  # overlong 4-byte '/'
            b"\xc1\xbf",  # overlong 2-byte
            b"\xf4\x90\x80\x80",  # above U+10FFFF
            b"\xed\xbf\xbf",  # a surrogate encoded directly
            b"\x80",  # a lone continuation byte
            b"\xfe",  # never valid
            b"\xe2\x82",  # truncated before the closing quote
            b"\xf8\x88\x80\x80\x80",  # 5-byte form
        ]
        for seq in bad:
            with self.subTest(seq=seq):
                self.expect(b'{"execute":"guest-ping","id":"' + seq + b'"}', ["UTF-8"])
                self.expect(b'{"execute":"guest-sync","arguments":{"i' + seq + b'd":1}}',
                            ["UTF-8"])
                self.expect(b'{"execute":"guest-' + seq + b'ping"}', ["UTF-8"])
                self.expect(b"{'execute':'guest-ping','id':'" + seq + b"'}", ["UTF-8"])

    def test_escapes(self):
        self.expect(b'{"execute":"guest-ping","id":"\\ud800"}', ["surrogate"])
        self.expect(b'{"execute":"guest-ping","id":"\\udc00\\ud800"}', ["surrogate"])
        self.expect(b'{"execute":"guest-ping","id":"\\ud800\\u0041"}', ["surrogate"])
        self.expect(b'{"execute":"guest-ping","id":"\\u12G4"}', ["Invalid JSON"])
        self.expect(b'{"execute":"guest-ping","id":"\\x41"}', ["Invalid JSON"])
        # a valid pair is fine, and comes back escaped
        self.client.send(b'{"execute":"guest-ping","id":"\\ud83d\\ude00"}')
        self.assertEqual(self.client.reply()["id"], "\U0001F600")
        # an escaped command name is the same name
        self.client.send(b'{"execute":"guest-\\u0070ing"}')
        self.assertEqual(self.client.reply(), {"return": {}})

    def test_nul_bytes(self):
        self.expect(b'{"execute"\x00:"guest-ping"}', ["Invalid JSON"])
        self.expect(b'{"execute":"guest-ping\x00"}', ["NUL"])
        self.expect(b'{"execute":"guest-sync","arguments":{"id\x00":1}}', ["NUL"])
        self.expect(b'{"execute":"guest-sync","arguments":{"id\\u0000":1}}', ["NUL"])
        self.expect(b'{"execute":"guest-ping\\u0000"}', ["NUL"])
        # between requests a NUL is a stray byte: one error, then the next request is read
        self.client.send(b'\x00{"execute":"guest-sync","arguments":{"id":1}}')
        self.assert_error(self.client.reply(), "NUL")
        self.assertEqual(self.client.reply(), {"return": 1})
        self.alive()

    # --- numbers, keys, names --------------------------------------------------------------------

    def test_numbers_out_of_range_for_each_type(self):
        # guest-fstrim's minimum is a 64-bit integer that must not be negative
        for n in (b"-1", b"9223372036854775808", b"18446744073709551616", b"1e20", b"0.5",
                  b"-0.0", b"1E2", b"true", b'"5"', b"[]", b"{}"):
            with self.subTest(minimum=n):
                self.expect(b'{"execute":"guest-fstrim","arguments":{"minimum":' + n + b"}}",
                            ["minimum"])
        self.client.send(b'{"execute":"guest-fstrim","arguments":{"minimum":9223372036854775807}}')
        self.assertEqual(self.client.reply(), {"return": {"paths": []}})
        # numbers that are not JSON at all
        for n in (b"01", b"+1", b"1.", b".5", b"0x10", b"1e", b"--1", b"NaN", b"Infinity"):
            with self.subTest(id=n):
                self.expect(b'{"execute":"guest-sync","arguments":{"id":' + n + b"}}",
                            ["Invalid JSON"], resync=True)
        # huge exponents and long digit strings do not hang or overflow
        for n in (b"1e999999999999999999", b"-1e-999999999999", b"1" * 5000):
            with self.subTest(id=n[:20]):
                self.expect(b'{"execute":"guest-sync","arguments":{"id":' + n + b"}}",
                            ["must be an integer"])

    def test_duplicate_keys(self):
        dup = "appears twice"
        self.expect(b'{"execute":"guest-sync","arguments":{"id":1,"id":1}}', [dup])
        self.expect(b'{"execute":"guest-sync","arguments":{"id":1,"id":2}}', [dup])
        self.expect(b"{'execute':'guest-sync','arguments':{'id':1,\"id\":2}}", [dup])
        # the same key spelt with an escape is the same key
        self.expect(b'{"execute":"guest-sync","arguments":{"id":1,"\\u0069d":2}}', [dup])
        self.expect(b'{"execute":"guest-ping","\\u0065xecute":"guest-info"}', [dup])
        self.expect(b'{"execute":"guest-ping","id":1,"id":2}', [dup])
        self.expect(b'{"execute":"guest-ping","arguments":{},"arguments":{}}', [dup])
        # deep inside the id, which is otherwise echoed unchecked
        self.expect(b'{"execute":"guest-ping","id":[{"a":1,"a":1}]}', [dup])

    def test_very_long_command_names(self):
        head = b'{"execute":"'
        name = b"g" * (MiB - len(head) - 2)
        r = self.expect(head + name + b'"}', ["has not been found"])
        # the reply quotes at most 64 characters of it
        self.assertLess(len(r[0]["error"]["desc"]), 200)
        # multi-byte characters are cut at a character boundary
        r = self.expect(b'{"execute":"' + "é€😀".encode() * 10000 + b'"}', ["has not been found"])
        self.assertTrue(r[0]["error"]["desc"].isprintable())
        self.expect(head + b"g" * (2 * MiB) + b'"}', ["larger than"])
        # a near-miss of a long name is not worth a suggestion
        self.expect(b'{"execute":"guest-ping' + b"g" * 100 + b'"}', ["guest-info lists"])

    def test_deeply_nested_arguments(self):
        for depth in (10, 60, 62):
            with self.subTest(depth=depth):
                value = b"[" * depth + b"]" * depth
                self.expect(b'{"execute":"guest-sync","arguments":{"id":' + value + b"}}",
                            ["must be an integer"])
                self.expect(b'{"execute":"guest-fsfreeze-freeze-list","arguments":'
                            b'{"mountpoints":' + value + b"}}", ["mountpoints"])
        self.expect(b'{"execute":"guest-sync","arguments":{"id":' + b"[" * 65 + b"]" * 65 +
                    b"}}", ["nested deeper"])
        self.expect(b'{"execute":"guest-sync","arguments":' + b'{"x":' * 70 + b"1" +
                    b"}" * 70 + b"}", ["nested deeper"])

    def assert_bounded(self, rss_kb):
        if not VALGRIND:
            self.assertLess(rss_kb, RSS_BOUND_KB)

    def assert_error(self, reply, contains):
        self.assertIn("error", reply, reply)
        self.assertIn(contains, reply["error"]["desc"], reply)


if __name__ == "__main__":
    unittest.main(verbosity=2)
