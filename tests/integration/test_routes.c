/* SPDX-License-Identifier: MIT */
/*
 * The host's Inngest-mode chat routes over real HTTP, against a stand-in for the Inngest
 * event and REST APIs: send, poll (running, finished, failed, unknown), the SSE stream,
 * Inngest down, and the /metrics exposition.
 */
#include "fmacros.h"

#include <regex.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <inngest/inngest.h>

#include "host/routes.h"
#include "hostenv.h"
#include "testutil.h"

/* ---- the Inngest stand-in ------------------------------------------------------------------ */

static int polls_of_running; /* EVRUN reports Running this many times, then Completed */

static int reply(inngest_http_response *res, int status, const char *body) {
    res->status = status;
    int rc = inngest_http_response_add_header(res, "Content-Type", "application/json");
    return rc ? rc : inngest_http_response_set_body(res, body, strlen(body));
}

static int fake_events(void *user, const inngest_http_request *req, inngest_http_response *res,
                       inngest_stream *stream) {
    (void)user;
    (void)stream;
    if (!strncmp(req->url, "/e/", 3))
        return reply(res, 200, "{\"ids\":[\"01EVSENT\"],\"status\":200}");
    if (strstr(req->url, "/v1/events/EVRUN/runs")) {
        if (polls_of_running-- > 0)
            return reply(res, 200, "{\"data\":[{\"run_id\":\"RUN1\",\"status\":\"Running\"}]}");
        return reply(res, 200,
                     "{\"data\":[{\"run_id\":\"RUN1\",\"status\":\"Completed\",\"run_started_at\":"
                     "\"2026-11-24T10:00:00.000Z\",\"ended_at\":\"2026-11-24T10:00:01.500Z\","
                     "\"output\":{\"response\":\"hello [1]\",\"sources\":[{\"id\":\"d1#0\","
                     "\"title\":\"Doc\",\"score\":0.5}],\"sessionId\":\"s\"}}]}");
    }
    if (strstr(req->url, "/v1/events/EVFAIL/runs"))
        return reply(res, 200, "{\"data\":[{\"run_id\":\"RUN2\",\"status\":\"Failed\"}]}");
    if (strstr(req->url, "/v1/runs/RUN2"))
        return reply(res, 200,
                     "{\"data\":{\"run_id\":\"RUN2\",\"status\":\"Failed\",\"output\":{\"name\":"
                     "\"Error\",\"message\":\"model unavailable\"}}}");
    if (strstr(req->url, "/v1/events/"))
        return reply(res, 200, "{\"data\":[],\"metadata\":{}}");
    return reply(res, 404, "{\"error\":\"not found\"}");
}

struct env {
    struct fake_server fake;
    inngest_app *app;
    inngest_server *srv;
    struct host_routes routes;
    inngest_transport *curl;
    char base[128];
};

static void start(struct env *e, int inngest_up) {
    inngest_error err;
    memset(e, 0, sizeof(*e));
    CHECK_EQ_INT(inngest_global_init(), INNGEST_OK);
    e->curl = inngest_transport_curl_create(&err);
    static const struct fake_route fake[] = {{"/e/", fake_events}, {"/v1/", fake_events}};
    fake_server_start(&e->fake, e->curl, fake, 2);

    /* Port 9 (discard) on loopback is closed: "Inngest down". */
    const char *api = inngest_up ? e->fake.url : "http://127.0.0.1:9";
    inngest_app_opts o = {.mode = INNGEST_MODE_DEV, .base_url = api, .transport = e->curl};
    e->app = inngest_app_create(&o, &err);
    inngest_app_freeze(e->app);
    e->routes.app = e->app;
    e->routes.poll_interval_ms = 20;
    inngest_server_opts so = {.port = 0, .on_request = host_on_request};
    e->srv = inngest_server_create(e->app, &so, &err);
    CHECK_EQ_INT(host_routes_add(e->srv, &e->routes), INNGEST_OK);
    CHECK_EQ_INT(inngest_server_start(e->srv, &err), INNGEST_OK);
    snprintf(e->base, sizeof(e->base), "http://127.0.0.1:%d", inngest_server_port(e->srv));
}

static void stop(struct env *e) {
    inngest_server_destroy(e->srv);
    fake_server_stop(&e->fake);
    inngest_app_destroy(e->app);
    inngest_transport_destroy(e->curl);
    inngest_global_cleanup();
}

static json_t *get_json(struct env *e, const char *method, const char *path, const char *body,
                        int expect_status) {
    return http_call_json(e->curl, e->base, method, path, body, expect_status);
}

static char *get_text(struct env *e, const char *path) {
    return http_call(e->curl, e->base, "GET", path, NULL, 0, NULL, 200);
}

/* GET /metrics until the sample `key` reaches `want` (at most 2 s): the server counts a
 * request after its answer is written, so the next request can overtake the count.
 * Returns the last body (malloc'd) and the value reached. */
static char *metrics_until(struct env *e, const char *key, int want, int *got) {
    for (int tries = 0;; tries++) {
        char *body = get_text(e, "/metrics");
        char *at = strstr(body, key);
        *got = at ? atoi(at + strlen(key)) : 0;
        if (*got >= want || tries == 200)
            return body;
        free(body);
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

TEST_CASE(send_and_poll) {
    struct env e;
    start(&e, 1);
    json_t *j = get_json(&e, "POST", "/api/chat/inngest",
                         "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", 202);
    CHECK_STR(json_string_value(json_object_get(j, "eventId")), "01EVSENT");
    CHECK(json_is_string(json_object_get(j, "sessionId")));
    json_decref(j);

    j = get_json(&e, "POST", "/api/chat/inngest", "{\"messages\":[]}", 400);
    json_decref(j);
    j = get_json(&e, "POST", "/api/chat/inngest", "not json", 400);
    json_decref(j);

    polls_of_running = 1;
    j = get_json(&e, "GET", "/api/chat/inngest/poll?eventId=EVRUN", NULL, 200);
    CHECK(json_is_false(json_object_get(j, "completed")));
    CHECK_STR(json_string_value(json_object_get(j, "status")), "Running");
    json_decref(j);

    j = get_json(&e, "GET", "/api/chat/inngest/poll?eventId=EVRUN", NULL, 200);
    CHECK(json_is_true(json_object_get(j, "completed")));
    CHECK_STR(json_string_value(json_object_get(j, "response")), "hello [1]");
    CHECK_EQ_INT(json_array_size(json_object_get(j, "sources")), 1);
    CHECK(json_is_null(json_object_get(j, "error")));
    CHECK_EQ_INT(json_integer_value(json_object_get(j, "durationMs")), 1500);
    json_decref(j);

    j = get_json(&e, "GET", "/api/chat/inngest/poll?eventId=EVFAIL", NULL, 200);
    CHECK(json_is_true(json_object_get(j, "completed")));
    CHECK_STR(json_string_value(json_object_get(j, "error")), "the run failed: model unavailable");
    json_decref(j);

    j = get_json(&e, "GET", "/api/chat/inngest/poll?eventId=EVUNKNOWN", NULL, 200);
    CHECK(json_is_false(json_object_get(j, "completed")));
    CHECK_STR(json_string_value(json_object_get(j, "status")), "Pending");
    json_decref(j);

    j = get_json(&e, "GET", "/api/chat/inngest/poll?eventId=../../x", NULL, 400);
    json_decref(j);
    /* Only GET reads a run. */
    json_decref(get_json(&e, "POST", "/api/chat/inngest/poll?eventId=EVRUN", "{}", 405));
    json_decref(get_json(&e, "DELETE", "/api/chat/inngest/stream?eventId=EVRUN", NULL, 405));
    stop(&e);
}

TEST_CASE(stream_pushes_status_then_result) {
    struct env e;
    start(&e, 1);
    polls_of_running = 3;
    char *body = get_text(&e, "/api/chat/inngest/stream?eventId=EVRUN");
    const char *status = strstr(body, "event: status\ndata: ");
    const char *result = strstr(body, "event: result\ndata: ");
    CHECK(status && result && status < result);
    CHECK(strstr(result, "\"response\":\"hello [1]\""));
    CHECK(strstr(status, "\"status\":\"Running\""));
    free(body);

    body = get_text(&e, "/api/chat/inngest/stream?eventId=EVFAIL");
    CHECK(strstr(body, "event: result"));
    CHECK(strstr(body, "model unavailable"));
    free(body);
    stop(&e);
}

TEST_CASE(inngest_down_is_explained) {
    struct env e;
    start(&e, 0);
    json_t *j = get_json(&e, "GET", "/api/chat/inngest/poll?eventId=EVRUN", NULL, 502);
    CHECK(strstr(json_string_value(json_object_get(j, "error")), "npx inngest-cli@latest dev"));
    json_decref(j);
    j = get_json(&e, "POST", "/api/chat/inngest",
                 "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", 502);
    CHECK(strstr(json_string_value(json_object_get(j, "error")), "cannot reach"));
    json_decref(j);
    char *body = get_text(&e, "/api/chat/inngest/stream?eventId=EVRUN");
    CHECK(strstr(body, "event: error"));
    free(body);
    stop(&e);
}

/* Every line of /metrics is a comment or `name{labels} value`, and counters move. */
TEST_CASE(metrics_parse_and_move) {
    struct env e;
    start(&e, 1);
    json_t *j = get_json(&e, "GET", "/healthz", NULL, 200);
    json_decref(j);
    const char *key = "inngest_host_http_requests_total{route=\"/healthz\",method=\"GET\","
                      "status=\"200\"} ";
    int count;
    char *before = metrics_until(&e, key, 1, &count);
    CHECK_EQ_INT(count, 1);
    j = get_json(&e, "GET", "/healthz", NULL, 200);
    json_decref(j);
    char *after = metrics_until(&e, key, 2, &count);
    CHECK_EQ_INT(count, 2);

    /* A comment, or a sample: name, optional labels, one space, and a value that is a
     * decimal number, +Inf/-Inf/Inf or NaN (never a bare value without a name). */
    regex_t line;
    CHECK_EQ_INT(regcomp(&line,
                         "^(# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*|[a-zA-Z_:][a-zA-Z0-9_:]*"
                         "(\\{([a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\.)*\",?)*\\})? "
                         "([-+]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][-+]?[0-9]+)?|[-+]?Inf|NaN))$",
                         REG_EXTENDED | REG_NOSUB),
                 0);
    /* The pattern itself: it must tell good lines from bad ones. */
    static const char *good[] = {"a_total 3", "b{x=\"1\"} -1.5e+3", "c NaN", "d{} +Inf",
                                 "# TYPE a_total counter"};
    static const char *bad[] = {"NaN", "Inf", "-Inf", "a 1e", "a ..", "a", "a  1", "a{x=1} 2",
                                "{x=\"1\"} 2", "a 1 2"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        CHECK(regexec(&line, good[i], 0, NULL, 0) == 0);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (regexec(&line, bad[i], 0, NULL, 0) == 0)
            TEST_FAIL_("the pattern accepts \"%s\"", bad[i]);
    int lines = 0;
    for (char *save = NULL, *l = strtok_r(after, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (regexec(&line, l, 0, NULL, 0) != 0)
            TEST_FAIL_("not Prometheus text: %s", l);
        lines++;
    }
    CHECK(lines > 10);
    regfree(&line);
    free(before);
    free(after);
    /* They only read. */
    json_decref(get_json(&e, "POST", "/healthz", "{}", 405));
    json_decref(get_json(&e, "DELETE", "/metrics", NULL, 405));
    json_decref(get_json(&e, "POST", "/", "{}", 405));
    stop(&e);
}

/* Questions sent to Inngest are capped: with every slot taken, 503 with Retry-After. */
TEST_CASE(event_sends_are_capped) {
    struct env e;
    start(&e, 1);
    const char *ask = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    __atomic_store_n(&e.routes.active_event_sends, 16, __ATOMIC_RELAXED); /* the default */
    json_t *j = get_json(&e, "POST", "/api/chat/inngest", ask, 503);
    CHECK(strstr(json_string_value(json_object_get(j, "error")), "too many questions"));
    json_decref(j);
    __atomic_store_n(&e.routes.active_event_sends, 0, __ATOMIC_RELAXED);
    json_decref(get_json(&e, "POST", "/api/chat/inngest", ask, 202));
    CHECK_EQ_INT(__atomic_load_n(&e.routes.active_event_sends, __ATOMIC_RELAXED), 0);
    stop(&e);
}
