#include "status.h"

#include <stdio.h>
#include <string.h>

#include "freezer.h"

/* "2026-12-03T10:00:00Z" */
static gchar *
qa_status_time(gint64 realtime_us)
{
	g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(realtime_us / G_USEC_PER_SEC);

	if (realtime_us <= 0 || dt == NULL)
		return g_strdup("an unknown time");
	return g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ");
}

/* "3 min 2 s" */
static gchar *
qa_status_span(gint64 us)
{
	gint64 s = ABS(us) / G_USEC_PER_SEC;

	if (s >= 3600)
		return g_strdup_printf(
		    "%" G_GINT64_FORMAT " h %" G_GINT64_FORMAT " min", s / 3600, s % 3600 / 60);
	if (s >= 60)
		return g_strdup_printf(
		    "%" G_GINT64_FORMAT " min %" G_GINT64_FORMAT " s", s / 60, s % 60);
	return g_strdup_printf("%" G_GINT64_FORMAT " s", s);
}

/* "at 2026-12-03T10:00:00Z (12 s ago)" */
static void
qa_status_append_when(GString *out, gint64 at, gint64 now_real)
{
	g_autofree gchar *when = qa_status_time(at);
	g_autofree gchar *span = qa_status_span(now_real - at);

	if (at <= 0) {
		g_string_append(out, "at an unknown time");
		return;
	}
	g_string_append_printf(
	    out, "at %s (%s %s)", when, span, at <= now_real ? "ago" : "from now");
}

static void
qa_status_append_list(GString *out, const gchar *const *items)
{
	for (guint i = 0; items != NULL && items[i] != NULL; i++)
		g_string_append_printf(out, "%s%s", i > 0 ? ", " : "", items[i]);
}

static void
qa_status_append_hook(GString *out, const QaHookRun *run)
{
	g_string_append_printf(out, "  hook '%s': ", run->action);
	if (run->is_timed_out)
		g_string_append(out, "killed when it timed out");
	else if (run->signal > 0)
		g_string_append_printf(out, "killed by signal %d", run->signal);
	else if (run->exit_status >= 0)
		g_string_append_printf(out, "exit status %d", run->exit_status);
	else
		g_string_append(out, "did not run");
	g_string_append_printf(out, " after %.1f ms", run->duration_us / 1000.0);
	if (run->last_line != NULL)
		g_string_append_printf(out, "; last line: %s", run->last_line);
	g_string_append_c(out, '\n');
}

static void
qa_status_append_frozen(GString *out, const QaState *state, gint64 now_real, gint64 now_mono)
{
	if (state->filesystems->len == 0) {
		g_string_append(out, "Frozen: nothing\n");
	} else {
		g_string_append_printf(out,
				       "Frozen: %u filesystem%s%s\n",
				       state->filesystems->len,
				       state->filesystems->len == 1 ? "" : "s",
				       state->is_complete ? "" : " (a freeze was in progress)");
	}
	for (guint i = 0; i < state->filesystems->len; i++) {
		const QaStateFs *fs = g_ptr_array_index(state->filesystems, i);

		g_string_append_printf(out,
				       "  %s (%s, %u:%u), frozen ",
				       fs->mountpoints[0] != NULL ? fs->mountpoints[0] : "?",
				       fs->fstype != NULL ? fs->fstype : "?",
				       fs->major,
				       fs->minor);
		qa_status_append_when(out, fs->frozen_at, now_real);
		if (fs->serial != 0)
			g_string_append_printf(out, " by freeze call #%u", fs->serial);
		g_string_append_c(out, '\n');
	}
	if (state->deadline > 0) {
		g_string_append(out, "Auto-thaw: ");
		qa_status_append_when(out, now_real + (state->deadline - now_mono), now_real);
		g_string_append_c(out, '\n');
	}
	if (state->is_hook_pending)
		g_string_append(out, "Thaw hook: owed (the freeze hook ran; the thaw runs it)\n");
	if (state->auto_thawed_at != 0) {
		g_string_append(out, "Unreported thaw: ");
		qa_status_append_when(out, state->auto_thawed_at, now_real);
		g_string_append(out, "; the host's next guest-fsfreeze-thaw fails saying so\n");
	}
}

static void
qa_status_append_freeze(GString *out, const QaFreezeOutcome *call, gint64 now_real)
{
	g_string_append_printf(
	    out, "Last freeze: call #%u, %s, started ", call->serial, call->command);
	qa_status_append_when(out, call->started_at, now_real);
	if (call->ended_at == 0)
		g_string_append(out, ", not ended\n");
	else if (call->is_success)
		g_string_append_printf(out, ": froze %u\n", call->count);
	else
		g_string_append_printf(out, ": failed: %s\n", call->error);
	if (call->mountpoints != NULL) {
		g_string_append(out, "  named mountpoints: ");
		qa_status_append_list(out, (const gchar *const *)call->mountpoints);
		g_string_append_c(out, '\n');
	}
	for (guint i = 0; call->disks != NULL && i < call->disks->len; i++) {
		const QaFreezeOutcomeDisk *disk = g_ptr_array_index(call->disks, i);
		g_string_append_printf(out, "  named disk {%s}: caught ", disk->selector);
		if (disk->mountpoints == NULL || disk->mountpoints[0] == NULL)
			g_string_append(out, "nothing");
		qa_status_append_list(out, (const gchar *const *)disk->mountpoints);
		g_string_append_c(out, '\n');
	}
	g_string_append_printf(out,
			       "  took %.1f ms to prepare, %.1f ms to flush, %.1f ms to freeze",
			       call->prepare_us / 1000.0,
			       call->flush_us / 1000.0,
			       call->freeze_us / 1000.0);
	if (call->dirty_kib >= 0)
		g_string_append_printf(
		    out, "; %" G_GINT64_FORMAT " KiB dirty before", call->dirty_kib);
	g_string_append_c(out, '\n');
	for (guint i = 0; i < call->filesystems->len; i++) {
		const QaFreezeOutcomeFs *fs = g_ptr_array_index(call->filesystems, i);
		g_string_append_printf(out,
				       "  %s: %s",
				       fs->mountpoints[0] != NULL ? fs->mountpoints[0] : "?",
				       qa_freeze_outcome_result_to_string(fs->result));
		if (fs->detail != NULL)
			g_string_append_printf(out, ": %s", fs->detail);
		if (fs->other_disks != NULL && fs->other_disks->len > 0)
			g_string_append_printf(
			    out, " (also on %u disks not named)", fs->other_disks->len);
		g_string_append_c(out, '\n');
	}
	for (guint i = 0; i < call->hooks->len; i++)
		qa_status_append_hook(out, g_ptr_array_index(call->hooks, i));
}

static void
qa_status_append_thaw(GString *out, const QaFreezeOutcomeThaw *thaw, gint64 now_real)
{
	g_string_append_printf(out, "Last thaw: by %s, ", qa_freeze_outcome_by_to_string(thaw->by));
	qa_status_append_when(out, thaw->at, now_real);
	g_string_append_printf(out, ": thawed %u, %u left frozen\n", thaw->count, thaw->n_left);
	for (guint i = 0; thaw->errors != NULL && thaw->errors[i] != NULL; i++)
		g_string_append_printf(out, "  error: %s\n", thaw->errors[i]);
	if (thaw->hook != NULL)
		qa_status_append_hook(out, thaw->hook);
}

gchar *
qa_status_format(const QaState *state,
		 const gchar *statedir,
		 const gchar *agent,
		 gint64 now_real,
		 gint64 now_mono)
{
	g_autoptr(GString) out = g_string_new(NULL);

	g_string_append_printf(out, "State directory: %s\n", statedir);
	if (state->damage != NULL)
		g_string_append_printf(out, "Damaged: %s; anything may be frozen\n", state->damage);
	g_string_append_printf(out, "Agent: %s\n", agent);
	qa_status_append_frozen(out, state, now_real, now_mono);
	if (state->last_freeze != NULL)
		qa_status_append_freeze(out, state->last_freeze, now_real);
	if (state->last_thaw != NULL)
		qa_status_append_thaw(out, state->last_thaw, now_real);
	if (state->filesystems->len > 0 || state->is_hook_pending)
		g_string_append(out,
				"To thaw from here: quiesce-agent --emergency-thaw (with this "
				"configuration)\n");
	return g_strdup(out->str);
}

/* whether the command line (NUL-separated) runs the agent, also under a wrapper (valgrind) */
static gboolean
qa_status_is_agent(const gchar *cmdline, gsize len)
{
	for (const gchar *arg = cmdline; arg < cmdline + len; arg += strlen(arg) + 1) {
		g_autofree gchar *base = g_path_get_basename(arg);
		if (g_str_has_prefix(base, "quiesce-agent"))
			return TRUE;
	}
	return FALSE;
}

gchar *
qa_status_describe_agent(gint pid)
{
	g_autofree gchar *stat_path = g_strdup_printf("/proc/%d/stat", pid);
	g_autofree gchar *cmdline_path = g_strdup_printf("/proc/%d/cmdline", pid);
	g_autofree gchar *stat = NULL;
	g_autofree gchar *cmdline = NULL;
	gsize len = 0;
	const gchar *end;

	if (pid <= 0)
		return g_strdup("unknown (no agent recorded this state)");
	if (!g_file_get_contents(stat_path, &stat, NULL, NULL) ||
	    !g_file_get_contents(cmdline_path, &cmdline, &len, NULL))
		return g_strdup_printf("pid %d, not running", pid);
	end = strrchr(stat, ')');
	if (!qa_status_is_agent(cmdline, len))
		return g_strdup_printf("pid %d, not running (that pid is now '%s')", pid, cmdline);
	if (end == NULL || end[1] != ' ')
		return g_strdup_printf("pid %d, running", pid);
	switch (end[2]) {
	case 'T':
	case 't':
		return g_strdup_printf(
		    "pid %d, stopped (SIGSTOP or a debugger): it answers nothing "
		    "and its watchdog cannot thaw",
		    pid);
	case 'D':
		return g_strdup_printf(
		    "pid %d, waiting in the kernel (uninterruptible): maybe in a "
		    "FIFREEZE or a write to a frozen filesystem",
		    pid);
	case 'Z':
	case 'X':
		return g_strdup_printf("pid %d, exited", pid);
	default:
		return g_strdup_printf("pid %d, running", pid);
	}
}

static gint
qa_status_print(const gchar *statedir, QaState *state)
{
	g_autofree gchar *agent = qa_status_describe_agent(state->pid);
	g_autofree gchar *text =
	    qa_status_format(state, statedir, agent, g_get_real_time(), g_get_monotonic_time());

	fputs(text, stdout);
	fflush(stdout);
	if (state->damage != NULL)
		return QA_STATUS_EXIT_UNREADABLE;
	return state->filesystems->len > 0 || state->is_hook_pending ? QA_STATUS_EXIT_FROZEN
								     : QA_STATUS_EXIT_THAWED;
}

gint
qa_status_run(const QaConfig *config)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(QaState) state = qa_state_file_load(config->statedir, &error);

	if (state == NULL) {
		g_printerr("quiesce-agent: %s\n", error->message);
		return QA_STATUS_EXIT_UNREADABLE;
	}
	return qa_status_print(config->statedir, state);
}

gint
qa_status_emergency_thaw(const QaConfig *config, QaRoots *roots)
{
	const QaFreezerOptions options = {
	    .roots = roots,
	    .statedir = config->statedir,
	    .hook = config->fsfreeze_hook,
	    .hook_timeout_ms = config->fsfreeze_hook_timeout * 1000,
	    .exclude_mountpoints = config->fsfreeze_exclude_mountpoints,
	    .exclude_types = config->fsfreeze_exclude_types,
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(QaState) state = NULL;
	gboolean is_thawed;
	guint count = 0;

	is_thawed = qa_freezer_emergency_thaw(&options, &count, &error);
	if (is_thawed)
		g_print("Thawed %u filesystem%s.\n", count, count == 1 ? "" : "s");
	else
		g_printerr("quiesce-agent: %s\n", error->message);
	g_clear_error(&error);
	state = qa_state_file_load(config->statedir, &error);
	if (state != NULL)
		qa_status_print(config->statedir, state);
	return is_thawed ? EXIT_SUCCESS : EXIT_FAILURE;
}
