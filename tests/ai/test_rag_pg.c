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
