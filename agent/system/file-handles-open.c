/* The system calls of guest-file-* that only Linux has: open(2) with O_NOCTTY and
 * O_NONBLOCK, the 0600 mode of a new file, the /proc entry of a descriptor, fdatasync(2).
 * win32/file-handles-win32.c has the Windows ones; the table and the calls both share (read,
 * write, lseek, close) are in file-handles.c. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file-handles.h"
#include "qa-error.h"
#include "qa-fd.h"

/* a file guest-file-open creates can be read and written by its owner (root) only. QEMU's
 * agent makes it 0666 whatever the umask, so any local user could change a file the host
 * writes and later reads back or runs */
#define QA_FILE_HANDLES_NEW_FILE_MODE 0600

gchar *
qa_file_handles_dup_guard_path(const QaRoots *roots, const QaFileHandle *handle)
{
	g_autofree gchar *fd_name = g_strdup_printf("%d", handle->fd);
	g_autofree gchar *fd_path = NULL;
	struct stat st;

	if (roots == NULL || roots->proc == NULL)
		return g_strdup(handle->path);
	fd_path = g_build_filename(roots->proc, "self", "fd", fd_name, NULL);
	if (lstat(fd_path, &st) != 0 || !S_ISLNK(st.st_mode))
		return g_strdup(handle->path);
	return g_steal_pointer(&fd_path);
}

/* FIFOs and sockets: a read or write could wait forever, and the host can neither seek nor
 * size what comes out of them */
static gint64
qa_file_handles_refuse_kind(const gchar *path, mode_t st_mode, GError **error)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "Cannot open '%s': it is a %s; expected a regular file or a device",
		    path,
		    S_ISFIFO(st_mode) ? "FIFO (named pipe)" : "socket");
	return -1;
}

/* an open() that failed: QEMU's words, which clients match ("No such file or directory") */
static gint64
qa_file_handles_open_failed(const gchar *path, const gchar *mode, int errsv, GError **error)
{
	struct stat st;

	/* a FIFO nobody reads and a socket both give ENXIO, which names neither */
	if (errsv == ENXIO && stat(path, &st) == 0 &&
	    (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
		return qa_file_handles_refuse_kind(path, st.st_mode, error);
	return qa_file_handles_open_error(path, mode, errsv, error);
}

/* O_NONBLOCK: opening a FIFO must not wait for a writer, nor a device for a carrier */
static int
qa_file_handles_open_fd(const gchar *path, gint flags, gboolean *out_created)
{
	gint oflags = flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	int fd = -1;

	*out_created = FALSE;
	if ((flags & O_CREAT) != 0) {
		/* exclusively first: only a file this call created gets its mode set, and an
		 * existing file keeps its own */
		fd = open(path, oflags | O_EXCL, QA_FILE_HANDLES_NEW_FILE_MODE);
		if (fd >= 0) {
			*out_created = TRUE;
			return fd;
		}
		if (errno != EEXIST)
			return -1;
		oflags &= ~O_CREAT;
	}
	return open(path, oflags);
}

gint64
qa_file_handles_open(
    QaFileHandles *handles, const gchar *path, const gchar *mode, gint flags, GError **error)
{
	gboolean is_created = FALSE;
	g_auto(QaFd) fd = qa_file_handles_open_fd(path, flags, &is_created);
	struct stat st;

	if (fd < 0)
		return qa_file_handles_open_failed(path, mode, errno, error);
	/* open() applied the umask; fchmod() does not, so the mode is 0600 whatever it is */
	if (is_created && fchmod(fd, QA_FILE_HANDLES_NEW_FILE_MODE) != 0) {
		int errsv = errno;
		unlink(path);
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "failed to set permission 0%o on new file '%s' (mode: '%s'): %s",
			    (guint)QA_FILE_HANDLES_NEW_FILE_MODE,
			    path,
			    mode,
			    g_strerror(errsv));
		return -1;
	}
	if (fstat(fd, &st) != 0)
		return qa_file_handles_inspect_error(path, errno, error);
	/* a FIFO opened for reading: O_NONBLOCK let the open return without a writer */
	if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))
		return qa_file_handles_refuse_kind(path, st.st_mode, error);
	return qa_file_handles_insert(
	    handles, qa_fd_steal(&fd), path, mode, flags, S_ISREG(st.st_mode), error);
}

gboolean
qa_file_handles_flush(QaFileHandles *handles, gint64 id, GError **error)
{
	const QaFileHandle *handle = qa_file_handles_lookup(handles, id, error);
	int errsv;

	if (handle == NULL)
		return FALSE;
	if (fdatasync(handle->fd) == 0)
		return TRUE;
	errsv = errno;
	/* EINVAL, EROFS: a device or special file that has nothing to make durable (a
	 * terminal, /dev/null); what QEMU's fflush() did for it, passing the bytes on, is done */
	if (errsv == EINVAL || errsv == EROFS)
		return TRUE;
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_FAILED,
		    "Cannot flush handle %" G_GINT64_FORMAT " ('%s') to the disk: %s",
		    id,
		    handle->path,
		    g_strerror(errsv));
	return FALSE;
}
