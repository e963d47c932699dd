/* SPDX-License-Identifier: MIT */
/* Helpers shared by the RAG tests: a scratch directory removed at exit. */
#ifndef RAG_TESTLIB_H
#define RAG_TESTLIB_H

#include <stddef.h>

/* Creates a fresh directory under $TMPDIR (or /tmp) that is deleted, with everything in
 * it, when the process exits normally. Returns its path (static storage). */
const char *rag_test_dir(void);

/* Writes "<dir>/<name>" into out and returns out. */
char *rag_test_path(const char *name, char *out, size_t size);

#endif
