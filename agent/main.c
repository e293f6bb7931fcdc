/* quiesce-agent: process set-up, the main loop, and an orderly exit. */
#include "qa-build-config.h"

#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "config.h"
#include "dispatch.h"
#include "log.h"
#include "main-common.h"
#include "service.h"
#include "session.h"
#include "status.h"

typedef struct {
	GMainLoop *loop;
	const QaConfig *config;
} QaMain;

/* SIGHUP, as daemons take it: reopen the log file (after logrotate moved it) and go on. Never
 * the default action, which would end the agent without thawing. */
static void
qa_main_reopen_log(const QaConfig *config)
{
	g_autoptr(GError) error = NULL;

	if (config->logfile == NULL)
		return;
	if (!qa_log_reopen(config->logfile, &error))
		g_warning("cannot reopen the log file, still writing to the old one: %s",
			  error->message);
	else
		g_message("reopened the log file on SIGHUP");
}

static gboolean
qa_main_signal_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	QaMain *self = user_data;
	struct signalfd_siginfo info;

	while (read(fd, &info, sizeof(info)) == sizeof(info)) {
		if (info.ssi_signo == SIGHUP) {
			qa_main_reopen_log(self->config);
		} else {
			g_message("received %s, shutting down", g_strsignal(info.ssi_signo));
			g_main_loop_quit(self->loop);
		}
	}
	return G_SOURCE_CONTINUE;
}

/* The signals that end or steer the agent, read from a signalfd in the main loop rather than
 * through g_unix_signal_add, which starts GLib's hidden worker thread for them. main() blocks
 * them in every thread before any exists, so one that arrives during start-up waits here. */
static void
qa_main_steering_signals(sigset_t *mask)
{
	sigemptyset(mask);
	sigaddset(mask, SIGTERM);
	sigaddset(mask, SIGINT);
	sigaddset(mask, SIGHUP);
}

static gboolean
qa_main_watch_signals(QaMain *self, GError **error)
{
	sigset_t mask;
	gint fd;

	qa_main_steering_signals(&mask);
	fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0) {
		g_set_error(error,
			    G_FILE_ERROR,
			    g_file_error_from_errno(errno),
			    "cannot watch SIGTERM, SIGINT and SIGHUP: signalfd: %s",
			    g_strerror(errno));
		return FALSE;
	}
	/* lives as long as the process: the loop it belongs to is never left for another */
	g_unix_fd_add(fd, G_IO_IN, qa_main_signal_cb, self);
	return TRUE;
}

static QaRoots *
qa_main_roots_new(const QaConfig *config)
{
	QaRoots *roots = qa_roots_new_default();

	if (config->mountinfo != NULL) {
		g_free(roots->mountinfo);
		roots->mountinfo = g_strdup(config->mountinfo);
	}
	roots->confine = g_strdup(config->confine_mounts);
	return roots;
}

static gint
qa_main_run(QaConfig *config, gint activated_fd)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(QaAgent) agent = NULL;
	g_autoptr(GMainLoop) loop = NULL;
	QaSession *session;
	QaMain self = {0};

	if (config->logfile != NULL && !qa_log_set_file(config->logfile, &error)) {
		g_printerr("quiesce-agent: %s\n", error->message);
		return EXIT_FAILURE;
	}
	if (config->daemonize && !qa_service_daemonize(&error)) {
		g_printerr("quiesce-agent: %s\n", error->message);
		return EXIT_FAILURE;
	}
	/* before anything a supervisor can see (pidfile, socket): from then on SIGTERM means an
	 * orderly shutdown, never the default death */
	loop = g_main_loop_new(NULL, FALSE);
	self.loop = loop;
	self.config = config;
	if (!qa_main_watch_signals(&self, &error)) {
		g_critical("%s", error->message);
		return EXIT_FAILURE;
	}
	if (config->pidfile != NULL && !qa_service_write_pidfile(config->pidfile, &error)) {
		g_critical("%s", error->message);
		return EXIT_FAILURE;
	}
	if (g_mkdir_with_parents(config->statedir, 0700) < 0) {
		g_critical(
		    "cannot create state directory '%s': %s", config->statedir, g_strerror(errno));
		qa_service_remove_pidfile(config->pidfile);
		return EXIT_FAILURE;
	}
	agent = qa_agent_new(config, qa_main_roots_new(config), &error);
	if (agent == NULL) {
		g_critical("%s", error->message);
		qa_service_remove_pidfile(config->pidfile);
		return EXIT_FAILURE;
	}
	session = qa_session_new(agent, config->method, config->path, activated_fd, &error);
	if (session == NULL) {
		g_critical("%s", error->message);
		qa_service_remove_pidfile(config->pidfile);
		return EXIT_FAILURE;
	}
	g_message("quiesce-agent %s ready", QA_VERSION);
	qa_service_notify("READY=1");
	g_main_loop_run(self.loop);

	qa_service_notify("STOPPING=1");
	if (!qa_main_finish(agent, session))
		g_steal_pointer(&agent);
	qa_service_remove_pidfile(config->pidfile);
	g_message("quiesce-agent stopped");
	return EXIT_SUCCESS;
}

int
main(int argc, char **argv)
{
	g_autoptr(QaConfig) config = qa_config_new_default();
	g_autoptr(GError) error = NULL;
	gint activated_fd = -1;
	gint exit_code;
	QaConfigAction action = QA_CONFIG_ACTION_RUN;
	sigset_t mask;

	/* before any thread exists, so every thread inherits it: these are read from signalfds
	 * in the main loop (SIGIO by the virtio-serial channel, the rest by qa_main_run); a host
	 * that goes away must not kill us with SIGPIPE */
	qa_main_steering_signals(&mask);
	sigaddset(&mask, SIGIO);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (!qa_main_parse_args(config, &argc, &argv, &action, &exit_code))
		return exit_code;
	/* offline: they read the state directory and never need a channel */
	if (action == QA_CONFIG_ACTION_STATUS)
		return qa_status_run(config);
	if (action == QA_CONFIG_ACTION_EMERGENCY_THAW) {
		g_autoptr(QaRoots) roots = qa_main_roots_new(config);
		return qa_status_emergency_thaw(config, roots);
	}
	if (!qa_service_get_activated_fd(&activated_fd, &error) ||
	    !qa_config_validate(config, activated_fd < 0, &error)) {
		g_printerr("quiesce-agent: %s\n", error->message);
		return QA_EXIT_USAGE;
	}
	return qa_main_run(config, activated_fd);
}
