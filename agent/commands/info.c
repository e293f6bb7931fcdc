/* guest-info: the version and every command of the schema, with whether it is enabled. */
#include "agent.h"
#include "qa-build-config.h"
#include "qa-schema.h"

gboolean
qa_cmd_guest_info(QaAgent *agent, QaGuestAgentInfo **out_ret, GError **error)
{
	g_autoptr(QaGuestAgentInfo) info = qa_guest_agent_info_new();

	info->version = g_strdup(QA_VERSION);
	info->supported_commands = qa_guest_agent_command_info_list_new();
	for (guint i = 0; i < qa_schema_n_commands; i++) {
		const QaCommandDef *def = &qa_schema_commands[i];
		QaGuestAgentCommandInfo *cmd = qa_guest_agent_command_info_new();

		cmd->name = g_strdup(def->name);
		cmd->enabled = qa_config_is_command_enabled(agent->config, def->name);
		cmd->success_response = def->success_response;
		g_ptr_array_add(info->supported_commands, cmd);
	}
	*out_ret = g_steal_pointer(&info);
	return TRUE;
}
