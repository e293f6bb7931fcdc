/* Freezing and thawing by disk, the record of what each call did (the freeze report), and the
 * emergency thaw beside a running freezer, against the fake kernel of freezer-fake.c: nothing
 * here freezes a real filesystem. */
/* cmocka.h needs these first */
/* clang-format off */
#include <glib/gstdio.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
/* clang-format on */

#include "freezer-fake.h"
#include "freezer.h"
#include "qa-error.h"
#include "state-file.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Fake, fake_free)

/* disks A, B and C (and SPARE, with nothing on it): "img" is an image file on "host", both on
 * A; "span" is an LV over A and B; "vfat" cannot be frozen; "excl" is excluded by the test's
 * configuration */
static const FakeFs ondisks[] = {
    {"img", NULL, "ext4", 0, TRUE, "host", "A"},
    {"host", NULL, "ext4", 1, TRUE, NULL, "A"},
    {"span", NULL, "xfs", 0, TRUE, NULL, "A,B"},
    {"bonly", NULL, "ext4", 0, TRUE, NULL, "B"},
    {"vfat", NULL, "vfat", 0, TRUE, NULL, "C"},
    {"excl", NULL, "ext4", 0, TRUE, NULL, "C"},
    {"tmp", NULL, "tmpfs", 0, FALSE, NULL, NULL},
};

static const gchar *const excluded[] = {"*/excl", NULL};

static Fake *
new_fake(void)
{
	Fake *fake = fake_new(ondisks, G_N_ELEMENTS(ondisks));

	fake->options.exclude_mountpoints = (gchar **)excluded;
	return fake;
}

static QaFreezer *
new_freezer(Fake *fake)
{
	g_autoptr(GError) error = NULL;
	QaFreezer *freezer = qa_freezer_new(&fake->options, &error);

	g_assert_no_error(error);
	return freezer;
}

/* "serial=A" or "dev=/dev/fakeB" */
static GPtrArray *
selectors(const gchar *first, ...)
{
	GPtrArray *array = g_ptr_array_new_with_free_func((GDestroyNotify)qa_disk_selector_free);
	va_list args;

	va_start(args, first);
	for (const gchar *text = first; text != NULL; text = va_arg(args, const gchar *)) {
		QaDiskSelector *selector = qa_disk_selector_new();
		if (g_str_has_prefix(text, "serial="))
			selector->serial = g_strdup(text + strlen("serial="));
		else
			selector->dev = g_strdup(text + strlen("dev="));
		g_ptr_array_add(array, selector);
	}
	va_end(args);
	return array;
}

static gboolean
freeze_disks(QaFreezer *freezer, GPtrArray *disks, guint *out_count, GError **error)
{
	const QaFreezeRequest request = {"guest-fsfreeze-freeze-list", NULL, disks};

	return qa_freezer_freeze_request(freezer, &request, out_count, error);
}

static gboolean
thaw_disks(QaFreezer *freezer, GPtrArray *disks, guint *out_count, GError **error)
{
	const QaFreezeRequest request = {"guest-fsfreeze-thaw", NULL, disks};

	return qa_freezer_thaw_request(freezer, &request, out_count, error);
}

static QaFreezeOutcomeFs *
outcome_of(QaState *state, const gchar *name)
{
	for (guint i = 0; i < state->last_freeze->filesystems->len; i++) {
		QaFreezeOutcomeFs *fs = g_ptr_array_index(state->last_freeze->filesystems, i);
		g_autofree gchar *base = g_path_get_basename(fs->mountpoints[0]);
		if (g_strcmp0(base, name) == 0)
			return fs;
	}
	fail_msg("no outcome for '%s'", name);
	return NULL;
}

/* the base names of @mountpoints, joined */
static gchar *
names_of(gchar **mountpoints)
{
	g_autoptr(GString) text = g_string_new(NULL);

	for (guint i = 0; mountpoints != NULL && mountpoints[i] != NULL; i++) {
		g_autofree gchar *base = g_path_get_basename(mountpoints[i]);
		g_string_append_printf(text, "%s%s", i > 0 ? " " : "", base);
	}
	return g_strdup(text->str);
}

/* A disk catches what lives on it, through an image file and an LV over two disks, in
 * dependency order; the report says which disks each call named and what each caught, and
 * which filesystem also lives on a disk nobody named. Thawing by disk thaws what is on it. */
static void
test_freeze_by_disk(void **state)
{
	g_autoptr(Fake) fake = new_fake();
	g_autoptr(QaFreezer) freezer = new_freezer(fake);
	g_autoptr(GPtrArray) disk_a = selectors("serial=A", NULL);
	g_autoptr(GPtrArray) disk_b = selectors("dev=/dev/fakeB", NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(QaState) report = NULL;
	g_autoptr(QaState) after = NULL;
	g_autofree gchar *caught = NULL;
	g_autofree gchar *thawed = NULL;
	QaFreezeOutcomeDisk *disk;
	QaFreezeOutcomeFs *span;
	guint count = 0;

	assert_true(freeze_disks(freezer, disk_a, &count, &error));
	g_assert_no_error(error);
	assert_int_equal(count, 3);
	/* the image before the filesystem holding it; span and img in parallel */
	assert_true(g_str_has_suffix(fake_calls(fake, "freeze"), " host"));
	report = qa_freezer_get_state(freezer);
	assert_int_equal(report->serial, 1);
	assert_int_equal(report->filesystems->len, 3);
	assert_int_equal(((QaStateFs *)g_ptr_array_index(report->filesystems, 0))->serial, 1);
	assert_true(((QaStateFs *)g_ptr_array_index(report->filesystems, 0))->frozen_at > 0);
	assert_true(report->last_freeze->is_success);
	assert_int_equal(report->last_freeze->count, 3);
	assert_null(report->last_freeze->mountpoints);
	assert_int_equal(report->last_freeze->disks->len, 1);
	disk = g_ptr_array_index(report->last_freeze->disks, 0);
	assert_string_equal(disk->selector, "serial=A");
	assert_int_equal(disk->disks->len, 1);
	caught = names_of(disk->mountpoints);
	assert_string_equal(caught, "img host span");
	span = outcome_of(report, "span");
	assert_int_equal(span->result, QA_FREEZE_OUTCOME_FROZEN);
	assert_int_equal(span->other_disks->len, 1);
	assert_string_equal(((QaDiskAddress *)g_ptr_array_index(span->other_disks, 0))->serial,
			    "B");
	assert_null(outcome_of(report, "host")->other_disks);
	assert_true(report->last_freeze->ended_at >= report->last_freeze->started_at);

	/* B holds only span of what is frozen */
	assert_true(thaw_disks(freezer, disk_b, &count, &error));
	assert_int_equal(count, 1);
	assert_string_equal(fake_calls(fake, "thaw"), "span");
	assert_true(thaw_disks(freezer, disk_a, &count, &error));
	assert_int_equal(count, 2);
	assert_string_equal(fake_calls(fake, "thaw"), "span host img");
	after = qa_freezer_get_state(freezer);
	assert_int_equal(after->last_thaw->by, QA_FREEZE_OUTCOME_BY_HOST);
	assert_int_equal(after->last_thaw->count, 2);
	thawed = names_of(after->last_thaw->mountpoints);
	assert_string_equal(thawed, "host img");
	assert_false(qa_freezer_is_any_frozen(freezer));
}

/* a name that matches no disk refuses the call before anything happens; a disk with nothing on
 * it is no error; an already frozen filesystem on a named disk is, naming it */
static void
test_freeze_by_disk_refusals(void **state)
{
	g_autoptr(Fake) fake = new_fake();
	g_autoptr(QaFreezer) freezer = new_freezer(fake);
	g_autoptr(GPtrArray) nope = selectors("serial=A", "serial=NOPE", NULL);
	g_autoptr(GPtrArray) spare = selectors("dev=/dev/fakeSPARE", NULL);
	g_autoptr(GPtrArray) disk_b = selectors("serial=B", NULL);
	g_autoptr(GPtrArray) span = fake_paths(fake, "span", NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(QaState) report = NULL;
	QaFreezeOutcomeDisk *disk;
	guint count = 0;

	assert_false(freeze_disks(freezer, nope, &count, &error));
	assert_non_null(strstr(error->message, "{serial=NOPE} matches no disk"));
	assert_int_equal(fake->calls->len, 0);
	report = qa_freezer_get_state(freezer);
	assert_false(report->last_freeze->is_success);
	assert_string_equal(report->last_freeze->error, error->message);
	assert_true(report->last_freeze->ended_at > 0);
	g_clear_error(&error);
	g_clear_pointer(&report, qa_state_free);

	assert_true(freeze_disks(freezer, spare, &count, &error));
	assert_int_equal(count, 0);
	report = qa_freezer_get_state(freezer);
	assert_int_equal(report->serial, 2);
	disk = g_ptr_array_index(report->last_freeze->disks, 0);
	assert_int_equal(disk->disks->len, 1);
	assert_null(disk->mountpoints[0]);
	g_clear_pointer(&report, qa_state_free);

	assert_true(qa_freezer_freeze(freezer, span, &count, &error));
	assert_false(freeze_disks(freezer, disk_b, &count, &error));
	g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_BUSY);
	assert_non_null(strstr(error->message, "/span' is already frozen"));
	assert_false(fake_kernel_is_frozen(fake, "bonly"));
	assert_true(qa_freezer_thaw(freezer, NULL, &count, &error));
	assert_int_equal(count, 1);
}

/* a freeze by disk leaves alone what a freeze of everything leaves alone, and says why */
static void
test_freeze_by_disk_leaves_alone(void **state)
{
	g_autoptr(Fake) fake = new_fake();
	g_autoptr(QaFreezer) freezer = new_freezer(fake);
	g_autoptr(GPtrArray) disk_c = selectors("serial=C", NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(QaState) report = NULL;
	QaFreezeOutcomeFs *vfat;
	QaFreezeOutcomeFs *excl;
	guint count = 0;

	fake_set_fault(fake, "freeze", "vfat", -EOPNOTSUPP);
	assert_true(freeze_disks(freezer, disk_c, &count, &error));
	assert_int_equal(count, 0);
	report = qa_freezer_get_state(freezer);
	vfat = outcome_of(report, "vfat");
	excl = outcome_of(report, "excl");
	assert_int_equal(vfat->result, QA_FREEZE_OUTCOME_SKIPPED);
	assert_non_null(strstr(vfat->detail, "does not support freezing"));
	assert_true(vfat->freeze_us >= 0);
	assert_int_equal(excl->result, QA_FREEZE_OUTCOME_EXCLUDED);
	assert_string_equal(excl->detail, "excluded by the configuration pattern '*/excl'");
	assert_int_equal(excl->freeze_us, -1);
}

/* a failed FIFREEZE: the report has the error for it, and what the call froze before is rolled
 * back; the state file says the same */
static void
test_report_rollback(void **state)
{
	g_autoptr(Fake) fake = new_fake();
	g_autoptr(QaFreezer) freezer = new_freezer(fake);
	g_autoptr(GError) error = NULL;
	g_autoptr(QaState) report = NULL;
	g_autoptr(QaState) saved = NULL;
	g_autofree gchar *report_text = NULL;
	g_autofree gchar *saved_text = NULL;
	guint count = 0;

	fake_set_fault(fake, "freeze", "host", -EIO);
	assert_false(qa_freezer_freeze(freezer, NULL, &count, &error));
	report = qa_freezer_get_state(freezer);
	assert_string_equal(report->last_freeze->command, "guest-fsfreeze-freeze");
	assert_false(report->last_freeze->is_success);
	assert_string_equal(report->last_freeze->error, error->message);
	assert_int_equal(outcome_of(report, "host")->result, QA_FREEZE_OUTCOME_FAILED);
	assert_string_equal(outcome_of(report, "host")->detail, g_strerror(EIO));
	assert_int_equal(outcome_of(report, "img")->result, QA_FREEZE_OUTCOME_ROLLED_BACK);
	assert_int_equal(outcome_of(report, "bonly")->result, QA_FREEZE_OUTCOME_ROLLED_BACK);
	assert_int_equal(outcome_of(report, "excl")->result, QA_FREEZE_OUTCOME_EXCLUDED);
	assert_int_equal(outcome_of(report, "vfat")->result, QA_FREEZE_OUTCOME_ROLLED_BACK);
	assert_true(outcome_of(report, "img")->flush_us >= 0);
	assert_int_equal(report->filesystems->len, 0);
	saved = qa_state_file_load(fake->statedir, &error);
	report_text = qa_state_file_to_data(report);
	saved_text = qa_state_file_to_data(saved);
	assert_string_equal(saved_text, report_text);
}

/* every hook run is in the record: the freeze hook's in the freeze call's, the thaw hook's in
 * the thaw's, with its exit status and last line */
static void
test_report_hooks(void **state)
{
	g_autoptr(Fake) fake = new_fake();
	g_autofree gchar *hook = fake_path(fake, "hook");
	g_autoptr(QaFreezer) freezer = NULL;
	g_autoptr(GPtrArray) img = fake_paths(fake, "img", "host", NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(QaState) frozen = NULL;
	g_autoptr(QaState) thawed = NULL;
	QaHookRun *run;
	guint count = 0;

	assert_true(g_file_set_contents(
	    hook, "#!/bin/sh\necho \"$1 done\"\n[ \"$1\" = thaw ] && exit 4\nexit 0\n", -1, NULL));
	assert_int_equal(g_chmod(hook, 0755), 0);
	fake->options.hook = hook;
	freezer = new_freezer(fake);
	assert_true(qa_freezer_freeze(freezer, img, &count, &error));
	frozen = qa_freezer_get_state(freezer);
	assert_int_equal(frozen->last_freeze->hooks->len, 1);
	run = g_ptr_array_index(frozen->last_freeze->hooks, 0);
	assert_string_equal(run->action, "freeze");
	assert_int_equal(run->exit_status, 0);
	assert_string_equal(run->last_line, "freeze done");
	assert_true(frozen->is_hook_pending);
	assert_false(qa_freezer_thaw(freezer, NULL, &count, &error));
	assert_non_null(strstr(error->message, "thaw hook failed"));
	thawed = qa_freezer_get_state(freezer);
	assert_int_equal(thawed->last_thaw->count, 2);
	assert_int_equal(thawed->last_thaw->hook->exit_status, 4);
	assert_string_equal(thawed->last_thaw->hook->last_line, "thaw done");
	assert_false(thawed->is_hook_pending);
}

/* the watchdog's thaw is recorded as the auto-thaw it is, and the deadline is reported while
 * frozen */
static void
test_report_auto_thaw(void **state)
{
	g_autoptr(Fake) fake = new_fake();
	g_autoptr(QaFreezer) freezer = NULL;
	g_autoptr(GPtrArray) names = fake_paths(fake, "bonly", NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(QaState) frozen = NULL;
	g_autoptr(QaState) report = NULL;
	gint64 start;
	guint count = 0;

	fake->options.auto_thaw_ms = 300;
	freezer = new_freezer(fake);
	assert_true(qa_freezer_freeze(freezer, names, &count, &error));
	frozen = qa_freezer_get_state(freezer);
	assert_true(frozen->deadline > 0);
	start = g_get_monotonic_time();
	while (fake_kernel_n_frozen(fake) > 0 &&
	       g_get_monotonic_time() - start < 5 * G_USEC_PER_SEC)
		g_usleep(20 * 1000);
	do {
		g_clear_pointer(&report, qa_state_free);
		report = qa_freezer_get_state(freezer);
	} while (report->last_thaw == NULL && g_get_monotonic_time() - start < 5 * G_USEC_PER_SEC);
	assert_int_equal(report->last_thaw->by, QA_FREEZE_OUTCOME_BY_AUTO_THAW);
	assert_int_equal(report->last_thaw->count, 1);
	assert_int_equal(report->deadline, 0);
	assert_true(report->auto_thawed_at > 0);
}

/* until someone (the watchdog, a host's thaw on another thread) is inside FITHAW of @name */
static void
wait_for_thaw_call(Fake *fake, const gchar *name)
{
	gint64 start = g_get_monotonic_time();

	while (strstr(fake_calls(fake, "thaw"), name) == NULL &&
	       g_get_monotonic_time() - start < 5 * G_USEC_PER_SEC)
		g_usleep(5 * 1000);
	assert_non_null(strstr(fake_calls(fake, "thaw"), name));
}

/* The watchdog takes what it thaws out of the frozen set before FITHAW: until FITHAW returned
 * and the thaw is in the report, status must still say frozen (a host that polls status and
 * then reads the report saw "thawed" with no thaw reported, while the filesystem was still
 * frozen in the kernel). */
static void
test_status_frozen_until_auto_thaw_reported(void **state)
{
	g_autoptr(Fake) fake = new_fake();
	g_autoptr(QaFreezer) freezer = NULL;
	g_autoptr(GPtrArray) names = fake_paths(fake, "bonly", NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(QaState) report = NULL;
	g_autoptr(QaState) during = NULL;
	g_autoptr(QaState) on_file = NULL;
	const QaStateFs *fs;
	gint64 start;
	guint count = 0;

	fake->options.auto_thaw_ms = 100;
	fake->stuck = g_strdup("thaw bonly");
	freezer = new_freezer(fake);
	assert_true(qa_freezer_freeze(freezer, names, &count, &error));
	start = g_get_monotonic_time();
	wait_for_thaw_call(fake, "bonly");
	/* the watchdog is inside FITHAW: status, the filesystem's own flag (fsinfo, trim) and
	 * the report still say frozen, with when and by which call */
	assert_true(fake_kernel_is_frozen(fake, "bonly"));
	assert_true(qa_freezer_is_any_frozen(freezer));
	during = qa_freezer_get_state(freezer);
	assert_int_equal(during->filesystems->len, 1);
	fs = g_ptr_array_index(during->filesystems, 0);
	assert_string_equal(fs->mountpoints[0], g_ptr_array_index(names, 0));
	assert_int_equal(fs->serial, 1);
	assert_true(fs->frozen_at > 0);
	assert_true(qa_freezer_is_frozen(freezer, fs->major, fs->minor));
	/* and an agent killed now leaves its successor the record of it */
	on_file = qa_state_file_load(fake->statedir, &error);
	assert_non_null(on_file);
	assert_int_equal(on_file->filesystems->len, 1);
	assert_int_equal(((QaStateFs *)g_ptr_array_index(on_file->filesystems, 0))->minor,
			 fs->minor);
	fake_release_stuck(fake);
	while (qa_freezer_is_any_frozen(freezer) &&
	       g_get_monotonic_time() - start < 5 * G_USEC_PER_SEC)
		g_usleep(5 * 1000);
	assert_false(qa_freezer_is_any_frozen(freezer));
	/* the moment status says thawed, the report has the thaw */
	report = qa_freezer_get_state(freezer);
	assert_non_null(report->last_thaw);
	assert_int_equal(report->last_thaw->by, QA_FREEZE_OUTCOME_BY_AUTO_THAW);
	assert_int_equal(report->filesystems->len, 0);
	assert_false(qa_freezer_is_frozen(freezer, fs->major, fs->minor));
	assert_false(fake_kernel_is_frozen(fake, "bonly"));
}

static gpointer
thaw_in_thread(gpointer data)
{
	g_autoptr(GError) error = NULL;
	guint count = 0;

	return GUINT_TO_POINTER(qa_freezer_thaw(data, NULL, &count, &error) && count == 1);
}

/* The same for a host's thaw, whose status a host may ask for while FITHAW runs (status is
 * answered out of band): frozen until the thaw returns. */
static void
test_status_frozen_until_thaw_returns(void **state)
{
	g_autoptr(Fake) fake = new_fake();
	g_autoptr(QaFreezer) freezer = NULL;
	g_autoptr(GPtrArray) names = fake_paths(fake, "bonly", NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(QaState) during = NULL;
	g_autoptr(QaState) after = NULL;
	GThread *thread;
	const QaStateFs *fs;
	guint count = 0;

	fake->stuck = g_strdup("thaw bonly");
	freezer = new_freezer(fake);
	assert_true(qa_freezer_freeze(freezer, names, &count, &error));
	thread = g_thread_new("thaw", thaw_in_thread, freezer);
	wait_for_thaw_call(fake, "bonly");
	assert_true(fake_kernel_is_frozen(fake, "bonly"));
	assert_true(qa_freezer_is_any_frozen(freezer));
	during = qa_freezer_get_state(freezer);
	assert_int_equal(during->filesystems->len, 1);
	fs = g_ptr_array_index(during->filesystems, 0);
	assert_true(qa_freezer_is_frozen(freezer, fs->major, fs->minor));
	fake_release_stuck(fake);
	assert_true(GPOINTER_TO_UINT(g_thread_join(thread)));
	assert_false(qa_freezer_is_any_frozen(freezer));
	assert_false(qa_freezer_is_frozen(freezer, fs->major, fs->minor));
	after = qa_freezer_get_state(freezer);
	assert_int_equal(after->filesystems->len, 0);
	assert_int_equal(after->last_thaw->count, 1);
}

/* a successor (the agent killed, another started) reports its predecessor's last freeze, goes
 * on counting calls, and records its own thaw of a half-done freeze as the successor's */
static void
test_report_successor(void **state)
{
	g_autoptr(Fake) fake = new_fake();
	g_autoptr(QaFreezer) first = new_freezer(fake);
	g_autoptr(QaFreezer) second = NULL;
	g_autoptr(QaFreezer) third = NULL;
	g_autoptr(GPtrArray) names = fake_paths(fake, "bonly", "span", NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(QaState) report = NULL;
	g_autoptr(QaState) half = NULL;
	guint count = 0;

	assert_true(qa_freezer_freeze(first, names, &count, &error));
	/* gone without thawing, as a SIGKILL leaves it */
	g_clear_pointer(&first, qa_freezer_free);
	second = new_freezer(fake);
	report = qa_freezer_get_state(second);
	assert_int_equal(report->filesystems->len, 2);
	assert_int_equal(((QaStateFs *)g_ptr_array_index(report->filesystems, 1))->serial, 1);
	assert_int_equal(report->last_freeze->serial, 1);
	assert_true(report->last_freeze->is_success);
	assert_true(qa_freezer_thaw(second, NULL, &count, &error));
	assert_int_equal(count, 2);
	assert_true(qa_freezer_freeze(second, names, &count, &error));
	g_clear_pointer(&report, qa_state_free);
	report = qa_freezer_get_state(second);
	assert_int_equal(report->last_freeze->serial, 2);
	g_clear_pointer(&second, qa_freezer_free);

	/* a freeze that never ended: its successor thaws and says so */
	half = qa_state_file_load(fake->statedir, &error);
	half->is_complete = FALSE;
	half->last_freeze->ended_at = 0;
	assert_true(qa_state_file_save(fake->statedir, half, &error));
	third = new_freezer(fake);
	g_clear_pointer(&report, qa_state_free);
	report = qa_freezer_get_state(third);
	assert_int_equal(fake_kernel_n_frozen(fake), 0);
	assert_int_equal(report->last_thaw->by, QA_FREEZE_OUTCOME_BY_SUCCESSOR);
	assert_int_equal(report->last_thaw->count, 2);
	assert_non_null(strstr(report->last_freeze->error, "stopped before it ended"));
}

/* --emergency-thaw beside a running freezer: it thaws what the state file lists, runs the thaw
 * hook once, and the freezer, on its next call, forgets what was thawed and tells the host */
static void
test_emergency_thaw(void **state)
{
	g_autoptr(Fake) fake = new_fake();
	g_autofree gchar *hook = fake_path(fake, "hook");
	g_autofree gchar *hook_log = fake_path(fake, "hook.log");
	g_autofree gchar *log = NULL;
	g_autoptr(QaFreezer) freezer = NULL;
	g_autoptr(GPtrArray) names = fake_paths(fake, "img", "host", "bonly", NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(QaState) saved = NULL;
	g_autoptr(QaState) report = NULL;
	g_autofree gchar *script = g_strdup_printf("#!/bin/sh\necho \"$1\" >> '%s'\n", hook_log);
	guint count = 0;

	assert_true(g_file_set_contents(hook, script, -1, NULL));
	assert_int_equal(g_chmod(hook, 0755), 0);
	fake->options.hook = hook;
	freezer = new_freezer(fake);
	assert_true(qa_freezer_freeze(freezer, names, &count, &error));
	fake_clear_calls(fake);

	assert_true(qa_freezer_emergency_thaw(&fake->options, &count, &error));
	g_assert_no_error(error);
	assert_int_equal(count, 3);
	/* last frozen first: the filesystem holding the image before the image */
	assert_true(g_str_has_prefix(fake_calls(fake, "thaw"), "host "));
	assert_int_equal(strlen(fake_calls(fake, "thaw")), strlen("host bonly img"));
	assert_int_equal(fake_kernel_n_frozen(fake), 0);
	saved = qa_state_file_load(fake->statedir, &error);
	assert_int_equal(saved->filesystems->len, 0);
	assert_false(saved->is_hook_pending);
	assert_int_equal(saved->last_thaw->by, QA_FREEZE_OUTCOME_BY_OPERATOR);
	assert_int_equal(saved->last_thaw->hook->exit_status, 0);

	/* the running freezer notices, and thaws nothing again */
	assert_false(qa_freezer_is_any_frozen(freezer));
	report = qa_freezer_get_state(freezer);
	assert_int_equal(report->last_thaw->by, QA_FREEZE_OUTCOME_BY_OPERATOR);
	fake_clear_calls(fake);
	assert_false(qa_freezer_thaw(freezer, NULL, &count, &error));
	assert_non_null(strstr(error->message, "--emergency-thaw"));
	g_clear_error(&error);
	assert_true(qa_freezer_thaw(freezer, NULL, &count, &error));
	assert_int_equal(count, 0);
	assert_string_equal(fake_calls(fake, "thaw"), "");
	assert_true(g_file_get_contents(hook_log, &log, NULL, NULL));
	assert_string_equal(log, "freeze\nthaw\n");
	/* and freezes again as usual */
	assert_true(qa_freezer_freeze(freezer, names, &count, &error));
	assert_int_equal(count, 3);
	assert_true(qa_freezer_thaw(freezer, NULL, &count, &error));
}

/* nothing to thaw is no error; a FITHAW that fails leaves that one frozen and says so */
static void
test_emergency_thaw_partial(void **state)
{
	g_autoptr(Fake) fake = new_fake();
	g_autoptr(QaFreezer) freezer = new_freezer(fake);
	g_autoptr(GPtrArray) names = fake_paths(fake, "bonly", "span", NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(QaState) saved = NULL;
	guint count = 0;

	assert_true(qa_freezer_emergency_thaw(&fake->options, &count, &error));
	assert_int_equal(count, 0);
	assert_true(qa_freezer_freeze(freezer, names, &count, &error));
	fake_set_fault(fake, "thaw", "span", -EIO);
	assert_false(qa_freezer_emergency_thaw(&fake->options, &count, &error));
	assert_non_null(strstr(error->message, "/span' stay frozen"));
	saved = qa_state_file_load(fake->statedir, NULL);
	assert_int_equal(saved->filesystems->len, 1);
	assert_int_equal(saved->last_thaw->n_left, 1);
	/* the running freezer keeps what is still frozen */
	assert_true(qa_freezer_is_any_frozen(freezer));
	assert_true(qa_freezer_is_frozen(freezer, 250, 3));
	assert_false(qa_freezer_is_frozen(freezer, 250, 4));
	fake_set_fault(fake, "thaw", "span", 0);
	g_clear_error(&error);
	assert_false(qa_freezer_thaw(freezer, NULL, &count, &error));
	g_clear_error(&error);
	assert_true(qa_freezer_thaw(freezer, NULL, &count, &error));
	assert_int_equal(count, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_freeze_by_disk),
	    cmocka_unit_test(test_freeze_by_disk_refusals),
	    cmocka_unit_test(test_freeze_by_disk_leaves_alone),
	    cmocka_unit_test(test_report_rollback),
	    cmocka_unit_test(test_report_hooks),
	    cmocka_unit_test(test_report_auto_thaw),
	    cmocka_unit_test(test_status_frozen_until_auto_thaw_reported),
	    cmocka_unit_test(test_status_frozen_until_thaw_returns),
	    cmocka_unit_test(test_report_successor),
	    cmocka_unit_test(test_emergency_thaw),
	    cmocka_unit_test(test_emergency_thaw_partial),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
