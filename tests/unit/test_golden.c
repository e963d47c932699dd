/* SPDX-License-Identifier: MIT */
/*
 * Golden cases for the serve endpoint and the step engine: each file under
 * tests/data/golden/ holds an array of cases, a request in and the expected response out
 * (see tests/data/golden/README.md for the fields). Links only the core (inngest_core):
 * no adapter, no curl, no civetweb; outbound calls go to a scripted transport.
 *
 *     test_golden FILE             runs every case of FILE and compares
 *     test_golden --torture FILE   allocation failure test: runs each request case once
 *                                  per allocation n, failing the n-th and every later
 *                                  allocation (the SDK's and jansson's), and checks for a
 *                                  clean error, no crash and no leaked block
 */
#include "fmacros.h"

#include <inngest/inngest.h>
#include <stdint.h>

#include "core/app.h"
#include "core/sig.h"
#include "engine_app.h"
#include "testutil.h"
#include "torture_alloc.h"

#define KEY    "signkey-test-8ee2262a15e8d3c42d6a840db7af3de2aab08ef632b32a37a687f24b34dba3ff"
#define KEY_FB "signkey-test-00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define NOW_S  1732400000LL
#define MAX_UPSTREAM 4

/* ---- scripted transport --------------------------------------------------------------- */

struct scripted {
    inngest_transport base;
    json_t *upstream; /* borrowed: [{"status": n, "body": any}], 0 = network failure */
    json_t *sent;     /* what was sent: [{"url", "headers", "body"}] */
    size_t calls;
};

static int scripted_send(inngest_transport *self, const inngest_http_request *req,
                         inngest_http_response *res, inngest_error *err) {
    struct scripted *s = (struct scripted *)self;
    json_t *answer = json_array_get(s->upstream, s->calls++);
    json_t *headers = json_object();
    for (size_t i = 0; headers && i < req->header_count; i++)
        json_object_set_new(headers, req->headers[i].name, json_string(req->headers[i].value));
    json_t *body = req->body_len ? json_loadb(req->body, req->body_len, 0, NULL) : json_null();
    json_t *rec = json_pack("{s:s,s:o*,s:o*}", "url", req->url, "headers", headers, "body",
                            body);
    if (!rec || json_array_append_new(s->sent, rec))
        return inngest_error_set(err, INNGEST_ENOMEM, "out of memory in the test transport");
    int status = (int)json_integer_value(json_object_get(answer, "status"));
    if (!answer || !status)
        return inngest_error_set(err, INNGEST_EHTTP, "connection refused");
    char *text = json_dumps(json_object_get(answer, "body"), JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        return inngest_error_set(err, INNGEST_ENOMEM, "out of memory in the test transport");
    res->status = status;
    int rc = inngest_http_response_set_body(res, text, strlen(text));
    torture_free(text);
    return rc;
}

static int64_t clock_ms(void *user) {
    (void)user;
    return NOW_S * 1000;
}

static const char *env_lookup(void *user, const char *name) {
    return json_string_value(json_object_get(user, name));
}

/* ---- one case ---------------------------------------------------------------------------- */

struct run {
    json_t *c; /* the case (borrowed) */
    struct scripted t;
    inngest_app *app;
    int app_rc; /* why the app was not created */
    inngest_http_response res;
    int handle_rc;
    inngest_test_result call;
};

static const char *sopt(json_t *o, const char *k) {
    return json_string_value(json_object_get(o, k));
}

static inngest_app *make_app(struct run *r, json_t *a) {
    int cloud = sopt(a, "mode") && !strcmp(sopt(a, "mode"), "cloud");
    inngest_app_opts o = {
        .app_id = sopt(a, "app_id") ? sopt(a, "app_id") : "my-app",
        .mode = cloud ? INNGEST_MODE_CLOUD : INNGEST_MODE_DEV,
        .transport = &r->t.base,
        .now_ms_fn = clock_ms,
        .getenv_fn = env_lookup,
        .getenv_user = json_object_get(a, "env"),
        .max_body_bytes = (size_t)json_integer_value(json_object_get(a, "max_body_bytes")),
        .serve_origin = sopt(a, "serve_origin"),
        .serve_path = sopt(a, "serve_path"),
        /* The cases record the classic protocol unless they say otherwise. */
        .checkpointing = {.mode = json_is_true(json_object_get(a, "checkpointing")) ? 1 : -1},
    };
    if (cloud) {
        o.signing_key = KEY;
        o.signing_key_fallback = json_is_true(json_object_get(a, "fallback")) ? KEY_FB : NULL;
        o.event_key = "test-event-key-123";
        o.env = "my-branch";
        o.base_url = "http://127.0.0.1:18288";
    }
    inngest_error err = {0};
    inngest_app *app = ing_app_create(&o, NULL, &err);
    if (!app) {
        r->app_rc = err.code;
        return NULL;
    }
    const char *fns = sopt(a, "functions");
    int rc = fns && !strcmp(fns, "echo") ? engine_app_add_echo(app) : engine_app_add_functions(app);
    if (rc != INNGEST_OK) {
        r->app_rc = rc;
        inngest_app_destroy(app);
        return NULL;
    }
    inngest_app_freeze(app);
    return app;
}

/* Runs the case's request through inngest_app_handle(). The request is built before the
 * allocation counter starts, by the caller. */
struct request {
    const char *method, *url;
    inngest_header h[16];
    size_t nh;
    char *body;
    size_t len;
    char sig[ING_SIG_HEADER_MAX];
};

static void build_request(json_t *q, struct request *rq) {
    memset(rq, 0, sizeof(*rq));
    rq->method = sopt(q, "method");
    rq->url = sopt(q, "url");
    CHECK(rq->method && rq->url);
    json_t *b = json_object_get(q, "body");
    if (json_is_string(json_object_get(q, "body_text")))
        rq->body = json_dumps(json_object_get(q, "body_text"), JSON_ENCODE_ANY);
    else if (b)
        rq->body = json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY);
    if (rq->body && json_is_string(json_object_get(q, "body_text"))) {
        /* JSON text of the string: send what is between the quotes, unescaped */
        const char *raw = sopt(q, "body_text");
        memcpy(rq->body, raw, strlen(raw) + 1); /* never longer than its JSON text */
    }
    rq->len = rq->body ? strlen(rq->body) : 0;
    const char *k;
    json_t *v;
    rq->h[rq->nh++] = (inngest_header){"Host", "127.0.0.1:13000"};
    json_object_foreach(json_object_get(q, "headers"), k, v) {
        CHECK(rq->nh < 15);
        rq->h[rq->nh++] = (inngest_header){k, json_string_value(v)};
    }
    json_t *sign = json_object_get(q, "sign");
    if (sign) {
        const char *key = !strcmp(sopt(sign, "key"), "fallback") ? KEY_FB : KEY;
        int64_t at = NOW_S - json_integer_value(json_object_get(sign, "age_s"));
        CHECK_EQ_INT(ing_sig_header(key, rq->body ? rq->body : "", rq->len, at, rq->sig),
                     INNGEST_OK);
        rq->h[rq->nh++] = (inngest_header){"X-Inngest-Signature", rq->sig};
    }
}

/* Everything the SDK does for one case: create the app, handle the request, clean up
 * what only the SDK needs. The response stays in r->res. */
static void run_request(struct run *r, const struct request *rq) {
    r->app = make_app(r, json_object_get(r->c, "app"));
    if (!r->app)
        return;
    inngest_http_request req = {.method = rq->method, .url = rq->url, .headers = rq->h,
                                .header_count = rq->nh, .body = rq->body,
                                .body_len = rq->len};
    r->handle_rc = inngest_app_handle(r->app, &req, &r->res);
}

static void run_call(struct run *r) {
    json_t *c = json_object_get(r->c, "call");
    r->app = make_app(r, json_object_get(r->c, "app"));
    CHECK(r->app);
    inngest_test_opts o = {
        .function_id = sopt(c, "function"),
        .event = json_object_get(c, "event"),
        .events = json_object_get(c, "events"),
        .steps = json_object_get(c, "steps"),
        .target_step = sopt(c, "target_step"),
        .attempt = (int)json_integer_value(json_object_get(c, "attempt")),
        .max_attempts = (int)json_integer_value(json_object_get(c, "max_attempts")),
        .disable_immediate_execution =
            json_is_true(json_object_get(c, "disable_immediate_execution")),
        .run_id = sopt(c, "run_id"),
    };
    CHECK_EQ_INT(inngest_test_call(r->app, &o, &r->call), INNGEST_OK);
}

static void finish(struct run *r) {
    inngest_http_response_cleanup(&r->res);
    inngest_test_result_cleanup(&r->call);
    inngest_app_destroy(r->app);
    r->app = NULL;
}

/* "@VERSION@" in an expected string stands for the SDK's version. */
static json_t *expand(json_t *v) {
    const char *k;
    json_t *x;
    size_t i;
    if (json_is_string(v)) {
        const char *s = json_string_value(v), *at = strstr(s, "@VERSION@");
        if (at) {
            char buf[512];
            snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - s), s, INNGEST_VERSION,
                     at + strlen("@VERSION@"));
            return json_string(buf);
        }
    }
    if (json_is_object(v)) {
        json_t *o = json_object();
        json_object_foreach(v, k, x) json_object_set_new(o, k, expand(x));
        return o;
    }
    if (json_is_array(v)) {
        json_t *a = json_array();
        json_array_foreach(v, i, x) json_array_append_new(a, expand(x));
        return a;
    }
    return json_incref(v);
}

/* Every member of `want` is in `got` with an equal value (objects compare recursively by
 * this rule, everything else exactly). */
static void check_has(json_t *got, json_t *want, const char *what) {
    const char *k;
    json_t *v;
    if (!json_is_object(want)) {
        CHECK_JSON_EQ(got, want);
        return;
    }
    if (!json_is_object(got))
        TEST_FAIL_("%s: expected an object", what);
    json_object_foreach(want, k, v) {
        json_t *g = json_object_get(got, k);
        if (!g && !json_is_null(v))
            TEST_FAIL_("%s: member \"%s\" is missing", what, k);
        if (g)
            check_has(g, v, k);
    }
}

static void check_json_field(json_t *got, json_t *expect, const char *exact, const char *has) {
    json_t *want = expand(json_object_get(expect, exact));
    if (json_object_get(expect, exact))
        CHECK_JSON_EQ(got, want);
    json_decref(want);
    want = expand(json_object_get(expect, has));
    if (want)
        check_has(got, want, has);
    json_decref(want);
}

static void compare_request(struct run *r) {
    json_t *want = json_object_get(r->c, "response");
    CHECK(r->app);
    CHECK_EQ_INT(r->handle_rc, INNGEST_OK);
    CHECK_EQ_INT(r->res.status, json_integer_value(json_object_get(want, "status")));
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(want, "headers"), k, v) {
        const char *got = inngest_http_response_header(&r->res, k);
        json_t *w = expand(v);
        if (json_is_null(w)) {
            if (got)
                TEST_FAIL_("header %s: expected none, got \"%s\"", k, got);
        } else {
            CHECK_STR(got, json_string_value(w));
        }
        json_decref(w);
    }
    if (json_is_string(json_object_get(want, "body_text"))) {
        CHECK_EQ_INT(r->res.body_len, strlen(sopt(want, "body_text")));
        CHECK(!r->res.body_len || !memcmp(r->res.body, sopt(want, "body_text"), r->res.body_len));
    } else {
        json_error_t e;
        json_t *got = json_loadb(r->res.body ? r->res.body : "", r->res.body_len,
                                 JSON_DECODE_ANY, &e);
        if (!got)
            TEST_FAIL_("the response body is not JSON (%s): %.*s", e.text, (int)r->res.body_len,
                       r->res.body ? r->res.body : "");
        size_t i;
        json_t *op;
        if (r->res.status == 206)
            json_array_foreach(got, i, op) json_object_del(op, "timing"); /* varies */
        check_json_field(got, want, "body", "body_has");
        json_decref(got);
    }
    const char *signer = sopt(want, "signed");
    if (signer) {
        const char *sig = inngest_http_response_header(&r->res, "X-Inngest-Signature");
        const char *keys[2] = {!strcmp(signer, "fallback") ? KEY_FB : KEY, NULL};
        int which;
        char why[128];
        CHECK(sig);
        CHECK_EQ_INT(ing_sig_verify(sig, r->res.body, r->res.body_len, NOW_S, keys, &which, why,
                                    sizeof(why)),
                     INNGEST_OK);
    }
}

static void compare_call(struct run *r) {
    json_t *want = json_object_get(r->c, "response");
    CHECK_EQ_INT(r->call.status, json_integer_value(json_object_get(want, "status")));
    size_t i;
    json_t *op;
    json_array_foreach(r->call.ops, i, op) json_object_del(op, "timing"); /* varies */
    check_json_field(r->call.body, want, "body", "body_has");
    CHECK_EQ_INT(r->call.no_retry, json_is_true(json_object_get(want, "no_retry")));
    CHECK_STR(r->call.retry_after, sopt(want, "retry_after") ? sopt(want, "retry_after") : "");
}

static void compare_sent(struct run *r) {
    json_t *want = json_object_get(r->c, "sent");
    if (!want)
        return;
    CHECK_EQ_INT(json_array_size(r->t.sent), json_array_size(want));
    size_t i;
    json_t *w;
    json_array_foreach(want, i, w) {
        json_t *got = json_array_get(r->t.sent, i);
        CHECK_STR(json_string_value(json_object_get(got, "url")), sopt(w, "url"));
        json_t *h = expand(json_object_get(w, "headers"));
        if (h)
            check_has(json_object_get(got, "headers"), h, "sent headers");
        json_decref(h);
        check_json_field(json_object_get(got, "body"), w, "body", "body_has");
    }
}

static void init_run(struct run *r, json_t *c) {
    memset(r, 0, sizeof(*r));
    r->c = c;
    r->t.base.send = scripted_send;
    r->t.upstream = json_object_get(c, "upstream");
    r->t.sent = json_array();
}

static void golden(json_t *c) {
    struct run r;
    init_run(&r, c);
    if (json_object_get(c, "call")) {
        run_call(&r);
        compare_call(&r);
    } else {
        struct request rq;
        build_request(json_object_get(c, "request"), &rq);
        run_request(&r, &rq);
        compare_request(&r);
        torture_free(rq.body);
    }
    compare_sent(&r);
    finish(&r);
    json_decref(r.t.sent);
}

/* A run with allocations failing from the n-th one on must end in a clean error: no app
 * (with a reason), INNGEST_ENOMEM with a 500, a 5xx answer, or, when the failure hit
 * nothing that mattered, the expected answer. */
static void check_clean(struct run *r, long n) {
    json_t *want = json_object_get(r->c, "response");
    int status = (int)json_integer_value(json_object_get(want, "status"));
    if (!r->app) {
        if (r->app_rc >= 0)
            TEST_FAIL_("allocation %ld: no app and no error code", n);
        return;
    }
    if (r->handle_rc != INNGEST_OK) {
        if (r->handle_rc != INNGEST_ENOMEM || r->res.status != 500)
            TEST_FAIL_("allocation %ld: inngest_app_handle returned %d with status %d", n,
                       r->handle_rc, r->res.status);
        return;
    }
    if (r->res.status != status && r->res.status < 500)
        TEST_FAIL_("allocation %ld: status %d, expected %d or a 5xx (body %.*s)", n,
                   r->res.status, status, (int)r->res.body_len, r->res.body ? r->res.body : "");
}

static void torture(json_t *c, const char *about) {
    if (!json_object_get(c, "request"))
        return; /* engine calls go through inngest_test_call's own allocations */
    struct request rq;
    build_request(json_object_get(c, "request"), &rq);
    long total = -1;
    /* GOLDEN_TORTURE_N=n runs only that allocation (after the free run), to debug it. */
    long only = getenv("GOLDEN_TORTURE_N") ? atol(getenv("GOLDEN_TORTURE_N")) : 0;
    for (long n = 0; n == 0 || n <= total; n++) {
        if (only && n && n != only)
            continue;
        struct run r;
        long before = torture_alloc_live();
        init_run(&r, c);
        torture_alloc_arm(n);
        run_request(&r, &rq);
        long used = torture_alloc_disarm();
        if (n == 0) {
            compare_request(&r); /* the first run allocates freely and must be right */
            total = used;
        } else {
            check_clean(&r, n);
        }
        finish(&r);
        json_decref(r.t.sent);
        if (torture_alloc_live() != before)
            TEST_FAIL_("%s, allocation %ld: %ld blocks leaked", about, n,
                       torture_alloc_live() - before);
    }
    printf("torture: %-50s %ld allocations, each failed in turn\n", about, total);
    torture_free(rq.body);
}

int main(int argc, char **argv) {
    int tort = argc == 3 && !strcmp(argv[1], "--torture");
    if (argc != 2 && !tort) {
        fprintf(stderr, "usage: %s [--torture] FILE\n", argv[0]);
        return 2;
    }
    /* Before any allocation: every block then carries the header the hooks expect. */
    torture_alloc_install();
    json_error_t e;
    json_t *cases = json_load_file(argv[argc - 1], 0, &e);
    if (!json_is_array(cases)) {
        fprintf(stderr, "%s:%d: %s\n", argv[argc - 1], e.line, e.text);
        return 1;
    }
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const char *about = sopt(c, "about") ? sopt(c, "about") : "(no about)";
        fprintf(stderr, "case %zu: %s\n", i, about);
        if (tort)
            torture(c, about);
        else
            golden(c);
    }
    size_t n = json_array_size(cases);
    json_decref(cases);
    if (torture_alloc_live())
        TEST_FAIL_("%ld blocks still allocated at exit", torture_alloc_live());
    printf("%zu cases passed\n", n);
    return 0;
}
