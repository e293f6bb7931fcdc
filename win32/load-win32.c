/* The load average of load-win32.h: the damping, and the sampling timeout on the main loop. */
#include "load-win32.h"

#include "qa-error.h"

/* exp(-5 s / 60 s), exp(-5 s / 300 s), exp(-5 s / 900 s): the share of the old average a
 * 5-second sample keeps, the factors Linux's fixed-point EXP_1, EXP_5 and EXP_15 stand for */
#define QA_WIN_LOAD_KEEP_1M 0.9200444146293232
#define QA_WIN_LOAD_KEEP_5M 0.9834714538216174
#define QA_WIN_LOAD_KEEP_15M 0.9944598480048967

struct _QaWinLoad {
	const QaWinOps *ops;
	gpointer counter;
	QaWinLoadAverage average;
	GSource *timeout;
	gboolean has_warned; /* a failed sample was logged once */
};

void
qa_win_load_average_update(QaWinLoadAverage *average, gdouble queue_length)
{
	average->load1m =
	    average->load1m * QA_WIN_LOAD_KEEP_1M + queue_length * (1.0 - QA_WIN_LOAD_KEEP_1M);
	average->load5m =
	    average->load5m * QA_WIN_LOAD_KEEP_5M + queue_length * (1.0 - QA_WIN_LOAD_KEEP_5M);
	average->load15m =
	    average->load15m * QA_WIN_LOAD_KEEP_15M + queue_length * (1.0 - QA_WIN_LOAD_KEEP_15M);
}

void
qa_win_load_sample(QaWinLoad *load)
{
	g_autoptr(GError) error_local = NULL;
	gdouble value = 0;

	/* as qemu-ga: a sample Windows cannot give leaves the averages as they are */
	if (!load->ops->load_counter_read(load->counter, &value, &error_local)) {
		if (!load->has_warned)
			g_warning("load sample skipped, ignoring: %s", error_local->message);
		load->has_warned = TRUE;
		return;
	}
	qa_win_load_average_update(&load->average, value);
}

static gboolean
qa_win_load_on_timeout(gpointer user_data)
{
	qa_win_load_sample(user_data);
	return G_SOURCE_CONTINUE;
}

QaWinLoad *
qa_win_load_start(const QaWinOps *ops, GError **error)
{
	g_autoptr(QaWinLoad) load = g_new0(QaWinLoad, 1);
	gdouble value = 0;

	load->ops = ops;
	load->counter = ops->load_counter_open(error);
	if (load->counter == NULL)
		return NULL;
	if (!ops->load_counter_read(load->counter, &value, error))
		return NULL;
	qa_win_load_average_update(&load->average, value);
	load->timeout = g_timeout_source_new_seconds(QA_WIN_LOAD_INTERVAL_S);
	g_source_set_callback(load->timeout, qa_win_load_on_timeout, load, NULL);
	g_source_set_static_name(load->timeout, "qa-win-load");
	g_source_attach(load->timeout, g_main_context_get_thread_default());
	g_info("load sampling started interval=%ds", QA_WIN_LOAD_INTERVAL_S);
	return g_steal_pointer(&load);
}

const QaWinLoadAverage *
qa_win_load_get_average(const QaWinLoad *load)
{
	return &load->average;
}

void
qa_win_load_free(QaWinLoad *load)
{
	if (load == NULL)
		return;
	if (load->timeout != NULL) {
		g_source_destroy(load->timeout);
		g_source_unref(load->timeout);
	}
	if (load->counter != NULL)
		load->ops->load_counter_close(load->counter);
	g_free(load);
}
