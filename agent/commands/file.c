/* guest-file-open, guest-file-close, guest-file-read, guest-file-write, guest-file-seek,
 * guest-file-flush: QEMU's wire behaviour over system/file-handles.c. All of them are
 * 'blocking', so they run one at a time on the dispatcher's system thread, the only thread
 * that touches agent->files. What writes refuses a filesystem the agent holds frozen, where
 * the write would wait for the thaw. */
#include "agent.h"
#include "base64.h"
#include "file-handles.h"
#include "frozen-guard.h"
#include "qa-error.h"
#include "qa-schema.h"

gboolean
qa_cmd_guest_file_open(QaAgent *agent,
		       const QaGuestFileOpenArgs *args,
		       gint64 *out_ret,
		       GError **error)
{
	const gchar *mode = args->mode != NULL ? args->mode : "r";
	gint flags = 0;
	gint64 id;

	if (!qa_file_handles_prepare_open(agent->files, args->path, mode, &flags, error))
		return FALSE;
	/* creating or truncating blocks on a frozen filesystem as a write does */
	if (qa_file_handles_flags_write(flags) &&
	    !qa_frozen_guard_check_path(
		agent->freezer, agent->roots, args->path, "open for writing", error))
		return FALSE;
	id = qa_file_handles_open(agent->files, args->path, mode, flags, error);
	if (id < 0)
		return FALSE;
	g_message("opened file handle=%" G_GINT64_FORMAT " path=%s mode=%s", id, args->path, mode);
	*out_ret = id;
	return TRUE;
}

gboolean
qa_cmd_guest_file_close(QaAgent *agent, const QaGuestFileCloseArgs *args, GError **error)
{
	g_info("closing file handle=%" G_GINT64_FORMAT, args->handle);
	return qa_file_handles_close(agent->files, args->handle, error);
}

gboolean
qa_cmd_guest_file_read(QaAgent *agent,
		       const QaGuestFileReadArgs *args,
		       QaGuestFileRead **out_ret,
		       GError **error)
{
	g_autoptr(QaGuestFileRead) result = NULL;
	g_autofree guint8 *buf = NULL;
	gsize count = 0;
	gsize len = 0;
	gboolean is_eof = FALSE;

	/* QEMU's order: an unknown handle is named before a bad count */
	if (qa_file_handles_lookup(agent->files, args->handle, error) == NULL)
		return FALSE;
	if (!qa_file_handles_check_read_count(args->has_count, args->count, &count, error))
		return FALSE;
	buf = qa_file_handles_read(agent->files, args->handle, count, &len, &is_eof, error);
	if (buf == NULL)
		return FALSE;
	result = qa_guest_file_read_new();
	result->count = (gint64)len;
	result->buf_b64 = g_base64_encode(buf, len);
	result->eof = is_eof;
	*out_ret = g_steal_pointer(&result);
	return TRUE;
}

/* the guard takes a path: the descriptor's own /proc entry leads to the file as it is now,
 * whatever became of the name it was opened by */
static gboolean
qa_cmd_file_check_not_frozen(QaAgent *agent, const QaFileHandle *handle, GError **error)
{
	g_autofree gchar *path = qa_file_handles_dup_guard_path(agent->roots, handle);
	g_autofree gchar *purpose = g_strdup_printf(
	    "write to handle %" G_GINT64_FORMAT " ('%s')", handle->id, handle->path);

	return qa_frozen_guard_check_path(agent->freezer, agent->roots, path, purpose, error);
}

gboolean
qa_cmd_guest_file_write(QaAgent *agent,
			const QaGuestFileWriteArgs *args,
			QaGuestFileWrite **out_ret,
			GError **error)
{
	const QaFileHandle *handle = qa_file_handles_lookup(agent->files, args->handle, error);
	g_autoptr(QaGuestFileWrite) result = NULL;
	g_autofree guint8 *bytes = NULL;
	gsize len = 0;
	gsize count = 0;

	if (handle == NULL)
		return FALSE;
	bytes = qa_base64_decode(args->buf_b64, &len, error);
	if (bytes == NULL)
		return FALSE;
	if (!qa_file_handles_check_write_count(args->has_count, args->count, len, &count, error))
		return FALSE;
	if (!qa_file_handles_check_writable(handle, error))
		return FALSE;
	if (!qa_cmd_file_check_not_frozen(agent, handle, error))
		return FALSE;
	if (!qa_file_handles_write(agent->files, args->handle, bytes, count, error))
		return FALSE;
	result = qa_guest_file_write_new();
	result->count = (gint64)count;
	/* always FALSE, as in QEMU's agent (stdio's end-of-file flag, cleared after each call):
	 * the end of a file is what guest-file-read reports */
	result->eof = FALSE;
	*out_ret = g_steal_pointer(&result);
	return TRUE;
}

/* "set", "cur", "end" -> QGA's codes 0, 1, 2 (QGASeek's values, whatever the C enum's order) */
static gint64
qa_cmd_file_whence_value(const QaGuestFileWhence *whence)
{
	if (whence->type == QA_GUEST_FILE_WHENCE_KIND_VALUE)
		return whence->value;
	switch (whence->name) {
	case QA_QGA_SEEK_SET:
		return 0;
	case QA_QGA_SEEK_CUR:
		return 1;
	case QA_QGA_SEEK_END:
		return 2;
	default:
		return -1;
	}
}

gboolean
qa_cmd_guest_file_seek(QaAgent *agent,
		       const QaGuestFileSeekArgs *args,
		       QaGuestFileSeek **out_ret,
		       GError **error)
{
	g_autoptr(QaGuestFileSeek) result = NULL;
	gint whence = 0;
	gint64 position = 0;

	if (qa_file_handles_lookup(agent->files, args->handle, error) == NULL)
		return FALSE;
	if (!qa_file_handles_parse_whence(qa_cmd_file_whence_value(args->whence), &whence, error))
		return FALSE;
	if (!qa_file_handles_seek(
		agent->files, args->handle, args->offset, whence, &position, error))
		return FALSE;
	result = qa_guest_file_seek_new();
	result->position = position;
	/* always FALSE, as in QEMU's agent: fseek() clears the end-of-file flag */
	result->eof = FALSE;
	*out_ret = g_steal_pointer(&result);
	return TRUE;
}

gboolean
qa_cmd_guest_file_flush(QaAgent *agent, const QaGuestFileFlushArgs *args, GError **error)
{
	return qa_file_handles_flush(agent->files, args->handle, error);
}
