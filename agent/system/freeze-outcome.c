#include "freeze-outcome.h"

static GPtrArray *
qa_freeze_outcome_copy_disks(GPtrArray *disks)
{
	GPtrArray *copy;

	if (disks == NULL)
		return NULL;
	copy = g_ptr_array_new_with_free_func((GDestroyNotify)qa_disk_address_free);
	for (guint i = 0; i < disks->len; i++)
		g_ptr_array_add(copy, qa_disk_address_copy(g_ptr_array_index(disks, i)));
	return copy;
}

QaFreezeOutcome *
qa_freeze_outcome_new(guint serial, const gchar *command)
{
	QaFreezeOutcome *outcome = g_new0(QaFreezeOutcome, 1);

	outcome->serial = serial;
	outcome->command = g_strdup(command);
	outcome->dirty_kib = -1;
	outcome->filesystems =
	    g_ptr_array_new_with_free_func((GDestroyNotify)qa_freeze_outcome_fs_free);
	outcome->hooks = g_ptr_array_new_with_free_func((GDestroyNotify)qa_hook_run_free);
	return outcome;
}

QaFreezeOutcome *
qa_freeze_outcome_copy(const QaFreezeOutcome *outcome)
{
	QaFreezeOutcome *copy = qa_freeze_outcome_new(outcome->serial, outcome->command);

	copy->mountpoints = g_strdupv(outcome->mountpoints);
	if (outcome->disks != NULL) {
		copy->disks =
		    g_ptr_array_new_with_free_func((GDestroyNotify)qa_freeze_outcome_disk_free);
		for (guint i = 0; i < outcome->disks->len; i++)
			g_ptr_array_add(
			    copy->disks,
			    qa_freeze_outcome_disk_copy(g_ptr_array_index(outcome->disks, i)));
	}
	copy->started_at = outcome->started_at;
	copy->ended_at = outcome->ended_at;
	copy->is_success = outcome->is_success;
	copy->count = outcome->count;
	copy->error = g_strdup(outcome->error);
	copy->prepare_us = outcome->prepare_us;
	copy->flush_us = outcome->flush_us;
	copy->freeze_us = outcome->freeze_us;
	copy->dirty_kib = outcome->dirty_kib;
	for (guint i = 0; i < outcome->filesystems->len; i++)
		g_ptr_array_add(
		    copy->filesystems,
		    qa_freeze_outcome_fs_copy(g_ptr_array_index(outcome->filesystems, i)));
	for (guint i = 0; i < outcome->hooks->len; i++)
		g_ptr_array_add(copy->hooks,
				qa_hook_run_copy(g_ptr_array_index(outcome->hooks, i)));
	return copy;
}

void
qa_freeze_outcome_free(QaFreezeOutcome *outcome)
{
	if (outcome == NULL)
		return;
	g_free(outcome->command);
	g_strfreev(outcome->mountpoints);
	if (outcome->disks != NULL)
		g_ptr_array_unref(outcome->disks);
	g_free(outcome->error);
	g_ptr_array_unref(outcome->filesystems);
	g_ptr_array_unref(outcome->hooks);
	g_free(outcome);
}

QaFreezeOutcomeFs *
qa_freeze_outcome_find_fs(QaFreezeOutcome *outcome, guint major, guint minor)
{
	for (guint i = 0; i < outcome->filesystems->len; i++) {
		QaFreezeOutcomeFs *fs = g_ptr_array_index(outcome->filesystems, i);
		if (fs->major == major && fs->minor == minor)
			return fs;
	}
	return NULL;
}

QaFreezeOutcomeFs *
qa_freeze_outcome_fs_new(guint major,
			 guint minor,
			 const gchar *fstype,
			 const gchar *const *mountpoints)
{
	QaFreezeOutcomeFs *fs = g_new0(QaFreezeOutcomeFs, 1);
	const gchar *none[] = {NULL};

	fs->major = major;
	fs->minor = minor;
	fs->fstype = g_strdup(fstype);
	fs->mountpoints = g_strdupv((gchar **)(mountpoints != NULL ? mountpoints : none));
	fs->flush_us = -1;
	fs->freeze_us = -1;
	return fs;
}

QaFreezeOutcomeFs *
qa_freeze_outcome_fs_copy(const QaFreezeOutcomeFs *fs)
{
	QaFreezeOutcomeFs *copy = qa_freeze_outcome_fs_new(
	    fs->major, fs->minor, fs->fstype, (const gchar *const *)fs->mountpoints);

	copy->result = fs->result;
	copy->detail = g_strdup(fs->detail);
	copy->other_disks = qa_freeze_outcome_copy_disks(fs->other_disks);
	copy->flush_us = fs->flush_us;
	copy->freeze_us = fs->freeze_us;
	return copy;
}

void
qa_freeze_outcome_fs_free(QaFreezeOutcomeFs *fs)
{
	if (fs == NULL)
		return;
	g_free(fs->fstype);
	g_strfreev(fs->mountpoints);
	g_free(fs->detail);
	if (fs->other_disks != NULL)
		g_ptr_array_unref(fs->other_disks);
	g_free(fs);
}

QaFreezeOutcomeDisk *
qa_freeze_outcome_disk_copy(const QaFreezeOutcomeDisk *disk)
{
	QaFreezeOutcomeDisk *copy = g_new0(QaFreezeOutcomeDisk, 1);

	copy->selector = g_strdup(disk->selector);
	copy->disks = qa_freeze_outcome_copy_disks(disk->disks);
	copy->mountpoints = g_strdupv(disk->mountpoints);
	return copy;
}

void
qa_freeze_outcome_disk_free(QaFreezeOutcomeDisk *disk)
{
	if (disk == NULL)
		return;
	g_free(disk->selector);
	if (disk->disks != NULL)
		g_ptr_array_unref(disk->disks);
	g_strfreev(disk->mountpoints);
	g_free(disk);
}

QaFreezeOutcomeThaw *
qa_freeze_outcome_thaw_new(QaFreezeOutcomeBy by)
{
	QaFreezeOutcomeThaw *thaw = g_new0(QaFreezeOutcomeThaw, 1);

	thaw->by = by;
	thaw->mountpoints = g_new0(gchar *, 1);
	thaw->errors = g_new0(gchar *, 1);
	return thaw;
}

QaFreezeOutcomeThaw *
qa_freeze_outcome_thaw_copy(const QaFreezeOutcomeThaw *thaw)
{
	QaFreezeOutcomeThaw *copy = g_new0(QaFreezeOutcomeThaw, 1);

	*copy = *thaw;
	copy->mountpoints = g_strdupv(thaw->mountpoints);
	copy->errors = g_strdupv(thaw->errors);
	copy->hook = thaw->hook != NULL ? qa_hook_run_copy(thaw->hook) : NULL;
	return copy;
}

void
qa_freeze_outcome_thaw_free(QaFreezeOutcomeThaw *thaw)
{
	if (thaw == NULL)
		return;
	g_strfreev(thaw->mountpoints);
	g_strfreev(thaw->errors);
	qa_hook_run_free(thaw->hook);
	g_free(thaw);
}

static const gchar *const qa_freeze_outcome_results[] = {
    [QA_FREEZE_OUTCOME_PLANNED] = "planned",
    [QA_FREEZE_OUTCOME_FROZEN] = "frozen",
    [QA_FREEZE_OUTCOME_SKIPPED] = "skipped",
    [QA_FREEZE_OUTCOME_EXCLUDED] = "excluded",
    [QA_FREEZE_OUTCOME_FAILED] = "failed",
    [QA_FREEZE_OUTCOME_ROLLED_BACK] = "rolled-back",
};

static const gchar *const qa_freeze_outcome_bys[] = {
    [QA_FREEZE_OUTCOME_BY_HOST] = "host",
    [QA_FREEZE_OUTCOME_BY_AUTO_THAW] = "auto-thaw",
    [QA_FREEZE_OUTCOME_BY_SHUTDOWN] = "shutdown",
    [QA_FREEZE_OUTCOME_BY_SUCCESSOR] = "successor",
    [QA_FREEZE_OUTCOME_BY_OPERATOR] = "operator",
};

const gchar *
qa_freeze_outcome_result_to_string(QaFreezeOutcomeResult result)
{
	if ((guint)result >= G_N_ELEMENTS(qa_freeze_outcome_results))
		return "unknown";
	return qa_freeze_outcome_results[result];
}

gboolean
qa_freeze_outcome_result_parse(const gchar *text, QaFreezeOutcomeResult *out_result)
{
	for (guint i = 0; i < G_N_ELEMENTS(qa_freeze_outcome_results); i++) {
		if (g_strcmp0(text, qa_freeze_outcome_results[i]) == 0) {
			*out_result = (QaFreezeOutcomeResult)i;
			return TRUE;
		}
	}
	return FALSE;
}

const gchar *
qa_freeze_outcome_by_to_string(QaFreezeOutcomeBy by)
{
	if ((guint)by >= G_N_ELEMENTS(qa_freeze_outcome_bys))
		return "unknown";
	return qa_freeze_outcome_bys[by];
}

gboolean
qa_freeze_outcome_by_parse(const gchar *text, QaFreezeOutcomeBy *out_by)
{
	for (guint i = 0; i < G_N_ELEMENTS(qa_freeze_outcome_bys); i++) {
		if (g_strcmp0(text, qa_freeze_outcome_bys[i]) == 0) {
			*out_by = (QaFreezeOutcomeBy)i;
			return TRUE;
		}
	}
	return FALSE;
}
