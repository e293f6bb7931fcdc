/* The freezer against a fake kernel: ordering, all-or-nothing, no nesting, validation,
 * persistence, hooks, the watchdog and trim. Nothing here freezes a real filesystem. */
/* cmocka.h needs these first */
/* clang-format off */
#include <errno.h>
#include <glib/gstdio.h>
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

/* a..e in three levels: e depends on nothing frozen after it, a and b are frozen first */
static const FakeFs five[] = {
    {"a", NULL, "ext4", 0, TRUE, NULL, NULL},
    {"b", "b-bind", "xfs", 0, TRUE, NULL, NULL},
    {"c", NULL, "btrfs", 1, TRUE, NULL, NULL},
    {"d", NULL, "ext4", 1, TRUE, NULL, NULL},
    {"e", NULL, "ext4", 2, TRUE, NULL, NULL},
    {"tmp", NULL, "tmpfs", 0, FALSE, NULL, NULL},
};

/* "img" is an image stored on "host", loop-mounted: it is frozen first and thawed last */
static const FakeFs stacked[] = {
    {"img", NULL, "ext4", 0, TRUE, "host", NULL},
    {"host", NULL, "ext4", 1, TRUE, NULL, NULL},
    {"other", NULL, "xfs", 0, TRUE, NULL, NULL},
};

static guint n_log_hold;
static guint n_log_release;

static void
count_hold(void)
{
	n_log_hold++;
}

static void
count_release(void)
{
	n_log_release++;
}

static QaFreezer *
new_freezer(Fake *fake)
{
	g_autoptr(GError) error = NULL;
	QaFreezer *freezer;

	fake->options.log_hold = count_hold;
	fake->options.log_release = count_release;
	freezer = qa_freezer_new(&fake->options, &error);
	g_assert_no_error(error);
	return freezer;
}

static Fake *
new_fake(void)
{
	n_log_hold = n_log_release = 0;
	return fake_new(five, G_N_ELEMENTS(five));
}

/* the level of every name in @calls never decreases (or never increases when @is_reverse) */
static void
assert_level_order(const gchar *calls, gboolean is_reverse)
{
	g_auto(GStrv) names = g_strsplit(calls, " ", -1);
	gint last = is_reverse ? G_MAXINT : -1;

	for (guint i = 0; names[i] != NULL; i++) {
		gint level = -1;
		for (guint j = 0; j < G_N_ELEMENTS(five); j++) {
			if (g_strcmp0(five[j].name, names[i]) == 0)
				level = five[j].level;
		}
		assert_true(level >= 0);
		if (is_reverse)
			assert_true(level <= last);
		else
			assert_true(level >= last);
		last = level;
	}
}

/* the position of @call in the fake's log, or G_MAXINT */
static gint
call_index(Fake *fake, const gchar *call)
{
	guint index = 0;

	if (!g_ptr_array_find_with_equal_func(fake->calls, call, g_str_equal, &index))
		return G_MAXINT;
	return (gint)index;
}

static void
test_freeze_all_order(void **state)
{
	g_autoptr(Fake) fake = new_fake();
	g_autoptr(QaFreezer) freezer = new_freezer(fake);
	g_autoptr(GError) error = NULL;
	const gchar *frozen = NULL;
	const gchar *thawed = NULL;
	g_autofree gchar *state_path = g_build_filename(fake->statedir, QA_STATE_FILE_NAME, NULL);
	g_autoptr(QaState) saved = NULL;
	guint count = 0;

	assert_false(qa_freezer_is_any_frozen(freezer));
	assert_true(qa_freezer_freeze(freezer, NULL, &count, &error));
	g_assert_no_error(error);
	/* tmpfs has no block device and the host's root is outside the confinement */
	assert_int_equal(count, 5);
	assert_true(qa_freezer_is_any_frozen(freezer));
	assert_true(qa_freezer_is_frozen(freezer, 250, 2));
	assert_false(qa_freezer_is_frozen(freezer, 250, 6));
	assert_false(qa_freezer_is_frozen(freezer, 251, 1));
	assert_true(g_file_test(state_path, G_FILE_TEST_EXISTS));
	assert_int_equal(n_log_hold, 1);
	assert_int_equal(n_log_release, 0);
	frozen = fake_calls(fake, "freeze");
	assert_level_order(frozen, FALSE);
	assert_int_equal(fake_kernel_n_frozen(fake), 5);

	assert_true(qa_freezer_thaw(freezer, NULL, &count, &error));
	g_assert_no_error(error);
	assert_int_equal(count, 5);
	thawed = fake_calls(fake, "thaw");
	assert_level_order(thawed, TRUE);
	assert_false(qa_freezer_is_any_frozen(freezer));
	assert_int_equal(fake_kernel_n_frozen(fake), 0);
	/* the file stays, recording nothing frozen and what the calls did */
	saved = qa_state_file_load(fake->statedir, &error);
	assert_non_null(saved);
	assert_int_equal(saved->filesystems->len, 0);
	assert_true(saved->is_complete);
	assert_int_equal(saved->last_thaw->count, 5);
	assert_int_equal(n_log_release, 1);
}

static void
test_presync_before_freeze(void **state)
{
	g_autoptr(Fake) fake = new_fake();
	g_autoptr(QaFreezer) freezer = new_freezer(fake);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) names = fake_paths(fake, "a", "c", NULL);
	guint count = 0;
	g_auto(GStrv) synced = NULL;

	/* long enough to be repeated once and to leave a journal worth checkpointing */
	fake->sync_us = 6 * 1000;
	assert_true(qa_freezer_freeze(freezer, names, &count, &error));

	/* every filesystem is flushed, more than once, and its journal checkpointed (in parallel:
	 * any order); then RCU is expedited for the FIFREEZE calls only */
	synced = g_strsplit(fake_calls(fake, "sync"), " ", -1);
	assert_true(g_strv_length(synced) >= 4);
	assert_string_equal(fake_calls(fake, "freeze"), "a c");
	for (guint i = 0; i < fake->calls->len; i++) {
		const gchar *call = g_ptr_array_index(fake->calls, i);
		gint expedited = call_index(fake, "expedite on");

		if (g_str_has_prefix(call, "sync ") || g_str_has_prefix(call, "checkpoint "))
			assert_true((gint)i < expedited);
		if (g_str_has_prefix(call, "freeze "))
			assert_true((gint)i > expedited &&
				    (gint)i < call_index(fake, "expedite off"));
	}
	assert_true(call_index(fake, "checkpoint a") != G_MAXINT);
	assert_true(call_index(fake, "checkpoint c") != G_MAXINT);
	assert_true(call_index(fake, "expedite off") != G_MAXINT);
	assert_false(fake->is_rcu_expedited);
	assert_true(qa_freezer_thaw(freezer, NULL, &count, &error));
}

/* With (next to) nothing dirty in the whole system nothing is flushed before FIFREEZE, which
 * flushes what little there is; with the counts unknown or above the threshold, it is. */
static void
test_presync_skipped_when_clean(void **state)
{
	static const struct {
		gint64 dirty_kib;
		gboolean is_flushed;
	} cases[] = {{0, FALSE}, {1024, FALSE}, {1025, TRUE}, {-1, TRUE}};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(Fake) fake = new_fake();
		g_autoptr(QaFreezer) freezer = new_freezer(fake);
		g_autoptr(GError) error = NULL;
		g_autoptr(GPtrArray) names = fake_paths(fake, "a", "c", NULL);
		guint count = 0;

		fake_set_dirty_kib(fake, cases[i].dirty_kib);
		fake->sync_us = 6 * 1000;
		assert_true(qa_freezer_freeze(freezer, names, &count, &error));
		assert_int_equal(count, 2);
		assert_string_equal(fake_calls(fake, "freeze"), "a c");
		assert_int_equal(fake_calls(fake, "sync")[0] != '\0', cases[i].is_flushed);
		assert_int_equal(fake_calls(fake, "checkpoint")[0] != '\0', cases[i].is_flushed);
		/* RCU is expedited either way */
		assert_true(call_index(fake, "expedite on") < call_index(fake, "freeze a"));
		assert_true(qa_freezer_thaw(freezer, NULL, &count, &error));
	}
}

/* neither a failing nor an unsupported journal checkpoint fails the freeze: FIFREEZE flushes */
static void
test_checkpoint_failure(void **state)
{
	g_autoptr(Fake) fake = new_fake();
	g_autoptr(QaFreezer) freezer = new_freezer(fake);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) names = fake_paths(fake, "a", "b", "d", NULL);
	guint count = 0;

	fake->sync_us = 6 * 1000;
	fake_set_fault(fake, "checkpoint", "a", -EIO);
	fake_set_fault(fake, "checkpoint", "b", -EOPNOTSUPP);
	fake_set_fault(fake, "checkpoint", "d", -ENOTTY);
	assert_true(qa_freezer_freeze(freezer, names, &count, &error));
	g_assert_no_error(error);
	assert_int_equal(count, 3);
	assert_int_equal(fake_kernel_n_frozen(fake), 3);
	/* each was tried (in parallel: any order) */
	assert_int_equal(strlen(fake_calls(fake, "checkpoint")), strlen("a b d"));
	assert_true(qa_freezer_thaw(freezer, NULL, &count, &error));
	assert_int_equal(count, 3);
}

/* an agent died between expediting RCU grace periods and setting them back: the next one sets
 * them back as it starts, once */
static QaFreezer *
new_freezer_after_rcu_debt(Fake *fake)
{
	g_autoptr(QaState) saved = qa_state_new();
	g_autoptr(GError) error = NULL;
	QaFreezer *freezer;

	saved->is_complete = TRUE;
	saved->is_rcu_expedited = TRUE;
	assert_true(qa_state_file_save(fake->statedir, saved, &error));
	fake_clear_calls(fake);
	fake->is_rcu_expedited = TRUE;
	freezer = new_freezer(fake);
	assert_string_equal(fake_calls(fake, "expedite"), "off");
	assert_false(fake->is_rcu_expedited);
	return freezer;
}

/* RCU grace periods: left alone when they cannot be set or are expedited already, set back
 * after a failed freeze, and set back by the next agent when one died before doing it */
static void
test_expedite_rcu(void **state)
{
	g_autoptr(Fake) fake = new_fake();
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) names = fake_paths(fake, "a", "c", NULL);
	QaFreezer *freezer = new_freezer(fake);
	guint count = 0;

	fake_set_fault(fake, "expedite", "on", -EACCES);
	assert_true(qa_freezer_freeze(freezer, names, &count, &error));
	assert_string_equal(fake_calls(fake, "expedite"), "on");
	assert_true(qa_freezer_thaw(freezer, NULL, &count, &error));
	fake_set_fault(fake, "expedite", "on", 0);

	fake_clear_calls(fake);
	fake->is_rcu_expedited = TRUE;
	assert_true(qa_freezer_freeze(freezer, names, &count, &error));
	assert_string_equal(fake_calls(fake, "expedite"), "on");
	assert_true(fake->is_rcu_expedited);
	assert_true(qa_freezer_thaw(freezer, NULL, &count, &error));

	fake_clear_calls(fake);
	fake->is_rcu_expedited = FALSE;
	fake_set_fault(fake, "freeze", "c", -EIO);
	assert_false(qa_freezer_freeze(freezer, names, &count, &error));
	assert_string_equal(fake_calls(fake, "expedite"), "on off");
	assert_false(fake->is_rcu_expedited);
	qa_freezer_free(freezer);

	qa_freezer_free(new_freezer_after_rcu_debt(fake));
}

/* fsfreeze-expedite-rcu=false: no freeze, failed freeze, thaw or shutdown touches the knob;
 * only a debt an earlier agent recorded is still settled, once */
static void
test_expedite_rcu_off(void **state)
{
	g_autoptr(Fake) fake = new_fake();
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) names = fake_paths(fake, "a", "c", NULL);
	QaFreezer *freezer;
	guint count = 0;

	fake->options.expedites_rcu = FALSE;
	freezer = new_freezer(fake);
	assert_true(qa_freezer_freeze(freezer, names, &count, &error));
	assert_true(qa_freezer_thaw(freezer, NULL, &count, &error));
	fake_set_fault(fake, "freeze", "c", -EIO);
	assert_false(qa_freezer_freeze(freezer, names, &count, &error));
	g_clear_error(&error);
	fake_set_fault(fake, "freeze", "c", 0);
	assert_true(qa_freezer_freeze(freezer, names, &count, &error));
	assert_int_equal(qa_freezer_thaw_for_shutdown(freezer), 2);
	assert_string_equal(fake_calls(fake, "expedite"), "");
	assert_false(fake->is_rcu_expedited);
	qa_freezer_free(freezer);

	freezer = new_freezer_after_rcu_debt(fake);
	assert_true(qa_freezer_freeze(freezer, names, &count, &error));
	assert_true(qa_freezer_thaw(freezer, NULL, &count, &error));
	assert_string_equal(fake_calls(fake, "expedite"), "off");
	qa_freezer_free(freezer);
}

static void
test_freeze_twice(void **state)
{
	g_autoptr(Fake) fake = new_fake();
	g_autoptr(QaFreezer) freezer = new_freezer(fake);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) names = fake_paths(fake, "a", NULL);
	g_autoptr(GPtrArray) other = fake_paths(fake, "d", NULL);
	guint count = 0;

	assert_true(qa_freezer_freeze(freezer, names, &count, &error));
	assert_int_equal(count, 1);
	fake_clear_calls(fake);
	/* the list and freeze-all both refuse, naming it, and change nothing */
	assert_false(qa_freezer_freeze(freezer, names, &count, &error));
	g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_BUSY);
	assert_non_null(strstr(error->message, "already frozen by this agent"));
	assert_non_null(strstr(error->message, fake->dir));
	g_clear_error(&error);
	assert_false(qa_freezer_freeze(freezer, NULL, &count, &error));
	g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_BUSY);
	g_clear_error(&error);
	assert_int_equal(fake->calls->len, 0);
	assert_int_equal(fake_kernel_n_frozen(fake), 1);

	/* another filesystem may be frozen independently */
	assert_true(qa_freezer_freeze(freezer, other, &count, &error));
	assert_int_equal(count, 1);
	assert_true(qa_freezer_thaw(freezer, NULL, &count, &error));
	assert_int_equal(count, 2);
}

static void
test_external_ebusy_rolls_back(void **state)
{
	g_autoptr(Fake) fake = new_fake();
	g_autoptr(QaFreezer) freezer = new_freezer(fake);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) names = fake_paths(fake, "a", "c", "e", NULL);
	guint count = 0;

	/* frozen by `fsfreeze -f` between validation and FIFREEZE */
	fake_kernel_freeze(fake, "e");
	assert_false(qa_freezer_freeze(freezer, names, &count, &error));
	g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_BUSY);
	assert_non_null(strstr(error->message, "/e'"));
	assert_non_null(strstr(error->message, "another process"));
	assert_string_equal(fake_calls(fake, "freeze"), "a c e");
	assert_string_equal(fake_calls(fake, "thaw"), "c a");
	assert_false(qa_freezer_is_any_frozen(freezer));
	assert_true(fake_kernel_is_frozen(fake, "e"));
	assert_int_equal(fake_kernel_n_frozen(fake), 1);
	assert_int_equal(n_log_hold, n_log_release);
}

static void
test_eio_third_of_five(void **state)
{
	g_autoptr(Fake) fake = new_fake();
	g_autoptr(QaFreezer) freezer = new_freezer(fake);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) names = fake_paths(fake, "a", "b", "c", "d", "e", NULL);
	const gchar *thawed = NULL;
	guint count = 0;

	fake_set_fault(fake, "freeze", "c", -EIO);
	assert_false(qa_freezer_freeze(freezer, names, &count, &error));
	g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_FAILED);
	assert_non_null(strstr(error->message, "/c'"));
	assert_non_null(strstr(error->message, g_strerror(EIO)));
	/* level 2 is never reached; what froze (a, b and maybe d) is thawed in reverse */
	assert_null(strstr(fake_calls(fake, "freeze"), "e"));
	thawed = fake_calls(fake, "thaw");
	assert_level_order(thawed, TRUE);
	assert_non_null(strstr(thawed, "a"));
	assert_non_null(strstr(thawed, "b"));
	assert_int_equal(fake_kernel_n_frozen(fake), 0);
	assert_false(qa_freezer_is_any_frozen(freezer));
}

static void
test_eopnotsupp(void **state)
{
	g_autoptr(Fake) fake = new_fake();
	g_autoptr(QaFreezer) freezer = new_freezer(fake);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) names = fake_paths(fake, "a", "d", NULL);
	guint count = 0;

	fake_set_fault(fake, "freeze", "d", -EOPNOTSUPP);
	/* freeze-all skips it */
	assert_true(qa_freezer_freeze(freezer, NULL, &count, &error));
	g_assert_no_error(error);
	assert_int_equal(count, 4);
	assert_false(qa_freezer_is_frozen(freezer, 250, 4));
	assert_true(qa_freezer_thaw(freezer, NULL, &count, &error));
	assert_int_equal(count, 4);
	/* naming it is an error */
	assert_false(qa_freezer_freeze(freezer, names, &count, &error));
	g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_UNSUPPORTED);
	assert_non_null(strstr(error->message, "/d'"));
	assert_int_equal(fake_kernel_n_frozen(fake), 0);
}

static const struct {
	const gchar *name; /* below the test directory unless absolute */
	gint code;
	const gchar *message;
} invalid_names[] = {
    {"missing", QA_SYSTEM_ERROR_NOT_FOUND, "does not exist"},
    {"a/sub", QA_SYSTEM_ERROR_NOT_FOUND, "is not a mountpoint"},
    {"tmp", QA_SYSTEM_ERROR_UNSUPPORTED, "no block device"},
    {"b", QA_SYSTEM_ERROR_INVALID, "excluded"},
    {"c", QA_SYSTEM_ERROR_INVALID, "excluded"},
    {"/", QA_SYSTEM_ERROR_NOT_FOUND, "outside"},
    {"relative", QA_SYSTEM_ERROR_INVALID, "absolute"},
};

static void
test_list_validation(void **state)
{
	g_autoptr(Fake) fake = new_fake();
	gchar *mountpoints[] = {"*/b-bind", NULL};
	gchar *types[] = {"btr*", NULL};
	g_autoptr(QaFreezer) freezer = NULL;
	g_autofree gchar *sub = fake_path(fake, "a/sub");

	g_mkdir(sub, 0755);
	fake->options.exclude_mountpoints = mountpoints;
	fake->options.exclude_types = types;
	freezer = new_freezer(fake);
	for (guint i = 0; i < G_N_ELEMENTS(invalid_names); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
		guint count = 0;

		/* a valid name first: nothing may freeze before every name is checked */
		g_ptr_array_add(names, fake_path(fake, "a"));
		g_ptr_array_add(names,
				invalid_names[i].name[0] == '/' ||
					i == G_N_ELEMENTS(invalid_names) - 1
				    ? g_strdup(invalid_names[i].name)
				    : fake_path(fake, invalid_names[i].name));
		assert_false(qa_freezer_freeze(freezer, names, &count, &error));
		g_assert_error(error, QA_SYSTEM_ERROR, invalid_names[i].code);
		if (strstr(error->message, invalid_names[i].message) == NULL)
			fail_msg("case %u: '%s' lacks '%s'",
				 i,
				 error->message,
				 invalid_names[i].message);
		assert_non_null(strstr(error->message, invalid_names[i].name));
	}
	assert_int_equal(fake->calls->len, 0);

	/* freeze-all leaves the excluded ones alone */
	{
		g_autoptr(GError) error = NULL;
		guint count = 0;
		assert_true(qa_freezer_freeze(freezer, NULL, &count, &error));
		assert_int_equal(count, 3);
		assert_false(qa_freezer_is_frozen(freezer, 250, 2));
		assert_false(qa_freezer_is_frozen(freezer, 250, 3));
		assert_true(qa_freezer_thaw(freezer, NULL, &count, &error));
	}
}

static void
test_bind_aliases(void **state)
{
	g_autoptr(Fake) fake = new_fake();
	g_autoptr(QaFreezer) freezer = new_freezer(fake);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) both = fake_paths(fake, "b", "b-bind", NULL);
	g_autoptr(GPtrArray) alias = fake_paths(fake, "b-bind", NULL);
	g_autofree gchar *dotted = g_strdup_printf("%s/./b/", fake->dir);
	g_autoptr(GPtrArray) noncanonical = g_ptr_array_new();
	guint count = 0;

	/* one superblock, frozen once */
	assert_true(qa_freezer_freeze(freezer, both, &count, &error));
	assert_int_equal(count, 1);
	assert_string_equal(fake_calls(fake, "freeze"), "b");
	/* the other name is the same filesystem: frozen already */
	assert_false(qa_freezer_freeze(freezer, alias, &count, &error));
	g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_BUSY);
	g_clear_error(&error);
	/* and either name thaws it */
	assert_true(qa_freezer_thaw(freezer, alias, &count, &error));
	g_assert_no_error(error);
	assert_int_equal(count, 1);
	/* a non-canonical spelling resolves to the mountpoint */
	g_ptr_array_add(noncanonical, dotted);
	assert_true(qa_freezer_freeze(freezer, noncanonical, &count, &error));
	g_assert_no_error(error);
	assert_true(qa_freezer_thaw(freezer, noncanonical, &count, &error));
	g_assert_no_error(error);
	assert_int_equal(count, 1);
}

static void
test_thaw_list(void **state)
{
	g_autoptr(Fake) fake = new_fake();
	g_autoptr(QaFreezer) freezer = new_freezer(fake);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) names = fake_paths(fake, "a", "c", "e", NULL);
	g_autoptr(GPtrArray) bad = fake_paths(fake, "c", "d", NULL);
	g_autoptr(GPtrArray) some = fake_paths(fake, "e", "a", NULL);
	guint count = 0;

	assert_true(qa_freezer_thaw(freezer, NULL, &count, &error));
	assert_int_equal(count, 0);
	assert_true(qa_freezer_freeze(freezer, names, &count, &error));
	assert_int_equal(count, 3);
	fake_clear_calls(fake);
	/* d is not held: error, and c stays frozen */
	assert_false(qa_freezer_thaw(freezer, bad, &count, &error));
	g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_INVALID);
	assert_non_null(strstr(error->message, "/d'"));
	g_clear_error(&error);
	assert_int_equal(fake->calls->len, 0);
	assert_true(qa_freezer_is_frozen(freezer, 250, 3));
	/* thawed in reverse freezing order whatever the order of the names */
	assert_true(qa_freezer_thaw(freezer, some, &count, &error));
	assert_int_equal(count, 2);
	assert_string_equal(fake_calls(fake, "thaw"), "e a");
	assert_true(qa_freezer_is_any_frozen(freezer));
	assert_int_equal(n_log_release, 0);
	assert_true(qa_freezer_thaw(freezer, NULL, &count, &error));
	assert_int_equal(count, 1);
	assert_int_equal(n_log_release, 1);
	assert_true(qa_freezer_thaw(freezer, NULL, &count, &error));
	assert_int_equal(count, 0);
}

static void
test_restart_recovers(void **state)
{
	g_autoptr(Fake) fake = new_fake();
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) names = fake_paths(fake, "a", "b-bind", NULL);
	g_autoptr(GPtrArray) alias = fake_paths(fake, "b", NULL);
	QaFreezer *freezer = new_freezer(fake);
	guint count = 0;

	assert_true(qa_freezer_freeze(freezer, names, &count, &error));
	/* the agent dies without thawing */
	qa_freezer_free(freezer);
	assert_int_equal(fake_kernel_n_frozen(fake), 2);
	fake_clear_calls(fake);

	freezer = new_freezer(fake);
	assert_true(qa_freezer_is_any_frozen(freezer));
	assert_true(qa_freezer_is_frozen(freezer, 250, 2));
	assert_int_equal(fake->calls->len, 0);
	assert_true(qa_freezer_thaw(freezer, alias, &count, &error));
	g_assert_no_error(error);
	assert_true(qa_freezer_thaw(freezer, NULL, &count, &error));
	assert_int_equal(count, 1);
	assert_int_equal(fake_kernel_n_frozen(fake), 0);
	qa_freezer_free(freezer);
}

static void
test_restart_mid_freeze_thaws(void **state)
{
	g_autoptr(Fake) fake = new_fake();
	g_autoptr(QaState) saved = qa_state_new();
	g_autoptr(GError) error = NULL;
	g_autofree gchar *a = fake_path(fake, "a");
	const gchar *mps[] = {a, NULL};
	g_autoptr(QaFreezer) freezer = NULL;

	/* an agent died between recording its plan and replying */
	g_mkdir(fake->statedir, 0700);
	saved->is_complete = FALSE;
	g_ptr_array_add(saved->filesystems, qa_state_fs_new(250, 1, "ext4", mps));
	assert_true(qa_state_file_save(fake->statedir, saved, &error));
	fake_kernel_freeze(fake, "a");

	freezer = new_freezer(fake);
	assert_false(qa_freezer_is_any_frozen(freezer));
	assert_false(fake_kernel_is_frozen(fake, "a"));
	assert_string_equal(fake_calls(fake, "thaw"), "a");
	assert_int_equal(n_log_hold, n_log_release);
}

static void
test_statedir(void **state)
{
	g_autoptr(Fake) fake = new_fake();
	g_autoptr(GError) error = NULL;
	g_autofree gchar *file = fake_path(fake, "not-a-dir");
	g_autoptr(QaFreezer) freezer = NULL;
	g_autoptr(GPtrArray) names = fake_paths(fake, "a", NULL);
	guint count = 0;

	assert_true(g_file_set_contents(file, "", 0, NULL));
	fake->options.statedir = file;
	freezer = new_freezer(fake);
	assert_false(qa_freezer_freeze(freezer, names, &count, &error));
	assert_non_null(strstr(error->message, "state directory"));
	assert_int_equal(fake->calls->len, 0);
}

static gpointer
freeze_in_thread(gpointer data)
{
	QaFreezer *freezer = data;
	g_autoptr(GError) error = NULL;
	guint count = 0;

	if (qa_freezer_freeze(freezer, NULL, &count, &error))
		return g_strdup("success");
	return g_strdup(error->message);
}

static void
test_watchdog(void **state)
{
	g_autoptr(Fake) fake = new_fake();
	g_autoptr(QaFreezer) freezer = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) names = fake_paths(fake, "a", "e", NULL);
	gint64 start;
	guint count = 0;

	fake->options.auto_thaw_ms = 1000;
	freezer = new_freezer(fake);
	assert_true(qa_freezer_freeze(freezer, names, &count, &error));
	start = g_get_monotonic_time();
	/* done means: nothing held, nothing frozen in the kernel, and the log released */
	while ((qa_freezer_is_any_frozen(freezer) || fake_kernel_n_frozen(fake) > 0 ||
		n_log_hold != n_log_release) &&
	       g_get_monotonic_time() - start < 5 * G_USEC_PER_SEC)
		g_usleep(20 * 1000);
	assert_false(qa_freezer_is_any_frozen(freezer));
	assert_true(g_get_monotonic_time() - start >= 900 * 1000);
	assert_int_equal(fake_kernel_n_frozen(fake), 0);
	assert_int_equal(n_log_hold, n_log_release);
	/* the next thaw says so, once */
	assert_false(qa_freezer_thaw(freezer, NULL, &count, &error));
	assert_non_null(strstr(error->message, "thawed automatically at"));
	g_clear_error(&error);
	assert_true(qa_freezer_thaw(freezer, NULL, &count, &error));
	assert_int_equal(count, 0);
}

static void
test_watchdog_stuck_fifreeze(void **state)
{
	g_autoptr(Fake) fake = new_fake();
	g_autoptr(QaFreezer) freezer = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *result = NULL;
	GThread *thread;
	gint64 start;
	guint count = 0;

	/* e (level 2) never returns from FIFREEZE until released */
	fake->stuck = g_strdup("e");
	fake->options.auto_thaw_ms = 1000;
	freezer = new_freezer(fake);
	thread = g_thread_new("freeze", freeze_in_thread, freezer);
	start = g_get_monotonic_time();
	while (fake_kernel_n_frozen(fake) < 4 && g_get_monotonic_time() - start < G_USEC_PER_SEC)
		g_usleep(10 * 1000);
	/* the watchdog thaws levels 0 and 1 while the worker is stuck */
	while ((fake_kernel_n_frozen(fake) > 0 || qa_freezer_is_any_frozen(freezer)) &&
	       g_get_monotonic_time() - start < 5 * G_USEC_PER_SEC)
		g_usleep(20 * 1000);
	assert_int_equal(fake_kernel_n_frozen(fake), 0);
	assert_false(qa_freezer_is_any_frozen(freezer));
	fake_release_stuck(fake);
	result = g_thread_join(thread);
	assert_non_null(strstr(result, "abandoned"));
	/* the late FIFREEZE of e was undone at once */
	assert_int_equal(fake_kernel_n_frozen(fake), 0);
	assert_false(qa_freezer_is_any_frozen(freezer));
	assert_int_equal(n_log_hold, n_log_release);
	assert_false(qa_freezer_thaw(freezer, NULL, &count, &error));
	assert_non_null(strstr(error->message, "thawed automatically"));
}

/* The state file is written with the freezer's lock released: a write that never returns (a
 * state directory on a filesystem that froze) leaves status and the watchdog working, and the
 * watchdog thaws what the stuck freeze froze. */
static void
test_stuck_state_write_blocks_nothing(void **state)
{
	g_autoptr(Fake) fake = new_fake();
	g_autoptr(QaFreezer) freezer = NULL;
	g_autofree gchar *result = NULL;
	GThread *thread;
	gint64 start;

	fake->options.auto_thaw_ms = 300;
	/* the freeze's last write (the frozen set, complete) never returns until released */
	fake->stuck = g_strdup("save");
	freezer = new_freezer(fake);
	thread = g_thread_new("freeze", freeze_in_thread, freezer);
	start = g_get_monotonic_time();
	while (fake_kernel_n_frozen(fake) < 5 &&
	       g_get_monotonic_time() - start < 5 * G_USEC_PER_SEC)
		g_usleep(10 * 1000);
	assert_int_equal(fake_kernel_n_frozen(fake), 5);
	/* status takes the lock the write used to hold; then the watchdog thaws */
	while ((fake_kernel_n_frozen(fake) > 0 || qa_freezer_is_any_frozen(freezer)) &&
	       g_get_monotonic_time() - start < 10 * G_USEC_PER_SEC)
		g_usleep(20 * 1000);
	assert_int_equal(fake_kernel_n_frozen(fake), 0);
	assert_false(qa_freezer_is_any_frozen(freezer));
	fake_release_stuck(fake);
	/* and the freeze does not claim a success the watchdog undid */
	result = g_thread_join(thread);
	assert_non_null(strstr(result, "abandoned"));
	assert_false(qa_freezer_is_any_frozen(freezer));
}

/* Dependencies hold across calls: a filesystem stored on one frozen by an earlier call is not
 * frozen (its flush would wait forever), and one is never thawed while what it is stored on
 * stays frozen (its FITHAW would). */
static void
test_stacked_across_calls(void **state)
{
	g_autoptr(Fake) fake = fake_new(stacked, G_N_ELEMENTS(stacked));
	g_autoptr(QaFreezer) freezer = new_freezer(fake);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) host = fake_paths(fake, "host", NULL);
	g_autoptr(GPtrArray) img = fake_paths(fake, "img", NULL);
	g_autoptr(GPtrArray) both = fake_paths(fake, "img", "host", NULL);
	guint count = 0;

	assert_true(qa_freezer_freeze(freezer, host, &count, &error));
	fake_clear_calls(fake);
	assert_false(qa_freezer_freeze(freezer, img, &count, &error));
	g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_BUSY);
	assert_non_null(strstr(error->message, "/host', which this agent holds frozen"));
	assert_string_equal(fake_calls(fake, "sync"), "");
	assert_string_equal(fake_calls(fake, "freeze"), "");
	g_clear_error(&error);
	assert_true(qa_freezer_thaw(freezer, NULL, &count, &error));

	/* frozen together in the right order, the image cannot be thawed alone */
	assert_true(qa_freezer_freeze(freezer, both, &count, &error));
	assert_int_equal(count, 2);
	fake_clear_calls(fake);
	assert_false(qa_freezer_thaw(freezer, img, &count, &error));
	assert_non_null(strstr(error->message, "Cannot thaw '"));
	assert_non_null(strstr(error->message, "/host', which stays frozen"));
	assert_string_equal(fake_calls(fake, "thaw"), "");
	assert_int_equal(fake_kernel_n_frozen(fake), 2);
	g_clear_error(&error);
	/* the other way round is fine: the image's filesystem goes on waiting, nothing hangs */
	assert_true(qa_freezer_thaw(freezer, host, &count, &error));
	assert_int_equal(count, 1);
	assert_true(qa_freezer_thaw(freezer, img, &count, &error));
	assert_int_equal(count, 1);
	assert_int_equal(fake_kernel_n_frozen(fake), 0);
}

static gpointer
release_later(gpointer data)
{
	g_usleep(300 * 1000);
	fake_release_stuck(data);
	return NULL;
}

/* A shutdown while a FIFREEZE is in the kernel waits for it to return and be undone, so that
 * the process does not exit leaving it frozen until the next agent starts. */
static void
test_shutdown_waits_for_a_freeze_in_progress(void **state)
{
	g_autoptr(Fake) fake = new_fake();
	g_autoptr(QaFreezer) freezer = NULL;
	g_autofree gchar *result = NULL;
	GThread *thread;
	GThread *releaser;
	gint64 start;

	fake->stuck = g_strdup("e");
	fake->options.shutdown_wait_ms = 30 * 1000;
	freezer = new_freezer(fake);
	thread = g_thread_new("freeze", freeze_in_thread, freezer);
	start = g_get_monotonic_time();
	while (fake_kernel_n_frozen(fake) < 4 && g_get_monotonic_time() - start < G_USEC_PER_SEC)
		g_usleep(10 * 1000);
	releaser = g_thread_new("release", release_later, fake);
	assert_int_equal(qa_freezer_thaw_for_shutdown(freezer), 4);
	/* when the shutdown thaw returns, the late FIFREEZE of e has returned and been undone */
	assert_true(g_str_has_suffix(fake_calls(fake, "freeze"), "e"));
	assert_true(g_str_has_suffix(fake_calls(fake, "thaw"), "e"));
	assert_int_equal(fake_kernel_n_frozen(fake), 0);
	assert_false(qa_freezer_is_any_frozen(freezer));
	g_thread_join(releaser);
	result = g_thread_join(thread);
	assert_non_null(strstr(result, "abandoned"));
}

/* an auto-thaw whose FITHAW fails is tried again until it works */
static void
test_auto_thaw_retries_a_failed_fithaw(void **state)
{
	g_autoptr(Fake) fake = new_fake();
	g_autoptr(QaFreezer) freezer = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) names = fake_paths(fake, "a", "b", NULL);
	gint64 start;
	guint count = 0;

	fake->options.auto_thaw_ms = 100;
	freezer = new_freezer(fake);
	fake_set_fault(fake, "thaw", "b", -EIO);
	assert_true(qa_freezer_freeze(freezer, names, &count, &error));
	start = g_get_monotonic_time();
	/* the failed FITHAW puts b back in the frozen set once the level's thaw returns */
	while ((fake_kernel_n_frozen(fake) > 1 || !qa_freezer_is_any_frozen(freezer)) &&
	       g_get_monotonic_time() - start < 5 * G_USEC_PER_SEC)
		g_usleep(10 * 1000);
	/* a is thawed, b is still frozen and still held */
	assert_int_equal(fake_kernel_n_frozen(fake), 1);
	assert_true(qa_freezer_is_any_frozen(freezer));
	fake_set_fault(fake, "thaw", "b", 0);
	while (qa_freezer_is_any_frozen(freezer) &&
	       g_get_monotonic_time() - start < 30 * G_USEC_PER_SEC)
		g_usleep(20 * 1000);
	assert_false(qa_freezer_is_any_frozen(freezer));
	assert_int_equal(fake_kernel_n_frozen(fake), 0);
}

/* one level is thawed in parallel: a failing FITHAW keeps only its own filesystem frozen */
static void
test_thaw_failure_in_a_level(void **state)
{
	g_autoptr(Fake) fake = new_fake();
	g_autoptr(QaFreezer) freezer = new_freezer(fake);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) names = fake_paths(fake, "a", "b", "d", NULL);
	guint count = 0;

	assert_true(qa_freezer_freeze(freezer, names, &count, &error));
	fake_set_fault(fake, "thaw", "b", -EIO);
	assert_false(qa_freezer_thaw(freezer, NULL, &count, &error));
	g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_FAILED);
	assert_non_null(strstr(error->message, "/b'"));
	/* d (level 1) first, then a and b together */
	assert_true(g_str_has_prefix(fake_calls(fake, "thaw"), "d "));
	assert_true(qa_freezer_is_any_frozen(freezer));
	assert_true(qa_freezer_is_frozen(freezer, 250, 2));
	assert_false(qa_freezer_is_frozen(freezer, 250, 1));
	g_clear_error(&error);
	fake_set_fault(fake, "thaw", "b", 0);
	assert_true(qa_freezer_thaw(freezer, NULL, &count, &error));
	assert_int_equal(count, 1);
	assert_false(qa_freezer_is_any_frozen(freezer));
	assert_int_equal(fake_kernel_n_frozen(fake), 0);
}

/* a shutdown while FIFREEZE is stuck sets RCU grace periods back without waiting for it */
static void
test_shutdown_stuck_fifreeze_restores_rcu(void **state)
{
	g_autoptr(Fake) fake = new_fake();
	g_autoptr(QaFreezer) freezer = NULL;
	g_autofree gchar *result = NULL;
	GThread *thread;
	gint64 start;

	fake->stuck = g_strdup("e");
	/* a FIFREEZE that never returns: the shutdown gives up waiting for it */
	fake->options.shutdown_wait_ms = 100;
	freezer = new_freezer(fake);
	thread = g_thread_new("freeze", freeze_in_thread, freezer);
	start = g_get_monotonic_time();
	while (fake_kernel_n_frozen(fake) < 4 && g_get_monotonic_time() - start < G_USEC_PER_SEC)
		g_usleep(10 * 1000);
	assert_true(fake->is_rcu_expedited);
	assert_int_equal(qa_freezer_thaw_for_shutdown(freezer), 4);
	assert_false(fake->is_rcu_expedited);
	fake_release_stuck(fake);
	result = g_thread_join(thread);
	assert_non_null(strstr(result, "abandoned"));
	/* set back once only */
	assert_string_equal(fake_calls(fake, "expedite"), "on off");
}

static void
test_shutdown(void **state)
{
	g_autoptr(Fake) fake = new_fake();
	g_autoptr(QaFreezer) freezer = new_freezer(fake);
	g_autoptr(GError) error = NULL;
	g_autoptr(QaState) saved = NULL;
	guint count = 0;

	assert_true(qa_freezer_freeze(freezer, NULL, &count, &error));
	assert_int_equal(qa_freezer_thaw_for_shutdown(freezer), 5);
	assert_int_equal(fake_kernel_n_frozen(fake), 0);
	assert_false(qa_freezer_is_any_frozen(freezer));
	/* the file stays, to tell what happened: nothing frozen, thawed for the shutdown */
	saved = qa_state_file_load(fake->statedir, &error);
	assert_non_null(saved);
	assert_int_equal(saved->filesystems->len, 0);
	assert_true(saved->is_complete);
	assert_false(saved->is_hook_pending);
	assert_int_equal(saved->last_thaw->by, QA_FREEZE_OUTCOME_BY_SHUTDOWN);
	assert_int_equal(saved->last_thaw->count, 5);
	assert_int_equal(saved->last_freeze->count, 5);
	/* a shutdown thaw is not an auto-thaw */
	assert_true(qa_freezer_thaw(freezer, NULL, &count, &error));
	assert_int_equal(count, 0);
}

static void
test_trim(void **state)
{
	g_autoptr(Fake) fake = new_fake();
	g_autoptr(QaFreezer) freezer = new_freezer(fake);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) names = fake_paths(fake, "c", NULL);
	g_autoptr(GPtrArray) results = NULL;
	guint count = 0;

	fake_set_fault(fake, "trim", "d", -EOPNOTSUPP);
	assert_true(qa_freezer_freeze(freezer, names, &count, &error));
	fake_clear_calls(fake);
	results = qa_freezer_trim(freezer, TRUE, 1024, &error);
	g_assert_no_error(error);
	/* five block filesystems; tmpfs and the host's root are not listed */
	assert_int_equal(results->len, 5);
	for (guint i = 0; i < results->len; i++) {
		QaTrimResult *r = g_ptr_array_index(results, i);
		if (g_str_has_suffix(r->mountpoint, "/c")) {
			assert_false(r->is_trimmed);
			assert_non_null(strstr(r->error, "frozen"));
		} else if (g_str_has_suffix(r->mountpoint, "/d")) {
			assert_string_equal(r->error, "trim not supported");
		} else {
			assert_true(r->is_trimmed);
			assert_int_equal(r->trimmed, 4096);
			assert_int_equal(r->minimum, 1024);
		}
	}
	/* the frozen one was never called */
	assert_null(strstr(fake_calls(fake, "trim"), "c"));
	assert_true(qa_freezer_thaw(freezer, NULL, &count, &error));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_freeze_all_order),
	    cmocka_unit_test(test_presync_before_freeze),
	    cmocka_unit_test(test_presync_skipped_when_clean),
	    cmocka_unit_test(test_checkpoint_failure),
	    cmocka_unit_test(test_expedite_rcu),
	    cmocka_unit_test(test_expedite_rcu_off),
	    cmocka_unit_test(test_freeze_twice),
	    cmocka_unit_test(test_external_ebusy_rolls_back),
	    cmocka_unit_test(test_eio_third_of_five),
	    cmocka_unit_test(test_eopnotsupp),
	    cmocka_unit_test(test_list_validation),
	    cmocka_unit_test(test_bind_aliases),
	    cmocka_unit_test(test_thaw_list),
	    cmocka_unit_test(test_restart_recovers),
	    cmocka_unit_test(test_restart_mid_freeze_thaws),
	    cmocka_unit_test(test_statedir),
	    cmocka_unit_test(test_watchdog),
	    cmocka_unit_test(test_watchdog_stuck_fifreeze),
	    cmocka_unit_test(test_stuck_state_write_blocks_nothing),
	    cmocka_unit_test(test_stacked_across_calls),
	    cmocka_unit_test(test_shutdown_waits_for_a_freeze_in_progress),
	    cmocka_unit_test(test_auto_thaw_retries_a_failed_fithaw),
	    cmocka_unit_test(test_shutdown),
	    cmocka_unit_test(test_thaw_failure_in_a_level),
	    cmocka_unit_test(test_shutdown_stuck_fifreeze_restores_rcu),
	    cmocka_unit_test(test_trim),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
