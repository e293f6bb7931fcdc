#include "freezer.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "autocleanups.h"
#include "freezer-select.h"
#include "hooks.h"
#include "qa-error.h"
#include "state-file.h"
#include "storage-graph.h"

/* filesystems flushed or frozen at once; more only adds contention on the same disks */
#define QA_FREEZER_MAX_THREADS 8
/* a syncfs() that took longer than this flushed enough that writers may have dirtied more
 * meanwhile, so another pass is worth it; a pass over a clean filesystem costs about 1 ms */
#define QA_FREEZER_RESYNC_US (5 * 1000)
/* syncfs passes per filesystem before FIFREEZE, at most */
#define QA_FREEZER_MAX_SYNCS 4

/* not in the kernel's uapi headers: fs/ext4/ext4.h, since Linux 5.14 */
#ifndef EXT4_IOC_CHECKPOINT
#define EXT4_IOC_CHECKPOINT _IOW('f', 43, guint32)
#endif

typedef struct {
	guint major;
	guint minor;
	gchar *fstype;
	GStrv mountpoints; /* [0] is the one fd is open on */
	gint fd;	   /* kept open while frozen, so thawing needs no path lookup */
	/* which freeze call froze it, and in which of its dependency levels: entries that share
	 * both depend on none of each other and are thawed in parallel; serial 0: unknown (taken
	 * over from an earlier agent), thawed alone */
	guint serial;
	guint level;
} QaFrozenFs;

struct _QaFreezer {
	/* immutable after qa_freezer_new() */
	QaRoots *roots;
	gchar *statedir;
	gchar *hook;
	guint hook_timeout_ms;
	guint auto_thaw_ms;
	GStrv exclude_mountpoints;
	GStrv exclude_types;
	gboolean expedites_rcu;
	QaFreezerOps ops;
	gpointer ops_data;
	void (*log_hold)(void);
	void (*log_release)(void);
	GThread *watchdog; /* from the first freeze on (or a recovered one); set under lock */

	/* one freeze, thaw or trim at a time; never taken by the watchdog or the shutdown thaw */
	GMutex op_lock;
	guint n_freezes; /* under op_lock: the serial of the latest freeze call */

	/* lock guards everything below; it is held only for memory updates and state-file writes
	 * on the tmpfs, never across a hook or an ioctl */
	GMutex lock;
	GCond cond;		/* wakes the watchdog */
	GPtrArray *frozen;	/* of QaFrozenFs, in freezing order */
	GPtrArray *planned;	/* of QaStateFs while a freeze runs: recorded before FIFREEZE */
	gboolean is_op_running; /* a freeze is between its first FIFREEZE and its end */
	gboolean is_op_aborted; /* the watchdog or shutdown thawed while it ran */
	gboolean is_hook_pending;
	gboolean is_log_held;
	gboolean is_stopping;
	/* this agent expedited RCU grace periods for FIFREEZE and owes setting them back */
	gboolean is_rcu_expedited;
	gint64 frozen_at;      /* wall clock µs */
	gint64 deadline;       /* monotonic µs; 0: watchdog idle */
	gint64 auto_thawed_at; /* wall clock µs; 0: nothing to report */
};

typedef struct {
	QaFreezer *self;
	QaFilesystem *fs;  /* borrowed from the loaded table */
	gchar *mountpoint; /* the one fd is open on */
	gint fd;
	guint serial;			      /* of the freeze call */
	guint level;			      /* index of its level in that call */
	gint64 sync_us[QA_FREEZER_MAX_SYNCS]; /* each syncfs pass */
	guint n_syncs;
	gint64 checkpoint_us;
	gint checkpoint_result;
	gint64 freeze_us;   /* FIFREEZE, or 0 when it was not issued */
	gint result;	    /* of FIFREEZE: 0 or a negative errno */
	gboolean is_frozen; /* FIFREEZE succeeded and the entry was registered */
} QaFreezeJob;

/* how long each phase of one freeze took, for the log: monotonic µs */
typedef struct {
	gint64 start;
	gint64 opened;	     /* filesystems loaded, selected, ordered and opened */
	gint64 begun;	     /* freeze hook run, plan recorded */
	gint64 flushed;	     /* syncfs passes and checkpoints done */
	gint64 frozen;	     /* every FIFREEZE returned */
	gint64 saved;	     /* the state file records the frozen set */
	gint64 dirty_kib[3]; /* Dirty + Writeback at begun, flushed, frozen; -1: unknown */
	const gchar *rcu;    /* what was done about RCU grace periods, for the log */
} QaFreezeTimes;

/* the kernel ------------------------------------------------------------------------------- */

/* FIFREEZE and FITHAW are declared _IOWR(..., int): the kernel ignores the argument, but
 * valgrind reads it as a pointer, so it gets one */
static gint
qa_freezer_kernel_freeze(gint fd, const gchar *mountpoint, gpointer user_data)
{
	gint unused = 0;
	return ioctl(fd, FIFREEZE, &unused) == 0 ? 0 : -errno;
}

static gint
qa_freezer_kernel_thaw(gint fd, const gchar *mountpoint, gpointer user_data)
{
	gint unused = 0;
	return ioctl(fd, FITHAW, &unused) == 0 ? 0 : -errno;
}

static gint
qa_freezer_kernel_sync(gint fd, const gchar *mountpoint, gpointer user_data)
{
	return syncfs(fd) == 0 ? 0 : -errno;
}

static gint
qa_freezer_kernel_checkpoint(gint fd,
			     const gchar *mountpoint,
			     const gchar *fstype,
			     gpointer user_data)
{
	guint32 flags = 0;

	/* the number is ext4's own: another filesystem may give it another meaning */
	if (g_strcmp0(fstype, "ext4") != 0 && g_strcmp0(fstype, "ext3") != 0)
		return -EOPNOTSUPP;
	return ioctl(fd, EXT4_IOC_CHECKPOINT, &flags) == 0 ? 0 : -errno;
}

/* FIFREEZE waits for an RCU grace period for each of its three freeze levels (the superblock's
 * percpu rwsems), with writers blocked during two of them: tens of ms on a busy machine, most
 * of what FIFREEZE costs once the data is flushed. Expedited grace periods take microseconds.
 * Writes only when the knob reads otherwise, so setting it back to normal leaves a 0 alone. */
static gint
qa_freezer_kernel_expedite_rcu(const QaRoots *roots, gboolean is_expedited, gpointer user_data)
{
	g_autofree gchar *path = g_build_filename(roots->sys, "kernel", "rcu_expedited", NULL);
	g_auto(QaFd) fd = open(path, O_RDWR | O_CLOEXEC);
	gchar was[2] = {0};

	if (fd < 0)
		return -errno;
	if (read(fd, was, 1) != 1)
		return -EIO;
	if ((was[0] != '0') == is_expedited)
		return was[0] != '0';
	if (pwrite(fd, is_expedited ? "1" : "0", 1, 0) != 1)
		return -errno;
	return was[0] != '0';
}

/* Dirty + Writeback of the whole system in KiB, or -1: for the log only, to tell how much the
 * flush before FIFREEZE left */
static gint64
qa_freezer_read_dirty_kib(const QaRoots *roots)
{
	g_autofree gchar *path = g_build_filename(roots->proc, "meminfo", NULL);
	g_autofree gchar *text = NULL;
	g_auto(GStrv) lines = NULL;
	gint64 total = 0;
	guint found = 0;

	if (!g_file_get_contents(path, &text, NULL, NULL))
		return -1;
	lines = g_strsplit(text, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		if (g_str_has_prefix(lines[i], "Dirty:") ||
		    g_str_has_prefix(lines[i], "Writeback:")) {
			total += g_ascii_strtoll(strchr(lines[i], ':') + 1, NULL, 10);
			found++;
		}
	}
	return found == 2 ? total : -1;
}

static gint
qa_freezer_kernel_trim(gint fd,
		       const gchar *mountpoint,
		       guint64 *inout_minimum,
		       guint64 *out_trimmed,
		       gpointer user_data)
{
	struct fstrim_range range = {.start = 0, .len = G_MAXUINT64, .minlen = *inout_minimum};

	if (ioctl(fd, FITRIM, &range) != 0)
		return -errno;
	*inout_minimum = range.minlen;
	*out_trimmed = range.len;
	return 0;
}

static GPtrArray *
qa_freezer_kernel_load_filesystems(const QaRoots *roots, gpointer user_data, GError **error)
{
	g_autoptr(GPtrArray) mounts = qa_mounts_load(roots, error);

	if (mounts == NULL)
		return NULL;
	return qa_filesystems_from_mounts(roots, mounts);
}

static GPtrArray *
qa_freezer_kernel_freeze_levels(const QaRoots *roots,
				GPtrArray *filesystems,
				gpointer user_data,
				GError **error)
{
	return qa_storage_graph_freeze_levels(roots, filesystems, error);
}

/* Opens a mountpoint for the ioctls and checks that it still is the filesystem the table named:
 * the table may be stale by the time it is used. Returns the fd or a negative errno (-ESTALE for
 * another filesystem). */
static gint
qa_freezer_open_checked(
    const gchar *mountpoint, guint major, guint minor, const gchar *fstype, gpointer user_data)
{
	struct stat st;
	g_auto(QaFd) fd = open(mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0)
		return -errno;
	/* btrfs reports a device of its own for every subvolume, not the superblock's */
	if ((major(st.st_dev) != major || minor(st.st_dev) != minor) &&
	    g_strcmp0(fstype, "btrfs") != 0)
		return -ESTALE;
	return qa_fd_steal(&fd);
}

/* small helpers -------------------------------------------------------------------------------- */

static void
qa_frozen_fs_free(QaFrozenFs *entry)
{
	if (entry == NULL)
		return;
	if (entry->fd >= 0)
		close(entry->fd);
	g_free(entry->fstype);
	g_strfreev(entry->mountpoints);
	g_free(entry);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaFrozenFs, qa_frozen_fs_free)

static void
qa_freeze_job_free(QaFreezeJob *job)
{
	if (job->fd >= 0)
		close(job->fd);
	g_free(job->mountpoint);
	g_free(job);
}

void
qa_trim_result_free(QaTrimResult *result)
{
	if (result == NULL)
		return;
	g_free(result->mountpoint);
	g_free(result->error);
	g_free(result);
}

static gchar *
qa_freezer_format_time(gint64 realtime_us)
{
	g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(realtime_us / G_USEC_PER_SEC);

	if (dt == NULL)
		return g_strdup("an unknown time");
	return g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ");
}

static QaFrozenFs *
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

static gboolean
qa_freezer_save_locked(QaFreezer *self, GError **error)
{
	g_autoptr(QaState) state = qa_freezer_state_locked(self);
	return qa_state_file_save(self->statedir, state, error);
}

/* for paths where failing to persist changes nothing that could still be undone */
static void
qa_freezer_save_or_warn_locked(QaFreezer *self)
{
	g_autoptr(GError) error_local = NULL;

	if (!qa_freezer_save_locked(self, &error_local))
		g_warning("cannot persist freeze state, ignoring: %s", error_local->message);
}

/* thawing ---------------------------------------------------------------------------------------
 */

/* Runs @func on every job, in parallel when there are several. The pool's threads belong to this
 * call and are joined before it returns. */
static void
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
static guint
qa_freezer_thaw_entries(QaFreezer *self, GPtrArray *entries, GError **error)
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
				continue;
			}
			if (job->result == -EINVAL) {
				g_warning("mountpoint=%s was thawed by someone else already",
					  entry->mountpoints[0]);
				continue;
			}
			g_warning("cannot thaw mountpoint=%s: %s",
				  entry->mountpoints[0],
				  g_strerror(-job->result));
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
static gboolean
qa_freezer_end_epoch(QaFreezer *self, GError **error)
{
	gboolean is_hook_due = FALSE;
	gboolean is_release_due = FALSE;

	g_mutex_lock(&self->lock);
	if (self->frozen->len == 0 && !self->is_op_running) {
		self->deadline = 0;
		is_release_due = self->is_log_held;
		self->is_log_held = FALSE;
		is_hook_due = self->is_hook_pending;
		self->is_hook_pending = FALSE;
		qa_freezer_save_or_warn_locked(self);
	}
	g_mutex_unlock(&self->lock);

	if (is_release_due && self->log_release != NULL)
		self->log_release();
	if (is_hook_due && self->hook != NULL)
		return qa_hook_run(self->hook, "thaw", self->hook_timeout_ms, NULL, error);
	return TRUE;
}

/* The watchdog's and the shutdown's thaw: takes every entry without op_lock (a freeze may be
 * stuck holding it) and tells a running freeze to roll back whatever it still freezes. */
static guint
qa_freezer_thaw_everything(QaFreezer *self, gboolean is_auto)
{
	g_autoptr(GPtrArray) taken = NULL;
	g_autoptr(GError) error_local = NULL;
	guint count;

	g_mutex_lock(&self->lock);
	taken = g_steal_pointer(&self->frozen);
	self->frozen = g_ptr_array_new_with_free_func((GDestroyNotify)qa_frozen_fs_free);
	if (self->is_op_running)
		self->is_op_aborted = TRUE;
	if (is_auto && (taken->len > 0 || self->is_op_running))
		self->auto_thawed_at = g_get_real_time();
	self->deadline = 0;
	g_mutex_unlock(&self->lock);

	count = qa_freezer_thaw_entries(self, taken, NULL);
	g_mutex_lock(&self->lock);
	/* recorded only now: an agent killed before FITHAW returned must still find them in the
	 * state file, or they would stay frozen with nobody knowing */
	qa_freezer_save_or_warn_locked(self);
	/* a running freeze ends the epoch itself; the hook must not wait for it if it is stuck */
	if (self->is_op_running && self->is_hook_pending && self->frozen->len == 0) {
		self->is_hook_pending = FALSE;
		g_mutex_unlock(&self->lock);
		if (self->hook != NULL &&
		    !qa_hook_run(self->hook, "thaw", self->hook_timeout_ms, NULL, &error_local))
			g_warning("%s", error_local->message);
		return count;
	}
	g_mutex_unlock(&self->lock);
	if (!qa_freezer_end_epoch(self, &error_local))
		g_warning("%s", error_local->message);
	return count;
}

static gpointer
qa_freezer_watchdog(gpointer data)
{
	QaFreezer *self = data;

	g_mutex_lock(&self->lock);
	while (!self->is_stopping) {
		gint64 deadline = self->deadline;

		if (deadline == 0) {
			g_cond_wait(&self->cond, &self->lock);
			continue;
		}
		if (g_get_monotonic_time() < deadline) {
			g_cond_wait_until(&self->cond, &self->lock, deadline);
			continue;
		}
		g_mutex_unlock(&self->lock);
		g_warning("no guest-fsfreeze-thaw within %u ms, thawing every filesystem",
			  self->auto_thaw_ms);
		qa_freezer_thaw_everything(self, TRUE);
		g_mutex_lock(&self->lock);
	}
	g_mutex_unlock(&self->lock);
	return NULL;
}

/* The watchdog is started by the first freeze, before anything is frozen, not at start-up: an
 * agent that never freezes never pays for the thread, and one that cannot start it refuses the
 * freeze rather than hold filesystems with nothing to thaw them. It stays until the end. */
static gboolean
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

static void
qa_freezer_restore_rcu(QaFreezer *self);

guint
qa_freezer_thaw_for_shutdown(QaFreezer *self)
{
	guint count;

	g_return_val_if_fail(self != NULL, 0);
	/* a freeze stuck in FIFREEZE would never set them back; the save below records it */
	qa_freezer_restore_rcu(self);
	count = qa_freezer_thaw_everything(self, FALSE);
	if (count > 0)
		g_message("thawed for shutdown count=%u", count);
	return count;
}

/* choosing what to freeze (freezer-select.c) ------------------------------------------------- */

static GPtrArray *
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

static GPtrArray *
qa_freezer_select(QaFreezer *self, GPtrArray *filesystems, GPtrArray *names, GError **error)
{
	const QaFreezeSelect select = {
	    .roots = self->roots,
	    .exclude_mountpoints = (const gchar *const *)self->exclude_mountpoints,
	    .exclude_types = (const gchar *const *)self->exclude_types,
	    .check = qa_freezer_check_not_held,
	    .check_data = self,
	};
	return qa_freeze_select(&select, filesystems, names, error);
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
		return job;
	}
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_FAILED,
		    "Cannot open '%s' to freeze it: %s.",
		    (const gchar *)g_ptr_array_index(fs->mountpoints, 0),
		    first_error == -ESTALE ? "another filesystem is mounted there now"
					   : g_strerror(-first_error));
	return NULL;
}

/* Opens every selected filesystem before anything is flushed or frozen, level by level: a
 * GPtrArray of levels, each a GPtrArray of QaFreezeJob. */
static GPtrArray *
qa_freezer_open_levels(QaFreezer *self, GPtrArray *levels, gboolean is_list, GError **error)
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
			if (job == NULL && is_list) {
				g_propagate_error(error, g_steal_pointer(&error_local));
				return NULL;
			}
			if (job == NULL) {
				g_warning("skipping a filesystem: %s", error_local->message);
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
static void
qa_freezer_flush(GPtrArray *levels)
{
	g_autoptr(GPtrArray) all = g_ptr_array_new();

	for (guint i = 0; i < levels->len; i++)
		g_ptr_array_extend(all, g_ptr_array_index(levels, i), NULL, NULL);
	qa_freezer_run_parallel(all, qa_freezer_flush_job);
}

static void
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
static void
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
	return qa_freezer_thaw_entries(self, entries, NULL);
}

/* FIFREEZE level by level, in parallel within a level. Returns the failed job (or NULL); @done
 * receives the jobs that froze, in order. */
static QaFreezeJob *
qa_freezer_freeze_levels(QaFreezer *self, GPtrArray *levels, gboolean is_list, GPtrArray *done)
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
			else if (is_unsupported && !is_list)
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
	g_clear_pointer(&self->planned, g_ptr_array_unref);
	g_mutex_unlock(&self->lock);
	if (!qa_freezer_end_epoch(self, &error_hook))
		g_warning("%s", error_hook->message);
	return FALSE;
}

/* Runs the freeze hook when this freeze starts an epoch and records what will be frozen. */
static gboolean
qa_freezer_begin(QaFreezer *self, GPtrArray *levels, GError **error)
{
	g_autoptr(GPtrArray) planned =
	    g_ptr_array_new_with_free_func((GDestroyNotify)qa_state_fs_free);
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
		gboolean ret =
		    qa_hook_run(self->hook, "freeze", self->hook_timeout_ms, NULL, error);
		/* whatever the hook did, its "thaw" is owed from now on */
		g_mutex_lock(&self->lock);
		self->is_hook_pending = TRUE;
		g_mutex_unlock(&self->lock);
		if (!ret)
			return FALSE;
	}

	g_mutex_lock(&self->lock);
	self->planned = g_steal_pointer(&planned);
	self->frozen_at = g_get_real_time();
	if (!qa_freezer_save_locked(self, error)) {
		g_mutex_unlock(&self->lock);
		g_prefix_error(error, "Refusing to freeze: ");
		return FALSE;
	}
	if (!self->is_log_held && self->log_hold != NULL)
		self->log_hold();
	self->is_log_held = TRUE;
	g_mutex_unlock(&self->lock);
	return TRUE;
}

/* Expedites RCU grace periods for the FIFREEZE calls when they are not already and the admin
 * lets the agent (fsfreeze-expedite-rcu). The debt is recorded in the state file before the
 * kernel is told, so that an agent killed in between leaves its successor to set them back: at
 * worst to the kernel's default, never stuck expedited. Returns what was done, for the log. */
static const gchar *
qa_freezer_expedite_rcu(QaFreezer *self)
{
	gint was;

	if (!self->expedites_rcu)
		return "off";
	g_mutex_lock(&self->lock);
	self->is_rcu_expedited = TRUE;
	qa_freezer_save_or_warn_locked(self);
	g_mutex_unlock(&self->lock);
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
static void
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

static void
qa_freezer_arm(QaFreezer *self)
{
	if (self->auto_thaw_ms == 0)
		return;
	g_mutex_lock(&self->lock);
	self->deadline = g_get_monotonic_time() + (gint64)self->auto_thaw_ms * 1000;
	g_cond_signal(&self->cond);
	g_mutex_unlock(&self->lock);
}

static gchar *
qa_freezer_format_kib(gint64 kib)
{
	return kib < 0 ? g_strdup("?") : g_strdup_printf("%" G_GINT64_FORMAT, kib);
}

/* the summary of a freeze that went through: where its time went, in one line */
static void
qa_freezer_log_times(const QaFreezeTimes *t, guint count, guint n_levels)
{
	g_autofree gchar *dirty_begun = qa_freezer_format_kib(t->dirty_kib[0]);
	g_autofree gchar *dirty_flushed = qa_freezer_format_kib(t->dirty_kib[1]);
	g_autofree gchar *dirty_frozen = qa_freezer_format_kib(t->dirty_kib[2]);

	g_message("froze count=%u levels=%u prepare_ms=%.1f begin_ms=%.1f flush_ms=%.1f "
		  "fifreeze_ms=%.1f save_ms=%.1f total_ms=%.1f dirty_kib=%s,%s,%s rcu=%s",
		  count,
		  n_levels,
		  (t->opened - t->start) / 1000.0,
		  (t->begun - t->opened) / 1000.0,
		  (t->flushed - t->begun) / 1000.0,
		  (t->frozen - t->flushed) / 1000.0,
		  (t->saved - t->frozen) / 1000.0,
		  (t->saved - t->start) / 1000.0,
		  dirty_begun,
		  dirty_flushed,
		  dirty_frozen,
		  t->rcu);
}

static gboolean
qa_freezer_freeze_opened(QaFreezer *self,
			 GPtrArray *levels,
			 gboolean is_list,
			 QaFreezeTimes *times,
			 guint *out_count,
			 GError **error)
{
	g_autoptr(GPtrArray) done = g_ptr_array_new();
	g_autoptr(GError) error_local = NULL;
	QaFreezeJob *failed;
	gboolean is_saved;

	if (!qa_freezer_begin(self, levels, error))
		return qa_freezer_fail(self, error);
	times->begun = g_get_monotonic_time();
	times->dirty_kib[0] = qa_freezer_read_dirty_kib(self->roots);
	qa_freezer_flush(levels);
	times->flushed = g_get_monotonic_time();
	times->dirty_kib[1] = qa_freezer_read_dirty_kib(self->roots);
	/* armed before the first FIFREEZE: a FIFREEZE that never returns holds writers already */
	qa_freezer_arm(self);
	times->rcu = qa_freezer_expedite_rcu(self);
	failed = qa_freezer_freeze_levels(self, levels, is_list, done);
	qa_freezer_restore_rcu(self);
	times->frozen = g_get_monotonic_time();
	times->dirty_kib[2] = qa_freezer_read_dirty_kib(self->roots);
	if (qa_freezer_is_aborted(self, &error_local) || failed != NULL) {
		guint n_undone = qa_freezer_rollback(self, done);
		if (error_local != NULL)
			g_propagate_error(error, g_steal_pointer(&error_local));
		else
			qa_freezer_set_freeze_error(self, failed, n_undone, error);
		return qa_freezer_fail(self, error);
	}

	g_mutex_lock(&self->lock);
	self->is_op_running = FALSE;
	g_clear_pointer(&self->planned, g_ptr_array_unref);
	is_saved = qa_freezer_save_locked(self, error);
	g_mutex_unlock(&self->lock);
	times->saved = g_get_monotonic_time();
	if (!is_saved) {
		/* a freeze the next agent would not know about must not outlive this call */
		qa_freezer_rollback(self, done);
		g_prefix_error(error, "Thawed again: ");
		return qa_freezer_fail(self, error);
	}
	qa_freezer_log_times(times, done->len, levels->len);
	/* a freeze that froze nothing ends its epoch now: the thaw hook runs */
	if (!qa_freezer_end_epoch(self, error))
		return FALSE;
	*out_count = done->len;
	return TRUE;
}

gboolean
qa_freezer_freeze(QaFreezer *self, GPtrArray *mountpoints, guint *out_count, GError **error)
{
	g_autoptr(GMutexLocker) op G_GNUC_UNUSED = g_mutex_locker_new(&self->op_lock);
	g_autoptr(GPtrArray) filesystems = NULL;
	g_autoptr(GPtrArray) selected = NULL;
	g_autoptr(GPtrArray) levels = NULL;
	g_autoptr(GPtrArray) jobs = NULL;
	gboolean is_list = mountpoints != NULL;
	QaFreezeTimes times = {.start = g_get_monotonic_time()};

	g_return_val_if_fail(self != NULL, FALSE);

	self->n_freezes++;
	/* everything that can refuse the freeze happens before the hook runs or anything freezes */
	filesystems = qa_freezer_load_filesystems(self, error);
	if (filesystems == NULL)
		return FALSE;
	selected = qa_freezer_select(self, filesystems, mountpoints, error);
	if (selected == NULL)
		return FALSE;
	if (!qa_freeze_select_check_statedir(self->statedir, selected, error))
		return FALSE;
	if (self->hook != NULL && !qa_hook_check(self->hook, error))
		return FALSE;
	levels = self->ops.freeze_levels(self->roots, selected, self->ops_data, error);
	if (levels == NULL)
		return FALSE;
	jobs = qa_freezer_open_levels(self, levels, is_list, error);
	if (jobs == NULL)
		return FALSE;
	times.opened = g_get_monotonic_time();
	return qa_freezer_freeze_opened(self, jobs, is_list, &times, out_count, error);
}

/* thawing on request -------------------------------------------------------------------------- */

static QaFrozenFs *
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

/* Takes the entries named by @names out of the frozen set, or none of them. */
static GPtrArray *
qa_freezer_take_named_locked(QaFreezer *self, GPtrArray *names, GError **error)
{
	g_autoptr(GArray) indexes = g_array_new(FALSE, FALSE, sizeof(guint));
	g_autoptr(GPtrArray) taken =
	    g_ptr_array_new_with_free_func((GDestroyNotify)qa_frozen_fs_free);

	for (guint i = 0; i < names->len; i++) {
		const gchar *name = g_ptr_array_index(names, i);
		g_autofree gchar *canonical = NULL;
		guint index = 0;

		if (qa_freezer_lookup_frozen_locked(self, name, &index) == NULL) {
			canonical = realpath(name, NULL);
			if (canonical == NULL ||
			    qa_freezer_lookup_frozen_locked(self, canonical, &index) == NULL) {
				g_set_error(
				    error,
				    QA_SYSTEM_ERROR,
				    QA_SYSTEM_ERROR_INVALID,
				    "'%s' is not frozen by this agent; nothing was thawed. "
				    "guest-fsfreeze-status and guest-get-fsinfo show what is "
				    "frozen.",
				    name);
				return NULL;
			}
		}
		g_array_append_val(indexes, index);
	}
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
	g_set_error(
	    error,
	    QA_SYSTEM_ERROR,
	    QA_SYSTEM_ERROR_FAILED,
	    "The filesystems were thawed automatically at %s because no "
	    "guest-fsfreeze-thaw arrived within %u seconds; a snapshot taken after that time "
	    "is not consistent.",
	    when,
	    self->auto_thaw_ms / 1000);
	self->auto_thawed_at = 0;
	qa_freezer_save_or_warn_locked(self);
	return FALSE;
}

gboolean
qa_freezer_thaw(QaFreezer *self, GPtrArray *mountpoints, guint *out_count, GError **error)
{
	g_autoptr(GMutexLocker) op G_GNUC_UNUSED = g_mutex_locker_new(&self->op_lock);
	g_autoptr(GPtrArray) taken = NULL;
	g_autoptr(GError) error_thaw = NULL;
	g_autoptr(GError) error_hook = NULL;
	gint64 start = g_get_monotonic_time();
	guint count;

	g_return_val_if_fail(self != NULL, FALSE);

	g_mutex_lock(&self->lock);
	if (!qa_freezer_check_auto_thawed_locked(self, error)) {
		g_mutex_unlock(&self->lock);
		return FALSE;
	}
	if (mountpoints != NULL) {
		taken = qa_freezer_take_named_locked(self, mountpoints, error);
	} else {
		taken = g_steal_pointer(&self->frozen);
		self->frozen = g_ptr_array_new_with_free_func((GDestroyNotify)qa_frozen_fs_free);
	}
	g_mutex_unlock(&self->lock);
	if (taken == NULL)
		return FALSE;

	count = qa_freezer_thaw_entries(self, taken, &error_thaw);
	g_message("thawed count=%u ms=%.1f", count, (g_get_monotonic_time() - start) / 1000.0);
	g_mutex_lock(&self->lock);
	qa_freezer_save_or_warn_locked(self);
	g_mutex_unlock(&self->lock);
	if (!qa_freezer_end_epoch(self, &error_hook) && error_thaw == NULL) {
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

/* trimming ------------------------------------------------------------------------------------- */

static QaTrimResult *
qa_freezer_trim_one(QaFreezer *self, QaFilesystem *fs, guint64 minimum)
{
	g_autoptr(QaTrimResult) result = g_new0(QaTrimResult, 1);
	g_auto(QaFd) fd = -1;
	guint64 trimmed = 0;
	gint ret;

	result->mountpoint = g_strdup(g_ptr_array_index(fs->mountpoints, 0));
	/* FITRIM on a frozen filesystem would block until the thaw */
	if (qa_freezer_is_frozen(self, fs->major, fs->minor)) {
		result->error = g_strdup("the filesystem is frozen; thaw it first");
		return g_steal_pointer(&result);
	}
	fd = self->ops.open(result->mountpoint, fs->major, fs->minor, fs->fstype, self->ops_data);
	if (fd < 0) {
		result->error = g_strdup_printf("failed to open: %s", g_strerror(-fd));
		return g_steal_pointer(&result);
	}
	ret = self->ops.trim(fd, result->mountpoint, &minimum, &trimmed, self->ops_data);
	if (ret == -ENOTTY || ret == -EOPNOTSUPP) {
		result->error = g_strdup("trim not supported");
	} else if (ret != 0) {
		result->error = g_strdup_printf("failed to trim: %s", g_strerror(-ret));
	} else {
		result->is_trimmed = TRUE;
		result->trimmed = trimmed;
		result->minimum = minimum;
	}
	return g_steal_pointer(&result);
}

GPtrArray *
qa_freezer_trim(QaFreezer *self, gboolean has_minimum, guint64 minimum, GError **error)
{
	/* no freeze can start while trimming, so a filesystem seen thawed stays thawed */
	g_autoptr(GMutexLocker) op G_GNUC_UNUSED = g_mutex_locker_new(&self->op_lock);
	g_autoptr(GPtrArray) filesystems = qa_freezer_load_filesystems(self, error);
	g_autoptr(GPtrArray) results =
	    g_ptr_array_new_with_free_func((GDestroyNotify)qa_trim_result_free);

	if (filesystems == NULL)
		return NULL;
	for (guint i = 0; i < filesystems->len; i++) {
		QaFilesystem *fs = g_ptr_array_index(filesystems, i);
		if (!fs->is_block_backed)
			continue;
		g_ptr_array_add(results, qa_freezer_trim_one(self, fs, has_minimum ? minimum : 0));
	}
	return g_steal_pointer(&results);
}

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
		if (entry->fd >= 0) {
			g_free(entry->mountpoints[0]);
			entry->mountpoints[0] = g_strdup(mp);
		}
	}
	if (entry->fd < 0) {
		g_warning("filesystem dev=%u:%u recorded frozen at mountpoint=%s is no longer "
			  "mounted, forgetting it",
			  fs->major,
			  fs->minor,
			  fs->mountpoints[0]);
		return NULL;
	}
	return g_steal_pointer(&entry);
}

/* Takes over what an earlier agent left: a complete freeze stays frozen (the host may still
 * snapshot and thaw); a half-done one was never acknowledged, so it is thawed at once. */
static void
qa_freezer_recover(QaFreezer *self, QaState *state)
{
	g_autoptr(GPtrArray) filesystems = NULL;
	g_autoptr(GError) error_local = NULL;

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

	if (!state->is_complete) {
		g_warning(
		    "an earlier agent stopped in the middle of a freeze, thawing what it froze");
		qa_freezer_thaw_everything(self, FALSE);
		return;
	}
	if (self->frozen->len > 0)
		g_message("holding frozen by an earlier agent count=%u", self->frozen->len);
	else if (!qa_freezer_end_epoch(self, &error_local))
		g_warning("%s", error_local->message);
}

QaFreezer *
qa_freezer_new(const QaFreezerOptions *options, GError **error)
{
	g_autoptr(QaFreezer) self = g_new0(QaFreezer, 1);
	g_autoptr(QaState) state = NULL;
	g_autoptr(GError) error_local = NULL;

	g_return_val_if_fail(options != NULL && options->roots != NULL, NULL);
	g_return_val_if_fail(options->statedir != NULL, NULL);

	self->roots = qa_roots_copy(options->roots);
	self->statedir = g_strdup(options->statedir);
	self->hook = g_strdup(options->hook);
	self->hook_timeout_ms = options->hook_timeout_ms;
	self->auto_thaw_ms = options->auto_thaw_ms;
	self->exclude_mountpoints = g_strdupv(options->exclude_mountpoints);
	self->exclude_types = g_strdupv(options->exclude_types);
	self->expedites_rcu = options->expedites_rcu;
	self->ops_data = options->ops_data;
	self->log_hold = options->log_hold;
	self->log_release = options->log_release;
	if (options->ops != NULL)
		self->ops = *options->ops;
	if (self->ops.open == NULL)
		self->ops.open = qa_freezer_open_checked;
	if (self->ops.freeze == NULL)
		self->ops.freeze = qa_freezer_kernel_freeze;
	if (self->ops.thaw == NULL)
		self->ops.thaw = qa_freezer_kernel_thaw;
	if (self->ops.sync == NULL)
		self->ops.sync = qa_freezer_kernel_sync;
	if (self->ops.trim == NULL)
		self->ops.trim = qa_freezer_kernel_trim;
	if (self->ops.checkpoint == NULL)
		self->ops.checkpoint = qa_freezer_kernel_checkpoint;
	if (self->ops.expedite_rcu == NULL)
		self->ops.expedite_rcu = qa_freezer_kernel_expedite_rcu;
	if (self->ops.load_filesystems == NULL)
		self->ops.load_filesystems = qa_freezer_kernel_load_filesystems;
	if (self->ops.freeze_levels == NULL)
		self->ops.freeze_levels = qa_freezer_kernel_freeze_levels;
	g_mutex_init(&self->op_lock);
	g_mutex_init(&self->lock);
	g_cond_init(&self->cond);
	self->frozen = g_ptr_array_new_with_free_func((GDestroyNotify)qa_frozen_fs_free);

	/* a missing state directory is not fatal: freezing refuses until it exists */
	if (g_mkdir_with_parents(self->statedir, 0700) != 0)
		g_warning(
		    "cannot create state directory=%s: %s", self->statedir, g_strerror(errno));
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
	if (self->planned != NULL)
		g_ptr_array_unref(self->planned);
	g_mutex_clear(&self->op_lock);
	g_mutex_clear(&self->lock);
	g_cond_clear(&self->cond);
	qa_roots_free(self->roots);
	g_free(self->statedir);
	g_free(self->hook);
	g_strfreev(self->exclude_mountpoints);
	g_strfreev(self->exclude_types);
	g_free(self);
}
