/* guest-get-time, guest-set-time and guest-get-load on Linux (Windows' are in
 * win32/commands-clock-win32.c: its clock and its load are different sources, with state of
 * their own). Reading the clock or the load is one system call and runs on the main loop;
 * setting the clock runs on the system thread ('blocking'), since hwclock is a program and the
 * RTC is waited on for its tick. */
#include "clock.h"

#include "agent.h"
#include "frozen-guard.h"
#include "identity.h"
#include "qa-error.h"
#include "qa-schema.h"

gboolean
qa_cmd_guest_get_time(QaAgent *agent, gint64 *out_ret, GError **error)
{
	return qa_clock_get_ns(out_ret, error);
}

/* Everything that can refuse comes before the clock changes: the time's range, then the file
 * hwclock rewrites (a write to a frozen filesystem would hang hwclock until the thaw). */
gboolean
qa_cmd_guest_set_time(QaAgent *agent, const QaGuestSetTimeArgs *args, GError **error)
{
	gboolean has_time = args != NULL && args->has_time;

	if (has_time && !qa_clock_check_ns(args->time, error))
		return FALSE;
	if (!qa_frozen_guard_check_path(
		agent->freezer, agent->roots, QA_CLOCK_ADJTIME, "set the clock", error))
		return FALSE;
	if (!has_time) {
		/* what "virsh domtime --sync" asks: the host's RTC already has the time */
		if (!qa_clock_hardware_to_system(agent->roots, error)) {
			g_prefix_error(error,
				       "Cannot set the system clock from the hardware clock: ");
			return FALSE;
		}
		return TRUE;
	}
	if (!qa_clock_set_system(args->time, error))
		return FALSE;
	if (!qa_clock_system_to_hardware(agent->roots, error)) {
		g_prefix_error(error, "The system clock was set, but the hardware clock was not: ");
		return FALSE;
	}
	return TRUE;
}

gboolean
qa_cmd_guest_get_load(QaAgent *agent, QaGuestLoadAverage **out_ret, GError **error)
{
	QaIdentityLoad load;
	g_autoptr(QaGuestLoadAverage) ret = NULL;

	if (!qa_identity_loadavg_load(&load, error))
		return FALSE;
	ret = qa_guest_load_average_new();
	ret->load1m = load.load1m;
	ret->load5m = load.load5m;
	ret->load15m = load.load15m;
	*out_ret = g_steal_pointer(&ret);
	return TRUE;
}
