/* SPDX-License-Identifier: MIT */
/*
 * Retrieval helpers: the translation of free text into a safe FTS5 query, and the
 * document-level fusion of a keyword and a vector ranking. Pure.
 */
#include "fmacros.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "rag/rag_internal.h"

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

/* ---- document-level fusion ---------------------------------------------------------------- */

double ing_vector_weight(const char *embedder_id) {
    /* Measured on the dev splits (docs/rag.md): with the hashing embedder, 0.2 is best or
     * close to it on every set, and 1 (the weight of a semantic model) loses to keyword
     * search alone. */
    return embedder_id && !strncmp(embedder_id, "hash-", 5) ? 0.2 : 1.0;
}

void ing_query_words(const char *query, struct ing_query_words *out) {
    int n = 0;
    for (const char *p = query; *p && n < ING_QUERY_WORDS;) {
        while (*p && !tok_char((unsigned char)*p))
            p++;
        size_t l = 0;
        for (; *p && tok_char((unsigned char)*p); p++)
            if (l < sizeof(out->w[n]) - 1)
                out->w[n][l++] = (char)tolower((unsigned char)*p);
        if (l < 3 || ing_is_stopword(out->w[n], l))
            continue;
        int seen = 0;
        for (int i = 0; i < n && !seen; i++)
            seen = out->len[i] == l && !memcmp(out->w[i], out->w[n], l);
        if (!seen)
            out->len[n++] = l;
    }
    out->n = n;
}

/* Longest prefix of w[0..wl) that occurs in t[0..tl) (lowercase, separators are spaces,
 * so a match stays inside one title token); its start in *at. */
static size_t prefix_in(const char *w, size_t wl, const char *t, size_t tl, size_t *at) {
    size_t best = 0;
    for (size_t i = 0; i + best < tl; i++) {
        size_t l = 0;
        while (l < wl && i + l < tl && t[i + l] == w[l])
            l++;
        if (l > best) {
            best = l;
            *at = i;
        }
    }
    return best;
}

double ing_title_affinity(const struct ing_query_words *qw, const char *title) {
    char t[256];
    size_t tl = 0;
    for (const char *p = title; *p && tl < sizeof(t); p++)
        t[tl++] = tok_char((unsigned char)*p) ? (char)tolower((unsigned char)*p) : ' ';
    /* A file name's extensions ("difftime.3.txt", "File::Temp.3perl.txt") name no
     * subject: the title's own coverage leaves out up to ING_TITLE_EXTENSIONS trailing
     * segments of at most 5 characters after a dot. A dotted name ("xml.etree.ElementTree")
     * or a title with spaces keeps them. */
    size_t named = tl;
    if (!strchr(title, ' '))
        for (int cut = 0; cut < ING_TITLE_EXTENSIONS; cut++) {
            const char *dot = NULL;
            for (size_t i = 0; i < named; i++)
                if (title[i] == '.')
                    dot = title + i;
            if (!dot || dot == title || named - (size_t)(dot - title) - 1 > 5)
                break;
            named = (size_t)(dot - title);
        }
    unsigned char covered[sizeof(t)] = {0};
    double credit = 0;
    for (int i = 0; i < qw->n; i++) {
        size_t at = 0, l = prefix_in(qw->w[i], qw->len[i], t, tl, &at);
        if (l < 3)
            continue;
        credit += l >= 4 || l == qw->len[i] ? 1.0 : 0.5;
        memset(covered + at, 1, l);
    }
    size_t letters = 0, spelled = 0;
    for (size_t i = 0; i < named; i++)
        if (isalpha((unsigned char)t[i])) {
            letters++;
            spelled += covered[i];
        }
    double q = qw->n ? credit / qw->n : 0, c = letters ? (double)spelled / (double)letters : 0;
    return (1 - ING_TITLE_COVER) * q + ING_TITLE_COVER * c;
}

/* Whether the token t[0..tl) is word w: equal, or sharing 5 or more leading characters
 * ("interface"/"interfaces", "compress"/"compression"). Case-insensitive. */
static int same_word(const char *t, size_t tl, const char *w, size_t wl) {
    size_t l = 0;
    while (l < tl && l < wl && tolower((unsigned char)t[l]) == w[l])
        l++;
    return (l == tl && l == wl) || l >= 5;
}

/* A name opens a line: letters, digits and the punctuation of module and file names. */
static int name_char(unsigned char c) {
    return isalnum(c) || c == '_' || c == ':' || c == '.' || c == '-' || c == '+';
}

int ing_anchor_name(const struct ing_query_words *qw, const char *text, char *name,
                    size_t size) {
    int words = qw->n;
    if (words < 2 || size < 2)
        return 0;
    int best = 0;
    const char *best_line = NULL;
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        if (!end)
            end = line + strlen(line);
        unsigned matched = 0; /* a bit per query word */
        for (const char *p = line; p < end;) {
            while (p < end && !tok_char((unsigned char)*p))
                p++;
            const char *t = p;
            while (p < end && tok_char((unsigned char)*p))
                p++;
            for (int i = 0; i < words && p > t; i++)
                if (same_word(t, (size_t)(p - t), qw->w[i], qw->len[i]))
                    matched |= 1u << i;
        }
        int m = __builtin_popcount(matched);
        if (m > best) {
            best = m;
            best_line = line;
        }
        line = *end ? end + 1 : NULL;
    }
    if (!best_line || best * ING_ANCHOR_COVER_DEN < words * ING_ANCHOR_COVER_NUM)
        return 0;
    const char *p = best_line;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t n = 0;
    while (name_char((unsigned char)p[n]))
        n++;
    while (n && strchr(".:-+", p[n - 1])) /* "stat.", "Module::" */
        n--;
    if (n < 2 || n >= size)
        return 0;
    memcpy(name, p, n);
    name[n] = '\0';
    return 1;
}

struct fuse_chunk {
    int64_t id, doc;
    double title;       /* its document's title affinity (keyword list only) */
    double k, v;        /* keyword score (lead boost applied) and cosine */
    int rank_k, rank_v; /* 1-based, 0 = absent */
    int has_v;
};

struct fuse_doc {
    int64_t doc;
    double k, v, title, score;
    int has_k, has_v, best_rank;
    size_t first, n; /* its chunks: chunks[first..first+n) after sorting */
};

static int chunk_by_doc(const void *pa, const void *pb) {
    const struct fuse_chunk *a = pa, *b = pb;
    if (a->doc != b->doc)
        return a->doc < b->doc ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

static int doc_desc(const void *pa, const void *pb) {
    const struct fuse_doc *a = pa, *b = pb;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    if (a->best_rank != b->best_rank)
        return a->best_rank < b->best_rank ? -1 : 1;
    return a->doc < b->doc ? -1 : a->doc > b->doc;
}

/* A chunk's own fused score, to order the chunks of one document. */
static double chunk_score(const struct fuse_chunk *c, double kmax, double vmin, double vspan,
                          double w) {
    double s = kmax > 0 ? c->k / kmax : 0;
    if (c->has_v)
        s += w * (vspan > 0 ? (c->v - vmin) / vspan : 1);
    return s;
}

size_t ing_doc_fuse(const struct ing_rag_scored *kl, const struct ing_doc_evidence *ev, size_t nk,
                    const struct ing_rag_scored *vl, size_t nv, double vector_weight, size_t max,
                    struct ing_fused *out) {
    size_t total = nk + nv;
    if (!total || !max)
        return 0;
    struct fuse_chunk *c = calloc(total, sizeof(*c));
    struct fuse_doc *d = calloc(total, sizeof(*d));
    unsigned char *used = calloc(total, 1);
    if (!c || !d || !used) {
        free(c);
        free(d);
        free(used);
        return (size_t)-1;
    }
    size_t n = 0;
    for (size_t i = 0; i < nk; i++) {
        double s = kl[i].score > 0 ? kl[i].score : 0;
        if (kl[i].position == 0)
            s *= ING_LEAD_BOOST;
        if (ev && ev[i].chunks > 1) /* the document length prior */
            s /= 1.0 + ING_DOC_PRIOR * log((double)ev[i].chunks);
        c[n++] = (struct fuse_chunk){kl[i].id, kl[i].doc_id, ev ? ev[i].title : 0, s, 0,
                                     (int)i + 1, 0, 0};
    }
    for (size_t i = 0; i < nv; i++) {
        size_t j = 0;
        while (j < nk && c[j].id != vl[i].id)
            j++;
        if (j == nk)
            c[j = n++] = (struct fuse_chunk){vl[i].id, vl[i].doc_id, 0, 0, 0, 0, 0, 0};
        c[j].v = vl[i].score;
        c[j].rank_v = (int)i + 1;
        c[j].has_v = 1;
    }
    qsort(c, n, sizeof(*c), chunk_by_doc);
    /* Documents: the best keyword score and the best cosine of their chunks. */
    size_t nd = 0;
    for (size_t i = 0; i < n; i++) {
        if (!nd || d[nd - 1].doc != c[i].doc)
            d[nd++] = (struct fuse_doc){.doc = c[i].doc, .first = i, .best_rank = 1 << 30};
        struct fuse_doc *x = &d[nd - 1];
        x->n++;
        if (c[i].title > x->title)
            x->title = c[i].title;
        if (c[i].rank_k) {
            if (!x->has_k || c[i].k > x->k)
                x->k = c[i].k;
            x->has_k = 1;
            if (c[i].rank_k < x->best_rank)
                x->best_rank = c[i].rank_k;
        }
        if (c[i].has_v) {
            if (!x->has_v || c[i].v > x->v)
                x->v = c[i].v;
            x->has_v = 1;
            if (c[i].rank_v < x->best_rank)
                x->best_rank = c[i].rank_v;
        }
    }
    double kmax = 0, vmin = 0, vmax = 0;
    int anyv = 0;
    for (size_t i = 0; i < nd; i++) {
        if (d[i].has_k && d[i].k > kmax)
            kmax = d[i].k;
        if (d[i].has_v) {
            if (!anyv || d[i].v < vmin)
                vmin = d[i].v;
            if (!anyv || d[i].v > vmax)
                vmax = d[i].v;
            anyv = 1;
        }
    }
    double vspan = vmax - vmin;
    for (size_t i = 0; i < nd; i++) {
        d[i].score = (kmax > 0 && d[i].has_k ? d[i].k / kmax : 0) + ING_TITLE_WEIGHT * d[i].title;
        if (d[i].has_v)
            d[i].score += vector_weight * (vspan > 0 ? (d[i].v - vmin) / vspan : 1);
    }
    qsort(d, nd, sizeof(*d), doc_desc);
    /* Within each document, best chunk first (selection: documents hold few chunks). */
    size_t m = 0;
    for (size_t pass = 0; pass < 2 && m < max; pass++) {
        for (size_t i = 0; i < nd && m < max; i++) {
            for (size_t taken = 0; m < max && (pass || taken < ING_PER_DOC); taken++) {
                size_t best = (size_t)-1;
                double bs = 0;
                for (size_t j = d[i].first; j < d[i].first + d[i].n; j++) {
                    if (used[j])
                        continue;
                    double s = chunk_score(&c[j], kmax, vmin, vspan, vector_weight);
                    if (best == (size_t)-1 || s > bs ||
                        (s == bs && c[j].id < c[best].id)) {
                        best = j;
                        bs = s;
                    }
                }
                if (best == (size_t)-1)
                    break;
                used[best] = 1;
                out[m++] = (struct ing_fused){c[best].id, d[i].score, c[best].rank_v,
                                              c[best].rank_k};
            }
        }
    }
    free(c);
    free(d);
    free(used);
    return m;
}
