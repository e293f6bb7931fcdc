/* The Windows freezer's state machine against a fake VSS: success, already frozen (an error,
 * never a nested freeze), a writer failure, a freeze that times out, the hold limit passing
 * before the thaw, a stop while frozen and a stop during a freeze. Runs under wine. */
#include <glib.h>

#include "freezer-win32.h"
#include "qa-error.h"

typedef struct {
	GPtrArray *volumes;    /* what "all" is */
	GError *freeze_error;  /* the next freeze fails with this (taken) */
	gboolean hold_expires; /* VSS ends the hold before the thaw */
	gboolean blocks;       /* freeze waits until aborted */
	GMutex lock;
	GCond cond;
	gboolean is_aborted;
	gboolean is_in_freeze;
	guint freezes, thaws, aborts, holds, releases;
	GPtrArray *held;
} Fake;

static Fake *fake_log;

static GPtrArray *
fake_list(gpointer data, GError **error)
{
	Fake *fake = data;
	GPtrArray *copy = g_ptr_array_new_with_free_func(g_free);

	for (guint i = 0; i < fake->volumes->len; i++)
		g_ptr_array_add(copy, g_strdup(g_ptr_array_index(fake->volumes, i)));
	return copy;
}

static gchar *
fake_resolve(gpointer data, const gchar *path, GError **error)
{
	Fake *fake = data;
	g_autofree gchar *normal = g_strdelimit(g_ascii_strup(path, -1), "/", '\\');

	if (!g_str_has_suffix(normal, "\\")) {
		gchar *with = g_strconcat(normal, "\\", NULL);
		g_free(normal);
		normal = with;
	}
	for (guint i = 0; i < fake->volumes->len; i++) {
		if (g_strcmp0(g_ptr_array_index(fake->volumes, i), normal) == 0)
			return g_steal_pointer(&normal);
	}
	g_set_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_NOT_FOUND, "'%s' is no volume", path);
	return NULL;
}

static gboolean
fake_freeze(gpointer data, GPtrArray *volumes, GError **error)
{
	Fake *fake = data;

	fake->freezes++;
	if (fake->blocks) {
		g_mutex_lock(&fake->lock);
		fake->is_in_freeze = TRUE;
		g_cond_broadcast(&fake->cond);
		while (!fake->is_aborted)
			g_cond_wait(&fake->cond, &fake->lock);
		g_mutex_unlock(&fake->lock);
		g_set_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_FAILED, "aborted");
		return FALSE;
	}
	if (fake->freeze_error != NULL) {
		g_propagate_error(error, g_steal_pointer(&fake->freeze_error));
		return FALSE;
	}
	g_ptr_array_set_size(fake->held, 0);
	for (guint i = 0; i < volumes->len; i++)
		g_ptr_array_add(fake->held, g_strdup(g_ptr_array_index(volumes, i)));
	return TRUE;
}

static gboolean
fake_thaw(gpointer data, GError **error)
{
	Fake *fake = data;

	fake->thaws++;
	g_ptr_array_set_size(fake->held, 0);
	if (fake->hold_expires) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "VSS had ended the hold before the thaw");
		return FALSE;
	}
	return TRUE;
}

static void
fake_abort(gpointer data)
{
	Fake *fake = data;

	fake->aborts++;
	g_mutex_lock(&fake->lock);
	fake->is_aborted = TRUE;
	g_cond_broadcast(&fake->cond);
	g_mutex_unlock(&fake->lock);
}

static void
fake_log_hold(void)
{
	fake_log->holds++;
}

static void
fake_log_release(void)
{
	fake_log->releases++;
}

static const QaVssOps fake_ops = {
    .list_volumes = fake_list,
    .resolve = fake_resolve,
    .freeze = fake_freeze,
    .thaw = fake_thaw,
    .abort = fake_abort,
};

typedef struct {
	Fake fake;
	QaFreezer *freezer;
} Fixture;

static void
fixture_setup(Fixture *fx, gconstpointer data)
{
	const QaFreezerOptions options = {
	    .ops = &fake_ops,
	    .ops_data = &fx->fake,
	    .log_hold = fake_log_hold,
	    .log_release = fake_log_release,
	};

	fx->fake.volumes = g_ptr_array_new_with_free_func(g_free);
	g_ptr_array_add(fx->fake.volumes, g_strdup("C:\\"));
	g_ptr_array_add(fx->fake.volumes, g_strdup("D:\\"));
	g_ptr_array_add(fx->fake.volumes, g_strdup("C:\\MNT\\DATA\\"));
	fx->fake.held = g_ptr_array_new_with_free_func(g_free);
	g_mutex_init(&fx->fake.lock);
	g_cond_init(&fx->fake.cond);
	fake_log = &fx->fake;
	fx->freezer = qa_freezer_new(&options);
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
	qa_freezer_free(fx->freezer);
	g_ptr_array_unref(fx->fake.volumes);
	g_ptr_array_unref(fx->fake.held);
	g_clear_error(&fx->fake.freeze_error);
	g_mutex_clear(&fx->fake.lock);
	g_cond_clear(&fx->fake.cond);
}

static GPtrArray *
paths(const gchar *first, ...)
{
	GPtrArray *list = g_ptr_array_new_with_free_func(g_free);
	va_list args;

	va_start(args, first);
	for (const gchar *p = first; p != NULL; p = va_arg(args, const gchar *))
		g_ptr_array_add(list, g_strdup(p));
	va_end(args);
	return list;
}

static void
test_freeze_all_then_thaw(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	guint count = 0;

	g_assert_true(qa_freezer_freeze(fx->freezer, NULL, &count, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(count, ==, 3);
	g_assert_true(qa_freezer_is_any_frozen(fx->freezer));
	g_assert_true(qa_freezer_is_volume_frozen(fx->freezer, "D:\\"));
	g_assert_cmpuint(fx->fake.holds, ==, 1);
	g_assert_cmpuint(fx->fake.releases, ==, 0);
	g_assert_true(qa_freezer_thaw(fx->freezer, NULL, &count, &error));
	g_assert_cmpuint(count, ==, 3);
	g_assert_false(qa_freezer_is_any_frozen(fx->freezer));
	g_assert_cmpuint(fx->fake.releases, ==, 1);
	/* a thaw with nothing frozen thaws nothing and calls no VSS */
	g_assert_true(qa_freezer_thaw(fx->freezer, NULL, &count, &error));
	g_assert_cmpuint(count, ==, 0);
	g_assert_cmpuint(fx->fake.thaws, ==, 1);
}

static void
test_freeze_list(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) list = paths("c:", "C:\\", "d:/", NULL);
	g_autoptr(GPtrArray) unknown = paths("C:\\", "Q:\\", NULL);
	g_autoptr(GPtrArray) partial = paths("C:\\", NULL);
	guint count = 0;

	/* a name that is no volume fails the whole freeze; nothing is frozen */
	g_assert_false(qa_freezer_freeze(fx->freezer, unknown, &count, &error));
	g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_NOT_FOUND);
	g_assert_nonnull(strstr(error->message, "'Q:\\'"));
	g_assert_cmpuint(fx->fake.freezes, ==, 0);
	g_clear_error(&error);

	/* duplicates and spellings of one volume count once */
	g_assert_true(qa_freezer_freeze(fx->freezer, list, &count, &error));
	g_assert_cmpuint(count, ==, 2);
	g_assert_cmpuint(fx->fake.held->len, ==, 2);
	g_assert_false(qa_freezer_is_volume_frozen(fx->freezer, "C:\\MNT\\DATA\\"));

	/* VSS thaws a set as a whole */
	g_assert_false(qa_freezer_thaw(fx->freezer, partial, &count, &error));
	g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_INVALID);
	g_assert_nonnull(strstr(error->message, "as a whole"));
	g_assert_true(qa_freezer_is_any_frozen(fx->freezer));
	g_clear_error(&error);
	g_assert_true(qa_freezer_thaw(fx->freezer, list, &count, &error));
	g_assert_cmpuint(count, ==, 2);
}

static void
test_already_frozen(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) other = paths("D:\\", NULL);
	guint count = 0;

	g_assert_true(qa_freezer_freeze(fx->freezer, NULL, &count, &error));
	g_assert_false(qa_freezer_freeze(fx->freezer, NULL, &count, &error));
	g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_BUSY);
	g_assert_nonnull(strstr(error->message, "already frozen"));
	g_clear_error(&error);
	g_assert_false(qa_freezer_freeze(fx->freezer, other, &count, &error));
	g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_BUSY);
	/* never nested: VSS was asked once, and one thaw ends it */
	g_assert_cmpuint(fx->fake.freezes, ==, 1);
	g_clear_error(&error);
	g_assert_true(qa_freezer_thaw(fx->freezer, NULL, &count, &error));
	g_assert_false(qa_freezer_is_any_frozen(fx->freezer));
}

static void
test_writer_failure(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	guint count = 0;

	g_set_error(&fx->fake.freeze_error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_FAILED,
		    "a VSS writer failed to freeze");
	g_assert_false(qa_freezer_freeze(fx->freezer, NULL, &count, &error));
	g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_FAILED);
	g_assert_nonnull(strstr(error->message, "writer"));
	g_assert_false(qa_freezer_is_any_frozen(fx->freezer));
	/* the log is released after a failed freeze, and a new freeze works */
	g_assert_cmpuint(fx->fake.holds, ==, fx->fake.releases);
	g_clear_error(&error);
	g_assert_true(qa_freezer_freeze(fx->freezer, NULL, &count, &error));
	g_assert_cmpuint(count, ==, 3);
}

static void
test_freeze_timeout(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	guint count = 0;

	g_set_error(&fx->fake.freeze_error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_FAILED,
		    "VSS did not freeze the volumes within 60 s.");
	g_assert_false(qa_freezer_freeze(fx->freezer, NULL, &count, &error));
	g_assert_nonnull(strstr(error->message, "within 60 s"));
	g_assert_false(qa_freezer_is_any_frozen(fx->freezer));
	g_assert_cmpuint(fx->fake.thaws, ==, 0);
}

static void
test_hold_limit_reported(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	guint count = 0;

	g_assert_true(qa_freezer_freeze(fx->freezer, NULL, &count, &error));
	fx->fake.hold_expires = TRUE;
	/* the thaw says VSS gave up the hold, and the volumes count as thawed all the same */
	g_assert_false(qa_freezer_thaw(fx->freezer, NULL, &count, &error));
	g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_FAILED);
	g_assert_nonnull(strstr(error->message, "ended the hold"));
	g_assert_false(qa_freezer_is_any_frozen(fx->freezer));
	g_assert_cmpuint(fx->fake.releases, ==, 1);
}

static void
test_stop_while_frozen(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	guint count = 0;

	g_assert_true(qa_freezer_freeze(fx->freezer, NULL, &count, &error));
	g_assert_cmpuint(qa_freezer_thaw_for_shutdown(fx->freezer), ==, 3);
	g_assert_false(qa_freezer_is_any_frozen(fx->freezer));
	g_assert_cmpuint(fx->fake.held->len, ==, 0);
	g_assert_cmpuint(fx->fake.releases, ==, 1);
	/* nothing frozen: a stop calls no VSS */
	g_assert_cmpuint(qa_freezer_thaw_for_shutdown(fx->freezer), ==, 0);
	g_assert_cmpuint(fx->fake.thaws, ==, 1);
}

static gpointer
freeze_thread(gpointer data)
{
	Fixture *fx = data;
	g_autoptr(GError) error = NULL;
	guint count = 0;

	return GINT_TO_POINTER(qa_freezer_freeze(fx->freezer, NULL, &count, &error));
}

static void
test_stop_during_freeze(Fixture *fx, gconstpointer data)
{
	GThread *thread;
	gint64 deadline = g_get_monotonic_time() + 10 * G_TIME_SPAN_SECOND;

	fx->fake.blocks = TRUE;
	thread = g_thread_new("freeze", freeze_thread, fx);
	g_mutex_lock(&fx->fake.lock);
	while (!fx->fake.is_in_freeze)
		g_assert_true(g_cond_wait_until(&fx->fake.cond, &fx->fake.lock, deadline));
	g_mutex_unlock(&fx->fake.lock);
	g_assert_cmpuint(qa_freezer_thaw_for_shutdown(fx->freezer), ==, 0);
	g_assert_cmpuint(fx->fake.aborts, ==, 1);
	g_assert_false(GPOINTER_TO_INT(g_thread_join(thread)));
	g_assert_false(qa_freezer_is_any_frozen(fx->freezer));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
#define ADD(name, func) g_test_add(name, Fixture, NULL, fixture_setup, func, fixture_teardown)
	ADD("/freezer-win32/freeze-all-then-thaw", test_freeze_all_then_thaw);
	ADD("/freezer-win32/freeze-list", test_freeze_list);
	ADD("/freezer-win32/already-frozen", test_already_frozen);
	ADD("/freezer-win32/writer-failure", test_writer_failure);
	ADD("/freezer-win32/freeze-timeout", test_freeze_timeout);
	ADD("/freezer-win32/hold-limit-reported", test_hold_limit_reported);
	ADD("/freezer-win32/stop-while-frozen", test_stop_while_frozen);
	ADD("/freezer-win32/stop-during-freeze", test_stop_during_freeze);
	return g_test_run();
}
