/* SPDX-License-Identifier: MIT */
/*
 * Direct-mode chat and the document routes over real HTTP on 127.0.0.1, against a fake
 * OpenAI-compatible model server (an in-process route on the same server API): JSON and
 * SSE answers, the offline answer, model 500/401, bad input; documents add, list, delete,
 * limits, ?via=inngest; the ingest command run as a program.
 */
#include "fmacros.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <inngest/inngest.h>
#include <inngest/testing.h>

#include "chat.h"
#include "host/ai_setup.h"
#include "host/chat_routes.h"
#include "host/relay.h"
#include "host/routes.h"
#include "hostenv.h"
#include "testutil.h"

/* ---- the fake model server ----------------------------------------------------------------- */

static int model_status = 200;  /* what /v1/chat/completions answers */
static int model_hold;          /* while set (atomically), chat calls wait before answering */
static char last_prompt[65536]; /* the system prompt of the last chat call */

static int reply(inngest_http_response *res, int status, const char *body) {
    res->status = status;
    int rc = inngest_http_response_add_header(res, "Content-Type", "application/json");
    return rc ? rc : inngest_http_response_set_body(res, body, strlen(body));
}

static int sse_chunk(inngest_stream *s, const char *json) {
    char buf[1024];
    int n = snprintf(buf, sizeof(buf), "data: %s\n\n", json);
    return inngest_stream_write(s, buf, (size_t)n);
}

/* Embeddings: 8 floats per input from the bytes of the text (same text, same vector). */
static int fake_embeddings(json_t *body, inngest_http_response *res) {
    json_t *in = json_object_get(body, "input"), *data = json_array();
    for (size_t i = 0; i < json_array_size(in); i++) {
        const char *t = json_string_value(json_array_get(in, i));
        double v[8] = {1, 0, 0, 0, 0, 0, 0, 0};
        for (const char *p = t; p && *p; p++)
            v[(unsigned char)*p % 8] += 1;
        json_array_append_new(data, json_pack("{s:i,s:[ffffffff]}", "index", (int)i, "embedding",
                                              v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]));
    }
    json_t *out = json_pack("{s:o,s:s}", "data", data, "model", "fake-embed");
    char *text = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    int rc = reply(res, 200, text);
    free(text);
    return rc;
}

/* Inngest's GET /v1/events/{id}/runs for the one run of the streaming test: Running until
 * run_output is set (atomically), then Completed with it. runs_seen counts the looks. */
static char *run_output;
static int runs_seen;

static int fake_runs(inngest_http_response *res) {
    __atomic_add_fetch(&runs_seen, 1, __ATOMIC_RELAXED);
    const char *out = __atomic_load_n(&run_output, __ATOMIC_ACQUIRE);
    char body[8192];
    if (!out)
        snprintf(body, sizeof(body),
                 "{\"data\":[{\"run_id\":\"01RUNSTREAM\",\"status\":\"Running\"}]}");
    else
        snprintf(body, sizeof(body),
                 "{\"data\":[{\"run_id\":\"01RUNSTREAM\",\"status\":\"Completed\","
                 "\"output\":%s}]}",
                 out);
    return reply(res, 200, body);
}

static int fake_model(void *user, const inngest_http_request *req, inngest_http_response *res,
                      inngest_stream *stream) {
    (void)user;
    if (strstr(req->url, "/v1/events/"))
        return fake_runs(res);
    json_t *body = json_loadb(req->body ? req->body : "", req->body_len, 0, NULL);
    int rc;
    if (strstr(req->url, "/v1/embeddings")) {
        rc = fake_embeddings(body, res);
        json_decref(body);
        return rc;
    }
    const char *sys = json_string_value(
        json_object_get(json_array_get(json_object_get(body, "messages"), 0), "content"));
    snprintf(last_prompt, sizeof(last_prompt), "%s", sys ? sys : "");
    int streamed = json_is_true(json_object_get(body, "stream"));
    json_decref(body);
    while (__atomic_load_n(&model_hold, __ATOMIC_RELAXED)) {
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (model_status == 401)
        return reply(res, 401,
                     "{\"error\":{\"message\":\"Incorrect API key provided: sk-te***\",\"type\":"
                     "\"invalid_request_error\",\"code\":\"invalid_api_key\"}}");
    if (model_status != 200)
        return reply(res, 500,
                     "{\"error\":{\"message\":\"model exploded\",\"type\":\"server_error\"}}");
    if (!streamed)
        return reply(
            res, 200,
            "{\"id\":\"c1\",\"object\":\"chat.completion\",\"model\":\"fake-1\",\"choices\":"
            "[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Green tea "
            "wants 80 degrees [1].\"},\"finish_reason\":\"stop\"}],\"usage\":{"
            "\"prompt_tokens\":50,\"completion_tokens\":7,\"total_tokens\":57}}");
    static const inngest_header h[] = {{"Content-Type", "text/event-stream"}};
    rc = inngest_stream_begin(stream, 200, h, 1);
    static const char *const parts[] = {"Green tea ", "wants 80 ", "degrees [1]."};
    for (size_t i = 0; !rc && i < 3; i++) {
        char chunk[512];
        snprintf(chunk, sizeof(chunk),
                 "{\"id\":\"c1\",\"model\":\"fake-1\",\"choices\":[{\"index\":0,\"delta\":{"
                 "\"content\":\"%s\"},\"finish_reason\":null}]}",
                 parts[i]);
        rc = sse_chunk(stream, chunk);
    }
    if (!rc)
        rc = sse_chunk(stream, "{\"id\":\"c1\",\"model\":\"fake-1\",\"choices\":[{\"index\":0,"
                               "\"delta\":{},\"finish_reason\":\"stop\"}]}");
    if (!rc)
        rc =
            sse_chunk(stream, "{\"id\":\"c1\",\"model\":\"fake-1\",\"choices\":[],\"usage\":{"
                              "\"prompt_tokens\":50,\"completion_tokens\":7,\"total_tokens\":57}}");
    if (!rc)
        rc = inngest_stream_write(stream, "data: [DONE]\n\n", 14);
    return INNGEST_OK;
}

static int fake_events(void *user, const inngest_http_request *req, inngest_http_response *res,
                       inngest_stream *stream) {
    (void)user;
    (void)stream;
    (void)req;
    return reply(res, 200, "{\"ids\":[\"01DOC1\",\"01DOC2\"],\"status\":200}");
}

/* ---- the host under test ------------------------------------------------------------------- */

struct env {
    struct fake_server fake;
    inngest_app *app;
    inngest_server *srv;
    inngest_transport *curl;
    struct host_routes routes;
    struct host_ai ai;
    struct chat_env chat_env;
    struct host_chat chat;
    char dir[64], store[128], base[128];
};

enum { WITH_KEY = 1, OPENAI_EMBEDDINGS = 2 };

static void start(struct env *e, int flags) {
    inngest_error err;
    memset(e, 0, sizeof(*e));
    CHECK_EQ_INT(inngest_global_init(), INNGEST_OK);
    e->curl = inngest_transport_curl_create(&err);
    static const struct fake_route fake[] = {{"/v1/", fake_model}, {"/e/", fake_events}};
    fake_server_start(&e->fake, e->curl, fake, 2);
    const char *url = e->fake.url;

    snprintf(e->dir, sizeof(e->dir), "/tmp/chat-routes-XXXXXX");
    CHECK(mkdtemp(e->dir));
    snprintf(e->store, sizeof(e->store), "%s/store.db", e->dir);
    char model_url[160];
    snprintf(model_url, sizeof(model_url), "%s/v1", url);
    setenv("OPENAI_BASE_URL", model_url, 1);
    setenv("OPENAI_MAX_RETRIES", "-1", 1);
    if (flags & WITH_KEY)
        setenv("OPENAI_API_KEY", "sk-test-routes", 1);
    else
        unsetenv("OPENAI_API_KEY");
    setenv("RAG_EMBEDDER", flags & OPENAI_EMBEDDINGS ? "openai" : "hash", 1);
    setenv("OPENAI_EMBEDDING_DIMENSIONS", "8", 1);
    CHECK_EQ_INT(host_ai_open(&e->ai, e->store, 0, &err), INNGEST_OK);
    CHECK_EQ_INT(chat_env_from_environment(&e->chat_env, &err), INNGEST_OK);
    e->chat_env.client = e->ai.client;
    e->chat_env.store = e->ai.store;
    e->chat_env.embedder = e->ai.embedder;

    inngest_app_opts o = {.mode = INNGEST_MODE_DEV, .base_url = url, .transport = e->curl};
    e->app = inngest_app_create(&o, &err);
    inngest_app_freeze(e->app);
    e->chat = (struct host_chat){.env = &e->chat_env,
                                 .ai = &e->ai,
                                 .app = e->app,
                                 .max_document_bytes = 4096,
                                 .max_documents = 3};
    e->routes = (struct host_routes){.app = e->app,
                                     .chat_direct = host_chat_route,
                                     .chat_direct_user = &e->chat,
                                     .rag_documents = host_documents_route,
                                     .rag_documents_user = &e->chat};
    inngest_server_opts so2 = {.port = 0, .on_request = host_on_request};
    e->srv = inngest_server_create(e->app, &so2, &err);
    CHECK_EQ_INT(host_routes_add(e->srv, &e->routes), INNGEST_OK);
    CHECK_EQ_INT(inngest_server_start(e->srv, &err), INNGEST_OK);
    snprintf(e->base, sizeof(e->base), "http://127.0.0.1:%d", inngest_server_port(e->srv));
}

static void remove_dir(const char *dir) {
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CHECK_EQ_INT(system(cmd), 0);
}

static void stop(struct env *e) {
    inngest_server_destroy(e->srv);
    fake_server_stop(&e->fake);
    inngest_app_destroy(e->app);
    host_ai_close(&e->ai);
    inngest_transport_destroy(e->curl);
    inngest_global_cleanup();
    remove_dir(e->dir);
}

/* One request; returns the body (malloc'd) and checks the status. */
static char *call(struct env *e, const char *method, const char *path, const char *body,
                  size_t body_len, const char *accept, int expect_status) {
    return http_call(e->curl, e->base, method, path, body, body_len,
                     accept ? accept : "application/json", expect_status);
}

static json_t *call_json(struct env *e, const char *method, const char *path, const char *body,
                         int expect_status) {
    char *text = call(e, method, path, body, 0, NULL, expect_status);
    json_t *j = testutil_json(text);
    free(text);
    return j;
}

static const char *str(json_t *j, const char *key) {
    return json_string_value(json_object_get(j, key));
}

static const char *const ask_tea =
    "{\"messages\":[{\"role\":\"user\",\"content\":\"At what temperature is green tea "
    "brewed?\"}],\"sessionId\":\"t\"}";

static void add_tea(struct env *e) {
    json_t *j = call_json(e, "POST", "/api/rag/documents",
                          "{\"source\":\"notes/tea.md\",\"text\":\"# Tea\\n\\nGreen tea is "
                          "brewed at 80 degrees; black tea at 95.\"}",
                          200);
    CHECK_STR(str(json_array_get(json_object_get(j, "documents"), 0), "status"), "added");
    json_decref(j);
}

/* The SSE events of a body, in order, as "name name …". */
static void event_names(const char *body, char *out, size_t n) {
    out[0] = '\0';
    for (const char *p = body; (p = strstr(p, "event: ")); p += 7) {
        size_t len = strcspn(p + 7, "\n"), used = strlen(out);
        snprintf(out + used, n - used, "%s%.*s", used ? " " : "", (int)len, p + 7);
    }
}

/* The data of the first event `name` (new reference). */
static json_t *event_data(const char *body, const char *name) {
    char head[64];
    snprintf(head, sizeof(head), "event: %s\ndata: ", name);
    const char *p = strstr(body, head);
    CHECK(p);
    p += strlen(head);
    char *line = strndup(p, strcspn(p, "\n"));
    json_t *j = testutil_json(line);
    free(line);
    return j;
}

/* ---- chat ---------------------------------------------------------------------------------- */

TEST_CASE(direct_json_answer_with_sources) {
    struct env e;
    start(&e, WITH_KEY);
    add_tea(&e);
    json_t *j = call_json(&e, "POST", "/api/chat", ask_tea, 200);
    CHECK_STR(str(j, "response"), "Green tea wants 80 degrees [1].");
    CHECK_STR(str(j, "model"), "fake-1");
    CHECK_STR(str(j, "mode"), "direct");
    CHECK(json_is_integer(json_object_get(j, "latencyMs")));
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(j, "usage"), "totalTokens")),
                 57);
    json_t *first = json_array_get(json_object_get(j, "sources"), 0);
    CHECK_STR(str(first, "title"), "Tea");
    CHECK(!strncmp(str(first, "id"), "notes/tea.md#", 13));
    CHECK(strstr(last_prompt, "[1] Tea") && strstr(last_prompt, "80 degrees"));
    json_decref(j);

    char *m = call(&e, "GET", "/metrics", NULL, 0, NULL, 200);
    CHECK(strstr(m, "inngest_host_chat_requests_total{mode=\"direct\",outcome=\"answered\"} 1"));
    CHECK(strstr(m, "inngest_host_model_calls_total{kind=\"chat\",outcome=\"ok\"} 1"));
    CHECK(strstr(m, "inngest_host_model_tokens_total{kind=\"prompt\"} 50"));
    CHECK(strstr(m, "inngest_host_model_tokens_total{kind=\"completion\"} 7"));
    CHECK(strstr(m, "inngest_host_chat_latency_seconds_count{mode=\"direct\"} 1"));
    CHECK(strstr(m, "inngest_host_rag_documents_ingested_total{via=\"http\",status=\"added\"} 1"));
    CHECK(strstr(m, "# TYPE inngest_host_rag_chunks gauge"));
    free(m);
    stop(&e);
}

TEST_CASE(direct_sse_streams_sources_deltas_done) {
    struct env e;
    start(&e, WITH_KEY);
    add_tea(&e);
    char *body = call(&e, "POST", "/api/chat", ask_tea, 0, "text/event-stream", 200);
    char names[256];
    event_names(body, names, sizeof(names));
    CHECK_STR(names, "sources delta delta delta done");
    json_t *src = event_data(body, "sources");
    CHECK_STR(str(json_array_get(json_object_get(src, "sources"), 0), "title"), "Tea");
    json_decref(src);
    json_t *delta = event_data(body, "delta");
    CHECK_STR(str(delta, "text"), "Green tea ");
    json_decref(delta);
    json_t *done = event_data(body, "done");
    CHECK_STR(str(done, "response"), "Green tea wants 80 degrees [1].");
    CHECK_STR(str(done, "mode"), "direct");
    CHECK_EQ_INT(
        json_integer_value(json_object_get(json_object_get(done, "usage"), "completionTokens")), 7);
    json_decref(done);
    free(body);
    /* "stream": true asks for the same without the Accept header. */
    body = call(&e, "POST", "/api/chat",
                "{\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"tea?\"}]}", 0,
                NULL, 200);
    CHECK(strstr(body, "event: done"));
    free(body);
    stop(&e);
}

TEST_CASE(offline_answer_without_a_key) {
    struct env e;
    start(&e, 0);
    add_tea(&e);
    json_t *j = call_json(&e, "POST", "/api/chat", ask_tea, 200);
    CHECK_STR(str(j, "model"), "offline");
    CHECK(strstr(str(j, "response"), "No model was called"));
    CHECK(strstr(str(j, "response"), "80 degrees"));
    CHECK(json_is_null(json_object_get(j, "usage")));
    CHECK_EQ_INT(json_array_size(json_object_get(j, "sources")), 1);
    json_decref(j);
    char *body = call(&e, "POST", "/api/chat", ask_tea, 0, "text/event-stream", 200);
    char names[256];
    event_names(body, names, sizeof(names));
    CHECK_STR(names, "sources delta done");
    free(body);
    stop(&e);
}

TEST_CASE(model_errors_are_errors_not_answers) {
    struct env e;
    start(&e, WITH_KEY);
    add_tea(&e);
    model_status = 500;
    json_t *j = call_json(&e, "POST", "/api/chat", ask_tea, 502);
    /* The caller learns the status; the provider's own text stays in the log. */
    CHECK(strstr(str(j, "error"), "the model server answered HTTP 500"));
    CHECK(!strstr(str(j, "error"), "model exploded"));
    CHECK(!json_object_get(j, "response"));
    json_decref(j);
    char *body = call(&e, "POST", "/api/chat", ask_tea, 0, "text/event-stream", 200);
    char names[256];
    event_names(body, names, sizeof(names));
    CHECK_STR(names, "sources error");
    json_t *ev = event_data(body, "error");
    CHECK(strstr(str(ev, "message"), "answered HTTP 500"));
    CHECK(!strstr(str(ev, "message"), "model exploded"));
    CHECK_EQ_INT(json_integer_value(json_object_get(ev, "status")), 502);
    json_decref(ev);
    free(body);

    model_status = 401;
    j = call_json(&e, "POST", "/api/chat", ask_tea, 502);
    CHECK(!strstr(str(j, "error"), "Incorrect API key"));
    CHECK(strstr(str(j, "error"), "401"));
    CHECK(!strstr(str(j, "error"), "sk-test-routes"));
    json_decref(j);
    char *m = call(&e, "GET", "/metrics", NULL, 0, NULL, 200);
    CHECK(strstr(m, "inngest_host_model_errors_total{kind=\"chat\",status=\"401\"} 1"));
    CHECK(strstr(m, "inngest_host_model_errors_total{kind=\"chat_stream\",status=\"500\"} 1"));
    free(m);
    model_status = 200;
    stop(&e);
}

struct held_call {
    struct env *e;
    char *out;
};

static void *ask_in_thread(void *arg) {
    struct held_call *h = arg;
    h->out = call(h->e, "POST", "/api/chat", ask_tea, 0, NULL, 200);
    return NULL;
}

/* Direct answers hold a worker each; beyond the cap the route says "busy" at once, so
 * slow model calls cannot take every worker from /api/inngest. */
TEST_CASE(answers_in_progress_are_capped) {
    struct env e;
    start(&e, WITH_KEY);
    add_tea(&e);
    e.chat.max_active_chats = 1;
    __atomic_store_n(&model_hold, 1, __ATOMIC_RELAXED);
    struct held_call h = {&e, NULL};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, ask_in_thread, &h) == 0);
    while (!__atomic_load_n(&e.chat.active_chats, __ATOMIC_RELAXED)) {
        struct timespec ts = {0, 2 * 1000000L};
        nanosleep(&ts, NULL);
    }
    json_t *j = call_json(&e, "POST", "/api/chat", ask_tea, 503);
    CHECK(strstr(str(j, "error"), "too many answers in progress"));
    json_decref(j);
    j = call_json(&e, "GET", "/healthz", NULL, 200); /* the protocol side still answers */
    json_decref(j);
    __atomic_store_n(&model_hold, 0, __ATOMIC_RELAXED);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(strstr(h.out, "80 degrees"));
    free(h.out);
    CHECK_EQ_INT(__atomic_load_n(&e.chat.active_chats, __ATOMIC_RELAXED), 0);
    j = call_json(&e, "POST", "/api/chat", ask_tea, 200); /* the slot was given back */
    json_decref(j);
    stop(&e);
}

TEST_CASE(model_server_down_is_503) {
    struct env e;
    start(&e, WITH_KEY);
    setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1", 1);
    inngest_ai_opts o = {0};
    inngest_error err;
    inngest_ai_client *down = inngest_ai_client_create(&o, &err);
    inngest_ai_client *saved = e.chat_env.client;
    e.chat_env.client = down;
    json_t *j = call_json(&e, "POST", "/api/chat", ask_tea, 503);
    CHECK(strstr(str(j, "error"), "the model server could not be reached"));
    CHECK(!strstr(str(j, "error"), "127.0.0.1:9")); /* no provider details to callers */
    json_decref(j);
    e.chat_env.client = saved;
    inngest_ai_client_destroy(down);
    stop(&e);
}

TEST_CASE(bad_chat_requests_are_400) {
    struct env e;
    start(&e, WITH_KEY);
    static const char *const bad[] = {
        "not json",
        "",
        "[]",
        "{\"messages\":[]}",
        "{\"messages\":[{\"role\":\"user\"}]}",
        "{\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}",
        "{\"stream\":\"yes\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *j = call_json(&e, "POST", "/api/chat", bad[i], 400);
        CHECK(json_string_length(json_object_get(j, "error")) > 5);
        json_decref(j);
    }
    static const char invalid_utf8[] =
        "{\"messages\":[{\"role\":\"user\",\"content\":\"caf\xc3\"}]}";
    char *t = call(&e, "POST", "/api/chat", invalid_utf8, sizeof(invalid_utf8) - 1, NULL, 400);
    CHECK(strstr(t, "not valid JSON"));
    free(t);
    json_decref(call_json(&e, "GET", "/api/chat", NULL, 405));
    stop(&e);
}

/* A 100 KB question of one repeated word: its keyword query used to take FTS5 about 20 s
 * under the store's lock, stalling every other chat and document request meanwhile. */
TEST_CASE(long_question_is_answered) {
    struct env e;
    start(&e, 0);
    add_tea(&e);
    size_t n = 19000;
    char *body = malloc(n * 6 + 128);
    int at = sprintf(body, "{\"messages\":[{\"role\":\"user\",\"content\":\"");
    for (size_t i = 0; i < n; i++)
        at += sprintf(body + at, "%s", i % 2 ? "tea " : "green ");
    sprintf(body + at, "\"}]}");
    /* It used to become a 19,000-term keyword query holding the store's lock for ~20 s;
     * test_rag_unit's fts_query_bounded checks the bound, this that it still answers. */
    char *out = call(&e, "POST", "/api/chat", body, 0, NULL, 200);
    CHECK(strstr(out, "80 degrees"));
    free(out);
    free(body);
    stop(&e);
}

/* ---- documents ----------------------------------------------------------------------------- */

TEST_CASE(documents_add_list_delete) {
    struct env e;
    start(&e, 0);
    json_t *j = call_json(&e, "POST", "/api/rag/documents",
                          "[{\"source\":\"a.md\",\"text\":\"# Alpha\\nfirst\",\"metadata\":{\"by\":"
                          "\"test\"}},{\"source\":\"b.txt\",\"key\":\"bee\",\"title\":\"Bee\","
                          "\"text\":\"second\"}]",
                          200);
    json_t *docs = json_object_get(j, "documents");
    CHECK_EQ_INT(json_array_size(docs), 2);
    CHECK_STR(str(json_array_get(docs, 1), "key"), "bee");
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(docs, 0), "chunks")), 1);
    json_decref(j);
    /* The same text again: unchanged. */
    j = call_json(&e, "POST", "/api/rag/documents",
                  "{\"source\":\"a.md\",\"text\":\"# Alpha\\nfirst\"}", 200);
    CHECK_STR(str(json_array_get(json_object_get(j, "documents"), 0), "status"), "unchanged");
    json_decref(j);

    j = call_json(&e, "GET", "/api/rag/documents", NULL, 200);
    CHECK_EQ_INT(json_array_size(json_object_get(j, "documents")), 2);
    json_t *store = json_object_get(j, "store");
    CHECK_STR(str(store, "embedder"), "hash-v1");
    CHECK_EQ_INT(json_integer_value(json_object_get(store, "documents")), 2);
    CHECK_EQ_INT(json_integer_value(json_object_get(store, "chunks")), 2);
    CHECK_STR(str(json_array_get(json_object_get(j, "documents"), 0), "title"), "Alpha");
    json_decref(j);

    j = call_json(&e, "DELETE", "/api/rag/documents?key=bee", NULL, 200);
    CHECK_STR(str(j, "deleted"), "bee");
    json_decref(j);
    json_decref(call_json(&e, "DELETE", "/api/rag/documents?key=bee", NULL, 404));
    json_decref(call_json(&e, "DELETE", "/api/rag/documents", NULL, 400));
    json_decref(call_json(&e, "PUT", "/api/rag/documents", "{}", 405));
    j = call_json(&e, "GET", "/api/rag/documents", NULL, 200);
    CHECK_EQ_INT(json_array_size(json_object_get(j, "documents")), 1);
    json_decref(j);
    stop(&e);
}

TEST_CASE(bad_documents_change_nothing) {
    struct env e;
    start(&e, 0);
    static const struct {
        const char *body;
        int status;
    } bad[] = {
        {"nope", 400},
        {"[]", 400},
        {"{\"text\":\"no source\"}", 400},
        {"{\"source\":\"\",\"text\":\"x\"}", 400},
        {"{\"source\":\"a\",\"text\":42}", 400},
        {"{\"source\":\"a\",\"text\":\"  \\n \"}", 400},
        {"{\"source\":\"a\",\"text\":\"x\",\"metadata\":[1]}", 400},
        {"{\"source\":\"a\",\"text\":\"x\",\"title\":7}", 400},
        /* the second is bad: the first is not ingested either */
        {"[{\"source\":\"ok.md\",\"text\":\"fine\"},{\"source\":\"bad\"}]", 400},
        {"[{\"source\":\"1\",\"text\":\"x\"},{\"source\":\"2\",\"text\":\"x\"},{\"source\":\"3\","
         "\"text\":\"x\"},{\"source\":\"4\",\"text\":\"x\"}]",
         413},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        json_decref(call_json(&e, "POST", "/api/rag/documents", bad[i].body, bad[i].status));
    char big[6000];
    int n = snprintf(big, sizeof(big), "{\"source\":\"big.md\",\"text\":\"");
    memset(big + n, 'a', 5000);
    snprintf(big + n + 5000, sizeof(big) - (size_t)n - 5000, "\"}");
    json_t *j = call_json(&e, "POST", "/api/rag/documents", big, 413);
    CHECK(strstr(str(j, "error"), "limit is 4096"));
    json_decref(j);
    static const char invalid_utf8[] = "{\"source\":\"x\",\"text\":\"\xff\xfe\"}";
    free(call(&e, "POST", "/api/rag/documents", invalid_utf8, sizeof(invalid_utf8) - 1, NULL, 400));
    /* Two documents with one key: the second would have replaced the first. */
    j = call_json(&e, "POST", "/api/rag/documents",
                  "[{\"source\":\"d.md\",\"text\":\"one\"},{\"source\":\"d.md\",\"text\":"
                  "\"two\"}]",
                  400);
    CHECK(strstr(str(j, "error"), "both have the key d.md"));
    json_decref(j);
    json_decref(call_json(&e, "POST", "/api/rag/documents",
                          "[{\"source\":\"a\",\"key\":\"k\",\"text\":\"one\"},{\"source\":"
                          "\"b\",\"key\":\"k\",\"text\":\"two\"}]",
                          400));
    /* A key that is not UTF-8, or too long to be one, is a clear 400. */
    j = call_json(&e, "DELETE", "/api/rag/documents?key=%ff%fe", NULL, 400);
    CHECK(strstr(str(j, "error"), "UTF-8"));
    json_decref(j);
    char longkey[5100];
    n = snprintf(longkey, sizeof(longkey), "/api/rag/documents?key=");
    memset(longkey + n, 'k', 5000);
    longkey[n + 5000] = '\0';
    json_decref(call_json(&e, "DELETE", longkey, NULL, 400));
    json_decref(call_json(&e, "POST", "/api/rag/documents?via=carrier-pigeon",
                          "{\"source\":\"a\",\"text\":\"x\"}", 400));
    j = call_json(&e, "GET", "/api/rag/documents", NULL, 200);
    CHECK_EQ_INT(json_array_size(json_object_get(j, "documents")), 0);
    json_decref(j);
    stop(&e);
}

TEST_CASE(documents_via_inngest_send_events) {
    struct env e;
    start(&e, 0);
    json_t *j = call_json(&e, "POST", "/api/rag/documents?via=inngest",
                          "[{\"source\":\"a.md\",\"text\":\"one\"},{\"source\":\"b.md\","
                          "\"key\":\"kb\",\"text\":\"two\"}]",
                          202);
    json_t *docs = json_object_get(j, "documents");
    CHECK_STR(str(json_array_get(docs, 0), "status"), "queued");
    CHECK_STR(str(json_array_get(docs, 0), "eventId"), "01DOC1");
    CHECK_STR(str(json_array_get(docs, 1), "key"), "kb");
    json_decref(j);
    stop(&e);
}

TEST_CASE(openai_embeddings_end_to_end) {
    struct env e;
    start(&e, WITH_KEY | OPENAI_EMBEDDINGS);
    CHECK_STR(e.ai.embedder->id, "openai:text-embedding-3-small");
    CHECK_EQ_INT(e.ai.embedder->dim, 8);
    add_tea(&e);
    json_t *j = call_json(&e, "POST", "/api/chat", ask_tea, 200);
    CHECK_STR(str(json_array_get(json_object_get(j, "sources"), 0), "title"), "Tea");
    json_decref(j);
    stop(&e);
}

/* ---- the ingest command -------------------------------------------------------------------- */

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    CHECK(f);
    fputs(text, f);
    fclose(f);
}

/* Runs the host binary with `args`; returns the exit status and its stdout+stderr. */
static int run_host(const char *args, char *out, size_t n) {
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "env -u OPENAI_API_KEY RAG_EMBEDDER=hash '%s' %s 2>&1",
             INNGEST_HOST_BIN, args);
    FILE *p = popen(cmd, "r");
    CHECK(p);
    size_t len = fread(out, 1, n - 1, p);
    out[len] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST_CASE(cli_ingest_folder) {
    char dir[] = "/tmp/chat-cli-XXXXXX", path[256], args[768], out[8192];
    CHECK(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/docs", dir);
    CHECK_EQ_INT(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/docs/a.md", dir);
    write_file(path, "# Alpha\n\nThe alpha document.\n");
    snprintf(path, sizeof(path), "%s/docs/b.txt", dir);
    write_file(path, "The beta document.\n");
    snprintf(path, sizeof(path), "%s/docs/image.png", dir);
    write_file(path, "not text");

    snprintf(args, sizeof(args), "ingest --store '%s/s.db' '%s/docs'", dir, dir);
    CHECK_EQ_INT(run_host(args, out, sizeof(out)), 0);
    CHECK(strstr(out, "2 files: 2 added, 0 replaced, 0 unchanged, 0 failed; 2 chunks"));
    CHECK(strstr(out, "added     ")); /* a plain line per file: stderr is not a terminal */
    CHECK(!strstr(out, "\033[K"));
    CHECK_EQ_INT(run_host(args, out, sizeof(out)), 0);
    CHECK(strstr(out, "0 added, 0 replaced, 2 unchanged"));

    snprintf(args, sizeof(args), "ingest --store '%s/s.db' --force '%s/docs' '%s/missing'", dir,
             dir, dir);
    CHECK_EQ_INT(run_host(args, out, sizeof(out)), 1);
    CHECK(strstr(out, "2 replaced"));
    CHECK(strstr(out, "1 failed"));
    CHECK(strstr(out, "missing"));

    snprintf(args, sizeof(args), "ingest --store '%s/s.db' --list", dir);
    CHECK_EQ_INT(run_host(args, out, sizeof(out)), 0);
    CHECK(strstr(out, "/docs/a.md") && strstr(out, "Alpha"));
    CHECK(strstr(out, "2 documents, 2 chunks"));
    snprintf(args, sizeof(args), "ingest --store '%s/s.db' --delete '%s/docs/b.txt'", dir, dir);
    CHECK_EQ_INT(run_host(args, out, sizeof(out)), 0);
    CHECK_EQ_INT(run_host(args, out, sizeof(out)), 1);
    CHECK(strstr(out, "no document has the key"));

    /* A store built by another embedder: a clear error naming the file. */
    snprintf(
        args, sizeof(args),
        "ingest --store '%s/s.db' --list; OPENAI_API_KEY=k OPENAI_BASE_URL=http://127.0.0.1:9/v1 "
        "RAG_EMBEDDER=openai '%s' ingest --store '%s/s.db' --list",
        dir, INNGEST_HOST_BIN, dir);
    CHECK_EQ_INT(run_host(args, out, sizeof(out)), 1);
    CHECK(strstr(out, "was built with embedder hash-v1"));
    CHECK(strstr(out, "s.db"));

    CHECK_EQ_INT(run_host("ingest", out, sizeof(out)), 2);
    CHECK(strstr(out, "usage: inngest-host ingest"));
    remove_dir(dir);
}

/* A file whose name is not UTF-8 used to be stored, and then --list (and GET
 * /api/rag/documents) failed for the whole store; a binary file was stored cut at its
 * first NUL. Both now fail one by one with the reason; stray bad bytes in a text are
 * still repaired (U+FFFD). */
TEST_CASE(cli_ingest_refuses_non_utf8) {
    char dir[] = "/tmp/chat-cli-XXXXXX", path[256], args[768], out[8192];
    CHECK(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/docs", dir);
    CHECK_EQ_INT(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/docs/good.md", dir);
    write_file(path, "# Good\n\nPlain UTF-8, caf\xc3\xa9.\n");
    snprintf(path, sizeof(path), "%s/docs/latin1.md", dir);
    write_file(path, "caf\xe9 au lait\n");
    snprintf(path, sizeof(path), "%s/docs/image.md", dir);
    FILE *f = fopen(path, "wb");
    CHECK(f);
    CHECK_EQ_INT(fwrite("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 1, 16, f), 16);
    fclose(f);
    snprintf(path, sizeof(path), "%s/docs/n\xffme.md", dir);
    write_file(path, "fine text, odd name\n");

    snprintf(args, sizeof(args), "ingest --store '%s/s.db' '%s/docs'", dir, dir);
    CHECK_EQ_INT(run_host(args, out, sizeof(out)), 1);
    CHECK(strstr(out, "4 files: 2 added, 0 replaced, 0 unchanged, 2 failed"));
    CHECK(strstr(out, "image.md holds NUL bytes: a binary file, not text"));
    CHECK(strstr(out, "me.md: the key or source of a document is not valid UTF-8"));
    snprintf(args, sizeof(args), "ingest --store '%s/s.db' --list", dir);
    CHECK_EQ_INT(run_host(args, out, sizeof(out)), 0);
    CHECK(strstr(out, "good.md") && strstr(out, "latin1.md"));
    CHECK(strstr(out, "2 documents, 2 chunks"));
    remove_dir(dir);
}

/* Document posts are capped like answers: with every slot taken, a post is refused at once
 * (503, Retry-After) and changes nothing; reads and deletes are not counted. */
TEST_CASE(document_posts_are_capped) {
    struct env e;
    start(&e, 0);
    __atomic_store_n(&e.chat.active_ingests, 4, __ATOMIC_RELAXED); /* the default cap */
    json_t *j = call_json(&e, "POST", "/api/rag/documents",
                          "{\"source\":\"capped.md\",\"text\":\"never stored\"}", 503);
    CHECK(strstr(str(j, "error"), "too many documents being added"));
    json_decref(j);
    j = call_json(&e, "GET", "/api/rag/documents", NULL, 200);
    char *listed = json_dumps(json_object_get(j, "documents"), 0);
    CHECK(listed && !strstr(listed, "capped.md"));
    free(listed);
    json_decref(j);
    __atomic_store_n(&e.chat.active_ingests, 0, __ATOMIC_RELAXED);
    j = call_json(&e, "POST", "/api/rag/documents",
                  "{\"source\":\"capped.md\",\"text\":\"stored now\"}", 200);
    json_decref(j);
    CHECK_EQ_INT(__atomic_load_n(&e.chat.active_ingests, __ATOMIC_RELAXED), 0);
    stop(&e);
}

/* ---- Inngest mode, CHAT_GENERATE_MODE=run: the answer streams through the relay --------- */

struct stream_call {
    struct env *e;
    char *out;
};

static void *stream_in_thread(void *arg) {
    struct stream_call *h = arg;
    h->out = call(h->e, "GET", "/api/chat/inngest/stream?eventId=01EVSTREAM", NULL, 0,
                  "text/event-stream", 200);
    return NULL;
}

/* handle-chat runs (the in-process test executor) while GET /api/chat/inngest/stream follows
 * its event: the stream carries `delta` events, all before the `result`, and together they
 * are the saved answer. */
TEST_CASE(run_mode_streams_deltas_before_the_result) {
    struct env e;
    start(&e, WITH_KEY);
    add_tea(&e);
    inngest_error err;
    host_relay *relay = host_relay_create(0, 0, 0);
    CHECK(relay);
    struct chat_tokens tokens;
    host_relay_chat_tokens(relay, &tokens);
    e.chat_env.generate = CHAT_GENERATE_RUN;
    e.chat_env.tokens = &tokens;
    e.routes.relay = relay;
    e.routes.poll_interval_ms = 50;
    __atomic_store_n(&run_output, NULL, __ATOMIC_RELEASE);
    __atomic_store_n(&runs_seen, 0, __ATOMIC_RELAXED);

    inngest_app_opts o = {.mode = INNGEST_MODE_DEV, .base_url = e.fake.url, .transport = e.curl,
                          .checkpointing = {.mode = 1}};
    inngest_app *fn_app = inngest_app_create(&o, &err);
    CHECK(fn_app);
    CHECK_EQ_INT(chat_register(fn_app, &e.chat_env, &err), INNGEST_OK);
    inngest_app_freeze(fn_app);

    /* The stream is open and has looked at the run once before the run starts. */
    struct stream_call h = {&e, NULL};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, stream_in_thread, &h) == 0);
    while (__atomic_load_n(&runs_seen, __ATOMIC_RELAXED) < 1) {
        struct timespec ts = {0, 2 * 1000000L};
        nanosleep(&ts, NULL);
    }
    json_t *event = json_pack("{s:s,s:s,s:o}", "id", "01EVSTREAM", "name", "chat/message",
                              "data", testutil_json(ask_tea));
    inngest_test_opts to = {.function_id = "handle-chat", .event = event};
    inngest_test_result r;
    CHECK_EQ_INT(inngest_test_run_to_end(fn_app, &to, NULL, 10, &r, NULL), INNGEST_OK);
    /* Checkpointed, as the executor's calls allow: both steps in one call, then the result. */
    CHECK_EQ_INT(r.status, 206);
    CHECK_EQ_INT(json_array_size(r.checkpoints), 2);
    json_t *done = json_array_get(r.ops, 0);
    CHECK_STR(str(done, "op"), "RunComplete");
    json_t *answer = json_object_get(done, "data");
    char *output = json_dumps(answer, JSON_COMPACT);
    CHECK(output);
    __atomic_store_n(&run_output, output, __ATOMIC_RELEASE);
    CHECK(pthread_join(t, NULL) == 0);

    /* Walk the events in order. */
    char deltas[1024] = "";
    int n_delta = 0, saw_result = 0;
    for (const char *p = h.out; (p = strstr(p, "event: ")) != NULL;) {
        p += 7;
        const char *data = strstr(p, "\ndata: ");
        CHECK(data);
        data += 7;
        const char *end = strstr(data, "\n\n");
        CHECK(end);
        json_t *j = json_loadb(data, (size_t)(end - data), 0, NULL);
        CHECK(j);
        if (!strncmp(p, "delta\n", 6)) {
            CHECK(!saw_result); /* no delta after the result */
            CHECK(!json_is_true(json_object_get(j, "restart")));
            CHECK(str(j, "text"));
            strncat(deltas, str(j, "text"), sizeof(deltas) - strlen(deltas) - 1);
            n_delta++;
        } else if (!strncmp(p, "result\n", 7)) {
            saw_result = 1;
            CHECK(json_is_true(json_object_get(j, "completed")));
            CHECK_STR(str(j, "response"), "Green tea wants 80 degrees [1].");
            CHECK_STR(str(j, "response"), deltas);
        }
        json_decref(j);
        p = end;
    }
    CHECK(saw_result);
    CHECK(n_delta >= 1);
    CHECK_STR(deltas, "Green tea wants 80 degrees [1].");
    CHECK_STR(str(answer, "response"), deltas);

    free(h.out);
    inngest_test_result_cleanup(&r);
    json_decref(event);
    inngest_app_destroy(fn_app);
    stop(&e); /* the server first: the stream route reads the relay */
    host_relay_destroy(relay);
    __atomic_store_n(&run_output, NULL, __ATOMIC_RELEASE);
    free(output);
}
