"""Test helpers: start the real agent binary on a unix socket and talk to it as a host would.

Every wait has a timeout, so a broken agent fails a test instead of hanging it.

QA_TRANSPORT picks how the agent is reached:
- unix (default): the Linux agent with -m unix-listen on a socket in a temp dir;
- wine-pipe: the Windows agent (QA_AGENT is quiesce-agent.exe) under wine with -m pipe on a
  named pipe. A Linux process cannot open a wine named pipe, so QA_RELAY (qa-pipe-relay.exe,
  also under wine) listens on a loopback TCP port and relays each connection to the pipe. The
  client keeps real socket semantics; what a named pipe cannot do (half-close), and what only
  Linux has (signals, pidfiles, socket activation), is skipped with skip_unless_unix.
"""

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

AGENT = os.environ.get("QA_AGENT", "")
TIMEOUT = float(os.environ.get("QA_TIMEOUT", "20"))
TRANSPORT = os.environ.get("QA_TRANSPORT", "unix")
RELAY = os.environ.get("QA_RELAY", "")
IS_WINE = TRANSPORT == "wine-pipe"
# where agents keep their state: a memory filesystem on Linux, as the freezer requires
STATE_ROOT = "/dev/shm" if not IS_WINE and os.path.isdir("/dev/shm") else None
# the method a test uses for a client-per-connection channel
LISTEN_METHOD = "pipe" if IS_WINE else "unix-listen"


def agent_command(*args):
    """The command line that runs the agent binary with ARGS (under wine for Windows)."""
    return (["wine", AGENT] if IS_WINE else [AGENT]) + list(args)


def run_agent_once(*args, timeout=60):
    """Runs the agent with ARGS to completion (no channel: --help, -D, bad command lines).

    The agent never fails without saying why. Under wine, a process that exits 1 having
    printed nothing at all is wine failing to start it (seen once in CI under load, with
    WINEDEBUG=-all hiding wine's own reason): that one case is run again, once, with wine's
    errors shown, and what the second run does is what counts."""
    def run(env=None):
        return subprocess.run(agent_command(*args), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL, env=env)
    r = run()
    if IS_WINE and r.returncode == 1 and not r.stdout and not r.stderr:
        env = dict(os.environ, WINEDEBUG="err+all,fixme-all")
        r = run(env)
        print(f"wine ran {' '.join(args)} and exited 1 without a word; again with wine's "
              f"errors shown: exit {r.returncode}\n{r.stderr}", file=sys.stderr)
    return r


def skip_unless_unix(reason):
    import unittest
    return unittest.skipIf(IS_WINE, f"not on {TRANSPORT}: {reason}")


def stop_signal():
    """What stops the agent: SIGTERM on Linux; under wine SIGINT, which wine turns into the
    console's Ctrl-C event."""
    return signal.SIGINT if IS_WINE else signal.SIGTERM
# a command the agent runs under, e.g. "valgrind -q --error-exitcode=1" (dev.sh test does)
WRAPPER = shlex.split(os.environ.get("QA_AGENT_WRAPPER", ""))


class Agent:
    """The agent process, its temp dir, socket, state dir and log."""

    def __init__(self, *extra_args, config=None, env=None):
        if not AGENT:
            raise RuntimeError("QA_AGENT must name the agent binary")
        self.tmp = tempfile.mkdtemp(prefix="qa-test-")
        # the agent wants its state on a memory filesystem; /tmp need not be one
        self.statedir = tempfile.mkdtemp(prefix="qa-state-", dir=STATE_ROOT)
        self.logpath = os.path.join(self.tmp, "agent.log")
        self.relay = None
        if IS_WINE:
            self.sock = "\\\\.\\pipe\\" + os.path.basename(self.tmp)
        else:
            self.sock = os.path.join(self.tmp, "agent.sock")
        args = agent_command("-m", LISTEN_METHOD, "-p", self.sock, "-t", self.statedir, "-v")
        if config is not None:
            path = os.path.join(self.tmp, "agent.conf")
            with open(path, "w") as f:
                f.write(config)
            args += ["-c", path]
        self.args = WRAPPER + args + list(extra_args)
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.returncode = None
        self.start()

    def start(self):
        self.log = open(self.logpath, "ab")
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, env=self.env)
        if IS_WINE:
            self.wait_ready_wine()
            return
        deadline = time.monotonic() + TIMEOUT
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent exited with {self.proc.returncode}:\n{self.log_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError("agent did not create its socket in time")
            time.sleep(0.02)

    def wait_ready_wine(self):
        deadline = time.monotonic() + TIMEOUT
        while " ready" not in self.log_text():
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent exited with {self.proc.returncode}:\n{self.log_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError("agent did not get ready in time:\n" + self.log_text())
            time.sleep(0.05)
        if self.relay is None:
            self.relay = subprocess.Popen(["wine", RELAY, self.sock], stdin=subprocess.DEVNULL,
                                          stdout=subprocess.PIPE, env=self.env)
            self.port = int(self.relay.stdout.readline())

    def client(self):
        if IS_WINE:
            return Client(("127.0.0.1", self.port))
        return Client(self.sock)

    def log_text(self):
        with open(self.logpath, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def send_signal(self, signum):
        self.proc.send_signal(signum)

    def status(self):
        """/proc/PID/status of the agent: {"VmRSS": kB, "VmHWM": kB, ...} (kB fields only;
        an exited agent has none)."""
        values = {}
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                parts = rest.split()
                if len(parts) == 2 and parts[1] == "kB":
                    values[key] = int(parts[0])
        return values

    def fds(self):
        """The agent's open file descriptors: {fd: what it points to}."""
        base = f"/proc/{self.proc.pid}/fd"
        found = {}
        for name in os.listdir(base):
            try:
                found[int(name)] = os.readlink(os.path.join(base, name))
            except FileNotFoundError:
                pass
        return found

    def stop(self, sig=None):
        """Stops the agent; returns its exit status (also when it was stopped before)."""
        sig = sig if sig is not None else stop_signal()
        if self.relay is not None:
            self.relay.kill()
            self.relay.wait()
            self.relay.stdout.close()
            self.relay = None
        if self.proc is None:
            return self.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError("agent did not stop on SIGTERM")
        self.log.close()
        self.returncode = self.proc.returncode
        self.proc = None
        return self.returncode

    def close(self):
        try:
            rc = self.stop()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
            shutil.rmtree(self.statedir, ignore_errors=True)
        return rc

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        rc = self.stop()
        text = self.log_text()
        shutil.rmtree(self.tmp, ignore_errors=True)
        shutil.rmtree(self.statedir, ignore_errors=True)
        if exc[0] is None:
            # sanitizer builds report at exit; a clean run exits 0 with no report
            if "Sanitizer" in text or "runtime error:" in text:
                raise AssertionError("sanitizer report in agent log:\n" + text)
            if rc != 0:
                raise AssertionError(f"agent exited with {rc}:\n{text}")
        return False


class Client:
    """A host on the other end of the channel."""

    def __init__(self, path):
        family = socket.AF_INET if isinstance(path, tuple) else socket.AF_UNIX
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        try:
            self.sock.connect(path)
        except OSError:
            self.sock.close()
            raise
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def read_line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("agent closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def reply(self):
        line = self.read_line()
        assert all(b < 0x80 for b in line), f"reply is not ASCII: {line!r}"
        return json.loads(line)

    def execute(self, command, arguments=None, **extra):
        req = {"execute": command}
        if arguments is not None:
            req["arguments"] = arguments
        req.update(extra)
        self.send(json.dumps(req))
        return self.reply()

    def ok(self, command, arguments=None):
        r = self.execute(command, arguments)
        assert "return" in r, f"{command} failed: {r}"
        return r["return"]

    def sync_delimited(self, ident=None):
        """What most clients do: 0xFF, guest-sync-delimited, skip to the 0xFF, read the reply."""
        ident = ident if ident is not None else int(time.time() * 1000)
        self.send(b"\xff" + json.dumps({"execute": "guest-sync-delimited",
                                        "arguments": {"id": ident}}).encode())
        while True:
            while b"\xff" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("agent closed the connection")
                self.buf += chunk
            self.buf = self.buf.split(b"\xff", 1)[1]
            r = self.reply()
            if r.get("return") == ident:
                return r

    def sync(self, ident=None):
        """What libvirt does: plain guest-sync, skip lines until the reply carries our id."""
        ident = ident if ident is not None else int(time.time() * 1000)
        self.send(json.dumps({"execute": "guest-sync", "arguments": {"id": ident}}) + "\n")
        while True:
            r = self.reply()
            if r.get("return") == ident:
                return r

    def close(self):
        self.sock.close()


class LoopMounts:
    """Filesystem images this test creates, loop-mounted below a directory it owns.

    The only filesystems host tests may freeze. Everything is unmounted, detached and deleted on
    exit, also when the test fails; anything still frozen is thawed first.
    """

    MKFS = {
        "ext4": ["mkfs.ext4", "-q", "-F"],
        "xfs": ["mkfs.xfs", "-q", "-f"],
        "btrfs": ["mkfs.btrfs", "-q", "-f"],
    }
    SIZE_MB = {"ext4": 64, "xfs": 320, "btrfs": 128}

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="qa-mounts-")
        self.mountpoints = []  # in mount order

    def add(self, fstype, name=None, size_mb=None, image_dir=None):
        name = name or f"{fstype}{len(self.mountpoints)}"
        image = os.path.join(image_dir or self.root, name.replace("/", "_") + ".img")
        with open(image, "wb") as f:
            f.truncate((size_mb or self.SIZE_MB[fstype]) * 1024 * 1024)
        subprocess.run(self.MKFS[fstype] + [image], check=True, stdout=subprocess.DEVNULL)
        mp = os.path.join(self.root, name)
        os.makedirs(mp, exist_ok=True)
        subprocess.run(["mount", "-o", "loop", image, mp], check=True)
        self.mountpoints.append(mp)
        return mp

    def bind(self, source, name):
        mp = os.path.join(self.root, name)
        os.makedirs(mp, exist_ok=True)
        subprocess.run(["mount", "--bind", source, mp], check=True)
        self.mountpoints.append(mp)
        return mp

    def close(self):
        for mp in reversed(self.mountpoints):
            subprocess.run(["fsfreeze", "--unfreeze", mp], stderr=subprocess.DEVNULL)
        for mp in reversed(self.mountpoints):
            # -d detaches the loop device of a loop mount; a lazy unmount never blocks cleanup
            subprocess.run(["umount", "-d", mp], stderr=subprocess.DEVNULL)
            if os.path.ismount(mp):
                subprocess.run(["umount", "-l", "-d", mp], stderr=subprocess.DEVNULL)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


# where a task waits when it asks a frozen filesystem for write access: sb_start_write() and
# mnt_want_write() take the superblock's percpu rwsem, which FIFREEZE holds for writing (6.x
# shows percpu_rwsem_wait; older kernels wait in __percpu_down_read or __sb_start_write)
FREEZE_WAITS = ("percpu_rwsem_wait", "__percpu_down_read", "__sb_start_write")


def waits_for_freeze(pid):
    """Whether process PID is blocked in the kernel waiting for a frozen filesystem to thaw
    (its stack needs root, as freezing does)."""
    for name in ("wchan", "stack"):
        try:
            with open(f"/proc/{pid}/{name}") as f:
                text = f.read()
        except OSError:
            continue
        if any(w in text for w in FREEZE_WAITS):
            return True
    return False


class FreezeChecks:
    """What the loop-image freeze suites assert with (mixed into a unittest.TestCase that has
    self.client and a classmethod mp(name) giving the mountpoint of image NAME)."""

    def error(self, command, arguments=None, client=None):
        r = (client or self.client).execute(command, arguments)
        self.assertIn("error", r, f"{command} should fail: {r}")
        self.assertEqual(r["error"]["class"], "GenericError")
        return r["error"]["desc"]

    def writer(self, name):
        """A process writing to the filesystem; blocks while it is frozen."""
        path = os.path.join(self.mp(name), "probe")
        return subprocess.Popen(["sh", "-c", f"echo x > {path} && sync {path}"])

    def assert_blocked(self, proc):
        """Waits until the writer is seen waiting for a frozen filesystem in the kernel: no
        sleep decides it, so a slow machine only makes it slower."""
        deadline = time.monotonic() + TIMEOUT
        while not waits_for_freeze(proc.pid):
            self.assertIsNone(proc.poll(), "the writer was not blocked by the freeze")
            self.assertLess(time.monotonic(), deadline, "the writer neither finished nor "
                            "waited for a frozen filesystem")
            time.sleep(0.01)

    def assert_completes(self, proc):
        self.assertEqual(proc.wait(timeout=15), 0)


def needs_root(test):
    import unittest
    return unittest.skipUnless(os.geteuid() == 0, "needs root for loop mounts")(test)
