/* SPDX-License-Identifier: MIT */
#include "fmacros.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fake_model.h"

struct fm_server {
    int lfd;
    int stop[2]; /* a byte written to stop[1] wakes every wait */
    pthread_t thread;
    char base[64];
    fm_handler_fn fn;
    void *user;
    pthread_mutex_t mu;
    struct fm_request *reqs;
    size_t n, cap;
};

struct fm_conn {
    int fd;
    struct fm_server *s;
};

static void die(const char *what) {
    perror(what);
    abort();
}

/* Waits until `fd` is readable or the server stops. Returns 1 readable, 0 stop/timeout. */
static int wait_readable(struct fm_server *s, int fd, long ms) {
    struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = s->stop[0], .events = POLLIN}};
    int r;
    do {
        r = poll(p, 2, (int)ms);
    } while (r < 0 && errno == EINTR);
    if (r <= 0 || (p[1].revents & POLLIN))
        return 0;
    return 1;
}

static const char *find_hdr(const char *block, const char *name, size_t *vlen) {
    size_t nl = strlen(name);
    for (const char *line = block; line && *line;) {
        const char *eol = strstr(line, "\r\n");
        size_t ll = eol ? (size_t)(eol - line) : strlen(line);
        if (ll > nl && line[nl] == ':' && !strncasecmp(line, name, nl)) {
            const char *v = line + nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            *vlen = (size_t)(line + ll - v);
            return v;
        }
        line = eol ? eol + 2 : NULL;
    }
    return NULL;
}

const char *fm_header(const struct fm_request *r, const char *name, char *out, size_t size) {
    size_t vl;
    const char *v = find_hdr(r->headers, name, &vl);
    if (!v)
        return NULL;
    snprintf(out, size, "%.*s", (int)vl, v);
    return out;
}

/* Reads one request. Returns 0, or -1 when the client went away or sent garbage. */
static int read_request(struct fm_server *s, int fd, struct fm_request *r) {
    size_t cap = 8192, len = 0;
    char *buf = malloc(cap);
    size_t need = 0, body_at = 0; /* body_at > 0 once the headers are in */
    if (!buf)
        die("malloc");
    for (;;) {
        if (body_at && len >= need)
            break;
        if (len + 4096 > cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            if (!buf)
                die("realloc");
        }
        if (!wait_readable(s, fd, 10000))
            goto fail;
        ssize_t got = recv(fd, buf + len, cap - len - 1, 0);
        if (got <= 0)
            goto fail;
        len += (size_t)got;
        buf[len] = '\0';
        char *end = body_at ? NULL : strstr(buf, "\r\n\r\n");
        if (end) {
            size_t hlen = (size_t)(end - buf) + 4;
            end[2] = '\0'; /* the header block keeps its last CRLF */
            const char *sp = strchr(buf, ' ');
            if (!sp)
                goto fail;
            snprintf(r->method, sizeof(r->method), "%.*s", (int)(sp - buf), buf);
            const char *sp2 = strchr(sp + 1, ' ');
            if (!sp2)
                goto fail;
            snprintf(r->path, sizeof(r->path), "%.*s", (int)(sp2 - sp - 1), sp + 1);
            const char *hb = strstr(buf, "\r\n");
            r->headers = strdup(hb ? hb + 2 : "");
            size_t vl;
            const char *cl = find_hdr(r->headers, "Content-Length", &vl);
            need = hlen + (cl ? strtoul(cl, NULL, 10) : 0);
            body_at = hlen; /* an offset: buf may move */
        }
    }
    r->body_len = len - body_at;
    r->body = malloc(r->body_len + 1);
    if (!r->body)
        die("malloc");
    memcpy(r->body, buf + body_at, r->body_len);
    r->body[r->body_len] = '\0';
    r->json = json_loadb(r->body, r->body_len, 0, NULL);
    free(buf);
    return 0;
fail:
    free(buf);
    return -1;
}

static void *serve(void *arg) {
    struct fm_server *s = arg;
    for (;;) {
        if (!wait_readable(s, s->lfd, -1))
            return NULL;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct fm_request r;
        memset(&r, 0, sizeof(r));
        if (read_request(s, fd, &r) == 0) {
            pthread_mutex_lock(&s->mu);
            if (s->n == s->cap) {
                s->cap = s->cap ? s->cap * 2 : 16;
                s->reqs = realloc(s->reqs, s->cap * sizeof(*s->reqs));
                if (!s->reqs)
                    die("realloc");
            }
            size_t index = s->n;
            s->reqs[s->n++] = r;
            pthread_mutex_unlock(&s->mu);
            struct fm_conn c = {fd, s};
            s->fn(s->user, &c, &r, index);
        } else {
            free(r.headers);
        }
        close(fd);
    }
}

struct fm_server *fm_start(fm_handler_fn fn, void *user) {
    struct fm_server *s = calloc(1, sizeof(*s));
    if (!s)
        die("calloc");
    s->fn = fn;
    s->user = user;
    pthread_mutex_init(&s->mu, NULL);
    if (pipe(s->stop))
        die("pipe");
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (s->lfd < 0)
        die("socket");
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    if (bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) || listen(s->lfd, 16) ||
        getsockname(s->lfd, (struct sockaddr *)&a, &al))
        die("bind/listen");
    snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%d/v1", ntohs(a.sin_port));
    if (pthread_create(&s->thread, NULL, serve, s))
        die("pthread_create");
    return s;
}

void fm_stop(struct fm_server *s) {
    if (!s)
        return;
    if (write(s->stop[1], "x", 1) != 1)
        die("write");
    pthread_join(s->thread, NULL);
    close(s->lfd);
    close(s->stop[0]);
    close(s->stop[1]);
    for (size_t i = 0; i < s->n; i++) {
        free(s->reqs[i].headers);
        free(s->reqs[i].body);
        json_decref(s->reqs[i].json);
    }
    free(s->reqs);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

const char *fm_base_url(const struct fm_server *s) {
    return s->base;
}

size_t fm_count(struct fm_server *s) {
    pthread_mutex_lock(&s->mu);
    size_t n = s->n;
    pthread_mutex_unlock(&s->mu);
    return n;
}

const struct fm_request *fm_req(struct fm_server *s, size_t i) {
    pthread_mutex_lock(&s->mu);
    const struct fm_request *r = i < s->n ? &s->reqs[i] : NULL;
    pthread_mutex_unlock(&s->mu);
    return r;
}

/* ---- answering -------------------------------------------------------------------------- */

int fm_write(struct fm_conn *c, const void *data, size_t len) {
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static const char *reason(int status) {
    switch (status) {
        case 200:
            return "OK";
        case 400:
            return "Bad Request";
        case 401:
            return "Unauthorized";
        case 429:
            return "Too Many Requests";
        case 500:
            return "Internal Server Error";
        default:
            return "Status";
    }
}

void fm_respond(struct fm_conn *c, int status, const char *extra, const char *content_type,
                const char *body) {
    char head[2048];
    size_t bl = strlen(body);
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n%s\r\n",
                     status, reason(status), content_type, bl, extra ? extra : "");
    if (fm_write(c, head, (size_t)n) == 0)
        fm_write(c, body, bl);
}

void fm_respond_json(struct fm_conn *c, int status, const char *extra, json_t *body) {
    char *text = json_dumps(body, JSON_COMPACT);
    if (!text)
        die("json_dumps");
    fm_respond(c, status, extra, "application/json", text);
    free(text);
    json_decref(body);
}

void fm_stream_begin(struct fm_conn *c) {
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                               "Transfer-Encoding: chunked\r\nConnection: close\r\n"
                               "x-request-id: req_stream\r\n\r\n";
    fm_write(c, head, sizeof(head) - 1);
}

static void pause_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

void fm_chunk(struct fm_conn *c, const char *data, size_t len, int pause) {
    char size[32];
    int n = snprintf(size, sizeof(size), "%zx\r\n", len);
    /* Frame and data in one write, so each chunk is one TCP segment on loopback. */
    char *buf = malloc((size_t)n + len + 2);
    if (!buf)
        die("malloc");
    memcpy(buf, size, (size_t)n);
    memcpy(buf + n, data, len);
    memcpy(buf + (size_t)n + len, "\r\n", 2);
    fm_write(c, buf, (size_t)n + len + 2);
    free(buf);
    if (pause > 0)
        pause_ms(pause);
}

void fm_chunks(struct fm_conn *c, const char *text, int pause) {
    fm_chunk(c, text, strlen(text), pause);
}

void fm_stream_end(struct fm_conn *c) {
    fm_write(c, "0\r\n\r\n", 5);
}

void fm_stall(struct fm_conn *c, long ms) {
    /* Readable here means the client hung up (it sends nothing more). */
    wait_readable(c->s, c->fd, ms);
}
