/* Unit tests of system/netif.c (placeholder until the family lands). */
#include <glib.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "netif.h"

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
	return cmocka_run_group_tests_name("netif", tests, NULL, NULL);
}
