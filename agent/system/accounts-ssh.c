/* A user's ~/.ssh/authorized_keys, read and written as that user, through directory descriptors
 * that never follow a link the user could have planted. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>

#include "accounts-private.h"
#include "qa-error.h"
#include "qa-fd.h"

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
