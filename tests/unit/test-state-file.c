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

static QaDiskAddress *
test_disk(const gchar *serial, const gchar *dev, guint minor)
{
	QaDiskAddress *disk = qa_disk_address_new();

	disk->bus_type = QA_BLOCKDEV_BUS_SCSI;
	disk->pci = (QaPciAddress){0, 0, 4, 0};
	disk->target = 2;
	disk->unit = 3;
	disk->major = 8;
	disk->minor = minor;
	disk->serial = g_strdup(serial);
	disk->dev = g_strdup(dev);
	return disk;
}

/* a state with every outcome member set, with values that need encoding */
static QaState *
test_outcome_state(void)
{
	g_autoptr(QaState) state = qa_state_new();
	g_autoptr(QaFreezeOutcome) freeze = qa_freeze_outcome_new(7, "guest-fsfreeze-freeze-list");
	QaFreezeOutcomeDisk *disk = g_new0(QaFreezeOutcomeDisk, 1);
	const gchar *mps[] = {"/mnt/a b", "/mnt/c,d%", NULL};
	const gchar *one[] = {"/mnt/a b", NULL};
	QaFreezeOutcomeFs *fs = qa_freeze_outcome_fs_new(7, 3, "ext4", mps);
	QaFreezeOutcomeFs *skipped = qa_freeze_outcome_fs_new(0, 42, "vfat", one);
	QaHookRun *run = qa_hook_run_new("freeze");
	QaFreezeOutcomeThaw *thaw = qa_freeze_outcome_thaw_new(QA_FREEZE_OUTCOME_BY_AUTO_THAW);

	freeze->mountpoints = g_strdupv((gchar **)mps);
	freeze->started_at = 1700000000000001;
	freeze->ended_at = 1700000000100002;
	freeze->count = 1;
	freeze->error = g_strdup("Cannot freeze '/mnt/c,d%': FIFREEZE failed: I/O error.\nx");
	freeze->prepare_us = 11;
	freeze->flush_us = 22;
	freeze->freeze_us = 33;
	freeze->dirty_kib = 4096;
	freeze->disks = g_ptr_array_new_with_free_func((GDestroyNotify)qa_freeze_outcome_disk_free);
	disk->selector = g_strdup("serial=A,B dev=/dev/sd%b");
	disk->disks = g_ptr_array_new_with_free_func((GDestroyNotify)qa_disk_address_free);
	g_ptr_array_add(disk->disks, test_disk("A,B", "/dev/sdb 1", 16));
	g_ptr_array_add(disk->disks, test_disk(NULL, NULL, 32));
	disk->mountpoints = g_strdupv((gchar **)one);
	g_ptr_array_add(freeze->disks, disk);
	fs->result = QA_FREEZE_OUTCOME_ROLLED_BACK;
	fs->detail = g_strdup("thawed again: the call failed");
	fs->flush_us = 812;
	fs->freeze_us = 95;
	fs->other_disks = g_ptr_array_new_with_free_func((GDestroyNotify)qa_disk_address_free);
	g_ptr_array_add(fs->other_disks, test_disk("OTHER", "/dev/sdc", 32));
	g_ptr_array_add(freeze->filesystems, fs);
	skipped->result = QA_FREEZE_OUTCOME_SKIPPED;
	skipped->detail = g_strdup("not supported");
	g_ptr_array_add(freeze->filesystems, skipped);
	run->started_at = 1700000000000005;
	run->duration_us = 20113;
	run->exit_status = 3;
	run->last_line = g_strdup("database refused = no");
	run->error = g_strdup("The fsfreeze hook failed");
	g_ptr_array_add(freeze->hooks, run);
	thaw->at = 1700000000200000;
	thaw->duration_us = 1830;
	thaw->count = 1;
	thaw->n_left = 1;
	g_strfreev(thaw->mountpoints);
	thaw->mountpoints = g_strdupv((gchar **)one);
	g_strfreev(thaw->errors);
	thaw->errors = g_strdupv((gchar **)mps);
	thaw->hook = qa_hook_run_new("thaw");
	thaw->hook->exit_status = 0;
	state->serial = 7;
	state->pid = 4242;
	state->last_freeze = g_steal_pointer(&freeze);
	state->last_thaw = thaw;
	return g_steal_pointer(&state);
}

/* every member of the outcomes survives, byte for byte: the file written from what was read is
 * the file that was read */
static void
test_outcome_round_trip(void **state)
{
	g_autoptr(QaState) saved = test_outcome_state();
	g_autoptr(QaState) loaded = NULL;
	g_autoptr(QaState) copy = NULL;
	g_autofree gchar *text = qa_state_file_to_data(saved);
	g_autofree gchar *again = NULL;
	g_autofree gchar *copied = NULL;
	QaFreezeOutcomeDisk *disk;
	QaDiskAddress *address;
	QaFreezeOutcomeFs *fs;

	for (const gchar *p = text; *p != '\0'; p++)
		assert_true(*p == '\n' || (*p >= ' ' && *p < 0x7f));
	loaded = qa_state_file_parse(text, strlen(text));
	assert_null(loaded->damage);
	assert_false(qa_state_is_empty(loaded));
	again = qa_state_file_to_data(loaded);
	assert_string_equal(again, text);
	copy = qa_state_copy(loaded);
	copied = qa_state_file_to_data(copy);
	assert_string_equal(copied, text);

	assert_int_equal(loaded->serial, 7);
	assert_int_equal(loaded->pid, 4242);
	assert_string_equal(loaded->last_freeze->command, "guest-fsfreeze-freeze-list");
	assert_string_equal(loaded->last_freeze->mountpoints[1], "/mnt/c,d%");
	assert_string_equal(loaded->last_freeze->error, saved->last_freeze->error);
	disk = g_ptr_array_index(loaded->last_freeze->disks, 0);
	assert_string_equal(disk->selector, "serial=A,B dev=/dev/sd%b");
	address = g_ptr_array_index(disk->disks, 0);
	assert_string_equal(address->serial, "A,B");
	assert_string_equal(address->dev, "/dev/sdb 1");
	assert_int_equal(address->bus_type, QA_BLOCKDEV_BUS_SCSI);
	assert_int_equal(address->target, 2);
	assert_null(((QaDiskAddress *)g_ptr_array_index(disk->disks, 1))->serial);
	fs = qa_freeze_outcome_find_fs(loaded->last_freeze, 7, 3);
	assert_int_equal(fs->result, QA_FREEZE_OUTCOME_ROLLED_BACK);
	assert_int_equal(fs->freeze_us, 95);
	assert_int_equal(
	    ((QaHookRun *)g_ptr_array_index(loaded->last_freeze->hooks, 0))->exit_status, 3);
	assert_int_equal(loaded->last_thaw->by, QA_FREEZE_OUTCOME_BY_AUTO_THAW);
	assert_int_equal(loaded->last_thaw->n_left, 1);
	assert_string_equal(loaded->last_thaw->hook->action, "thaw");
}

/* a freeze recorded with empty lists keeps them empty, not absent; nothing recorded: none */
static void
test_outcome_empty_lists(void **state)
{
	g_autoptr(QaState) saved = qa_state_new();
	g_autoptr(QaState) loaded = NULL;
	g_autofree gchar *text = NULL;

	saved->last_freeze = qa_freeze_outcome_new(1, "guest-fsfreeze-freeze-list");
	saved->last_freeze->mountpoints = g_new0(gchar *, 1);
	saved->last_freeze->disks = g_ptr_array_new();
	text = qa_state_file_to_data(saved);
	loaded = qa_state_file_parse(text, strlen(text));
	assert_non_null(loaded->last_freeze->mountpoints);
	assert_null(loaded->last_freeze->mountpoints[0]);
	assert_non_null(loaded->last_freeze->disks);
	assert_int_equal(loaded->last_freeze->disks->len, 0);
	assert_null(loaded->last_thaw);
	g_clear_pointer(&saved->last_freeze, qa_freeze_outcome_free);
	assert_true(qa_state_is_empty(saved));
}

/* outcome lines that cannot be read are dropped, and are never damage: they decide nothing
 * about what is frozen, so they must not make a successor thaw anything */
static void
test_outcome_lenient(void **state)
{
	const gchar *text = "quiesce-agent-state 2\ncomplete 1\n"
			    "fs 8:1 type=ext4 serial=4 since=5 mp=/data\n"
			    "serial x\n"
			    "freeze-fs 8:1 result=frozen\n" /* before any freeze line */
			    "freeze serial=4 count=zz ok=1 mp=/da%ZZ\n"
			    "freeze-fs nonsense result=nope\n"
			    "freeze-fs 8:1 result=nope other=a,b flush-us=\n"
			    "freeze-disk disk=1,2,3\n"
			    "thaw-hook action=thaw\n" /* before any thaw line */
			    "thaw by=somebody count=2\n"
			    "future-key 1\n";
	g_autoptr(QaState) loaded = qa_state_file_parse(text, strlen(text));
	QaFreezeOutcomeFs *fs;

	assert_null(loaded->damage);
	assert_true(loaded->is_complete);
	assert_int_equal(loaded->filesystems->len, 1);
	assert_int_equal(((QaStateFs *)g_ptr_array_index(loaded->filesystems, 0))->serial, 4);
	assert_int_equal(loaded->serial, 0);
	assert_int_equal(loaded->last_freeze->serial, 4);
	assert_int_equal(loaded->last_freeze->count, 0);
	assert_true(loaded->last_freeze->is_success);
	assert_null(loaded->last_freeze->mountpoints);
	assert_int_equal(loaded->last_freeze->filesystems->len, 1);
	fs = g_ptr_array_index(loaded->last_freeze->filesystems, 0);
	assert_int_equal(fs->result, QA_FREEZE_OUTCOME_PLANNED);
	assert_null(fs->other_disks);
	assert_int_equal(loaded->last_freeze->disks->len, 1);
	assert_int_equal(loaded->last_thaw->by, QA_FREEZE_OUTCOME_BY_HOST);
	assert_int_equal(loaded->last_thaw->count, 2);
	assert_null(loaded->last_thaw->hook);
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
	    cmocka_unit_test(test_outcome_round_trip),
	    cmocka_unit_test(test_outcome_empty_lists),
	    cmocka_unit_test(test_outcome_lenient),
	    cmocka_unit_test(test_unwritable_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
