/* The system calls of guest-file-* that differ on Windows (file-handles.h; the Linux ones are
 * agent/system/file-handles-open.c). A handle is a C runtime descriptor over the file's HANDLE,
 * so the table and its reads, writes, seeks and closes are the shared ones of file-handles.c.
 * Files are opened in binary mode (no CRLF translation, no ^Z end), not inherited by the
 * processes guest-exec starts, sharing reads and writes with other openers as QEMU's agent's
 * CreateFile does. A new file gets the ACL its directory passes on, as with QEMU's agent. */
#include "file-handles.h"

/* clang-format off */
#include <windows.h>
#include <errno.h>
#include <fcntl.h>
#include <io.h>
#include <sys/stat.h>
/* clang-format on */

#include <glib/gstdio.h>

#include "qa-error.h"
#include "qa-fd.h"

/* the frozen-volume guard resolves the path it was opened by: Windows has no /proc */
gchar *
qa_file_handles_dup_guard_path(const QaRoots *roots, const QaFileHandle *handle)
{
	return g_strdup(handle->path);
}

gint64
qa_file_handles_open(
    QaFileHandles *handles, const gchar *path, const gchar *mode, gint flags, GError **error)
{
	/* g_open() takes UTF-8 and calls _wopen(), so any name the host sends can be opened */
	g_auto(QaFd) fd = g_open(path, flags | O_BINARY | O_NOINHERIT, _S_IREAD | _S_IWRITE);
	struct _stat64 st;

	if (fd < 0)
		return qa_file_handles_open_error(path, mode, errno, error);
	if (_fstat64(fd, &st) != 0)
		return qa_file_handles_inspect_error(path, errno, error);
	return qa_file_handles_insert(handles,
				      qa_fd_steal(&fd),
				      path,
				      mode,
				      flags,
				      (st.st_mode & _S_IFMT) == _S_IFREG,
				      error);
}

gboolean
qa_file_handles_flush(QaFileHandles *handles, gint64 id, GError **error)
{
	const QaFileHandle *handle = qa_file_handles_lookup(handles, id, error);
	HANDLE file;

	if (handle == NULL)
		return FALSE;
	file = (HANDLE)_get_osfhandle(handle->fd);
	if (FlushFileBuffers(file))
		return TRUE;
	/* a console or pipe has nothing to make durable: what was written has been passed on */
	if (GetLastError() == ERROR_INVALID_HANDLE || GetLastError() == ERROR_INVALID_FUNCTION)
		return TRUE;
	{
		g_autofree gchar *reason = g_win32_error_message((gint)GetLastError());

		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot flush handle %" G_GINT64_FORMAT " ('%s') to the disk: %s",
			    id,
			    handle->path,
			    reason);
	}
	return FALSE;
}
