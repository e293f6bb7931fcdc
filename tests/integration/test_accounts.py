"""guest-set-user-password and guest-ssh-*-authorized-keys over the socket, on a throwaway user.

Every test makes its own user (qa-test-XXXXXX, a name checked to be free) with a home below a
temp dir of its own, and deletes both in cleanups that run also when the test fails. No existing
user is touched. Needs root (useradd, chpasswd); skipped otherwise.
"""

import base64
import crypt  # noqa: deprecated in 3.11, gone in 3.13; the hashes are checked with it
import os
import pwd
import secrets
import shutil
import stat
import subprocess
import tempfile
import unittest
import warnings

import qalib

warnings.filterwarnings("ignore", category=DeprecationWarning)

KEYS_FILE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "accounts",
                         "valid-keys.pub")
with open(KEYS_FILE) as _f:
    KEYS = [line.strip() for line in _f.read().splitlines()]
K1, K2, K3 = KEYS[0], KEYS[1], KEYS[3]


def can_run():
    if os.geteuid() != 0:
        return "needs root to make a throwaway user"
    for tool in ("useradd", "userdel", "chpasswd"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    return None


def b64(text):
    return base64.b64encode(text.encode()).decode()


def shadow_hash(user):
    with open("/etc/shadow") as f:
        for line in f:
            fields = line.rstrip("\n").split(":")
            if fields[0] == user:
                return fields[1]
    raise KeyError(user)


class UserTest(unittest.TestCase):
    """A throwaway user with its home <tmp>/home/<user> (0700, the user's) and an agent."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="qa-accounts-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        # the user must be able to walk to its home: the agent acts as the user there
        os.chmod(self.tmp, 0o755)
        os.mkdir(os.path.join(self.tmp, "home"), 0o755)
        while True:
            self.user = "qa-test-" + secrets.token_hex(3)
            try:
                pwd.getpwnam(self.user)
            except KeyError:
                break
        self.home = os.path.join(self.tmp, "home", self.user)
        subprocess.run(["useradd", "-M", "-d", self.home, "-s", "/usr/sbin/nologin", self.user],
                       check=True)
        self.addCleanup(subprocess.run, ["userdel", self.user], check=False)
        entry = pwd.getpwnam(self.user)
        self.uid, self.gid = entry.pw_uid, entry.pw_gid
        os.mkdir(self.home, 0o700)
        os.chown(self.home, self.uid, self.gid)
        self.ssh = os.path.join(self.home, ".ssh")
        self.keys_path = os.path.join(self.ssh, "authorized_keys")
        self.agent = qalib.Agent(*self.agent_args())
        self.addCleanup(self.agent.__exit__, None, None, None)
        self.client = self.agent.client()
        self.addCleanup(self.client.close)

    def agent_args(self):
        return ("--confine-mounts", "/nonexistent-confinement")

    def call(self, command, **args):
        return self.client.execute(command, args)

    def assert_error(self, reply, *contains):
        self.assertIn("error", reply, reply)
        self.assertEqual(reply["error"]["class"], "GenericError", reply)
        for text in contains:
            self.assertIn(text, reply["error"]["desc"])
        return reply["error"]["desc"]

    def ok(self, command, **args):
        reply = self.call(command, **args)
        self.assertIn("return", reply, reply)
        return reply["return"]


@unittest.skipIf(can_run() is not None, can_run())
class PasswordTest(UserTest):
    def set_password(self, password, crypted=False, user=None):
        return self.call("guest-set-user-password", username=self.user if user is None else user,
                         password=password, crypted=crypted)

    def assert_not_logged(self, *texts):
        log = self.agent.log_text()
        for text in texts:
            self.assertNotIn(text, log)

    def test_plain(self):
        password = "Corr3ct horse:battery staple"
        self.assertEqual(self.set_password(b64(password)), {"return": {}})
        stored = shadow_hash(self.user)
        self.assertEqual(crypt.crypt(password, stored), stored)
        self.assertNotEqual(crypt.crypt("wrong", stored), stored)
        self.assert_not_logged(password, b64(password))

    def test_crypted_lands_as_is(self):
        hashed = crypt.crypt("s3cret-crypted", "$6$qatestsalt$")
        self.assertEqual(self.set_password(b64(hashed), crypted=True), {"return": {}})
        self.assertEqual(shadow_hash(self.user), hashed)
        self.assert_not_logged(hashed)

    def test_base64_with_line_ends(self):
        # Perl's encode_base64(), as Proxmox sends it: lines of 76 and a final line end
        password = "p" * 40 + "-wrapped-" + "q" * 60
        text = base64.encodebytes(password.encode()).decode()
        self.assertIn("\n", text[:-1])
        self.assertTrue(text.endswith("\n"))
        self.assertEqual(self.set_password(text), {"return": {}})
        stored = shadow_hash(self.user)
        self.assertEqual(crypt.crypt(password, stored), stored)
        self.assert_not_logged(password)

    def test_refused_and_unchanged(self):
        before = shadow_hash(self.user)
        cases = [
            (dict(password="not base64!"), "not valid base64"),
            (dict(password="c2VjcmV0 "), "not valid base64"),
            (dict(password=b64("two\nlines")), "line end"),
            (dict(password=b64("trailing\n")), "line end"),
            (dict(password=b64("nul\0byte")), "NUL"),
            (dict(password=""), "empty"),
            (dict(password=b64("x" * 4097)), "longer than 4096"),
            (dict(password=b64("$6$salt$hash:0:0:99999"), crypted=True), "not a crypt(3)"),
            (dict(password=b64("plain text"), crypted=True), "not a crypt(3)"),
            (dict(password=b64("pw"), user=self.user + ":x"), "contains ':'"),
            (dict(password=b64("pw"), user=self.user + "\nroot"), "control character"),
            (dict(password=b64("pw"), user="-e"), "starts with '-'"),
            (dict(password=b64("pw"), user=""), "empty"),
            (dict(password=b64("pw"), user="qa-no-such-user-4711"), "does not exist"),
        ]
        for args, text in cases:
            with self.subTest(args=args):
                desc = self.assert_error(self.set_password(**args), text)
                self.assertNotIn("two\nlines", desc)
        self.assertEqual(shadow_hash(self.user), before)
        self.assert_not_logged("two\nlines", "plain text", "$6$salt$hash")

    def test_wrong_types(self):
        for args in ({"username": self.user, "password": 5, "crypted": False},
                     {"username": self.user, "password": b64("x")},
                     {"username": 0, "password": b64("x"), "crypted": False},
                     {"username": self.user, "password": b64("x"), "crypted": "yes"}):
            with self.subTest(args=args):
                self.assert_error(self.client.execute("guest-set-user-password", args))

    def test_huge_base64(self):
        reply = self.set_password("QUFB" * (200 * 1024))
        self.assert_error(reply, "longer than 4096")
        self.assertEqual(self.client.execute("guest-ping"), {"return": {}})


@unittest.skipIf(can_run() is not None, can_run())
class SshKeysTest(UserTest):
    def add(self, keys, reset=None, user=None):
        args = {"username": self.user if user is None else user, "keys": keys}
        if reset is not None:
            args["reset"] = reset
        return self.client.execute("guest-ssh-add-authorized-keys", args)

    def remove(self, keys, user=None):
        user = self.user if user is None else user
        return self.call("guest-ssh-remove-authorized-keys", username=user, keys=keys)

    def get(self, user=None):
        user = self.user if user is None else user
        return self.call("guest-ssh-get-authorized-keys", username=user)

    def read_keys(self):
        with open(self.keys_path) as f:
            return f.read()

    def assert_owned(self, path, mode):
        st = os.lstat(path)
        self.assertEqual((st.st_uid, st.st_gid), (self.uid, self.gid), path)
        self.assertEqual(stat.S_IMODE(st.st_mode), mode, path)

    def test_add_creates_dir_and_file(self):
        self.assertEqual(self.add([K1, K2]), {"return": {}})
        self.assert_owned(self.ssh, 0o700)
        self.assert_owned(self.keys_path, 0o600)
        self.assertEqual(self.read_keys(), f"{K1}\n{K2}\n")
        self.assertEqual(os.listdir(self.ssh), ["authorized_keys"])
        self.assertEqual(self.ok("guest-ssh-get-authorized-keys", username=self.user),
                         {"keys": [K1, K2]})

    def test_append_skips_duplicates(self):
        self.ok("guest-ssh-add-authorized-keys", username=self.user, keys=[K1])
        ino = os.stat(self.keys_path).st_ino
        self.assertEqual(self.add([K2, K1, K2], reset=False), {"return": {}})
        self.assertEqual(self.read_keys(), f"{K1}\n{K2}\n")
        # replaced by rename, not rewritten in place
        self.assertNotEqual(os.stat(self.keys_path).st_ino, ino)
        self.assertEqual(os.listdir(self.ssh), ["authorized_keys"])

    def test_blank_keys_are_skipped(self):
        """virsh set-user-sshkeys splits a key file on newlines, so a file ending in one sends
        an empty key: skipped, as qemu-ga skips it, when adding and when removing."""
        self.assertEqual(self.add([K1, "", K2, "  "]), {"return": {}})
        self.assertEqual(self.read_keys(), f"{K1}\n{K2}\n")
        self.assertEqual(self.remove([K1, ""]), {"return": {}})
        self.assertEqual(self.read_keys(), f"{K2}\n")

    def test_reset(self):
        self.ok("guest-ssh-add-authorized-keys", username=self.user, keys=[K1, K2])
        self.assertEqual(self.add([K3], reset=True), {"return": {}})
        self.assertEqual(self.read_keys(), f"{K3}\n")
        self.assertEqual(self.add([], reset=True), {"return": {}})
        self.assertEqual(self.read_keys(), "")
        self.assert_owned(self.keys_path, 0o600)

    def test_get_leaves_out_comments_and_blanks(self):
        os.mkdir(self.ssh, 0o700)
        os.chown(self.ssh, self.uid, self.gid)
        with open(self.keys_path, "w") as f:
            f.write(f"# comment\n\n  {K1}  \n#{K2}\n{K3}")
        os.chown(self.keys_path, self.uid, self.gid)
        self.assertEqual(self.get(), {"return": {"keys": [K1, K3]}})

    def test_get_without_file(self):
        self.assert_error(self.get(), "No such file or directory")
        os.mkdir(self.ssh, 0o700)
        os.chown(self.ssh, self.uid, self.gid)
        self.assert_error(self.get(), "No such file or directory", self.keys_path)

    def test_remove(self):
        self.ok("guest-ssh-add-authorized-keys", username=self.user, keys=[K1, K2, K3])
        with open(self.keys_path, "a") as f:
            f.write("# kept comment\n")
        self.assertEqual(self.remove([K2, KEYS[5]]), {"return": {}})
        self.assertEqual(self.read_keys(), f"{K1}\n{K3}\n# kept comment\n")
        self.assert_owned(self.keys_path, 0o600)
        self.assertEqual(self.remove([K1, K3]), {"return": {}})
        self.assertEqual(self.read_keys(), "# kept comment\n")
        self.assertEqual(os.listdir(self.ssh), ["authorized_keys"])

    def test_remove_without_file(self):
        self.assertEqual(self.remove([K1]), {"return": {}})
        self.assertFalse(os.path.exists(self.ssh))
        os.mkdir(self.ssh, 0o700)
        os.chown(self.ssh, self.uid, self.gid)
        self.assertEqual(self.remove([K1]), {"return": {}})
        self.assertEqual(os.listdir(self.ssh), [])

    def test_remove_malformed_line(self):
        self.ok("guest-ssh-add-authorized-keys", username=self.user, keys=[K1])
        with open(self.keys_path, "a") as f:
            f.write("algo key1 comments\n")
        self.assertEqual(self.remove(["algo key1 comments"]), {"return": {}})
        self.assertEqual(self.read_keys(), f"{K1}\n")

    def test_invalid_keys_write_nothing(self):
        self.ok("guest-ssh-add-authorized-keys", username=self.user, keys=[K1])
        before = self.read_keys()
        # (a blank key is skipped, see test_blank_keys_are_skipped)
        bad = ["not a valid\nkey", "# comment", "ssh-ed25519", "algo key1 comments",
               "ssh-rsa " + K1.split()[1], K1 + "\n" + K2, "x" * 70000]
        for key in bad:
            with self.subTest(key=key[:50]):
                desc = self.assert_error(self.add([K2, key]), "Invalid OpenSSH public key")
                self.assertIn(repr(key[:10])[1:-1].replace("'", ""), desc.replace("'", ""))
                self.assertEqual(self.read_keys(), before)
        self.assert_error(self.add([K2, "a\nb"], reset=True), "Invalid OpenSSH public key")
        self.assertEqual(self.read_keys(), before)
        self.assert_error(self.remove(["a\nb"]), "Invalid OpenSSH public key")
        self.assertEqual(self.read_keys(), before)

    def test_bad_users(self):
        for user, text in (("qa-no-such-user-4711", "does not exist"), ("a:b", "':'"),
                           ("a\nb", "control character"), ("-r", "'-'"), ("", "empty"),
                           ("../../root", "does not exist")):
            with self.subTest(user=user):
                self.assert_error(self.add([K1], user=user), text)
                self.assert_error(self.remove([K1], user=user), text)
                self.assert_error(self.get(user=user), text)

    def test_wrong_types(self):
        for args in ({"username": self.user, "keys": K1},
                     {"username": self.user, "keys": [1]},
                     {"username": self.user, "keys": [K1], "reset": "true"},
                     {"username": self.user}):
            with self.subTest(args=args):
                self.assert_error(self.client.execute("guest-ssh-add-authorized-keys", args))

    def test_identity_restored(self):
        # the file work runs with the user's file identity on the agent's system thread; every
        # thread has root's again afterwards, and chpasswd (forked from that thread) works
        self.ok("guest-ssh-add-authorized-keys", username=self.user, keys=[K1])
        self.assert_error(self.get(user="qa-no-such-user-4711"), "does not exist")
        self.ok("guest-ssh-get-authorized-keys", username=self.user)
        self.assertEqual(self.call("guest-set-user-password", username=self.user,
                                   password=b64("after-keys"), crypted=False), {"return": {}})
        tasks = f"/proc/{self.agent.proc.pid}/task"
        for task in os.listdir(tasks):
            with open(os.path.join(tasks, task, "status")) as f:
                ids = {line.split(":")[0]: line.split()[1:] for line in f
                       if line.startswith(("Uid:", "Gid:", "Groups:"))}
            self.assertEqual(ids["Uid"], ["0", "0", "0", "0"], task)
            self.assertEqual(ids["Gid"], ["0", "0", "0", "0"], task)
            self.assertNotIn(str(self.gid), ids["Groups"], task)

    # ---- what a user may plant -------------------------------------------------------------

    def root_dir(self, name):
        """A directory of root's outside the home, with a file in it."""
        path = os.path.join(self.tmp, name)
        os.mkdir(path, 0o755)
        with open(os.path.join(path, "authorized_keys"), "w") as f:
            f.write("root's own\n")
        return path

    def assert_untouched(self, path):
        self.assertEqual(os.listdir(path), ["authorized_keys"])
        with open(os.path.join(path, "authorized_keys")) as f:
            self.assertEqual(f.read(), "root's own\n")
        self.assertEqual(os.stat(path).st_uid, 0)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o755)

    def test_ssh_dir_symlink_refused(self):
        target = self.root_dir("roots-dir")
        os.symlink(target, self.ssh)
        os.lchown(self.ssh, self.uid, self.gid)
        self.assert_error(self.add([K1]), "symbolic link", self.ssh)
        self.assert_error(self.add([K1], reset=True), "symbolic link")
        self.assert_error(self.remove(["root's own"]), "symbolic link")
        self.assert_error(self.get(), "symbolic link")
        self.assert_untouched(target)

    def test_keys_file_symlink_refused(self):
        target = self.root_dir("etc-something")
        os.mkdir(self.ssh, 0o700)
        os.chown(self.ssh, self.uid, self.gid)
        os.symlink(os.path.join(target, "authorized_keys"), self.keys_path)
        os.lchown(self.keys_path, self.uid, self.gid)
        self.assert_error(self.add([K1]), "symbolic link", self.keys_path)
        self.assert_error(self.add([K1], reset=True), "symbolic link")
        self.assert_error(self.remove(["root's own"]), "symbolic link")
        self.assert_error(self.get(), "symbolic link")
        self.assert_untouched(target)
        self.assertTrue(os.path.islink(self.keys_path))
        self.assertEqual(sorted(os.listdir(self.ssh)), ["authorized_keys"])

    def test_home_symlink_refused(self):
        real = self.home + "-real"
        os.rename(self.home, real)
        os.symlink(real, self.home)
        self.assert_error(self.add([K1]), "symbolic link", self.home)
        self.assert_error(self.get(), "symbolic link")
        self.assertEqual(os.listdir(real), [])

    def test_home_missing(self):
        os.rmdir(self.home)
        self.assert_error(self.add([K1]), "No such file or directory", self.home)
        self.assert_error(self.remove([K1]), "No such file or directory")
        self.assertFalse(os.path.exists(self.home))

    def test_home_of_another_user_refused(self):
        os.chown(self.home, 65534, 65534)
        self.assert_error(self.add([K1]), "belongs to uid 65534")
        self.assertEqual(os.listdir(self.home), [])

    def test_home_through_writable_dir_refused(self):
        parent = os.path.dirname(self.home)
        os.chmod(parent, 0o777)
        self.assert_error(self.add([K1]), "users other than root can change", parent)
        self.assertEqual(os.listdir(self.home), [])
        # sticky, as /tmp: each user can change only their own entries
        os.chmod(parent, 0o1777)
        self.assertEqual(self.add([K1]), {"return": {}})

    def test_home_through_root_symlink(self):
        # /home -> /var/home, as on Fedora CoreOS: a link of root's in a directory of root's
        alias = os.path.join(self.tmp, "alias")
        os.symlink("home", alias)
        subprocess.run(["usermod", "-d", os.path.join(alias, self.user), self.user], check=True)
        self.assertEqual(self.add([K1]), {"return": {}})
        self.assertEqual(self.read_keys(), f"{K1}\n")
        # a link of the user's is not followed, wherever it is
        os.lchown(alias, self.uid, self.gid)
        self.assert_error(self.add([K2]), f"the link '{alias}' on the way belongs to uid")
        self.assertEqual(self.read_keys(), f"{K1}\n")

    def test_root_owned_home(self):
        # a home of root's (as /var/www): root makes ~/.ssh and gives it to the user
        os.chown(self.home, 0, 0)
        os.chmod(self.home, 0o755)
        self.assertEqual(self.add([K1]), {"return": {}})
        self.assert_owned(self.ssh, 0o700)
        self.assert_owned(self.keys_path, 0o600)
        os.chmod(self.home, 0o775)
        os.rename(self.ssh, self.ssh + "-old")
        self.assert_error(self.add([K1]), "others can write")
        self.assertFalse(os.path.exists(self.ssh))

    def test_ssh_dir_not_users_refused(self):
        os.mkdir(self.ssh, 0o755)
        self.assert_error(self.add([K1]), "belongs to uid 0", self.ssh)
        self.assertEqual(os.listdir(self.ssh), [])
        os.rmdir(self.ssh)
        with open(self.ssh, "w") as f:
            f.write("a file\n")
        os.chown(self.ssh, self.uid, self.gid)
        self.assert_error(self.add([K1]), "expected a directory")

    def test_keys_file_not_users_refused(self):
        os.mkdir(self.ssh, 0o700)
        os.chown(self.ssh, self.uid, self.gid)
        with open(self.keys_path, "w") as f:
            f.write(f"{K1}\n")
        self.assert_error(self.add([K2]), "belongs to uid 0", self.keys_path)
        self.assert_error(self.add([K2], reset=True), "belongs to uid 0")
        self.assert_error(self.remove([K1]), "belongs to uid 0")
        self.assertEqual(self.read_keys(), f"{K1}\n")
        self.assertEqual(os.stat(self.keys_path).st_uid, 0)

    def test_keys_file_fifo_refused(self):
        os.mkdir(self.ssh, 0o700)
        os.chown(self.ssh, self.uid, self.gid)
        os.mkfifo(self.keys_path, 0o600)
        os.chown(self.keys_path, self.uid, self.gid)
        self.assert_error(self.get(), "expected a regular file")
        self.assert_error(self.add([K1]), "expected a regular file")
        self.assert_error(self.add([K1], reset=True), "expected a regular file")
        self.assertTrue(stat.S_ISFIFO(os.lstat(self.keys_path).st_mode))

    def test_keys_file_unreadable_by_user(self):
        # the agent reads as the user: what the user cannot read, it cannot read either
        os.mkdir(self.ssh, 0o700)
        os.chown(self.ssh, self.uid, self.gid)
        with open(self.keys_path, "w") as f:
            f.write(f"{K1}\n")
        os.chown(self.keys_path, self.uid, self.gid)
        os.chmod(self.keys_path, 0)
        self.assert_error(self.get(), "Permission denied")


@unittest.skipIf(can_run() is not None or shutil.which("mkfs.ext4") is None,
                 "needs root, useradd and mkfs.ext4")
class FrozenHomeTest(UserTest):
    """A home on a loop-mounted ext4 that the agent holds frozen: writes are refused."""

    def setUp(self):
        self.mounts = qalib.LoopMounts()
        self.addCleanup(self.mounts.close)
        os.chmod(self.mounts.root, 0o755)
        self.mountpoint = self.mounts.add("ext4", "homes")
        super().setUp()
        home = os.path.join(self.mountpoint, self.user)
        subprocess.run(["usermod", "-d", home, self.user], check=True)
        os.rmdir(self.home)
        self.home = home
        self.ssh = os.path.join(home, ".ssh")
        self.keys_path = os.path.join(self.ssh, "authorized_keys")
        os.mkdir(home, 0o700)
        os.chown(home, self.uid, self.gid)

    def agent_args(self):
        return ("--confine-mounts", self.mounts.root, "--fsfreeze-timeout", "20")

    def test_refused_while_frozen(self):
        self.ok("guest-ssh-add-authorized-keys", username=self.user, keys=[K1])
        self.assertEqual(self.ok("guest-fsfreeze-freeze-list", mountpoints=[self.mountpoint]), 1)
        try:
            self.assert_error(self.call("guest-ssh-add-authorized-keys", username=self.user,
                                        keys=[K2]), "frozen")
            self.assert_error(self.call("guest-ssh-remove-authorized-keys",
                                        username=self.user, keys=[K1]), "frozen")
            # reading is fine; removing what is not there writes nothing
            self.assertEqual(self.ok("guest-ssh-get-authorized-keys", username=self.user),
                             {"keys": [K1]})
            self.assertEqual(self.ok("guest-ssh-remove-authorized-keys", username=self.user,
                                     keys=[K2]), {})
        finally:
            self.ok("guest-fsfreeze-thaw")
        self.assertEqual(self.ok("guest-ssh-add-authorized-keys", username=self.user,
                                 keys=[K2]), {})


if __name__ == "__main__":
    unittest.main()
