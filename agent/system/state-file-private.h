/* Shared between state-file.c and state-file-outcome.c only. */
#pragma once

#include <glib.h>

#include "state-file.h"

/* appends @value percent-encoded: bytes up to the space, from 0x7f, '%' and any of @also (a
 * separator of the value's own) */
void
qa_state_append_encoded_full(GString *out, const gchar *value, const gchar *also);
/* NULL when @text is not a valid encoding (a stray '%', or one that encodes a NUL) */
gchar *
qa_state_decode(const gchar *text);
gboolean
qa_state_parse_devnum(const gchar *text, guint *out_major, guint *out_minor);

/* the lines from "serial" on */
void
qa_state_append_outcomes(GString *out, const QaState *state);
/* one line of them (split at spaces); lines of no outcome are ignored */
void
qa_state_parse_outcome(QaState *state, gchar **words);
