/* SPDX-License-Identifier: MIT */
/* UTF-8 validation, cuts and repair, shared by the core and the AI/RAG libraries. Standard
 * library only. */
#ifndef ING_UTF8_H
#define ING_UTF8_H

#include <stddef.h>

/* Length of the well-formed UTF-8 sequence at `p` (1..4) within `avail` bytes (>= 1), or 0
 * when it is not one: overlong forms, surrogates and code points above U+10FFFF are
 * refused, as jansson refuses them. Inline: the JSON fast path calls it per character. */
static inline size_t ing_utf8_seq(const unsigned char *p, size_t avail) {
    unsigned c = p[0];
    size_t n = c < 0x80                   ? 1
               : (c >= 0xC2 && c <= 0xDF) ? 2
               : (c & 0xF0) == 0xE0       ? 3
               : (c >= 0xF0 && c <= 0xF4) ? 4
                                          : 0;
    if (n == 0 || avail < n)
        return 0;
    if (n == 1)
        return 1;
    unsigned cp = c & (0x7Fu >> n);
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3Fu);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return n;
}

/* Non-zero when s[0..len) is well-formed UTF-8 (no overlongs, no surrogates). */
int ing_utf8_valid(const char *s, size_t len);

/* The largest i <= pos that starts a character (never splits a multi-byte sequence). */
size_t ing_utf8_floor(const char *s, size_t len, size_t pos);

/* Copies `len` bytes replacing every invalid sequence with U+FFFD. Returns a NUL-terminated
 * string from the SDK allocator (release it with ing_free(), core/alloc.h), its length in
 * *out_len, or NULL when memory runs out. */
char *ing_utf8_sanitize(const char *s, size_t len, size_t *out_len);

#endif
