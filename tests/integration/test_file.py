"""guest-file-* over the socket, as Proxmox, KubeVirt and libvirt users drive them, on files in a
temporary directory this test owns.

The host is root in the guest for these commands: it may name any path, and the agent resolves it
as the kernel does ('..' and symlinks included); nothing here pretends otherwise. What the agent
adds over QEMU's is safety: created files are 0600, FIFOs and sockets are refused instead of
hanging, handles are bounded, and writes to a filesystem the agent holds frozen are refused.
"""

import base64
import json
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import unittest

import qalib

MiB = 1024 * 1024
READ_MAX = 48 * MiB
MAX_HANDLES = 128
# under valgrind (QA_AGENT_WRAPPER) the agent is ~50 times slower
VALGRIND = bool(qalib.WRAPPER)


def b64(data):
    return base64.b64encode(data).decode()


def perl_base64(data):
    """What Perl's encode_base64($x) gives Proxmox: lines of 76 characters, each ending in \\n."""
    text = b64(data)
    return "".join(text[i:i + 76] + "\n" for i in range(0, len(text), 76))


class FileTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="qa-file-")
        self.agent = None
        self.client = None
        self.start()

    def start(self, *args):
        if self.agent is not None:
            self.client.close()
            self.agent.__exit__(None, None, None)
        self.agent = qalib.Agent("--confine-mounts", "/nonexistent-confinement", *args)
        self.client = self.agent.client()

    def tearDown(self):
        self.client.close()
        self.agent.__exit__(None, None, None)
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def put(self, name, data):
        with open(self.path(name), "wb") as f:
            f.write(data)
        return self.path(name)

    def get(self, name):
        with open(self.path(name), "rb") as f:
            return f.read()

    def error(self, command, arguments, contains=None):
        reply = self.client.execute(command, arguments)
        self.assertIn("error", reply, reply)
        self.assertEqual(reply["error"]["class"], "GenericError", reply)
        if contains is not None:
            self.assertIn(contains, reply["error"]["desc"])
        return reply["error"]["desc"]

    def open(self, path, mode=None):
        args = {"path": path}
        if mode is not None:
            args["mode"] = mode
        handle = self.client.ok("guest-file-open", args)
        self.assertIsInstance(handle, int)
        self.assertGreater(handle, 0)
        return handle

    def close(self, handle):
        self.assertEqual(self.client.ok("guest-file-close", {"handle": handle}), {})

    def read(self, handle, count=None):
        args = {"handle": handle}
        if count is not None:
            args["count"] = count
        r = self.client.ok("guest-file-read", args)
        self.assertEqual(set(r), {"count", "buf-b64", "eof"})
        data = base64.b64decode(r["buf-b64"])
        self.assertEqual(len(data), r["count"])
        return data, r["eof"]

    def write(self, handle, data, count=None, text=None):
        args = {"handle": handle, "buf-b64": text if text is not None else b64(data)}
        if count is not None:
            args["count"] = count
        r = self.client.ok("guest-file-write", args)
        self.assertEqual(r, {"count": len(data) if count is None else count, "eof": False})
        return r

    def seek(self, handle, offset, whence):
        r = self.client.ok("guest-file-seek", {"handle": handle, "offset": offset,
                                               "whence": whence})
        self.assertEqual(set(r), {"position", "eof"})
        self.assertFalse(r["eof"])
        return r["position"]

    def assert_alive(self):
        self.assertEqual(self.client.execute("guest-ping"), {"return": {}})

    # --- data ----------------------------------------------------------------------------------

    def test_write_then_read_back_binary(self):
        data = bytes(range(256)) * 5 + b"\x00\x00\xff\xff\x00"
        h = self.open(self.path("bin"), "wb")
        self.write(h, data)
        self.assertEqual(self.client.ok("guest-file-flush", {"handle": h}), {})
        self.close(h)
        self.assertEqual(self.get("bin"), data)
        h = self.open(self.path("bin"), "rb")
        self.assertEqual(self.read(h, 4096), (data, True))
        self.close(h)

    def test_proxmox_reads_1mib_chunks_until_eof(self):
        # qemu-server's agent file-read: guest-file-open {path}, then guest-file-read with
        # count 1 MiB while !eof, summing count and joining the decoded buffers
        for size in (0, 1, MiB, 2 * MiB, 2 * MiB + 12345):
            data = os.urandom(size)
            self.put("px", data)
            h = self.open(self.path("px"))
            got, total, eof, reads = b"", 0, False, 0
            while not eof:
                r = self.client.ok("guest-file-read", {"handle": h, "count": MiB})
                total += r["count"]
                got += base64.b64decode(r["buf-b64"])
                eof = r["eof"]
                reads += 1
                self.assertLessEqual(reads, size // MiB + 2, "the loop did not end")
            self.assertEqual((total, got), (size, data))
            self.close(h)

    def test_kubevirt_reads_once_with_the_default_count(self):
        self.put("small", b"ssh-ed25519 AAAA test\n")
        h = self.open(self.path("small"), "r")
        self.assertEqual(self.read(h), (b"ssh-ed25519 AAAA test\n", True))
        self.close(h)
        big = os.urandom(10000)
        self.put("big", big)
        h = self.open(self.path("big"), "r")
        self.assertEqual(self.read(h), (big[:4096], False))
        self.close(h)

    def test_read_exactly_to_the_end_then_eof(self):
        self.put("ten", b"0123456789")
        h = self.open(self.path("ten"))
        self.assertEqual(self.read(h, 10), (b"0123456789", False))
        self.assertEqual(self.read(h, 10), (b"", True))
        self.assertEqual(self.read(h, 10), (b"", True))
        self.close(h)

    def test_read_count_zero(self):
        self.put("z", b"abc")
        h = self.open(self.path("z"))
        self.assertEqual(self.client.ok("guest-file-read", {"handle": h, "count": 0}),
                         {"count": 0, "buf-b64": "", "eof": False})
        self.assertEqual(self.read(h, 3), (b"abc", False))
        self.close(h)

    def test_read_the_largest_count(self):
        h = self.open("/dev/zero")
        self.client.send(json.dumps({"execute": "guest-file-read",
                                     "arguments": {"handle": h, "count": READ_MAX}}))
        r = json.loads(self.read_big_line())["return"]
        self.assertEqual((r["count"], r["eof"]), (READ_MAX, False))
        self.assertEqual(len(r["buf-b64"]), READ_MAX // 3 * 4)
        self.close(h)

    def test_seek_by_name_and_number(self):
        self.put("s", b"0123456789")
        h = self.open(self.path("s"), "r")
        self.assertEqual(self.seek(h, 3, "set"), 3)
        self.assertEqual(self.read(h, 2), (b"34", False))
        self.assertEqual(self.seek(h, 2, "cur"), 7)
        self.assertEqual(self.read(h, 1), (b"7", False))
        self.assertEqual(self.seek(h, -3, "end"), 7)
        self.assertEqual(self.read(h, 100), (b"789", True))
        self.assertEqual(self.seek(h, 1, 0), 1)
        self.assertEqual(self.seek(h, 1, 1), 2)
        self.assertEqual(self.seek(h, -1, 2), 9)
        self.assertEqual(self.seek(h, 0, "set"), 0)
        self.assertEqual(self.read(h, 100), (b"0123456789", True))
        # past the end is allowed (lseek), and reads as the end
        self.assertEqual(self.seek(h, 100, "set"), 100)
        self.assertEqual(self.read(h, 10), (b"", True))
        self.error("guest-file-seek", {"handle": h, "offset": -1, "whence": "set"},
                   "Invalid argument")
        self.error("guest-file-seek", {"handle": h, "offset": -11, "whence": "end"},
                   "Invalid argument")
        for whence in (3, -1, 4, 2**63 - 1):
            self.error("guest-file-seek", {"handle": h, "offset": 0, "whence": whence},
                       'expected 0 ("set"), 1 ("cur") or 2 ("end")')
        for whence in ("start", "SET", "", 1.5, None, [], {}):
            self.error("guest-file-seek", {"handle": h, "offset": 0, "whence": whence})
        self.close(h)

    def test_append_mode(self):
        self.put("log", b"abc")
        h = self.open(self.path("log"), "a")
        self.write(h, b"def")
        self.seek(h, 0, "set")
        self.write(h, b"g")  # O_APPEND: at the end whatever the position
        self.close(h)
        self.assertEqual(self.get("log"), b"abcdefg")
        h = self.open(self.path("log"), "ab+")
        self.assertEqual(self.read(h, 100), (b"abcdefg", True))  # a+ reads from the start
        self.write(h, b"h")
        self.close(h)
        self.assertEqual(self.get("log"), b"abcdefgh")
        h = self.open(self.path("new-log"), "a")
        self.write(h, b"x")
        self.close(h)
        self.assertEqual(self.get("new-log"), b"x")

    def test_r_plus_updates_in_place(self):
        self.put("rp", b"hello world")
        for mode in ("r+", "rb+", "r+b"):
            h = self.open(self.path("rp"), mode)
            self.seek(h, 6, "set")
            self.write(h, b"WORLD")
            self.seek(h, 0, "set")
            self.assertEqual(self.read(h, 100), (b"hello WORLD", True))
            self.close(h)
            self.put("rp", b"hello world")
        self.error("guest-file-open", {"path": self.path("missing"), "mode": "r+"},
                   "No such file or directory")
        self.assertFalse(os.path.exists(self.path("missing")))

    def test_w_truncates(self):
        for mode in ("w", "wb", "w+", "wb+", "w+b"):
            self.put("t", b"old contents")
            h = self.open(self.path("t"), mode)
            self.assertEqual(os.path.getsize(self.path("t")), 0)
            self.write(h, b"new")
            self.close(h)
            self.assertEqual(self.get("t"), b"new")

    def test_write_count(self):
        h = self.open(self.path("c"), "w")
        self.write(h, b"abcdef"[:4], count=4, text=b64(b"abcdef"))
        self.write(h, b"", count=0, text=b64(b"xyz"))
        self.write(h, b"", text="")
        for count in (-1, 7, 2**63 - 1, -2**63):
            self.error("guest-file-write", {"handle": h, "buf-b64": b64(b"abcdef"),
                                            "count": count},
                       "is invalid for argument count")
        self.close(h)
        self.assertEqual(self.get("c"), b"abcd")

    def test_base64_with_newlines(self):
        data = os.urandom(1000) + b"\x00\xff"
        h = self.open(self.path("px"), "wb")  # Proxmox's file-write
        self.write(h, data, text=perl_base64(data))
        self.write(h, b"ab", text="Y\r\nW\nI=\n")
        self.close(h)
        self.assertEqual(self.get("px"), data + b"ab")

    def test_invalid_base64_writes_nothing(self):
        h = self.open(self.path("inv"), "w")
        for text in ("not base64!", "YWJj ZA==", "YQ===", "Y", "YWJj\t", "\u00e9t\u00e9"):
            self.error("guest-file-write", {"handle": h, "buf-b64": text}, "Invalid base64")
        # a NUL cannot reach the decoder: the JSON reader refuses it in any string
        self.error("guest-file-write", {"handle": h, "buf-b64": "YWJj\x00ZA=="})
        self.close(h)
        self.assertEqual(self.get("inv"), b"")

    def test_large_write(self):
        # the largest request is 1 MiB: about 760 KiB of data in one write
        data = os.urandom(760 * 1024)
        h = self.open(self.path("large"), "wb")
        self.write(h, data)
        self.close(h)
        self.assertEqual(self.get("large"), data)

    # --- open ----------------------------------------------------------------------------------

    def test_handles_count_up_and_are_never_reused(self):
        self.put("f", b"")
        first = self.open(self.path("f"))
        # at least QEMU's agent's first handle, and random above it so that a handle an earlier
        # agent gave never names a file this one opened
        self.assertGreaterEqual(first, 1000)
        self.assertEqual(first % 1000, 0)
        self.close(first)
        second = self.open(self.path("f"))
        self.assertEqual(second, first + 1)
        self.error("guest-file-read", {"handle": first}, f"handle '{first}' has not been found")
        self.close(second)

    def test_default_mode_is_r(self):
        self.put("d", b"data")
        h = self.open(self.path("d"))
        self.error("guest-file-write", {"handle": h, "buf-b64": b64(b"x")},
                   "opened for reading only (mode 'r')")
        self.close(h)
        self.assertEqual(self.get("d"), b"data")

    def test_modes_refused(self):
        for mode in ("", "rw", "x", "R", "r+ ", "rt", "wx", "+"):
            self.error("guest-file-open", {"path": self.path("m"), "mode": mode},
                       f"invalid file open mode '{mode}'; expected one of r, rb, w, wb, a, ab")
        self.assertFalse(os.path.exists(self.path("m")))

    def test_created_file_is_0600_with_a_permissive_umask(self):
        old = os.umask(0)
        try:
            self.start()  # the agent inherits umask 0
        finally:
            os.umask(old)
        for mode in ("w", "wb", "a", "ab", "w+", "wb+", "a+", "ab+"):
            h = self.open(self.path("new-" + mode), mode)
            self.close(h)
            self.assertEqual(stat.S_IMODE(os.stat(self.path("new-" + mode)).st_mode), 0o600)

    def test_existing_file_keeps_its_mode(self):
        for mode_bits in (0o644, 0o755, 0o666, 0o400):
            path = self.put("keep", b"x")
            os.chmod(path, mode_bits)
            for mode in ("w", "a", "r+"):
                self.close(self.open(path, mode))
                self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), mode_bits)

    def test_missing_file(self):
        path = self.path("missing")
        desc = self.error("guest-file-open", {"path": path, "mode": "r"})
        # KubeVirt looks for this substring; the rest is QEMU's wording
        self.assertEqual(desc, f"failed to open file '{path}' (mode: 'r'): "
                         "No such file or directory")
        self.error("guest-file-open", {"path": self.path("no/dir/x"), "mode": "w"},
                   "No such file or directory")

    def test_relative_path_refused(self):
        for path in ("tmp/x", "x", "", "./x", "../etc/passwd", "~/x"):
            self.error("guest-file-open", {"path": path, "mode": "w"}, "is not absolute")
        self.assertFalse(os.path.exists("x"))

    def test_dotdot_resolves_as_the_kernel_does(self):
        os.mkdir(self.path("sub"))
        self.put("target", b"through dotdot")
        h = self.open(os.path.join(self.dir, "sub", "..", "target"))
        self.assertEqual(self.read(h), (b"through dotdot", True))
        self.close(h)
        h = self.open(self.dir + "/sub/../../" + os.path.basename(self.dir) + "/created", "w")
        self.close(h)
        self.assertTrue(os.path.exists(self.path("created")))
        # the host may name any file, as root: the agent does not pretend otherwise
        h = self.open("/etc/../etc/os-release")
        self.read(h)
        self.close(h)

    def test_fifo_and_socket_refused_without_hanging(self):
        fifo = self.path("fifo")
        os.mkfifo(fifo)
        for mode in ("r", "w", "r+", "a", "w+"):
            self.error("guest-file-open", {"path": fifo, "mode": mode},
                       f"Cannot open '{fifo}': it is a FIFO (named pipe)")
            self.assert_alive()
        sock_path = self.path("sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(sock_path)
            for mode in ("r", "w"):
                self.error("guest-file-open", {"path": sock_path, "mode": mode},
                           "it is a socket")
        finally:
            sock.close()
        # nothing was left open
        self.put("f", b"")
        first = self.open(self.path("f"))
        self.close(first)
        self.assertEqual(self.open(self.path("f")), first + 1)

    def test_directory(self):
        h = self.open(self.dir, "r")
        self.error("guest-file-read", {"handle": h}, "Is a directory")
        self.close(h)
        for mode in ("w", "a", "r+"):
            self.error("guest-file-open", {"path": self.dir, "mode": mode}, "Is a directory")

    def test_too_many_handles(self):
        path = self.put("many", b"x")
        handles = [self.open(path) for _ in range(MAX_HANDLES)]
        self.error("guest-file-open", {"path": path}, f"{MAX_HANDLES} handles are open")
        # refused before opening: a 'w' open beyond the bound truncates nothing
        self.error("guest-file-open", {"path": path, "mode": "w"}, "close one first")
        self.assertEqual(self.get("many"), b"x")
        self.close(handles.pop())
        handles.append(self.open(path))
        for h in handles:
            self.close(h)
        self.assertEqual(len([fd for fd, target in self.agent.fds().items()
                              if target == path]), 0)

    # --- handles and arguments -----------------------------------------------------------------

    def test_bad_handles(self):
        path = self.put("b", b"data")
        closed = self.open(path)
        self.close(closed)
        for handle in (0, -1, 1, 999, 1001, closed, 2**63 - 1, -2**63):
            contains = f"handle '{handle}' has not been found"
            self.error("guest-file-read", {"handle": handle}, contains)
            self.error("guest-file-read", {"handle": handle, "count": -1}, contains)
            self.error("guest-file-write", {"handle": handle, "buf-b64": "YQ=="}, contains)
            self.error("guest-file-seek", {"handle": handle, "offset": 0, "whence": "set"},
                       contains)
            self.error("guest-file-flush", {"handle": handle}, contains)
            self.error("guest-file-close", {"handle": handle}, contains)
        for handle in ("1000", 1000.5, None, True, [1000], 2**64):
            self.error("guest-file-read", {"handle": handle})
            self.error("guest-file-close", {"handle": handle})
        self.error("guest-file-read", {})
        self.error("guest-file-open", {"path": path, "mode": 1})
        self.error("guest-file-open", {"mode": "r"})
        self.assert_alive()

    def test_counts(self):
        h = self.open(self.put("n", b"data"))
        for count in (-1, -2**63, READ_MAX + 1, 2**31, 2**63 - 1):
            self.error("guest-file-read", {"handle": h, "count": count},
                       "expected 0 to 50331648 bytes (48 MiB)")
        for count in ("1", 1.5, [], {}):
            self.error("guest-file-read", {"handle": h, "count": count})
        self.assertEqual(self.read(h, 4), (b"data", False))
        self.close(h)

    def test_access_modes(self):
        path = self.put("am", b"data")
        h = self.open(path, "w")
        self.error("guest-file-read", {"handle": h}, "opened for writing only (mode 'w')")
        self.close(h)
        h = self.open(path, "a")
        self.error("guest-file-read", {"handle": h}, "opened for writing only (mode 'a')")
        self.close(h)

    def test_flush(self):
        h = self.open(self.path("fl"), "w")
        self.write(h, b"durable")
        self.assertEqual(self.client.ok("guest-file-flush", {"handle": h}), {})
        self.close(h)
        h = self.open(self.path("fl"), "r")
        self.assertEqual(self.client.ok("guest-file-flush", {"handle": h}), {})
        self.close(h)
        # a device with nothing to make durable flushes as QEMU's fflush() did
        h = self.open("/dev/null", "w")
        self.write(h, b"gone")
        self.assertEqual(self.client.ok("guest-file-flush", {"handle": h}), {})
        self.close(h)

    def test_handles_outlive_the_connection(self):
        # QEMU's handles belong to the agent, not to a connection: a host may reconnect
        h = self.open(self.put("k", b"kept"))
        self.client.close()
        self.client = self.agent.client()
        self.assertEqual(self.read(h), (b"kept", True))
        self.close(h)

    def test_ping_answered_while_a_file_command_runs(self):
        # the file commands run on the system thread; ping is answered on the main loop at once,
        # so its reply overtakes the replies of reads queued before it
        count = MiB if VALGRIND else READ_MAX
        h = self.open("/dev/zero")
        reqs = [{"execute": "guest-file-read", "arguments": {"handle": h, "count": count},
                 "id": i} for i in range(2)]
        reqs.append({"execute": "guest-ping", "id": "ping"})
        self.client.send("".join(json.dumps(r) for r in reqs))
        first = json.loads(self.read_big_line())
        self.assertEqual(first, {"return": {}, "id": "ping"})
        for i in range(2):
            reply = json.loads(self.read_big_line())
            self.assertEqual((reply["id"], reply["return"]["count"]), (i, count))
        self.close(h)

    def test_get_disks_waits_for_the_system_thread_only(self):
        # guest-get-disks runs on the system thread (an NVMe controller that does not answer
        # holds it until the kernel's admin timeout): behind file reads sent before it, and never
        # in the way of a main-thread command sent after it
        count = MiB if VALGRIND else READ_MAX
        h = self.open("/dev/zero")
        reqs = [{"execute": "guest-file-read", "arguments": {"handle": h, "count": count},
                 "id": i} for i in range(2)]
        reqs += [{"execute": "guest-get-disks", "id": "disks"},
                 {"execute": "guest-get-host-name", "id": "name"}]
        self.client.send("".join(json.dumps(r) for r in reqs))
        ids = [json.loads(self.read_big_line())["id"] for _ in reqs]
        self.assertEqual(ids, ["name", 0, 1, "disks"])
        self.close(h)

    def read_big_line(self):
        """A reply line of up to 64 MiB (qalib's reader joins bytes objects quadratically)."""
        buf = bytearray(self.client.buf)
        start = 0
        while True:
            end = buf.find(b"\n", start)
            if end >= 0:
                self.client.buf = bytes(buf[end + 1:])
                return bytes(buf[:end])
            start = len(buf)
            chunk = self.client.sock.recv(4 * MiB)
            if not chunk:
                raise ConnectionError("agent closed the connection")
            buf += chunk

    def test_opens_are_logged(self):
        h = self.open(self.put("logged", b""), "r")
        self.close(h)
        self.assertIn(f"opened file handle={h} path={self.path('logged')} mode=r",
                      self.agent.log_text())


def can_freeze():
    if os.geteuid() != 0:
        return "needs root for loop mounts"
    for tool in ("mkfs.ext4", "fsfreeze"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    return None


@unittest.skipIf(can_freeze(), can_freeze())
class FrozenFileTest(unittest.TestCase):
    """Writes to a filesystem the agent holds frozen are refused, not left to block the agent's
    system thread until the thaw; reads, seeks, flushes and closes go on."""

    def setUp(self):
        self.mounts = qalib.LoopMounts()
        self.addCleanup(self.mounts.close)
        self.mp = self.mounts.add("ext4", "frozen")
        self.outside = tempfile.mkdtemp(prefix="qa-file-")
        self.addCleanup(shutil.rmtree, self.outside, True)
        self.agent = qalib.Agent("--confine-mounts", self.mounts.root)
        self.addCleanup(self.agent.__exit__, None, None, None)
        self.client = self.agent.client()
        self.addCleanup(self.client.close)

    def error(self, command, arguments, contains):
        reply = self.client.execute(command, arguments)
        self.assertEqual(reply.get("error", {}).get("class"), "GenericError", reply)
        self.assertIn(contains, reply["error"]["desc"])

    def test_writes_refused_while_frozen(self):
        path = os.path.join(self.mp, "f")
        w = self.client.ok("guest-file-open", {"path": path, "mode": "w+"})
        self.client.ok("guest-file-write", {"handle": w, "buf-b64": b64(b"before")})
        os.rename(path, os.path.join(self.mp, "renamed"))
        outside = self.client.ok("guest-file-open",
                                 {"path": os.path.join(self.outside, "o"), "mode": "w"})
        self.assertEqual(self.client.ok("guest-fsfreeze-freeze"), 1)
        try:
            # the handle's file is checked, whatever became of its name
            self.error("guest-file-write", {"handle": w, "buf-b64": b64(b"during")},
                       f"Cannot write to handle {w} ('{path}'):")
            self.error("guest-file-write", {"handle": w, "buf-b64": b64(b"during")},
                       "which the agent holds frozen")
            for mode in ("w", "a", "r+", "w+"):
                self.error("guest-file-open", {"path": os.path.join(self.mp, "new"),
                                               "mode": mode},
                           "Cannot open for writing:")
            self.assertFalse(os.path.exists(os.path.join(self.mp, "new")))
            # reading, seeking, flushing (the freeze wrote everything) and closing go on
            self.client.ok("guest-file-seek", {"handle": w, "offset": 0, "whence": "set"})
            r = self.client.ok("guest-file-read", {"handle": w})
            self.assertEqual(base64.b64decode(r["buf-b64"]), b"before")
            self.assertEqual(self.client.ok("guest-file-flush", {"handle": w}), {})
            rd = self.client.ok("guest-file-open", {"path": os.path.join(self.mp, "renamed")})
            self.client.ok("guest-file-close", {"handle": rd})
            # another filesystem is not frozen
            self.client.ok("guest-file-write", {"handle": outside, "buf-b64": b64(b"o")})
        finally:
            self.client.ok("guest-fsfreeze-thaw")
        self.client.ok("guest-file-write", {"handle": w, "buf-b64": b64(b" after")})
        self.client.ok("guest-file-close", {"handle": w})
        self.client.ok("guest-file-close", {"handle": outside})
        with open(os.path.join(self.mp, "renamed"), "rb") as f:
            self.assertEqual(f.read(), b"before after")


if __name__ == "__main__":
    unittest.main()
