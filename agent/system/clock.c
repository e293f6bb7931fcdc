#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/rtc.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>

#include "child.h"
#include "qa-error.h"
#include "qa-fd.h"

#define QA_CLOCK_NS_PER_SECOND G_GINT64_CONSTANT(1000000000)
/* an RTC ticks once a second: its update interrupt comes within this, or never */
#define QA_CLOCK_RTC_TICK_MS 1500

gboolean
qa_clock_get_ns(gint64 *out_ns, GError **error)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot read the system clock: %s",
			    g_strerror(errno));
		return FALSE;
	}
	*out_ns = (gint64)ts.tv_sec * QA_CLOCK_NS_PER_SECOND + ts.tv_nsec;
	return TRUE;
}

gboolean
qa_clock_check_ns(gint64 ns, GError **error)
{
	if (ns >= 0 && ns / QA_CLOCK_NS_PER_SECOND < QA_CLOCK_END_SECONDS)
		return TRUE;
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_INVALID,
		    "Invalid time %" G_GINT64_FORMAT
		    ": expected nanoseconds since the epoch from 0 (1970-01-01) to "
		    "%" G_GINT64_FORMAT " (2069-12-31T23:59:59.999999999Z)",
		    ns,
		    QA_CLOCK_END_SECONDS * QA_CLOCK_NS_PER_SECOND - 1);
	return FALSE;
}

gboolean
qa_clock_adjtime_parse(const gchar *text, gboolean *out_is_local, GError **error)
{
	g_auto(GStrv) lines = g_strsplit(text != NULL ? text : "", "\n", 4);
	g_autofree gchar *scale = NULL;

	/* hwclock(8): drift, last calibration, then UTC or LOCAL; without a third line, UTC */
	if (g_strv_length(lines) < 3 || g_strstrip(lines[2])[0] == '\0') {
		*out_is_local = FALSE;
		return TRUE;
	}
	scale = g_strdup(lines[2]);
	if (g_strcmp0(scale, "UTC") == 0 || g_strcmp0(scale, "LOCAL") == 0) {
		*out_is_local = g_strcmp0(scale, "LOCAL") == 0;
		return TRUE;
	}
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_PARSE,
		    "Cannot parse the hardware clock's time scale '%s': expected UTC or LOCAL",
		    scale);
	return FALSE;
}

gboolean
qa_clock_tm_to_seconds(const struct tm *tm, gboolean is_local, gint64 *out_seconds, GError **error)
{
	struct tm copy = *tm;
	time_t seconds;

	/* timegm() and mktime() would roll a 31st of February over into March */
	if (tm->tm_year < 70 || tm->tm_year > 9999 - 1900 || tm->tm_mon < 0 || tm->tm_mon > 11 ||
	    tm->tm_mday < 1 ||
	    tm->tm_mday > g_date_get_days_in_month(tm->tm_mon + 1, tm->tm_year + 1900) ||
	    tm->tm_hour < 0 || tm->tm_hour > 23 || tm->tm_min < 0 || tm->tm_min > 59 ||
	    tm->tm_sec < 0 || tm->tm_sec > 59) {
		g_set_error(
		    error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_INVALID,
		    "The hardware clock holds an invalid time %04d-%02d-%02d %02d:%02d:%02d; "
		    "expected a date from 1970 on",
		    tm->tm_year + 1900,
		    tm->tm_mon + 1,
		    tm->tm_mday,
		    tm->tm_hour,
		    tm->tm_min,
		    tm->tm_sec);
		return FALSE;
	}
	copy.tm_isdst = -1;
	seconds = is_local ? mktime(&copy) : timegm(&copy);
	if (seconds == (time_t)-1 || seconds < 0) {
		g_set_error(
		    error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_INVALID,
		    "The hardware clock's time %04d-%02d-%02d %02d:%02d:%02d (%s) is before "
		    "the epoch",
		    tm->tm_year + 1900,
		    tm->tm_mon + 1,
		    tm->tm_mday,
		    tm->tm_hour,
		    tm->tm_min,
		    tm->tm_sec,
		    is_local ? "local time" : "UTC");
		return FALSE;
	}
	*out_seconds = seconds;
	return TRUE;
}

gboolean
qa_clock_seconds_to_tm(gint64 seconds, gboolean is_local, struct tm *out_tm, GError **error)
{
	time_t t = (time_t)seconds;

	memset(out_tm, 0, sizeof(*out_tm));
	if ((gint64)t != seconds ||
	    (is_local ? localtime_r(&t, out_tm) : gmtime_r(&t, out_tm)) == NULL) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_INVALID,
			    "Cannot convert %" G_GINT64_FORMAT " seconds since the epoch to a date",
			    seconds);
		return FALSE;
	}
	return TRUE;
}

gboolean
qa_clock_set_system(gint64 ns, GError **error)
{
	struct timespec ts = {
	    .tv_sec = (time_t)(ns / QA_CLOCK_NS_PER_SECOND),
	    .tv_nsec = (long)(ns % QA_CLOCK_NS_PER_SECOND),
	};

	g_return_val_if_fail(ns >= 0, FALSE);
	if (clock_settime(CLOCK_REALTIME, &ts) != 0) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot set the system clock: %s",
			    g_strerror(errno));
		return FALSE;
	}
	g_message("clock set system ns=%" G_GINT64_FORMAT, ns);
	return TRUE;
}

/* UTC unless /etc/adjtime says LOCAL, as hwclock reads it */
static gboolean
qa_clock_rtc_is_local(gboolean *out_is_local, GError **error)
{
	g_autofree gchar *text = NULL;
	g_autoptr(GError) error_local = NULL;

	if (!g_file_get_contents(QA_CLOCK_ADJTIME, &text, NULL, &error_local)) {
		if (g_error_matches(error_local, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
			*out_is_local = FALSE;
			return TRUE;
		}
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot read '%s': %s",
			    QA_CLOCK_ADJTIME,
			    error_local->message);
		return FALSE;
	}
	if (!qa_clock_adjtime_parse(text, out_is_local, error)) {
		g_prefix_error(error, "'%s': ", QA_CLOCK_ADJTIME);
		return FALSE;
	}
	return TRUE;
}

/* <dev>/rtc0, else <dev>/rtc, the devices hwclock tries first */
static int
qa_clock_rtc_open(const QaRoots *roots, gchar **out_path, GError **error)
{
	g_autofree gchar *path0 = g_build_filename(roots->dev, "rtc0", NULL);
	g_autofree gchar *path = g_build_filename(roots->dev, "rtc", NULL);
	const gchar *failed = path0;
	int fd = open(path0, O_RDONLY | O_CLOEXEC);
	int saved_errno = errno;

	if (fd >= 0) {
		*out_path = g_steal_pointer(&path0);
		return fd;
	}
	if (saved_errno == ENOENT) {
		failed = path;
		fd = open(path, O_RDONLY | O_CLOEXEC);
		saved_errno = errno;
		if (fd >= 0) {
			*out_path = g_steal_pointer(&path);
			return fd;
		}
	}
	if (saved_errno == ENOENT) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_NOT_FOUND,
			    "The guest has no hardware clock the agent can use: 'hwclock' is not "
			    "installed, and neither '%s' nor '%s' exists",
			    path0,
			    path);
		return -1;
	}
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_FAILED,
		    "Cannot open the hardware clock '%s' ('hwclock' is not installed): %s",
		    failed,
		    g_strerror(saved_errno));
	return -1;
}

/* Waits for the RTC's next second, so that the time read is exact to the tick rather than up to
 * a second behind. An RTC without update interrupts is read at once. */
static void
qa_clock_rtc_wait_tick(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	unsigned long data = 0;

	if (ioctl(fd, RTC_UIE_ON, 0) != 0)
		return;
	if (poll(&pfd, 1, QA_CLOCK_RTC_TICK_MS) > 0 && read(fd, &data, sizeof(data)) < 0)
		g_debug("cannot read the rtc update interrupt, ignoring: %s", g_strerror(errno));
	ioctl(fd, RTC_UIE_OFF, 0);
}

static void
qa_clock_tm_from_rtc(const struct rtc_time *rtc, struct tm *out_tm)
{
	memset(out_tm, 0, sizeof(*out_tm));
	out_tm->tm_sec = rtc->tm_sec;
	out_tm->tm_min = rtc->tm_min;
	out_tm->tm_hour = rtc->tm_hour;
	out_tm->tm_mday = rtc->tm_mday;
	out_tm->tm_mon = rtc->tm_mon;
	out_tm->tm_year = rtc->tm_year;
}

static gboolean
qa_clock_rtc_read(const QaRoots *roots, gboolean is_local, gint64 *out_seconds, GError **error)
{
	g_autofree gchar *path = NULL;
	g_auto(QaFd) fd = qa_clock_rtc_open(roots, &path, error);
	struct rtc_time rtc = {0};
	struct tm tm;

	if (fd < 0)
		return FALSE;
	qa_clock_rtc_wait_tick(fd);
	if (ioctl(fd, RTC_RD_TIME, &rtc) != 0) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot read the hardware clock '%s': %s",
			    path,
			    g_strerror(errno));
		return FALSE;
	}
	qa_clock_tm_from_rtc(&rtc, &tm);
	return qa_clock_tm_to_seconds(&tm, is_local, out_seconds, error);
}

/* Writes the system clock's next whole second at that second: an emulated RTC (QEMU's) starts
 * counting the second when it is written, so this is exact there; a PC's CMOS clock may run up
 * to half a second off, which hwclock, when installed, avoids. */
static gboolean
qa_clock_rtc_write(const QaRoots *roots, gboolean is_local, GError **error)
{
	g_autofree gchar *path = NULL;
	g_auto(QaFd) fd = qa_clock_rtc_open(roots, &path, error);
	struct timespec now = {0};
	struct timespec tick = {0};
	struct rtc_time rtc = {0};
	struct tm tm;

	if (fd < 0)
		return FALSE;
	clock_gettime(CLOCK_REALTIME, &now);
	tick.tv_sec = now.tv_sec + 1;
	while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &tick, NULL) == EINTR)
		;
	if (!qa_clock_seconds_to_tm(tick.tv_sec, is_local, &tm, error))
		return FALSE;
	rtc.tm_sec = tm.tm_sec;
	rtc.tm_min = tm.tm_min;
	rtc.tm_hour = tm.tm_hour;
	rtc.tm_mday = tm.tm_mday;
	rtc.tm_mon = tm.tm_mon;
	rtc.tm_year = tm.tm_year;
	rtc.tm_wday = tm.tm_wday;
	rtc.tm_yday = tm.tm_yday;
	if (ioctl(fd, RTC_SET_TIME, &rtc) != 0) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_FAILED,
			    "Cannot write the hardware clock '%s': %s",
			    path,
			    g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

/* hwclock with @option (-w: --systohc, -s: --hctosys; the short forms, which busybox's
 * hwclock also knows), when installed: TRUE with @out_has_run FALSE when it is not */
static gboolean
qa_clock_run_hwclock(const gchar *option, gboolean *out_has_run, GError **error)
{
	g_autofree gchar *path = qa_child_find_program(QA_CHILD_ADMIN_PATH, "hwclock");
	gchar *argv[] = {path, (gchar *)option, NULL};

	*out_has_run = path != NULL;
	if (path == NULL)
		return TRUE;
	g_message("clock command=%s %s", path, option);
	return qa_child_run_checked((const gchar *const *)argv, QA_CHILD_TOOL_TIMEOUT_MS, error);
}

gboolean
qa_clock_system_to_hardware(const QaRoots *roots, GError **error)
{
	gboolean has_run = FALSE;
	gboolean is_local = FALSE;

	if (!qa_clock_run_hwclock("-w", &has_run, error))
		return FALSE;
	if (has_run)
		return TRUE;
	if (!qa_clock_rtc_is_local(&is_local, error))
		return FALSE;
	return qa_clock_rtc_write(roots, is_local, error);
}

gboolean
qa_clock_hardware_to_system(const QaRoots *roots, GError **error)
{
	gboolean has_run = FALSE;
	gboolean is_local = FALSE;
	gint64 seconds = 0;

	if (!qa_clock_run_hwclock("-s", &has_run, error))
		return FALSE;
	if (has_run)
		return TRUE;
	if (!qa_clock_rtc_is_local(&is_local, error))
		return FALSE;
	if (!qa_clock_rtc_read(roots, is_local, &seconds, error))
		return FALSE;
	/* the range guest-set-time accepts, checked before the multiplication overflows */
	if (seconds >= QA_CLOCK_END_SECONDS) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_INVALID,
			    "The hardware clock's time (%" G_GINT64_FORMAT
			    " seconds since the epoch) is after 2069; expected a time the system "
			    "clock is set to",
			    seconds);
		return FALSE;
	}
	return qa_clock_set_system(seconds * QA_CLOCK_NS_PER_SECOND, error);
}
