/* Byte stream -> complete JSON texts. Pure: no I/O, no JSON parsing beyond finding where one
 * value ends. The host's stream has no framing: values may be split across reads and several
 * may arrive in one read. A 0xFF byte (never valid in JSON) drops any partial value: clients use
 * it to resynchronise. */
#pragma once

#include <glib.h>

typedef enum {
	QA_SPLITTER_NONE,      /* need more input */
	QA_SPLITTER_TEXT,      /* one complete value (text, len) */
	QA_SPLITTER_TOO_LARGE, /* a value exceeded the size limit; it is being discarded */
	QA_SPLITTER_TOO_DEEP,  /* a value exceeded the depth limit; it is being discarded */
} QaSplitterEvent;

typedef struct _QaSplitter QaSplitter;

QaSplitter *
qa_splitter_new(gsize max_size, guint max_depth);
void
qa_splitter_free(QaSplitter *splitter);
void
qa_splitter_feed(QaSplitter *splitter, const guint8 *data, gsize len);
QaSplitterEvent
qa_splitter_next(QaSplitter *splitter, const gchar **out_text, gsize *out_len);
void
qa_splitter_reset(QaSplitter *splitter);
gsize
qa_splitter_get_pending(const QaSplitter *splitter);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaSplitter, qa_splitter_free)
