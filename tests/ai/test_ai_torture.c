/* SPDX-License-Identifier: MIT */
/*
 * The allocation failure ("torture") test of the AI client: a chat answer, a streamed chat
 * answer and an embeddings call, each through a canned transport, run once per
 * allocation n with the n-th and every later allocation failing (the library's, through
 * inngest_set_alloc_funcs, and jansson's). Each run must end in a clean error or the
 * right answer: no crash, no leaked block, no answer with a piece missing.
 */
#include "fmacros.h"

#include <inngest/ai.h>
#include <inngest/inngest.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "torture_alloc.h"

/* Installed before main() allocates anything, so every block carries the hooks' header. */
__attribute__((constructor)) static void install(void) {
    torture_alloc_install();
}

/* ---- a canned model server ---------------------------------------------------------------- */

struct canned {
    inngest_transport base;
    const char *type; /* Content-Type */
    const char *body;
};

static int canned_send(inngest_transport *self, const inngest_http_request *req,
                       inngest_http_response *res, inngest_error *err) {
    const struct canned *c = (const struct canned *)self;
    res->status = 200;
    if (inngest_http_response_add_header(res, "Content-Type", c->type))
        return inngest_error_set(err, INNGEST_ENOMEM, "out of memory in the test transport");
    size_t len = strlen(c->body);
    if (!req->on_body)
        return inngest_http_response_set_body(res, c->body, len);
    /* A stream arrives in pieces that cut events and UTF-8 characters. */
    for (size_t at = 0; at < len; at += 37) {
        size_t n = len - at < 37 ? len - at : 37;
        if (req->on_body(req->on_body_user, c->body + at, n))
            return inngest_error_set(err, INNGEST_EHTTP, "the body callback stopped the transfer");
    }
    return INNGEST_OK;
}

static const char *no_env(void *user, const char *name) {
    (void)user;
    (void)name;
    return NULL;
}

static void no_sleep(void *user, long ms) {
    (void)user;
    (void)ms;
}

/* A failed run must say why; `strict` (the run without failures) must succeed. */
static void check_failure(int rc, const inngest_error *err, int strict) {
    if (strict)
        TEST_FAIL_("the run without failing allocations failed: %d %s", rc, err->message);
    if (rc >= 0 || err->code != rc || !err->message[0])
        TEST_FAIL_("an error without its record: rc %d, code %d, \"%s\"", rc, err->code,
                   err->message);
}

static const inngest_ai_message messages[] = {{"system", "Answer from the context."},
                                              {"user", "What is a step?"}};

/* One call of the client against a canned answer; `call` checks what came back when it
 * succeeded and returns its status. */
struct scenario {
    const char *about;
    const char *type; /* the answer's Content-Type */
    const char *body;
    int (*call)(inngest_ai_client *c, inngest_error *err);
};

/* ---- the scenarios ------------------------------------------------------------------------ */

static int chat_plain(inngest_ai_client *c, inngest_error *err) {
    inngest_ai_chat_request req = {.messages = messages, .message_count = 2};
    inngest_ai_chat_result r;
    int rc = inngest_ai_chat(c, &req, &r, NULL, err);
    if (rc == INNGEST_OK) {
        CHECK_STR(r.id, "chatcmpl-7");
        CHECK_STR(r.model, "m-1");
        CHECK_STR(r.content, "A step is retried \xc3\xa9 [1].");
        CHECK_STR(r.finish_reason, "stop");
        CHECK(r.has_usage && r.usage.total_tokens == 19);
    }
    inngest_ai_chat_result_cleanup(&r);
    return rc;
}

static int count_delta(void *user, const char *text, size_t len) {
    (void)text;
    *(size_t *)user += len;
    return 0;
}

static int chat_stream(inngest_ai_client *c, inngest_error *err) {
    inngest_ai_chat_request req = {.messages = messages, .message_count = 2};
    inngest_ai_chat_result r;
    size_t streamed = 0;
    int rc = inngest_ai_chat_stream(c, &req, count_delta, &streamed, &r, NULL, err);
    if (rc == INNGEST_OK) {
        CHECK_STR(r.id, "chatcmpl-8");
        CHECK_STR(r.model, "m-2");
        CHECK_STR(r.content, "Hello \xc3\xa9");
        CHECK_EQ_INT(streamed, strlen("Hello \xc3\xa9"));
        CHECK_STR(r.finish_reason, "stop");
        CHECK(r.has_usage && r.usage.total_tokens == 12);
    }
    inngest_ai_chat_result_cleanup(&r);
    return rc;
}

static int embed(inngest_ai_client *c, inngest_error *err) {
    const char *texts[] = {"first", "second"};
    float v[4] = {0};
    int dim = 0;
    int rc = inngest_ai_embed(c, texts, 2, 0, v, &dim, NULL, err);
    if (rc == INNGEST_OK) {
        CHECK_EQ_INT(dim, 2);
        CHECK(v[0] == 1.0f && v[1] == -2.0f && v[2] == 0.5f && v[3] == 0.25f);
    }
    return rc;
}

static const struct scenario chat_scenario = {
    "chat", "application/json",
    "{\"id\":\"chatcmpl-7\",\"object\":\"chat.completion\",\"model\":\"m-1\",\"choices\":[{"
    "\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"A step is retried \\u00e9 "
    "[1].\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":12,"
    "\"completion_tokens\":7,\"total_tokens\":19}}",
    chat_plain};

static const struct scenario stream_scenario = {
    "chat stream", "text/event-stream",
    "data: {\"id\":\"chatcmpl-8\",\"object\":\"chat.completion.chunk\",\"model\":\"m-2\","
    "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"},"
    "\"finish_reason\":null}]}\n\n"
    "data: {\"id\":\"chatcmpl-8\",\"object\":\"chat.completion.chunk\",\"model\":\"m-2\","
    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo \\u00e9\"},\"finish_reason\":"
    "null}]}\n\n"
    "data: {\"id\":\"chatcmpl-8\",\"object\":\"chat.completion.chunk\",\"model\":\"m-2\","
    "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
    "data: {\"id\":\"chatcmpl-8\",\"object\":\"chat.completion.chunk\",\"model\":\"m-2\","
    "\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":3,"
    "\"total_tokens\":12}}\n\n"
    "data: [DONE]\n\n",
    chat_stream};

/* [1.0, -2.0] as numbers and [0.5, 0.25] as base64 little-endian float32, out of order. */
static const struct scenario embed_scenario = {
    "embeddings", "application/json",
    "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":1,\"embedding\":"
    "\"AAAAPwAAgD4=\"},{\"object\":\"embedding\",\"index\":0,\"embedding\":[1.0,-2.0]}],"
    "\"model\":\"e-1\",\"usage\":{\"prompt_tokens\":2,\"total_tokens\":2}}",
    embed};

/* ---- the loop ----------------------------------------------------------------------------- */

/* Creates the client, makes the call, destroys the client: everything a caller does. */
static void run(const struct scenario *sc, int strict) {
    struct canned t = {{canned_send, NULL}, sc->type, sc->body};
    inngest_error err;
    inngest_error_clear(&err);
    inngest_ai_opts o = {.base_url = "http://127.0.0.1:9/v1",
                         .api_key = "sk-torture",
                         .max_retries = -1,
                         .getenv_fn = no_env,
                         .sleep_fn = no_sleep,
                         .transport = &t.base};
    inngest_ai_client *c = inngest_ai_client_create(&o, &err);
    int rc = c ? sc->call(c, &err) : err.code;
    if (rc != INNGEST_OK)
        check_failure(rc, &err, strict);
    inngest_ai_client_destroy(c);
}

static void torture(const struct scenario *sc) {
    long total = -1;
    for (long n = 0; n == 0 || n <= total; n++) {
        long before = torture_alloc_live();
        torture_alloc_arm(n);
        run(sc, n == 0);
        long used = torture_alloc_disarm();
        if (n == 0)
            total = used;
        if (torture_alloc_live() != before)
            TEST_FAIL_("%s, allocation %ld: %ld blocks leaked", sc->about, n,
                       torture_alloc_live() - before);
    }
    printf("torture: %-24s %ld allocations, each failed in turn\n", sc->about, total);
}

TEST_CASE(chat) {
    torture(&chat_scenario);
}

TEST_CASE(chat_stream) {
    torture(&stream_scenario);
}

TEST_CASE(embeddings) {
    torture(&embed_scenario);
}
