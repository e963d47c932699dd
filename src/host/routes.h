/* SPDX-License-Identifier: MIT */
/*
 * The host's own routes beside /api/inngest: the chat page, the Inngest-mode chat API
 * (send, poll, stream), health and metrics.
 */
#ifndef HOST_ROUTES_H
#define HOST_ROUTES_H

#include <inngest/inngest.h>

#include "host/relay.h"

struct host_routes {
    inngest_app *app;
    int poll_interval_ms;  /* stream route: how often to ask Inngest; default 300 */
    int stream_timeout_ms; /* stream route: give up after; default 10 minutes */
    int stopping;          /* set (atomically) on shutdown: open streams end at once */
    int max_streams;       /* open result streams at most (each holds a worker thread);
                              default 16, beyond it the route answers 503 */
    int open_streams;      /* current count, updated atomically */
    int max_event_sends;   /* POST /api/chat/inngest in progress at most (each waits on
                              the event API); default 16, beyond it 503 + Retry-After */
    int active_event_sends; /* current count, updated atomically */
    /* Optional: the text handle-chat generates in this process (CHAT_GENERATE_MODE=run),
     * which the stream route forwards as `delta` events between its looks at the run. */
    host_relay *relay;
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

/* ---- helpers shared by the host's route files ------------------------------------------- */

/* Answers `status` with `body` as compact JSON (`body` is stolen, even on failure) and
 * Cache-Control: no-store. */
int host_reply_json(inngest_http_response *res, int status, json_t *body);

/* Answers `status` with {"error": msg}. */
int host_reply_error(inngest_http_response *res, int status, const char *msg);

/* The one mapping of an INNGEST_E* code to the HTTP status a route answers with.
 * `http_status` is the status another server answered with (0 if none); `from_upstream`
 * says the error describes that server's answer (a model's), so bad or unreadable data is
 * that server's fault (502) rather than the client's (400):
 *   unreachable, timed out, 429/503 upstream, or INNGEST_EUNAVAILABLE (the store)  503
 *   INNGEST_EMISMATCH (a conflict: wrong embedder, changed document)  409
 *   INNGEST_EINVAL, INNGEST_EPARSE, INNGEST_ETOOBIG  400 (502 from upstream)
 *   INNGEST_EUPSTREAM  502
 *   anything else  500 (502 from upstream); INNGEST_ENOMEM is always 500 */
int host_error_status(int code, int http_status, int from_upstream);

/* 1 when the request method is `m`. */
int host_method_is(const inngest_http_request *req, const char *m);

/* A counted budget of worker threads for long requests (result streams, direct-mode
 * answers), so the protocol endpoint always finds a free worker. Takes one slot of
 * `*count` unless `max` are taken: returns 1 when taken (give it back with
 * host_slot_give()), 0 when full. Thread-safe. */
int host_slot_take(int *count, int max);
void host_slot_give(int *count);

/* A 503 for a full slot budget, with Retry-After: 1. */
int host_reply_busy(inngest_http_response *res, const char *msg);


/* Writes one Server-Sent Event "event: <event>\ndata: <compact JSON>\n\n" (`data` is
 * borrowed). Returns INNGEST_OK, or INNGEST_EIO when the client went away. */
int host_sse_send(inngest_stream *s, const char *event, json_t *data);

/* Monotonic seconds. */
double host_mono_s(void);

/* "cannot reach the Inngest server at … Is the dev server running? Start it with: npx
 * inngest-cli@latest dev", for a failed call to Inngest (`err` borrowed). */
void host_unreachable_message(const inngest_app *app, const inngest_error *err, char *out,
                              size_t n);

/* Sends an event or an array of them (borrowed) through the event API, counting them in
 * the metrics. Returns INNGEST_OK with *ids (new reference), or the error code with a
 * message for the browser in `msg` (how to start the dev server when it is unreachable). */
int host_send_events(inngest_app *app, json_t *events, json_t **ids, char *msg, size_t n);

#endif
