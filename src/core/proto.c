/* SPDX-License-Identifier: MIT */
/* Call request parsing, saved-state unwrapping, errors and time strings. */
#include "fmacros.h"

#include "core/alloc.h"
#include "core/proto.h"
#include "core/utf8.h"

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

/* ---- the fast path (see proto.h) ---- */

#define SIMPLE_MAX_DEPTH 64
#define SIMPLE_MAX_KEY   255

struct scan {
    const unsigned char *p, *end;
};

static void skip_ws(struct scan *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
}

static int peek(const struct scan *s, int c) {
    return s->p < s->end && *s->p == c;
}

/* A string whose opening quote is at s->p: its bytes between the quotes in *str, *len.
 * -1 (fall back) for escapes, control characters, invalid UTF-8, no closing quote. */
static int scan_string(struct scan *s, const char **str, size_t *len) {
    const unsigned char *q = s->p + 1, *start = q;
    while (q < s->end) {
        unsigned c = *q;
        if (c == '"') {
            *str = (const char *)start;
            *len = (size_t)(q - start);
            s->p = q + 1;
            return 0;
        }
        if (c < 0x20 || c == '\\')
            return -1;
        if (c < 0x80) {
            q++;
        } else {
            size_t n = ing_utf8_seq(q, (size_t)(s->end - q));
            if (!n)
                return -1;
            q += n;
        }
    }
    return -1;
}

/* -?(0|[1-9][0-9]*) of at most 18 digits; reals and longer integers fall back. */
static json_t *scan_integer(struct scan *s) {
    const unsigned char *q = s->p;
    int neg = 0;
    if (q < s->end && *q == '-') {
        neg = 1;
        q++;
    }
    const unsigned char *digits = q;
    json_int_t v = 0;
    while (q < s->end && *q >= '0' && *q <= '9') {
        if (q - digits == 18)
            return NULL;
        v = v * 10 + (*q++ - '0');
    }
    if (q == digits || (*digits == '0' && q - digits > 1))
        return NULL;
    if (q < s->end && (*q == '.' || *q == 'e' || *q == 'E'))
        return NULL;
    s->p = q;
    return json_integer(neg ? -v : v);
}

static int scan_word(struct scan *s, const char *w, size_t n) {
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n) != 0)
        return 0;
    s->p += n;
    return 1;
}

static json_t *scan_value(struct scan *s, int depth);

/* After a member or an element: 1 when `close` ends the container, 0 after a comma, -1
 * for anything else. */
static int scan_next(struct scan *s, int close) {
    skip_ws(s);
    int c = s->p < s->end ? *s->p : -1;
    if (c != close && c != ',')
        return -1;
    s->p++;
    skip_ws(s);
    return c == close;
}

static json_t *scan_object(struct scan *s, int depth) {
    json_t *o = json_object();
    char key[SIMPLE_MAX_KEY + 1];
    if (!o)
        return NULL;
    s->p++;
    skip_ws(s);
    if (peek(s, '}')) {
        s->p++;
        return o;
    }
    for (;;) {
        const char *k;
        size_t klen;
        if (!peek(s, '"') || scan_string(s, &k, &klen) || klen > SIMPLE_MAX_KEY)
            break;
        memcpy(key, k, klen);
        key[klen] = '\0';
        if (json_object_get(o, key)) /* a duplicate: jansson says so */
            break;
        skip_ws(s);
        if (!peek(s, ':'))
            break;
        s->p++;
        skip_ws(s);
        json_t *v = scan_value(s, depth);
        if (!v || json_object_set_new_nocheck(o, key, v))
            break;
        int next = scan_next(s, '}');
        if (next < 0)
            break;
        if (next)
            return o;
    }
    json_decref(o);
    return NULL;
}

static json_t *scan_array(struct scan *s, int depth) {
    json_t *a = json_array();
    if (!a)
        return NULL;
    s->p++;
    skip_ws(s);
    if (peek(s, ']')) {
        s->p++;
        return a;
    }
    for (;;) {
        json_t *v = scan_value(s, depth);
        if (!v || json_array_append_new(a, v))
            break;
        int next = scan_next(s, ']');
        if (next < 0)
            break;
        if (next)
            return a;
    }
    json_decref(a);
    return NULL;
}

static json_t *scan_value(struct scan *s, int depth) {
    if (s->p >= s->end)
        return NULL;
    switch (*s->p) {
        case '{':
            return depth < SIMPLE_MAX_DEPTH ? scan_object(s, depth + 1) : NULL;
        case '[':
            return depth < SIMPLE_MAX_DEPTH ? scan_array(s, depth + 1) : NULL;
        case '"': {
            const char *str;
            size_t len;
            return scan_string(s, &str, &len) ? NULL : json_stringn_nocheck(str, len);
        }
        case 't':
            return scan_word(s, "true", 4) ? json_true() : NULL;
        case 'f':
            return scan_word(s, "false", 5) ? json_false() : NULL;
        case 'n':
            return scan_word(s, "null", 4) ? json_null() : NULL;
        default:
            return scan_integer(s);
    }
}

json_t *ing_json_load_simple(const char *buf, size_t len) {
    struct scan s = {(const unsigned char *)buf, (const unsigned char *)buf + len};
    skip_ws(&s);
    if (!peek(&s, '{') && !peek(&s, '['))
        return NULL;
    json_t *v = scan_value(&s, 0);
    skip_ws(&s);
    if (v && s.p != s.end) {
        json_decref(v);
        return NULL;
    }
    return v;
}

int ing_call_parse(const char *body, size_t len, struct ing_call *call, inngest_error *err) {
    json_error_t jerr;
    memset(call, 0, sizeof(*call));
    if (!body || !len)
        return inngest_error_set(err, INNGEST_EPARSE, "invalid call request: empty body");
    call->root = ing_json_load_simple(body, len);
    if (!call->root)
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
        if ((x = json_object_get(ctx, "fn_id")) && json_is_string(x) && json_string_length(x))
            call->fn_id = json_string_value(x);
        if ((x = json_object_get(ctx, "qi_id")) && json_is_string(x) && json_string_length(x))
            call->qi_id = json_string_value(x);
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

json_t *ing_json_text(const char *s) {
    json_t *j = json_string(s ? s : "");
    if (j)
        return j;
    size_t len = strlen(s);
    char *copy = ing_malloc(len + 1);
    if (!copy)
        return NULL;
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    size_t o = 0;
    while (*p) {
        size_t n = ing_utf8_seq(p, (size_t)(end - p));
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
    ing_free(copy);
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
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &Y, &M, &D, &h, &m, &sec, &n) != 6 || n != 19)
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
    if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) && isdigit((unsigned char)p[2]) &&
        p[3] == ':' && isdigit((unsigned char)p[4]) && isdigit((unsigned char)p[5]) && p[6] == '\0')
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
