/* guest-fsfreeze-*: typed arguments in, the freezer does the work. The same handlers on both
 * platforms: freezer-api.h is all they see of the freezer (FIFREEZE on Linux, VSS on Windows),
 * and what each freezer accepts and refuses is its own. The dispatcher runs freeze, freeze-list
 * and thaw on its worker thread one at a time; status runs on the main thread while they do,
 * which the freezer's own lock makes safe. */
#include "agent.h"
#include "freezer-api.h"
#include "qa-schema.h"

gboolean
qa_cmd_guest_fsfreeze_status(QaAgent *agent, QaGuestFsfreezeStatus *out_ret, GError **error)
{
	*out_ret = qa_freezer_is_any_frozen(agent->freezer) ? QA_GUEST_FSFREEZE_STATUS_FROZEN
							    : QA_GUEST_FSFREEZE_STATUS_THAWED;
	return TRUE;
}

/* @mountpoints: NULL for every filesystem */
static gboolean
qa_fsfreeze_freeze(QaAgent *agent, GPtrArray *mountpoints, gint64 *out_ret, GError **error)
{
	guint count = 0;

	if (!qa_freezer_freeze(agent->freezer, mountpoints, &count, error))
		return FALSE;
	*out_ret = count;
	return TRUE;
}

gboolean
qa_cmd_guest_fsfreeze_freeze(QaAgent *agent, gint64 *out_ret, GError **error)
{
	return qa_fsfreeze_freeze(agent, NULL, out_ret, error);
}

gboolean
qa_cmd_guest_fsfreeze_freeze_list(QaAgent *agent,
				  const QaGuestFsfreezeFreezeListArgs *args,
				  gint64 *out_ret,
				  GError **error)
{
	/* no list means every filesystem, as in QGA */
	return qa_fsfreeze_freeze(agent, args->mountpoints, out_ret, error);
}

gboolean
qa_cmd_guest_fsfreeze_thaw(QaAgent *agent,
			   const QaGuestFsfreezeThawArgs *args,
			   gint64 *out_ret,
			   GError **error)
{
	guint count = 0;

	if (!qa_freezer_thaw(
		agent->freezer, args != NULL ? args->mountpoints : NULL, &count, error))
		return FALSE;
	*out_ret = count;
	return TRUE;
}
