/* SPDX-License-Identifier: MIT */
/*
 * Durable steps and the run context.
 *
 * Every request from the Inngest server replays the function from the top. A step whose
 * result the server saved returns INNGEST_OK and hands the result back at once. A step
 * without one is either run now or reported to the server, and returns
 * INNGEST_STEP_PENDING: the function must then return that status immediately (the
 * INNGEST_STEP macro does it). Nothing jumps across your frames, so your cleanup runs.
 *
 *     static int handler(inngest_ctx *ctx, json_t **result) {
 *         json_t *user;
 *         INNGEST_STEP(inngest_step_run(ctx, "load-user", load_user, NULL, &user));
 *         INNGEST_STEP(inngest_step_sleep(ctx, "wait", "1h"));
 *         *result = json_pack("{s:O}", "user", user);
 *         return INNGEST_OK;
 *     }
 *
 * Ownership: every json_t a step hands out through `out` is borrowed and stays valid
 * until the handler returns; json_incref() it to keep it longer. JSON arguments are
 * borrowed too. Step ids must be unique within a run; repeating one (in a loop) is
 * allowed and becomes "id:1", "id:2"… as in the official SDKs.
 * Thread-safety: a context belongs to the thread running the handler.
 */
#ifndef INNGEST_STEP_H
#define INNGEST_STEP_H

#include <stdint.h>

#include <jansson.h>

#include "inngest/error.h"
#include "inngest/export.h"
#include "inngest/function.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Returns from the enclosing function unless `expr` evaluated to INNGEST_OK. */
#define INNGEST_STEP(expr)                                                                         \
    do {                                                                                           \
        int inngest_step_rc_ = (expr);                                                             \
        if (inngest_step_rc_ != INNGEST_OK)                                                        \
            return inngest_step_rc_;                                                               \
    } while (0)

/* ---- the run context (all getters return borrowed values) ------------------------------ */

/* The triggering event ({name, data, id, ts, user, …}); the first one of a batch. */
INNGEST_API json_t *inngest_ctx_event(const inngest_ctx *ctx);
/* All events of the run (an array; more than one for batches). */
INNGEST_API json_t *inngest_ctx_events(const inngest_ctx *ctx);
INNGEST_API const char *inngest_ctx_run_id(const inngest_ctx *ctx);
/* 0-based attempt of this request; the last attempt is max_attempts - 1. */
INNGEST_API int inngest_ctx_attempt(const inngest_ctx *ctx);
INNGEST_API int inngest_ctx_max_attempts(const inngest_ctx *ctx);
/* The composite function id, "<app id>-<local id>". */
INNGEST_API const char *inngest_ctx_function_id(const inngest_ctx *ctx);
INNGEST_API const char *inngest_ctx_app_id(const inngest_ctx *ctx);
/* The pointer given to inngest_function_set_userdata(). */
INNGEST_API void *inngest_ctx_userdata(const inngest_ctx *ctx);
/* The outbound transport of the app, for functions that make their own HTTP calls. */
struct inngest_transport;
INNGEST_API struct inngest_transport *inngest_ctx_transport(const inngest_ctx *ctx);

/*
 * Marks the run as failed and returns INNGEST_EFUNCTION (return it from the handler).
 * `flags`: 0 for a retriable error, INNGEST_FAIL_NO_RETRY for one that retrying cannot
 * fix. The message is shown in the Inngest dashboard.
 */
#define INNGEST_FAIL_NO_RETRY 0x100 /* a flag bit: equal to no status code */
INNGEST_API INNGEST_NODISCARD int inngest_ctx_fail(inngest_ctx *ctx, int flags, const char *fmt,
                                                   ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Like inngest_ctx_fail() with an error record: name, message, no_retry and retry_after
 * are copied. Returns INNGEST_EFUNCTION. */
INNGEST_API INNGEST_NODISCARD int inngest_ctx_fail_with(inngest_ctx *ctx, const inngest_error *err);

/* ---- steps ------------------------------------------------------------------------------ */

/*
 * The body of a step. Returns INNGEST_OK with `*out` set to a new reference (NULL means
 * null), or a negative code with `err` filled (err->no_retry for a non-retriable error,
 * err->retry_after to ask for a delay).
 * Ownership: the engine takes `*out`.
 */
typedef int (*inngest_step_fn)(inngest_ctx *ctx, void *arg, json_t **out, inngest_error *err);

/*
 * Runs `fn` as a durable step. Returns INNGEST_OK with `*out` = the saved result; or
 * INNGEST_STEP_PENDING; or INNGEST_ESTEP when the step failed for good, with `*out` = the
 * saved error object {name, message, stack}. Handle it, or return INNGEST_ESTEP to fail
 * the run with it.
 * `arg` must stay valid until the handler returns (inside a parallel group the step may
 * run at inngest_parallel_end()).
 */
INNGEST_API int inngest_step_run(inngest_ctx *ctx, const char *id, inngest_step_fn fn, void *arg,
                                 json_t **out);

/* Same, with a display name shown in the dashboard instead of the id. */
INNGEST_API int inngest_step_run_named(inngest_ctx *ctx, const char *id, const char *name,
                                       inngest_step_fn fn, void *arg, json_t **out);

/* Pauses the run for `duration` ("30s", "1h30m", "2d"). */
INNGEST_API int inngest_step_sleep(inngest_ctx *ctx, const char *id, const char *duration);

/* Pauses the run for `ms` milliseconds (rounded up to whole seconds). */
INNGEST_API int inngest_step_sleep_ms(inngest_ctx *ctx, const char *id, int64_t ms);

/* Pauses the run until `rfc3339_time` ("2030-01-01T00:00:00Z"). */
INNGEST_API int inngest_step_sleep_until(inngest_ctx *ctx, const char *id,
                                         const char *rfc3339_time);

typedef struct inngest_wait_opts {
    const char *event;   /* event name to wait for (required) */
    const char *timeout; /* how long to wait (required), e.g. "10m" */
    /* At most one of: */
    const char *match;     /* dotted field equal in both events, e.g. "data.id" */
    const char *condition; /* CEL over `event` (trigger) and `async` (candidate) */
} inngest_wait_opts;

/* Waits for an event. INNGEST_OK with `*event_out` = the whole matched event, or JSON null
 * (never a C NULL) when the wait timed out. */
INNGEST_API int inngest_step_wait_for_event(inngest_ctx *ctx, const char *id,
                                            const inngest_wait_opts *opts, json_t **event_out);

/*
 * Invokes another function (composite id "<app>-<fn>") with `payload` (an event without a
 * name: {data, user?}; borrowed) and waits for its result. `timeout` may be NULL.
 * INNGEST_OK with `*out` = its return value, or INNGEST_ESTEP with `*out` = its error.
 */
INNGEST_API int inngest_step_invoke(inngest_ctx *ctx, const char *id, const char *function_id,
                                    json_t *payload, const char *timeout, json_t **out);

/* Sends one event (an object) or several (an array) through the event API, once: a retry
 * of the run does not send them again. `*ids_out` = {"ids": [...]}. */
INNGEST_API int inngest_step_send_event(inngest_ctx *ctx, const char *id, json_t *events,
                                        json_t **ids_out);

typedef struct inngest_ai_infer_opts {
    const char *url;      /* full endpoint, e.g. https://api.openai.com/v1/chat/completions */
    const char *auth_key; /* may be NULL */
    const char *format;   /* "openai-chat" (default), "anthropic", "gemini", "bedrock" */
    json_t *body;         /* the provider request body (borrowed) */
    json_t *headers;      /* optional object of extra string headers (borrowed) */
} inngest_ai_infer_opts;

/* Asks the Inngest server to call a model and save its raw JSON answer: the call costs no
 * time on this host. INNGEST_OK with `*out` = the provider's response, or INNGEST_ESTEP. */
INNGEST_API int inngest_step_ai_infer(inngest_ctx *ctx, const char *id,
                                      const inngest_ai_infer_opts *opts, json_t **out);

/*
 * Parallel groups. Steps declared between begin and end do not stop the function when they
 * are pending, so several can be reported at once; check each one's status after
 * inngest_parallel_end(), which returns INNGEST_STEP_PENDING while any of them is
 * pending (return it), else INNGEST_OK. Groups do not nest.
 */
INNGEST_API void inngest_parallel_begin(inngest_ctx *ctx);
INNGEST_API INNGEST_NODISCARD int inngest_parallel_end(inngest_ctx *ctx);

#ifdef __cplusplus
}
#endif

#endif /* INNGEST_STEP_H */
