/* SPDX-License-Identifier: MIT */
#include "torture_alloc.h"

#include <inngest/alloc.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#define HDR 16           /* keeps malloc's alignment */
static long live_blocks; /* blocks allocated through the hooks and not yet freed */
static long alloc_count; /* allocations since the counter was reset */
static long fail_from;   /* 0 = never fail; n = fail the n-th allocation and later ones */

static int should_fail(void) {
    alloc_count++;
    return fail_from && alloc_count >= fail_from;
}

void *torture_malloc(size_t size) {
    if (should_fail() || size > SIZE_MAX - HDR)
        return NULL;
    char *p = malloc(size + HDR);
    if (!p)
        return NULL;
    live_blocks++;
    return p + HDR;
}

static void *torture_realloc(void *ptr, size_t size) {
    if (!ptr)
        return torture_malloc(size);
    if (should_fail() || size > SIZE_MAX - HDR)
        return NULL;
    char *p = realloc((char *)ptr - HDR, size + HDR);
    return p ? p + HDR : NULL;
}

void torture_free(void *ptr) {
    if (!ptr)
        return;
    live_blocks--;
    free((char *)ptr - HDR);
}

void torture_alloc_install(void) {
    json_set_alloc_funcs(torture_malloc, torture_free);
    inngest_set_alloc_funcs(torture_malloc, torture_realloc, torture_free);
}

void torture_alloc_arm(long n) {
    alloc_count = 0;
    fail_from = n;
}

long torture_alloc_disarm(void) {
    fail_from = 0;
    return alloc_count;
}

long torture_alloc_live(void) {
    return live_blocks;
}
