/* The Windows service: install, uninstall, and running under the service control manager. */
#pragma once

#include <glib.h>

#define QA_SERVICE_NAME "quiesce-agent"
#define QA_SERVICE_NAME_W L"quiesce-agent"

typedef gint (*QaServiceRunFunc)(gpointer user_data);
/* called on the service manager's thread: ask the run function to return soon */
typedef void (*QaServiceStopFunc)(gpointer user_data);

/* installs the service to run this executable with -d and @args (the other options given) */
gboolean
qa_service_install(gchar **args, GError **error);
/* stops the service (which thaws what it holds frozen) and removes it */
gboolean
qa_service_uninstall(GError **error);
/* blocks until the service stops; @run runs on the service's thread */
gboolean
qa_service_run(QaServiceRunFunc run,
	       QaServiceStopFunc stop,
	       gpointer user_data,
	       gint *out_exit_code,
	       GError **error);
/* tell the service manager the agent is ready (a no-op outside the service) */
void
qa_service_report_running(void);
