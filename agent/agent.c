#include "agent.h"

#include "blockdev.h"
#include "file-handles.h"
#include "freezer.h"
#include "log.h"
#include "mounts.h"
#include "process.h"

QaAgent *
qa_agent_new(const QaConfig *config, QaRoots *roots, GError **error)
{
	g_autoptr(QaAgent) agent = g_new0(QaAgent, 1);
	/* created on the main thread: guest-exec's processes are watched where its loop runs */
	g_autoptr(GMainContext) main_context = g_main_context_ref_thread_default();
	const QaFreezerOptions options = {
	    .roots = roots,
	    .statedir = config->statedir,
	    .hook = config->fsfreeze_hook,
	    .hook_timeout_ms = config->fsfreeze_hook_timeout * 1000,
	    .auto_thaw_ms = config->fsfreeze_timeout * 1000,
	    .exclude_mountpoints = config->fsfreeze_exclude_mountpoints,
	    .exclude_types = config->fsfreeze_exclude_types,
	    .expedites_rcu = config->fsfreeze_expedite_rcu,
	    .log_hold = qa_log_hold,
	    .log_release = qa_log_release,
	};

	agent->config = config;
	agent->roots = roots;
	agent->mount_table = qa_mount_table_new();
	agent->serials = qa_serial_cache_new();
	agent->disk_serials = qa_serial_cache_new();
	agent->models = qa_model_cache_new();
	agent->processes = qa_process_table_new(main_context);
	agent->files = qa_file_handles_new();
	/* reads the state file: a restarted agent learns what its predecessor left frozen */
	agent->freezer = qa_freezer_new(&options, error);
	if (agent->freezer == NULL) {
		g_prefix_error(error, "cannot start the freezer: ");
		return NULL;
	}
	return g_steal_pointer(&agent);
}

void
qa_agent_free(QaAgent *agent)
{
	if (agent == NULL)
		return;
	qa_freezer_free(agent->freezer);
	qa_mount_table_free(agent->mount_table);
	qa_model_cache_free(agent->models);
	qa_serial_cache_free(agent->serials);
	qa_serial_cache_free(agent->disk_serials);
	qa_process_table_free(agent->processes);
	qa_file_handles_free(agent->files);
	qa_roots_free(agent->roots);
	g_free(agent);
}
