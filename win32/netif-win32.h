/* netif.h's qa_netif_list_load() on Windows: GetAdaptersAddresses for names, MACs and unicast
 * addresses with their on-link prefix, and GetIfEntry2 for the counters. The mapping of the
 * adapter table to QaNetif is pure (it takes the table and a function for the counters), so
 * tests feed it hand-built tables. */
#pragma once

#include <glib.h>

/* clang-format off */
#include <winsock2.h>
#include <ws2tcpip.h>
#include <iphlpapi.h>
/* clang-format on */

#include "netif.h"

/* pure: the first 6 bytes of a link-layer address as lowercase "xx:xx:xx:xx:xx:xx", zero-filled
 * when shorter; NULL when @len is 0 */
gchar *
qa_win_netif_mac_format(const guint8 *addr, gsize len);

/* the counters of one adapter; FALSE when there are none */
typedef gboolean (*QaWinNetifStatsFunc)(const IP_ADAPTER_ADDRESSES *adapter,
					QaNetifStats *out_stats);

/* pure but for @stats_func: every adapter of the list at @head, in its order, as QaNetif with
 * its IPv4 and IPv6 unicast addresses (others are skipped) */
GPtrArray *
qa_win_netif_parse(const IP_ADAPTER_ADDRESSES *head, QaWinNetifStatsFunc stats_func);
