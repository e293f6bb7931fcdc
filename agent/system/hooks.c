#include "hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "autocleanups.h"
#include "child.h"
#include "qa-error.h"

/* a hook that prints more than this keeps only its tail: the last line is what gets reported */
#define QA_HOOK_OUTPUT_MAX (64 * 1024)

/* A directory through which the hook is looked up must not let anyone but root (or the agent's
 * own user) replace what it holds. A sticky directory (/tmp) is fine: there only the owner of an
 * entry may rename or remove it, and every entry on the way is checked too. */
static gboolean
qa_hook_check_dir(const gchar *hook, const gchar *dir, GError **error)
{
	struct stat st;

	if (stat(dir, &st) != 0) {
		g_set_error(
		    error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_NOT_FOUND,
		    "The fsfreeze hook '%s' cannot be used: cannot read its directory '%s': "
		    "%s.",
		    hook,
		    dir,
		    g_strerror(errno));
		return FALSE;
	}
	if ((st.st_uid != 0 && st.st_uid != geteuid()) ||
	    ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0)) {
		g_set_error(
		    error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_INVALID,
		    "The fsfreeze hook '%s' is in a directory that users other than root can "
		    "modify: '%s' (owner uid %u, mode %04o); expected every directory on "
		    "the way owned by root and without group or other write permission.",
		    hook,
		    dir,
		    (guint)st.st_uid,
		    (guint)(st.st_mode & 07777));
		return FALSE;
	}
	return TRUE;
}

/* pushes the components of @text on the stack @todo so that the first one is popped first */
static void
qa_hook_push_components(GPtrArray *todo, const gchar *text)
{
	g_auto(GStrv) parts = g_strsplit(text, "/", -1);

	for (guint i = g_strv_length(parts); i > 0; i--)
		g_ptr_array_add(todo, g_strdup(parts[i - 1]));
}

/* Follows @path the way the kernel will when the hook is run, checking every directory a name
 * is looked up in, including those that symbolic links lead through. */
static gboolean
qa_hook_check_dirs(const gchar *path, GError **error)
{
	g_autofree gchar *cwd = g_path_is_absolute(path) ? NULL : g_get_current_dir();
	g_autofree gchar *abs = g_build_filename(cwd != NULL ? cwd : "/", path, NULL);
	g_autoptr(GPtrArray) todo = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GString) dir = g_string_new("/");
	guint n_links = 0;

	qa_hook_push_components(todo, abs);
	while (todo->len > 0) {
		g_autofree gchar *name = g_ptr_array_steal_index(todo, todo->len - 1);
		g_autofree gchar *next = NULL;
		g_autofree gchar *target = NULL;
		struct stat st;

		if (name[0] == '\0' || g_strcmp0(name, ".") == 0)
			continue;
		if (g_strcmp0(name, "..") == 0) {
			/* @dir is resolved already, so its parent is a plain string operation */
			g_autofree gchar *parent = g_path_get_dirname(dir->str);
			g_string_assign(dir, parent);
			continue;
		}
		if (!qa_hook_check_dir(path, dir->str, error))
			return FALSE;
		next = g_build_filename(dir->str, name, NULL);
		if (lstat(next, &st) != 0 || !S_ISLNK(st.st_mode)) {
			g_string_assign(dir, next);
			continue;
		}
		target = g_file_read_link(next, NULL);
		if (target == NULL || ++n_links > 40) {
			g_set_error(error,
				    QA_SYSTEM_ERROR,
				    QA_SYSTEM_ERROR_INVALID,
				    "The fsfreeze hook '%s' cannot be used: cannot follow the link "
				    "'%s'.",
				    path,
				    next);
			return FALSE;
		}
		if (g_path_is_absolute(target))
			g_string_assign(dir, "/");
		qa_hook_push_components(todo, target);
	}
	return TRUE;
}

gboolean
qa_hook_check(const gchar *path, GError **error)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_NOT_FOUND,
			    "The fsfreeze hook '%s' cannot be used: %s.",
			    path,
			    g_strerror(errno));
		return FALSE;
	}
	if (!S_ISREG(st.st_mode) || access(path, X_OK) != 0) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_INVALID,
			    "The fsfreeze hook '%s' is not an executable regular file.",
			    path);
		return FALSE;
	}
	if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_INVALID,
			    "The fsfreeze hook '%s' is writable by users other than root "
			    "(owner uid %u, mode %04o); expected owner root and no group or other "
			    "write permission.",
			    path,
			    (guint)st.st_uid,
			    (guint)(st.st_mode & 07777));
		return FALSE;
	}
	return qa_hook_check_dirs(path, error);
}

static void
qa_hook_log_output(const gchar *path, const gchar *action, const gchar *output)
{
	g_auto(GStrv) lines = g_strsplit(output, "\n", -1);

	for (guint i = 0; lines[i] != NULL; i++) {
		if (lines[i][0] == '\0')
			continue;
		g_message("fsfreeze hook=%s action=%s output=%s", path, action, lines[i]);
	}
}

QaHookRun *
qa_hook_run_new(const gchar *action)
{
	QaHookRun *run = g_new0(QaHookRun, 1);

	run->action = g_strdup(action);
	run->exit_status = -1;
	return run;
}

QaHookRun *
qa_hook_run_copy(const QaHookRun *run)
{
	QaHookRun *copy = g_new0(QaHookRun, 1);

	*copy = *run;
	copy->action = g_strdup(run->action);
	copy->last_line = g_strdup(run->last_line);
	copy->error = g_strdup(run->error);
	return copy;
}

void
qa_hook_run_free(QaHookRun *run)
{
	if (run == NULL)
		return;
	g_free(run->action);
	g_free(run->last_line);
	g_free(run->error);
	g_free(run);
}

/* how the child ended, into @run */
static void
qa_hook_record_end(QaHookRun *run, const QaChildResult *result, gint64 start)
{
	run->duration_us = g_get_monotonic_time() - start;
	run->is_timed_out = !result->has_exited;
	if (result->has_exited && WIFEXITED(result->wait_status))
		run->exit_status = WEXITSTATUS(result->wait_status);
	if (result->has_exited && WIFSIGNALED(result->wait_status))
		run->signal = WTERMSIG(result->wait_status);
	run->last_line = qa_child_last_line(result->output);
}

gboolean
qa_hook_run(const gchar *path,
	    const gchar *action,
	    guint timeout_ms,
	    gchar **out_output,
	    QaHookRun **out_run,
	    GError **error)
{
	const gchar *argv[] = {path, action, NULL};
	const QaChildSpec spec = {
	    .argv = argv,
	    .is_stdout_captured = TRUE,
	    .timeout_ms = timeout_ms,
	    .output_max = QA_HOOK_OUTPUT_MAX,
	};
	QaChildResult result;
	g_autoptr(QaHookRun) run = qa_hook_run_new(action);
	g_autofree gchar *how = NULL;
	g_autoptr(GError) error_local = NULL;
	g_autoptr(GError) error_child = NULL;
	gint64 start = g_get_monotonic_time();

	run->started_at = g_get_real_time();
	if (!qa_child_run(&spec, &result, &error_child)) {
		g_set_error(&error_local,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot run the fsfreeze hook '%s %s': %s.",
			    path,
			    action,
			    error_child->message);
	} else {
		qa_hook_log_output(path, action, result.output);
		qa_hook_record_end(run, &result, start);
		how = qa_child_describe_end(&spec, &result);
		if (out_output != NULL)
			*out_output = g_strdup(result.output);
		qa_child_result_clear(&result);
	}
	if (how != NULL)
		g_set_error(&error_local,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "The fsfreeze hook '%s %s' %s; its last output line: %s",
			    path,
			    action,
			    how,
			    run->last_line != NULL ? run->last_line : "(no output)");
	if (error_local != NULL)
		run->error = g_strdup(error_local->message);
	if (out_run != NULL)
		*out_run = g_steal_pointer(&run);
	if (error_local == NULL)
		return TRUE;
	g_propagate_error(error, g_steal_pointer(&error_local));
	return FALSE;
}
