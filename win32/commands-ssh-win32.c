/* guest-ssh-get-authorized-keys, guest-ssh-add-authorized-keys and
 * guest-ssh-remove-authorized-keys on Windows (ssh-keys-win32.h: which file, its DACL). The
 * arguments are checked as on Linux, by the same functions and with the same messages, before
 * anything is looked up; the text is merged or filtered by the same pure functions. All three
 * are 'blocking' (the system thread): they ask the account database, which may be a domain
 * controller, and write files.
 *
 * Differences from qemu-ga's Windows commands, all as this agent's Linux commands do: a missing
 * file is no error for a removal; blank and comment lines stay where they are; keys are checked
 * to be OpenSSH public keys; the file is replaced atomically, its DACL set before it holds
 * keys; reparse points are refused; the profile directory is the one Windows recorded for the
 * user's SID (qemu-ga assumes <profiles>\<user name>). */
#include "accounts.h"
#include "agent.h"
#include "frozen-guard.h"
#include "qa-error.h"
#include "qa-schema.h"
#include "ssh-keys-win32.h"
#include "system-win32.h"

/* the account of @username and where its keys are; NULL and an error when it has none */
static QaWinSshPlace *
qa_win_ssh_cmd_locate(QaAgent *agent,
		      const gchar *username,
		      QaWinAccount **out_account,
		      GError **error)
{
	g_autoptr(QaWinAccount) account = NULL;
	g_autofree gchar *program_data = NULL;

	if (!qa_accounts_check_username(username, error))
		return NULL;
	account = agent->win_ops->lookup_account(username, error);
	if (account == NULL)
		return NULL;
	if (account->is_admin) {
		program_data = agent->win_ops->get_program_data_dir(error);
		if (program_data == NULL)
			return NULL;
	}
	*out_account = g_steal_pointer(&account);
	return qa_win_ssh_place_new(
	    (*out_account)->is_admin, (*out_account)->profile_dir, program_data);
}

gboolean
qa_cmd_guest_ssh_get_authorized_keys(QaAgent *agent,
				     const QaGuestSshGetAuthorizedKeysArgs *args,
				     QaGuestAuthorizedKeys **out_ret,
				     GError **error)
{
	g_autoptr(QaWinAccount) account = NULL;
	g_autoptr(QaWinSshPlace) place = NULL;
	g_autoptr(QaWinSshDir) dir = NULL;
	g_autoptr(QaGuestAuthorizedKeys) ret = qa_guest_authorized_keys_new();
	g_autofree gchar *text = NULL;

	place = qa_win_ssh_cmd_locate(agent, args->username, &account, error);
	if (place == NULL || !qa_win_ssh_dir_open(agent->win_ops, place, NULL, &dir, error))
		return FALSE;
	if (dir != NULL && !qa_win_ssh_dir_read_keys(dir, &text, error))
		return FALSE;
	if (text == NULL) {
		/* as on Linux and in qemu-ga: no file is an error */
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_NOT_FOUND,
			    "Cannot read '%s': No such file or directory",
			    place->path);
		return FALSE;
	}
	g_clear_pointer(&ret->keys, g_ptr_array_unref);
	ret->keys = qa_accounts_keys_parse(text);
	*out_ret = g_steal_pointer(&ret);
	return TRUE;
}

/* the DACLs of what the agent creates for @account */
static gboolean
qa_win_ssh_cmd_sddls(const QaWinAccount *account,
		     gchar **out_dir_sddl,
		     gchar **out_file_sddl,
		     GError **error)
{
	*out_dir_sddl = qa_win_ssh_sddl(account->is_admin, account->sid, TRUE);
	*out_file_sddl = qa_win_ssh_sddl(account->is_admin, account->sid, FALSE);
	if (*out_dir_sddl == NULL || *out_file_sddl == NULL) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Windows gave the user the SID '%s'; expected 'S-1-...'",
			    account->sid);
		return FALSE;
	}
	return TRUE;
}

gboolean
qa_cmd_guest_ssh_add_authorized_keys(QaAgent *agent,
				     const QaGuestSshAddAuthorizedKeysArgs *args,
				     GError **error)
{
	g_autoptr(QaWinAccount) account = NULL;
	g_autoptr(QaWinSshPlace) place = NULL;
	g_autoptr(QaWinSshDir) dir = NULL;
	g_autofree gchar *dir_sddl = NULL;
	g_autofree gchar *file_sddl = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *new_text = NULL;
	gboolean is_reset = args->has_reset && args->reset;
	g_autoptr(GPtrArray) keys = qa_accounts_keys_nonblank(args->keys);

	if (!qa_accounts_check_username(args->username, error) ||
	    !qa_accounts_check_keys(keys, FALSE, error))
		return FALSE;
	place = qa_win_ssh_cmd_locate(agent, args->username, &account, error);
	if (place == NULL || !qa_win_ssh_cmd_sddls(account, &dir_sddl, &file_sddl, error))
		return FALSE;
	if (!account->is_admin && !g_file_test(account->profile_dir, G_FILE_TEST_IS_DIR)) {
		/* creating it would make Windows give the user another one at the first logon */
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_NOT_FOUND,
			    "The profile directory '%s' of user '%s' does not exist; expected the "
			    "user to have logged on once",
			    account->profile_dir,
			    args->username);
		return FALSE;
	}
	if (!qa_frozen_guard_check_path(
		agent->freezer, agent->roots, place->path, "add SSH keys", error) ||
	    !qa_win_ssh_dir_open(agent->win_ops, place, dir_sddl, &dir, error))
		return FALSE;
	if (!is_reset && !qa_win_ssh_dir_read_keys(dir, &text, error))
		return FALSE;
	new_text = qa_accounts_keys_add(
	    text, keys->len > 0 ? (const gchar *const *)keys->pdata : NULL, keys->len);
	if (!qa_win_ssh_dir_write_keys(dir, new_text, file_sddl, error))
		return FALSE;
	g_message("ssh keys added user=%s file=%s keys=%u reset=%s",
		  args->username,
		  place->path,
		  keys->len,
		  is_reset ? "yes" : "no");
	return TRUE;
}

gboolean
qa_cmd_guest_ssh_remove_authorized_keys(QaAgent *agent,
					const QaGuestSshRemoveAuthorizedKeysArgs *args,
					GError **error)
{
	g_autoptr(QaWinAccount) account = NULL;
	g_autoptr(QaWinSshPlace) place = NULL;
	g_autoptr(QaWinSshDir) dir = NULL;
	g_autofree gchar *dir_sddl = NULL;
	g_autofree gchar *file_sddl = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *new_text = NULL;
	g_autoptr(GPtrArray) keys = qa_accounts_keys_nonblank(args->keys);
	guint n_removed = 0;

	if (!qa_accounts_check_username(args->username, error) ||
	    !qa_accounts_check_keys(keys, TRUE, error))
		return FALSE;
	place = qa_win_ssh_cmd_locate(agent, args->username, &account, error);
	if (place == NULL || !qa_win_ssh_cmd_sddls(account, &dir_sddl, &file_sddl, error) ||
	    !qa_win_ssh_dir_open(agent->win_ops, place, NULL, &dir, error))
		return FALSE;
	/* no directory or no file: nothing to remove, as on Linux */
	if (dir == NULL)
		return TRUE;
	if (!qa_win_ssh_dir_read_keys(dir, &text, error))
		return FALSE;
	if (text == NULL)
		return TRUE;
	new_text = qa_accounts_keys_remove(
	    text, keys->len > 0 ? (const gchar *const *)keys->pdata : NULL, keys->len, &n_removed);
	if (n_removed == 0)
		return TRUE;
	if (!qa_frozen_guard_check_path(
		agent->freezer, agent->roots, place->path, "remove SSH keys", error) ||
	    !qa_win_ssh_dir_write_keys(dir, new_text, file_sddl, error))
		return FALSE;
	g_message(
	    "ssh keys removed user=%s file=%s lines=%u", args->username, place->path, n_removed);
	return TRUE;
}
