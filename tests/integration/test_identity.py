"""guest-get-osinfo, guest-get-host-name, guest-get-timezone, guest-get-users, guest-get-load
over the socket, against what Python reads from the same system, in the shapes libvirt requires.

Changes the tests need (a renamed host, a new /etc/localtime, logins, another os-release) are
made only inside namespaces the agent is started in (unshare --mount --uts): the machine's own
host name, zone, utmp and os-release are never touched. When Debian's qemu-guest-agent is
installed, its qemu-ga is run beside the agent, in the same namespaces, and the replies are
compared; differences kept on purpose are asserted as such.
"""

import datetime
import os
import platform
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import zoneinfo

import qalib

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "identity")
QEMU_GA = shutil.which("qemu-ga")
NO_ARGS = ["guest-get-osinfo", "guest-get-host-name", "guest-get-timezone", "guest-get-users",
           "guest-get-load"]
OSINFO_KEYS = {"id", "name", "pretty-name", "version", "version-id", "machine", "variant",
               "variant-id", "kernel-release", "kernel-version"}


class NsAgent(qalib.Agent):
    """The agent started under PREFIX (an unshare/nsenter command line ending where the agent's
    own command line begins)."""

    def __init__(self, prefix, *args, **kwargs):
        self.prefix = list(prefix)
        super().__init__(*args, **kwargs)

    def start(self):
        if self.args[:len(self.prefix)] != self.prefix:
            self.args = self.prefix + self.args
        super().start()

    def nsenter(self, *kinds):
        """The command prefix that enters the agent's namespaces of KINDS ("mount", "uts",
        "net")."""
        return ["nsenter", "-t", str(self.proc.pid)] + [f"--{k}" for k in kinds] + ["--"]


class QemuGa:
    """Debian's qemu-ga on a unix socket of its own (never as a service), its freeze commands
    blocked, under PREFIX (nsenter into an agent's namespaces) when given."""

    def __init__(self, prefix=()):
        self.tmp = tempfile.mkdtemp(prefix="qa-qemu-ga-")
        self.sock = os.path.join(self.tmp, "qga.sock")
        state = os.path.join(self.tmp, "state")
        os.mkdir(state)
        self.log = open(os.path.join(self.tmp, "qga.log"), "wb")
        self.proc = subprocess.Popen(
            list(prefix) + [QEMU_GA, "-m", "unix-listen", "-p", self.sock, "-t", state,
                            "-b", "guest-fsfreeze-freeze,guest-fsfreeze-freeze-list"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        # qemu-ga binds its socket in place and listens after: the path shows up before a
        # connect can succeed, so wait for a connect, not for the path.
        deadline = time.monotonic() + qalib.TIMEOUT
        self.client = None
        while self.client is None:
            try:
                self.client = qalib.Client(self.sock)
            except (FileNotFoundError, ConnectionRefusedError):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.close()
                    raise RuntimeError("qemu-ga did not start")
                time.sleep(0.02)

    def execute(self, command):
        return self.client.execute(command)

    def close(self):
        if getattr(self, "client", None) is not None:
            self.client.close()
            self.client = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=qalib.TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def needs_qemu_ga(test):
    return unittest.skipUnless(QEMU_GA and os.geteuid() == 0,
                               "qemu-guest-agent is not installed (or not root)")(test)


def needs_namespaces(test):
    return unittest.skipUnless(os.geteuid() == 0 and shutil.which("unshare"),
                               "needs root and unshare for namespaces")(test)


def check_shapes(test, client):
    """Every member libvirt requires, with the type it requires (qemu_agent.c)."""
    osinfo = client.ok("guest-get-osinfo")
    test.assertIsInstance(osinfo, dict)
    test.assertLessEqual(set(osinfo), OSINFO_KEYS)
    test.assertTrue(all(isinstance(v, str) for v in osinfo.values()))
    # vdsm reads kernel-release whenever id is there
    test.assertIn("id", osinfo)
    test.assertIn("kernel-release", osinfo)
    name = client.ok("guest-get-host-name")
    test.assertEqual(set(name), {"host-name"})
    test.assertIsInstance(name["host-name"], str)
    tz = client.ok("guest-get-timezone")
    test.assertLessEqual(set(tz), {"zone", "offset"})
    test.assertIsInstance(tz["offset"], int)
    users = client.ok("guest-get-users")
    test.assertIsInstance(users, list)
    for user in users:
        test.assertLessEqual(set(user), {"user", "login-time", "domain"})
        test.assertIsInstance(user["user"], str)
        test.assertIsInstance(user["login-time"], (int, float))
    load = client.ok("guest-get-load")
    test.assertEqual(set(load), {"load1m", "load5m", "load15m"})
    test.assertTrue(all(isinstance(v, (int, float)) and v >= 0 for v in load.values()))


def who_users(utmp=None):
    """The user of each session `who` lists (what utmp says, read by util-linux)."""
    out = subprocess.run(["who"] + ([utmp] if utmp else []), check=True,
                         capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def zone_file(name):
    return os.path.join("/usr/share/zoneinfo", name)


class TestHost(unittest.TestCase):
    """The commands on this machine as it is, against Python's view of it."""

    @classmethod
    def setUpClass(cls):
        cls.agent = qalib.Agent()
        cls.client = cls.agent.client()

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        # as leaving a with block: a non-zero exit (valgrind) or a sanitizer report fails
        cls.agent.__exit__(None, None, None)

    def test_shapes(self):
        check_shapes(self, self.client)

    def test_osinfo(self):
        osinfo = self.client.ok("guest-get-osinfo")
        uts = os.uname()
        release = platform.freedesktop_os_release()
        self.assertEqual(osinfo["kernel-release"], uts.release)
        self.assertEqual(osinfo["kernel-version"], uts.version)
        self.assertEqual(osinfo["machine"], uts.machine)
        for key, field in (("id", "ID"), ("name", "NAME"), ("pretty-name", "PRETTY_NAME"),
                           ("version", "VERSION"), ("version-id", "VERSION_ID"),
                           ("variant", "VARIANT"), ("variant-id", "VARIANT_ID")):
            self.assertEqual(osinfo.get(key), release.get(field), key)

    def test_host_name(self):
        self.assertEqual(self.client.ok("guest-get-host-name"),
                         {"host-name": socket.gethostname()})

    def test_timezone(self):
        tz = self.client.ok("guest-get-timezone")
        now = time.localtime()
        self.assertEqual(tz["offset"], now.tm_gmtoff)
        self.assertEqual(tz.get("zone"), now.tm_zone)

    def test_users(self):
        users = self.client.ok("guest-get-users")
        self.assertEqual([u["user"] for u in users], list(dict.fromkeys(who_users())))

    def test_load(self):
        # getloadavg(), as qemu-ga: the kernel's values to 1/65536, not /proc/loadavg's two
        # decimals. They change every 5 s: a reading between two equal ones is exact
        for _ in range(10):
            before = os.getloadavg()
            load = self.client.ok("guest-get-load")
            if os.getloadavg() == before:
                break
        self.assertEqual((load["load1m"], load["load5m"], load["load15m"]), before)

    def test_hostile_arguments(self):
        """None of these take arguments: an unknown member or a non-object is refused, and
        the agent goes on answering."""
        for command in NO_ARGS:
            self.assertIn("return", self.client.execute(command, {}))
            for args in ({"x": 1}, {"path": "../../etc/shadow"}, {"id": "x" * 100000}, [],
                         "x", 1, True):
                r = self.client.execute(command, args)
                self.assertIn("error", r, f"{command} {args!r:.40}")
                self.assertEqual(r["error"]["class"], "GenericError", f"{command} {args!r:.40}")
            self.assertIn("return", self.client.execute(command))

    @needs_qemu_ga
    def test_same_as_qemu_ga(self):
        with QemuGa() as qga:
            mine = self.client.ok("guest-get-osinfo")
            theirs = qga.execute("guest-get-osinfo")["return"]
            self.assertEqual(mine, theirs)
            for command in ("guest-get-host-name", "guest-get-timezone", "guest-get-users"):
                self.assertEqual(self.client.ok(command), qga.execute(command)["return"], command)
            # guest-get-load came in QEMU 10.0: Debian 12's 7.2 does not know it
            r = qga.execute("guest-get-load")
            if "return" in r:
                self.assertEqual(set(r["return"]), set(self.client.ok("guest-get-load")))


@needs_namespaces
class TestNamespaces(unittest.TestCase):
    """The agent in mount and UTS namespaces of its own, where the test renames the host,
    replaces /etc/localtime and /etc/os-release, and gives it a utmp written by glibc."""

    SETUP = r"""
set -eu
utmp=$1; tzfile=$2; osrel=$3; shift 3
hostname qa-before-rename
mount -t tmpfs qa-run /run
cp "$utmp" /run/utmp
mount --bind "$tzfile" /etc/localtime
mount --bind "$osrel" /etc/os-release
exec "$@"
"""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="qa-identity-")
        cls.tzfile = os.path.join(cls.tmp, "localtime")
        shutil.copyfile(zone_file("Etc/UTC"), cls.tzfile)
        os.utime(cls.tzfile, (1000000000, 1000000000))
        cls.osrel = os.path.join(cls.tmp, "os-release")
        shutil.copyfile(os.path.join(FIXTURES, "os-release", "fedora-server"), cls.osrel)
        prefix = ["unshare", "--mount", "--uts", "--propagation", "private", "--",
                  "sh", "-c", cls.SETUP, "sh", os.path.join(FIXTURES, "utmp"), cls.tzfile,
                  cls.osrel]
        try:
            cls.agent = NsAgent(prefix)
        except Exception:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise
        cls.client = cls.agent.client()

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        try:
            # as leaving a with block: a non-zero exit (valgrind) or a sanitizer report fails
            cls.agent.__exit__(None, None, None)
        finally:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def set_zone(self, name, mtime):
        # rewritten in place (the bind mount holds the inode) with a new mtime, which is what
        # glibc's tzset() compares
        with open(zone_file(name), "rb") as src, open(self.tzfile, "r+b") as dst:
            dst.truncate(0)
            dst.write(src.read())
        os.utime(self.tzfile, (mtime, mtime))

    def test_shapes(self):
        check_shapes(self, self.client)

    def test_host_name_follows_a_rename(self):
        self.assertEqual(self.client.ok("guest-get-host-name"), {"host-name": "qa-before-rename"})
        subprocess.run(self.agent.nsenter("uts") + ["hostname", "qa-after-rename"], check=True)
        self.assertEqual(self.client.ok("guest-get-host-name"), {"host-name": "qa-after-rename"})
        subprocess.run(self.agent.nsenter("uts") + ["hostname", "qa-before-rename"], check=True)
        self.assertNotEqual(socket.gethostname(), "qa-after-rename")

    def test_timezone_follows_localtime(self):
        try:
            for name, mtime in (("Etc/UTC", 1000000000), ("Asia/Tokyo", 1100000000),
                                ("America/New_York", 1200000000), ("Etc/UTC", 1300000000)):
                self.set_zone(name, mtime)
                tz = self.client.ok("guest-get-timezone")
                now = datetime.datetime.now(zoneinfo.ZoneInfo(name))
                self.assertEqual(tz["offset"], int(now.utcoffset().total_seconds()), name)
                self.assertEqual(tz["zone"], now.tzname(), name)
        finally:
            self.set_zone("Etc/UTC", 1400000000)

    def test_users_from_utmp(self):
        users = self.client.ok("guest-get-users")
        # one entry per user, in the order of their first record, each with the earliest login
        self.assertEqual(users, [
            {"user": "alice", "login-time": 1767299000.125},
            {"user": "bob", "login-time": 1767300100.5},
            {"user": "abcdefghijklmnopqrstuvwxyz012345", "login-time": 1767301000.000001},
            {"user": "root", "login-time": 1767302000.999999},
        ])
        self.assertEqual([u["user"] for u in users],
                         list(dict.fromkeys(who_users(os.path.join(FIXTURES, "utmp")))))

    def test_osinfo_variant(self):
        osinfo = self.client.ok("guest-get-osinfo")
        self.assertEqual(osinfo["id"], "fedora")
        self.assertEqual(osinfo["variant"], "Server Edition")
        self.assertEqual(osinfo["variant-id"], "server")
        self.assertEqual(osinfo["version"], "39 (Server Edition)")
        self.assertEqual(osinfo["kernel-release"], os.uname().release)

    @needs_qemu_ga
    def test_same_as_qemu_ga(self):
        with QemuGa(self.agent.nsenter("mount", "uts")) as qga:
            self.assertEqual(self.client.ok("guest-get-osinfo"),
                             qga.execute("guest-get-osinfo")["return"])
            self.assertEqual(self.client.ok("guest-get-host-name"),
                             qga.execute("guest-get-host-name")["return"])
            mine = self.client.ok("guest-get-users")
            theirs = qga.execute("guest-get-users")["return"]
            self.assertEqual([type(u["login-time"]) for u in mine],
                             [type(u["login-time"]) for u in theirs])
            # qemu-ga copies ut_user with g_strdup(): a name filling all 32 bytes runs on
            # into ut_host. Ours stops at the field's end; every other entry is the same.
            long_name = "abcdefghijklmnopqrstuvwxyz012345"
            for a, b in zip(mine, theirs):
                if a["user"] == long_name:
                    self.assertTrue(b["user"].startswith(long_name))
                    self.assertEqual(a["login-time"], b["login-time"])
                else:
                    self.assertEqual(a, b)
            self.assertEqual(len(mine), len(theirs))


if __name__ == "__main__":
    unittest.main()
