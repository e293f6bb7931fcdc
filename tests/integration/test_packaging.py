"""What `meson install` ships: every promised file where the docs say, a unit systemd accepts, a
configuration the agent accepts, man pages that render, and docs naming every option and key.

Registered by packaging/meson.build (suite 'packaging'), which passes the install directories
it computed; nothing here runs as a service or touches the machine outside a temporary
directory.
"""

import os
import re
import shutil
import stat
import subprocess
import tempfile
import unittest

ENV = os.environ
AGENT = ENV["QA_AGENT"]
BUILD_ROOT = ENV["QA_BUILD_ROOT"]
SOURCE_ROOT = ENV["QA_SOURCE_ROOT"]
SBINDIR = ENV["QA_INSTALL_SBINDIR"]
CONFDIR = ENV["QA_INSTALL_CONFDIR"]
UNITDIR = ENV["QA_INSTALL_UNITDIR"]
UDEVRULESDIR = ENV["QA_INSTALL_UDEVRULESDIR"]
MANDIR = ENV["QA_INSTALL_MANDIR"]
DOCDIR = ENV["QA_INSTALL_DOCDIR"]
EXPECT_MAN = ENV.get("QA_EXPECT_MAN") == "1"

PORT = "/dev/virtio-ports/org.qemu.guest_agent.0"
# keys that exist for the test suite only: documented in quiesce-agent.conf(5) or hidden,
# never in the shipped configuration
TEST_ONLY_KEYS = {"confine-mounts", "mountinfo"}
HIDDEN_KEYS = {"mountinfo"}

# every file the package promises, and its mode (None: a directory)
PROMISED = {
    f"{SBINDIR}/quiesce-agent": 0o755,
    f"{UNITDIR}/quiesce-agent.service": 0o644,
    f"{UDEVRULESDIR}/99-quiesce-agent.rules": 0o644,
    f"{CONFDIR}/quiesce-agent.conf": 0o644,
    f"{CONFDIR}/fsfreeze-hook": 0o755,
    f"{CONFDIR}/fsfreeze-hook.d": None,
    # a sample must never run: the default hook runs every executable in the directory
    f"{CONFDIR}/fsfreeze-hook.d/mysql-flush.sh.sample": 0o644,
    f"{DOCDIR}/protocol.md": 0o644,
    f"{DOCDIR}/operator-guide.md": 0o644,
    f"{DOCDIR}/examples/hooks-need-more.conf.example": 0o644,
}
MAN_PAGES = {
    f"{MANDIR}/man8/quiesce-agent.8": ("8", ["OPTIONS", "SIGNALS", "EXIT STATUS", "FILES", "EXAMPLES"]),
    f"{MANDIR}/man5/quiesce-agent.conf.5": ("5", ["KEYS", "EXAMPLE"]),
}


def run(cmd, **kwargs):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kwargs)


def ini_values(text, key):
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(key + "=")]


class Installed(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.destdir = tempfile.mkdtemp(prefix="qa-packaging-")
        result = run(["meson", "install", "-C", BUILD_ROOT, "--no-rebuild", "--quiet",
                      "--destdir", cls.destdir])
        if result.returncode != 0:
            shutil.rmtree(cls.destdir)
            raise AssertionError(f"meson install failed:\n{result.stdout}{result.stderr}")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.destdir)

    def staged(self, path):
        return os.path.join(self.destdir, path.lstrip("/"))

    def read(self, path):
        with open(self.staged(path)) as f:
            return f.read()

    # --- the file list ------------------------------------------------------------------------

    def test_promised_files_installed_with_their_modes(self):
        promised = dict(PROMISED)
        if EXPECT_MAN:
            promised.update({page: 0o644 for page in MAN_PAGES})
        for path, mode in promised.items():
            with self.subTest(path=path):
                st = os.lstat(self.staged(path))
                if mode is None:
                    self.assertTrue(stat.S_ISDIR(st.st_mode), f"{path} is not a directory")
                else:
                    self.assertTrue(stat.S_ISREG(st.st_mode), f"{path} is not a regular file")
                    self.assertEqual(oct(stat.S_IMODE(st.st_mode)), oct(mode), path)

    def test_nothing_unpromised_installed(self):
        promised = set(PROMISED) | (set(MAN_PAGES) if EXPECT_MAN else set())
        installed = set()
        for root, dirs, files in os.walk(self.destdir):
            for name in files:
                installed.add("/" + os.path.relpath(os.path.join(root, name), self.destdir))
        self.assertEqual(sorted(installed - promised), [],
                         "installed but not promised: add it to PROMISED, the Debian and RPM "
                         "file lists and the operator's guide")

    # --- the systemd unit ---------------------------------------------------------------------

    def unit(self):
        return self.read(f"{UNITDIR}/quiesce-agent.service")

    def test_unit_starts_the_installed_agent_on_the_port(self):
        unit = self.unit()
        self.assertEqual(ini_values(unit, "ExecStart"), [f"{SBINDIR}/quiesce-agent"])
        self.assertEqual(ini_values(unit, "Type"), ["notify"])
        if shutil.which("systemd-escape"):
            device = run(["systemd-escape", "--path", PORT]).stdout.strip() + ".device"
            self.assertEqual(ini_values(unit, "BindsTo"), [device])
            self.assertEqual(ini_values(unit, "After"), [device])

    def test_unit_keeps_the_state_directory(self):
        unit = self.unit()
        self.assertEqual(ini_values(unit, "RuntimeDirectoryPreserve"), ["yes"])
        self.assertEqual(ini_values(unit, "RuntimeDirectoryMode"), ["0700"])
        dump = self.dump_conf("[general]\n")
        self.assertEqual("/run/" + ini_values(unit, "RuntimeDirectory")[0],
                         ini_values(dump, "statedir")[0])

    def verify_unit(self, dropin=None):
        if shutil.which("systemd-analyze") is None:
            self.skipTest("systemd-analyze is not installed")
        with tempfile.TemporaryDirectory() as tmp:
            # ExecStart must exist for verify: point it at the staged binary
            unit = self.unit().replace(f"ExecStart={SBINDIR}/",
                                       f"ExecStart={self.staged(SBINDIR)}/")
            with open(os.path.join(tmp, "quiesce-agent.service"), "w") as f:
                f.write(unit)
            if dropin is not None:
                os.mkdir(os.path.join(tmp, "quiesce-agent.service.d"))
                shutil.copy(dropin, os.path.join(tmp, "quiesce-agent.service.d", "x.conf"))
            env = dict(os.environ)
            man = ["--man=no"]
            if EXPECT_MAN:
                # Documentation=man:... must resolve to the staged man pages
                env["MANPATH"] = self.staged(MANDIR)
                man = []
            result = run(["systemd-analyze", "verify", *man,
                          os.path.join(tmp, "quiesce-agent.service")], env=env)
        # unknown keys and bad values are only warnings: the output must be empty too
        self.assertEqual((result.returncode, result.stdout + result.stderr), (0, ""))

    def test_unit_passes_systemd_analyze_verify(self):
        self.verify_unit()

    def test_hooks_dropin_example_passes_systemd_analyze_verify(self):
        self.verify_unit(self.staged(f"{DOCDIR}/examples/hooks-need-more.conf.example"))

    def test_udev_rule_wants_the_unit(self):
        rules = [line for line in self.read(f"{UDEVRULESDIR}/99-quiesce-agent.rules").splitlines()
                 if line.strip() and not line.startswith("#")]
        self.assertEqual(len(rules), 1, rules)
        keys = [k.strip() for k in rules[0].split(", ")]
        self.assertIn('SUBSYSTEM=="virtio-ports"', keys)
        self.assertIn(f'ATTR{{name}}=="{os.path.basename(PORT)}"', keys)
        self.assertIn('TAG+="systemd"', keys)
        self.assertIn('ENV{SYSTEMD_WANTS}+="quiesce-agent.service"', keys)

    # --- the configuration --------------------------------------------------------------------

    def dump_conf(self, text=None, path=None):
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
            if path is None:
                f.write(text)
                f.flush()
                path = f.name
            result = run([AGENT, "-c", path, "--dump-conf"])
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stdout

    def test_shipped_configuration_is_accepted(self):
        dump = self.dump_conf(path=self.staged(f"{CONFDIR}/quiesce-agent.conf"))
        self.assertEqual(ini_values(dump, "fsfreeze-timeout"), ["600"])
        # the hook it names is the one installed beside it
        self.assertEqual(ini_values(dump, "fsfreeze-hook"), [f"{CONFDIR}/fsfreeze-hook"])
        self.assertEqual(ini_values(dump, "daemonize"), ["false"])
        self.assertEqual(ini_values(dump, "path"), [PORT])

    def test_shipped_configuration_shows_every_key(self):
        keys = set(re.findall(r"^([a-z-]+)=", self.dump_conf("[general]\n"), re.M))
        shipped = self.read(f"{CONFDIR}/quiesce-agent.conf")
        for key in sorted(keys - TEST_ONLY_KEYS):
            with self.subTest(key=key):
                self.assertRegex(shipped, rf"(?m)^#?{key}=")
        for key in sorted(TEST_ONLY_KEYS):
            self.assertNotRegex(shipped, rf"(?m)^#?{key}=")

    # --- the man pages ------------------------------------------------------------------------

    def test_man_pages_render(self):
        if not EXPECT_MAN:
            self.skipTest("man pages not built (scdoc missing)")
        if shutil.which("groff") is None:
            self.skipTest("groff is not installed")
        for page, (section, headings) in MAN_PAGES.items():
            with self.subTest(page=page):
                path = self.staged(page)
                warnings = run(["groff", "-man", "-Tutf8", "-ww", "-z", path])
                self.assertEqual(warnings.stderr, "")
                text = run(["groff", "-man", "-Tutf8", "-P-c", "-P-b", "-P-u", path],
                           env=dict(os.environ, MANWIDTH="80")).stdout
                self.assertIn(f"({section})", text.splitlines()[0] if text else "")
                for heading in ["NAME", "SYNOPSIS", "DESCRIPTION", "SEE ALSO", *headings]:
                    self.assertRegex(text, rf"(?m)^{heading}$")

    def test_man_pages_name_every_option_and_key(self):
        help_text = run([AGENT, "--help"]).stdout
        options = set(re.findall(r"--([a-z][a-z-]+)", help_text)) - {"help"}
        keys = set(re.findall(r"^([a-z-]+)=", self.dump_conf("[general]\n"), re.M))
        with open(os.path.join(SOURCE_ROOT, "docs", "quiesce-agent.8.scd")) as f:
            page8 = f.read()
        with open(os.path.join(SOURCE_ROOT, "docs", "quiesce-agent.conf.5.scd")) as f:
            page5 = f.read()
        for option in sorted(options):
            with self.subTest(option=option):
                self.assertIn(f"--{option}*", page8)
        for key in sorted(keys - HIDDEN_KEYS):
            with self.subTest(key=key):
                self.assertIn(f"*{key}*=", page5)


if __name__ == "__main__":
    unittest.main(verbosity=2)
