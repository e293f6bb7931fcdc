/* The Linux freezer: the only code that calls FIFREEZE, FITHAW, syncfs, FITRIM and ext4's journal
 * checkpoint, and the owner of the per-filesystem frozen state. freezer-api.h declares what the
 * commands call (freeze, thaw, status, the shutdown thaw); this header adds what only Linux has.
 *
 * Threads: freeze, thaw and trim run on the caller's thread (the dispatcher's worker) one at a time
 * (op_lock), with the flush, FIFREEZE and FITHAW calls of one dependency level on a thread pool
 * that the call owns and joins; status and is_frozen may be called from any thread at any time;
 * the auto-thaw watchdog is a thread of the freezer's own that needs nothing but the frozen set,
 * so it fires even when the main loop, a hook or a FIFREEZE is stuck. The shutdown thaw is safe
 * from the main thread while a freeze is running on the worker.
 *
 * Hooks pair with "frozen epochs": the freeze hook runs when the agent goes from holding nothing
 * frozen to its first freeze, and the thaw hook exactly once when it holds nothing again (thaw,
 * auto-thaw, shutdown, a failed freeze, or a freeze that froze nothing). So the hook never runs
 * while the agent holds a filesystem frozen. */
#pragma once

#include <glib.h>

#include "disk-select.h"
#include "freezer-api.h"
#include "mounts.h"
#include "roots.h"
#include "state-file.h"

/* The system calls, behind pointers so that tests inject faults. Each returns 0 or a negative
 * errno; @mountpoint only names @fd. NULL members use the kernel (or mounts.c and
 * storage-graph.c for the two loaders). */
typedef struct {
	/* returns an fd of @mountpoint, checked to be the filesystem @major:@minor, or -ESTALE */
	gint (*open)(const gchar *mountpoint,
		     guint major,
		     guint minor,
		     const gchar *fstype,
		     gpointer user_data);
	gint (*freeze)(gint fd, const gchar *mountpoint, gpointer user_data);
	gint (*thaw)(gint fd, const gchar *mountpoint, gpointer user_data);
	gint (*sync)(gint fd, const gchar *mountpoint, gpointer user_data);
	gint (*trim)(gint fd,
		     const gchar *mountpoint,
		     guint64 *inout_minimum,
		     guint64 *out_trimmed,
		     gpointer user_data);
	/* every filesystem: GPtrArray of QaFilesystem, owning */
	GPtrArray *(*load_filesystems)(const QaRoots *roots, gpointer user_data, GError **error);
	/* see qa_storage_graph_freeze_levels() */
	GPtrArray *(*freeze_levels)(const QaRoots *roots,
				    GPtrArray *filesystems,
				    gpointer user_data,
				    GError **error);
	/* writes the journal back to the filesystem (EXT4_IOC_CHECKPOINT); -EOPNOTSUPP or -ENOTTY
	 * where there is no such thing, which the freeze ignores like any other failure */
	gint (*checkpoint)(gint fd,
			   const gchar *mountpoint,
			   const gchar *fstype,
			   gpointer user_data);
	/* sets the kernel's RCU grace periods to expedited (TRUE) or normal; returns whether they
	 * were expedited before (0 or 1) or a negative errno */
	gint (*expedite_rcu)(const QaRoots *roots, gboolean is_expedited, gpointer user_data);
	/* what each filesystem of @filesystems is stored on, as qa_storage_graph_dependencies():
	 * at least for @selected and what they are stored on */
	GPtrArray *(*depends_on)(const QaRoots *roots,
				 GPtrArray *filesystems,
				 GPtrArray *selected,
				 gpointer user_data,
				 GError **error);
	/* what @filesystems are stored on and every disk of the guest, resolving the dev of each
	 * of @selectors (qa_disk_select_load()): for freezing and thawing by disk */
	QaDiskSelectStorage *(*load_storage)(const QaRoots *roots,
					     GPtrArray *filesystems,
					     GPtrArray *selectors,
					     gpointer user_data,
					     GError **error);
	/* writes the state file (qa_state_file_save()); never called with the freezer's lock held
	 */
	gboolean (*save_state)(const gchar *statedir,
			       const QaState *state,
			       gpointer user_data,
			       GError **error);
} QaFreezerOps;

typedef struct {
	const QaRoots *roots;	     /* copied; roots->confine limits what "all" means */
	const gchar *statedir;	     /* where the state file lives; must not be frozen (a tmpfs) */
	const gchar *hook;	     /* NULL: no hook */
	guint hook_timeout_ms;	     /* 0: wait forever */
	guint auto_thaw_ms;	     /* 0: no watchdog (QGA's behaviour) */
	guint shutdown_wait_ms;	     /* 0: QA_FREEZER_SHUTDOWN_WAIT_MS (see freezer-thaw.c) */
	gchar **exclude_mountpoints; /* NULL or glob patterns; copied */
	gchar **exclude_types;	     /* likewise, of filesystem types */
	/* expedite RCU grace periods for the FIFREEZE calls (fsfreeze-expedite-rcu); FALSE: the
	 * knob is neither read nor written, except to settle what an earlier agent left owed */
	gboolean expedites_rcu;
	const QaFreezerOps *ops; /* NULL: the kernel */
	gpointer ops_data;
	/* called before the first FIFREEZE and after the last thaw, so that nothing is written to a
	 * log file that may sit on a frozen filesystem; NULL: nothing */
	void (*log_hold)(void);
	void (*log_release)(void);
} QaFreezerOptions;

typedef struct {
	gchar *mountpoint;
	gboolean is_trimmed;
	guint64 trimmed; /* bytes, when is_trimmed */
	guint64 minimum; /* the minimum extent length the kernel used, when is_trimmed */
	gchar *error;	 /* why not, when !is_trimmed */
} QaTrimResult;

/* Loads the state file, so that a restarted agent knows what it holds frozen (and thaws at once
 * what a predecessor left half frozen), and starts the watchdog thread. */
QaFreezer *
qa_freezer_new(const QaFreezerOptions *options, GError **error);
/* Stops the watchdog. Thaws nothing: what is frozen stays recorded for the next agent. */
void
qa_freezer_free(QaFreezer *self);

/* qa_freezer_freeze(), qa_freezer_thaw() and qa_freezer_is_any_frozen() are in freezer-api.h.
 * qa_freezer_thaw_for_shutdown() (there too) also runs the thaw hook if owed and sets RCU grace
 * periods back if a stuck freeze expedited them. */

gboolean
qa_freezer_is_frozen(QaFreezer *self, guint major, guint minor);

/* What the freezer holds and did, as its state file would record it now (but for what a freeze
 * in progress has yet to freeze): the frozen set with
 * each filesystem's freeze call and time, the deadline, the last freeze call (the one running,
 * if any: its ended_at is 0) and the last thaw. For guest-fsfreeze-get-report: it takes the
 * freezer's lock only, which nothing holds for long, and reads the state file only to notice
 * an emergency thaw (a tmpfs: never blocks). */
QaState *
qa_freezer_get_state(QaFreezer *self);
/* why freezing everything leaves @fs alone: the configuration pattern that excludes it, or that
 * it has no block device; NULL when it would be frozen */
gchar *
qa_freezer_explain(QaFreezer *self, QaFilesystem *fs);

/* quiesce-agent --emergency-thaw, in a process of its own beside the agent (hung, dead or
 * well): thaws exactly what the state file in @options->statedir says is frozen, last frozen
 * first, runs the thaw hook when a freeze hook ran, and records the thaw (by "operator") in the
 * state file, where a running agent finds it before it next answers. @out_count: how many were
 * thawed. Fails when something stays frozen. */
gboolean
qa_freezer_emergency_thaw(const QaFreezerOptions *options, guint *out_count, GError **error);

/* FITRIM on every block filesystem; GPtrArray of QaTrimResult. Filesystems held frozen get an
 * error entry instead of a call that could block. */
GPtrArray *
qa_freezer_trim(QaFreezer *self, gboolean has_minimum, guint64 minimum, GError **error);
void
qa_trim_result_free(QaTrimResult *result);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaFreezer, qa_freezer_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaTrimResult, qa_trim_result_free)
