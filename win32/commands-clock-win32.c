/* guest-get-time, guest-set-time and guest-get-load on Windows, in QEMU's Windows agent's
 * shapes (Linux's are in commands/clock.c; the identity commands are shared, commands/identity.c).
 * guest-get-time and guest-get-load run on the main loop: each is a call answered from memory
 * (guest-get-load's first request opens a local performance counter query once).
 * guest-set-time is 'blocking' (w32tm is a program). */
#include <windows.h>

#include "agent.h"
#include "identity-win32.h"
#include "load-win32.h"
#include "qa-error.h"
#include "qa-schema.h"
#include "system-win32.h"

gboolean
qa_cmd_guest_get_time(QaAgent *agent, gint64 *out_ret, GError **error)
{
	FILETIME now = {0};

	GetSystemTimeAsFileTime(&now);
	*out_ret = qa_win_filetime_to_ns(((gint64)now.dwHighDateTime << 32) | now.dwLowDateTime);
	return TRUE;
}

/* Without a time, "virsh domtime --sync": Windows reads no RTC on request, so the Windows Time
 * service is asked to resynchronise, as QEMU's agent asks it. With a time: SetSystemTime with
 * the system-time privilege; Windows writes the RTC itself. */
gboolean
qa_cmd_guest_set_time(QaAgent *agent, const QaGuestSetTimeArgs *args, GError **error)
{
	gint64 filetime = 0;

	if (args == NULL || !args->has_time)
		return agent->win_ops->resync_time(error);
	if (!qa_win_ns_to_filetime(args->time, &filetime, error))
		return FALSE;
	if (!agent->win_ops->enable_privilege(QA_WIN_PRIVILEGE_SYSTEMTIME, error))
		return FALSE;
	if (!agent->win_ops->set_system_time(filetime, error))
		return FALSE;
	g_message("set the clock time_ns=%" G_GINT64_FORMAT, args->time);
	return TRUE;
}

gboolean
qa_cmd_guest_get_load(QaAgent *agent, QaGuestLoadAverage **out_ret, GError **error)
{
	g_autoptr(QaGuestLoadAverage) ret = qa_guest_load_average_new();
	const QaWinLoadAverage *average;

	/* started by the first request, as qemu-ga does; a failed start is retried by the next */
	if (agent->load == NULL) {
		agent->load = qa_win_load_start(agent->win_ops, error);
		if (agent->load == NULL)
			return FALSE;
	}
	average = qa_win_load_get_average(agent->load);
	ret->load1m = average->load1m;
	ret->load5m = average->load5m;
	ret->load15m = average->load15m;
	*out_ret = g_steal_pointer(&ret);
	return TRUE;
}
