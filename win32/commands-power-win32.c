/* guest-shutdown, guest-suspend-disk, guest-suspend-ram on Windows. The mode from the host
 * (power.h's table and parser, shared with Linux), a refusal while VSS holds volumes frozen (as
 * on Linux: the host thaws first), the shutdown privilege enabled in the agent's token, then
 * Windows is asked through QaWinOps. None replies on success ('success-response': false): the
 * host sees the guest go away. They run on the dispatcher's system thread ('blocking').
 *
 * The handlers stay apart from commands/power.c: Windows checks S3/S4 before the frozen state,
 * names volumes, not filesystems, in its refusal, enables a privilege and has no hybrid sleep,
 * so each platform's error texts and order stay as they are. */
#include <windows.h>

#include "agent.h"
#include "freezer-api.h"
#include "power.h"
#include "qa-error.h"
#include "qa-schema.h"
#include "system-win32.h"

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
	QaPowerMode mode = QA_POWER_MODE_POWERDOWN;

	if (!qa_power_mode_parse(args != NULL ? args->mode : NULL, &mode, error))
		return FALSE;
	if (!qa_win_power_check_thawed(agent, "shut the guest down", error))
		return FALSE;
	if (!agent->win_ops->enable_privilege(QA_WIN_PRIVILEGE_SHUTDOWN, error))
		return FALSE;
	g_message("shutdown mode=%s", qa_power_mode_to_string(mode));
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
