/* SPDX-License-Identifier: MIT */
/*
 * The chunker: splits a document into overlapping pieces of about `max_bytes` bytes,
 * cutting at the strongest boundary available near the limit: a paragraph break, then a
 * sentence end, then a line break, then a space, and only as a last resort inside a word
 * (never inside a UTF-8 character). The next chunk starts `overlap_bytes` back, at a
 * sentence or word start, so a fact cut in two still appears whole in one chunk.
 * Pure: spans are byte offsets into the caller's text.
 */
#include "fmacros.h"

#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "inngest/rag.h"

static int is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int sentence_end(const char *t, size_t len, size_t p) {
    if (p + 1 >= len)
        return 0;
    char c = t[p];
    return (c == '.' || c == '!' || c == '?' || c == ':' || c == ';') && is_space(t[p + 1]);
}

/* The end (exclusive) of the chunk starting at `s`, given len - s > max. */
static size_t find_cut(const char *t, size_t len, size_t s, size_t max) {
    size_t hi = s + max;          /* the chunk may not pass this */
    size_t lo = s + max / 2;      /* nor be shorter than half the target */
    /* 1. paragraph break: a blank line. */
    for (size_t p = hi - 1; p > lo; p--)
        if (t[p] == '\n' && t[p - 1] == '\n')
            return p;
    /* 2. sentence end (also "3." list numbers, which is harmless). */
    for (size_t p = hi - 1; p > lo; p--)
        if (sentence_end(t, len, p))
            return p + 1;
    /* 3. line break, 4. any space. */
    for (size_t p = hi - 1; p > lo; p--)
        if (t[p] == '\n')
            return p + 1;
    for (size_t p = hi - 1; p > lo; p--)
        if (is_space(t[p]))
            return p + 1;
    /* 5. a hard cut, on a character boundary. */
    size_t c = ing_utf8_floor(t, len, hi);
    return c > s ? c : hi;
}

/* Where the chunk after one that ends at `cut` starts: inside the last `overlap` bytes,
 * at the first sentence start, else the first word start, else `cut`. */
static size_t overlap_start(const char *t, size_t len, size_t s, size_t cut, size_t overlap) {
    if (overlap == 0 || cut <= s + overlap)
        return cut;
    size_t from = cut - overlap;
    for (size_t p = from; p + 1 < cut; p++)
        if (sentence_end(t, len, p) || (t[p] == '\n' && p + 1 < len && t[p + 1] == '\n'))
            return p + 1;
    for (size_t p = from; p < cut; p++)
        if (is_space(t[p]))
            return p + 1;
    return cut;
}

int inngest_rag_chunk_text(const char *text, size_t len, const inngest_rag_chunk_opts *opts,
                           inngest_rag_chunk **out, size_t *count, inngest_error *err) {
    size_t max = opts && opts->max_bytes ? opts->max_bytes : INNGEST_RAG_CHUNK_BYTES;
    size_t overlap = opts && opts->overlap_bytes ? opts->overlap_bytes
                                                 : INNGEST_RAG_CHUNK_OVERLAP_BYTES;
    *out = NULL;
    *count = 0;
    if (max < 16)
        return inngest_error_set(err, INNGEST_EINVAL, "chunks must be at least 16 bytes");
    if (overlap > max / 2)
        overlap = max / 2;
    size_t cap = 0, n = 0;
    inngest_rag_chunk *v = NULL;
    size_t s = 0;
    while (s < len) {
        while (s < len && is_space(text[s]))
            s++;
        if (s >= len)
            break;
        size_t cut = len - s <= max ? len : find_cut(text, len, s, max);
        size_t e = cut;
        while (e > s && is_space(text[e - 1]))
            e--;
        if (e > s) {
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                inngest_rag_chunk *nv = realloc(v, cap * sizeof(*nv));
                if (!nv) {
                    free(v);
                    return inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
                }
                v = nv;
            }
            v[n].offset = s;
            v[n].len = e - s;
            n++;
        }
        if (cut >= len)
            break;
        size_t next = overlap_start(text, len, s, cut, overlap);
        s = next > s ? next : cut;
    }
    *out = v;
    *count = n;
    return INNGEST_OK;
}
