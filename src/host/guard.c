/* SPDX-License-Identifier: MIT */
/* Host allow-list, token and cross-site checks for the host's routes (see guard.h). */
#include "fmacros.h"

#include "host/guard.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "host/log.h"
#include "host/routes.h"

#define MIN_TOKEN_LEN 16
#define MAX_TOKEN_LEN 256

int host_guard_ct_equal(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    volatile unsigned char diff = (unsigned char)(la != lb);
    /* Walk the expected length whatever the input, so timing says nothing of the token. */
    for (size_t i = 0; i < lb; i++)
        diff |= (unsigned char)((i < la ? (unsigned char)a[i] : 0) ^ (unsigned char)b[i]);
    return diff == 0;
}

int host_guard_is_loopback(const char *addr) {
    unsigned char a[16];
    if (!strcasecmp(addr, "localhost") || !strcmp(addr, "::1"))
        return 1;
    return inet_pton(AF_INET, addr, a) == 1 && a[0] == 127;
}

/* Copies the host name of a Host header or URL authority ("name:port", "[v6]:port") into
 * out, lowercased, without the port and a trailing dot. 0 when it does not fit or is
 * empty; *is_ip set for address literals. */
static int host_name(const char *authority, size_t len, char *out, size_t n, int *is_ip) {
    unsigned char addr[16];
    size_t end;
    *is_ip = 0;
    if (len && authority[0] == '[') {
        const char *close = memchr(authority, ']', len);
        if (!close)
            return 0;
        end = (size_t)(close - authority) + 1;
    } else {
        const char *colon = memchr(authority, ':', len);
        end = colon ? (size_t)(colon - authority) : len;
    }
    if (end == 0 || end >= n)
        return 0;
    for (size_t i = 0; i < end; i++)
        out[i] = (char)tolower((unsigned char)authority[i]);
    out[end] = '\0';
    if (end > 1 && out[end - 1] == '.')
        out[--end] = '\0';
    if (out[0] == '[') {
        char inner[64];
        snprintf(inner, sizeof(inner), "%.*s", (int)(end - 2), out + 1);
        *is_ip = end > 2 && inet_pton(AF_INET6, inner, addr) == 1;
        return *is_ip;
    }
    *is_ip = inet_pton(AF_INET, out, addr) == 1;
    return 1;
}

static int ends_with(const char *s, const char *suffix) {
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && !strcmp(s + ls - lx, suffix);
}

/* Whether a name from a trusted list (exact, or ".example.com": it and everything under
 * it) covers `name`. */
static int listed(const struct host_guard *g, const char *name) {
    for (size_t i = 0; i < g->nhosts; i++) {
        const char *h = g->hosts[i];
        if (!strcmp(h, name) || (h[0] == '.' && (ends_with(name, h) || !strcmp(name, h + 1))))
            return 1;
    }
    return 0;
}

/* Names a rebinding attack cannot use: address literals (a rebinding page has a DNS name
 * of its own in Host), localhost and its subdomains, and the configured ones. */
static int host_allowed(const struct host_guard *g, const char *host_header) {
    char name[256];
    int is_ip;
    if (g->allow_any_host)
        return 1;
    if (!host_header || !host_name(host_header, strlen(host_header), name, sizeof(name), &is_ip))
        return 0;
    return is_ip || !strcmp(name, "localhost") || ends_with(name, ".localhost") || listed(g, name);
}

static int add_host(struct host_guard *g, const char *name, size_t len, inngest_error *err) {
    char buf[256];
    int is_ip;
    if (len == 0)
        return INNGEST_OK;
    if (g->nhosts == HOST_GUARD_MAX_HOSTS)
        return inngest_error_set(err, INNGEST_ECONFIG, "HOST_ALLOWED_HOSTS lists more than %d names",
                                 HOST_GUARD_MAX_HOSTS);
    if (name[0] == '.') {
        if (len >= sizeof(buf) - 1)
            return inngest_error_set(err, INNGEST_ECONFIG, "a HOST_ALLOWED_HOSTS name is too long");
        for (size_t i = 0; i < len; i++)
            buf[i] = (char)tolower((unsigned char)name[i]);
        buf[len] = '\0';
    } else if (!host_name(name, len, buf, sizeof(buf), &is_ip)) {
        return inngest_error_set(err, INNGEST_ECONFIG, "HOST_ALLOWED_HOSTS has a bad name: %.*s",
                                 (int)(len > 80 ? 80 : len), name);
    }
    g->hosts[g->nhosts] = strdup(buf);
    if (!g->hosts[g->nhosts])
        return inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    g->nhosts++;
    return INNGEST_OK;
}

int host_guard_init(struct host_guard *g, const inngest_app *app, const char *serve_path,
                    inngest_getenv_fn getenv_fn, void *getenv_user, inngest_error *err) {
    memset(g, 0, sizeof(*g));
    g->app = app;
    g->serve_path = serve_path;
    const char *tok = inngest_env_get(getenv_fn, getenv_user, "HOST_AUTH_TOKEN");
    if (tok) {
        size_t n = strlen(tok);
        for (size_t i = 0; i < n; i++)
            if (tok[i] <= 0x20 || tok[i] >= 0x7f || strchr(";,\"\\", tok[i]))
                return inngest_error_set(err, INNGEST_ECONFIG,
                                         "HOST_AUTH_TOKEN may hold printable ASCII only, without "
                                         "spaces, quotes, backslashes, ';' or ','");
        if (n > MAX_TOKEN_LEN)
            return inngest_error_set(err, INNGEST_ECONFIG,
                                     "HOST_AUTH_TOKEN is longer than %d characters",
                                     MAX_TOKEN_LEN);
        if (n < MIN_TOKEN_LEN)
            return inngest_error_set(err, INNGEST_ECONFIG,
                                     "HOST_AUTH_TOKEN is %zu characters; use at least %d (e.g. "
                                     "openssl rand -hex 24)",
                                     n, MIN_TOKEN_LEN);
        if (!(g->token = strdup(tok)))
            return inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    }
    int rc = INNGEST_OK;
    const char *origin = app ? inngest_app_serve_origin(app) : NULL;
    const char *auth = origin ? strstr(origin, "://") : NULL;
    if (auth) {
        auth += 3;
        rc = add_host(g, auth, strcspn(auth, "/?#"), err);
    }
    const char *list = inngest_env_get(getenv_fn, getenv_user, "HOST_ALLOWED_HOSTS");
    for (const char *p = list; !rc && p && *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t n = strcspn(p, ", ");
        if (n == 1 && *p == '*')
            g->allow_any_host = 1;
        else
            rc = add_host(g, p, n, err);
        p += n;
    }
    if (rc)
        host_guard_cleanup(g);
    return rc;
}

void host_guard_cleanup(struct host_guard *g) {
    free(g->token);
    for (size_t i = 0; i < g->nhosts; i++)
        free(g->hosts[i]);
    memset(g, 0, sizeof(*g));
}

static int authenticated(const struct host_guard *g, const inngest_http_request *req) {
    const char *a = inngest_http_request_header(req, "Authorization");
    if (a && !strncasecmp(a, "Bearer ", 7)) {
        const char *t = a + 7;
        while (*t == ' ')
            t++;
        return host_guard_ct_equal(t, g->token);
    }
    char v[512];
    return inngest_http_request_cookie(req, HOST_GUARD_COOKIE, v, sizeof(v)) == 1 &&
           host_guard_ct_equal(v, g->token);
}

/* Whether a state-changing request comes from another site: Sec-Fetch-Site says so, or
 * Origin names another origin than the one the request was sent to. */
static int cross_site(const struct host_guard *g, const inngest_http_request *req) {
    const char *sfs = inngest_http_request_header(req, "Sec-Fetch-Site");
    if (sfs && strcasecmp(sfs, "same-origin") && strcasecmp(sfs, "none"))
        return 1;
    const char *origin = inngest_http_request_header(req, "Origin");
    if (!origin)
        return 0;
    const char *auth = strstr(origin, "://");
    const char *host = inngest_http_request_header(req, "Host");
    if (!auth || !host)
        return 1; /* "null" and other opaque origins */
    auth += 3;
    size_t n = strcspn(auth, "/?#");
    if (strlen(host) == n && !strncasecmp(auth, host, n))
        return 0;
    /* A proxy may rewrite Host; an origin the configuration names is still ours. */
    char name[256];
    int is_ip;
    return !(host_name(auth, n, name, sizeof(name), &is_ip) && listed(g, name));
}

static int is_state_changing(const inngest_http_request *req) {
    const char *m = req->method ? req->method : "";
    return strcmp(m, "GET") && strcmp(m, "HEAD") && strcmp(m, "OPTIONS");
}

static const char login_html[] =
    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    "<title>inngest-c chat: sign in</title><style>body{font:15px system-ui,sans-serif;"
    "max-width:28rem;margin:4rem auto;padding:0 1rem}input{width:100%%;padding:.5rem;"
    "font:inherit;margin:.5rem 0}button{padding:.45rem 1.1rem;font:inherit}"
    ".bad{color:#c0392b}</style></head><body><h1>inngest-c chat</h1>"
    "<p>This host needs its access token (<code>HOST_AUTH_TOKEN</code>).</p>%s"
    "<form method=\"post\" action=\"/login\"><label>Token <input type=\"password\" "
    "name=\"token\" autocomplete=\"current-password\" autofocus required></label>"
    "<button type=\"submit\">Sign in</button></form></body></html>";

static int reply_login(inngest_http_response *res, int status, const char *note) {
    char *page = malloc(sizeof(login_html) + 200);
    if (!page)
        return INNGEST_ENOMEM;
    int n = snprintf(page, sizeof(login_html) + 200, login_html, note);
    res->status = status;
    int rc = inngest_http_response_add_header(res, "Content-Type", "text/html; charset=utf-8");
    rc = rc ? rc : inngest_http_response_add_header(res, "Cache-Control", "no-store");
    rc = rc ? rc : inngest_http_response_set_body(res, page, (size_t)n);
    free(page);
    return rc;
}

/* Fills `res` and returns 0 (the admit hook's "answered"). */
static int refuse(inngest_http_response *res, int status, const char *msg) {
    host_reply_error(res, status, msg);
    return 0;
}

int host_guard_admit(void *user, const inngest_http_request *req, int is_serve,
                     inngest_http_response *res) {
    const struct host_guard *g = user;
    const char *url = req->url ? req->url : "/";
    size_t plen = strcspn(url, "?");
    if (plen == 8 && !strncmp(url, "/healthz", 8))
        return 1;
    /* Cloud mode: the protocol endpoint trusts signatures, not names. */
    if (is_serve && !inngest_app_is_dev(g->app))
        return 1;
    if (!host_allowed(g, inngest_http_request_header(req, "Host")))
        return refuse(res, 403,
                      "this Host is not allowed (a defence against DNS rebinding); use "
                      "localhost or an IP address, or add the name to HOST_ALLOWED_HOSTS");
    if (is_serve)
        return 1; /* dev mode: the dev server posts without Origin, nothing to check */
    if (is_state_changing(req) && cross_site(g, req))
        return refuse(res, 403, "cross-site requests are refused");
    if (!g->token)
        return 1;
    if (plen == 6 && !strncmp(url, "/login", 6))
        return 1; /* the form's target checks the token itself */
    if (authenticated(g, req))
        return 1;
    int page = plen == 1 || (plen == 11 && !strncmp(url, "/index.html", 11));
    if (page && !is_state_changing(req))
        return reply_login(res, 401, "") == INNGEST_OK ? 0 : refuse(res, 500, "out of memory");
    if (inngest_http_response_set_header(res, "WWW-Authenticate", "Bearer"))
        return refuse(res, 500, "out of memory");
    return refuse(res, 401,
                  "this host needs its token: send Authorization: Bearer <HOST_AUTH_TOKEN>, or "
                  "sign in on the page");
}

/* POST /login: token=<value> as a form. Sets the cookie and goes back to the page. */
int host_guard_login_route(void *user, const inngest_http_request *req, inngest_http_response *res,
                           inngest_stream *stream) {
    const struct host_guard *g = user;
    (void)stream;
    if (!g->token)
        return host_reply_error(res, 404, "not found (HOST_AUTH_TOKEN is not set)");
    if (!host_method_is(req, "POST"))
        return host_reply_error(res, 405, "use POST with token=<HOST_AUTH_TOKEN>");
    char body[600], token[512];
    snprintf(body, sizeof(body), "%.*s", (int)(req->body_len < 599 ? req->body_len : 599),
             req->body ? req->body : "");
    /* Reuses the query parser: "?token=…" over the form body (percent-decoded). */
    char form[608];
    snprintf(form, sizeof(form), "?%s", body);
    inngest_http_request q = {.url = form};
    if (inngest_http_request_query(&q, "token", token, sizeof(token)) != 1 ||
        !host_guard_ct_equal(token, g->token))
        return reply_login(res, 401, "<p class=\"bad\">That is not the token.</p>");
    const char *fp = inngest_http_request_header(req, "X-Forwarded-Proto");
    int secure = req->is_tls || (fp && !strncasecmp(fp, "https", 5));
    char cookie[700];
    snprintf(cookie, sizeof(cookie), "%s=%s; Path=/; HttpOnly; SameSite=Strict%s",
             HOST_GUARD_COOKIE, g->token, secure ? "; Secure" : "");
    res->status = 303;
    int rc = inngest_http_response_add_header(res, "Set-Cookie", cookie);
    rc = rc ? rc : inngest_http_response_add_header(res, "Location", "/");
    rc = rc ? rc : inngest_http_response_add_header(res, "Cache-Control", "no-store");
    return rc ? rc : inngest_http_response_set_body(res, "", 0);
}
