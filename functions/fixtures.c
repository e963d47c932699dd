/* SPDX-License-Identifier: MIT */
/*
 * Conformance fixtures, written against the public API only. Each one has a twin on the
 * official JS SDK in tests/conformance/ref-app/app.mjs with the same id, trigger, step
 * ids and result, so the suite can compare the two transcripts call by call.
 *
 * fixture-parallel       two steps in one parallel group, then a sleep
 * fixture-wait           waitForEvent matched on data.id, or timed out
 * fixture-invoke-parent  invokes fixture-invoke-child and returns its result
 * fixture-invoke-child   doubles event.data.n in a step
 * fixture-retry          a step that fails on its first attempt
 * fixture-nonretriable   a step that fails for good; the run fails with it
 * fixture-ai-infer       step.ai.infer against an OpenAI-compatible chat API
 * bench-many-steps       n sequential steps (step-limit and throughput tests)
 * test-suite-*           the five functions of Inngest's own conformance fixture
 *                        (tests/conformance/golang in inngest/inngest)
 *
 * Must not include anything but the public headers (and the C library).
 */
#include "fixtures.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers ----------------------------------------------------------------------- */

/* Borrowed: event.data.<key>, or NULL. */
static json_t *event_data(inngest_ctx *ctx, const char *key) {
    return json_object_get(json_object_get(inngest_ctx_event(ctx), "data"), key);
}

static int oom(inngest_error *err) {
    return inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
}

/* Sets `*result` (steals `value`) and maps a failed allocation to ENOMEM. */
static int finish(json_t **result, json_t *value) {
    *result = value;
    return value ? INNGEST_OK : INNGEST_ENOMEM;
}

/* Step body returning the C string in `arg` as a JSON string. */
static int return_string(inngest_ctx *ctx, void *arg, json_t **out, inngest_error *err) {
    (void)ctx;
    *out = json_string(arg);
    return *out ? INNGEST_OK : oom(err);
}

/* ---- fixture-parallel --------------------------------------------------------------------- */

static int fixture_parallel(inngest_ctx *ctx, json_t **result) {
    json_t *a = NULL, *b = NULL;
    inngest_parallel_begin(ctx);
    int ra = inngest_step_run(ctx, "parallel-a", return_string, "A", &a);
    int rb = inngest_step_run(ctx, "parallel-b", return_string, "B", &b);
    INNGEST_STEP(inngest_parallel_end(ctx));
    INNGEST_STEP(ra);
    INNGEST_STEP(rb);
    INNGEST_STEP(inngest_step_sleep(ctx, "after-parallel", "1s"));

    const char *sa = json_string_value(a), *sb = json_string_value(b);
    char joined[64];
    snprintf(joined, sizeof(joined), "%s%s", sa ? sa : "", sb ? sb : "");
    return finish(result, json_pack("{s:O,s:O,s:s}", "a", a, "b", b, "joined", joined));
}

/* ---- fixture-wait ------------------------------------------------------------------------- */

static int fixture_wait(inngest_ctx *ctx, json_t **result) {
    inngest_wait_opts opts = {.event = "fixture/wait.resume", .timeout = "10s", .match = "data.id"};
    json_t *resume;
    INNGEST_STEP(inngest_step_wait_for_event(ctx, "wait-for-resume", &opts, &resume));
    if (json_is_null(resume))
        return finish(result, json_pack("{s:b,s:n}", "resumed", 0, "data"));
    json_t *data = json_object_get(resume, "data");
    return finish(result, json_pack("{s:b,s:O}", "resumed", 1, "data", data ? data : json_null()));
}

/* ---- fixture-invoke-parent / fixture-invoke-child ----------------------------------------- */

static int fixture_invoke_parent(inngest_ctx *ctx, json_t **result) {
    char child[256];
    snprintf(child, sizeof(child), "%s-fixture-invoke-child", inngest_ctx_app_id(ctx));
    json_t *n = event_data(ctx, "n");
    json_t *payload = json_pack("{s:{s:O}}", "data", "n", n ? n : json_null());
    if (!payload)
        return INNGEST_ENOMEM;
    json_t *out = NULL;
    int rc = inngest_step_invoke(ctx, "invoke-child", child, payload, "1m", &out);
    json_decref(payload);
    INNGEST_STEP(rc);
    return finish(result, json_pack("{s:O}", "child", out ? out : json_null()));
}

static int double_n(inngest_ctx *ctx, void *arg, json_t **out, inngest_error *err) {
    (void)arg;
    json_t *n = event_data(ctx, "n");
    if (json_is_integer(n))
        *out = json_integer(json_integer_value(n) * 2);
    else if (json_is_number(n))
        *out = json_real(json_number_value(n) * 2);
    else
        *out = json_null(); /* JS: undefined * 2 is NaN, which JSON writes as null */
    return *out ? INNGEST_OK : oom(err);
}

static int fixture_invoke_child(inngest_ctx *ctx, json_t **result) {
    json_t *doubled;
    INNGEST_STEP(inngest_step_run(ctx, "double", double_n, NULL, &doubled));
    return finish(result, json_pack("{s:O}", "doubled", doubled));
}

/* ---- fixture-retry / fixture-nonretriable ------------------------------------------------- */

static int flaky(inngest_ctx *ctx, void *arg, json_t **out, inngest_error *err) {
    (void)arg;
    int attempt = inngest_ctx_attempt(ctx);
    if (attempt == 0)
        return inngest_error_set(err, INNGEST_EFUNCTION, "transient failure");
    *out = json_pack("{s:b,s:i}", "recovered", 1, "attempt", attempt);
    return *out ? INNGEST_OK : oom(err);
}

static int fixture_retry(inngest_ctx *ctx, json_t **result) {
    json_t *value;
    INNGEST_STEP(inngest_step_run(ctx, "flaky-step", flaky, NULL, &value));
    return finish(result, json_pack("{s:O}", "value", value));
}

static int fail_permanently(inngest_ctx *ctx, void *arg, json_t **out, inngest_error *err) {
    (void)ctx;
    (void)arg;
    (void)out;
    int rc = inngest_error_set(err, INNGEST_EFUNCTION, "permanent failure");
    if (err) {
        err->no_retry = 1;
        /* The reference app throws the JS SDK's NonRetriableError; name ours the same so
         * the transcripts compare the protocol, not a naming choice. */
        snprintf(err->name, sizeof(err->name), "NonRetriableError");
    }
    return rc;
}

static int fixture_nonretriable(inngest_ctx *ctx, json_t **result) {
    json_t *unused;
    /* INNGEST_ESTEP here means the step failed for good: returning it fails the run. */
    INNGEST_STEP(inngest_step_run(ctx, "fail-permanently", fail_permanently, NULL, &unused));
    return finish(result, json_pack("{s:b}", "unreachable", 1));
}

/* ---- fixture-ai-infer --------------------------------------------------------------------- */

static const char *env_or(const char *name, const char *fallback) {
    const char *v = inngest_env_get(NULL, NULL, name);
    return v ? v : fallback;
}

static int fixture_ai_infer(inngest_ctx *ctx, json_t **result) {
    const char *model = env_or("OPENAI_MODEL", "gpt-4o-mini");
    const char *base = env_or("OPENAI_BASE_URL", "https://api.openai.com/v1");
    size_t blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    char url[1024];
    snprintf(url, sizeof(url), "%.*s/chat/completions", (int)blen, base);

    json_t *prompt = event_data(ctx, "prompt");
    json_t *body = json_pack("{s:s,s:[{s:s,s:O}]}", "model", model, "messages", "role", "user",
                             "content", prompt ? prompt : json_null());
    if (!body)
        return INNGEST_ENOMEM;
    inngest_ai_infer_opts opts = {.url = url,
                                  .auth_key = inngest_env_get(NULL, NULL, "OPENAI_API_KEY"),
                                  .format = "openai-chat",
                                  .body = body};
    json_t *res = NULL;
    int rc = inngest_step_ai_infer(ctx, "ask-model", &opts, &res);
    json_decref(body);
    INNGEST_STEP(rc);

    json_t *content = json_object_get(
        json_object_get(json_array_get(json_object_get(res, "choices"), 0), "message"), "content");
    return finish(
        result, json_pack("{s:O,s:s}", "answer", content ? content : json_null(), "model", model));
}

/* ---- bench-many-steps --------------------------------------------------------------------- */

static int numbered(inngest_ctx *ctx, void *arg, json_t **out, inngest_error *err) {
    (void)ctx;
    *out = json_pack("{s:I,s:b}", "i", (json_int_t)(intptr_t)arg, "ok", 1);
    return *out ? INNGEST_OK : oom(err);
}

static int bench_many_steps(inngest_ctx *ctx, json_t **result) {
    json_t *jn = event_data(ctx, "n");
    json_int_t n = json_is_integer(jn) ? json_integer_value(jn) : 1000;
    json_t *last = NULL;
    for (json_int_t i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof(id), "s-%lld", (long long)i);
        INNGEST_STEP(inngest_step_run(ctx, id, numbered, (void *)(intptr_t)i, &last));
    }
    return finish(result, json_pack("{s:I,s:O}", "steps", n, "last", last ? last : json_null()));
}

/* ---- Inngest's conformance fixture ---------------------------------------------------------- */

/* {"name": <event name>, "body": "ok"}, the result of most test-suite functions. */
static int name_and_ok(inngest_ctx *ctx, json_t **result) {
    json_t *name = json_object_get(inngest_ctx_event(ctx), "name");
    return finish(result, json_pack("{s:O,s:s}", "name", name ? name : json_null(), "body", "ok"));
}

static int suite_simple(inngest_ctx *ctx, json_t **result) {
    return name_and_ok(ctx, result);
}

static int second_step(inngest_ctx *ctx, void *arg, json_t **out, inngest_error *err) {
    (void)ctx;
    *out = json_pack("{s:O,s:b}", "first", (json_t *)arg, "second", 1);
    return *out ? INNGEST_OK : oom(err);
}

static int suite_steps(inngest_ctx *ctx, json_t **result) {
    json_t *first, *second;
    INNGEST_STEP(inngest_step_run(ctx, "first step", return_string, "first step", &first));
    INNGEST_STEP(inngest_step_sleep(ctx, "sleep", "2s"));
    INNGEST_STEP(inngest_step_run(ctx, "second step", second_step, first, &second));
    return name_and_ok(ctx, result);
}

/* The Go fixture counts attempts in globals; the attempt number gives the same sequence
 * without state (the step fails at its first attempt, then the function at the first
 * attempt of the next call). */
static int broken_once(inngest_ctx *ctx, void *arg, json_t **out, inngest_error *err) {
    (void)arg;
    if (inngest_ctx_attempt(ctx) == 0)
        return inngest_error_set(err, INNGEST_EFUNCTION, "broken");
    *out = json_string("yes: 2");
    return *out ? INNGEST_OK : oom(err);
}

static int suite_retry(inngest_ctx *ctx, json_t **result) {
    json_t *unused;
    INNGEST_STEP(inngest_step_run(ctx, "first step", broken_once, NULL, &unused));
    if (inngest_ctx_attempt(ctx) == 0)
        return inngest_ctx_fail(ctx, 0, "broken func");
    return name_and_ok(ctx, result);
}

static int suite_cancel(inngest_ctx *ctx, json_t **result) {
    json_t *unused;
    INNGEST_STEP(inngest_step_sleep(ctx, "sleep", "10s"));
    INNGEST_STEP(inngest_step_run(ctx, "After the sleep", return_string,
                                  "This should be cancelled if a matching cancel event is received",
                                  &unused));
    return name_and_ok(ctx, result);
}

static int suite_wait(inngest_ctx *ctx, json_t **result) {
    inngest_wait_opts opts = {.event = "test/resume",
                              .timeout = "10s",
                              .condition =
                                  "async.data.resume == true && async.data.id == event.data.id"};
    json_t *resumed;
    INNGEST_STEP(inngest_step_wait_for_event(ctx, "wait", &opts, &resumed));
    if (json_is_null(resumed))
        return finish(result, json_object());
    json_t *data = json_object_get(resumed, "data");
    return finish(result, json_pack("{s:O}", "result", data ? data : json_null()));
}

/* ---- registration --------------------------------------------------------------------------- */

struct fixture {
    const char *id;
    const char *event;
    inngest_handler_fn handler;
    int retries; /* -1: server default */
};

static const struct fixture fixtures[] = {
    {"fixture-parallel", "fixture/parallel", fixture_parallel, -1},
    {"fixture-wait", "fixture/wait", fixture_wait, -1},
    {"fixture-invoke-parent", "fixture/invoke.parent", fixture_invoke_parent, -1},
    {"fixture-invoke-child", "fixture/invoke.child", fixture_invoke_child, -1},
    {"fixture-retry", "fixture/retry", fixture_retry, 2},
    {"fixture-nonretriable", "fixture/nonretriable", fixture_nonretriable, -1},
    {"fixture-ai-infer", "fixture/ai.infer", fixture_ai_infer, -1},
    {"bench-many-steps", "bench/many-steps", bench_many_steps, -1},
    {"test-suite-simple-fn", "tests/function.test", suite_simple, -1},
    {"test-suite-step-test", "tests/step.test", suite_steps, -1},
    {"test-suite-retry-test", "tests/retry.test", suite_retry, -1},
    {"test-suite-cancel-test", "tests/cancel.test", suite_cancel, -1},
    {"test-suite-wait-for-event", "tests/wait.test", suite_wait, -1},
};

int fixtures_register(inngest_app *app, inngest_error *err) {
    for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
        const struct fixture *fx = &fixtures[i];
        inngest_function *fn = inngest_function_create(fx->id, fx->handler, err);
        if (!fn)
            return err ? err->code : INNGEST_ENOMEM;
        int rc = inngest_function_add_event_trigger(fn, fx->event, NULL);
        if (!rc && fx->retries >= 0)
            rc = inngest_function_set_retries(fn, fx->retries);
        if (!rc && fx->handler == suite_cancel)
            rc = inngest_function_add_cancel_on(
                fn, "cancel/please", "async.data.request_id == event.data.request_id", NULL);
        if (rc) {
            inngest_function_destroy(fn);
            return inngest_error_set(err, rc, "cannot define fixture %s", fx->id);
        }
        /* Steals fn, even on failure. */
        rc = inngest_app_add_function(app, fn);
        if (rc)
            return inngest_error_set(err, rc, "cannot add fixture %s", fx->id);
    }
    return INNGEST_OK;
}
