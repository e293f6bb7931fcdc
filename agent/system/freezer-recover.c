/* Taking over what an earlier agent left frozen, from the state file. */
#include "freezer-private.h"
#include "qa-error.h"

/* life cycle ----------------------------------------------------------------------------------- */

/* Re-opens a filesystem recorded by an earlier agent, through its recorded mountpoints or, when
 * they moved, wherever the table has it now. */
static QaFrozenFs *
qa_freezer_reopen(QaFreezer *self, QaStateFs *fs, GPtrArray *filesystems)
{
	g_autoptr(QaFrozenFs) entry = g_new0(QaFrozenFs, 1);
	QaFilesystem *now = NULL;

	entry->major = fs->major;
	entry->minor = fs->minor;
	entry->fstype = g_strdup(fs->fstype);
	entry->mountpoints = g_strdupv(fs->mountpoints);
	entry->fd = -1;
	for (guint i = 0; entry->mountpoints[i] != NULL && entry->fd < 0; i++)
		entry->fd = self->ops.open(
		    entry->mountpoints[i], fs->major, fs->minor, fs->fstype, self->ops_data);
	for (guint i = 0; filesystems != NULL && i < filesystems->len && now == NULL; i++) {
		QaFilesystem *candidate = g_ptr_array_index(filesystems, i);
		if (candidate->major == fs->major && candidate->minor == fs->minor)
			now = candidate;
	}
	for (guint i = 0; now != NULL && i < now->mountpoints->len && entry->fd < 0; i++) {
		const gchar *mp = g_ptr_array_index(now->mountpoints, i);
		entry->fd = self->ops.open(mp, fs->major, fs->minor, fs->fstype, self->ops_data);
		if (entry->fd >= 0 && entry->mountpoints[0] == NULL) {
			/* a damaged state file lost the names: the table has them */
			GStrvBuilder *names = g_strv_builder_new();

			for (guint j = 0; j < now->mountpoints->len; j++)
				g_strv_builder_add(names, g_ptr_array_index(now->mountpoints, j));
			g_strfreev(entry->mountpoints);
			entry->mountpoints = g_strv_builder_end(names);
			g_strv_builder_unref(names);
			if (entry->fstype == NULL)
				entry->fstype = g_strdup(now->fstype);
		} else if (entry->fd >= 0) {
			g_free(entry->mountpoints[0]);
			entry->mountpoints[0] = g_strdup(mp);
		}
	}
	if (entry->fd < 0) {
		g_warning("filesystem dev=%u:%u recorded frozen at mountpoint=%s is no longer "
			  "mounted, forgetting it",
			  fs->major,
			  fs->minor,
			  fs->mountpoints[0] != NULL ? fs->mountpoints[0] : "(unknown)");
		return NULL;
	}
	return g_steal_pointer(&entry);
}

/* Takes @state as this freezer's own: the frozen set (reopened), the hook's debt, the count of
 * freeze calls and the record of the last ones. A freeze call the earlier agent did not end was
 * cut short by its end. */
void
qa_freezer_adopt_locked(QaFreezer *self, QaState *state, GPtrArray *filesystems)
{
	self->is_hook_pending = state->is_hook_pending;
	self->frozen_at = state->frozen_at;
	if (self->is_offline)
		self->pid = state->pid;
	self->auto_thawed_at = state->auto_thawed_at;
	self->n_freezes = MAX(self->n_freezes, state->serial);
	self->serial = self->n_freezes;
	if (state->last_freeze != NULL) {
		qa_freeze_outcome_free(self->freeze_outcome);
		self->freeze_outcome = qa_freeze_outcome_copy(state->last_freeze);
		if (self->freeze_outcome->ended_at == 0 && self->freeze_outcome->error == NULL)
			self->freeze_outcome->error =
			    g_strdup("The agent running this call stopped before it ended.");
	}
	if (state->last_thaw != NULL) {
		qa_freeze_outcome_thaw_free(self->thaw_outcome);
		self->thaw_outcome = qa_freeze_outcome_thaw_copy(state->last_thaw);
	}
	for (guint i = 0; i < state->filesystems->len; i++) {
		QaStateFs *fs = g_ptr_array_index(state->filesystems, i);
		QaFrozenFs *entry = qa_freezer_reopen(self, fs, filesystems);

		if (entry == NULL)
			continue;
		entry->call = fs->serial;
		entry->frozen_at = fs->frozen_at;
		g_ptr_array_add(self->frozen, entry);
	}
}

static GPtrArray *
qa_freezer_load_for_recovery(QaFreezer *self, QaState *state)
{
	g_autoptr(GError) error_local = NULL;
	GPtrArray *filesystems;

	if (state->filesystems->len == 0)
		return NULL;
	filesystems = qa_freezer_load_filesystems(self, &error_local);
	if (filesystems == NULL)
		g_warning("cannot read the mount table, using recorded mountpoints only: %s",
			  error_local->message);
	return filesystems;
}

/* Takes over what an earlier agent left: a complete freeze stays frozen (the host may still
 * snapshot and thaw); a half-done one was never acknowledged, so it is thawed at once. */
void
qa_freezer_recover(QaFreezer *self, QaState *state)
{
	g_autoptr(GPtrArray) filesystems = NULL;
	g_autoptr(GError) error_local = NULL;

	if (state->damage != NULL)
		g_warning("the freeze state an earlier agent left is damaged (%s); anything may be "
			  "frozen: thawing the %u filesystems it still identifies",
			  state->damage,
			  state->filesystems->len);
	filesystems = qa_freezer_load_for_recovery(self, state);
	/* even when this agent may not expedite them itself: the knob reads 1 because of the
	 * earlier agent, and leaving it so would speed up every grace period from now on */
	if (state->is_rcu_expedited) {
		gint ret = self->ops.expedite_rcu(self->roots, FALSE, self->ops_data);
		g_warning("an earlier agent stopped while RCU grace periods were expedited for "
			  "FIFREEZE, setting them back: %s",
			  ret < 0 ? g_strerror(-ret) : "done");
	}
	g_mutex_lock(&self->lock);
	qa_freezer_adopt_locked(self, state, filesystems);
	if (self->frozen->len > 0) {
		if (self->log_hold != NULL)
			self->log_hold();
		self->is_log_held = TRUE;
		if (self->auto_thaw_ms > 0)
			self->deadline =
			    state->deadline > 0
				? state->deadline
				: g_get_monotonic_time() + (gint64)self->auto_thaw_ms * 1000;
	}
	g_mutex_unlock(&self->lock);

	if (!state->is_complete || state->damage != NULL) {
		g_warning(
		    "an earlier agent stopped in the middle of a freeze, or its record is damaged: "
		    "thawing what it froze");
		qa_freezer_thaw_everything(self, QA_FREEZE_OUTCOME_BY_SUCCESSOR);
		return;
	}
	if (self->frozen->len > 0)
		g_message("holding frozen by an earlier agent count=%u", self->frozen->len);
	else if (!qa_freezer_end_epoch(self, TRUE, &error_local))
		g_warning("%s", error_local->message);
}

gboolean
qa_freezer_emergency_thaw(const QaFreezerOptions *options, guint *out_count, GError **error)
{
	g_autoptr(QaFreezer) self = qa_freezer_new_offline(options);
	g_autoptr(QaState) state = qa_state_file_load(options->statedir, error);
	g_autoptr(GPtrArray) filesystems = NULL;
	g_autofree gchar *left = NULL;
	guint count;

	if (state == NULL)
		return FALSE;
	/* nothing frozen and nothing owed: nothing to do, and nothing to record */
	if (state->filesystems->len == 0 && !state->is_hook_pending && state->damage == NULL &&
	    !state->is_rcu_expedited) {
		*out_count = 0;
		return TRUE;
	}
	if (state->damage != NULL)
		g_warning("the state file is damaged (%s): thawing the %u filesystems it still "
			  "identifies",
			  state->damage,
			  state->filesystems->len);
	filesystems = qa_freezer_load_for_recovery(self, state);
	if (state->is_rcu_expedited)
		self->ops.expedite_rcu(self->roots, FALSE, self->ops_data);
	g_mutex_lock(&self->lock);
	qa_freezer_adopt_locked(self, state, filesystems);
	g_mutex_unlock(&self->lock);
	count = qa_freezer_thaw_everything(self, QA_FREEZE_OUTCOME_BY_OPERATOR);
	g_mutex_lock(&self->lock);
	for (guint i = 0; i < self->frozen->len; i++) {
		QaFrozenFs *entry = g_ptr_array_index(self->frozen, i);
		gchar *joined = g_strdup_printf("%s%s'%s'",
						left != NULL ? left : "",
						left != NULL ? ", " : "",
						entry->mountpoints[0]);
		g_free(left);
		left = joined;
	}
	g_mutex_unlock(&self->lock);
	if (left != NULL) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Thawed %u filesystems, but %s stay frozen (FITHAW failed; the log "
			    "says why); try again, or fsfreeze -u each.",
			    count,
			    left);
		return FALSE;
	}
	*out_count = count;
	return TRUE;
}
