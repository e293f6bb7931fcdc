#include <errno.h>
#include <fcntl.h>
#include <glib.h>

#include "platform.h"

gint
qa_platform_open_log(const gchar *path, GError **error)
{
	gint fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640);

	if (fd < 0) {
		gint saved = errno;
		g_set_error(error,
			    G_FILE_ERROR,
			    g_file_error_from_errno(saved),
			    "cannot open log file '%s': %s",
			    path,
			    g_strerror(saved));
	}
	return fd;
}
