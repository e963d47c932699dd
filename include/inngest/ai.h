/* SPDX-License-Identifier: MIT */
/*
 * An OpenAI-compatible model client: Chat Completions (plain and streaming) and
 * Embeddings, for api.openai.com and any server that speaks the same API (Ollama, vLLM,
 * llama.cpp, LM Studio, Azure OpenAI).
 *
 * Outbound HTTP goes through an inngest_transport (libcurl by default), so tests can plug
 * in a fake. Request builders and response parsers are pure functions over JSON: the
 * handle-chat function uses them to build the body of an inngest_step_ai_infer() call and
 * to read its result, with no socket involved.
 *
 * Retries follow the official SDKs: 408, 409, 429 and 5xx answers and connection failures
 * are retried (2 retries by default), honouring retry-after-ms / retry-after, otherwise
 * with exponential backoff and jitter; a 429 whose code is insufficient_quota is never
 * retried. A wait longer than max_retry_wait_ms is not slept in process: the call fails
 * with err->retry_after set, so an Inngest step can hand the delay to the server.
 *
 * Errors: every call fills an inngest_error. err->no_retry is set when retrying cannot
 * help (400, 401, 403, 404, 422, insufficient_quota, malformed answers of a 200), so a
 * step body can return the error as is. The provider's message and request id are in
 * err->message; never the API key.
 *
 * Thread-safety: a client is read-only after creation; every call may run on many
 * threads at once (the transport must allow it, as the libcurl one does).
 */
#ifndef INNGEST_AI_H
#define INNGEST_AI_H

#include <stddef.h>

#include <jansson.h>

#include "inngest/error.h"
#include "inngest/export.h"
#include "inngest/http.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct inngest_ai_client inngest_ai_client;

/*
 * Client options. Zero-initialise, then set what you need. Each string left NULL, and
 * each number left 0, is read from the environment variable named beside it, then falls
 * back to the default. Every string is copied.
 */
typedef struct inngest_ai_opts {
    const char *base_url;        /* OPENAI_BASE_URL, default https://api.openai.com/v1 */
    const char *api_key;         /* OPENAI_API_KEY; empty means "no key" (offline mode) */
    const char *chat_model;      /* OPENAI_MODEL, default gpt-4o-mini */
    const char *embedding_model; /* OPENAI_EMBEDDING_MODEL, default text-embedding-3-small */
    /* OPENAI_TOKEN_LIMIT_FIELD: "max_completion_tokens" (default for api.openai.com) or
     * "max_tokens" (default for every other base URL: Ollama, vLLM, llama.cpp). */
    const char *token_limit_field;
    const char *temperature; /* OPENAI_TEMPERATURE, e.g. "0.2"; unset: not sent */
    const char *auth_style;  /* OPENAI_AUTH_STYLE: "bearer" (default) or "api-key" (Azure) */
    const char *api_version; /* OPENAI_API_VERSION: adds ?api-version=… (classic Azure) */
    /* OPENAI_EMBEDDING_ENCODING: "base64" (default for api.openai.com, 2.3x smaller) or
     * "float" (default elsewhere). Answers in either form are always accepted. */
    const char *embedding_encoding;
    int embedding_dimensions; /* OPENAI_EMBEDDING_DIMENSIONS: sent when > 0 */
    int max_tokens;           /* OPENAI_MAX_TOKENS: token cap sent when > 0 */
    int max_retries;          /* OPENAI_MAX_RETRIES, default 2; -1 means no retries */
    long timeout_ms;          /* OPENAI_TIMEOUT_MS, default 120000: the whole request, or
                                 for a streamed answer the longest wait for more bytes */
    long max_retry_wait_ms;   /* OPENAI_MAX_RETRY_WAIT_MS, default 8000 */
    int stream_usage;         /* stream_options.include_usage: 0 = on, -1 = off */
    /* Environment lookup; NULL means getenv(). */
    const char *(*getenv_fn)(void *user, const char *name);
    void *getenv_user;
    /* Waiting between retries; NULL means nanosleep. Tests record the delays. */
    void (*sleep_fn)(void *user, long ms);
    void *sleep_user;
    /* Jitter source in [0, 1); NULL means a per-thread PRNG. */
    double (*random_fn)(void *user);
    void *random_user;
    /* Outbound HTTP; NULL means a libcurl transport owned by the client. When set, the
     * caller keeps ownership and keeps it alive until the client is destroyed. */
    inngest_transport *transport;
} inngest_ai_opts;

/* Creates a client. Returns NULL and fills `err` on a bad option (an unparsable number,
 * an unknown token-limit field or auth style, a base URL that is not http(s)). */
INNGEST_API inngest_ai_client *inngest_ai_client_create(const inngest_ai_opts *opts,
                                                        inngest_error *err);

/* Frees the client (and its transport when it owns one). NULL is a no-op. */
INNGEST_API void inngest_ai_client_destroy(inngest_ai_client *c);

/* Read-only facts. Strings are borrowed from the client. */
INNGEST_API int inngest_ai_client_has_key(const inngest_ai_client *c);
INNGEST_API const char *inngest_ai_client_base_url(const inngest_ai_client *c);
INNGEST_API const char *inngest_ai_client_api_key(const inngest_ai_client *c);
INNGEST_API const char *inngest_ai_client_chat_model(const inngest_ai_client *c);
INNGEST_API const char *inngest_ai_client_embedding_model(const inngest_ai_client *c);
INNGEST_API int inngest_ai_client_embedding_dimensions(const inngest_ai_client *c);

/* Writes "{base}/{path}[?api-version=…]" into `out`. Returns the length, or -1 when it
 * does not fit. `path` is e.g. "chat/completions". */
INNGEST_API int inngest_ai_client_url(const inngest_ai_client *c, const char *path, char *out,
                                      size_t size);

/* Extra request headers the client sends besides Content-Type (the auth header), as a JSON
 * object, for inngest_ai_infer_opts.headers when the auth style is not "bearer".
 * Returns a new reference. */
INNGEST_API json_t *inngest_ai_client_auth_headers(const inngest_ai_client *c);

/* ---- chat ------------------------------------------------------------------------------- */

typedef struct inngest_ai_message {
    const char *role;    /* "system", "user", "assistant" */
    const char *content; /* UTF-8 text */
} inngest_ai_message;

typedef struct inngest_ai_chat_request {
    const inngest_ai_message *messages;
    size_t message_count;
    const char *model; /* NULL: the client's chat model */
    int max_tokens;    /* > 0 overrides the client's cap */
    json_t *extra;     /* optional object merged into the body last (borrowed) */
} inngest_ai_chat_request;

typedef struct inngest_ai_usage {
    long prompt_tokens;
    long completion_tokens;
    long total_tokens;
} inngest_ai_usage;

/* The outcome of a chat call. Strings are owned, allocated through the SDK's allocator
 * (inngest_set_alloc_funcs); release with inngest_ai_chat_result_cleanup(), never free().
 * Zero-initialise before use. */
typedef struct inngest_ai_chat_result {
    char *id;
    char *model;
    char *content;       /* the assistant text ("" when the model sent none) */
    char *finish_reason; /* "stop", "length", … or NULL when a stream ended without one */
    char *refusal;       /* the refusal text, or NULL */
    inngest_ai_usage usage;
    int has_usage;
} inngest_ai_chat_result;

INNGEST_API void inngest_ai_chat_result_cleanup(inngest_ai_chat_result *r);

/* Per-call facts for logs and callers: filled by every network call when non-NULL. */
typedef struct inngest_ai_call_info {
    int attempts;         /* requests sent, retries included */
    int http_status;      /* status of the last answer, 0 when none arrived */
    char request_id[128]; /* x-request-id of the last answer, "" when absent */
    char error_type[64];  /* error.type of a failed answer */
    char error_code[64];  /* error.code of a failed answer */
    char error_param[64]; /* error.param of a failed answer */
    long retry_after_ms;  /* the server's retry-after of the last answer, -1 when absent */
} inngest_ai_call_info;

/*
 * Builds a Chat Completions request body. Pure. `stream` adds "stream": true (and
 * stream_options.include_usage unless disabled). Returns a new reference, or NULL with
 * `err` filled (no messages, a message without role or content, invalid UTF-8).
 */
INNGEST_API json_t *inngest_ai_chat_body(const inngest_ai_client *c,
                                         const inngest_ai_chat_request *req, int stream,
                                         inngest_error *err);

/*
 * Reads a chat.completion object (borrowed) into `out`. Pure and lenient: unknown keys are
 * ignored, content may be null. An {"error":…} object or a missing choices array gives
 * INNGEST_EUPSTREAM / INNGEST_EPARSE with the provider's message in `err`.
 */
INNGEST_API int inngest_ai_chat_parse(json_t *response, inngest_ai_chat_result *out,
                                      inngest_error *err);

/* Sends a chat completion and waits for the whole answer. */
INNGEST_API int inngest_ai_chat(inngest_ai_client *c, const inngest_ai_chat_request *req,
                                inngest_ai_chat_result *out, inngest_ai_call_info *info,
                                inngest_error *err);

/* Called for each piece of streamed assistant text; return non-zero to stop the stream
 * (the call then fails with INNGEST_EINVAL "stopped by the caller"). */
typedef int (*inngest_ai_delta_fn)(void *user, const char *text, size_t len);

/*
 * Streams a chat completion: each text delta goes to `on_delta` as it arrives, and `out`
 * receives the whole text, the finish reason and the usage chunk. A failure before the
 * first delta is retried like a plain call; after it, the call fails (never replays a
 * half-sent answer). An error object inside the stream fails with the provider's message;
 * a stream that ends without [DONE] fails with INNGEST_EHTTP (retriable).
 */
INNGEST_API int inngest_ai_chat_stream(inngest_ai_client *c, const inngest_ai_chat_request *req,
                                       inngest_ai_delta_fn on_delta, void *user,
                                       inngest_ai_chat_result *out, inngest_ai_call_info *info,
                                       inngest_error *err);

/* ---- embeddings ------------------------------------------------------------------------- */

/* The API's limits per request: 2048 inputs and 300,000 tokens. */
#define INNGEST_AI_EMBED_MAX_INPUTS 2048
#define INNGEST_AI_EMBED_MAX_TOKENS 300000

/* The dimension a known embedding model returns by default (text-embedding-3-small 1536,
 * -3-large 3072, ada-002 1536), or 0 when unknown. */
INNGEST_API int inngest_ai_embedding_model_dim(const char *model);

/* Builds an Embeddings request body for `n` texts. Pure. Returns a new reference, or NULL
 * with `err` filled (n == 0, an empty text, invalid UTF-8). */
INNGEST_API json_t *inngest_ai_embeddings_body(const inngest_ai_client *c,
                                               const char *const *texts, size_t n,
                                               inngest_error *err);

/*
 * Reads an embeddings answer (borrowed) into `out` (n * dim floats), matching items by
 * their "index". Accepts float arrays and base64 (little-endian float32). Pure. Fails with
 * INNGEST_EPARSE when an index is missing or repeated, and INNGEST_EMISMATCH when a vector
 * is not `dim` long (dim 0 accepts the first vector's length, returned in *dim_out).
 */
INNGEST_API int inngest_ai_embeddings_parse(json_t *response, size_t n, int dim, float *out,
                                            int *dim_out, inngest_error *err);

/*
 * Embeds `n` texts, in as many requests as the API's limits need, into `out`
 * (n * dim floats, in input order). `dim` 0 accepts the server's dimension (written to
 * *dim_out; `out` must then have room for n * the dimension of the model — use
 * inngest_ai_embedding_model_dim() or embed one text first).
 */
INNGEST_API int inngest_ai_embed(inngest_ai_client *c, const char *const *texts, size_t n,
                                 int dim, float *out, int *dim_out, inngest_ai_call_info *info,
                                 inngest_error *err);

/* ---- errors ----------------------------------------------------------------------------- */

/*
 * Turns a non-2xx answer into `err` (and `info` when non-NULL): code INNGEST_EUPSTREAM,
 * http_status, name ("RateLimitError", "AuthenticationError", …), the provider's message
 * with type, code and request id, no_retry for statuses retrying cannot fix, and
 * retry_after (whole seconds) when the server sent one. Pure.
 */
INNGEST_API int inngest_ai_error_from_response(const inngest_http_response *res,
                                               inngest_error *err, inngest_ai_call_info *info);

#ifdef __cplusplus
}
#endif

#endif /* INNGEST_AI_H */
