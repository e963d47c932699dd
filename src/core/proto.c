/* SPDX-License-Identifier: MIT */
/* Call request parsing, saved-state unwrapping, errors and time strings. */
#include "fmacros.h"

#include "core/proto.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void ing_call_cleanup(struct ing_call *call) {
    json_decref(call->root);
    memset(call, 0, sizeof(*call));
}

static int bad(inngest_error *err, struct ing_call *call, const char *what) {
    ing_call_cleanup(call);
    return inngest_error_set(err, INNGEST_EPARSE, "invalid call request: %s", what);
}

int ing_call_parse(const char *body, size_t len, struct ing_call *call, inngest_error *err) {
    json_error_t jerr;
    memset(call, 0, sizeof(*call));
    if (!body || !len)
        return inngest_error_set(err, INNGEST_EPARSE, "invalid call request: empty body");
    call->root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!call->root)
        return inngest_error_set(err, INNGEST_EPARSE,
                                 "invalid call request: malformed JSON at line %d column %d: %s",
                                 jerr.line, jerr.column, jerr.text);
    if (!json_is_object(call->root))
        return bad(err, call, "body must be a JSON object");

    json_t *r = call->root;
    json_t *ev = json_object_get(r, "event");
    if (ev && !json_is_object(ev) && !json_is_null(ev))
        return bad(err, call, "\"event\" must be an object");
    json_t *evs = json_object_get(r, "events");
    if (evs && !json_is_array(evs) && !json_is_null(evs))
        return bad(err, call, "\"events\" must be an array");
    json_t *steps = json_object_get(r, "steps");
    if (steps && !json_is_object(steps) && !json_is_null(steps))
        return bad(err, call, "\"steps\" must be an object");
    json_t *ctx = json_object_get(r, "ctx");
    if (ctx && !json_is_object(ctx) && !json_is_null(ctx))
        return bad(err, call, "\"ctx\" must be an object");

    /* Normalise: absent pieces get their empty forms, held by the root. */
    if (!json_is_object(ev)) {
        ev = json_object();
        if (!ev || json_object_set_new(r, "event", ev))
            return bad(err, call, "out of memory");
    }
    if (!json_is_array(evs) || json_array_size(evs) == 0) {
        evs = json_pack("[O]", ev);
        if (!evs || json_object_set_new(r, "events", evs))
            return bad(err, call, "out of memory");
    }
    if (!json_is_object(steps)) {
        steps = json_object();
        if (!steps || json_object_set_new(r, "steps", steps))
            return bad(err, call, "out of memory");
    }
    call->event = ev;
    call->events = evs;
    call->steps = steps;
    call->version = -1;
    call->run_id = "";

    json_t *v = json_object_get(r, "version");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v))
            return bad(err, call, "\"version\" must be an integer");
        call->version = (int)json_integer_value(v);
        if (call->version == 0 || call->version > 2 || call->version < -1)
            return bad(err, call, "unsupported request version (this SDK speaks 1 and 2)");
    }
    if (json_is_true(json_object_get(r, "use_api")))
        call->use_api = 1;

    if (json_is_object(ctx)) {
        json_t *x;
        if ((x = json_object_get(ctx, "run_id")) && json_is_string(x))
            call->run_id = json_string_value(x);
        if ((x = json_object_get(ctx, "attempt")) && json_is_integer(x))
            call->attempt = (int)json_integer_value(x);
        if ((x = json_object_get(ctx, "max_attempts")) && json_is_integer(x))
            call->max_attempts = (int)json_integer_value(x);
        if (json_is_true(json_object_get(ctx, "disable_immediate_execution")))
            call->disable_immediate_execution = 1;
        if (json_is_true(json_object_get(ctx, "use_api")))
            call->use_api = 1;
        json_t *st = json_object_get(ctx, "stack");
        if (json_is_object(st) && json_is_array(json_object_get(st, "stack")))
            call->stack = json_object_get(st, "stack");
        if (call->attempt < 0)
            return bad(err, call, "ctx.attempt must not be negative");
    }
    return INNGEST_OK;
}

/* Length of the valid UTF-8 sequence at `p` (1..4), or 0 when it is not one. */
static size_t utf8_seq(const unsigned char *p) {
    unsigned c = p[0];
    size_t n = c < 0x80                   ? 1
               : (c >= 0xC2 && c <= 0xDF) ? 2
               : (c & 0xF0) == 0xE0       ? 3
               : (c >= 0xF0 && c <= 0xF4) ? 4
                                          : 0;
    if (n <= 1)
        return n;
    unsigned cp = c & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) /* also stops at the terminating NUL */
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return n;
}

json_t *ing_json_text(const char *s) {
    json_t *j = json_string(s ? s : "");
    if (j)
        return j;
    size_t len = strlen(s);
    char *copy = malloc(len + 1);
    if (!copy)
        return NULL;
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    while (*p) {
        size_t n = utf8_seq(p);
        if (n == 0) {
            copy[o++] = '?';
            p++;
        } else {
            memcpy(copy + o, p, n);
            o += n;
            p += n;
        }
    }
    copy[o] = '\0';
    j = json_string(copy);
    free(copy);
    return j;
}

json_t *ing_error_json(const char *name, const char *message, const char *stack) {
    return json_pack("{s:o,s:o,s:o}", "name", ing_json_text(name && *name ? name : "Error"),
                     "message", ing_json_text(message ? message : ""), "stack",
                     ing_json_text(stack ? stack : ""));
}

json_t *ing_memo_unwrap(json_t *saved, int *is_error) {
    *is_error = 0;
    if (json_is_object(saved)) {
        /* "type" may ride along with the envelope key. */
        size_t n = json_object_size(saved) - (json_object_get(saved, "type") ? 1 : 0);
        json_t *x;
        if (n == 1 && (x = json_object_get(saved, "data")))
            return x;
        if (n == 1 && (x = json_object_get(saved, "error"))) {
            *is_error = 1;
            return x;
        }
        if (n == 1 && json_object_get(saved, "input"))
            return NULL;
    }
    return saved;
}

int ing_duration_parse(const char *s, int64_t *ms) {
    int64_t total = 0;
    const char *p = s;
    if (!s || !*s)
        return INNGEST_EINVAL;
    while (*p) {
        if (!isdigit((unsigned char)*p))
            return INNGEST_EINVAL;
        char *end;
        double v = strtod(p, &end);
        p = end;
        int64_t unit;
        if (!strncmp(p, "ms", 2)) {
            unit = 1;
            p += 2;
        } else if (*p == 's') {
            unit = 1000;
            p++;
        } else if (*p == 'm') {
            unit = 60000;
            p++;
        } else if (*p == 'h') {
            unit = 3600000;
            p++;
        } else if (*p == 'd') {
            unit = 86400000;
            p++;
        } else if (*p == 'w') {
            unit = 604800000;
            p++;
        } else {
            return INNGEST_EINVAL;
        }
        if (v * (double)unit > 9.0e15)
            return INNGEST_EINVAL;
        total += (int64_t)(v * (double)unit);
    }
    *ms = total;
    return INNGEST_OK;
}

void ing_duration_format(int64_t ms, char out[64]) {
    static const struct {
        char unit;
        int64_t ms;
    } units[] = {{'w', 604800000}, {'d', 86400000}, {'h', 3600000}, {'m', 60000}, {'s', 1000}};
    int64_t s = ms <= 0 ? 0 : (ms + 999) / 1000 * 1000; /* round up to whole seconds */
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        int64_t n = s / units[i].ms;
        if (n) {
            o += (size_t)snprintf(out + o, 64 - o, "%lld%c", (long long)n, units[i].unit);
            s -= n * units[i].ms;
        }
    }
    if (!o)
        snprintf(out, 64, "0s");
}

int ing_rfc3339_valid(const char *s) {
    int Y, M, D, h, m, sec, n = 0;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &Y, &M, &D, &h, &m, &sec, &n) != 6 ||
        n != 19)
        return 0;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return 0;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return 0;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p == 'Z' || *p == 'z')
        return p[1] == '\0';
    if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) &&
        isdigit((unsigned char)p[2]) && p[3] == ':' && isdigit((unsigned char)p[4]) &&
        isdigit((unsigned char)p[5]) && p[6] == '\0')
        return 1;
    return 0;
}

void ing_iso_time(int64_t ms, char out[32]) {
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}
