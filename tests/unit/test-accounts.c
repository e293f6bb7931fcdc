/* Unit tests of system/accounts.c: what the host sends (user names, passwords, OpenSSH keys),
 * the authorized_keys text logic, and what chpasswd's end means. Keys are the real ones of
 * tests/fixtures/accounts/valid-keys.pub (see its README). */
#include <glib.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "accounts.h"
#include "qa-error.h"

static gchar *
fixture_path(const gchar *name)
{
	const gchar *root = g_getenv("QA_FIXTURES");

	return g_build_filename(root != NULL ? root : "tests/fixtures", "accounts", name, NULL);
}

/* ---- user names ----------------------------------------------------------------------------- */

static const struct {
	const gchar *name;
	gboolean is_valid;
	const gchar *why; /* in the message when refused */
} username_cases[] = {
    {"root", TRUE, NULL},
    {"qa-test-1234", TRUE, NULL},
    {"user.name_with-dots", TRUE, NULL},
    {"DOMAIN user", TRUE, NULL},
    {"", FALSE, "it is empty"},
    {"-e", FALSE, "starts with '-'"},
    {"a:b", FALSE, "contains ':'"},
    {"root:x:0:0", FALSE, "contains ':'"},
    {"a\nb", FALSE, "control character"},
    {"a\rb", FALSE, "control character"},
    {"a\tb", FALSE, "control character"},
    {"a\x7f", FALSE, "control character"},
    {"\x1b[31mred", FALSE, "control character"},
};

static void
test_username(void **state)
{
	for (gsize i = 0; i < G_N_ELEMENTS(username_cases); i++) {
		g_autoptr(GError) error = NULL;
		gboolean ok = qa_accounts_check_username(username_cases[i].name, &error);

		assert_int_equal(ok, username_cases[i].is_valid);
		if (ok)
			continue;
		assert_true(g_error_matches(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_INVALID));
		assert_non_null(strstr(error->message, username_cases[i].why));
		/* a refused name is shown escaped: no raw control character reaches a log */
		for (const gchar *p = error->message; *p != '\0'; p++)
			assert_false((guchar)*p < 0x20 || *p == 0x7f);
	}
}

static void
test_username_long(void **state)
{
	g_autofree gchar *name = g_strnfill(257, 'a');
	g_autofree gchar *just = g_strnfill(256, 'a');
	g_autoptr(GError) error = NULL;

	assert_true(qa_accounts_check_username(just, NULL));
	assert_false(qa_accounts_check_username(name, &error));
	assert_non_null(strstr(error->message, "longer than 256"));
}

/* ---- passwords ------------------------------------------------------------------------------ */

static QaAccountsSecret *
secret_of(const gchar *bytes, gsize len)
{
	QaAccountsSecret *secret = qa_accounts_secret_new(len);

	memcpy(secret->data, bytes, len);
	return secret;
}

static const struct {
	const gchar *bytes;
	gsize len;
	gboolean is_crypted;
	gboolean is_valid;
} password_cases[] = {
    {"secret", 6, FALSE, TRUE},
    {"with:colon and space", 20, FALSE, TRUE},
    {"cr\rin it", 8, FALSE, TRUE},
    {"", 0, FALSE, FALSE},
    {"two\nlines", 9, FALSE, FALSE},
    {"trailing\n", 9, FALSE, FALSE},
    {"nul\0byte", 8, FALSE, FALSE},
    {"$6$saltsalt$pauPrmdmG4BTE9h2HPmywiw152IFch6BJCEsaY6D.PLTfpV8sqvXwWdyfsgVgozkYH9B80bAip/"
     "08R2BPH2xk/",
     98,
     TRUE,
     TRUE},
    {"$6$saltsalt$x:0:0:99999", 23, TRUE, FALSE},
};

static void
test_password(void **state)
{
	for (gsize i = 0; i < G_N_ELEMENTS(password_cases); i++) {
		g_autoptr(QaAccountsSecret) secret =
		    secret_of(password_cases[i].bytes, password_cases[i].len);
		g_autoptr(GError) error = NULL;
		gboolean ok =
		    qa_accounts_check_password(secret, password_cases[i].is_crypted, &error);

		assert_int_equal(ok, password_cases[i].is_valid);
		if (!ok) {
			assert_true(
			    g_error_matches(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_INVALID));
			/* the message never repeats the password */
			if (password_cases[i].len > 3)
				assert_null(strstr(error->message, password_cases[i].bytes));
		}
	}
}

static void
test_password_long(void **state)
{
	g_autoptr(QaAccountsSecret) ok = qa_accounts_secret_new(4096);
	g_autoptr(QaAccountsSecret) over = qa_accounts_secret_new(4097);
	g_autoptr(GError) error = NULL;

	memset(ok->data, 'x', ok->len);
	memset(over->data, 'x', over->len);
	assert_true(qa_accounts_check_password(ok, FALSE, NULL));
	assert_false(qa_accounts_check_password(over, FALSE, &error));
	assert_non_null(strstr(error->message, "longer than 4096"));
}

static const struct {
	const gchar *hash;
	gboolean is_valid;
} crypted_cases[] = {
    {"$y$j9T$F5Jx5fExrKuPp53xLKQ..1$U4SOHmDd8SvW5vCUKSMR6N835VPwFAtgYNhQ9mFFeL5", TRUE},
    {"$6$saltsalt$pauPrmdmG4BTE9h2HPmywiw152IFch6BJCEsaY6D.PLTfpV8sqvXwWdyfsgVgozkYH9B80bAip/"
     "08R2BPH2xk/",
     TRUE},
    {"$5$rounds=1000$salt$gdEupGonUIiJCMc1vfHpiFjFhRA3Jf3USQ7IYKjZitD", TRUE},
    {"$1$salt$IXp9zPHZ94CMcVBXaZFPN/", TRUE},
    {"$2b$05$abcdefghijklmnopqrstuuHIrMEWpUCQe2YqFR3sXwQ75u4od..9q", TRUE},
    {"abzlUXK5ed5rs", TRUE},
    {"_J9..abcdTZ/33djMPto", TRUE},
    {"!$6$saltsalt$pauPrmdmG4BTE9h2HPmywiw152IFch6BJCEsaY6D.PLTfp", TRUE},
    {"!", TRUE},
    {"!!", TRUE},
    {"*", TRUE},
    {"", FALSE},
    {"plain password", FALSE},
    {"secret", FALSE},
    {"$6$salt$hash:0:0", FALSE},
    {"$6$salt$", FALSE},
    {"$6$", FALSE},
    {"$$salt$hash", FALSE},
    {"$6$salt hash$x", FALSE},
    {"abzlUXK5ed5r:", FALSE},
    {"**", FALSE},
};

static void
test_crypted(void **state)
{
	for (gsize i = 0; i < G_N_ELEMENTS(crypted_cases); i++) {
		g_autoptr(GError) error = NULL;
		gboolean ok = qa_accounts_check_crypted(crypted_cases[i].hash, &error);

		if (ok != crypted_cases[i].is_valid)
			fail_msg("crypted '%s': expected %d", crypted_cases[i].hash, !ok);
		if (!ok && strlen(crypted_cases[i].hash) > 4)
			assert_null(strstr(error->message, crypted_cases[i].hash));
	}
}

static void
test_secret_decode(void **state)
{
	g_autoptr(QaAccountsSecret) wrapped = qa_accounts_secret_decode("c2Vj\ncmV0\r\n", NULL);
	g_autoptr(QaAccountsSecret) empty = qa_accounts_secret_decode("", NULL);
	g_autoptr(GError) error = NULL;

	assert_non_null(wrapped);
	assert_int_equal(wrapped->len, 6);
	assert_memory_equal(wrapped->data, "secret", 6);
	assert_non_null(empty);
	assert_int_equal(empty->len, 0);
	assert_null(qa_accounts_secret_decode("c2Vj cmV0", &error));
	assert_true(g_error_matches(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_INVALID));
}

/* ---- OpenSSH keys --------------------------------------------------------------------------- */

static gchar **
load_valid_keys(void)
{
	g_autofree gchar *path = fixture_path("valid-keys.pub");
	g_autofree gchar *text = NULL;
	gchar **lines;
	guint n;

	assert_true(g_file_get_contents(path, &text, NULL, NULL));
	lines = g_strsplit(text, "\n", -1);
	n = g_strv_length(lines);
	assert_true(n > 10);
	assert_string_equal(lines[n - 1], "");
	g_clear_pointer(&lines[n - 1], g_free);
	return lines;
}

static void
test_key_valid(void **state)
{
	g_auto(GStrv) keys = load_valid_keys();

	for (guint i = 0; keys[i] != NULL; i++) {
		g_autoptr(GError) error = NULL;
		if (!qa_accounts_check_key(keys[i], &error))
			fail_msg("valid key %u refused: %s", i, error->message);
		assert_true(qa_accounts_check_key_to_remove(keys[i], NULL));
	}
}

#define ED25519_BLOB "AAAAC3NzaC1lZDI1NTE5AAAAILuFuqfhtTVbcgztRRTv52Caz0qEyh51jwrPQ5W89ek8"
#define ED25519 "ssh-ed25519 " ED25519_BLOB " me@example"

static const struct {
	const gchar *key;
	const gchar *why;
} invalid_key_cases[] = {
    {"", "it is blank"},
    {" \t ", "it is blank"},
    {"# ssh-ed25519 " ED25519_BLOB, "it is a comment"},
    {"not a valid\nkey", "control character"},
    {ED25519 "\n" ED25519, "control character"},
    {ED25519 "\r", "control character"},
    {"ssh-ed25519 " ED25519_BLOB " bell\a", "control character"},
    {"ssh-ed25519", "no base64 key"},
    {"ssh-ed25519 ", "no base64 key"},
    {"algo key1 comments", "not a key of the type"},
    {"ssh-rsa " ED25519_BLOB " me", "not a key of the type"},
    {"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 me", "not a key of the type"},
    {"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILuF!!! me", "not base64"},
    {"ssh-ed25519 QUFBQQ== me", "not a key of the type"},
    {"restrict,command=\"oops ssh-ed25519 " ED25519_BLOB, "quoted option value is not closed"},
    {"restrict", "no valid key type"},
    {"no-pty ssh-rsa " ED25519_BLOB, "not a key of the type"},
    {"ssh,ed25519 " ED25519_BLOB, "no valid key type"},
};

static void
test_key_invalid(void **state)
{
	for (gsize i = 0; i < G_N_ELEMENTS(invalid_key_cases); i++) {
		g_autoptr(GError) error = NULL;

		if (qa_accounts_check_key(invalid_key_cases[i].key, &error))
			fail_msg("invalid key %zu accepted", i);
		assert_true(g_error_matches(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_INVALID));
		if (strstr(error->message, invalid_key_cases[i].why) == NULL)
			fail_msg("key %zu: '%s' lacks '%s'",
				 i,
				 error->message,
				 invalid_key_cases[i].why);
		assert_non_null(strstr(error->message, "Invalid OpenSSH public key '"));
	}
}

static void
test_key_message_names_key(void **state)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *huge = g_strnfill(65 * 1024, 'A');
	g_autofree gchar *long_key = g_strconcat("ssh-rsa ", huge, NULL);

	assert_false(qa_accounts_check_key("ssh-rsa " ED25519_BLOB " me", &error));
	/* the first 40 characters, then "..." */
	assert_non_null(strstr(error->message, "'ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAILuFuqfh...'"));
	g_clear_error(&error);
	assert_false(qa_accounts_check_key(long_key, &error));
	assert_non_null(strstr(error->message, "longer than 64 KiB"));
	assert_true(strlen(error->message) < 300);
	g_clear_error(&error);
	/* control characters are shown escaped */
	assert_false(qa_accounts_check_key("a\nb", &error));
	assert_non_null(strstr(error->message, "'a\\nb'"));
}

static void
test_key_to_remove(void **state)
{
	/* a malformed line already in a file can still be removed */
	assert_true(qa_accounts_check_key_to_remove("algo key1 comments", NULL));
	assert_false(qa_accounts_check_key_to_remove("", NULL));
	assert_false(qa_accounts_check_key_to_remove("# comment", NULL));
	assert_false(qa_accounts_check_key_to_remove("a\nb", NULL));
}

/* ---- authorized_keys text ------------------------------------------------------------------- */

static void
assert_keys(GPtrArray *keys, const gchar *const *expected)
{
	assert_int_equal(keys->len, g_strv_length((gchar **)expected));
	for (guint i = 0; i < keys->len; i++)
		assert_string_equal(g_ptr_array_index(keys, i), expected[i]);
}

static void
test_keys_parse(void **state)
{
	g_autofree gchar *path = fixture_path("authorized_keys");
	g_autofree gchar *text = NULL;
	g_autoptr(GPtrArray) keys = NULL;
	g_autoptr(GPtrArray) none = qa_accounts_keys_parse("");
	g_autoptr(GPtrArray) no_newline = qa_accounts_keys_parse("a b");
	const gchar *const expected[] = {
	    "ssh-ed25519 " ED25519_BLOB " first@example",
	    "restrict,command=\"echo # not a comment\" ssh-ed25519 " ED25519_BLOB " second",
	    "ssh-ed25519 " ED25519_BLOB " crlf",
	    "ssh-ed25519 " ED25519_BLOB " indented",
	    "ssh-ed25519 " ED25519_BLOB " last-without-newline",
	    NULL};

	assert_true(g_file_get_contents(path, &text, NULL, NULL));
	keys = qa_accounts_keys_parse(text);
	assert_keys(keys, expected);
	assert_int_equal(none->len, 0);
	assert_int_equal(no_newline->len, 1);
}

static const struct {
	const gchar *text; /* NULL: no file */
	const gchar *keys[4];
	const gchar *expected;
} add_cases[] = {
    {NULL, {"k1", "k2"}, "k1\nk2\n"},
    {NULL, {NULL}, ""},
    {"", {"k1"}, "k1\n"},
    {"k1\n", {"k2"}, "k1\nk2\n"},
    /* a file without a final line end gets one */
    {"k1", {"k2"}, "k1\nk2\n"},
    /* duplicates are skipped, in the file and among the keys */
    {"k1\nk2\n", {"k2", "k3", "k3"}, "k1\nk2\nk3\n"},
    /* compared without surrounding blanks; stored without them */
    {"  k1 \r\n", {"k1", " k2\t"}, "  k1 \r\nk2\n"},
    /* comments and blank lines stay */
    {"# c\n\nk1\n", {"k1", "k9"}, "# c\n\nk1\nk9\n"},
};

static void
test_keys_add(void **state)
{
	for (gsize i = 0; i < G_N_ELEMENTS(add_cases); i++) {
		guint n = g_strv_length((gchar **)add_cases[i].keys);
		g_autofree gchar *text = qa_accounts_keys_add(
		    add_cases[i].text, (const gchar *const *)add_cases[i].keys, n);
		assert_string_equal(text, add_cases[i].expected);
	}
}

static const struct {
	const gchar *text;
	const gchar *keys[4];
	const gchar *expected;
	guint n_removed;
} remove_cases[] = {
    {"k1\nk2\n", {"k1"}, "k2\n", 1},
    /* duplicated lines all go, comments stay */
    {"k1\nk1\n# a commented line\nsome-key another\n",
     {"k1", "k2"},
     "# a commented line\nsome-key another\n",
     2},
    /* absent keys: nothing changes */
    {"k1\n", {"k9"}, "k1\n", 0},
    {"", {"k1"}, "", 0},
    {"k1", {"k1"}, "", 1},
    /* compared without surrounding blanks */
    {" k1\r\nk2\n", {"k1 "}, "k2\n", 1},
    /* a comment holding a key is not the key */
    {"#k1\nk1\n", {"k1"}, "#k1\n", 1},
};

static void
test_keys_remove(void **state)
{
	for (gsize i = 0; i < G_N_ELEMENTS(remove_cases); i++) {
		guint n = g_strv_length((gchar **)remove_cases[i].keys);
		guint n_removed = 99;
		g_autofree gchar *text =
		    qa_accounts_keys_remove(remove_cases[i].text,
					    (const gchar *const *)remove_cases[i].keys,
					    n,
					    &n_removed);
		assert_string_equal(text, remove_cases[i].expected);
		assert_int_equal(n_removed, remove_cases[i].n_removed);
	}
}

/* ---- chpasswd ------------------------------------------------------------------------------ */

static void
test_chpasswd_line(void **state)
{
	g_autoptr(QaAccountsSecret) pw = secret_of("pa:ss word", 10);
	g_autoptr(QaAccountsSecret) line = qa_accounts_chpasswd_line("qa-user", pw);

	assert_int_equal(line->len, 19);
	assert_memory_equal(line->data, "qa-user:pa:ss word\n", 19);
}

static void
test_chpasswd_check(void **state)
{
	g_autoptr(QaAccountsSecret) pw = secret_of("hunter22", 8);
	const gchar *const argv[] = {"/usr/sbin/chpasswd", NULL};
	const QaChildSpec spec = {.argv = argv, .timeout_ms = 30000};
	QaChildResult result = {.has_exited = TRUE, .wait_status = 0, .output = (gchar *)""};
	g_autoptr(GError) error = NULL;

	assert_true(qa_accounts_chpasswd_check("u", &spec, &result, pw, NULL));
	result.wait_status = 1 << 8;
	result.output = (gchar *)"chpasswd: line 1: user 'u' does not exist\n";
	assert_false(qa_accounts_chpasswd_check("u", &spec, &result, pw, &error));
	assert_string_equal(error->message,
			    "chpasswd failed with exit status 1 setting the password of user "
			    "'u': chpasswd: line 1: user 'u' does not exist");
	g_clear_error(&error);
	result.wait_status = SIGKILL;
	result.output = (gchar *)"";
	assert_false(qa_accounts_chpasswd_check("u", &spec, &result, pw, &error));
	assert_non_null(strstr(error->message, "killed by signal 9"));
	assert_non_null(strstr(error->message, "(no output)"));
	g_clear_error(&error);
	result.has_exited = FALSE;
	assert_false(qa_accounts_chpasswd_check("u", &spec, &result, pw, &error));
	assert_non_null(strstr(error->message, "did not finish within 30000 ms"));
	assert_non_null(strstr(error->message, "stays done"));
}

/* the line through the shared runner to a stand-in that prints what it read: the output that
 * repeats the password is withheld from the message */
static void
test_chpasswd_output_withheld(void **state)
{
	g_autoptr(QaAccountsSecret) pw = secret_of("hunter22", 8);
	g_autoptr(QaAccountsSecret) line = qa_accounts_chpasswd_line("u", pw);
	const gchar *const argv[] = {"/bin/sh", "-c", "echo bad password:; cat; exit 1", NULL};
	const QaChildSpec spec = {.argv = argv,
				  .input = line->data,
				  .input_len = line->len,
				  .is_stdout_captured = TRUE,
				  .timeout_ms = 10000};
	QaChildResult result = {0};
	g_autoptr(GError) error = NULL;

	assert_true(qa_child_run(&spec, &result, NULL));
	assert_string_equal(result.output, "bad password:\nu:hunter22\n");
	assert_false(qa_accounts_chpasswd_check("u", &spec, &result, pw, &error));
	assert_null(strstr(error->message, "hunter22"));
	assert_non_null(strstr(error->message, "withheld"));
	qa_child_result_clear(&result);
}

/* ---- users ---------------------------------------------------------------------------------- */

static void
test_user_load(void **state)
{
	g_autoptr(QaAccountsUser) root = qa_accounts_user_load("root", NULL);
	g_autoptr(GError) error = NULL;

	assert_non_null(root);
	assert_int_equal(root->uid, 0);
	assert_true(root->n_groups >= 1);
	assert_null(qa_accounts_user_load("qa-no-such-user-4711", &error));
	assert_true(g_error_matches(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_NOT_FOUND));
	assert_string_equal(error->message, "The user 'qa-no-such-user-4711' does not exist");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_username),
	    cmocka_unit_test(test_username_long),
	    cmocka_unit_test(test_password),
	    cmocka_unit_test(test_password_long),
	    cmocka_unit_test(test_crypted),
	    cmocka_unit_test(test_secret_decode),
	    cmocka_unit_test(test_key_valid),
	    cmocka_unit_test(test_key_invalid),
	    cmocka_unit_test(test_key_message_names_key),
	    cmocka_unit_test(test_key_to_remove),
	    cmocka_unit_test(test_keys_parse),
	    cmocka_unit_test(test_keys_add),
	    cmocka_unit_test(test_keys_remove),
	    cmocka_unit_test(test_chpasswd_line),
	    cmocka_unit_test(test_chpasswd_check),
	    cmocka_unit_test(test_chpasswd_output_withheld),
	    cmocka_unit_test(test_user_load),
	};

	/* as main() does in the agent: a child that stops reading must not kill the writer */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("accounts", tests, NULL, NULL);
}
