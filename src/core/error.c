/* SPDX-License-Identifier: MIT */
/* Status code names and descriptions, generated from INNGEST_ERRNO_MAP. */
#include "fmacros.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "inngest/error.h"

const char *inngest_strerror(int code) {
    switch (code) {
        case INNGEST_OK:
            return "success";
        case INNGEST_STEP_PENDING:
            return "step pending: return from the function";
#define X(name, value, desc)                                                                       \
    case INNGEST_##name:                                                                           \
        return desc;
            INNGEST_ERRNO_MAP(X)
#undef X
        default:
            return "unknown error";
    }
}

const char *inngest_err_name(int code) {
    switch (code) {
        case INNGEST_OK:
            return "OK";
        case INNGEST_STEP_PENDING:
            return "STEP_PENDING";
#define X(name, value, desc)                                                                       \
    case INNGEST_##name:                                                                           \
        return #name;
            INNGEST_ERRNO_MAP(X)
#undef X
        default:
            return "UNKNOWN";
    }
}

void inngest_error_clear(inngest_error *err) {
    if (err)
        memset(err, 0, sizeof(*err));
}

int inngest_error_set(inngest_error *err, int code, const char *fmt, ...) {
    if (!err)
        return code;
    inngest_error_clear(err);
    err->code = code;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
    }
    return code;
}
