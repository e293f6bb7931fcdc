/* Local accounts, as the host manages them: a user's password (set with chpasswd(8)) and the
 * OpenSSH public keys in ~user/.ssh/authorized_keys.
 *
 * Everything the host sends is checked before anything is touched (the qa_accounts_check_*()
 * functions and the authorized_keys text logic are pure). The file work is done with the
 * user's own file-system identity (fsuid, fsgid and groups of the calling thread only), from
 * descriptors of directories that were opened without following a symbolic link: a link or a
 * file the user planted in their home leads nowhere the user could not write anyway, and the
 * explicit checks say what was refused. */
#pragma once

#include <glib.h>
#include <sys/types.h>

#include "child.h"

/* ---- pure: what the host sends -------------------------------------------------------------- */

/* Refuses a user name that is empty, over 256 bytes, starts with '-' (an option to the tools
 * that get it), or holds ':' (chpasswd's separator) or a control character (a line end would
 * start a second chpasswd line). */
gboolean
qa_accounts_check_username(const gchar *name, GError **error);

/* Bytes that must not outlive their use: cleared before they are freed. */
typedef struct {
	guint8 *data; /* NUL-terminated for convenience, not counted in @len */
	gsize len;
} QaAccountsSecret;

QaAccountsSecret *
qa_accounts_secret_new(gsize len);
/* the password the host sent, base64 with line ends allowed (qa_base64_decode()) */
QaAccountsSecret *
qa_accounts_secret_decode(const gchar *base64, GError **error);
void
qa_accounts_secret_free(QaAccountsSecret *secret);

/* Refuses a password chpasswd could not take as one line (a NUL or a line end), an empty one,
 * one over 4096 bytes, and with @is_crypted anything that is not a crypt(3) string (a ':' in
 * it would add fields to /etc/shadow). Messages never contain the password. */
gboolean
qa_accounts_check_password(const QaAccountsSecret *password, gboolean is_crypted, GError **error);
/* a crypt(3) string: "$id$[params$]salt$hash", 13-character DES, 20-character "_" extended
 * DES, "*", each optionally locked with leading '!' (also "!" alone) */
gboolean
qa_accounts_check_crypted(const gchar *hash, GError **error);

/* Refuses anything but one OpenSSH public key line, "[options] keytype base64-key [comment]":
 * no control characters but tabs, not a comment, a key type that is an SSH algorithm name and
 * a base64 key whose wire format starts with that same name. Surrounding blanks are allowed
 * (they are not stored). The message names the key by its first 40 characters. */
gboolean
qa_accounts_check_key(const gchar *key, GError **error);
/* what a key to remove must be: one line of text that is not blank or a comment (a malformed
 * line already in the file can still be removed) */
gboolean
qa_accounts_check_key_to_remove(const gchar *key, GError **error);

/* The keys of @keys (of gchar *) that are not blank, borrowed: a key file split on its line
 * ends (virsh set-user-sshkeys) has an empty last key, which is skipped as qemu-ga skips it. */
GPtrArray *
qa_accounts_keys_nonblank(const GPtrArray *keys);
/* qa_accounts_check_key() (or with @is_removal qa_accounts_check_key_to_remove()) on each of
 * @keys: the first that is not valid fails */
gboolean
qa_accounts_check_keys(const GPtrArray *keys, gboolean is_removal, GError **error);

/* ---- pure: authorized_keys text ------------------------------------------------------------- */

/* the keys of an authorized_keys text, in file order: each line stripped of surrounding
 * blanks, blank lines and comments left out (owning array) */
GPtrArray *
qa_accounts_keys_parse(const gchar *text);
/* @text (NULL: no file, or a reset) with each of @keys appended that it does not hold yet
 * (lines compared without surrounding blanks); every line ends with '\n' */
gchar *
qa_accounts_keys_add(const gchar *text, const gchar *const *keys, guint n_keys);
/* @text without the lines that are one of @keys; the other lines (comments included) stay as
 * they are. @out_n_removed counts the lines taken out. */
gchar *
qa_accounts_keys_remove(const gchar *text,
			const gchar *const *keys,
			guint n_keys,
			guint *out_n_removed);

/* ---- the system (Linux; win32/commands-accounts-win32.c has Windows' own) ------------------ */

#ifndef G_OS_WIN32
typedef struct {
	gchar *name;
	uid_t uid;
	gid_t gid; /* primary group */
	gchar *home;
	gid_t *groups; /* every group of the user, the primary one included */
	guint n_groups;
} QaAccountsUser;

/* the user from the passwd database (getpwnam_r, so NSS users too); NOT_FOUND when there is
 * none */
QaAccountsUser *
qa_accounts_user_load(const gchar *name, GError **error);
void
qa_accounts_user_free(QaAccountsUser *user);

/* "@username:@password\n", the line chpasswd reads */
QaAccountsSecret *
qa_accounts_chpasswd_line(const gchar *username, const QaAccountsSecret *password);
/* what chpasswd's end means: an error naming how it ended, with its output, which is left out
 * when it contains @password */
gboolean
qa_accounts_chpasswd_check(const gchar *username,
			   const QaChildSpec *spec,
			   const QaChildResult *result,
			   const QaAccountsSecret *password,
			   GError **error);
/* chpasswd (-e when @is_crypted) with that line on its stdin (system/child.h: a pipe, a clean
 * child, a timeout); the arguments are checked already */
gboolean
qa_accounts_set_password(const gchar *username,
			 const QaAccountsSecret *password,
			 gboolean is_crypted,
			 GError **error);

/* A user's ~/.ssh, held open. */
typedef struct _QaAccountsSshDir QaAccountsSshDir;

/* Opens @user's ~/.ssh. The home directory is reached through directories and links only root
 * can change, and is itself a directory (not a link) owned by the user or root; ~/.ssh must be
 * a directory (not a link) owned by the user. Without it, @create makes it (0700, the user's);
 * else TRUE with *@out_dir NULL. */
gboolean
qa_accounts_ssh_dir_open(const QaAccountsUser *user,
			 gboolean create,
			 QaAccountsSshDir **out_dir,
			 GError **error);
void
qa_accounts_ssh_dir_free(QaAccountsSshDir *dir);
/* "<home>/.ssh/authorized_keys", for messages */
const gchar *
qa_accounts_ssh_dir_get_keys_path(const QaAccountsSshDir *dir);
/* The text of authorized_keys (at most 1 MiB), or TRUE with *@out_text NULL when there is no
 * such file. A link, anything but a regular file, a file of another owner is refused. */
gboolean
qa_accounts_ssh_dir_read_keys(QaAccountsSshDir *dir, gchar **out_text, GError **error);
/* Replaces authorized_keys by @text atomically: a new file (0600, the user's) written and
 * synced beside it, then renamed over it. An authorized_keys that is a link, not a regular
 * file or of another owner is refused and left alone. */
gboolean
qa_accounts_ssh_dir_write_keys(QaAccountsSshDir *dir, const gchar *text, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaAccountsUser, qa_accounts_user_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaAccountsSshDir, qa_accounts_ssh_dir_free)
#endif

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaAccountsSecret, qa_accounts_secret_free)
