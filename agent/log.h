/* Logging: GLib's structured log writer, to stderr (journald captures it under systemd) or to a
 * file. While any filesystem is frozen the log must not touch a file that may live on it, so
 * qa_log_hold() diverts lines into a bounded memory buffer until qa_log_release(). Thread-safe:
 * the worker and watchdog threads log too. */
#pragma once

#include <glib.h>

#define QA_LOG_HOLD_LIMIT (256 * 1024) /* bytes kept while held; older lines are dropped */
#define QA_LOG_MESSAGE_MAX (16 * 1024) /* bytes of one message written; the rest is cut */

void
qa_log_init(gboolean verbose);
gboolean
qa_log_set_file(const gchar *path, GError **error);
/* opens @path anew; while lines are held for a freeze, the switch waits for the release */
gboolean
qa_log_reopen(const gchar *path, GError **error);
/* @message as every record shows it: on one line, control characters, line separators and
 * bytes that are not UTF-8 escaped (\n, \x1b, \u2028), backslashes doubled, cut after
 * QA_LOG_MESSAGE_MAX bytes */
gchar *
qa_log_escape(const gchar *message);
void
qa_log_hold(void);
void
qa_log_release(void);
gboolean
qa_log_is_held(void);
