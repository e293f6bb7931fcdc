/* The one object that holds the agent's state. Ownership by thread:
 * - the main thread owns everything here except as noted, and runs every command that is not a
 *   worker command (guest-get-fsinfo among them, the one user of mount_table);
 * - worker commands (schema key 'worker') run one at a time on the dispatcher's worker thread;
 *   they may read config and roots (immutable) and use the freezer, which locks itself;
 * - commands marked 'blocking' run one at a time on the dispatcher's system thread; they may
 *   read config and roots, use the freezer's thread-safe calls, and own what is marked so below;
 * - the auto-thaw watchdog thread touches only the freezer. */
#pragma once

#include <glib.h>

#include "config.h"
#include "roots.h"

typedef struct _QaAgent QaAgent;
typedef struct _QaFreezer QaFreezer;
typedef struct _QaMountTable QaMountTable;
typedef struct _QaSerialCache QaSerialCache;
typedef struct _QaModelCache QaModelCache;
typedef struct _QaProcessTable QaProcessTable;
typedef struct _QaFileHandles QaFileHandles;
typedef struct _QaWinOps QaWinOps;
typedef struct _QaWinLoad QaWinLoad;

struct _QaAgent {
	const QaConfig *config; /* immutable; owned by main() */
	QaRoots *roots;		/* immutable after start */
	QaFreezer *freezer;	/* owns per-filesystem frozen state; thread-safe */
	/* main thread only: the mount table guest-get-fsinfo last read, reparsed only when it
	 * changed (the freezer, on the worker thread, reads its own); NULL on Windows */
	QaMountTable *mount_table;
	/* main thread only: serials of disks guest-get-fsinfo and the freeze report looked up
	 * before (see blockdev.h); NULL on Windows */
	QaSerialCache *serials;
	/* system thread only: the same for guest-get-disks, which runs there; NULL on Windows */
	QaSerialCache *disk_serials;
	/* main thread only: the block device model guest-get-fsinfo built last, reused while no
	 * uevent and no mount table change says it may be stale (see blockdev.h); NULL on
	 * Windows */
	QaModelCache *models;
	/* processes guest-exec started: spawned on the system thread, then watched, read, fed
	 * and reaped by sources on the main thread's context, and reported by guest-exec-status
	 * on the main thread; locks itself (briefly: never across a spawn). It belongs to the
	 * agent, not to a host connection: a process outlives a host that leaves, and the agent's
	 * exit leaves running processes alone */
	QaProcessTable *processes;
	/* guest-file-* handles: used on the system thread only (every file command is
	 * 'blocking') */
	QaFileHandles *files;
	/* Windows: the system calls of win32/system-win32.h that tests replace by a fake;
	 * NULL on Linux */
	const QaWinOps *win_ops;
	/* Windows: guest-get-load's sampler (win32/load-win32.h), started by the first request;
	 * main thread only; NULL before that and on Linux */
	QaWinLoad *load;
};

/* takes @roots; fails when the freezer cannot start */
QaAgent *
qa_agent_new(const QaConfig *config, QaRoots *roots, GError **error);
void
qa_agent_free(QaAgent *agent);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaAgent, qa_agent_free)
