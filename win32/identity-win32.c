/* identity.h on Windows: version names, users, host name, time zone (the handlers are
 * commands/identity.c, shared with Linux). See identity-win32.h for the pure parts. */
#include "identity-win32.h"

/* clang-format off */
#include <windows.h>
#include <wtsapi32.h>
/* clang-format on */

#include "qa-error.h"

typedef struct {
	guint major;
	guint minor;
	guint first_build; /* 10.0 only: the first build of that release */
	const gchar *name;
	const gchar *id;
} QaWinVersionName;

/* Names as QEMU's agent gives them. Before 10.0 the version numbers tell releases apart; from
 * 10.0 on only the build number does. */
static const QaWinVersionName qa_win_client_names[] = {
    {5, 0, 0, "Microsoft Windows 2000", "2000"},
    {5, 1, 0, "Microsoft Windows XP", "xp"},
    {6, 0, 0, "Microsoft Windows Vista", "vista"},
    {6, 1, 0, "Microsoft Windows 7", "7"},
    {6, 2, 0, "Microsoft Windows 8", "8"},
    {6, 3, 0, "Microsoft Windows 8.1", "8.1"},
    {10, 0, 10240, "Microsoft Windows 10", "10"},
    {10, 0, 22000, "Microsoft Windows 11", "11"},
};
static const QaWinVersionName qa_win_server_names[] = {
    {5, 2, 0, "Microsoft Windows Server 2003", "2003"},
    {6, 0, 0, "Microsoft Windows Server 2008", "2008"},
    {6, 1, 0, "Microsoft Windows Server 2008 R2", "2008r2"},
    {6, 2, 0, "Microsoft Windows Server 2012", "2012"},
    {6, 3, 0, "Microsoft Windows Server 2012 R2", "2012r2"},
    {10, 0, 14393, "Microsoft Windows Server 2016", "2016"},
    {10, 0, 17763, "Microsoft Windows Server 2019", "2019"},
    {10, 0, 20344, "Microsoft Windows Server 2022", "2022"},
    {10, 0, 26040, "Microsoft Windows Server 2025", "2025"},
};

void
qa_win_version_names(const QaWinVersion *version, const gchar **out_name, const gchar **out_id)
{
	const QaWinVersionName *table =
	    version->is_server ? qa_win_server_names : qa_win_client_names;
	guint n = version->is_server ? G_N_ELEMENTS(qa_win_server_names)
				     : G_N_ELEMENTS(qa_win_client_names);
	const QaWinVersionName *found = NULL;

	/* the table is in release order: the last entry the version has reached wins */
	for (guint i = 0; i < n; i++) {
		if (table[i].major == version->major && table[i].minor == version->minor &&
		    version->build >= table[i].first_build)
			found = &table[i];
	}
	*out_name = found != NULL ? found->name : "N/A";
	*out_id = found != NULL ? found->id : "N/A";
}

const gchar *
qa_win_arch_name(guint architecture)
{
	switch (architecture) {
	case PROCESSOR_ARCHITECTURE_AMD64:
		return "x86_64";
	case PROCESSOR_ARCHITECTURE_INTEL:
		return "x86";
	case PROCESSOR_ARCHITECTURE_ARM:
		return "arm";
	case PROCESSOR_ARCHITECTURE_ARM64:
		return "arm64";
	case PROCESSOR_ARCHITECTURE_IA64:
		return "ia64";
	default:
		return "unknown";
	}
}

gboolean
qa_win_version_load(QaWinVersion *out_version, GError **error)
{
	typedef LONG(WINAPI * RtlGetVersionFunc)(OSVERSIONINFOEXW *);
	OSVERSIONINFOEXW info = {.dwOSVersionInfoSize = sizeof(info)};
	FARPROC proc = GetProcAddress(GetModuleHandleW(L"ntdll.dll"), "RtlGetVersion");
	RtlGetVersionFunc get_version = (RtlGetVersionFunc)(void (*)(void))proc;

	if (get_version == NULL || get_version(&info) != 0) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot read the Windows version: RtlGetVersion failed");
		return FALSE;
	}
	out_version->major = info.dwMajorVersion;
	out_version->minor = info.dwMinorVersion;
	out_version->build = info.dwBuildNumber;
	out_version->is_server = info.wProductType != VER_NT_WORKSTATION;
	return TRUE;
}

gchar *
qa_win_product_name_load(GError **error)
{
	wchar_t buf[256] = {0};
	DWORD size = sizeof(buf) - sizeof(wchar_t);
	LSTATUS status = RegGetValueW(HKEY_LOCAL_MACHINE,
				      L"SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion",
				      L"ProductName",
				      RRF_RT_REG_SZ,
				      NULL,
				      buf,
				      &size);

	if (status != ERROR_SUCCESS) {
		g_autofree gchar *reason = g_win32_error_message((gint)status);

		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot read ProductName of HKLM\\SOFTWARE\\Microsoft\\Windows "
			    "NT\\CurrentVersion: %s",
			    reason);
		return NULL;
	}
	return g_utf16_to_utf8(buf, -1, NULL, NULL, NULL);
}

const gchar *
qa_win_arch_load(void)
{
	SYSTEM_INFO info = {0};

	GetNativeSystemInfo(&info);
	return qa_win_arch_name(info.wProcessorArchitecture);
}

gint64
qa_win_filetime_to_ns(gint64 filetime)
{
	return (filetime - QA_WIN_FILETIME_UNIX_EPOCH) * 100;
}

gboolean
qa_win_ns_to_filetime(gint64 ns, gint64 *out_filetime, GError **error)
{
	if (ns < 0 || ns / 100 > G_MAXINT64 - QA_WIN_FILETIME_UNIX_EPOCH) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_INVALID,
			    "Time %" G_GINT64_FORMAT " is invalid; expected nanoseconds since "
			    "1970-01-01 UTC, not negative",
			    ns);
		return FALSE;
	}
	*out_filetime = ns / 100 + QA_WIN_FILETIME_UNIX_EPOCH;
	return TRUE;
}

void
qa_win_users_add_session(GPtrArray *users,
			 const gchar *name,
			 const gchar *domain,
			 gint64 logon_filetime)
{
	gdouble login_time = (gdouble)(logon_filetime - QA_WIN_FILETIME_UNIX_EPOCH) / 1e7;
	QaIdentityUser *user;

	if (name == NULL || name[0] == '\0')
		return;
	for (guint i = 0; i < users->len; i++) {
		user = g_ptr_array_index(users, i);
		if (g_strcmp0(user->name, name) == 0) {
			user->login_time = MIN(user->login_time, login_time);
			return;
		}
	}
	user = g_new0(QaIdentityUser, 1);
	user->name = g_strdup(name);
	user->domain = g_strdup(domain);
	user->login_time = login_time;
	g_ptr_array_add(users, user);
}

GPtrArray *
qa_identity_users_load(GError **error)
{
	g_autoptr(GPtrArray) users =
	    g_ptr_array_new_with_free_func((GDestroyNotify)qa_identity_user_free);
	WTS_SESSION_INFOW *sessions = NULL;
	DWORD count = 0;

	if (!WTSEnumerateSessionsW(WTS_CURRENT_SERVER_HANDLE, 0, 1, &sessions, &count)) {
		g_autofree gchar *reason = g_win32_error_message((gint)GetLastError());

		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot list the sessions: %s",
			    reason);
		return NULL;
	}
	for (DWORD i = 0; i < count; i++) {
		WTSINFOW *info = NULL;
		DWORD size = 0;
		g_autofree gchar *name = NULL;
		g_autofree gchar *domain = NULL;

		if (!WTSQuerySessionInformationW(WTS_CURRENT_SERVER_HANDLE,
						 sessions[i].SessionId,
						 WTSSessionInfo,
						 (LPWSTR *)&info,
						 &size) ||
		    info == NULL)
			continue;
		name = g_utf16_to_utf8(info->UserName, -1, NULL, NULL, NULL);
		domain = g_utf16_to_utf8(info->Domain, -1, NULL, NULL, NULL);
		qa_win_users_add_session(users, name, domain, info->LogonTime.QuadPart);
		WTSFreeMemory(info);
	}
	WTSFreeMemory(sessions);
	return g_steal_pointer(&users);
}

gchar *
qa_identity_host_name_load(GError **error)
{
	wchar_t buf[MAX_COMPUTERNAME_LENGTH + 1] = {0};
	DWORD size = G_N_ELEMENTS(buf);

	if (!GetComputerNameW(buf, &size)) {
		g_autofree gchar *reason = g_win32_error_message((gint)GetLastError());

		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot read the computer name: %s",
			    reason);
		return NULL;
	}
	return g_utf16_to_utf8(buf, (glong)size, NULL, NULL, NULL);
}

void
qa_identity_timezone_load(gint64 when, gint64 *out_offset, gchar **out_zone)
{
	/* @when is taken to be now: GetTimeZoneInformation knows only the present (identity.h) */
	TIME_ZONE_INFORMATION tz = {0};
	DWORD which = GetTimeZoneInformation(&tz);
	LONG bias = tz.Bias;
	const wchar_t *name = tz.StandardName;

	if (which == TIME_ZONE_ID_DAYLIGHT) {
		bias += tz.DaylightBias;
		name = tz.DaylightName;
	} else if (which == TIME_ZONE_ID_STANDARD) {
		bias += tz.StandardBias;
	}
	/* Bias is minutes west of UTC; QGA's offset is seconds east */
	*out_offset = -(gint64)bias * 60;
	*out_zone = name[0] != 0 ? g_utf16_to_utf8(name, -1, NULL, NULL, NULL) : NULL;
}

QaIdentityOsInfo *
qa_identity_os_info_load(GError **error)
{
	g_autoptr(QaIdentityOsInfo) info = g_new0(QaIdentityOsInfo, 1);
	QaWinVersion version = {0};
	const gchar *name = NULL;
	const gchar *id = NULL;
	const gchar *variant = NULL;

	if (!qa_win_version_load(&version, error))
		return NULL;
	info->pretty_name = qa_win_product_name_load(error);
	if (info->pretty_name == NULL)
		return NULL;
	qa_win_version_names(&version, &name, &id);
	variant = version.is_server ? "server" : "client";
	info->kernel_version = g_strdup_printf("%u.%u", version.major, version.minor);
	info->kernel_release = g_strdup_printf("%u", version.build);
	info->machine = g_strdup(qa_win_arch_load());
	info->id = g_strdup("mswindows");
	info->name = g_strdup("Microsoft Windows");
	info->version = g_strdup(name);
	info->version_id = g_strdup(id);
	info->variant = g_strdup(variant);
	info->variant_id = g_strdup(variant);
	return g_steal_pointer(&info);
}
