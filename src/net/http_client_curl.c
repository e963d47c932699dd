/* SPDX-License-Identifier: MIT */
/*
 * The libcurl implementation of inngest_transport. The only file that includes curl.h.
 * Each request has an easy handle to itself, which keeps `send` safe to call from many
 * threads at once; finished handles wait in a small pool for the next request, so their
 * open connections (and TLS sessions, DNS answers) are reused: a run that checkpoints
 * every step sends many small requests to the same API.
 *
 * libcurl is loaded with dlopen() on the first request, not linked: it pulls in about 30
 * shared objects (TLS, Kerberos, LDAP, SSH, …) whose loading and relocation were the
 * largest part of the host's cold start, and most processes (a host that is only called)
 * never send anything.
 */
#include "fmacros.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "net/net.h"
#include "inngest/http.h"

/* The libcurl functions this file calls, resolved once by load_curl(). */
static struct {
    CURLcode (*global_init)(long flags);
    void (*global_cleanup)(void);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *h);
    void (*easy_reset)(CURL *h);
    CURLcode (*easy_setopt)(CURL *h, CURLoption opt, ...);
    CURLcode (*easy_perform)(CURL *h);
    CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
    const char *(*easy_strerror)(CURLcode cc);
    struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
    void (*slist_free_all)(struct curl_slist *l);
    int ready;          /* every function found and curl_global_init succeeded */
    char problem[256];  /* why not, when not */
} curl;
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void load_curl(void) {
    void *lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *why = dlerror();
        snprintf(curl.problem, sizeof(curl.problem), "cannot load libcurl: %s",
                 why ? why : "not found");
        return;
    }
    static const char *const names[] = {
        "curl_global_init",   "curl_global_cleanup", "curl_easy_init",    "curl_easy_cleanup",
        "curl_easy_setopt",   "curl_easy_perform",   "curl_easy_getinfo", "curl_easy_strerror",
        "curl_slist_append",  "curl_slist_free_all", "curl_easy_reset"};
    void *fns[sizeof(names) / sizeof(names[0])];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        fns[i] = dlsym(lib, names[i]);
        if (!fns[i]) {
            snprintf(curl.problem, sizeof(curl.problem), "libcurl has no %s", names[i]);
            return; /* the library stays loaded: harmless, and dlclose is never safe here */
        }
    }
    /* POSIX: a data pointer from dlsym converts to a function pointer through memcpy. */
    memcpy(&curl.global_init, &fns[0], sizeof(fns[0]));
    memcpy(&curl.global_cleanup, &fns[1], sizeof(fns[1]));
    memcpy(&curl.easy_init, &fns[2], sizeof(fns[2]));
    memcpy(&curl.easy_cleanup, &fns[3], sizeof(fns[3]));
    memcpy(&curl.easy_setopt, &fns[4], sizeof(fns[4]));
    memcpy(&curl.easy_perform, &fns[5], sizeof(fns[5]));
    memcpy(&curl.easy_getinfo, &fns[6], sizeof(fns[6]));
    memcpy(&curl.easy_strerror, &fns[7], sizeof(fns[7]));
    memcpy(&curl.slist_append, &fns[8], sizeof(fns[8]));
    memcpy(&curl.slist_free_all, &fns[9], sizeof(fns[9]));
    memcpy(&curl.easy_reset, &fns[10], sizeof(fns[10]));
    if (curl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(curl.problem, sizeof(curl.problem), "curl_global_init failed");
        return;
    }
    curl.ready = 1;
}

/* Loads libcurl once per process (any thread may be first). Returns INNGEST_OK or fills
 * `err`. */
static int need_curl(inngest_error *err) {
    pthread_once(&curl_once, load_curl);
    return curl.ready ? INNGEST_OK : inngest_error_set(err, INNGEST_EHTTP, "%s", curl.problem);
}

/* Idle easy handles kept per transport, with their connections. */
#define CURL_POOL_MAX 8

struct curl_transport {
    inngest_transport base; /* first member: the vtable */
    pthread_mutex_t lock;   /* guards idle and nidle */
    CURL *idle[CURL_POOL_MAX];
    int nidle;
};

/* An idle handle of the pool, or a new one; NULL when memory runs out. */
static CURL *take_handle(struct curl_transport *t) {
    CURL *h = NULL;
    pthread_mutex_lock(&t->lock);
    if (t->nidle > 0)
        h = t->idle[--t->nidle];
    pthread_mutex_unlock(&t->lock);
    return h ? h : curl.easy_init();
}

/* Puts a handle back for the next request: its options are cleared (they point into this
 * request's memory), its connections stay open. Beyond the pool's size it is closed. */
static void give_handle(struct curl_transport *t, CURL *h) {
    curl.easy_reset(h);
    pthread_mutex_lock(&t->lock);
    if (t->nidle < CURL_POOL_MAX) {
        t->idle[t->nidle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&t->lock);
    if (h)
        curl.easy_cleanup(h);
}

/* Buffered answers (API, model, embeddings) larger than this are refused: none is near it,
 * and a hostile or broken server must not make us hold more. Streamed answers have their
 * own per-event cap (src/ai/sse.c). */
#define ING_MAX_RESPONSE_BYTES (32u << 20)

struct recv_ctx {
    inngest_http_response *res;
    const inngest_http_request *req;
    struct ing_buf body;
    int aborted;
    int too_big; /* the body passed ING_MAX_RESPONSE_BYTES */
    /* Streamed transfers: the longest silence allowed, when the last bytes moved, and
     * whether the silence ran out. */
    long idle_ms;
    double last_activity_ms;
    curl_off_t seen_up;
    int idle_expired;
};

static double mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Streamed transfers only: ends the transfer once nothing was sent or received for
 * idle_ms. libcurl calls this often while bytes flow and about once a second when none
 * do, so the limit holds to within a second. */
static int on_xferinfo(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow) {
    struct recv_ctx *rc = user;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    double now = mono_ms();
    if (ulnow != rc->seen_up) {
        rc->seen_up = ulnow;
        rc->last_activity_ms = now;
    }
    if (now - rc->last_activity_ms > (double)rc->idle_ms) {
        rc->idle_expired = 1;
        return 1;
    }
    return 0;
}

static size_t on_write(char *data, size_t size, size_t n, void *user) {
    struct recv_ctx *rc = user;
    size_t len = size * n;
    rc->last_activity_ms = mono_ms();
    if (rc->req->on_body) {
        if (rc->req->on_body(rc->req->on_body_user, data, len) != 0) {
            rc->aborted = 1;
            return 0;
        }
        return len;
    }
    int r = ing_buf_append(&rc->body, data, len);
    if (r == INNGEST_ETOOBIG)
        rc->too_big = 1;
    return r == INNGEST_OK ? len : 0;
}

static size_t on_header(char *data, size_t size, size_t n, void *user) {
    struct recv_ctx *rc = user;
    size_t len = size * n;
    rc->last_activity_ms = mono_ms();
    /* A new status line (redirect, 100-continue) starts a fresh header set. */
    if (len > 5 && memcmp(data, "HTTP/", 5) == 0) {
        for (size_t i = 0; i < rc->res->header_count; i++) {
            ing_free((char *)rc->res->headers[i].name);
            ing_free((char *)rc->res->headers[i].value);
        }
        rc->res->header_count = 0;
        return len;
    }
    const char *colon = memchr(data, ':', len);
    if (!colon)
        return len;
    size_t nlen = (size_t)(colon - data);
    const char *v = colon + 1, *end = data + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    char *name = ing_strndup(data, nlen), *value = ing_strndup(v, (size_t)(end - v));
    int rc2 = name && value ? inngest_http_response_add_header(rc->res, name, value)
                            : INNGEST_ENOMEM;
    ing_free(name);
    ing_free(value);
    return rc2 == INNGEST_OK ? len : 0;
}

static int curl_send(inngest_transport *self, const inngest_http_request *req,
                     inngest_http_response *res, inngest_error *err) {
    struct curl_transport *t = (struct curl_transport *)self;
    int loaded = need_curl(err);
    if (loaded != INNGEST_OK)
        return loaded;
    CURL *h = take_handle(t);
    if (!h)
        return inngest_error_set(err, INNGEST_ENOMEM, "cannot create a curl handle");
    struct recv_ctx rc = {.res = res, .req = req};
    ing_buf_init(&rc.body, ING_MAX_RESPONSE_BYTES);
    struct curl_slist *hdrs = NULL;
    int ret = INNGEST_OK;
    char errbuf[CURL_ERROR_SIZE] = "";

    for (size_t i = 0; i < req->header_count; i++) {
        size_t l = strlen(req->headers[i].name) + strlen(req->headers[i].value) + 3;
        char *line = ing_malloc(l);
        if (!line) {
            ret = inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
            goto cleanup;
        }
        snprintf(line, l, "%s: %s", req->headers[i].name, req->headers[i].value);
        struct curl_slist *n = curl.slist_append(hdrs, line);
        ing_free(line);
        if (!n) {
            ret = inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
            goto cleanup;
        }
        hdrs = n;
    }
    /* libcurl adds "Expect: 100-continue" to large POSTs; servers we talk to answer
     * directly, so the extra round trip only costs time. */
    hdrs = curl.slist_append(hdrs, "Expect:");

    curl.easy_setopt(h, CURLOPT_URL, req->url);
    curl.easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method ? req->method : "GET");
    if (req->body_len || (req->method && strcmp(req->method, "GET") != 0)) {
        curl.easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        curl.easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    }
    if (req->method && strcmp(req->method, "HEAD") == 0)
        curl.easy_setopt(h, CURLOPT_NOBODY, 1L);
    curl.easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl.easy_setopt(h, CURLOPT_WRITEDATA, &rc);
    curl.easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl.easy_setopt(h, CURLOPT_HEADERDATA, &rc);
    curl.easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    /* No redirects: API and model calls carry keys (Authorization, Azure's api-key) that
     * must not follow a Location to another host; a 3xx comes back as the answer. */
    curl.easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl.easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl.easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    long timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : 60000L;
    if (req->on_body) {
        /* A streamed answer (a model's tokens) may rightly take longer than any total
         * limit while its bytes keep coming: bound the silence instead. */
        rc.idle_ms = timeout_ms;
        rc.last_activity_ms = mono_ms();
        curl.easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_xferinfo);
        curl.easy_setopt(h, CURLOPT_XFERINFODATA, &rc);
        curl.easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    } else {
        curl.easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    }

    CURLcode cc = curl.easy_perform(h);
    if (cc != CURLE_OK && rc.too_big) {
        ret = inngest_error_set(err, INNGEST_ETOOBIG,
                                "the answer's body is larger than %u bytes; refused",
                                ING_MAX_RESPONSE_BYTES);
        goto cleanup;
    }
    if (cc != CURLE_OK && !(rc.aborted && cc == CURLE_WRITE_ERROR)) {
        int idle = rc.idle_expired && cc == CURLE_ABORTED_BY_CALLBACK;
        int code = cc == CURLE_OPERATION_TIMEDOUT || idle ? INNGEST_ETIMEOUT : INNGEST_EHTTP;
        char idle_msg[96];
        if (idle)
            snprintf(idle_msg, sizeof(idle_msg), "no data received for %ld ms", rc.idle_ms);
        /* Only the origin: paths may carry secrets (the event key is one). */
        const char *host = strstr(req->url, "://");
        int origin_len = (int)(host ? strcspn(host + 3, "/?#") + (size_t)(host + 3 - req->url)
                                    : strlen(req->url));
        ret = inngest_error_set(err, code, "%s %.*s: %s", req->method ? req->method : "GET",
                                origin_len, req->url,
                                idle          ? idle_msg
                                : errbuf[0] ? errbuf
                                              : curl.easy_strerror(cc));
        goto cleanup;
    }
    long status = 0;
    curl.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    res->status = (int)status;
    ing_free(res->body);
    res->body = ing_buf_steal(&rc.body, &res->body_len);
    if (!res->body)
        ret = inngest_error_set(err, INNGEST_ENOMEM, "out of memory");

cleanup:
    ing_buf_cleanup(&rc.body);
    give_handle(t, h);
    curl.slist_free_all(hdrs);
    return ret;
}

static void curl_destroy(inngest_transport *self) {
    struct curl_transport *t = (struct curl_transport *)self;
    for (int i = 0; i < t->nidle; i++)
        curl.easy_cleanup(t->idle[i]); /* only handles made after libcurl loaded */
    pthread_mutex_destroy(&t->lock);
    ing_free(self);
}

inngest_transport *inngest_transport_curl_create(inngest_error *err) {
    struct curl_transport *t = ing_calloc(1, sizeof(*t));
    if (!t) {
        inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
        return NULL;
    }
    if (pthread_mutex_init(&t->lock, NULL) != 0) {
        ing_free(t);
        inngest_error_set(err, INNGEST_EINTERNAL, "cannot create a mutex");
        return NULL;
    }
    t->base.send = curl_send;
    t->base.destroy = curl_destroy;
    return &t->base;
}

/* libcurl is set up lazily, on the first request (see load_curl). */
int ing_curl_global_init(void) {
    return INNGEST_OK;
}

void ing_curl_global_cleanup(void) {
    if (curl.ready)
        curl.global_cleanup();
}
