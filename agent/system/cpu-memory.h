/* CPUs and memory blocks as sysfs shows them (<sys>/devices/system/cpu and .../memory), taking
 * them online or offline, and the kernel's per-CPU time and per-disk I/O counters (<proc>/stat,
 * <proc>/diskstats). What qemu-ga reports, read the way its commands-linux.c reads it, so that
 * a host sees the same values; where this differs from qemu-ga, the comment says why.
 *
 * The parsers are pure (text in, structs out) and apart from the functions that read the system,
 * which take the roots so that tests aim them at captured trees. Nothing here knows the wire
 * types: the command file converts. */
#pragma once

#include <glib.h>

#include "roots.h"

/* below roots->sys */
#define QA_CPU_MEMORY_CPU_DIR "devices/system/cpu"
#define QA_CPU_MEMORY_MEMORY_DIR "devices/system/memory"

/* one logical CPU */
typedef struct {
	gint64 id;	      /* N of cpuN */
	gboolean is_online;   /* cpuN/online reads 1, or there is no such file */
	gboolean can_offline; /* cpuN/online exists: the kernel lets it go offline */
} QaCpuMemoryVcpu;

/* one memory block */
typedef struct {
	guint64 phys_index;   /* N of memoryN */
	gboolean is_online;   /* memoryN/state begins with "online", or there is no such file */
	gboolean can_offline; /* memoryN/removable reads other than 0 */
} QaCpuMemoryBlock;

/* what a change of one memory block came to, as qemu-ga's GuestMemoryBlockResponseType */
typedef enum {
	QA_CPU_MEMORY_BLOCK_SET_SUCCESS,
	QA_CPU_MEMORY_BLOCK_SET_NOT_FOUND,
	QA_CPU_MEMORY_BLOCK_SET_NOT_SUPPORTED,
	QA_CPU_MEMORY_BLOCK_SET_FAILED,
} QaCpuMemoryBlockSetResult;

/* the columns of a "cpuN" line of /proc/stat, in the kernel's order */
typedef enum {
	QA_CPU_MEMORY_TIME_USER,
	QA_CPU_MEMORY_TIME_NICE,
	QA_CPU_MEMORY_TIME_SYSTEM,
	QA_CPU_MEMORY_TIME_IDLE,
	QA_CPU_MEMORY_TIME_IOWAIT,
	QA_CPU_MEMORY_TIME_IRQ,
	QA_CPU_MEMORY_TIME_SOFTIRQ,
	QA_CPU_MEMORY_TIME_STEAL,
	QA_CPU_MEMORY_TIME_GUEST,
	QA_CPU_MEMORY_TIME_GUEST_NICE,
	QA_CPU_MEMORY_TIME__MAX,
} QaCpuMemoryTime;

/* the fewest columns a CPU line has (Linux 2.4); before a line with fewer, parsing stops */
#define QA_CPU_MEMORY_TIME_MIN 4

typedef struct {
	gint64 cpu;
	guint n_times; /* how many columns the line has: QA_CPU_MEMORY_TIME_MIN to __MAX */
	guint64 times_ms[QA_CPU_MEMORY_TIME__MAX]; /* milliseconds; 0 beyond n_times */
} QaCpuMemoryCpuStat;

/* the counters of a /proc/diskstats line after its name, in the kernel's order
 * (Documentation/admin-guide/iostats.rst) */
typedef enum {
	QA_CPU_MEMORY_DISK_READ_IOS,
	QA_CPU_MEMORY_DISK_READ_MERGES,
	QA_CPU_MEMORY_DISK_READ_SECTORS,
	QA_CPU_MEMORY_DISK_READ_TICKS,
	QA_CPU_MEMORY_DISK_WRITE_IOS,
	QA_CPU_MEMORY_DISK_WRITE_MERGES,
	QA_CPU_MEMORY_DISK_WRITE_SECTORS,
	QA_CPU_MEMORY_DISK_WRITE_TICKS,
	QA_CPU_MEMORY_DISK_IOS_PGR,
	QA_CPU_MEMORY_DISK_TOTAL_TICKS,
	QA_CPU_MEMORY_DISK_WEIGHT_TICKS,
	QA_CPU_MEMORY_DISK_DISCARD_IOS,
	QA_CPU_MEMORY_DISK_DISCARD_MERGES,
	QA_CPU_MEMORY_DISK_DISCARD_SECTORS,
	QA_CPU_MEMORY_DISK_DISCARD_TICKS,
	QA_CPU_MEMORY_DISK_FLUSH_IOS,
	QA_CPU_MEMORY_DISK_FLUSH_TICKS,
	QA_CPU_MEMORY_DISK__MAX,
} QaCpuMemoryDiskCounter;

/* How many counters each kernel gives: Linux 2.6 to 4.17 eleven (14 columns), 4.18 adds four
 * for discards (18), 5.5 two for flushes (20). Before 2.6.25 a partition's line had four:
 * reads, sectors read, writes, sectors written (7 columns). */
#define QA_CPU_MEMORY_DISK_N_PARTITION_OLD 4
#define QA_CPU_MEMORY_DISK_N_BASIC 11
#define QA_CPU_MEMORY_DISK_N_DISCARD 15
#define QA_CPU_MEMORY_DISK_N_FLUSH 17

typedef struct {
	guint32 major;
	guint32 minor;
	gchar *name;
	guint n_counters; /* how many leading numbers followed the name, at most __MAX */
	guint64 counters[QA_CPU_MEMORY_DISK__MAX]; /* 0 beyond n_counters */
} QaCpuMemoryDiskStat;

void
qa_cpu_memory_disk_stat_free(QaCpuMemoryDiskStat *stat);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaCpuMemoryDiskStat, qa_cpu_memory_disk_stat_free)

/* --- pure parsers ------------------------------------------------------------------------- */

/* N of a directory entry "<prefix>N": decimal digits only, no sign, no leading zero (so that N
 * names that entry and no other), at most G_MAXINT64; FALSE for "cpufreq", "cpu", "cpu01" */
gboolean
qa_cpu_memory_parse_index(const gchar *name, const gchar *prefix, guint64 *out_index);
/* a cpuN/online file: "0" or "1" with optional trailing white space */
gboolean
qa_cpu_memory_parse_online(const gchar *text, gboolean *out_online, GError **error);
/* block_size_bytes: hexadecimal without "0x" ("8000000\n" is 128 MiB), not zero */
gboolean
qa_cpu_memory_parse_block_size(const gchar *text, guint64 *out_size, GError **error);
/* @ticks clock ticks as milliseconds, rounded down, as ticks * 1000 / @ticks_per_second
 * without the overflow of that product (G_MAXUINT64 when the result itself does not fit);
 * @ticks_per_second: 1 to G_MAXUINT64 / 1000 (sysconf(_SC_CLK_TCK), 100 on Linux) */
guint64
qa_cpu_memory_ticks_to_ms(guint64 ticks, guint64 ticks_per_second);
/* The "cpuN" lines of a /proc/stat text (not the machine-wide "cpu" line), times converted to
 * milliseconds, in the file's order. As qemu-ga, a CPU line with fewer than
 * QA_CPU_MEMORY_TIME_MIN numbers ends the parse: the CPUs before it are returned and
 * @out_bad_line (nullable) says which line it was (1-based; 0 when every line was read). */
GPtrArray *
qa_cpu_memory_cpustats_parse(const gchar *text, guint64 ticks_per_second, guint *out_bad_line);
/* The lines of a /proc/diskstats text, in its order: "MAJ MIN NAME" and the numbers after it.
 * Lines with fewer than QA_CPU_MEMORY_DISK_N_PARTITION_OLD numbers are left out, as qemu-ga
 * leaves them out. Elements are QaCpuMemoryDiskStat. */
GPtrArray *
qa_cpu_memory_diskstats_parse(const gchar *text);

/* Whether qemu-ga reports @counter for a line with @stat->n_counters numbers, and its value:
 * every counter the line has of the 11, 15 or 17 of Linux 2.6 and later; for an old partition
 * line (4 numbers) its reads, sectors read, writes and sectors written; none for a count in
 * between (such a device is listed without counters). */
gboolean
qa_cpu_memory_disk_stat_get(const QaCpuMemoryDiskStat *stat,
			    QaCpuMemoryDiskCounter counter,
			    guint64 *out_value);

/* --- reading and changing the system ------------------------------------------------------ */

/* Every cpuN of <sys>/devices/system/cpu, by id. A CPU without an online file is online and
 * cannot be taken offline (x86's boot CPU); an online file that cannot be read, or reads neither
 * 0 nor 1, fails the whole list, as in qemu-ga. Elements are QaCpuMemoryVcpu. */
GPtrArray *
qa_cpu_memory_vcpus_load(const QaRoots *roots, GError **error);
/* Brings CPU @id online or takes it offline; TRUE without writing when it already is so.
 * Refuses (QA_SYSTEM_ERROR_INVALID) to take the last online CPU offline, NOT_FOUND for a CPU
 * that does not exist, UNSUPPORTED for one without an online file asked to go offline. */
gboolean
qa_cpu_memory_vcpu_set(const QaRoots *roots, gint64 id, gboolean online, GError **error);
/* qa_cpu_memory_vcpu_set() for each of @requests in order, stopping at the first that fails:
 * FALSE with its error then. @n_processed: how many were done before it (all when TRUE). */
gboolean
qa_cpu_memory_vcpus_set(const QaRoots *roots,
			const QaCpuMemoryVcpu *requests,
			guint n_requests,
			guint *n_processed,
			GError **error);

/* Every memoryN of <sys>/devices/system/memory, by phys_index: empty when the kernel has no
 * such directory (no memory hotplug), an error when it has one without blocks. Elements are
 * QaCpuMemoryBlock. */
GPtrArray *
qa_cpu_memory_blocks_load(const QaRoots *roots, GError **error);
/* Brings memory block @phys_index online or takes it offline by writing its state file;
 * success without writing when it already is so. @out_errno: the errno behind the result, 0
 * when there is none to report. */
QaCpuMemoryBlockSetResult
qa_cpu_memory_block_set(const QaRoots *roots, guint64 phys_index, gboolean online, gint *out_errno);
/* the size of one memory block, from block_size_bytes */
gboolean
qa_cpu_memory_block_size_load(const QaRoots *roots, guint64 *out_size, GError **error);

/* <proc>/stat parsed by qa_cpu_memory_cpustats_parse() with the system's clock tick */
GPtrArray *
qa_cpu_memory_cpustats_load(const QaRoots *roots, guint *out_bad_line, GError **error);
/* <proc>/diskstats parsed by qa_cpu_memory_diskstats_parse() */
GPtrArray *
qa_cpu_memory_diskstats_load(const QaRoots *roots, GError **error);
