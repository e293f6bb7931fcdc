#!/usr/bin/env python3
"""The VM test suite: boot the test guest once, provision it, install the agent, run named checks.

    tests/vm/run-suite.sh [--agent-bin PATH] [--agent-unit PATH] [--agent-file SRC:DEST ...]
                          [--list] [CHECK ...]

With no CHECK names every check runs. Prints one line per check and a final `N passed, N failed`;
exits 0 only when every selected check passed. A check that fails prints the tail of the guest
console (and of the agent's journal when an agent was installed).

Adding a check: write `def check_NAME(ctx)` below, decorated with @check("NAME"); raise
CheckFailed (or any exception) to fail. ctx.guest is the booted, provisioned Guest.
"""

import argparse
import os
import re
import socket
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import guest as vm  # noqa: E402

CHECKS = {}


class CheckFailed(Exception):
    pass


def check(name):
    def register(fn):
        CHECKS[name] = fn
        return fn
    return register


class Context:
    def __init__(self, g, agent_unit):
        self.guest = g
        self.agent_unit = agent_unit  # unit name inside the guest, or None

    def run(self, cmd, timeout=120):
        """Run in the guest; raise CheckFailed on non-zero status; return the output."""
        rc, out = self.guest.run(cmd, timeout=timeout)
        if rc != 0:
            raise CheckFailed(f"`{cmd}` exited with {rc}:\n{out}")
        return out


def say(msg):
    print(msg, flush=True)


# ---- checks ---------------------------------------------------------------------------------

EXPECTED_MOUNTS = ["/data", "/bind", "/loop", "/lvm", "/raid", "/nvme", "/scsi", "/hba", "/scratch"]


@check("harness")
def check_harness(ctx):
    """The test bed itself: storage topology as TOPOLOGY says, mounts provisioned, agent port."""
    g = ctx.guest
    # 1. Every provisioned mountpoint is mounted.
    mountinfo = ctx.run("cat /proc/self/mountinfo")
    mounted = {line.split()[4] for line in mountinfo.splitlines()}
    missing = [m for m in EXPECTED_MOUNTS if m not in mounted]
    if missing:
        raise CheckFailed(f"not mounted in the guest: {missing}")
    # 2. Every disk is where the QEMU command line put it (PCI address, SCSI target/LUN, port).
    listing = ctx.run(
        "for b in /sys/block/*; do [ -e $b/device ] || continue; "
        "s=$(lsblk -dno SERIAL /dev/${b##*/}); "
        "echo \"${s:--} $(readlink -f $b) $(lsblk -dno HCTL /dev/${b##*/})\"; done")
    found = {}
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            found[parts[0]] = (parts[1], parts[2] if len(parts) > 2 else "")
    problems = []
    for d in vm.TOPOLOGY:
        exp = d["expect"]
        if d["serial"] not in found:
            problems.append(f"{d['serial']}: no disk with this serial")
            continue
        path, hctl = found[d["serial"]]
        if f"/{exp['pci']}/" not in path:
            problems.append(f"{d['serial']}: expected under PCI {exp['pci']}, sysfs path {path}")
        if d["bus"] == "scsi":
            t, lun = hctl.split(":")[2:4] if hctl.count(":") == 3 else ("?", "?")
            if (t, lun) != (str(exp["target"]), str(exp["unit"])):
                problems.append(f"{d['serial']}: expected target {exp['target']} LUN "
                                f"{exp['unit']}, HCTL {hctl}")
        if d["bus"] == "sata":
            m = re.search(r"/(ata\d+)/", path)
            port = ctx.run(f"cat /sys/class/ata_port/{m.group(1)}/port_no").strip() if m else "?"
            # libata numbers the ports of a host from 1
            if port != str(exp["unit"] + 1):
                problems.append(f"{d['serial']}: expected AHCI port {exp['unit']}, "
                                f"port_no {port} ({path})")
    if problems:
        raise CheckFailed("topology differs from guest.TOPOLOGY:\n  " + "\n  ".join(problems))
    # 3. The agent's virtio-serial port exists in the guest...
    ctx.run(f"test -c /dev/virtio-ports/{vm.AGENT_PORT}")
    # 4. ...and its host end is a connectable unix socket.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        s.connect(g.agent_socket)
    except OSError as e:
        raise CheckFailed(f"cannot connect to {g.agent_socket}: {e}") from None
    finally:
        s.close()


# ---- driver ---------------------------------------------------------------------------------

def install_agent(g, args):
    """Copy the agent (and its unit and extra files) into the guest; returns the unit name."""
    files = []
    unit_name = None
    bin_dest = "/usr/sbin/quiesce-agent"
    if args.agent_unit:
        unit_name = os.path.basename(args.agent_unit)
        with open(args.agent_unit) as f:
            m = re.search(r"^ExecStart=[-@+!:]*(\S+)", f.read(), re.M)
        if m:
            bin_dest = m.group(1)  # install the binary where the unit expects it
        files.append((args.agent_unit, f"/etc/systemd/system/{unit_name}", 0o644))
    if args.agent_bin:
        files.append((args.agent_bin, bin_dest, 0o755))
    for spec in args.agent_file:
        src, dest = spec.split(":", 1)
        files.append((src, dest, 0o755 if os.access(src, os.X_OK) else 0o644))
    for src, dest, mode in files:
        say(f"  copying {src} -> guest:{dest}")
        g.put(src, dest, mode)
    if unit_name:
        with open(args.agent_unit) as f:
            installable = "[Install]" in f.read()
        # A unit without [Install] is started by its udev rule when the port appears (as at
        # boot); starting it here stands in for that, enabling it would only print a notice.
        enable = f"systemctl enable {unit_name} && " if installable else ""
        g.run(f"systemctl daemon-reload && udevadm control --reload && "
              f"{enable}systemctl restart {unit_name}", check=True)
    return unit_name


def failure_details(g, agent_unit):
    text = g.console_tail(40)
    if agent_unit and g.proc and g.proc.poll() is None:
        try:
            _, journal = g.run(f"journalctl -b --no-pager -n 40 -u {agent_unit}", timeout=30)
            text += f"\n--- agent journal ({agent_unit}) ---\n{journal}--- end of journal ---"
        except vm.GuestError as e:
            text += f"\n(agent journal unavailable: {e})"
    return text


def main(argv):
    ap = argparse.ArgumentParser(description="Run the quiesce-agent VM checks in a QEMU guest.")
    ap.add_argument("--agent-bin", help="agent binary to install in the guest")
    ap.add_argument("--agent-unit", help="systemd unit to install and start in the guest")
    ap.add_argument("--agent-file", action="append", default=[], metavar="SRC:DEST",
                    help="extra file to copy into the guest (udev rule, config); repeatable")
    ap.add_argument("--list", action="store_true", help="list the checks and exit")
    ap.add_argument("--boot-timeout", type=int, default=300)
    ap.add_argument("checks", nargs="*", metavar="CHECK")
    args = ap.parse_args(argv)
    if args.list:
        for name, fn in CHECKS.items():
            print(f"{name}: {(fn.__doc__ or '').strip().splitlines()[0]}")
        return 0
    unknown = [c for c in args.checks if c not in CHECKS]
    if unknown:
        ap.error(f"unknown checks: {' '.join(unknown)} (see --list)")
    selected = args.checks or list(CHECKS)
    vm._install_signal_handlers()

    passed = failed = 0
    t_suite = time.monotonic()
    g = vm.Guest()
    try:
        say("== building or reusing the guest image")
        g.prepare()
        say(f"   image {g.image_dir} ({g.timings.get('image', 0):.0f}s)")
        say("== booting the guest")
        g.boot(timeout=args.boot_timeout)
        say(f"   up after {g.timings['system_running']:.0f}s")
        say("== provisioning storage")
        g.provision()
        say(f"   done in {g.timings['provision']:.0f}s")
        agent_unit = None
        if args.agent_bin or args.agent_unit or args.agent_file:
            say("== installing the agent")
            agent_unit = install_agent(g, args)
        ctx = Context(g, agent_unit)
        for name in selected:
            t0 = time.monotonic()
            try:
                CHECKS[name](ctx)
            except Exception as e:  # any failure of a check is that check's failure
                failed += 1
                detail = str(e) if isinstance(e, (CheckFailed, vm.GuestError)) \
                    else traceback.format_exc()
                say(f"FAIL {name} ({time.monotonic() - t0:.1f}s)\n{detail}")
                say(failure_details(g, agent_unit))
            else:
                passed += 1
                say(f"PASS {name} ({time.monotonic() - t0:.1f}s)")
        say("== shutting down")
        g.shutdown()
    except (Exception, KeyboardInterrupt, SystemExit) as e:
        # Setup broke (image, boot, provisioning): every check that did not run failed.
        failed = len(selected) - passed
        say(f"ERROR: {e if isinstance(e, vm.GuestError) else traceback.format_exc()}")
        if g.workdir:
            say(g.console_tail(40))
    finally:
        g.cleanup()
    say(f"   suite took {time.monotonic() - t_suite:.0f}s")
    say(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
