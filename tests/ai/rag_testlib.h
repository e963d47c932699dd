/* SPDX-License-Identifier: MIT */
/* Helpers shared by the RAG tests: a scratch directory removed at exit, and where a test
 * store lives (an SQLite file, or a PostgreSQL database when the tests run on that
 * backend). */
#ifndef RAG_TESTLIB_H
#define RAG_TESTLIB_H

#include <stddef.h>

/* Creates a fresh directory under $TMPDIR (or /tmp) that is deleted, with everything in
 * it, when the process exits normally. Returns its path (static storage). */
const char *rag_test_dir(void);

/* Writes "<dir>/<name>" into out and returns out. */
char *rag_test_path(const char *name, char *out, size_t size);

/*
 * Where the store `name` of this test lives: with INNGEST_TEST_PG_DIR set (the folder of
 * tests/pg/pg_ctl.sh, which holds the server's URL), a PostgreSQL URL of a database made
 * for this process and name (created on first use, dropped at exit); otherwise the path
 * "<scratch dir>/<name>". Writes it into out and returns out.
 */
char *rag_test_store_url(const char *name, char *out, size_t size);

/* Non-zero when the tests run on PostgreSQL (INNGEST_TEST_PG_DIR is set). */
int rag_test_on_pg(void);

/* The server URL of INNGEST_TEST_PG_DIR (database "inngest") into out; NULL when unset. */
char *rag_test_pg_server(char *out, size_t size);

#endif
