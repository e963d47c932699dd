/* SPDX-License-Identifier: MIT */
/*
 * Declaring Inngest functions: id, name, triggers and flow control.
 *
 * A function is built once at start-up with inngest_function_create() and the setters
 * below, then handed to an app with inngest_app_add_function(). Every setter mirrors a
 * field of the register payload the Inngest server reads; duration arguments use
 * Inngest's time strings ("30s", "5m", "1h30m", "7d") and expression arguments are CEL
 * strings such as "event.data.user_id". Setters copy their string arguments.
 */
#ifndef INNGEST_FUNCTION_H
#define INNGEST_FUNCTION_H

#include <stdint.h>

#include <jansson.h>

#include "inngest/error.h"
#include "inngest/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct inngest_ctx inngest_ctx;
typedef struct inngest_function inngest_function;

/*
 * The body of a function. It is called once per request from the Inngest server and
 * replays from the top each time; steps with saved results return them at once.
 *
 * Returns: INNGEST_OK with `*result` set to a new reference (NULL means JSON null) when the
 * function finished; INNGEST_STEP_PENDING when a step call returned it (return at once);
 * a negative code when the function failed — use inngest_ctx_fail() to say why and
 * whether to retry, or return INNGEST_ESTEP to let a saved step error fail the run.
 * Ownership: the engine takes `*result`.
 */
typedef int (*inngest_handler_fn)(inngest_ctx *ctx, json_t **result);

/* Creates a function with local id `id` (the app id is prefixed when it is registered).
 * Returns NULL and fills `err` when `id` is empty or memory runs out. */
INNGEST_API INNGEST_NODISCARD inngest_function *
inngest_function_create(const char *id, inngest_handler_fn handler, inngest_error *err);

/* Frees a function that was never added to an app. NULL is a no-op. */
INNGEST_API void inngest_function_destroy(inngest_function *fn);

/* The display name; defaults to the id. */
INNGEST_API INNGEST_NODISCARD int inngest_function_set_name(inngest_function *fn, const char *name);

/* Opaque pointer handed to the handler through inngest_ctx_userdata(). */
INNGEST_API void inngest_function_set_userdata(inngest_function *fn, void *userdata);

/* Triggers: up to 10 in total. `expression` may be NULL. */
INNGEST_API INNGEST_NODISCARD int
inngest_function_add_event_trigger(inngest_function *fn, const char *event, const char *expression);
/* `timezone` (IANA, e.g. "Europe/Paris") may be NULL; it becomes the "TZ=… " prefix. */
INNGEST_API INNGEST_NODISCARD int
inngest_function_add_cron_trigger(inngest_function *fn, const char *cron, const char *timezone);

/* Number of retries after the first attempt (0..20). Unset means the server default (4). */
INNGEST_API INNGEST_NODISCARD int inngest_function_set_retries(inngest_function *fn, int retries);

/* Adds a concurrency limit. `key` may be NULL; `scope` is NULL, "fn", "env" or "account".
 * One limit without key or scope is sent as a bare number, as the official SDKs do. */
INNGEST_API INNGEST_NODISCARD int inngest_function_add_concurrency(inngest_function *fn, int limit,
                                                                   const char *key,
                                                                   const char *scope);

/* `key` may be NULL; `burst` <= 0 leaves it out. */
INNGEST_API INNGEST_NODISCARD int inngest_function_set_throttle(inngest_function *fn, int limit,
                                                                const char *period, const char *key,
                                                                int burst);

INNGEST_API INNGEST_NODISCARD int inngest_function_set_rate_limit(inngest_function *fn, int limit,
                                                                  const char *period,
                                                                  const char *key);

/* `key` and `timeout` may be NULL. */
INNGEST_API INNGEST_NODISCARD int inngest_function_set_debounce(inngest_function *fn,
                                                                const char *period, const char *key,
                                                                const char *timeout);

/* `key` and `condition` (the "if" expression) may be NULL. */
INNGEST_API INNGEST_NODISCARD int
inngest_function_set_batch_events(inngest_function *fn, int max_size, const char *timeout,
                                  const char *key, const char *condition);

/* Priority expression evaluated per run (seconds of delay, may be negative). */
INNGEST_API INNGEST_NODISCARD int inngest_function_set_priority(inngest_function *fn,
                                                                const char *run_expression);

/* At most one run per value of `key_expression` per 24 hours. */
INNGEST_API INNGEST_NODISCARD int inngest_function_set_idempotency(inngest_function *fn,
                                                                   const char *key_expression);

/* Cancels running runs when `event` arrives. `condition` and `timeout` may be NULL. */
INNGEST_API INNGEST_NODISCARD int inngest_function_add_cancel_on(inngest_function *fn,
                                                                 const char *event,
                                                                 const char *condition,
                                                                 const char *timeout);

/* `start` and `finish` may each be NULL. */
INNGEST_API INNGEST_NODISCARD int
inngest_function_set_timeouts(inngest_function *fn, const char *start, const char *finish);

/* `mode` is "skip" or "cancel"; `key` may be NULL. */
INNGEST_API INNGEST_NODISCARD int inngest_function_set_singleton(inngest_function *fn,
                                                                 const char *key, const char *mode);

/* Registers a second function "<id>-failure" triggered by inngest/function.failed for
 * this function, with one retry. Its handler receives that event. */
INNGEST_API INNGEST_NODISCARD int inngest_function_set_on_failure(inngest_function *fn,
                                                                  inngest_handler_fn on_failure);

/*
 * Checkpointing: how a call from the executor runs step.run bodies (see docs/api.md).
 * With it on, one call runs every step.run it reaches one after another, saves each result
 * through the Inngest API (POST {api}/v1/checkpoint/{run_id}/async) and answers once at the
 * end; without it each step costs one call. The executor must allow it per call (it sends
 * ctx.fn_id and ctx.qi_id, no stepId, no parallel planning); otherwise, and whenever the
 * checkpoint API keeps failing, the call falls back to the classic one-step answer.
 * Zero-initialise: every field at 0 takes the app's setting, then the default.
 */
typedef struct inngest_checkpoint_opts {
    int mode;                /* 0 = inherit (app, then INNGEST_CHECKPOINTING, then on),
                                1 = on, -1 = off */
    int64_t max_runtime_ms;  /* after this long a call stops starting steps and asks the
                                executor for a new call (DiscoveryRequest); 0 = inherit
                                (default 10000), < 0 = no limit */
    int buffered_steps;      /* step results per checkpoint call; 0 = inherit (default 1) */
    int64_t max_interval_ms; /* flush a partial buffer once its oldest step is this old,
                                checked after each step; 0 = inherit (default: never),
                                < 0 = never */
} inngest_checkpoint_opts;

/* Per-function checkpointing; fields left at 0 inherit the app's options. */
INNGEST_API int inngest_function_set_checkpointing(inngest_function *fn,
                                                   const inngest_checkpoint_opts *opts);

/* The local id. Borrowed, valid for the function's lifetime. */
INNGEST_API INNGEST_NODISCARD const char *inngest_function_id(const inngest_function *fn);

#ifdef __cplusplus
}
#endif

#endif /* INNGEST_FUNCTION_H */
