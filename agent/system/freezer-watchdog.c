/* The auto-thaw watchdog: a thread of the freezer's own that needs nothing but the frozen set,
 * so it fires even when the main loop, a hook or a FIFREEZE is stuck. */
#include "freezer-private.h"

static gpointer
qa_freezer_watchdog(gpointer data)
{
	QaFreezer *self = data;

	g_mutex_lock(&self->lock);
	while (!self->is_stopping) {
		gint64 deadline = self->deadline;

		if (deadline == 0) {
			self->watchdog_wakes_at = 0;
			g_cond_wait(&self->cond, &self->lock);
			continue;
		}
		if (g_get_monotonic_time() < deadline) {
			self->watchdog_wakes_at = deadline;
			g_cond_wait_until(&self->cond, &self->lock, deadline);
			continue;
		}
		g_mutex_unlock(&self->lock);
		/* what an --emergency-thaw thawed meanwhile is not this agent's to thaw; never
		 * waiting for a state write, which must not hold up the thaw */
		qa_freezer_sync_with_file(self, FALSE);
		g_mutex_lock(&self->lock);
		if (self->deadline == 0)
			continue;
		g_mutex_unlock(&self->lock);
		g_warning("no guest-fsfreeze-thaw within %u ms, thawing every filesystem",
			  self->auto_thaw_ms);
		qa_freezer_thaw_everything(self, QA_FREEZE_OUTCOME_BY_AUTO_THAW);
		g_mutex_lock(&self->lock);
	}
	g_mutex_unlock(&self->lock);
	return NULL;
}

/* The watchdog is started by the first freeze, before anything is frozen, not at start-up: an
 * agent that never freezes never pays for the thread, and one that cannot start it refuses the
 * freeze rather than hold filesystems with nothing to thaw them. It stays until the end. */
gboolean
qa_freezer_start_watchdog(QaFreezer *self, GError **error)
{
	GThread *thread;

	if (self->auto_thaw_ms == 0 || self->watchdog != NULL)
		return TRUE;
	thread = g_thread_try_new("qa-watchdog", qa_freezer_watchdog, self, error);
	if (thread == NULL) {
		g_prefix_error(error, "cannot start the auto-thaw watchdog: ");
		return FALSE;
	}
	g_mutex_lock(&self->lock);
	self->watchdog = thread;
	g_mutex_unlock(&self->lock);
	return TRUE;
}

/* The watchdog is woken only when its wait would end after the new deadline. A thaw leaves it
 * waiting for the deadline it had: it wakes then, finds none (or a later one) and waits again.
 * So back-to-back freezes, each arming a deadline later than the last, do not wake it, which
 * would cost every freeze a thread switch. */
void
qa_freezer_arm(QaFreezer *self)
{
	if (self->auto_thaw_ms == 0)
		return;
	g_mutex_lock(&self->lock);
	self->deadline = g_get_monotonic_time() + (gint64)self->auto_thaw_ms * 1000;
	if (self->watchdog_wakes_at == 0 || self->deadline < self->watchdog_wakes_at)
		g_cond_signal(&self->cond);
	g_mutex_unlock(&self->lock);
}
