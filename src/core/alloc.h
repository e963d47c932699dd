/* SPDX-License-Identifier: MIT */
/*
 * The SDK's allocator (see inngest/alloc.h). Core and adapter code allocate with these,
 * never with malloc() directly, so a test can fail any one allocation.
 */
#ifndef ING_ALLOC_H
#define ING_ALLOC_H

#include <stddef.h>

#include <jansson.h>

void *ing_malloc(size_t size);
/* Zeroed n * size bytes; NULL on overflow. */
void *ing_calloc(size_t n, size_t size);
/* realloc() semantics for ptr (NULL allocates); size 0 is treated as 1. */
void *ing_realloc(void *ptr, size_t size);
/* NULL is a no-op. */
void ing_free(void *ptr);
char *ing_strdup(const char *s);
char *ing_strndup(const char *s, size_t n);
/* json_dumps() into memory of this allocator (release with ing_free), in one pass;
 * `*len` (optional) receives the length. NULL when memory runs out. */
char *ing_json_dumps(const json_t *json, size_t flags, size_t *len);

#endif
