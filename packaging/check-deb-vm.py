#!/usr/bin/env python3
"""Install the .deb into the QEMU guest of tests/vm and check what the package promises.

    packaging/check-deb-vm.py build-deb/quiesce-agent_VERSION_amd64.deb

Run by ./dev.sh test after the QEMU guest suite (needs root, QEMU and the cached guest image;
about 5 minutes under TCG, most of it two guest boots). Checks, in one guest that has
Debian's qemu-guest-agent installed:
  - apt replaces qemu-guest-agent (Conflicts/Replaces), postinst starts the agent on the
    existing port, and after a reboot udev starts it (tag, SYSTEMD_WANTS, BindsTo);
  - the sandbox is in force (capabilities, no_new_privs, seccomp) and the agent still freezes /;
  - a SIGKILLed agent is restarted and still reports and thaws what it froze
    (RuntimeDirectoryPreserve=yes); SIGHUP leaves it running (it reopens its log file);
  - a hook that writes, uses runuser and a fifo works in the sandbox; one that mounts fails;
  - stopping while frozen thaws and keeps /run/quiesce-agent; an upgrade restarts the agent;
    removal stops it and keeps the conffiles; purge removes them.
Prints one PASS/FAIL line per check and `N passed, N failed` last; exit status 0 when all pass.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "tests", "vm"))
import guest as vm  # noqa: E402

PORT = "/dev/virtio-ports/org.qemu.guest_agent.0"
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else f"\n    {detail}"), flush=True)


class Agent:
    """A host on the agent's port, talking as libvirt does (guest-sync first)."""

    def __init__(self, path, timeout=60):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.file = self.sock.makefile("rwb")
        self.sync_id = 1000

    def send(self, obj):
        self.file.write(json.dumps(obj).encode() + b"\n")
        self.file.flush()

    def execute(self, command, arguments=None):
        self.sync_id += 1
        self.send({"execute": "guest-sync", "arguments": {"id": self.sync_id}})
        while json.loads(self.file.readline()).get("return") != self.sync_id:
            pass
        request = {"execute": command}
        if arguments:
            request["arguments"] = arguments
        self.send(request)
        return json.loads(self.file.readline())

    def close(self):
        # the socket ends only when its file object is closed too
        self.file.close()
        self.sock.close()


def sh(g, cmd, timeout=120):
    return g.run(cmd, timeout=timeout)[1].strip()


def main_pid(g):
    return sh(g, "systemctl show -P MainPID quiesce-agent")


def wait_restarted(g, old_pid, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = main_pid(g)
        if pid not in ("0", old_pid) and sh(g, "systemctl is-active quiesce-agent") == "active":
            return pid
        time.sleep(1)
    return main_pid(g)


def journal(g):
    return sh(g, "journalctl -b -u quiesce-agent --no-pager | tail -8")


def upgraded_deb(deb, tmp):
    """The same package with a higher version, to exercise the upgrade path."""
    tree = os.path.join(tmp, "tree")
    subprocess.run(["dpkg-deb", "-R", deb, tree], check=True)
    control = os.path.join(tree, "DEBIAN", "control")
    with open(control) as f:
        text = f.read()
    version = next(line.split(": ", 1)[1] for line in text.splitlines()
                   if line.startswith("Version: "))
    with open(control, "w") as f:
        f.write(text.replace(f"Version: {version}\n", f"Version: {version}+upgrade\n"))
    out = os.path.join(tmp, "upgrade.deb")
    subprocess.run(["dpkg-deb", "-b", tree, out], check=True, stdout=subprocess.DEVNULL)
    return out


def install_and_boot(g, deb):
    g.put(deb, "/root/qa.deb")
    out = sh(g, "DEBIAN_FRONTEND=noninteractive apt-get install -y /root/qa.deb 2>&1", 300)
    gone = sh(g, "dpkg-query -W -f='${Status}' qemu-guest-agent 2>/dev/null")
    check("apt replaces qemu-guest-agent", "Setting up quiesce-agent" in out
          and "ok installed" not in gone, out[-500:])
    pid = wait_restarted(g, "0")
    check("postinst starts the agent on the existing port", pid != "0", journal(g))
    g.shutdown()
    g.boot()
    check("udev starts the agent at boot", sh(g, "systemctl is-active quiesce-agent") == "active",
          journal(g))
    info = sh(g, f"udevadm info {PORT}")
    check("the port is tagged and wants the unit",
          "TAGS=:systemd:" in info and "SYSTEMD_WANTS=quiesce-agent.service" in info, info)


def sandbox(g):
    status = sh(g, f"grep -E 'CapBnd|NoNewPrivs|Seccomp:' /proc/{main_pid(g)}/status")
    # CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER KILL SETGID SETUID SYS_ADMIN SYS_BOOT SYS_TIME
    # AUDIT_WRITE
    check("the sandbox is in force", "CapBnd:\t00000000226000ef" in status
          and "NoNewPrivs:\t1" in status and "Seccomp:\t2" in status, status)


def execute_after_restart(g, command):
    """The first request to an agent restarted while / is frozen, as libvirt sends it. An
    unanswered request is reported with the agent's wait channel and journal."""
    agent = Agent(g.agent_socket, timeout=30)
    try:
        return agent, agent.execute(command)
    except (TimeoutError, OSError) as e:
        pid = main_pid(g)
        detail = (f"no answer from the restarted agent (pid {pid}): {e!r}; "
                  f"wchan={sh(g, f'cat /proc/{pid}/wchan')!r}\n{journal(g)}")
        agent.close()
        return Agent(g.agent_socket), {"error": detail}


def restart_keeps_state(g):
    agent = Agent(g.agent_socket)
    r = agent.execute("guest-fsfreeze-freeze-list", {"mountpoints": ["/"]})
    check("the sandboxed agent freezes /", r.get("return") == 1, r)
    check("the state file records it", sh(g, "ls /run/quiesce-agent") == "fsfreeze.state")
    agent.close()
    pid = main_pid(g)
    sh(g, f"kill -KILL {pid}")
    pid = wait_restarted(g, pid)
    agent, r = execute_after_restart(g, "guest-fsfreeze-status")
    check("after SIGKILL the restarted agent reports frozen", r.get("return") == "frozen", r)
    r = agent.execute("guest-fsfreeze-thaw")
    check("and thaws", r.get("return") == 1, r)
    agent.close()
    pid = main_pid(g)
    sh(g, f"kill -HUP {pid}")
    time.sleep(2)
    check("SIGHUP leaves the agent running",
          main_pid(g) == pid and sh(g, "systemctl is-active quiesce-agent") == "active",
          journal(g))


def hooks(g):
    hook_d = "/etc/quiesce-agent/fsfreeze-hook.d"
    g.put(b"#!/bin/sh\nset -e\necho \"$1\" >>/run/quiesce-agent/hook.log\n"
          b"runuser -u nobody -- true\nmkfifo /run/quiesce-agent/f.$$\nrm /run/quiesce-agent/f.$$\n",
          f"{hook_d}/10-check", 0o755)
    agent = Agent(g.agent_socket)
    r1 = agent.execute("guest-fsfreeze-freeze-list", {"mountpoints": ["/"]})
    r2 = agent.execute("guest-fsfreeze-thaw")
    log = sh(g, "cat /run/quiesce-agent/hook.log")
    check("a hook writing, using runuser and a fifo works in the sandbox",
          r1.get("return") == 1 and r2.get("return") == 1 and log == "freeze\nthaw",
          f"{r1} {r2} {log!r}\n{journal(g)}")
    sh(g, f"rm -f {hook_d}/10-check /run/quiesce-agent/hook.log")
    g.put(b"#!/bin/sh\n[ \"$1\" = thaw ] && exit 0\nmount -t tmpfs none /mnt\n",
          f"{hook_d}/20-mount", 0o755)
    r = agent.execute("guest-fsfreeze-freeze-list", {"mountpoints": ["/"]})
    check("a hook that mounts fails the freeze", "error" in r, r)
    sh(g, f"rm -f {hook_d}/20-mount; umount /mnt 2>/dev/null")
    agent.close()


def lifecycle(g, upgrade):
    agent = Agent(g.agent_socket)
    agent.execute("guest-fsfreeze-freeze-list", {"mountpoints": ["/"]})
    agent.close()
    out = sh(g, "systemctl stop quiesce-agent; timeout 10 touch /root/written && echo writable;"
                " grep -c '^fs ' /run/quiesce-agent/fsfreeze.state;"
                " test -d /run/quiesce-agent && echo kept", 90)
    check("stop while frozen thaws, records nothing frozen and keeps the state directory",
          out.splitlines() == ["writable", "0", "kept"], out)
    sh(g, "systemctl start quiesce-agent")
    pid = main_pid(g)
    g.put(upgrade, "/root/qa-upgrade.deb")
    out = sh(g, "dpkg -i /root/qa-upgrade.deb 2>&1", 300)
    check("an upgrade restarts the agent", wait_restarted(g, pid) != pid, out[-300:])
    out = sh(g, "dpkg -r quiesce-agent >/dev/null 2>&1; systemctl is-active quiesce-agent;"
                " ls /etc/quiesce-agent", 120)
    check("removal stops the agent and keeps the conffiles",
          out.splitlines()[0] == "inactive" and "quiesce-agent.conf" in out, out)
    out = sh(g, "dpkg -P quiesce-agent >/dev/null 2>&1; ls /etc/quiesce-agent /run/quiesce-agent"
                " 2>&1 | grep -c 'No such file'", 120)
    check("purge removes the conffiles and the empty state directory", out == "2", out)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    deb = os.path.abspath(sys.argv[1])
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, vm.Guest() as g:
        upgrade = upgraded_deb(deb, tmp)
        g.boot()
        install_and_boot(g, deb)
        sandbox(g)
        restart_keeps_state(g)
        hooks(g)
        lifecycle(g, upgrade)
        g.shutdown()
    print(f"({time.monotonic() - start:.0f} s)")
    print(f"{results.count(True)} passed, {results.count(False)} failed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
