#include "dispatch.h"

#include <string.h>

#include "config.h"
#include "qa-error.h"
#include "qa-schema.h"
#include "reply.h"
#include "request.h"

/* Where a command runs. The main lane runs on the main thread, at once; the freezer lane
 * (schema key 'worker': freeze, thaw, trim) and the system lane ('blocking': files, exec,
 * accounts, ...) each have one thread, so commands of a lane run one at a time, in order. */
typedef enum {
	QA_LANE_MAIN,
	QA_LANE_FREEZER,
	QA_LANE_SYSTEM,
	QA_LANE_COUNT,
} QaLane;

/* Which lanes a request of a lane waits for: the earlier requests of those lanes, running or
 * waiting, are answered first. Nothing waits for the system lane but the system lane: a
 * guest-file-open stuck on a dead NFS server, or a slow chpasswd, must not hold up a thaw, a
 * status or an fsinfo. Everything waits for the freezer lane, as in QEMU's agent, so nothing
 * a host sends after a freeze runs before the freeze is done. */
static const guint qa_lane_waits_for[QA_LANE_COUNT] = {
    [QA_LANE_MAIN] = 1u << QA_LANE_MAIN | 1u << QA_LANE_FREEZER,
    [QA_LANE_FREEZER] = 1u << QA_LANE_MAIN | 1u << QA_LANE_FREEZER,
    [QA_LANE_SYSTEM] = 1u << QA_LANE_MAIN | 1u << QA_LANE_FREEZER | 1u << QA_LANE_SYSTEM,
};

struct _QaDispatcher {
	QaAgent *agent;		/* opaque here: handed to the commands */
	const QaConfig *config; /* which commands are enabled */
	QaReplyFunc func;
	gpointer user_data;
	GMainContext *context;		    /* the main thread's, where replies are delivered */
	GThreadPool *threads[QA_LANE_COUNT]; /* one thread per lane but the main one */
	gboolean is_busy[QA_LANE_COUNT];    /* a command of the lane runs off the main thread */
	GQueue waiting;			    /* of QaDispatchJob: requests not started yet, in order */
};

typedef struct {
	QaDispatcher *dispatcher;
	QaLane lane;
	const QaCommandDef *def;
	QaRequest *request;
	guint64 tag;
	GString *line; /* the reply line, written by the marshaller; dropped when it fails */
	GError *error;
} QaDispatchJob;

static void
qa_dispatch_job_free(QaDispatchJob *job)
{
	qa_request_free(job->request);
	if (job->line != NULL)
		g_string_free(job->line, TRUE);
	g_clear_error(&job->error);
	g_free(job);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaDispatchJob, qa_dispatch_job_free)

const QaCommandDef *
qa_dispatch_lookup(const gchar *name)
{
	for (guint i = 0; i < qa_schema_n_commands; i++) {
		if (g_strcmp0(qa_schema_commands[i].name, name) == 0)
			return &qa_schema_commands[i];
	}
	return NULL;
}

/* the known command closest to a misspelt one, to suggest it; NULL when nothing is close */
static const gchar *
qa_dispatch_suggest(const gchar *name)
{
	const gchar *best = NULL;
	guint best_distance = 3; /* more edits than this is not a typo */
	gsize n = strlen(name);

	if (n > 64)
		return NULL;
	for (guint i = 0; i < qa_schema_n_commands; i++) {
		const gchar *cand = qa_schema_commands[i].name;
		gsize m = strlen(cand);
		guint row[65];

		for (gsize j = 0; j <= m && j < G_N_ELEMENTS(row); j++)
			row[j] = (guint)j;
		for (gsize a = 1; a <= n; a++) {
			guint diag = row[0];
			row[0] = (guint)a;
			for (gsize b = 1; b <= m && b < G_N_ELEMENTS(row); b++) {
				guint up = row[b];
				guint cost = name[a - 1] == cand[b - 1] ? 0 : 1;
				row[b] = MIN(MIN(row[b] + 1, row[b - 1] + 1), diag + cost);
				diag = up;
			}
		}
		if (m < G_N_ELEMENTS(row) && row[m] < best_distance) {
			best_distance = row[m];
			best = cand;
		}
	}
	return best;
}

static void
qa_dispatch_set_not_found(const gchar *name, GError **error)
{
	g_autofree gchar *shown = g_utf8_substring(name, 0, MIN(g_utf8_strlen(name, -1), 64));
	const gchar *suggestion = qa_dispatch_suggest(name);

	if (suggestion != NULL) {
		g_set_error(error,
			    QA_PROTOCOL_ERROR,
			    QA_PROTOCOL_ERROR_COMMAND_NOT_FOUND,
			    "The command %s has not been found; did you mean %s?",
			    shown,
			    suggestion);
		return;
	}
	g_set_error(error,
		    QA_PROTOCOL_ERROR,
		    QA_PROTOCOL_ERROR_COMMAND_NOT_FOUND,
		    "The command %s%s has not been found; guest-info lists the commands",
		    shown,
		    g_utf8_strlen(name, -1) > 64 ? "..." : "");
}

static void
qa_dispatch_deliver(QaDispatcher *dispatcher, QaDispatchJob *job)
{
	g_autoptr(GString) line = NULL;

	if (job->error != NULL) {
		/* the one place a failed request is logged: the host sees the same text */
		g_info("command=%s failed: %s",
		       job->def != NULL ? job->def->name : "(none)",
		       job->error->message);
		line = qa_reply_encode_error(job->error, job->request->id);
	} else if (job->def->success_response) {
		line = qa_reply_return_end(g_steal_pointer(&job->line), job->request->id);
	}
	/* called for every request, with NULL when it has no reply, so callers can count */
	dispatcher->func(line, job->tag, dispatcher->user_data);
}

static void
qa_dispatch_run(QaDispatchJob *job)
{
	const gchar *name = job->def->name;

	g_debug("running command=%s", name);
	job->line = qa_reply_return_begin(g_strcmp0(name, "guest-sync-delimited") == 0);
	job->def->marshal(job->dispatcher->agent, job->request->arguments, job->line, &job->error);
}

static void
qa_dispatch_start(QaDispatcher *dispatcher, QaDispatchJob *job);

/* Starts, in order, every waiting request that no earlier request of a lane it waits for
 * holds up (qa_lane_waits_for). */
static void
qa_dispatch_drain(QaDispatcher *dispatcher)
{
	guint held = 0; /* lanes with an earlier request that is still waiting */
	GList *link = dispatcher->waiting.head;

	while (link != NULL) {
		QaDispatchJob *job = link->data;
		GList *next = link->next;
		guint waits_for = qa_lane_waits_for[job->lane];
		gboolean is_free = (held & waits_for) == 0;

		for (guint lane = 0; lane < QA_LANE_COUNT && is_free; lane++) {
			if ((waits_for & (1u << lane)) != 0 && dispatcher->is_busy[lane])
				is_free = FALSE;
		}
		if (is_free) {
			g_queue_delete_link(&dispatcher->waiting, link);
			qa_dispatch_start(dispatcher, job);
		} else {
			held |= 1u << job->lane;
		}
		link = next;
	}
}

static gboolean
qa_dispatch_worker_done(gpointer user_data)
{
	g_autoptr(QaDispatchJob) job = user_data;
	QaDispatcher *dispatcher = job->dispatcher;

	dispatcher->is_busy[job->lane] = FALSE;
	qa_dispatch_deliver(dispatcher, job);
	qa_dispatch_drain(dispatcher);
	return G_SOURCE_REMOVE;
}

static void
qa_dispatch_worker_func(gpointer data, gpointer user_data)
{
	QaDispatchJob *job = data;

	qa_dispatch_run(job);
	g_main_context_invoke(job->dispatcher->context, qa_dispatch_worker_done, job);
}

/* Takes @job: hands a worker command to the worker thread, answers anything else now. */
static void
qa_dispatch_start(QaDispatcher *dispatcher, QaDispatchJob *job)
{
	g_autoptr(QaDispatchJob) owned = job;

	if (job->lane != QA_LANE_MAIN) {
		dispatcher->is_busy[job->lane] = TRUE;
		g_thread_pool_push(dispatcher->threads[job->lane], g_steal_pointer(&owned), NULL);
		return;
	}
	if (job->error == NULL)
		qa_dispatch_run(job);
	qa_dispatch_deliver(dispatcher, job);
}

QaDispatcher *
qa_dispatcher_new(QaAgent *agent, const QaConfig *config, QaReplyFunc func, gpointer user_data)
{
	QaDispatcher *dispatcher = g_new0(QaDispatcher, 1);

	dispatcher->agent = agent;
	dispatcher->config = config;
	dispatcher->func = func;
	dispatcher->user_data = user_data;
	dispatcher->context = g_main_context_ref_thread_default();
	/* threads are started by the first command of their lane: an idle agent is one thread */
	for (guint lane = QA_LANE_MAIN + 1; lane < QA_LANE_COUNT; lane++) {
		dispatcher->threads[lane] =
		    g_thread_pool_new(qa_dispatch_worker_func, dispatcher, 1, FALSE, NULL);
	}
	return dispatcher;
}

void
qa_dispatcher_free(QaDispatcher *dispatcher)
{
	if (dispatcher == NULL)
		return;
	/* waits for a running worker command: callers free the dispatcher only when it is idle,
	 * or not at all when a worker is stuck (the process exits instead) */
	for (guint lane = QA_LANE_MAIN + 1; lane < QA_LANE_COUNT; lane++)
		g_thread_pool_free(dispatcher->threads[lane], TRUE, TRUE);
	g_queue_clear_full(&dispatcher->waiting, (GDestroyNotify)qa_dispatch_job_free);
	g_main_context_unref(dispatcher->context);
	g_free(dispatcher);
}

gboolean
qa_dispatcher_is_busy(QaDispatcher *dispatcher)
{
	for (guint lane = 0; lane < QA_LANE_COUNT; lane++) {
		if (dispatcher->is_busy[lane])
			return TRUE;
	}
	return FALSE;
}

guint
qa_dispatcher_get_n_waiting(QaDispatcher *dispatcher)
{
	return g_queue_get_length(&dispatcher->waiting);
}

static void
qa_dispatch_submit(QaDispatcher *dispatcher, QaDispatchJob *job);

/* input the splitter refused (too large, too deep): answered in its place in the order */
void
qa_dispatcher_handle_error(QaDispatcher *dispatcher, const GError *error, guint64 tag)
{
	QaDispatchJob *job = g_new0(QaDispatchJob, 1);

	job->dispatcher = dispatcher;
	job->tag = tag;
	job->request = g_new0(QaRequest, 1);
	job->error = g_error_copy(error);
	qa_dispatch_submit(dispatcher, job);
}

/* Replies keep request order, as QEMU's agent's do: while a worker command runs, requests wait
 * behind it, except those whose schema allows out-of-band execution (ping, sync, status...),
 * which are answered at once so a host can see the agent is alive during a long freeze. */
void
qa_dispatcher_handle_text(QaDispatcher *dispatcher, const gchar *text, gsize len, guint64 tag)
{
	g_autoptr(QaDispatchJob) job = g_new0(QaDispatchJob, 1);

	job->dispatcher = dispatcher;
	job->tag = tag;
	job->request = qa_request_new_from_text(text, len, QA_DISPATCH_MAX_DEPTH);
	if (job->request->error != NULL) {
		job->error = g_error_copy(job->request->error);
	} else if ((job->def = qa_dispatch_lookup(job->request->execute)) == NULL) {
		qa_dispatch_set_not_found(job->request->execute, &job->error);
	} else if (!qa_config_is_command_enabled(dispatcher->config, job->def->name)) {
		g_set_error(&job->error,
			    QA_PROTOCOL_ERROR,
			    QA_PROTOCOL_ERROR_COMMAND_DISABLED,
			    "Command %s has been disabled: the command is not allowed",
			    job->def->name);
	}
	qa_dispatch_submit(dispatcher, g_steal_pointer(&job));
}

/* Takes @job: starts it now, or queues it behind the requests it must wait for. An error
 * reply takes the main lane: it keeps its place in the order, and costs nothing to send. */
static void
qa_dispatch_submit(QaDispatcher *dispatcher, QaDispatchJob *job)
{
	if (job->error == NULL && job->def->is_worker)
		job->lane = QA_LANE_FREEZER;
	else if (job->error == NULL && job->def->is_blocking)
		job->lane = QA_LANE_SYSTEM;
	else
		job->lane = QA_LANE_MAIN;
	if (job->lane == QA_LANE_MAIN && job->error == NULL && job->def->allow_oob) {
		qa_dispatch_start(dispatcher, job);
		return;
	}
	g_queue_push_tail(&dispatcher->waiting, job);
	qa_dispatch_drain(dispatcher);
}
