/* What the freezer's files share: the freezer's state, the entries of the frozen set, the jobs of
 * one freeze call, and the functions one file calls in another. Not for use outside
 * agent/system/freezer*.c: freezer.h and freezer-api.h are the freezer's interface.
 *
 * Files: freezer.c (a freeze, top-down, and the freezer's life), freezer-jobs.c (the parallel
 * flush and FIFREEZE calls), freezer-thaw.c, freezer-watchdog.c, freezer-state.c (the frozen set,
 * its record and the state file written by someone else), freezer-report.c (what the calls did),
 * freezer-recover.c (taking over an earlier agent's state; the emergency thaw), freezer-rcu.c,
 * freezer-trim.c, freezer-kernel.c (the default ops). */
#pragma once

#include <glib.h>

#include "freezer.h"
#include "state-file.h"

/* filesystems flushed or frozen at once; more only adds contention on the same disks */
#define QA_FREEZER_MAX_THREADS 8

/* a syncfs() that took longer than this flushed enough that writers may have dirtied more
 * meanwhile, so another pass is worth it; a pass over a clean filesystem costs about 1 ms */
#define QA_FREEZER_RESYNC_US (5 * 1000)

/* Dirty + Writeback of the whole system (/proc/meminfo) up to which no filesystem is flushed
 * before FIFREEZE: what FIFREEZE then writes with writers blocked is at most this much */
#define QA_FREEZER_CLEAN_KIB 1024

/* syncfs passes per filesystem before FIFREEZE, at most */
#define QA_FREEZER_MAX_SYNCS 4
/* how long the shutdown thaw waits for a freeze in progress to end (its FIFREEZE calls to
 * return and be undone, its hook to finish), when the options do not say */
#define QA_FREEZER_SHUTDOWN_WAIT_MS (10 * 1000)

/* the storage a freeze call reads, kept for the next (freezer-storage.c): one owner */
typedef struct _QaFreezerStorage QaFreezerStorage;

QaFreezerStorage *
qa_freezer_storage_new(void);
void
qa_freezer_storage_free(QaFreezerStorage *storage);
/* every filesystem, confined (qa_freeze_select_confine()): the kept array (a new reference, not
 * to be modified) while the mount table and the kernel's uevent number are unchanged, else a new
 * one, kept */
GPtrArray *
qa_freezer_storage_load(QaFreezerStorage *storage,
			const QaRoots *roots,
			gboolean *out_is_kept,
			GError **error);
/* qa_storage_graph_dependencies() of @filesystems, which the last load returned, through the
 * kept device model */
GPtrArray *
qa_freezer_storage_depends_on(QaFreezerStorage *storage,
			      const QaRoots *roots,
			      GPtrArray *filesystems,
			      GPtrArray *selected);
/* how often a load built the filesystems and model anew (for tests) */
guint
qa_freezer_storage_get_builds(const QaFreezerStorage *storage);

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
	/* the freeze call that froze it and when, for the report (kept when taken over from an
	 * earlier agent, unlike serial) */
	guint call;
	gint64 frozen_at;
	/* the filesystems it is stored on, directly or not (loop devices' backing files), as
	 * makedev() numbers: thawing it while one of them stays frozen would hang in FITHAW */
	GArray *stored_on;
} QaFrozenFs;

struct _QaFreezer {
	/* immutable after qa_freezer_new() */
	QaRoots *roots;
	gchar *statedir;
	gchar *hook;
	guint hook_timeout_ms;
	guint auto_thaw_ms;
	guint shutdown_wait_ms;
	GStrv exclude_mountpoints;
	GStrv exclude_types;
	gboolean expedites_rcu;
	QaFreezerOps ops;
	gpointer ops_data;
	/* the kernel's loaders, not a test's: a freeze call loads through @storage and works out
	 * the freeze order from its dependency walk (freezer-storage.c) */
	gboolean is_kernel_storage;
	void (*log_hold)(void);
	void (*log_release)(void);
	GThread *watchdog; /* from the first freeze on (or a recovered one); set under lock */

	/* one freeze, thaw or trim at a time; never taken by the watchdog or the shutdown thaw */
	GMutex op_lock;
	guint n_freezes; /* under op_lock: the serial of the latest freeze call */
	/* under op_lock, so only the thread of the freeze call (the dispatcher's worker) uses it:
	 * the mount table, filesystems and device model, kept between freeze calls */
	QaFreezerStorage *storage;
	/* an --emergency-thaw's freezer: the state file is its input, not another's record */
	gboolean is_offline;
	gint pid; /* recorded in the state file: the agent's, or the one an offline freezer read */

	/* lock guards everything below; it is held only for memory updates and state-file writes
	 * on the tmpfs, never across a hook or an ioctl */
	GMutex lock;
	GCond cond;		/* wakes the watchdog */
	GCond idle_cond;	/* a freeze ended: is_op_running went FALSE */
	GPtrArray *frozen;	/* of QaFrozenFs, in freezing order */
	GPtrArray *planned;	/* of QaStateFs while a freeze runs: recorded before FIFREEZE */
	gboolean is_op_running; /* a freeze is between its first FIFREEZE and its end */
	gboolean is_op_aborted; /* the watchdog or shutdown thawed while it ran */
	gboolean is_hook_pending;
	gboolean is_log_held;
	gboolean is_stopping;
	/* this agent expedited RCU grace periods for FIFREEZE and owes setting them back */
	gboolean is_rcu_expedited;
	gint64 frozen_at;	  /* wall clock µs */
	gint64 deadline;	  /* monotonic µs; 0: watchdog idle */
	gint64 watchdog_wakes_at; /* when the watchdog's wait ends, monotonic µs; 0: never */
	/* QaStateFs: what a thaw took from @frozen and has not settled yet (FITHAW returned and
	 * the thaw is reported). Still frozen for status, fsinfo, trim, the report and the state
	 * file until then: the kernel may still hold them */
	GPtrArray *thawing;
	gint64 auto_thawed_at; /* wall clock µs; 0: nothing to report */
	/* auto_thawed_at is an --emergency-thaw's, not the watchdog's */
	gboolean is_operator_thawed;
	guint n_auto_thaw_retries; /* auto-thaws in a row that left something frozen */
	guint64 n_records;	   /* records of this state taken (qa_freezer_record_locked) */
	guint serial;		   /* n_freezes, readable under lock */
	/* the freeze call running or the last one; the last thaw (freezer-report.c) */
	QaFreezeOutcome *freeze_outcome;
	QaFreezeOutcomeThaw *thaw_outcome;

	/* serialises writes of the state file, which happen with lock released: a write never
	 * holds what the watchdog, status or the shutdown thaw need */
	GMutex write_lock;
	guint64 written_generation; /* under write_lock: the record the file holds */
	/* under write_lock: which file this agent wrote last (qa_freezer_file_id()), so that one
	 * written by someone else (--emergency-thaw) is noticed */
	gchar *written_id;
	/* under write_lock: state writes so far and the time they took, for the phase log */
	guint n_writes;
	gint64 write_us;
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
	GArray *stored_on;  /* see QaFrozenFs; owned */
	gboolean is_frozen; /* FIFREEZE succeeded and the entry was registered */
	/* named by its mountpoint: a filesystem type without freezing is an error, not a skip */
	gboolean is_named;
} QaFreezeJob;

/* how long each phase of one freeze took, for the log: monotonic µs */
typedef struct {
	gint64 start;
	gint64 loaded;	     /* the mount table read and parsed, filesystems found */
	gint64 planned;	     /* selected, their storage and freeze order worked out */
	gint64 opened;	     /* filesystems loaded, selected, ordered and opened */
	gint64 begun;	     /* freeze hook run, plan recorded */
	gint64 flushed;	     /* syncfs passes and checkpoints done */
	gint64 frozen;	     /* every FIFREEZE returned */
	gint64 saved;	     /* the state file records the frozen set */
	gint64 dirty_kib[3]; /* Dirty + Writeback at begun, flushed, frozen; -1: unknown */
	const gchar *rcu;    /* what was done about RCU grace periods, for the log */
	/* parts of the phases above, for the log: state file writes (their number and time),
	 * setting the RCU knob and back, reading the dirty counts */
	guint n_writes;
	gint64 write_us;
	gint64 rcu_us;
	gint64 dirty_us;
	const gchar *storage; /* "kept" or "built" (freezer-storage.c), "loaded" by a test's ops */
} QaFreezeTimes;

gint64
qa_freezer_read_dirty_kib(const QaRoots *roots);
void
qa_frozen_fs_free(QaFrozenFs *entry);
void
qa_freeze_job_free(QaFreezeJob *job);
gchar *
qa_freezer_format_time(gint64 realtime_us);
QaFrozenFs *
qa_freezer_find_frozen_locked(QaFreezer *self, guint major, guint minor, guint *out_index);
QaState *
qa_freezer_record_locked(QaFreezer *self);
GArray *
qa_freezer_begin_thawing_locked(QaFreezer *self, GPtrArray *taken);
void
qa_freezer_end_thawing_locked(QaFreezer *self, GArray *devnums);
gboolean
qa_freezer_write_record(QaFreezer *self, QaState *record, GError **error);
void
qa_freezer_write_record_or_warn(QaFreezer *self, QaState *record);
void
qa_freezer_run_parallel(GPtrArray *jobs, GFunc func);
/* @out_thawed, @out_errors (nullable): the first mountpoint of each entry thawed, and a message
 * for each that was not (or was thawed by someone else) */
guint
qa_freezer_thaw_entries(QaFreezer *self,
			GPtrArray *entries,
			GPtrArray *out_thawed,
			GPtrArray *out_errors,
			GError **error);
/* @is_thaw: a thaw ends the epoch (its thaw hook run goes to the thaw's record), else a freeze
 * call that failed or froze nothing */
gboolean
qa_freezer_end_epoch(QaFreezer *self, gboolean is_thaw, GError **error);
guint
qa_freezer_thaw_everything(QaFreezer *self, QaFreezeOutcomeBy by);
gboolean
qa_freezer_start_watchdog(QaFreezer *self, GError **error);
GPtrArray *
qa_freezer_load_filesystems(QaFreezer *self, GError **error);
void
qa_freezer_flush(GPtrArray *levels);
void
qa_freezer_freeze_job(gpointer data, gpointer user_data);
void
qa_freezer_log_job(QaFreezeJob *job);
/* returns what was done, for the log (freezer-rcu.c) */
const gchar *
qa_freezer_expedite_rcu(QaFreezer *self);
void
qa_freezer_restore_rcu(QaFreezer *self);
void
qa_freezer_arm(QaFreezer *self);
QaFrozenFs *
qa_freezer_lookup_frozen_locked(QaFreezer *self, const gchar *path, guint *out_index);
void
qa_freezer_recover(QaFreezer *self, QaState *state);
/* a freezer that neither reads the state file nor starts a watchdog (freezer.c) */
QaFreezer *
qa_freezer_new_offline(const QaFreezerOptions *options);
/* Dirty + Writeback of the whole system in KiB, or -1 (freezer-kernel.c) */
gint64
qa_freezer_read_dirty_kib(const QaRoots *roots);
void
qa_freezer_kernel_fill_ops(QaFreezerOps *ops);
/* the kernel's ops.open (freezer-kernel.c) */
gint
qa_freezer_open_checked(
    const gchar *mountpoint, guint major, guint minor, const gchar *fstype, gpointer user_data);
/* a mountpoint name as the mount table spells it, without touching the filesystem */
gchar *
qa_freezer_normalize_name(const gchar *name);
/* an agent's state taken over (freezer-recover.c); also the --emergency-thaw's input */
void
qa_freezer_adopt_locked(QaFreezer *self, QaState *state, GPtrArray *filesystems);
/* notices a state file written by someone else since this freezer last wrote it (an
 * --emergency-thaw) and forgets what it says was thawed; @is_waiting: FALSE to give up at once
 * when a write is under way (callers on the main thread) (freezer-state.c) */
void
qa_freezer_sync_with_file(QaFreezer *self, gboolean is_waiting);
/* which state file is in @statedir now: NULL when none */
gchar *
qa_freezer_file_id(const gchar *statedir);

/* the record of the calls (freezer-report.c); everything takes self->lock itself */
void
qa_freezer_report_begin(QaFreezer *self, const QaFreezeRequest *request);
void
qa_freezer_report_left_alone(QaFreezer *self,
			     QaFilesystem *fs,
			     QaFreezeOutcomeResult result,
			     const gchar *detail);
void
qa_freezer_report_disks(QaFreezer *self,
			GPtrArray *filesystems,
			const QaDiskSelectStorage *storage,
			GPtrArray *matches,
			GPtrArray *selectors,
			GPtrArray *selected);
void
qa_freezer_report_planned(QaFreezer *self, GPtrArray *levels);
void
qa_freezer_report_jobs(QaFreezer *self, GPtrArray *levels);
void
qa_freezer_report_rolled_back(QaFreezer *self, GPtrArray *done);
/* takes @run */
void
qa_freezer_report_hook(QaFreezer *self, gboolean is_thaw, QaHookRun *run);
void
qa_freezer_report_end_locked(QaFreezer *self,
			     const QaFreezeTimes *times,
			     guint count,
			     const gchar *error);
void
qa_freezer_report_failed(QaFreezer *self, const QaFreezeTimes *times, const gchar *error);
/* takes @thawed and @errors (GPtrArray of gchar *) */
void
qa_freezer_report_thaw(
    QaFreezer *self, QaFreezeOutcomeBy by, gint64 start, GPtrArray *thawed, GPtrArray *errors);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaFrozenFs, qa_frozen_fs_free)
