/* SPDX-License-Identifier: MIT */
/* Settings from the environment (inngest/env.h). Standard library only. */
#include "fmacros.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "inngest/env.h"

const char *inngest_env_get(inngest_getenv_fn fn, void *user, const char *name) {
    const char *v = fn ? fn(user, name) : getenv(name);
    return v && *v ? v : NULL;
}

int inngest_env_long(inngest_getenv_fn fn, void *user, const char *name, long def, long min,
                     long max, long *out, inngest_error *err) {
    const char *v = inngest_env_get(fn, user, name);
    if (!v) {
        *out = def;
        return INNGEST_OK;
    }
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (!errno && end != v && !*end && n >= min && n <= max) {
        *out = n;
        return INNGEST_OK;
    }
    if (max == LONG_MAX)
        return inngest_error_set(err, INNGEST_ECONFIG,
                                 "%s must be a whole number >= %ld, not \"%.64s\"", name, min, v);
    return inngest_error_set(err, INNGEST_ECONFIG,
                             "%s must be a whole number from %ld to %ld, not \"%.64s\"", name,
                             min, max, v);
}

int ing_parse_bool(const char *s) {
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    if ((n == 4 && !strncasecmp(s, "true", 4)) || (n == 1 && *s == '1'))
        return 1;
    if ((n == 5 && !strncasecmp(s, "false", 5)) || (n == 1 && *s == '0'))
        return 0;
    return -1;
}

int inngest_env_bool(inngest_getenv_fn fn, void *user, const char *name, int def, int *out,
                     inngest_error *err) {
    const char *v = inngest_env_get(fn, user, name);
    int b = v ? ing_parse_bool(v) : def;
    if (b < 0)
        return inngest_error_set(err, INNGEST_ECONFIG,
                                 "%s must be true, false, 1 or 0, not \"%.64s\"", name, v);
    *out = b;
    return INNGEST_OK;
}

int inngest_env_choice(inngest_getenv_fn fn, void *user, const char *name,
                       const char *const *choices, int def, int *out, inngest_error *err) {
    const char *v = inngest_env_get(fn, user, name);
    if (!v) {
        *out = def;
        return INNGEST_OK;
    }
    char list[160] = "";
    size_t o = 0;
    for (int i = 0; choices[i]; i++) {
        if (!strcmp(v, choices[i])) {
            *out = i;
            return INNGEST_OK;
        }
        if (o < sizeof(list))
            o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "", choices[i]);
    }
    return inngest_error_set(err, INNGEST_ECONFIG, "%s must be one of %s, not \"%.64s\"", name,
                             list, v);
}
