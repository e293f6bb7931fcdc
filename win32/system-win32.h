/* The Windows calls behind the command families that wine does not implement or that must not
 * run on a test machine (shutting it down, setting its clock or a password, listing its PCI
 * drivers): one small table, real in production, a fake in the unit tests, as QaVssOps is for
 * the freezer. Everything wine does implement (adapters, time zone, processes, files) is called
 * directly and tested under wine. */
#pragma once

#include <glib.h>

#include "power.h"

/* SE_SHUTDOWN_NAME and SE_SYSTEMTIME_NAME, in UTF-8 */
#define QA_WIN_PRIVILEGE_SHUTDOWN "SeShutdownPrivilege"
#define QA_WIN_PRIVILEGE_SYSTEMTIME "SeSystemtimePrivilege"

/* one PCI function and its driver, as SetupAPI lists it */
typedef struct {
	gchar *hardware_id;    /* the first hardware id: "PCI\VEN_1AF4&DEV_1000&SUBSYS_..." */
	gchar *driver_name;    /* the driver's description ("Red Hat VirtIO Ethernet Adapter") */
	gchar *driver_version; /* "100.94.104.24800"; NULL when unknown */
	gint64 driver_date;    /* 100-ns units since 1601 (a FILETIME); -1 when unknown */
} QaWinDevice;

void
qa_win_device_free(QaWinDevice *device);
/* pure: the vendor and device of a hardware id "PCI\VEN_1AF4&DEV_1041&SUBSYS_..." when the
 * vendor is one guest-get-devices lists (0x1af4 Red Hat/virtio, 0x1b36 QEMU); FALSE otherwise */
gboolean
qa_win_device_parse_pci_id(const gchar *hardware_id, guint *out_vendor, guint *out_device);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaWinDevice, qa_win_device_free)

/* a Windows account, as the SSH key commands need it */
typedef struct {
	gchar *sid;	    /* "S-1-5-21-...-1001" */
	gboolean is_admin;  /* a member of Administrators (directly or through a group) */
	gchar *profile_dir; /* its profile directory (C:\Users\name), whether or not it exists */
} QaWinAccount;

void
qa_win_account_free(QaWinAccount *account);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaWinAccount, qa_win_account_free)

typedef struct _QaWinOps {
	/* enables @name (SE_SHUTDOWN_NAME, SE_SYSTEMTIME_NAME) in the process token */
	gboolean (*enable_privilege)(const gchar *name, GError **error);
	/* asks Windows to shut down or restart, forcing applications closed; returns at once */
	gboolean (*shutdown)(QaPowerMode mode, GError **error);
	/* whether the firmware and OS offer S3 (suspend to RAM) and S4 (hibernation) */
	gboolean (*get_sleep_states)(gboolean *out_has_s3, gboolean *out_has_s4, GError **error);
	/* starts a suspend (or hibernation) on a thread of its own: the call returns after the
	 * resume, and the reply must not wait for it */
	gboolean (*suspend)(gboolean hibernate, GError **error);
	/* sets the clock, UTC; @filetime in 100-ns units since 1601 */
	gboolean (*set_system_time)(gint64 filetime, GError **error);
	/* asks the Windows Time service to resynchronise the clock */
	gboolean (*resync_time)(GError **error);
	/* sets a local account's password (NetUserSetInfo level 1003); @password is cleared by
	 * the caller */
	gboolean (*set_password)(const gchar *username, const gchar *password, GError **error);
	/* every present PCI device with its driver: GPtrArray of QaWinDevice */
	GPtrArray *(*list_pci_devices)(GError **error);
	/* opens the performance counter "\System\Processor Queue Length": an opaque handle for
	 * the two calls below; NULL and an error when Windows has no such counter */
	gpointer (*load_counter_open)(GError **error);
	/* the counter's value now (threads waiting for a processor) */
	gboolean (*load_counter_read)(gpointer counter, gdouble *out_value, GError **error);
	void (*load_counter_close)(gpointer counter);
	/* the account @username (local or domain); NOT_FOUND "The user '...' does not exist" */
	QaWinAccount *(*lookup_account)(const gchar *username, GError **error);
	/* %ProgramData% (C:\ProgramData) */
	gchar *(*get_program_data_dir)(GError **error);
	/* gives the file or directory @path the DACL of @sddl ("D:P(A;;FA;;;SY)..."), replacing
	 * the one it has; the owner stays */
	gboolean (*set_security)(const gchar *path, const gchar *sddl, GError **error);
} QaWinOps;

/* the real performance counter calls, in system-pdh-win32.c */
gpointer
qa_win_sys_load_counter_open(GError **error);
gboolean
qa_win_sys_load_counter_read(gpointer counter, gdouble *out_value, GError **error);
void
qa_win_sys_load_counter_close(gpointer counter);

/* the real account and security calls, in system-accounts-win32.c */
QaWinAccount *
qa_win_sys_lookup_account(const gchar *username, GError **error);
gchar *
qa_win_sys_get_program_data_dir(GError **error);
gboolean
qa_win_sys_set_security(const gchar *path, const gchar *sddl, GError **error);

/* the table that calls Windows */
const QaWinOps *
qa_win_sys_get_real_ops(void);

/* g_set_error() with the text of @code (a Win32 error) after @what: "@what: <text>" */
gboolean
qa_win_sys_set_error(GError **error, gint domain_code, gulong code, const gchar *what);
