/* SPDX-License-Identifier: MIT */
/*
 * What stands before every request the host serves, once its headers are in and before its
 * body is read (inngest_server_opts.admit):
 *
 *   - Host allow-list (DNS rebinding): host routes in every mode, and the protocol endpoint
 *     in dev mode, answer 403 unless the Host header names an IP address, localhost (or a
 *     name under .localhost), the host of INNGEST_SERVE_ORIGIN, or an entry of
 *     HOST_ALLOWED_HOSTS. In cloud mode the protocol endpoint is guarded by signatures and
 *     works behind any name. /healthz is never checked (probes use arbitrary names).
 *   - Token (HOST_AUTH_TOKEN): when set, every host route except /healthz needs
 *     "Authorization: Bearer <token>" or the cookie the login form sets. GET / without it
 *     shows the form; POST /login checks the token and sets an HttpOnly, SameSite=Strict
 *     cookie. Comparisons are constant-time.
 *   - Cross-site requests (CSRF): POST, PUT, PATCH and DELETE on host routes answer 403
 *     when Sec-Fetch-Site says cross-site or same-site, or when Origin names another origin
 *     than the Host header. Requests without either (curl, scripts) pass.
 */
#ifndef HOST_GUARD_H
#define HOST_GUARD_H

#include <stddef.h>

#include <inngest/inngest.h>

#define HOST_GUARD_MAX_HOSTS 32
#define HOST_GUARD_COOKIE    "inngest_host_token"

struct host_guard {
    const inngest_app *app;   /* borrowed: dev or cloud, serve origin */
    const char *serve_path;   /* the protocol endpoint, e.g. /api/inngest */
    char *token;              /* HOST_AUTH_TOKEN, or NULL */
    char *hosts[HOST_GUARD_MAX_HOSTS]; /* lowercased names without port */
    size_t nhosts;
    int allow_any_host;       /* HOST_ALLOWED_HOSTS=* */
};

/* Reads HOST_AUTH_TOKEN and HOST_ALLOWED_HOSTS (comma-separated names; "*" turns the Host
 * check off; a leading "." allows every name under it) through inngest_env_get(getenv_fn,
 * getenv_user, ...) (NULL: getenv; empty is unset). Returns INNGEST_OK, or INNGEST_ECONFIG
 * with a message. */
int host_guard_init(struct host_guard *g, const inngest_app *app, const char *serve_path,
                    inngest_getenv_fn getenv_fn, void *getenv_user, inngest_error *err);
void host_guard_cleanup(struct host_guard *g);

/* The inngest_server_opts.admit hook; `user` is a struct host_guard. Returns 1 to serve
 * the request, 0 when `res` holds the answer (403, 401, the login form or its result). */
int host_guard_admit(void *user, const inngest_http_request *req, int is_serve,
                     inngest_http_response *res);

/* POST /login (an inngest_route_fn; `user` is the struct host_guard): checks the form's
 * token and sets the cookie, then sends the browser back to the page. Add it before "/". */
int host_guard_login_route(void *user, const inngest_http_request *req, inngest_http_response *res,
                           inngest_stream *stream);

/* 1 when `addr` (a listen address) only accepts connections from this machine:
 * 127.0.0.0/8, ::1, localhost. */
int host_guard_is_loopback(const char *addr);

/* Constant-time string comparison; 1 when equal. */
int host_guard_ct_equal(const char *a, const char *b);

#endif
