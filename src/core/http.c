/* SPDX-License-Identifier: MIT */
/* HTTP message helpers: the public response/request accessors and internal URL helpers.
 * Standard library only. */
#include "fmacros.h"

#include "core/alloc.h"
#include "core/http.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "inngest/http.h"

int inngest_http_response_add_header(inngest_http_response *res, const char *name,
                                     const char *value) {
    if (!res || !name || !value)
        return INNGEST_EINVAL;
    if (res->header_count == res->header_cap) {
        size_t cap = res->header_cap ? res->header_cap * 2 : 16;
        inngest_header *h = ing_realloc(res->headers, cap * sizeof(*h));
        if (!h)
            return INNGEST_ENOMEM;
        res->headers = h;
        res->header_cap = cap;
    }
    char *n = ing_strdup(name), *v = ing_strdup(value);
    if (!n || !v) {
        ing_free(n);
        ing_free(v);
        return INNGEST_ENOMEM;
    }
    res->headers[res->header_count].name = n;
    res->headers[res->header_count].value = v;
    res->header_count++;
    return INNGEST_OK;
}

void inngest_http_response_remove_header(inngest_http_response *res, const char *name) {
    size_t w = 0;
    for (size_t r = 0; r < res->header_count; r++) {
        if (strcasecmp(res->headers[r].name, name) == 0) {
            ing_free((char *)res->headers[r].name);
            ing_free((char *)res->headers[r].value);
            continue;
        }
        res->headers[w++] = res->headers[r];
    }
    res->header_count = w;
}

int inngest_http_response_set_header(inngest_http_response *res, const char *name,
                                     const char *value) {
    inngest_http_response_remove_header(res, name);
    return inngest_http_response_add_header(res, name, value);
}

int inngest_http_response_set_body(inngest_http_response *res, const char *data, size_t len) {
    char *b = ing_malloc(len + 1);
    if (!b)
        return INNGEST_ENOMEM;
    if (len)
        memcpy(b, data, len);
    b[len] = '\0';
    ing_free(res->body);
    res->body = b;
    res->body_len = len;
    return INNGEST_OK;
}

const char *inngest_http_response_header(const inngest_http_response *res, const char *name) {
    for (size_t i = 0; i < res->header_count; i++)
        if (strcasecmp(res->headers[i].name, name) == 0)
            return res->headers[i].value;
    return NULL;
}

void inngest_http_response_cleanup(inngest_http_response *res) {
    if (!res)
        return;
    for (size_t i = 0; i < res->header_count; i++) {
        ing_free((char *)res->headers[i].name);
        ing_free((char *)res->headers[i].value);
    }
    ing_free(res->headers);
    ing_free(res->body);
    memset(res, 0, sizeof(*res));
}

const char *inngest_http_request_header(const inngest_http_request *req, const char *name) {
    for (size_t i = 0; i < req->header_count; i++)
        if (req->headers[i].name && strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

void inngest_transport_destroy(inngest_transport *t) {
    if (t && t->destroy)
        t->destroy(t);
}

int ing_hexval(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

const char *ing_pair_find(const char *list, char sep, int flags, const char *name, size_t *vlen) {
    size_t nlen = strlen(name);
    for (const char *p = list; p && *p;) {
        if (flags & ING_PAIR_OWS)
            while (*p == ' ')
                p++;
        const char *end = strchr(p, sep);
        size_t seg = end ? (size_t)(end - p) : strlen(p);
        if (seg >= nlen && strncmp(p, name, nlen) == 0) {
            if (seg > nlen && p[nlen] == '=') {
                *vlen = seg - nlen - 1;
                return p + nlen + 1;
            }
            if (seg == nlen && (flags & ING_PAIR_BARE)) {
                *vlen = 0;
                return p + seg;
            }
        }
        p = end ? end + 1 : NULL;
    }
    return NULL;
}

int ing_pair_get(const char *list, char sep, int flags, const char *name, char *out,
                 size_t out_len) {
    size_t vl;
    const char *v = ing_pair_find(list, sep, flags, name, &vl);
    if (!v)
        return 0;
    if (vl >= out_len)
        return -1;
    memcpy(out, v, vl);
    out[vl] = '\0';
    return 1;
}

int ing_query_get(const char *query, const char *name, char *out, size_t out_len) {
    size_t vl;
    const char *v = ing_pair_find(query, '&', ING_PAIR_BARE, name, &vl);
    if (!v)
        return 0;
    const char *vend = v + vl;
    size_t o = 0;
    while (v < vend) {
        char c = *v;
        if (c == '+') {
            c = ' ';
            v++;
        } else if (c == '%') {
            if (vend - v < 3 || ing_hexval(v[1]) < 0 || ing_hexval(v[2]) < 0)
                return -1;
            c = (char)(ing_hexval(v[1]) * 16 + ing_hexval(v[2]));
            v += 3;
        } else {
            v++;
        }
        if (o + 1 >= out_len)
            return -1;
        out[o++] = c;
    }
    if (out_len == 0)
        return -1;
    out[o] = '\0';
    return 1;
}

int inngest_http_request_query(const inngest_http_request *req, const char *name, char *out,
                               size_t out_len) {
    const char *q = req && req->url ? strchr(req->url, '?') : NULL;
    return q ? ing_query_get(q + 1, name, out, out_len) : 0;
}

int inngest_http_request_cookie(const inngest_http_request *req, const char *name, char *out,
                                size_t out_len) {
    for (size_t i = 0; req && i < req->header_count; i++) {
        if (!req->headers[i].name || strcasecmp(req->headers[i].name, "Cookie") != 0)
            continue;
        int rc = ing_pair_get(req->headers[i].value, ';', ING_PAIR_OWS, name, out, out_len);
        if (rc)
            return rc;
    }
    return 0;
}

char *ing_url_encode(const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = ing_malloc(n * 3 + 1), *o = out;
    if (!out)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

char *ing_split_target(const char *target, const char **query) {
    const char *q = strchr(target, '?');
    size_t plen = q ? (size_t)(q - target) : strlen(target);
    char *path = ing_malloc(plen + 1);
    if (!path)
        return NULL;
    memcpy(path, target, plen);
    path[plen] = '\0';
    *query = q ? q + 1 : "";
    return path;
}
