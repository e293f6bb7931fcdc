/* Whether a host is at the other end of a virtio-serial port, decided from what the agent sees
 * of the port: pure logic, fed by channel-port.c, which owns the descriptor and the timers.
 *
 * The virtio console driver learns of the host's connections from control messages, which it
 * handles later, in a workqueue, and takes the host's bytes from another virtqueue at once. When
 * a host closes and the next one connects and writes straight away (Proxmox opens a connection
 * per command), the new host's request can therefore be read before the port reports the
 * previous host's hang-up; the hang-up and the new host's arrival are then reported back to
 * back, and the agent, woken by the first, can look at the port in between. Nothing the guest
 * sees tells that request from one the previous host sent just before it left. So a hang-up is
 * only final once the port has stayed without a host for QA_PORT_HOST_GRACE_MS: a host there
 * again before then is served as the same connection (no reply is dropped; what the previous
 * host was owed may reach it, which hosts that sync first skip), and only a final hang-up drops
 * the departed host's replies and requests. */
#pragma once

#include <glib.h>

/* Longer than the driver ever takes between the two control messages of a close and a
 * reconnect that are already queued (microseconds; milliseconds on an emulated, loaded host),
 * and shorter than any host takes to come back on purpose after leaving requests unanswered. */
#define QA_PORT_HOST_GRACE_MS 250

typedef enum {
	QA_PORT_HOST_ABSENT,  /* no host */
	QA_PORT_HOST_PRESENT, /* a host is connected */
	QA_PORT_HOST_AWAY,    /* the port reported a hang-up less than the grace ago */
} QaPortHostState;

typedef enum {
	QA_PORT_HOST_NOTHING, /* no change */
	QA_PORT_HOST_ARRIVED, /* a new host: a new connection starts */
	QA_PORT_HOST_HUNG_UP, /* the port says no host: stop reading and writing, start the grace */
	QA_PORT_HOST_BACK,    /* a host within the grace: the same connection goes on */
	QA_PORT_HOST_LEFT,    /* no host for the whole grace: the connection has ended */
} QaPortHostAction;

/* the port was looked at (poll() now, not an earlier poll's result) and reports a hang-up, or
 * not; every look goes through here, whatever made the agent look (SIGIO, POLLHUP, EOF) */
QaPortHostAction
qa_port_host_seen(QaPortHostState *state, gboolean is_hung_up);
/* the grace started by QA_PORT_HOST_HUNG_UP is over, and the port, looked at now, reports a
 * hang-up or not */
QaPortHostAction
qa_port_host_grace_over(QaPortHostState *state, gboolean is_hung_up);
/* the port itself is gone (hot-unplug) or failed: no host, at once, without a grace */
void
qa_port_host_lost(QaPortHostState *state);
