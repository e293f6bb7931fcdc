#include "file-handles.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qa-error.h"
#include "qa-fd.h"

struct _QaFileHandles {
	GHashTable *by_id; /* gint64 * (the handle's own id) -> QaFileHandle *, owning */
	gint64 next_id;
	guint max_open;
};

/* QEMU's table, after POSIX fopen(3): 'b' means nothing on POSIX and may come before or
 * after '+' */
static const struct {
	const gchar *name;
	gint flags;
} qa_file_handles_modes[] = {
    {"r", O_RDONLY},
    {"rb", O_RDONLY},
    {"w", O_WRONLY | O_CREAT | O_TRUNC},
    {"wb", O_WRONLY | O_CREAT | O_TRUNC},
    {"a", O_WRONLY | O_CREAT | O_APPEND},
    {"ab", O_WRONLY | O_CREAT | O_APPEND},
    {"r+", O_RDWR},
    {"rb+", O_RDWR},
    {"r+b", O_RDWR},
    {"w+", O_RDWR | O_CREAT | O_TRUNC},
    {"wb+", O_RDWR | O_CREAT | O_TRUNC},
    {"w+b", O_RDWR | O_CREAT | O_TRUNC},
    {"a+", O_RDWR | O_CREAT | O_APPEND},
    {"ab+", O_RDWR | O_CREAT | O_APPEND},
    {"a+b", O_RDWR | O_CREAT | O_APPEND},
};

gboolean
qa_file_handles_parse_mode(const gchar *mode, gint *out_flags, GError **error)
{
	for (gsize i = 0; i < G_N_ELEMENTS(qa_file_handles_modes); i++) {
		if (g_strcmp0(mode, qa_file_handles_modes[i].name) == 0) {
			*out_flags = qa_file_handles_modes[i].flags;
			return TRUE;
		}
	}
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_INVALID,
		    "invalid file open mode '%s'; expected one of r, rb, w, wb, a, ab, r+, rb+ "
		    "(or r+b), w+, wb+ (or w+b), a+, ab+ (or a+b)",
		    mode != NULL ? mode : "");
	return FALSE;
}

gboolean
qa_file_handles_flags_write(gint flags)
{
	return (flags & O_ACCMODE) != O_RDONLY;
}

gboolean
qa_file_handles_check_read_count(gboolean has_count, gint64 count, gsize *out_count, GError **error)
{
	if (!has_count) {
		*out_count = QA_FILE_HANDLES_READ_COUNT_DEFAULT;
		return TRUE;
	}
	if (count < 0 || count > QA_FILE_HANDLES_READ_COUNT_MAX) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_INVALID,
			    "value '%" G_GINT64_FORMAT "' is invalid for argument count; expected "
			    "0 to %d bytes (48 MiB)",
			    count,
			    QA_FILE_HANDLES_READ_COUNT_MAX);
		return FALSE;
	}
	*out_count = (gsize)count;
	return TRUE;
}

gboolean
qa_file_handles_check_write_count(
    gboolean has_count, gint64 count, gsize len, gsize *out_count, GError **error)
{
	if (!has_count) {
		*out_count = len;
		return TRUE;
	}
	if (count < 0 || (guint64)count > (guint64)len) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_INVALID,
			    "value '%" G_GINT64_FORMAT "' is invalid for argument count; expected "
			    "0 to %" G_GSIZE_FORMAT ", the number of bytes buf-b64 decodes to",
			    count,
			    len);
		return FALSE;
	}
	*out_count = (gsize)count;
	return TRUE;
}

gboolean
qa_file_handles_parse_whence(gint64 value, gint *out_whence, GError **error)
{
	switch (value) {
	case 0:
		*out_whence = SEEK_SET;
		return TRUE;
	case 1:
		*out_whence = SEEK_CUR;
		return TRUE;
	case 2:
		*out_whence = SEEK_END;
		return TRUE;
	default:
		break;
	}
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_INVALID,
		    "invalid whence code %" G_GINT64_FORMAT "; expected 0 (\"set\"), 1 (\"cur\") "
		    "or 2 (\"end\")",
		    value);
	return FALSE;
}

static void
qa_file_handles_entry_free(QaFileHandle *handle)
{
	if (handle == NULL)
		return;
	qa_fd_close(&handle->fd);
	g_free(handle->path);
	g_free(handle->mode);
	g_free(handle);
}

QaFileHandles *
qa_file_handles_new_full(gint64 first_id, guint max_open)
{
	QaFileHandles *handles;

	g_return_val_if_fail(first_id > 0, NULL);
	handles = g_new0(QaFileHandles, 1);
	handles->by_id = g_hash_table_new_full(
	    g_int64_hash, g_int64_equal, NULL, (GDestroyNotify)qa_file_handles_entry_free);
	handles->next_id = first_id;
	handles->max_open = max_open;
	return handles;
}

/* QEMU's agent keeps its counter in its state file, so a host that kept a handle across an agent
 * restart gets an error rather than another file. Handles here start at a random multiple of
 * 1000 above QEMU's first: a handle of an earlier agent is as good as never valid again. */
QaFileHandles *
qa_file_handles_new(void)
{
	gint64 first = QA_FILE_HANDLES_FIRST_ID + 1000 * (gint64)g_random_int_range(0, 1 << 30);

	return qa_file_handles_new_full(first, QA_FILE_HANDLES_MAX_OPEN);
}

void
qa_file_handles_free(QaFileHandles *handles)
{
	if (handles == NULL)
		return;
	g_hash_table_unref(handles->by_id);
	g_free(handles);
}

guint
qa_file_handles_get_count(QaFileHandles *handles)
{
	return g_hash_table_size(handles->by_id);
}

static gboolean
qa_file_handles_check_room(QaFileHandles *handles, GError **error)
{
	if (g_hash_table_size(handles->by_id) < handles->max_open)
		return TRUE;
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_BUSY,
		    "Cannot open another file: %u handles are open, the most the agent keeps; "
		    "close one first (guest-file-close)",
		    handles->max_open);
	return FALSE;
}

/* Windows: a path relative to the agent's working directory (System32, for the service) or to
 * the current drive's root ("\\x") means nothing the host can know */
#ifdef G_OS_WIN32
#define QA_FILE_HANDLES_ABSOLUTE_HINT "a path starting with a drive (C:\\) or a share (\\\\)"
static gboolean
qa_file_handles_is_absolute(const gchar *path)
{
	return path != NULL &&
	       ((g_ascii_isalpha(path[0]) && path[1] == ':' && G_IS_DIR_SEPARATOR(path[2])) ||
		(G_IS_DIR_SEPARATOR(path[0]) && G_IS_DIR_SEPARATOR(path[1])));
}
#else
#define QA_FILE_HANDLES_ABSOLUTE_HINT "a path starting with '/'"
static gboolean
qa_file_handles_is_absolute(const gchar *path)
{
	return path != NULL && path[0] == '/';
}
#endif

gboolean
qa_file_handles_prepare_open(
    QaFileHandles *handles, const gchar *path, const gchar *mode, gint *out_flags, GError **error)
{
	if (!qa_file_handles_parse_mode(mode, out_flags, error))
		return FALSE;
	if (!qa_file_handles_is_absolute(path)) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_INVALID,
			    "The path '%s' is not absolute; expected %s",
			    path != NULL ? path : "",
			    QA_FILE_HANDLES_ABSOLUTE_HINT);
		return FALSE;
	}
	/* before anything is opened: a refused open must not have created or truncated a file */
	return qa_file_handles_check_room(handles, error);
}

gint64
qa_file_handles_open_error(const gchar *path, const gchar *mode, int errsv, GError **error)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    errsv == ENOENT ? QA_SYSTEM_ERROR_NOT_FOUND : QA_SYSTEM_ERROR_FAILED,
		    "failed to open file '%s' (mode: '%s'): %s",
		    path,
		    mode,
		    g_strerror(errsv));
	return -1;
}

gint64
qa_file_handles_inspect_error(const gchar *path, int errsv, GError **error)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_FAILED,
		    "Cannot inspect '%s' after opening it: %s",
		    path,
		    g_strerror(errsv));
	return -1;
}

gint64
qa_file_handles_insert(QaFileHandles *handles,
		       int fd,
		       const gchar *path,
		       const gchar *mode,
		       gint flags,
		       gboolean is_fd_regular,
		       GError **error)
{
	QaFileHandle *handle;

	if (!qa_file_handles_check_room(handles, error)) {
		qa_fd_close(&fd);
		return -1;
	}
	/* never reused while the agent runs: a host holding a closed handle gets an error, not
	 * another file */
	handle = g_new0(QaFileHandle, 1);
	handle->id = handles->next_id++;
	handle->fd = fd;
	handle->path = g_strdup(path);
	handle->mode = g_strdup(mode);
	handle->flags = flags;
	handle->is_fd_regular = is_fd_regular;
	g_hash_table_insert(handles->by_id, &handle->id, handle);
	return handle->id;
}

const QaFileHandle *
qa_file_handles_lookup(QaFileHandles *handles, gint64 id, GError **error)
{
	const QaFileHandle *handle = g_hash_table_lookup(handles->by_id, &id);

	if (handle == NULL) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_NOT_FOUND,
			    "handle '%" G_GINT64_FORMAT "' has not been found; expected a handle "
			    "guest-file-open returned and guest-file-close has not closed",
			    id);
		return NULL;
	}
	return handle;
}

gboolean
qa_file_handles_check_writable(const QaFileHandle *handle, GError **error)
{
	if ((handle->flags & O_ACCMODE) != O_RDONLY)
		return TRUE;
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_INVALID,
		    "Cannot write to handle %" G_GINT64_FORMAT " ('%s'): it was opened for reading "
		    "only (mode '%s'); expected a mode with w, a or +",
		    handle->id,
		    handle->path,
		    handle->mode);
	return FALSE;
}

static gboolean
qa_file_handles_check_readable(const QaFileHandle *handle, GError **error)
{
	if ((handle->flags & O_ACCMODE) != O_WRONLY)
		return TRUE;
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_INVALID,
		    "Cannot read handle %" G_GINT64_FORMAT " ('%s'): it was opened for writing "
		    "only (mode '%s'); expected a mode with r or +",
		    handle->id,
		    handle->path,
		    handle->mode);
	return FALSE;
}

gboolean
qa_file_handles_close(QaFileHandles *handles, gint64 id, GError **error)
{
	QaFileHandle *handle = NULL;
	int fd;

	if (!g_hash_table_steal_extended(handles->by_id, &id, NULL, (gpointer *)&handle)) {
		return qa_file_handles_lookup(handles, id, error) != NULL;
	}
	fd = qa_fd_steal(&handle->fd);
	/* the descriptor is released even when close() fails (Linux), so the handle goes too */
	if (close(fd) != 0 && errno != EINTR) {
		int errsv = errno;
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Closing handle %" G_GINT64_FORMAT
			    " ('%s') failed, so what was written "
			    "may be lost: %s; the handle is closed",
			    id,
			    handle->path,
			    g_strerror(errsv));
		qa_file_handles_entry_free(handle);
		return FALSE;
	}
	qa_file_handles_entry_free(handle);
	return TRUE;
}

guint8 *
qa_file_handles_read(QaFileHandles *handles,
		     gint64 id,
		     gsize count,
		     gsize *out_len,
		     gboolean *out_eof,
		     GError **error)
{
	const QaFileHandle *handle = qa_file_handles_lookup(handles, id, error);
	g_autofree guint8 *buf = NULL;
	gsize done = 0;
	gboolean is_eof = FALSE;

	if (handle == NULL || !qa_file_handles_check_readable(handle, error))
		return NULL;
	buf = g_malloc(count + 1);
	/* as fread() in QEMU's agent: until @count bytes or the end, which is a read() of 0 (a
	 * short read is not the end in /proc and /sys, whose files come a page at a time) */
	while (done < count) {
		ssize_t n = read(handle->fd, buf + done, count - done);
		int errsv = errno;

		if (n > 0) {
			done += (gsize)n;
			continue;
		}
		if (n == 0) {
			is_eof = TRUE;
			break;
		}
		if (errsv == EINTR)
			continue;
		/* a device with nothing more to give now: what came so far is the answer */
		if (errsv == EAGAIN && done > 0)
			break;
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot read handle %" G_GINT64_FORMAT " ('%s'): %s",
			    id,
			    handle->path,
			    g_strerror(errsv));
		return NULL;
	}
	buf[done] = '\0';
	*out_len = done;
	*out_eof = is_eof;
	return g_steal_pointer(&buf);
}

gboolean
qa_file_handles_write(
    QaFileHandles *handles, gint64 id, const guint8 *buf, gsize len, GError **error)
{
	const QaFileHandle *handle = qa_file_handles_lookup(handles, id, error);
	gsize done = 0;

	if (handle == NULL || !qa_file_handles_check_writable(handle, error))
		return FALSE;
	while (done < len) {
		ssize_t n = write(handle->fd, buf + done, len - done);
		int errsv = errno;

		if (n > 0) {
			done += (gsize)n;
			continue;
		}
		if (n < 0 && errsv == EINTR)
			continue;
		/* an error after a short write is still an error: the host must not take a
		 * partial write for a whole one */
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot write to handle %" G_GINT64_FORMAT
			    " ('%s'): %s (%" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT
			    " bytes were written)",
			    id,
			    handle->path,
			    n == 0 ? "the device took no bytes" : g_strerror(errsv),
			    done,
			    len);
		return FALSE;
	}
	return TRUE;
}

static const gchar *
qa_file_handles_whence_to_string(gint whence)
{
	switch (whence) {
	case SEEK_SET:
		return "the start";
	case SEEK_CUR:
		return "the current position";
	case SEEK_END:
		return "the end";
	default:
		return "an unknown place";
	}
}

gboolean
qa_file_handles_seek(QaFileHandles *handles,
		     gint64 id,
		     gint64 offset,
		     gint whence,
		     gint64 *out_position,
		     GError **error)
{
	const QaFileHandle *handle = qa_file_handles_lookup(handles, id, error);
	off_t position;

	if (handle == NULL)
		return FALSE;
	position = lseek(handle->fd, (off_t)offset, whence);
	if (position < 0) {
		int errsv = errno;
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot seek handle %" G_GINT64_FORMAT " ('%s') to %" G_GINT64_FORMAT
			    " bytes from %s: %s",
			    id,
			    handle->path,
			    offset,
			    qa_file_handles_whence_to_string(whence),
			    g_strerror(errsv));
		return FALSE;
	}
	*out_position = (gint64)position;
	return TRUE;
}
