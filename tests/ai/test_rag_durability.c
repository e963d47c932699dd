/* SPDX-License-Identifier: MIT */
/*
 * Crash safety: a child process ingests and replaces documents as fast as it can and
 * reports each acknowledged put through a pipe; the parent kills it with SIGKILL at a
 * random moment, reopens the store and checks that every acknowledged document is there
 * (at its acknowledged version or a later one), that the tables agree with each other,
 * that SQLite's integrity check passes, and that search works. Several rounds on the same
 * file, so recovery from a previous crash is exercised too. The kill points come from a
 * seed that the test prints; RAG_DURABILITY_SEED=<n> replays a run.
 */
#include "fmacros.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include <inngest/rag.h>

#include "rag_testlib.h"
#include "testutil.h"

#define KEYS 40
#define ROUNDS 6

struct ack {
    int key;
    int version;
};

static void make_text(char *buf, size_t size, int key, int version) {
    size_t n = (size_t)snprintf(buf, size, "# Document %d\n\nversion=%d key=%d. ", key, version,
                                key);
    /* A few chunks' worth of sentences, different per version. */
    for (int i = 0; n + 80 < size && i < 40 + (version % 30); i++)
        n += (size_t)snprintf(buf + n, size - n, "Sentence %d of version %d talks about topic%d. ",
                              i, version, (key * 31 + i) % 97);
}

static void child(const char *path, int fd, int start_version) {
    inngest_error err;
    inngest_rag_store *s = inngest_rag_store_create(path, NULL, &err);
    if (!s) {
        fprintf(stderr, "child open: %s\n", err.message);
        _exit(3);
    }
    inngest_rag_embedder *e = inngest_rag_hash_embedder_create(0, NULL);
    char text[8192], key[32];
    for (int v = start_version;; v++) {
        int k = (v * 7) % KEYS;
        snprintf(key, sizeof(key), "doc-%d", k);
        make_text(text, sizeof(text), k, v);
        inngest_rag_document d = {.key = key, .source = key, .text = text};
        if (v % 13 == 0) {
            int rc = inngest_rag_store_delete(s, key, &err);
            if (rc && rc != INNGEST_ENOTFOUND)
                _exit(4);
            struct ack a = {k, -v}; /* negative: deleted at version v */
            if (write(fd, &a, sizeof(a)) != sizeof(a))
                _exit(5);
            continue;
        }
        if (inngest_rag_ingest_document(s, e, &d, NULL, NULL, NULL, &err)) {
            fprintf(stderr, "child ingest: %s\n", err.message);
            _exit(6);
        }
        struct ack a = {k, v};
        if (write(fd, &a, sizeof(a)) != sizeof(a))
            _exit(5);
    }
}

/* Version stored for a key: parsed from "version=N", or -1 when absent. */
static int stored_version(sqlite3 *db, const char *key) {
    sqlite3_stmt *st;
    CHECK(sqlite3_prepare_v2(db,
                             "SELECT c.text FROM chunks c JOIN documents d ON d.id = c.doc_id"
                             " WHERE d.key = ? AND c.position = 0",
                             -1, &st, NULL) == SQLITE_OK);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int v = -1;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *t = strstr((const char *)sqlite3_column_text(st, 0), "version=");
        CHECK(t != NULL);
        v = atoi(t + 8);
    }
    sqlite3_finalize(st);
    return v;
}

static long long scalar(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st;
    CHECK(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(st) == SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

TEST_CASE(acknowledged_documents_survive_sigkill) {
    char path[1024];
    rag_test_path("crash.db", path, sizeof(path));
    int latest[KEYS]; /* newest acknowledged version per key; 0 = never; <0 = deleted */
    memset(latest, 0, sizeof(latest));
    const char *fixed = getenv("RAG_DURABILITY_SEED");
    unsigned seed = fixed && *fixed ? (unsigned)strtoul(fixed, NULL, 10)
                                    : (unsigned)time(NULL) ^ (unsigned)getpid();
    printf("durability seed %u (replay with RAG_DURABILITY_SEED=%u)\n", seed, seed);
    fflush(stdout);
    srand(seed);
    int next_version = 1;
    size_t total_acks = 0;
    for (int round = 0; round < ROUNDS; round++) {
        int fds[2];
        CHECK(pipe(fds) == 0);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            child(path, fds[1], next_version);
        }
        close(fds[1]);
        /* Let it acknowledge a random number of puts, then kill it mid-flight. */
        int want = 5 + rand() % 60, got = 0;
        struct ack a;
        while (got < want && read(fds[0], &a, sizeof(a)) == sizeof(a)) {
            latest[a.key] = a.version;
            next_version = (a.version < 0 ? -a.version : a.version) + 1;
            got++;
        }
        struct timespec ts = {0, (rand() % 3000) * 1000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        /* Acknowledgements written before the kill are still in the pipe. */
        while (read(fds[0], &a, sizeof(a)) == sizeof(a)) {
            latest[a.key] = a.version;
            next_version = (a.version < 0 ? -a.version : a.version) + 1;
            got++;
        }
        close(fds[0]);
        int status;
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        total_acks += (size_t)got;
        /* The child may have committed one more operation than it acknowledged: the one
         * at `pending`. A put only makes its key newer, but a delete may have removed a
         * document acknowledged earlier, so that key may also be absent. */
        int pending = next_version;
        int pending_key = (pending * 7) % KEYS;
        int pending_delete = pending % 13 == 0;
        next_version = pending + 1;

        /* 1. The store opens cleanly and still answers. */
        inngest_error err;
        inngest_rag_store *s = inngest_rag_store_create(path, NULL, &err);
        if (!s)
            TEST_FAIL_("reopen after kill: %s", err.message);
        inngest_rag_embedder *e = inngest_rag_hash_embedder_create(0, NULL);
        inngest_rag_results r;
        CHECK_EQ_INT(inngest_rag_search(s, e, "sentence about topic5", 5, INNGEST_RAG_HYBRID, &r,
                                        &err), 0);
        inngest_rag_results_cleanup(&r);
        inngest_rag_store_info info;
        CHECK_EQ_INT(inngest_rag_store_get_info(s, &info, NULL), 0);
        inngest_rag_embedder_destroy(e);
        inngest_rag_store_destroy(s);

        /* 2. Every acknowledged document is there, at that version or a newer one. */
        sqlite3 *db;
        CHECK(sqlite3_open(path, &db) == SQLITE_OK);
        CHECK(scalar(db, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check"
                         " <> 'ok'") == 0);
        for (int k = 0; k < KEYS; k++) {
            char key[32];
            snprintf(key, sizeof(key), "doc-%d", k);
            int v = stored_version(db, key);
            if (pending_delete && k == pending_key && v < 0) {
                latest[k] = -pending; /* the unacknowledged delete was committed */
            } else if (latest[k] > 0) {
                if (v < latest[k])
                    TEST_FAIL_("round %d: %s acknowledged at version %d, found %d", round, key,
                               latest[k], v);
            } else if (latest[k] < 0 && v >= 0 && v < -latest[k]) {
                TEST_FAIL_("round %d: %s deleted at version %d, found older %d", round, key,
                           -latest[k], v);
            }
        }
        /* 3. The tables agree: every chunk has its codes, vector and keyword row. */
        long long chunks = scalar(db, "SELECT count(*) FROM chunks");
        CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM codes"), chunks);
        CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM vectors"), chunks);
        CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM chunks_fts"), chunks);
        CHECK_EQ_INT(scalar(db, "SELECT coalesce(sum(chunks), 0) FROM documents"), chunks);
        CHECK_EQ_INT(info.chunks, chunks);
        sqlite3_close(db);
        printf("round %d: %d acknowledged, %lld chunks in %zu documents, all present\n", round,
               got, chunks, info.documents);
    }
    CHECK(total_acks >= ROUNDS * 5);
}
