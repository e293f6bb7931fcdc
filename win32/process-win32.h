/* The pure parts of guest-exec on Windows, unit-tested: the command line CreateProcessW gets
 * and the environment block. The quoting is also the service's (service-win32.c), for the
 * command line the service control manager starts the agent with. */
#pragma once

#include <glib.h>

/* @arg quoted so that CommandLineToArgvW (and the C runtime's argv parsing) gives it back
 * unchanged: in double quotes when empty or holding a blank or a quote, with the backslashes
 * before a quote (and before the closing quote) doubled; appended to @line */
void
qa_win_process_quote_arg(GString *line, const gchar *arg);
/* "path arg1 arg2 ..." in UTF-16, each quoted; refuses an empty path, a NUL-free but
 * non-UTF-8 string, and a line over CreateProcess's 32767 characters */
gunichar2 *
qa_win_process_command_line(const gchar *path, GPtrArray *args, GError **error);
/* "NAME=VALUE\0...\0\0" in UTF-16 from @env (of gchar *); refuses an entry without '=' or with
 * an empty name (Windows' own "=C:=C:\\" entries start with '=' and are allowed) */
gunichar2 *
qa_win_process_environment(GPtrArray *env, GError **error);
