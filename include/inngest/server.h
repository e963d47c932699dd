/* SPDX-License-Identifier: MIT */
/*
 * The built-in HTTP server (civetweb): serves an app's protocol endpoint and any extra
 * routes, each a plain function from request to response, or a stream for Server-Sent
 * Events.
 */
#ifndef INNGEST_SERVER_H
#define INNGEST_SERVER_H

#include <stddef.h>

#include "inngest/app.h"
#include "inngest/error.h"
#include "inngest/export.h"
#include "inngest/http.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct inngest_server inngest_server;
typedef struct inngest_stream inngest_stream;

typedef struct inngest_server_opts {
    const char *host;       /* listen address; NULL = "127.0.0.1" */
    int port;               /* 0 = pick a free port (see inngest_server_port()) */
    const char *serve_path; /* protocol endpoint; NULL = "/api/inngest" */
    size_t max_body_bytes;  /* larger request bodies get 413; 0 = 16 MiB */
    int num_threads;        /* worker threads; 0 = 32 */
    /* Workers only the protocol endpoint may use: requests to other paths beyond
     * num_threads - serve_reserve at once get 503 with Retry-After. 0 = no reserve. */
    int serve_reserve;
    /* Optional: called after every request with its final status and duration, for
     * access logs and metrics. Runs on the worker thread that served the request. */
    void (*on_request)(void *user, const inngest_http_request *req, int status, double seconds);
    void *on_request_user;
    /* Optional: called for every request once its headers are in, before its body is read
     * (req->body is NULL). `is_serve` is 1 for the protocol endpoint. Return 1 to serve the
     * request; return 0 after filling `res` (zeroed on entry) to answer with it instead:
     * the body is then never read and the connection closes. For access checks that must
     * not cost a body's memory. */
    int (*admit)(void *user, const inngest_http_request *req, int is_serve,
                 inngest_http_response *res);
    void *admit_user;
} inngest_server_opts;

/*
 * An extra route. Fill `res` (status, headers, body) and return INNGEST_OK, or call
 * inngest_stream_begin() on `stream` and write to it, in which case `res` is ignored.
 * A negative return answers 500. Runs on a worker thread.
 */
typedef int (*inngest_route_fn)(void *user, const inngest_http_request *req,
                                inngest_http_response *res, inngest_stream *stream);

/* Creates a server for `app` (borrowed; it must outlive the server and be frozen before
 * inngest_server_start()). Returns NULL and fills `err` on failure. */
INNGEST_API INNGEST_NODISCARD inngest_server *
inngest_server_create(inngest_app *app, const inngest_server_opts *opts, inngest_error *err);

/* Routes requests whose path equals `path`, or starts with it when it ends in '/'.
 * Call before inngest_server_start(). */
INNGEST_API int inngest_server_add_route(inngest_server *srv, const char *path, inngest_route_fn fn,
                                         void *user);

/* Starts listening. Returns INNGEST_OK, or INNGEST_EIO with `err` filled (port taken). */
INNGEST_API INNGEST_NODISCARD int inngest_server_start(inngest_server *srv, inngest_error *err);

/* The bound port (useful with port 0), or -1 before start. */
INNGEST_API int inngest_server_port(const inngest_server *srv);

/* Stops the server and frees it: new requests are answered 503, requests in flight
 * finish and their answers are written (for at most 30 s; longer ones are cut off), then
 * civetweb stops. NULL is a no-op. */
INNGEST_API void inngest_server_destroy(inngest_server *srv);

/* Sends the status line and headers of a streamed answer (chunked transfer). */
INNGEST_API INNGEST_NODISCARD int inngest_stream_begin(inngest_stream *stream, int status,
                                                       const inngest_header *headers,
                                                       size_t header_count);
/* Writes bytes to a begun stream. Returns INNGEST_OK, or INNGEST_EIO when the client went
 * away (stop writing then). */
INNGEST_API int inngest_stream_write(inngest_stream *stream, const char *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* INNGEST_SERVER_H */
