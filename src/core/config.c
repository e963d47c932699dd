/* SPDX-License-Identifier: MIT */
/* Configuration from options and environment variables. */
#include "fmacros.h"

#include "core/alloc.h"
#include "core/config.h"
#include "core/sig.h"
#include "inngest/env.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *env_get(const inngest_app_opts *o, const char *name) {
    return inngest_env_get(o->getenv_fn, o->getenv_user, name);
}

/* Copies `s` without surrounding whitespace. */
static char *dup_trim(const char *s) {
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    return ing_strndup(s, n);
}

/* Normalises a base URL: adds http:// when there is no scheme, drops trailing slashes,
 * and checks there is a host. Returns malloc'd text or NULL when invalid. */
static char *normalize_url(const char *in) {
    char *t = dup_trim(in);
    if (!t)
        return NULL;
    char *u = t;
    if (!strstr(t, "://")) {
        size_t n = strlen(t) + 8;
        u = ing_malloc(n);
        if (u)
            snprintf(u, n, "http://%s", t);
        ing_free(t);
        if (!u)
            return NULL;
    }
    const char *host = strstr(u, "://") + 3;
    int scheme_ok = !strncmp(u, "http://", 7) || !strncmp(u, "https://", 8);
    if (!scheme_ok || !*host || *host == '/' || strpbrk(u, " \t\r\n")) {
        ing_free(u);
        return NULL;
    }
    size_t n = strlen(u);
    while (n > (size_t)(host - u) && u[n - 1] == '/')
        u[--n] = '\0';
    return u;
}

void ing_config_cleanup(struct ing_config *c) {
    ing_free(c->app_id);
    ing_free(c->signing_key);
    ing_free(c->signing_key_fallback);
    ing_free(c->event_key);
    ing_free(c->env);
    ing_free(c->api_base_url);
    ing_free(c->event_api_base_url);
    ing_free(c->serve_origin);
    ing_free(c->serve_path);
    ing_free(c->framework);
    memset(c, 0, sizeof(*c));
}

/* Picks the option, else the variable, else NULL, and copies it trimmed. */
static int pick(const inngest_app_opts *o, const char *opt, const char *var, char **out) {
    const char *v = opt && *opt ? opt : env_get(o, var);
    *out = NULL;
    if (!v)
        return INNGEST_OK;
    *out = dup_trim(v);
    return *out ? INNGEST_OK : INNGEST_ENOMEM;
}

static int pick_url(const inngest_app_opts *o, const char *opt, const char *var, char **out,
                    inngest_error *err) {
    const char *v = opt && *opt ? opt : env_get(o, var);
    *out = NULL;
    if (!v)
        return INNGEST_OK;
    *out = normalize_url(v);
    if (!*out)
        return inngest_error_set(err, INNGEST_ECONFIG, "%s is not a valid http(s) URL", var);
    return INNGEST_OK;
}

/* A signing key is "signkey-<env>-" and an even number of hex digits; anything else (an
 * unset template variable leaves "signkey-prod-") would sign with an empty or wrong key. */
static int check_signing_key(const char *key, const char *var, inngest_error *err) {
    if (!key)
        return INNGEST_OK;
    const char *hex = key + ing_sig_prefix_len(key);
    size_t n = strlen(hex);
    int ok = n > 0 && n % 2 == 0;
    for (size_t i = 0; ok && i < n; i++)
        ok = isxdigit((unsigned char)hex[i]);
    if (ok)
        return INNGEST_OK;
    return inngest_error_set(err, INNGEST_ECONFIG,
                             "%s must be signkey-<env>- followed by the key's hex digits; the "
                             "value set has %s",
                             var,
                             n == 0 ? "nothing after the prefix"
                                    : "characters that are not hex digits, or an odd count");
}

int ing_config_load(struct ing_config *c, const inngest_app_opts *opts, inngest_error *err) {
    static const inngest_app_opts none;
    const inngest_app_opts *o = opts ? opts : &none;
    char *dev_url = NULL, *base = NULL, *api = NULL, *evapi = NULL;
    int rc;
    memset(c, 0, sizeof(*c));

    /* Mode: explicit option, else INNGEST_DEV as a boolean or a dev server URL. */
    c->dev = 0;
    if (o->mode == INNGEST_MODE_DEV) {
        c->dev = 1;
    } else if (o->mode == INNGEST_MODE_FROM_ENV) {
        const char *d = env_get(o, "INNGEST_DEV");
        if (d) {
            int b = ing_parse_bool(d);
            if (b >= 0) {
                c->dev = b;
            } else {
                /* Only a URL with its scheme: "no" or "off" must not become http://no
                 * and quietly turn signature checks off. */
                dev_url = strstr(d, "://") ? normalize_url(d) : NULL;
                if (!dev_url) {
                    rc = inngest_error_set(err, INNGEST_ECONFIG,
                                           "INNGEST_DEV must be true, false, 1, 0 or the dev "
                                           "server's URL with its scheme (e.g. "
                                           "http://localhost:8288); \"%.40s\" is none of "
                                           "these",
                                           d);
                    goto fail;
                }
                c->dev = 1;
            }
        }
    }

    if ((rc = pick(o, o->app_id, "INNGEST_APP_ID", &c->app_id)) ||
        (rc = pick(o, o->signing_key, "INNGEST_SIGNING_KEY", &c->signing_key)) ||
        (rc = pick(o, o->signing_key_fallback, "INNGEST_SIGNING_KEY_FALLBACK",
                   &c->signing_key_fallback)) ||
        (rc = pick(o, o->event_key, "INNGEST_EVENT_KEY", &c->event_key)) ||
        (rc = pick(o, o->env, "INNGEST_ENV", &c->env)) ||
        (rc = pick_url(o, o->serve_origin, "INNGEST_SERVE_ORIGIN", &c->serve_origin, err)) ||
        (rc = pick(o, o->serve_path, "INNGEST_SERVE_PATH", &c->serve_path)) ||
        (rc = pick_url(o, o->base_url, "INNGEST_BASE_URL", &base, err)) ||
        (rc = pick_url(o, o->api_base_url, "INNGEST_API_BASE_URL", &api, err)) ||
        (rc = pick_url(o, o->event_api_base_url, "INNGEST_EVENT_API_BASE_URL", &evapi, err)))
        goto fail;
    if ((rc = check_signing_key(c->signing_key, "INNGEST_SIGNING_KEY", err)) ||
        (rc = check_signing_key(c->signing_key_fallback, "INNGEST_SIGNING_KEY_FALLBACK", err)))
        goto fail;
    if (!c->app_id && !(c->app_id = ing_strdup(ING_DEFAULT_APP_ID))) {
        rc = INNGEST_ENOMEM;
        goto fail;
    }
    if (c->serve_path && c->serve_path[0] != '/') {
        rc = inngest_error_set(err, INNGEST_ECONFIG, "INNGEST_SERVE_PATH must start with '/'");
        goto fail;
    }

    /* Base URLs: specific variable, then INNGEST_BASE_URL, then the INNGEST_DEV URL, then
     * the default of the mode. */
    const char *dflt_api = c->dev ? ING_DEFAULT_DEV_URL : ING_DEFAULT_API_URL;
    const char *dflt_ev = c->dev ? ING_DEFAULT_DEV_URL : ING_DEFAULT_EVENT_API_URL;
    c->api_base_url = ing_strdup(api ? api : base ? base : dev_url ? dev_url : dflt_api);
    c->event_api_base_url = ing_strdup(evapi ? evapi : base ? base : dev_url ? dev_url : dflt_ev);
    c->framework = ing_strdup(o->framework ? o->framework : "civetweb");
    if (!c->api_base_url || !c->event_api_base_url || !c->framework) {
        rc = INNGEST_ENOMEM;
        goto fail;
    }

    if (o->allow_in_band_sync) {
        c->allow_in_band_sync = o->allow_in_band_sync > 0;
    } else if ((rc = inngest_env_bool(o->getenv_fn, o->getenv_user, "INNGEST_ALLOW_IN_BAND_SYNC", 1,
                                      &c->allow_in_band_sync, err))) {
        goto fail;
    }
    c->max_body_bytes = o->max_body_bytes ? o->max_body_bytes : ING_DEFAULT_MAX_BODY;

    const inngest_checkpoint_opts *cp = &o->checkpointing;
    if (cp->buffered_steps < 0) {
        rc = inngest_error_set(err, INNGEST_ECONFIG, "checkpointing.buffered_steps is negative");
        goto fail;
    }
    c->checkpoint = *cp;
    if (!cp->mode) {
        int on;
        if ((rc = inngest_env_bool(o->getenv_fn, o->getenv_user, "INNGEST_CHECKPOINTING", 1, &on,
                                   err)))
            goto fail;
        c->checkpoint.mode = on ? 1 : -1;
    }
    if (!c->checkpoint.max_runtime_ms)
        c->checkpoint.max_runtime_ms = ING_DEFAULT_CHECKPOINT_MAX_RUNTIME_MS;
    if (!c->checkpoint.buffered_steps)
        c->checkpoint.buffered_steps = 1;
    if (!c->checkpoint.max_interval_ms)
        c->checkpoint.max_interval_ms = -1;
    ing_free(dev_url);
    ing_free(base);
    ing_free(api);
    ing_free(evapi);
    return INNGEST_OK;

fail:
    if (rc == INNGEST_ENOMEM)
        inngest_error_set(err, rc, "out of memory");
    ing_free(dev_url);
    ing_free(base);
    ing_free(api);
    ing_free(evapi);
    ing_config_cleanup(c);
    return rc;
}
