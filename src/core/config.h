/* SPDX-License-Identifier: MIT */
/*
 * App configuration: options first, then environment variables, then defaults.
 * Includes jansson and the public headers only.
 */
#ifndef ING_CONFIG_H
#define ING_CONFIG_H

#include <stddef.h>

#include "inngest/app.h"

#define ING_DEFAULT_APP_ID        "inngest-c-app"
#define ING_DEFAULT_DEV_URL       "http://localhost:8288"
#define ING_DEFAULT_API_URL       "https://api.inngest.com"
#define ING_DEFAULT_EVENT_API_URL "https://inn.gs"
#define ING_DEFAULT_MAX_BODY      (16u * 1024u * 1024u)

struct ing_config {
    char *app_id;
    int dev; /* 1 = dev mode (no signatures), 0 = cloud */
    char *signing_key;
    char *signing_key_fallback;
    char *event_key;
    char *env;
    char *api_base_url;       /* no trailing slash */
    char *event_api_base_url; /* no trailing slash */
    char *serve_origin;       /* NULL when not configured */
    char *serve_path;         /* NULL when not configured */
    int allow_in_band_sync;
    size_t max_body_bytes;
    char *framework;
    /* Checkpointing for every function, resolved: mode 1 or -1, the other fields set. */
    inngest_checkpoint_opts checkpoint;
};

#define ING_DEFAULT_CHECKPOINT_MAX_RUNTIME_MS 10000

/* Fills `cfg` from `opts` and the environment. On failure returns INNGEST_ECONFIG with a
 * message naming the variable, and leaves `cfg` empty. */
int ing_config_load(struct ing_config *cfg, const inngest_app_opts *opts, inngest_error *err);
void ing_config_cleanup(struct ing_config *cfg);

/* Parses a boolean environment value: returns 1 or 0, or -1 when it is not a boolean
 * ("true", "1", "false", "0", trimmed, any case). In env.c, with inngest_env_bool(). */
int ing_parse_bool(const char *s);

#endif
