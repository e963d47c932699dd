/* SPDX-License-Identifier: MIT */
/*
 * The host's direct-mode chat and document routes:
 *
 *   POST   /api/chat             retrieve, build the prompt, call the model; JSON, or
 *                                Server-Sent Events (sources, delta…, done | error) when
 *                                the client sends Accept: text/event-stream or "stream":true
 *   POST   /api/rag/documents    ingest {source, text, title?, key?, metadata?} or an array
 *                                of them (?via=inngest: send rag/document.added events)
 *   GET    /api/rag/documents    the documents and the store's facts
 *   DELETE /api/rag/documents?key=K
 *
 * Both go through the same code as handle-chat (functions/chat.h) and the ingest command
 * (inngest_rag_ingest_document), so an answer or a document reads the same whichever way
 * it came in.
 */
#ifndef HOST_CHAT_ROUTES_H
#define HOST_CHAT_ROUTES_H

#include <stddef.h>

#include <inngest/inngest.h>

#include "chat.h"
#include "host/ai_setup.h"

struct host_chat {
    const struct chat_env *env; /* borrowed: client, store, embedder */
    struct host_ai *ai;         /* borrowed: the same objects, for metrics and store facts */
    inngest_app *app;           /* borrowed: sends events for ?via=inngest */
    size_t max_document_bytes;  /* text of one document; 0 = 4 MiB (413 beyond) */
    size_t max_documents;       /* documents per request; 0 = 100 (413 beyond) */
    /* Direct-mode answers in progress at most (each holds a worker thread while the model
     * answers); 0 = 12, so with the 16 result streams 4 of the 32 workers stay free for
     * /api/inngest. Beyond it POST /api/chat answers 503 with Retry-After. */
    int max_active_chats;
    int active_chats; /* current count, updated atomically */
    /* Document posts in progress at most (ingesting embeds every chunk, ?via=inngest sends
     * events); 0 = 4. Beyond it POST /api/rag/documents answers 503 with Retry-After. */
    int max_active_ingests;
    int active_ingests; /* current count, updated atomically */
};

/* POST /api/chat. `user` is a struct host_chat. */
int host_chat_route(void *user, const inngest_http_request *req, inngest_http_response *res,
                    inngest_stream *stream);

/* GET, POST and DELETE /api/rag/documents. `user` is a struct host_chat. */
int host_documents_route(void *user, const inngest_http_request *req, inngest_http_response *res,
                         inngest_stream *stream);

#endif
