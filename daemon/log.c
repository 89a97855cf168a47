/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int log_max_level = LOG_INFO;
static bool log_to_journal;

void log_open(void)
{
	unsigned long long dev, ino;
	const char *e = getenv("JOURNAL_STREAM");
	struct stat st;

	/*
	 * Only when fd 2 is still the stream systemd connected: a daemon
	 * started by hand from a journal-attached shell inherits the
	 * variable with a different stderr.
	 */
	log_to_journal = e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 &&
			 fstat(2, &st) == 0 && st.st_dev == dev &&
			 st.st_ino == ino;
}

bool log_is_journal(void)
{
	return log_to_journal;
}

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg",
	[LOG_ALERT] = "alert",
	[LOG_CRIT] = "crit",
	[LOG_ERR] = "err",
	[LOG_WARNING] = "warning",
	[LOG_NOTICE] = "notice",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

void log_set_max_level(int level)
{
	if (level >= LOG_EMERG && level <= LOG_DEBUG)
		log_max_level = level;
}

int log_level_from_string(const char *s)
{
	unsigned int i;

	if (!s || !*s)
		return -EINVAL;
	if (s[0] >= '0' && s[0] <= '7' && s[1] == '\0')
		return s[0] - '0';
	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(s, level_names[i]) == 0)
			return (int)i;
	/* Accept the spelling systemd and syslog tools also use. */
	if (strcmp(s, "error") == 0)
		return LOG_ERR;
	if (strcmp(s, "warn") == 0)
		return LOG_WARNING;
	return -EINVAL;
}

/*
 * Under the journal, "<N>" alone: journald reads the level from it and
 * stamps the time itself. Anywhere else (a terminal, a file, a container's
 * log collector) the reader has neither, so the line carries a local ISO
 * 8601 time with milliseconds, the process and the level's name.
 */
static int log_prefix(char *buf, size_t len, int level)
{
	struct timespec ts;
	struct tm tm;
	char date[32], zone[8];

	if (log_to_journal)
		return snprintf(buf, len, "<%d>", level);
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	strftime(zone, sizeof(zone), "%z", &tm);
	return snprintf(buf, len, "%s.%03ld%s asymcached[%d] %s: ", date,
			ts.tv_nsec / 1000000, zone, (int)getpid(),
			level_names[level]);
}

static void log_vline(int level, const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	/*
	 * Format the whole line first and write it with one call, so lines of
	 * concurrent writers (forked tests share stderr) never interleave.
	 */
	n = log_prefix(line, sizeof(line) - 1, level);
	vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	n = strlen(line);
	line[n++] = '\n';
	fwrite(line, 1, n, stderr);
}

void log_internal(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_max_level)
		return;
	va_start(ap, fmt);
	log_vline(level, fmt, ap);
	va_end(ap);
}

int log_errno_internal(int level, int err, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	if (level > log_max_level)
		return err;
	errno = err < 0 ? -err : err;
	va_start(ap, fmt);
	log_vline(level, fmt, ap);
	va_end(ap);
	errno = saved;
	return err;
}

void log_session_internal(int level, uint64_t session, pid_t pid,
			  const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (level > log_max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (log_to_journal &&
	    sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%d", level,
			    "SYSLOG_IDENTIFIER=asymcached",
			    "ASYMCACHE_SESSION=%llu",
			    (unsigned long long)session,
			    "ASYMCACHE_CLIENT_PID=%d", (int)pid, NULL) >= 0)
		return;
	log_internal(level, "%s", msg);
}
