#include "nvme.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/nvme_ioctl.h>
#include <string.h>
#include <sys/ioctl.h>

#include "qa-error.h"
#include "qa-fd.h"

/* from the NVMe specification: the Get Log Page admin command, the SMART / Health log, every
 * namespace, and Retain Asynchronous Event (so that reading the page does not clear an event
 * the guest's own driver is waiting to see) */
#define QA_NVME_ADMIN_GET_LOG_PAGE 0x02
#define QA_NVME_LOG_SMART 0x02
#define QA_NVME_NSID_ALL 0xffffffffu
#define QA_NVME_LOG_RAE (1u << 15)
/* where the page's 128-bit counters start: byte 32, 16 bytes each */
#define QA_NVME_COUNTERS_OFFSET 32

static guint64
qa_nvme_le64(const guint8 *p)
{
	guint64 value = 0;

	for (guint i = 8; i > 0; i--)
		value = value << 8 | p[i - 1];
	return value;
}

void
qa_nvme_smart_parse(const guint8 *page, QaNvmeSmart *out)
{
	memset(out, 0, sizeof(*out));
	out->critical_warning = page[0];
	/* bytes 1-2: not aligned, so read byte by byte */
	out->temperature = (guint16)(page[1] | page[2] << 8);
	out->available_spare = page[3];
	out->available_spare_threshold = page[4];
	out->percentage_used = page[5];
	for (guint i = 0; i < QA_NVME_N_COUNTERS; i++) {
		const guint8 *counter = page + QA_NVME_COUNTERS_OFFSET + 16 * i;
		out->counters[i][0] = qa_nvme_le64(counter);
		out->counters[i][1] = qa_nvme_le64(counter + 8);
	}
}

gboolean
qa_nvme_smart_read(const gchar *node, QaNvmeSmart *out, GError **error)
{
	guint8 page[QA_NVME_SMART_LOG_SIZE] = {0};
	struct nvme_admin_cmd cmd = {
	    .opcode = QA_NVME_ADMIN_GET_LOG_PAGE,
	    .nsid = QA_NVME_NSID_ALL,
	    .addr = (guint64)(guintptr)page,
	    .data_len = sizeof(page),
	    /* the number of dwords, minus one, in the upper half */
	    .cdw10 = QA_NVME_LOG_SMART | QA_NVME_LOG_RAE | ((sizeof(page) / 4 - 1) << 16),
	};
	g_auto(QaFd) fd = open(node, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	gint ret;

	if (fd < 0 || (ret = ioctl(fd, NVME_IOCTL_ADMIN_CMD, &cmd)) < 0) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "cannot read the SMART log of %s: %s",
			    node,
			    g_strerror(errno));
		return FALSE;
	}
	/* a positive value is the command's NVMe status: the controller refused it */
	if (ret > 0) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "cannot read the SMART log of %s: the controller answered status 0x%x",
			    node,
			    (guint)ret);
		return FALSE;
	}
	qa_nvme_smart_parse(page, out);
	return TRUE;
}
