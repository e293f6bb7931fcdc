/* Processes started for guest-exec (placeholder until the exec family lands). */
#pragma once

#include <glib.h>

typedef struct _QaProcessTable QaProcessTable;

QaProcessTable *
qa_process_table_new(void);
void
qa_process_table_free(QaProcessTable *table);
