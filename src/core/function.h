/* SPDX-License-Identifier: MIT */
/*
 * Function definitions and their register-payload form. Includes jansson and the public
 * headers only.
 */
#ifndef ING_FUNCTION_H
#define ING_FUNCTION_H

#include <jansson.h>

#include "inngest/function.h"

#define ING_MAX_TRIGGERS 10
#define ING_MAX_CANCEL   5

struct inngest_function {
    char *id;
    char *name;
    inngest_handler_fn handler;
    inngest_handler_fn on_failure;
    void *userdata;
    int retries;         /* -1 = server default */
    json_t *triggers;    /* array of {"event", "expression"?} / {"cron"} */
    json_t *concurrency; /* array of {"limit", "key"?, "scope"?} */
    json_t *cancel;      /* array of {"event", "if"?, "timeout"?} */
    json_t *options;     /* other function-level fields, already in wire form */
    inngest_checkpoint_opts checkpoint; /* as set; zero fields inherit the app's */
};

/* Appends the register configs of `fn` (itself, then "<id>-failure" when it has an
 * onFailure handler) to `out`, for an app `app_id` served at `app_url`. */
int ing_function_append_configs(const inngest_function *fn, const char *app_id,
                                const char *app_url, json_t *out);

/* The composite id "<app_id>-<local id>" (malloc'd), with "-failure" appended when
 * `failure` is non-zero. */
char *ing_function_slug(const char *app_id, const char *id, int failure);

#endif
