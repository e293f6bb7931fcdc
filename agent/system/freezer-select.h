/* Choosing what a freeze freezes: private to the freezer (freezer.c), pure apart from realpath()
 * and stat() on names the caller gave, so that it is tested without freezing anything.
 *
 * Nothing here touches the frozen set: the caller passes @check, which refuses a filesystem it
 * already holds, so that a list is refused at its first bad name whatever the reason. */
#pragma once

#include <glib.h>

#include "disk-select.h"
#include "mounts.h"
#include "roots.h"

typedef struct {
	const QaRoots *roots;
	const gchar *const *exclude_mountpoints; /* NULL or glob patterns */
	const gchar *const *exclude_types;	 /* likewise, of filesystem types */
	/* refuses @fs, named @name in the request or the table, with @error; NULL: no check */
	gboolean (*check)(QaFilesystem *fs, const gchar *name, gpointer data, GError **error);
	gpointer check_data;
	/* told of each filesystem a freeze of everything or by disk leaves alone, and why (the
	 * pattern that excludes it, or that it has no block device); NULL: nobody */
	void (*note)(QaFilesystem *fs, gboolean is_excluded, const gchar *why, gpointer data);
} QaFreezeSelect;

/* Drops the mountpoints outside the confinement from @filesystems (GPtrArray of QaFilesystem),
 * and the filesystems left with none: "all" never means more, even when a loader returns more. */
void
qa_freeze_select_confine(const QaRoots *roots, GPtrArray *filesystems);

/* The filesystems to freeze, borrowed from @filesystems, each once. @names: GPtrArray of gchar *
 * mountpoints, every one of which must be freezable; NULL: every filesystem that is not excluded
 * and has a block device. */
GPtrArray *
qa_freeze_select(const QaFreezeSelect *select,
		 GPtrArray *filesystems,
		 GPtrArray *names,
		 GError **error);

/* The filesystems the disk selectors of @matches (QaDiskSelectMatch, disk-select.h) caught,
 * borrowed from @filesystems (their indexes are the matches'), each once. Those excluded by a
 * pattern are left alone, as a freeze of everything leaves them; one that is held frozen
 * already is refused by @select->check. */
GPtrArray *
qa_freeze_select_disks(const QaFreezeSelect *select,
		       GPtrArray *filesystems,
		       GPtrArray *matches,
		       GError **error);
/* why a freeze of everything leaves @fs alone (see QaFreezeSelect.note); NULL: it does not */
gchar *
qa_freeze_select_explain(const QaFreezeSelect *select, QaFilesystem *fs);

/* The state file must stay writable whatever is frozen: a directory of the agent's own on a
 * memory filesystem. */
gboolean
qa_freeze_select_check_statedir(const gchar *statedir, GError **error);
