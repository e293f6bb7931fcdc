/* guest-fsfreeze-get-report: what the freezer holds and did (its record, qa_freezer_get_state(),
 * taken under its lock only) beside every block filesystem the agent can see, with its disks as
 * guest-get-fsinfo gives them. Out of band, on the main thread: the mount table is the one
 * guest-get-fsinfo keeps (agent->mount_table, the main thread's), and nothing is read but
 * /proc, /sys and the state directory's tmpfs, so it answers while a freeze runs. */
#include <sys/sysmacros.h>

#include "agent.h"
#include "blockdev.h"
#include "disk-address.h"
#include "freezer.h"
#include "mounts.h"
#include "qa-schema.h"

static gdouble
qa_fsfreeze_report_seconds(gint64 us)
{
	return us / (gdouble)G_USEC_PER_SEC;
}

static gdouble
qa_fsfreeze_report_ms(gint64 us)
{
	return us / 1000.0;
}

static void
qa_fsfreeze_report_add_strv(GPtrArray **list, gchar **strv)
{
	if (*list == NULL)
		*list = g_ptr_array_new_with_free_func(g_free);
	for (guint i = 0; strv != NULL && strv[i] != NULL; i++)
		g_ptr_array_add(*list, g_strdup(strv[i]));
}

static void
qa_fsfreeze_report_add_disks(GPtrArray **list, GPtrArray *disks)
{
	if (*list == NULL)
		*list = qa_guest_disk_address_list_new();
	for (guint i = 0; disks != NULL && i < disks->len; i++)
		g_ptr_array_add(*list, qa_disk_address_to_wire(g_ptr_array_index(disks, i)));
}

static QaGuestFsfreezeHookRun *
qa_fsfreeze_report_hook(const QaHookRun *run)
{
	QaGuestFsfreezeHookRun *wire = qa_guest_fsfreeze_hook_run_new();

	wire->action = g_strdup(run->action);
	wire->started = qa_fsfreeze_report_seconds(run->started_at);
	wire->duration_ms = qa_fsfreeze_report_ms(run->duration_us);
	wire->has_exit_status = run->exit_status >= 0;
	wire->exit_status = run->exit_status;
	wire->has_signal = run->signal > 0;
	wire->signal = run->signal;
	wire->timed_out = run->is_timed_out;
	wire->last_line = g_strdup(run->last_line);
	wire->error = g_strdup(run->error);
	return wire;
}

static QaGuestFsfreezeResult
qa_fsfreeze_report_result(QaFreezeOutcomeResult result)
{
	switch (result) {
	case QA_FREEZE_OUTCOME_FROZEN:
		return QA_GUEST_FSFREEZE_RESULT_FROZEN;
	case QA_FREEZE_OUTCOME_SKIPPED:
		return QA_GUEST_FSFREEZE_RESULT_SKIPPED;
	case QA_FREEZE_OUTCOME_EXCLUDED:
		return QA_GUEST_FSFREEZE_RESULT_EXCLUDED;
	case QA_FREEZE_OUTCOME_FAILED:
		return QA_GUEST_FSFREEZE_RESULT_FAILED;
	case QA_FREEZE_OUTCOME_ROLLED_BACK:
		return QA_GUEST_FSFREEZE_RESULT_ROLLED_BACK;
	case QA_FREEZE_OUTCOME_PLANNED:
	default:
		return QA_GUEST_FSFREEZE_RESULT_PLANNED;
	}
}

static QaGuestFsfreezeFilesystemResult *
qa_fsfreeze_report_fs_result(const QaFreezeOutcomeFs *fs)
{
	QaGuestFsfreezeFilesystemResult *wire = qa_guest_fsfreeze_filesystem_result_new();

	qa_fsfreeze_report_add_strv(&wire->mountpoints, fs->mountpoints);
	wire->type = g_strdup(fs->fstype != NULL ? fs->fstype : "");
	wire->result = qa_fsfreeze_report_result(fs->result);
	wire->detail = g_strdup(fs->detail);
	wire->has_flush_ms = fs->flush_us >= 0;
	wire->flush_ms = qa_fsfreeze_report_ms(fs->flush_us);
	wire->has_freeze_ms = fs->freeze_us >= 0;
	wire->freeze_ms = qa_fsfreeze_report_ms(fs->freeze_us);
	if (fs->other_disks != NULL)
		qa_fsfreeze_report_add_disks(&wire->other_disks, fs->other_disks);
	return wire;
}

static QaGuestFsfreezeDiskResult *
qa_fsfreeze_report_disk_result(const QaFreezeOutcomeDisk *disk)
{
	QaGuestFsfreezeDiskResult *wire = qa_guest_fsfreeze_disk_result_new();

	wire->disk = g_strdup(disk->selector != NULL ? disk->selector : "");
	qa_fsfreeze_report_add_disks(&wire->disks, disk->disks);
	qa_fsfreeze_report_add_strv(&wire->mountpoints, disk->mountpoints);
	return wire;
}

static QaGuestFsfreezeCall *
qa_fsfreeze_report_call(const QaFreezeOutcome *call)
{
	QaGuestFsfreezeCall *wire = qa_guest_fsfreeze_call_new();

	wire->serial = call->serial;
	wire->command = g_strdup(call->command != NULL ? call->command : "");
	if (call->mountpoints != NULL)
		qa_fsfreeze_report_add_strv(&wire->mountpoints, call->mountpoints);
	if (call->disks != NULL) {
		wire->disks = qa_guest_fsfreeze_disk_result_list_new();
		for (guint i = 0; i < call->disks->len; i++)
			g_ptr_array_add(
			    wire->disks,
			    qa_fsfreeze_report_disk_result(g_ptr_array_index(call->disks, i)));
	}
	wire->started = qa_fsfreeze_report_seconds(call->started_at);
	wire->has_ended = call->ended_at != 0;
	wire->ended = qa_fsfreeze_report_seconds(call->ended_at);
	wire->success = call->is_success && call->ended_at != 0;
	wire->error = g_strdup(call->error);
	wire->count = call->count;
	wire->prepare_ms = qa_fsfreeze_report_ms(call->prepare_us);
	wire->flush_ms = qa_fsfreeze_report_ms(call->flush_us);
	wire->freeze_ms = qa_fsfreeze_report_ms(call->freeze_us);
	wire->has_dirty_kib = call->dirty_kib >= 0;
	wire->dirty_kib = call->dirty_kib;
	wire->filesystems = qa_guest_fsfreeze_filesystem_result_list_new();
	wire->hooks = qa_guest_fsfreeze_hook_run_list_new();
	for (guint i = 0; i < call->filesystems->len; i++)
		g_ptr_array_add(
		    wire->filesystems,
		    qa_fsfreeze_report_fs_result(g_ptr_array_index(call->filesystems, i)));
	for (guint i = 0; i < call->hooks->len; i++)
		g_ptr_array_add(wire->hooks,
				qa_fsfreeze_report_hook(g_ptr_array_index(call->hooks, i)));
	return wire;
}

static QaGuestFsfreezeThawedBy
qa_fsfreeze_report_by(QaFreezeOutcomeBy by)
{
	switch (by) {
	case QA_FREEZE_OUTCOME_BY_AUTO_THAW:
		return QA_GUEST_FSFREEZE_THAWED_BY_AUTO_THAW;
	case QA_FREEZE_OUTCOME_BY_SHUTDOWN:
		return QA_GUEST_FSFREEZE_THAWED_BY_SHUTDOWN;
	case QA_FREEZE_OUTCOME_BY_SUCCESSOR:
		return QA_GUEST_FSFREEZE_THAWED_BY_SUCCESSOR;
	case QA_FREEZE_OUTCOME_BY_OPERATOR:
		return QA_GUEST_FSFREEZE_THAWED_BY_OPERATOR;
	case QA_FREEZE_OUTCOME_BY_HOST:
	default:
		return QA_GUEST_FSFREEZE_THAWED_BY_HOST;
	}
}

static QaGuestFsfreezeThawRecord *
qa_fsfreeze_report_thaw(const QaFreezeOutcomeThaw *thaw)
{
	QaGuestFsfreezeThawRecord *wire = qa_guest_fsfreeze_thaw_record_new();

	wire->by = qa_fsfreeze_report_by(thaw->by);
	wire->at = qa_fsfreeze_report_seconds(thaw->at);
	wire->duration_ms = qa_fsfreeze_report_ms(thaw->duration_us);
	wire->count = thaw->count;
	wire->left = thaw->n_left;
	qa_fsfreeze_report_add_strv(&wire->mountpoints, thaw->mountpoints);
	qa_fsfreeze_report_add_strv(&wire->errors, thaw->errors);
	if (thaw->hook != NULL)
		wire->hook = qa_fsfreeze_report_hook(thaw->hook);
	return wire;
}

/* the record of @fs in @state's frozen set, taken out of it; NULL when it is not frozen */
static QaStateFs *
qa_fsfreeze_report_take_frozen(QaState *state, guint major, guint minor)
{
	for (guint i = 0; i < state->filesystems->len; i++) {
		QaStateFs *fs = g_ptr_array_index(state->filesystems, i);
		if (fs->major == major && fs->minor == minor)
			return g_ptr_array_steal_index(state->filesystems, i);
	}
	return NULL;
}

static void
qa_fsfreeze_report_set_frozen(QaGuestFsfreezeFilesystem *wire, const QaStateFs *frozen)
{
	wire->frozen = TRUE;
	wire->has_frozen_since = frozen->frozen_at != 0;
	wire->frozen_since = qa_fsfreeze_report_seconds(frozen->frozen_at);
	wire->has_frozen_by = frozen->serial != 0;
	wire->frozen_by = frozen->serial;
}

static QaGuestFsfreezeFilesystem *
qa_fsfreeze_report_fs(
    QaAgent *agent, QaBlockdevModel *model, GPtrArray *mounts, QaFilesystem *fs, QaState *state)
{
	QaGuestFsfreezeFilesystem *wire = qa_guest_fsfreeze_filesystem_new();
	g_autoptr(QaStateFs) frozen = qa_fsfreeze_report_take_frozen(state, fs->major, fs->minor);
	const QaMount *first = NULL;
	const QaBlockdev *dev = NULL;

	for (guint i = 0; i < mounts->len && first == NULL; i++) {
		const QaMount *mount = g_ptr_array_index(mounts, i);
		if (mount->major == fs->major && mount->minor == fs->minor)
			first = mount;
	}
	if (first != NULL) {
		g_autoptr(GPtrArray) disks = qa_blockdev_model_get_mount_disks(model, first);
		dev = qa_blockdev_model_get_mount_device(model, first);
		qa_fsfreeze_report_add_disks(&wire->disk, disks);
	}
	wire->name = g_strdup(dev != NULL ? dev->name : "");
	wire->mountpoints = g_ptr_array_new_with_free_func(g_free);
	for (guint i = 0; i < fs->mountpoints->len; i++)
		g_ptr_array_add(wire->mountpoints, g_strdup(g_ptr_array_index(fs->mountpoints, i)));
	wire->type = g_strdup(fs->fstype);
	if (frozen != NULL)
		qa_fsfreeze_report_set_frozen(wire, frozen);
	wire->left_alone = qa_freezer_explain(agent->freezer, fs);
	return wire;
}

/* every block filesystem the agent may freeze (within --confine-mounts), one entry each */
static GPtrArray *
qa_fsfreeze_report_visible(const QaRoots *roots, GPtrArray *mounts)
{
	g_autoptr(GPtrArray) confined = g_ptr_array_new();
	GPtrArray *filesystems;

	for (guint i = 0; i < mounts->len; i++) {
		QaMount *mount = g_ptr_array_index(mounts, i);
		if (qa_roots_is_confined_path(roots, mount->mountpoint) &&
		    qa_mounts_is_block_backed(roots, mount))
			g_ptr_array_add(confined, mount);
	}
	filesystems = qa_filesystems_from_mounts(roots, confined);
	return filesystems;
}

static GPtrArray *
qa_fsfreeze_report_filesystems(QaAgent *agent, QaState *state, GError **error)
{
	g_autoptr(GPtrArray) mounts = qa_mount_table_load(agent->mount_table, agent->roots, error);
	g_autoptr(GPtrArray) filesystems = NULL;
	g_autoptr(QaBlockdevModel) model = NULL;
	g_autoptr(GPtrArray) wire = qa_guest_fsfreeze_filesystem_list_new();

	if (mounts == NULL)
		return NULL;
	filesystems = qa_fsfreeze_report_visible(agent->roots, mounts);
	model = qa_blockdev_model_new(agent->roots, mounts);
	qa_blockdev_model_set_serial_cache(model, agent->serials);
	for (guint i = 0; i < filesystems->len; i++)
		g_ptr_array_add(
		    wire,
		    qa_fsfreeze_report_fs(
			agent, model, mounts, g_ptr_array_index(filesystems, i), state));
	/* held frozen, but no longer seen where it was (unmounted, moved away) */
	for (guint i = 0; i < state->filesystems->len; i++) {
		QaStateFs *frozen = g_ptr_array_index(state->filesystems, i);
		QaGuestFsfreezeFilesystem *entry = qa_guest_fsfreeze_filesystem_new();

		entry->name = g_strdup("");
		qa_fsfreeze_report_add_strv(&entry->mountpoints, frozen->mountpoints);
		entry->type = g_strdup(frozen->fstype != NULL ? frozen->fstype : "");
		qa_fsfreeze_report_set_frozen(entry, frozen);
		g_ptr_array_add(wire, entry);
	}
	return g_steal_pointer(&wire);
}

gboolean
qa_cmd_guest_fsfreeze_get_report(QaAgent *agent, QaGuestFsfreezeReport **out_ret, GError **error)
{
	g_autoptr(QaState) state = qa_freezer_get_state(agent->freezer);
	g_autoptr(QaGuestFsfreezeReport) report = qa_guest_fsfreeze_report_new();
	gint64 now_real = g_get_real_time();
	gint64 now_mono = g_get_monotonic_time();

	report->status = state->filesystems->len > 0 ? QA_GUEST_FSFREEZE_STATUS_FROZEN
						     : QA_GUEST_FSFREEZE_STATUS_THAWED;
	report->has_auto_thaw_at = state->deadline > 0;
	report->auto_thaw_at = qa_fsfreeze_report_seconds(now_real + (state->deadline - now_mono));
	report->thaw_hook_owed = state->is_hook_pending;
	report->has_unreported_thaw = state->auto_thawed_at != 0;
	report->unreported_thaw = qa_fsfreeze_report_seconds(state->auto_thawed_at);
	if (state->last_freeze != NULL)
		report->last_freeze = qa_fsfreeze_report_call(state->last_freeze);
	if (state->last_thaw != NULL)
		report->last_thaw = qa_fsfreeze_report_thaw(state->last_thaw);
	/* last: it takes the frozen entries it lists out of the state */
	if (report->filesystems != NULL)
		g_ptr_array_unref(report->filesystems);
	report->filesystems = qa_fsfreeze_report_filesystems(agent, state, error);
	if (report->filesystems == NULL)
		return FALSE;
	*out_ret = g_steal_pointer(&report);
	return TRUE;
}
