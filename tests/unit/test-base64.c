/* base/base64.c: what hosts send (wrapped lines included) decodes; anything else is refused. */
#include <glib.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "base64.h"

static void
test_decode_accepts(void **state)
{
	static const struct {
		const gchar *text;
		const gchar *expected;
	} cases[] = {
	    {"", ""},
	    {"cGFzc3dvcmQ=", "password"},
	    {"cGFzc3dvcmQ=\n", "password"},	  /* Perl's encode_base64() ends with a newline */
	    {"cGFz\nc3dv\r\ncmQ=\n", "password"}, /* and wraps at 76 characters */
	    {"YQ==", "a"},
	    {"YWI=", "ab"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		gsize len = 0;
		g_autofree guint8 *bytes = qa_base64_decode(cases[i].text, &len, &error);

		assert_non_null(bytes);
		assert_int_equal(len, strlen(cases[i].expected));
		assert_memory_equal(bytes, cases[i].expected, len);
	}
}

static void
test_decode_refuses(void **state)
{
	static const gchar *const cases[] = {
	    "cGFz c3dvcmQ=",	/* a space is not a line end */
	    "cGFzc3dvcmQ=YQ==", /* data after padding */
	    "YQ===",		/* three padding characters */
	    "Y",		/* a lone character is no byte */
	    "cGFz\tc3dvcmQ=",
	    "\xc3\xa9t\xc3\xa9",
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		gsize len = 0;

		assert_null(qa_base64_decode(cases[i], &len, &error));
		assert_non_null(error);
		assert_non_null(strstr(error->message, "Invalid base64 data"));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decode_accepts),
	    cmocka_unit_test(test_decode_refuses),
	};
	return cmocka_run_group_tests_name("base64", tests, NULL, NULL);
}
