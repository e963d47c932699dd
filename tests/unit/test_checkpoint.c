/* SPDX-License-Identifier: MIT */
/*
 * Async checkpointing through the core: requests built as the executor sends them (with
 * ctx.fn_id and ctx.qi_id), a fake transport standing for the checkpoint API (scripted
 * statuses, every request recorded), and a fake clock that step bodies and retry waits
 * move forward. Expected answers follow the official JS SDK's (exec_130…135 captures).
 */
#include "fmacros.h"

#include <inngest/inngest.h>

#include "core/sig.h"
#include "testutil.h"

#define KEY    "signkey-test-8ee2262a15e8d3c42d6a840db7af3de2aab08ef632b32a37a687f24b34dba3ff"
#define RUN_ID "01JDRUNID000000000000000001"
#define FN_ID  "7d3f1e8a-1111-4a2b-9c3d-0123456789ab"
#define T0_MS  1795476549748LL
#define MAXREQ 64

/* ---- the checkpoint API, faked ------------------------------------------------------------ */

static struct api {
    inngest_transport base;
    int calls;
    int status[MAXREQ]; /* answer of each call in order; 0 = 200; -1 = network failure */
    char url[MAXREQ][256];
    char auth[MAXREQ][160];
    json_t *body[MAXREQ];
} api;

static int64_t now_ms = T0_MS;
static int64_t slept_ms;
static int64_t step_cost_ms; /* how far each step body moves the clock */

static int api_send(inngest_transport *self, const inngest_http_request *req,
                    inngest_http_response *res, inngest_error *err) {
    (void)self;
    CHECK(api.calls < MAXREQ);
    int i = api.calls++;
    const char *a = inngest_http_request_header(req, "Authorization");
    snprintf(api.url[i], sizeof(api.url[i]), "%s", req->url);
    snprintf(api.auth[i], sizeof(api.auth[i]), "%s", a ? a : "");
    api.body[i] = json_loadb(req->body, req->body_len, 0, NULL);
    CHECK(api.body[i]);
    if (api.status[i] < 0)
        return inngest_error_set(err, INNGEST_EHTTP, "connection refused");
    res->status = api.status[i] ? api.status[i] : 200;
    return inngest_http_response_set_body(res, "{}", 2);
}

static int64_t clock_now(void *user) {
    (void)user;
    return now_ms;
}

static void clock_sleep(void *user, int64_t ms) {
    (void)user;
    slept_ms += ms;
    now_ms += ms;
}

static void reset(void) {
    for (int i = 0; i < api.calls; i++)
        json_decref(api.body[i]);
    memset(&api, 0, sizeof(api));
    api.base.send = api_send;
    now_ms = T0_MS;
    slept_ms = 0;
    step_cost_ms = 0;
}

/* ---- functions ------------------------------------------------------------------------------ */

static int body_index(inngest_ctx *ctx, void *arg, json_t **out, inngest_error *err) {
    (void)ctx;
    (void)err;
    now_ms += step_cost_ms;
    *out = json_integer((json_int_t)(intptr_t)arg);
    return INNGEST_OK;
}

static int body_fails(inngest_ctx *ctx, void *arg, json_t **out, inngest_error *err) {
    (void)ctx;
    (void)arg;
    (void)out;
    return inngest_error_set(err, INNGEST_EFUNCTION, "step boom");
}

/* Ten steps s0…s9, each returning its index; the result is their sum. */
static int fn_ten(inngest_ctx *ctx, json_t **result) {
    json_int_t sum = 0;
    for (intptr_t i = 0; i < 10; i++) {
        char id[8];
        json_t *v;
        snprintf(id, sizeof(id), "s%d", (int)i);
        INNGEST_STEP(inngest_step_run(ctx, id, body_index, (void *)i, &v));
        sum += json_integer_value(v);
    }
    *result = json_pack("{s:I}", "sum", sum);
    return INNGEST_OK;
}

/* a, a sleep, b. */
static int fn_sleeps(inngest_ctx *ctx, json_t **result) {
    json_t *a, *b;
    INNGEST_STEP(inngest_step_run(ctx, "a", body_index, (void *)1, &a));
    INNGEST_STEP(inngest_step_sleep(ctx, "nap", "1s"));
    INNGEST_STEP(inngest_step_run(ctx, "b", body_index, (void *)2, &b));
    *result = json_pack("[O,O]", a, b);
    return INNGEST_OK;
}

/* a, then a step that fails. */
static int fn_step_error(inngest_ctx *ctx, json_t **result) {
    json_t *a;
    INNGEST_STEP(inngest_step_run(ctx, "a", body_index, (void *)1, &a));
    INNGEST_STEP(inngest_step_run(ctx, "bad", body_fails, NULL, NULL));
    *result = json_true();
    return INNGEST_OK;
}

/* a, then the function itself fails. */
static int fn_fails(inngest_ctx *ctx, json_t **result) {
    (void)result;
    json_t *a;
    INNGEST_STEP(inngest_step_run(ctx, "a", body_index, (void *)1, &a));
    return inngest_ctx_fail(ctx, 0, "boom");
}

static inngest_app *make_app(const inngest_app_opts *extra) {
    inngest_app_opts o = {.app_id = "my-app", .mode = INNGEST_MODE_DEV};
    if (extra)
        o = *extra;
    o.app_id = "my-app";
    o.transport = &api.base;
    o.now_ms_fn = clock_now;
    o.sleep_ms_fn = clock_sleep;
    o.api_base_url = "http://127.0.0.1:9";
    inngest_error err;
    inngest_app *app = inngest_app_create(&o, &err);
    CHECK(app);
    struct {
        const char *id;
        inngest_handler_fn fn;
    } fns[] = {{"ten", fn_ten}, {"sleeps", fn_sleeps}, {"step-error", fn_step_error},
               {"fails", fn_fails}};
    for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++)
        CHECK_EQ_INT(inngest_app_add_function(app, inngest_function_create(fns[i].id, fns[i].fn,
                                                                           NULL)),
                     INNGEST_OK);
    /* The same ten steps with their own settings. */
    inngest_checkpoint_opts buffered = {.buffered_steps = 4};
    inngest_checkpoint_opts interval = {.buffered_steps = 100, .max_interval_ms = 5000,
                                        .max_runtime_ms = -1};
    inngest_checkpoint_opts off = {.mode = -1};
    inngest_checkpoint_opts on = {.mode = 1};
    const struct {
        const char *id;
        inngest_checkpoint_opts *o;
    } variants[] = {{"ten-buffered", &buffered}, {"ten-interval", &interval},
                    {"ten-off", &off}, {"ten-on", &on}};
    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
        inngest_function *f = inngest_function_create(variants[i].id, fn_ten, NULL);
        CHECK_EQ_INT(inngest_function_set_checkpointing(f, variants[i].o), INNGEST_OK);
        CHECK_EQ_INT(inngest_app_add_function(app, f), INNGEST_OK);
    }
    inngest_app_freeze(app);
    return app;
}

/* ---- calls ------------------------------------------------------------------------------------ */

struct call {
    const char *fn;
    const char *step_id;    /* default "step" */
    json_t *steps;          /* borrowed; default {} */
    int attempt;
    int disable_immediate;
    int no_fn_id;
    const char *signing_key; /* sign the request (cloud mode) */
};

struct answer {
    int status;
    json_t *body;
    char no_retry[8];
    char signature[160];
};

static void call(inngest_app *app, const struct call *c, struct answer *a) {
    json_t *ctx = json_pack("{s:i,s:b,s:s,s:i,s:s,s:s,s:{s:i,s:[]},s:s,s:b}", "attempt",
                            c->attempt, "disable_immediate_execution", c->disable_immediate,
                            "env", "", "max_attempts", 4, "qi_id", "qi-ref-123", "run_id", RUN_ID,
                            "stack", "current", 0, "stack", "step_id", "step", "use_api", 0);
    if (!c->no_fn_id)
        json_object_set_new(ctx, "fn_id", json_string(FN_ID));
    json_t *ev = json_pack("{s:{},s:s,s:s,s:I,s:{}}", "data", "id", "01JDEVEVENT0000000000000001",
                           "name", "test/event", "ts", (json_int_t)1732400000000LL, "user");
    json_t *steps = c->steps ? json_incref(c->steps) : json_object();
    json_t *body = json_pack("{s:o,s:O,s:[O],s:o,s:b,s:i}", "ctx", ctx, "event", ev, "events", ev,
                             "steps", steps, "use_api", 0, "version", 2);
    json_decref(ev);
    CHECK(body);
    char *text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(body);
    char url[256], sig[ING_SIG_HEADER_MAX];
    snprintf(url, sizeof(url), "/api/inngest?fnId=my-app-%s&stepId=%s", c->fn,
             c->step_id ? c->step_id : "step");
    inngest_header h[4];
    size_t n = 0;
    h[n++] = (inngest_header){"Content-Type", "application/json"};
    h[n++] = (inngest_header){"X-Request-ID", "01JDREQ0000000000000000001"};
    h[n++] = (inngest_header){"X-Inngest-Generation-ID", "3"};
    if (c->signing_key) {
        CHECK_EQ_INT(ing_sig_header(c->signing_key, text, strlen(text), now_ms / 1000, sig),
                     INNGEST_OK);
        h[n++] = (inngest_header){"X-Inngest-Signature", sig};
    }
    inngest_http_request req = {.method = "POST", .url = url, .headers = h, .header_count = n,
                                .body = text, .body_len = strlen(text)};
    inngest_http_response res = {0};
    CHECK_EQ_INT(inngest_app_handle(app, &req, &res), INNGEST_OK);
    free(text);
    a->status = res.status;
    a->body = json_loadb(res.body, res.body_len, JSON_DECODE_ANY, NULL);
    CHECK(a->body);
    const char *nr = inngest_http_response_header(&res, "X-Inngest-No-Retry");
    const char *s = inngest_http_response_header(&res, "X-Inngest-Signature");
    snprintf(a->no_retry, sizeof(a->no_retry), "%s", nr ? nr : "");
    snprintf(a->signature, sizeof(a->signature), "%s", s ? s : "");
    inngest_http_response_cleanup(&res);
}

static const char *op_at(const struct answer *a, size_t i) {
    return json_string_value(json_object_get(json_array_get(a->body, i), "op"));
}

static const char *step_name(json_t *op) {
    return json_string_value(json_object_get(op, "displayName"));
}

/* The step ids the i-th checkpoint request saved, as "s0,s1". */
static void saved_names(int i, char *out, size_t cap) {
    json_t *steps = json_object_get(api.body[i], "steps");
    size_t k, o = 0;
    json_t *st;
    out[0] = '\0';
    json_array_foreach(steps, k, st) {
        CHECK_STR(json_string_value(json_object_get(st, "op")), "StepRun");
        o += (size_t)snprintf(out + o, cap - o, "%s%s", k ? "," : "", step_name(st));
    }
}

#define CHECK_SAVED(i, names)                                                                      \
    do {                                                                                           \
        char got_[256];                                                                            \
        saved_names((i), got_, sizeof(got_));                                                      \
        CHECK_STR(got_, names);                                                                    \
    } while (0)

/* ---- the cases ------------------------------------------------------------------------------ */

TEST_CASE(all_steps_inline_one_call) {
    reset();
    inngest_app *app = make_app(NULL);
    struct answer a;
    call(app, &(struct call){.fn = "ten"}, &a);
    CHECK_EQ_INT(a.status, 206);
    CHECK_EQ_INT(json_array_size(a.body), 1);
    char complete[41];
    inngest_step_hash("complete", complete);
    CHECK_JSON_TEXT(json_array_get(a.body, 0),
                    "{\"op\":\"RunComplete\",\"id\":\"0737c22d3bfae812339732d14d8c7dbd6dc4e09c\","
                    "\"data\":{\"sum\":45}}");
    CHECK_STR(complete, "0737c22d3bfae812339732d14d8c7dbd6dc4e09c");
    /* One checkpoint per step, in order, each with the request's identity. */
    CHECK_EQ_INT(api.calls, 10);
    for (int i = 0; i < 10; i++) {
        char name[8];
        snprintf(name, sizeof(name), "s%d", i);
        CHECK_SAVED(i, name);
        CHECK_STR(api.url[i], "http://127.0.0.1:9/v1/checkpoint/" RUN_ID "/async");
        CHECK_STR(api.auth[i], ""); /* dev mode: no key */
    }
    json_t *b = api.body[0];
    CHECK_STR(json_string_value(json_object_get(b, "run_id")), RUN_ID);
    CHECK_STR(json_string_value(json_object_get(b, "fn_id")), FN_ID);
    CHECK_STR(json_string_value(json_object_get(b, "qi_id")), "qi-ref-123");
    CHECK_STR(json_string_value(json_object_get(b, "request_id")), "01JDREQ0000000000000000001");
    CHECK_EQ_INT(json_integer_value(json_object_get(b, "generation_id")), 3);
    CHECK_EQ_INT(json_integer_value(json_object_get(b, "request_started_at")), T0_MS);
    CHECK(json_is_integer(json_object_get(b, "ts")));
    json_t *st = json_array_get(json_object_get(b, "steps"), 0);
    char h[41];
    inngest_step_hash("s0", h);
    CHECK_STR(json_string_value(json_object_get(st, "id")), h);
    CHECK_EQ_INT(json_integer_value(json_object_get(st, "data")), 0);
    CHECK_JSON_TEXT(json_object_get(st, "userland"), "{\"id\":\"s0\"}");
    CHECK(json_is_object(json_object_get(st, "timing")));
    json_decref(a.body);
    inngest_app_destroy(app);
    reset();
}

TEST_CASE(async_op_in_the_middle) {
    reset();
    inngest_app *app = make_app(NULL);
    struct answer a;
    call(app, &(struct call){.fn = "sleeps"}, &a);
    CHECK_EQ_INT(a.status, 206);
    CHECK_EQ_INT(json_array_size(a.body), 1);
    CHECK_STR(op_at(&a, 0), "Sleep");
    CHECK_EQ_INT(api.calls, 1);
    CHECK_SAVED(0, "a");
    json_decref(a.body);

    /* The wake-up call: a and the sleep are saved; b runs inline and the run completes. */
    char ha[41], hn[41];
    inngest_step_hash("a", ha);
    inngest_step_hash("nap", hn);
    json_t *steps = json_pack("{s:{s:i},s:n}", ha, "data", 1, hn);
    call(app, &(struct call){.fn = "sleeps", .steps = steps}, &a);
    json_decref(steps);
    CHECK_EQ_INT(a.status, 206);
    CHECK_STR(op_at(&a, 0), "RunComplete");
    CHECK_JSON_TEXT(json_object_get(json_array_get(a.body, 0), "data"), "[1,2]");
    CHECK_EQ_INT(api.calls, 2);
    CHECK_SAVED(1, "b");
    json_decref(a.body);
    inngest_app_destroy(app);
    reset();
}

TEST_CASE(step_error_is_answered_as_usual) {
    reset();
    inngest_app *app = make_app(NULL);
    struct answer a;
    call(app, &(struct call){.fn = "step-error"}, &a);
    CHECK_EQ_INT(a.status, 206);
    CHECK_EQ_INT(json_array_size(a.body), 1);
    CHECK_STR(op_at(&a, 0), "StepError");
    CHECK_STR(step_name(json_array_get(a.body, 0)), "bad");
    CHECK_STR(a.no_retry, "false");
    CHECK_EQ_INT(api.calls, 1); /* a was saved; the error is not checkpointed */
    CHECK_SAVED(0, "a");
    json_decref(a.body);
    inngest_app_destroy(app);
    reset();
}

TEST_CASE(function_error_after_saved_steps) {
    reset();
    inngest_app *app = make_app(NULL);
    struct answer a;
    call(app, &(struct call){.fn = "fails"}, &a);
    CHECK_EQ_INT(a.status, 500);
    CHECK_STR(a.no_retry, "false");
    CHECK_STR(json_string_value(json_object_get(a.body, "message")), "boom");
    CHECK_EQ_INT(api.calls, 1);
    CHECK_SAVED(0, "a");
    json_decref(a.body);
    inngest_app_destroy(app);
    reset();
}

TEST_CASE(api_down_falls_back_to_classic) {
    reset();
    for (int i = 0; i < MAXREQ; i++)
        api.status[i] = i % 2 ? 503 : -1;
    inngest_app *app = make_app(NULL);
    struct answer a;
    call(app, &(struct call){.fn = "ten"}, &a);
    /* Five attempts with growing waits, then the step is answered as a classic StepRun. */
    CHECK_EQ_INT(api.calls, 5);
    CHECK_EQ_INT(slept_ms, 100 + 200 + 400 + 800);
    CHECK_EQ_INT(a.status, 206);
    CHECK_EQ_INT(json_array_size(a.body), 1);
    CHECK_STR(op_at(&a, 0), "StepRun");
    CHECK_STR(step_name(json_array_get(a.body, 0)), "s0");
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(a.body, 0), "data")), 0);
    CHECK_STR(a.no_retry, "");
    json_decref(a.body);
    inngest_app_destroy(app);
    reset();
}

TEST_CASE(api_recovers_within_retries) {
    reset();
    api.status[0] = 500;
    api.status[1] = -1;
    inngest_app *app = make_app(NULL);
    struct answer a;
    call(app, &(struct call){.fn = "ten"}, &a);
    CHECK_EQ_INT(a.status, 206);
    CHECK_STR(op_at(&a, 0), "RunComplete");
    CHECK_EQ_INT(api.calls, 12);
    CHECK_EQ_INT(slept_ms, 100 + 200);
    json_decref(a.body);
    inngest_app_destroy(app);
    reset();
}

TEST_CASE(conflict_stops_the_call) {
    reset();
    api.status[2] = 409;
    inngest_app *app = make_app(NULL);
    struct answer a;
    call(app, &(struct call){.fn = "ten"}, &a);
    /* s0 and s1 saved; s2's checkpoint is refused once, not retried, and nothing more runs. */
    CHECK_EQ_INT(api.calls, 3);
    CHECK_EQ_INT(slept_ms, 0);
    CHECK_EQ_INT(a.status, 400);
    CHECK_STR(a.no_retry, "true");
    CHECK(strstr(json_string_value(json_object_get(a.body, "message")), "409"));
    json_decref(a.body);
    inngest_app_destroy(app);
    reset();
}

TEST_CASE(max_runtime_yields_with_discovery_request) {
    reset();
    step_cost_ms = 3000; /* the default maximum runtime is 10 s */
    inngest_app *app = make_app(NULL);
    struct answer a;
    call(app, &(struct call){.fn = "ten"}, &a);
    CHECK_EQ_INT(a.status, 206);
    CHECK_EQ_INT(json_array_size(a.body), 1);
    CHECK_STR(op_at(&a, 0), "DiscoveryRequest");
    CHECK_EQ_INT(strlen(json_string_value(json_object_get(json_array_get(a.body, 0), "id"))), 40);
    CHECK_EQ_INT(api.calls, 4); /* s0…s3 ran (12 s), s4 was not started */
    CHECK_SAVED(3, "s3");
    json_decref(a.body);

    /* The next call continues from the saved steps. */
    json_t *steps = json_object();
    for (int i = 0; i < 4; i++) {
        char id[8], h[41];
        snprintf(id, sizeof(id), "s%d", i);
        inngest_step_hash(id, h);
        json_object_set_new(steps, h, json_pack("{s:i}", "data", i));
    }
    call(app, &(struct call){.fn = "ten", .steps = steps}, &a);
    json_decref(steps);
    CHECK_STR(op_at(&a, 0), "DiscoveryRequest");
    CHECK_EQ_INT(api.calls, 8);
    CHECK_SAVED(4, "s4");
    json_decref(a.body);
    inngest_app_destroy(app);
    reset();
}

TEST_CASE(buffered_steps) {
    reset();
    inngest_app *app = make_app(NULL);
    struct answer a;
    call(app, &(struct call){.fn = "ten-buffered"}, &a);
    CHECK_EQ_INT(api.calls, 2);
    CHECK_SAVED(0, "s0,s1,s2,s3");
    CHECK_SAVED(1, "s4,s5,s6,s7");
    /* What is still buffered at the end goes with RunComplete, as the JS SDK does. */
    CHECK_EQ_INT(a.status, 206);
    CHECK_EQ_INT(json_array_size(a.body), 3);
    CHECK_STR(op_at(&a, 0), "StepRun");
    CHECK_STR(step_name(json_array_get(a.body, 0)), "s8");
    CHECK_STR(step_name(json_array_get(a.body, 1)), "s9");
    CHECK_STR(op_at(&a, 2), "RunComplete");
    json_decref(a.body);
    inngest_app_destroy(app);
    reset();
}

TEST_CASE(buffer_flushed_by_max_interval) {
    reset();
    step_cost_ms = 2000;
    inngest_app *app = make_app(NULL);
    struct answer a;
    call(app, &(struct call){.fn = "ten-interval"}, &a);
    /* Oldest buffered step at 2 s; at 8 s it is 6 s old (>= 5 s): flush. */
    CHECK_EQ_INT(api.calls, 2);
    CHECK_SAVED(0, "s0,s1,s2,s3");
    CHECK_SAVED(1, "s4,s5,s6,s7");
    CHECK_EQ_INT(json_array_size(a.body), 3);
    CHECK_STR(op_at(&a, 2), "RunComplete");
    json_decref(a.body);
    inngest_app_destroy(app);
    reset();
}

TEST_CASE(conflict_on_a_full_buffer) {
    reset();
    api.status[0] = 409;
    inngest_app *app = make_app(NULL);
    struct answer a;
    call(app, &(struct call){.fn = "ten-buffered"}, &a);
    CHECK_EQ_INT(api.calls, 1);
    CHECK_EQ_INT(a.status, 400);
    json_decref(a.body);
    inngest_app_destroy(app);
    reset();
}

static void expect_classic(inngest_app *app, const struct call *c) {
    struct answer a;
    int before = api.calls;
    call(app, c, &a);
    CHECK_EQ_INT(a.status, 206);
    CHECK_EQ_INT(json_array_size(a.body), 1);
    if (c->disable_immediate)
        CHECK_STR(op_at(&a, 0), "StepPlanned");
    else
        CHECK_STR(op_at(&a, 0), "StepRun");
    CHECK_EQ_INT(api.calls, before);
    json_decref(a.body);
}

TEST_CASE(opt_out_and_requests_that_do_not_allow_it) {
    reset();
    inngest_app *app = make_app(NULL);
    expect_classic(app, &(struct call){.fn = "ten-off"});                      /* function off */
    expect_classic(app, &(struct call){.fn = "ten", .no_fn_id = 1});           /* no ctx.fn_id */
    expect_classic(app, &(struct call){.fn = "ten", .disable_immediate = 1});  /* planning */
    expect_classic(app, &(struct call){.fn = "ten", .attempt = 1});            /* a retry */
    char h[41];
    inngest_step_hash("s0", h);
    expect_classic(app, &(struct call){.fn = "ten", .step_id = h});            /* a target */
    inngest_app_destroy(app);

    /* Off for the whole app, by option and by INNGEST_CHECKPOINTING; a function can turn
     * it back on. */
    inngest_app_opts o = {.mode = INNGEST_MODE_DEV, .checkpointing = {.mode = -1}};
    app = make_app(&o);
    expect_classic(app, &(struct call){.fn = "ten"});
    struct answer a;
    call(app, &(struct call){.fn = "ten-on"}, &a);
    CHECK_STR(op_at(&a, 0), "RunComplete");
    json_decref(a.body);
    inngest_app_destroy(app);
    reset();
}

static const char *env_off(void *user, const char *name) {
    (void)user;
    return !strcmp(name, "INNGEST_CHECKPOINTING") ? "false" : NULL;
}

static const char *env_bad(void *user, const char *name) {
    (void)user;
    return !strcmp(name, "INNGEST_CHECKPOINTING") ? "sometimes" : NULL;
}

TEST_CASE(checkpointing_env_variable) {
    reset();
    inngest_app_opts o = {.mode = INNGEST_MODE_DEV, .getenv_fn = env_off};
    inngest_app *app = make_app(&o);
    expect_classic(app, &(struct call){.fn = "ten"});
    inngest_app_destroy(app);

    o.getenv_fn = env_bad;
    o.transport = &api.base;
    inngest_error err;
    CHECK(!inngest_app_create(&o, &err));
    CHECK_EQ_INT(err.code, INNGEST_ECONFIG);
    CHECK(strstr(err.message, "INNGEST_CHECKPOINTING"));

    inngest_function *f = inngest_function_create("x", fn_ten, NULL);
    CHECK_EQ_INT(inngest_function_set_checkpointing(f, &(inngest_checkpoint_opts){.mode = 2}),
                 INNGEST_EINVAL);
    CHECK_EQ_INT(inngest_function_set_checkpointing(f, &(inngest_checkpoint_opts){
                                                           .buffered_steps = -1}),
                 INNGEST_EINVAL);
    inngest_function_destroy(f);
    reset();
}

TEST_CASE(cloud_mode_authenticates_checkpoints) {
    reset();
    inngest_app_opts o = {.mode = INNGEST_MODE_CLOUD, .signing_key = KEY};
    inngest_app *app = make_app(&o);
    struct answer a;
    call(app, &(struct call){.fn = "sleeps", .signing_key = KEY}, &a);
    CHECK_EQ_INT(a.status, 206);
    CHECK_STR(op_at(&a, 0), "Sleep");
    CHECK(a.signature[0]); /* the answer is signed as usual */
    CHECK_EQ_INT(api.calls, 1);
    char hashed[140];
    CHECK_EQ_INT(ing_sig_hash_key(KEY, hashed, sizeof(hashed)), INNGEST_OK);
    char bearer[160];
    snprintf(bearer, sizeof(bearer), "Bearer %s", hashed);
    CHECK_STR(api.auth[0], bearer);
    json_decref(a.body);
    inngest_app_destroy(app);
    reset();
}
