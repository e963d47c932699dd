/* SPDX-License-Identifier: MIT */
/*
 * The step engine and call handling, driven through the public test engine
 * (inngest_test_call builds the executor's request and calls inngest_app_handle).
 * Expected ops are those the official JS SDK answered for the same functions (its
 * captured responses), in this SDK's documented form: Sleep carries opts.duration,
 * WaitForEvent is named after the step with the event in opts, every op has a name.
 */
#include "fmacros.h"

#include <inngest/inngest.h>

#include "testutil.h"

/* ---- a fake transport: answers the event API, records the last request ---------------- */

struct fake {
    inngest_transport base;
    int calls;
    char last_url[512];
    char last_body[4096];
    char seed[128];
};

static int fake_send(inngest_transport *self, const inngest_http_request *req,
                     inngest_http_response *res, inngest_error *err) {
    struct fake *f = (struct fake *)self;
    (void)err;
    f->calls++;
    snprintf(f->last_url, sizeof(f->last_url), "%s", req->url);
    snprintf(f->last_body, sizeof(f->last_body), "%.*s", (int)req->body_len,
             req->body ? req->body : "");
    const char *seed = inngest_http_request_header(req, "X-Inngest-Event-Id-Seed");
    snprintf(f->seed, sizeof(f->seed), "%s", seed ? seed : "");
    res->status = 200;
    const char *body = "{\"ids\":[\"01FAKEEVENTID000000000000\"],\"status\":200}";
    return inngest_http_response_set_body(res, body, strlen(body));
}

static struct fake fake_transport = {.base = {.send = fake_send}};

static int64_t fixed_now(void *user) {
    (void)user;
    return 1732400000000LL;
}

/* ---- the functions (same ids and behaviour as the captured JS app) ----------------------- */

static int fn_hello(inngest_ctx *ctx, json_t **result) {
    *result = json_pack("{s:s,s:O,s:s,s:i}", "message", "hi", "name",
                        json_object_get(inngest_ctx_event(ctx), "name"), "runId",
                        inngest_ctx_run_id(ctx), "attempt", inngest_ctx_attempt(ctx));
    return INNGEST_OK;
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
    return INNGEST_OK;
}

static int step_append_b(inngest_ctx *ctx, void *arg, json_t **out, inngest_error *err) {
    (void)ctx;
    (void)err;
    char buf[256];
    snprintf(buf, sizeof(buf), "%sB", json_string_value(arg));
    *out = json_string(buf);
    return INNGEST_OK;
}

static int fn_steps(inngest_ctx *ctx, json_t **result) {
    json_t *a, *ab;
    INNGEST_STEP(inngest_step_run(ctx, "first step", step_const, "\"A\"", &a));
    INNGEST_STEP(inngest_step_run(ctx, "second step", step_append_b, a, &ab));
    *result = json_pack("{s:O}", "result", ab);
    return INNGEST_OK;
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

static void add(inngest_app *app, const char *id, inngest_handler_fn fn, const char *event) {
    inngest_function *f = inngest_function_create(id, fn, NULL);
    CHECK(f);
    if (event)
        CHECK_EQ_INT(inngest_function_add_event_trigger(f, event, NULL), INNGEST_OK);
    CHECK_EQ_INT(inngest_app_add_function(app, f), INNGEST_OK);
}

static inngest_app *make_app(void) {
    inngest_app_opts o = {.app_id = "my-app", .mode = INNGEST_MODE_DEV,
                          .transport = &fake_transport.base, .now_ms_fn = fixed_now};
    inngest_error err;
    inngest_app *app = inngest_app_create(&o, &err);
    CHECK(app);
    add(app, "hello", fn_hello, "test/hello");
    add(app, "returns-undefined", fn_undefined, "test/undef");
    add(app, "returns-string", fn_string, "test/string");
    add(app, "steps", fn_steps, "test/steps");
    add(app, "step-named", fn_step_named, "test/named");
    add(app, "step-undef", fn_step_undef, "test/step-undef");
    add(app, "sleeps", fn_sleeps, "test/sleeps");
    add(app, "waits", fn_waits, "test/waits");
    add(app, "invoker", fn_invoker, "test/invoke");
    add(app, "ai", fn_ai, "test/ai");
    add(app, "sender", fn_sender, "test/send");
    add(app, "parallel", fn_parallel, "test/parallel");
    add(app, "loop", fn_loop, "test/loop");
    add(app, "fn-throws", fn_throws, "test/throw");
    add(app, "fn-nonretriable", fn_nonretriable, "test/nr");
    add(app, "fn-retryafter", fn_retryafter, "test/ra");
    add(app, "step-throws", fn_step_throws, "test/stepthrow");
    add(app, "step-throws-uncaught", fn_step_throws_uncaught, "test/stepthrow2");
    add(app, "step-nonretriable", fn_step_nonretriable, "test/stepnr");
    add(app, "batched", fn_batched, "test/batch");

    inngest_function *f = inngest_function_create("cron-only", fn_cron, NULL);
    CHECK_EQ_INT(inngest_function_add_cron_trigger(f, "0 * * * *", NULL), INNGEST_OK);
    CHECK_EQ_INT(inngest_app_add_function(app, f), INNGEST_OK);

    f = inngest_function_create("config-rich", fn_config_rich, NULL);
    CHECK_EQ_INT(inngest_function_set_name(f, "Config Rich Function"), INNGEST_OK);
    CHECK_EQ_INT(inngest_function_set_on_failure(f, fn_config_rich_failure), INNGEST_OK);
    CHECK_EQ_INT(inngest_app_add_function(app, f), INNGEST_OK);
    inngest_app_freeze(app);
    return app;
}

/* Removes what varies between runs (timing) so ops compare exactly. */
static json_t *strip_timing(json_t *ops) {
    size_t i;
    json_t *op;
    json_array_foreach(ops, i, op) json_object_del(op, "timing");
    return ops;
}

static void expect(inngest_app *app, inngest_test_opts *o, int status, const char *body) {
    inngest_test_result r;
    CHECK_EQ_INT(inngest_test_call(app, o, &r), INNGEST_OK);
    if (r.status != status) {
        char *b = json_dumps(r.body, JSON_ENCODE_ANY);
        fprintf(stderr, "body: %s\n", b);
        free(b);
    }
    CHECK_EQ_INT(r.status, status);
    json_t *want = testutil_json(body);
    CHECK_JSON_EQ(r.ops ? strip_timing(r.ops) : r.body, want);
    json_decref(want);
    inngest_test_result_cleanup(&r);
}

TEST_CASE(no_steps_returns_200) {
    inngest_app *app = make_app();
    json_t *ev = testutil_json("{\"name\":\"test/hello\",\"data\":{}}");
    inngest_test_opts o = {.function_id = "hello", .event = ev,
                           .run_id = "01JDRUNID000000000000000001"};
    expect(app, &o, 200,
           "{\"message\":\"hi\",\"name\":\"test/hello\",\"runId\":\"01JDRUNID000000000000000001\","
           "\"attempt\":0}");
    o.function_id = "returns-undefined";
    expect(app, &o, 200, "null");
    o.function_id = "returns-string";
    expect(app, &o, 200, "\"plain string\"");
    json_decref(ev);
    inngest_app_destroy(app);
}

TEST_CASE(immediate_execution_then_memoized) {
    inngest_app *app = make_app();
    inngest_test_opts o = {.function_id = "steps"};
    expect(app, &o, 206,
           "[{\"id\":\"98bf98df193bcce7c33e6bc50927cf2ac21206cb\",\"op\":\"StepRun\",\"name\":"
           "\"first step\",\"opts\":{},\"displayName\":\"first step\",\"userland\":{\"id\":"
           "\"first step\"},\"data\":\"A\"}]");
    json_t *steps = testutil_json("{\"first step\":{\"data\":\"A\"}}");
    o.steps = steps;
    expect(app, &o, 206,
           "[{\"id\":\"764e20ec975d4ef820d0f42e6a5833384bd7ee36\",\"op\":\"StepRun\",\"name\":"
           "\"second step\",\"opts\":{},\"displayName\":\"second step\",\"userland\":{\"id\":"
           "\"second step\"},\"data\":\"AB\"}]");
    json_decref(steps);
    steps = testutil_json("{\"first step\":{\"data\":\"A\"},\"second step\":{\"data\":\"AB\"}}");
    o.steps = steps;
    expect(app, &o, 200, "{\"result\":\"AB\"}");
    json_decref(steps);
    inngest_app_destroy(app);
}

TEST_CASE(disable_immediate_execution_plans) {
    inngest_app *app = make_app();
    inngest_test_opts o = {.function_id = "steps", .disable_immediate_execution = 1};
    expect(app, &o, 206,
           "[{\"displayName\":\"first step\",\"op\":\"StepPlanned\",\"id\":"
           "\"98bf98df193bcce7c33e6bc50927cf2ac21206cb\",\"name\":\"first step\",\"opts\":{},"
           "\"userland\":{\"id\":\"first step\"},\"data\":null}]");
    o.target_step = "first step";
    expect(app, &o, 206,
           "[{\"id\":\"98bf98df193bcce7c33e6bc50927cf2ac21206cb\",\"op\":\"StepRun\",\"name\":"
           "\"first step\",\"opts\":{},\"displayName\":\"first step\",\"userland\":{\"id\":"
           "\"first step\"},\"data\":\"A\"}]");
    inngest_app_destroy(app);
}

TEST_CASE(targeted_step_not_found_is_500) {
    inngest_app *app = make_app();
    inngest_test_opts o = {.function_id = "steps", .target_step = "no such step",
                           .disable_immediate_execution = 1};
    inngest_test_result r;
    CHECK_EQ_INT(inngest_test_call(app, &o, &r), INNGEST_OK);
    CHECK_EQ_INT(r.status, 500);
    CHECK(!r.no_retry);
    CHECK_EQ_INT(json_integer_value(json_object_get(r.body, "totalFoundSteps")), 1);
    json_t *want = testutil_json("[{\"id\":\"98bf98df193bcce7c33e6bc50927cf2ac21206cb\","
                                 "\"name\":\"first step\",\"displayName\":\"first step\"}]");
    CHECK_JSON_EQ(json_object_get(r.body, "foundSteps"), want);
    json_decref(want);
    inngest_test_result_cleanup(&r);
    inngest_app_destroy(app);
}

TEST_CASE(named_and_null_steps) {
    inngest_app *app = make_app();
    inngest_test_opts o = {.function_id = "step-named"};
    expect(app, &o, 206,
           "[{\"id\":\"e7d8a2f140845095749d60246ff1110c9d01d76a\",\"op\":\"StepRun\",\"name\":"
           "\"my-step-id\",\"opts\":{},\"displayName\":\"My Pretty Step\",\"userland\":{\"id\":"
           "\"my-step-id\"},\"data\":{\"n\":1}}]");
    o.function_id = "step-undef";
    expect(app, &o, 206,
           "[{\"id\":\"0feca720e2c29dafb2c900713ba560e03b758711\",\"op\":\"StepRun\",\"name\":"
           "\"nothing\",\"opts\":{},\"displayName\":\"nothing\",\"userland\":{\"id\":"
           "\"nothing\"},\"data\":null}]");
    inngest_app_destroy(app);
}

TEST_CASE(sleeps) {
    inngest_app *app = make_app();
    inngest_test_opts o = {.function_id = "sleeps"};
    expect(app, &o, 206,
           "[{\"displayName\":\"nap\",\"op\":\"Sleep\",\"id\":"
           "\"c2640f79b4ed481b838ce4ad75330aa3f825d4d9\",\"name\":\"1h30m\",\"opts\":{"
           "\"duration\":\"1h30m\"},\"userland\":{\"id\":\"nap\"},\"data\":null}]");
    json_t *steps = testutil_json("{\"nap\":null}");
    o.steps = steps;
    expect(app, &o, 206,
           "[{\"displayName\":\"nap-ms\",\"op\":\"Sleep\",\"id\":"
           "\"0f293e3bf703ed51515a6d836ec33365b9cba5ca\",\"name\":\"1d1h1m1s\",\"opts\":{"
           "\"duration\":\"1d1h1m1s\"},\"userland\":{\"id\":\"nap-ms\"},\"data\":null}]");
    json_decref(steps);
    steps = testutil_json("{\"nap\":null,\"nap-ms\":null}");
    o.steps = steps;
    expect(app, &o, 206,
           "[{\"displayName\":\"until\",\"op\":\"Sleep\",\"id\":"
           "\"b310f4d4d89b8570184b9777ad7d90fc1df20457\",\"name\":\"2030-01-01T00:00:00.000Z\","
           "\"opts\":{\"duration\":\"2030-01-01T00:00:00.000Z\"},\"userland\":{\"id\":"
           "\"until\"},\"data\":null}]");
    json_decref(steps);
    steps = testutil_json("{\"nap\":null,\"nap-ms\":null,\"until\":null}");
    o.steps = steps;
    expect(app, &o, 200, "\"woke\"");
    json_decref(steps);
    inngest_app_destroy(app);
}

TEST_CASE(wait_for_event) {
    inngest_app *app = make_app();
    inngest_test_opts o = {.function_id = "waits"};
    expect(app, &o, 206,
           "[{\"displayName\":\"wait-if\",\"op\":\"WaitForEvent\",\"id\":"
           "\"79f4c2b445b386752352a90c69442154a47e4528\",\"name\":\"wait-if\",\"opts\":{"
           "\"event\":\"test/resume\",\"timeout\":\"1d\",\"if\":\"async.data.id == "
           "event.data.id\"},\"userland\":{\"id\":\"wait-if\"},\"data\":null}]");
    const char *e1 = "{\"data\":{\"id\":\"x\"},\"id\":\"01JRESUME\",\"name\":\"test/resume\","
                     "\"ts\":1732400001000,\"user\":{}}";
    char buf[1024];
    snprintf(buf, sizeof(buf), "{\"wait-if\":%s}", e1);
    json_t *steps = testutil_json(buf);
    o.steps = steps;
    expect(app, &o, 206,
           "[{\"displayName\":\"wait-match\",\"op\":\"WaitForEvent\",\"id\":"
           "\"5e758bf9479665756311d32282c3bc870414c822\",\"name\":\"wait-match\",\"opts\":{"
           "\"event\":\"test/resume2\",\"timeout\":\"2h\",\"if\":\"event.data.id == "
           "async.data.id\"},\"userland\":{\"id\":\"wait-match\"},\"data\":null}]");
    json_decref(steps);
    /* A timed-out wait is saved as null; a matched one as the whole event. */
    snprintf(buf, sizeof(buf),
             "{\"wait-if\":%s,\"wait-match\":null,\"wait-plain\":{\"data\":{},\"id\":\"e3\","
             "\"name\":\"test/resume3\",\"ts\":1,\"user\":{}}}",
             e1);
    steps = testutil_json(buf);
    o.steps = steps;
    snprintf(buf, sizeof(buf),
             "{\"e1\":%s,\"e2\":null,\"e3\":{\"data\":{},\"id\":\"e3\",\"name\":"
             "\"test/resume3\",\"ts\":1,\"user\":{}}}",
             e1);
    expect(app, &o, 200, buf);
    json_decref(steps);
    inngest_app_destroy(app);
}

TEST_CASE(invoke) {
    inngest_app *app = make_app();
    inngest_test_opts o = {.function_id = "invoker"};
    expect(app, &o, 206,
           "[{\"displayName\":\"call-hello\",\"op\":\"InvokeFunction\",\"id\":"
           "\"e5071698f846db5f5aa5795ba2c563ad0c6baae5\",\"name\":\"call-hello\",\"opts\":{"
           "\"payload\":{\"data\":{\"x\":1}},\"function_id\":\"my-app-hello\",\"timeout\":"
           "\"1h\"},\"userland\":{\"id\":\"call-hello\"},\"data\":null}]");
    json_t *steps = testutil_json("{\"call-hello\":{\"data\":{\"message\":\"hi\"}}}");
    o.steps = steps;
    expect(app, &o, 200, "{\"message\":\"hi\"}");
    json_decref(steps);

    /* The child's error, not handled, fails the run for good. */
    steps = testutil_json("{\"call-hello\":{\"error\":{\"message\":\"invoked fn failed\","
                          "\"name\":\"Error\",\"stack\":\"s\"}}}");
    o.steps = steps;
    inngest_test_result r;
    CHECK_EQ_INT(inngest_test_call(app, &o, &r), INNGEST_OK);
    CHECK_EQ_INT(r.status, 400);
    CHECK(r.no_retry);
    CHECK_STR(json_string_value(json_object_get(r.body, "message")), "invoked fn failed");
    inngest_test_result_cleanup(&r);
    json_decref(steps);
    inngest_app_destroy(app);
}

TEST_CASE(ai_infer) {
    inngest_app *app = make_app();
    inngest_test_opts o = {.function_id = "ai"};
    expect(app, &o, 206,
           "[{\"displayName\":\"ask\",\"op\":\"AIGateway\",\"id\":"
           "\"1c8f09270fc33a393af3eaf0b2ebf58eb9bbbcc2\",\"name\":\"ask\",\"opts\":{\"type\":"
           "\"step.ai.infer\",\"url\":\"https://api.openai.com/v1/chat/completions\","
           "\"auth_key\":\"sk-test-123\",\"format\":\"openai-chat\",\"body\":{\"messages\":[{"
           "\"role\":\"user\",\"content\":\"hi\"}],\"model\":\"gpt-4o\"}},\"userland\":{\"id\":"
           "\"ask\"},\"data\":null}]");
    json_t *steps = testutil_json("{\"ask\":{\"data\":{\"choices\":[{\"message\":{\"content\":"
                                  "\"hello\",\"role\":\"assistant\"}}]}}}");
    o.steps = steps;
    expect(app, &o, 200,
           "{\"choices\":[{\"message\":{\"content\":\"hello\",\"role\":\"assistant\"}}]}");
    json_decref(steps);
    inngest_app_destroy(app);
}

TEST_CASE(send_event_step) {
    inngest_app *app = make_app();
    fake_transport.calls = 0;
    inngest_test_opts o = {.function_id = "sender"};
    expect(app, &o, 206,
           "[{\"id\":\"5cebd8c5d37b62f215b8c2df6df03b6d391aabda\",\"op\":\"StepRun\",\"name\":"
           "\"sendEvent\",\"opts\":{\"type\":\"step.sendEvent\"},\"displayName\":\"send-it\","
           "\"userland\":{\"id\":\"send-it\"},\"data\":{\"ids\":[\"01FAKEEVENTID000000000000\"]}}"
           "]");
    CHECK_EQ_INT(fake_transport.calls, 1);
    CHECK_STR(fake_transport.last_url, "http://localhost:8288/e/NO_EVENT_KEY_SET");
    json_t *sent = testutil_json(fake_transport.last_body);
    json_t *want =
        testutil_json("[{\"name\":\"app/sent\",\"data\":{\"x\":1},\"ts\":1732400000000}]");
    CHECK_JSON_EQ(sent, want);
    json_decref(sent);
    json_decref(want);
    CHECK(strncmp(fake_transport.seed, "1732400000000,", 14) == 0);
    CHECK_EQ_INT(strlen(fake_transport.seed), 14 + 16); /* base64 of 10 bytes */

    /* Memoized: the event is not sent again. */
    json_t *steps = testutil_json("{\"send-it\":{\"data\":{\"ids\":[\"01X\"]}}}");
    o.steps = steps;
    expect(app, &o, 200, "{\"ids\":[\"01X\"]}");
    CHECK_EQ_INT(fake_transport.calls, 1);
    json_decref(steps);
    inngest_app_destroy(app);
}

TEST_CASE(parallel_steps) {
    inngest_app *app = make_app();
    inngest_test_opts o = {.function_id = "parallel"};
    const char *planned_a =
        "{\"displayName\":\"par-a\",\"op\":\"StepPlanned\",\"id\":"
        "\"42094f9baaae4a7553fa8a331fcf663c2f2134b9\",\"name\":\"par-a\",\"opts\":{},"
        "\"userland\":{\"id\":\"par-a\"},\"data\":null}";
    const char *planned_b =
        "{\"displayName\":\"par-b\",\"op\":\"StepPlanned\",\"id\":"
        "\"1f0f99d7e1dcab0c03d412de944ad0eaf9e4b243\",\"name\":\"par-b\",\"opts\":{},"
        "\"userland\":{\"id\":\"par-b\"},\"data\":null}";
    char buf[1024];
    snprintf(buf, sizeof(buf), "[%s,%s]", planned_a, planned_b);
    expect(app, &o, 206, buf);

    o.disable_immediate_execution = 1;
    o.target_step = "par-a";
    expect(app, &o, 206,
           "[{\"id\":\"42094f9baaae4a7553fa8a331fcf663c2f2134b9\",\"op\":\"StepRun\",\"name\":"
           "\"par-a\",\"opts\":{},\"displayName\":\"par-a\",\"userland\":{\"id\":\"par-a\"},"
           "\"data\":\"A\"}]");

    o.target_step = NULL;
    json_t *steps = testutil_json("{\"par-a\":{\"data\":\"A\"}}");
    o.steps = steps;
    snprintf(buf, sizeof(buf), "[%s]", planned_b);
    expect(app, &o, 206, buf);
    json_decref(steps);

    steps = testutil_json("{\"par-a\":{\"data\":\"A\"},\"par-b\":{\"data\":\"B\"}}");
    o.steps = steps;
    expect(app, &o, 200, "\"AB\"");
    json_decref(steps);
    inngest_app_destroy(app);
}

TEST_CASE(repeated_ids_in_a_loop) {
    inngest_app *app = make_app();
    inngest_test_opts o = {.function_id = "loop"};
    json_t *steps = testutil_json("{\"same-id\":{\"data\":0}}");
    o.steps = steps;
    expect(app, &o, 206,
           "[{\"id\":\"5be312e38fa79927b66c04d8d8f55152bf0822c8\",\"op\":\"StepRun\",\"name\":"
           "\"same-id\",\"opts\":{},\"displayName\":\"same-id\",\"userland\":{\"id\":"
           "\"same-id\",\"index\":1},\"data\":1}]");
    json_decref(steps);
    steps = testutil_json(
        "{\"same-id\":{\"data\":0},\"same-id:1\":{\"data\":1},\"same-id:2\":{\"data\":2}}");
    o.steps = steps;
    expect(app, &o, 200, "[0,1,2]");
    json_decref(steps);
    inngest_app_destroy(app);
}

static void expect_failure(inngest_app *app, inngest_test_opts *o, int status, int no_retry,
                           const char *retry_after, const char *name, const char *message) {
    inngest_test_result r;
    CHECK_EQ_INT(inngest_test_call(app, o, &r), INNGEST_OK);
    CHECK_EQ_INT(r.status, status);
    CHECK_EQ_INT(r.no_retry, no_retry);
    CHECK_STR(r.retry_after, retry_after);
    CHECK_STR(json_string_value(json_object_get(r.body, "name")), name);
    CHECK_STR(json_string_value(json_object_get(r.body, "message")), message);
    inngest_test_result_cleanup(&r);
}

TEST_CASE(function_errors) {
    inngest_app *app = make_app();
    inngest_test_opts o = {.function_id = "fn-throws", .max_attempts = 4};
    expect_failure(app, &o, 500, 0, "", "Error", "boom");
    o.attempt = 3; /* the last attempt */
    expect_failure(app, &o, 400, 1, "", "Error", "boom");
    o.attempt = 0;
    o.function_id = "fn-nonretriable";
    expect_failure(app, &o, 400, 1, "", "NonRetriableError", "nope");
    o.function_id = "fn-retryafter";
    expect_failure(app, &o, 500, 0, "30", "RetryAfterError", "later");
    inngest_app_destroy(app);
}

TEST_CASE(step_errors) {
    inngest_app *app = make_app();
    inngest_test_opts o = {.function_id = "step-throws", .max_attempts = 4};
    inngest_test_result r;
    CHECK_EQ_INT(inngest_test_call(app, &o, &r), INNGEST_OK);
    CHECK_EQ_INT(r.status, 206);
    CHECK(!r.no_retry);
    json_t *op = json_array_get(r.ops, 0);
    CHECK_STR(json_string_value(json_object_get(op, "op")), "StepError");
    CHECK_STR(json_string_value(json_object_get(op, "id")),
              "1902e3d6fc4e78a0bcc50ba12b882769afbf4a8c");
    json_t *want = testutil_json("{\"name\":\"Error\",\"message\":\"step boom\",\"stack\":\"\"}");
    CHECK_JSON_EQ(json_object_get(op, "error"), want);
    CHECK(json_is_null(json_object_get(op, "data")));
    inngest_test_result_cleanup(&r);

    o.attempt = 3; /* last attempt: StepFailed */
    CHECK_EQ_INT(inngest_test_call(app, &o, &r), INNGEST_OK);
    CHECK(r.no_retry);
    op = json_array_get(r.ops, 0);
    CHECK_STR(json_string_value(json_object_get(op, "op")), "StepFailed");
    CHECK_JSON_EQ(json_object_get(op, "error"), want);
    inngest_test_result_cleanup(&r);
    json_decref(want);

    o.attempt = 0;
    o.function_id = "step-nonretriable";
    CHECK_EQ_INT(inngest_test_call(app, &o, &r), INNGEST_OK);
    CHECK(r.no_retry);
    op = json_array_get(r.ops, 0);
    CHECK_STR(json_string_value(json_object_get(op, "op")), "StepFailed");
    CHECK_STR(json_string_value(json_object_get(json_object_get(op, "error"), "name")),
              "NonRetriableError");
    inngest_test_result_cleanup(&r);

    /* A saved error, handled by the function. */
    json_t *steps = testutil_json(
        "{\"bad\":{\"error\":{\"message\":\"step boom\",\"name\":\"Error\",\"stack\":\"x\"}}}");
    o.function_id = "step-throws";
    o.steps = steps;
    expect(app, &o, 200, "{\"caught\":\"step boom\",\"name\":\"Error\"}");
    /* Not handled: the run fails without retry, with the saved error. */
    o.function_id = "step-throws-uncaught";
    expect_failure(app, &o, 400, 1, "", "Error", "step boom");
    json_decref(steps);
    inngest_app_destroy(app);
}

TEST_CASE(on_failure_batch_and_cron_events) {
    inngest_app *app = make_app();
    json_t *ev = testutil_json(
        "{\"name\":\"inngest/function.failed\",\"data\":{\"function_id\":\"my-app-config-rich\","
        "\"run_id\":\"01R\",\"error\":{\"name\":\"Error\",\"message\":\"it broke\"},"
        "\"event\":{\"name\":\"test/config\",\"data\":{}}}}");
    inngest_test_opts o = {.function_id = "my-app-config-rich-failure", .event = ev};
    expect(app, &o, 200, "{\"handled\":\"it broke\",\"orig\":\"test/config\"}");
    json_decref(ev);

    json_t *events = testutil_json("[{\"name\":\"test/batch\",\"data\":{\"n\":1}},"
                                   "{\"name\":\"test/batch\",\"data\":{\"n\":2}}]");
    inngest_test_opts b = {.function_id = "batched", .event = json_array_get(events, 0),
                           .events = events};
    expect(app, &b, 200, "{\"count\":2}");
    json_decref(events);

    ev = testutil_json("{\"name\":\"inngest/scheduled.timer\",\"id\":\"2026-11-24T07:00:00Z\","
                       "\"data\":{\"cron\":\"0 * * * *\"}}");
    inngest_test_opts c = {.function_id = "cron-only", .event = ev};
    expect(app, &c, 200, "{\"name\":\"inngest/scheduled.timer\"}");
    json_decref(ev);
    inngest_app_destroy(app);
}

TEST_CASE(run_to_end_drives_like_the_server) {
    inngest_app *app = make_app();
    inngest_test_opts o = {.function_id = "parallel"};
    inngest_test_result r;
    json_t *steps = NULL;
    CHECK_EQ_INT(inngest_test_run_to_end(app, &o, NULL, 20, &r, &steps), INNGEST_OK);
    CHECK_EQ_INT(r.status, 200);
    CHECK_STR(json_string_value(r.body), "AB");
    CHECK_EQ_INT(json_object_size(steps), 2);
    inngest_test_result_cleanup(&r);
    json_decref(steps);

    o.function_id = "sleeps";
    CHECK_EQ_INT(inngest_test_run_to_end(app, &o, NULL, 20, &r, NULL), INNGEST_OK);
    CHECK_EQ_INT(r.status, 200);
    CHECK_STR(json_string_value(r.body), "woke");
    inngest_test_result_cleanup(&r);
    inngest_app_destroy(app);
}
