/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One-line-per-event logging to stderr:
 *   2026-05-01T10:00:00Z warn proxy upstream closed early r=9f3a bucket=b1
 * Never pass secrets, keys, signatures or plaintext to these functions.
 */
#ifndef CORE_LOG_H
#define CORE_LOG_H

enum core_log_level {
    CORE_LOG_ERROR = 0,
    CORE_LOG_WARN,
    CORE_LOG_NOTICE,
    CORE_LOG_INFO,
    CORE_LOG_DEBUG,
};

/* Sets the most verbose level that is written; the default is NOTICE. */
void core_log_set_level(enum core_log_level level);

/* Parses "error", "warn", "notice", "info" or "debug"; returns -1 if unknown. */
int core_log_level_parse(const char *name);

/* Writes one line: time, level, module, then the formatted message. */
void core_log(enum core_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like core_log, and appends ": " and strerror(errno). */
void core_log_errno(enum core_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
