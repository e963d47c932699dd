/* SPDX-License-Identifier: MIT */
/* The SDK's replaceable allocator, and JSON text in its memory. */
#include "fmacros.h"

#include "core/alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/buf.h"
#include "inngest/alloc.h"
#include "inngest/error.h"

static inngest_malloc_fn alloc_malloc = malloc;
static inngest_realloc_fn alloc_realloc = realloc;
static inngest_free_fn alloc_free = free;

void inngest_set_alloc_funcs(inngest_malloc_fn malloc_fn, inngest_realloc_fn realloc_fn,
                             inngest_free_fn free_fn) {
    if (!malloc_fn || !realloc_fn || !free_fn) {
        malloc_fn = malloc;
        realloc_fn = realloc;
        free_fn = free;
    }
    alloc_malloc = malloc_fn;
    alloc_realloc = realloc_fn;
    alloc_free = free_fn;
}

void *ing_malloc(size_t size) {
    return alloc_malloc(size ? size : 1);
}

void *ing_calloc(size_t n, size_t size) {
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = ing_malloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void *ing_realloc(void *ptr, size_t size) {
    if (!ptr)
        return ing_malloc(size);
    return alloc_realloc(ptr, size ? size : 1);
}

void ing_free(void *ptr) {
    if (ptr)
        alloc_free(ptr);
}

char *ing_strndup(const char *s, size_t n) {
    size_t len = strnlen(s, n);
    char *p = ing_malloc(len + 1);
    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

char *ing_strdup(const char *s) {
    return ing_strndup(s, SIZE_MAX);
}

static int dump_cb(const char *data, size_t size, void *user) {
    return ing_buf_append(user, data, size) == INNGEST_OK ? 0 : -1;
}

char *ing_json_dumps(const json_t *json, size_t flags, size_t *len) {
    struct ing_buf b;
    ing_buf_init(&b, 0);
    if (json_dump_callback(json, dump_cb, &b, flags) != 0) {
        ing_buf_cleanup(&b);
        return NULL;
    }
    return ing_buf_steal(&b, len);
}
