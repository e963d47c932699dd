/* SPDX-License-Identifier: MIT */
/*
 * Plain HTTP messages and the outbound transport interface.
 *
 * The serve core takes an inngest_http_request and fills an inngest_http_response; no
 * server library type crosses this boundary. Outbound calls (the Inngest API, the event
 * API, model servers) go through an inngest_transport, so tests can plug in a fake.
 */
#ifndef INNGEST_HTTP_H
#define INNGEST_HTTP_H

#include <stddef.h>

#include "inngest/error.h"
#include "inngest/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct inngest_header {
    const char *name;
    const char *value;
} inngest_header;

/* A request. Every pointer is borrowed from the caller for the duration of the call.
 * Inbound (serve): `url` is the request target ("/api/inngest?fnId=x&stepId=step").
 * Outbound (transport): `url` is absolute ("http://localhost:8288/fn/register"). */
typedef struct inngest_http_request {
    const char *method;
    const char *url;
    const inngest_header *headers;
    size_t header_count;
    const char *body; /* raw bytes, may contain NUL; NULL when body_len is 0 */
    size_t body_len;
    int is_tls; /* inbound only: the connection itself was TLS */
    /* Outbound only: whole-request timeout, 0 = transport default. For a streamed request
     * (on_body set) it bounds the silence instead: the transfer fails with INNGEST_ETIMEOUT
     * once no bytes moved for this long, however long the whole answer takes. */
    long timeout_ms;
    /* Outbound only, optional: when set, response body bytes are handed to this callback
     * as they arrive instead of being collected in the response. Returning non-zero aborts
     * the transfer. */
    int (*on_body)(void *user, const char *data, size_t len);
    void *on_body_user;
} inngest_http_request;

/* A response. Owns its header strings and body; release with
 * inngest_http_response_cleanup(). Zero-initialise before first use. */
typedef struct inngest_http_response {
    int status;
    inngest_header *headers; /* owned: each name and value is malloc'd */
    size_t header_count;
    size_t header_cap;
    char *body; /* owned, NUL-terminated for convenience (not counted in body_len) */
    size_t body_len;
} inngest_http_response;

/* Adds a header (copies both strings). Returns INNGEST_OK or INNGEST_ENOMEM. */
INNGEST_API INNGEST_NODISCARD int
inngest_http_response_add_header(inngest_http_response *res, const char *name, const char *value);

/* Replaces the value of header `name` (case-insensitive), adding it when absent. */
INNGEST_API INNGEST_NODISCARD int
inngest_http_response_set_header(inngest_http_response *res, const char *name, const char *value);

/* Removes every header named `name` (case-insensitive). */
INNGEST_API void inngest_http_response_remove_header(inngest_http_response *res, const char *name);

/* Sets the body to a copy of `len` bytes. Returns INNGEST_OK or INNGEST_ENOMEM. */
INNGEST_API INNGEST_NODISCARD int inngest_http_response_set_body(inngest_http_response *res,
                                                                 const char *data, size_t len);

/* Returns the first value of header `name` (case-insensitive), borrowed from `res`, or
 * NULL. */
INNGEST_API const char *inngest_http_response_header(const inngest_http_response *res,
                                                     const char *name);

/* Frees everything `res` owns and zeroes it. Safe on a zeroed response. */
INNGEST_API void inngest_http_response_cleanup(inngest_http_response *res);

/* Copies the percent-decoded value of query parameter `name` of `req->url` into `out`
 * (`out_len` bytes with the NUL; "+" is a space). Returns 1 when present ("?name" alone
 * is present and empty), 0 when absent, -1 when the value does not fit or is badly
 * percent-encoded (then `out` holds nothing to use). */
INNGEST_API int inngest_http_request_query(const inngest_http_request *req, const char *name,
                                           char *out, size_t out_len);

/* Copies the value of cookie `name` from the request's Cookie headers ("a=1; b=2") into
 * `out` (`out_len` bytes with the NUL), as sent: no decoding. Returns 1 when present, 0
 * when absent, -1 when the value does not fit. */
INNGEST_API int inngest_http_request_cookie(const inngest_http_request *req, const char *name,
                                            char *out, size_t out_len);

/* Returns the first value of header `name` (case-insensitive) in `req`, or NULL. */
INNGEST_API const char *inngest_http_request_header(const inngest_http_request *req,
                                                    const char *name);

/*
 * Outbound HTTP. Implementations embed this struct as their first member.
 * `send` performs one request and fills `res` (status, headers, body); it returns
 * INNGEST_OK whenever an HTTP response arrived, whatever its status, and a negative code
 * (INNGEST_EHTTP, INNGEST_ETIMEOUT) with `err` filled when none did.
 * Thread-safety: `send` may be called from several threads at once.
 */
typedef struct inngest_transport inngest_transport;
struct inngest_transport {
    int (*send)(inngest_transport *self, const inngest_http_request *req,
                inngest_http_response *res, inngest_error *err);
    void (*destroy)(inngest_transport *self);
};

/* Creates the libcurl transport. Returns NULL and fills `err` on failure.
 * Ownership: the caller destroys it with inngest_transport_destroy(). */
INNGEST_API INNGEST_NODISCARD inngest_transport *inngest_transport_curl_create(inngest_error *err);

/* Calls t->destroy. NULL is a no-op. */
INNGEST_API void inngest_transport_destroy(inngest_transport *t);

#ifdef __cplusplus
}
#endif

#endif /* INNGEST_HTTP_H */
