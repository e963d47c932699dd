/* SPDX-License-Identifier: MIT */
/*
 * The app object shared by the core modules: configuration, the function registry, the
 * transport and the clock. Includes jansson and the public headers only.
 */
#ifndef ING_APP_H
#define ING_APP_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "inngest/app.h"

/* One served config: a function, or the onFailure handler of one. */
struct ing_fn_entry {
    char *slug; /* "<app id>-<id>" or "<app id>-<id>-failure" */
    inngest_function *fn;
    int failure;
};

struct inngest_app {
    struct ing_config cfg;
    inngest_function **fns; /* owned, in registration order */
    size_t nfns, fns_cap;
    struct ing_fn_entry *entries; /* sorted by slug once frozen */
    size_t nentries;
    int frozen;
    inngest_transport *transport;
    int owns_transport;
    int64_t (*now_ms_fn)(void *user);
    void *now_user;
    void (*sleep_ms_fn)(void *user, int64_t ms);
    void *sleep_user;
    inngest_observer_fn observer;
    void *observer_user;
    /* Precomputed from the keys, so no request ever re-hashes them. */
    char bearer[160];          /* "Bearer …" for the API; empty without a key */
    char bearer_fallback[160]; /* same for the fallback key */
    char signing_key_hash[16]; /* first 12 hex of the hashed key, for introspection */
    char signing_key_fallback_hash[16];
    char event_key_hash[65];
};

/* Makes an outbound transport; the app owns and destroys what it returns. */
typedef inngest_transport *(*ing_transport_factory)(inngest_error *err);

/* inngest_app_create() without a built-in transport: when opts->transport is NULL the app
 * owns `default_transport(err)`, or has no transport at all when that is NULL too (then
 * every outbound call fails with INNGEST_ECONFIG). The core calls no adapter itself;
 * src/net/sdk.c passes the libcurl transport. */
inngest_app *ing_app_create(const inngest_app_opts *opts, ing_transport_factory default_transport,
                            inngest_error *err);

int64_t ing_app_now_ms(const inngest_app *app);
/* Waits `ms` through the app's sleep function (nanosleep unless a test injected one). */
void ing_app_sleep_ms(const inngest_app *app, int64_t ms);

/* Finds a served config by composite id; NULL when unknown. The app must be frozen. */
const struct ing_fn_entry *ing_app_find(const inngest_app *app, const char *slug);

/* Outbound call to the Inngest API with the app's SDK headers and bearer token, retried
 * once with the fallback key on 401/403. `extra` headers are added as given. */
int ing_api_call(inngest_app *app, const char *method, const char *url, const char *body,
                 size_t len, const inngest_header *extra, size_t nextra,
                 inngest_http_response *res, inngest_error *err);

/* Fetches the run's events and saved steps (use_api). New references on success. */
int ing_api_fetch_run_state(inngest_app *app, const char *run_id, json_t **events,
                            json_t **steps, inngest_error *err);

#endif
