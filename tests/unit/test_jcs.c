/* SPDX-License-Identifier: MIT */
/* JSON canonicalization (RFC 8785) and Inngest time strings. */
#include "fmacros.h"

#include "core/jcs.h"
#include "core/proto.h"
#include "testutil.h"

static void check_jcs(const char *input, const char *expected) {
    json_t *v = json_loads(input, JSON_DECODE_ANY, NULL);
    CHECK(v);
    size_t len;
    char *out = ing_jcs_dump(v, &len);
    CHECK_STR(out, expected);
    CHECK_EQ_INT(len, strlen(expected));
    free(out);
    json_decref(v);
}

TEST_CASE(canonical_vectors) {
    /* The vectors the official SDK's canonicalizer produced. */
    check_jcs("{\n  \"b\": 1.0,\n  \"a\": \"caf\xc3\xa9\\u001f/\",\n  \"c\": [1e21, 0.1, 100, -0]\n}",
              "{\"a\":\"caf\xc3\xa9\\u001f/\",\"b\":1,\"c\":[1e+21,0.1,100,0]}");
    check_jcs("{\"z\":{\"y\":true,\"x\":null},\"a\":[],\"\xc3\xa9\":\"<>&\"}",
              "{\"a\":[],\"z\":{\"x\":null,\"y\":true},\"\xc3\xa9\":\"<>&\"}");
}

TEST_CASE(keys_sort_by_utf16_code_units) {
    /* U+20AC, U+1F600 (a surrogate pair, D83D DE00) and U+FB33: UTF-16 order differs from
     * UTF-8 byte order. */
    check_jcs("{\"\\ufb33\":3,\"\\ud83d\\ude00\":2,\"\\u20ac\":1}",
              "{\"\xe2\x82\xac\":1,\"\xf0\x9f\x98\x80\":2,\"\xef\xac\xb3\":3}");
}

TEST_CASE(string_escapes) {
    check_jcs("\"\\b\\f\\n\\r\\t\\\"\\\\\\u0001\\u007f/\"", "\"\\b\\f\\n\\r\\t\\\"\\\\\\u0001\x7f/\"");
}

static void check_num(double d, const char *expected) {
    char out[32];
    ing_jcs_format_double(d, out);
    CHECK_STR(out, expected);
}

TEST_CASE(ecmascript_numbers) {
    check_num(0.0, "0");
    check_num(-0.0, "0");
    check_num(1e21, "1e+21");
    check_num(1e20, "100000000000000000000");
    check_num(123456789012345680000.0, "123456789012345680000");
    check_num(0.000001, "0.000001");
    check_num(1e-7, "1e-7");
    check_num(0.1 + 0.2, "0.30000000000000004");
    check_num(5e-324, "5e-324");
    check_num(1.7976931348623157e308, "1.7976931348623157e+308");
    check_num(-1.5, "-1.5");
    check_num(333333333.33333329, "333333333.3333333");
    check_jcs("[9007199254740993, -9007199254740993, 9007199254740992]",
              "[9007199254740992,-9007199254740992,9007199254740992]");
}

TEST_CASE(durations) {
    static const struct {
        int64_t ms;
        const char *s;
    } v[] = {{1000, "1s"},        {90000, "1m30s"},     {5400000, "1h30m"},
             {90061000, "1d1h1m1s"}, {604800000, "1w"}, {500, "1s"}, {0, "0s"}};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char out[64];
        ing_duration_format(v[i].ms, out);
        CHECK_STR(out, v[i].s);
    }
    int64_t ms;
    CHECK_EQ_INT(ing_duration_parse("1h30m", &ms), INNGEST_OK);
    CHECK_EQ_INT(ms, 5400000);
    CHECK_EQ_INT(ing_duration_parse("1d1h1m1s", &ms), INNGEST_OK);
    CHECK_EQ_INT(ms, 90061000);
    CHECK_EQ_INT(ing_duration_parse("250ms", &ms), INNGEST_OK);
    CHECK_EQ_INT(ms, 250);
    CHECK_EQ_INT(ing_duration_parse("1.5h", &ms), INNGEST_OK);
    CHECK_EQ_INT(ms, 5400000);
    CHECK_EQ_INT(ing_duration_parse("", &ms), INNGEST_EINVAL);
    CHECK_EQ_INT(ing_duration_parse("10", &ms), INNGEST_EINVAL);
    CHECK_EQ_INT(ing_duration_parse("2 days", &ms), INNGEST_EINVAL);
    CHECK_EQ_INT(ing_duration_parse("-1s", &ms), INNGEST_EINVAL);
    CHECK_EQ_INT(ing_duration_parse("1y", &ms), INNGEST_EINVAL);
}

TEST_CASE(rfc3339) {
    CHECK(ing_rfc3339_valid("2030-01-01T00:00:00Z"));
    CHECK(ing_rfc3339_valid("2030-01-01T00:00:00.000Z"));
    CHECK(ing_rfc3339_valid("2030-01-01T00:00:00+02:00"));
    CHECK(!ing_rfc3339_valid("2030-01-01 00:00:00Z"));
    CHECK(!ing_rfc3339_valid("2030-13-01T00:00:00Z"));
    CHECK(!ing_rfc3339_valid("2030-01-01T00:00:00"));
    CHECK(!ing_rfc3339_valid("tomorrow"));
    char out[32];
    ing_iso_time(1893456000123LL, out);
    CHECK_STR(out, "2030-01-01T00:00:00.123Z");
}

/* The fast path of the call parser: what it accepts parses as jansson parses it (the same
 * compact text, keys in order); everything else is left to jansson (NULL). */
static void check_simple(const char *input, int accepted) {
    json_t *fast = ing_json_load_simple(input, strlen(input));
    CHECK_EQ_INT(fast != NULL, accepted);
    if (fast) {
        json_t *ref = json_loads(input, JSON_REJECT_DUPLICATES, NULL);
        CHECK(ref);
        char *a = json_dumps(fast, JSON_COMPACT), *b = json_dumps(ref, JSON_COMPACT);
        CHECK_STR(a, b);
        free(a);
        free(b);
        json_decref(ref);
        json_decref(fast);
    }
}

TEST_CASE(simple_json_fast_path) {
    check_simple(" {\"z\":1,\"a\":[-0,0,-12,123456789012345678,true,false,null],\"\":{}}\r\n", 1);
    check_simple("[{\"caf\xc3\xa9\":\"\xe2\x82\xac\xf0\x9f\x98\x80\"},[],\"\"]", 1);
    check_simple("{\"a\" : { \"b\" :\t[ 1 , 2 ] } }", 1);
    /* Left to jansson: escapes, reals, long integers, leading zeros, duplicate keys,
     * invalid UTF-8 (overlong, surrogate), control characters, scalars at the top,
     * trailing text, truncation. */
    const char *fallback[] = {"{\"a\":\"x\\ny\"}",
                              "{\"a\":1.5}",
                              "{\"a\":1e3}",
                              "{\"a\":1234567890123456789}",
                              "{\"a\":01}",
                              "{\"a\":-}",
                              "{\"a\":1,\"a\":2}",
                              "{\"a\":\"\xc0\xaf\"}",
                              "{\"a\":\"\xed\xa0\x80\"}",
                              "{\"a\":\"\x01\"}",
                              "1",
                              "\"s\"",
                              "{} x",
                              "{\"a\":[1,2}",
                              "{\"a\":tru}",
                              "{\"a\":1,}",
                              "[1,]",
                              "",
                              "{\"a\""};
    for (size_t i = 0; i < sizeof(fallback) / sizeof(fallback[0]); i++)
        check_simple(fallback[i], 0);
    /* Deeper than 64 levels: jansson's. */
    char deep[200];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    json_t *v = ing_json_load_simple(deep, sizeof(deep));
    CHECK(v == NULL);
}

TEST_CASE(call_parse_errors_still_come_from_jansson) {
    struct ing_call call;
    inngest_error err;
    inngest_error_clear(&err);
    const char *dup = "{\"steps\":{},\"steps\":{}}";
    CHECK_EQ_INT(ing_call_parse(dup, strlen(dup), &call, &err), INNGEST_EPARSE);
    CHECK(strstr(err.message, "duplicate object key") != NULL);
    CHECK(call.root == NULL);
}
