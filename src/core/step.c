/* SPDX-License-Identifier: MIT */
/*
 * The step engine and the run context. See step.h for the rules; the official SDKs'
 * behaviour is the reference (immediate execution of a single new step.run, StepPlanned
 * otherwise, "id:n" for repeated ids, per-op saved-state shapes).
 */
#include "fmacros.h"

#include "core/alloc.h"
#include "core/step.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/checkpoint.h"
#include "core/function.h"
#include "core/sig.h"
#include "inngest/testing.h"

void ing_step_hash(const char *id, char out[41]) {
    ing_sha1_hex(id, strlen(id), out);
}

void inngest_step_hash(const char *step_id, char out[41]) {
    ing_step_hash(step_id, out);
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int ing_ctx_init(struct inngest_ctx *ctx, inngest_app *app, const struct ing_fn_entry *entry,
                 struct ing_call *call, const char *target) {
    memset(ctx, 0, sizeof(*ctx));
    ctx->app = app;
    ctx->entry = entry;
    ctx->call = call;
    ctx->target = target;
    ctx->ops_no_retry = -1;
    int retries = entry->failure ? 1 : entry->fn->retries;
    ctx->max_attempts = call->max_attempts > 0 ? call->max_attempts
                        : retries >= 0         ? retries + 1
                                               : 5;
    ctx->id_counts = json_object();
    ctx->used_ids = json_object();
    ctx->ops = json_array();
    ctx->found_list = json_array();
    if (!ctx->id_counts || !ctx->used_ids || !ctx->ops || !ctx->found_list) {
        ing_ctx_cleanup(ctx);
        return INNGEST_ENOMEM;
    }
    return INNGEST_OK;
}

static void clear_found(struct inngest_ctx *ctx) {
    for (size_t i = 0; i < ctx->nfound; i++)
        json_decref(ctx->found[i].op);
    ctx->nfound = 0;
}

void ing_ctx_cleanup(struct inngest_ctx *ctx) {
    clear_found(ctx);
    ing_free(ctx->found);
    json_decref(ctx->id_counts);
    json_decref(ctx->used_ids);
    json_decref(ctx->ops);
    json_decref(ctx->found_list);
    json_decref(ctx->cp.buffer);
    memset(ctx, 0, sizeof(*ctx));
}

/* ---- context getters -------------------------------------------------------------------- */

json_t *inngest_ctx_event(const inngest_ctx *ctx) {
    return ctx->call->event;
}

json_t *inngest_ctx_events(const inngest_ctx *ctx) {
    return ctx->call->events;
}

const char *inngest_ctx_run_id(const inngest_ctx *ctx) {
    return ctx->call->run_id;
}

int inngest_ctx_attempt(const inngest_ctx *ctx) {
    return ctx->call->attempt;
}

int inngest_ctx_max_attempts(const inngest_ctx *ctx) {
    return ctx->max_attempts;
}

const char *inngest_ctx_function_id(const inngest_ctx *ctx) {
    return ctx->entry->slug;
}

const char *inngest_ctx_app_id(const inngest_ctx *ctx) {
    return ctx->app->cfg.app_id;
}

void *inngest_ctx_userdata(const inngest_ctx *ctx) {
    return ctx->entry->fn->userdata;
}

struct inngest_transport *inngest_ctx_transport(const inngest_ctx *ctx) {
    return ctx->app->transport;
}

/* Names an unnamed error after the official SDKs' error classes, which the dashboard
 * shows: NonRetriableError, RetryAfterError, or Error. */
static void default_error_name(inngest_error *e) {
    if (e->name[0])
        return;
    snprintf(e->name, sizeof(e->name), "%s",
             e->no_retry         ? "NonRetriableError"
             : e->retry_after[0] ? "RetryAfterError"
                                 : "Error");
}

int inngest_ctx_fail(inngest_ctx *ctx, int flags, const char *fmt, ...) {
    inngest_error_clear(&ctx->fail);
    ctx->fail.code = INNGEST_EFUNCTION;
    ctx->fail.no_retry = (flags & INNGEST_FAIL_NO_RETRY) != 0;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->fail.message, sizeof(ctx->fail.message), fmt, ap);
        va_end(ap);
    }
    default_error_name(&ctx->fail);
    ctx->failed = 1;
    return INNGEST_EFUNCTION;
}

int inngest_ctx_fail_with(inngest_ctx *ctx, const inngest_error *err) {
    ctx->fail = *err;
    ctx->fail.code = INNGEST_EFUNCTION;
    default_error_name(&ctx->fail);
    ctx->failed = 1;
    return INNGEST_EFUNCTION;
}

/* ---- ops -------------------------------------------------------------------------------- */

/* {"id","op","name","opts","displayName","userland","data":null}; steals `opts`. */
static json_t *op_new(const char *hash, const char *op, const char *name, json_t *opts,
                      const char *display, const char *user_id, int index) {
    json_t *userland = json_pack("{s:s}", "id", user_id);
    if (userland && index > 0 && json_object_set_new(userland, "index", json_integer(index))) {
        json_decref(userland);
        userland = NULL;
    }
    return json_pack("{s:s,s:s,s:s,s:o,s:s,s:o,s:n}", "id", hash, "op", op, "name", name,
                     "opts", opts ? opts : json_object(), "displayName", display, "userland",
                     userland, "data");
}

/* Resolves the final id of a step ("id", then "id:1", "id:2"… for repeats), its hash and
 * repeat index. Returns INNGEST_OK or INNGEST_ENOMEM. */
static int resolve_id(struct inngest_ctx *ctx, const char *id, char hash[41], int *index) {
    json_t *cnt = json_object_get(ctx->id_counts, id);
    int n = cnt ? (int)json_integer_value(cnt) : 0;
    size_t cap = strlen(id) + 16;
    char *final = ing_malloc(cap);
    if (!final)
        return INNGEST_ENOMEM;
    for (;;) {
        if (n == 0)
            snprintf(final, cap, "%s", id);
        else
            snprintf(final, cap, "%s:%d", id, n);
        if (!json_object_get(ctx->used_ids, final))
            break;
        n++;
    }
    int rc = json_object_set_new(ctx->id_counts, id, json_integer(n + 1)) ||
                     json_object_set_new(ctx->used_ids, final, json_true())
                 ? INNGEST_ENOMEM
                 : INNGEST_OK;
    ing_step_hash(final, hash);
    ing_free(final);
    *index = n;
    return rc;
}

/* Makes the function fail (non-retriably) from inside the engine. */
static int engine_fail(struct inngest_ctx *ctx, int code, const char *fmt, ...) {
    inngest_error_clear(&ctx->fail);
    ctx->fail.code = code;
    ctx->fail.no_retry = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->fail.message, sizeof(ctx->fail.message), fmt, ap);
    va_end(ap);
    ctx->failed = 1;
    return code;
}

/* Runs a run-kind step's body and turns `f->op` into its StepRun, StepError or StepFailed
 * op (with timing). Returns 1 when the body succeeded, 0 when it failed (the no-retry and
 * Retry-After answers are noted for the 206), or INNGEST_ENOMEM. */
static int run_body(struct inngest_ctx *ctx, struct ing_found *f) {
    inngest_error err;
    json_t *out = NULL, *op = f->op;
    inngest_error_clear(&err);
    int64_t t0 = now_ns();
    ctx->in_step = 1;
    int rc = f->fn(ctx, f->arg, &out, &err);
    ctx->in_step = 0;
    int64_t dur = now_ns() - t0;

    if (ctx->failed) {
        /* The body misused the engine (a nested step): that cannot succeed on retry. */
        json_decref(out);
        out = NULL;
        err = ctx->fail;
        err.no_retry = 1;
        rc = err.code ? err.code : INNGEST_EINVAL;
        ctx->failed = 0;
        inngest_error_clear(&ctx->fail);
    } else if (rc == INNGEST_OK) {
        size_t size = 0;
        char *dump = out ? ing_json_dumps(out, JSON_COMPACT | JSON_ENCODE_ANY, &size) : NULL;
        ing_free(dump);
        if (out && !dump) {
            json_decref(out);
            return INNGEST_ENOMEM;
        }
        if (size > ING_MAX_OUTPUT_BYTES) {
            json_decref(out);
            out = NULL;
            rc = inngest_error_set(&err, INNGEST_ETOOBIG,
                                   "step output is %zu bytes; the limit is %u bytes", size,
                                   ING_MAX_OUTPUT_BYTES);
            err.no_retry = 1;
        }
    } else if (rc > 0) {
        /* A step body must not return a control status (e.g. a nested step's). */
        json_decref(out);
        out = NULL;
        rc = inngest_error_set(&err, INNGEST_EINVAL,
                               "step callback returned %s; steps cannot be nested",
                               inngest_err_name(rc));
        err.no_retry = 1;
    }

    if (rc == INNGEST_OK) {
        if (json_object_set_new(op, "op", json_string("StepRun"))) {
            json_decref(out);
            return INNGEST_ENOMEM;
        }
        if (json_object_set_new(op, "data", out ? out : json_null()))
            return INNGEST_ENOMEM;
    } else {
        json_decref(out);
        if (!err.message[0])
            snprintf(err.message, sizeof(err.message), "%s", inngest_strerror(rc));
        default_error_name(&err);
        int final = err.no_retry || ctx->call->attempt + 1 >= ctx->max_attempts;
        json_t *e = ing_error_json(err.name, err.message, "");
        if (!e)
            return INNGEST_ENOMEM;
        if (json_object_set_new(op, "op", json_string(final ? "StepFailed" : "StepError")) ||
            json_object_set(op, "error", e) ||
            json_object_set_new(op, "data", final ? json_deep_copy(e) : json_null())) {
            json_decref(e);
            return INNGEST_ENOMEM;
        }
        json_decref(e);
        ctx->ops_no_retry = final;
        if (!final && err.retry_after[0])
            snprintf(ctx->ops_retry_after, sizeof(ctx->ops_retry_after), "%s", err.retry_after);
    }
    if (json_object_set_new(op, "timing", json_pack("{s:I,s:I}", "a", (json_int_t)t0, "b",
                                                    (json_int_t)dur)))
        return INNGEST_ENOMEM;
    return rc == INNGEST_OK;
}

/* Runs a run-kind step now and answers with its op: the classic protocol. */
static int execute(struct inngest_ctx *ctx, struct ing_found *f) {
    int rc = run_body(ctx, f);
    if (rc < 0)
        return rc;
    if (json_array_append(ctx->ops, f->op))
        return INNGEST_ENOMEM;
    ctx->stopped = 1;
    return INNGEST_STEP_PENDING;
}

/* Saves the checkpoint buffer. Returns INNGEST_OK when saved; otherwise the call stops:
 * after a 409 the run fails on this call only (another dispatch owns it), and when the
 * API kept failing the buffered steps become the answer, as the classic protocol would
 * have reported them. Then returns the status the step call hands back. */
static int cp_flush_or_stop(struct inngest_ctx *ctx) {
    int rc = ing_cp_flush(ctx);
    if (rc == ING_CP_SAVED || rc < 0)
        return rc;
    ctx->stopped = 1;
    if (rc == ING_CP_STALE)
        return ing_cp_fail_stale(ctx);
    ctx->ops_no_retry = -1; /* only saved steps are answered */
    ctx->ops_retry_after[0] = '\0';
    if (json_array_extend(ctx->ops, ctx->cp.buffer))
        return INNGEST_ENOMEM;
    json_array_clear(ctx->cp.buffer);
    return INNGEST_STEP_PENDING;
}

/* Runs a run-kind step inline while checkpointing: its result is saved in this call's
 * state and handed back at once, so the function goes on to its next step; the op joins
 * the checkpoint buffer, which is sent when full or old enough. A failed step saves the
 * buffer and is answered as usual. Past the maximum runtime the call ends instead, after
 * saving the buffer, with a DiscoveryRequest: the executor makes a fresh call. */
static int execute_inline(struct inngest_ctx *ctx, struct ing_found *f, json_t **out) {
    struct ing_checkpoint *cp = &ctx->cp;
    int rc;
    if (ing_cp_runtime_over(ctx)) {
        if ((rc = cp_flush_or_stop(ctx)) != INNGEST_OK)
            return rc;
        char id[64], hash[41];
        snprintf(id, sizeof(id), "discovery-request-%lld",
                 (long long)ing_app_now_ms(ctx->app));
        ing_step_hash(id, hash);
        if (json_array_append_new(ctx->ops, json_pack("{s:s,s:s}", "op", "DiscoveryRequest",
                                                      "id", hash)))
            return INNGEST_ENOMEM;
        ctx->stopped = 1;
        return INNGEST_STEP_PENDING;
    }
    rc = run_body(ctx, f);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        if ((rc = cp_flush_or_stop(ctx)) != INNGEST_OK)
            return rc;
        if (json_array_append(ctx->ops, f->op))
            return INNGEST_ENOMEM;
        ctx->stopped = 1;
        return INNGEST_STEP_PENDING;
    }
    json_t *saved = json_pack("{s:O}", "data", json_object_get(f->op, "data"));
    if (!saved || json_object_set_new(ctx->call->steps, f->hash, saved) ||
        json_array_append(cp->buffer, f->op))
        return INNGEST_ENOMEM;
    int64_t now = ing_app_now_ms(ctx->app);
    if (json_array_size(cp->buffer) == 1)
        cp->buffered_since_ms = now;
    cp->ran++;
    if ((int)json_array_size(cp->buffer) >= cp->opts.buffered_steps ||
        (cp->opts.max_interval_ms >= 0 && now - cp->buffered_since_ms >= cp->opts.max_interval_ms))
        if ((rc = cp_flush_or_stop(ctx)) != INNGEST_OK)
            return rc;
    if (out)
        *out = json_object_get(saved, "data");
    return INNGEST_OK;
}

/* Reports a found step as its op: StepPlanned for run-kind steps, else the op itself. */
static int report(struct inngest_ctx *ctx, struct ing_found *f) {
    if (json_array_append(ctx->ops, f->op))
        return INNGEST_ENOMEM;
    ctx->stopped = 1;
    return INNGEST_STEP_PENDING;
}

static int immediate_allowed(const struct inngest_ctx *ctx) {
    return !ctx->call->disable_immediate_execution && !ctx->target;
}

/* A step call's resolved identity, from step_begin() to step_new(). */
struct step_site {
    char hash[41];
    int index; /* repeat index: "id:index" was hashed when > 0 */
};

/* step_begin(): the step has no saved result; build its op and call step_new(). */
#define STEP_NEW 1000

/*
 * The first half of every step: refuses nested steps, resolves the id, and returns the
 * saved result when there is one (INNGEST_OK or INNGEST_ESTEP with *out set). Returns
 * STEP_NEW for a new step, which the caller finishes with step_new(); building the op only
 * then keeps replays of long runs from building an op per saved step.
 */
static int step_begin(struct inngest_ctx *ctx, const char *id, struct step_site *site,
                      json_t **out) {
    int rc;
    if (out)
        *out = NULL;
    if (ctx->in_step)
        return engine_fail(ctx, INNGEST_EINVAL, "step \"%s\" was called inside another step",
                           id);
    if (ctx->stopped)
        return INNGEST_STEP_PENDING;
    if ((rc = resolve_id(ctx, id, site->hash, &site->index)))
        return rc;

    json_t *saved = json_object_get(ctx->call->steps, site->hash);
    if (saved) {
        int is_error;
        json_t *v = ing_memo_unwrap(saved, &is_error);
        if (v) {
            if (out)
                *out = v;
            if (is_error) {
                ctx->step_error = v;
                return INNGEST_ESTEP;
            }
            return INNGEST_OK;
        }
    }
    return STEP_NEW;
}

/*
 * The second half, for a step without a saved result: runs, reports or parks it. Steals
 * `op` (the op as it would be reported; for run-kind steps a StepPlanned).
 */
static int step_new(struct inngest_ctx *ctx, const struct step_site *site,
                    enum ing_step_kind kind, json_t *op, inngest_step_fn fn, void *arg,
                    json_t **out) {
    const char *hash = site->hash;
    int rc;
    if (!op)
        return INNGEST_ENOMEM;
    if (json_object_set_new(op, "id", json_string(hash)) ||
        (site->index > 0 && json_object_set_new(json_object_get(op, "userland"), "index",
                                                json_integer(site->index)))) {
        json_decref(op);
        return INNGEST_ENOMEM;
    }

    /* A new step. How many a run may have is the executor's to enforce: its limit is
     * configurable and may be above the default 1000. */
    json_t *entry = json_pack("{s:s,s:O,s:O}", "id", hash, "name", json_object_get(op, "name"),
                              "displayName", json_object_get(op, "displayName"));
    if (!entry || json_array_append_new(ctx->found_list, entry)) {
        json_decref(op);
        return INNGEST_ENOMEM;
    }
    struct ing_found f = {.kind = kind, .op = op, .fn = fn, .arg = arg};
    memcpy(f.hash, hash, sizeof(f.hash));

    if (ctx->target) {
        if (strcmp(ctx->target, hash) != 0) {
            json_decref(op);
            return INNGEST_STEP_PENDING; /* parked: not the step the server asked for */
        }
        ctx->target_found = 1;
        rc = kind == ING_KIND_RUN ? execute(ctx, &f) : report(ctx, &f);
        json_decref(op);
        return rc;
    }
    if (ctx->in_group) {
        if (ctx->nfound == ctx->found_cap) {
            size_t cap = ctx->found_cap ? ctx->found_cap * 2 : 8;
            struct ing_found *nf = ing_realloc(ctx->found, cap * sizeof(*nf));
            if (!nf) {
                json_decref(op);
                return INNGEST_ENOMEM;
            }
            ctx->found = nf;
            ctx->found_cap = cap;
        }
        ctx->found[ctx->nfound++] = f;
        return INNGEST_STEP_PENDING;
    }
    if (kind == ING_KIND_RUN && immediate_allowed(ctx))
        /* On a retry the first step answers alone, as in the official SDK: the attempt
         * counter belongs to the queue item, so the next call starts afresh. */
        rc = ctx->cp.active && ctx->call->attempt == 0 ? execute_inline(ctx, &f, out)
                                                       : execute(ctx, &f);
    else
        rc = report(ctx, &f);
    json_decref(op);
    return rc;
}

/* Both halves, for steps whose op is built before the call. Steals `op`. */
static int step(struct inngest_ctx *ctx, const char *id, enum ing_step_kind kind, json_t *op,
                inngest_step_fn fn, void *arg, json_t **out) {
    struct step_site site;
    if (out)
        *out = NULL;
    int rc = op ? step_begin(ctx, id, &site, out) : INNGEST_ENOMEM;
    if (rc != STEP_NEW) {
        json_decref(op);
        return rc;
    }
    return step_new(ctx, &site, kind, op, fn, arg, out);
}

void inngest_parallel_begin(inngest_ctx *ctx) {
    ctx->in_group = 1;
    clear_found(ctx);
}

int inngest_parallel_end(inngest_ctx *ctx) {
    int rc = INNGEST_OK;
    ctx->in_group = 0;
    if (ctx->stopped) {
        rc = INNGEST_STEP_PENDING;
    } else if (ctx->nfound == 1 && ctx->found[0].kind == ING_KIND_RUN && immediate_allowed(ctx)) {
        rc = execute(ctx, &ctx->found[0]);
    } else if (ctx->nfound > 0) {
        for (size_t i = 0; i < ctx->nfound && rc != INNGEST_ENOMEM; i++)
            rc = report(ctx, &ctx->found[i]);
    } else if (ctx->target && json_array_size(ctx->found_list) > 0) {
        rc = INNGEST_STEP_PENDING; /* some steps are parked behind the target */
    }
    clear_found(ctx);
    return rc;
}

/* ---- the steps -------------------------------------------------------------------------- */

int inngest_step_run_named(inngest_ctx *ctx, const char *id, const char *name, inngest_step_fn fn,
                           void *arg, json_t **out) {
    if (!id || !*id || !fn)
        return engine_fail(ctx, INNGEST_EINVAL, "inngest_step_run needs an id and a callback");
    struct step_site site;
    int rc = step_begin(ctx, id, &site, out);
    if (rc != STEP_NEW)
        return rc;
    json_t *op = op_new("", "StepPlanned", id, NULL, name && *name ? name : id, id, 0);
    return step_new(ctx, &site, ING_KIND_RUN, op, fn, arg, out);
}

int inngest_step_run(inngest_ctx *ctx, const char *id, inngest_step_fn fn, void *arg,
                     json_t **out) {
    return inngest_step_run_named(ctx, id, NULL, fn, arg, out);
}

static int sleep_op(inngest_ctx *ctx, const char *id, const char *when) {
    struct step_site site;
    int rc = step_begin(ctx, id, &site, NULL);
    if (rc != STEP_NEW)
        return rc;
    json_t *op = op_new("", "Sleep", when, json_pack("{s:s}", "duration", when), id, id, 0);
    return step_new(ctx, &site, ING_KIND_SLEEP, op, NULL, NULL, NULL);
}

int inngest_step_sleep(inngest_ctx *ctx, const char *id, const char *duration) {
    int64_t ms;
    if (!id || !*id || ing_duration_parse(duration, &ms) != INNGEST_OK)
        return engine_fail(ctx, INNGEST_EINVAL, "step \"%s\": invalid sleep duration \"%s\"",
                           id ? id : "", duration ? duration : "");
    return sleep_op(ctx, id, duration);
}

int inngest_step_sleep_ms(inngest_ctx *ctx, const char *id, int64_t ms) {
    char d[64];
    if (!id || !*id || ms < 0)
        return engine_fail(ctx, INNGEST_EINVAL, "step \"%s\": invalid sleep of %lld ms",
                           id ? id : "", (long long)ms);
    ing_duration_format(ms, d);
    return sleep_op(ctx, id, d);
}

int inngest_step_sleep_until(inngest_ctx *ctx, const char *id, const char *rfc3339_time) {
    if (!id || !*id || !ing_rfc3339_valid(rfc3339_time))
        return engine_fail(ctx, INNGEST_EINVAL, "step \"%s\": \"%s\" is not an RFC 3339 time",
                           id ? id : "", rfc3339_time ? rfc3339_time : "");
    return sleep_op(ctx, id, rfc3339_time);
}

int inngest_step_wait_for_event(inngest_ctx *ctx, const char *id, const inngest_wait_opts *o,
                                json_t **event_out) {
    int64_t ms;
    if (!id || !*id || !o || !o->event || !*o->event || !o->timeout ||
        ing_duration_parse(o->timeout, &ms) != INNGEST_OK || (o->match && o->condition))
        return engine_fail(ctx, INNGEST_EINVAL,
                           "step \"%s\": waitForEvent needs an event, a valid timeout, and at "
                           "most one of match and condition",
                           id ? id : "");
    json_t *opts = json_pack("{s:s,s:s}", "event", o->event, "timeout", o->timeout);
    if (opts && (o->match || o->condition)) {
        char expr[1024];
        if (o->match)
            snprintf(expr, sizeof(expr), "event.%s == async.%s", o->match, o->match);
        else
            snprintf(expr, sizeof(expr), "%s", o->condition);
        if (json_object_set_new(opts, "if", json_string(expr))) {
            json_decref(opts);
            opts = NULL;
        }
    }
    /* Named after the step, with the event in opts: the form the official conformance
     * suite expects (the server reads opts.event first). */
    json_t *op = opts ? op_new("", "WaitForEvent", id, opts, id, id, 0) : NULL;
    int rc = step(ctx, id, ING_KIND_WAIT, op, NULL, NULL, event_out);
    if (rc == INNGEST_OK && event_out && !*event_out)
        *event_out = json_null();
    return rc;
}

int inngest_step_invoke(inngest_ctx *ctx, const char *id, const char *function_id,
                        json_t *payload, const char *timeout, json_t **out) {
    int64_t ms;
    if (!id || !*id || !function_id || !*function_id ||
        (payload && !json_is_object(payload)) ||
        (timeout && ing_duration_parse(timeout, &ms) != INNGEST_OK))
        return engine_fail(ctx, INNGEST_EINVAL,
                           "step \"%s\": invoke needs a function id, an object payload and a "
                           "valid timeout",
                           id ? id : "");
    json_t *p = payload ? json_deep_copy(payload) : json_object();
    if (p && !json_object_get(p, "data"))
        json_object_set_new(p, "data", json_object());
    if (p)
        json_object_del(p, "name");
    json_t *opts = p ? json_pack("{s:o,s:s}", "payload", p, "function_id", function_id) : NULL;
    if (opts && timeout && json_object_set_new(opts, "timeout", json_string(timeout))) {
        json_decref(opts);
        opts = NULL;
    }
    json_t *op = opts ? op_new("", "InvokeFunction", id, opts, id, id, 0) : NULL;
    return step(ctx, id, ING_KIND_INVOKE, op, NULL, NULL, out);
}

int inngest_step_ai_infer(inngest_ctx *ctx, const char *id, const inngest_ai_infer_opts *o,
                          json_t **out) {
    if (!id || !*id || !o || !o->url || !*o->url || !json_is_object(o->body) ||
        (o->headers && !json_is_object(o->headers)))
        return engine_fail(ctx, INNGEST_EINVAL,
                           "step \"%s\": ai.infer needs a url and an object body",
                           id ? id : "");
    json_t *opts = json_pack("{s:s,s:s,s:s,s:O}", "type", "step.ai.infer", "url", o->url,
                             "format", o->format && *o->format ? o->format : "openai-chat",
                             "body", o->body);
    if (opts && o->auth_key && json_object_set_new(opts, "auth_key", json_string(o->auth_key))) {
        json_decref(opts);
        opts = NULL;
    }
    if (opts && o->headers && json_object_set(opts, "headers", o->headers)) {
        json_decref(opts);
        opts = NULL;
    }
    json_t *op = opts ? op_new("", "AIGateway", id, opts, id, id, 0) : NULL;
    return step(ctx, id, ING_KIND_AI, op, NULL, NULL, out);
}

/* The body of a sendEvent step: one call to the event API. */
static int send_event_body(inngest_ctx *ctx, void *arg, json_t **out, inngest_error *err) {
    json_t *ids = NULL;
    int rc = inngest_app_send_events(ctx->app, arg, &ids, err);
    if (rc != INNGEST_OK)
        return rc;
    *out = json_pack("{s:o}", "ids", ids);
    return *out ? INNGEST_OK : inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
}

int inngest_step_send_event(inngest_ctx *ctx, const char *id, json_t *events, json_t **ids_out) {
    if (!id || !*id || !(json_is_object(events) || json_is_array(events)))
        return engine_fail(ctx, INNGEST_EINVAL,
                           "step \"%s\": sendEvent needs an event object or an array",
                           id ? id : "");
    json_t *op = op_new("", "StepPlanned", "sendEvent",
                        json_pack("{s:s}", "type", "step.sendEvent"), id, id, 0);
    return step(ctx, id, ING_KIND_RUN, op, send_event_body, events, ids_out);
}
