/* Files opened for guest-file-open (placeholder until the file family lands). */
#pragma once

#include <glib.h>

typedef struct _QaFileHandles QaFileHandles;

QaFileHandles *
qa_file_handles_new(void);
void
qa_file_handles_free(QaFileHandles *handles);
