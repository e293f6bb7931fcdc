/* The few calls of shared files that differ between Linux and Windows. Implemented in
 * agent/platform-unix.c and win32/platform-win32.c; meson builds one of them. */
#pragma once

#include <glib.h>

/* opens @path for appending log lines, creating it; the descriptor is not inherited by
 * children (hooks). Returns the descriptor, or -1 with @error set. */
gint
qa_platform_open_log(const gchar *path, GError **error);
