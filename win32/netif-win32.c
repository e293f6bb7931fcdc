/* netif.h on Windows: the network adapters, for the shared commands/network.c; see
 * netif-win32.h for the pure part. */
#include "netif-win32.h"

#include <netioapi.h>

#include "qa-error.h"

/* GetAdaptersAddresses' own advice: start with 15 KiB, and retry a few times, since adapters
 * may come between the calls */
#define QA_WIN_NETIF_FIRST_SIZE (15 * 1024)
#define QA_WIN_NETIF_TRIES 4

gchar *
qa_win_netif_mac_format(const guint8 *addr, gsize len)
{
	guint8 mac[6] = {0};

	if (len == 0)
		return NULL;
	memcpy(mac, addr, MIN(len, sizeof(mac)));
	return g_strdup_printf(
	    "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

static QaNetifAddress *
qa_win_netif_address_new(const IP_ADAPTER_UNICAST_ADDRESS *unicast)
{
	const SOCKADDR *sa = unicast->Address.lpSockaddr;
	wchar_t text[INET6_ADDRSTRLEN + 16] = {0};
	DWORD len = G_N_ELEMENTS(text);
	QaNetifAddress *address;

	if (sa == NULL || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		return NULL;
	if (WSAAddressToStringW(
		(LPSOCKADDR)sa, (DWORD)unicast->Address.iSockaddrLength, NULL, text, &len) != 0)
		return NULL;
	address = g_new0(QaNetifAddress, 1);
	address->address = g_utf16_to_utf8(text, -1, NULL, NULL, NULL);
	address->family = sa->sa_family == AF_INET6 ? QA_NETIF_FAMILY_IPV6 : QA_NETIF_FAMILY_IPV4;
	address->prefix = unicast->OnLinkPrefixLength;
	return address;
}

static QaNetif *
qa_win_netif_adapter_new(const IP_ADAPTER_ADDRESSES *entry, QaWinNetifStatsFunc stats_func)
{
	QaNetif *adapter = g_new0(QaNetif, 1);
	QaNetifStats stats = {0};

	adapter->name = g_utf16_to_utf8(entry->FriendlyName, -1, NULL, NULL, NULL);
	if (adapter->name == NULL)
		adapter->name = g_strdup(entry->AdapterName);
	adapter->hardware_address =
	    qa_win_netif_mac_format(entry->PhysicalAddress, entry->PhysicalAddressLength);
	for (const IP_ADAPTER_UNICAST_ADDRESS *u = entry->FirstUnicastAddress; u != NULL;
	     u = u->Next) {
		QaNetifAddress *address = qa_win_netif_address_new(u);

		if (address == NULL)
			continue;
		if (adapter->addresses == NULL)
			adapter->addresses =
			    g_ptr_array_new_with_free_func((GDestroyNotify)qa_netif_address_free);
		g_ptr_array_add(adapter->addresses, address);
	}
	if (stats_func != NULL && stats_func(entry, &stats))
		adapter->statistics = g_memdup2(&stats, sizeof(stats));
	return adapter;
}

GPtrArray *
qa_win_netif_parse(const IP_ADAPTER_ADDRESSES *head, QaWinNetifStatsFunc stats_func)
{
	GPtrArray *adapters = g_ptr_array_new_with_free_func((GDestroyNotify)qa_netif_free);

	for (const IP_ADAPTER_ADDRESSES *entry = head; entry != NULL; entry = entry->Next)
		g_ptr_array_add(adapters, qa_win_netif_adapter_new(entry, stats_func));
	return adapters;
}

static gboolean
qa_win_netif_stats_load(const IP_ADAPTER_ADDRESSES *adapter, QaNetifStats *out_stats)
{
	MIB_IF_ROW2 row = {0};

	row.InterfaceLuid = adapter->Luid;
	if (GetIfEntry2(&row) != NO_ERROR)
		return FALSE;
	out_stats->rx_bytes = row.InOctets;
	out_stats->rx_packets = row.InUcastPkts;
	out_stats->rx_errs = row.InErrors;
	out_stats->rx_dropped = row.InDiscards;
	out_stats->tx_bytes = row.OutOctets;
	out_stats->tx_packets = row.OutUcastPkts;
	out_stats->tx_errs = row.OutErrors;
	out_stats->tx_dropped = row.OutDiscards;
	return TRUE;
}

GPtrArray *
qa_netif_list_load(const QaRoots *roots, GError **error)
{
	ULONG size = QA_WIN_NETIF_FIRST_SIZE;
	g_autofree IP_ADAPTER_ADDRESSES *table = NULL;
	ULONG status = ERROR_BUFFER_OVERFLOW;
	WSADATA wsa = {0};
	GPtrArray *adapters;

	for (guint i = 0; i < QA_WIN_NETIF_TRIES && status == ERROR_BUFFER_OVERFLOW; i++) {
		g_free(table);
		table = g_malloc0(size);
		status =
		    GetAdaptersAddresses(AF_UNSPEC, GAA_FLAG_INCLUDE_PREFIX, NULL, table, &size);
	}
	if (status == ERROR_NO_DATA)
		return g_ptr_array_new_with_free_func((GDestroyNotify)qa_netif_free);
	if (status != ERROR_SUCCESS) {
		g_autofree gchar *reason = g_win32_error_message((gint)status);

		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot list the network adapters: %s",
			    reason);
		return NULL;
	}
	/* WSAAddressToString wants Winsock started; each start is counted and undone */
	if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot start Winsock to format the adapters' addresses");
		return NULL;
	}
	adapters = qa_win_netif_parse(table, qa_win_netif_stats_load);
	WSACleanup();
	return adapters;
}
