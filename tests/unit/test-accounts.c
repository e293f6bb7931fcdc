/* Unit tests of system/accounts.c (placeholder until the family lands). */
#include <glib.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "accounts.h"

static void
test_placeholder(void **state)
{
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_placeholder),
	};
	return cmocka_run_group_tests_name("accounts", tests, NULL, NULL);
}
