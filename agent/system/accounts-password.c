/* Local users, and setting a password with chpasswd(8). */
#include <grp.h>
#include <pwd.h>

#include "accounts-private.h"
#include "qa-error.h"

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
