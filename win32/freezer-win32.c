#include "freezer-win32.h"

#include "qa-error.h"

struct _QaFreezer {
	QaFreezerOptions options;
	GMutex op_lock;	   /* one freeze or thaw at a time */
	GMutex state_lock; /* frozen and is_freezing */
	GPtrArray *frozen; /* mount paths held frozen, owning; empty when thawed */
	gboolean is_freezing;
};

QaFreezer *
qa_freezer_new(const QaFreezerOptions *options)
{
	QaFreezer *self = g_new0(QaFreezer, 1);

	self->options = *options;
	g_mutex_init(&self->op_lock);
	g_mutex_init(&self->state_lock);
	self->frozen = g_ptr_array_new_with_free_func(g_free);
	return self;
}

void
qa_freezer_free(QaFreezer *self)
{
	if (self == NULL)
		return;
	g_ptr_array_unref(self->frozen);
	if (self->options.ops_data_free != NULL)
		self->options.ops_data_free(self->options.ops_data);
	g_mutex_clear(&self->op_lock);
	g_mutex_clear(&self->state_lock);
	g_free(self);
}

static void
qa_freezer_log_hold(QaFreezer *self)
{
	if (self->options.log_hold != NULL)
		self->options.log_hold();
}

static void
qa_freezer_log_release(QaFreezer *self)
{
	if (self->options.log_release != NULL)
		self->options.log_release();
}

static gboolean
qa_freezer_contains(GPtrArray *paths, const gchar *path)
{
	for (guint i = 0; i < paths->len; i++) {
		if (g_ascii_strcasecmp(g_ptr_array_index(paths, i), path) == 0)
			return TRUE;
	}
	return FALSE;
}

/* the volumes a freeze-list names, each resolved and listed once; every name must be a
 * mounted volume (QEMU's agent ignores names it cannot find and freezes fewer) */
static GPtrArray *
qa_freezer_resolve_all(QaFreezer *self, GPtrArray *mountpoints, GError **error)
{
	const QaVssOps *ops = self->options.ops;
	g_autoptr(GPtrArray) volumes = NULL;

	if (mountpoints == NULL)
		return ops->list_volumes(self->options.ops_data, error);
	volumes = g_ptr_array_new_with_free_func(g_free);
	for (guint i = 0; i < mountpoints->len; i++) {
		const gchar *name = g_ptr_array_index(mountpoints, i);
		g_autofree gchar *path = ops->resolve(self->options.ops_data, name, error);

		if (path == NULL) {
			g_prefix_error(error, "cannot freeze '%s': ", name);
			return NULL;
		}
		if (!qa_freezer_contains(volumes, path))
			g_ptr_array_add(volumes, g_steal_pointer(&path));
	}
	return g_steal_pointer(&volumes);
}

static gchar *
qa_freezer_describe(GPtrArray *paths)
{
	g_autoptr(GString) text = g_string_new(NULL);

	for (guint i = 0; i < paths->len; i++)
		g_string_append_printf(
		    text, "%s'%s'", i > 0 ? ", " : "", (const gchar *)g_ptr_array_index(paths, i));
	return g_string_free(g_steal_pointer(&text), FALSE);
}

static gboolean
qa_freezer_freeze_locked(QaFreezer *self, GPtrArray *mountpoints, guint *out_count, GError **error)
{
	g_autoptr(GPtrArray) volumes = NULL;
	gboolean ok;

	g_mutex_lock(&self->state_lock);
	if (self->frozen->len > 0) {
		g_autofree gchar *held = qa_freezer_describe(self->frozen);
		g_mutex_unlock(&self->state_lock);
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_BUSY,
			    "Volumes %s are already frozen; VSS holds one snapshot set at a time "
			    "and freezes are never nested: thaw first.",
			    held);
		return FALSE;
	}
	g_mutex_unlock(&self->state_lock);

	volumes = qa_freezer_resolve_all(self, mountpoints, error);
	if (volumes == NULL)
		return FALSE;
	if (volumes->len == 0) {
		*out_count = 0;
		return TRUE;
	}
	g_mutex_lock(&self->state_lock);
	self->is_freezing = TRUE;
	g_mutex_unlock(&self->state_lock);

	qa_freezer_log_hold(self);
	ok = self->options.ops->freeze(self->options.ops_data, volumes, error);

	g_mutex_lock(&self->state_lock);
	self->is_freezing = FALSE;
	if (ok) {
		for (guint i = 0; i < volumes->len; i++)
			g_ptr_array_add(self->frozen, g_strdup(g_ptr_array_index(volumes, i)));
	}
	g_mutex_unlock(&self->state_lock);
	if (!ok) {
		qa_freezer_log_release(self);
		return FALSE;
	}
	*out_count = volumes->len;
	return TRUE;
}

gboolean
qa_freezer_freeze(QaFreezer *self, GPtrArray *mountpoints, guint *out_count, GError **error)
{
	gboolean ok;

	g_mutex_lock(&self->op_lock);
	ok = qa_freezer_freeze_locked(self, mountpoints, out_count, error);
	g_mutex_unlock(&self->op_lock);
	if (ok)
		g_message("froze volumes=%u", *out_count);
	return ok;
}

/* thaws the whole set; the volumes count as thawed whatever VSS says */
static gboolean
qa_freezer_thaw_all_locked(QaFreezer *self, guint *out_count, GError **error)
{
	gboolean ok;

	g_mutex_lock(&self->state_lock);
	*out_count = self->frozen->len;
	g_mutex_unlock(&self->state_lock);
	if (*out_count == 0)
		return TRUE;
	ok = self->options.ops->thaw(self->options.ops_data, error);
	g_mutex_lock(&self->state_lock);
	g_ptr_array_set_size(self->frozen, 0);
	g_mutex_unlock(&self->state_lock);
	qa_freezer_log_release(self);
	return ok;
}

static gboolean
qa_freezer_check_thaw_list(QaFreezer *self, GPtrArray *mountpoints, GError **error)
{
	const QaVssOps *ops = self->options.ops;
	guint matched = 0;

	for (guint i = 0; i < mountpoints->len; i++) {
		const gchar *name = g_ptr_array_index(mountpoints, i);
		g_autofree gchar *path = ops->resolve(self->options.ops_data, name, error);
		gboolean is_frozen;

		if (path == NULL) {
			g_prefix_error(error, "cannot thaw '%s': ", name);
			return FALSE;
		}
		g_mutex_lock(&self->state_lock);
		is_frozen = qa_freezer_contains(self->frozen, path);
		g_mutex_unlock(&self->state_lock);
		if (!is_frozen) {
			g_set_error(error,
				    QA_SYSTEM_ERROR,
				    QA_SYSTEM_ERROR_INVALID,
				    "Cannot thaw '%s': it is not frozen.",
				    name);
			return FALSE;
		}
		matched++;
	}
	g_mutex_lock(&self->state_lock);
	if (matched < self->frozen->len) {
		g_autofree gchar *held = qa_freezer_describe(self->frozen);
		g_mutex_unlock(&self->state_lock);
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_INVALID,
			    "VSS thaws a snapshot set as a whole: name every frozen volume (%s) or "
			    "none.",
			    held);
		return FALSE;
	}
	g_mutex_unlock(&self->state_lock);
	return TRUE;
}

gboolean
qa_freezer_thaw(QaFreezer *self, GPtrArray *mountpoints, guint *out_count, GError **error)
{
	gboolean ok = TRUE;

	g_mutex_lock(&self->op_lock);
	if (mountpoints != NULL && mountpoints->len > 0 &&
	    !qa_freezer_check_thaw_list(self, mountpoints, error))
		ok = FALSE;
	if (ok)
		ok = qa_freezer_thaw_all_locked(self, out_count, error);
	g_mutex_unlock(&self->op_lock);
	if (ok)
		g_message("thawed volumes=%u", *out_count);
	return ok;
}

guint
qa_freezer_thaw_for_shutdown(QaFreezer *self)
{
	g_autoptr(GError) error_local = NULL;
	guint count = 0;
	gboolean is_freezing;

	g_mutex_lock(&self->state_lock);
	is_freezing = self->is_freezing;
	g_mutex_unlock(&self->state_lock);
	/* a freeze in progress holds op_lock: make it give up, then take the lock */
	if (is_freezing && self->options.ops->abort != NULL)
		self->options.ops->abort(self->options.ops_data);
	g_mutex_lock(&self->op_lock);
	if (!qa_freezer_thaw_all_locked(self, &count, &error_local))
		g_warning("thawed volumes=%u on shutdown, but: %s", count, error_local->message);
	else if (count > 0)
		g_message("thawed volumes=%u on shutdown", count);
	g_mutex_unlock(&self->op_lock);
	return count;
}

gboolean
qa_freezer_is_any_frozen(QaFreezer *self)
{
	gboolean frozen;

	g_mutex_lock(&self->state_lock);
	frozen = self->frozen->len > 0;
	g_mutex_unlock(&self->state_lock);
	return frozen;
}

gboolean
qa_freezer_is_volume_frozen(QaFreezer *self, const gchar *mountpath)
{
	gboolean frozen;

	g_mutex_lock(&self->state_lock);
	frozen = qa_freezer_contains(self->frozen, mountpath);
	g_mutex_unlock(&self->state_lock);
	return frozen;
}

gboolean
qa_freezer_check_no_disks(const GPtrArray *disks, GError **error)
{
	if (disks == NULL)
		return TRUE;
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_UNSUPPORTED,
		    "Freezing or thawing by disk is not supported on Windows; name the volumes' "
		    "mountpoints instead.");
	return FALSE;
}

gboolean
qa_freezer_freeze_request(QaFreezer *self,
			  const QaFreezeRequest *request,
			  guint *out_count,
			  GError **error)
{
	if (!qa_freezer_check_no_disks(request != NULL ? request->disks : NULL, error))
		return FALSE;
	return qa_freezer_freeze(
	    self, request != NULL ? request->mountpoints : NULL, out_count, error);
}

gboolean
qa_freezer_thaw_request(QaFreezer *self,
			const QaFreezeRequest *request,
			guint *out_count,
			GError **error)
{
	if (!qa_freezer_check_no_disks(request != NULL ? request->disks : NULL, error))
		return FALSE;
	return qa_freezer_thaw(
	    self, request != NULL ? request->mountpoints : NULL, out_count, error);
}
