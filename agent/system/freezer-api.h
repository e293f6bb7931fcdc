/* The freezer as the rest of the agent sees it, on both platforms: the guest-fsfreeze-* handlers
 * (commands/fsfreeze.c) and the shutdown thaw of main.c and main-win32.c call only these. Each
 * build links exactly one implementation: freezer.c (FIFREEZE per filesystem) on Linux,
 * win32/freezer-win32.c (one VSS snapshot set) on Windows; creating one takes options of its
 * platform, so qa_freezer_new() is declared in freezer.h and freezer-win32.h.
 *
 * The same function names in both rather than a struct of function pointers: which freezer
 * runs is decided when the agent is built, never while it runs, so a table of pointers would
 * only be one more thing to keep in step. Both platform headers include this one, so the
 * compiler checks each implementation against these declarations.
 *
 * Threads: freeze and thaw run one at a time on the dispatcher's worker; is_any_frozen from any
 * thread; thaw_for_shutdown from the main thread, also while a freeze runs on the worker. */
#pragma once

#include <glib.h>

typedef struct _QaFreezer QaFreezer;

/* What a freeze or thaw names: mountpoints, disks or both (their union); neither is everything
 * this platform freezes (thaws). */
typedef struct {
	const gchar *command;	/* the command asking, for the freeze report */
	GPtrArray *mountpoints; /* of gchar *; NULL: none named */
	/* the platform's disk selectors (Linux: QaDiskSelector, see disk-select.h; Windows
	 * refuses any); NULL: none named */
	GPtrArray *disks;
} QaFreezeRequest;

gboolean
qa_freezer_freeze_request(QaFreezer *self,
			  const QaFreezeRequest *request,
			  guint *out_count,
			  GError **error);
gboolean
qa_freezer_thaw_request(QaFreezer *self,
			const QaFreezeRequest *request,
			guint *out_count,
			GError **error);
/* the same with @mountpoints only: GPtrArray of gchar *, NULL for everything; @out_count: how
 * many were frozen (thawed), the number the commands return */
gboolean
qa_freezer_freeze(QaFreezer *self, GPtrArray *mountpoints, guint *out_count, GError **error);
gboolean
qa_freezer_thaw(QaFreezer *self, GPtrArray *mountpoints, guint *out_count, GError **error);
/* the agent is stopping: thaws everything held frozen without waiting for a freeze in
 * progress; returns the number thawed */
guint
qa_freezer_thaw_for_shutdown(QaFreezer *self);
/* TRUE while the agent holds anything frozen: guest-fsfreeze-status */
gboolean
qa_freezer_is_any_frozen(QaFreezer *self);
