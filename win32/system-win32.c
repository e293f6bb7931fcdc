/* The real QaWinOps: the Windows calls that wine lacks or that a test must never make. Each is
 * a thin wrapper; the logic around them (argument checks, modes, reply shapes) is in the command
 * files and runs against a fake in tests/test-commands-win32.c. */
#include "system-win32.h"

/* windows.h first, and initguid.h right before devpkey.h, whose DEVPKEY_* values it makes
 * definitions (no library has them) */
/* clang-format off */
#include <windows.h>
#include <cfgmgr32.h>
#include <lm.h>
#include <powrprof.h>
#include <setupapi.h>
#include <initguid.h>
#include <devpkey.h>
/* clang-format on */

#include <string.h>

#include "qa-error.h"

/* w32tm's resync asks the time service and returns: it never takes long, but a hung service
 * must not hold the system lane */
#define QA_WIN_SYS_W32TM_TIMEOUT_MS 30000

gboolean
qa_win_sys_set_error(GError **error, gint domain_code, gulong code, const gchar *what)
{
	g_autofree gchar *reason = g_win32_error_message((gint)code);

	g_set_error(error, QA_SYSTEM_ERROR, domain_code, "%s: %s", what, reason);
	return FALSE;
}

void
qa_win_device_free(QaWinDevice *device)
{
	if (device == NULL)
		return;
	g_free(device->hardware_id);
	g_free(device->driver_name);
	g_free(device->driver_version);
	g_free(device);
}

static gboolean
qa_win_device_parse_hex4(const gchar *text, guint *out_value)
{
	guint value = 0;

	for (guint i = 0; i < 4; i++) {
		if (!g_ascii_isxdigit(text[i]))
			return FALSE;
		value = value * 16 + (guint)g_ascii_xdigit_value(text[i]);
	}
	*out_value = value;
	return TRUE;
}

gboolean
qa_win_device_parse_pci_id(const gchar *hardware_id, guint *out_vendor, guint *out_device)
{
	guint vendor = 0;
	guint device = 0;

	/* "PCI\VEN_xxxx&DEV_xxxx", then the end or '&' and more */
	if (hardware_id == NULL || g_ascii_strncasecmp(hardware_id, "PCI\\VEN_", 8) != 0 ||
	    strlen(hardware_id) < 21 || !qa_win_device_parse_hex4(hardware_id + 8, &vendor) ||
	    g_ascii_strncasecmp(hardware_id + 12, "&DEV_", 5) != 0 ||
	    !qa_win_device_parse_hex4(hardware_id + 17, &device) ||
	    (hardware_id[21] != '\0' && hardware_id[21] != '&'))
		return FALSE;
	if (vendor != 0x1af4 && vendor != 0x1b36)
		return FALSE;
	*out_vendor = vendor;
	*out_device = device;
	return TRUE;
}

static gboolean
qa_win_sys_enable_privilege(const gchar *name, GError **error)
{
	g_autofree gunichar2 *wname = g_utf8_to_utf16(name, -1, NULL, NULL, NULL);
	TOKEN_PRIVILEGES privileges = {.PrivilegeCount = 1};
	HANDLE token = NULL;
	gboolean ok;

	if (!OpenProcessToken(GetCurrentProcess(), TOKEN_ADJUST_PRIVILEGES | TOKEN_QUERY, &token))
		return qa_win_sys_set_error(error,
					    QA_SYSTEM_ERROR_FAILED,
					    GetLastError(),
					    "Cannot open the agent's process token");
	if (!LookupPrivilegeValueW(NULL, wname, &privileges.Privileges[0].Luid)) {
		CloseHandle(token);
		return qa_win_sys_set_error(
		    error, QA_SYSTEM_ERROR_FAILED, GetLastError(), "Cannot look up the privilege");
	}
	privileges.Privileges[0].Attributes = SE_PRIVILEGE_ENABLED;
	/* AdjustTokenPrivileges succeeds without the privilege and says so in the last error */
	ok = AdjustTokenPrivileges(token, FALSE, &privileges, 0, NULL, NULL) &&
	     GetLastError() == ERROR_SUCCESS;
	if (!ok) {
		DWORD code = GetLastError();
		g_autofree gchar *what =
		    g_strdup_printf("Cannot enable %s (the agent runs as LocalSystem)", name);

		CloseHandle(token);
		return qa_win_sys_set_error(error, QA_SYSTEM_ERROR_FAILED, code, what);
	}
	CloseHandle(token);
	return TRUE;
}

static gboolean
qa_win_sys_shutdown(QaPowerMode mode, GError **error)
{
	/* applications are closed without asking, as QEMU's agent forces them: a host that
	 * asked for a shutdown must not find the guest waiting on a "save changes?" box */
	DWORD flags = SHUTDOWN_FORCE_OTHERS | SHUTDOWN_FORCE_SELF;
	DWORD code;

	switch (mode) {
	case QA_POWER_MODE_POWERDOWN:
		flags |= SHUTDOWN_POWEROFF;
		break;
	case QA_POWER_MODE_REBOOT:
		flags |= SHUTDOWN_RESTART;
		break;
	case QA_POWER_MODE_HALT:
		break;
	}
	code = InitiateShutdownW(
	    NULL, NULL, 0, flags, SHTDN_REASON_MAJOR_OTHER | SHTDN_REASON_FLAG_PLANNED);
	if (code != ERROR_SUCCESS)
		return qa_win_sys_set_error(
		    error, QA_SYSTEM_ERROR_FAILED, code, "Windows refused the shutdown");
	return TRUE;
}

static gboolean
qa_win_sys_get_sleep_states(gboolean *out_has_s3, gboolean *out_has_s4, GError **error)
{
	SYSTEM_POWER_CAPABILITIES caps = {0};

	if (!GetPwrCapabilities(&caps))
		return qa_win_sys_set_error(error,
					    QA_SYSTEM_ERROR_FAILED,
					    GetLastError(),
					    "Cannot read the guest's power capabilities");
	*out_has_s3 = caps.SystemS3;
	/* S4 needs a hibernation file too ("powercfg /hibernate on") */
	*out_has_s4 = caps.SystemS4 && caps.HiberFilePresent;
	return TRUE;
}

static DWORD WINAPI
qa_win_sys_suspend_thread(LPVOID data)
{
	BOOLEAN hibernate = (BOOLEAN)GPOINTER_TO_INT(data);

	if (!SetSuspendState(hibernate, TRUE, FALSE)) {
		g_autofree gchar *reason = g_win32_error_message((gint)GetLastError());

		g_warning("%s failed: %s", hibernate ? "hibernation" : "suspend", reason);
	}
	return 0;
}

static gboolean
qa_win_sys_suspend(gboolean hibernate, GError **error)
{
	HANDLE thread = CreateThread(
	    NULL, 0, qa_win_sys_suspend_thread, GINT_TO_POINTER(hibernate ? 1 : 0), 0, NULL);

	if (thread == NULL)
		return qa_win_sys_set_error(
		    error, QA_SYSTEM_ERROR_FAILED, GetLastError(), "Cannot start the suspend");
	CloseHandle(thread);
	return TRUE;
}

static gboolean
qa_win_sys_set_system_time(gint64 filetime, GError **error)
{
	FILETIME ft = {.dwLowDateTime = (DWORD)filetime, .dwHighDateTime = (DWORD)(filetime >> 32)};
	SYSTEMTIME st;

	if (!FileTimeToSystemTime(&ft, &st))
		return qa_win_sys_set_error(error,
					    QA_SYSTEM_ERROR_INVALID,
					    GetLastError(),
					    "Windows cannot represent the time");
	if (!SetSystemTime(&st))
		return qa_win_sys_set_error(
		    error, QA_SYSTEM_ERROR_FAILED, GetLastError(), "Cannot set the clock");
	return TRUE;
}

static gboolean
qa_win_sys_resync_time(GError **error)
{
	wchar_t command[] = L"w32tm.exe /resync /nowait";
	STARTUPINFOW startup = {.cb = sizeof(startup)};
	PROCESS_INFORMATION process = {0};
	DWORD status = 0;
	DWORD waited;

	if (!CreateProcessW(
		NULL, command, NULL, NULL, FALSE, CREATE_NO_WINDOW, NULL, NULL, &startup, &process))
		return qa_win_sys_set_error(
		    error, QA_SYSTEM_ERROR_FAILED, GetLastError(), "Cannot run w32tm /resync");
	CloseHandle(process.hThread);
	waited = WaitForSingleObject(process.hProcess, QA_WIN_SYS_W32TM_TIMEOUT_MS);
	if (waited != WAIT_OBJECT_0) {
		TerminateProcess(process.hProcess, 1);
		CloseHandle(process.hProcess);
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "w32tm /resync did not finish within %d s; is the Windows Time service "
			    "(w32time) hung?",
			    QA_WIN_SYS_W32TM_TIMEOUT_MS / 1000);
		return FALSE;
	}
	GetExitCodeProcess(process.hProcess, &status);
	CloseHandle(process.hProcess);
	if (status != 0) {
		/* w32tm exits with an HRESULT; the one for a stopped service is worth naming */
		if (status == (DWORD)HRESULT_FROM_WIN32(ERROR_SERVICE_NOT_ACTIVE)) {
			g_set_error(error,
				    QA_SYSTEM_ERROR,
				    QA_SYSTEM_ERROR_FAILED,
				    "Windows Time service not running on the guest");
			return FALSE;
		}
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "w32tm /resync failed with error (0x%lx)",
			    (gulong)status);
		return FALSE;
	}
	return TRUE;
}

static gboolean
qa_win_sys_set_password(const gchar *username, const gchar *password, GError **error)
{
	g_autofree gunichar2 *wuser = g_utf8_to_utf16(username, -1, NULL, NULL, NULL);
	glong wlen = 0;
	gunichar2 *wpassword = g_utf8_to_utf16(password, -1, NULL, &wlen, NULL);
	USER_INFO_1003 info = {.usri1003_password = (LPWSTR)wpassword};
	NET_API_STATUS status;

	if (wuser == NULL || wpassword == NULL) {
		g_free(wpassword);
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_INVALID,
			    "The user name or the password is not valid UTF-8");
		return FALSE;
	}
	status = NetUserSetInfo(NULL, wuser, 1003, (LPBYTE)&info, NULL);
	SecureZeroMemory(wpassword, (gsize)wlen * sizeof(gunichar2));
	g_free(wpassword);
	if (status == NERR_UserNotFound) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_NOT_FOUND,
			    "User '%s' is not a local account of this guest",
			    username);
		return FALSE;
	}
	if (status != NERR_Success) {
		g_autofree gchar *what =
		    g_strdup_printf("Cannot set the password of user '%s'", username);

		return qa_win_sys_set_error(error, QA_SYSTEM_ERROR_FAILED, status, what);
	}
	return TRUE;
}

/* one DEVPROPKEY of @devinst; NULL when it has none */
static guint8 *
qa_win_sys_get_devnode_property(DEVINST devinst, const DEVPROPKEY *key, ULONG *out_size)
{
	DEVPROPTYPE type = 0;
	ULONG size = 0;
	g_autofree guint8 *buf = NULL;

	if (CM_Get_DevNode_PropertyW(devinst, key, &type, NULL, &size, 0) != CR_BUFFER_SMALL ||
	    size == 0)
		return NULL;
	buf = g_malloc0(size + sizeof(gunichar2) * 2);
	if (CM_Get_DevNode_PropertyW(devinst, key, &type, buf, &size, 0) != CR_SUCCESS)
		return NULL;
	*out_size = size;
	return g_steal_pointer(&buf);
}

static gchar *
qa_win_sys_get_devnode_string(DEVINST devinst, const DEVPROPKEY *key)
{
	ULONG size = 0;
	g_autofree guint8 *buf = qa_win_sys_get_devnode_property(devinst, key, &size);

	return buf != NULL ? g_utf16_to_utf8((gunichar2 *)buf, -1, NULL, NULL, NULL) : NULL;
}

static QaWinDevice *
qa_win_sys_device_load(DEVINST devinst)
{
	g_autoptr(QaWinDevice) device = g_new0(QaWinDevice, 1);
	ULONG size = 0;
	g_autofree guint8 *date = NULL;

	/* the first of the hardware ids (a REG_MULTI_SZ) is the most specific */
	device->hardware_id = qa_win_sys_get_devnode_string(devinst, &DEVPKEY_Device_HardwareIds);
	device->driver_name = qa_win_sys_get_devnode_string(devinst, &DEVPKEY_NAME);
	if (device->hardware_id == NULL || device->driver_name == NULL)
		return NULL;
	device->driver_version =
	    qa_win_sys_get_devnode_string(devinst, &DEVPKEY_Device_DriverVersion);
	device->driver_date = -1;
	date = qa_win_sys_get_devnode_property(devinst, &DEVPKEY_Device_DriverDate, &size);
	if (date != NULL && size >= sizeof(FILETIME)) {
		const FILETIME *ft = (const FILETIME *)date;

		device->driver_date = ((gint64)ft->dwHighDateTime << 32) | ft->dwLowDateTime;
	}
	return g_steal_pointer(&device);
}

static GPtrArray *
qa_win_sys_list_pci_devices(GError **error)
{
	g_autoptr(GPtrArray) devices =
	    g_ptr_array_new_with_free_func((GDestroyNotify)qa_win_device_free);
	SP_DEVINFO_DATA data = {.cbSize = sizeof(data)};
	HDEVINFO set = SetupDiGetClassDevsW(NULL, L"PCI", NULL, DIGCF_PRESENT | DIGCF_ALLCLASSES);

	if (set == INVALID_HANDLE_VALUE) {
		qa_win_sys_set_error(
		    error, QA_SYSTEM_ERROR_FAILED, GetLastError(), "Cannot list the PCI devices");
		return NULL;
	}
	for (DWORD i = 0; SetupDiEnumDeviceInfo(set, i, &data); i++) {
		QaWinDevice *device = qa_win_sys_device_load(data.DevInst);

		if (device != NULL)
			g_ptr_array_add(devices, device);
	}
	SetupDiDestroyDeviceInfoList(set);
	return g_steal_pointer(&devices);
}

const QaWinOps *
qa_win_sys_get_real_ops(void)
{
	static const QaWinOps ops = {
	    .enable_privilege = qa_win_sys_enable_privilege,
	    .shutdown = qa_win_sys_shutdown,
	    .get_sleep_states = qa_win_sys_get_sleep_states,
	    .suspend = qa_win_sys_suspend,
	    .set_system_time = qa_win_sys_set_system_time,
	    .resync_time = qa_win_sys_resync_time,
	    .set_password = qa_win_sys_set_password,
	    .list_pci_devices = qa_win_sys_list_pci_devices,
	    .load_counter_open = qa_win_sys_load_counter_open,
	    .load_counter_read = qa_win_sys_load_counter_read,
	    .load_counter_close = qa_win_sys_load_counter_close,
	    .lookup_account = qa_win_sys_lookup_account,
	    .get_program_data_dir = qa_win_sys_get_program_data_dir,
	    .set_security = qa_win_sys_set_security,
	};

	return &ops;
}
