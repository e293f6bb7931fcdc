/* The configuration: keys from the file, options from the command line, and --dump-conf. */
#include <glib.h>
#include <glib/gstdio.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

/* parses "quiesce-agent -c FILE [ARG]" with FILE holding @text; NULL on error (in @error) */
static QaConfig *
parse(const gchar *text, const gchar *arg, gchar **out_print, GError **error)
{
	g_autofree gchar *dir = g_dir_make_tmp("qa-config-XXXXXX", NULL);
	g_autofree gchar *path = g_build_filename(dir, "agent.conf", NULL);
	g_autoptr(QaConfig) config = qa_config_new_default();
	g_autofree gchar *print = NULL;
	gchar *argv[] = {"quiesce-agent", "-c", path, (gchar *)arg, NULL};
	gchar **cursor = argv;
	gint argc = arg != NULL ? 4 : 3;
	QaConfigAction action = QA_CONFIG_ACTION_RUN;
	gboolean ok;

	assert_true(g_file_set_contents(path, text, -1, NULL));
	/* GOption only moves the entries of the array it parses, it frees none */
	ok = qa_config_parse_args(config, &argc, &cursor, &print, &action, error);
	g_unlink(path);
	g_rmdir(dir);
	if (!ok)
		return NULL;
	if (out_print != NULL)
		*out_print = g_steal_pointer(&print);
	return g_steal_pointer(&config);
}

/* fsfreeze-expedite-rcu: true unless the file or the command line says otherwise; the command
 * line wins; --dump-conf shows it; anything but a boolean is refused with the key's name */
static void
test_fsfreeze_expedite_rcu(void **state)
{
	static const struct {
		const gchar *text;
		const gchar *arg;
		gboolean is_expected;
	} cases[] = {
	    {"[general]\n", NULL, TRUE},
	    {"[general]\nfsfreeze-expedite-rcu=false\n", NULL, FALSE},
	    {"[general]\n", "--fsfreeze-expedite-rcu=false", FALSE},
	    {"[general]\nfsfreeze-expedite-rcu=0\n", "--fsfreeze-expedite-rcu=yes", TRUE},
	};
	g_autoptr(QaConfig) config = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *print = NULL;

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		config = parse(cases[i].text, cases[i].arg, NULL, &error);
		g_assert_no_error(error);
		assert_int_equal(config->fsfreeze_expedite_rcu, cases[i].is_expected);
		g_clear_pointer(&config, qa_config_free);
	}

	config = parse("[general]\nfsfreeze-expedite-rcu=no\n", "--dump-conf", &print, &error);
	g_assert_no_error(error);
	assert_non_null(print);
	assert_non_null(strstr(print, "\nfsfreeze-expedite-rcu=false\n"));
	g_clear_pointer(&config, qa_config_free);

	config = parse("[general]\nfsfreeze-expedite-rcu=sometimes\n", NULL, NULL, &error);
	assert_null(config);
	g_assert_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE);
	assert_non_null(strstr(error->message, "'fsfreeze-expedite-rcu' must be true or false"));
}

/* every key of the table survives the file -> --dump-conf -> file round trip, and the command
 * line knows every key by its long name */
static void
test_every_key_round_trips(void **state)
{
	g_autoptr(GString) text = g_string_new("[general]\n");
	g_autoptr(GError) error = NULL;
	g_autoptr(QaConfig) config = NULL;
	g_autoptr(QaConfig) again = NULL;
	g_autofree gchar *first = NULL;
	g_autofree gchar *second = NULL;

	for (const QaConfigKey *key = qa_config_keys; key->name != NULL; key++) {
		const gchar *value = "/some/where";

		switch (QA_CONFIG_TYPE(key->type)) {
		case QA_CONFIG_FLAG:
		case QA_CONFIG_BOOL:
			value = "true";
			break;
		case QA_CONFIG_SECONDS:
			value = "42";
			break;
		case QA_CONFIG_LIST:
			value = "guest-ping,guest-sync";
			break;
		default:
			if (g_strcmp0(key->name, "method") == 0)
				value = "unix-listen";
			break;
		}
		g_string_append_printf(text, "%s=%s\n", key->name, value);
	}
	config = parse(text->str, "--dump-conf", &first, &error);
	g_assert_no_error(error);
	assert_int_equal(config->fsfreeze_timeout, 42);
	assert_true(config->daemonize);
	assert_string_equal(config->mountinfo, "/some/where");
	again = parse(first, "--dump-conf", &second, &error);
	g_assert_no_error(error);
	assert_string_equal(first, second);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fsfreeze_expedite_rcu),
	    cmocka_unit_test(test_every_key_round_trips),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
