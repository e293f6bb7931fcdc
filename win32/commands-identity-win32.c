/* guest-get-osinfo, guest-get-host-name, guest-get-timezone, guest-get-users, guest-get-time,
 * guest-set-time and guest-get-load on Windows, in QEMU's Windows agent's shapes. All but
 * guest-set-time run on the main loop: each is a registry read or a call answered from memory
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
qa_cmd_guest_get_osinfo(QaAgent *agent, QaGuestOSInfo **out_ret, GError **error)
{
	g_autoptr(QaGuestOSInfo) ret = qa_guest_os_info_new();
	QaWinVersion version = {0};
	const gchar *name = NULL;
	const gchar *id = NULL;
	const gchar *variant = NULL;

	if (!qa_win_version_load(&version, error))
		return FALSE;
	ret->pretty_name = qa_win_product_name_load(error);
	if (ret->pretty_name == NULL)
		return FALSE;
	qa_win_version_names(&version, &name, &id);
	variant = version.is_server ? "server" : "client";
	ret->kernel_version = g_strdup_printf("%u.%u", version.major, version.minor);
	ret->kernel_release = g_strdup_printf("%u", version.build);
	ret->machine = g_strdup(qa_win_arch_load());
	ret->id = g_strdup("mswindows");
	ret->name = g_strdup("Microsoft Windows");
	ret->version = g_strdup(name);
	ret->version_id = g_strdup(id);
	ret->variant = g_strdup(variant);
	ret->variant_id = g_strdup(variant);
	*out_ret = g_steal_pointer(&ret);
	return TRUE;
}

gboolean
qa_cmd_guest_get_host_name(QaAgent *agent, QaGuestHostName **out_ret, GError **error)
{
	g_autofree gchar *name = qa_win_host_name_load(error);
	g_autoptr(QaGuestHostName) ret = NULL;

	if (name == NULL)
		return FALSE;
	ret = qa_guest_host_name_new();
	ret->host_name = g_steal_pointer(&name);
	*out_ret = g_steal_pointer(&ret);
	return TRUE;
}

gboolean
qa_cmd_guest_get_timezone(QaAgent *agent, QaGuestTimezone **out_ret, GError **error)
{
	g_autoptr(QaGuestTimezone) ret = qa_guest_timezone_new();

	qa_win_timezone_load(&ret->offset, &ret->zone);
	*out_ret = g_steal_pointer(&ret);
	return TRUE;
}

gboolean
qa_cmd_guest_get_users(QaAgent *agent, GPtrArray **out_ret, GError **error)
{
	g_autoptr(GPtrArray) users = qa_win_users_load(error);
	g_autoptr(GPtrArray) ret = NULL;

	if (users == NULL)
		return FALSE;
	ret = qa_guest_user_list_new();
	for (guint i = 0; i < users->len; i++) {
		QaWinUser *user = g_ptr_array_index(users, i);
		QaGuestUser *entry = qa_guest_user_new();

		entry->user = g_steal_pointer(&user->name);
		entry->domain = g_steal_pointer(&user->domain);
		entry->login_time = user->login_time;
		g_ptr_array_add(ret, entry);
	}
	*out_ret = g_steal_pointer(&ret);
	return TRUE;
}

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
