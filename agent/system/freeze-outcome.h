/* What the last freeze call and the last thaw did: recorded by the freezer as they run
 * (freezer-report.c), kept in the state file so that `quiesce-agent --status` and a successor
 * agent can tell, and reported to the host by guest-fsfreeze-get-report. Plain data: no lock,
 * no system access. Times are wall clock µs since the epoch; durations µs. */
#pragma once

#include <glib.h>

#include "blockdev.h"
#include "hooks.h"

typedef enum {
	QA_FREEZE_OUTCOME_PLANNED,     /* selected; the call has not got to it (yet) */
	QA_FREEZE_OUTCOME_FROZEN,      /* frozen by this call */
	QA_FREEZE_OUTCOME_SKIPPED,     /* left alone, detail says why (not supported, ...) */
	QA_FREEZE_OUTCOME_EXCLUDED,    /* by the configuration pattern in detail */
	QA_FREEZE_OUTCOME_FAILED,      /* FIFREEZE failed; detail holds the error */
	QA_FREEZE_OUTCOME_ROLLED_BACK, /* frozen, then thawed again because the call failed */
} QaFreezeOutcomeResult;

/* what the freeze call did to one filesystem */
typedef struct {
	guint major; /* the superblock's device number */
	guint minor;
	gchar *fstype;
	GStrv mountpoints;
	QaFreezeOutcomeResult result;
	gchar *detail;		/* why, for anything but planned and frozen; NULL */
	GPtrArray *other_disks; /* QaDiskAddress: disks it is on that the call did not name */
	gint64 flush_us;	/* its syncfs passes and journal checkpoint; -1: not flushed */
	gint64 freeze_us;	/* its FIFREEZE; -1: not issued */
} QaFreezeOutcomeFs;

/* one disk the call named, and what it caught */
typedef struct {
	gchar *selector;   /* as given, qa_disk_selector_to_string() */
	GPtrArray *disks;  /* QaDiskAddress: the disks it named */
	GStrv mountpoints; /* the first mountpoint of every filesystem caught; empty: none */
} QaFreezeOutcomeDisk;

typedef struct {
	guint serial;	   /* the freeze call's number (see the freezer); also in the state file */
	gchar *command;	   /* "guest-fsfreeze-freeze" or "guest-fsfreeze-freeze-list" */
	GStrv mountpoints; /* the mountpoints it named; NULL: none */
	GPtrArray *disks;  /* QaFreezeOutcomeDisk; NULL: it named no disk */
	gint64 started_at;
	gint64 ended_at; /* 0 while it runs */
	gboolean is_success;
	guint count; /* filesystems it froze (its reply) */
	gchar *error;
	gint64 prepare_us;	/* loading, choosing, ordering, opening */
	gint64 flush_us;	/* the flush phase, every filesystem at once */
	gint64 freeze_us;	/* the FIFREEZE phase */
	gint64 dirty_kib;	/* Dirty + Writeback before the flush; -1: unknown */
	GPtrArray *filesystems; /* QaFreezeOutcomeFs, in freezing order */
	GPtrArray *hooks;	/* QaHookRun: the freeze hook, and a thaw hook the call ran */
} QaFreezeOutcome;

typedef enum {
	QA_FREEZE_OUTCOME_BY_HOST,	/* guest-fsfreeze-thaw */
	QA_FREEZE_OUTCOME_BY_AUTO_THAW, /* the watchdog: no thaw within fsfreeze-timeout */
	QA_FREEZE_OUTCOME_BY_SHUTDOWN,	/* the agent stopping */
	QA_FREEZE_OUTCOME_BY_SUCCESSOR, /* an agent thawing what an earlier one left half done */
	QA_FREEZE_OUTCOME_BY_OPERATOR,	/* quiesce-agent --emergency-thaw */
} QaFreezeOutcomeBy;

typedef struct {
	QaFreezeOutcomeBy by;
	gint64 at; /* when it ended */
	gint64 duration_us;
	guint count;	   /* filesystems it thawed */
	guint n_left;	   /* still frozen after it */
	GStrv mountpoints; /* the first mountpoint of each filesystem it thawed */
	GStrv errors;	   /* what failed, one message each; empty: nothing */
	QaHookRun *hook;   /* the thaw hook's run; NULL: none */
} QaFreezeOutcomeThaw;

QaFreezeOutcome *
qa_freeze_outcome_new(guint serial, const gchar *command);
QaFreezeOutcome *
qa_freeze_outcome_copy(const QaFreezeOutcome *outcome);
void
qa_freeze_outcome_free(QaFreezeOutcome *outcome);
/* the entry of @major:@minor, NULL when none */
QaFreezeOutcomeFs *
qa_freeze_outcome_find_fs(QaFreezeOutcome *outcome, guint major, guint minor);

QaFreezeOutcomeFs *
qa_freeze_outcome_fs_new(guint major,
			 guint minor,
			 const gchar *fstype,
			 const gchar *const *mountpoints);
QaFreezeOutcomeFs *
qa_freeze_outcome_fs_copy(const QaFreezeOutcomeFs *fs);
void
qa_freeze_outcome_fs_free(QaFreezeOutcomeFs *fs);

QaFreezeOutcomeDisk *
qa_freeze_outcome_disk_copy(const QaFreezeOutcomeDisk *disk);
void
qa_freeze_outcome_disk_free(QaFreezeOutcomeDisk *disk);

QaFreezeOutcomeThaw *
qa_freeze_outcome_thaw_new(QaFreezeOutcomeBy by);
QaFreezeOutcomeThaw *
qa_freeze_outcome_thaw_copy(const QaFreezeOutcomeThaw *thaw);
void
qa_freeze_outcome_thaw_free(QaFreezeOutcomeThaw *thaw);

/* the names the report and the state file use: "frozen", "rolled-back", "auto-thaw", ...;
 * the parsers return FALSE for a name they do not know */
const gchar *
qa_freeze_outcome_result_to_string(QaFreezeOutcomeResult result);
gboolean
qa_freeze_outcome_result_parse(const gchar *text, QaFreezeOutcomeResult *out_result);
const gchar *
qa_freeze_outcome_by_to_string(QaFreezeOutcomeBy by);
gboolean
qa_freeze_outcome_by_parse(const gchar *text, QaFreezeOutcomeBy *out_by);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaFreezeOutcome, qa_freeze_outcome_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaFreezeOutcomeFs, qa_freeze_outcome_fs_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaFreezeOutcomeDisk, qa_freeze_outcome_disk_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaFreezeOutcomeThaw, qa_freeze_outcome_thaw_free)
