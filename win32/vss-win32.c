/* The real VSS behind QaVssOps: a VSS requester that freezes a snapshot set and holds it.
 *
 * A requester alone cannot hold a freeze: VSS freezes the writers and holds I/O only inside
 * DoSnapshotSet, while the snapshot provider commits. The hold therefore needs a provider that
 * waits in CommitSnapshots until it is told to go on. QEMU's guest agent ships one (qga-vss.dll,
 * "QEMU Guest Agent VSS Provider", installed with the virtio-win guest tools); it talks to its
 * requester through three named events, and this requester speaks the same protocol:
 *
 *   requester: DoSnapshotSet (asynchronous) ........ provider: CommitSnapshots
 *                                                      sets   Global\QGAVSSEvent-frozen
 *   requester: sees "frozen": the freeze is held; reply to the host
 *   requester: thaw: sets Global\QGAVSSEvent-thaw -> provider returns from CommitSnapshots
 *   provider: if VSS's hold limit passed first, it sets Global\QGAVSSEvent-timeout
 *
 * When VSS itself is not there (wine: CreateVssBackupComponents returns E_NOTIMPL) or the
 * provider is not registered, freeze fails with QA_SYSTEM_ERROR_UNSUPPORTED and a message that
 * says so. Only a real Windows guest can exercise this file; the state machine above it is
 * tested against a fake (win32/tests/test-freezer-win32.c). */
#define COBJMACROS
#include "vss-win32.h"

/* <windows.h> first, the VSS headers need its types */
/* clang-format off */
#include <windows.h>
#include <vss.h>
#include <vsbackup.h>
#include <vsserror.h>
/* clang-format on */

#include "qa-error.h"
#include "volumes-win32.h"

#define QA_VSS_EVENT_FROZEN L"Global\\QGAVSSEvent-frozen"
#define QA_VSS_EVENT_THAW L"Global\\QGAVSSEvent-thaw"
#define QA_VSS_EVENT_TIMEOUT L"Global\\QGAVSSEvent-timeout"
#define QA_VSS_FREEZE_TIMEOUT_MS (60 * 1000) /* writers that take longer have failed */
#define QA_VSS_ASYNC_TIMEOUT_MS (60 * 1000)

/* QEMU's provider: {3629d4ed-ee09-4e0e-9a5c-6d8ba2872aef} */
static const GUID qa_vss_qga_provider = {
    0x3629d4ed, 0xee09, 0x4e0e, {0x9a, 0x5c, 0x6d, 0x8b, 0xa2, 0x87, 0x2a, 0xef}};

struct _QaVss {
	IVssBackupComponents *backup; /* while a set is frozen */
	IVssAsync *snapshot;	      /* the DoSnapshotSet in progress */
	HANDLE frozen, thaw, timeout; /* the provider's events */
	HANDLE abort;		      /* qa_vss_abort() */
	gboolean is_com_ready;
};

static gboolean
qa_vss_set_hr_error(GError **error, gint code, const gchar *what, HRESULT hr)
{
	g_autofree gchar *reason = g_win32_error_message((gint)hr);

	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    code,
		    "%s failed (0x%08lx: %s)",
		    what,
		    (unsigned long)hr,
		    reason);
	return FALSE;
}

/* waits for an asynchronous VSS call; its result, or the wait's failure */
static HRESULT
qa_vss_wait_async(IVssAsync *async, DWORD timeout_ms)
{
	HRESULT hr = IVssAsync_Wait(async, timeout_ms);
	HRESULT status = S_OK;

	if (FAILED(hr))
		return hr;
	hr = IVssAsync_QueryStatus(async, &status, NULL);
	if (FAILED(hr))
		return hr;
	if (status == VSS_S_ASYNC_PENDING)
		return HRESULT_FROM_WIN32(ERROR_TIMEOUT);
	return status == VSS_S_ASYNC_FINISHED ? S_OK : status;
}

static HRESULT
qa_vss_call_async(HRESULT hr, IVssAsync *async)
{
	if (FAILED(hr))
		return hr;
	hr = qa_vss_wait_async(async, QA_VSS_ASYNC_TIMEOUT_MS);
	IVssAsync_Release(async);
	return hr;
}

static void
qa_vss_release(QaVss *self)
{
	if (self->snapshot != NULL) {
		IVssAsync_Release(self->snapshot);
		self->snapshot = NULL;
	}
	if (self->backup != NULL) {
		IVssBackupComponents_Release(self->backup);
		self->backup = NULL;
	}
	for (HANDLE *h = &self->frozen; h <= &self->timeout; h++) {
		if (*h != NULL) {
			CloseHandle(*h);
			*h = NULL;
		}
	}
}

static gboolean
qa_vss_com_init(QaVss *self, GError **error)
{
	HRESULT hr = CoInitializeEx(NULL, COINIT_MULTITHREADED);

	if (FAILED(hr) && hr != RPC_E_CHANGED_MODE)
		return qa_vss_set_hr_error(error, QA_SYSTEM_ERROR_FAILED, "CoInitializeEx", hr);
	if (!self->is_com_ready) {
		/* VSS calls back into the requester: it must accept calls from the VSS service */
		hr = CoInitializeSecurity(NULL,
					  -1,
					  NULL,
					  NULL,
					  RPC_C_AUTHN_LEVEL_PKT_PRIVACY,
					  RPC_C_IMP_LEVEL_IDENTIFY,
					  NULL,
					  EOAC_NONE,
					  NULL);
		if (FAILED(hr) && hr != RPC_E_TOO_LATE)
			return qa_vss_set_hr_error(
			    error, QA_SYSTEM_ERROR_FAILED, "CoInitializeSecurity", hr);
		self->is_com_ready = TRUE;
	}
	return TRUE;
}

static HANDLE
qa_vss_event(const wchar_t *name)
{
	return CreateEventW(NULL, TRUE, FALSE, name);
}

/* the requester's side up to DoSnapshotSet, which is left running */
static gboolean
qa_vss_start(QaVss *self, GPtrArray *volumes, GError **error)
{
	VSS_ID set_id;
	HRESULT hr;
	IVssAsync *async = NULL;

	hr = CreateVssBackupComponents(&self->backup);
	if (FAILED(hr)) {
		self->backup = NULL;
		qa_vss_set_hr_error(
		    error,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "VSS is not available on this system: CreateVssBackupComponents",
		    hr);
		g_prefix_error(error, "Cannot freeze: ");
		return FALSE;
	}
	hr = IVssBackupComponents_InitializeForBackup(self->backup, NULL);
	if (SUCCEEDED(hr))
		hr = IVssBackupComponents_SetContext(
		    self->backup,
		    VSS_CTX_APP_ROLLBACK | VSS_VOLSNAP_ATTR_TRANSPORTABLE |
			VSS_VOLSNAP_ATTR_NO_AUTORECOVERY | VSS_VOLSNAP_ATTR_TXF_RECOVERY);
	if (SUCCEEDED(hr))
		hr = IVssBackupComponents_SetBackupState(
		    self->backup, FALSE, TRUE, VSS_BT_FULL, FALSE);
	if (SUCCEEDED(hr))
		hr = qa_vss_call_async(
		    IVssBackupComponents_GatherWriterMetadata(self->backup, &async), async);
	if (FAILED(hr))
		return qa_vss_set_hr_error(
		    error, QA_SYSTEM_ERROR_FAILED, "preparing the VSS backup", hr);
	hr = IVssBackupComponents_StartSnapshotSet(self->backup, &set_id);
	if (FAILED(hr))
		return qa_vss_set_hr_error(error, QA_SYSTEM_ERROR_FAILED, "StartSnapshotSet", hr);
	for (guint i = 0; i < volumes->len; i++) {
		const gchar *path = g_ptr_array_index(volumes, i);
		g_autofree gchar *guid = qa_win_volumes_get_guid_path(path, error);
		g_autofree gunichar2 *guid_w = NULL;
		VSS_ID snapshot_id;

		if (guid == NULL)
			return FALSE;
		guid_w = g_utf8_to_utf16(guid, -1, NULL, NULL, NULL);
		hr = IVssBackupComponents_AddToSnapshotSet(
		    self->backup, guid_w, qa_vss_qga_provider, &snapshot_id);
		if (hr == (HRESULT)VSS_E_PROVIDER_NOT_REGISTERED) {
			g_set_error(
			    error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_UNSUPPORTED,
			    "Cannot freeze: the VSS provider that holds a freeze (\"QEMU "
			    "Guest Agent VSS Provider\" from the virtio-win guest tools) is "
			    "not registered.");
			return FALSE;
		}
		if (FAILED(hr)) {
			qa_vss_set_hr_error(error, QA_SYSTEM_ERROR_FAILED, "AddToSnapshotSet", hr);
			g_prefix_error(error, "cannot freeze '%s': ", path);
			return FALSE;
		}
	}
	hr = qa_vss_call_async(IVssBackupComponents_PrepareForBackup(self->backup, &async), async);
	if (FAILED(hr))
		return qa_vss_set_hr_error(error, QA_SYSTEM_ERROR_FAILED, "PrepareForBackup", hr);
	self->frozen = qa_vss_event(QA_VSS_EVENT_FROZEN);
	self->thaw = qa_vss_event(QA_VSS_EVENT_THAW);
	self->timeout = qa_vss_event(QA_VSS_EVENT_TIMEOUT);
	if (self->frozen == NULL || self->thaw == NULL || self->timeout == NULL)
		return qa_vss_set_hr_error(error,
					   QA_SYSTEM_ERROR_FAILED,
					   "creating the provider's events",
					   HRESULT_FROM_WIN32(GetLastError()));
	ResetEvent(self->frozen);
	ResetEvent(self->thaw);
	ResetEvent(self->timeout);
	hr = IVssBackupComponents_DoSnapshotSet(self->backup, &self->snapshot);
	if (FAILED(hr)) {
		self->snapshot = NULL;
		return qa_vss_set_hr_error(error, QA_SYSTEM_ERROR_FAILED, "DoSnapshotSet", hr);
	}
	return TRUE;
}

/* what DoSnapshotSet's failure means to an operator */
static gboolean
qa_vss_set_snapshot_error(GError **error, HRESULT hr)
{
	if (hr == (HRESULT)VSS_E_FLUSH_WRITES_TIMEOUT || hr == (HRESULT)VSS_E_HOLD_WRITES_TIMEOUT)
		return qa_vss_set_hr_error(error,
					   QA_SYSTEM_ERROR_FAILED,
					   "VSS could not hold writes within its limit",
					   hr);
	if (hr == (HRESULT)VSS_E_WRITERERROR_TIMEOUT ||
	    hr == (HRESULT)VSS_E_WRITERERROR_RETRYABLE ||
	    hr == (HRESULT)VSS_E_WRITERERROR_NONRETRYABLE)
		return qa_vss_set_hr_error(
		    error, QA_SYSTEM_ERROR_FAILED, "a VSS writer failed to freeze", hr);
	return qa_vss_set_hr_error(error, QA_SYSTEM_ERROR_FAILED, "DoSnapshotSet", hr);
}

static gboolean
qa_vss_freeze(gpointer data, GPtrArray *volumes, GError **error)
{
	QaVss *self = data;
	HANDLE waits[2];
	DWORD which;

	if (!qa_vss_com_init(self, error))
		return FALSE;
	ResetEvent(self->abort);
	if (!qa_vss_start(self, volumes, error)) {
		if (self->backup != NULL)
			IVssBackupComponents_AbortBackup(self->backup);
		qa_vss_release(self);
		return FALSE;
	}
	/* frozen when the provider says so; DoSnapshotSet ending first means it failed (or the
	 * provider did not hold), which IVssAsync can only be asked, not waited on with others */
	waits[0] = self->frozen;
	waits[1] = self->abort;
	for (guint waited = 0;; waited += 200) {
		HRESULT hr;

		which = WaitForMultipleObjects(2, waits, FALSE, 200);
		if (which == WAIT_OBJECT_0)
			return TRUE;
		if (which == WAIT_OBJECT_0 + 1) {
			g_set_error(error,
				    QA_SYSTEM_ERROR,
				    QA_SYSTEM_ERROR_FAILED,
				    "The freeze was aborted (the agent is stopping).");
			break;
		}
		hr = qa_vss_wait_async(self->snapshot, 0);
		if (hr != HRESULT_FROM_WIN32(ERROR_TIMEOUT)) {
			if (FAILED(hr))
				qa_vss_set_snapshot_error(error, hr);
			else
				g_set_error(
				    error,
				    QA_SYSTEM_ERROR,
				    QA_SYSTEM_ERROR_FAILED,
				    "VSS finished the snapshot without the provider holding "
				    "the freeze.");
			break;
		}
		if (waited >= QA_VSS_FREEZE_TIMEOUT_MS) {
			g_set_error(error,
				    QA_SYSTEM_ERROR,
				    QA_SYSTEM_ERROR_FAILED,
				    "VSS did not freeze the volumes within %u s.",
				    QA_VSS_FREEZE_TIMEOUT_MS / 1000);
			break;
		}
	}
	IVssAsync_Cancel(self->snapshot);
	IVssBackupComponents_AbortBackup(self->backup);
	qa_vss_release(self);
	return FALSE;
}

static gboolean
qa_vss_thaw(gpointer data, GError **error)
{
	QaVss *self = data;
	gboolean held_to_the_end;
	HRESULT hr;
	IVssAsync *async = NULL;
	gboolean ok = TRUE;

	if (self->backup == NULL)
		return TRUE;
	/* the provider sets "timeout" when VSS's hold limit ended the hold before now */
	held_to_the_end = WaitForSingleObject(self->timeout, 0) != WAIT_OBJECT_0;
	SetEvent(self->thaw);
	hr = qa_vss_wait_async(self->snapshot, QA_VSS_ASYNC_TIMEOUT_MS);
	if (!held_to_the_end || hr == (HRESULT)VSS_E_HOLD_WRITES_TIMEOUT ||
	    hr == (HRESULT)VSS_E_FLUSH_WRITES_TIMEOUT) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "The volumes are thawed, but VSS had ended the hold before the thaw "
			    "(VSS holds writes for about 10 s): a snapshot taken after that may "
			    "not be consistent.");
		ok = FALSE;
	} else if (FAILED(hr)) {
		qa_vss_set_snapshot_error(error, hr);
		g_prefix_error(error, "The volumes are thawed, but: ");
		ok = FALSE;
	}
	if (SUCCEEDED(hr))
		qa_vss_call_async(IVssBackupComponents_BackupComplete(self->backup, &async), async);
	else
		IVssBackupComponents_AbortBackup(self->backup);
	qa_vss_release(self);
	return ok;
}

static void
qa_vss_abort(gpointer data)
{
	QaVss *self = data;

	SetEvent(self->abort);
}

static GPtrArray *
qa_vss_list_volumes(gpointer data, GError **error)
{
	g_autoptr(GPtrArray) volumes = qa_win_volumes_load(FALSE, error);
	g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);

	if (volumes == NULL)
		return NULL;
	/* VSS snapshots fixed disks; one mount path per volume names it */
	for (guint i = 0; i < volumes->len; i++) {
		const QaWinVolume *volume = g_ptr_array_index(volumes, i);

		if (volume->drive_type != DRIVE_FIXED || volume->paths->len == 0)
			continue;
		g_ptr_array_add(paths, g_strdup(g_ptr_array_index(volume->paths, 0)));
	}
	return g_steal_pointer(&paths);
}

static gchar *
qa_vss_resolve(gpointer data, const gchar *path, GError **error)
{
	return qa_win_volumes_resolve(path, error);
}

static const QaVssOps qa_vss_ops = {
    .list_volumes = qa_vss_list_volumes,
    .resolve = qa_vss_resolve,
    .freeze = qa_vss_freeze,
    .thaw = qa_vss_thaw,
    .abort = qa_vss_abort,
};

QaVss *
qa_vss_new(void)
{
	QaVss *self = g_new0(QaVss, 1);

	self->abort = CreateEventW(NULL, TRUE, FALSE, NULL);
	return self;
}

void
qa_vss_free(QaVss *self)
{
	if (self == NULL)
		return;
	qa_vss_release(self);
	CloseHandle(self->abort);
	g_free(self);
}

const QaVssOps *
qa_vss_get_ops(void)
{
	return &qa_vss_ops;
}
