/* A fake kernel and mount table for the freezer's unit tests: filesystems are directories in a
 * temporary directory, FIFREEZE/FITHAW only update a set, and faults are injected by name. */
#pragma once

#include <glib.h>

#include "freezer.h"

typedef struct {
	const gchar *name;  /* directory below the test directory: the mountpoint */
	const gchar *alias; /* a second mountpoint of the same filesystem (bind mount), or NULL */
	const gchar *fstype;
	guint level; /* freeze level the fake storage graph puts it in */
	gboolean is_block_backed;
	const gchar *stored_on; /* the name of the filesystem its loop device's file is on */
	/* the serials of the disks it lives on, comma-separated; NULL: none. Disk N of every
	 * serial the table names (and one more, "SPARE", with no filesystem) is 260:N at
	 * /dev/fake<serial>, PCI 0000:00:<N+1>.0 */
	const gchar *disks;
} FakeFs;

typedef struct {
	gchar *dir;
	gchar *statedir;
	QaRoots *roots;
	const FakeFs *table;
	guint n_table;
	QaFreezerOps ops;
	QaFreezerOptions options;

	GMutex lock; /* the fields below; the freezer calls ops from many threads */
	GPtrArray
	    *calls; /* "freeze a", "thaw a", "sync a", "checkpoint a", "trim a", "expedite on" */
	GHashTable *kernel_frozen; /* names the fake kernel holds frozen */
	GHashTable *faults; /* "freeze a", "expedite on" -> GINT_TO_POINTER(negative errno) */
	gchar *stuck;	    /* FIFREEZE of this name ("thaw NAME": FITHAW) blocks until released */
	gboolean is_rcu_expedited; /* what ops.expedite_rcu set last */
	gulong sync_us;		   /* how long each syncfs takes: long enough, and it is repeated */
	gboolean is_stuck_released;
	GCond cond;
	GPtrArray *answers; /* strings handed out by fake_calls(), freed with the fake */
} Fake;

Fake *
fake_new(const FakeFs *table, guint n_table);
/* what the fake /proc/meminfo says is Dirty; -1: no meminfo */
void
fake_set_dirty_kib(Fake *fake, gint64 kib);
void
fake_free(Fake *fake);
gchar *
fake_path(Fake *fake, const gchar *name);
/* a GPtrArray of full paths for names, NULL-terminated varargs */
GPtrArray *
fake_paths(Fake *fake, ...) G_GNUC_NULL_TERMINATED;
/* the calls of @op ("freeze", "thaw", ...) in order, names joined by spaces; owned by @fake */
const gchar *
fake_calls(Fake *fake, const gchar *op);
void
fake_clear_calls(Fake *fake);
void
fake_set_fault(Fake *fake, const gchar *op, const gchar *name, gint neg_errno);
void
fake_kernel_freeze(Fake *fake, const gchar *name);
gboolean
fake_kernel_is_frozen(Fake *fake, const gchar *name);
guint
fake_kernel_n_frozen(Fake *fake);
void
fake_release_stuck(Fake *fake);
