/* The pure checks of the accounts commands: user names, passwords, OpenSSH public keys, and the
 * text of authorized_keys. */

#include "accounts-private.h"

#ifdef G_OS_WIN32
#include <windows.h>
#endif
#include "base64.h"
#include "qa-error.h"

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
		/* a clearing the compiler may not drop as a dead store */
#ifdef G_OS_WIN32
	SecureZeroMemory(secret->data, secret->len);
#else
	explicit_bzero(secret->data, secret->len);
#endif
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

/* virsh set-user-sshkeys splits a key file on newlines,
 * so a file that ends in one (as ssh-keygen writes them) adds an empty key: qemu-ga skips it,
 * and so does this agent, rather than refuse the whole request. */
GPtrArray *
qa_accounts_keys_nonblank(const GPtrArray *keys)
{
	GPtrArray *kept = g_ptr_array_new();

	for (guint i = 0; keys != NULL && i < keys->len; i++) {
		const gchar *key = g_ptr_array_index(keys, i);
		const gchar *p = key;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '\0')
			g_ptr_array_add(kept, (gpointer)key);
	}
	return kept;
}

gboolean
qa_accounts_check_keys(const GPtrArray *keys, gboolean is_removal, GError **error)
{
	for (guint i = 0; keys != NULL && i < keys->len; i++) {
		const gchar *key = g_ptr_array_index(keys, i);
		if (is_removal ? !qa_accounts_check_key_to_remove(key, error)
			       : !qa_accounts_check_key(key, error))
			return FALSE;
	}
	return TRUE;
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
