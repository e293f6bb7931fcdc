/* The frozen set: lookups and the state file record of it. Everything named _locked is called
 * with self->lock held. */
#include <errno.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
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

static QaStateFs *
qa_freezer_state_fs_of(const QaFrozenFs *entry)
{
	QaStateFs *fs = qa_state_fs_new(
	    entry->major, entry->minor, entry->fstype, (const gchar *const *)entry->mountpoints);

	fs->serial = entry->call;
	fs->frozen_at = entry->frozen_at;
	return fs;
}

static QaStateFs *
qa_freezer_find_thawing_locked(QaFreezer *self, guint major, guint minor, guint *out_index)
{
	for (guint i = 0; i < self->thawing->len; i++) {
		QaStateFs *fs = g_ptr_array_index(self->thawing, i);
		if (fs->major == major && fs->minor == minor) {
			if (out_index != NULL)
				*out_index = i;
			return fs;
		}
	}
	return NULL;
}

/* frozen, or being thawed: the kernel may hold it either way */
static gboolean
qa_freezer_holds_locked(QaFreezer *self, guint major, guint minor)
{
	return qa_freezer_find_frozen_locked(self, major, minor, NULL) != NULL ||
	       qa_freezer_find_thawing_locked(self, major, minor, NULL) != NULL;
}

/* @taken leave the frozen set for FITHAW; returns their device numbers, for
 * qa_freezer_end_thawing_locked() once the thaw is settled (entries that fail to thaw go back
 * into the frozen set meanwhile, so @taken does not say which they were by then) */
GArray *
qa_freezer_begin_thawing_locked(QaFreezer *self, GPtrArray *taken)
{
	GArray *devnums = g_array_sized_new(FALSE, FALSE, sizeof(guint64), taken->len);

	for (guint i = 0; i < taken->len; i++) {
		QaFrozenFs *entry = g_ptr_array_index(taken, i);
		guint64 devnum = makedev(entry->major, entry->minor);

		g_array_append_val(devnums, devnum);
		g_ptr_array_add(self->thawing, qa_freezer_state_fs_of(entry));
	}
	return devnums;
}

void
qa_freezer_end_thawing_locked(QaFreezer *self, GArray *devnums)
{
	for (guint i = 0; i < devnums->len; i++) {
		guint64 devnum = g_array_index(devnums, guint64, i);
		guint index = 0;

		if (qa_freezer_find_thawing_locked(self, major(devnum), minor(devnum), &index))
			g_ptr_array_remove_index(self->thawing, index);
	}
}

/* The state: the frozen set, then what is being thawed, then what a freeze in progress has yet
 * to freeze; @out_n_held: how many of its filesystems are held (the first two) */
static QaState *
qa_freezer_state_locked(QaFreezer *self, guint *out_n_held)
{
	g_autoptr(QaState) state = qa_state_new();

	state->is_complete = self->planned == NULL;
	state->is_hook_pending = self->is_hook_pending;
	state->frozen_at = self->frozen_at;
	state->deadline = self->deadline;
	state->auto_thawed_at = self->auto_thawed_at;
	state->is_rcu_expedited = self->is_rcu_expedited;
	state->serial = self->serial;
	state->pid = self->pid;
	if (self->freeze_outcome != NULL)
		state->last_freeze = qa_freeze_outcome_copy(self->freeze_outcome);
	if (self->thaw_outcome != NULL)
		state->last_thaw = qa_freeze_outcome_thaw_copy(self->thaw_outcome);
	for (guint i = 0; i < self->frozen->len; i++)
		g_ptr_array_add(state->filesystems,
				qa_freezer_state_fs_of(g_ptr_array_index(self->frozen, i)));
	/* one that failed to thaw is back in the frozen set before its thaw is settled */
	for (guint i = 0; i < self->thawing->len; i++) {
		QaStateFs *fs = g_ptr_array_index(self->thawing, i);
		if (qa_freezer_find_frozen_locked(self, fs->major, fs->minor, NULL) == NULL)
			g_ptr_array_add(state->filesystems, qa_state_fs_copy(fs));
	}
	if (out_n_held != NULL)
		*out_n_held = state->filesystems->len;
	for (guint i = 0; self->planned != NULL && i < self->planned->len; i++) {
		QaStateFs *fs = g_ptr_array_index(self->planned, i);
		if (qa_freezer_holds_locked(self, fs->major, fs->minor))
			continue;
		g_ptr_array_add(state->filesystems, qa_state_fs_copy(fs));
	}
	return g_steal_pointer(&state);
}

QaState *
qa_freezer_get_state(QaFreezer *self)
{
	g_autoptr(GMutexLocker) locker = NULL;

	QaState *state;
	guint n_held = 0;

	g_return_val_if_fail(self != NULL, NULL);
	qa_freezer_sync_with_file(self, FALSE);
	locker = g_mutex_locker_new(&self->lock);
	state = qa_freezer_state_locked(self, &n_held);
	/* what a freeze in progress has yet to freeze is recorded for a successor, not frozen */
	g_ptr_array_set_size(state->filesystems, n_held);
	return state;
}

/* A record of the state as it is now, to write once the lock is released. */
QaState *
qa_freezer_record_locked(QaFreezer *self)
{
	QaState *state = qa_freezer_state_locked(self, NULL);

	state->generation = ++self->n_records;
	return state;
}

/* which file is in the state directory: NULL when none; else its inode, change time and
 * size, which change with every write (each one a new file renamed over the old) */
gchar *
qa_freezer_file_id(const gchar *statedir)
{
	g_autofree gchar *path = g_build_filename(statedir, QA_STATE_FILE_NAME, NULL);
	struct stat st;

	if (stat(path, &st) != 0)
		return NULL;
	return g_strdup_printf("%" G_GUINT64_FORMAT ":%" G_GUINT64_FORMAT ":%" G_GINT64_FORMAT
			       ".%09ld:%" G_GINT64_FORMAT,
			       (guint64)st.st_dev,
			       (guint64)st.st_ino,
			       (gint64)st.st_ctim.tv_sec,
			       st.st_ctim.tv_nsec,
			       (gint64)st.st_size);
}

/* The state file says less is frozen than this freezer holds: someone else thawed it (an
 * --emergency-thaw, which thaws and then rewrites the file) while this agent was busy, hung or
 * stopped. FITHAW would only fail with EINVAL now, and the fds hold nothing: the entries go, a
 * freeze in progress is abandoned (what it froze may be thawed under it), and the file's thaw
 * hook debt and last thaw are taken as they are. Called with write_lock held. */
static void
qa_freezer_reconcile(QaFreezer *self)
{
	g_autoptr(GError) error_local = NULL;
	g_autoptr(QaState) file = qa_state_file_load(self->statedir, &error_local);
	g_autoptr(GPtrArray) gone =
	    g_ptr_array_new_with_free_func((GDestroyNotify)qa_frozen_fs_free);
	gboolean is_release_due = FALSE;

	if (file == NULL) {
		g_warning(
		    "the state file changed under this agent and cannot be read, ignoring: %s",
		    error_local->message);
		return;
	}
	g_mutex_lock(&self->lock);
	for (guint i = self->frozen->len; i > 0; i--) {
		QaFrozenFs *entry = g_ptr_array_index(self->frozen, i - 1);
		gboolean is_listed = FALSE;

		for (guint j = 0; j < file->filesystems->len && !is_listed; j++) {
			QaStateFs *fs = g_ptr_array_index(file->filesystems, j);
			is_listed = fs->major == entry->major && fs->minor == entry->minor;
		}
		if (!is_listed)
			g_ptr_array_add(gone, g_ptr_array_steal_index(self->frozen, i - 1));
	}
	if (gone->len > 0 && self->is_op_running)
		self->is_op_aborted = TRUE;
	/* the host's next thaw must not look like a good one */
	if (gone->len > 0) {
		self->auto_thawed_at = file->last_thaw != NULL && file->last_thaw->at != 0
					   ? file->last_thaw->at
					   : g_get_real_time();
		self->is_operator_thawed = TRUE;
	}
	self->is_hook_pending = file->is_hook_pending;
	if (file->last_thaw != NULL) {
		qa_freeze_outcome_thaw_free(self->thaw_outcome);
		self->thaw_outcome = qa_freeze_outcome_thaw_copy(file->last_thaw);
	}
	if (self->frozen->len == 0 && !self->is_op_running) {
		self->deadline = 0;
		is_release_due = self->is_log_held;
		self->is_log_held = FALSE;
	}
	g_mutex_unlock(&self->lock);
	for (guint i = 0; i < gone->len; i++)
		g_warning("mountpoint=%s was thawed by someone else (the state file says so: "
			  "quiesce-agent --emergency-thaw), forgetting it",
			  ((QaFrozenFs *)g_ptr_array_index(gone, i))->mountpoints[0]);
	if (is_release_due && self->log_release != NULL)
		self->log_release();
}

/* with write_lock held: reconciles with a file someone else wrote; TRUE when it did */
static gboolean
qa_freezer_sync_locked(QaFreezer *self)
{
	g_autofree gchar *id = NULL;

	if (self->is_offline)
		return FALSE;
	id = qa_freezer_file_id(self->statedir);
	if (g_strcmp0(id, self->written_id) == 0)
		return FALSE;
	qa_freezer_reconcile(self);
	g_free(self->written_id);
	self->written_id = g_steal_pointer(&id);
	return TRUE;
}

void
qa_freezer_sync_with_file(QaFreezer *self, gboolean is_waiting)
{
	if (is_waiting)
		g_mutex_lock(&self->write_lock);
	else if (!g_mutex_trylock(&self->write_lock))
		return;
	qa_freezer_sync_locked(self);
	g_mutex_unlock(&self->write_lock);
}

/* Writes @record unless a later one is in the file already. Called without lock. A file
 * someone else wrote since this freezer's last write is read first, and a record taken after
 * that is written instead of @record, which did not know it. */
gboolean
qa_freezer_write_record(QaFreezer *self, QaState *record, GError **error)
{
	g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&self->write_lock);
	g_autoptr(QaState) fresh = NULL;
	gint64 start = g_get_monotonic_time();
	gboolean is_saved;

	if (record->generation <= self->written_generation)
		return TRUE;
	if (qa_freezer_sync_locked(self)) {
		g_mutex_lock(&self->lock);
		fresh = qa_freezer_record_locked(self);
		g_mutex_unlock(&self->lock);
		record = fresh;
	}
	is_saved = self->ops.save_state(self->statedir, record, self->ops_data, error);
	if (is_saved) {
		self->written_generation = record->generation;
		g_free(self->written_id);
		self->written_id = qa_freezer_file_id(self->statedir);
	}
	self->n_writes++;
	self->write_us += g_get_monotonic_time() - start;
	return is_saved;
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
	return qa_freezer_holds_locked(self, major, minor);
}

gboolean
qa_freezer_is_any_frozen(QaFreezer *self)
{
	g_autoptr(GMutexLocker) locker = NULL;

	qa_freezer_sync_with_file(self, FALSE);
	locker = g_mutex_locker_new(&self->lock);
	return self->frozen->len > 0 || self->thawing->len > 0;
}
