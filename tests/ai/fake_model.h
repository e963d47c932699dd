/* SPDX-License-Identifier: MIT */
/*
 * A tiny fake model server for the client's integration tests: plain sockets and one
 * thread, bound to 127.0.0.1 on a free port. Every request (method, path, headers, body)
 * is recorded; a handler chosen by the test writes the answer byte for byte, so a test can
 * split SSE lines across TCP writes, stall, or hang up in the middle of a chunked body.
 * Connections are served one at a time and closed after each answer.
 */
#ifndef FAKE_MODEL_H
#define FAKE_MODEL_H

#include <stddef.h>

#include <jansson.h>

struct fm_server;
struct fm_conn;

struct fm_request {
    char method[16];
    char path[512];
    char *headers; /* raw header block, "Name: value\r\n" lines */
    char *body;
    size_t body_len;
    json_t *json; /* the body parsed as JSON, or NULL */
};

/* Answers request number `index` (0-based, counted over the server's life). */
typedef void (*fm_handler_fn)(void *user, struct fm_conn *c, const struct fm_request *req,
                              size_t index);

/* Starts the server; aborts the test on failure. */
struct fm_server *fm_start(fm_handler_fn fn, void *user);
/* Stops it: ends a stalled handler, joins the thread, frees every recorded request. */
void fm_stop(struct fm_server *s);
/* "http://127.0.0.1:<port>/v1" */
const char *fm_base_url(const struct fm_server *s);
size_t fm_count(struct fm_server *s);
/* Recorded request i (valid until fm_stop). */
const struct fm_request *fm_req(struct fm_server *s, size_t i);
/* The value of header `name` in a recorded request (case-insensitive), copied into out;
 * NULL when absent. */
const char *fm_header(const struct fm_request *r, const char *name, char *out, size_t size);

/* ---- answering -------------------------------------------------------------------------- */

/* Writes raw bytes (one send() each). Returns 0, or -1 when the peer is gone. */
int fm_write(struct fm_conn *c, const void *data, size_t len);
/* A complete answer with Content-Length. `extra` holds more header lines, each ending in
 * "\r\n", or NULL. */
void fm_respond(struct fm_conn *c, int status, const char *extra, const char *content_type,
                const char *body);
/* A complete JSON answer; steals `body`. */
void fm_respond_json(struct fm_conn *c, int status, const char *extra, json_t *body);
/* Status line and headers of a chunked text/event-stream answer. */
void fm_stream_begin(struct fm_conn *c);
/* One chunk (one TCP write), then a pause of `pause_ms` so the next one arrives apart. */
void fm_chunk(struct fm_conn *c, const char *data, size_t len, int pause_ms);
void fm_chunks(struct fm_conn *c, const char *text, int pause_ms); /* strlen(text) */
/* The terminating zero-length chunk. Without it the answer is cut off mid-body. */
void fm_stream_end(struct fm_conn *c);
/* Waits up to `ms`, returning early when the server stops or the client hangs up. */
void fm_stall(struct fm_conn *c, long ms);

#endif
