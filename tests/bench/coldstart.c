/* SPDX-License-Identifier: MIT */
/*
 * Cold start: time from fork/exec of a server command to its first good introspection
 * answer (HTTP 200 whose body holds "function_count", or TEXT with --match), polling GET
 * every 0.2 ms.
 *
 *   bench_coldstart PORT PATH [--match TEXT] -- COMMAND [ARGS…]
 *
 * Prints "COLDSTART_MS=<ms>" and stops the server (SIGTERM, then waits for it).
 */
#include "fmacros.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* One GET; returns 1 when the answer is a 200 with an introspection body. */
static int probe(int port, const char *path, const char *match) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = 0;
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
        char req[512], buf[8192];
        int n = snprintf(req, sizeof(req),
                         "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n", path,
                         port);
        if (write(fd, req, (size_t)n) == n) {
            size_t got = 0;
            ssize_t r;
            while (got < sizeof(buf) - 1 && (r = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
                got += (size_t)r;
            buf[got] = '\0';
            ok = strncmp(buf, "HTTP/1.1 200", 12) == 0 && strstr(buf, match) != NULL;
        }
    }
    close(fd);
    return ok;
}

int main(int argc, char **argv) {
    const char *match = "function_count";
    int cmd = 3;
    if (argc > 5 && !strcmp(argv[3], "--match")) {
        match = argv[4];
        cmd = 5;
    }
    if (argc < cmd + 2 || strcmp(argv[cmd], "--") != 0) {
        fprintf(stderr, "usage: bench_coldstart PORT PATH [--match TEXT] -- COMMAND [ARGS...]\n");
        return 2;
    }
    cmd++;
    int port = atoi(argv[1]);
    const char *path = argv[2];
    double t0 = mono_ms();
    pid_t pid = fork();
    if (pid == 0) {
        execvp(argv[cmd], argv + cmd);
        perror("bench_coldstart: exec");
        _exit(127);
    }
    if (pid < 0)
        return 1;
    int status = 1;
    double ms = -1;
    while (mono_ms() - t0 < 30000) {
        if (probe(port, path, match)) {
            ms = mono_ms() - t0;
            break;
        }
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fprintf(stderr, "bench_coldstart: the server exited early\n");
            return 1;
        }
        struct timespec d = {0, 200000};
        nanosleep(&d, NULL);
    }
    kill(pid, SIGTERM);
    waitpid(pid, &status, 0);
    if (ms < 0) {
        fprintf(stderr, "bench_coldstart: no good answer within 30 s\n");
        return 1;
    }
    printf("COLDSTART_MS=%.1f\n", ms);
    return 0;
}
