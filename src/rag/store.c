/* SPDX-License-Identifier: MIT */
/*
 * The RAG store, generic half: argument checks, UTF-8 repair, quantisation, the in-memory
 * int8 index, rescoring, fusion and locking, over a backend (backend.h) that keeps the
 * documents durably. Which backend a store uses comes from its URI: "sqlite:PATH" or a
 * plain path (store_sqlite.c).
 *
 * Every write goes to the backend in one transaction, and the in-memory index changes
 * only after the backend returned, under the same lock, so memory never shows what the
 * backend may not have. Locks: `be_mu` serialises calls to the backend (so a backend
 * needs no locking of its own); `ix_mu` (rwlock) lets searches scan in parallel while
 * writers wait, and guards the binding (embedder_id, dim: changed under both). Order:
 * be_mu before ix_mu. A search's reads go through a reader (reader_get()): the backend
 * itself when it takes concurrent reads, one of its readers when it opens them, and only
 * otherwise the backend under be_mu; `rd_mu` guards the idle readers. A hybrid search hands
 * its vector ranking to the store's scan worker (`scan_mu`), which takes the locks a search
 * takes, in the same order, while the caller ranks by keywords.
 */
#include "fmacros.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/utf8.h"
#include "inngest/env.h"
#include "inngest/rag.h"
#include "rag/backend.h"
#include "rag/rag_internal.h"

#define DEFAULT_K 5
/* Rescoring candidates: 5 per result wanted, at least this many. */
#define RESCORE_PER_RESULT 5
#define RESCORE_MIN 50
/* The most scan threads INNGEST_RAG_THREADS may ask for (a search uses at most 16). */
#define ENV_THREADS_MAX 1024
/* Readers a store opens at most (searches beyond this many wait for one). */
#define READERS_MAX 8

struct inngest_rag_store {
    struct ing_rag_backend *be;
    pthread_mutex_t be_mu;
    pthread_rwlock_t ix_mu;
    struct ing_vindex ix; /* dim 0 while unbound */
    char embedder_id[ING_RAG_EMBEDDER_ID_MAX];
    int dim;
    int threads;
    int rescore;
    const char *kernel;
    ing_dot_f32_fn dotf;
    pthread_mutex_t rd_mu;
    pthread_cond_t rd_cv;
    struct ing_rag_backend *idle_readers[READERS_MAX];
    size_t nidle_readers, readers_open;
    int no_readers; /* the store can have none: searches use the backend under be_mu */
    int64_t readers_retry_ms; /* after another failure to open one: no try before this */
    /* inngest_rag_store_subscribe(): held while the subscriber runs, so that changing it
     * waits for a delivery in progress. */
    pthread_mutex_t sub_mu;
    inngest_rag_message_fn sub_fn;
    void *sub_user;
    /* The scan worker (more than one core): one thread that runs a hybrid search's vector
     * ranking while the search's own thread runs the keyword query. `scan_job` is the work
     * handed over (NULL: idle), guarded by `scan_mu`; `scan_cv` announces work and its end. */
    pthread_mutex_t scan_mu;
    pthread_cond_t scan_cv;
    pthread_t scan_tid;
    int scan_started, scan_stop;
    struct scan_job *scan_job;
};

static void *scan_worker(void *arg);

void inngest_rag_content_hash(const char *text, size_t len, char out[17]) {
    uint64_t h = ing_fnv1a64(text, len, ING_FNV_OFFSET);
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* ---- open and close ---------------------------------------------------------------------- */

/* Adds one loaded vector to the index (an ing_rag_codes_fn). */
static int index_add(void *user, int64_t chunk_id, int64_t doc_id, const int8_t *codes,
                     float scale) {
    return ing_vindex_add_codes(user, chunk_id, doc_id, codes, scale) ? INNGEST_ENOMEM
                                                                       : INNGEST_OK;
}

static int load_index(inngest_rag_store *s, inngest_error *err) {
    if (!s->dim)
        return INNGEST_OK;
    ing_vindex_init(&s->ix, s->dim);
    size_t n = 0;
    int rc = s->be->ops->count_vectors(s->be, &n, err);
    if (rc)
        return rc;
    if (n && ing_vindex_reserve(&s->ix, n))
        return inngest_error_set(err, INNGEST_ENOMEM, "RAG store: no memory for %zu vectors", n);
    rc = s->be->ops->load_codes(s->be, 0, s->ix.stride, index_add, &s->ix, err);
    if (rc == INNGEST_ENOMEM)
        inngest_error_set(err, INNGEST_ENOMEM, "RAG store: out of memory");
    return rc;
}

void inngest_rag_store_destroy(inngest_rag_store *s) {
    if (!s)
        return;
    if (s->scan_started) {
        pthread_mutex_lock(&s->scan_mu);
        s->scan_stop = 1;
        pthread_cond_broadcast(&s->scan_cv);
        pthread_mutex_unlock(&s->scan_mu);
        pthread_join(s->scan_tid, NULL);
    }
    pthread_mutex_destroy(&s->scan_mu);
    pthread_cond_destroy(&s->scan_cv);
    for (size_t i = 0; i < s->nidle_readers; i++)
        s->idle_readers[i]->ops->close(s->idle_readers[i]);
    if (s->be)
        s->be->ops->close(s->be);
    ing_vindex_cleanup(&s->ix);
    pthread_mutex_destroy(&s->sub_mu);
    pthread_mutex_destroy(&s->be_mu);
    pthread_rwlock_destroy(&s->ix_mu);
    pthread_mutex_destroy(&s->rd_mu);
    pthread_cond_destroy(&s->rd_cv);
    free(s);
}

/* Non-zero when `uri` starts with a URI scheme ("name:" then "//"), like postgresql://. */
static int has_scheme(const char *uri) {
    const char *p = uri;
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
           *p == '+' || *p == '-' || *p == '.')
        p++;
    return p > uri && p[0] == ':' && p[1] == '/' && p[2] == '/';
}

/* Opens a sqlite: URI: "sqlite:PATH" or "sqlite://PATH", then "?name=value&..." with
 * synchronous=full|normal. */
static int open_sqlite_uri(const char *uri, struct ing_rag_backend **out, inngest_error *err) {
    const char *path = uri + strlen("sqlite:");
    if (!strncmp(path, "//", 2))
        path += 2; /* sqlite:///abs/path as well as sqlite:/abs/path */
    const char *q = strchr(path, '?');
    size_t plen = q ? (size_t)(q - path) : strlen(path);
    if (!plen)
        return inngest_error_set(err, INNGEST_EINVAL, "RAG store: %s names no file", uri);
    int fast_sync = 0;
    for (const char *p = q ? q + 1 : NULL; p && *p;) {
        const char *end = strchr(p, '&');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == strlen("synchronous=full") && !strncmp(p, "synchronous=full", n))
            fast_sync = 0;
        else if (n == strlen("synchronous=normal") && !strncmp(p, "synchronous=normal", n))
            fast_sync = 1;
        else if (n)
            return inngest_error_set(err, INNGEST_EINVAL,
                                     "RAG store: unknown sqlite: URI parameter \"%.*s\" (known: "
                                     "synchronous=full or synchronous=normal)",
                                     (int)n, p);
        p = end ? end + 1 : NULL;
    }
    char *file = strndup(path, plen);
    if (!file)
        return inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    int rc = ing_rag_sqlite_open(file, fast_sync, out, err);
    free(file);
    return rc;
}

/* Opens the backend `uri` names: "sqlite:..." or a plain path is a SQLite file. `lazy`:
 * a server that cannot be reached now is not an error (open_unavailable). */
static int open_backend(const char *uri, int lazy, struct ing_rag_backend **out,
                        inngest_error *err) {
    if (!uri || !*uri)
        return inngest_error_set(err, INNGEST_EINVAL, "RAG store: no store path or URI given");
    if (!strncmp(uri, "sqlite:", strlen("sqlite:")))
        return open_sqlite_uri(uri, out, err);
    if (!strncmp(uri, "postgresql://", 13) || !strncmp(uri, "postgres://", 11)) {
#ifdef INNGEST_HAVE_LIBPQ
        /* Connections per store (per host): RAG_STORE_POOL_SIZE, default 8. */
        long pool = 0;
        int rc = inngest_env_long(NULL, NULL, "RAG_STORE_POOL_SIZE", 8, 1, 256, &pool, err);
        return rc ? rc : ing_rag_pg_open(uri, (int)pool, lazy, out, err);
#else
        (void)lazy;
        return inngest_error_set(err, INNGEST_ECONFIG,
                                 "RAG store: this build has no PostgreSQL backend (install "
                                 "libpq-dev and rebuild)");
#endif
    }
    if (has_scheme(uri))
        return inngest_error_set(err, INNGEST_EINVAL,
                                 "RAG store: this build has no backend for %.*s (it has "
                                 "sqlite:PATH, a plain path, and postgresql://)",
                                 (int)(strchr(uri, ':') - uri + 3), uri);
    return ing_rag_sqlite_open(uri, 0, out, err);
}

inngest_rag_store *inngest_rag_store_create(const char *uri, const inngest_rag_store_opts *opts,
                                          inngest_error *err) {
    inngest_rag_store *s = calloc(1, sizeof(*s));
    if (!s) {
        inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->be_mu, NULL);
    pthread_mutex_init(&s->sub_mu, NULL);
    pthread_rwlock_init(&s->ix_mu, NULL);
    pthread_mutex_init(&s->rd_mu, NULL);
    pthread_cond_init(&s->rd_cv, NULL);
    pthread_mutex_init(&s->scan_mu, NULL);
    pthread_cond_init(&s->scan_cv, NULL);
    s->threads = opts && opts->threads > 0 ? opts->threads : 0;
    if (!s->threads) {
        long t = 0;
        if (inngest_env_long(NULL, NULL, "INNGEST_RAG_THREADS", 0, 1, ENV_THREADS_MAX, &t, err)) {
            inngest_rag_store_destroy(s);
            return NULL;
        }
        s->threads = t ? (int)t : (int)sysconf(_SC_NPROCESSORS_ONLN);
        if (s->threads < 1)
            s->threads = 1;
    }
    s->rescore = opts ? opts->rescore : 0;
    ing_kernel_dot_i8(&s->kernel);
    s->dotf = ing_kernel_dot_f32();
    int lazy = opts && opts->open_unavailable;
    int rc = open_backend(uri, lazy, &s->be, err);
    if (!rc)
        rc = s->be->ops->binding(s->be, s->embedder_id, &s->dim, err);
    if (!rc)
        rc = load_index(s, err);
    if (rc == INNGEST_EUNAVAILABLE && lazy && s->be && s->be->ops->attach) {
        /* Not reachable yet: open empty and unbound; the backend's listener reloads the
         * index (binding included) once the server answers. */
        ing_vindex_cleanup(&s->ix);
        memset(&s->ix, 0, sizeof(s->ix));
        s->embedder_id[0] = '\0';
        s->dim = 0;
        rc = INNGEST_OK;
        if (err)
            inngest_error_clear(err);
    }
    if (rc) {
        inngest_rag_store_destroy(s);
        return NULL;
    }
    s->be->store = s;
    /* Without a thread to spare the search's own thread scans (a failed start too). */
    if (s->threads > 1)
        s->scan_started = pthread_create(&s->scan_tid, NULL, scan_worker, s) == 0;
    /* A backend with threads of its own (a change listener) starts them now. */
    if (s->be->ops->attach && s->be->ops->attach(s->be, err) != INNGEST_OK) {
        inngest_rag_store_destroy(s);
        return NULL;
    }
    return s;
}

int inngest_rag_store_get_info(inngest_rag_store *s, inngest_rag_store_info *out,
                               inngest_error *err) {
    memset(out, 0, sizeof(*out));
    out->kernel = s->kernel;
    out->backend = s->be->ops->name;
    pthread_mutex_lock(&s->be_mu);
    snprintf(out->embedder_id, sizeof(out->embedder_id), "%s", s->embedder_id);
    out->dim = s->dim;
    int rc = s->be->ops->counts(s->be, &out->documents, &out->chunks, err);
    pthread_mutex_unlock(&s->be_mu);
    return rc;
}

/* ---- messages between processes ------------------------------------------------------------ */

int inngest_rag_store_is_shared(const inngest_rag_store *s) {
    return s && s->be->ops->publish != NULL;
}

int inngest_rag_store_publish(inngest_rag_store *s, const char *msg, size_t len,
                              inngest_error *err) {
    if (!s || !msg || !len || len > INNGEST_RAG_MESSAGE_MAX || memchr(msg, '\0', len))
        return inngest_error_set(err, INNGEST_EINVAL,
                                 "a store message is 1 to %d bytes without NUL",
                                 INNGEST_RAG_MESSAGE_MAX);
    if (!s->be->ops->publish)
        return INNGEST_OK; /* nobody else has this store open */
    return s->be->ops->publish(s->be, msg, len, err);
}

void inngest_rag_store_subscribe(inngest_rag_store *s, inngest_rag_message_fn fn, void *user) {
    if (!s)
        return;
    pthread_mutex_lock(&s->sub_mu);
    s->sub_fn = fn;
    s->sub_user = user;
    pthread_mutex_unlock(&s->sub_mu);
}

void ing_rag_store_deliver(inngest_rag_store *s, const char *msg, size_t len) {
    pthread_mutex_lock(&s->sub_mu);
    if (s->sub_fn)
        s->sub_fn(s->sub_user, msg, len);
    pthread_mutex_unlock(&s->sub_mu);
}

const char *inngest_rag_status_name(int status) {
    switch (status) {
        case INNGEST_RAG_ADDED:
            return "added";
        case INNGEST_RAG_REPLACED:
            return "replaced";
        case INNGEST_RAG_UNCHANGED:
            return "unchanged";
        case 0:
            return "starting";
        default:
            return status < 0 ? "failed" : "unknown";
    }
}

/* Caller holds be_mu or ix_mu. */
static int check_locked(inngest_rag_store *s, const char *embedder_id, int dim,
                        inngest_error *err) {
    if (!embedder_id || !*embedder_id || dim <= 0)
        return inngest_error_set(err, INNGEST_EINVAL, "an embedder id and dimension are needed");
    if (!s->dim)
        return INNGEST_OK;
    if (strcmp(s->embedder_id, embedder_id) || s->dim != dim) {
        int rc = inngest_error_set(err, INNGEST_EMISMATCH,
                                   "the RAG store was built with embedder %s (%d dimensions) "
                                   "but this query uses %s (%d dimensions); use the same "
                                   "embedder, or another store file and re-ingest",
                                   s->embedder_id, s->dim, embedder_id, dim);
        if (err)
            err->no_retry = 1;
        return rc;
    }
    return INNGEST_OK;
}

int inngest_rag_store_check(inngest_rag_store *s, const char *embedder_id, int dim,
                            inngest_error *err) {
    /* The binding changes under ix_mu too, so a search need not wait for a write. */
    pthread_rwlock_rdlock(&s->ix_mu);
    int rc = check_locked(s, embedder_id, dim, err);
    pthread_rwlock_unlock(&s->ix_mu);
    return rc;
}

void inngest_rag_derive_title(const char *text, size_t len, const char *source, char *out,
                              size_t size) {
    out[0] = '\0';
    size_t i = 0;
    /* The first Markdown ATX heading within the first lines: 1 to 6 '#' and a space (so
     * "#include <stdio.h>" or "#!/bin/sh" in a text file is no title). */
    for (int line = 0; i < len && line < 40; line++) {
        size_t e = i;
        while (e < len && text[e] != '\n')
            e++;
        size_t b = i;
        while (b < e && text[b] == '#')
            b++;
        if (b > i && b - i <= 6 && b < e && (text[b] == ' ' || text[b] == '\t')) {
            while (b < e && (text[b] == ' ' || text[b] == '\t'))
                b++;
            size_t t = e;
            while (t > b && (text[t - 1] == ' ' || text[t - 1] == '\r' || text[t - 1] == '#'))
                t--;
            if (t > b) {
                size_t n = t - b < size - 1 ? t - b : size - 1;
                n = ing_utf8_floor(text + b, t - b, n);
                memcpy(out, text + b, n);
                out[n] = '\0';
                return;
            }
        }
        i = e + 1;
    }
    const char *base = source ? strrchr(source, '/') : NULL;
    snprintf(out, size, "%s", base ? base + 1 : source ? source : "untitled");
}

/* ---- put, in named steps ------------------------------------------------------------------ */

/* A document on its way to the backend: what the steps before the write prepare. */
struct put_job {
    const inngest_rag_document *doc;
    const char *key;
    size_t tlen;
    const inngest_rag_chunk *chunks;
    size_t count;
    const float *vectors; /* count * dim, any length */
    const char *embedder_id;
    int dim;
    size_t stride;
    char title[512];
    char hash[17];
    float *unit;      /* count * dim: normalised vectors */
    int8_t *codes;    /* count * stride */
    float *scales;    /* count */
    char **repaired;  /* count: a repaired copy of a chunk's text (ing_free), or NULL */
    char *title_fix;  /* a repaired copy of the title (ing_free), or NULL */
    struct ing_rag_put_chunk *rows; /* count */
    int64_t *new_ids; /* count */
    struct ing_rag_put_result res;
};

static void put_job_cleanup(struct put_job *j) {
    for (size_t i = 0; j->repaired && i < j->count; i++)
        ing_free(j->repaired[i]);
    free(j->repaired);
    ing_free(j->title_fix);
    free(j->unit);
    free(j->codes);
    free(j->scales);
    free(j->rows);
    free(j->new_ids);
    free(j->res.old_ids);
}

/* Step 1: the arguments. */
static int put_validate(struct put_job *j, inngest_error *err) {
    const inngest_rag_document *doc = j->doc;
    if (!doc || !doc->source || !*doc->source || !doc->text)
        return inngest_error_set(err, INNGEST_EINVAL, "a document needs a source and a text");
    if (j->count && (!j->chunks || !j->vectors))
        return inngest_error_set(err, INNGEST_EINVAL, "chunks need vectors");
    j->key = doc->key && *doc->key ? doc->key : doc->source;
    j->tlen = doc->text_len ? doc->text_len : strlen(doc->text);
    for (size_t i = 0; i < j->count; i++)
        if (j->chunks[i].offset > j->tlen || j->chunks[i].len > j->tlen - j->chunks[i].offset)
            return inngest_error_set(err, INNGEST_EINVAL, "chunk %zu is outside the text", i);
    if (!j->embedder_id || !*j->embedder_id || j->dim <= 0)
        return inngest_error_set(err, INNGEST_EINVAL, "an embedder id and dimension are needed");
    return INNGEST_OK;
}

/* Step 2, the expensive part, outside the lock: normalise and quantise every vector. */
static int put_quantize(struct put_job *j, inngest_error *err) {
    size_t n = j->count ? j->count : 1;
    j->stride = ing_stride(j->dim);
    j->unit = malloc(n * (size_t)j->dim * sizeof(float));
    j->codes = malloc(n * j->stride);
    j->scales = malloc(n * sizeof(float));
    j->new_ids = malloc(n * sizeof(int64_t));
    if (!j->unit || !j->codes || !j->scales || !j->new_ids)
        return inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    if (j->count)
        memcpy(j->unit, j->vectors, j->count * (size_t)j->dim * sizeof(float));
    for (size_t i = 0; i < j->count; i++) {
        float *v = j->unit + i * (size_t)j->dim;
        for (int d = 0; d < j->dim; d++)
            if (!isfinite(v[d]))
                v[d] = 0;
        ing_l2_normalize(v, j->dim);
        ing_quantize(v, j->dim, j->stride, j->codes + i * j->stride, &j->scales[i]);
    }
    return INNGEST_OK;
}

/* `t[0..len)` as valid UTF-8: itself, or a repaired copy in *fixed (ing_free it). */
static int repair(const char *t, size_t len, char **fixed, const char **text, size_t *text_len,
                  inngest_error *err) {
    *text = t;
    *text_len = len;
    if (ing_utf8_valid(t, len))
        return INNGEST_OK;
    if (!(*fixed = ing_utf8_sanitize(t, len, text_len)))
        return inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    *text = *fixed;
    return INNGEST_OK;
}

/* Step 3: the title, the content hash, and the chunk rows with valid UTF-8 text. */
static int put_prepare_rows(struct put_job *j, inngest_error *err) {
    const inngest_rag_document *doc = j->doc;
    if (doc->title && *doc->title)
        snprintf(j->title, sizeof(j->title), "%s", doc->title);
    else
        inngest_rag_derive_title(doc->text, j->tlen, doc->source, j->title, sizeof(j->title));
    if (!ing_utf8_valid(j->title, strlen(j->title))) {
        size_t n;
        if (!(j->title_fix = ing_utf8_sanitize(j->title, strlen(j->title), &n)))
            return inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    }
    inngest_rag_content_hash(doc->text, j->tlen, j->hash);
    size_t n = j->count ? j->count : 1;
    j->repaired = calloc(n, sizeof(*j->repaired));
    j->rows = calloc(n, sizeof(*j->rows));
    if (!j->repaired || !j->rows)
        return inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    for (size_t i = 0; i < j->count; i++) {
        struct ing_rag_put_chunk *r = &j->rows[i];
        r->start = j->chunks[i].offset;
        r->len = j->chunks[i].len;
        int rc = repair(doc->text + r->start, r->len, &j->repaired[i], &r->text, &r->text_len,
                        err);
        if (rc)
            return rc;
        r->f32 = j->unit + i * (size_t)j->dim;
        r->codes = j->codes + i * j->stride;
        r->scale = j->scales[i];
    }
    return INNGEST_OK;
}

/* Step 4: the durable write, under be_mu; binds an unbound store. `*bind_now` tells
 * whether this write bound it. */
static int put_write(inngest_rag_store *s, struct put_job *j, const char *unless_hash,
                     int *bind_now, inngest_error *err) {
    int rc = check_locked(s, j->embedder_id, j->dim, err);
    if (rc)
        return rc;
    *bind_now = !s->dim;
    struct ing_rag_put p = {.key = j->key,
                            .source = j->doc->source,
                            .title = j->title_fix ? j->title_fix : j->title,
                            .hash = j->hash,
                            .bytes = j->tlen,
                            .metadata = j->doc->metadata,
                            .chunks = j->rows,
                            .count = j->count,
                            .embedder_id = j->embedder_id,
                            .dim = j->dim,
                            .stride = j->stride,
                            .bind = *bind_now,
                            .unless_hash = unless_hash};
    j->res.chunk_ids = j->new_ids;
    return s->be->ops->put(s->be, &p, &j->res, err);
}

/* Step 5: the write is durable; mirror it in memory. Caller holds be_mu. */
static int put_mirror(inngest_rag_store *s, struct put_job *j, int bind_now,
                      inngest_error *err) {
    int rc = INNGEST_OK;
    pthread_rwlock_wrlock(&s->ix_mu);
    if (bind_now) {
        snprintf(s->embedder_id, sizeof(s->embedder_id), "%s", j->embedder_id);
        s->dim = j->dim;
        ing_vindex_init(&s->ix, j->dim);
    }
    for (size_t i = 0; i < j->res.nold; i++)
        ing_vindex_remove(&s->ix, j->res.old_ids[i]);
    for (size_t i = 0; i < j->count && rc == INNGEST_OK; i++) {
        /* Never index an id twice: a reload after a change notice from a shared backend
         * may have indexed this row before this mirror step (ids are never reused). */
        ing_vindex_remove(&s->ix, j->new_ids[i]);
        if (ing_vindex_add_codes(&s->ix, j->new_ids[i], j->res.doc_id, j->codes + i * j->stride,
                                 j->scales[i]))
            rc = inngest_error_set(err, INNGEST_ENOMEM,
                                   "out of memory indexing the document (it is stored; reopen "
                                   "the store to index it)");
    }
    pthread_rwlock_unlock(&s->ix_mu);
    return rc;
}

static int put_document(inngest_rag_store *s, const inngest_rag_document *doc,
                        const inngest_rag_chunk *chunks, size_t count, const float *vectors,
                        const char *embedder_id, int dim, int if_changed,
                        inngest_rag_status *status_out, inngest_error *err) {
    struct put_job j = {.doc = doc,
                        .chunks = chunks,
                        .count = count,
                        .embedder_id = embedder_id,
                        .vectors = vectors,
                        .dim = dim};
    int rc = put_validate(&j, err);
    if (!rc)
        rc = put_quantize(&j, err);
    if (!rc)
        rc = put_prepare_rows(&j, err);
    if (!rc) {
        int bind_now = 0;
        pthread_mutex_lock(&s->be_mu);
        rc = put_write(s, &j, if_changed ? j.hash : NULL, &bind_now, err);
        if (!rc && !j.res.unchanged)
            rc = put_mirror(s, &j, bind_now, err);
        pthread_mutex_unlock(&s->be_mu);
    }
    if (!rc && status_out)
        *status_out = j.res.unchanged  ? INNGEST_RAG_UNCHANGED
                      : j.res.replaced ? INNGEST_RAG_REPLACED
                                       : INNGEST_RAG_ADDED;
    put_job_cleanup(&j);
    return rc;
}

int inngest_rag_store_put(inngest_rag_store *s, const inngest_rag_document *doc,
                          const inngest_rag_chunk *chunks, size_t count, const float *vectors,
                          const char *embedder_id, int dim, inngest_rag_status *status_out,
                          inngest_error *err) {
    return put_document(s, doc, chunks, count, vectors, embedder_id, dim, 0, status_out, err);
}

int inngest_rag_store_delete(inngest_rag_store *s, const char *key, inngest_error *err) {
    if (!key || !*key)
        return inngest_error_set(err, INNGEST_EINVAL, "a document key is needed");
    int64_t *ids = NULL;
    size_t n = 0;
    pthread_mutex_lock(&s->be_mu);
    int rc = s->be->ops->remove(s->be, key, &ids, &n, err);
    if (!rc) {
        pthread_rwlock_wrlock(&s->ix_mu);
        for (size_t i = 0; i < n; i++)
            ing_vindex_remove(&s->ix, ids[i]);
        pthread_rwlock_unlock(&s->ix_mu);
    }
    pthread_mutex_unlock(&s->be_mu);
    free(ids);
    return rc;
}

json_t *inngest_rag_store_list(inngest_rag_store *s, inngest_error *err) {
    json_t *arr = NULL;
    pthread_mutex_lock(&s->be_mu);
    s->be->ops->list(s->be, &arr, err);
    pthread_mutex_unlock(&s->be_mu);
    return arr;
}

/* ---- resumable ingestion ----------------------------------------------------------------- */

/* The key and content hash of a document, or INNGEST_EINVAL. */
static int doc_identity(const inngest_rag_document *doc, const char **key, char hash[17],
                        inngest_error *err) {
    if (!doc || !doc->source || !*doc->source || !doc->text)
        return inngest_error_set(err, INNGEST_EINVAL, "a document needs a source and a text");
    *key = doc->key && *doc->key ? doc->key : doc->source;
    inngest_rag_content_hash(doc->text, doc->text_len ? doc->text_len : strlen(doc->text), hash);
    return INNGEST_OK;
}

int inngest_rag_store_presence(inngest_rag_store *s, const inngest_rag_document *doc,
                               inngest_rag_presence *out, inngest_error *err) {
    const char *key;
    char want[17], have[17];
    *out = INNGEST_RAG_ABSENT;
    int rc = doc_identity(doc, &key, want, err);
    if (rc)
        return rc;
    pthread_mutex_lock(&s->be_mu);
    rc = s->be->ops->doc_hash(s->be, key, have, err);
    pthread_mutex_unlock(&s->be_mu);
    if (rc == INNGEST_ENOTFOUND)
        return INNGEST_OK;
    if (!rc)
        *out = strcmp(have, want) ? INNGEST_RAG_STALE : INNGEST_RAG_CURRENT;
    return rc;
}

int inngest_rag_store_stage(inngest_rag_store *s, const inngest_rag_document *doc, size_t first,
                            size_t count, const float *vectors, const char *embedder_id, int dim,
                            inngest_error *err) {
    const char *key;
    char hash[17];
    int rc = doc_identity(doc, &key, hash, err);
    if (!rc && count && !vectors)
        rc = inngest_error_set(err, INNGEST_EINVAL, "no vectors to stage");
    if (rc)
        return rc;
    pthread_mutex_lock(&s->be_mu);
    rc = check_locked(s, embedder_id, dim, err);
    if (!rc)
        rc = s->be->ops->stage(s->be, key, hash, first, count, vectors, dim, err);
    pthread_mutex_unlock(&s->be_mu);
    return rc;
}

/* Fills `vecs` (count * dim) from the staged vectors of (key, hash) and embeds the chunks
 * that have none, all in one inngest_rag_embed() call. */
static int staged_or_embedded(inngest_rag_store *s, inngest_rag_embedder *e, const char *key,
                              const char *hash, const inngest_rag_document *doc,
                              const inngest_rag_chunk *chunks, size_t count, float *vecs,
                              inngest_error *err) {
    size_t dim = (size_t)e->dim, n = count ? count : 1, nmissing = 0;
    unsigned char *have = calloc(n, 1);
    size_t *missing = malloc(n * sizeof(*missing));
    char **texts = calloc(n, sizeof(*texts));
    float *fresh = NULL;
    int rc = have && missing && texts ? INNGEST_OK
                                      : inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    if (!rc && count) {
        pthread_mutex_lock(&s->be_mu);
        rc = s->be->ops->load_staged(s->be, key, hash, 0, count, e->dim, vecs, have, err);
        pthread_mutex_unlock(&s->be_mu);
    }
    for (size_t i = 0; !rc && i < count; i++) {
        if (have[i])
            continue;
        if (!(texts[nmissing] = strndup(doc->text + chunks[i].offset, chunks[i].len)))
            rc = inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
        missing[nmissing++] = i;
    }
    if (!rc && nmissing && !(fresh = malloc(nmissing * dim * sizeof(float))))
        rc = inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    if (!rc && nmissing)
        rc = inngest_rag_embed(e, (const char *const *)texts, nmissing, fresh, err);
    for (size_t i = 0; !rc && i < nmissing; i++)
        memcpy(vecs + missing[i] * dim, fresh + i * dim, dim * sizeof(float));
    for (size_t i = 0; texts && i < nmissing; i++)
        free(texts[i]);
    free(texts);
    free(fresh);
    free(missing);
    free(have);
    return rc;
}

int inngest_rag_store_put_staged(inngest_rag_store *s, inngest_rag_embedder *e,
                                 const inngest_rag_document *doc, const inngest_rag_chunk *chunks,
                                 size_t count, inngest_rag_status *status_out,
                                 inngest_error *err) {
    const char *key;
    char hash[17];
    inngest_rag_presence now;
    int rc = doc_identity(doc, &key, hash, err);
    if (!rc && !e)
        rc = inngest_error_set(err, INNGEST_EINVAL, "an embedder is needed");
    size_t tlen = rc ? 0 : doc->text_len ? doc->text_len : strlen(doc->text);
    for (size_t i = 0; !rc && i < count; i++)
        if (chunks[i].offset > tlen || chunks[i].len > tlen - chunks[i].offset)
            rc = inngest_error_set(err, INNGEST_EINVAL, "chunk %zu is outside the text", i);
    if (!rc)
        rc = inngest_rag_store_check(s, e->id, e->dim, err);
    if (!rc)
        rc = inngest_rag_store_presence(s, doc, &now, err);
    if (rc)
        return rc;
    if (now == INNGEST_RAG_CURRENT) {
        if (status_out)
            *status_out = INNGEST_RAG_UNCHANGED;
        return INNGEST_OK;
    }
    float *vecs = malloc((count ? count : 1) * (size_t)e->dim * sizeof(float));
    if (!vecs)
        return inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    rc = staged_or_embedded(s, e, key, hash, doc, chunks, count, vecs, err);
    if (!rc) {
        inngest_rag_document d = *doc;
        d.key = key;
        d.text_len = tlen;
        /* if_changed: another writer may have put this content meanwhile. */
        rc = put_document(s, &d, chunks, count, vecs, e->id, e->dim, 1, status_out, err);
    }
    free(vecs);
    return rc;
}

/* ---- changes made elsewhere ------------------------------------------------------------- */

/* The vectors of one document, read from the backend before the index is locked. */
struct doc_codes {
    size_t stride, n, cap;
    int64_t *ids, *docs;
    float *scales;
    int8_t *codes;
};

static int collect_codes(void *user, int64_t chunk_id, int64_t doc_id, const int8_t *codes,
                         float scale) {
    struct doc_codes *c = user;
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 64;
        int64_t *ids = realloc(c->ids, nc * sizeof(*ids));
        if (ids)
            c->ids = ids;
        int64_t *docs = realloc(c->docs, nc * sizeof(*docs));
        if (docs)
            c->docs = docs;
        float *scales = realloc(c->scales, nc * sizeof(*scales));
        if (scales)
            c->scales = scales;
        int8_t *cs = realloc(c->codes, nc * c->stride);
        if (cs)
            c->codes = cs;
        if (!ids || !docs || !scales || !cs)
            return INNGEST_ENOMEM;
        c->cap = nc;
    }
    c->ids[c->n] = chunk_id;
    c->docs[c->n] = doc_id;
    c->scales[c->n] = scale;
    memcpy(c->codes + c->n * c->stride, codes, c->stride);
    c->n++;
    return INNGEST_OK;
}

int ing_rag_store_apply_change(inngest_rag_store *s, int64_t old_doc, int64_t new_doc,
                               inngest_error *err) {
    struct doc_codes c = {0};
    int rc = INNGEST_OK;
    pthread_mutex_lock(&s->be_mu);
    if (!s->dim) {
        /* Another writer may have bound the store. */
        char id[ING_RAG_EMBEDDER_ID_MAX];
        int dim = 0;
        rc = s->be->ops->binding(s->be, id, &dim, err);
        if (!rc && dim) {
            pthread_rwlock_wrlock(&s->ix_mu);
            snprintf(s->embedder_id, sizeof(s->embedder_id), "%s", id);
            s->dim = dim;
            ing_vindex_init(&s->ix, dim);
            pthread_rwlock_unlock(&s->ix_mu);
        }
    }
    if (!rc && s->dim && new_doc > 0) {
        c.stride = s->ix.stride;
        rc = s->be->ops->load_codes(s->be, new_doc, c.stride, collect_codes, &c, err);
        if (rc == INNGEST_ENOMEM)
            inngest_error_set(err, INNGEST_ENOMEM, "RAG store: out of memory");
    }
    if (!rc && s->dim) {
        pthread_rwlock_wrlock(&s->ix_mu);
        if (old_doc > 0)
            ing_vindex_remove_doc(&s->ix, old_doc);
        /* Idempotent: a change this store made itself may be reported back to it. */
        if (new_doc > 0)
            ing_vindex_remove_doc(&s->ix, new_doc);
        for (size_t i = 0; i < c.n && !rc; i++) {
            /* The id may still name a deleted row whose change is not applied yet. */
            ing_vindex_remove(&s->ix, c.ids[i]);
            if (ing_vindex_add_codes(&s->ix, c.ids[i], c.docs[i], c.codes + i * c.stride,
                                     c.scales[i]))
                rc = inngest_error_set(err, INNGEST_ENOMEM, "RAG store: out of memory");
        }
        pthread_rwlock_unlock(&s->ix_mu);
    }
    pthread_mutex_unlock(&s->be_mu);
    free(c.ids);
    free(c.docs);
    free(c.scales);
    free(c.codes);
    return rc;
}

int ing_rag_store_reload(inngest_rag_store *s, inngest_error *err) {
    char id[ING_RAG_EMBEDDER_ID_MAX];
    int dim = 0;
    struct ing_vindex fresh;
    memset(&fresh, 0, sizeof(fresh));
    pthread_mutex_lock(&s->be_mu);
    int rc = s->be->ops->binding(s->be, id, &dim, err);
    if (!rc && s->dim && dim && (dim != s->dim || strcmp(id, s->embedder_id)))
        rc = inngest_error_set(err, INNGEST_EMISMATCH,
                               "RAG store: the store is now bound to %s (%d dimensions), not "
                               "%s (%d dimensions): restart with the matching embedder",
                               id, dim, s->embedder_id, s->dim);
    int use_dim = dim ? dim : s->dim;
    if (!rc && use_dim) {
        ing_vindex_init(&fresh, use_dim);
        size_t n = 0;
        rc = dim ? s->be->ops->count_vectors(s->be, &n, err) : INNGEST_OK;
        if (!rc && n && ing_vindex_reserve(&fresh, n))
            rc = inngest_error_set(err, INNGEST_ENOMEM, "RAG store: no memory for %zu vectors",
                                   n);
        if (!rc && dim)
            rc = s->be->ops->load_codes(s->be, 0, fresh.stride, index_add, &fresh, err);
        if (rc == INNGEST_ENOMEM)
            inngest_error_set(err, INNGEST_ENOMEM, "RAG store: out of memory");
    }
    if (!rc && use_dim) {
        pthread_rwlock_wrlock(&s->ix_mu);
        if (!s->dim) {
            snprintf(s->embedder_id, sizeof(s->embedder_id), "%s", id);
            s->dim = dim;
        }
        struct ing_vindex old = s->ix;
        s->ix = fresh;
        fresh = old;
        pthread_rwlock_unlock(&s->ix_mu);
    }
    pthread_mutex_unlock(&s->be_mu);
    ing_vindex_cleanup(&fresh);
    return rc;
}

/* ---- search ----------------------------------------------------------------------------- */

/* How long searches go without readers after one failed to open for a passing reason. */
#define READER_RETRY_MS 1000

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What a search reads through, from reader_get(). */
struct reader {
    struct ing_rag_backend *be;
    enum { RD_SERIAL, RD_SHARED, RD_POOLED } kind;
};

/* The backend a search reads through: the backend itself when it takes concurrent reads;
 * an idle reader, or a new one (at most READERS_MAX), when it opens readers; else the
 * backend with be_mu held. Give it back with reader_put(). */
static void reader_get(inngest_rag_store *s, struct reader *r) {
    const struct ing_rag_backend_ops *ops = s->be->ops;
    r->be = s->be;
    r->kind = RD_SHARED;
    if (ops->concurrent_reads)
        return;
    if (ops->open_reader) {
        pthread_mutex_lock(&s->rd_mu);
        while (!s->no_readers && !s->nidle_readers && s->readers_open >= READERS_MAX)
            pthread_cond_wait(&s->rd_cv, &s->rd_mu);
        int use = !s->no_readers && now_ms() >= s->readers_retry_ms;
        if (use && s->nidle_readers) {
            r->be = s->idle_readers[--s->nidle_readers];
            r->kind = RD_POOLED;
            pthread_mutex_unlock(&s->rd_mu);
            return;
        }
        if (use)
            s->readers_open++;
        pthread_mutex_unlock(&s->rd_mu);
        struct ing_rag_backend *be = NULL;
        int orc = use ? ops->open_reader(s->be, &be, NULL) : INNGEST_EINVAL;
        if (orc == INNGEST_OK) {
            r->be = be;
            r->kind = RD_POOLED;
            return;
        }
        if (use) {
            pthread_mutex_lock(&s->rd_mu);
            s->readers_open--;
            /* A store that can have none (in memory, say): stop trying. Another failure
             * (no memory, no file descriptor left, the file gone) serialises the searches
             * of the next READER_RETRY_MS, then opening one is tried again. */
            if (orc == INNGEST_EINVAL)
                s->no_readers = 1;
            else
                s->readers_retry_ms = now_ms() + READER_RETRY_MS;
            pthread_cond_broadcast(&s->rd_cv);
            pthread_mutex_unlock(&s->rd_mu);
        }
    }
    pthread_mutex_lock(&s->be_mu);
    r->kind = RD_SERIAL;
}

static void reader_put(inngest_rag_store *s, struct reader *r) {
    if (r->kind == RD_SERIAL) {
        pthread_mutex_unlock(&s->be_mu);
    } else if (r->kind == RD_POOLED) {
        pthread_mutex_lock(&s->rd_mu);
        s->idle_readers[s->nidle_readers++] = r->be;
        pthread_cond_signal(&s->rd_cv);
        pthread_mutex_unlock(&s->rd_mu);
    }
}

/* Document ids matching the source filter, sorted, read through `be` (a reader). */
static int filter_docs(struct ing_rag_backend *be, const inngest_rag_query *q, int64_t **out,
                       size_t *n, inngest_error *err) {
    int rc = be->ops->filter(be, q->sources, q->source_count, out, n, err);
    if (!rc && *out)
        qsort(*out, *n, sizeof(**out), ing_cmp_i64);
    return rc;
}

/* Title affinities of distinct documents, filled by the backend's doc_titles. */
struct title_ctx {
    const struct ing_query_words *query;
    double *affinity;
};

static void on_title(void *user, size_t i, const char *title) {
    struct title_ctx *t = user;
    t->affinity[i] = ing_title_affinity(t->query, title);
}

/* What fusion weighs besides the keyword hits (ev[i] for kl[i]): the chunk count of each
 * hit's document, for the length prior (the in-memory index keeps them per document), and
 * its title's affinity with the question's words `qw` (one read of the distinct
 * documents' titles through `be`). */
static int doc_evidence(inngest_rag_store *s, struct ing_rag_backend *be,
                        const struct ing_query_words *qw,
                        const struct ing_rag_scored *kl, size_t nk, struct ing_doc_evidence *ev,
                        inngest_error *err) {
    int64_t *docs = malloc(nk * sizeof(*docs));
    double *affinity = calloc(nk, sizeof(*affinity));
    if (!docs || !affinity) {
        free(docs);
        free(affinity);
        return inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    }
    size_t nd = 0;
    for (size_t i = 0; i < nk; i++)
        docs[nd++] = kl[i].doc_id;
    qsort(docs, nd, sizeof(*docs), ing_cmp_i64);
    size_t u = 0;
    for (size_t i = 0; i < nd; i++)
        if (!u || docs[u - 1] != docs[i])
            docs[u++] = docs[i];
    struct title_ctx t = {qw, affinity};
    int rc = be->ops->doc_titles(be, docs, u, on_title, &t, err);
    pthread_rwlock_rdlock(&s->ix_mu);
    for (size_t i = 0; !rc && i < nk; i++) {
        size_t n = ing_vindex_doc_chunks(&s->ix, kl[i].doc_id);
        const int64_t *d = bsearch(&kl[i].doc_id, docs, u, sizeof(*docs), ing_cmp_i64);
        ev[i] = (struct ing_doc_evidence){n > INT_MAX ? INT_MAX : (int)n, affinity[d - docs]};
    }
    pthread_rwlock_unlock(&s->ix_mu);
    free(docs);
    free(affinity);
    return rc;
}

/* Anchor text (see ING_ANCHOR_CHUNKS): the documents that the best `ING_ANCHOR_CHUNKS`
 * keyword chunks name on their line that matches the question take the naming chunk's
 * evidence: their lead chunk joins the keyword list (room for ING_ANCHOR_CHUNKS more in
 * kl and ev) with the score that, boosted as a lead chunk, equals the naming chunk's, or
 * is raised to it when it is there already, and the naming chunk's score becomes 0 (its
 * best line spoke for the page it names; the index keeps the evidence of its other
 * chunks). With a source filter (`docs`, sorted, non-NULL), a page outside it is not
 * named. */
static int anchor_evidence(inngest_rag_store *s, struct ing_rag_backend *be,
                           const struct ing_query_words *qw,
                           const int64_t *docs, size_t ndocs, struct ing_rag_scored *kl,
                           struct ing_doc_evidence *ev, size_t *nk, inngest_error *err) {
    /* A question of fewer than 2 words has no anchor line: nothing to read. */
    size_t named = qw->n < 2                 ? 0
                   : *nk < ING_ANCHOR_CHUNKS ? *nk
                                             : ING_ANCHOR_CHUNKS;
    int rc = INNGEST_OK;
    for (size_t i = 0; i < named && !rc; i++) {
        inngest_rag_hit h = {0};
        char name[256], prefix[1024];
        int64_t doc = 0, lead = 0;
        char *title = NULL;
        int r = be->ops->read_chunk(be, kl[i].id, &h, err);
        if (r == INNGEST_OK && ing_anchor_name(qw, h.text, name, sizeof(name))) {
            const char *slash = strrchr(h.doc_key, '/');
            int folder = slash ? (int)(slash + 1 - h.doc_key) : 0;
            int len = snprintf(prefix, sizeof(prefix), "%.*s%s.", folder, h.doc_key, name);
            /* A page that opens with its own name ("intro - introduction to ..." in
             * intro.3, beside intro.2) names itself, whichever sibling sorts first. */
            if (len < (int)sizeof(prefix) && strncmp(h.doc_key, prefix, (size_t)len))
                r = be->ops->named_doc(be, prefix, &doc, &lead, &title, err);
            else
                r = INNGEST_ENOTFOUND;
        } else if (r == INNGEST_OK) {
            r = INNGEST_ENOTFOUND;
        }
        free(h.doc_key);
        free(h.source);
        free(h.title);
        free(h.text);
        if (r != INNGEST_OK) {
            if (r != INNGEST_ENOTFOUND)
                rc = r;
            continue;
        }
        if (doc != kl[i].doc_id &&
            (!docs || bsearch(&doc, docs, ndocs, sizeof(*docs), ing_cmp_i64))) {
            double lead_score = kl[i].score * (kl[i].position == 0 ? 1.0 : 1.0 / ING_LEAD_BOOST);
            size_t j = 0;
            while (j < *nk && kl[j].id != lead)
                j++;
            if (j < *nk) {
                if (kl[j].score < lead_score)
                    kl[j].score = lead_score;
            } else {
                kl[j] = (struct ing_rag_scored){lead, doc, 0, lead_score};
                pthread_rwlock_rdlock(&s->ix_mu);
                size_t n = ing_vindex_doc_chunks(&s->ix, doc);
                pthread_rwlock_unlock(&s->ix_mu);
                ev[j] = (struct ing_doc_evidence){n > INT_MAX ? INT_MAX : (int)n,
                                                  ing_title_affinity(qw, title)};
                (*nk)++;
            }
            kl[i].score = 0; /* the line was the named page's evidence, not its own */
        }
        free(title);
    }
    return rc;
}

static int scored_desc(const void *a, const void *b) {
    const struct ing_rag_scored *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* How many int8 candidates the float32 rescoring looks at for `want` results. A hybrid
 * search rescores only its `want` (4k) candidates: fusion keeps each document's best
 * cosine, spread min to max, which an int8 order cannot upset by more than a rank or two,
 * and reading 5 times as many float32 vectors was half of a hybrid search's CPU time. */
static size_t rescore_depth(const inngest_rag_store *s, size_t want, int hybrid) {
    size_t c = s->rescore < 0   ? want
               : s->rescore > 0 ? (size_t)s->rescore
               : hybrid         ? want
                                : want * RESCORE_PER_RESULT;
    if (c < want)
        c = want;
    if (s->rescore == 0 && c < RESCORE_MIN)
        c = RESCORE_MIN;
    return c;
}

/* Rescores candidates with their float32 vectors; keeps those the backend still has.
 * Returns the count kept in `out`. */
static int rescore(inngest_rag_store *s, const float *unit, int dim,
                   const struct ing_cand *cand, size_t m, struct ing_rag_scored *out,
                   size_t *kept, inngest_error *err) {
    *kept = 0;
    int64_t *ids = malloc(m * sizeof(*ids));
    float *vecs = malloc(m * (size_t)dim * sizeof(float));
    unsigned char *have = calloc(m, 1);
    int rc = ids && vecs && have ? INNGEST_OK
                                 : inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    if (!rc) {
        for (size_t i = 0; i < m; i++)
            ids[i] = cand[i].id;
        struct reader r;
        reader_get(s, &r);
        rc = r.be->ops->load_vectors(r.be, ids, m, dim, vecs, have, err);
        reader_put(s, &r);
    }
    for (size_t i = 0; !rc && i < m; i++)
        if (have[i])
            out[(*kept)++] = (struct ing_rag_scored){
                cand[i].id, cand[i].doc, -1, s->dotf(unit, vecs + i * (size_t)dim, (size_t)dim)};
    free(ids);
    free(vecs);
    free(have);
    return rc;
}

/* Vector ranking: int8 scan for candidates, float32 rescoring (unless `int8_only`), best
 * `want` kept. */
static int vector_rank(inngest_rag_store *s, const float *qv, int dim, size_t want, int hybrid,
                       int int8_only,
                       const int64_t *docs, size_t ndocs, struct ing_rag_scored *out,
                       size_t *nout, inngest_error *err) {
    *nout = 0;
    size_t c = rescore_depth(s, want, hybrid);
    struct ing_cand *cand = malloc(c * sizeof(*cand));
    float *unit = malloc((size_t)dim * sizeof(float));
    if (!cand || !unit) {
        free(cand);
        free(unit);
        return inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    }
    memcpy(unit, qv, (size_t)dim * sizeof(float));
    ing_l2_normalize(unit, dim);
    pthread_rwlock_rdlock(&s->ix_mu);
    size_t m = ing_vindex_search(&s->ix, unit, c, docs, ndocs, s->threads, cand);
    pthread_rwlock_unlock(&s->ix_mu);
    int rc = INNGEST_OK;
    if (s->rescore < 0 || int8_only) {
        for (size_t i = 0; i < m; i++)
            out[i] = (struct ing_rag_scored){cand[i].id, cand[i].doc, -1, cand[i].score};
    } else if (m) {
        rc = rescore(s, unit, dim, cand, m, out, &m, err);
    }
    if (rc == INNGEST_OK) {
        qsort(out, m, sizeof(*out), scored_desc);
        *nout = m < want ? m : want;
    }
    free(cand);
    free(unit);
    return rc;
}

/* A vector ranking handed to the scan worker: vector_rank()'s arguments, its result, and
 * `done`, set under scan_mu when it is there. */
struct scan_job {
    const float *qv;
    int dim, hybrid, int8_only;
    size_t want, ndocs, nout;
    const int64_t *docs;
    struct ing_rag_scored *out;
    int rc, done;
    inngest_error err;
};

static void *scan_worker(void *arg) {
    inngest_rag_store *s = arg;
    pthread_mutex_lock(&s->scan_mu);
    for (;;) {
        while (!s->scan_stop && (!s->scan_job || s->scan_job->done))
            pthread_cond_wait(&s->scan_cv, &s->scan_mu);
        if (s->scan_stop)
            break;
        struct scan_job *j = s->scan_job;
        pthread_mutex_unlock(&s->scan_mu);
        inngest_error_clear(&j->err);
        int rc = vector_rank(s, j->qv, j->dim, j->want, j->hybrid, j->int8_only, j->docs,
                             j->ndocs, j->out, &j->nout, &j->err);
        pthread_mutex_lock(&s->scan_mu);
        j->rc = rc;
        j->done = 1;
        pthread_cond_broadcast(&s->scan_cv);
    }
    pthread_mutex_unlock(&s->scan_mu);
    return NULL;
}

/* Hands `j` to the scan worker. Returns 0 when there is none or it is busy with another
 * search's (the caller then ranks itself). */
static int scan_submit(inngest_rag_store *s, struct scan_job *j) {
    if (!s->scan_started)
        return 0;
    pthread_mutex_lock(&s->scan_mu);
    int free_now = !s->scan_job;
    if (free_now) {
        j->done = 0;
        s->scan_job = j;
        pthread_cond_broadcast(&s->scan_cv);
    }
    pthread_mutex_unlock(&s->scan_mu);
    return free_now;
}

/* Waits for the worker to finish `j` (handed over by scan_submit()) and frees it for the
 * next search; returns vector_rank()'s code, with its error copied to `err`. */
static int scan_wait(inngest_rag_store *s, struct scan_job *j, inngest_error *err) {
    pthread_mutex_lock(&s->scan_mu);
    while (!j->done)
        pthread_cond_wait(&s->scan_cv, &s->scan_mu);
    s->scan_job = NULL;
    pthread_mutex_unlock(&s->scan_mu);
    if (j->rc && err)
        *err = j->err;
    return j->rc;
}

void inngest_rag_results_cleanup(inngest_rag_results *r) {
    if (!r)
        return;
    for (size_t i = 0; i < r->count; i++) {
        free(r->hits[i].doc_key);
        free(r->hits[i].source);
        free(r->hits[i].title);
        free(r->hits[i].text);
    }
    free(r->hits);
    r->hits = NULL;
    r->count = 0;
}

/* The final ranking, best first, cut to k: document-level fusion of both lists (hybrid),
 * documents ranked by their keyword evidence (keyword), or the cosine order (vector). */
static int final_order(const inngest_rag_query *q, size_t k,
                       const struct ing_rag_scored *vl, size_t nv,
                       const struct ing_rag_scored *kl, const struct ing_doc_evidence *ev,
                       size_t nk,
                       struct ing_fused *fused, size_t *n, inngest_error *err) {
    if (q->mode != INNGEST_RAG_VECTOR) {
        int hybrid = q->mode == INNGEST_RAG_HYBRID;
        *n = ing_doc_fuse(kl, ev, nk, hybrid ? vl : NULL, hybrid ? nv : 0,
                          hybrid ? ing_vector_weight(q->embedder_id) : 0, k, fused);
        return *n == (size_t)-1 ? inngest_error_set(err, INNGEST_ENOMEM, "out of memory")
                                : INNGEST_OK;
    }
    *n = nv < k ? nv : k;
    for (size_t i = 0; i < *n; i++)
        fused[i] = (struct ing_fused){vl[i].id, vl[i].score, (int)i + 1, 0};
    return INNGEST_OK;
}

/* Reads the hits of `fused[0..n)` from the backend into `out`. */
static int read_hits(inngest_rag_store *s, const inngest_rag_query *q, const struct ing_fused *fused,
                     size_t n, const struct ing_rag_scored *vl, const struct ing_rag_scored *kl,
                     inngest_rag_results *out, inngest_error *err) {
    int use_vec = q->mode != INNGEST_RAG_KEYWORD, use_kw = q->mode != INNGEST_RAG_VECTOR;
    out->hits = calloc(n ? n : 1, sizeof(*out->hits));
    if (!out->hits)
        return inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    int rc = INNGEST_OK;
    struct reader rd;
    reader_get(s, &rd);
    struct ing_rag_backend *be = rd.be;
    int token = be->ops->read_begin ? be->ops->read_begin(be) : 0;
    for (size_t i = 0; !rc && i < n; i++) {
        inngest_rag_hit *h = &out->hits[out->count];
        int r = be->ops->read_chunk(be, fused[i].id, h, err);
        if (r == INNGEST_ENOTFOUND) { /* deleted since it was ranked */
            free(h->doc_key);
            free(h->source);
            free(h->title);
            free(h->text);
            memset(h, 0, sizeof(*h));
            continue;
        }
        out->count++;
        if (r) {
            rc = r;
            break;
        }
        h->chunk_id = fused[i].id;
        h->score = fused[i].score;
        h->vector_rank = use_vec ? fused[i].rank_a : 0;
        h->keyword_rank = use_kw ? fused[i].rank_b : 0;
        if (h->vector_rank)
            h->vector_score = vl[h->vector_rank - 1].score;
        if (h->keyword_rank)
            h->keyword_score = kl[h->keyword_rank - 1].score;
    }
    if (be->ops->read_end)
        be->ops->read_end(be, token);
    reader_put(s, &rd);
    if (rc)
        inngest_rag_results_cleanup(out);
    return rc;
}

int inngest_rag_store_search(inngest_rag_store *s, const inngest_rag_query *q,
                             inngest_rag_results *out, inngest_error *err) {
    memset(out, 0, sizeof(*out));
    size_t k = q->k > 0 ? (size_t)q->k : DEFAULT_K;
    int use_vec = q->mode != INNGEST_RAG_KEYWORD, use_kw = q->mode != INNGEST_RAG_VECTOR;
    if (use_vec && !q->vector)
        return inngest_error_set(err, INNGEST_EINVAL, "this search mode needs a query vector");
    if (use_kw && !q->text)
        return inngest_error_set(err, INNGEST_EINVAL, "this search mode needs the query text");
    int filtered = q->sources && q->source_count;
    /* Each list is longer than k so fusion, and the grouping of chunks into documents,
     * can promote items ranked lower in one. */
    size_t depth = q->mode != INNGEST_RAG_VECTOR ? (k * 4 > 20 ? k * 4 : 20) : k;
    /* The vector list holds every rescored candidate before it is cut to `depth`. */
    size_t vcap = rescore_depth(s, depth, q->mode == INNGEST_RAG_HYBRID) + depth;
    /* The keyword list has room for the documents anchors name. */
    size_t kcap = depth + ING_ANCHOR_CHUNKS;
    struct ing_rag_scored *vl = calloc(vcap, sizeof(*vl)), *kl = calloc(kcap, sizeof(*kl));
    struct ing_fused *fused = calloc(2 * depth, sizeof(*fused));
    int64_t *docs = NULL;
    struct ing_doc_evidence *ev = NULL;
    size_t ndocs = 0, nv = 0, nk = 0, n = 0;
    int rc = INNGEST_OK;
    if (!vl || !kl || !fused) {
        rc = inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
        goto done;
    }
    pthread_rwlock_rdlock(&s->ix_mu);
    if (use_vec)
        rc = check_locked(s, q->embedder_id, q->dim, err);
    int empty = s->dim == 0;
    pthread_rwlock_unlock(&s->ix_mu);
    /* A hybrid search that gives vectors a small weight (the hashing embedder's) takes the
     * int8 cosines as they are: within about 1 % of the float32 ones, they barely move a
     * ranking that counts them at a fifth (train and dev of docs/rag.md's sets, 3,102
     * questions: two lost rank 1, none rank 5), and reading the float32 vectors was a
     * seventh of such a search. */
    int int8_only = q->mode == INNGEST_RAG_HYBRID && s->rescore == 0 &&
                    ing_vector_weight(q->embedder_id) < 1.0;
    /* A hybrid search's vector ranking goes to the scan worker, when it is free, and runs
     * alongside the keyword query. */
    struct scan_job job;
    int handed = 0;
    if (!rc && (filtered || use_kw)) {
        struct reader r;
        reader_get(s, &r);
        if (filtered)
            rc = filter_docs(r.be, q, &docs, &ndocs, err);
        if (!rc && use_vec && use_kw && !empty && !(filtered && ndocs == 0)) {
            job = (struct scan_job){.qv = q->vector,
                                    .dim = q->dim,
                                    .hybrid = 1,
                                    .int8_only = int8_only,
                                    .want = depth,
                                    .docs = filtered ? docs : NULL,
                                    .ndocs = ndocs,
                                    .out = vl};
            handed = scan_submit(s, &job);
        }
        if (!rc && use_kw && !(filtered && ndocs == 0))
            rc = r.be->ops->keyword(r.be, q->text, depth, filtered ? docs : NULL, ndocs, kl, &nk,
                                    err);
        if (!rc && nk && !(ev = malloc(kcap * sizeof(*ev))))
            rc = inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
        if (!rc && nk) {
            struct ing_query_words qw; /* the question's words, for titles and anchors */
            ing_query_words(q->text, &qw);
            rc = doc_evidence(s, r.be, &qw, kl, nk, ev, err);
            if (!rc)
                rc = anchor_evidence(s, r.be, &qw, filtered ? docs : NULL, ndocs, kl, ev, &nk,
                                     err);
        }
        reader_put(s, &r);
    }
    if (handed) { /* waited for even after an error: the worker writes into vl */
        int vrc = scan_wait(s, &job, rc ? NULL : err);
        rc = rc ? rc : vrc;
        nv = job.nout;
    }
    if (rc || (filtered && ndocs == 0))
        goto done; /* an error, or the filter matches nothing */
    if (use_vec && !empty && !handed)
        rc = vector_rank(s, q->vector, q->dim, depth, q->mode == INNGEST_RAG_HYBRID, int8_only,
                         filtered ? docs : NULL, ndocs, vl, &nv, err);
    if (!rc)
        rc = final_order(q, k, vl, nv, kl, ev, nk, fused, &n, err);
    if (!rc)
        rc = read_hits(s, q, fused, n, vl, kl, out, err);
done:
    free(ev);
    free(vl);
    free(kl);
    free(fused);
    free(docs);
    return rc;
}

int inngest_rag_search(inngest_rag_store *s, inngest_rag_embedder *e, const char *text, int k,
                       inngest_rag_mode mode, inngest_rag_results *out, inngest_error *err) {
    memset(out, 0, sizeof(*out));
    float *v = NULL;
    if (mode != INNGEST_RAG_KEYWORD) {
        /* Check before paying for an embedding call. */
        int rc = inngest_rag_store_check(s, e->id, e->dim, err);
        if (rc)
            return rc;
        v = malloc((size_t)e->dim * sizeof(float));
        if (!v)
            return inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
        rc = inngest_rag_embed(e, &text, 1, v, err);
        if (rc) {
            free(v);
            return rc;
        }
    }
    inngest_rag_query q = {.text = text,
                           .vector = v,
                           .embedder_id = e ? e->id : NULL,
                           .dim = e ? e->dim : 0,
                           .k = k,
                           .mode = mode};
    int rc = inngest_rag_store_search(s, &q, out, err);
    free(v);
    return rc;
}
