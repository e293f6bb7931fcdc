/* The record of what the freezer's calls did (freeze-outcome.h): the freeze call running, or the
 * last one, and the last thaw. The calls update it as they go, each update a short critical
 * section under self->lock, so that guest-fsfreeze-get-report (which takes only that lock) shows
 * a call in progress as far as it got, and every record of the state (the state file) carries
 * it. Nothing here blocks or touches the system. */
#include <errno.h>
#include <sys/sysmacros.h>

#include "freezer-private.h"

static GStrv
qa_freezer_report_strv(GPtrArray *names)
{
	GStrv strv = g_new0(gchar *, (names != NULL ? names->len : 0) + 1);

	for (guint i = 0; names != NULL && i < names->len; i++)
		strv[i] = g_strdup(g_ptr_array_index(names, i));
	return strv;
}

void
qa_freezer_report_begin(QaFreezer *self, const QaFreezeRequest *request)
{
	QaFreezeOutcome *outcome = qa_freeze_outcome_new(self->n_freezes, request->command);

	if (request->mountpoints != NULL)
		outcome->mountpoints = qa_freezer_report_strv(request->mountpoints);
	if (request->disks != NULL)
		outcome->disks =
		    g_ptr_array_new_with_free_func((GDestroyNotify)qa_freeze_outcome_disk_free);
	outcome->started_at = g_get_real_time();
	g_mutex_lock(&self->lock);
	qa_freeze_outcome_free(self->freeze_outcome);
	self->freeze_outcome = outcome;
	self->serial = self->n_freezes;
	g_mutex_unlock(&self->lock);
}

/* the entry of @fs in the running call's record, added when missing */
static QaFreezeOutcomeFs *
qa_freezer_report_fs_locked(QaFreezer *self, QaFilesystem *fs)
{
	QaFreezeOutcome *outcome = self->freeze_outcome;
	QaFreezeOutcomeFs *entry = qa_freeze_outcome_find_fs(outcome, fs->major, fs->minor);
	g_autoptr(GStrvBuilder) names = NULL;
	g_auto(GStrv) mountpoints = NULL;

	if (entry != NULL)
		return entry;
	names = g_strv_builder_new();
	for (guint i = 0; i < fs->mountpoints->len; i++)
		g_strv_builder_add(names, g_ptr_array_index(fs->mountpoints, i));
	mountpoints = g_strv_builder_end(names);
	entry = qa_freeze_outcome_fs_new(
	    fs->major, fs->minor, fs->fstype, (const gchar *const *)mountpoints);
	g_ptr_array_add(outcome->filesystems, entry);
	return entry;
}

void
qa_freezer_report_left_alone(QaFreezer *self,
			     QaFilesystem *fs,
			     QaFreezeOutcomeResult result,
			     const gchar *detail)
{
	QaFreezeOutcomeFs *entry;

	g_mutex_lock(&self->lock);
	entry = qa_freezer_report_fs_locked(self, fs);
	entry->result = result;
	g_free(entry->detail);
	entry->detail = g_strdup(detail);
	g_mutex_unlock(&self->lock);
}

/* every selector's disks and catch, and the disks each filesystem caught lives on beside them */
void
qa_freezer_report_disks(QaFreezer *self,
			GPtrArray *filesystems,
			const QaDiskSelectStorage *storage,
			GPtrArray *matches,
			GPtrArray *selectors,
			GPtrArray *selected)
{
	g_autoptr(GPtrArray) disks =
	    g_ptr_array_new_with_free_func((GDestroyNotify)qa_freeze_outcome_disk_free);

	for (guint i = 0; i < matches->len; i++) {
		const QaDiskSelectMatch *match = g_ptr_array_index(matches, i);
		QaFreezeOutcomeDisk *disk = g_new0(QaFreezeOutcomeDisk, 1);
		g_autoptr(GPtrArray) names = g_ptr_array_new();

		disk->selector = qa_disk_selector_to_string(match->selector);
		disk->disks = g_ptr_array_ref(match->disks);
		for (guint j = 0; j < match->filesystems->len; j++) {
			QaFilesystem *fs = g_ptr_array_index(
			    filesystems, g_array_index(match->filesystems, guint, j));
			g_ptr_array_add(names, g_ptr_array_index(fs->mountpoints, 0));
		}
		disk->mountpoints = qa_freezer_report_strv(names);
		g_ptr_array_add(disks, disk);
	}
	g_mutex_lock(&self->lock);
	g_ptr_array_extend_and_steal(self->freeze_outcome->disks, g_steal_pointer(&disks));
	for (guint i = 0; i < filesystems->len; i++) {
		QaFilesystem *fs = g_ptr_array_index(filesystems, i);
		QaFreezeOutcomeFs *entry;
		g_autoptr(GPtrArray) others = NULL;

		if (!g_ptr_array_find(selected, fs, NULL))
			continue;
		others = qa_disk_select_others(selectors, g_ptr_array_index(storage->storages, i));
		if (others->len == 0)
			continue;
		entry = qa_freezer_report_fs_locked(self, fs);
		g_clear_pointer(&entry->other_disks, g_ptr_array_unref);
		entry->other_disks = g_steal_pointer(&others);
	}
	g_mutex_unlock(&self->lock);
}

/* the filesystems the call is about to freeze, in freezing order */
void
qa_freezer_report_planned(QaFreezer *self, GPtrArray *levels)
{
	g_mutex_lock(&self->lock);
	for (guint i = 0; i < levels->len; i++) {
		GPtrArray *level = g_ptr_array_index(levels, i);
		for (guint j = 0; j < level->len; j++) {
			QaFreezeJob *job = g_ptr_array_index(level, j);
			GPtrArray *entries = self->freeze_outcome->filesystems;
			QaFreezeOutcomeFs *entry = qa_freezer_report_fs_locked(self, job->fs);
			guint index = 0;

			/* the record keeps freezing order: planned entries go last */
			if (g_ptr_array_find(entries, entry, &index))
				g_ptr_array_add(entries, g_ptr_array_steal_index(entries, index));
			entry->result = QA_FREEZE_OUTCOME_PLANNED;
		}
	}
	g_mutex_unlock(&self->lock);
}

static gint64
qa_freezer_report_flush_us(const QaFreezeJob *job)
{
	gint64 us = job->checkpoint_us;

	for (guint i = 0; i < job->n_syncs; i++)
		us += job->sync_us[i];
	return us;
}

/* what FIFREEZE did to each job that got that far */
void
qa_freezer_report_jobs(QaFreezer *self, GPtrArray *levels)
{
	g_mutex_lock(&self->lock);
	for (guint i = 0; i < levels->len; i++) {
		GPtrArray *level = g_ptr_array_index(levels, i);
		for (guint j = 0; j < level->len; j++) {
			QaFreezeJob *job = g_ptr_array_index(level, j);
			QaFreezeOutcomeFs *entry = qa_freezer_report_fs_locked(self, job->fs);
			gboolean is_unsupported =
			    job->result == -EOPNOTSUPP || job->result == -ENOTTY;

			entry->flush_us = job->n_syncs > 0 ? qa_freezer_report_flush_us(job) : -1;
			/* FIFREEZE not issued: an earlier level failed */
			if (!job->is_frozen && job->result == 0)
				continue;
			entry->freeze_us = job->freeze_us;
			g_clear_pointer(&entry->detail, g_free);
			if (job->is_frozen) {
				entry->result = QA_FREEZE_OUTCOME_FROZEN;
			} else if (is_unsupported && !job->is_named) {
				entry->result = QA_FREEZE_OUTCOME_SKIPPED;
				entry->detail = g_strdup("its filesystem type does not support "
							 "freezing");
			} else {
				entry->result = QA_FREEZE_OUTCOME_FAILED;
				entry->detail = g_strdup(job->result == -ECANCELED
							     ? "abandoned: everything was thawed "
							       "while FIFREEZE ran"
							     : g_strerror(-job->result));
			}
		}
	}
	g_mutex_unlock(&self->lock);
}

void
qa_freezer_report_rolled_back(QaFreezer *self, GPtrArray *done)
{
	g_mutex_lock(&self->lock);
	for (guint i = 0; i < done->len; i++) {
		QaFreezeJob *job = g_ptr_array_index(done, i);
		QaFreezeOutcomeFs *entry = qa_freezer_report_fs_locked(self, job->fs);

		entry->result = QA_FREEZE_OUTCOME_ROLLED_BACK;
		g_free(entry->detail);
		entry->detail = g_strdup("thawed again: the call failed");
	}
	g_mutex_unlock(&self->lock);
}

void
qa_freezer_report_hook(QaFreezer *self, gboolean is_thaw, QaHookRun *run)
{
	g_mutex_lock(&self->lock);
	if (is_thaw && self->thaw_outcome != NULL) {
		qa_hook_run_free(self->thaw_outcome->hook);
		self->thaw_outcome->hook = run;
	} else if (!is_thaw && self->freeze_outcome != NULL) {
		g_ptr_array_add(self->freeze_outcome->hooks, run);
	} else {
		qa_hook_run_free(run);
	}
	g_mutex_unlock(&self->lock);
}

void
qa_freezer_report_end_locked(QaFreezer *self,
			     const QaFreezeTimes *times,
			     guint count,
			     const gchar *error)
{
	QaFreezeOutcome *outcome = self->freeze_outcome;
	gint64 now = g_get_monotonic_time();

	if (outcome == NULL)
		return;
	outcome->ended_at = g_get_real_time();
	outcome->is_success = error == NULL;
	outcome->count = count;
	g_free(outcome->error);
	outcome->error = g_strdup(error);
	outcome->prepare_us = (times->opened != 0 ? times->opened : now) - times->start;
	outcome->flush_us = times->flushed != 0 ? times->flushed - times->begun : 0;
	outcome->freeze_us = times->frozen != 0 ? times->frozen - times->flushed : 0;
	outcome->dirty_kib = times->begun != 0 ? times->dirty_kib[0] : -1;
	for (guint i = 0; error != NULL && i < outcome->filesystems->len; i++) {
		QaFreezeOutcomeFs *entry = g_ptr_array_index(outcome->filesystems, i);
		if (entry->result != QA_FREEZE_OUTCOME_PLANNED)
			continue;
		entry->result = QA_FREEZE_OUTCOME_SKIPPED;
		entry->detail = g_strdup("not frozen: the call failed before it got to it");
	}
}

/* ends a failed call's record and writes it: nothing else will, when the call was refused
 * before anything was recorded */
void
qa_freezer_report_failed(QaFreezer *self, const QaFreezeTimes *times, const gchar *error)
{
	g_autoptr(QaState) record = NULL;

	g_mutex_lock(&self->lock);
	qa_freezer_report_end_locked(self, times, 0, error);
	record = qa_freezer_record_locked(self);
	g_mutex_unlock(&self->lock);
	qa_freezer_write_record_or_warn(self, record);
}

void
qa_freezer_report_thaw(
    QaFreezer *self, QaFreezeOutcomeBy by, gint64 start, GPtrArray *thawed, GPtrArray *errors)
{
	QaFreezeOutcomeThaw *thaw = qa_freeze_outcome_thaw_new(by);

	thaw->at = g_get_real_time();
	thaw->duration_us = g_get_monotonic_time() - start;
	thaw->count = thawed != NULL ? thawed->len : 0;
	g_strfreev(thaw->mountpoints);
	thaw->mountpoints = qa_freezer_report_strv(thawed);
	g_strfreev(thaw->errors);
	thaw->errors = qa_freezer_report_strv(errors);
	g_mutex_lock(&self->lock);
	thaw->n_left = self->frozen->len;
	qa_freeze_outcome_thaw_free(self->thaw_outcome);
	self->thaw_outcome = thaw;
	g_mutex_unlock(&self->lock);
}
