/* SPDX-License-Identifier: MIT */
/*
 * The SQLite backend of the RAG store (see backend.h): one file in WAL mode. The only file
 * of the project that includes sqlite3.h.
 *
 * Schema (one file):
 *   meta(key, value)              schema version, embedder id, dimension, last ids given
 *   documents(id, key, source, title, content_hash, bytes, chunks, metadata, updated_at)
 *   chunks(id, doc_id, position, start, len, text)
 *   codes(chunk_id, doc_id, scale, codes)   int8 codes, loaded into memory on open
 *   vectors(chunk_id, f32)                  unit float32 vectors, read to rescore
 *   chunks_fts(title, text)                 FTS5, rowid = chunk id, BM25
 *   staged(key, hash, position, f32)        vectors of documents being ingested in steps
 *
 * Durability: WAL, so readers never block the writer and a commit is one append (plus an
 * fsync with synchronous=FULL, the default); a crash leaves the WAL to be replayed on the
 * next open. Every write is one IMMEDIATE transaction.
 */
#include "fmacros.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "rag/backend.h"
#include "rag/rag_internal.h"

#define SCHEMA_VERSION 1
/* How long a write waits for another connection's lock before giving up. */
#define BUSY_TIMEOUT_MS 10000
/* The largest dimension a store file may claim (what the embedding client accepts). */
#define MAX_DIM 65536

/* The statements a search runs, prepared once per connection (preparing costs more than
 * running them). */
enum { ST_KEYWORD, ST_KEYWORD_ALL, ST_TITLE, ST_NAMED, ST_VECTOR, ST_CHUNK, ST_COUNT };

struct sqlite_backend {
    struct ing_rag_backend base; /* first member */
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    char *path; /* for readers: other connections to the same file */
};

static const char *const cached_sql[ST_COUNT] = {
    /* The best chunks by BM25 first, then their documents: joining inside the ranking
     * would look up every matching chunk, not only the ones kept. */
    [ST_KEYWORD] = "SELECT f.id, f.score, c.doc_id, c.position FROM"
                   " (SELECT rowid AS id, ing_bm25(chunks_fts, ?2, 2.0, 1.0) AS score"
                   " FROM chunks_fts WHERE chunks_fts MATCH ?1 ORDER BY score LIMIT ?2) f"
                   " JOIN chunks c ON c.id = f.id ORDER BY f.score, f.id",
    /* With a source filter: every match, filtered by document as it is read (so no row
     * may be skipped: ing_bm25's bound is 0). */
    [ST_KEYWORD_ALL] = "SELECT f.rowid, ing_bm25(chunks_fts, 0, 2.0, 1.0) AS score, c.doc_id,"
                       " c.position FROM chunks_fts f JOIN chunks c ON c.id = f.rowid"
                       " WHERE chunks_fts MATCH ?1 ORDER BY score, f.rowid",
    [ST_TITLE] = "SELECT title FROM documents WHERE id = ?",
    /* A key range ("prefix" to "prefix" with its last byte raised), so the key's index
     * finds it (BINARY collation compares bytes), without a folder after the prefix. */
    [ST_NAMED] = ("SELECT d.id, c.id, d.title FROM documents d JOIN chunks c"
                  " ON c.doc_id = d.id AND c.position = 0"
                  " WHERE d.key >= ?1 AND d.key < ?2"
                  " AND instr(substr(d.key, length(?1) + 1), '/') = 0"
                  " ORDER BY d.key LIMIT 1"),
    [ST_VECTOR] = "SELECT f32 FROM vectors WHERE chunk_id = ?",
    /* In parentheses: clang's -Wstring-concatenation asks for them in an array of strings. */
    [ST_CHUNK] = ("SELECT c.position, c.text, d.key, d.source, d.title"
                  " FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.id = ?"),
};

/* A cached statement, reset and ready to bind; NULL when it cannot be prepared. */
static sqlite3_stmt *cached(struct ing_rag_backend *b, int which) {
    struct sqlite_backend *sb = (struct sqlite_backend *)b;
    if (!sb->st[which] &&
        sqlite3_prepare_v3(sb->db, cached_sql[which], -1, SQLITE_PREPARE_PERSISTENT,
                           &sb->st[which], NULL) != SQLITE_OK)
        return NULL;
    return sb->st[which];
}

/* Gives a cached statement back: reset, bindings cleared (no pointer into the caller's
 * memory is kept). */
static void release(sqlite3_stmt *st) {
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}


static sqlite3 *db_of(struct ing_rag_backend *b) {
    return ((struct sqlite_backend *)b)->db;
}

static int db_error(sqlite3 *db, inngest_error *err, const char *what) {
    return inngest_error_set(err, INNGEST_EIO, "RAG store: %s: %s", what, sqlite3_errmsg(db));
}

static int exec(sqlite3 *db, const char *sql, inngest_error *err) {
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = inngest_error_set(err, INNGEST_EIO, "RAG store: %s", msg ? msg : "error");
        sqlite3_free(msg);
        return rc;
    }
    return INNGEST_OK;
}

static sqlite3_stmt *prep(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return NULL;
    return st;
}

/* Runs the reads of one call in one read transaction (one set of locks instead of one per
 * statement) unless a transaction is already open. Returns non-zero when it began one. */
static int read_begin(sqlite3 *db) {
    return sqlite3_get_autocommit(db) && exec(db, "BEGIN", NULL) == INNGEST_OK;
}

static void read_end(sqlite3 *db, int began) {
    if (began)
        exec(db, "COMMIT", NULL);
}

/* Ends a transaction: COMMIT when rc is INNGEST_OK, else ROLLBACK. Returns the outcome. */
static int finish(sqlite3 *db, int rc, inngest_error *err) {
    if (rc) {
        exec(db, "ROLLBACK", NULL);
        return rc;
    }
    rc = exec(db, "COMMIT", err);
    if (rc)
        exec(db, "ROLLBACK", NULL);
    return rc;
}

/* Appends to a malloc'd id array. Returns 0, or -1 when memory runs out. */
static int push_id(int64_t **ids, size_t *n, size_t *cap, int64_t id) {
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        int64_t *nv = realloc(*ids, nc * sizeof(*nv));
        if (!nv)
            return -1;
        *ids = nv;
        *cap = nc;
    }
    (*ids)[(*n)++] = id;
    return 0;
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
    "INSERT OR IGNORE INTO meta(key, value) VALUES('schema', '1');"
    /* The highest document and chunk ids ever given (see next_ids()). */
    "INSERT OR IGNORE INTO meta(key, value) SELECT 'last_doc', coalesce(max(id), 0)"
    " FROM documents;"
    "INSERT OR IGNORE INTO meta(key, value) SELECT 'last_chunk', coalesce(max(id), 0)"
    " FROM chunks;";

/* ---- binding and counts ------------------------------------------------------------------ */

static int sq_binding(struct ing_rag_backend *b, char id[ING_RAG_EMBEDDER_ID_MAX], int *dim,
                      inngest_error *err) {
    sqlite3 *db = db_of(b);
    id[0] = '\0';
    *dim = 0;
    sqlite3_stmt *st = prep(db, "SELECT key, value FROM meta");
    if (!st)
        return db_error(db, err, "reading meta");
    int schema = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        const char *v = (const char *)sqlite3_column_text(st, 1);
        if (!k || !v)
            continue;
        if (!strcmp(k, "schema"))
            schema = atoi(v);
        else if (!strcmp(k, "embedder"))
            snprintf(id, ING_RAG_EMBEDDER_ID_MAX, "%s", v);
        else if (!strcmp(k, "dim"))
            *dim = atoi(v);
    }
    sqlite3_finalize(st);
    /* The file is outside input: a dimension beyond what any embedder gives would size
     * the index from garbage. */
    if (*dim < 0 || *dim > MAX_DIM)
        return inngest_error_set(err, INNGEST_EPARSE,
                                 "RAG store: the dimension %d in its meta table is not valid",
                                 *dim);
    if (schema < 1 || schema > SCHEMA_VERSION)
        return inngest_error_set(err, INNGEST_EMISMATCH,
                                 "RAG store: schema version %d is not supported (this build "
                                 "reads %d)",
                                 schema, SCHEMA_VERSION);
    return INNGEST_OK;
}

static int sq_counts(struct ing_rag_backend *b, size_t *documents, size_t *chunks,
                     inngest_error *err) {
    sqlite3 *db = db_of(b);
    *documents = *chunks = 0;
    sqlite3_stmt *st = prep(db, "SELECT (SELECT count(*) FROM documents),"
                                " (SELECT count(*) FROM chunks)");
    int rc = INNGEST_OK;
    if (st && sqlite3_step(st) == SQLITE_ROW) {
        *documents = (size_t)sqlite3_column_int64(st, 0);
        *chunks = (size_t)sqlite3_column_int64(st, 1);
    } else {
        rc = db_error(db, err, "counting documents");
    }
    sqlite3_finalize(st);
    return rc;
}

/* ---- writes ------------------------------------------------------------------------------ */

/* Deletes a document's rows; collects its chunk ids into *ids. Caller holds a transaction.
 * Returns 1 when a document was found, 0 when not, -1 on error. */
static int delete_rows(sqlite3 *db, const char *key, int64_t **ids, size_t *nids) {
    *ids = NULL;
    *nids = 0;
    sqlite3_stmt *st = prep(db, "SELECT id FROM documents WHERE key = ?");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    int64_t doc = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (step != SQLITE_ROW)
        return step == SQLITE_DONE ? 0 : -1;
    st = prep(db, "SELECT id FROM chunks WHERE doc_id = ?");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, doc);
    size_t cap = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (push_id(ids, nids, &cap, sqlite3_column_int64(st, 0))) {
            step = SQLITE_NOMEM;
            break;
        }
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
        st = prep(db, dels[i]);
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

static int write_binding(sqlite3 *db, const struct ing_rag_put *p, inngest_error *err) {
    sqlite3_stmt *m = prep(db, "INSERT OR REPLACE INTO meta(key, value) VALUES"
                               " ('embedder', ?1), ('dim', ?2)");
    int ok = m && sqlite3_bind_text(m, 1, p->embedder_id, -1, SQLITE_STATIC) == SQLITE_OK &&
             sqlite3_bind_int(m, 2, p->dim) == SQLITE_OK && sqlite3_step(m) == SQLITE_DONE;
    sqlite3_finalize(m);
    return ok ? INNGEST_OK : db_error(db, err, "binding the embedder");
}

/* The ids a put gives: the document's, and the chunk ids after `*last_chunk`. A deleted
 * row's id is never given again (INTEGER PRIMARY KEY alone would give the highest one
 * again): a search running alongside the write may still hold it, and must find the row
 * gone rather than read another document's text. Caller holds the write transaction. */
static int next_ids(sqlite3 *db, int64_t *doc_id, int64_t *last_chunk, inngest_error *err) {
    sqlite3_stmt *st = prep(
        db, "SELECT max(coalesce((SELECT max(id) FROM documents), 0),"
            " coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'last_doc'), 0)),"
            " max(coalesce((SELECT max(id) FROM chunks), 0),"
            " coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'last_chunk'), 0))");
    int ok = st && sqlite3_step(st) == SQLITE_ROW;
    if (ok) {
        *doc_id = sqlite3_column_int64(st, 0) + 1;
        *last_chunk = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return ok ? INNGEST_OK : db_error(db, err, "numbering the document");
}

/* Records the ids a put gave (next_ids()). */
static int save_ids(sqlite3 *db, int64_t doc_id, int64_t last_chunk, inngest_error *err) {
    sqlite3_stmt *m = prep(db, "INSERT OR REPLACE INTO meta(key, value) VALUES"
                               " ('last_doc', ?1), ('last_chunk', ?2)");
    int ok = m && sqlite3_bind_int64(m, 1, doc_id) == SQLITE_OK &&
             sqlite3_bind_int64(m, 2, last_chunk) == SQLITE_OK && sqlite3_step(m) == SQLITE_DONE;
    sqlite3_finalize(m);
    return ok ? INNGEST_OK : db_error(db, err, "numbering the document");
}

static int insert_document(sqlite3 *db, const struct ing_rag_put *p, int64_t doc_id,
                           inngest_error *err) {
    sqlite3_stmt *d = prep(db, "INSERT INTO documents(key, source, title, content_hash, bytes,"
                               " chunks, metadata, updated_at, id) VALUES(?,?,?,?,?,?,?,?,?)");
    int ok = d != NULL;
    ok = ok && sqlite3_bind_text(d, 1, p->key, -1, SQLITE_STATIC) == SQLITE_OK;
    ok = ok && sqlite3_bind_text(d, 2, p->source, -1, SQLITE_STATIC) == SQLITE_OK;
    ok = ok && sqlite3_bind_text(d, 3, p->title, -1, SQLITE_STATIC) == SQLITE_OK;
    ok = ok && sqlite3_bind_text(d, 4, p->hash, -1, SQLITE_STATIC) == SQLITE_OK;
    ok = ok && sqlite3_bind_int64(d, 5, (sqlite3_int64)p->bytes) == SQLITE_OK;
    ok = ok && sqlite3_bind_int64(d, 6, (sqlite3_int64)p->count) == SQLITE_OK;
    ok = ok && (p->metadata ? sqlite3_bind_text(d, 7, p->metadata, -1, SQLITE_STATIC)
                            : sqlite3_bind_null(d, 7)) == SQLITE_OK;
    ok = ok && sqlite3_bind_int64(d, 8, (sqlite3_int64)time(NULL)) == SQLITE_OK;
    ok = ok && sqlite3_bind_int64(d, 9, doc_id) == SQLITE_OK;
    ok = ok && sqlite3_step(d) == SQLITE_DONE;
    sqlite3_finalize(d);
    return ok ? INNGEST_OK : db_error(db, err, "inserting the document");
}

/* Inserts the chunks with ids last_chunk + 1, + 2, ... */
static int insert_chunks(sqlite3 *db, const struct ing_rag_put *p, int64_t doc_id,
                         int64_t last_chunk, int64_t *chunk_ids, inngest_error *err) {
    sqlite3_stmt *ins_chunk = prep(db, "INSERT INTO chunks(doc_id, position, start, len, text,"
                                       " id) VALUES(?,?,?,?,?,?)");
    sqlite3_stmt *ins_code =
        prep(db, "INSERT INTO codes(chunk_id, doc_id, scale, codes) VALUES(?,?,?,?)");
    sqlite3_stmt *ins_vec = prep(db, "INSERT INTO vectors(chunk_id, f32) VALUES(?,?)");
    sqlite3_stmt *ins_fts = prep(db, "INSERT INTO chunks_fts(rowid, title, text) VALUES(?,?,?)");
    int rc = INNGEST_OK;
    if (!ins_chunk || !ins_code || !ins_vec || !ins_fts)
        rc = db_error(db, err, "preparing inserts");
    int f32_bytes = (int)((size_t)p->dim * sizeof(float));
    for (size_t i = 0; !rc && i < p->count; i++) {
        const struct ing_rag_put_chunk *c = &p->chunks[i];
        int ok = sqlite3_bind_int64(ins_chunk, 1, doc_id) == SQLITE_OK &&
                 sqlite3_bind_int64(ins_chunk, 2, (sqlite3_int64)i) == SQLITE_OK &&
                 sqlite3_bind_int64(ins_chunk, 3, (sqlite3_int64)c->start) == SQLITE_OK &&
                 sqlite3_bind_int64(ins_chunk, 4, (sqlite3_int64)c->len) == SQLITE_OK &&
                 sqlite3_bind_text(ins_chunk, 5, c->text, (int)c->text_len, SQLITE_STATIC) ==
                     SQLITE_OK &&
                 sqlite3_bind_int64(ins_chunk, 6, last_chunk + 1 + (int64_t)i) == SQLITE_OK &&
                 sqlite3_step(ins_chunk) == SQLITE_DONE;
        sqlite3_reset(ins_chunk);
        int64_t cid = last_chunk + 1 + (int64_t)i;
        chunk_ids[i] = cid;
        ok = ok && sqlite3_bind_int64(ins_code, 1, cid) == SQLITE_OK &&
             sqlite3_bind_int64(ins_code, 2, doc_id) == SQLITE_OK &&
             sqlite3_bind_double(ins_code, 3, c->scale) == SQLITE_OK &&
             sqlite3_bind_blob(ins_code, 4, c->codes, (int)p->stride, SQLITE_STATIC) == SQLITE_OK &&
             sqlite3_step(ins_code) == SQLITE_DONE;
        sqlite3_reset(ins_code);
        ok = ok && sqlite3_bind_int64(ins_vec, 1, cid) == SQLITE_OK &&
             sqlite3_bind_blob(ins_vec, 2, c->f32, f32_bytes, SQLITE_STATIC) == SQLITE_OK &&
             sqlite3_step(ins_vec) == SQLITE_DONE;
        sqlite3_reset(ins_vec);
        ok = ok && sqlite3_bind_int64(ins_fts, 1, cid) == SQLITE_OK &&
             sqlite3_bind_text(ins_fts, 2, p->title, -1, SQLITE_STATIC) == SQLITE_OK &&
             sqlite3_bind_text(ins_fts, 3, c->text, (int)c->text_len, SQLITE_STATIC) == SQLITE_OK &&
             sqlite3_step(ins_fts) == SQLITE_DONE;
        sqlite3_reset(ins_fts);
        if (!ok)
            rc = db_error(db, err, "inserting chunks");
    }
    sqlite3_finalize(ins_chunk);
    sqlite3_finalize(ins_code);
    sqlite3_finalize(ins_vec);
    sqlite3_finalize(ins_fts);
    return rc;
}

static int clear_staged(sqlite3 *db, const char *key, inngest_error *err) {
    sqlite3_stmt *d = prep(db, "DELETE FROM staged WHERE key = ?");
    int ok = d && sqlite3_bind_text(d, 1, key, -1, SQLITE_STATIC) == SQLITE_OK &&
             sqlite3_step(d) == SQLITE_DONE;
    sqlite3_finalize(d);
    return ok ? INNGEST_OK : db_error(db, err, "clearing staged vectors");
}

/* Whether the stored document `key` has content hash `hash`: 1 yes, 0 no, -1 error. */
static int has_hash(sqlite3 *db, const char *key, const char *hash) {
    sqlite3_stmt *st = prep(db, "SELECT content_hash FROM documents WHERE key = ?");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    int same = step == SQLITE_ROW && sqlite3_column_text(st, 0) &&
               !strcmp((const char *)sqlite3_column_text(st, 0), hash);
    sqlite3_finalize(st);
    return step == SQLITE_ROW || step == SQLITE_DONE ? same : -1;
}

static int sq_put(struct ing_rag_backend *b, const struct ing_rag_put *p,
                  struct ing_rag_put_result *r, inngest_error *err) {
    sqlite3 *db = db_of(b);
    int rc = exec(db, "BEGIN IMMEDIATE", err);
    if (rc)
        return rc;
    if (p->unless_hash) {
        int same = has_hash(db, p->key, p->unless_hash);
        if (same < 0)
            return finish(db, db_error(db, err, "reading the document"), err);
        if (same) {
            r->unchanged = 1;
            return finish(db, INNGEST_OK, err);
        }
    }
    if (p->bind)
        rc = write_binding(db, p, err);
    if (!rc) {
        int found = delete_rows(db, p->key, &r->old_ids, &r->nold);
        if (found < 0)
            rc = db_error(db, err, "replacing the document");
        r->replaced = found > 0;
    }
    int64_t last_chunk = 0;
    if (!rc)
        rc = next_ids(db, &r->doc_id, &last_chunk, err);
    if (!rc)
        rc = insert_document(db, p, r->doc_id, err);
    if (!rc)
        rc = insert_chunks(db, p, r->doc_id, last_chunk, r->chunk_ids, err);
    if (!rc)
        rc = save_ids(db, r->doc_id, last_chunk + (int64_t)p->count, err);
    if (!rc)
        rc = clear_staged(db, p->key, err);
    return finish(db, rc, err);
}

static int sq_remove(struct ing_rag_backend *b, const char *key, int64_t **ids, size_t *n,
                     inngest_error *err) {
    sqlite3 *db = db_of(b);
    int rc = exec(db, "BEGIN IMMEDIATE", err);
    if (rc)
        return rc;
    int found = delete_rows(db, key, ids, n);
    if (found < 0)
        rc = db_error(db, err, "deleting the document");
    else if (!found)
        rc = inngest_error_set(err, INNGEST_ENOTFOUND, "no document with key \"%s\"", key);
    return finish(db, rc, err);
}

/* ---- lookups ----------------------------------------------------------------------------- */

static int sq_doc_hash(struct ing_rag_backend *b, const char *key, char out[17],
                       inngest_error *err) {
    sqlite3 *db = db_of(b);
    sqlite3_stmt *st = prep(db, "SELECT content_hash FROM documents WHERE key = ?");
    if (!st)
        return db_error(db, err, "reading a document hash");
    int rc = INNGEST_ENOTFOUND;
    if (sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        const char *h = (const char *)sqlite3_column_text(st, 0);
        snprintf(out, 17, "%s", h ? h : "");
        rc = INNGEST_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

static int sq_list(struct ing_rag_backend *b, json_t **out, inngest_error *err) {
    sqlite3 *db = db_of(b);
    json_t *arr = json_array();
    sqlite3_stmt *st = prep(db, "SELECT key, source, title, chunks, bytes, content_hash,"
                                " updated_at, metadata FROM documents ORDER BY key");
    int step = SQLITE_ERROR;
    while (st && arr && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *meta = (const char *)sqlite3_column_text(st, 7);
        json_t *m = meta ? json_loads(meta, JSON_DECODE_ANY, NULL) : NULL;
        json_t *o = json_pack(
            "{s:s,s:s,s:s,s:I,s:I,s:s,s:I,s:o}", "key", (const char *)sqlite3_column_text(st, 0),
            "source", (const char *)sqlite3_column_text(st, 1), "title",
            (const char *)sqlite3_column_text(st, 2), "chunks",
            (json_int_t)sqlite3_column_int64(st, 3), "bytes",
            (json_int_t)sqlite3_column_int64(st, 4), "hash",
            (const char *)sqlite3_column_text(st, 5), "updatedAt",
            (json_int_t)sqlite3_column_int64(st, 6), "metadata", m ? m : json_null());
        if (!o || json_array_append_new(arr, o)) {
            step = SQLITE_NOMEM;
            break;
        }
    }
    int rc = INNGEST_OK;
    if (step != SQLITE_DONE) {
        rc = db_error(db, err, "listing documents");
        json_decref(arr);
        arr = NULL;
    }
    sqlite3_finalize(st);
    *out = arr;
    return rc;
}

/* ---- staging ----------------------------------------------------------------------------- */

static int sq_stage(struct ing_rag_backend *b, const char *key, const char *hash, size_t first,
                    size_t count, const float *vectors, int dim, inngest_error *err) {
    sqlite3 *db = db_of(b);
    int rc = exec(db, "BEGIN IMMEDIATE", err);
    if (rc)
        return rc;
    sqlite3_stmt *st = prep(db, "INSERT OR REPLACE INTO staged(key, hash, position, f32)"
                                " VALUES(?,?,?,?)");
    for (size_t i = 0; st && i < count && !rc; i++) {
        int ok = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) == SQLITE_OK &&
                 sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC) == SQLITE_OK &&
                 sqlite3_bind_int64(st, 3, (sqlite3_int64)(first + i)) == SQLITE_OK &&
                 sqlite3_bind_blob(st, 4, vectors + i * (size_t)dim, (int)(dim * sizeof(float)),
                                   SQLITE_STATIC) == SQLITE_OK &&
                 sqlite3_step(st) == SQLITE_DONE;
        sqlite3_reset(st);
        if (!ok)
            rc = db_error(db, err, "staging vectors");
    }
    if (!st)
        rc = db_error(db, err, "staging vectors");
    sqlite3_finalize(st);
    return finish(db, rc, err);
}

static int sq_load_staged(struct ing_rag_backend *b, const char *key, const char *hash,
                          size_t first, size_t count, int dim, float *out, unsigned char *have,
                          inngest_error *err) {
    sqlite3 *db = db_of(b);
    sqlite3_stmt *st = prep(db, "SELECT position, f32 FROM staged WHERE key = ? AND hash = ?"
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
        rc = db_error(db, err, "reading staged vectors");
    sqlite3_finalize(st);
    return rc;
}

/* ---- retrieval --------------------------------------------------------------------------- */

static int sq_filter(struct ing_rag_backend *b, const char *const *sources, size_t n,
                     int64_t **docs, size_t *ndocs, inngest_error *err) {
    sqlite3 *db = db_of(b);
    *docs = NULL;
    *ndocs = 0;
    sqlite3_stmt *st = prep(db, "SELECT id FROM documents WHERE key = ?1 OR source = ?1");
    if (!st)
        return db_error(db, err, "filtering sources");
    size_t cap = 0;
    int rc = INNGEST_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        if (!sources[i])
            continue;
        sqlite3_bind_text(st, 1, sources[i], -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW) {
            if (push_id(docs, ndocs, &cap, sqlite3_column_int64(st, 0))) {
                rc = inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
                break;
            }
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return rc;
}

/* ---- ing_bm25: FTS5's BM25 that skips the rows that cannot make the top --------------------
 *
 * ing_bm25(chunks_fts, want, weight_title, weight_text) is FTS5's bm25(chunks_fts,
 * weight_title, weight_text), the same formula computed in the same order (k1 = 1.2,
 * b = 0.75, idf = ln((N - n + 0.5) / (n + 0.5)) floored at 1e-6, term frequencies weighted
 * by column, length normalised by the row's tokens against the average), negative, lower is
 * better. What it adds, when want > 0: it keeps the `want` best scores seen so far in this
 * query and, for each further row, first bounds the row's score from above by taking its
 * length as 0 (the length factor only lowers a score); when even that bound is below the
 * want-th best so far, the row cannot be among the best `want` and is given 1.0 (after every
 * real score) without reading its length. Reading each matching row's length (a lookup in
 * FTS5's docsize table) and its instances was most of an OR query's time: a question's
 * common word ("perl", "file") matches thousands of chunks that hold nothing else of it.
 * The best `want` rows, and their scores, are exactly bm25()'s. */

#define BM25_K1 1.2
#define BM25_B 0.75

struct bm25_query {
    int nphrase;
    double avgdl;
    double *idf, *freq; /* nphrase each */
    size_t want, nheap;
    double *heap;       /* min-heap of the best `want` scores so far (positive) */
    sqlite3_int64 last; /* the row scored last, and its result: SQLite may ask twice */
    double last_result;
    int have_last;
};

static int bm25_count(const Fts5ExtensionApi *api, Fts5Context *fts, void *user) {
    (void)api;
    (void)fts;
    (*(sqlite3_int64 *)user)++;
    return SQLITE_OK;
}

/* The query's constants, computed on its first row (as bm25() does). */
static int bm25_setup(const Fts5ExtensionApi *api, Fts5Context *fts, size_t want,
                      struct bm25_query **out) {
    struct bm25_query *q = api->xGetAuxdata(fts, 0);
    if (q) {
        *out = q;
        return SQLITE_OK;
    }
    int nphrase = api->xPhraseCount(fts);
    q = calloc(1, sizeof(*q) + (2 * (size_t)nphrase + want) * sizeof(double));
    if (!q)
        return SQLITE_NOMEM;
    q->nphrase = nphrase;
    q->idf = (double *)(q + 1);
    q->freq = q->idf + nphrase;
    q->heap = q->freq + nphrase;
    q->want = want;
    sqlite3_int64 nrow = 0, ntoken = 0;
    int rc = api->xRowCount(fts, &nrow);
    if (rc == SQLITE_OK)
        rc = api->xColumnTotalSize(fts, -1, &ntoken);
    if (rc == SQLITE_OK)
        q->avgdl = (double)ntoken / (double)(nrow > 0 ? nrow : 1);
    for (int i = 0; rc == SQLITE_OK && i < nphrase; i++) {
        sqlite3_int64 nhit = 0;
        rc = api->xQueryPhrase(fts, i, &nhit, bm25_count);
        double idf = log((nrow - nhit + 0.5) / (nhit + 0.5));
        q->idf[i] = idf <= 0.0 ? 1e-6 : idf;
    }
    if (rc == SQLITE_OK)
        rc = api->xSetAuxdata(fts, q, free);
    if (rc != SQLITE_OK) {
        free(q);
        return rc;
    }
    *out = q;
    return SQLITE_OK;
}

/* Sum over phrases of idf * tf (k1 + 1) / (tf + k1 (1 - b + b D / avgdl)). */
static double bm25_sum(const struct bm25_query *q, double len) {
    double score = 0.0;
    for (int i = 0; i < q->nphrase; i++)
        score += q->idf[i] * ((q->freq[i] * (BM25_K1 + 1.0)) /
                              (q->freq[i] + BM25_K1 * (1 - BM25_B + BM25_B * len / q->avgdl)));
    return score;
}

/* Adds a score to the min-heap of the best `want`. */
static void bm25_keep(struct bm25_query *q, double score) {
    double *h = q->heap;
    size_t i;
    if (q->nheap < q->want) {
        for (i = q->nheap++; i > 0 && h[(i - 1) / 2] > score; i = (i - 1) / 2)
            h[i] = h[(i - 1) / 2];
        h[i] = score;
        return;
    }
    if (score <= h[0])
        return;
    for (i = 0;;) {
        size_t c = 2 * i + 1;
        if (c >= q->nheap)
            break;
        if (c + 1 < q->nheap && h[c + 1] < h[c])
            c++;
        if (h[c] >= score)
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = score;
}

static void bm25_function(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_context *ctx,
                          int nval, sqlite3_value **val) {
    sqlite3_int64 want = nval > 0 ? sqlite3_value_int64(val[0]) : 0;
    struct bm25_query *q = NULL;
    int rc = bm25_setup(api, fts, want > 0 ? (size_t)want : 0, &q);
    sqlite3_int64 row = api->xRowid(fts);
    if (rc == SQLITE_OK && q->have_last && q->last == row) {
        sqlite3_result_double(ctx, q->last_result);
        return;
    }
    for (int i = 0; rc == SQLITE_OK && i < q->nphrase; i++) {
        Fts5PhraseIter it;
        int col, off;
        q->freq[i] = 0.0;
        rc = api->xPhraseFirst(fts, i, &it, &col, &off);
        for (; rc == SQLITE_OK && col >= 0; api->xPhraseNext(fts, &it, &col, &off))
            q->freq[i] += nval > col + 1 ? sqlite3_value_double(val[col + 1]) : 1.0;
    }
    double result = 1.0; /* cannot make the top: after every real score */
    if (rc == SQLITE_OK && !(q->want && q->nheap == q->want && bm25_sum(q, 0.0) < q->heap[0])) {
        int ntok = 0;
        rc = api->xColumnSize(fts, -1, &ntok);
        double score = bm25_sum(q, (double)ntok);
        if (q->want)
            bm25_keep(q, score);
        result = -1.0 * score;
    }
    if (rc != SQLITE_OK) {
        sqlite3_result_error_code(ctx, rc);
        return;
    }
    q->last = row;
    q->last_result = result;
    q->have_last = 1;
    sqlite3_result_double(ctx, result);
}

/* Registers ing_bm25 with the connection's FTS5. */
static int register_bm25(sqlite3 *db) {
    fts5_api *api = NULL;
    sqlite3_stmt *st = prep(db, "SELECT fts5(?1)");
    if (!st)
        return SQLITE_ERROR;
    sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
    sqlite3_step(st);
    sqlite3_finalize(st);
    if (!api || api->iVersion < 2)
        return SQLITE_ERROR;
    return api->xCreateFunction(api, "ing_bm25", NULL, bm25_function, NULL);
}

/* FTS5 BM25 with the title weighing double; the score is -bm25 (higher is better). */
static int sq_keyword(struct ing_rag_backend *b, const char *text, size_t want, const int64_t *docs,
                      size_t ndocs, struct ing_rag_scored *out, size_t *nout, inngest_error *err) {
    sqlite3 *db = db_of(b);
    *nout = 0;
    char *match = ing_fts_query(text ? text : "");
    if (!match)
        return inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    if (!*match) {
        free(match);
        return INNGEST_OK;
    }
    /* Without a filter only the best `want` rows are read. With one, every match is read
     * in rank order and the other documents' dropped, so a small filtered set is found
     * however far down the whole ranking it sits. */
    sqlite3_stmt *st = cached(b, docs ? ST_KEYWORD_ALL : ST_KEYWORD);
    if (!st) {
        free(match);
        return db_error(db, err, "keyword search");
    }
    sqlite3_bind_text(st, 1, match, -1, SQLITE_STATIC);
    if (!docs)
        sqlite3_bind_int64(st, 2, (sqlite3_int64)want);
    int step;
    size_t n = 0;
    while (n < want && (step = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t doc = sqlite3_column_int64(st, 2);
        if (docs && !bsearch(&doc, docs, ndocs, sizeof(*docs), ing_cmp_i64))
            continue;
        out[n++] = (struct ing_rag_scored){sqlite3_column_int64(st, 0), doc,
                                           sqlite3_column_int(st, 3),
                                           -sqlite3_column_double(st, 1)};
    }
    if (n == want)
        step = SQLITE_DONE;
    int rc = step == SQLITE_DONE ? INNGEST_OK : db_error(db, err, "keyword search");
    release(st);
    free(match);
    *nout = n;
    return rc;
}

static int sq_count_vectors(struct ing_rag_backend *b, size_t *n, inngest_error *err) {
    sqlite3 *db = db_of(b);
    sqlite3_stmt *cnt = prep(db, "SELECT count(*) FROM codes");
    if (!cnt)
        return db_error(db, err, "counting vectors");
    *n = sqlite3_step(cnt) == SQLITE_ROW ? (size_t)sqlite3_column_int64(cnt, 0) : 0;
    sqlite3_finalize(cnt);
    return INNGEST_OK;
}

static int sq_load_codes(struct ing_rag_backend *b, int64_t doc_id, size_t stride,
                         ing_rag_codes_fn fn, void *user, inngest_error *err) {
    sqlite3 *db = db_of(b);
    sqlite3_stmt *st =
        prep(db, doc_id ? "SELECT chunk_id, doc_id, scale, codes FROM codes WHERE doc_id = ?"
                        : "SELECT chunk_id, doc_id, scale, codes FROM codes");
    if (!st)
        return db_error(db, err, "loading vectors");
    if (doc_id)
        sqlite3_bind_int64(st, 1, doc_id);
    int rc = INNGEST_OK, step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const void *codes = sqlite3_column_blob(st, 3);
        if ((size_t)sqlite3_column_bytes(st, 3) != stride || !codes) {
            rc = inngest_error_set(err, INNGEST_EPARSE, "RAG store: chunk %lld has bad codes",
                                   (long long)sqlite3_column_int64(st, 0));
            break;
        }
        rc = fn(user, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1), codes,
                (float)sqlite3_column_double(st, 2));
        if (rc)
            break;
    }
    if (rc == INNGEST_OK && step != SQLITE_DONE)
        rc = db_error(db, err, "loading vectors");
    sqlite3_finalize(st);
    return rc;
}

static int sq_load_vectors(struct ing_rag_backend *b, const int64_t *ids, size_t n, int dim,
                           float *out, unsigned char *have, inngest_error *err) {
    sqlite3 *db = db_of(b);
    sqlite3_stmt *st = cached(b, ST_VECTOR);
    if (!st)
        return db_error(db, err, "rescoring");
    int began = read_begin(db);
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_int64(st, 1, ids[i]);
        if (sqlite3_step(st) == SQLITE_ROW &&
            sqlite3_column_bytes(st, 0) == (int)(dim * sizeof(float))) {
            memcpy(out + i * (size_t)dim, sqlite3_column_blob(st, 0), dim * sizeof(float));
            have[i] = 1;
        }
        sqlite3_reset(st);
    }
    release(st);
    read_end(db, began);
    return INNGEST_OK;
}

static char *dup_column(sqlite3_stmt *st, int i) {
    const char *t = (const char *)sqlite3_column_text(st, i);
    return t ? strdup(t) : NULL;
}

static int sq_read_chunk(struct ing_rag_backend *b, int64_t id, inngest_rag_hit *h,
                         inngest_error *err) {
    sqlite3 *db = db_of(b);
    sqlite3_stmt *st = cached(b, ST_CHUNK);
    if (!st)
        return db_error(db, err, "reading results");
    sqlite3_bind_int64(st, 1, id);
    int rc = INNGEST_ENOTFOUND;
    if (sqlite3_step(st) == SQLITE_ROW) {
        h->position = sqlite3_column_int(st, 0);
        h->text = dup_column(st, 1);
        h->doc_key = dup_column(st, 2);
        h->source = dup_column(st, 3);
        h->title = dup_column(st, 4);
        rc = h->text && h->doc_key && h->source && h->title
                 ? INNGEST_OK
                 : inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    }
    release(st);
    return rc;
}

static int sq_doc_titles(struct ing_rag_backend *b, const int64_t *docs, size_t n,
                         void (*fn)(void *user, size_t i, const char *title), void *user,
                         inngest_error *err) {
    sqlite3 *db = db_of(b);
    sqlite3_stmt *st = cached(b, ST_TITLE);
    if (!st)
        return db_error(db, err, "reading titles");
    int began = read_begin(db), rc = INNGEST_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        sqlite3_bind_int64(st, 1, docs[i]);
        int step = sqlite3_step(st);
        const char *title = step == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
        if (title) /* NULL: out of memory; the title then counts for nothing */
            fn(user, i, title);
        else if (step != SQLITE_DONE)
            rc = db_error(db, err, "reading titles");
        sqlite3_reset(st);
    }
    release(st);
    read_end(db, began);
    return rc;
}

static int sq_named_doc(struct ing_rag_backend *b, const char *prefix, int64_t *doc,
                        int64_t *lead_chunk, char **title, inngest_error *err) {
    sqlite3 *db = db_of(b);
    size_t n = strlen(prefix);
    *title = NULL;
    if (!n || (unsigned char)prefix[n - 1] == 0xff)
        return INNGEST_ENOTFOUND;
    char *hi = strdup(prefix);
    sqlite3_stmt *st = hi ? cached(b, ST_NAMED) : NULL;
    if (!st) {
        free(hi);
        return hi ? db_error(db, err, "looking up a named page")
                  : inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    }
    hi[n - 1]++;
    sqlite3_bind_text(st, 1, prefix, (int)n, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, hi, (int)n, SQLITE_STATIC);
    int rc = INNGEST_ENOTFOUND, step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        *doc = sqlite3_column_int64(st, 0);
        *lead_chunk = sqlite3_column_int64(st, 1);
        *title = dup_column(st, 2);
        rc = *title ? INNGEST_OK : inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    } else if (step != SQLITE_DONE) {
        rc = db_error(db, err, "looking up a named page");
    }
    release(st);
    free(hi);
    return rc;
}

/* A run of reads (the hits of one search) in one read transaction. */
static int sq_read_begin(struct ing_rag_backend *b) {
    return read_begin(db_of(b));
}

static void sq_read_end(struct ing_rag_backend *b, int began) {
    read_end(db_of(b), began);
}

/* ---- open and close ---------------------------------------------------------------------- */

static void sq_close(struct ing_rag_backend *b) {
    if (!b)
        return;
    struct sqlite_backend *sb = (struct sqlite_backend *)b;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(sb->st[i]);
    if (sb->db)
        sqlite3_close(sb->db);
    free(sb->path);
    free(sb);
}

static int sq_open_reader(struct ing_rag_backend *b, struct ing_rag_backend **out,
                          inngest_error *err);

static const struct ing_rag_backend_ops sqlite_ops = {
    .name = "sqlite",
    .binding = sq_binding,
    .counts = sq_counts,
    .put = sq_put,
    .remove = sq_remove,
    .doc_hash = sq_doc_hash,
    .list = sq_list,
    .stage = sq_stage,
    .load_staged = sq_load_staged,
    .filter = sq_filter,
    .keyword = sq_keyword,
    .count_vectors = sq_count_vectors,
    .load_codes = sq_load_codes,
    .load_vectors = sq_load_vectors,
    .doc_titles = sq_doc_titles,
    .named_doc = sq_named_doc,
    .read_chunk = sq_read_chunk,
    .read_begin = sq_read_begin,
    .read_end = sq_read_end,
    .open_reader = sq_open_reader,
    .close = sq_close,
};

/* Searches' pragmas: the FTS index, vectors and texts read through a memory map instead of
 * a pread() per page, and more pages cached between searches. */
#define SEARCH_PRAGMAS "PRAGMA mmap_size=1073741824; PRAGMA cache_size=-32768"

/* A reader: another connection to the store's file, for searches on other threads (WAL
 * lets it read while the writer writes, each statement seeing the last commit). It only
 * reads (query_only). A store in memory or in a temporary file has none. */
static int sq_open_reader(struct ing_rag_backend *b, struct ing_rag_backend **out,
                          inngest_error *err) {
    const char *path = ((struct sqlite_backend *)b)->path;
    *out = NULL;
    if (!path || !*path || !strcmp(path, ":memory:") || !strncmp(path, "file:", 5))
        return inngest_error_set(err, INNGEST_EINVAL, "RAG store: %s has no readers",
                                 path && *path ? path : "a temporary store");
    struct sqlite_backend *sb = calloc(1, sizeof(*sb));
    if (!sb || !(sb->path = strdup(path))) {
        free(sb);
        return inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    }
    sb->base.ops = &sqlite_ops;
    int rc = INNGEST_OK;
    if (sqlite3_open_v2(path, &sb->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        rc = inngest_error_set(err, INNGEST_EIO, "RAG store: cannot open %s: %s", path,
                               sb->db ? sqlite3_errmsg(sb->db) : "out of memory");
    if (!rc) {
        sqlite3_busy_timeout(sb->db, BUSY_TIMEOUT_MS);
        rc = exec(sb->db, "PRAGMA query_only=1; " SEARCH_PRAGMAS, err);
    }
    /* The keyword query ranks with ing_bm25(), registered per connection. */
    if (!rc && register_bm25(sb->db) != SQLITE_OK)
        rc = inngest_error_set(err, INNGEST_EIO, "RAG store: %s: SQLite has no FTS5", path);
    if (rc) {
        sq_close(&sb->base);
        return rc;
    }
    *out = &sb->base;
    return INNGEST_OK;
}

int ing_rag_sqlite_open(const char *path, int fast_sync, struct ing_rag_backend **out,
                        inngest_error *err) {
    *out = NULL;
    struct sqlite_backend *sb = calloc(1, sizeof(*sb));
    if (!sb)
        return inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    sb->base.ops = &sqlite_ops;
    if (!(sb->path = strdup(path))) {
        free(sb);
        return inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    }
    if (sqlite3_open_v2(path, &sb->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        int rc = inngest_error_set(err, INNGEST_EIO, "RAG store: cannot open %s: %s", path,
                                   sb->db ? sqlite3_errmsg(sb->db) : "out of memory");
        sq_close(&sb->base);
        return rc;
    }
    sqlite3 *db = sb->db;
    /* Readers open the same file even if the working directory changes. */
    char *abs = realpath(path, NULL);
    if (abs) {
        free(sb->path);
        sb->path = abs;
    }
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    sqlite3_stmt *st = prep(db, "PRAGMA journal_mode=WAL");
    int wal = st && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) &&
              !strcmp((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    if (!wal) {
        int rc = inngest_error_set(err, INNGEST_EIO, "RAG store: %s cannot use WAL mode: %s", path,
                                   sqlite3_errmsg(db));
        sq_close(&sb->base);
        return rc;
    }
    int rc = exec(db, fast_sync ? "PRAGMA synchronous=NORMAL" : "PRAGMA synchronous=FULL", err);
    if (!rc)
        rc = exec(db, SEARCH_PRAGMAS, err);
    if (!rc && register_bm25(db) != SQLITE_OK)
        rc = inngest_error_set(err, INNGEST_EIO, "RAG store: %s: SQLite has no FTS5", path);
    if (!rc)
        rc = exec(db, "BEGIN IMMEDIATE", err);
    if (!rc)
        rc = finish(db, exec(db, schema_sql, err), err);
    if (rc) {
        sq_close(&sb->base);
        return rc;
    }
    *out = &sb->base;
    return INNGEST_OK;
}
