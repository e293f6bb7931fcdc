/* Cleanups for the C libraries the system model uses. libmount and libudev have no typedefs, so
 * they are declared once here instead of at every use. */
#pragma once

#include <glib.h>
#include <libmount.h>
#include <libudev.h>
#include "qa-fd.h"

typedef struct libmnt_table libmnt_table;
typedef struct libmnt_fs libmnt_fs;
typedef struct libmnt_iter libmnt_iter;
typedef struct udev udev;
typedef struct udev_device udev_device;

G_DEFINE_AUTOPTR_CLEANUP_FUNC(libmnt_table, mnt_unref_table)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(libmnt_fs, mnt_unref_fs)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(libmnt_iter, mnt_free_iter)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(udev, udev_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(udev_device, udev_device_unref)
