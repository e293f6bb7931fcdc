/* The account and security calls of QaWinOps (system-win32.h) for the SSH key commands: who a
 * user is (SID, Administrators membership, profile directory), where ProgramData is, and
 * setting a DACL. */
#include <aclapi.h>
#include <lm.h>
#include <sddl.h>
#include <shlobj.h>
#include <userenv.h>
#include <windows.h>

#include "qa-error.h"
#include "system-win32.h"

#define QA_WIN_SYS_PROFILE_LIST L"SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\ProfileList\\"

void
qa_win_account_free(QaWinAccount *account)
{
	if (account == NULL)
		return;
	g_free(account->sid);
	g_free(account->profile_dir);
	g_free(account);
}

/* whether @wname is in Administrators, directly or through another group; by the group's SID,
 * since its name is translated on a localized Windows */
static gboolean
qa_win_sys_is_admin(const gunichar2 *wname)
{
	LOCALGROUP_USERS_INFO_0 *groups = NULL;
	DWORD n_read = 0;
	DWORD n_total = 0;
	gboolean is_admin = FALSE;

	if (NetUserGetLocalGroups(NULL,
				  (LPCWSTR)wname,
				  0,
				  LG_INCLUDE_INDIRECT,
				  (LPBYTE *)&groups,
				  MAX_PREFERRED_LENGTH,
				  &n_read,
				  &n_total) != NERR_Success)
		return FALSE;
	for (DWORD i = 0; i < n_read && !is_admin; i++) {
		BYTE sid[SECURITY_MAX_SID_SIZE];
		DWORD sid_size = sizeof(sid);
		wchar_t domain[256];
		DWORD domain_size = G_N_ELEMENTS(domain);
		SID_NAME_USE use;

		if (LookupAccountNameW(
			NULL, groups[i].lgrui0_name, sid, &sid_size, domain, &domain_size, &use))
			is_admin = IsWellKnownSid(sid, WinBuiltinAdministratorsSid);
	}
	NetApiBufferFree(groups);
	return is_admin;
}

/* the profile directory Windows recorded for @sid, else (no logon yet) where it would be */
static gchar *
qa_win_sys_profile_dir(const wchar_t *wsid, const gchar *username)
{
	g_autofree gunichar2 *key = NULL;
	wchar_t path[MAX_PATH * 2];
	DWORD size = sizeof(path);
	g_autofree gchar *profiles = NULL;
	DWORD len = G_N_ELEMENTS(path);

	key = (gunichar2 *)g_malloc0((wcslen(QA_WIN_SYS_PROFILE_LIST) + wcslen(wsid) + 1) *
				     sizeof(wchar_t));
	wcscpy((wchar_t *)key, QA_WIN_SYS_PROFILE_LIST);
	wcscat((wchar_t *)key, wsid);
	/* REG_EXPAND_SZ ("%SystemDrive%\Users\name") comes back expanded */
	if (RegGetValueW(HKEY_LOCAL_MACHINE,
			 (LPCWSTR)key,
			 L"ProfileImagePath",
			 RRF_RT_REG_SZ | RRF_RT_REG_EXPAND_SZ,
			 NULL,
			 path,
			 &size) == ERROR_SUCCESS)
		return g_utf16_to_utf8((gunichar2 *)path, -1, NULL, NULL, NULL);
	/* qemu-ga's only way: the profiles directory and the user name */
	if (!GetProfilesDirectoryW(path, &len))
		return NULL;
	profiles = g_utf16_to_utf8((gunichar2 *)path, -1, NULL, NULL, NULL);
	return profiles != NULL ? g_build_filename(profiles, username, NULL) : NULL;
}

QaWinAccount *
qa_win_sys_lookup_account(const gchar *username, GError **error)
{
	g_autofree gunichar2 *wname = g_utf8_to_utf16(username, -1, NULL, NULL, NULL);
	g_autoptr(QaWinAccount) account = g_new0(QaWinAccount, 1);
	BYTE sid[SECURITY_MAX_SID_SIZE];
	DWORD sid_size = sizeof(sid);
	wchar_t domain[256];
	DWORD domain_size = G_N_ELEMENTS(domain);
	SID_NAME_USE use = SidTypeUnknown;
	wchar_t *wsid = NULL;

	if (wname == NULL ||
	    !LookupAccountNameW(NULL, (LPCWSTR)wname, sid, &sid_size, domain, &domain_size, &use) ||
	    use != SidTypeUser) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_NOT_FOUND,
			    "The user '%s' does not exist",
			    username);
		return NULL;
	}
	if (!ConvertSidToStringSidW(sid, &wsid)) {
		qa_win_sys_set_error(error,
				     QA_SYSTEM_ERROR_FAILED,
				     GetLastError(),
				     "Cannot convert the user's SID to text");
		return NULL;
	}
	account->sid = g_utf16_to_utf8((gunichar2 *)wsid, -1, NULL, NULL, NULL);
	account->profile_dir = qa_win_sys_profile_dir(wsid, username);
	LocalFree(wsid);
	account->is_admin = qa_win_sys_is_admin(wname);
	if (account->sid == NULL || account->profile_dir == NULL) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot find the profile directory of user '%s'",
			    username);
		return NULL;
	}
	return g_steal_pointer(&account);
}

gchar *
qa_win_sys_get_program_data_dir(GError **error)
{
	PWSTR wpath = NULL;
	gchar *path;
	HRESULT hr = SHGetKnownFolderPath(&FOLDERID_ProgramData, 0, NULL, &wpath);

	if (FAILED(hr)) {
		qa_win_sys_set_error(error,
				     QA_SYSTEM_ERROR_FAILED,
				     (gulong)hr,
				     "Cannot find the ProgramData folder");
		return NULL;
	}
	path = g_utf16_to_utf8((gunichar2 *)wpath, -1, NULL, NULL, NULL);
	CoTaskMemFree(wpath);
	if (path == NULL)
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "The ProgramData folder's path is not valid UTF-16");
	return path;
}

gboolean
qa_win_sys_set_security(const gchar *path, const gchar *sddl, GError **error)
{
	g_autofree gunichar2 *wpath = g_utf8_to_utf16(path, -1, NULL, NULL, NULL);
	g_autofree gunichar2 *wsddl = g_utf8_to_utf16(sddl, -1, NULL, NULL, NULL);
	PSECURITY_DESCRIPTOR descriptor = NULL;
	BOOL has_dacl = FALSE;
	BOOL is_defaulted = FALSE;
	PACL dacl = NULL;
	DWORD code;
	g_autofree gchar *what = g_strdup_printf("Cannot set the access rights of '%s'", path);

	if (wpath == NULL || wsddl == NULL ||
	    !ConvertStringSecurityDescriptorToSecurityDescriptorW(
		(LPCWSTR)wsddl, SDDL_REVISION_1, &descriptor, NULL))
		return qa_win_sys_set_error(error, QA_SYSTEM_ERROR_FAILED, GetLastError(), what);
	GetSecurityDescriptorDacl(descriptor, &has_dacl, &dacl, &is_defaulted);
	/* PROTECTED: the parent's inheritable entries no longer apply */
	code =
	    SetNamedSecurityInfoW((LPWSTR)wpath,
				  SE_FILE_OBJECT,
				  DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
				  NULL,
				  NULL,
				  dacl,
				  NULL);
	LocalFree(descriptor);
	if (code != ERROR_SUCCESS)
		return qa_win_sys_set_error(error, QA_SYSTEM_ERROR_FAILED, code, what);
	return TRUE;
}
