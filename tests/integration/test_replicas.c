/* SPDX-License-Identifier: MIT */
/*
 * Two host replicas on one PostgreSQL database, as a user runs them behind a load
 * balancer: two `inngest-host` processes, each in its own working directory, with
 * RAG_STORE_URL pointing at the same database. A document added through A's HTTP route is
 * found by B's chat; deleted through A, it is gone from B; added with `inngest-host ingest
 * --store postgresql://...`, both find it; the server restarted in the middle: requests
 * that need it get 503 with Retry-After while it is down, and both hosts recover by
 * themselves. Needs the "pg" fixture (INNGEST_TEST_PG_DIR).
 */
#include "fmacros.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <inngest/inngest.h>

#include "hostenv.h"
#include "rag_testlib.h"
#include "testutil.h"

/* Bounds for waiting on a slow machine; the time actually taken is printed. */
#define START_WAIT_S 120.0
#define CHANGE_WAIT_S 30.0

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

struct host {
    pid_t pid;
    char dir[1100], log[1200], base[64];
};

/* The environment every process started here gets: offline, hashing embedder, the
 * shared database. */
static void child_env(const char *url) {
    unsetenv("OPENAI_API_KEY");
    unsetenv("RAG_STORE_PATH");
    setenv("RAG_EMBEDDER", "hash", 1);
    setenv("RAG_STORE_URL", url, 1);
    setenv("INNGEST_DEV", "1", 1);
    setenv("INNGEST_LOG_LEVEL", "info", 1);
}

static void start_host(struct host *h, const char *name, const char *url) {
    memset(h, 0, sizeof(*h));
    snprintf(h->dir, sizeof(h->dir), "%s/%s", rag_test_dir(), name);
    CHECK_EQ_INT(mkdir(h->dir, 0700), 0);
    snprintf(h->log, sizeof(h->log), "%s/host.log", h->dir);
    pid_t parent = getpid();
    h->pid = fork();
    CHECK(h->pid >= 0);
    if (h->pid == 0) {
        /* A failed check aborts the test before stop_host(): the host goes with it. */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
            _exit(125);
        int fd = open(h->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || chdir(h->dir) != 0)
            _exit(126);
        dup2(fd, 1);
        dup2(fd, 2);
        child_env(url);
        execl(INNGEST_HOST_BIN, "inngest-host", "--host", "127.0.0.1", "--port", "0", "--dev",
              (char *)NULL);
        _exit(127);
    }
    /* Ready when it prints "listening on http://127.0.0.1:PORT/...". */
    double t0 = now_s();
    while (!h->base[0]) {
        FILE *f = fopen(h->log, "r");
        char line[1024];
        while (f && fgets(line, sizeof(line), f)) {
            const char *p = strstr(line, "listening on http://127.0.0.1:");
            int port;
            if (p && sscanf(p, "listening on http://127.0.0.1:%d", &port) == 1)
                snprintf(h->base, sizeof(h->base), "http://127.0.0.1:%d", port);
        }
        if (f)
            fclose(f);
        int st;
        if (!h->base[0] && waitpid(h->pid, &st, WNOHANG) == h->pid) {
            h->pid = 0;
            TEST_FAIL_("host %s exited before listening (see %s)", name, h->log);
        }
        if (!h->base[0] && now_s() - t0 > START_WAIT_S)
            TEST_FAIL_("host %s did not start within %.0f s", name, START_WAIT_S);
        if (!h->base[0])
            usleep(20000);
    }
}

/* SIGTERM, and the exit status must be 0. */
static void stop_host(struct host *h) {
    if (h->pid <= 0)
        return;
    kill(h->pid, SIGTERM);
    int st = 0;
    CHECK_EQ_INT(waitpid(h->pid, &st, 0), h->pid);
    h->pid = 0;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        char cmd[1300];
        snprintf(cmd, sizeof(cmd), "tail -20 '%s' >&2", h->log);
        if (system(cmd)) {
        }
    }
    CHECK(WIFEXITED(st));
    CHECK_EQ_INT(WEXITSTATUS(st), 0);
}

static const char *const question =
    "{\"messages\":[{\"role\":\"user\",\"content\":\"Which port does the quokka protocol "
    "listen on?\"}],\"sessionId\":\"r\"}";

/* Whether `key` is among the sources of h's direct-mode chat answer to `question`. */
static int chat_cites(inngest_transport *t, const struct host *h, const char *key) {
    json_t *j = http_call_json(t, h->base, "POST", "/api/chat", question, 200);
    json_t *src = json_object_get(j, "sources");
    int found = 0;
    for (size_t i = 0; i < json_array_size(src); i++) {
        /* "id" is "<key>#<chunk position>". */
        const char *id = json_string_value(json_object_get(json_array_get(src, i), "id"));
        found |= id && !strncmp(id, key, strlen(key)) && id[strlen(key)] == '#';
    }
    json_decref(j);
    return found;
}

/* Polls h's chat every 10 ms until citing `key` is `want`. Returns the seconds taken. */
static double wait_cites(inngest_transport *t, const struct host *h, const char *key, int want) {
    double t0 = now_s();
    while (chat_cites(t, h, key) != want) {
        if (now_s() - t0 > CHANGE_WAIT_S)
            TEST_FAIL_("%s: \"%s\" %s after %.0f s", h->base, key,
                       want ? "never appeared" : "never went away", CHANGE_WAIT_S);
        usleep(10000);
    }
    return now_s() - t0;
}

static void pg_ctl(const char *cmd) {
    char line[2048];
    snprintf(line, sizeof(line), "bash '%s' %s '%s'", PG_CTL_SH, cmd,
             getenv("INNGEST_TEST_PG_DIR"));
    CHECK_EQ_INT(system(line), 0);
}

/* A request that must be answered 503 with a Retry-After header; returns the body. */
static char *call_503(inngest_transport *t, const char *base, const char *method,
                      const char *path, const char *body) {
    char url[1024];
    snprintf(url, sizeof(url), "%s%s", base, path);
    inngest_header h[1] = {{"Content-Type", "application/json"}};
    inngest_http_request req = {.method = method,
                                .url = url,
                                .headers = h,
                                .header_count = body ? 1 : 0,
                                .body = body,
                                .body_len = body ? strlen(body) : 0};
    inngest_http_response res = {0};
    inngest_error err;
    CHECK_EQ_INT(t->send(t, &req, &res, &err), INNGEST_OK);
    CHECK_EQ_INT(res.status, 503);
    const char *ra = inngest_http_response_header(&res, "Retry-After");
    CHECK(ra != NULL && atoi(ra) > 0);
    char *out = res.body ? res.body : strdup("");
    res.body = NULL;
    inngest_http_response_cleanup(&res);
    return out;
}

static const char *const quokka =
    "{\"key\":\"quokka.md\",\"source\":\"quokka.md\",\"text\":\"# Quokka protocol\\n\\nThe "
    "quokka protocol listens on port 7777 and answers with a wombat handshake.\"}";

/* Runs alone (RUN_SERIAL): it stops and starts the shared test server. */
TEST_CASE(two_hosts_one_database) {
    char plain[1024], url[1100];
    rag_test_store_url("replicas_http", plain, sizeof(plain));
    /* With a password in the URL (the test server trusts loopback and ignores it): it
     * must never be shown. */
    const char *at = strchr(plain, '@');
    CHECK(at != NULL);
    snprintf(url, sizeof(url), "%.*s:sekret%s", (int)(at - plain), plain, at);
    inngest_error err;
    CHECK_EQ_INT(inngest_global_init(), INNGEST_OK);
    inngest_transport *t = inngest_transport_curl_create(&err);
    CHECK(t != NULL);
    struct host a, b;
    start_host(&a, "a", url);
    start_host(&b, "b", url);
    CHECK(!chat_cites(t, &b, "quokka.md"));

    char *listed = http_call(t, a.base, "GET", "/api/rag/documents", NULL, 0, NULL, 200);
    CHECK(strstr(listed, "postgresql://postgres:***@127.0.0.1") != NULL);
    CHECK(strstr(listed, "sekret") == NULL);
    free(listed);

    /* Added on A -> found by B's chat. */
    json_t *j = http_call_json(t, a.base, "POST", "/api/rag/documents", quokka, 200);
    json_decref(j);
    printf("added on A, cited by B's chat after %.3f s\n", wait_cites(t, &b, "quokka.md", 1));

    /* Deleted on A -> gone from B. */
    char *body = http_call(t, a.base, "DELETE", "/api/rag/documents?key=quokka.md", NULL, 0,
                           NULL, 200);
    free(body);
    printf("deleted on A, gone from B's chat after %.3f s\n", wait_cites(t, &b, "quokka.md", 0));

    /* Added with the ingest command -> found by both. */
    char file[1200], cmd[4096];
    snprintf(file, sizeof(file), "%s/quokka.md", rag_test_dir());
    FILE *f = fopen(file, "w");
    CHECK(f != NULL);
    fputs("# Quokka protocol\n\nThe quokka protocol listens on port 7777 and answers with a "
          "wombat handshake.\n",
          f);
    fclose(f);
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && env -u OPENAI_API_KEY RAG_EMBEDDER=hash '%s' ingest --store '%s' "
             "quokka.md >/dev/null 2>&1",
             rag_test_dir(), INNGEST_HOST_BIN, url);
    CHECK_EQ_INT(system(cmd), 0);
    printf("ingested by the CLI, cited by A after %.3f s, by B after %.3f s\n",
           wait_cites(t, &a, "quokka.md", 1), wait_cites(t, &b, "quokka.md", 1));

    /* The server goes down: requests that need it answer 503 with Retry-After. */
    pg_ctl("kill");
    body = call_503(t, b.base, "POST", "/api/chat", question);
    CHECK(strstr(body, "unavailable") != NULL);
    free(body);
    body = call_503(t, a.base, "GET", "/api/rag/documents", NULL);
    free(body);
    body = call_503(t, a.base, "POST", "/api/rag/documents", quokka);
    free(body);
    body = http_call(t, a.base, "GET", "/healthz", NULL, 0, NULL, 200); /* still alive */
    free(body);

    /* Up again: both recover by themselves; a change on B reaches A. */
    pg_ctl("up");
    body = http_call(t, a.base, "DELETE", "/api/rag/documents?key=quokka.md", NULL, 0, NULL,
                     200);
    free(body);
    printf("after the restart, deleted on A, gone from B after %.3f s\n",
           wait_cites(t, &b, "quokka.md", 0));
    j = http_call_json(t, b.base, "POST", "/api/rag/documents", quokka, 200);
    json_decref(j);
    printf("after the restart, added on B, cited by A after %.3f s\n",
           wait_cites(t, &a, "quokka.md", 1));

    stop_host(&a);
    stop_host(&b);
    /* Nothing logged the password either. */
    char cmd2[2600];
    snprintf(cmd2, sizeof(cmd2), "! grep -q sekret '%s' '%s'", a.log, b.log);
    CHECK_EQ_INT(system(cmd2), 0);
    inngest_transport_destroy(t);
    inngest_global_cleanup();
}

/* The status of one request (any status is fine), or -1 when the host did not answer. */
static int status_of(inngest_transport *t, const char *base, const char *method,
                     const char *path) {
    char url[1024];
    snprintf(url, sizeof(url), "%s%s", base, path);
    inngest_http_request req = {.method = method, .url = url};
    inngest_http_response res = {0};
    inngest_error err;
    int status = t->send(t, &req, &res, &err) == INNGEST_OK ? res.status : -1;
    inngest_http_response_cleanup(&res);
    return status;
}

/* A host started while the database is down starts anyway: what needs the store answers
 * 503 with Retry-After, and once the database is up the same process answers 200 and
 * stores and finds documents (no restart). Runs alone (RUN_SERIAL): it stops and starts
 * the shared test server. */
TEST_CASE(host_starts_while_database_down) {
    char url[1024];
    rag_test_store_url("replicas_down", url, sizeof(url)); /* created while the server is up */
    inngest_error err;
    CHECK_EQ_INT(inngest_global_init(), INNGEST_OK);
    inngest_transport *t = inngest_transport_curl_create(&err);
    CHECK(t != NULL);
    pg_ctl("kill");
    struct host h;
    start_host(&h, "down", url);
    char *body = call_503(t, h.base, "GET", "/api/rag/documents", NULL);
    free(body);
    body = call_503(t, h.base, "POST", "/api/rag/documents", quokka);
    free(body);
    body = call_503(t, h.base, "POST", "/api/chat", question);
    free(body);
    body = http_call(t, h.base, "GET", "/healthz", NULL, 0, NULL, 200);
    free(body);

    pg_ctl("up");
    double t0 = now_s();
    int status;
    while ((status = status_of(t, h.base, "GET", "/api/rag/documents")) != 200) {
        CHECK_EQ_INT(status, 503);
        if (now_s() - t0 > CHANGE_WAIT_S)
            TEST_FAIL_("the host still answers 503 %.0f s after the database came up",
                       CHANGE_WAIT_S);
        usleep(10000);
    }
    printf("database up: the host answered 200 after %.3f s\n", now_s() - t0);
    json_t *j = http_call_json(t, h.base, "POST", "/api/rag/documents", quokka, 200);
    json_decref(j);
    printf("then added and cited after %.3f s\n", wait_cites(t, &h, "quokka.md", 1));
    stop_host(&h);
    inngest_transport_destroy(t);
    inngest_global_cleanup();
}
