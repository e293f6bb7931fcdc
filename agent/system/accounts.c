#include "accounts.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base64.h"
#include "child.h"
#include "qa-error.h"
#include "qa-fd.h"

#define QA_ACCOUNTS_NAME_MAX 256
/* chpasswd reads lines into a buffer of BUFSIZ (8 KiB): name, ':' and password must fit */
#define QA_ACCOUNTS_PASSWORD_MAX 4096
#define QA_ACCOUNTS_KEY_MAX (64 * 1024)
/* OpenSSH's SSH_MAX_PUBKEY_BYTES */
#define QA_ACCOUNTS_BLOB_MAX (16 * 1024)
/* an SSH algorithm name (RFC 4251 section 6) */
#define QA_ACCOUNTS_KEY_TYPE_MAX 64
#define QA_ACCOUNTS_KEY_SHOWN 40
#define QA_ACCOUNTS_KEYS_FILE_MAX (1024 * 1024)
#define QA_ACCOUNTS_LINKS_MAX 40
#define QA_ACCOUNTS_KEYS_NAME "authorized_keys"

/* ---- user names and passwords --------------------------------------------------------------- */

static gboolean
qa_accounts_is_control(gchar c)
{
	return (guchar)c < 0x20 || c == 0x7f;
}

gboolean
qa_accounts_check_username(const gchar *name, GError **error)
{
	gsize len = strlen(name);
	const gchar *why = NULL;
	g_autofree gchar *head = NULL;
	g_autofree gchar *shown = NULL;

	if (len == 0)
		why = "it is empty";
	else if (len > QA_ACCOUNTS_NAME_MAX)
		why = "it is longer than 256 bytes";
	else if (name[0] == '-')
		why = "it starts with '-'";
	else if (strchr(name, ':') != NULL)
		why = "it contains ':'";
	for (const gchar *p = name; why == NULL && *p != '\0'; p++) {
		if (qa_accounts_is_control(*p))
			why = "it contains a control character";
	}
	if (why == NULL)
		return TRUE;
	head = g_strndup(name, 64);
	shown = g_strescape(head, NULL);
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_INVALID,
		    "The user name '%s' is not valid: %s; expected a name without ':' or control "
		    "characters that does not start with '-'",
		    shown,
		    why);
	return FALSE;
}

QaAccountsSecret *
qa_accounts_secret_new(gsize len)
{
	QaAccountsSecret *secret = g_new0(QaAccountsSecret, 1);

	secret->data = g_malloc0(len + 1);
	secret->len = len;
	return secret;
}

QaAccountsSecret *
qa_accounts_secret_decode(const gchar *base64, GError **error)
{
	QaAccountsSecret *secret;
	gsize len = 0;
	guint8 *data = qa_base64_decode(base64, &len, error);

	if (data == NULL)
		return NULL;
	secret = g_new0(QaAccountsSecret, 1);
	secret->data = data;
	secret->len = len;
	return secret;
}

void
qa_accounts_secret_free(QaAccountsSecret *secret)
{
	if (secret == NULL)
		return;
	explicit_bzero(secret->data, secret->len);
	g_free(secret->data);
	g_free(secret);
}

static gboolean
qa_accounts_is_crypt_char(gchar c)
{
	return g_ascii_isalnum(c) || c == '.' || c == '/';
}

static gboolean
qa_accounts_all_crypt_chars(const gchar *text)
{
	for (const gchar *p = text; *p != '\0'; p++) {
		if (!qa_accounts_is_crypt_char(*p))
			return FALSE;
	}
	return TRUE;
}

/* "$id$...$hash": an id of lower-case letters and digits, then fields of the crypt alphabet
 * and the '=' and ',' of parameters ("rounds=5000"), the last one not empty */
static gboolean
qa_accounts_is_modular_crypt(const gchar *text)
{
	const gchar *p = text + 1;
	guint n_dollars = 1;

	if (!g_ascii_islower(*p) && !g_ascii_isdigit(*p))
		return FALSE;
	while (g_ascii_islower(*p) || g_ascii_isdigit(*p))
		p++;
	for (; *p != '\0'; p++) {
		if (*p == '$')
			n_dollars++;
		else if (!qa_accounts_is_crypt_char(*p) && *p != '=' && *p != ',')
			return FALSE;
	}
	return n_dollars >= 3 && text[strlen(text) - 1] != '$';
}

gboolean
qa_accounts_check_crypted(const gchar *hash, GError **error)
{
	const gchar *p = hash;
	gboolean is_locked = FALSE;

	while (*p == '!') {
		p++;
		is_locked = TRUE;
	}
	if ((*p == '\0' && is_locked) || g_strcmp0(p, "*") == 0)
		return TRUE;
	if (p[0] == '$' && qa_accounts_is_modular_crypt(p))
		return TRUE;
	if (p[0] == '_' && strlen(p) == 20 && qa_accounts_all_crypt_chars(p + 1))
		return TRUE;
	if (strlen(p) == 13 && qa_accounts_all_crypt_chars(p))
		return TRUE;
	/* the text itself is not repeated: it may be a plain password sent with crypted=true */
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_INVALID,
		    "The crypted password is not a crypt(3) hash; expected '$id$salt$hash' (for "
		    "example '$y$...' or '$6$...') of the characters a-z A-Z 0-9 . / $ = , "
		    "optionally locked with a leading '!'");
	return FALSE;
}

gboolean
qa_accounts_check_password(const QaAccountsSecret *password, gboolean is_crypted, GError **error)
{
	const gchar *why = NULL;

	if (password->len == 0)
		why = "it is empty; expected at least one character";
	else if (password->len > QA_ACCOUNTS_PASSWORD_MAX)
		why = "it is longer than 4096 bytes";
	else if (memchr(password->data, '\0', password->len) != NULL)
		why = "it contains a NUL byte; expected text (chpasswd reads one line)";
	else if (memchr(password->data, '\n', password->len) != NULL)
		why = "it contains a line end; expected one line (chpasswd reads one line)";
	if (why != NULL) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_INVALID,
			    "The %spassword is not valid: %s",
			    is_crypted ? "crypted " : "",
			    why);
		return FALSE;
	}
	return !is_crypted || qa_accounts_check_crypted((const gchar *)password->data, error);
}

/* ---- OpenSSH public keys -------------------------------------------------------------------- */

static gboolean
qa_accounts_is_blank(gchar c)
{
	return c == ' ' || c == '\t';
}

/* the token at @p after blanks, its length in @out_len (0 at the end of the text) */
static const gchar *
qa_accounts_token(const gchar *p, gsize *out_len)
{
	gsize len = 0;

	while (qa_accounts_is_blank(*p))
		p++;
	while (p[len] != '\0' && !qa_accounts_is_blank(p[len]))
		len++;
	*out_len = len;
	return p;
}

/* "type base64" at @p, the wire format of the key starting with the string "type" */
static gboolean
qa_accounts_key_at(const gchar *p, const gchar **out_why)
{
	gsize type_len = 0;
	gsize blob_len = 0;
	gsize len = 0;
	const gchar *type = qa_accounts_token(p, &type_len);
	const gchar *blob = qa_accounts_token(type + type_len, &blob_len);
	g_autofree gchar *blob_text = g_strndup(blob, blob_len);
	g_autofree guint8 *bytes = NULL;
	guint32 name_len = 0;

	for (gsize i = 0; i < type_len; i++) {
		if ((guchar)type[i] <= 0x20 || (guchar)type[i] >= 0x7f || type[i] == ',')
			type_len = 0;
	}
	if (type_len == 0 || type_len > QA_ACCOUNTS_KEY_TYPE_MAX) {
		*out_why = "no valid key type (such as ssh-ed25519)";
		return FALSE;
	}
	if (blob_len == 0) {
		*out_why = "no base64 key after the key type";
		return FALSE;
	}
	bytes = qa_base64_decode(blob_text, &len, NULL);
	if (bytes == NULL || len > QA_ACCOUNTS_BLOB_MAX) {
		*out_why = "the key after the key type is not base64 of at most 16 KiB";
		return FALSE;
	}
	if (len > 4)
		memcpy(&name_len, bytes, 4);
	if (len <= 4 + type_len || GUINT32_FROM_BE(name_len) != type_len ||
	    memcmp(bytes + 4, type, type_len) != 0) {
		*out_why = "the base64 key is not a key of the type named before it";
		return FALSE;
	}
	return TRUE;
}

/* the end of the options at the start of @p: a quoted value may hold blanks and \" */
static const gchar *
qa_accounts_skip_options(const gchar *p)
{
	gboolean is_quoted = FALSE;

	for (; *p != '\0'; p++) {
		if (is_quoted && p[0] == '\\' && p[1] == '"')
			p++;
		else if (*p == '"')
			is_quoted = !is_quoted;
		else if (!is_quoted && qa_accounts_is_blank(*p))
			return p;
	}
	return is_quoted ? NULL : p;
}

/* whether the first token is rather options than a key type: for choosing which of the two
 * readings' faults to report */
static gboolean
qa_accounts_looks_like_options(const gchar *p)
{
	static const gchar *const flags[] = {"agent-forwarding",
					     "cert-authority",
					     "no-agent-forwarding",
					     "no-port-forwarding",
					     "no-pty",
					     "no-touch-required",
					     "no-user-rc",
					     "no-X11-forwarding",
					     "port-forwarding",
					     "pty",
					     "restrict",
					     "touch-required",
					     "user-rc",
					     "verify-required",
					     "X11-forwarding",
					     NULL};
	gsize len = 0;
	const gchar *token = qa_accounts_token(p, &len);
	g_autofree gchar *first = g_strndup(token, len);

	return strpbrk(first, "=,\"") != NULL || g_strv_contains(flags, first);
}

static gboolean
qa_accounts_key_fail(const gchar *key, const gchar *why, GError **error)
{
	glong n_chars = g_utf8_strlen(key, -1);
	g_autofree gchar *prefix = g_utf8_substring(key, 0, MIN(n_chars, QA_ACCOUNTS_KEY_SHOWN));
	g_autofree gchar *shown = g_strescape(prefix, NULL);

	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_INVALID,
		    "Invalid OpenSSH public key '%s%s': %s; expected one line '[options] keytype "
		    "base64-key [comment]'",
		    shown,
		    n_chars > QA_ACCOUNTS_KEY_SHOWN ? "..." : "",
		    why);
	return FALSE;
}

gboolean
qa_accounts_check_key_to_remove(const gchar *key, GError **error)
{
	const gchar *p = key;

	if (strlen(key) > QA_ACCOUNTS_KEY_MAX)
		return qa_accounts_key_fail(key, "it is longer than 64 KiB", error);
	for (; *p != '\0'; p++) {
		if (qa_accounts_is_control(*p) && *p != '\t')
			return qa_accounts_key_fail(key, "it contains a control character", error);
	}
	for (p = key; qa_accounts_is_blank(*p); p++)
		;
	if (*p == '\0')
		return qa_accounts_key_fail(key, "it is blank", error);
	if (*p == '#')
		return qa_accounts_key_fail(key, "it is a comment", error);
	return TRUE;
}

gboolean
qa_accounts_check_key(const gchar *key, GError **error)
{
	const gchar *why_plain = NULL;
	const gchar *why_options = NULL;
	const gchar *start = key;
	const gchar *rest;

	if (!qa_accounts_check_key_to_remove(key, error))
		return FALSE;
	while (qa_accounts_is_blank(*start))
		start++;
	if (qa_accounts_key_at(start, &why_plain))
		return TRUE;
	rest = qa_accounts_skip_options(start);
	if (rest == NULL)
		why_options = "a quoted option value is not closed";
	else if (qa_accounts_key_at(rest, &why_options))
		return TRUE;
	return qa_accounts_key_fail(
	    key, qa_accounts_looks_like_options(start) ? why_options : why_plain, error);
}

/* ---- authorized_keys text ------------------------------------------------------------------- */

/* the lines of @text; a last line without '\n' counts, the empty piece after a final '\n' not */
static gchar **
qa_accounts_lines_split(const gchar *text)
{
	gchar **lines = g_strsplit(text != NULL ? text : "", "\n", -1);
	guint n = g_strv_length(lines);

	if (n > 0 && lines[n - 1][0] == '\0')
		g_clear_pointer(&lines[n - 1], g_free);
	return lines;
}

static gchar *
qa_accounts_stripped(const gchar *line)
{
	return g_strstrip(g_strdup(line));
}

GPtrArray *
qa_accounts_keys_parse(const gchar *text)
{
	g_auto(GStrv) lines = qa_accounts_lines_split(text);
	GPtrArray *keys = g_ptr_array_new_with_free_func(g_free);

	for (guint i = 0; lines[i] != NULL; i++) {
		gchar *key = qa_accounts_stripped(lines[i]);
		if (key[0] == '\0' || key[0] == '#') {
			g_free(key);
			continue;
		}
		g_ptr_array_add(keys, key);
	}
	return keys;
}

gchar *
qa_accounts_keys_add(const gchar *text, const gchar *const *keys, guint n_keys)
{
	g_auto(GStrv) lines = qa_accounts_lines_split(text);
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	GString *out = g_string_new(NULL);

	for (guint i = 0; lines[i] != NULL; i++) {
		g_string_append_printf(out, "%s\n", lines[i]);
		g_hash_table_add(seen, qa_accounts_stripped(lines[i]));
	}
	for (guint i = 0; i < n_keys; i++) {
		gchar *key = qa_accounts_stripped(keys[i]);
		if (g_hash_table_contains(seen, key)) {
			g_free(key);
			continue;
		}
		g_string_append_printf(out, "%s\n", key);
		g_hash_table_add(seen, key);
	}
	return g_string_free(out, FALSE);
}

gchar *
qa_accounts_keys_remove(const gchar *text,
			const gchar *const *keys,
			guint n_keys,
			guint *out_n_removed)
{
	g_auto(GStrv) lines = qa_accounts_lines_split(text);
	g_autoptr(GHashTable) gone = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	GString *out = g_string_new(NULL);
	guint n_removed = 0;

	for (guint i = 0; i < n_keys; i++)
		g_hash_table_add(gone, qa_accounts_stripped(keys[i]));
	for (guint i = 0; lines[i] != NULL; i++) {
		g_autofree gchar *line = qa_accounts_stripped(lines[i]);
		if (line[0] != '\0' && g_hash_table_contains(gone, line)) {
			n_removed++;
			continue;
		}
		g_string_append_printf(out, "%s\n", lines[i]);
	}
	*out_n_removed = n_removed;
	return g_string_free(out, FALSE);
}

/* ---- users ---------------------------------------------------------------------------------- */

void
qa_accounts_user_free(QaAccountsUser *user)
{
	if (user == NULL)
		return;
	g_free(user->name);
	g_free(user->home);
	g_free(user->groups);
	g_free(user);
}

static void
qa_accounts_user_load_groups(QaAccountsUser *user)
{
	int n = 16;

	for (guint tries = 0; tries < 8; tries++) {
		int want = n;
		g_free(user->groups);
		user->groups = g_new0(gid_t, n);
		if (getgrouplist(user->name, user->gid, user->groups, &want) >= 0) {
			user->n_groups = (guint)want;
			return;
		}
		n = MAX(want, n * 2);
	}
	/* no list to be had: the primary group alone, which only denies more */
	user->groups[0] = user->gid;
	user->n_groups = 1;
}

QaAccountsUser *
qa_accounts_user_load(const gchar *name, GError **error)
{
	struct passwd pwd;
	struct passwd *found = NULL;
	g_autofree gchar *buf = NULL;
	gsize size = 1024;
	QaAccountsUser *user;
	int err;

	for (;;) {
		buf = g_realloc(buf, size);
		err = getpwnam_r(name, &pwd, buf, size, &found);
		if (err != ERANGE || size >= 1024 * 1024)
			break;
		size *= 2;
	}
	if (err != 0) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot look up the user '%s': %s",
			    name,
			    g_strerror(err));
		return NULL;
	}
	if (found == NULL) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_NOT_FOUND,
			    "The user '%s' does not exist",
			    name);
		return NULL;
	}
	user = g_new0(QaAccountsUser, 1);
	user->name = g_strdup(pwd.pw_name);
	user->uid = pwd.pw_uid;
	user->gid = pwd.pw_gid;
	user->home = g_strdup(pwd.pw_dir != NULL ? pwd.pw_dir : "");
	qa_accounts_user_load_groups(user);
	return user;
}

/* ---- chpasswd ------------------------------------------------------------------------------ */

QaAccountsSecret *
qa_accounts_chpasswd_line(const gchar *username, const QaAccountsSecret *password)
{
	gsize name_len = strlen(username);
	QaAccountsSecret *line = qa_accounts_secret_new(name_len + 1 + password->len + 1);

	memcpy(line->data, username, name_len);
	line->data[name_len] = ':';
	memcpy(line->data + name_len + 1, password->data, password->len);
	line->data[line->len - 1] = '\n';
	return line;
}

gboolean
qa_accounts_chpasswd_check(const gchar *username,
			   const QaChildSpec *spec,
			   const QaChildResult *result,
			   const QaAccountsSecret *password,
			   GError **error)
{
	g_autofree gchar *how = qa_child_describe_end(spec, result);
	g_autofree gchar *text = NULL;

	if (how == NULL)
		return TRUE;
	text = g_strstrip(g_strdup(result->output != NULL ? result->output : ""));
	/* chpasswd does not repeat the password, but what it prints is not ours to vouch for */
	if (password->len > 0 &&
	    memmem(text, strlen(text), password->data, password->len) != NULL) {
		g_free(text);
		text = g_strdup("(its output is withheld: it contains the password)");
	}
	g_strdelimit(text, "\r\n", ' ');
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_FAILED,
		    "chpasswd %s setting the password of user '%s'%s: %s",
		    how,
		    username,
		    result->has_exited ? "" : " (what it did until then stays done)",
		    text[0] != '\0' ? text : "(no output)");
	return FALSE;
}

gboolean
qa_accounts_set_password(const gchar *username,
			 const QaAccountsSecret *password,
			 gboolean is_crypted,
			 GError **error)
{
	g_autofree gchar *program = qa_child_find_program(QA_CHILD_ADMIN_PATH, "chpasswd");
	const gchar *const argv[] = {program, is_crypted ? "-e" : NULL, NULL};
	g_autoptr(QaAccountsSecret) line = qa_accounts_chpasswd_line(username, password);
	/* the line reaches chpasswd through a pipe on its stdin, never a command line */
	const QaChildSpec spec = {
	    .argv = argv,
	    .input = line->data,
	    .input_len = line->len,
	    .is_stdout_captured = TRUE,
	    .timeout_ms = QA_CHILD_TOOL_TIMEOUT_MS,
	};
	QaChildResult result = {0};
	gboolean ok;

	if (program == NULL) {
		g_set_error(
		    error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "Cannot set the password of user '%s': chpasswd is not installed (looked "
		    "in %s)",
		    username,
		    QA_CHILD_ADMIN_PATH);
		return FALSE;
	}
	if (!qa_child_run(&spec, &result, error)) {
		g_prefix_error(error, "Cannot set the password of user '%s': ", username);
		return FALSE;
	}
	ok = qa_accounts_chpasswd_check(username, &spec, &result, password, error);
	qa_child_result_clear(&result);
	return ok;
}

/* ---- acting as the user --------------------------------------------------------------------- */

/* The file-system identity of the calling thread only. setfsuid() and setfsgid() are per
 * thread in Linux and glibc's wrappers leave them so; glibc's setgroups() changes every thread
 * of the process (POSIX), so the system call is made directly, as Samba does for the same
 * purpose. A thread that fails to switch back has less access than before, never more. */
typedef struct {
	gboolean is_active;
	uid_t fsuid;
	gid_t fsgid;
	gid_t *groups;
	int n_groups;
} QaAccountsCreds;

static long
qa_accounts_thread_setgroups(gsize n, const gid_t *groups)
{
#ifdef SYS_setgroups32
	return syscall(SYS_setgroups32, n, groups);
#else
	return syscall(SYS_setgroups, n, groups);
#endif
}

static void
qa_accounts_creds_leave(QaAccountsCreds *creds)
{
	if (!creds->is_active)
		return;
	setfsuid(creds->fsuid);
	setfsgid(creds->fsgid);
	if (qa_accounts_thread_setgroups((gsize)creds->n_groups, creds->groups) != 0 ||
	    (uid_t)setfsuid((uid_t)-1) != creds->fsuid ||
	    (gid_t)setfsgid((gid_t)-1) != creds->fsgid)
		g_warning("cannot take back the agent's file identity after acting as a user: %s",
			  g_strerror(errno));
	g_clear_pointer(&creds->groups, g_free);
	creds->is_active = FALSE;
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(QaAccountsCreds, qa_accounts_creds_leave)

/* Acts as @user for file access until qa_accounts_creds_leave(). An agent that is not root
 * cannot and need not: it has no more than its own access already. */
static gboolean
qa_accounts_creds_enter(QaAccountsCreds *creds, const QaAccountsUser *user, GError **error)
{
	int n;

	if (geteuid() != 0 || user->uid == 0 || creds->is_active)
		return TRUE;
	n = getgroups(0, NULL);
	creds->groups = g_new0(gid_t, MAX(n, 1));
	creds->n_groups = n > 0 ? getgroups(n, creds->groups) : 0;
	creds->fsuid = (uid_t)setfsuid((uid_t)-1);
	creds->fsgid = (gid_t)setfsgid((gid_t)-1);
	creds->is_active = n >= 0 && creds->n_groups >= 0;
	if (creds->is_active && qa_accounts_thread_setgroups(user->n_groups, user->groups) == 0) {
		setfsgid(user->gid);
		setfsuid(user->uid);
		if ((uid_t)setfsuid((uid_t)-1) == user->uid &&
		    (gid_t)setfsgid((gid_t)-1) == user->gid)
			return TRUE;
	}
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_FAILED,
		    "Cannot take the file identity of user '%s' (uid %u): %s",
		    user->name,
		    (guint)user->uid,
		    g_strerror(errno));
	qa_accounts_creds_leave(creds);
	return FALSE;
}

/* ---- the home directory --------------------------------------------------------------------- */

/* pushes the components of @path on @todo so that the first is popped first */
static void
qa_accounts_push_components(GPtrArray *todo, const gchar *path)
{
	g_auto(GStrv) parts = g_strsplit(path, "/", -1);

	for (guint i = g_strv_length(parts); i > 0; i--) {
		if (parts[i - 1][0] != '\0' && g_strcmp0(parts[i - 1], ".") != 0)
			g_ptr_array_add(todo, g_strdup(parts[i - 1]));
	}
}

static gboolean
qa_accounts_home_fail(const QaAccountsUser *user, gint code, const gchar *why, GError **error)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    code,
		    "The home directory '%s' of user '%s' cannot be used: %s",
		    user->home,
		    user->name,
		    why);
	return FALSE;
}

/* A directory a name of the home's path is looked up in must be one only root can change
 * (in a sticky one, like /tmp, each user can change only their own entries, and those are
 * checked in turn): else the user could swap what the path leads to. */
static gboolean
qa_accounts_check_lookup_dir(int fd, const gchar *where, const QaAccountsUser *user, GError **error)
{
	struct stat st;
	g_autofree gchar *why = NULL;

	if (fstat(fd, &st) != 0)
		why = g_strdup_printf("cannot inspect '%s': %s", where, g_strerror(errno));
	else if (st.st_uid != 0 ||
		 ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0))
		why = g_strdup_printf("it is reached through '%s' (owner uid %u, mode %04o), which "
				      "users other than root can change; expected every directory "
				      "on the way owned by root and not writable by group or "
				      "others (or sticky)",
				      where,
				      (guint)st.st_uid,
				      (guint)(st.st_mode & 07777));
	return why == NULL || qa_accounts_home_fail(user, QA_SYSTEM_ERROR_INVALID, why, error);
}

/* follows the link @name in @dir_fd: pushes its target, and moves @dir_fd to "/" when it is
 * absolute */
static gboolean
qa_accounts_follow_link(int *dir_fd,
			const gchar *name,
			const struct stat *st,
			GString *where,
			GPtrArray *todo,
			const QaAccountsUser *user,
			GError **error)
{
	g_autofree gchar *link = g_build_filename(where->str, name, NULL);
	gchar target[4096];
	gssize len;

	if (st->st_uid != 0) {
		g_autofree gchar *why = g_strdup_printf(
		    "the link '%s' on the way belongs to uid %u; expected links of root's only",
		    link,
		    (guint)st->st_uid);
		return qa_accounts_home_fail(user, QA_SYSTEM_ERROR_INVALID, why, error);
	}
	len = readlinkat(*dir_fd, name, target, sizeof(target) - 1);
	if (len <= 0 || (gsize)len >= sizeof(target) - 1)
		return qa_accounts_home_fail(
		    user, QA_SYSTEM_ERROR_FAILED, "a link on the way cannot be read", error);
	target[len] = '\0';
	/* a relative target is looked up in the directory holding the link, @dir_fd */
	if (target[0] == '/') {
		qa_fd_close(dir_fd);
		*dir_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
		g_string_assign(where, "/");
	}
	if (*dir_fd < 0)
		return qa_accounts_home_fail(
		    user, QA_SYSTEM_ERROR_FAILED, g_strerror(errno), error);
	qa_accounts_push_components(todo, target);
	return TRUE;
}

/* one step: @dir_fd moves to the directory @name in it (or follows the link @name) */
static gboolean
qa_accounts_home_step(int *dir_fd,
		      const gchar *name,
		      gboolean is_last,
		      GString *where,
		      GPtrArray *todo,
		      const QaAccountsUser *user,
		      GError **error)
{
	struct stat st;
	int next;

	if (g_strcmp0(name, "..") != 0) {
		if (!qa_accounts_check_lookup_dir(*dir_fd, where->str, user, error))
			return FALSE;
		if (fstatat(*dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			return qa_accounts_home_fail(user,
						     errno == ENOENT ? QA_SYSTEM_ERROR_NOT_FOUND
								     : QA_SYSTEM_ERROR_FAILED,
						     g_strerror(errno),
						     error);
		if (S_ISLNK(st.st_mode) && is_last)
			return qa_accounts_home_fail(user,
						     QA_SYSTEM_ERROR_INVALID,
						     "it is a symbolic link; expected a directory "
						     "(links are not followed there)",
						     error);
		if (S_ISLNK(st.st_mode))
			return qa_accounts_follow_link(dir_fd, name, &st, where, todo, user, error);
	}
	next = openat(*dir_fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (next < 0)
		return qa_accounts_home_fail(
		    user, QA_SYSTEM_ERROR_INVALID, g_strerror(errno), error);
	qa_fd_close(dir_fd);
	*dir_fd = next;
	if (g_strcmp0(name, "..") == 0) {
		g_autofree gchar *parent = g_path_get_dirname(where->str);
		g_string_assign(where, parent);
	} else {
		g_autofree gchar *child = g_build_filename(where->str, name, NULL);
		g_string_assign(where, child);
	}
	return TRUE;
}

/* The home directory, walked to from "/" one name at a time. Links on the way are followed
 * only when root's in a directory only root can change (/home -> /var/home); the home itself
 * must be a directory, not a link, owned by the user or root. */
static int
qa_accounts_home_open(const QaAccountsUser *user, struct stat *out_st, GError **error)
{
	g_autoptr(GPtrArray) todo = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GString) where = g_string_new("/");
	g_auto(QaFd) dir_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	guint n_links = 0;

	if (!g_path_is_absolute(user->home)) {
		qa_accounts_home_fail(
		    user, QA_SYSTEM_ERROR_INVALID, "it is not an absolute path", error);
		return -1;
	}
	qa_accounts_push_components(todo, user->home);
	while (dir_fd >= 0 && todo->len > 0) {
		g_autofree gchar *name = g_ptr_array_steal_index(todo, todo->len - 1);
		guint n_before = todo->len;

		if (!qa_accounts_home_step(&dir_fd, name, n_before == 0, where, todo, user, error))
			return -1;
		if (todo->len > n_before && ++n_links > QA_ACCOUNTS_LINKS_MAX) {
			qa_accounts_home_fail(
			    user, QA_SYSTEM_ERROR_INVALID, "too many links on the way", error);
			return -1;
		}
	}
	if (dir_fd < 0 || fstat(dir_fd, out_st) != 0) {
		qa_accounts_home_fail(user, QA_SYSTEM_ERROR_FAILED, g_strerror(errno), error);
		return -1;
	}
	if (out_st->st_uid != user->uid && out_st->st_uid != 0) {
		g_autofree gchar *why =
		    g_strdup_printf("it belongs to uid %u; expected the user (uid %u) or root",
				    (guint)out_st->st_uid,
				    (guint)user->uid);
		qa_accounts_home_fail(user, QA_SYSTEM_ERROR_INVALID, why, error);
		return -1;
	}
	return qa_fd_steal(&dir_fd);
}

/* ---- ~/.ssh --------------------------------------------------------------------------------- */

struct _QaAccountsSshDir {
	const QaAccountsUser *user; /* borrowed */
	gchar *path;		    /* "<home>/.ssh" */
	gchar *keys_path;	    /* "<home>/.ssh/authorized_keys" */
	int fd;
};

void
qa_accounts_ssh_dir_free(QaAccountsSshDir *dir)
{
	if (dir == NULL)
		return;
	qa_fd_close(&dir->fd);
	g_free(dir->path);
	g_free(dir->keys_path);
	g_free(dir);
}

const gchar *
qa_accounts_ssh_dir_get_keys_path(const QaAccountsSshDir *dir)
{
	return dir->keys_path;
}

static gboolean
qa_accounts_path_fail(const gchar *path, gint code, const gchar *why, GError **error)
{
	g_set_error(error, QA_SYSTEM_ERROR, code, "Cannot use '%s': %s", path, why);
	return FALSE;
}

/* refuses what @st describes unless it is a @kind (S_IFDIR, S_IFREG) the user owns */
static gboolean
qa_accounts_check_entry(const struct stat *st,
			mode_t kind,
			const gchar *path,
			const QaAccountsUser *user,
			GError **error)
{
	g_autofree gchar *why = NULL;

	if (S_ISLNK(st->st_mode))
		why =
		    g_strdup_printf("it is a symbolic link; expected a %s (links are not followed)",
				    kind == S_IFDIR ? "directory" : "regular file");
	else if ((st->st_mode & S_IFMT) != kind)
		why = g_strdup_printf("expected a %s",
				      kind == S_IFDIR ? "directory" : "regular file");
	else if (st->st_uid != user->uid)
		why = g_strdup_printf("it belongs to uid %u; expected the user '%s' (uid %u)",
				      (guint)st->st_uid,
				      user->name,
				      (guint)user->uid);
	return why == NULL || qa_accounts_path_fail(path, QA_SYSTEM_ERROR_INVALID, why, error);
}

/* Makes ~/.ssh. In a home of the user's, as the user; in a home of root's that nobody else can
 * write to, as root, which nobody can race: then it is given to the user. */
static gboolean
qa_accounts_ssh_dir_create(QaAccountsSshDir *dir,
			   int home_fd,
			   const struct stat *home_st,
			   QaAccountsCreds *creds,
			   GError **error)
{
	const QaAccountsUser *user = dir->user;
	g_auto(QaFd) fd = -1;

	if (home_st->st_uid != user->uid) {
		if ((home_st->st_mode & (S_IWGRP | S_IWOTH)) != 0)
			return qa_accounts_path_fail(
			    dir->path,
			    QA_SYSTEM_ERROR_INVALID,
			    "its home directory belongs to root and others "
			    "can write to it",
			    error);
		qa_accounts_creds_leave(creds);
	}
	if (mkdirat(home_fd, ".ssh", 0700) != 0)
		return qa_accounts_path_fail(
		    dir->path, QA_SYSTEM_ERROR_FAILED, g_strerror(errno), error);
	fd = openat(home_fd, ".ssh", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fchown(fd, user->uid, user->gid) != 0 || fchmod(fd, 0700) != 0)
		return qa_accounts_path_fail(
		    dir->path, QA_SYSTEM_ERROR_FAILED, g_strerror(errno), error);
	return qa_accounts_creds_enter(creds, user, error);
}

static gboolean
qa_accounts_ssh_dir_open_fd(QaAccountsSshDir *dir, int home_fd, GError **error)
{
	struct stat st;

	dir->fd = openat(home_fd, ".ssh", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dir->fd < 0) {
		int saved = errno;
		/* a link fails with ENOTDIR; say what it is */
		if (fstatat(home_fd, ".ssh", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    !qa_accounts_check_entry(&st, S_IFDIR, dir->path, dir->user, error))
			return FALSE;
		return qa_accounts_path_fail(
		    dir->path, QA_SYSTEM_ERROR_FAILED, g_strerror(saved), error);
	}
	if (fstat(dir->fd, &st) != 0)
		return qa_accounts_path_fail(
		    dir->path, QA_SYSTEM_ERROR_FAILED, g_strerror(errno), error);
	return qa_accounts_check_entry(&st, S_IFDIR, dir->path, dir->user, error);
}

gboolean
qa_accounts_ssh_dir_open(const QaAccountsUser *user,
			 gboolean create,
			 QaAccountsSshDir **out_dir,
			 GError **error)
{
	g_auto(QaAccountsCreds) creds = {0};
	g_autoptr(QaAccountsSshDir) dir = g_new0(QaAccountsSshDir, 1);
	g_auto(QaFd) home_fd = -1;
	struct stat home_st;
	struct stat st;

	*out_dir = NULL;
	dir->user = user;
	dir->fd = -1;
	dir->path = g_build_filename(user->home, ".ssh", NULL);
	dir->keys_path = g_build_filename(dir->path, QA_ACCOUNTS_KEYS_NAME, NULL);
	if (!qa_accounts_creds_enter(&creds, user, error))
		return FALSE;
	home_fd = qa_accounts_home_open(user, &home_st, error);
	if (home_fd < 0)
		return FALSE;
	if (fstatat(home_fd, ".ssh", &st, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno != ENOENT)
			return qa_accounts_path_fail(
			    dir->path, QA_SYSTEM_ERROR_FAILED, g_strerror(errno), error);
		if (!create)
			return TRUE;
		if (!qa_accounts_ssh_dir_create(dir, home_fd, &home_st, &creds, error))
			return FALSE;
	}
	if (!qa_accounts_ssh_dir_open_fd(dir, home_fd, error))
		return FALSE;
	*out_dir = g_steal_pointer(&dir);
	return TRUE;
}

/* ---- authorized_keys ------------------------------------------------------------------------ */

static gboolean
qa_accounts_read_all(int fd, const gchar *path, GString *text, GError **error)
{
	gchar buf[8192];

	for (;;) {
		gssize n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return qa_accounts_path_fail(
			    path, QA_SYSTEM_ERROR_FAILED, g_strerror(errno), error);
		if (n == 0)
			break;
		g_string_append_len(text, buf, n);
		if (text->len > QA_ACCOUNTS_KEYS_FILE_MAX)
			return qa_accounts_path_fail(
			    path, QA_SYSTEM_ERROR_INVALID, "it is larger than 1 MiB", error);
	}
	if (memchr(text->str, '\0', text->len) != NULL)
		return qa_accounts_path_fail(
		    path, QA_SYSTEM_ERROR_INVALID, "it contains a NUL byte; expected text", error);
	return TRUE;
}

gboolean
qa_accounts_ssh_dir_read_keys(QaAccountsSshDir *dir, gchar **out_text, GError **error)
{
	g_auto(QaAccountsCreds) creds = {0};
	g_autoptr(GString) text = g_string_new(NULL);
	g_auto(QaFd) fd = -1;
	struct stat st;

	*out_text = NULL;
	if (!qa_accounts_creds_enter(&creds, dir->user, error))
		return FALSE;
	/* O_NONBLOCK: a FIFO in its place must not hang the agent before fstat() refuses it */
	fd = openat(dir->fd,
		    QA_ACCOUNTS_KEYS_NAME,
		    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return TRUE;
	if (fd < 0 && errno == ELOOP)
		return qa_accounts_path_fail(
		    dir->keys_path,
		    QA_SYSTEM_ERROR_INVALID,
		    "it is a symbolic link; expected a regular file (links "
		    "are not followed)",
		    error);
	if (fd < 0 || fstat(fd, &st) != 0)
		return qa_accounts_path_fail(
		    dir->keys_path, QA_SYSTEM_ERROR_FAILED, g_strerror(errno), error);
	if (!qa_accounts_check_entry(&st, S_IFREG, dir->keys_path, dir->user, error) ||
	    !qa_accounts_read_all(fd, dir->keys_path, text, error))
		return FALSE;
	*out_text = g_string_free(g_steal_pointer(&text), FALSE);
	return TRUE;
}

static gboolean
qa_accounts_write_all(int fd, const gchar *text, gsize len)
{
	while (len > 0) {
		gssize n = write(fd, text, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return FALSE;
		text += n;
		len -= (gsize)n;
	}
	return TRUE;
}

/* a new file of the user's, 0600, beside authorized_keys, holding @text and synced */
static gboolean
qa_accounts_write_temp(QaAccountsSshDir *dir, const gchar *text, gchar **out_name, GError **error)
{
	g_auto(QaFd) fd = -1;
	g_autofree gchar *name = NULL;

	for (guint tries = 0; fd < 0 && tries < 100; tries++) {
		g_free(name);
		name = g_strdup_printf(".%s.%08x", QA_ACCOUNTS_KEYS_NAME, g_random_int());
		fd = openat(dir->fd,
			    name,
			    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC,
			    0600);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0)
		return qa_accounts_path_fail(
		    dir->path, QA_SYSTEM_ERROR_FAILED, g_strerror(errno), error);
	if (fchown(fd, dir->user->uid, dir->user->gid) != 0 || fchmod(fd, 0600) != 0 ||
	    !qa_accounts_write_all(fd, text, strlen(text)) || fsync(fd) != 0 ||
	    close(qa_fd_steal(&fd)) != 0) {
		int saved = errno;
		unlinkat(dir->fd, name, 0);
		return qa_accounts_path_fail(
		    dir->path, QA_SYSTEM_ERROR_FAILED, g_strerror(saved), error);
	}
	*out_name = g_steal_pointer(&name);
	return TRUE;
}

gboolean
qa_accounts_ssh_dir_write_keys(QaAccountsSshDir *dir, const gchar *text, GError **error)
{
	g_auto(QaAccountsCreds) creds = {0};
	g_autofree gchar *temp = NULL;
	struct stat st;

	if (!qa_accounts_creds_enter(&creds, dir->user, error))
		return FALSE;
	if (fstatat(dir->fd, QA_ACCOUNTS_KEYS_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!qa_accounts_check_entry(&st, S_IFREG, dir->keys_path, dir->user, error))
			return FALSE;
	} else if (errno != ENOENT) {
		return qa_accounts_path_fail(
		    dir->keys_path, QA_SYSTEM_ERROR_FAILED, g_strerror(errno), error);
	}
	if (!qa_accounts_write_temp(dir, text, &temp, error))
		return FALSE;
	/* rename() replaces a link swapped in meanwhile, never what it points to */
	if (renameat(dir->fd, temp, dir->fd, QA_ACCOUNTS_KEYS_NAME) != 0) {
		int saved = errno;
		unlinkat(dir->fd, temp, 0);
		return qa_accounts_path_fail(
		    dir->keys_path, QA_SYSTEM_ERROR_FAILED, g_strerror(saved), error);
	}
	/* the rename itself is durable only once the directory is */
	fsync(dir->fd);
	return TRUE;
}
