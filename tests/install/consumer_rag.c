/* SPDX-License-Identifier: MIT */
/*
 * A program outside the project that uses the installed AI and RAG libraries: a model
 * client built offline (no request is sent), and a RAG store in a scratch folder with the
 * offline hashing embedder: ingest, search, list, destroy.
 */
#include <inngest/ai.h>
#include <inngest/rag.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    inngest_error err;
    inngest_ai_opts o = {.api_key = "", .base_url = "http://127.0.0.1:9/v1"};
    inngest_ai_client *client = inngest_ai_client_create(&o, &err);
    int ok = client && !inngest_ai_client_has_key(client) &&
             inngest_ai_embedding_model_dim("text-embedding-3-small") == 1536;
    inngest_ai_client_destroy(client);

    char uri[4096];
    snprintf(uri, sizeof(uri), "sqlite:%s/consumer.db?synchronous=normal", argv[1]);
    inngest_rag_store *s = inngest_rag_store_create(uri, NULL, &err);
    inngest_rag_embedder *e = inngest_rag_hash_embedder_create(64, &err);
    if (!s || !e) {
        fprintf(stderr, "setup: %s\n", err.message);
        return 1;
    }
    inngest_rag_document d = {.source = "pasta.md",
                              .text = "# Pasta\n\nBoil water, add salt, cook nine minutes."};
    inngest_rag_status status = 0;
    ok = ok && inngest_rag_ingest_document(s, e, &d, NULL, &status, NULL, &err) == INNGEST_OK &&
         status == INNGEST_RAG_ADDED && !strcmp(inngest_rag_status_name(status), "added");
    inngest_rag_results r;
    ok = ok && inngest_rag_search(s, e, "how long to cook pasta", 3, INNGEST_RAG_HYBRID, &r,
                                  &err) == INNGEST_OK;
    ok = ok && r.count == 1 && !strcmp(r.hits[0].title, "Pasta");
    inngest_rag_results_cleanup(&r);
    inngest_rag_store_info info;
    ok = ok && inngest_rag_store_get_info(s, &info, &err) == INNGEST_OK && info.documents == 1 &&
         !strcmp(info.backend, "sqlite");
    inngest_rag_embedder_destroy(e);
    inngest_rag_store_destroy(s);
    printf("ai+rag %s\n", ok ? "ok" : "FAILED");
    if (!ok)
        fprintf(stderr, "%s\n", err.message);
    return ok ? 0 : 1;
}
