/* SPDX-License-Identifier: MIT */
/*
 * What only the PostgreSQL backend has: several stores (standing in for host replicas) on
 * one database. A change made through one is seen by the others' in-memory vector index
 * (LISTEN/NOTIFY); concurrent first opens migrate once; the embedder binding holds across
 * writers; a server restart gives INNGEST_EUNAVAILABLE (with a retry hint) while it is
 * down, and both stores recover by themselves. Needs the "pg" fixture (INNGEST_TEST_PG_DIR).
 */
#include "fmacros.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <inngest/rag.h>

#include "rag_testlib.h"
#include "testutil.h"

/* Polls happen every 10 ms, up to this long: a bound for a slow machine (valgrind), not a
 * timing assertion; the time actually taken is printed. */
#define WAIT_S 30.0

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static inngest_rag_store *open_url(const char *url) {
    inngest_error err;
    inngest_rag_store *s = inngest_rag_store_create(url, NULL, &err);
    if (!s)
        TEST_FAIL_("open %s: %s", url, err.message);
    return s;
}

static int put_text(inngest_rag_store *s, inngest_rag_embedder *e, const char *key,
                    const char *text, inngest_error *err) {
    inngest_rag_document d = {.key = key, .source = key, .text = text};
    inngest_rag_ingest_opts o = {.force = 1};
    return inngest_rag_ingest_document(s, e, &d, &o, NULL, NULL, err);
}

/* The vector-only top hit's key for `q` ("" when none), into out. A vector search reads
 * the in-memory index: it shows what this store learned of other stores' changes. */
static int vector_top(inngest_rag_store *s, inngest_rag_embedder *e, const char *q, char *out,
                      size_t n) {
    inngest_rag_results r;
    inngest_error err;
    out[0] = '\0';
    int rc = inngest_rag_search(s, e, q, 1, INNGEST_RAG_VECTOR, &r, &err);
    if (rc == INNGEST_OK && r.count)
        snprintf(out, n, "%s", r.hits[0].doc_key);
    inngest_rag_results_cleanup(&r);
    return rc;
}

/* Waits until the vector top hit of `q` on `s` is `key` (or, key "", until there is none
 * or another). Returns the seconds it took, or -1 after WAIT_S. */
static double wait_top(inngest_rag_store *s, inngest_rag_embedder *e, const char *q,
                       const char *key, int want_present) {
    double t0 = now_s();
    char top[256];
    while (now_s() - t0 < WAIT_S) {
        int rc = vector_top(s, e, q, top, sizeof(top));
        int present = rc == INNGEST_OK && !strcmp(top, key);
        if (rc == INNGEST_OK && present == want_present)
            return now_s() - t0;
        usleep(10000);
    }
    return -1;
}

TEST_CASE(changes_reach_other_stores) {
    char url[1024];
    rag_test_store_url("replicas", url, sizeof(url));
    inngest_rag_store *a = open_url(url), *b = open_url(url);
    inngest_rag_embedder *e = inngest_rag_hash_embedder_create(0, NULL);
    CHECK_EQ_INT(put_text(a, e, "seed.md", "# Seed\n\nUnrelated words about gardening.", NULL),
                 0);
    /* Added on a: b's index learns it. */
    CHECK_EQ_INT(put_text(a, e, "quokka.md",
                          "# Quokka protocol\n\nThe quokka protocol listens on port 7777 and "
                          "greets with a wombat handshake.",
                          NULL),
                 0);
    double t = wait_top(b, e, "quokka protocol wombat handshake", "quokka.md", 1);
    CHECK(t >= 0);
    printf("added on a, in b's vector index after %.3f s\n", t);
    /* Replaced on a: b finds the new text, not the old one. */
    CHECK_EQ_INT(put_text(a, e, "quokka.md",
                          "# Numbat notes\n\nNumbats eat termites with a long sticky tongue.",
                          NULL),
                 0);
    t = wait_top(b, e, "numbats termites sticky tongue", "quokka.md", 1);
    CHECK(t >= 0);
    printf("replaced on a, in b's vector index after %.3f s\n", t);
    inngest_rag_store_info info;
    CHECK_EQ_INT(inngest_rag_store_get_info(b, &info, NULL), 0);
    CHECK_EQ_INT(info.documents, 2);
    /* Deleted on b: gone from a. */
    CHECK_EQ_INT(inngest_rag_store_delete(b, "quokka.md", NULL), 0);
    t = wait_top(a, e, "numbats termites sticky tongue", "quokka.md", 0);
    CHECK(t >= 0);
    printf("deleted on b, gone from a's vector index after %.3f s\n", t);
    /* A third store opened now loads what the others wrote. */
    inngest_rag_store *c = open_url(url);
    CHECK_EQ_INT(inngest_rag_store_get_info(c, &info, NULL), 0);
    CHECK_EQ_INT(info.documents, 1);
    CHECK_EQ_INT(info.chunks, 1);
    char top[256];
    CHECK_EQ_INT(vector_top(c, e, "gardening", top, sizeof(top)), 0);
    CHECK_STR(top, "seed.md");
    inngest_rag_store_destroy(c);
    inngest_rag_store_destroy(a);
    inngest_rag_store_destroy(b);
    inngest_rag_embedder_destroy(e);
}

/* ---- messages between the stores' processes (inngest_rag_store_publish) ---------------- */

struct inbox {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n;
    size_t len[4];
    char *msg[4];
};

static void inbox_put(void *user, const char *msg, size_t len) {
    struct inbox *in = user;
    pthread_mutex_lock(&in->mu);
    if (in->n < 4) {
        in->msg[in->n] = strdup(msg);
        in->len[in->n++] = len;
    }
    pthread_cond_broadcast(&in->cv);
    pthread_mutex_unlock(&in->mu);
}

/* Waits (at most WAIT_S) until `in` holds `n` messages; returns how many it holds. */
static int inbox_wait(struct inbox *in, int n) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)WAIT_S;
    pthread_mutex_lock(&in->mu);
    while (in->n < n && pthread_cond_timedwait(&in->cv, &in->mu, &until) == 0) {
    }
    int got = in->n;
    pthread_mutex_unlock(&in->mu);
    return got;
}

static void inbox_init(struct inbox *in) {
    memset(in, 0, sizeof(*in));
    pthread_mutex_init(&in->mu, NULL);
    pthread_cond_init(&in->cv, NULL);
}

static void inbox_cleanup(struct inbox *in) {
    for (int i = 0; i < in->n; i++)
        free(in->msg[i]);
    pthread_mutex_destroy(&in->mu);
    pthread_cond_destroy(&in->cv);
}

/* What one store publishes reaches the subscribers of the other stores on the database, in
 * order and whole up to INNGEST_RAG_MESSAGE_MAX bytes, and not its own; a SQLite store is
 * not shared and publishing to it reaches nobody. */
TEST_CASE(messages_reach_other_stores) {
    char url[1024];
    rag_test_store_url("messages", url, sizeof(url));
    inngest_rag_store *a = open_url(url), *b = open_url(url);
    CHECK(inngest_rag_store_is_shared(a) && inngest_rag_store_is_shared(b));
    struct inbox ia, ib;
    inbox_init(&ia);
    inbox_init(&ib);
    inngest_rag_store_subscribe(a, inbox_put, &ia);
    inngest_rag_store_subscribe(b, inbox_put, &ib);

    static char big[INNGEST_RAG_MESSAGE_MAX + 1];
    memset(big, 'x', sizeof(big) - 1);
    big[0] = 'A';
    double t0 = now_s();
    static const char first[] = "a 0 k\nh\xc3\xa9llo";
    CHECK_EQ_INT(inngest_rag_store_publish(a, first, strlen(first), NULL), INNGEST_OK);
    CHECK_EQ_INT(inngest_rag_store_publish(a, big, INNGEST_RAG_MESSAGE_MAX, NULL), INNGEST_OK);
    CHECK_EQ_INT(inbox_wait(&ib, 2), 2);
    printf("two messages from a reached b after %.3f s\n", now_s() - t0);
    CHECK_STR(ib.msg[0], first);
    CHECK(ib.len[0] == strlen(first) && ib.len[1] == INNGEST_RAG_MESSAGE_MAX && !strcmp(ib.msg[1], big));
    /* a's own messages, sent before b's, would be in a's inbox before it. */
    CHECK_EQ_INT(inngest_rag_store_publish(b, "from b", 6, NULL), INNGEST_OK);
    CHECK_EQ_INT(inbox_wait(&ia, 1), 1);
    CHECK_STR(ia.msg[0], "from b");

    inngest_error err;
    CHECK_EQ_INT(inngest_rag_store_publish(a, big, INNGEST_RAG_MESSAGE_MAX + 1, &err),
                 INNGEST_EINVAL);
    CHECK_EQ_INT(inngest_rag_store_publish(a, "a\0b", 3, &err), INNGEST_EINVAL);
    CHECK_EQ_INT(inngest_rag_store_publish(a, "", 0, &err), INNGEST_EINVAL);
    inngest_rag_store_subscribe(b, NULL, NULL); /* returns once no delivery runs */

    char path[1024];
    inngest_rag_store *lite = open_url(rag_test_path("messages.db", path, sizeof(path)));
    CHECK(!inngest_rag_store_is_shared(lite));
    CHECK_EQ_INT(inngest_rag_store_publish(lite, "nobody", 6, NULL), INNGEST_OK);
    inngest_rag_store_destroy(lite);

    inngest_rag_store_destroy(a);
    inngest_rag_store_destroy(b);
    inbox_cleanup(&ia);
    inbox_cleanup(&ib);
}

struct opener {
    const char *url;
    int rc;
    inngest_rag_store *s;
};

static void *open_thread(void *arg) {
    struct opener *o = arg;
    inngest_error err;
    o->s = inngest_rag_store_create(o->url, NULL, &err);
    o->rc = o->s ? 0 : err.code;
    if (!o->s)
        fprintf(stderr, "concurrent open: %s\n", err.message);
    return NULL;
}

TEST_CASE(concurrent_first_opens_migrate_once) {
    char url[1024];
    rag_test_store_url("migrate", url, sizeof(url));
    enum { N = 4 };
    struct opener o[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        o[i] = (struct opener){.url = url};
        CHECK_EQ_INT(pthread_create(&t[i], NULL, open_thread, &o[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        CHECK_EQ_INT(o[i].rc, 0);
    }
    inngest_rag_embedder *e = inngest_rag_hash_embedder_create(0, NULL);
    CHECK_EQ_INT(put_text(o[0].s, e, "one.md", "# One\n\nThe first document.", NULL), 0);
    inngest_rag_store_info info;
    CHECK_EQ_INT(inngest_rag_store_get_info(o[N - 1].s, &info, NULL), 0);
    CHECK_EQ_INT(info.documents, 1);
    for (int i = 0; i < N; i++)
        inngest_rag_store_destroy(o[i].s);
    inngest_rag_embedder_destroy(e);
}

TEST_CASE(binding_holds_across_writers) {
    char url[1024];
    rag_test_store_url("binding", url, sizeof(url));
    /* Both open unbound; the first put binds the database, the other writer is refused. */
    inngest_rag_store *a = open_url(url), *b = open_url(url);
    inngest_rag_embedder *big = inngest_rag_hash_embedder_create(0, NULL);
    inngest_rag_embedder *small = inngest_rag_hash_embedder_create(64, NULL);
    CHECK_EQ_INT(put_text(a, big, "a.md", "# A\n\nWritten by a.", NULL), 0);
    inngest_error err;
    CHECK_EQ_INT(put_text(b, small, "b.md", "# B\n\nWritten by b.", &err), INNGEST_EMISMATCH);
    CHECK(strstr(err.message, "hash-v1") != NULL);
    CHECK_EQ_INT(err.no_retry, 1);
    /* b learned the binding: a search with the other embedder is refused before any call. */
    double t0 = now_s();
    while (inngest_rag_store_check(b, small->id, small->dim, NULL) == INNGEST_OK &&
           now_s() - t0 < WAIT_S)
        usleep(10000);
    CHECK_EQ_INT(inngest_rag_store_check(b, small->id, small->dim, &err), INNGEST_EMISMATCH);
    CHECK_EQ_INT(put_text(b, big, "b.md", "# B\n\nWritten by b.", NULL), 0);
    inngest_rag_store_destroy(a);
    inngest_rag_store_destroy(b);
    inngest_rag_embedder_destroy(big);
    inngest_rag_embedder_destroy(small);
}

static void pg_ctl(const char *cmd) {
    char line[2048];
    snprintf(line, sizeof(line), "bash '%s' %s '%s'", PG_CTL_SH, cmd, getenv("INNGEST_TEST_PG_DIR"));
    CHECK_EQ_INT(system(line), 0);
}

/* Runs alone (RUN_SERIAL): it stops the shared test server. */
TEST_CASE(server_restart_recovers) {
    char url[1024];
    rag_test_store_url("restart", url, sizeof(url));
    inngest_rag_store *a = open_url(url), *b = open_url(url);
    inngest_rag_embedder *e = inngest_rag_hash_embedder_create(0, NULL);
    CHECK_EQ_INT(put_text(a, e, "before.md", "# Before\n\nWritten before the outage.", NULL), 0);
    CHECK(wait_top(b, e, "written before the outage", "before.md", 1) >= 0);

    pg_ctl("kill");
    inngest_error err;
    inngest_rag_results r;
    /* Down: what needs the server says so, with a hint to come back; nothing hangs. */
    CHECK_EQ_INT(inngest_rag_search(a, e, "outage", 3, INNGEST_RAG_HYBRID, &r, &err),
                 INNGEST_EUNAVAILABLE);
    CHECK(err.retry_after[0] != '\0');
    CHECK_EQ_INT(put_text(b, e, "during.md", "# During\n\nNever stored.", &err),
                 INNGEST_EUNAVAILABLE);
    inngest_rag_store_info info;
    CHECK_EQ_INT(inngest_rag_store_get_info(a, &info, &err), INNGEST_EUNAVAILABLE);

    pg_ctl("up");
    /* Up again: the first write goes through (stale pooled connections are replaced). */
    CHECK_EQ_INT(put_text(a, e, "after.md", "# After\n\nWritten after the restart, kangaroo.",
                          &err),
                 0);
    double t = wait_top(b, e, "written after the restart kangaroo", "after.md", 1);
    CHECK(t >= 0);
    printf("after the restart, a's document in b's vector index after %.3f s\n", t);
    CHECK_EQ_INT(put_text(b, e, "after-b.md", "# After b\n\nPlatypus notes from b.", NULL), 0);
    CHECK(wait_top(a, e, "platypus notes", "after-b.md", 1) >= 0);
    CHECK_EQ_INT(inngest_rag_search(a, e, "outage", 3, INNGEST_RAG_HYBRID, &r, &err), 0);
    CHECK(r.count >= 1);
    inngest_rag_results_cleanup(&r);
    CHECK_EQ_INT(inngest_rag_store_get_info(b, &info, NULL), 0);
    CHECK_EQ_INT(info.documents, 3);
    inngest_rag_store_destroy(a);
    inngest_rag_store_destroy(b);
    inngest_rag_embedder_destroy(e);
}

TEST_CASE(bad_urls_and_settings) {
    inngest_error err;
    CHECK(inngest_rag_store_create("postgresql://postgres@127.0.0.1:1/none", NULL, &err) == NULL);
    CHECK_EQ_INT(err.code, INNGEST_EUNAVAILABLE);
    CHECK(inngest_rag_store_create("postgresql://[bad", NULL, &err) == NULL);
    CHECK(err.code != 0);
    char url[1024];
    rag_test_store_url("settings", url, sizeof(url));
    setenv("RAG_STORE_POOL_SIZE", "lots", 1);
    CHECK(inngest_rag_store_create(url, NULL, &err) == NULL);
    CHECK_EQ_INT(err.code, INNGEST_ECONFIG);
    CHECK(strstr(err.message, "RAG_STORE_POOL_SIZE") != NULL);
    setenv("RAG_STORE_POOL_SIZE", "1", 1);
    inngest_rag_store *s = open_url(url);
    inngest_rag_embedder *e = inngest_rag_hash_embedder_create(0, NULL);
    /* One connection is enough for every call (they take turns). */
    CHECK_EQ_INT(put_text(s, e, "x.md", "# X\n\nOne connection.", NULL), 0);
    inngest_rag_results r;
    CHECK_EQ_INT(inngest_rag_search(s, e, "one connection", 3, INNGEST_RAG_HYBRID, &r, NULL), 0);
    CHECK_EQ_INT(r.count, 1);
    inngest_rag_results_cleanup(&r);
    unsetenv("RAG_STORE_POOL_SIZE");
    inngest_rag_store_destroy(s);
    inngest_rag_embedder_destroy(e);
}
