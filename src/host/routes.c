/* SPDX-License-Identifier: MIT */
/*
 * Host routes: the chat page, the Inngest-mode chat API, health and metrics.
 *
 * Inngest mode: POST /api/chat/inngest sends a chat/message event; the browser then
 * follows the run on GET /api/chat/inngest/stream (Server-Sent Events pushed as soon as
 * the run's status changes), or asks GET /api/chat/inngest/poll. Both read Inngest's REST
 * API with a cache-busting parameter, because the dev server caches those answers.
 */
#include "fmacros.h"

#include "host/routes.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat.h"
#include "host/log.h"
#include "host/metrics.h"

/* ---- helpers -------------------------------------------------------------------------------- */

int host_reply_json(inngest_http_response *res, int status, json_t *body) {
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        return INNGEST_ENOMEM;
    res->status = status;
    int rc = inngest_http_response_add_header(res, "Content-Type", "application/json");
    if (!rc)
        rc = inngest_http_response_add_header(res, "Cache-Control", "no-store");
    free(res->body);
    res->body = text;
    res->body_len = strlen(text);
    return rc;
}

int host_reply_error(inngest_http_response *res, int status, const char *msg) {
    return host_reply_json(res, status, json_pack("{s:s}", "error", msg));
}

int host_error_status(int code, int http_status, int from_upstream) {
    /* EUNAVAILABLE: the RAG store's database cannot be reached now. */
    if (code == INNGEST_EHTTP || code == INNGEST_ETIMEOUT || code == INNGEST_EUNAVAILABLE ||
        http_status == 429 || http_status == 503)
        return 503;
    switch (code) {
        case INNGEST_EMISMATCH:
            return 409;
        case INNGEST_ENOMEM:
            return 500;
        case INNGEST_EUPSTREAM:
            return 502;
        case INNGEST_EINVAL:
        case INNGEST_EPARSE:
        case INNGEST_ETOOBIG:
            return from_upstream ? 502 : 400;
        default:
            return from_upstream ? 502 : 500;
    }
}

int host_method_is(const inngest_http_request *req, const char *m) {
    return req->method && !strcmp(req->method, m);
}

/* Event ids are ULIDs: letters and digits only, which keeps them safe in URLs. */
static int valid_event_id(const char *id) {
    size_t n = strlen(id);
    if (n == 0 || n > 64)
        return 0;
    for (const char *p = id; *p; p++)
        if (!isalnum((unsigned char)*p))
            return 0;
    return 1;
}

double host_mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A clear message for "Inngest is not answering", with how to start the dev server. */
void host_unreachable_message(const inngest_app *app, const inngest_error *err, char *out,
                              size_t n) {
    snprintf(out, n,
             "cannot reach the Inngest server at %s (%s). Is the dev server running? Start it "
             "with: npx inngest-cli@latest dev",
             inngest_app_api_base_url(app), err->message);
}

int host_send_events(inngest_app *app, json_t *events, json_t **ids, char *msg, size_t n) {
    inngest_error err;
    inngest_error_clear(&err);
    int rc = inngest_app_send_events(app, events, ids, &err);
    if (rc != INNGEST_OK) {
        metrics_add("inngest_host_events_sent_total", "outcome=\"error\"", 1);
        if (rc == INNGEST_EHTTP || rc == INNGEST_ETIMEOUT)
            host_unreachable_message(app, &err, msg, n);
        else
            snprintf(msg, n, "sending the event failed: %s", err.message);
        return rc;
    }
    metrics_add("inngest_host_events_sent_total", "outcome=\"ok\"",
                json_is_array(events) ? (double)json_array_size(events) : 1);
    return INNGEST_OK;
}

/* ---- health, metrics, page ----------------------------------------------------------------- */

/* These routes only read: GET (and HEAD, which civetweb answers without the body). */
static int reads_only(const inngest_http_request *req) {
    return host_method_is(req, "GET") || host_method_is(req, "HEAD");
}

static int route_healthz(void *user, const inngest_http_request *req, inngest_http_response *res,
                         inngest_stream *stream) {
    (void)user;
    (void)stream;
    if (!reads_only(req))
        return host_reply_error(res, 405, "use GET");
    return host_reply_json(res, 200,
                           json_pack("{s:s,s:s}", "status", "ok", "version", INNGEST_VERSION));
}

static int route_metrics(void *user, const inngest_http_request *req, inngest_http_response *res,
                         inngest_stream *stream) {
    (void)user;
    (void)stream;
    if (!reads_only(req))
        return host_reply_error(res, 405, "use GET");
    size_t len;
    char *text = metrics_render(&len);
    if (!text)
        return INNGEST_ENOMEM;
    res->status = 200;
    res->body = text;
    res->body_len = len;
    return inngest_http_response_add_header(res, "Content-Type",
                                            "text/plain; version=0.0.4; charset=utf-8");
}

static int route_page(void *user, const inngest_http_request *req, inngest_http_response *res,
                      inngest_stream *stream) {
    (void)user;
    (void)stream;
    const char *path = req->url;
    if (strcmp(path, "/") && strncmp(path, "/?", 2) && strcmp(path, "/index.html"))
        return host_reply_error(res, 404, "not found");
    if (!reads_only(req))
        return host_reply_error(res, 405, "use GET");
    res->status = 200;
    int rc = inngest_http_response_add_header(res, "Content-Type", "text/html; charset=utf-8");
    return rc ? rc : inngest_http_response_set_body(res, host_page_html, strlen(host_page_html));
}

/* ---- Inngest mode: send ---------------------------------------------------------------------- */

static int route_chat_inngest(void *user, const inngest_http_request *req,
                              inngest_http_response *res, inngest_stream *stream) {
    struct host_routes *r = user;
    (void)stream;
    if (!host_method_is(req, "POST"))
        return host_reply_error(res, 405, "use POST");
    json_error_t jerr;
    json_t *body = json_loadb(req->body ? req->body : "", req->body_len, 0, &jerr);
    const char *why = body ? chat_check_request(body) : "the body is not valid JSON";
    if (why) {
        json_decref(body);
        metrics_add("inngest_host_chat_requests_total", "mode=\"inngest\",outcome=\"bad_request\"",
                    1);
        return host_reply_error(res, 400, why);
    }
    if (!json_object_get(body, "sessionId")) {
        char sid[40];
        snprintf(sid, sizeof(sid), "session-%lx%04x", (unsigned long)time(NULL),
                 (unsigned)(rand() & 0xffff));
        json_object_set_new(body, "sessionId", json_string(sid));
    }
    if (!host_slot_take(&r->active_event_sends, r->max_event_sends > 0 ? r->max_event_sends : 16)) {
        json_decref(body);
        metrics_add("inngest_host_chat_requests_total", "mode=\"inngest\",outcome=\"busy\"", 1);
        return host_reply_busy(res, "too many questions being sent to Inngest; retry in a moment");
    }
    json_t *event = json_pack("{s:s,s:O}", "name", "chat/message", "data", body), *ids = NULL;
    char msg[768];
    int rc = host_send_events(r->app, event, &ids, msg, sizeof(msg));
    host_slot_give(&r->active_event_sends);
    json_decref(event);
    if (rc != INNGEST_OK) {
        json_decref(body);
        return host_reply_error(res, 502, msg);
    }
    metrics_add("inngest_host_chat_requests_total", "mode=\"inngest\",outcome=\"accepted\"", 1);
    json_t *out = json_pack("{s:O,s:O}", "eventId", json_array_get(ids, 0), "sessionId",
                            json_object_get(body, "sessionId"));
    json_decref(ids);
    json_decref(body);
    return host_reply_json(res, 202, out);
}

/* ---- Inngest mode: poll and stream --------------------------------------------------------- */

static int64_t parse_time_ms(const char *s) {
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int ms = 0;
    if (!s || sscanf(s, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                     &tm.tm_min, &tm.tm_sec) != 6)
        return -1;
    const char *frac = strchr(s, '.');
    if (frac)
        ms = (int)(strtod(frac, NULL) * 1000);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

/* The longest part of a failed run's message a poll answer repeats, in bytes. */
#define HOST_POLL_ERROR_MAX 560

json_t *host_poll_result(json_t *runs_answer, json_t *run) {
    json_t *data = json_object_get(runs_answer, "data");
    json_t *first = json_is_array(data) ? json_array_get(data, 0) : data;
    if (json_is_object(run) && json_is_object(json_object_get(run, "data")))
        first = json_object_get(run, "data");
    const char *status = json_string_value(json_object_get(first, "status"));
    json_t *out = json_pack("{s:b,s:s,s:n,s:[],s:n,s:n}", "completed", 0, "status",
                            status ? status : "Pending", "response", "sources", "error", "runId");
    if (!out || !first)
        return out;
    json_object_set(out, "runId", json_object_get(first, "run_id"));
    json_t *output = json_object_get(first, "output");
    if (status && !strcmp(status, "Completed")) {
        json_object_set_new(out, "completed", json_true());
        json_t *resp = json_object_get(output, "response");
        json_object_set(out, "response", resp ? resp : output ? output : json_null());
        if (json_is_array(json_object_get(output, "sources")))
            json_object_set(out, "sources", json_object_get(output, "sources"));
        if (json_object_get(output, "model"))
            json_object_set(out, "model", json_object_get(output, "model"));
    } else if (status && (!strcmp(status, "Failed") || !strcmp(status, "Cancelled") ||
                          !strcmp(status, "Overflowed"))) {
        json_object_set_new(out, "completed", json_true());
        json_t *msg = json_object_get(output, "message");
        if (!json_is_string(msg))
            msg = json_object_get(json_object_get(output, "error"), "message");
        /* The run's own message, cut on a character boundary: a cut inside one would make
         * the text invalid UTF-8, which jansson refuses, and the error would read null. */
        const char *m = json_is_string(msg) ? json_string_value(msg) : "";
        size_t mlen = inngest_utf8_cut(m, strlen(m), HOST_POLL_ERROR_MAX);
        char text[HOST_POLL_ERROR_MAX + 32];
        snprintf(text, sizeof(text), "the run %s%s%.*s",
                 !strcmp(status, "Cancelled") ? "was cancelled" : "failed",
                 *m ? ": " : "", (int)mlen, m);
        json_object_set_new(out, "error", json_string(text));
    }
    int64_t a = parse_time_ms(json_string_value(json_object_get(first, "run_started_at")));
    int64_t b = parse_time_ms(json_string_value(json_object_get(first, "ended_at")));
    if (a > 0 && b >= a)
        json_object_set_new(out, "durationMs", json_integer(b - a));
    return out;
}

/* One look at the run(s) of an event. Returns the poll body, or NULL with `err` set. */
static json_t *poll_once(inngest_app *app, const char *event_id, unsigned long nonce,
                         inngest_error *err) {
    char path[256];
    json_t *runs = NULL, *run = NULL;
    snprintf(path, sizeof(path), "/v1/events/%s/runs?t=%lu", event_id, nonce);
    if (inngest_app_api_get(app, path, &runs, err) != INNGEST_OK)
        return NULL;
    json_t *first = json_array_get(json_object_get(runs, "data"), 0);
    const char *status = json_string_value(json_object_get(first, "status"));
    const char *run_id = json_string_value(json_object_get(first, "run_id"));
    /* The listing may omit the output; the run itself has it. */
    if (status && run_id && strcmp(status, "Running") && strcmp(status, "Scheduled") &&
        !json_object_get(first, "output") && valid_event_id(run_id)) {
        snprintf(path, sizeof(path), "/v1/runs/%s?t=%lu", run_id, nonce);
        inngest_error ignored;
        if (inngest_app_api_get(app, path, &run, &ignored) != INNGEST_OK)
            run = NULL;
    }
    json_t *out = host_poll_result(runs, run);
    json_decref(runs);
    json_decref(run);
    return out;
}

static void record_latency(json_t *result) {
    json_t *d = json_object_get(result, "durationMs");
    if (json_is_integer(d))
        metrics_observe("inngest_host_chat_latency_seconds", "mode=\"inngest\"",
                        (double)json_integer_value(d) / 1000.0);
    metrics_add("inngest_host_chat_requests_total",
                json_is_null(json_object_get(result, "error"))
                    ? "mode=\"inngest\",outcome=\"completed\""
                    : "mode=\"inngest\",outcome=\"failed\"",
                1);
}

static unsigned long next_nonce(void) {
    static unsigned long counter;
    return __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED) ^ (unsigned long)time(NULL) << 20;
}

static int route_poll(void *user, const inngest_http_request *req, inngest_http_response *res,
                      inngest_stream *stream) {
    struct host_routes *r = user;
    (void)stream;
    char id[80];
    if (!host_method_is(req, "GET"))
        return host_reply_error(res, 405, "use GET /api/chat/inngest/poll?eventId=…");
    if (inngest_http_request_query(req, "eventId", id, sizeof(id)) != 1 || !valid_event_id(id))
        return host_reply_error(res, 400,
                                "eventId must be the id returned by POST /api/chat/inngest");
    inngest_error err;
    inngest_error_clear(&err);
    json_t *out = poll_once(r->app, id, next_nonce(), &err);
    if (!out) {
        char msg[768];
        if (err.code == INNGEST_EHTTP || err.code == INNGEST_ETIMEOUT)
            host_unreachable_message(r->app, &err, msg, sizeof(msg));
        else
            snprintf(msg, sizeof(msg), "asking Inngest about the run failed: %s", err.message);
        return host_reply_error(res, 502, msg);
    }
    if (json_is_true(json_object_get(out, "completed")))
        record_latency(out);
    return host_reply_json(res, 200, out);
}

int host_sse_send(inngest_stream *s, const char *event, json_t *data) {
    char *text = json_dumps(data, JSON_COMPACT);
    if (!text)
        return INNGEST_ENOMEM;
    char head[64];
    int n = snprintf(head, sizeof(head), "event: %s\ndata: ", event);
    int rc = inngest_stream_write(s, head, (size_t)n);
    if (!rc)
        rc = inngest_stream_write(s, text, strlen(text));
    if (!rc)
        rc = inngest_stream_write(s, "\n\n", 2);
    free(text);
    return rc;
}

static int follow_run(struct host_routes *r, const char *id, inngest_stream *stream);

/* Open result streams at once when struct host_routes does not say (each holds a worker). */
#define STREAMS_MAX_DEFAULT 16

int host_slot_take(int *count, int max) {
    if (__atomic_add_fetch(count, 1, __ATOMIC_RELAXED) <= max)
        return 1;
    __atomic_sub_fetch(count, 1, __ATOMIC_RELAXED);
    return 0;
}

void host_slot_give(int *count) {
    __atomic_sub_fetch(count, 1, __ATOMIC_RELAXED);
}

int host_reply_busy(inngest_http_response *res, const char *msg) {
    int rc = inngest_http_response_set_header(res, "Retry-After", "1");
    return rc ? rc : host_reply_error(res, 503, msg);
}

static int route_stream(void *user, const inngest_http_request *req, inngest_http_response *res,
                        inngest_stream *stream) {
    struct host_routes *r = user;
    char id[80];
    if (!host_method_is(req, "GET"))
        return host_reply_error(res, 405, "use GET /api/chat/inngest/stream?eventId=…");
    if (inngest_http_request_query(req, "eventId", id, sizeof(id)) != 1 || !valid_event_id(id))
        return host_reply_error(res, 400,
                                "eventId must be the id returned by POST /api/chat/inngest");
    /* Each open stream holds a worker thread; keep enough free for /api/inngest. */
    int max_streams = r->max_streams > 0 ? r->max_streams : STREAMS_MAX_DEFAULT;
    if (!host_slot_take(&r->open_streams, max_streams))
        return host_reply_busy(res, "too many open result streams; poll instead, or retry");
    int rc = follow_run(r, id, stream);
    host_slot_give(&r->open_streams);
    return rc;
}

/* Result streams: how often the run is polled, how long a stream may stay open, and how
 * long it may stay silent before a comment line keeps proxies (and the client check)
 * alive. The first two are overridable in struct host_routes (0 = these). */
#define STREAM_POLL_MS_DEFAULT 300
#define STREAM_TIMEOUT_MS_DEFAULT 600000
#define STREAM_KEEPALIVE_S 15.0

/* Writes an SSE comment line (a string literal). */
#define STREAM_COMMENT(stream, text) inngest_stream_write((stream), (text), sizeof(text) - 1)

/* Ends a result stream with an `error` event carrying `msg`. */
static void stream_error(inngest_stream *stream, const char *msg) {
    json_t *e = json_pack("{s:s}", "error", msg);
    host_sse_send(stream, "error", e);
    json_decref(e);
}

/* Until `ms` have passed, forwards the text the run generates in this process (the relay)
 * as `delta` events, the moment it comes: {"text": …}, with {"restart": true} first when a
 * retried step started the answer over. With `ms` 0 it sends what is there and returns.
 * Without a relay it just waits. */
static int relay_until(struct host_routes *r, const char *id, host_relay_cursor *cursor, int ms,
                       inngest_stream *stream) {
    if (!r->relay) {
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        return INNGEST_OK;
    }
    char buf[8192];
    double end = host_mono_s() + ms / 1e3;
    for (;;) {
        int left = (int)((end - host_mono_s()) * 1000.0);
        if (__atomic_load_n(&r->stopping, __ATOMIC_RELAXED))
            return INNGEST_OK;
        int restart = 0;
        size_t n = host_relay_read(r->relay, id, cursor, buf, sizeof(buf), left > 0 ? left : 0,
                                   &restart);
        if (left <= 0 && !n && !restart)
            return INNGEST_OK; /* time is up and nothing is left unsent */
        json_t *ev = NULL;
        if (restart)
            ev = n ? json_pack("{s:s%,s:b}", "text", buf, n, "restart", 1)
                   : json_pack("{s:s,s:b}", "text", "", "restart", 1);
        else if (n)
            ev = json_pack("{s:s%}", "text", buf, n);
        /* Text that is not UTF-8 on its own is left out: the result carries it. */
        int rc = ev ? host_sse_send(stream, "delta", ev) : INNGEST_OK;
        json_decref(ev);
        if (rc)
            return rc;
    }
}

/* Pushes the run's status changes, then its result, as Server-Sent Events; between looks at
 * the run, the text it generates in this process as `delta` events. */
static int follow_run(struct host_routes *r, const char *id, inngest_stream *stream) {
    static const inngest_header h[] = {{"Content-Type", "text/event-stream"},
                                       {"Cache-Control", "no-store"},
                                       {"X-Accel-Buffering", "no"}};
    int rc = inngest_stream_begin(stream, 200, h, sizeof(h) / sizeof(h[0]));
    if (rc)
        return rc;
    int interval = r->poll_interval_ms > 0 ? r->poll_interval_ms : STREAM_POLL_MS_DEFAULT;
    long timeout_ms = r->stream_timeout_ms > 0 ? r->stream_timeout_ms : STREAM_TIMEOUT_MS_DEFAULT;
    double deadline = host_mono_s() + timeout_ms / 1e3;
    double last_write = host_mono_s();
    char last_status[32] = "";
    host_relay_cursor cursor = {0};
    /* A browser that loses the stream (this host restarted) connects again after 1 s. */
    rc = STREAM_COMMENT(stream, ": following the run\nretry: 1000\n\n");
    while (!rc) {
        inngest_error err;
        inngest_error_clear(&err);
        json_t *out = poll_once(r->app, id, next_nonce(), &err);
        if (!out) {
            char msg[768];
            host_unreachable_message(r->app, &err, msg, sizeof(msg));
            stream_error(stream, msg);
            break;
        }
        const char *status = json_string_value(json_object_get(out, "status"));
        if (json_is_true(json_object_get(out, "completed"))) {
            /* Text generated before the run ended goes out before its result. */
            rc = relay_until(r, id, &cursor, 0, stream);
            record_latency(out);
            if (!rc)
                host_sse_send(stream, "result", out);
            json_decref(out);
            break;
        }
        if (status && strcmp(status, last_status) != 0) {
            snprintf(last_status, sizeof(last_status), "%s", status);
            rc = host_sse_send(stream, "status", out);
            last_write = host_mono_s();
        } else if (host_mono_s() - last_write > STREAM_KEEPALIVE_S) {
            rc = STREAM_COMMENT(stream, ": keep-alive\n\n"); /* also detects a gone client */
            last_write = host_mono_s();
        }
        json_decref(out);
        if (__atomic_load_n(&r->stopping, __ATOMIC_RELAXED)) {
            stream_error(stream, "the host is shutting down; retry shortly");
            break;
        }
        if (host_mono_s() > deadline) {
            stream_error(stream, "gave up waiting for the run to finish");
            break;
        }
        rc = relay_until(r, id, &cursor, interval, stream);
    }
    return INNGEST_OK;
}

static int route_unavailable(void *user, const inngest_http_request *req,
                             inngest_http_response *res, inngest_stream *stream) {
    (void)user;
    (void)req;
    (void)stream;
    return host_reply_error(res, 503, "this host was built without the AI module");
}

int host_routes_add(inngest_server *srv, struct host_routes *r) {
    int rc = inngest_server_add_route(srv, "/healthz", route_healthz, r);
    rc = rc ? rc : inngest_server_add_route(srv, "/metrics", route_metrics, r);
    rc = rc ? rc : inngest_server_add_route(srv, "/api/chat/inngest", route_chat_inngest, r);
    rc = rc ? rc : inngest_server_add_route(srv, "/api/chat/inngest/poll", route_poll, r);
    rc = rc ? rc : inngest_server_add_route(srv, "/api/chat/inngest/stream", route_stream, r);
    rc = rc ? rc
            : inngest_server_add_route(srv, "/api/chat",
                                       r->chat_direct ? r->chat_direct : route_unavailable,
                                       r->chat_direct ? r->chat_direct_user : r);
    rc = rc ? rc
            : inngest_server_add_route(srv, "/api/rag/documents",
                                       r->rag_documents ? r->rag_documents : route_unavailable,
                                       r->rag_documents ? r->rag_documents_user : r);
    rc = rc ? rc : inngest_server_add_route(srv, "/", route_page, r);
    return rc;
}

/* ---- observation ------------------------------------------------------------------------------
 */

/* Bounded route labels: known routes by name, everything else as "other". */
static const char *route_label(const char *url) {
    static const char *const known[] = {"/api/inngest",
                                        "/api/chat/inngest/poll",
                                        "/api/chat/inngest/stream",
                                        "/api/chat/inngest",
                                        "/api/chat",
                                        "/api/rag/documents",
                                        "/healthz",
                                        "/metrics"};
    size_t n = strcspn(url ? url : "", "?");
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strlen(known[i]) == n && !strncmp(url, known[i], n))
            return known[i];
    return n == 1 ? "/" : "other";
}

void host_on_request(void *user, const inngest_http_request *req, int status, double seconds) {
    (void)user;
    const char *route = route_label(req->url);
    char labels[256], method[16];
    metrics_escape(req->method ? req->method : "", method, sizeof(method));
    snprintf(labels, sizeof(labels), "route=\"%s\",method=\"%s\",status=\"%d\"", route, method,
             status);
    metrics_add("inngest_host_http_requests_total", labels, 1);
    snprintf(labels, sizeof(labels), "route=\"%s\"", route);
    metrics_observe("inngest_host_http_request_duration_seconds", labels, seconds);

    /* One line per request at debug level; the fields are built only when it is on. */
    enum log_level level = status >= 500 ? LOG_WARN : LOG_DEBUG;
    if (!log_enabled(level))
        return;
    const char *rid = inngest_http_request_header(req, "X-Request-Id");
    char gen[24];
    if (!rid) {
        static unsigned long seq;
        snprintf(gen, sizeof(gen), "%lx-%lx", (unsigned long)time(NULL),
                 __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
        rid = gen;
    }
    /* The query is left out of the log: it can carry ids but never needs to. */
    log_json(level, "request",
             json_pack("{s:s,s:s,s:s,s:i,s:f}", "request_id", rid, "method",
                       req->method ? req->method : "", "route", route, "status", status,
                       "duration_ms", seconds * 1000.0));
}

void host_observe(void *user, const char *kind, const char *function_slug, int status,
                  const char *op) {
    (void)user;
    char labels[512], fn[256];
    if (!strcmp(kind, "sync")) {
        snprintf(labels, sizeof(labels), "status=\"%d\"", status);
        metrics_add("inngest_host_syncs_total", labels, 1);
        return;
    }
    if (strcmp(kind, "call") != 0 || !function_slug)
        return;
    metrics_escape(function_slug, fn, sizeof(fn));
    const char *what = op ? op : status == 200 ? "RunComplete" : "Error";
    snprintf(labels, sizeof(labels), "function=\"%s\",op=\"%s\"", fn, what);
    metrics_add("inngest_host_step_executions_total", labels, 1);
}
