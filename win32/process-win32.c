/* process.h's table on Windows: the programs guest-exec starts with CreateProcessW, so that the
 * shared handlers of agent/commands/exec.c run unchanged.
 *
 * Each process gets anonymous pipes for what is captured and one for its input, and one thread
 * per pipe: a writer that feeds the input and closes it, and a reader per captured stream that
 * keeps at most QA_PROCESS_OUTPUT_MAX bytes and drains (and drops) the rest, so that a child
 * writing without end is never blocked and never grows the agent. Across processes the table
 * holds at most QA_PROCESS_HELD_MAX bytes, as on Linux: a spawn first forgets the oldest
 * unreported ends to make room for one full capture, and output that finds the budget spent is
 * dropped and the stream reported truncated; a process out of the table (reported, or its end
 * forgotten) keeps nothing of what its descendants still write. Threads touch their record
 * under the table's lock only to append or to say they are done; the lock is never held across
 * a ReadFile, a WriteFile or a spawn. guest-exec-status (main thread) asks Windows whether the
 * process has ended (a zero wait), and reports it exited once its readers are done, or
 * QA_PROCESS_PIPE_GRACE_MS after the end when a process it left behind still holds the pipes.
 *
 * Ended processes no host has asked about are kept as on Linux: at most QA_PROCESS_FINISHED_MAX,
 * the oldest end forgotten first, and they do not count against QA_PROCESS_RUNNING_MAX (a host
 * that starts programs and never asks must not stop every later guest-exec). Where Linux learns
 * of an end from its child watch, this table looks when it is used (a spawn, a status, a count):
 * one zero wait per process, no thread and no handle in the main loop's poll; ends are put in
 * the order Windows gives as their exit times, so the same one is forgotten first.
 *
 * Differences from Linux, as on QEMU's Windows agent: there is no signal (a process ends with
 * an exit code only), a host that sends no environment lets the child inherit the agent's (a
 * Windows program without SystemRoot cannot even load its DLLs), and the program is found the
 * way CreateProcess finds the first word of a command line (the agent's directory, System32,
 * the Windows directory, PATH; ".exe" may be left out). */
#include "process-win32.h"

#include <windows.h>

#include "process.h"
#include "qa-error.h"

/* the chunk a reader asks for; a pipe gives what it has, up to that */
#define QA_WIN_PROCESS_READ_CHUNK 65536

typedef struct {
	gint ref_count; /* the table, and each thread */
	gint64 pid;	/* GetProcessId */
	HANDLE process; /* closed when the record goes */
	GByteArray *out[QA_PROCESS_STREAM_COUNT];
	gboolean is_truncated[QA_PROCESS_STREAM_COUNT];
	guint readers_running; /* streams still being read */
	gint64 ended_at;       /* monotonic time the end was first seen; 0 before */
	gboolean is_gone;      /* reported or forgotten: out of the table, output dropped */
	gboolean is_finished;  /* ended and in the table's finished queue */
	gint64 exit_time;      /* FILETIME of the end, for the order of the queue */
} QaWinProcess;

struct _QaProcessTable {
	GMutex lock;
	GHashTable *by_pid; /* gint64 * -> QaWinProcess *, one reference */
	GQueue finished;    /* of QaWinProcess * in by_pid that ended, oldest end first */
	gsize held;	    /* captured bytes of the processes in by_pid */
};

typedef struct {
	QaProcessTable *table;
	QaWinProcess *process;
	HANDLE pipe;
	QaProcessStream stream;
	GBytes *input; /* the writer's */
} QaWinProcessThread;

static void
qa_win_process_unref(QaWinProcess *process)
{
	if (!g_atomic_int_dec_and_test(&process->ref_count))
		return;
	CloseHandle(process->process);
	for (guint i = 0; i < QA_PROCESS_STREAM_COUNT; i++) {
		if (process->out[i] != NULL)
			g_byte_array_unref(process->out[i]);
	}
	g_free(process);
}

QaProcessTable *
qa_process_table_new(GMainContext *context)
{
	QaProcessTable *table = g_new0(QaProcessTable, 1);

	g_mutex_init(&table->lock);
	table->by_pid = g_hash_table_new_full(
	    g_int64_hash, g_int64_equal, NULL, (GDestroyNotify)qa_win_process_unref);
	return table;
}

/* the threads keep their records alive: freeing the table only stops keeping track; it is
 * freed at the agent's exit, when the threads go with the process */
void
qa_process_table_free(QaProcessTable *table)
{
	if (table == NULL)
		return;
	g_mutex_lock(&table->lock);
	g_queue_clear(&table->finished);
	g_hash_table_remove_all(table->by_pid);
	g_mutex_unlock(&table->lock);
}

static gint
qa_win_process_compare_ends(gconstpointer a, gconstpointer b)
{
	const QaWinProcess *pa = *(QaWinProcess *const *)a;
	const QaWinProcess *pb = *(QaWinProcess *const *)b;

	return pa->exit_time < pb->exit_time ? -1 : pa->exit_time > pb->exit_time;
}

/* takes @process out of the table; what it captured no longer counts (lock held) */
static void
qa_win_process_table_forget(QaProcessTable *table, QaWinProcess *process)
{
	for (guint i = 0; i < QA_PROCESS_STREAM_COUNT; i++) {
		if (process->out[i] != NULL)
			table->held -= process->out[i]->len;
	}
	process->is_gone = TRUE;
	if (process->is_finished)
		g_queue_remove(&table->finished, process);
	/* its reader threads hold their own references and finish on their own */
	g_hash_table_remove(table->by_pid, &process->pid);
}

static void
qa_win_process_table_drop_oldest(QaProcessTable *table, const gchar *reason)
{
	QaWinProcess *oldest = g_queue_peek_head(&table->finished);

	g_message("exec pid=%" G_GINT64_FORMAT " dropped its end before a host asked for it: %s",
		  oldest->pid,
		  reason);
	qa_win_process_table_forget(table, oldest);
}

/* Moves the processes that ended since the last look to the finished queue, in the order of
 * their ends, and forgets the oldest ends beyond QA_PROCESS_FINISHED_MAX (lock held). */
static void
qa_win_process_table_sweep(QaProcessTable *table)
{
	g_autoptr(GPtrArray) ended = g_ptr_array_new();
	GHashTableIter iter;
	gpointer value;

	g_hash_table_iter_init(&iter, table->by_pid);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		QaWinProcess *process = value;
		FILETIME created, exited, kernel, user;

		if (process->is_finished ||
		    WaitForSingleObject(process->process, 0) != WAIT_OBJECT_0)
			continue;
		if (GetProcessTimes(process->process, &created, &exited, &kernel, &user))
			process->exit_time =
			    ((gint64)exited.dwHighDateTime << 32) | exited.dwLowDateTime;
		process->is_finished = TRUE;
		g_ptr_array_add(ended, process);
	}
	g_ptr_array_sort(ended, qa_win_process_compare_ends);
	for (guint i = 0; i < ended->len; i++)
		g_queue_push_tail(&table->finished, g_ptr_array_index(ended, i));
	while (table->finished.length > QA_PROCESS_FINISHED_MAX)
		qa_win_process_table_drop_oldest(
		    table, "too many ended processes wait for guest-exec-status");
}

/* processes counted against QA_PROCESS_RUNNING_MAX (lock held, after a sweep) */
static guint
qa_win_process_table_count_running(QaProcessTable *table)
{
	return g_hash_table_size(table->by_pid) - table->finished.length;
}

static DWORD WINAPI
qa_win_process_read_thread(LPVOID data)
{
	QaWinProcessThread *thread = data;
	QaWinProcess *process = thread->process;
	g_autofree guint8 *buf = g_malloc(QA_WIN_PROCESS_READ_CHUNK);
	DWORD n = 0;

	/* ReadFile fails with ERROR_BROKEN_PIPE once every writer has closed its end */
	while (ReadFile(thread->pipe, buf, QA_WIN_PROCESS_READ_CHUNK, &n, NULL) && n > 0) {
		QaProcessTable *table = thread->table;
		GByteArray *out;
		gsize room;

		g_mutex_lock(&table->lock);
		out = process->out[thread->stream];
		room = process->is_gone ? 0 : QA_PROCESS_OUTPUT_MAX - out->len;
		room = MIN(room, QA_PROCESS_HELD_MAX - MIN(table->held, QA_PROCESS_HELD_MAX));
		g_byte_array_append(out, buf, MIN(n, room));
		if (!process->is_gone)
			table->held += MIN(n, room);
		if (n > room)
			process->is_truncated[thread->stream] = TRUE;
		g_mutex_unlock(&table->lock);
	}
	CloseHandle(thread->pipe);
	g_mutex_lock(&thread->table->lock);
	process->readers_running--;
	g_mutex_unlock(&thread->table->lock);
	qa_win_process_unref(process);
	g_free(thread);
	return 0;
}

static DWORD WINAPI
qa_win_process_write_thread(LPVOID data)
{
	QaWinProcessThread *thread = data;
	gsize len = 0;
	const guint8 *bytes = g_bytes_get_data(thread->input, &len);
	gsize done = 0;

	/* a child that exits without reading all of it breaks the pipe: the rest is dropped */
	while (done < len) {
		DWORD n = 0;
		DWORD chunk = (DWORD)MIN(len - done, G_MAXINT32);

		if (!WriteFile(thread->pipe, bytes + done, chunk, &n, NULL))
			break;
		done += n;
	}
	CloseHandle(thread->pipe);
	g_bytes_unref(thread->input);
	qa_win_process_unref(thread->process);
	g_free(thread);
	return 0;
}

static gboolean
qa_win_process_start_thread(QaProcessTable *table,
			    QaWinProcess *process,
			    HANDLE pipe,
			    QaProcessStream stream,
			    GBytes *input)
{
	QaWinProcessThread *thread = g_new0(QaWinProcessThread, 1);
	HANDLE handle;

	thread->table = table;
	thread->process = process;
	thread->pipe = pipe;
	thread->stream = stream;
	thread->input = input != NULL ? g_bytes_ref(input) : NULL;
	g_atomic_int_inc(&process->ref_count);
	handle =
	    CreateThread(NULL,
			 0,
			 input != NULL ? qa_win_process_write_thread : qa_win_process_read_thread,
			 thread,
			 0,
			 NULL);
	if (handle == NULL) {
		CloseHandle(pipe);
		if (thread->input != NULL)
			g_bytes_unref(thread->input);
		g_atomic_int_dec_and_test(&process->ref_count);
		g_free(thread);
		return FALSE;
	}
	CloseHandle(handle);
	return TRUE;
}

/* one pipe: the agent's end not inheritable, the child's end inheritable */
static gboolean
qa_win_process_pipe(HANDLE *out_agent, HANDLE *out_child, gboolean child_reads, GError **error)
{
	SECURITY_ATTRIBUTES sa = {.nLength = sizeof(sa), .bInheritHandle = TRUE};
	HANDLE read_end = NULL;
	HANDLE write_end = NULL;

	if (!CreatePipe(&read_end, &write_end, &sa, 0)) {
		g_autofree gchar *reason = g_win32_error_message((gint)GetLastError());

		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot create a pipe for the process: %s",
			    reason);
		return FALSE;
	}
	*out_agent = child_reads ? write_end : read_end;
	*out_child = child_reads ? read_end : write_end;
	SetHandleInformation(*out_agent, HANDLE_FLAG_INHERIT, 0);
	return TRUE;
}

static HANDLE
qa_win_process_null(gboolean child_reads)
{
	SECURITY_ATTRIBUTES sa = {.nLength = sizeof(sa), .bInheritHandle = TRUE};

	return CreateFileW(L"NUL",
			   child_reads ? GENERIC_READ : GENERIC_WRITE,
			   FILE_SHARE_READ | FILE_SHARE_WRITE,
			   &sa,
			   OPEN_EXISTING,
			   0,
			   NULL);
}

typedef struct {
	HANDLE agent[3]; /* stdin's writer, stdout's and stderr's readers; NULL when not piped */
	HANDLE child[3]; /* what the child gets as its standard handles */
} QaWinProcessPipes;

static void
qa_win_process_pipes_close(QaWinProcessPipes *pipes, gboolean with_agent_ends)
{
	for (guint i = 0; i < 3; i++) {
		if (with_agent_ends && pipes->agent[i] != NULL)
			CloseHandle(pipes->agent[i]);
		/* a merged stderr is stdout's handle: closed once */
		if (pipes->child[i] != NULL && pipes->child[i] != INVALID_HANDLE_VALUE &&
		    (i != 2 || pipes->child[2] != pipes->child[1]))
			CloseHandle(pipes->child[i]);
	}
}

static gboolean
qa_win_process_pipes_open(const QaProcessSpec *spec, QaWinProcessPipes *pipes, GError **error)
{
	QaProcessCapturePlan plan = qa_process_capture_plan(spec->capture);

	if (spec->input != NULL
		? !qa_win_process_pipe(&pipes->agent[0], &pipes->child[0], TRUE, error)
		: (pipes->child[0] = qa_win_process_null(TRUE)) == NULL)
		return FALSE;
	if (plan.pipes_stdout
		? !qa_win_process_pipe(&pipes->agent[1], &pipes->child[1], FALSE, error)
		: (pipes->child[1] = qa_win_process_null(FALSE)) == NULL)
		return FALSE;
	if (plan.merges_stderr) {
		pipes->child[2] = pipes->child[1];
		return TRUE;
	}
	if (plan.pipes_stderr
		? !qa_win_process_pipe(&pipes->agent[2], &pipes->child[2], FALSE, error)
		: (pipes->child[2] = qa_win_process_null(FALSE)) == NULL)
		return FALSE;
	return TRUE;
}

static gboolean
qa_win_process_create(const QaProcessSpec *spec,
		      const QaWinProcessPipes *pipes,
		      PROCESS_INFORMATION *out_info,
		      GError **error)
{
	g_autofree gunichar2 *command = NULL;
	g_autofree gunichar2 *environment = NULL;
	STARTUPINFOW startup = {.cb = sizeof(startup), .dwFlags = STARTF_USESTDHANDLES};

	command = qa_win_process_command_line(spec->path, spec->args, error);
	if (command == NULL)
		return FALSE;
	if (spec->env != NULL &&
	    (environment = qa_win_process_environment(spec->env, error)) == NULL)
		return FALSE;
	startup.hStdInput = pipes->child[0];
	startup.hStdOutput = pipes->child[1];
	startup.hStdError = pipes->child[2];
	if (!CreateProcessW(NULL,
			    command,
			    NULL,
			    NULL,
			    TRUE,
			    CREATE_UNICODE_ENVIRONMENT | CREATE_NO_WINDOW,
			    environment,
			    NULL,
			    &startup,
			    out_info)) {
		g_autofree gchar *reason = g_win32_error_message((gint)GetLastError());

		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    GetLastError() == ERROR_FILE_NOT_FOUND ? QA_SYSTEM_ERROR_NOT_FOUND
								   : QA_SYSTEM_ERROR_FAILED,
			    "Cannot run '%s': %s",
			    spec->path,
			    reason);
		return FALSE;
	}
	return TRUE;
}

gboolean
qa_process_table_spawn(QaProcessTable *table,
		       const QaProcessSpec *spec,
		       gint64 *out_pid,
		       GError **error)
{
	QaWinProcessPipes pipes = {0};
	PROCESS_INFORMATION info = {0};
	QaWinProcess *process;
	gsize need = qa_process_capture_max_bytes(spec->capture);
	guint running;

	g_mutex_lock(&table->lock);
	qa_win_process_table_sweep(table);
	running = qa_win_process_table_count_running(table);
	while (running < QA_PROCESS_RUNNING_MAX && table->held + need > QA_PROCESS_HELD_MAX &&
	       table->finished.length > 0)
		qa_win_process_table_drop_oldest(table, "its output is needed for a new capture");
	g_mutex_unlock(&table->lock);
	if (running >= QA_PROCESS_RUNNING_MAX) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_BUSY,
			    "Cannot start another program: %u processes started by guest-exec "
			    "are still running (at most %u); expected some of them to end first",
			    running,
			    QA_PROCESS_RUNNING_MAX);
		return FALSE;
	}
	if (!qa_win_process_pipes_open(spec, &pipes, error) ||
	    !qa_win_process_create(spec, &pipes, &info, error)) {
		qa_win_process_pipes_close(&pipes, TRUE);
		return FALSE;
	}
	/* the child has its copies: the agent's must go, or the readers never see the end */
	qa_win_process_pipes_close(&pipes, FALSE);
	CloseHandle(info.hThread);
	process = g_new0(QaWinProcess, 1);
	process->ref_count = 1;
	process->pid = info.dwProcessId;
	process->process = info.hProcess;
	for (guint i = 0; i < QA_PROCESS_STREAM_COUNT; i++) {
		if (pipes.agent[i + 1] != NULL)
			process->out[i] = g_byte_array_new();
	}
	g_mutex_lock(&table->lock);
	g_hash_table_replace(table->by_pid, &process->pid, process);
	for (guint i = 0; i < QA_PROCESS_STREAM_COUNT; i++) {
		if (pipes.agent[i + 1] != NULL &&
		    qa_win_process_start_thread(table, process, pipes.agent[i + 1], i, NULL))
			process->readers_running++;
	}
	g_mutex_unlock(&table->lock);
	if (pipes.agent[0] != NULL)
		qa_win_process_start_thread(table, process, pipes.agent[0], 0, spec->input);
	*out_pid = process->pid;
	return TRUE;
}

/* what the host gets of one stream: NULL when not captured or empty, as on Linux (lock
 * held) */
static GBytes *
qa_win_process_take_stream(QaProcessTable *table, QaWinProcess *process, QaProcessStream stream)
{
	GByteArray *out = process->out[stream];

	if (out == NULL || out->len == 0)
		return NULL;
	table->held -= out->len;
	process->out[stream] = g_byte_array_new();
	return g_byte_array_free_to_bytes(out);
}

QaProcessStatus *
qa_process_table_take_status(QaProcessTable *table, gint64 pid, GError **error)
{
	g_autoptr(QaProcessStatus) status = g_new0(QaProcessStatus, 1);
	QaWinProcess *process;
	DWORD code = 0;

	g_mutex_lock(&table->lock);
	/* first, so that an end Linux would have forgotten by now is forgotten here too */
	qa_win_process_table_sweep(table);
	process = g_hash_table_lookup(table->by_pid, &pid);
	if (process == NULL) {
		g_mutex_unlock(&table->lock);
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_NOT_FOUND,
			    "Invalid parameter 'pid': no process %" G_GINT64_FORMAT
			    " was started by guest-exec, or its end was reported already",
			    pid);
		return NULL;
	}
	if (WaitForSingleObject(process->process, 0) == WAIT_OBJECT_0) {
		gint64 now = g_get_monotonic_time();

		if (process->ended_at == 0)
			process->ended_at = now;
		status->has_exited =
		    process->readers_running == 0 ||
		    now - process->ended_at >= QA_PROCESS_PIPE_GRACE_MS * G_TIME_SPAN_MILLISECOND;
	}
	if (status->has_exited) {
		GetExitCodeProcess(process->process, &code);
		status->has_exitcode = TRUE;
		status->exitcode = (gint)code;
		status->out_data = qa_win_process_take_stream(table, process, QA_PROCESS_STREAM_OUT);
		status->is_out_truncated = process->is_truncated[QA_PROCESS_STREAM_OUT];
		status->err_data = qa_win_process_take_stream(table, process, QA_PROCESS_STREAM_ERR);
		status->is_err_truncated = process->is_truncated[QA_PROCESS_STREAM_ERR];
		qa_win_process_table_forget(table, process);
	}
	g_mutex_unlock(&table->lock);
	return g_steal_pointer(&status);
}

void
qa_process_table_get_counts(QaProcessTable *table, guint *out_running, guint *out_finished)
{
	g_mutex_lock(&table->lock);
	qa_win_process_table_sweep(table);
	*out_running = qa_win_process_table_count_running(table);
	*out_finished = table->finished.length;
	g_mutex_unlock(&table->lock);
}
