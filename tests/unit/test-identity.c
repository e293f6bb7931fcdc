/* system/identity.c: os-release(5) on real and written files, utmp records written by glibc,
 * the load averages, the time zone and the host name. */
/* cmocka.h needs these before it */
/* clang-format off */
#include <glib.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
/* clang-format on */

#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>
#include <utmpx.h>

#include "identity.h"
#include "qa-error.h"

static gchar *
fixture_path(const gchar *name)
{
	const gchar *fixtures = g_getenv("QA_FIXTURES");

	return g_build_filename(fixtures != NULL ? fixtures : ".", "identity", name, NULL);
}

static void
assert_no_error_or_fail(const GError *error)
{
	if (error != NULL)
		fail_msg("unexpected error: %s", error->message);
}

static GHashTable *
os_release_fixture(const gchar *name)
{
	g_autofree gchar *path = fixture_path(name);
	const gchar *const paths[] = {path, NULL};
	g_autoptr(GError) error = NULL;
	GHashTable *pairs = qa_identity_os_release_load(paths, &error);

	assert_no_error_or_fail(error);
	assert_non_null(pairs);
	return pairs;
}

static const struct {
	const gchar *fixture;
	const gchar *key;
	const gchar *expected; /* NULL: not set */
} os_release_cases[] = {
    /* this machine's file */
    {"os-release/debian12", "ID", "debian"},
    {"os-release/debian12", "NAME", "Debian GNU/Linux"},
    {"os-release/debian12", "PRETTY_NAME", "Debian GNU/Linux 12 (bookworm)"},
    {"os-release/debian12", "VERSION", "12 (bookworm)"},
    {"os-release/debian12", "VERSION_ID", "12"},
    {"os-release/debian12", "VERSION_CODENAME", "bookworm"},
    {"os-release/debian12", "VARIANT", NULL},
    {"os-release/alpine", "ID", "alpine"},
    {"os-release/alpine", "VERSION_ID", "3.19.1"},
    {"os-release/alpine", "PRETTY_NAME", "Alpine Linux v3.19"},
    {"os-release/alpine", "VERSION", NULL},
    {"os-release/fedora-server", "VARIANT", "Server Edition"},
    {"os-release/fedora-server", "VARIANT_ID", "server"},
    {"os-release/fedora-server", "VERSION", "39 (Server Edition)"},
    {"os-release/fedora-server", "VERSION_CODENAME", ""},
    {"os-release/fedora-server", "SUPPORT_END", "2024-11-12"},
    /* single quotes keep everything, backslashes included */
    {"os-release/quoting", "NAME", "Single quotes keep $HOME, \\\\ and \"double\" quotes"},
    /* double quotes: \" \$ \\ \` are escapes, any other backslash stays */
    {"os-release/quoting", "PRETTY_NAME", "Double \"quoted\" $5 \\ `tick` \\q it's"},
    /* bare: every backslash escapes; unescaped trailing blanks go */
    {"os-release/quoting", "VERSION", "bare value with escapes"},
    {"os-release/quoting", "VERSION_ID", "1.0"},
    {"os-release/quoting", "ID", "quoted"},
    {"os-release/quoting", "VARIANT", "a value that goes on on the next line"},
    {"os-release/quoting", "VARIANT_ID", ""},
    {"os-release/quoting", "BUILD_ID", "last wins"},
    {"os-release/quoting", "LOGO", "crlf-line"},
    {"os-release/quoting", "IMAGE_ID", "unterminated\n"},
    {"os-release/quoting", "1ABC", NULL},
    {"os-release/quoting", "A-B", NULL},
    {"os-release/quoting", "not an assignment", NULL},
};

static void
test_os_release_fixtures(void **state)
{
	for (guint i = 0; i < G_N_ELEMENTS(os_release_cases); i++) {
		g_autoptr(GHashTable) pairs = os_release_fixture(os_release_cases[i].fixture);
		const gchar *value = g_hash_table_lookup(pairs, os_release_cases[i].key);

		if (os_release_cases[i].expected == NULL) {
			if (value != NULL)
				fail_msg("%s: %s is '%s', expected unset",
					 os_release_cases[i].fixture,
					 os_release_cases[i].key,
					 value);
			continue;
		}
		if (value == NULL || strcmp(value, os_release_cases[i].expected) != 0)
			fail_msg("%s: %s is '%s', expected '%s'",
				 os_release_cases[i].fixture,
				 os_release_cases[i].key,
				 value != NULL ? value : "(unset)",
				 os_release_cases[i].expected);
	}
}

static const struct {
	const gchar *text;
	const gchar *key;
	const gchar *expected; /* NULL: not set */
} os_release_text_cases[] = {
    {"", "ID", NULL},
    {"ID=x", "ID", "x"},
    {"ID=x\n", "ID", "x"},
    {"# ID=x\n", "ID", NULL},
    {"ID=a\\\nb\n", "ID", "ab"},
    /* escaped trailing blank is kept */
    {"ID=a\\ \n", "ID", "a "},
    /* no inline comments, as systemd reads it */
    {"ID=x # y\n", "ID", "x # y"},
    {"ID='a\nb'\n", "ID", "a\nb"},
    {"ID=\"\"\n", "ID", ""},
    {"ID\n=x\n", "ID", NULL},
    {"=x\n", "", NULL},
    {"_ID=x\n", "_ID", "x"},
    {"ID=\"\\\n\"\n", "ID", ""},
    {"ID=last\\", "ID", "last"},
    /* not UTF-8: skipped, as systemd skips it */
    {"ID=\xff\xfe\n", "ID", NULL},
    {"ID=caf\xc3\xa9\n", "ID", "caf\xc3\xa9"},
};

static void
test_os_release_parse_edges(void **state)
{
	for (guint i = 0; i < G_N_ELEMENTS(os_release_text_cases); i++) {
		const gchar *text = os_release_text_cases[i].text;
		g_autoptr(GHashTable) pairs = qa_identity_os_release_parse(text, strlen(text));
		const gchar *value = g_hash_table_lookup(pairs, os_release_text_cases[i].key);
		const gchar *expected = os_release_text_cases[i].expected;

		if (g_strcmp0(value, expected) != 0)
			fail_msg("case %u: %s is '%s', expected '%s'",
				 i,
				 os_release_text_cases[i].key,
				 value != NULL ? value : "(unset)",
				 expected != NULL ? expected : "(unset)");
	}
}

/* the parser only ever reads @len bytes: a text with a NUL inside or no NUL at its end */
static void
test_os_release_parse_bounded(void **state)
{
	static const gchar text[] = {'I', 'D', '=', 'a', '\0', 'b', '\n', 'X', '=', 'y'};
	g_autoptr(GHashTable) pairs = qa_identity_os_release_parse(text, sizeof(text));
	g_autoptr(GHashTable) none = qa_identity_os_release_parse(NULL, 0);

	assert_string_equal(g_hash_table_lookup(pairs, "X"), "y");
	assert_int_equal(g_hash_table_size(none), 0);
}

static void
test_os_release_load_order(void **state)
{
	g_autofree gchar *alpine = fixture_path("os-release/alpine");
	g_autofree gchar *debian = fixture_path("os-release/debian12");
	g_autofree gchar *dir = fixture_path("os-release");
	const gchar *const fallback[] = {"/nonexistent/os-release", alpine, NULL};
	const gchar *const first[] = {debian, alpine, NULL};
	const gchar *const missing[] = {"/nonexistent/os-release", "/nonexistent/x/y", NULL};
	const gchar *const unreadable[] = {dir, NULL};
	const gchar *const unreadable_then_file[] = {dir, alpine, NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(GHashTable) a = qa_identity_os_release_load(fallback, NULL);
	g_autoptr(GHashTable) b = qa_identity_os_release_load(first, NULL);
	g_autoptr(GHashTable) c = qa_identity_os_release_load(missing, NULL);
	g_autoptr(GHashTable) d = qa_identity_os_release_load(unreadable, &error);
	g_autoptr(GHashTable) e = qa_identity_os_release_load(unreadable_then_file, NULL);

	assert_string_equal(g_hash_table_lookup(a, "ID"), "alpine");
	assert_string_equal(g_hash_table_lookup(b, "ID"), "debian");
	assert_int_equal(g_hash_table_size(c), 0);
	/* a directory where the file should be: an error naming it */
	assert_null(d);
	assert_true(g_error_matches(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_FAILED));
	assert_non_null(strstr(error->message, dir));
	assert_string_equal(g_hash_table_lookup(e, "ID"), "alpine");
}

static void
test_os_info_new(void **state)
{
	struct utsname uts = {0};
	g_autoptr(GHashTable) fedora = os_release_fixture("os-release/fedora-server");
	g_autoptr(GHashTable) empty = qa_identity_os_release_parse("ID=\n", 4);
	g_autoptr(QaIdentityOsInfo) info = NULL;
	g_autoptr(QaIdentityOsInfo) bare = NULL;
	g_autoptr(QaIdentityOsInfo) none = NULL;

	strcpy(uts.release, "6.1.0-18-amd64");
	strcpy(uts.version, "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)");
	strcpy(uts.machine, "x86_64");
	info = qa_identity_os_info_new(fedora, &uts);
	assert_string_equal(info->kernel_release, "6.1.0-18-amd64");
	assert_string_equal(info->kernel_version,
			    "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)");
	assert_string_equal(info->machine, "x86_64");
	assert_string_equal(info->id, "fedora");
	assert_string_equal(info->name, "Fedora Linux");
	assert_string_equal(info->pretty_name, "Fedora Linux 39 (Server Edition)");
	assert_string_equal(info->version, "39 (Server Edition)");
	assert_string_equal(info->version_id, "39");
	assert_string_equal(info->variant, "Server Edition");
	assert_string_equal(info->variant_id, "server");
	/* no os-release at all, or an empty ID: os-release(5)'s default id, and nothing else */
	none = qa_identity_os_info_new(NULL, &uts);
	assert_string_equal(none->id, "linux");
	assert_string_equal(none->kernel_release, "6.1.0-18-amd64");
	assert_null(none->name);
	assert_null(none->pretty_name);
	assert_null(none->variant);
	bare = qa_identity_os_info_new(empty, &uts);
	assert_string_equal(bare->id, "linux");
}

static void
test_uname_and_host_name(void **state)
{
	struct utsname uts;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *name = qa_identity_host_name_load(&error);

	assert_true(qa_identity_uname_load(&uts, NULL));
	assert_non_null(name);
	/* the kernel's one host name, seen two ways */
	assert_string_equal(name, uts.nodename);
}

static gdouble
login_time_of(GPtrArray *users, const gchar *name)
{
	for (guint i = 0; i < users->len; i++) {
		QaIdentityUser *user = g_ptr_array_index(users, i);
		if (strcmp(user->name, name) == 0)
			return user->login_time;
	}
	fail_msg("no user '%s'", name);
	return -1;
}

static void
test_users_fixture(void **state)
{
	g_autofree gchar *path = fixture_path("utmp");
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) users = qa_identity_users_load_file(path, &error);
	static const gchar *const order[] = {
	    "alice", "bob", "abcdefghijklmnopqrstuvwxyz012345", "root"};

	assert_no_error_or_fail(error);
	assert_non_null(users);
	/* USER_PROCESS only: no reboot, runlevel, LOGIN (getty) or carol (logged out) */
	assert_int_equal(users->len, G_N_ELEMENTS(order));
	for (guint i = 0; i < G_N_ELEMENTS(order); i++)
		assert_string_equal(((QaIdentityUser *)g_ptr_array_index(users, i))->name,
				    order[i]);
	/* alice's second record is her earlier login; the double is what qemu-ga computes */
	assert_true(login_time_of(users, "alice") == 1767299000.0 + 125000 / 1000000.0);
	assert_true(login_time_of(users, "bob") == 1767300100.5);
	assert_true(login_time_of(users, "abcdefghijklmnopqrstuvwxyz012345") ==
		    1767301000.0 + 1 / 1000000.0);
	assert_true(login_time_of(users, "root") == 1767302000.0 + 999999 / 1000000.0);
}

static void
test_users_records(void **state)
{
	struct utmpx records[4];
	g_autoptr(GPtrArray) users = NULL;
	g_autoptr(GPtrArray) partial = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) missing = qa_identity_users_load_file("/nonexistent/utmp", &error);
	g_autoptr(GPtrArray) dir = NULL;

	memset(records, 0, sizeof(records));
	for (guint i = 0; i < G_N_ELEMENTS(records); i++) {
		records[i].ut_type = USER_PROCESS;
		records[i].ut_tv.tv_sec = 1000 + (gint)i;
	}
	/* a name filling ut_user whole: no NUL, and ut_host must not leak into it */
	memset(records[0].ut_user, 'x', sizeof(records[0].ut_user));
	strcpy(records[0].ut_host, "leak");
	strcpy(records[1].ut_user, "later");
	strcpy(records[2].ut_user, "later");
	records[2].ut_tv.tv_sec = 5;
	records[3].ut_type = DEAD_PROCESS;
	strcpy(records[3].ut_user, "gone");
	users = qa_identity_users_parse((const guint8 *)records, sizeof(records));
	assert_int_equal(users->len, 2);
	assert_int_equal(strlen(((QaIdentityUser *)g_ptr_array_index(users, 0))->name),
			 sizeof(records[0].ut_user));
	assert_true(login_time_of(users, "later") == 5.0);
	/* a trailing partial record (a file caught mid-append) is left out, unaligned data read */
	partial = qa_identity_users_parse((const guint8 *)records + 0, sizeof(records[0]) + 7);
	assert_int_equal(partial->len, 1);
	/* no utmp file: nobody logged in */
	assert_no_error_or_fail(error);
	assert_int_equal(missing->len, 0);
	dir = qa_identity_users_load_file("/", &error);
	assert_null(dir);
	assert_true(g_error_matches(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_FAILED));
}

static void
test_users_unaligned(void **state)
{
	struct utmpx record = {.ut_type = USER_PROCESS};
	g_autofree guint8 *buf = g_malloc0(sizeof(record) + 1);
	g_autoptr(GPtrArray) users = NULL;

	strcpy(record.ut_user, "odd");
	record.ut_tv.tv_sec = 7;
	record.ut_tv.tv_usec = 500000;
	memcpy(buf + 1, &record, sizeof(record));
	users = qa_identity_users_parse(buf + 1, sizeof(record));
	assert_int_equal(users->len, 1);
	assert_true(login_time_of(users, "odd") == 7.5);
}

/* the same values sysinfo(2) gives in 1/65536ths: not /proc/loadavg's two decimals */
static void
test_loadavg(void **state)
{
	for (guint attempt = 0; attempt < 10; attempt++) {
		struct sysinfo before, after;
		QaIdentityLoad load;
		g_autoptr(GError) error = NULL;

		assert_int_equal(sysinfo(&before), 0);
		assert_true(qa_identity_loadavg_load(&load, &error));
		assert_int_equal(sysinfo(&after), 0);
		/* the kernel updates the averages every 5 s: retry when that fell in between */
		if (memcmp(before.loads, after.loads, sizeof(before.loads)) != 0)
			continue;
		assert_true(load.load1m == (gdouble)before.loads[0] / 65536.0);
		assert_true(load.load5m == (gdouble)before.loads[1] / 65536.0);
		assert_true(load.load15m == (gdouble)before.loads[2] / 65536.0);
		return;
	}
	fail_msg("the load averages changed during every one of 10 attempts");
}

/* a POSIX TZ rule, so that the test needs no zone files: CET in winter, CEST in summer */
static void
test_timezone(void **state)
{
	gint64 offset = -1;
	g_autofree gchar *winter = NULL;
	g_autofree gchar *summer = NULL;
	g_autofree gchar *utc = NULL;
	g_autofree gchar *saved = g_strdup(g_getenv("TZ"));

	g_setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", TRUE);
	qa_identity_timezone_load(1767225600 /* 2026-01-01 */, &offset, &winter);
	assert_int_equal(offset, 3600);
	assert_string_equal(winter, "CET");
	qa_identity_timezone_load(1782864000 /* 2026-07-01 */, &offset, &summer);
	assert_int_equal(offset, 7200);
	assert_string_equal(summer, "CEST");
	/* TZ changed under a running process: seen at the next call */
	g_setenv("TZ", "UTC0", TRUE);
	qa_identity_timezone_load(1782864000, &offset, &utc);
	assert_int_equal(offset, 0);
	assert_string_equal(utc, "UTC");
	if (saved != NULL)
		g_setenv("TZ", saved, TRUE);
	else
		g_unsetenv("TZ");
	tzset();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_os_release_fixtures),
	    cmocka_unit_test(test_os_release_parse_edges),
	    cmocka_unit_test(test_os_release_parse_bounded),
	    cmocka_unit_test(test_os_release_load_order),
	    cmocka_unit_test(test_os_info_new),
	    cmocka_unit_test(test_uname_and_host_name),
	    cmocka_unit_test(test_users_fixture),
	    cmocka_unit_test(test_users_records),
	    cmocka_unit_test(test_users_unaligned),
	    cmocka_unit_test(test_loadavg),
	    cmocka_unit_test(test_timezone),
	};
	return cmocka_run_group_tests_name("identity", tests, NULL, NULL);
}
