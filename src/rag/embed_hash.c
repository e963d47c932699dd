/* SPDX-License-Identifier: MIT */
/*
 * The offline embedder (feature hashing) and the generic embed call that batches and
 * normalises for any embedder.
 *
 * Features: lowercased word tokens (letters, digits, and any non-ASCII byte, so UTF-8
 * words stay whole), common English stopwords dropped, a plural "s" stripped, plus pairs
 * of adjacent kept words at half weight. Each feature is hashed with FNV-1a 64: the low
 * bits pick one of `dim` buckets, the top bit its sign (so collisions cancel on average
 * instead of piling up). A feature seen tf times weighs 1 + ln(tf). Stateless and
 * deterministic: no corpus statistics, the same vector everywhere.
 */
#include "fmacros.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inngest/rag.h"
#include "rag/rag_internal.h"

#define HASH_EMBEDDER_ID "hash-v1"
#define BIGRAM_WEIGHT 0.5f

struct feat {
    uint64_t h;
    float w;
    int tf;
};

struct feats {
    struct feat *v;
    size_t cap, n;
};

uint64_t ing_fnv1a64(const void *data, size_t len, uint64_t seed) {
    const unsigned char *p = data;
    uint64_t h = seed;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static int feats_add(struct feats *f, uint64_t h, float w) {
    if (2 * (f->n + 1) > f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 256;
        struct feat *nv = calloc(cap, sizeof(*nv));
        if (!nv)
            return -1;
        for (size_t i = 0; i < f->cap; i++) {
            if (!f->v[i].tf)
                continue;
            size_t k = (size_t)(f->v[i].h >> 7) & (cap - 1);
            while (nv[k].tf)
                k = (k + 1) & (cap - 1);
            nv[k] = f->v[i];
        }
        free(f->v);
        f->v = nv;
        f->cap = cap;
    }
    size_t k = (size_t)(h >> 7) & (f->cap - 1);
    while (f->v[k].tf && f->v[k].h != h)
        k = (k + 1) & (f->cap - 1);
    if (!f->v[k].tf) {
        f->v[k].h = h;
        f->v[k].w = w;
        f->n++;
    }
    f->v[k].tf++;
    return 0;
}

static int tok_char(unsigned char c) {
    return isalnum(c) || c >= 0x80;
}

static int hash_text(const char *text, int dim, float *out) {
    struct feats f = {0};
    memset(out, 0, (size_t)dim * sizeof(float));
    const unsigned char *p = (const unsigned char *)text;
    char tok[128], prev[128];
    size_t prev_len = 0;
    int rc = 0;
    while (*p && rc == 0) {
        while (*p && !tok_char(*p))
            p++;
        size_t n = 0;
        while (*p && tok_char(*p)) {
            if (n < sizeof(tok) - 1)
                tok[n++] = (char)tolower(*p);
            p++;
        }
        if (n == 0)
            break;
        if (ing_is_stopword(tok, n)) {
            prev_len = 0; /* pairs do not span a dropped word */
            continue;
        }
        if (n > 3 && tok[n - 1] == 's' && tok[n - 2] != 's')
            n--;
        tok[n] = '\0';
        rc = feats_add(&f, ing_fnv1a64(tok, n, ING_FNV_OFFSET), 1.0f);
        if (rc == 0 && prev_len) {
            uint64_t h = ing_fnv1a64(prev, prev_len, ING_FNV_OFFSET);
            h = ing_fnv1a64(" ", 1, h);
            rc = feats_add(&f, ing_fnv1a64(tok, n, h), BIGRAM_WEIGHT);
        }
        memcpy(prev, tok, n + 1);
        prev_len = n;
    }
    for (size_t i = 0; i < f.cap && rc == 0; i++) {
        if (!f.v[i].tf)
            continue;
        uint64_t h = f.v[i].h;
        float w = f.v[i].w * (1.0f + logf((float)f.v[i].tf));
        out[(h & 0x7fffffffffffffffULL) % (uint64_t)dim] += (h >> 63) ? -w : w;
    }
    free(f.v);
    return rc;
}

static int hash_embed(inngest_rag_embedder *self, const char *const *texts, size_t n, float *out,
                      inngest_error *err) {
    for (size_t i = 0; i < n; i++)
        if (hash_text(texts[i] ? texts[i] : "", self->dim, out + i * (size_t)self->dim))
            return inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    return INNGEST_OK;
}

static void hash_destroy(inngest_rag_embedder *self) {
    free(self);
}

inngest_rag_embedder *inngest_rag_hash_embedder_create(int dim, inngest_error *err) {
    if (dim == 0)
        dim = 1536;
    if (dim < 8 || dim > 65536) {
        inngest_error_set(err, INNGEST_EINVAL, "the hash embedder needs 8 to 65536 dimensions");
        return NULL;
    }
    inngest_rag_embedder *e = calloc(1, sizeof(*e));
    if (!e) {
        inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
        return NULL;
    }
    snprintf(e->id, sizeof(e->id), "%s", HASH_EMBEDDER_ID);
    e->dim = dim;
    e->max_batch = 256;
    e->embed = hash_embed;
    e->destroy = hash_destroy;
    return e;
}

/* ---- generic ---------------------------------------------------------------------------- */

int inngest_rag_embed(inngest_rag_embedder *e, const char *const *texts, size_t n, float *out,
                      inngest_error *err) {
    size_t batch = e->max_batch ? e->max_batch : 64;
    for (size_t i = 0; i < n; i += batch) {
        size_t m = n - i < batch ? n - i : batch;
        int rc = e->embed(e, texts + i, m, out + i * (size_t)e->dim, err);
        if (rc != INNGEST_OK)
            return rc;
    }
    for (size_t i = 0; i < n; i++)
        ing_l2_normalize(out + i * (size_t)e->dim, e->dim);
    return INNGEST_OK;
}

void inngest_rag_embedder_destroy(inngest_rag_embedder *e) {
    if (e && e->destroy)
        e->destroy(e);
}
