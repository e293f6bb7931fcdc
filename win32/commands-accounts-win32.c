/* guest-set-user-password and guest-get-vcpus on Windows.
 *
 * The password: the shared checks of agent/system/accounts-input.c (user name, base64, no NUL
 * or line end, not empty, at most 4096 bytes), then NetUserSetInfo on a local account through
 * QaWinOps. A crypted password is refused, as QEMU's Windows agent refuses it: Windows takes
 * only the password itself. The password is never logged and is cleared after use. Runs on
 * the system lane ('blocking'): NetUserSetInfo may wait on the SAM or a domain controller.
 *
 * The vCPUs: every logical processor of every processor group, online, never offlinable (as
 * QEMU's agent reports them: Windows cannot take a processor offline). */
#include <windows.h>

#include "accounts.h"
#include "agent.h"
#include "qa-error.h"
#include "qa-schema.h"
#include "system-win32.h"

gboolean
qa_cmd_guest_set_user_password(QaAgent *agent,
			       const QaGuestSetUserPasswordArgs *args,
			       GError **error)
{
	g_autoptr(QaAccountsSecret) password = NULL;

	if (args->crypted) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_UNSUPPORTED,
			    "'crypted' must be off on this host");
		return FALSE;
	}
	if (!qa_accounts_check_username(args->username, error))
		return FALSE;
	password = qa_accounts_secret_decode(args->password, error);
	if (password == NULL) {
		g_prefix_error(error, "The password is not valid base64: ");
		return FALSE;
	}
	if (!qa_accounts_check_password(password, FALSE, error))
		return FALSE;
	if (!g_utf8_validate((const gchar *)password->data, (gssize)password->len, NULL)) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_INVALID,
			    "The password is not valid UTF-8; Windows takes Unicode passwords");
		return FALSE;
	}
	if (!agent->win_ops->set_password(args->username, (const gchar *)password->data, error))
		return FALSE;
	g_message("password set user=%s", args->username);
	return TRUE;
}

gboolean
qa_cmd_guest_get_vcpus(QaAgent *agent, GPtrArray **out_ret, GError **error)
{
	DWORD count = GetActiveProcessorCount(ALL_PROCESSOR_GROUPS);
	g_autoptr(GPtrArray) ret = NULL;

	if (count == 0) {
		g_set_error(
		    error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_FAILED, "Windows reports no processor");
		return FALSE;
	}
	ret = qa_guest_logical_processor_list_new();
	for (DWORD i = 0; i < count; i++) {
		QaGuestLogicalProcessor *cpu = qa_guest_logical_processor_new();

		cpu->logical_id = i;
		cpu->online = TRUE;
		cpu->has_can_offline = TRUE;
		cpu->can_offline = FALSE;
		g_ptr_array_add(ret, cpu);
	}
	*out_ret = g_steal_pointer(&ret);
	return TRUE;
}
