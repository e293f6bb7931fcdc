/* The Windows command handlers against a fake QaWinOps: what each asks Windows for, with which
 * arguments, and how it answers when Windows refuses; nothing here shuts the machine down, sets
 * its clock or a password. Runs under wine. The commands wine implements for real are tested
 * end to end by tests/integration/test_win32_commands.py. */
#include <glib.h>
#include <glib/gstdio.h>

#include "agent.h"
#include "identity-win32.h"
#include "load-win32.h"
#include "netif-win32.h"
#include "process-win32.h"
#include "process.h"
#include "qa-error.h"
#include "qa-schema.h"
#include "ssh-keys-win32.h"
#include "system-win32.h"

typedef struct {
	GPtrArray *calls; /* "shutdown powerdown", "privilege SeShutdownPrivilege", ... */
	gboolean has_s3;
	gboolean has_s4;
	gboolean refuses_privilege;
	gchar *password; /* the last one set */
	GPtrArray *devices;
	gboolean has_no_counter;
	gdouble queue_length; /* what the counter reads */
	gboolean fails_read;
	gchar *root; /* a temporary directory: profiles and ProgramData in it */
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
fake_shutdown(QaPowerMode mode, GError **error)
{
	fake_call("shutdown %s", qa_power_mode_to_string(mode));
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

static gpointer
fake_load_counter_open(GError **error)
{
	fake_call("load-open");
	if (fake->has_no_counter) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_UNSUPPORTED,
			    "Cannot read the performance counter: PdhAddEnglishCounterW failed");
		return NULL;
	}
	return fake;
}

static gboolean
fake_load_counter_read(gpointer counter, gdouble *out_value, GError **error)
{
	g_assert_true(counter == fake);
	if (fake->fails_read) {
		g_set_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_FAILED, "no data");
		return FALSE;
	}
	*out_value = fake->queue_length;
	return TRUE;
}

static void
fake_load_counter_close(gpointer counter)
{
	fake_call("load-close");
}

#define FAKE_SID "S-1-5-21-1004336348-1177238915-682003330-1001"

/* alice: a user who has logged on; admin: in Administrators; newbie: never logged on */
static QaWinAccount *
fake_lookup_account(const gchar *username, GError **error)
{
	g_autoptr(QaWinAccount) account = g_new0(QaWinAccount, 1);

	if (g_strcmp0(username, "alice") != 0 && g_strcmp0(username, "admin") != 0 &&
	    g_strcmp0(username, "newbie") != 0) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_NOT_FOUND,
			    "The user '%s' does not exist",
			    username);
		return NULL;
	}
	account->sid = g_strdup(FAKE_SID);
	account->is_admin = g_strcmp0(username, "admin") == 0;
	account->profile_dir = g_build_filename(fake->root, "Users", username, NULL);
	return g_steal_pointer(&account);
}

static gchar *
fake_get_program_data_dir(GError **error)
{
	return g_build_filename(fake->root, "ProgramData", NULL);
}

static gboolean
fake_set_security(const gchar *path, const gchar *sddl, GError **error)
{
	fake_call("acl %s %s", g_file_test(path, G_FILE_TEST_IS_DIR) ? "dir" : "file", sddl);
	return TRUE;
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
    .load_counter_open = fake_load_counter_open,
    .load_counter_read = fake_load_counter_read,
    .load_counter_close = fake_load_counter_close,
    .lookup_account = fake_lookup_account,
    .get_program_data_dir = fake_get_program_data_dir,
    .set_security = fake_set_security,
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
	g_clear_pointer(&fx->agent.load, qa_win_load_free);
	if (fx->fake.root != NULL) {
		g_autofree gchar *command =
		    g_strdup_printf("cmd.exe /c rmdir /s /q \"%s\"", fx->fake.root);

		g_spawn_command_line_sync(command, NULL, NULL, NULL, NULL);
		g_free(fx->fake.root);
	}
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

/* ---- identity and clock --------------------------------------------------------------------- */

static void
test_version_names(Fixture *fx, gconstpointer data)
{
	/* RtlGetVersion of released builds: (major, minor, build, server) -> names */
	static const struct {
		QaWinVersion version;
		const gchar *name;
		const gchar *id;
	} cases[] = {
	    {{6, 1, 7601, FALSE}, "Microsoft Windows 7", "7"},
	    {{6, 1, 7601, TRUE}, "Microsoft Windows Server 2008 R2", "2008r2"},
	    {{6, 3, 9600, TRUE}, "Microsoft Windows Server 2012 R2", "2012r2"},
	    {{10, 0, 19045, FALSE}, "Microsoft Windows 10", "10"},
	    {{10, 0, 22631, FALSE}, "Microsoft Windows 11", "11"},
	    {{10, 0, 26100, FALSE}, "Microsoft Windows 11", "11"},
	    {{10, 0, 14393, TRUE}, "Microsoft Windows Server 2016", "2016"},
	    {{10, 0, 17763, TRUE}, "Microsoft Windows Server 2019", "2019"},
	    {{10, 0, 20348, TRUE}, "Microsoft Windows Server 2022", "2022"},
	    {{10, 0, 26100, TRUE}, "Microsoft Windows Server 2025", "2025"},
	    {{10, 0, 10586, TRUE}, "N/A", "N/A"}, /* a Server 2016 preview */
	    {{4, 0, 1381, FALSE}, "N/A", "N/A"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		const gchar *name = NULL;
		const gchar *id = NULL;

		qa_win_version_names(&cases[i].version, &name, &id);
		g_assert_cmpstr(name, ==, cases[i].name);
		g_assert_cmpstr(id, ==, cases[i].id);
	}
	g_assert_cmpstr(qa_win_arch_name(9), ==, "x86_64");
	g_assert_cmpstr(qa_win_arch_name(12), ==, "arm64");
	g_assert_cmpstr(qa_win_arch_name(0xffff), ==, "unknown");
}

static void
test_users_one_per_name(Fixture *fx, gconstpointer data)
{
	g_autoptr(GPtrArray) users =
	    g_ptr_array_new_with_free_func((GDestroyNotify)qa_identity_user_free);
	const gint64 t0 = QA_WIN_FILETIME_UNIX_EPOCH + G_GINT64_CONSTANT(17000000000000000);
	QaIdentityUser *user;

	qa_win_users_add_session(users, "", "", t0); /* the services session */
	qa_win_users_add_session(users, "Administrator", "WIN-7K2", t0 + 50000000);
	qa_win_users_add_session(users, "alice", "CORP", t0 + 10);
	qa_win_users_add_session(users, "Administrator", "WIN-7K2", t0 + 5000000);
	g_assert_cmpuint(users->len, ==, 2);
	user = g_ptr_array_index(users, 0);
	g_assert_cmpstr(user->name, ==, "Administrator");
	g_assert_cmpstr(user->domain, ==, "WIN-7K2");
	g_assert_cmpfloat_with_epsilon(user->login_time, 1700000000.5, 1e-6);
	user = g_ptr_array_index(users, 1);
	g_assert_cmpstr(user->domain, ==, "CORP");
}

static void
test_set_time(Fixture *fx, gconstpointer data)
{
	QaGuestSetTimeArgs args = {.has_time = TRUE,
				   .time = G_GINT64_CONSTANT(1700000000123456789)};
	g_autoptr(GError) error = NULL;

	g_assert_true(qa_cmd_guest_set_time(&fx->agent, &args, NULL));
	g_assert_true(qa_cmd_guest_set_time(&fx->agent, NULL, NULL));
	assert_calls(fx, "privilege SeSystemtimePrivilege; set-time 133444736001234567; resync");
	args.time = -1;
	g_assert_false(qa_cmd_guest_set_time(&fx->agent, &args, &error));
	g_assert_nonnull(strstr(error->message, "Time -1 is invalid"));
	g_assert_cmpint(
	    qa_win_filetime_to_ns(133444736001234567), ==, G_GINT64_CONSTANT(1700000000123456700));
}

/* ---- load ----------------------------------------------------------------------------------- */

static void
test_load_damping(Fixture *fx, gconstpointer data)
{
	QaWinLoadAverage average = {0};

	/* a constant queue of 2 for one minute (12 samples): the 1-minute average reaches
	 * 2 * (1 - e^-1), the longer ones e^-(1/5) and e^-(1/15) of the way */
	for (guint i = 0; i < 12; i++)
		qa_win_load_average_update(&average, 2.0);
	g_assert_cmpfloat_with_epsilon(average.load1m, 2.0 * (1.0 - 0.36787944117144233), 1e-9);
	g_assert_cmpfloat_with_epsilon(average.load5m, 2.0 * (1.0 - 0.8187307530779818), 1e-9);
	g_assert_cmpfloat_with_epsilon(average.load15m, 2.0 * (1.0 - 0.9355069850316178), 1e-9);
	/* then idle for 15 minutes (180 samples): each decays by its own factor */
	for (guint i = 0; i < 180; i++)
		qa_win_load_average_update(&average, 0.0);
	g_assert_cmpfloat_with_epsilon(
	    average.load1m, 1.2642411176571153 * 3.059023205018258e-7, 1e-12);
	g_assert_cmpfloat(average.load1m, <, average.load5m);
	g_assert_cmpfloat(average.load5m, <, average.load15m);
}

static void
test_load_lazy_start(Fixture *fx, gconstpointer data)
{
	g_autoptr(QaGuestLoadAverage) first = NULL;
	g_autoptr(QaGuestLoadAverage) second = NULL;
	QaWinLoadAverage expected = {0};

	g_assert_null(fx->agent.load);
	fx->fake.queue_length = 3.0;
	g_assert_true(qa_cmd_guest_get_load(&fx->agent, &first, NULL));
	/* the first sample, taken when the counter is opened */
	qa_win_load_average_update(&expected, 3.0);
	g_assert_cmpfloat(first->load1m, ==, expected.load1m);
	g_assert_cmpfloat(first->load15m, ==, expected.load15m);
	/* what the 5-second timeout does; a failed sample changes nothing */
	qa_win_load_sample(fx->agent.load);
	fx->fake.fails_read = TRUE;
	g_test_expect_message("quiesce-agent", G_LOG_LEVEL_WARNING, "load sample skipped*no data");
	qa_win_load_sample(fx->agent.load);
	qa_win_load_sample(fx->agent.load); /* logged once */
	g_test_assert_expected_messages();
	g_assert_true(qa_cmd_guest_get_load(&fx->agent, &second, NULL));
	qa_win_load_average_update(&expected, 3.0);
	g_assert_cmpfloat(second->load1m, ==, expected.load1m);
	g_assert_cmpfloat(second->load5m, ==, expected.load5m);
	g_clear_pointer(&fx->agent.load, qa_win_load_free);
	if (fx->fake.root != NULL) {
		g_autofree gchar *command =
		    g_strdup_printf("cmd.exe /c rmdir /s /q \"%s\"", fx->fake.root);

		g_spawn_command_line_sync(command, NULL, NULL, NULL, NULL);
		g_free(fx->fake.root);
	}
	assert_calls(fx, "load-open; load-close");
}

static void
test_load_no_counter(Fixture *fx, gconstpointer data)
{
	g_autoptr(QaGuestLoadAverage) ret = NULL;
	g_autoptr(GError) error = NULL;

	fx->fake.has_no_counter = TRUE;
	g_assert_false(qa_cmd_guest_get_load(&fx->agent, &ret, &error));
	g_assert_nonnull(strstr(error->message, "performance counter"));
	g_assert_null(fx->agent.load);
	/* the next request tries again */
	fx->fake.has_no_counter = FALSE;
	g_assert_true(qa_cmd_guest_get_load(&fx->agent, &ret, NULL));
	assert_calls(fx, "load-open; load-open");
}

/* ---- network -------------------------------------------------------------------------------- */

static gboolean
fake_stats(const IP_ADAPTER_ADDRESSES *adapter, QaNetifStats *out_stats)
{
	if (adapter->IfIndex != 7)
		return FALSE;
	out_stats->rx_bytes = 1234;
	out_stats->tx_dropped = 3;
	return TRUE;
}

/* The table GetAdaptersAddresses gave on a Windows Server 2022 guest with one virtio-net
 * adapter (addresses and names as recorded; fields the mapping does not read left zero). */
static void
test_netif_parse(Fixture *fx, gconstpointer data)
{
	struct sockaddr_in v4 = {.sin_family = AF_INET};
	struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_scope_id = 7};
	struct sockaddr_in lo4 = {.sin_family = AF_INET};
	IP_ADAPTER_UNICAST_ADDRESS u6 = {0}, u4 = {0}, ulo = {0};
	IP_ADAPTER_ADDRESSES eth = {0}, lo = {0};
	g_autoptr(GPtrArray) adapters = NULL;
	QaNetif *a;
	QaNetifAddress *addr;
	WSADATA wsa;

	g_assert_cmpint(WSAStartup(MAKEWORD(2, 2), &wsa), ==, 0);
	inet_pton(AF_INET, "192.168.122.40", &v4.sin_addr);
	inet_pton(AF_INET6, "fe80::4c1d:a5e2:3b0f:91c2", &v6.sin6_addr);
	inet_pton(AF_INET, "127.0.0.1", &lo4.sin_addr);
	u6.Address.lpSockaddr = (SOCKADDR *)&v6;
	u6.Address.iSockaddrLength = sizeof(v6);
	u6.OnLinkPrefixLength = 64;
	u6.Next = &u4;
	u4.Address.lpSockaddr = (SOCKADDR *)&v4;
	u4.Address.iSockaddrLength = sizeof(v4);
	u4.OnLinkPrefixLength = 24;
	ulo.Address.lpSockaddr = (SOCKADDR *)&lo4;
	ulo.Address.iSockaddrLength = sizeof(lo4);
	ulo.OnLinkPrefixLength = 8;
	eth.FriendlyName = L"Ethernet";
	eth.IfIndex = 7;
	memcpy(eth.PhysicalAddress, "\x52\x54\x00\xab\xcd\xef", 6);
	eth.PhysicalAddressLength = 6;
	eth.FirstUnicastAddress = &u6;
	eth.Next = &lo;
	lo.FriendlyName = L"Loopback Pseudo-Interface 1";
	lo.IfIndex = 1;
	lo.FirstUnicastAddress = &ulo;

	adapters = qa_win_netif_parse(&eth, fake_stats);
	g_assert_cmpuint(adapters->len, ==, 2);
	a = g_ptr_array_index(adapters, 0);
	g_assert_cmpstr(a->name, ==, "Ethernet");
	g_assert_cmpstr(a->hardware_address, ==, "52:54:00:ab:cd:ef");
	g_assert_cmpuint(a->addresses->len, ==, 2);
	addr = g_ptr_array_index(a->addresses, 0);
	g_assert_cmpstr(addr->address, ==, "fe80::4c1d:a5e2:3b0f:91c2%7");
	g_assert_cmpint(addr->family, ==, QA_NETIF_FAMILY_IPV6);
	g_assert_cmpuint(addr->prefix, ==, 64);
	addr = g_ptr_array_index(a->addresses, 1);
	g_assert_cmpstr(addr->address, ==, "192.168.122.40");
	g_assert_cmpuint(addr->prefix, ==, 24);
	g_assert_cmpuint(a->statistics->rx_bytes, ==, 1234);
	g_assert_cmpuint(a->statistics->tx_dropped, ==, 3);
	a = g_ptr_array_index(adapters, 1);
	g_assert_null(a->hardware_address);
	g_assert_null(a->statistics);
	g_assert_cmpstr(
	    ((QaNetifAddress *)g_ptr_array_index(a->addresses, 0))->address, ==, "127.0.0.1");
	WSACleanup();
}

static void
test_mac_format(Fixture *fx, gconstpointer data)
{
	g_autofree gchar *short_mac = qa_win_netif_mac_format((const guint8 *)"\x01\x02", 2);
	g_autofree gchar *long_mac =
	    qa_win_netif_mac_format((const guint8 *)"\x00\x00\x00\x00\x00\x00\x00\xe0", 8);

	g_assert_null(qa_win_netif_mac_format((const guint8 *)"", 0));
	g_assert_cmpstr(short_mac, ==, "01:02:00:00:00:00");
	g_assert_cmpstr(long_mac, ==, "00:00:00:00:00:00");
}

/* ---- exec ----------------------------------------------------------------------------------- */

static void
test_quote_arg(Fixture *fx, gconstpointer data)
{
	/* each argument, and what the C runtime's argv parsing needs to give it back */
	static const gchar *const cases[][2] = {
	    {"plain", "plain"},
	    {"", "\"\""},
	    {"two words", "\"two words\""},
	    {"say \"hi\"", "\"say \\\"hi\\\"\""},
	    {"C:\\dir\\", "C:\\dir\\"},
	    {"C:\\my dir\\", "\"C:\\my dir\\\\\""},
	    {"a\\\\\"b", "\"a\\\\\\\\\\\"b\""},
	    {"tab\there", "\"tab\there\""},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GString) line = g_string_new(NULL);

		qa_win_process_quote_arg(line, cases[i][0]);
		g_assert_cmpstr(line->str, ==, cases[i][1]);
	}
}

static void
test_command_line_and_environment(Fixture *fx, gconstpointer data)
{
	g_autoptr(GPtrArray) args = g_ptr_array_new();
	g_autoptr(GPtrArray) env = g_ptr_array_new();
	g_autoptr(GError) error = NULL;
	g_autofree gunichar2 *line = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gunichar2 *block = NULL;
	g_autofree gchar *big = g_strnfill(40000, 'x');

	g_ptr_array_add(args, "/c");
	g_ptr_array_add(args, "echo a b");
	line = qa_win_process_command_line("cmd.exe", args, NULL);
	text = g_utf16_to_utf8(line, -1, NULL, NULL, NULL);
	g_assert_cmpstr(text, ==, "cmd.exe /c \"echo a b\"");
	g_assert_null(qa_win_process_command_line("", NULL, &error));
	g_clear_error(&error);
	g_ptr_array_add(args, big);
	g_assert_null(qa_win_process_command_line("cmd.exe", args, &error));
	g_assert_nonnull(strstr(error->message, "too long"));
	g_clear_error(&error);

	g_ptr_array_add(env, "A=1");
	g_ptr_array_add(env, "=C:=C:\\");
	block = qa_win_process_environment(env, NULL);
	g_assert_true(block[0] == 'A' && block[3] == 0 && block[4] == '=' && block[11] == 0 &&
		      block[12] == 0);
	g_ptr_array_add(env, "novalue");
	g_assert_null(qa_win_process_environment(env, &error));
	g_assert_nonnull(strstr(error->message, "'novalue'"));
}

/* the counts once no process of @table runs any more */
static void
wait_all_ended(QaProcessTable *table, guint *out_finished)
{
	gint64 deadline = g_get_monotonic_time() + 60 * G_TIME_SPAN_SECOND;
	guint running = 0;

	do {
		g_usleep(20 * 1000);
		qa_process_table_get_counts(table, &running, out_finished);
	} while (running > 0 && g_get_monotonic_time() < deadline);
	g_assert_cmpuint(running, ==, 0);
}

/* as on Linux: the oldest end beyond QA_PROCESS_FINISHED_MAX is forgotten, and ends do not
 * count against QA_PROCESS_RUNNING_MAX. Real processes: wine runs cmd.exe. */
static void
test_exec_finished_limit(Fixture *fx, gconstpointer data)
{
	QaProcessTable *table = qa_process_table_new(NULL);
	g_autoptr(GPtrArray) args = g_ptr_array_new();
	QaProcessSpec spec = {.path = "cmd.exe", .args = args};
	g_autoptr(QaProcessStatus) second = NULL;
	g_autoptr(GError) error = NULL;
	gint64 pids[QA_PROCESS_FINISHED_MAX + 1];
	guint finished = 0;

	g_ptr_array_add(args, "/c");
	g_ptr_array_add(args, "exit 7");
	/* the first ends before the others start: its end is certainly the oldest */
	g_assert_true(qa_process_table_spawn(table, &spec, &pids[0], NULL));
	wait_all_ended(table, &finished);
	g_assert_cmpuint(finished, ==, 1);
	for (guint i = 1; i < G_N_ELEMENTS(pids); i++)
		g_assert_true(qa_process_table_spawn(table, &spec, &pids[i], NULL));
	wait_all_ended(table, &finished);
	g_assert_cmpuint(finished, ==, QA_PROCESS_FINISHED_MAX);
	g_assert_null(qa_process_table_take_status(table, pids[0], &error));
	g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_NOT_FOUND);
	second = qa_process_table_take_status(table, pids[1], NULL);
	g_assert_true(second->has_exited);
	g_assert_cmpint(second->exitcode, ==, 7);
	qa_process_table_get_counts(table, &finished, &finished);
	g_assert_cmpuint(finished, ==, QA_PROCESS_FINISHED_MAX - 1);
	qa_process_table_free(table);
}

/* the status of @pid once it is reported exited (its readers done) */
static QaProcessStatus *
wait_status(QaProcessTable *table, gint64 pid)
{
	gint64 deadline = g_get_monotonic_time() + 60 * G_TIME_SPAN_SECOND;
	QaProcessStatus *status = NULL;

	while (g_get_monotonic_time() < deadline) {
		status = qa_process_table_take_status(table, pid, NULL);
		g_assert_nonnull(status);
		if (status->has_exited)
			return status;
		qa_process_status_free(status);
		g_usleep(20 * 1000);
	}
	g_assert_not_reached();
}

/* as on Linux: the table holds at most QA_PROCESS_HELD_MAX bytes across processes (four full
 * captures), so a fifth capture forgets the oldest unreported end to make room, and what the
 * others captured is intact. Real processes: wine's cmd.exe types a file one page longer than a
 * capture. Slow: wine's pipes carry the 80 MiB in about 90 s, so it runs with -m slow only. */
static void
test_exec_output_budget(Fixture *fx, gconstpointer data)
{
	QaProcessTable *table = qa_process_table_new(NULL);
	g_autofree gchar *dir = NULL;
	g_autofree gchar *path = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *line = NULL;
	g_autoptr(GPtrArray) args = g_ptr_array_new();
	QaProcessSpec spec = {.path = "cmd.exe", .args = args, .capture = QA_PROCESS_CAPTURE_STDOUT};
	g_autoptr(QaProcessStatus) second = NULL;
	g_autoptr(QaProcessStatus) fifth = NULL;
	g_autoptr(GError) error = NULL;
	gint64 pids[5];
	guint finished = 0;
	gsize len = 0;

	if (!g_test_slow()) {
		g_test_skip("80 MiB through wine's pipes; run with -m slow");
		return;
	}
	g_assert_cmpuint(QA_PROCESS_HELD_MAX, ==, 4 * QA_PROCESS_OUTPUT_MAX);
	dir = g_dir_make_tmp("qa-exec-XXXXXX", NULL);
	path = g_build_filename(dir, "big", NULL);
	text = g_strnfill(QA_PROCESS_OUTPUT_MAX + 4096, 'a');
	g_assert_true(g_file_set_contents(path, text, QA_PROCESS_OUTPUT_MAX + 4096, NULL));
	line = g_strdup_printf("type %s", path);
	g_ptr_array_add(args, "/c");
	g_ptr_array_add(args, line);
	/* the first ends before the others start: its end is certainly the oldest */
	g_assert_true(qa_process_table_spawn(table, &spec, &pids[0], NULL));
	wait_all_ended(table, &finished);
	for (guint i = 1; i < 4; i++)
		g_assert_true(qa_process_table_spawn(table, &spec, &pids[i], NULL));
	wait_all_ended(table, &finished);
	g_assert_cmpuint(finished, ==, 4);
	g_assert_true(qa_process_table_spawn(table, &spec, &pids[4], NULL));
	g_assert_null(qa_process_table_take_status(table, pids[0], &error));
	g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_NOT_FOUND);
	second = wait_status(table, pids[1]);
	g_assert_true(second->is_out_truncated);
	g_bytes_get_data(second->out_data, &len);
	g_assert_cmpuint(len, ==, QA_PROCESS_OUTPUT_MAX);
	fifth = wait_status(table, pids[4]);
	g_assert_true(fifth->is_out_truncated);
	g_bytes_get_data(fifth->out_data, &len);
	g_assert_cmpuint(len, ==, QA_PROCESS_OUTPUT_MAX);
	for (guint i = 2; i < 4; i++)
		qa_process_status_free(wait_status(table, pids[i]));
	qa_process_table_free(table);
	g_remove(path);
	g_rmdir(dir);
}

/* ---- accounts ------------------------------------------------------------------------------- */

static void
test_set_user_password(Fixture *fx, gconstpointer data)
{
	/* "Pa55 wörd" */
	QaGuestSetUserPasswordArgs args = {.username = "alice", .password = "UGE1NSB3w7ZyZA=="};
	g_autoptr(GError) crypted = NULL;
	g_autoptr(GError) unknown = NULL;
	g_autoptr(GError) newline = NULL;

	g_assert_true(qa_cmd_guest_set_user_password(&fx->agent, &args, NULL));
	g_assert_cmpstr(fx->fake.password, ==, "Pa55 w\xc3\xb6rd");
	args.username = "nobody-here";
	g_assert_false(qa_cmd_guest_set_user_password(&fx->agent, &args, &unknown));
	g_assert_nonnull(strstr(unknown->message, "not a local account"));
	args.crypted = TRUE;
	g_assert_false(qa_cmd_guest_set_user_password(&fx->agent, &args, &crypted));
	g_assert_cmpstr(crypted->message, ==, "'crypted' must be off on this host");
	args.crypted = FALSE;
	args.password = "YQpi"; /* "a\nb" */
	g_assert_false(qa_cmd_guest_set_user_password(&fx->agent, &args, &newline));
	g_assert_null(strstr(newline->message, "a\nb"));
	assert_calls(fx, "password alice; password nobody-here");
}

/* ---- SSH keys ------------------------------------------------------------------------------ */

#define K1                                                                                         \
	"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILEehauZVh2h6snr8MahYnx7Dtfufq0tVrhz/dRWSJuU k1@test"
#define K2                                                                                         \
	"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAID5GBOrkn4L0GVnLIekJXkLe5Ut+9BXtZ/ey7r7QR+rS k2@test"
#define K3                                                                                         \
	"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM4zkPHgm6/uBNKrU+J017bMJdvA3j4DwcEPVKE7iAnE k3@test"

static void
test_ssh_sddl_and_place(Fixture *fx, gconstpointer data)
{
	g_autofree gchar *user_dir = qa_win_ssh_sddl(FALSE, FAKE_SID, TRUE);
	g_autofree gchar *user_file = qa_win_ssh_sddl(FALSE, FAKE_SID, FALSE);
	g_autofree gchar *admin_file = qa_win_ssh_sddl(TRUE, FAKE_SID, FALSE);
	g_autoptr(QaWinSshPlace) user = qa_win_ssh_place_new(FALSE, "C:\\Users\\alice", NULL);
	g_autoptr(QaWinSshPlace) admin =
	    qa_win_ssh_place_new(TRUE, "C:\\Users\\admin", "C:\\ProgramData");

	g_assert_cmpstr(
	    user_dir, ==, "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;" FAKE_SID ")");
	g_assert_cmpstr(user_file, ==, "D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FA;;;" FAKE_SID ")");
	g_assert_cmpstr(admin_file, ==, "D:P(A;;FA;;;SY)(A;;FA;;;BA)");
	/* a SID that would add entries of its own is refused */
	g_assert_null(qa_win_ssh_sddl(FALSE, "S-1-5-21)(A;;FA;;;WD", FALSE));
	g_assert_null(qa_win_ssh_sddl(FALSE, NULL, FALSE));
	g_assert_cmpstr(user->path, ==, "C:\\Users\\alice\\.ssh\\authorized_keys");
	g_assert_false(user->is_shared);
	g_assert_cmpstr(admin->dir, ==, "C:\\ProgramData\\ssh");
	g_assert_cmpstr(admin->path, ==, "C:\\ProgramData\\ssh\\administrators_authorized_keys");
	g_assert_true(admin->is_shared);
}

static void
ssh_setup(Fixture *fx)
{
	g_autofree gchar *alice = NULL;
	g_autofree gchar *program_data = NULL;

	fx->fake.root = g_dir_make_tmp("qa-ssh-XXXXXX", NULL);
	g_assert_nonnull(fx->fake.root);
	alice = g_build_filename(fx->fake.root, "Users", "alice", NULL);
	program_data = g_build_filename(fx->fake.root, "ProgramData", NULL);
	g_assert_cmpint(g_mkdir_with_parents(alice, 0700), ==, 0);
	g_assert_cmpint(g_mkdir_with_parents(program_data, 0700), ==, 0);
}

static void
assert_keys_file(Fixture *fx, const gchar *relative, const gchar *expected)
{
	g_autofree gchar *path = g_build_filename(fx->fake.root, relative, NULL);
	g_autofree gchar *text = NULL;

	g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
	g_assert_cmpstr(text, ==, expected);
}

static gboolean
ssh_add(Fixture *fx, const gchar *user, gboolean reset, GError **error, ...)
{
	g_autoptr(GPtrArray) keys = g_ptr_array_new();
	QaGuestSshAddAuthorizedKeysArgs args = {
	    .username = (gchar *)user, .keys = keys, .has_reset = reset, .reset = reset};
	va_list ap;

	va_start(ap, error);
	for (const gchar *k = va_arg(ap, const gchar *); k != NULL; k = va_arg(ap, const gchar *))
		g_ptr_array_add(keys, (gpointer)k);
	va_end(ap);
	return qa_cmd_guest_ssh_add_authorized_keys(&fx->agent, &args, error);
}

static gboolean
ssh_remove(Fixture *fx, const gchar *user, const gchar *key, GError **error)
{
	g_autoptr(GPtrArray) keys = g_ptr_array_new();
	QaGuestSshRemoveAuthorizedKeysArgs args = {.username = (gchar *)user, .keys = keys};

	g_ptr_array_add(keys, (gpointer)key);
	return qa_cmd_guest_ssh_remove_authorized_keys(&fx->agent, &args, error);
}

static guint
ssh_count(Fixture *fx, const gchar *user, GError **error)
{
	QaGuestSshGetAuthorizedKeysArgs args = {.username = (gchar *)user};
	g_autoptr(QaGuestAuthorizedKeys) ret = NULL;

	if (!qa_cmd_guest_ssh_get_authorized_keys(&fx->agent, &args, &ret, error))
		return G_MAXUINT;
	return ret->keys->len;
}

/* the file round trip of a user's own keys, in a temporary profile (real files under wine) */
static void
test_ssh_user_round_trip(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) missing = NULL;
	const gchar *file = "Users\\alice\\.ssh\\authorized_keys";

	ssh_setup(fx);
	g_assert_cmpuint(ssh_count(fx, "alice", &missing), ==, G_MAXUINT);
	g_assert_nonnull(strstr(missing->message, "No such file or directory"));
	g_assert_nonnull(strstr(missing->message, "alice\\.ssh\\authorized_keys'"));
	g_assert_true(ssh_remove(fx, "alice", K1, NULL)); /* nothing to remove: no error */
	/* a blank key (a key file's last line end) is skipped, as on Linux */
	g_assert_true(ssh_add(fx, "alice", FALSE, NULL, K1, "", "  " K2, NULL));
	assert_calls(fx,
		     "acl dir D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;" FAKE_SID "); "
		     "acl file D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FA;;;" FAKE_SID ")");
	assert_keys_file(fx, file, K1 "\n" K2 "\n");
	g_assert_true(ssh_add(fx, "alice", FALSE, NULL, K2, K3, NULL));
	assert_keys_file(fx, file, K1 "\n" K2 "\n" K3 "\n");
	g_assert_cmpuint(ssh_count(fx, "alice", NULL), ==, 3);
	g_assert_true(ssh_remove(fx, "alice", K1, NULL));
	assert_keys_file(fx, file, K2 "\n" K3 "\n");
	g_assert_true(ssh_add(fx, "alice", TRUE, NULL, K3, NULL));
	assert_keys_file(fx, file, K3 "\n");
	/* the directory's DACL once, when it was made; the file's at each write */
	assert_calls(fx,
		     "acl dir D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;" FAKE_SID "); "
		     "acl file D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FA;;;" FAKE_SID "); "
		     "acl file D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FA;;;" FAKE_SID "); "
		     "acl file D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FA;;;" FAKE_SID "); "
		     "acl file D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FA;;;" FAKE_SID ")");
}

/* a Windows-edited file: CRLF line ends and comments stay, keys match without the CR */
static void
test_ssh_crlf_file(Fixture *fx, gconstpointer data)
{
	g_autofree gchar *dir = NULL;
	g_autofree gchar *path = NULL;

	ssh_setup(fx);
	dir = g_build_filename(fx->fake.root, "Users", "alice", ".ssh", NULL);
	path = g_build_filename(dir, "authorized_keys", NULL);
	g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
	g_assert_true(g_file_set_contents(path, "# mine\r\n" K1 "\r\n" K2 "\r\n", -1, NULL));
	g_assert_cmpuint(ssh_count(fx, "alice", NULL), ==, 2);
	g_assert_true(ssh_add(fx, "alice", FALSE, NULL, K1, K3, NULL));
	g_assert_true(ssh_remove(fx, "alice", K2, NULL));
	assert_keys_file(fx, "Users\\alice\\.ssh\\authorized_keys", "# mine\r\n" K1 "\r\n" K3 "\n");
}

static void
test_ssh_admin_shared_file(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) is_dir = NULL;
	g_autofree gchar *odd = NULL;

	ssh_setup(fx);
	g_assert_true(ssh_add(fx, "admin", FALSE, NULL, K2, NULL));
	assert_keys_file(fx, "ProgramData\\ssh\\administrators_authorized_keys", K2 "\n");
	assert_calls(fx,
		     "acl dir D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA); "
		     "acl file D:P(A;;FA;;;SY)(A;;FA;;;BA)");
	g_assert_cmpuint(ssh_count(fx, "admin", NULL), ==, 1);
	/* a directory where the file should be is refused, not read */
	odd = g_build_filename(fx->fake.root, "Users", "alice", ".ssh", "authorized_keys", NULL);
	g_assert_cmpint(g_mkdir_with_parents(odd, 0700), ==, 0);
	g_assert_cmpuint(ssh_count(fx, "alice", &is_dir), ==, G_MAXUINT);
	g_assert_nonnull(strstr(is_dir->message, "expected a regular file"));
}

static void
test_ssh_refusals(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) unknown = NULL;
	g_autoptr(GError) newbie = NULL;
	g_autoptr(GError) bad_key = NULL;
	g_autoptr(GError) bad_name = NULL;
	g_autoptr(GError) comment = NULL;

	ssh_setup(fx);
	g_assert_false(ssh_add(fx, "nobody", FALSE, &unknown, K1, NULL));
	g_assert_cmpstr(unknown->message, ==, "The user 'nobody' does not exist");
	g_assert_false(ssh_add(fx, "newbie", FALSE, &newbie, K1, NULL));
	g_assert_nonnull(strstr(newbie->message, "does not exist; expected the user to have"));
	/* the same checks and texts as on Linux, before the user is looked up */
	g_assert_false(ssh_add(fx, "nobody", FALSE, &bad_key, "ssh-ed25519 AAAA", NULL));
	g_assert_true(g_str_has_prefix(bad_key->message, "Invalid OpenSSH public key"));
	g_assert_false(ssh_add(fx, "a:b", FALSE, &bad_name, K1, NULL));
	g_assert_nonnull(strstr(bad_name->message, "it contains ':'"));
	g_assert_false(ssh_remove(fx, "alice", "# a comment", &comment));
	g_assert_nonnull(strstr(comment->message, "it is a comment"));
	assert_calls(fx, "");
}

/* ---- devices -------------------------------------------------------------------------------- */

static void
fake_add_device(Fake *f, const gchar *hwid, const gchar *name, const gchar *version, gint64 date)
{
	QaWinDevice *d = g_new0(QaWinDevice, 1);

	d->hardware_id = g_strdup(hwid);
	d->driver_name = g_strdup(name);
	d->driver_version = g_strdup(version);
	d->driver_date = date;
	g_ptr_array_add(f->devices, d);
}

/* the PCI devices of a Windows Server 2022 guest with virtio-win 0.1.248 (hardware ids, names,
 * versions and dates as Device Manager showed them) */
static void
test_devices(Fixture *fx, gconstpointer data)
{
	g_autoptr(GPtrArray) ret = NULL;
	QaGuestDeviceInfo *info;
	/* 2023-08-22T16:00:00Z in FILETIME units */
	const gint64 date = G_GINT64_CONSTANT(133371936000000000);

	fx->fake.devices = g_ptr_array_new_with_free_func((GDestroyNotify)qa_win_device_free);
	fake_add_device(&fx->fake,
			"PCI\\VEN_1AF4&DEV_1041&SUBSYS_11001AF4&REV_01",
			"Red Hat VirtIO Ethernet Adapter",
			"100.94.104.24800",
			date);
	fake_add_device(&fx->fake,
			"PCI\\VEN_1B36&DEV_000D&SUBSYS_11001AF4&REV_01",
			"NEC USB 3.0 eXtensible Host Controller",
			"10.0.20348.1",
			date);
	fake_add_device(&fx->fake,
			"PCI\\VEN_8086&DEV_29C0&SUBSYS_11001AF4&REV_00",
			"Intel 82G33 DRAM Controller",
			"10.0.20348.1",
			date);
	fake_add_device(&fx->fake,
			"PCI\\VEN_1AF4&DEV_1045&SUBSYS_11001AF4&REV_01",
			"VirtIO Balloon Driver",
			NULL,
			date);
	fake_add_device(&fx->fake, "PCI\\VEN_1AF4&DEV_10421", "not a PCI id", "1", date);
	g_assert_true(qa_cmd_guest_get_devices(&fx->agent, &ret, NULL));
	g_assert_cmpuint(ret->len, ==, 2);
	info = g_ptr_array_index(ret, 0);
	g_assert_cmpstr(info->driver_name, ==, "Red Hat VirtIO Ethernet Adapter");
	g_assert_cmpstr(info->driver_version, ==, "100.94.104.24800");
	g_assert_true(info->has_driver_date);
	g_assert_cmpint(info->driver_date, ==, G_GINT64_CONSTANT(1692720000000000000));
	g_assert_cmpint(info->id->type, ==, QA_GUEST_DEVICE_TYPE_PCI);
	g_assert_cmpint(info->id->u_pci->vendor_id, ==, 0x1af4);
	g_assert_cmpint(info->id->u_pci->device_id, ==, 0x1041);
	info = g_ptr_array_index(ret, 1);
	g_assert_cmpint(info->id->u_pci->device_id, ==, 0x000d);
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
	ADD("/commands-win32/version-names", test_version_names);
	ADD("/commands-win32/users-one-per-name", test_users_one_per_name);
	ADD("/commands-win32/set-time", test_set_time);
	ADD("/commands-win32/load-damping", test_load_damping);
	ADD("/commands-win32/load-lazy-start", test_load_lazy_start);
	ADD("/commands-win32/load-no-counter", test_load_no_counter);
	ADD("/commands-win32/netif-parse", test_netif_parse);
	ADD("/commands-win32/mac-format", test_mac_format);
	ADD("/commands-win32/quote-arg", test_quote_arg);
	ADD("/commands-win32/set-user-password", test_set_user_password);
	ADD("/commands-win32/devices", test_devices);
	ADD("/commands-win32/command-line-and-environment", test_command_line_and_environment);
	ADD("/commands-win32/exec-finished-limit", test_exec_finished_limit);
	ADD("/commands-win32/exec-output-budget", test_exec_output_budget);
	ADD("/commands-win32/ssh-sddl-and-place", test_ssh_sddl_and_place);
	ADD("/commands-win32/ssh-user-round-trip", test_ssh_user_round_trip);
	ADD("/commands-win32/ssh-crlf-file", test_ssh_crlf_file);
	ADD("/commands-win32/ssh-admin-shared-file", test_ssh_admin_shared_file);
	ADD("/commands-win32/ssh-refusals", test_ssh_refusals);
	return g_test_run();
}
