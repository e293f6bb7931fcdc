/* guest-network-get-interfaces, guest-network-get-route: not implemented yet. */
#include "agent.h"
#include "qa-error.h"
#include "qa-schema.h"

gboolean
qa_cmd_guest_network_get_interfaces(QaAgent *agent, GPtrArray **out_ret, GError **error)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "%s is not implemented yet",
		    "guest-network-get-interfaces");
	return FALSE;
}

gboolean
qa_cmd_guest_network_get_route(QaAgent *agent, GPtrArray **out_ret, GError **error)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "%s is not implemented yet",
		    "guest-network-get-route");
	return FALSE;
}
