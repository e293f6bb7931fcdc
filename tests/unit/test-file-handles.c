/* Unit tests of system/file-handles.c (placeholder until the family lands). */
#include <glib.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "file-handles.h"

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
	return cmocka_run_group_tests_name("file-handles", tests, NULL, NULL);
}
