/* guest-get-vcpus, guest-set-vcpus, guest-get-memory-blocks, guest-set-memory-blocks,
 * guest-get-memory-block-info, guest-get-cpustats, guest-get-diskstats: system/cpu-memory.c
 * reads and changes sysfs and reads /proc; this file turns its structs into the schema's.
 *
 * The get commands run on the main loop: they read kernel-generated files only, which never
 * block. The set commands run on the system thread ('blocking'), since taking a CPU or a memory
 * block offline makes the kernel migrate tasks or pages first. */
#include "cpu-memory.h"

#include "agent.h"
#include "frozen-guard.h"
#include "qa-error.h"
#include "qa-schema.h"

gboolean
qa_cmd_guest_get_vcpus(QaAgent *agent, GPtrArray **out_ret, GError **error)
{
	g_autoptr(GPtrArray) vcpus = qa_cpu_memory_vcpus_load(agent->roots, error);
	g_autoptr(GPtrArray) ret = qa_guest_logical_processor_list_new();

	if (vcpus == NULL)
		return FALSE;
	for (guint i = 0; i < vcpus->len; i++) {
		const QaCpuMemoryVcpu *vcpu = g_ptr_array_index(vcpus, i);
		QaGuestLogicalProcessor *item = qa_guest_logical_processor_new();

		item->logical_id = vcpu->id;
		item->online = vcpu->is_online;
		/* always present, as in qemu-ga: libvirt refuses a CPU that is neither online nor
		 * able to go offline, and reads an absent can-offline as false */
		item->has_can_offline = TRUE;
		item->can_offline = vcpu->can_offline;
		g_ptr_array_add(ret, item);
	}
	*out_ret = g_steal_pointer(&ret);
	return TRUE;
}

/* sysfs cannot be frozen, but every command that writes asks; a refusal is the reply */
static gboolean
qa_cpu_memory_check_writable(QaAgent *agent, const gchar *dir, const gchar *purpose, GError **error)
{
	g_autofree gchar *path = g_build_filename(agent->roots->sys, dir, NULL);

	return qa_frozen_guard_check_path(agent->freezer, agent->roots, path, purpose, error);
}

gboolean
qa_cmd_guest_set_vcpus(QaAgent *agent,
		       const QaGuestSetVcpusArgs *args,
		       gint64 *out_ret,
		       GError **error)
{
	guint n = args->vcpus != NULL ? args->vcpus->len : 0;
	g_autofree QaCpuMemoryVcpu *requests = g_new0(QaCpuMemoryVcpu, MAX(n, 1));
	g_autoptr(GError) error_local = NULL;
	guint n_processed = 0;

	if (!qa_cpu_memory_check_writable(
		agent, QA_CPU_MEMORY_CPU_DIR, "bring CPUs online or offline", error))
		return FALSE;
	for (guint i = 0; i < n; i++) {
		const QaGuestLogicalProcessor *vcpu = g_ptr_array_index(args->vcpus, i);

		requests[i].id = vcpu->logical_id;
		requests[i].is_online = vcpu->online;
	}
	if (!qa_cpu_memory_vcpus_set(agent->roots, requests, n, &n_processed, &error_local)) {
		/* as qemu-ga: the first failure is the reply; a later one ends the list, and the
		 * count tells the host where (libvirt sends the rest again, and gets the error) */
		if (n_processed == 0) {
			g_propagate_error(error, g_steal_pointer(&error_local));
			return FALSE;
		}
		g_info("command=guest-set-vcpus stopped processed=%u requested=%u, ignoring: %s",
		       n_processed,
		       n,
		       error_local->message);
	}
	*out_ret = n_processed;
	return TRUE;
}

gboolean
qa_cmd_guest_get_memory_blocks(QaAgent *agent, GPtrArray **out_ret, GError **error)
{
	g_autoptr(GPtrArray) blocks = qa_cpu_memory_blocks_load(agent->roots, error);
	g_autoptr(GPtrArray) ret = qa_guest_memory_block_list_new();

	if (blocks == NULL)
		return FALSE;
	for (guint i = 0; i < blocks->len; i++) {
		const QaCpuMemoryBlock *block = g_ptr_array_index(blocks, i);
		QaGuestMemoryBlock *item = qa_guest_memory_block_new();

		item->phys_index = block->phys_index;
		item->online = block->is_online;
		item->has_can_offline = TRUE;
		item->can_offline = block->can_offline;
		g_ptr_array_add(ret, item);
	}
	*out_ret = g_steal_pointer(&ret);
	return TRUE;
}

static QaGuestMemoryBlockResponseType
qa_cpu_memory_response_type(QaCpuMemoryBlockSetResult result)
{
	switch (result) {
	case QA_CPU_MEMORY_BLOCK_SET_SUCCESS:
		return QA_GUEST_MEMORY_BLOCK_RESPONSE_TYPE_SUCCESS;
	case QA_CPU_MEMORY_BLOCK_SET_NOT_FOUND:
		return QA_GUEST_MEMORY_BLOCK_RESPONSE_TYPE_NOT_FOUND;
	case QA_CPU_MEMORY_BLOCK_SET_NOT_SUPPORTED:
		return QA_GUEST_MEMORY_BLOCK_RESPONSE_TYPE_OPERATION_NOT_SUPPORTED;
	case QA_CPU_MEMORY_BLOCK_SET_FAILED:
	default:
		return QA_GUEST_MEMORY_BLOCK_RESPONSE_TYPE_OPERATION_FAILED;
	}
}

gboolean
qa_cmd_guest_set_memory_blocks(QaAgent *agent,
			       const QaGuestSetMemoryBlocksArgs *args,
			       GPtrArray **out_ret,
			       GError **error)
{
	g_autoptr(GPtrArray) ret = qa_guest_memory_block_response_list_new();

	if (!qa_cpu_memory_check_writable(
		agent, QA_CPU_MEMORY_MEMORY_DIR, "bring memory blocks online or offline", error))
		return FALSE;
	/* every block gets its answer, failed or not, as in qemu-ga */
	for (guint i = 0; args->mem_blks != NULL && i < args->mem_blks->len; i++) {
		const QaGuestMemoryBlock *block = g_ptr_array_index(args->mem_blks, i);
		QaGuestMemoryBlockResponse *item = qa_guest_memory_block_response_new();
		gint errsv = 0;
		QaCpuMemoryBlockSetResult result =
		    qa_cpu_memory_block_set(agent->roots, block->phys_index, block->online, &errsv);

		item->phys_index = block->phys_index;
		item->response = qa_cpu_memory_response_type(result);
		item->has_error_code = errsv != 0;
		item->error_code = errsv;
		g_ptr_array_add(ret, item);
	}
	*out_ret = g_steal_pointer(&ret);
	return TRUE;
}

gboolean
qa_cmd_guest_get_memory_block_info(QaAgent *agent, QaGuestMemoryBlockInfo **out_ret, GError **error)
{
	g_autoptr(QaGuestMemoryBlockInfo) info = qa_guest_memory_block_info_new();

	if (!qa_cpu_memory_block_size_load(agent->roots, &info->size, error))
		return FALSE;
	*out_ret = g_steal_pointer(&info);
	return TRUE;
}

static QaGuestCpuStats *
qa_cpu_memory_cpu_stats_new(const QaCpuMemoryCpuStat *stat)
{
	QaGuestCpuStats *item = qa_guest_cpu_stats_new();
	QaGuestLinuxCpuStats *linux_stats = qa_guest_linux_cpu_stats_new();
	const guint64 *ms = stat->times_ms;
	guint n = stat->n_times;

	item->type = QA_GUEST_CPU_STATS_TYPE_LINUX;
	item->u_linux = linux_stats;
	linux_stats->cpu = stat->cpu;
	linux_stats->user = ms[QA_CPU_MEMORY_TIME_USER];
	linux_stats->nice = ms[QA_CPU_MEMORY_TIME_NICE];
	linux_stats->system = ms[QA_CPU_MEMORY_TIME_SYSTEM];
	linux_stats->idle = ms[QA_CPU_MEMORY_TIME_IDLE];
	linux_stats->has_iowait = n > QA_CPU_MEMORY_TIME_IOWAIT;
	linux_stats->iowait = ms[QA_CPU_MEMORY_TIME_IOWAIT];
	linux_stats->has_irq = n > QA_CPU_MEMORY_TIME_IRQ;
	linux_stats->irq = ms[QA_CPU_MEMORY_TIME_IRQ];
	/* qemu-ga adds softirq with irq, uninitialised on a line that ends after irq */
	linux_stats->has_softirq = n > QA_CPU_MEMORY_TIME_SOFTIRQ;
	linux_stats->softirq = ms[QA_CPU_MEMORY_TIME_SOFTIRQ];
	linux_stats->has_steal = n > QA_CPU_MEMORY_TIME_STEAL;
	linux_stats->steal = ms[QA_CPU_MEMORY_TIME_STEAL];
	linux_stats->has_guest = n > QA_CPU_MEMORY_TIME_GUEST;
	linux_stats->guest = ms[QA_CPU_MEMORY_TIME_GUEST];
	linux_stats->has_guestnice = n > QA_CPU_MEMORY_TIME_GUEST_NICE;
	linux_stats->guestnice = ms[QA_CPU_MEMORY_TIME_GUEST_NICE];
	return item;
}

gboolean
qa_cmd_guest_get_cpustats(QaAgent *agent, GPtrArray **out_ret, GError **error)
{
	guint bad_line = 0;
	g_autoptr(GPtrArray) stats = qa_cpu_memory_cpustats_load(agent->roots, &bad_line, error);
	g_autoptr(GPtrArray) ret = qa_guest_cpu_stats_list_new();

	if (stats == NULL)
		return FALSE;
	/* qemu-ga, too, answers with the CPUs before such a line and logs it */
	if (bad_line != 0)
		g_warning(
		    "command=guest-get-cpustats stopped path=%s/stat line=%u: a cpu line with "
		    "fewer than %d numbers, ignoring the rest",
		    agent->roots->proc,
		    bad_line,
		    QA_CPU_MEMORY_TIME_MIN);
	for (guint i = 0; i < stats->len; i++)
		g_ptr_array_add(ret, qa_cpu_memory_cpu_stats_new(g_ptr_array_index(stats, i)));
	*out_ret = g_steal_pointer(&ret);
	return TRUE;
}

static QaGuestDiskStats *
qa_cpu_memory_disk_stats_new(const QaCpuMemoryDiskStat *stat)
{
	QaGuestDiskStats *out = qa_guest_disk_stats_new();

#define QA_DISK_GET(counter, field)                                                                \
	out->has_##field =                                                                         \
	    qa_cpu_memory_disk_stat_get(stat, QA_CPU_MEMORY_DISK_##counter, &out->field)
	QA_DISK_GET(READ_IOS, read_ios);
	QA_DISK_GET(READ_MERGES, read_merges);
	QA_DISK_GET(READ_SECTORS, read_sectors);
	QA_DISK_GET(READ_TICKS, read_ticks);
	QA_DISK_GET(WRITE_IOS, write_ios);
	QA_DISK_GET(WRITE_MERGES, write_merges);
	QA_DISK_GET(WRITE_SECTORS, write_sectors);
	QA_DISK_GET(WRITE_TICKS, write_ticks);
	QA_DISK_GET(IOS_PGR, ios_pgr);
	QA_DISK_GET(TOTAL_TICKS, total_ticks);
	QA_DISK_GET(WEIGHT_TICKS, weight_ticks);
	QA_DISK_GET(DISCARD_IOS, discard_ios);
	QA_DISK_GET(DISCARD_MERGES, discard_merges);
	QA_DISK_GET(DISCARD_SECTORS, discard_sectors);
	QA_DISK_GET(DISCARD_TICKS, discard_ticks);
	QA_DISK_GET(FLUSH_IOS, flush_ios);
	QA_DISK_GET(FLUSH_TICKS, flush_ticks);
#undef QA_DISK_GET
	return out;
}

gboolean
qa_cmd_guest_get_diskstats(QaAgent *agent, GPtrArray **out_ret, GError **error)
{
	g_autoptr(GPtrArray) stats = qa_cpu_memory_diskstats_load(agent->roots, error);
	g_autoptr(GPtrArray) ret = qa_guest_disk_stats_info_list_new();

	if (stats == NULL)
		return FALSE;
	for (guint i = 0; i < stats->len; i++) {
		const QaCpuMemoryDiskStat *stat = g_ptr_array_index(stats, i);
		QaGuestDiskStatsInfo *item = qa_guest_disk_stats_info_new();

		item->name = g_strdup(stat->name);
		item->major = stat->major;
		item->minor = stat->minor;
		item->stats = qa_cpu_memory_disk_stats_new(stat);
		g_ptr_array_add(ret, item);
	}
	*out_ret = g_steal_pointer(&ret);
	return TRUE;
}
