#include "state-file.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdio.h>

#include "qa-error.h"

#define QA_STATE_GROUP "freezer"
#define QA_STATE_VERSION 1

QaStateFs *
qa_state_fs_new(guint major, guint minor, const gchar *fstype, const gchar *const *mountpoints)
{
	QaStateFs *fs = g_new0(QaStateFs, 1);
	fs->major = major;
	fs->minor = minor;
	fs->fstype = g_strdup(fstype);
	fs->mountpoints = g_strdupv((gchar **)mountpoints);
	return fs;
}

void
qa_state_fs_free(QaStateFs *fs)
{
	if (fs == NULL)
		return;
	g_free(fs->fstype);
	g_strfreev(fs->mountpoints);
	g_free(fs);
}

QaState *
qa_state_new(void)
{
	QaState *state = g_new0(QaState, 1);
	state->is_complete = TRUE;
	state->filesystems = g_ptr_array_new_with_free_func((GDestroyNotify)qa_state_fs_free);
	return state;
}

QaState *
qa_state_copy(const QaState *state)
{
	QaState *copy = qa_state_new();
	copy->is_complete = state->is_complete;
	copy->is_hook_pending = state->is_hook_pending;
	copy->frozen_at = state->frozen_at;
	copy->deadline = state->deadline;
	copy->auto_thawed_at = state->auto_thawed_at;
	copy->is_rcu_expedited = state->is_rcu_expedited;
	for (guint i = 0; i < state->filesystems->len; i++) {
		QaStateFs *fs = g_ptr_array_index(state->filesystems, i);
		g_ptr_array_add(
		    copy->filesystems,
		    qa_state_fs_new(
			fs->major, fs->minor, fs->fstype, (const gchar *const *)fs->mountpoints));
	}
	return copy;
}

void
qa_state_free(QaState *state)
{
	if (state == NULL)
		return;
	g_ptr_array_unref(state->filesystems);
	g_free(state);
}

gboolean
qa_state_is_empty(const QaState *state)
{
	return state->filesystems->len == 0 && !state->is_hook_pending &&
	       state->auto_thawed_at == 0 && !state->is_rcu_expedited;
}

static gchar *
qa_state_fs_group(const QaStateFs *fs)
{
	return g_strdup_printf("fs %u:%u", fs->major, fs->minor);
}

gchar *
qa_state_file_to_data(const QaState *state)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);

	g_key_file_set_integer(kf, QA_STATE_GROUP, "version", QA_STATE_VERSION);
	g_key_file_set_boolean(kf, QA_STATE_GROUP, "complete", state->is_complete);
	g_key_file_set_boolean(kf, QA_STATE_GROUP, "hook-pending", state->is_hook_pending);
	g_key_file_set_int64(kf, QA_STATE_GROUP, "frozen-at", state->frozen_at);
	g_key_file_set_int64(kf, QA_STATE_GROUP, "deadline", state->deadline);
	g_key_file_set_int64(kf, QA_STATE_GROUP, "auto-thawed-at", state->auto_thawed_at);
	g_key_file_set_boolean(kf, QA_STATE_GROUP, "rcu-expedited", state->is_rcu_expedited);
	for (guint i = 0; i < state->filesystems->len; i++) {
		QaStateFs *fs = g_ptr_array_index(state->filesystems, i);
		g_autofree gchar *group = qa_state_fs_group(fs);

		g_ptr_array_add(ids, g_strdup_printf("%u:%u", fs->major, fs->minor));
		g_key_file_set_string(kf, group, "fstype", fs->fstype != NULL ? fs->fstype : "");
		g_key_file_set_string_list(kf,
					   group,
					   "mountpoints",
					   (const gchar *const *)fs->mountpoints,
					   g_strv_length(fs->mountpoints));
	}
	g_ptr_array_add(ids, NULL);
	g_key_file_set_string_list(
	    kf, QA_STATE_GROUP, "filesystems", (const gchar *const *)ids->pdata, ids->len - 1);
	return g_key_file_to_data(kf, NULL, NULL);
}

static QaStateFs *
qa_state_fs_parse(GKeyFile *kf, const gchar *id, GError **error)
{
	guint major = 0;
	guint minor = 0;
	g_autofree gchar *group = g_strdup_printf("fs %s", id);
	g_autofree gchar *fstype = NULL;
	g_auto(GStrv) mountpoints = NULL;

	if (sscanf(id, "%u:%u", &major, &minor) != 2) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_PARSE,
			    "The filesystem id '%s' is not MAJOR:MINOR.",
			    id);
		return NULL;
	}
	fstype = g_key_file_get_string(kf, group, "fstype", error);
	if (fstype == NULL)
		return NULL;
	mountpoints = g_key_file_get_string_list(kf, group, "mountpoints", NULL, error);
	if (mountpoints == NULL)
		return NULL;
	if (mountpoints[0] == NULL || !g_path_is_absolute(mountpoints[0])) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_PARSE,
			    "The filesystem %s has no absolute mountpoint.",
			    id);
		return NULL;
	}
	return qa_state_fs_new(major, minor, fstype, (const gchar *const *)mountpoints);
}

QaState *
qa_state_file_parse(const gchar *data, GError **error)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(QaState) state = qa_state_new();
	g_autoptr(GError) error_local = NULL;
	g_auto(GStrv) ids = NULL;
	gint version;

	if (!g_key_file_load_from_data(kf, data, -1, G_KEY_FILE_NONE, &error_local)) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_PARSE,
			    "The freeze state is not a key file: %s.",
			    error_local->message);
		return NULL;
	}
	version = g_key_file_get_integer(kf, QA_STATE_GROUP, "version", NULL);
	if (version != QA_STATE_VERSION) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_PARSE,
			    "The freeze state has version %d; expected %d.",
			    version,
			    QA_STATE_VERSION);
		return NULL;
	}
	/* a missing key reads as FALSE/0: the safe default for each of them */
	state->is_complete = g_key_file_get_boolean(kf, QA_STATE_GROUP, "complete", NULL);
	state->is_hook_pending = g_key_file_get_boolean(kf, QA_STATE_GROUP, "hook-pending", NULL);
	state->frozen_at = g_key_file_get_int64(kf, QA_STATE_GROUP, "frozen-at", NULL);
	state->deadline = g_key_file_get_int64(kf, QA_STATE_GROUP, "deadline", NULL);
	state->auto_thawed_at = g_key_file_get_int64(kf, QA_STATE_GROUP, "auto-thawed-at", NULL);
	state->is_rcu_expedited = g_key_file_get_boolean(kf, QA_STATE_GROUP, "rcu-expedited", NULL);
	ids = g_key_file_get_string_list(kf, QA_STATE_GROUP, "filesystems", NULL, NULL);
	for (guint i = 0; ids != NULL && ids[i] != NULL; i++) {
		QaStateFs *fs = qa_state_fs_parse(kf, ids[i], &error_local);
		if (fs == NULL) {
			g_set_error(error,
				    QA_SYSTEM_ERROR,
				    QA_SYSTEM_ERROR_PARSE,
				    "The freeze state entry '%s' is invalid: %s",
				    ids[i],
				    error_local->message);
			return NULL;
		}
		g_ptr_array_add(state->filesystems, fs);
	}
	return g_steal_pointer(&state);
}

QaState *
qa_state_file_load(const gchar *statedir, GError **error)
{
	g_autofree gchar *path = g_build_filename(statedir, QA_STATE_FILE_NAME, NULL);
	g_autofree gchar *data = NULL;
	g_autoptr(GError) error_local = NULL;
	QaState *state;

	if (!g_file_get_contents(path, &data, NULL, &error_local)) {
		if (g_error_matches(error_local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			return qa_state_new();
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot read the freeze state: %s.",
			    error_local->message);
		return NULL;
	}
	state = qa_state_file_parse(data, error);
	if (state == NULL)
		g_prefix_error(error, "%s: ", path);
	return state;
}

gboolean
qa_state_file_save(const gchar *statedir, const QaState *state, GError **error)
{
	g_autofree gchar *path = g_build_filename(statedir, QA_STATE_FILE_NAME, NULL);
	g_autofree gchar *data = NULL;
	g_autoptr(GError) error_local = NULL;

	if (qa_state_is_empty(state)) {
		if (g_unlink(path) != 0 && errno != ENOENT) {
			g_set_error(error,
				    QA_SYSTEM_ERROR,
				    QA_SYSTEM_ERROR_FAILED,
				    "Cannot remove the freeze state '%s': %s.",
				    path,
				    g_strerror(errno));
			return FALSE;
		}
		return TRUE;
	}
	data = qa_state_file_to_data(state);
	/* temporary file, fsync and rename: a reader sees the old state or the new one */
	if (!g_file_set_contents_full(
		path, data, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error_local)) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot write the freeze state in the state directory '%s': %s. "
			    "Expected a writable directory on a tmpfs.",
			    statedir,
			    error_local->message);
		return FALSE;
	}
	return TRUE;
}
