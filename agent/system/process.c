#include "process.h"

#include <errno.h>
#include <glib-unix.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "exec-unit.h"
#include "qa-error.h"

/* what one dispatch reads or writes: a pipe's default capacity */
#define QA_PROCESS_IO_SIZE (64 * 1024)

typedef struct {
	GByteArray *data;   /* captured bytes; NULL when not captured, or once reported */
	gboolean is_open;   /* captured, and the pipe has not reached EOF */
	gboolean has_bytes; /* the stream produced bytes, kept or not */
	gboolean is_truncated;
	int fd; /* the agent's end of the pipe; -1 when closed */
	GSource *source;
} QaProcessOutput;

struct _QaProcessRecord {
	GPid pid;
	gboolean is_reaped;
	gint wait_status;
	gboolean has_given_up; /* the grace after reaping passed with a pipe still open */
	QaProcessOutput outputs[QA_PROCESS_STREAM_COUNT];
	/* the wiring, touched under the table's lock only; unused in records tests make */
	QaProcessTable *table;
	gboolean is_finished; /* exited and in table->finished */
	gboolean is_retired;  /* reported or dropped, in table->retired until its pipes close */
	gboolean is_dropped;  /* forgotten: its callbacks stop */
	GSource *child_source;
	GSource *grace_source;
	GBytes *input; /* what is left to feed is from input_done on */
	gsize input_done;
	int input_fd;
	GSource *input_source;
	QaExecUnitLaunch *launch; /* the program runs as a unit: the pid is systemd-run's */
};

struct _QaProcessTable {
	GMutex lock;
	GMainContext *context;
	GHashTable *records;  /* GPid -> QaProcessRecord (a reference): not reported yet */
	GQueue finished;      /* of the records above that exited, in the order they did */
	GQueue retired;	      /* of QaProcessRecord (a reference): gone, but a pipe still open */
	gsize held;	      /* captured bytes in all records */
	GThreadPool *queries; /* of QaProcessQuery: how units ended, asked of systemd */
};

/* a unit's end to ask systemd for, on a worker */
typedef struct {
	QaProcessRecord *record; /* a reference */
	gint run_wait_status;	 /* systemd-run's */
} QaProcessQuery;

/* --- capture plans, argv, environment, PATH ------------------------------------------------ */

/* execve() fails with E2BIG on a longer string: say which one before forking */
static gboolean
qa_process_check_string(const gchar *what, guint index, const gchar *text, GError **error)
{
	gsize len = strlen(text);

	if (len < QA_PROCESS_STRING_MAX)
		return TRUE;
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_INVALID,
		    "%s %u is %" G_GSIZE_FORMAT " bytes long; a program accepts at most %u bytes "
		    "per argument or environment entry",
		    what,
		    index,
		    len,
		    QA_PROCESS_STRING_MAX - 1);
	return FALSE;
}

gchar **
qa_process_argv_build(const gchar *path, GPtrArray *args, GError **error)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);

	if (path[0] == '\0') {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_INVALID,
			    "The program path is empty; expected a program name to look up in "
			    "PATH, or a path to it");
		return NULL;
	}
	if (!qa_process_check_string("Argument", 0, path, error))
		return NULL;
	g_ptr_array_add(argv, g_strdup(path));
	for (guint i = 0; args != NULL && i < args->len; i++) {
		const gchar *arg = g_ptr_array_index(args, i);

		if (!qa_process_check_string("Argument", i + 1, arg, error))
			return NULL;
		g_ptr_array_add(argv, g_strdup(arg));
	}
	g_ptr_array_add(argv, NULL);
	return (gchar **)g_ptr_array_free(g_steal_pointer(&argv), FALSE);
}

gchar **
qa_process_envp_build(GPtrArray *env, GError **error)
{
	g_autoptr(GPtrArray) envp = g_ptr_array_new_with_free_func(g_free);
	gboolean has_path = FALSE;

	for (guint i = 0; env != NULL && i < env->len; i++) {
		const gchar *entry = g_ptr_array_index(env, i);
		const gchar *equals = strchr(entry, '=');

		if (equals == NULL || equals == entry) {
			g_set_error(
			    error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_INVALID,
			    "Environment entry %u '%.64s' is not valid; expected NAME=VALUE "
			    "with a name that is not empty",
			    i,
			    entry);
			return NULL;
		}
		if (!qa_process_check_string("Environment entry", i, entry, error))
			return NULL;
		has_path = has_path || g_str_has_prefix(entry, "PATH=");
		g_ptr_array_add(envp, g_strdup(entry));
	}
	if (!has_path)
		g_ptr_array_add(envp, g_strdup("PATH=" QA_PROCESS_DEFAULT_PATH));
	g_ptr_array_add(envp, NULL);
	return (gchar **)g_ptr_array_free(g_steal_pointer(&envp), FALSE);
}

gchar *
qa_process_find_program(const gchar *name, const gchar *search_path, GError **error)
{
	gchar *found;

	if (strchr(name, '/') != NULL)
		return g_strdup(name);
	found = qa_child_find_program(search_path, name);
	if (found != NULL)
		return found;
	/* the errno text keeps what QEMU's agent says (GLib's "... (No such file or directory)") */
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_NOT_FOUND,
		    "Failed to execute '%s': no executable file of that name in PATH '%s' (%s)",
		    name,
		    search_path,
		    g_strerror(ENOENT));
	return NULL;
}

/* --- the record ---------------------------------------------------------------------------- */

static void
qa_process_source_clear(GSource **source)
{
	if (*source == NULL)
		return;
	g_source_destroy(*source);
	g_clear_pointer(source, g_source_unref);
}

static void
qa_process_fd_clear(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

QaProcessRecord *
qa_process_record_new(GPid pid, QaProcessCapture capture)
{
	QaProcessRecord *record = g_atomic_rc_box_new0(QaProcessRecord);
	QaProcessCapturePlan plan = qa_process_capture_plan(capture);
	const gboolean is_captured[QA_PROCESS_STREAM_COUNT] = {
	    [QA_PROCESS_STREAM_OUT] = plan.pipes_stdout,
	    [QA_PROCESS_STREAM_ERR] = plan.pipes_stderr,
	};

	record->pid = pid;
	record->input_fd = -1;
	for (guint i = 0; i < QA_PROCESS_STREAM_COUNT; i++) {
		record->outputs[i].fd = -1;
		record->outputs[i].is_open = is_captured[i];
		if (is_captured[i])
			record->outputs[i].data = g_byte_array_new();
	}
	return record;
}

QaProcessRecord *
qa_process_record_ref(QaProcessRecord *record)
{
	return g_atomic_rc_box_acquire(record);
}

/* every source holds a reference, so none is attached any more when this runs */
static void
qa_process_record_clear(QaProcessRecord *record)
{
	for (guint i = 0; i < QA_PROCESS_STREAM_COUNT; i++) {
		g_clear_pointer(&record->outputs[i].source, g_source_unref);
		qa_process_fd_clear(&record->outputs[i].fd);
		g_clear_pointer(&record->outputs[i].data, g_byte_array_unref);
	}
	g_clear_pointer(&record->child_source, g_source_unref);
	g_clear_pointer(&record->grace_source, g_source_unref);
	g_clear_pointer(&record->input_source, g_source_unref);
	qa_process_fd_clear(&record->input_fd);
	g_clear_pointer(&record->input, g_bytes_unref);
	g_clear_pointer(&record->launch, qa_exec_unit_launch_free);
}

void
qa_process_record_unref(QaProcessRecord *record)
{
	if (record != NULL)
		g_atomic_rc_box_release_full(record, (GDestroyNotify)qa_process_record_clear);
}

gsize
qa_process_record_add_output(
    QaProcessRecord *record, QaProcessStream stream, const guint8 *buf, gsize len, gsize room)
{
	QaProcessOutput *output = &record->outputs[stream];
	gsize kept;

	/* after the grace, what arrives comes from a descendant, not the process reported */
	if (output->data == NULL || record->has_given_up || len == 0)
		return 0;
	output->has_bytes = TRUE;
	kept = MIN(len, MIN(QA_PROCESS_OUTPUT_MAX - output->data->len, room));
	g_byte_array_append(output->data, buf, (guint)kept);
	if (kept < len)
		output->is_truncated = TRUE;
	return kept;
}

gsize
qa_process_record_get_held(const QaProcessRecord *record)
{
	gsize held = 0;

	for (guint i = 0; i < QA_PROCESS_STREAM_COUNT; i++) {
		if (record->outputs[i].data != NULL)
			held += record->outputs[i].data->len;
	}
	return held;
}

void
qa_process_record_end_output(QaProcessRecord *record, QaProcessStream stream)
{
	record->outputs[stream].is_open = FALSE;
}

static gboolean
qa_process_record_has_open_output(const QaProcessRecord *record)
{
	for (guint i = 0; i < QA_PROCESS_STREAM_COUNT; i++) {
		if (record->outputs[i].is_open)
			return TRUE;
	}
	return FALSE;
}

gboolean
qa_process_record_set_reaped(QaProcessRecord *record, gint wait_status)
{
	record->is_reaped = TRUE;
	record->wait_status = wait_status;
	return qa_process_record_has_open_output(record);
}

void
qa_process_record_give_up_pipes(QaProcessRecord *record)
{
	record->has_given_up = TRUE;
}

gboolean
qa_process_record_is_exited(const QaProcessRecord *record)
{
	/* QEMU's agent waits for EOF on the pipes, so that the output is complete, and then for
	 * ever when a descendant holds them; this one waits a bounded grace */
	return record->is_reaped &&
	       (record->has_given_up || !qa_process_record_has_open_output(record));
}

/* the bytes a stream produced, or NULL when it produced none */
static GBytes *
qa_process_output_take(QaProcessOutput *output, gboolean *out_is_truncated)
{
	g_autoptr(GByteArray) data = g_steal_pointer(&output->data);

	*out_is_truncated = output->is_truncated;
	if (data == NULL || !output->has_bytes)
		return NULL;
	return g_byte_array_free_to_bytes(g_steal_pointer(&data));
}

QaProcessStatus *
qa_process_record_take_status(QaProcessRecord *record)
{
	g_autoptr(QaProcessStatus) status = g_new0(QaProcessStatus, 1);

	if (!qa_process_record_is_exited(record))
		return g_steal_pointer(&status);
	status->has_exited = TRUE;
	if (WIFEXITED(record->wait_status)) {
		status->has_exitcode = TRUE;
		status->exitcode = WEXITSTATUS(record->wait_status);
	} else if (WIFSIGNALED(record->wait_status)) {
		status->has_signal = TRUE;
		status->signal = WTERMSIG(record->wait_status);
	}
	status->out_data = qa_process_output_take(&record->outputs[QA_PROCESS_STREAM_OUT],
						  &status->is_out_truncated);
	status->err_data = qa_process_output_take(&record->outputs[QA_PROCESS_STREAM_ERR],
						  &status->is_err_truncated);
	return g_steal_pointer(&status);
}

/* --- the table: bookkeeping (callers hold the lock) ---------------------------------------- */

static void
qa_process_table_stop_input(QaProcessRecord *record)
{
	qa_process_source_clear(&record->input_source);
	qa_process_fd_clear(&record->input_fd);
	g_clear_pointer(&record->input, g_bytes_unref);
}

/* forgets @record for good: nothing of it is watched any more */
static void
qa_process_table_release(QaProcessRecord *record)
{
	record->is_dropped = TRUE;
	qa_process_source_clear(&record->child_source);
	qa_process_source_clear(&record->grace_source);
	qa_process_table_stop_input(record);
	for (guint i = 0; i < QA_PROCESS_STREAM_COUNT; i++) {
		qa_process_source_clear(&record->outputs[i].source);
		qa_process_fd_clear(&record->outputs[i].fd);
	}
	qa_process_record_unref(record);
}

/* Takes an exited @record out of the table and returns its status. A pipe a descendant still
 * holds is kept open and drained until EOF (in table->retired), so that the descendant's writes
 * do not fail; what it writes is discarded. */
static QaProcessStatus *
qa_process_table_unlink(QaProcessTable *table, QaProcessRecord *record)
{
	QaProcessStatus *status;

	/* a record dropped because its pid was reused may be reaped but still in its grace: from
	 * now on whatever arrives is discarded */
	qa_process_record_give_up_pipes(record);
	qa_process_source_clear(&record->grace_source);
	table->held -= qa_process_record_get_held(record);
	status = qa_process_record_take_status(record);
	for (guint i = 0; i < QA_PROCESS_STREAM_COUNT; i++)
		g_clear_pointer(&record->outputs[i].data, g_byte_array_unref);
	g_hash_table_remove(table->records, GINT_TO_POINTER(record->pid));
	if (record->is_finished)
		g_queue_remove(&table->finished, record);
	record->is_finished = FALSE;
	/* what is left of the input would go to a descendant */
	qa_process_table_stop_input(record);
	if (qa_process_record_has_open_output(record)) {
		record->is_retired = TRUE;
		g_queue_push_tail(&table->retired, record);
	} else {
		qa_process_table_release(record);
	}
	return status;
}

static void
qa_process_table_drop(QaProcessTable *table, QaProcessRecord *record, const gchar *reason)
{
	g_autoptr(QaProcessStatus) status = NULL;

	g_message("exec pid=%d dropped its end before a host asked for it: %s",
		  (gint)record->pid,
		  reason);
	status = qa_process_table_unlink(table, record);
}

static void
qa_process_table_drop_oldest(QaProcessTable *table, const gchar *reason)
{
	qa_process_table_drop(table, g_queue_peek_head(&table->finished), reason);
}

/* after an event: an exited record joins the finished ones, a drained one goes */
static void
qa_process_table_update(QaProcessTable *table, QaProcessRecord *record)
{
	if (record->is_retired) {
		if (!qa_process_record_has_open_output(record)) {
			g_queue_remove(&table->retired, record);
			qa_process_table_release(record);
		}
		return;
	}
	if (record->is_finished || !qa_process_record_is_exited(record))
		return;
	record->is_finished = TRUE;
	g_queue_push_tail(&table->finished, record);
	/* refusing new processes instead would let hosts that never ask (fire and forget) stop
	 * every later guest-exec; the oldest end is the one least likely to be asked for */
	while (table->finished.length > QA_PROCESS_FINISHED_MAX)
		qa_process_table_drop_oldest(table,
					     "too many ended processes wait for guest-exec-status");
}

static guint
qa_process_table_count_running(QaProcessTable *table)
{
	return g_hash_table_size(table->records) - table->finished.length + table->retired.length;
}

/* --- the table: callbacks on the main context ----------------------------------------------- */

static void
qa_process_table_add_output(QaProcessTable *table,
			    QaProcessRecord *record,
			    QaProcessStream stream,
			    const guint8 *buf,
			    gsize len)
{
	QaProcessOutput *output = &record->outputs[stream];
	gboolean was_truncated = output->is_truncated;

	table->held += qa_process_record_add_output(
	    record, stream, buf, len, QA_PROCESS_HELD_MAX - table->held);
	if (output->is_truncated && !was_truncated)
		g_message("exec pid=%d %s truncated at %u bytes: at most %u bytes per stream and "
			  "%" G_GSIZE_FORMAT " for all processes are kept",
			  (gint)record->pid,
			  stream == QA_PROCESS_STREAM_OUT ? "stdout" : "stderr",
			  output->data->len,
			  QA_PROCESS_OUTPUT_MAX,
			  QA_PROCESS_HELD_MAX);
}

static gboolean
qa_process_on_output(gint fd, GIOCondition condition, gpointer user_data)
{
	QaProcessRecord *record = user_data;
	QaProcessTable *table = record->table;
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&table->lock);
	QaProcessStream stream;
	guint8 buf[QA_PROCESS_IO_SIZE];
	gssize n;

	if (record->is_dropped)
		return G_SOURCE_REMOVE;
	stream = fd == record->outputs[QA_PROCESS_STREAM_OUT].fd ? QA_PROCESS_STREAM_OUT
								 : QA_PROCESS_STREAM_ERR;
	n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return G_SOURCE_CONTINUE;
	if (n > 0) {
		qa_process_table_add_output(table, record, stream, buf, (gsize)n);
		return G_SOURCE_CONTINUE;
	}
	/* EOF, or an error that will not go away */
	qa_process_record_end_output(record, stream);
	qa_process_source_clear(&record->outputs[stream].source);
	qa_process_fd_clear(&record->outputs[stream].fd);
	qa_process_table_update(table, record);
	return G_SOURCE_REMOVE;
}

static gboolean
qa_process_on_input(gint fd, GIOCondition condition, gpointer user_data)
{
	QaProcessRecord *record = user_data;
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&record->table->lock);
	gsize size = 0;
	const guint8 *data;

	if (record->is_dropped || record->input == NULL)
		return G_SOURCE_REMOVE;
	data = g_bytes_get_data(record->input, &size);
	if (record->input_done < size) {
		gssize n = write(fd,
				 data + record->input_done,
				 MIN(size - record->input_done, QA_PROCESS_IO_SIZE));

		if (n > 0)
			record->input_done += (gsize)n;
		if ((n > 0 && record->input_done < size) ||
		    (n < 0 && (errno == EAGAIN || errno == EINTR)))
			return G_SOURCE_CONTINUE;
	}
	/* all written (the child sees EOF), or the child closed its end (EPIPE) */
	qa_process_table_stop_input(record);
	return G_SOURCE_REMOVE;
}

static gboolean
qa_process_on_grace_expired(gpointer user_data)
{
	QaProcessRecord *record = user_data;
	QaProcessTable *table = record->table;
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&table->lock);

	if (record->is_dropped)
		return G_SOURCE_REMOVE;
	g_message("exec pid=%d ended %u ms ago but a descendant still holds its output pipe open; "
		  "reporting it as exited with the output captured so far",
		  (gint)record->pid,
		  QA_PROCESS_PIPE_GRACE_MS);
	qa_process_record_give_up_pipes(record);
	qa_process_source_clear(&record->grace_source);
	qa_process_table_update(table, record);
	return G_SOURCE_REMOVE;
}

static GSource *
qa_process_table_attach(QaProcessTable *table,
			GSource *source,
			GSourceFunc func,
			QaProcessRecord *record)
{
	g_source_set_callback(
	    source, func, qa_process_record_ref(record), (GDestroyNotify)qa_process_record_unref);
	g_source_attach(source, table->context);
	return source;
}

/* the program ended with @wait_status (callers hold the lock) */
static void
qa_process_table_set_ended(QaProcessTable *table, QaProcessRecord *record, gint wait_status)
{
	if (WIFSIGNALED(wait_status))
		g_info("exec pid=%d ended signal=%d", (gint)record->pid, WTERMSIG(wait_status));
	else
		g_info(
		    "exec pid=%d ended exitcode=%d", (gint)record->pid, WEXITSTATUS(wait_status));
	if (qa_process_record_set_reaped(record, wait_status))
		record->grace_source =
		    qa_process_table_attach(table,
					    g_timeout_source_new(QA_PROCESS_PIPE_GRACE_MS),
					    qa_process_on_grace_expired,
					    record);
	qa_process_table_update(table, record);
}

/* a worker: systemd-run's exit status does not tell a signal from an exit status */
static void
qa_process_on_query(gpointer data, gpointer user_data)
{
	QaProcessQuery *query = data;
	QaProcessRecord *record = query->record;
	QaProcessTable *table = user_data;
	gint wait_status = qa_exec_unit_query_end(
	    record->launch->systemctl, record->launch->unit, query->run_wait_status);

	{
		g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&table->lock);

		if (!record->is_dropped)
			qa_process_table_set_ended(table, record, wait_status);
	}
	qa_process_record_unref(record);
	g_free(query);
}

static void
qa_process_on_reaped(GPid pid, gint wait_status, gpointer user_data)
{
	QaProcessRecord *record = user_data;
	QaProcessTable *table = record->table;
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&table->lock);
	QaProcessQuery *query;

	if (record->is_dropped)
		return;
	qa_process_source_clear(&record->child_source);
	if (record->launch == NULL) {
		qa_process_table_set_ended(table, record, wait_status);
		return;
	}
	/* PID 1 read it when it started the program */
	unlink(record->launch->env_file);
	query = g_new0(QaProcessQuery, 1);
	query->record = qa_process_record_ref(record);
	query->run_wait_status = wait_status;
	g_thread_pool_push(table->queries, query, NULL);
}

/* --- the table: spawning (system thread) ----------------------------------------------------- */

/* systemd-run's own environment (the program's is in its unit's environment file); with
 * --quiet it prints only errors, and those go to the journal, never to the program's stderr */
static const gchar *const qa_process_unit_envp[] = {
    "PATH=" QA_CHILD_ADMIN_PATH,
    "SYSTEMD_LOG_TARGET=journal",
    NULL,
};

/* the child's descriptors as the spawn left them; -1 for those that are not pipes */
typedef struct {
	GPid pid;
	int input_fd;
	int output_fds[QA_PROCESS_STREAM_COUNT];
} QaProcessChild;

/* runs in the child between fork and exec: async-signal-safe calls only */
static void
qa_process_child_setup(gpointer user_data)
{
	const gboolean *merges_stderr = user_data;

	if (*merges_stderr)
		dup2(STDOUT_FILENO, STDERR_FILENO);
	/* a session of its own: the agent's terminal and process group signals do not reach it */
	qa_child_start_clean();
}

static gboolean
qa_process_spawn(const gchar *program,
		 gchar **argv,
		 gchar **envp,
		 const QaProcessSpec *spec,
		 QaProcessChild *out_child,
		 GError **error)
{
	QaProcessCapturePlan plan = qa_process_capture_plan(spec->capture);
	g_autoptr(GPtrArray) exec_argv = g_ptr_array_new();
	g_autoptr(GError) error_local = NULL;
	/* GLib closes every other descriptor in the child, and waits for execve() */
	GSpawnFlags flags = G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_FILE_AND_ARGV_ZERO;

	/* the file found in PATH is executed; argv[0] stays what the host named */
	g_ptr_array_add(exec_argv, (gpointer)program);
	for (guint i = 0; argv[i] != NULL; i++)
		g_ptr_array_add(exec_argv, argv[i]);
	g_ptr_array_add(exec_argv, NULL);
	if (spec->input == NULL)
		flags |= G_SPAWN_STDIN_FROM_DEV_NULL;
	if (!plan.pipes_stdout)
		flags |= G_SPAWN_STDOUT_TO_DEV_NULL;
	if (!plan.pipes_stderr)
		flags |= G_SPAWN_STDERR_TO_DEV_NULL; /* merged: the child setup dup2()s over it */
	if (!g_spawn_async_with_pipes_and_fds(
		"/",
		(const gchar *const *)exec_argv->pdata,
		(const gchar *const *)envp,
		flags,
		qa_process_child_setup,
		&plan.merges_stderr,
		-1,
		-1,
		-1,
		NULL,
		NULL,
		0,
		&out_child->pid,
		spec->input != NULL ? &out_child->input_fd : NULL,
		plan.pipes_stdout ? &out_child->output_fds[QA_PROCESS_STREAM_OUT] : NULL,
		plan.pipes_stderr ? &out_child->output_fds[QA_PROCESS_STREAM_ERR] : NULL,
		&error_local)) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot start '%s': %s",
			    spec->path,
			    error_local->message);
		return FALSE;
	}
	return TRUE;
}

/* checks the limits before anything is started; makes room in the budget for a full capture */
static gboolean
qa_process_table_reserve(QaProcessTable *table, QaProcessCapture capture, GError **error)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&table->lock);
	gsize need = qa_process_capture_max_bytes(capture);
	guint running = qa_process_table_count_running(table);

	if (running >= QA_PROCESS_RUNNING_MAX) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_BUSY,
			    "Cannot start another program: %u processes started by guest-exec "
			    "are still running or holding their output pipes open (at most %u); "
			    "expected some of them to end first",
			    running,
			    QA_PROCESS_RUNNING_MAX);
		return FALSE;
	}
	while (table->held + need > QA_PROCESS_HELD_MAX && table->finished.length > 0)
		qa_process_table_drop_oldest(table, "its output is needed for a new capture");
	return TRUE;
}

static void
qa_process_table_register(QaProcessTable *table,
			  const QaProcessSpec *spec,
			  QaProcessChild *child,
			  QaExecUnitLaunch *launch)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&table->lock);
	QaProcessRecord *record = g_hash_table_lookup(table->records, GINT_TO_POINTER(child->pid));

	/* a pid is free for reuse once reaped: an unreported end may carry the same one */
	if (record != NULL)
		qa_process_table_drop(table, record, "its pid was given to a new process");
	record = qa_process_record_new(child->pid, spec->capture);
	record->table = table;
	record->launch = launch;
	g_hash_table_insert(table->records, GINT_TO_POINTER(child->pid), record);
	record->child_source = qa_process_table_attach(table,
						       g_child_watch_source_new(child->pid),
						       G_SOURCE_FUNC(qa_process_on_reaped),
						       record);
	for (guint i = 0; i < QA_PROCESS_STREAM_COUNT; i++) {
		int fd = child->output_fds[i];

		if (fd < 0)
			continue;
		g_unix_set_fd_nonblocking(fd, TRUE, NULL);
		record->outputs[i].fd = fd;
		record->outputs[i].source =
		    qa_process_table_attach(table,
					    g_unix_fd_source_new(fd, G_IO_IN | G_IO_HUP | G_IO_ERR),
					    G_SOURCE_FUNC(qa_process_on_output),
					    record);
	}
	if (child->input_fd >= 0) {
		g_unix_set_fd_nonblocking(child->input_fd, TRUE, NULL);
		record->input = g_bytes_ref(spec->input);
		record->input_fd = child->input_fd;
		record->input_source = qa_process_table_attach(
		    table,
		    g_unix_fd_source_new(child->input_fd, G_IO_OUT | G_IO_ERR),
		    G_SOURCE_FUNC(qa_process_on_input),
		    record);
	}
}

static void
qa_process_live_env_file_add(QaProcessRecord *record, GHashTable *live)
{
	if (record->launch != NULL)
		g_hash_table_add(live, g_path_get_basename(record->launch->env_file));
}

/* the environment files of this agent's units whose systemd-run has not ended, and @launch's:
 * the rest in the directory are an earlier agent's (a state directory has one agent) */
static GHashTable *
qa_process_table_live_env_files(QaProcessTable *table, const QaExecUnitLaunch *launch)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&table->lock);
	GHashTable *live = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	GHashTableIter iter;
	gpointer value;

	g_hash_table_add(live, g_path_get_basename(launch->env_file));
	g_hash_table_iter_init(&iter, table->records);
	while (g_hash_table_iter_next(&iter, NULL, &value))
		qa_process_live_env_file_add(value, live);
	g_queue_foreach(&table->retired, (GFunc)qa_process_live_env_file_add, live);
	return live;
}

gboolean
qa_process_table_spawn(QaProcessTable *table,
		       const QaProcessSpec *spec,
		       gint64 *out_pid,
		       GError **error)
{
	g_auto(GStrv) argv = NULL;
	g_auto(GStrv) envp = NULL;
	g_autofree gchar *program = NULL;
	g_autoptr(QaExecUnitLaunch) launch = NULL;
	QaProcessChild child = {.input_fd = -1, .output_fds = {-1, -1}};
	gboolean ok;

	argv = qa_process_argv_build(spec->path, spec->args, error);
	if (argv == NULL)
		return FALSE;
	envp = qa_process_envp_build(spec->env, error);
	if (envp == NULL)
		return FALSE;
	program = qa_process_find_program(spec->path, g_environ_getenv(envp, "PATH"), error);
	if (program == NULL)
		return FALSE;
	/* only this thread adds processes, so what is checked here still holds after the spawn */
	if (!qa_process_table_reserve(table, spec->capture, error))
		return FALSE;
	if (!spec->is_confined && spec->env_dir != NULL) {
		g_autoptr(GError) error_local = NULL;

		launch = qa_exec_unit_launch_new(QA_EXEC_UNIT_SYSTEMD_DIR,
						 QA_EXEC_UNIT_BUS_SOCKET,
						 spec->env_dir,
						 program,
						 argv,
						 envp,
						 &error_local);
		if (error_local != NULL) {
			g_propagate_error(error, g_steal_pointer(&error_local));
			return FALSE;
		}
	}
	if (launch != NULL) {
		g_autoptr(GHashTable) live = qa_process_table_live_env_files(table, launch);

		/* only this thread writes environment files, so none of this agent's is missed */
		qa_exec_unit_sweep(launch->systemctl, spec->env_dir, live);
		g_info("exec path=%s unit=%s", spec->path, launch->unit);
		ok = qa_process_spawn(launch->systemd_run,
				      launch->argv,
				      (gchar **)qa_process_unit_envp,
				      spec,
				      &child,
				      error);
		if (!ok)
			unlink(launch->env_file);
	} else {
		ok = qa_process_spawn(program, argv, envp, spec, &child, error);
	}
	if (!ok)
		return FALSE;
	qa_process_table_register(table, spec, &child, g_steal_pointer(&launch));
	*out_pid = child.pid;
	return TRUE;
}

/* --- the table: status and life --------------------------------------------------------------- */

QaProcessStatus *
qa_process_table_take_status(QaProcessTable *table, gint64 pid, GError **error)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&table->lock);
	QaProcessRecord *record = NULL;

	if (pid > 0 && pid <= G_MAXINT)
		record = g_hash_table_lookup(table->records, GINT_TO_POINTER((gint)pid));
	if (record == NULL) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_NOT_FOUND,
			    "PID %" G_GINT64_FORMAT " does not exist: expected a pid guest-exec "
			    "returned whose end was not reported yet",
			    pid);
		return NULL;
	}
	if (!qa_process_record_is_exited(record))
		return qa_process_record_take_status(record);
	return qa_process_table_unlink(table, record);
}

void
qa_process_table_get_counts(QaProcessTable *table, guint *out_running, guint *out_finished)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&table->lock);

	*out_running = qa_process_table_count_running(table);
	*out_finished = table->finished.length;
}

QaProcessTable *
qa_process_table_new(GMainContext *context)
{
	QaProcessTable *table = g_new0(QaProcessTable, 1);

	g_mutex_init(&table->lock);
	table->context = g_main_context_ref(context);
	table->records = g_hash_table_new(g_direct_hash, g_direct_equal);
	/* shared threads, at most 4 asking systemd at once */
	table->queries = g_thread_pool_new(qa_process_on_query, table, 4, FALSE, NULL);
	g_queue_init(&table->finished);
	g_queue_init(&table->retired);
	return table;
}

void
qa_process_table_free(QaProcessTable *table)
{
	if (table == NULL)
		return;
	/* waits for the questions asked (each bounded by QA_EXEC_UNIT_QUERY_TIMEOUT_MS) */
	g_thread_pool_free(table->queries, FALSE, TRUE);
	g_mutex_lock(&table->lock);
	{
		g_autoptr(GList) records = g_hash_table_get_values(table->records);

		g_hash_table_remove_all(table->records);
		for (GList *l = records; l != NULL; l = l->next)
			qa_process_table_release(l->data);
	}
	while (table->retired.length > 0)
		qa_process_table_release(g_queue_pop_head(&table->retired));
	g_queue_clear(&table->finished);
	g_mutex_unlock(&table->lock);
	g_hash_table_unref(table->records);
	g_main_context_unref(table->context);
	g_mutex_clear(&table->lock);
	g_free(table);
}
