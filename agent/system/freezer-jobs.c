/* The work of one freeze call on many filesystems at once: the thread pool the call owns, the
 * flush before FIFREEZE (syncfs passes, journal checkpoint) and the FIFREEZE jobs. */
#include <errno.h>

#include "autocleanups.h"
#include "freezer-private.h"

void
qa_freeze_job_free(QaFreezeJob *job)
{
	if (job->fd >= 0)
		close(job->fd);
	g_free(job->mountpoint);
	if (job->stored_on != NULL)
		g_array_unref(job->stored_on);
	g_free(job);
}

/* thawing ---------------------------------------------------------------------------------------
 */

/* Runs @func on every job, in parallel when there are several. The pool's threads belong to this
 * call and are joined before it returns. */
void
qa_freezer_run_parallel(GPtrArray *jobs, GFunc func)
{
	g_autoptr(GError) error_local = NULL;
	GThreadPool *pool = NULL;

	if (jobs->len > 1)
		pool = g_thread_pool_new(
		    func, NULL, MIN(jobs->len, QA_FREEZER_MAX_THREADS), TRUE, &error_local);
	if (pool == NULL) {
		if (error_local != NULL)
			g_warning("no threads, working one by one: %s", error_local->message);
		for (guint i = 0; i < jobs->len; i++)
			func(g_ptr_array_index(jobs, i), NULL);
		return;
	}
	for (guint i = 0; i < jobs->len; i++)
		g_thread_pool_push(pool, g_ptr_array_index(jobs, i), NULL);
	g_thread_pool_free(pool, FALSE, TRUE);
}

/* freezing ------------------------------------------------------------------------------------- */

/* Another syncfs pass is worth it while the last one still had real work and took clearly less
 * than the one before: what it leaves is what writers dirtied while it ran. */
static gboolean
qa_freezer_is_resync_due(const gint64 *sync_us, guint n_syncs)
{
	gint64 last = sync_us[n_syncs - 1];

	if (n_syncs >= QA_FREEZER_MAX_SYNCS || last < QA_FREEZER_RESYNC_US)
		return FALSE;
	return n_syncs == 1 || last * 4 < sync_us[n_syncs - 2] * 3;
}

/* Flushes one filesystem while writers still run, so that FIFREEZE, which blocks writers before
 * it flushes, holds them only for what was dirtied since: syncfs while that still shrinks, then
 * a journal checkpoint, which FIFREEZE would otherwise do with writers blocked. */
static void
qa_freezer_flush_job(gpointer data, gpointer user_data)
{
	QaFreezeJob *job = data;
	QaFreezer *self = job->self;
	gint64 start;

	do {
		gint ret;

		start = g_get_monotonic_time();
		ret = self->ops.sync(job->fd, job->mountpoint, self->ops_data);
		job->sync_us[job->n_syncs++] = g_get_monotonic_time() - start;
		if (ret != 0) {
			g_warning("syncfs mountpoint=%s failed, FIFREEZE will flush: %s",
				  job->mountpoint,
				  g_strerror(-ret));
			break;
		}
	} while (qa_freezer_is_resync_due(job->sync_us, job->n_syncs));

	/* a filesystem that had next to nothing to flush has next to nothing in its journal either,
	 * and the checkpoint's own journal write (a cache flush) would only come on top of
	 * FIFREEZE's */
	if (job->sync_us[0] < QA_FREEZER_RESYNC_US) {
		job->checkpoint_result = -ECANCELED;
		return;
	}
	start = g_get_monotonic_time();
	job->checkpoint_result =
	    self->ops.checkpoint(job->fd, job->mountpoint, job->fs->fstype, self->ops_data);
	job->checkpoint_us = g_get_monotonic_time() - start;
	if (job->checkpoint_result != 0 && job->checkpoint_result != -EOPNOTSUPP &&
	    job->checkpoint_result != -ENOTTY)
		g_warning("journal checkpoint mountpoint=%s failed, FIFREEZE will do it: %s",
			  job->mountpoint,
			  g_strerror(-job->checkpoint_result));
}

/* every filesystem at once: flushing has no order, only FIFREEZE has */
void
qa_freezer_flush(GPtrArray *levels)
{
	g_autoptr(GPtrArray) all = g_ptr_array_new();

	for (guint i = 0; i < levels->len; i++)
		g_ptr_array_extend(all, g_ptr_array_index(levels, i), NULL, NULL);
	qa_freezer_run_parallel(all, qa_freezer_flush_job);
}

void
qa_freezer_freeze_job(gpointer data, gpointer user_data)
{
	QaFreezeJob *job = data;
	QaFreezer *self = job->self;
	gint64 start = g_get_monotonic_time();
	QaFrozenFs *entry;

	job->result = self->ops.freeze(job->fd, job->mountpoint, self->ops_data);
	job->freeze_us = g_get_monotonic_time() - start;
	if (job->result != 0)
		return;
	g_mutex_lock(&self->lock);
	if (self->is_op_aborted) {
		/* the watchdog or shutdown thawed everything while this FIFREEZE ran */
		g_mutex_unlock(&self->lock);
		self->ops.thaw(job->fd, job->mountpoint, self->ops_data);
		job->result = -ECANCELED;
		return;
	}
	entry = g_new0(QaFrozenFs, 1);
	entry->major = job->fs->major;
	entry->minor = job->fs->minor;
	entry->fstype = g_strdup(job->fs->fstype);
	entry->mountpoints = g_new0(gchar *, job->fs->mountpoints->len + 1);
	entry->mountpoints[0] = g_strdup(job->mountpoint);
	for (guint i = 0, n = 1; i < job->fs->mountpoints->len; i++) {
		const gchar *mp = g_ptr_array_index(job->fs->mountpoints, i);
		if (g_strcmp0(mp, job->mountpoint) != 0)
			entry->mountpoints[n++] = g_strdup(mp);
	}
	entry->fd = qa_fd_steal(&job->fd);
	entry->serial = job->serial;
	entry->level = job->level;
	entry->call = job->serial;
	entry->frozen_at = g_get_real_time();
	entry->stored_on = job->stored_on != NULL ? g_array_ref(job->stored_on) : NULL;
	g_ptr_array_add(self->frozen, entry);
	job->is_frozen = TRUE;
	g_mutex_unlock(&self->lock);
}

static const gchar *
qa_freezer_checkpoint_outcome(gint result)
{
	if (result == 0)
		return "done";
	if (result == -EOPNOTSUPP || result == -ENOTTY)
		return "unsupported";
	if (result == -ECANCELED)
		return "skipped";
	return "failed";
}

/* one line per filesystem, after its level: what its flush and its FIFREEZE took */
void
qa_freezer_log_job(QaFreezeJob *job)
{
	g_autoptr(GString) syncs = g_string_new(NULL);

	for (guint i = 0; i < job->n_syncs; i++)
		g_string_append_printf(syncs, "%s%.1f", i > 0 ? "," : "", job->sync_us[i] / 1000.0);
	g_message("%s mountpoint=%s fstype=%s syncfs_ms=%s checkpoint=%s checkpoint_ms=%.1f "
		  "fifreeze_ms=%.1f",
		  job->is_frozen ? "froze" : "did not freeze",
		  job->mountpoint,
		  job->fs->fstype,
		  syncs->len > 0 ? syncs->str : "-",
		  qa_freezer_checkpoint_outcome(job->checkpoint_result),
		  job->checkpoint_us / 1000.0,
		  job->freeze_us / 1000.0);
}
