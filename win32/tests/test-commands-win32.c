/* The Windows command handlers against a fake QaWinOps: what each asks Windows for, with which
 * arguments, and how it answers when Windows refuses; nothing here shuts the machine down, sets
 * its clock or a password. Runs under wine. The commands wine implements for real are tested
 * end to end by tests/integration/test_win32_commands.py. */
#include <glib.h>

#include "agent.h"
#include "qa-error.h"
#include "qa-schema.h"
#include "system-win32.h"

typedef struct {
	GPtrArray *calls; /* "shutdown powerdown", "privilege SeShutdownPrivilege", ... */
	gboolean has_s3;
	gboolean has_s4;
	gboolean refuses_privilege;
	gchar *password; /* the last one set */
	GPtrArray *devices;
} Fake;

/* the ops have no user data: one fake per test process, reset by each fixture */
static Fake *fake;

static void
fake_call(const gchar *format, ...) G_GNUC_PRINTF(1, 2);

static void
fake_call(const gchar *format, ...)
{
	va_list args;

	va_start(args, format);
	g_ptr_array_add(fake->calls, g_strdup_vprintf(format, args));
	va_end(args);
}

static gboolean
fake_enable_privilege(const gchar *name, GError **error)
{
	fake_call("privilege %s", name);
	if (fake->refuses_privilege) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot enable %s: not held",
			    name);
		return FALSE;
	}
	return TRUE;
}

static gboolean
fake_shutdown(QaWinShutdown mode, GError **error)
{
	static const gchar *const names[] = {"powerdown", "halt", "reboot"};

	fake_call("shutdown %s", names[mode]);
	return TRUE;
}

static gboolean
fake_get_sleep_states(gboolean *out_has_s3, gboolean *out_has_s4, GError **error)
{
	*out_has_s3 = fake->has_s3;
	*out_has_s4 = fake->has_s4;
	return TRUE;
}

static gboolean
fake_suspend(gboolean hibernate, GError **error)
{
	fake_call("suspend %s", hibernate ? "disk" : "ram");
	return TRUE;
}

static gboolean
fake_set_system_time(gint64 filetime, GError **error)
{
	fake_call("set-time %" G_GINT64_FORMAT, filetime);
	return TRUE;
}

static gboolean
fake_resync_time(GError **error)
{
	fake_call("resync");
	return TRUE;
}

static gboolean
fake_set_password(const gchar *username, const gchar *password, GError **error)
{
	fake_call("password %s", username);
	g_free(fake->password);
	fake->password = g_strdup(password);
	if (g_strcmp0(username, "nobody-here") == 0) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_NOT_FOUND,
			    "User '%s' is not a local account of this guest",
			    username);
		return FALSE;
	}
	return TRUE;
}

static GPtrArray *
fake_list_pci_devices(GError **error)
{
	GPtrArray *copy = g_ptr_array_new_with_free_func((GDestroyNotify)qa_win_device_free);

	for (guint i = 0; fake->devices != NULL && i < fake->devices->len; i++) {
		const QaWinDevice *d = g_ptr_array_index(fake->devices, i);
		QaWinDevice *c = g_new0(QaWinDevice, 1);

		c->hardware_id = g_strdup(d->hardware_id);
		c->driver_name = g_strdup(d->driver_name);
		c->driver_version = g_strdup(d->driver_version);
		c->driver_date = d->driver_date;
		g_ptr_array_add(copy, c);
	}
	return copy;
}

static const QaWinOps fake_ops = {
    .enable_privilege = fake_enable_privilege,
    .shutdown = fake_shutdown,
    .get_sleep_states = fake_get_sleep_states,
    .suspend = fake_suspend,
    .set_system_time = fake_set_system_time,
    .resync_time = fake_resync_time,
    .set_password = fake_set_password,
    .list_pci_devices = fake_list_pci_devices,
};

typedef struct {
	Fake fake;
	QaAgent agent;
} Fixture;

static void
fixture_setup(Fixture *fx, gconstpointer data)
{
	fx->fake.calls = g_ptr_array_new_with_free_func(g_free);
	fake = &fx->fake;
	fx->agent.win_ops = &fake_ops;
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
	g_ptr_array_unref(fx->fake.calls);
	g_free(fx->fake.password);
	if (fx->fake.devices != NULL)
		g_ptr_array_unref(fx->fake.devices);
	fake = NULL;
}

static gchar *
calls_joined(Fixture *fx)
{
	g_ptr_array_add(fx->fake.calls, NULL);
	g_ptr_array_remove_index(fx->fake.calls, fx->fake.calls->len - 1);
	return g_strjoinv("; ", (gchar **)fx->fake.calls->pdata);
}

#define assert_calls(fx, expected)                                                                 \
	do {                                                                                       \
		g_autofree gchar *joined_ = calls_joined(fx);                                      \
		g_assert_cmpstr(joined_, ==, (expected));                                          \
	} while (0)

/* ---- power ---------------------------------------------------------------------------------- */

static void
test_shutdown_modes(Fixture *fx, gconstpointer data)
{
	QaGuestShutdownArgs args = {0};

	g_assert_true(qa_cmd_guest_shutdown(&fx->agent, &args, NULL));
	args.mode = "halt";
	g_assert_true(qa_cmd_guest_shutdown(&fx->agent, &args, NULL));
	args.mode = "reboot";
	g_assert_true(qa_cmd_guest_shutdown(&fx->agent, &args, NULL));
	assert_calls(fx,
		     "privilege SeShutdownPrivilege; shutdown powerdown; "
		     "privilege SeShutdownPrivilege; shutdown halt; "
		     "privilege SeShutdownPrivilege; shutdown reboot");
}

static void
test_shutdown_bad_mode(Fixture *fx, gconstpointer data)
{
	QaGuestShutdownArgs args = {.mode = "sleep"};
	g_autoptr(GError) error = NULL;

	g_assert_false(qa_cmd_guest_shutdown(&fx->agent, &args, &error));
	g_assert_cmpstr(error->message,
			==,
			"Mode 'sleep' is invalid; valid values are: halt, powerdown, reboot");
	assert_calls(fx, "");
}

static void
test_shutdown_without_privilege(Fixture *fx, gconstpointer data)
{
	QaGuestShutdownArgs args = {0};
	g_autoptr(GError) error = NULL;

	fx->fake.refuses_privilege = TRUE;
	g_assert_false(qa_cmd_guest_shutdown(&fx->agent, &args, &error));
	g_assert_nonnull(strstr(error->message, "SeShutdownPrivilege"));
	assert_calls(fx, "privilege SeShutdownPrivilege");
}

static void
test_suspend(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error_ram = NULL;
	g_autoptr(GError) error_disk = NULL;

	g_assert_false(qa_cmd_guest_suspend_ram(&fx->agent, &error_ram));
	g_assert_nonnull(strstr(error_ram->message, "cannot suspend to RAM"));
	g_assert_false(qa_cmd_guest_suspend_disk(&fx->agent, &error_disk));
	g_assert_nonnull(strstr(error_disk->message, "powercfg /hibernate on"));
	assert_calls(fx, "");
	fx->fake.has_s3 = TRUE;
	fx->fake.has_s4 = TRUE;
	g_assert_true(qa_cmd_guest_suspend_ram(&fx->agent, NULL));
	g_assert_true(qa_cmd_guest_suspend_disk(&fx->agent, NULL));
	assert_calls(fx,
		     "privilege SeShutdownPrivilege; suspend ram; "
		     "privilege SeShutdownPrivilege; suspend disk");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
#define ADD(name, func) g_test_add(name, Fixture, NULL, fixture_setup, func, fixture_teardown)
	ADD("/commands-win32/shutdown-modes", test_shutdown_modes);
	ADD("/commands-win32/shutdown-bad-mode", test_shutdown_bad_mode);
	ADD("/commands-win32/shutdown-without-privilege", test_shutdown_without_privilege);
	ADD("/commands-win32/suspend", test_suspend);
	return g_test_run();
}
