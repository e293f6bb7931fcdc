/* Thawing: on request (all or named), by the watchdog and at shutdown, and the end of a frozen
 * epoch (the thaw hook). */
#include <errno.h>
#include <sys/sysmacros.h>

#include "freezer-private.h"
#include "hooks.h"
#include "qa-error.h"

typedef struct {
	QaFreezer *self;
	QaFrozenFs *entry;
	gint result;
	gint64 us;
} QaThawJob;

static void
qa_freezer_thaw_job(gpointer data, gpointer user_data)
{
	QaThawJob *job = data;
	QaFreezer *self = job->self;
	gint64 start = g_get_monotonic_time();

	job->result =
	    job->entry->fd >= 0
		? self->ops.thaw(job->entry->fd, job->entry->mountpoints[0], self->ops_data)
		: -EBADF;
	job->us = g_get_monotonic_time() - start;
}

static gboolean
qa_frozen_fs_is_same_level(QaFrozenFs *a, QaFrozenFs *b)
{
	return a->serial != 0 && a->serial == b->serial && a->level == b->level;
}

/* FITHAW on every entry, last frozen first, the entries of one dependency level in parallel: a
 * slow FITHAW (ext4 writes its superblock before it lets writers go) then holds only its own
 * writers. EINVAL means someone else thawed it already: that is thawed too. Entries that fail
 * otherwise go back into the frozen set, still held. Returns the number of filesystems this
 * call thawed; the first failure goes to @error. */
guint
qa_freezer_thaw_entries(QaFreezer *self,
			GPtrArray *entries,
			GPtrArray *out_thawed,
			GPtrArray *out_errors,
			GError **error)
{
	guint count = 0;
	guint i = entries->len;

	while (i > 0) {
		g_autoptr(GPtrArray) group = g_ptr_array_new_with_free_func(g_free);
		QaFrozenFs *last = g_ptr_array_index(entries, i - 1);

		for (guint k = i; k > 0; k--) {
			QaThawJob *job;

			if (k < i &&
			    !qa_frozen_fs_is_same_level(g_ptr_array_index(entries, k - 1), last))
				break;
			job = g_new0(QaThawJob, 1);
			job->self = self;
			job->entry = g_ptr_array_index(entries, k - 1);
			g_ptr_array_add(group, job);
		}
		qa_freezer_run_parallel(group, qa_freezer_thaw_job);
		/* group[j] is entries[i - 1]: stealing it moves only entries already done */
		for (guint j = 0; j < group->len; j++, i--) {
			QaThawJob *job = g_ptr_array_index(group, j);
			QaFrozenFs *entry = job->entry;

			if (job->result == 0) {
				g_message("thawed mountpoint=%s fithaw_ms=%.1f",
					  entry->mountpoints[0],
					  job->us / 1000.0);
				count++;
				if (out_thawed != NULL)
					g_ptr_array_add(out_thawed,
							g_strdup(entry->mountpoints[0]));
				continue;
			}
			if (job->result == -EINVAL) {
				g_warning("mountpoint=%s was thawed by someone else already",
					  entry->mountpoints[0]);
				if (out_errors != NULL)
					g_ptr_array_add(
					    out_errors,
					    g_strdup_printf("'%s' was thawed by someone "
							    "else already",
							    entry->mountpoints[0]));
				continue;
			}
			g_warning("cannot thaw mountpoint=%s: %s",
				  entry->mountpoints[0],
				  g_strerror(-job->result));
			if (out_errors != NULL)
				g_ptr_array_add(
				    out_errors,
				    g_strdup_printf("Cannot thaw '%s': FITHAW failed: %s",
						    entry->mountpoints[0],
						    g_strerror(-job->result)));
			if (error != NULL && *error == NULL)
				g_set_error(error,
					    QA_SYSTEM_ERROR,
					    QA_SYSTEM_ERROR_FAILED,
					    "Cannot thaw '%s': FITHAW failed: %s. It stays frozen; "
					    "retry guest-fsfreeze-thaw.",
					    entry->mountpoints[0],
					    g_strerror(-job->result));
			g_mutex_lock(&self->lock);
			g_ptr_array_add(self->frozen, g_ptr_array_steal_index(entries, i - 1));
			g_mutex_unlock(&self->lock);
		}
	}
	return count;
}

/* Ends a frozen epoch once nothing is held and no freeze runs: disarms the watchdog, releases
 * the log and runs the thaw hook if the freeze hook ran. The pending flag is taken under the
 * lock, so whichever thread gets here first runs the thaw hook, exactly once. */
/* runs the thaw hook the epoch owes and records the run where it belongs */
static gboolean
qa_freezer_run_thaw_hook(QaFreezer *self, gboolean is_thaw, GError **error)
{
	QaHookRun *run = NULL;
	g_autoptr(QaState) record = NULL;
	gboolean ok = qa_hook_run(self->hook, "thaw", self->hook_timeout_ms, NULL, &run, error);

	qa_freezer_report_hook(self, is_thaw, run);
	g_mutex_lock(&self->lock);
	record = qa_freezer_record_locked(self);
	g_mutex_unlock(&self->lock);
	qa_freezer_write_record_or_warn(self, record);
	return ok;
}

/* what ending an epoch leaves to do once the lock is released */
typedef struct {
	gboolean is_hook_due;
	gboolean is_release_due;
} QaEpochEnd;

/* Ends the epoch in memory when nothing is held and no freeze runs; TRUE when it did, and the
 * caller's next record says so. */
static gboolean
qa_freezer_end_epoch_locked(QaFreezer *self, QaEpochEnd *out)
{
	if (self->frozen->len != 0 || self->is_op_running)
		return FALSE;
	self->deadline = 0;
	out->is_release_due = self->is_log_held;
	self->is_log_held = FALSE;
	out->is_hook_due = self->is_hook_pending;
	self->is_hook_pending = FALSE;
	return TRUE;
}

static gboolean
qa_freezer_finish_epoch(QaFreezer *self, gboolean is_thaw, const QaEpochEnd *end, GError **error)
{
	if (end->is_release_due && self->log_release != NULL)
		self->log_release();
	if (end->is_hook_due && self->hook != NULL)
		return qa_freezer_run_thaw_hook(self, is_thaw, error);
	return TRUE;
}

gboolean
qa_freezer_end_epoch(QaFreezer *self, gboolean is_thaw, GError **error)
{
	QaEpochEnd end = {FALSE, FALSE};
	g_autoptr(QaState) record = NULL;

	g_mutex_lock(&self->lock);
	if (qa_freezer_end_epoch_locked(self, &end))
		record = qa_freezer_record_locked(self);
	g_mutex_unlock(&self->lock);
	if (record != NULL)
		qa_freezer_write_record_or_warn(self, record);
	return qa_freezer_finish_epoch(self, is_thaw, &end, error);
}

/* An auto-thaw whose FITHAW failed leaves those filesystems frozen with no host to thaw them:
 * the watchdog tries again, after 1 s, then twice as long each time up to a minute, for as
 * long as anything stays frozen, and says so each time. */
static void
qa_freezer_schedule_retry_locked(QaFreezer *self, gboolean is_auto)
{
	guint delay_ms;

	if (!is_auto || self->frozen->len == 0 || self->auto_thaw_ms == 0) {
		self->n_auto_thaw_retries = 0;
		return;
	}
	delay_ms = MIN(1000u << MIN(self->n_auto_thaw_retries, 6u), 60 * 1000u);
	self->n_auto_thaw_retries++;
	self->deadline = g_get_monotonic_time() + (gint64)delay_ms * 1000;
	g_cond_signal(&self->cond);
	g_warning("auto-thaw left %u filesystems frozen (FITHAW failed); trying again in %u ms "
		  "(attempt %u)",
		  self->frozen->len,
		  delay_ms,
		  self->n_auto_thaw_retries + 1);
}

/* The watchdog's and the shutdown's thaw: takes every entry without op_lock (a freeze may be
 * stuck holding it) and tells a running freeze to roll back whatever it still freezes. */
guint
qa_freezer_thaw_everything(QaFreezer *self, QaFreezeOutcomeBy by)
{
	g_autoptr(GPtrArray) taken = NULL;
	g_autoptr(GArray) thawing = NULL;
	g_autoptr(GError) error_local = NULL;
	g_autoptr(QaState) record = NULL;
	g_autoptr(GPtrArray) thawed = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
	gboolean is_auto = by == QA_FREEZE_OUTCOME_BY_AUTO_THAW;
	gboolean is_worth_telling;
	gint64 start = g_get_monotonic_time();
	guint count;

	g_mutex_lock(&self->lock);
	taken = g_steal_pointer(&self->frozen);
	self->frozen = g_ptr_array_new_with_free_func((GDestroyNotify)qa_frozen_fs_free);
	thawing = qa_freezer_begin_thawing_locked(self, taken);
	is_worth_telling =
	    taken->len > 0 || self->is_op_running || by == QA_FREEZE_OUTCOME_BY_OPERATOR;
	if (self->is_op_running)
		self->is_op_aborted = TRUE;
	if (is_auto && is_worth_telling)
		self->auto_thawed_at = g_get_real_time();
	self->deadline = 0;
	g_mutex_unlock(&self->lock);

	count = qa_freezer_thaw_entries(self, taken, thawed, errors, NULL);
	if (is_worth_telling)
		qa_freezer_report_thaw(self, by, start, thawed, errors);
	g_mutex_lock(&self->lock);
	/* thawed (or back in @frozen) and reported: from now on status may say so */
	qa_freezer_end_thawing_locked(self, thawing);
	qa_freezer_schedule_retry_locked(self, is_auto);
	/* recorded only now: an agent killed before FITHAW returned must still find them in the
	 * state file, or they would stay frozen with nobody knowing */
	record = qa_freezer_record_locked(self);
	/* a running freeze ends the epoch itself; the hook must not wait for it if it is stuck */
	if (self->is_op_running && self->is_hook_pending && self->frozen->len == 0) {
		self->is_hook_pending = FALSE;
		g_mutex_unlock(&self->lock);
		qa_freezer_write_record_or_warn(self, record);
		if (self->hook != NULL && !qa_freezer_run_thaw_hook(self, TRUE, &error_local))
			g_warning("%s", error_local->message);
		return count;
	}
	g_mutex_unlock(&self->lock);
	qa_freezer_write_record_or_warn(self, record);
	if (!qa_freezer_end_epoch(self, TRUE, &error_local))
		g_warning("%s", error_local->message);
	return count;
}

/* TRUE when no freeze is in progress, waiting up to @timeout_ms for the one that is */
static gboolean
qa_freezer_wait_idle(QaFreezer *self, guint timeout_ms)
{
	g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&self->lock);
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

	while (self->is_op_running) {
		if (!g_cond_wait_until(&self->idle_cond, &self->lock, deadline))
			break;
	}
	return !self->is_op_running;
}

guint
qa_freezer_thaw_for_shutdown(QaFreezer *self)
{
	guint count;

	g_return_val_if_fail(self != NULL, 0);
	/* a freeze stuck in FIFREEZE would never set them back; the save below records it */
	qa_freezer_restore_rcu(self);
	count = qa_freezer_thaw_everything(self, QA_FREEZE_OUTCOME_BY_SHUTDOWN);
	/* A freeze in progress has been told it is abandoned: FIFREEZE calls still in the kernel
	 * undo themselves when they return. Exiting before that would leave what they froze frozen
	 * until the next agent starts, so the shutdown waits for the freeze to end, bounded: a
	 * FIFREEZE that never returns is recorded in the state file for the next agent. */
	if (!qa_freezer_wait_idle(self, self->shutdown_wait_ms))
		g_warning("a freeze is still in progress after %u ms; what it froze is recorded "
			  "for the next agent to thaw",
			  self->shutdown_wait_ms);
	if (count > 0)
		g_message("thawed for shutdown count=%u", count);
	return count;
}

/* The name a host gave, as the mount table would spell it: "/data/", "/data/." and "//data" are
 * "/data". Lexical only: resolving it through the filesystem (realpath) could block forever under
 * a FUSE or NFS mount that no longer answers, and a thaw must always get through. A relative name
 * is taken from "/", which is the agent's working directory. */
gchar *
qa_freezer_normalize_name(const gchar *name)
{
	return g_canonicalize_filename(name, "/");
}

/* A filesystem stored on another (a loop image's filesystem on the one holding the image) cannot
 * be thawed while that other one stays frozen: FITHAW writes its superblock through the loop
 * device, which waits for the frozen one forever. */
static gboolean
qa_freezer_check_thaw_order_locked(QaFreezer *self, GArray *indexes, GError **error)
{
	for (guint i = 0; i < indexes->len; i++) {
		QaFrozenFs *entry =
		    g_ptr_array_index(self->frozen, g_array_index(indexes, guint, i));

		for (guint j = 0; entry->stored_on != NULL && j < entry->stored_on->len; j++) {
			guint64 devnum = g_array_index(entry->stored_on, guint64, j);
			guint below = 0;
			gboolean is_thawed_too = FALSE;
			QaFrozenFs *holder = qa_freezer_find_frozen_locked(
			    self, major(devnum), minor(devnum), &below);

			for (guint k = 0; k < indexes->len && !is_thawed_too; k++)
				is_thawed_too = g_array_index(indexes, guint, k) == below;
			if (holder == NULL || is_thawed_too)
				continue;
			g_set_error(
			    error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_INVALID,
			    "Cannot thaw '%s' alone: it is stored (through a loop device) on "
			    "'%s', which stays frozen, and thawing it would wait for that "
			    "filesystem forever. Nothing was thawed; thaw both in one call.",
			    entry->mountpoints[0],
			    holder->mountpoints[0]);
			return FALSE;
		}
	}
	return TRUE;
}

static void
qa_freezer_add_index(GArray *indexes, guint index)
{
	for (guint i = 0; i < indexes->len; i++) {
		if (g_array_index(indexes, guint, i) == index)
			return;
	}
	g_array_append_val(indexes, index);
}

/* Takes the entries named by @names, and those of @devnums (guint64, nullable: what is held of
 * the filesystems on the disks a thaw named), out of the frozen set, or none of them. @names
 * are already normalized: nothing here touches the filesystem, since the lock is held. */
static GPtrArray *
qa_freezer_take_named_locked(QaFreezer *self, GPtrArray *names, GArray *devnums, GError **error)
{
	g_autoptr(GArray) indexes = g_array_new(FALSE, FALSE, sizeof(guint));
	g_autoptr(GPtrArray) taken =
	    g_ptr_array_new_with_free_func((GDestroyNotify)qa_frozen_fs_free);

	for (guint i = 0; devnums != NULL && i < devnums->len; i++) {
		guint64 devnum = g_array_index(devnums, guint64, i);
		guint index = 0;

		if (qa_freezer_find_frozen_locked(self, major(devnum), minor(devnum), &index))
			qa_freezer_add_index(indexes, index);
	}
	for (guint i = 0; i < names->len; i++) {
		const gchar *name = g_ptr_array_index(names, i);
		guint index = 0;

		if (qa_freezer_lookup_frozen_locked(self, name, &index) == NULL) {
			g_set_error(error,
				    QA_SYSTEM_ERROR,
				    QA_SYSTEM_ERROR_INVALID,
				    "'%s' is not a mountpoint this agent holds frozen; nothing was "
				    "thawed. Name a mountpoint as guest-get-fsinfo reports it "
				    "(guest-fsfreeze-status says whether anything is frozen).",
				    name);
			return NULL;
		}
		qa_freezer_add_index(indexes, index);
	}
	if (!qa_freezer_check_thaw_order_locked(self, indexes, error))
		return NULL;
	/* steal in freezing order, so that thawing goes in reverse of it */
	for (guint i = self->frozen->len; i > 0; i--) {
		for (guint j = 0; j < indexes->len; j++) {
			if (g_array_index(indexes, guint, j) == i - 1) {
				g_ptr_array_insert(
				    taken, 0, g_ptr_array_steal_index(self->frozen, i - 1));
				break;
			}
		}
	}
	return g_steal_pointer(&taken);
}

/* After an auto-thaw, the next thaw must not look like a good one to the host. */
static gboolean
qa_freezer_check_auto_thawed_locked(QaFreezer *self, GError **error)
{
	g_autofree gchar *when = NULL;

	if (self->auto_thawed_at == 0)
		return TRUE;
	when = qa_freezer_format_time(self->auto_thawed_at);
	if (self->is_operator_thawed)
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "The filesystems were thawed in the guest at %s (quiesce-agent "
			    "--emergency-thaw); a snapshot taken after that time is not "
			    "consistent.",
			    when);
	else
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "The filesystems were thawed automatically at %s because no "
			    "guest-fsfreeze-thaw arrived within %u seconds; a snapshot taken after "
			    "that time is not consistent.",
			    when,
			    self->auto_thaw_ms / 1000);
	/* reported once; the caller records that */
	self->auto_thawed_at = 0;
	self->is_operator_thawed = FALSE;
	return FALSE;
}

/* The filesystems held frozen that the disks of @selectors hold (guint64 device numbers), read
 * from the mount table and sysfs with no lock held; fails when a selector names nothing there
 * is. */
static GArray *
qa_freezer_held_on_disks(QaFreezer *self, GPtrArray *selectors, GError **error)
{
	g_autoptr(GPtrArray) filesystems = qa_freezer_load_filesystems(self, error);
	g_autoptr(QaDiskSelectStorage) storage = NULL;
	g_autoptr(GPtrArray) matches = NULL;
	g_autoptr(GArray) devnums = g_array_new(FALSE, FALSE, sizeof(guint64));

	if (filesystems == NULL)
		return NULL;
	storage =
	    self->ops.load_storage(self->roots, filesystems, selectors, self->ops_data, error);
	if (storage == NULL)
		return NULL;
	matches = qa_disk_select_match(selectors, storage, error);
	if (matches == NULL)
		return NULL;
	for (guint i = 0; i < matches->len; i++) {
		QaDiskSelectMatch *match = g_ptr_array_index(matches, i);
		for (guint j = 0; j < match->filesystems->len; j++) {
			QaFilesystem *fs = g_ptr_array_index(
			    filesystems, g_array_index(match->filesystems, guint, j));
			guint64 devnum = makedev(fs->major, fs->minor);
			g_array_append_val(devnums, devnum);
		}
	}
	return g_steal_pointer(&devnums);
}

/* Takes what @request names out of the frozen set (everything when it names nothing) into the
 * thawing set: @out_thawing is for qa_freezer_end_thawing_locked() */
static GPtrArray *
qa_freezer_take_requested(QaFreezer *self,
			  const QaFreezeRequest *request,
			  GArray **out_thawing,
			  GError **error)
{
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GArray) devnums = NULL;
	g_autoptr(GMutexLocker) locker = NULL;
	GPtrArray *taken;

	for (guint i = 0; request->mountpoints != NULL && i < request->mountpoints->len; i++)
		g_ptr_array_add(
		    names, qa_freezer_normalize_name(g_ptr_array_index(request->mountpoints, i)));
	if (request->disks != NULL) {
		devnums = qa_freezer_held_on_disks(self, request->disks, error);
		if (devnums == NULL)
			return NULL;
	}
	locker = g_mutex_locker_new(&self->lock);
	if (request->mountpoints != NULL || request->disks != NULL) {
		taken = qa_freezer_take_named_locked(self, names, devnums, error);
		if (taken == NULL)
			return NULL;
	} else {
		taken = g_steal_pointer(&self->frozen);
		self->frozen = g_ptr_array_new_with_free_func((GDestroyNotify)qa_frozen_fs_free);
	}
	*out_thawing = qa_freezer_begin_thawing_locked(self, taken);
	return taken;
}

/* refuses a thaw after an auto-thaw the host was not told of yet, recording that it was told */
static gboolean
qa_freezer_check_auto_thawed(QaFreezer *self, GError **error)
{
	g_autoptr(QaState) record = NULL;

	g_mutex_lock(&self->lock);
	if (qa_freezer_check_auto_thawed_locked(self, error)) {
		g_mutex_unlock(&self->lock);
		return TRUE;
	}
	record = qa_freezer_record_locked(self);
	g_mutex_unlock(&self->lock);
	qa_freezer_write_record_or_warn(self, record);
	return FALSE;
}

gboolean
qa_freezer_thaw_request(QaFreezer *self,
			const QaFreezeRequest *request,
			guint *out_count,
			GError **error)
{
	g_autoptr(GMutexLocker) op G_GNUC_UNUSED = g_mutex_locker_new(&self->op_lock);
	g_autoptr(GPtrArray) taken = NULL;
	g_autoptr(GError) error_thaw = NULL;
	g_autoptr(GError) error_hook = NULL;
	g_autoptr(GPtrArray) thawed = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(QaState) record = NULL;
	g_autoptr(GArray) thawing = NULL;
	gint64 start = g_get_monotonic_time();
	gint64 thawed_at;
	QaEpochEnd end = {FALSE, FALSE};
	guint count;

	g_return_val_if_fail(self != NULL && request != NULL, FALSE);

	qa_freezer_sync_with_file(self, TRUE);
	if (!qa_freezer_check_auto_thawed(self, error))
		return FALSE;
	taken = qa_freezer_take_requested(self, request, &thawing, error);
	if (taken == NULL)
		return FALSE;

	count = qa_freezer_thaw_entries(self, taken, thawed, errors, &error_thaw);
	thawed_at = g_get_monotonic_time();
	qa_freezer_report_thaw(self, QA_FREEZE_OUTCOME_BY_HOST, start, thawed, errors);
	/* one record for the thaw and, when nothing is left frozen, the end of the epoch */
	g_mutex_lock(&self->lock);
	qa_freezer_end_thawing_locked(self, thawing);
	qa_freezer_end_epoch_locked(self, &end);
	record = qa_freezer_record_locked(self);
	g_mutex_unlock(&self->lock);
	qa_freezer_write_record_or_warn(self, record);
	g_message("thawed count=%u ms=%.1f fithaw_ms=%.1f state_ms=%.2f",
		  count,
		  (g_get_monotonic_time() - start) / 1000.0,
		  (thawed_at - start) / 1000.0,
		  (g_get_monotonic_time() - thawed_at) / 1000.0);
	if (!qa_freezer_finish_epoch(self, TRUE, &end, &error_hook) && error_thaw == NULL) {
		/* the filesystems are thawed, but the host must know the hook's undo failed */
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Thawed %u filesystems, but the thaw hook failed: %s",
			    count,
			    error_hook->message);
		return FALSE;
	}
	if (error_thaw != NULL) {
		g_propagate_error(error, g_steal_pointer(&error_thaw));
		return FALSE;
	}
	*out_count = count;
	return TRUE;
}

gboolean
qa_freezer_thaw(QaFreezer *self, GPtrArray *mountpoints, guint *out_count, GError **error)
{
	const QaFreezeRequest request = {
	    .command = "guest-fsfreeze-thaw",
	    .mountpoints = mountpoints,
	};
	return qa_freezer_thaw_request(self, &request, out_count, error);
}
