/* SPDX-License-Identifier: MIT */
/*
 * The serve endpoint as a pure function: introspection, sync, probes, signatures, bad
 * input and configuration. Requests are built by hand; outbound calls go to a scripted
 * fake transport; the clock is fixed. Cases that are only a request in and a response out
 * live in tests/data/golden/handler.json (run by test_golden.c).
 */
#include "fmacros.h"

#include <inngest/inngest.h>

#include "core/config.h"
#include "core/sig.h"
#include "testutil.h"

#define KEY    "signkey-test-8ee2262a15e8d3c42d6a840db7af3de2aab08ef632b32a37a687f24b34dba3ff"
#define KEY_FB "signkey-test-00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define NOW_S  1732400000LL

/* ---- scripted transport -------------------------------------------------------------------- */

struct scripted {
    inngest_transport base;
    int calls;
    int statuses[4]; /* answer statuses, in order; 0 = network failure */
    const char *bodies[4];
    char url[4][512];
    char auth[4][200];
    char body[4][8192];
    char sync_kind[64], expected_kind[64];
};

static int scripted_send(inngest_transport *self, const inngest_http_request *req,
                         inngest_http_response *res, inngest_error *err) {
    struct scripted *s = (struct scripted *)self;
    int i = s->calls++;
    CHECK(i < 4);
    const char *a = inngest_http_request_header(req, "Authorization");
    const char *sk = inngest_http_request_header(req, "X-Inngest-Sync-Kind");
    const char *ek = inngest_http_request_header(req, "X-Inngest-Expected-Server-Kind");
    snprintf(s->url[i], sizeof(s->url[i]), "%s", req->url);
    snprintf(s->auth[i], sizeof(s->auth[i]), "%s", a ? a : "");
    snprintf(s->body[i], sizeof(s->body[i]), "%.*s", (int)req->body_len, req->body);
    snprintf(s->sync_kind, sizeof(s->sync_kind), "%s", sk ? sk : "");
    snprintf(s->expected_kind, sizeof(s->expected_kind), "%s", ek ? ek : "");
    if (!s->statuses[i])
        return inngest_error_set(err, INNGEST_EHTTP, "connection refused");
    res->status = s->statuses[i];
    return inngest_http_response_set_body(res, s->bodies[i], strlen(s->bodies[i]));
}

static int64_t clock_ms(void *user) {
    (void)user;
    return NOW_S * 1000;
}

static int fn_echo(inngest_ctx *ctx, json_t **result) {
    *result = json_pack("{s:O}", "got", json_object_get(inngest_ctx_event(ctx), "data"));
    return INNGEST_OK;
}

static const char *env_none(void *user, const char *name) {
    (void)user;
    (void)name;
    return NULL;
}

static inngest_app *make_app(inngest_mode mode, struct scripted *t, int fallback) {
    inngest_app_opts o = {.app_id = "my-app",
                          .mode = mode,
                          .transport = &t->base,
                          .now_ms_fn = clock_ms,
                          .getenv_fn = env_none,
                          .max_body_bytes = 4096};
    if (mode == INNGEST_MODE_CLOUD) {
        o.signing_key = KEY;
        o.signing_key_fallback = fallback ? KEY_FB : NULL;
        o.event_key = "test-event-key-123";
        o.env = "my-branch";
        o.base_url = "http://127.0.0.1:18288";
    }
    t->base.send = scripted_send;
    inngest_app *app = inngest_app_create(&o, NULL);
    CHECK(app);
    inngest_function *f = inngest_function_create("echo", fn_echo, NULL);
    CHECK_EQ_INT(inngest_function_add_event_trigger(f, "test/echo", NULL), INNGEST_OK);
    CHECK_EQ_INT(inngest_app_add_function(app, f), INNGEST_OK);
    inngest_app_freeze(app);
    return app;
}

static void call(inngest_app *app, const char *method, const char *url, const char *body,
                 const inngest_header *extra, size_t nextra, inngest_http_response *res) {
    inngest_header h[8] = {{"Host", "127.0.0.1:13000"}};
    size_t n = 1;
    for (size_t i = 0; i < nextra; i++)
        h[n++] = extra[i];
    inngest_http_request req = {.method = method, .url = url, .headers = h, .header_count = n,
                                .body = body, .body_len = body ? strlen(body) : 0};
    memset(res, 0, sizeof(*res));
    CHECK_EQ_INT(inngest_app_handle(app, &req, res), INNGEST_OK);
}

static json_t *body_json(const inngest_http_response *res) {
    return testutil_json(res->body_len ? res->body : "null");
}

static void check_body(const inngest_http_response *res, const char *expected) {
    json_t *got = body_json(res), *want = testutil_json(expected);
    CHECK_JSON_EQ(got, want);
    json_decref(got);
    json_decref(want);
}

static void sign(const char *key, const char *body, int64_t t, char out[ING_SIG_HEADER_MAX]) {
    CHECK_EQ_INT(ing_sig_header(key, body ? body : "", body ? strlen(body) : 0, t, out),
                 INNGEST_OK);
}

/* The response carries a valid signature made with `key`. */
static void check_signed(const inngest_http_response *res, const char *key) {
    const char *sig = inngest_http_response_header(res, "X-Inngest-Signature");
    CHECK(sig);
    const char *keys[2] = {key, NULL};
    int which;
    char why[128];
    CHECK_EQ_INT(ing_sig_verify(sig, res->body, res->body_len, NOW_S, keys, &which, why,
                                sizeof(why)),
                 INNGEST_OK);
}

static const char *CALL_BODY =
    "{\"ctx\":{\"attempt\":0,\"disable_immediate_execution\":false,\"env\":\"\","
    "\"max_attempts\":4,\"run_id\":\"01R\",\"stack\":{\"current\":0,\"stack\":[]},\"step_id\":"
    "\"step\",\"use_api\":false},\"event\":{\"data\":{\"a\":1},\"id\":\"01E\",\"name\":"
    "\"test/echo\",\"ts\":1732400000000,\"user\":{}},\"events\":[{\"data\":{\"a\":1},\"id\":"
    "\"01E\",\"name\":\"test/echo\",\"ts\":1732400000000,\"user\":{}}],\"steps\":{},"
    "\"use_api\":false,\"version\":2}";
#define CALL_URL "/api/inngest?fnId=my-app-echo&stepId=step"

TEST_CASE(introspection_cloud) {
    struct scripted t = {0};
    inngest_app *app = make_app(INNGEST_MODE_CLOUD, &t, 1);
    inngest_http_response res;
    call(app, "GET", "/api/inngest", NULL, NULL, 0, &res);
    CHECK_EQ_INT(res.status, 200);
    check_body(&res, "{\"extra\":{\"native_crypto\":true},\"has_event_key\":true,"
                     "\"has_signing_key\":true,\"function_count\":1,\"mode\":\"cloud\","
                     "\"schema_version\":\"2024-05-24\",\"authentication_succeeded\":null,"
                     "\"has_signing_key_fallback\":true}");
    CHECK(!inngest_http_response_header(&res, "X-Inngest-Signature"));
    inngest_http_response_cleanup(&res);

    char sig[ING_SIG_HEADER_MAX];
    sign(KEY, "", NOW_S, sig);
    inngest_header h = {"X-Inngest-Signature", sig};
    call(app, "GET", "/api/inngest", NULL, &h, 1, &res);
    json_t *b = body_json(&res);
    CHECK(json_is_true(json_object_get(b, "authentication_succeeded")));
    CHECK_STR(json_string_value(json_object_get(b, "signing_key_hash")), "e4bf4a2e7f55");
    CHECK_STR(json_string_value(json_object_get(b, "signing_key_fallback_hash")), "4773d12e2371");
    CHECK_STR(json_string_value(json_object_get(b, "event_key_hash")),
              "489b0fa1ff46afec035a3e018cd11d260ba52b607e878064dd37e5c408bf0679");
    CHECK_STR(json_string_value(json_object_get(b, "env")), "my-branch");
    CHECK_STR(json_string_value(json_object_get(b, "app_id")), "my-app");
    CHECK_STR(json_string_value(json_object_get(b, "api_origin")), "http://127.0.0.1:18288");
    CHECK_STR(json_string_value(json_object_get(b, "sdk_language")), "c");
    CHECK(json_is_null(json_object_get(b, "serve_origin")));
    json_decref(b);
    check_signed(&res, KEY);
    CHECK_STR(inngest_http_response_header(&res, "X-Inngest-Env"), "my-branch");
    inngest_http_response_cleanup(&res);

    sign(KEY, "", NOW_S - 1000, sig); /* expired */
    call(app, "GET", "/api/inngest", NULL, &h, 1, &res);
    b = body_json(&res);
    CHECK(json_is_false(json_object_get(b, "authentication_succeeded")));
    CHECK(!json_object_get(b, "signing_key_hash"));
    json_decref(b);
    inngest_http_response_cleanup(&res);
    inngest_app_destroy(app);
}

TEST_CASE(bad_bodies) {
    struct scripted t = {0};
    inngest_app *app = make_app(INNGEST_MODE_DEV, &t, 0);
    static const char *bad[] = {
        "",
        "{",
        "[1,2]",
        "{\"event\":5}",
        "{\"steps\":[]}",
        "{\"ctx\":{\"attempt\":-1}}",
        "{\"version\":0}",
        "{\"version\":\"2\"}",
        "{\"event\":{\"name\":\"\xff\xfe\"}}",
        "{\"a\":1,\"a\":2}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        inngest_http_response res;
        call(app, "POST", CALL_URL, bad[i], NULL, 0, &res);
        if (res.status != 400)
            fprintf(stderr, "body %zu: %s -> %d\n", i, bad[i], res.status);
        CHECK_EQ_INT(res.status, 400);
        json_t *b = body_json(&res);
        CHECK(json_is_string(json_object_get(b, "message")));
        json_decref(b);
        inngest_http_response_cleanup(&res);
    }
    /* Over the body limit (4096 in this app). */
    char *big = malloc(5000);
    memset(big, ' ', 4999);
    big[4999] = '\0';
    inngest_http_response res;
    call(app, "POST", CALL_URL, big, NULL, 0, &res);
    CHECK_EQ_INT(res.status, 413);
    inngest_http_response_cleanup(&res);
    free(big);
    /* Unknown query parameters are ignored. */
    call(app, "POST", CALL_URL "&foo=bar&x", CALL_BODY, NULL, 0, &res);
    CHECK_EQ_INT(res.status, 200);
    inngest_http_response_cleanup(&res);
    inngest_app_destroy(app);
}

TEST_CASE(cloud_call_signatures) {
    struct scripted t = {0};
    inngest_app *app = make_app(INNGEST_MODE_CLOUD, &t, 1);
    char sig[ING_SIG_HEADER_MAX];
    inngest_header h = {"X-Inngest-Signature", sig};
    inngest_http_response res;

    sign(KEY, CALL_BODY, NOW_S, sig);
    call(app, "POST", CALL_URL, CALL_BODY, &h, 1, &res);
    CHECK_EQ_INT(res.status, 200);
    check_signed(&res, KEY);
    inngest_http_response_cleanup(&res);

    sign(KEY_FB, CALL_BODY, NOW_S, sig); /* the fallback key verifies and signs */
    call(app, "POST", CALL_URL, CALL_BODY, &h, 1, &res);
    CHECK_EQ_INT(res.status, 200);
    check_signed(&res, KEY_FB);
    inngest_http_response_cleanup(&res);

    sign(KEY, CALL_BODY, NOW_S + 200, sig); /* ahead, inside the window */
    call(app, "POST", CALL_URL, CALL_BODY, &h, 1, &res);
    CHECK_EQ_INT(res.status, 200);
    inngest_http_response_cleanup(&res);

    static const int64_t bad_times[] = {NOW_S - 400, NOW_S + 400};
    for (int i = 0; i < 2; i++) {
        sign(KEY, CALL_BODY, bad_times[i], sig);
        call(app, "POST", CALL_URL, CALL_BODY, &h, 1, &res);
        CHECK_EQ_INT(res.status, 401);
        CHECK(!inngest_http_response_header(&res, "X-Inngest-Signature"));
        inngest_http_response_cleanup(&res);
    }

    sign(KEY, CALL_BODY, NOW_S, sig);
    char tampered[2048];
    snprintf(tampered, sizeof(tampered), "%s", CALL_BODY);
    *strstr(tampered, "\"a\":1") = ' '; /* change one byte */
    call(app, "POST", CALL_URL, tampered, &h, 1, &res);
    CHECK_EQ_INT(res.status, 401);
    inngest_http_response_cleanup(&res);

    call(app, "POST", CALL_URL, CALL_BODY, NULL, 0, &res); /* unsigned */
    CHECK_EQ_INT(res.status, 401);
    check_body(&res, "{\"message\":\"Unauthorized\",\"error\":\"missing X-Inngest-Signature "
                     "header\"}");
    inngest_http_response_cleanup(&res);

    snprintf(sig, sizeof(sig), "t=abc&s=zz");
    call(app, "POST", CALL_URL, CALL_BODY, &h, 1, &res);
    CHECK_EQ_INT(res.status, 401);
    inngest_http_response_cleanup(&res);

    call(app, "POST", "/api/inngest?probe=trust", NULL, NULL, 0, &res);
    CHECK_EQ_INT(res.status, 401);
    inngest_http_response_cleanup(&res);
    sign(KEY, "", NOW_S, sig);
    call(app, "POST", "/api/inngest?probe=trust", NULL, &h, 1, &res);
    CHECK_EQ_INT(res.status, 200);
    inngest_http_response_cleanup(&res);
    inngest_app_destroy(app);
}

TEST_CASE(cloud_without_key_refuses) {
    struct scripted t = {.base = {.send = scripted_send}};
    inngest_app_opts o = {.app_id = "my-app", .mode = INNGEST_MODE_CLOUD, .transport = &t.base,
                          .getenv_fn = env_none};
    inngest_app *app = inngest_app_create(&o, NULL);
    inngest_app_freeze(app);
    inngest_http_response res;
    call(app, "POST", CALL_URL, CALL_BODY, NULL, 0, &res);
    CHECK_EQ_INT(res.status, 500);
    CHECK(strstr(res.body, "INNGEST_SIGNING_KEY"));
    inngest_http_response_cleanup(&res);
    call(app, "PUT", "/api/inngest", NULL, NULL, 0, &res);
    CHECK_EQ_INT(res.status, 500);
    inngest_http_response_cleanup(&res);
    CHECK_EQ_INT(t.calls, 0);
    inngest_app_destroy(app);
}

/* A signed out-of-band PUT gets a signed answer (the official SDK signs every answer to a
 * verified request); an unsigned one, or one whose signature does not verify, still syncs
 * and is answered unsigned. */
TEST_CASE(sync_out_of_band_cloud_signed_answer) {
    struct scripted t = {.statuses = {200, 200, 200},
                         .bodies = {"{\"modified\":true}", "{\"modified\":true}",
                                    "{\"modified\":true}"}};
    inngest_app *app = make_app(INNGEST_MODE_CLOUD, &t, 0);
    const char *body = "{\"url\":\"http://127.0.0.1:13000/api/inngest\"}";
    char sig[ING_SIG_HEADER_MAX];
    sign(KEY, body, NOW_S, sig);
    inngest_header h = {"X-Inngest-Signature", sig};
    inngest_http_response res;
    call(app, "PUT", "/api/inngest", body, &h, 1, &res);
    CHECK_EQ_INT(res.status, 200);
    check_signed(&res, KEY);
    inngest_http_response_cleanup(&res);

    call(app, "PUT", "/api/inngest", body, NULL, 0, &res);
    CHECK_EQ_INT(res.status, 200);
    CHECK(!inngest_http_response_header(&res, "X-Inngest-Signature"));
    inngest_http_response_cleanup(&res);

    sign(KEY_FB, body, NOW_S, sig);
    call(app, "PUT", "/api/inngest", body, &h, 1, &res);
    CHECK_EQ_INT(res.status, 200);
    CHECK(!inngest_http_response_header(&res, "X-Inngest-Signature"));
    inngest_http_response_cleanup(&res);
    CHECK_EQ_INT(t.calls, 3);
    inngest_app_destroy(app);
}

TEST_CASE(sync_in_band) {
    struct scripted t = {0};
    inngest_app *app = make_app(INNGEST_MODE_CLOUD, &t, 0);
    const char *body = "{\"url\":\"https://my-app.example.com/api/inngest\"}";
    char sig[ING_SIG_HEADER_MAX];
    inngest_header h[] = {{"X-Inngest-Sync-Kind", "in_band"}, {"X-Inngest-Signature", sig}};
    inngest_http_response res;

    call(app, "PUT", "/api/inngest", body, h, 1, &res); /* unsigned */
    CHECK_EQ_INT(res.status, 401);
    inngest_http_response_cleanup(&res);

    sign(KEY, body, NOW_S, sig);
    call(app, "PUT", "/api/inngest", body, h, 2, &res);
    CHECK_EQ_INT(res.status, 200);
    CHECK_STR(inngest_http_response_header(&res, "X-Inngest-Sync-Kind"), "in_band");
    check_signed(&res, KEY);
    json_t *b = body_json(&res);
    CHECK_STR(json_string_value(json_object_get(b, "url")), "https://my-app.example.com/api/inngest");
    CHECK_STR(json_string_value(json_object_get(b, "app_id")), "my-app");
    CHECK_STR(json_string_value(json_object_get(b, "sdk_language")), "c");
    json_t *fn0 = json_array_get(json_object_get(b, "functions"), 0);
    json_t *runtime = json_object_get(json_object_get(json_object_get(fn0, "steps"), "step"),
                                      "runtime");
    CHECK_STR(json_string_value(json_object_get(runtime, "url")),
              "https://my-app.example.com/api/inngest?fnId=my-app-echo&stepId=step");
    CHECK(json_is_true(
        json_object_get(json_object_get(b, "inspection"), "authentication_succeeded")));
    json_decref(b);
    inngest_http_response_cleanup(&res);
    CHECK_EQ_INT(t.calls, 0);

    const char *extra = "{\"url\":\"https://x\",\"other\":1}";
    sign(KEY, extra, NOW_S, sig);
    call(app, "PUT", "/api/inngest", extra, h, 2, &res);
    CHECK_EQ_INT(res.status, 400);
    inngest_http_response_cleanup(&res);
    inngest_app_destroy(app);
}

TEST_CASE(serve_origin_and_path_override_sync_url) {
    struct scripted t = {.statuses = {200}, .bodies = {"{\"ok\":true}"}};
    inngest_app_opts o = {.app_id = "my-app", .mode = INNGEST_MODE_DEV, .transport = &t.base,
                          .getenv_fn = env_none, .serve_origin = "https://public.example.com/",
                          .serve_path = "/x/inngest"};
    t.base.send = scripted_send;
    inngest_app *app = inngest_app_create(&o, NULL);
    CHECK(app);
    inngest_app_freeze(app);
    inngest_http_response res;
    call(app, "PUT", "/api/inngest", NULL, NULL, 0, &res);
    CHECK_EQ_INT(res.status, 200);
    inngest_http_response_cleanup(&res);
    json_t *reg = testutil_json(t.body[0]);
    CHECK_STR(json_string_value(json_object_get(reg, "url")),
              "https://public.example.com/x/inngest");
    json_decref(reg);
    inngest_app_destroy(app);
}

/* ---- configuration ------------------------------------------------------------------------- */

static const char *const *env_table;
static const char *env_lookup(void *user, const char *name) {
    (void)user;
    for (const char *const *p = env_table; *p; p += 2)
        if (!strcmp(p[0], name))
            return p[1];
    return NULL;
}

static int load(const char *const *table, struct ing_config *c) {
    env_table = table;
    inngest_app_opts o = {.getenv_fn = env_lookup};
    inngest_error err;
    return ing_config_load(c, &o, &err);
}

TEST_CASE(config_from_environment) {
    struct ing_config c;
    static const char *const none[] = {NULL};
    CHECK_EQ_INT(load(none, &c), INNGEST_OK);
    CHECK_EQ_INT(c.dev, 0);
    CHECK_STR(c.app_id, "inngest-c-app");
    CHECK_STR(c.api_base_url, "https://api.inngest.com");
    CHECK_STR(c.event_api_base_url, "https://inn.gs");
    ing_config_cleanup(&c);

    static const char *const dev_url[] = {"INNGEST_DEV", "http://127.0.0.1:9999/", NULL};
    CHECK_EQ_INT(load(dev_url, &c), INNGEST_OK);
    CHECK_EQ_INT(c.dev, 1);
    CHECK_STR(c.api_base_url, "http://127.0.0.1:9999");
    CHECK_STR(c.event_api_base_url, "http://127.0.0.1:9999");
    ing_config_cleanup(&c);

    static const char *const dev_bool[] = {"INNGEST_DEV", " TRUE ", "INNGEST_EVENT_API_BASE_URL",
                                           "http://ev:1", NULL};
    CHECK_EQ_INT(load(dev_bool, &c), INNGEST_OK);
    CHECK_EQ_INT(c.dev, 1);
    CHECK_STR(c.api_base_url, "http://localhost:8288");
    CHECK_STR(c.event_api_base_url, "http://ev:1");
    ing_config_cleanup(&c);

    static const char *const base[] = {"INNGEST_DEV", "0", "INNGEST_BASE_URL",
                                       "https://inngest.internal", "INNGEST_API_BASE_URL",
                                       "https://api.internal", NULL};
    CHECK_EQ_INT(load(base, &c), INNGEST_OK);
    CHECK_EQ_INT(c.dev, 0);
    CHECK_STR(c.api_base_url, "https://api.internal");
    CHECK_STR(c.event_api_base_url, "https://inngest.internal");
    ing_config_cleanup(&c);

    static const char *const bad[][3] = {{"INNGEST_DEV", "ftp://x", NULL},
                                         {"INNGEST_BASE_URL", "not a url", NULL},
                                         {"INNGEST_ALLOW_IN_BAND_SYNC", "maybe", NULL},
                                         {"INNGEST_SERVE_PATH", "no-slash", NULL}};
    for (size_t i = 0; i < 4; i++)
        CHECK_EQ_INT(load(bad[i], &c), INNGEST_ECONFIG);
}

/* Values that used to switch checks off quietly now stop the app with a message naming
 * the variable: INNGEST_DEV that is neither a boolean nor a URL with a scheme, and signing
 * keys with no hex digits after the prefix. */
TEST_CASE(config_is_strict) {
    struct ing_config c;
    static const char *const bad[][3] = {
        {"INNGEST_DEV", "no", NULL},           {"INNGEST_DEV", "off", NULL},
        {"INNGEST_DEV", "yes", NULL},          {"INNGEST_DEV", "127.0.0.1:9999", NULL},
        {"INNGEST_DEV", "localhost", NULL},    {"INNGEST_SIGNING_KEY", "signkey-prod-", NULL},
        {"INNGEST_SIGNING_KEY", "signkey-test-xyz", NULL},
        {"INNGEST_SIGNING_KEY", "signkey-test-abc", NULL},
        {"INNGEST_SIGNING_KEY_FALLBACK", "signkey-branch-", NULL},
        {"INNGEST_SIGNING_KEY", "signkey-prod-${KEY}", NULL}};
    static const char *const names[] = {"INNGEST_DEV", "INNGEST_SIGNING_KEY"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        inngest_error err;
        inngest_error_clear(&err);
        env_table = bad[i];
        inngest_app_opts o = {.getenv_fn = env_lookup};
        CHECK_EQ_INT(ing_config_load(&c, &o, &err), INNGEST_ECONFIG);
        CHECK(strstr(err.message, names[i < 5 ? 0 : 1]));
        CHECK(!strstr(err.message, "${KEY}")); /* a key's text is never echoed */
    }
    static const char *const good[][5] = {
        {"INNGEST_DEV", "https://dev.internal:8288", NULL},
        {"INNGEST_SIGNING_KEY", "signkey-prod-00ff", "INNGEST_SIGNING_KEY_FALLBACK",
         "signkey-branch-abcdef0123456789", NULL},
        {"INNGEST_SIGNING_KEY", "00ff", NULL}};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        CHECK_EQ_INT(load(good[i], &c), INNGEST_OK);
        ing_config_cleanup(&c);
    }
}

/* The register payload of a fully configured function equals the official SDK's for the
 * same configuration (captured from inngest-js 4.24.0). */
TEST_CASE(register_payload_matches_official_sdk) {
    struct scripted t = {0};
    inngest_app_opts o = {.app_id = "my-app", .mode = INNGEST_MODE_DEV, .transport = &t.base,
                          .getenv_fn = env_none};
    inngest_app *app = inngest_app_create(&o, NULL);
    inngest_function *f = inngest_function_create("config-rich", fn_echo, NULL);
    CHECK_EQ_INT(inngest_function_set_name(f, "Config Rich Function"), INNGEST_OK);
    CHECK_EQ_INT(inngest_function_add_event_trigger(f, "test/config", "event.data.ok == true"),
                 INNGEST_OK);
    CHECK_EQ_INT(inngest_function_add_cron_trigger(f, "0 12 * * 5", "Europe/Paris"), INNGEST_OK);
    CHECK_EQ_INT(inngest_function_set_retries(f, 5), INNGEST_OK);
    CHECK_EQ_INT(inngest_function_set_idempotency(f, "event.data.user_id"), INNGEST_OK);
    CHECK_EQ_INT(inngest_function_set_rate_limit(f, 1, "1h", "event.data.user_id"), INNGEST_OK);
    CHECK_EQ_INT(inngest_function_set_throttle(f, 5, "1m", "event.data.user_id", 2), INNGEST_OK);
    CHECK_EQ_INT(inngest_function_add_concurrency(f, 10, "event.data.user_id", "fn"), INNGEST_OK);
    CHECK_EQ_INT(inngest_function_add_concurrency(f, 100, "\"global\"", "account"), INNGEST_OK);
    CHECK_EQ_INT(inngest_function_set_debounce(f, "5s", "event.data.user_id", "1m"), INNGEST_OK);
    CHECK_EQ_INT(inngest_function_set_priority(f, "event.data.priority"), INNGEST_OK);
    CHECK_EQ_INT(inngest_function_set_timeouts(f, "10m", "1h"), INNGEST_OK);
    CHECK_EQ_INT(inngest_function_add_cancel_on(f, "test/cancel",
                                                "event.data.user_id == async.data.user_id", "1d"),
                 INNGEST_OK);
    CHECK_EQ_INT(inngest_function_add_cancel_on(f, "test/cancel2", "async.data.x == event.data.x",
                                                NULL),
                 INNGEST_OK);
    CHECK_EQ_INT(inngest_function_set_on_failure(f, fn_echo), INNGEST_OK);
    CHECK_EQ_INT(inngest_app_add_function(app, f), INNGEST_OK);

    f = inngest_function_create("batched", fn_echo, NULL);
    CHECK_EQ_INT(inngest_function_add_event_trigger(f, "test/batch", NULL), INNGEST_OK);
    CHECK_EQ_INT(inngest_function_set_batch_events(f, 100, "5s", "event.data.user_id", NULL),
                 INNGEST_OK);
    CHECK_EQ_INT(inngest_function_add_concurrency(f, 3, NULL, NULL), INNGEST_OK);
    CHECK_EQ_INT(inngest_app_add_function(app, f), INNGEST_OK);

    f = inngest_function_create("singleton", fn_echo, NULL);
    CHECK_EQ_INT(inngest_function_add_event_trigger(f, "test/singleton", NULL), INNGEST_OK);
    CHECK_EQ_INT(inngest_function_set_singleton(f, "event.data.user_id", "skip"), INNGEST_OK);
    CHECK_EQ_INT(inngest_app_add_function(app, f), INNGEST_OK);
    inngest_app_freeze(app);
    CHECK_EQ_INT(inngest_app_function_count(app), 4);

    json_t *got = inngest_app_function_configs(app, "http://127.0.0.1:13000/api/inngest");
    json_t *want = testutil_json(
        "[{\"id\":\"my-app-config-rich\",\"name\":\"Config Rich Function\",\"triggers\":[{"
        "\"event\":\"test/config\",\"expression\":\"event.data.ok == true\"},{\"cron\":\"TZ="
        "Europe/Paris 0 12 * * 5\"}],\"steps\":{\"step\":{\"id\":\"step\",\"name\":\"step\","
        "\"runtime\":{\"type\":\"http\",\"url\":\"http://127.0.0.1:13000/api/"
        "inngest?fnId=my-app-config-rich&stepId=step\"},\"retries\":{\"attempts\":5}}},"
        "\"idempotency\":\"event.data.user_id\",\"rateLimit\":{\"limit\":1,\"period\":\"1h\","
        "\"key\":\"event.data.user_id\"},\"throttle\":{\"limit\":5,\"period\":\"1m\",\"key\":"
        "\"event.data.user_id\",\"burst\":2},\"concurrency\":[{\"limit\":10,\"key\":\"event."
        "data.user_id\",\"scope\":\"fn\"},{\"limit\":100,\"scope\":\"account\",\"key\":"
        "\"\\\"global\\\"\"}],\"debounce\":{\"period\":\"5s\",\"key\":\"event.data.user_id\","
        "\"timeout\":\"1m\"},\"priority\":{\"run\":\"event.data.priority\"},\"timeouts\":{"
        "\"start\":\"10m\",\"finish\":\"1h\"},\"cancel\":[{\"event\":\"test/cancel\","
        "\"timeout\":\"1d\",\"if\":\"event.data.user_id == async.data.user_id\"},{\"event\":"
        "\"test/cancel2\",\"if\":\"async.data.x == event.data.x\"}]},"
        "{\"id\":\"my-app-config-rich-failure\",\"name\":\"Config Rich Function (failure)\","
        "\"triggers\":[{\"event\":\"inngest/function.failed\",\"expression\":\"event.data."
        "function_id == 'my-app-config-rich'\"}],\"steps\":{\"step\":{\"id\":\"step\",\"name\":"
        "\"step\",\"runtime\":{\"type\":\"http\",\"url\":\"http://127.0.0.1:13000/api/"
        "inngest?fnId=my-app-config-rich-failure&stepId=step\"},\"retries\":{\"attempts\":1}}}},"
        "{\"id\":\"my-app-batched\",\"name\":\"batched\",\"triggers\":[{\"event\":\"test/"
        "batch\"}],\"steps\":{\"step\":{\"id\":\"step\",\"name\":\"step\",\"runtime\":{\"type\":"
        "\"http\",\"url\":\"http://127.0.0.1:13000/api/"
        "inngest?fnId=my-app-batched&stepId=step\"}}},\"batchEvents\":{\"maxSize\":100,"
        "\"timeout\":\"5s\",\"key\":\"event.data.user_id\"},\"concurrency\":3},"
        "{\"id\":\"my-app-singleton\",\"name\":\"singleton\",\"triggers\":[{\"event\":\"test/"
        "singleton\"}],\"steps\":{\"step\":{\"id\":\"step\",\"name\":\"step\",\"runtime\":{"
        "\"type\":\"http\",\"url\":\"http://127.0.0.1:13000/api/"
        "inngest?fnId=my-app-singleton&stepId=step\"}}},\"singleton\":{\"key\":\"event.data."
        "user_id\",\"mode\":\"skip\"}}]");
    CHECK_JSON_EQ(got, want);
    json_decref(got);
    json_decref(want);
    inngest_app_destroy(app);
}

static int step_a(inngest_ctx *ctx, void *arg, json_t **out, inngest_error *err) {
    (void)ctx;
    (void)arg;
    (void)err;
    *out = json_string("A");
    return INNGEST_OK;
}

static int fn_two_steps(inngest_ctx *ctx, json_t **result) {
    json_t *a, *b;
    INNGEST_STEP(inngest_step_run(ctx, "first step", step_a, NULL, &a));
    INNGEST_STEP(inngest_step_run(ctx, "second step", step_a, NULL, &b));
    *result = json_pack("{s:O,s:O}", "a", a,
                        "event", json_object_get(json_object_get(inngest_ctx_event(ctx), "data"),
                                                 "from"));
    return INNGEST_OK;
}

/* With ctx.use_api the body carries no state: events and steps come from the API. */
TEST_CASE(use_api_fetches_state) {
    struct scripted t = {
        .statuses = {200, 200},
        .bodies = {"[{\"name\":\"test/two\",\"data\":{\"from\":\"api\"},\"id\":\"e\",\"ts\":1}]",
                   "{\"98bf98df193bcce7c33e6bc50927cf2ac21206cb\":{\"data\":\"A\"},"
                   "\"764e20ec975d4ef820d0f42e6a5833384bd7ee36\":{\"data\":\"A\"}}"}};
    inngest_app *app = make_app(INNGEST_MODE_CLOUD, &t, 0);
    inngest_app_destroy(app);
    inngest_app_opts o = {.app_id = "my-app", .mode = INNGEST_MODE_CLOUD, .transport = &t.base,
                          .now_ms_fn = clock_ms, .getenv_fn = env_none, .signing_key = KEY,
                          .api_base_url = "http://api.test"};
    app = inngest_app_create(&o, NULL);
    inngest_function *f = inngest_function_create("two", fn_two_steps, NULL);
    CHECK_EQ_INT(inngest_app_add_function(app, f), INNGEST_OK);
    inngest_app_freeze(app);
    const char *body = "{\"ctx\":{\"run_id\":\"01RUN\",\"use_api\":true,\"attempt\":0},"
                       "\"event\":{},\"events\":[],\"steps\":{},\"use_api\":true,\"version\":2}";
    char sig[ING_SIG_HEADER_MAX];
    sign(KEY, body, NOW_S, sig);
    inngest_header h = {"X-Inngest-Signature", sig};
    inngest_http_response res;
    call(app, "POST", "/api/inngest?fnId=my-app-two&stepId=step", body, &h, 1, &res);
    CHECK_EQ_INT(res.status, 200);
    check_body(&res, "{\"a\":\"A\",\"event\":\"api\"}");
    inngest_http_response_cleanup(&res);
    CHECK_EQ_INT(t.calls, 2);
    CHECK_STR(t.url[0], "http://api.test/v0/runs/01RUN/batch");
    CHECK_STR(t.url[1], "http://api.test/v0/runs/01RUN/actions");
    CHECK(!strncmp(t.auth[0], "Bearer signkey-test-e4bf", 24));

    /* The API failing is a retriable 500. */
    struct scripted down = {.statuses = {500}, .bodies = {"{\"error\":\"gone\"}"}};
    o.transport = &down.base;
    down.base.send = scripted_send;
    inngest_app *app2 = inngest_app_create(&o, NULL);
    CHECK_EQ_INT(inngest_app_add_function(app2, inngest_function_create("two", fn_two_steps, NULL)),
                 INNGEST_OK);
    inngest_app_freeze(app2);
    call(app2, "POST", "/api/inngest?fnId=my-app-two&stepId=step", body, &h, 1, &res);
    CHECK_EQ_INT(res.status, 500);
    inngest_http_response_cleanup(&res);

    /* A run id that would change the API path is refused before any call. */
    static const char *const bad_ids[] = {"../../v1/events", "01R/x", "01R?x=1", "01R%2F", ""};
    for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
        char bad[512];
        snprintf(bad, sizeof(bad),
                 "{\"ctx\":{\"run_id\":\"%s\",\"use_api\":true,\"attempt\":0},\"event\":{},"
                 "\"events\":[],\"steps\":{},\"use_api\":true,\"version\":2}",
                 bad_ids[i]);
        sign(KEY, bad, NOW_S, sig);
        int before = down.calls;
        call(app2, "POST", "/api/inngest?fnId=my-app-two&stepId=step", bad, &h, 1, &res);
        CHECK(res.status >= 400);
        CHECK_EQ_INT(down.calls, before);
        inngest_http_response_cleanup(&res);
    }
    inngest_app_destroy(app2);
    inngest_app_destroy(app);
}

/* A body re-encoded on the way (pretty-printed) still verifies when the signature covers its
 * canonical form, as with the official SDKs; a signature over other content does not. */
TEST_CASE(signature_over_canonical_form) {
    struct scripted t = {0};
    inngest_app *app = make_app(INNGEST_MODE_CLOUD, &t, 0);
    json_t *parsed = testutil_json(CALL_BODY);
    char *pretty = json_dumps(parsed, JSON_INDENT(2));
    json_decref(parsed);
    char sig[ING_SIG_HEADER_MAX];
    inngest_header h = {"X-Inngest-Signature", sig};
    inngest_http_response res;

    sign(KEY, CALL_BODY, NOW_S, sig); /* CALL_BODY is already canonical */
    call(app, "POST", CALL_URL, pretty, &h, 1, &res);
    CHECK_EQ_INT(res.status, 200);
    inngest_http_response_cleanup(&res);

    sign(KEY, pretty, NOW_S, sig); /* the raw bytes as received */
    call(app, "POST", CALL_URL, pretty, &h, 1, &res);
    CHECK_EQ_INT(res.status, 200);
    inngest_http_response_cleanup(&res);

    sign(KEY, "{\"other\":1}", NOW_S, sig);
    call(app, "POST", CALL_URL, pretty, &h, 1, &res);
    CHECK_EQ_INT(res.status, 401);
    inngest_http_response_cleanup(&res);
    free(pretty);
    inngest_app_destroy(app);
}

/* Runs the body-less check, then the full handler with the body, and checks both answer
 * alike when the precheck answers. Returns what the precheck returned. */
static int precheck(inngest_app *app, const char *method, const char *url,
                    const inngest_header *extra, size_t nextra, int *status) {
    inngest_header h[8] = {{"Host", "127.0.0.1:13000"}};
    size_t n = 1;
    for (size_t i = 0; i < nextra; i++)
        h[n++] = extra[i];
    inngest_http_request req = {.method = method, .url = url, .headers = h, .header_count = n};
    inngest_http_response pre = {0}, full;
    int answered = inngest_app_precheck(app, &req, &pre);
    *status = pre.status;
    if (answered) {
        call(app, method, url, CALL_BODY, extra, nextra, &full);
        CHECK_EQ_INT(full.status, pre.status);
        CHECK_EQ_INT((int)full.body_len, (int)pre.body_len);
        CHECK(!memcmp(full.body, pre.body, pre.body_len));
        CHECK_STR(inngest_http_response_header(&pre, "X-Inngest-SDK"),
                  inngest_http_response_header(&full, "X-Inngest-SDK"));
        inngest_http_response_cleanup(&full);
    } else {
        CHECK_EQ_INT(pre.status, 0);
    }
    inngest_http_response_cleanup(&pre);
    return answered;
}

/* Cloud mode refuses a call on its signature header alone, before any body exists: missing,
 * malformed and expired headers get the same 401 the full handler gives. */
TEST_CASE(precheck_refuses_before_the_body) {
    struct scripted t = {0};
    inngest_app *app = make_app(INNGEST_MODE_CLOUD, &t, 0);
    char sig[ING_SIG_HEADER_MAX];
    inngest_header h[] = {{"X-Inngest-Signature", sig}, {"X-Inngest-Sync-Kind", "in_band"}};
    int status;

    CHECK_EQ_INT(precheck(app, "POST", CALL_URL, NULL, 0, &status), 1);
    CHECK_EQ_INT(status, 401);
    CHECK_EQ_INT(precheck(app, "POST", "/api/inngest?probe=trust", NULL, 0, &status), 1);
    CHECK_EQ_INT(status, 401);
    snprintf(sig, sizeof(sig), "t=abc&s=zz");
    CHECK_EQ_INT(precheck(app, "POST", CALL_URL, h, 1, &status), 1);
    CHECK_EQ_INT(status, 401);
    snprintf(sig, sizeof(sig), "s=00");
    CHECK_EQ_INT(precheck(app, "POST", CALL_URL, h, 1, &status), 1);
    sign(KEY, CALL_BODY, NOW_S - 400, sig);
    CHECK_EQ_INT(precheck(app, "POST", CALL_URL, h, 1, &status), 1);
    CHECK_EQ_INT(status, 401);
    sign(KEY, CALL_BODY, NOW_S + 400, sig);
    CHECK_EQ_INT(precheck(app, "PUT", "/api/inngest", h, 2, &status), 1); /* in-band sync */
    CHECK_EQ_INT(status, 401);

    /* A header that could verify waits for the body; so do GET and out-of-band syncs. */
    sign(KEY, "anything", NOW_S, sig);
    CHECK_EQ_INT(precheck(app, "POST", CALL_URL, h, 1, &status), 0);
    CHECK_EQ_INT(precheck(app, "GET", "/api/inngest", NULL, 0, &status), 0);
    CHECK_EQ_INT(precheck(app, "PUT", "/api/inngest", NULL, 0, &status), 0);
    inngest_app_destroy(app);

    app = make_app(INNGEST_MODE_DEV, &t, 0); /* dev mode checks nothing */
    CHECK_EQ_INT(precheck(app, "POST", CALL_URL, NULL, 0, &status), 0);
    inngest_app_destroy(app);

    inngest_app_opts o = {.app_id = "my-app", .mode = INNGEST_MODE_CLOUD, .transport = &t.base,
                          .getenv_fn = env_none};
    app = inngest_app_create(&o, NULL);
    inngest_app_freeze(app);
    CHECK_EQ_INT(precheck(app, "POST", CALL_URL, NULL, 0, &status), 1); /* no key */
    CHECK_EQ_INT(status, 500);
    CHECK_EQ_INT(precheck(app, "PUT", "/api/inngest", NULL, 0, &status), 1);
    CHECK_EQ_INT(status, 500);
    inngest_app_destroy(app);
}

/* The canonical-form retry is for small bodies only: a re-encoded body above 1 MiB must
 * verify over its raw bytes. */
TEST_CASE(canonical_retry_only_for_small_bodies) {
    struct scripted t = {.base = {.send = scripted_send}};
    inngest_app_opts o = {.app_id = "my-app", .mode = INNGEST_MODE_CLOUD, .transport = &t.base,
                          .now_ms_fn = clock_ms, .getenv_fn = env_none, .signing_key = KEY,
                          .max_body_bytes = 4u << 20};
    inngest_app *app = inngest_app_create(&o, NULL);
    inngest_function *f = inngest_function_create("echo", fn_echo, NULL);
    CHECK_EQ_INT(inngest_function_add_event_trigger(f, "test/echo", NULL), INNGEST_OK);
    CHECK_EQ_INT(inngest_app_add_function(app, f), INNGEST_OK);
    inngest_app_freeze(app);
    static const size_t pads[] = {(1u << 20) - 4096, (1u << 20) + 4096};
    for (int i = 0; i < 2; i++) {
        json_t *parsed = testutil_json(CALL_BODY);
        char *pad = malloc(pads[i]);
        memset(pad, 'x', pads[i]);
        json_object_set_new(json_object_get(json_object_get(parsed, "event"), "data"), "pad",
                            json_stringn(pad, pads[i]));
        free(pad);
        char *canon = json_dumps(parsed, JSON_COMPACT | JSON_SORT_KEYS);
        char *pretty = json_dumps(parsed, JSON_INDENT(1));
        json_decref(parsed);
        char sig[ING_SIG_HEADER_MAX];
        inngest_header h = {"X-Inngest-Signature", sig};
        inngest_http_response res;
        sign(KEY, canon, NOW_S, sig);
        call(app, "POST", CALL_URL, canon, &h, 1, &res);
        CHECK_EQ_INT(res.status, 200); /* the raw bytes verify, whatever the size */
        inngest_http_response_cleanup(&res);
        call(app, "POST", CALL_URL, pretty, &h, 1, &res);
        CHECK(strlen(pretty) > pads[i]);
        CHECK_EQ_INT(res.status, strlen(pretty) <= (1u << 20) ? 200 : 401);
        inngest_http_response_cleanup(&res);
        free(canon);
        free(pretty);
    }
    inngest_app_destroy(app);
}
