/* SPDX-License-Identifier: MIT */
/*
 * The libFuzzer entry points every fuzz target defines. The same sources build two ways:
 * with clang -fsanitize=fuzzer (INNGEST_FUZZ=ON) libFuzzer supplies main(); otherwise
 * replay_main.c does, and replays seed files as an ordinary test.
 */
#ifndef INNGEST_FUZZ_H
#define INNGEST_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional one-time set-up; replay_main.c calls it when the target defines it. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Aborts with a message: a property the target checks does not hold. */
#define FUZZ_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: fuzz property failed: %s\n", __FILE__, __LINE__, #cond);       \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
