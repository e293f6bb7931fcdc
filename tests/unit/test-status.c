/* quiesce-agent --status: what it prints of a state, as an administrator reads it. */
/* cmocka.h needs these first */
/* clang-format off */
#include <glib.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
/* clang-format on */

#include "status.h"

#define NOW_REAL (G_GINT64_CONSTANT(1796292000) * G_USEC_PER_SEC)
#define NOW_MONO (G_GINT64_CONSTANT(5000) * G_USEC_PER_SEC)

static void
assert_contains(const gchar *text, const gchar *part)
{
	if (strstr(text, part) == NULL)
		fail_msg("'%s' is not in:\n%s", part, text);
}

/* frozen by call 3 a minute ago, auto-thaw in two minutes, the hook owed, the last freeze with a
 * disk, a skip and a hook, an earlier auto-thaw */
static void
test_status_frozen(void **state)
{
	g_autoptr(QaState) st = qa_state_new();
	const gchar *mps[] = {"/srv/data", "/srv/bind", NULL};
	const gchar *caught[] = {"/srv/data", NULL};
	QaStateFs *fs = qa_state_fs_new(254, 17, "ext4", mps);
	QaFreezeOutcome *call = qa_freeze_outcome_new(3, "guest-fsfreeze-freeze-list");
	QaFreezeOutcomeFs *skipped = qa_freeze_outcome_fs_new(0, 40, "vfat", caught);
	QaFreezeOutcomeDisk *disk = g_new0(QaFreezeOutcomeDisk, 1);
	QaHookRun *run = qa_hook_run_new("freeze");
	QaFreezeOutcomeThaw *thaw = qa_freeze_outcome_thaw_new(QA_FREEZE_OUTCOME_BY_AUTO_THAW);
	g_autofree gchar *text = NULL;

	fs->serial = 3;
	fs->frozen_at = NOW_REAL - 60 * G_USEC_PER_SEC;
	g_ptr_array_add(st->filesystems, fs);
	st->deadline = NOW_MONO + 120 * G_USEC_PER_SEC;
	st->is_hook_pending = TRUE;
	call->started_at = fs->frozen_at;
	call->ended_at = fs->frozen_at + 1000;
	call->is_success = TRUE;
	call->count = 1;
	call->dirty_kib = 512;
	call->disks = g_ptr_array_new_with_free_func((GDestroyNotify)qa_freeze_outcome_disk_free);
	disk->selector = g_strdup("serial=QA-DATA");
	disk->mountpoints = g_strdupv((gchar **)caught);
	g_ptr_array_add(call->disks, disk);
	skipped->result = QA_FREEZE_OUTCOME_SKIPPED;
	skipped->detail = g_strdup("its filesystem type does not support freezing");
	g_ptr_array_add(call->filesystems, skipped);
	run->exit_status = 0;
	run->duration_us = 2500;
	run->last_line = g_strdup("database flushed");
	g_ptr_array_add(call->hooks, run);
	thaw->at = NOW_REAL - G_GINT64_CONSTANT(3600) * G_USEC_PER_SEC;
	thaw->count = 2;
	st->last_freeze = call;
	st->last_thaw = thaw;
	text = qa_status_format(st, "/run/quiesce-agent", "pid 12, running", NOW_REAL, NOW_MONO);
	assert_contains(text, "State directory: /run/quiesce-agent\nAgent: pid 12, running\n");
	assert_contains(text, "Frozen: 1 filesystem\n");
	assert_contains(text,
			"  /srv/data (ext4, 254:17), frozen at 2026-12-03T09:59:00Z (1 min 0 s "
			"ago) by freeze call #3\n");
	assert_contains(text, "Auto-thaw: at 2026-12-03T10:02:00Z (2 min 0 s from now)\n");
	assert_contains(text, "Thaw hook: owed");
	assert_contains(text, "Last freeze: call #3, guest-fsfreeze-freeze-list, started at");
	assert_contains(text, ": froze 1\n");
	assert_contains(text, "  named disk {serial=QA-DATA}: caught /srv/data\n");
	assert_contains(text, "; 512 KiB dirty before\n");
	assert_contains(text,
			"  /srv/data: skipped: its filesystem type does not support freezing\n");
	assert_contains(text,
			"  hook 'freeze': exit status 0 after 2.5 ms; last line: database "
			"flushed\n");
	assert_contains(text, "Last thaw: by auto-thaw, at 2026-12-03T09:00:00Z (1 h 0 min ago)");
	assert_contains(text, "quiesce-agent --emergency-thaw");
}

static void
test_status_thawed(void **state)
{
	g_autoptr(QaState) st = qa_state_new();
	g_autofree gchar *text = NULL;

	st->damage = g_strdup("line 3: a number that is not one");
	text = qa_status_format(st, "/run/qa", "unknown", NOW_REAL, NOW_MONO);
	assert_contains(text,
			"Damaged: line 3: a number that is not one; anything may be frozen\n");
	assert_contains(text, "Frozen: nothing\n");
	assert_null(strstr(text, "Auto-thaw"));
	assert_null(strstr(text, "--emergency-thaw"));
}

/* the agent's process as /proc shows it; a pid that is not the agent's is said to be so */
static void
test_status_describe_agent(void **state)
{
	g_autofree gchar *none = qa_status_describe_agent(0);
	g_autofree gchar *gone = qa_status_describe_agent(G_MAXINT);
	g_autofree gchar *other = qa_status_describe_agent(getpid());

	assert_contains(none, "unknown");
	assert_contains(gone, "not running");
	assert_contains(other, "not running (that pid is now '");
	assert_contains(other, "test-status");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_status_frozen),
	    cmocka_unit_test(test_status_thawed),
	    cmocka_unit_test(test_status_describe_agent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
