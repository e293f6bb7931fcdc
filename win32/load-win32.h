/* guest-get-load on Windows: Windows keeps no load average, so the agent computes one as QEMU's
 * Windows agent does, from the "\System\Processor Queue Length" performance counter (threads
 * ready to run and waiting for a processor) sampled every QA_WIN_LOAD_INTERVAL_S seconds and
 * damped exponentially over 1, 5 and 15 minutes like Linux's load averages.
 *
 * Threads: no thread of its own. The first guest-get-load opens the counter and adds a GLib
 * timeout to the main context; the timeout and every later request run on the main thread,
 * which alone owns the state (no lock). Sampling starts lazily, as in qemu-ga, because a
 * performance counter query costs something and most hosts never ask. */
#pragma once

#include <glib.h>

#include "system-win32.h"

#define QA_WIN_LOAD_INTERVAL_S 5

typedef struct {
	gdouble load1m;
	gdouble load5m;
	gdouble load15m;
} QaWinLoadAverage;

/* pure: folds one sample of the queue length into @average, each average keeping
 * exp(-interval / period) of its old value (Linux's EXP_1, EXP_5, EXP_15 for 5 s) */
void
qa_win_load_average_update(QaWinLoadAverage *average, gdouble queue_length);

typedef struct _QaWinLoad QaWinLoad;

/* Opens the counter through @ops, takes a first sample (so that a counter Windows cannot read
 * is refused now, not ignored later) and starts sampling on the calling thread's main
 * context. */
QaWinLoad *
qa_win_load_start(const QaWinOps *ops, GError **error);
/* one sample: what the timeout does (tests call it directly); a failed read is skipped */
void
qa_win_load_sample(QaWinLoad *load);
const QaWinLoadAverage *
qa_win_load_get_average(const QaWinLoad *load);
/* stops sampling and closes the counter */
void
qa_win_load_free(QaWinLoad *load);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaWinLoad, qa_win_load_free)
