/* SPDX-License-Identifier: MIT */
/*
 * The small helpers every chat file uses (declared in chat_internal.h).
 * Public headers and the C library only.
 */
#include "chat_internal.h"

#include <string.h>

int chat_oom(inngest_error *err) {
    return inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
}

int chat_is_blank(const char *s) {
    for (; *s; s++)
        if (!strchr(" \t\r\n\f\v", *s))
            return 0;
    return 1;
}

const char *chat_str(json_t *obj, const char *key, const char *fallback) {
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : fallback;
}
