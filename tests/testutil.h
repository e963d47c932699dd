/* SPDX-License-Identifier: MIT */
/*
 * A tiny test framework. Each test file defines cases with TEST_CASE(name); CMake
 * registers every case as its own CTest test (one process per case), by scanning the
 * source for TEST_CASE(...). Running the executable with no argument runs every case.
 * Checks print both sides and abort(), so a failure shows a clear message and a core.
 */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

typedef void (*testutil_fn)(void);
void testutil_register(const char *name, testutil_fn fn);

#define TEST_CASE(name)                                                                            \
    static void test_##name(void);                                                                 \
    __attribute__((constructor)) static void testutil_reg_##name(void) {                           \
        testutil_register(#name, test_##name);                                                     \
    }                                                                                              \
    static void test_##name(void)

#define TEST_FAIL_(...)                                                                            \
    do {                                                                                           \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                            \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        abort();                                                                                   \
    } while (0)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            TEST_FAIL_("check failed: %s", #cond);                                                 \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_)                                                                              \
            TEST_FAIL_("%s == %s: %lld != %lld", #a, #b, a_, b_);                                  \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                                     \
            TEST_FAIL_("%s == %s:\n  got:      %s\n  expected: %s", #a, #b, a_ ? a_ : "(null)",   \
                       b_ ? b_ : "(null)");                                                        \
    } while (0)

/* Compares two JSON values (json_equal), printing both as compact JSON on mismatch. */
#define CHECK_JSON_EQ(got, expected) testutil_check_json((got), (expected), #got, __FILE__, __LINE__)
void testutil_check_json(json_t *got, json_t *expected, const char *expr, const char *file,
                         int line);

/* CHECK_JSON_EQ against a JSON literal, which it parses and releases. */
#define CHECK_JSON_TEXT(got, text)                                                                 \
    do {                                                                                           \
        json_t *testutil_want_ = testutil_json(text);                                              \
        CHECK_JSON_EQ(got, testutil_want_);                                                        \
        json_decref(testutil_want_);                                                               \
    } while (0)

/* Parses a JSON literal or aborts; returns a new reference. */
json_t *testutil_json(const char *text);

/*
 * Sends `text` as is to 127.0.0.1:`port` on a fresh connection and reads until the server
 * closes it, or until the answer is complete when `until_answer` is set (a status line,
 * headers and Content-Length bytes of body). For requests an HTTP client will not send
 * (a Host of our choosing, a body that never comes). Each read waits at most 60 s, a guard
 * against a hung test, not a timing assertion. Returns the answer (malloc'd).
 */
char *testutil_raw_http(int port, const char *text, size_t len, int until_answer);

#endif
