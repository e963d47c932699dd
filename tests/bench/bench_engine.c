/* SPDX-License-Identifier: MIT */
/*
 * In-process cost of the protocol core: calls inngest_app_handle() directly (no sockets,
 * no threads) on the benchmark's request mix, and prints microseconds per request and
 * nanoseconds per body byte. Run it under perf or callgrind to see where the time goes.
 *
 *   bench_engine [--seconds S] [--only NAME]
 *
 * The app is the host's: the example functions, plus bench-many-steps (bench_fixture.c,
 * written to the fixture's spec so this program does not depend on functions/fixtures.c).
 */
#include "fmacros.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <inngest/inngest.h>

#include "bench_fixture.h"
#include "bench_reqs.h"
#include "examples.h"

#define KEY "signkey-test-8ee2262a15e8d3c42d6a840db7af3de2aab08ef632b32a37a687f24b34dba3ff"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *env_none(void *user, const char *name) {
    (void)user;
    (void)name;
    return NULL;
}

static inngest_app *make_app(inngest_mode mode) {
    inngest_app_opts o = {.app_id = "inngest-c-ai-chat", .mode = mode, .getenv_fn = env_none};
    if (mode == INNGEST_MODE_CLOUD)
        o.signing_key = KEY;
    inngest_error err;
    inngest_error_clear(&err);
    inngest_app *app = inngest_app_create(&o, &err);
    if (!app || examples_register(app, &err) != INNGEST_OK) {
        fprintf(stderr, "bench_engine: %s\n", err.message);
        exit(1);
    }
    if (bench_fixture_register(app, &err) != INNGEST_OK) {
        fprintf(stderr, "bench_engine: %s\n", err.message);
        exit(1);
    }
    inngest_app_freeze(app);
    return app;
}

int main(int argc, char **argv) {
    double seconds = 1.0;
    const char *only = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--seconds"))
            seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--only"))
            only = argv[i + 1];
    }
    if (inngest_global_init() != INNGEST_OK)
        return 1;
    inngest_app *dev = make_app(INNGEST_MODE_DEV), *cloud = make_app(INNGEST_MODE_CLOUD);
    printf("%-12s %8s %10s %12s %14s %10s\n", "scenario", "status", "body B", "us/request",
           "ns/body byte", "requests");
    for (int s = 0; s < BENCH_SCENARIOS; s++) {
        struct bench_req r;
        if (bench_req_build((enum bench_scenario)s, "inngest-c-ai-chat", KEY, (int64_t)time(NULL),
                            &r) != 0)
            return 1;
        if (only && strcmp(only, r.name)) {
            bench_req_cleanup(&r);
            continue;
        }
        inngest_header h[16];
        size_t nh = 0;
        for (int i = 0; r.body && bench_call_headers[i]; i += 2)
            h[nh++] = (inngest_header){bench_call_headers[i], bench_call_headers[i + 1]};
        if (r.signed_req)
            h[nh++] = (inngest_header){"X-Inngest-Signature", r.signature};
        inngest_http_request req = {.method = r.method,
                                    .url = r.path,
                                    .headers = h,
                                    .header_count = nh,
                                    .body = r.body,
                                    .body_len = r.body_len};
        inngest_app *app = r.signed_req ? cloud : dev;
        long n = 0;
        int status = 0;
        double t0 = now_s(), t = t0;
        while (t - t0 < seconds) {
            for (int k = 0; k < 16; k++, n++) {
                inngest_http_response res = {0};
                inngest_app_handle(app, &req, &res);
                status = res.status;
                inngest_http_response_cleanup(&res);
            }
            t = now_s();
        }
        double us = (t - t0) * 1e6 / (double)n;
        printf("%-12s %8d %10zu %12.2f %14.2f %10ld%s\n", r.name, status, r.body_len, us,
               r.body_len ? us * 1e3 / (double)r.body_len : 0.0, n,
               status == r.expect_status ? "" : "   <-- unexpected status");
        bench_req_cleanup(&r);
    }
    inngest_app_destroy(dev);
    inngest_app_destroy(cloud);
    inngest_global_cleanup();
    return 0;
}
