/* guest-file-open, guest-file-close, guest-file-read, guest-file-write, guest-file-seek,
 * guest-file-flush: not implemented yet. */
#include "agent.h"
#include "qa-error.h"
#include "qa-schema.h"

gboolean
qa_cmd_guest_file_open(QaAgent *agent,
		       const QaGuestFileOpenArgs *args,
		       gint64 *out_ret,
		       GError **error)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "%s is not implemented yet",
		    "guest-file-open");
	return FALSE;
}

gboolean
qa_cmd_guest_file_close(QaAgent *agent, const QaGuestFileCloseArgs *args, GError **error)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "%s is not implemented yet",
		    "guest-file-close");
	return FALSE;
}

gboolean
qa_cmd_guest_file_read(QaAgent *agent,
		       const QaGuestFileReadArgs *args,
		       QaGuestFileRead **out_ret,
		       GError **error)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "%s is not implemented yet",
		    "guest-file-read");
	return FALSE;
}

gboolean
qa_cmd_guest_file_write(QaAgent *agent,
			const QaGuestFileWriteArgs *args,
			QaGuestFileWrite **out_ret,
			GError **error)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "%s is not implemented yet",
		    "guest-file-write");
	return FALSE;
}

gboolean
qa_cmd_guest_file_seek(QaAgent *agent,
		       const QaGuestFileSeekArgs *args,
		       QaGuestFileSeek **out_ret,
		       GError **error)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "%s is not implemented yet",
		    "guest-file-seek");
	return FALSE;
}

gboolean
qa_cmd_guest_file_flush(QaAgent *agent, const QaGuestFileFlushArgs *args, GError **error)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "%s is not implemented yet",
		    "guest-file-flush");
	return FALSE;
}
