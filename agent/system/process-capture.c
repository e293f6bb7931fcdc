/* The parts of process.h that Linux (process.c) and Windows (win32/process-win32.c) share:
 * where each capture mode sends the child's output, how much a full capture holds, its name for
 * log lines, and freeing a status. */
#include "process.h"

QaProcessCapturePlan
qa_process_capture_plan(QaProcessCapture capture)
{
	QaProcessCapturePlan plan = {0};

	switch (capture) {
	case QA_PROCESS_CAPTURE_NONE:
		break;
	case QA_PROCESS_CAPTURE_STDOUT:
		plan.pipes_stdout = TRUE;
		break;
	case QA_PROCESS_CAPTURE_STDERR:
		plan.pipes_stderr = TRUE;
		break;
	case QA_PROCESS_CAPTURE_SEPARATED:
		plan.pipes_stdout = TRUE;
		plan.pipes_stderr = TRUE;
		break;
	case QA_PROCESS_CAPTURE_MERGED:
		plan.pipes_stdout = TRUE;
		plan.merges_stderr = TRUE;
		break;
	}
	return plan;
}

gsize
qa_process_capture_max_bytes(QaProcessCapture capture)
{
	QaProcessCapturePlan plan = qa_process_capture_plan(capture);

	return ((gsize)plan.pipes_stdout + (gsize)plan.pipes_stderr) * QA_PROCESS_OUTPUT_MAX;
}

const gchar *
qa_process_capture_to_string(QaProcessCapture capture)
{
	static const gchar *const names[] = {
	    [QA_PROCESS_CAPTURE_NONE] = "none",
	    [QA_PROCESS_CAPTURE_STDOUT] = "stdout",
	    [QA_PROCESS_CAPTURE_STDERR] = "stderr",
	    [QA_PROCESS_CAPTURE_SEPARATED] = "separated",
	    [QA_PROCESS_CAPTURE_MERGED] = "merged",
	};

	return (guint)capture < G_N_ELEMENTS(names) ? names[capture] : "unknown";
}

void
qa_process_status_free(QaProcessStatus *status)
{
	if (status == NULL)
		return;
	g_clear_pointer(&status->out_data, g_bytes_unref);
	g_clear_pointer(&status->err_data, g_bytes_unref);
	g_free(status);
}
