/* SPDX-License-Identifier: MIT */
/*
 * The serve endpoint as a pure function from request to response: introspection (GET),
 * sync (PUT, out-of-band and in-band) and calls (POST). No sockets here: outbound calls
 * go through the app's transport, time through its clock.
 */
#include "fmacros.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/app.h"
#include "core/checkpoint.h"
#include "core/function.h"
#include "core/http.h"
#include "core/jcs.h"
#include "core/proto.h"
#include "core/sig.h"
#include "core/step.h"
#include "inngest/version.h"

#define SCHEMA_VERSION "2024-05-24"

/* Per-request state: what the response needs besides its body. */
struct request_state {
    inngest_app *app;
    const inngest_http_request *req;
    inngest_http_response *res;
    const char *query;
    const char *signing_key; /* the key that verified the request, or NULL */
    const char *kind;        /* for the observer */
    const char *slug;
    const struct ing_cp_sink *cp_sink; /* checkpoints go here, not to the API (tests) */
    /* A copy, not a pointer into the ops: they are freed before the observer runs. */
    char first_op[32];
};

static int64_t now_s(const inngest_app *app) {
    return ing_app_now_ms(app) / 1000;
}

/* Headers every answer carries, errors included: the server only trusts responses that
 * say they come from an SDK. */
static int add_sdk_headers(struct request_state *st) {
    inngest_http_response *res = st->res;
    const struct ing_config *c = &st->app->cfg;
    int rc = inngest_http_response_set_header(res, "Content-Type", "application/json");
    rc = rc ? rc : inngest_http_response_set_header(res, "X-Inngest-SDK", INNGEST_SDK_HEADER);
    rc = rc ? rc : inngest_http_response_set_header(res, "User-Agent", INNGEST_SDK_HEADER);
    rc = rc ? rc : inngest_http_response_set_header(res, "X-Inngest-Req-Version", "2");
    rc = rc ? rc : inngest_http_response_set_header(res, "X-Inngest-Framework", c->framework);
    if (!rc && c->env)
        rc = inngest_http_response_set_header(res, "X-Inngest-Env", c->env);
    const char *kind = inngest_http_request_header(st->req, "X-Inngest-Server-Kind");
    if (!rc && kind && (!strcmp(kind, "dev") || !strcmp(kind, "cloud")))
        rc = inngest_http_response_set_header(res, "X-Inngest-Expected-Server-Kind", kind);
    return rc;
}

/* Sets status and JSON body (steals `body`; NULL means an empty body). */
static int respond(struct request_state *st, int status, json_t *body) {
    inngest_http_response *res = st->res;
    res->status = status;
    int rc = INNGEST_OK;
    if (body) {
        size_t len;
        char *text = ing_json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY, &len);
        json_decref(body);
        if (!text)
            return INNGEST_ENOMEM;
        ing_free(res->body);
        res->body = text;
        res->body_len = len;
    } else {
        rc = inngest_http_response_set_body(res, "", 0);
    }
    return rc;
}

static int respond_message(struct request_state *st, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int respond_message(struct request_state *st, int status, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return respond(st, status, json_pack("{s:o}", "message", ing_json_text(msg)));
}

/* {"type":"internal","name":"Error","message":…} as the official SDK answers SDK-side
 * failures. */
static int respond_internal(struct request_state *st, int status, const char *msg) {
    return respond(st, status,
                   json_pack("{s:s,s:s,s:o,s:s}", "type", "internal", "name", "Error", "message",
                             ing_json_text(msg), "stack", ""));
}

/* ---- signatures --------------------------------------------------------------------------- */

/* The canonical-form retry (see verify()) parses the body into a jansson tree, about 40
 * times the size of the text: only bodies up to this size get it, and only this many at
 * once in the process, so unauthenticated bodies cannot multiply memory. */
#define JCS_RETRY_MAX_BYTES (1u << 20)
#define JCS_RETRY_MAX_ACTIVE 4
static atomic_int jcs_retries_active;

/* 1 when the raw bytes, parsed and re-encoded in canonical (JCS) form, differ from what
 * arrived and verify under one of `keys` (*which set). */
static int verify_canonical(const struct ing_sig_parsed *sig, const char *body, size_t len,
                            const char *const keys[2], int *which) {
    if (atomic_fetch_add(&jcs_retries_active, 1) >= JCS_RETRY_MAX_ACTIVE) {
        atomic_fetch_sub(&jcs_retries_active, 1);
        return 0;
    }
    json_t *parsed = json_loadb(body, len, 0, NULL);
    size_t clen = 0;
    char *canon = parsed ? ing_jcs_dump(parsed, &clen) : NULL;
    json_decref(parsed);
    int ok = canon && (clen != len || memcmp(canon, body, clen) != 0) &&
             ing_sig_match(sig, canon, clen, keys, which) == INNGEST_OK;
    ing_free(canon);
    atomic_fetch_sub(&jcs_retries_active, 1);
    return ok;
}

/*
 * Verifies the request in cloud mode. Returns INNGEST_OK (and remembers the key), or
 * INNGEST_ESIG with `why` filled. Dev mode always passes.
 *
 * Order matters for memory: the header (presence, form, time window) is checked first, at
 * no cost per body byte; then the HMAC of the raw bytes, which is what the executor signs.
 * Only when that mismatches under an otherwise valid header, and the body is small, is the
 * canonical form tried.
 */
static int verify(struct request_state *st, char *why, size_t why_len) {
    const struct ing_config *c = &st->app->cfg;
    if (c->dev)
        return INNGEST_OK;
    const char *keys[2] = {c->signing_key, c->signing_key_fallback};
    const char *hdr = inngest_http_request_header(st->req, "X-Inngest-Signature");
    struct ing_sig_parsed sig;
    int which = -1;
    int rc = ing_sig_parse(hdr, now_s(st->app), &sig, why, why_len);
    if (rc != INNGEST_OK)
        return rc;
    if (ing_sig_match(&sig, st->req->body, st->req->body_len, keys, &which) != INNGEST_OK) {
        /* The executor signs the canonical (JCS) form it sends, so the raw bytes normally
         * verify. A proxy that re-encodes the JSON breaks that; the official SDKs verify
         * the canonical form of what arrived, so accept that too, within bounds. */
        if (!st->req->body_len || st->req->body_len > JCS_RETRY_MAX_BYTES ||
            !verify_canonical(&sig, st->req->body, st->req->body_len, keys, &which)) {
            snprintf(why, why_len, "signature does not match");
            return INNGEST_ESIG;
        }
    }
    st->signing_key = keys[which];
    return INNGEST_OK;
}

static int respond_unauthorized(struct request_state *st, const char *why) {
    st->kind = "error";
    return respond(st, 401,
                   json_pack("{s:s,s:o}", "message", "Unauthorized", "error", ing_json_text(why)));
}

/* Cloud mode cannot verify anything without a key: refuse, and say how to fix it. */
static int respond_no_key(struct request_state *st) {
    st->kind = "error";
    return respond(st, 500,
                   json_pack("{s:s,s:s}", "code", "internal_server_error", "message",
                             "INNGEST_SIGNING_KEY is not set, so this cloud-mode app cannot "
                             "verify requests; set it, or set INNGEST_DEV=1 for local "
                             "development"));
}

/* ---- introspection ------------------------------------------------------------------------ */

static json_t *str_or_null(const char *s) {
    return s && *s ? json_string(s) : json_null();
}

static json_t *capabilities(void) {
    return json_pack("{s:s,s:s}", "trust_probe", "v1", "in_band_sync", "v1");
}

/* The introspection body. `auth`: 1 authenticated, 0 failed, -1 not attempted. */
static json_t *introspection(const inngest_app *app, int auth) {
    const struct ing_config *c = &app->cfg;
    json_t *j = json_pack("{s:{s:b},s:b,s:b,s:I,s:s,s:s}", "extra", "native_crypto", 1,
                          "has_event_key", c->event_key != NULL, "has_signing_key",
                          c->signing_key != NULL, "function_count", (json_int_t)app->nentries,
                          "mode", c->dev ? "dev" : "cloud", "schema_version", SCHEMA_VERSION);
    if (!j || c->dev)
        return j;
    if (auth != 1) {
        if (json_object_set_new(j, "authentication_succeeded",
                                auth == 0 ? json_false() : json_null()) ||
            json_object_set_new(j, "has_signing_key_fallback",
                                json_boolean(c->signing_key_fallback != NULL))) {
            json_decref(j);
            return NULL;
        }
        return j;
    }
    if (json_object_set_new(json_object_get(j, "extra"), "is_streaming", json_false())) {
        json_decref(j);
        return NULL;
    }
    json_t *more = json_pack(
        "{s:b,s:s,s:s,s:o,s:o,s:s,s:o,s:s,s:s,s:s,s:o,s:o,s:o,s:o}", "authentication_succeeded",
        1, "api_origin", c->api_base_url, "app_id", c->app_id, "capabilities", capabilities(),
        "env", str_or_null(c->env), "event_api_origin", c->event_api_base_url, "event_key_hash",
        str_or_null(app->event_key_hash), "framework", c->framework, "sdk_language",
        INNGEST_SDK_LANGUAGE, "sdk_version", INNGEST_VERSION, "serve_origin",
        str_or_null(c->serve_origin), "serve_path", str_or_null(c->serve_path),
        "signing_key_fallback_hash", str_or_null(app->signing_key_fallback_hash),
        "signing_key_hash", str_or_null(app->signing_key_hash));
    if (!more || json_object_update(j, more)) {
        json_decref(more);
        json_decref(j);
        return NULL;
    }
    json_decref(more);
    return j;
}

static int handle_get(struct request_state *st) {
    st->kind = "introspect";
    const struct ing_config *c = &st->app->cfg;
    int auth = -1;
    if (!c->dev && c->signing_key &&
        inngest_http_request_header(st->req, "X-Inngest-Signature")) {
        char why[128];
        auth = verify(st, why, sizeof(why)) == INNGEST_OK ? 1 : 0;
    }
    return respond(st, 200, introspection(st->app, auth));
}

/* ---- sync --------------------------------------------------------------------------------- */

/* Whether a Host header or X-Forwarded-Proto value is safe to put into a URL. */
static int token_ok(const char *s, const char *allowed_extra) {
    if (!s || !*s || strlen(s) > 255)
        return 0;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr(allowed_extra, *p))
            return 0;
    return 1;
}

/* The public URL of the serve endpoint: scheme and host from the request (or
 * INNGEST_SERVE_ORIGIN), path from the request (or INNGEST_SERVE_PATH). No query. */
static char *app_url_from_request(struct request_state *st, const char *path) {
    const struct ing_config *c = &st->app->cfg;
    char origin[300];
    if (c->serve_origin) {
        snprintf(origin, sizeof(origin), "%s", c->serve_origin);
    } else {
        const char *host = inngest_http_request_header(st->req, "Host");
        char proto[16];
        const char *fp = inngest_http_request_header(st->req, "X-Forwarded-Proto");
        snprintf(proto, sizeof(proto), "%s", st->req->is_tls ? "https" : "http");
        if (fp) {
            size_t n = strcspn(fp, ", ");
            if (n && n < sizeof(proto))
                snprintf(proto, sizeof(proto), "%.*s", (int)n, fp);
        }
        if (!token_ok(host, ".-:[]_") || (strcmp(proto, "http") && strcmp(proto, "https")))
            return NULL;
        snprintf(origin, sizeof(origin), "%s://%s", proto, host);
    }
    /* The request path goes into the URL as it arrived: refuse bytes that cannot appear in
     * a URL (raw spaces, controls, non-ASCII), which would also make the register payload
     * invalid JSON. */
    for (const unsigned char *q = (const unsigned char *)path; !c->serve_path && *q; q++)
        if (*q <= 0x20 || *q >= 0x7f)
            return NULL;
    const char *p = c->serve_path ? c->serve_path : path;
    size_t n = strlen(origin) + strlen(p) + 1;
    char *url = ing_malloc(n);
    if (url)
        snprintf(url, n, "%s%s", origin, p);
    return url;
}

/* Applies the serve origin/path overrides to a URL given by the server (in-band sync). */
static char *override_url(const struct ing_config *c, const char *url) {
    const char *scheme_end = strstr(url, "://");
    const char *path = scheme_end ? strchr(scheme_end + 3, '/') : NULL;
    const char *query = strchr(url, '?');
    if (!path || (query && query < path))
        path = query ? query : url + strlen(url);
    size_t olen = (size_t)(path - url);
    const char *origin = c->serve_origin ? c->serve_origin : url;
    if (c->serve_origin)
        olen = strlen(c->serve_origin);
    const char *p = c->serve_path ? c->serve_path : path;
    size_t plen = c->serve_path ? strlen(c->serve_path) : strcspn(path, "?");
    char *out = ing_malloc(olen + plen + 1);
    if (out)
        snprintf(out, olen + plen + 1, "%.*s%.*s", (int)olen, origin, (int)plen, p);
    return out;
}

static json_t *register_payload(const inngest_app *app, const char *url) {
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:o}", "url", url, "deployType", "ping",
                     "framework", app->cfg.framework, "appName", app->cfg.app_id, "sdk",
                     INNGEST_SDK_LANGUAGE ":v" INNGEST_VERSION, "v", "0.1", "capabilities",
                     capabilities(), "functions", inngest_app_function_configs(app, url));
}

static int sync_in_band(struct request_state *st) {
    const struct ing_config *c = &st->app->cfg;
    char why[128];
    if (!c->dev && verify(st, why, sizeof(why)) != INNGEST_OK)
        return respond_unauthorized(st, why);
    json_error_t jerr;
    json_t *body = json_loadb(st->req->body ? st->req->body : "", st->req->body_len, 0, &jerr);
    json_t *url = json_object_get(body, "url");
    if (!json_is_object(body) || !json_is_string(url) || json_object_size(body) != 1 ||
        strncmp(json_string_value(url), "http", 4) != 0) {
        json_decref(body);
        return respond(st, 400,
                       json_pack("{s:s,s:s}", "code", "invalid_request", "message",
                                 "in-band sync needs a body of the form {\"url\": \"http…\"}"));
    }
    char *app_url = override_url(c, json_string_value(url));
    json_decref(body);
    if (!app_url)
        return INNGEST_ENOMEM;
    json_t *out = json_pack(
        "{s:s,s:o,s:o,s:s,s:o,s:o,s:s,s:s,s:s,s:s,s:s}", "app_id", c->app_id, "capabilities",
        capabilities(), "env", str_or_null(c->env), "framework", c->framework, "functions",
        inngest_app_function_configs(st->app, app_url), "inspection",
        introspection(st->app, c->dev ? -1 : 1), "sdk_author", "inngest-c", "sdk_language",
        INNGEST_SDK_LANGUAGE, "sdk_version", INNGEST_VERSION, "sdk",
        INNGEST_SDK_LANGUAGE ":v" INNGEST_VERSION, "url", app_url);
    ing_free(app_url);
    int rc = inngest_http_response_set_header(st->res, "X-Inngest-Sync-Kind", "in_band");
    return rc ? rc : respond(st, out ? 200 : 500, out);
}

static int sync_out_of_band(struct request_state *st, const char *path) {
    inngest_app *app = st->app;
    char deploy_id[128], reg_url[2048];
    int rc = inngest_http_response_set_header(st->res, "X-Inngest-Sync-Kind", "out_of_band");
    if (rc)
        return rc;
    char *app_url = app_url_from_request(st, path);
    if (!app_url)
        return respond(st, 400,
                       json_pack("{s:s,s:b}", "message",
                                 "cannot build the app URL: the Host or X-Forwarded-Proto "
                                 "header is missing or invalid, or the path holds characters "
                                 "a URL cannot (or set INNGEST_SERVE_ORIGIN)",
                                 "modified", 0));
    int has_deploy = ing_query_get(st->query, "deployId", deploy_id, sizeof(deploy_id)) == 1;
    char *enc = has_deploy ? ing_url_encode(deploy_id) : NULL;
    snprintf(reg_url, sizeof(reg_url), "%s/fn/register%s%s", app->cfg.api_base_url,
             enc ? "?deployId=" : "", enc ? enc : "");
    ing_free(enc);

    json_t *payload = register_payload(app, app_url);
    ing_free(app_url);
    char *body = payload ? ing_json_dumps(payload, JSON_COMPACT, NULL) : NULL;
    json_decref(payload);
    if (!body)
        return INNGEST_ENOMEM;

    inngest_header extra[3];
    size_t n = 0;
    extra[n++] = (inngest_header){"X-Inngest-Framework", app->cfg.framework};
    extra[n++] = (inngest_header){"X-Inngest-Sync-Kind", "out_of_band"};
    const char *kind = inngest_http_request_header(st->req, "X-Inngest-Server-Kind");
    if (kind && (!strcmp(kind, "dev") || !strcmp(kind, "cloud")))
        extra[n++] = (inngest_header){"X-Inngest-Expected-Server-Kind", kind};
    inngest_http_response reg = {0};
    inngest_error err;
    inngest_error_clear(&err);
    rc = ing_api_call(app, "POST", reg_url, body, strlen(body), extra, n, &reg, &err);
    ing_free(body);
    if (rc != INNGEST_OK) {
        inngest_http_response_cleanup(&reg);
        return respond(
            st, 500, json_pack("{s:o,s:b}", "message", ing_json_text(err.message), "modified", 0));
    }
    json_t *answer = json_loadb(reg.body ? reg.body : "", reg.body_len, 0, NULL);
    if (reg.status < 200 || reg.status > 299) {
        const char *msg = json_string_value(json_object_get(answer, "error"));
        if (!msg)
            msg = json_string_value(json_object_get(answer, "message"));
        char text[600];
        snprintf(text, sizeof(text), "registering with %s failed (HTTP %d): %s",
                 app->cfg.api_base_url, reg.status, msg ? msg : "no error message");
        rc =
            respond(st, 500, json_pack("{s:o,s:b}", "message", ing_json_text(text), "modified", 0));
    } else {
        int modified = json_is_true(json_object_get(answer, "modified"));
        rc = respond(st, 200,
                     json_pack("{s:s,s:b}", "message", "Successfully synced.", "modified",
                               modified));
    }
    json_decref(answer);
    inngest_http_response_cleanup(&reg);
    return rc;
}

static int handle_put(struct request_state *st, const char *path) {
    st->kind = "sync";
    const struct ing_config *c = &st->app->cfg;
    if (!c->dev && !c->signing_key)
        return respond_no_key(st);
    const char *sk = inngest_http_request_header(st->req, "X-Inngest-Sync-Kind");
    if (sk && !strcmp(sk, "in_band") && c->allow_in_band_sync)
        return sync_in_band(st);
    /* An out-of-band sync needs no signature (the app registers itself), but when the
     * server signed the PUT the answer is signed back, as the official SDKs sign every
     * answer to a verified request. */
    if (!c->dev && inngest_http_request_header(st->req, "X-Inngest-Signature")) {
        char why[128];
        (void)verify(st, why, sizeof(why));
    }
    return sync_out_of_band(st, path);
}

/* ---- calls -------------------------------------------------------------------------------- */

/* Whether `s` is valid UTF-8 (jansson refuses to build a string from anything else). */
static int utf8_ok(const char *s) {
    json_t *j = json_string(s);
    json_decref(j);
    return j != NULL;
}

static int set_no_retry(struct request_state *st, int no_retry) {
    return inngest_http_response_set_header(st->res, "X-Inngest-No-Retry",
                                            no_retry ? "true" : "false");
}

/* The run failed: 400 + no-retry when retrying cannot help or this was the last attempt,
 * else 500 (retried, after Retry-After when given). */
static int respond_failure(struct request_state *st, struct inngest_ctx *ctx, json_t *error) {
    int final = ctx->fail.no_retry || ctx->call->attempt + 1 >= ctx->max_attempts;
    int rc = set_no_retry(st, final);
    if (!rc && !final && ctx->fail.retry_after[0])
        rc = inngest_http_response_set_header(st->res, "Retry-After", ctx->fail.retry_after);
    if (rc) {
        json_decref(error);
        return rc;
    }
    return respond(st, final ? 400 : 500, error);
}

static int respond_step_not_found(struct request_state *st, struct inngest_ctx *ctx) {
    char msg[1024];
    size_t o = (size_t)snprintf(msg, sizeof(msg),
                                "Could not find step \"%s\" to run. Found new steps:",
                                ctx->target);
    size_t i;
    json_t *f;
    json_array_foreach(ctx->found_list, i, f) {
        if (o >= sizeof(msg))
            break;
        o += (size_t)snprintf(msg + o, sizeof(msg) - o, "%s %s (%s)", i ? "," : "",
                              json_string_value(json_object_get(f, "displayName")),
                              json_string_value(json_object_get(f, "id")));
    }
    int rc = set_no_retry(st, 0);
    return rc ? rc
              : respond(st, 500,
                        json_pack("{s:o,s:s,s:O,s:I}", "error", ing_json_text(msg), "requestedStep",
                                  ctx->target, "foundSteps", ctx->found_list, "totalFoundSteps",
                                  (json_int_t)json_array_size(ctx->found_list)));
}

/* A checkpointing call whose function returned: the steps still buffered and the result
 * as a RunComplete op, in one 206. Returns 1 when answered, 0 when the result is too big
 * to answer so (the usual path reports that), or INNGEST_ENOMEM. */
static int respond_run_complete(struct request_state *st, struct inngest_ctx *ctx,
                                json_t *result) {
    size_t len = 0;
    char *text = ing_json_dumps(result ? result : json_null(), JSON_COMPACT | JSON_ENCODE_ANY,
                                &len);
    if (!text)
        return INNGEST_ENOMEM;
    ing_free(text);
    if (len > ING_MAX_OUTPUT_BYTES)
        return 0;
    char hash[41];
    ing_step_hash("complete", hash);
    json_t *ops = json_copy(ctx->cp.buffer);
    if (!ops || json_array_append_new(ops, json_pack("{s:s,s:s,s:O}", "op", "RunComplete", "id",
                                                     hash, "data",
                                                     result ? result : json_null()))) {
        json_decref(ops);
        return INNGEST_ENOMEM;
    }
    snprintf(st->first_op, sizeof(st->first_op), "RunComplete");
    int rc = respond(st, 206, ops);
    return rc ? rc : 1;
}

/* Turns the handler's outcome into the response. Steals `result`. */
static int finish_call(struct request_state *st, struct inngest_ctx *ctx, int hrc,
                       json_t *result) {
    if (ctx->cp.active && hrc == INNGEST_OK && !ctx->failed && json_array_size(ctx->ops) == 0) {
        int rc = respond_run_complete(st, ctx, result);
        if (rc != 0) {
            json_decref(result);
            return rc < 0 ? rc : INNGEST_OK;
        }
    }
    if (ctx->cp.buffer && json_array_size(ctx->cp.buffer) > 0) {
        /* Steps ran inline and are not saved yet: save them before answering anything
         * else. If that fails they are the answer, as the classic protocol reports them. */
        int rc = ing_cp_flush(ctx);
        if (rc < 0) {
            json_decref(result);
            return rc;
        }
        if (rc == ING_CP_STALE) {
            json_array_clear(ctx->ops);
            ing_cp_fail_stale(ctx);
        } else if (rc == ING_CP_FALLBACK) {
            json_array_clear(ctx->ops);
            ctx->ops_no_retry = -1;
            ctx->ops_retry_after[0] = '\0';
            if (json_array_extend(ctx->ops, ctx->cp.buffer)) {
                json_decref(result);
                return INNGEST_ENOMEM;
            }
        }
    }
    if (json_array_size(ctx->ops) > 0) {
        /* Ops win: a step ran or must be scheduled, whatever the handler returned. */
        json_decref(result);
        const char *op = json_string_value(json_object_get(json_array_get(ctx->ops, 0), "op"));
        snprintf(st->first_op, sizeof(st->first_op), "%s", op ? op : "");
        int rc = INNGEST_OK;
        if (ctx->ops_no_retry >= 0)
            rc = set_no_retry(st, ctx->ops_no_retry);
        if (!rc && ctx->ops_retry_after[0])
            rc = inngest_http_response_set_header(st->res, "Retry-After", ctx->ops_retry_after);
        return rc ? rc : respond(st, 206, json_incref(ctx->ops));
    }
    if (ctx->failed) {
        json_decref(result);
        return respond_failure(st, ctx, ing_error_json(ctx->fail.name, ctx->fail.message, ""));
    }
    if (hrc == INNGEST_ESTEP && ctx->step_error) {
        /* A saved step error the function did not handle fails the run for good. */
        json_decref(result);
        ctx->fail.no_retry = 1;
        return respond_failure(st, ctx, json_incref(ctx->step_error));
    }
    if (hrc == INNGEST_STEP_PENDING || (hrc == INNGEST_OK && ctx->target)) {
        json_decref(result);
        if (ctx->target)
            return respond_step_not_found(st, ctx);
        return respond_internal(st, 500,
                                "the function returned INNGEST_STEP_PENDING but no step is "
                                "pending");
    }
    if (hrc < 0) {
        json_decref(result);
        char msg[256];
        snprintf(msg, sizeof(msg), "function returned %s (%s)", inngest_err_name(hrc),
                 inngest_strerror(hrc));
        return respond_failure(st, ctx, ing_error_json("Error", msg, ""));
    }
    if (hrc != INNGEST_OK) {
        json_decref(result);
        return respond_internal(st, 500, "the function returned an unknown status");
    }
    size_t len;
    char *text = ing_json_dumps(result ? result : json_null(), JSON_COMPACT | JSON_ENCODE_ANY,
                                &len);
    json_decref(result);
    if (!text)
        return INNGEST_ENOMEM;
    if (len > ING_MAX_OUTPUT_BYTES) {
        ing_free(text);
        ctx->fail.no_retry = 1;
        char msg[160];
        snprintf(msg, sizeof(msg), "function output is %zu bytes; the limit is %u bytes", len,
                 ING_MAX_OUTPUT_BYTES);
        return respond_failure(st, ctx, ing_error_json("OutputTooLargeError", msg, ""));
    }
    st->res->status = 200;
    ing_free(st->res->body);
    st->res->body = text;
    st->res->body_len = len;
    return INNGEST_OK;
}

static int run_function(struct request_state *st, const struct ing_fn_entry *entry,
                        struct ing_call *call, const char *target) {
    struct inngest_ctx ctx;
    int rc = ing_ctx_init(&ctx, st->app, entry, call, target);
    if (rc)
        return rc;
    rc = ing_cp_setup(&ctx, inngest_http_request_header(st->req, "X-Request-ID"),
                      inngest_http_request_header(st->req, "X-Inngest-Generation-ID"));
    ctx.cp.sink = st->cp_sink;
    if (rc) {
        ing_ctx_cleanup(&ctx);
        return rc;
    }
    json_t *result = NULL;
    inngest_handler_fn fn = entry->failure ? entry->fn->on_failure : entry->fn->handler;
    int hrc = fn(&ctx, &result);
    rc = finish_call(st, &ctx, hrc, result);
    ing_ctx_cleanup(&ctx);
    return rc;
}

/* POST ?probe=…: authenticated like a call; "trust" is the only probe. */
static int handle_probe(struct request_state *st, int has_probe, const char *probe) {
    const struct ing_config *c = &st->app->cfg;
    char why[128];
    st->kind = "probe";
    if (!c->dev && !c->signing_key)
        return respond_no_key(st);
    if (verify(st, why, sizeof(why)) != INNGEST_OK)
        return respond_unauthorized(st, why);
    if (has_probe == 1 && !strcmp(probe, "trust"))
        return respond(st, 200, NULL);
    return respond(st, 400,
                   json_pack("{s:s,s:s}", "name", "Error", "message",
                             "Unknown probe; the only probe is \"trust\""));
}

/* The served config the call names (?fnId=), or NULL after answering 500. */
static const struct ing_fn_entry *find_entry(struct request_state *st, int *rc) {
    char slug[512];
    int has_fn = ing_query_get(st->query, "fnId", slug, sizeof(slug));
    if (has_fn == 1 && !utf8_ok(slug))
        has_fn = -1; /* it is echoed in JSON answers, which must be valid UTF-8 */
    if (has_fn != 1) {
        *rc = respond_internal(st, 500,
                               has_fn == 0 ? "No function ID found in request (fnId)"
                                           : "the fnId query parameter is malformed");
        return NULL;
    }
    const struct ing_fn_entry *entry = ing_app_find(st->app, slug);
    if (!entry) {
        char msg[640];
        snprintf(msg, sizeof(msg),
                 "Function \"%s\" was not found in this app; is the app synced correctly?",
                 slug);
        *rc = respond_internal(st, 500, msg);
    }
    return entry;
}

/* The step the call targets (?stepId=, else X-Inngest-Step-ID) into `step_id`; `*target`
 * is NULL for "step" (run until the next new step). Returns 0, or -1 for a malformed id. */
static int find_target(struct request_state *st, char *step_id, size_t len,
                       const char **target) {
    *target = NULL;
    int has_step = ing_query_get(st->query, "stepId", step_id, len);
    if (has_step == 0) {
        const char *h = inngest_http_request_header(st->req, "X-Inngest-Step-ID");
        if (h && strlen(h) < len) {
            snprintf(step_id, len, "%s", h);
            has_step = 1;
        }
    }
    if (has_step == 1 && !utf8_ok(step_id))
        has_step = -1;
    if (has_step < 0)
        return -1;
    if (has_step == 1 && step_id[0] && strcmp(step_id, "step") != 0)
        *target = step_id;
    return 0;
}

/* ctx.use_api: the body carries no state, so the events and saved steps come from the
 * API and replace what the body could not carry. Steals `events` and `steps`. */
static int adopt_run_state(struct ing_call *call, json_t *events, json_t *steps) {
    if (json_array_size(events) > 0) {
        if (json_object_set_new(call->root, "events", events) ||
            json_object_set(call->root, "event", json_array_get(events, 0))) {
            json_decref(steps);
            return INNGEST_ENOMEM;
        }
        call->events = events; /* owned by call->root now */
        call->event = json_array_get(events, 0);
    } else {
        json_decref(events);
    }
    if (json_object_set_new(call->root, "steps", steps))
        return INNGEST_ENOMEM;
    call->steps = steps;
    return INNGEST_OK;
}

static int handle_post(struct request_state *st) {
    const struct ing_config *c = &st->app->cfg;
    char probe[32], step_id[128], why[128];
    st->kind = "call";

    int has_probe = ing_query_get(st->query, "probe", probe, sizeof(probe));
    if (has_probe != 0)
        return handle_probe(st, has_probe, probe);
    if (!c->dev && !c->signing_key)
        return respond_no_key(st);
    if (verify(st, why, sizeof(why)) != INNGEST_OK)
        return respond_unauthorized(st, why);

    int rc = INNGEST_OK;
    const struct ing_fn_entry *entry = find_entry(st, &rc);
    if (!entry)
        return rc;
    st->slug = entry->slug;
    const char *target;
    if (find_target(st, step_id, sizeof(step_id), &target) < 0)
        return respond_internal(st, 500, "the stepId query parameter is malformed");

    struct ing_call call;
    inngest_error err;
    inngest_error_clear(&err);
    if (ing_call_parse(st->req->body, st->req->body_len, &call, &err) != INNGEST_OK) {
        rc = set_no_retry(st, 0);
        return rc ? rc
                  : respond(st, 400,
                            json_pack("{s:s,s:o,s:s}", "name", "Error", "message",
                                      ing_json_text(err.message), "stack", ""));
    }
    if (call.use_api) {
        json_t *events = NULL, *steps = NULL;
        rc = ing_api_fetch_run_state(st->app, call.run_id, &events, &steps, &err);
        if (rc == INNGEST_OK)
            rc = adopt_run_state(&call, events, steps);
        if (rc != INNGEST_OK) {
            ing_call_cleanup(&call);
            return rc == INNGEST_ENOMEM ? rc : respond_internal(st, 500, err.message);
        }
    }
    rc = run_function(st, entry, &call, target);
    ing_call_cleanup(&call);
    return rc;
}

/* Answers an allocation failure with a fixed body. */
static void respond_oom(struct request_state *st) {
    static const char oom[] = "{\"message\":\"internal error: out of memory\"}";
    st->res->status = 500;
    if (inngest_http_response_set_body(st->res, oom, sizeof(oom) - 1) != INNGEST_OK) {
        ing_free(st->res->body); /* no half-built answer under a 500 */
        st->res->body = NULL;
        st->res->body_len = 0;
    }
    st->kind = "error";
}

int inngest_app_precheck(inngest_app *app, const inngest_http_request *req,
                         inngest_http_response *res) {
    const struct ing_config *c = &app->cfg;
    const char *method = req->method ? req->method : "";
    if (!app->frozen || c->dev)
        return 0;
    /* What the full handler would refuse before looking at the body: every call, every
     * sync without a key, and in-band syncs (the only signed PUTs). */
    const char *sk = inngest_http_request_header(req, "X-Inngest-Sync-Kind");
    int is_put = !strcmp(method, "PUT");
    int in_band = is_put && sk && !strcmp(sk, "in_band") && c->allow_in_band_sync;
    if (strcmp(method, "POST") != 0 && !is_put)
        return 0;
    char why[128] = "";
    struct ing_sig_parsed sig;
    if (c->signing_key) {
        if (is_put && !in_band)
            return 0;
        if (ing_sig_parse(inngest_http_request_header(req, "X-Inngest-Signature"), now_s(app),
                          &sig, why, sizeof(why)) == INNGEST_OK)
            return 0;
    }
    struct request_state st = {.app = app, .req = req, .res = res, .kind = "error"};
    int rc = add_sdk_headers(&st);
    if (!rc)
        rc = c->signing_key ? respond_unauthorized(&st, why) : respond_no_key(&st);
    if (rc != INNGEST_OK)
        respond_oom(&st);
    if (app->observer)
        app->observer(app->observer_user, st.kind, NULL, res->status, NULL);
    return 1;
}

/* ---- entry point -------------------------------------------------------------------------- */

int inngest_app_handle(inngest_app *app, const inngest_http_request *req,
                       inngest_http_response *res) {
    return ing_app_handle_sink(app, req, res, NULL);
}

int ing_app_handle_sink(inngest_app *app, const inngest_http_request *req,
                        inngest_http_response *res, const struct ing_cp_sink *sink) {
    struct request_state st = {
        .app = app, .req = req, .res = res, .kind = "error", .cp_sink = sink};
    const char *method = req->method ? req->method : "";
    char *path = ing_split_target(req->url ? req->url : "/", &st.query);
    int rc = path ? add_sdk_headers(&st) : INNGEST_ENOMEM;

    if (rc) {
        /* fall through to the out-of-memory answer below */
    } else if (!app->frozen) {
        rc = respond_internal(&st, 500, "the app is not frozen; call inngest_app_freeze()");
    } else if (req->body_len > app->cfg.max_body_bytes) {
        rc = respond_message(&st, 413, "request body of %zu bytes exceeds the limit of %zu",
                             req->body_len, app->cfg.max_body_bytes);
    } else if (!strcmp(method, "GET")) {
        rc = handle_get(&st);
    } else if (!strcmp(method, "PUT")) {
        rc = handle_put(&st, path);
    } else if (!strcmp(method, "POST")) {
        rc = handle_post(&st);
    } else {
        rc = respond_message(&st, 405, "Method not allowed");
    }
    ing_free(path);

    if (rc == INNGEST_OK && st.signing_key && res->body) {
        char sig[ING_SIG_HEADER_MAX];
        rc = ing_sig_header(st.signing_key, res->body, res->body_len, now_s(app), sig);
        if (rc == INNGEST_OK)
            rc = inngest_http_response_set_header(res, "X-Inngest-Signature", sig);
    }
    if (rc != INNGEST_OK)
        respond_oom(&st); /* only allocation failures get here */
    if (app->observer)
        app->observer(app->observer_user, st.kind, st.slug, res->status,
                      st.first_op[0] ? st.first_op : NULL);
    return rc;
}
