"""guest-network-get-interfaces and guest-network-get-route over the socket, against `ip -j addr`
and Python's own reading of /proc/net, in the shapes libvirt requires.

Twice: on this machine's network as it is, and in a network namespace the test makes (unshare
--net: nothing of the machine's network changes) holding what a guest can have and this machine
lacks: IPv4 labels ("tap0:1"), a link without a link-layer address (tun), a 15-character name,
an IPv6 address on lo, routes with a gateway, a metric, a window and an rtt. When Debian's
qemu-guest-agent is installed, its qemu-ga is run in the same network namespace and the replies
are compared; the difference kept on purpose (counters also for interfaces without an address)
is asserted as such.
"""

import json
import os
import socket
import struct
import subprocess
import unittest

import qalib
from test_identity import NsAgent, QemuGa, needs_namespaces, needs_qemu_ga

NETNS_SETUP = r"""
set -eu
ip link set lo up
ip link add ifb7 type ifb
ip tuntap add tap0 mode tap
ip link set tap0 address 52:54:00:ab:cd:ef
ip link set tap0 up
ip addr add 10.9.9.1/24 dev tap0
ip addr add 10.9.8.1/16 dev tap0 label tap0:1
ip addr add 10.9.7.1/32 dev tap0 label tap0:x
ip -6 addr add fd01::1/64 dev tap0
ip -6 addr add fd02::5/128 dev lo
ip tuntap add tun0 mode tun
ip link set tun0 up
ip addr add 10.5.5.5 peer 10.5.5.6 dev tun0
ip tuntap add verylongname012 mode tap
ip link set verylongname012 address 52:54:00:00:00:0f
ip addr add 172.31.255.1/20 dev verylongname012
ip route add 10.20.0.0/16 via 10.9.9.254 dev tap0 metric 7 window 65535 rtt 200
ip route add default via 10.9.9.254
ip -6 route add fd03::/48 via fd01::fe dev tap0 metric 2048
"""
STAT_KEYS = ("rx-bytes", "rx-packets", "rx-errs", "rx-dropped",
             "tx-bytes", "tx-packets", "tx-errs", "tx-dropped")


def link_mac(link):
    """What SIOCGIFHWADDR gives for a link: its address's first 6 bytes, zeros without one."""
    parts = link.get("address", "").split(":")
    raw = bytes(int(p, 16) for p in parts) if len(parts) > 1 else b""
    return ":".join(f"{b:02x}" for b in (raw + bytes(6))[:6])


def expected_interfaces(links):
    """getifaddrs()'s grouping of `ip -j addr`: every link in ifindex order, then labels as
    their first address comes, IPv4 addresses (under their label) before IPv6 ones."""
    found = {}
    macs = {link["ifname"]: link_mac(link) for link in links}
    for link in links:
        found[link["ifname"]] = {"name": link["ifname"], "hardware-address": macs[link["ifname"]]}
    for family, kind in (("inet", "ipv4"), ("inet6", "ipv6")):
        for link in links:
            for ai in link.get("addr_info", []):
                if ai["family"] != family:
                    continue
                name = ai.get("label", link["ifname"]) if family == "inet" else link["ifname"]
                entry = found.setdefault(name, {"name": name})
                if "hardware-address" not in entry and name.split(":")[0] in macs:
                    entry["hardware-address"] = macs[name.split(":")[0]]
                entry.setdefault("ip-addresses", []).append(
                    {"ip-address": ai["local"], "ip-address-type": kind,
                     "prefix": ai["prefixlen"]})
    return list(found.values())


def read_dev(path):
    """/proc/net/dev: name -> the 8 counters the agent reports."""
    stats = {}
    with open(path) as f:
        for line in f:
            name, colon, rest = line.partition(":")
            fields = rest.split()
            if not colon or "|" in name or len(fields) != 16:
                continue
            values = [int(x) for x in fields]
            stats[name.strip()] = dict(zip(STAT_KEYS, values[0:4] + values[8:12]))
    return stats


def read_routes(net):
    """/proc/net/route and ipv6_route, as qemu-ga reports them (NET: a /proc/PID/net)."""
    def ipv4(text):
        # the kernel prints the address's memory as a host-order number
        return socket.inet_ntoa(struct.pack("=I", int(text, 16)))

    def ipv6(text):
        return socket.inet_ntop(socket.AF_INET6, bytes.fromhex(text))

    routes = []
    with open(os.path.join(net, "route")) as f:
        for line in f.read().splitlines()[1:]:
            v = line.split()
            routes.append({"iface": v[0], "destination": ipv4(v[1]), "metric": int(v[6]),
                           "gateway": ipv4(v[2]), "mask": ipv4(v[7]), "irtt": int(v[10]),
                           "flags": int(v[3], 16), "refcnt": int(v[4]), "use": int(v[5]),
                           "window": int(v[9]), "mtu": int(v[8]), "version": 4})
    with open(os.path.join(net, "ipv6_route")) as f:
        for line in f.read().splitlines():
            v = line.split()
            routes.append({"iface": v[9], "destination": ipv6(v[0]), "metric": int(v[5], 16),
                           "flags": int(v[8], 16), "refcnt": int(v[6], 16),
                           "use": int(v[7], 16), "desprefixlen": str(int(v[1], 16)),
                           "source": ipv6(v[2]), "srcprefixlen": str(int(v[3], 16)),
                           "nexthop": ipv6(v[4]), "version": 6})
    return routes


def without_statistics(interfaces):
    return [{k: v for k, v in i.items() if k != "statistics"} for i in interfaces]


def check_interface_shapes(test, interfaces):
    """What libvirt's qemuAgentGetInterfaces requires, and the counters' types."""
    test.assertIsInstance(interfaces, list)
    for entry in interfaces:
        test.assertLessEqual(set(entry), {"name", "hardware-address", "ip-addresses",
                                          "statistics"})
        test.assertIsInstance(entry["name"], str)
        if "hardware-address" in entry:
            test.assertRegex(entry["hardware-address"], r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")
        for ip in entry.get("ip-addresses", []):
            test.assertEqual(set(ip), {"ip-address", "ip-address-type", "prefix"})
            test.assertIn(ip["ip-address-type"], ("ipv4", "ipv6"))
            test.assertIsInstance(ip["ip-address"], str)
            test.assertIsInstance(ip["prefix"], int)
            test.assertGreaterEqual(ip["prefix"], 0)
            test.assertLessEqual(ip["prefix"], 32 if ip["ip-address-type"] == "ipv4" else 128)
        if "statistics" in entry:
            test.assertEqual(set(entry["statistics"]), set(STAT_KEYS))
            test.assertTrue(all(isinstance(v, int) and v >= 0
                                for v in entry["statistics"].values()))


class Common:
    """Checks run on the machine's network and in the test's namespace. Subclasses set
    cls.agent, cls.client, cls.ip_prefix (how to run `ip` there) and cls.net (its /proc/net)."""

    def interfaces_between(self):
        """The agent's interfaces, /proc/net/dev read just before and just after."""
        before = read_dev(os.path.join(self.net, "dev"))
        interfaces = self.client.ok("guest-network-get-interfaces")
        after = read_dev(os.path.join(self.net, "dev"))
        return before, interfaces, after

    def test_interfaces_match_ip(self):
        links = None
        for _ in range(10):
            out = subprocess.run(self.ip_prefix + ["ip", "-j", "addr"], check=True,
                                 capture_output=True, text=True).stdout
            interfaces = self.client.ok("guest-network-get-interfaces")
            again = subprocess.run(self.ip_prefix + ["ip", "-j", "addr"], check=True,
                                   capture_output=True, text=True).stdout
            if out == again:
                links = json.loads(out)
                break
        self.assertIsNotNone(links, "addresses kept changing")
        self.assertEqual(without_statistics(interfaces), expected_interfaces(links))

    def test_statistics(self):
        before, interfaces, after = self.interfaces_between()
        for entry in interfaces:
            if entry["name"] not in before:
                # a label has no line of its own
                self.assertIn(":", entry["name"])
                self.assertNotIn("statistics", entry)
                continue
            stats = entry["statistics"]
            for key in STAT_KEYS:
                self.assertLessEqual(before[entry["name"]][key], stats[key], key)
                self.assertLessEqual(stats[key], after[entry["name"]][key], key)

    def test_shapes(self):
        check_interface_shapes(self, self.client.ok("guest-network-get-interfaces"))
        for route in self.client.ok("guest-network-get-route"):
            self.assertIn(route["version"], (4, 6))
            self.assertTrue({"iface", "destination", "metric", "version"} <= set(route))

    def test_routes(self):
        for _ in range(10):
            before = read_routes(self.net)
            routes = self.client.ok("guest-network-get-route")
            if read_routes(self.net) == before:
                break
        self.assertEqual(routes, before)

    def test_hostile_arguments(self):
        for command in ("guest-network-get-interfaces", "guest-network-get-route"):
            for args in ({"name": "eth0"}, {"x": "../" * 1000}, [], "lo", -1):
                r = self.client.execute(command, args)
                self.assertEqual(r.get("error", {}).get("class"), "GenericError",
                                 f"{command} {args!r:.40}")
            self.assertIn("return", self.client.execute(command, {}))

    @needs_qemu_ga
    def test_same_as_qemu_ga(self):
        with QemuGa(self.qga_prefix) as qga:
            before = read_dev(os.path.join(self.net, "dev"))
            mine = self.client.ok("guest-network-get-interfaces")
            theirs = qga.execute("guest-network-get-interfaces")["return"]
            # names, order, MACs and addresses: the same
            self.assertEqual(without_statistics(mine), without_statistics(theirs))
            for a, b in zip(mine, theirs):
                if "statistics" in b:
                    self.assertEqual(set(a["statistics"]), set(b["statistics"]))
                elif "ip-addresses" not in a and a["name"] in before:
                    # kept on purpose: qemu-ga reads counters only after an address
                    self.assertIn("statistics", a)
                else:
                    self.assertNotIn("statistics", a)
            r = qga.execute("guest-network-get-route")
            # guest-network-get-route came in QEMU 9.1: Debian 12's 7.2 does not know it
            if "return" in r:
                self.assertEqual(len(r["return"]), len(self.client.ok("guest-network-get-route")))


class TestHost(Common, unittest.TestCase):
    """The machine's own network, read only."""

    @classmethod
    def setUpClass(cls):
        cls.agent = qalib.Agent()
        cls.client = cls.agent.client()
        cls.ip_prefix = []
        cls.qga_prefix = []
        cls.net = "/proc/self/net"

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        # as leaving a with block: a non-zero exit (valgrind) or a sanitizer report fails
        cls.agent.__exit__(None, None, None)


@needs_namespaces
class TestNetns(Common, unittest.TestCase):
    """A network namespace of the test's own, with labels, tun and long names."""

    @classmethod
    def setUpClass(cls):
        probe = subprocess.run(["unshare", "--net", "--", "sh", "-c", NETNS_SETUP],
                               capture_output=True, text=True)
        if probe.returncode != 0:
            raise unittest.SkipTest(f"cannot build the test network: {probe.stderr.strip()}")
        cls.agent = NsAgent(["unshare", "--net", "--", "sh", "-c", NETNS_SETUP + 'exec "$@"',
                             "sh"])
        cls.client = cls.agent.client()
        cls.ip_prefix = cls.agent.nsenter("net")
        cls.qga_prefix = cls.agent.nsenter("net")
        cls.net = f"/proc/{cls.agent.proc.pid}/net"

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        # as leaving a with block: a non-zero exit (valgrind) or a sanitizer report fails
        cls.agent.__exit__(None, None, None)

    def test_labels_tun_and_long_names(self):
        by_name = {i["name"]: i for i in self.client.ok("guest-network-get-interfaces")}
        self.assertEqual(by_name["tap0:1"]["hardware-address"], "52:54:00:ab:cd:ef")
        self.assertEqual(by_name["tap0:1"]["ip-addresses"],
                         [{"ip-address": "10.9.8.1", "ip-address-type": "ipv4", "prefix": 16}])
        self.assertEqual(by_name["tun0"]["hardware-address"], "00:00:00:00:00:00")
        self.assertEqual(by_name["tun0"]["ip-addresses"][0]["ip-address"], "10.5.5.5")
        self.assertIn("statistics", by_name["verylongname012"])
        self.assertNotIn("ip-addresses", by_name["ifb7"])
        self.assertEqual(by_name["ifb7"]["statistics"]["rx-bytes"], 0)

    def test_route_fields(self):
        routes = self.client.ok("guest-network-get-route")
        self.assertIn({"iface": "tap0", "destination": "10.20.0.0", "metric": 7,
                       "gateway": "10.9.9.254", "mask": "255.255.0.0", "irtt": 25, "flags": 3,
                       "refcnt": 0, "use": 0, "window": 65535, "mtu": 0, "version": 4}, routes)
        v6 = [r for r in routes if r["version"] == 6 and r["destination"] == "fd03::"]
        self.assertEqual(len(v6), 1)
        self.assertEqual((v6[0]["desprefixlen"], v6[0]["nexthop"], v6[0]["metric"]),
                         ("48", "fd01::fe", 2048))
        # the unreachable default of lo: the kernel's u32 metric, not -1
        self.assertTrue(any(r["iface"] == "lo" and r["metric"] == 4294967295 for r in routes))


if __name__ == "__main__":
    unittest.main()
