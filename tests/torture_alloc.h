/* SPDX-License-Identifier: MIT */
/*
 * The counting allocator of the allocation failure ("torture") tests, in the style of
 * curl's: installed for both the SDK (inngest_set_alloc_funcs) and jansson
 * (json_set_alloc_funcs), it counts allocations and live blocks, and fails the n-th
 * allocation and every later one while a run is armed. Every block carries a header, so
 * frees are counted too.
 */
#ifndef TESTS_TORTURE_ALLOC_H
#define TESTS_TORTURE_ALLOC_H

#include <stddef.h>

/* Installs the hooks. Call before anything allocates, so every block freed through them
 * was allocated through them. */
void torture_alloc_install(void);

/* Starts counting from 0; from the `fail_from`-th allocation on (0: never) every one
 * fails. */
void torture_alloc_arm(long fail_from);

/* Stops failing; returns how many allocations were asked for since torture_alloc_arm(). */
long torture_alloc_disarm(void);

/* Blocks allocated through the hooks and not yet freed. */
long torture_alloc_live(void);

/* The hooks themselves, for a test that allocates what the library will free. */
void *torture_malloc(size_t size);
void torture_free(void *ptr);

#endif
