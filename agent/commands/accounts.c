/* guest-set-user-password, guest-ssh-get-authorized-keys, guest-ssh-add-authorized-keys,
 * guest-ssh-remove-authorized-keys: not implemented yet. */
#include "agent.h"
#include "qa-error.h"
#include "qa-schema.h"

gboolean
qa_cmd_guest_set_user_password(QaAgent *agent,
			       const QaGuestSetUserPasswordArgs *args,
			       GError **error)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "%s is not implemented yet",
		    "guest-set-user-password");
	return FALSE;
}

gboolean
qa_cmd_guest_ssh_get_authorized_keys(QaAgent *agent,
				     const QaGuestSshGetAuthorizedKeysArgs *args,
				     QaGuestAuthorizedKeys **out_ret,
				     GError **error)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "%s is not implemented yet",
		    "guest-ssh-get-authorized-keys");
	return FALSE;
}

gboolean
qa_cmd_guest_ssh_add_authorized_keys(QaAgent *agent,
				     const QaGuestSshAddAuthorizedKeysArgs *args,
				     GError **error)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "%s is not implemented yet",
		    "guest-ssh-add-authorized-keys");
	return FALSE;
}

gboolean
qa_cmd_guest_ssh_remove_authorized_keys(QaAgent *agent,
					const QaGuestSshRemoveAuthorizedKeysArgs *args,
					GError **error)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "%s is not implemented yet",
		    "guest-ssh-remove-authorized-keys");
	return FALSE;
}
