/* SPDX-License-Identifier: MIT */
/*
 * The chat app's functions and the retrieval-and-prompt code they share with the host's
 * direct mode:
 *
 *   handle-chat      event chat/message        retrieve-context, generate-response
 *   ingest-document  event rag/document.added  chunk, embed-batch (one step per batch), store
 *
 * Both the Inngest function (handle-chat) and the host's POST /api/chat (direct mode) go
 * through chat_retrieve() and chat_build_messages(), so an answer reads the same whichever
 * way it was asked for. Only public headers are used, like any user of libinngest.
 *
 * Thread-safety: a chat_env is read-only once registered; every function here may run on
 * many threads at once.
 */
#ifndef FUNCTIONS_CHAT_H
#define FUNCTIONS_CHAT_H

#include <stddef.h>

#include <inngest/ai.h>
#include <inngest/inngest.h>
#include <inngest/rag.h>

/* How handle-chat's generate-response step calls the model. */
typedef enum chat_generate_mode {
    CHAT_GENERATE_INFER = 0, /* step.ai.infer: the Inngest server calls the model (default) */
    CHAT_GENERATE_RUN,       /* step.run: this host calls the model with its own client */
} chat_generate_mode;

/*
 * Where generate-response sends the text of an answer while it streams it in the host
 * (CHAT_GENERATE_MODE=run), keyed by the id of the chat/message event: begin, then delta for
 * each piece, then end (also after a failure; a retry begins again). A preview for the
 * result stream; the step's saved result is still the answer. Called on the thread running
 * the step; `user` is passed back.
 */
struct chat_tokens {
    void (*begin)(void *user, const char *event_id);
    void (*delta)(void *user, const char *event_id, const char *text, size_t len);
    void (*end)(void *user, const char *event_id);
    void *user;
};

/* What the chat functions need. Everything is borrowed and must outlive the app. */
struct chat_env {
    inngest_ai_client *client;     /* model client; without a key: offline answers */
    inngest_rag_store *store;      /* the RAG store */
    inngest_rag_embedder *embedder;/* embeds questions and ingested chunks */
    chat_generate_mode generate;   /* CHAT_GENERATE_MODE=infer|run */
    int top_k;                     /* passages retrieved; 0 = 5 (CHAT_TOP_K) */
    size_t context_budget;         /* bytes of passages in the prompt; 0 = 12000 */
    const struct chat_tokens *tokens; /* NULL: run mode calls the model without streaming */
};

/* Reads CHAT_GENERATE_MODE, CHAT_TOP_K and CHAT_CONTEXT_BUDGET into `env` (the other
 * fields are left alone). Fails with INNGEST_ECONFIG and a message naming the variable. */
int chat_env_from_environment(struct chat_env *env, inngest_error *err);

/* Adds handle-chat and ingest-document to `app`. `env` must outlive the app. */
int chat_register(inngest_app *app, const struct chat_env *env, inngest_error *err);

/*
 * Checks a chat request body ({messages: [{role, content}], sessionId?, ragContext?,
 * chatId?, selectedFilePathnames?}) as handle-chat and POST /api/chat accept it.
 * Returns NULL when it is valid, else a message for the caller (static storage).
 */
const char *chat_check_request(json_t *body);

/*
 * The retrieve-context result for a chat request (borrowed): hybrid search on the last
 * user message (restricted to selectedFilePathnames when given), plus any ragContext the
 * caller passed. Returns a new reference
 *   {"query": q, "passages": [{id, title, source, score, text}], "mode": "hybrid"|...}
 * or NULL with `err` filled (err->no_retry when retrying cannot help).
 */
json_t *chat_retrieve(const struct chat_env *env, json_t *request, inngest_error *err);

/*
 * The Chat Completions messages for a request and its retrieved context (both borrowed):
 * a system prompt that numbers the passages [1], [2]… within the context budget and asks
 * for citations, then the conversation. Returns a new reference (a JSON array of
 * {role, content}), or NULL when memory runs out.
 */
json_t *chat_build_messages(const struct chat_env *env, json_t *request, json_t *context);

/* The answer given without a model (no API key): the retrieved passages themselves,
 * numbered, with a first line saying that no model was called. Returns a malloc'd string. */
char *chat_offline_answer(json_t *context);

/* The sources list of a result, [{id, title, score}], from a retrieve-context value
 * (borrowed). Returns a new reference. */
json_t *chat_sources(json_t *context);

#endif
