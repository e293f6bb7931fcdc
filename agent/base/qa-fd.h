/* Owned file descriptors. Every layer opens files, so this lives in base/. */
#pragma once

#include <errno.h>
#include <glib.h>
#include <unistd.h>

/* GLib 2.74 has no g_autofd: g_auto(QaFd) fd = open(...) closes it on scope exit. */
typedef int QaFd;
static inline void
qa_fd_close(QaFd *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(QaFd, qa_fd_close)

static inline int
qa_fd_steal(QaFd *fd)
{
	int ret = *fd;
	*fd = -1;
	return ret;
}
