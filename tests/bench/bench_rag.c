/* SPDX-License-Identifier: MIT */
/*
 * RAG benchmark (not a test; prints numbers, never passes or fails on them).
 *
 * 1. Vector search at N vectors of `dim` dimensions, built straight into the in-memory
 *    int8 index (src/rag/rag_internal.h), without SQLite: clustered Gaussian data (unit
 *    vectors around N/1000 random centres, queries drawn the same way), so neighbours
 *    compete closely and recall means something. Reports the exact int8 top-k scan
 *    latency (p50/p99 over the queries, 1 and 2 threads), the same plus float32 rescoring
 *    of the candidates (what the store does), recall@10 of both against exact float32
 *    search, and the machine's read bandwidth over a buffer the size of the int8 codes
 *    (1 and 2 threads), with scan time / (bytes / bandwidth).
 * 2. Ingestion through the store with the hash embedder: synthetic Markdown documents,
 *    docs/s and chunks/s with sqlite:...?synchronous=full (the default) and =normal.
 *
 * 3. With --store (up to 4 times): the same Zipfian documents ingested into each store in
 *    turns until it holds each --chunks count (default 16000,100000), docs/s, then search
 *    latency p50/p99 (hybrid and keyword, the same questions asked of each store in turn)
 *    and hybrid searches/s with 1 and --searchers threads. Each store must start empty.
 *
 *   bench_rag [--n N] [--dim D] [--queries Q] [--k K] [--rescore C] [--repeat R]
 *             [--docs D] [--no-search] [--no-ingest]
 *   bench_rag --store URI [--store URI...] [--chunks N,N...] [--queries Q] [--k K]
 *             [--searchers T]
 */
#include "fmacros.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <inngest/rag.h>

#include "rag/rag_internal.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define BENCH_X86 1
#endif

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *xmalloc(size_t n) {
    void *p = aligned_alloc(64, (n + 63) / 64 * 64);
    if (!p) {
        fprintf(stderr, "out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

/* ---- data ------------------------------------------------------------------------------- */

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Fills v[0..n) with standard normal samples (Box-Muller), from seed `seed`. */
static void gaussians(uint64_t seed, float *v, int n) {
    uint64_t s = seed;
    for (int i = 0; i < n; i += 2) {
        double u1 = ((double)(splitmix(&s) >> 11) + 1.0) / 9007199254740993.0;
        double u2 = (double)(splitmix(&s) >> 11) / 9007199254740992.0;
        double r = sqrt(-2.0 * log(u1)), t = 6.283185307179586 * u2;
        v[i] = (float)(r * cos(t));
        if (i + 1 < n)
            v[i + 1] = (float)(r * sin(t));
    }
}

struct gen {
    const float *centres;
    int ncent, dim;
    float sigma;
    uint64_t seed;
    float *out;
    size_t from, to;
};

/* Vector i: a centre (picked by i's hash) plus sigma * noise, scaled to unit length.
 * Deterministic per i, whatever the thread split. */
static void make_vector(const struct gen *g, size_t i, float *v) {
    uint64_t s = g->seed ^ (i * 0x2545f4914f6cdd1dULL);
    int c = (int)(splitmix(&s) % (uint64_t)g->ncent);
    gaussians(splitmix(&s), v, g->dim);
    const float *cv = g->centres + (size_t)c * (size_t)g->dim;
    for (int j = 0; j < g->dim; j++)
        v[j] = cv[j] + g->sigma * v[j];
    ing_l2_normalize(v, g->dim);
}

static void *gen_run(void *arg) {
    struct gen *g = arg;
    for (size_t i = g->from; i < g->to; i++)
        make_vector(g, i, g->out + (i - g->from) * (size_t)g->dim);
    return NULL;
}

/* Fills out[0..n) (n * dim floats) on 2 threads. */
static void gen_vectors(const struct gen *proto, size_t first, size_t n, float *out) {
    struct gen g[2];
    pthread_t t;
    for (int k = 0; k < 2; k++) {
        g[k] = *proto;
        g[k].from = first + n * (size_t)k / 2;
        g[k].to = first + n * (size_t)(k + 1) / 2;
        g[k].out = out + (g[k].from - first) * (size_t)proto->dim;
    }
    pthread_create(&t, NULL, gen_run, &g[1]);
    gen_run(&g[0]);
    pthread_join(t, NULL);
}

/* ---- exact float32 ground truth --------------------------------------------------------- */

struct topk {
    int64_t id[64];
    float s[64];
    int n, k;
};

static void topk_push(struct topk *t, int64_t id, float s) {
    if (t->n == t->k && s <= t->s[t->n - 1])
        return;
    int i = t->n < t->k ? t->n++ : t->n - 1;
    while (i > 0 && t->s[i - 1] < s) {
        t->s[i] = t->s[i - 1];
        t->id[i] = t->id[i - 1];
        i--;
    }
    t->s[i] = s;
    t->id[i] = id;
}

struct truth_job {
    const float *vecs, *queries;
    size_t n;
    int dim, q_from, q_to;
    struct topk *out;
};

/* Blocks of vectors small enough to stay in L2 while every query of this thread passes. */
static void *truth_run(void *arg) {
    struct truth_job *j = arg;
    ing_dot_f32_fn dot = ing_kernel_dot_f32();
    const size_t block = 256;
    for (size_t b = 0; b < j->n; b += block) {
        size_t e = b + block < j->n ? b + block : j->n;
        for (int q = j->q_from; q < j->q_to; q++) {
            const float *qv = j->queries + (size_t)q * (size_t)j->dim;
            for (size_t i = b; i < e; i++)
                topk_push(&j->out[q], (int64_t)i + 1,
                          dot(qv, j->vecs + i * (size_t)j->dim, (size_t)j->dim));
        }
    }
    return NULL;
}

static void ground_truth(const float *vecs, size_t n, int dim, const float *queries, int nq,
                         int k, struct topk *out) {
    for (int q = 0; q < nq; q++)
        out[q] = (struct topk){.k = k};
    struct truth_job j[2] = {{vecs, queries, n, dim, 0, nq / 2, out},
                             {vecs, queries, n, dim, nq / 2, nq, out}};
    pthread_t t;
    pthread_create(&t, NULL, truth_run, &j[1]);
    truth_run(&j[0]);
    pthread_join(t, NULL);
}

/* ---- memory bandwidth ------------------------------------------------------------------- */

#ifdef BENCH_X86
__attribute__((target("avx512f"))) static uint64_t read_avx512(const uint8_t *p, size_t n) {
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i + 256 <= n; i += 256) {
        a0 = _mm512_xor_si512(a0, _mm512_load_si512((const void *)(p + i)));
        a1 = _mm512_xor_si512(a1, _mm512_load_si512((const void *)(p + i + 64)));
        a2 = _mm512_xor_si512(a2, _mm512_load_si512((const void *)(p + i + 128)));
        a3 = _mm512_xor_si512(a3, _mm512_load_si512((const void *)(p + i + 192)));
    }
    __m512i a = _mm512_xor_si512(_mm512_xor_si512(a0, a1), _mm512_xor_si512(a2, a3));
    return (uint64_t)_mm512_reduce_add_epi64(a);
}
#endif

static uint64_t read_scalar(const uint8_t *p, size_t n) {
    const uint64_t *w = (const uint64_t *)(const void *)p;
    uint64_t a = 0, b = 0, c = 0, d = 0;
    for (size_t i = 0; i + 4 <= n / 8; i += 4) {
        a ^= w[i];
        b ^= w[i + 1];
        c ^= w[i + 2];
        d ^= w[i + 3];
    }
    return a ^ b ^ c ^ d;
}

struct bw_job {
    const uint8_t *p;
    size_t n;
    uint64_t sink;
};

static void *bw_run(void *arg) {
    struct bw_job *j = arg;
#ifdef BENCH_X86
    if (__builtin_cpu_supports("avx512f")) {
        j->sink = read_avx512(j->p, j->n);
        return NULL;
    }
#endif
    j->sink = read_scalar(j->p, j->n);
    return NULL;
}

/* Best read bandwidth (bytes/s) over `passes` reads of buf[0..n) with `threads` threads. */
static double read_bandwidth(const uint8_t *buf, size_t n, int threads, int passes,
                             uint64_t *sink) {
    double best = 0;
    for (int r = 0; r < passes; r++) {
        struct bw_job j[2];
        pthread_t t;
        size_t half = n / 2 / 256 * 256;
        j[0] = (struct bw_job){buf, threads == 2 ? half : n, 0};
        j[1] = (struct bw_job){buf + half, n - half, 0};
        double t0 = now_s();
        if (threads == 2)
            pthread_create(&t, NULL, bw_run, &j[1]);
        bw_run(&j[0]);
        if (threads == 2)
            pthread_join(t, NULL);
        double dt = now_s() - t0;
        *sink ^= j[0].sink ^ j[1].sink;
        if (n / dt > best)
            best = (double)n / dt;
    }
    return best;
}

/* ---- search ----------------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *sorted, int n, double p) {
    int i = (int)(p * (n - 1) + 0.5);
    return sorted[i];
}

static double recall_of(const int64_t *got, int ngot, const struct topk *truth) {
    int hit = 0;
    for (int i = 0; i < truth->n; i++)
        for (int j = 0; j < ngot; j++)
            if (got[j] == truth->id[i]) {
                hit++;
                break;
            }
    return truth->n ? (double)hit / truth->n : 1.0;
}

struct run_stats {
    double scan_p50, scan_p99, search_p50, search_p99;
    double recall_i8, recall_rescored;
};

static int cand_desc(const void *a, const void *b) {
    const struct ing_cand *x = a, *y = b;
    return x->score > y->score ? -1 : x->score < y->score;
}

/* One pass of every query: the int8 scan for `c` candidates, then float32 rescoring of
 * them (against the float vectors in memory, as the store does against SQLite). */
static void run_queries(const struct ing_vindex *ix, const float *vecs, const float *queries,
                        int nq, int k, size_t c, int threads, const struct topk *truth,
                        struct run_stats *st) {
    ing_dot_f32_fn dot = ing_kernel_dot_f32();
    struct ing_cand *cand = malloc(c * sizeof(*cand));
    double *scan = malloc((size_t)nq * sizeof(double)), *full = malloc((size_t)nq * sizeof(double));
    double r8 = 0, rr = 0;
    int dim = ix->dim;
    for (int q = 0; q < nq; q++) {
        const float *qv = queries + (size_t)q * (size_t)dim;
        double t0 = now_s();
        size_t m = ing_vindex_search(ix, qv, c, NULL, 0, threads, cand);
        double t1 = now_s();
        int64_t i8[64];
        int n8 = (int)(m < (size_t)k ? m : (size_t)k);
        for (int i = 0; i < n8; i++)
            i8[i] = cand[i].id;
        for (size_t i = 0; i < m; i++)
            cand[i].score = dot(qv, vecs + (size_t)(cand[i].id - 1) * (size_t)dim, (size_t)dim);
        qsort(cand, m, sizeof(*cand), cand_desc);
        double t2 = now_s();
        int64_t best[64];
        for (int i = 0; i < n8; i++)
            best[i] = cand[i].id;
        scan[q] = (t1 - t0) * 1e3;
        full[q] = (t2 - t0) * 1e3;
        r8 += recall_of(i8, n8, &truth[q]);
        rr += recall_of(best, n8, &truth[q]);
    }
    qsort(scan, (size_t)nq, sizeof(double), cmp_double);
    qsort(full, (size_t)nq, sizeof(double), cmp_double);
    st->scan_p50 = pct(scan, nq, 0.5);
    st->scan_p99 = pct(scan, nq, 0.99);
    st->search_p50 = pct(full, nq, 0.5);
    st->search_p99 = pct(full, nq, 0.99);
    st->recall_i8 = r8 / nq;
    st->recall_rescored = rr / nq;
    free(cand);
    free(scan);
    free(full);
}

static int cmp_stats_p50(const void *a, const void *b) {
    const struct run_stats *x = a, *y = b;
    return x->scan_p50 < y->scan_p50 ? -1 : x->scan_p50 > y->scan_p50;
}

static void bench_search(size_t n, int dim, int nq, int k, size_t c, int repeat) {
    double t0 = now_s();
    int ncent = (int)(n / 1000 > 10 ? n / 1000 : 10);
    float *centres = xmalloc((size_t)ncent * (size_t)dim * sizeof(float));
    for (int i = 0; i < ncent; i++) {
        gaussians(0xc0ffee + (uint64_t)i, centres + (size_t)i * (size_t)dim, dim);
        ing_l2_normalize(centres + (size_t)i * (size_t)dim, dim);
    }
    /* sigma 1/sqrt(dim) per coordinate: noise as long as the (unit) centre, so points of
     * one cluster have cosine about 0.5 with each other. */
    struct gen proto = {centres, ncent, dim, 1.0f / sqrtf((float)dim), 42, NULL, 0, 0};
    float *vecs = xmalloc(n * (size_t)dim * sizeof(float));
    gen_vectors(&proto, 0, n, vecs);
    float *queries = xmalloc((size_t)nq * (size_t)dim * sizeof(float));
    proto.seed = 4242;
    gen_vectors(&proto, 0, (size_t)nq, queries);
    double t_gen = now_s() - t0;

    t0 = now_s();
    struct ing_vindex ix;
    ing_vindex_init(&ix, dim);
    if (ing_vindex_reserve(&ix, n)) {
        fprintf(stderr, "cannot reserve the index\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        if (ing_vindex_add(&ix, (int64_t)i + 1, (int64_t)(i / 8) + 1, vecs + i * (size_t)dim)) {
            fprintf(stderr, "cannot add vector %zu\n", i);
            exit(1);
        }
    double t_build = now_s() - t0;

    t0 = now_s();
    struct topk *truth = malloc((size_t)nq * sizeof(*truth));
    ground_truth(vecs, n, dim, queries, nq, k, truth);
    double t_truth = now_s() - t0;

    size_t bytes = n * ix.stride;
    uint8_t *buf = xmalloc(bytes);
    memset(buf, 1, bytes);
    uint64_t sink = 0;
    const char *kernel;
    ing_kernel_dot_i8(&kernel);
    fprintf(stderr, "n=%zu: data %.1f s, index %.1f s, ground truth %.1f s\n", n, t_gen,
            t_build, t_truth);

    printf("\n### %zu vectors x %d dims (int8 codes %.1f MB, kernel %s)\n\n", n, dim,
           (double)bytes / 1e6, kernel);
    printf("| threads | read bandwidth | bandwidth floor | scan p50 | scan p99 | scan / floor |"
           " search p50 | search p99 | recall@%d int8 | recall@%d rescored |\n", k, k);
    printf("|---|---|---|---|---|---|---|---|---|---|\n");
    for (int threads = 1; threads <= 2; threads++) {
        struct run_stats *rs = calloc((size_t)repeat, sizeof(*rs));
        double bw = 0;
        for (int r = 0; r < repeat; r++) {
            /* Bandwidth measured next to each run: the machine is shared and noisy. */
            double b = read_bandwidth(buf, bytes, threads, 5, &sink);
            if (b > bw)
                bw = b;
            run_queries(&ix, vecs, queries, nq, k, c, threads, truth, &rs[r]);
            fprintf(stderr, "  threads %d run %d: bw %.1f GB/s, scan p50 %.2f ms\n", threads, r,
                    b / 1e9, rs[r].scan_p50);
        }
        qsort(rs, (size_t)repeat, sizeof(*rs), cmp_stats_p50);
        struct run_stats *m = &rs[repeat / 2]; /* the run with the median p50 */
        double floor_ms = (double)bytes / bw * 1e3;
        printf("| %d | %.1f GB/s | %.2f ms | %.2f ms | %.2f ms | %.2fx | %.2f ms | %.2f ms |"
               " %.4f | %.4f |\n",
               threads, bw / 1e9, floor_ms, m->scan_p50, m->scan_p99, m->scan_p50 / floor_ms,
               m->search_p50, m->search_p99, m->recall_i8, m->recall_rescored);
        if (repeat > 1)
            printf("|   | p50 over %d runs: %.2f to %.2f ms | | | | | | | | |\n", repeat,
                   rs[0].scan_p50, rs[repeat - 1].scan_p50);
        free(rs);
    }
    fflush(stdout);
    if (sink == 42)
        fprintf(stderr, " "); /* keeps the reads */
    free(buf);
    free(truth);
    ing_vindex_cleanup(&ix);
    free(vecs);
    free(queries);
    free(centres);
}

/* ---- ingestion -------------------------------------------------------------------------- */

/* A synthetic Markdown document of about `words` words from a 4096-word vocabulary. */
static char *make_doc(uint64_t seed, int words, size_t *len) {
    static const char *syl[] = {"ka", "lo", "mi", "ren", "tor", "sa", "vel", "qui", "dan",
                                "po", "ser", "ul", "mar", "ix", "ne", "zo"};
    size_t cap = (size_t)words * 12 + 64, n = 0;
    char *t = malloc(cap);
    uint64_t s = seed;
    n += (size_t)snprintf(t, cap, "# Document %llu\n\n", (unsigned long long)seed);
    for (int w = 0; w < words; w++) {
        uint64_t r = splitmix(&s) % 4096;
        for (int k = 0; k < 3; k++, r /= 16)
            n += (size_t)snprintf(t + n, cap - n, "%s", syl[r % 16]);
        uint64_t p = splitmix(&s) % 100;
        const char *sep = p < 2 ? ".\n\n" : p < 10 ? ". " : " ";
        n += (size_t)snprintf(t + n, cap - n, "%s", sep);
    }
    *len = n;
    return t;
}

static void bench_ingest(int docs, int repeat) {
    char dir[512];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/bench-rag-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    inngest_error err;
    inngest_rag_embedder *e = inngest_rag_hash_embedder_create(0, &err);
    printf("\n### Ingestion through the store (hash embedder, %d dims, %d documents of about "
           "3 KB)\n\n", e->dim, docs);
    printf("| synchronous | run | docs/s | chunks/s | MB/s |\n|---|---|---|---|---|\n");
    for (int fast = 0; fast <= 1; fast++) {
        for (int r = 0; r < repeat; r++) {
            char uri[700];
            snprintf(uri, sizeof(uri), "sqlite:%s/ingest-%d-%d.db?synchronous=%s", dir, fast, r,
                     fast ? "normal" : "full");
            inngest_rag_store *s = inngest_rag_store_create(uri, NULL, &err);
            if (!s) {
                fprintf(stderr, "open: %s\n", err.message);
                exit(1);
            }
            size_t chunks = 0, bytes = 0;
            double t0 = now_s();
            for (int d = 0; d < docs; d++) {
                size_t len, nc = 0;
                char *text = make_doc((uint64_t)d + 1, 450, &len);
                char key[64];
                snprintf(key, sizeof(key), "doc-%d.md", d);
                inngest_rag_document doc = {.key = key, .source = key, .text = text,
                                            .text_len = len};
                if (inngest_rag_ingest_document(s, e, &doc, NULL, NULL, &nc, &err)) {
                    fprintf(stderr, "ingest: %s\n", err.message);
                    exit(1);
                }
                chunks += nc;
                bytes += len;
                free(text);
            }
            double dt = now_s() - t0;
            printf("| %s | %d | %.0f | %.0f | %.2f |\n", fast ? "normal" : "full", r + 1, docs / dt, chunks / dt,
                   bytes / dt / 1e6);
            fflush(stdout);
            inngest_rag_store_destroy(s);
            static const char *const sfx[] = {"", "-wal", "-shm"};
            for (int i = 0; i < 3; i++) {
                char p[640];
                snprintf(p, sizeof(p), "%s/ingest-%d-%d.db%s", dir, fast, r, sfx[i]);
                unlink(p);
            }
        }
    }
    inngest_rag_embedder_destroy(e);
    rmdir(dir);
}

/* ---- ingestion and search through real stores -------------------------------------------- */

#define MAX_STORES 4

/* A synthetic document for the store benchmark: words of 4 syllables (65 536 of them)
 * drawn with Zipf-like frequencies (word r with probability ~ 1/(r+100)), as in real text
 * once its stopwords are gone (the 100 commonest ranks left out), so a question mixes
 * common words (long posting lists: the commonest is in about 1 chunk of 5) with rare
 * ones. */
static void zipf_word(uint64_t *s, char *out, size_t size) {
    static const char *syl[] = {"ka", "lo", "mi", "ren", "tor", "sa", "vel", "qui", "dan",
                                "po", "ser", "ul", "mar", "ix", "ne", "zo"};
    double u = (double)(splitmix(s) >> 11) / 9007199254740992.0;
    uint64_t r = (uint64_t)(100.0 * exp(u * log(65636.0 / 100.0))) - 100;
    if (r > 65535)
        r = 65535;
    snprintf(out, size, "%s%s%s%s", syl[r % 16], syl[r / 16 % 16], syl[r / 256 % 16],
             syl[r / 4096 % 16]);
}

static char *zipf_doc(uint64_t seed, int words, size_t *len) {
    size_t cap = (size_t)words * 12 + 64, n = 0;
    char *t = malloc(cap);
    uint64_t s = seed;
    n += (size_t)snprintf(t, cap, "# Document %llu\n\n", (unsigned long long)seed);
    for (int w = 0; w < words; w++) {
        char word[16];
        zipf_word(&s, word, sizeof(word));
        uint64_t p = splitmix(&s) % 100;
        n += (size_t)snprintf(t + n, cap - n, "%s%s", word,
                              p < 2 ? ".\n\n" : p < 10 ? ". " : " ");
    }
    *len = n;
    return t;
}

/* The system's 1-minute load average, or -1. */
static double loadavg1(void) {
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

static double thread_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct store_run {
    const char *uri;
    inngest_rag_store *s;
    int docs;           /* documents ingested so far */
    size_t chunks;      /* chunks ingested so far */
    double ingest_wall; /* seconds spent ingesting since the last report */
    double ingest_cpu;  /* of which this thread's CPU */
    int seg_docs;
    size_t seg_chunks;
};

static void ingest_one(struct store_run *r, inngest_rag_embedder *e, int d) {
    size_t len, nc = 0;
    char *text = zipf_doc((uint64_t)d + 1, 450, &len);
    char key[64];
    snprintf(key, sizeof(key), "doc-%d.md", d);
    inngest_rag_document doc = {.key = key, .source = key, .text = text, .text_len = len};
    inngest_error err;
    double t0 = now_s(), c0 = thread_cpu_s();
    if (inngest_rag_ingest_document(r->s, e, &doc, NULL, NULL, &nc, &err)) {
        fprintf(stderr, "ingest into %s: %s\n", r->uri, err.message);
        exit(1);
    }
    r->ingest_wall += now_s() - t0;
    r->ingest_cpu += thread_cpu_s() - c0;
    r->docs++;
    r->seg_docs++;
    r->chunks += nc;
    r->seg_chunks += nc;
    free(text);
}

/* A question: 2 to 6 words from the documents' distribution. */
static void make_question(uint64_t seed, char *out, size_t size) {
    uint64_t s = seed * 0x9e3779b97f4a7c15ULL + 7;
    int words = 2 + (int)(splitmix(&s) % 5);
    size_t n = 0;
    out[0] = '\0';
    for (int w = 0; w < words && n + 20 < size; w++) {
        char word[16];
        zipf_word(&s, word, sizeof(word));
        n += (size_t)snprintf(out + n, size - n, "%s%s", w ? " " : "", word);
    }
}

struct searcher {
    inngest_rag_store *s;
    inngest_rag_embedder *e;
    inngest_rag_mode mode;
    int from, count, k;
    double *lat; /* per query, ms (optional) */
    double cpu;
};

static void *searcher_run(void *arg) {
    struct searcher *w = arg;
    double c0 = thread_cpu_s();
    for (int i = 0; i < w->count; i++) {
        char q[160];
        make_question((uint64_t)(w->from + i), q, sizeof(q));
        inngest_rag_results res;
        inngest_error err;
        double t0 = now_s();
        if (inngest_rag_search(w->s, w->e, q, w->k, w->mode, &res, &err)) {
            fprintf(stderr, "search: %s\n", err.message);
            exit(1);
        }
        if (w->lat)
            w->lat[i] = (now_s() - t0) * 1e3;
        inngest_rag_results_cleanup(&res);
    }
    w->cpu = thread_cpu_s() - c0;
    return NULL;
}

/* Searches per second with `threads` threads sharing `total` questions. */
static double search_throughput(inngest_rag_store *s, inngest_rag_embedder *e,
                                inngest_rag_mode mode, int threads, int total, int k) {
    struct searcher w[16];
    pthread_t t[16];
    double t0 = now_s();
    for (int i = 0; i < threads; i++) {
        w[i] = (struct searcher){s, e, mode, 100000 + total * i / threads,
                                 total * (i + 1) / threads - total * i / threads, k, NULL, 0};
        pthread_create(&t[i], NULL, searcher_run, &w[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    return total / (now_s() - t0);
}

/* Backend name of a URI, for the tables. */
static const char *backend_of(const char *uri) {
    return !strncmp(uri, "postgres", 8) ? "PostgreSQL" : "SQLite";
}

/*
 * Ingests the same Zipfian documents into every store, in turns of 20 documents so that
 * the stores see the same machine load, until each holds `targets[t]` chunks; then asks
 * the same `nq` questions of each store in turn (hybrid and keyword), and measures the
 * throughput of 1 and `par` concurrent searchers.
 */
static void bench_stores(const char *const *uris, int nstores, const size_t *targets,
                         int ntargets, int nq, int k, int par) {
    struct store_run runs[MAX_STORES];
    inngest_error err;
    inngest_rag_embedder *e = inngest_rag_hash_embedder_create(0, &err);
    for (int i = 0; i < nstores; i++) {
        runs[i] = (struct store_run){.uri = uris[i]};
        runs[i].s = inngest_rag_store_create(uris[i], NULL, &err);
        inngest_rag_store_info info;
        if (!runs[i].s || inngest_rag_store_get_info(runs[i].s, &info, &err)) {
            fprintf(stderr, "open %s: %s\n", uris[i], err.message);
            exit(1);
        }
        if (info.chunks) {
            fprintf(stderr, "%s is not empty (%zu chunks): give an empty store\n", uris[i],
                    info.chunks);
            exit(1);
        }
    }
    printf("\n### Stores: ingestion and search (hash embedder, %d dims, Zipfian documents of "
           "450 words)\n\n", e->dim);
    printf("Stores, in turns: ");
    for (int i = 0; i < nstores; i++)
        printf("%s`%s` (%s)", i ? ", " : "", uris[i], backend_of(uris[i]));
    printf(". Search: %d questions of 2-6 words, k=%d, each asked of every store in turn; "
           "throughput: the same questions shared by 1 and %d threads.\n\n", nq, k, par);
    printf("| chunks | backend | docs ingested | ingest docs/s | ingest chunks/s | client CPU "
           "%% | load | hybrid p50 | hybrid p99 | keyword p50 | keyword p99 | hybrid q/s x1 | "
           "hybrid q/s x%d |\n", par);
    printf("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    fflush(stdout);
    double *lat[MAX_STORES][2];
    for (int i = 0; i < nstores; i++)
        for (int m = 0; m < 2; m++)
            lat[i][m] = malloc((size_t)nq * sizeof(double));
    int next_doc = 0;
    for (int t = 0; t < ntargets; t++) {
        double load_in = loadavg1();
        for (int i = 0; i < nstores; i++) {
            runs[i].ingest_wall = runs[i].ingest_cpu = 0;
            runs[i].seg_docs = 0;
            runs[i].seg_chunks = 0;
        }
        /* Every store gets the same documents, so they reach the target together. */
        while (runs[0].chunks < targets[t]) {
            for (int i = 0; i < nstores; i++)
                for (int d = next_doc; d < next_doc + 20; d++)
                    ingest_one(&runs[i], e, d);
            next_doc += 20;
        }
        /* Searches: each question of each store in turn. */
        for (int q = 0; q < nq; q++)
            for (int m = 0; m < 2; m++)
                for (int i = 0; i < nstores; i++) {
                    struct searcher w = {runs[i].s, e, m ? INNGEST_RAG_KEYWORD : INNGEST_RAG_HYBRID,
                                         q, 1, k, &lat[i][m][q], 0};
                    searcher_run(&w);
                }
        double qps[MAX_STORES][2];
        for (int i = 0; i < nstores; i++) {
            qps[i][0] = search_throughput(runs[i].s, e, INNGEST_RAG_HYBRID, 1, nq, k);
            qps[i][1] = search_throughput(runs[i].s, e, INNGEST_RAG_HYBRID, par, nq, k);
        }
        double load = (load_in + loadavg1()) / 2;
        for (int i = 0; i < nstores; i++) {
            for (int m = 0; m < 2; m++)
                qsort(lat[i][m], (size_t)nq, sizeof(double), cmp_double);
            struct store_run *r = &runs[i];
            printf("| %zu | %s | %d | %.0f | %.0f | %.0f | %.2f | %.2f ms | %.2f ms | %.2f ms | "
                   "%.2f ms | %.0f | %.0f |\n",
                   r->chunks, backend_of(r->uri), r->seg_docs, r->seg_docs / r->ingest_wall,
                   r->seg_chunks / r->ingest_wall, 100 * r->ingest_cpu / r->ingest_wall, load,
                   pct(lat[i][0], nq, 0.5), pct(lat[i][0], nq, 0.99), pct(lat[i][1], nq, 0.5),
                   pct(lat[i][1], nq, 0.99), qps[i][0], qps[i][1]);
        }
        fflush(stdout);
    }
    for (int i = 0; i < nstores; i++) {
        for (int m = 0; m < 2; m++)
            free(lat[i][m]);
        inngest_rag_store_destroy(runs[i].s);
    }
    inngest_rag_embedder_destroy(e);
}

int main(int argc, char **argv) {
    size_t n = 100000, c = 0;
    int dim = 1536, nq = 200, k = 10, repeat = 3, docs = 2000, search = 1, ingest = 1;
    const char *stores[MAX_STORES];
    int nstores = 0, searchers = 4, ntargets = 0;
    size_t targets[8];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--store") && v && nstores < MAX_STORES)
            stores[nstores++] = argv[++i];
        else if (!strcmp(a, "--chunks") && v) {
            char *p = argv[++i];
            while (*p && ntargets < 8) {
                targets[ntargets++] = strtoul(p, &p, 10);
                while (*p == ',' || *p == ' ')
                    p++;
            }
        } else if (!strcmp(a, "--searchers") && v)
            searchers = atoi(argv[++i]);
        else if (!strcmp(a, "--n") && v)
            n = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(a, "--dim") && v)
            dim = atoi(argv[++i]);
        else if (!strcmp(a, "--queries") && v)
            nq = atoi(argv[++i]);
        else if (!strcmp(a, "--k") && v)
            k = atoi(argv[++i]);
        else if (!strcmp(a, "--rescore") && v)
            c = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(a, "--repeat") && v)
            repeat = atoi(argv[++i]);
        else if (!strcmp(a, "--docs") && v)
            docs = atoi(argv[++i]);
        else if (!strcmp(a, "--no-search"))
            search = 0;
        else if (!strcmp(a, "--no-ingest"))
            ingest = 0;
        else {
            fprintf(stderr, "usage: %s [--n N] [--dim D] [--queries Q] [--k K] [--rescore C] "
                            "[--repeat R] [--docs D] [--no-search] [--no-ingest]\n"
                            "       %s --store URI [--store URI...] [--chunks N,N...] "
                            "[--queries Q] [--k K] [--searchers T]\n", argv[0], argv[0]);
            return 2;
        }
    }
    if (k < 1 || k > 64 || nq < 1 || repeat < 1 || dim < 8 || n < 1) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    if (nstores) {
        if (!ntargets) {
            targets[0] = 16000;
            targets[1] = 100000;
            ntargets = 2;
        }
        if (searchers < 1 || searchers > 16) {
            fprintf(stderr, "--searchers takes 1 to 16\n");
            return 2;
        }
        bench_stores(stores, nstores, targets, ntargets, nq, k, searchers);
        return 0;
    }
    if (!c)
        c = (size_t)k * 5 > 50 ? (size_t)k * 5 : 50; /* the store's default */
    if (search) {
        printf("\nVector search: %d queries, top %d, %zu int8 candidates rescored in float32; "
               "%d runs, the run with the median scan p50 shown\n", nq, k, c, repeat);
        bench_search(n, dim, nq, k, c, repeat);
    }
    if (ingest)
        bench_ingest(docs, repeat);
    return 0;
}
