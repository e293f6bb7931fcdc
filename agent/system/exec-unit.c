#include "exec-unit.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "qa-error.h"
#include "qa-fd.h"

/* what PID 1 may put in a service's environment by itself (systemd.exec(5), "Environment
 * Variables Set or Propagated by the Service Manager", and the locale it read at boot): the
 * program gets them only when the host sets them, as it would from a fork of the agent. Names
 * an administrator adds with DefaultEnvironment= cannot be known and do reach it. */
static const gchar *const qa_exec_unit_manager_env[] = {
    "INVOCATION_ID",  "SYSTEMD_EXEC_PID",  "JOURNAL_STREAM", "HOME",
    "USER",	      "LOGNAME",	   "SHELL",	     "TERM",
    "LANG",	      "LANGUAGE",	   "LC_CTYPE",	     "LC_NUMERIC",
    "LC_TIME",	      "LC_COLLATE",	   "LC_MONETARY",    "LC_MESSAGES",
    "LC_PAPER",	      "LC_NAME",	   "LC_ADDRESS",     "LC_TELEPHONE",
    "LC_MEASUREMENT", "LC_IDENTIFICATION", "LC_ALL",	     NULL,
};

gchar **
qa_exec_unit_argv_build(const QaExecUnitSpec *spec)
{
	g_autoptr(GStrvBuilder) argv = g_strv_builder_new();

	g_strv_builder_add(argv, spec->systemd_run);
	/* no "Running as unit" line: systemd-run's stderr is the program's */
	g_strv_builder_add(argv, "--quiet");
	g_strv_builder_add(argv, "--no-ask-password");
	/* the service gets systemd-run's stdin, stdout and stderr: the table's pipes */
	g_strv_builder_add(argv, "--pipe");
	g_strv_builder_add(argv, "--wait");
	/* oneshot: only exit status 0 is success. For other types SIGTERM, SIGINT, SIGHUP and
	 * SIGPIPE count as a clean end, systemd-run exits with 0, and the unit is gone before
	 * anyone can ask how it ended. Its start timeout is off by default; said anyway. */
	g_strv_builder_add(argv, "--service-type=oneshot");
	g_strv_builder_add(argv, "--property=TimeoutStartSec=infinity");
	/* a name the agent knows, to ask how it ended; no --collect, so that a failed unit stays
	 * until it was asked (qa_exec_unit_query_end() unloads it) */
	g_strv_builder_add_many(argv, "--unit", spec->unit, NULL);
	/* the default description is the command line, and arguments may be secrets */
	g_strv_builder_add(argv, "--description=Program run by quiesce-agent's guest-exec");
	g_strv_builder_add(argv, "--working-directory=/");
	/* what the program leaves running outlives it, as it does under QEMU's agent */
	g_strv_builder_add(argv, "--property=KillMode=process");
	/* the service manager's default, said because the agent's own is 0077 */
	g_strv_builder_add(argv, "--property=UMask=0022");
	{
		/* read by PID 1 as a path, never split (the agent names it) */
		g_autofree gchar *property =
		    g_strconcat("--property=EnvironmentFile=", spec->env_file, NULL);

		g_strv_builder_add(argv, property);
	}
	if (spec->unset_env != NULL && spec->unset_env[0] != NULL) {
		g_autofree gchar *names = g_strjoinv(" ", spec->unset_env);
		/* split on spaces by systemd-run: names from the table above only */
		g_autofree gchar *property =
		    g_strconcat("--property=UnsetEnvironment=", names, NULL);

		g_strv_builder_add(argv, property);
	}
	/* systemd-run makes the path argv[0] too (ExecStart= has no other way without parsing
	 * a command line): the host's argv[0] is not passed */
	g_strv_builder_add_many(argv, "--", spec->program, NULL);
	/* PID 1 expands $NAME, ${NAME} and $$ in ExecStart='s arguments (measured: "$$" arrived
	 * as "$"): every '$' doubled arrives as the host sent it */
	for (guint i = 1; spec->argv != NULL && spec->argv[0] != NULL && spec->argv[i] != NULL;
	     i++) {
		g_auto(GStrv) parts = g_strsplit(spec->argv[i], "$", -1);
		g_autofree gchar *escaped = g_strjoinv("$$", parts);

		g_strv_builder_add(argv, escaped);
	}
	return g_strv_builder_end(argv);
}

/* [A-Za-z_][A-Za-z0-9_]*: what systemd accepts as a name (env_name_is_valid()) */
static gboolean
qa_exec_unit_name_is_valid(const gchar *name, gsize len)
{
	if (len == 0 || g_ascii_isdigit(name[0]))
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		if (!g_ascii_isalnum(name[i]) && name[i] != '_')
			return FALSE;
	}
	return TRUE;
}

/* 'value', every ' in it spliced in as '"'"' (the file's parser joins adjacent quoted parts
 * and keeps everything between single quotes as it is, newlines too) */
static void
qa_exec_unit_append_quoted(GString *text, const gchar *value)
{
	g_string_append_c(text, '\'');
	for (const gchar *p = value; *p != '\0'; p++) {
		if (*p == '\'')
			g_string_append(text, "'\"'\"'");
		else
			g_string_append_c(text, *p);
	}
	g_string_append_c(text, '\'');
}

static gboolean
qa_exec_unit_check_entry(guint index, const gchar *entry, gsize name_len, GError **error)
{
	if (!qa_exec_unit_name_is_valid(entry, name_len)) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_INVALID,
			    "Environment entry %u '%.64s' has a name the service manager refuses; "
			    "expected letters, digits and '_', not starting with a digit",
			    index,
			    entry);
		return FALSE;
	}
	if (!g_utf8_validate(entry + name_len + 1, -1, NULL)) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_INVALID,
			    "Environment entry %u '%.*s' has a value that is not UTF-8, which the "
			    "service manager refuses; expected UTF-8 text",
			    index,
			    (gint)MIN(name_len, 64),
			    entry);
		return FALSE;
	}
	return TRUE;
}

gchar *
qa_exec_unit_env_file_build(gchar **envp, gchar ***out_unset, GError **error)
{
	g_autoptr(GString) text = g_string_new(NULL);
	g_autoptr(GHashTable) names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autoptr(GStrvBuilder) unset = g_strv_builder_new();

	for (guint i = 0; envp != NULL && envp[i] != NULL; i++) {
		const gchar *equals = strchr(envp[i], '=');
		gsize name_len = equals != NULL ? (gsize)(equals - envp[i]) : 0;
		gchar *name;

		if (equals == NULL || !qa_exec_unit_check_entry(i, envp[i], name_len, error)) {
			if (equals == NULL)
				g_set_error(error,
					    QA_SYSTEM_ERROR,
					    QA_SYSTEM_ERROR_INVALID,
					    "Environment entry %u '%.64s' is not valid; expected "
					    "NAME=VALUE",
					    i,
					    envp[i]);
			return NULL;
		}
		name = g_strndup(envp[i], name_len);
		if (!g_hash_table_add(names, name))
			continue;
		g_string_append_len(text, envp[i], (gssize)name_len + 1);
		qa_exec_unit_append_quoted(text, equals + 1);
		g_string_append_c(text, '\n');
	}
	for (guint i = 0; qa_exec_unit_manager_env[i] != NULL; i++) {
		if (!g_hash_table_contains(names, qa_exec_unit_manager_env[i]))
			g_strv_builder_add(unset, qa_exec_unit_manager_env[i]);
	}
	*out_unset = g_strv_builder_end(unset);
	return g_string_free(g_steal_pointer(&text), FALSE);
}

/* ExecMainCode is a CLD_* code (waitid()'s si_code), ExecMainStatus the exit status or signal */
gboolean
qa_exec_unit_status_parse(const gchar *text, gint *out_wait_status, GError **error)
{
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	gint64 code = -1;
	gint64 status = -1;

	for (guint i = 0; lines[i] != NULL; i++) {
		const gchar *value = strchr(lines[i], '=');
		gint64 *field = NULL;

		if (g_str_has_prefix(lines[i], "ExecMainCode="))
			field = &code;
		else if (g_str_has_prefix(lines[i], "ExecMainStatus="))
			field = &status;
		if (field != NULL && !g_ascii_string_to_signed(value + 1, 10, 0, 255, field, NULL))
			*field = -1;
	}
	if (status >= 0 && code == CLD_EXITED) {
		*out_wait_status = W_EXITCODE((gint)status, 0);
		return TRUE;
	}
	if (status > 0 && status < 128 && (code == CLD_KILLED || code == CLD_DUMPED)) {
		*out_wait_status = (gint)status | (code == CLD_DUMPED ? WCOREFLAG : 0);
		return TRUE;
	}
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_PARSE,
		    "The unit reports no end of its program (ExecMainCode %" G_GINT64_FORMAT
		    ", ExecMainStatus %" G_GINT64_FORMAT "); expected an exit status or a signal",
		    code,
		    status);
	return FALSE;
}

gchar *
qa_exec_unit_name_new(void)
{
	g_autofree gchar *uuid = g_uuid_string_random();
	g_autoptr(GString) name = g_string_new(QA_EXEC_UNIT_PREFIX);

	for (const gchar *p = uuid; *p != '\0'; p++) {
		if (*p != '-')
			g_string_append_c(name, *p);
	}
	g_string_append(name, ".service");
	return g_string_free(g_steal_pointer(&name), FALSE);
}

gboolean
qa_exec_unit_find_tools(const gchar *systemd_dir,
			const gchar *bus_socket,
			gchar **out_systemd_run,
			gchar **out_systemctl)
{
	g_autofree gchar *systemd_run = NULL;
	g_autofree gchar *systemctl = NULL;

	if (!g_file_test(systemd_dir, G_FILE_TEST_IS_DIR) ||
	    !g_file_test(bus_socket, G_FILE_TEST_EXISTS))
		return FALSE;
	systemd_run = qa_child_find_program(QA_CHILD_ADMIN_PATH, "systemd-run");
	systemctl = qa_child_find_program(QA_CHILD_ADMIN_PATH, "systemctl");
	if (systemd_run == NULL || systemctl == NULL)
		return FALSE;
	*out_systemd_run = g_steal_pointer(&systemd_run);
	*out_systemctl = g_steal_pointer(&systemctl);
	return TRUE;
}

/* What `systemctl show --property=Id` plus @properties printed for @units (ending in NULL), or
 * NULL with @error set when systemctl could not run or did not finish in time. */
static gchar *
qa_exec_unit_show(const gchar *systemctl,
		  const gchar *const *properties,
		  const gchar *const *units,
		  GError **error)
{
	g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
	g_auto(GStrv) argv = NULL;
	QaChildResult result = {0};
	gchar *output;

	g_strv_builder_add_many(builder, systemctl, "show", "--property=Id", NULL);
	for (guint i = 0; properties[i] != NULL; i++) {
		g_autofree gchar *option = g_strconcat("--property=", properties[i], NULL);
		g_strv_builder_add(builder, option);
	}
	g_strv_builder_add(builder, "--");
	g_strv_builder_addv(builder, (const gchar **)units);
	argv = g_strv_builder_end(builder);
	{
		const QaChildSpec spec = {
		    .argv = (const gchar *const *)argv,
		    .is_stdout_captured = TRUE,
		    .timeout_ms = QA_EXEC_UNIT_QUERY_TIMEOUT_MS,
		};
		if (!qa_child_run(&spec, &result, error))
			return NULL;
	}
	if (!result.has_exited) {
		qa_child_result_clear(&result);
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "systemctl show did not finish within %u ms",
			    QA_EXEC_UNIT_QUERY_TIMEOUT_MS);
		return NULL;
	}
	output = g_steal_pointer(&result.output);
	qa_child_result_clear(&result);
	return output;
}

gint
qa_exec_unit_query_end(const gchar *systemctl, const gchar *unit, gint run_wait_status)
{
	const gchar *const properties[] = {"ExecMainCode", "ExecMainStatus", NULL};
	const gchar *const units[] = {unit, NULL};
	const gchar *reset[] = {systemctl, "reset-failed", "--", unit, NULL};
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *output = NULL;
	gint wait_status = run_wait_status;

	/* exit status 0: the program exited with 0, and the unit is gone already */
	if (WIFEXITED(run_wait_status) && WEXITSTATUS(run_wait_status) == 0)
		return run_wait_status;
	output = qa_exec_unit_show(systemctl, properties, units, &error_local);
	if (output == NULL || !qa_exec_unit_status_parse(output, &wait_status, &error_local))
		g_debug("no end of unit=%s, reporting systemd-run's: %s",
			unit,
			error_local->message);
	g_clear_error(&error_local);
	/* a unit that never loaded has nothing to reset: that failure is expected */
	if (!qa_child_run_checked(reset, QA_EXEC_UNIT_QUERY_TIMEOUT_MS, &error_local))
		g_debug("cannot unload unit=%s, ignoring: %s", unit, error_local->message);
	return wait_status;
}

gchar *
qa_exec_unit_from_env_file_name(const gchar *file_name)
{
	gsize prefix = strlen(QA_EXEC_UNIT_PREFIX);
	gsize len = strlen(file_name);
	const gchar *suffix = ".service.env";
	gsize id_len;

	if (len < prefix + strlen(suffix) || !g_str_has_prefix(file_name, QA_EXEC_UNIT_PREFIX) ||
	    !g_str_has_suffix(file_name, suffix))
		return NULL;
	id_len = len - prefix - strlen(suffix);
	if (id_len != 32)
		return NULL;
	for (gsize i = prefix; i < prefix + id_len; i++) {
		if (!g_ascii_isxdigit(file_name[i]))
			return NULL;
	}
	return g_strndup(file_name, len - strlen(".env"));
}

GHashTable *
qa_exec_unit_states_parse(const gchar *text)
{
	GHashTable *states = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	/* a newline more: the end of the text ends the last block as a blank line does */
	g_autofree gchar *ended = g_strconcat(text != NULL ? text : "", "\n", NULL);
	g_auto(GStrv) lines = g_strsplit(ended, "\n", -1);
	g_autofree gchar *id = NULL;
	g_autofree gchar *state = NULL;

	for (guint i = 0; lines[i] != NULL; i++) {
		const gchar *line = lines[i];

		if (g_str_has_prefix(line, "Id=")) {
			g_free(id);
			id = g_strdup(line + strlen("Id="));
		} else if (g_str_has_prefix(line, "ActiveState=")) {
			g_free(state);
			state = g_strdup(line + strlen("ActiveState="));
		} else if (line[0] == '\0') {
			if (id != NULL && id[0] != '\0' && state != NULL)
				g_hash_table_replace(
				    states, g_steal_pointer(&id), g_steal_pointer(&state));
			g_clear_pointer(&id, g_free);
			g_clear_pointer(&state, g_free);
		}
	}
	return states;
}

guint
qa_exec_unit_sweep(const gchar *systemctl, const gchar *env_dir, GHashTable *live)
{
	const gchar *const properties[] = {"ActiveState", NULL};
	g_autoptr(GDir) dir = g_dir_open(env_dir, 0, NULL);
	g_autoptr(GPtrArray) units = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GStrvBuilder) reset = g_strv_builder_new();
	g_auto(GStrv) reset_argv = NULL;
	g_autoptr(GHashTable) states = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *output = NULL;
	const gchar *name;
	gboolean has_failed = FALSE;
	guint n_settled = 0;

	while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
		gchar *orphan;

		if (!g_hash_table_contains(live, name) &&
		    (orphan = qa_exec_unit_from_env_file_name(name)) != NULL)
			g_ptr_array_add(units, orphan);
	}
	if (units->len == 0)
		return 0;
	g_ptr_array_add(units, NULL);
	output = qa_exec_unit_show(
	    systemctl, properties, (const gchar *const *)units->pdata, &error);
	if (output == NULL) {
		g_debug("cannot ask how earlier agents' units are: %s", error->message);
		return 0;
	}
	states = qa_exec_unit_states_parse(output);
	g_strv_builder_add_many(reset, systemctl, "reset-failed", "--", NULL);
	for (guint i = 0; i + 1 < units->len; i++) {
		const gchar *unit = g_ptr_array_index(units, i);
		const gchar *state = g_hash_table_lookup(states, unit);
		g_autofree gchar *file_name = g_strconcat(unit, ".env", NULL);
		g_autofree gchar *path = g_build_filename(env_dir, file_name, NULL);

		/* unknown: systemctl said nothing of it; running: its program has not ended */
		if (g_strcmp0(state, "failed") == 0) {
			g_strv_builder_add(reset, unit);
			has_failed = TRUE;
		} else if (g_strcmp0(state, "inactive") != 0) {
			continue;
		}
		g_message("exec unit=%s of an earlier agent is %s: settled", unit, state);
		unlink(path);
		n_settled++;
	}
	reset_argv = g_strv_builder_end(reset);
	if (has_failed &&
	    !qa_child_run_checked((const gchar **)reset_argv, QA_EXEC_UNIT_QUERY_TIMEOUT_MS, &error))
		g_warning("cannot unload failed units of an earlier agent: %s", error->message);
	return n_settled;
}

void
qa_exec_unit_launch_free(QaExecUnitLaunch *launch)
{
	if (launch == NULL)
		return;
	g_free(launch->systemd_run);
	g_strfreev(launch->argv);
	g_free(launch->systemctl);
	g_free(launch->unit);
	g_free(launch->env_file);
	g_free(launch);
}

static gboolean
qa_exec_unit_write_env_file(const gchar *path, const gchar *text, GError **error)
{
	g_auto(QaFd) fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	gsize len = strlen(text);
	gsize done = 0;

	while (fd >= 0 && done < len) {
		gssize n = write(fd, text + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		done += (gsize)n;
	}
	if (fd >= 0 && done == len)
		return TRUE;
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_FAILED,
		    "Cannot write the program's environment to '%s': %s",
		    path,
		    g_strerror(errno));
	if (fd >= 0)
		unlink(path);
	return FALSE;
}

QaExecUnitLaunch *
qa_exec_unit_launch_new(const gchar *systemd_dir,
			const gchar *bus_socket,
			const gchar *env_dir,
			const gchar *program,
			gchar **argv,
			gchar **envp,
			GError **error)
{
	g_autoptr(QaExecUnitLaunch) launch = g_new0(QaExecUnitLaunch, 1);
	g_autofree gchar *env_text = NULL;
	g_autofree gchar *file_name = NULL;
	g_autofree gchar *path = NULL;
	g_auto(GStrv) unset = NULL;
	QaExecUnitSpec spec = {0};

	if (!qa_exec_unit_find_tools(
		systemd_dir, bus_socket, &launch->systemd_run, &launch->systemctl))
		return NULL;
	env_text = qa_exec_unit_env_file_build(envp, &unset, error);
	if (env_text == NULL)
		return NULL;
	launch->unit = qa_exec_unit_name_new();
	file_name = g_strconcat(launch->unit, ".env", NULL);
	launch->env_file = g_build_filename(env_dir, file_name, NULL);
	/* PID 1 refuses a path that is not normalized ("/usr/bin/../bin/x"); the child would
	 * have run a relative one from "/" */
	path = g_canonicalize_filename(program, "/");
	spec = (QaExecUnitSpec){
	    .systemd_run = "systemd-run",
	    .unit = launch->unit,
	    .env_file = launch->env_file,
	    .unset_env = unset,
	    .program = path,
	    .argv = argv,
	};
	launch->argv = qa_exec_unit_argv_build(&spec);
	if (!qa_exec_unit_write_env_file(launch->env_file, env_text, error))
		return NULL;
	return g_steal_pointer(&launch);
}
