/* SPDX-License-Identifier: MIT */
/*
 * The floor: a bare civetweb server, configured as inngest-host configures it (threads,
 * keep-alive, TCP_NODELAY), whose one handler reads the whole body and answers a fixed
 * JSON document in a single write. No protocol work at all, so it is the ceiling our host
 * can approach.
 *
 *   bench_floor [--port N] [--threads N] [--header-api]
 *
 * Listens on 127.0.0.1; SIGINT/SIGTERM stop it. --header-api answers through civetweb's
 * mg_response_header_* calls instead, as the host's adapter does, to show what they cost.
 */
#include "fmacros.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <civetweb.h>

static const char body[] = "{\"status\":\"success\",\"result\":{\"orderId\":42}}";
static char response[256]; /* the whole answer, prebuilt */
static size_t response_len;
static int header_api; /* --header-api: answer through civetweb's header calls instead */

static int handler(struct mg_connection *conn, void *cbdata) {
    (void)cbdata;
    char buf[16384];
    while (mg_read(conn, buf, sizeof(buf)) > 0) {
    }
    if (!header_api) {
        /* Status line, headers and body in one write: the least a handler can do. */
        mg_write(conn, response, response_len);
        return 200;
    }
    /* The idiomatic civetweb way: one write per header line (with TCP_NODELAY, one TCP
     * segment each). */
    char len[32];
    snprintf(len, sizeof(len), "%zu", sizeof(body) - 1);
    mg_response_header_start(conn, 200);
    mg_response_header_add(conn, "Content-Type", "application/json", -1);
    mg_response_header_add(conn, "Content-Length", len, -1);
    mg_response_header_send(conn);
    mg_write(conn, body, sizeof(body) - 1);
    return 200;
}

int main(int argc, char **argv) {
    const char *port = "3999", *threads = "32";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--port") && i + 1 < argc)
            port = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = argv[++i];
        else if (!strcmp(argv[i], "--header-api"))
            header_api = 1;
    }
    response_len = (size_t)snprintf(response, sizeof(response),
                                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                    "Content-Length: %zu\r\n\r\n%s",
                                    sizeof(body) - 1, body);
    char ports[64];
    snprintf(ports, sizeof(ports), "127.0.0.1:%s", port);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    mg_init_library(0);
    const char *options[] = {"listening_ports",
                             ports,
                             "num_threads",
                             threads,
                             "request_timeout_ms",
                             "600000",
                             "enable_keep_alive",
                             "yes",
                             "keep_alive_timeout_ms",
                             "5000",
                             "tcp_nodelay",
                             "1",
                             NULL};
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof(cb));
    struct mg_context *ctx = mg_start(&cb, NULL, options);
    if (!ctx) {
        fprintf(stderr, "bench_floor: cannot listen on %s\n", ports);
        return 1;
    }
    mg_set_request_handler(ctx, "/", handler, NULL);
    fprintf(stderr, "bench_floor listening on http://%s/\n", ports);
    int sig;
    sigwait(&stop, &sig);
    mg_stop(ctx);
    mg_exit_library();
    return 0;
}
