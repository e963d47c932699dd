/* SPDX-License-Identifier: MIT */
/* Growable byte buffer. Standard library only. */
#include "fmacros.h"

#include "core/alloc.h"
#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inngest/error.h"

void ing_buf_init(struct ing_buf *b, size_t max) {
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void ing_buf_cleanup(struct ing_buf *b) {
    ing_free(b->data);
    ing_buf_init(b, b->max);
}

int ing_buf_reserve(struct ing_buf *b, size_t extra) {
    if (extra > (size_t)-1 - b->len - 1)
        return INNGEST_ETOOBIG;
    size_t need = b->len + extra + 1;
    if (b->max && need - 1 > b->max)
        return INNGEST_ETOOBIG;
    if (need <= b->cap)
        return INNGEST_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > (size_t)-1 / 2 ? need : cap * 2;
    char *p = ing_realloc(b->data, cap);
    if (!p)
        return INNGEST_ENOMEM;
    b->data = p;
    b->cap = cap;
    return INNGEST_OK;
}

int ing_buf_append(struct ing_buf *b, const void *data, size_t len) {
    int rc = ing_buf_reserve(b, len);
    if (rc)
        return rc;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return INNGEST_OK;
}

int ing_buf_appends(struct ing_buf *b, const char *s) {
    return ing_buf_append(b, s, strlen(s));
}

int ing_buf_vappendf(struct ing_buf *b, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return INNGEST_EINVAL;
    int rc = ing_buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return INNGEST_OK;
}

int ing_buf_appendf(struct ing_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = ing_buf_vappendf(b, fmt, ap);
    va_end(ap);
    return rc;
}

char *ing_buf_steal(struct ing_buf *b, size_t *len) {
    if (!b->data && ing_buf_reserve(b, 0) != INNGEST_OK)
        return NULL;
    if (!b->len)
        b->data[0] = '\0';
    char *p = b->data;
    if (len)
        *len = b->len;
    ing_buf_init(b, b->max);
    return p;
}
