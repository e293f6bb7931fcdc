/* Taking over what an earlier agent left frozen, from the state file. */
#include "freezer-private.h"

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
	if (state->filesystems->len > 0) {
		filesystems = qa_freezer_load_filesystems(self, &error_local);
		if (filesystems == NULL)
			g_warning(
			    "cannot read the mount table, using recorded mountpoints only: %s",
			    error_local->message);
	}
	/* even when this agent may not expedite them itself: the knob reads 1 because of the
	 * earlier agent, and leaving it so would speed up every grace period from now on */
	if (state->is_rcu_expedited) {
		gint ret = self->ops.expedite_rcu(self->roots, FALSE, self->ops_data);
		g_warning("an earlier agent stopped while RCU grace periods were expedited for "
			  "FIFREEZE, setting them back: %s",
			  ret < 0 ? g_strerror(-ret) : "done");
	}
	g_mutex_lock(&self->lock);
	self->is_hook_pending = state->is_hook_pending;
	self->frozen_at = state->frozen_at;
	self->auto_thawed_at = state->auto_thawed_at;
	for (guint i = 0; i < state->filesystems->len; i++) {
		QaFrozenFs *entry =
		    qa_freezer_reopen(self, g_ptr_array_index(state->filesystems, i), filesystems);
		if (entry != NULL)
			g_ptr_array_add(self->frozen, entry);
	}
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
		qa_freezer_thaw_everything(self, FALSE);
		return;
	}
	if (self->frozen->len > 0)
		g_message("holding frozen by an earlier agent count=%u", self->frozen->len);
	else if (!qa_freezer_end_epoch(self, &error_local))
		g_warning("%s", error_local->message);
}
