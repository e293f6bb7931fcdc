/* guest-fsfreeze-*: typed arguments in, the freezer does the work. The same handlers on both
 * platforms: freezer-api.h is all they see of the freezer (FIFREEZE on Linux, VSS on Windows),
 * and what each freezer accepts and refuses is its own. The dispatcher runs freeze, freeze-list
 * and thaw on its worker thread one at a time; status runs on the main thread while they do,
 * which the freezer's own lock makes safe. */
#include "agent.h"
#include "freezer-api.h"
#include "fsfreeze-disks.h"
#include "qa-schema.h"

gboolean
qa_cmd_guest_fsfreeze_status(QaAgent *agent, QaGuestFsfreezeStatus *out_ret, GError **error)
{
	*out_ret = qa_freezer_is_any_frozen(agent->freezer) ? QA_GUEST_FSFREEZE_STATUS_FROZEN
							    : QA_GUEST_FSFREEZE_STATUS_THAWED;
	return TRUE;
}

/* @mountpoints, @wire_disks: NULL for none; both NULL for every filesystem */
static gboolean
qa_fsfreeze_freeze(QaAgent *agent,
		   const gchar *command,
		   GPtrArray *mountpoints,
		   GPtrArray *wire_disks,
		   gint64 *out_ret,
		   GError **error)
{
	g_autoptr(GPtrArray) disks = NULL;
	QaFreezeRequest request = {command, mountpoints, NULL};
	guint count = 0;

	if (!qa_fsfreeze_disks_from_wire(wire_disks, &disks, error))
		return FALSE;
	request.disks = disks;
	if (!qa_freezer_freeze_request(agent->freezer, &request, &count, error))
		return FALSE;
	*out_ret = count;
	return TRUE;
}

gboolean
qa_cmd_guest_fsfreeze_freeze(QaAgent *agent, gint64 *out_ret, GError **error)
{
	return qa_fsfreeze_freeze(agent, "guest-fsfreeze-freeze", NULL, NULL, out_ret, error);
}

gboolean
qa_cmd_guest_fsfreeze_freeze_list(QaAgent *agent,
				  const QaGuestFsfreezeFreezeListArgs *args,
				  gint64 *out_ret,
				  GError **error)
{
	/* no list means every filesystem, as in QGA */
	return qa_fsfreeze_freeze(
	    agent, "guest-fsfreeze-freeze-list", args->mountpoints, args->disks, out_ret, error);
}

gboolean
qa_cmd_guest_fsfreeze_thaw(QaAgent *agent,
			   const QaGuestFsfreezeThawArgs *args,
			   gint64 *out_ret,
			   GError **error)
{
	g_autoptr(GPtrArray) disks = NULL;
	QaFreezeRequest request = {"guest-fsfreeze-thaw", NULL, NULL};
	guint count = 0;

	if (args != NULL) {
		if (!qa_fsfreeze_disks_from_wire(args->disks, &disks, error))
			return FALSE;
		request.mountpoints = args->mountpoints;
		request.disks = disks;
	}
	if (!qa_freezer_thaw_request(agent->freezer, &request, &count, error))
		return FALSE;
	*out_ret = count;
	return TRUE;
}
