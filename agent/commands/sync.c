/* guest-sync, guest-sync-delimited, guest-ping: what hosts use to find and check the agent. */
#include "agent.h"
#include "qa-schema.h"

gboolean
qa_cmd_guest_sync_delimited(QaAgent *agent,
			    const QaGuestSyncDelimitedArgs *args,
			    gint64 *out_ret,
			    GError **error)
{
	/* the 0xFF before the reply is the dispatcher's: it is framing, not a result */
	*out_ret = args->id;
	return TRUE;
}

gboolean
qa_cmd_guest_sync(QaAgent *agent, const QaGuestSyncArgs *args, gint64 *out_ret, GError **error)
{
	*out_ret = args->id;
	return TRUE;
}

gboolean
qa_cmd_guest_ping(QaAgent *agent, GError **error)
{
	return TRUE;
}
