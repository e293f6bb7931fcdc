/* The command line and environment of a guest-exec process on Windows; see process-win32.h. */
#include <string.h>

#include "process-win32.h"
#include "qa-error.h"

/* CreateProcess's limit on lpCommandLine, in UTF-16 units with the terminating NUL */
#define QA_WIN_PROCESS_LINE_MAX 32767

void
qa_win_process_quote_arg(GString *line, const gchar *arg)
{
	guint backslashes = 0;

	if (arg[0] != '\0' && strpbrk(arg, " \t\n\v\"") == NULL) {
		g_string_append(line, arg);
		return;
	}
	g_string_append_c(line, '"');
	for (const gchar *p = arg; *p != '\0'; p++) {
		if (*p == '\\') {
			backslashes++;
			continue;
		}
		/* backslashes before a quote escape it, so they are doubled and the quote
		 * escaped; elsewhere they are literal */
		for (guint i = 0; i < (*p == '"' ? backslashes * 2 + 1 : backslashes); i++)
			g_string_append_c(line, '\\');
		backslashes = 0;
		g_string_append_c(line, *p);
	}
	/* before the closing quote, too */
	for (guint i = 0; i < backslashes * 2; i++)
		g_string_append_c(line, '\\');
	g_string_append_c(line, '"');
}

gunichar2 *
qa_win_process_command_line(const gchar *path, GPtrArray *args, GError **error)
{
	g_autoptr(GString) line = g_string_new(NULL);
	glong len = 0;
	gunichar2 *wide;

	if (path == NULL || path[0] == '\0') {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_INVALID,
			    "The program path is empty; expected a program to run");
		return NULL;
	}
	qa_win_process_quote_arg(line, path);
	for (guint i = 0; args != NULL && i < args->len; i++) {
		g_string_append_c(line, ' ');
		qa_win_process_quote_arg(line, g_ptr_array_index(args, i));
	}
	wide = g_utf8_to_utf16(line->str, -1, NULL, &len, NULL);
	if (wide == NULL || len >= QA_WIN_PROCESS_LINE_MAX) {
		g_free(wide);
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_INVALID,
			    "The command line of '%s' is %s; expected valid UTF-8 of at most %d "
			    "characters",
			    path,
			    wide == NULL ? "not valid UTF-8" : "too long",
			    QA_WIN_PROCESS_LINE_MAX - 1);
		return NULL;
	}
	return wide;
}

gunichar2 *
qa_win_process_environment(GPtrArray *env, GError **error)
{
	g_autoptr(GArray) block = g_array_new(FALSE, FALSE, sizeof(gunichar2));
	const gunichar2 nul = 0;

	for (guint i = 0; i < env->len; i++) {
		const gchar *entry = g_ptr_array_index(env, i);
		const gchar *eq = strchr(entry + (entry[0] == '=' ? 1 : 0), '=');
		glong len = 0;
		g_autofree gunichar2 *wide = NULL;

		if (eq == NULL || eq == entry) {
			g_set_error(error,
				    QA_SYSTEM_ERROR,
				    QA_SYSTEM_ERROR_INVALID,
				    "Environment entry '%s' is not valid; expected NAME=VALUE",
				    entry);
			return NULL;
		}
		wide = g_utf8_to_utf16(entry, -1, NULL, &len, NULL);
		if (wide == NULL) {
			g_set_error(error,
				    QA_SYSTEM_ERROR,
				    QA_SYSTEM_ERROR_INVALID,
				    "Environment entry %u is not valid UTF-8",
				    i);
			return NULL;
		}
		g_array_append_vals(block, wide, (guint)len);
		g_array_append_val(block, nul);
	}
	/* an empty block still needs its two NULs */
	if (env->len == 0)
		g_array_append_val(block, nul);
	g_array_append_val(block, nul);
	return (gunichar2 *)g_array_free(g_steal_pointer(&block), FALSE);
}
