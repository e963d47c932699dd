/* SPDX-License-Identifier: MIT */
#include "fmacros.h"

#include "hostenv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

void fake_server_start(struct fake_server *f, inngest_transport *t, const struct fake_route *routes,
                       size_t n) {
    inngest_error err;
    memset(f, 0, sizeof(*f));
    inngest_app_opts o = {.mode = INNGEST_MODE_DEV, .transport = t};
    f->app = inngest_app_create(&o, &err);
    CHECK(f->app != NULL);
    inngest_app_freeze(f->app);
    inngest_server_opts so = {.port = 0};
    f->srv = inngest_server_create(f->app, &so, &err);
    CHECK(f->srv != NULL);
    for (size_t i = 0; i < n; i++)
        CHECK_EQ_INT(inngest_server_add_route(f->srv, routes[i].prefix, routes[i].fn, NULL),
                     INNGEST_OK);
    CHECK_EQ_INT(inngest_server_start(f->srv, &err), INNGEST_OK);
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", inngest_server_port(f->srv));
}

void fake_server_stop(struct fake_server *f) {
    inngest_server_destroy(f->srv);
    inngest_app_destroy(f->app);
    memset(f, 0, sizeof(*f));
}

char *http_call(inngest_transport *t, const char *base, const char *method, const char *path,
                const char *body, size_t body_len, const char *accept, int expect_status) {
    char url[8192];
    snprintf(url, sizeof(url), "%s%s", base, path);
    inngest_header h[2];
    size_t nh = 0;
    if (accept)
        h[nh++] = (inngest_header){"Accept", accept};
    if (body)
        h[nh++] = (inngest_header){"Content-Type", "application/json"};
    inngest_http_request req = {.method = method,
                                .url = url,
                                .headers = h,
                                .header_count = nh,
                                .body = body,
                                .body_len = body ? (body_len ? body_len : strlen(body)) : 0};
    inngest_http_response res = {0};
    inngest_error err;
    CHECK_EQ_INT(t->send(t, &req, &res, &err), INNGEST_OK);
    if (res.status != expect_status)
        fprintf(stderr, "%s %s -> %d %s\n", method, path, res.status, res.body);
    CHECK_EQ_INT(res.status, expect_status);
    char *out = res.body ? res.body : strdup("");
    res.body = NULL;
    inngest_http_response_cleanup(&res);
    return out;
}

json_t *http_call_json(inngest_transport *t, const char *base, const char *method, const char *path,
                       const char *body, int expect_status) {
    char *text = http_call(t, base, method, path, body, 0, NULL, expect_status);
    json_t *j = testutil_json(text);
    free(text);
    return j;
}
