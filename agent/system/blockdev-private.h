/* Shared between the blockdev*.c files only. */
#pragma once

#include <libudev.h>

#include "blockdev.h"

/* deeper stacks than this (loop in dm in loop in ...) are treated as cycles */
#define QA_BLOCKDEV_MAX_DEPTH 32

struct _QaBlockdevModel {
	QaRoots *roots;
	gchar *sys;		/* canonical roots->sys, the prefix of every syspath */
	GPtrArray *mounts;	/* borrowed, nullable: where loop backing files live */
	struct udev *udev;	/* NULL when roots->use_udev is FALSE */
	QaSerialCache *serials; /* borrowed, nullable */
	GHashTable *devices;	/* devnum key -> QaBlockdev, or NULL when known not to exist */
	GHashTable *names;	/* kernel name -> devnum key */
	GHashTable *addresses;	/* devnum key -> GPtrArray of QaDiskAddress: a disk's own */
	GHashTable *disks;	/* devnum key -> GPtrArray of QaDiskAddress: all disks under it */
	GHashTable *visiting;	/* devnum keys being resolved (cycle guard) */
	GHashTable *btrfs;	/* kernel name -> GPtrArray of kernel names in its filesystem */
	GHashTable *sources;	/* btrfs mount source -> devnum key, or NULL when not a device */
	GPtrArray *empty;
	guint depth;
	/* something it read may change without a kernel uevent: a serial udev had not finished
	 * with, an address that did not resolve (see qa_blockdev_model_is_settled()) */
	gboolean is_unsettled;
};

/* a GCompareFunc for a GPtrArray of kernel names: in the order people count (sdb before sdaa),
 * so that output does not depend on readdir order */
gint
qa_blockdev_name_cmp(gconstpointer a, gconstpointer b);

/* Calls @func for every mounted btrfs filesystem with its fsid and the kernel names of its
 * devices (a GPtrArray of gchar *, in readdir order; @func may sort or keep it), from
 * /sys/fs/btrfs/<fsid>/devices: the one place that knows where btrfs lists them. */
typedef void (*QaBlockdevBtrfsFunc)(const gchar *fsid, GPtrArray *devices, gpointer data);
void
qa_blockdev_btrfs_foreach(const QaRoots *roots, QaBlockdevBtrfsFunc func, gpointer data);

/* the hash key of a device number */
gpointer
qa_blockdev_key(guint major, guint minor);
/* appends the addresses in @src that @dst does not hold yet, as copies; @dev replaces their
 * device node when not NULL */
void
qa_blockdev_merge(GPtrArray *dst, GPtrArray *src, const gchar *dev);

/* @out_is_settled: the answer stays right while the disk stays attached (kept, or final) */
gchar *
qa_blockdev_serial_lookup(const QaRoots *roots,
			  struct udev *ctx,
			  QaSerialCache *cache,
			  const QaBlockdev *disk,
			  gboolean *out_is_settled);
