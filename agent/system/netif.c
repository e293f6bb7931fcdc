#include "netif.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netpacket/packet.h>
#include <string.h>
#include <sys/socket.h>

#include "kernel-file.h"
#include "qa-error.h"

/* the MAC is the first 6 bytes of the link-layer address, whatever its length (qemu-ga copies
 * ETHER_ADDR_LEN bytes out of SIOCGIFHWADDR) */
#define QA_NETIF_MAC_LEN 6
/* /proc/net/dev: 8 receive counters, then 8 transmit counters */
#define QA_NETIF_DEV_FIELDS 16

guint
qa_netif_prefix_from_netmask(const guint8 *mask, gsize len)
{
	guint bits = 0;

	for (gsize i = 0; i < len; i++)
		bits += (guint)__builtin_popcount(mask[i]);
	return bits;
}

gchar *
qa_netif_mac_format(const guint8 *addr, gsize len)
{
	guint8 mac[QA_NETIF_MAC_LEN] = {0};

	if (addr != NULL)
		memcpy(mac, addr, MIN(len, sizeof(mac)));
	return g_strdup_printf(
	    "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

/* the first 16 counters after "name:" (columns a later kernel may add are ignored, as by
 * qemu-ga's sscanf()); FALSE when there are fewer. Read in place: a guest with hundreds of
 * interfaces has a line for each */
static gboolean
qa_netif_dev_counters(const gchar *p, guint64 *out_counters)
{
	for (guint n = 0; n < QA_NETIF_DEV_FIELDS; n++) {
		gchar *end = NULL;

		p += strspn(p, " \t");
		if (!g_ascii_isdigit(*p))
			return FALSE;
		errno = 0;
		out_counters[n] = g_ascii_strtoull(p, &end, 10);
		if (errno != 0 || (*end != ' ' && *end != '\t' && *end != '\0'))
			return FALSE;
		p = end;
	}
	return TRUE;
}

GHashTable *
qa_netif_dev_parse(const gchar *text)
{
	g_autoptr(GHashTable) stats =
	    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);

	for (guint i = 0; lines[i] != NULL; i++) {
		/* names are right-aligned; a long one runs into its first counter ("veth0123:12")
		 */
		const gchar *line = lines[i] + strspn(lines[i], " \t");
		const gchar *colon = strchr(line, ':');
		guint64 c[QA_NETIF_DEV_FIELDS];
		QaNetifStats *s;

		/* the two header lines have no colon; interface names cannot contain one */
		if (colon == NULL || colon == line || !qa_netif_dev_counters(colon + 1, c))
			continue;
		s = g_new0(QaNetifStats, 1);
		s->rx_bytes = c[0];
		s->rx_packets = c[1];
		s->rx_errs = c[2];
		s->rx_dropped = c[3];
		s->tx_bytes = c[8];
		s->tx_packets = c[9];
		s->tx_errs = c[10];
		s->tx_dropped = c[11];
		g_hash_table_replace(stats, g_strndup(line, colon - line), s);
	}
	return g_steal_pointer(&stats);
}

/* name -> MAC text of every link, from the entries getifaddrs() lists first: AF_PACKET ones,
 * and ones without an address for links without a link-layer address (tun, wireguard), which
 * get zeros, as SIOCGIFHWADDR gives them to qemu-ga */
static GHashTable *
qa_netif_collect_macs(const struct ifaddrs *ifap)
{
	static const guint8 none[QA_NETIF_MAC_LEN] = {0};
	GHashTable *macs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);

	for (const struct ifaddrs *ifa = ifap; ifa != NULL; ifa = ifa->ifa_next) {
		const struct sockaddr_ll *ll = (const struct sockaddr_ll *)ifa->ifa_addr;
		gchar *mac;

		if (ifa->ifa_name == NULL || g_hash_table_contains(macs, ifa->ifa_name))
			continue;
		if (ll == NULL)
			mac = qa_netif_mac_format(none, sizeof(none));
		else if (ll->sll_family == AF_PACKET)
			mac = qa_netif_mac_format(ll->sll_addr,
						  MIN(ll->sll_halen, sizeof(ll->sll_addr)));
		else
			continue;
		g_hash_table_insert(macs, g_strdup(ifa->ifa_name), mac);
	}
	return macs;
}

/* an address entry's text and prefix; NULL for entries of other families */
static QaNetifAddress *
qa_netif_address_new(const struct ifaddrs *ifa)
{
	gchar text[INET6_ADDRSTRLEN];
	QaNetifAddress *address;
	const void *bytes;
	const guint8 *mask = NULL;
	gsize mask_len;

	if (ifa->ifa_addr == NULL)
		return NULL;
	if (ifa->ifa_addr->sa_family == AF_INET) {
		bytes = &((const struct sockaddr_in *)ifa->ifa_addr)->sin_addr;
		if (ifa->ifa_netmask != NULL)
			mask = (const guint8 *)&((const struct sockaddr_in *)ifa->ifa_netmask)
				   ->sin_addr;
		mask_len = sizeof(struct in_addr);
	} else if (ifa->ifa_addr->sa_family == AF_INET6) {
		bytes = &((const struct sockaddr_in6 *)ifa->ifa_addr)->sin6_addr;
		if (ifa->ifa_netmask != NULL)
			mask = (const guint8 *)&((const struct sockaddr_in6 *)ifa->ifa_netmask)
				   ->sin6_addr;
		mask_len = sizeof(struct in6_addr);
	} else {
		return NULL;
	}
	if (inet_ntop(ifa->ifa_addr->sa_family, bytes, text, sizeof(text)) == NULL)
		return NULL;
	address = g_new0(QaNetifAddress, 1);
	address->address = g_strdup(text);
	address->family =
	    ifa->ifa_addr->sa_family == AF_INET ? QA_NETIF_FAMILY_IPV4 : QA_NETIF_FAMILY_IPV6;
	/* an address without a netmask has prefix 0, as in qemu-ga */
	address->prefix = mask != NULL ? qa_netif_prefix_from_netmask(mask, mask_len) : 0;
	return address;
}

/* the interface called @name, added at the end of @list when it is new */
static QaNetif *
qa_netif_list_ensure(GPtrArray *list, GHashTable *by_name, GHashTable *macs, const gchar *name)
{
	QaNetif *netif = g_hash_table_lookup(by_name, name);
	g_autofree gchar *base = NULL;

	if (netif != NULL)
		return netif;
	netif = g_new0(QaNetif, 1);
	netif->name = g_strdup(name);
	/* a label ("eth0:1") has the MAC of its interface: SIOCGIFHWADDR, which qemu-ga asks,
	 * cuts the name at the colon */
	base = g_strndup(name, strcspn(name, ":"));
	netif->hardware_address = g_strdup(g_hash_table_lookup(macs, base));
	g_hash_table_insert(by_name, netif->name, netif);
	g_ptr_array_add(list, netif);
	return netif;
}

GPtrArray *
qa_netif_list_build(const struct ifaddrs *ifap, GHashTable *stats)
{
	g_autoptr(GPtrArray) list = g_ptr_array_new_with_free_func((GDestroyNotify)qa_netif_free);
	g_autoptr(GHashTable) by_name = g_hash_table_new(g_str_hash, g_str_equal);
	g_autoptr(GHashTable) macs = qa_netif_collect_macs(ifap);

	for (const struct ifaddrs *ifa = ifap; ifa != NULL; ifa = ifa->ifa_next) {
		QaNetif *netif;
		QaNetifAddress *address;

		if (ifa->ifa_name == NULL)
			continue;
		netif = qa_netif_list_ensure(list, by_name, macs, ifa->ifa_name);
		address = qa_netif_address_new(ifa);
		if (address == NULL)
			continue;
		if (netif->addresses == NULL)
			netif->addresses =
			    g_ptr_array_new_with_free_func((GDestroyNotify)qa_netif_address_free);
		g_ptr_array_add(netif->addresses, address);
	}
	/* every interface /proc/net/dev counts gets its counters, also one without an address
	 * (a bridge port, a bond slave): qemu-ga reads them only after its first address */
	for (guint i = 0; stats != NULL && i < list->len; i++) {
		QaNetif *netif = g_ptr_array_index(list, i);
		const QaNetifStats *s = g_hash_table_lookup(stats, netif->name);

		if (s != NULL)
			netif->statistics = g_memdup2(s, sizeof(*s));
	}
	return g_steal_pointer(&list);
}

GPtrArray *
qa_netif_list_load(const QaRoots *roots, GError **error)
{
	g_autofree gchar *dev_path = g_build_filename(roots->proc, "net", "dev", NULL);
	g_autofree gchar *dev_text = NULL;
	g_autoptr(GHashTable) stats = NULL;
	struct ifaddrs *ifap = NULL;
	GPtrArray *list;

	if (getifaddrs(&ifap) != 0) {
		gint errsv = errno;
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot list the network interfaces (getifaddrs): %s",
			    g_strerror(errsv));
		return NULL;
	}
	/* read once for all interfaces (qemu-ga reads it again for each one); without it the
	 * interfaces are still reported, without counters, as qemu-ga does */
	dev_text = qa_kernel_file_read_generated(dev_path, 4096, NULL);
	if (dev_text != NULL)
		stats = qa_netif_dev_parse(dev_text);
	list = qa_netif_list_build(ifap, stats);
	freeifaddrs(ifap);
	return list;
}

void
qa_netif_route_free(QaNetifRoute *route)
{
	if (route == NULL)
		return;
	g_free(route->iface);
	g_free(route->destination);
	g_free(route->gateway);
	g_free(route->mask);
	g_free(route->source);
	g_free(route->nexthop);
	g_free(route);
}

static gboolean
qa_netif_hex32(const gchar *text, guint32 *out_value)
{
	guint64 value;

	if (!g_ascii_isxdigit(text[0]) ||
	    !g_ascii_string_to_unsigned(text, 16, 0, G_MAXUINT32, &value, NULL))
		return FALSE;
	*out_value = (guint32)value;
	return TRUE;
}

static gboolean
qa_netif_dec(const gchar *text, gint64 *out_value)
{
	return g_ascii_string_to_signed(text, 10, G_MININT64, G_MAXINT64, out_value, NULL);
}

/* an IPv4 field: the kernel prints the address as it lies in memory, read as a host-order
 * number ("0100A8C0" is 192.168.0.1 on x86); stored back the same way it is those bytes again,
 * on any byte order (qemu-ga takes the low byte first, which is wrong on s390x) */
static gchar *
qa_netif_ipv4_text(guint32 value)
{
	struct in_addr addr = {.s_addr = value};
	gchar text[INET_ADDRSTRLEN];

	return g_strdup(inet_ntop(AF_INET, &addr, text, sizeof(text)));
}

/* an IPv6 field: 32 hex digits, the address's bytes in order */
static gchar *
qa_netif_ipv6_text(const gchar *hex)
{
	struct in6_addr addr;
	gchar text[INET6_ADDRSTRLEN];

	if (strlen(hex) != 2 * sizeof(addr.s6_addr))
		return NULL;
	for (guint i = 0; i < sizeof(addr.s6_addr); i++) {
		gint hi = g_ascii_xdigit_value(hex[2 * i]);
		gint lo = g_ascii_xdigit_value(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return NULL;
		addr.s6_addr[i] = (guint8)(hi << 4 | lo);
	}
	return g_strdup(inet_ntop(AF_INET6, &addr, text, sizeof(text)));
}

/* "Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT", addresses and
 * flags in hex, the rest in decimal; fields a later kernel may add are ignored */
static QaNetifRoute *
qa_netif_route_parse_ipv4(gchar **f, guint n)
{
	g_autoptr(QaNetifRoute) route = g_new0(QaNetifRoute, 1);
	guint32 destination, gateway, mask;

	if (n < 11 || !qa_netif_hex32(f[1], &destination) || !qa_netif_hex32(f[2], &gateway) ||
	    !qa_netif_hex32(f[3], &route->flags) || !qa_netif_dec(f[4], &route->refcnt) ||
	    !qa_netif_dec(f[5], &route->use) || !qa_netif_dec(f[6], &route->metric) ||
	    !qa_netif_hex32(f[7], &mask) || !qa_netif_dec(f[8], &route->mtu) ||
	    !qa_netif_dec(f[9], &route->window) || !qa_netif_dec(f[10], &route->irtt))
		return NULL;
	route->version = 4;
	route->iface = g_strdup(f[0]);
	route->destination = qa_netif_ipv4_text(destination);
	route->gateway = qa_netif_ipv4_text(gateway);
	route->mask = qa_netif_ipv4_text(mask);
	return g_steal_pointer(&route);
}

/* "destination plen source plen nexthop metric refcnt use flags iface", all numbers in hex
 * (the kernel's u32s: metric ffffffff is 4294967295, as `ip -6 route` shows it) */
static QaNetifRoute *
qa_netif_route_parse_ipv6(gchar **f, guint n)
{
	g_autoptr(QaNetifRoute) route = g_new0(QaNetifRoute, 1);
	guint32 desprefixlen, srcprefixlen, metric, refcnt, use;

	if (n < 10 || !qa_netif_hex32(f[1], &desprefixlen) || desprefixlen > 128 ||
	    !qa_netif_hex32(f[3], &srcprefixlen) || srcprefixlen > 128 ||
	    !qa_netif_hex32(f[5], &metric) || !qa_netif_hex32(f[6], &refcnt) ||
	    !qa_netif_hex32(f[7], &use) || !qa_netif_hex32(f[8], &route->flags))
		return NULL;
	route->destination = qa_netif_ipv6_text(f[0]);
	route->source = qa_netif_ipv6_text(f[2]);
	route->nexthop = qa_netif_ipv6_text(f[4]);
	if (route->destination == NULL || route->source == NULL || route->nexthop == NULL)
		return NULL;
	route->version = 6;
	route->iface = g_strdup(f[9]);
	route->desprefixlen = desprefixlen;
	route->srcprefixlen = srcprefixlen;
	route->metric = metric;
	route->refcnt = refcnt;
	route->use = use;
	return g_steal_pointer(&route);
}

void
qa_netif_routes_parse(const gchar *text, gint version, GPtrArray *routes)
{
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);

	g_return_if_fail(version == 4 || version == 6);
	for (guint i = 0; lines[i] != NULL; i++) {
		g_auto(GStrv) fields = g_strsplit_set(lines[i], " \t", -1);
		QaNetifRoute *route;
		guint n = 0;

		/* fields are padded with runs of blanks: squeeze out the empty ones */
		for (guint j = 0; fields[j] != NULL; j++) {
			if (fields[j][0] != '\0')
				fields[n++] = fields[j];
			else
				g_free(fields[j]);
		}
		fields[n] = NULL;
		route = version == 4 ? qa_netif_route_parse_ipv4(fields, n)
				     : qa_netif_route_parse_ipv6(fields, n);
		if (route != NULL)
			g_ptr_array_add(routes, route);
	}
}

GPtrArray *
qa_netif_routes_load(const QaRoots *roots, GError **error)
{
	static const struct {
		const gchar *name;
		gint version;
	} tables[] = {{"route", 4}, {"ipv6_route", 6}};
	g_autoptr(GPtrArray) routes =
	    g_ptr_array_new_with_free_func((GDestroyNotify)qa_netif_route_free);

	for (guint i = 0; i < G_N_ELEMENTS(tables); i++) {
		g_autofree gchar *path = g_build_filename(roots->proc, "net", tables[i].name, NULL);
		g_autofree gchar *text = qa_kernel_file_read_generated(path, 4096, NULL);

		if (text == NULL) {
			gint errsv = errno;
			/* booted with ipv6.disable=1: IPv4 routes only (qemu-ga fails the call) */
			if (tables[i].version == 6 && errsv == ENOENT)
				continue;
			g_set_error(error,
				    QA_SYSTEM_ERROR,
				    QA_SYSTEM_ERROR_FAILED,
				    "Cannot read the routing table '%s': %s",
				    path,
				    g_strerror(errsv));
			return NULL;
		}
		qa_netif_routes_parse(text, tables[i].version, routes);
	}
	return g_steal_pointer(&routes);
}
