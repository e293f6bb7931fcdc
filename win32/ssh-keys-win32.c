/* The keys files of ssh-keys-win32.h: where they are, their DACL, and reading and replacing
 * them without following a reparse point. */
#include "ssh-keys-win32.h"

#include <windows.h>

#include "qa-error.h"

/* as on Linux (agent/system/accounts-private.h) */
#define QA_WIN_SSH_FILE_MAX (1024 * 1024)

QaWinSshPlace *
qa_win_ssh_place_new(gboolean is_admin, const gchar *profile_dir, const gchar *program_data)
{
	QaWinSshPlace *place = g_new0(QaWinSshPlace, 1);

	place->is_shared = is_admin;
	if (is_admin) {
		place->dir = g_build_filename(program_data, "ssh", NULL);
		place->path = g_build_filename(place->dir, QA_WIN_SSH_ADMIN_KEYS_NAME, NULL);
	} else {
		place->dir = g_build_filename(profile_dir, ".ssh", NULL);
		place->path = g_build_filename(place->dir, QA_WIN_SSH_KEYS_NAME, NULL);
	}
	return place;
}

void
qa_win_ssh_place_free(QaWinSshPlace *place)
{
	if (place == NULL)
		return;
	g_free(place->dir);
	g_free(place->path);
	g_free(place);
}

static gboolean
qa_win_ssh_is_sid(const gchar *sid)
{
	if (sid == NULL || !g_str_has_prefix(sid, "S-1-") || sid[4] == '\0')
		return FALSE;
	for (const gchar *p = sid + 4; *p != '\0'; p++) {
		if (!g_ascii_isdigit(*p) && *p != '-')
			return FALSE;
	}
	return TRUE;
}

gchar *
qa_win_ssh_sddl(gboolean is_admin, const gchar *user_sid, gboolean is_dir)
{
	/* OICI: files and folders created inside inherit the entries */
	const gchar *flags = is_dir ? "OICI" : "";
	GString *sddl;

	if (!is_admin && !qa_win_ssh_is_sid(user_sid))
		return NULL;
	/* P: protected, nothing inherited from the parent */
	sddl = g_string_new("D:P");
	g_string_append_printf(sddl, "(A;%s;FA;;;SY)(A;%s;FA;;;BA)", flags, flags);
	if (!is_admin)
		g_string_append_printf(sddl, "(A;%s;FA;;;%s)", flags, user_sid);
	return g_string_free(sddl, FALSE);
}

static gboolean
qa_win_ssh_fail(const gchar *path, gint code, const gchar *why, GError **error)
{
	g_set_error(error, QA_SYSTEM_ERROR, code, "Cannot use '%s': %s", path, why);
	return FALSE;
}

static gboolean
qa_win_ssh_fail_win32(const gchar *path, DWORD code, GError **error)
{
	g_autofree gchar *reason = g_win32_error_message((gint)code);

	return qa_win_ssh_fail(path,
			       code == ERROR_FILE_NOT_FOUND || code == ERROR_PATH_NOT_FOUND
				   ? QA_SYSTEM_ERROR_NOT_FOUND
				   : QA_SYSTEM_ERROR_FAILED,
			       reason,
			       error);
}

/* refuses what @handle is unless it is a directory (@is_dir) or a file, and no reparse point */
static gboolean
qa_win_ssh_check_handle(HANDLE handle, gboolean is_dir, const gchar *path, GError **error)
{
	BY_HANDLE_FILE_INFORMATION info = {0};

	if (!GetFileInformationByHandle(handle, &info))
		return qa_win_ssh_fail_win32(path, GetLastError(), error);
	if ((info.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) != 0)
		return qa_win_ssh_fail(path,
				       QA_SYSTEM_ERROR_INVALID,
				       "it is a reparse point (a link or junction); expected a "
				       "plain directory or file (links are not followed)",
				       error);
	if (((info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) != 0) != is_dir)
		return qa_win_ssh_fail(path,
				       QA_SYSTEM_ERROR_INVALID,
				       is_dir ? "expected a directory" : "expected a regular file",
				       error);
	return TRUE;
}

struct _QaWinSshDir {
	const QaWinOps *ops;
	gchar *path;
	gchar *keys_path;
	HANDLE handle; /* the directory, open without delete sharing */
};

void
qa_win_ssh_dir_free(QaWinSshDir *dir)
{
	if (dir == NULL)
		return;
	if (dir->handle != INVALID_HANDLE_VALUE)
		CloseHandle(dir->handle);
	g_free(dir->path);
	g_free(dir->keys_path);
	g_free(dir);
}

static HANDLE
qa_win_ssh_open_dir_handle(const gunichar2 *wpath)
{
	/* no FILE_SHARE_DELETE: the directory cannot be renamed or replaced while it is open */
	return CreateFileW((LPCWSTR)wpath,
			   FILE_LIST_DIRECTORY | FILE_READ_ATTRIBUTES,
			   FILE_SHARE_READ | FILE_SHARE_WRITE,
			   NULL,
			   OPEN_EXISTING,
			   FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT,
			   NULL);
}

gboolean
qa_win_ssh_dir_open(const QaWinOps *ops,
		    const QaWinSshPlace *place,
		    const gchar *dir_sddl,
		    QaWinSshDir **out_dir,
		    GError **error)
{
	g_autoptr(QaWinSshDir) dir = g_new0(QaWinSshDir, 1);
	g_autofree gunichar2 *wpath = g_utf8_to_utf16(place->dir, -1, NULL, NULL, NULL);
	DWORD code;

	*out_dir = NULL;
	dir->ops = ops;
	dir->handle = INVALID_HANDLE_VALUE;
	dir->path = g_strdup(place->dir);
	dir->keys_path = g_strdup(place->path);
	if (wpath == NULL)
		return qa_win_ssh_fail(place->dir, QA_SYSTEM_ERROR_INVALID, "not UTF-8", error);
	dir->handle = qa_win_ssh_open_dir_handle(wpath);
	code = GetLastError();
	if (dir->handle == INVALID_HANDLE_VALUE && code == ERROR_FILE_NOT_FOUND) {
		if (dir_sddl == NULL)
			return TRUE;
		if (!CreateDirectoryW((LPCWSTR)wpath, NULL))
			return qa_win_ssh_fail_win32(place->dir, GetLastError(), error);
		if (!ops->set_security(place->dir, dir_sddl, error))
			return FALSE;
		dir->handle = qa_win_ssh_open_dir_handle(wpath);
		code = GetLastError();
	}
	if (dir->handle == INVALID_HANDLE_VALUE)
		return qa_win_ssh_fail_win32(place->dir, code, error);
	if (!qa_win_ssh_check_handle(dir->handle, TRUE, place->dir, error))
		return FALSE;
	*out_dir = g_steal_pointer(&dir);
	return TRUE;
}

static gboolean
qa_win_ssh_read_all(HANDLE handle, const gchar *path, GString *text, GError **error)
{
	gchar buf[8192];
	DWORD n = 0;

	for (;;) {
		if (!ReadFile(handle, buf, sizeof(buf), &n, NULL))
			return qa_win_ssh_fail_win32(path, GetLastError(), error);
		if (n == 0)
			break;
		g_string_append_len(text, buf, n);
		if (text->len > QA_WIN_SSH_FILE_MAX)
			return qa_win_ssh_fail(
			    path, QA_SYSTEM_ERROR_INVALID, "it is larger than 1 MiB", error);
	}
	if (memchr(text->str, '\0', text->len) != NULL)
		return qa_win_ssh_fail(
		    path, QA_SYSTEM_ERROR_INVALID, "it contains a NUL byte; expected text", error);
	return TRUE;
}

gboolean
qa_win_ssh_dir_read_keys(QaWinSshDir *dir, gchar **out_text, GError **error)
{
	g_autofree gunichar2 *wpath = g_utf8_to_utf16(dir->keys_path, -1, NULL, NULL, NULL);
	g_autoptr(GString) text = g_string_new(NULL);
	HANDLE handle;
	gboolean ok;

	*out_text = NULL;
	handle = CreateFileW((LPCWSTR)wpath,
			     GENERIC_READ,
			     FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
			     NULL,
			     OPEN_EXISTING,
			     FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_BACKUP_SEMANTICS,
			     NULL);
	if (handle == INVALID_HANDLE_VALUE && GetLastError() == ERROR_FILE_NOT_FOUND)
		return TRUE;
	if (handle == INVALID_HANDLE_VALUE)
		return qa_win_ssh_fail_win32(dir->keys_path, GetLastError(), error);
	ok = qa_win_ssh_check_handle(handle, FALSE, dir->keys_path, error) &&
	     qa_win_ssh_read_all(handle, dir->keys_path, text, error);
	CloseHandle(handle);
	if (!ok)
		return FALSE;
	*out_text = g_string_free(g_steal_pointer(&text), FALSE);
	return TRUE;
}

static gboolean
qa_win_ssh_write_all(HANDLE handle, const gchar *text)
{
	gsize len = strlen(text);

	while (len > 0) {
		DWORD n = 0;

		if (!WriteFile(handle, text, (DWORD)MIN(len, G_MAXINT32), &n, NULL) || n == 0)
			return FALSE;
		text += n;
		len -= n;
	}
	return FlushFileBuffers(handle);
}

/* a new file beside the keys with @file_sddl, then @text; its name in *@out_temp */
static gboolean
qa_win_ssh_write_temp(
    QaWinSshDir *dir, const gchar *text, const gchar *file_sddl, gchar **out_temp, GError **error)
{
	g_autofree gchar *base = g_path_get_basename(dir->keys_path);
	g_autofree gchar *temp = g_strdup_printf("%s\\.%s.%08x", dir->path, base, g_random_int());
	g_autofree gunichar2 *wtemp = g_utf8_to_utf16(temp, -1, NULL, NULL, NULL);
	HANDLE handle = CreateFileW(
	    (LPCWSTR)wtemp, GENERIC_WRITE, 0, NULL, CREATE_NEW, FILE_ATTRIBUTE_NORMAL, NULL);
	DWORD code;

	if (handle == INVALID_HANDLE_VALUE)
		return qa_win_ssh_fail_win32(temp, GetLastError(), error);
	/* the DACL before the keys: the content is never readable by others, even briefly */
	if (!dir->ops->set_security(temp, file_sddl, error)) {
		CloseHandle(handle);
		DeleteFileW((LPCWSTR)wtemp);
		return FALSE;
	}
	if (!qa_win_ssh_write_all(handle, text)) {
		code = GetLastError();
		CloseHandle(handle);
		DeleteFileW((LPCWSTR)wtemp);
		return qa_win_ssh_fail_win32(temp, code, error);
	}
	CloseHandle(handle);
	*out_temp = g_steal_pointer(&temp);
	return TRUE;
}

gboolean
qa_win_ssh_dir_write_keys(QaWinSshDir *dir,
			  const gchar *text,
			  const gchar *file_sddl,
			  GError **error)
{
	g_autofree gunichar2 *wpath = g_utf8_to_utf16(dir->keys_path, -1, NULL, NULL, NULL);
	g_autofree gunichar2 *wtemp = NULL;
	g_autofree gchar *temp = NULL;
	DWORD attributes = GetFileAttributesW((LPCWSTR)wpath);

	if (attributes != INVALID_FILE_ATTRIBUTES &&
	    (attributes & (FILE_ATTRIBUTE_REPARSE_POINT | FILE_ATTRIBUTE_DIRECTORY)) != 0)
		return qa_win_ssh_fail(dir->keys_path,
				       QA_SYSTEM_ERROR_INVALID,
				       "it is a directory or a reparse point (a link); expected a "
				       "regular file (links are not followed)",
				       error);
	if (!qa_win_ssh_write_temp(dir, text, file_sddl, &temp, error))
		return FALSE;
	wtemp = g_utf8_to_utf16(temp, -1, NULL, NULL, NULL);
	/* a link swapped in meanwhile is replaced, not followed */
	if (!MoveFileExW((LPCWSTR)wtemp,
			 (LPCWSTR)wpath,
			 MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
		DWORD code = GetLastError();

		DeleteFileW((LPCWSTR)wtemp);
		return qa_win_ssh_fail_win32(dir->keys_path, code, error);
	}
	return TRUE;
}
