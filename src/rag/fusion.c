/* SPDX-License-Identifier: MIT */
/*
 * Retrieval helpers: reciprocal rank fusion of two ranked lists, and the translation of
 * free text into a safe FTS5 query. Pure.
 */
#include "fmacros.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "rag/rag_internal.h"

static int fused_cmp(const void *pa, const void *pb) {
    const struct ing_fused *a = pa, *b = pb;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    int ba = a->rank_a && (!a->rank_b || a->rank_a < a->rank_b) ? a->rank_a : a->rank_b;
    int bb = b->rank_a && (!b->rank_b || b->rank_a < b->rank_b) ? b->rank_a : b->rank_b;
    if (ba != bb)
        return ba < bb ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

size_t ing_rrf_fuse(const int64_t *a, size_t na, const int64_t *b, size_t nb, size_t max,
                    struct ing_fused *out) {
    size_t n = 0;
    for (size_t i = 0; i < na; i++) {
        out[n++] = (struct ing_fused){a[i], 1.0 / (ING_RRF_K + (double)(i + 1)), (int)i + 1, 0};
    }
    for (size_t i = 0; i < nb; i++) {
        double s = 1.0 / (ING_RRF_K + (double)(i + 1));
        size_t k = 0;
        while (k < na && out[k].id != b[i])
            k++;
        if (k < na) {
            out[k].score += s;
            out[k].rank_b = (int)i + 1;
        } else {
            out[n++] = (struct ing_fused){b[i], s, 0, (int)i + 1};
        }
    }
    qsort(out, n, sizeof(*out), fused_cmp);
    return n < max ? n : max;
}

/* A short list: BM25's idf already discounts common words; dropping these mostly keeps
 * OR queries from matching every chunk. */
static const char *const stopwords[] = {
    "a",    "about", "an",   "and",  "are",  "as",   "at",    "be",   "by",    "can",
    "do",   "does",  "for",  "from", "has",  "have", "how",   "i",    "if",    "in",
    "is",   "it",    "its",  "me",   "my",   "of",   "on",    "or",   "our",   "should",
    "so",   "that",  "the",  "their", "them", "then", "there", "these", "they", "this",
    "to",   "was",   "we",   "what", "when", "where", "which", "who",  "why",   "will",
    "with", "would", "you",  "your"};

int ing_is_stopword(const char *w, size_t len) {
    for (size_t i = 0; i < sizeof(stopwords) / sizeof(stopwords[0]); i++)
        if (strlen(stopwords[i]) == len && !memcmp(stopwords[i], w, len))
            return 1;
    return 0;
}

/* Letters, digits and any non-ASCII byte (UTF-8 text) make up tokens, as in FTS5's
 * unicode61 tokenizer for the common cases. */
static int tok_char(unsigned char c) {
    return isalnum(c) || c >= 0x80;
}

char *ing_fts_query(const char *text) {
    struct ing_buf q = {0};
    if (ing_buf_append(&q, "", 0))
        return NULL;
    const char *p = text;
    int terms = 0;
    while (*p) {
        while (*p && isspace((unsigned char)*p))
            p++;
        const char *w = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        /* The word w..p: split into token pieces. */
        char pieces[512];
        size_t pl = 0;
        int npieces = 0;
        const char *s = w;
        while (s < p) {
            while (s < p && !tok_char((unsigned char)*s))
                s++;
            const char *t = s;
            while (s < p && tok_char((unsigned char)*s))
                s++;
            if (s > t && pl + (size_t)(s - t) + 2 < sizeof(pieces)) {
                if (npieces)
                    pieces[pl++] = ' ';
                for (const char *c = t; c < s; c++)
                    pieces[pl++] = (char)tolower((unsigned char)*c);
                npieces++;
            }
        }
        if (npieces == 0)
            continue;
        if (npieces == 1 && ing_is_stopword(pieces, pl))
            continue;
        /* A term already in the query adds nothing but cost: FTS5 evaluates every OR
         * branch, so a long message of repeated words took seconds under the store's
         * lock. Pieces hold no quote, so the quoted term matches only itself. */
        pieces[pl] = '\0';
        char quoted[sizeof(pieces) + 2];
        snprintf(quoted, sizeof(quoted), "\"%s\"", pieces);
        if (terms && strstr(q.data, quoted))
            continue;
        int rc = ing_buf_appendf(&q, "%s%s", terms ? " OR " : "", quoted);
        if (rc) {
            ing_buf_cleanup(&q);
            return NULL;
        }
        if (++terms == ING_FTS_MAX_TERMS)
            break;
    }
    return q.data;
}
