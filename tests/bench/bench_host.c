/* SPDX-License-Identifier: MIT */
/*
 * A stand-in for `inngest-host --fixtures` while the host is built without
 * functions/fixtures.c: the same library, adapter and configuration (INNGEST_* from the
 * environment), serving the example functions plus bench-many-steps (bench_fixture.c) on
 * /api/inngest. No chat routes, logs or metrics.
 *
 *   bench_host [--port N]      (listens on 127.0.0.1; SIGINT/SIGTERM stop)
 */
#include "fmacros.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <inngest/inngest.h>

#include "bench_fixture.h"
#include "examples.h"

int main(int argc, char **argv) {
    int port = 3000;
    for (int i = 1; i + 1 < argc; i += 2)
        if (!strcmp(argv[i], "--port"))
            port = atoi(argv[i + 1]);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (inngest_global_init() != INNGEST_OK)
        return 1;
    inngest_error err;
    inngest_error_clear(&err);
    inngest_app_opts opts = {0};
    inngest_app *app = inngest_app_create(&opts, &err);
    inngest_server *srv = NULL;
    int status = 1;
    if (!app || examples_register(app, &err) || bench_fixture_register(app, &err)) {
        fprintf(stderr, "bench_host: %s\n", err.message);
        goto out;
    }
    inngest_app_freeze(app);
    inngest_server_opts sopts = {.host = "127.0.0.1", .port = port};
    srv = inngest_server_create(app, &sopts, &err);
    if (!srv || inngest_server_start(srv, &err) != INNGEST_OK) {
        fprintf(stderr, "bench_host: %s\n", err.message);
        goto out;
    }
    fprintf(stderr, "bench_host listening on http://127.0.0.1:%d/api/inngest\n",
            inngest_server_port(srv));
    int sig;
    sigwait(&stop, &sig);
    status = 0;
out:
    inngest_server_destroy(srv);
    inngest_app_destroy(app);
    inngest_global_cleanup();
    return status;
}
