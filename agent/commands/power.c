/* guest-shutdown and guest-suspend-{disk,ram,hybrid}: the mode from the host, a refusal while the
 * agent holds filesystems frozen, then system/power.c does what the admin's own tools would.
 * All four run on the dispatcher's system thread ('blocking'), since they run programs, and
 * none replies on success ('success-response': false): the host sees the guest stop. */
#include "power.h"

#include "agent.h"
#include "freezer-api.h"
#include "qa-error.h"
#include "qa-schema.h"

/* A frozen filesystem would hang the shutdown (services stopping cannot write, and unmounting
 * waits for the thaw) and hibernation (the kernel's own freezing of filesystems cannot take a
 * frozen one), with the host told nothing. qemu-ga refuses every command but the fsfreeze ones
 * while frozen; the agent refuses these so that the host thaws first. */
static gboolean
qa_power_check_thawed(QaAgent *agent, const gchar *what, GError **error)
{
	if (agent->freezer == NULL || !qa_freezer_is_any_frozen(agent->freezer))
		return TRUE;
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_BUSY,
		    "Cannot %s while the agent holds filesystems frozen; thaw them first "
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
	if (!qa_power_check_thawed(agent, "shut the guest down", error))
		return FALSE;
	return qa_power_shutdown(mode, error);
}

static gboolean
qa_power_suspend(QaAgent *agent, QaPowerSleep sleep, GError **error)
{
	if (!qa_power_check_thawed(agent, qa_power_sleep_to_string(sleep), error))
		return FALSE;
	return qa_power_sleep(agent->roots, sleep, error);
}

gboolean
qa_cmd_guest_suspend_disk(QaAgent *agent, GError **error)
{
	return qa_power_suspend(agent, QA_POWER_SLEEP_DISK, error);
}

gboolean
qa_cmd_guest_suspend_ram(QaAgent *agent, GError **error)
{
	return qa_power_suspend(agent, QA_POWER_SLEEP_RAM, error);
}

gboolean
qa_cmd_guest_suspend_hybrid(QaAgent *agent, GError **error)
{
	return qa_power_suspend(agent, QA_POWER_SLEEP_HYBRID, error);
}
