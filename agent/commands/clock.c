/* guest-get-time, guest-set-time: not implemented yet. */
#include "agent.h"
#include "qa-error.h"
#include "qa-schema.h"

gboolean
qa_cmd_guest_get_time(QaAgent *agent, gint64 *out_ret, GError **error)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "%s is not implemented yet",
		    "guest-get-time");
	return FALSE;
}

gboolean
qa_cmd_guest_set_time(QaAgent *agent, const QaGuestSetTimeArgs *args, GError **error)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "%s is not implemented yet",
		    "guest-set-time");
	return FALSE;
}
