/* SPDX-License-Identifier: MIT */
/* Async checkpointing; see checkpoint.h. The official SDKs (inngest-js v4, inngestgo) are
 * the reference for when a call may checkpoint, the request body and the fallback. */
#include "fmacros.h"

#include "core/checkpoint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/app.h"
#include "core/function.h"
#include "core/http.h"

/* The function's setting where it has one, else the app's (already resolved). */
static inngest_checkpoint_opts resolve(const inngest_app *app, const inngest_function *fn) {
    inngest_checkpoint_opts o = app->cfg.checkpoint;
    const inngest_checkpoint_opts *f = &fn->checkpoint;
    if (f->mode)
        o.mode = f->mode;
    if (f->max_runtime_ms)
        o.max_runtime_ms = f->max_runtime_ms;
    if (f->buffered_steps > 0)
        o.buffered_steps = f->buffered_steps;
    if (f->max_interval_ms)
        o.max_interval_ms = f->max_interval_ms;
    return o;
}

int ing_cp_setup(struct inngest_ctx *ctx, const char *request_id, const char *generation_id) {
    struct ing_checkpoint *cp = &ctx->cp;
    const struct ing_call *call = ctx->call;
    cp->opts = resolve(ctx->app, ctx->entry->fn);
    cp->started_ms = ing_app_now_ms(ctx->app);
    cp->generation_id = -1;
    cp->request_id = request_id && *request_id ? request_id : NULL;
    if (generation_id && *generation_id) {
        char *end;
        errno = 0;
        long long g = strtoll(generation_id, &end, 10);
        if (!*end && !errno && g >= 0)
            cp->generation_id = g;
    }
    if (cp->opts.mode <= 0 || !call->fn_id || !call->qi_id || !*call->run_id || ctx->target ||
        call->disable_immediate_execution)
        return INNGEST_OK;
    cp->buffer = json_array();
    if (!cp->buffer)
        return INNGEST_ENOMEM;
    cp->active = 1;
    return INNGEST_OK;
}

int ing_cp_runtime_over(const struct inngest_ctx *ctx) {
    const struct ing_checkpoint *cp = &ctx->cp;
    return cp->ran > 0 && cp->opts.max_runtime_ms > 0 &&
           ing_app_now_ms(ctx->app) - cp->started_ms >= cp->opts.max_runtime_ms;
}

/* The request body: which run, function and queue item, and the steps. */
static char *flush_body(const struct inngest_ctx *ctx) {
    const struct ing_checkpoint *cp = &ctx->cp;
    const struct ing_call *call = ctx->call;
    json_t *b = json_pack("{s:s,s:s,s:s,s:I,s:O,s:I}", "run_id", call->run_id, "fn_id",
                          call->fn_id, "qi_id", call->qi_id, "request_started_at",
                          (json_int_t)cp->started_ms, "steps", cp->buffer, "ts",
                          (json_int_t)ing_app_now_ms(ctx->app));
    if (b && cp->request_id && json_object_set_new(b, "request_id", json_string(cp->request_id)))
        json_object_clear(b);
    if (b && cp->generation_id >= 0 &&
        json_object_set_new(b, "generation_id", json_integer(cp->generation_id)))
        json_object_clear(b);
    char *text = b && json_object_size(b) ? ing_json_dumps(b, JSON_COMPACT, NULL) : NULL;
    json_decref(b);
    return text;
}

int ing_cp_flush(struct inngest_ctx *ctx) {
    struct ing_checkpoint *cp = &ctx->cp;
    inngest_app *app = ctx->app;
    if (!cp->buffer || json_array_size(cp->buffer) == 0)
        return ING_CP_SAVED;
    char *enc = ing_url_encode(ctx->call->run_id);
    char *body = enc ? flush_body(ctx) : NULL;
    size_t ulen = strlen(app->cfg.api_base_url) + (enc ? strlen(enc) : 0) + 32;
    char *url = body ? ing_malloc(ulen) : NULL;
    if (!url) {
        ing_free(enc);
        ing_free(body);
        return INNGEST_ENOMEM;
    }
    snprintf(url, ulen, "%s/v1/checkpoint/%s/async", app->cfg.api_base_url, enc);
    ing_free(enc);

    int result = ING_CP_FALLBACK;
    for (int attempt = 0; attempt < ING_CP_ATTEMPTS; attempt++) {
        if (attempt)
            ing_app_sleep_ms(app, (int64_t)ING_CP_BASE_DELAY_MS << (attempt - 1));
        int status;
        if (cp->sink) {
            status = cp->sink->post(cp->sink->user, body, strlen(body));
        } else {
            inngest_http_response res = {0};
            inngest_error err;
            inngest_error_clear(&err);
            int rc = ing_api_call(app, "POST", url, body, strlen(body), NULL, 0, &res, &err);
            status = rc == INNGEST_OK ? res.status : 0;
            inngest_http_response_cleanup(&res);
        }
        if (status >= 200 && status < 300) {
            result = ING_CP_SAVED;
            break;
        }
        if (status == 409) {
            result = ING_CP_STALE;
            break;
        }
    }
    ing_free(url);
    ing_free(body);
    if (result != ING_CP_FALLBACK) {
        /* Saved, or refused for good (409): either way nothing is left to send. */
        json_array_clear(cp->buffer);
        cp->buffered_since_ms = 0;
    }
    if (result != ING_CP_SAVED)
        cp->active = 0;
    return result;
}

int ing_cp_fail_stale(struct inngest_ctx *ctx) {
    inngest_error_clear(&ctx->fail);
    snprintf(ctx->fail.name, sizeof(ctx->fail.name), "StaleDispatchError");
    snprintf(ctx->fail.message, sizeof(ctx->fail.message),
             "stale dispatch: the checkpoint API answered 409 for run %s, so another call "
             "owns it; this one stops",
             ctx->call->run_id);
    ctx->fail.code = INNGEST_EUPSTREAM;
    ctx->fail.no_retry = 1;
    ctx->failed = 1;
    ctx->stopped = 1;
    return INNGEST_EUPSTREAM;
}
