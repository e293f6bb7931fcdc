/* guest-exec, guest-exec-status: not implemented yet. */
#include "agent.h"
#include "qa-error.h"
#include "qa-schema.h"

gboolean
qa_cmd_guest_exec(QaAgent *agent,
		  const QaGuestExecArgs *args,
		  QaGuestExec **out_ret,
		  GError **error)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "%s is not implemented yet",
		    "guest-exec");
	return FALSE;
}

gboolean
qa_cmd_guest_exec_status(QaAgent *agent,
			 const QaGuestExecStatusArgs *args,
			 QaGuestExecStatus **out_ret,
			 GError **error)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "%s is not implemented yet",
		    "guest-exec-status");
	return FALSE;
}
