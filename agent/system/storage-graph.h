/* The order in which filesystems can be frozen safely, derived from the block device model. */
#pragma once

#include <glib.h>

#include "blockdev.h"
#include "mounts.h"
#include "roots.h"

/* Returns a GPtrArray of levels; each level is a GPtrArray of borrowed QaFilesystem pointers
 * taken from @filesystems. Level 0 is frozen first, thaw goes in reverse. A filesystem is in a
 * lower level than every filesystem it depends on: the filesystem holding the backing file of a
 * loop device under it (through partitions, device-mapper and MD too). Within a level, no member
 * depends on another, so a level may be frozen in parallel. */
GPtrArray *
qa_storage_graph_freeze_levels(const QaRoots *roots, GPtrArray *filesystems, GError **error);

/* Per filesystem of @filesystems (same index): a GArray of guint, the indexes of the
 * filesystems it is stored on, through the backing files of the loop devices under it (found
 * by the kernel's device number for the file, so also when its path is not a visible mount). */
/* @selected (nullable: all of them): only these filesystems and those they are stored on,
 * directly or not, get their dependencies worked out; the others' arrays are empty. */
GPtrArray *
qa_storage_graph_dependencies(const QaRoots *roots,
			      GPtrArray *filesystems,
			      GPtrArray *selected,
			      GError **error);
/* as qa_storage_graph_dependencies(), with @model built over @mounts, which are
 * qa_filesystems_to_mounts(@filesystems): a model kept between calls */
GPtrArray *
qa_storage_graph_dependencies_in(QaBlockdevModel *model,
				 GPtrArray *mounts,
				 GPtrArray *filesystems,
				 GPtrArray *selected);
/* Pure: the freeze levels of @selected (borrowed from @filesystems), ordered as
 * qa_storage_graph_freeze_levels() says, from what every filesystem is stored on (@depends, as
 * qa_storage_graph_dependencies() gives it for @selected), following dependencies through
 * filesystems that are not selected (a loop image on an unselected filesystem whose own image
 * is on a selected one). NULL with @error on a cycle. qa_storage_graph_freeze_levels() is this
 * over every filesystem. */
GPtrArray *
qa_storage_graph_levels(GPtrArray *filesystems,
			GPtrArray *depends,
			GPtrArray *selected,
			GError **error);
