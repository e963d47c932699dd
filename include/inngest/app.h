/* SPDX-License-Identifier: MIT */
/*
 * An app: configuration, its functions, and the serve endpoint.
 *
 * inngest_app_handle() is the whole serve protocol as a pure function from a request to a
 * response: introspection (GET), sync (PUT), and function calls (POST). A web server
 * adapter only copies fields in and out (see inngest/server.h for the built-in one).
 *
 * Lifetime: create the app, add every function, then call inngest_app_freeze(); from then
 * on the app is read-only and inngest_app_handle() may run on many threads at once.
 */
#ifndef INNGEST_APP_H
#define INNGEST_APP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "inngest/error.h"
#include "inngest/export.h"
#include "inngest/function.h"
#include "inngest/http.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct inngest_app inngest_app;

typedef enum inngest_mode {
    INNGEST_MODE_FROM_ENV = 0, /* INNGEST_DEV decides; unset means cloud */
    INNGEST_MODE_DEV,
    INNGEST_MODE_CLOUD,
} inngest_mode;

/*
 * Options. Zero-initialise, then set what you need: every string left NULL is read from
 * the environment variable named beside it, then falls back to the default.
 * Every string is copied.
 */
typedef struct inngest_app_opts {
    const char *app_id;               /* INNGEST_APP_ID, default "inngest-c-app" */
    inngest_mode mode;                /* INNGEST_DEV (boolean or dev server URL) */
    const char *signing_key;          /* INNGEST_SIGNING_KEY */
    const char *signing_key_fallback; /* INNGEST_SIGNING_KEY_FALLBACK */
    const char *event_key;            /* INNGEST_EVENT_KEY */
    const char *env;                  /* INNGEST_ENV (branch environment name) */
    const char *base_url;             /* INNGEST_BASE_URL */
    const char *api_base_url;         /* INNGEST_API_BASE_URL */
    const char *event_api_base_url;   /* INNGEST_EVENT_API_BASE_URL */
    const char *serve_origin;         /* INNGEST_SERVE_ORIGIN, e.g. https://myapp.com */
    const char *serve_path;           /* INNGEST_SERVE_PATH, e.g. /api/inngest */
    int allow_in_band_sync;           /* INNGEST_ALLOW_IN_BAND_SYNC: 0 = env/default (on),
                                         1 = on, -1 = off */
    size_t max_body_bytes;            /* call bodies above this get 413; 0 = 16 MiB */
    const char *framework;            /* X-Inngest-Framework, default "civetweb" */
    /* Environment lookup; NULL means getenv(). Tests pass their own. */
    const char *(*getenv_fn)(void *user, const char *name);
    void *getenv_user;
    /* Wall clock in milliseconds since the epoch; NULL means the system clock. */
    int64_t (*now_ms_fn)(void *user);
    void *now_user;
    /* Outbound HTTP; NULL means a libcurl transport owned by the app. When set, the
     * caller keeps ownership and must keep it alive until the app is destroyed. */
    inngest_transport *transport;
    /* Checkpointing of step.run bodies for every function (see inngest/function.h); mode 0
     * reads INNGEST_CHECKPOINTING (boolean, default on). */
    inngest_checkpoint_opts checkpointing;
    /* Waits between checkpoint retries; NULL means nanosleep. Tests pass their own. */
    void (*sleep_ms_fn)(void *user, int64_t ms);
    void *sleep_user;
} inngest_app_opts;

/* Creates an app. Returns NULL and fills `err` on bad configuration (for example an
 * INNGEST_DEV value that is neither a boolean nor a URL). */
INNGEST_API INNGEST_NODISCARD inngest_app *inngest_app_create(const inngest_app_opts *opts,
                                                              inngest_error *err);

/* Frees the app and every function added to it. NULL is a no-op. */
INNGEST_API void inngest_app_destroy(inngest_app *app);

/* Adds a function. Steals `fn`, even on failure. Fails with INNGEST_EINVAL when the id is
 * taken or the app is frozen. */
INNGEST_API INNGEST_NODISCARD int inngest_app_add_function(inngest_app *app, inngest_function *fn);

/* Makes the app read-only; required before inngest_app_handle(). */
INNGEST_API void inngest_app_freeze(inngest_app *app);

/*
 * Serves one request of the Inngest protocol. `res` must be zeroed; it is always filled
 * (status, headers, JSON body), even for bad input. Returns INNGEST_OK, or a negative code
 * only when memory ran out (then `res` holds a 500).
 * Thread-safety: safe to call concurrently on a frozen app.
 */
INNGEST_API int
inngest_app_handle(inngest_app *app, const inngest_http_request *req, inngest_http_response *res);

/*
 * The part of inngest_app_handle() that needs no body, for adapters to call once the
 * headers are in and before reading the body (`req->body` is ignored). In cloud mode a
 * call (POST) or an in-band sync whose X-Inngest-Signature is missing, malformed or
 * outside the 5-minute window gets its 401 here, and any call or sync gets the 500 that
 * says the signing key is not set, so an unauthenticated body is never buffered or parsed.
 * Returns 1 when `res` (zeroed on entry) holds the final answer (the observer has run; do
 * not call inngest_app_handle()), or 0 when the request goes on to inngest_app_handle()
 * as usual. The answer is the one inngest_app_handle() would give. Thread-safe like it.
 */
INNGEST_API int inngest_app_precheck(inngest_app *app, const inngest_http_request *req,
                                     inngest_http_response *res);

/* Sends events through the event API: one event object or an array (borrowed). On
 * success `*ids_out` (optional) receives a new reference to the array of event ids.
 * Retries network failures and 5xx answers with the same X-Inngest-Event-Id-Seed, so
 * the server does not create duplicates. */
INNGEST_API INNGEST_NODISCARD int inngest_app_send_events(inngest_app *app, json_t *events,
                                                          json_t **ids_out, inngest_error *err);

/* Fetches `GET {api}{path}` from the Inngest REST API with the app's credentials.
 * On success `*body_out` is a new reference to the parsed JSON answer. */
INNGEST_API INNGEST_NODISCARD int inngest_app_api_get(inngest_app *app, const char *path,
                                                      json_t **body_out, inngest_error *err);

/* Read-only facts, borrowed from the app. */
INNGEST_API const char *inngest_app_id(const inngest_app *app);
INNGEST_API int inngest_app_is_dev(const inngest_app *app);
INNGEST_API int inngest_app_has_signing_key(const inngest_app *app);
INNGEST_API const char *inngest_app_api_base_url(const inngest_app *app);
INNGEST_API const char *inngest_app_event_api_base_url(const inngest_app *app);
/* INNGEST_SERVE_ORIGIN (or the option), normalised; NULL when not configured. */
INNGEST_API const char *inngest_app_serve_origin(const inngest_app *app);
INNGEST_API inngest_transport *inngest_app_transport(const inngest_app *app);
/* Number of function configs sent on sync (onFailure handlers count as their own). */
INNGEST_API size_t inngest_app_function_count(const inngest_app *app);
/* The composite id of the i-th config, or NULL when out of range. */
INNGEST_API const char *inngest_app_function_slug(const inngest_app *app, size_t i);

/* Builds the "functions" array of the register payload for an app served at `app_url`.
 * Returns a new reference, or NULL when memory runs out. */
INNGEST_API json_t *inngest_app_function_configs(const inngest_app *app, const char *app_url);

/* Observation hook, called after each request handled by inngest_app_handle(), for
 * metrics. `kind` is "introspect", "sync", "call", "probe" or "error"; `ops` is the first
 * op name of a 206 ("StepRun", "Sleep", …) or NULL. May run on any thread. */
typedef void (*inngest_observer_fn)(void *user, const char *kind, const char *function_slug,
                                    int status, const char *ops);
INNGEST_API void inngest_app_set_observer(inngest_app *app, inngest_observer_fn fn, void *user);

/* One-time process set-up of the libraries libinngest uses (libcurl). Call it from main
 * before starting threads. Returns INNGEST_OK or INNGEST_EINTERNAL. */
INNGEST_API INNGEST_NODISCARD int inngest_global_init(void);
INNGEST_API void inngest_global_cleanup(void);

#ifdef __cplusplus
}
#endif

#endif /* INNGEST_APP_H */
