/* The command line: every configuration key as an option (from qa_config_keys), plus --config,
 * --dump-conf and --version. Options are recorded while GOption parses and applied after the
 * configuration file is read, so the command line wins over the file whatever their order. */
#include "qa-build-config.h"

#include <glib.h>

#include "channel.h"
#include "config.h"

typedef struct {
	gchar *key;
	gchar *value;
} QaConfigOverride;

static void
qa_config_override_free(QaConfigOverride *o)
{
	g_free(o->key);
	g_free(o->value);
	g_free(o);
}

/* what an option is called on the command line: "--name" or "-c" */
static const QaConfigKey *
qa_config_cli_find_key(const gchar *option)
{
	if (g_str_has_prefix(option, "--"))
		return qa_config_find_key(option + 2);
	for (const QaConfigKey *key = qa_config_keys; key->name != NULL; key++) {
		if (key->short_name != 0 && option[0] == '-' && option[1] == key->short_name &&
		    option[2] == '\0')
			return key;
	}
	return NULL;
}

static gboolean
qa_config_cli_option_cb(const gchar *option, const gchar *value, gpointer data, GError **error)
{
	GPtrArray *overrides = data;
	const QaConfigKey *key = qa_config_cli_find_key(option);
	QaConfigOverride *o;

	g_return_val_if_fail(key != NULL, FALSE);
	o = g_new0(QaConfigOverride, 1);
	o->key = g_strdup(key->name);
	if (QA_CONFIG_TYPE(key->type) == QA_CONFIG_FLAG)
		o->value = g_strdup("true");
	else if (QA_CONFIG_TYPE(key->type) == QA_CONFIG_HOOK && value == NULL)
		o->value = g_strdup(QA_DEFAULT_HOOK); /* -F alone: the default hook */
	else
		o->value = g_strdup(value);
	g_ptr_array_add(overrides, o);
	return TRUE;
}

/* the GOption entries of every key; @method_help describes the transports */
static GArray *
qa_config_cli_entries(const gchar *method_help)
{
	GArray *entries = g_array_new(TRUE, TRUE, sizeof(GOptionEntry));

	for (const QaConfigKey *key = qa_config_keys; key->name != NULL; key++) {
		GOptionEntry entry = {
		    .long_name = key->name,
		    .short_name = key->short_name,
		    .arg = G_OPTION_ARG_CALLBACK,
		    .arg_data = (gpointer)qa_config_cli_option_cb,
		    .description = key->help != NULL ? key->help : method_help,
		    .arg_description = key->arg_name,
		};

		if (QA_CONFIG_TYPE(key->type) == QA_CONFIG_FLAG)
			entry.flags |= G_OPTION_FLAG_NO_ARG;
		if (QA_CONFIG_TYPE(key->type) == QA_CONFIG_HOOK)
			entry.flags |= G_OPTION_FLAG_OPTIONAL_ARG;
		if ((key->type & QA_CONFIG_HIDDEN) != 0)
			entry.flags |= G_OPTION_FLAG_HIDDEN;
		g_array_append_val(entries, entry);
	}
	return entries;
}

/* reads --config, or the default file when it exists, then applies @overrides over it */
static gboolean
qa_config_cli_apply(QaConfig *config,
		    const gchar *config_file,
		    GPtrArray *overrides,
		    GError **error)
{
	if (config_file != NULL) {
		if (!qa_config_load_file(config, config_file, error))
			return FALSE;
	} else if (g_file_test(QA_DEFAULT_CONFIG, G_FILE_TEST_EXISTS)) {
		if (!qa_config_load_file(config, QA_DEFAULT_CONFIG, error))
			return FALSE;
	}
	for (guint i = 0; i < overrides->len; i++) {
		QaConfigOverride *o = g_ptr_array_index(overrides, i);
		if (!qa_config_set(config, o->key, o->value, error)) {
			g_prefix_error(error, "option --%s: ", o->key);
			return FALSE;
		}
	}
	return TRUE;
}

/* On success *out_print is NULL to run the agent (or do *out_action), or text to print before
 * exiting (--version, --dump-conf). */
gboolean
qa_config_parse_args(QaConfig *config,
		     gint *argc,
		     gchar ***argv,
		     gchar **out_print,
		     QaConfigAction *out_action,
		     GError **error)
{
	g_autoptr(GPtrArray) overrides =
	    g_ptr_array_new_with_free_func((GDestroyNotify)qa_config_override_free);
	g_autofree gchar *config_file = NULL;
	gboolean dump_conf = FALSE;
	gboolean version = FALSE;
	gboolean status = FALSE;
	gboolean emergency_thaw = FALSE;
	g_autofree gchar *methods = qa_channel_describe_methods();
	g_autofree gchar *method_help = g_strdup_printf(
	    "Transport: %s (default %s)", methods, qa_channel_get_methods()[0].name);
	g_autoptr(GArray) entries = qa_config_cli_entries(method_help);
	const GOptionEntry own[] = {
	    {"config",
	     'c',
	     0,
	     G_OPTION_ARG_FILENAME,
	     &config_file,
	     "Read FILE instead of " QA_DEFAULT_CONFIG,
	     "FILE"},
	    {"dump-conf",
	     'D',
	     0,
	     G_OPTION_ARG_NONE,
	     &dump_conf,
	     "Print the effective configuration and exit",
	     NULL},
	    {"version", 'V', 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL},
	    {"status",
	     0,
	     0,
	     G_OPTION_ARG_NONE,
	     &status,
	     "Print what the agent holds frozen and what its last freeze did, from the state "
	     "directory (never asking the agent), and exit",
	     NULL},
	    {"emergency-thaw",
	     0,
	     0,
	     G_OPTION_ARG_NONE,
	     &emergency_thaw,
	     "Thaw what the state directory says is frozen, even with the agent hung or dead, and "
	     "exit",
	     NULL},
	    G_OPTION_ENTRY_NULL};
	g_autoptr(GOptionContext) context =
	    g_option_context_new("- guest agent for consistent virtual machine snapshots");
	GOptionGroup *group = g_option_group_new(NULL, NULL, NULL, overrides, NULL);

	g_option_group_add_entries(group, (const GOptionEntry *)(gpointer)entries->data);
	g_option_group_add_entries(group, own);
	g_option_context_set_main_group(context, group);
	g_option_context_set_summary(context,
				     "Speaks the QEMU guest agent protocol on a virtio-serial port "
				     "and freezes filesystems for host snapshots.");
	if (!g_option_context_parse(context, argc, argv, error))
		return FALSE;
	if (*argc > 1) {
		g_set_error(error,
			    G_OPTION_ERROR,
			    G_OPTION_ERROR_FAILED,
			    "unexpected argument '%s'; see --help",
			    (*argv)[1]);
		return FALSE;
	}
	*out_print = NULL;
	*out_action = QA_CONFIG_ACTION_RUN;
	if (status && emergency_thaw) {
		g_set_error(error,
			    G_OPTION_ERROR,
			    G_OPTION_ERROR_FAILED,
			    "--status and --emergency-thaw go one at a time; --emergency-thaw "
			    "prints the status after it");
		return FALSE;
	}
	if (version) {
		*out_print = g_strdup_printf("quiesce-agent %s\n", QA_VERSION);
		return TRUE;
	}
	if (!qa_config_cli_apply(config, config_file, overrides, error))
		return FALSE;
	if (dump_conf)
		*out_print = qa_config_to_data(config);
	else if (status)
		*out_action = QA_CONFIG_ACTION_STATUS;
	else if (emergency_thaw)
		*out_action = QA_CONFIG_ACTION_EMERGENCY_THAW;
	return TRUE;
}
