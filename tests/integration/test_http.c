/* SPDX-License-Identifier: MIT */
/*
 * Real HTTP on 127.0.0.1: the civetweb adapter serving an app, the libcurl transport
 * calling it, and a second server standing in for the Inngest API's /fn/register.
 */
#include "fmacros.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <inngest/inngest.h>

#include "testutil.h"

static int fn_echo(inngest_ctx *ctx, json_t **result) {
    *result = json_pack("{s:O}", "got", json_object_get(inngest_ctx_event(ctx), "data"));
    return INNGEST_OK;
}

/* ---- a stand-in for the Inngest API: records the register request --------------------- */

static char registered[65536];
static char registered_auth[256];

static int fake_register(void *user, const inngest_http_request *req, inngest_http_response *res,
                         inngest_stream *stream) {
    (void)user;
    (void)stream;
    snprintf(registered, sizeof(registered), "%.*s", (int)req->body_len, req->body);
    const char *a = inngest_http_request_header(req, "Authorization");
    snprintf(registered_auth, sizeof(registered_auth), "%s", a ? a : "");
    res->status = 200;
    const char *b = "{\"ok\":true,\"modified\":true}";
    int rc = inngest_http_response_add_header(res, "Content-Type", "application/json");
    return rc ? rc : inngest_http_response_set_body(res, b, strlen(b));
}

/* An answer that is still being written when the server is told to stop. */
static int slow_started;

static int slow_sse(void *user, const inngest_http_request *req, inngest_http_response *res,
                    inngest_stream *stream) {
    (void)user;
    (void)req;
    (void)res;
    inngest_header h[] = {{"Content-Type", "text/event-stream"}};
    int rc = inngest_stream_begin(stream, 200, h, 1);
    if (rc != INNGEST_OK)
        return rc;
    __atomic_store_n(&slow_started, 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < 5; i++) {
        struct timespec ts = {0, 150 * 1000000L};
        nanosleep(&ts, NULL);
        if (inngest_stream_write(stream, "data: tick\n\n", 12))
            break;
    }
    return INNGEST_OK;
}

static int sse(void *user, const inngest_http_request *req, inngest_http_response *res,
               inngest_stream *stream) {
    (void)user;
    (void)req;
    (void)res;
    inngest_header h[] = {{"Content-Type", "text/event-stream"}};
    int rc = inngest_stream_begin(stream, 200, h, 1);
    if (rc != INNGEST_OK)
        return rc;
    inngest_stream_write(stream, "data: one\n\n", 11);
    inngest_stream_write(stream, "data: two\n\n", 11);
    return INNGEST_OK;
}

struct env {
    inngest_app *api_app, *app;
    inngest_server *api, *srv;
    inngest_transport *curl;
    char base[128];
};

static void start(struct env *e, size_t max_body) {
    inngest_error err;
    CHECK_EQ_INT(inngest_global_init(), INNGEST_OK);
    memset(e, 0, sizeof(*e));
    e->curl = inngest_transport_curl_create(&err);
    CHECK(e->curl);

    /* The API stand-in is an empty app with one extra route. */
    inngest_app_opts ao = {.mode = INNGEST_MODE_DEV, .transport = e->curl};
    e->api_app = inngest_app_create(&ao, &err);
    inngest_app_freeze(e->api_app);
    inngest_server_opts so = {.host = "127.0.0.1", .port = 0};
    e->api = inngest_server_create(e->api_app, &so, &err);
    CHECK_EQ_INT(inngest_server_add_route(e->api, "/fn/register", fake_register, NULL),
                 INNGEST_OK);
    CHECK_EQ_INT(inngest_server_start(e->api, &err), INNGEST_OK);
    char api_url[128];
    snprintf(api_url, sizeof(api_url), "http://127.0.0.1:%d", inngest_server_port(e->api));

    inngest_app_opts o = {.app_id = "it-app", .mode = INNGEST_MODE_DEV, .base_url = api_url,
                          .transport = e->curl, .max_body_bytes = max_body};
    e->app = inngest_app_create(&o, &err);
    CHECK(e->app);
    inngest_function *f = inngest_function_create("echo", fn_echo, NULL);
    CHECK_EQ_INT(inngest_function_add_event_trigger(f, "test/echo", NULL), INNGEST_OK);
    CHECK_EQ_INT(inngest_app_add_function(e->app, f), INNGEST_OK);
    inngest_app_freeze(e->app);
    inngest_server_opts so2 = {.host = "127.0.0.1", .port = 0, .max_body_bytes = max_body};
    e->srv = inngest_server_create(e->app, &so2, &err);
    CHECK_EQ_INT(inngest_server_add_route(e->srv, "/sse", sse, NULL), INNGEST_OK);
    CHECK_EQ_INT(inngest_server_add_route(e->srv, "/slow", slow_sse, NULL), INNGEST_OK);
    CHECK_EQ_INT(inngest_server_start(e->srv, &err), INNGEST_OK);
    CHECK(inngest_server_port(e->srv) > 0);
    snprintf(e->base, sizeof(e->base), "http://127.0.0.1:%d", inngest_server_port(e->srv));
}

static void stop(struct env *e) {
    inngest_server_destroy(e->srv);
    inngest_server_destroy(e->api);
    inngest_app_destroy(e->app);
    inngest_app_destroy(e->api_app);
    inngest_transport_destroy(e->curl);
    inngest_global_cleanup();
}

static void request(struct env *e, const char *method, const char *path, const char *body,
                    inngest_http_response *res) {
    char url[512];
    snprintf(url, sizeof(url), "%s%s", e->base, path);
    inngest_header h[] = {{"Content-Type", "application/json"}};
    inngest_http_request req = {.method = method, .url = url, .headers = h, .header_count = 1,
                                .body = body, .body_len = body ? strlen(body) : 0};
    inngest_error err;
    memset(res, 0, sizeof(*res));
    CHECK_EQ_INT(e->curl->send(e->curl, &req, res, &err), INNGEST_OK);
}

TEST_CASE(introspection_over_http) {
    struct env e;
    start(&e, 0);
    inngest_http_response res;
    request(&e, "GET", "/api/inngest", NULL, &res);
    CHECK_EQ_INT(res.status, 200);
    CHECK_STR(inngest_http_response_header(&res, "x-inngest-sdk"), "inngest-c:v" INNGEST_VERSION);
    json_t *b = testutil_json(res.body);
    CHECK_STR(json_string_value(json_object_get(b, "mode")), "dev");
    CHECK_EQ_INT(json_integer_value(json_object_get(b, "function_count")), 1);
    json_decref(b);
    inngest_http_response_cleanup(&res);
    stop(&e);
}

TEST_CASE(call_over_http) {
    struct env e;
    start(&e, 0);
    inngest_http_response res;
    request(&e, "POST", "/api/inngest?fnId=it-app-echo&stepId=step",
            "{\"event\":{\"name\":\"test/echo\",\"data\":{\"x\":\"\\u00e9\"}},\"ctx\":{"
            "\"run_id\":\"r\",\"attempt\":0}}",
            &res);
    CHECK_EQ_INT(res.status, 200);
    CHECK_STR(res.body, "{\"got\":{\"x\":\"\xc3\xa9\"}}");
    inngest_http_response_cleanup(&res);

    request(&e, "PATCH", "/api/inngest", "", &res);
    CHECK_EQ_INT(res.status, 405);
    inngest_http_response_cleanup(&res);

    request(&e, "GET", "/nowhere", NULL, &res);
    CHECK_EQ_INT(res.status, 404);
    inngest_http_response_cleanup(&res);
    stop(&e);
}

TEST_CASE(body_limit_is_413) {
    struct env e;
    start(&e, 1024);
    char big[4096];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    inngest_http_response res;
    request(&e, "POST", "/api/inngest?fnId=it-app-echo", big, &res);
    CHECK_EQ_INT(res.status, 413);
    inngest_http_response_cleanup(&res);
    /* The server is still healthy afterwards. */
    request(&e, "GET", "/api/inngest", NULL, &res);
    CHECK_EQ_INT(res.status, 200);
    inngest_http_response_cleanup(&res);
    stop(&e);
}

TEST_CASE(sync_registers_with_the_api) {
    struct env e;
    start(&e, 0);
    inngest_http_response res;
    request(&e, "PUT", "/api/inngest", "{\"url\":\"x\"}", &res);
    CHECK_EQ_INT(res.status, 200);
    CHECK_STR(res.body, "{\"message\":\"Successfully synced.\",\"modified\":true}");
    inngest_http_response_cleanup(&res);
    json_t *reg = testutil_json(registered);
    char want[256];
    snprintf(want, sizeof(want), "%s/api/inngest", e.base);
    CHECK_STR(json_string_value(json_object_get(reg, "url")), want);
    CHECK_EQ_INT(json_array_size(json_object_get(reg, "functions")), 1);
    json_decref(reg);
    CHECK_STR(registered_auth, ""); /* dev mode without a key sends no token */
    stop(&e);
}

TEST_CASE(streamed_route) {
    struct env e;
    start(&e, 0);
    inngest_http_response res;
    request(&e, "GET", "/sse", NULL, &res);
    CHECK_EQ_INT(res.status, 200);
    CHECK_STR(res.body, "data: one\n\ndata: two\n\n");
    CHECK_STR(inngest_http_response_header(&res, "Content-Type"), "text/event-stream");
    inngest_http_response_cleanup(&res);
    stop(&e);
}

/* Destroying the server lets an answer in flight finish: civetweb's stop used to cut it
 * off mid-stream (SIGTERM ended a streamed chat answer without its last events). */
struct slow_call {
    struct env *e;
    inngest_http_response res;
};

static void *call_slow(void *arg) {
    struct slow_call *c = arg;
    request(c->e, "GET", "/slow", NULL, &c->res);
    return NULL;
}

TEST_CASE(destroy_lets_answers_in_flight_finish) {
    struct env e;
    start(&e, 0);
    struct slow_call c = {.e = &e};
    pthread_t t;
    CHECK_EQ_INT(pthread_create(&t, NULL, call_slow, &c), 0);
    /* Wait until the answer has begun (slowly under valgrind), then stop the server. */
    for (int i = 0; i < 3000 && !__atomic_load_n(&slow_started, __ATOMIC_SEQ_CST); i++) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    CHECK(__atomic_load_n(&slow_started, __ATOMIC_SEQ_CST));
    inngest_server_destroy(e.srv);
    e.srv = NULL;
    pthread_join(t, NULL);
    CHECK_EQ_INT(c.res.status, 200);
    CHECK_STR(c.res.body, "data: tick\n\ndata: tick\n\ndata: tick\n\ndata: tick\n\ndata: tick\n\n");
    inngest_http_response_cleanup(&c.res);
    stop(&e);
}

/* A dotted address with a part over 255 is refused, not wrapped (999.1.1.1 listened on
 * 231.1.1.1). */
TEST_CASE(bad_listen_address_is_refused) {
    inngest_error err;
    inngest_app_opts o = {.mode = INNGEST_MODE_DEV};
    inngest_app *app = inngest_app_create(&o, &err);
    CHECK(app);
    inngest_app_freeze(app);
    static const char *const bad[] = {"999.1.1.1", "1.2.3", "::zz", "1.2.3.4.5"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        inngest_server_opts so = {.host = bad[i], .port = 0};
        inngest_error_clear(&err);
        CHECK(inngest_server_create(app, &so, &err) == NULL);
        CHECK_EQ_INT(err.code, INNGEST_EINVAL);
        CHECK(strstr(err.message, bad[i]) != NULL);
    }
    static const char *const good[] = {"127.0.0.1", "0.0.0.0", "::1", "*"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        inngest_server_opts so = {.host = good[i], .port = 0};
        inngest_server *srv = inngest_server_create(app, &so, &err);
        CHECK(srv != NULL);
        inngest_server_destroy(srv);
    }
    inngest_app_destroy(app);
}

/* Cloud mode over real HTTP: a call whose signature header is expired is refused on its
 * headers, without the server reading the body (the client sends none of the 8 MiB it
 * announces), and the connection is closed after the 401. */
TEST_CASE(bad_signature_refused_before_the_body) {
    inngest_error err;
    CHECK_EQ_INT(inngest_global_init(), INNGEST_OK);
    inngest_app_opts o = {.app_id = "it-app",
                          .mode = INNGEST_MODE_CLOUD,
                          .signing_key = "signkey-test-0011223344556677"};
    inngest_app *app = inngest_app_create(&o, &err);
    CHECK(app);
    inngest_app_freeze(app);
    inngest_server_opts so = {.host = "127.0.0.1", .port = 0};
    inngest_server *srv = inngest_server_create(app, &so, &err);
    CHECK_EQ_INT(inngest_server_start(srv, &err), INNGEST_OK);
    int port = inngest_server_port(srv);
    char req[512];
    snprintf(req, sizeof(req),
             "POST /api/inngest?fnId=it-app-x&stepId=step HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             "Content-Type: application/json\r\nContent-Length: %d\r\n"
             "X-Inngest-Signature: t=%lld&s=%064d\r\n\r\n[",
             8 << 20, (long long)time(NULL) - 400, 0);
    char *ans = testutil_raw_http(port, req, strlen(req), 0); /* reads until the close */
    CHECK(!strncmp(ans, "HTTP/1.1 401", 12));
    CHECK(strstr(ans, "signature timestamp outside"));
    CHECK(strstr(ans, "\r\nConnection: close\r\n"));
    free(ans);

    /* A body over the limit is refused on its Content-Length, before the signature. */
    snprintf(req, sizeof(req),
             "POST /api/inngest HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n",
             (16 << 20) + 1);
    ans = testutil_raw_http(port, req, strlen(req), 0);
    CHECK(!strncmp(ans, "HTTP/1.1 413", 12));
    free(ans);
    inngest_server_destroy(srv);
    inngest_app_destroy(app);
    inngest_global_cleanup();
}

/* ---- the worker reserve of the protocol endpoint ------------------------------------------- */

static int holding, release_hold;

static int hold_route(void *user, const inngest_http_request *req, inngest_http_response *res,
                      inngest_stream *stream) {
    (void)user;
    (void)req;
    (void)stream;
    __atomic_add_fetch(&holding, 1, __ATOMIC_SEQ_CST);
    while (!__atomic_load_n(&release_hold, __ATOMIC_SEQ_CST)) {
        struct timespec ts = {0, 2 * 1000000L};
        nanosleep(&ts, NULL);
    }
    res->status = 200;
    return inngest_http_response_set_body(res, "{}", 2);
}

struct held {
    int port;
    char *answer;
};

static void *get_hold(void *arg) {
    struct held *h = arg;
    const char *req = "GET /hold HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    h->answer = testutil_raw_http(h->port, req, strlen(req), 1);
    return NULL;
}

/* With every worker but the reserve busy on other paths, another such request gets 503
 * with Retry-After at once, and the protocol endpoint still answers. */
TEST_CASE(serve_reserve_keeps_the_endpoint_answering) {
    inngest_error err;
    CHECK_EQ_INT(inngest_global_init(), INNGEST_OK);
    inngest_app_opts o = {.app_id = "it-app", .mode = INNGEST_MODE_DEV};
    inngest_app *app = inngest_app_create(&o, &err);
    inngest_app_freeze(app);
    inngest_server_opts so = {.host = "127.0.0.1", .port = 0, .num_threads = 4,
                              .serve_reserve = 2};
    inngest_server *srv = inngest_server_create(app, &so, &err);
    CHECK_EQ_INT(inngest_server_add_route(srv, "/hold", hold_route, NULL), INNGEST_OK);
    CHECK_EQ_INT(inngest_server_start(srv, &err), INNGEST_OK);
    int port = inngest_server_port(srv);
    __atomic_store_n(&holding, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&release_hold, 0, __ATOMIC_SEQ_CST);
    struct held h[2] = {{port, NULL}, {port, NULL}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&t[i], NULL, get_hold, &h[i]) == 0);
    while (__atomic_load_n(&holding, __ATOMIC_SEQ_CST) < 2) {
        struct timespec ts = {0, 2 * 1000000L};
        nanosleep(&ts, NULL);
    }
    const char *other = "GET /hold HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    char *ans = testutil_raw_http(port, other, strlen(other), 1);
    CHECK(!strncmp(ans, "HTTP/1.1 503", 12));
    CHECK(strstr(ans, "\r\nRetry-After: 1\r\n"));
    free(ans);
    const char *serve = "GET /api/inngest HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    for (int i = 0; i < 3; i++) {
        ans = testutil_raw_http(port, serve, strlen(serve), 1);
        CHECK(!strncmp(ans, "HTTP/1.1 200", 12));
        free(ans);
    }
    __atomic_store_n(&release_hold, 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < 2; i++) {
        CHECK(pthread_join(t[i], NULL) == 0);
        CHECK(!strncmp(h[i].answer, "HTTP/1.1 200", 12));
        free(h[i].answer);
    }
    ans = testutil_raw_http(port, other, strlen(other), 1); /* the slots came back */
    CHECK(!strncmp(ans, "HTTP/1.1 200", 12));
    free(ans);
    inngest_server_destroy(srv);
    inngest_app_destroy(app);
    inngest_global_cleanup();
}

/* ---- outbound hygiene of the libcurl transport ---------------------------------------------- */

static int target_hits;

static int redirect_route(void *user, const inngest_http_request *req, inngest_http_response *res,
                          inngest_stream *stream) {
    (void)stream;
    (void)req;
    res->status = 302;
    return inngest_http_response_add_header(res, "Location", (const char *)user);
}

static int target_route(void *user, const inngest_http_request *req, inngest_http_response *res,
                        inngest_stream *stream) {
    (void)user;
    (void)req;
    (void)stream;
    __atomic_add_fetch(&target_hits, 1, __ATOMIC_SEQ_CST);
    res->status = 200;
    return inngest_http_response_set_body(res, "{}", 2);
}

static int huge_route(void *user, const inngest_http_request *req, inngest_http_response *res,
                      inngest_stream *stream) {
    (void)user;
    (void)req;
    (void)stream;
    size_t n = (32u << 20) + 1;
    char *body = malloc(n);
    CHECK(body);
    memset(body, 'x', n);
    res->status = 200;
    int rc = inngest_http_response_set_body(res, body, n);
    free(body);
    return rc;
}

/* Redirects are not followed (a key in a header must not travel to another host), and a
 * buffered answer over 32 MiB is refused instead of held. */
TEST_CASE(transport_follows_no_redirect_and_caps_bodies) {
    struct env e;
    start(&e, 0);
    char target[160], url[200];
    /* Routes cannot be added after start: a server of its own. */
    inngest_app_opts o = {.mode = INNGEST_MODE_DEV};
    inngest_error err;
    inngest_app *app = inngest_app_create(&o, &err);
    inngest_app_freeze(app);
    inngest_server_opts so = {.host = "127.0.0.1", .port = 0};
    inngest_server *s2 = inngest_server_create(app, &so, &err);
    CHECK_EQ_INT(inngest_server_add_route(s2, "/redirect", redirect_route, target), INNGEST_OK);
    CHECK_EQ_INT(inngest_server_add_route(s2, "/target", target_route, NULL), INNGEST_OK);
    CHECK_EQ_INT(inngest_server_add_route(s2, "/huge", huge_route, NULL), INNGEST_OK);
    CHECK_EQ_INT(inngest_server_start(s2, &err), INNGEST_OK);
    snprintf(target, sizeof(target), "http://127.0.0.1:%d/target", inngest_server_port(s2));

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/redirect", inngest_server_port(s2));
    inngest_header h[] = {{"Authorization", "Bearer secret"}};
    inngest_http_request req = {.method = "GET", .url = url, .headers = h, .header_count = 1};
    inngest_http_response res = {0};
    CHECK_EQ_INT(e.curl->send(e.curl, &req, &res, &err), INNGEST_OK);
    CHECK_EQ_INT(res.status, 302);
    CHECK_EQ_INT(__atomic_load_n(&target_hits, __ATOMIC_SEQ_CST), 0);
    inngest_http_response_cleanup(&res);

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/huge", inngest_server_port(s2));
    req.header_count = 0;
    CHECK_EQ_INT(e.curl->send(e.curl, &req, &res, &err), INNGEST_ETOOBIG);
    CHECK(strstr(err.message, "larger than"));
    inngest_http_response_cleanup(&res);
    inngest_server_destroy(s2);
    inngest_app_destroy(app);
    stop(&e);
}
