/* The performance counter calls of QaWinOps (system-win32.h), apart from system-win32.c because
 * pdh.h and lm.h cannot be included together (both define HLOG). Wine has no such counter: its
 * PdhAddEnglishCounterW fails with PDH_CSTATUS_NO_COUNTER, which guest-get-load reports. */
#include <pdh.h>
#include <pdhmsg.h>
#include <windows.h>

#include "qa-error.h"
#include "system-win32.h"

typedef struct {
	PDH_HQUERY query;
	PDH_HCOUNTER counter;
} QaWinPdhCounter;

/* PDH codes are not in FormatMessage's system table: they are shown as numbers, with the
 * likely cause of the common one */
static gboolean
qa_win_sys_pdh_fail(GError **error, const gchar *call, PDH_STATUS status)
{
	g_set_error(
	    error,
	    QA_SYSTEM_ERROR,
	    QA_SYSTEM_ERROR_UNSUPPORTED,
	    "Cannot read the performance counter '\\System\\Processor Queue Length' for the "
	    "load average: %s failed with 0x%lx%s",
	    call,
	    (gulong)status,
	    status == (PDH_STATUS)PDH_CSTATUS_NO_COUNTER ||
		    status == (PDH_STATUS)PDH_CSTATUS_NO_OBJECT
		? " (no such counter; performance counters may be disabled: lodctr /R)"
		: "");
	return FALSE;
}

void
qa_win_sys_load_counter_close(gpointer data)
{
	QaWinPdhCounter *counter = data;

	if (counter == NULL)
		return;
	PdhCloseQuery(counter->query);
	g_free(counter);
}

gpointer
qa_win_sys_load_counter_open(GError **error)
{
	QaWinPdhCounter *counter = g_new0(QaWinPdhCounter, 1);
	PDH_STATUS status = PdhOpenQueryW(NULL, 0, &counter->query);

	if (status != ERROR_SUCCESS) {
		g_free(counter);
		qa_win_sys_pdh_fail(error, "PdhOpenQueryW", status);
		return NULL;
	}
	/* the English name: a localized Windows names its counters in its own language */
	status = PdhAddEnglishCounterW(
	    counter->query, L"\\System\\Processor Queue Length", 0, &counter->counter);
	if (status != ERROR_SUCCESS) {
		qa_win_sys_load_counter_close(counter);
		qa_win_sys_pdh_fail(error, "PdhAddEnglishCounterW", status);
		return NULL;
	}
	return counter;
}

gboolean
qa_win_sys_load_counter_read(gpointer data, gdouble *out_value, GError **error)
{
	QaWinPdhCounter *counter = data;
	PDH_FMT_COUNTERVALUE value = {0};
	PDH_STATUS status;

	/* an instantaneous count: one collection gives a value, no second one to diff against */
	status = PdhCollectQueryData(counter->query);
	if (status != ERROR_SUCCESS)
		return qa_win_sys_pdh_fail(error, "PdhCollectQueryData", status);
	status = PdhGetFormattedCounterValue(counter->counter, PDH_FMT_DOUBLE, NULL, &value);
	if (status != ERROR_SUCCESS)
		return qa_win_sys_pdh_fail(error, "PdhGetFormattedCounterValue", status);
	*out_value = value.doubleValue;
	return TRUE;
}
