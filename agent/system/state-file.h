/* The freezer's persisted state: which filesystems the agent holds frozen, so that an agent that
 * is restarted (crash, SIGKILL, upgrade) still reports "frozen" and can thaw them. It lives in the
 * state directory, a tmpfs, because it is written while filesystems are frozen. */
#pragma once

#include <glib.h>

#include "freeze-outcome.h"

#define QA_STATE_FILE_NAME "fsfreeze.state"

typedef struct {
	guint major; /* the superblock's device number */
	guint minor;
	gchar *fstype;
	GStrv mountpoints; /* every mountpoint at freeze time; [0] is the one that was frozen;
			    * empty when a damaged file lost them */
	guint serial;	   /* the freeze call that froze it (0: unknown) */
	gint64 frozen_at;  /* wall clock µs of that call; 0: unknown */
} QaStateFs;

typedef struct {
	/* FALSE while a freeze is under way: a state found incomplete at start-up was left by an
	 * agent that died in the middle of freezing, before it could reply */
	gboolean is_complete;
	gboolean is_hook_pending; /* the freeze hook ran and its "thaw" is still owed */
	gint64 frozen_at;	  /* wall clock, µs since the epoch, of the latest freeze */
	gint64 deadline;	  /* CLOCK_MONOTONIC µs at which the watchdog thaws; 0: none */
	gint64 auto_thawed_at;	  /* wall clock µs of the watchdog's thaw not yet reported; 0 */
	/* the agent set the kernel's RCU grace periods to expedited for FIFREEZE and has not set
	 * them back yet */
	gboolean is_rcu_expedited;
	GPtrArray *filesystems; /* of QaStateFs, in the order they were frozen */
	/* what could not be read of the file, NULL when it was read whole: then anything may be
	 * frozen, beyond the filesystems that could be identified */
	gchar *damage;
	/* not written: which of the freezer's records of its state this is, so that a record
	 * taken earlier never replaces a later one in the file */
	guint64 generation;
	/* the serial of the latest freeze call, so that a successor goes on counting */
	guint serial;
	/* the process of the agent that holds this state (0: unknown), for --status to say
	 * whether it still runs */
	gint pid;
	/* what the last freeze call and the last thaw did (NULL: nothing recorded): for
	 * --status and a successor's report. Never damage: what cannot be read of them is
	 * left out, since they decide nothing about what is frozen. */
	QaFreezeOutcome *last_freeze;
	QaFreezeOutcomeThaw *last_thaw;
} QaState;

QaStateFs *
qa_state_fs_new(guint major, guint minor, const gchar *fstype, const gchar *const *mountpoints);
QaStateFs *
qa_state_fs_copy(const QaStateFs *fs);
void
qa_state_fs_free(QaStateFs *fs);
QaState *
qa_state_new(void);
QaState *
qa_state_copy(const QaState *state);
void
qa_state_free(QaState *state);
/* TRUE when there is nothing worth persisting: nothing frozen, nothing owed, and no outcome
 * of a freeze or thaw to tell */
gboolean
qa_state_is_empty(const QaState *state);

/* pure: state <-> the file's text (see state-file.c); parsing never fails, it says what it could
 * not read in ->damage and keeps what it could */
gchar *
qa_state_file_to_data(const QaState *state);
QaState *
qa_state_file_parse(const gchar *data, gsize len);

/* an absent file is an empty state; NULL only when the file exists and cannot be read at all */
QaState *
qa_state_file_load(const gchar *statedir, GError **error);
/* replaces the file atomically (temporary file + rename); an empty state removes it */
gboolean
qa_state_file_save(const gchar *statedir, const QaState *state, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaStateFs, qa_state_fs_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaState, qa_state_free)
