/* Programs guest-exec starts, watched until a host has collected their end.
 *
 * Threads. qa_process_table_spawn() runs on the dispatcher's system thread, because spawning
 * waits for execve(), which can hang on a dead filesystem. Everything after that runs on the
 * main context given to qa_process_table_new(): the GLib child watch that reaps, the fd sources
 * that read stdout/stderr and feed stdin (non-blocking, so a child that never reads or never
 * closes blocks nothing), the grace timer, and qa_process_table_take_status(). The table is
 * locked rather than handed over with g_main_context_invoke(): the pid must be in the table
 * before guest-exec returns it (a status that overtook an invoked registration would call a
 * fresh pid unknown), and the limits are checked against the table's real content. The lock is
 * held for bookkeeping and one non-blocking read() or write() only, never across a spawn.
 * Records are reference-counted, one reference per attached source, so a record dropped on one
 * thread while its source is dispatched on the other stays valid; every callback checks under
 * the lock whether its record was dropped.
 *
 * The table belongs to the agent, not to a host connection: a process outlives a host that goes
 * away. Freeing the table stops watching; it never kills a process.
 *
 * The caller must ignore SIGPIPE (main() does): a child that closes its stdin makes the write
 * that feeds it fail with EPIPE instead of killing the agent.
 *
 * Pure parts, apart for unit tests: argv and environment assembly, the PATH lookup (it reads
 * only the directories it is given), capture plans, and the record state machine
 * (QaProcessRecord, which needs no process). */
#pragma once

#include <glib.h>

/* where a bare program name is looked up when the host's environment has no PATH */
#define QA_PROCESS_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/* captured bytes kept per stream: QEMU's agent keeps 16 MiB, and hosts that fetch a file
 * through `cat` expect as much */
#define QA_PROCESS_OUTPUT_MAX (16 * 1024 * 1024)
/* captured bytes held across every process: two streams at their limit twice over. Starting a
 * capture drops the oldest unreported ends first to make room for one full capture; output that
 * arrives while the budget is spent anyway (many processes capturing at once) is discarded and
 * the stream reported truncated */
#define QA_PROCESS_HELD_MAX (4 * (gsize)QA_PROCESS_OUTPUT_MAX)
/* processes not reported as exited yet, plus reported ones whose pipes a descendant still
 * holds: each holds up to three descriptors, and 128 leave most of the usual 1024 to the rest */
#define QA_PROCESS_RUNNING_MAX 128
/* ended processes whose end no host has asked for yet; beyond it the oldest is dropped */
#define QA_PROCESS_FINISHED_MAX 64
/* how long pipes may stay open after the process was reaped before it counts as exited
 * anyway: a descendant it left behind (a daemon) may hold them open for ever */
#define QA_PROCESS_PIPE_GRACE_MS 2000
/* the longest argument or environment entry execve() accepts, with its NUL (MAX_ARG_STRLEN) */
#define QA_PROCESS_STRING_MAX (32 * 4096)

typedef enum {
	QA_PROCESS_CAPTURE_NONE,
	QA_PROCESS_CAPTURE_STDOUT,
	QA_PROCESS_CAPTURE_STDERR,
	QA_PROCESS_CAPTURE_SEPARATED,
	QA_PROCESS_CAPTURE_MERGED,
} QaProcessCapture;

typedef enum {
	QA_PROCESS_STREAM_OUT, /* stdout, or both streams when merged */
	QA_PROCESS_STREAM_ERR,
	QA_PROCESS_STREAM_COUNT,
} QaProcessStream;

/* where the child's stdout and stderr go */
typedef struct {
	gboolean pipes_stdout;	/* fd 1 is a pipe the agent reads; else /dev/null */
	gboolean pipes_stderr;	/* fd 2 is a pipe of its own; else /dev/null or fd 1's pipe */
	gboolean merges_stderr; /* fd 2 is fd 1's pipe */
} QaProcessCapturePlan;

QaProcessCapturePlan
qa_process_capture_plan(QaProcessCapture capture);
/* what a full capture in @capture mode holds: QA_PROCESS_OUTPUT_MAX per piped stream (the room
 * a spawn makes in the QA_PROCESS_HELD_MAX budget first) */
gsize
qa_process_capture_max_bytes(QaProcessCapture capture);
/* "none", "stdout", ...: for log lines */
const gchar *
qa_process_capture_to_string(QaProcessCapture capture);

/* What guest-exec was asked to run. */
typedef struct {
	const gchar *path; /* as the host named it; becomes argv[0] */
	GPtrArray *args;   /* of gchar *: argv[1] on; NULL for none */
	GPtrArray *env;	   /* of gchar *: NAME=VALUE, the whole environment; NULL for none */
	GBytes *input;	   /* stdin; NULL for /dev/null */
	QaProcessCapture capture;
	/* FALSE: when systemd is PID 1, the program runs as a transient service, outside the
	 * agent's sandbox, as QEMU's agent runs it (system/exec-unit.h); TRUE, or without
	 * systemd: a child of the agent, inside its sandbox */
	gboolean is_confined;
	const gchar *env_dir; /* where a service's environment file is written: root's only */
} QaProcessSpec;

/* argv: @path, then @args; refuses an empty path and strings execve() would refuse */
gchar **
qa_process_argv_build(const gchar *path, GPtrArray *args, GError **error);
/* The child's whole environment: exactly @env (NULL: empty), plus PATH=QA_PROCESS_DEFAULT_PATH
 * when @env sets no PATH. Refuses an entry without '=' or with an empty name. */
gchar **
qa_process_envp_build(GPtrArray *env, GError **error);
/* The file to execute for @name: @name itself when it holds a '/' (relative to "/", the child's
 * working directory), else the first executable regular file named @name in the directories of
 * @search_path, as execvp() looks (empty entries are skipped; relative ones are taken from "/").
 * Fails with QA_SYSTEM_ERROR_NOT_FOUND when none is. */
gchar *
qa_process_find_program(const gchar *name, const gchar *search_path, GError **error);

/* The end of a process as guest-exec-status reports it. */
typedef struct {
	gboolean has_exited; /* reaped, and its pipes at EOF or given up on; nothing else is set
				until then */
	gboolean has_exitcode;
	gint exitcode;
	gboolean has_signal;
	gint signal;
	/* captured bytes; NULL when the stream was not captured or produced nothing */
	GBytes *out_data;
	gboolean is_out_truncated;
	GBytes *err_data;
	gboolean is_err_truncated;
} QaProcessStatus;

void
qa_process_status_free(QaProcessStatus *status);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaProcessStatus, qa_process_status_free)

/* One process's state, without the process: the table feeds it events (output, EOF, reaped,
 * grace expired); tests feed it by hand. Not thread-safe by itself: the table locks. */
typedef struct _QaProcessRecord QaProcessRecord;

QaProcessRecord *
qa_process_record_new(GPid pid, QaProcessCapture capture);
QaProcessRecord *
qa_process_record_ref(QaProcessRecord *record);
void
qa_process_record_unref(QaProcessRecord *record);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaProcessRecord, qa_process_record_unref)

/* Keeps what fits of @len bytes of @stream's output: at most QA_PROCESS_OUTPUT_MAX per stream
 * and at most @room more in all (the table's budget). Whatever does not fit is dropped and the
 * stream marked truncated. Returns the bytes kept. */
gsize
qa_process_record_add_output(
    QaProcessRecord *record, QaProcessStream stream, const guint8 *buf, gsize len, gsize room);
/* the captured bytes @record holds */
gsize
qa_process_record_get_held(const QaProcessRecord *record);
/* @stream's pipe reached EOF (or failed) */
void
qa_process_record_end_output(QaProcessRecord *record, QaProcessStream stream);
/* the child was reaped with wait status @wait_status; TRUE when a captured pipe is still open,
 * so that the caller starts the grace timer */
gboolean
qa_process_record_set_reaped(QaProcessRecord *record, gint wait_status);
/* the grace after reaping passed: the process counts as exited with what was captured */
void
qa_process_record_give_up_pipes(QaProcessRecord *record);
gboolean
qa_process_record_is_exited(const QaProcessRecord *record);
/* What a status request reports. Once exited, the captured output moves into the status: the
 * record holds none afterwards. */
QaProcessStatus *
qa_process_record_take_status(QaProcessRecord *record);

typedef struct _QaProcessTable QaProcessTable;

/* @context: where processes are watched (the main thread's) */
QaProcessTable *
qa_process_table_new(GMainContext *context);
/* stops watching; running processes are left alone */
void
qa_process_table_free(QaProcessTable *table);

/* Starts @spec (system thread), itself or as a transient service (see is_confined; the pid is
 * then systemd-run's, which ends with the service and whose end is the program's, asked of
 * systemd on a worker thread). The child gets the environment of qa_process_envp_build(),
 * working directory /, a session of its own, an empty signal mask and default dispositions,
 * fds 0-2 only: stdin a pipe fed with @spec->input or /dev/null, stdout and stderr pipes as
 * @spec->capture says or /dev/null. Fails with QA_SYSTEM_ERROR_BUSY when
 * QA_PROCESS_RUNNING_MAX processes are being watched. */
gboolean
qa_process_table_spawn(QaProcessTable *table,
		       const QaProcessSpec *spec,
		       gint64 *out_pid,
		       GError **error);
/* The state of @pid (main thread). Once it reports an exited process, the process is forgotten
 * and asking again fails with QA_SYSTEM_ERROR_NOT_FOUND, as for a pid never started. */
QaProcessStatus *
qa_process_table_take_status(QaProcessTable *table, gint64 pid, GError **error);
/* processes counted against QA_PROCESS_RUNNING_MAX, and unreported ends (for tests) */
void
qa_process_table_get_counts(QaProcessTable *table, guint *out_running, guint *out_finished);
