/* What main.c and win32/main-win32.c do alike: how the agent reads its command line and
 * configuration, and how it ends. Main thread only. */
#pragma once

#include <glib.h>

#include "agent.h"
#include "config.h"
#include "session.h"

#define QA_EXIT_USAGE 2 /* bad command line or configuration */

/* Reads the command line and the configuration file it names into @config, answers --version
 * and --dump-conf on stdout, and sets the log's verbosity. FALSE when main is done and returns
 * *out_exit_code: a usage error (said on stderr), or an answer printed. Otherwise *out_action
 * says what to do: run the agent, or one of the offline actions (--status). */
gboolean
qa_main_parse_args(
    QaConfig *config, gint *argc, gchar ***argv, QaConfigAction *out_action, gint *out_exit_code);

/* After the main loop: thaws whatever the agent holds frozen, even with a freeze in progress
 * (a guest left frozen is a dead guest), then frees @session. A worker stuck in a hook or a
 * freeze cannot be joined, and it still uses the agent: then @session is left to the process
 * exit and FALSE says that @agent must be left too. */
gboolean
qa_main_finish(QaAgent *agent, QaSession *session);
