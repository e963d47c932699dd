/* SPDX-License-Identifier: MIT */
/*
 * The OpenAI-compatible client: configuration, request builders and response parsers
 * (pure), and the calls themselves over an inngest_transport, with the SDKs' retry policy.
 * Never logs or reports the API key.
 */
#include "fmacros.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ai/ai_internal.h"
#include "core/alloc.h"
#include "inngest/ai.h"
#include "inngest/env.h"
#include "inngest/version.h"

#define DEFAULT_BASE_URL "https://api.openai.com/v1"
#define DEFAULT_CHAT_MODEL "gpt-4o-mini"
#define DEFAULT_EMBEDDING_MODEL "text-embedding-3-small"
#define DEFAULT_TIMEOUT_MS 120000L
#define DEFAULT_MAX_RETRY_WAIT_MS 8000L
#define DEFAULT_MAX_RETRIES 2
#define ERROR_CAPTURE_MAX (64u << 10)

struct inngest_ai_client {
    char *base_url, *api_key, *chat_model, *embedding_model, *token_field, *auth_style,
        *api_version, *embedding_encoding;
    int has_temperature;
    double temperature;
    int embedding_dimensions, max_tokens, max_retries, stream_usage;
    long timeout_ms, max_retry_wait_ms;
    void (*sleep_fn)(void *, long);
    void *sleep_user;
    double (*random_fn)(void *);
    void *random_user;
    inngest_transport *transport;
    int owns_transport;
};

/* ---- configuration ---------------------------------------------------------------------- */

static const char *env_get(const inngest_ai_opts *o, const char *name) {
    return inngest_env_get(o->getenv_fn, o->getenv_user, name);
}

static const char *pick(const inngest_ai_opts *o, const char *given, const char *env,
                        const char *def) {
    if (given)
        return given;
    const char *v = env_get(o, env);
    return v ? v : def;
}

static int pick_long(const inngest_ai_opts *o, long given, const char *env, long def, long min,
                     long max, long *out, inngest_error *err) {
    if (given) {
        *out = given;
        return INNGEST_OK;
    }
    return inngest_env_long(o->getenv_fn, o->getenv_user, env, def, min, max, out, err);
}

static void default_sleep(void *user, long ms) {
    (void)user;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

static double default_random(void *user) {
    (void)user;
    static _Thread_local uint64_t state;
    if (!state) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        state = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&state;
        state |= 1;
    }
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (double)(state >> 11) / 9007199254740992.0;
}

static int is_openai_host(const char *url) {
    return strstr(url, "://api.openai.com") != NULL;
}

void inngest_ai_client_destroy(inngest_ai_client *c) {
    if (!c)
        return;
    if (c->owns_transport)
        inngest_transport_destroy(c->transport);
    ing_free(c->base_url);
    ing_free(c->api_key);
    ing_free(c->chat_model);
    ing_free(c->embedding_model);
    ing_free(c->token_field);
    ing_free(c->auth_style);
    ing_free(c->api_version);
    ing_free(c->embedding_encoding);
    ing_free(c);
}

/* `value` is `a` or `b`, or INNGEST_ECONFIG naming the setting. */
static int one_of(const char *value, const char *setting, const char *a, const char *b,
                  inngest_error *err) {
    if (!strcmp(value, a) || !strcmp(value, b))
        return INNGEST_OK;
    return inngest_error_set(err, INNGEST_ECONFIG, "%s must be %s or %s", setting, a, b);
}

/* The string settings: URL, key, models and the wire details that depend on the server. */
static int load_strings(inngest_ai_client *c, const inngest_ai_opts *o, inngest_error *err) {
    const char *base = pick(o, o->base_url, "OPENAI_BASE_URL", DEFAULT_BASE_URL);
    if (strncmp(base, "http://", 7) && strncmp(base, "https://", 8))
        return inngest_error_set(err, INNGEST_ECONFIG,
                                 "OPENAI_BASE_URL must start with http:// or https://");
    c->base_url = ing_strdup(base);
    if (c->base_url) {
        size_t n = strlen(c->base_url);
        while (n > 0 && c->base_url[n - 1] == '/')
            c->base_url[--n] = '\0';
    }
    c->api_key = ing_strdup(pick(o, o->api_key, "OPENAI_API_KEY", ""));
    c->chat_model = ing_strdup(pick(o, o->chat_model, "OPENAI_MODEL", DEFAULT_CHAT_MODEL));
    c->embedding_model =
        ing_strdup(pick(o, o->embedding_model, "OPENAI_EMBEDDING_MODEL", DEFAULT_EMBEDDING_MODEL));
    int official = is_openai_host(base);
    c->token_field = ing_strdup(pick(o, o->token_limit_field, "OPENAI_TOKEN_LIMIT_FIELD",
                                     official ? "max_completion_tokens" : "max_tokens"));
    c->auth_style = ing_strdup(pick(o, o->auth_style, "OPENAI_AUTH_STYLE", "bearer"));
    const char *ver = pick(o, o->api_version, "OPENAI_API_VERSION", NULL);
    c->api_version = ver ? ing_strdup(ver) : NULL;
    c->embedding_encoding = ing_strdup(
        pick(o, o->embedding_encoding, "OPENAI_EMBEDDING_ENCODING", official ? "base64" : "float"));
    if (!c->base_url || !c->api_key || !c->chat_model || !c->embedding_model || !c->token_field ||
        !c->auth_style || (ver && !c->api_version) || !c->embedding_encoding)
        return inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    int rc = one_of(c->token_field, "OPENAI_TOKEN_LIMIT_FIELD", "max_completion_tokens",
                    "max_tokens", err);
    rc = rc ? rc : one_of(c->auth_style, "OPENAI_AUTH_STYLE", "bearer", "api-key", err);
    return rc ? rc
              : one_of(c->embedding_encoding, "OPENAI_EMBEDDING_ENCODING", "base64", "float",
                       err);
}

/* The numeric settings: sampling, sizes, retries and time limits. */
static int load_numbers(inngest_ai_client *c, const inngest_ai_opts *o, inngest_error *err) {
    const char *temp = pick(o, o->temperature, "OPENAI_TEMPERATURE", NULL);
    if (temp) {
        char *end;
        double t = strtod(temp, &end);
        if (*end || !(t >= 0 && t <= 2))
            return inngest_error_set(err, INNGEST_ECONFIG,
                                     "OPENAI_TEMPERATURE must be a number from 0 to 2");
        c->has_temperature = 1;
        c->temperature = t;
    }
    long dims, max_tokens, retries;
    int rc = pick_long(o, o->embedding_dimensions, "OPENAI_EMBEDDING_DIMENSIONS", 0, 0, INT_MAX,
                       &dims, err);
    rc = rc ? rc
            : pick_long(o, o->max_tokens, "OPENAI_MAX_TOKENS", 0, 0, INT_MAX, &max_tokens, err);
    rc = rc ? rc
            : pick_long(o, o->max_retries, "OPENAI_MAX_RETRIES", DEFAULT_MAX_RETRIES, -1,
                        INT_MAX, &retries, err);
    rc = rc ? rc
            : pick_long(o, o->timeout_ms, "OPENAI_TIMEOUT_MS", DEFAULT_TIMEOUT_MS, 1, LONG_MAX,
                        &c->timeout_ms, err);
    rc = rc ? rc
            : pick_long(o, o->max_retry_wait_ms, "OPENAI_MAX_RETRY_WAIT_MS",
                        DEFAULT_MAX_RETRY_WAIT_MS, 0, LONG_MAX, &c->max_retry_wait_ms, err);
    if (rc)
        return rc;
    c->embedding_dimensions = (int)dims;
    c->max_tokens = (int)max_tokens;
    c->max_retries = retries < 0 ? 0 : (int)retries;
    return INNGEST_OK;
}

inngest_ai_client *inngest_ai_client_create(const inngest_ai_opts *opts, inngest_error *err) {
    inngest_ai_opts zero = {0};
    const inngest_ai_opts *o = opts ? opts : &zero;
    inngest_ai_client *c = ing_calloc(1, sizeof(*c));
    if (!c) {
        inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
        return NULL;
    }
    if (load_strings(c, o, err) || load_numbers(c, o, err))
        goto fail;
    c->stream_usage = o->stream_usage >= 0;
    c->sleep_fn = o->sleep_fn ? o->sleep_fn : default_sleep;
    c->sleep_user = o->sleep_user;
    c->random_fn = o->random_fn ? o->random_fn : default_random;
    c->random_user = o->random_user;
    if (o->transport) {
        c->transport = o->transport;
    } else {
        c->transport = inngest_transport_curl_create(err);
        if (!c->transport)
            goto fail;
        c->owns_transport = 1;
    }
    return c;
fail:
    inngest_ai_client_destroy(c);
    return NULL;
}

int inngest_ai_client_has_key(const inngest_ai_client *c) {
    return c && c->api_key[0] != '\0';
}
const char *inngest_ai_client_base_url(const inngest_ai_client *c) {
    return c->base_url;
}
const char *inngest_ai_client_api_key(const inngest_ai_client *c) {
    return c->api_key;
}
const char *inngest_ai_client_chat_model(const inngest_ai_client *c) {
    return c->chat_model;
}
const char *inngest_ai_client_embedding_model(const inngest_ai_client *c) {
    return c->embedding_model;
}
int inngest_ai_client_embedding_dimensions(const inngest_ai_client *c) {
    return c->embedding_dimensions;
}

int inngest_ai_client_url(const inngest_ai_client *c, const char *path, char *out, size_t size) {
    int n = c->api_version
                ? snprintf(out, size, "%s/%s?api-version=%s", c->base_url, path, c->api_version)
                : snprintf(out, size, "%s/%s", c->base_url, path);
    return n < 0 || (size_t)n >= size ? -1 : n;
}

json_t *inngest_ai_client_auth_headers(const inngest_ai_client *c) {
    json_t *h = json_object();
    if (h && c->api_key[0] && !strcmp(c->auth_style, "api-key"))
        json_object_set_new(h, "api-key", json_string(c->api_key));
    return h;
}

/* ---- request builders ------------------------------------------------------------------- */

/* A JSON string from possibly invalid UTF-8 (bad bytes become U+FFFD). New reference. */
static json_t *text_json(const char *s) {
    size_t len = strlen(s);
    if (ing_utf8_valid(s, len))
        return json_stringn_nocheck(s, len);
    size_t n;
    char *clean = ing_utf8_sanitize(s, len, &n);
    json_t *j = clean ? json_stringn_nocheck(clean, n) : NULL;
    ing_free(clean);
    return j;
}

json_t *inngest_ai_chat_body(const inngest_ai_client *c, const inngest_ai_chat_request *req,
                             int stream, inngest_error *err) {
    if (!req || !req->messages || req->message_count == 0) {
        inngest_error_set(err, INNGEST_EINVAL, "a chat request needs at least one message");
        return NULL;
    }
    json_t *msgs = json_array();
    json_t *body = json_object();
    if (!msgs || !body)
        goto oom;
    for (size_t i = 0; i < req->message_count; i++) {
        const inngest_ai_message *m = &req->messages[i];
        if (!m->role || !*m->role || !m->content) {
            inngest_error_set(err, INNGEST_EINVAL, "message %zu needs a role and a content", i);
            goto fail;
        }
        json_t *content = text_json(m->content);
        json_t *o = content ? json_pack("{s:s,s:o}", "role", m->role, "content", content) : NULL;
        if (!o || json_array_append_new(msgs, o))
            goto oom;
    }
    if (json_object_set_new(body, "model",
                            json_string(req->model && *req->model ? req->model : c->chat_model)) ||
        json_object_set(body, "messages", msgs))
        goto oom;
    int cap = req->max_tokens > 0 ? req->max_tokens : c->max_tokens;
    if (cap > 0 && json_object_set_new(body, c->token_field, json_integer(cap)))
        goto oom;
    if (c->has_temperature && json_object_set_new(body, "temperature", json_real(c->temperature)))
        goto oom;
    if (stream) {
        if (json_object_set_new(body, "stream", json_true()))
            goto oom;
        if (c->stream_usage &&
            json_object_set_new(body, "stream_options", json_pack("{s:b}", "include_usage", 1)))
            goto oom;
    }
    if (json_is_object(req->extra) && json_object_update(body, req->extra))
        goto oom;
    json_decref(msgs);
    return body;
oom:
    inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
fail:
    json_decref(msgs);
    json_decref(body);
    return NULL;
}

json_t *inngest_ai_embeddings_body(const inngest_ai_client *c, const char *const *texts,
                                   size_t n, inngest_error *err) {
    if (!texts || n == 0) {
        inngest_error_set(err, INNGEST_EINVAL, "nothing to embed");
        return NULL;
    }
    if (n > INNGEST_AI_EMBED_MAX_INPUTS) {
        inngest_error_set(err, INNGEST_EINVAL, "at most %d inputs per embeddings request",
                          INNGEST_AI_EMBED_MAX_INPUTS);
        return NULL;
    }
    json_t *input = json_array();
    if (!input)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        if (!texts[i] || !texts[i][0]) {
            json_decref(input);
            inngest_error_set(err, INNGEST_EINVAL, "input %zu is empty (the API rejects it)", i);
            return NULL;
        }
        if (json_array_append_new(input, text_json(texts[i]))) {
            json_decref(input);
            goto oom;
        }
    }
    json_t *body = json_pack("{s:s,s:o,s:s}", "model", c->embedding_model, "input", input,
                             "encoding_format", c->embedding_encoding);
    if (body && c->embedding_dimensions > 0 &&
        json_object_set_new(body, "dimensions", json_integer(c->embedding_dimensions))) {
        json_decref(body);
        body = NULL;
    }
    if (!body)
        goto oom;
    return body;
oom:
    inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    return NULL;
}

/* ---- response parsers ------------------------------------------------------------------- */

void inngest_ai_chat_result_cleanup(inngest_ai_chat_result *r) {
    if (!r)
        return;
    ing_free(r->id);
    ing_free(r->model);
    ing_free(r->content);
    ing_free(r->finish_reason);
    ing_free(r->refusal);
    memset(r, 0, sizeof(*r));
}

static char *dup_json_str(json_t *v) {
    return json_is_string(v) ? ing_strdup(json_string_value(v)) : NULL;
}

/* Fills `err` from an {"error": …} value (object or string). */
static int error_object(json_t *error, int http_status, inngest_error *err) {
    const char *msg = json_is_string(error) ? json_string_value(error)
                                            : json_string_value(json_object_get(error, "message"));
    const char *type = json_string_value(json_object_get(error, "type"));
    const char *code = json_string_value(json_object_get(error, "code"));
    inngest_error_set(err, INNGEST_EUPSTREAM, "model server error%s%s%s%s: %s",
                      type ? " (" : "", type ? type : "", code ? ", " : "",
                      code ? code : "", msg ? msg : "no message");
    if (err) {
        err->http_status = http_status;
        snprintf(err->name, sizeof(err->name), "OpenAIError");
        if ((type && !strcmp(type, "invalid_request_error")) ||
            (code && !strcmp(code, "insufficient_quota")))
            err->no_retry = 1;
    }
    return INNGEST_EUPSTREAM;
}

int inngest_ai_chat_parse(json_t *response, inngest_ai_chat_result *out, inngest_error *err) {
    memset(out, 0, sizeof(*out));
    if (!json_is_object(response))
        return inngest_error_set(err, INNGEST_EPARSE, "the chat answer is not a JSON object");
    json_t *error = json_object_get(response, "error");
    if (error && !json_is_null(error))
        return error_object(error, 0, err);
    json_t *choices = json_object_get(response, "choices");
    json_t *first = json_array_get(choices, 0);
    json_t *msg = json_object_get(first, "message");
    if (!json_is_object(msg))
        return inngest_error_set(err, INNGEST_EPARSE, "the chat answer has no choices[0].message");
    out->id = dup_json_str(json_object_get(response, "id"));
    out->model = dup_json_str(json_object_get(response, "model"));
    out->finish_reason = dup_json_str(json_object_get(first, "finish_reason"));
    out->refusal = dup_json_str(json_object_get(msg, "refusal"));
    json_t *content = json_object_get(msg, "content");
    if (json_is_string(content)) {
        out->content = ing_strdup(json_string_value(content));
    } else if (json_is_array(content)) {
        /* Some servers answer with content parts: join the text ones. */
        struct ing_buf b = {0};
        size_t i;
        json_t *part;
        ing_buf_append(&b, "", 0);
        json_array_foreach(content, i, part) {
            const char *t = json_string_value(json_object_get(part, "text"));
            if (t)
                ing_buf_appends(&b, t);
        }
        out->content = b.data;
    } else {
        out->content = ing_strdup("");
    }
    json_t *usage = json_object_get(response, "usage");
    if (json_is_object(usage)) {
        out->has_usage = 1;
        out->usage.prompt_tokens = (long)json_integer_value(json_object_get(usage, "prompt_tokens"));
        out->usage.completion_tokens =
            (long)json_integer_value(json_object_get(usage, "completion_tokens"));
        out->usage.total_tokens = (long)json_integer_value(json_object_get(usage, "total_tokens"));
    }
    if (!out->content) {
        inngest_ai_chat_result_cleanup(out);
        return inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    }
    return INNGEST_OK;
}

int inngest_ai_embedding_model_dim(const char *model) {
    if (!model)
        return 0;
    if (!strcmp(model, "text-embedding-3-small") || !strcmp(model, "text-embedding-ada-002"))
        return 1536;
    if (!strcmp(model, "text-embedding-3-large"))
        return 3072;
    return 0;
}

int inngest_ai_embeddings_parse(json_t *response, size_t n, int dim, float *out, int *dim_out,
                                inngest_error *err) {
    if (!json_is_object(response))
        return inngest_error_set(err, INNGEST_EPARSE, "the embeddings answer is not an object");
    json_t *error = json_object_get(response, "error");
    if (error && !json_is_null(error))
        return error_object(error, 0, err);
    json_t *data = json_object_get(response, "data");
    if (!json_is_array(data) || json_array_size(data) != n)
        return inngest_error_set(err, INNGEST_EPARSE,
                                 "the embeddings answer has %zu items for %zu inputs",
                                 json_array_size(data), n);
    unsigned char *seen = ing_calloc(n ? n : 1, 1);
    unsigned char *raw = NULL;
    int rc = INNGEST_OK;
    if (!seen)
        return inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    size_t i;
    json_t *item;
    json_array_foreach(data, i, item) {
        json_t *jidx = json_object_get(item, "index");
        json_int_t idx = jidx ? json_integer_value(jidx) : (json_int_t)i;
        if (!json_is_integer(jidx) && jidx) {
            rc = inngest_error_set(err, INNGEST_EPARSE, "embedding %zu has a bad index", i);
            break;
        }
        if (idx < 0 || (size_t)idx >= n || seen[idx]) {
            rc = inngest_error_set(err, INNGEST_EPARSE,
                                   "embedding index %lld is out of range or repeated",
                                   (long long)idx);
            break;
        }
        seen[idx] = 1;
        json_t *emb = json_object_get(item, "embedding");
        size_t len;
        if (json_is_array(emb)) {
            len = json_array_size(emb);
        } else if (json_is_string(emb)) {
            size_t sl = json_string_length(emb);
            ing_free(raw);
            raw = ing_malloc(sl / 4 * 3 + 4);
            if (!raw) {
                rc = inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
                break;
            }
            long bytes = ing_base64_decode(json_string_value(emb), sl, raw);
            if (bytes < 0 || bytes % 4) {
                rc = inngest_error_set(err, INNGEST_EPARSE, "embedding %zu is not valid base64 "
                                                            "float32", i);
                break;
            }
            len = (size_t)bytes / 4;
        } else {
            rc = inngest_error_set(err, INNGEST_EPARSE, "embedding %zu has no vector", i);
            break;
        }
        if (len == 0 || len > 65536) {
            /* An empty vector would leave its slot of `out` unwritten. */
            rc = inngest_error_set(err, INNGEST_EPARSE, "embedding %zu has %zu dimensions "
                                                        "(1 to 65536 are accepted)", i, len);
            break;
        }
        if (dim == 0 && len > 0)
            dim = (int)len;
        if (len != (size_t)dim) {
            rc = inngest_error_set(err, INNGEST_EMISMATCH,
                                   "the server returned %zu dimensions, expected %d", len, dim);
            if (err)
                err->no_retry = 1;
            break;
        }
        float *dst = out + (size_t)idx * (size_t)dim;
        if (json_is_array(emb)) {
            for (size_t k = 0; k < len; k++) {
                json_t *x = json_array_get(emb, k);
                double v = json_number_value(x);
                /* A double beyond float's range has no float value (the conversion is
                 * undefined behaviour); infinities would poison every score. */
                if (!json_is_number(x) || !(fabs(v) <= FLT_MAX)) {
                    rc = inngest_error_set(err, INNGEST_EPARSE,
                                           "embedding %zu has a non-number or a number out of "
                                           "float range", i);
                    break;
                }
                dst[k] = (float)v;
            }
            if (rc)
                break;
        } else {
            /* Little-endian float32, as the API documents; this host is little-endian too
             * (x86-64, arm64), so a byte copy is the decode. */
            memcpy(dst, raw, len * 4);
            for (size_t k = 0; k < len; k++) {
                if (!isfinite(dst[k])) {
                    rc = inngest_error_set(err, INNGEST_EPARSE,
                                           "embedding %zu holds an infinity or NaN", i);
                    break;
                }
            }
            if (rc)
                break;
        }
    }
    ing_free(seen);
    ing_free(raw);
    if (rc == INNGEST_OK && dim_out)
        *dim_out = dim;
    return rc;
}

/* ---- errors ----------------------------------------------------------------------------- */

static const char *error_name(int status) {
    switch (status) {
        case 400:
            return "BadRequestError";
        case 401:
            return "AuthenticationError";
        case 403:
            return "PermissionDeniedError";
        case 404:
            return "NotFoundError";
        case 409:
            return "ConflictError";
        case 422:
            return "UnprocessableEntityError";
        case 429:
            return "RateLimitError";
        default:
            return status >= 500 ? "InternalServerError" : "APIStatusError";
    }
}

static void copy_hdr(char *dst, size_t size, const char *v) {
    snprintf(dst, size, "%s", v ? v : "");
}

int inngest_ai_error_from_response(const inngest_http_response *res, inngest_error *err,
                                   inngest_ai_call_info *info) {
    const char *rid = inngest_http_response_header(res, "x-request-id");
    json_t *body = res->body_len ? json_loadb(res->body, res->body_len, 0, NULL) : NULL;
    json_t *eo = json_object_get(body, "error");
    const char *msg = NULL, *type = NULL, *code = NULL, *param = NULL;
    if (json_is_object(eo)) {
        msg = json_string_value(json_object_get(eo, "message"));
        type = json_string_value(json_object_get(eo, "type"));
        code = json_string_value(json_object_get(eo, "code"));
        param = json_string_value(json_object_get(eo, "param"));
    } else if (json_is_string(eo)) {
        msg = json_string_value(eo); /* Ollama: {"error":"model not found"} */
    }
    char text[200];
    if (!msg) {
        /* Not the API's error shape (a proxy page?): quote the start of the body. */
        size_t n = res->body_len < sizeof(text) - 1 ? res->body_len : sizeof(text) - 1;
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            text[k++] = isprint((unsigned char)res->body[i]) ? res->body[i] : ' ';
        text[k] = '\0';
        msg = k ? text : "no error body";
    }
    long ra = ing_retry_after_ms(inngest_http_response_header(res, "retry-after-ms"),
                                 inngest_http_response_header(res, "retry-after"),
                                 (long)time(NULL));
    inngest_error_set(err, INNGEST_EUPSTREAM, "model server answered %d%s%s%s%s%s: %s",
                      res->status, type || code ? " (" : "", type ? type : "",
                      type && code ? ", " : "", code ? code : "", type || code ? ")" : "", msg);
    if (err) {
        if (rid) {
            size_t l = strlen(err->message);
            snprintf(err->message + l, sizeof(err->message) - l, " [request id %s]", rid);
        }
        err->http_status = res->status;
        snprintf(err->name, sizeof(err->name), "%s", error_name(res->status));
        const char *sr = inngest_http_response_header(res, "x-should-retry");
        err->no_retry = !ing_retry_retriable(res->status, sr, code);
        if (ra >= 0)
            snprintf(err->retry_after, sizeof(err->retry_after), "%ld", (ra + 999) / 1000);
    }
    if (info) {
        info->http_status = res->status;
        copy_hdr(info->request_id, sizeof(info->request_id), rid);
        copy_hdr(info->error_type, sizeof(info->error_type), type);
        copy_hdr(info->error_code, sizeof(info->error_code), code);
        copy_hdr(info->error_param, sizeof(info->error_param), param);
        info->retry_after_ms = ra;
    }
    json_decref(body);
    return INNGEST_EUPSTREAM;
}

/* ---- the calls -------------------------------------------------------------------------- */

/* Streaming state for one attempt, fed by the transport's on_body callback. */
struct stream_ctx {
    struct ing_sse sse;
    struct ing_chat_stream acc;
    struct ing_buf raw; /* the first bytes, for an error answer */
    int sniffed, is_json, parse_failed, stopped;
    inngest_ai_delta_fn on_delta;
    void *user;
};

static int on_sse_event(void *user, const char *event, const char *data, size_t len) {
    struct stream_ctx *s = user;
    (void)event;
    int rc = ing_chat_stream_apply(&s->acc, data, len, s->on_delta, s->user);
    if (rc == -1)
        s->parse_failed = 1;
    else if (rc == 2)
        s->stopped = 1;
    return rc; /* non-zero stops the parser, then the transfer */
}

static int on_stream_body(void *user, const char *data, size_t len) {
    struct stream_ctx *s = user;
    if (!s->sniffed) {
        size_t i = 0;
        while (i < len && isspace((unsigned char)data[i]))
            i++;
        if (i < len) {
            s->sniffed = 1;
            s->is_json = data[i] == '{' || data[i] == '[';
        }
    }
    if (s->raw.len < ERROR_CAPTURE_MAX) {
        size_t n = len < ERROR_CAPTURE_MAX - s->raw.len ? len : ERROR_CAPTURE_MAX - s->raw.len;
        if (ing_buf_append(&s->raw, data, n))
            return 1;
    }
    if (s->is_json)
        return 0; /* an error answer (or a server that ignored "stream") */
    return ing_sse_feed(&s->sse, data, len) ? 1 : 0;
}

static void stream_reset(struct stream_ctx *s) {
    ing_sse_cleanup(&s->sse);
    ing_chat_stream_cleanup(&s->acc);
    ing_buf_cleanup(&s->raw);
    inngest_ai_delta_fn f = s->on_delta;
    void *u = s->user;
    memset(s, 0, sizeof(*s));
    s->on_delta = f;
    s->user = u;
    ing_sse_init(&s->sse, on_sse_event, s);
}

static void note(inngest_ai_call_info *info, const inngest_http_response *res) {
    if (!info)
        return;
    info->http_status = res->status;
    copy_hdr(info->request_id, sizeof(info->request_id),
             inngest_http_response_header(res, "x-request-id"));
    info->retry_after_ms = -1;
}

/*
 * Sends `body` to `path` with retries. On INNGEST_OK `res` holds a 2xx answer (its body
 * collected, or streamed into `sctx`). Otherwise `err` says why.
 */
/* The headers of a model call, into `hdrs` (5 slots); `auth` and `ua` hold their values.
 * Returns how many. */
static size_t model_headers(const inngest_ai_client *c, int streamed, char *auth,
                            size_t auth_len, char *ua, size_t ua_len, inngest_header *hdrs) {
    size_t nh = 0;
    hdrs[nh++] = (inngest_header){"Content-Type", "application/json"};
    hdrs[nh++] = (inngest_header){"Accept", streamed ? "text/event-stream" : "application/json"};
    snprintf(ua, ua_len, "inngest-c/%s", INNGEST_VERSION);
    hdrs[nh++] = (inngest_header){"User-Agent", ua};
    if (c->api_key[0]) {
        int bearer = !strcmp(c->auth_style, "bearer");
        snprintf(auth, auth_len, "%s%s", bearer ? "Bearer " : "", c->api_key);
        hdrs[nh++] = (inngest_header){bearer ? "Authorization" : "api-key", auth};
    }
    return nh;
}

/* No answer arrived (refused, reset, DNS, the timeout, or memory ran out on the way), or
 * one that could not be taken (larger than the transport accepts): says so in `err`.
 * Returns non-zero when another attempt could fare better (the network's failures, memory). */
static int no_answer(int rc, const inngest_error *terr, inngest_error *err,
                     inngest_ai_call_info *info) {
    int timeout = rc == INNGEST_ETIMEOUT;
    info->http_status = 0;
    if (rc == INNGEST_ENOMEM) {
        inngest_error_set(err, INNGEST_ENOMEM, "out of memory calling the model server: %s",
                          terr->message);
        return 1; /* memory may be back by the next attempt */
    }
    if (rc == INNGEST_ETOOBIG || rc == INNGEST_EINTERNAL) {
        /* The same request would meet the same end. */
        inngest_error_set(err, rc, "model server: %s", terr->message);
        if (err) {
            snprintf(err->name, sizeof(err->name), "APIError");
            err->no_retry = 1;
        }
        return 0;
    }
    inngest_error_set(err, timeout ? INNGEST_ETIMEOUT : INNGEST_EHTTP, "model server %s: %s",
                      timeout ? "timed out" : "unreachable", terr->message);
    if (err)
        snprintf(err->name, sizeof(err->name), "%s",
                 timeout ? "APITimeoutError" : "APIConnectionError");
    return 1;
}

/* The wait before the next attempt in ms, or -1 to stop: the retry policy (retry.c) over
 * the answer's status and headers (none when `status` is 0). */
static long next_delay(inngest_ai_client *c, int attempt, const inngest_http_response *res,
                       int status, const char *should, const char *code) {
    struct ing_retry_in in = {
        .attempt = attempt,
        .max_retries = c->max_retries,
        .status = status,
        .retry_after_ms = status ? inngest_http_response_header(res, "retry-after-ms") : NULL,
        .retry_after = status ? inngest_http_response_header(res, "retry-after") : NULL,
        .should_retry = should,
        .error_code = code && *code ? code : NULL,
        .rand01 = c->random_fn(c->random_user),
        .now_s = (long)time(NULL)};
    return ing_retry_delay_ms(&in);
}

static int send_with_retries(inngest_ai_client *c, const char *path, json_t *body,
                             struct stream_ctx *sctx, inngest_http_response *res,
                             inngest_ai_call_info *info, inngest_error *err) {
    char url[2048];
    if (inngest_ai_client_url(c, path, url, sizeof(url)) < 0)
        return inngest_error_set(err, INNGEST_ECONFIG, "OPENAI_BASE_URL is too long");
    size_t payload_len;
    char *payload = ing_json_dumps(body, JSON_COMPACT, &payload_len);
    if (!payload)
        return inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    char auth[1024] = "", ua[64];
    inngest_header hdrs[5];
    size_t nh = model_headers(c, sctx != NULL, auth, sizeof(auth), ua, sizeof(ua), hdrs);
    int rc;
    inngest_ai_call_info local;
    if (!info)
        info = &local;
    memset(info, 0, sizeof(*info));
    info->retry_after_ms = -1;
    for (int attempt = 0;; attempt++) {
        inngest_http_response_cleanup(res);
        if (sctx)
            stream_reset(sctx);
        inngest_http_request req = {.method = "POST",
                                    .url = url,
                                    .headers = hdrs,
                                    .header_count = nh,
                                    .body = payload,
                                    .body_len = payload_len,
                                    .timeout_ms = c->timeout_ms,
                                    .on_body = sctx ? on_stream_body : NULL,
                                    .on_body_user = sctx};
        inngest_error terr;
        inngest_error_clear(&terr);
        info->attempts = attempt + 1;
        rc = c->transport->send(c->transport, &req, res, &terr);
        const char *should = NULL, *code = NULL;
        int status = 0;
        if (rc != INNGEST_OK) {
            if (!no_answer(rc, &terr, err, info))
                break;
            if (sctx && sctx->acc.deltas > 0)
                break; /* a half-delivered stream is never replayed */
        } else if (res->status >= 200 && res->status < 300) {
            note(info, res);
            rc = INNGEST_OK;
            break;
        } else {
            status = res->status;
            if (sctx) {
                /* The body went to the stream callback; hand the captured bytes back. */
                if (inngest_http_response_set_body(res, sctx->raw.data ? sctx->raw.data : "",
                                                   sctx->raw.len) != INNGEST_OK) {
                    rc = inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
                    break;
                }
            }
            rc = inngest_ai_error_from_response(res, err, info);
            should = inngest_http_response_header(res, "x-should-retry");
            code = info->error_code;
        }
        long delay = next_delay(c, attempt, res, status, should, code);
        if (delay < 0)
            break;
        if (delay > c->max_retry_wait_ms) {
            /* Too long to hold a worker thread: let the caller (Inngest) wait instead. */
            if (err && !err->retry_after[0])
                snprintf(err->retry_after, sizeof(err->retry_after), "%ld",
                         (delay + 999) / 1000);
            break;
        }
        c->sleep_fn(c->sleep_user, delay);
    }
    ing_free(payload);
    return rc;
}

/* A 2xx answer that cannot be read will not read better the next time: mark it final, as
 * the header promises (an {"error":…} object inside it keeps its own verdict). */
static void malformed_no_retry(int rc, inngest_error *err) {
    if (rc == INNGEST_EPARSE && err)
        err->no_retry = 1;
}

int inngest_ai_chat(inngest_ai_client *c, const inngest_ai_chat_request *req,
                    inngest_ai_chat_result *out, inngest_ai_call_info *info,
                    inngest_error *err) {
    memset(out, 0, sizeof(*out));
    json_t *body = inngest_ai_chat_body(c, req, 0, err);
    if (!body)
        return err ? err->code : INNGEST_EINVAL;
    inngest_http_response res = {0};
    int rc = send_with_retries(c, "chat/completions", body, NULL, &res, info, err);
    json_decref(body);
    if (rc == INNGEST_OK) {
        json_error_t jerr;
        json_t *answer = json_loadb(res.body, res.body_len, 0, &jerr);
        if (!answer) {
            rc = inngest_error_set(err, INNGEST_EPARSE,
                                   "the model server's answer is not JSON (%s)%s%s", jerr.text,
                                   info && info->request_id[0] ? " request id " : "",
                                   info ? info->request_id : "");
        } else {
            rc = inngest_ai_chat_parse(answer, out, err);
            json_decref(answer);
        }
        malformed_no_retry(rc, err);
    }
    inngest_http_response_cleanup(&res);
    return rc;
}

int inngest_ai_chat_stream(inngest_ai_client *c, const inngest_ai_chat_request *req,
                           inngest_ai_delta_fn on_delta, void *user, inngest_ai_chat_result *out,
                           inngest_ai_call_info *info, inngest_error *err) {
    memset(out, 0, sizeof(*out));
    json_t *body = inngest_ai_chat_body(c, req, 1, err);
    if (!body)
        return err ? err->code : INNGEST_EINVAL;
    struct stream_ctx s;
    memset(&s, 0, sizeof(s));
    s.on_delta = on_delta;
    s.user = user;
    ing_sse_init(&s.sse, on_sse_event, &s);
    inngest_http_response res = {0};
    int rc = send_with_retries(c, "chat/completions", body, &s, &res, info, err);
    json_decref(body);
    if (rc == INNGEST_OK && s.is_json) {
        /* The server ignored "stream": true and sent one chat.completion. */
        json_t *answer = json_loadb(s.raw.data ? s.raw.data : "", s.raw.len, 0, NULL);
        rc = answer ? inngest_ai_chat_parse(answer, out, err)
                    : inngest_error_set(err, INNGEST_EPARSE, "the model server's answer is "
                                                             "neither a stream nor JSON");
        json_decref(answer);
        malformed_no_retry(rc, err);
        if (rc == INNGEST_OK && on_delta && out->content[0] &&
            on_delta(user, out->content, strlen(out->content)))
            rc = inngest_error_set(err, INNGEST_EINVAL, "stopped by the caller");
    } else if (rc == INNGEST_OK) {
        if (!s.stopped && !s.acc.error && !s.parse_failed)
            ing_sse_finish(&s.sse);
        if (s.stopped) {
            rc = inngest_error_set(err, INNGEST_EINVAL, "stopped by the caller");
        } else if (s.acc.error) {
            rc = inngest_error_set(err, INNGEST_EUPSTREAM, "error inside the stream%s%s%s: %s",
                                   s.acc.err_type[0] ? " (" : "", s.acc.err_type,
                                   s.acc.err_type[0] ? ")" : "", s.acc.err_message);
            if (err) {
                snprintf(err->name, sizeof(err->name), "APIError");
                err->no_retry = !strcmp(s.acc.err_type, "invalid_request_error") ||
                                !strcmp(s.acc.err_code, "insufficient_quota");
            }
        } else if (s.parse_failed) {
            rc = inngest_error_set(err, INNGEST_EPARSE, "the stream carried a non-JSON event");
            malformed_no_retry(rc, err);
        } else if (!s.acc.done) {
            rc = inngest_error_set(err, INNGEST_EHTTP,
                                   "the stream ended without [DONE] after %d deltas",
                                   s.acc.deltas);
            if (err)
                snprintf(err->name, sizeof(err->name), "APIConnectionError");
        }
        if (rc == INNGEST_OK) {
            out->id = s.acc.id;
            out->model = s.acc.model;
            out->finish_reason = s.acc.finish_reason;
            s.acc.id = s.acc.model = s.acc.finish_reason = NULL;
            out->content = s.acc.content.data ? s.acc.content.data : ing_strdup("");
            s.acc.content.data = NULL;
            s.acc.content.len = s.acc.content.cap = 0;
            out->has_usage = s.acc.has_usage;
            out->usage.prompt_tokens = s.acc.prompt_tokens;
            out->usage.completion_tokens = s.acc.completion_tokens;
            out->usage.total_tokens = s.acc.total_tokens;
            if (!out->content)
                rc = inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
        }
    }
    if (rc != INNGEST_OK)
        inngest_ai_chat_result_cleanup(out);
    ing_sse_cleanup(&s.sse);
    ing_chat_stream_cleanup(&s.acc);
    ing_buf_cleanup(&s.raw);
    inngest_http_response_cleanup(&res);
    return rc;
}

/* Estimated tokens of a text: about 4 bytes per token in English; 3 keeps a margin for
 * code and other languages so a batch stays under the API's per-request total. */
static size_t est_tokens(const char *s) {
    return strlen(s) / 3 + 1;
}

int inngest_ai_embed(inngest_ai_client *c, const char *const *texts, size_t n, int dim,
                     float *out, int *dim_out, inngest_ai_call_info *info, inngest_error *err) {
    if (n == 0)
        return inngest_error_set(err, INNGEST_EINVAL, "nothing to embed");
    size_t start = 0;
    int attempts = 0;
    while (start < n) {
        size_t end = start, tokens = 0;
        while (end < n && end - start < INNGEST_AI_EMBED_MAX_INPUTS) {
            size_t t = est_tokens(texts[end] ? texts[end] : "");
            if (end > start && tokens + t > INNGEST_AI_EMBED_MAX_TOKENS)
                break;
            tokens += t;
            end++;
        }
        json_t *body = inngest_ai_embeddings_body(c, texts + start, end - start, err);
        if (!body)
            return err ? err->code : INNGEST_EINVAL;
        inngest_http_response res = {0};
        int rc = send_with_retries(c, "embeddings", body, NULL, &res, info, err);
        json_decref(body);
        if (info)
            attempts += info->attempts;
        if (rc == INNGEST_OK) {
            json_error_t jerr;
            json_t *answer = json_loadb(res.body, res.body_len, 0, &jerr);
            rc = answer ? inngest_ai_embeddings_parse(answer, end - start, dim,
                                                      out + start * (size_t)(dim ? dim : 0),
                                                      &dim, err)
                        : inngest_error_set(err, INNGEST_EPARSE,
                                            "the embeddings answer is not JSON (%s)", jerr.text);
            json_decref(answer);
            malformed_no_retry(rc, err);
        }
        inngest_http_response_cleanup(&res);
        if (rc != INNGEST_OK) {
            if (info)
                info->attempts = attempts;
            return rc;
        }
        start = end;
    }
    if (info)
        info->attempts = attempts;
    if (dim_out)
        *dim_out = dim;
    return INNGEST_OK;
}
