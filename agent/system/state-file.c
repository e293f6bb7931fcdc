#include "state-file.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "qa-error.h"
#include "qa-fd.h"
#include "state-file-private.h"

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

QaStateFs *
qa_state_fs_copy(const QaStateFs *fs)
{
	QaStateFs *copy = qa_state_fs_new(
	    fs->major, fs->minor, fs->fstype, (const gchar *const *)fs->mountpoints);

	copy->serial = fs->serial;
	copy->frozen_at = fs->frozen_at;
	return copy;
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
	copy->damage = g_strdup(state->damage);
	copy->serial = state->serial;
	copy->pid = state->pid;
	if (state->last_freeze != NULL)
		copy->last_freeze = qa_freeze_outcome_copy(state->last_freeze);
	if (state->last_thaw != NULL)
		copy->last_thaw = qa_freeze_outcome_thaw_copy(state->last_thaw);
	for (guint i = 0; i < state->filesystems->len; i++)
		g_ptr_array_add(copy->filesystems,
				qa_state_fs_copy(g_ptr_array_index(state->filesystems, i)));
	return copy;
}

void
qa_state_free(QaState *state)
{
	if (state == NULL)
		return;
	g_ptr_array_unref(state->filesystems);
	g_free(state->damage);
	qa_freeze_outcome_free(state->last_freeze);
	qa_freeze_outcome_thaw_free(state->last_thaw);
	g_free(state);
}

gboolean
qa_state_is_empty(const QaState *state)
{
	return state->filesystems->len == 0 && !state->is_hook_pending &&
	       state->auto_thawed_at == 0 && !state->is_rcu_expedited &&
	       state->last_freeze == NULL && state->last_thaw == NULL;
}

/* The file, version 2: one "KEY VALUE..." line each, values percent-encoded so that any byte of a
 * mountpoint survives (mountpoints need not be UTF-8, and may hold spaces and newlines):
 *
 *   quiesce-agent-state 2
 *   complete 1
 *   hook-pending 0
 *   frozen-at 1733212345000000
 *   deadline 4242000000
 *   auto-thawed-at 0
 *   rcu-expedited 0
 *   fs 8:1 type=ext4 serial=3 since=1733212345000000 mp=/data mp=/srv/data%20copy
 *   pid 812
 *   serial 3
 *   freeze serial=3 command=guest-fsfreeze-freeze-list start=... end=... ok=1 count=1 ...
 *   freeze-disk sel=serial%3DQA-DATA disk=virtio,0,0,3,0,0,0,0,254,16,QA-DATA,/dev/vdb1 mp=/data
 *   freeze-fs 8:1 type=ext4 result=frozen flush-us=812 freeze-us=95 mp=/data
 *   freeze-hook action=freeze start=... us=20113 status=0 signal=0 timeout=0 line=ready
 *   thaw by=host at=... us=1830 count=1 left=0 mp=/data
 *   thaw-hook action=thaw ...
 *
 * The lines from "pid" on say which agent wrote the file and what the last freeze call and
 * the last thaw did, for --status and a successor's report; "freeze-*" lines belong to the
 * "freeze" line before them. They decide nothing about what is frozen, so what cannot be read
 * of them is dropped, not counted as damage. A disk is its address, comma-separated: bus type,
 * the PCI domain, bus, slot and function, bus, target, unit, the disk's device numbers, serial
 * and node (these two encoded again, commas included; empty when unknown).
 *
 * Read line by line: a damaged line loses only what it held, and a filesystem whose device
 * numbers can still be read is kept, so that its successor can find it in the mount table and
 * thaw it. Unknown keys are skipped, so a later agent may add some. Version 1, the key file an
 * earlier agent wrote, is still read. */
#define QA_STATE_MAGIC "quiesce-agent-state"
#define QA_STATE_VERSION 2

void
qa_state_append_encoded_full(GString *out, const gchar *value, const gchar *also)
{
	for (const guchar *p = (const guchar *)value; *p != '\0'; p++) {
		if (*p > ' ' && *p < 0x7f && *p != '%' && strchr(also, *p) == NULL)
			g_string_append_c(out, (gchar)*p);
		else
			g_string_append_printf(out, "%%%02X", *p);
	}
}

static void
qa_state_append_encoded(GString *out, const gchar *value)
{
	qa_state_append_encoded_full(out, value, "");
}

gchar *
qa_state_decode(const gchar *text)
{
	g_autoptr(GString) out = g_string_new(NULL);

	for (const gchar *p = text; *p != '\0'; p++) {
		gint hi, lo;

		if (*p != '%') {
			g_string_append_c(out, *p);
			continue;
		}
		hi = g_ascii_xdigit_value(p[1]);
		lo = hi >= 0 ? g_ascii_xdigit_value(p[2]) : -1;
		if (lo < 0 || (hi == 0 && lo == 0))
			return NULL;
		g_string_append_c(out, (gchar)(hi * 16 + lo));
		p += 2;
	}
	return g_string_free(g_steal_pointer(&out), FALSE);
}

gchar *
qa_state_file_to_data(const QaState *state)
{
	GString *out = g_string_new(NULL);

	g_string_append_printf(out, "%s %d\n", QA_STATE_MAGIC, QA_STATE_VERSION);
	g_string_append_printf(out, "complete %d\n", state->is_complete ? 1 : 0);
	g_string_append_printf(out, "hook-pending %d\n", state->is_hook_pending ? 1 : 0);
	g_string_append_printf(out, "frozen-at %" G_GINT64_FORMAT "\n", state->frozen_at);
	g_string_append_printf(out, "deadline %" G_GINT64_FORMAT "\n", state->deadline);
	g_string_append_printf(out, "auto-thawed-at %" G_GINT64_FORMAT "\n", state->auto_thawed_at);
	g_string_append_printf(out, "rcu-expedited %d\n", state->is_rcu_expedited ? 1 : 0);
	for (guint i = 0; i < state->filesystems->len; i++) {
		QaStateFs *fs = g_ptr_array_index(state->filesystems, i);

		g_string_append_printf(out, "fs %u:%u type=", fs->major, fs->minor);
		qa_state_append_encoded(out, fs->fstype != NULL ? fs->fstype : "");
		g_string_append_printf(
		    out, " serial=%u since=%" G_GINT64_FORMAT, fs->serial, fs->frozen_at);
		for (guint j = 0; fs->mountpoints[j] != NULL; j++) {
			g_string_append(out, " mp=");
			qa_state_append_encoded(out, fs->mountpoints[j]);
		}
		g_string_append_c(out, '\n');
	}
	qa_state_append_outcomes(out, state);
	return g_string_free(out, FALSE);
}

static void
qa_state_note_damage(QaState *state, guint lineno, const gchar *what)
{
	g_autofree gchar *line = g_strdup_printf("line %u: %s", lineno, what);

	if (state->damage == NULL) {
		state->damage = g_steal_pointer(&line);
		return;
	}
	if (strlen(state->damage) < 512) {
		gchar *joined = g_strconcat(state->damage, "; ", line, NULL);
		g_free(state->damage);
		state->damage = joined;
	}
}

gboolean
qa_state_parse_devnum(const gchar *text, guint *out_major, guint *out_minor)
{
	guint64 major, minor;
	const gchar *colon = strchr(text, ':');
	g_autofree gchar *head = NULL;

	if (colon == NULL)
		return FALSE;
	head = g_strndup(text, colon - text);
	if (!g_ascii_string_to_unsigned(head, 10, 0, G_MAXUINT32, &major, NULL) ||
	    !g_ascii_string_to_unsigned(colon + 1, 10, 0, G_MAXUINT32, &minor, NULL))
		return FALSE;
	*out_major = (guint)major;
	*out_minor = (guint)minor;
	return TRUE;
}

/* "fs MAJ:MIN key=value...": the device numbers alone are enough to keep the entry */
static void
qa_state_parse_fs(QaState *state, gchar **words, guint lineno)
{
	g_autoptr(GStrvBuilder) mountpoints = g_strv_builder_new();
	g_auto(GStrv) mps = NULL;
	g_autofree gchar *fstype = NULL;
	guint major = 0, minor = 0;
	guint64 serial = 0;
	gint64 since = 0;
	QaStateFs *fs;

	if (words[1] == NULL || !qa_state_parse_devnum(words[1], &major, &minor)) {
		qa_state_note_damage(state, lineno, "a filesystem without device numbers");
		return;
	}
	for (guint i = 2; words[i] != NULL; i++) {
		const gchar *eq = strchr(words[i], '=');
		g_autofree gchar *value = eq != NULL ? qa_state_decode(eq + 1) : NULL;

		if (value == NULL) {
			qa_state_note_damage(state, lineno, "an undecodable value");
			continue;
		}
		if (g_str_has_prefix(words[i], "type=")) {
			g_free(fstype);
			fstype = g_steal_pointer(&value);
		} else if (g_str_has_prefix(words[i], "mp=") && g_path_is_absolute(value)) {
			g_strv_builder_add(mountpoints, value);
		} else if (g_str_has_prefix(words[i], "serial=")) {
			g_ascii_string_to_unsigned(value, 10, 0, G_MAXUINT, &serial, NULL);
		} else if (g_str_has_prefix(words[i], "since=")) {
			g_ascii_string_to_signed(value, 10, 0, G_MAXINT64, &since, NULL);
		}
	}
	mps = g_strv_builder_end(mountpoints);
	if (mps[0] == NULL)
		qa_state_note_damage(state, lineno, "a filesystem without a mountpoint");
	fs = qa_state_fs_new(major, minor, fstype, (const gchar *const *)mps);
	fs->serial = (guint)serial;
	fs->frozen_at = since;
	g_ptr_array_add(state->filesystems, fs);
}

static gint64
qa_state_parse_int(QaState *state, const gchar *text, guint lineno)
{
	gint64 value = 0;

	if (text == NULL ||
	    !g_ascii_string_to_signed(text, 10, G_MININT64, G_MAXINT64, &value, NULL))
		qa_state_note_damage(state, lineno, "a number that is not one");
	return value;
}

static void
qa_state_parse_line(QaState *state, const gchar *line, guint lineno)
{
	g_auto(GStrv) words = g_strsplit(line, " ", -1);
	const gchar *key = words[0];

	if (g_strcmp0(key, "fs") == 0)
		qa_state_parse_fs(state, words, lineno);
	else if (g_strcmp0(key, "complete") == 0)
		state->is_complete = qa_state_parse_int(state, words[1], lineno) != 0;
	else if (g_strcmp0(key, "hook-pending") == 0)
		state->is_hook_pending = qa_state_parse_int(state, words[1], lineno) != 0;
	else if (g_strcmp0(key, "frozen-at") == 0)
		state->frozen_at = qa_state_parse_int(state, words[1], lineno);
	else if (g_strcmp0(key, "deadline") == 0)
		state->deadline = qa_state_parse_int(state, words[1], lineno);
	else if (g_strcmp0(key, "auto-thawed-at") == 0)
		state->auto_thawed_at = qa_state_parse_int(state, words[1], lineno);
	else if (g_strcmp0(key, "rcu-expedited") == 0)
		state->is_rcu_expedited = qa_state_parse_int(state, words[1], lineno) != 0;
	else if (key != NULL)
		qa_state_parse_outcome(state, words);
}

/* Version 1 (a GLib key file): what an earlier agent left. A file GLib cannot read whole (a
 * mountpoint that was not UTF-8) still gives up its "[fs MAJ:MIN]" groups. */
static QaState *
qa_state_file_parse_v1(const gchar *data)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(QaState) state = qa_state_new();
	g_auto(GStrv) lines = NULL;

	if (g_key_file_load_from_data(kf, data, -1, G_KEY_FILE_NONE, NULL)) {
		g_auto(GStrv) ids =
		    g_key_file_get_string_list(kf, "freezer", "filesystems", NULL, NULL);

		state->is_complete = g_key_file_get_boolean(kf, "freezer", "complete", NULL);
		state->is_hook_pending =
		    g_key_file_get_boolean(kf, "freezer", "hook-pending", NULL);
		state->frozen_at = g_key_file_get_int64(kf, "freezer", "frozen-at", NULL);
		state->deadline = g_key_file_get_int64(kf, "freezer", "deadline", NULL);
		state->auto_thawed_at = g_key_file_get_int64(kf, "freezer", "auto-thawed-at", NULL);
		state->is_rcu_expedited =
		    g_key_file_get_boolean(kf, "freezer", "rcu-expedited", NULL);
		for (guint i = 0; ids != NULL && ids[i] != NULL; i++) {
			g_autofree gchar *group = g_strdup_printf("fs %s", ids[i]);
			g_autofree gchar *fstype = g_key_file_get_string(kf, group, "fstype", NULL);
			g_auto(GStrv) mps =
			    g_key_file_get_string_list(kf, group, "mountpoints", NULL, NULL);
			guint major, minor;
			const gchar *none[] = {NULL};

			if (!qa_state_parse_devnum(ids[i], &major, &minor)) {
				qa_state_note_damage(
				    state, 0, "a filesystem without device numbers");
				continue;
			}
			g_ptr_array_add(
			    state->filesystems,
			    qa_state_fs_new(major,
					    minor,
					    fstype,
					    mps != NULL ? (const gchar *const *)mps : none));
		}
		return g_steal_pointer(&state);
	}
	qa_state_note_damage(state, 0, "an unreadable version 1 file");
	/* every filesystem named in it may be frozen: keep what can be identified */
	state->is_complete = TRUE;
	lines = g_strsplit(data, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		guint major, minor;
		const gchar *none[] = {NULL};
		g_autofree gchar *id = NULL;

		if (!g_str_has_prefix(lines[i], "[fs ") || !g_str_has_suffix(lines[i], "]"))
			continue;
		id = g_strndup(lines[i] + 4, strlen(lines[i]) - 5);
		if (qa_state_parse_devnum(id, &major, &minor))
			g_ptr_array_add(state->filesystems,
					qa_state_fs_new(major, minor, NULL, none));
	}
	return g_steal_pointer(&state);
}

/* Never fails: what cannot be read is said in state->damage, and what can is kept. */
QaState *
qa_state_file_parse(const gchar *data, gsize len)
{
	g_autoptr(QaState) state = qa_state_new();
	g_auto(GStrv) lines = NULL;
	gint64 version = 0;

	if (memchr(data, '\0', len) != NULL)
		qa_state_note_damage(state, 0, "a NUL byte, where the file was cut");
	if (g_str_has_prefix(data, "[freezer]") || g_str_has_prefix(data, "["))
		return qa_state_file_parse_v1(data);
	lines = g_strsplit(data, "\n", -1);
	if (lines[0] == NULL || !g_str_has_prefix(lines[0], QA_STATE_MAGIC " ")) {
		qa_state_note_damage(state, 1, "not a freeze state (no '" QA_STATE_MAGIC "' line)");
	} else {
		version = qa_state_parse_int(state, lines[0] + strlen(QA_STATE_MAGIC " "), 1);
		if (version != QA_STATE_VERSION)
			qa_state_note_damage(state, 1, "an unknown version");
	}
	/* what is not said explicitly is the safe way: a freeze that may be half done */
	state->is_complete = FALSE;
	/* an empty text splits into no line at all */
	for (guint i = 1; lines[0] != NULL && lines[i] != NULL; i++) {
		if (lines[i][0] != '\0')
			qa_state_parse_line(state, lines[i], i + 1);
	}
	return g_steal_pointer(&state);
}

QaState *
qa_state_file_load(const gchar *statedir, GError **error)
{
	g_autofree gchar *path = g_build_filename(statedir, QA_STATE_FILE_NAME, NULL);
	g_autofree gchar *data = NULL;
	g_autoptr(GError) error_local = NULL;
	gsize len = 0;
	QaState *state;

	if (!g_file_get_contents(path, &data, &len, &error_local)) {
		if (g_error_matches(error_local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			return qa_state_new();
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot read the freeze state: %s.",
			    error_local->message);
		return NULL;
	}
	state = qa_state_file_parse(data, len);
	if (state->damage != NULL) {
		gchar *where = g_strdup_printf("%s: %s", path, state->damage);
		g_free(state->damage);
		state->damage = where;
	}
	return state;
}

/* Writes @data under a temporary name and renames it over @path, so that a reader sees the old
 * state or the new one. No fsync(): the directory is on a memory filesystem (no freeze starts
 * otherwise, qa_freeze_select_check_statedir()), where it would write nothing and only cost
 * syscalls on every freeze, and a record is about this boot only. The temporary name is this
 * process's: its writes are serialised (the freezer's write_lock), and an --emergency-thaw
 * writing at the same moment has another. */
static gboolean
qa_state_file_replace(const gchar *path, const gchar *data, GError **error)
{
	g_autofree gchar *tmp = g_strdup_printf("%s.%d.tmp", path, (gint)getpid());
	gsize len = strlen(data);
	gsize done = 0;
	g_auto(QaFd) fd =
	    open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);

	if (fd < 0)
		goto fail;
	while (done < len) {
		gssize n = write(fd, data + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		done += n;
	}
	if (close(qa_fd_steal(&fd)) != 0 || rename(tmp, path) != 0)
		goto fail;
	return TRUE;

fail:
	g_set_error(error,
		    G_FILE_ERROR,
		    g_file_error_from_errno(errno),
		    "cannot write '%s': %s",
		    tmp,
		    g_strerror(errno));
	g_unlink(tmp);
	return FALSE;
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
	if (!qa_state_file_replace(path, data, &error_local)) {
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
