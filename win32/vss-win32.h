/* The real VSS (vss-win32.c) as the freezer's QaVssOps. */
#pragma once

#include "freezer-win32.h"

typedef struct _QaVss QaVss;

QaVss *
qa_vss_new(void);
void
qa_vss_free(QaVss *self);
const QaVssOps *
qa_vss_get_ops(void);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QaVss, qa_vss_free)
