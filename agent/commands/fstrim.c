/* guest-fstrim: QGA's shape, one entry per filesystem with either trimmed+minimum or an error.
 * The freezer issues FITRIM and skips filesystems it holds frozen. */
#include "agent.h"
#include "freezer.h"
#include "qa-error.h"
#include "qa-schema.h"

gboolean
qa_cmd_guest_fstrim(QaAgent *agent,
		    const QaGuestFstrimArgs *args,
		    QaGuestFilesystemTrimResponse **out_ret,
		    GError **error)
{
	g_autoptr(QaGuestFilesystemTrimResponse) response = qa_guest_filesystem_trim_response_new();
	g_autoptr(GPtrArray) results = NULL;
	gboolean has_minimum = args != NULL && args->has_minimum;

	if (has_minimum && args->minimum < 0) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_INVALID,
			    "The minimum %" G_GINT64_FORMAT " is negative; expected a number of "
			    "bytes.",
			    args->minimum);
		return FALSE;
	}
	results = qa_freezer_trim(
	    agent->freezer, has_minimum, has_minimum ? (guint64)args->minimum : 0, error);
	if (results == NULL)
		return FALSE;
	if (response->paths == NULL)
		response->paths = qa_guest_filesystem_trim_result_list_new();
	for (guint i = 0; i < results->len; i++) {
		QaTrimResult *result = g_ptr_array_index(results, i);
		QaGuestFilesystemTrimResult *entry = qa_guest_filesystem_trim_result_new();

		entry->path = g_strdup(result->mountpoint);
		entry->has_trimmed = result->is_trimmed;
		entry->trimmed = (gint64)MIN(result->trimmed, (guint64)G_MAXINT64);
		entry->has_minimum = result->is_trimmed;
		entry->minimum = (gint64)MIN(result->minimum, (guint64)G_MAXINT64);
		entry->error = g_strdup(result->error);
		g_ptr_array_add(response->paths, entry);
	}
	*out_ret = g_steal_pointer(&response);
	return TRUE;
}
