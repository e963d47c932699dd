/* SPDX-License-Identifier: MIT */
/*
 * Structured logs: one JSON object per line on stderr, filtered by INNGEST_LOG_LEVEL
 * (debug, info, warn, error; default info). Never pass secrets.
 */
#ifndef HOST_LOG_H
#define HOST_LOG_H

#include <jansson.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Reads INNGEST_LOG_LEVEL. Returns 0, or -1 when the value is not a level. */
int log_init(const char *level);

/* Whether lines of `level` are written: callers on hot paths check it before building
 * their fields. */
int log_enabled(enum log_level level);

/* Logs `msg` with extra fields (`fields` is stolen; may be NULL). Thread-safe. */
void log_json(enum log_level level, const char *msg, json_t *fields);

/* Logs a printf-formatted message. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
