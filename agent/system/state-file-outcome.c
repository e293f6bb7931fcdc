/* The state file's record of the last freeze call and the last thaw (see the format in
 * state-file.c): written whole, read leniently, since it decides nothing about what is frozen. */
#include <string.h>

#include "state-file-private.h"

static void
qa_state_append_encoded(GString *out, const gchar *value)
{
	qa_state_append_encoded_full(out, value, "");
}

/* written ---------------------------------------------------------------------------- */

static void
qa_state_append_value(GString *out, const gchar *key, const gchar *value)
{
	if (value == NULL)
		return;
	g_string_append_printf(out, " %s=", key);
	qa_state_append_encoded(out, value);
}

static void
qa_state_append_values(GString *out, const gchar *key, const gchar *const *values)
{
	for (guint i = 0; values != NULL && values[i] != NULL; i++)
		qa_state_append_value(out, key, values[i]);
}

static void
qa_state_append_int(GString *out, const gchar *key, gint64 value)
{
	g_string_append_printf(out, " %s=%" G_GINT64_FORMAT, key, value);
}

static gchar *
qa_state_disk_to_text(const QaDiskAddress *disk)
{
	g_autoptr(GString) text = g_string_new(qa_blockdev_bus_to_string(disk->bus_type));

	g_string_append_printf(text,
			       ",%d,%d,%d,%d,%d,%d,%d,%u,%u,",
			       disk->pci.domain,
			       disk->pci.bus,
			       disk->pci.slot,
			       disk->pci.function,
			       disk->bus,
			       disk->target,
			       disk->unit,
			       disk->major,
			       disk->minor);
	qa_state_append_encoded_full(text, disk->serial != NULL ? disk->serial : "", ",");
	g_string_append_c(text, ',');
	qa_state_append_encoded_full(text, disk->dev != NULL ? disk->dev : "", ",");
	return g_strdup(text->str);
}

static void
qa_state_append_disks(GString *out, const gchar *key, GPtrArray *disks)
{
	for (guint i = 0; disks != NULL && i < disks->len; i++) {
		g_autofree gchar *text = qa_state_disk_to_text(g_ptr_array_index(disks, i));
		qa_state_append_value(out, key, text);
	}
}

static void
qa_state_append_hook(GString *out, const gchar *key, const QaHookRun *run)
{
	g_string_append(out, key);
	qa_state_append_value(out, "action", run->action);
	qa_state_append_int(out, "start", run->started_at);
	qa_state_append_int(out, "us", run->duration_us);
	qa_state_append_int(out, "status", run->exit_status);
	qa_state_append_int(out, "signal", run->signal);
	qa_state_append_int(out, "timeout", run->is_timed_out ? 1 : 0);
	qa_state_append_value(out, "line", run->last_line);
	qa_state_append_value(out, "error", run->error);
	g_string_append_c(out, '\n');
}

static void
qa_state_append_freeze_fs(GString *out, const QaFreezeOutcomeFs *fs)
{
	g_string_append_printf(out, "freeze-fs %u:%u", fs->major, fs->minor);
	qa_state_append_value(out, "type", fs->fstype);
	qa_state_append_value(out, "result", qa_freeze_outcome_result_to_string(fs->result));
	qa_state_append_value(out, "detail", fs->detail);
	qa_state_append_int(out, "flush-us", fs->flush_us);
	qa_state_append_int(out, "freeze-us", fs->freeze_us);
	qa_state_append_disks(out, "other", fs->other_disks);
	qa_state_append_values(out, "mp", (const gchar *const *)fs->mountpoints);
	g_string_append_c(out, '\n');
}

static void
qa_state_append_freeze(GString *out, const QaFreezeOutcome *freeze)
{
	g_string_append(out, "freeze");
	qa_state_append_int(out, "serial", freeze->serial);
	qa_state_append_value(out, "command", freeze->command);
	qa_state_append_int(out, "start", freeze->started_at);
	qa_state_append_int(out, "end", freeze->ended_at);
	qa_state_append_int(out, "ok", freeze->is_success ? 1 : 0);
	qa_state_append_int(out, "count", freeze->count);
	qa_state_append_int(out, "prepare-us", freeze->prepare_us);
	qa_state_append_int(out, "flush-us", freeze->flush_us);
	qa_state_append_int(out, "freeze-us", freeze->freeze_us);
	qa_state_append_int(out, "dirty-kib", freeze->dirty_kib);
	qa_state_append_value(out, "error", freeze->error);
	if (freeze->mountpoints != NULL)
		qa_state_append_int(out, "named-mps", 1);
	if (freeze->disks != NULL)
		qa_state_append_int(out, "named-disks", 1);
	qa_state_append_values(out, "mp", (const gchar *const *)freeze->mountpoints);
	g_string_append_c(out, '\n');
	for (guint i = 0; freeze->disks != NULL && i < freeze->disks->len; i++) {
		const QaFreezeOutcomeDisk *disk = g_ptr_array_index(freeze->disks, i);
		g_string_append(out, "freeze-disk");
		qa_state_append_value(out, "sel", disk->selector);
		qa_state_append_disks(out, "disk", disk->disks);
		qa_state_append_values(out, "mp", (const gchar *const *)disk->mountpoints);
		g_string_append_c(out, '\n');
	}
	for (guint i = 0; i < freeze->filesystems->len; i++)
		qa_state_append_freeze_fs(out, g_ptr_array_index(freeze->filesystems, i));
	for (guint i = 0; i < freeze->hooks->len; i++)
		qa_state_append_hook(out, "freeze-hook", g_ptr_array_index(freeze->hooks, i));
}

static void
qa_state_append_thaw(GString *out, const QaFreezeOutcomeThaw *thaw)
{
	g_string_append(out, "thaw");
	qa_state_append_value(out, "by", qa_freeze_outcome_by_to_string(thaw->by));
	qa_state_append_int(out, "at", thaw->at);
	qa_state_append_int(out, "us", thaw->duration_us);
	qa_state_append_int(out, "count", thaw->count);
	qa_state_append_int(out, "left", thaw->n_left);
	qa_state_append_values(out, "mp", (const gchar *const *)thaw->mountpoints);
	qa_state_append_values(out, "error", (const gchar *const *)thaw->errors);
	g_string_append_c(out, '\n');
	if (thaw->hook != NULL)
		qa_state_append_hook(out, "thaw-hook", thaw->hook);
}

void
qa_state_append_outcomes(GString *out, const QaState *state)
{
	if (state->pid > 0)
		g_string_append_printf(out, "pid %d\n", state->pid);
	if (state->serial != 0)
		g_string_append_printf(out, "serial %u\n", state->serial);
	if (state->last_freeze != NULL)
		qa_state_append_freeze(out, state->last_freeze);
	if (state->last_thaw != NULL)
		qa_state_append_thaw(out, state->last_thaw);
}

/* outcomes, read: leniently, what cannot be read is left out --------------------------------- */

typedef void (*QaStateTokenFunc)(gpointer target, const gchar *key, const gchar *value);

/* calls @func with each "key=value" of @words from @first on, the value decoded */
static void
qa_state_parse_tokens(gchar **words, guint first, QaStateTokenFunc func, gpointer target)
{
	for (guint i = first; words[i] != NULL; i++) {
		const gchar *eq = strchr(words[i], '=');
		g_autofree gchar *key = NULL;
		g_autofree gchar *value = NULL;

		if (eq == NULL)
			continue;
		value = qa_state_decode(eq + 1);
		if (value == NULL)
			continue;
		key = g_strndup(words[i], eq - words[i]);
		func(target, key, value);
	}
}

static gint64
qa_state_int(const gchar *value)
{
	gint64 number = 0;

	if (!g_ascii_string_to_signed(value, 10, G_MININT64, G_MAXINT64, &number, NULL))
		return 0;
	return number;
}

static void
qa_state_strv_add(GStrv *strv, const gchar *value)
{
	guint n = *strv != NULL ? g_strv_length(*strv) : 0;

	*strv = g_renew(gchar *, *strv, n + 2);
	(*strv)[n] = g_strdup(value);
	(*strv)[n + 1] = NULL;
}

/* NULL when @text is not a disk as qa_state_disk_to_text() writes it */
static QaDiskAddress *
qa_state_disk_parse(const gchar *text)
{
	g_auto(GStrv) fields = g_strsplit(text, ",", -1);
	g_autoptr(QaDiskAddress) disk = qa_disk_address_new();
	gint64 numbers[9];

	if (g_strv_length(fields) != 12)
		return NULL;
	for (guint bus = 0; bus <= QA_BLOCKDEV_BUS_MMC; bus++) {
		if (g_strcmp0(fields[0], qa_blockdev_bus_to_string(bus)) == 0)
			disk->bus_type = bus;
	}
	for (guint i = 0; i < G_N_ELEMENTS(numbers); i++) {
		if (!g_ascii_string_to_signed(
			fields[i + 1], 10, G_MININT32, G_MAXUINT32, &numbers[i], NULL))
			return NULL;
	}
	disk->pci =
	    (QaPciAddress){(gint)numbers[0], (gint)numbers[1], (gint)numbers[2], (gint)numbers[3]};
	disk->bus = (gint)numbers[4];
	disk->target = (gint)numbers[5];
	disk->unit = (gint)numbers[6];
	disk->major = (guint)numbers[7];
	disk->minor = (guint)numbers[8];
	disk->serial = fields[10][0] != '\0' ? qa_state_decode(fields[10]) : NULL;
	disk->dev = fields[11][0] != '\0' ? qa_state_decode(fields[11]) : NULL;
	return g_steal_pointer(&disk);
}

static void
qa_state_disks_add(GPtrArray **disks, const gchar *value)
{
	QaDiskAddress *disk = qa_state_disk_parse(value);

	if (disk == NULL)
		return;
	if (*disks == NULL)
		*disks = g_ptr_array_new_with_free_func((GDestroyNotify)qa_disk_address_free);
	g_ptr_array_add(*disks, disk);
}

static void
qa_state_hook_token(gpointer target, const gchar *key, const gchar *value)
{
	QaHookRun *run = target;

	if (g_str_equal(key, "action")) {
		g_free(run->action);
		run->action = g_strdup(value);
	} else if (g_str_equal(key, "start")) {
		run->started_at = qa_state_int(value);
	} else if (g_str_equal(key, "us")) {
		run->duration_us = qa_state_int(value);
	} else if (g_str_equal(key, "status")) {
		run->exit_status = (gint)qa_state_int(value);
	} else if (g_str_equal(key, "signal")) {
		run->signal = (gint)qa_state_int(value);
	} else if (g_str_equal(key, "timeout")) {
		run->is_timed_out = qa_state_int(value) != 0;
	} else if (g_str_equal(key, "line")) {
		g_free(run->last_line);
		run->last_line = g_strdup(value);
	} else if (g_str_equal(key, "error")) {
		g_free(run->error);
		run->error = g_strdup(value);
	}
}

static QaHookRun *
qa_state_parse_hook(gchar **words)
{
	QaHookRun *run = qa_hook_run_new(NULL);

	qa_state_parse_tokens(words, 1, qa_state_hook_token, run);
	if (run->action == NULL)
		run->action = g_strdup("?");
	return run;
}

static void
qa_state_freeze_token(gpointer target, const gchar *key, const gchar *value)
{
	QaFreezeOutcome *freeze = target;
	static const struct {
		const gchar *key;
		glong offset;
	} ints[] = {
	    {"start", G_STRUCT_OFFSET(QaFreezeOutcome, started_at)},
	    {"end", G_STRUCT_OFFSET(QaFreezeOutcome, ended_at)},
	    {"prepare-us", G_STRUCT_OFFSET(QaFreezeOutcome, prepare_us)},
	    {"flush-us", G_STRUCT_OFFSET(QaFreezeOutcome, flush_us)},
	    {"freeze-us", G_STRUCT_OFFSET(QaFreezeOutcome, freeze_us)},
	    {"dirty-kib", G_STRUCT_OFFSET(QaFreezeOutcome, dirty_kib)},
	};

	for (guint i = 0; i < G_N_ELEMENTS(ints); i++) {
		if (g_str_equal(key, ints[i].key))
			G_STRUCT_MEMBER(gint64, freeze, ints[i].offset) = qa_state_int(value);
	}
	if (g_str_equal(key, "serial")) {
		freeze->serial = (guint)qa_state_int(value);
	} else if (g_str_equal(key, "command")) {
		g_free(freeze->command);
		freeze->command = g_strdup(value);
	} else if (g_str_equal(key, "ok")) {
		freeze->is_success = qa_state_int(value) != 0;
	} else if (g_str_equal(key, "count")) {
		freeze->count = (guint)qa_state_int(value);
	} else if (g_str_equal(key, "error")) {
		g_free(freeze->error);
		freeze->error = g_strdup(value);
	} else if (g_str_equal(key, "named-mps") && freeze->mountpoints == NULL) {
		freeze->mountpoints = g_new0(gchar *, 1);
	} else if (g_str_equal(key, "named-disks") && freeze->disks == NULL) {
		freeze->disks =
		    g_ptr_array_new_with_free_func((GDestroyNotify)qa_freeze_outcome_disk_free);
	} else if (g_str_equal(key, "mp")) {
		qa_state_strv_add(&freeze->mountpoints, value);
	}
}

static void
qa_state_freeze_disk_token(gpointer target, const gchar *key, const gchar *value)
{
	QaFreezeOutcomeDisk *disk = target;

	if (g_str_equal(key, "sel")) {
		g_free(disk->selector);
		disk->selector = g_strdup(value);
	} else if (g_str_equal(key, "disk")) {
		qa_state_disks_add(&disk->disks, value);
	} else if (g_str_equal(key, "mp")) {
		qa_state_strv_add(&disk->mountpoints, value);
	}
}

static void
qa_state_freeze_fs_token(gpointer target, const gchar *key, const gchar *value)
{
	QaFreezeOutcomeFs *fs = target;

	if (g_str_equal(key, "type")) {
		g_free(fs->fstype);
		fs->fstype = g_strdup(value);
	} else if (g_str_equal(key, "result")) {
		qa_freeze_outcome_result_parse(value, &fs->result);
	} else if (g_str_equal(key, "detail")) {
		g_free(fs->detail);
		fs->detail = g_strdup(value);
	} else if (g_str_equal(key, "flush-us")) {
		fs->flush_us = qa_state_int(value);
	} else if (g_str_equal(key, "freeze-us")) {
		fs->freeze_us = qa_state_int(value);
	} else if (g_str_equal(key, "other")) {
		qa_state_disks_add(&fs->other_disks, value);
	} else if (g_str_equal(key, "mp")) {
		qa_state_strv_add(&fs->mountpoints, value);
	}
}

static void
qa_state_thaw_token(gpointer target, const gchar *key, const gchar *value)
{
	QaFreezeOutcomeThaw *thaw = target;

	if (g_str_equal(key, "by"))
		qa_freeze_outcome_by_parse(value, &thaw->by);
	else if (g_str_equal(key, "at"))
		thaw->at = qa_state_int(value);
	else if (g_str_equal(key, "us"))
		thaw->duration_us = qa_state_int(value);
	else if (g_str_equal(key, "count"))
		thaw->count = (guint)qa_state_int(value);
	else if (g_str_equal(key, "left"))
		thaw->n_left = (guint)qa_state_int(value);
	else if (g_str_equal(key, "mp"))
		qa_state_strv_add(&thaw->mountpoints, value);
	else if (g_str_equal(key, "error"))
		qa_state_strv_add(&thaw->errors, value);
}

/* the lines of the last freeze call and the last thaw; anything else is ignored */
void
qa_state_parse_outcome(QaState *state, gchar **words)
{
	const gchar *key = words[0];
	QaFreezeOutcome *freeze = state->last_freeze;
	guint major = 0;
	guint minor = 0;

	if (g_str_equal(key, "pid") && words[1] != NULL) {
		state->pid = (gint)CLAMP(qa_state_int(words[1]), 0, G_MAXINT);
	} else if (g_str_equal(key, "serial") && words[1] != NULL) {
		state->serial = (guint)MIN((guint64)MAX(qa_state_int(words[1]), 0), G_MAXUINT);
	} else if (g_str_equal(key, "freeze")) {
		qa_freeze_outcome_free(state->last_freeze);
		state->last_freeze = qa_freeze_outcome_new(0, NULL);
		qa_state_parse_tokens(words, 1, qa_state_freeze_token, state->last_freeze);
	} else if (g_str_equal(key, "freeze-disk") && freeze != NULL) {
		QaFreezeOutcomeDisk *disk = g_new0(QaFreezeOutcomeDisk, 1);

		disk->mountpoints = g_new0(gchar *, 1);
		qa_state_parse_tokens(words, 1, qa_state_freeze_disk_token, disk);
		if (freeze->disks == NULL)
			freeze->disks = g_ptr_array_new_with_free_func(
			    (GDestroyNotify)qa_freeze_outcome_disk_free);
		g_ptr_array_add(freeze->disks, disk);
	} else if (g_str_equal(key, "freeze-fs") && freeze != NULL && words[1] != NULL &&
		   qa_state_parse_devnum(words[1], &major, &minor)) {
		QaFreezeOutcomeFs *fs = qa_freeze_outcome_fs_new(major, minor, NULL, NULL);

		qa_state_parse_tokens(words, 2, qa_state_freeze_fs_token, fs);
		g_ptr_array_add(freeze->filesystems, fs);
	} else if (g_str_equal(key, "freeze-hook") && freeze != NULL) {
		g_ptr_array_add(freeze->hooks, qa_state_parse_hook(words));
	} else if (g_str_equal(key, "thaw")) {
		qa_freeze_outcome_thaw_free(state->last_thaw);
		state->last_thaw = qa_freeze_outcome_thaw_new(QA_FREEZE_OUTCOME_BY_HOST);
		qa_state_parse_tokens(words, 1, qa_state_thaw_token, state->last_thaw);
	} else if (g_str_equal(key, "thaw-hook") && state->last_thaw != NULL) {
		qa_hook_run_free(state->last_thaw->hook);
		state->last_thaw->hook = qa_state_parse_hook(words);
	}
}
