/* system/netif.c on getifaddrs() lists and /proc/net files captured from this machine and from
 * a network namespace made for labels, tun and long names (tests/fixtures/network/README.md),
 * plus hand-written edge cases. */
/* cmocka.h needs these before it */
/* clang-format off */
#include <glib.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
/* clang-format on */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netpacket/packet.h>
#include <string.h>
#include <sys/socket.h>

#include "netif.h"
#include "qa-error.h"

static gchar *
fixture_path(const gchar *capture, const gchar *name)
{
	const gchar *fixtures = g_getenv("QA_FIXTURES");

	return g_build_filename(fixtures != NULL ? fixtures : ".", "network", capture, name, NULL);
}

static QaRoots *
fixture_roots(const gchar *capture)
{
	g_autofree gchar *proc = fixture_path(capture, "proc");

	return qa_roots_new(proc, "/nonexistent", "/dev", FALSE);
}

/* a getifaddrs() list rebuilt from a capture.py line list; every piece lives in @keep */
static struct sockaddr *
sockaddr_new(GPtrArray *keep, gint family, const gchar *text)
{
	struct sockaddr_storage *ss = g_new0(struct sockaddr_storage, 1);

	g_ptr_array_add(keep, ss);
	ss->ss_family = family;
	if (family == AF_INET)
		assert_int_equal(inet_pton(AF_INET, text, &((struct sockaddr_in *)ss)->sin_addr),
				 1);
	else
		assert_int_equal(inet_pton(AF_INET6, text, &((struct sockaddr_in6 *)ss)->sin6_addr),
				 1);
	return (struct sockaddr *)ss;
}

static struct sockaddr *
sockaddr_ll_new(GPtrArray *keep, const gchar *hex)
{
	struct sockaddr_storage *ss = g_new0(struct sockaddr_storage, 1);
	struct sockaddr_ll *ll = (struct sockaddr_ll *)ss;

	g_ptr_array_add(keep, ss);
	ll->sll_family = AF_PACKET;
	ll->sll_halen = hex != NULL ? strlen(hex) / 2 : 0;
	for (guint i = 0; i < ll->sll_halen && i < sizeof(ll->sll_addr); i++)
		ll->sll_addr[i] =
		    g_ascii_xdigit_value(hex[2 * i]) << 4 | g_ascii_xdigit_value(hex[2 * i + 1]);
	return (struct sockaddr *)ss;
}

static struct ifaddrs *
ifaddrs_from_lines(GPtrArray *keep, const gchar *text)
{
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	struct ifaddrs *head = NULL;
	struct ifaddrs **tail = &head;

	for (guint i = 0; lines[i] != NULL; i++) {
		g_auto(GStrv) f = g_strsplit(lines[i], " ", -1);
		struct ifaddrs *ifa;
		guint n = g_strv_length(f);

		if (n < 2)
			continue;
		ifa = g_new0(struct ifaddrs, 1);
		g_ptr_array_add(keep, ifa);
		ifa->ifa_name = g_strdup(f[1]);
		g_ptr_array_add(keep, ifa->ifa_name);
		if (strcmp(f[0], "packet") == 0) {
			ifa->ifa_addr = sockaddr_ll_new(keep, n > 2 ? f[2] : NULL);
		} else if (strcmp(f[0], "inet") == 0 || strcmp(f[0], "inet6") == 0) {
			gint family = strcmp(f[0], "inet") == 0 ? AF_INET : AF_INET6;
			assert_int_equal(n, 4);
			ifa->ifa_addr = sockaddr_new(keep, family, f[2]);
			if (strcmp(f[3], "-") != 0)
				ifa->ifa_netmask = sockaddr_new(keep, family, f[3]);
		} else if (strcmp(f[0], "other") == 0) {
			struct sockaddr_storage *ss = g_new0(struct sockaddr_storage, 1);
			g_ptr_array_add(keep, ss);
			ss->ss_family = (sa_family_t)atoi(f[2]);
			ifa->ifa_addr = (struct sockaddr *)ss;
		}
		*tail = ifa;
		tail = &ifa->ifa_next;
	}
	return head;
}

/* the interfaces of capture @capture, as guest-network-get-interfaces' system layer sees them */
static GPtrArray *
list_from_capture(const gchar *capture)
{
	g_autofree gchar *ifaddrs_path = fixture_path(capture, "ifaddrs");
	g_autofree gchar *dev_path = fixture_path(capture, "proc/net/dev");
	g_autofree gchar *ifaddrs_text = NULL;
	g_autofree gchar *dev_text = NULL;
	g_autoptr(GPtrArray) keep = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GHashTable) stats = NULL;
	struct ifaddrs *ifap;

	assert_true(g_file_get_contents(ifaddrs_path, &ifaddrs_text, NULL, NULL));
	assert_true(g_file_get_contents(dev_path, &dev_text, NULL, NULL));
	stats = qa_netif_dev_parse(dev_text);
	ifap = ifaddrs_from_lines(keep, ifaddrs_text);
	return qa_netif_list_build(ifap, stats);
}

/* "name mac|- addr/prefix,..." for compact comparison */
static gchar *
netif_describe(const QaNetif *netif)
{
	GString *out = g_string_new(netif->name);

	g_string_append_printf(
	    out, " %s", netif->hardware_address != NULL ? netif->hardware_address : "-");
	for (guint i = 0; netif->addresses != NULL && i < netif->addresses->len; i++) {
		const QaNetifAddress *a = g_ptr_array_index(netif->addresses, i);
		g_string_append_printf(out,
				       "%s%s/%u%s",
				       i == 0 ? " " : ",",
				       a->address,
				       a->prefix,
				       a->family == QA_NETIF_FAMILY_IPV4 ? "" : "(6)");
	}
	g_string_append(out, netif->statistics != NULL ? " stats" : " nostats");
	return g_string_free(out, FALSE);
}

static void
assert_interfaces(const gchar *capture, const gchar *const *expected)
{
	g_autoptr(GPtrArray) list = list_from_capture(capture);

	for (guint i = 0; i < list->len || expected[i] != NULL; i++) {
		g_autofree gchar *got =
		    i < list->len ? netif_describe(g_ptr_array_index(list, i)) : g_strdup("(none)");
		if (expected[i] == NULL || strcmp(got, expected[i]) != 0)
			fail_msg("%s interface %u: got '%s', expected '%s'",
				 capture,
				 i,
				 got,
				 expected[i] != NULL ? expected[i] : "(none)");
	}
}

/* this machine: qemu-ga 7.2's reply on it has the same names, order, MACs and addresses */
static void
test_interfaces_host(void **state)
{
	static const gchar *const expected[] = {
	    "lo 00:00:00:00:00:00 127.0.0.1/8,::1/128(6) stats",
	    /* no address: still listed, with its counters */
	    "ifb0 16:02:e7:9e:c2:5d stats",
	    "ifb1 0a:4a:f1:fa:33:0b stats",
	    "eth0 02:fc:00:00:00:01 192.0.2.2/24,fd00::2/64(6),fe80::fc:ff:fe00:1/64(6) stats",
	    NULL,
	};

	assert_interfaces("host", expected);
}

static void
test_interfaces_netns(void **state)
{
	static const gchar *const expected[] = {
	    "lo 00:00:00:00:00:00 127.0.0.1/8,fd02::5/128(6),::1/128(6) stats",
	    "ifb7 86:48:27:3d:bd:d7 stats",
	    /* IPv6 addresses come after every IPv4 one, under the interface's own name */
	    "tap0 52:54:00:ab:cd:ef 10.9.9.1/24,fd01::1/64(6) stats",
	    /* no link-layer address: zeros, as SIOCGIFHWADDR gives qemu-ga */
	    "tun0 00:00:00:00:00:00 10.5.5.5/32 stats",
	    "verylongname012 52:54:00:00:00:0f 172.31.255.1/20 stats",
	    /* labels are interfaces of their own, with their interface's MAC and no counters */
	    "tap0:1 52:54:00:ab:cd:ef 10.9.8.1/16 nostats",
	    "tap0:x 52:54:00:ab:cd:ef 10.9.7.1/32 nostats",
	    NULL,
	};

	assert_interfaces("netns", expected);
}

static void
test_interfaces_stats_values(void **state)
{
	g_autoptr(GPtrArray) list = list_from_capture("host");
	const QaNetif *eth0 = g_ptr_array_index(list, 3);
	const QaNetifStats *s = eth0->statistics;

	assert_string_equal(eth0->name, "eth0");
	assert_non_null(s);
	/* tests/fixtures/network/host/proc/net/dev, eth0's line */
	assert_int_equal(s->rx_bytes, 636072808);
	assert_int_equal(s->rx_packets, 14072);
	assert_int_equal(s->rx_errs, 0);
	assert_int_equal(s->rx_dropped, 0);
	assert_int_equal(s->tx_bytes, 738363);
	assert_int_equal(s->tx_packets, 9592);
}

static void
test_interfaces_edges(void **state)
{
	g_autoptr(GPtrArray) keep = g_ptr_array_new_with_free_func(g_free);
	/* an address without netmask; an unknown family; a label whose link is gone; an entry
	 * of another family only */
	struct ifaddrs *ifap = ifaddrs_from_lines(keep,
						  "packet ib0 80000048fe800000000000000002c903\n"
						  "inet ib0 10.0.0.1 -\n"
						  "other ib0 99\n"
						  "inet gone:1 10.0.0.2 255.255.255.128\n"
						  "other weird 99\n");
	g_autoptr(GPtrArray) list = qa_netif_list_build(ifap, NULL);
	static const gchar *const expected[] = {
	    /* a 20-byte InfiniBand address: its first 6 bytes, as SIOCGIFHWADDR gives */
	    "ib0 80:00:00:48:fe:80 10.0.0.1/0 nostats",
	    "gone:1 - 10.0.0.2/25 nostats",
	    "weird - nostats",
	};

	assert_int_equal(list->len, G_N_ELEMENTS(expected));
	for (guint i = 0; i < list->len; i++) {
		g_autofree gchar *got = netif_describe(g_ptr_array_index(list, i));
		assert_string_equal(got, expected[i]);
	}
}

static void
test_prefix_and_mac(void **state)
{
	static const guint8 mask4[] = {255, 255, 240, 0};
	static const guint8 mask6[16] = {255, 255, 255, 255, 255, 255, 255, 128};
	static const guint8 full[16] = {
	    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255};
	static const guint8 short_addr[] = {0xAB, 0x01};
	static const guint8 eth[] = {0x52, 0x54, 0x00, 0xAB, 0xCD, 0xEF};
	g_autofree gchar *mac_eth = qa_netif_mac_format(eth, sizeof(eth));
	g_autofree gchar *mac_short = qa_netif_mac_format(short_addr, sizeof(short_addr));
	g_autofree gchar *mac_none = qa_netif_mac_format(NULL, 0);

	assert_int_equal(qa_netif_prefix_from_netmask(mask4, sizeof(mask4)), 20);
	assert_int_equal(qa_netif_prefix_from_netmask(mask6, sizeof(mask6)), 57);
	assert_int_equal(qa_netif_prefix_from_netmask(full, sizeof(full)), 128);
	assert_int_equal(qa_netif_prefix_from_netmask(full, 0), 0);
	assert_string_equal(mac_eth, "52:54:00:ab:cd:ef");
	assert_string_equal(mac_short, "ab:01:00:00:00:00");
	assert_string_equal(mac_none, "00:00:00:00:00:00");
}

static void
test_dev_parse_edges(void **state)
{
	const gchar *text =
	    "Inter-|   Receive                                                |  Transmit\n"
	    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets "
	    "errs drop fifo colls carrier compressed\n"
	    "verylongname012:18446744073709551615 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n"
	    "  short: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n"
	    "  long: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n"
	    "  over: 18446744073709551616 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n"
	    "  neg: -1 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n"
	    "  hex: 0x1 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n"
	    ": 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n"
	    "  eth0:\t1\t2 3 4 5 6 7 8 9 10 11 12 13 14 15 16";
	g_autoptr(GHashTable) stats = qa_netif_dev_parse(text);
	const QaNetifStats *big = g_hash_table_lookup(stats, "verylongname012");
	const QaNetifStats *eth0 = g_hash_table_lookup(stats, "eth0");
	const QaNetifStats *longer = g_hash_table_lookup(stats, "long");

	/* "long" has a 17th column: ignored; "short" lacks one: skipped */
	assert_int_equal(g_hash_table_size(stats), 3);
	assert_non_null(longer);
	assert_int_equal(longer->tx_dropped, 12);
	assert_non_null(big);
	assert_true(big->rx_bytes == G_MAXUINT64);
	assert_int_equal(big->rx_dropped, 3);
	assert_int_equal(big->tx_bytes, 8);
	assert_int_equal(big->tx_dropped, 11);
	assert_non_null(eth0);
	assert_int_equal(eth0->rx_bytes, 1);
	assert_int_equal(eth0->tx_dropped, 12);
}

static const gchar *
route_describe(GString *out, const QaNetifRoute *r)
{
	g_string_truncate(out, 0);
	if (r->version == 4)
		g_string_printf(out,
				"4 %s %s gw=%s mask=%s flags=%u metric=%" G_GINT64_FORMAT
				" refcnt=%" G_GINT64_FORMAT " use=%" G_GINT64_FORMAT
				" mtu=%" G_GINT64_FORMAT " window=%" G_GINT64_FORMAT
				" irtt=%" G_GINT64_FORMAT,
				r->iface,
				r->destination,
				r->gateway,
				r->mask,
				r->flags,
				r->metric,
				r->refcnt,
				r->use,
				r->mtu,
				r->window,
				r->irtt);
	else
		g_string_printf(out,
				"6 %s %s/%u src=%s/%u via=%s flags=%u metric=%" G_GINT64_FORMAT
				" refcnt=%" G_GINT64_FORMAT " use=%" G_GINT64_FORMAT,
				r->iface,
				r->destination,
				r->desprefixlen,
				r->source,
				r->srcprefixlen,
				r->nexthop,
				r->flags,
				r->metric,
				r->refcnt,
				r->use);
	return out->str;
}

static void
assert_routes(GPtrArray *routes, const gchar *const *expected)
{
	g_autoptr(GString) buf = g_string_new(NULL);

	for (guint i = 0; i < routes->len || expected[i] != NULL; i++) {
		const gchar *got =
		    i < routes->len ? route_describe(buf, g_ptr_array_index(routes, i)) : "(none)";
		if (expected[i] == NULL || strcmp(got, expected[i]) != 0)
			fail_msg("route %u: got '%s', expected '%s'",
				 i,
				 got,
				 expected[i] != NULL ? expected[i] : "(none)");
	}
}

static void
test_routes_host(void **state)
{
	g_autoptr(QaRoots) roots = fixture_roots("host");
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) routes = qa_netif_routes_load(roots, &error);
	static const gchar *const expected[] = {
	    "4 eth0 0.0.0.0 gw=192.0.2.1 mask=0.0.0.0 flags=3 metric=0 refcnt=0 use=0 mtu=0 "
	    "window=0 irtt=0",
	    "4 eth0 192.0.2.0 gw=0.0.0.0 mask=255.255.255.0 flags=1 metric=0 refcnt=0 use=0 mtu=0 "
	    "window=0 irtt=0",
	    "6 eth0 fd00::/64 src=::/0 via=:: flags=1 metric=256 refcnt=1 use=0",
	    "6 eth0 fe80::/64 src=::/0 via=:: flags=1 metric=256 refcnt=2 use=0",
	    "6 eth0 ::/0 src=::/0 via=fd00::1 flags=3 metric=1024 refcnt=2 use=0",
	    /* RTF_LOCAL is bit 31: the flags are the kernel's u32, not a sign-extended int */
	    "6 lo ::1/128 src=::/0 via=:: flags=2149580801 metric=0 refcnt=4 use=0",
	    "6 eth0 fd00::2/128 src=::/0 via=:: flags=2149580801 metric=0 refcnt=3 use=0",
	    "6 eth0 fe80::fc:ff:fe00:1/128 src=::/0 via=:: flags=2149580801 metric=0 refcnt=2 "
	    "use=0",
	    "6 eth0 ff00::/8 src=::/0 via=:: flags=1 metric=256 refcnt=3 use=0",
	    /* the reject route: metric 0xffffffff is 4294967295, as `ip -6 route` prints it */
	    "6 lo ::/0 src=::/0 via=:: flags=2097664 metric=4294967295 refcnt=1 use=0",
	    NULL,
	};

	assert_non_null(routes);
	assert_routes(routes, expected);
}

static void
test_routes_netns(void **state)
{
	g_autoptr(QaRoots) roots = fixture_roots("netns");
	g_autoptr(GPtrArray) routes = qa_netif_routes_load(roots, NULL);
	g_autoptr(GString) buf = g_string_new(NULL);

	assert_non_null(routes);
	assert_int_equal(routes->len, 5 + 8);
	/* "ip route add 10.20.0.0/16 via 10.9.9.254 dev tap0 metric 7 window 65535 rtt 200" */
	assert_string_equal(route_describe(buf, g_ptr_array_index(routes, 4)),
			    "4 tap0 10.20.0.0 gw=10.9.9.254 mask=255.255.0.0 flags=3 metric=7 "
			    "refcnt=0 use=0 mtu=0 window=65535 irtt=25");
	assert_string_equal(route_describe(buf, g_ptr_array_index(routes, 1)),
			    "4 tun0 10.5.5.6 gw=0.0.0.0 mask=255.255.255.255 flags=5 metric=0 "
			    "refcnt=0 use=0 mtu=0 window=0 irtt=0");
	assert_string_equal(route_describe(buf, g_ptr_array_index(routes, 7)),
			    "6 tap0 fd03::/48 src=::/0 via=fd01::fe flags=3 metric=2048 refcnt=1 "
			    "use=0");
}

static void
test_routes_edges(void **state)
{
	g_autoptr(GPtrArray) routes =
	    g_ptr_array_new_with_free_func((GDestroyNotify)qa_netif_route_free);
	g_autoptr(GError) error = NULL;
	g_autoptr(QaRoots) nowhere = qa_roots_new("/nonexistent", "/nonexistent", "/dev", FALSE);
	g_autoptr(GPtrArray) none = qa_netif_routes_load(nowhere, &error);
	g_autoptr(QaRoots) v4_only = fixture_roots("no-ipv6");
	g_autoptr(GPtrArray) v4_routes = qa_netif_routes_load(v4_only, NULL);

	qa_netif_routes_parse(
	    "Iface\tDestination\tGateway\n"
	    "eth0\t0100A8C0\n"
	    "eth0\tXX00A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
	    "eth0\t100000000\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
	    "eth0\t-1\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
	    "eth0\t0000A8C0\t00000000\t0001\t0\t0\t-5\t00FFFFFF\t0\t0\t0\textra\n",
	    4,
	    routes);
	qa_netif_routes_parse(
	    "fd00 40 00000000000000000000000000000000 00 00000000000000000000000000000000 "
	    "00000100 00000001 00000000 00000001 eth0\n"
	    "fd000000000000000000000000000000 81 00000000000000000000000000000000 00 "
	    "00000000000000000000000000000000 00000100 00000001 00000000 00000001 eth0\n"
	    "fd00000000000000000000000000000g 40 00000000000000000000000000000000 00 "
	    "00000000000000000000000000000000 00000100 00000001 00000000 00000001 eth0\n"
	    "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 "
	    "00000000000000000000000000000000 00000100 00000001 00000000 00000001\n",
	    6,
	    routes);
	/* only the last IPv4 line is a route: a negative metric is what the kernel printed */
	assert_int_equal(routes->len, 1);
	assert_int_equal(((QaNetifRoute *)g_ptr_array_index(routes, 0))->metric, -5);
	assert_null(none);
	assert_true(g_error_matches(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_FAILED));
	assert_non_null(strstr(error->message, "/nonexistent/net/route"));
	/* a kernel booted with ipv6.disable=1 has no ipv6_route: its IPv4 routes still come */
	assert_non_null(v4_routes);
	assert_int_equal(v4_routes->len, 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_interfaces_host),
	    cmocka_unit_test(test_interfaces_netns),
	    cmocka_unit_test(test_interfaces_stats_values),
	    cmocka_unit_test(test_interfaces_edges),
	    cmocka_unit_test(test_prefix_and_mac),
	    cmocka_unit_test(test_dev_parse_edges),
	    cmocka_unit_test(test_routes_host),
	    cmocka_unit_test(test_routes_netns),
	    cmocka_unit_test(test_routes_edges),
	};
	return cmocka_run_group_tests_name("netif", tests, NULL, NULL);
}
