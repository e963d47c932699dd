/* SPDX-License-Identifier: MIT */
/* The helpers every layer shares, one of each: the query-string and cookie getters, the UTF-8 cut,
 * the environment loader and the host's error-code to HTTP status mapping; and the poll
 * answer's error text, which leans on the UTF-8 cut. */
#include "fmacros.h"

#include <string.h>

#include <jansson.h>

#include <inngest/inngest.h>

#include "host/routes.h"
#include "testutil.h"

static int query(const char *url, const char *name, char *out, size_t n) {
    inngest_http_request req = {.method = "GET", .url = url};
    return inngest_http_request_query(&req, name, out, n);
}

TEST_CASE(query_getter) {
    char v[16];
    CHECK_EQ_INT(query("/x?a=1&eventId=01AB%2Bc+d&b", "eventId", v, sizeof(v)), 1);
    CHECK_STR(v, "01AB+c d");
    CHECK_EQ_INT(query("/x?a=1&b", "b", v, sizeof(v)), 1); /* present, empty */
    CHECK_STR(v, "");
    CHECK_EQ_INT(query("/x?ab=1", "a", v, sizeof(v)), 0);
    CHECK_EQ_INT(query("/x", "a", v, sizeof(v)), 0);
    CHECK_EQ_INT(query("/x?a=1234567890123456", "a", v, sizeof(v)), -1); /* does not fit */
    CHECK_EQ_INT(query("/x?a=123456789012345", "a", v, sizeof(v)), 1); /* fits exactly */
    CHECK_EQ_INT(query("/x?a=%zz", "a", v, sizeof(v)), -1);      /* bad encoding */
    CHECK_EQ_INT(query("/x?a=%4", "a", v, sizeof(v)), -1);
}

static int cookie(const char *const *values, size_t n, const char *name, char *out, size_t len) {
    inngest_header h[4];
    for (size_t i = 0; i < n; i++)
        h[i] = (inngest_header){.name = i % 2 ? "cookie" : "Cookie", .value = values[i]};
    inngest_http_request req = {.method = "GET", .url = "/", .headers = h, .header_count = n};
    return inngest_http_request_cookie(&req, name, out, len);
}

TEST_CASE(cookie_getter) {
    char v[16];
    const char *one[] = {"theme=dark;  sid=a%2Bb ;;x=;y"};
    CHECK_EQ_INT(cookie(one, 1, "sid", v, sizeof(v)), 1);
    CHECK_STR(v, "a%2Bb "); /* as sent: no decoding, nothing trimmed at the end */
    CHECK_EQ_INT(cookie(one, 1, "theme", v, sizeof(v)), 1);
    CHECK_STR(v, "dark");
    CHECK_EQ_INT(cookie(one, 1, "x", v, sizeof(v)), 1); /* present, empty */
    CHECK_STR(v, "");
    CHECK_EQ_INT(cookie(one, 1, "y", v, sizeof(v)), 0); /* a bare name is no cookie */
    CHECK_EQ_INT(cookie(one, 1, "the", v, sizeof(v)), 0);
    CHECK_EQ_INT(cookie(one, 1, "dark", v, sizeof(v)), 0);
    const char *two[] = {"a=1", "b=123456789012345"};
    CHECK_EQ_INT(cookie(two, 2, "b", v, 15), -1); /* in the second header; too long */
    CHECK_EQ_INT(cookie(two, 2, "b", v, sizeof(v)), 1);
    CHECK_STR(v, "123456789012345");
    CHECK_EQ_INT(cookie(two, 0, "a", v, sizeof(v)), 0);
}

TEST_CASE(utf8_cut) {
    const char *s = "a\xc3\xa9\xe2\x82\xac"; /* a, é (2 bytes), € (3 bytes) */
    CHECK_EQ_INT(inngest_utf8_cut(s, 6, 10), 6);
    CHECK_EQ_INT(inngest_utf8_cut(s, 6, 6), 6);
    CHECK_EQ_INT(inngest_utf8_cut(s, 6, 5), 3); /* inside € */
    CHECK_EQ_INT(inngest_utf8_cut(s, 6, 4), 3);
    CHECK_EQ_INT(inngest_utf8_cut(s, 6, 3), 3);
    CHECK_EQ_INT(inngest_utf8_cut(s, 6, 2), 1); /* inside é */
    CHECK_EQ_INT(inngest_utf8_cut(s, 6, 0), 0);
}

TEST_CASE(poll_error_is_valid_utf8) {
    /* A failed run whose message is long and made of 2-byte characters: the poll answer's
     * error is cut on a character boundary, so it stays a string. */
    char msg[2001];
    for (int i = 0; i < 1000; i++)
        memcpy(msg + 2 * i, "\xc3\xa9", 2);
    msg[2000] = '\0';
    json_t *runs = json_pack("{s:[{s:s,s:s,s:{s:s}}]}", "data", "status", "Failed", "run_id",
                             "01RUN", "output", "message", msg);
    CHECK(runs != NULL);
    json_t *out = host_poll_result(runs, NULL);
    CHECK(out != NULL);
    CHECK(json_is_true(json_object_get(out, "completed")));
    const char *err = json_string_value(json_object_get(out, "error"));
    CHECK(err != NULL);
    if (err) {
        CHECK(!strncmp(err, "the run failed: \xc3\xa9", 18));
        CHECK(strlen(err) < 620);
    }
    json_decref(out);
    json_decref(runs);
}

TEST_CASE(error_status) {
    CHECK_EQ_INT(host_error_status(INNGEST_EMISMATCH, 0, 0), 409);
    CHECK_EQ_INT(host_error_status(INNGEST_EMISMATCH, 0, 1), 409);
    CHECK_EQ_INT(host_error_status(INNGEST_EHTTP, 0, 1), 503);
    CHECK_EQ_INT(host_error_status(INNGEST_ETIMEOUT, 0, 0), 503);
    CHECK_EQ_INT(host_error_status(INNGEST_EUPSTREAM, 429, 1), 503);
    CHECK_EQ_INT(host_error_status(INNGEST_EUPSTREAM, 500, 1), 502);
    CHECK_EQ_INT(host_error_status(INNGEST_EPARSE, 200, 1), 502);
    CHECK_EQ_INT(host_error_status(INNGEST_EPARSE, 0, 0), 400);
    CHECK_EQ_INT(host_error_status(INNGEST_EINVAL, 0, 0), 400);
    CHECK_EQ_INT(host_error_status(INNGEST_ENOMEM, 0, 1), 500);
    CHECK_EQ_INT(host_error_status(INNGEST_EINTERNAL, 0, 0), 500);
}

static const char *fake_env(void *user, const char *name) {
    const char *const *kv = user;
    for (; kv[0]; kv += 2)
        if (!strcmp(kv[0], name))
            return kv[1];
    return NULL;
}

TEST_CASE(env_loader) {
    static const char *const env[] = {"N",    "42",     "BAD",  "4x",  "EMPTY", "",
                                      "HIGH", "51",     "MODE", "run", "ODD",   "walk",
                                      "YES",  " TRUE ", "NO",   "0",   NULL};
    void *u = (void *)env;
    inngest_error err;
    long v;
    CHECK(!inngest_env_get(fake_env, u, "EMPTY")); /* empty is unset */
    CHECK_STR(inngest_env_get(fake_env, u, "N"), "42");
    CHECK_EQ_INT(inngest_env_long(fake_env, u, "N", 5, 1, 50, &v, &err), INNGEST_OK);
    CHECK_EQ_INT(v, 42);
    CHECK_EQ_INT(inngest_env_long(fake_env, u, "EMPTY", 5, 1, 50, &v, &err), INNGEST_OK);
    CHECK_EQ_INT(v, 5);
    CHECK_EQ_INT(inngest_env_long(fake_env, u, "BAD", 5, 1, 50, &v, &err), INNGEST_ECONFIG);
    CHECK_STR(err.message, "BAD must be a whole number from 1 to 50, not \"4x\"");
    CHECK_EQ_INT(inngest_env_long(fake_env, u, "HIGH", 5, 1, 50, &v, &err), INNGEST_ECONFIG);
    static const char *const modes[] = {"infer", "run", NULL};
    int m;
    CHECK_EQ_INT(inngest_env_choice(fake_env, u, "MODE", modes, -1, &m, &err), INNGEST_OK);
    CHECK_EQ_INT(m, 1);
    CHECK_EQ_INT(inngest_env_choice(fake_env, u, "NONE", modes, -1, &m, &err), INNGEST_OK);
    CHECK_EQ_INT(m, -1);
    CHECK_EQ_INT(inngest_env_choice(fake_env, u, "ODD", modes, -1, &m, &err), INNGEST_ECONFIG);
    CHECK_STR(err.message, "ODD must be one of infer, run, not \"walk\"");
    int b = -1;
    CHECK_EQ_INT(inngest_env_bool(fake_env, u, "YES", 0, &b, &err), INNGEST_OK);
    CHECK_EQ_INT(b, 1);
    CHECK_EQ_INT(inngest_env_bool(fake_env, u, "NO", 1, &b, &err), INNGEST_OK);
    CHECK_EQ_INT(b, 0);
    CHECK_EQ_INT(inngest_env_bool(fake_env, u, "EMPTY", 1, &b, &err), INNGEST_OK);
    CHECK_EQ_INT(b, 1);
    CHECK_EQ_INT(inngest_env_bool(fake_env, u, "ODD", 1, &b, &err), INNGEST_ECONFIG);
    CHECK_STR(err.message, "ODD must be true, false, 1 or 0, not \"walk\"");
}
