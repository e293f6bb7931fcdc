#include "config.h"
#include "qa-build-config.h"

#include <glib.h>
#include <string.h>

#include "channel.h"
#include "dispatch.h"

#define QA_GROUP "general"

QaConfig *
qa_config_new_default(void)
{
	QaConfig *config = g_new0(QaConfig, 1);
	config->method = g_strdup(qa_channel_get_methods()[0].name);
	config->statedir = g_strdup(QA_DEFAULT_STATEDIR);
	config->fsfreeze_hook_timeout = 60;
	config->fsfreeze_expedite_rcu = TRUE;
	return config;
}

void
qa_config_free(QaConfig *config)
{
	if (config == NULL)
		return;
	g_free(config->config_file);
	g_free(config->method);
	g_free(config->path);
	g_free(config->logfile);
	g_free(config->pidfile);
	g_free(config->fsfreeze_hook);
	g_free(config->statedir);
	g_strfreev(config->block_rpcs);
	g_strfreev(config->allow_rpcs);
	g_strfreev(config->fsfreeze_exclude_mountpoints);
	g_strfreev(config->fsfreeze_exclude_types);
	g_free(config->confine_mounts);
	g_free(config->mountinfo);
	g_free(config);
}

const gchar *
qa_config_default_path(const gchar *method)
{
	return qa_channel_get_default_path(method);
}

/* "a,b;c" -> {"a", "b", "c"}: admins use both separators (QGA's files use ',') */
static gchar **
qa_config_split_list(const gchar *value)
{
	g_auto(GStrv) parts = g_strsplit_set(value, ",;", -1);
	g_autoptr(GStrvBuilder) builder = g_strv_builder_new();

	for (guint i = 0; parts[i] != NULL; i++) {
		g_strstrip(parts[i]);
		if (parts[i][0] != '\0')
			g_strv_builder_add(builder, parts[i]);
	}
	return g_strv_builder_end(builder);
}

static void
qa_config_replace_str(gchar **field, const gchar *value)
{
	g_free(*field);
	*field = g_strdup(value);
}

static void
qa_config_replace_list(gchar ***field, const gchar *value)
{
	g_strfreev(*field);
	*field = qa_config_split_list(value);
}

/* seconds, at most what still fits in milliseconds in a guint (about 49 days) */
#define QA_CONFIG_MAX_SECONDS (G_MAXUINT / 1000)

static gboolean
qa_config_parse_uint(const gchar *key, const gchar *value, guint *out, GError **error)
{
	guint64 parsed;
	g_autoptr(GError) error_local = NULL;

	if (!g_ascii_string_to_unsigned(
		value, 10, 0, QA_CONFIG_MAX_SECONDS, &parsed, &error_local)) {
		g_set_error(error,
			    G_KEY_FILE_ERROR,
			    G_KEY_FILE_ERROR_INVALID_VALUE,
			    "'%s' must be a number of seconds from 0 to %u, not '%s'",
			    key,
			    QA_CONFIG_MAX_SECONDS,
			    value);
		return FALSE;
	}
	*out = (guint)parsed;
	return TRUE;
}

static gboolean
qa_config_parse_bool(const gchar *key, const gchar *value, gboolean *out, GError **error)
{
	if (g_ascii_strcasecmp(value, "true") == 0 || g_strcmp0(value, "1") == 0 ||
	    g_ascii_strcasecmp(value, "yes") == 0) {
		*out = TRUE;
		return TRUE;
	}
	if (g_ascii_strcasecmp(value, "false") == 0 || g_strcmp0(value, "0") == 0 ||
	    g_ascii_strcasecmp(value, "no") == 0) {
		*out = FALSE;
		return TRUE;
	}
	g_set_error(error,
		    G_KEY_FILE_ERROR,
		    G_KEY_FILE_ERROR_INVALID_VALUE,
		    "'%s' must be true or false, not '%s'",
		    key,
		    value);
	return FALSE;
}

/* One setter for the file and the command line, so both spell every key the same way. */
static gboolean
qa_config_set(QaConfig *config, const gchar *key, const gchar *value, GError **error)
{
	if (g_strcmp0(key, "method") == 0) {
		g_autoptr(GError) unknown = NULL;

		if (qa_channel_find_method(value, &unknown) == NULL) {
			g_set_error_literal(error,
					    G_KEY_FILE_ERROR,
					    G_KEY_FILE_ERROR_INVALID_VALUE,
					    unknown->message);
			return FALSE;
		}
		qa_config_replace_str(&config->method, value);
	} else if (g_strcmp0(key, "path") == 0) {
		qa_config_replace_str(&config->path, value);
	} else if (g_strcmp0(key, "logfile") == 0) {
		qa_config_replace_str(&config->logfile, value);
	} else if (g_strcmp0(key, "pidfile") == 0) {
		qa_config_replace_str(&config->pidfile, value);
	} else if (g_strcmp0(key, "fsfreeze-hook") == 0) {
		qa_config_replace_str(&config->fsfreeze_hook, value[0] != '\0' ? value : NULL);
	} else if (g_strcmp0(key, "statedir") == 0) {
		qa_config_replace_str(&config->statedir, value);
	} else if (g_strcmp0(key, "verbose") == 0) {
		return qa_config_parse_bool(key, value, &config->verbose, error);
	} else if (g_strcmp0(key, "daemonize") == 0 || g_strcmp0(key, "daemon") == 0) {
		return qa_config_parse_bool(key, value, &config->daemonize, error);
	} else if (g_strcmp0(key, "block-rpcs") == 0) {
		qa_config_replace_list(&config->block_rpcs, value);
	} else if (g_strcmp0(key, "allow-rpcs") == 0) {
		qa_config_replace_list(&config->allow_rpcs, value);
	} else if (g_strcmp0(key, "fsfreeze-timeout") == 0) {
		return qa_config_parse_uint(key, value, &config->fsfreeze_timeout, error);
	} else if (g_strcmp0(key, "fsfreeze-hook-timeout") == 0) {
		return qa_config_parse_uint(key, value, &config->fsfreeze_hook_timeout, error);
	} else if (g_strcmp0(key, "fsfreeze-exclude-mountpoints") == 0) {
		qa_config_replace_list(&config->fsfreeze_exclude_mountpoints, value);
	} else if (g_strcmp0(key, "fsfreeze-exclude-types") == 0) {
		qa_config_replace_list(&config->fsfreeze_exclude_types, value);
	} else if (g_strcmp0(key, "fsfreeze-expedite-rcu") == 0) {
		return qa_config_parse_bool(key, value, &config->fsfreeze_expedite_rcu, error);
	} else if (g_strcmp0(key, "confine-mounts") == 0) {
		qa_config_replace_str(&config->confine_mounts, value);
	} else if (g_strcmp0(key, "mountinfo") == 0) {
		qa_config_replace_str(&config->mountinfo, value);
	} else {
		g_set_error(error,
			    G_KEY_FILE_ERROR,
			    G_KEY_FILE_ERROR_KEY_NOT_FOUND,
			    "unknown key '%s'; quiesce-agent.conf(5) lists the keys",
			    key);
		return FALSE;
	}
	return TRUE;
}

gboolean
qa_config_load_file(QaConfig *config, const gchar *path, GError **error)
{
	g_autoptr(GKeyFile) keyfile = g_key_file_new();
	g_auto(GStrv) keys = NULL;

	if (!g_key_file_load_from_file(keyfile, path, G_KEY_FILE_NONE, error)) {
		g_prefix_error(error, "cannot read configuration file '%s': ", path);
		return FALSE;
	}
	if (!g_key_file_has_group(keyfile, QA_GROUP)) {
		g_set_error(error,
			    G_KEY_FILE_ERROR,
			    G_KEY_FILE_ERROR_GROUP_NOT_FOUND,
			    "configuration file '%s' has no [general] group",
			    path);
		return FALSE;
	}
	keys = g_key_file_get_keys(keyfile, QA_GROUP, NULL, error);
	if (keys == NULL)
		return FALSE;
	for (guint i = 0; keys[i] != NULL; i++) {
		g_autofree gchar *value = g_key_file_get_string(keyfile, QA_GROUP, keys[i], error);

		if (value == NULL || !qa_config_set(config, keys[i], value, error)) {
			g_prefix_error(error, "configuration file '%s': ", path);
			return FALSE;
		}
	}
	qa_config_replace_str(&config->config_file, path);
	return TRUE;
}

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

/* GOption callbacks only record the options; they are applied after the file is read */
static gboolean
qa_config_option_cb(const gchar *name, const gchar *value, gpointer data, GError **error)
{
	GPtrArray *overrides = data;
	QaConfigOverride *o = g_new0(QaConfigOverride, 1);
	static const struct {
		const gchar *alias;
		const gchar *key;
	} shorts[] = {{"-m", "method"},
		      {"-p", "path"},
		      {"-l", "logfile"},
		      {"-f", "pidfile"},
		      {"-F", "fsfreeze-hook"},
		      {"-t", "statedir"},
		      {"-v", "verbose"},
		      {"-d", "daemonize"},
		      {"-b", "block-rpcs"},
		      {"-a", "allow-rpcs"}};

	o->key = g_strdup(g_str_has_prefix(name, "--") ? name + 2 : name);
	for (guint i = 0; i < G_N_ELEMENTS(shorts); i++) {
		if (g_strcmp0(name, shorts[i].alias) == 0)
			qa_config_replace_str(&o->key, shorts[i].key);
	}
	if (g_strcmp0(o->key, "verbose") == 0 || g_strcmp0(o->key, "daemonize") == 0)
		o->value = g_strdup("true");
	else if (g_strcmp0(o->key, "fsfreeze-hook") == 0 && value == NULL)
		o->value = g_strdup(QA_DEFAULT_HOOK);
	else
		o->value = g_strdup(value);
	g_ptr_array_add(overrides, o);
	return TRUE;
}

/* On success *out_print is NULL to run the agent, or text to print before exiting (--version,
 * --dump-conf). */
gboolean
qa_config_parse_args(QaConfig *config, gint *argc, gchar ***argv, gchar **out_print, GError **error)
{
	g_autoptr(GPtrArray) overrides =
	    g_ptr_array_new_with_free_func((GDestroyNotify)qa_config_override_free);
	g_autofree gchar *config_file = NULL;
	gboolean dump_conf = FALSE;
	gboolean version = FALSE;
	g_autofree gchar *methods = qa_channel_describe_methods();
	g_autofree gchar *method_help = g_strdup_printf(
	    "Transport: %s (default %s)", methods, qa_channel_get_methods()[0].name);
	const GOptionFlags flags = G_OPTION_FLAG_NONE;
	const GOptionFlags noarg = G_OPTION_FLAG_NO_ARG;
	GOptionArgFunc cb = (GOptionArgFunc)qa_config_option_cb;
	const GOptionEntry entries[] = {
	    {"method", 'm', flags, G_OPTION_ARG_CALLBACK, cb, method_help, "METHOD"},
	    {"path",
	     'p',
	     flags,
	     G_OPTION_ARG_CALLBACK,
	     cb,
	     "Device or socket path; CID:PORT for vsock-listen",
	     "PATH"},
	    {"logfile",
	     'l',
	     flags,
	     G_OPTION_ARG_CALLBACK,
	     cb,
	     "Log to FILE instead of stderr",
	     "FILE"},
	    {"pidfile",
	     'f',
	     flags,
	     G_OPTION_ARG_CALLBACK,
	     cb,
	     "Write the process id to FILE",
	     "FILE"},
	    {"fsfreeze-hook",
	     'F',
	     G_OPTION_FLAG_OPTIONAL_ARG,
	     G_OPTION_ARG_CALLBACK,
	     cb,
	     "Run PATH with 'freeze' before freezing and 'thaw' after thawing "
	     "(default " QA_DEFAULT_HOOK ")",
	     "PATH"},
	    {"statedir",
	     't',
	     flags,
	     G_OPTION_ARG_CALLBACK,
	     cb,
	     "State directory, on a tmpfs (default " QA_DEFAULT_STATEDIR ")",
	     "DIR"},
	    {"verbose", 'v', noarg, G_OPTION_ARG_CALLBACK, cb, "Log every command", NULL},
	    {"daemonize", 'd', noarg, G_OPTION_ARG_CALLBACK, cb, "Run in the background", NULL},
	    {"block-rpcs",
	     'b',
	     flags,
	     G_OPTION_ARG_CALLBACK,
	     cb,
	     "Disable these commands (separated by , or ;)",
	     "LIST"},
	    {"allow-rpcs",
	     'a',
	     flags,
	     G_OPTION_ARG_CALLBACK,
	     cb,
	     "Enable only these commands (separated by , or ;)",
	     "LIST"},
	    {"fsfreeze-timeout",
	     0,
	     flags,
	     G_OPTION_ARG_CALLBACK,
	     cb,
	     "Thaw automatically when no thaw arrives within SECONDS (0: never)",
	     "SECONDS"},
	    {"fsfreeze-hook-timeout",
	     0,
	     flags,
	     G_OPTION_ARG_CALLBACK,
	     cb,
	     "Kill a freeze hook that runs longer than SECONDS (default 60)",
	     "SECONDS"},
	    {"fsfreeze-exclude-mountpoints",
	     0,
	     flags,
	     G_OPTION_ARG_CALLBACK,
	     cb,
	     "Glob patterns of mountpoints that freezing everything leaves alone",
	     "LIST"},
	    {"fsfreeze-exclude-types",
	     0,
	     flags,
	     G_OPTION_ARG_CALLBACK,
	     cb,
	     "Glob patterns of filesystem types that freezing everything leaves alone",
	     "LIST"},
	    {"fsfreeze-expedite-rcu",
	     0,
	     flags,
	     G_OPTION_ARG_CALLBACK,
	     cb,
	     "Expedite the kernel's RCU grace periods while filesystems are being frozen "
	     "(default true)",
	     "BOOL"},
	    {"confine-mounts",
	     0,
	     flags,
	     G_OPTION_ARG_CALLBACK,
	     cb,
	     "Consider only mounts at or below DIR (for tests)",
	     "DIR"},
	    {"mountinfo",
	     0,
	     G_OPTION_FLAG_HIDDEN,
	     G_OPTION_ARG_CALLBACK,
	     cb,
	     "Read the mount table from FILE (for tests)",
	     "FILE"},
	    {"config",
	     'c',
	     flags,
	     G_OPTION_ARG_FILENAME,
	     &config_file,
	     "Read FILE instead of " QA_DEFAULT_CONFIG,
	     "FILE"},
	    {"dump-conf",
	     'D',
	     flags,
	     G_OPTION_ARG_NONE,
	     &dump_conf,
	     "Print the effective configuration and exit",
	     NULL},
	    {"version",
	     'V',
	     flags,
	     G_OPTION_ARG_NONE,
	     &version,
	     "Print the version and exit",
	     NULL},
	    G_OPTION_ENTRY_NULL};
	g_autoptr(GOptionContext) context =
	    g_option_context_new("- guest agent for consistent virtual machine snapshots");
	GOptionGroup *group = g_option_group_new(NULL, NULL, NULL, overrides, NULL);

	g_option_group_add_entries(group, entries);
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
	if (version) {
		*out_print = g_strdup_printf("quiesce-agent %s\n", QA_VERSION);
		return TRUE;
	}
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
	if (dump_conf)
		*out_print = qa_config_to_data(config);
	return TRUE;
}

static void
qa_config_put_list(GKeyFile *keyfile, const gchar *key, gchar **list)
{
	g_autofree gchar *joined = NULL;

	if (list == NULL)
		return;
	joined = g_strjoinv(",", list);
	g_key_file_set_string(keyfile, QA_GROUP, key, joined);
}

static void
qa_config_put_str(GKeyFile *keyfile, const gchar *key, const gchar *value)
{
	if (value != NULL)
		g_key_file_set_string(keyfile, QA_GROUP, key, value);
}

gchar *
qa_config_to_data(const QaConfig *config)
{
	g_autoptr(GKeyFile) keyfile = g_key_file_new();

	qa_config_put_str(keyfile, "method", config->method);
	qa_config_put_str(keyfile,
			  "path",
			  config->path != NULL ? config->path
					       : qa_config_default_path(config->method));
	qa_config_put_str(keyfile, "logfile", config->logfile);
	qa_config_put_str(keyfile, "pidfile", config->pidfile);
	qa_config_put_str(keyfile, "fsfreeze-hook", config->fsfreeze_hook);
	qa_config_put_str(keyfile, "statedir", config->statedir);
	g_key_file_set_boolean(keyfile, QA_GROUP, "verbose", config->verbose);
	g_key_file_set_boolean(keyfile, QA_GROUP, "daemonize", config->daemonize);
	qa_config_put_list(keyfile, "block-rpcs", config->block_rpcs);
	qa_config_put_list(keyfile, "allow-rpcs", config->allow_rpcs);
	g_key_file_set_uint64(keyfile, QA_GROUP, "fsfreeze-timeout", config->fsfreeze_timeout);
	g_key_file_set_uint64(
	    keyfile, QA_GROUP, "fsfreeze-hook-timeout", config->fsfreeze_hook_timeout);
	qa_config_put_list(
	    keyfile, "fsfreeze-exclude-mountpoints", config->fsfreeze_exclude_mountpoints);
	qa_config_put_list(keyfile, "fsfreeze-exclude-types", config->fsfreeze_exclude_types);
	g_key_file_set_boolean(
	    keyfile, QA_GROUP, "fsfreeze-expedite-rcu", config->fsfreeze_expedite_rcu);
	qa_config_put_str(keyfile, "confine-mounts", config->confine_mounts);
	qa_config_put_str(keyfile, "mountinfo", config->mountinfo);
	return g_key_file_to_data(keyfile, NULL, NULL);
}

gboolean
qa_config_is_command_enabled(const QaConfig *config, const gchar *command)
{
	if (config->allow_rpcs != NULL &&
	    !g_strv_contains((const gchar *const *)config->allow_rpcs, command))
		return FALSE;
	if (config->block_rpcs != NULL &&
	    g_strv_contains((const gchar *const *)config->block_rpcs, command))
		return FALSE;
	return TRUE;
}

/* Checks what can only be checked once the file and the command line are merged: every name in
 * --block-rpcs/--allow-rpcs must be a command (a typo would silently leave enabled a command the
 * admin meant to disable), and a channel path must be known when @needs_path. */
gboolean
qa_config_validate(QaConfig *config, gboolean needs_path, GError **error)
{
	gchar **lists[] = {config->block_rpcs, config->allow_rpcs};
	const gchar *names[] = {"block-rpcs", "allow-rpcs"};

	for (guint l = 0; l < G_N_ELEMENTS(lists); l++) {
		for (guint i = 0; lists[l] != NULL && lists[l][i] != NULL; i++) {
			if (qa_dispatch_lookup(lists[l][i]) != NULL)
				continue;
			g_set_error(error,
				    G_OPTION_ERROR,
				    G_OPTION_ERROR_BAD_VALUE,
				    "%s: unknown command '%s'",
				    names[l],
				    lists[l][i]);
			return FALSE;
		}
	}
	if (needs_path && config->path == NULL) {
		config->path = g_strdup(qa_config_default_path(config->method));
		if (config->path == NULL) {
			g_set_error(error,
				    G_OPTION_ERROR,
				    G_OPTION_ERROR_BAD_VALUE,
				    "method %s needs --path (a socket path, or CID:PORT for vsock)",
				    config->method);
			return FALSE;
		}
	}
	return TRUE;
}
