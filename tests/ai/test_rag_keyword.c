/* SPDX-License-Identifier: MIT */
/*
 * The SQLite backend's keyword ranking skips the rows that cannot reach the top (ing_bm25
 * in store_sqlite.c): its best chunks and their scores must be exactly those of FTS5's own
 * bm25(chunks_fts, 2.0, 1.0), read here from the same file with plain SQL. The corpus has a
 * word in almost every chunk, a rarer one in some, with varied lengths and repeats, and
 * titles that hold a query word (weighed double), so the skipping is exercised.
 */
#include "fmacros.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include <inngest/rag.h>

#include "rag_testlib.h"
#include "testutil.h"

#define NDOCS 400

/* Single-chunk documents: the keyword ranking of documents is then the ranking of chunks. */
static void fill(inngest_rag_store *s, inngest_rag_embedder *e) {
    static const char *filler[] = {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot"};
    for (int i = 0; i < NDOCS; i++) {
        char text[800], source[32], title[64];
        size_t n = 0;
        n += (size_t)snprintf(text + n, sizeof(text) - n, "Page %d.", i);
        if (i % 10 != 3) /* the common word: in 90 % of the pages, 1 to 4 times */
            for (int r = 0; r <= i % 4; r++)
                n += (size_t)snprintf(text + n, sizeof(text) - n, " The file is here.");
        if (i % 23 == 5) /* the rare word, 1 to 3 times */
            for (int r = 0; r <= i % 3; r++)
                n += (size_t)snprintf(text + n, sizeof(text) - n, " Its status changed.");
        if (i % 37 == 11)
            n += (size_t)snprintf(text + n, sizeof(text) - n, " A lonely descriptor.");
        for (int r = 0; r < i % 13; r++) /* lengths vary */
            n += (size_t)snprintf(text + n, sizeof(text) - n, " %s", filler[(i + r) % 6]);
        snprintf(source, sizeof(source), "p%03d.txt", i);
        snprintf(title, sizeof(title), i % 50 == 7 ? "File status %d" : "Page %d", i);
        inngest_rag_document d = {.source = source, .title = title, .text = text};
        inngest_rag_status st;
        size_t chunks;
        inngest_error err;
        if (inngest_rag_ingest_document(s, e, &d, NULL, &st, &chunks, &err))
            TEST_FAIL_("ingest: %s", err.message);
        CHECK_EQ_INT(chunks, 1);
    }
}

/* FTS5's ranking of `match`: keys (the page names) and -bm25, best first, ties by rowid. */
static int reference(sqlite3 *db, const char *match, int k, char keys[][32], double *scores) {
    sqlite3_stmt *st;
    CHECK(sqlite3_prepare_v2(db,
                             "SELECT d.key, -bm25(chunks_fts, 2.0, 1.0) AS s FROM chunks_fts f"
                             " JOIN chunks c ON c.id = f.rowid JOIN documents d ON d.id = c.doc_id"
                             " WHERE chunks_fts MATCH ?1 ORDER BY s DESC, f.rowid LIMIT ?2",
                             -1, &st, NULL) == SQLITE_OK);
    sqlite3_bind_text(st, 1, match, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, k);
    int n = 0;
    while (sqlite3_step(st) == SQLITE_ROW && n < k) {
        snprintf(keys[n], 32, "%s", (const char *)sqlite3_column_text(st, 0));
        scores[n++] = sqlite3_column_double(st, 1);
    }
    sqlite3_finalize(st);
    return n;
}

/* The store's keyword list is FTS5's bm25() order: each hit's keyword rank and score are
 * those of its chunk in the reference. (The hits themselves come in the fused order, which
 * also weighs titles and document lengths, so it is not the reference's order.) */
static void same_ranking(inngest_rag_store *s, inngest_rag_embedder *e, sqlite3 *db,
                         const char *question, const char *match, int k) {
    char keys[64][32];
    double scores[64];
    int n = reference(db, match, 64, keys, scores);
    inngest_rag_results r;
    inngest_error err;
    if (inngest_rag_search(s, e, question, k, INNGEST_RAG_KEYWORD, &r, &err))
        TEST_FAIL_("search: %s", err.message);
    CHECK_EQ_INT(r.count, n < k ? n : k);
    int first = 0;
    for (size_t i = 0; i < r.count; i++) {
        int rank = r.hits[i].keyword_rank;
        CHECK(rank >= 1 && rank <= n);
        if (rank < 1 || rank > n)
            continue;
        first |= rank == 1;
        if (strcmp(r.hits[i].doc_key, keys[rank - 1]) ||
            fabs(r.hits[i].keyword_score - scores[rank - 1]) > 1e-9 * fabs(scores[rank - 1])) {
            fprintf(stderr, "\"%s\" rank %d: store %s %.12g, FTS5 %s %.12g\n", question, rank,
                    r.hits[i].doc_key, r.hits[i].keyword_score, keys[rank - 1],
                    scores[rank - 1]);
            TEST_FAIL_("the keyword ranking differs from FTS5's bm25()");
        }
    }
    CHECK(first || !n);
    inngest_rag_results_cleanup(&r);
}

TEST_CASE(keyword_ranking_is_fts5_bm25) {
    char path[1024];
    rag_test_path("keyword.db", path, sizeof(path));
    inngest_error err;
    inngest_rag_store *s = inngest_rag_store_create(path, NULL, &err);
    inngest_rag_embedder *e = inngest_rag_hash_embedder_create(0, &err);
    CHECK(s && e);
    fill(s, e);
    sqlite3 *db;
    CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    /* A common word with a rare one; the common word alone (nothing skips much: every
     * score is alike); a rare word that matches fewer chunks than asked for; three words. */
    same_ranking(s, e, db, "file status", "\"file\" OR \"status\"", 10);
    same_ranking(s, e, db, "files", "\"file\"", 10);
    same_ranking(s, e, db, "the status of a descriptor", "\"status\" OR \"descriptor\"", 30);
    same_ranking(s, e, db, "lonely file status", "\"lonely\" OR \"file\" OR \"status\"", 5);
    same_ranking(s, e, db, "page file", "\"page\" OR \"file\"", 15);
    sqlite3_close(db);
    inngest_rag_embedder_destroy(e);
    inngest_rag_store_destroy(s);
}
