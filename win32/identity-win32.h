/* Who and what the Windows guest is: its version as guest-get-osinfo names it, the users with a
 * session, the clock in QGA's units. The mapping from version numbers to names, FILETIME
 * arithmetic and the one-entry-per-user rule are pure and unit-tested on recorded values; the
 * loaders read Windows (RtlGetVersion, the registry, WTS) afresh at each call. */
#pragma once

#include <glib.h>

#include "identity.h"

/* 100-ns intervals from 1601-01-01 (FILETIME's origin) to 1970-01-01 */
#define QA_WIN_FILETIME_UNIX_EPOCH G_GINT64_CONSTANT(116444736000000000)

typedef struct {
	guint major;
	guint minor;
	guint build;
	gboolean is_server; /* wProductType is not VER_NT_WORKSTATION */
} QaWinVersion;

/* pure: "Microsoft Windows Server 2022" and "2022" for @version, by QEMU's agent's table (10.0
 * is split by build number, since Windows 11 and Server 2016-2025 all say 10.0); "N/A" for both
 * when the table has no entry */
void
qa_win_version_names(const QaWinVersion *version, const gchar **out_name, const gchar **out_id);
/* pure: "x86_64", "x86", "arm", "arm64", "ia64", "unknown" for a PROCESSOR_ARCHITECTURE_* */
const gchar *
qa_win_arch_name(guint architecture);

/* RtlGetVersion (GetVersionEx lies to programs without a manifest) */
gboolean
qa_win_version_load(QaWinVersion *out_version, GError **error);
/* HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProductName */
gchar *
qa_win_product_name_load(GError **error);
/* GetNativeSystemInfo's architecture */
const gchar *
qa_win_arch_load(void);

/* pure: nanoseconds since the epoch of a FILETIME, and back; FALSE when out of range */
gint64
qa_win_filetime_to_ns(gint64 filetime);
gboolean
qa_win_ns_to_filetime(gint64 ns, gint64 *out_filetime, GError **error);

/* pure: adds a session of @name to @users (of QaIdentityUser), keeping one entry per name (the
 * first domain seen) with the earliest login; a session without a user name is skipped */
void
qa_win_users_add_session(GPtrArray *users,
			 const gchar *name,
			 const gchar *domain,
			 gint64 logon_filetime);
