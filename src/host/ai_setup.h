/* SPDX-License-Identifier: MIT */
/*
 * The host's model client, embedder and RAG store, set up the same way for the server and
 * for `inngest-host ingest`:
 *
 *   client    OPENAI_* (see include/inngest/ai.h); without OPENAI_API_KEY: offline answers
 *   embedder  RAG_EMBEDDER=auto (default: OpenAI embeddings when a key is set, else the
 *             offline hashing embedder), openai or hash
 *   store     RAG_STORE_URL, else RAG_STORE_PATH (a path or a store URI, see
 *             inngest_rag_store_create(): sqlite:PATH, or postgresql://... for a database
 *             shared by several hosts), default data/rag-<embedder id>.db, so switching
 *             between offline and OpenAI never mixes two vector spaces in one file
 */
#ifndef HOST_AI_SETUP_H
#define HOST_AI_SETUP_H

#include <stddef.h>

#include <inngest/ai.h>
#include <inngest/rag.h>

struct host_ai {
    inngest_ai_client *client;
    inngest_rag_embedder *embedder;
    inngest_rag_store *store;
    char store_path[4096]; /* where the store is, as shown (a URL's password redacted) */
    const char *embedder_kind; /* "openai" or "hash" (static) */
};

/*
 * Creates the client and the embedder, then opens the store at `store_path` (a path or
 * URL; NULL: RAG_STORE_URL, RAG_STORE_PATH or the default; a file's parent folder is
 * created when missing) and checks
 * that it was built by this embedder. On failure everything is released, `ai` is zeroed
 * and `err` says what to change (a store built by another embedder names the file and the
 * ways out). With `wait_for_store` (the server), a database that cannot be reached now
 * does not fail the open: the store opens empty, answers INNGEST_EUNAVAILABLE (503 with
 * Retry-After) until the database answers, then loads itself
 * (inngest_rag_store_opts.open_unavailable).
 */
int host_ai_open(struct host_ai *ai, const char *store_path, int wait_for_store,
                 inngest_error *err);

/* Closes the store and frees the embedder and the client. Safe on a zeroed struct. */
void host_ai_close(struct host_ai *ai);

/* Logs what is in use: store, embedder, model, mode, whether a key is set (never the key). */
void host_ai_log(const struct host_ai *ai, const char *generate_mode);

/*
 * Ingests the built-in corpus (the docs folder's Markdown files, embedded at build time)
 * when the store holds no document yet, so a fresh host answers questions about itself. *docs and
 * *chunks (both optional) receive what was added. Returns INNGEST_OK or the first failure.
 */
int host_ai_seed(struct host_ai *ai, size_t *docs, size_t *chunks, inngest_error *err);

/* Counts one ingested document in the metrics (`via`: "startup", "http", "cli"; `status`
 * an inngest_rag_status or a negative code) and refreshes the store gauges. */
void host_ai_count_ingest(struct host_ai *ai, const char *via, int status, size_t chunks);

/* Sets the store's document and chunk gauges. */
void host_ai_update_gauges(struct host_ai *ai);

#endif
