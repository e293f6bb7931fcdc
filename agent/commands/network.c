/* guest-network-get-interfaces, for both builds (the system access is netif.h: netif.c on
 * Linux, win32/netif-win32.c on Windows), and guest-network-get-route, which the schema declares
 * for Linux only. Both run on the main loop: one getifaddrs() (a netlink dump) and a few /proc
 * files per request on Linux, GetAdaptersAddresses and GetIfEntry2 (answered from the network
 * stack's memory) on Windows; no program run. */
#include "agent.h"
#include "netif.h"
#include "qa-error.h"
#include "qa-schema.h"

static QaGuestNetworkInterfaceStat *
qa_network_stats_new(const QaNetifStats *s)
{
	QaGuestNetworkInterfaceStat *stat = qa_guest_network_interface_stat_new();

	stat->rx_bytes = s->rx_bytes;
	stat->rx_packets = s->rx_packets;
	stat->rx_errs = s->rx_errs;
	stat->rx_dropped = s->rx_dropped;
	stat->tx_bytes = s->tx_bytes;
	stat->tx_packets = s->tx_packets;
	stat->tx_errs = s->tx_errs;
	stat->tx_dropped = s->tx_dropped;
	return stat;
}

static QaGuestNetworkInterface *
qa_network_interface_new(QaNetif *netif)
{
	QaGuestNetworkInterface *entry = qa_guest_network_interface_new();

	entry->name = g_steal_pointer(&netif->name);
	entry->hardware_address = g_steal_pointer(&netif->hardware_address);
	/* no address: no ip-addresses member at all, as qemu-ga replies */
	if (netif->addresses != NULL) {
		entry->ip_addresses = qa_guest_ip_address_list_new();
		for (guint i = 0; i < netif->addresses->len; i++) {
			QaNetifAddress *address = g_ptr_array_index(netif->addresses, i);
			QaGuestIpAddress *ip = qa_guest_ip_address_new();

			ip->ip_address = g_steal_pointer(&address->address);
			ip->ip_address_type = address->family == QA_NETIF_FAMILY_IPV4
						  ? QA_GUEST_IP_ADDRESS_TYPE_IPV4
						  : QA_GUEST_IP_ADDRESS_TYPE_IPV6;
			ip->prefix = address->prefix;
			g_ptr_array_add(entry->ip_addresses, ip);
		}
	}
	if (netif->statistics != NULL)
		entry->statistics = qa_network_stats_new(netif->statistics);
	return entry;
}

gboolean
qa_cmd_guest_network_get_interfaces(QaAgent *agent, GPtrArray **out_ret, GError **error)
{
	g_autoptr(GPtrArray) list = qa_netif_list_load(agent->roots, error);
	g_autoptr(GPtrArray) ret = NULL;

	if (list == NULL)
		return FALSE;
	ret = qa_guest_network_interface_list_new();
	for (guint i = 0; i < list->len; i++)
		g_ptr_array_add(ret, qa_network_interface_new(g_ptr_array_index(list, i)));
	*out_ret = g_steal_pointer(&ret);
	return TRUE;
}

#ifndef G_OS_WIN32
/* the members qemu-ga sets for each version, and only those */
static QaGuestNetworkRoute *
qa_network_route_new(QaNetifRoute *route)
{
	QaGuestNetworkRoute *entry = qa_guest_network_route_new();

	entry->iface = g_steal_pointer(&route->iface);
	entry->destination = g_steal_pointer(&route->destination);
	entry->metric = route->metric;
	entry->version = route->version;
	entry->has_flags = TRUE;
	entry->flags = route->flags;
	entry->has_refcnt = TRUE;
	entry->refcnt = route->refcnt;
	entry->has_use = TRUE;
	entry->use = route->use;
	if (route->version == 6) {
		entry->source = g_steal_pointer(&route->source);
		entry->nexthop = g_steal_pointer(&route->nexthop);
		/* strings in the schema, decimal like every other number */
		entry->desprefixlen = g_strdup_printf("%u", route->desprefixlen);
		entry->srcprefixlen = g_strdup_printf("%u", route->srcprefixlen);
		return entry;
	}
	entry->gateway = g_steal_pointer(&route->gateway);
	entry->mask = g_steal_pointer(&route->mask);
	entry->has_mtu = TRUE;
	entry->mtu = route->mtu;
	entry->has_window = TRUE;
	entry->window = route->window;
	entry->has_irtt = TRUE;
	entry->irtt = route->irtt;
	return entry;
}

gboolean
qa_cmd_guest_network_get_route(QaAgent *agent, GPtrArray **out_ret, GError **error)
{
	g_autoptr(GPtrArray) routes = qa_netif_routes_load(agent->roots, error);
	g_autoptr(GPtrArray) ret = NULL;

	if (routes == NULL)
		return FALSE;
	ret = qa_guest_network_route_list_new();
	for (guint i = 0; i < routes->len; i++)
		g_ptr_array_add(ret, qa_network_route_new(g_ptr_array_index(routes, i)));
	*out_ret = g_steal_pointer(&ret);
	return TRUE;
}
#endif /* !G_OS_WIN32 */
