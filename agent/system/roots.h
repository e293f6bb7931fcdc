/* Where the system model reads the system from. Production uses the real roots; unit tests point
 * them at fixture trees captured from real guests, and host integration tests confine the agent
 * to mounts below a directory they own, so that "all filesystems" can never mean the host's. */
#pragma once

#include <glib.h>

typedef struct {
	gchar *proc;	  /* "/proc" */
	gchar *sys;	  /* "/sys" */
	gchar *dev;	  /* "/dev" */
	gchar *mountinfo; /* the mount table to read; default <proc>/self/mountinfo */
	gchar *confine;	  /* when set, only mounts at or below this directory exist for the agent */
	/* the roots are the running system's: ask libudev for serials and the loop driver for
	 * backing devices through the device nodes (FALSE in fixture tests) */
	gboolean use_udev;
} QaRoots;

QaRoots *
qa_roots_new_default(void);
QaRoots *
qa_roots_new(const gchar *proc, const gchar *sys, const gchar *dev, gboolean use_udev);
QaRoots *
qa_roots_copy(const QaRoots *roots);
void
qa_roots_free(QaRoots *roots);
gboolean
qa_roots_is_confined_path(const QaRoots *roots, const gchar *path);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaRoots, qa_roots_free)
