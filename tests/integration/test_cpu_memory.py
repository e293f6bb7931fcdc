"""CPUs, memory blocks and the kernel's counters over the socket, on the machine the tests run on.

The get commands are compared with what this test reads from /sys and /proc itself. That
machine's CPUs and memory must never change state: guest-set-vcpus and guest-set-memory-blocks
are sent only with entries that cannot change anything (a guard below checks every one before
it is sent): CPUs and blocks that do not exist, a CPU or block asked to be online that is online
already, and the CPU without an online file asked to go offline, which no write can do.
Changing a state is tested on copies of fixture trees (tests/unit/test-cpu-memory.c) and in the
QEMU guest.
"""

import os
import re
import unittest

import qalib

CPU_DIR = "/sys/devices/system/cpu"
MEMORY_DIR = "/sys/devices/system/memory"
CPU_FIELDS = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest",
              "guestnice"]
# not monotonic: idle and iowait come from the nohz idle clock, which may step back
CPU_GROWING = {"user", "nice", "system", "irq", "softirq", "steal", "guest", "guestnice"}
DISK_FIELDS = ["read-ios", "read-merges", "read-sectors", "read-ticks", "write-ios",
               "write-merges", "write-sectors", "write-ticks", "ios-pgr", "total-ticks",
               "weight-ticks", "discard-ios", "discard-merges", "discard-sectors",
               "discard-ticks", "flush-ios", "flush-ticks"]
UINT64_MAX = 2**64 - 1
INT64_MAX = 2**63 - 1


def read(path):
    with open(path) as f:
        return f.read()


def indices(directory, prefix):
    if not os.path.isdir(directory):
        return []
    pattern = re.compile(prefix + r"(0|[1-9][0-9]*)$")
    return sorted(int(m.group(1)) for m in map(pattern.match, os.listdir(directory)) if m)


def sys_vcpus():
    """What guest-get-vcpus should say, read as qemu-ga reads it."""
    out = []
    for n in indices(CPU_DIR, "cpu"):
        path = f"{CPU_DIR}/cpu{n}/online"
        if os.path.exists(path):
            out.append({"logical-id": n, "online": read(path).strip() == "1",
                        "can-offline": True})
        else:
            out.append({"logical-id": n, "online": True, "can-offline": False})
    return out


def sys_memory_blocks():
    out = []
    for n in indices(MEMORY_DIR, "memory"):
        d = f"{MEMORY_DIR}/memory{n}"
        if not os.path.exists(f"{d}/state"):
            out.append({"phys-index": n, "online": True, "can-offline": False})
            continue
        removable = f"{d}/removable"
        can = os.path.exists(removable) and read(removable)[:1] != "0"
        out.append({"phys-index": n, "online": read(f"{d}/state").startswith("online"),
                    "can-offline": can})
    return out


def proc_cpu_lines():
    """{cpu: [ticks...]} of the cpuN lines of /proc/stat"""
    out = {}
    for line in read("/proc/stat").splitlines():
        words = line.split()
        if words and re.fullmatch(r"cpu[0-9]+", words[0]):
            out[int(words[0][3:])] = [int(w) for w in words[1:11]]
    return out


def proc_disk_lines():
    """{(name, major, minor): [counters...]} of /proc/diskstats"""
    out = {}
    for line in read("/proc/diskstats").splitlines():
        w = line.split()
        if len(w) >= 7:
            out[(w[2], int(w[0]), int(w[1]))] = [int(x) for x in w[3:20]]
    return out


class CpuMemoryTest(unittest.TestCase):
    def setUp(self):
        self.agent = qalib.Agent("--confine-mounts", "/nonexistent-confinement")
        self.client = self.agent.client()

    def tearDown(self):
        self.client.close()
        self.agent.__exit__(None, None, None)

    def assert_error(self, reply, contains=None):
        self.assertEqual(set(reply), {"error"}, reply)
        self.assertEqual(reply["error"]["class"], "GenericError", reply)
        if contains is not None:
            self.assertIn(contains, reply["error"]["desc"])
        return reply["error"]["desc"]

    # --- the guards: nothing that could change a state is ever sent -------------------------

    def safe_vcpus(self, vcpus):
        """Checks that no entry of a well-formed guest-set-vcpus can change a CPU."""
        current = {v["logical-id"]: v for v in sys_vcpus()}
        for entry in vcpus:
            cpu = current.get(entry["logical-id"])
            if cpu is None:
                continue  # no such CPU
            if entry["online"]:
                self.assertTrue(cpu["online"], entry)
            else:
                self.assertFalse(os.path.exists(f"{CPU_DIR}/cpu{entry['logical-id']}/online"))

    def set_vcpus(self, vcpus):
        self.safe_vcpus(vcpus)
        before = sys_vcpus()
        reply = self.client.execute("guest-set-vcpus", {"vcpus": vcpus})
        self.assertEqual(sys_vcpus(), before)
        return reply

    def set_memory_blocks(self, blocks):
        current = {b["phys-index"]: b for b in sys_memory_blocks()}
        for entry in blocks:
            block = current.get(entry["phys-index"])
            self.assertTrue(block is None or (entry["online"] and block["online"]), entry)
        before = sys_memory_blocks()
        reply = self.client.execute("guest-set-memory-blocks", {"mem-blks": blocks})
        self.assertEqual(sys_memory_blocks(), before)
        return reply

    def unknown_cpu(self):
        return max(v["logical-id"] for v in sys_vcpus()) + 1000

    # --- guest-get-vcpus ---------------------------------------------------------------------

    def test_get_vcpus(self):
        got = self.client.ok("guest-get-vcpus")
        self.assertEqual(got, sys_vcpus())
        for v in got:
            # what libvirt refuses ("Invalid data provided by guest agent")
            self.assertTrue(v["online"] or v["can-offline"], v)

    def test_get_vcpus_takes_no_arguments(self):
        self.assert_error(self.client.execute("guest-get-vcpus", {"logical-id": 0}))
        self.client.ok("guest-ping")

    # --- guest-set-vcpus: only what changes nothing -----------------------------------------

    def test_set_vcpus_unknown(self):
        n = self.unknown_cpu()
        for online in (True, False):
            desc = self.assert_error(self.set_vcpus([{"logical-id": n, "online": online}]))
            self.assertIn(f"Logical processor {n} does not exist", desc)
        for n in (-1, -(2**63), INT64_MAX):
            desc = self.assert_error(self.set_vcpus([{"logical-id": n, "online": True}]))
            self.assertIn(f"Logical processor {n} does not exist", desc)

    def test_set_vcpus_empty(self):
        # qemu-ga processes nothing and says so; libvirt never sends an empty list
        self.assertEqual(self.set_vcpus([]), {"return": 0})

    def test_set_vcpus_already_online(self):
        online = [v["logical-id"] for v in sys_vcpus() if v["online"]]
        vcpus = [{"logical-id": n, "online": True} for n in online]
        self.assertEqual(self.set_vcpus(vcpus), {"return": len(vcpus)})
        # can-offline is ignored, as the schema says
        vcpus = [{"logical-id": online[0], "online": True, "can-offline": False}]
        self.assertEqual(self.set_vcpus(vcpus), {"return": 1})

    def test_set_vcpus_stops_at_failure(self):
        """A failure after the first ends the list; the count says where, without an error."""
        first = next(v["logical-id"] for v in sys_vcpus() if v["online"])
        unknown = self.unknown_cpu()
        vcpus = [{"logical-id": first, "online": True}, {"logical-id": unknown, "online": True},
                 {"logical-id": first, "online": True}]
        self.assertEqual(self.set_vcpus(vcpus), {"return": 1})

    def test_set_vcpus_cannot_offline(self):
        fixed = [v["logical-id"] for v in sys_vcpus() if not v["can-offline"]]
        if not fixed:
            self.skipTest("every CPU here has an online file")
        desc = self.assert_error(self.set_vcpus([{"logical-id": fixed[0], "online": False}]))
        self.assertIn(f"Logical processor {fixed[0]} cannot be taken offline", desc)

    def test_set_vcpus_many(self):
        online = next(v["logical-id"] for v in sys_vcpus() if v["online"])
        vcpus = [{"logical-id": online, "online": True}] * 5000
        self.assertEqual(self.set_vcpus(vcpus), {"return": 5000})
        vcpus = [{"logical-id": self.unknown_cpu() + i, "online": False} for i in range(5000)]
        self.assert_error(self.set_vcpus(vcpus), "does not exist")

    def test_set_vcpus_wrong_types(self):
        """Refused by the schema before the handler. Each would be a no-op even if it were
        taken: no CPU of that number, or online asked of an online CPU."""
        online = next(v["logical-id"] for v in sys_vcpus() if v["online"])
        unknown = self.unknown_cpu()
        bad = [
            None,
            {},
            {"vcpus": None},
            {"vcpus": "0"},
            {"vcpus": {"logical-id": online, "online": True}},
            {"vcpus": [online]},
            {"vcpus": [{"logical-id": str(online), "online": True}]},
            {"vcpus": [{"logical-id": online + 0.5, "online": True}]},
            {"vcpus": [{"logical-id": 2**64, "online": True}]},
            {"vcpus": [{"logical-id": -(2**63) - 1, "online": True}]},
            {"vcpus": [{"logical-id": unknown, "online": "false"}]},
            {"vcpus": [{"logical-id": unknown, "online": 0}]},
            {"vcpus": [{"logical-id": unknown, "online": None}]},
            {"vcpus": [{"logical-id": unknown}]},
            {"vcpus": [{"online": True}]},
            {"vcpus": [{"logical-id": online, "online": True, "can-offline": "no"}]},
            {"vcpus": [{"logical-id": online, "online": True, "extra": 1}]},
            {"vcpus": [{"logical-id": online, "online": True}], "extra": 1},
        ]
        before = sys_vcpus()
        for arguments in bad:
            with self.subTest(arguments=arguments):
                self.assert_error(self.client.execute("guest-set-vcpus", arguments))
        self.assertEqual(sys_vcpus(), before)
        self.client.ok("guest-ping")

    # --- memory blocks -----------------------------------------------------------------------

    def test_get_memory_blocks(self):
        got = self.client.ok("guest-get-memory-blocks")
        self.assertEqual(got, sys_memory_blocks())
        self.assertEqual([b["phys-index"] for b in got], sorted(b["phys-index"] for b in got))

    def test_get_memory_block_info(self):
        got = self.client.ok("guest-get-memory-block-info")
        self.assertEqual(got, {"size": int(read(f"{MEMORY_DIR}/block_size_bytes"), 16)})

    def test_set_memory_blocks_unknown(self):
        known = [b["phys-index"] for b in sys_memory_blocks()]
        for n in (max(known, default=0) + 1000, INT64_MAX):
            for online in (True, False):
                got = self.set_memory_blocks([{"phys-index": n, "online": online}])
                # the errno of the failed open, as qemu-ga adds it (ENOENT)
                self.assertEqual(got, {"return": [{"phys-index": n, "response": "not-found",
                                                   "error-code": 2}]})
        # the protocol's integers stop at 2^63 - 1 (protocol/schema-runtime.c); qemu-ga's
        # uint64 goes on to 2^64 - 1, where it finds no block either
        for n in (INT64_MAX + 1, UINT64_MAX):
            self.assert_error(self.set_memory_blocks([{"phys-index": n, "online": False}]))

    def test_set_memory_blocks_empty(self):
        self.assertEqual(self.set_memory_blocks([]), {"return": []})

    def test_set_memory_blocks_already_online(self):
        online = [b["phys-index"] for b in sys_memory_blocks() if b["online"]][:8]
        if not online:
            self.skipTest("no online memory block here")
        unknown = max(b["phys-index"] for b in sys_memory_blocks()) + 1
        blocks = [{"phys-index": n, "online": True} for n in online]
        blocks.insert(1, {"phys-index": unknown, "online": True, "can-offline": True})
        got = self.set_memory_blocks(blocks)
        want = [{"phys-index": n, "response": "success"} for n in online]
        want.insert(1, {"phys-index": unknown, "response": "not-found", "error-code": 2})
        self.assertEqual(got, {"return": want})

    def test_set_memory_blocks_wrong_types(self):
        """Refused by the schema; each names no block, or asks online, even if it were taken."""
        unknown = max((b["phys-index"] for b in sys_memory_blocks()), default=0) + 1000
        bad = [
            None,
            {},
            {"mem-blks": None},
            {"mem-blks": [unknown]},
            {"mem-blks": [{"phys-index": -1, "online": True}]},
            {"mem-blks": [{"phys-index": 2**64, "online": True}]},
            {"mem-blks": [{"phys-index": str(unknown), "online": True}]},
            {"mem-blks": [{"phys-index": unknown + 0.5, "online": True}]},
            {"mem-blks": [{"phys-index": unknown}]},
            {"mem-blks": [{"phys-index": unknown, "online": None}]},
            {"mem-blks": [{"phys-index": unknown, "online": "false"}]},
            {"mem-blks": [{"online": True}]},
            {"mem-blks": [{"phys-index": unknown, "online": True, "can-offline": 0}]},
            {"mem-blks": [{"phys-index": unknown, "online": True}], "vcpus": []},
        ]
        before = sys_memory_blocks()
        for arguments in bad:
            with self.subTest(arguments=arguments):
                self.assert_error(self.client.execute("guest-set-memory-blocks", arguments))
        self.assertEqual(sys_memory_blocks(), before)

    def test_memory_info_takes_no_arguments(self):
        for command in ("guest-get-memory-blocks", "guest-get-memory-block-info"):
            self.assert_error(self.client.execute(command, {"size": 1}))

    # --- counters ----------------------------------------------------------------------------

    def test_get_cpustats(self):
        hz = os.sysconf("SC_CLK_TCK")
        before = proc_cpu_lines()
        got = self.client.ok("guest-get-cpustats")
        after = proc_cpu_lines()
        self.assertEqual([s["cpu"] for s in got], list(before))
        for stat in got:
            ticks_before = before[stat["cpu"]]
            ticks_after = after[stat["cpu"]]
            # "type" and "cpu", then the columns this kernel has, named as qemu-ga names them
            self.assertEqual(stat["type"], "linux")
            self.assertEqual(set(stat), {"type", "cpu"} | set(CPU_FIELDS[:len(ticks_before)]))
            for i, field in enumerate(CPU_FIELDS[:len(ticks_before)]):
                self.assertIsInstance(stat[field], int)
                if field in CPU_GROWING:
                    # milliseconds, as ticks * 1000 / CLK_TCK
                    self.assertGreaterEqual(stat[field], ticks_before[i] * 1000 // hz, field)
                    self.assertLessEqual(stat[field], ticks_after[i] * 1000 // hz, field)
                else:
                    self.assertGreaterEqual(stat[field], 0)

    def test_get_diskstats(self):
        before = proc_disk_lines()
        got = self.client.ok("guest-get-diskstats")
        after = proc_disk_lines()
        self.assertTrue(got)
        keys = [(d["name"], d["major"], d["minor"]) for d in got]
        self.assertEqual(len(keys), len(set(keys)))
        # devices may come and go meanwhile (other tests attach loop devices)
        self.assertTrue(set(keys) <= set(before) | set(after))
        self.assertTrue(set(before) & set(after) <= set(keys))
        for disk in got:
            key = (disk["name"], disk["major"], disk["minor"])
            self.assertEqual(set(disk), {"name", "major", "minor", "stats"})
            if key not in before or key not in after:
                continue
            counters = before[key]
            self.assertIn(len(counters), (11, 15, 17))
            self.assertEqual(set(disk["stats"]), set(DISK_FIELDS[:len(counters)]))
            for i, field in enumerate(DISK_FIELDS[:len(counters)]):
                if field == "ios-pgr":
                    self.assertGreaterEqual(disk["stats"][field], 0)
                    continue
                self.assertGreaterEqual(disk["stats"][field], before[key][i], (key, field))
                self.assertLessEqual(disk["stats"][field], after[key][i], (key, field))

    def test_counters_take_no_arguments(self):
        for command in ("guest-get-cpustats", "guest-get-diskstats"):
            self.assert_error(self.client.execute(command, {"cpu": 0}))
        self.client.ok("guest-ping")

    def test_commands_listed(self):
        info = self.client.ok("guest-info")
        enabled = {c["name"]: c["enabled"] for c in info["supported_commands"]}
        for command in ("guest-get-vcpus", "guest-set-vcpus", "guest-get-memory-blocks",
                        "guest-set-memory-blocks", "guest-get-memory-block-info",
                        "guest-get-cpustats", "guest-get-diskstats"):
            self.assertTrue(enabled.get(command), command)


if __name__ == "__main__":
    unittest.main()
