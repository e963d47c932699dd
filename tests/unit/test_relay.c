/* SPDX-License-Identifier: MIT */
/*
 * The token relay (src/host/relay.h): order, restart after a retried step, the per-key byte
 * limit, the key limit (finished keys make room first), the TTL, and a reader woken by a
 * writer on another thread.
 */
#include "fmacros.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

#include "host/relay.h"
#include "testutil.h"

static size_t read_now(host_relay *r, const char *key, host_relay_cursor *c, char *buf,
                       size_t cap, int *restart) {
    size_t n = host_relay_read(r, key, c, buf, cap - 1, 0, restart);
    buf[n] = '\0';
    return n;
}

TEST_CASE(text_in_order_and_restart) {
    host_relay *r = host_relay_create(4, 64, 1000);
    CHECK(r);
    char buf[128];
    int restart = 0;
    host_relay_cursor c = {0};
    CHECK_EQ_INT((int)read_now(r, "ev1", &c, buf, sizeof(buf), &restart), 0);
    host_relay_append(r, "ev1", "lost", 4); /* before begin: ignored */
    host_relay_begin(r, "ev1");
    host_relay_append(r, "ev1", "Green ", 6);
    host_relay_append(r, "ev1", "tea", 3);
    CHECK_EQ_INT((int)read_now(r, "ev1", &c, buf, sizeof(buf), &restart), 9);
    CHECK_STR(buf, "Green tea");
    CHECK_EQ_INT(restart, 0);
    CHECK_EQ_INT((int)read_now(r, "ev1", &c, buf, sizeof(buf), &restart), 0);
    /* A retried step begins again: the reader is told to start over. */
    host_relay_end(r, "ev1");
    host_relay_begin(r, "ev1");
    host_relay_append(r, "ev1", "Again", 5);
    CHECK_EQ_INT((int)read_now(r, "ev1", &c, buf, sizeof(buf), &restart), 5);
    CHECK_STR(buf, "Again");
    CHECK_EQ_INT(restart, 1);
    /* A key longer than 79 bytes is ignored, never truncated onto another. */
    char longkey[100];
    memset(longkey, 'k', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    host_relay_begin(r, longkey);
    host_relay_append(r, longkey, "x", 1);
    host_relay_cursor c2 = {0};
    CHECK_EQ_INT((int)read_now(r, longkey, &c2, buf, sizeof(buf), &restart), 0);
    host_relay_destroy(r);
}

#define APPLY(r, lit) host_relay_apply((r), (lit), sizeof(lit) - 1)

/* Messages from other replicas: applied only where they continue what is here; an offset
 * that would mean "wherever it is" (SIZE_MAX, or -1 read as it) or does not fit is refused. */
TEST_CASE(messages_from_other_replicas) {
    host_relay *r = host_relay_create(4, 64, 1000);
    char buf[128];
    int restart = 0;
    host_relay_cursor c = {0};
    CHECK_EQ_INT(APPLY(r, "b ev1"), 1);
    CHECK_EQ_INT(APPLY(r, "a 0 ev1\nGreen "), 1);
    CHECK_EQ_INT(APPLY(r, "a 0 ev1\nagain"), 1);   /* repeated: not where it continues */
    CHECK_EQ_INT(APPLY(r, "a 9 ev1\nlater"), 1);   /* a gap: not applied */
    CHECK_EQ_INT(APPLY(r, "a -1 ev1\nX"), 0);
    CHECK_EQ_INT(APPLY(r, "a 18446744073709551615 ev1\nX"), 0);
    CHECK_EQ_INT(APPLY(r, "a 99999999999999999999999 ev1\nX"), 0);
    CHECK_EQ_INT(APPLY(r, "a 6 ev1"), 0);            /* no text */
    CHECK_EQ_INT(APPLY(r, "a 6 ev1\n"), 0);
    CHECK_EQ_INT(APPLY(r, "a 6  ev1\nX"), 0);       /* empty key */
    CHECK_EQ_INT(APPLY(r, "x ev1"), 0);
    CHECK_EQ_INT(APPLY(r, "b"), 0);
    CHECK_EQ_INT(APPLY(r, "a 6 ev1\ntea"), 1);
    CHECK_EQ_INT((int)read_now(r, "ev1", &c, buf, sizeof(buf), &restart), 9);
    CHECK_STR(buf, "Green tea");
    CHECK_EQ_INT(APPLY(r, "e ev1"), 1);
    CHECK_EQ_INT(APPLY(r, "a 9 ev1\n!"), 1); /* after the end: not applied */
    CHECK_EQ_INT((int)read_now(r, "ev1", &c, buf, sizeof(buf), &restart), 0);
    host_relay_destroy(r);
}

TEST_CASE(bounded_bytes_and_utf8_reads) {
    host_relay *r = host_relay_create(2, 8, 1000);
    char buf[64];
    int restart = 0;
    host_relay_cursor c = {0};
    host_relay_begin(r, "k");
    host_relay_append(r, "k", "12345", 5);
    host_relay_append(r, "k", "6789", 4); /* would pass 8 bytes: dropped whole */
    host_relay_append(r, "k", "\xC3\xA9", 2); /* fits: 7 bytes */
    /* A small buffer gets whole characters only. */
    CHECK_EQ_INT((int)host_relay_read(r, "k", &c, buf, 6, 0, &restart), 5);
    CHECK_EQ_INT((int)read_now(r, "k", &c, buf, sizeof(buf), &restart), 2);
    CHECK_STR(buf, "\xC3\xA9");
    host_relay_destroy(r);
}

TEST_CASE(bounded_keys_and_ttl) {
    host_relay *r = host_relay_create(2, 64, 50);
    char buf[64];
    int restart = 0;
    host_relay_begin(r, "a");
    host_relay_append(r, "a", "A", 1);
    host_relay_end(r, "a");
    host_relay_begin(r, "b");
    host_relay_append(r, "b", "B", 1);
    /* Full: the finished key makes room, the running one stays. */
    host_relay_begin(r, "c");
    host_relay_cursor ca = {0}, cb = {0}, cc = {0};
    CHECK_EQ_INT((int)read_now(r, "a", &ca, buf, sizeof(buf), &restart), 0);
    CHECK_EQ_INT((int)read_now(r, "b", &cb, buf, sizeof(buf), &restart), 1);
    /* Full of running keys: the oldest goes. */
    host_relay_begin(r, "d");
    host_relay_cursor cb2 = {0};
    CHECK_EQ_INT((int)read_now(r, "b", &cb2, buf, sizeof(buf), &restart), 0);
    host_relay_append(r, "c", "C", 1);
    CHECK_EQ_INT((int)read_now(r, "c", &cc, buf, sizeof(buf), &restart), 1);
    /* A finished key is gone after the TTL (checked on the next begin). */
    host_relay_end(r, "c");
    struct timespec ts = {0, 80 * 1000000L};
    nanosleep(&ts, NULL);
    host_relay_begin(r, "e");
    host_relay_cursor cc2 = {0};
    CHECK_EQ_INT((int)read_now(r, "c", &cc2, buf, sizeof(buf), &restart), 0);
    host_relay_destroy(r);
}

struct writer {
    host_relay *r;
    int reader_waiting;
};

static void *write_later(void *arg) {
    struct writer *w = arg;
    while (!__atomic_load_n(&w->reader_waiting, __ATOMIC_ACQUIRE)) {
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
    }
    host_relay_begin(w->r, "k");
    host_relay_append(w->r, "k", "hello", 5);
    return NULL;
}

/* A waiting reader wakes for the writer's text (a long bound it need not reach). */
TEST_CASE(reader_wakes_for_text) {
    struct writer w = {host_relay_create(0, 0, 0), 0};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, write_later, &w) == 0);
    char buf[16];
    int restart = 0;
    host_relay_cursor c = {0};
    size_t got = 0;
    __atomic_store_n(&w.reader_waiting, 1, __ATOMIC_RELEASE);
    while (got < 5)
        got += host_relay_read(w.r, "k", &c, buf + got, sizeof(buf) - 1 - got, 60000, &restart);
    buf[got] = '\0';
    CHECK_STR(buf, "hello");
    CHECK(pthread_join(t, NULL) == 0);
    host_relay_destroy(w.r);
}
