/* SPDX-License-Identifier: MIT */
/*
 * The model client over real HTTP: inngest_ai_client with the libcurl transport against an
 * in-process fake model server (fake_model.c) on 127.0.0.1. Each case scripts the server's
 * answers, then checks what the client returned, how often and how long it waited (the
 * delays go through opts.sleep_fn and are recorded, not slept), and that every request
 * body it sent is a well-formed Chat Completions or Embeddings request.
 */
#include "fmacros.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <inngest/ai.h>

#include "fake_model.h"
#include "testutil.h"

/* ---- client set-up ---------------------------------------------------------------------- */

struct sleeps {
    long ms[16];
    int n;
};

static void record_sleep(void *user, long ms) {
    struct sleeps *s = user;
    if (s->n < 16)
        s->ms[s->n] = ms;
    s->n++;
}

static double no_jitter(void *user) {
    (void)user;
    return 0.0; /* backoff is then exactly 500 ms, 1000 ms, ... */
}

static const char *no_env(void *user, const char *name) {
    (void)user;
    (void)name;
    return NULL;
}

static const inngest_ai_message hello[] = {{"system", "Answer briefly."},
                                           {"user", "What is inngest-c? \xc3\xa9t\xc3\xa9"}};

#define CHECK_CONTAINS(hay, needle)                                                                \
    do {                                                                                           \
        const char *h_ = (hay);                                                                    \
        if (!h_ || !strstr(h_, (needle)))                                                          \
            TEST_FAIL_("\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", (needle));            \
    } while (0)

/* ---- request checks --------------------------------------------------------------------- */

/* The headers every request carries. */
static void check_common(const struct fm_request *r, const char *path) {
    char v[256];
    CHECK_STR(r->method, "POST");
    CHECK_STR(r->path, path);
    CHECK_STR(fm_header(r, "Authorization", v, sizeof(v)), "Bearer sk-test-key");
    CHECK_STR(fm_header(r, "Content-Type", v, sizeof(v)), "application/json");
    CHECK_CONTAINS(fm_header(r, "User-Agent", v, sizeof(v)), "inngest-c/");
    CHECK(r->json != NULL);
}

/* A valid Chat Completions body for hello[]: model, messages with role and content, the
 * token cap under `token_field` only, and the stream flags exactly when streaming. */
static void check_chat_body(const struct fm_request *r, int stream, const char *token_field) {
    check_common(r, "/v1/chat/completions");
    json_t *b = r->json;
    CHECK(json_is_object(b));
    CHECK_STR(json_string_value(json_object_get(b, "model")), "gpt-test");
    json_t *msgs = json_object_get(b, "messages");
    CHECK_EQ_INT(json_array_size(msgs), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *m = json_array_get(msgs, i);
        CHECK_EQ_INT(json_object_size(m), 2);
        CHECK_STR(json_string_value(json_object_get(m, "role")), hello[i].role);
        CHECK_STR(json_string_value(json_object_get(m, "content")), hello[i].content);
    }
    const char *other = !strcmp(token_field, "max_tokens") ? "max_completion_tokens"
                                                          : "max_tokens";
    CHECK_EQ_INT(json_integer_value(json_object_get(b, token_field)), 64);
    CHECK(json_object_get(b, other) == NULL);
    if (stream) {
        CHECK(json_is_true(json_object_get(b, "stream")));
        CHECK(json_is_true(json_object_get(json_object_get(b, "stream_options"),
                                           "include_usage")));
        char v[64];
        CHECK_STR(fm_header(r, "Accept", v, sizeof(v)), "text/event-stream");
    } else {
        CHECK(json_object_get(b, "stream") == NULL);
        CHECK(json_object_get(b, "stream_options") == NULL);
    }
}

/* ---- answers ---------------------------------------------------------------------------- */

static json_t *completion(const char *content) {
    return json_pack("{s:s,s:s,s:i,s:s,s:[{s:i,s:{s:s,s:s,s:n},s:s}],s:{s:i,s:i,s:i}}", "id",
                     "chatcmpl-42", "object", "chat.completion", "created", 1700000000, "model",
                     "gpt-test-2024", "choices", "index", 0, "message", "role", "assistant",
                     "content", content, "refusal", "finish_reason", "stop", "usage",
                     "prompt_tokens", 12, "completion_tokens", 5, "total_tokens", 17);
}

static json_t *error_body(const char *message, const char *type, const char *code,
                          const char *param) {
    return json_pack("{s:{s:s,s:s?,s:s?,s:s?}}", "error", "message", message, "type", type,
                     "code", code, "param", param);
}

/* One SSE event carrying a content delta ("data: {...}\r\n\r\n"). */
static void delta_event(char *out, size_t size, const char *text) {
    snprintf(out, size,
             "data: {\"id\":\"chatcmpl-s1\",\"object\":\"chat.completion.chunk\",\"model\":"
             "\"gpt-test-2024\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"%s\"},"
             "\"finish_reason\":null}]}\r\n\r\n",
             text);
}

static const char role_event[] =
    "data: {\"id\":\"chatcmpl-s1\",\"object\":\"chat.completion.chunk\",\"model\":"
    "\"gpt-test-2024\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
    "\"content\":\"\"},\"finish_reason\":null}]}\r\n\r\n";
static const char finish_event[] =
    "data: {\"id\":\"chatcmpl-s1\",\"object\":\"chat.completion.chunk\",\"model\":"
    "\"gpt-test-2024\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}"
    "\r\n\r\n";
static const char usage_event[] =
    "data: {\"id\":\"chatcmpl-s1\",\"object\":\"chat.completion.chunk\",\"model\":"
    "\"gpt-test-2024\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4,"
    "\"total_tokens\":13}}\r\n\r\n";
static const char done_event[] = "data: [DONE]\r\n\r\n";

/* Streams `n` deltas, one event per chunk. */
static void send_deltas(struct fm_conn *c, const char *const *texts, size_t n) {
    char ev[512];
    for (size_t i = 0; i < n; i++) {
        delta_event(ev, sizeof(ev), texts[i]);
        fm_chunks(c, ev, 5);
    }
}

/* ---- delta recording -------------------------------------------------------------------- */

struct deltas {
    char text[16][64];
    int n;
};

static int on_delta(void *user, const char *text, size_t len) {
    struct deltas *d = user;
    if (d->n < 16)
        snprintf(d->text[d->n], sizeof(d->text[0]), "%.*s", (int)len, text);
    d->n++;
    return 0;
}


/* One case's world: the fake server, a client on it, and what the call returned. Set up
 * with fx_start(), adjust f.o if needed, call, check, then fx_end(). */
struct fx {
    struct fm_server *s;
    struct sleeps sl;
    inngest_ai_opts o;
    inngest_ai_client *c;
    inngest_ai_chat_request req;
    inngest_ai_chat_result out;
    inngest_ai_call_info info;
    inngest_error err;
    struct deltas d;
    double took; /* seconds the last call took */
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void fx_start(struct fx *f, fm_handler_fn h, void *user) {
    memset(f, 0, sizeof(*f));
    f->s = fm_start(h, user);
    f->o = (inngest_ai_opts){.base_url = fm_base_url(f->s),
                             .api_key = "sk-test-key",
                             .chat_model = "gpt-test",
                             .embedding_model = "embed-test",
                             .getenv_fn = no_env,
                             .sleep_fn = record_sleep,
                             .sleep_user = &f->sl,
                             .random_fn = no_jitter,
                             .timeout_ms = 10000};
    f->req = (inngest_ai_chat_request){.messages = hello, .message_count = 2, .max_tokens = 64};
}

/* Creates the client from f->o on first use. */
static inngest_ai_client *fx_client(struct fx *f) {
    if (!f->c && !(f->c = inngest_ai_client_create(&f->o, &f->err)))
        TEST_FAIL_("client: %s", f->err.message);
    return f->c;
}

static int fx_chat(struct fx *f) {
    double t0 = now_s();
    int rc = inngest_ai_chat(fx_client(f), &f->req, &f->out, &f->info, &f->err);
    f->took = now_s() - t0;
    return rc;
}

static int fx_stream(struct fx *f) {
    double t0 = now_s();
    int rc = inngest_ai_chat_stream(fx_client(f), &f->req, on_delta, &f->d, &f->out, &f->info,
                                    &f->err);
    f->took = now_s() - t0;
    return rc;
}

static void fx_end(struct fx *f) {
    inngest_ai_chat_result_cleanup(&f->out);
    inngest_ai_client_destroy(f->c);
    fm_stop(f->s);
}

/* Checks the call failed with `code`, after `attempts` requests and `sleeps` waits, and
 * left no partial result. */
static void fx_failed(struct fx *f, int code, int attempts, int sleeps) {
    CHECK_EQ_INT(f->err.code, code);
    CHECK_EQ_INT(f->info.attempts, attempts);
    CHECK_EQ_INT(fm_count(f->s), (size_t)attempts);
    CHECK_EQ_INT(f->sl.n, sleeps);
    CHECK(f->out.content == NULL);
}

/* ---- chat ------------------------------------------------------------------------------- */

static void h_chat_plain(void *user, struct fm_conn *c, const struct fm_request *r, size_t i) {
    (void)user;
    (void)r;
    (void)i;
    fm_respond_json(c, 200, "x-request-id: req_plain1\r\n", completion("inngest-c is a C SDK."));
}

TEST_CASE(chat_plain) {
    struct fx f;
    fx_start(&f, h_chat_plain, NULL);
    if (fx_chat(&f))
        TEST_FAIL_("chat: %s", f.err.message);
    CHECK_STR(f.out.content, "inngest-c is a C SDK.");
    CHECK_STR(f.out.id, "chatcmpl-42");
    CHECK_STR(f.out.model, "gpt-test-2024");
    CHECK_STR(f.out.finish_reason, "stop");
    CHECK(f.out.refusal == NULL);
    CHECK(f.out.has_usage);
    CHECK_EQ_INT(f.out.usage.prompt_tokens, 12);
    CHECK_EQ_INT(f.out.usage.completion_tokens, 5);
    CHECK_EQ_INT(f.out.usage.total_tokens, 17);
    CHECK_EQ_INT(f.info.attempts, 1);
    CHECK_EQ_INT(f.info.http_status, 200);
    CHECK_STR(f.info.request_id, "req_plain1");
    CHECK_EQ_INT(f.sl.n, 0);
    CHECK_EQ_INT(fm_count(f.s), 1);
    /* A local server gets "max_tokens" by default. */
    check_chat_body(fm_req(f.s, 0), 0, "max_tokens");
    char v[64];
    CHECK_STR(fm_header(fm_req(f.s, 0), "Accept", v, sizeof(v)), "application/json");
    fx_end(&f);
}

/* The stream of the happy path, cut into awkward pieces: a comment, CRLF line ends with a
 * CR and its LF in different writes, an event split inside its JSON, two events in one
 * write, the finish chunk, the usage chunk (empty choices), [DONE]. */
static void h_chat_stream(void *user, struct fm_conn *c, const struct fm_request *r, size_t i) {
    (void)user;
    (void)r;
    (void)i;
    char ev[512], two[1024];
    fm_stream_begin(c);
    fm_chunks(c, ": keep-alive\r\n\r\n", 10);
    fm_chunks(c, role_event, 10);
    delta_event(ev, sizeof(ev), "Hel");
    size_t l = strlen(ev);
    fm_chunk(c, ev, l - 3, 20);     /* "...}\r" */
    fm_chunk(c, ev + l - 3, 3, 20); /* "\n\r\n" */
    delta_event(ev, sizeof(ev), "lo, ");
    l = strlen(ev);
    fm_chunk(c, ev, l / 2, 20);
    fm_chunk(c, ev + l / 2, l - l / 2, 20);
    delta_event(ev, sizeof(ev), "w\\u00f6rld");
    snprintf(two, sizeof(two), "%s", ev);
    delta_event(ev, sizeof(ev), "!");
    strncat(two, ev, sizeof(two) - strlen(two) - 1);
    fm_chunks(c, two, 10);
    fm_chunks(c, finish_event, 10);
    fm_chunks(c, usage_event, 10);
    fm_chunk(c, done_event, 6, 20); /* "data: " */
    fm_chunks(c, done_event + 6, 0);
    fm_stream_end(c);
}

TEST_CASE(chat_stream) {
    struct fx f;
    fx_start(&f, h_chat_stream, NULL);
    f.o.token_limit_field = "max_completion_tokens";
    if (fx_stream(&f))
        TEST_FAIL_("stream: %s", f.err.message);
    CHECK_EQ_INT(f.d.n, 4);
    CHECK_STR(f.d.text[0], "Hel");
    CHECK_STR(f.d.text[1], "lo, ");
    CHECK_STR(f.d.text[2], "w\xc3\xb6rld");
    CHECK_STR(f.d.text[3], "!");
    CHECK_STR(f.out.content, "Hello, w\xc3\xb6rld!");
    CHECK_STR(f.out.finish_reason, "stop");
    CHECK_STR(f.out.id, "chatcmpl-s1");
    CHECK_STR(f.out.model, "gpt-test-2024");
    CHECK(f.out.has_usage);
    CHECK_EQ_INT(f.out.usage.prompt_tokens, 9);
    CHECK_EQ_INT(f.out.usage.completion_tokens, 4);
    CHECK_EQ_INT(f.out.usage.total_tokens, 13);
    CHECK_EQ_INT(f.info.attempts, 1);
    CHECK_STR(f.info.request_id, "req_stream");
    CHECK_EQ_INT(fm_count(f.s), 1);
    check_chat_body(fm_req(f.s, 0), 1, "max_completion_tokens");
    fx_end(&f);
}

/* Attempt 1: 429 (JSON, before any stream byte); attempt 2: the stream starts, then the
 * connection drops before the first content delta; attempt 3: a whole stream. Both
 * failures came before a delta, so both are retried. */
static void h_stream_retry(void *user, struct fm_conn *c, const struct fm_request *r, size_t i) {
    (void)user;
    (void)r;
    static const char *const words[] = {"ok"};
    if (i == 0) {
        fm_respond_json(c, 429, "retry-after-ms: 40\r\n",
                        error_body("Rate limit reached for requests", "requests",
                                   "rate_limit_exceeded", NULL));
        return;
    }
    fm_stream_begin(c);
    fm_chunks(c, role_event, 5);
    if (i == 1)
        return; /* hang up inside the chunked body */
    send_deltas(c, words, 1);
    fm_chunks(c, done_event, 0);
    fm_stream_end(c);
}

TEST_CASE(chat_stream_retried_before_first_delta) {
    struct fx f;
    fx_start(&f, h_stream_retry, NULL);
    if (fx_stream(&f))
        TEST_FAIL_("stream: %s", f.err.message);
    CHECK_STR(f.out.content, "ok");
    CHECK_EQ_INT(f.d.n, 1);
    CHECK(f.out.finish_reason == NULL); /* this stream sent no finish chunk */
    CHECK(!f.out.has_usage);
    CHECK_EQ_INT(f.info.attempts, 3);
    CHECK_EQ_INT(fm_count(f.s), 3);
    CHECK_EQ_INT(f.sl.n, 2);
    CHECK_EQ_INT(f.sl.ms[0], 40);   /* the server's retry-after-ms */
    CHECK_EQ_INT(f.sl.ms[1], 1000); /* second retry, no server delay: 500 * 2^1 */
    for (size_t k = 0; k < 3; k++)
        check_chat_body(fm_req(f.s, k), 1, "max_tokens");
    fx_end(&f);
}

/* Two deltas, then the stream ends cleanly (terminating chunk) but without [DONE]. */
static void h_stream_no_done(void *user, struct fm_conn *c, const struct fm_request *r,
                             size_t i) {
    (void)user;
    (void)r;
    (void)i;
    static const char *const words[] = {"half ", "an answer"};
    fm_stream_begin(c);
    fm_chunks(c, role_event, 5);
    send_deltas(c, words, 2);
    fm_stream_end(c);
}

/* The same, but the connection drops inside the chunked body. */
static void h_stream_cut(void *user, struct fm_conn *c, const struct fm_request *r, size_t i) {
    (void)user;
    (void)r;
    (void)i;
    static const char *const words[] = {"half ", "an answer"};
    fm_stream_begin(c);
    send_deltas(c, words, 2);
    fm_write(c, "40\r\ndata: {\"cho", 16); /* a chunk promised and never finished */
}

static void check_truncated_stream(fm_handler_fn h) {
    struct fx f;
    fx_start(&f, h, NULL);
    CHECK_EQ_INT(fx_stream(&f), INNGEST_EHTTP);
    /* Never replayed after a delta: one request, no wait, no partial result. */
    fx_failed(&f, INNGEST_EHTTP, 1, 0);
    CHECK(!f.err.no_retry); /* the whole call may be tried again (by Inngest) */
    CHECK_EQ_INT(f.d.n, 2);
    CHECK_STR(f.d.text[1], "an answer");
    fx_end(&f);
}

TEST_CASE(chat_stream_ends_without_done) {
    check_truncated_stream(h_stream_no_done);
}

TEST_CASE(chat_stream_connection_cut) {
    check_truncated_stream(h_stream_cut);
}

static void h_stream_error(void *user, struct fm_conn *c, const struct fm_request *r, size_t i) {
    (void)r;
    (void)i;
    const char *type = user;
    static const char *const words[] = {"Hi"};
    char ev[512];
    fm_stream_begin(c);
    send_deltas(c, words, 1);
    snprintf(ev, sizeof(ev),
             "data: {\"error\":{\"message\":\"The server had an error while processing your "
             "request.\",\"type\":\"%s\",\"param\":null,\"code\":null}}\r\n\r\n",
             type);
    fm_chunks(c, ev, 5);
    fm_chunks(c, done_event, 0);
    fm_stream_end(c);
}

TEST_CASE(chat_stream_error_object) {
    static const char *const types[] = {"server_error", "invalid_request_error"};
    for (int t = 0; t < 2; t++) {
        struct fx f;
        fx_start(&f, h_stream_error, (void *)types[t]);
        CHECK_EQ_INT(fx_stream(&f), INNGEST_EUPSTREAM);
        fx_failed(&f, INNGEST_EUPSTREAM, 1, 0);
        CHECK_CONTAINS(f.err.message, "The server had an error while processing your request.");
        CHECK_CONTAINS(f.err.message, types[t]);
        CHECK_EQ_INT(f.err.no_retry, t == 1);
        CHECK_EQ_INT(f.d.n, 1);
        fx_end(&f);
    }
}

/* ---- retries ---------------------------------------------------------------------------- */

struct script {
    int status[4];        /* answers of requests 0..3; 0 = success */
    const char *extra[4]; /* their extra headers */
    json_t *error;        /* the error body; each answer sends a copy */
};

static void h_script(void *user, struct fm_conn *c, const struct fm_request *r, size_t i) {
    struct script *sc = user;
    (void)r;
    int st = i < 4 ? sc->status[i] : 0;
    if (st == 0)
        fm_respond_json(c, 200, "x-request-id: req_ok\r\n", completion("finally"));
    else
        fm_respond_json(c, st, sc->extra[i], json_deep_copy(sc->error));
}

/* Runs a plain chat against a scripted server (which takes sc->error) and checks every
 * request body; the caller checks the outcome, then calls fx_end(). */
static int run_script(struct fx *f, struct script *sc) {
    fx_start(f, h_script, sc);
    int rc = fx_chat(f);
    if (rc == INNGEST_OK)
        CHECK_STR(f->out.content, "finally");
    for (size_t i = 0; i < fm_count(f->s); i++)
        check_chat_body(fm_req(f->s, i), 0, "max_tokens");
    json_decref(sc->error);
    sc->error = NULL;
    return rc;
}

/* Checks a scripted call that ended well after `attempts` requests and these waits. */
static void check_recovered(struct fx *f, int rc, int attempts, long wait0, long wait1) {
    if (rc)
        TEST_FAIL_("chat: %s", f->err.message);
    CHECK_EQ_INT(f->info.attempts, attempts);
    CHECK_EQ_INT(fm_count(f->s), (size_t)attempts);
    CHECK_EQ_INT(f->sl.n, attempts - 1);
    CHECK_EQ_INT(f->sl.ms[0], wait0);
    if (attempts > 2)
        CHECK_EQ_INT(f->sl.ms[1], wait1);
    CHECK_STR(f->info.request_id, "req_ok");
}

static json_t *rate_limit_body(void) {
    return error_body("Rate limit reached for gpt-test in organization org-x on requests per "
                      "min (RPM): Limit 3, Used 3, Requested 1.",
                      "requests", "rate_limit_exceeded", NULL);
}

TEST_CASE(retry_429_retry_after_ms) {
    struct script sc = {{429}, {"retry-after-ms: 250\r\nx-request-id: req_rl\r\n"},
                        rate_limit_body()};
    struct fx f;
    check_recovered(&f, run_script(&f, &sc), 2, 250, 0);
    fx_end(&f);
}

TEST_CASE(retry_429_retry_after_seconds) {
    /* retry-after-ms wins over retry-after when both are sent; alone, seconds count. */
    struct script sc = {{429, 429},
                        {"retry-after: 2\r\n", "retry-after: 9\r\nretry-after-ms: 1500\r\n"},
                        rate_limit_body()};
    struct fx f;
    check_recovered(&f, run_script(&f, &sc), 3, 2000, 1500);
    fx_end(&f);
}

TEST_CASE(retry_after_too_long_is_handed_back) {
    /* 30 s is more than max_retry_wait_ms (8 s): no wait in process, the delay goes back
     * to the caller in err->retry_after so Inngest can schedule the retry. */
    struct script sc = {{429, 429, 429}, {"retry-after: 30\r\n"}, rate_limit_body()};
    struct fx f;
    CHECK_EQ_INT(run_script(&f, &sc), INNGEST_EUPSTREAM);
    fx_failed(&f, INNGEST_EUPSTREAM, 1, 0);
    CHECK_STR(f.err.retry_after, "30");
    CHECK(!f.err.no_retry);
    CHECK_EQ_INT(f.err.http_status, 429);
    CHECK_STR(f.err.name, "RateLimitError");
    CHECK_EQ_INT(f.info.retry_after_ms, 30000);
    fx_end(&f);
}

static json_t *server_error_body(void) {
    return error_body("The server had an error while processing your request.", "server_error",
                      NULL, NULL);
}

TEST_CASE(retry_500_twice_then_success) {
    struct script sc = {{500, 500}, {NULL, NULL}, server_error_body()};
    struct fx f;
    check_recovered(&f, run_script(&f, &sc), 3, 500, 1000); /* backoff, no jitter */
    fx_end(&f);
}

TEST_CASE(retry_500_gives_up_after_max_retries) {
    struct script sc = {{500, 500, 500, 500}, {NULL}, server_error_body()};
    struct fx f;
    CHECK_EQ_INT(run_script(&f, &sc), INNGEST_EUPSTREAM);
    fx_failed(&f, INNGEST_EUPSTREAM, 3, 2); /* 1 + 2 retries */
    CHECK(!f.err.no_retry);
    CHECK_EQ_INT(f.err.http_status, 500);
    CHECK_STR(f.err.name, "InternalServerError");
    CHECK_CONTAINS(f.err.message, "The server had an error while processing your request.");
    fx_end(&f);
}

TEST_CASE(insufficient_quota_never_retried) {
    struct script sc = {{429, 429, 429},
                        {"retry-after: 1\r\nx-request-id: req_quota7\r\n"},
                        error_body("You exceeded your current quota, please check your plan "
                                   "and billing details.",
                                   "insufficient_quota", "insufficient_quota", NULL)};
    struct fx f;
    CHECK_EQ_INT(run_script(&f, &sc), INNGEST_EUPSTREAM);
    fx_failed(&f, INNGEST_EUPSTREAM, 1, 0);
    CHECK(f.err.no_retry);
    CHECK_EQ_INT(f.err.http_status, 429);
    CHECK_CONTAINS(f.err.message, "You exceeded your current quota");
    CHECK_CONTAINS(f.err.message, "req_quota7");
    CHECK_STR(f.info.error_code, "insufficient_quota");
    fx_end(&f);
}

static void check_non_retriable(int status, const char *name, json_t *body, const char *msg,
                                const char *param) {
    struct script sc = {{status, status, status},
                        {"x-request-id: req_nr42\r\n", "x-request-id: req_nr42\r\n"},
                        body};
    struct fx f;
    CHECK_EQ_INT(run_script(&f, &sc), INNGEST_EUPSTREAM);
    fx_failed(&f, INNGEST_EUPSTREAM, 1, 0);
    CHECK(f.err.no_retry);
    CHECK_EQ_INT(f.err.http_status, status);
    CHECK_EQ_INT(f.info.http_status, status);
    CHECK_STR(f.err.name, name);
    CHECK_CONTAINS(f.err.message, msg);
    CHECK_CONTAINS(f.err.message, "req_nr42");
    CHECK_STR(f.info.request_id, "req_nr42");
    CHECK_STR(f.info.error_type, "invalid_request_error");
    CHECK_STR(f.info.error_param, param);
    CHECK(!strstr(f.err.message, "sk-test-key")); /* never the key */
    fx_end(&f);
}

TEST_CASE(error_401_not_retried) {
    const char *msg = "Incorrect API key provided: sk-test-***-key. You can find your API key "
                      "at https://platform.openai.com/account/api-keys.";
    check_non_retriable(401, "AuthenticationError",
                        error_body(msg, "invalid_request_error", "invalid_api_key", NULL), msg,
                        "");
}

TEST_CASE(error_400_not_retried) {
    const char *msg = "Unsupported parameter: 'max_tokens' is not supported with this model. "
                      "Use 'max_completion_tokens' instead.";
    check_non_retriable(400, "BadRequestError",
                        error_body(msg, "invalid_request_error", "unsupported_parameter",
                                   "max_tokens"),
                        msg, "max_tokens");
}

/* ---- timeouts and broken answers -------------------------------------------------------- */

static void h_stall(void *user, struct fm_conn *c, const struct fm_request *r, size_t i) {
    (void)user;
    (void)r;
    (void)i;
    fm_stall(c, 20000); /* far beyond the client's timeout; ends when it hangs up */
}

TEST_CASE(timeout_fails_retriable) {
    struct fx f;
    fx_start(&f, h_stall, NULL);
    f.o.timeout_ms = 300;
    f.o.max_retries = 1;
    CHECK_EQ_INT(fx_chat(&f), INNGEST_ETIMEOUT);
    fx_failed(&f, INNGEST_ETIMEOUT, 2, 1);
    CHECK(!f.err.no_retry);
    CHECK_STR(f.err.name, "APITimeoutError");
    CHECK_EQ_INT(f.info.http_status, 0);
    CHECK_EQ_INT(f.sl.ms[0], 500);
    if (f.took > 5.0)
        TEST_FAIL_("two 300 ms attempts took %.2f s", f.took);
    CHECK(f.took >= 0.55);
    fx_end(&f);
}

static void h_stream_stall(void *user, struct fm_conn *c, const struct fm_request *r, size_t i) {
    (void)user;
    (void)r;
    (void)i;
    static const char *const words[] = {"Thinking"};
    fm_stream_begin(c);
    send_deltas(c, words, 1);
    fm_stall(c, 20000);
}

TEST_CASE(timeout_mid_stream_not_replayed) {
    struct fx f;
    fx_start(&f, h_stream_stall, NULL);
    f.o.timeout_ms = 400;
    CHECK_EQ_INT(fx_stream(&f), INNGEST_ETIMEOUT);
    fx_failed(&f, INNGEST_ETIMEOUT, 1, 0);
    CHECK(!f.err.no_retry);
    CHECK_EQ_INT(f.d.n, 1);
    CHECK_CONTAINS(f.err.message, "no data received");
    CHECK(f.took < 5.0);
    fx_end(&f);
}

/* A long answer: 25 tokens 100 ms apart, at least 2.5 s in all, longer than the client's
 * 1.5 s timeout while each gap is a fifteenth of it (so a slow machine or valgrind, which
 * stretches the gaps a little, cannot make a gap reach the timeout). */
#define DRIP_TOKENS 25
static void h_stream_drip(void *user, struct fm_conn *c, const struct fm_request *r, size_t i) {
    (void)user;
    (void)r;
    (void)i;
    fm_stream_begin(c);
    char ev[512], word[16];
    for (int k = 0; k < DRIP_TOKENS; k++) {
        snprintf(word, sizeof(word), "w%d ", k);
        delta_event(ev, sizeof(ev), word);
        fm_chunks(c, ev, 100);
    }
    fm_chunks(c, done_event, 0);
    fm_stream_end(c);
}

TEST_CASE(timeout_bounds_silence_not_a_flowing_stream) {
    struct fx f;
    fx_start(&f, h_stream_drip, NULL);
    f.o.timeout_ms = 1500;
    if (fx_stream(&f))
        TEST_FAIL_("a stream whose tokens kept coming was cut after %.2f s: %s", f.took,
                   f.err.message);
    char want[DRIP_TOKENS * 6] = "";
    for (int k = 0; k < DRIP_TOKENS; k++)
        snprintf(want + strlen(want), sizeof(want) - strlen(want), "w%d ", k);
    CHECK_STR(f.out.content, want);
    CHECK_EQ_INT(f.d.n, DRIP_TOKENS);
    CHECK(f.took >= 2.4); /* longer than the timeout: the timeout bounds silence only */
    fx_end(&f);
}

TEST_CASE(timeout_silence_before_a_stream_starts) {
    struct fx f;
    fx_start(&f, h_stall, NULL);
    f.o.timeout_ms = 300;
    f.o.max_retries = -1;
    CHECK_EQ_INT(fx_stream(&f), INNGEST_ETIMEOUT);
    fx_failed(&f, INNGEST_ETIMEOUT, 1, 0);
    CHECK_STR(f.err.name, "APITimeoutError");
    CHECK_CONTAINS(f.err.message, "no data received for 300 ms");
    if (f.took > 5.0)
        TEST_FAIL_("300 ms of silence took %.2f s to notice", f.took);
    fx_end(&f);
}

static void h_malformed(void *user, struct fm_conn *c, const struct fm_request *r, size_t i) {
    (void)user;
    (void)r;
    (void)i;
    fm_respond(c, 200, "x-request-id: req_bad\r\n", "application/json",
               "{\"id\":\"chatcmpl-1\",\"choices\":[{\"message\":{\"content\":\"cut");
}

TEST_CASE(malformed_json_not_retried) {
    struct fx f;
    fx_start(&f, h_malformed, NULL);
    CHECK_EQ_INT(fx_chat(&f), INNGEST_EPARSE);
    fx_failed(&f, INNGEST_EPARSE, 1, 0);
    CHECK(f.err.no_retry);
    CHECK_CONTAINS(f.err.message, "req_bad");
    fx_end(&f);
}

/* An answer larger than the transport takes (32 MiB): sent until the client hangs up. */
static void h_huge(void *user, struct fm_conn *c, const struct fm_request *r, size_t i) {
    (void)user;
    (void)r;
    (void)i;
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                               "Content-Length: 40000000\r\n\r\n";
    static char block[1 << 20];
    memset(block, ' ', sizeof(block));
    if (fm_write(c, head, sizeof(head) - 1))
        return;
    for (int mib = 0; mib < 40 && !fm_write(c, block, sizeof(block)); mib++)
        ;
}

/* Too big is final: the same request would bring the same answer. It is said as such, not
 * as an unreachable server. */
TEST_CASE(oversized_answer_not_retried) {
    struct fx f;
    fx_start(&f, h_huge, NULL);
    CHECK_EQ_INT(fx_chat(&f), INNGEST_ETOOBIG);
    fx_failed(&f, INNGEST_ETOOBIG, 1, 0);
    CHECK(f.err.no_retry);
    CHECK_STR(f.err.name, "APIError");
    CHECK_CONTAINS(f.err.message, "larger than");
    fx_end(&f);
}

/* ---- embeddings ------------------------------------------------------------------------- */

static void base64_f32(const float *v, size_t n, char *out) {
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = (const unsigned char *)v;
    size_t len = n * 4, k = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t x = (uint32_t)p[i] << 16;
        if (i + 1 < len)
            x |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < len)
            x |= p[i + 2];
        out[k++] = al[(x >> 18) & 63];
        out[k++] = al[(x >> 12) & 63];
        out[k++] = i + 1 < len ? al[(x >> 6) & 63] : '=';
        out[k++] = i + 2 < len ? al[x & 63] : '=';
    }
    out[k] = '\0';
}

/* Answers each input with a 4-d vector {number in the text (or its length), 1, -2, 0.5},
 * items in reverse order (the client must match them by index), as floats or base64 as
 * the request asked. */
static void h_embed(void *user, struct fm_conn *c, const struct fm_request *r, size_t i) {
    (void)user;
    (void)i;
    json_t *input = json_object_get(r->json, "input");
    const char *enc = json_string_value(json_object_get(r->json, "encoding_format"));
    int b64 = enc && !strcmp(enc, "base64");
    json_t *data = json_array();
    for (size_t k = json_array_size(input); k-- > 0;) {
        const char *t = json_string_value(json_array_get(input, k));
        float v[4] = {t[0] == 'w' ? (float)atoi(t + 1) : (float)strlen(t), 1.0f, -2.0f, 0.5f};
        json_t *emb;
        if (b64) {
            char s[32];
            base64_f32(v, 4, s);
            emb = json_string(s);
        } else {
            emb = json_pack("[f,f,f,f]", v[0], v[1], v[2], v[3]);
        }
        json_array_append_new(data, json_pack("{s:s,s:i,s:o}", "object", "embedding", "index",
                                              (json_int_t)k, "embedding", emb));
    }
    fm_respond_json(c, 200, NULL,
                    json_pack("{s:s,s:o,s:s,s:{s:i,s:i}}", "object", "list", "data", data,
                              "model", "embed-test", "usage", "prompt_tokens", 3,
                              "total_tokens", 3));
}

static void check_embed_request(const struct fm_request *r, size_t inputs, const char *enc) {
    check_common(r, "/v1/embeddings");
    CHECK_STR(json_string_value(json_object_get(r->json, "model")), "embed-test");
    CHECK_STR(json_string_value(json_object_get(r->json, "encoding_format")), enc);
    json_t *in = json_object_get(r->json, "input");
    CHECK(json_is_array(in));
    CHECK_EQ_INT(json_array_size(in), inputs);
    for (size_t k = 0; k < json_array_size(in); k++)
        CHECK(json_string_length(json_array_get(in, k)) > 0);
    CHECK(json_object_get(r->json, "dimensions") == NULL);
}


TEST_CASE(embeddings_batched_by_input_count) {
    /* 5000 inputs: 2048 + 2048 + 904, the API's input limit per request. */
    enum { N = 5000 };
    static const char *encs[] = {"float", "base64"};
    static char words[N][8];
    static const char *texts[N];
    for (int k = 0; k < N; k++) {
        snprintf(words[k], sizeof(words[k]), "w%d", k);
        texts[k] = words[k];
    }
    for (int e = 0; e < 2; e++) {
        struct fx f;
        fx_start(&f, h_embed, NULL);
        f.o.embedding_encoding = encs[e];
        float *out = malloc((size_t)N * 4 * sizeof(float));
        int dim = 0;
        if (inngest_ai_embed(fx_client(&f), texts, N, 0, out, &dim, &f.info, &f.err))
            TEST_FAIL_("embed: %s", f.err.message);
        CHECK_EQ_INT(dim, 4);
        for (int k = 0; k < N; k++) {
            if (out[k * 4] != (float)k || out[k * 4 + 1] != 1.0f || out[k * 4 + 2] != -2.0f ||
                out[k * 4 + 3] != 0.5f)
                TEST_FAIL_("vector %d is {%g, %g, %g, %g}", k, out[k * 4], out[k * 4 + 1],
                           out[k * 4 + 2], out[k * 4 + 3]);
        }
        CHECK_EQ_INT(f.info.attempts, 3);
        CHECK_EQ_INT(fm_count(f.s), 3);
        check_embed_request(fm_req(f.s, 0), 2048, encs[e]);
        check_embed_request(fm_req(f.s, 1), 2048, encs[e]);
        check_embed_request(fm_req(f.s, 2), 904, encs[e]);
        json_t *last = json_object_get(fm_req(f.s, 2)->json, "input");
        CHECK_STR(json_string_value(json_array_get(last, 903)), "w4999");
        free(out);
        fx_end(&f);
    }
}

TEST_CASE(embeddings_batched_by_tokens) {
    /* Three ~600 KB inputs (about 200k estimated tokens each): two never fit under the
     * 300k-token request limit together, so each goes alone. */
    enum { N = 3, LEN = 600000 };
    struct fx f;
    fx_start(&f, h_embed, NULL);
    char *big[N];
    for (int k = 0; k < N; k++) {
        big[k] = malloc(LEN + (size_t)k + 1);
        memset(big[k], 'a' + k, LEN + (size_t)k);
        big[k][LEN + k] = '\0';
    }
    float out[N * 4];
    if (inngest_ai_embed(fx_client(&f), (const char *const *)big, N, 4, out, NULL, &f.info,
                         &f.err))
        TEST_FAIL_("embed: %s", f.err.message);
    for (int k = 0; k < N; k++)
        CHECK_EQ_INT((long)out[k * 4], LEN + k);
    CHECK_EQ_INT(fm_count(f.s), 3);
    for (size_t k = 0; k < 3; k++)
        check_embed_request(fm_req(f.s, k), 1, "float");
    for (int k = 0; k < N; k++)
        free(big[k]);
    fx_end(&f);
}
