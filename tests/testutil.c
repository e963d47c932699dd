/* SPDX-License-Identifier: MIT */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strcasestr */
#endif

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

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* Whether `buf` holds a whole answer: the head, then Content-Length bytes. */
static int answer_complete(const char *buf, size_t len) {
    const char *end = strstr(buf, "\r\n\r\n");
    if (!end)
        return 0;
    const char *cl = strcasestr(buf, "\r\nContent-Length:");
    size_t want = cl && cl < end ? (size_t)strtoul(cl + 17, NULL, 10) : 0;
    return len >= (size_t)(end + 4 - buf) + want;
}

char *testutil_raw_http(int port, const char *text, size_t len, int until_answer) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    struct timeval tv = {60, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    for (size_t off = 0; off < len;) {
        ssize_t n = send(fd, text + off, len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break; /* the server may answer and close before taking it all */
        off += (size_t)n;
    }
    size_t cap = 4096, got = 0;
    char *buf = malloc(cap);
    CHECK(buf);
    for (;;) {
        if (got + 1 >= cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            CHECK(buf);
        }
        ssize_t n = recv(fd, buf + got, cap - got - 1, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        buf[got] = '\0';
        if (until_answer && answer_complete(buf, got))
            break;
    }
    buf[got] = '\0';
    close(fd);
    return buf;
}
