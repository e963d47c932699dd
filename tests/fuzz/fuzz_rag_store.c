/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the RAG store's file reader. Input: the bytes of a store file. They are
 * written to a scratch file (under /dev/shm when it exists), which is opened with
 * inngest_rag_store_create; when that succeeds the store is listed, searched in all three
 * modes, written to and searched again. Seeds are real stores (see mkseed_rag_store.c).
 * Properties: every call either succeeds or fails with a message; nothing crashes, leaks
 * or hangs, whatever the file holds (truncated pages, bad schema version, a dimension of
 * -1 or 2^31, codes of the wrong length, …).
 */
#include "fmacros.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "inngest/rag.h"

static char path[256];

static void remove_files(void) {
    char p[300];
    unlink(path);
    snprintf(p, sizeof(p), "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", path);
    unlink(p);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(path, sizeof(path), "%s/inngest-fuzz-store-%ld.db", dir ? dir : "/tmp",
             (long)getpid());
    atexit(remove_files);
    return 0;
}

static void check_results(int rc, const inngest_rag_results *r, int k, const inngest_error *err) {
    if (rc != INNGEST_OK) {
        FUZZ_ASSERT(rc < 0 && err->message[0] != '\0');
        FUZZ_ASSERT(r->count == 0);
        return;
    }
    FUZZ_ASSERT(r->count <= (size_t)k);
    for (size_t i = 0; i < r->count; i++)
        FUZZ_ASSERT(r->hits[i].doc_key != NULL && r->hits[i].text != NULL);
}

static void search_all(inngest_rag_store *s, inngest_rag_embedder *e) {
    static const inngest_rag_mode modes[] = {INNGEST_RAG_KEYWORD, INNGEST_RAG_VECTOR,
                                             INNGEST_RAG_HYBRID};
    for (size_t m = 0; m < 3; m++) {
        if (!e && modes[m] != INNGEST_RAG_KEYWORD)
            continue;
        inngest_rag_results r;
        inngest_error err;
        inngest_error_clear(&err);
        int rc = inngest_rag_search(s, e, "durable steps \"store\" OR inngest*", 3, modes[m], &r,
                                    &err);
        check_results(rc, &r, 3, &err);
        inngest_rag_results_cleanup(&r);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    remove_files();
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    size_t w = fwrite(data, 1, size, f);
    fclose(f);
    if (w != size)
        return 0;
    inngest_rag_store_opts opts = {.threads = 1};
    inngest_error err;
    inngest_error_clear(&err);
    char uri[sizeof(path) + 64];
    snprintf(uri, sizeof(uri), "sqlite:%s?synchronous=normal", path);
    inngest_rag_store *s = inngest_rag_store_create(uri, &opts, &err);
    if (!s) {
        FUZZ_ASSERT(err.code < 0 && err.message[0] != '\0');
        return 0;
    }
    inngest_rag_store_info info;
    int irc = inngest_rag_store_get_info(s, &info, &err);
    FUZZ_ASSERT(info.kernel != NULL && (irc == INNGEST_OK || err.message[0] != '\0'));
    json_t *list = inngest_rag_store_list(s, &err);
    FUZZ_ASSERT(list == NULL ? err.message[0] != '\0' : json_is_array(list));
    json_decref(list);

    /* The store's own embedder when it names the hashing one, else hash-v1 of 8. */
    int dim = info.dim > 0 && info.dim <= 4096 ? info.dim : 8;
    inngest_rag_embedder *e = inngest_rag_hash_embedder_create(dim, NULL);
    search_all(s, e);
    if (e) {
        inngest_rag_document doc = {.key = "fuzz", .source = "fuzz.md",
                                    .text = "# Fuzz\n\nThe store survives any file."};
        inngest_rag_ingest_opts io = {0};
        inngest_rag_status st = 0;
        size_t chunks = 0;
        inngest_error_clear(&err);
        int rc = inngest_rag_ingest_document(s, e, &doc, &io, &st, &chunks, &err);
        FUZZ_ASSERT(rc == INNGEST_OK ? st >= INNGEST_RAG_ADDED && st <= INNGEST_RAG_UNCHANGED
                                     : err.message[0] != '\0');
        search_all(s, e);
    }
    inngest_rag_embedder_destroy(e);
    inngest_rag_store_destroy(s);
    return 0;
}
