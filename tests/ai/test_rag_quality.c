/* SPDX-License-Identifier: MIT */
/*
 * Retrieval quality on a fixed corpus: the Markdown files in tests/ai/data/corpus (20 short
 * documents, some on neighbouring topics, with exact names and codes) and
 * tests/ai/data/questions.json (labelled questions: "exact" ones quote a name or code,
 * "paraphrase" ones say the same thing in other words). The corpus is ingested with the
 * hash embedder into a scratch store; the test prints recall@5 (a question counts when one
 * of its documents is among the top 5 chunks), recall@1 and the mean reciprocal rank for
 * vector, keyword and hybrid search, and the misses. Only loose floors are asserted, so a
 * change in ranking shows in the table rather than as a flaky failure.
 */
#include "fmacros.h"

#include <stdio.h>
#include <string.h>

#include <inngest/rag.h>

#include "rag_testlib.h"
#include "testutil.h"

#ifndef RAG_DATA_DIR
#error "RAG_DATA_DIR must name tests/ai/data"
#endif

#define K 5
enum { KIND_EXACT, KIND_PARAPHRASE, KIND_ALL, KINDS };
static const char *const mode_names[] = {"hybrid", "vector", "keyword"};

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* The 1-based rank of the first hit from one of the expected documents, 0 when none. */
static int first_rank(const inngest_rag_results *r, json_t *expect) {
    for (size_t i = 0; i < r->count; i++) {
        size_t j;
        json_t *e;
        json_array_foreach(expect, j, e) {
            if (!strcmp(base_name(r->hits[i].doc_key), json_string_value(e)))
                return (int)i + 1;
        }
    }
    return 0;
}

TEST_CASE(recall_at_5) {
    char path[1024];
    inngest_error err;
    char uri[1100];
    if (rag_test_on_pg())
        rag_test_store_url("quality.db", uri, sizeof(uri));
    else
        snprintf(uri, sizeof(uri), "sqlite:%s?synchronous=normal",
                 rag_test_path("quality.db", path, sizeof(path)));
    inngest_rag_store *s = inngest_rag_store_create(uri, NULL, &err);
    if (!s)
        TEST_FAIL_("open: %s", err.message);
    inngest_rag_embedder *e = inngest_rag_hash_embedder_create(0, &err);
    CHECK(e != NULL);
    inngest_rag_ingest_stats st;
    if (inngest_rag_ingest_path(s, e, RAG_DATA_DIR "/corpus", NULL, &st, &err))
        TEST_FAIL_("ingest: %s", err.message);
    CHECK_EQ_INT(st.files, 20);
    CHECK_EQ_INT(st.added, 20);
    CHECK(st.chunks > st.files); /* several documents need more than one chunk */

    json_error_t jerr;
    json_t *qs = json_load_file(RAG_DATA_DIR "/questions.json", 0, &jerr);
    if (!qs)
        TEST_FAIL_("questions.json: %s (line %d)", jerr.text, jerr.line);
    CHECK(json_array_size(qs) >= 40);

    int hits[3][KINDS] = {{0}}, top1[3] = {0}, total[KINDS] = {0};
    double rr[3] = {0};
    size_t i;
    json_t *q;
    json_array_foreach(qs, i, q) {
        const char *text = json_string_value(json_object_get(q, "q"));
        json_t *expect = json_object_get(q, "expect");
        const char *kind = json_string_value(json_object_get(q, "kind"));
        CHECK(text && json_array_size(expect) > 0 && kind);
        int kd = !strcmp(kind, "exact") ? KIND_EXACT : KIND_PARAPHRASE;
        total[kd]++;
        total[KIND_ALL]++;
        char missed[3] = {0};
        for (int m = 0; m < 3; m++) {
            inngest_rag_results r;
            if (inngest_rag_search(s, e, text, K, (inngest_rag_mode)m, &r, &err))
                TEST_FAIL_("search \"%s\": %s", text, err.message);
            int rank = first_rank(&r, expect), ok = rank > 0;
            top1[m] += rank == 1;
            rr[m] += ok ? 1.0 / rank : 0;
            hits[m][kd] += ok;
            hits[m][KIND_ALL] += ok;
            missed[m] = !ok;
            inngest_rag_results_cleanup(&r);
        }
        if (missed[0] || missed[1] || missed[2])
            printf("miss@5 [%s%s%s] %s: %s\n", missed[0] ? "H" : "-", missed[1] ? "V" : "-",
                   missed[2] ? "K" : "-", kind, text);
    }

    double recall[3][KINDS];
    printf("\nrecall@%d, %zu questions, %zu chunks of %zu documents, hash embedder, %s\n\n", K,
           json_array_size(qs), st.chunks, st.files, rag_test_on_pg() ? "PostgreSQL" : "SQLite");
    printf("| mode | recall@5 exact (%d) | recall@5 paraphrase (%d) | recall@5 all (%d) |"
           " recall@1 all | MRR@5 |\n"
           "|---|---|---|---|---|---|\n",
           total[KIND_EXACT], total[KIND_PARAPHRASE], total[KIND_ALL]);
    for (int m = 0; m < 3; m++) {
        for (int kd = 0; kd < KINDS; kd++)
            recall[m][kd] = total[kd] ? (double)hits[m][kd] / total[kd] : 0;
        printf("| %s | %.2f | %.2f | %.2f | %.2f | %.3f |\n", mode_names[m],
               recall[m][KIND_EXACT], recall[m][KIND_PARAPHRASE], recall[m][KIND_ALL],
               (double)top1[m] / total[KIND_ALL], rr[m] / total[KIND_ALL]);
    }
    fflush(stdout);

    /* Loose floors: fusion must not lose much to the better single list, and the whole
     * pipeline must find most answers. */
    double best = recall[1][KIND_ALL] > recall[2][KIND_ALL] ? recall[1][KIND_ALL]
                                                            : recall[2][KIND_ALL];
    CHECK(recall[0][KIND_ALL] >= best - 0.10);
    CHECK(recall[0][KIND_ALL] >= 0.60);
    CHECK(recall[2][KIND_EXACT] >= 0.70); /* exact names and codes: keyword search's job */

    json_decref(qs);
    inngest_rag_embedder_destroy(e);
    inngest_rag_store_destroy(s);
}
