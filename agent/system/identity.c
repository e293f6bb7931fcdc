#include "identity.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <utmpx.h>

#include "kernel-file.h"
#include "qa-error.h"

/* os-release(5) is "shell-compatible": the reading below is systemd's (parse_env_file(), the
 * reference reader of the format), which the specification's examples follow. qemu-ga loads
 * the file as a GKeyFile instead, so a line that is not "key=value" makes it drop the whole
 * file, single-quoted values keep their quotes and are cut at the first space, and escapes in
 * bare values are kept. */
typedef enum {
	QA_IDENTITY_ENV_PRE_KEY,
	QA_IDENTITY_ENV_KEY,
	QA_IDENTITY_ENV_PRE_VALUE,
	QA_IDENTITY_ENV_VALUE,
	QA_IDENTITY_ENV_VALUE_ESCAPE,
	QA_IDENTITY_ENV_SINGLE_QUOTE,
	QA_IDENTITY_ENV_DOUBLE_QUOTE,
	QA_IDENTITY_ENV_DOUBLE_QUOTE_ESCAPE,
	QA_IDENTITY_ENV_COMMENT,
	QA_IDENTITY_ENV_COMMENT_ESCAPE,
} QaIdentityEnvState;

typedef struct {
	QaIdentityEnvState state;
	GString *key;
	GString *value;
	/* where trailing blanks of the key or of a bare value begin; G_MAXSIZE when none */
	gsize key_blank;
	gsize value_blank;
	GHashTable *pairs;
} QaIdentityEnvParser;

static gboolean
qa_identity_is_blank(gchar c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static gboolean
qa_identity_is_newline(gchar c)
{
	return c == '\n' || c == '\r';
}

/* an environment variable name: what a shell would assign */
static gboolean
qa_identity_is_valid_key(const gchar *key)
{
	if (!g_ascii_isalpha(key[0]) && key[0] != '_')
		return FALSE;
	for (const gchar *p = key + 1; *p != '\0'; p++) {
		if (!g_ascii_isalnum(*p) && *p != '_')
			return FALSE;
	}
	return TRUE;
}

static void
qa_identity_os_release_push(QaIdentityEnvParser *parser)
{
	if (parser->key_blank != G_MAXSIZE)
		g_string_truncate(parser->key, parser->key_blank);
	if (parser->value_blank != G_MAXSIZE)
		g_string_truncate(parser->value, parser->value_blank);
	/* the format is UTF-8: a value that is not is skipped, as systemd skips it */
	if (qa_identity_is_valid_key(parser->key->str) &&
	    g_utf8_validate(parser->value->str, parser->value->len, NULL))
		g_hash_table_replace(parser->pairs,
				     g_strdup(parser->key->str),
				     g_strndup(parser->value->str, parser->value->len));
	g_string_truncate(parser->key, 0);
	g_string_truncate(parser->value, 0);
	parser->key_blank = G_MAXSIZE;
	parser->value_blank = G_MAXSIZE;
	parser->state = QA_IDENTITY_ENV_PRE_KEY;
}

/* a character of a bare value: trailing blanks are dropped at its end, escaped ones are not */
static void
qa_identity_os_release_bare(QaIdentityEnvParser *parser, gchar c)
{
	if (!qa_identity_is_blank(c))
		parser->value_blank = G_MAXSIZE;
	else if (parser->value_blank == G_MAXSIZE)
		parser->value_blank = parser->value->len;
	g_string_append_c(parser->value, c);
}

static void
qa_identity_os_release_step_key(QaIdentityEnvParser *parser, gchar c)
{
	if (parser->state == QA_IDENTITY_ENV_PRE_KEY) {
		if (c == '#' || c == ';')
			parser->state = QA_IDENTITY_ENV_COMMENT;
		else if (!qa_identity_is_blank(c)) {
			parser->state = QA_IDENTITY_ENV_KEY;
			g_string_append_c(parser->key, c);
		}
		return;
	}
	/* QA_IDENTITY_ENV_KEY: a line without '=' assigns nothing */
	if (qa_identity_is_newline(c)) {
		g_string_truncate(parser->key, 0);
		parser->key_blank = G_MAXSIZE;
		parser->state = QA_IDENTITY_ENV_PRE_KEY;
	} else if (c == '=') {
		parser->state = QA_IDENTITY_ENV_PRE_VALUE;
	} else {
		if (!qa_identity_is_blank(c))
			parser->key_blank = G_MAXSIZE;
		else if (parser->key_blank == G_MAXSIZE)
			parser->key_blank = parser->key->len;
		g_string_append_c(parser->key, c);
	}
}

static void
qa_identity_os_release_step_value(QaIdentityEnvParser *parser, gchar c)
{
	switch (parser->state) {
	case QA_IDENTITY_ENV_PRE_VALUE:
	case QA_IDENTITY_ENV_VALUE:
		if (qa_identity_is_newline(c))
			qa_identity_os_release_push(parser);
		else if (c == '\\')
			parser->state = QA_IDENTITY_ENV_VALUE_ESCAPE;
		else if (parser->state == QA_IDENTITY_ENV_PRE_VALUE && c == '\'')
			parser->state = QA_IDENTITY_ENV_SINGLE_QUOTE;
		else if (parser->state == QA_IDENTITY_ENV_PRE_VALUE && c == '"')
			parser->state = QA_IDENTITY_ENV_DOUBLE_QUOTE;
		else if (parser->state == QA_IDENTITY_ENV_VALUE || !qa_identity_is_blank(c)) {
			parser->state = QA_IDENTITY_ENV_VALUE;
			qa_identity_os_release_bare(parser, c);
		}
		break;
	case QA_IDENTITY_ENV_VALUE_ESCAPE:
		/* backslash-newline continues the value on the next line */
		parser->state = QA_IDENTITY_ENV_VALUE;
		parser->value_blank = G_MAXSIZE;
		if (!qa_identity_is_newline(c))
			g_string_append_c(parser->value, c);
		break;
	case QA_IDENTITY_ENV_SINGLE_QUOTE:
		if (c == '\'')
			parser->state = QA_IDENTITY_ENV_PRE_VALUE;
		else
			g_string_append_c(parser->value, c);
		break;
	case QA_IDENTITY_ENV_DOUBLE_QUOTE:
		if (c == '"')
			parser->state = QA_IDENTITY_ENV_PRE_VALUE;
		else if (c == '\\')
			parser->state = QA_IDENTITY_ENV_DOUBLE_QUOTE_ESCAPE;
		else
			g_string_append_c(parser->value, c);
		break;
	default: /* QA_IDENTITY_ENV_DOUBLE_QUOTE_ESCAPE: only these four are escaped in a shell */
		parser->state = QA_IDENTITY_ENV_DOUBLE_QUOTE;
		if (strchr("\"\\`$", c) != NULL)
			g_string_append_c(parser->value, c);
		else if (c != '\n') {
			g_string_append_c(parser->value, '\\');
			g_string_append_c(parser->value, c);
		}
		break;
	}
}

static void
qa_identity_os_release_step(QaIdentityEnvParser *parser, gchar c)
{
	switch (parser->state) {
	case QA_IDENTITY_ENV_PRE_KEY:
	case QA_IDENTITY_ENV_KEY:
		qa_identity_os_release_step_key(parser, c);
		return;
	case QA_IDENTITY_ENV_COMMENT:
		if (c == '\\')
			parser->state = QA_IDENTITY_ENV_COMMENT_ESCAPE;
		else if (qa_identity_is_newline(c))
			parser->state = QA_IDENTITY_ENV_PRE_KEY;
		return;
	case QA_IDENTITY_ENV_COMMENT_ESCAPE:
		/* systemd 254 and later: an escaped newline no longer continues a comment */
		parser->state =
		    qa_identity_is_newline(c) ? QA_IDENTITY_ENV_PRE_KEY : QA_IDENTITY_ENV_COMMENT;
		return;
	default:
		qa_identity_os_release_step_value(parser, c);
		return;
	}
}

GHashTable *
qa_identity_os_release_parse(const gchar *text, gsize len)
{
	g_autoptr(GString) key = g_string_new(NULL);
	g_autoptr(GString) value = g_string_new(NULL);
	QaIdentityEnvParser parser = {
	    .state = QA_IDENTITY_ENV_PRE_KEY,
	    .key = key,
	    .value = value,
	    .key_blank = G_MAXSIZE,
	    .value_blank = G_MAXSIZE,
	    .pairs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free),
	};

	for (gsize i = 0; i < len; i++)
		qa_identity_os_release_step(&parser, text[i]);
	/* a last line without its newline, or a quote never closed, still assigns */
	if (parser.state != QA_IDENTITY_ENV_PRE_KEY && parser.state != QA_IDENTITY_ENV_KEY &&
	    parser.state != QA_IDENTITY_ENV_COMMENT &&
	    parser.state != QA_IDENTITY_ENV_COMMENT_ESCAPE)
		qa_identity_os_release_push(&parser);
	return parser.pairs;
}

GHashTable *
qa_identity_os_release_load(const gchar *const *paths, GError **error)
{
	g_autoptr(GError) error_first = NULL;

	for (guint i = 0; paths[i] != NULL; i++) {
		gsize len = 0;
		g_autofree gchar *text = qa_kernel_file_read(paths[i], &len);
		gint errsv = errno;

		if (text != NULL)
			return qa_identity_os_release_parse(text, len);
		/* the next file is read only when this one is missing (os-release(5)), or, as
		 * qemu-ga does, when it cannot be read */
		if (errsv != ENOENT && errsv != ENOTDIR && error_first == NULL)
			g_set_error(&error_first,
				    QA_SYSTEM_ERROR,
				    QA_SYSTEM_ERROR_FAILED,
				    "Cannot read '%s': %s",
				    paths[i],
				    g_strerror(errsv));
	}
	if (error_first != NULL) {
		g_propagate_error(error, g_steal_pointer(&error_first));
		return NULL;
	}
	return g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
}

gboolean
qa_identity_uname_load(struct utsname *out_uts, GError **error)
{
	if (uname(out_uts) != 0) {
		gint errsv = errno;
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot read the kernel's name and version: %s",
			    g_strerror(errsv));
		return FALSE;
	}
	return TRUE;
}

static gchar *
qa_identity_lookup(GHashTable *pairs, const gchar *key)
{
	return pairs != NULL ? g_strdup(g_hash_table_lookup(pairs, key)) : NULL;
}

QaIdentityOsInfo *
qa_identity_os_info_new(GHashTable *os_release, const struct utsname *uts)
{
	QaIdentityOsInfo *info = g_new0(QaIdentityOsInfo, 1);

	info->kernel_release = g_strdup(uts->release);
	info->kernel_version = g_strdup(uts->version);
	info->machine = g_strdup(uts->machine);
	info->id = qa_identity_lookup(os_release, "ID");
	/* vdsm reads kernel-release whenever id is there, and libvirt's clients expect an id */
	if (info->id == NULL || info->id[0] == '\0') {
		g_free(info->id);
		info->id = g_strdup(QA_IDENTITY_OS_RELEASE_DEFAULT_ID);
	}
	info->name = qa_identity_lookup(os_release, "NAME");
	info->pretty_name = qa_identity_lookup(os_release, "PRETTY_NAME");
	info->version = qa_identity_lookup(os_release, "VERSION");
	info->version_id = qa_identity_lookup(os_release, "VERSION_ID");
	info->variant = qa_identity_lookup(os_release, "VARIANT");
	info->variant_id = qa_identity_lookup(os_release, "VARIANT_ID");
	return info;
}

QaIdentityOsInfo *
qa_identity_os_info_load(GError **error)
{
	static const gchar *const paths[] = QA_IDENTITY_OS_RELEASE_PATHS;
	g_autoptr(GError) error_local = NULL;
	g_autoptr(GHashTable) os_release = qa_identity_os_release_load(paths, &error_local);
	struct utsname uts;

	if (!qa_identity_uname_load(&uts, error))
		return NULL;
	/* the kernel fields and the default id are still worth a reply */
	if (os_release == NULL)
		g_warning("no os-release, ignoring: %s", error_local->message);
	return qa_identity_os_info_new(os_release, &uts);
}

gchar *
qa_identity_host_name_load(GError **error)
{
	/* Linux's limit is HOST_NAME_MAX (64); gethostname() does not promise a NUL when it
	 * truncates, so the buffer has room for one more */
	gchar name[HOST_NAME_MAX + 2] = {0};

	if (gethostname(name, sizeof(name) - 1) != 0) {
		gint errsv = errno;
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot get the host name: %s",
			    g_strerror(errsv));
		return NULL;
	}
	return g_strdup(name);
}

void
qa_identity_timezone_load(gint64 when, gint64 *out_offset, gchar **out_zone)
{
	time_t t = (time_t)when;
	struct tm tm = {0};

	/* localtime_r() alone does not look at the time zone again (POSIX lets it skip
	 * tzset()); glibc's tzset() costs one stat() when nothing changed */
	tzset();
	if (localtime_r(&t, &tm) == NULL) {
		/* a time beyond what struct tm holds: the zone is unknown, report UTC */
		*out_offset = 0;
		*out_zone = NULL;
		return;
	}
	*out_offset = tm.tm_gmtoff;
	/* tm_zone points into the C library's own storage: copied at once */
	*out_zone = tm.tm_zone != NULL && tm.tm_zone[0] != '\0' ? g_strdup(tm.tm_zone) : NULL;
}

/* qemu-ga's arithmetic, so that both report the same double */
static gdouble
qa_identity_login_time(const struct utmpx *record)
{
	return (gdouble)record->ut_tv.tv_sec + (gdouble)record->ut_tv.tv_usec / 1000000.0;
}

GPtrArray *
qa_identity_users_parse(const guint8 *data, gsize len)
{
	g_autoptr(GPtrArray) users =
	    g_ptr_array_new_with_free_func((GDestroyNotify)qa_identity_user_free);
	g_autoptr(GHashTable) by_name = g_hash_table_new(g_str_hash, g_str_equal);

	for (gsize off = 0; len - off >= sizeof(struct utmpx); off += sizeof(struct utmpx)) {
		struct utmpx record;
		g_autofree gchar *name = NULL;
		QaIdentityUser *user;
		gdouble login_time;

		/* copied out: @data need not be aligned for the struct */
		memcpy(&record, data + off, sizeof(record));
		if (record.ut_type != USER_PROCESS)
			continue;
		/* ut_user fills its whole field without a NUL when the name is that long */
		name = g_strndup(record.ut_user, sizeof(record.ut_user));
		login_time = qa_identity_login_time(&record);
		user = g_hash_table_lookup(by_name, name);
		if (user != NULL) {
			user->login_time = MIN(user->login_time, login_time);
			continue;
		}
		user = g_new0(QaIdentityUser, 1);
		user->name = g_steal_pointer(&name);
		user->login_time = login_time;
		g_hash_table_insert(by_name, user->name, user);
		g_ptr_array_add(users, user);
	}
	return g_steal_pointer(&users);
}

/* glibc's getutxent() family is not used: it keeps process-wide state (MT-Unsafe
 * race:utent), and before reading it takes a read lock on the file with F_SETLKW under a
 * 10-second alarm() and a SIGALRM handler of its own (sig:ALRM timer): a login program holding
 * the lock would stall the main loop, and the alarm is the whole process's. The file is read
 * in one read() instead; a record being rewritten at that moment can be seen half-written, and
 * is right at the next poll. */
GPtrArray *
qa_identity_users_load_file(const gchar *path, GError **error)
{
	gsize len = 0;
	g_autofree gchar *data = qa_kernel_file_read(path, &len);

	if (data == NULL) {
		gint errsv = errno;
		/* no utmp file: nobody has logged in since boot (or the system keeps none) */
		if (errsv == ENOENT)
			return qa_identity_users_parse(NULL, 0);
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot read the login records '%s': %s",
			    path,
			    g_strerror(errsv));
		return NULL;
	}
	return qa_identity_users_parse((const guint8 *)data, len);
}

GPtrArray *
qa_identity_users_load(GError **error)
{
	return qa_identity_users_load_file(QA_IDENTITY_UTMP_PATH, error);
}

/* getloadavg(), as qemu-ga: glibc takes it from sysinfo(2), the kernel's fixed-point values to
 * 1/65536, where /proc/loadavg rounds them to two decimals (6.6298828125 there is 6.63 here) */
gboolean
qa_identity_loadavg_load(QaIdentityLoad *out_load, GError **error)
{
	gdouble values[3];

	if (getloadavg(values, G_N_ELEMENTS(values)) != G_N_ELEMENTS(values)) {
		gint errsv = errno;
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot read the load averages: %s",
			    g_strerror(errsv));
		return FALSE;
	}
	out_load->load1m = values[0];
	out_load->load5m = values[1];
	out_load->load15m = values[2];
	return TRUE;
}
