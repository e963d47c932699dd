/* SPDX-License-Identifier: MIT */
/*
 * The functions of the engine tests, with the ids and behaviour of the captured JS app;
 * shared by test_engine.c, the golden cases (tests/data/golden) and the allocation
 * failure test.
 */
#include "fmacros.h"

#include "engine_app.h"

#include <stdio.h>
#include <string.h>

/* Functions return INNGEST_ENOMEM when jansson runs out of memory, so the allocation
 * failure test sees the SDK's handling of it rather than a wrong answer of the test's own. */
static int fn_hello(inngest_ctx *ctx, json_t **result) {
    *result = json_pack("{s:s,s:O,s:s,s:i}", "message", "hi", "name",
                        json_object_get(inngest_ctx_event(ctx), "name"), "runId",
                        inngest_ctx_run_id(ctx), "attempt", inngest_ctx_attempt(ctx));
    return *result ? INNGEST_OK : INNGEST_ENOMEM;
}

static int fn_echo(inngest_ctx *ctx, json_t **result) {
    *result = json_pack("{s:O}", "got", json_object_get(inngest_ctx_event(ctx), "data"));
    return *result ? INNGEST_OK : INNGEST_ENOMEM;
}

static int fn_undefined(inngest_ctx *ctx, json_t **result) {
    (void)ctx;
    *result = NULL;
    return INNGEST_OK;
}

static int fn_string(inngest_ctx *ctx, json_t **result) {
    (void)ctx;
    *result = json_string("plain string");
    return INNGEST_OK;
}

static int step_const(inngest_ctx *ctx, void *arg, json_t **out, inngest_error *err) {
    (void)ctx;
    (void)err;
    *out = json_loads(arg, JSON_DECODE_ANY, NULL);
    return *out ? INNGEST_OK : INNGEST_ENOMEM;
}

static int step_append_b(inngest_ctx *ctx, void *arg, json_t **out, inngest_error *err) {
    (void)ctx;
    (void)err;
    char buf[256];
    snprintf(buf, sizeof(buf), "%sB", json_string_value(arg));
    *out = json_string(buf);
    return *out ? INNGEST_OK : INNGEST_ENOMEM;
}

static int fn_steps(inngest_ctx *ctx, json_t **result) {
    json_t *a, *ab;
    INNGEST_STEP(inngest_step_run(ctx, "first step", step_const, "\"A\"", &a));
    INNGEST_STEP(inngest_step_run(ctx, "second step", step_append_b, a, &ab));
    *result = json_pack("{s:O}", "result", ab);
    return *result ? INNGEST_OK : INNGEST_ENOMEM;
}

static int fn_step_named(inngest_ctx *ctx, json_t **result) {
    json_t *v;
    INNGEST_STEP(
        inngest_step_run_named(ctx, "my-step-id", "My Pretty Step", step_const, "{\"n\":1}", &v));
    *result = json_incref(v);
    return INNGEST_OK;
}

static int step_nothing(inngest_ctx *ctx, void *arg, json_t **out, inngest_error *err) {
    (void)ctx;
    (void)arg;
    (void)err;
    *out = NULL;
    return INNGEST_OK;
}

static int fn_step_undef(inngest_ctx *ctx, json_t **result) {
    json_t *v;
    INNGEST_STEP(inngest_step_run(ctx, "nothing", step_nothing, NULL, &v));
    *result = json_incref(v);
    return INNGEST_OK;
}

static int fn_sleeps(inngest_ctx *ctx, json_t **result) {
    INNGEST_STEP(inngest_step_sleep(ctx, "nap", "1h30m"));
    INNGEST_STEP(inngest_step_sleep_ms(ctx, "nap-ms", 90061000));
    INNGEST_STEP(inngest_step_sleep_until(ctx, "until", "2030-01-01T00:00:00.000Z"));
    *result = json_string("woke");
    return INNGEST_OK;
}

static int fn_waits(inngest_ctx *ctx, json_t **result) {
    json_t *e1, *e2, *e3;
    inngest_wait_opts w1 = {.event = "test/resume", .timeout = "1d",
                            .condition = "async.data.id == event.data.id"};
    inngest_wait_opts w2 = {.event = "test/resume2", .timeout = "2h", .match = "data.id"};
    inngest_wait_opts w3 = {.event = "test/resume3", .timeout = "1m"};
    INNGEST_STEP(inngest_step_wait_for_event(ctx, "wait-if", &w1, &e1));
    INNGEST_STEP(inngest_step_wait_for_event(ctx, "wait-match", &w2, &e2));
    INNGEST_STEP(inngest_step_wait_for_event(ctx, "wait-plain", &w3, &e3));
    *result = json_pack("{s:O,s:O,s:O}", "e1", e1, "e2", e2, "e3", e3);
    return INNGEST_OK;
}

static int fn_invoker(inngest_ctx *ctx, json_t **result) {
    json_t *payload = json_pack("{s:{s:i}}", "data", "x", 1), *v;
    int rc = inngest_step_invoke(ctx, "call-hello", "my-app-hello", payload, "1h", &v);
    json_decref(payload);
    if (rc != INNGEST_OK)
        return rc;
    *result = json_incref(v);
    return INNGEST_OK;
}

static int fn_ai(inngest_ctx *ctx, json_t **result) {
    json_t *body = json_pack("{s:[{s:s,s:s}],s:s}", "messages", "role", "user", "content", "hi",
                             "model", "gpt-4o"),
           *v;
    inngest_ai_infer_opts o = {.url = "https://api.openai.com/v1/chat/completions",
                               .auth_key = "sk-test-123",
                               .format = "openai-chat",
                               .body = body};
    int rc = inngest_step_ai_infer(ctx, "ask", &o, &v);
    json_decref(body);
    if (rc != INNGEST_OK)
        return rc;
    *result = json_incref(v);
    return INNGEST_OK;
}

static int fn_sender(inngest_ctx *ctx, json_t **result) {
    json_t *ev = json_pack("{s:s,s:{s:i}}", "name", "app/sent", "data", "x", 1), *ids;
    int rc = inngest_step_send_event(ctx, "send-it", ev, &ids);
    json_decref(ev);
    if (rc != INNGEST_OK)
        return rc;
    *result = json_incref(ids);
    return INNGEST_OK;
}

static int fn_parallel(inngest_ctx *ctx, json_t **result) {
    json_t *a, *b;
    inngest_parallel_begin(ctx);
    inngest_step_run(ctx, "par-a", step_const, "\"A\"", &a);
    inngest_step_run(ctx, "par-b", step_const, "\"B\"", &b);
    INNGEST_STEP(inngest_parallel_end(ctx));
    char ab[16];
    snprintf(ab, sizeof(ab), "%s%s", json_string_value(a), json_string_value(b));
    *result = json_string(ab);
    return INNGEST_OK;
}

static int step_index(inngest_ctx *ctx, void *arg, json_t **out, inngest_error *err) {
    (void)ctx;
    (void)err;
    *out = json_integer(*(int *)arg);
    return INNGEST_OK;
}

static int fn_loop(inngest_ctx *ctx, json_t **result) {
    json_t *arr = json_array();
    for (int i = 0; i < 3; i++) {
        json_t *v;
        int rc = inngest_step_run(ctx, "same-id", step_index, &i, &v);
        if (rc != INNGEST_OK) {
            json_decref(arr);
            return rc;
        }
        json_array_append(arr, v);
    }
    *result = arr;
    return INNGEST_OK;
}

static int fn_throws(inngest_ctx *ctx, json_t **result) {
    (void)result;
    return inngest_ctx_fail(ctx, 0, "boom");
}

static int fn_nonretriable(inngest_ctx *ctx, json_t **result) {
    (void)result;
    return inngest_ctx_fail(ctx, INNGEST_FAIL_NO_RETRY, "nope");
}

static int fn_retryafter(inngest_ctx *ctx, json_t **result) {
    (void)result;
    inngest_error e;
    inngest_error_set(&e, INNGEST_EFUNCTION, "later");
    snprintf(e.retry_after, sizeof(e.retry_after), "30");
    return inngest_ctx_fail_with(ctx, &e);
}

static int step_boom(inngest_ctx *ctx, void *arg, json_t **out, inngest_error *err) {
    (void)ctx;
    (void)out;
    inngest_error_set(err, INNGEST_ESTEP, "%s", (const char *)arg);
    err->no_retry = strcmp(arg, "step nope") == 0;
    return INNGEST_ESTEP;
}

static int fn_step_throws(inngest_ctx *ctx, json_t **result) {
    json_t *v;
    int rc = inngest_step_run(ctx, "bad", step_boom, "step boom", &v);
    if (rc == INNGEST_ESTEP) { /* handled */
        *result = json_pack("{s:O,s:O}", "caught", json_object_get(v, "message"), "name",
                            json_object_get(v, "name"));
        return INNGEST_OK;
    }
    return rc;
}

static int fn_step_throws_uncaught(inngest_ctx *ctx, json_t **result) {
    json_t *v;
    INNGEST_STEP(inngest_step_run(ctx, "bad", step_boom, "step boom", &v));
    *result = json_incref(v);
    return INNGEST_OK;
}

static int fn_step_nonretriable(inngest_ctx *ctx, json_t **result) {
    json_t *v;
    INNGEST_STEP(inngest_step_run(ctx, "bad-nr", step_boom, "step nope", &v));
    *result = json_incref(v);
    return INNGEST_OK;
}

static int fn_config_rich(inngest_ctx *ctx, json_t **result) {
    (void)ctx;
    *result = json_string("ok");
    return INNGEST_OK;
}

static int fn_config_rich_failure(inngest_ctx *ctx, json_t **result) {
    json_t *data = json_object_get(inngest_ctx_event(ctx), "data");
    *result = json_pack(
        "{s:O,s:O}", "handled", json_object_get(json_object_get(data, "error"), "message"),
        "orig", json_object_get(json_object_get(data, "event"), "name"));
    return INNGEST_OK;
}

static int fn_batched(inngest_ctx *ctx, json_t **result) {
    *result = json_pack("{s:I}", "count", (json_int_t)json_array_size(inngest_ctx_events(ctx)));
    return INNGEST_OK;
}

static int fn_cron(inngest_ctx *ctx, json_t **result) {
    *result = json_pack("{s:O}", "name", json_object_get(inngest_ctx_event(ctx), "name"));
    return INNGEST_OK;
}

/* Adds one function; the app owns it from then on, even on failure. */
static int add(inngest_app *app, const char *id, inngest_handler_fn fn, const char *event) {
    inngest_function *f = inngest_function_create(id, fn, NULL);
    if (!f)
        return INNGEST_ENOMEM;
    if (event) {
        int rc = inngest_function_add_event_trigger(f, event, NULL);
        if (rc != INNGEST_OK) {
            inngest_function_destroy(f);
            return rc;
        }
    }
    return inngest_app_add_function(app, f);
}

static const struct {
    const char *id, *event;
    inngest_handler_fn fn;
} event_functions[] = {
    {"hello", "test/hello", fn_hello},
    {"returns-undefined", "test/undef", fn_undefined},
    {"returns-string", "test/string", fn_string},
    {"steps", "test/steps", fn_steps},
    {"step-named", "test/named", fn_step_named},
    {"step-undef", "test/step-undef", fn_step_undef},
    {"sleeps", "test/sleeps", fn_sleeps},
    {"waits", "test/waits", fn_waits},
    {"invoker", "test/invoke", fn_invoker},
    {"ai", "test/ai", fn_ai},
    {"sender", "test/send", fn_sender},
    {"parallel", "test/parallel", fn_parallel},
    {"loop", "test/loop", fn_loop},
    {"fn-throws", "test/throw", fn_throws},
    {"fn-nonretriable", "test/nr", fn_nonretriable},
    {"fn-retryafter", "test/ra", fn_retryafter},
    {"step-throws", "test/stepthrow", fn_step_throws},
    {"step-throws-uncaught", "test/stepthrow2", fn_step_throws_uncaught},
    {"step-nonretriable", "test/stepnr", fn_step_nonretriable},
    {"batched", "test/batch", fn_batched},
};

int engine_app_add_echo(inngest_app *app) {
    return add(app, "echo", fn_echo, "test/echo");
}

int engine_app_add_functions(inngest_app *app) {
    for (size_t i = 0; i < sizeof(event_functions) / sizeof(event_functions[0]); i++) {
        int rc = add(app, event_functions[i].id, event_functions[i].fn, event_functions[i].event);
        if (rc != INNGEST_OK)
            return rc;
    }
    inngest_function *f = inngest_function_create("cron-only", fn_cron, NULL);
    if (!f)
        return INNGEST_ENOMEM;
    int rc = inngest_function_add_cron_trigger(f, "0 * * * *", NULL);
    if (rc != INNGEST_OK) {
        inngest_function_destroy(f);
        return rc;
    }
    if ((rc = inngest_app_add_function(app, f)) != INNGEST_OK)
        return rc;
    f = inngest_function_create("config-rich", fn_config_rich, NULL);
    if (!f)
        return INNGEST_ENOMEM;
    rc = inngest_function_set_name(f, "Config Rich Function");
    if (rc == INNGEST_OK)
        rc = inngest_function_set_on_failure(f, fn_config_rich_failure);
    if (rc != INNGEST_OK) {
        inngest_function_destroy(f);
        return rc;
    }
    return inngest_app_add_function(app, f);
}
