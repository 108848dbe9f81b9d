/* SPDX-License-Identifier: Apache-2.0 */
/* Line-oriented logging to stderr; see core_log.h for the line format. */
#include "core/core_log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* atomic because a configuration reload changes it while worker threads log */
static atomic_int max_level = CORE_LOG_NOTICE;

static const char *const level_names[] = {"error", "warn", "notice", "info", "debug"};

void core_log_set_level(enum core_log_level level)
{
    atomic_store_explicit(&max_level, (int)level, memory_order_relaxed);
}

int core_log_level_parse(const char *name)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static void log_line(enum core_log_level level, const char *module, const char *suffix, const char *fmt,
                     va_list ap)
{
    char stamp[32];
    char message[8192]; /* an access log line with a long escaped key needs up to about 4 KiB */
    struct tm tm;
    time_t now = time(NULL);

    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
    vsnprintf(message, sizeof(message), fmt, ap);

    /* one fprintf call per line keeps lines from different threads whole */
    fprintf(stderr, "%s %s %s %s%s%s\n", stamp, level_names[level], module, message, suffix ? ": " : "",
            suffix ? suffix : "");
}

void core_log(enum core_log_level level, const char *module, const char *fmt, ...)
{
    va_list ap;

    if ((int)level > atomic_load_explicit(&max_level, memory_order_relaxed)) {
        return;
    }
    va_start(ap, fmt);
    log_line(level, module, NULL, fmt, ap);
    va_end(ap);
}

void core_log_errno(enum core_log_level level, const char *module, const char *fmt, ...)
{
    char reason[256];
    int saved = errno;
    va_list ap;

    if ((int)level > atomic_load_explicit(&max_level, memory_order_relaxed)) {
        return;
    }
    snprintf(reason, sizeof(reason), "%s", strerror(saved));
    va_start(ap, fmt);
    log_line(level, module, reason, fmt, ap);
    va_end(ap);
}
