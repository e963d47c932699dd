/* SPDX-License-Identifier: MIT */
/* Small pure helpers of the inngest_ai library: buffer, UTF-8, base64, FNV-1a. */
#include "fmacros.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/ai_internal.h"
#include "core/utf8.h"

/* ---- UTF-8 ------------------------------------------------------------------------------ */

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

char *ing_utf8_sanitize(const char *s, size_t len, size_t *out_len) {
    struct ing_buf b = {0};
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

/* ---- base64 ----------------------------------------------------------------------------- */

static int b64val(unsigned char c) {
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

long ing_base64_decode(const char *in, size_t len, unsigned char *out) {
    while (len > 0 && in[len - 1] == '=')
        len--;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64val((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return (long)o;
}

/* ---- misc ------------------------------------------------------------------------------- */

uint64_t ing_fnv1a64(const void *data, size_t len, uint64_t seed) {
    const unsigned char *p = data;
    uint64_t h = seed;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

char *ing_strdup0(const char *s) {
    return s ? strdup(s) : NULL;
}
