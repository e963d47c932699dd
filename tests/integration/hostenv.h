/* SPDX-License-Identifier: MIT */
/*
 * Shared pieces of the host's integration tests: a fake upstream (Inngest's API, a model
 * server) made of routes on an inngest_server at 127.0.0.1:0, and one-call HTTP helpers
 * that check the status. Every helper aborts the test on failure.
 */
#ifndef TESTS_HOSTENV_H
#define TESTS_HOSTENV_H

#include <stddef.h>

#include <inngest/inngest.h>

struct fake_route {
    const char *prefix;
    inngest_route_fn fn;
};

struct fake_server {
    inngest_app *app;
    inngest_server *srv;
    char url[64]; /* http://127.0.0.1:<port> */
};

/* Starts a server on 127.0.0.1:0 answering `n` route prefixes. */
void fake_server_start(struct fake_server *f, inngest_transport *t, const struct fake_route *routes,
                       size_t n);

/* Stops it and frees everything; waits for in-flight requests. */
void fake_server_stop(struct fake_server *f);

/*
 * Sends one request to `base` + `path` and checks the answer's status. `body` may be NULL;
 * `body_len` 0 means strlen(body); `accept` NULL sends no Accept header. Returns the body
 * (malloc'd, "" when empty).
 */
char *http_call(inngest_transport *t, const char *base, const char *method, const char *path,
                const char *body, size_t body_len, const char *accept, int expect_status);

/* http_call() whose answer must be JSON. Returns a new reference. */
json_t *http_call_json(inngest_transport *t, const char *base, const char *method, const char *path,
                       const char *body, int expect_status);

#endif
