/* The agent object on Windows: the VSS freezer instead of the Linux one; no storage roots. */
#include "agent.h"
#include "file-handles.h"
#include "freezer-win32.h"
#include "load-win32.h"
#include "log.h"
#include "process.h"
#include "system-win32.h"
#include "vss-win32.h"

QaAgent *
qa_agent_new(const QaConfig *config, QaRoots *roots, GError **error)
{
	QaAgent *agent = g_new0(QaAgent, 1);
	const QaFreezerOptions options = {
	    .ops = qa_vss_get_ops(),
	    .ops_data = qa_vss_new(),
	    .ops_data_free = (GDestroyNotify)qa_vss_free,
	    .log_hold = qa_log_hold,
	    .log_release = qa_log_release,
	};

	agent->config = config;
	agent->roots = roots;
	agent->freezer = qa_freezer_new(&options);
	agent->win_ops = qa_win_sys_get_real_ops();
	agent->files = qa_file_handles_new();
	agent->processes = qa_process_table_new(NULL);
	return agent;
}

void
qa_agent_free(QaAgent *agent)
{
	if (agent == NULL)
		return;
	qa_win_load_free(agent->load);
	qa_process_table_free(agent->processes);
	qa_file_handles_free(agent->files);
	qa_freezer_free(agent->freezer);
	g_free(agent);
}
