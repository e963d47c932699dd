/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the chunker (inngest_rag_chunk_text) with fuzzer-chosen sizes. Input: two
 * bytes of max_bytes (little-endian; 0 = the default), two of overlap_bytes, then the text.
 * Properties: every chunk lies inside the text, is non-empty, at most max_bytes long, and
 * neither starts nor ends with whitespace; chunks start in increasing order; every
 * non-whitespace byte is in some chunk; in valid UTF-8 no chunk splits a character; a
 * max_bytes below 16 is refused.
 */
#include "fmacros.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/utf8.h"
#include "fuzz.h"
#include "inngest/rag.h"

static int is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int char_start(const char *t, size_t len, size_t p) {
    return p >= len || ((unsigned char)t[p] & 0xc0) != 0x80;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 4)
        return 0;
    inngest_rag_chunk_opts o = {.max_bytes = (size_t)data[0] | (size_t)data[1] << 8,
                                .overlap_bytes = (size_t)data[2] | (size_t)data[3] << 8};
    const char *text = (const char *)data + 4;
    size_t len = size - 4;
    size_t max = o.max_bytes ? o.max_bytes : INNGEST_RAG_CHUNK_BYTES;
    inngest_rag_chunk *c = NULL;
    size_t n = 99;
    inngest_error err;
    inngest_error_clear(&err);
    int rc = inngest_rag_chunk_text(text, len, &o, &c, &n, &err);
    if (max < 16) {
        FUZZ_ASSERT(rc == INNGEST_EINVAL && c == NULL && n == 0);
        return 0;
    }
    FUZZ_ASSERT(rc == INNGEST_OK || rc == INNGEST_ENOMEM);
    if (rc != INNGEST_OK)
        return 0;
    size_t valid_len = 0;
    char *clean = ing_utf8_sanitize(text, len, &valid_len);
    int valid = clean && valid_len == len && !memcmp(clean, text, len);
    ing_free(clean);
    size_t covered = 0; /* every byte before this is in a chunk or whitespace */
    for (size_t i = 0; i < n; i++) {
        FUZZ_ASSERT(c[i].len > 0 && c[i].len <= max);
        FUZZ_ASSERT(c[i].offset < len && c[i].len <= len - c[i].offset);
        FUZZ_ASSERT(!is_space(text[c[i].offset]));
        FUZZ_ASSERT(!is_space(text[c[i].offset + c[i].len - 1]));
        if (i)
            FUZZ_ASSERT(c[i].offset > c[i - 1].offset);
        if (valid) {
            FUZZ_ASSERT(char_start(text, len, c[i].offset));
            FUZZ_ASSERT(char_start(text, len, c[i].offset + c[i].len));
        }
        for (size_t p = covered; p < c[i].offset; p++)
            FUZZ_ASSERT(is_space(text[p]));
        if (c[i].offset + c[i].len > covered)
            covered = c[i].offset + c[i].len;
    }
    for (size_t p = covered; p < len; p++)
        FUZZ_ASSERT(is_space(text[p]));
    free(c);
    return 0;
}
