/* SPDX-License-Identifier: MIT */
/* UTF-8 checks, cuts and repair, shared by the core, the AI client and the RAG library. */
#include "fmacros.h"

#include "core/buf.h"
#include "core/utf8.h"
#include "inngest/utf8.h"

int ing_utf8_valid(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t n = ing_utf8_seq(p + i, len - i);
        if (!n)
            return 0;
        i += n;
    }
    return 1;
}

size_t ing_utf8_floor(const char *s, size_t len, size_t pos) {
    if (pos >= len)
        return len;
    /* Continuation bytes are 10xxxxxx; step back over at most three of them. */
    size_t i = pos;
    while (i > 0 && pos - i < 3 && ((unsigned char)s[i] & 0xc0) == 0x80)
        i--;
    return ((unsigned char)s[i] & 0xc0) == 0x80 ? pos : i;
}

size_t inngest_utf8_cut(const char *s, size_t len, size_t max) {
    return ing_utf8_floor(s, len, max);
}

char *ing_utf8_sanitize(const char *s, size_t len, size_t *out_len) {
    struct ing_buf b = {0}; /* its memory is the SDK allocator's (ing_free) */
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    if (ing_buf_append(&b, "", 0))
        return NULL;
    while (i < len) {
        size_t n = ing_utf8_seq(p + i, len - i);
        int rc = n ? ing_buf_append(&b, p + i, n) : ing_buf_append(&b, "\xef\xbf\xbd", 3);
        if (rc) {
            ing_buf_cleanup(&b);
            return NULL;
        }
        i += n ? n : 1;
    }
    if (out_len)
        *out_len = b.len;
    return b.data;
}
