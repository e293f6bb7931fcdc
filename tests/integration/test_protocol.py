"""The wire protocol, spoken to the real agent over a unix socket, as hosts speak it."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import unittest

import qalib

SCHEMA = os.path.join(os.path.dirname(__file__), "..", "..", "qapi-schema")
sys.path.insert(0, SCHEMA)
import generate  # noqa: E402  (the schema's own parser: one source of truth)


def schema_commands():
    platform = "windows" if os.environ.get("QA_TRANSPORT") == "wine-pipe" else "linux"
    with open(os.path.join(SCHEMA, "quiesce-agent.json")) as f:
        parsed = generate.Schema(generate.Parser(f.read(), "schema").definitions(), platform)
    return parsed.commands


class ProtocolTest(unittest.TestCase):
    def setUp(self):
        # confined to an empty directory: commands that touch filesystems touch none
        self.agent = qalib.Agent("--confine-mounts", "/nonexistent-confinement")
        self.client = self.agent.client()

    def tearDown(self):
        self.client.close()
        self.agent.__exit__(None, None, None)

    def assert_alive(self, client=None):
        c = client or self.client
        self.assertEqual(c.execute("guest-ping"), {"return": {}})

    def assert_error(self, reply, cls="GenericError", contains=None):
        self.assertIn("error", reply, reply)
        self.assertEqual(reply["error"]["class"], cls, reply)
        if contains:
            self.assertIn(contains, reply["error"]["desc"])

    # --- the way hosts talk -------------------------------------------------------------------

    def test_sync_delimited_with_0xff(self):
        self.client.send(b"\xff")
        self.client.send(b'{"execute":"guest-sync-delimited","arguments":{"id":1234567}}')
        raw = self.client.sock.recv(4096)
        self.assertEqual(raw, b'\xff{"return":1234567}\n')

    def test_sync_returns_any_64bit_id(self):
        for ident in (0, -1, 2**63 - 1, -(2**63), int(time.time() * 1000)):
            self.assertEqual(self.client.execute("guest-sync", {"id": ident})["return"], ident)

    def test_libvirt_style(self):
        self.client.sync()
        for _ in range(3):
            self.assert_alive()
        self.client.sync()

    def test_only_sync_delimited_starts_with_0xff(self):
        self.client.send(b'{"execute":"guest-ping"}{"execute":"guest-sync","arguments":{"id":5}}')
        self.client.send(b'{"execute":"nope"}')
        for _ in range(3):
            self.assertNotEqual(self.client.read_line()[:1], b"\xff")

    def test_pipelined_requests_in_one_write(self):
        reqs = "".join(json.dumps({"execute": "guest-sync", "arguments": {"id": i}})
                       for i in range(200))
        self.client.send(reqs)
        for i in range(200):
            self.assertEqual(self.client.reply(), {"return": i})

    def test_one_byte_writes(self):
        data = b' \n{"execute" : "guest-sync",\n "arguments": {"id": 42}, "id": "x"}\n'
        for b in data:
            self.client.send(bytes([b]))
        self.assertEqual(self.client.reply(), {"return": 42, "id": "x"})

    def test_single_quotes(self):
        self.client.send(b"{'execute':'guest-sync','arguments':{'id':7}}")
        self.assertEqual(self.client.reply(), {"return": 7})

    def test_id_is_echoed_whatever_its_type(self):
        for ident in (1, "abc", [1, {"a": None}], {"x": True}, None, 1.5):
            r = self.client.execute("guest-ping", id=ident)
            self.assertEqual(r, {"return": {}, "id": ident})
        r = self.client.execute("no-such-command", id=99)
        self.assertEqual(r["id"], 99)

    def test_id_is_echoed_as_sent(self):
        """The id comes back as its text was: a number that is not a 64-bit integer is not
        rounded, turned into null or into a float, nor is -0 made 0. (Strings come back with
        the same value, in the replies' ASCII spelling; whitespace is not kept.)"""
        cases = [
            (b"1e999", b"1e999"),
            (b"-1E-999", b"-1E-999"),
            (b"18446744073709551616", b"18446744073709551616"),
            (b"-9223372036854775809", b"-9223372036854775809"),
            (b"123456789012345678901234567890", b"123456789012345678901234567890"),
            (b"-0", b"-0"),
            (b"-0.0", b"-0.0"),
            (b"1.50", b"1.50"),
            (b"1e+2", b"1e+2"),
            (b"9223372036854775807", b"9223372036854775807"),
            (b"[ 1e999 , { \"a\" : -0 } ]", b'[1e999,{"a":-0}]'),
        ]
        for sent, echoed in cases:
            with self.subTest(id=sent):
                self.client.send(b'{"execute":"guest-ping","id":' + sent + b"}")
                self.assertEqual(self.client.read_line(), b'{"return":{},"id":' + echoed + b"}")
                self.client.send(b'{"execute":"no-such-command","id":' + sent + b"}")
                self.assertTrue(self.client.read_line().endswith(b',"id":' + echoed + b"}"))

    def test_replies_are_ascii(self):
        self.client.send('{"execute":"guest-ping","id":"é€😀"}')
        line = self.client.read_line()
        self.assertTrue(all(b < 0x80 for b in line), line)
        self.assertIn(b"\\u00e9\\u20ac\\ud83d\\ude00", line)
        self.assertEqual(json.loads(line)["id"], "é€😀")

    def test_0xff_discards_partial_request(self):
        self.client.send(b'{"execute":"guest-sync","argu')
        self.client.send(b"\xff")
        self.client.send(b'{"execute":"guest-sync","arguments":{"id":3}}')
        self.assertEqual(self.client.reply(), {"return": 3})

    # --- bad input: a clear error, then the agent goes on --------------------------------------

    def check_bad(self, data, cls="GenericError", contains=None):
        self.client.send(data)
        self.assert_error(self.client.reply(), cls, contains)
        self.assert_alive()

    def test_invalid_json(self):
        self.check_bad(b'{"execute": guest-ping}', contains="Invalid JSON")
        self.check_bad(b'{"execute":"guest-ping",}', contains="Invalid JSON")
        self.check_bad(b'{"execute":"guest-ping"]', contains="Invalid JSON")
        self.check_bad(b"nonsense ", contains="Invalid JSON")
        self.check_bad(b"}", contains="Invalid JSON")

    def test_not_an_object(self):
        self.check_bad(b"[1, 2]", contains="expected an object")
        self.check_bad(b'"guest-ping"', contains="expected an object")
        self.check_bad(b"42\n", contains="expected an object")

    def test_execute_missing_or_not_a_string(self):
        self.check_bad(b'{"arguments":{}}', contains="'execute' is missing")
        self.check_bad(b'{"execute":42}', contains="'execute' must be a string")
        self.check_bad(b'{"execute":"guest-ping","foo":1}', contains="unexpected member 'foo'")

    def test_arguments_not_an_object(self):
        self.check_bad(b'{"execute":"guest-sync","arguments":[1]}',
                       contains="'arguments' must be an object")

    def test_argument_errors_name_command_and_argument(self):
        self.check_bad(b'{"execute":"guest-sync"}',
                       contains="Command 'guest-sync' requires argument 'id'")
        self.check_bad(b'{"execute":"guest-sync","arguments":{"id":"x"}}',
                       contains="Argument 'id' of command 'guest-sync' must be an integer")
        self.check_bad(b'{"execute":"guest-sync","arguments":{"id":1,"idd":2}}',
                       contains="has no argument 'idd'; expected: id")
        self.check_bad(b'{"execute":"guest-ping","arguments":{"x":1}}',
                       contains="it takes none")
        self.check_bad(b'{"execute":"guest-fsfreeze-freeze-list",'
                       b'"arguments":{"mountpoints":["/a",2]}}',
                       contains="'mountpoints[1]'")

    def test_numbers_out_of_range(self):
        for n in (b"9223372036854775808", b"-9223372036854775809", b"1e400", b"1.5"):
            self.check_bad(b'{"execute":"guest-sync","arguments":{"id":' + n + b"}}",
                           contains="must be an integer")

    def test_duplicate_keys(self):
        self.check_bad(b'{"execute":"guest-ping","execute":"guest-info"}',
                       contains="appears twice")

    def test_unknown_command(self):
        self.check_bad(b'{"execute":"guest-pign"}', cls="CommandNotFound",
                       contains="did you mean guest-ping")
        self.check_bad(b'{"execute":"' + b"x" * 100000 + b'"}', cls="CommandNotFound")

    def test_invalid_utf8_and_nul(self):
        self.check_bad(b'{"execute":"guest-ping","id":"\xc3\x28"}', contains="UTF-8")
        self.check_bad(b'{"execute":"guest-ping","id":"\xc0\xaf"}', contains="UTF-8")
        self.check_bad(b'{"execute":"guest-ping","id":"\xed\xa0\x80"}', contains="UTF-8")
        self.check_bad(b'{"execute":"guest-ping","id":"a\x00b"}', contains="UTF-8")
        self.check_bad(b'{"execute":"guest-ping","id":"a\\u0000b"}', contains="NUL")
        self.check_bad(b'{"execute":"guest-ping","id":"\x01"}', contains="control")

    def test_too_deep(self):
        deep = b'{"execute":"guest-ping","arguments":' + b"[" * 100 + b"]" * 100 + b"}"
        self.check_bad(deep, contains="nested deeper")

    def test_too_large_then_resync(self):
        big = b'{"execute":"guest-ping","id":"' + b"a" * (2 * 1024 * 1024) + b'"}'
        self.check_bad(big, contains="larger than")

    def test_unterminated_value_is_dropped_by_0xff(self):
        self.client.send(b"[" * 10000)
        self.assert_error(self.client.reply(), contains="nested deeper")
        self.client.send(b"\xff")
        self.assert_alive()

    # --- connections ---------------------------------------------------------------------------

    def test_disconnect_mid_request_then_new_client(self):
        self.client.send(b'{"execute":"guest-sync","arguments":')
        self.client.close()
        self.client = self.agent.client()
        self.client.send(b'{"execute":"guest-sync","arguments":{"id":8}}')
        self.assertEqual(self.client.reply(), {"return": 8})

    @qalib.skip_unless_unix("a named pipe has no half-close")
    def test_half_closed_client_gets_its_replies(self):
        """echo REQUEST | socat - UNIX-CONNECT:... shuts down its sending side at once; it must
        still get every reply, also of worker commands that answer later, then see EOF."""
        self.client.send(b'{"execute":"guest-ping"}{"execute":"guest-fstrim"}'
                         b'{"execute":"guest-get-fsinfo"}{"execute":"guest-sy')
        self.client.sock.shutdown(socket.SHUT_WR)
        received = b""
        while True:
            chunk = self.client.sock.recv(65536)
            if not chunk:
                break
            received += chunk
        lines = [json.loads(line) for line in received.splitlines()]
        self.assertEqual(lines, [{"return": {}}, {"return": {"paths": []}}, {"return": []}])
        self.client.close()
        self.client = self.agent.client()
        self.assert_alive()

    def test_replies_keep_request_order(self):
        """Only ping, sync, info and status may overtake a running freeze, thaw or trim."""
        reqs = [
            {"execute": "guest-fstrim", "id": 1},
            {"execute": "guest-get-fsinfo", "id": 2},
            {"execute": "guest-fsfreeze-thaw", "id": 3},
            {"execute": "no-such-command", "id": 4},
            {"execute": "guest-fstrim", "id": 5},
            {"execute": "guest-get-disks", "id": 6},
        ]
        self.client.send("".join(json.dumps(r) for r in reqs))
        self.assertEqual([self.client.reply()["id"] for _ in reqs], [1, 2, 3, 4, 5, 6])

    def test_one_client_at_a_time(self):
        second = self.agent.client()
        second.send(b'{"execute":"guest-sync","arguments":{"id":2}}')
        self.assertEqual(self.client.execute("guest-sync", {"id": 1})["return"], 1)
        self.client.close()
        self.assertEqual(second.reply(), {"return": 2})
        self.client = second

    def test_disconnect_with_unread_replies(self):
        """Replies for a host that left are dropped, never delivered to the next one."""
        self.client.send(b'{"execute":"guest-info"}' * 2000)
        self.client.close()
        self.client = self.agent.client()
        self.assertEqual(self.client.execute("guest-sync", {"id": 9}), {"return": 9})

    def test_back_pressure(self):
        """A host that writes without reading is slowed down, not buffered without bound."""
        self.client.sock.setblocking(False)
        sent = 0
        chunk = b'{"execute":"guest-info"}' * 1000
        deadline = time.monotonic() + 5
        try:
            while time.monotonic() < deadline:
                sent += self.client.sock.send(chunk)
        except BlockingIOError:
            pass
        self.client.sock.setblocking(True)
        self.assertLess(sent, 200 * 1024 * 1024, "the agent never pushed back")
        self.client.close()
        self.client = self.agent.client()
        self.assert_alive()

    # --- guest-info and the schema -------------------------------------------------------------

    def test_null_is_not_an_absent_argument(self):
        """As in QEMU's agent, an optional argument given as null is refused, not taken for
        absent: {"mode": null} must never mean guest-shutdown's default."""
        for cmd, args in (("guest-fsfreeze-freeze-list", {"mountpoints": None}),
                          ("guest-fstrim", {"minimum": None})):
            r = self.client.execute(cmd, args)
            self.assert_error(r, contains="not null")
        self.assert_alive()

    def test_guest_info_matches_schema(self):
        info = self.client.ok("guest-info")
        self.assertRegex(info["version"], r"^\d+\.\d+")
        listed = {c["name"]: c for c in info["supported_commands"]}
        commands = schema_commands()
        self.assertEqual(set(listed), set(commands))
        for name, c in listed.items():
            self.assertTrue(c["enabled"])
            self.assertEqual(c["success-response"], commands[name]["success_response"])


class ConfigTest(unittest.TestCase):
    def test_blocked_commands(self):
        with qalib.Agent("-b", "guest-ping;guest-get-fsinfo") as agent:
            c = agent.client()
            r = c.execute("guest-ping")
            self.assertEqual(r["error"]["class"], "CommandNotFound")
            # qemu-ga's text, word for word
            self.assertEqual(r["error"]["desc"],
                             "Command guest-ping has been disabled: the command is not allowed")
            listed = {x["name"]: x["enabled"] for x in c.ok("guest-info")["supported_commands"]}
            self.assertFalse(listed["guest-ping"])
            self.assertFalse(listed["guest-get-fsinfo"])
            self.assertTrue(listed["guest-sync"])
            c.close()

    def test_allowed_commands_from_config_file(self):
        conf = "[general]\nallow-rpcs=guest-sync,guest-info\n"
        with qalib.Agent(config=conf) as agent:
            c = agent.client()
            self.assertEqual(c.execute("guest-ping")["error"]["class"], "CommandNotFound")
            self.assertEqual(c.ok("guest-sync", {"id": 1}), 1)
            c.close()

    def test_rhel_style_lists(self):
        """Glob patterns, and names of commands that exist on Windows only, as RHEL's default
        allow list has them, are accepted; the block list wins over the allow list."""
        allow = ("guest-sync-delimited,guest-sync,guest-ping,guest-info,guest-fsfreeze-*,"
                 "guest-get-devices,guest-*-memory-block*,guest-file-*")
        with qalib.Agent("-a", allow, "-b", "guest-file-write") as agent:
            c = agent.client()
            listed = {x["name"]: x["enabled"] for x in c.ok("guest-info")["supported_commands"]}
            self.assertTrue(listed["guest-fsfreeze-thaw"])
            # Linux-only commands are not listed on Windows, nor guest-get-devices on Linux
            expected = {"guest-get-memory-block-info": True, "guest-file-read": True,
                        "guest-file-write": False, "guest-exec": False,
                        "guest-get-devices": True}
            for name, enabled in expected.items():
                if name in schema_commands():
                    self.assertEqual(listed[name], enabled, name)
            if qalib.IS_WINE:
                self.assertNotIn("guest-get-memory-block-info", listed)
            else:
                self.assertNotIn("guest-get-devices", listed)
            c.close()

    def test_list_naming_no_command_is_refused(self):
        for bad in ("guest-pnig", "guest-nothing-*"):
            r = self.run_agent("-m", qalib.LISTEN_METHOD, "-p", "/nonexistent/x.sock", "-b", bad)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn(f"'{bad}' names no command", r.stderr)

    def run_agent(self, *args):
        return qalib.run_agent_once(*args)

    def test_dump_conf_merges_file_and_command_line(self):
        tmp = qalib.tempfile.mkdtemp()
        path = os.path.join(tmp, "a.conf")
        with open(path, "w") as f:
            f.write(f"[general]\nmethod={qalib.LISTEN_METHOD}\npath=/from/file\n"
                    "block-rpcs=guest-ping;guest-info\nfsfreeze-timeout=30\n")
        r = self.run_agent("-c", path, "-p", "/from/cli", "-D")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("path=/from/cli\n", r.stdout)
        self.assertIn(f"method={qalib.LISTEN_METHOD}\n", r.stdout)
        self.assertIn("block-rpcs=guest-ping,guest-info\n", r.stdout)
        self.assertIn("fsfreeze-timeout=30\n", r.stdout)
        # what --dump-conf prints is a valid configuration file
        with open(path, "w") as f:
            f.write(r.stdout)
        again = self.run_agent("-c", path, "-D")
        self.assertEqual(again.stdout, r.stdout)

    def test_bad_command_lines_fail_clearly(self):
        cases = [
            (["--no-such-option"], "Unknown option"),
            (["-m", "carrier-pigeon"], "unknown method 'carrier-pigeon'"),
            (["-c", "/nonexistent/agent.conf"], "/nonexistent/agent.conf"),
            (["-b", "guest-pingg"], "'guest-pingg' names no command"),
            (["--fsfreeze-timeout", "soon"], "number of seconds"),
            (["--fsfreeze-timeout", "4294968"], "from 0 to 4294967"),
            (["extra"], "unexpected argument 'extra'"),
        ]
        if not qalib.IS_WINE:  # every Windows method has a default path
            cases.append((["-m", "unix-listen"], "needs --path"))
        for args, message in cases:
            r = self.run_agent(*args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn(message, r.stderr, args)

    def test_bad_config_file(self):
        tmp = qalib.tempfile.mkdtemp()
        path = os.path.join(tmp, "a.conf")
        for text, message in (("[general]\nverbos=true\n", "unknown key 'verbos'"),
                              ("method=unix\n", "cannot read configuration file"),
                              ("[general]\nverbose=maybe\n", "true or false")):
            with open(path, "w") as f:
                f.write(text)
            r = self.run_agent("-c", path)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn(message, r.stderr)

    def test_version(self):
        r = self.run_agent("-V")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^quiesce-agent \d+\.\d+")

    @qalib.skip_unless_unix("signals and pidfiles")
    def test_sigterm_removes_pidfile(self):
        agent = qalib.Agent()
        try:
            pidfile = os.path.join(agent.tmp, "agent.pid")
            agent.stop()
            agent.args += ["-f", pidfile]
            agent.start()
            deadline = time.monotonic() + 5
            while not os.path.exists(pidfile) and time.monotonic() < deadline:
                time.sleep(0.02)
            with open(pidfile) as f:
                self.assertEqual(int(f.read()), agent.proc.pid)
            self.assertEqual(agent.stop(signal.SIGTERM), 0)
            self.assertFalse(os.path.exists(pidfile))
        finally:
            agent.close()

    def activate(self, fd, tmp):
        """The agent as systemd starts it with @fd passed as its one socket."""
        code = ("import os,sys; os.dup2(%d, 3); os.environ['LISTEN_FDS']='1'; "
                "os.environ['LISTEN_PID']=str(os.getpid()); "
                "os.execv(sys.argv[1], sys.argv[1:])" % fd)
        return subprocess.Popen([sys.executable, "-c", code, qalib.AGENT, "-t",
                                 os.path.join(tmp, "state")], pass_fds=(fd,),
                                stderr=subprocess.PIPE, text=True)

    @qalib.skip_unless_unix("systemd socket activation")
    def test_socket_activation_of_a_connection_is_refused(self):
        """Accept=yes passes a connected socket and starts an agent per connection: several
        would share the state file, and each would thaw at start what another holds frozen.
        Before, the connection was served as a port without a path: after its end GLib
        criticals, then open(NULL) every 5 s forever. Now the agent refuses to start."""
        tmp = qalib.tempfile.mkdtemp()
        ours, theirs = socket.socketpair()
        r, w = os.pipe()
        try:
            for fd in (theirs.fileno(), r):
                proc = self.activate(fd, tmp)
                try:
                    _, err = proc.communicate(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.communicate()
                    self.fail("the agent served a descriptor that is not a listening socket")
                self.assertEqual(proc.returncode, 2, err)
                self.assertIn("not a listening socket", err)
                self.assertIn("Accept=no", err)
        finally:
            for f in (ours, theirs):
                f.close()
            os.close(r)
            os.close(w)

    @qalib.skip_unless_unix("systemd socket activation")
    def test_socket_activation(self):
        tmp = qalib.tempfile.mkdtemp()
        path = os.path.join(tmp, "activated.sock")
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(path)
        listener.listen(1)
        proc = self.activate(listener.fileno(), tmp)
        try:
            listener.close()
            c = qalib.Client(path)
            self.assertEqual(c.execute("guest-sync", {"id": 11}), {"return": 11})
            c.close()
        finally:
            proc.terminate()
            self.assertEqual(proc.wait(timeout=20), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
