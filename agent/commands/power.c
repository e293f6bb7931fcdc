/* guest-shutdown, guest-suspend-disk, guest-suspend-ram, guest-suspend-hybrid: not implemented yet.
 */
#include "agent.h"
#include "qa-error.h"
#include "qa-schema.h"

gboolean
qa_cmd_guest_shutdown(QaAgent *agent, const QaGuestShutdownArgs *args, GError **error)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "%s is not implemented yet",
		    "guest-shutdown");
	return FALSE;
}

gboolean
qa_cmd_guest_suspend_disk(QaAgent *agent, GError **error)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "%s is not implemented yet",
		    "guest-suspend-disk");
	return FALSE;
}

gboolean
qa_cmd_guest_suspend_ram(QaAgent *agent, GError **error)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "%s is not implemented yet",
		    "guest-suspend-ram");
	return FALSE;
}

gboolean
qa_cmd_guest_suspend_hybrid(QaAgent *agent, GError **error)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "%s is not implemented yet",
		    "guest-suspend-hybrid");
	return FALSE;
}
