/* Powering the guest off, rebooting and suspending it, the way its administrator would: through
 * the admin's own poweroff/halt/reboot (or shutdown), systemd's or pm-utils' sleep verbs, or the
 * kernel's /sys/power files. Also the runner of those short-lived tools, which the clock family
 * uses for hwclock.
 *
 * Pure parts (mode names, /sys/power/state, /sys/power/disk, /proc/swaps, wait statuses) are
 * apart from the functions that read the system or run programs, so that tests feed them text. */
#pragma once

#include <glib.h>

typedef enum {
	QA_POWER_MODE_POWERDOWN,
	QA_POWER_MODE_HALT,
	QA_POWER_MODE_REBOOT,
} QaPowerMode;

/* Both builds (power-mode.c): guest-shutdown's modes. @text: the host's mode, NULL for the
 * default "powerdown"; anything else is QA_SYSTEM_ERROR_INVALID naming the valid ones */
gboolean
qa_power_mode_parse(const gchar *text, QaPowerMode *out_mode, GError **error);
/* "powerdown", "halt", "reboot" */
const gchar *
qa_power_mode_to_string(QaPowerMode mode);

/* Linux only: the rest of power.c (Windows asks through QaWinOps, win32/system-win32.h) */
#ifndef G_OS_WIN32
#include "child.h"
#include "roots.h"

/* systemd's own test of whether it is the running init (sd_booted(3)) */
#define QA_POWER_SYSTEMD_DIR "/run/systemd/system"
/* pm-utils' sleep scripts return after the resume, and the clock the timeout runs on does not
 * advance while the guest sleeps */
#define QA_POWER_PM_UTILS_TIMEOUT_MS 120000

typedef enum {
	QA_POWER_SLEEP_DISK,   /* hibernate */
	QA_POWER_SLEEP_RAM,    /* suspend to RAM */
	QA_POWER_SLEEP_HYBRID, /* hibernate, then suspend to RAM */
} QaPowerSleep;

/* what the kernel offers, from <sys>/power/state, <sys>/power/disk and <proc>/swaps */
typedef struct {
	gboolean has_state_mem;	 /* "mem" in power/state */
	gboolean has_state_disk; /* "disk" in power/state: hibernation is available */
	gchar **disk_modes;	 /* the choices power/disk lists; empty when it is missing */
	gchar *disk_mode;	 /* the one in brackets, or NULL */
	guint n_swaps;		 /* active swap areas */
} QaPowerSupport;

QaPowerSupport *
qa_power_support_new(void);
void
qa_power_support_free(QaPowerSupport *support);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaPowerSupport, qa_power_support_free)

const gchar *
qa_power_sleep_to_string(QaPowerSleep sleep);

/* "freeze mem disk" into @support's has_state_* */
void
qa_power_state_parse(const gchar *text, QaPowerSupport *support);
/* "[platform] shutdown reboot suspend test_resume" into @support's disk_modes and disk_mode */
gboolean
qa_power_disk_parse(const gchar *text, QaPowerSupport *support, GError **error);
/* the number of swap areas a /proc/swaps text lists after its header */
gboolean
qa_power_swaps_parse(const gchar *text, guint *out_n_swaps, GError **error);
gboolean
qa_power_support_has_disk_mode(const QaPowerSupport *support, const gchar *mode);
/* reads the three files below @roots; a missing power/disk or swaps file means none */
QaPowerSupport *
qa_power_support_load(const QaRoots *roots, GError **error);
/* FALSE with QA_SYSTEM_ERROR_UNSUPPORTED naming what is missing for @sleep */
gboolean
qa_power_support_check(const QaPowerSupport *support, QaPowerSleep sleep, GError **error);

/* the command line that powers off, halts or reboots: the admin's poweroff, halt or reboot with
 * no arguments, else shutdown; FALSE with QA_SYSTEM_ERROR_NOT_FOUND when neither exists */
gboolean
qa_power_shutdown_argv(QaPowerMode mode,
		       const gchar *search_path,
		       gchar ***out_argv,
		       GError **error);
/* the command line that puts the guest to sleep: "systemctl <verb>" when @has_systemd, else
 * pm-utils' script for @sleep when installed; TRUE with NULL in @out_argv when the kernel's
 * files are to be written instead; @out_timeout_ms: how long the tool may take */
gboolean
qa_power_sleep_argv(QaPowerSleep sleep,
		    gboolean has_systemd,
		    const gchar *search_path,
		    gchar ***out_argv,
		    guint *out_timeout_ms,
		    GError **error);

/* the kernel's own interface: <sys>/power/disk gets the first of systemd's default modes that
 * @support lists (disk: platform, shutdown; hybrid: suspend), then <sys>/power/state gets "mem"
 * or "disk"; that write returns after the resume */
gboolean
qa_power_sleep_sysfs(const QaRoots *roots,
		     const QaPowerSupport *support,
		     QaPowerSleep sleep,
		     GError **error);

/* powers off, halts or reboots; returns once the tool has queued it (TRUE) or failed */
gboolean
qa_power_shutdown(QaPowerMode mode, GError **error);
/* checks what the kernel offers, then suspends or hibernates; returns after the resume, or
 * once systemd has queued the sleep */
gboolean
qa_power_sleep(const QaRoots *roots, QaPowerSleep sleep, GError **error);
#endif /* !G_OS_WIN32 */
