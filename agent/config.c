#include "config.h"
#include "qa-build-config.h"

#include <glib.h>
#include <string.h>

#include "channel.h"
#include "qa-schema.h"

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

static gboolean
qa_config_check_method(const gchar *value, GError **error)
{
	g_autoptr(GError) unknown = NULL;

	if (qa_channel_find_method(value, &unknown) != NULL)
		return TRUE;
	g_set_error_literal(
	    error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE, unknown->message);
	return FALSE;
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

/* Every key, once: its type, where it lives in QaConfig, and how the command line spells it.
 * The file, the command line and --dump-conf all read this table, so a key can never be known
 * to one of them and not the others. */
const QaConfigKey qa_config_keys[] = {
    {"method",
     'm',
     QA_CONFIG_STR,
     G_STRUCT_OFFSET(QaConfig, method),
     "METHOD",
     NULL /* from the channel's table, see config-cli.c */},
    {"path",
     'p',
     QA_CONFIG_STR,
     G_STRUCT_OFFSET(QaConfig, path),
     "PATH",
     "Device or socket path; CID:PORT for vsock-listen"},
    {"logfile",
     'l',
     QA_CONFIG_STR,
     G_STRUCT_OFFSET(QaConfig, logfile),
     "FILE",
     "Log to FILE instead of stderr"},
    {"pidfile",
     'f',
     QA_CONFIG_STR,
     G_STRUCT_OFFSET(QaConfig, pidfile),
     "FILE",
     "Write the process id to FILE"},
    {"fsfreeze-hook",
     'F',
     QA_CONFIG_HOOK,
     G_STRUCT_OFFSET(QaConfig, fsfreeze_hook),
     "PATH",
     "Run PATH with 'freeze' before freezing and 'thaw' after thawing (default " QA_DEFAULT_HOOK
     ")"},
    {"statedir",
     't',
     QA_CONFIG_STR,
     G_STRUCT_OFFSET(QaConfig, statedir),
     "DIR",
     "State directory, on a tmpfs (default " QA_DEFAULT_STATEDIR ")"},
    {"verbose", 'v', QA_CONFIG_FLAG, G_STRUCT_OFFSET(QaConfig, verbose), NULL, "Log every command"},
    {"daemonize",
     'd',
     QA_CONFIG_FLAG,
     G_STRUCT_OFFSET(QaConfig, daemonize),
     NULL,
     "Run in the background"},
    {"block-rpcs",
     'b',
     QA_CONFIG_LIST,
     G_STRUCT_OFFSET(QaConfig, block_rpcs),
     "LIST",
     "Disable these commands (separated by , or ;; glob patterns allowed)"},
    {"allow-rpcs",
     'a',
     QA_CONFIG_LIST,
     G_STRUCT_OFFSET(QaConfig, allow_rpcs),
     "LIST",
     "Enable only these commands (separated by , or ;; glob patterns allowed)"},
    {"fsfreeze-timeout",
     0,
     QA_CONFIG_SECONDS,
     G_STRUCT_OFFSET(QaConfig, fsfreeze_timeout),
     "SECONDS",
     "Thaw automatically when no thaw arrives within SECONDS (0: never)"},
    {"fsfreeze-hook-timeout",
     0,
     QA_CONFIG_SECONDS,
     G_STRUCT_OFFSET(QaConfig, fsfreeze_hook_timeout),
     "SECONDS",
     "Kill a freeze hook that runs longer than SECONDS (default 60)"},
    {"fsfreeze-exclude-mountpoints",
     0,
     QA_CONFIG_LIST,
     G_STRUCT_OFFSET(QaConfig, fsfreeze_exclude_mountpoints),
     "LIST",
     "Glob patterns of mountpoints that freezing everything leaves alone"},
    {"fsfreeze-exclude-types",
     0,
     QA_CONFIG_LIST,
     G_STRUCT_OFFSET(QaConfig, fsfreeze_exclude_types),
     "LIST",
     "Glob patterns of filesystem types that freezing everything leaves alone"},
    {"fsfreeze-expedite-rcu",
     0,
     QA_CONFIG_BOOL,
     G_STRUCT_OFFSET(QaConfig, fsfreeze_expedite_rcu),
     "BOOL",
     "Expedite the kernel's RCU grace periods while filesystems are being frozen (default "
     "true)"},
    {"exec-confined",
     0,
     QA_CONFIG_BOOL,
     G_STRUCT_OFFSET(QaConfig, exec_confined),
     "BOOL",
     "Run guest-exec's programs inside the agent's sandbox instead of as services of their "
     "own (default false)"},
    {"confine-mounts",
     0,
     QA_CONFIG_STR,
     G_STRUCT_OFFSET(QaConfig, confine_mounts),
     "DIR",
     "Consider only mounts at or below DIR (for tests)"},
    {"mountinfo",
     0,
     QA_CONFIG_STR | QA_CONFIG_HIDDEN,
     G_STRUCT_OFFSET(QaConfig, mountinfo),
     "FILE",
     "Read the mount table from FILE (for tests)"},
    {NULL, 0, 0, 0, NULL, NULL},
};

const QaConfigKey *
qa_config_find_key(const gchar *name)
{
	/* QEMU's agent writes "daemon" in its files */
	if (g_strcmp0(name, "daemon") == 0)
		name = "daemonize";
	for (const QaConfigKey *key = qa_config_keys; key->name != NULL; key++) {
		if (g_strcmp0(key->name, name) == 0)
			return key;
	}
	return NULL;
}

/* One setter for the file and the command line, so both spell every key the same way. */
gboolean
qa_config_set(QaConfig *config, const gchar *name, const gchar *value, GError **error)
{
	const QaConfigKey *key = qa_config_find_key(name);
	gpointer field;

	if (key == NULL) {
		g_set_error(error,
			    G_KEY_FILE_ERROR,
			    G_KEY_FILE_ERROR_KEY_NOT_FOUND,
			    "unknown key '%s'; quiesce-agent.conf(5) lists the keys",
			    name);
		return FALSE;
	}
	field = G_STRUCT_MEMBER_P(config, key->offset);
	switch (QA_CONFIG_TYPE(key->type)) {
	case QA_CONFIG_STR:
		if (g_strcmp0(key->name, "method") == 0 && !qa_config_check_method(value, error))
			return FALSE;
		qa_config_replace_str(field, value);
		return TRUE;
	case QA_CONFIG_HOOK:
		/* an empty value means no hook at all */
		qa_config_replace_str(field, value[0] != '\0' ? value : NULL);
		return TRUE;
	case QA_CONFIG_LIST:
		qa_config_replace_list(field, value);
		return TRUE;
	case QA_CONFIG_FLAG:
	case QA_CONFIG_BOOL:
		return qa_config_parse_bool(key->name, value, field, error);
	case QA_CONFIG_SECONDS:
		return qa_config_parse_uint(key->name, value, field, error);
	}
	g_return_val_if_reached(FALSE);
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

	for (const QaConfigKey *key = qa_config_keys; key->name != NULL; key++) {
		gconstpointer field = G_STRUCT_MEMBER_P(config, key->offset);

		switch (QA_CONFIG_TYPE(key->type)) {
		case QA_CONFIG_STR:
		case QA_CONFIG_HOOK: {
			const gchar *value = *(gchar *const *)field;
			/* the path the agent will use, also when it is the method's default */
			if (value == NULL && g_strcmp0(key->name, "path") == 0)
				value = qa_config_default_path(config->method);
			qa_config_put_str(keyfile, key->name, value);
			break;
		}
		case QA_CONFIG_LIST:
			qa_config_put_list(keyfile, key->name, *(gchar * *const *)field);
			break;
		case QA_CONFIG_FLAG:
		case QA_CONFIG_BOOL:
			g_key_file_set_boolean(
			    keyfile, QA_GROUP, key->name, *(const gboolean *)field);
			break;
		case QA_CONFIG_SECONDS:
			g_key_file_set_uint64(keyfile, QA_GROUP, key->name, *(const guint *)field);
			break;
		}
	}
	return g_key_file_to_data(keyfile, NULL, NULL);
}

/* whether @command is one of @patterns: names, or glob patterns such as "guest-file-*" */
static gboolean
qa_config_list_matches(gchar **patterns, const gchar *command)
{
	for (guint i = 0; patterns != NULL && patterns[i] != NULL; i++) {
		if (g_pattern_match_simple(patterns[i], command))
			return TRUE;
	}
	return FALSE;
}

/* QEMU's agent's rules: an allow list denies what it does not name; the block list wins */
gboolean
qa_config_is_command_enabled(const QaConfig *config, const gchar *command)
{
	if (config->allow_rpcs != NULL && !qa_config_list_matches(config->allow_rpcs, command))
		return FALSE;
	if (qa_config_list_matches(config->block_rpcs, command))
		return FALSE;
	return TRUE;
}

/* whether @pattern names at least one command of the schema, on this platform or another: a
 * RHEL-style list naming a Windows-only command must not stop the agent, a typo must */
static gboolean
qa_config_pattern_is_known(const gchar *pattern)
{
	for (guint i = 0; i < qa_schema_n_commands; i++) {
		if (g_pattern_match_simple(pattern, qa_schema_commands[i].name))
			return TRUE;
	}
	for (guint i = 0; qa_schema_other_platform_commands[i] != NULL; i++) {
		if (g_pattern_match_simple(pattern, qa_schema_other_platform_commands[i]))
			return TRUE;
	}
	return FALSE;
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
			if (qa_config_pattern_is_known(lists[l][i]))
				continue;
			g_set_error(error,
				    G_OPTION_ERROR,
				    G_OPTION_ERROR_BAD_VALUE,
				    "%s: '%s' names no command; guest-info lists them",
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
