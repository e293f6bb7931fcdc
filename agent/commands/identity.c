/* guest-get-osinfo, guest-get-host-name, guest-get-timezone, guest-get-users, guest-get-load:
 * what libvirt's virDomainGetGuestInfo, KubeVirt and Proxmox poll. They run on the main loop:
 * each reads a few small files or asks the kernel, runs no program and never waits. */
#include "identity.h"

#include "agent.h"
#include "qa-error.h"
#include "qa-schema.h"

gboolean
qa_cmd_guest_get_osinfo(QaAgent *agent, QaGuestOSInfo **out_ret, GError **error)
{
	static const gchar *const paths[] = QA_IDENTITY_OS_RELEASE_PATHS;
	g_autoptr(GError) error_local = NULL;
	g_autoptr(GHashTable) os_release = qa_identity_os_release_load(paths, &error_local);
	g_autoptr(QaIdentityOsInfo) info = NULL;
	g_autoptr(QaGuestOSInfo) ret = qa_guest_os_info_new();
	struct utsname uts;

	if (!qa_identity_uname_load(&uts, error))
		return FALSE;
	/* the kernel fields and the default id are still worth a reply */
	if (os_release == NULL)
		g_warning("no os-release, ignoring: %s", error_local->message);
	info = qa_identity_os_info_new(os_release, &uts);
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
	g_autoptr(GPtrArray) users = qa_identity_users_load(QA_IDENTITY_UTMP_PATH, error);
	g_autoptr(GPtrArray) ret = NULL;

	if (users == NULL)
		return FALSE;
	ret = qa_guest_user_list_new();
	for (guint i = 0; i < users->len; i++) {
		QaIdentityUser *user = g_ptr_array_index(users, i);
		QaGuestUser *entry = qa_guest_user_new();

		entry->user = g_steal_pointer(&user->name);
		entry->login_time = user->login_time;
		g_ptr_array_add(ret, entry);
	}
	*out_ret = g_steal_pointer(&ret);
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
