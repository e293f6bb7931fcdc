/* The health an NVMe disk reports: its SMART / Health Information log page (log identifier 02h
 * of the NVMe specification), for guest-get-disks. The parse is pure, so that tests feed it a
 * page read from a real controller; the read is one admin command through the kernel's NVMe
 * ioctl, which needs CAP_SYS_ADMIN. Linux only. */
#pragma once

#include <glib.h>

/* the log page's size: what is asked for, and what a parse needs */
#define QA_NVME_SMART_LOG_SIZE 512

/* the 128-bit counters of the page, in its order, as [low, high] 64-bit halves */
typedef enum {
	QA_NVME_COUNTER_DATA_UNITS_READ,
	QA_NVME_COUNTER_DATA_UNITS_WRITTEN,
	QA_NVME_COUNTER_HOST_READ_COMMANDS,
	QA_NVME_COUNTER_HOST_WRITE_COMMANDS,
	QA_NVME_COUNTER_CONTROLLER_BUSY_TIME,
	QA_NVME_COUNTER_POWER_CYCLES,
	QA_NVME_COUNTER_POWER_ON_HOURS,
	QA_NVME_COUNTER_UNSAFE_SHUTDOWNS,
	QA_NVME_COUNTER_MEDIA_ERRORS,
	QA_NVME_COUNTER_ERROR_LOG_ENTRIES,
	QA_NVME_N_COUNTERS,
} QaNvmeCounter;

typedef struct {
	guint8 critical_warning;
	guint16 temperature; /* kelvin */
	guint8 available_spare;
	guint8 available_spare_threshold;
	guint8 percentage_used;
	guint64 counters[QA_NVME_N_COUNTERS][2];
} QaNvmeSmart;

/* pure: the fields of a log page of QA_NVME_SMART_LOG_SIZE bytes (little-endian, as the
 * specification lays it out) */
void
qa_nvme_smart_parse(const guint8 *page, QaNvmeSmart *out);

/* asks the controller of the NVMe namespace or controller node @node (/dev/nvme0n1) for its
 * log page, for every namespace; FALSE with @error naming the node and the reason */
gboolean
qa_nvme_smart_read(const gchar *node, QaNvmeSmart *out, GError **error);
