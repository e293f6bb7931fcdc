/* The disks guest-fsfreeze-freeze-list and guest-fsfreeze-thaw name, in the freezer's terms.
 * The handlers (fsfreeze.c) are the same on both platforms; this conversion is each platform's:
 * commands/fsfreeze-disks.c gives QaDiskSelector (system/disk-select.h) on Linux, and
 * win32/commands-win32.c refuses any disk, since VSS freezes volumes. */
#pragma once

#include <glib.h>

/* @wire: GPtrArray of QaGuestFsfreezeDisk, or NULL; *@out_disks: a new GPtrArray of the
 * platform's selectors, NULL when @wire is NULL */
gboolean
qa_fsfreeze_disks_from_wire(GPtrArray *wire, GPtrArray **out_disks, GError **error);
