/* The freezer: a freeze call top-down (load, select, order, open, begin, flush, FIFREEZE level by
 * level, save), and the freezer's life. The other freezer*.c files hold the rest; see
 * freezer-private.h. */
#include <errno.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "freezer-private.h"
#include "freezer-select.h"
#include "hooks.h"
#include "qa-error.h"
#include "storage-graph.h"

/* choosing what to freeze (freezer-select.c) ------------------------------------------------- */

GPtrArray *
qa_freezer_load_filesystems(QaFreezer *self, GError **error)
{
	g_autoptr(GPtrArray) filesystems =
	    self->ops.load_filesystems(self->roots, self->ops_data, error);

	if (filesystems == NULL)
		return NULL;
	qa_freeze_select_confine(self->roots, filesystems);
	return g_steal_pointer(&filesystems);
}

/* refuses what this agent holds frozen already: freezing twice would nest */
static gboolean
qa_freezer_check_not_held(QaFilesystem *fs, const gchar *name, gpointer data, GError **error)
{
	QaFreezer *self = data;
	g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&self->lock);
	g_autofree gchar *since = NULL;

	if (qa_freezer_find_frozen_locked(self, fs->major, fs->minor, NULL) == NULL)
		return TRUE;
	since = qa_freezer_format_time(self->frozen_at);
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_BUSY,
		    "'%s' is already frozen by this agent (since %s); thaw it with "
		    "guest-fsfreeze-thaw before freezing it again.",
		    name,
		    since);
	return FALSE;
}

static void
qa_freezer_note_left_alone(QaFilesystem *fs, gboolean is_excluded, const gchar *why, gpointer data)
{
	qa_freezer_report_left_alone(
	    data, fs, is_excluded ? QA_FREEZE_OUTCOME_EXCLUDED : QA_FREEZE_OUTCOME_SKIPPED, why);
}

static QaFreezeSelect
qa_freezer_select_rules(QaFreezer *self)
{
	const QaFreezeSelect select = {
	    .roots = self->roots,
	    .exclude_mountpoints = (const gchar *const *)self->exclude_mountpoints,
	    .exclude_types = (const gchar *const *)self->exclude_types,
	    .check = qa_freezer_check_not_held,
	    .check_data = self,
	    .note = qa_freezer_note_left_alone,
	};
	return select;
}

gchar *
qa_freezer_explain(QaFreezer *self, QaFilesystem *fs)
{
	const QaFreezeSelect select = qa_freezer_select_rules(self);

	return qa_freeze_select_explain(&select, fs);
}

/* the filesystems on the disks @selectors name, recorded in the call's report */
static GPtrArray *
qa_freezer_select_disks(QaFreezer *self,
			GPtrArray *filesystems,
			GPtrArray *selectors,
			GError **error)
{
	const QaFreezeSelect select = qa_freezer_select_rules(self);
	g_autoptr(QaDiskSelectStorage) storage =
	    self->ops.load_storage(self->roots, filesystems, selectors, self->ops_data, error);
	g_autoptr(GPtrArray) matches = NULL;
	g_autoptr(GPtrArray) selected = NULL;

	if (storage == NULL)
		return NULL;
	matches = qa_disk_select_match(selectors, storage, error);
	if (matches == NULL)
		return NULL;
	selected = qa_freeze_select_disks(&select, filesystems, matches, error);
	if (selected == NULL)
		return NULL;
	qa_freezer_report_disks(self, filesystems, storage, matches, selectors, selected);
	return g_steal_pointer(&selected);
}

/* What @request names, borrowed from @filesystems, each once: the filesystems mounted at its
 * mountpoints (added to @out_named) and those on its disks; everything when it names nothing. */
static GPtrArray *
qa_freezer_select(QaFreezer *self,
		  GPtrArray *filesystems,
		  const QaFreezeRequest *request,
		  GHashTable *out_named,
		  GError **error)
{
	const QaFreezeSelect select = qa_freezer_select_rules(self);
	g_autoptr(GPtrArray) selected = NULL;
	g_autoptr(GPtrArray) on_disks = NULL;

	if (request->mountpoints == NULL && request->disks == NULL)
		return qa_freeze_select(&select, filesystems, NULL, error);
	selected = request->mountpoints != NULL
		       ? qa_freeze_select(&select, filesystems, request->mountpoints, error)
		       : g_ptr_array_new();
	if (selected == NULL)
		return NULL;
	for (guint i = 0; i < selected->len; i++)
		g_hash_table_add(out_named, g_ptr_array_index(selected, i));
	if (request->disks == NULL)
		return g_steal_pointer(&selected);
	on_disks = qa_freezer_select_disks(self, filesystems, request->disks, error);
	if (on_disks == NULL)
		return NULL;
	for (guint i = 0; i < on_disks->len; i++) {
		QaFilesystem *fs = g_ptr_array_index(on_disks, i);
		if (!g_ptr_array_find(selected, fs, NULL))
			g_ptr_array_add(selected, fs);
	}
	return g_steal_pointer(&selected);
}

/* Opens the filesystem through the first of its mountpoints that still leads to it. */
static QaFreezeJob *
qa_freezer_open_job(QaFreezer *self, QaFilesystem *fs, GError **error)
{
	gint first_error = 0;

	for (guint i = 0; i < fs->mountpoints->len; i++) {
		const gchar *mp = g_ptr_array_index(fs->mountpoints, i);
		gint fd = self->ops.open(mp, fs->major, fs->minor, fs->fstype, self->ops_data);
		QaFreezeJob *job;

		if (fd < 0) {
			if (first_error == 0)
				first_error = fd;
			continue;
		}
		job = g_new0(QaFreezeJob, 1);
		job->self = self;
		job->fs = fs;
		job->mountpoint = g_strdup(mp);
		job->fd = fd;
		job->checkpoint_result = -ECANCELED; /* until the flush says otherwise */
		return job;
	}
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_FAILED,
		    "Cannot open '%s' to freeze it: %s.",
		    (const gchar *)g_ptr_array_index(fs->mountpoints, 0),
		    first_error == -ESTALE
			? "it is no longer that filesystem's mountpoint (unmounted, replaced by a "
			  "link, or another filesystem is mounted there)"
			: g_strerror(-first_error));
	return NULL;
}

/* Opens every selected filesystem before anything is flushed or frozen, level by level: a
 * GPtrArray of levels, each a GPtrArray of QaFreezeJob. */
static GPtrArray *
qa_freezer_open_levels(QaFreezer *self, GPtrArray *levels, gboolean is_strict, GError **error)
{
	g_autoptr(GPtrArray) jobs =
	    g_ptr_array_new_with_free_func((GDestroyNotify)g_ptr_array_unref);

	for (guint i = 0; i < levels->len; i++) {
		GPtrArray *level = g_ptr_array_index(levels, i);
		g_autoptr(GPtrArray) level_jobs =
		    g_ptr_array_new_with_free_func((GDestroyNotify)qa_freeze_job_free);

		for (guint j = 0; j < level->len; j++) {
			g_autoptr(GError) error_local = NULL;
			QaFreezeJob *job =
			    qa_freezer_open_job(self, g_ptr_array_index(level, j), &error_local);
			if (job == NULL && is_strict) {
				g_propagate_error(error, g_steal_pointer(&error_local));
				return NULL;
			}
			if (job == NULL) {
				g_warning("skipping a filesystem: %s", error_local->message);
				qa_freezer_report_left_alone(self,
							     g_ptr_array_index(level, j),
							     QA_FREEZE_OUTCOME_SKIPPED,
							     error_local->message);
				continue;
			}
			job->serial = self->n_freezes;
			job->level = jobs->len;
			g_ptr_array_add(level_jobs, job);
		}
		if (level_jobs->len > 0)
			g_ptr_array_add(jobs, g_steal_pointer(&level_jobs));
	}
	return g_steal_pointer(&jobs);
}

static void
qa_freezer_set_freeze_error(QaFreezer *self, QaFreezeJob *job, guint n_undone, GError **error)
{
	if (job->result == -EBUSY) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_BUSY,
			    "Cannot freeze '%s': it is already frozen by another process (FIFREEZE "
			    "returned EBUSY). Nothing was left frozen by this call; thaw it first, "
			    "e.g. with 'fsfreeze -u %s'.",
			    job->mountpoint,
			    job->mountpoint);
		return;
	}
	if (job->result == -EOPNOTSUPP || job->result == -ENOTTY) {
		g_set_error(
		    error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "Cannot freeze '%s': its filesystem type '%s' does not support freezing. "
		    "Nothing was left frozen by this call.",
		    job->mountpoint,
		    job->fs->fstype);
		return;
	}
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_FAILED,
		    "Cannot freeze '%s': FIFREEZE failed: %s. The %u filesystems this call had "
		    "frozen were thawed again.",
		    job->mountpoint,
		    g_strerror(-job->result),
		    n_undone);
}

/* Thaws what this call froze, last frozen first; entries the watchdog took are already thawed. */
static guint
qa_freezer_rollback(QaFreezer *self, GPtrArray *done)
{
	g_autoptr(GPtrArray) entries =
	    g_ptr_array_new_with_free_func((GDestroyNotify)qa_frozen_fs_free);

	g_mutex_lock(&self->lock);
	for (guint i = 0; i < done->len; i++) {
		QaFreezeJob *job = g_ptr_array_index(done, i);
		guint index = 0;
		if (qa_freezer_find_frozen_locked(self, job->fs->major, job->fs->minor, &index))
			g_ptr_array_add(entries, g_ptr_array_steal_index(self->frozen, index));
	}
	g_mutex_unlock(&self->lock);
	qa_freezer_report_rolled_back(self, done);
	return qa_freezer_thaw_entries(self, entries, NULL, NULL, NULL);
}

/* FIFREEZE level by level, in parallel within a level. Returns the failed job (or NULL); @done
 * receives the jobs that froze, in order. */
static QaFreezeJob *
qa_freezer_freeze_levels(QaFreezer *self, GPtrArray *levels, GPtrArray *done)
{
	for (guint i = 0; i < levels->len; i++) {
		GPtrArray *level = g_ptr_array_index(levels, i);
		QaFreezeJob *failed = NULL;

		qa_freezer_run_parallel(level, qa_freezer_freeze_job);
		for (guint j = 0; j < level->len; j++) {
			QaFreezeJob *job = g_ptr_array_index(level, j);
			gboolean is_unsupported =
			    job->result == -EOPNOTSUPP || job->result == -ENOTTY;

			qa_freezer_log_job(job);
			if (job->is_frozen)
				g_ptr_array_add(done, job);
			else if (is_unsupported && !job->is_named)
				g_info("not freezing mountpoint=%s fstype=%s: not supported",
				       job->mountpoint,
				       job->fs->fstype);
			else if (failed == NULL)
				failed = job;
		}
		if (failed != NULL)
			return failed;
	}
	return NULL;
}

static gboolean
qa_freezer_is_aborted(QaFreezer *self, GError **error)
{
	g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&self->lock);
	g_autofree gchar *when = NULL;

	if (!self->is_op_aborted)
		return FALSE;
	when = qa_freezer_format_time(self->auto_thawed_at != 0 ? self->auto_thawed_at
								: g_get_real_time());
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_FAILED,
		    "The freeze was abandoned: every filesystem was thawed at %s (auto-thaw "
		    "timeout or shutdown) while it ran.",
		    when);
	return TRUE;
}

/* Ends a freeze that failed after the freeze hook ran: the error is the freeze's, a failing
 * thaw hook is only logged. */
static gboolean
qa_freezer_fail(QaFreezer *self, GError **error)
{
	g_autoptr(GError) error_hook = NULL;

	g_mutex_lock(&self->lock);
	self->is_op_running = FALSE;
	g_cond_broadcast(&self->idle_cond);
	g_clear_pointer(&self->planned, g_ptr_array_unref);
	g_mutex_unlock(&self->lock);
	if (!qa_freezer_end_epoch(self, FALSE, &error_hook))
		g_warning("%s", error_hook->message);
	return FALSE;
}

/* Runs the freeze hook when this freeze starts an epoch and records what will be frozen. */
static gboolean
qa_freezer_begin(QaFreezer *self, GPtrArray *levels, GError **error)
{
	g_autoptr(GPtrArray) planned =
	    g_ptr_array_new_with_free_func((GDestroyNotify)qa_state_fs_free);
	g_autoptr(QaState) record = NULL;
	gboolean is_epoch_start;

	if (!qa_freezer_start_watchdog(self, error)) {
		g_prefix_error(error, "Refusing to freeze: ");
		return FALSE;
	}
	for (guint i = 0; i < levels->len; i++) {
		GPtrArray *level = g_ptr_array_index(levels, i);
		for (guint j = 0; j < level->len; j++) {
			QaFreezeJob *job = g_ptr_array_index(level, j);
			const gchar *mps[] = {job->mountpoint, NULL};
			g_ptr_array_add(
			    planned,
			    qa_state_fs_new(job->fs->major, job->fs->minor, job->fs->fstype, mps));
		}
	}
	g_mutex_lock(&self->lock);
	self->is_op_running = TRUE;
	self->is_op_aborted = FALSE;
	self->auto_thawed_at = 0;
	is_epoch_start = self->frozen->len == 0 && !self->is_hook_pending;
	g_mutex_unlock(&self->lock);

	if (is_epoch_start && self->hook != NULL) {
		g_autoptr(QaState) owed = NULL;

		/* whatever the hook does, its "thaw" is owed from the moment it starts: recorded
		 * first, so that a shutdown or a successor while it runs still runs the thaw */
		g_mutex_lock(&self->lock);
		self->is_hook_pending = TRUE;
		owed = qa_freezer_record_locked(self);
		g_mutex_unlock(&self->lock);
		qa_freezer_write_record_or_warn(self, owed);
		QaHookRun *run = NULL;
		gboolean is_run =
		    qa_hook_run(self->hook, "freeze", self->hook_timeout_ms, NULL, &run, error);

		qa_freezer_report_hook(self, FALSE, run);
		if (!is_run)
			return FALSE;
		if (qa_freezer_is_aborted(self, error))
			return FALSE;
	}

	g_mutex_lock(&self->lock);
	self->planned = g_steal_pointer(&planned);
	self->frozen_at = g_get_real_time();
	/* the debt of expediting RCU for the FIFREEZE calls goes into this record, the one that
	 * must be in the file before the first FIFREEZE anyway, rather than into a write of its
	 * own (qa_freezer_expedite_rcu()) */
	self->is_rcu_expedited = self->expedites_rcu;
	record = qa_freezer_record_locked(self);
	if (!self->is_log_held && self->log_hold != NULL)
		self->log_hold();
	self->is_log_held = TRUE;
	g_mutex_unlock(&self->lock);
	if (!qa_freezer_write_record(self, record, error)) {
		g_mutex_lock(&self->lock);
		self->is_rcu_expedited = FALSE;
		g_mutex_unlock(&self->lock);
		g_prefix_error(error, "Refusing to freeze: ");
		return FALSE;
	}
	return TRUE;
}

static gchar *
qa_freezer_format_kib(gint64 kib)
{
	return kib < 0 ? g_strdup("?") : g_strdup_printf("%" G_GINT64_FORMAT, kib);
}

/* the summary of a freeze that went through: where its time went, in one line; state_ms,
 * rcu_ms and dirty_ms are parts of the phases before them, not phases of their own */
static void
qa_freezer_log_times(const QaFreezeTimes *t, guint count, guint n_levels)
{
	g_autofree gchar *dirty_begun = qa_freezer_format_kib(t->dirty_kib[0]);
	g_autofree gchar *dirty_flushed = qa_freezer_format_kib(t->dirty_kib[1]);
	g_autofree gchar *dirty_frozen = qa_freezer_format_kib(t->dirty_kib[2]);

	g_message(
	    "froze count=%u levels=%u prepare_ms=%.1f begin_ms=%.1f flush_ms=%.1f "
	    "fifreeze_ms=%.1f save_ms=%.1f total_ms=%.1f load_ms=%.2f plan_ms=%.2f "
	    "state_writes=%u state_ms=%.2f rcu_ms=%.2f dirty_ms=%.2f dirty_kib=%s,%s,%s rcu=%s "
	    "storage=%s",
	    count,
	    n_levels,
	    (t->opened - t->start) / 1000.0,
	    (t->begun - t->opened) / 1000.0,
	    (t->flushed - t->begun) / 1000.0,
	    (t->frozen - t->flushed) / 1000.0,
	    (t->saved - t->frozen) / 1000.0,
	    (t->saved - t->start) / 1000.0,
	    (t->loaded - t->start) / 1000.0,
	    (t->planned - t->loaded) / 1000.0,
	    t->n_writes,
	    t->write_us / 1000.0,
	    t->rcu_us / 1000.0,
	    t->dirty_us / 1000.0,
	    dirty_begun,
	    dirty_flushed,
	    dirty_frozen,
	    t->rcu,
	    t->storage);
}

/* Dirty + Writeback now, its reading timed for the log */
static gint64
qa_freezer_time_dirty(QaFreezer *self, QaFreezeTimes *times)
{
	gint64 start = g_get_monotonic_time();
	gint64 kib = qa_freezer_read_dirty_kib(self->roots);

	times->dirty_us += g_get_monotonic_time() - start;
	return kib;
}

/* the state writes since @times was started, for the log */
static void
qa_freezer_time_writes(QaFreezer *self, QaFreezeTimes *times, gboolean is_start)
{
	g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&self->write_lock);

	times->n_writes = self->n_writes - (is_start ? 0 : times->n_writes);
	times->write_us = self->write_us - (is_start ? 0 : times->write_us);
}

/* The flush before FIFREEZE moves work out of the window in which FIFREEZE blocks writers. When
 * the kernel counts (next to) nothing dirty or under writeback in the whole system, there is
 * no such work: FIFREEZE's own sync writes at most that much with writers blocked (well under a
 * millisecond at disk speed), and a syncfs pass per filesystem would only add a cache flush of
 * each device and a thread per filesystem to every clean freeze. Unknown counts: flush. */
static gboolean
qa_freezer_is_flush_due(gint64 dirty_kib)
{
	return dirty_kib < 0 || dirty_kib > QA_FREEZER_CLEAN_KIB;
}

static gboolean
qa_freezer_freeze_opened(
    QaFreezer *self, GPtrArray *levels, QaFreezeTimes *times, guint *out_count, GError **error)
{
	g_autoptr(GPtrArray) done = g_ptr_array_new();
	g_autoptr(GError) error_local = NULL;
	g_autoptr(QaState) record = NULL;
	QaFreezeJob *failed;
	gboolean is_saved;
	gboolean is_flushed;
	gint64 rcu_start;

	qa_freezer_time_writes(self, times, TRUE);
	if (!qa_freezer_begin(self, levels, error))
		return qa_freezer_fail(self, error);
	times->begun = g_get_monotonic_time();
	times->dirty_kib[0] = qa_freezer_time_dirty(self, times);
	is_flushed = qa_freezer_is_flush_due(times->dirty_kib[0]);
	if (is_flushed)
		qa_freezer_flush(levels);
	times->flushed = g_get_monotonic_time();
	/* with nothing flushed the counts are those read a moment ago */
	times->dirty_kib[1] = is_flushed ? qa_freezer_time_dirty(self, times) : times->dirty_kib[0];
	/* armed before the first FIFREEZE: a FIFREEZE that never returns holds writers already */
	qa_freezer_arm(self);
	rcu_start = g_get_monotonic_time();
	times->rcu = qa_freezer_expedite_rcu(self);
	times->rcu_us = g_get_monotonic_time() - rcu_start;
	failed = qa_freezer_freeze_levels(self, levels, done);
	rcu_start = g_get_monotonic_time();
	qa_freezer_restore_rcu(self);
	times->rcu_us += g_get_monotonic_time() - rcu_start;
	times->frozen = g_get_monotonic_time();
	times->dirty_kib[2] = is_flushed ? qa_freezer_time_dirty(self, times) : times->dirty_kib[0];
	qa_freezer_report_jobs(self, levels);
	if (qa_freezer_is_aborted(self, &error_local) || failed != NULL) {
		guint n_undone = qa_freezer_rollback(self, done);
		if (error_local != NULL)
			g_propagate_error(error, g_steal_pointer(&error_local));
		else
			qa_freezer_set_freeze_error(self, failed, n_undone, error);
		return qa_freezer_fail(self, error);
	}

	g_mutex_lock(&self->lock);
	g_clear_pointer(&self->planned, g_ptr_array_unref);
	qa_freezer_report_end_locked(self, times, done->len, NULL);
	record = qa_freezer_record_locked(self);
	g_mutex_unlock(&self->lock);
	/* still running while the record is written, so that a watchdog or shutdown thaw during
	 * the write tells this call it was abandoned */
	is_saved = qa_freezer_write_record(self, record, error);
	times->saved = g_get_monotonic_time();
	qa_freezer_time_writes(self, times, FALSE);
	if (!is_saved) {
		/* a freeze the next agent would not know about must not outlive this call */
		qa_freezer_rollback(self, done);
		g_prefix_error(error, "Thawed again: ");
		return qa_freezer_fail(self, error);
	}
	if (qa_freezer_is_aborted(self, error))
		return qa_freezer_fail(self, error);
	g_mutex_lock(&self->lock);
	self->is_op_running = FALSE;
	g_cond_broadcast(&self->idle_cond);
	g_mutex_unlock(&self->lock);
	qa_freezer_log_times(times, done->len, levels->len);
	/* a freeze that froze nothing ends its epoch now: the thaw hook runs */
	if (!qa_freezer_end_epoch(self, FALSE, error))
		return FALSE;
	*out_count = done->len;
	return TRUE;
}

/* every filesystem @index is stored on, directly or through others: their indexes */
static void
qa_freezer_collect_stored_on(GPtrArray *depends, guint index, GArray *out, gboolean *seen)
{
	GArray *direct = g_ptr_array_index(depends, index);

	for (guint i = 0; i < direct->len; i++) {
		guint below = g_array_index(direct, guint, i);
		if (seen[below])
			continue;
		seen[below] = TRUE;
		g_array_append_val(out, below);
		qa_freezer_collect_stored_on(depends, below, out, seen);
	}
}

/* What each selected filesystem is stored on (GHashTable of QaFilesystem -> GArray of makedev()
 * numbers), refusing, before anything runs, a filesystem stored on one this agent holds frozen
 * since an earlier call: flushing it would wait for the frozen one forever. */
static GHashTable *
qa_freezer_plan_storage(QaFreezer *self,
			GPtrArray *filesystems,
			GPtrArray *selected,
			GPtrArray *depends,
			GError **error)
{
	g_autoptr(GHashTable) plan =
	    g_hash_table_new_full(NULL, NULL, NULL, (GDestroyNotify)g_array_unref);

	for (guint i = 0; i < filesystems->len; i++) {
		QaFilesystem *fs = g_ptr_array_index(filesystems, i);
		g_autoptr(GArray) below = g_array_new(FALSE, FALSE, sizeof(guint));
		g_autofree gboolean *seen = g_new0(gboolean, filesystems->len);
		GArray *devnums = g_array_new(FALSE, FALSE, sizeof(guint64));

		if (!g_ptr_array_find(selected, fs, NULL)) {
			g_array_unref(devnums);
			continue;
		}
		seen[i] = TRUE;
		qa_freezer_collect_stored_on(depends, i, below, seen);
		g_hash_table_insert(plan, fs, devnums);
		for (guint j = 0; j < below->len; j++) {
			QaFilesystem *holder =
			    g_ptr_array_index(filesystems, g_array_index(below, guint, j));
			guint64 devnum = makedev(holder->major, holder->minor);
			gboolean is_held;

			g_array_append_val(devnums, devnum);
			g_mutex_lock(&self->lock);
			is_held = qa_freezer_find_frozen_locked(
				      self, holder->major, holder->minor, NULL) != NULL;
			g_mutex_unlock(&self->lock);
			if (!is_held)
				continue;
			g_set_error(
			    error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_BUSY,
			    "Cannot freeze '%s': it is stored (through a loop device) on '%s', "
			    "which this agent holds frozen, so flushing it would wait forever. "
			    "Nothing was frozen. Thaw '%s' first, then freeze both, in one call "
			    "or this one first.",
			    (const gchar *)g_ptr_array_index(fs->mountpoints, 0),
			    (const gchar *)g_ptr_array_index(holder->mountpoints, 0),
			    (const gchar *)g_ptr_array_index(holder->mountpoints, 0));
			return NULL;
		}
	}
	return g_steal_pointer(&plan);
}

/* What @selected and every filesystem they are stored on are stored on (see
 * qa_storage_graph_dependencies()), and @selected in freeze levels: with the kernel's storage,
 * both from one walk of the kept device model */
static GPtrArray *
qa_freezer_plan_order(QaFreezer *self,
		      GPtrArray *filesystems,
		      GPtrArray *selected,
		      GPtrArray **out_depends,
		      GError **error)
{
	g_autoptr(GPtrArray) depends = NULL;
	GPtrArray *levels;

	if (self->is_kernel_storage)
		depends = qa_freezer_storage_depends_on(
		    self->storage, self->roots, filesystems, selected);
	else
		depends =
		    self->ops.depends_on(self->roots, filesystems, selected, self->ops_data, error);
	if (depends == NULL) {
		if (self->is_kernel_storage)
			g_set_error(error,
				    QA_SYSTEM_ERROR,
				    QA_SYSTEM_ERROR_FAILED,
				    "Cannot work out what the filesystems are stored on.");
		return NULL;
	}
	if (self->is_kernel_storage)
		levels = qa_storage_graph_levels(filesystems, depends, selected, error);
	else
		levels = self->ops.freeze_levels(self->roots, selected, self->ops_data, error);
	if (levels != NULL)
		*out_depends = g_steal_pointer(&depends);
	return levels;
}

/* Everything that can refuse the freeze, before the hook runs or anything freezes: load,
 * select, order, open. Returns the levels of opened jobs. */
static GPtrArray *
qa_freezer_prepare(QaFreezer *self,
		   const QaFreezeRequest *request,
		   GPtrArray *filesystems,
		   QaFreezeTimes *times,
		   GError **error)
{
	g_autoptr(GPtrArray) selected = NULL;
	g_autoptr(GPtrArray) levels = NULL;
	g_autoptr(GPtrArray) jobs = NULL;
	g_autoptr(GHashTable) storage = NULL;
	g_autoptr(GPtrArray) depends = NULL;
	g_autoptr(GHashTable) named = g_hash_table_new(NULL, NULL);
	gboolean is_strict = request->mountpoints != NULL || request->disks != NULL;

	selected = qa_freezer_select(self, filesystems, request, named, error);
	if (selected == NULL)
		return NULL;
	if (!qa_freeze_select_check_statedir(self->statedir, error))
		return NULL;
	if (self->hook != NULL && !qa_hook_check(self->hook, error))
		return NULL;
	levels = qa_freezer_plan_order(self, filesystems, selected, &depends, error);
	if (levels == NULL)
		return NULL;
	storage = qa_freezer_plan_storage(self, filesystems, selected, depends, error);
	if (storage == NULL)
		return NULL;
	times->planned = g_get_monotonic_time();
	jobs = qa_freezer_open_levels(self, levels, is_strict, error);
	if (jobs == NULL)
		return NULL;
	for (guint i = 0; i < jobs->len; i++) {
		GPtrArray *level = g_ptr_array_index(jobs, i);
		for (guint j = 0; j < level->len; j++) {
			QaFreezeJob *job = g_ptr_array_index(level, j);
			GArray *devnums = g_hash_table_lookup(storage, job->fs);
			job->stored_on = devnums != NULL ? g_array_ref(devnums) : NULL;
			job->is_named = g_hash_table_contains(named, job->fs);
		}
	}
	qa_freezer_report_planned(self, jobs);
	return g_steal_pointer(&jobs);
}

gboolean
qa_freezer_freeze_request(QaFreezer *self,
			  const QaFreezeRequest *request,
			  guint *out_count,
			  GError **error)
{
	g_autoptr(GMutexLocker) op G_GNUC_UNUSED = g_mutex_locker_new(&self->op_lock);
	g_autoptr(GPtrArray) filesystems = NULL;
	g_autoptr(GPtrArray) jobs = NULL;
	g_autoptr(GError) error_local = NULL;
	QaFreezeTimes times = {.start = g_get_monotonic_time()};

	g_return_val_if_fail(self != NULL && request != NULL, FALSE);

	qa_freezer_sync_with_file(self, TRUE);
	self->n_freezes++;
	qa_freezer_report_begin(self, request);
	/* the kept table and model are this call's alone: op_lock is held */
	if (self->is_kernel_storage) {
		gboolean is_kept = FALSE;
		filesystems =
		    qa_freezer_storage_load(self->storage, self->roots, &is_kept, &error_local);
		times.storage = is_kept ? "kept" : "built";
	} else {
		filesystems = qa_freezer_load_filesystems(self, &error_local);
		times.storage = "loaded";
	}
	times.loaded = g_get_monotonic_time();
	if (filesystems != NULL)
		jobs = qa_freezer_prepare(self, request, filesystems, &times, &error_local);
	if (jobs != NULL) {
		times.opened = g_get_monotonic_time();
		if (qa_freezer_freeze_opened(self, jobs, &times, out_count, &error_local))
			return TRUE;
	}
	qa_freezer_report_failed(self, &times, error_local->message);
	g_propagate_error(error, g_steal_pointer(&error_local));
	return FALSE;
}

gboolean
qa_freezer_freeze(QaFreezer *self, GPtrArray *mountpoints, guint *out_count, GError **error)
{
	const QaFreezeRequest request = {
	    .command = mountpoints != NULL ? "guest-fsfreeze-freeze-list" : "guest-fsfreeze-freeze",
	    .mountpoints = mountpoints,
	};
	return qa_freezer_freeze_request(self, &request, out_count, error);
}

QaFreezer *
qa_freezer_new_offline(const QaFreezerOptions *options)
{
	QaFreezer *self;

	g_return_val_if_fail(options != NULL && options->roots != NULL, NULL);
	g_return_val_if_fail(options->statedir != NULL, NULL);
	self = g_new0(QaFreezer, 1);

	self->roots = qa_roots_copy(options->roots);
	self->statedir = g_strdup(options->statedir);
	self->hook = g_strdup(options->hook);
	self->hook_timeout_ms = options->hook_timeout_ms;
	self->auto_thaw_ms = options->auto_thaw_ms;
	self->shutdown_wait_ms = options->shutdown_wait_ms != 0 ? options->shutdown_wait_ms
								: QA_FREEZER_SHUTDOWN_WAIT_MS;
	self->exclude_mountpoints = g_strdupv(options->exclude_mountpoints);
	self->exclude_types = g_strdupv(options->exclude_types);
	self->expedites_rcu = options->expedites_rcu;
	self->ops_data = options->ops_data;
	self->log_hold = options->log_hold;
	self->log_release = options->log_release;
	if (options->ops != NULL)
		self->ops = *options->ops;
	self->is_kernel_storage = self->ops.load_filesystems == NULL &&
				  self->ops.depends_on == NULL && self->ops.freeze_levels == NULL;
	self->storage = qa_freezer_storage_new();
	qa_freezer_kernel_fill_ops(&self->ops);
	g_mutex_init(&self->op_lock);
	g_mutex_init(&self->lock);
	g_mutex_init(&self->write_lock);
	g_cond_init(&self->cond);
	g_cond_init(&self->idle_cond);
	self->frozen = g_ptr_array_new_with_free_func((GDestroyNotify)qa_frozen_fs_free);
	self->thawing = g_ptr_array_new_with_free_func((GDestroyNotify)qa_state_fs_free);
	self->is_offline = TRUE;
	return self;
}

QaFreezer *
qa_freezer_new(const QaFreezerOptions *options, GError **error)
{
	g_autoptr(QaFreezer) self = qa_freezer_new_offline(options);
	g_autoptr(QaState) state = NULL;
	g_autoptr(GError) error_local = NULL;

	if (self == NULL)
		return NULL;
	self->is_offline = FALSE;
	self->pid = getpid();
	/* a missing state directory is not fatal: freezing refuses until it exists */
	if (g_mkdir_with_parents(self->statedir, 0700) != 0)
		g_warning(
		    "cannot create state directory=%s: %s", self->statedir, g_strerror(errno));
	/* the file as it is now is this agent's to take over; from now on a file this agent did
	 * not write is someone else's (--emergency-thaw) */
	self->written_id = qa_freezer_file_id(self->statedir);
	state = qa_state_file_load(self->statedir, &error_local);
	if (state == NULL) {
		g_warning("ignoring the freeze state: %s", error_local->message);
		state = qa_state_new();
	}
	/* filesystems an earlier agent left frozen are held under the same deadline */
	if (state->filesystems->len > 0 && !qa_freezer_start_watchdog(self, error))
		return NULL;
	qa_freezer_recover(self, state);
	return g_steal_pointer(&self);
}

void
qa_freezer_free(QaFreezer *self)
{
	GThread *watchdog;

	if (self == NULL)
		return;
	g_mutex_lock(&self->lock);
	watchdog = self->watchdog;
	self->is_stopping = TRUE;
	g_cond_signal(&self->cond);
	g_mutex_unlock(&self->lock);
	if (watchdog != NULL)
		g_thread_join(watchdog);
	if (self->frozen != NULL)
		g_ptr_array_unref(self->frozen);
	if (self->thawing != NULL)
		g_ptr_array_unref(self->thawing);
	if (self->planned != NULL)
		g_ptr_array_unref(self->planned);
	g_mutex_clear(&self->op_lock);
	g_mutex_clear(&self->lock);
	g_mutex_clear(&self->write_lock);
	g_cond_clear(&self->cond);
	g_cond_clear(&self->idle_cond);
	qa_freezer_storage_free(self->storage);
	qa_roots_free(self->roots);
	g_free(self->statedir);
	g_free(self->hook);
	g_strfreev(self->exclude_mountpoints);
	g_strfreev(self->exclude_types);
	qa_freeze_outcome_free(self->freeze_outcome);
	qa_freeze_outcome_thaw_free(self->thaw_outcome);
	g_free(self->written_id);
	g_free(self);
}
