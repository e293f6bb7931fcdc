/* What a system daemon owes its supervisor: pidfile, daemonizing, systemd readiness and socket
 * activation. Implemented with the plain protocols, so the agent needs no libsystemd. */
#pragma once

#include <glib.h>

gboolean
qa_service_daemonize(GError **error);
gboolean
qa_service_write_pidfile(const gchar *path, GError **error);
void
qa_service_remove_pidfile(const gchar *path);
/* the descriptor systemd passed, or -1; fails when it passed more than one, or one that is not
 * a listening socket (Accept=yes, ListenSpecial=) */
gboolean
qa_service_get_activated_fd(gint *out_fd, GError **error);
void
qa_service_notify(const gchar *state);
