#include "kernel-file.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "qa-fd.h"

/* Reads @path whole into a buffer with room for @size_hint bytes at first. A sysfs attribute
 * is at most a page and comes whole from the first read, so @is_short_read_eof takes a short
 * read as the end of the file (of a regular file too) and no read is spent on seeing EOF:
 * g_file_get_contents() would also fstat() and read again, a third of the syscalls of a
 * guest-get-fsinfo in a guest with a dozen disks. Files the kernel generates record by record
 * (mountinfo) give short reads before their end and are read until read() returns 0. */
static gchar *
qa_kernel_file_read_sized(const gchar *path,
			  gsize size_hint,
			  gboolean is_short_read_eof,
			  gsize *out_len)
{
	g_auto(QaFd) fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	g_autoptr(GByteArray) buf = NULL;
	gsize len = 0;

	if (fd < 0)
		return NULL;
	buf = g_byte_array_sized_new(size_hint + 1);
	for (;;) {
		gsize room = buf->len - len;
		gssize n;

		if (room < 4096) {
			g_byte_array_set_size(buf, MAX(buf->len * 2, MAX(size_hint, 4096) + 1));
			room = buf->len - len;
		}
		/* one byte always stays free for the terminating NUL */
		n = read(fd, buf->data + len, room - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return NULL;
		len += (gsize)n;
		if (n == 0 || (is_short_read_eof && (gsize)n < room - 1))
			break;
	}
	buf->data[len] = '\0';
	if (out_len != NULL)
		*out_len = len;
	return (gchar *)g_byte_array_free(g_steal_pointer(&buf), FALSE);
}

gchar *
qa_kernel_file_read(const gchar *path, gsize *out_len)
{
	return qa_kernel_file_read_sized(path, 4096, TRUE, out_len);
}

gchar *
qa_kernel_file_read_generated(const gchar *path, gsize size_hint, gsize *out_len)
{
	return qa_kernel_file_read_sized(path, size_hint, FALSE, out_len);
}
