#include "port-host.h"

QaPortHostAction
qa_port_host_seen(QaPortHostState *state, gboolean is_hung_up)
{
	switch (*state) {
	case QA_PORT_HOST_ABSENT:
		if (is_hung_up)
			return QA_PORT_HOST_NOTHING;
		*state = QA_PORT_HOST_PRESENT;
		return QA_PORT_HOST_ARRIVED;
	case QA_PORT_HOST_PRESENT:
		/* no hang-up now: either none, or one and a return both before this look, which
		 * nothing can tell apart (nor need to: the host there now gets the replies) */
		if (!is_hung_up)
			return QA_PORT_HOST_NOTHING;
		*state = QA_PORT_HOST_AWAY;
		return QA_PORT_HOST_HUNG_UP;
	case QA_PORT_HOST_AWAY:
		/* still no host: the grace goes on from the first hang-up seen */
		if (is_hung_up)
			return QA_PORT_HOST_NOTHING;
		*state = QA_PORT_HOST_PRESENT;
		return QA_PORT_HOST_BACK;
	}
	g_return_val_if_reached(QA_PORT_HOST_NOTHING);
}

QaPortHostAction
qa_port_host_grace_over(QaPortHostState *state, gboolean is_hung_up)
{
	if (*state != QA_PORT_HOST_AWAY)
		return QA_PORT_HOST_NOTHING; /* a timer that fired as the host came back */
	if (!is_hung_up) {
		/* back, and the notification of it not read yet (or none: no SIGIO) */
		*state = QA_PORT_HOST_PRESENT;
		return QA_PORT_HOST_BACK;
	}
	*state = QA_PORT_HOST_ABSENT;
	return QA_PORT_HOST_LEFT;
}

void
qa_port_host_lost(QaPortHostState *state)
{
	*state = QA_PORT_HOST_ABSENT;
}
