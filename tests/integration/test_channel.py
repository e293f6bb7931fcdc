"""Transports other than unix-listen, and the process around the channel."""

import os
import select
import signal
import socket
import subprocess
import tempfile
import time
import tty
import unittest

import qalib


def read_reply(fd, timeout=qalib.TIMEOUT):
    buf = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise TimeoutError(f"no reply, got {buf!r}")
        buf += os.read(fd, 4096)
    return buf


class SerialTest(unittest.TestCase):
    def test_isa_serial_over_a_pty(self):
        """isa-serial puts the tty in raw mode: bytes pass unchanged, in both directions."""
        master, slave = os.openpty()
        path = os.ttyname(slave)
        tmp = tempfile.mkdtemp()
        log = open(os.path.join(tmp, "log"), "wb")
        proc = subprocess.Popen([qalib.AGENT, "-m", "isa-serial", "-p", path, "-t",
                                 os.path.join(tmp, "state"), "-v"], stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            os.close(slave)
            deadline = time.monotonic() + qalib.TIMEOUT
            while True:
                with open(log.name, "rb") as f:
                    if b"ready" in f.read():
                        break
                self.assertLess(time.monotonic(), deadline, "agent not ready")
                time.sleep(0.02)
            # a line-disciplined tty would swallow 0xFF or translate \r: raw mode must not
            os.write(master, b'\xff{"execute":"guest-sync-delimited","arguments":{"id":77}}\r')
            self.assertEqual(read_reply(master), b'\xff{"return":77}\n')
            os.write(master, b'{"execute":"guest-ping"}')
            self.assertEqual(read_reply(master), b'{"return":{}}\n')
        finally:
            proc.terminate()
            self.assertEqual(proc.wait(timeout=qalib.TIMEOUT), 0)
            os.close(master)
            log.close()


class PortPathTest(unittest.TestCase):
    def wait_log(self, log_path, text, count=1):
        deadline = time.monotonic() + qalib.TIMEOUT
        while True:
            with open(log_path, "rb") as f:
                if f.read().count(text) >= count:
                    return
            self.assertLess(time.monotonic(), deadline, f"no {text!r} in the log")
            time.sleep(0.02)

    def ping(self, master):
        os.write(master, b'{"execute":"guest-ping"}\n')
        self.assertEqual(read_reply(master), b'{"return":{}}\n')

    def test_port_path_gone_and_back(self):
        """A virtio-serial port's path is followed the way udev changes it on hot-unplug: the
        link and its directory vanish (the dead descriptor is closed), then come back (the port
        is opened again), in a directory that did not exist when the agent started."""
        master, slave = os.openpty()
        tty.setraw(slave)  # so the pty passes the agent's bytes unchanged, like a port
        tmp = tempfile.mkdtemp()
        ports = os.path.join(tmp, "dev", "virtio-ports")
        port = os.path.join(ports, "org.qemu.guest_agent.0")
        log_path = os.path.join(tmp, "log")
        log = open(log_path, "wb")
        proc = subprocess.Popen([qalib.AGENT, "-m", "virtio-serial", "-p", port, "-t",
                                 os.path.join(tmp, "state"), "-v"], stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            self.wait_log(log_path, b"waiting for channel")
            t0 = time.monotonic()
            os.makedirs(ports)
            os.symlink(os.ttyname(slave), port)
            self.wait_log(log_path, b"opened channel")
            print(f"opened {time.monotonic() - t0:.3f} s after its path appeared")
            self.ping(master)

            t0 = time.monotonic()
            os.unlink(port)
            os.rmdir(ports)
            self.wait_log(log_path, b"lost channel")
            print(f"closed {time.monotonic() - t0:.3f} s after its path went")

            t0 = time.monotonic()
            os.makedirs(ports)
            os.symlink(os.ttyname(slave), port)
            self.wait_log(log_path, b"opened channel", count=2)
            print(f"opened again {time.monotonic() - t0:.3f} s after its path came back")
            self.ping(master)
            self.assertEqual(proc.poll(), None)
        finally:
            proc.terminate()
            self.assertEqual(proc.wait(timeout=qalib.TIMEOUT), 0)
            os.close(master)
            os.close(slave)
            log.close()


def vsock_loopback_available():
    if not hasattr(socket, "AF_VSOCK"):
        return False
    try:
        s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
        s.bind((socket.VMADDR_CID_ANY, 0))
        port = s.getsockname()[1]
        s.listen(1)
        c = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
        c.settimeout(1)
        c.connect((1, port))  # VMADDR_CID_LOCAL: needs the vsock_loopback module
        c.close()
        s.close()
        return True
    except OSError:
        return False


class VsockTest(unittest.TestCase):
    @unittest.skipUnless(vsock_loopback_available(), "no vsock loopback in this kernel")
    def test_vsock_listen(self):
        tmp = tempfile.mkdtemp()
        proc = subprocess.Popen([qalib.AGENT, "-m", "vsock-listen", "-p", "-1:7777", "-t",
                                 os.path.join(tmp, "state")])
        try:
            deadline = time.monotonic() + qalib.TIMEOUT
            while True:
                try:
                    c = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
                    c.connect((1, 7777))
                    break
                except OSError:
                    self.assertLess(time.monotonic(), deadline)
                    time.sleep(0.05)
            c.sendall(b'{"execute":"guest-sync","arguments":{"id":3}}')
            self.assertEqual(c.recv(100), b'{"return":3}\n')
        finally:
            proc.terminate()
            self.assertEqual(proc.wait(timeout=qalib.TIMEOUT), 0)

    def test_bad_vsock_address(self):
        r = subprocess.run([qalib.AGENT, "-m", "vsock-listen", "-p", "nonsense"],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 1)
        self.assertIn("is not CID:PORT", r.stderr)


class UnixListenTest(unittest.TestCase):
    """-m unix-listen and the socket file: a live agent's socket is never replaced, a stale one
    is, and an agent removes at exit only the socket it made."""

    def test_a_live_socket_is_not_replaced(self):
        with qalib.Agent() as first:
            before = os.stat(first.sock)
            r = subprocess.run([qalib.AGENT, "-m", "unix-listen", "-p", first.sock, "-t",
                                os.path.join(first.tmp, "state2")],
                               capture_output=True, text=True, timeout=20)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("a process listens on it already", r.stderr)
            after = os.stat(first.sock)
            self.assertEqual((before.st_dev, before.st_ino), (after.st_dev, after.st_ino))
            c = first.client()
            self.assertEqual(c.execute("guest-sync", {"id": 1}), {"return": 1})
            c.close()

    def test_a_stale_socket_is_replaced(self):
        tmp = tempfile.mkdtemp()
        path = os.path.join(tmp, "agent.sock")
        stale = socket.socket(socket.AF_UNIX)
        stale.bind(path)
        stale.close()  # the file stays; nothing listens on it
        proc = subprocess.Popen([qalib.AGENT, "-m", "unix-listen", "-p", path, "-t",
                                 os.path.join(tmp, "state")], stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + qalib.TIMEOUT
            while True:
                try:
                    c = qalib.Client(path)
                    break
                except ConnectionRefusedError:
                    self.assertIsNone(proc.poll(), "the agent did not replace a stale socket")
                    self.assertLess(time.monotonic(), deadline)
                    time.sleep(0.05)
            self.assertEqual(c.execute("guest-sync", {"id": 2}), {"return": 2})
            c.close()
        finally:
            proc.terminate()
            self.assertEqual(proc.wait(timeout=qalib.TIMEOUT), 0)
        self.assertFalse(os.path.exists(path), "the agent left its own socket behind")

    def test_a_socket_replaced_meanwhile_is_left_at_exit(self):
        """Another process took the path while the agent ran: at exit the agent removes
        nothing, where it used to unlink whatever was there by then."""
        with qalib.Agent() as agent:
            os.unlink(agent.sock)
            other = socket.socket(socket.AF_UNIX)
            other.bind(agent.sock)
            other.listen(1)
            mine = os.stat(agent.sock)
            self.assertEqual(agent.stop(), 0)
            self.assertTrue(os.path.exists(agent.sock), "the agent removed another's socket")
            self.assertEqual(os.stat(agent.sock).st_ino, mine.st_ino)
            self.assertIn("no longer the socket this agent created", agent.log_text())
            other.close()


class ProcessTest(unittest.TestCase):
    def test_logfile(self):
        tmp = tempfile.mkdtemp()
        logfile = os.path.join(tmp, "agent.log")
        with qalib.Agent("-l", logfile) as agent:
            c = agent.client()
            c.execute("guest-pingg")
            c.close()
            agent.stop()
            with open(logfile) as f:
                text = f.read()
            self.assertIn("ready", text)
            self.assertIn("guest-pingg has not been found", text)

    def test_journald_priorities(self):
        """Under systemd (JOURNAL_STREAM names stderr), lines carry syslog priorities and no
        timestamp of their own: journald adds one."""
        tmp = tempfile.mkdtemp()
        path = os.path.join(tmp, "stderr")
        with open(path, "wb") as err:
            st = os.fstat(err.fileno())
            proc = subprocess.Popen([qalib.AGENT, "-m", "unix-listen", "-p",
                                     os.path.join(tmp, "s"), "-t", os.path.join(tmp, "state")],
                                    stderr=err, env=dict(os.environ,
                                                         JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}"))
            deadline = time.monotonic() + qalib.TIMEOUT
            while not os.path.exists(os.path.join(tmp, "s")):
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.02)
            proc.terminate()
            self.assertEqual(proc.wait(timeout=qalib.TIMEOUT), 0)
        with open(path) as f:
            lines = f.read().splitlines()
        self.assertIn("<5>quiesce-agent: quiesce-agent 0.1.0 ready", lines)
        for line in lines:
            self.assertRegex(line, r"^<[0-7]>")

    def test_host_text_cannot_forge_log_lines(self):
        """What a host sends reaches the log escaped: a command name with a newline and a
        journald priority prefix stays inside its own line."""
        tmp = tempfile.mkdtemp()
        path = os.path.join(tmp, "stderr")
        sock = os.path.join(tmp, "s")
        with open(path, "wb") as err:
            st = os.fstat(err.fileno())
            proc = subprocess.Popen([qalib.AGENT, "-m", "unix-listen", "-p", sock, "-t",
                                     os.path.join(tmp, "state"), "-v"],
                                    stderr=err, env=dict(os.environ,
                                                         JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}"))
            try:
                deadline = time.monotonic() + qalib.TIMEOUT
                while not os.path.exists(sock):
                    self.assertLess(time.monotonic(), deadline)
                    time.sleep(0.02)
                c = qalib.Client(sock)
                c.send(b'{"execute":"guest-x\\n<0>quiesce-agent: forged\\r\\u001b[2K"}')
                self.assertEqual(c.reply()["error"]["class"], "CommandNotFound")
                c.send(b'{"execute":"guest-ping","arguments":{"\\n<1>evil":1}}')
                self.assertIn("error", c.reply())
                c.close()
            finally:
                proc.terminate()
                self.assertEqual(proc.wait(timeout=qalib.TIMEOUT), 0)
        with open(path, "rb") as f:
            lines = f.read().split(b"\n")
        self.assertEqual(lines[-1], b"")
        for line in lines[:-1]:
            self.assertRegex(line, rb"^<[0-7]>quiesce-agent: ")
            self.assertNotIn(b"\r", line)
            self.assertNotIn(b"\x1b", line)
        self.assertTrue(any(b"guest-x\\n<0>quiesce-agent: forged\\r\\x1b[2K" in line
                            for line in lines), lines)
        self.assertTrue(any(b"\\n<1>evil" in line for line in lines), lines)

    def test_sighup_reopens_the_log_file(self):
        """As logrotate expects: after the file was moved away, SIGHUP makes the agent write a
        new one, and it goes on serving."""
        tmp = tempfile.mkdtemp()
        logfile = os.path.join(tmp, "agent.log")
        with qalib.Agent("-l", logfile) as agent:
            os.rename(logfile, logfile + ".1")
            agent.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + qalib.TIMEOUT
            while not os.path.exists(logfile):
                self.assertLess(time.monotonic(), deadline, "no new log file after SIGHUP")
                time.sleep(0.02)
            c = agent.client()
            self.assertEqual(c.execute("guest-pingg")["error"]["class"], "CommandNotFound")
            c.close()
            agent.stop()
            with open(logfile) as f:
                self.assertIn("guest-pingg has not been found", f.read())

    def test_daemonize(self):
        tmp = tempfile.mkdtemp()
        sock = os.path.join(tmp, "s")
        pidfile = os.path.join(tmp, "pid")
        r = subprocess.run([qalib.AGENT, "-d", "-m", "unix-listen", "-p", sock, "-f", pidfile,
                            "-t", os.path.join(tmp, "state"), "-l", os.path.join(tmp, "log")],
                           timeout=20)
        self.assertEqual(r.returncode, 0)
        deadline = time.monotonic() + qalib.TIMEOUT
        while not (os.path.exists(pidfile) and os.path.exists(sock)):
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.02)
        pid = int(open(pidfile).read())
        try:
            c = qalib.Client(sock)
            self.assertEqual(c.execute("guest-sync", {"id": 5}), {"return": 5})
            c.close()
            # a second agent on the same pidfile refuses to start
            r = subprocess.run([qalib.AGENT, "-m", "unix-listen", "-p", sock + "2", "-f",
                                pidfile, "-t", os.path.join(tmp, "state")],
                               capture_output=True, text=True, timeout=20)
            self.assertEqual(r.returncode, 1)
            self.assertIn("another quiesce-agent is running", r.stderr)
        finally:
            os.kill(pid, 15)
            deadline = time.monotonic() + qalib.TIMEOUT
            while os.path.exists(pidfile):
                self.assertLess(time.monotonic(), deadline, "pidfile not removed")
                time.sleep(0.02)


if __name__ == "__main__":
    unittest.main(verbosity=2)
