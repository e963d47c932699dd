/* SPDX-License-Identifier: MIT */
/*
 * The token relay (relay.h): a fixed table of keys under one mutex, one condition variable
 * that every change broadcasts on (a handful of readers at most: the result streams are
 * capped), and waits on CLOCK_MONOTONIC so they always end in time.
 *
 * Shared (host_relay_share): each local change is also published through the store as
 * one message, "b KEY" (begin), "a OFFSET KEY\nTEXT" (text at that byte offset of the
 * generation) or "e KEY" (end), and other replicas' messages are applied like local
 * changes, except that text is only taken at the offset it continues: a lost or repeated
 * message leaves the copy short, never wrong.
 */
#include "fmacros.h"

#include "host/relay.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <inngest/rag.h>
#include <inngest/utf8.h>

#define DEFAULT_KEYS   64
#define DEFAULT_BYTES  (128u << 10)
#define DEFAULT_TTL_MS 60000L
#define KEY_MAX        80

struct entry {
    char key[KEY_MAX]; /* "" when free */
    char *text;
    size_t len, cap;
    unsigned long gen; /* unique over the relay's life */
    int ended;
    long long touched_ms; /* begin, or end once ended */
    unsigned long touched; /* the same as an order: r->next_gen at that moment */
};

struct host_relay {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct entry *e;
    size_t n;
    size_t max_bytes;
    long ttl_ms;
    unsigned long next_gen;
    inngest_rag_store *store; /* host_relay_share(): where changes are published */
};

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

host_relay *host_relay_create(size_t max_keys, size_t max_bytes, long ttl_ms) {
    host_relay *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->n = max_keys ? max_keys : DEFAULT_KEYS;
    r->max_bytes = max_bytes ? max_bytes : DEFAULT_BYTES;
    r->ttl_ms = ttl_ms > 0 ? ttl_ms : DEFAULT_TTL_MS;
    r->e = calloc(r->n, sizeof(*r->e));
    pthread_condattr_t ca;
    int ok = r->e && !pthread_condattr_init(&ca);
    if (ok) {
        ok = !pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) && !pthread_cond_init(&r->cv, &ca);
        pthread_condattr_destroy(&ca);
    }
    if (ok && pthread_mutex_init(&r->mu, NULL)) {
        pthread_cond_destroy(&r->cv);
        ok = 0;
    }
    if (!ok) {
        free(r->e);
        free(r);
        return NULL;
    }
    return r;
}

void host_relay_destroy(host_relay *r) {
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        free(r->e[i].text);
    free(r->e);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static void clear(struct entry *e) {
    free(e->text);
    memset(e, 0, sizeof(*e));
}

/* Drops finished keys past their TTL. Under the lock. */
static void expire(host_relay *r, long long now) {
    for (size_t i = 0; i < r->n; i++)
        if (r->e[i].key[0] && r->e[i].ended && now - r->e[i].touched_ms >= r->ttl_ms)
            clear(&r->e[i]);
}

static struct entry *find(host_relay *r, const char *key) {
    for (size_t i = 0; i < r->n; i++)
        if (r->e[i].key[0] && !strcmp(r->e[i].key, key))
            return &r->e[i];
    return NULL;
}

/* A free slot, else the oldest finished key's, else the oldest key's. Under the lock. */
static struct entry *make_room(host_relay *r) {
    struct entry *best = NULL;
    for (size_t i = 0; i < r->n; i++) {
        struct entry *e = &r->e[i];
        if (!e->key[0])
            return e;
        if (!best || (e->ended && !best->ended) ||
            (e->ended == best->ended && e->touched < best->touched))
            best = e;
    }
    clear(best);
    return best;
}

static int key_ok(const char *key) {
    return key && *key && strlen(key) < KEY_MAX;
}

/* Publishes one change to the other replicas (when shared): kind 'b', 'e', or 'a' with the
 * text appended at `offset`, cut into messages at character boundaries. Best effort. */
static void publish(host_relay *r, char kind, const char *key, size_t offset, const char *text,
                    size_t len) {
    inngest_rag_store *s = __atomic_load_n(&r->store, __ATOMIC_ACQUIRE);
    if (!s || strcspn(key, " \n") != strlen(key))
        return;
    char msg[INNGEST_RAG_MESSAGE_MAX];
    if (kind != 'a') {
        int n = snprintf(msg, sizeof(msg), "%c %s", kind, key);
        inngest_rag_store_publish(s, msg, (size_t)n, NULL);
        return;
    }
    while (len > 0) {
        int n = snprintf(msg, sizeof(msg), "a %zu %s\n", offset, key);
        size_t take = inngest_utf8_cut(text, len, sizeof(msg) - (size_t)n);
        if (!take)
            return; /* not UTF-8: the other replicas wait for the result */
        memcpy(msg + n, text, take);
        if (inngest_rag_store_publish(s, msg, (size_t)n + take, NULL) != INNGEST_OK)
            return; /* the rest would not continue what they have */
        text += take;
        len -= take;
        offset += take;
    }
}

static void begin(host_relay *r, const char *key) {
    pthread_mutex_lock(&r->mu);
    long long now = now_ms();
    expire(r, now);
    struct entry *e = find(r, key);
    if (!e) {
        e = make_room(r);
        strcpy(e->key, key);
    }
    e->len = 0;
    e->ended = 0;
    e->gen = ++r->next_gen;
    e->touched = e->gen;
    e->touched_ms = now;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

void host_relay_begin(host_relay *r, const char *key) {
    if (!r || !key_ok(key))
        return;
    begin(r, key);
    publish(r, 'b', key, 0, NULL, 0);
}

/* Appends `text` to the current generation of `key` when it is at byte `at` (SIZE_MAX:
 * wherever it is). Returns the offset it was appended at, or SIZE_MAX when it was not. */
static size_t append(host_relay *r, const char *key, const char *text, size_t len, size_t at) {
    size_t done = SIZE_MAX;
    pthread_mutex_lock(&r->mu);
    struct entry *e = find(r, key);
    /* Past the limit the rest is dropped whole: the reader waits for the result. */
    if (e && !e->ended && (at == SIZE_MAX || at == e->len) && len <= r->max_bytes - e->len) {
        if (e->len + len > e->cap) {
            size_t cap = e->cap ? e->cap : 1024;
            while (cap < e->len + len)
                cap *= 2;
            if (cap > r->max_bytes)
                cap = r->max_bytes;
            char *p = realloc(e->text, cap);
            if (p) {
                e->text = p;
                e->cap = cap;
            }
        }
        if (e->len + len <= e->cap) {
            memcpy(e->text + e->len, text, len);
            done = e->len;
            e->len += len;
            pthread_cond_broadcast(&r->cv);
        }
    }
    pthread_mutex_unlock(&r->mu);
    return done;
}

void host_relay_append(host_relay *r, const char *key, const char *text, size_t len) {
    if (!r || !key_ok(key) || !len)
        return;
    size_t at = append(r, key, text, len, SIZE_MAX);
    if (at != SIZE_MAX)
        publish(r, 'a', key, at, text, len);
}

static void end(host_relay *r, const char *key) {
    pthread_mutex_lock(&r->mu);
    struct entry *e = find(r, key);
    if (e) {
        e->ended = 1;
        e->touched = ++r->next_gen;
        e->touched_ms = now_ms();
        pthread_cond_broadcast(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
}

void host_relay_end(host_relay *r, const char *key) {
    if (!r || !key_ok(key))
        return;
    end(r, key);
    publish(r, 'e', key, 0, NULL, 0);
}

/* Reads the decimal offset at the start of `p` (at most `len` bytes): its digit count, or 0
 * when there is none or it does not fit in a size_t short of SIZE_MAX ("wherever it is",
 * which a message may not ask for). */
static size_t parse_offset(const char *p, size_t len, size_t *out) {
    size_t i = 0, v = 0;
    for (; i < len && p[i] >= '0' && p[i] <= '9'; i++) {
        size_t d = (size_t)(p[i] - '0');
        if (v > (SIZE_MAX - 1 - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return i;
}

/* Copies the `klen` bytes at `p` into `key` when they make a key a message may name
 * (1 to KEY_MAX - 1 bytes, no space, newline or NUL). */
static int take_key(const char *p, size_t klen, char key[KEY_MAX]) {
    if (!klen || klen >= KEY_MAX || memchr(p, ' ', klen) || memchr(p, '\n', klen) ||
        memchr(p, '\0', klen))
        return 0;
    memcpy(key, p, klen);
    key[klen] = '\0';
    return 1;
}

int host_relay_apply(host_relay *r, const char *msg, size_t len) {
    if (!r || !msg || len < 3 || msg[1] != ' ')
        return 0;
    const char *p = msg + 2, *stop = msg + len;
    char key[KEY_MAX];
    if (msg[0] == 'b' || msg[0] == 'e') {
        if (!take_key(p, len - 2, key))
            return 0;
        if (msg[0] == 'b')
            begin(r, key);
        else
            end(r, key);
        return 1;
    }
    size_t at, digits;
    if (msg[0] != 'a' || !(digits = parse_offset(p, (size_t)(stop - p), &at)))
        return 0;
    p += digits;
    if (p == stop || *p++ != ' ')
        return 0;
    const char *nl = memchr(p, '\n', (size_t)(stop - p));
    if (!nl || nl + 1 == stop || !take_key(p, (size_t)(nl - p), key))
        return 0;
    append(r, key, nl + 1, (size_t)(stop - nl - 1), at);
    return 1;
}

/* A change another replica published (an inngest_rag_message_fn). */
static void on_message(void *user, const char *msg, size_t len) {
    host_relay_apply(user, msg, len);
}

void host_relay_share(host_relay *r, inngest_rag_store *store) {
    if (!r)
        return;
    inngest_rag_store *old = __atomic_exchange_n(&r->store, NULL, __ATOMIC_ACQ_REL);
    if (old)
        inngest_rag_store_subscribe(old, NULL, NULL);
    if (store && inngest_rag_store_is_shared(store)) {
        inngest_rag_store_subscribe(store, on_message, r);
        __atomic_store_n(&r->store, store, __ATOMIC_RELEASE);
    }
}

/* 1 when `e` has something for `cur`. */
static int has_news(const struct entry *e, const host_relay_cursor *cur) {
    return e && (e->gen != cur->gen || e->len > cur->offset);
}

size_t host_relay_read(host_relay *r, const char *key, host_relay_cursor *cur, char *buf,
                       size_t cap, int wait_ms, int *restart) {
    *restart = 0;
    if (!r || !key_ok(key) || !cap)
        return 0;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    long long ns = until.tv_nsec + (long long)(wait_ms > 0 ? wait_ms : 0) * 1000000;
    until.tv_sec += (time_t)(ns / 1000000000);
    until.tv_nsec = (long)(ns % 1000000000);
    pthread_mutex_lock(&r->mu);
    struct entry *e = find(r, key);
    while (!has_news(e, cur)) {
        if (pthread_cond_timedwait(&r->cv, &r->mu, &until) == ETIMEDOUT) {
            e = find(r, key);
            break;
        }
        e = find(r, key);
    }
    size_t n = 0;
    if (has_news(e, cur)) {
        if (e->gen != cur->gen) {
            *restart = cur->gen != 0 || cur->offset != 0;
            cur->gen = e->gen;
            cur->offset = 0;
        }
        n = e->len - cur->offset;
        if (n > cap)
            n = inngest_utf8_cut(e->text + cur->offset, n, cap);
        if (n > 0) /* an answer that has begun may hold no text yet */
            memcpy(buf, e->text + cur->offset, n);
        cur->offset += n;
    }
    pthread_mutex_unlock(&r->mu);
    return n;
}

static void tok_begin(void *user, const char *key) {
    host_relay_begin(user, key);
}

static void tok_delta(void *user, const char *key, const char *text, size_t len) {
    host_relay_append(user, key, text, len);
}

static void tok_end(void *user, const char *key) {
    host_relay_end(user, key);
}

void host_relay_chat_tokens(host_relay *r, struct chat_tokens *out) {
    *out = (struct chat_tokens){.begin = tok_begin, .delta = tok_delta, .end = tok_end, .user = r};
}
