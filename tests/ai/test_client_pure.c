/* SPDX-License-Identifier: MIT */
/*
 * The client's pure parts: configuration from the environment, request bodies, response
 * and error parsing, and the retry policy. No sockets.
 */
#include "fmacros.h"

#include <math.h>
#include <string.h>

#include <inngest/ai.h>

#include "ai/ai_internal.h"
#include "testutil.h"

static const char *env_of(void *user, const char *name) {
    const char *const *kv = user;
    for (; kv && kv[0]; kv += 2)
        if (!strcmp(kv[0], name))
            return kv[1];
    return NULL;
}

/* A transport that must never be used (pure tests). */
static int no_send(inngest_transport *t, const inngest_http_request *req,
                   inngest_http_response *res, inngest_error *err) {
    (void)t;
    (void)req;
    (void)res;
    (void)err;
    abort();
}
static inngest_transport none = {no_send, NULL};

static inngest_ai_client *client_with(const char *const *env) {
    inngest_ai_opts o = {.getenv_fn = env_of, .getenv_user = (void *)env, .transport = &none};
    inngest_error err;
    inngest_ai_client *c = inngest_ai_client_create(&o, &err);
    if (!c)
        TEST_FAIL_("client: %s", err.message);
    return c;
}

TEST_CASE(defaults_for_openai) {
    const char *env[] = {"OPENAI_API_KEY", "sk-test", NULL};
    inngest_ai_client *c = client_with(env);
    CHECK_STR(inngest_ai_client_base_url(c), "https://api.openai.com/v1");
    CHECK_STR(inngest_ai_client_chat_model(c), "gpt-4o-mini");
    CHECK_STR(inngest_ai_client_embedding_model(c), "text-embedding-3-small");
    CHECK(inngest_ai_client_has_key(c));
    char url[256];
    CHECK(inngest_ai_client_url(c, "chat/completions", url, sizeof(url)) > 0);
    CHECK_STR(url, "https://api.openai.com/v1/chat/completions");
    inngest_ai_message m[] = {{"user", "hi"}};
    inngest_ai_chat_request r = {.messages = m, .message_count = 1, .max_tokens = 100};
    json_t *body = inngest_ai_chat_body(c, &r, 0, NULL);
    CHECK_JSON_TEXT(body, ("{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":"
                           "\"user\",\"content\":\"hi\"}],"
                           "\"max_completion_tokens\":100}"));
    json_decref(body);
    const char *t = "x";
    body = inngest_ai_embeddings_body(c, &t, 1, NULL);
    CHECK_JSON_TEXT(body, ("{\"model\":\"text-embedding-3-small\",\"input\":[\"x\"],"
                           "\"encoding_format\":\"base64\"}"));
    json_decref(body);
    inngest_ai_client_destroy(c);
}

TEST_CASE(compatible_server_settings) {
    const char *env[] = {"OPENAI_BASE_URL",
                         "http://localhost:11434/v1/",
                         "OPENAI_MODEL",
                         "llama3.2",
                         "OPENAI_TEMPERATURE",
                         "0.25",
                         "OPENAI_MAX_TOKENS",
                         "64",
                         "OPENAI_EMBEDDING_DIMENSIONS",
                         "256",
                         "OPENAI_API_VERSION",
                         "2024-10-21",
                         "OPENAI_AUTH_STYLE",
                         "api-key",
                         "OPENAI_API_KEY",
                         "k",
                         NULL};
    inngest_ai_client *c = client_with(env);
    char url[256];
    inngest_ai_client_url(c, "embeddings", url, sizeof(url));
    CHECK_STR(url, "http://localhost:11434/v1/embeddings?api-version=2024-10-21");
    inngest_ai_message m[] = {{"system", "be brief"}, {"user", "hi"}};
    inngest_ai_chat_request r = {.messages = m, .message_count = 2};
    json_t *body = inngest_ai_chat_body(c, &r, 1, NULL);
    CHECK_JSON_TEXT(body, ("{\"model\":\"llama3.2\",\"messages\":[{\"role\":\"system\","
                           "\"content\":\"be brief\"},{\"role\":\"user\",\"content\":"
                           "\"hi\"}],\"max_tokens\":64,\"temperature\":0.25,\"stream\":"
                           "true,\"stream_options\":{\"include_usage\":true}}"));
    json_decref(body);
    const char *t[] = {"a", "b"};
    body = inngest_ai_embeddings_body(c, t, 2, NULL);
    CHECK_JSON_TEXT(body, ("{\"model\":\"text-embedding-3-small\",\"input\":[\"a\","
                           "\"b\"],\"encoding_format\":\"float\",\"dimensions\":256}"));
    json_decref(body);
    json_t *h = inngest_ai_client_auth_headers(c);
    CHECK_JSON_TEXT(h, ("{\"api-key\":\"k\"}"));
    json_decref(h);
    inngest_ai_client_destroy(c);
}

TEST_CASE(bad_configuration_is_refused) {
    const char *bad[][3] = {{"OPENAI_TOKEN_LIMIT_FIELD", "max_length", NULL},
                            {"OPENAI_TEMPERATURE", "3", NULL},
                            {"OPENAI_MAX_RETRIES", "two", NULL},
                            {"OPENAI_BASE_URL", "ftp://x", NULL},
                            {"OPENAI_AUTH_STYLE", "basic", NULL}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        inngest_ai_opts o = {
            .getenv_fn = env_of, .getenv_user = (void *)bad[i], .transport = &none};
        inngest_error err;
        CHECK(inngest_ai_client_create(&o, &err) == NULL);
        CHECK_EQ_INT(err.code, INNGEST_ECONFIG);
    }
}

TEST_CASE(invalid_utf8_is_repaired_and_bad_requests_refused) {
    const char *env[] = {NULL};
    inngest_ai_client *c = client_with(env);
    inngest_ai_message m[] = {{"user", "caf\xc3 ok \xe2\x82"}};
    inngest_ai_chat_request r = {.messages = m, .message_count = 1};
    json_t *body = inngest_ai_chat_body(c, &r, 0, NULL);
    CHECK(body != NULL);
    json_t *content =
        json_object_get(json_array_get(json_object_get(body, "messages"), 0), "content");
    CHECK_STR(json_string_value(content), "caf\xef\xbf\xbd ok \xef\xbf\xbd\xef\xbf\xbd");
    json_decref(body);
    inngest_error err;
    r.message_count = 0;
    CHECK(inngest_ai_chat_body(c, &r, 0, &err) == NULL);
    CHECK_EQ_INT(err.code, INNGEST_EINVAL);
    const char *empty = "";
    CHECK(inngest_ai_embeddings_body(c, &empty, 1, &err) == NULL);
    inngest_ai_client_destroy(c);
}

TEST_CASE(chat_response_parsing) {
    json_t *r = testutil_json(
        "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,\"model\":"
        "\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
        "\"assistant\",\"content\":\"Hi [1]\",\"refusal\":null},\"logprobs\":null,"
        "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":57,\"completion_tokens\":17,"
        "\"total_tokens\":74,\"prompt_tokens_details\":{\"cached_tokens\":0}},\"new_key\":1}");
    inngest_ai_chat_result out;
    CHECK_EQ_INT(inngest_ai_chat_parse(r, &out, NULL), INNGEST_OK);
    CHECK_STR(out.content, "Hi [1]");
    CHECK_STR(out.model, "gpt-4o-mini-2024-07-18");
    CHECK_STR(out.finish_reason, "stop");
    CHECK(out.refusal == NULL);
    CHECK_EQ_INT(out.usage.total_tokens, 74);
    inngest_ai_chat_result_cleanup(&out);
    json_decref(r);

    r = testutil_json("{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":null}}]}");
    CHECK_EQ_INT(inngest_ai_chat_parse(r, &out, NULL), INNGEST_OK);
    CHECK_STR(out.content, "");
    CHECK_EQ_INT(out.has_usage, 0);
    inngest_ai_chat_result_cleanup(&out);
    json_decref(r);

    inngest_error err;
    r = testutil_json("{\"error\":{\"message\":\"Incorrect API key\",\"type\":"
                      "\"invalid_request_error\",\"code\":\"invalid_api_key\"}}");
    CHECK_EQ_INT(inngest_ai_chat_parse(r, &out, &err), INNGEST_EUPSTREAM);
    CHECK(strstr(err.message, "Incorrect API key") != NULL);
    CHECK_EQ_INT(err.no_retry, 1);
    json_decref(r);
    r = testutil_json("{\"choices\":[]}");
    CHECK_EQ_INT(inngest_ai_chat_parse(r, &out, &err), INNGEST_EPARSE);
    json_decref(r);
}

TEST_CASE(embeddings_parsing_float_base64_and_order) {
    /* [1.0, -2.0] and [0.5, 0.25] as little-endian float32, base64. */
    json_t *r = testutil_json(
        "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":1,\"embedding\":"
        "\"AAAAPwAAgD4=\"},{\"object\":\"embedding\",\"index\":0,\"embedding\":[1.0,-2.0]}],"
        "\"model\":\"m\",\"usage\":{\"prompt_tokens\":2,\"total_tokens\":2}}");
    float v[4];
    int dim = 0;
    CHECK_EQ_INT(inngest_ai_embeddings_parse(r, 2, 0, v, &dim, NULL), INNGEST_OK);
    CHECK_EQ_INT(dim, 2);
    CHECK(v[0] == 1.0f && v[1] == -2.0f && v[2] == 0.5f && v[3] == 0.25f);
    inngest_error err;
    CHECK_EQ_INT(inngest_ai_embeddings_parse(r, 2, 3, v, NULL, &err), INNGEST_EMISMATCH);
    CHECK_EQ_INT(inngest_ai_embeddings_parse(r, 3, 2, v, NULL, &err), INNGEST_EPARSE);
    json_decref(r);
    r = testutil_json(
        "{\"data\":[{\"index\":0,\"embedding\":[1]},{\"index\":0,\"embedding\":[2]}]}");
    CHECK_EQ_INT(inngest_ai_embeddings_parse(r, 2, 1, v, NULL, &err), INNGEST_EPARSE);
    json_decref(r);
    CHECK_EQ_INT(inngest_ai_embedding_model_dim("text-embedding-3-large"), 3072);
    CHECK_EQ_INT(inngest_ai_embedding_model_dim("nomic-embed-text"), 0);
}

static void add_header(inngest_http_response *res, const char *n, const char *v) {
    CHECK_EQ_INT(inngest_http_response_add_header(res, n, v), INNGEST_OK);
}

TEST_CASE(error_responses_map_to_retriable_or_not) {
    struct {
        int status;
        const char *body;
        const char *name;
        int no_retry;
    } cases[] = {
        {401,
         "{\"error\":{\"message\":\"Incorrect API key provided\",\"type\":"
         "\"invalid_request_error\",\"param\":null,\"code\":\"invalid_api_key\"}}",
         "AuthenticationError", 1},
        {400,
         "{\"error\":{\"message\":\"Unsupported value: 'temperature'\",\"type\":"
         "\"invalid_request_error\",\"param\":\"temperature\",\"code\":\"unsupported_value\"}}",
         "BadRequestError", 1},
        {429,
         "{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\",\"code\":"
         "\"rate_limit_exceeded\"}}",
         "RateLimitError", 0},
        {429,
         "{\"error\":{\"message\":\"You exceeded your current quota\",\"type\":"
         "\"insufficient_quota\",\"code\":\"insufficient_quota\"}}",
         "RateLimitError", 1},
        {503, "<html>Service Unavailable</html>", "InternalServerError", 0},
        {404, "{\"error\":\"model 'x' not found\"}", "NotFoundError", 1},
        {409, "", "ConflictError", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        inngest_http_response res = {0};
        res.status = cases[i].status;
        CHECK_EQ_INT(inngest_http_response_set_body(&res, cases[i].body, strlen(cases[i].body)),
                     INNGEST_OK);
        add_header(&res, "x-request-id", "req_abc");
        if (cases[i].status == 429)
            add_header(&res, "retry-after", "2");
        inngest_error err;
        inngest_ai_call_info info;
        CHECK_EQ_INT(inngest_ai_error_from_response(&res, &err, &info), INNGEST_EUPSTREAM);
        CHECK_STR(err.name, cases[i].name);
        CHECK_EQ_INT(err.no_retry, cases[i].no_retry);
        CHECK_EQ_INT(err.http_status, cases[i].status);
        CHECK(strstr(err.message, "req_abc") != NULL);
        CHECK_STR(info.request_id, "req_abc");
        if (cases[i].status == 429) {
            CHECK_STR(err.retry_after, "2");
            CHECK_EQ_INT(info.retry_after_ms, 2000);
        }
        inngest_http_response_cleanup(&res);
    }
}

TEST_CASE(retry_after_headers) {
    CHECK_EQ_INT(ing_retry_after_ms("250", "9", 0), 250);
    CHECK_EQ_INT(ing_retry_after_ms(NULL, "1.5", 0), 1500);
    CHECK_EQ_INT(ing_retry_after_ms(NULL, "soon", 0), -1);
    /* 2015-10-21T07:28:00Z is 1445412480. */
    CHECK_EQ_INT(ing_retry_after_ms(NULL, "Wed, 21 Oct 2015 07:28:00 GMT", 1445412477), 3000);
    CHECK_EQ_INT(ing_retry_after_ms(NULL, "Wed, 21 Oct 2015 07:28:00 GMT", 1445412490), 0);
}

TEST_CASE(retry_policy) {
    struct ing_retry_in in = {.attempt = 0, .max_retries = 2, .status = 500, .rand01 = 0};
    CHECK_EQ_INT(ing_retry_delay_ms(&in), 500);
    in.attempt = 1;
    in.rand01 = 0.999;
    long d = ing_retry_delay_ms(&in);
    CHECK(d > 740 && d <= 1000); /* 1 s with up to 25% jitter off */
    in.attempt = 2;
    CHECK_EQ_INT(ing_retry_delay_ms(&in), -1); /* retries used up */
    in.max_retries = 10;
    in.attempt = 6;
    in.rand01 = 0;
    CHECK_EQ_INT(ing_retry_delay_ms(&in), 8000); /* capped */
    in.attempt = 0;
    for (int s = 400; s < 600; s++) {
        in.status = s;
        long v = ing_retry_delay_ms(&in);
        int want = s == 408 || s == 409 || s == 429 || s >= 500;
        CHECK_EQ_INT(v >= 0, want);
    }
    in.status = 0; /* connection error */
    CHECK(ing_retry_delay_ms(&in) >= 0);
    in.status = 429;
    in.retry_after_ms = "1200";
    CHECK_EQ_INT(ing_retry_delay_ms(&in), 1200);
    in.retry_after_ms = NULL;
    in.retry_after = "300"; /* beyond 120 s: not in process */
    CHECK_EQ_INT(ing_retry_delay_ms(&in), -1);
    in.retry_after = NULL;
    in.error_code = "insufficient_quota";
    CHECK_EQ_INT(ing_retry_delay_ms(&in), -1);
    in.error_code = NULL;
    in.status = 400;
    in.should_retry = "true";
    CHECK(ing_retry_delay_ms(&in) >= 0);
    in.status = 503;
    in.should_retry = "false";
    CHECK_EQ_INT(ing_retry_delay_ms(&in), -1);
}

TEST_CASE(utf8_and_base64_helpers) {
    CHECK(ing_utf8_valid("h\xc3\xa9llo", 6));
    CHECK(!ing_utf8_valid("\xc0\xaf", 2));         /* overlong */
    CHECK(!ing_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    CHECK(!ing_utf8_valid("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
    const char *s = "a\xe2\x82\xac";               /* a€ */
    CHECK_EQ_INT(ing_utf8_floor(s, 4, 2), 1);
    CHECK_EQ_INT(ing_utf8_floor(s, 4, 3), 1);
    CHECK_EQ_INT(ing_utf8_floor(s, 4, 4), 4);
    unsigned char out[16];
    CHECK_EQ_INT(ing_base64_decode("aGVsbG8=", 8, out), 5);
    CHECK(!memcmp(out, "hello", 5));
    CHECK_EQ_INT(ing_base64_decode("aGV$", 4, out), -1);
}
