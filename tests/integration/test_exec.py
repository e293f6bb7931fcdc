"""guest-exec and guest-exec-status over the socket, as Proxmox (`qm guest exec`) and KubeVirt
(exec probes with bare names) use them.

Every process a test starts is harmless (echo, cat, sleep, sh) and killed in tearDown when its
end was not seen. Waiting polls guest-exec-status with qalib's timeout; nothing is timed.
"""

import base64
import os
import re
import signal
import shutil
import tempfile
import time
import unittest

import qalib

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
OUTPUT_MAX = 16 * 1024 * 1024
RUNNING_MAX = 128
FINISHED_MAX = 64
# what the agent's own environment holds and no child may see
AGENT_ENV = {"QA_EXEC_LEAK": "agent-only", "INVOCATION_ID": "0123456789abcdef",
             "NOTIFY_SOCKET": "/nonexistent/qa-exec-notify"}


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def unb64(text):
    return base64.b64decode(text)


class StrayFdAgent(qalib.Agent):
    """An agent that inherited a descriptor without close-on-exec (fd 9), as from a careless
    parent: a child must not see it."""

    def start(self):
        if self.args[:1] != ["sh"]:
            self.args = ["sh", "-c", 'exec 9</dev/null; exec "$@"', "sh"] + self.args
        super().start()


class ExecCase:
    """setUp, tearDown and the helpers of the tests below."""

    agent_class = qalib.Agent

    def setUp(self):
        self.agent = self.agent_class("--confine-mounts", "/nonexistent-confinement",
                                      env=AGENT_ENV)
        self.client = self.agent.client()
        self.live = set()  # pids started whose end was not seen: killed in tearDown

    def tearDown(self):
        for pid in self.live:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.client.close()
        self.agent.__exit__(None, None, None)

    def assert_error(self, reply, contains=None):
        self.assertIn("error", reply, reply)
        self.assertEqual(reply["error"]["class"], "GenericError", reply)
        if contains:
            self.assertIn(contains, reply["error"]["desc"])

    def start(self, path, *args, client=None, **extra):
        arguments = {"path": path}
        if args:
            arguments["arg"] = list(args)
        arguments.update({k.replace("_", "-"): v for k, v in extra.items()})
        pid = (client or self.client).ok("guest-exec", arguments)["pid"]
        self.assertIsInstance(pid, int)
        self.assertGreater(pid, 0)
        self.live.add(pid)
        return pid

    def wait(self, pid, client=None):
        deadline = time.monotonic() + qalib.TIMEOUT
        while True:
            status = (client or self.client).ok("guest-exec-status", {"pid": pid})
            if status["exited"]:
                self.live.discard(pid)
                return status
            self.assertEqual(status, {"exited": False})
            if time.monotonic() > deadline:
                self.fail(f"pid {pid} did not exit in time")
            time.sleep(0.02)

    def run_exec(self, path, *args, **extra):
        return self.wait(self.start(path, *args, **extra))

    def kill_and_wait(self, pid, client=None):
        os.kill(pid, signal.SIGKILL)
        return self.wait(pid, client)


class ExecTest(ExecCase, unittest.TestCase):

    # --- capture modes -------------------------------------------------------------------------

    def test_capture_modes(self):
        script = "printf out; printf err >&2"
        both = {"exited": True, "exitcode": 0, "out-data": b64("out"), "out-truncated": False,
                "err-data": b64("err"), "err-truncated": False}
        cases = [
            (True, both),
            ("separated", both),
            ("merged", {"exited": True, "exitcode": 0, "out-data": b64("outerr"),
                        "out-truncated": False}),
            ("stdout", {"exited": True, "exitcode": 0, "out-data": b64("out"),
                        "out-truncated": False}),
            ("stderr", {"exited": True, "exitcode": 0, "err-data": b64("err"),
                        "err-truncated": False}),
            (False, {"exited": True, "exitcode": 0}),
            ("none", {"exited": True, "exitcode": 0}),
            (None, {"exited": True, "exitcode": 0}),
        ]
        for capture, expected in cases:
            with self.subTest(capture=capture):
                extra = {} if capture is None else {"capture_output": capture}
                self.assertEqual(self.run_exec("/bin/sh", "-c", script, **extra), expected)

    def test_stream_without_bytes_has_no_members(self):
        self.assertEqual(self.run_exec("true", capture_output=True),
                         {"exited": True, "exitcode": 0})
        self.assertEqual(self.run_exec("echo", "only out", capture_output=True),
                         {"exited": True, "exitcode": 0, "out-data": b64("only out\n"),
                          "out-truncated": False})

    # --- finding the program -------------------------------------------------------------------

    def test_bare_names_are_looked_up_in_path(self):
        status = self.run_exec("getent", "passwd", "root", capture_output=True)
        self.assertEqual(status["exitcode"], 0)
        self.assertTrue(unb64(status["out-data"]).startswith(b"root:"))
        # argv[0] stays what the host named, as with QEMU's agent
        status = self.run_exec("sh", "-c", "cat /proc/$$/cmdline", capture_output=True)
        self.assertEqual(unb64(status["out-data"]), b"sh\0-c\0cat /proc/$$/cmdline\0")

    def test_path_of_the_environment_is_searched(self):
        tmp = tempfile.mkdtemp(prefix="qa-exec-path-")
        self.addCleanup(shutil.rmtree, tmp)
        first, second = os.path.join(tmp, "first"), os.path.join(tmp, "second")
        os.makedirs(os.path.join(first, "qa-prog"))  # a directory of that name: skipped
        os.makedirs(second)
        with open(os.path.join(tmp, "qa-prog"), "w") as f:  # not in PATH
            f.write("#!/bin/sh\necho wrong\n")
        os.chmod(os.path.join(tmp, "qa-prog"), 0o755)
        with open(os.path.join(second, "qa-prog"), "w") as f:
            f.write("#!/bin/sh\necho found\n")
        os.chmod(os.path.join(second, "qa-prog"), 0o755)
        env = [f"PATH=:{first}:{second}"]
        self.assertEqual(self.run_exec("qa-prog", env=env, capture_output=True)["out-data"],
                         b64("found\n"))
        # not executable: skipped as execvp does
        os.chmod(os.path.join(second, "qa-prog"), 0o644)
        reply = self.client.execute("guest-exec", {"path": "qa-prog", "env": env})
        self.assert_error(reply, "No such file or directory")
        self.assertIn(second, reply["error"]["desc"])
        # without PATH in the environment, the default; never the agent's own
        reply = self.client.execute("guest-exec", {"path": "qa-prog"})
        self.assert_error(reply, DEFAULT_PATH)

    def test_unknown_programs(self):
        self.assert_error(self.client.execute("guest-exec", {"path": "qa-no-such-program"}),
                          "'qa-no-such-program'")
        self.assert_error(self.client.execute("guest-exec", {"path": "/nonexistent/qa-x"}),
                          "/nonexistent/qa-x")
        self.assert_error(self.client.execute("guest-exec", {"path": "/"}), "'/'")
        with tempfile.NamedTemporaryFile(prefix="qa-exec-") as f:
            os.chmod(f.name, 0o644)
            self.assert_error(self.client.execute("guest-exec", {"path": f.name}),
                              "Permission denied")

    # --- what the child gets -------------------------------------------------------------------

    def test_environment_is_exactly_what_was_passed(self):
        cases = [
            (None, f"PATH={DEFAULT_PATH}\n"),
            ([], f"PATH={DEFAULT_PATH}\n"),
            (["FOO=bar", "EMPTY=", "SPACE=a b"], f"FOO=bar\nEMPTY=\nSPACE=a b\nPATH={DEFAULT_PATH}\n"),
            (["PATH=/usr/bin:/bin", "A=1"], "PATH=/usr/bin:/bin\nA=1\n"),
        ]
        for env, expected in cases:
            with self.subTest(env=env):
                extra = {"capture_output": True}
                if env is not None:
                    extra["env"] = env
                status = self.run_exec("env", **extra)
                self.assertEqual(unb64(status["out-data"]).decode(), expected)

    def test_invalid_environment_entries(self):
        for entry in ("NOVALUE", "=value", ""):
            with self.subTest(entry=entry):
                self.assert_error(self.client.execute(
                    "guest-exec", {"path": "env", "env": ["OK=1", entry]}), "NAME=VALUE")

    def test_input_data(self):
        data = bytes(range(256)) * 2500  # more than a pipe holds, so it is fed in pieces
        status = self.run_exec("cat", input_data=b64(data), capture_output=True)
        self.assertEqual(unb64(status["out-data"]), data)
        # line-wrapped base64, as Perl's encode_base64() writes it (Proxmox)
        wrapped = base64.encodebytes(b"hello from proxmox " * 10).decode()
        self.assertIn("\n", wrapped)
        status = self.run_exec("cat", input_data=wrapped, capture_output=True)
        self.assertEqual(unb64(status["out-data"]), b"hello from proxmox " * 10)
        # empty input: EOF at once
        self.assertEqual(self.run_exec("cat", input_data="", capture_output=True),
                         {"exited": True, "exitcode": 0})
        # no input: /dev/null
        status = self.run_exec("sh", "-c", "readlink /proc/self/fd/0", capture_output=True)
        self.assertEqual(unb64(status["out-data"]), b"/dev/null\n")

    def test_exit_code_and_signal(self):
        self.assertEqual(self.run_exec("sh", "-c", "exit 3"), {"exited": True, "exitcode": 3})
        self.assertEqual(self.run_exec("sh", "-c", "kill -9 $$", capture_output=True),
                         {"exited": True, "signal": 9})
        self.assertEqual(self.run_exec("sh", "-c", "kill -TERM $$"), {"exited": True, "signal": 15})

    def test_output_over_the_cap_is_truncated(self):
        status = self.run_exec("head", "-c", "20M", "/dev/zero", capture_output="merged")
        self.assertTrue(status["out-truncated"])
        self.assertEqual(unb64(status["out-data"]), bytes(OUTPUT_MAX))
        self.assertEqual(status["exitcode"], 0)
        self.assertNotIn("err-data", status)
        self.assertIn("truncated at 16777216 bytes", self.agent.log_text())

    def test_no_inherited_descriptors(self):
        status = self.run_exec("sh", "-c", "ls /proc/$$/fd", capture_output=True)
        self.assertEqual(unb64(status["out-data"]), b"0\n1\n2\n")

    def test_signal_mask_dispositions_session_and_directory(self):
        pid = self.start("cat", "/proc/self/status", capture_output=True)
        text = unb64(self.wait(pid)["out-data"]).decode()
        fields = dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)
        self.assertEqual(fields["SigBlk"], "0000000000000000")
        self.assertEqual(fields["SigIgn"], "0000000000000000")  # the agent ignores SIGPIPE
        self.assertEqual(fields["NSsid"], str(pid))  # a session of its own
        self.assertEqual(self.run_exec("pwd", capture_output=True)["out-data"], b64("/\n"))

    # --- the agent never waits -----------------------------------------------------------------

    def test_a_child_that_never_exits_blocks_nothing(self):
        # nor does one that never reads the input it was given
        sleeper = self.start("sleep", "1000", input_data=b64(bytes(600000)),
                             capture_output=True)
        self.assertEqual(self.client.execute("guest-ping"), {"return": {}})
        self.assertEqual(self.run_exec("echo", "meanwhile", capture_output=True)["out-data"],
                         b64("meanwhile\n"))
        self.assertEqual(self.client.ok("guest-exec-status", {"pid": sleeper}),
                         {"exited": False})
        self.assertEqual(self.kill_and_wait(sleeper), {"exited": True, "signal": 9})

    def test_a_process_outlives_its_host(self):
        pid = self.start("sleep", "1000", capture_output=True)
        self.client.close()
        self.client = self.agent.client()
        self.assertEqual(self.client.ok("guest-exec-status", {"pid": pid}), {"exited": False})
        self.assertEqual(self.kill_and_wait(pid), {"exited": True, "signal": 9})

    def test_processes_outlive_the_agent(self):
        pid = self.start("sleep", "1000", capture_output=True)
        self.assertEqual(self.agent.stop(), 0)
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        self.assertIn(state, ("S", "R"))  # running, neither killed nor a zombie

    def test_a_finished_process_outlives_its_host(self):
        pid = self.start("echo", "kept", capture_output=True)
        self.client.close()
        self.client = self.agent.client()
        self.assertEqual(self.wait(pid)["out-data"], b64("kept\n"))

    def test_a_daemon_holding_stdout_does_not_keep_exited_false(self):
        status = self.run_exec("sh", "-c", "sleep 1000 & echo $!", capture_output=True)
        daemon = int(unb64(status["out-data"]))
        self.live.add(daemon)
        self.assertEqual(status, {"exited": True, "exitcode": 0,
                                  "out-data": status["out-data"], "out-truncated": False})
        self.assertIn("descendant still holds its output pipe open", self.agent.log_text())
        self.assertEqual(self.client.execute("guest-ping"), {"return": {}})
        # the agent drains the pipe (the daemon's writes must not fail) until the daemon lets
        # go, then closes it
        self.assertTrue(self.agent_pipes())
        os.kill(daemon, signal.SIGKILL)
        self.live.discard(daemon)
        deadline = time.monotonic() + qalib.TIMEOUT
        while self.agent_pipes():
            self.assertLess(time.monotonic(), deadline, self.agent.fds())
            time.sleep(0.02)

    def agent_pipes(self):
        # (valgrind, as QA_AGENT_WRAPPER, keeps pipes of its own above 1024)
        return [fd for fd, target in self.agent.fds().items()
                if target.startswith("pipe:") and fd < 1024]

    # --- reporting -----------------------------------------------------------------------------

    def test_an_end_is_reported_once(self):
        pid = self.start("true")
        self.assertEqual(self.wait(pid), {"exited": True, "exitcode": 0})
        self.assert_error(self.client.execute("guest-exec-status", {"pid": pid}),
                          f"PID {pid} does not exist")

    def test_unknown_pids(self):
        for pid in (0, -1, 1, os.getpid(), 2**31, 2**63 - 1, -(2**63)):
            with self.subTest(pid=pid):
                self.assert_error(self.client.execute("guest-exec-status", {"pid": pid}),
                                  f"PID {pid} does not exist")

    def test_unreported_ends_are_bounded(self):
        pids = [self.start("true") for _ in range(FINISHED_MAX + 1)]
        # the end that came first goes (processes may end in any order)
        pattern = re.compile(r"exec pid=(\d+) dropped its end before a host asked for it: "
                             r"too many ended processes")
        deadline = time.monotonic() + qalib.TIMEOUT
        while not pattern.search(self.agent.log_text()):
            self.assertLess(time.monotonic(), deadline, "no end was dropped")
            time.sleep(0.02)
        dropped = int(pattern.search(self.agent.log_text()).group(1))
        self.assertIn(dropped, pids)
        self.live.discard(dropped)
        self.assert_error(self.client.execute("guest-exec-status", {"pid": dropped}),
                          "does not exist")
        for pid in pids:
            if pid != dropped:
                self.assertEqual(self.wait(pid), {"exited": True, "exitcode": 0})

    def test_running_processes_are_bounded(self):
        pids = [self.start("sleep", "1000") for _ in range(RUNNING_MAX)]
        reply = self.client.execute("guest-exec", {"path": "true"})
        self.assert_error(reply, f"at most {RUNNING_MAX}")
        self.assertEqual(self.client.execute("guest-ping"), {"return": {}})
        self.assertEqual(self.kill_and_wait(pids[0]), {"exited": True, "signal": 9})
        self.assertEqual(self.run_exec("true"), {"exited": True, "exitcode": 0})

    # --- hostile arguments ---------------------------------------------------------------------

    def test_hostile_arguments(self):
        bad = [
            ({"path": ""}, "empty"),
            ({"path": "sh", "arg": ["-c", "x", "y" * 200000]}, "Argument 3"),
            ({"path": "env", "env": ["A=" + "y" * 200000]}, "Environment entry 0"),
            ({"path": "cat", "input-data": "!!!"}, "input-data"),
            ({"path": "cat", "input-data": "aGVsb"}, "input-data"),
            ({"path": "cat", "input-data": "QQ=A"}, "input-data"),
            ({"path": "echo", "capture-output": 5}, None),
            ({"path": "echo", "capture-output": "everything"}, None),
            ({"path": "echo", "arg": "not-a-list"}, None),
            ({"path": "echo", "arg": [1, 2]}, None),
            ({"path": "echo", "env": [None]}, None),
            ({"path": 5}, None),
            ({"path": ["echo"]}, None),
            ({"arg": ["x"]}, None),
            ({"path": "echo", "unknown": 1}, None),
        ]
        for arguments, contains in bad:
            with self.subTest(arguments=str(arguments)[:80]):
                self.assert_error(self.client.execute("guest-exec", arguments), contains)
        for arguments in ({"pid": "1"}, {"pid": 1.5}, {}, {"pid": 2**64}):
            with self.subTest(arguments=arguments):
                self.assert_error(self.client.execute("guest-exec-status", arguments))
        self.assertEqual(self.client.execute("guest-ping"), {"return": {}})

    def test_huge_argument_lists(self):
        # as many as a request may hold (65536 values)
        args = ["x"] * 60000
        status = self.run_exec("sh", "-c", 'echo $#', "sh", *args, capture_output=True)
        self.assertEqual(status["out-data"], b64("60000\n"))
        # and as long as a request may hold, in arguments execve() takes
        args = ["y" * 100000] * 9
        status = self.run_exec("sh", "-c", 'echo ${#1} $#', "sh", *args, capture_output=True)
        self.assertEqual(status["out-data"], b64("100000 9\n"))


class StrayFdTest(ExecCase, unittest.TestCase):
    """An agent that holds a descriptor open across exec itself still passes none on."""

    agent_class = StrayFdAgent

    def test_no_inherited_descriptors(self):
        self.assertIn(9, self.agent.fds())
        status = self.run_exec("sh", "-c", "ls /proc/$$/fd", capture_output=True)
        self.assertEqual(unb64(status["out-data"]), b"0\n1\n2\n")


@unittest.skipIf(os.geteuid() != 0, "needs root for loop mounts")
class FrozenTest(unittest.TestCase):
    """While the agent holds a filesystem frozen, exec runs; the child may block, the agent
    never does."""

    def test_exec_while_frozen(self):
        with qalib.LoopMounts() as mounts:
            mp = mounts.add("ext4")
            with qalib.Agent(f"--confine-mounts={mounts.root}", "--fsfreeze-timeout=60") as agent:
                client = agent.client()
                self.assertEqual(client.ok("guest-fsfreeze-freeze-list", {"mountpoints": [mp]}),
                                 1)
                try:
                    target = os.path.join(mp, "written")
                    pid = client.ok("guest-exec", {"path": "sh", "arg": [
                        "-c", f"echo x > {target}"], "capture-output": True})["pid"]
                    deadline = time.monotonic() + qalib.TIMEOUT
                    while not qalib.waits_for_freeze(pid):
                        self.assertLess(time.monotonic(), deadline, "child never blocked")
                        time.sleep(0.02)
                    self.assertEqual(client.ok("guest-exec-status", {"pid": pid}),
                                     {"exited": False})
                    self.assertEqual(client.execute("guest-ping"), {"return": {}})
                    other = client.ok("guest-exec", {"path": "echo", "arg": ["free"],
                                                      "capture-output": True})["pid"]
                    while True:
                        status = client.ok("guest-exec-status", {"pid": other})
                        if status["exited"]:
                            break
                        self.assertLess(time.monotonic(), deadline)
                        time.sleep(0.02)
                    self.assertEqual(status["out-data"], b64("free\n"))
                finally:
                    client.ok("guest-fsfreeze-thaw")
                while True:
                    status = client.ok("guest-exec-status", {"pid": pid})
                    if status["exited"]:
                        break
                    self.assertLess(time.monotonic(), deadline)
                    time.sleep(0.02)
                self.assertEqual(status, {"exited": True, "exitcode": 0})
                with open(target) as f:
                    self.assertEqual(f.read(), "x\n")
                client.close()


if __name__ == "__main__":
    unittest.main()
