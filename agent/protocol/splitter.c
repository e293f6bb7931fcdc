#include "splitter.h"

#include <string.h>

typedef enum {
	QA_SPLIT_IDLE,	    /* between values */
	QA_SPLIT_CONTAINER, /* inside an object or array */
	QA_SPLIT_STRING,    /* inside a top-level string */
	QA_SPLIT_BARE,	    /* inside a top-level number, literal or stray character */
} QaSplitState;

struct _QaSplitter {
	GByteArray *buf; /* input not yet handed out; the current value starts at @start */
	gsize start;
	gsize scan; /* everything before this offset has been classified */
	QaSplitState state;
	guint64 depth;	     /* never overflows: it counts bytes at most */
	gchar quote;	     /* the quote that opened the current string, 0 outside strings */
	gboolean escaped;    /* the previous byte in a string was a backslash */
	gboolean discarding; /* over a limit: skipping to the end of the value */
	gsize max_size;
	guint max_depth;
	QaSplitterEvent pending_error;
};

QaSplitter *
qa_splitter_new(gsize max_size, guint max_depth)
{
	QaSplitter *splitter = g_new0(QaSplitter, 1);
	splitter->buf = g_byte_array_new();
	splitter->max_size = max_size;
	splitter->max_depth = max_depth;
	return splitter;
}

void
qa_splitter_free(QaSplitter *splitter)
{
	if (splitter == NULL)
		return;
	g_byte_array_unref(splitter->buf);
	g_free(splitter);
}

static void
qa_splitter_reset_value(QaSplitter *splitter)
{
	splitter->state = QA_SPLIT_IDLE;
	splitter->depth = 0;
	splitter->quote = 0;
	splitter->escaped = FALSE;
	splitter->discarding = FALSE;
}

/* Forget everything received so far, e.g. when the host disconnects: the next host must not
 * see the rest of the previous host's request. */
void
qa_splitter_reset(QaSplitter *splitter)
{
	g_byte_array_set_size(splitter->buf, 0);
	splitter->start = splitter->scan = 0;
	splitter->pending_error = QA_SPLITTER_NONE;
	qa_splitter_reset_value(splitter);
}

/* bytes buffered: the part of a value not complete yet, plus input not scanned yet */
gsize
qa_splitter_get_pending(const QaSplitter *splitter)
{
	return splitter->buf->len - splitter->start;
}

void
qa_splitter_feed(QaSplitter *splitter, const guint8 *data, gsize len)
{
	/* compact lazily, so that many small values in one read cost O(n), not O(n^2) */
	if (splitter->start > 0 && splitter->start >= splitter->buf->len / 2) {
		g_byte_array_remove_range(splitter->buf, 0, splitter->start);
		splitter->scan -= splitter->start;
		splitter->start = 0;
	}
	g_byte_array_append(splitter->buf, data, len);
}

static gboolean
qa_splitter_is_space(guint8 c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static gboolean
qa_splitter_ends_bare(guint8 c)
{
	return qa_splitter_is_space(c) || strchr("{}[]\"',:", c) != NULL || c == 0xFF;
}

/* Returns TRUE when the string that @c is part of has ended with @c. */
static gboolean
qa_splitter_string_byte(QaSplitter *splitter, guint8 c)
{
	if (splitter->escaped) {
		splitter->escaped = FALSE;
		return FALSE;
	}
	if (c == '\\') {
		splitter->escaped = TRUE;
		return FALSE;
	}
	if (c == (guint8)splitter->quote) {
		splitter->quote = 0;
		return TRUE;
	}
	return FALSE;
}

/* Classifies one byte of a value; returns TRUE when the value is complete after it. */
static gboolean
qa_splitter_value_byte(QaSplitter *splitter, guint8 c)
{
	if (splitter->state == QA_SPLIT_STRING)
		return qa_splitter_string_byte(splitter, c);
	if (splitter->quote != 0) {
		qa_splitter_string_byte(splitter, c);
		return FALSE;
	}
	switch (c) {
	case '"':
	case '\'':
		splitter->quote = (gchar)c;
		return FALSE;
	case '{':
	case '[':
		splitter->depth++;
		if (splitter->depth > splitter->max_depth && !splitter->discarding) {
			splitter->discarding = TRUE;
			splitter->pending_error = QA_SPLITTER_TOO_DEEP;
		}
		return FALSE;
	case '}':
	case ']':
		return --splitter->depth == 0;
	default:
		return FALSE;
	}
}

/* Starts a value at the current byte; returns TRUE when that byte alone is the whole value. */
static gboolean
qa_splitter_begin(QaSplitter *splitter, guint8 c)
{
	if (c == '{' || c == '[') {
		splitter->state = QA_SPLIT_CONTAINER;
		splitter->depth = 1;
		return FALSE;
	}
	if (c == '"' || c == '\'') {
		splitter->state = QA_SPLIT_STRING;
		splitter->quote = (gchar)c;
		return FALSE;
	}
	if (strchr("}],:", c) != NULL)
		return TRUE; /* a stray structural character: hand it on to get an error reply */
	splitter->state = QA_SPLIT_BARE;
	return FALSE;
}

QaSplitterEvent
qa_splitter_next(QaSplitter *splitter, const gchar **out_text, gsize *out_len)
{
	guint8 *data = splitter->buf->data;
	gsize len = splitter->buf->len;

	while (splitter->scan < len) {
		guint8 c = data[splitter->scan];
		gboolean complete;

		if (c == 0xFF) {
			qa_splitter_reset_value(splitter);
			splitter->pending_error = QA_SPLITTER_NONE;
			splitter->start = ++splitter->scan;
			continue;
		}
		if (splitter->state == QA_SPLIT_IDLE) {
			if (qa_splitter_is_space(c)) {
				splitter->start = ++splitter->scan;
				continue;
			}
			complete = qa_splitter_begin(splitter, c);
		} else if (splitter->state == QA_SPLIT_BARE) {
			if (qa_splitter_ends_bare(c)) {
				gboolean was_discarding = splitter->discarding;

				/* the terminator belongs to what follows: do not consume it */
				qa_splitter_reset_value(splitter);
				if (was_discarding) {
					/* its error was reported when it went over the limit */
					splitter->start = splitter->scan;
					continue;
				}
				*out_text = (const gchar *)data + splitter->start;
				*out_len = splitter->scan - splitter->start;
				splitter->start = splitter->scan;
				return QA_SPLITTER_TEXT;
			}
			complete = FALSE;
		} else {
			complete = qa_splitter_value_byte(splitter, c);
		}
		splitter->scan++;

		if (splitter->discarding) {
			/* a value over a limit is never stored: drop what was scanned */
			splitter->start = splitter->scan;
			if (complete)
				qa_splitter_reset_value(splitter);
		} else if (splitter->scan - splitter->start > splitter->max_size) {
			/* also when this byte completes it: the limit is on the whole value */
			splitter->pending_error = QA_SPLITTER_TOO_LARGE;
			splitter->start = splitter->scan;
			if (complete)
				qa_splitter_reset_value(splitter);
			else
				splitter->discarding = TRUE;
		} else if (complete) {
			qa_splitter_reset_value(splitter);
			*out_text = (const gchar *)data + splitter->start;
			*out_len = splitter->scan - splitter->start;
			splitter->start = splitter->scan;
			return QA_SPLITTER_TEXT;
		}
		if (splitter->pending_error != QA_SPLITTER_NONE) {
			QaSplitterEvent event = splitter->pending_error;
			splitter->pending_error = QA_SPLITTER_NONE;
			*out_text = NULL;
			*out_len = 0;
			return event;
		}
	}
	return QA_SPLITTER_NONE;
}
