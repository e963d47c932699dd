/* SPDX-License-Identifier: MIT */
/*
 * The step engine and call handling, driven through the public test engine
 * (inngest_test_call builds the executor's request and calls inngest_app_handle).
 * Expected ops are those the official JS SDK answered for the same functions (its
 * captured responses), in this SDK's documented form: Sleep carries opts.duration,
 * WaitForEvent is named after the step with the event in opts, every op has a name.
 * The functions are in engine_app.c; the cases that are a call in and an answer out are
 * golden files (tests/data/golden/engine.json, run by test_golden.c); what stays here
 * checks more than the answer.
 */
#include "fmacros.h"

#include <inngest/inngest.h>

#include "engine_app.h"
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

/* Checkpointing off: these cases compare the classic one-step answers with the official
 * SDK's (test_checkpoint.c and the checkpointing cases below cover the other protocol). */
static inngest_app *make_app(void) {
    inngest_app_opts o = {.app_id = "my-app", .mode = INNGEST_MODE_DEV,
                          .transport = &fake_transport.base, .now_ms_fn = fixed_now,
                          .checkpointing = {.mode = -1}};
    inngest_error err;
    inngest_app *app = inngest_app_create(&o, &err);
    CHECK(app);
    CHECK_EQ_INT(engine_app_add_functions(app), INNGEST_OK);
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

/* ---- the test engine's calls carry the executor's ctx, so apps checkpoint ------------------ */

static int64_t slept_ms;

static void fake_sleep(void *user, int64_t ms) {
    (void)user;
    slept_ms += ms; /* a checkpoint retry would wait here: none must happen */
}

static inngest_app *make_checkpointing_app(void) {
    inngest_app_opts o = {.app_id = "my-app", .mode = INNGEST_MODE_DEV,
                          .transport = &fake_transport.base, .now_ms_fn = fixed_now,
                          .sleep_ms_fn = fake_sleep, .checkpointing = {.mode = 1}};
    inngest_app *app = inngest_app_create(&o, NULL);
    CHECK(app);
    CHECK_EQ_INT(engine_app_add_functions(app), INNGEST_OK);
    inngest_app_freeze(app);
    return app;
}

static const char *op_field(json_t *ops, size_t i, const char *k) {
    return json_string_value(json_object_get(json_array_get(ops, i), k));
}

/* inngest_test_call() sends ctx.fn_id, ctx.qi_id, ctx.job_id and ctx.request_id as the
 * executor does, so a checkpointing app runs both steps in one call and saves them through
 * the checkpoint API, which the test engine answers itself: it accepts a checkpoint only
 * when the request names the call's run, function and queue item, so the steps show up in
 * r.checkpoints only when the ids went out and came back. */
TEST_CASE(test_call_sends_the_executor_ctx_and_checkpoints) {
    inngest_app *app = make_checkpointing_app();
    slept_ms = 0;
    inngest_test_opts o = {.function_id = "steps"};
    inngest_test_result r;
    CHECK_EQ_INT(inngest_test_call(app, &o, &r), INNGEST_OK);
    CHECK_EQ_INT(r.status, 206);
    CHECK_EQ_INT(json_array_size(r.ops), 1);
    CHECK_STR(op_field(r.ops, 0, "op"), "RunComplete");
    CHECK_STR(op_field(r.ops, 0, "id"), "0737c22d3bfae812339732d14d8c7dbd6dc4e09c"); /* sha1("complete") */
    json_t *want = testutil_json("{\"result\":\"AB\"}");
    CHECK_JSON_EQ(json_object_get(json_array_get(r.ops, 0), "data"), want);
    json_decref(want);
    CHECK_EQ_INT(json_array_size(r.checkpoints), 2);
    CHECK_STR(op_field(r.checkpoints, 0, "op"), "StepRun");
    CHECK_STR(op_field(r.checkpoints, 0, "id"), "98bf98df193bcce7c33e6bc50927cf2ac21206cb");
    CHECK_STR(op_field(r.checkpoints, 1, "name"), "second step");
    CHECK_STR(json_string_value(json_object_get(json_array_get(r.checkpoints, 1), "data")), "AB");
    CHECK(slept_ms == 0);
    inngest_test_result_cleanup(&r);
    CHECK(r.checkpoints == NULL);

    /* Where the executor does not allow it (forced planning, a target step), the same
     * call answers the classic way and saves nothing through the API. */
    o.disable_immediate_execution = 1;
    CHECK_EQ_INT(inngest_test_call(app, &o, &r), INNGEST_OK);
    CHECK_EQ_INT(r.status, 206);
    CHECK_STR(op_field(r.ops, 0, "op"), "StepPlanned");
    CHECK(r.checkpoints == NULL);
    inngest_test_result_cleanup(&r);
    o.disable_immediate_execution = 0;
    o.target_step = "first step";
    CHECK_EQ_INT(inngest_test_call(app, &o, &r), INNGEST_OK);
    CHECK_STR(op_field(r.ops, 0, "op"), "StepRun");
    CHECK(r.checkpoints == NULL);
    inngest_test_result_cleanup(&r);
    inngest_app_destroy(app);
}

/* inngest_test_run_to_end() saves checkpointed steps like the server and stops at
 * RunComplete; a server op (a sleep) between steps still ends a call. */
TEST_CASE(run_to_end_saves_checkpointed_steps) {
    inngest_app *app = make_checkpointing_app();
    slept_ms = 0;
    inngest_test_opts o = {.function_id = "steps"};
    inngest_test_result r;
    json_t *steps = NULL;
    CHECK_EQ_INT(inngest_test_run_to_end(app, &o, NULL, 1, &r, &steps), INNGEST_OK);
    CHECK_EQ_INT(r.status, 206);
    CHECK_STR(op_field(r.ops, 0, "op"), "RunComplete");
    json_t *want = testutil_json("{\"98bf98df193bcce7c33e6bc50927cf2ac21206cb\":{\"data\":\"A\"},"
                                 "\"764e20ec975d4ef820d0f42e6a5833384bd7ee36\":{\"data\":\"AB\"}}");
    CHECK_JSON_EQ(steps, want);
    json_decref(want);
    json_decref(steps);
    inngest_test_result_cleanup(&r);

    /* "sleeps": three sleeps, each a call of its own; the last call completes the run. */
    o.function_id = "sleeps";
    CHECK_EQ_INT(inngest_test_run_to_end(app, &o, NULL, 20, &r, &steps), INNGEST_OK);
    CHECK_EQ_INT(r.status, 206);
    CHECK_STR(op_field(r.ops, 0, "op"), "RunComplete");
    CHECK_STR(json_string_value(json_object_get(json_array_get(r.ops, 0), "data")), "woke");
    CHECK_EQ_INT(json_object_size(steps), 3);
    CHECK(slept_ms == 0);
    json_decref(steps);
    inngest_test_result_cleanup(&r);
    inngest_app_destroy(app);
}
