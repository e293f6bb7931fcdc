/* The freezer with the kernel's FIFREEZE on loop-mounted ext4, xfs and btrfs images this test
 * creates itself. Safety: the roots are confined to the test's own directory, every freeze names
 * its mountpoints explicitly, the watchdog thaws after a few seconds, and teardown thaws,
 * unmounts and detaches whatever happened. Needs root; skipped (77) otherwise. */
/* cmocka.h needs these first */
/* clang-format off */
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <linux/fs.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
/* clang-format on */

#include "freezer-private.h"
#include "qa-error.h"

static gchar *dir;	   /* everything this test creates lives here */
static gchar *statedir;	   /* the freezer's state: on a memory filesystem, as it requires */
static GPtrArray *mounted; /* mountpoints, in mount order */
static GPtrArray *loops;   /* loop devices set up without a mount, detached by cleanup() */
static GPtrArray *freezes; /* mountpoints in FIFREEZE order, recorded by the ops below */
static gboolean is_presync = TRUE;
static gint64 last_freeze_us; /* how long the last FIFREEZE held writers */
G_LOCK_DEFINE_STATIC(freezes);

static gboolean
sh(const gchar *command)
{
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;
	const gchar *argv[] = {"/bin/sh", "-c", command, NULL};
	gint status = 0;

	if (!g_spawn_sync(NULL, (gchar **)argv, NULL, 0, NULL, NULL, &out, &err, &status, NULL))
		return FALSE;
	if (!g_spawn_check_wait_status(status, NULL)) {
		g_printerr("command failed: %s\n%s%s", command, out, err);
		return FALSE;
	}
	return TRUE;
}

static gchar *
path(const gchar *name)
{
	return g_build_filename(dir, name, NULL);
}

/* mkfs + mount -o loop; the image lives in @image_dir (the test dir or another image) */
static gboolean
make_fs(const gchar *fstype, const gchar *image_dir, const gchar *name, guint size_mb)
{
	g_autofree gchar *image = g_strdup_printf("%s/%s.img", image_dir, name);
	g_autofree gchar *mp = path(name);
	const gchar *mkfs = g_str_equal(fstype, "xfs")	   ? "mkfs.xfs -q -f"
			    : g_str_equal(fstype, "btrfs") ? "mkfs.btrfs -q -f"
							   : "mkfs.ext4 -q -F";
	g_autofree gchar *cmd =
	    g_strdup_printf("truncate -s %uM '%s' && %s '%s' && mkdir -p '%s' && "
			    "mount -o loop '%s' '%s'",
			    size_mb,
			    image,
			    mkfs,
			    image,
			    mp,
			    image,
			    mp);
	if (!sh(cmd))
		return FALSE;
	g_ptr_array_add(mounted, g_steal_pointer(&mp));
	return TRUE;
}

static gint
record_freeze(gint fd, const gchar *mountpoint, gpointer user_data)
{
	gint64 start = g_get_monotonic_time();
	gint ret = ioctl(fd, FIFREEZE, 0) == 0 ? 0 : -errno;

	G_LOCK(freezes);
	g_ptr_array_add(freezes, g_path_get_basename(mountpoint));
	last_freeze_us = g_get_monotonic_time() - start;
	G_UNLOCK(freezes);
	return ret;
}

static gint
maybe_sync(gint fd, const gchar *mountpoint, gpointer user_data)
{
	if (!is_presync)
		return 0;
	return syncfs(fd) == 0 ? 0 : -errno;
}

static QaFreezer *
new_freezer(void)
{
	static QaFreezerOps ops = {.freeze = record_freeze, .sync = maybe_sync};
	g_autoptr(QaRoots) roots = qa_roots_new_default();
	QaFreezerOptions options = {
	    .roots = roots,
	    .statedir = statedir,
	    .auto_thaw_ms = 8000,  /* the safety net: nothing here stays frozen longer */
	    .expedites_rcu = TRUE, /* the agent's default */
	    .ops = &ops,
	};
	g_autoptr(GError) error = NULL;
	QaFreezer *freezer;

	roots->use_udev = FALSE;
	roots->confine = g_strdup(dir);
	freezer = qa_freezer_new(&options, &error);
	g_assert_no_error(error);
	return freezer;
}

static GPtrArray *
names(const gchar *first, ...)
{
	GPtrArray *list = g_ptr_array_new_with_free_func(g_free);
	va_list args;

	va_start(args, first);
	for (const gchar *n = first; n != NULL; n = va_arg(args, const gchar *))
		g_ptr_array_add(list, path(n));
	va_end(args);
	return list;
}

static void
cleanup(void)
{
	for (guint i = mounted->len; i > 0; i--) {
		const gchar *mp = g_ptr_array_index(mounted, i - 1);
		g_autofree gchar *cmd = g_strdup_printf(
		    "fsfreeze -u '%s' 2>/dev/null; umount '%s' || umount -l '%s'", mp, mp, mp);
		sh(cmd);
	}
	g_ptr_array_set_size(mounted, 0);
	for (guint i = 0; i < loops->len; i++) {
		g_autofree gchar *cmd =
		    g_strdup_printf("losetup -d '%s'", (const gchar *)g_ptr_array_index(loops, i));
		sh(cmd);
	}
	g_ptr_array_set_size(loops, 0);
}

static int
setup(void **state)
{
	dir = g_dir_make_tmp("qa-freeze-real-XXXXXX", NULL);
	statedir = g_strdup("/dev/shm/qa-freeze-real-state-XXXXXX");
	g_assert_nonnull(g_mkdtemp_full(statedir, 0700));
	mounted = g_ptr_array_new_with_free_func(g_free);
	loops = g_ptr_array_new_with_free_func(g_free);
	freezes = g_ptr_array_new_with_free_func(g_free);
	if (!make_fs("ext4", dir, "ext4", 300) || !make_fs("xfs", dir, "xfs", 300) ||
	    !make_fs("btrfs", dir, "btrfs", 300) || !make_fs("ext4", dir, "outer", 300)) {
		cleanup();
		return -1;
	}
	/* an image on "outer", loop-mounted: it must be frozen before outer */
	{
		g_autofree gchar *outer = path("outer");
		if (!make_fs("ext4", outer, "inner", 64)) {
			cleanup();
			return -1;
		}
	}
	return 0;
}

static int
teardown(void **state)
{
	g_autofree gchar *cmd = g_strdup_printf("rm -rf '%s' '%s'", dir, statedir);

	cleanup();
	sh(cmd);
	return 0;
}

/* a writer on a frozen filesystem blocks until the thaw, then completes; what was written before
 * the freeze is on the image while it is frozen */
static void
test_writer_blocks(void **state)
{
	g_autoptr(QaFreezer) freezer = new_freezer();
	g_autoptr(GPtrArray) list = names("ext4", "xfs", "btrfs", NULL);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *image = path("ext4.img");
	g_autofree gchar *debugfs = g_strdup_printf("debugfs -R 'cat /before' '%s' 2>/dev/null | "
						    "grep -q 'written before the freeze'",
						    image);
	pid_t pids[3];
	guint count = 0;

	for (guint i = 0; i < list->len; i++) {
		g_autofree gchar *before =
		    g_build_filename(g_ptr_array_index(list, i), "before", NULL);
		assert_true(g_file_set_contents(before, "written before the freeze", -1, NULL));
	}
	assert_true(qa_freezer_freeze(freezer, list, &count, &error));
	g_assert_no_error(error);
	assert_int_equal(count, 3);
	/* read through the image file, not the mounted filesystem */
	assert_true(sh(debugfs));
	for (guint i = 0; i < list->len; i++) {
		g_autofree gchar *target =
		    g_build_filename(g_ptr_array_index(list, i), "during", NULL);
		pids[i] = fork();
		if (pids[i] == 0) {
			int fd = open(target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			_exit(fd >= 0 && write(fd, "x", 1) == 1 && fsync(fd) == 0 ? 0 : 1);
		}
	}
	g_usleep(700 * 1000);
	for (guint i = 0; i < list->len; i++) {
		gint status = 0;
		/* still blocked on the frozen filesystem */
		assert_int_equal(waitpid(pids[i], &status, WNOHANG), 0);
	}
	assert_true(qa_freezer_thaw(freezer, NULL, &count, &error));
	g_assert_no_error(error);
	assert_int_equal(count, 3);
	for (guint i = 0; i < list->len; i++) {
		gint status = -1;
		for (gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
		     waitpid(pids[i], &status, WNOHANG) == 0 && g_get_monotonic_time() < end;)
			g_usleep(10 * 1000);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	assert_false(qa_freezer_is_any_frozen(freezer));
}

/* the loop image on "outer" is frozen first whatever order the list names them in */
static void
test_loop_order(void **state)
{
	g_autoptr(QaFreezer) freezer = new_freezer();
	g_autoptr(GPtrArray) list = names("outer", "inner", NULL);
	g_autoptr(GError) error = NULL;
	guint count = 0;

	g_ptr_array_set_size(freezes, 0);
	assert_true(qa_freezer_freeze(freezer, list, &count, &error));
	g_assert_no_error(error);
	assert_int_equal(count, 2);
	assert_int_equal(freezes->len, 2);
	assert_string_equal(g_ptr_array_index(freezes, 0), "inner");
	assert_string_equal(g_ptr_array_index(freezes, 1), "outer");
	assert_true(qa_freezer_thaw(freezer, NULL, &count, &error));
	assert_int_equal(count, 2);
}

static guint64
read_seqnum(void)
{
	g_autofree gchar *text = NULL;

	g_assert_true(g_file_get_contents("/sys/kernel/uevent_seqnum", &text, NULL, NULL));
	return g_ascii_strtoull(text, NULL, 10);
}

/* freezes @first (and @second, nullable) and thaws them; the storage builds it took */
static guint
freeze_thaw(QaFreezer *freezer, const gchar *first, const gchar *second)
{
	g_autoptr(GPtrArray) list = names(first, second, NULL);
	g_autoptr(GError) error = NULL;
	guint before = qa_freezer_storage_get_builds(freezer->storage);
	guint count = 0;

	assert_true(qa_freezer_freeze(freezer, list, &count, &error));
	g_assert_no_error(error);
	assert_int_equal(count, list->len);
	assert_true(qa_freezer_thaw(freezer, NULL, &count, &error));
	assert_int_equal(count, list->len);
	return qa_freezer_storage_get_builds(freezer->storage) - before;
}

/* The storage a freezer keeps between calls is rebuilt after a mount, an unmount or a new loop
 * device, and the order and dependencies of a call after each are those of the system then */
static void
test_changes_between_calls(void **state)
{
	g_autoptr(QaFreezer) freezer = new_freezer();
	g_autoptr(GPtrArray) late = names("late", NULL);
	g_autoptr(GPtrArray) outer_only = names("outer", NULL);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *outer = path("outer");
	g_autofree gchar *late_mp = path("late");
	g_autofree gchar *spare = g_strdup_printf("%s/spare.img", outer);
	g_autofree gchar *cmd = NULL;
	g_autofree gchar *loop = NULL;
	guint64 seqnum;
	guint builds;
	guint count = 0;

	freeze_thaw(freezer, "outer", NULL);
	/* nothing changed: kept, unless something else on the machine sent a uevent */
	seqnum = read_seqnum();
	if (freeze_thaw(freezer, "outer", NULL) == 0)
		g_print("kept between calls\n");
	else
		assert_int_not_equal(read_seqnum(), seqnum);

	/* a new loop device and mount: an image on outer, frozen before it and stored on it */
	assert_true(make_fs("ext4", outer, "late", 32));
	g_ptr_array_set_size(freezes, 0);
	assert_true(qa_freezer_freeze(freezer, late, &count, &error));
	g_assert_no_error(error);
	assert_true(qa_freezer_freeze(freezer, outer_only, &count, &error));
	g_assert_no_error(error);
	assert_string_equal(g_ptr_array_index(freezes, 0), "late");
	/* stored_on, across the calls: late cannot be thawed while outer stays frozen */
	assert_false(qa_freezer_thaw(freezer, late, &count, &error));
	g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_INVALID);
	g_clear_error(&error);
	assert_true(qa_freezer_thaw(freezer, NULL, &count, &error));
	assert_int_equal(count, 2);
	/* both in one call, through the kept model when nothing sent a uevent meanwhile */
	seqnum = read_seqnum();
	builds = freeze_thaw(freezer, "outer", "late");
	if (read_seqnum() == seqnum)
		assert_int_equal(builds, 0);
	assert_string_equal(g_ptr_array_index(freezes, freezes->len - 2), "late");

	/* unmounted: no longer a mountpoint to freeze */
	cmd = g_strdup_printf("umount '%s'", late_mp);
	assert_true(sh(cmd));
	g_ptr_array_remove_index(mounted, mounted->len - 1);
	assert_false(qa_freezer_freeze(freezer, late, &count, &error));
	assert_non_null(error);
	assert_false(qa_freezer_is_any_frozen(freezer));
	g_clear_error(&error);

	/* a loop device set up, no mount changed: rebuilt all the same */
	g_clear_pointer(&cmd, g_free);
	cmd = g_strdup_printf("truncate -s 1M '%s'", spare);
	assert_true(sh(cmd));
	seqnum = read_seqnum();
	{
		const gchar *argv[] = {"losetup", "-f", "--show", spare, NULL};
		assert_true(g_spawn_sync(NULL,
					 (gchar **)argv,
					 NULL,
					 G_SPAWN_SEARCH_PATH,
					 NULL,
					 NULL,
					 &loop,
					 NULL,
					 NULL,
					 NULL));
	}
	g_strstrip(loop);
	assert_true(g_str_has_prefix(loop, "/dev/loop"));
	g_ptr_array_add(loops, g_strdup(loop));
	assert_int_not_equal(read_seqnum(), seqnum);
	assert_true(freeze_thaw(freezer, "outer", NULL) >= 1);
	g_clear_pointer(&cmd, g_free);
	cmd = g_strdup_printf("losetup -d '%s'", loop);
	assert_true(sh(cmd));
	g_ptr_array_remove_index(loops, loops->len - 1);
}

/* frozen by someone else: an error naming it, and the rest of the list is rolled back */
static void
test_external_freeze(void **state)
{
	g_autoptr(QaFreezer) freezer = new_freezer();
	g_autoptr(GPtrArray) list = names("ext4", "xfs", NULL);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *xfs = path("xfs");
	g_autofree gchar *freeze = g_strdup_printf("fsfreeze -f '%s'", xfs);
	g_autofree gchar *thaw = g_strdup_printf("fsfreeze -u '%s'", xfs);
	guint count = 0;

	assert_true(sh(freeze));
	assert_false(qa_freezer_freeze(freezer, list, &count, &error));
	assert_true(sh(thaw));
	g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_BUSY);
	assert_non_null(strstr(error->message, xfs));
	assert_false(qa_freezer_is_any_frozen(freezer));
	/* ext4 was thawed again: a second FIFREEZE works */
	g_clear_error(&error);
	assert_true(qa_freezer_freeze(freezer, list, &count, &error));
	assert_int_equal(count, 2);
	assert_true(qa_freezer_thaw(freezer, NULL, &count, &error));
}

/* measures the writer stall: dirty data, then the FIFREEZE time with and without presync */
static void
test_measure_presync(void **state)
{
	g_autoptr(GPtrArray) list = names("ext4", NULL);
	g_autofree gchar *mp = path("ext4");
	g_autofree gchar *dirty =
	    g_strdup_printf("dd if=/dev/urandom of='%s/dirty' bs=1M count=150 "
			    "status=none",
			    mp);

	for (guint round = 0; round < 6; round++) {
		g_autoptr(QaFreezer) freezer = NULL;
		g_autoptr(GError) error = NULL;
		gint64 start;
		gint64 took;
		guint count = 0;

		is_presync = round % 2 == 0;
		assert_true(sh(dirty));
		freezer = new_freezer();
		start = g_get_monotonic_time();
		assert_true(qa_freezer_freeze(freezer, list, &count, &error));
		took = g_get_monotonic_time() - start;
		assert_true(qa_freezer_thaw(freezer, NULL, &count, &error));
		g_print("measure presync=%d dirty=150MiB call-ms=%.1f fifreeze-ms=%.1f\n",
			is_presync,
			took / 1000.0,
			last_freeze_us / 1000.0);
	}
	is_presync = TRUE;
}

/* The descriptor the ioctls go to is the root of a mount of the expected filesystem: not a plain
 * directory where the mount was (for btrfs, whose device the check cannot compare, that was the
 * filesystem of the directory's parent: the host's), and not what a symbolic link leads to. */
static void
test_open_checks_the_mount(void **state)
{
	g_autofree gchar *plain = path("plain-dir");
	g_autofree gchar *ext4 = path("ext4");
	g_autofree gchar *link = path("link-to-ext4");
	struct stat st;
	gint fd;

	assert_int_equal(g_mkdir(plain, 0700), 0);
	assert_int_equal(stat(ext4, &st), 0);
	assert_int_equal(symlink(ext4, link), 0);
	assert_int_equal(qa_freezer_open_checked(plain, 0, 0, "btrfs", NULL), -ESTALE);
	assert_int_equal(
	    qa_freezer_open_checked(link, major(st.st_dev), minor(st.st_dev), "ext4", NULL),
	    -ESTALE);
	fd = qa_freezer_open_checked(ext4, major(st.st_dev), minor(st.st_dev), "ext4", NULL);
	assert_true(fd >= 0);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_open_checks_the_mount),
	    cmocka_unit_test(test_writer_blocks),
	    cmocka_unit_test(test_loop_order),
	    cmocka_unit_test(test_changes_between_calls),
	    cmocka_unit_test(test_external_freeze),
	    cmocka_unit_test(test_measure_presync),
	};

	if (geteuid() != 0 || !sh("command -v mkfs.xfs && command -v mkfs.btrfs && command -v "
				  "debugfs && command -v fsfreeze")) {
		g_print("skipped: needs root, mkfs.xfs, mkfs.btrfs, debugfs and fsfreeze\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
