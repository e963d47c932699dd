/* SPDX-License-Identifier: MIT */
/*
 * Direct-mode chat (POST /api/chat) and the document routes (/api/rag/documents).
 *
 * Direct mode runs in the request: chat_retrieve() and chat_build_messages() (the code
 * handle-chat runs in its steps), then one model call, streamed to the browser as
 * Server-Sent Events when it asks for them. Without an API key the answer is
 * chat_offline_answer(): the passages themselves, labelled as such, with model "offline".
 * A model that fails answers an error (what failed and the provider's HTTP status; the
 * provider's own text only goes to the log), never an answer.
 */
#include "fmacros.h"

#include "host/chat_routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/log.h"
#include "host/metrics.h"
#include "host/routes.h"

#define DEFAULT_MAX_DOCUMENT_BYTES (4u << 20)
#define DEFAULT_MAX_DOCUMENTS      100

/* ---- shared ------------------------------------------------------------------------------- */

/* Parses a request body as JSON. Returns a new reference, or NULL with a message. */
static json_t *parse_body(const inngest_http_request *req, char *why, size_t n) {
    json_error_t jerr;
    json_t *body = req->body_len ? json_loadb(req->body, req->body_len, 0, &jerr) : NULL;
    if (!body)
        snprintf(why, n, "the body is not valid JSON%s%s", req->body_len ? ": " : " (it is empty)",
                 req->body_len ? jerr.text : "");
    return body;
}

/* What a caller of the host's routes is told about a failed model call: what failed and
 * the provider's HTTP status, never its text, which can carry the base URL, a masked key
 * or account details. The caller logs the details (log_model_error). */
static void model_message(const char *what, const inngest_error *err, char *out, size_t n) {
    if (err->code == INNGEST_EUNAVAILABLE)
        snprintf(out, n, "%s: the RAG store is unavailable (its database cannot be reached "
                         "now); the host's log has the details", what);
    else if (err->code == INNGEST_EHTTP || err->code == INNGEST_ETIMEOUT)
        snprintf(out, n, "%s: the model server could not be reached; the host's log has the "
                         "details", what);
    else if (err->http_status)
        snprintf(out, n, "%s: the model server answered HTTP %d; the host's log has the details",
                 what, err->http_status);
    else
        snprintf(out, n, "%s (%s); the host's log has the details", what,
                 inngest_err_name(err->code));
}

static void log_model_error(const struct host_chat *c, const char *what,
                            const inngest_error *err) {
    log_json(LOG_WARN, what,
             json_pack("{s:s,s:s,s:i,s:s}", "base_url",
                       inngest_ai_client_base_url(c->env->client), "code",
                       inngest_err_name(err->code), "http_status", err->http_status, "error",
                       err->message));
}

static void count_model_error(const char *kind, const inngest_error *err) {
    char labels[96];
    snprintf(labels, sizeof(labels), "kind=\"%s\",outcome=\"error\"", kind);
    metrics_add("inngest_host_model_calls_total", labels, 1);
    snprintf(labels, sizeof(labels), "kind=\"%s\",status=\"%d\"", kind, err->http_status);
    metrics_add("inngest_host_model_errors_total", labels, 1);
}

static void count_chat(const char *outcome) {
    char labels[96];
    snprintf(labels, sizeof(labels), "mode=\"direct\",outcome=\"%s\"", outcome);
    metrics_add("inngest_host_chat_requests_total", labels, 1);
}

/* ---- POST /api/chat ----------------------------------------------------------------------- */

struct chat_call {
    struct host_chat *c;
    json_t *request;        /* the body (borrowed) */
    json_t *context;        /* retrieve-context result (owned) */
    json_t *sources;        /* owned */
    inngest_stream *stream; /* non-NULL: answering Server-Sent Events */
    double started;
    int gone; /* the browser went away mid-stream */
};

static int on_delta(void *user, const char *text, size_t len) {
    struct chat_call *call = user;
    json_t *ev = json_pack("{s:s%}", "text", text, len);
    if (!ev)
        return 0; /* not UTF-8 on its own: the whole text still arrives in `done` */
    int rc = host_sse_send(call->stream, "delta", ev);
    json_decref(ev);
    if (rc)
        call->gone = 1;
    return rc;
}

static json_t *usage_json(const inngest_ai_chat_result *r) {
    if (!r || !r->has_usage)
        return json_null();
    return json_pack("{s:I,s:I,s:I}", "promptTokens", (json_int_t)r->usage.prompt_tokens,
                     "completionTokens", (json_int_t)r->usage.completion_tokens, "totalTokens",
                     (json_int_t)r->usage.total_tokens);
}

/* The final answer: {response, sources, model, usage, mode, latencyMs}. */
static json_t *answer_json(struct chat_call *call, const char *text, const char *model,
                           const inngest_ai_chat_result *r) {
    double ms = (host_mono_s() - call->started) * 1000.0;
    metrics_observe("inngest_host_chat_latency_seconds", "mode=\"direct\"", ms / 1000.0);
    return json_pack("{s:s,s:O,s:s,s:o,s:s,s:I}", "response", text, "sources", call->sources,
                     "model", model, "usage", usage_json(r), "mode", "direct", "latencyMs",
                     (json_int_t)(ms + 0.5));
}

/* A 503 says when to come back: the failure's own hint (the store's), else 2 s. Returns
 * INNGEST_OK, or ENOMEM when the header could not be added (the answer goes out without
 * it). */
static int retry_hint(inngest_http_response *res, int status, const inngest_error *err) {
    if (status != 503)
        return INNGEST_OK;
    return inngest_http_response_set_header(res, "Retry-After",
                                            err && err->retry_after[0] ? err->retry_after : "2");
}

/* Answers a failed store call: 503 with Retry-After while the store is unavailable (its
 * database down), else 500. */
static int store_error(inngest_http_response *res, const inngest_error *err) {
    int status = host_error_status(err->code, err->http_status, 0);
    retry_hint(res, status, err);
    if (err->code != INNGEST_EUNAVAILABLE)
        return host_reply_error(res, status, err->message);
    /* The database's address and libpq's words go to the log only. */
    log_json(LOG_WARN, "RAG store unavailable", json_pack("{s:s}", "error", err->message));
    return host_reply_error(res, status,
                            "the RAG store is unavailable (its database cannot be reached now); "
                            "try again later");
}

/* Sends the failure as an `error` event, or answers it as JSON. */
static int fail(struct chat_call *call, inngest_http_response *res, int status,
                const char *message) {
    if (!call->stream)
        return host_reply_json(res, status,
                               json_pack("{s:s,s:i}", "error", message, "status", status));
    json_t *ev = json_pack("{s:s,s:i}", "message", message, "status", status);
    if (ev)
        host_sse_send(call->stream, "error", ev);
    json_decref(ev);
    return INNGEST_OK;
}

static int finish(struct chat_call *call, inngest_http_response *res, json_t *answer) {
    if (!answer)
        return fail(call, res, 500, "out of memory");
    if (!call->stream)
        return host_reply_json(res, 200, answer);
    host_sse_send(call->stream, "done", answer);
    json_decref(answer);
    return INNGEST_OK;
}

static int answer_offline(struct chat_call *call, inngest_http_response *res) {
    char *text = chat_offline_answer(call->context);
    if (!text)
        return fail(call, res, 500, "out of memory");
    if (call->stream) {
        json_t *ev = json_pack("{s:s}", "text", text);
        if (ev)
            host_sse_send(call->stream, "delta", ev);
        json_decref(ev);
    }
    count_chat("offline");
    json_t *answer = answer_json(call, text, "offline", NULL);
    free(text);
    return finish(call, res, answer);
}

/* Borrowed views of a messages array [{role, content}]; NULL when one is not strings. */
static inngest_ai_message *message_views(json_t *messages, size_t *n) {
    *n = json_array_size(messages);
    inngest_ai_message *v = calloc(*n ? *n : 1, sizeof(*v));
    for (size_t i = 0; v && i < *n; i++) {
        json_t *m = json_array_get(messages, i);
        v[i].role = json_string_value(json_object_get(m, "role"));
        v[i].content = json_string_value(json_object_get(m, "content"));
        if (!v[i].role || !v[i].content) {
            free(v);
            return NULL;
        }
    }
    return v;
}

static int answer_with_model(struct chat_call *call, inngest_http_response *res) {
    struct host_chat *c = call->c;
    json_t *messages = chat_build_messages(c->env, call->request, call->context);
    size_t n = 0;
    inngest_ai_message *views = messages ? message_views(messages, &n) : NULL;
    if (!views) {
        json_decref(messages);
        count_chat("error");
        return fail(call, res, 500, "cannot build the prompt (out of memory)");
    }
    inngest_ai_chat_request creq = {.messages = views, .message_count = n};
    inngest_ai_chat_result out = {0};
    inngest_ai_call_info info = {0};
    inngest_error err;
    inngest_error_clear(&err);
    const char *kind = call->stream ? "chat_stream" : "chat";
    int rc = call->stream
                 ? inngest_ai_chat_stream(c->env->client, &creq, on_delta, call, &out, &info, &err)
                 : inngest_ai_chat(c->env->client, &creq, &out, &info, &err);
    free(views);
    json_decref(messages);
    if (rc != INNGEST_OK) {
        inngest_ai_chat_result_cleanup(&out);
        if (call->gone) {
            count_chat("client_gone");
            log_msg(LOG_DEBUG, "chat: the browser closed the stream before the answer ended");
            return INNGEST_OK;
        }
        count_model_error(kind, &err);
        count_chat("model_error");
        char msg[900];
        model_message("the model call failed", &err, msg, sizeof(msg));
        log_json(LOG_WARN, "model call failed",
                 json_pack("{s:s,s:i,s:i,s:s,s:s}", "kind", kind, "http_status", err.http_status,
                           "attempts", info.attempts, "request_id", info.request_id, "error",
                           err.message));
        return fail(call, res, host_error_status(err.code, err.http_status, 1), msg);
    }
    char labels[64];
    snprintf(labels, sizeof(labels), "kind=\"%s\",outcome=\"ok\"", kind);
    metrics_add("inngest_host_model_calls_total", labels, 1);
    if (out.has_usage) {
        metrics_add("inngest_host_model_tokens_total", "kind=\"prompt\"",
                    (double)out.usage.prompt_tokens);
        metrics_add("inngest_host_model_tokens_total", "kind=\"completion\"",
                    (double)out.usage.completion_tokens);
    }
    count_chat("answered");
    const char *model =
        out.model && *out.model ? out.model : inngest_ai_client_chat_model(c->env->client);
    json_t *answer = answer_json(call, out.content ? out.content : "", model, &out);
    inngest_ai_chat_result_cleanup(&out);
    return finish(call, res, answer);
}

/* 1 when the client asked for Server-Sent Events; -1 when "stream" is not a boolean. */
static int wants_stream(const inngest_http_request *req, json_t *body) {
    json_t *flag = json_object_get(body, "stream");
    if (flag && !json_is_boolean(flag))
        return -1;
    const char *accept = inngest_http_request_header(req, "Accept");
    return json_is_true(flag) || (accept && strstr(accept, "text/event-stream"));
}

static int chat_run(struct chat_call *call, inngest_http_response *res) {
    static const inngest_header h[] = {{"Content-Type", "text/event-stream"},
                                       {"Cache-Control", "no-store"},
                                       {"X-Accel-Buffering", "no"}};
    inngest_error err;
    inngest_error_clear(&err);
    call->context = chat_retrieve(call->c->env, call->request, &err);
    if (!call->context) {
        count_model_error("embed", &err);
        count_chat("retrieval_error");
        char msg[900];
        model_message("retrieving context failed", &err, msg, sizeof(msg));
        log_model_error(call->c, "retrieving context failed", &err);
        call->stream = NULL; /* not begun yet: a plain JSON error */
        int status = host_error_status(err.code, err.http_status, 1);
        retry_hint(res, status, &err);
        return fail(call, res, status, msg);
    }
    call->sources = chat_sources(call->context);
    if (!call->sources) {
        call->stream = NULL; /* not begun yet */
        return fail(call, res, 500, "out of memory");
    }
    if (call->stream) {
        int rc = inngest_stream_begin(call->stream, 200, h, sizeof(h) / sizeof(h[0]));
        json_t *ev = json_pack("{s:O}", "sources", call->sources);
        if (!rc && ev)
            rc = host_sse_send(call->stream, "sources", ev);
        json_decref(ev);
        if (rc)
            return INNGEST_OK; /* the browser is gone */
    }
    if (!inngest_ai_client_has_key(call->c->env->client))
        return answer_offline(call, res);
    return answer_with_model(call, res);
}

int host_chat_route(void *user, const inngest_http_request *req, inngest_http_response *res,
                    inngest_stream *stream) {
    struct host_chat *c = user;
    if (!host_method_is(req, "POST"))
        return host_reply_error(res, 405,
                                "use POST with {\"messages\": [{\"role\": \"user\", "
                                "\"content\": \"…\"}]}");
    char why[300];
    json_t *body = parse_body(req, why, sizeof(why));
    int sse = body ? wants_stream(req, body) : 0;
    const char *bad = !body ? why : sse < 0 ? "\"stream\" must be true or false" : NULL;
    if (!bad) {
        json_object_del(body, "stream"); /* a transport choice, not part of the request */
        bad = chat_check_request(body);
    }
    if (bad) {
        json_decref(body);
        count_chat("bad_request");
        return host_reply_error(res, 400, bad);
    }
    if (!host_slot_take(&c->active_chats, c->max_active_chats > 0 ? c->max_active_chats : 12)) {
        json_decref(body);
        count_chat("busy");
        return host_reply_busy(res, "too many answers in progress; retry in a moment");
    }
    struct chat_call call = {
        .c = c, .request = body, .stream = sse ? stream : NULL, .started = host_mono_s()};
    int rc = chat_run(&call, res);
    host_slot_give(&c->active_chats);
    json_decref(call.context);
    json_decref(call.sources);
    json_decref(body);
    return rc;
}

/* ---- /api/rag/documents ------------------------------------------------------------------- */

/* Checks one document object. Returns NULL, or a message; *too_big is set for size. */
static const char *check_document(json_t *d, size_t max_bytes, int *too_big, char *buf, size_t n) {
    static const char *const optional[] = {"title", "key"};
    if (!json_is_object(d))
        return "each document must be an object {source, text, title?, key?, metadata?}";
    json_t *src = json_object_get(d, "source"), *text = json_object_get(d, "text");
    if (!json_is_string(src) || !json_string_length(src))
        return "each document needs a non-empty string \"source\" (a file name or URL)";
    if (!json_is_string(text))
        return "each document needs a string \"text\"";
    for (size_t i = 0; i < sizeof(optional) / sizeof(optional[0]); i++) {
        json_t *v = json_object_get(d, optional[i]);
        if (v && !json_is_null(v) && !(json_is_string(v) && json_string_length(v))) {
            snprintf(buf, n, "\"%s\" must be a non-empty string when given", optional[i]);
            return buf;
        }
    }
    json_t *meta = json_object_get(d, "metadata");
    if (meta && !json_is_null(meta) && !json_is_object(meta))
        return "\"metadata\" must be an object when given";
    size_t len = json_string_length(text);
    if (len > max_bytes) {
        *too_big = 1;
        snprintf(buf, n, "the text of %s is %zu bytes; the limit is %zu per document",
                 json_string_value(src), len, max_bytes);
        return buf;
    }
    const char *t = json_string_value(text);
    size_t blank = strspn(t, " \t\r\n\f\v");
    if (blank == len) {
        snprintf(buf, n, "the text of %s is empty", json_string_value(src));
        return buf;
    }
    return NULL;
}

static const char *doc_str(json_t *d, const char *name) {
    return json_string_value(json_object_get(d, name));
}

/* Ingests each document now; answers {documents: [{key, status, chunks}]}, or on a failure
 * the first failure's status with {error, documents} (the others are still ingested). */
static int ingest_now(struct host_chat *c, json_t *docs, int force, inngest_http_response *res) {
    json_t *out = json_array();
    int first_status = 0;
    char first_msg[1200] = "";
    inngest_error first_err;
    inngest_error_clear(&first_err);
    size_t i;
    json_t *d;
    json_array_foreach(docs, i, d) {
        char *meta = json_is_object(json_object_get(d, "metadata"))
                         ? json_dumps(json_object_get(d, "metadata"), JSON_COMPACT)
                         : NULL;
        json_t *text = json_object_get(d, "text");
        inngest_rag_document doc = {.key = doc_str(d, "key"),
                                    .source = doc_str(d, "source"),
                                    .title = doc_str(d, "title"),
                                    .text = json_string_value(text),
                                    .text_len = json_string_length(text),
                                    .metadata = meta};
        inngest_rag_ingest_opts opts = {.force = force};
        inngest_error err;
        inngest_error_clear(&err);
        inngest_rag_status status = 0;
        size_t chunks = 0;
        int rc = inngest_rag_ingest_document(c->env->store, c->env->embedder, &doc, &opts, &status,
                                             &chunks, &err);
        free(meta);
        host_ai_count_ingest(c->ai, "http", rc ? rc : (int)status, chunks);
        const char *key = doc.key ? doc.key : doc.source;
        json_t *row =
            json_pack("{s:s,s:s,s:I}", "key", key, "status",
                      inngest_rag_status_name(rc ? rc : (int)status), "chunks", (json_int_t)chunks);
        if (rc) {
            char msg[700];
            int upstream = rc == INNGEST_EUPSTREAM || rc == INNGEST_EHTTP || rc == INNGEST_ETIMEOUT;
            if (upstream) {
                model_message("embedding failed", &err, msg, sizeof(msg));
                log_model_error(c, "embedding failed", &err);
            } else {
                snprintf(msg, sizeof(msg), "%s", err.message);
            }
            json_object_set_new(row, "error", json_string(msg));
            if (!first_status) {
                first_status = host_error_status(rc, err.http_status, 0);
                first_err = err;
                snprintf(first_msg, sizeof(first_msg), "%.400s: %s", key, msg);
            }
            log_json(LOG_WARN, "ingest failed", json_pack("{s:s,s:s}", "key", key, "error", msg));
        }
        json_array_append_new(out, row);
    }
    retry_hint(res, first_status, &first_err);
    if (first_status)
        return host_reply_json(res, first_status,
                               json_pack("{s:s,s:o}", "error", first_msg, "documents", out));
    return host_reply_json(res, 200, json_pack("{s:o}", "documents", out));
}

/* Sends one rag/document.added event per document, for the ingest-document function. */
static int ingest_via_inngest(struct host_chat *c, json_t *docs, inngest_http_response *res) {
    json_t *events = json_array(), *ids = NULL;
    size_t i;
    json_t *d;
    json_array_foreach(docs, i, d) {
        json_array_append_new(events,
                              json_pack("{s:s,s:O}", "name", "rag/document.added", "data", d));
    }
    char msg[768];
    int rc = host_send_events(c->app, events, &ids, msg, sizeof(msg));
    json_decref(events);
    if (rc != INNGEST_OK)
        return host_reply_error(res, 502, msg);
    json_t *out = json_array();
    json_array_foreach(docs, i, d) {
        const char *key = doc_str(d, "key") ? doc_str(d, "key") : doc_str(d, "source");
        json_array_append_new(
            out, json_pack("{s:s,s:s,s:O}", "key", key, "status", "queued", "eventId",
                           json_array_get(ids, i) ? json_array_get(ids, i) : json_null()));
    }
    json_decref(ids);
    return host_reply_json(res, 202, json_pack("{s:o}", "documents", out));
}

static int documents_post(struct host_chat *c, const inngest_http_request *req,
                          inngest_http_response *res) {
    char why[300], via[16] = "", force[8] = "";
    json_t *body = parse_body(req, why, sizeof(why));
    if (!body)
        return host_reply_error(res, 400, why);
    json_t *docs = json_is_array(body) ? json_incref(body) : json_pack("[O]", body);
    json_decref(body);
    size_t max_docs = c->max_documents ? c->max_documents : DEFAULT_MAX_DOCUMENTS;
    size_t max_bytes = c->max_document_bytes ? c->max_document_bytes : DEFAULT_MAX_DOCUMENT_BYTES;
    int status = 0;
    const char *bad = NULL;
    if (json_array_size(docs) == 0) {
        bad = "send a document {source, text, title?, key?, metadata?} or an array of them";
        status = 400;
    } else if (json_array_size(docs) > max_docs) {
        snprintf(why, sizeof(why), "%zu documents in one request; the limit is %zu",
                 json_array_size(docs), max_docs);
        bad = why;
        status = 413;
    }
    /* Every document is checked before any is ingested: a bad request changes nothing. */
    for (size_t i = 0; !bad && i < json_array_size(docs); i++) {
        int too_big = 0;
        bad = check_document(json_array_get(docs, i), max_bytes, &too_big, why, sizeof(why));
        status = too_big ? 413 : 400;
    }
    /* Two documents with one key: the second would silently replace the first. */
    for (size_t i = 0; !bad && i < json_array_size(docs); i++) {
        json_t *d = json_array_get(docs, i);
        const char *key = doc_str(d, "key") ? doc_str(d, "key") : doc_str(d, "source");
        for (size_t k = 0; !bad && k < i; k++) {
            json_t *o = json_array_get(docs, k);
            if (!strcmp(key, doc_str(o, "key") ? doc_str(o, "key") : doc_str(o, "source"))) {
                snprintf(why, sizeof(why),
                         "documents %zu and %zu both have the key %.120s; give each a "
                         "distinct \"key\"",
                         k + 1, i + 1, key);
                bad = why;
                status = 400;
            }
        }
    }
    if (bad) {
        json_decref(docs);
        return host_reply_error(res, status, bad);
    }
    if (inngest_http_request_query(req, "via", via, sizeof(via)) < 0 ||
        inngest_http_request_query(req, "force", force, sizeof(force)) < 0) {
        json_decref(docs);
        return host_reply_error(res, 400, "via must be \"inngest\" or \"direct\", force 1 or 0");
    }
    int rc;
    if (!strcmp(via, "inngest"))
        rc = ingest_via_inngest(c, docs, res);
    else if (!*via || !strcmp(via, "direct"))
        rc = ingest_now(c, docs, !strcmp(force, "1") || !strcmp(force, "true"), res);
    else
        rc = host_reply_error(res, 400, "via must be \"inngest\" or \"direct\"");
    json_decref(docs);
    return rc;
}

static int documents_get(struct host_chat *c, inngest_http_response *res) {
    inngest_error err;
    inngest_error_clear(&err);
    json_t *list = inngest_rag_store_list(c->env->store, &err);
    if (!list)
        return store_error(res, &err);
    inngest_rag_store_info info;
    if (inngest_rag_store_get_info(c->env->store, &info, &err)) {
        json_decref(list);
        return store_error(res, &err);
    }
    return host_reply_json(
        res, 200,
        json_pack("{s:o,s:{s:s,s:s,s:i,s:I,s:I,s:s}}", "documents", list, "store", "path",
                  c->ai ? c->ai->store_path : "", "embedder", c->env->embedder->id, "dim",
                  c->env->embedder->dim, "documents", (json_int_t)info.documents, "chunks",
                  (json_int_t)info.chunks, "kernel", info.kernel ? info.kernel : ""));
}

static int documents_delete(struct host_chat *c, const inngest_http_request *req,
                            inngest_http_response *res) {
    char key[4096];
    int found = inngest_http_request_query(req, "key", key, sizeof(key));
    if (found < 0)
        return host_reply_error(res, 400,
                                "the key is badly percent-encoded, or 4096 bytes or longer; "
                                "delete a key that long with inngest-host ingest --delete");
    if (!found || !*key)
        return host_reply_error(res, 400, "say which document: DELETE /api/rag/documents?key=…");
    json_t *valid = json_string(key); /* keys are UTF-8 (they are listed as JSON) */
    if (!valid)
        return host_reply_error(res, 400, "the key is not valid UTF-8 (percent-encode its bytes)");
    json_decref(valid);
    inngest_error err;
    inngest_error_clear(&err);
    int rc = inngest_rag_store_delete(c->env->store, key, &err);
    if (rc == INNGEST_ENOTFOUND) {
        char msg[4200];
        snprintf(msg, sizeof(msg), "no document has the key %s", key);
        return host_reply_error(res, 404, msg);
    }
    if (rc)
        return store_error(res, &err);
    if (c->ai)
        host_ai_update_gauges(c->ai);
    return host_reply_json(res, 200, json_pack("{s:s}", "deleted", key));
}

int host_documents_route(void *user, const inngest_http_request *req, inngest_http_response *res,
                         inngest_stream *stream) {
    struct host_chat *c = user;
    (void)stream;
    if (host_method_is(req, "GET"))
        return documents_get(c, res);
    if (host_method_is(req, "POST")) {
        if (!host_slot_take(&c->active_ingests,
                            c->max_active_ingests > 0 ? c->max_active_ingests : 4))
            return host_reply_busy(res, "too many documents being added; retry in a moment");
        int rc = documents_post(c, req, res);
        host_slot_give(&c->active_ingests);
        return rc;
    }
    if (host_method_is(req, "DELETE"))
        return documents_delete(c, req, res);
    return host_reply_error(res, 405, "use GET, POST or DELETE");
}
