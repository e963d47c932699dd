/* SPDX-License-Identifier: MIT */
/*
 * The chat functions (functions/chat*.c, functions/ingest_document.c) driven through the
 * test engine with a temporary store and the hashing embedder: the ops handle-chat emits
 * in each generate mode (ai.infer, step.run with a fake transport, offline), the errors it
 * turns model failures into, its output, and ingest-document's steps and stored result
 * (compared with inngest_rag_ingest_document()). Also the pure helpers: the request check,
 * the prompt with its budgets, the offline answer, the environment.
 */
#include "fmacros.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <inngest/inngest.h>

#include "chat.h"
#include "core/jcs.h"
#include "rag_testlib.h"
#include "testutil.h"

/* ---- fixtures ----------------------------------------------------------------------------- */

static const char *env_none(void *user, const char *name) {
    (void)user;
    (void)name;
    return NULL;
}

/* A fake model server behind the client's transport: one canned answer, every request
 * recorded. */
struct fake_model {
    inngest_transport base;
    int status;
    const char *body;
    const char *retry_after; /* header value, or NULL */
    int calls;
    char url[512];
    char auth[256];
    json_t *last; /* the last request body, parsed */
};

static int fake_send(inngest_transport *self, const inngest_http_request *req,
                     inngest_http_response *res, inngest_error *err) {
    struct fake_model *f = (struct fake_model *)self;
    (void)err;
    f->calls++;
    snprintf(f->url, sizeof(f->url), "%s", req->url);
    const char *auth = inngest_http_request_header(req, "Authorization");
    snprintf(f->auth, sizeof(f->auth), "%s", auth ? auth : "");
    json_decref(f->last);
    f->last = json_loadb(req->body ? req->body : "", req->body_len, 0, NULL);
    res->status = f->status;
    if (inngest_http_response_add_header(res, "Content-Type", "application/json"))
        return INNGEST_ENOMEM;
    if (f->retry_after && inngest_http_response_add_header(res, "retry-after", f->retry_after))
        return INNGEST_ENOMEM;
    return inngest_http_response_set_body(res, f->body, strlen(f->body));
}

static const char OK_ANSWER[] =
    "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1700000000,"
    "\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
    "\"assistant\",\"content\":\"Retries back off exponentially [1].\"},\"finish_reason\":"
    "\"stop\"}],\"usage\":{\"prompt_tokens\":57,\"completion_tokens\":17,\"total_tokens\":74}}";

static const char *docs[][2] = {
    {"retries.md", "# Retries\n\nA failed step is retried with exponential backoff. The default "
                   "is four retries after the first attempt.\n\nA NonRetriableError stops "
                   "retries at once."},
    {"sleep.md", "# Sleeping\n\nstep.sleep pauses a run for a duration such as 30s or 2d "
                 "without holding a worker."},
    {"pasta.md", "# Pasta\n\nBoil water, add salt, cook the pasta for nine minutes and drain "
                 "it."},
};

struct world {
    struct fake_model model;
    inngest_ai_client *client;
    inngest_rag_embedder *embedder;
    inngest_rag_store *store;
    struct chat_env env;
    inngest_app *app;
};

static inngest_rag_store *open_store(const char *name) {
    char path[1024];
    inngest_error err;
    inngest_rag_store *s =
        inngest_rag_store_create(rag_test_path(name, path, sizeof(path)), NULL, &err);
    if (!s)
        TEST_FAIL_("open %s: %s", name, err.message);
    return s;
}

/* A store `name` holding `docs`, a client with `key` ("" for none), and the app. */
static void world_init(struct world *w, const char *name, const char *key,
                       chat_generate_mode mode) {
    memset(w, 0, sizeof(*w));
    w->model = (struct fake_model){.base = {.send = fake_send}, .status = 200, .body = OK_ANSWER};
    inngest_ai_opts ao = {.base_url = "http://model.test/v1",
                          .api_key = key,
                          .max_retries = -1,
                          .getenv_fn = env_none,
                          .transport = &w->model.base};
    inngest_error err;
    w->client = inngest_ai_client_create(&ao, &err);
    if (!w->client)
        TEST_FAIL_("client: %s", err.message);
    w->embedder = inngest_rag_hash_embedder_create(0, &err);
    CHECK(w->embedder);
    w->store = open_store(name);
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        inngest_rag_document d = {.source = docs[i][0], .text = docs[i][1]};
        if (inngest_rag_ingest_document(w->store, w->embedder, &d, NULL, NULL, NULL, &err))
            TEST_FAIL_("ingest: %s", err.message);
    }
    w->env = (struct chat_env){
        .client = w->client, .store = w->store, .embedder = w->embedder, .generate = mode};
    /* Classic: each step answers on its own, so each can be checked (the conformance
     * suite runs handle-chat with checkpointing). */
    inngest_app_opts o = {.mode = INNGEST_MODE_DEV, .getenv_fn = env_none,
                          .checkpointing = {.mode = -1}};
    w->app = inngest_app_create(&o, &err);
    CHECK(w->app);
    if (chat_register(w->app, &w->env, &err))
        TEST_FAIL_("register: %s", err.message);
    inngest_app_freeze(w->app);
}

static void world_cleanup(struct world *w) {
    inngest_app_destroy(w->app);
    inngest_rag_store_destroy(w->store);
    inngest_rag_embedder_destroy(w->embedder);
    inngest_ai_client_destroy(w->client);
    json_decref(w->model.last);
}

static json_t *chat_event(const char *question) {
    json_t *ev = json_pack("{s:s,s:{s:[{s:s,s:s}],s:s}}", "name", "chat/message", "data",
                           "messages", "role", "user", "content", question, "sessionId", "s-1");
    CHECK(ev);
    return ev;
}

/* Borrowed: r.ops[0].<key>. */
static json_t *op0(const inngest_test_result *r, const char *key) {
    return json_object_get(json_array_get(r->ops, 0), key);
}

static const char *op0_str(const inngest_test_result *r, const char *key) {
    return json_string_value(op0(r, key));
}

/* Runs one call and checks it answered `status`. */
static void call(struct world *w, inngest_test_opts *o, int status, inngest_test_result *r) {
    CHECK_EQ_INT(inngest_test_call(w->app, o, r), INNGEST_OK);
    if (r->status != status) {
        char *dump = json_dumps(r->body, JSON_COMPACT);
        TEST_FAIL_("status %d, expected %d: %s", r->status, status, dump ? dump : "?");
    }
}

/* The retrieve-context result handle-chat computes for `ev` (a new reference). */
static json_t *context_for(struct world *w, json_t *ev) {
    inngest_test_opts o = {.function_id = "handle-chat", .event = ev};
    inngest_test_result r;
    call(w, &o, 206, &r);
    CHECK_STR(op0_str(&r, "op"), "StepRun");
    CHECK_STR(op0_str(&r, "name"), "retrieve-context");
    json_t *ctx = json_incref(op0(&r, "data"));
    inngest_test_result_cleanup(&r);
    return ctx;
}

/* A handle-chat run in progress: its event, retrieve-context result, saved steps and the
 * answer of its latest call (all owned). */
struct chat_run {
    json_t *ev, *ctx, *steps;
    inngest_test_opts o;
    inngest_test_result r;
};

/* Saves generate-response = `value` (when `value` is non-NULL) besides retrieve-context,
 * then calls again and checks the answer is `status`. */
static void chat_again(struct world *w, struct chat_run *c, json_t *value, int status) {
    inngest_test_result_cleanup(&c->r);
    json_decref(c->steps);
    c->steps = json_pack("{s:{s:O}}", "retrieve-context", "data", c->ctx);
    if (value)
        json_object_set_new(c->steps, "generate-response", json_pack("{s:O}", "data", value));
    c->o.steps = c->steps;
    call(w, &c->o, status, &c->r);
}

/* The second call of a run for `question`: retrieve-context is saved, so generate-response
 * is reported (206) or run at once. */
static void chat_start(struct world *w, struct chat_run *c, const char *question) {
    memset(c, 0, sizeof(*c));
    c->ev = chat_event(question);
    c->ctx = context_for(w, c->ev);
    c->o = (inngest_test_opts){.function_id = "handle-chat", .event = c->ev};
    chat_again(w, c, NULL, 206);
}

static void chat_run_cleanup(struct chat_run *c) {
    inngest_test_result_cleanup(&c->r);
    json_decref(c->steps);
    json_decref(c->ctx);
    json_decref(c->ev);
}

/* ---- handle-chat -------------------------------------------------------------------------- */

TEST_CASE(retrieve_context_is_the_first_step) {
    struct world w;
    world_init(&w, "retrieve.db", "sk-test", CHAT_GENERATE_INFER);
    json_t *ev = chat_event("How are failed steps retried?");
    json_t *ctx = context_for(&w, ev);
    CHECK_STR(json_string_value(json_object_get(ctx, "query")), "How are failed steps retried?");
    CHECK_STR(json_string_value(json_object_get(ctx, "mode")), "hybrid");
    json_t *passages = json_object_get(ctx, "passages");
    CHECK(json_array_size(passages) >= 1);
    json_t *top = json_array_get(passages, 0);
    CHECK_STR(json_string_value(json_object_get(top, "source")), "retries.md");
    CHECK_STR(json_string_value(json_object_get(top, "title")), "Retries");
    CHECK_STR(json_string_value(json_object_get(top, "id")), "retries.md#0");
    CHECK(json_is_number(json_object_get(top, "score")));
    CHECK(strstr(json_string_value(json_object_get(top, "text")), "exponential backoff"));
    /* The same value chat_retrieve() gives the host's direct mode. */
    inngest_error err;
    json_t *direct = chat_retrieve(&w.env, json_object_get(ev, "data"), &err);
    CHECK_JSON_EQ(ctx, direct);
    json_decref(direct);
    json_decref(ctx);
    json_decref(ev);
    world_cleanup(&w);
}

TEST_CASE(retrieve_filters_sources_and_adds_given_context) {
    struct world w;
    world_init(&w, "filter.db", "sk-test", CHAT_GENERATE_INFER);
    w.env.top_k = 2;
    json_t *req = testutil_json("{\"messages\":[{\"role\":\"user\",\"content\":\"retries and "
                                "sleep\"}],\"selectedFilePathnames\":[\"pasta.md\"],"
                                "\"ragContext\":[\"The user prefers short answers.\"]}");
    inngest_error err;
    json_t *ctx = chat_retrieve(&w.env, req, &err);
    if (!ctx)
        TEST_FAIL_("retrieve: %s", err.message);
    json_t *p = json_object_get(ctx, "passages");
    CHECK_EQ_INT(json_array_size(p), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(p, 0), "source")), "request");
    CHECK(json_is_null(json_object_get(json_array_get(p, 0), "score")));
    CHECK_STR(json_string_value(json_object_get(json_array_get(p, 0), "text")),
              "The user prefers short answers.");
    CHECK_STR(json_string_value(json_object_get(json_array_get(p, 1), "source")), "pasta.md");
    json_decref(ctx);

    /* Without the filter, top_k = 2 hits from the store (plus the given passage). */
    json_object_del(req, "selectedFilePathnames");
    ctx = chat_retrieve(&w.env, req, &err);
    CHECK(ctx);
    CHECK_EQ_INT(json_array_size(json_object_get(ctx, "passages")), 3);
    json_t *sources = chat_sources(ctx);
    CHECK_EQ_INT(json_array_size(sources), 3);
    CHECK_EQ_INT(json_object_size(json_array_get(sources, 1)), 3); /* id, title, score */
    json_decref(sources);
    json_decref(ctx);
    json_decref(req);
    world_cleanup(&w);
}

TEST_CASE(retrieve_mismatched_embedder_fails_for_good) {
    struct world w;
    world_init(&w, "mismatch.db", "sk-test", CHAT_GENERATE_INFER);
    inngest_rag_embedder *small = inngest_rag_hash_embedder_create(64, NULL);
    w.env.embedder = small; /* the store holds 1536-dimension vectors */
    json_t *req = testutil_json("{\"messages\":[{\"role\":\"user\",\"content\":\"retries\"}]}");
    inngest_error err;
    inngest_error_clear(&err);
    CHECK(chat_retrieve(&w.env, req, &err) == NULL);
    CHECK_EQ_INT(err.code, INNGEST_EMISMATCH);
    CHECK(err.no_retry);
    CHECK(strstr(err.message, "hash-v1"));

    /* Through the function: the step fails for good with the store's message. */
    json_t *ev = chat_event("retries");
    inngest_test_opts o = {.function_id = "handle-chat", .event = ev};
    inngest_test_result r;
    call(&w, &o, 206, &r);
    CHECK_STR(op0_str(&r, "op"), "StepFailed");
    CHECK(r.no_retry);
    CHECK_STR(json_string_value(json_object_get(op0(&r, "error"), "message")), err.message);
    inngest_test_result_cleanup(&r);
    json_decref(ev);
    json_decref(req);
    world_cleanup(&w);
    inngest_rag_embedder_destroy(small);
}

TEST_CASE(infer_mode_emits_ai_gateway_then_finishes) {
    struct world w;
    world_init(&w, "infer.db", "sk-test", CHAT_GENERATE_INFER);
    struct chat_run c;
    chat_start(&w, &c, "How are failed steps retried?");
    CHECK_STR(op0_str(&c.r, "op"), "AIGateway");
    CHECK_STR(op0_str(&c.r, "name"), "generate-response");
    json_t *opts = op0(&c.r, "opts");
    CHECK_STR(json_string_value(json_object_get(opts, "type")), "step.ai.infer");
    CHECK_STR(json_string_value(json_object_get(opts, "url")),
              "http://model.test/v1/chat/completions");
    CHECK_STR(json_string_value(json_object_get(opts, "format")), "openai-chat");
    CHECK_STR(json_string_value(json_object_get(opts, "auth_key")), "sk-test");
    CHECK(!json_object_get(opts, "headers")); /* bearer auth needs none */
    /* The body is the client's Chat Completions body for chat_build_messages(). */
    json_t *body = json_object_get(opts, "body");
    CHECK_STR(json_string_value(json_object_get(body, "model")), "gpt-4o-mini");
    json_t *msgs = json_object_get(body, "messages");
    json_t *want = chat_build_messages(&w.env, json_object_get(c.ev, "data"), c.ctx);
    CHECK_JSON_EQ(msgs, want);
    json_decref(want);
    const char *system = json_string_value(json_object_get(json_array_get(msgs, 0), "content"));
    CHECK(strstr(system, "[1] Retries (source: retries.md)"));
    CHECK(strstr(system, "exponential backoff"));
    CHECK_STR(json_string_value(json_object_get(json_array_get(msgs, 1), "content")),
              "How are failed steps retried?");
    CHECK_EQ_INT(w.model.calls, 0); /* the server makes the call, not this host */

    /* The server saved the provider's raw answer: the run completes. */
    json_t *answer = testutil_json(OK_ANSWER);
    chat_again(&w, &c, answer, 200);
    json_decref(answer);
    json_t *out = c.r.body;
    CHECK_STR(json_string_value(json_object_get(out, "response")),
              "Retries back off exponentially [1].");
    CHECK_STR(json_string_value(json_object_get(out, "sessionId")), "s-1");
    CHECK_STR(json_string_value(json_object_get(out, "model")), "gpt-4o-mini-2024-07-18");
    json_t *usage =
        testutil_json("{\"prompt_tokens\":57,\"completion_tokens\":17,\"total_tokens\":74}");
    CHECK_JSON_EQ(json_object_get(out, "usage"), usage);
    json_decref(usage);
    /* The step's output went through the SDK's canonical JSON, where a score of 0.0 is
     * the number 0: compare as the JSON text a client reads. */
    json_t *sources = chat_sources(c.ctx);
    char *got = ing_jcs_dump(json_object_get(out, "sources"), NULL);
    char *want_sources = ing_jcs_dump(sources, NULL);
    CHECK_STR(got, want_sources);
    free(got);
    free(want_sources);
    json_decref(sources);
    CHECK_EQ_INT(json_object_size(out), 5);

    /* An error object saved as the answer fails the run, without retry. */
    answer = testutil_json("{\"error\":{\"message\":\"The model `nope` does not exist\","
                           "\"type\":\"invalid_request_error\",\"code\":\"model_not_found\"}}");
    chat_again(&w, &c, answer, 400);
    json_decref(answer);
    CHECK(c.r.no_retry);
    CHECK(strstr(json_string_value(json_object_get(c.r.body, "message")), "does not exist"));
    chat_run_cleanup(&c);
    world_cleanup(&w);
}

TEST_CASE(infer_mode_api_key_auth_goes_in_headers) {
    struct world w;
    world_init(&w, "azure.db", "azure-key", CHAT_GENERATE_INFER);
    /* Same world, a client with the api-key style (Azure). */
    inngest_ai_opts ao = {.base_url = "https://res.openai.azure.com/openai/v1",
                          .api_key = "azure-key",
                          .auth_style = "api-key",
                          .getenv_fn = env_none,
                          .transport = &w.model.base};
    inngest_ai_client *azure = inngest_ai_client_create(&ao, NULL);
    CHECK(azure);
    w.env.client = azure;
    struct chat_run c;
    chat_start(&w, &c, "retries?");
    json_t *opts = op0(&c.r, "opts");
    CHECK_STR(json_string_value(json_object_get(opts, "url")),
              "https://res.openai.azure.com/openai/v1/chat/completions");
    CHECK(!json_object_get(opts, "auth_key"));
    json_t *want = testutil_json("{\"api-key\":\"azure-key\"}");
    CHECK_JSON_EQ(json_object_get(opts, "headers"), want);
    json_decref(want);
    chat_run_cleanup(&c);
    world_cleanup(&w);
    inngest_ai_client_destroy(azure);
}

TEST_CASE(offline_without_key_returns_the_passages) {
    struct world w;
    world_init(&w, "offline.db", "", CHAT_GENERATE_INFER);
    struct chat_run c;
    chat_start(&w, &c, "How are failed steps retried?");
    CHECK_STR(op0_str(&c.r, "op"), "StepRun"); /* never an AIGateway op without a key */
    CHECK_STR(op0_str(&c.r, "name"), "generate-response");
    char *offline = chat_offline_answer(c.ctx);
    CHECK_STR(op0_str(&c.r, "data"), offline);
    CHECK(!strncmp(offline, "No model was called", 19));
    const char *eol = strchr(offline, '\n'), *key = strstr(offline, "OPENAI_API_KEY");
    CHECK(eol && key && key < eol); /* the first line says how to get real answers */
    CHECK(strstr(offline, "[1] Retries (source: retries.md)\n# Retries"));

    /* The whole run, as the server plays it. */
    inngest_test_opts o = {.function_id = "handle-chat", .event = c.ev};
    inngest_test_result r;
    CHECK_EQ_INT(inngest_test_run_to_end(w.app, &o, NULL, 10, &r, NULL), INNGEST_OK);
    CHECK_EQ_INT(r.status, 200);
    CHECK_STR(json_string_value(json_object_get(r.body, "response")), offline);
    CHECK_STR(json_string_value(json_object_get(r.body, "model")), "offline");
    CHECK(json_is_null(json_object_get(r.body, "usage")));
    CHECK(json_array_size(json_object_get(r.body, "sources")) >= 1);
    CHECK_EQ_INT(w.model.calls, 0);
    inngest_test_result_cleanup(&r);
    free(offline);
    chat_run_cleanup(&c);
    world_cleanup(&w);
}

TEST_CASE(run_mode_calls_the_model_in_a_step) {
    struct world w;
    world_init(&w, "run.db", "sk-test", CHAT_GENERATE_RUN);
    struct chat_run c;
    chat_start(&w, &c, "How are failed steps retried?");
    CHECK_STR(op0_str(&c.r, "op"), "StepRun");
    CHECK_STR(op0_str(&c.r, "name"), "generate-response");
    CHECK_EQ_INT(w.model.calls, 1);
    CHECK_STR(w.model.url, "http://model.test/v1/chat/completions");
    CHECK_STR(w.model.auth, "Bearer sk-test");
    json_t *want = chat_build_messages(&w.env, json_object_get(c.ev, "data"), c.ctx);
    CHECK_JSON_EQ(json_object_get(w.model.last, "messages"), want);
    json_decref(want);
    json_t *gen = json_incref(op0(&c.r, "data"));
    CHECK_STR(json_string_value(json_object_get(gen, "response")),
              "Retries back off exponentially [1].");

    chat_again(&w, &c, gen, 200);
    json_decref(gen);
    CHECK_STR(json_string_value(json_object_get(c.r.body, "model")), "gpt-4o-mini-2024-07-18");
    CHECK_EQ_INT(
        json_integer_value(json_object_get(json_object_get(c.r.body, "usage"), "total_tokens")),
        74);
    CHECK_EQ_INT(w.model.calls, 1); /* a saved step is not run again */
    chat_run_cleanup(&c);
    world_cleanup(&w);
}

/* generate-response in run mode with the model answering `status` + `body`. */
static void run_mode_failure(int status, const char *body, const char *retry_after,
                             const char *want_op, int want_no_retry, const char *want_after,
                             const char *want_in_message) {
    struct world w;
    world_init(&w, "runfail.db", "sk-test", CHAT_GENERATE_RUN);
    w.model.status = status;
    w.model.body = body;
    w.model.retry_after = retry_after;
    struct chat_run c;
    chat_start(&w, &c, "retries?");
    CHECK_STR(op0_str(&c.r, "op"), want_op);
    CHECK_EQ_INT(c.r.no_retry, want_no_retry);
    CHECK_STR(c.r.retry_after, want_after);
    const char *msg = json_string_value(json_object_get(op0(&c.r, "error"), "message"));
    if (!msg || !strstr(msg, want_in_message))
        TEST_FAIL_("message %s lacks %s", msg ? msg : "(none)", want_in_message);
    chat_run_cleanup(&c);
    world_cleanup(&w);
}

TEST_CASE(run_mode_retriable_failure_is_a_step_error) {
    run_mode_failure(503,
                     "{\"error\":{\"message\":\"overloaded, try again\",\"type\":"
                     "\"server_error\"}}",
                     NULL, "StepError", 0, "", "overloaded, try again");
    /* A rate limit hands its delay to the server. */
    run_mode_failure(429,
                     "{\"error\":{\"message\":\"Rate limit reached\",\"type\":"
                     "\"requests\",\"code\":\"rate_limit_exceeded\"}}",
                     "30", "StepError", 0, "30", "Rate limit reached");
}

TEST_CASE(run_mode_permanent_failure_fails_the_step_for_good) {
    run_mode_failure(401,
                     "{\"error\":{\"message\":\"Incorrect API key provided\",\"type\":"
                     "\"invalid_request_error\",\"code\":\"invalid_api_key\"}}",
                     NULL, "StepFailed", 1, "", "Incorrect API key provided");
    run_mode_failure(400,
                     "{\"error\":{\"message\":\"Unsupported value: 'temperature'\","
                     "\"type\":\"invalid_request_error\"}}",
                     NULL, "StepFailed", 1, "", "Unsupported value");
    run_mode_failure(429,
                     "{\"error\":{\"message\":\"You exceeded your current quota\","
                     "\"type\":\"insufficient_quota\",\"code\":\"insufficient_quota\"}}",
                     NULL, "StepFailed", 1, "", "exceeded your current quota");
}

TEST_CASE(invalid_chat_data_fails_without_retry) {
    struct world w;
    world_init(&w, "invalid.db", "sk-test", CHAT_GENERATE_INFER);
    json_t *ev = testutil_json("{\"name\":\"chat/message\",\"data\":{\"messages\":[]}}");
    inngest_test_opts o = {.function_id = "handle-chat", .event = ev};
    inngest_test_result r;
    call(&w, &o, 400, &r);
    CHECK(r.no_retry);
    CHECK(strstr(json_string_value(json_object_get(r.body, "message")),
                 "invalid chat/message data: messages must be a non-empty array"));
    inngest_test_result_cleanup(&r);
    json_decref(ev);
    world_cleanup(&w);
}

/* ---- the pure helpers --------------------------------------------------------------------- */

TEST_CASE(check_request_cases) {
    static const char *bad[] = {
        "[]",
        "{}",
        "{\"messages\":[]}",
        "{\"messages\":[{\"role\":\"user\"}]}",
        "{\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}",
        "{\"messages\":[{\"role\":\"assistant\",\"content\":\"hi\"}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"  \\n\"}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"sessionId\":5}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"ragContext\":{}}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"ragContext\":[1]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"selectedFilePathnames\":\"a\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *j = testutil_json(bad[i]);
        if (!chat_check_request(j))
            TEST_FAIL_("accepted %s", bad[i]);
        json_decref(j);
    }
    json_t *nul = json_loads("{\"messages\":[{\"role\":\"user\",\"content\":\"a\\u0000b\"}]}",
                             JSON_ALLOW_NUL, NULL);
    CHECK(nul);
    CHECK(chat_check_request(nul));
    json_decref(nul);
    json_t *ok = testutil_json(
        "{\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},{\"role\":\"user\","
        "\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":\"hello\"}],\"sessionId\":"
        "\"s\",\"chatId\":null,\"ragContext\":\"extra\",\"selectedFilePathnames\":[\"a.md\"]}");
    const char *msg = chat_check_request(ok);
    if (msg)
        TEST_FAIL_("rejected a valid request: %s", msg);
    json_decref(ok);
}

/* A context of `n` passages whose texts are `len` bytes of "é" (2 bytes each). */
static json_t *wide_context(size_t n, size_t len) {
    char *text = malloc(len + 1);
    for (size_t i = 0; i + 1 < len; i += 2)
        memcpy(text + i, "\xC3\xA9", 2);
    text[len & ~(size_t)1] = '\0';
    json_t *p = json_array();
    for (size_t i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof(id), "d%zu#0", i);
        json_array_append_new(p, json_pack("{s:s,s:s,s:s,s:f,s:s}", "id", id, "title", "T",
                                           "source", id, "score", 0.5, "text", text));
    }
    free(text);
    return json_pack("{s:s,s:o,s:s}", "query", "q", "passages", p, "mode", "hybrid");
}

TEST_CASE(prompt_respects_the_context_budget) {
    struct chat_env env = {.context_budget = 1000};
    json_t *ctx = wide_context(3, 801); /* the 2nd passage must be cut, the 3rd left out */
    json_t *req = testutil_json("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}");
    json_t *msgs = chat_build_messages(&env, req, ctx);
    CHECK_EQ_INT(json_array_size(msgs), 2);
    const char *sys = json_string_value(json_object_get(json_array_get(msgs, 0), "content"));
    CHECK(sys); /* valid UTF-8, or jansson would have refused it */
    CHECK(strstr(sys, "[1] T (source: d0#0)\n"));
    CHECK(strstr(sys, "[2] T (source: d1#0)\n"));
    CHECK(!strstr(sys, "[3] T"));
    CHECK(strstr(sys, "like [1]"));
    CHECK(strstr(sys, "context does not contain"));
    const char *open = strstr(sys, "<context>\n"), *close = strstr(sys, "</context>");
    CHECK(open && close);
    size_t passages = (size_t)(close - open) - strlen("<context>\n");
    CHECK(passages <= 1000);
    CHECK(passages > 900);
    json_decref(msgs);

    /* The default budget (12000) holds all three. */
    env.context_budget = 0;
    msgs = chat_build_messages(&env, req, ctx);
    sys = json_string_value(json_object_get(json_array_get(msgs, 0), "content"));
    CHECK(strstr(sys, "[3] T (source: d2#0)\n"));
    json_decref(msgs);
    json_decref(ctx);

    /* No passages: the prompt says so. */
    ctx = testutil_json("{\"query\":\"q\",\"passages\":[],\"mode\":\"hybrid\"}");
    msgs = chat_build_messages(&env, req, ctx);
    sys = json_string_value(json_object_get(json_array_get(msgs, 0), "content"));
    CHECK(strstr(sys, "(no passages were found for this question)"));
    json_decref(msgs);
    json_decref(ctx);
    json_decref(req);
}

TEST_CASE(prompt_keeps_the_last_messages) {
    struct chat_env env = {0};
    json_t *ctx = testutil_json("{\"query\":\"q\",\"passages\":[],\"mode\":\"hybrid\"}");
    json_t *msgs = json_array();
    json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "system", "content", "evil"));
    for (int i = 0; i < 30; i++) {
        char text[32];
        snprintf(text, sizeof(text), "message %d", i);
        json_array_append_new(
            msgs, json_pack("{s:s,s:s}", "role", i % 2 ? "assistant" : "user", "content", text));
    }
    json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "user", "content", "last"));
    json_t *req = json_pack("{s:o}", "messages", msgs);
    json_t *out = chat_build_messages(&env, req, ctx);
    CHECK_EQ_INT(json_array_size(out), 1 + 20);
    CHECK_STR(json_string_value(json_object_get(json_array_get(out, 20), "content")), "last");
    CHECK_STR(json_string_value(json_object_get(json_array_get(out, 1), "content")), "message 11");
    for (size_t i = 1; i < json_array_size(out); i++)
        CHECK(strcmp(json_string_value(json_object_get(json_array_get(out, i), "role")), "system"));
    json_decref(out);
    json_decref(req);

    /* A long history is cut by bytes too; the newest message always goes. */
    char *big = malloc(20001);
    memset(big, 'x', 20000);
    big[20000] = '\0';
    req = json_pack("{s:[{s:s,s:s},{s:s,s:s},{s:s,s:s}]}", "messages", "role", "user", "content",
                    big, "role", "assistant", "content", big, "role", "user", "content", big);
    out = chat_build_messages(&env, req, ctx);
    CHECK_EQ_INT(json_array_size(out), 2);
    json_decref(out);
    json_decref(req);
    free(big);
    json_decref(ctx);
}

TEST_CASE(offline_answer_without_passages) {
    json_t *ctx = testutil_json("{\"query\":\"q\",\"passages\":[],\"mode\":\"hybrid\"}");
    char *a = chat_offline_answer(ctx);
    CHECK(!strncmp(a, "No model was called: OPENAI_API_KEY is not set.", 47));
    CHECK(strstr(a, "No passages in the knowledge base match this question."));
    free(a);
    json_decref(ctx);
    /* Long passages are cut at a character boundary. */
    ctx = wide_context(1, 3001);
    a = chat_offline_answer(ctx);
    json_t *s = json_string(a); /* NULL if the cut split a character */
    CHECK(s);
    CHECK(strlen(a) < 1400);
    json_decref(s);
    free(a);
    json_decref(ctx);
}

TEST_CASE(env_from_environment) {
    struct chat_env env = {.top_k = 0};
    inngest_error err;
    unsetenv("CHAT_GENERATE_MODE");
    unsetenv("CHAT_TOP_K");
    unsetenv("CHAT_CONTEXT_BUDGET");
    CHECK_EQ_INT(chat_env_from_environment(&env, &err), INNGEST_OK);
    CHECK_EQ_INT(env.generate, CHAT_GENERATE_INFER);
    setenv("CHAT_GENERATE_MODE", "run", 1);
    setenv("CHAT_TOP_K", "7", 1);
    setenv("CHAT_CONTEXT_BUDGET", "4000", 1);
    CHECK_EQ_INT(chat_env_from_environment(&env, &err), INNGEST_OK);
    CHECK_EQ_INT(env.generate, CHAT_GENERATE_RUN);
    CHECK_EQ_INT(env.top_k, 7);
    CHECK_EQ_INT(env.context_budget, 4000);
    static const char *bad[][2] = {{"CHAT_GENERATE_MODE", "stream"},
                                   {"CHAT_TOP_K", "0"},
                                   {"CHAT_TOP_K", "51"},
                                   {"CHAT_TOP_K", "5x"},
                                   {"CHAT_CONTEXT_BUDGET", "499"},
                                   {"CHAT_CONTEXT_BUDGET", "1e6"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv("CHAT_GENERATE_MODE", "infer", 1);
        setenv("CHAT_TOP_K", "5", 1);
        setenv("CHAT_CONTEXT_BUDGET", "12000", 1);
        setenv(bad[i][0], bad[i][1], 1);
        CHECK_EQ_INT(chat_env_from_environment(&env, &err), INNGEST_ECONFIG);
        if (!strstr(err.message, bad[i][0]))
            TEST_FAIL_("message \"%s\" does not name %s", err.message, bad[i][0]);
    }
}

/* ---- ingest-document ---------------------------------------------------------------------- */

/* A Markdown text of `paras` paragraphs of about 700 bytes each. */
static char *long_text(int paras, const char *word) {
    size_t cap = (size_t)paras * 800 + 64;
    char *t = malloc(cap);
    size_t n = (size_t)snprintf(t, cap, "# Guide to %s\n\n", word);
    for (int p = 0; p < paras; p++) {
        for (int s = 0; s < 10; s++)
            n += (size_t)snprintf(t + n, cap - n, "Paragraph %d says %s sentence %d here. ", p,
                                  word, s);
        n += (size_t)snprintf(t + n, cap - n, "\n\n");
    }
    return t;
}

/* The store's documents without their timestamps. New reference. */
static json_t *listing(inngest_rag_store *s) {
    json_t *l = inngest_rag_store_list(s, NULL);
    CHECK(l);
    size_t i;
    json_t *d;
    json_array_foreach(l, i, d) json_object_del(d, "updatedAt");
    return l;
}

/* Every hit of a query, as JSON, for comparing two stores. New reference. */
static json_t *hits(inngest_rag_store *s, inngest_rag_embedder *e, const char *q) {
    inngest_rag_results r;
    inngest_error err;
    if (inngest_rag_search(s, e, q, 50, INNGEST_RAG_HYBRID, &r, &err))
        TEST_FAIL_("search: %s", err.message);
    json_t *out = json_array();
    for (size_t i = 0; i < r.count; i++)
        json_array_append_new(out, json_pack("{s:s,s:i,s:s,s:f,s:f}", "key", r.hits[i].doc_key,
                                             "position", r.hits[i].position, "text", r.hits[i].text,
                                             "score", r.hits[i].score, "vector",
                                             r.hits[i].vector_score));
    inngest_rag_results_cleanup(&r);
    return out;
}

/* Ingests `data` with ingest-document run to the end; returns its output (new ref) and
 * the step ids it saved, hashed, in `*steps_out`. */
static json_t *ingest_run(struct world *w, json_t *data, json_t **steps_out) {
    json_t *ev = json_pack("{s:s,s:O}", "name", "rag/document.added", "data", data);
    inngest_test_opts o = {.function_id = "ingest-document", .event = ev};
    inngest_test_result r;
    CHECK_EQ_INT(inngest_test_run_to_end(w->app, &o, NULL, 50, &r, steps_out), INNGEST_OK);
    if (r.status != 200) {
        char *dump = json_dumps(r.body, JSON_COMPACT);
        TEST_FAIL_("ingest-document answered %d: %s", r.status, dump ? dump : "?");
    }
    json_t *out = json_incref(r.body);
    inngest_test_result_cleanup(&r);
    json_decref(ev);
    return out;
}

static int has_step(json_t *steps, const char *id) {
    char h[41];
    inngest_step_hash(id, h);
    return json_object_get(steps, h) != NULL;
}

TEST_CASE(ingest_document_steps_match_one_shot_ingestion) {
    struct world w;
    world_init(&w, "ingest.db", "", CHAT_GENERATE_INFER);
    w.embedder->max_batch = 2; /* several embed-batch steps for a small document */
    char *text = long_text(6, "durable steps");
    json_t *data = json_pack("{s:s,s:s,s:s,s:s,s:{s:s}}", "source", "guide.md", "text", text, "key",
                             "docs/guide.md", "title", "The Guide", "metadata", "lang", "en");

    /* First call: the chunk step, run at once. */
    json_t *ev = json_pack("{s:s,s:O}", "name", "rag/document.added", "data", data);
    inngest_test_opts o = {.function_id = "ingest-document", .event = ev};
    inngest_test_result r;
    call(&w, &o, 206, &r);
    CHECK_STR(op0_str(&r, "op"), "StepRun");
    CHECK_STR(op0_str(&r, "name"), "chunk");
    json_t *chunked = op0(&r, "data");
    size_t count = (size_t)json_integer_value(json_object_get(chunked, "count"));
    CHECK(count >= 5);
    CHECK_EQ_INT(json_array_size(json_object_get(chunked, "chunks")), count);
    CHECK(json_is_false(json_object_get(chunked, "unchanged")));
    CHECK_STR(json_string_value(json_object_get(chunked, "key")), "docs/guide.md");
    char hash[17];
    inngest_rag_content_hash(text, strlen(text), hash);
    CHECK_STR(json_string_value(json_object_get(chunked, "hash")), hash);
    /* The same chunks as the library's chunker. */
    inngest_rag_chunk *chunks;
    size_t n;
    CHECK_EQ_INT(inngest_rag_chunk_text(text, strlen(text), NULL, &chunks, &n, NULL), 0);
    CHECK_EQ_INT(n, count);
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(json_object_get(chunked, "chunks"), i);
        CHECK_EQ_INT(json_integer_value(json_object_get(c, "offset")), chunks[i].offset);
        CHECK_EQ_INT(json_integer_value(json_object_get(c, "len")), chunks[i].len);
    }
    free(chunks);
    inngest_test_result_cleanup(&r);
    json_decref(ev);

    json_t *steps = NULL;
    json_t *out = ingest_run(&w, data, &steps);
    json_t *want = json_pack("{s:s,s:s,s:I}", "key", "docs/guide.md", "status", "added", "chunks",
                             (json_int_t)count);
    CHECK_JSON_EQ(out, want);
    json_decref(want);
    json_decref(out);
    size_t batches = (count + 1) / 2;
    CHECK_EQ_INT(json_object_size(steps), 1 + batches + 1);
    CHECK(has_step(steps, "chunk"));
    CHECK(has_step(steps, "embed-batch"));
    for (size_t i = 1; i < batches; i++) {
        char id[32];
        snprintf(id, sizeof(id), "embed-batch:%zu", i);
        CHECK(has_step(steps, id));
    }
    CHECK(has_step(steps, "store"));
    json_decref(steps);

    /* The reference: inngest_rag_ingest_document() into a store with the same contents. */
    inngest_rag_store *ref = open_store("ingest-ref.db");
    inngest_error err;
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        inngest_rag_document d = {.source = docs[i][0], .text = docs[i][1]};
        CHECK_EQ_INT(inngest_rag_ingest_document(ref, w.embedder, &d, NULL, NULL, NULL, &err), 0);
    }
    inngest_rag_document d = {.key = "docs/guide.md",
                              .source = "guide.md",
                              .title = "The Guide",
                              .text = text,
                              .metadata = "{\"lang\":\"en\"}"};
    inngest_rag_status status;
    size_t nchunks;
    CHECK_EQ_INT(inngest_rag_ingest_document(ref, w.embedder, &d, NULL, &status, &nchunks, &err),
                 0);
    CHECK_EQ_INT(status, INNGEST_RAG_ADDED);
    CHECK_EQ_INT(nchunks, count);
    json_t *a = listing(w.store), *b = listing(ref);
    CHECK_JSON_EQ(a, b);
    json_decref(a);
    json_decref(b);
    a = hits(w.store, w.embedder, "durable steps sentence 7");
    b = hits(ref, w.embedder, "durable steps sentence 7");
    CHECK(json_array_size(a) > 5);
    CHECK_JSON_EQ(a, b);
    json_decref(a);
    json_decref(b);
    inngest_rag_store_destroy(ref);

    /* Again with the same text: unchanged, no embedding steps. */
    out = ingest_run(&w, data, &steps);
    CHECK_STR(json_string_value(json_object_get(out, "status")), "unchanged");
    CHECK_EQ_INT(json_object_size(steps), 2);
    CHECK(!has_step(steps, "embed-batch"));
    json_decref(steps);
    json_decref(out);

    /* A new text for the same key replaces the document. */
    free(text);
    text = long_text(2, "sleeping runs");
    json_object_set_new(data, "text", json_string(text));
    out = ingest_run(&w, data, &steps);
    CHECK_STR(json_string_value(json_object_get(out, "status")), "replaced");
    json_decref(steps);
    json_decref(out);
    inngest_rag_store_info info;
    CHECK_EQ_INT(inngest_rag_store_get_info(w.store, &info, NULL), 0);
    CHECK_EQ_INT(info.documents, 4);

    free(text);
    json_decref(data);
    world_cleanup(&w);
}

TEST_CASE(ingest_store_step_embeds_what_was_not_staged) {
    struct world w;
    world_init(&w, "ingest-missing.db", "", CHAT_GENERATE_INFER);
    w.embedder->max_batch = 2;
    char *text = long_text(4, "staging");
    json_t *ev = json_pack("{s:s,s:{s:s,s:s}}", "name", "rag/document.added", "data", "source",
                           "staging.md", "text", text);
    inngest_test_opts o = {.function_id = "ingest-document", .event = ev};
    inngest_test_result r;
    call(&w, &o, 206, &r);
    json_t *chunked = json_incref(op0(&r, "data"));
    inngest_test_result_cleanup(&r);
    /* Pretend every embed-batch step ran on another host: nothing is staged here. */
    size_t count = (size_t)json_integer_value(json_object_get(chunked, "count"));
    json_t *steps = json_pack("{s:{s:O}}", "chunk", "data", chunked);
    for (size_t first = 0, i = 0; first < count; first += 2, i++) {
        char id[32];
        snprintf(id, sizeof(id), i ? "embed-batch:%zu" : "embed-batch", i);
        json_object_set_new(steps, id,
                            json_pack("{s:{s:I,s:I}}", "data", "first", (json_int_t)first, "count",
                                      (json_int_t)(count - first < 2 ? count - first : 2)));
    }
    o.steps = steps;
    call(&w, &o, 206, &r);
    CHECK_STR(op0_str(&r, "name"), "store");
    CHECK_STR(json_string_value(json_object_get(op0(&r, "data"), "status")), "added");
    inngest_test_result_cleanup(&r);
    json_t *a = hits(w.store, w.embedder, "staging sentence 3");
    inngest_rag_store *ref = open_store("ingest-missing-ref.db");
    inngest_rag_document d = {.source = "staging.md", .text = text};
    CHECK_EQ_INT(inngest_rag_ingest_document(ref, w.embedder, &d, NULL, NULL, NULL, NULL), 0);
    json_t *b = hits(ref, w.embedder, "staging sentence 3");
    /* The reference store lacks the three fixture documents: compare the guide's hits. */
    json_t *only = json_array();
    size_t i;
    json_t *h;
    json_array_foreach(a, i, h) {
        if (!strcmp(json_string_value(json_object_get(h, "key")), "staging.md"))
            json_array_append(only, h);
    }
    CHECK_EQ_INT(json_array_size(only), json_array_size(b));
    for (i = 0; i < json_array_size(b); i++)
        CHECK_JSON_EQ(json_object_get(json_array_get(only, i), "vector"),
                      json_object_get(json_array_get(b, i), "vector"));
    json_decref(only);
    json_decref(a);
    json_decref(b);
    inngest_rag_store_destroy(ref);
    json_decref(steps);
    json_decref(chunked);
    json_decref(ev);
    free(text);
    world_cleanup(&w);
}

TEST_CASE(ingest_document_rejects_bad_data_and_mismatched_stores) {
    struct world w;
    world_init(&w, "ingest-bad.db", "", CHAT_GENERATE_INFER);
    json_t *ev = testutil_json("{\"name\":\"rag/document.added\",\"data\":{\"text\":\"x\"}}");
    inngest_test_opts o = {.function_id = "ingest-document", .event = ev};
    inngest_test_result r;
    call(&w, &o, 400, &r);
    CHECK(r.no_retry);
    CHECK(strstr(json_string_value(json_object_get(r.body, "message")), "source"));
    inngest_test_result_cleanup(&r);
    json_decref(ev);

    inngest_rag_embedder *small = inngest_rag_hash_embedder_create(64, NULL);
    w.env.embedder = small;
    ev = testutil_json("{\"name\":\"rag/document.added\",\"data\":{\"source\":\"a.md\","
                       "\"text\":\"some text\"}}");
    o.event = ev;
    call(&w, &o, 206, &r);
    CHECK_STR(op0_str(&r, "op"), "StepFailed");
    CHECK_STR(op0_str(&r, "name"), "chunk");
    CHECK(r.no_retry);
    inngest_test_result_cleanup(&r);
    json_decref(ev);
    world_cleanup(&w);
    inngest_rag_embedder_destroy(small);
}
