/* The files a host opened with guest-file-open, and the system calls behind the guest-file-*
 * commands. One owner: the dispatcher's system thread runs every file command, one at a time,
 * so the table takes no lock.
 *
 * Reads and writes go straight to the descriptor (no stdio buffer): what a write returned has
 * reached the kernel, so a read on another handle sees it, and "flush" means durable on the
 * disk (fdatasync), not "out of a user-space buffer" as in QEMU's agent.
 *
 * Descriptors keep O_NONBLOCK after the open, as QEMU's agent keeps them: for files of a disk
 * filesystem and block devices Linux ignores it, and where it matters (terminals, /proc/kmsg,
 * character devices of drivers, FUSE) it is what keeps a read or write from waiting forever on
 * the one thread every blocking command runs on. */
#pragma once

#include <glib.h>

#include "roots.h"

/* QEMU's agent: QGA_READ_COUNT_DEFAULT and GUEST_FILE_READ_COUNT_MAX (48 MiB) */
#define QA_FILE_HANDLES_READ_COUNT_DEFAULT 4096
#define QA_FILE_HANDLES_READ_COUNT_MAX (48 * 1024 * 1024)
/* open handles at a time: QEMU's agent has no bound; each one holds a descriptor */
#define QA_FILE_HANDLES_MAX_OPEN 128
/* the least first handle, QEMU's agent's first (its persistent state's default counter) */
#define QA_FILE_HANDLES_FIRST_ID 1000

typedef struct _QaFileHandles QaFileHandles;

/* one open file; owned by the table, valid until its handle is closed */
typedef struct {
	gint64 id;
	int fd;
	gchar *path;		/* as the host named it */
	gchar *mode;		/* as the host spelt it: "rb+", "r+b", ... */
	gint flags;		/* open(2) access and creation flags of @mode */
	gboolean is_fd_regular; /* a regular file (not a device or directory) */
} QaFileHandle;

/* pure: an fopen(3) mode of QEMU's table (r rb w wb a ab r+ rb+ r+b w+ wb+ w+b a+ ab+ a+b) ->
 * O_RDONLY/O_WRONLY/O_RDWR with O_CREAT, O_TRUNC and O_APPEND as fopen() would */
gboolean
qa_file_handles_parse_mode(const gchar *mode, gint *out_flags, GError **error);
/* pure: whether a file opened with @flags can be written (or created, or truncated) */
gboolean
qa_file_handles_flags_write(gint flags);
/* pure: the bytes guest-file-read reads: @count when given, else the default; FALSE unless
 * 0 <= count <= QA_FILE_HANDLES_READ_COUNT_MAX */
gboolean
qa_file_handles_check_read_count(gboolean has_count,
				 gint64 count,
				 gsize *out_count,
				 GError **error);
/* pure: the bytes guest-file-write writes of @len decoded ones: @count when given, else all;
 * FALSE unless 0 <= count <= len */
gboolean
qa_file_handles_check_write_count(
    gboolean has_count, gint64 count, gsize len, gsize *out_count, GError **error);
/* pure: QGA's whence codes (0 set, 1 cur, 2 end) -> SEEK_SET, SEEK_CUR, SEEK_END */
gboolean
qa_file_handles_parse_whence(gint64 value, gint *out_whence, GError **error);

QaFileHandles *
qa_file_handles_new(void);
/* a table whose first handle is @first_id and which holds at most @max_open handles */
QaFileHandles *
qa_file_handles_new_full(gint64 first_id, guint max_open);
/* closes every descriptor still open */
void
qa_file_handles_free(QaFileHandles *handles);
guint
qa_file_handles_get_count(QaFileHandles *handles);

/* pure: everything guest-file-open checks before it touches the system: @mode is one of the
 * table, @path is absolute, and a handle is free; @out_flags as qa_file_handles_parse_mode() */
gboolean
qa_file_handles_prepare_open(
    QaFileHandles *handles, const gchar *path, const gchar *mode, gint *out_flags, GError **error);
/* takes @fd (also on failure) and gives it the next handle; -1 when the table is full */
gint64
qa_file_handles_insert(QaFileHandles *handles,
		       int fd,
		       const gchar *path,
		       const gchar *mode,
		       gint flags,
		       gboolean is_fd_regular,
		       GError **error);
/* the open file of @id; NULL with an error naming @id when no such handle is open */
const QaFileHandle *
qa_file_handles_lookup(QaFileHandles *handles, gint64 id, GError **error);
/* pure: FALSE naming @handle's mode when it was opened for reading only */
gboolean
qa_file_handles_check_writable(const QaFileHandle *handle, GError **error);
/* the path that leads to @handle's file itself, for the frozen-filesystem guard: its
 * descriptor's entry in <roots->proc>/self/fd (right even after a rename or unlink), or the
 * path it was opened by when that entry cannot be seen */
gchar *
qa_file_handles_dup_guard_path(const QaRoots *roots, const QaFileHandle *handle);

/* the errors of qa_file_handles_open() on both platforms, so the host reads the same text: the
 * open failed with @errsv (QEMU's "failed to open file '...' (mode: '...')", NOT_FOUND for
 * ENOENT), or the fstat() after it did; both return -1 */
gint64
qa_file_handles_open_error(const gchar *path, const gchar *mode, int errsv, GError **error);
gint64
qa_file_handles_inspect_error(const gchar *path, int errsv, GError **error);

/* after qa_file_handles_prepare_open(): opens @path with @flags (creating it 0600 when the
 * mode creates and nothing is there), refuses FIFOs and sockets, and returns the new handle;
 * -1 with an error carrying strerror's text */
gint64
qa_file_handles_open(
    QaFileHandles *handles, const gchar *path, const gchar *mode, gint flags, GError **error);
/* forgets @id and closes its descriptor; an error of close() is reported, the handle is gone
 * either way */
gboolean
qa_file_handles_close(QaFileHandles *handles, gint64 id, GError **error);
/* up to @count bytes from the current position (NUL-terminated, not counted in
 * @out_len); @out_eof when a read() returned 0, so a loop reading until eof ends */
guint8 *
qa_file_handles_read(QaFileHandles *handles,
		     gint64 id,
		     gsize count,
		     gsize *out_len,
		     gboolean *out_eof,
		     GError **error);
/* all @len bytes of @buf at the current position (the end, in append modes) */
gboolean
qa_file_handles_write(
    QaFileHandles *handles, gint64 id, const guint8 *buf, gsize len, GError **error);
gboolean
qa_file_handles_seek(QaFileHandles *handles,
		     gint64 id,
		     gint64 offset,
		     gint whence,
		     gint64 *out_position,
		     GError **error);
/* fdatasync(): what was written is on the disk, with the size needed to read it back */
gboolean
qa_file_handles_flush(QaFileHandles *handles, gint64 id, GError **error);
