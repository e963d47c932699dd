/* SPDX-License-Identifier: MIT */
/*
 * The RAG store: SQLite (WAL) for durability, an in-memory int8 index for speed.
 *
 * Schema (one file):
 *   meta(key, value)              schema version, embedder id, dimension
 *   documents(id, key, source, title, content_hash, bytes, chunks, metadata, updated_at)
 *   chunks(id, doc_id, position, start, len, text)
 *   codes(chunk_id, doc_id, scale, codes)   int8 codes, loaded into memory on open
 *   vectors(chunk_id, f32)                  unit float32 vectors, read to rescore
 *   chunks_fts(title, text)                 FTS5, rowid = chunk id, BM25
 *   staged(key, hash, position, f32)        vectors of documents being ingested in steps
 *
 * Every write is one transaction, and the in-memory index changes only after COMMIT
 * returned, under the same lock, so memory never shows what the disk may not have.
 * Locks: `db_mu` serialises the SQLite connection; `ix_mu` (rwlock) lets searches scan in
 * parallel while writers wait.
 */
#include "fmacros.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ai/ai_internal.h"
#include "inngest/rag.h"
#include "rag/rag_internal.h"

#define SCHEMA_VERSION 1
#define DEFAULT_K 5

struct inngest_rag_store {
    sqlite3 *db;
    pthread_mutex_t db_mu;
    pthread_rwlock_t ix_mu;
    struct ing_vindex ix; /* dim 0 while unbound */
    char embedder_id[128];
    int dim;
    int threads;
    int rescore;
    const char *kernel;
    ing_dot_f32_fn dotf;
};

static int db_error(inngest_rag_store *s, inngest_error *err, const char *what) {
    return inngest_error_set(err, INNGEST_EIO, "RAG store: %s: %s", what, sqlite3_errmsg(s->db));
}

static int exec(inngest_rag_store *s, const char *sql, inngest_error *err) {
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = inngest_error_set(err, INNGEST_EIO, "RAG store: %s", msg ? msg : "error");
        sqlite3_free(msg);
        return rc;
    }
    return INNGEST_OK;
}

static sqlite3_stmt *prep(inngest_rag_store *s, const char *sql) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return NULL;
    return st;
}

void inngest_rag_content_hash(const char *text, size_t len, char out[17]) {
    uint64_t h = ing_fnv1a64(text, len, ING_FNV_OFFSET);
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static const char *schema_sql =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS documents(id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE,"
    " source TEXT NOT NULL, title TEXT NOT NULL, content_hash TEXT NOT NULL,"
    " bytes INTEGER NOT NULL, chunks INTEGER NOT NULL, metadata TEXT,"
    " updated_at INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS documents_source ON documents(source);"
    "CREATE TABLE IF NOT EXISTS chunks(id INTEGER PRIMARY KEY, doc_id INTEGER NOT NULL,"
    " position INTEGER NOT NULL, start INTEGER NOT NULL, len INTEGER NOT NULL,"
    " text TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);"
    "CREATE TABLE IF NOT EXISTS codes(chunk_id INTEGER PRIMARY KEY, doc_id INTEGER NOT NULL,"
    " scale REAL NOT NULL, codes BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS vectors(chunk_id INTEGER PRIMARY KEY, f32 BLOB NOT NULL);"
    "CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(title, text,"
    " tokenize='porter unicode61');"
    "CREATE TABLE IF NOT EXISTS staged(key TEXT NOT NULL, hash TEXT NOT NULL,"
    " position INTEGER NOT NULL, f32 BLOB NOT NULL, PRIMARY KEY(key, hash, position))"
    " WITHOUT ROWID;"
    "INSERT OR IGNORE INTO meta(key, value) VALUES('schema', '1');";

static int load_meta(inngest_rag_store *s, inngest_error *err) {
    sqlite3_stmt *st = prep(s, "SELECT key, value FROM meta");
    if (!st)
        return db_error(s, err, "reading meta");
    int schema = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        const char *v = (const char *)sqlite3_column_text(st, 1);
        if (!k || !v)
            continue;
        if (!strcmp(k, "schema"))
            schema = atoi(v);
        else if (!strcmp(k, "embedder"))
            snprintf(s->embedder_id, sizeof(s->embedder_id), "%s", v);
        else if (!strcmp(k, "dim"))
            s->dim = atoi(v);
    }
    sqlite3_finalize(st);
    /* The file is outside input: a dimension beyond what any embedder gives (the client
     * accepts at most 65536) would size the index from garbage. */
    if (s->dim < 0 || s->dim > 65536)
        return inngest_error_set(err, INNGEST_EPARSE,
                                 "RAG store: the dimension %d in its meta table is not valid",
                                 s->dim);
    if (schema < 1 || schema > SCHEMA_VERSION)
        return inngest_error_set(err, INNGEST_EMISMATCH,
                                 "RAG store: schema version %d is not supported (this build "
                                 "reads %d)",
                                 schema, SCHEMA_VERSION);
    return INNGEST_OK;
}

static int load_index(inngest_rag_store *s, inngest_error *err) {
    if (!s->dim)
        return INNGEST_OK;
    ing_vindex_init(&s->ix, s->dim);
    sqlite3_stmt *cnt = prep(s, "SELECT count(*) FROM codes");
    if (!cnt)
        return db_error(s, err, "counting vectors");
    size_t n = sqlite3_step(cnt) == SQLITE_ROW ? (size_t)sqlite3_column_int64(cnt, 0) : 0;
    sqlite3_finalize(cnt);
    if (n && ing_vindex_reserve(&s->ix, n))
        return inngest_error_set(err, INNGEST_ENOMEM, "RAG store: no memory for %zu vectors", n);
    sqlite3_stmt *st = prep(s, "SELECT chunk_id, doc_id, scale, codes FROM codes");
    if (!st)
        return db_error(s, err, "loading vectors");
    int rc = INNGEST_OK, step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const void *codes = sqlite3_column_blob(st, 3);
        if ((size_t)sqlite3_column_bytes(st, 3) != s->ix.stride || !codes) {
            rc = inngest_error_set(err, INNGEST_EPARSE, "RAG store: chunk %lld has bad codes",
                                   (long long)sqlite3_column_int64(st, 0));
            break;
        }
        if (ing_vindex_add_codes(&s->ix, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
                                 codes, (float)sqlite3_column_double(st, 2))) {
            rc = inngest_error_set(err, INNGEST_ENOMEM, "RAG store: out of memory");
            break;
        }
    }
    if (rc == INNGEST_OK && step != SQLITE_DONE)
        rc = db_error(s, err, "loading vectors");
    sqlite3_finalize(st);
    return rc;
}

void inngest_rag_store_close(inngest_rag_store *s) {
    if (!s)
        return;
    if (s->db)
        sqlite3_close(s->db);
    ing_vindex_cleanup(&s->ix);
    pthread_mutex_destroy(&s->db_mu);
    pthread_rwlock_destroy(&s->ix_mu);
    free(s);
}

inngest_rag_store *inngest_rag_store_open(const char *path, const inngest_rag_store_opts *opts,
                                          inngest_error *err) {
    inngest_rag_store *s = calloc(1, sizeof(*s));
    if (!s) {
        inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->db_mu, NULL);
    pthread_rwlock_init(&s->ix_mu, NULL);
    s->threads = opts && opts->threads > 0 ? opts->threads : 0;
    if (!s->threads) {
        const char *t = getenv("INNGEST_RAG_THREADS");
        s->threads = t && atoi(t) > 0 ? atoi(t) : (int)sysconf(_SC_NPROCESSORS_ONLN);
        if (s->threads < 1)
            s->threads = 1;
    }
    s->rescore = opts ? opts->rescore : 0;
    ing_kernel_dot_i8(&s->kernel);
    s->dotf = ing_kernel_dot_f32();
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        inngest_error_set(err, INNGEST_EIO, "RAG store: cannot open %s: %s", path,
                          s->db ? sqlite3_errmsg(s->db) : "out of memory");
        inngest_rag_store_close(s);
        return NULL;
    }
    sqlite3_busy_timeout(s->db, 10000);
    /* WAL: readers never block the writer, and a commit is one append (plus an fsync with
     * synchronous=FULL). A crash leaves the WAL to be replayed on the next open. */
    sqlite3_stmt *st = prep(s, "PRAGMA journal_mode=WAL");
    int wal = st && sqlite3_step(st) == SQLITE_ROW &&
              !strcmp((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    if (!wal) {
        inngest_error_set(err, INNGEST_EIO, "RAG store: %s cannot use WAL mode: %s", path,
                          sqlite3_errmsg(s->db));
        inngest_rag_store_close(s);
        return NULL;
    }
    int rc = exec(s, opts && opts->fast_sync ? "PRAGMA synchronous=NORMAL"
                                             : "PRAGMA synchronous=FULL", err);
    if (!rc)
        rc = exec(s, "BEGIN IMMEDIATE", err);
    if (!rc) {
        rc = exec(s, schema_sql, err);
        rc = rc ? (exec(s, "ROLLBACK", NULL), rc) : exec(s, "COMMIT", err);
    }
    if (!rc)
        rc = load_meta(s, err);
    if (!rc)
        rc = load_index(s, err);
    if (rc) {
        inngest_rag_store_close(s);
        return NULL;
    }
    return s;
}

void inngest_rag_store_get_info(inngest_rag_store *s, inngest_rag_store_info *out) {
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&s->db_mu);
    snprintf(out->embedder_id, sizeof(out->embedder_id), "%s", s->embedder_id);
    out->dim = s->dim;
    sqlite3_stmt *st = prep(s, "SELECT (SELECT count(*) FROM documents),"
                               " (SELECT count(*) FROM chunks)");
    if (st && sqlite3_step(st) == SQLITE_ROW) {
        out->documents = (size_t)sqlite3_column_int64(st, 0);
        out->chunks = (size_t)sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->db_mu);
    out->kernel = s->kernel;
}

/* Caller holds db_mu. */
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
    pthread_mutex_lock(&s->db_mu);
    int rc = check_locked(s, embedder_id, dim, err);
    pthread_mutex_unlock(&s->db_mu);
    return rc;
}

/* Binds text that may hold invalid UTF-8 (it is repaired first). */
static int bind_text(sqlite3_stmt *st, int i, const char *t, size_t len) {
    if (!t)
        return sqlite3_bind_null(st, i);
    if (ing_utf8_valid(t, len))
        return sqlite3_bind_text(st, i, t, (int)len, SQLITE_TRANSIENT);
    size_t n;
    char *clean = ing_utf8_sanitize(t, len, &n);
    if (!clean)
        return SQLITE_NOMEM;
    return sqlite3_bind_text(st, i, clean, (int)n, free);
}

/* Deletes a document's rows; collects its chunk ids into *ids. Caller holds db_mu and a
 * transaction. Returns 1 when a document was found, 0 when not, -1 on error. */
static int delete_rows(inngest_rag_store *s, const char *key, int64_t **ids, size_t *nids) {
    *ids = NULL;
    *nids = 0;
    sqlite3_stmt *st = prep(s, "SELECT id FROM documents WHERE key = ?");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    int64_t doc = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (step != SQLITE_ROW)
        return step == SQLITE_DONE ? 0 : -1;
    st = prep(s, "SELECT id FROM chunks WHERE doc_id = ?");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, doc);
    size_t cap = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (*nids == cap) {
            cap = cap ? cap * 2 : 64;
            int64_t *n = realloc(*ids, cap * sizeof(*n));
            if (!n) {
                step = SQLITE_NOMEM;
                break;
            }
            *ids = n;
        }
        (*ids)[(*nids)++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    if (step != SQLITE_DONE)
        return -1;
    static const char *const dels[] = {
        "DELETE FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks WHERE doc_id = ?1)",
        "DELETE FROM vectors WHERE chunk_id IN (SELECT id FROM chunks WHERE doc_id = ?1)",
        "DELETE FROM codes WHERE doc_id = ?1", "DELETE FROM chunks WHERE doc_id = ?1",
        "DELETE FROM documents WHERE id = ?1"};
    for (size_t i = 0; i < sizeof(dels) / sizeof(dels[0]); i++) {
        st = prep(s, dels[i]);
        if (!st)
            return -1;
        sqlite3_bind_int64(st, 1, doc);
        step = sqlite3_step(st);
        sqlite3_finalize(st);
        if (step != SQLITE_DONE)
            return -1;
    }
    return 1;
}

void inngest_rag_derive_title(const char *text, size_t len, const char *source, char *out,
                              size_t size) {
    out[0] = '\0';
    size_t i = 0;
    /* The first Markdown ATX heading within the first lines. */
    for (int line = 0; i < len && line < 40; line++) {
        size_t e = i;
        while (e < len && text[e] != '\n')
            e++;
        if (text[i] == '#') {
            size_t b = i;
            while (b < e && text[b] == '#')
                b++;
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

int inngest_rag_store_put(inngest_rag_store *s, const inngest_rag_document *doc,
                          const inngest_rag_chunk *chunks, size_t count, const float *vectors,
                          const char *embedder_id, int dim, int *status_out, inngest_error *err) {
    if (!doc || !doc->source || !*doc->source || !doc->text)
        return inngest_error_set(err, INNGEST_EINVAL, "a document needs a source and a text");
    if (count && (!chunks || !vectors))
        return inngest_error_set(err, INNGEST_EINVAL, "chunks need vectors");
    const char *key = doc->key && *doc->key ? doc->key : doc->source;
    size_t tlen = doc->text_len ? doc->text_len : strlen(doc->text);
    for (size_t i = 0; i < count; i++)
        if (chunks[i].offset + chunks[i].len > tlen)
            return inngest_error_set(err, INNGEST_EINVAL, "chunk %zu is outside the text", i);
    if (!embedder_id || !*embedder_id || dim <= 0)
        return inngest_error_set(err, INNGEST_EINVAL, "an embedder id and dimension are needed");

    /* The expensive part, outside the lock: normalise and quantise every vector. */
    size_t stride = ing_stride(dim);
    float *unit = malloc((count ? count : 1) * (size_t)dim * sizeof(float));
    int8_t *codes = malloc((count ? count : 1) * stride);
    float *scales = malloc((count ? count : 1) * sizeof(float));
    int64_t *new_ids = malloc((count ? count : 1) * sizeof(int64_t));
    int64_t *old_ids = NULL;
    size_t nold = 0;
    if (!unit || !codes || !scales || !new_ids) {
        free(unit);
        free(codes);
        free(scales);
        free(new_ids);
        return inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    }
    if (count)
        memcpy(unit, vectors, count * (size_t)dim * sizeof(float));
    for (size_t i = 0; i < count; i++) {
        float *v = unit + i * (size_t)dim;
        for (int j = 0; j < dim; j++)
            if (!isfinite(v[j]))
                v[j] = 0;
        ing_l2_normalize(v, dim);
        ing_quantize(v, dim, stride, codes + i * stride, &scales[i]);
    }
    char title[512], hash[17];
    if (doc->title && *doc->title)
        snprintf(title, sizeof(title), "%s", doc->title);
    else
        inngest_rag_derive_title(doc->text, tlen, doc->source, title, sizeof(title));
    inngest_rag_content_hash(doc->text, tlen, hash);

    pthread_mutex_lock(&s->db_mu);
    int rc = check_locked(s, embedder_id, dim, err);
    int bind_now = rc == INNGEST_OK && !s->dim;
    int found = 0;
    int64_t doc_id = 0;
    sqlite3_stmt *ins_chunk = NULL, *ins_code = NULL, *ins_vec = NULL, *ins_fts = NULL;
    if (rc)
        goto unlock;
    if ((rc = exec(s, "BEGIN IMMEDIATE", err)))
        goto unlock;
    if (bind_now) {
        sqlite3_stmt *m = prep(s, "INSERT OR REPLACE INTO meta(key, value) VALUES"
                                  " ('embedder', ?1), ('dim', ?2)");
        int ok = m && sqlite3_bind_text(m, 1, embedder_id, -1, SQLITE_STATIC) == SQLITE_OK &&
                 sqlite3_bind_int(m, 2, dim) == SQLITE_OK && sqlite3_step(m) == SQLITE_DONE;
        sqlite3_finalize(m);
        if (!ok) {
            rc = db_error(s, err, "binding the embedder");
            goto rollback;
        }
    }
    found = delete_rows(s, key, &old_ids, &nold);
    if (found < 0) {
        rc = db_error(s, err, "replacing the document");
        goto rollback;
    }
    {
        sqlite3_stmt *d = prep(s, "INSERT INTO documents(key, source, title, content_hash, bytes,"
                                  " chunks, metadata, updated_at) VALUES(?,?,?,?,?,?,?,?)");
        int ok = d != NULL;
        ok = ok && sqlite3_bind_text(d, 1, key, -1, SQLITE_STATIC) == SQLITE_OK;
        ok = ok && sqlite3_bind_text(d, 2, doc->source, -1, SQLITE_STATIC) == SQLITE_OK;
        ok = ok && bind_text(d, 3, title, strlen(title)) == SQLITE_OK;
        ok = ok && sqlite3_bind_text(d, 4, hash, -1, SQLITE_STATIC) == SQLITE_OK;
        ok = ok && sqlite3_bind_int64(d, 5, (sqlite3_int64)tlen) == SQLITE_OK;
        ok = ok && sqlite3_bind_int64(d, 6, (sqlite3_int64)count) == SQLITE_OK;
        ok = ok && (doc->metadata ? sqlite3_bind_text(d, 7, doc->metadata, -1, SQLITE_STATIC)
                                  : sqlite3_bind_null(d, 7)) == SQLITE_OK;
        ok = ok && sqlite3_bind_int64(d, 8, (sqlite3_int64)time(NULL)) == SQLITE_OK;
        ok = ok && sqlite3_step(d) == SQLITE_DONE;
        sqlite3_finalize(d);
        if (!ok) {
            rc = db_error(s, err, "inserting the document");
            goto rollback;
        }
        doc_id = sqlite3_last_insert_rowid(s->db);
    }
    ins_chunk = prep(s, "INSERT INTO chunks(doc_id, position, start, len, text)"
                        " VALUES(?,?,?,?,?)");
    ins_code = prep(s, "INSERT INTO codes(chunk_id, doc_id, scale, codes) VALUES(?,?,?,?)");
    ins_vec = prep(s, "INSERT INTO vectors(chunk_id, f32) VALUES(?,?)");
    ins_fts = prep(s, "INSERT INTO chunks_fts(rowid, title, text) VALUES(?,?,?)");
    if (!ins_chunk || !ins_code || !ins_vec || !ins_fts) {
        rc = db_error(s, err, "preparing inserts");
        goto rollback;
    }
    for (size_t i = 0; i < count; i++) {
        const char *t = doc->text + chunks[i].offset;
        int ok = sqlite3_bind_int64(ins_chunk, 1, doc_id) == SQLITE_OK &&
                 sqlite3_bind_int64(ins_chunk, 2, (sqlite3_int64)i) == SQLITE_OK &&
                 sqlite3_bind_int64(ins_chunk, 3, (sqlite3_int64)chunks[i].offset) == SQLITE_OK &&
                 sqlite3_bind_int64(ins_chunk, 4, (sqlite3_int64)chunks[i].len) == SQLITE_OK &&
                 bind_text(ins_chunk, 5, t, chunks[i].len) == SQLITE_OK &&
                 sqlite3_step(ins_chunk) == SQLITE_DONE;
        sqlite3_reset(ins_chunk);
        int64_t cid = sqlite3_last_insert_rowid(s->db);
        new_ids[i] = cid;
        ok = ok && sqlite3_bind_int64(ins_code, 1, cid) == SQLITE_OK &&
             sqlite3_bind_int64(ins_code, 2, doc_id) == SQLITE_OK &&
             sqlite3_bind_double(ins_code, 3, scales[i]) == SQLITE_OK &&
             sqlite3_bind_blob(ins_code, 4, codes + i * stride, (int)stride, SQLITE_STATIC) ==
                 SQLITE_OK &&
             sqlite3_step(ins_code) == SQLITE_DONE;
        sqlite3_reset(ins_code);
        ok = ok && sqlite3_bind_int64(ins_vec, 1, cid) == SQLITE_OK &&
             sqlite3_bind_blob(ins_vec, 2, unit + i * (size_t)dim, (int)(dim * sizeof(float)),
                               SQLITE_STATIC) == SQLITE_OK &&
             sqlite3_step(ins_vec) == SQLITE_DONE;
        sqlite3_reset(ins_vec);
        ok = ok && sqlite3_bind_int64(ins_fts, 1, cid) == SQLITE_OK &&
             bind_text(ins_fts, 2, title, strlen(title)) == SQLITE_OK &&
             bind_text(ins_fts, 3, t, chunks[i].len) == SQLITE_OK &&
             sqlite3_step(ins_fts) == SQLITE_DONE;
        sqlite3_reset(ins_fts);
        if (!ok) {
            rc = db_error(s, err, "inserting chunks");
            goto rollback;
        }
    }
    {
        sqlite3_stmt *d = prep(s, "DELETE FROM staged WHERE key = ?");
        int ok = d && sqlite3_bind_text(d, 1, key, -1, SQLITE_STATIC) == SQLITE_OK &&
                 sqlite3_step(d) == SQLITE_DONE;
        sqlite3_finalize(d);
        if (!ok) {
            rc = db_error(s, err, "clearing staged vectors");
            goto rollback;
        }
    }
    if ((rc = exec(s, "COMMIT", err)))
        goto rollback;

    /* Durable now: mirror the change in memory. */
    pthread_rwlock_wrlock(&s->ix_mu);
    if (bind_now) {
        snprintf(s->embedder_id, sizeof(s->embedder_id), "%s", embedder_id);
        s->dim = dim;
        ing_vindex_init(&s->ix, dim);
    }
    for (size_t i = 0; i < nold; i++)
        ing_vindex_remove(&s->ix, old_ids[i]);
    for (size_t i = 0; i < count && rc == INNGEST_OK; i++)
        if (ing_vindex_add_codes(&s->ix, new_ids[i], doc_id, codes + i * stride, scales[i]))
            rc = inngest_error_set(err, INNGEST_ENOMEM,
                                   "out of memory indexing the document (it is stored; reopen "
                                   "the store to index it)");
    pthread_rwlock_unlock(&s->ix_mu);
    if (status_out)
        *status_out = found ? INNGEST_RAG_REPLACED : INNGEST_RAG_ADDED;
    goto unlock;
rollback:
    exec(s, "ROLLBACK", NULL);
unlock:
    sqlite3_finalize(ins_chunk);
    sqlite3_finalize(ins_code);
    sqlite3_finalize(ins_vec);
    sqlite3_finalize(ins_fts);
    pthread_mutex_unlock(&s->db_mu);
    free(unit);
    free(codes);
    free(scales);
    free(new_ids);
    free(old_ids);
    return rc;
}

int inngest_rag_store_delete(inngest_rag_store *s, const char *key, inngest_error *err) {
    if (!key || !*key)
        return inngest_error_set(err, INNGEST_EINVAL, "a document key is needed");
    int64_t *ids = NULL;
    size_t n = 0;
    pthread_mutex_lock(&s->db_mu);
    int rc = exec(s, "BEGIN IMMEDIATE", err);
    if (!rc) {
        int found = delete_rows(s, key, &ids, &n);
        if (found < 0)
            rc = db_error(s, err, "deleting the document");
        else if (!found)
            rc = inngest_error_set(err, INNGEST_ENOTFOUND, "no document with key \"%s\"", key);
        rc = rc ? (exec(s, "ROLLBACK", NULL), rc) : exec(s, "COMMIT", err);
        if (rc)
            exec(s, "ROLLBACK", NULL);
    }
    if (!rc) {
        pthread_rwlock_wrlock(&s->ix_mu);
        for (size_t i = 0; i < n; i++)
            ing_vindex_remove(&s->ix, ids[i]);
        pthread_rwlock_unlock(&s->ix_mu);
    }
    pthread_mutex_unlock(&s->db_mu);
    free(ids);
    return rc;
}

int inngest_rag_store_doc_hash(inngest_rag_store *s, const char *key, char out[17]) {
    pthread_mutex_lock(&s->db_mu);
    sqlite3_stmt *st = prep(s, "SELECT content_hash FROM documents WHERE key = ?");
    int rc = INNGEST_ENOTFOUND;
    if (st && sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        snprintf(out, 17, "%s", (const char *)sqlite3_column_text(st, 0));
        rc = INNGEST_OK;
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->db_mu);
    return rc;
}

json_t *inngest_rag_store_list(inngest_rag_store *s, inngest_error *err) {
    json_t *arr = json_array();
    pthread_mutex_lock(&s->db_mu);
    sqlite3_stmt *st = prep(s, "SELECT key, source, title, chunks, bytes, content_hash,"
                               " updated_at, metadata FROM documents ORDER BY key");
    int step = SQLITE_ERROR;
    while (st && arr && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *meta = (const char *)sqlite3_column_text(st, 7);
        json_t *m = meta ? json_loads(meta, JSON_DECODE_ANY, NULL) : NULL;
        json_t *o = json_pack("{s:s,s:s,s:s,s:I,s:I,s:s,s:I,s:o}", "key",
                              (const char *)sqlite3_column_text(st, 0), "source",
                              (const char *)sqlite3_column_text(st, 1), "title",
                              (const char *)sqlite3_column_text(st, 2), "chunks",
                              (json_int_t)sqlite3_column_int64(st, 3), "bytes",
                              (json_int_t)sqlite3_column_int64(st, 4), "hash",
                              (const char *)sqlite3_column_text(st, 5), "updatedAt",
                              (json_int_t)sqlite3_column_int64(st, 6), "metadata",
                              m ? m : json_null());
        if (!o || json_array_append_new(arr, o)) {
            step = SQLITE_NOMEM;
            break;
        }
    }
    if (step != SQLITE_DONE) {
        db_error(s, err, "listing documents");
        json_decref(arr);
        arr = NULL;
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->db_mu);
    return arr;
}

/* ---- staging ---------------------------------------------------------------------------- */

int inngest_rag_store_stage(inngest_rag_store *s, const char *key, const char *hash,
                            size_t first, size_t count, const float *vectors,
                            const char *embedder_id, int dim, inngest_error *err) {
    pthread_mutex_lock(&s->db_mu);
    int rc = check_locked(s, embedder_id, dim, err);
    if (!rc)
        rc = exec(s, "BEGIN IMMEDIATE", err);
    if (!rc) {
        sqlite3_stmt *st = prep(s, "INSERT OR REPLACE INTO staged(key, hash, position, f32)"
                                   " VALUES(?,?,?,?)");
        for (size_t i = 0; st && i < count && !rc; i++) {
            int ok = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) == SQLITE_OK &&
                     sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC) == SQLITE_OK &&
                     sqlite3_bind_int64(st, 3, (sqlite3_int64)(first + i)) == SQLITE_OK &&
                     sqlite3_bind_blob(st, 4, vectors + i * (size_t)dim,
                                       (int)(dim * sizeof(float)), SQLITE_STATIC) == SQLITE_OK &&
                     sqlite3_step(st) == SQLITE_DONE;
            sqlite3_reset(st);
            if (!ok)
                rc = db_error(s, err, "staging vectors");
        }
        if (!st)
            rc = db_error(s, err, "staging vectors");
        sqlite3_finalize(st);
        rc = rc ? (exec(s, "ROLLBACK", NULL), rc) : exec(s, "COMMIT", err);
    }
    pthread_mutex_unlock(&s->db_mu);
    return rc;
}

int inngest_rag_store_load_staged(inngest_rag_store *s, const char *key, const char *hash,
                                  size_t first, size_t count, int dim, float *out,
                                  unsigned char *have, inngest_error *err) {
    memset(have, 0, count);
    pthread_mutex_lock(&s->db_mu);
    sqlite3_stmt *st = prep(s, "SELECT position, f32 FROM staged WHERE key = ? AND hash = ?"
                               " AND position >= ? AND position < ?");
    int rc = INNGEST_OK, step = SQLITE_ERROR;
    if (st) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)first);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)(first + count));
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
            size_t pos = (size_t)sqlite3_column_int64(st, 0) - first;
            if (sqlite3_column_bytes(st, 1) != (int)(dim * sizeof(float)))
                continue; /* another dimension: embed again */
            memcpy(out + pos * (size_t)dim, sqlite3_column_blob(st, 1), dim * sizeof(float));
            have[pos] = 1;
        }
    }
    if (step != SQLITE_DONE)
        rc = db_error(s, err, "reading staged vectors");
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->db_mu);
    return rc;
}

/* ---- search ----------------------------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Document ids matching the source filter, sorted. Caller holds db_mu. */
static int filter_docs(inngest_rag_store *s, const inngest_rag_query *q, int64_t **out,
                       size_t *n, inngest_error *err) {
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = prep(s, "SELECT id FROM documents WHERE key = ?1 OR source = ?1");
    if (!st)
        return db_error(s, err, "filtering sources");
    size_t cap = 0;
    int rc = INNGEST_OK;
    for (size_t i = 0; i < q->source_count && !rc; i++) {
        if (!q->sources[i])
            continue;
        sqlite3_bind_text(st, 1, q->sources[i], -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW) {
            if (*n == cap) {
                cap = cap ? cap * 2 : 16;
                int64_t *nv = realloc(*out, cap * sizeof(*nv));
                if (!nv) {
                    rc = inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
                    break;
                }
                *out = nv;
            }
            (*out)[(*n)++] = sqlite3_column_int64(st, 0);
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (*out)
        qsort(*out, *n, sizeof(**out), cmp_i64);
    return rc;
}

struct scored {
    int64_t id;
    double score;
};

static int scored_desc(const void *a, const void *b) {
    const struct scored *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Vector ranking: int8 scan for `c` candidates, float32 rescoring, best `want` kept. */
static int vector_rank(inngest_rag_store *s, const float *qv, int dim, size_t want,
                       const int64_t *docs, size_t ndocs, struct scored *out, size_t *nout,
                       inngest_error *err) {
    *nout = 0;
    size_t c = s->rescore < 0 ? want : s->rescore > 0 ? (size_t)s->rescore : want * 5;
    if (c < want)
        c = want;
    if (s->rescore == 0 && c < 50)
        c = 50;
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
    if (s->rescore < 0) {
        for (size_t i = 0; i < m; i++)
            out[i] = (struct scored){cand[i].id, cand[i].score};
    } else if (m) {
        pthread_mutex_lock(&s->db_mu);
        sqlite3_stmt *st = prep(s, "SELECT f32 FROM vectors WHERE chunk_id = ?");
        size_t k = 0;
        for (size_t i = 0; st && i < m; i++) {
            sqlite3_bind_int64(st, 1, cand[i].id);
            if (sqlite3_step(st) == SQLITE_ROW &&
                sqlite3_column_bytes(st, 0) == (int)(dim * sizeof(float))) {
                const float *v = sqlite3_column_blob(st, 0);
                out[k++] = (struct scored){cand[i].id, s->dotf(unit, v, (size_t)dim)};
            }
            sqlite3_reset(st);
        }
        if (!st)
            rc = db_error(s, err, "rescoring");
        sqlite3_finalize(st);
        pthread_mutex_unlock(&s->db_mu);
        m = k;
    }
    if (rc == INNGEST_OK) {
        qsort(out, m, sizeof(*out), scored_desc);
        *nout = m < want ? m : want;
    }
    free(cand);
    free(unit);
    return rc;
}

/* Keyword ranking with FTS5 BM25 (title weighs double). Caller holds db_mu. */
static int keyword_rank(inngest_rag_store *s, const char *text, size_t want, const int64_t *docs,
                        size_t ndocs, struct scored *out, size_t *nout, inngest_error *err) {
    *nout = 0;
    char *match = ing_fts_query(text ? text : "");
    if (!match)
        return inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    if (!*match) {
        free(match);
        return INNGEST_OK;
    }
    /* With a filter, ask for more rows and drop the others; a filter is a short list of
     * documents, so widen generously. */
    size_t limit = docs ? want * 20 + 200 : want;
    sqlite3_stmt *st = prep(s, "SELECT f.rowid, bm25(chunks_fts, 2.0, 1.0), c.doc_id"
                               " FROM chunks_fts f JOIN chunks c ON c.id = f.rowid"
                               " WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts, 2.0, 1.0)"
                               " LIMIT ?");
    if (!st) {
        free(match);
        return db_error(s, err, "keyword search");
    }
    sqlite3_bind_text(st, 1, match, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)limit);
    int step;
    size_t n = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW && n < want) {
        int64_t doc = sqlite3_column_int64(st, 2);
        if (docs && !bsearch(&doc, docs, ndocs, sizeof(*docs), cmp_i64))
            continue;
        out[n++] = (struct scored){sqlite3_column_int64(st, 0), -sqlite3_column_double(st, 1)};
    }
    int rc = step == SQLITE_ROW || step == SQLITE_DONE ? INNGEST_OK
                                                       : db_error(s, err, "keyword search");
    sqlite3_finalize(st);
    free(match);
    *nout = n;
    return rc;
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

int inngest_rag_store_search(inngest_rag_store *s, const inngest_rag_query *q,
                             inngest_rag_results *out, inngest_error *err) {
    memset(out, 0, sizeof(*out));
    size_t k = q->k > 0 ? (size_t)q->k : DEFAULT_K;
    int use_vec = q->mode != INNGEST_RAG_KEYWORD, use_kw = q->mode != INNGEST_RAG_VECTOR;
    if (use_vec && !q->vector)
        return inngest_error_set(err, INNGEST_EINVAL, "this search mode needs a query vector");
    if (use_kw && !q->text)
        return inngest_error_set(err, INNGEST_EINVAL, "this search mode needs the query text");
    /* Each list is longer than k so fusion can promote items ranked lower in one. */
    size_t depth = q->mode == INNGEST_RAG_HYBRID ? (k * 4 > 20 ? k * 4 : 20) : k;
    /* The vector list holds every rescored candidate before it is cut to `depth`. */
    size_t vcap = depth * 5 + 50 + (s->rescore > 0 ? (size_t)s->rescore : 0);
    struct scored *vl = calloc(vcap, sizeof(*vl)), *kl = calloc(depth, sizeof(*kl));
    struct ing_fused *fused = calloc(2 * depth, sizeof(*fused));
    int64_t *docs = NULL;
    size_t ndocs = 0, nv = 0, nk = 0;
    int rc = INNGEST_OK;
    if (!vl || !kl || !fused) {
        rc = inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
        goto done;
    }
    pthread_mutex_lock(&s->db_mu);
    if (use_vec)
        rc = check_locked(s, q->embedder_id, q->dim, err);
    if (!rc && q->sources && q->source_count)
        rc = filter_docs(s, q, &docs, &ndocs, err);
    if (!rc && use_kw)
        rc = keyword_rank(s, q->text, depth, q->sources && q->source_count ? docs : NULL, ndocs,
                          kl, &nk, err);
    int empty = s->dim == 0;
    pthread_mutex_unlock(&s->db_mu);
    if (rc)
        goto done;
    if (q->sources && q->source_count && ndocs == 0)
        goto done; /* the filter matches nothing */
    if (use_vec && !empty)
        rc = vector_rank(s, q->vector, q->dim, depth, q->sources && q->source_count ? docs : NULL,
                         ndocs, vl, &nv, err);
    if (rc)
        goto done;

    /* Final order. */
    size_t n;
    if (q->mode == INNGEST_RAG_HYBRID) {
        int64_t *a = malloc((nv + 1) * sizeof(*a)), *b = malloc((nk + 1) * sizeof(*b));
        if (!a || !b) {
            free(a);
            free(b);
            rc = inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
            goto done;
        }
        for (size_t i = 0; i < nv; i++)
            a[i] = vl[i].id;
        for (size_t i = 0; i < nk; i++)
            b[i] = kl[i].id;
        n = ing_rrf_fuse(a, nv, b, nk, k, fused);
        free(a);
        free(b);
    } else {
        struct scored *l = use_vec ? vl : kl;
        n = (use_vec ? nv : nk) < k ? (use_vec ? nv : nk) : k;
        for (size_t i = 0; i < n; i++)
            fused[i] = (struct ing_fused){l[i].id, l[i].score, use_vec ? (int)i + 1 : 0,
                                          use_vec ? 0 : (int)i + 1};
    }
    out->hits = calloc(n ? n : 1, sizeof(*out->hits));
    if (!out->hits) {
        rc = inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
        goto done;
    }
    pthread_mutex_lock(&s->db_mu);
    sqlite3_stmt *st = prep(s, "SELECT c.position, c.text, d.key, d.source, d.title"
                               " FROM chunks c JOIN documents d ON d.id = c.doc_id"
                               " WHERE c.id = ?");
    for (size_t i = 0; st && i < n; i++) {
        sqlite3_bind_int64(st, 1, fused[i].id);
        if (sqlite3_step(st) == SQLITE_ROW) {
            inngest_rag_hit *h = &out->hits[out->count];
            h->chunk_id = fused[i].id;
            h->position = sqlite3_column_int(st, 0);
            h->text = ing_strdup0((const char *)sqlite3_column_text(st, 1));
            h->doc_key = ing_strdup0((const char *)sqlite3_column_text(st, 2));
            h->source = ing_strdup0((const char *)sqlite3_column_text(st, 3));
            h->title = ing_strdup0((const char *)sqlite3_column_text(st, 4));
            h->score = fused[i].score;
            h->vector_rank = q->mode == INNGEST_RAG_HYBRID ? fused[i].rank_a
                             : use_vec                     ? (int)i + 1
                                                           : 0;
            h->keyword_rank = q->mode == INNGEST_RAG_HYBRID ? fused[i].rank_b
                              : use_kw                      ? (int)i + 1
                                                            : 0;
            if (h->vector_rank)
                h->vector_score = vl[h->vector_rank - 1].score;
            if (h->keyword_rank)
                h->keyword_score = kl[h->keyword_rank - 1].score;
            out->count++;
            if (!h->text || !h->doc_key || !h->source || !h->title)
                rc = inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
        }
        sqlite3_reset(st);
    }
    if (!st)
        rc = db_error(s, err, "reading results");
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->db_mu);
    if (rc)
        inngest_rag_results_cleanup(out);
done:
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
