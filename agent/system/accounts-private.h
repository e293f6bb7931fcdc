/* What agent/system/accounts*.c share and nobody else uses: limits, and the functions one file
 * calls in another. accounts-input.c holds the pure checks (names, passwords, keys, the text of
 * authorized_keys), accounts-password.c users and chpasswd, accounts-ssh.c the file work in a
 * user's ~/.ssh as that user. */
#pragma once

#include <glib.h>
#include <sys/stat.h>

#include "accounts.h"

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
