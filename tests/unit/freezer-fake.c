#include "freezer-fake.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdarg.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static const FakeFs *
fake_find(Fake *fake, const gchar *mountpoint)
{
	g_autofree gchar *base = g_path_get_basename(mountpoint);

	for (guint i = 0; i < fake->n_table; i++) {
		if (g_strcmp0(fake->table[i].name, base) == 0 ||
		    g_strcmp0(fake->table[i].alias, base) == 0)
			return &fake->table[i];
	}
	return NULL;
}

/* records "@op @name" and returns the fault injected for it, if any */
static gint
fake_record(Fake *fake, const gchar *op, const gchar *name)
{
	g_autofree gchar *call = g_strdup_printf("%s %s", op, name);
	gpointer fault;

	g_mutex_lock(&fake->lock);
	g_ptr_array_add(fake->calls, g_strdup(call));
	fault = g_hash_table_lookup(fake->faults, call);
	g_mutex_unlock(&fake->lock);
	return GPOINTER_TO_INT(fault);
}

static gint
fake_call(Fake *fake, const gchar *op, const gchar *mountpoint)
{
	const FakeFs *fs = fake_find(fake, mountpoint);
	return fake_record(fake, op, fs != NULL ? fs->name : "?");
}

static gint
fake_open(const gchar *mountpoint, guint major, guint minor, const gchar *fstype, gpointer data)
{
	gint fd = open(mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd >= 0 ? fd : -errno;
}

static gint
fake_freeze(gint fd, const gchar *mountpoint, gpointer data)
{
	Fake *fake = data;
	const FakeFs *fs = fake_find(fake, mountpoint);
	gint ret = fake_call(fake, "freeze", mountpoint);

	if (ret != 0)
		return ret;
	g_mutex_lock(&fake->lock);
	if (g_strcmp0(fake->stuck, fs->name) == 0) {
		while (!fake->is_stuck_released)
			g_cond_wait(&fake->cond, &fake->lock);
	}
	if (g_hash_table_contains(fake->kernel_frozen, fs->name))
		ret = -EBUSY;
	else
		g_hash_table_add(fake->kernel_frozen, g_strdup(fs->name));
	g_mutex_unlock(&fake->lock);
	return ret;
}

static gint
fake_thaw(gint fd, const gchar *mountpoint, gpointer data)
{
	Fake *fake = data;
	const FakeFs *fs = fake_find(fake, mountpoint);
	gint ret = fake_call(fake, "thaw", mountpoint);
	g_autofree gchar *stuck_as = g_strconcat("thaw ", fs->name, NULL);

	if (ret != 0)
		return ret;
	g_mutex_lock(&fake->lock);
	if (g_strcmp0(fake->stuck, stuck_as) == 0) {
		while (!fake->is_stuck_released)
			g_cond_wait(&fake->cond, &fake->lock);
	}
	if (!g_hash_table_remove(fake->kernel_frozen, fs->name))
		ret = -EINVAL;
	g_mutex_unlock(&fake->lock);
	return ret;
}

static gint
fake_sync(gint fd, const gchar *mountpoint, gpointer data)
{
	Fake *fake = data;

	if (fake->sync_us > 0)
		g_usleep(fake->sync_us);
	return fake_call(fake, "sync", mountpoint);
}

static gint
fake_checkpoint(gint fd, const gchar *mountpoint, const gchar *fstype, gpointer data)
{
	return fake_call(data, "checkpoint", mountpoint);
}

/* "expedite on" / "expedite off"; the fake kernel starts with normal grace periods */
static gint
fake_expedite_rcu(const QaRoots *roots, gboolean is_expedited, gpointer data)
{
	Fake *fake = data;
	gint ret = fake_record(fake, "expedite", is_expedited ? "on" : "off");
	gint was;

	if (ret != 0)
		return ret;
	g_mutex_lock(&fake->lock);
	was = fake->is_rcu_expedited;
	fake->is_rcu_expedited = is_expedited;
	g_mutex_unlock(&fake->lock);
	return was;
}

static gint
fake_trim(
    gint fd, const gchar *mountpoint, guint64 *inout_minimum, guint64 *out_trimmed, gpointer data)
{
	gint ret = fake_call(data, "trim", mountpoint);

	if (ret != 0)
		return ret;
	*out_trimmed = 4096;
	*inout_minimum = MAX(*inout_minimum, 512);
	return 0;
}

/* the real write (not a kernel call: not in fake->calls); while fake->stuck is "save", a
 * write of a complete frozen set (the end of a freeze) blocks until released */
static gboolean
fake_save_state(const gchar *statedir, const QaState *state, gpointer data, GError **error)
{
	Fake *fake = data;

	g_mutex_lock(&fake->lock);
	if (g_strcmp0(fake->stuck, "save") == 0 && state->is_complete &&
	    state->filesystems->len > 0) {
		while (!fake->is_stuck_released)
			g_cond_wait(&fake->cond, &fake->lock);
	}
	g_mutex_unlock(&fake->lock);
	return qa_state_file_save(statedir, state, error);
}

static GPtrArray *
fake_load_filesystems(const QaRoots *roots, gpointer data, GError **error)
{
	Fake *fake = data;
	GPtrArray *filesystems = g_ptr_array_new_with_free_func((GDestroyNotify)qa_filesystem_free);

	for (guint i = 0; i < fake->n_table; i++) {
		const FakeFs *row = &fake->table[i];
		QaFilesystem *fs = qa_filesystem_new(250, i + 1, row->fstype, row->name);

		g_ptr_array_add(fs->mountpoints, fake_path(fake, row->name));
		if (row->alias != NULL)
			g_ptr_array_add(fs->mountpoints, fake_path(fake, row->alias));
		fs->is_block_backed = row->is_block_backed;
		g_ptr_array_add(filesystems, fs);
	}
	/* the host's root, which confinement must keep out of reach */
	{
		QaFilesystem *fs = qa_filesystem_new(251, 1, "ext4", "/dev/host");
		g_ptr_array_add(fs->mountpoints, g_strdup("/"));
		fs->is_block_backed = TRUE;
		g_ptr_array_add(filesystems, fs);
	}
	return filesystems;
}

/* what each filesystem is stored on, from the table's stored_on names */
static GPtrArray *
fake_depends_on(const QaRoots *roots,
		GPtrArray *filesystems,
		GPtrArray *selected,
		gpointer data,
		GError **error)
{
	Fake *fake = data;
	GPtrArray *depends = g_ptr_array_new_with_free_func((GDestroyNotify)g_array_unref);

	for (guint i = 0; i < filesystems->len; i++) {
		QaFilesystem *fs = g_ptr_array_index(filesystems, i);
		GArray *below = g_array_new(FALSE, FALSE, sizeof(guint));
		const gchar *stored_on =
		    fs->major == 250 ? fake->table[fs->minor - 1].stored_on : NULL;

		for (guint j = 0; stored_on != NULL && j < filesystems->len; j++) {
			QaFilesystem *other = g_ptr_array_index(filesystems, j);
			if (g_strcmp0(other->source, stored_on) == 0)
				g_array_append_val(below, j);
		}
		g_ptr_array_add(depends, below);
	}
	return depends;
}

/* every serial the table names, in order of first mention, then "SPARE" */
static GPtrArray *
fake_disk_serials(Fake *fake)
{
	GPtrArray *serials = g_ptr_array_new_with_free_func(g_free);

	for (guint i = 0; i < fake->n_table; i++) {
		g_auto(GStrv) names =
		    g_strsplit(fake->table[i].disks ? fake->table[i].disks : "", ",", -1);
		for (guint j = 0; names[j] != NULL; j++) {
			if (names[j][0] != '\0' &&
			    !g_ptr_array_find_with_equal_func(serials, names[j], g_str_equal, NULL))
				g_ptr_array_add(serials, g_strdup(names[j]));
		}
	}
	g_ptr_array_add(serials, g_strdup("SPARE"));
	return serials;
}

static QaDiskAddress *
fake_disk(const gchar *serial, guint index)
{
	QaDiskAddress *disk = qa_disk_address_new();

	disk->bus_type = QA_BLOCKDEV_BUS_VIRTIO;
	disk->pci = (QaPciAddress){0, 0, (gint)index + 1, 0};
	disk->major = 260;
	disk->minor = index;
	disk->serial = g_strdup(serial);
	disk->dev = g_strdup_printf("/dev/fake%s", serial);
	return disk;
}

/* what each filesystem is stored on, from the table's disks */
static QaBlockdevStorage *
fake_storage_of(Fake *fake, QaFilesystem *fs, GPtrArray *serials)
{
	QaBlockdevStorage *storage = g_new0(QaBlockdevStorage, 1);
	const gchar *disks = fs->major == 250 ? fake->table[fs->minor - 1].disks : NULL;
	g_auto(GStrv) names = g_strsplit(disks != NULL ? disks : "", ",", -1);
	dev_t own = makedev(fs->major, fs->minor);

	storage->devices = g_array_new(FALSE, FALSE, sizeof(dev_t));
	storage->disks = g_ptr_array_new_with_free_func((GDestroyNotify)qa_disk_address_free);
	g_array_append_val(storage->devices, own);
	for (guint i = 0; names[i] != NULL; i++) {
		guint index = 0;
		dev_t devnum;

		if (!g_ptr_array_find_with_equal_func(serials, names[i], g_str_equal, &index))
			continue;
		devnum = makedev(260, index);
		g_array_append_val(storage->devices, devnum);
		g_ptr_array_add(storage->disks, fake_disk(names[i], index));
	}
	return storage;
}

static QaDiskSelectStorage *
fake_load_storage(const QaRoots *roots,
		  GPtrArray *filesystems,
		  GPtrArray *selectors,
		  gpointer data,
		  GError **error)
{
	Fake *fake = data;
	g_autoptr(GPtrArray) serials = fake_disk_serials(fake);
	QaDiskSelectStorage *storage = g_new0(QaDiskSelectStorage, 1);

	storage->storages =
	    g_ptr_array_new_with_free_func((GDestroyNotify)qa_blockdev_storage_free);
	storage->disks = g_ptr_array_new_with_free_func((GDestroyNotify)qa_disk_address_free);
	storage->devices = g_array_new(FALSE, FALSE, sizeof(dev_t));
	for (guint i = 0; i < filesystems->len; i++)
		g_ptr_array_add(storage->storages,
				fake_storage_of(fake, g_ptr_array_index(filesystems, i), serials));
	for (guint i = 0; i < serials->len; i++) {
		dev_t devnum = makedev(260, i);
		g_ptr_array_add(storage->disks, fake_disk(g_ptr_array_index(serials, i), i));
		g_array_append_val(storage->devices, devnum);
	}
	/* a dev names a disk of the fake: "/dev/fake<serial>" */
	for (guint i = 0; selectors != NULL && i < selectors->len; i++) {
		QaDiskSelector *selector = g_ptr_array_index(selectors, i);
		guint index = 0;
		dev_t devnum;

		selector->dev_devnum = selector->dev_disk_devnum = 0;
		if (selector->dev_disks == NULL)
			selector->dev_disks = g_array_new(FALSE, FALSE, sizeof(dev_t));
		g_array_set_size(selector->dev_disks, 0);
		if (selector->dev == NULL || !g_str_has_prefix(selector->dev, "/dev/fake") ||
		    !g_ptr_array_find_with_equal_func(
			serials, selector->dev + strlen("/dev/fake"), g_str_equal, &index))
			continue;
		devnum = makedev(260, index);
		selector->dev_devnum = selector->dev_disk_devnum = devnum;
		g_array_append_val(selector->dev_disks, devnum);
	}
	return storage;
}

static GPtrArray *
fake_freeze_levels(const QaRoots *roots, GPtrArray *filesystems, gpointer data, GError **error)
{
	Fake *fake = data;
	GPtrArray *levels = g_ptr_array_new_with_free_func((GDestroyNotify)g_ptr_array_unref);

	for (guint i = 0; i < filesystems->len; i++) {
		QaFilesystem *fs = g_ptr_array_index(filesystems, i);
		guint level = fake->table[fs->minor - 1].level;

		while (levels->len <= level)
			g_ptr_array_add(levels, g_ptr_array_new());
		g_ptr_array_add(g_ptr_array_index(levels, level), fs);
	}
	for (guint i = levels->len; i > 0; i--) {
		if (((GPtrArray *)g_ptr_array_index(levels, i - 1))->len == 0)
			g_ptr_array_remove_index(levels, i - 1);
	}
	return levels;
}

void
fake_set_dirty_kib(Fake *fake, gint64 kib)
{
	g_autofree gchar *path = g_build_filename(fake->roots->proc, "meminfo", NULL);
	g_autofree gchar *text = NULL;

	if (kib < 0) {
		g_unlink(path);
		return;
	}
	text = g_strdup_printf("MemTotal:       16000000 kB\n"
			       "Dirty:          %8" G_GINT64_FORMAT " kB\n"
			       "Writeback:             0 kB\n"
			       "WritebackTmp:          0 kB\n",
			       kib);
	g_assert_true(g_file_set_contents(path, text, -1, NULL));
}

Fake *
fake_new(const FakeFs *table, guint n_table)
{
	Fake *fake = g_new0(Fake, 1);

	fake->dir = g_dir_make_tmp("qa-freezer-XXXXXX", NULL);
	g_assert_nonnull(fake->dir);
	/* the freezer wants its state on a memory filesystem, which /tmp need not be */
	fake->statedir = g_strdup("/dev/shm/qa-freezer-state-XXXXXX");
	g_assert_nonnull(g_mkdtemp_full(fake->statedir, 0700));
	fake->table = table;
	fake->n_table = n_table;
	for (guint i = 0; i < n_table; i++) {
		g_autofree gchar *path = fake_path(fake, table[i].name);
		g_mkdir(path, 0755);
		if (table[i].alias != NULL) {
			g_autofree gchar *alias = fake_path(fake, table[i].alias);
			g_mkdir(alias, 0755);
		}
	}
	{
		/* the dirty counts the freezer reads are the fake's: enough to flush by default */
		g_autofree gchar *proc = g_build_filename(fake->dir, "proc", NULL);
		g_mkdir(proc, 0755);
		fake->roots = qa_roots_new(proc, "/sys", "/dev", FALSE);
		fake_set_dirty_kib(fake, 8192);
	}
	fake->roots->confine = g_strdup(fake->dir);
	g_mutex_init(&fake->lock);
	g_cond_init(&fake->cond);
	fake->calls = g_ptr_array_new_with_free_func(g_free);
	fake->answers = g_ptr_array_new_with_free_func(g_free);
	fake->kernel_frozen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	fake->faults = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	fake->ops.open = fake_open;
	fake->ops.freeze = fake_freeze;
	fake->ops.thaw = fake_thaw;
	fake->ops.sync = fake_sync;
	fake->ops.trim = fake_trim;
	fake->ops.checkpoint = fake_checkpoint;
	fake->ops.expedite_rcu = fake_expedite_rcu;
	fake->ops.load_filesystems = fake_load_filesystems;
	fake->ops.freeze_levels = fake_freeze_levels;
	fake->ops.save_state = fake_save_state;
	fake->ops.depends_on = fake_depends_on;
	fake->ops.load_storage = fake_load_storage;
	fake->options.roots = fake->roots;
	fake->options.statedir = fake->statedir;
	fake->options.hook_timeout_ms = 5000;
	fake->options.expedites_rcu = TRUE; /* the agent's default */
	fake->options.ops = &fake->ops;
	fake->options.ops_data = fake;
	return fake;
}

void
fake_free(Fake *fake)
{
	g_autofree gchar *cmd = NULL;

	if (fake == NULL)
		return;
	cmd = g_strdup_printf("rm -rf '%s' '%s'", fake->dir, fake->statedir);
	g_assert_cmpint(system(cmd), ==, 0);
	g_free(fake->dir);
	g_free(fake->statedir);
	g_free(fake->stuck);
	qa_roots_free(fake->roots);
	g_ptr_array_unref(fake->calls);
	g_ptr_array_unref(fake->answers);
	g_hash_table_unref(fake->kernel_frozen);
	g_hash_table_unref(fake->faults);
	g_mutex_clear(&fake->lock);
	g_cond_clear(&fake->cond);
	g_free(fake);
}

gchar *
fake_path(Fake *fake, const gchar *name)
{
	return g_build_filename(fake->dir, name, NULL);
}

GPtrArray *
fake_paths(Fake *fake, ...)
{
	GPtrArray *paths = g_ptr_array_new_with_free_func(g_free);
	va_list args;

	va_start(args, fake);
	for (const gchar *name = va_arg(args, const gchar *); name != NULL;
	     name = va_arg(args, const gchar *))
		g_ptr_array_add(paths, name[0] == '/' ? g_strdup(name) : fake_path(fake, name));
	va_end(args);
	return paths;
}

const gchar *
fake_calls(Fake *fake, const gchar *op)
{
	g_autoptr(GString) out = g_string_new(NULL);
	g_autofree gchar *prefix = g_strdup_printf("%s ", op);

	g_mutex_lock(&fake->lock);
	for (guint i = 0; i < fake->calls->len; i++) {
		const gchar *call = g_ptr_array_index(fake->calls, i);
		if (!g_str_has_prefix(call, prefix))
			continue;
		if (out->len > 0)
			g_string_append_c(out, ' ');
		g_string_append(out, call + strlen(prefix));
	}
	g_ptr_array_add(fake->answers, g_string_free(g_steal_pointer(&out), FALSE));
	g_mutex_unlock(&fake->lock);
	return g_ptr_array_index(fake->answers, fake->answers->len - 1);
}

void
fake_clear_calls(Fake *fake)
{
	g_mutex_lock(&fake->lock);
	g_ptr_array_set_size(fake->calls, 0);
	g_mutex_unlock(&fake->lock);
}

void
fake_set_fault(Fake *fake, const gchar *op, const gchar *name, gint neg_errno)
{
	g_mutex_lock(&fake->lock);
	g_hash_table_insert(
	    fake->faults, g_strdup_printf("%s %s", op, name), GINT_TO_POINTER(neg_errno));
	g_mutex_unlock(&fake->lock);
}

void
fake_kernel_freeze(Fake *fake, const gchar *name)
{
	g_mutex_lock(&fake->lock);
	g_hash_table_add(fake->kernel_frozen, g_strdup(name));
	g_mutex_unlock(&fake->lock);
}

gboolean
fake_kernel_is_frozen(Fake *fake, const gchar *name)
{
	gboolean ret;

	g_mutex_lock(&fake->lock);
	ret = g_hash_table_contains(fake->kernel_frozen, name);
	g_mutex_unlock(&fake->lock);
	return ret;
}

guint
fake_kernel_n_frozen(Fake *fake)
{
	guint ret;

	g_mutex_lock(&fake->lock);
	ret = g_hash_table_size(fake->kernel_frozen);
	g_mutex_unlock(&fake->lock);
	return ret;
}

void
fake_release_stuck(Fake *fake)
{
	g_mutex_lock(&fake->lock);
	fake->is_stuck_released = TRUE;
	g_cond_broadcast(&fake->cond);
	g_mutex_unlock(&fake->lock);
}
