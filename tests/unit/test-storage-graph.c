/* Freeze levels: a filesystem on a loop device before the filesystem holding its file. */
/* cmocka.h needs these before it */
/* clang-format off */
#include <glib.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
/* clang-format on */

#include <string.h>

#include "blockdev.h"
#include "fixture-roots.h"
#include "mounts.h"
#include "storage-graph.h"

static const struct {
	const gchar *fixture;
	const gchar *expected; /* levels separated by " | ", first mountpoints by "," */
} level_cases[] = {
    /* synthetic: loop0 on /images (vda2), dm-1 over loop1 on /images, loop2 on /mnt/img */
    {"debian12-q35-synthetic",
     "/run/user/0,/mnt/inner,/mnt/dmloop,/lsi,/nvme,/srv,/data,/run,/,/dev,/sys,/proc | "
     "/mnt/img | /images"},
    /* real: /tmp/qa-fx/nested on loop1 whose file is on /tmp/qa-fx/part (loop0), whose file is on
     * /; btrfs over loop2+loop3 whose files are on / too */
    {"host-debian12-virtio-blk",
     "/tmp/qa-fx/tmp,/tmp/qa-fx/btrfs,/tmp/qa-fx/nested,/sys/fs/cgroup/unified,"
     "/sys/fs/cgroup/systemd,/sys/fs/cgroup/pids,/sys/fs/cgroup/blkio,/sys/fs/cgroup/freezer,"
     "/sys/fs/cgroup/devices,/sys/fs/cgroup/memory,/sys/fs/cgroup/cpuset,/sys/fs/cgroup/cpuacct,"
     "/sys/fs/cgroup/cpu,/sys/fs/cgroup,/dev/shm,/dev/pts,/dev/pts,/dev/shm,/dev,/sys,/proc | "
     "/tmp/qa-fx/part | /"},
};

/* levels as "first mountpoints of a level, separated by ',' | the next level" */
static gchar *
levels_to_string(GPtrArray *levels)
{
	GString *str = g_string_new(NULL);

	for (guint l = 0; l < levels->len; l++) {
		GPtrArray *level = g_ptr_array_index(levels, l);
		if (l > 0)
			g_string_append(str, " | ");
		for (guint j = 0; j < level->len; j++) {
			QaFilesystem *fs = g_ptr_array_index(level, j);
			g_string_append_printf(
			    str,
			    "%s%s",
			    j > 0 ? "," : "",
			    (const gchar *)g_ptr_array_index(fs->mountpoints, 0));
		}
	}
	return g_string_free(str, FALSE);
}

static void
test_storage_graph_levels(void **state)
{
	for (guint i = 0; i < G_N_ELEMENTS(level_cases); i++) {
		g_autoptr(QaRoots) roots = qa_test_fixture_roots(level_cases[i].fixture);
		g_autoptr(GPtrArray) mounts = qa_mounts_load(roots, NULL);
		g_autoptr(GPtrArray) filesystems = qa_filesystems_from_mounts(roots, mounts);
		g_autoptr(GError) error = NULL;
		g_autoptr(GPtrArray) levels =
		    qa_storage_graph_freeze_levels(roots, filesystems, &error);
		g_autofree gchar *str = NULL;

		assert_non_null(levels);
		str = levels_to_string(levels);
		assert_string_equal(str, level_cases[i].expected);
	}
}

/* the levels worked out from the dependency walk (one walk of the devices, as a freeze call
 * does) are those of the walk of its own, for every fixture */
static void
test_storage_graph_levels_from_dependencies(void **state)
{
	for (guint i = 0; i < G_N_ELEMENTS(level_cases); i++) {
		g_autoptr(QaRoots) roots = qa_test_fixture_roots(level_cases[i].fixture);
		g_autoptr(GPtrArray) mounts = qa_mounts_load(roots, NULL);
		g_autoptr(GPtrArray) filesystems = qa_filesystems_from_mounts(roots, mounts);
		g_autoptr(GPtrArray) fs_mounts = qa_filesystems_to_mounts(filesystems);
		g_autoptr(QaBlockdevModel) model = qa_blockdev_model_new(roots, fs_mounts);
		g_autoptr(GPtrArray) depends =
		    qa_storage_graph_dependencies_in(model, fs_mounts, filesystems, filesystems);
		g_autoptr(GError) error = NULL;
		g_autoptr(GPtrArray) levels =
		    qa_storage_graph_levels(filesystems, depends, filesystems, &error);
		g_autofree gchar *str = NULL;

		assert_non_null(levels);
		str = levels_to_string(levels);
		assert_string_equal(str, level_cases[i].expected);
	}
}

/* filesystems "a".."e"; @edges: "xy" pairs, x is stored on y */
static GPtrArray *
make_depends(GPtrArray *filesystems, const gchar *const *edges)
{
	GPtrArray *depends = g_ptr_array_new_with_free_func((GDestroyNotify)g_array_unref);

	for (guint i = 0; i < 5; i++) {
		g_autofree gchar *mp = g_strdup_printf("/%c", 'a' + i);
		QaFilesystem *fs = qa_filesystem_new(7, i, "ext4", "/dev/loop");
		g_ptr_array_add(fs->mountpoints, g_steal_pointer(&mp));
		g_ptr_array_add(filesystems, fs);
		g_ptr_array_add(depends, g_array_new(FALSE, FALSE, sizeof(guint)));
	}
	for (guint i = 0; edges[i] != NULL; i++) {
		guint below = edges[i][1] - 'a';
		g_array_append_val(g_ptr_array_index(depends, edges[i][0] - 'a'), below);
	}
	return depends;
}

/* pure: an order through a filesystem that is not selected, parallel levels, and a cycle */
static void
test_storage_graph_levels_pure(void **state)
{
	static const gchar *const chain[] = {"ab", "bc", "dc", NULL};
	static const gchar *const cycle[] = {"ab", "ba", NULL};
	g_autoptr(GPtrArray) filesystems =
	    g_ptr_array_new_with_free_func((GDestroyNotify)qa_filesystem_free);
	g_autoptr(GPtrArray) depends = make_depends(filesystems, chain);
	g_autoptr(GPtrArray) selected = g_ptr_array_new();
	g_autoptr(GPtrArray) levels = NULL;
	g_autoptr(GPtrArray) cycle_fs =
	    g_ptr_array_new_with_free_func((GDestroyNotify)qa_filesystem_free);
	g_autoptr(GPtrArray) cycle_depends = make_depends(cycle_fs, cycle);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *str = NULL;

	/* a on b (not selected) on c: a before c, though no device of a is c's; d on c, e alone */
	g_ptr_array_add(selected, g_ptr_array_index(filesystems, 0));
	g_ptr_array_add(selected, g_ptr_array_index(filesystems, 2));
	g_ptr_array_add(selected, g_ptr_array_index(filesystems, 3));
	g_ptr_array_add(selected, g_ptr_array_index(filesystems, 4));
	levels = qa_storage_graph_levels(filesystems, depends, selected, NULL);
	assert_non_null(levels);
	str = levels_to_string(levels);
	assert_string_equal(str, "/e,/d,/a | /c");
	g_clear_pointer(&levels, g_ptr_array_unref);
	levels = qa_storage_graph_levels(cycle_fs, cycle_depends, cycle_fs, &error);
	assert_null(levels);
	assert_non_null(error);
	assert_non_null(strstr(error->message, "cycle"));
}

/* no filesystems: no levels, and nothing read */
static void
test_storage_graph_empty(void **state)
{
	g_autoptr(QaRoots) roots = qa_roots_new("/nonexistent", "/nonexistent", "/dev", FALSE);
	g_autoptr(GPtrArray) filesystems = g_ptr_array_new();
	g_autoptr(GPtrArray) levels = qa_storage_graph_freeze_levels(roots, filesystems, NULL);

	assert_non_null(levels);
	assert_int_equal(levels->len, 0);
}

/* the dependencies of a selection are those of the whole table for the selected filesystems
 * and everything they are stored on, and empty for the rest */
static void
test_storage_graph_dependencies_selected(void **state)
{
	g_autoptr(QaRoots) roots = qa_test_fixture_roots("host-debian12-virtio-blk");
	g_autoptr(GPtrArray) mounts = qa_mounts_load(roots, NULL);
	g_autoptr(GPtrArray) filesystems = qa_filesystems_from_mounts(roots, mounts);
	g_autoptr(GPtrArray) all = qa_storage_graph_dependencies(roots, filesystems, NULL, NULL);
	g_autoptr(GPtrArray) selected = g_ptr_array_new();
	g_autoptr(GPtrArray) some = NULL;
	gboolean reached[256] = {FALSE};
	guint nested = G_MAXUINT;

	assert_non_null(all);
	assert_true(filesystems->len < G_N_ELEMENTS(reached));
	for (guint i = 0; i < filesystems->len; i++) {
		QaFilesystem *fs = g_ptr_array_index(filesystems, i);
		if (g_strcmp0(g_ptr_array_index(fs->mountpoints, 0), "/tmp/qa-fx/nested") == 0)
			nested = i;
	}
	assert_int_not_equal(nested, G_MAXUINT);
	g_ptr_array_add(selected, g_ptr_array_index(filesystems, nested));
	some = qa_storage_graph_dependencies(roots, filesystems, selected, NULL);
	assert_non_null(some);
	assert_int_equal(some->len, all->len);
	/* nested is on part, which is on / */
	reached[nested] = TRUE;
	for (gboolean is_grown = TRUE; is_grown;) {
		is_grown = FALSE;
		for (guint i = 0; i < all->len; i++) {
			GArray *direct = g_ptr_array_index(all, i);
			for (guint j = 0; reached[i] && j < direct->len; j++) {
				guint below = g_array_index(direct, guint, j);
				is_grown |= !reached[below];
				reached[below] = TRUE;
			}
		}
	}
	for (guint i = 0, n = 0; i < all->len; i++, n += reached[i - 1]) {
		GArray *a = g_ptr_array_index(all, i);
		GArray *b = g_ptr_array_index(some, i);
		assert_int_equal(b->len, reached[i] ? a->len : 0);
		for (guint j = 0; j < b->len; j++)
			assert_int_equal(g_array_index(a, guint, j), g_array_index(b, guint, j));
		if (i == all->len - 1)
			assert_int_equal(n + reached[i], 3);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_storage_graph_levels),
	    cmocka_unit_test(test_storage_graph_levels_from_dependencies),
	    cmocka_unit_test(test_storage_graph_levels_pure),
	    cmocka_unit_test(test_storage_graph_empty),
	    cmocka_unit_test(test_storage_graph_dependencies_selected),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
