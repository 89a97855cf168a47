/* SPDX-License-Identifier: MIT */
/*
 * Daemon logging: one line per message on stderr. When stderr is the
 * journal (JOURNAL_STREAM names it), each line is prefixed with the syslog
 * priority in angle brackets ("<3>...") so journald files it under the
 * right level; elsewhere with the local time, asymcached[PID] and the
 * level's name ("2025-01-31T12:00:00.123+0100 asymcached[42] err: ...").
 * Only the daemon logs; the libraries it links return -errno instead.
 */
#ifndef AC_DAEMON_LOG_H
#define AC_DAEMON_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <syslog.h>

void log_set_max_level(int level);
/* "emerg".."debug" or "0".."7"; returns the level or -EINVAL. */
int log_level_from_string(const char *s);

void log_internal(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/*
 * Logs with errno set to -err, so "%m" prints the error, and returns err
 * (negative) so callers can "return log_errno(LOG_ERR, r, ...)".
 */
int log_errno_internal(int level, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * A message about one client session. When stderr is the journal (systemd
 * sets JOURNAL_STREAM to its device:inode), it is sent with sd-journal and
 * carries ASYMCACHE_SESSION= and ASYMCACHE_CLIENT_PID= fields, so
 * `journalctl ASYMCACHE_SESSION=12` shows one client's story; elsewhere it
 * is the same line as log_internal().
 */
void log_session_internal(int level, uint64_t session, pid_t pid,
			  const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/*
 * Re-reads JOURNAL_STREAM and stderr, which pick the line format above;
 * the daemon calls it once at start.
 */
void log_open(void);
/* Whether stderr is the journal (as log_open() found it). */
bool log_is_journal(void);

#define log_session(level, sid, pid, ...) \
	log_session_internal((level), (sid), (pid), __VA_ARGS__)

#define log_debug(...)	log_internal(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)	log_internal(LOG_INFO, __VA_ARGS__)
#define log_notice(...)	log_internal(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_internal(LOG_WARNING, __VA_ARGS__)
#define log_error(...)	log_internal(LOG_ERR, __VA_ARGS__)
#define log_error_errno(r, ...) log_errno_internal(LOG_ERR, (r), __VA_ARGS__)
#define log_warning_errno(r, ...) \
	log_errno_internal(LOG_WARNING, (r), __VA_ARGS__)

#endif /* AC_DAEMON_LOG_H */
