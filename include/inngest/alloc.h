/* SPDX-License-Identifier: MIT */
/*
 * Memory functions of libinngest, in the manner of jansson's json_set_alloc_funcs().
 *
 * Every allocation the SDK makes itself (the core and its adapters) goes through these
 * functions; jansson's own allocations go through json_set_alloc_funcs(). Set both once, at
 * start-up, before any other call of either library: memory allocated with one set of
 * functions must be released with the same set. The SDK never calls realloc_fn with a NULL
 * pointer or a zero size, nor free_fn with NULL. Tests use this to fail the n-th
 * allocation (tests/unit/test_torture.c); a program may use it to count or cap memory.
 */
#ifndef INNGEST_ALLOC_H
#define INNGEST_ALLOC_H

#include <stddef.h>

#include "inngest/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef void *(*inngest_malloc_fn)(size_t size);
typedef void *(*inngest_realloc_fn)(void *ptr, size_t size);
typedef void (*inngest_free_fn)(void *ptr);

/* Replaces the SDK's allocator. Passing NULL for any of the three restores the C library's
 * malloc, realloc and free (all three together). Not thread-safe: call it before creating
 * apps or servers. */
INNGEST_API void inngest_set_alloc_funcs(inngest_malloc_fn malloc_fn,
                                         inngest_realloc_fn realloc_fn, inngest_free_fn free_fn);

#ifdef __cplusplus
}
#endif

#endif /* INNGEST_ALLOC_H */
