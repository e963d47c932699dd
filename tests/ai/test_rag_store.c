/* SPDX-License-Identifier: MIT */
/*
 * The RAG store on disk: add, replace, delete, search in each mode, source filters, the
 * embedder/dimension guard, staging, reopening, and ingestion of files and folders.
 * The same cases run on SQLite (test_rag_store.*) and on PostgreSQL (test_rag_store_pg.*,
 * with INNGEST_TEST_PG_DIR set: see rag_testlib.h).
 */
#include "fmacros.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <inngest/rag.h>

#include "rag/backend.h"
#include "rag/rag_internal.h"
#include "rag_testlib.h"
#include "testutil.h"

static const char *docs[][3] = {
    {"retries.md", "Retries", "# Retries\n\nA failed step is retried with exponential backoff. "
                              "The default is four retries after the first attempt.\n\nA "
                              "NonRetriableError stops retries at once."},
    {"sleep.md", "Sleeping", "# Sleeping\n\nstep.sleep pauses a run for a duration such as 30s "
                             "or 2d without holding a worker.\n\nThe run resumes on another "
                             "request."},
    {"errors.md", "Error codes", "# Error codes\n\nINNGEST_EMISMATCH means the configuration "
                                 "does not match, for example a store built by another "
                                 "embedder.\n\nINNGEST_EPARSE means malformed input."},
    {"cooking.md", "Pasta", "# Pasta\n\nBoil water, add salt, cook the pasta for nine minutes "
                            "and drain it."},
};

static inngest_rag_store *open_store(const char *name) {
    char path[1024];
    inngest_error err;
    inngest_rag_store *s =
        inngest_rag_store_create(rag_test_store_url(name, path, sizeof(path)), NULL, &err);
    if (!s)
        TEST_FAIL_("open: %s", err.message);
    return s;
}

static void ingest_all(inngest_rag_store *s, inngest_rag_embedder *e) {
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        inngest_rag_document d = {.source = docs[i][0], .title = docs[i][1], .text = docs[i][2]};
        inngest_rag_status status;
        size_t n;
        inngest_error err;
        int rc = inngest_rag_ingest_document(s, e, &d, NULL, &status, &n, &err);
        if (rc)
            TEST_FAIL_("ingest: %s", err.message);
        CHECK_EQ_INT(status, INNGEST_RAG_ADDED);
        CHECK_EQ_INT(n, 1);
    }
}

static int top_is(inngest_rag_store *s, inngest_rag_embedder *e, const char *q,
                  inngest_rag_mode mode, const char *key) {
    inngest_rag_results r;
    inngest_error err;
    if (inngest_rag_search(s, e, q, 3, mode, &r, &err))
        TEST_FAIL_("search: %s", err.message);
    int ok = r.count > 0 && !strcmp(r.hits[0].doc_key, key);
    if (!ok)
        fprintf(stderr, "query \"%s\" (mode %d): top is %s\n", q, mode,
                r.count ? r.hits[0].doc_key : "(none)");
    inngest_rag_results_cleanup(&r);
    return ok;
}

TEST_CASE(add_search_modes) {
    inngest_rag_store *s = open_store("modes.db");
    inngest_rag_embedder *e = inngest_rag_hash_embedder_create(0, NULL);
    ingest_all(s, e);
    inngest_rag_store_info info;
    CHECK_EQ_INT(inngest_rag_store_get_info(s, &info, NULL), 0);
    CHECK_EQ_INT(info.documents, 4);
    CHECK_EQ_INT(info.chunks, 4);
    CHECK_STR(info.embedder_id, "hash-v1");
    CHECK_EQ_INT(info.dim, 1536);
    for (int mode = INNGEST_RAG_HYBRID; mode <= INNGEST_RAG_KEYWORD; mode++) {
        CHECK(top_is(s, e, "how many retries after a failed step", mode, "retries.md"));
        CHECK(top_is(s, e, "pause a run with sleep", mode, "sleep.md"));
        CHECK(top_is(s, e, "INNGEST_EMISMATCH", mode, "errors.md"));
    }
    /* Hit fields. */
    inngest_rag_results r;
    CHECK_EQ_INT(inngest_rag_search(s, e, "boil pasta", 10, INNGEST_RAG_HYBRID, &r, NULL), 0);
    CHECK(r.count >= 1);
    CHECK_STR(r.hits[0].doc_key, "cooking.md");
    CHECK_STR(r.hits[0].title, "Pasta");
    CHECK_STR(r.hits[0].source, "cooking.md");
    CHECK_EQ_INT(r.hits[0].position, 0);
    CHECK_EQ_INT(r.hits[0].vector_rank, 1);
    CHECK_EQ_INT(r.hits[0].keyword_rank, 1);
    /* First in both lists: the best keyword score (1), the title's affinity ("Pasta")
     * at its weight, and the hashing embedder's vector weight (0.2) times the best
     * cosine (1). */
    struct ing_query_words words;
    ing_query_words("boil pasta", &words);
    CHECK(fabs(r.hits[0].score - (1.2 + ING_TITLE_WEIGHT * ing_title_affinity(&words, "Pasta"))) <
          1e-9);
    CHECK(r.hits[0].vector_score > 0.2 && r.hits[0].vector_score <= 1.0001);
    CHECK(strstr(r.hits[0].text, "nine minutes") != NULL);
    for (size_t i = 1; i < r.count; i++)
        CHECK(r.hits[i - 1].score >= r.hits[i].score);
    inngest_rag_results_cleanup(&r);
    inngest_rag_embedder_destroy(e);
    inngest_rag_store_destroy(s);
}

/* In every mode, a search of `q` restricted to sources[0..n) has one hit, from `key`. */
static void only_hit_is(inngest_rag_store *s, inngest_rag_embedder *e, const char *q,
                        const char *const *sources, size_t n, const char *key) {
    float *v = malloc(1536 * sizeof(float));
    CHECK(v != NULL);
    CHECK_EQ_INT(inngest_rag_embed(e, &q, 1, v, NULL), 0);
    for (int mode = INNGEST_RAG_HYBRID; mode <= INNGEST_RAG_KEYWORD; mode++) {
        inngest_rag_query query = {.text = q, .vector = v, .embedder_id = e->id, .dim = e->dim,
                                   .k = 5, .mode = mode, .sources = sources, .source_count = n};
        inngest_rag_results r;
        CHECK_EQ_INT(inngest_rag_store_search(s, &query, &r, NULL), 0);
        CHECK_EQ_INT(r.count, 1);
        if (r.count)
            CHECK_STR(r.hits[0].doc_key, key);
        inngest_rag_results_cleanup(&r);
    }
    free(v);
}

/* An index page quotes a page's description beside its name: the question finds the
 * named page (stored beside the index) before the index; a page that opens with its own
 * name keeps its evidence even when a sibling of that name sorts first. */
TEST_CASE(anchor_text_names_a_page) {
    static const char *pages[][2] = {
        {"ref/toc.txt", "Contents\n\nWidget::Spin - rotates the frobnicator wheel quickly\n"
                        "Widget::Halt - halts every gadget at once\n"
                        "Gizmo - spins the quux rotor sideways\n"},
        {"ref/Widget::Spin.3.txt", "Widget::Spin\n\nThe module turns wheels. Call spin()."},
        {"ref/Widget::Halt.3.txt", "Widget::Halt\n\nStops things. Call halt()."},
        {"ref/intro.2.txt", "intro - introduction to system calls\n\nSystem calls enter "
                            "the kernel."},
        {"ref/intro.3.txt", "intro - introduction to library functions\n\nThe C library "
                            "wraps them."},
        /* In a folder below: not the page "Gizmo" names beside the index. */
        {"ref/Gizmo.d/notes.txt", "Gizmo notes\n\nNothing about rotors here."},
    };
    inngest_rag_store *s = open_store("anchors.db");
    inngest_rag_embedder *e = inngest_rag_hash_embedder_create(0, NULL);
    for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
        inngest_rag_document d = {.source = pages[i][0], .text = pages[i][1]};
        inngest_rag_status status;
        size_t n;
        inngest_error err;
        if (inngest_rag_ingest_document(s, e, &d, NULL, &status, &n, &err))
            TEST_FAIL_("ingest: %s", err.message);
    }
    for (int mode = INNGEST_RAG_HYBRID; mode <= INNGEST_RAG_KEYWORD; mode += 2) {
        CHECK(top_is(s, e, "rotates the frobnicator wheel quickly", mode,
                     "ref/Widget::Spin.3.txt"));
        CHECK(top_is(s, e, "halts every gadget at once", mode, "ref/Widget::Halt.3.txt"));
        CHECK(top_is(s, e, "introduction to library functions", mode, "ref/intro.3.txt"));
        CHECK(top_is(s, e, "introduction to system calls", mode, "ref/intro.2.txt"));
        CHECK(top_is(s, e, "spins the quux rotor sideways", mode, "ref/toc.txt"));
    }
    /* A source filter holds: the index names a page outside it, which stays out. */
    const char *only[] = {"ref/toc.txt"};
    only_hit_is(s, e, "rotates the frobnicator wheel quickly", only, 1, "ref/toc.txt");
    /* The named page's hit shows its own text, ranked by the index line's evidence. */
    inngest_rag_results r;
    CHECK_EQ_INT(inngest_rag_search(s, e, "rotates the frobnicator wheel quickly", 5,
                                    INNGEST_RAG_KEYWORD, &r, NULL),
                 0);
    CHECK(r.count >= 2);
    CHECK(strstr(r.hits[0].text, "turns wheels") != NULL);
    CHECK(r.hits[0].keyword_score > 0);
    inngest_rag_results_cleanup(&r);
    inngest_rag_embedder_destroy(e);
    inngest_rag_store_destroy(s);
}

TEST_CASE(replace_unchanged_and_delete) {
    inngest_rag_store *s = open_store("replace.db");
    inngest_rag_embedder *e = inngest_rag_hash_embedder_create(0, NULL);
    ingest_all(s, e);
    inngest_rag_document d = {.source = "cooking.md", .text = docs[3][2]};
    inngest_rag_status status;
    CHECK_EQ_INT(inngest_rag_ingest_document(s, e, &d, NULL, &status, NULL, NULL), 0);
    CHECK_EQ_INT(status, INNGEST_RAG_UNCHANGED);
    d.text = "# Bread\n\nKnead the dough, let it rise overnight, bake at 230 degrees.";
    CHECK_EQ_INT(inngest_rag_ingest_document(s, e, &d, NULL, &status, NULL, NULL), 0);
    CHECK_EQ_INT(status, INNGEST_RAG_REPLACED);
    inngest_rag_results r;
    CHECK_EQ_INT(inngest_rag_search(s, e, "boil pasta nine minutes", 5, INNGEST_RAG_KEYWORD, &r,
                                    NULL), 0);
    CHECK_EQ_INT(r.count, 0); /* the old text is gone from the keyword index */
    inngest_rag_results_cleanup(&r);
    CHECK(top_is(s, e, "knead dough", INNGEST_RAG_VECTOR, "cooking.md"));
    json_t *list = inngest_rag_store_list(s, NULL);
    CHECK_EQ_INT(json_array_size(list), 4);
    json_t *cook = json_array_get(list, 0);
    CHECK_STR(json_string_value(json_object_get(cook, "key")), "cooking.md");
    CHECK_STR(json_string_value(json_object_get(cook, "title")), "Bread");
    json_decref(list);

    inngest_error err;
    CHECK_EQ_INT(inngest_rag_store_delete(s, "cooking.md", NULL), 0);
    CHECK_EQ_INT(inngest_rag_store_delete(s, "cooking.md", &err), INNGEST_ENOTFOUND);
    CHECK_EQ_INT(inngest_rag_search(s, e, "knead dough bread", 5, INNGEST_RAG_HYBRID, &r, NULL),
                 0);
    for (size_t i = 0; i < r.count; i++)
        CHECK(strcmp(r.hits[i].doc_key, "cooking.md") != 0);
    inngest_rag_results_cleanup(&r);

    /* Reopen: the same content, loaded from disk. */
    inngest_rag_store_destroy(s);
    s = open_store("replace.db");
    inngest_rag_store_info info;
    CHECK_EQ_INT(inngest_rag_store_get_info(s, &info, NULL), 0);
    CHECK_EQ_INT(info.documents, 3);
    CHECK_EQ_INT(info.chunks, 3);
    CHECK(top_is(s, e, "exponential backoff", INNGEST_RAG_VECTOR, "retries.md"));
    inngest_rag_embedder_destroy(e);
    inngest_rag_store_destroy(s);
}

TEST_CASE(source_filter) {
    inngest_rag_store *s = open_store("filter.db");
    inngest_rag_embedder *e = inngest_rag_hash_embedder_create(0, NULL);
    ingest_all(s, e);
    float *v = malloc(1536 * sizeof(float));
    const char *q = "retries and sleep";
    CHECK_EQ_INT(inngest_rag_embed(e, &q, 1, v, NULL), 0);
    const char *only[] = {"sleep.md", "unknown.md"};
    only_hit_is(s, e, q, only, 2, "sleep.md");
    const char *none[] = {"nothing.md"};
    inngest_rag_query query = {.text = q, .vector = v, .embedder_id = e->id, .dim = e->dim,
                               .sources = none, .source_count = 1};
    inngest_rag_results r;
    CHECK_EQ_INT(inngest_rag_store_search(s, &query, &r, NULL), 0);
    CHECK_EQ_INT(r.count, 0);
    free(v);
    inngest_rag_embedder_destroy(e);
    inngest_rag_store_destroy(s);
}

TEST_CASE(dimension_and_embedder_mismatch) {
    inngest_rag_store *s = open_store("mismatch.db");
    inngest_rag_embedder *e = inngest_rag_hash_embedder_create(0, NULL);
    inngest_rag_embedder *small = inngest_rag_hash_embedder_create(256, NULL);
    /* An unbound store accepts any embedder. */
    CHECK_EQ_INT(inngest_rag_store_check(s, "anything", 3, NULL), 0);
    ingest_all(s, e);
    inngest_error err;
    inngest_rag_results r;
    CHECK_EQ_INT(inngest_rag_search(s, small, "retries", 5, INNGEST_RAG_HYBRID, &r, &err),
                 INNGEST_EMISMATCH);
    CHECK(strstr(err.message, "hash-v1 (1536 dimensions)") != NULL);
    CHECK(strstr(err.message, "(256 dimensions)") != NULL);
    CHECK_EQ_INT(err.no_retry, 1);
    /* Same dimension, another embedder id. */
    float v[1536] = {1};
    inngest_rag_query q = {.text = "x", .vector = v, .embedder_id = "openai:text-embedding-3-small",
                           .dim = 1536, .mode = INNGEST_RAG_VECTOR};
    CHECK_EQ_INT(inngest_rag_store_search(s, &q, &r, &err), INNGEST_EMISMATCH);
    CHECK(strstr(err.message, "openai:text-embedding-3-small") != NULL);
    /* Adding with the wrong embedder is refused too; keyword search still works. */
    inngest_rag_document d = {.source = "new.md", .text = "new text"};
    CHECK_EQ_INT(inngest_rag_ingest_document(s, small, &d, NULL, NULL, NULL, &err),
                 INNGEST_EMISMATCH);
    CHECK_EQ_INT(inngest_rag_search(s, small, "pasta", 5, INNGEST_RAG_KEYWORD, &r, NULL), 0);
    CHECK_EQ_INT(r.count, 1);
    inngest_rag_results_cleanup(&r);
    /* The binding is durable. */
    inngest_rag_store_destroy(s);
    s = open_store("mismatch.db");
    CHECK_EQ_INT(inngest_rag_store_check(s, "hash-v1", 256, &err), INNGEST_EMISMATCH);
    CHECK_EQ_INT(inngest_rag_store_check(s, "hash-v1", 1536, &err), 0);
    inngest_rag_embedder_destroy(small);
    inngest_rag_embedder_destroy(e);
    inngest_rag_store_destroy(s);
}

/* The top vector hit for `q` among documents with key `key`: its cosine and position. */
static double top_vector(inngest_rag_store *s, const float *q, const char *key, int *position) {
    const char *keys[] = {key};
    inngest_rag_query query = {.vector = q, .embedder_id = "hash-v1", .dim = 8, .k = 1,
                               .mode = INNGEST_RAG_VECTOR, .sources = keys, .source_count = 1};
    inngest_rag_results r;
    CHECK_EQ_INT(inngest_rag_store_search(s, &query, &r, NULL), 0);
    CHECK_EQ_INT(r.count, 1);
    double score = r.hits[0].vector_score;
    *position = r.hits[0].position;
    inngest_rag_results_cleanup(&r);
    return score;
}

TEST_CASE(staging) {
    inngest_rag_store *s = open_store("staging.db");
    inngest_rag_embedder *e = inngest_rag_hash_embedder_create(8, NULL);
    const char *text = "alpha beta. gamma delta.";
    inngest_rag_chunk ch[2] = {{0, 11}, {12, 12}};
    float v[8] = {0}, q[8] = {0};
    v[3] = 2.0f; /* staged vectors are kept as given and normalised by the put */
    q[3] = 1.0f;
    inngest_rag_presence pr;
    inngest_rag_status st;
    int pos;
    /* Vectors staged for another version of the document are not used. */
    inngest_rag_document d = {.key = "k", .source = "k.md", .text = text};
    inngest_rag_document other = {.key = "k", .source = "k.md", .text = "another text"};
    CHECK_EQ_INT(inngest_rag_store_stage(s, &other, 0, 1, v, e->id, e->dim, NULL), 0);
    CHECK_EQ_INT(inngest_rag_store_presence(s, &d, &pr, NULL), 0);
    CHECK_EQ_INT(pr, INNGEST_RAG_ABSENT);
    CHECK_EQ_INT(inngest_rag_store_put_staged(s, e, &d, ch, 2, &st, NULL), 0);
    CHECK_EQ_INT(st, INNGEST_RAG_ADDED);
    CHECK(top_vector(s, q, "k", &pos) < 0.999);
    CHECK_EQ_INT(inngest_rag_store_presence(s, &d, &pr, NULL), 0);
    CHECK_EQ_INT(pr, INNGEST_RAG_CURRENT);
    CHECK_EQ_INT(inngest_rag_store_presence(s, &other, &pr, NULL), 0);
    CHECK_EQ_INT(pr, INNGEST_RAG_STALE);
    /* Idempotent: the same content again writes nothing. */
    CHECK_EQ_INT(inngest_rag_store_put_staged(s, e, &d, ch, 2, &st, NULL), 0);
    CHECK_EQ_INT(st, INNGEST_RAG_UNCHANGED);
    /* A vector staged for chunk 0 of this version is the one stored; chunk 1 is embedded. */
    inngest_rag_document d2 = {.key = "k2", .source = "k.md", .text = text};
    CHECK_EQ_INT(inngest_rag_store_stage(s, &d2, 0, 1, v, e->id, e->dim, NULL), 0);
    CHECK_EQ_INT(inngest_rag_store_put_staged(s, e, &d2, ch, 2, &st, NULL), 0);
    CHECK_EQ_INT(st, INNGEST_RAG_ADDED);
    CHECK(top_vector(s, q, "k2", &pos) > 0.999);
    CHECK_EQ_INT(pos, 0);
    /* Guards: another embedder, a chunk outside the text, no document. */
    inngest_error err;
    CHECK_EQ_INT(inngest_rag_store_stage(s, &d2, 0, 1, v, "other", 8, &err), INNGEST_EMISMATCH);
    inngest_rag_chunk bad[1] = {{20, 10}};
    CHECK_EQ_INT(inngest_rag_store_put_staged(s, e, &other, bad, 1, &st, &err), INNGEST_EINVAL);
    CHECK_EQ_INT(inngest_rag_store_stage(s, NULL, 0, 1, v, e->id, e->dim, &err), INNGEST_EINVAL);
    inngest_rag_embedder_destroy(e);
    inngest_rag_store_destroy(s);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fputs(text, f);
    fclose(f);
}

struct prog {
    int starts, ends, last_status;
    size_t files_total;
};

static void on_progress(void *user, const inngest_rag_progress *p) {
    struct prog *g = user;
    g->files_total = p->files_total;
    if (p->status == 0)
        g->starts++;
    else
        g->ends++;
    g->last_status = p->status;
}

TEST_CASE(ingest_folder_with_progress) {
    char dir[1024], p[1100];
    rag_test_path("corpus", dir, sizeof(dir));
    mkdir(dir, 0700);
    snprintf(p, sizeof(p), "%s/sub", dir);
    mkdir(p, 0700);
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s/%s%s", dir, i == 2 ? "sub/" : "", docs[i][0]);
        write_file(p, docs[i][2]);
    }
    snprintf(p, sizeof(p), "%s/image.png", dir);
    write_file(p, "not text");
    snprintf(p, sizeof(p), "%s/.hidden.md", dir);
    write_file(p, "hidden");
    inngest_rag_store *s = open_store("folder.db");
    inngest_rag_embedder *e = inngest_rag_hash_embedder_create(0, NULL);
    struct prog g = {0};
    inngest_rag_ingest_opts o = {.progress = on_progress, .progress_user = &g};
    inngest_rag_ingest_stats st;
    inngest_error err;
    CHECK_EQ_INT(inngest_rag_ingest_path(s, e, dir, &o, &st, &err), 0);
    CHECK_EQ_INT(st.files, 3);
    CHECK_EQ_INT(st.added, 3);
    CHECK_EQ_INT(g.files_total, 3);
    CHECK_EQ_INT(g.starts, 3);
    CHECK_EQ_INT(g.ends, 3);
    /* Again: nothing changed. */
    CHECK_EQ_INT(inngest_rag_ingest_path(s, e, dir, &o, &st, &err), 0);
    CHECK_EQ_INT(st.unchanged, 3);
    CHECK_EQ_INT(st.chunks, 0);
    json_t *list = inngest_rag_store_list(s, NULL);
    snprintf(p, sizeof(p), "%s/sub/errors.md", dir);
    CHECK_STR(json_string_value(json_object_get(json_array_get(list, 2), "key")), p);
    CHECK_STR(json_string_value(json_object_get(json_array_get(list, 2), "title")),
              "Error codes");
    json_decref(list);
    CHECK_EQ_INT(inngest_rag_ingest_path(s, e, "/nonexistent/x", &o, &st, &err),
                 INNGEST_ENOTFOUND);
    inngest_rag_embedder_destroy(e);
    inngest_rag_store_destroy(s);
}

TEST_CASE(invalid_utf8_documents_are_repaired) {
    inngest_rag_store *s = open_store("utf8.db");
    inngest_rag_embedder *e = inngest_rag_hash_embedder_create(0, NULL);
    inngest_rag_document d = {.source = "bad.txt", .text = "caf\xc3 broken \xff bytes here"};
    CHECK_EQ_INT(inngest_rag_ingest_document(s, e, &d, NULL, NULL, NULL, NULL), 0);
    inngest_rag_results r;
    CHECK_EQ_INT(inngest_rag_search(s, e, "broken bytes", 1, INNGEST_RAG_HYBRID, &r, NULL), 0);
    CHECK_EQ_INT(r.count, 1);
    CHECK_STR(r.hits[0].text, "caf\xef\xbf\xbd broken \xef\xbf\xbd bytes here");
    inngest_rag_results_cleanup(&r);
    inngest_rag_embedder_destroy(e);
    inngest_rag_store_destroy(s);
}

TEST_CASE(not_a_store) {
    char path[1024];
    inngest_error err;
    if (rag_test_on_pg()) {
        /* Nothing listens on port 1: the store is unavailable, not broken. */
        CHECK(inngest_rag_store_create("postgresql://postgres@127.0.0.1:1/none", NULL, &err) ==
              NULL);
        CHECK_EQ_INT(err.code, INNGEST_EUNAVAILABLE);
        CHECK(strstr(err.message, "PostgreSQL") != NULL);
        return;
    }
    rag_test_path("garbage.db", path, sizeof(path));
    write_file(path, "this is not an SQLite database, not even close...........");
    CHECK(inngest_rag_store_create(path, NULL, &err) == NULL);
    CHECK_EQ_INT(err.code, INNGEST_EIO);
}

TEST_CASE(store_uris) {
    char path[1024], uri[1100];
    inngest_error err;
    snprintf(uri, sizeof(uri), "sqlite:%s", rag_test_path("uri.db", path, sizeof(path)));
    inngest_rag_store *s = inngest_rag_store_create(uri, NULL, &err);
    CHECK(s != NULL);
    inngest_rag_embedder *e = inngest_rag_hash_embedder_create(0, NULL);
    ingest_all(s, e);
    inngest_rag_store_destroy(s);
    /* The same file by its plain path. */
    s = inngest_rag_store_create(path, NULL, &err);
    CHECK(s != NULL);
    inngest_rag_store_info info;
    CHECK_EQ_INT(inngest_rag_store_get_info(s, &info, NULL), 0);
    CHECK_EQ_INT(info.documents, 4);
    inngest_rag_store_destroy(s);
    /* A scheme this build has no backend for is an error, not a file name. */
    CHECK(inngest_rag_store_create("nosuch://host/db", NULL, &err) == NULL);
    CHECK_EQ_INT(err.code, INNGEST_EINVAL);
    CHECK(strstr(err.message, "nosuch://") != NULL);
    /* SQLite's parameters travel in its URI. */
    snprintf(uri, sizeof(uri), "sqlite:%s?synchronous=normal", path);
    s = inngest_rag_store_create(uri, NULL, &err);
    CHECK(s != NULL);
    CHECK_EQ_INT(inngest_rag_store_get_info(s, &info, NULL), 0);
    CHECK_EQ_INT(info.documents, 4);
    CHECK_STR(info.backend, "sqlite");
    inngest_rag_store_destroy(s);
    snprintf(uri, sizeof(uri), "sqlite://%s?synchronous=full&", path);
    s = inngest_rag_store_create(uri, NULL, &err);
    CHECK(s != NULL);
    inngest_rag_store_destroy(s);
    snprintf(uri, sizeof(uri), "sqlite:%s?fast=1", path);
    CHECK(inngest_rag_store_create(uri, NULL, &err) == NULL);
    CHECK_EQ_INT(err.code, INNGEST_EINVAL);
    CHECK(strstr(err.message, "fast=1") != NULL);
    CHECK(inngest_rag_store_create("sqlite:?synchronous=full", NULL, &err) == NULL);
    CHECK_EQ_INT(err.code, INNGEST_EINVAL);
    CHECK(inngest_rag_store_create("sqlite:", NULL, &err) == NULL);
    CHECK_EQ_INT(err.code, INNGEST_EINVAL);
    CHECK(inngest_rag_store_create("", NULL, &err) == NULL);
    inngest_rag_embedder_destroy(e);
}

/* INNGEST_RAG_THREADS is read by the environment loader: a bad value is an error naming
 * it, an empty one is unset, and opts.threads wins over it. */
TEST_CASE(threads_from_environment) {
    char path[1024];
    inngest_error err;
    rag_test_path("threads.db", path, sizeof(path));
    const char *bad[] = {"abc", "0", "-2", "4x", "1025"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv("INNGEST_RAG_THREADS", bad[i], 1);
        CHECK(inngest_rag_store_create(path, NULL, &err) == NULL);
        CHECK_EQ_INT(err.code, INNGEST_ECONFIG);
        CHECK(strstr(err.message, "INNGEST_RAG_THREADS") != NULL);
    }
    inngest_rag_store_opts o = {.threads = 2};
    inngest_rag_store *s = inngest_rag_store_create(path, &o, &err);
    CHECK(s != NULL);
    inngest_rag_store_destroy(s);
    const char *good[] = {"", "3"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        setenv("INNGEST_RAG_THREADS", good[i], 1);
        s = inngest_rag_store_create(path, NULL, &err);
        CHECK(s != NULL);
        inngest_rag_store_destroy(s);
    }
    unsetenv("INNGEST_RAG_THREADS");
}

/* Two stores over one file stand for two replicas over a shared backend: what one writes,
 * the other's in-memory index shows after ing_rag_store_apply_change(). */
TEST_CASE(changes_from_another_writer) {
    char path[1024];
    rag_test_path("shared.db", path, sizeof(path));
    inngest_error err;
    inngest_rag_store *a = inngest_rag_store_create(path, NULL, &err);
    inngest_rag_store *b = inngest_rag_store_create(path, NULL, &err);
    CHECK(a && b);
    inngest_rag_embedder *e = inngest_rag_hash_embedder_create(0, NULL);
    ingest_all(a, e);
    /* b was opened unbound and empty: vectors are not in its index yet. */
    inngest_rag_results r;
    CHECK_EQ_INT(inngest_rag_search(b, e, "boil pasta", 3, INNGEST_RAG_VECTOR, &r, NULL), 0);
    CHECK_EQ_INT(r.count, 0);
    inngest_rag_results_cleanup(&r);
    /* SQLite document ids run from 1: apply all four (twice: it is idempotent). */
    for (int round = 0; round < 2; round++)
        for (int64_t d = 1; d <= 4; d++)
            CHECK_EQ_INT(ing_rag_store_apply_change(b, 0, d, &err), 0);
    inngest_rag_store_info info;
    CHECK_EQ_INT(inngest_rag_store_get_info(b, &info, NULL), 0);
    CHECK_STR(info.embedder_id, "hash-v1");
    CHECK(top_is(b, e, "boil pasta", INNGEST_RAG_VECTOR, "cooking.md"));
    CHECK_EQ_INT(inngest_rag_search(b, e, "boil pasta", 10, INNGEST_RAG_VECTOR, &r, NULL), 0);
    CHECK_EQ_INT(r.count, 4); /* no duplicates */
    inngest_rag_results_cleanup(&r);
    /* a replaces cooking.md (id 4; SQLite may give the new version id 4 or 5) and deletes
     * sleep.md (id 2). Refreshing a document id reloads what the backend has for it, which
     * is nothing for a deleted one. */
    inngest_rag_document d = {.source = "cooking.md", .text = "# Pasta\n\nBake bread instead."};
    CHECK_EQ_INT(inngest_rag_ingest_document(a, e, &d, NULL, NULL, NULL, NULL), 0);
    CHECK_EQ_INT(inngest_rag_store_delete(a, "sleep.md", NULL), 0);
    CHECK_EQ_INT(ing_rag_store_apply_change(b, 4, 0, &err), 0);
    for (int64_t id = 1; id <= 6; id++)
        CHECK_EQ_INT(ing_rag_store_apply_change(b, 0, id, &err), 0);
    CHECK_EQ_INT(inngest_rag_search(b, e, "bake bread", 10, INNGEST_RAG_VECTOR, &r, NULL), 0);
    CHECK_EQ_INT(r.count, 3);
    CHECK_STR(r.hits[0].doc_key, "cooking.md");
    CHECK(strstr(r.hits[0].text, "Bake bread") != NULL);
    for (size_t i = 0; i < r.count; i++)
        CHECK(strcmp(r.hits[i].doc_key, "sleep.md") != 0);
    inngest_rag_results_cleanup(&r);
    inngest_rag_embedder_destroy(e);
    inngest_rag_store_destroy(a);
    inngest_rag_store_destroy(b);
}

/* Searches on several threads while another thread replaces and deletes a document: each
 * search answers, and finds what it always found (the fixed documents). On SQLite the
 * searches read through readers (other connections), on PostgreSQL through the pool. */
struct searcher_arg {
    inngest_rag_store *s;
    inngest_rag_embedder *e;
    int rounds;
};

static void *searcher(void *arg) {
    struct searcher_arg *a = arg;
    for (int i = 0; i < a->rounds; i++) {
        inngest_rag_mode mode = i % 2 ? INNGEST_RAG_KEYWORD : INNGEST_RAG_HYBRID;
        CHECK(top_is(a->s, a->e, "how many retries after a failed step", mode, "retries.md"));
        CHECK(top_is(a->s, a->e, "INNGEST_EMISMATCH", mode, "errors.md"));
    }
    return NULL;
}

TEST_CASE(searches_run_alongside_writes) {
    inngest_rag_store *s = open_store("parallel.db");
    inngest_rag_embedder *e = inngest_rag_hash_embedder_create(0, NULL);
    ingest_all(s, e);
    enum { THREADS = 4 };
    pthread_t t[THREADS];
    struct searcher_arg arg = {s, e, 25};
    for (int i = 0; i < THREADS; i++)
        CHECK_EQ_INT(pthread_create(&t[i], NULL, searcher, &arg), 0);
    char text[128];
    for (int i = 0; i < 20; i++) {
        snprintf(text, sizeof(text), "# Churn\n\nVersion %d of a page about gardening.", i);
        inngest_rag_document d = {.source = "churn.md", .text = text};
        CHECK_EQ_INT(inngest_rag_ingest_document(s, e, &d, NULL, NULL, NULL, NULL), 0);
        if (i % 5 == 3) /* the last round (19) leaves it in */
            CHECK_EQ_INT(inngest_rag_store_delete(s, "churn.md", NULL), 0);
    }
    for (int i = 0; i < THREADS; i++)
        CHECK_EQ_INT(pthread_join(t[i], NULL), 0);
    CHECK(top_is(s, e, "gardening page version", INNGEST_RAG_KEYWORD, "churn.md"));
    inngest_rag_embedder_destroy(e);
    inngest_rag_store_destroy(s);
}

/* The chunk id of the top keyword hit for `q` (0 when none). */
static int64_t top_chunk(inngest_rag_store *s, inngest_rag_embedder *e, const char *q) {
    inngest_rag_results r;
    inngest_error err;
    if (inngest_rag_search(s, e, q, 1, INNGEST_RAG_KEYWORD, &r, &err))
        TEST_FAIL_("search: %s", err.message);
    int64_t id = r.count ? r.hits[0].chunk_id : 0;
    inngest_rag_results_cleanup(&r);
    return id;
}

/* A deleted or replaced document's chunk ids are not given to the next document: a search
 * that ranked the old chunk and reads its text after the write must find it gone, not read
 * the new document's text under the old id (SQLite gives the highest rowid again unless
 * told otherwise). Also across a reopen. */
TEST_CASE(deleted_ids_are_not_reused) {
    inngest_rag_store *s = open_store("ids.db");
    inngest_rag_embedder *e = inngest_rag_hash_embedder_create(0, NULL);
    ingest_all(s, e);
    inngest_rag_document d = {.source = "last.md", .text = "# Zebra\n\nZebras graze."};
    CHECK_EQ_INT(inngest_rag_ingest_document(s, e, &d, NULL, NULL, NULL, NULL), 0);
    int64_t first = top_chunk(s, e, "zebra");
    CHECK(first > 0);
    d.text = "# Zebra\n\nZebras graze at dawn."; /* replaced: new ids */
    CHECK_EQ_INT(inngest_rag_ingest_document(s, e, &d, NULL, NULL, NULL, NULL), 0);
    int64_t second = top_chunk(s, e, "zebra");
    CHECK(second > first);
    CHECK_EQ_INT(inngest_rag_store_delete(s, "last.md", NULL), 0);
    inngest_rag_store_destroy(s);
    s = open_store("ids.db");
    inngest_rag_document o = {.source = "okapi.md", .text = "# Okapi\n\nOkapis browse."};
    CHECK_EQ_INT(inngest_rag_ingest_document(s, e, &o, NULL, NULL, NULL, NULL), 0);
    CHECK(top_chunk(s, e, "okapi") > second);
    CHECK_EQ_INT(top_chunk(s, e, "zebra"), 0);
    inngest_rag_embedder_destroy(e);
    inngest_rag_store_destroy(s);
}

TEST_CASE(status_names) {
    CHECK_STR(inngest_rag_status_name(INNGEST_RAG_ADDED), "added");
    CHECK_STR(inngest_rag_status_name(INNGEST_RAG_REPLACED), "replaced");
    CHECK_STR(inngest_rag_status_name(INNGEST_RAG_UNCHANGED), "unchanged");
    CHECK_STR(inngest_rag_status_name(0), "starting");
    CHECK_STR(inngest_rag_status_name(INNGEST_EIO), "failed");
    CHECK_STR(inngest_rag_status_name(INNGEST_STEP_PENDING), "unknown");
    /* RAG statuses are not step statuses. */
    CHECK((int)INNGEST_RAG_ADDED != (int)INNGEST_STEP_PENDING && (int)INNGEST_RAG_ADDED != 0);
}
