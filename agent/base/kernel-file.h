/* Readers for files the kernel generates (sysfs attributes, /proc tables), which every layer
 * that looks at the system reads. */
#pragma once

#include <glib.h>

/* the whole content of @path, NUL-terminated, its length in @out_len (nullable); NULL when it
 * cannot be read. One open() and, for anything up to a page, one read(). */
gchar *
qa_kernel_file_read(const gchar *path, gsize *out_len);
/* the same for a file the kernel generates record by record (/proc/self/mountinfo), whose
 * reads come short before its end (at most a page of records each): read until read()
 * returns 0, with room for @size_hint bytes from the start so that the buffer is not grown
 * and copied on the way. NULL with errno set on failure. */
gchar *
qa_kernel_file_read_generated(const gchar *path, gsize size_hint, gsize *out_len);
