/* SPDX-License-Identifier: MIT */
/*
 * Writes the seed store files of the rag_store fuzz target (not a test; built with the fuzz
 * targets):
 *
 *   mkseed_rag_store DIR
 *
 * DIR/store_empty (schema only) and DIR/store_two_docs (two documents in short chunks,
 * hashing embedder of 8 dimensions), with 512-byte pages so that a whole store fits
 * libFuzzer's -max_len and mutations land in few pages.
 */
#include "fmacros.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "inngest/rag.h"

/* A database with small pages whose first table is the store's own meta table, so the
 * store's CREATE TABLE IF NOT EXISTS leaves it as is. */
static int precreate(const char *path) {
    sqlite3 *db = NULL;
    unlink(path);
    int rc = sqlite3_open(path, &db);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db,
                          "PRAGMA page_size=512;"
                          "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);",
                          NULL, NULL, NULL);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

static int make(const char *dir, const char *name, int docs) {
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (precreate(path))
        return -1;
    inngest_error err;
    inngest_error_clear(&err);
    inngest_rag_store_opts o = {.threads = 1};
    inngest_rag_store *s = inngest_rag_store_create(path, &o, &err);
    inngest_rag_embedder *e = inngest_rag_hash_embedder_create(8, &err);
    static const char *const texts[] = {
        "# Durable steps\n\nEach step's result is saved by Inngest. The store keeps chunks.",
        "# Store\n\nSQLite in WAL mode; int8 codes and float32 vectors; FTS5 for keywords."};
    int rc = s && e ? 0 : -1;
    for (int i = 0; !rc && i < docs; i++) {
        char key[32];
        snprintf(key, sizeof(key), "doc%d.md", i);
        inngest_rag_document d = {.key = key, .source = key, .text = texts[i % 2]};
        inngest_rag_ingest_opts io = {.chunk = {.max_bytes = 48, .overlap_bytes = 8}};
        rc = inngest_rag_ingest_document(s, e, &d, &io, NULL, NULL, &err);
    }
    inngest_rag_embedder_destroy(e);
    inngest_rag_store_destroy(s);
    if (rc)
        fprintf(stderr, "mkseed_rag_store: %s: %s\n", path, err.message);
    return rc;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: mkseed_rag_store DIR\n");
        return 2;
    }
    return make(argv[1], "store_empty", 0) || make(argv[1], "store_two_docs", 2) ? 1 : 0;
}
