/* frozen-guard.h on Windows: is the volume holding a path held frozen by VSS? A write there
 * would wait inside VSS's flush-and-hold until the thaw (or the hold's end), with the system
 * lane stuck; such commands refuse instead, naming the volume. */
#include <windows.h>

#include "freezer-win32.h"
#include "frozen-guard.h"
#include "qa-error.h"

gboolean
qa_frozen_guard_check_path(QaFreezer *freezer,
			   const QaRoots *roots,
			   const gchar *path,
			   const gchar *purpose,
			   GError **error)
{
	g_autofree gunichar2 *wpath = g_utf8_to_utf16(path, -1, NULL, NULL, NULL);
	wchar_t volume[MAX_PATH + 1] = {0};
	g_autofree gchar *mountpath = NULL;

	if (freezer == NULL || !qa_freezer_is_any_frozen(freezer))
		return TRUE;
	/* the mount path of the volume (a drive letter or a mounted folder) the path is on; it
	 * need not exist yet */
	if (wpath == NULL || !GetVolumePathNameW(wpath, volume, G_N_ELEMENTS(volume)))
		return TRUE;
	mountpath = g_utf16_to_utf8(volume, -1, NULL, NULL, NULL);
	if (mountpath == NULL || !qa_freezer_is_volume_frozen(freezer, mountpath))
		return TRUE;
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_BUSY,
		    "Cannot %s: volume '%s' is frozen (guest-fsfreeze-thaw first)",
		    purpose,
		    mountpath);
	return FALSE;
}
