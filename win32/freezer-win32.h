/* The Windows freezer: which volumes the agent holds frozen, over a small VSS interface.
 *
 * VSS freezes a snapshot set: the writers flush and stop, then the provider holds all I/O to
 * the set's volumes until it is told to go on, for at most the hold limit VSS imposes (writers
 * give up after about 60 s, the flush-and-hold after 10 s). So, unlike on Linux, the frozen set
 * is thawed as a whole, and one set is frozen at a time: a freeze while anything is frozen is an
 * error (never a nested freeze), a thaw of only some frozen volumes is an error, and a thaw
 * after VSS ended the hold on its own says so instead of claiming the volumes were held.
 *
 * Threads: freeze and thaw run on the dispatcher's worker one at a time; status and
 * qa_freezer_is_volume_frozen() run on the main thread at any time; qa_freezer_thaw_for_shutdown()
 * runs on the main thread while a freeze may be in progress on the worker (it aborts it). */
#pragma once

#include <glib.h>

#include "freezer-api.h"

/* VSS freezes volumes and names none by disk: TRUE when @disks is NULL, else the one refusal
 * of a request naming disks, for the wire (commands-win32.c) and the freezer itself */
gboolean
qa_freezer_check_no_disks(const GPtrArray *disks, GError **error);

/* What the freezer needs from VSS and the volume list; vss-win32.c implements it with the real
 * VSS, tests with a fake. */
typedef struct {
	/* mount paths ("C:\\", "C:\\mnt\\data\\") of every volume a freeze of "all" freezes;
	 * GPtrArray of gchar *, owning */
	GPtrArray *(*list_volumes)(gpointer data, GError **error);
	/* the mount path of the volume @path names, normalised as list_volumes() spells it
	 * (drive letters upper case, a trailing backslash); QA_SYSTEM_ERROR_NOT_FOUND when @path
	 * is not a mount path */
	gchar *(*resolve)(gpointer data, const gchar *path, GError **error);
	/* freezes @volumes as one snapshot set and returns once VSS holds them: writers frozen,
	 * I/O held. QA_SYSTEM_ERROR_UNSUPPORTED when VSS is unavailable, QA_SYSTEM_ERROR_FAILED
	 * when a writer fails or VSS times out; nothing stays frozen after an error. */
	gboolean (*freeze)(gpointer data, GPtrArray *volumes, GError **error);
	/* ends the hold. FALSE with QA_SYSTEM_ERROR_FAILED when VSS had already ended it (the
	 * hold limit passed), so the host's snapshot may not be consistent; the volumes are
	 * thawed in either case. */
	gboolean (*thaw)(gpointer data, GError **error);
	/* called from another thread while freeze() runs: make it fail soon and release all */
	void (*abort)(gpointer data);
} QaVssOps;

typedef struct {
	const QaVssOps *ops;
	gpointer ops_data;
	GDestroyNotify ops_data_free; /* NULL: @ops_data is not the freezer's */
	/* around a hold, so that no log line is written to a volume being held */
	void (*log_hold)(void);
	void (*log_release)(void);
} QaFreezerOptions;

QaFreezer *
qa_freezer_new(const QaFreezerOptions *options);
/* does not thaw: call qa_freezer_thaw_for_shutdown() first */
void
qa_freezer_free(QaFreezer *self);

/* qa_freezer_freeze(), _thaw(), _thaw_for_shutdown() and _is_any_frozen() are declared in
 * freezer-api.h. Here, a freeze of NULL freezes every volume; a thaw takes NULL or every volume
 * of the frozen set; the shutdown thaw (service stop or Ctrl-C) aborts a freeze in progress. */

/* guest-get-fsinfo's "frozen" of one mount path */
gboolean
qa_freezer_is_volume_frozen(QaFreezer *self, const gchar *mountpath);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaFreezer, qa_freezer_free)
