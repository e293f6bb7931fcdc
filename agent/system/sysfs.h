/* Small readers for sysfs trees (the real /sys or a captured fixture). They never fail loudly:
 * a missing or unreadable attribute is NULL, and the caller decides what that means. */
#pragma once

#include <glib.h>

#include "kernel-file.h"

/* the attribute @name of @dir, whitespace-trimmed; NULL when absent, unreadable or empty */
gchar *
qa_sysfs_read_attr(const gchar *dir, const gchar *name);
/* like qa_sysfs_read_attr() for a decimal number; FALSE when absent or not a number */
gboolean
qa_sysfs_read_uint(const gchar *dir, const gchar *name, guint64 *out_value);
/* the last component of the target of the symlink @dir/@name (e.g. "pci" for "subsystem") */
gchar *
qa_sysfs_link_name(const gchar *dir, const gchar *name);
/* the canonical path of @path (symlinks resolved); NULL with @error when it does not exist */
gchar *
qa_sysfs_realpath(const gchar *path, GError **error);
/* What @path leads to, following links by name: a link's target is read and its ".." taken off
 * the link's own directory, as the kernel writes sysfs links (relative to the link's canonical
 * directory, through real directories only), so for a sysfs @path whose directory is canonical
 * the result is what realpath() gives, with one readlink() per link and one to see that the end
 * is not a link, where realpath() checks every component (a dozen or more deep in
 * /sys/devices). NULL with @error when it does not exist or links loop. */
gchar *
qa_sysfs_resolve_link(const gchar *path, GError **error);
/* the value of KEY in a KEY=VALUE file (uevent, udev property dumps); NULL when absent */
gchar *
qa_sysfs_lookup_key(const gchar *text, const gchar *key);
/* parse "MAJ:MIN" */
gboolean
qa_sysfs_parse_devnum(const gchar *text, guint *out_major, guint *out_minor);
