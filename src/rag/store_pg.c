/* SPDX-License-Identifier: MIT */
/*
 * The PostgreSQL backend of the RAG store (the only file that includes libpq-fe.h): one
 * database shared by every host replica, so a document added through any of them is found
 * by all.
 *
 * Schema (tables in the connection's search_path, created by versioned migrations that run
 * at open under an advisory lock, so two hosts starting at once do not race):
 *   rag_schema(version, applied_at)     the migrations applied
 *   rag_meta(key, value)                the embedder binding: "embedder", "dim"
 *   rag_documents(id, key, source, title, content_hash, bytes, chunks, metadata, updated_at)
 *       key: unique, and indexed for prefix matches (text_pattern_ops)
 *   rag_chunks(id, doc_id, position, start, len, text, scale, codes, f32, tsv)
 *       codes: int8 codes (stride bytes), f32: the unit float32 vector, little-endian;
 *       tsv: setweight(title, 'A') || setweight(text, 'D') (punctuation as spaces), GIN-indexed
 *   rag_staged(key, hash, position, f32) vectors of documents being ingested in steps
 *
 * Connections: a pool of at most `pool_size` (RAG_STORE_POOL_SIZE, default 8) opened on
 * demand. A connection that breaks is dropped; a call that finds the server unreachable
 * fails with INNGEST_EUNAVAILABLE (the host answers 503 with Retry-After), and the next
 * call connects again. A read that fails on a pooled connection gone stale (the server
 * restarted while it was idle) is retried once on a fresh connection; a write is retried
 * only when its BEGIN failed, so nothing is ever written twice.
 *
 * Changes from other replicas: every write sends NOTIFY inngest_rag with
 * "<instance> <old doc id> <new doc id>" inside its transaction (delivered on commit). A
 * listener thread with its own connection passes other instances' changes to
 * ing_rag_store_apply_change(); after losing its connection it reconnects (backing off up
 * to 1 s), listens again and reloads the whole index, since notifications sent meanwhile
 * are lost.
 *
 * Messages between replicas (inngest_rag_store_publish()): NOTIFY inngest_rag_msg with
 * "<instance> <message>", outside any transaction; the same listener hands other
 * instances' messages to ing_rag_store_deliver().
 */
#include "fmacros.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "rag/backend.h"
#include "rag/rag_internal.h"

#define PG_SCHEMA_VERSION 3
#define PG_CHANNEL "inngest_rag"
#define PG_MSG_CHANNEL "inngest_rag_msg"
/* pg_advisory_xact_lock keys: (class, object) pairs picked for this store. */
#define PG_LOCK_CLASS 1744471 /* the store's lock class */
#define PG_LOCK_MIGRATE 1     /* migrations */
#define PG_XSTR(x) #x
#define PG_STR(x) PG_XSTR(x)
#define PG_DEFAULT_POOL 8
#define PG_MAX_POOL 256
/* How long a call waits for a pooled connection before failing (every one busy). */
#define PG_POOL_WAIT_S 10
#define PG_CONNECT_TIMEOUT_S "5"
/* Listener reconnect back-off bounds, milliseconds. */
#define PG_BACKOFF_MIN_MS 50
#define PG_BACKOFF_MAX_MS 1000

/* A chunk's tsvector from its document's title (weight A) and its text (D). ASCII
 * punctuation becomes a space first, so that PostgreSQL's parser splits os.path.join,
 * robots.txt or I/O into words as FTS5's unicode61 tokenizer does (it would keep each as
 * one host or file token, which a question saying "asyncio" or "robots txt" never
 * matches). */
#define PG_PUNCT "'!\"#$%&''()*+,-./:;<=>?@[\\]^_`{|}~'"
#define PG_SPACES "'                                '"
#define PG_TSV(title, text)                                                                   \
    "setweight(to_tsvector('english', translate(" title ", " PG_PUNCT ", " PG_SPACES          \
    ")), 'A') || setweight(to_tsvector('english', translate(" text ", " PG_PUNCT              \
    ", " PG_SPACES ")), 'D')"

/* A term's weighted frequency in a chunk, title occurrences counting twice: for a query of
 * one word, ts_rank_cd without normalisation sums the weight of each occurrence (every
 * occurrence is a cover of its own), A 1.0 and D 0.5 here; for a phrase, of each
 * occurrence of the phrase. */
#define PG_TF(tsv, q) "(2 * ts_rank_cd('{0.5, 0.5, 0.5, 1.0}', " tsv ", " q ", 0)::float8)"

/* BM25's parameters, FTS5's: term frequency saturation and length normalisation. */
#define PG_BM25_K1 "1.2::float8"
#define PG_BM25_B "0.75::float8"

/* PostgreSQL type oids used for parameters. */
#define OID_INT8 20
#define OID_TEXT 25
#define OID_FLOAT4 700
#define OID_BYTEA 17

struct pg_backend {
    struct ing_rag_backend base;
    char *url;
    char instance[17]; /* this process's id in notifications */
    /* the pool */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    PGconn **idle;
    size_t nidle, open, max;
    /* the listener */
    pthread_t thread;
    int thread_started;
    int wake[2]; /* a byte written here stops the listener */
    int stopping;
    PGconn *listen_conn; /* connected in open, then owned by the listener thread */
    /* The schema: migrated on the first connection (at open, or later when the server
     * was down then and the store opened lazily). */
    pthread_mutex_t migrate_mu;
    int migrated;
};

/* ---- errors ----------------------------------------------------------------------------- */

/* Failures that mean "the server cannot be used now" rather than "this request is wrong". */
static int unavailable_state(const char *st) {
    if (!st)
        return 0;
    return !strncmp(st, "08", 2) ||   /* connection exception */
           !strcmp(st, "57P01") ||    /* admin_shutdown */
           !strcmp(st, "57P02") ||    /* crash_shutdown */
           !strcmp(st, "57P03") ||    /* cannot_connect_now */
           !strcmp(st, "53300") ||    /* too_many_connections */
           !strcmp(st, "40001") ||    /* serialization_failure */
           !strcmp(st, "40P01");      /* deadlock_detected */
}

/* One line of libpq's message (it ends with a newline, sometimes has several lines). */
static void first_line(const char *msg, char *out, size_t n) {
    snprintf(out, n, "%s", msg && *msg ? msg : "unknown error");
    out[strcspn(out, "\n")] = '\0';
}

/* Fills `err` from a failed result (or, res NULL, from the connection). */
static int pg_fail(PGconn *c, const PGresult *res, inngest_error *err, const char *what) {
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    char line[400];
    first_line(res && PQresultErrorMessage(res)[0] ? PQresultErrorMessage(res)
                                                   : PQerrorMessage(c),
               line, sizeof(line));
    int code = INNGEST_EIO;
    if (!c || PQstatus(c) != CONNECTION_OK || unavailable_state(st))
        code = INNGEST_EUNAVAILABLE;
    else if (st && !strncmp(st, "22", 2))
        code = INNGEST_EINVAL; /* data exception: bad input, e.g. a NUL byte in text */
    int rc = inngest_error_set(err, code, "RAG store (PostgreSQL): %s: %s", what, line);
    if (err && code == INNGEST_EUNAVAILABLE)
        snprintf(err->retry_after, sizeof(err->retry_after), "%d", 2);
    return rc;
}

/* ---- connections and the pool ------------------------------------------------------------ */

static int migrate(PGconn *c, inngest_error *err);

static void quiet_notices(void *arg, const char *message) {
    (void)arg;
    (void)message; /* "query contains only stop words" and the like: not for the log */
}

/* Connects; NULL with `err` filled (INNGEST_EUNAVAILABLE) when the server cannot be
 * reached. */
static PGconn *pg_connect(struct pg_backend *b, inngest_error *err) {
    /* Keepalives: a server that vanishes without closing the socket is noticed in about
     * 25 s instead of the kernel's two hours. */
    const char *keys[] = {"dbname",     "client_encoding", "connect_timeout",     "application_name",
                          "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
                          NULL};
    const char *vals[] = {b->url, "UTF8", PG_CONNECT_TIMEOUT_S, "inngest-rag", "1", "10", "5", "3",
                          NULL};
    /* expand_dbname: `dbname` is the URL; later keys fill what it does not set. */
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (!c) {
        inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
        return NULL;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        char line[400];
        first_line(PQerrorMessage(c), line, sizeof(line));
        inngest_error_set(err, INNGEST_EUNAVAILABLE,
                          "RAG store (PostgreSQL): cannot connect: %s", line);
        if (err)
            snprintf(err->retry_after, sizeof(err->retry_after), "%d", 2);
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, quiet_notices, NULL);
    return c;
}

/* A connection from the pool (`*fresh` set when it was just opened), or NULL with `err`
 * filled. */
static PGconn *pool_get(struct pg_backend *b, int *fresh, inngest_error *err) {
    pthread_mutex_lock(&b->mu);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += PG_POOL_WAIT_S;
    while (!b->nidle && b->open >= b->max) {
        if (pthread_cond_timedwait(&b->cv, &b->mu, &until) == ETIMEDOUT) {
            pthread_mutex_unlock(&b->mu);
            inngest_error_set(err, INNGEST_EUNAVAILABLE,
                              "RAG store (PostgreSQL): all %zu connections stayed busy for %d s "
                              "(RAG_STORE_POOL_SIZE)",
                              b->max, PG_POOL_WAIT_S);
            if (err)
                snprintf(err->retry_after, sizeof(err->retry_after), "%d", 1);
            return NULL;
        }
    }
    if (b->nidle) {
        PGconn *c = b->idle[--b->nidle];
        pthread_mutex_unlock(&b->mu);
        *fresh = 0;
        return c;
    }
    b->open++;
    pthread_mutex_unlock(&b->mu);
    PGconn *c = pg_connect(b, err);
    /* The tables exist before the first statement runs on any connection. */
    if (c && !__atomic_load_n(&b->migrated, __ATOMIC_ACQUIRE)) {
        pthread_mutex_lock(&b->migrate_mu);
        int rc = b->migrated ? INNGEST_OK : migrate(c, err);
        if (rc == INNGEST_OK)
            __atomic_store_n(&b->migrated, 1, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&b->migrate_mu);
        if (rc != INNGEST_OK) {
            PQfinish(c);
            c = NULL;
        }
    }
    if (!c) {
        pthread_mutex_lock(&b->mu);
        b->open--;
        pthread_cond_signal(&b->cv);
        pthread_mutex_unlock(&b->mu);
    }
    *fresh = 1;
    return c;
}

/* Closes every idle connection: after one turned out stale (the server restarted), the
 * others are too. */
static void pool_flush_idle(struct pg_backend *b) {
    pthread_mutex_lock(&b->mu);
    while (b->nidle) {
        PQfinish(b->idle[--b->nidle]);
        b->open--;
    }
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

/* Returns a connection to the pool; a broken one (or one left inside a transaction) is
 * closed instead. */
static void pool_put(struct pg_backend *b, PGconn *c) {
    if (!c)
        return;
    int keep = PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) == PQTRANS_IDLE;
    if (!keep)
        PQfinish(c);
    pthread_mutex_lock(&b->mu);
    if (keep)
        b->idle[b->nidle++] = c;
    else
        b->open--;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

/* ---- statements -------------------------------------------------------------------------- */

#define MAX_PARAMS 16

/* Parameters of one statement: integers as text, texts and blobs as binary (with their
 * length, so a text need not end in NUL). */
struct params {
    int n;
    const char *v[MAX_PARAMS];
    int len[MAX_PARAMS];
    int fmt[MAX_PARAMS];
    Oid type[MAX_PARAMS];
    char num[MAX_PARAMS][24];
};

static void p_i64(struct params *p, int64_t x) {
    snprintf(p->num[p->n], sizeof(p->num[0]), "%" PRId64, x);
    p->v[p->n] = p->num[p->n];
    p->len[p->n] = 0;
    p->fmt[p->n] = 0;
    p->type[p->n] = OID_INT8;
    p->n++;
}

static void p_text(struct params *p, const char *s, size_t len) {
    p->v[p->n] = s;
    p->len[p->n] = (int)len;
    p->fmt[p->n] = s ? 1 : 0; /* binary text is the raw bytes */
    p->type[p->n] = OID_TEXT;
    p->n++;
}

static void p_str(struct params *p, const char *s) {
    p_text(p, s, s ? strlen(s) : 0);
}

static void p_blob(struct params *p, const void *data, size_t len) {
    p->v[p->n] = data;
    p->len[p->n] = (int)len;
    p->fmt[p->n] = 1;
    p->type[p->n] = OID_BYTEA;
    p->n++;
}

static void p_f32(struct params *p, float x) {
    snprintf(p->num[p->n], sizeof(p->num[0]), "%.9g", (double)x);
    p->v[p->n] = p->num[p->n];
    p->len[p->n] = 0;
    p->fmt[p->n] = 0;
    p->type[p->n] = OID_FLOAT4;
    p->n++;
}

/* Runs a statement; results in binary. Returns the result (PGRES_TUPLES_OK or
 * PGRES_COMMAND_OK), or NULL with `err` filled. */
static PGresult *run(PGconn *c, const char *sql, const struct params *p, inngest_error *err,
                     const char *what) {
    PGresult *r = PQexecParams(c, sql, p ? p->n : 0, p ? p->type : NULL, p ? p->v : NULL,
                               p ? p->len : NULL, p ? p->fmt : NULL, 1);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return r;
    pg_fail(c, r, err, what);
    PQclear(r);
    return NULL;
}

/* A statement without parameters or rows wanted. */
static int run0(PGconn *c, const char *sql, inngest_error *err, const char *what) {
    PGresult *r = run(c, sql, NULL, err, what);
    if (!r)
        return err && err->code ? err->code : INNGEST_EIO;
    PQclear(r);
    return INNGEST_OK;
}

static int failed_code(inngest_error *err) {
    return err && err->code ? err->code : INNGEST_EIO;
}

/* Binary column readers. */
static uint64_t be64(const unsigned char *p) {
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x = x << 8 | p[i];
    return x;
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t col_i64(const PGresult *r, int row, int col) {
    const unsigned char *v = (const unsigned char *)PQgetvalue(r, row, col);
    int n = PQgetlength(r, row, col);
    if (PQgetisnull(r, row, col))
        return 0;
    return n == 8 ? (int64_t)be64(v) : n == 4 ? (int32_t)be32(v) : 0;
}

static float col_f32(const PGresult *r, int row, int col) {
    if (PQgetisnull(r, row, col) || PQgetlength(r, row, col) != 4)
        return 0;
    uint32_t u = be32((const unsigned char *)PQgetvalue(r, row, col));
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

/* A text column, NUL-terminated by libpq. */
static const char *col_text(const PGresult *r, int row, int col) {
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

/* float32 vectors travel and rest as little-endian bytes. */
static void f32_from_le(float *out, const void *in, size_t n) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    const unsigned char *p = in;
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 |
                     (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
        memcpy(&out[i], &u, 4);
    }
#else
    memcpy(out, in, n * sizeof(float));
#endif
}

/* Returns `v` as little-endian bytes: `v` itself, or a copy in `*tmp` (to free). */
static const void *f32_to_le(const float *v, size_t n, void **tmp) {
    *tmp = NULL;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    unsigned char *p = malloc(n * 4);
    if (!p)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        p[4 * i] = u & 0xff;
        p[4 * i + 1] = u >> 8 & 0xff;
        p[4 * i + 2] = u >> 16 & 0xff;
        p[4 * i + 3] = u >> 24;
    }
    *tmp = p;
    return p;
#else
    (void)n;
    return v;
#endif
}

/*
 * Runs `sql` on a pooled connection (into *conn, NULL on failure). When it fails because
 * that connection had gone stale (the server restarted while it sat idle), the idle ones
 * are dropped and it runs once more on a fresh connection: safe for a read, and for the
 * BEGIN of a write. The caller clears the result and returns the connection with
 * pool_put() (or finish()).
 */
static PGresult *read_query(struct pg_backend *b, PGconn **conn, const char *sql,
                            const struct params *p, inngest_error *err, const char *what) {
    *conn = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        int fresh = 0;
        PGconn *c = pool_get(b, &fresh, err);
        if (!c)
            return NULL;
        PGresult *r = run(c, sql, p, err, what);
        if (r) {
            *conn = c;
            return r;
        }
        int stale = !fresh && PQstatus(c) != CONNECTION_OK;
        pool_put(b, c);
        if (!stale)
            break;
        pool_flush_idle(b);
    }
    return NULL;
}

/* Starts a write transaction on a pooled connection. */
static PGconn *begin(struct pg_backend *b, inngest_error *err) {
    PGconn *c;
    PGresult *r = read_query(b, &c, "BEGIN", NULL, err, "starting a transaction");
    PQclear(r);
    return c;
}

/* Ends a write: COMMIT when rc is OK (returning its result), else ROLLBACK. The
 * connection goes back to the pool either way. */
static int finish(struct pg_backend *b, PGconn *c, int rc, inngest_error *err) {
    if (rc == INNGEST_OK)
        rc = run0(c, "COMMIT", err, "committing");
    if (rc != INNGEST_OK && PQstatus(c) == CONNECTION_OK &&
        PQtransactionStatus(c) != PQTRANS_IDLE) {
        PGresult *r = PQexec(c, "ROLLBACK");
        PQclear(r);
    }
    pool_put(b, c);
    return rc;
}

/* NOTIFY the other replicas of a change (delivered when the transaction commits). */
static int notify(struct pg_backend *b, PGconn *c, int64_t old_doc, int64_t new_doc,
                  inngest_error *err) {
    char payload[80];
    snprintf(payload, sizeof(payload), "%s %" PRId64 " %" PRId64, b->instance, old_doc, new_doc);
    struct params p = {0};
    p_str(&p, payload);
    PGresult *r = run(c, "SELECT pg_notify('" PG_CHANNEL "', $1)", &p, err, "notifying");
    if (!r)
        return failed_code(err);
    PQclear(r);
    return INNGEST_OK;
}

/* ---- migrations -------------------------------------------------------------------------- */

/* Migration n (1-based) brings the schema from version n-1 to n. Never edit one that has
 * shipped: add the next. */
static const char *const migrations[PG_SCHEMA_VERSION] = {
    "CREATE TABLE rag_meta(key text PRIMARY KEY, value text NOT NULL);"
    "CREATE TABLE rag_documents(id bigserial PRIMARY KEY, key text NOT NULL UNIQUE,"
    " source text NOT NULL, title text NOT NULL, content_hash text NOT NULL,"
    " bytes bigint NOT NULL, chunks integer NOT NULL, metadata text,"
    " updated_at bigint NOT NULL);"
    "CREATE INDEX rag_documents_source ON rag_documents(source);"
    "CREATE TABLE rag_chunks(id bigserial PRIMARY KEY,"
    " doc_id bigint NOT NULL REFERENCES rag_documents(id) ON DELETE CASCADE,"
    " position integer NOT NULL, start bigint NOT NULL, len bigint NOT NULL,"
    " text text NOT NULL, scale real NOT NULL, codes bytea NOT NULL, f32 bytea NOT NULL,"
    " tsv tsvector NOT NULL);"
    /* Vectors do not compress; keep them out of line so scans of codes stay small. */
    "ALTER TABLE rag_chunks ALTER COLUMN f32 SET STORAGE EXTERNAL;"
    "ALTER TABLE rag_chunks ALTER COLUMN codes SET STORAGE MAIN;"
    "CREATE INDEX rag_chunks_doc ON rag_chunks(doc_id);"
    "CREATE INDEX rag_chunks_tsv ON rag_chunks USING gin(tsv);"
    "CREATE TABLE rag_staged(key text NOT NULL, hash text NOT NULL, position integer NOT NULL,"
    " f32 bytea NOT NULL, PRIMARY KEY(key, hash, position));",
    /* 2: identifiers split at punctuation in the keyword index (PG_TSV). */
    "UPDATE rag_chunks c SET tsv = " PG_TSV("d.title", "c.text") " FROM rag_documents d"
    " WHERE d.id = c.doc_id;",
    /* 3: keys found by prefix (anchor text names a page beside the naming one), in any
     * collation. */
    "CREATE INDEX rag_documents_key_prefix ON rag_documents(key text_pattern_ops);",
};

static int migrate(PGconn *c, inngest_error *err) {
    int rc = run0(c, "BEGIN", err, "starting the migration");
    if (rc)
        return rc;
    /* Every host that starts takes this lock, so only one creates or upgrades the schema
     * and the others then see it done. */
    rc = run0(c,
              "SELECT pg_advisory_xact_lock(" PG_STR(PG_LOCK_CLASS) ", " PG_STR(
                  PG_LOCK_MIGRATE) ")",
              err, "locking the schema");
    if (!rc)
        rc = run0(c,
                  "CREATE TABLE IF NOT EXISTS rag_schema(version integer PRIMARY KEY,"
                  " applied_at timestamptz NOT NULL DEFAULT now())",
                  err, "creating the schema table");
    int version = 0;
    if (!rc) {
        PGresult *r = run(c, "SELECT coalesce(max(version), 0) FROM rag_schema", NULL, err,
                          "reading the schema version");
        if (!r)
            rc = failed_code(err);
        else {
            version = (int)col_i64(r, 0, 0);
            PQclear(r);
        }
    }
    if (!rc && version > PG_SCHEMA_VERSION)
        rc = inngest_error_set(err, INNGEST_EMISMATCH,
                               "RAG store (PostgreSQL): schema version %d is newer than this "
                               "build reads (%d): upgrade this host",
                               version, PG_SCHEMA_VERSION);
    for (int v = version + 1; !rc && v <= PG_SCHEMA_VERSION; v++) {
        PGresult *r = PQexec(c, migrations[v - 1]);
        if (!r || PQresultStatus(r) != PGRES_COMMAND_OK)
            rc = pg_fail(c, r, err, "migrating the schema");
        PQclear(r);
        struct params p = {0};
        p_i64(&p, v);
        if (!rc) {
            r = run(c, "INSERT INTO rag_schema(version) VALUES($1)", &p, err,
                    "recording the migration");
            rc = r ? INNGEST_OK : failed_code(err);
            PQclear(r);
        }
    }
    if (!rc)
        return run0(c, "COMMIT", err, "committing the migration");
    PGresult *r = PQexec(c, "ROLLBACK");
    PQclear(r);
    return rc;
}

/* ---- the backend's functions ------------------------------------------------------------- */

static int pg_binding(struct ing_rag_backend *bb, char id[ING_RAG_EMBEDDER_ID_MAX], int *dim,
                      inngest_error *err) {
    struct pg_backend *b = (struct pg_backend *)bb;
    id[0] = '\0';
    *dim = 0;
    PGconn *c;
    PGresult *r = read_query(b, &c, "SELECT key, value FROM rag_meta", NULL, err,
                             "reading the binding");
    if (!r)
        return failed_code(err);
    long d = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *k = col_text(r, i, 0), *v = col_text(r, i, 1);
        if (!k || !v)
            continue;
        if (!strcmp(k, "embedder"))
            snprintf(id, ING_RAG_EMBEDDER_ID_MAX, "%s", v);
        else if (!strcmp(k, "dim")) {
            char *end;
            errno = 0;
            d = strtol(v, &end, 10);
            if (errno || *end || end == v)
                d = -1;
        }
    }
    PQclear(r);
    pool_put(b, c);
    if (d < 0 || d > 65536)
        return inngest_error_set(err, INNGEST_EPARSE,
                                 "RAG store (PostgreSQL): the dimension in rag_meta is not "
                                 "valid");
    *dim = (int)d;
    return INNGEST_OK;
}

static int pg_counts(struct ing_rag_backend *bb, size_t *documents, size_t *chunks,
                     inngest_error *err) {
    struct pg_backend *b = (struct pg_backend *)bb;
    *documents = *chunks = 0;
    PGconn *c;
    PGresult *r = read_query(b, &c,
                             "SELECT (SELECT count(*) FROM rag_documents),"
                             " (SELECT count(*) FROM rag_chunks)",
                             NULL, err, "counting");
    if (!r)
        return failed_code(err);
    *documents = (size_t)col_i64(r, 0, 0);
    *chunks = (size_t)col_i64(r, 0, 1);
    PQclear(r);
    pool_put(b, c);
    return INNGEST_OK;
}

static int pg_count_vectors(struct ing_rag_backend *bb, size_t *n, inngest_error *err) {
    struct pg_backend *b = (struct pg_backend *)bb;
    *n = 0;
    PGconn *c;
    PGresult *r = read_query(b, &c, "SELECT count(*) FROM rag_chunks", NULL, err,
                             "counting vectors");
    if (!r)
        return failed_code(err);
    *n = (size_t)col_i64(r, 0, 0);
    PQclear(r);
    pool_put(b, c);
    return INNGEST_OK;
}

/* Deletes the document `doc` (its chunks go with it: ON DELETE CASCADE). */
static int delete_doc(PGconn *c, int64_t doc, inngest_error *err) {
    struct params p = {0};
    p_i64(&p, doc);
    PGresult *r = run(c, "DELETE FROM rag_documents WHERE id = $1", &p, err,
                      "deleting the document");
    if (!r)
        return failed_code(err);
    PQclear(r);
    return INNGEST_OK;
}

/* The chunk ids of a document. */
static int chunk_ids(PGconn *c, int64_t doc, int64_t **ids, size_t *n, inngest_error *err) {
    *ids = NULL;
    *n = 0;
    struct params p = {0};
    p_i64(&p, doc);
    PGresult *r = run(c, "SELECT id FROM rag_chunks WHERE doc_id = $1", &p, err,
                      "reading chunk ids");
    if (!r)
        return failed_code(err);
    int rows = PQntuples(r);
    if (rows) {
        *ids = malloc((size_t)rows * sizeof(**ids));
        if (!*ids) {
            PQclear(r);
            return inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
        }
        for (int i = 0; i < rows; i++)
            (*ids)[i] = col_i64(r, i, 0);
        *n = (size_t)rows;
    }
    PQclear(r);
    return INNGEST_OK;
}

/* Locks a document key for this transaction, so two replicas writing the same key take
 * turns. */
static int lock_key(PGconn *c, const char *key, inngest_error *err) {
    struct params p = {0};
    p_str(&p, key);
    PGresult *r = run(c, "SELECT pg_advisory_xact_lock(" PG_STR(PG_LOCK_CLASS) ", hashtext($1))",
                      &p, err, "locking the document");
    if (!r)
        return failed_code(err);
    PQclear(r);
    return INNGEST_OK;
}

/* Records the binding, or checks that another writer did not bind it differently. */
static int bind_store(PGconn *c, const char *embedder_id, int dim, inngest_error *err) {
    struct params p = {0};
    char d[16];
    snprintf(d, sizeof(d), "%d", dim);
    p_str(&p, embedder_id);
    p_str(&p, d);
    PGresult *r = run(c,
                      "INSERT INTO rag_meta(key, value) VALUES ('embedder', $1), ('dim', $2)"
                      " ON CONFLICT (key) DO NOTHING",
                      &p, err, "binding the embedder");
    if (!r)
        return failed_code(err);
    PQclear(r);
    r = run(c, "SELECT key, value FROM rag_meta WHERE key IN ('embedder', 'dim')", NULL, err,
            "reading the binding");
    if (!r)
        return failed_code(err);
    const char *got_id = "", *got_dim = "";
    for (int i = 0; i < PQntuples(r); i++) {
        const char *k = col_text(r, i, 0);
        if (k && !strcmp(k, "embedder"))
            got_id = col_text(r, i, 1);
        else if (k && !strcmp(k, "dim"))
            got_dim = col_text(r, i, 1);
    }
    int rc = INNGEST_OK;
    if (strcmp(got_id ? got_id : "", embedder_id) || strcmp(got_dim ? got_dim : "", d)) {
        rc = inngest_error_set(err, INNGEST_EMISMATCH,
                               "the RAG store was built with embedder %s (%s dimensions) but "
                               "this put uses %s (%d dimensions); use the same embedder, or "
                               "another database and re-ingest",
                               got_id ? got_id : "?", got_dim ? got_dim : "?", embedder_id, dim);
        if (err)
            err->no_retry = 1;
    }
    PQclear(r);
    return rc;
}

static int put_chunks(PGconn *c, const struct ing_rag_put *p, int64_t doc_id,
                      struct ing_rag_put_result *res, inngest_error *err) {
    for (size_t i = 0; i < p->count; i++) {
        const struct ing_rag_put_chunk *ch = &p->chunks[i];
        if (memchr(ch->text, '\0', ch->text_len))
            return inngest_error_set(err, INNGEST_EINVAL,
                                     "RAG store (PostgreSQL): chunk %zu of %s holds a NUL byte, "
                                     "which PostgreSQL text cannot store",
                                     i, p->key);
        void *tmp;
        const void *le = f32_to_le(ch->f32, (size_t)p->dim, &tmp);
        if (!le)
            return inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
        struct params q = {0};
        p_i64(&q, doc_id);
        p_i64(&q, (int64_t)i);
        p_i64(&q, (int64_t)ch->start);
        p_i64(&q, (int64_t)ch->len);
        p_text(&q, ch->text, ch->text_len);
        p_f32(&q, ch->scale);
        p_blob(&q, ch->codes, p->stride);
        p_blob(&q, le, (size_t)p->dim * sizeof(float));
        p_str(&q, p->title);
        PGresult *r = run(c,
                          "INSERT INTO rag_chunks(doc_id, position, start, len, text, scale,"
                          " codes, f32, tsv) VALUES($1, $2, $3, $4, $5, $6, $7, $8, "
                          PG_TSV("$9", "$5") ") RETURNING id",
                          &q, err, "inserting a chunk");
        free(tmp);
        if (!r)
            return failed_code(err);
        res->chunk_ids[i] = col_i64(r, 0, 0);
        PQclear(r);
    }
    return INNGEST_OK;
}

static int pg_put(struct ing_rag_backend *bb, const struct ing_rag_put *p,
                  struct ing_rag_put_result *res, inngest_error *err) {
    struct pg_backend *b = (struct pg_backend *)bb;
    res->doc_id = 0;
    res->replaced = res->unchanged = 0;
    res->old_ids = NULL;
    res->nold = 0;
    PGconn *c = begin(b, err);
    if (!c)
        return failed_code(err);
    int rc = lock_key(c, p->key, err);
    if (!rc && p->unless_hash) {
        struct params q = {0};
        p_str(&q, p->key);
        PGresult *r = run(c, "SELECT content_hash FROM rag_documents WHERE key = $1", &q, err,
                          "reading the content hash");
        if (!r)
            rc = failed_code(err);
        else {
            const char *h = PQntuples(r) ? col_text(r, 0, 0) : NULL;
            res->unchanged = h && !strcmp(h, p->unless_hash);
            PQclear(r);
        }
        if (!rc && res->unchanged)
            return finish(b, c, INNGEST_OK, err);
    }
    if (!rc)
        rc = bind_store(c, p->embedder_id, p->dim, err);
    int64_t old_doc = 0;
    if (!rc) {
        struct params q = {0};
        p_str(&q, p->key);
        PGresult *r = run(c, "SELECT id FROM rag_documents WHERE key = $1", &q, err,
                          "looking up the document");
        if (!r)
            rc = failed_code(err);
        else {
            old_doc = PQntuples(r) ? col_i64(r, 0, 0) : 0;
            PQclear(r);
        }
    }
    if (!rc && old_doc) {
        rc = chunk_ids(c, old_doc, &res->old_ids, &res->nold, err);
        if (!rc)
            rc = delete_doc(c, old_doc, err);
        res->replaced = 1;
    }
    if (!rc) {
        struct params q = {0};
        p_str(&q, p->key);
        p_str(&q, p->source);
        p_str(&q, p->title);
        p_str(&q, p->hash);
        p_i64(&q, (int64_t)p->bytes);
        p_i64(&q, (int64_t)p->count);
        p_str(&q, p->metadata);
        p_i64(&q, (int64_t)time(NULL));
        PGresult *r = run(c,
                          "INSERT INTO rag_documents(key, source, title, content_hash, bytes,"
                          " chunks, metadata, updated_at) VALUES($1, $2, $3, $4, $5, $6, $7, $8)"
                          " RETURNING id",
                          &q, err, "inserting the document");
        if (!r)
            rc = failed_code(err);
        else {
            res->doc_id = col_i64(r, 0, 0);
            PQclear(r);
        }
    }
    if (!rc)
        rc = put_chunks(c, p, res->doc_id, res, err);
    if (!rc) {
        struct params q = {0};
        p_str(&q, p->key);
        PGresult *r = run(c, "DELETE FROM rag_staged WHERE key = $1", &q, err,
                          "clearing staged vectors");
        rc = r ? INNGEST_OK : failed_code(err);
        PQclear(r);
    }
    if (!rc)
        rc = notify(b, c, old_doc, res->doc_id, err);
    rc = finish(b, c, rc, err);
    if (rc) {
        free(res->old_ids);
        res->old_ids = NULL;
        res->nold = 0;
        res->replaced = 0;
    }
    return rc;
}

static int pg_remove(struct ing_rag_backend *bb, const char *key, int64_t **ids, size_t *n,
                     inngest_error *err) {
    struct pg_backend *b = (struct pg_backend *)bb;
    *ids = NULL;
    *n = 0;
    PGconn *c = begin(b, err);
    if (!c)
        return failed_code(err);
    int rc = lock_key(c, key, err);
    int64_t doc = 0;
    if (!rc) {
        struct params q = {0};
        p_str(&q, key);
        PGresult *r = run(c, "SELECT id FROM rag_documents WHERE key = $1", &q, err,
                          "looking up the document");
        if (!r)
            rc = failed_code(err);
        else {
            doc = PQntuples(r) ? col_i64(r, 0, 0) : 0;
            PQclear(r);
        }
    }
    if (!rc && !doc)
        rc = inngest_error_set(err, INNGEST_ENOTFOUND, "no document with key \"%s\"", key);
    if (!rc)
        rc = chunk_ids(c, doc, ids, n, err);
    if (!rc)
        rc = delete_doc(c, doc, err);
    if (!rc)
        rc = notify(b, c, doc, 0, err);
    rc = finish(b, c, rc, err);
    if (rc) {
        free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return rc;
}

static int pg_doc_hash(struct ing_rag_backend *bb, const char *key, char out[17],
                       inngest_error *err) {
    struct pg_backend *b = (struct pg_backend *)bb;
    struct params q = {0};
    p_str(&q, key);
    PGconn *c;
    PGresult *r = read_query(b, &c, "SELECT content_hash FROM rag_documents WHERE key = $1", &q,
                             err, "reading the content hash");
    if (!r)
        return failed_code(err);
    int rc = INNGEST_ENOTFOUND;
    if (PQntuples(r) && col_text(r, 0, 0)) {
        snprintf(out, 17, "%s", col_text(r, 0, 0));
        rc = INNGEST_OK;
    } else {
        inngest_error_set(err, INNGEST_ENOTFOUND, "no document with key \"%s\"", key);
    }
    PQclear(r);
    pool_put(b, c);
    return rc;
}

static int pg_list(struct ing_rag_backend *bb, json_t **out, inngest_error *err) {
    struct pg_backend *b = (struct pg_backend *)bb;
    *out = NULL;
    PGconn *c;
    PGresult *r = read_query(b, &c,
                             "SELECT key, source, title, chunks, bytes, content_hash, updated_at,"
                             " metadata FROM rag_documents ORDER BY key COLLATE \"C\"",
                             NULL, err, "listing documents");
    if (!r)
        return failed_code(err);
    json_t *arr = json_array();
    int rc = arr ? INNGEST_OK : INNGEST_ENOMEM;
    for (int i = 0; arr && i < PQntuples(r); i++) {
        const char *meta = col_text(r, i, 7);
        json_t *m = meta ? json_loads(meta, JSON_DECODE_ANY, NULL) : NULL;
        json_t *o = json_pack("{s:s,s:s,s:s,s:I,s:I,s:s,s:I,s:o}", "key", col_text(r, i, 0),
                              "source", col_text(r, i, 1), "title", col_text(r, i, 2), "chunks",
                              (json_int_t)col_i64(r, i, 3), "bytes",
                              (json_int_t)col_i64(r, i, 4), "hash", col_text(r, i, 5),
                              "updatedAt", (json_int_t)col_i64(r, i, 6), "metadata",
                              m ? m : json_null());
        if (!o || json_array_append_new(arr, o)) {
            rc = INNGEST_ENOMEM;
            break;
        }
    }
    PQclear(r);
    pool_put(b, c);
    if (rc) {
        json_decref(arr);
        return inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    }
    *out = arr;
    return INNGEST_OK;
}

static int pg_stage(struct ing_rag_backend *bb, const char *key, const char *hash, size_t first,
                    size_t count, const float *vectors, int dim, inngest_error *err) {
    struct pg_backend *b = (struct pg_backend *)bb;
    PGconn *c = begin(b, err);
    if (!c)
        return failed_code(err);
    int rc = INNGEST_OK;
    for (size_t i = 0; i < count && !rc; i++) {
        void *tmp;
        const void *le = f32_to_le(vectors + i * (size_t)dim, (size_t)dim, &tmp);
        if (!le) {
            rc = inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
            break;
        }
        struct params q = {0};
        p_str(&q, key);
        p_str(&q, hash);
        p_i64(&q, (int64_t)(first + i));
        p_blob(&q, le, (size_t)dim * sizeof(float));
        PGresult *r = run(c,
                          "INSERT INTO rag_staged(key, hash, position, f32) VALUES($1, $2, $3, $4)"
                          " ON CONFLICT (key, hash, position) DO UPDATE SET f32 = EXCLUDED.f32",
                          &q, err, "staging vectors");
        free(tmp);
        rc = r ? INNGEST_OK : failed_code(err);
        PQclear(r);
    }
    return finish(b, c, rc, err);
}

static int pg_load_staged(struct ing_rag_backend *bb, const char *key, const char *hash,
                          size_t first, size_t count, int dim, float *out, unsigned char *have,
                          inngest_error *err) {
    struct pg_backend *b = (struct pg_backend *)bb;
    struct params q = {0};
    p_str(&q, key);
    p_str(&q, hash);
    p_i64(&q, (int64_t)first);
    p_i64(&q, (int64_t)(first + count));
    PGconn *c;
    PGresult *r = read_query(b, &c,
                             "SELECT position, f32 FROM rag_staged WHERE key = $1 AND hash = $2"
                             " AND position >= $3 AND position < $4",
                             &q, err, "reading staged vectors");
    if (!r)
        return failed_code(err);
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t pos = col_i64(r, i, 0) - (int64_t)first;
        if (pos < 0 || (size_t)pos >= count ||
            PQgetlength(r, i, 1) != (int)((size_t)dim * sizeof(float)))
            continue; /* another dimension: embed again */
        f32_from_le(out + (size_t)pos * (size_t)dim, PQgetvalue(r, i, 1), (size_t)dim);
        have[pos] = 1;
    }
    PQclear(r);
    pool_put(b, c);
    return INNGEST_OK;
}

static int pg_filter(struct ing_rag_backend *bb, const char *const *sources, size_t n,
                     int64_t **docs, size_t *ndocs, inngest_error *err) {
    struct pg_backend *b = (struct pg_backend *)bb;
    *docs = NULL;
    *ndocs = 0;
    size_t cap = 0;
    int rc = INNGEST_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        if (!sources[i])
            continue;
        struct params q = {0};
        p_str(&q, sources[i]);
        PGconn *c;
        PGresult *r = read_query(b, &c, "SELECT id FROM rag_documents WHERE key = $1 OR source = $1",
                                 &q, err, "filtering sources");
        if (!r) {
            rc = failed_code(err);
            break;
        }
        for (int j = 0; j < PQntuples(r); j++) {
            if (*ndocs == cap) {
                cap = cap ? cap * 2 : 16;
                int64_t *nv = realloc(*docs, cap * sizeof(*nv));
                if (!nv) {
                    rc = inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
                    break;
                }
                *docs = nv;
            }
            (*docs)[(*ndocs)++] = col_i64(r, j, 0);
        }
        PQclear(r);
        pool_put(b, c);
    }
    if (rc) {
        free(*docs);
        *docs = NULL;
        *ndocs = 0;
    }
    return rc;
}

/* ---- keyword ranking --------------------------------------------------------------------- */

/* ids as a bigint[] literal, "{1,2,3}" (malloc'd; NULL when memory runs out). */
static char *id_array(const int64_t *ids, size_t n) {
    char *arr = malloc(n * 21 + 3), *d = arr;
    if (!arr)
        return NULL;
    *d++ = '{';
    for (size_t i = 0; i < n; i++)
        d += sprintf(d, "%s%" PRId64, i ? "," : "", ids[i]);
    *d++ = '}';
    *d = '\0';
    return arr;
}

/* The terms of a question, as ing_fts_query() sees them: each one a word, or the parts of
 * a word with inner punctuation (searched as a phrase). Stopwords and repeats are dropped;
 * at most ING_FTS_MAX_TERMS. The strings point into `buf` (a copy of the FTS5 query). */
static size_t question_terms(char *buf, const char **terms, size_t max) {
    /* ing_fts_query() gives "t1" OR "t2 t3" OR ...: quoted terms, "" escaping a quote. */
    size_t n = 0;
    char *w = buf;
    for (char *p = buf; *p && n < max;) {
        if (*p != '"') {
            p++;
            continue;
        }
        p++;
        char *start = w;
        while (*p) {
            if (*p == '"' && p[1] == '"') {
                *w++ = '"';
                p += 2;
            } else if (*p == '"') {
                p++;
                break;
            } else {
                *w++ = *p++;
            }
        }
        char *end = w;
        w++; /* leave room for the terminator: w never passes p */
        *end = '\0';
        if (*start)
            terms[n++] = start;
    }
    return n;
}

/*
 * Keyword ranking on PostgreSQL full text, scored with FTS5's BM25 (the keyword contract in
 * backend.h). Each term is a phraseto_tsquery('english', ...) (so X-Inngest-Signature is a
 * phrase of its parts, like FTS5), matched through the GIN index. A chunk's score sums, over
 * the terms it matches, idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avglen)): idf
 * from the term's chunk count (FTS5's formula), tf the term's occurrences in the chunk with
 * a title (A) one counting twice a text (D) one (PG_TF), len the chunk's length in bytes
 * (FTS5 counts tokens; only the ratio to avglen matters) and avglen its mean over the
 * matching chunks (the whole table's would cost a scan). ts_rank was not enough: it
 * saturates repeats after one or two, and ignores rarity.
 * The CTEs are MATERIALIZED: inlined (PostgreSQL 12+ does that to a CTE used once), each
 * term's chunk count became a subquery run again for every matching row, twice, and a
 * search over 4 000 chunks took 40 s. The chunk total comes from the documents' chunk
 * counts: counting rag_chunks read the whole table (its rows hold the int8 codes). Each
 * term's chunk count comes from the matches the ranking reads anyway (one pass over the
 * matching rows, not two); so a source filter applies after them.
 */
static int pg_keyword(struct ing_rag_backend *bb, const char *text, size_t want,
                      const int64_t *docs, size_t ndocs, struct ing_rag_scored *out,
                      size_t *nout, inngest_error *err) {
    struct pg_backend *b = (struct pg_backend *)bb;
    *nout = 0;
    char *fts = ing_fts_query(text ? text : "");
    if (!fts)
        return inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    const char *terms[ING_FTS_MAX_TERMS];
    size_t nt = question_terms(fts, terms, ING_FTS_MAX_TERMS);
    if (!nt) {
        free(fts);
        return INNGEST_OK;
    }
    /* The terms travel as one text[] literal: {"t1","t2"}, each quoted and escaped. */
    size_t cap = 16;
    for (size_t i = 0; i < nt; i++)
        cap += 2 * strlen(terms[i]) + 4;
    char *arr = malloc(cap), *docarr = NULL;
    if (!arr) {
        free(fts);
        return inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    }
    char *w = arr;
    *w++ = '{';
    for (size_t i = 0; i < nt; i++) {
        if (i)
            *w++ = ',';
        *w++ = '"';
        for (const char *s = terms[i]; *s; s++) {
            if (*s == '"' || *s == '\\')
                *w++ = '\\';
            *w++ = *s;
        }
        *w++ = '"';
    }
    *w++ = '}';
    *w = '\0';
    free(fts);
    if (docs && !(docarr = id_array(docs, ndocs))) {
        free(arr);
        return inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    }
    struct params q = {0};
    p_str(&q, arr);
    p_i64(&q, (int64_t)want);
    p_str(&q, docarr); /* NULL: no filter */
    PGconn *c;
    PGresult *r = read_query(
        b, &c,
        "WITH s AS MATERIALIZED (SELECT i, q FROM unnest($1::text[]) WITH ORDINALITY AS u(w, i)"
        "  CROSS JOIN LATERAL phraseto_tsquery('english', u.w) AS q WHERE numnode(q) > 0),"
        " n AS MATERIALIZED (SELECT greatest(coalesce(sum(chunks), 0), 1) AS total"
        "  FROM rag_documents),"
        /* One row per (chunk, term it matches), the source filter not applied yet: the
         * term's weighted frequency in the chunk and the chunk's length. */
        " m AS MATERIALIZED (SELECT s.i, c.id, c.doc_id, c.position, c.len::float8 AS dl,"
        "  " PG_TF("c.tsv", "s.q") " AS tf"
        "  FROM s JOIN rag_chunks c ON c.tsv @@ s.q),"
        /* Each term's idf from the chunks it matches (counted in m, not by a second scan). */
        " d AS MATERIALIZED (SELECT m.i, greatest(ln((n.total - count(*) + 0.5::float8) /"
        "  (count(*) + 0.5::float8)), 1e-6::float8) AS idf FROM m CROSS JOIN n"
        "  GROUP BY m.i, n.total),"
        " a AS MATERIALIZED (SELECT greatest(avg(dl), 1::float8) AS avgdl FROM m)"
        " SELECT m.id, sum(d.idf * m.tf * (" PG_BM25_K1 " + 1) / (m.tf + " PG_BM25_K1
        "  * (1 - " PG_BM25_B " + " PG_BM25_B " * m.dl / a.avgdl))) AS score, m.doc_id,"
        "  m.position"
        " FROM m JOIN d ON d.i = m.i CROSS JOIN a"
        " WHERE $3::bigint[] IS NULL OR m.doc_id = ANY($3::bigint[])"
        " GROUP BY m.id, m.doc_id, m.position ORDER BY score DESC, m.id LIMIT $2",
        &q, err, "keyword search");
    free(arr);
    free(docarr);
    if (!r)
        return failed_code(err);
    size_t n = 0;
    for (int i = 0; i < PQntuples(r) && n < want; i++) {
        /* float8, big-endian */
        const unsigned char *v = (const unsigned char *)PQgetvalue(r, i, 1);
        double score = 0;
        if (PQgetlength(r, i, 1) == 8) {
            uint64_t u = be64(v);
            memcpy(&score, &u, sizeof(score));
        }
        out[n++] = (struct ing_rag_scored){col_i64(r, i, 0), col_i64(r, i, 2),
                                           (int)col_i64(r, i, 3), score};
    }
    PQclear(r);
    pool_put(b, c);
    *nout = n;
    return INNGEST_OK;
}

/* ---- vectors ----------------------------------------------------------------------------- */

static int pg_load_codes(struct ing_rag_backend *bb, int64_t doc_id, size_t stride,
                         ing_rag_codes_fn fn, void *user, inngest_error *err) {
    struct pg_backend *b = (struct pg_backend *)bb;
    for (int attempt = 0; attempt < 2; attempt++) {
        int fresh = 0;
        PGconn *c = pool_get(b, &fresh, err);
        if (!c)
            return failed_code(err);
        struct params q = {0};
        p_i64(&q, doc_id);
        /* Row by row: 100k rows of codes would otherwise sit in memory twice. */
        int sent = PQsendQueryParams(c,
                                     "SELECT id, doc_id, scale, codes FROM rag_chunks"
                                     " WHERE $1 = 0 OR doc_id = $1",
                                     q.n, q.type, q.v, q.len, q.fmt, 1) &&
                   PQsetSingleRowMode(c);
        int rc = INNGEST_OK, rows = 0;
        if (!sent)
            rc = pg_fail(c, NULL, err, "loading vectors");
        PGresult *r;
        while (sent && (r = PQgetResult(c)) != NULL) {
            ExecStatusType st = PQresultStatus(r);
            if (st == PGRES_SINGLE_TUPLE && rc == INNGEST_OK) {
                rows++;
                if ((size_t)PQgetlength(r, 0, 3) != stride)
                    rc = inngest_error_set(err, INNGEST_EPARSE,
                                           "RAG store (PostgreSQL): chunk %" PRId64
                                           " has bad codes",
                                           col_i64(r, 0, 0));
                else
                    rc = fn(user, col_i64(r, 0, 0), col_i64(r, 0, 1),
                            (const int8_t *)PQgetvalue(r, 0, 3), col_f32(r, 0, 2));
                if (rc && err && !err->code)
                    inngest_error_set(err, rc, "RAG store: loading vectors failed");
            } else if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK && rc == INNGEST_OK) {
                rc = pg_fail(c, r, err, "loading vectors");
            }
            PQclear(r); /* drain every result, even after a failure */
        }
        int stale = rc == INNGEST_EUNAVAILABLE && !fresh && rows == 0 &&
                    PQstatus(c) != CONNECTION_OK;
        pool_put(b, c);
        if (!stale)
            return rc;
        pool_flush_idle(b);
    }
    return failed_code(err);
}

/* read_query() with one parameter: `ids` as a bigint[] ($1). NULL when it fails, with the
 * code in *rc (INNGEST_ENOMEM for the array, else read_query()'s). */
static PGresult *read_ids_query(struct pg_backend *b, PGconn **conn, const char *sql,
                                const int64_t *ids, size_t n, inngest_error *err,
                                const char *what, int *rc) {
    char *arr = id_array(ids, n);
    if (!arr) {
        *conn = NULL;
        *rc = inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
        return NULL;
    }
    struct params q = {0};
    p_str(&q, arr);
    PGresult *r = read_query(b, conn, sql, &q, err, what);
    free(arr);
    if (!r)
        *rc = failed_code(err);
    return r;
}

static int pg_load_vectors(struct ing_rag_backend *bb, const int64_t *ids, size_t n, int dim,
                           float *out, unsigned char *have, inngest_error *err) {
    struct pg_backend *b = (struct pg_backend *)bb;
    if (!n)
        return INNGEST_OK;
    PGconn *c;
    int rc;
    PGresult *r = read_ids_query(b, &c,
                                 "SELECT id, f32 FROM rag_chunks WHERE id = ANY($1::bigint[])",
                                 ids, n, err, "reading vectors to rescore", &rc);
    if (!r)
        return rc;
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t id = col_i64(r, i, 0);
        if (PQgetlength(r, i, 1) != (int)((size_t)dim * sizeof(float)))
            continue;
        /* ids are few (the rescoring candidates): a linear match is cheaper than a map. */
        for (size_t j = 0; j < n; j++)
            if (ids[j] == id && !have[j]) {
                f32_from_le(out + j * (size_t)dim, PQgetvalue(r, i, 1), (size_t)dim);
                have[j] = 1;
            }
    }
    PQclear(r);
    pool_put(b, c);
    return INNGEST_OK;
}

static int pg_doc_titles(struct ing_rag_backend *bb, const int64_t *docs, size_t n,
                         void (*fn)(void *user, size_t i, const char *title), void *user,
                         inngest_error *err) {
    struct pg_backend *b = (struct pg_backend *)bb;
    if (!n)
        return INNGEST_OK;
    PGconn *c;
    int rc;
    PGresult *r = read_ids_query(b, &c,
                                 "SELECT id, title FROM rag_documents WHERE id = ANY($1::bigint[])",
                                 docs, n, err, "reading titles", &rc);
    if (!r)
        return rc;
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t id = col_i64(r, i, 0);
        const int64_t *at = bsearch(&id, docs, n, sizeof(*docs), ing_cmp_i64);
        if (at)
            fn(user, (size_t)(at - docs), PQgetvalue(r, i, 1));
    }
    PQclear(r);
    pool_put(b, c);
    return INNGEST_OK;
}

static int pg_named_doc(struct ing_rag_backend *bb, const char *prefix, int64_t *doc,
                        int64_t *lead_chunk, char **title, inngest_error *err) {
    struct pg_backend *b = (struct pg_backend *)bb;
    *title = NULL;
    if (!*prefix)
        return INNGEST_ENOTFOUND;
    /* A LIKE pattern: the prefix with \, % and _ escaped, then %. */
    char *pattern = malloc(2 * strlen(prefix) + 2);
    if (!pattern)
        return inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    char *o = pattern;
    for (const char *p = prefix; *p; p++) {
        if (*p == '\\' || *p == '%' || *p == '_')
            *o++ = '\\';
        *o++ = *p;
    }
    strcpy(o, "%");
    struct params q = {0};
    p_str(&q, pattern);
    p_str(&q, prefix);
    PGconn *c;
    PGresult *r = read_query(b, &c,
                             "SELECT d.id, c.id, d.title FROM rag_documents d JOIN rag_chunks c"
                             " ON c.doc_id = d.id AND c.position = 0"
                             " WHERE d.key LIKE $1"
                             " AND position('/' in substr(d.key, length($2) + 1)) = 0"
                             " ORDER BY d.key COLLATE \"C\" LIMIT 1",
                             &q, err, "looking up a named page");
    free(pattern);
    if (!r)
        return failed_code(err);
    int rc = INNGEST_ENOTFOUND;
    if (PQntuples(r)) {
        *doc = col_i64(r, 0, 0);
        *lead_chunk = col_i64(r, 0, 1);
        *title = strdup(PQgetvalue(r, 0, 2));
        rc = *title ? INNGEST_OK : inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    }
    PQclear(r);
    pool_put(b, c);
    return rc;
}

static int pg_read_chunk(struct ing_rag_backend *bb, int64_t id, inngest_rag_hit *h,
                         inngest_error *err) {
    struct pg_backend *b = (struct pg_backend *)bb;
    struct params q = {0};
    p_i64(&q, id);
    PGconn *c;
    PGresult *r = read_query(b, &c,
                             "SELECT c.position, c.text, d.key, d.source, d.title FROM rag_chunks c"
                             " JOIN rag_documents d ON d.id = c.doc_id WHERE c.id = $1",
                             &q, err, "reading results");
    if (!r)
        return failed_code(err);
    int rc = INNGEST_OK;
    if (!PQntuples(r)) {
        rc = inngest_error_set(err, INNGEST_ENOTFOUND, "chunk %" PRId64 " is gone", id);
    } else {
        h->position = (int)col_i64(r, 0, 0);
        /* Every column is NOT NULL: libpq gives "" at worst. */
        h->text = strdup(PQgetvalue(r, 0, 1));
        h->doc_key = strdup(PQgetvalue(r, 0, 2));
        h->source = strdup(PQgetvalue(r, 0, 3));
        h->title = strdup(PQgetvalue(r, 0, 4));
        if (!h->text || !h->doc_key || !h->source || !h->title)
            rc = inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    }
    PQclear(r);
    pool_put(b, c);
    return rc;
}

/* ---- the listener ------------------------------------------------------------------------ */

static int listen_on(PGconn *c) {
    PGresult *r = PQexec(c, "LISTEN " PG_CHANNEL "; LISTEN " PG_MSG_CHANNEL);
    int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok ? 0 : -1;
}

/* Waits up to `ms` for the stop byte; non-zero when stopping. */
static int wait_stop(struct pg_backend *b, int ms) {
    struct pollfd p = {.fd = b->wake[0], .events = POLLIN};
    poll(&p, 1, ms);
    return __atomic_load_n(&b->stopping, __ATOMIC_ACQUIRE);
}

static void handle_notify(struct pg_backend *b, const PGnotify *n) {
    char inst[17];
    long long old_doc, new_doc;
    size_t il = strlen(b->instance), len = strlen(n->extra);
    if (!strcmp(n->relname, PG_MSG_CHANNEL)) {
        /* "<instance> <message>"; our own messages are not for us. */
        if (len > il + 1 && n->extra[il] == ' ' && strncmp(n->extra, b->instance, il))
            ing_rag_store_deliver(b->base.store, n->extra + il + 1, len - il - 1);
        return;
    }
    if (strcmp(n->relname, PG_CHANNEL) ||
        sscanf(n->extra, "%16s %lld %lld", inst, &old_doc, &new_doc) != 3)
        return;
    if (!strcmp(inst, b->instance))
        return; /* our own change: already applied after its commit */
    inngest_error e;
    inngest_error_clear(&e);
    if (ing_rag_store_apply_change(b->base.store, (int64_t)old_doc, (int64_t)new_doc, &e))
        fprintf(stderr, "inngest-rag: applying a change from another replica: %s\n", e.message);
}

static void *listener_main(void *arg) {
    struct pg_backend *b = arg;
    PGconn *c = b->listen_conn;
    int backoff = PG_BACKOFF_MIN_MS;
    while (!__atomic_load_n(&b->stopping, __ATOMIC_ACQUIRE)) {
        if (!c) {
            if (wait_stop(b, backoff))
                break;
            backoff = backoff * 2 > PG_BACKOFF_MAX_MS ? PG_BACKOFF_MAX_MS : backoff * 2;
            c = pg_connect(b, NULL);
            if (!c)
                continue;
            if (listen_on(c)) {
                PQfinish(c);
                c = NULL;
                continue;
            }
            /* Notifications sent while we were away are lost: rebuild the whole index. */
            inngest_error e;
            inngest_error_clear(&e);
            if (ing_rag_store_reload(b->base.store, &e)) {
                fprintf(stderr, "inngest-rag: reloading the index after a reconnect: %s\n",
                        e.message);
                PQfinish(c);
                c = NULL;
                continue;
            }
            backoff = PG_BACKOFF_MIN_MS;
        }
        struct pollfd p[2] = {{.fd = PQsocket(c), .events = POLLIN},
                              {.fd = b->wake[0], .events = POLLIN}};
        if (p[0].fd < 0 || (poll(p, 2, -1) < 0 && errno != EINTR)) {
            PQfinish(c);
            c = NULL;
            continue;
        }
        if (p[1].revents)
            break;
        if (!PQconsumeInput(c) || PQstatus(c) != CONNECTION_OK) {
            PQfinish(c);
            c = NULL;
            continue;
        }
        PGnotify *n;
        while ((n = PQnotifies(c)) != NULL) {
            handle_notify(b, n);
            PQfreemem(n);
        }
    }
    if (c)
        PQfinish(c);
    return NULL;
}

/* NOTIFY on the message channel (ing_rag_backend_ops.publish). A pooled connection gone
 * stale is replaced once, as for reads: a NOTIFY that failed was not sent. */
static int pg_publish(struct ing_rag_backend *bb, const char *msg, size_t len,
                      inngest_error *err) {
    struct pg_backend *b = (struct pg_backend *)bb;
    size_t il = strlen(b->instance);
    char *payload = malloc(il + 1 + len);
    if (!payload)
        return inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    memcpy(payload, b->instance, il);
    payload[il] = ' ';
    memcpy(payload + il + 1, msg, len);
    int rc = INNGEST_OK;
    for (int attempt = 0; attempt < 2; attempt++) {
        int fresh;
        PGconn *c = pool_get(b, &fresh, err);
        if (!c) {
            rc = failed_code(err);
            break;
        }
        struct params p = {0};
        p_text(&p, payload, il + 1 + len);
        PGresult *r = run(c, "SELECT pg_notify('" PG_MSG_CHANNEL "', $1)", &p, err,
                          "publishing a message");
        int sent = r != NULL, stale = !r && !fresh && PQstatus(c) != CONNECTION_OK;
        PQclear(r);
        pool_put(b, c);
        rc = sent ? INNGEST_OK : failed_code(err);
        if (!stale)
            break;
        pool_flush_idle(b);
    }
    free(payload);
    return rc;
}

static int pg_attach(struct ing_rag_backend *bb, inngest_error *err) {
    struct pg_backend *b = (struct pg_backend *)bb;
    if (pthread_create(&b->thread, NULL, listener_main, b) != 0)
        return inngest_error_set(err, INNGEST_EINTERNAL,
                                 "RAG store (PostgreSQL): cannot start the listener thread");
    b->thread_started = 1;
    return INNGEST_OK;
}

static void pg_close(struct ing_rag_backend *bb) {
    struct pg_backend *b = (struct pg_backend *)bb;
    if (!b)
        return;
    if (b->thread_started) {
        __atomic_store_n(&b->stopping, 1, __ATOMIC_RELEASE);
        ssize_t w;
        do
            w = write(b->wake[1], "x", 1);
        while (w < 0 && errno == EINTR);
        pthread_join(b->thread, NULL);
    } else if (b->listen_conn) {
        PQfinish(b->listen_conn);
    }
    for (size_t i = 0; i < b->nidle; i++)
        PQfinish(b->idle[i]);
    free(b->idle);
    if (b->wake[0] >= 0)
        close(b->wake[0]);
    if (b->wake[1] >= 0)
        close(b->wake[1]);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->migrate_mu);
    free(b->url);
    free(b);
}

static const struct ing_rag_backend_ops pg_ops = {
    .name = "postgresql",
    .binding = pg_binding,
    .counts = pg_counts,
    .put = pg_put,
    .remove = pg_remove,
    .doc_hash = pg_doc_hash,
    .list = pg_list,
    .stage = pg_stage,
    .load_staged = pg_load_staged,
    .filter = pg_filter,
    .keyword = pg_keyword,
    .count_vectors = pg_count_vectors,
    .load_codes = pg_load_codes,
    .load_vectors = pg_load_vectors,
    .doc_titles = pg_doc_titles,
    .named_doc = pg_named_doc,
    .read_chunk = pg_read_chunk,
    /* Every read takes a connection of its own from the pool. */
    .concurrent_reads = 1,
    .attach = pg_attach,
    .publish = pg_publish,
    .close = pg_close,
};

int ing_rag_pg_open(const char *url, int pool_size, int lazy, struct ing_rag_backend **out,
                    inngest_error *err) {
    *out = NULL;
    if (pool_size <= 0)
        pool_size = PG_DEFAULT_POOL;
    if (pool_size > PG_MAX_POOL)
        return inngest_error_set(err, INNGEST_ECONFIG,
                                 "RAG_STORE_POOL_SIZE must be 1 to %d (got %d)", PG_MAX_POOL,
                                 pool_size);
    struct pg_backend *b = calloc(1, sizeof(*b));
    if (!b)
        return inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    b->base.ops = &pg_ops;
    b->wake[0] = b->wake[1] = -1;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    pthread_mutex_init(&b->migrate_mu, NULL);
    b->max = (size_t)pool_size;
    b->url = strdup(url);
    b->idle = calloc(b->max, sizeof(*b->idle));
    if (!b->url || !b->idle || pipe(b->wake) != 0) {
        pg_close(&b->base);
        return inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    }
    /* A random instance id, so the listener can tell its own notifications apart. */
    uint64_t r = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)b;
    FILE *f = fopen("/dev/urandom", "rb");
    if (f) {
        uint64_t x;
        if (fread(&x, sizeof(x), 1, f) == 1)
            r ^= x;
        fclose(f);
    }
    snprintf(b->instance, sizeof(b->instance), "%016" PRIx64, r);

    /* The first connection migrates the schema. */
    int fresh;
    PGconn *c = pool_get(b, &fresh, err);
    int rc = c ? INNGEST_OK : failed_code(err);
    pool_put(b, c);
    /* Listen before the store loads its index, so no change between the load and the
     * LISTEN is missed (one already loaded is applied twice, which changes nothing). */
    if (!rc) {
        b->listen_conn = pg_connect(b, err);
        if (!b->listen_conn)
            rc = failed_code(err);
        else if (listen_on(b->listen_conn))
            rc = pg_fail(b->listen_conn, NULL, err, "listening for changes");
    }
    if (rc == INNGEST_EUNAVAILABLE && lazy) {
        /* The listener connects (and the pool migrates) once the server answers. */
        if (b->listen_conn)
            PQfinish(b->listen_conn);
        b->listen_conn = NULL;
        rc = INNGEST_OK;
        if (err)
            inngest_error_clear(err);
    }
    if (rc) {
        pg_close(&b->base);
        return rc;
    }
    *out = &b->base;
    return INNGEST_OK;
}
