/* guest-exec, guest-exec-status: typed arguments in, the process table (system/process.c) does
 * the work. guest-exec runs on the dispatcher's system thread (spawning waits for execve());
 * guest-exec-status runs on the main thread, where the table reads, feeds and reaps. */
#include "agent.h"
#include "base64.h"
#include "process.h"
#include "qa-error.h"
#include "qa-schema.h"

static QaProcessCapture
qa_exec_capture(const QaGuestExecCaptureOutput *capture)
{
	if (capture == NULL)
		return QA_PROCESS_CAPTURE_NONE;
	/* as QEMU's agent: true means both streams, apart */
	if (capture->type == QA_GUEST_EXEC_CAPTURE_OUTPUT_KIND_FLAG)
		return capture->flag ? QA_PROCESS_CAPTURE_SEPARATED : QA_PROCESS_CAPTURE_NONE;
	switch (capture->mode) {
	case QA_GUEST_EXEC_CAPTURE_OUTPUT_MODE_NONE:
	case QA_GUEST_EXEC_CAPTURE_OUTPUT_MODE__MAX:
		break;
	case QA_GUEST_EXEC_CAPTURE_OUTPUT_MODE_STDOUT:
		return QA_PROCESS_CAPTURE_STDOUT;
	case QA_GUEST_EXEC_CAPTURE_OUTPUT_MODE_STDERR:
		return QA_PROCESS_CAPTURE_STDERR;
	case QA_GUEST_EXEC_CAPTURE_OUTPUT_MODE_SEPARATED:
		return QA_PROCESS_CAPTURE_SEPARATED;
	case QA_GUEST_EXEC_CAPTURE_OUTPUT_MODE_MERGED:
		return QA_PROCESS_CAPTURE_MERGED;
	}
	return QA_PROCESS_CAPTURE_NONE;
}

gboolean
qa_cmd_guest_exec(QaAgent *agent,
		  const QaGuestExecArgs *args,
		  QaGuestExec **out_ret,
		  GError **error)
{
	g_autoptr(GBytes) input = NULL;
	g_autoptr(QaGuestExec) ret = qa_guest_exec_new();
	QaProcessSpec spec = {
	    .path = args->path,
	    .args = args->arg,
	    .env = args->env,
	    .capture = qa_exec_capture(args->capture_output),
	    /* outside the agent's sandbox unless the administrator keeps it in (exec-confined) */
	    .is_confined = agent->config->exec_confined,
	    .env_dir = agent->config->statedir,
	};

	if (args->input_data != NULL) {
		gsize len = 0;
		guint8 *data = qa_base64_decode(args->input_data, &len, error);

		if (data == NULL) {
			g_prefix_error(error, "Cannot decode input-data: ");
			return FALSE;
		}
		input = g_bytes_new_take(data, len);
	}
	spec.input = input;
	if (!qa_process_table_spawn(agent->processes, &spec, &ret->pid, error))
		return FALSE;
	/* the arguments may hold secrets (passwords for chpasswd): their number only */
	g_message("exec pid=%" G_GINT64_FORMAT
		  " path=%s args=%u env=%u input_bytes=%" G_GSIZE_FORMAT " capture=%s",
		  ret->pid,
		  args->path,
		  args->arg != NULL ? args->arg->len : 0,
		  args->env != NULL ? args->env->len : 0,
		  input != NULL ? g_bytes_get_size(input) : 0,
		  qa_process_capture_to_string(spec.capture));
	*out_ret = g_steal_pointer(&ret);
	return TRUE;
}

static gchar *
qa_exec_base64(GBytes *bytes)
{
	gsize len = 0;
	const guint8 *data = g_bytes_get_data(bytes, &len);

	return g_base64_encode(data, len);
}

gboolean
qa_cmd_guest_exec_status(QaAgent *agent,
			 const QaGuestExecStatusArgs *args,
			 QaGuestExecStatus **out_ret,
			 GError **error)
{
	g_autoptr(QaProcessStatus) status = NULL;
	g_autoptr(QaGuestExecStatus) ret = qa_guest_exec_status_new();

	status = qa_process_table_take_status(agent->processes, args->pid, error);
	if (status == NULL)
		return FALSE;
	ret->exited = status->has_exited;
	ret->has_exitcode = status->has_exitcode;
	ret->exitcode = status->exitcode;
	ret->has_signal = status->has_signal;
	ret->signal = status->signal;
	/* as QEMU's agent: a stream's data and truncated flag only when it produced bytes */
	if (status->out_data != NULL) {
		ret->out_data = qa_exec_base64(status->out_data);
		ret->has_out_truncated = TRUE;
		ret->out_truncated = status->is_out_truncated;
	}
	if (status->err_data != NULL) {
		ret->err_data = qa_exec_base64(status->err_data);
		ret->has_err_truncated = TRUE;
		ret->err_truncated = status->is_err_truncated;
	}
	*out_ret = g_steal_pointer(&ret);
	return TRUE;
}
