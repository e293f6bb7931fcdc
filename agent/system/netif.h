/* The guest's network interfaces as guest-network-get-interfaces reports them, for the one
 * handler in commands/network.c that both builds compile: Linux fills QaNetif from getifaddrs(3)
 * and <proc>/net/dev (netif.c), Windows from GetAdaptersAddresses and GetIfEntry2
 * (win32/netif-win32.c). Linux also reads its routes (<proc>/net/route and
 * <proc>/net/ipv6_route), as qemu-ga reports them.
 *
 * Pure parts (prefix lengths, MAC text, /proc/net/dev and the route tables, grouping the
 * entries of getifaddrs() into interfaces) are apart from the functions that ask the kernel,
 * so that tests feed them files and address lists captured from real machines; Windows' are in
 * win32/netif-win32.h. */
#pragma once

#include <glib.h>

#include "roots.h"

typedef struct {
	guint64 rx_bytes;
	guint64 rx_packets;
	guint64 rx_errs;
	guint64 rx_dropped;
	guint64 tx_bytes;
	guint64 tx_packets;
	guint64 tx_errs;
	guint64 tx_dropped;
} QaNetifStats;

typedef enum {
	QA_NETIF_FAMILY_IPV4,
	QA_NETIF_FAMILY_IPV6,
} QaNetifFamily;

typedef struct {
	gchar *address; /* inet_ntop()'s text, without a scope; Windows: WSAAddressToString's,
			 * IPv6 link-local with its "%scope" */
	QaNetifFamily family;
	guint prefix;
} QaNetifAddress;

typedef struct {
	gchar *name;		  /* as getifaddrs() names it: "eth0", or a label "eth0:1";
				   * Windows: the friendly name, "Ethernet" */
	gchar *hardware_address;  /* "52:54:00:12:34:56", zeros for a link without one; NULL only
				   * for a label whose link getifaddrs() did not list */
	GPtrArray *addresses;	  /* of QaNetifAddress; NULL when it has none */
	QaNetifStats *statistics; /* NULL when <proc>/net/dev has no line for the name (Windows:
				   * no counters for the adapter) */
} QaNetif;

void
qa_netif_free(QaNetif *netif);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaNetif, qa_netif_free)
void
qa_netif_address_free(QaNetifAddress *address);

/* every interface, in the system's order. Linux: getifaddrs() and <proc>/net/dev, grouped by
 * name; Windows: every adapter with its IPv4 and IPv6 unicast addresses (@roots is unused:
 * the network stack is asked) */
GPtrArray *
qa_netif_list_load(const QaRoots *roots, GError **error);

/* Linux only: the pure parts beneath qa_netif_list_load(), and the routes (guest-network-get-route
 * is declared for Linux only) */
#ifndef G_OS_WIN32
#include <ifaddrs.h>

/* the number of bits set in @mask (@len bytes); masks the kernel reports are contiguous */
guint
qa_netif_prefix_from_netmask(const guint8 *mask, gsize len);
/* the first 6 bytes of a link-layer address of @len bytes as lowercase "xx:xx:xx:xx:xx:xx",
 * zero-filled when shorter (what SIOCGIFHWADDR gives for such links) */
gchar *
qa_netif_mac_format(const guint8 *addr, gsize len);
/* <proc>/net/dev: interface name -> QaNetifStats (owned); lines that are not "name: 16
 * counters" are skipped */
GHashTable *
qa_netif_dev_parse(const gchar *text);
/* the entries of @ifap grouped into interfaces by name, in the order of their first entry;
 * @stats (nullable) from qa_netif_dev_parse() */
GPtrArray *
qa_netif_list_build(const struct ifaddrs *ifap, GHashTable *stats);

typedef struct {
	gint version; /* 4 or 6 */
	gchar *iface;
	gchar *destination;
	gint64 metric;
	guint32 flags;
	gint64 refcnt;
	gint64 use;
	/* IPv4 only */
	gchar *gateway;
	gchar *mask;
	gint64 mtu;
	gint64 window;
	gint64 irtt;
	/* IPv6 only */
	guint desprefixlen;
	guint srcprefixlen;
	gchar *source;
	gchar *nexthop;
} QaNetifRoute;

void
qa_netif_route_free(QaNetifRoute *route);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaNetifRoute, qa_netif_route_free)

/* the routes of a /proc/net/route (@version 4) or /proc/net/ipv6_route (@version 6) text,
 * appended to @routes; lines that are not routes (the IPv4 header) are skipped */
void
qa_netif_routes_parse(const gchar *text, gint version, GPtrArray *routes);
/* IPv4 routes, then IPv6 ones; a kernel without IPv6 has no ipv6_route and no IPv6 routes */
GPtrArray *
qa_netif_routes_load(const QaRoots *roots, GError **error);
#endif /* !G_OS_WIN32 */
