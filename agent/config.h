/* The agent's configuration: read from the config file, overridden by the command line, then
 * never changed. Every thread may read it without locking. */
#pragma once

#include <glib.h>

typedef struct {
	gchar *config_file;   /* the file that was read, NULL when none */
	gchar *method;	      /* virtio-serial, isa-serial, unix-listen, vsock-listen */
	gchar *path;	      /* channel path; NULL: the method's default */
	gchar *logfile;	      /* NULL: stderr */
	gchar *pidfile;	      /* NULL: none */
	gchar *fsfreeze_hook; /* NULL: no hook */
	gchar *statedir;
	gboolean verbose;
	gboolean daemonize;
	gchar **block_rpcs;	     /* NULL or NULL-terminated */
	gchar **allow_rpcs;	     /* NULL: everything not blocked is allowed */
	guint fsfreeze_timeout;	     /* seconds until auto-thaw; 0: never (QGA's behaviour) */
	guint fsfreeze_hook_timeout; /* seconds a hook may run */
	gchar **fsfreeze_exclude_mountpoints; /* glob patterns freeze-all leaves alone */
	gchar **fsfreeze_exclude_types;	      /* glob patterns of filesystem types, likewise */
	/* Linux: expedite RCU grace periods (/sys/kernel/rcu_expedited) for the FIFREEZE calls */
	gboolean fsfreeze_expedite_rcu;
	/* guest-exec's programs stay children of the agent, in its sandbox; FALSE: under systemd
	 * they run as transient services, unconfined as under QEMU's agent (system/exec-unit.h) */
	gboolean exec_confined;
	gchar *confine_mounts; /* only mounts at or below this directory exist (tests) */
	gchar *mountinfo;      /* mount table to read instead of /proc/self/mountinfo (tests) */
} QaConfig;

/* What a key holds; QA_CONFIG_HIDDEN may be or'ed in (test-only options, not in --help). */
typedef enum {
	QA_CONFIG_STR,
	QA_CONFIG_HOOK,	   /* a path; empty means none, and "-F" alone the default hook */
	QA_CONFIG_LIST,	   /* separated by ',' or ';' */
	QA_CONFIG_FLAG,	   /* a boolean that the command line sets without a value */
	QA_CONFIG_BOOL,	   /* true/false, yes/no, 1/0 */
	QA_CONFIG_SECONDS, /* a guint */
	QA_CONFIG_HIDDEN = 0x100,
} QaConfigType;
#define QA_CONFIG_TYPE(type) ((type)&0xff)

typedef struct {
	const gchar *name; /* as in the file, and the long option; NULL ends the table */
	gchar short_name;  /* the short option, 0 for none */
	guint type;	   /* QaConfigType */
	glong offset;	   /* of the field in QaConfig */
	const gchar *arg_name;
	const gchar *help; /* NULL: written by the command line from the channel's table */
} QaConfigKey;

/* every key, in the order --dump-conf writes them */
extern const QaConfigKey qa_config_keys[];

const QaConfigKey *
qa_config_find_key(const gchar *name);
/* sets key @name from its text, as the file or the command line gives it */
gboolean
qa_config_set(QaConfig *config, const gchar *name, const gchar *value, GError **error);

QaConfig *
qa_config_new_default(void);
void
qa_config_free(QaConfig *config);
gboolean
qa_config_load_file(QaConfig *config, const gchar *path, GError **error);
/* what the command line asks of the process, beside its configuration */
typedef enum {
	QA_CONFIG_ACTION_RUN,		 /* run the agent */
	QA_CONFIG_ACTION_STATUS,	 /* --status: print the freeze state and exit */
	QA_CONFIG_ACTION_EMERGENCY_THAW, /* --emergency-thaw: thaw what the state holds */
} QaConfigAction;

gboolean
qa_config_parse_args(QaConfig *config,
		     gint *argc,
		     gchar ***argv,
		     gchar **out_print,
		     QaConfigAction *out_action,
		     GError **error);
gchar *
qa_config_to_data(const QaConfig *config);
gboolean
qa_config_validate(QaConfig *config, gboolean needs_path, GError **error);
gboolean
qa_config_is_command_enabled(const QaConfig *config, const gchar *command);
const gchar *
qa_config_default_path(const gchar *method);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaConfig, qa_config_free)
