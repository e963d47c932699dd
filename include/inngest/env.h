/* SPDX-License-Identifier: MIT */
/*
 * Settings from the environment, read one way by the SDK, the AI client and functions:
 * an unset or empty variable means "use the default"; a set one must be valid, or the
 * caller gets INNGEST_ECONFIG with a message naming the variable and its value.
 */
#ifndef INNGEST_ENV_H
#define INNGEST_ENV_H

#include "inngest/error.h"
#include "inngest/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An environment lookup, as in the getenv_fn option fields; NULL means getenv(). */
typedef const char *(*inngest_getenv_fn)(void *user, const char *name);

/* The value of `name`, or NULL when it is unset or empty. */
INNGEST_API const char *inngest_env_get(inngest_getenv_fn fn, void *user, const char *name);

/* A whole number from `min` to `max`: `def` when `name` is unset or empty. Returns
 * INNGEST_OK, or INNGEST_ECONFIG (`err` says which variable and value) when the value is
 * not a whole number in range. */
INNGEST_API INNGEST_NODISCARD int inngest_env_long(inngest_getenv_fn fn, void *user,
                                                   const char *name, long def, long min,
                                                   long max, long *out, inngest_error *err);

/* A yes or no: "true" or "1" is 1, "false" or "0" is 0 (the words in any case, spaces
 * around ignored); `def` when `name` is unset or empty. Returns INNGEST_OK or
 * INNGEST_ECONFIG. */
INNGEST_API INNGEST_NODISCARD int inngest_env_bool(inngest_getenv_fn fn, void *user,
                                                   const char *name, int def, int *out,
                                                   inngest_error *err);

/* One of `choices` (NULL-terminated): `*out` is its index, or `def` when `name` is unset
 * or empty. Returns INNGEST_OK or INNGEST_ECONFIG (the message lists the choices). */
INNGEST_API INNGEST_NODISCARD int inngest_env_choice(inngest_getenv_fn fn, void *user,
                                                     const char *name,
                                                     const char *const *choices, int def,
                                                     int *out, inngest_error *err);

#ifdef __cplusplus
}
#endif

#endif /* INNGEST_ENV_H */
