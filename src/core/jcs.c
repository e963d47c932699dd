/* SPDX-License-Identifier: MIT */
/* RFC 8785 canonical JSON. */
#include "fmacros.h"

#include "core/alloc.h"
#include "core/jcs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "inngest/error.h"

void ing_jcs_format_double(double d, char out[32]) {
    if (d == 0) {
        strcpy(out, "0");
        return;
    }
    /* Shortest precision whose %e rendering reads back as the same double. */
    char sci[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(sci, sizeof(sci), "%.*e", p - 1, d);
        if (strtod(sci, NULL) == d)
            break;
    }
    const char *s = sci;
    int neg = 0;
    if (*s == '-') {
        neg = 1;
        s++;
    }
    char digits[24];
    int k = 0;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9')
            digits[k++] = *s;
    while (k > 1 && digits[k - 1] == '0')
        k--;
    digits[k] = '\0';
    int e = atoi(s + 1);
    int n = e + 1; /* position of the decimal point relative to the digits */

    char *o = out;
    if (neg)
        *o++ = '-';
    if (k <= n && n <= 21) {
        memcpy(o, digits, (size_t)k);
        o += k;
        for (int i = 0; i < n - k; i++)
            *o++ = '0';
    } else if (0 < n && n <= 21) {
        memcpy(o, digits, (size_t)n);
        o += n;
        *o++ = '.';
        memcpy(o, digits + n, (size_t)(k - n));
        o += k - n;
    } else if (-6 < n && n <= 0) {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -n; i++)
            *o++ = '0';
        memcpy(o, digits, (size_t)k);
        o += k;
    } else {
        *o++ = digits[0];
        if (k > 1) {
            *o++ = '.';
            memcpy(o, digits + 1, (size_t)(k - 1));
            o += k - 1;
        }
        o += sprintf(o, "e%c%d", n - 1 >= 0 ? '+' : '-', abs(n - 1));
    }
    *o = '\0';
}

/* Decodes one UTF-8 sequence (input already validated by jansson). */
static unsigned utf8_next(const unsigned char **p) {
    const unsigned char *s = *p;
    unsigned c = s[0];
    int n = c < 0x80 ? 0 : c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
    c = n == 0 ? c : n == 1 ? c & 0x1F : n == 2 ? c & 0x0F : c & 0x07;
    for (int i = 1; i <= n; i++)
        c = (c << 6) | (s[i] & 0x3F);
    *p = s + n + 1;
    return c;
}

/* A cursor over a UTF-8 string that yields UTF-16 code units. */
struct utf16_cursor {
    const unsigned char *p, *end;
    unsigned pending; /* low surrogate still to yield */
};

/* Returns the next code unit, or -1 at the end. */
static long utf16_next(struct utf16_cursor *c) {
    if (c->pending) {
        unsigned u = c->pending;
        c->pending = 0;
        return u;
    }
    if (c->p >= c->end)
        return -1;
    unsigned cp = utf8_next(&c->p);
    if (cp < 0x10000)
        return cp;
    cp -= 0x10000;
    c->pending = 0xDC00 + (cp & 0x3FF);
    return 0xD800 + (cp >> 10);
}

/* Compares two UTF-8 strings by their UTF-16 code units, as RFC 8785 requires. */
static int utf16_cmp(const char *a, size_t alen, const char *b, size_t blen) {
    struct utf16_cursor ca = {(const unsigned char *)a, (const unsigned char *)a + alen, 0};
    struct utf16_cursor cb = {(const unsigned char *)b, (const unsigned char *)b + blen, 0};
    for (;;) {
        long ua = utf16_next(&ca), ub = utf16_next(&cb);
        if (ua != ub)
            return ua < ub ? -1 : 1;
        if (ua < 0)
            return 0;
    }
}

static int put_string(struct ing_buf *b, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    int rc = ing_buf_append(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < len && !rc; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[7];
        switch (c) {
            case '"':
                esc = "\\\"";
                break;
            case '\\':
                esc = "\\\\";
                break;
            case '\b':
                esc = "\\b";
                break;
            case '\f':
                esc = "\\f";
                break;
            case '\n':
                esc = "\\n";
                break;
            case '\r':
                esc = "\\r";
                break;
            case '\t':
                esc = "\\t";
                break;
            default:
                if (c < 0x20) {
                    memcpy(u, "\\u00", 4);
                    u[4] = hex[c >> 4];
                    u[5] = hex[c & 15];
                    u[6] = '\0';
                    esc = u;
                }
        }
        if (!esc) {
            run++;
            continue;
        }
        rc = ing_buf_append(b, s + i - run, run);
        run = 0;
        if (!rc)
            rc = ing_buf_appends(b, esc);
    }
    if (!rc)
        rc = ing_buf_append(b, s + len - run, run);
    return rc ? rc : ing_buf_append(b, "\"", 1);
}

struct key_ref {
    const char *key;
    size_t len;
    json_t *value;
};

static int key_cmp(const void *a, const void *b) {
    const struct key_ref *x = a, *y = b;
    return utf16_cmp(x->key, x->len, y->key, y->len);
}

static int put_value(struct ing_buf *b, const json_t *v, int depth) {
    char num[32];
    if (depth > 2048)
        return INNGEST_ELIMIT;
    switch (json_typeof(v)) {
        case JSON_NULL:
            return ing_buf_appends(b, "null");
        case JSON_TRUE:
            return ing_buf_appends(b, "true");
        case JSON_FALSE:
            return ing_buf_appends(b, "false");
        case JSON_INTEGER: {
            json_int_t i = json_integer_value(v);
            /* Beyond 2^53 the executor's doubles lose precision; match what it sends. */
            if (i > 9007199254740992LL || i < -9007199254740992LL)
                ing_jcs_format_double((double)i, num);
            else
                snprintf(num, sizeof(num), "%lld", (long long)i);
            return ing_buf_appends(b, num);
        }
        case JSON_REAL: {
            double d = json_real_value(v);
            if (!isfinite(d))
                return INNGEST_EINVAL;
            ing_jcs_format_double(d, num);
            return ing_buf_appends(b, num);
        }
        case JSON_STRING:
            return put_string(b, json_string_value(v), json_string_length(v));
        case JSON_ARRAY: {
            int rc = ing_buf_append(b, "[", 1);
            for (size_t i = 0; !rc && i < json_array_size(v); i++) {
                if (i)
                    rc = ing_buf_append(b, ",", 1);
                if (!rc)
                    rc = put_value(b, json_array_get(v, i), depth + 1);
            }
            return rc ? rc : ing_buf_append(b, "]", 1);
        }
        case JSON_OBJECT: {
            size_t n = json_object_size(v), i = 0;
            struct key_ref *keys = n ? ing_malloc(n * sizeof(*keys)) : NULL;
            if (n && !keys)
                return INNGEST_ENOMEM;
            const char *k;
            size_t klen;
            json_t *val;
            json_object_keylen_foreach((json_t *)v, k, klen, val) {
                keys[i].key = k;
                keys[i].len = klen;
                keys[i].value = val;
                i++;
            }
            if (n > 1) /* qsort's pointer must not be NULL, even for 0 elements */
                qsort(keys, n, sizeof(*keys), key_cmp);
            int rc = ing_buf_append(b, "{", 1);
            for (i = 0; !rc && i < n; i++) {
                if (i)
                    rc = ing_buf_append(b, ",", 1);
                if (!rc)
                    rc = put_string(b, keys[i].key, keys[i].len);
                if (!rc)
                    rc = ing_buf_append(b, ":", 1);
                if (!rc)
                    rc = put_value(b, keys[i].value, depth + 1);
            }
            ing_free(keys);
            return rc ? rc : ing_buf_append(b, "}", 1);
        }
    }
    return INNGEST_EINVAL;
}

char *ing_jcs_dump(const json_t *v, size_t *len) {
    struct ing_buf b;
    ing_buf_init(&b, 0);
    if (put_value(&b, v, 0) != INNGEST_OK) {
        ing_buf_cleanup(&b);
        return NULL;
    }
    return ing_buf_steal(&b, len);
}
