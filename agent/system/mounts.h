/* The mount table, read with libmount, and the filesystems (superblocks) behind it. */
#pragma once

#include <glib.h>

#include "roots.h"

typedef struct {
	gchar *mountpoint; /* absolute path, unescaped */
	gchar *fstype;
	gchar *source;	/* mount source as in the table: /dev/vda1, tmpfs, host:/export, ... */
	gchar *fs_root; /* the directory of the filesystem mounted here (not "/" for bind mounts) */
	guint major;	/* device number of the superblock, as in mountinfo's third field */
	guint minor;
	gint mount_id;
	gint parent_id;
	gboolean is_readonly;
} QaMount;

/* One superblock and every place it is mounted: the unit of freezing. Bind mounts and repeated
 * mounts of one device are one filesystem. */
typedef struct {
	guint major; /* the superblock's device number (st_dev) */
	guint minor;
	gchar *fstype;
	gchar *source;
	GPtrArray *mountpoints;	  /* of gchar *, in mount order; [0] is the first mount */
	gboolean is_block_backed; /* TRUE when a block device (or, for btrfs, devices) backs it */
} QaFilesystem;

QaMount *
qa_mount_copy(const QaMount *mount);
void
qa_mount_free(QaMount *mount);
QaFilesystem *
qa_filesystem_new(guint major, guint minor, const gchar *fstype, const gchar *source);
void
qa_filesystem_free(QaFilesystem *fs);

/* pure: mountinfo text -> GPtrArray of QaMount in mount order */
GPtrArray *
qa_mounts_parse(const gchar *text, GError **error);
/* reads roots->mountinfo: the whole table, because resolving a mount may need mounts outside
 * roots->confine (the filesystem holding a loop device's backing file); what is reported or
 * frozen is confined by the callers, with qa_roots_is_confined_path() */
GPtrArray *
qa_mounts_load(const QaRoots *roots, GError **error);
/* The mount table kept between requests of one thread: the mountinfo text last read and the
 * mounts it parsed to. Every load reads the text again, and parses it only when it differs from
 * the last: equal text gives equal mounts, so the result is never stale. (poll() on mountinfo
 * would also spare the read, but it reports mounts and unmounts only, not a directory above a
 * mountpoint being renamed, which changes mountpoints in the text.) Not thread-safe: one owner. */
typedef struct _QaMountTable QaMountTable;

QaMountTable *
qa_mount_table_new(void);
void
qa_mount_table_free(QaMountTable *table);
/* pure: the mounts of mountinfo @text (up to @len bytes or a NUL; a new reference, not to be
 * modified), reusing those of the previous update when the text is the same; NULL with @error
 * as qa_mounts_parse(), leaving the table as it was */
GPtrArray *
qa_mount_table_update(QaMountTable *table, const gchar *text, gsize len, GError **error);
/* changes whenever an update gives other mounts than the one before (never back to an earlier
 * value): equal generations, equal mounts, the same array */
guint64
qa_mount_table_get_generation(const QaMountTable *table);
/* reads roots->mountinfo, then as qa_mount_table_update() */
GPtrArray *
qa_mount_table_load(QaMountTable *table, const QaRoots *roots, GError **error);

/* groups mounts by superblock; GPtrArray of QaFilesystem in order of first mount */
GPtrArray *
qa_filesystems_from_mounts(const QaRoots *roots, GPtrArray *mounts);

/* one QaMount per mountpoint of each of @filesystems, whose mount_id is the index of its
 * filesystem: what the storage model needs to follow loop devices to the filesystem holding
 * their file */
GPtrArray *
qa_filesystems_to_mounts(GPtrArray *filesystems);

/* TRUE when a block device backs @mount (the rule for what guest-get-fsinfo reports) */
gboolean
qa_mounts_is_block_backed(const QaRoots *roots, const QaMount *mount);
/* the mount (borrowed from @mounts) through which the absolute @path is reached; pure */
const QaMount *
qa_mounts_find_holding(GPtrArray *mounts, const gchar *path);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaMount, qa_mount_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaFilesystem, qa_filesystem_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaMountTable, qa_mount_table_free)
