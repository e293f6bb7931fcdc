/* The guest's network adapters as guest-network-get-interfaces reports them on Windows:
 * GetAdaptersAddresses for names, MACs and unicast addresses with their on-link prefix, and
 * GetIfEntry2 for the counters. The mapping of the adapter table to QaWinAdapter is pure (it
 * takes the table and a function for the counters), so tests feed it hand-built tables. */
#pragma once

#include <glib.h>

/* clang-format off */
#include <winsock2.h>
#include <ws2tcpip.h>
#include <iphlpapi.h>
/* clang-format on */

typedef struct {
	guint64 rx_bytes;
	guint64 rx_packets;
	guint64 rx_errs;
	guint64 rx_dropped;
	guint64 tx_bytes;
	guint64 tx_packets;
	guint64 tx_errs;
	guint64 tx_dropped;
} QaWinAdapterStats;

typedef struct {
	gchar *address; /* WSAAddressToString's text: IPv6 link-local with its "%scope" */
	gboolean is_ipv6;
	guint prefix;
} QaWinAdapterAddress;

typedef struct {
	gchar *name;		  /* the friendly name: "Ethernet", "Loopback Pseudo-Interface 1" */
	gchar *hardware_address;  /* "52:54:00:12:34:56"; NULL for an adapter without one */
	GPtrArray *addresses;	  /* of QaWinAdapterAddress; NULL when it has none */
	QaWinAdapterStats *stats; /* NULL when Windows has no counters for it */
} QaWinAdapter;

void
qa_win_adapter_free(QaWinAdapter *adapter);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaWinAdapter, qa_win_adapter_free)

/* pure: the first 6 bytes of a link-layer address as lowercase "xx:xx:xx:xx:xx:xx", zero-filled
 * when shorter; NULL when @len is 0 */
gchar *
qa_win_netif_mac_format(const guint8 *addr, gsize len);

/* the counters of one adapter; FALSE when there are none */
typedef gboolean (*QaWinAdapterStatsFunc)(const IP_ADAPTER_ADDRESSES *adapter,
					  QaWinAdapterStats *out_stats);

/* pure but for @stats_func: every adapter of the list at @head, in its order, with its IPv4
 * and IPv6 unicast addresses (others are skipped) */
GPtrArray *
qa_win_netif_parse(const IP_ADAPTER_ADDRESSES *head, QaWinAdapterStatsFunc stats_func);
/* GetAdaptersAddresses, then qa_win_netif_parse() with GetIfEntry2 for the counters */
GPtrArray *
qa_win_netif_load(GError **error);
