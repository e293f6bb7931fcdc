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

const QaJsonLimits qa_dispatch_limits = {
    .max_depth = QA_DISPATCH_MAX_DEPTH,
    .max_values = QA_DISPATCH_MAX_VALUES,
    .max_members = QA_DISPATCH_MAX_MEMBERS,
};

/* what a waiting request costs beyond its text: the job, the queue link, malloc's headers */
#define QA_DISPATCH_JOB_OVERHEAD 128

struct _QaDispatcher {
	QaAgent *agent;		/* opaque here: handed to the commands */
	const QaConfig *config; /* which commands are enabled */
	QaReplyFunc func;
	QaGateFunc gate;
	gpointer user_data;
	GMainContext *context;		     /* the main thread's, where replies are delivered */
	GThreadPool *threads[QA_LANE_COUNT]; /* one thread per lane but the main one */
	gboolean is_busy[QA_LANE_COUNT];     /* a command of the lane runs off the main thread */
	GQueue waiting;			/* of QaDispatchJob: requests not started yet, in order */
	guint n_waiting[QA_LANE_COUNT]; /* waiting requests of each lane */
	gsize waiting_bytes;		/* what the waiting requests hold */
	guint n_drops;			/* times requests were dropped from the queue */
};

typedef struct {
	QaDispatcher *dispatcher;
	QaLane lane;
	const QaCommandDef *def; /* NULL for a request answered with an error */
	guint64 tag;
	gchar *id; /* echoed in the reply (JSON text); NULL when the request had none */
	/* a valid request that waits: its text, parsed again when it starts */
	gchar *text;
	gsize text_len;
	QaRequest *request; /* a valid request that runs (or is about to) */
	gsize cost;	    /* bytes counted in waiting_bytes while it waits */
	GString *line;	    /* the reply line, written by the marshaller; dropped when it fails */
	GError *error;
} QaDispatchJob;

static void
qa_dispatch_job_free(QaDispatchJob *job)
{
	g_free(job->id);
	g_free(job->text);
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
	const gchar *name = job->def != NULL ? job->def->name : NULL;

	if (job->error != NULL) {
		/* the one place a failed request is logged: the host sees the same text */
		g_info(
		    "command=%s failed: %s", name != NULL ? name : "(none)", job->error->message);
		line = qa_reply_encode_error(job->error, job->id);
	} else if (job->def->success_response) {
		line = qa_reply_return_end(g_steal_pointer(&job->line), job->id);
	}
	/* called for every request, with NULL when it has no reply, so callers can count */
	dispatcher->func(line, job->tag, name, dispatcher->user_data);
}

static void
qa_dispatch_run(QaDispatchJob *job)
{
	const gchar *name = job->def->name;

	g_debug("running command=%s", name);
	job->line = qa_reply_return_begin(g_strcmp0(name, "guest-sync-delimited") == 0);
	job->def->marshal(job->dispatcher->agent, job->request->arguments, job->line, &job->error);
}

static gboolean
qa_dispatch_is_open(QaDispatcher *dispatcher)
{
	return dispatcher->gate == NULL || dispatcher->gate(dispatcher->user_data);
}

/* Whether a request of @lane may start now, given the lanes of the requests before it that
 * still wait (@held): none of those, and no running command, of a lane it waits for. */
static gboolean
qa_dispatch_is_free(QaDispatcher *dispatcher, QaLane lane, guint held)
{
	guint waits_for = qa_lane_waits_for[lane];

	if ((held & waits_for) != 0)
		return FALSE;
	for (guint other = 0; other < QA_LANE_COUNT; other++) {
		if ((waits_for & (1u << other)) != 0 && dispatcher->is_busy[other])
			return FALSE;
	}
	return TRUE;
}

/* the lanes that have a waiting request */
static guint
qa_dispatch_held_lanes(QaDispatcher *dispatcher)
{
	guint held = 0;

	for (guint lane = 0; lane < QA_LANE_COUNT; lane++) {
		if (dispatcher->n_waiting[lane] > 0)
			held |= 1u << lane;
	}
	return held;
}

/* Takes @job into the queue: a valid request keeps only its text (copied from @text, which is
 * the splitter's), not the tree parsed from it. */
static void
qa_dispatch_enqueue(QaDispatcher *dispatcher, QaDispatchJob *job, const gchar *text, gsize len)
{
	if (job->request != NULL) {
		job->text = g_memdup2(text, len);
		job->text_len = len;
		g_clear_pointer(&job->request, qa_request_free);
	}
	job->cost = QA_DISPATCH_JOB_OVERHEAD + job->text_len +
		    (job->id != NULL ? strlen(job->id) : 0) +
		    (job->error != NULL ? strlen(job->error->message) : 0);
	dispatcher->waiting_bytes += job->cost;
	dispatcher->n_waiting[job->lane]++;
	g_queue_push_tail(&dispatcher->waiting, job);
}

static void
qa_dispatch_unqueue(QaDispatcher *dispatcher, GList *link)
{
	QaDispatchJob *job = link->data;

	dispatcher->waiting_bytes -= job->cost;
	dispatcher->n_waiting[job->lane]--;
	job->cost = 0;
	g_queue_delete_link(&dispatcher->waiting, link);
}

static void
qa_dispatch_start(QaDispatcher *dispatcher, QaDispatchJob *job);

/* Starts, in order, every waiting request that no earlier request of a lane it waits for
 * holds up (qa_lane_waits_for), until the gate closes. */
static void
qa_dispatch_drain(QaDispatcher *dispatcher)
{
	guint held = 0; /* lanes with an earlier request that is still waiting */
	GList *link = dispatcher->waiting.head;

	while (link != NULL && qa_dispatch_is_open(dispatcher)) {
		QaDispatchJob *job = link->data;
		GList *next = link->next;
		guint n_drops = dispatcher->n_drops;

		if (qa_dispatch_is_free(dispatcher, job->lane, held)) {
			qa_dispatch_unqueue(dispatcher, link);
			qa_dispatch_start(dispatcher, job);
			/* its reply can end the connection, and the departed host's requests be
			 * dropped (qa_dispatcher_drop_waiting()): @next may be gone, start over */
			if (dispatcher->n_drops != n_drops) {
				next = dispatcher->waiting.head;
				held = 0;
			}
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

/* a request that waited as text is parsed again: the same text gives the same request */
static void
qa_dispatch_job_parse(QaDispatchJob *job)
{
	g_autofree gchar *text = g_steal_pointer(&job->text);

	if (text == NULL)
		return;
	job->request = qa_request_new_from_text(text, job->text_len, &qa_dispatch_limits);
	if (job->request->error != NULL && job->error == NULL)
		job->error = g_error_copy(job->request->error);
}

/* Takes @job: hands a worker command to the worker thread, answers anything else now. */
static void
qa_dispatch_start(QaDispatcher *dispatcher, QaDispatchJob *job)
{
	g_autoptr(QaDispatchJob) owned = job;

	qa_dispatch_job_parse(job);
	if (job->lane != QA_LANE_MAIN && job->error == NULL) {
		dispatcher->is_busy[job->lane] = TRUE;
		g_thread_pool_push(dispatcher->threads[job->lane], g_steal_pointer(&owned), NULL);
		return;
	}
	if (job->error == NULL)
		qa_dispatch_run(job);
	qa_dispatch_deliver(dispatcher, job);
}

QaDispatcher *
qa_dispatcher_new(
    QaAgent *agent, const QaConfig *config, QaReplyFunc func, QaGateFunc gate, gpointer user_data)
{
	QaDispatcher *dispatcher = g_new0(QaDispatcher, 1);

	dispatcher->agent = agent;
	dispatcher->config = config;
	dispatcher->func = func;
	dispatcher->gate = gate;
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

gsize
qa_dispatcher_get_waiting_bytes(QaDispatcher *dispatcher)
{
	return dispatcher->waiting_bytes;
}

void
qa_dispatcher_resume(QaDispatcher *dispatcher)
{
	qa_dispatch_drain(dispatcher);
}

guint
qa_dispatcher_drop_waiting(QaDispatcher *dispatcher, guint64 keep_tag)
{
	GList *link = dispatcher->waiting.head;
	guint n_dropped = 0;

	dispatcher->n_drops++;
	while (link != NULL) {
		QaDispatchJob *job = link->data;
		GList *next = link->next;

		if (job->tag != keep_tag &&
		    (job->def == NULL || g_strcmp0(job->def->name, "guest-fsfreeze-thaw") != 0)) {
			/* the name only: arguments can hold anything, paths and secrets included */
			g_message("dropped command=%s of a host that has disconnected: it had not "
				  "started",
				  job->def != NULL ? job->def->name : "(invalid request)");
			qa_dispatch_unqueue(dispatcher, link);
			qa_dispatch_job_free(job);
			n_dropped++;
		}
		link = next;
	}
	return n_dropped;
}

/* Takes @job: starts it now, or queues it behind the requests it must wait for (keeping
 * @text, the request's text, if it is valid). An error reply takes the main lane: it keeps its
 * place in the order, and costs nothing to send. */
static void
qa_dispatch_submit(QaDispatcher *dispatcher, QaDispatchJob *job, const gchar *text, gsize len)
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
	if (qa_dispatch_is_open(dispatcher) &&
	    qa_dispatch_is_free(dispatcher, job->lane, qa_dispatch_held_lanes(dispatcher))) {
		qa_dispatch_start(dispatcher, job);
		return;
	}
	qa_dispatch_enqueue(dispatcher, job, text, len);
}

/* input the splitter refused (too large, too deep): answered in its place in the order */
void
qa_dispatcher_handle_error(QaDispatcher *dispatcher, const GError *error, guint64 tag)
{
	QaDispatchJob *job = g_new0(QaDispatchJob, 1);

	job->dispatcher = dispatcher;
	job->tag = tag;
	job->error = g_error_copy(error);
	qa_dispatch_submit(dispatcher, job, NULL, 0);
}

/* Replies keep request order, as QEMU's agent's do: while a worker command runs, requests wait
 * behind it, except those whose schema allows out-of-band execution (ping, sync, status...),
 * which are answered at once so a host can see the agent is alive during a long freeze. */
void
qa_dispatcher_handle_text(QaDispatcher *dispatcher, const gchar *text, gsize len, guint64 tag)
{
	g_autoptr(QaDispatchJob) job = g_new0(QaDispatchJob, 1);
	g_autoptr(QaRequest) request = qa_request_new_from_text(text, len, &qa_dispatch_limits);

	job->dispatcher = dispatcher;
	job->tag = tag;
	job->id = g_steal_pointer(&request->id);
	if (request->error != NULL) {
		job->error = g_steal_pointer(&request->error);
	} else if ((job->def = qa_dispatch_lookup(request->execute)) == NULL) {
		qa_dispatch_set_not_found(request->execute, &job->error);
	} else if (!qa_config_is_command_enabled(dispatcher->config, job->def->name)) {
		g_set_error(&job->error,
			    QA_PROTOCOL_ERROR,
			    QA_PROTOCOL_ERROR_COMMAND_DISABLED,
			    "Command %s has been disabled: the command is not allowed",
			    job->def->name);
	} else {
		job->request = g_steal_pointer(&request);
	}
	qa_dispatch_submit(dispatcher, g_steal_pointer(&job), text, len);
}
