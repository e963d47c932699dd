/* SPDX-License-Identifier: MIT */
/*
 * rag_eval: retrieval quality and search latency of the RAG store on a labelled set.
 *
 *   rag_eval --corpus DIR --questions FILE [options]
 *     --store PATH      store file or URI (default: a scratch file, removed at exit); an existing
 *                       store is reused, and the corpus ingested into it again only where
 *                       a page changed; a postgresql:// URL is used as given
 *     --split LIST      train, dev, test (comma-separated) or all (default): which
 *                       questions to ask
 *     --modes LIST      comma-separated hybrid,keyword,vector (default all three)
 *     --k N             chunks asked per question (default 30), deduplicated to pages
 *     --floor M:R       fail (exit 1) when mode M's recall@5 is below R; repeatable
 *     --misses N        print up to N questions each mode missed in its top 5
 *     --dump FILE       write every hit as JSON lines {q, page, mode, hits: [[chunk id,
 *                       document key, position, score], ...]}, for offline analysis
 *
 * FILE holds one JSON object per line: {"q": question, "page": file name, "split": ...};
 * a question is right when a hit's document key ends in "/<page>". This is how the host
 * answers POST /api/chat offline: the question is embedded with the hash embedder and
 * searched with inngest_rag_search(), k chunks, and the chunks' pages in order of first
 * appearance are the ranking. Prints recall@1/5/10, the mean reciprocal rank and the search
 * latency (p50/p99, embedding the question included; wall time and the process's CPU
 * time) per mode.
 */
#include "fmacros.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include <inngest/rag.h>

#include "rag_testlib.h"

struct question {
    char *q, *page;
};

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* CPU time of this process: the search's own work, which other processes on a shared
 * machine do not inflate the way they do wall time. The process's, not the thread's: a
 * hybrid search's vector ranking runs on the store's scan worker (and the scan itself on
 * more threads beyond 64 MB of codes); nothing else runs while one is timed. */
static double cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int key_is_page(const char *key, const char *page) {
    size_t kl = strlen(key), pl = strlen(page);
    return kl > pl && key[kl - pl - 1] == '/' && !strcmp(key + kl - pl, page);
}

/* 1-based rank of the right page among the distinct pages of the hits, 0 when absent. */
static int page_rank(const inngest_rag_results *r, const char *page) {
    int rank = 0;
    for (size_t i = 0; i < r->count; i++) {
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = !strcmp(r->hits[j].doc_key, r->hits[i].doc_key);
        if (seen)
            continue;
        rank++;
        if (key_is_page(r->hits[i].doc_key, page))
            return rank;
    }
    return 0;
}

/* Non-zero when `split` is "all" or names `sp` in its comma-separated list. */
static int in_list(const char *split, const char *sp) {
    if (!strcmp(split, "all"))
        return 1;
    size_t n = sp ? strlen(sp) : 0;
    for (const char *p = split; sp && *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && !strncmp(p, sp, n))
            return 1;
        p += l + (e ? 1 : 0);
    }
    return 0;
}

static struct question *load_questions(const char *path, const char *split, size_t *n) {
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return NULL;
    }
    struct question *v = NULL;
    size_t cap = 0;
    *n = 0;
    char line[8192];
    while (fgets(line, sizeof(line), f)) {
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        if (!o)
            continue;
        const char *q = json_string_value(json_object_get(o, "q"));
        const char *page = json_string_value(json_object_get(o, "page"));
        const char *sp = json_string_value(json_object_get(o, "split"));
        if (q && page && in_list(split, sp)) {
            if (*n == cap) {
                cap = cap ? cap * 2 : 256;
                v = realloc(v, cap * sizeof(*v));
                if (!v)
                    exit(2);
            }
            v[*n].q = strdup(q);
            v[*n].page = strdup(page);
            (*n)++;
        }
        json_decref(o);
    }
    fclose(f);
    return v;
}

static void usage(void) {
    fprintf(stderr, "usage: rag_eval --corpus DIR --questions FILE [--store PATH] [--split "
                    "train|dev|test|all] [--modes hybrid,keyword,vector] [--k N] [--floor "
                    "MODE:R5] [--misses N]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *corpus = NULL, *qfile = NULL, *store = NULL, *split = "all";
    const char *modes = "hybrid,keyword,vector", *dump = NULL;
    int k = 30, misses = 0;
    char floors[8][64];
    int nfloors = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        if (!strcmp(a, "--corpus"))
            corpus = v;
        else if (!strcmp(a, "--questions"))
            qfile = v;
        else if (!strcmp(a, "--store"))
            store = v;
        else if (!strcmp(a, "--split"))
            split = v;
        else if (!strcmp(a, "--modes"))
            modes = v;
        else if (!strcmp(a, "--k"))
            k = atoi(v);
        else if (!strcmp(a, "--dump"))
            dump = v;
        else if (!strcmp(a, "--misses"))
            misses = atoi(v);
        else if (!strcmp(a, "--floor") && nfloors < 8)
            snprintf(floors[nfloors++], sizeof(floors[0]), "%s", v);
        else
            usage();
        i++;
    }
    if (!corpus || !qfile || k < 1)
        usage();
    size_t nq;
    struct question *qs = load_questions(qfile, split, &nq);
    if (!qs || !nq) {
        fprintf(stderr, "rag_eval: no questions for split %s in %s\n", split, qfile);
        return 2;
    }
    char path[1024], uri[1100];
    if (!store)
        store = rag_test_path("eval.db", path, sizeof(path));
    if (!strncmp(store, "postgres", 8)) /* postgresql:// or postgres://: as given */
        snprintf(uri, sizeof(uri), "%s", store);
    else
        snprintf(uri, sizeof(uri), "%s%s?synchronous=normal",
                 strchr(store, ':') ? "" : "sqlite:", store);
    inngest_error err;
    inngest_rag_store *s = inngest_rag_store_create(uri, NULL, &err);
    inngest_rag_embedder *e = s ? inngest_rag_hash_embedder_create(0, &err) : NULL;
    if (!s || !e) {
        fprintf(stderr, "rag_eval: %s\n", err.message);
        return 2;
    }
    /* Documents are keyed by their path as given: the same folder named another way
     * ("pages", "./pages/") would be added a second time to a store that is reused. */
    char corpus_real[PATH_MAX];
    if (!realpath(corpus, corpus_real)) {
        perror(corpus);
        return 2;
    }
    double t0 = now_ms();
    inngest_rag_ingest_stats st;
    if (inngest_rag_ingest_path(s, e, corpus_real, NULL, &st, &err)) {
        fprintf(stderr, "rag_eval: ingest: %s\n", err.message);
        return 2;
    }
    inngest_rag_store_info info;
    if (inngest_rag_store_get_info(s, &info, &err)) {
        fprintf(stderr, "rag_eval: %s\n", err.message);
        return 2;
    }
    fprintf(stderr, "rag_eval: %zu pages, %zu chunks (%zu ingested in %.1f s); %zu questions (%s)\n",
            info.documents, info.chunks, st.added + st.replaced, (now_ms() - t0) / 1e3, nq, split);
    FILE *df = dump ? fopen(dump, "w") : NULL;
    if (dump && !df) {
        perror(dump);
        return 2;
    }
    printf("| mode | questions | R@1 | R@5 | R@10 | MRR | p50 ms | p99 ms | CPU p50 ms | CPU p99 "
           "ms |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|\n");
    int failed = 0;
    double *lat = malloc(nq * sizeof(*lat)), *cpu = malloc(nq * sizeof(*cpu));
    char list[256];
    snprintf(list, sizeof(list), "%s", modes);
    for (char *m = strtok(list, ","); m; m = strtok(NULL, ",")) {
        inngest_rag_mode mode;
        if (!strcmp(m, "hybrid"))
            mode = INNGEST_RAG_HYBRID;
        else if (!strcmp(m, "keyword"))
            mode = INNGEST_RAG_KEYWORD;
        else if (!strcmp(m, "vector"))
            mode = INNGEST_RAG_VECTOR;
        else
            usage();
        size_t r1 = 0, r5 = 0, r10 = 0;
        int shown = 0;
        double mrr = 0;
        for (size_t i = 0; i < nq; i++) {
            inngest_rag_results r;
            double a = now_ms(), c = cpu_ms();
            if (inngest_rag_search(s, e, qs[i].q, k, mode, &r, &err)) {
                fprintf(stderr, "rag_eval: search: %s\n", err.message);
                return 2;
            }
            lat[i] = now_ms() - a;
            cpu[i] = cpu_ms() - c;
            int rank = page_rank(&r, qs[i].page);
            if (df) {
                json_t *hits = json_array();
                for (size_t j = 0; j < r.count; j++)
                    json_array_append_new(hits, json_pack("[I,s,i,f]", (json_int_t)r.hits[j].chunk_id,
                                                          r.hits[j].doc_key, r.hits[j].position,
                                                          r.hits[j].score));
                json_t *o = json_pack("{s:s,s:s,s:s,s:o}", "q", qs[i].q, "page", qs[i].page,
                                      "mode", m, "hits", hits);
                char *line = json_dumps(o, JSON_COMPACT);
                fprintf(df, "%s\n", line);
                free(line);
                json_decref(o);
            }
            r1 += rank == 1;
            r5 += rank && rank <= 5;
            r10 += rank && rank <= 10;
            mrr += rank ? 1.0 / rank : 0;
            if ((!rank || rank > 5) && shown < misses) {
                shown++;
                fprintf(stderr, "  %s miss (rank %d): %s -> %s; got %s\n", m, rank, qs[i].q,
                        qs[i].page, r.count ? r.hits[0].doc_key : "nothing");
            }
            inngest_rag_results_cleanup(&r);
        }
        qsort(lat, nq, sizeof(*lat), cmp_double);
        qsort(cpu, nq, sizeof(*cpu), cmp_double);
        size_t i99 = (size_t)floor((nq - 1) * 0.99);
        double p50 = lat[nq / 2], p99 = lat[i99];
        double R5 = (double)r5 / nq;
        printf("| %s | %zu | %.3f | %.3f | %.3f | %.3f | %.2f | %.2f | %.2f | %.2f |\n", m, nq,
               (double)r1 / nq, R5, (double)r10 / nq, mrr / nq, p50, p99, cpu[nq / 2], cpu[i99]);
        fflush(stdout);
        for (int f = 0; f < nfloors; f++) {
            size_t ml = strlen(m);
            if (!strncmp(floors[f], m, ml) && floors[f][ml] == ':' &&
                R5 < atof(floors[f] + ml + 1)) {
                fprintf(stderr, "rag_eval: %s recall@5 %.3f is below the floor %s\n", m, R5,
                        floors[f] + ml + 1);
                failed = 1;
            }
        }
    }
    free(lat);
    free(cpu);
    if (df)
        fclose(df);
    for (size_t i = 0; i < nq; i++) {
        free(qs[i].q);
        free(qs[i].page);
    }
    free(qs);
    inngest_rag_embedder_destroy(e);
    inngest_rag_store_destroy(s);
    return failed;
}
