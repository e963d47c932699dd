/* SPDX-License-Identifier: MIT */
/*
 * The serve endpoint driven by an independent client: requests written byte by byte on a
 * raw socket (testutil_raw_http), signatures made and checked here with OpenSSL, answers
 * parsed here. Neither side uses the SDK's own HTTP client or signing code, so a bug both
 * of those share (framing, header names, what is signed) cannot hide. A cloud-mode app on
 * 127.0.0.1: a signed call, the same call tampered with and unsigned, malformed requests,
 * and a call whose body comes in chunks.
 */
#include "fmacros.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <inngest/inngest.h>
#include <openssl/evp.h>

#include "testutil.h"

#define KEY "signkey-test-8ee2262a15e8d3c42d6a840db7af3de2aab08ef632b32a37a687f24b34dba3ff"

static int fn_echo(inngest_ctx *ctx, json_t **result) {
    *result = json_pack("{s:O}", "got", json_object_get(inngest_ctx_event(ctx), "data"));
    return INNGEST_OK;
}

struct env {
    inngest_app *app;
    inngest_server *srv;
    int port;
};

static void start(struct env *e) {
    inngest_error err;
    CHECK_EQ_INT(inngest_global_init(), INNGEST_OK);
    memset(e, 0, sizeof(*e));
    inngest_app_opts o = {.app_id = "raw-app", .mode = INNGEST_MODE_CLOUD, .signing_key = KEY};
    e->app = inngest_app_create(&o, &err);
    CHECK(e->app);
    inngest_function *f = inngest_function_create("echo", fn_echo, NULL);
    CHECK(f);
    CHECK_EQ_INT(inngest_function_add_event_trigger(f, "test/echo", NULL), INNGEST_OK);
    CHECK_EQ_INT(inngest_app_add_function(e->app, f), INNGEST_OK);
    inngest_app_freeze(e->app);
    inngest_server_opts so = {.host = "127.0.0.1", .port = 0};
    e->srv = inngest_server_create(e->app, &so, &err);
    CHECK(e->srv);
    CHECK_EQ_INT(inngest_server_start(e->srv, &err), INNGEST_OK);
    e->port = inngest_server_port(e->srv);
    CHECK(e->port > 0);
}

static void stop(struct env *e) {
    inngest_server_destroy(e->srv);
    inngest_app_destroy(e->app);
    inngest_global_cleanup();
}

/* HMAC-SHA256 over body || decimal t, keyed with the key text after "signkey-test-", as hex
 * (the protocol's signature, computed without the SDK). */
static void hmac_hex(const char *body, size_t len, long long t, char out[65]) {
    const char *key = &KEY[sizeof("signkey-test-") - 1];
    char ts[24];
    int tl = snprintf(ts, sizeof(ts), "%lld", t);
    char *msg = malloc(len + (size_t)tl + 1);
    CHECK(msg);
    memcpy(msg, body, len);
    memcpy(msg + len, ts, (size_t)tl);
    unsigned char mac[32];
    size_t mac_len = 0;
    CHECK(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, strlen(key), (unsigned char *)msg,
                    len + (size_t)tl, mac, sizeof(mac), &mac_len) != NULL);
    CHECK_EQ_INT(mac_len, 32);
    free(msg);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

/* An HTTP/1.1 answer taken apart: status, the raw header block, the (de-chunked) body. */
struct answer {
    int status;
    char *head; /* from the status line to the blank line, NUL-terminated */
    char *body;
    size_t body_len;
};

/* The value of header `name` in `a` (case-insensitive name), copied into out; 0 if none. */
static int header(const struct answer *a, const char *name, char *out, size_t n) {
    size_t nl = strlen(name);
    for (const char *p = strstr(a->head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (!strncasecmp(line, name, nl) && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            const char *end = strstr(v, "\r\n");
            size_t vl = end ? (size_t)(end - v) : strlen(v);
            CHECK(vl < n);
            memcpy(out, v, vl);
            out[vl] = '\0';
            return 1;
        }
    }
    return 0;
}

/* Parses `raw` (read until the server closed the connection). */
static struct answer parse(char *raw) {
    struct answer a = {0};
    CHECK(!strncmp(raw, "HTTP/1.1 ", 9));
    a.status = atoi(raw + 9);
    char *end = strstr(raw, "\r\n\r\n");
    CHECK(end);
    a.head = strndup(raw, (size_t)(end - raw) + 2);
    CHECK(a.head);
    const char *b = end + 4;
    char te[64], cl[32];
    if (header(&a, "Transfer-Encoding", te, sizeof(te)) && !strcasecmp(te, "chunked")) {
        a.body = malloc(strlen(b) + 1);
        CHECK(a.body);
        for (;;) {
            char *next;
            unsigned long n = strtoul(b, &next, 16);
            CHECK(next != b && !strncmp(next, "\r\n", 2));
            b = next + 2;
            if (n == 0)
                break;
            CHECK(strlen(b) >= n + 2 && !strncmp(b + n, "\r\n", 2));
            memcpy(a.body + a.body_len, b, n);
            a.body_len += n;
            b += n + 2;
        }
    } else {
        CHECK(header(&a, "Content-Length", cl, sizeof(cl)));
        a.body_len = strtoul(cl, NULL, 10);
        CHECK_EQ_INT(strlen(b), a.body_len); /* Connection: close: nothing follows */
        a.body = malloc(a.body_len + 1);
        CHECK(a.body);
        memcpy(a.body, b, a.body_len);
    }
    a.body[a.body_len] = '\0';
    return a;
}

static void answer_free(struct answer *a) {
    free(a->head);
    free(a->body);
}

/* The answer is the SDK's and carries a signature that verifies over its body. */
static void check_signed_answer(const struct answer *a) {
    char v[256], want[65];
    CHECK(header(a, "X-Inngest-SDK", v, sizeof(v)));
    CHECK(header(a, "X-Inngest-Signature", v, sizeof(v)));
    long long t = 0;
    char s[65] = "";
    CHECK_EQ_INT(sscanf(v, "t=%lld&s=%64[0-9a-f]", &t, s), 2);
    long long now = (long long)time(NULL);
    CHECK(t >= now - 300 && t <= now + 300);
    hmac_hex(a->body, a->body_len, t, want);
    CHECK_STR(s, want);
}

static const char CALL_BODY[] =
    "{\"ctx\":{\"attempt\":0,\"run_id\":\"01RAWRUN\",\"stack\":{\"current\":0,\"stack\":[]}},"
    "\"event\":{\"name\":\"test/echo\",\"data\":{\"x\":\"\\u00e9\",\"n\":7}},"
    "\"steps\":{},\"version\":-1}";
static const char CALL_TARGET[] = "/api/inngest?fnId=raw-app-echo&stepId=step";

/* A POST of `body` with Content-Length, signed over `signed_body` when it is not NULL. */
static char *post(int port, const char *body, const char *signed_body) {
    char sig[160] = "";
    if (signed_body) {
        long long t = (long long)time(NULL);
        char s[65];
        hmac_hex(signed_body, strlen(signed_body), t, s);
        snprintf(sig, sizeof(sig), "X-Inngest-Signature: t=%lld&s=%s\r\n", t, s);
    }
    size_t cap = strlen(body) + 1024;
    char *req = malloc(cap);
    CHECK(req);
    int n = snprintf(req, cap,
                     "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Connection: close\r\n%sContent-Length: %zu\r\n\r\n%s",
                     CALL_TARGET, sig, strlen(body), body);
    char *ans = testutil_raw_http(port, req, (size_t)n, 0);
    free(req);
    return ans;
}

/* A signed 200 whose body is the echo of CALL_BODY's event data. */
static void check_echo_answer(char *raw) {
    struct answer a = parse(raw);
    if (a.status != 200)
        TEST_FAIL_("call answered %d: %s", a.status, a.body);
    json_t *got = testutil_json(a.body);
    json_t *want = testutil_json("{\"got\":{\"x\":\"\xc3\xa9\",\"n\":7}}");
    CHECK_JSON_EQ(got, want);
    json_decref(got);
    json_decref(want);
    check_signed_answer(&a);
    answer_free(&a);
    free(raw);
}

TEST_CASE(signed_call_answers_signed) {
    struct env e;
    start(&e);
    check_echo_answer(post(e.port, CALL_BODY, CALL_BODY));
    stop(&e);
}

TEST_CASE(tampered_and_unsigned_calls_refused) {
    struct env e;
    start(&e);
    /* One byte of the body changed after signing. */
    char tampered[sizeof(CALL_BODY)];
    memcpy(tampered, CALL_BODY, sizeof(CALL_BODY));
    *strstr(tampered, "\"n\":7") = ' ';
    const char *bodies[][2] = {{tampered, CALL_BODY}, {CALL_BODY, NULL}};
    for (int i = 0; i < 2; i++) {
        char *raw = post(e.port, bodies[i][0], bodies[i][1]);
        struct answer a = parse(raw);
        if (a.status != 401)
            TEST_FAIL_("%s call answered %d: %s", i ? "unsigned" : "tampered", a.status, a.body);
        char v[256];
        CHECK(header(&a, "X-Inngest-SDK", v, sizeof(v)));
        CHECK(!strstr(a.body, "raw-app-echo") && !strstr(a.body, "\xc3\xa9"));
        answer_free(&a);
        free(raw);
    }
    stop(&e);
}

/* Requests no HTTP client library would send: each gets a 4xx (505 for an unknown HTTP
 * version) or a closed connection, never a success, a crash or a hang, and the server
 * keeps serving. */
TEST_CASE(malformed_requests_get_4xx) {
    struct env e;
    start(&e);
    static const char *const bad[] = {
        "\x01\x02 nonsense\r\n\r\n",
        "POST /api/inngest HTTP/1.1\r\nHost: 127.0.0.1\r\nno colon here\r\n\r\n",
        "POST /api/inngest?fnId=raw-app-echo&stepId=step HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Length: -5\r\n\r\n",
        "POST /api/inngest?fnId=raw-app-echo&stepId=step HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Length: 5\r\nContent-Length: 7\r\n\r\n{}",
        "GET /api/inngest HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        char *raw = testutil_raw_http(e.port, bad[i], strlen(bad[i]), 1);
        const char *sp = strchr(raw, ' ');
        int status = !strncmp(raw, "HTTP/", 5) && sp ? atoi(sp + 1) : -1;
        if (raw[0] && !((status >= 400 && status <= 499) || status == 505))
            TEST_FAIL_("malformed request %zu answered: %.80s", i, raw);
        free(raw);
    }
    /* Still serving: a good signed call. */
    check_echo_answer(post(e.port, CALL_BODY, CALL_BODY));
    stop(&e);
}

/* The call's body in three chunks (Transfer-Encoding: chunked), signed over the whole body:
 * the server must verify and parse what the chunks add up to. */
TEST_CASE(chunked_body_call) {
    struct env e;
    start(&e);
    long long t = (long long)time(NULL);
    char s[65];
    hmac_hex(CALL_BODY, strlen(CALL_BODY), t, s);
    size_t len = strlen(CALL_BODY), a1 = 10, a2 = len / 2;
    char req[4096];
    int n = snprintf(req, sizeof(req),
                     "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Connection: close\r\nX-Inngest-Signature: t=%lld&s=%s\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n"
                     "%zx\r\n%.*s\r\n%zx\r\n%.*s\r\n%zx\r\n%s\r\n0\r\n\r\n",
                     CALL_TARGET, t, s, a1, (int)a1, CALL_BODY, a2 - a1, (int)(a2 - a1),
                     CALL_BODY + a1, len - a2, CALL_BODY + a2);
    CHECK(n > 0 && (size_t)n < sizeof(req));
    check_echo_answer(testutil_raw_http(e.port, req, (size_t)n, 0));
    stop(&e);
}
