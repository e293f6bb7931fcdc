/* guest-network-get-interfaces on Windows, in QEMU's Windows agent's shape: one entry per
 * adapter, named by its friendly name, with its MAC, IPv4 and IPv6 addresses with their on-link
 * prefix, and its counters. Runs on the main loop: GetAdaptersAddresses and GetIfEntry2 answer
 * from the network stack's memory. */
#include "agent.h"
#include "netif-win32.h"
#include "qa-error.h"
#include "qa-schema.h"

static QaGuestNetworkInterfaceStat *
qa_win_network_stats_new(const QaWinAdapterStats *s)
{
	QaGuestNetworkInterfaceStat *stat = qa_guest_network_interface_stat_new();

	stat->rx_bytes = (gint64)s->rx_bytes;
	stat->rx_packets = (gint64)s->rx_packets;
	stat->rx_errs = (gint64)s->rx_errs;
	stat->rx_dropped = (gint64)s->rx_dropped;
	stat->tx_bytes = (gint64)s->tx_bytes;
	stat->tx_packets = (gint64)s->tx_packets;
	stat->tx_errs = (gint64)s->tx_errs;
	stat->tx_dropped = (gint64)s->tx_dropped;
	return stat;
}

static QaGuestNetworkInterface *
qa_win_network_interface_new(QaWinAdapter *adapter)
{
	QaGuestNetworkInterface *entry = qa_guest_network_interface_new();

	entry->name = g_steal_pointer(&adapter->name);
	entry->hardware_address = g_steal_pointer(&adapter->hardware_address);
	/* no address: no ip-addresses member, as QEMU's agent replies */
	if (adapter->addresses != NULL) {
		entry->ip_addresses = qa_guest_ip_address_list_new();
		for (guint i = 0; i < adapter->addresses->len; i++) {
			QaWinAdapterAddress *address = g_ptr_array_index(adapter->addresses, i);
			QaGuestIpAddress *ip = qa_guest_ip_address_new();

			ip->ip_address = g_steal_pointer(&address->address);
			ip->ip_address_type = address->is_ipv6 ? QA_GUEST_IP_ADDRESS_TYPE_IPV6
							       : QA_GUEST_IP_ADDRESS_TYPE_IPV4;
			ip->prefix = address->prefix;
			g_ptr_array_add(entry->ip_addresses, ip);
		}
	}
	if (adapter->stats != NULL)
		entry->statistics = qa_win_network_stats_new(adapter->stats);
	return entry;
}

gboolean
qa_cmd_guest_network_get_interfaces(QaAgent *agent, GPtrArray **out_ret, GError **error)
{
	g_autoptr(GPtrArray) adapters = qa_win_netif_load(error);
	g_autoptr(GPtrArray) ret = NULL;

	if (adapters == NULL)
		return FALSE;
	ret = qa_guest_network_interface_list_new();
	for (guint i = 0; i < adapters->len; i++)
		g_ptr_array_add(ret, qa_win_network_interface_new(g_ptr_array_index(adapters, i)));
	*out_ret = g_steal_pointer(&ret);
	return TRUE;
}
