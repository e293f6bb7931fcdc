/* The persisted frozen set: round trip, atomic replacement, refusal of malformed files. */
/* cmocka.h needs these first */
/* clang-format off */
#include <glib/gstdio.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
/* clang-format on */

#include "qa-error.h"
#include "state-file.h"

static void
test_round_trip(void **state)
{
	g_autoptr(QaState) saved = qa_state_new();
	g_autoptr(QaState) loaded = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = g_dir_make_tmp("qa-state-XXXXXX", NULL);
	g_autofree gchar *path = g_build_filename(dir, QA_STATE_FILE_NAME, NULL);
	g_autoptr(GDir) listing = NULL;
	const gchar *odd[] = {"/mnt/with space;and semicolon", "/mnt/new\nline", "/mnt/ü", NULL};
	const gchar *plain[] = {"/", NULL};
	QaStateFs *fs;

	saved->is_complete = FALSE;
	saved->is_hook_pending = TRUE;
	saved->frozen_at = 1700000000123456;
	saved->deadline = 987654321;
	saved->is_rcu_expedited = TRUE;
	g_ptr_array_add(saved->filesystems, qa_state_fs_new(8, 1, "ext4", plain));
	g_ptr_array_add(saved->filesystems, qa_state_fs_new(0, 42, "btrfs", odd));
	assert_true(qa_state_file_save(dir, saved, &error));
	g_assert_no_error(error);

	loaded = qa_state_file_load(dir, &error);
	g_assert_no_error(error);
	assert_false(loaded->is_complete);
	assert_true(loaded->is_hook_pending);
	assert_true(loaded->frozen_at == saved->frozen_at);
	assert_true(loaded->deadline == saved->deadline);
	assert_int_equal(loaded->auto_thawed_at, 0);
	assert_true(loaded->is_rcu_expedited);
	assert_int_equal(loaded->filesystems->len, 2);
	fs = g_ptr_array_index(loaded->filesystems, 1);
	assert_int_equal(fs->major, 0);
	assert_int_equal(fs->minor, 42);
	assert_string_equal(fs->fstype, "btrfs");
	assert_true(g_strv_equal((const gchar *const *)fs->mountpoints, odd));

	/* no temporary files left behind; an empty state removes the file */
	listing = g_dir_open(dir, 0, NULL);
	assert_string_equal(g_dir_read_name(listing), QA_STATE_FILE_NAME);
	assert_null(g_dir_read_name(listing));
	g_ptr_array_set_size(saved->filesystems, 0);
	saved->is_hook_pending = FALSE;
	/* setting the kernel back is owed even with nothing frozen */
	assert_false(qa_state_is_empty(saved));
	saved->is_rcu_expedited = FALSE;
	assert_true(qa_state_is_empty(saved));
	assert_true(qa_state_file_save(dir, saved, &error));
	assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
	g_clear_pointer(&loaded, qa_state_free);
	loaded = qa_state_file_load(dir, &error);
	g_assert_no_error(error);
	assert_true(qa_state_is_empty(loaded));
	assert_true(loaded->is_complete);
	g_rmdir(dir);
}

static const struct {
	const gchar *text;
	const gchar *message;
} bad_states[] = {
    {"not a key file", "not a key file"},
    {"[freezer]\nversion=9\n", "version 9"},
    {"[freezer]\nversion=1\nfilesystems=8:1;\n", "8:1"},
    {"[freezer]\nversion=1\nfilesystems=x;\n", "MAJOR:MINOR"},
    {"[freezer]\nversion=1\nfilesystems=8:1;\n[fs 8:1]\nfstype=ext4\nmountpoints=rel;\n",
     "absolute"},
};

static void
test_parse_errors(void **state)
{
	for (guint i = 0; i < G_N_ELEMENTS(bad_states); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(QaState) parsed = qa_state_file_parse(bad_states[i].text, &error);

		assert_null(parsed);
		g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_PARSE);
		if (strstr(error->message, bad_states[i].message) == NULL)
			fail_msg(
			    "case %u: '%s' lacks '%s'", i, error->message, bad_states[i].message);
	}
}

static void
test_unwritable_dir(void **state)
{
	g_autoptr(QaState) saved = qa_state_new();
	g_autoptr(GError) error = NULL;
	const gchar *mps[] = {"/mnt", NULL};

	g_ptr_array_add(saved->filesystems, qa_state_fs_new(8, 1, "ext4", mps));
	assert_false(qa_state_file_save("/nonexistent/qa-state", saved, &error));
	g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_FAILED);
	assert_non_null(strstr(error->message, "/nonexistent/qa-state"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_unwritable_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
