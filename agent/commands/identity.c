/* guest-get-osinfo, guest-get-host-name, guest-get-timezone, guest-get-users: what libvirt's
 * virDomainGetGuestInfo, KubeVirt and Proxmox poll. One set of handlers for both builds: the
 * system access differs (identity.h: identity.c on Linux, win32/identity-win32.c on Windows),
 * the replies are assembled here. They run on the main loop: each reads a few small files, the
 * registry or the kernel, runs no program and never waits. guest-get-load is with the clock
 * (commands/clock.c, win32/commands-clock-win32.c). */
#include "identity.h"

#include "agent.h"
#include "qa-error.h"
#include "qa-schema.h"

gboolean
qa_cmd_guest_get_osinfo(QaAgent *agent, QaGuestOSInfo **out_ret, GError **error)
{
	g_autoptr(QaIdentityOsInfo) info = qa_identity_os_info_load(error);
	g_autoptr(QaGuestOSInfo) ret = NULL;

	if (info == NULL)
		return FALSE;
	ret = qa_guest_os_info_new();
	ret->kernel_release = g_steal_pointer(&info->kernel_release);
	ret->kernel_version = g_steal_pointer(&info->kernel_version);
	ret->machine = g_steal_pointer(&info->machine);
	ret->id = g_steal_pointer(&info->id);
	ret->name = g_steal_pointer(&info->name);
	ret->pretty_name = g_steal_pointer(&info->pretty_name);
	ret->version = g_steal_pointer(&info->version);
	ret->version_id = g_steal_pointer(&info->version_id);
	ret->variant = g_steal_pointer(&info->variant);
	ret->variant_id = g_steal_pointer(&info->variant_id);
	*out_ret = g_steal_pointer(&ret);
	return TRUE;
}

gboolean
qa_cmd_guest_get_host_name(QaAgent *agent, QaGuestHostName **out_ret, GError **error)
{
	g_autofree gchar *name = qa_identity_host_name_load(error);
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

	qa_identity_timezone_load(g_get_real_time() / G_USEC_PER_SEC, &ret->offset, &ret->zone);
	*out_ret = g_steal_pointer(&ret);
	return TRUE;
}

gboolean
qa_cmd_guest_get_users(QaAgent *agent, GPtrArray **out_ret, GError **error)
{
	g_autoptr(GPtrArray) users = qa_identity_users_load(error);
	g_autoptr(GPtrArray) ret = NULL;

	if (users == NULL)
		return FALSE;
	ret = qa_guest_user_list_new();
	for (guint i = 0; i < users->len; i++) {
		QaIdentityUser *user = g_ptr_array_index(users, i);
		QaGuestUser *entry = qa_guest_user_new();

		entry->user = g_steal_pointer(&user->name);
		entry->domain = g_steal_pointer(&user->domain);
		entry->login_time = user->login_time;
		g_ptr_array_add(ret, entry);
	}
	*out_ret = g_steal_pointer(&ret);
	return TRUE;
}
