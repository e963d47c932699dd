/* SPDX-License-Identifier: MIT */
/*
 * The host's own routes beside /api/inngest: the chat page, the Inngest-mode chat API
 * (send, poll, stream), health and metrics.
 */
#ifndef HOST_ROUTES_H
#define HOST_ROUTES_H

#include <inngest/inngest.h>

struct host_routes {
    inngest_app *app;
    int poll_interval_ms;   /* stream route: how often to ask Inngest; default 300 */
    int stream_timeout_ms;  /* stream route: give up after; default 10 minutes */
    int stopping;           /* set (atomically) on shutdown: open streams end at once */
    int max_streams;        /* open result streams at most (each holds a worker thread);
                               default 16, beyond it the route answers 503 */
    int open_streams;       /* current count, updated atomically */
    /* Optional direct-mode chat handler (POST /api/chat), provided by the AI module. */
    inngest_route_fn chat_direct;
    void *chat_direct_user;
    /* Optional document ingestion route (POST /api/rag/documents). */
    inngest_route_fn rag_documents;
    void *rag_documents_user;
};

/* Adds every route to `srv`. `routes` must outlive the server. */
int host_routes_add(inngest_server *srv, struct host_routes *routes);

/* Turns an answer of GET /v1/events/{id}/runs (borrowed) into the poll route's body:
 * {completed, status, response, sources, error, runId}. `run` (borrowed, may be NULL) is
 * the answer of GET /v1/runs/{id} when the listing lacked the output.
 * Returns a new reference. Pure: exposed for tests. */
json_t *host_poll_result(json_t *runs_answer, json_t *run);

/* The access-log and metrics hook for inngest_server_opts.on_request. */
void host_on_request(void *user, const inngest_http_request *req, int status, double seconds);

/* The app observer: counts protocol calls by function and op, and syncs. */
void host_observe(void *user, const char *kind, const char *function_slug, int status,
                  const char *op);

extern const char host_page_html[];

#endif
