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

/* How one run of the hook went, for the freeze report and the state file. */
typedef struct {
	gchar *action;	    /* "freeze" or "thaw" */
	gint64 started_at;  /* wall clock µs */
	gint64 duration_us; /* until it ended or was killed */
	gint exit_status;   /* -1 when it did not exit (killed, timed out, not started) */
	gint signal;	    /* the signal that killed it; 0: none */
	gboolean is_timed_out;
	gchar *last_line; /* the last line it printed; NULL: none */
	gchar *error;	  /* why it failed; NULL when it succeeded */
} QaHookRun;

QaHookRun *
qa_hook_run_new(const gchar *action);
QaHookRun *
qa_hook_run_copy(const QaHookRun *run);
void
qa_hook_run_free(QaHookRun *run);

/* Runs "@path @action" and waits at most @timeout_ms (0: no limit) before killing its process
 * group. Fails when the hook cannot be started, exits non-zero, dies of a signal or times out;
 * the message then ends with the last line the hook printed. @out_output (optional) receives the
 * captured output, bounded to the last 64 KiB; @out_run (optional) how the run went, whatever
 * the result. */
gboolean
qa_hook_run(const gchar *path,
	    const gchar *action,
	    guint timeout_ms,
	    gchar **out_output,
	    QaHookRun **out_run,
	    GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaHookRun, qa_hook_run_free)
