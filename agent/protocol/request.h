/* One JSON text -> one request {execute, arguments, id}, or the reason it is not one. */
#pragma once

#include <glib.h>

#include "json.h"

typedef struct {
	gchar *execute;		 /* NULL when the text is not a valid request */
	const QaJson *arguments; /* an object within @tree; NULL when absent */
	/* the id as the reply echoes it, JSON text: its value as sent, numbers spelt as they
	 * were (1e999, -0), strings in the replies' ASCII form; NULL when absent */
	gchar *id;
	GError *error; /* why the text is not a valid request, else NULL */
	QaJson *tree;  /* the request as parsed; NULL when it is not JSON */
} QaRequest;

QaRequest *
qa_request_new_from_text(const gchar *text, gsize len, const QaJsonLimits *limits);
void
qa_request_free(QaRequest *request);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaRequest, qa_request_free)
