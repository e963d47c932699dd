/* SPDX-License-Identifier: MIT */
/* Small pure helpers of the inngest_ai library: buffer, UTF-8, base64, FNV-1a. */
#include "fmacros.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/ai_internal.h"

/* ---- buffer ----------------------------------------------------------------------------- */

static int reserve(struct ing_abuf *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) {
        if (cap > SIZE_MAX / 2)
            return -1;
        cap *= 2;
    }
    char *d = realloc(b->data, cap);
    if (!d)
        return -1;
    b->data = d;
    b->cap = cap;
    return 0;
}

int ing_abuf_append(struct ing_abuf *b, const void *data, size_t len) {
    if (reserve(b, len))
        return -1;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int ing_abuf_appends(struct ing_abuf *b, const char *s) {
    return ing_abuf_append(b, s, strlen(s));
}

int ing_abuf_appendf(struct ing_abuf *b, const char *fmt, ...) {
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || reserve(b, (size_t)n)) {
        va_end(ap2);
        return -1;
    }
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    b->len += (size_t)n;
    return 0;
}

void ing_abuf_cleanup(struct ing_abuf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- UTF-8 ------------------------------------------------------------------------------ */

/* Length of the well-formed sequence at s[0..avail), or 0 when it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t avail) {
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned min;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (avail < n)
        return 0;
    unsigned cp = c & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

int ing_utf8_valid(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t n = utf8_seq(p + i, len - i);
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
    struct ing_abuf b = {0};
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    if (ing_abuf_append(&b, "", 0))
        return NULL;
    while (i < len) {
        size_t n = utf8_seq(p + i, len - i);
        int rc = n ? ing_abuf_append(&b, p + i, n) : ing_abuf_append(&b, "\xef\xbf\xbd", 3);
        if (rc) {
            ing_abuf_cleanup(&b);
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
