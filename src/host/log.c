/* SPDX-License-Identifier: MIT */
/* JSON-lines logger. A single fputs per line keeps lines whole across threads. */
#include "fmacros.h"

#include "host/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static enum log_level min_level = LOG_INFO;
static const char *const names[] = {"debug", "info", "warn", "error"};

int log_init(const char *level) {
    if (!level || !*level)
        return 0;
    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(level, names[i])) {
            min_level = (enum log_level)i;
            return 0;
        }
    }
    if (!strcasecmp(level, "warning")) {
        min_level = LOG_WARN;
        return 0;
    }
    return -1;
}

int log_enabled(enum log_level level) {
    return level >= min_level;
}

void log_json(enum log_level level, const char *msg, json_t *fields) {
    if (level < min_level) {
        json_decref(fields);
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    size_t n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + n, sizeof(when) - n, ".%03ldZ", ts.tv_nsec / 1000000);
    json_t *line = json_pack("{s:s,s:s,s:s}", "ts", when, "level", names[level], "msg", msg);
    if (line && fields)
        json_object_update(line, fields);
    json_decref(fields);
    char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;
    json_decref(line);
    if (text) {
        size_t len = strlen(text);
        text[len] = '\n';
        fwrite(text, 1, len + 1, stderr);
        fflush(stderr);
        free(text);
    }
}

void log_msg(enum log_level level, const char *fmt, ...) {
    if (level < min_level)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_json(level, msg, NULL);
}
