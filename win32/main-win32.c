/* quiesce-agent.exe: options, the service or the console, the main loop, an orderly exit.
 *
 *   quiesce-agent.exe [options]                 run in the console (Ctrl-C stops it)
 *   quiesce-agent.exe -s install [options]      install the service that runs with [options]
 *   quiesce-agent.exe -s uninstall              stop (thawing what it holds) and remove it
 *   quiesce-agent.exe -d [options]              what the service manager starts
 *
 * On stop, from the service manager or Ctrl-C: thaw whatever is frozen, then exit. */
#include "qa-build-config.h"

#include <stdio.h>
#include <windows.h>

#include "agent.h"
#include "config.h"
#include "dispatch.h"
#include "log.h"
#include "main-common.h"
#include "service-win32.h"
#include "session.h"

typedef struct {
	QaConfig *config;
	GMainLoop *loop;
	gboolean is_service;
} QaMain;

static QaMain qa_main;

static gboolean
qa_main_quit_cb(gpointer user_data)
{
	g_message("stop requested, shutting down");
	g_main_loop_quit(qa_main.loop);
	return G_SOURCE_REMOVE;
}

/* any thread: the service manager's, or the console's control handler thread */
static void
qa_main_request_stop(gpointer user_data)
{
	g_idle_add(qa_main_quit_cb, NULL);
}

static BOOL WINAPI
qa_main_console_ctrl(DWORD type)
{
	switch (type) {
	case CTRL_C_EVENT:
	case CTRL_BREAK_EVENT:
	case CTRL_CLOSE_EVENT:
	case CTRL_SHUTDOWN_EVENT:
		qa_main_request_stop(NULL);
		return TRUE;
	default:
		return FALSE;
	}
}

static gint
qa_main_run(gpointer user_data)
{
	QaConfig *config = qa_main.config;
	g_autoptr(GError) error = NULL;
	g_autoptr(QaAgent) agent = NULL;
	QaSession *session;

	/* a service has no console: its log goes to a file outside any volume it freezes
	 * (lines are held in memory while a freeze holds I/O) */
	if (config->logfile == NULL && qa_main.is_service) {
		g_mkdir_with_parents(QA_SYSCONFDIR, 0755);
		config->logfile = g_build_filename(QA_SYSCONFDIR, "quiesce-agent.log", NULL);
	}
	if (config->logfile != NULL && !qa_log_set_file(config->logfile, &error)) {
		g_printerr("quiesce-agent: %s\n", error->message);
		return EXIT_FAILURE;
	}
	if (config->pidfile != NULL)
		g_warning("pidfile=%s ignored: the service manager tracks the agent on Windows",
			  config->pidfile);
	if (config->fsfreeze_hook != NULL)
		g_warning("fsfreeze-hook=%s ignored: VSS writers are how Windows applications "
			  "take part in a freeze",
			  config->fsfreeze_hook);
	agent = qa_agent_new(config, NULL, &error);
	session = qa_session_new(agent, config->method, config->path, -1, &error);
	if (session == NULL) {
		g_critical("%s", error->message);
		return EXIT_FAILURE;
	}
	qa_main.loop = g_main_loop_new(NULL, FALSE);
	g_message("quiesce-agent %s ready", QA_VERSION);
	qa_service_report_running();
	g_main_loop_run(qa_main.loop);

	if (!qa_main_finish(agent, session))
		g_steal_pointer(&agent);
	g_main_loop_unref(qa_main.loop);
	g_message("quiesce-agent stopped");
	return EXIT_SUCCESS;
}

/* takes "-s ACTION" / "--service ACTION" / "--service=ACTION" out of @argv */
static gchar *
qa_main_take_service_action(gint *argc, gchar **argv)
{
	gchar *action = NULL;
	gint out = 1;

	for (gint i = 1; i < *argc; i++) {
		if ((g_strcmp0(argv[i], "-s") == 0 || g_strcmp0(argv[i], "--service") == 0) &&
		    i + 1 < *argc) {
			action = argv[++i];
			continue;
		}
		if (g_str_has_prefix(argv[i], "--service=")) {
			action = argv[i] + strlen("--service=");
			continue;
		}
		argv[out++] = argv[i];
	}
	argv[out] = NULL;
	*argc = out;
	return action;
}

static gint
qa_main_service_action(const gchar *action, gchar **args)
{
	g_autoptr(GError) error = NULL;
	gboolean ok;

	if (g_strcmp0(action, "install") == 0) {
		ok = qa_service_install(args, &error);
	} else if (g_strcmp0(action, "uninstall") == 0) {
		ok = qa_service_uninstall(&error);
	} else {
		g_printerr("quiesce-agent: unknown service action '%s'; expected install or "
			   "uninstall\n",
			   action);
		return QA_EXIT_USAGE;
	}
	if (!ok) {
		g_printerr("quiesce-agent: %s\n", error->message);
		return EXIT_FAILURE;
	}
	g_print("service %s %s\n",
		QA_SERVICE_NAME,
		g_strcmp0(action, "install") == 0 ? "installed" : "uninstalled");
	return EXIT_SUCCESS;
}

int
main(int argc_ansi, char **argv_ansi)
{
	g_autoptr(QaConfig) config = qa_config_new_default();
	g_autoptr(GError) error = NULL;
	gint exit_code;
	/* the command line in UTF-8, not the ANSI code page */
	gchar **argv = g_win32_get_command_line();
	gint argc = (gint)g_strv_length(argv);
	g_auto(GStrv) install_args = NULL;
	const gchar *action;
	QaConfigAction config_action = QA_CONFIG_ACTION_RUN;

	action = qa_main_take_service_action(&argc, argv);
	if (action != NULL && g_strcmp0(action, "install") == 0)
		install_args = g_strdupv(argv + 1);
	if (!qa_main_parse_args(config, &argc, &argv, &config_action, &exit_code))
		return exit_code;
	if (config_action != QA_CONFIG_ACTION_RUN) {
		g_printerr("quiesce-agent: --status and --emergency-thaw are for Linux guests; on "
			   "Windows, VSS ends a snapshot set itself\n");
		return QA_EXIT_USAGE;
	}
	if (!qa_config_validate(config, TRUE, &error)) {
		g_printerr("quiesce-agent: %s\n", error->message);
		return QA_EXIT_USAGE;
	}
	if (action != NULL)
		return qa_main_service_action(action, install_args);
	qa_main.config = config;
	if (config->daemonize) {
		exit_code = EXIT_FAILURE;
		qa_main.is_service = TRUE;
		if (!qa_service_run(qa_main_run, qa_main_request_stop, NULL, &exit_code, &error)) {
			g_printerr("quiesce-agent: %s\n", error->message);
			return EXIT_FAILURE;
		}
		return exit_code;
	}
	SetConsoleCtrlHandler(qa_main_console_ctrl, TRUE);
	return qa_main_run(NULL);
}
