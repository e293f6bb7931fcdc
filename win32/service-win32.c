/* The Windows service: installed and removed from the command line as QEMU's Windows agent does
 * (quiesce-agent -s install [options], quiesce-agent -s uninstall), started and stopped by the
 * service control manager. The installed command line is this executable with -d and the
 * options given at install; -d makes the agent connect to the service control manager. */
#include "service-win32.h"

#include <windows.h>

#include "process-win32.h"
#include "qa-error.h"

#define QA_SERVICE_DISPLAY_NAME L"quiesce-agent (QEMU guest agent protocol)"
#define QA_SERVICE_DESCRIPTION                                                                     \
	L"Answers the host's guest-agent requests on the virtio-serial port and freezes volumes "  \
	L"with VSS for consistent snapshots."
#define QA_SERVICE_STOP_WAIT_MS 30000

typedef struct {
	SERVICE_STATUS_HANDLE handle;
	SERVICE_STATUS status;
	QaServiceRunFunc run;
	QaServiceStopFunc stop;
	gpointer user_data;
	gint exit_code;
} QaService;

static QaService qa_service;

static gboolean
qa_service_set_error(GError **error, const gchar *what)
{
	DWORD code = GetLastError();
	g_autofree gchar *reason = g_win32_error_message((gint)code);

	g_set_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_FAILED, "%s: %s", what, reason);
	return FALSE;
}

gboolean
qa_service_install(gchar **args, GError **error)
{
	WCHAR exe[MAX_PATH + 1];
	g_autofree gchar *exe_utf8 = NULL;
	g_autoptr(GString) line = g_string_new(NULL);
	g_autofree gunichar2 *line_w = NULL;
	SC_HANDLE manager;
	SC_HANDLE service;
	SERVICE_DESCRIPTIONW description = {.lpDescription = QA_SERVICE_DESCRIPTION};

	if (GetModuleFileNameW(NULL, exe, G_N_ELEMENTS(exe)) == 0)
		return qa_service_set_error(error, "cannot find the agent's own path");
	exe_utf8 = g_utf16_to_utf8(exe, -1, NULL, NULL, NULL);
	qa_win_process_quote_arg(line, exe_utf8);
	g_string_append(line, " -d");
	for (guint i = 0; args != NULL && args[i] != NULL; i++) {
		g_string_append_c(line, ' ');
		qa_win_process_quote_arg(line, args[i]);
	}
	line_w = g_utf8_to_utf16(line->str, -1, NULL, NULL, NULL);
	manager = OpenSCManagerW(NULL, NULL, SC_MANAGER_CREATE_SERVICE);
	if (manager == NULL)
		return qa_service_set_error(error, "cannot open the service control manager");
	service = CreateServiceW(manager,
				 QA_SERVICE_NAME_W,
				 QA_SERVICE_DISPLAY_NAME,
				 SERVICE_ALL_ACCESS,
				 SERVICE_WIN32_OWN_PROCESS,
				 SERVICE_AUTO_START,
				 SERVICE_ERROR_NORMAL,
				 line_w,
				 NULL,
				 NULL,
				 NULL,
				 NULL,
				 NULL);
	if (service == NULL) {
		gboolean exists = GetLastError() == ERROR_SERVICE_EXISTS;
		qa_service_set_error(error, "cannot install the service");
		if (exists)
			g_prefix_error(error,
				       "%s is already installed (uninstall it first): ",
				       QA_SERVICE_NAME);
		CloseServiceHandle(manager);
		return FALSE;
	}
	ChangeServiceConfig2W(service, SERVICE_CONFIG_DESCRIPTION, &description);
	CloseServiceHandle(service);
	CloseServiceHandle(manager);
	return TRUE;
}

static void
qa_service_wait_stopped(SC_HANDLE service)
{
	SERVICE_STATUS status;

	for (guint waited = 0; waited < QA_SERVICE_STOP_WAIT_MS; waited += 200) {
		if (!QueryServiceStatus(service, &status) ||
		    status.dwCurrentState == SERVICE_STOPPED)
			return;
		Sleep(200);
	}
}

gboolean
qa_service_uninstall(GError **error)
{
	SC_HANDLE manager = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT);
	SC_HANDLE service;
	SERVICE_STATUS status;
	gboolean ok = TRUE;

	if (manager == NULL)
		return qa_service_set_error(error, "cannot open the service control manager");
	service =
	    OpenServiceW(manager, QA_SERVICE_NAME_W, DELETE | SERVICE_STOP | SERVICE_QUERY_STATUS);
	if (service == NULL) {
		qa_service_set_error(error, "cannot open the service " QA_SERVICE_NAME);
		CloseServiceHandle(manager);
		return FALSE;
	}
	/* stopping thaws whatever the agent holds frozen */
	if (ControlService(service, SERVICE_CONTROL_STOP, &status))
		qa_service_wait_stopped(service);
	if (!DeleteService(service))
		ok = qa_service_set_error(error, "cannot uninstall the service");
	CloseServiceHandle(service);
	CloseServiceHandle(manager);
	return ok;
}

static void
qa_service_report(DWORD state, DWORD exit_code)
{
	qa_service.status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
	qa_service.status.dwCurrentState = state;
	qa_service.status.dwWin32ExitCode = exit_code;
	qa_service.status.dwControlsAccepted =
	    state == SERVICE_RUNNING ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN : 0;
	qa_service.status.dwWaitHint = state == SERVICE_RUNNING ? 0 : QA_SERVICE_STOP_WAIT_MS;
	qa_service.status.dwCheckPoint++;
	SetServiceStatus(qa_service.handle, &qa_service.status);
}

void
qa_service_report_running(void)
{
	if (qa_service.handle != NULL)
		qa_service_report(SERVICE_RUNNING, NO_ERROR);
}

static DWORD WINAPI
qa_service_control(DWORD control, DWORD type, LPVOID data, LPVOID context)
{
	switch (control) {
	case SERVICE_CONTROL_STOP:
	case SERVICE_CONTROL_SHUTDOWN:
		qa_service_report(SERVICE_STOP_PENDING, NO_ERROR);
		qa_service.stop(qa_service.user_data);
		return NO_ERROR;
	case SERVICE_CONTROL_INTERROGATE:
		return NO_ERROR;
	default:
		return ERROR_CALL_NOT_IMPLEMENTED;
	}
}

static void WINAPI
qa_service_main(DWORD argc, LPWSTR *argv)
{
	qa_service.handle =
	    RegisterServiceCtrlHandlerExW(QA_SERVICE_NAME_W, qa_service_control, NULL);
	if (qa_service.handle == NULL) {
		qa_service.exit_code = 1;
		return;
	}
	qa_service_report(SERVICE_START_PENDING, NO_ERROR);
	qa_service.exit_code = qa_service.run(qa_service.user_data);
	qa_service_report(SERVICE_STOPPED,
			  qa_service.exit_code == 0 ? NO_ERROR : ERROR_SERVICE_SPECIFIC_ERROR);
}

gboolean
qa_service_run(QaServiceRunFunc run,
	       QaServiceStopFunc stop,
	       gpointer user_data,
	       gint *out_exit_code,
	       GError **error)
{
	SERVICE_TABLE_ENTRYW table[] = {
	    {QA_SERVICE_NAME_W, qa_service_main},
	    {NULL, NULL},
	};

	qa_service.run = run;
	qa_service.stop = stop;
	qa_service.user_data = user_data;
	if (!StartServiceCtrlDispatcherW(table))
		return qa_service_set_error(
		    error, "cannot connect to the service control manager (-d is for the service)");
	*out_exit_code = qa_service.exit_code;
	return TRUE;
}
