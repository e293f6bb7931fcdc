/* guest-exec's programs outside the agent's sandbox, as QEMU's agent runs them: a transient
 * service of the service manager, started and waited for by systemd-run.
 *
 * A program the agent forks inherits its sandbox (seccomp filter, capability bounding set,
 * NoNewPrivileges, UMask, cgroup); none of these can be shed by a descendant. So when systemd
 * is PID 1, guest-exec runs systemd-run instead, which asks PID 1 to start the program as
 * `quiesce-agent-exec-<id>.service`. systemd-run passes its stdin, stdout and stderr to the
 * service (--pipe): the process table's pipes and capture modes stay as they are, and the pid
 * handle is systemd-run's, which ends when the service has.
 *
 * What systemd-run --wait exits with does not say how the program ended: 255 for a signal
 * (and for exit status 255), 1 for a core dump (and for exit status 1 and its own failures). A
 * failed unit stays loaded (no --collect), so once systemd-run ended with anything but 0 the
 * agent asks `systemctl show` for ExecMainCode and ExecMainStatus, then `systemctl
 * reset-failed` unloads the unit. That query blocks: it runs on a worker of the process table.
 *
 * The program's environment goes in a file only root can read (EnvironmentFile=), not on
 * systemd-run's command line: a unit's Environment= is a property every local user may read
 * with `systemctl show`, as they may not read /proc/PID/environ. */
#pragma once

#include <glib.h>

/* exists when systemd is PID 1 (what sd_booted() looks at) */
#define QA_EXEC_UNIT_SYSTEMD_DIR "/run/systemd/system"
/* systemd-run --wait talks to PID 1 through the system bus only (it needs AddRef), so a
 * system without a D-Bus broker cannot run programs as units */
#define QA_EXEC_UNIT_BUS_SOCKET "/run/dbus/system_bus_socket"
/* every unit this agent starts is named so: `systemctl list-units 'quiesce-agent-exec-*'` */
#define QA_EXEC_UNIT_PREFIX "quiesce-agent-exec-"
/* how long `systemctl show` and `systemctl reset-failed` may take */
#define QA_EXEC_UNIT_QUERY_TIMEOUT_MS 30000

/* What systemd-run is asked to start. */
typedef struct {
	const gchar *systemd_run; /* argv[0] of systemd-run */
	const gchar *unit;	  /* QA_EXEC_UNIT_PREFIX "<id>.service" */
	const gchar *env_file;	  /* the program's environment (qa_exec_unit_env_file_build()) */
	gchar **unset_env;	  /* names the service manager sets that the program must not get */
	const gchar *program;	  /* absolute path of the file to execute */
	gchar **argv;		  /* the program's argv; argv[0] is not passed (see the .c) */
} QaExecUnitSpec;

/* systemd-run's argv for @spec: each argument an element of its own, nothing a host sent in
 * a property (their only host-controlled parts are the program's arguments, after "--") */
gchar **
qa_exec_unit_argv_build(const QaExecUnitSpec *spec);

/* The text of an EnvironmentFile= that gives exactly @envp (NAME=VALUE entries; the first of
 * a name wins, as getenv() finds it), every value single-quoted. Refuses what systemd would
 * silently drop: a name that is not [A-Za-z_][A-Za-z0-9_]*, a value that is not UTF-8.
 * @out_unset: the variables the service manager sets on its own (INVOCATION_ID, LANG, ...)
 * that @envp does not set, for UnsetEnvironment=. */
gchar *
qa_exec_unit_env_file_build(gchar **envp, gchar ***out_unset, GError **error);

/* A waitpid() status from `systemctl show -p ExecMainCode -p ExecMainStatus` output: an exit
 * status, or the signal that killed the program. Fails with QA_SYSTEM_ERROR_PARSE when the
 * text has no ExecMainCode of an ended process (the unit never ran its program). */
gboolean
qa_exec_unit_status_parse(const gchar *text, gint *out_wait_status, GError **error);

/* a fresh QA_EXEC_UNIT_PREFIX "<32 hex digits>.service" */
gchar *
qa_exec_unit_name_new(void);

/* TRUE when programs can run as transient services: @systemd_dir exists (systemd is PID 1),
 * so does @bus_socket, and systemd-run and systemctl are in the administrator's PATH */
gboolean
qa_exec_unit_find_tools(const gchar *systemd_dir,
			const gchar *bus_socket,
			gchar **out_systemd_run,
			gchar **out_systemctl);

/* How @unit's program ended, once systemd-run ended with @run_wait_status (blocking: asks
 * systemctl, then unloads the failed unit). When systemd-run failed before the program ran,
 * its own status is the answer. */
gint
qa_exec_unit_query_end(const gchar *systemctl, const gchar *unit, gint run_wait_status);

/* The unit an environment file names: @file_name is "<unit>.env" for a unit named as
 * qa_exec_unit_name_new() names them; NULL for any other file. */
gchar *
qa_exec_unit_from_env_file_name(const gchar *file_name);

/* unit -> ActiveState, from the output of `systemctl show --property=Id
 * --property=ActiveState -- UNIT...` (one block per unit, blank lines between) */
GHashTable *
qa_exec_unit_states_parse(const gchar *text);

/* Settles the units an earlier agent started and never collected (it was killed, or
 * restarted by an upgrade, while its programs ran): for every environment file in @env_dir
 * whose name is not in @live (this agent's own), the unit it names is unloaded if it failed
 * and the file removed; a unit still running is left for a later sweep. Without it a failed
 * unit stays loaded for good, and `systemctl is-system-running` says "degraded". Blocking (one
 * `systemctl show`, and one `reset-failed` when a unit failed). Returns how many it settled. */
guint
qa_exec_unit_sweep(const gchar *systemctl, const gchar *env_dir, GHashTable *live);

/* A program made ready to start as a unit: systemd-run's argv and what to clean up after. */
typedef struct {
	gchar *systemd_run; /* the file to execute */
	gchar **argv;	    /* systemd-run's */
	gchar *systemctl;
	gchar *unit;
	gchar *env_file; /* to remove once systemd-run ended (PID 1 read it when starting) */
} QaExecUnitLaunch;

void
qa_exec_unit_launch_free(QaExecUnitLaunch *launch);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaExecUnitLaunch, qa_exec_unit_launch_free)

/* Prepares @program (an absolute or "/"-relative path) with @argv and exactly @envp as a
 * transient service: writes the environment file, root's only, into @env_dir. NULL with
 * @error unset when qa_exec_unit_find_tools() says no (the caller spawns the
 * program itself); NULL with @error set when @envp cannot be given to a unit. */
QaExecUnitLaunch *
qa_exec_unit_launch_new(const gchar *systemd_dir,
			const gchar *bus_socket,
			const gchar *env_dir,
			const gchar *program,
			gchar **argv,
			gchar **envp,
			GError **error);
