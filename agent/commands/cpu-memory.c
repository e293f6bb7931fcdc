/* guest-get-vcpus, guest-set-vcpus, guest-get-memory-blocks, guest-set-memory-blocks,
 * guest-get-memory-block-info, guest-get-cpustats, guest-get-diskstats: not implemented yet. */
#include "agent.h"
#include "qa-error.h"
#include "qa-schema.h"

gboolean
qa_cmd_guest_get_vcpus(QaAgent *agent, GPtrArray **out_ret, GError **error)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "%s is not implemented yet",
		    "guest-get-vcpus");
	return FALSE;
}

gboolean
qa_cmd_guest_set_vcpus(QaAgent *agent,
		       const QaGuestSetVcpusArgs *args,
		       gint64 *out_ret,
		       GError **error)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "%s is not implemented yet",
		    "guest-set-vcpus");
	return FALSE;
}

gboolean
qa_cmd_guest_get_memory_blocks(QaAgent *agent, GPtrArray **out_ret, GError **error)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "%s is not implemented yet",
		    "guest-get-memory-blocks");
	return FALSE;
}

gboolean
qa_cmd_guest_set_memory_blocks(QaAgent *agent,
			       const QaGuestSetMemoryBlocksArgs *args,
			       GPtrArray **out_ret,
			       GError **error)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "%s is not implemented yet",
		    "guest-set-memory-blocks");
	return FALSE;
}

gboolean
qa_cmd_guest_get_memory_block_info(QaAgent *agent, QaGuestMemoryBlockInfo **out_ret, GError **error)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "%s is not implemented yet",
		    "guest-get-memory-block-info");
	return FALSE;
}

gboolean
qa_cmd_guest_get_cpustats(QaAgent *agent, GPtrArray **out_ret, GError **error)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "%s is not implemented yet",
		    "guest-get-cpustats");
	return FALSE;
}

gboolean
qa_cmd_guest_get_diskstats(QaAgent *agent, GPtrArray **out_ret, GError **error)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "%s is not implemented yet",
		    "guest-get-diskstats");
	return FALSE;
}
