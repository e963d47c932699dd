/* SPDX-License-Identifier: MIT */
#include "testutil.h"

#define TESTUTIL_MAX 512

static struct {
    const char *name;
    testutil_fn fn;
} cases[TESTUTIL_MAX];
static int ncases;

void testutil_register(const char *name, testutil_fn fn) {
    if (ncases == TESTUTIL_MAX) {
        fprintf(stderr, "too many test cases\n");
        abort();
    }
    cases[ncases].name = name;
    cases[ncases].fn = fn;
    ncases++;
}

void testutil_check_json(json_t *got, json_t *expected, const char *expr, const char *file,
                         int line) {
    if (got && expected && json_equal(got, expected))
        return;
    char *g = got ? json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
    char *e =
        expected ? json_dumps(expected, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
    fprintf(stderr, "%s:%d: %s:\n  got:      %s\n  expected: %s\n", file, line, expr,
            g ? g : "(null)", e ? e : "(null)");
    abort();
}

json_t *testutil_json(const char *text) {
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!v) {
        fprintf(stderr, "bad JSON literal (%s): %s\n", jerr.text, text);
        abort();
    }
    return v;
}

/* Weak, so a test with a main of its own (test_golden.c) can still use the checks. */
__attribute__((weak)) int main(int argc, char **argv) {
    int ran = 0;
    for (int i = 0; i < ncases; i++) {
        if (argc > 1 && strcmp(argv[1], cases[i].name) != 0)
            continue;
        cases[i].fn();
        ran++;
    }
    if (argc > 1 && ran == 0) {
        fprintf(stderr, "no test case named %s\n", argv[1]);
        return 2;
    }
    printf("%d case(s) passed\n", ran);
    return 0;
}
