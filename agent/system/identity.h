/* Who and what the guest is: its OS and kernel, the host name, the local time zone and the
 * users logged in, for the one set of handlers in commands/identity.c that both builds compile.
 * Linux implements this in identity.c (os-release(5), uname(2), utmp), Windows in
 * win32/identity-win32.c (RtlGetVersion, the registry, WTS). Every call reads the system
 * afresh: these are polled every few seconds by KubeVirt and Proxmox, and a renamed guest, a
 * new time zone or a new login must show at the next poll. Nothing here blocks or runs a
 * program.
 *
 * Linux's pure parts (os-release text, utmp records) and its load averages are declared below
 * the shared part, apart from the functions that read the system, so that tests feed them
 * captured files; Windows' are in win32/identity-win32.h. */
#pragma once

#include <glib.h>

typedef struct {
	gchar *kernel_release; /* uname -r; Windows: the build number */
	gchar *kernel_version; /* uname -v; Windows: "major.minor" */
	gchar *machine;	       /* uname -m */
	gchar *id;	       /* ID, QA_IDENTITY_OS_RELEASE_DEFAULT_ID when unset; "mswindows" */
	gchar *name;	       /* the rest: NULL when os-release does not set them */
	gchar *pretty_name;
	gchar *version;
	gchar *version_id;
	gchar *variant;
	gchar *variant_id;
} QaIdentityOsInfo;

void
qa_identity_os_info_free(QaIdentityOsInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaIdentityOsInfo, qa_identity_os_info_free)
/* the OS and kernel as guest-get-osinfo reports them. Linux: os-release (a missing or
 * unreadable one is logged and leaves only the kernel fields and the default id) and uname(2);
 * Windows: the version, QEMU's agent's names for it and the registry's product name */
QaIdentityOsInfo *
qa_identity_os_info_load(GError **error);

/* the host name as it is now. Linux: gethostname(2) (GLib's g_get_host_name() keeps the first
 * answer for the life of the process); Windows: the NetBIOS name, as QEMU's agent reports it
 * (GetComputerName) */
gchar *
qa_identity_host_name_load(GError **error);

/* the local time zone in effect at @when: its offset east of UTC in seconds, daylight saving
 * included, and its name (NULL when there is none). Linux: glibc's tzset() is called first:
 * with TZ unset it stat()s /etc/localtime and reads it again when it changed, where GLib's
 * local GTimeZone is kept for the life of the process; the name is the abbreviation ("CET").
 * Windows: GetTimeZoneInformation knows only the present, so @when is taken to be now; the
 * name is Windows' ("W. Europe Daylight Time"). */
void
qa_identity_timezone_load(gint64 when, gint64 *out_offset, gchar **out_zone);

typedef struct {
	gchar *name;
	gchar *domain;	    /* Windows: the session's domain; Linux: NULL */
	gdouble login_time; /* seconds since the epoch, with the microseconds as a fraction */
} QaIdentityUser;

void
qa_identity_user_free(QaIdentityUser *user);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaIdentityUser, qa_identity_user_free)
/* one QaIdentityUser per user with a session, each with its earliest login. Linux: the utmp
 * file QA_IDENTITY_UTMP_PATH (qa_identity_users_load_file()); Windows: WTS sessions */
GPtrArray *
qa_identity_users_load(GError **error);

/* Linux only: the parts of identity.c beneath the loaders above, and the load averages of
 * guest-get-load (commands/clock.c; Windows samples a counter, win32/load-win32.h) */
#ifndef G_OS_WIN32
#include <paths.h>
#include <sys/utsname.h>

/* where os-release(5) says to look, in order: the first that exists is the only one read */
#define QA_IDENTITY_OS_RELEASE_PATHS                                                               \
	{                                                                                          \
		"/etc/os-release", "/usr/lib/os-release", NULL                                     \
	}
/* os-release(5): "If not set, a default of ID=linux may be used" */
#define QA_IDENTITY_OS_RELEASE_DEFAULT_ID "linux"

/* the name/value pairs of an os-release text, read with its shell-like rules: single quotes
 * keep everything, double quotes and bare values take backslash escapes, '#' starts a comment.
 * Never fails: lines that are not assignments to a valid name are skipped, as systemd does. */
GHashTable *
qa_identity_os_release_parse(const gchar *text, gsize len);
/* reads the first of @paths (NULL-terminated) that exists; an empty table when none does.
 * NULL with @error when a file exists but none of them could be read. */
GHashTable *
qa_identity_os_release_load(const gchar *const *paths, GError **error);

/* uname(2) */
gboolean
qa_identity_uname_load(struct utsname *out_uts, GError **error);

/* pure: @os_release (nullable: no os-release) and @uts into one report */
QaIdentityOsInfo *
qa_identity_os_info_new(GHashTable *os_release, const struct utsname *uts);

/* where glibc, and so login, sshd and systemd-logind, record the current sessions
 * ("/var/run/utmp"), the file qemu-ga's getutxent() reads */
#define QA_IDENTITY_UTMP_PATH _PATH_UTMP

/* pure: the struct utmpx records in @data (a utmp file's bytes, as this system's C library lays
 * them out; a trailing partial record is ignored) reduced to one user per USER_PROCESS name, in
 * the order of their first record, each with its earliest login */
GPtrArray *
qa_identity_users_parse(const guint8 *data, gsize len);
/* reads the utmp file @path in one read(), without the C library's utmp functions (see
 * identity.c); a missing file means nobody is logged in */
GPtrArray *
qa_identity_users_load_file(const gchar *path, GError **error);

typedef struct {
	gdouble load1m;
	gdouble load5m;
	gdouble load15m;
} QaIdentityLoad;

/* the kernel's 1, 5 and 15 minute load averages, at their full precision */
gboolean
qa_identity_loadavg_load(QaIdentityLoad *out_load, GError **error);
#endif /* !G_OS_WIN32 */
