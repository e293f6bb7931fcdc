/* The structs of netif.h's interfaces, the same on Linux (netif.c) and Windows
 * (win32/netif-win32.c), so freed in one place that both builds compile. */
#include "netif.h"

void
qa_netif_free(QaNetif *netif)
{
	if (netif == NULL)
		return;
	g_free(netif->name);
	g_free(netif->hardware_address);
	if (netif->addresses != NULL)
		g_ptr_array_unref(netif->addresses);
	g_free(netif->statistics);
	g_free(netif);
}

void
qa_netif_address_free(QaNetifAddress *address)
{
	if (address == NULL)
		return;
	g_free(address->address);
	g_free(address);
}
