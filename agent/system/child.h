/* Programs the agent runs and waits for: the freeze hook, the power tools, hwclock, chpasswd.
 *
 * Every one runs in a session of its own, so that a timeout kills whatever it started too; with
 * an empty signal mask (the agent blocks the signals it reads from signalfds, and a blocked mask
 * survives exec: a program must stay killable and see the signals an init sends); in "/"; with
 * no descriptor of the agent's; its stdin from /dev/null or fed from memory (a password never
 * reaches a command line or an environment). Its output is captured up to a bound, the last
 * bytes kept. The wait does not trust the output pipe: a program may leave a daemon holding it
 * open after it exits. Blocking: for the freezer's and the system thread only. */
#pragma once

#include <glib.h>

/* where the administrator's tools are looked up, in a shell's order (merged-/usr systems list
 * each twice through the /sbin and /bin links, which is harmless) */
#define QA_CHILD_ADMIN_PATH "/usr/sbin:/usr/bin:/sbin:/bin"
/* how long such a tool may take before it is killed: poweroff, systemctl, hwclock and chpasswd
 * return at once (systemd queues a job) */
#define QA_CHILD_TOOL_TIMEOUT_MS 30000

typedef struct {
	const gchar *const *argv; /* argv[0] is the program's path */
	const guint8 *input;	  /* fed to stdin, then closed; NULL: stdin is /dev/null */
	gsize input_len;
	gboolean is_stdout_captured; /* stdout joins stderr in the output; else /dev/null */
	guint timeout_ms;	     /* 0: wait for as long as it runs */
	gsize output_max;	     /* bytes of output kept, the last ones; 0: 64 KiB */
} QaChildSpec;

typedef struct {
	gboolean has_exited; /* FALSE: it outlived the timeout and its session was killed */
	gint wait_status;    /* waitpid()'s, when it exited */
	gchar *output;	     /* what it printed (see is_stdout_captured), never NULL */
} QaChildResult;

/* Runs @spec's program and waits for it. FALSE only when it cannot be started; how it ended is
 * in @out_result, to be cleared with qa_child_result_clear(). */
gboolean
qa_child_run(const QaChildSpec *spec, QaChildResult *out_result, GError **error);
void
qa_child_result_clear(QaChildResult *result);
/* the last non-blank line of @output, stripped; NULL when there is none */
gchar *
qa_child_last_line(const gchar *output);
/* how @result ended, for a message: "failed with exit status 3", "was killed by signal 9
 * (Killed)", "did not finish within 30000 ms and was killed"; NULL when it exited with 0 */
gchar *
qa_child_describe_end(const QaChildSpec *spec, const QaChildResult *result);

/* Runs @argv (stdin and stdout on /dev/null, stderr captured, the last 16 KiB) and waits at most
 * @timeout_ms: TRUE with the wait status once it exited; FALSE when it cannot be started or was
 * killed for the timeout ("'prog' did not finish within N ms and was killed; its last error
 * line: ..."). */
gboolean
qa_child_run_capture(const gchar *const *argv,
		     guint timeout_ms,
		     gint *out_wait_status,
		     gchar **out_stderr,
		     GError **error);
/* TRUE for a wait status of exit 0; else an error naming @argv and how it ended, with the last
 * non-empty line of @stderr_text: "'tool arg' failed with exit status 3: cannot ..." */
gboolean
qa_child_check_status(const gchar *const *argv,
		      gint wait_status,
		      const gchar *stderr_text,
		      GError **error);
/* both of the above */
gboolean
qa_child_run_checked(const gchar *const *argv, guint timeout_ms, GError **error);
/* the first executable @name in the colon-separated @search_path, as execvp() in "/" finds it
 * (empty entries skipped: the working directory is never searched); NULL when there is none */
gchar *
qa_child_find_program(const gchar *search_path, const gchar *name);
/* For a GSpawnChildSetupFunc, between fork and exec (async-signal-safe): a session of its own,
 * every signal at its default disposition and none blocked. */
void
qa_child_start_clean(void);
