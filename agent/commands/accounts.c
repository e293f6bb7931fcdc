/* guest-set-user-password and guest-ssh-{get,add,remove}-authorized-keys: every argument is
 * checked before anything is looked up or touched, then system/accounts.c does the work (the
 * password through chpasswd's stdin, the keys with the user's own file identity, without
 * following links). All four run on the dispatcher's system thread ('blocking'): they run a
 * program, ask NSS and write files in homes that may be on a network filesystem. */
#include "accounts.h"

#include "agent.h"
#include "frozen-guard.h"
#include "qa-error.h"
#include "qa-schema.h"

gboolean
qa_cmd_guest_set_user_password(QaAgent *agent,
			       const QaGuestSetUserPasswordArgs *args,
			       GError **error)
{
	g_autoptr(QaAccountsSecret) password = NULL;
	g_autoptr(QaAccountsUser) user = NULL;

	if (!qa_accounts_check_username(args->username, error))
		return FALSE;
	password = qa_accounts_secret_decode(args->password, error);
	if (password == NULL) {
		g_prefix_error(error, "The password is not valid base64: ");
		return FALSE;
	}
	if (!qa_accounts_check_password(password, args->crypted, error))
		return FALSE;
	user = qa_accounts_user_load(args->username, error);
	if (user == NULL)
		return FALSE;
	if (!qa_frozen_guard_check_path(
		agent->freezer, agent->roots, "/etc/shadow", "set the password", error))
		return FALSE;
	if (!qa_accounts_set_password(args->username, password, args->crypted, error))
		return FALSE;
	g_message("password set user=%s crypted=%s", user->name, args->crypted ? "yes" : "no");
	return TRUE;
}

gboolean
qa_cmd_guest_ssh_get_authorized_keys(QaAgent *agent,
				     const QaGuestSshGetAuthorizedKeysArgs *args,
				     QaGuestAuthorizedKeys **out_ret,
				     GError **error)
{
	g_autoptr(QaAccountsUser) user = NULL;
	g_autoptr(QaAccountsSshDir) dir = NULL;
	g_autoptr(QaGuestAuthorizedKeys) ret = qa_guest_authorized_keys_new();
	g_autofree gchar *text = NULL;

	if (!qa_accounts_check_username(args->username, error))
		return FALSE;
	user = qa_accounts_user_load(args->username, error);
	if (user == NULL || !qa_accounts_ssh_dir_open(user, FALSE, &dir, error))
		return FALSE;
	if (dir != NULL && !qa_accounts_ssh_dir_read_keys(dir, &text, error))
		return FALSE;
	if (text == NULL) {
		/* qemu-ga fails the same way (libvirt reports it), with the text of ENOENT */
		g_autofree gchar *path =
		    g_build_filename(user->home, ".ssh", "authorized_keys", NULL);
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_NOT_FOUND,
			    "Cannot read '%s': No such file or directory",
			    path);
		return FALSE;
	}
	g_clear_pointer(&ret->keys, g_ptr_array_unref);
	ret->keys = qa_accounts_keys_parse(text);
	*out_ret = g_steal_pointer(&ret);
	return TRUE;
}

gboolean
qa_cmd_guest_ssh_add_authorized_keys(QaAgent *agent,
				     const QaGuestSshAddAuthorizedKeysArgs *args,
				     GError **error)
{
	g_autoptr(QaAccountsUser) user = NULL;
	g_autoptr(QaAccountsSshDir) dir = NULL;
	g_autofree gchar *ssh_path = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *new_text = NULL;
	gboolean is_reset = args->has_reset && args->reset;
	g_autoptr(GPtrArray) keys = qa_accounts_keys_nonblank(args->keys);
	guint n_keys = keys->len;

	if (!qa_accounts_check_username(args->username, error) ||
	    !qa_accounts_check_keys(keys, FALSE, error))
		return FALSE;
	user = qa_accounts_user_load(args->username, error);
	if (user == NULL)
		return FALSE;
	ssh_path = g_build_filename(user->home, ".ssh", NULL);
	if (!qa_frozen_guard_check_path(
		agent->freezer, agent->roots, ssh_path, "add SSH keys", error))
		return FALSE;
	if (!qa_accounts_ssh_dir_open(user, TRUE, &dir, error))
		return FALSE;
	if (!is_reset && !qa_accounts_ssh_dir_read_keys(dir, &text, error))
		return FALSE;
	new_text = qa_accounts_keys_add(
	    text, n_keys > 0 ? (const gchar *const *)keys->pdata : NULL, n_keys);
	if (!qa_accounts_ssh_dir_write_keys(dir, new_text, error))
		return FALSE;
	g_message(
	    "ssh keys added user=%s keys=%u reset=%s", user->name, n_keys, is_reset ? "yes" : "no");
	return TRUE;
}

gboolean
qa_cmd_guest_ssh_remove_authorized_keys(QaAgent *agent,
					const QaGuestSshRemoveAuthorizedKeysArgs *args,
					GError **error)
{
	g_autoptr(QaAccountsUser) user = NULL;
	g_autoptr(QaAccountsSshDir) dir = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *new_text = NULL;
	g_autoptr(GPtrArray) keys = qa_accounts_keys_nonblank(args->keys);
	guint n_keys = keys->len;
	guint n_removed = 0;

	if (!qa_accounts_check_username(args->username, error) ||
	    !qa_accounts_check_keys(keys, TRUE, error))
		return FALSE;
	user = qa_accounts_user_load(args->username, error);
	if (user == NULL || !qa_accounts_ssh_dir_open(user, FALSE, &dir, error))
		return FALSE;
	/* no ~/.ssh or no authorized_keys: nothing to remove, as qemu-ga says */
	if (dir == NULL)
		return TRUE;
	if (!qa_accounts_ssh_dir_read_keys(dir, &text, error))
		return FALSE;
	if (text == NULL)
		return TRUE;
	new_text = qa_accounts_keys_remove(
	    text, n_keys > 0 ? (const gchar *const *)keys->pdata : NULL, n_keys, &n_removed);
	/* nothing matched: the file stays untouched (qemu-ga rewrites it the same) */
	if (n_removed == 0)
		return TRUE;
	if (!qa_frozen_guard_check_path(agent->freezer,
					agent->roots,
					qa_accounts_ssh_dir_get_keys_path(dir),
					"remove SSH keys",
					error) ||
	    !qa_accounts_ssh_dir_write_keys(dir, new_text, error))
		return FALSE;
	g_message("ssh keys removed user=%s lines=%u", user->name, n_removed);
	return TRUE;
}
