/* SPDX-License-Identifier: MIT */
/*
 * The in-memory vector index: every vector as int8 codes with one float scale, scanned
 * exhaustively (exact top-k over the codes) with a bounded min-heap per thread. The store
 * rescores the candidates in float32. No locking here: the store holds a rwlock.
 */
#include "fmacros.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "rag/rag_internal.h"

size_t ing_stride(int dim) {
    return ((size_t)dim + 63) / 64 * 64;
}

void ing_l2_normalize(float *v, int dim) {
    double s = 0;
    for (int i = 0; i < dim; i++)
        s += (double)v[i] * v[i];
    if (s <= 0)
        return;
    float inv = (float)(1.0 / sqrt(s));
    for (int i = 0; i < dim; i++)
        v[i] *= inv;
}

int32_t ing_quantize(const float *v, int dim, size_t stride, int8_t *codes, float *scale) {
    float m = 0;
    for (int i = 0; i < dim; i++) {
        float a = fabsf(v[i]);
        if (a > m)
            m = a;
    }
    int32_t sum = 0;
    memset(codes, 0, stride);
    if (m == 0) {
        *scale = 0;
        return 0;
    }
    float inv = 127.0f / m;
    for (int i = 0; i < dim; i++) {
        long c = lrintf(v[i] * inv);
        c = c > 127 ? 127 : c < -127 ? -127 : c;
        codes[i] = (int8_t)c;
        sum += (int32_t)c;
    }
    *scale = m / 127.0f;
    return sum;
}

/* ---- id -> uint32 map ------------------------------------------------------------------- */

static size_t hslot(const struct ing_idmap *m, int64_t id) {
    uint64_t h = (uint64_t)id * 0x9e3779b97f4a7c15ULL;
    return (size_t)(h >> 17) & (m->cap - 1);
}

/* Sets `id` to `val` in a map with room for it. */
static void hset(struct ing_idmap *m, int64_t id, uint32_t val) {
    size_t i = hslot(m, id);
    while (m->keys[i] && m->keys[i] != id)
        i = (i + 1) & (m->cap - 1);
    if (!m->keys[i])
        m->n++;
    m->keys[i] = id;
    m->vals[i] = val;
}

/* Makes room for `n` entries at a load factor of at most 1/2. Returns 0, or -1 when
 * memory runs out (the map is unchanged). */
static int hreserve(struct ing_idmap *m, size_t n) {
    if (m->cap >= 2 * n)
        return 0;
    size_t cap = m->cap ? m->cap : 1024;
    while (cap < 2 * n)
        cap *= 2;
    struct ing_idmap old = *m;
    m->keys = calloc(cap, sizeof(*m->keys));
    m->vals = malloc(cap * sizeof(*m->vals));
    if (!m->keys || !m->vals) {
        free(m->keys);
        free(m->vals);
        *m = old;
        return -1;
    }
    m->cap = cap;
    m->n = 0;
    for (size_t i = 0; i < old.cap; i++)
        if (old.keys[i])
            hset(m, old.keys[i], old.vals[i]);
    free(old.keys);
    free(old.vals);
    return 0;
}

/* The value of `id` (its position in *pos when pos is not NULL), or -1 when absent. */
static long hfind(const struct ing_idmap *m, int64_t id, size_t *pos) {
    if (!m->cap)
        return -1;
    size_t i = hslot(m, id);
    while (m->keys[i]) {
        if (m->keys[i] == id) {
            if (pos)
                *pos = i;
            return (long)m->vals[i];
        }
        i = (i + 1) & (m->cap - 1);
    }
    return -1;
}

/* Deletes entry `i` with backward-shift, keeping linear probing intact. */
static void hdel(struct ing_idmap *m, size_t i) {
    size_t mask = m->cap - 1;
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->keys[j])
            break;
        size_t home = hslot(m, m->keys[j]);
        /* Move j back to i when its home is not in (i, j]. */
        int between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!between) {
            m->keys[i] = m->keys[j];
            m->vals[i] = m->vals[j];
            i = j;
        }
    }
    m->keys[i] = 0;
    m->n--;
}

static void hfree(struct ing_idmap *m) {
    free(m->keys);
    free(m->vals);
}

/* ---- index ------------------------------------------------------------------------------ */

int ing_vindex_init(struct ing_vindex *ix, int dim) {
    memset(ix, 0, sizeof(*ix));
    ix->dim = dim;
    ix->stride = ing_stride(dim);
    return 0;
}

void ing_vindex_cleanup(struct ing_vindex *ix) {
    free(ix->codes);
    free(ix->scales);
    free(ix->sums);
    free(ix->ids);
    free(ix->docs);
    hfree(&ix->slots);
    hfree(&ix->doc_chunks);
    memset(ix, 0, sizeof(*ix));
}

int ing_vindex_reserve(struct ing_vindex *ix, size_t n) {
    if (n <= ix->cap)
        return 0;
    if (n > UINT32_MAX)
        return -1;
    int8_t *codes = realloc(ix->codes, n * ix->stride);
    if (!codes)
        return -1;
    ix->codes = codes;
    float *scales = realloc(ix->scales, n * sizeof(float));
    if (!scales)
        return -1;
    ix->scales = scales;
    int32_t *sums = realloc(ix->sums, n * sizeof(int32_t));
    if (!sums)
        return -1;
    ix->sums = sums;
    int64_t *ids = realloc(ix->ids, n * sizeof(int64_t));
    if (!ids)
        return -1;
    ix->ids = ids;
    int64_t *docs = realloc(ix->docs, n * sizeof(int64_t));
    if (!docs)
        return -1;
    ix->docs = docs;
    ix->cap = n;
    return hreserve(&ix->slots, n);
}

int ing_vindex_add_codes(struct ing_vindex *ix, int64_t id, int64_t doc, const int8_t *codes,
                         float scale) {
    if (id <= 0 || hfind(&ix->slots, id, NULL) >= 0)
        return -1;
    if (ix->n == ix->cap && ing_vindex_reserve(ix, ix->cap ? ix->cap * 2 : 1024))
        return -1;
    if (doc > 0) { /* a store's documents; the map has no key 0 */
        long have = hfind(&ix->doc_chunks, doc, NULL);
        if (have < 0 && hreserve(&ix->doc_chunks, ix->doc_chunks.n + 1))
            return -1;
        hset(&ix->doc_chunks, doc, have < 0 ? 1 : (uint32_t)have + 1);
    }
    size_t s = ix->n;
    int8_t *dst = ix->codes + s * ix->stride;
    memcpy(dst, codes, ix->stride);
    int32_t sum = 0;
    for (size_t j = 0; j < ix->stride; j++)
        sum += dst[j];
    ix->scales[s] = scale;
    ix->sums[s] = sum;
    ix->ids[s] = id;
    ix->docs[s] = doc;
    hset(&ix->slots, id, (uint32_t)s);
    ix->n++;
    return 0;
}

int ing_vindex_add(struct ing_vindex *ix, int64_t id, int64_t doc, const float *v) {
    int8_t *codes = malloc(ix->stride);
    if (!codes)
        return -1;
    float scale;
    ing_quantize(v, ix->dim, ix->stride, codes, &scale);
    int rc = ing_vindex_add_codes(ix, id, doc, codes, scale);
    free(codes);
    return rc;
}

int ing_vindex_remove(struct ing_vindex *ix, int64_t id) {
    size_t pos;
    long s = hfind(&ix->slots, id, &pos);
    if (s < 0)
        return -1;
    hdel(&ix->slots, pos);
    long left = ix->docs[s] > 0 ? hfind(&ix->doc_chunks, ix->docs[s], &pos) : -1;
    if (left > 1)
        ix->doc_chunks.vals[pos]--;
    else if (left == 1)
        hdel(&ix->doc_chunks, pos);
    size_t last = ix->n - 1;
    if ((size_t)s != last) {
        memcpy(ix->codes + (size_t)s * ix->stride, ix->codes + last * ix->stride, ix->stride);
        ix->scales[s] = ix->scales[last];
        ix->sums[s] = ix->sums[last];
        ix->ids[s] = ix->ids[last];
        ix->docs[s] = ix->docs[last];
        size_t moved = 0;
        if (hfind(&ix->slots, ix->ids[s], &moved) >= 0) /* always: every id has a slot */
            ix->slots.vals[moved] = (uint32_t)s;
    }
    ix->n--;
    return 0;
}

size_t ing_vindex_doc_chunks(const struct ing_vindex *ix, int64_t doc) {
    long n = hfind(&ix->doc_chunks, doc, NULL);
    return n > 0 ? (size_t)n : 0;
}

size_t ing_vindex_remove_doc(struct ing_vindex *ix, int64_t doc) {
    size_t removed = 0;
    /* From the end: a removal moves the last vector into the freed slot, and that one has
     * been looked at already. */
    for (size_t i = ix->n; i-- > 0;)
        if (ix->docs[i] == doc && ing_vindex_remove(ix, ix->ids[i]) == 0)
            removed++;
    return removed;
}

/* ---- search ----------------------------------------------------------------------------- */

/* A min-heap of the best `cap` candidates seen so far (root = the worst of them). */
struct heap {
    struct ing_cand *v;
    size_t n, cap;
};

static void heap_push(struct heap *h, int64_t id, int64_t doc, float score) {
    if (h->n < h->cap) {
        size_t i = h->n++;
        while (i > 0) {
            size_t p = (i - 1) / 2;
            if (h->v[p].score <= score)
                break;
            h->v[i] = h->v[p];
            i = p;
        }
        h->v[i] = (struct ing_cand){id, doc, score};
        return;
    }
    if (score <= h->v[0].score)
        return;
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        float ms = score;
        if (l < h->n && h->v[l].score < ms) {
            m = l;
            ms = h->v[l].score;
        }
        if (r < h->n && h->v[r].score < ms)
            m = r;
        if (m == i)
            break;
        h->v[i] = h->v[m];
        i = m;
    }
    h->v[i] = (struct ing_cand){id, doc, score};
}

int ing_cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int in_sorted(const int64_t *a, size_t n, int64_t x) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && a[lo] == x;
}

struct scan_job {
    const struct ing_vindex *ix;
    const int8_t *q;
    const uint8_t *qu;
    float qscale;
    size_t from, to;
    const int64_t *docs;
    size_t ndocs;
    ing_dot_i8_fn dot;
    struct heap heap;
};

#define SCAN_BLOCK 64

static void *scan(void *arg) {
    struct scan_job *j = arg;
    const struct ing_vindex *ix = j->ix;
    int32_t dots[SCAN_BLOCK];
    for (size_t i = j->from; i < j->to; i += SCAN_BLOCK) {
        size_t cnt = j->to - i < SCAN_BLOCK ? j->to - i : SCAN_BLOCK;
        j->dot(ix->codes + i * ix->stride, ix->stride, cnt, j->q, j->qu, ix->sums + i, dots);
        for (size_t k = 0; k < cnt; k++) {
            size_t s = i + k;
            if (j->docs && !in_sorted(j->docs, j->ndocs, ix->docs[s]))
                continue;
            heap_push(&j->heap, ix->ids[s], ix->docs[s], (float)dots[k] * j->qscale * ix->scales[s]);
        }
    }
    return NULL;
}

static int cand_desc(const void *a, const void *b) {
    const struct ing_cand *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

#define MAX_THREADS 16
/* Below this many bytes a second thread costs more than it saves: one thread scans 64 MB
 * in about 4 ms, while starting threads per search and sharing the 2 cores of a small
 * host with the request workers costs more at p99 (docs/rag.md). */
#define THREAD_MIN_BYTES (64u << 20)

size_t ing_vindex_search(const struct ing_vindex *ix, const float *q, size_t c,
                         const int64_t *docs, size_t ndocs, int threads, struct ing_cand *out) {
    if (ix->n == 0 || c == 0)
        return 0;
    int8_t *qc = malloc(ix->stride);
    uint8_t *qu = malloc(ix->stride);
    struct ing_cand *pool = NULL;
    size_t found = 0;
    if (!qc || !qu)
        goto done;
    float qscale;
    ing_quantize(q, ix->dim, ix->stride, qc, &qscale);
    for (size_t j = 0; j < ix->stride; j++)
        qu[j] = (uint8_t)(qc[j] + 128);
    int t = threads < 1 ? 1 : threads > MAX_THREADS ? MAX_THREADS : threads;
    if ((size_t)t > ix->n / 1024 + 1)
        t = (int)(ix->n / 1024 + 1);
    if (ix->n * ix->stride < THREAD_MIN_BYTES)
        t = 1;
    pool = malloc((size_t)t * c * sizeof(*pool));
    if (!pool)
        goto done;
    struct scan_job jobs[MAX_THREADS];
    pthread_t tids[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    ing_dot_i8_fn dot = ing_kernel_dot_i8(NULL);
    size_t per = (ix->n + (size_t)t - 1) / (size_t)t;
    for (int k = 0; k < t; k++) {
        size_t from = (size_t)k * per, to = from + per < ix->n ? from + per : ix->n;
        jobs[k] = (struct scan_job){.ix = ix,
                                    .q = qc,
                                    .qu = qu,
                                    .qscale = qscale,
                                    .from = from < ix->n ? from : ix->n,
                                    .to = to,
                                    .docs = docs,
                                    .ndocs = ndocs,
                                    .dot = dot,
                                    .heap = {pool + (size_t)k * c, 0, c}};
    }
    for (int k = 1; k < t; k++)
        started[k] = pthread_create(&tids[k], NULL, scan, &jobs[k]) == 0;
    scan(&jobs[0]);
    for (int k = 1; k < t; k++) {
        if (started[k])
            pthread_join(tids[k], NULL);
        else
            scan(&jobs[k]); /* no thread available: do its share here */
    }
    /* Merge: compact every heap into the front of the pool, sort, keep c. */
    size_t m = 0;
    for (int k = 0; k < t; k++)
        for (size_t i = 0; i < jobs[k].heap.n; i++)
            pool[m++] = jobs[k].heap.v[i];
    qsort(pool, m, sizeof(*pool), cand_desc);
    found = m < c ? m : c;
    memcpy(out, pool, found * sizeof(*out));
done:
    free(qc);
    free(qu);
    free(pool);
    return found;
}
