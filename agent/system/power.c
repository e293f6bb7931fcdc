#include "power.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "kernel-file.h"
#include "qa-error.h"
#include "qa-fd.h"

/* a tool that prints more than this keeps only its tail: the last line is what gets reported */
/* how often the wait loop looks at the child while its stderr stays open */
/* the message qemu-ga's and every init's shutdown(8) broadcast to logged-in users */
#define QA_POWER_SHUTDOWN_MESSAGE "hypervisor initiated shutdown"

/* indexed by QaPowerMode (the names are power-mode.c's, shared with Windows) */
static const struct {
	const gchar *verb;	    /* for messages */
	const gchar *tool;	    /* the admin's own command, run without arguments */
	const gchar *shutdown_flag; /* else "shutdown <flag> +0 <message>" */
} qa_power_modes[] = {
    /* sysvinit's shutdown needs -h for a halt or power-off (without it, it goes to
     * single-user mode); systemd's accepts it */
    [QA_POWER_MODE_POWERDOWN] = {"power off", "poweroff", "-h -P"},
    [QA_POWER_MODE_HALT] = {"halt", "halt", "-h -H"},
    [QA_POWER_MODE_REBOOT] = {"reboot", "reboot", "-r"},
};

/* indexed by QaPowerSleep */
static const struct {
	const gchar *name;	    /* for messages */
	const gchar *systemd_verb;  /* systemctl <verb> */
	const gchar *pm_utils_tool; /* pm-utils' script */
	const gchar *state;	    /* what <sys>/power/state gets */
	const gchar *disk_modes[3]; /* what <sys>/power/disk gets: the first it offers */
} qa_power_sleeps[] = {
    /* the disk modes are systemd's defaults (HibernateMode=platform shutdown; hybrid-sleep:
     * suspend), so that every way of hibernating behaves alike */
    {"suspend to disk", "hibernate", "pm-hibernate", "disk", {"platform", "shutdown", NULL}},
    {"suspend to RAM", "suspend", "pm-suspend", "mem", {NULL}},
    {"suspend to disk and RAM (hybrid)",
     "hybrid-sleep",
     "pm-suspend-hybrid",
     "disk",
     {"suspend", NULL}},
};

QaPowerSupport *
qa_power_support_new(void)
{
	QaPowerSupport *support = g_new0(QaPowerSupport, 1);

	support->disk_modes = g_new0(gchar *, 1);
	return support;
}

void
qa_power_support_free(QaPowerSupport *support)
{
	if (support == NULL)
		return;
	g_strfreev(support->disk_modes);
	g_free(support->disk_mode);
	g_free(support);
}

const gchar *
qa_power_sleep_to_string(QaPowerSleep sleep)
{
	g_return_val_if_fail(sleep < G_N_ELEMENTS(qa_power_sleeps), NULL);
	return qa_power_sleeps[sleep].name;
}

/* the words of a kernel file: space or newline separated */
static gchar **
qa_power_split_words(const gchar *text)
{
	g_autoptr(GPtrArray) words = g_ptr_array_new();
	g_auto(GStrv) parts = g_strsplit_set(text, " \t\n", -1);

	for (guint i = 0; parts[i] != NULL; i++) {
		if (parts[i][0] != '\0')
			g_ptr_array_add(words, g_strdup(parts[i]));
	}
	g_ptr_array_add(words, NULL);
	return (gchar **)g_ptr_array_free(g_steal_pointer(&words), FALSE);
}

void
qa_power_state_parse(const gchar *text, QaPowerSupport *support)
{
	g_auto(GStrv) words = qa_power_split_words(text);

	support->has_state_mem = g_strv_contains((const gchar *const *)words, "mem");
	support->has_state_disk = g_strv_contains((const gchar *const *)words, "disk");
}

gboolean
qa_power_disk_parse(const gchar *text, QaPowerSupport *support, GError **error)
{
	g_auto(GStrv) words = qa_power_split_words(text);
	g_autofree gchar *current = NULL;
	g_autofree gchar *stripped = g_strstrip(g_strdup(text));

	for (guint i = 0; words[i] != NULL; i++) {
		gchar *word = words[i];
		gsize len = strlen(word);

		if (word[0] != '[' && word[len - 1] != ']')
			continue;
		if (len < 3 || word[0] != '[' || word[len - 1] != ']' || current != NULL) {
			g_set_error(error,
				    QA_SYSTEM_ERROR,
				    QA_SYSTEM_ERROR_PARSE,
				    "Cannot parse the hibernation modes '%s': expected words with "
				    "one of them in brackets",
				    stripped);
			return FALSE;
		}
		memmove(word, word + 1, len - 2);
		word[len - 2] = '\0';
		current = g_strdup(word);
	}
	g_strfreev(support->disk_modes);
	support->disk_modes = g_steal_pointer(&words);
	g_free(support->disk_mode);
	support->disk_mode = g_steal_pointer(&current);
	return TRUE;
}

gboolean
qa_power_swaps_parse(const gchar *text, guint *out_n_swaps, GError **error)
{
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	guint n_swaps = 0;

	if (!g_str_has_prefix(text, "Filename")) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_PARSE,
			    "Cannot parse the list of swap areas: expected a header starting "
			    "with 'Filename'");
		return FALSE;
	}
	for (guint i = 1; lines[i] != NULL; i++) {
		g_auto(GStrv) fields = qa_power_split_words(lines[i]);
		guint n_fields = g_strv_length(fields);

		if (n_fields == 0)
			continue;
		/* Filename Type Size Used Priority; a name with spaces is escaped (\040) */
		if (n_fields != 5) {
			g_set_error(error,
				    QA_SYSTEM_ERROR,
				    QA_SYSTEM_ERROR_PARSE,
				    "Cannot parse the swap area line %u: expected 5 fields, found "
				    "%u",
				    i + 1,
				    n_fields);
			return FALSE;
		}
		n_swaps++;
	}
	*out_n_swaps = n_swaps;
	return TRUE;
}

gboolean
qa_power_support_has_disk_mode(const QaPowerSupport *support, const gchar *mode)
{
	return g_strv_contains((const gchar *const *)support->disk_modes, mode);
}

QaPowerSupport *
qa_power_support_load(const QaRoots *roots, GError **error)
{
	g_autoptr(QaPowerSupport) support = qa_power_support_new();
	g_autofree gchar *state_path = g_build_filename(roots->sys, "power", "state", NULL);
	g_autofree gchar *disk_path = g_build_filename(roots->sys, "power", "disk", NULL);
	g_autofree gchar *swaps_path = g_build_filename(roots->proc, "swaps", NULL);
	g_autofree gchar *state = qa_kernel_file_read(state_path, NULL);
	g_autofree gchar *disk = NULL;
	g_autofree gchar *swaps = NULL;

	if (state == NULL) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_UNSUPPORTED,
			    "Cannot read '%s': %s; the kernel offers no sleep states",
			    state_path,
			    g_strerror(errno));
		return NULL;
	}
	qa_power_state_parse(state, support);
	/* without hibernation support the kernel has no power/disk */
	disk = qa_kernel_file_read(disk_path, NULL);
	if (disk != NULL && !qa_power_disk_parse(disk, support, error)) {
		g_prefix_error(error, "'%s': ", disk_path);
		return NULL;
	}
	/* without CONFIG_SWAP there is no /proc/swaps, and no swap */
	swaps = qa_kernel_file_read_generated(swaps_path, 4096, NULL);
	if (swaps != NULL && !qa_power_swaps_parse(swaps, &support->n_swaps, error)) {
		g_prefix_error(error, "'%s': ", swaps_path);
		return NULL;
	}
	return g_steal_pointer(&support);
}

static gboolean
qa_power_check_hibernation(const QaPowerSupport *support, const gchar *what, GError **error)
{
	if (!support->has_state_disk) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_UNSUPPORTED,
			    "The guest cannot %s: its kernel offers no hibernation ('disk' is not "
			    "among the sleep states in /sys/power/state)",
			    what);
		return FALSE;
	}
	if (support->n_swaps == 0) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_UNSUPPORTED,
			    "The guest cannot %s: hibernation needs an active swap area to write "
			    "memory to, and /proc/swaps lists none",
			    what);
		return FALSE;
	}
	return TRUE;
}

gboolean
qa_power_support_check(const QaPowerSupport *support, QaPowerSleep sleep, GError **error)
{
	const gchar *what = qa_power_sleep_to_string(sleep);

	switch (sleep) {
	case QA_POWER_SLEEP_RAM:
		if (support->has_state_mem)
			return TRUE;
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_UNSUPPORTED,
			    "The guest cannot %s: its kernel offers no suspend to RAM ('mem' is "
			    "not among the sleep states in /sys/power/state)",
			    what);
		return FALSE;
	case QA_POWER_SLEEP_DISK:
		return qa_power_check_hibernation(support, what, error);
	case QA_POWER_SLEEP_HYBRID:
		if (!qa_power_check_hibernation(support, what, error))
			return FALSE;
		if (qa_power_support_has_disk_mode(support, "suspend"))
			return TRUE;
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_UNSUPPORTED,
			    "The guest cannot %s: its kernel cannot suspend after hibernating "
			    "('suspend' is not among the hibernation modes in /sys/power/disk)",
			    what);
		return FALSE;
	}
	g_return_val_if_reached(FALSE);
}

gboolean
qa_power_shutdown_argv(QaPowerMode mode,
		       const gchar *search_path,
		       gchar ***out_argv,
		       GError **error)
{
	const gchar *tool = qa_power_modes[mode].tool;
	g_autofree gchar *path = qa_child_find_program(search_path, tool);
	g_auto(GStrv) flags = NULL;
	g_autoptr(GStrvBuilder) builder = NULL;

	if (path != NULL) {
		*out_argv = g_new0(gchar *, 2);
		(*out_argv)[0] = g_steal_pointer(&path);
		return TRUE;
	}
	path = qa_child_find_program(search_path, "shutdown");
	if (path == NULL) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_NOT_FOUND,
			    "Cannot %s the guest: neither '%s' nor 'shutdown' is installed in "
			    "%s",
			    qa_power_modes[mode].verb,
			    tool,
			    search_path);
		return FALSE;
	}
	builder = g_strv_builder_new();
	g_strv_builder_add(builder, path);
	flags = g_strsplit(qa_power_modes[mode].shutdown_flag, " ", -1);
	g_strv_builder_addv(builder, (const gchar **)flags);
	g_strv_builder_add_many(builder, "+0", QA_POWER_SHUTDOWN_MESSAGE, NULL);
	*out_argv = g_strv_builder_end(builder);
	return TRUE;
}

gboolean
qa_power_sleep_argv(QaPowerSleep sleep,
		    gboolean has_systemd,
		    const gchar *search_path,
		    gchar ***out_argv,
		    guint *out_timeout_ms,
		    GError **error)
{
	g_autofree gchar *path = NULL;

	*out_argv = NULL;
	*out_timeout_ms = QA_CHILD_TOOL_TIMEOUT_MS;
	if (has_systemd) {
		path = qa_child_find_program(search_path, "systemctl");
		if (path == NULL) {
			g_set_error(error,
				    QA_SYSTEM_ERROR,
				    QA_SYSTEM_ERROR_NOT_FOUND,
				    "Cannot %s: systemd runs, but 'systemctl' is not installed in "
				    "%s",
				    qa_power_sleeps[sleep].name,
				    search_path);
			return FALSE;
		}
		*out_argv = g_new0(gchar *, 3);
		(*out_argv)[0] = g_steal_pointer(&path);
		(*out_argv)[1] = g_strdup(qa_power_sleeps[sleep].systemd_verb);
		return TRUE;
	}
	path = qa_child_find_program(search_path, qa_power_sleeps[sleep].pm_utils_tool);
	if (path != NULL) {
		*out_argv = g_new0(gchar *, 2);
		(*out_argv)[0] = g_steal_pointer(&path);
		*out_timeout_ms = QA_POWER_PM_UTILS_TIMEOUT_MS;
	}
	return TRUE;
}

gboolean
qa_power_shutdown(QaPowerMode mode, GError **error)
{
	g_auto(GStrv) argv = NULL;

	if (!qa_power_shutdown_argv(mode, QA_CHILD_ADMIN_PATH, &argv, error))
		return FALSE;
	g_message("shutdown mode=%s command=%s", qa_power_mode_to_string(mode), argv[0]);
	if (!qa_child_run_checked((const gchar *const *)argv, QA_CHILD_TOOL_TIMEOUT_MS, error)) {
		g_prefix_error(error, "Cannot %s the guest: ", qa_power_modes[mode].verb);
		return FALSE;
	}
	return TRUE;
}

static gboolean
qa_power_write_attr(const QaRoots *roots, const gchar *name, const gchar *value, GError **error)
{
	g_autofree gchar *path = g_build_filename(roots->sys, "power", name, NULL);
	g_auto(QaFd) fd = open(path, O_WRONLY | O_CLOEXEC);
	gsize len = strlen(value);
	gssize n = -1;

	if (fd >= 0) {
		do
			n = write(fd, value, len);
		while (n < 0 && errno == EINTR);
	}
	if (n != (gssize)len) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot write '%s' to '%s': %s",
			    value,
			    path,
			    n < 0 ? g_strerror(errno) : "short write");
		return FALSE;
	}
	return TRUE;
}

gboolean
qa_power_sleep_sysfs(const QaRoots *roots,
		     const QaPowerSupport *support,
		     QaPowerSleep sleep,
		     GError **error)
{
	const gchar *const *disk_modes = qa_power_sleeps[sleep].disk_modes;

	for (guint i = 0; disk_modes[i] != NULL; i++) {
		if (!qa_power_support_has_disk_mode(support, disk_modes[i]))
			continue;
		if (!qa_power_write_attr(roots, "disk", disk_modes[i], error))
			return FALSE;
		break;
	}
	return qa_power_write_attr(roots, "state", qa_power_sleeps[sleep].state, error);
}

gboolean
qa_power_sleep(const QaRoots *roots, QaPowerSleep sleep, GError **error)
{
	g_autoptr(QaPowerSupport) support = qa_power_support_load(roots, error);
	g_auto(GStrv) argv = NULL;
	guint timeout_ms = 0;
	gboolean has_systemd = g_file_test(QA_POWER_SYSTEMD_DIR, G_FILE_TEST_IS_DIR);

	if (support == NULL)
		return FALSE;
	if (!qa_power_support_check(support, sleep, error))
		return FALSE;
	if (!qa_power_sleep_argv(
		sleep, has_systemd, QA_CHILD_ADMIN_PATH, &argv, &timeout_ms, error))
		return FALSE;
	if (argv == NULL) {
		g_message("suspend mode=%s method=sysfs", qa_power_sleeps[sleep].state);
		return qa_power_sleep_sysfs(roots, support, sleep, error);
	}
	g_message("suspend mode=%s command=%s", qa_power_sleeps[sleep].systemd_verb, argv[0]);
	if (!qa_child_run_checked((const gchar *const *)argv, timeout_ms, error)) {
		g_prefix_error(error, "Cannot %s: ", qa_power_sleeps[sleep].name);
		return FALSE;
	}
	return TRUE;
}
