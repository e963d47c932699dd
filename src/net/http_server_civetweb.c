/* SPDX-License-Identifier: MIT */
/*
 * The civetweb adapter: the only file that includes civetweb.h. It copies each request
 * into an inngest_http_request, calls the core (or an extra route), and writes the
 * inngest_http_response back. No protocol logic lives here.
 */
#include "fmacros.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <civetweb.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "inngest/server.h"
#include "net/net.h"

#define MAX_ROUTES 64

struct route {
    char *path;
    int prefix; /* path ends with '/': match everything below it */
    inngest_route_fn fn;
    void *user;
};

struct inngest_server {
    inngest_app *app;
    struct mg_context *mg;
    char *serve_path;
    char *host;
    int port;
    int bound_port;
    size_t max_body;
    int threads;
    void (*on_request)(void *user, const inngest_http_request *req, int status, double seconds);
    void *on_request_user;
    int (*admit)(void *user, const inngest_http_request *req, int is_serve,
                 inngest_http_response *res);
    void *admit_user;
    struct route routes[MAX_ROUTES];
    size_t nroutes;
    int in_flight; /* handlers running (atomic) */
    int serve_reserve;   /* workers only the protocol endpoint may take */
    int others_in_flight; /* requests on other paths being served (atomic) */
    int draining;  /* set by destroy: new requests are refused (atomic) */
};

/* How long destroy lets in-flight requests finish before civetweb is stopped: once its
 * stop flag is up every write fails, so an answer still being written would be lost. */
#define DRAIN_LIMIT_S 30.0

struct inngest_stream {
    struct mg_connection *conn;
    int begun;
    int broken;
    int status;
};

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int ing_civetweb_global_init(void) {
    mg_init_library(0);
    return INNGEST_OK;
}

void ing_civetweb_global_cleanup(void) {
    mg_exit_library();
}

inngest_server *inngest_server_create(inngest_app *app, const inngest_server_opts *opts,
                                      inngest_error *err) {
    static const inngest_server_opts dflt;
    const inngest_server_opts *o = opts ? opts : &dflt;
    inngest_server *srv = ing_calloc(1, sizeof(*srv));
    if (!srv) {
        inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
        return NULL;
    }
    srv->app = app;
    srv->serve_path = ing_strdup(o->serve_path && *o->serve_path ? o->serve_path : "/api/inngest");
    srv->host = ing_strdup(o->host && *o->host ? o->host : "127.0.0.1");
    srv->port = o->port;
    srv->bound_port = -1;
    srv->max_body = o->max_body_bytes ? o->max_body_bytes : 16u * 1024u * 1024u;
    srv->threads = o->num_threads > 0 ? o->num_threads : 32;
    srv->on_request = o->on_request;
    srv->on_request_user = o->on_request_user;
    srv->admit = o->admit;
    srv->serve_reserve = o->serve_reserve > 0 ? o->serve_reserve : 0;
    srv->admit_user = o->admit_user;
    if (!srv->serve_path || !srv->host || srv->serve_path[0] != '/' || o->port < 0 ||
        o->port > 65535 || strpbrk(srv->host, ", ")) {
        inngest_error_set(err, INNGEST_EINVAL, "invalid server options (host, port or path)");
        inngest_server_destroy(srv);
        return NULL;
    }
    /* civetweb reads each part of a dotted address modulo 256: 999.1.1.1 listened on
     * 231.1.1.1. Numeric addresses must be real ones. */
    unsigned char addr[16];
    int numeric = strspn(srv->host, "0123456789.") == strlen(srv->host);
    int v6 = strchr(srv->host, ':') != NULL;
    if ((numeric && inet_pton(AF_INET, srv->host, addr) != 1) ||
        (v6 && inet_pton(AF_INET6, srv->host, addr) != 1)) {
        inngest_error_set(err, INNGEST_EINVAL,
                          "invalid listen address \"%s\" (want an IPv4 or IPv6 address)",
                          srv->host);
        inngest_server_destroy(srv);
        return NULL;
    }
    return srv;
}

int inngest_server_add_route(inngest_server *srv, const char *path, inngest_route_fn fn,
                             void *user) {
    if (!path || path[0] != '/' || !fn || srv->mg)
        return INNGEST_EINVAL;
    if (srv->nroutes == MAX_ROUTES)
        return INNGEST_ELIMIT;
    struct route *r = &srv->routes[srv->nroutes];
    r->path = ing_strdup(path);
    if (!r->path)
        return INNGEST_ENOMEM;
    r->prefix = path[strlen(path) - 1] == '/';
    r->fn = fn;
    r->user = user;
    srv->nroutes++;
    return INNGEST_OK;
}

static const struct route *find_route(const inngest_server *srv, const char *path) {
    for (size_t i = 0; i < srv->nroutes; i++) {
        const struct route *r = &srv->routes[i];
        if (r->prefix ? strncmp(path, r->path, strlen(r->path)) == 0 : strcmp(path, r->path) == 0)
            return r;
    }
    return NULL;
}

/* Whether the connection stays open after this answer: civetweb's own rule (keep-alive
 * is on; HTTP/1.1 unless the client sent "Connection: close", HTTP/1.0 only when it asked
 * for keep-alive), so the header we send matches what civetweb then does. */
static int keep_alive(struct mg_connection *conn) {
    const struct mg_request_info *ri = mg_get_request_info(conn);
    const char *c = mg_get_header(conn, "Connection");
    if (c) {
        for (; *c; c++)
            if (!strncasecmp(c, "keep-alive", 10))
                return 1;
        return 0;
    }
    return ri->http_version && !strcmp(ri->http_version, "1.1");
}

static int header_ok(const char *s) {
    return s && !strpbrk(s, "\r\n");
}

/* Formats the status line, the headers civetweb would add (Date, Connection) and the
 * caller's into `out`, ending with the blank line. `content_length` < 0 means chunked.
 * Header lines with CR or LF in them are dropped (no response splitting). */
static int format_head(struct mg_connection *conn, int status, const inngest_header *headers,
                       size_t count, long long content_length, int close,
                       struct ing_buf *out) {
    char date[64];
    struct tm tm;
    time_t now = time(NULL);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&now, &tm));
    int rc = ing_buf_appendf(out, "HTTP/1.1 %d %s\r\n", status,
                             mg_get_response_code_text(conn, status));
    for (size_t i = 0; !rc && i < count; i++) {
        const char *n = headers[i].name, *v = headers[i].value;
        if (!header_ok(n) || !header_ok(v) || !strcasecmp(n, "Content-Length") ||
            !strcasecmp(n, "Transfer-Encoding") || !strcasecmp(n, "Connection"))
            continue;
        /* Plain appends: printf-style formatting showed up in profiles of small answers. */
        rc = ing_buf_appends(out, n) || ing_buf_append(out, ": ", 2) || ing_buf_appends(out, v) ||
                     ing_buf_append(out, "\r\n", 2)
                 ? INNGEST_ENOMEM
                 : INNGEST_OK;
    }
    if (!rc && content_length >= 0)
        rc = ing_buf_appendf(out, "Content-Length: %lld\r\n", content_length);
    else if (!rc)
        rc = ing_buf_appends(out, "Transfer-Encoding: chunked\r\n");
    if (!rc)
        rc = ing_buf_appendf(out, "Date: %s\r\nConnection: %s\r\n\r\n", date,
                             !close && keep_alive(conn) ? "keep-alive" : "close");
    return rc;
}

/* Writes a complete response with Content-Length: status line, headers and body in one
 * buffer and one mg_write, so a small answer is one TCP segment (with TCP_NODELAY, each
 * write is a segment of its own). HEAD answers carry no body. `close`: the request body
 * was left unread, so the connection ends after this answer (reading the rest of an
 * unwanted body is what an attacker wants us to spend). */
static void write_answer(struct mg_connection *conn, const inngest_http_response *res,
                         int close) {
    int status = res->status ? res->status : 500;
    const char *method = mg_get_request_info(conn)->request_method;
    size_t body_len = method && !strcmp(method, "HEAD") ? 0 : res->body_len;
    struct ing_buf out;
    ing_buf_init(&out, 0);
    if (ing_buf_reserve(&out, 512 + body_len) ||
        format_head(conn, status, res->headers, res->header_count, (long long)res->body_len,
                    close, &out) ||
        ing_buf_append(&out, res->body, body_len)) {
        ing_buf_cleanup(&out);
        static const char oom[] = "HTTP/1.1 500 Internal Server Error\r\n"
                                  "Content-Length: 0\r\nConnection: close\r\n\r\n";
        mg_write(conn, oom, sizeof(oom) - 1);
        return;
    }
    if (close)
        mg_disable_connection_keep_alive(conn);
    mg_write(conn, out.data, out.len);
    ing_buf_cleanup(&out);
}

static void write_response(struct mg_connection *conn, const inngest_http_response *res) {
    write_answer(conn, res, 0);
}

static void write_simple_close(struct mg_connection *conn, int status, const char *json,
                               int close) {
    inngest_http_response res = {.status = status};
    if (inngest_http_response_add_header(&res, "Content-Type", "application/json") ||
        inngest_http_response_set_body(&res, json, strlen(json))) {
        inngest_http_response_cleanup(&res);
        res.status = 500; /* out of memory: an empty 500 */
    }
    write_answer(conn, &res, close);
    inngest_http_response_cleanup(&res);
}

static void write_simple(struct mg_connection *conn, int status, const char *json) {
    write_simple_close(conn, status, json, 0);
}

#define BODY_GRACE_S  10.0
#define BODY_MIN_RATE (32.0 * 1024.0)

/* Reads the whole body, refusing more than `max` bytes. Returns INNGEST_OK,
 * INNGEST_ETOOBIG, INNGEST_ETIMEOUT (too slow) or INNGEST_EIO. */
static int read_body(struct mg_connection *conn, long long content_length, size_t max,
                     struct ing_buf *body) {
    char chunk[16384];
    /* civetweb bounds each read by request_timeout_ms, not the whole body. The body must
     * arrive at BODY_MIN_RATE bytes a second on average, after a grace period, checked
     * after each read. Known limit: mg_read() waits until its whole piece (16 KiB) or the
     * rest of the body has arrived, resetting its timeout with every byte, so a client that
     * trickles a byte a second still holds the worker until a piece is complete; the serve
     * reserve keeps /api/inngest answering meanwhile (docs/security.md). */
    double deadline = mono_s() + BODY_GRACE_S +
                      (double)(content_length > 0 ? (unsigned long long)content_length : max) /
                          BODY_MIN_RATE;
    if (content_length > 0 && (unsigned long long)content_length > max)
        return INNGEST_ETOOBIG;
    if (content_length == 0)
        return INNGEST_OK;
    /* A declared length is allocated once (growing by doubling would reserve up to twice
     * the body); a chunked body grows, capped at `max` by the buffer. */
    if (content_length > 0 && ing_buf_reserve(body, (size_t)content_length))
        return INNGEST_ENOMEM;
    for (;;) {
        int n = mg_read(conn, chunk, sizeof(chunk));
        if (n == 0)
            break;
        if (n < 0)
            return INNGEST_EIO;
        if (mono_s() > deadline)
            return INNGEST_ETIMEOUT;
        int rc = ing_buf_append(body, chunk, (size_t)n);
        if (rc)
            return rc;
    }
    if (content_length > 0 && body->len != (size_t)content_length)
        return INNGEST_EIO;
    return INNGEST_OK;
}

static int handle(inngest_server *srv, struct mg_connection *conn);

static int on_request(struct mg_connection *conn, void *cbdata) {
    inngest_server *srv = cbdata;
    __atomic_add_fetch(&srv->in_flight, 1, __ATOMIC_SEQ_CST);
    int rc;
    if (__atomic_load_n(&srv->draining, __ATOMIC_SEQ_CST)) {
        write_simple(conn, 503, "{\"message\":\"the server is shutting down\"}");
        rc = 1;
    } else {
        rc = handle(srv, conn);
    }
    __atomic_sub_fetch(&srv->in_flight, 1, __ATOMIC_SEQ_CST);
    return rc;
}

static int handle(inngest_server *srv, struct mg_connection *conn) {
    const struct mg_request_info *ri = mg_get_request_info(conn);
    double t0 = mono_s();
    int status = 500;
    inngest_header headers[64];
    size_t nh = 0;
    int counted = 0; /* holds one of others_in_flight */
    struct ing_buf target, body;
    ing_buf_init(&target, 16384);
    ing_buf_init(&body, srv->max_body);

    for (int i = 0; i < ri->num_headers && nh < 64; i++) {
        headers[nh].name = ri->http_headers[i].name;
        headers[nh].value = ri->http_headers[i].value;
        nh++;
    }
    const char *path = ri->local_uri_raw ? ri->local_uri_raw : ri->local_uri;
    inngest_http_request req = {.method = ri->request_method,
                                .headers = headers,
                                .header_count = nh,
                                .is_tls = ri->is_ssl};
    if (ing_buf_appends(&target, path) ||
        (ri->query_string && (ing_buf_append(&target, "?", 1) ||
                              ing_buf_appends(&target, ri->query_string)))) {
        req.url = path;
        write_simple(conn, status = 414, "{\"message\":\"request target too long\"}");
        goto done;
    }
    req.url = target.data;
    inngest_http_response res = {0};
    int is_serve = strcmp(path, srv->serve_path) == 0;
    int rc = INNGEST_OK;
    if (srv->admit && !srv->admit(srv->admit_user, &req, is_serve, &res)) {
        write_answer(conn, &res, ri->content_length != 0);
        status = res.status;
        inngest_http_response_cleanup(&res);
        goto done;
    }
    if (!is_serve && srv->serve_reserve > 0) {
        /* Other paths share what the reserve leaves, so the protocol endpoint always finds
         * a worker however busy the rest is. */
        counted = 1;
        if (__atomic_add_fetch(&srv->others_in_flight, 1, __ATOMIC_SEQ_CST) >
            srv->threads - srv->serve_reserve) {
            static const char busy[] = "{\"error\":\"the server is busy; retry in a moment\"}";
            res.status = status = 503;
            if (inngest_http_response_set_header(&res, "Retry-After", "1") ||
                inngest_http_response_set_header(&res, "Content-Type", "application/json") ||
                inngest_http_response_set_body(&res, busy, sizeof(busy) - 1))
                write_simple_close(conn, 503, busy, 1);
            else
                write_answer(conn, &res, ri->content_length != 0);
            inngest_http_response_cleanup(&res);
            goto done;
        }
    }
    if (ri->content_length > 0 && (unsigned long long)ri->content_length > srv->max_body) {
        rc = INNGEST_ETOOBIG; /* refused before a byte of it is read */
    } else if (is_serve && inngest_app_precheck(srv->app, &req, &res)) {
        /* Refused on its headers (cloud mode, bad signature): the body is never read. */
        write_answer(conn, &res, ri->content_length != 0);
        status = res.status;
        inngest_http_response_cleanup(&res);
        goto done;
    }
    if (!rc)
        rc = read_body(conn, ri->content_length, srv->max_body, &body);
    if (rc == INNGEST_ETOOBIG) {
        char msg[128];
        snprintf(msg, sizeof(msg), "{\"message\":\"request body exceeds the limit of %zu bytes\"}",
                 srv->max_body);
        write_simple_close(conn, status = 413, msg, 1);
        goto done;
    }
    if (rc) {
        write_simple_close(conn,
                           status = rc == INNGEST_ENOMEM     ? 503
                                    : rc == INNGEST_ETIMEOUT ? 408
                                                             : 400,
                           rc == INNGEST_ENOMEM ? "{\"message\":\"out of memory\"}"
                           : rc == INNGEST_ETIMEOUT
                               ? "{\"message\":\"the request body arrived too slowly\"}"
                               : "{\"message\":\"could not read the request body\"}",
                           1);
        goto done;
    }
    req.body = body.data;
    req.body_len = body.len;

    if (is_serve) {
        inngest_app_handle(srv->app, &req, &res);
        write_response(conn, &res);
        status = res.status;
    } else {
        const struct route *r = find_route(srv, path);
        struct inngest_stream stream = {.conn = conn};
        if (!r) {
            write_simple(conn, status = 404, "{\"message\":\"not found\"}");
        } else if (r->fn(r->user, &req, &res, &stream) != INNGEST_OK && !stream.begun) {
            write_simple(conn, status = 500, "{\"message\":\"internal error\"}");
        } else if (stream.begun) {
            if (!stream.broken)
                mg_send_chunk(conn, "", 0); /* end of the chunked body */
            status = stream.status;
        } else {
            write_response(conn, &res);
            status = res.status;
        }
    }
    inngest_http_response_cleanup(&res);
done:
    if (counted)
        __atomic_sub_fetch(&srv->others_in_flight, 1, __ATOMIC_SEQ_CST);
    if (srv->on_request)
        srv->on_request(srv->on_request_user, &req, status, mono_s() - t0);
    ing_buf_cleanup(&target);
    ing_buf_cleanup(&body);
    return 1; /* handled */
}

/* civetweb reports its own errors through this hook; they are already surfaced through
 * mg_start2's error data, so keep the console quiet. */
static int on_log(const struct mg_connection *conn, const char *message) {
    (void)conn;
    (void)message;
    return 1;
}

int inngest_server_start(inngest_server *srv, inngest_error *err) {
    char ports[300], threads[16];
    if (srv->mg)
        return INNGEST_EINVAL;
    if (!strcmp(srv->host, "0.0.0.0") || !strcmp(srv->host, "*"))
        snprintf(ports, sizeof(ports), "%d", srv->port);
    else if (strchr(srv->host, ':'))
        snprintf(ports, sizeof(ports), "[%s]:%d", srv->host, srv->port);
    else
        snprintf(ports, sizeof(ports), "%s:%d", srv->host, srv->port);
    snprintf(threads, sizeof(threads), "%d", srv->threads);
    /* civetweb gives each connection a worker thread from accept on, so a client that
     * opens connections and sends nothing (or headers a byte at a time) holds a worker
     * until request_timeout_ms runs out: the whole header must arrive within it, and each
     * later read or write may block that long. 5 s frees such workers quickly (it was 600 s,
     * so 32 idle sockets stopped the host for 10 minutes, then 10 s); a body has its own
     * deadline (read_body). See docs/soak.md and docs/security.md. */
    const char *options[] = {"listening_ports", ports, "num_threads", threads,
                             "request_timeout_ms", "5000", "enable_keep_alive", "yes",
                             "keep_alive_timeout_ms", "5000", "tcp_nodelay", "1", NULL};
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof(cb));
    cb.log_message = on_log;
    char errtxt[256] = "";
    struct mg_error_data ed = {.text = errtxt, .text_buffer_size = sizeof(errtxt)};
    struct mg_init_data init = {.callbacks = &cb, .user_data = srv, .configuration_options = options};
    srv->mg = mg_start2(&init, &ed);
    if (!srv->mg)
        return inngest_error_set(err, INNGEST_EIO, "cannot listen on %s: %s", ports,
                                 errtxt[0] ? errtxt : "unknown error");
    mg_set_request_handler(srv->mg, "/", on_request, srv);
    struct mg_server_port sp[4];
    int n = mg_get_server_ports(srv->mg, 4, sp);
    srv->bound_port = n > 0 ? sp[0].port : srv->port;
    return INNGEST_OK;
}

int inngest_server_port(const inngest_server *srv) {
    return srv->bound_port;
}

void inngest_server_destroy(inngest_server *srv) {
    if (!srv)
        return;
    if (srv->mg) {
        /* Let running handlers write their answers (mg_stop would cut them off). */
        __atomic_store_n(&srv->draining, 1, __ATOMIC_SEQ_CST);
        double until = mono_s() + DRAIN_LIMIT_S;
        while (__atomic_load_n(&srv->in_flight, __ATOMIC_SEQ_CST) > 0 && mono_s() < until) {
            struct timespec ts = {0, 10 * 1000000L};
            nanosleep(&ts, NULL);
        }
        mg_stop(srv->mg);
    }
    for (size_t i = 0; i < srv->nroutes; i++)
        ing_free(srv->routes[i].path);
    ing_free(srv->serve_path);
    ing_free(srv->host);
    ing_free(srv);
}

int inngest_stream_begin(inngest_stream *stream, int status, const inngest_header *headers,
                         size_t header_count) {
    if (stream->begun)
        return INNGEST_EINVAL;
    struct ing_buf head;
    ing_buf_init(&head, 0);
    int rc = format_head(stream->conn, status, headers, header_count, -1, 0, &head);
    if (!rc && mg_write(stream->conn, head.data, head.len) <= 0)
        stream->broken = 1;
    ing_buf_cleanup(&head);
    if (rc)
        return rc;
    stream->begun = 1;
    stream->status = status;
    return INNGEST_OK;
}

int inngest_stream_write(inngest_stream *stream, const char *data, size_t len) {
    if (!stream->begun || stream->broken)
        return INNGEST_EIO;
    if (len && mg_send_chunk(stream->conn, data, (unsigned)len) <= 0) {
        stream->broken = 1;
        return INNGEST_EIO;
    }
    return INNGEST_OK;
}
