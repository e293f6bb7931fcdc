/* TEMPORARY: weak placeholders until the discovery and freeze handlers land. */
#include "agent.h"
#include "qa-error.h"
#include "qa-schema.h"

#define QA_STUB(name)                                                                              \
	g_set_error(error,                                                                         \
		    QA_SYSTEM_ERROR,                                                               \
		    QA_SYSTEM_ERROR_UNSUPPORTED,                                                   \
		    "Command " name " is not implemented yet");                                    \
	return FALSE

__attribute__((weak)) gboolean
qa_cmd_guest_get_fsinfo(QaAgent *agent, GPtrArray **out_ret, GError **error)
{
	QA_STUB("guest-get-fsinfo");
}
__attribute__((weak)) gboolean
qa_cmd_guest_get_disks(QaAgent *agent, GPtrArray **out_ret, GError **error)
{
	QA_STUB("guest-get-disks");
}
__attribute__((weak)) gboolean
qa_cmd_guest_fsfreeze_status(QaAgent *agent, QaGuestFsfreezeStatus *out_ret, GError **error)
{
	*out_ret = QA_GUEST_FSFREEZE_STATUS_THAWED;
	return TRUE;
}
__attribute__((weak)) gboolean
qa_cmd_guest_fsfreeze_freeze(QaAgent *agent, gint64 *out_ret, GError **error)
{
	QA_STUB("guest-fsfreeze-freeze");
}
__attribute__((weak)) gboolean
qa_cmd_guest_fsfreeze_freeze_list(QaAgent *agent,
				  const QaGuestFsfreezeFreezeListArgs *args,
				  gint64 *out_ret,
				  GError **error)
{
	QA_STUB("guest-fsfreeze-freeze-list");
}
__attribute__((weak)) gboolean
qa_cmd_guest_fsfreeze_thaw(QaAgent *agent,
			   const QaGuestFsfreezeThawArgs *args,
			   gint64 *out_ret,
			   GError **error)
{
	QA_STUB("guest-fsfreeze-thaw");
}
__attribute__((weak)) gboolean
qa_cmd_guest_fstrim(QaAgent *agent,
		    const QaGuestFstrimArgs *args,
		    QaGuestFilesystemTrimResponse **out_ret,
		    GError **error)
{
	QA_STUB("guest-fstrim");
}
