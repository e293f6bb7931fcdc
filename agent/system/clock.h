/* The guest's clocks: the system clock (CLOCK_REALTIME) and the hardware clock (the RTC), set
 * from each other. The hardware clock is written and read by the admin's hwclock when installed
 * (it honours /etc/adjtime's UTC or LOCAL and its drift), else through the RTC's ioctls.
 *
 * Pure parts (the range of times accepted, /etc/adjtime, broken-down RTC times) are apart from
 * the functions that touch the clocks, so that tests feed them values. */
#pragma once

#include <glib.h>
#include <time.h>

#include "roots.h"

/* the file hwclock keeps the RTC's time scale and drift in; hwclock --systohc rewrites it */
#define QA_CLOCK_ADJTIME "/etc/adjtime"
/* the first second the agent refuses to set, 2070-01-01T00:00:00Z: qemu-ga accepts the years
 * 1970 to 2069, which the RTC of a PC (two BCD year digits) can hold */
#define QA_CLOCK_END_SECONDS G_GINT64_CONSTANT(3155760000)

/* nanoseconds since the epoch on CLOCK_REALTIME */
gboolean
qa_clock_get_ns(gint64 *out_ns, GError **error);
/* FALSE with QA_SYSTEM_ERROR_INVALID unless @ns is in [1970-01-01, 2070-01-01) UTC */
gboolean
qa_clock_check_ns(gint64 ns, GError **error);
/* the third line of /etc/adjtime: "UTC" or "LOCAL"; NULL or an empty @text means UTC */
gboolean
qa_clock_adjtime_parse(const gchar *text, gboolean *out_is_local, GError **error);
/* seconds since the epoch of an RTC's broken-down time, refusing fields out of range */
gboolean
qa_clock_tm_to_seconds(const struct tm *tm, gboolean is_local, gint64 *out_seconds, GError **error);
/* the broken-down time an RTC holds for @seconds */
gboolean
qa_clock_seconds_to_tm(gint64 seconds, gboolean is_local, struct tm *out_tm, GError **error);

/* clock_settime(CLOCK_REALTIME); @ns must have passed qa_clock_check_ns() */
gboolean
qa_clock_set_system(gint64 ns, GError **error);
/* writes the hardware clock from the system clock (hwclock -w, --systohc) */
gboolean
qa_clock_system_to_hardware(const QaRoots *roots, GError **error);
/* sets the system clock from the hardware clock (hwclock -s, --hctosys) */
gboolean
qa_clock_hardware_to_system(const QaRoots *roots, GError **error);
