/* SPDX-License-Identifier: MIT */
/*
 * Async checkpointing: a call runs step.run bodies inline and saves their results through
 * POST {api}/v1/checkpoint/{run_id}/async instead of answering one 206 per step. The
 * engine (step.c) buffers each finished step here; this module decides whether a call
 * checkpoints, and sends the buffer. No sockets: the app's transport and clock.
 * Includes jansson and the public headers only.
 */
#ifndef ING_CHECKPOINT_H
#define ING_CHECKPOINT_H

#include "core/step.h"

/* Outcomes of ing_cp_flush(). */
enum ing_cp_result {
    ING_CP_SAVED = 0, /* the buffer is saved (or was empty) */
    ING_CP_STALE,     /* 409: another dispatch owns the run now; stop */
    ING_CP_FALLBACK,  /* the API kept failing: answer the buffer as a classic 206 */
};

/* Checkpoint API attempts before falling back, and the first retry delay (doubled after
 * each attempt). */
#define ING_CP_ATTEMPTS      5
#define ING_CP_BASE_DELAY_MS 100

/* Where a call's checkpoints go instead of the Inngest API: the test engine, which plays
 * the server, answers them itself. post() gets the request body (the JSON the API would
 * get) and returns the HTTP status the API would answer, or 0 for a network failure. */
struct ing_cp_sink {
    int (*post)(void *user, const char *body, size_t len);
    void *user;
};

/* inngest_app_handle() with the call's checkpoints going to `sink` (NULL: the API). */
int ing_app_handle_sink(inngest_app *app, const inngest_http_request *req,
                        inngest_http_response *res, const struct ing_cp_sink *sink);

/* Decides whether this call checkpoints: the function's (or app's) options allow it, and
 * the executor's request does (ctx.fn_id and ctx.qi_id present, no target step, no forced
 * planning). `request_id` (borrowed) and `generation_id` come from the request headers and
 * may be NULL. Returns INNGEST_OK or INNGEST_ENOMEM. */
int ing_cp_setup(struct inngest_ctx *ctx, const char *request_id, const char *generation_id);

/* Saves the buffered steps, retrying failures with backoff; 409 is not retried. On
 * ING_CP_SAVED the buffer is empty; on ING_CP_FALLBACK it is kept and checkpointing is off
 * for the rest of the call. Returns an enum ing_cp_result or INNGEST_ENOMEM. */
int ing_cp_flush(struct inngest_ctx *ctx);

/* Whether the call has run for its maximum runtime (and has made progress, so a call is
 * never ended before its first step). */
int ing_cp_runtime_over(const struct inngest_ctx *ctx);

/* Fails the call after a 409 (non-retriable: the executor discards a stale call's answer)
 * and stops every further step. Returns INNGEST_EUPSTREAM. */
int ing_cp_fail_stale(struct inngest_ctx *ctx);

#endif
