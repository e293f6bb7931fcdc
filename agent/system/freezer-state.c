/* The frozen set: lookups and the state file record of it. Everything named _locked is called
 * with self->lock held. */
#include <errno.h>
#include <unistd.h>

#include "freezer-private.h"

/* small helpers -------------------------------------------------------------------------------- */

void
qa_frozen_fs_free(QaFrozenFs *entry)
{
	if (entry == NULL)
		return;
	if (entry->fd >= 0)
		close(entry->fd);
	g_free(entry->fstype);
	g_strfreev(entry->mountpoints);
	if (entry->stored_on != NULL)
		g_array_unref(entry->stored_on);
	g_free(entry);
}

gchar *
qa_freezer_format_time(gint64 realtime_us)
{
	g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(realtime_us / G_USEC_PER_SEC);

	if (dt == NULL)
		return g_strdup("an unknown time");
	return g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ");
}

QaFrozenFs *
qa_freezer_find_frozen_locked(QaFreezer *self, guint major, guint minor, guint *out_index)
{
	for (guint i = 0; i < self->frozen->len; i++) {
		QaFrozenFs *entry = g_ptr_array_index(self->frozen, i);
		if (entry->major == major && entry->minor == minor) {
			if (out_index != NULL)
				*out_index = i;
			return entry;
		}
	}
	return NULL;
}

static QaState *
qa_freezer_state_locked(QaFreezer *self)
{
	g_autoptr(QaState) state = qa_state_new();

	state->is_complete = self->planned == NULL;
	state->is_hook_pending = self->is_hook_pending;
	state->frozen_at = self->frozen_at;
	state->deadline = self->deadline;
	state->auto_thawed_at = self->auto_thawed_at;
	state->is_rcu_expedited = self->is_rcu_expedited;
	for (guint i = 0; i < self->frozen->len; i++) {
		QaFrozenFs *entry = g_ptr_array_index(self->frozen, i);
		g_ptr_array_add(state->filesystems,
				qa_state_fs_new(entry->major,
						entry->minor,
						entry->fstype,
						(const gchar *const *)entry->mountpoints));
	}
	for (guint i = 0; self->planned != NULL && i < self->planned->len; i++) {
		QaStateFs *fs = g_ptr_array_index(self->planned, i);
		if (qa_freezer_find_frozen_locked(self, fs->major, fs->minor, NULL) != NULL)
			continue;
		g_ptr_array_add(
		    state->filesystems,
		    qa_state_fs_new(
			fs->major, fs->minor, fs->fstype, (const gchar *const *)fs->mountpoints));
	}
	return g_steal_pointer(&state);
}

/* A record of the state as it is now, to write once the lock is released. */
QaState *
qa_freezer_record_locked(QaFreezer *self)
{
	QaState *state = qa_freezer_state_locked(self);

	state->generation = ++self->n_records;
	return state;
}

/* Writes @record unless a later one is in the file already. Called without lock. */
gboolean
qa_freezer_write_record(QaFreezer *self, QaState *record, GError **error)
{
	g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&self->write_lock);

	if (record->generation <= self->written_generation)
		return TRUE;
	if (!self->ops.save_state(self->statedir, record, self->ops_data, error))
		return FALSE;
	self->written_generation = record->generation;
	return TRUE;
}

/* for paths where failing to persist changes nothing that could still be undone */
void
qa_freezer_write_record_or_warn(QaFreezer *self, QaState *record)
{
	g_autoptr(GError) error_local = NULL;

	if (!qa_freezer_write_record(self, record, &error_local))
		g_warning("cannot persist freeze state, ignoring: %s", error_local->message);
}

/* thawing on request -------------------------------------------------------------------------- */

QaFrozenFs *
qa_freezer_lookup_frozen_locked(QaFreezer *self, const gchar *path, guint *out_index)
{
	for (guint i = 0; i < self->frozen->len; i++) {
		QaFrozenFs *entry = g_ptr_array_index(self->frozen, i);
		if (g_strv_contains((const gchar *const *)entry->mountpoints, path)) {
			*out_index = i;
			return entry;
		}
	}
	return NULL;
}

gboolean
qa_freezer_is_frozen(QaFreezer *self, guint major, guint minor)
{
	g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&self->lock);
	return qa_freezer_find_frozen_locked(self, major, minor, NULL) != NULL;
}

gboolean
qa_freezer_is_any_frozen(QaFreezer *self)
{
	g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&self->lock);
	return self->frozen->len > 0;
}
