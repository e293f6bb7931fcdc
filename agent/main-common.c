#include "main-common.h"

#include <stdio.h>

#include "freezer-api.h"
#include "log.h"

gboolean
qa_main_parse_args(
    QaConfig *config, gint *argc, gchar ***argv, QaConfigAction *out_action, gint *out_exit_code)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *print = NULL;

	qa_log_init(FALSE);
	if (!qa_config_parse_args(config, argc, argv, &print, out_action, &error)) {
		g_printerr("quiesce-agent: %s\n", error->message);
		*out_exit_code = QA_EXIT_USAGE;
		return FALSE;
	}
	if (print != NULL) {
		fputs(print, stdout);
		*out_exit_code = EXIT_SUCCESS;
		return FALSE;
	}
	qa_log_init(config->verbose);
	return TRUE;
}

gboolean
qa_main_finish(QaAgent *agent, QaSession *session)
{
	qa_freezer_thaw_for_shutdown(agent->freezer);
	if (qa_session_is_busy(session)) {
		g_message("a command is still running; exiting without waiting for it");
		return FALSE;
	}
	qa_session_free(session);
	return TRUE;
}
