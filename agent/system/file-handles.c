#include "file-handles.h"

struct _QaFileHandles {
	GHashTable *by_handle;
};

QaFileHandles *
qa_file_handles_new(void)
{
	QaFileHandles *handles = g_new0(QaFileHandles, 1);

	handles->by_handle = g_hash_table_new(g_int64_hash, g_int64_equal);
	return handles;
}

void
qa_file_handles_free(QaFileHandles *handles)
{
	if (handles == NULL)
		return;
	g_hash_table_unref(handles->by_handle);
	g_free(handles);
}
