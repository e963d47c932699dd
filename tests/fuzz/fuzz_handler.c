/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the whole serve endpoint, inngest_app_handle(), as a request from outside
 * reaches it. Input, HTTP-like:
 *
 *     METHOD TARGET\n
 *     Header-Name: value\n      (any number of lines, up to 32)
 *     \n
 *     body bytes (to the end)
 *
 * Each request goes to two apps with the same functions: one in dev mode (nothing is
 * verified, so calls reach the step engine) and one in cloud mode (signatures, the
 * canonical re-encoding path, signed introspection). The functions use every kind of step,
 * repeated ids, ids taken from the event, parallel groups, failures and onFailure.
 * Outbound calls go to a fake transport with fixed answers; the clock is fixed; an observer
 * (the metrics hook) reads every string it is handed.
 * Properties: inngest_app_handle() returns INNGEST_OK (memory never runs out here), a status
 * in 200..599, the SDK header on every answer, and a non-empty JSON body on every answer
 * but a passed trust probe. Every 2xx answer of the cloud-mode app is signed: its
 * X-Inngest-Signature is "t=<now>&s=<hex>", s being HMAC-SHA256 over body || t with the key
 * text after "signkey-<env>-", recomputed here with OpenSSL rather than the SDK's code (an
 * unsigned 2xx would mean a request got through without being verified, or an answer the
 * server cannot authenticate). Two unsigned 2xx answers are allowed: the spec's
 * unauthenticated introspection of a GET whose signature did not verify
 * (authentication_succeeded false or null, and only the public fields), and the answer to
 * an out-of-band PUT sync, which the server sends unsigned ({message, modified} only; the
 * app proved itself to the server with its key on /fn/register). Any answer that carries a
 * signature, whatever its status, must verify.
 */
#include "fmacros.h"

#include <string.h>

#include <inngest/inngest.h>
#include <openssl/evp.h>

#include "fuzz.h"

#define KEY   "signkey-test-8ee2262a15e8d3c42d6a840db7af3de2aab08ef632b32a37a687f24b34dba3ff"
#define NOW_S 1732400000LL

/* ---- outside world: fixed clock, no environment, canned API answers ------------------- */

static int64_t clock_ms(void *user) {
    (void)user;
    return NOW_S * 1000;
}

static const char *env_none(void *user, const char *name) {
    (void)user;
    (void)name;
    return NULL;
}

static int fake_send(inngest_transport *self, const inngest_http_request *req,
                     inngest_http_response *res, inngest_error *err) {
    (void)self;
    (void)err;
    const char *url = req->url ? req->url : "";
    const char *body = "{\"ok\":true,\"modified\":true}";
    if (strstr(url, "/batch"))
        body = "[{\"name\":\"fuzz/api\",\"data\":{\"n\":3,\"from\":\"api\"}}]";
    else if (strstr(url, "/actions"))
        body = "{\"0f7bbd9e2ad50cf0a2b1a8ff3c9fd7a8fc1b5e3e\":{\"data\":1}}";
    else if (strstr(url, "/e/"))
        body = "{\"ids\":[\"01FUZZEVENT\"],\"status\":200}";
    res->status = 200;
    return inngest_http_response_set_body(res, body, strlen(body));
}

static inngest_transport fake_transport = {.send = fake_send, .destroy = NULL};

/* ---- functions ---------------------------------------------------------------------------- */

static json_t *data_field(inngest_ctx *ctx, const char *name) {
    return json_object_get(json_object_get(inngest_ctx_event(ctx), "data"), name);
}

static int fn_echo(inngest_ctx *ctx, json_t **result) {
    *result = json_pack("{s:O}", "got", inngest_ctx_event(ctx));
    return INNGEST_OK;
}

static int step_value(inngest_ctx *ctx, void *arg, json_t **out, inngest_error *err) {
    (void)ctx;
    if (arg && json_is_true(json_object_get(arg, "fail"))) {
        err->no_retry = json_is_true(json_object_get(arg, "no_retry"));
        snprintf(err->retry_after, sizeof(err->retry_after), "%s",
                 json_is_string(json_object_get(arg, "retry_after"))
                     ? json_string_value(json_object_get(arg, "retry_after"))
                     : "");
        return inngest_error_set(err, INNGEST_EFUNCTION, "step failed on purpose");
    }
    *out = arg ? json_deep_copy(arg) : json_string("value");
    return INNGEST_OK;
}

/* Every kind of step, with ids and arguments partly taken from the event. */
static int fn_steps(inngest_ctx *ctx, json_t **result) {
    json_t *data = json_object_get(inngest_ctx_event(ctx), "data");
    json_t *a = NULL, *b = NULL;
    INNGEST_STEP(inngest_step_run(ctx, "first", step_value, data, &a));
    int rc = inngest_step_run_named(ctx, "second", "The second step", step_value, NULL, &b);
    if (rc == INNGEST_ESTEP && json_is_true(data_field(ctx, "catch")))
        b = NULL; /* handled */
    else if (rc != INNGEST_OK)
        return rc;

    json_t *id = data_field(ctx, "id");
    if (json_is_string(id))
        INNGEST_STEP(inngest_step_run(ctx, json_string_value(id), step_value, NULL, NULL));

    json_t *n = data_field(ctx, "n");
    json_int_t loops = json_is_integer(n) ? json_integer_value(n) : 2;
    for (json_int_t i = 0; i < loops && i < 40; i++)
        INNGEST_STEP(inngest_step_run(ctx, "loop", step_value, NULL, NULL));

    json_t *d = data_field(ctx, "sleep");
    INNGEST_STEP(inngest_step_sleep(ctx, "nap", json_is_string(d) ? json_string_value(d) : "1m"));
    json_t *until = data_field(ctx, "until");
    if (json_is_string(until))
        INNGEST_STEP(inngest_step_sleep_until(ctx, "until", json_string_value(until)));
    INNGEST_STEP(inngest_step_sleep_ms(ctx, "nap-ms", 1500));

    json_t *ev = NULL;
    inngest_wait_opts w = {.event = "fuzz/approved", .timeout = "1h", .match = "data.id"};
    INNGEST_STEP(inngest_step_wait_for_event(ctx, "wait", &w, &ev));

    json_t *inv = NULL;
    rc = inngest_step_invoke(ctx, "invoke", "fuzz-app-echo", data ? data : json_null(), NULL, &inv);
    if (rc != INNGEST_OK && rc != INNGEST_ESTEP)
        return rc;

    json_t *ids = NULL;
    json_t *events = json_pack("{s:s,s:O}", "name", "fuzz/sent", "data", data ? data : json_null());
    rc = inngest_step_send_event(ctx, "send", events, &ids);
    json_decref(events);
    INNGEST_STEP(rc);

    json_t *ai = NULL;
    json_t *ai_body =
        json_pack("{s:s,s:[{s:s,s:s}]}", "model", "m", "messages", "role", "user", "content", "hi");
    inngest_ai_infer_opts ao = {.url = "http://127.0.0.1:1/v1/chat/completions", .body = ai_body};
    rc = inngest_step_ai_infer(ctx, "infer", &ao, &ai);
    json_decref(ai_body);
    if (rc != INNGEST_OK && rc != INNGEST_ESTEP)
        return rc;

    json_t *p1 = NULL, *p2 = NULL;
    inngest_parallel_begin(ctx);
    int r1 = inngest_step_run(ctx, "par-a", step_value, NULL, &p1);
    int r2 = inngest_step_run(ctx, "par-b", step_value, NULL, &p2);
    INNGEST_STEP(inngest_parallel_end(ctx));
    if (r1 != INNGEST_OK || r2 != INNGEST_OK)
        return r1 != INNGEST_OK ? r1 : r2;

    if (json_is_true(data_field(ctx, "fail")))
        return inngest_ctx_fail(
            ctx, json_is_true(data_field(ctx, "no_retry")) ? INNGEST_FAIL_NO_RETRY : 0,
            "failed on purpose: %s",
            json_string_value(data_field(ctx, "why")) ? json_string_value(data_field(ctx, "why"))
                                                      : "no reason");
    *result = json_pack("{s:O?,s:O?,s:O?,s:O?,s:O?,s:O?}", "a", a, "b", b, "ev", ev, "inv", inv,
                        "ids", ids, "ai", ai);
    return INNGEST_OK;
}

static int fn_on_failure(inngest_ctx *ctx, json_t **result) {
    *result = json_pack("{s:O}", "handled", inngest_ctx_event(ctx));
    return INNGEST_OK;
}

/* The metrics hook: reads every string it is given, so that a dangling one is caught. */
static size_t observed;
static void observe(void *user, const char *kind, const char *function_slug, int status,
                    const char *ops) {
    (void)user;
    observed += strlen(kind) + (function_slug ? strlen(function_slug) : 0) +
                (ops ? strlen(ops) : 0) + (size_t)status;
}

static inngest_app *make_app(inngest_mode mode) {
    inngest_app_opts o = {.app_id = "fuzz-app",
                          .mode = mode,
                          .transport = &fake_transport,
                          .now_ms_fn = clock_ms,
                          .getenv_fn = env_none,
                          .max_body_bytes = 1u << 20};
    if (mode == INNGEST_MODE_CLOUD) {
        o.signing_key = KEY;
        o.event_key = "fuzz-event-key";
        o.env = "fuzz-branch";
        o.base_url = "http://127.0.0.1:1";
    }
    inngest_app *app = inngest_app_create(&o, NULL);
    FUZZ_ASSERT(app != NULL);
    inngest_function *echo = inngest_function_create("echo", fn_echo, NULL);
    FUZZ_ASSERT(echo && inngest_function_add_event_trigger(echo, "fuzz/echo", NULL) == 0);
    FUZZ_ASSERT(inngest_app_add_function(app, echo) == INNGEST_OK);
    inngest_function *steps = inngest_function_create("steps", fn_steps, NULL);
    FUZZ_ASSERT(steps && inngest_function_add_event_trigger(steps, "fuzz/steps", NULL) == 0);
    FUZZ_ASSERT(inngest_function_set_retries(steps, 2) == INNGEST_OK);
    FUZZ_ASSERT(inngest_function_set_on_failure(steps, fn_on_failure) == INNGEST_OK);
    FUZZ_ASSERT(inngest_app_add_function(app, steps) == INNGEST_OK);
    inngest_app_set_observer(app, observe, NULL);
    inngest_app_freeze(app);
    return app;
}

static inngest_app *dev_app, *cloud_app;
static int verbose; /* FUZZ_VERBOSE=1: print each answer (to check what seeds reach) */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    dev_app = make_app(INNGEST_MODE_DEV);
    cloud_app = make_app(INNGEST_MODE_CLOUD);
    verbose = getenv("FUZZ_VERBOSE") && *getenv("FUZZ_VERBOSE") == '1';
    return 0;
}

/* ---- input splitting ---------------------------------------------------------------------- */

#define MAX_HEADERS 32

/* Copies `len` bytes into a new NUL-terminated string. */
static char *dup_n(const uint8_t *p, size_t len) {
    char *s = malloc(len + 1);
    if (s) {
        memcpy(s, p, len);
        s[len] = '\0';
    }
    return s;
}

/* The next line of [*p, end): returns its length and moves *p past the newline. */
static size_t next_line(const uint8_t **p, const uint8_t *end, const uint8_t **line) {
    *line = *p;
    const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
    size_t len = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
    *p = nl ? nl + 1 : end;
    return len;
}

static void check_response(const inngest_http_response *res, const char *target) {
    FUZZ_ASSERT(res->status >= 200 && res->status <= 599);
    FUZZ_ASSERT(res->body != NULL && res->body[res->body_len] == '\0');
    FUZZ_ASSERT(inngest_http_response_header(res, "X-Inngest-SDK") != NULL);
    /* Only a passed trust probe answers with an empty body; everything else says why. */
    if (!res->body_len && !(res->status == 200 && target && strstr(target, "probe=")))
        fprintf(stderr, "status %d with an empty body\n", res->status);
    FUZZ_ASSERT(res->body_len || (res->status == 200 && target && strstr(target, "probe=")));
    if (res->body_len) {
        json_t *j = json_loadb(res->body, res->body_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        if (!j)
            fprintf(stderr, "status %d body is not JSON: %.*s\n", res->status,
                    (int)(res->body_len > 300 ? 300 : res->body_len), res->body);
        FUZZ_ASSERT(j != NULL);
        json_decref(j);
    }
}

/* True for the unauthenticated introspection body: a JSON object with
 * authentication_succeeded false or null and no field beyond the public ones. */
static int unauthenticated_introspection(const char *method, const inngest_http_response *res) {
    static const char *public_fields[] = {"extra", "has_event_key", "has_signing_key",
                                          "function_count", "mode", "schema_version",
                                          "authentication_succeeded", "has_signing_key_fallback"};
    if (!method || strcmp(method, "GET") != 0)
        return 0;
    json_t *j = json_loadb(res->body, res->body_len, 0, NULL);
    int ok = json_is_object(j);
    json_t *auth = ok ? json_object_get(j, "authentication_succeeded") : NULL;
    ok = ok && (json_is_false(auth) || json_is_null(auth));
    const char *k;
    json_t *v;
    if (ok) {
        json_object_foreach(j, k, v) {
            int known = 0;
            for (size_t i = 0; i < sizeof public_fields / sizeof *public_fields; i++)
                known |= strcmp(k, public_fields[i]) == 0;
            if (!known) {
                fprintf(stderr, "cloud app: unsigned introspection has field %s\n", k);
                ok = 0;
            }
        }
    }
    json_decref(j);
    return ok;
}

/* True for the answer to an out-of-band PUT sync: an object with message and modified. */
static int out_of_band_sync_answer(const char *method, const inngest_http_response *res) {
    if (!method || strcmp(method, "PUT") != 0)
        return 0;
    json_t *j = json_loadb(res->body, res->body_len, 0, NULL);
    int ok = json_is_object(j) && json_object_size(j) == 2 &&
             json_is_string(json_object_get(j, "message")) &&
             json_is_boolean(json_object_get(j, "modified"));
    json_decref(j);
    return ok;
}

/* An answer of the cloud-mode app: a 2xx must be signed (but for the two exceptions), and
 * any signature must verify over the body. */
static void check_signed(const char *method, const inngest_http_response *res) {
    const char *h = inngest_http_response_header(res, "X-Inngest-Signature");
    int ok2xx = res->status >= 200 && res->status <= 299;
    if (!h && (!ok2xx || unauthenticated_introspection(method, res) ||
               out_of_band_sync_answer(method, res)))
        return;
    if (!h)
        fprintf(stderr, "cloud app: status %d without X-Inngest-Signature: %.*s\n", res->status,
                (int)(res->body_len > 300 ? 300 : res->body_len), res->body);
    FUZZ_ASSERT(h != NULL);
    long long t = 0;
    char s[65] = "";
    int n = 0;
    FUZZ_ASSERT(sscanf(h, "t=%lld&s=%64[0-9a-f]%n", &t, s, &n) == 2 && h[n] == '\0');
    FUZZ_ASSERT(strlen(s) == 64 && t == NOW_S);
    const char *key = &KEY[sizeof("signkey-test-") - 1];
    char tbuf[24];
    int tl = snprintf(tbuf, sizeof tbuf, "%lld", t);
    size_t mlen = res->body_len + (size_t)tl;
    unsigned char *msg = malloc(mlen);
    FUZZ_ASSERT(msg != NULL);
    memcpy(msg, res->body, res->body_len);
    memcpy(msg + res->body_len, tbuf, (size_t)tl);
    unsigned char mac[32];
    size_t mac_len = 0;
    FUZZ_ASSERT(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, strlen(key), msg, mlen, mac,
                          sizeof mac, &mac_len) != NULL &&
                mac_len == sizeof mac);
    free(msg);
    char hex[65];
    for (size_t i = 0; i < sizeof mac; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    if (strcmp(hex, s) != 0)
        fprintf(stderr, "cloud app: status %d signed %s, expected s=%s\n", res->status, h, hex);
    FUZZ_ASSERT(strcmp(hex, s) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dev_app)
        LLVMFuzzerInitialize(NULL, NULL);
    const uint8_t *p = data, *end = data + size, *line;
    size_t len = next_line(&p, end, &line);
    const uint8_t *sp = memchr(line, ' ', len);
    char *method = dup_n(line, sp ? (size_t)(sp - line) : len);
    char *target = sp ? dup_n(sp + 1, len - (size_t)(sp + 1 - line)) : NULL;

    char *names[MAX_HEADERS], *values[MAX_HEADERS];
    inngest_header headers[MAX_HEADERS];
    size_t nh = 0;
    while (p < end) {
        len = next_line(&p, end, &line);
        if (len == 0)
            break; /* blank line: the body follows */
        if (nh == MAX_HEADERS)
            continue;
        const uint8_t *colon = memchr(line, ':', len);
        size_t nlen = colon ? (size_t)(colon - line) : len;
        const uint8_t *v = colon ? colon + 1 : line + len;
        while (v < line + len && *v == ' ')
            v++;
        names[nh] = dup_n(line, nlen);
        values[nh] = dup_n(v, (size_t)(line + len - v));
        headers[nh] = (inngest_header){names[nh], values[nh]};
        nh++;
    }
    size_t body_len = (size_t)(end - p);
    char *body = body_len ? malloc(body_len) : NULL; /* exact size: overreads are caught */
    if (body)
        memcpy(body, p, body_len);

    inngest_http_request req = {.method = method,
                                .url = target,
                                .headers = headers,
                                .header_count = nh,
                                .body = body,
                                .body_len = body ? body_len : 0};
    inngest_app *apps[2] = {dev_app, cloud_app};
    for (int i = 0; i < 2; i++) {
        inngest_http_response res = {0};
        int rc = inngest_app_handle(apps[i], &req, &res);
        FUZZ_ASSERT(rc == INNGEST_OK);
        check_response(&res, target);
        if (apps[i] == cloud_app)
            check_signed(method, &res);
        if (verbose)
            fprintf(stderr, "%s app: %d %.*s\n", i ? "cloud" : "dev", res.status,
                    (int)(res.body_len > 160 ? 160 : res.body_len), res.body);
        inngest_http_response_cleanup(&res);
    }

    for (size_t i = 0; i < nh; i++) {
        free(names[i]);
        free(values[i]);
    }
    free(body);
    free(method);
    free(target);
    return 0;
}
