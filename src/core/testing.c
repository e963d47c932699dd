/* SPDX-License-Identifier: MIT */
/*
 * The test engine: builds the call request the executor would send and runs it through
 * inngest_app_handle(), so tests exercise exactly the production path.
 */
#include "fmacros.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/app.h"
#include "core/checkpoint.h"
#include "core/http.h"
#include "core/jcs.h"
#include "core/step.h"
#include "inngest/testing.h"

#define TEST_RUN_ID "01TESTRUN0000000000000000000"

/* What the executor says about one call besides the run: the function's UUID (the
 * server's own id; here derived from the composite function id), the queue item and the
 * request. `seq` numbers the calls of a run. */
struct call_ids {
    char fn_id[37];
    char qi_id[128];
    char job_id[192];
    char request_id[27];
};

static void make_ids(const char *slug, const char *run_id, int seq, struct call_ids *ids) {
    char h[41];
    ing_step_hash(slug, h);
    snprintf(ids->fn_id, sizeof(ids->fn_id), "%.8s-%.4s-5%.3s-a%.3s-%.12s", h, h + 8, h + 13,
             h + 17, h + 20);
    snprintf(ids->qi_id, sizeof(ids->qi_id), "%s:call-%d", run_id, seq);
    snprintf(ids->job_id, sizeof(ids->job_id), "%s:%s", ids->fn_id, ids->qi_id);
    snprintf(ids->request_id, sizeof(ids->request_id), "01TESTREQ%017d", seq);
}

/* Re-keys a {user step id: value} map (may be NULL) by hashed id, and lists the hashes as
 * the run's stack. Returns new references in both. */
static void hash_steps(json_t *steps, json_t **hashed, json_t **stack) {
    const char *k;
    json_t *v;
    *hashed = json_object();
    *stack = json_array();
    json_object_foreach(steps, k, v) {
        char h[41];
        ing_step_hash(k, h);
        json_object_set(*hashed, h, v);
        json_array_append_new(*stack, json_string(h));
    }
}

/* Builds the body the way the Go executor does (JCS-canonical), with the same ctx. */
static char *build_body(const inngest_test_opts *o, const struct call_ids *ids,
                        json_t *hashed_steps, json_t *stack, size_t *len) {
    json_t *event = o->event ? json_incref(o->event)
                             : json_pack("{s:s,s:{}}", "name", "test", "data");
    json_t *events = o->events ? json_incref(o->events) : json_pack("[O]", event);
    json_t *body = json_pack(
        "{s:{s:i,s:b,s:s,s:s,s:s,s:i,s:s,s:s,s:s,s:{s:I,s:O},s:s,s:b},s:{},s:o,s:o,s:O,s:b,"
        "s:i}",
        "ctx", "attempt", o->attempt, "disable_immediate_execution",
        o->disable_immediate_execution, "env", "", "fn_id", ids->fn_id, "job_id", ids->job_id,
        "max_attempts", o->max_attempts > 0 ? o->max_attempts : 5, "qi_id", ids->qi_id,
        "request_id", ids->request_id, "run_id", o->run_id ? o->run_id : TEST_RUN_ID, "stack",
        "current", (json_int_t)json_array_size(stack), "stack", stack, "step_id", "step",
        "use_api", 0, "defers", "event", event, "events", events, "steps", hashed_steps,
        "use_api", 0, "version", 2);
    char *text = body ? ing_jcs_dump(body, len) : NULL;
    json_decref(body);
    return text;
}

/* The checkpoint API as the test engine answers it: the request must name the call's run,
 * function and queue item (else 400, as the server answers); its steps are kept. */
struct cp_capture {
    const struct call_ids *ids;
    const char *run_id;
    json_t *steps; /* NULL until the first checkpoint */
};

static int capture_post(void *user, const char *body, size_t len) {
    struct cp_capture *c = user;
    json_t *b = json_loadb(body, len, 0, NULL);
    json_t *steps = json_object_get(b, "steps");
    const char *run = json_string_value(json_object_get(b, "run_id"));
    const char *fn = json_string_value(json_object_get(b, "fn_id"));
    const char *qi = json_string_value(json_object_get(b, "qi_id"));
    int status = 400;
    if (json_is_array(steps) && run && fn && qi && !strcmp(run, c->run_id) &&
        !strcmp(fn, c->ids->fn_id) && !strcmp(qi, c->ids->qi_id)) {
        if (!c->steps)
            c->steps = json_array();
        /* Out of memory reads as a network failure: the engine retries, then falls back. */
        status = c->steps && !json_array_extend(c->steps, steps) ? 200 : 0;
    }
    json_decref(b);
    return status;
}

/* One call, the `seq`th of its run. `target` is a hashed step id or NULL for a discovery
 * call. */
static int call_once(inngest_app *app, const inngest_test_opts *o, json_t *hashed_steps,
                     json_t *stack, const char *target, int seq, inngest_test_result *r) {
    memset(r, 0, sizeof(*r));
    const char *fid = o->function_id;
    char *slug = NULL;
    if (!fid)
        return INNGEST_EINVAL;
    if (!ing_app_find(app, fid)) {
        size_t n = strlen(app->cfg.app_id) + strlen(fid) + 2;
        slug = ing_malloc(n);
        if (!slug)
            return INNGEST_ENOMEM;
        snprintf(slug, n, "%s-%s", app->cfg.app_id, fid);
        fid = slug;
    }
    struct call_ids ids;
    const char *run_id = o->run_id ? o->run_id : TEST_RUN_ID;
    make_ids(fid, run_id, seq, &ids);
    char *enc = ing_url_encode(fid);
    size_t len = 0;
    char *body = build_body(o, &ids, hashed_steps, stack, &len);
    char url[1024];
    snprintf(url, sizeof(url), "/api/inngest?fnId=%s&stepId=%s", enc ? enc : "",
             target ? target : "step");
    ing_free(enc);
    ing_free(slug);
    if (!body)
        return INNGEST_ENOMEM;
    inngest_header h[] = {{"Content-Type", "application/json"},
                          {"X-Inngest-Req-Version", "2"},
                          {"X-Request-ID", ids.request_id}};
    inngest_http_request req = {.method = "POST", .url = url, .headers = h, .header_count = 3,
                                .body = body, .body_len = len};
    inngest_http_response res = {0};
    struct cp_capture cap = {.ids = &ids, .run_id = run_id};
    struct ing_cp_sink sink = {.post = capture_post, .user = &cap};
    int rc = ing_app_handle_sink(app, &req, &res, &sink);
    ing_free(body);
    r->checkpoints = cap.steps;
    if (rc == INNGEST_OK) {
        r->status = res.status;
        r->body = json_loadb(res.body ? res.body : "", res.body_len, JSON_DECODE_ANY, NULL);
        if (r->status == 206 && json_is_array(r->body))
            r->ops = r->body;
        const char *nr = inngest_http_response_header(&res, "X-Inngest-No-Retry");
        r->no_retry = nr && !strcmp(nr, "true");
        const char *ra = inngest_http_response_header(&res, "Retry-After");
        snprintf(r->retry_after, sizeof(r->retry_after), "%s", ra ? ra : "");
    }
    inngest_http_response_cleanup(&res);
    return rc;
}

int inngest_test_call(inngest_app *app, const inngest_test_opts *opts,
                      inngest_test_result *result) {
    if (!app || !opts || !result)
        return INNGEST_EINVAL;
    json_t *hashed, *stack;
    hash_steps(opts->steps, &hashed, &stack);
    char target[41];
    if (opts->target_step)
        ing_step_hash(opts->target_step, target);
    int rc = call_once(app, opts, hashed, stack, opts->target_step ? target : NULL, 0, result);
    json_decref(hashed);
    json_decref(stack);
    return rc;
}

/* Saves an op's outcome into the state the way the executor would. Returns 1 when the op
 * needs a targeted call (StepPlanned), 0 otherwise. */
static int apply_op(json_t *op, json_t *steps, json_t *stack, json_t *async_results) {
    const char *kind = json_string_value(json_object_get(op, "op"));
    const char *id = json_string_value(json_object_get(op, "id"));
    const char *user = json_string_value(json_object_get(json_object_get(op, "userland"), "id"));
    json_t *saved = NULL;
    if (!kind || !id)
        return 0;
    if (!strcmp(kind, "StepPlanned"))
        return 1;
    if (!strcmp(kind, "RunComplete") || !strcmp(kind, "DiscoveryRequest"))
        return 0; /* nothing to save: the run ends, or the next call just follows */
    if (!strcmp(kind, "StepRun"))
        saved = json_pack("{s:O}", "data", json_object_get(op, "data"));
    else if (!strcmp(kind, "StepFailed"))
        saved = json_pack("{s:O}", "error", json_object_get(op, "error"));
    else if (!strcmp(kind, "StepError"))
        return 0; /* retried by the caller with attempt + 1 */
    else if (!strcmp(kind, "Sleep"))
        saved = json_null();
    else {
        json_t *r = user ? json_object_get(async_results, user) : NULL;
        saved = r ? json_incref(r) : json_null();
    }
    json_object_set_new(steps, id, saved);
    json_array_append_new(stack, json_string(id));
    return 0;
}

int inngest_test_run_to_end(inngest_app *app, const inngest_test_opts *opts,
                            json_t *async_results, int max_calls, inngest_test_result *result,
                            json_t **steps_out) {
    if (!app || !opts || !result)
        return INNGEST_EINVAL;
    json_t *steps, *stack;
    hash_steps(opts->steps, &steps, &stack);
    inngest_test_opts o = *opts;
    int rc = INNGEST_OK;
    json_t *planned = json_array(); /* hashed ids waiting for a targeted call */
    memset(result, 0, sizeof(*result));
    for (int calls = 0; calls < (max_calls > 0 ? max_calls : 1000); calls++) {
        char target[41] = "";
        inngest_test_result_cleanup(result);
        if (json_array_size(planned)) {
            snprintf(target, sizeof(target), "%s", json_string_value(json_array_get(planned, 0)));
            json_array_remove(planned, 0);
        }
        rc = call_once(app, &o, steps, stack, target[0] ? target : NULL, calls, result);
        size_t i;
        json_t *op;
        /* Steps saved through the checkpoint API are saved whatever the call answers. */
        json_array_foreach(result->checkpoints, i, op) apply_op(op, steps, stack, NULL);
        if (rc != INNGEST_OK || result->status != 206)
            break;
        int retried = 0, complete = 0;
        json_array_foreach(result->ops, i, op) {
            const char *kind = json_string_value(json_object_get(op, "op"));
            if (kind && !strcmp(kind, "StepError"))
                retried = 1;
            else if (apply_op(op, steps, stack, async_results))
                json_array_append(planned, json_object_get(op, "id"));
            complete |= kind && !strcmp(kind, "RunComplete");
        }
        if (complete)
            break; /* a checkpointing call finished the run */
        if (retried) {
            /* The executor retries the same call with the next attempt. */
            o.attempt++;
            if (target[0])
                json_array_insert_new(planned, 0, json_string(target));
        } else {
            o.attempt = 0;
        }
        /* After a multi-op answer the executor plans every step until the group ends. */
        o.disable_immediate_execution = json_array_size(result->ops) > 1 || json_array_size(planned);
    }
    json_decref(planned);
    json_decref(stack);
    if (steps_out)
        *steps_out = steps;
    else
        json_decref(steps);
    return rc;
}

void inngest_test_result_cleanup(inngest_test_result *result) {
    if (!result)
        return;
    json_decref(result->body);
    json_decref(result->checkpoints);
    memset(result, 0, sizeof(*result));
}
