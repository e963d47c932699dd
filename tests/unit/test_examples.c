/* SPDX-License-Identifier: MIT */
/*
 * The host's example functions, driven call by call the way the dev server drives them,
 * plus the engine's limits. The test engine's calls carry ctx.fn_id and ctx.qi_id as the
 * executor's do, so these apps checkpoint (the default): a call runs its step.run bodies
 * inline and a finished run answers 206 [RunComplete].
 */
#include "fmacros.h"

#include <inngest/inngest.h>

#include "examples.h"
#include "testutil.h"

static const char *env_none(void *user, const char *name) {
    (void)user;
    (void)name;
    return NULL;
}

static inngest_app *make_app(void) {
    inngest_app_opts o = {.app_id = "inngest-c-ai-chat", .mode = INNGEST_MODE_DEV,
                          .getenv_fn = env_none};
    inngest_error err;
    inngest_app *app = inngest_app_create(&o, &err);
    CHECK(app);
    CHECK_EQ_INT(examples_register(app, &err), INNGEST_OK);
    inngest_app_freeze(app);
    return app;
}

TEST_CASE(hello_world_runs_to_completion) {
    inngest_app *app = make_app();
    json_t *ev = testutil_json("{\"name\":\"test/hello.world\",\"data\":{\"email\":\"ada@x.io\"}}");
    inngest_test_opts o = {.function_id = "hello-world", .event = ev};
    inngest_test_result r;
    CHECK_EQ_INT(inngest_test_call(app, &o, &r), INNGEST_OK);
    CHECK_EQ_INT(r.status, 206);
    CHECK_STR(json_string_value(json_object_get(json_array_get(r.ops, 0), "op")), "Sleep");
    CHECK_STR(json_string_value(json_object_get(json_array_get(r.ops, 0), "name")), "1s");
    inngest_test_result_cleanup(&r);

    json_t *steps = NULL;
    CHECK_EQ_INT(inngest_test_run_to_end(app, &o, NULL, 10, &r, &steps), INNGEST_OK);
    CHECK_EQ_INT(r.status, 206);
    json_t *done = json_array_get(r.ops, 0);
    CHECK_STR(json_string_value(json_object_get(done, "op")), "RunComplete");
    json_t *want = testutil_json("{\"message\":\"Hello ada@x.io!\"}");
    CHECK_JSON_EQ(json_object_get(done, "data"), want);
    CHECK_EQ_INT(json_object_size(steps), 1);
    json_decref(want);
    json_decref(steps);
    inngest_test_result_cleanup(&r);
    json_decref(ev);
    inngest_app_destroy(app);
}

TEST_CASE(process_data_runs_to_completion) {
    inngest_app *app = make_app();
    json_t *ev = testutil_json("{\"name\":\"data/process\",\"data\":{\"x\":[1,2,3]}}");
    inngest_test_opts o = {.function_id = "inngest-c-ai-chat-process-data", .event = ev};
    inngest_test_result r;
    json_t *steps = NULL;
    /* One call: both steps run inline and are checkpointed, then the run completes. */
    CHECK_EQ_INT(inngest_test_run_to_end(app, &o, NULL, 1, &r, &steps), INNGEST_OK);
    CHECK_EQ_INT(r.status, 206);
    CHECK_EQ_INT(json_array_size(r.checkpoints), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(r.checkpoints, 0), "name")),
              "validate-data");
    CHECK_STR(json_string_value(json_object_get(json_array_get(r.checkpoints, 1), "name")),
              "process-data");
    json_t *done = json_array_get(r.ops, 0);
    CHECK_STR(json_string_value(json_object_get(done, "op")), "RunComplete");
    json_t *out = json_object_get(done, "data");
    CHECK_STR(json_string_value(json_object_get(out, "status")), "success");
    json_t *want = testutil_json("{\"x\":[1,2,3]}");
    CHECK_JSON_EQ(json_object_get(out, "result"), want);
    const char *at = json_string_value(json_object_get(out, "processedAt"));
    CHECK(at && strlen(at) == 24 && at[23] == 'Z');
    CHECK_EQ_INT(json_object_size(steps), 2);
    json_decref(want);
    json_decref(steps);
    inngest_test_result_cleanup(&r);
    json_decref(ev);
    inngest_app_destroy(app);
}

/* ---- limits -------------------------------------------------------------------------------- */

static int big_output(inngest_ctx *ctx, void *arg, json_t **out, inngest_error *err) {
    (void)ctx;
    (void)arg;
    (void)err;
    char *s = malloc(5u << 20);
    memset(s, 'x', (5u << 20) - 1);
    s[(5u << 20) - 1] = '\0';
    *out = json_string(s);
    free(s);
    return INNGEST_OK;
}

static int fn_big(inngest_ctx *ctx, json_t **result) {
    json_t *v;
    INNGEST_STEP(inngest_step_run(ctx, "big", big_output, NULL, &v));
    *result = json_incref(v);
    return INNGEST_OK;
}

static int unit(inngest_ctx *ctx, void *arg, json_t **out, inngest_error *err) {
    (void)ctx;
    (void)arg;
    (void)err;
    *out = json_true();
    return INNGEST_OK;
}

static int fn_many(inngest_ctx *ctx, json_t **result) {
    for (int i = 0; i < 1001; i++) {
        char id[32];
        json_t *v;
        snprintf(id, sizeof(id), "s-%d", i);
        INNGEST_STEP(inngest_step_run(ctx, id, unit, NULL, &v));
    }
    *result = json_true();
    return INNGEST_OK;
}

static int fn_nested(inngest_ctx *ctx, json_t **result);
static int nested_body(inngest_ctx *ctx, void *arg, json_t **out, inngest_error *err) {
    (void)arg;
    (void)err;
    json_t *v;
    return inngest_step_run(ctx, "inner", unit, NULL, &v) == INNGEST_OK
               ? (*out = json_true(), INNGEST_OK)
               : INNGEST_EINVAL;
}
static int fn_nested(inngest_ctx *ctx, json_t **result) {
    json_t *v;
    INNGEST_STEP(inngest_step_run(ctx, "outer", nested_body, NULL, &v));
    *result = json_incref(v);
    return INNGEST_OK;
}

static inngest_app *limits_app(void) {
    inngest_app_opts o = {.mode = INNGEST_MODE_DEV, .getenv_fn = env_none};
    inngest_app *app = inngest_app_create(&o, NULL);
    CHECK_EQ_INT(inngest_app_add_function(app, inngest_function_create("big", fn_big, NULL)), 0);
    CHECK_EQ_INT(inngest_app_add_function(app, inngest_function_create("many", fn_many, NULL)), 0);
    CHECK_EQ_INT(inngest_app_add_function(app, inngest_function_create("nested", fn_nested, NULL)),
                 0);
    inngest_app_freeze(app);
    return app;
}

TEST_CASE(step_output_limit) {
    inngest_app *app = limits_app();
    inngest_test_opts o = {.function_id = "big"};
    inngest_test_result r;
    CHECK_EQ_INT(inngest_test_call(app, &o, &r), INNGEST_OK);
    CHECK_EQ_INT(r.status, 206);
    CHECK(r.no_retry);
    json_t *op = json_array_get(r.ops, 0);
    CHECK_STR(json_string_value(json_object_get(op, "op")), "StepFailed");
    CHECK(strstr(json_string_value(json_object_get(json_object_get(op, "error"), "message")),
                 "limit"));
    inngest_test_result_cleanup(&r);
    inngest_app_destroy(app);
}

/* The step limit is the executor's (its default 1000 can be raised): with 1000 saved steps
 * the engine runs the 1001st (inline, saved through the checkpoint API). */
TEST_CASE(no_engine_step_limit) {
    inngest_app *app = limits_app();
    json_t *steps = json_object();
    for (int i = 0; i < 1000; i++) {
        char id[32];
        snprintf(id, sizeof(id), "s-%d", i);
        json_object_set_new(steps, id, json_pack("{s:b}", "data", 1));
    }
    inngest_test_opts o = {.function_id = "many", .steps = steps};
    inngest_test_result r;
    CHECK_EQ_INT(inngest_test_call(app, &o, &r), INNGEST_OK);
    CHECK_EQ_INT(r.status, 206);
    CHECK_EQ_INT(json_array_size(r.checkpoints), 1);
    json_t *op = json_array_get(r.checkpoints, 0);
    CHECK_STR(json_string_value(json_object_get(op, "op")), "StepRun");
    CHECK_STR(json_string_value(json_object_get(op, "displayName")), "s-1000");
    CHECK_STR(json_string_value(json_object_get(json_array_get(r.ops, 0), "op")), "RunComplete");
    inngest_test_result_cleanup(&r);
    json_decref(steps);
    inngest_app_destroy(app);
}

TEST_CASE(nested_steps_are_refused) {
    inngest_app *app = limits_app();
    inngest_test_opts o = {.function_id = "nested"};
    inngest_test_result r;
    CHECK_EQ_INT(inngest_test_call(app, &o, &r), INNGEST_OK);
    CHECK_EQ_INT(r.status, 206);
    json_t *op = json_array_get(r.ops, 0);
    CHECK_STR(json_string_value(json_object_get(op, "op")), "StepFailed");
    inngest_test_result_cleanup(&r);
    inngest_app_destroy(app);
}
