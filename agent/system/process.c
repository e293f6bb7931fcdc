#include "process.h"

struct _QaProcessTable {
	GMutex lock;
};

QaProcessTable *
qa_process_table_new(void)
{
	QaProcessTable *table = g_new0(QaProcessTable, 1);

	g_mutex_init(&table->lock);
	return table;
}

void
qa_process_table_free(QaProcessTable *table)
{
	if (table == NULL)
		return;
	g_mutex_clear(&table->lock);
	g_free(table);
}
