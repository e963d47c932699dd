/* SPDX-License-Identifier: MIT */
/*
 * The host's guard over real HTTP on 127.0.0.1: the Host allow-list (DNS rebinding), the
 * cross-site check (CSRF), HOST_AUTH_TOKEN with its sign-in form and cookie, and the host
 * refusing to listen beyond loopback without a token. Requests are written by hand (raw
 * sockets) so Host, Origin and Cookie are ours to choose.
 */
#include "fmacros.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <inngest/inngest.h>

#include "host/guard.h"
#include "host/routes.h"
#include "testutil.h"

/* An inngest_getenv_fn over a {name, value, ..., NULL} table (the user pointer). */
static const char *env_lookup(void *user, const char *name) {
    for (const char *const *p = user; p && *p; p += 2)
        if (!strcmp(p[0], name))
            return p[1];
    return NULL;
}

struct env {
    inngest_app *app;
    inngest_server *srv;
    struct host_routes routes;
    struct host_guard guard;
    int port;
};

static void start(struct env *e, int dev, const char *const *vars) {
    inngest_error err;
    CHECK_EQ_INT(inngest_global_init(), INNGEST_OK);
    memset(e, 0, sizeof(*e));
    inngest_app_opts o = {.app_id = "guard-app",
                          .mode = dev ? INNGEST_MODE_DEV : INNGEST_MODE_CLOUD,
                          .signing_key = dev ? NULL : "signkey-test-00ff",
                          .serve_origin = "https://app.example.com"};
    e->app = inngest_app_create(&o, &err);
    CHECK(e->app);
    inngest_app_freeze(e->app);
    CHECK_EQ_INT(host_guard_init(&e->guard, e->app, "/api/inngest", env_lookup, (void *)vars, &err),
                 INNGEST_OK);
    e->routes.app = e->app;
    inngest_server_opts so = {.host = "127.0.0.1",
                              .port = 0,
                              .admit = host_guard_admit,
                              .admit_user = &e->guard};
    e->srv = inngest_server_create(e->app, &so, &err);
    CHECK(e->srv);
    CHECK_EQ_INT(inngest_server_add_route(e->srv, "/login", host_guard_login_route, &e->guard),
                 INNGEST_OK);
    CHECK_EQ_INT(host_routes_add(e->srv, &e->routes), INNGEST_OK);
    CHECK_EQ_INT(inngest_server_start(e->srv, &err), INNGEST_OK);
    e->port = inngest_server_port(e->srv);
}

static void stop(struct env *e) {
    inngest_server_destroy(e->srv);
    host_guard_cleanup(&e->guard);
    inngest_app_destroy(e->app);
    inngest_global_cleanup();
}

/* Sends METHOD PATH with Host `host` (none when NULL), the extra header lines `headers`
 * ("Name: v\r\n"...) and `body`; returns the status, and the whole answer in *answer when
 * asked (free it). */
static int send_req(struct env *e, const char *method, const char *path, const char *host,
                    const char *headers, const char *body, char **answer) {
    char req[4096], host_line[300] = "";
    if (host)
        snprintf(host_line, sizeof(host_line), "Host: %s\r\n", host);
    snprintf(req, sizeof(req),
             "%s %s HTTP/1.1\r\n%s%sConnection: close\r\nContent-Length: %zu\r\n\r\n%s",
             method, path, host_line, headers ? headers : "", body ? strlen(body) : 0,
             body ? body : "");
    char *ans = testutil_raw_http(e->port, req, strlen(req), 1);
    int status = !strncmp(ans, "HTTP/1.1 ", 9) ? atoi(ans + 9) : 0;
    if (answer)
        *answer = ans;
    else
        free(ans);
    return status;
}

TEST_CASE(host_header_allow_list) {
    static const char *const vars[] = {"HOST_ALLOWED_HOSTS", "chat.internal, .corp.example",
                                       NULL};
    struct env e;
    start(&e, 1, vars);
    static const char *const ok[] = {"127.0.0.1:3000", "localhost:3000", "LOCALHOST",
                                     "[::1]:3000",     "app.localhost",  "10.1.2.3",
                                     "app.example.com", "chat.internal:8080",
                                     "a.b.corp.example", "corp.example."};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        CHECK_EQ_INT(send_req(&e, "GET", "/metrics", ok[i], NULL, NULL, NULL), 200);
        CHECK_EQ_INT(send_req(&e, "GET", "/api/inngest", ok[i], NULL, NULL, NULL), 200);
    }
    static const char *const bad[] = {"evil.example", "localhost.evil.example:3000",
                                      "127.0.0.1.nip.io", "chat.internal.evil", "corp.example.evil",
                                      "[::1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *ans;
        CHECK_EQ_INT(send_req(&e, "GET", "/metrics", bad[i], NULL, NULL, &ans), 403);
        CHECK(strstr(ans, "HOST_ALLOWED_HOSTS"));
        free(ans);
        /* dev mode: the unsigned protocol endpoint is checked too */
        CHECK_EQ_INT(send_req(&e, "GET", "/api/inngest", bad[i], NULL, NULL, NULL), 403);
        CHECK_EQ_INT(send_req(&e, "GET", "/", bad[i], NULL, NULL, NULL), 403);
    }
    CHECK_EQ_INT(send_req(&e, "GET", "/metrics", NULL, NULL, NULL, NULL), 403); /* no Host */
    /* Health probes come with any name. */
    CHECK_EQ_INT(send_req(&e, "GET", "/healthz", "evil.example", NULL, NULL, NULL), 200);
    stop(&e);

    /* Cloud mode: /api/inngest works behind any name (signatures guard it), the rest not. */
    start(&e, 0, NULL);
    CHECK_EQ_INT(send_req(&e, "GET", "/api/inngest", "my-tunnel.example.net", NULL, NULL, NULL),
                 200);
    CHECK_EQ_INT(send_req(&e, "GET", "/metrics", "my-tunnel.example.net", NULL, NULL, NULL), 403);
    stop(&e);
}

TEST_CASE(cross_site_requests_refused) {
    struct env e;
    start(&e, 1, NULL);
    const char *body = "{\"messages\":[]}";
    /* The chat route answers 400 for this body: reaching it is what counts here. */
    CHECK_EQ_INT(send_req(&e, "POST", "/api/chat/inngest", "localhost:3000", NULL, body, NULL),
                 400); /* curl -d: no Origin, no Sec-Fetch-Site */
    CHECK_EQ_INT(send_req(&e, "POST", "/api/chat/inngest", "localhost:3000",
                          "Origin: http://localhost:3000\r\nSec-Fetch-Site: same-origin\r\n", body,
                          NULL),
                 400);
    static const char *const hostile[] = {
        "Origin: http://evil.example\r\n",
        "Origin: null\r\n",
        "Origin: http://localhost:8080\r\n",
        "Sec-Fetch-Site: cross-site\r\n",
        "Sec-Fetch-Site: same-site\r\nOrigin: http://localhost:3000\r\n",
        "Origin: http://localhost:3000.evil.example\r\n"};
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        char *ans;
        CHECK_EQ_INT(send_req(&e, "POST", "/api/chat/inngest", "localhost:3000", hostile[i], body,
                              &ans),
                     403);
        CHECK(strstr(ans, "cross-site"));
        free(ans);
        CHECK_EQ_INT(send_req(&e, "DELETE", "/api/rag/documents?key=a", "localhost:3000",
                              hostile[i], NULL, NULL),
                     403);
    }
    /* Reads are not state-changing: a cross-site GET of the page is fine (and unreadable to
     * the other site anyway). */
    CHECK_EQ_INT(send_req(&e, "GET", "/", "localhost:3000", "Sec-Fetch-Site: cross-site\r\n",
                          NULL, NULL),
                 200);
    /* The configured public origin is ours even when a proxy rewrote Host. */
    CHECK_EQ_INT(send_req(&e, "POST", "/api/chat/inngest", "127.0.0.1:3000",
                          "Origin: https://app.example.com\r\n", body, NULL),
                 400);
    stop(&e);
}

TEST_CASE(token_guards_host_routes) {
    static const char *const vars[] = {"HOST_AUTH_TOKEN", "t0ken-for-the-guard-test", NULL};
    struct env e;
    start(&e, 1, vars);
    const char *h = "127.0.0.1";
    char *ans;
    CHECK_EQ_INT(send_req(&e, "GET", "/metrics", h, NULL, NULL, &ans), 401);
    CHECK(strstr(ans, "WWW-Authenticate: Bearer"));
    free(ans);
    CHECK_EQ_INT(send_req(&e, "GET", "/metrics", h,
                          "Authorization: Bearer t0ken-for-the-guard-test\r\n", NULL, NULL),
                 200);
    CHECK_EQ_INT(send_req(&e, "GET", "/metrics", h,
                          "Authorization: Bearer t0ken-for-the-guard-tesT\r\n", NULL, NULL),
                 401);
    CHECK_EQ_INT(send_req(&e, "GET", "/metrics", h,
                          "Authorization: Bearer t0ken-for-the-guard-test-and-more\r\n", NULL,
                          NULL),
                 401);
    CHECK_EQ_INT(send_req(&e, "POST", "/api/chat/inngest", h, NULL, "{}", NULL), 401);
    CHECK_EQ_INT(send_req(&e, "GET", "/api/rag/documents", h, NULL, NULL, NULL), 401);
    /* Not guarded by the token: health, and the protocol endpoint (signatures in cloud). */
    CHECK_EQ_INT(send_req(&e, "GET", "/healthz", h, NULL, NULL, NULL), 200);
    CHECK_EQ_INT(send_req(&e, "GET", "/api/inngest", h, NULL, NULL, NULL), 200);

    /* The page asks for the token, the form sets the cookie, the cookie opens the routes. */
    CHECK_EQ_INT(send_req(&e, "GET", "/", h, NULL, NULL, &ans), 401);
    CHECK(strstr(ans, "<form method=\"post\" action=\"/login\""));
    CHECK(!strstr(ans, "t0ken-for-the-guard-test"));
    free(ans);
    CHECK_EQ_INT(send_req(&e, "POST", "/login", h, NULL, "token=wrong-token-value-123", &ans), 401);
    CHECK(!strstr(ans, "Set-Cookie"));
    free(ans);
    CHECK_EQ_INT(send_req(&e, "POST", "/login", h, "Origin: http://evil.example\r\n",
                          "token=t0ken-for-the-guard-test", NULL),
                 403); /* no signing in from another site */
    CHECK_EQ_INT(send_req(&e, "POST", "/login", h,
                          "Content-Type: application/x-www-form-urlencoded\r\n",
                          "token=t0ken%2Dfor-the-guard-test", &ans),
                 303);
    CHECK(strstr(ans, "Set-Cookie: " HOST_GUARD_COOKIE
                      "=t0ken-for-the-guard-test; Path=/; HttpOnly; SameSite=Strict\r\n"));
    CHECK(strstr(ans, "Location: /\r\n"));
    free(ans);
    const char *cookie = "Cookie: theme=dark; " HOST_GUARD_COOKIE "=t0ken-for-the-guard-test\r\n";
    CHECK_EQ_INT(send_req(&e, "GET", "/", h, cookie, NULL, &ans), 200);
    CHECK(strstr(ans, "<title>inngest-c chat</title>"));
    free(ans);
    CHECK_EQ_INT(send_req(&e, "GET", "/metrics", h, cookie, NULL, NULL), 200);
    CHECK_EQ_INT(send_req(&e, "GET", "/metrics", h,
                          "Cookie: " HOST_GUARD_COOKIE "=t0ken-for-the-guard-tesx\r\n", NULL, NULL),
                 401);
    /* Behind TLS (a proxy says so), the cookie is Secure. */
    CHECK_EQ_INT(send_req(&e, "POST", "/login", h, "X-Forwarded-Proto: https\r\n",
                          "token=t0ken-for-the-guard-test", &ans),
                 303);
    CHECK(strstr(ans, "SameSite=Strict; Secure\r\n"));
    free(ans);
    stop(&e);
}

TEST_CASE(bad_token_settings_refused) {
    static const char *const cases[][3] = {{"HOST_AUTH_TOKEN", "short", NULL},
                                           {"HOST_AUTH_TOKEN", "has a space in it, long", NULL},
                                           {"HOST_AUTH_TOKEN", "semi;colon-0123456789", NULL},
                                           {"HOST_ALLOWED_HOSTS", "[::1", NULL}};
    inngest_app_opts o = {.mode = INNGEST_MODE_DEV};
    inngest_error err;
    inngest_app *app = inngest_app_create(&o, &err);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct host_guard g;
        CHECK_EQ_INT(host_guard_init(&g, app, "/api/inngest", env_lookup, (void *)cases[i], &err),
                     INNGEST_ECONFIG);
        CHECK(strstr(err.message, cases[i][0]));
    }
    inngest_app_destroy(app);
    CHECK(host_guard_is_loopback("127.0.0.1") && host_guard_is_loopback("127.8.9.10") &&
          host_guard_is_loopback("::1") && host_guard_is_loopback("localhost"));
    CHECK(!host_guard_is_loopback("0.0.0.0") && !host_guard_is_loopback("::") &&
          !host_guard_is_loopback("192.168.1.5") && !host_guard_is_loopback("*"));
    CHECK(host_guard_ct_equal("abc", "abc") && !host_guard_ct_equal("abc", "abd") &&
          !host_guard_ct_equal("ab", "abc") && !host_guard_ct_equal("abcd", "abc"));
}

/* The binary refuses to listen beyond loopback without a token, and says what to set. It
 * stops before binding anything. */
TEST_CASE(host_refuses_exposure_without_token) {
    char dir[] = "/tmp/guard-XXXXXX", cmd[1024], out[8192];
    CHECK(mkdtemp(dir));
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && env -u HOST_AUTH_TOKEN -u HOST_ALLOW_UNAUTHENTICATED INNGEST_DEV=1 '%s' "
             "--host 0.0.0.0 --port 0 2>&1",
             dir, INNGEST_HOST_BIN);
    FILE *p = popen(cmd, "r");
    CHECK(p);
    size_t len = fread(out, 1, sizeof(out) - 1, p);
    out[len] = '\0';
    int st = pclose(p);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    CHECK(strstr(out, "refusing to listen on 0.0.0.0 without HOST_AUTH_TOKEN"));
    CHECK(strstr(out, "HOST_ALLOW_UNAUTHENTICATED=1"));
    CHECK(!strstr(out, "listening on"));
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CHECK_EQ_INT(system(cmd), 0);
}
