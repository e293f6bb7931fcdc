/* Roots aimed at a tree in tests/fixtures (QA_FIXTURES, set by meson). Device nodes are
 * reported under /dev, and nothing under dev is read by the storage model's tests. */
#pragma once

#include <glib.h>

#include "roots.h"

static inline QaRoots *
qa_test_fixture_roots(const gchar *fixture)
{
	const gchar *fixtures = g_getenv("QA_FIXTURES");
	g_autofree gchar *base = g_build_filename(fixtures != NULL ? fixtures : ".", fixture, NULL);
	g_autofree gchar *proc = g_build_filename(base, "proc", NULL);
	g_autofree gchar *sys = g_build_filename(base, "sys", NULL);

	return qa_roots_new(proc, sys, "/dev", FALSE);
}
