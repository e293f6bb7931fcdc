/* The fsfreeze hook runner. The hook is an admin-supplied executable run with "freeze" before
 * filesystems are frozen and "thaw" after they are thawed (QGA's -F contract). It runs with stdin
 * from /dev/null, its stdout and stderr captured and logged line by line, in a process group of its
 * own so that a timeout kills whatever it started too. */
#pragma once

#include <glib.h>

/* Refuses a hook that is missing, not a regular executable file, or that someone other than root
 * (or the agent's own user) could rewrite: it runs as root with the guest's data at stake. */
gboolean
qa_hook_check(const gchar *path, GError **error);

/* Runs "@path @action" and waits at most @timeout_ms (0: no limit) before killing its process
 * group. Fails when the hook cannot be started, exits non-zero, dies of a signal or times out;
 * the message then ends with the last line the hook printed. @out_output (optional) receives the
 * captured output, bounded to the last 64 KiB. */
gboolean
qa_hook_run(
    const gchar *path, const gchar *action, guint timeout_ms, gchar **out_output, GError **error);
