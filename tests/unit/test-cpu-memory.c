/* Unit tests of system/cpu-memory.c: the parsers on hand-written cases, the readers on trees
 * captured from this project's build VM and hand-written ones (tests/fixtures/cpu-memory/), and
 * the setters on copies of those trees in a temporary directory: nothing here writes to the
 * machine's /sys. */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <linux/fs.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cpu-memory.h"
#include "fixture-roots.h"
#include "qa-error.h"

/* --- helpers ------------------------------------------------------------------------------ */

static gchar *
fixture_path(const gchar *fixture, const gchar *rel)
{
	const gchar *fixtures = g_getenv("QA_FIXTURES");

	return g_build_filename(
	    fixtures != NULL ? fixtures : ".", "cpu-memory", fixture, rel, NULL);
}

static QaRoots *
roots_for(const gchar *fixture)
{
	g_autofree gchar *rel = g_build_filename("cpu-memory", fixture, NULL);

	return qa_test_fixture_roots(rel);
}

static gchar *
read_fixture(const gchar *fixture, const gchar *rel)
{
	g_autofree gchar *path = fixture_path(fixture, rel);
	gchar *text = NULL;

	assert_true(g_file_get_contents(path, &text, NULL, NULL));
	return text;
}

static void
copy_tree(const gchar *from, const gchar *to)
{
	g_autoptr(GDir) dir = g_dir_open(from, 0, NULL);
	const gchar *name;

	assert_non_null(dir);
	assert_int_equal(g_mkdir_with_parents(to, 0755), 0);
	while ((name = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *src = g_build_filename(from, name, NULL);
		g_autofree gchar *dst = g_build_filename(to, name, NULL);
		g_autofree gchar *text = NULL;
		gsize len = 0;

		if (g_file_test(src, G_FILE_TEST_IS_DIR)) {
			copy_tree(src, dst);
			continue;
		}
		assert_true(g_file_get_contents(src, &text, &len, NULL));
		assert_true(g_file_set_contents(dst, text, len, NULL));
	}
}

/* A writable copy of a fixture's tree: the roots point at it, and it is removed at the end */
typedef struct {
	gchar *dir;
	QaRoots *roots;
} TempTree;

static void
remove_tree(const gchar *path)
{
	g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
	const gchar *name;

	while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *child = g_build_filename(path, name, NULL);

		if (g_file_test(child, G_FILE_TEST_IS_DIR) &&
		    !g_file_test(child, G_FILE_TEST_IS_SYMLINK))
			remove_tree(child);
		else
			g_unlink(child);
	}
	g_rmdir(path);
}

static TempTree *
temp_tree_new(const gchar *fixture)
{
	TempTree *tree = g_new0(TempTree, 1);
	g_autofree gchar *src = fixture_path(fixture, NULL);
	g_autofree gchar *sys = NULL;
	g_autofree gchar *proc = NULL;

	tree->dir = g_dir_make_tmp("qa-cpu-memory-XXXXXX", NULL);
	assert_non_null(tree->dir);
	copy_tree(src, tree->dir);
	sys = g_build_filename(tree->dir, "sys", NULL);
	proc = g_build_filename(tree->dir, "proc", NULL);
	tree->roots = qa_roots_new(proc, sys, "/dev", FALSE);
	return tree;
}

static void
temp_tree_free(TempTree *tree)
{
	remove_tree(tree->dir);
	g_free(tree->dir);
	qa_roots_free(tree->roots);
	g_free(tree);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TempTree, temp_tree_free)

static gchar *
tree_path(const TempTree *tree, const gchar *rel)
{
	return g_build_filename(tree->roots->sys, rel, NULL);
}

static gchar *
tree_read(const TempTree *tree, const gchar *rel)
{
	g_autofree gchar *path = tree_path(tree, rel);
	gchar *text = NULL;

	assert_true(g_file_get_contents(path, &text, NULL, NULL));
	return text;
}

/* sets the file's mtime far in the past, so that any write shows as a new mtime */
static void
tree_age(const TempTree *tree, const gchar *rel)
{
	g_autofree gchar *path = tree_path(tree, rel);
	struct timespec times[2] = {{1000, 0}, {1000, 0}};

	assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
}

static gboolean
tree_is_untouched(const TempTree *tree, const gchar *rel)
{
	g_autofree gchar *path = tree_path(tree, rel);
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_mtim.tv_sec == 1000;
}

/* Makes a file refuse writes or accept them again: its mode for a user, the immutable flag for
 * root (whom modes do not stop). FALSE when the temporary directory's filesystem has no such
 * flag. */
static gboolean
tree_set_unwritable(const TempTree *tree, const gchar *rel, gboolean unwritable)
{
	g_autofree gchar *path = tree_path(tree, rel);
	int flags = 0;
	int fd;
	gboolean ok;

	if (geteuid() != 0) {
		assert_int_equal(chmod(path, unwritable ? 0444 : 0644), 0);
		return TRUE;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	ok = ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
	if (ok) {
		flags = unwritable ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL);
		ok = ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
	}
	close(fd);
	return ok;
}

/* --- pure parsers ------------------------------------------------------------------------- */

static const struct {
	const gchar *name;
	const gchar *prefix;
	gint64 index; /* -1: not an entry of that kind */
} index_cases[] = {
    {"cpu0", "cpu", 0},
    {"cpu1", "cpu", 1},
    {"cpu4095", "cpu", 4095},
    {"memory123", "memory", 123},
    {"cpu9223372036854775807", "cpu", G_MAXINT64},
    {"cpu9223372036854775808", "cpu", -1},
    {"cpu", "cpu", -1},
    {"cpufreq", "cpu", -1},
    {"cpuidle", "cpu", -1},
    {"cpu01", "cpu", -1},
    {"cpu-1", "cpu", -1},
    {"cpu+1", "cpu", -1},
    {"cpu1 ", "cpu", -1},
    {"cpu1x", "cpu", -1},
    {"memory0", "cpu", -1},
    {"block_size_bytes", "memory", -1},
    {"memory_failure", "memory", -1},
};

static void
test_parse_index(void **state)
{
	for (guint i = 0; i < G_N_ELEMENTS(index_cases); i++) {
		guint64 index = 99;
		gboolean ok =
		    qa_cpu_memory_parse_index(index_cases[i].name, index_cases[i].prefix, &index);

		assert_int_equal(ok, index_cases[i].index >= 0);
		if (ok)
			assert_int_equal(index, index_cases[i].index);
	}
}

static const struct {
	const gchar *text;
	gint online; /* -1: refused */
} online_cases[] = {
    {"1\n", 1},
    {"0\n", 0},
    {"1", 1},
    {"0 \n", 0},
    {"", -1},
    {"\n", -1},
    {"2\n", -1},
    {"10\n", -1},
    {"yes\n", -1},
    {" 1\n", -1},
};

static void
test_parse_online(void **state)
{
	for (guint i = 0; i < G_N_ELEMENTS(online_cases); i++) {
		g_autoptr(GError) error = NULL;
		gboolean online = FALSE;
		gboolean ok = qa_cpu_memory_parse_online(online_cases[i].text, &online, &error);

		if (online_cases[i].online < 0) {
			assert_false(ok);
			g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_PARSE);
			assert_non_null(strstr(error->message, "expected 0 or 1"));
		} else {
			assert_true(ok);
			assert_int_equal(online, online_cases[i].online);
		}
	}
}

static const struct {
	const gchar *text;
	guint64 size; /* 0: refused */
} block_size_cases[] = {
    {"8000000\n", 134217728},
    {"80000000\n", G_GUINT64_CONSTANT(2147483648)},
    {"400000000\n", G_GUINT64_CONSTANT(17179869184)},
    {"ffffffffffffffff\n", G_MAXUINT64},
    {"8000000", 134217728},
    {"", 0},
    {"0\n", 0},
    {"zz\n", 0},
    {"0x\n", 0},
    {"-8000000\n", 0},
    {"10000000000000000\n", 0},
    {"8000000 8\n", 0},
};

static void
test_parse_block_size(void **state)
{
	for (guint i = 0; i < G_N_ELEMENTS(block_size_cases); i++) {
		g_autoptr(GError) error = NULL;
		guint64 size = 0;
		gboolean ok =
		    qa_cpu_memory_parse_block_size(block_size_cases[i].text, &size, &error);

		if (block_size_cases[i].size == 0) {
			assert_false(ok);
			g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_PARSE);
			assert_non_null(strstr(error->message, "hexadecimal"));
		} else {
			assert_true(ok);
			assert_int_equal(size, block_size_cases[i].size);
		}
	}
}

static const struct {
	guint64 ticks;
	guint64 hz;
	guint64 ms;
} ticks_cases[] = {
    {0, 100, 0},
    {1, 100, 10},
    {94215, 100, 942150},
    {7, 1000, 7},
    {1, 250, 4},
    {3, 300, 10},
    {1, 3, 333},
    {2, 3, 666},
    /* qemu-ga's ticks * 1000 wraps from here; the quotient is still exact */
    {G_GUINT64_CONSTANT(18446744073709552), 100, G_GUINT64_CONSTANT(184467440737095520)},
    {G_GUINT64_CONSTANT(1844674407370955161), 100, G_GUINT64_CONSTANT(18446744073709551610)},
    {G_MAXUINT64, 100, G_MAXUINT64},
    {G_MAXUINT64, 1000, G_MAXUINT64},
    {G_MAXUINT64, G_MAXUINT64 / 1000, 1000000},
};

static void
test_ticks_to_ms(void **state)
{
	for (guint i = 0; i < G_N_ELEMENTS(ticks_cases); i++)
		assert_int_equal(qa_cpu_memory_ticks_to_ms(ticks_cases[i].ticks, ticks_cases[i].hz),
				 ticks_cases[i].ms);
}

/* --- /proc/stat --------------------------------------------------------------------------- */

/* handmade-columns/proc/stat: one CPU per column count a kernel (or a malformed line) gives */
static const struct {
	gint64 cpu;
	guint n_times;
	guint64 first_ms; /* user, in ms at 100 Hz */
	guint64 last_ms;  /* the last column the line has */
} stat_cases[] = {
    {0, 10, 1000, 40},
    {1, 9, 1010, 210},
    {2, 8, 1020, 10},
    {3, 7, 1030, 20},
    {4, 6, 1040, 10},
    {5, 5, 1050, 140},
    {6, 4, 1060, 15060},
    {7, 10, 1070, 0}, /* indented, a tab, 12 numbers: the first 10 */
    {8, 10, G_MAXUINT64, 0},
};

static void
test_cpustats_columns(void **state)
{
	g_autofree gchar *text = read_fixture("handmade-columns", "proc/stat");
	guint bad_line = 0;
	g_autoptr(GPtrArray) stats = qa_cpu_memory_cpustats_parse(text, 100, &bad_line);

	/* "cpu10 1 2 3 x 5" on line 16 ends the parse, as in qemu-ga: cpu11 is not read, and
	 * "cpufreq" and "cpu09" are not CPUs */
	assert_int_equal(bad_line, 16);
	assert_int_equal(stats->len, G_N_ELEMENTS(stat_cases));
	for (guint i = 0; i < stats->len; i++) {
		const QaCpuMemoryCpuStat *stat = g_ptr_array_index(stats, i);

		assert_int_equal(stat->cpu, stat_cases[i].cpu);
		assert_int_equal(stat->n_times, stat_cases[i].n_times);
		assert_int_equal(stat->times_ms[QA_CPU_MEMORY_TIME_USER], stat_cases[i].first_ms);
		assert_int_equal(stat->times_ms[stat->n_times - 1], stat_cases[i].last_ms);
		for (guint j = stat->n_times; j < QA_CPU_MEMORY_TIME__MAX; j++)
			assert_int_equal(stat->times_ms[j], 0);
	}
	/* cpu8's nice: 1844674407370955161 ticks, 10 ms each, just fits */
	assert_int_equal(((const QaCpuMemoryCpuStat *)g_ptr_array_index(stats, 8))->times_ms[1],
			 G_GUINT64_CONSTANT(18446744073709551610));
}

static void
test_cpustats_hz(void **state)
{
	g_autoptr(GPtrArray) at_1000 = qa_cpu_memory_cpustats_parse("cpu3 1 2 3 4\n", 1000, NULL);
	g_autoptr(GPtrArray) at_250 = qa_cpu_memory_cpustats_parse("cpu3 1 2 3 4\n", 250, NULL);
	g_autoptr(GPtrArray) none = qa_cpu_memory_cpustats_parse("", 100, NULL);
	g_autoptr(GPtrArray) aggregate = qa_cpu_memory_cpustats_parse("cpu 1 2 3 4", 100, NULL);
	guint bad_line = 7;
	g_autoptr(GPtrArray) first_bad = qa_cpu_memory_cpustats_parse("cpu0 1\n", 100, &bad_line);
	const QaCpuMemoryCpuStat *stat = g_ptr_array_index(at_1000, 0);

	assert_int_equal(stat->cpu, 3);
	assert_int_equal(stat->times_ms[3], 4);
	stat = g_ptr_array_index(at_250, 0);
	assert_int_equal(stat->times_ms[0], 4);
	assert_int_equal(stat->times_ms[3], 16);
	assert_int_equal(none->len, 0);
	assert_int_equal(aggregate->len, 0);
	assert_int_equal(first_bad->len, 0);
	assert_int_equal(bad_line, 1);
}

/* the capture: every "cpuN" line, converted from its own numbers */
static void
test_cpustats_host(void **state)
{
	g_autofree gchar *text = read_fixture("host-debian12", "proc/stat");
	g_autofree gchar *hz_text = read_fixture("host-debian12", "clk-tck");
	guint64 hz = g_ascii_strtoull(hz_text, NULL, 10);
	guint bad_line = 1;
	g_autoptr(GPtrArray) stats = qa_cpu_memory_cpustats_parse(text, hz, &bad_line);
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	guint n = 0;

	assert_int_equal(bad_line, 0);
	for (guint i = 0; lines[i] != NULL; i++) {
		g_auto(GStrv) words = g_strsplit(lines[i], " ", -1);
		const QaCpuMemoryCpuStat *stat;

		if (!g_str_has_prefix(lines[i], "cpu") || g_str_has_prefix(lines[i], "cpu "))
			continue;
		assert_true(n < stats->len);
		stat = g_ptr_array_index(stats, n++);
		assert_int_equal(stat->cpu, g_ascii_strtoll(words[0] + 3, NULL, 10));
		/* Linux since 2.6.33: ten columns */
		assert_int_equal(stat->n_times, 10);
		for (guint j = 0; j < 10; j++)
			assert_int_equal(stat->times_ms[j],
					 g_ascii_strtoull(words[j + 1], NULL, 10) * 1000 / hz);
	}
	assert_int_equal(n, stats->len);
	assert_int_equal(n, 2);
}

/* --- /proc/diskstats ---------------------------------------------------------------------- */

static const struct {
	const gchar *name;
	guint32 major;
	guint32 minor;
	guint n_counters;
	guint64 first;
	guint64 last; /* counters[n_counters - 1] */
} disk_cases[] = {
    {"vda", 253, 0, 17, 12345, 60},
    {"vda1", 253, 1, 15, 12000, 39},
    {"sda", 8, 0, 11, 111, 1111},
    {"sda1", 8, 1, 4, 4, 200},
    {"sdb", 8, 16, 10, 1, 10},
    {"sdc", 8, 32, 17, G_MAXUINT64, 4294967295},
    {"nvme0n1", 259, 0, 17, 1, 17},
    {"1", 7, 1, 10, 2, 11},
    {"loop4", 7, 4, 10, 1, 10},
    {"loop7", 7, 7, 17, 1, 17},
};

static void
test_diskstats_columns(void **state)
{
	g_autofree gchar *text = read_fixture("handmade-columns", "proc/diskstats");
	g_autoptr(GPtrArray) stats = qa_cpu_memory_diskstats_parse(text);

	/* left out: fewer than four numbers (loop0, "7 6", loop5 whose fourth overflows), a
	 * major that is not a number, a negative minor, the blank line */
	assert_int_equal(stats->len, G_N_ELEMENTS(disk_cases));
	for (guint i = 0; i < stats->len; i++) {
		const QaCpuMemoryDiskStat *stat = g_ptr_array_index(stats, i);

		assert_string_equal(stat->name, disk_cases[i].name);
		assert_int_equal(stat->major, disk_cases[i].major);
		assert_int_equal(stat->minor, disk_cases[i].minor);
		assert_int_equal(stat->n_counters, disk_cases[i].n_counters);
		assert_int_equal(stat->counters[0], disk_cases[i].first);
		assert_int_equal(stat->counters[stat->n_counters - 1], disk_cases[i].last);
	}
}

/* Which counters are reported for each count of numbers, as qemu-ga's sscanf() count decides:
 * one letter per counter in QaCpuMemoryDiskCounter order, '.' for none, 'x' for the number at
 * that place, a digit for the number at that place of an old partition line */
static const struct {
	guint n_counters;
	const gchar *present;
} disk_get_cases[] = {
    {4, "0.1.2.3.........."},
    {5, "................."},
    {10, "................."},
    {11, "xxxxxxxxxxx......"},
    {14, "xxxxxxxxxxx......"},
    {15, "xxxxxxxxxxxxxxx.."},
    {16, "xxxxxxxxxxxxxxx.."},
    {17, "xxxxxxxxxxxxxxxxx"},
};

static void
test_disk_stat_get(void **state)
{
	for (guint i = 0; i < G_N_ELEMENTS(disk_get_cases); i++) {
		QaCpuMemoryDiskStat stat = {.n_counters = disk_get_cases[i].n_counters};

		for (guint c = 0; c < QA_CPU_MEMORY_DISK__MAX; c++)
			stat.counters[c] = 100 + c;
		for (guint c = 0; c < QA_CPU_MEMORY_DISK__MAX; c++) {
			gchar want = disk_get_cases[i].present[c];
			guint64 value = 0;
			gboolean has = qa_cpu_memory_disk_stat_get(&stat, c, &value);

			assert_int_equal(has, want != '.');
			if (want == 'x')
				assert_int_equal(value, 100 + c);
			else if (want != '.')
				assert_int_equal(value, 100 + (want - '0'));
		}
	}
}

static void
test_diskstats_host(void **state)
{
	g_autofree gchar *text = read_fixture("host-debian12", "proc/diskstats");
	g_autoptr(GPtrArray) stats = qa_cpu_memory_diskstats_parse(text);
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	guint n = 0;

	for (guint i = 0; lines[i] != NULL; i++) {
		g_auto(GStrv) words = g_strsplit_set(g_strstrip(lines[i]), " ", -1);
		g_autoptr(GPtrArray) kept = g_ptr_array_new();
		const QaCpuMemoryDiskStat *stat;

		for (guint j = 0; words[j] != NULL; j++) {
			if (words[j][0] != '\0')
				g_ptr_array_add(kept, words[j]);
		}
		if (kept->len == 0)
			continue;
		/* Linux 5.5 and later: 20 columns */
		assert_int_equal(kept->len, 20);
		stat = g_ptr_array_index(stats, n++);
		assert_string_equal(stat->name, g_ptr_array_index(kept, 2));
		assert_int_equal(stat->major,
				 g_ascii_strtoull(g_ptr_array_index(kept, 0), NULL, 10));
		assert_int_equal(stat->minor,
				 g_ascii_strtoull(g_ptr_array_index(kept, 1), NULL, 10));
		assert_int_equal(stat->n_counters, 17);
		for (guint j = 0; j < 17; j++)
			assert_int_equal(
			    stat->counters[j],
			    g_ascii_strtoull(g_ptr_array_index(kept, j + 3), NULL, 10));
	}
	assert_true(n > 0);
	assert_int_equal(n, stats->len);
}

static void
test_proc_missing(void **state)
{
	g_autoptr(QaRoots) roots = roots_for("handmade-no-memory");
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) cpu = qa_cpu_memory_cpustats_load(roots, NULL, &error);
	g_autoptr(GError) error2 = NULL;
	g_autoptr(GPtrArray) disk = qa_cpu_memory_diskstats_load(roots, &error2);

	assert_null(cpu);
	g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_NOT_FOUND);
	assert_non_null(strstr(error->message, "/proc/stat'"));
	assert_null(disk);
	g_assert_error(error2, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_NOT_FOUND);
	assert_non_null(strstr(error2->message, "/proc/diskstats'"));
}

static void
test_proc_load(void **state)
{
	g_autoptr(QaRoots) roots = roots_for("handmade-columns");
	guint bad_line = 0;
	g_autoptr(GPtrArray) cpu = qa_cpu_memory_cpustats_load(roots, &bad_line, NULL);
	g_autoptr(GPtrArray) disk = qa_cpu_memory_diskstats_load(roots, NULL);

	assert_non_null(cpu);
	assert_int_equal(cpu->len, G_N_ELEMENTS(stat_cases));
	assert_int_equal(bad_line, 16);
	assert_non_null(disk);
	assert_int_equal(disk->len, G_N_ELEMENTS(disk_cases));
}

/* --- CPUs --------------------------------------------------------------------------------- */

static const struct {
	const gchar *fixture;
	const gchar *expected; /* "id:online:can-offline ..." in id order; NULL: error @code */
	gint code;
} vcpus_cases[] = {
    /* the build VM: x86, no online file for the boot CPU */
    {"host-debian12", "0:1:0 1:1:1", 0},
    /* ids in numeric order, whatever order readdir() gives; cpufreq, cpuidle, smt skipped */
    {"handmade-hotplug", "0:1:0 1:1:1 2:0:1 3:1:1 10:1:1", 0},
    {"handmade-all-hotpluggable", "0:1:1 1:1:1 2:0:1", 0},
    {"handmade-bad-online", NULL, QA_SYSTEM_ERROR_PARSE},
    {"handmade-no-cpus", NULL, QA_SYSTEM_ERROR_NOT_FOUND},
    {"does-not-exist", NULL, QA_SYSTEM_ERROR_NOT_FOUND},
};

static void
test_vcpus_load(void **state)
{
	for (guint i = 0; i < G_N_ELEMENTS(vcpus_cases); i++) {
		g_autoptr(QaRoots) roots = roots_for(vcpus_cases[i].fixture);
		g_autoptr(GError) error = NULL;
		g_autoptr(GPtrArray) vcpus = qa_cpu_memory_vcpus_load(roots, &error);
		g_autoptr(GString) got = g_string_new(NULL);

		if (vcpus_cases[i].expected == NULL) {
			assert_null(vcpus);
			g_assert_error(error, QA_SYSTEM_ERROR, vcpus_cases[i].code);
			continue;
		}
		assert_non_null(vcpus);
		for (guint j = 0; j < vcpus->len; j++) {
			const QaCpuMemoryVcpu *vcpu = g_ptr_array_index(vcpus, j);

			/* what libvirt refuses: offline and unable to go offline */
			assert_true(vcpu->is_online || vcpu->can_offline);
			g_string_append_printf(got,
					       "%s%" G_GINT64_FORMAT ":%d:%d",
					       j > 0 ? " " : "",
					       vcpu->id,
					       vcpu->is_online,
					       vcpu->can_offline);
		}
		assert_string_equal(got->str, vcpus_cases[i].expected);
	}
}

static void
test_vcpus_load_messages(void **state)
{
	g_autoptr(QaRoots) bad = roots_for("handmade-bad-online");
	g_autoptr(QaRoots) none = roots_for("handmade-no-cpus");
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) error2 = NULL;
	g_autoptr(GPtrArray) vcpus = qa_cpu_memory_vcpus_load(bad, &error);
	g_autoptr(GPtrArray) vcpus2 = qa_cpu_memory_vcpus_load(none, &error2);

	assert_null(vcpus);
	assert_non_null(strstr(error->message, "cpu1/online': The state 'yes' is not valid"));
	assert_null(vcpus2);
	assert_non_null(strstr(error2->message, "No logical processors in '"));
}

static void
test_vcpu_set(void **state)
{
	g_autoptr(TempTree) tree = temp_tree_new("handmade-hotplug");
	g_autoptr(GError) error = NULL;
	g_autofree gchar *cpu1 = NULL;
	g_autofree gchar *cpu2 = NULL;
	g_autofree gchar *cpu0 = tree_path(tree, "devices/system/cpu/cpu0/online");

	/* changes: the file holds what `echo 0 >` would leave */
	assert_true(qa_cpu_memory_vcpu_set(tree->roots, 1, FALSE, NULL));
	assert_true(qa_cpu_memory_vcpu_set(tree->roots, 2, TRUE, NULL));
	cpu1 = tree_read(tree, "devices/system/cpu/cpu1/online");
	cpu2 = tree_read(tree, "devices/system/cpu/cpu2/online");
	assert_string_equal(cpu1, "0");
	assert_string_equal(cpu2, "1");

	/* the state already matches: nothing is written */
	tree_age(tree, "devices/system/cpu/cpu3/online");
	assert_true(qa_cpu_memory_vcpu_set(tree->roots, 3, TRUE, NULL));
	assert_true(tree_is_untouched(tree, "devices/system/cpu/cpu3/online"));

	/* the boot CPU without an online file: online for good */
	assert_true(qa_cpu_memory_vcpu_set(tree->roots, 0, TRUE, NULL));
	assert_false(g_file_test(cpu0, G_FILE_TEST_EXISTS));
	assert_false(qa_cpu_memory_vcpu_set(tree->roots, 0, FALSE, &error));
	g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_UNSUPPORTED);
	assert_non_null(strstr(error->message, "Logical processor 0 cannot be taken offline"));
	assert_false(g_file_test(cpu0, G_FILE_TEST_EXISTS));
}

static const struct {
	gint64 id;
	const gchar *text;
} unknown_cases[] = {
    {99, "Logical processor 99 does not exist"},
    {4, "Logical processor 4 does not exist"},
    {-1, "Logical processor -1 does not exist"},
    {G_MININT64, "Logical processor -9223372036854775808 does not exist"},
    {G_MAXINT64, "Logical processor 9223372036854775807 does not exist"},
};

static void
test_vcpu_set_unknown(void **state)
{
	g_autoptr(TempTree) tree = temp_tree_new("handmade-hotplug");

	for (guint i = 0; i < G_N_ELEMENTS(unknown_cases); i++) {
		for (gint online = 0; online <= 1; online++) {
			g_autoptr(GError) error = NULL;

			assert_false(qa_cpu_memory_vcpu_set(
			    tree->roots, unknown_cases[i].id, online, &error));
			g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_NOT_FOUND);
			assert_non_null(strstr(error->message, unknown_cases[i].text));
		}
	}
}

static void
test_vcpu_set_last(void **state)
{
	g_autoptr(TempTree) tree = temp_tree_new("handmade-all-hotpluggable");
	g_autoptr(GError) error = NULL;
	g_autofree gchar *cpu1 = NULL;

	assert_true(qa_cpu_memory_vcpu_set(tree->roots, 0, FALSE, NULL));
	assert_false(qa_cpu_memory_vcpu_set(tree->roots, 1, FALSE, &error));
	g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_INVALID);
	assert_string_equal(error->message,
			    "Cannot take logical processor 1 offline: it is the last one online");
	cpu1 = tree_read(tree, "devices/system/cpu/cpu1/online");
	assert_string_equal(cpu1, "1\n");
	/* an offline CPU asked to go offline is not a change, last or not */
	assert_true(qa_cpu_memory_vcpu_set(tree->roots, 2, FALSE, NULL));
	/* with another one back, it can go */
	assert_true(qa_cpu_memory_vcpu_set(tree->roots, 2, TRUE, NULL));
	assert_true(qa_cpu_memory_vcpu_set(tree->roots, 1, FALSE, NULL));
}

static void
test_vcpu_set_write_fails(void **state)
{
	g_autoptr(TempTree) tree = temp_tree_new("handmade-all-hotpluggable");
	g_autoptr(GError) error = NULL;
	gboolean ok;

	if (!tree_set_unwritable(tree, "devices/system/cpu/cpu1/online", TRUE)) {
		skip();
		return;
	}
	ok = qa_cpu_memory_vcpu_set(tree->roots, 1, FALSE, &error);
	tree_set_unwritable(tree, "devices/system/cpu/cpu1/online", FALSE);
	assert_false(ok);
	g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_FAILED);
	assert_non_null(strstr(error->message,
			       "Cannot take logical processor 1 offline: writing "
			       "'0' to '"));
}

static void
test_vcpus_set(void **state)
{
	g_autoptr(TempTree) tree = temp_tree_new("handmade-hotplug");
	const QaCpuMemoryVcpu stop_at_third[] = {
	    {.id = 1, .is_online = FALSE},
	    {.id = 2, .is_online = TRUE},
	    {.id = 99, .is_online = TRUE},
	    {.id = 3, .is_online = FALSE},
	};
	const QaCpuMemoryVcpu first_fails[] = {
	    {.id = 0, .is_online = FALSE},
	    {.id = 3, .is_online = FALSE},
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) error2 = NULL;
	g_autofree gchar *cpu3 = NULL;
	guint n = 99;

	assert_true(qa_cpu_memory_vcpus_set(tree->roots, NULL, 0, &n, NULL));
	assert_int_equal(n, 0);
	assert_false(qa_cpu_memory_vcpus_set(tree->roots, stop_at_third, 4, &n, &error));
	assert_int_equal(n, 2);
	g_assert_error(error, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_NOT_FOUND);
	assert_non_null(strstr(error->message, "99"));
	cpu3 = tree_read(tree, "devices/system/cpu/cpu3/online");
	assert_string_equal(cpu3, "1\n");
	assert_false(qa_cpu_memory_vcpus_set(tree->roots, first_fails, 2, &n, &error2));
	assert_int_equal(n, 0);
	g_assert_error(error2, QA_SYSTEM_ERROR, QA_SYSTEM_ERROR_UNSUPPORTED);
	/* the first two again: both are done already, without a write */
	assert_true(qa_cpu_memory_vcpus_set(tree->roots, stop_at_third, 2, &n, NULL));
	assert_int_equal(n, 2);
}

/* --- memory blocks ------------------------------------------------------------------------ */

static const struct {
	const gchar *fixture;
	const gchar *expected; /* "index:online:can-offline ..."; NULL: error @code */
	gint code;
} blocks_cases[] = {
    {"handmade-hotplug", "0:1:0 1:1:1 8:0:1 9:0:1 32:1:0 33:1:0 100:0:0", 0},
    {"handmade-no-memory", "", 0},
    {"handmade-empty-memory", NULL, QA_SYSTEM_ERROR_NOT_FOUND},
    {"handmade-bad-online", NULL, QA_SYSTEM_ERROR_PARSE},
};

static gchar *
blocks_to_string(GPtrArray *blocks)
{
	GString *got = g_string_new(NULL);

	for (guint j = 0; j < blocks->len; j++) {
		const QaCpuMemoryBlock *block = g_ptr_array_index(blocks, j);

		g_string_append_printf(got,
				       "%s%" G_GUINT64_FORMAT ":%d:%d",
				       j > 0 ? " " : "",
				       block->phys_index,
				       block->is_online,
				       block->can_offline);
	}
	return g_string_free(got, FALSE);
}

static void
test_blocks_load(void **state)
{
	for (guint i = 0; i < G_N_ELEMENTS(blocks_cases); i++) {
		g_autoptr(QaRoots) roots = roots_for(blocks_cases[i].fixture);
		g_autoptr(GError) error = NULL;
		g_autoptr(GPtrArray) blocks = qa_cpu_memory_blocks_load(roots, &error);
		g_autofree gchar *got = NULL;

		if (blocks_cases[i].expected == NULL) {
			assert_null(blocks);
			g_assert_error(error, QA_SYSTEM_ERROR, blocks_cases[i].code);
			continue;
		}
		assert_non_null(blocks);
		got = blocks_to_string(blocks);
		assert_string_equal(got, blocks_cases[i].expected);
	}
}

/* the capture: every memoryN, by number, as its own files say */
static void
test_blocks_host(void **state)
{
	g_autoptr(QaRoots) roots = roots_for("host-debian12");
	g_autoptr(GPtrArray) blocks = qa_cpu_memory_blocks_load(roots, NULL);
	g_autofree gchar *dir = fixture_path("host-debian12", "sys/devices/system/memory");
	g_autoptr(GDir) gdir = g_dir_open(dir, 0, NULL);
	guint n_dirs = 0;

	assert_non_null(blocks);
	while (g_dir_read_name(gdir) != NULL)
		n_dirs++;
	/* block_size_bytes and auto_online_blocks besides the blocks */
	assert_int_equal(blocks->len, n_dirs - 2);
	for (guint i = 0; i < blocks->len; i++) {
		const QaCpuMemoryBlock *block = g_ptr_array_index(blocks, i);
		g_autofree gchar *name =
		    g_strdup_printf("memory%" G_GUINT64_FORMAT, block->phys_index);
		g_autofree gchar *rel = g_build_filename("sys/devices/system/memory", name, NULL);
		g_autofree gchar *state_rel = g_build_filename(rel, "state", NULL);
		g_autofree gchar *removable_rel = g_build_filename(rel, "removable", NULL);
		g_autofree gchar *index_rel = g_build_filename(rel, "phys_index", NULL);
		g_autofree gchar *state_text = read_fixture("host-debian12", state_rel);
		g_autofree gchar *removable = read_fixture("host-debian12", removable_rel);
		g_autofree gchar *phys_index = read_fixture("host-debian12", index_rel);

		if (i > 0)
			assert_true(block->phys_index >
				    ((const QaCpuMemoryBlock *)g_ptr_array_index(blocks, i - 1))
					->phys_index);
		/* the name is decimal, phys_index hexadecimal: the same number */
		assert_int_equal(block->phys_index, g_ascii_strtoull(phys_index, NULL, 16));
		assert_int_equal(block->is_online, g_str_has_prefix(state_text, "online"));
		assert_int_equal(block->can_offline, removable[0] == '1');
	}
}

static const struct {
	const gchar *fixture;
	guint64 size; /* 0: error @code */
	gint code;
} block_size_load_cases[] = {
    {"host-debian12", 134217728, 0},
    {"handmade-hotplug", 134217728, 0},
    {"handmade-bad-online", 0, QA_SYSTEM_ERROR_PARSE},
    {"handmade-empty-memory", 0, QA_SYSTEM_ERROR_PARSE},
    {"handmade-no-memory", 0, QA_SYSTEM_ERROR_NOT_FOUND},
};

static void
test_block_size_load(void **state)
{
	for (guint i = 0; i < G_N_ELEMENTS(block_size_load_cases); i++) {
		g_autoptr(QaRoots) roots = roots_for(block_size_load_cases[i].fixture);
		g_autoptr(GError) error = NULL;
		guint64 size = 0;
		gboolean ok = qa_cpu_memory_block_size_load(roots, &size, &error);

		if (block_size_load_cases[i].size == 0) {
			assert_false(ok);
			g_assert_error(error, QA_SYSTEM_ERROR, block_size_load_cases[i].code);
			assert_non_null(strstr(error->message, "block_size_bytes'"));
			continue;
		}
		assert_true(ok);
		assert_int_equal(size, block_size_load_cases[i].size);
	}
}

static const struct {
	guint64 phys_index;
	gboolean online;
	QaCpuMemoryBlockSetResult result;
	gint errsv;
	const gchar *state_after; /* NULL: no state file */
} block_set_cases[] = {
    {8, TRUE, QA_CPU_MEMORY_BLOCK_SET_SUCCESS, 0, "online"},
    {1, FALSE, QA_CPU_MEMORY_BLOCK_SET_SUCCESS, 0, "offline"},
    {9, TRUE, QA_CPU_MEMORY_BLOCK_SET_SUCCESS, 0, "online"},
    /* no state file: online for good (qemu-ga adds error-code 2 to this success) */
    {32, TRUE, QA_CPU_MEMORY_BLOCK_SET_SUCCESS, 0, NULL},
    {32, FALSE, QA_CPU_MEMORY_BLOCK_SET_NOT_SUPPORTED, ENOENT, NULL},
    {5, TRUE, QA_CPU_MEMORY_BLOCK_SET_NOT_FOUND, ENOENT, NULL},
    {5, FALSE, QA_CPU_MEMORY_BLOCK_SET_NOT_FOUND, ENOENT, NULL},
    {G_MAXUINT64, FALSE, QA_CPU_MEMORY_BLOCK_SET_NOT_FOUND, ENOENT, NULL},
};

static void
test_block_set(void **state)
{
	g_autoptr(TempTree) tree = temp_tree_new("handmade-hotplug");

	for (guint i = 0; i < G_N_ELEMENTS(block_set_cases); i++) {
		g_autofree gchar *name =
		    g_strdup_printf("devices/system/memory/memory%" G_GUINT64_FORMAT "/state",
				    block_set_cases[i].phys_index);
		g_autofree gchar *path = tree_path(tree, name);
		gint errsv = -1;
		QaCpuMemoryBlockSetResult result = qa_cpu_memory_block_set(
		    tree->roots, block_set_cases[i].phys_index, block_set_cases[i].online, &errsv);

		assert_int_equal(result, block_set_cases[i].result);
		assert_int_equal(errsv, block_set_cases[i].errsv);
		if (block_set_cases[i].state_after == NULL) {
			assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
		} else {
			g_autofree gchar *text = tree_read(tree, name);
			assert_string_equal(text, block_set_cases[i].state_after);
		}
	}
}

static void
test_block_set_unchanged(void **state)
{
	g_autoptr(TempTree) tree = temp_tree_new("handmade-hotplug");
	gint errsv = -1;

	tree_age(tree, "devices/system/memory/memory0/state");
	tree_age(tree, "devices/system/memory/memory100/state");
	assert_int_equal(qa_cpu_memory_block_set(tree->roots, 0, TRUE, &errsv),
			 QA_CPU_MEMORY_BLOCK_SET_SUCCESS);
	assert_int_equal(errsv, 0);
	assert_int_equal(qa_cpu_memory_block_set(tree->roots, 100, FALSE, &errsv),
			 QA_CPU_MEMORY_BLOCK_SET_SUCCESS);
	assert_int_equal(errsv, 0);
	assert_true(tree_is_untouched(tree, "devices/system/memory/memory0/state"));
	assert_true(tree_is_untouched(tree, "devices/system/memory/memory100/state"));
}

static void
test_block_set_odd_trees(void **state)
{
	g_autoptr(TempTree) none = temp_tree_new("handmade-no-memory");
	g_autoptr(TempTree) bad = temp_tree_new("handmade-bad-online");
	gint errsv = -1;

	/* no memory directory: the kernel cannot hot-plug memory */
	assert_int_equal(qa_cpu_memory_block_set(none->roots, 0, TRUE, &errsv),
			 QA_CPU_MEMORY_BLOCK_SET_NOT_SUPPORTED);
	assert_int_equal(errsv, ENOENT);
	/* an empty state file: qemu-ga's error-code would be 0 */
	assert_int_equal(qa_cpu_memory_block_set(bad->roots, 0, FALSE, &errsv),
			 QA_CPU_MEMORY_BLOCK_SET_FAILED);
	assert_int_equal(errsv, EIO);
}

static void
test_block_set_write_fails(void **state)
{
	g_autoptr(TempTree) tree = temp_tree_new("handmade-hotplug");
	gint errsv = 0;
	QaCpuMemoryBlockSetResult result;
	g_autofree gchar *text = NULL;

	if (!tree_set_unwritable(tree, "devices/system/memory/memory1/state", TRUE)) {
		skip();
		return;
	}
	result = qa_cpu_memory_block_set(tree->roots, 1, FALSE, &errsv);
	tree_set_unwritable(tree, "devices/system/memory/memory1/state", FALSE);
	assert_int_equal(result, QA_CPU_MEMORY_BLOCK_SET_FAILED);
	assert_true(errsv == EPERM || errsv == EACCES);
	text = tree_read(tree, "devices/system/memory/memory1/state");
	assert_string_equal(text, "online\n");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_index),
	    cmocka_unit_test(test_parse_online),
	    cmocka_unit_test(test_parse_block_size),
	    cmocka_unit_test(test_ticks_to_ms),
	    cmocka_unit_test(test_cpustats_columns),
	    cmocka_unit_test(test_cpustats_hz),
	    cmocka_unit_test(test_cpustats_host),
	    cmocka_unit_test(test_diskstats_columns),
	    cmocka_unit_test(test_disk_stat_get),
	    cmocka_unit_test(test_diskstats_host),
	    cmocka_unit_test(test_proc_missing),
	    cmocka_unit_test(test_proc_load),
	    cmocka_unit_test(test_vcpus_load),
	    cmocka_unit_test(test_vcpus_load_messages),
	    cmocka_unit_test(test_vcpu_set),
	    cmocka_unit_test(test_vcpu_set_unknown),
	    cmocka_unit_test(test_vcpu_set_last),
	    cmocka_unit_test(test_vcpu_set_write_fails),
	    cmocka_unit_test(test_vcpus_set),
	    cmocka_unit_test(test_blocks_load),
	    cmocka_unit_test(test_blocks_host),
	    cmocka_unit_test(test_block_size_load),
	    cmocka_unit_test(test_block_set),
	    cmocka_unit_test(test_block_set_unchanged),
	    cmocka_unit_test(test_block_set_odd_trees),
	    cmocka_unit_test(test_block_set_write_fails),
	};
	return cmocka_run_group_tests_name("cpu-memory", tests, NULL, NULL);
}
