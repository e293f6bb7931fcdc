/* Expediting RCU grace periods for the FIFREEZE calls (fsfreeze-expedite-rcu), and setting
 * them back, owed in the state file so that a successor settles what a killed agent left. */
#include "freezer-private.h"

/* Expedites RCU grace periods for the FIFREEZE calls when they are not already and the admin
 * lets the agent (fsfreeze-expedite-rcu). The debt is recorded in the state file before the
 * kernel is told, so that an agent killed in between leaves its successor to set them back: at
 * worst to the kernel's default, never stuck expedited. The record is the one the freeze writes
 * before its flush (qa_freezer_begin() sets is_rcu_expedited), so no write is needed here; a
 * debt found not to be one (the knob was 1 already) is cleared in memory and the save after the
 * FIFREEZE calls records that. Returns what was done, for the log. */
const gchar *
qa_freezer_expedite_rcu(QaFreezer *self)
{
	gint was;

	if (!self->expedites_rcu)
		return "off";
	was = self->ops.expedite_rcu(self->roots, TRUE, self->ops_data);
	if (was != 0) {
		/* already expedited by someone else, or not possible: nothing is owed */
		g_mutex_lock(&self->lock);
		self->is_rcu_expedited = FALSE;
		g_mutex_unlock(&self->lock);
	}
	if (was < 0) {
		g_info("RCU grace periods stay normal, FIFREEZE waits for them: %s",
		       g_strerror(-was));
		return "unavailable";
	}
	return was == 0 ? "expedited" : "already-expedited";
}

/* Sets RCU grace periods back if this agent expedited them: after the FIFREEZE calls, or on
 * shutdown while a freeze may be stuck in one. Whichever thread comes first does it, once. The
 * next save records it.
 *
 * Only what the agent did is undone: nothing is written unless this agent found the knob at 0
 * and set it to 1, and then only while it still reads 1 (ops.expedite_rcu() reads first). A 1
 * that someone else writes during the milliseconds of the FIFREEZE calls (or, when the agent
 * was killed in them, before its successor starts) cannot be told from the agent's and is set
 * back to 0. */
void
qa_freezer_restore_rcu(QaFreezer *self)
{
	gboolean is_owed;
	gint ret;

	g_mutex_lock(&self->lock);
	is_owed = self->is_rcu_expedited;
	self->is_rcu_expedited = FALSE;
	g_mutex_unlock(&self->lock);
	if (!is_owed)
		return;
	ret = self->ops.expedite_rcu(self->roots, FALSE, self->ops_data);
	if (ret < 0)
		g_warning("cannot set RCU grace periods back to normal: %s", g_strerror(-ret));
}
