/* SPDX-License-Identifier: MIT */
/*
 * Status codes and the error record shared by every libinngest call.
 *
 * Functions return an int: INNGEST_OK (0) on success, a negative INNGEST_E* code on
 * failure, or a positive control status (INNGEST_STEP_PENDING) that is not an error.
 * One X-macro table drives the enum, inngest_strerror() and inngest_err_name().
 */
#ifndef INNGEST_ERROR_H
#define INNGEST_ERROR_H

#include <stddef.h>

#include "inngest/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, description) */
#define INNGEST_ERRNO_MAP(X)                                                                       \
    X(EINVAL, -1, "invalid argument")                                                              \
    X(ENOMEM, -2, "out of memory")                                                                 \
    X(EPARSE, -3, "malformed input")                                                               \
    X(ESIG, -4, "signature verification failed")                                                   \
    X(ENOTFOUND, -5, "not found")                                                                  \
    X(EHTTP, -6, "HTTP transport failure")                                                         \
    X(EUPSTREAM, -7, "upstream server returned an error")                                          \
    X(ETIMEOUT, -8, "timed out")                                                                   \
    X(ECONFIG, -9, "invalid configuration")                                                        \
    X(EINTERNAL, -10, "internal error")                                                            \
    X(ETOOBIG, -11, "payload too large")                                                           \
    X(ESTEP, -12, "step failed")                                                                   \
    X(EFUNCTION, -13, "function failed")                                                           \
    X(ELIMIT, -14, "limit exceeded")                                                               \
    X(EIO, -15, "input/output error")                                                              \
    X(EMISMATCH, -16, "configuration mismatch")                                                    \
    X(EUNAVAILABLE, -17, "service unavailable, try again later")

enum inngest_status {
    INNGEST_OK = 0,
    /* A step has no saved result yet: it was reported to (or run for) the server, and the
     * function must return this status at once. Not an error. */
    INNGEST_STEP_PENDING = 1,
#define INNGEST_ERRNO_ENUM_(name, value, desc) INNGEST_##name = (value),
    INNGEST_ERRNO_MAP(INNGEST_ERRNO_ENUM_)
#undef INNGEST_ERRNO_ENUM_
};

/* Error details filled by calls that take an `inngest_error *err` (which may be NULL).
 * `name` and `message` are what the Inngest server shows; never put secrets in them. */
typedef struct inngest_error {
    int code;               /* negative INNGEST_E* code, 0 when unset */
    int http_status;        /* upstream HTTP status when relevant, else 0 */
    int no_retry;           /* non-zero: retrying cannot help (non-retriable error) */
    char retry_after[40];   /* optional: seconds ("30") or an RFC 3339 time */
    char name[64];          /* error class shown by Inngest, "Error" when empty */
    char message[512];
} inngest_error;

/* A short English description of `code`. Returns a static string, never NULL. */
INNGEST_API const char *inngest_strerror(int code);

/* The symbolic name of `code`, e.g. "EPARSE", "OK", "STEP_PENDING". Never NULL. */
INNGEST_API const char *inngest_err_name(int code);

/* Fills `err` (when non-NULL) with `code` and a printf-style message; resets the other
 * fields. Returns: `code`, so that `return inngest_error_set(err, ...)` reads naturally. */
INNGEST_API int inngest_error_set(inngest_error *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Clears `err` to the "no error" state. NULL is a no-op. */
INNGEST_API void inngest_error_clear(inngest_error *err);

#ifdef __cplusplus
}
#endif

#endif /* INNGEST_ERROR_H */
