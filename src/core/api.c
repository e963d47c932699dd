/* SPDX-License-Identifier: MIT */
/*
 * Outbound calls to Inngest through the app's transport: the REST API (bearer token with
 * fallback key) and the event API (idempotent retries with an event id seed).
 */
#include "fmacros.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/app.h"
#include "core/sig.h"
#include "inngest/version.h"

#define SEND_ATTEMPTS 5

/* Appends the headers every outbound request carries. Returns the count written. */
static size_t sdk_headers(const inngest_app *app, inngest_header *h) {
    size_t n = 0;
    h[n++] = (inngest_header){"Content-Type", "application/json"};
    h[n++] = (inngest_header){"User-Agent", INNGEST_SDK_HEADER};
    h[n++] = (inngest_header){"X-Inngest-SDK", INNGEST_SDK_HEADER};
    if (app->cfg.env)
        h[n++] = (inngest_header){"X-Inngest-Env", app->cfg.env};
    return n;
}

/* One outbound request through the app's transport. */
static int transport_send(inngest_app *app, const inngest_http_request *req,
                          inngest_http_response *res, inngest_error *err) {
    if (!app->transport)
        return inngest_error_set(err, INNGEST_ECONFIG, "the app has no outbound transport");
    return app->transport->send(app->transport, req, res, err);
}

int ing_api_call(inngest_app *app, const char *method, const char *url, const char *body,
                 size_t len, const inngest_header *extra, size_t nextra,
                 inngest_http_response *res, inngest_error *err) {
    inngest_header h[16];
    size_t n = sdk_headers(app, h);
    size_t auth_at = n;
    if (app->bearer[0])
        h[n++] = (inngest_header){"Authorization", app->bearer};
    for (size_t i = 0; i < nextra && n < 16; i++)
        h[n++] = extra[i];
    inngest_http_request req = {.method = method, .url = url, .headers = h, .header_count = n,
                                .body = body, .body_len = len, .timeout_ms = 30000};
    int rc = transport_send(app, &req, res, err);
    if (rc == INNGEST_OK && (res->status == 401 || res->status == 403) &&
        app->bearer_fallback[0]) {
        h[auth_at].value = app->bearer_fallback;
        inngest_http_response_cleanup(res);
        rc = transport_send(app, &req, res, err);
    }
    return rc;
}

/* The error text of an Inngest API answer: its "error" or "message" field, else the
 * status. */
static void upstream_error(const inngest_http_response *res, const char *what,
                           inngest_error *err) {
    json_t *j = res->body ? json_loadb(res->body, res->body_len, 0, NULL) : NULL;
    const char *msg = NULL;
    if (json_is_object(j)) {
        json_t *e = json_object_get(j, "error");
        if (!json_is_string(e))
            e = json_object_get(j, "message");
        if (json_is_string(e))
            msg = json_string_value(e);
    }
    inngest_error_set(err, INNGEST_EUPSTREAM, "%s failed with HTTP %d%s%s", what, res->status,
                      msg ? ": " : "", msg ? msg : "");
    if (err)
        err->http_status = res->status;
    json_decref(j);
}

static void base64(const unsigned char *in, size_t n, char *out) {
    static const char tbl[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tbl[v & 63] : '=';
    }
    out[o] = '\0';
}

/* Validates the events and fills in what the official SDKs fill in (data, ts).
 * Returns a new array, or NULL with `err` set. */
static json_t *prepare_events(const inngest_app *app, json_t *events, inngest_error *err) {
    json_t *arr = json_is_array(events) ? json_deep_copy(events) : json_pack("[O]", events);
    if (!arr) {
        inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
        return NULL;
    }
    if (json_array_size(arr) == 0) {
        json_decref(arr);
        inngest_error_set(err, INNGEST_EINVAL, "no events to send");
        return NULL;
    }
    size_t i;
    json_t *ev;
    json_array_foreach(arr, i, ev) {
        json_t *name = json_object_get(ev, "name");
        const char *why = NULL;
        if (!json_is_object(ev))
            why = "must be an object";
        else if (!json_is_string(name) || json_string_length(name) == 0)
            why = "needs a non-empty \"name\"";
        else if (!strncmp(json_string_value(name), "inngest/", 8))
            why = "uses a reserved name (inngest/…)";
        else if (json_object_get(ev, "data") && !json_is_object(json_object_get(ev, "data")))
            why = "has a \"data\" that is not an object";
        if (why) {
            json_decref(arr);
            inngest_error_set(err, INNGEST_EINVAL, "event %zu %s", i, why);
            return NULL;
        }
        if (!json_object_get(ev, "data"))
            json_object_set_new(ev, "data", json_object());
        if (!json_object_get(ev, "ts"))
            json_object_set_new(ev, "ts", json_integer(ing_app_now_ms(app)));
    }
    return arr;
}

int inngest_app_send_events(inngest_app *app, json_t *events, json_t **ids_out,
                            inngest_error *err) {
    const char *key = app->cfg.event_key;
    if (ids_out)
        *ids_out = NULL;
    if (!key) {
        if (!app->cfg.dev)
            return inngest_error_set(err, INNGEST_ECONFIG,
                                     "INNGEST_EVENT_KEY is required to send events in cloud "
                                     "mode");
        key = "NO_EVENT_KEY_SET";
    }
    json_t *arr = prepare_events(app, events, err);
    if (!arr)
        return err ? err->code : INNGEST_EINVAL;
    char *body = ing_json_dumps(arr, JSON_COMPACT, NULL);
    json_decref(arr);
    if (!body)
        return inngest_error_set(err, INNGEST_ENOMEM, "out of memory");

    /* One seed for every attempt: the server derives the same event ids from it, so a
     * retried send does not create duplicates. */
    unsigned char rnd[10];
    char b64[24], seed[64], url[1024];
    if (ing_random_bytes(rnd, sizeof(rnd)) != INNGEST_OK) {
        ing_free(body);
        return inngest_error_set(err, INNGEST_EINTERNAL, "no random bytes available");
    }
    base64(rnd, sizeof(rnd), b64);
    snprintf(seed, sizeof(seed), "%lld,%s", (long long)ing_app_now_ms(app), b64);
    snprintf(url, sizeof(url), "%s/e/%s", app->cfg.event_api_base_url, key);
    inngest_header h[8];
    size_t n = sdk_headers(app, h);
    h[n++] = (inngest_header){"X-Inngest-Event-Id-Seed", seed};
    inngest_http_request req = {.method = "POST", .url = url, .headers = h, .header_count = n,
                                .body = body, .body_len = strlen(body), .timeout_ms = 30000};
    int rc = INNGEST_EHTTP;
    for (int attempt = 0; attempt < SEND_ATTEMPTS; attempt++) {
        inngest_http_response res = {0};
        if (attempt)
            ing_app_sleep_ms(app, 100LL << (attempt - 1));
        rc = transport_send(app, &req, &res, err);
        if (rc == INNGEST_OK && res.status >= 200 && res.status < 300) {
            json_t *j = json_loadb(res.body, res.body_len, 0, NULL);
            json_t *ids = json_object_get(j, "ids");
            if (json_is_array(ids)) {
                if (ids_out)
                    *ids_out = json_incref(ids);
            } else {
                rc = inngest_error_set(err, INNGEST_EUPSTREAM,
                                       "the event API answered without event ids");
            }
            json_decref(j);
            inngest_http_response_cleanup(&res);
            break;
        }
        if (rc == INNGEST_OK) {
            upstream_error(&res, "sending events", err);
            rc = INNGEST_EUPSTREAM;
            int retriable = res.status >= 500 || res.status == 429;
            inngest_http_response_cleanup(&res);
            if (!retriable)
                break;
        }
        inngest_http_response_cleanup(&res);
    }
    ing_free(body);
    return rc;
}

int inngest_app_api_get(inngest_app *app, const char *path, json_t **body_out,
                        inngest_error *err) {
    char url[2048];
    *body_out = NULL;
    snprintf(url, sizeof(url), "%s%s", app->cfg.api_base_url, path);
    inngest_http_response res = {0};
    int rc = ing_api_call(app, "GET", url, NULL, 0, NULL, 0, &res, err);
    if (rc == INNGEST_OK) {
        if (res.status != 200) {
            upstream_error(&res, path, err);
            rc = INNGEST_EUPSTREAM;
        } else {
            json_error_t jerr;
            *body_out = json_loadb(res.body, res.body_len, JSON_DECODE_ANY, &jerr);
            if (!*body_out)
                rc = inngest_error_set(err, INNGEST_EPARSE, "%s: invalid JSON: %s", path,
                                       jerr.text);
        }
    }
    inngest_http_response_cleanup(&res);
    return rc;
}

/* Run ids are ULIDs; anything beyond letters, digits, '-' and '_' (a '/', '?', '%', "..")
 * would change which API path is asked, so it never goes into a URL. */
static int id_ok(const char *id) {
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > 128)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = id[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              ch == '-' || ch == '_'))
            return 0;
    }
    return 1;
}

int ing_api_fetch_run_state(inngest_app *app, const char *run_id, json_t **events,
                            json_t **steps, inngest_error *err) {
    char path[512];
    *events = *steps = NULL;
    if (!id_ok(run_id))
        return inngest_error_set(err, INNGEST_EINVAL,
                                 "ctx.run_id is not a valid run id (letters, digits, '-' and '_', "
                                 "at most 128); the run state cannot be fetched");
    snprintf(path, sizeof(path), "/v0/runs/%s/batch", run_id);
    int rc = inngest_app_api_get(app, path, events, err);
    if (rc == INNGEST_OK) {
        snprintf(path, sizeof(path), "/v0/runs/%s/actions", run_id);
        rc = inngest_app_api_get(app, path, steps, err);
    }
    if (rc == INNGEST_OK && (!json_is_array(*events) || !json_is_object(*steps)))
        rc = inngest_error_set(err, INNGEST_EUPSTREAM,
                               "run state from the API has an unexpected shape");
    if (rc != INNGEST_OK) {
        json_decref(*events);
        json_decref(*steps);
        *events = *steps = NULL;
    }
    return rc;
}
