#include "cpu-memory.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernel-file.h"
#include "qa-error.h"
#include "qa-fd.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(DIR, closedir)

/* /proc/stat and /proc/diskstats are generated a record at a time; a guest with a few dozen CPUs
 * or disks fits this at once, and the reader grows past it */
#define QA_CPU_MEMORY_PROC_SIZE_HINT 16384
/* what the kernel reports /proc/stat in when sysconf() cannot say (USER_HZ on every arch) */
#define QA_CPU_MEMORY_USER_HZ 100

void
qa_cpu_memory_disk_stat_free(QaCpuMemoryDiskStat *stat)
{
	if (stat == NULL)
		return;
	g_free(stat->name);
	g_free(stat);
}

/* --- pure parsers ------------------------------------------------------------------------- */

gboolean
qa_cpu_memory_parse_index(const gchar *name, const gchar *prefix, guint64 *out_index)
{
	const gchar *digits;

	if (!g_str_has_prefix(name, prefix))
		return FALSE;
	digits = name + strlen(prefix);
	if (!g_ascii_isdigit(digits[0]) || (digits[0] == '0' && digits[1] != '\0'))
		return FALSE;
	return g_ascii_string_to_unsigned(digits, 10, 0, G_MAXINT64, out_index, NULL);
}

gboolean
qa_cpu_memory_parse_online(const gchar *text, gboolean *out_online, GError **error)
{
	g_autofree gchar *value = g_strchomp(g_strdup(text));

	if (g_strcmp0(value, "0") != 0 && g_strcmp0(value, "1") != 0) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_PARSE,
			    "The state '%s' is not valid; expected 0 or 1",
			    value);
		return FALSE;
	}
	*out_online = value[0] == '1';
	return TRUE;
}

gboolean
qa_cpu_memory_parse_block_size(const gchar *text, guint64 *out_size, GError **error)
{
	g_autofree gchar *value = g_strstrip(g_strdup(text));
	guint64 size = 0;

	if (!g_ascii_string_to_unsigned(value, 16, 1, G_MAXUINT64, &size, NULL)) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_PARSE,
			    "The block size '%s' is not valid; expected a hexadecimal number of "
			    "bytes above 0",
			    value);
		return FALSE;
	}
	*out_size = size;
	return TRUE;
}

guint64
qa_cpu_memory_ticks_to_ms(guint64 ticks, guint64 ticks_per_second)
{
	guint64 whole;
	guint64 part;

	g_return_val_if_fail(ticks_per_second > 0 && ticks_per_second <= G_MAXUINT64 / 1000, 0);
	/* whole * 1000 + rest * 1000 / hz is the product's quotient exactly, and rest * 1000 fits
	 * since rest < hz */
	whole = ticks / ticks_per_second;
	part = ticks % ticks_per_second * 1000 / ticks_per_second;
	if (whole > G_MAXUINT64 / 1000 || whole * 1000 > G_MAXUINT64 - part)
		return G_MAXUINT64;
	return whole * 1000 + part;
}

/* the white-space separated words of @line (@len bytes, no NUL needed) */
static gchar **
qa_cpu_memory_split_words(const gchar *line, gsize len)
{
	g_autofree gchar *copy = g_strndup(line, len);
	g_auto(GStrv) parts = g_strsplit_set(copy, " \t\r", -1);
	g_autoptr(GPtrArray) words = g_ptr_array_new_with_free_func(g_free);

	for (guint i = 0; parts[i] != NULL; i++) {
		if (parts[i][0] != '\0')
			g_ptr_array_add(words, g_strdup(parts[i]));
	}
	g_ptr_array_add(words, NULL);
	return (gchar **)g_ptr_array_free(g_steal_pointer(&words), FALSE);
}

/* how many of @words, from the first, are decimal numbers (at most @max), into @out_values */
static guint
qa_cpu_memory_parse_numbers(gchar **words, guint64 *out_values, guint max)
{
	guint n = 0;

	while (n < max && words[n] != NULL &&
	       g_ascii_string_to_unsigned(words[n], 10, 0, G_MAXUINT64, &out_values[n], NULL))
		n++;
	return n;
}

/* Whether the /proc/stat line @words is a CPU's; FALSE for the machine-wide "cpu" line, which
 * qemu-ga leaves out too, and for any other line. qemu-ga takes every word beginning with
 * "cpu" and atoi()s the rest; only "cpu<N>" is a CPU, so nothing else is read as CPU 0. */
static gboolean
qa_cpu_memory_is_cpu_line(gchar **words, gint64 *out_cpu)
{
	guint64 cpu = 0;

	if (words[0] == NULL || !qa_cpu_memory_parse_index(words[0], "cpu", &cpu))
		return FALSE;
	*out_cpu = (gint64)cpu;
	return TRUE;
}

GPtrArray *
qa_cpu_memory_cpustats_parse(const gchar *text, guint64 ticks_per_second, guint *out_bad_line)
{
	g_autoptr(GPtrArray) stats = g_ptr_array_new_with_free_func(g_free);
	guint line_no = 0;

	g_return_val_if_fail(ticks_per_second > 0 && ticks_per_second <= G_MAXUINT64 / 1000, NULL);
	if (out_bad_line != NULL)
		*out_bad_line = 0;
	for (const gchar *line = text; *line != '\0';) {
		const gchar *end = strchrnul(line, '\n');
		g_auto(GStrv) words = NULL;
		guint64 ticks[QA_CPU_MEMORY_TIME__MAX] = {0};
		g_autofree QaCpuMemoryCpuStat *stat = NULL;
		gint64 cpu = 0;

		line_no++;
		/* the interrupt lines are long: split only what may be a CPU's */
		if (strncmp(line + strspn(line, " \t"), "cpu", 3) == 0)
			words = qa_cpu_memory_split_words(line, end - line);
		line = *end == '\n' ? end + 1 : end;
		if (words == NULL || !qa_cpu_memory_is_cpu_line(words, &cpu))
			continue;
		stat = g_new0(QaCpuMemoryCpuStat, 1);
		stat->cpu = cpu;
		stat->n_times =
		    qa_cpu_memory_parse_numbers(words + 1, ticks, QA_CPU_MEMORY_TIME__MAX);
		if (stat->n_times < QA_CPU_MEMORY_TIME_MIN) {
			if (out_bad_line != NULL)
				*out_bad_line = line_no;
			break;
		}
		for (guint i = 0; i < stat->n_times; i++)
			stat->times_ms[i] = qa_cpu_memory_ticks_to_ms(ticks[i], ticks_per_second);
		g_ptr_array_add(stats, g_steal_pointer(&stat));
	}
	return g_steal_pointer(&stats);
}

/* one /proc/diskstats line; NULL when it is not "MAJ MIN NAME" and at least four numbers */
static QaCpuMemoryDiskStat *
qa_cpu_memory_diskstat_parse_line(const gchar *line, gsize len)
{
	g_auto(GStrv) words = qa_cpu_memory_split_words(line, len);
	g_autoptr(QaCpuMemoryDiskStat) stat = g_new0(QaCpuMemoryDiskStat, 1);
	guint64 major = 0;
	guint64 minor = 0;

	if (g_strv_length(words) < 3 ||
	    !g_ascii_string_to_unsigned(words[0], 10, 0, G_MAXUINT32, &major, NULL) ||
	    !g_ascii_string_to_unsigned(words[1], 10, 0, G_MAXUINT32, &minor, NULL))
		return NULL;
	stat->major = (guint32)major;
	stat->minor = (guint32)minor;
	stat->name = g_strdup(words[2]);
	stat->n_counters =
	    qa_cpu_memory_parse_numbers(words + 3, stat->counters, QA_CPU_MEMORY_DISK__MAX);
	if (stat->n_counters < QA_CPU_MEMORY_DISK_N_PARTITION_OLD)
		return NULL;
	return g_steal_pointer(&stat);
}

GPtrArray *
qa_cpu_memory_diskstats_parse(const gchar *text)
{
	g_autoptr(GPtrArray) stats =
	    g_ptr_array_new_with_free_func((GDestroyNotify)qa_cpu_memory_disk_stat_free);

	for (const gchar *line = text; *line != '\0';) {
		const gchar *end = strchrnul(line, '\n');
		QaCpuMemoryDiskStat *stat = qa_cpu_memory_diskstat_parse_line(line, end - line);

		if (stat != NULL)
			g_ptr_array_add(stats, stat);
		line = *end == '\n' ? end + 1 : end;
	}
	return g_steal_pointer(&stats);
}

gboolean
qa_cpu_memory_disk_stat_get(const QaCpuMemoryDiskStat *stat,
			    QaCpuMemoryDiskCounter counter,
			    guint64 *out_value)
{
	/* where an old partition line has each counter, 1-based; 0: it has none */
	static const guint old_layout[QA_CPU_MEMORY_DISK__MAX] = {
	    [QA_CPU_MEMORY_DISK_READ_IOS] = 1,
	    [QA_CPU_MEMORY_DISK_READ_SECTORS] = 2,
	    [QA_CPU_MEMORY_DISK_WRITE_IOS] = 3,
	    [QA_CPU_MEMORY_DISK_WRITE_SECTORS] = 4,
	};
	guint n = stat->n_counters;
	guint limit;

	g_return_val_if_fail(counter < QA_CPU_MEMORY_DISK__MAX, FALSE);
	if (n == QA_CPU_MEMORY_DISK_N_PARTITION_OLD) {
		if (old_layout[counter] == 0)
			return FALSE;
		*out_value = stat->counters[old_layout[counter] - 1];
		return TRUE;
	}
	if (n >= QA_CPU_MEMORY_DISK_N_FLUSH)
		limit = QA_CPU_MEMORY_DISK_N_FLUSH;
	else if (n >= QA_CPU_MEMORY_DISK_N_DISCARD)
		limit = QA_CPU_MEMORY_DISK_N_DISCARD;
	else if (n >= QA_CPU_MEMORY_DISK_N_BASIC)
		limit = QA_CPU_MEMORY_DISK_N_BASIC;
	else
		limit = 0;
	if ((guint)counter >= limit)
		return FALSE;
	*out_value = stat->counters[counter];
	return TRUE;
}

/* --- files -------------------------------------------------------------------------------- */

/* the text of a sysfs attribute; NULL with the errno in @out_errno */
static gchar *
qa_cpu_memory_read_attr(const gchar *path, gint *out_errno)
{
	gchar *text;

	errno = 0;
	text = qa_kernel_file_read(path, NULL);
	*out_errno = text == NULL ? (errno != 0 ? errno : EIO) : 0;
	return text;
}

static void
qa_cpu_memory_set_read_error(GError **error, const gchar *path, gint errsv)
{
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    errsv == ENOENT ? QA_SYSTEM_ERROR_NOT_FOUND : QA_SYSTEM_ERROR_FAILED,
		    "Cannot read '%s': %s",
		    path,
		    g_strerror(errsv));
}

/* writes @value to the attribute @path as `echo value > path` does (sysfs ignores O_TRUNC and
 * takes the one write as the whole value; a test tree's regular file is left holding @value
 * alone); 0 or the errno */
static gint
qa_cpu_memory_write_attr(const gchar *path, const gchar *value)
{
	gsize len = strlen(value);
	g_auto(QaFd) fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
	gssize n;

	if (fd < 0)
		return errno;
	do
		n = write(fd, value, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno;
	if ((gsize)n != len)
		return EIO;
	return 0;
}

static gint
qa_cpu_memory_compare_index(gconstpointer a, gconstpointer b)
{
	guint64 x = *(const guint64 *)a;
	guint64 y = *(const guint64 *)b;

	return x < y ? -1 : x > y;
}

/* N of every "<prefix>N" entry of @dir, ascending; NULL with the errno in @out_errno */
static GArray *
qa_cpu_memory_list_indices(const gchar *dir, const gchar *prefix, gint *out_errno)
{
	g_autoptr(DIR) dp = opendir(dir);
	g_autoptr(GArray) indices = g_array_new(FALSE, FALSE, sizeof(guint64));
	struct dirent *entry;

	*out_errno = 0;
	if (dp == NULL) {
		*out_errno = errno;
		return NULL;
	}
	while ((errno = 0, entry = readdir(dp)) != NULL) {
		guint64 index = 0;

		if (qa_cpu_memory_parse_index(entry->d_name, prefix, &index))
			g_array_append_val(indices, index);
	}
	if (errno != 0) {
		*out_errno = errno;
		return NULL;
	}
	g_array_sort(indices, qa_cpu_memory_compare_index);
	return g_steal_pointer(&indices);
}

/* --- CPUs --------------------------------------------------------------------------------- */

/* the state of cpu@id: TRUE with @out_has_online_file FALSE when there is no online file */
static gboolean
qa_cpu_memory_vcpu_read(const gchar *cpu_dir,
			gint64 id,
			gboolean *out_has_online_file,
			gboolean *out_online,
			GError **error)
{
	g_autofree gchar *name = g_strdup_printf("cpu%" G_GINT64_FORMAT, id);
	g_autofree gchar *path = g_build_filename(cpu_dir, name, "online", NULL);
	gint errsv = 0;
	g_autofree gchar *text = qa_cpu_memory_read_attr(path, &errsv);

	if (text == NULL && errsv == ENOENT) {
		*out_has_online_file = FALSE;
		*out_online = TRUE;
		return TRUE;
	}
	if (text == NULL) {
		qa_cpu_memory_set_read_error(error, path, errsv);
		return FALSE;
	}
	if (!qa_cpu_memory_parse_online(text, out_online, error)) {
		g_prefix_error(error, "Cannot read '%s': ", path);
		return FALSE;
	}
	*out_has_online_file = TRUE;
	return TRUE;
}

GPtrArray *
qa_cpu_memory_vcpus_load(const QaRoots *roots, GError **error)
{
	g_autofree gchar *cpu_dir = g_build_filename(roots->sys, QA_CPU_MEMORY_CPU_DIR, NULL);
	g_autoptr(GPtrArray) vcpus = g_ptr_array_new_with_free_func(g_free);
	gint errsv = 0;
	g_autoptr(GArray) ids = qa_cpu_memory_list_indices(cpu_dir, "cpu", &errsv);

	if (ids == NULL) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    errsv == ENOENT ? QA_SYSTEM_ERROR_NOT_FOUND : QA_SYSTEM_ERROR_FAILED,
			    "Cannot list the logical processors in '%s': %s",
			    cpu_dir,
			    g_strerror(errsv));
		return NULL;
	}
	if (ids->len == 0) {
		/* qemu-ga asserts there is one, and aborts */
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_NOT_FOUND,
			    "No logical processors in '%s'; expected cpu0, cpu1, ...",
			    cpu_dir);
		return NULL;
	}
	for (guint i = 0; i < ids->len; i++) {
		g_autofree QaCpuMemoryVcpu *vcpu = g_new0(QaCpuMemoryVcpu, 1);

		vcpu->id = (gint64)g_array_index(ids, guint64, i);
		if (!qa_cpu_memory_vcpu_read(
			cpu_dir, vcpu->id, &vcpu->can_offline, &vcpu->is_online, error))
			return NULL;
		g_ptr_array_add(vcpus, g_steal_pointer(&vcpu));
	}
	return g_steal_pointer(&vcpus);
}

/* FALSE with an error when no CPU but @id is online. Read afresh for each CPU taken offline,
 * since the files are the kernel's state (and a test tree's, which the writes change). */
static gboolean
qa_cpu_memory_check_not_last(const QaRoots *roots, gint64 id, GError **error)
{
	g_autoptr(GPtrArray) vcpus = qa_cpu_memory_vcpus_load(roots, error);

	if (vcpus == NULL) {
		g_prefix_error(error,
			       "Cannot tell whether logical processor %" G_GINT64_FORMAT
			       " is the last one online: ",
			       id);
		return FALSE;
	}
	for (guint i = 0; i < vcpus->len; i++) {
		const QaCpuMemoryVcpu *vcpu = g_ptr_array_index(vcpus, i);

		if (vcpu->id != id && vcpu->is_online)
			return TRUE;
	}
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_INVALID,
		    "Cannot take logical processor %" G_GINT64_FORMAT
		    " offline: it is the last one online",
		    id);
	return FALSE;
}

/* FALSE with NOT_FOUND when there is no cpu@id */
static gboolean
qa_cpu_memory_vcpu_check_exists(const gchar *cpu_dir, gint64 id, GError **error)
{
	g_autofree gchar *name = g_strdup_printf("cpu%" G_GINT64_FORMAT, id);
	g_autofree gchar *path = g_build_filename(cpu_dir, name, NULL);
	struct stat st;
	gint errsv = ENOENT;

	if (id >= 0) {
		errsv = stat(path, &st) != 0 ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
		if (errsv == 0)
			return TRUE;
	}
	if (errsv != ENOENT && errsv != ENOTDIR) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot look up logical processor %" G_GINT64_FORMAT " at '%s': %s",
			    id,
			    path,
			    g_strerror(errsv));
		return FALSE;
	}
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_NOT_FOUND,
		    "Logical processor %" G_GINT64_FORMAT
		    " does not exist; expected one of the cpuN in '%s'",
		    id,
		    cpu_dir);
	return FALSE;
}

gboolean
qa_cpu_memory_vcpu_set(const QaRoots *roots, gint64 id, gboolean online, GError **error)
{
	g_autofree gchar *cpu_dir = g_build_filename(roots->sys, QA_CPU_MEMORY_CPU_DIR, NULL);
	g_autofree gchar *name = g_strdup_printf("cpu%" G_GINT64_FORMAT, id);
	g_autofree gchar *path = g_build_filename(cpu_dir, name, "online", NULL);
	gboolean has_online_file = FALSE;
	gboolean is_online = FALSE;
	gint errsv;

	if (!qa_cpu_memory_vcpu_check_exists(cpu_dir, id, error))
		return FALSE;
	if (!qa_cpu_memory_vcpu_read(cpu_dir, id, &has_online_file, &is_online, error))
		return FALSE;
	if (!has_online_file && !online) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_UNSUPPORTED,
			    "Logical processor %" G_GINT64_FORMAT
			    " cannot be taken offline: the kernel offers no '%s'",
			    id,
			    path);
		return FALSE;
	}
	if (is_online == online)
		return TRUE;
	if (!online && !qa_cpu_memory_check_not_last(roots, id, error))
		return FALSE;
	errsv = qa_cpu_memory_write_attr(path, online ? "1" : "0");
	if (errsv != 0) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot %s logical processor %" G_GINT64_FORMAT " %s: writing '%s' to "
			    "'%s' failed: %s",
			    online ? "bring" : "take",
			    id,
			    online ? "online" : "offline",
			    online ? "1" : "0",
			    path,
			    g_strerror(errsv));
		return FALSE;
	}
	return TRUE;
}

gboolean
qa_cpu_memory_vcpus_set(const QaRoots *roots,
			const QaCpuMemoryVcpu *requests,
			guint n_requests,
			guint *n_processed,
			GError **error)
{
	*n_processed = 0;
	for (guint i = 0; i < n_requests; i++) {
		if (!qa_cpu_memory_vcpu_set(roots, requests[i].id, requests[i].is_online, error))
			return FALSE;
		(*n_processed)++;
	}
	return TRUE;
}

/* --- memory blocks ------------------------------------------------------------------------ */

/* memory@index's state and whether it can go offline, as qemu-ga reads them */
static gboolean
qa_cpu_memory_block_read(const gchar *memory_dir, QaCpuMemoryBlock *block, GError **error)
{
	g_autofree gchar *name = g_strdup_printf("memory%" G_GUINT64_FORMAT, block->phys_index);
	g_autofree gchar *state_path = g_build_filename(memory_dir, name, "state", NULL);
	g_autofree gchar *removable_path = g_build_filename(memory_dir, name, "removable", NULL);
	gint errsv = 0;
	g_autofree gchar *state = qa_cpu_memory_read_attr(state_path, &errsv);
	g_autofree gchar *removable = NULL;

	/* kernels without a state file cannot change a block: online, for good */
	if (state == NULL && errsv == ENOENT) {
		block->is_online = TRUE;
		block->can_offline = FALSE;
		return TRUE;
	}
	if (state == NULL) {
		qa_cpu_memory_set_read_error(error, state_path, errsv);
		return FALSE;
	}
	if (state[0] == '\0') {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_PARSE,
			    "'%s' is empty; expected online or offline",
			    state_path);
		return FALSE;
	}
	/* "online", "offline" or "going-offline" */
	block->is_online = g_str_has_prefix(state, "online");
	removable = qa_cpu_memory_read_attr(removable_path, &errsv);
	if (removable == NULL && errsv != ENOENT) {
		qa_cpu_memory_set_read_error(error, removable_path, errsv);
		return FALSE;
	}
	if (removable != NULL && removable[0] == '\0') {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_PARSE,
			    "'%s' is empty; expected 0 or 1",
			    removable_path);
		return FALSE;
	}
	block->can_offline = removable != NULL && removable[0] != '0';
	return TRUE;
}

GPtrArray *
qa_cpu_memory_blocks_load(const QaRoots *roots, GError **error)
{
	g_autofree gchar *memory_dir = g_build_filename(roots->sys, QA_CPU_MEMORY_MEMORY_DIR, NULL);
	g_autoptr(GPtrArray) blocks = g_ptr_array_new_with_free_func(g_free);
	gint errsv = 0;
	g_autoptr(GArray) indices = qa_cpu_memory_list_indices(memory_dir, "memory", &errsv);

	/* no directory: a kernel without memory hotplug, which has no blocks to report */
	if (indices == NULL && errsv == ENOENT)
		return g_steal_pointer(&blocks);
	if (indices == NULL) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot list the memory blocks in '%s': %s",
			    memory_dir,
			    g_strerror(errsv));
		return NULL;
	}
	if (indices->len == 0) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_NOT_FOUND,
			    "No memory blocks in '%s'; expected memory0, memory1, ...",
			    memory_dir);
		return NULL;
	}
	for (guint i = 0; i < indices->len; i++) {
		g_autofree QaCpuMemoryBlock *block = g_new0(QaCpuMemoryBlock, 1);

		block->phys_index = g_array_index(indices, guint64, i);
		if (!qa_cpu_memory_block_read(memory_dir, block, error))
			return NULL;
		g_ptr_array_add(blocks, g_steal_pointer(&block));
	}
	return g_steal_pointer(&blocks);
}

/* the block's directory: SUCCESS when it is there, else what qemu-ga answers for it */
static QaCpuMemoryBlockSetResult
qa_cpu_memory_block_find(const gchar *memory_dir, const gchar *block_dir, gint *out_errno)
{
	struct stat st;

	/* qemu-ga answers a missing memory directory with not-supported, but any other failure
	 * to open it with "success" and the errno; that is a failure */
	if (stat(memory_dir, &st) != 0) {
		*out_errno = errno;
		return errno == ENOENT ? QA_CPU_MEMORY_BLOCK_SET_NOT_SUPPORTED
				       : QA_CPU_MEMORY_BLOCK_SET_FAILED;
	}
	if (stat(block_dir, &st) != 0) {
		*out_errno = errno;
		return errno == ENOENT ? QA_CPU_MEMORY_BLOCK_SET_NOT_FOUND
				       : QA_CPU_MEMORY_BLOCK_SET_FAILED;
	}
	return QA_CPU_MEMORY_BLOCK_SET_SUCCESS;
}

QaCpuMemoryBlockSetResult
qa_cpu_memory_block_set(const QaRoots *roots, guint64 phys_index, gboolean online, gint *out_errno)
{
	g_autofree gchar *memory_dir = g_build_filename(roots->sys, QA_CPU_MEMORY_MEMORY_DIR, NULL);
	g_autofree gchar *name = g_strdup_printf("memory%" G_GUINT64_FORMAT, phys_index);
	g_autofree gchar *block_dir = g_build_filename(memory_dir, name, NULL);
	g_autofree gchar *path = g_build_filename(block_dir, "state", NULL);
	g_autofree gchar *state = NULL;
	QaCpuMemoryBlockSetResult result;
	gint errsv = 0;

	*out_errno = 0;
	result = qa_cpu_memory_block_find(memory_dir, block_dir, out_errno);
	if (result != QA_CPU_MEMORY_BLOCK_SET_SUCCESS)
		return result;
	state = qa_cpu_memory_read_attr(path, &errsv);
	/* no state file: online for good. qemu-ga adds the ENOENT to its success too; a success
	 * has no error */
	if (state == NULL && errsv == ENOENT && online)
		return QA_CPU_MEMORY_BLOCK_SET_SUCCESS;
	if (state == NULL) {
		*out_errno = errsv;
		return errsv == ENOENT ? QA_CPU_MEMORY_BLOCK_SET_NOT_SUPPORTED
				       : QA_CPU_MEMORY_BLOCK_SET_FAILED;
	}
	/* an empty state file: qemu-ga reports errno 0, which says nothing */
	if (state[0] == '\0') {
		*out_errno = EIO;
		return QA_CPU_MEMORY_BLOCK_SET_FAILED;
	}
	if (g_str_has_prefix(state, "online") == online)
		return QA_CPU_MEMORY_BLOCK_SET_SUCCESS;
	errsv = qa_cpu_memory_write_attr(path, online ? "online" : "offline");
	if (errsv != 0) {
		*out_errno = errsv;
		return QA_CPU_MEMORY_BLOCK_SET_FAILED;
	}
	return QA_CPU_MEMORY_BLOCK_SET_SUCCESS;
}

gboolean
qa_cpu_memory_block_size_load(const QaRoots *roots, guint64 *out_size, GError **error)
{
	g_autofree gchar *path =
	    g_build_filename(roots->sys, QA_CPU_MEMORY_MEMORY_DIR, "block_size_bytes", NULL);
	gint errsv = 0;
	g_autofree gchar *text = qa_cpu_memory_read_attr(path, &errsv);

	if (text == NULL) {
		qa_cpu_memory_set_read_error(error, path, errsv);
		return FALSE;
	}
	if (!qa_cpu_memory_parse_block_size(text, out_size, error)) {
		g_prefix_error(error, "Cannot read '%s': ", path);
		return FALSE;
	}
	return TRUE;
}

/* --- counters ----------------------------------------------------------------------------- */

static gchar *
qa_cpu_memory_read_proc(const QaRoots *roots, const gchar *name, GError **error)
{
	g_autofree gchar *path = g_build_filename(roots->proc, name, NULL);
	gchar *text;

	errno = 0;
	text = qa_kernel_file_read_generated(path, QA_CPU_MEMORY_PROC_SIZE_HINT, NULL);
	if (text == NULL)
		qa_cpu_memory_set_read_error(error, path, errno != 0 ? errno : EIO);
	return text;
}

GPtrArray *
qa_cpu_memory_cpustats_load(const QaRoots *roots, guint *out_bad_line, GError **error)
{
	g_autofree gchar *text = qa_cpu_memory_read_proc(roots, "stat", error);
	glong hz = sysconf(_SC_CLK_TCK);

	if (text == NULL)
		return NULL;
	return qa_cpu_memory_cpustats_parse(
	    text, hz > 0 ? (guint64)hz : QA_CPU_MEMORY_USER_HZ, out_bad_line);
}

GPtrArray *
qa_cpu_memory_diskstats_load(const QaRoots *roots, GError **error)
{
	g_autofree gchar *text = qa_cpu_memory_read_proc(roots, "diskstats", error);

	if (text == NULL)
		return NULL;
	return qa_cpu_memory_diskstats_parse(text);
}
