/* The question every command that writes to the guest's files asks first: is the filesystem
 * this path lives on held frozen by the agent? A write there would block the agent's thread
 * until the thaw, so such commands refuse instead, naming the filesystem. Reading a frozen
 * filesystem is fine and needs no check. Callable from any thread; it reads the mount table and
 * calls statx(), so not from the main loop with a path a host chose. */
#pragma once

#include <glib.h>

#include "freezer-api.h"
#include "roots.h"

/* FALSE with QA_SYSTEM_ERROR_BUSY when the filesystem holding @path (the nearest existing
 * ancestor of it, when @path does not exist yet) is held frozen by @freezer; TRUE otherwise,
 * also when the question cannot be answered (the write then gets its own error, if any). */
gboolean
qa_frozen_guard_check_path(QaFreezer *freezer,
			   const QaRoots *roots,
			   const gchar *path,
			   const gchar *purpose,
			   GError **error);
