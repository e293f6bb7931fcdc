/* quiesce-agent --status and --emergency-thaw: what an administrator at the guest's console
 * needs when the guest seems stuck, without talking JSON to a port. Both read the state
 * directory only and never ask the agent, so they work with the agent hung (stopped, stuck in a
 * hook or in the kernel) or dead. Linux only. */
#pragma once

#include <glib.h>

#include "config.h"
#include "roots.h"
#include "state-file.h"

/* exit statuses of --status (the command line's usage error is QA_EXIT_USAGE, 2) */
#define QA_STATUS_EXIT_THAWED 0	    /* nothing held frozen */
#define QA_STATUS_EXIT_FROZEN 1	    /* filesystems are held frozen (or the freeze hook's undo) */
#define QA_STATUS_EXIT_UNREADABLE 3 /* the state cannot be read, or is damaged */

/* pure: the report --status prints, from @state as of @now_real (wall clock µs) and @now_mono
 * (CLOCK_MONOTONIC µs, the clock of the state's deadline); @agent describes the agent holding
 * it (qa_status_describe_agent()) */
gchar *
qa_status_format(const QaState *state,
		 const gchar *statedir,
		 const gchar *agent,
		 gint64 now_real,
		 gint64 now_mono);
/* what /proc says of the agent with process id @pid: running, stopped, stuck in the kernel,
 * or gone */
gchar *
qa_status_describe_agent(gint pid);

/* --status: prints the state of @config's state directory; returns the exit status */
gint
qa_status_run(const QaConfig *config);
/* --emergency-thaw: thaws what the state holds (see qa_freezer_emergency_thaw()) with @roots
 * (borrowed), then prints the status; returns the exit status: 0 when nothing stays frozen */
gint
qa_status_emergency_thaw(const QaConfig *config, QaRoots *roots);
