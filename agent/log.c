#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "platform.h"

/* The logger is process-wide because GLib's log writer is: this is its one state object. */
typedef struct {
	GMutex lock;
	gint fd; /* stderr or the log file */
	gboolean verbose;
	guint holds; /* hold count: nested holds are released by as many releases */
	GQueue held; /* of gchar *, lines waiting for release */
	gsize held_bytes;
	guint dropped;
	gboolean is_journal;   /* stderr is journald's stream: "<N>" priorities, no timestamps */
	gchar *pending_reopen; /* a reopen asked for while held: done at the release */
} QaLog;

static QaLog qa_log = {.fd = STDERR_FILENO};

static void
qa_log_write_all(gint fd, const gchar *data, gsize len)
{
	while (len > 0) {
		gssize n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* nowhere left to report a failing log */
		data += n;
		len -= (gsize)n;
	}
}

static const gchar *
qa_log_level_name(GLogLevelFlags level)
{
	if (level & G_LOG_LEVEL_ERROR)
		return "error";
	if (level & G_LOG_LEVEL_CRITICAL)
		return "critical";
	if (level & G_LOG_LEVEL_WARNING)
		return "warning";
	if (level & G_LOG_LEVEL_MESSAGE)
		return "message";
	if (level & G_LOG_LEVEL_INFO)
		return "info";
	return "debug";
}

/* syslog priority of a GLib level, for journald's "<N>" line prefix */
static gint
qa_log_priority(GLogLevelFlags level)
{
	if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
		return 3;
	if (level & G_LOG_LEVEL_WARNING)
		return 4;
	if (level & G_LOG_LEVEL_MESSAGE)
		return 5;
	if (level & G_LOG_LEVEL_INFO)
		return 6;
	return 7;
}

/* Appends one character of a message as the log shows it: printable text as it is, anything
 * that could end the line, look like another record or hide text as an escape. */
static void
qa_log_escape_char(GString *out, gunichar ch, const gchar *bytes, gsize n_bytes)
{
	GUnicodeType type = g_unichar_type(ch);

	switch (ch) {
	case '\\':
		g_string_append(out, "\\\\");
		return;
	case '\n':
		g_string_append(out, "\\n");
		return;
	case '\r':
		g_string_append(out, "\\r");
		return;
	case '\t':
		g_string_append(out, "\\t");
		return;
	default:
		break;
	}
	if (ch < 0x20 || ch == 0x7f)
		g_string_append_printf(out, "\\x%02x", ch);
	else if (!g_unichar_isprint(ch) || type == G_UNICODE_LINE_SEPARATOR ||
		 type == G_UNICODE_PARAGRAPH_SEPARATOR)
		g_string_append_printf(out, ch < 0x10000 ? "\\u%04x" : "\\U%08x", ch);
	else
		g_string_append_len(out, bytes, (gssize)n_bytes);
}

/* The message of a record, on one line whatever it holds. Messages quote what hosts send
 * (command names, paths, error texts that contain them), and a newline, a carriage return or
 * a control character in them would let a host write log lines of its own, journald's "<N>"
 * priority prefix included. Escaping here, where every record passes, covers every caller.
 * A backslash is doubled so that an escape is never ambiguous; bytes that are not UTF-8 are
 * shown as \xNN; a message is cut after QA_LOG_MESSAGE_MAX bytes. */
gchar *
qa_log_escape(const gchar *message)
{
	const gchar *end = message + strlen(message);
	g_autoptr(GString) out = g_string_sized_new(end - message + 16);

	for (const gchar *p = message; p < end;) {
		guchar c = (guchar)*p;
		gunichar ch;

		if (out->len >= QA_LOG_MESSAGE_MAX) {
			g_string_append_printf(
			    out, "... (%" G_GSIZE_FORMAT " more bytes)", (gsize)(end - p));
			break;
		}
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			g_string_append_c(out, (gchar)c);
			p++;
			continue;
		}
		ch = c < 0x80 ? c : g_utf8_get_char_validated(p, end - p);
		if (ch == (gunichar)-1 || ch == (gunichar)-2) {
			g_string_append_printf(out, "\\x%02x", c);
			p++;
			continue;
		}
		qa_log_escape_char(out, ch, p, (gsize)(g_utf8_next_char(p) - p));
		p = g_utf8_next_char(p);
	}
	return g_string_free(g_steal_pointer(&out), FALSE);
}

static gchar *
qa_log_format(GLogLevelFlags level, const GLogField *fields, gsize n_fields)
{
	g_autofree gchar *message = NULL;
	const gchar *domain = NULL;
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	g_autofree gchar *stamp = g_date_time_format(now, "%FT%T");

	for (gsize i = 0; i < n_fields; i++) {
		if (g_strcmp0(fields[i].key, "MESSAGE") == 0 && message == NULL) {
			/* text ends at its NUL (length -1), or has a length of its own */
			g_autofree gchar *text = fields[i].length < 0
						     ? g_strdup(fields[i].value)
						     : g_strndup(fields[i].value, fields[i].length);

			message = qa_log_escape(text);
		} else if (g_strcmp0(fields[i].key, "GLIB_DOMAIN") == 0)
			domain = fields[i].value;
	}
	if (qa_log.is_journal && qa_log.fd == STDERR_FILENO)
		return g_strdup_printf("<%d>%s: %s\n",
				       qa_log_priority(level),
				       domain != NULL ? domain : "quiesce-agent",
				       message != NULL ? message : "");
	return g_strdup_printf("%s.%03dZ %s %s: %s\n",
			       stamp,
			       g_date_time_get_microsecond(now) / 1000,
			       domain != NULL ? domain : "quiesce-agent",
			       qa_log_level_name(level),
			       message != NULL ? message : "");
}

static void
qa_log_hold_line(gchar *line)
{
	g_queue_push_tail(&qa_log.held, line);
	qa_log.held_bytes += strlen(line);
	while (qa_log.held_bytes > QA_LOG_HOLD_LIMIT && qa_log.held.length > 1) {
		g_autofree gchar *old = g_queue_pop_head(&qa_log.held);
		qa_log.held_bytes -= strlen(old);
		qa_log.dropped++;
	}
}

static GLogWriterOutput
qa_log_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
	g_autofree gchar *line = NULL;

	/* info and debug lines need --verbose, or G_MESSAGES_DEBUG naming their domain */
	if ((level & (G_LOG_LEVEL_INFO | G_LOG_LEVEL_DEBUG)) != 0 && !qa_log.verbose) {
		const gchar *domain = NULL;

		for (gsize i = 0; i < n_fields; i++) {
			if (g_strcmp0(fields[i].key, "GLIB_DOMAIN") == 0)
				domain = fields[i].value;
		}
		if (g_log_writer_default_would_drop(level, domain))
			return G_LOG_WRITER_HANDLED;
	}
	line = qa_log_format(level, fields, n_fields);
	g_mutex_lock(&qa_log.lock);
	if (qa_log.holds > 0)
		qa_log_hold_line(g_steal_pointer(&line));
	else
		qa_log_write_all(qa_log.fd, line, strlen(line));
	g_mutex_unlock(&qa_log.lock);
	return G_LOG_WRITER_HANDLED;
}

/* systemd sets JOURNAL_STREAM to "device:inode" of the stream it connected to stderr */
static gboolean
qa_log_stderr_is_journal(void)
{
	const gchar *stream = g_getenv("JOURNAL_STREAM");
	guint64 dev = 0;
	guint64 ino = 0;
	struct stat st;

	if (stream == NULL ||
	    sscanf(stream, "%" G_GUINT64_FORMAT ":%" G_GUINT64_FORMAT, &dev, &ino) != 2)
		return FALSE;
	if (fstat(STDERR_FILENO, &st) < 0)
		return FALSE;
	return (guint64)st.st_dev == dev && (guint64)st.st_ino == ino;
}

void
qa_log_init(gboolean verbose)
{
	static gsize installed = 0;

	qa_log.verbose = verbose;
	qa_log.is_journal = qa_log_stderr_is_journal();
	if (g_once_init_enter(&installed)) {
		g_log_set_writer_func(qa_log_writer, NULL, NULL);
		g_once_init_leave(&installed, 1);
	}
}

/* the log goes to @fd from now on; the caller holds the lock */
static void
qa_log_use_fd_locked(gint fd)
{
	if (qa_log.fd != STDERR_FILENO)
		close(qa_log.fd);
	qa_log.fd = fd;
}

gboolean
qa_log_set_file(const gchar *path, GError **error)
{
	gint fd = qa_platform_open_log(path, error);

	if (fd < 0)
		return FALSE;
	g_mutex_lock(&qa_log.lock);
	qa_log_use_fd_locked(fd);
	g_mutex_unlock(&qa_log.lock);
	return TRUE;
}

gboolean
qa_log_reopen(const gchar *path, GError **error)
{
	/* opening (creating) a file on a frozen filesystem would block: wait for the thaw */
	g_mutex_lock(&qa_log.lock);
	if (qa_log.holds > 0) {
		g_free(qa_log.pending_reopen);
		qa_log.pending_reopen = g_strdup(path);
		g_mutex_unlock(&qa_log.lock);
		return TRUE;
	}
	g_mutex_unlock(&qa_log.lock);
	return qa_log_set_file(path, error);
}

void
qa_log_hold(void)
{
	g_mutex_lock(&qa_log.lock);
	qa_log.holds++;
	g_mutex_unlock(&qa_log.lock);
}

void
qa_log_release(void)
{
	g_mutex_lock(&qa_log.lock);
	if (qa_log.holds > 0)
		qa_log.holds--;
	if (qa_log.holds == 0) {
		g_autofree gchar *reopen = g_steal_pointer(&qa_log.pending_reopen);
		gchar *line;

		/* the filesystems are thawed: a reopen asked for meanwhile can happen now, and the
		 * held lines go to the new file */
		if (reopen != NULL) {
			g_autoptr(GError) error_local = NULL;
			gint fd = qa_platform_open_log(reopen, &error_local);

			if (fd >= 0) {
				qa_log_use_fd_locked(fd);
			} else {
				/* said where the log still goes, as a reopen outside a freeze says
				 * it */
				g_autofree gchar *note =
				    g_strdup_printf("quiesce-agent: cannot reopen the log file, "
						    "still writing to the old "
						    "one: %s\n",
						    error_local->message);
				qa_log_write_all(qa_log.fd, note, strlen(note));
			}
		}
		if (qa_log.dropped > 0) {
			g_autofree gchar *note =
			    g_strdup_printf("quiesce-agent: %u log lines were dropped while "
					    "filesystems were frozen\n",
					    qa_log.dropped);
			qa_log_write_all(qa_log.fd, note, strlen(note));
			qa_log.dropped = 0;
		}
		while ((line = g_queue_pop_head(&qa_log.held)) != NULL) {
			qa_log_write_all(qa_log.fd, line, strlen(line));
			g_free(line);
		}
		qa_log.held_bytes = 0;
	}
	g_mutex_unlock(&qa_log.lock);
}

gboolean
qa_log_is_held(void)
{
	gboolean held;

	g_mutex_lock(&qa_log.lock);
	held = qa_log.holds > 0;
	g_mutex_unlock(&qa_log.lock);
	return held;
}
