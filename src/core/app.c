/* SPDX-License-Identifier: MIT */
/* The app: lifecycle, registry and read-only accessors. */
#include "fmacros.h"

#include "core/alloc.h"
#include "core/app.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/function.h"
#include "core/sig.h"

static int64_t system_now_ms(void *user) {
    (void)user;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ing_app_now_ms(const inngest_app *app) {
    return app->now_ms_fn(app->now_user);
}

static void system_sleep_ms(void *user, int64_t ms) {
    (void)user;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

void ing_app_sleep_ms(const inngest_app *app, int64_t ms) {
    if (ms > 0)
        app->sleep_ms_fn(app->sleep_user, ms);
}

/* "Bearer <hashed key>" and the 12-character hash shown by introspection. */
static int hash_key(const char *key, char *bearer, size_t blen, char short_hash[16]) {
    char hashed[140];
    if (!key || !*key)
        return INNGEST_OK;
    if (strlen(key) > 100 || ing_sig_hash_key(key, hashed, sizeof(hashed)) != INNGEST_OK)
        return INNGEST_ECONFIG;
    snprintf(bearer, blen, "Bearer %s", hashed);
    snprintf(short_hash, 16, "%.12s", hashed + ing_sig_prefix_len(key));
    return INNGEST_OK;
}

inngest_app *ing_app_create(const inngest_app_opts *opts, ing_transport_factory default_transport,
                           inngest_error *err) {
    inngest_app *app = ing_calloc(1, sizeof(*app));
    if (!app) {
        inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
        return NULL;
    }
    if (ing_config_load(&app->cfg, opts, err) != INNGEST_OK) {
        ing_free(app);
        return NULL;
    }
    if (hash_key(app->cfg.signing_key, app->bearer, sizeof(app->bearer),
                 app->signing_key_hash) ||
        hash_key(app->cfg.signing_key_fallback, app->bearer_fallback,
                 sizeof(app->bearer_fallback), app->signing_key_fallback_hash)) {
        inngest_error_set(err, INNGEST_ECONFIG, "INNGEST_SIGNING_KEY is too long");
        inngest_app_destroy(app);
        return NULL;
    }
    if (app->cfg.event_key)
        ing_sha256_hex(app->cfg.event_key, strlen(app->cfg.event_key), app->event_key_hash);
    app->now_ms_fn = opts && opts->now_ms_fn ? opts->now_ms_fn : system_now_ms;
    app->now_user = opts ? opts->now_user : NULL;
    app->sleep_ms_fn = opts && opts->sleep_ms_fn ? opts->sleep_ms_fn : system_sleep_ms;
    app->sleep_user = opts ? opts->sleep_user : NULL;
    if (opts && opts->transport) {
        app->transport = opts->transport;
    } else if (default_transport) {
        app->transport = default_transport(err);
        app->owns_transport = 1;
        if (!app->transport) {
            inngest_app_destroy(app);
            return NULL;
        }
    }
    return app;
}

void inngest_app_destroy(inngest_app *app) {
    if (!app)
        return;
    for (size_t i = 0; i < app->nfns; i++)
        inngest_function_destroy(app->fns[i]);
    ing_free(app->fns);
    for (size_t i = 0; i < app->nentries; i++)
        ing_free(app->entries[i].slug);
    ing_free(app->entries);
    if (app->owns_transport)
        inngest_transport_destroy(app->transport);
    ing_config_cleanup(&app->cfg);
    ing_free(app);
}

static int add_entry(inngest_app *app, inngest_function *fn, int failure) {
    char *slug = ing_function_slug(app->cfg.app_id, fn->id, failure);
    struct ing_fn_entry *e = ing_realloc(app->entries, (app->nentries + 1) * sizeof(*e));
    if (!slug || !e) {
        ing_free(slug);
        if (e)
            app->entries = e;
        return INNGEST_ENOMEM;
    }
    app->entries = e;
    e[app->nentries].slug = slug;
    e[app->nentries].fn = fn;
    e[app->nentries].failure = failure;
    app->nentries++;
    return INNGEST_OK;
}

int inngest_app_add_function(inngest_app *app, inngest_function *fn) {
    if (!fn)
        return INNGEST_EINVAL;
    if (app->frozen) {
        inngest_function_destroy(fn);
        return INNGEST_EINVAL;
    }
    for (size_t i = 0; i < app->nfns; i++) {
        if (strcmp(app->fns[i]->id, fn->id) == 0) {
            inngest_function_destroy(fn);
            return INNGEST_EINVAL;
        }
    }
    if (app->nfns == app->fns_cap) {
        size_t cap = app->fns_cap ? app->fns_cap * 2 : 16;
        inngest_function **f = ing_realloc(app->fns, cap * sizeof(*f));
        if (!f) {
            inngest_function_destroy(fn);
            return INNGEST_ENOMEM;
        }
        app->fns = f;
        app->fns_cap = cap;
    }
    app->fns[app->nfns++] = fn;
    int rc = add_entry(app, fn, 0);
    if (!rc && fn->on_failure)
        rc = add_entry(app, fn, 1);
    return rc;
}

static int entry_cmp(const void *a, const void *b) {
    return strcmp(((const struct ing_fn_entry *)a)->slug, ((const struct ing_fn_entry *)b)->slug);
}

void inngest_app_freeze(inngest_app *app) {
    if (app->frozen)
        return;
    if (app->nentries > 1) /* entries is NULL in an app without functions */
        qsort(app->entries, app->nentries, sizeof(*app->entries), entry_cmp);
    app->frozen = 1;
}

const struct ing_fn_entry *ing_app_find(const inngest_app *app, const char *slug) {
    struct ing_fn_entry key = {.slug = (char *)slug};
    if (!app->nentries) /* bsearch's pointer must not be NULL, even for 0 elements */
        return NULL;
    return bsearch(&key, app->entries, app->nentries, sizeof(key), entry_cmp);
}

const char *inngest_app_id(const inngest_app *app) {
    return app->cfg.app_id;
}

int inngest_app_is_dev(const inngest_app *app) {
    return app->cfg.dev;
}

int inngest_app_has_signing_key(const inngest_app *app) {
    return app->cfg.signing_key != NULL;
}

const char *inngest_app_serve_origin(const inngest_app *app) {
    return app->cfg.serve_origin;
}

const char *inngest_app_api_base_url(const inngest_app *app) {
    return app->cfg.api_base_url;
}

const char *inngest_app_event_api_base_url(const inngest_app *app) {
    return app->cfg.event_api_base_url;
}

inngest_transport *inngest_app_transport(const inngest_app *app) {
    return app->transport;
}

size_t inngest_app_function_count(const inngest_app *app) {
    return app->nentries;
}

const char *inngest_app_function_slug(const inngest_app *app, size_t i) {
    return i < app->nentries ? app->entries[i].slug : NULL;
}

json_t *inngest_app_function_configs(const inngest_app *app, const char *app_url) {
    json_t *out = json_array();
    for (size_t i = 0; out && i < app->nfns; i++) {
        if (ing_function_append_configs(app->fns[i], app->cfg.app_id, app_url, out)) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

void inngest_app_set_observer(inngest_app *app, inngest_observer_fn fn, void *user) {
    app->observer = fn;
    app->observer_user = user;
}
