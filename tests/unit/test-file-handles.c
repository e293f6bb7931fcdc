/* system/file-handles.c: the pure parts (mode table, counts, whence, the handle table) on
 * tables of cases, and the system calls on files in a temporary directory. */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "file-handles.h"
#include "qa-error.h"

static void
assert_error(GError *error, gint code, const gchar *contains)
{
	assert_non_null(error);
	assert_true(error->domain == QA_SYSTEM_ERROR);
	assert_int_equal(error->code, code);
	if (strstr(error->message, contains) == NULL)
		fail_msg("'%s' not in '%s'", contains, error->message);
}

static gboolean
fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0 || errno != EBADF;
}

static void
test_parse_mode(void **state)
{
	static const struct {
		const gchar *mode;
		gint flags;
	} cases[] = {
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

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		gint flags = -1;

		assert_true(qa_file_handles_parse_mode(cases[i].mode, &flags, &error));
		assert_null(error);
		assert_int_equal(flags, cases[i].flags);
		assert_int_equal(qa_file_handles_flags_write(flags),
				 cases[i].mode[0] != 'r' || strchr(cases[i].mode, '+'));
	}
}

static void
test_parse_mode_refuses(void **state)
{
	static const gchar *const cases[] = {
	    "",
	    "R",
	    "rw",
	    "r+ ",
	    " r",
	    "x",
	    "rb+b",
	    "wx",
	    "a++",
	    "r\n",
	    "rbb",
	    "+",
	    "e",
	    "rt",
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		gint flags = -1;

		assert_false(qa_file_handles_parse_mode(cases[i], &flags, &error));
		assert_error(error, QA_SYSTEM_ERROR_INVALID, "expected one of r, rb, w, wb, a, ab");
		assert_int_equal(flags, -1);
	}
}

static void
test_read_count(void **state)
{
	static const struct {
		gboolean has_count;
		gint64 count;
		gint64 expected; /* -1: refused */
	} cases[] = {
	    {FALSE, 0, 4096},
	    {FALSE, -5, 4096}, /* an absent count's value means nothing */
	    {TRUE, 0, 0},
	    {TRUE, 1, 1},
	    {TRUE, 1048576, 1048576},
	    {TRUE, 48 * 1024 * 1024, 48 * 1024 * 1024},
	    {TRUE, 48 * 1024 * 1024 + 1, -1},
	    {TRUE, -1, -1},
	    {TRUE, G_MININT64, -1},
	    {TRUE, G_MAXINT64, -1},
	    {TRUE, (gint64)G_MAXUINT32 + 1, -1},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		gsize count = 12345;
		gboolean ok = qa_file_handles_check_read_count(
		    cases[i].has_count, cases[i].count, &count, &error);

		if (cases[i].expected < 0) {
			assert_false(ok);
			assert_error(error, QA_SYSTEM_ERROR_INVALID, "0 to 50331648 bytes");
			assert_int_equal(count, 12345);
		} else {
			assert_true(ok);
			assert_int_equal(count, cases[i].expected);
		}
	}
}

static void
test_write_count(void **state)
{
	static const struct {
		gboolean has_count;
		gint64 count;
		gsize len;
		gint64 expected; /* -1: refused */
	} cases[] = {
	    {FALSE, 0, 10, 10},
	    {FALSE, 0, 0, 0},
	    {TRUE, 0, 10, 0},
	    {TRUE, 4, 10, 4},
	    {TRUE, 10, 10, 10},
	    {TRUE, 11, 10, -1},
	    {TRUE, 1, 0, -1},
	    {TRUE, -1, 10, -1},
	    {TRUE, G_MININT64, 10, -1},
	    {TRUE, G_MAXINT64, 10, -1},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		gsize count = 12345;
		gboolean ok = qa_file_handles_check_write_count(
		    cases[i].has_count, cases[i].count, cases[i].len, &count, &error);

		if (cases[i].expected < 0) {
			assert_false(ok);
			assert_error(
			    error, QA_SYSTEM_ERROR_INVALID, "is invalid for argument count");
			assert_int_equal(count, 12345);
		} else {
			assert_true(ok);
			assert_int_equal(count, cases[i].expected);
		}
	}
}

static void
test_parse_whence(void **state)
{
	static const struct {
		gint64 value;
		gint expected; /* -1: refused */
	} cases[] = {
	    {0, SEEK_SET},
	    {1, SEEK_CUR},
	    {2, SEEK_END},
	    {3, -1},
	    {-1, -1},
	    {4, -1}, /* SEEK_HOLE is Linux's, not QGA's */
	    {G_MAXINT64, -1},
	    {(gint64)G_MAXUINT32 + 1, -1}, /* 0 once truncated to 32 bits */
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		gint whence = 99;
		gboolean ok = qa_file_handles_parse_whence(cases[i].value, &whence, &error);

		if (cases[i].expected < 0) {
			assert_false(ok);
			assert_error(error, QA_SYSTEM_ERROR_INVALID, "expected 0 (\"set\"), 1");
			assert_int_equal(whence, 99);
		} else {
			assert_true(ok);
			assert_int_equal(whence, cases[i].expected);
		}
	}
}

static int
open_null(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	assert_true(fd >= 0);
	return fd;
}

static void
test_table_ids_never_reused(void **state)
{
	QaFileHandles *handles = qa_file_handles_new_full(7, 2);
	g_autoptr(GError) error = NULL;
	int fd_a = open_null();
	int fd_b = open_null();
	int fd_c = open_null();
	gint64 a = qa_file_handles_insert(handles, fd_a, "/a", "r", O_RDONLY, TRUE, NULL);
	gint64 b = qa_file_handles_insert(handles, fd_b, "/b", "w", O_WRONLY, TRUE, NULL);
	const QaFileHandle *handle;

	assert_int_equal(a, 7);
	assert_int_equal(b, 8);
	assert_int_equal(qa_file_handles_get_count(handles), 2);
	handle = qa_file_handles_lookup(handles, b, NULL);
	assert_non_null(handle);
	assert_int_equal(handle->id, 8);
	assert_int_equal(handle->fd, fd_b);
	assert_string_equal(handle->path, "/b");
	assert_string_equal(handle->mode, "w");

	assert_true(qa_file_handles_close(handles, a, NULL));
	assert_false(fd_is_open(fd_a));
	assert_null(qa_file_handles_lookup(handles, a, &error));
	assert_error(error, QA_SYSTEM_ERROR_NOT_FOUND, "handle '7' has not been found");
	g_clear_error(&error);
	assert_false(qa_file_handles_close(handles, a, &error));
	assert_error(error, QA_SYSTEM_ERROR_NOT_FOUND, "handle '7' has not been found");
	g_clear_error(&error);

	/* the freed place gets a new number, never the closed one */
	assert_int_equal(qa_file_handles_insert(handles, fd_c, "/c", "r", O_RDONLY, TRUE, NULL), 9);
	qa_file_handles_free(handles);
	assert_false(fd_is_open(fd_b));
	assert_false(fd_is_open(fd_c));
}

static void
test_table_bounded(void **state)
{
	QaFileHandles *handles = qa_file_handles_new_full(1, 2);
	g_autoptr(GError) error = NULL;
	int fd = -1;
	gint flags = 0;

	assert_true(qa_file_handles_prepare_open(handles, "/x", "r", &flags, NULL));
	assert_int_equal(qa_file_handles_insert(handles, open_null(), "/a", "r", 0, TRUE, NULL), 1);
	assert_int_equal(qa_file_handles_insert(handles, open_null(), "/b", "r", 0, TRUE, NULL), 2);
	/* full: refused before anything is opened, and an insert closes what it was given */
	assert_false(qa_file_handles_prepare_open(handles, "/x", "w", &flags, &error));
	assert_error(error, QA_SYSTEM_ERROR_BUSY, "2 handles are open");
	g_clear_error(&error);
	fd = open_null();
	assert_int_equal(qa_file_handles_insert(handles, fd, "/c", "r", 0, TRUE, &error), -1);
	assert_error(error, QA_SYSTEM_ERROR_BUSY, "close one first");
	assert_false(fd_is_open(fd));
	assert_true(qa_file_handles_close(handles, 1, NULL));
	assert_int_equal(qa_file_handles_insert(handles, open_null(), "/d", "r", 0, TRUE, NULL), 3);
	qa_file_handles_free(handles);
	qa_file_handles_free(NULL);
}

static void
test_default_table(void **state)
{
	QaFileHandles *handles = qa_file_handles_new();
	gint64 first = qa_file_handles_insert(handles, open_null(), "/a", "r", 0, TRUE, NULL);

	assert_true(first >= 1000 && first % 1000 == 0);
	for (guint i = 1; i < QA_FILE_HANDLES_MAX_OPEN; i++)
		assert_true(qa_file_handles_insert(handles, open_null(), "/a", "r", 0, TRUE, NULL) >
			    first);
	assert_int_equal(qa_file_handles_get_count(handles), 128);
	assert_int_equal(qa_file_handles_insert(handles, open_null(), "/a", "r", 0, TRUE, NULL),
			 -1);
	qa_file_handles_free(handles);
}

static void
test_prepare_open_refuses(void **state)
{
	static const struct {
		const gchar *path;
		const gchar *mode;
		const gchar *expected;
	} cases[] = {
	    {"tmp/x", "r", "is not absolute"},
	    {"", "r", "is not absolute"},
	    {"./x", "w", "is not absolute"},
	    {"../etc/passwd", "r", "is not absolute"},
	    {"/tmp/x", "q", "invalid file open mode 'q'"},
	    {"x", "q", "invalid file open mode 'q'"}, /* the mode first, as in QEMU's agent */
	};
	QaFileHandles *handles = qa_file_handles_new();

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		gint flags = 0;

		assert_false(qa_file_handles_prepare_open(
		    handles, cases[i].path, cases[i].mode, &flags, &error));
		assert_error(error, QA_SYSTEM_ERROR_INVALID, cases[i].expected);
	}
	qa_file_handles_free(handles);
}

/* a temporary directory and a table for the tests that make real system calls */
typedef struct {
	gchar *dir;
	QaFileHandles *handles;
} Fixture;

static int
setup_dir(void **state)
{
	Fixture *fixture = g_new0(Fixture, 1);

	fixture->dir = g_dir_make_tmp("qa-file-handles-XXXXXX", NULL);
	assert_non_null(fixture->dir);
	fixture->handles = qa_file_handles_new();
	*state = fixture;
	return 0;
}

static int
teardown_dir(void **state)
{
	Fixture *fixture = *state;
	g_autoptr(GDir) dir = g_dir_open(fixture->dir, 0, NULL);
	const gchar *name;

	qa_file_handles_free(fixture->handles);
	while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *path = g_build_filename(fixture->dir, name, NULL);
		g_remove(path);
	}
	g_rmdir(fixture->dir);
	g_free(fixture->dir);
	g_free(fixture);
	return 0;
}

static gint64
open_in(Fixture *fixture, const gchar *name, const gchar *mode, GError **error)
{
	g_autofree gchar *path = g_build_filename(fixture->dir, name, NULL);
	gint flags = 0;

	if (!qa_file_handles_prepare_open(fixture->handles, path, mode, &flags, error))
		return -1;
	return qa_file_handles_open(fixture->handles, path, mode, flags, error);
}

static void
test_created_file_is_0600(void **state)
{
	Fixture *fixture = *state;
	g_autofree gchar *path = g_build_filename(fixture->dir, "new", NULL);
	g_autofree gchar *kept = g_build_filename(fixture->dir, "kept", NULL);
	mode_t old = umask(0);
	struct stat st;

	/* a permissive umask and a restrictive one: 0600 either way */
	assert_true(open_in(fixture, "new", "w", NULL) > 0);
	umask(0277);
	assert_true(open_in(fixture, "new2", "a+", NULL) > 0);
	umask(old);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	g_free(path);
	path = g_build_filename(fixture->dir, "new2", NULL);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);

	/* an existing file keeps its mode, also when truncated */
	assert_true(g_file_set_contents(kept, "data", -1, NULL));
	assert_int_equal(chmod(kept, 0644), 0);
	assert_true(open_in(fixture, "kept", "w", NULL) > 0);
	assert_int_equal(stat(kept, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(st.st_size, 0);
}

static void
test_missing_file(void **state)
{
	Fixture *fixture = *state;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = g_build_filename(fixture->dir, "missing", NULL);
	g_autofree gchar *expected = g_strdup_printf(
	    "failed to open file '%s' (mode: 'r'): No such file or directory", path);

	assert_int_equal(open_in(fixture, "missing", "r", &error), -1);
	assert_error(error, QA_SYSTEM_ERROR_NOT_FOUND, expected);
	assert_int_equal(qa_file_handles_get_count(fixture->handles), 0);
}

static void
test_fifo_refused(void **state)
{
	Fixture *fixture = *state;
	g_autofree gchar *path = g_build_filename(fixture->dir, "fifo", NULL);
	static const gchar *const modes[] = {"r", "w", "r+", "a"};

	assert_int_equal(mkfifo(path, 0600), 0);
	for (guint i = 0; i < G_N_ELEMENTS(modes); i++) {
		g_autoptr(GError) error = NULL;

		assert_int_equal(open_in(fixture, "fifo", modes[i], &error), -1);
		assert_error(error, QA_SYSTEM_ERROR_UNSUPPORTED, "it is a FIFO (named pipe)");
	}
	assert_int_equal(qa_file_handles_get_count(fixture->handles), 0);
}

static void
test_read_until_eof(void **state)
{
	Fixture *fixture = *state;
	g_autofree gchar *path = g_build_filename(fixture->dir, "ten", NULL);
	gint64 id;
	gsize len = 0;
	gboolean is_eof = TRUE;
	g_autofree guint8 *buf = NULL;

	assert_true(g_file_set_contents(path, "0123456789", 10, NULL));
	id = open_in(fixture, "ten", "r", NULL);
	/* nothing asked, nothing read, no end seen (as QEMU's fread() of 0) */
	buf = qa_file_handles_read(fixture->handles, id, 0, &len, &is_eof, NULL);
	assert_int_equal(len, 0);
	assert_false(is_eof);
	g_free(buf);
	buf = qa_file_handles_read(fixture->handles, id, 4, &len, &is_eof, NULL);
	assert_int_equal(len, 4);
	assert_memory_equal(buf, "0123", 4);
	assert_false(is_eof);
	g_free(buf);
	/* exactly what is left: the end is not seen yet ... */
	buf = qa_file_handles_read(fixture->handles, id, 6, &len, &is_eof, NULL);
	assert_int_equal(len, 6);
	assert_false(is_eof);
	g_free(buf);
	/* ... the next read sees it */
	buf = qa_file_handles_read(fixture->handles, id, 6, &len, &is_eof, NULL);
	assert_int_equal(len, 0);
	assert_true(is_eof);
	g_free(buf);
	/* more than is left: the end in one read */
	assert_true(qa_file_handles_close(fixture->handles, id, NULL));
	id = open_in(fixture, "ten", "rb", NULL);
	buf = qa_file_handles_read(fixture->handles, id, 4096, &len, &is_eof, NULL);
	assert_int_equal(len, 10);
	assert_true(is_eof);
}

static void
test_read_proc_pages(void **state)
{
	Fixture *fixture = *state;
	g_autofree gchar *expected = NULL;
	gsize expected_len = 0;
	g_autofree guint8 *buf = NULL;
	gsize len = 0;
	gboolean is_eof = FALSE;
	gint flags = 0;
	gint64 id;

	/* /proc/self/smaps is a regular file whose read() stops at a page even mid-file: a short
	 * read is not the end */
	assert_true(
	    qa_file_handles_prepare_open(fixture->handles, "/proc/self/smaps", "r", &flags, NULL));
	id = qa_file_handles_open(fixture->handles, "/proc/self/smaps", "r", flags, NULL);
	assert_true(id > 0);
	buf = qa_file_handles_read(fixture->handles, id, 1 << 20, &len, &is_eof, NULL);
	assert_true(g_file_get_contents("/proc/self/smaps", &expected, &expected_len, NULL));
	assert_true(is_eof);
	assert_true(len > 3 * 4096);
	assert_int_equal(buf[len - 1], '\n');
	assert_true(len + 8192 > expected_len && expected_len + 8192 > len);
}

static void
test_write_seek_flush(void **state)
{
	Fixture *fixture = *state;
	static const guint8 data[] = {0x00, 0xff, 'a', 0x00, 0x80, '\n'};
	g_autofree gchar *path = g_build_filename(fixture->dir, "w", NULL);
	g_autofree gchar *contents = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree guint8 *buf = NULL;
	gsize len = 0;
	gboolean is_eof = FALSE;
	gint64 position = -1;
	gint64 id = open_in(fixture, "w", "w+", NULL);

	assert_true(qa_file_handles_write(fixture->handles, id, data, sizeof data, NULL));
	assert_true(qa_file_handles_flush(fixture->handles, id, NULL));
	assert_true(qa_file_handles_seek(fixture->handles, id, -2, SEEK_END, &position, NULL));
	assert_int_equal(position, 4);
	assert_true(qa_file_handles_seek(fixture->handles, id, -3, SEEK_CUR, &position, NULL));
	assert_int_equal(position, 1);
	buf = qa_file_handles_read(fixture->handles, id, 100, &len, &is_eof, NULL);
	assert_int_equal(len, 5);
	assert_memory_equal(buf, data + 1, 5);
	assert_true(is_eof);
	assert_true(g_file_get_contents(path, &contents, &len, NULL));
	assert_int_equal(len, sizeof data);
	assert_memory_equal(contents, data, sizeof data);

	assert_false(qa_file_handles_seek(fixture->handles, id, -1, SEEK_SET, &position, &error));
	assert_error(error, QA_SYSTEM_ERROR_FAILED, "to -1 bytes from the start: Invalid argument");
}

static void
test_access_modes_enforced(void **state)
{
	Fixture *fixture = *state;
	g_autoptr(GError) error = NULL;
	gsize len = 0;
	gboolean is_eof = FALSE;
	gint64 writer = open_in(fixture, "f", "a", NULL);
	gint64 reader = open_in(fixture, "f", "r", NULL);

	assert_null(qa_file_handles_read(fixture->handles, writer, 1, &len, &is_eof, &error));
	assert_error(error, QA_SYSTEM_ERROR_INVALID, "opened for writing only (mode 'a')");
	g_clear_error(&error);
	assert_false(
	    qa_file_handles_write(fixture->handles, reader, (const guint8 *)"x", 1, &error));
	assert_error(error, QA_SYSTEM_ERROR_INVALID, "opened for reading only (mode 'r')");
}

static void
test_directory(void **state)
{
	Fixture *fixture = *state;
	g_autoptr(GError) error = NULL;
	gsize len = 0;
	gboolean is_eof = FALSE;
	gint flags = 0;
	gint64 id;

	assert_true(
	    qa_file_handles_prepare_open(fixture->handles, fixture->dir, "r", &flags, NULL));
	id = qa_file_handles_open(fixture->handles, fixture->dir, "r", flags, NULL);
	assert_true(id > 0);
	assert_null(qa_file_handles_read(fixture->handles, id, 10, &len, &is_eof, &error));
	assert_error(error, QA_SYSTEM_ERROR_FAILED, "Is a directory");
	g_clear_error(&error);
	assert_true(
	    qa_file_handles_prepare_open(fixture->handles, fixture->dir, "w", &flags, NULL));
	assert_int_equal(qa_file_handles_open(fixture->handles, fixture->dir, "w", flags, &error),
			 -1);
	assert_error(error, QA_SYSTEM_ERROR_FAILED, "Is a directory");
}

static void
test_guard_path(void **state)
{
	Fixture *fixture = *state;
	g_autoptr(QaRoots) roots = qa_roots_new("/proc", "/sys", "/dev", FALSE);
	g_autoptr(QaRoots) no_proc = qa_roots_new("/nonexistent-proc", "/sys", "/dev", FALSE);
	g_autofree gchar *path = g_build_filename(fixture->dir, "g", NULL);
	gint64 id = open_in(fixture, "g", "w", NULL);
	const QaFileHandle *handle = qa_file_handles_lookup(fixture->handles, id, NULL);
	g_autofree gchar *fd_path = g_strdup_printf("/proc/self/fd/%d", handle->fd);
	g_autofree gchar *guard = qa_file_handles_dup_guard_path(roots, handle);
	g_autofree gchar *fallback = qa_file_handles_dup_guard_path(no_proc, handle);

	assert_string_equal(guard, fd_path);
	assert_string_equal(fallback, path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_mode),
	    cmocka_unit_test(test_parse_mode_refuses),
	    cmocka_unit_test(test_read_count),
	    cmocka_unit_test(test_write_count),
	    cmocka_unit_test(test_parse_whence),
	    cmocka_unit_test(test_table_ids_never_reused),
	    cmocka_unit_test(test_table_bounded),
	    cmocka_unit_test(test_default_table),
	    cmocka_unit_test(test_prepare_open_refuses),
	    cmocka_unit_test_setup_teardown(test_created_file_is_0600, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_missing_file, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_fifo_refused, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_read_until_eof, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_read_proc_pages, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_write_seek_flush, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_access_modes_enforced, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_directory, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_guard_path, setup_dir, teardown_dir),
	};
	return cmocka_run_group_tests_name("file-handles", tests, NULL, NULL);
}
