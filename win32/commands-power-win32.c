/* guest-shutdown, guest-suspend-disk, guest-suspend-ram on Windows. The mode from the host, a
 * refusal while VSS holds volumes frozen (as on Linux: the host thaws first), the shutdown
 * privilege enabled in the agent's token, then Windows is asked through QaWinOps. None replies
 * on success ('success-response': false): the host sees the guest go away. They run on the
 * dispatcher's system thread ('blocking'). */
#include <windows.h>

#include "agent.h"
#include "freezer-api.h"
#include "qa-error.h"
#include "qa-schema.h"
#include "system-win32.h"

static const struct {
	const gchar *name;
	QaWinShutdown mode;
} qa_win_power_modes[] = {
    {"powerdown", QA_WIN_SHUTDOWN_POWERDOWN},
    {"halt", QA_WIN_SHUTDOWN_HALT},
    {"reboot", QA_WIN_SHUTDOWN_REBOOT},
};

static gboolean
qa_win_power_mode_parse(const gchar *text, QaWinShutdown *out_mode, GError **error)
{
	if (text == NULL) {
		*out_mode = QA_WIN_SHUTDOWN_POWERDOWN;
		return TRUE;
	}
	for (guint i = 0; i < G_N_ELEMENTS(qa_win_power_modes); i++) {
		if (g_strcmp0(text, qa_win_power_modes[i].name) == 0) {
			*out_mode = qa_win_power_modes[i].mode;
			return TRUE;
		}
	}
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_INVALID,
		    "Mode '%s' is invalid; valid values are: halt, powerdown, reboot",
		    text);
	return FALSE;
}

/* a shutdown or hibernation with volumes frozen would wait on VSS, and the host would not
 * know why; the Linux agent refuses the same way */
static gboolean
qa_win_power_check_thawed(QaAgent *agent, const gchar *what, GError **error)
{
	if (agent->freezer == NULL || !qa_freezer_is_any_frozen(agent->freezer))
		return TRUE;
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_BUSY,
		    "Cannot %s while the agent holds volumes frozen; thaw them first "
		    "(guest-fsfreeze-thaw)",
		    what);
	return FALSE;
}

gboolean
qa_cmd_guest_shutdown(QaAgent *agent, const QaGuestShutdownArgs *args, GError **error)
{
	QaWinShutdown mode = QA_WIN_SHUTDOWN_POWERDOWN;

	if (!qa_win_power_mode_parse(args != NULL ? args->mode : NULL, &mode, error))
		return FALSE;
	if (!qa_win_power_check_thawed(agent, "shut the guest down", error))
		return FALSE;
	if (!agent->win_ops->enable_privilege(QA_WIN_PRIVILEGE_SHUTDOWN, error))
		return FALSE;
	g_message("shutdown mode=%s", qa_win_power_modes[mode].name);
	return agent->win_ops->shutdown(mode, error);
}

static gboolean
qa_win_power_suspend(QaAgent *agent, gboolean hibernate, GError **error)
{
	const gchar *what = hibernate ? "suspend to disk" : "suspend to RAM";
	gboolean has_s3 = FALSE;
	gboolean has_s4 = FALSE;

	if (!agent->win_ops->get_sleep_states(&has_s3, &has_s4, error))
		return FALSE;
	if (hibernate && !has_s4) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_UNSUPPORTED,
			    "The guest cannot suspend to disk: Windows offers no hibernation (S4) "
			    "here, or it is off (powercfg /hibernate on)");
		return FALSE;
	}
	if (!hibernate && !has_s3) {
		g_set_error(
		    error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "The guest cannot suspend to RAM: Windows offers no sleep state S3 here "
		    "(the machine's firmware does not announce it, or Modern Standby "
		    "replaces it)");
		return FALSE;
	}
	if (!qa_win_power_check_thawed(agent, what, error))
		return FALSE;
	if (!agent->win_ops->enable_privilege(QA_WIN_PRIVILEGE_SHUTDOWN, error))
		return FALSE;
	g_message("suspend mode=%s", hibernate ? "disk" : "ram");
	return agent->win_ops->suspend(hibernate, error);
}

gboolean
qa_cmd_guest_suspend_disk(QaAgent *agent, GError **error)
{
	return qa_win_power_suspend(agent, TRUE, error);
}

gboolean
qa_cmd_guest_suspend_ram(QaAgent *agent, GError **error)
{
	return qa_win_power_suspend(agent, FALSE, error);
}
