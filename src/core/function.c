/* SPDX-License-Identifier: MIT */
/* Function definitions: builders and the register payload. */
#include "fmacros.h"

#include "core/alloc.h"
#include "core/function.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/http.h"

inngest_function *inngest_function_create(const char *id, inngest_handler_fn handler,
                                          inngest_error *err) {
    if (!id || !*id || !handler) {
        inngest_error_set(err, INNGEST_EINVAL, "a function needs an id and a handler");
        return NULL;
    }
    inngest_function *fn = ing_calloc(1, sizeof(*fn));
    if (!fn)
        goto oom;
    fn->id = ing_strdup(id);
    fn->name = ing_strdup(id);
    fn->triggers = json_array();
    fn->concurrency = json_array();
    fn->cancel = json_array();
    fn->options = json_object();
    fn->handler = handler;
    fn->retries = -1;
    if (!fn->id || !fn->name || !fn->triggers || !fn->concurrency || !fn->cancel ||
        !fn->options)
        goto oom;
    return fn;
oom:
    inngest_function_destroy(fn);
    inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    return NULL;
}

void inngest_function_destroy(inngest_function *fn) {
    if (!fn)
        return;
    ing_free(fn->id);
    ing_free(fn->name);
    json_decref(fn->triggers);
    json_decref(fn->concurrency);
    json_decref(fn->cancel);
    json_decref(fn->options);
    ing_free(fn);
}

const char *inngest_function_id(const inngest_function *fn) {
    return fn->id;
}

int inngest_function_set_name(inngest_function *fn, const char *name) {
    if (!name || !*name)
        return INNGEST_EINVAL;
    char *n = ing_strdup(name);
    if (!n)
        return INNGEST_ENOMEM;
    ing_free(fn->name);
    fn->name = n;
    return INNGEST_OK;
}

void inngest_function_set_userdata(inngest_function *fn, void *userdata) {
    fn->userdata = userdata;
}

/* Sets `key` to `value` in `obj` when `value` is a non-empty string. Returns non-zero on
 * allocation failure. */
static int set_str(json_t *obj, const char *key, const char *value) {
    if (!value || !*value)
        return 0;
    return json_object_set_new(obj, key, json_string(value));
}

static int set_option(inngest_function *fn, const char *key, json_t *value) {
    if (!value)
        return INNGEST_ENOMEM;
    return json_object_set_new(fn->options, key, value) ? INNGEST_ENOMEM : INNGEST_OK;
}

int inngest_function_add_event_trigger(inngest_function *fn, const char *event,
                                       const char *expression) {
    if (!event || !*event)
        return INNGEST_EINVAL;
    if (json_array_size(fn->triggers) >= ING_MAX_TRIGGERS)
        return INNGEST_ELIMIT;
    json_t *t = json_pack("{s:s}", "event", event);
    if (!t || set_str(t, "expression", expression) || json_array_append_new(fn->triggers, t))
        return INNGEST_ENOMEM;
    return INNGEST_OK;
}

int inngest_function_add_cron_trigger(inngest_function *fn, const char *cron,
                                      const char *timezone) {
    if (!cron || !*cron)
        return INNGEST_EINVAL;
    if (json_array_size(fn->triggers) >= ING_MAX_TRIGGERS)
        return INNGEST_ELIMIT;
    char buf[512];
    if (timezone && *timezone)
        snprintf(buf, sizeof(buf), "TZ=%s %s", timezone, cron);
    else
        snprintf(buf, sizeof(buf), "%s", cron);
    json_t *t = json_pack("{s:s}", "cron", buf);
    if (!t || json_array_append_new(fn->triggers, t))
        return INNGEST_ENOMEM;
    return INNGEST_OK;
}

int inngest_function_set_checkpointing(inngest_function *fn,
                                       const inngest_checkpoint_opts *opts) {
    if (!fn || !opts || opts->mode < -1 || opts->mode > 1 || opts->buffered_steps < 0)
        return INNGEST_EINVAL;
    fn->checkpoint = *opts;
    return INNGEST_OK;
}

int inngest_function_set_retries(inngest_function *fn, int retries) {
    if (retries < 0 || retries > 20)
        return INNGEST_EINVAL;
    fn->retries = retries;
    return INNGEST_OK;
}

int inngest_function_add_concurrency(inngest_function *fn, int limit, const char *key,
                                     const char *scope) {
    if (limit < 0)
        return INNGEST_EINVAL;
    if (scope && strcmp(scope, "fn") && strcmp(scope, "env") && strcmp(scope, "account"))
        return INNGEST_EINVAL;
    json_t *c = json_pack("{s:i}", "limit", limit);
    if (!c || set_str(c, "key", key) || set_str(c, "scope", scope) ||
        json_array_append_new(fn->concurrency, c))
        return INNGEST_ENOMEM;
    return INNGEST_OK;
}

int inngest_function_set_throttle(inngest_function *fn, int limit, const char *period,
                                  const char *key, int burst) {
    if (limit <= 0 || !period || !*period)
        return INNGEST_EINVAL;
    json_t *t = json_pack("{s:i,s:s}", "limit", limit, "period", period);
    if (!t || set_str(t, "key", key) ||
        (burst > 0 && json_object_set_new(t, "burst", json_integer(burst)))) {
        json_decref(t);
        return INNGEST_ENOMEM;
    }
    return set_option(fn, "throttle", t);
}

int inngest_function_set_rate_limit(inngest_function *fn, int limit, const char *period,
                                    const char *key) {
    if (limit <= 0 || !period || !*period)
        return INNGEST_EINVAL;
    json_t *t = json_pack("{s:i,s:s}", "limit", limit, "period", period);
    if (!t || set_str(t, "key", key)) {
        json_decref(t);
        return INNGEST_ENOMEM;
    }
    return set_option(fn, "rateLimit", t);
}

int inngest_function_set_debounce(inngest_function *fn, const char *period, const char *key,
                                  const char *timeout) {
    if (!period || !*period)
        return INNGEST_EINVAL;
    json_t *t = json_pack("{s:s}", "period", period);
    if (!t || set_str(t, "key", key) || set_str(t, "timeout", timeout)) {
        json_decref(t);
        return INNGEST_ENOMEM;
    }
    return set_option(fn, "debounce", t);
}

int inngest_function_set_batch_events(inngest_function *fn, int max_size, const char *timeout,
                                      const char *key, const char *condition) {
    if (max_size <= 0 || !timeout || !*timeout)
        return INNGEST_EINVAL;
    json_t *t = json_pack("{s:i,s:s}", "maxSize", max_size, "timeout", timeout);
    if (!t || set_str(t, "key", key) || set_str(t, "if", condition)) {
        json_decref(t);
        return INNGEST_ENOMEM;
    }
    return set_option(fn, "batchEvents", t);
}

int inngest_function_set_priority(inngest_function *fn, const char *run_expression) {
    if (!run_expression || !*run_expression)
        return INNGEST_EINVAL;
    return set_option(fn, "priority", json_pack("{s:s}", "run", run_expression));
}

int inngest_function_set_idempotency(inngest_function *fn, const char *key_expression) {
    if (!key_expression || !*key_expression)
        return INNGEST_EINVAL;
    return set_option(fn, "idempotency", json_string(key_expression));
}

int inngest_function_add_cancel_on(inngest_function *fn, const char *event,
                                   const char *condition, const char *timeout) {
    if (!event || !*event)
        return INNGEST_EINVAL;
    if (json_array_size(fn->cancel) >= ING_MAX_CANCEL)
        return INNGEST_ELIMIT;
    json_t *c = json_pack("{s:s}", "event", event);
    if (!c || set_str(c, "timeout", timeout) || set_str(c, "if", condition) ||
        json_array_append_new(fn->cancel, c))
        return INNGEST_ENOMEM;
    return INNGEST_OK;
}

int inngest_function_set_timeouts(inngest_function *fn, const char *start, const char *finish) {
    if ((!start || !*start) && (!finish || !*finish))
        return INNGEST_EINVAL;
    json_t *t = json_object();
    if (!t || set_str(t, "start", start) || set_str(t, "finish", finish)) {
        json_decref(t);
        return INNGEST_ENOMEM;
    }
    return set_option(fn, "timeouts", t);
}

int inngest_function_set_singleton(inngest_function *fn, const char *key, const char *mode) {
    if (!mode || (strcmp(mode, "skip") && strcmp(mode, "cancel")))
        return INNGEST_EINVAL;
    json_t *t = json_object();
    if (!t || set_str(t, "key", key) || set_str(t, "mode", mode)) {
        json_decref(t);
        return INNGEST_ENOMEM;
    }
    return set_option(fn, "singleton", t);
}

int inngest_function_set_on_failure(inngest_function *fn, inngest_handler_fn on_failure) {
    fn->on_failure = on_failure;
    return INNGEST_OK;
}

char *ing_function_slug(const char *app_id, const char *id, int failure) {
    size_t n = strlen(app_id) + strlen(id) + 10;
    char *s = ing_malloc(n);
    if (s)
        snprintf(s, n, "%s-%s%s", app_id, id, failure ? "-failure" : "");
    return s;
}

/* {"step": {"id":"step","name":"step","runtime":{…},"retries"?}} */
static json_t *step_map(const char *app_url, const char *slug, int retries) {
    char *enc = ing_url_encode(slug);
    if (!enc)
        return NULL;
    size_t n = strlen(app_url) + strlen(enc) + 32;
    char *url = ing_malloc(n);
    if (!url) {
        ing_free(enc);
        return NULL;
    }
    snprintf(url, n, "%s%cfnId=%s&stepId=step", app_url, strchr(app_url, '?') ? '&' : '?', enc);
    ing_free(enc);
    json_t *step = json_pack("{s:s,s:s,s:{s:s,s:s}}", "id", "step", "name", "step", "runtime",
                             "type", "http", "url", url);
    ing_free(url);
    if (step && retries >= 0 &&
        json_object_set_new(step, "retries", json_pack("{s:i}", "attempts", retries))) {
        json_decref(step);
        return NULL;
    }
    return step ? json_pack("{s:o}", "step", step) : NULL;
}

int ing_function_append_configs(const inngest_function *fn, const char *app_id,
                                const char *app_url, json_t *out) {
    char *slug = ing_function_slug(app_id, fn->id, 0);
    json_t *cfg = NULL, *fail = NULL;
    int rc = INNGEST_ENOMEM;
    if (!slug)
        goto done;
    cfg = json_pack("{s:s,s:s,s:O,s:o}", "id", slug, "name", fn->name, "triggers", fn->triggers,
                    "steps", step_map(app_url, slug, fn->retries));
    if (!cfg || json_object_update(cfg, fn->options))
        goto done;
    size_t nconc = json_array_size(fn->concurrency);
    if (nconc == 1 && json_object_size(json_array_get(fn->concurrency, 0)) == 1) {
        /* A single plain limit goes out as a bare number, like the official SDKs. */
        if (json_object_set(cfg, "concurrency",
                            json_object_get(json_array_get(fn->concurrency, 0), "limit")))
            goto done;
    } else if (nconc && json_object_set(cfg, "concurrency", fn->concurrency)) {
        goto done;
    }
    if (json_array_size(fn->cancel) && json_object_set(cfg, "cancel", fn->cancel))
        goto done;
    if (json_array_append(out, cfg))
        goto done;

    if (fn->on_failure) {
        char *fslug = ing_function_slug(app_id, fn->id, 1);
        size_t n = strlen(fn->name) + 16, en = strlen(slug) + 48;
        char *fname = ing_malloc(n), *expr = ing_malloc(en);
        if (fslug && fname && expr) {
            snprintf(fname, n, "%s (failure)", fn->name);
            snprintf(expr, en, "event.data.function_id == '%s'", slug);
            fail = json_pack("{s:s,s:s,s:[{s:s,s:s}],s:o}", "id", fslug, "name", fname,
                             "triggers", "event", "inngest/function.failed", "expression", expr,
                             "steps", step_map(app_url, fslug, 1));
        }
        ing_free(fslug);
        ing_free(fname);
        ing_free(expr);
        if (!fail || json_array_append(out, fail))
            goto done;
    }
    rc = INNGEST_OK;
done:
    ing_free(slug);
    json_decref(cfg);
    json_decref(fail);
    return rc;
}
