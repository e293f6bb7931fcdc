/* Whether a host is at the other end of a virtio-serial port (channel/port-host.c), through every
 * order in which the port can report a close, a reconnect and the next host's bytes.
 *
 * The model below plays the session's part the way channel-port.c and session.c do: a request
 * read is tagged with the connection it came in on; a new connection, and a final hang-up, end the
 * previous one, whose replies are dropped from then on; a reply made while the host is away is
 * held, then written if a host is back within the grace and dropped if the grace ends. */
#include <glib.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "port-host.h"

typedef struct {
	QaPortHostState state;
	guint connection; /* the session's generation */
	guint tags[16];	  /* the connection each request was read on */
	guint n_read;	  /* requests read */
	guint n_answered; /* requests whose reply is made */
	GArray *held;	  /* requests whose reply waits for the host to be back */
	GString *outcome; /* what happened, as the test spells it */
} Model;

static void
model_say(Model *model, const gchar *text)
{
	if (model->outcome->len > 0)
		g_string_append_c(model->outcome, ' ');
	g_string_append(model->outcome, text);
}

static void
model_apply(Model *model, QaPortHostAction action)
{
	switch (action) {
	case QA_PORT_HOST_NOTHING:
		return;
	case QA_PORT_HOST_ARRIVED:
		model->connection++;
		model_say(model, "+");
		return;
	case QA_PORT_HOST_HUNG_UP:
		model_say(model, "~");
		return;
	case QA_PORT_HOST_BACK:
		model_say(model, "=");
		for (guint i = 0; i < model->held->len; i++) {
			g_autofree gchar *text =
			    g_strdup_printf("D%u", g_array_index(model->held, guint, i));
			model_say(model, text);
		}
		g_array_set_size(model->held, 0);
		return;
	case QA_PORT_HOST_LEFT:
		model->connection++;
		model_say(model, "-");
		for (guint i = 0; i < model->held->len; i++) {
			g_autofree gchar *text =
			    g_strdup_printf("X%u", g_array_index(model->held, guint, i));
			model_say(model, text);
		}
		g_array_set_size(model->held, 0);
		return;
	}
}

static void
model_reply(Model *model)
{
	guint request = model->n_answered++;
	g_autofree gchar *text = NULL;

	assert_true(request < model->n_read);
	if (model->tags[request] != model->connection) {
		text = g_strdup_printf("X%u", request + 1);
		model_say(model, text);
	} else if (model->state == QA_PORT_HOST_AWAY) {
		guint number = request + 1;
		g_array_append_val(model->held, number);
	} else {
		text = g_strdup_printf("D%u", request + 1);
		model_say(model, text);
	}
}

/* Plays @events and returns what happened: "+" a new connection, "~" a hang-up seen, "=" a host
 * back within the grace, "-" a connection ended, "Dn" request n's reply written to the host,
 * "Xn" dropped.
 *   C, H   the port looked at (SIGIO, POLLHUP, EOF): a host there / hung up
 *   T, t   the grace timer fires: a host there / hung up
 *   U      the port is unplugged
 *   r      a request is read (the port is read only while a host is present)
 *   a      the oldest request not answered yet gets its reply */
static gchar *
play(const gchar *events)
{
	Model model = {.state = QA_PORT_HOST_ABSENT};

	model.held = g_array_new(FALSE, FALSE, sizeof(guint));
	model.outcome = g_string_new(NULL);
	for (const gchar *e = events; *e != '\0'; e++) {
		switch (*e) {
		case 'C':
		case 'H':
			model_apply(&model, qa_port_host_seen(&model.state, *e == 'H'));
			break;
		case 'T':
		case 't':
			model_apply(&model, qa_port_host_grace_over(&model.state, *e == 't'));
			break;
		case 'U':
			if (model.state != QA_PORT_HOST_ABSENT) {
				qa_port_host_lost(&model.state);
				model_apply(&model, QA_PORT_HOST_LEFT);
			}
			break;
		case 'r':
			assert_int_equal(model.state, QA_PORT_HOST_PRESENT);
			assert_true(model.n_read < G_N_ELEMENTS(model.tags));
			model.tags[model.n_read++] = model.connection;
			break;
		case 'a':
			model_reply(&model);
			break;
		case ' ':
			break;
		default:
			fail_msg("unknown event '%c'", *e);
		}
	}
	g_array_unref(model.held);
	return g_string_free(model.outcome, FALSE);
}

static const struct {
	const gchar *what;
	const gchar *events;
	const gchar *expected;
} cases[] = {
    /* Proxmox, in the order the guest usually sees it: the hang-up before the next host's
     * arrival and bytes; the grace ends before the next host is there */
    {"hang-up seen before the next host's data", "Cra H t Cra", "+ D1 ~ - + D2"},
    /* the same, the next host arriving within the grace: the same connection goes on */
    {"hang-up, then the next host within the grace", "Cra H C ra", "+ D1 ~ = D2"},
    /* the bug: the next host's request read before the driver reported the previous host's
     * hang-up, answered once the hang-up has been seen */
    {"next host's request read before the hang-up, answered when it is back",
     "Cra r H C a",
     "+ D1 ~ = D2"},
    {"next host's request read before the hang-up, answered while away",
     "Cra r H a C",
     "+ D1 ~ = D2"},
    /* the return seen by the timer only (its SIGIO coalesced with the hang-up's) */
    {"next host's request read before the hang-up, back at the timer",
     "Cra r H a T",
     "+ D1 ~ = D2"},
    /* POLLHUP sampled by the main loop, the host back by the time it is handled: the port is
     * looked at again, and nothing happened */
    {"hang-up and return collapsed", "Cr C a", "+ D1"},
    /* the reconnect check: the host leaves while its freeze runs, and comes back after the
     * grace; the reply made after the hang-up never reaches the next connection */
    {"request in flight when its host left for good", "Cr H t a C ra", "+ ~ - X1 + D2"},
    {"reply made within the grace, nobody back", "Cr H a t C", "+ ~ - X1 +"},
    {"unplugged while away", "Cr H a U", "+ ~ - X1"},
    {"unplugged while present", "Cr U a", "+ - X1"},
    {"hang-ups while nobody is there are nothing", "H H t C", "+"},
    {"still away at a second look", "Cr H H a C", "+ ~ = D1"},
    {"a timer that fires as the host is back", "C H C T t", "+ ~ ="},
    {"away again after coming back: a new grace", "Cr H C H a t", "+ ~ = ~ - X1"},
};

static void
test_orderings(void **state)
{
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *got = play(cases[i].events);

		if (g_strcmp0(got, cases[i].expected) != 0)
			fail_msg("%s (%s): got \"%s\", expected \"%s\"",
				 cases[i].what,
				 cases[i].events,
				 got,
				 cases[i].expected);
	}
}

/* the states themselves, apart from the model */
static void
test_transitions(void **state)
{
	QaPortHostState host = QA_PORT_HOST_ABSENT;

	assert_int_equal(qa_port_host_seen(&host, TRUE), QA_PORT_HOST_NOTHING);
	assert_int_equal(qa_port_host_grace_over(&host, TRUE), QA_PORT_HOST_NOTHING);
	assert_int_equal(qa_port_host_seen(&host, FALSE), QA_PORT_HOST_ARRIVED);
	assert_int_equal(host, QA_PORT_HOST_PRESENT);
	assert_int_equal(qa_port_host_seen(&host, FALSE), QA_PORT_HOST_NOTHING);
	assert_int_equal(qa_port_host_grace_over(&host, TRUE), QA_PORT_HOST_NOTHING);
	assert_int_equal(host, QA_PORT_HOST_PRESENT);
	assert_int_equal(qa_port_host_seen(&host, TRUE), QA_PORT_HOST_HUNG_UP);
	assert_int_equal(host, QA_PORT_HOST_AWAY);
	assert_int_equal(qa_port_host_seen(&host, TRUE), QA_PORT_HOST_NOTHING);
	assert_int_equal(qa_port_host_grace_over(&host, TRUE), QA_PORT_HOST_LEFT);
	assert_int_equal(host, QA_PORT_HOST_ABSENT);
	assert_int_equal(qa_port_host_seen(&host, FALSE), QA_PORT_HOST_ARRIVED);
	assert_int_equal(qa_port_host_seen(&host, TRUE), QA_PORT_HOST_HUNG_UP);
	qa_port_host_lost(&host);
	assert_int_equal(host, QA_PORT_HOST_ABSENT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_orderings),
	    cmocka_unit_test(test_transitions),
	};
	return cmocka_run_group_tests_name("port-host", tests, NULL, NULL);
}
