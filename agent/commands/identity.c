/* guest-get-osinfo, guest-get-host-name, guest-get-timezone, guest-get-users, guest-get-load: not
 * implemented yet. */
#include "agent.h"
#include "qa-error.h"
#include "qa-schema.h"

gboolean
qa_cmd_guest_get_osinfo(QaAgent *agent, QaGuestOSInfo **out_ret, GError **error)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "%s is not implemented yet",
		    "guest-get-osinfo");
	return FALSE;
}

gboolean
qa_cmd_guest_get_host_name(QaAgent *agent, QaGuestHostName **out_ret, GError **error)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "%s is not implemented yet",
		    "guest-get-host-name");
	return FALSE;
}

gboolean
qa_cmd_guest_get_timezone(QaAgent *agent, QaGuestTimezone **out_ret, GError **error)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "%s is not implemented yet",
		    "guest-get-timezone");
	return FALSE;
}

gboolean
qa_cmd_guest_get_users(QaAgent *agent, GPtrArray **out_ret, GError **error)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "%s is not implemented yet",
		    "guest-get-users");
	return FALSE;
}

gboolean
qa_cmd_guest_get_load(QaAgent *agent, QaGuestLoadAverage **out_ret, GError **error)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "%s is not implemented yet",
		    "guest-get-load");
	return FALSE;
}
