/* guest-ssh-*-authorized-keys on Windows, for Windows' OpenSSH (sshd_config's defaults):
 * a user's keys are in %USERPROFILE%\.ssh\authorized_keys, except that members of
 * Administrators all share %ProgramData%\ssh\administrators_authorized_keys ("Match Group
 * administrators"). sshd ignores a file others can write to, so the agent gives what it creates
 * a protected DACL (inheritance removed): SYSTEM and Administrators full control, and for a
 * user's own file the user too.
 *
 * The text of the file is handled by the shared, pure functions of agent/system/accounts.h
 * (parse, add, remove), as on Linux. The agent runs as LocalSystem: a directory or file on the
 * way that is a reparse point (a junction or symbolic link the user planted) is refused rather
 * than followed, and the directory stays open without delete sharing while it is used, so it
 * cannot be swapped meanwhile. */
#pragma once

#include <glib.h>

#include "system-win32.h"

#define QA_WIN_SSH_KEYS_NAME "authorized_keys"
#define QA_WIN_SSH_ADMIN_KEYS_NAME "administrators_authorized_keys"

/* where a user's keys are: pure */
typedef struct {
	gchar *dir;	    /* "<profile>\.ssh" or "<ProgramData>\ssh" */
	gchar *path;	    /* the keys file in @dir */
	gboolean is_shared; /* the administrators' file, shared by every member */
} QaWinSshPlace;

QaWinSshPlace *
qa_win_ssh_place_new(gboolean is_admin, const gchar *profile_dir, const gchar *program_data);
void
qa_win_ssh_place_free(QaWinSshPlace *place);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaWinSshPlace, qa_win_ssh_place_free)

/* pure: the security descriptor (SDDL) the agent gives what it creates: a protected DACL that
 * allows full control to SYSTEM and Administrators, and to @user_sid unless @is_admin;
 * inherited by what is created inside when @is_dir. NULL when @user_sid is not a SID string. */
gchar *
qa_win_ssh_sddl(gboolean is_admin, const gchar *user_sid, gboolean is_dir);

/* the directory of the keys, held open */
typedef struct _QaWinSshDir QaWinSshDir;

/* Opens @place's directory; without it, @dir_sddl non-NULL creates it (its parent must exist)
 * with that DACL, else TRUE with *@out_dir NULL. A reparse point or a file is refused. */
gboolean
qa_win_ssh_dir_open(const QaWinOps *ops,
		    const QaWinSshPlace *place,
		    const gchar *dir_sddl,
		    QaWinSshDir **out_dir,
		    GError **error);
void
qa_win_ssh_dir_free(QaWinSshDir *dir);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaWinSshDir, qa_win_ssh_dir_free)
/* the text of the keys file (at most 1 MiB, no NUL), or TRUE with *@out_text NULL when there is
 * none; a reparse point or a directory in its place is refused */
gboolean
qa_win_ssh_dir_read_keys(QaWinSshDir *dir, gchar **out_text, GError **error);
/* Replaces the keys file by @text: a new file beside it gets @file_sddl first, then the text,
 * is flushed, and is moved over the old one (which keeps no ACL of its own). */
gboolean
qa_win_ssh_dir_write_keys(QaWinSshDir *dir,
			  const gchar *text,
			  const gchar *file_sddl,
			  GError **error);
