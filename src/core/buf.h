/* SPDX-License-Identifier: MIT */
/*
 * A growable byte buffer with an optional size cap. Includes only the standard library.
 */
#ifndef ING_BUF_H
#define ING_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct ing_buf {
    char *data; /* NUL-terminated whenever non-NULL */
    size_t len;
    size_t cap;
    size_t max; /* 0 = unlimited; appends past it fail with INNGEST_ETOOBIG */
};

void ing_buf_init(struct ing_buf *b, size_t max);
void ing_buf_cleanup(struct ing_buf *b);
int ing_buf_reserve(struct ing_buf *b, size_t extra);
int ing_buf_append(struct ing_buf *b, const void *data, size_t len);
int ing_buf_appends(struct ing_buf *b, const char *s);
int ing_buf_appendf(struct ing_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int ing_buf_vappendf(struct ing_buf *b, const char *fmt, va_list ap);
/* Hands the data to the caller (malloc'd, NUL-terminated, never NULL on success) and
 * resets the buffer. Returns NULL when memory runs out. */
char *ing_buf_steal(struct ing_buf *b, size_t *len);

#endif
