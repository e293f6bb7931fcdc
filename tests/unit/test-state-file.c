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

/* a mountpoint that is not UTF-8, with a space, a newline and a percent sign, survives byte for
 * byte (version 1, a key file, lost the whole file over such a name) */
static void
test_any_bytes_round_trip(void **state)
{
	g_autoptr(QaState) saved = qa_state_new();
	g_autoptr(QaState) loaded = NULL;
	g_autofree gchar *text = NULL;
	const gchar *odd[] = {"/mnt/caf\xe9 100%\nx", "/mnt/\x01\x7f", NULL};
	QaStateFs *fs = qa_state_fs_new(7, 3, "ext4", odd);

	fs->serial = 12;
	fs->frozen_at = 1700000000000001;
	g_ptr_array_add(saved->filesystems, fs);
	text = qa_state_file_to_data(saved);
	/* one line per entry, plain ASCII */
	for (const gchar *p = text; *p != '\0'; p++)
		assert_true(*p == '\n' || (*p >= ' ' && *p < 0x7f));
	loaded = qa_state_file_parse(text, strlen(text));
	assert_null(loaded->damage);
	assert_true(loaded->is_complete);
	fs = g_ptr_array_index(loaded->filesystems, 0);
	assert_true(g_strv_equal((const gchar *const *)fs->mountpoints, odd));
	assert_int_equal(fs->serial, 12);
	assert_true(fs->frozen_at == 1700000000000001);
}

/* A damaged file keeps every filesystem whose device numbers can be read, says what it lost,
 * and is never "nothing frozen, all complete" unless it says so itself. */
static const struct {
	const gchar *text;
	guint n_filesystems;
	gboolean is_complete;
	const gchar *damage; /* NULL: none */
} damaged[] = {
    {"", 0, FALSE, "not a freeze state"},
    {"garbage\nfs 8:1 type=ext4 mp=/data\n", 1, FALSE, "not a freeze state"},
    {"quiesce-agent-state 2\ncomplete 1\nfs 8:1 type=ext4 mp=/da%ZZta\nfs 8:2 mp=/b\n",
     2,
     TRUE,
     "undecodable"},
    {"quiesce-agent-state 2\ncomplete 1\nfs x:y mp=/a\nfs 8:3 mp=/c\n",
     1,
     TRUE,
     "without device numbers"},
    {"quiesce-agent-state 2\ncomplete 1\nfs 8:4\n", 1, TRUE, "without a mountpoint"},
    {"quiesce-agent-state 2\ncomplete 1\nfs 8:5 mp=/e future=1\nnew-key 7\n", 1, TRUE, NULL},
    {"quiesce-agent-state 9\ncomplete 1\n", 0, TRUE, "unknown version"},
    /* version 1: a key file, read whole when it can be */
    {"[freezer]\nversion=1\ncomplete=true\nfilesystems=8:1;\n[fs 8:1]\nfstype=ext4\n"
     "mountpoints=/data;\n",
     1,
     TRUE,
     NULL},
    /* with a name that is not UTF-8 (version 1 of the agent refused the whole file) */
    {"[freezer]\nversion=1\ncomplete=true\nfilesystems=8:1;7:2;\n[fs 8:1]\nfstype=ext4\n"
     "mountpoints=/d\xe9;\n[fs 7:2]\nfstype=xfs\nmountpoints=/x;\n",
     2,
     TRUE,
     NULL},
    /* and by its group names when GLib cannot read it at all */
    {"[freezer]\ncomplete=true\n[fs 8:1]\nx\n[fs 9:9]\n", 2, TRUE, "unreadable version 1 file"},
};

static void
test_damaged_files(void **state)
{
	for (guint i = 0; i < G_N_ELEMENTS(damaged); i++) {
		g_autoptr(QaState) parsed =
		    qa_state_file_parse(damaged[i].text, strlen(damaged[i].text));

		if (parsed->filesystems->len != damaged[i].n_filesystems)
			fail_msg("case %u: %u filesystems", i, parsed->filesystems->len);
		if (parsed->is_complete != damaged[i].is_complete)
			fail_msg("case %u: complete=%d", i, parsed->is_complete);
		if (damaged[i].damage == NULL && parsed->damage != NULL)
			fail_msg("case %u: unexpected damage '%s'", i, parsed->damage);
		if (damaged[i].damage != NULL &&
		    (parsed->damage == NULL || strstr(parsed->damage, damaged[i].damage) == NULL))
			fail_msg("case %u: damage '%s' lacks '%s'",
				 i,
				 parsed->damage,
				 damaged[i].damage);
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
	    cmocka_unit_test(test_any_bytes_round_trip),
	    cmocka_unit_test(test_damaged_files),
	    cmocka_unit_test(test_unwritable_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
