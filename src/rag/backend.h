/* SPDX-License-Identifier: MIT */
/*
 * The RAG store's backend interface, in the spirit of sqlite3_vfs: the generic store
 * (store.c: validation, UTF-8 repair, quantisation, the in-memory int8 index, rescoring,
 * fusion and locking) keeps its documents through a backend, a table of functions over
 * one persistent store (SQLite file, PostgreSQL database...).
 *
 * Who does what
 *   generic store   checks every argument, repairs text to valid UTF-8, normalises and
 *                   quantises vectors, checks the embedder binding, holds the in-memory
 *                   index (loaded from the backend on open), ranks vectors, fuses the
 *                   vector and keyword rankings, builds the results.
 *   backend         keeps documents, chunks, int8 codes, float32 vectors, the embedder
 *                   binding and staged vectors durably; ranks chunks by keywords;
 *                   answers lookups.
 *
 * Calls and threads: the generic store calls a backend's functions from one thread at a
 * time (it holds its backend mutex around every call), so a backend needs no locking of
 * its own unless it runs threads of its own (a notification listener, say). Searches are
 * the exception when a backend offers it: with `concurrent_reads` set, or through readers
 * from `open_reader`, they run in parallel with each other and with the writes, which stay
 * one at a time.
 *
 * Ids: a backend names documents and chunks with int64 ids > 0 of its choosing; they are
 * stable while the row exists (the in-memory index keys on them). A backend never gives
 * the id of a deleted row to a new row: a search that ranked a chunk reads its text
 * afterwards, perhaps after a write deleted it, and must then find it gone
 * (INNGEST_ENOTFOUND), not read another chunk under the same id.
 *
 * Errors: every function returns INNGEST_OK or a negative INNGEST_E* code with `err`
 * (optional, may be NULL) filled with a message naming the store; INNGEST_ENOTFOUND only
 * where documented. A failed write changes nothing (one transaction per write).
 *
 * Ownership: arguments are borrowed for the duration of the call; anything a backend
 * returns through a pointer to a pointer is malloc'd and freed by the generic store with
 * free() (json_t values: a new reference).
 */
#ifndef ING_RAG_BACKEND_H
#define ING_RAG_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "inngest/rag.h"
#include "rag/rag_internal.h"

struct ing_rag_backend;

/* The longest embedder id a store records, with its NUL. */
#define ING_RAG_EMBEDDER_ID_MAX 128

/* One chunk of a put, ready to store. */
struct ing_rag_put_chunk {
    size_t start, len;   /* byte range in the document text as given (offset, length) */
    const char *text;    /* the chunk's text, valid UTF-8 (repaired by the generic store) */
    size_t text_len;     /* bytes of `text` (differs from `len` when bytes were repaired) */
    const float *f32;    /* the unit vector, dim floats */
    const int8_t *codes; /* its int8 codes, `stride` bytes (zero padded) */
    float scale;         /* vector ~ codes * scale */
};

/* One document to store: everything already validated. */
struct ing_rag_put {
    const char *key;      /* unique id, non-empty */
    const char *source;   /* non-empty */
    const char *title;    /* valid UTF-8 */
    const char *hash;     /* inngest_rag_content_hash() of the text: 16 hex digits */
    size_t bytes;         /* length of the document text */
    const char *metadata; /* JSON text stored as is, or NULL */
    const struct ing_rag_put_chunk *chunks;
    size_t count;
    const char *embedder_id; /* who made the vectors */
    int dim;                 /* floats per vector */
    size_t stride;           /* bytes per row of codes: ing_stride(dim) */
    /* Non-zero when the store was unbound: record (embedder_id, dim) as its binding in the
     * same transaction. A backend shared by several writers checks, inside that
     * transaction, that no other writer bound it differently (INNGEST_EMISMATCH). */
    int bind;
    /* Non-NULL for an idempotent put: when the stored document with this key already has
     * this content hash, change nothing and report `unchanged`. */
    const char *unless_hash;
};

/* What a put did. */
struct ing_rag_put_result {
    int64_t doc_id;     /* the new document's id */
    int64_t *chunk_ids; /* provided by the caller (room for `count`): the new chunk ids */
    int replaced;       /* a document with the key existed and was replaced */
    int unchanged;      /* `unless_hash` matched: nothing was written */
    int64_t *old_ids;   /* malloc'd by the backend: chunk ids of the replaced document */
    size_t nold;
};


/* Receives one stored vector as int8 codes: `codes` has `stride` bytes (borrowed for the
 * call). Returns 0 to go on, non-zero (an INNGEST_E* code) to stop with that code. */
typedef int (*ing_rag_codes_fn)(void *user, int64_t chunk_id, int64_t doc_id, const int8_t *codes,
                                float scale);

struct ing_rag_backend_ops {
    const char *name; /* "sqlite", "postgresql" */

    /* The embedder binding: id into `id` ("" while unbound) and dimension into `*dim`
     * (0 while unbound). A dimension outside 0..65536 is INNGEST_EPARSE. */
    int (*binding)(struct ing_rag_backend *b, char id[ING_RAG_EMBEDDER_ID_MAX], int *dim,
                   inngest_error *err);

    /* How many documents and chunks the store holds. */
    int (*counts)(struct ing_rag_backend *b, size_t *documents, size_t *chunks, inngest_error *err);

    /* Stores a document with its chunks, codes and vectors in one transaction, replacing
     * the document with the same key, clearing its staged vectors, and recording the
     * binding when p->bind. Fills `r` (r->chunk_ids[i] for p->chunks[i]). */
    int (*put)(struct ing_rag_backend *b, const struct ing_rag_put *p, struct ing_rag_put_result *r,
               inngest_error *err);

    /* Deletes a document and its chunks in one transaction; its chunk ids into `*ids`
     * (malloc'd, `*n` of them). INNGEST_ENOTFOUND when there is none. */
    int (*remove)(struct ing_rag_backend *b, const char *key, int64_t **ids, size_t *n,
                  inngest_error *err);

    /* The content hash stored for `key` into `out`; INNGEST_ENOTFOUND when no document
     * has that key. */
    int (*doc_hash)(struct ing_rag_backend *b, const char *key, char out[17], inngest_error *err);

    /* Every document as [{key, source, title, chunks, bytes, hash, updatedAt, metadata}]
     * ordered by key (metadata parsed, null when absent or not JSON). */
    int (*list)(struct ing_rag_backend *b, json_t **out, inngest_error *err);

    /* Staged vectors: dim floats each, for positions first..first+count of the document
     * version (key, hash). A put of the key clears them. */
    int (*stage)(struct ing_rag_backend *b, const char *key, const char *hash, size_t first,
                 size_t count, const float *vectors, int dim, inngest_error *err);
    /* Loads staged vectors first..first+count into `out` (count * dim floats); have[i] is
     * set to 1 for each one found (and of `dim` floats), else left 0 (zeroed by the
     * caller). */
    int (*load_staged)(struct ing_rag_backend *b, const char *key, const char *hash, size_t first,
                       size_t count, int dim, float *out, unsigned char *have, inngest_error *err);

    /* The ids of documents whose key or source is one of `sources[0..n)` (NULL entries
     * skipped), in any order, malloc'd into `*docs`. */
    int (*filter)(struct ing_rag_backend *b, const char *const *sources, size_t n, int64_t **docs,
                  size_t *ndocs, inngest_error *err);

    /*
     * Keyword ranking: the best `want` chunks for the free text `text` (a user's question:
     * the backend turns it into its own query language and must not fail on any input),
     * best first, into `out` (room for `want`), each with its chunk id, document id,
     * position in the document and score. `docs`, when non-NULL, keeps only chunks of
     * those documents (sorted ascending, `ndocs` of them). No match is not an error
     * (`*nout` = 0).
     *
     * The keyword contract (what every backend must give for the store to rank alike):
     *   - terms: those of ing_fts_query() (words, stopwords dropped, repeats dropped,
     *     identifiers with inner punctuation as phrases), any of them may match (OR);
     *     words match by their stem (Porter: "rotates", "rotation" and "rotate" meet);
     *   - fields: the document title counts twice as much as the chunk text (FTS5:
     *     bm25(chunks_fts, 2.0, 1.0) over columns (title, text));
     *   - score: a relevance >= 0 on a ratio scale, higher is better, 0 for no evidence,
     *     with BM25's shape: rare terms weigh more (idf), repeats saturate, long chunks are
     *     discounted (FTS5: -bm25(); PostgreSQL: ts_rank_cd with normalisation 1 or a
     *     BM25 of its own). The generic store divides by the best score of the query, so
     *     only ratios between chunks of one query matter, not the absolute scale.
     * What the generic store adds on top (so a backend must not): a boost for the first
     * chunk of each document (position 0), aggregation of chunks into documents, the
     * document length prior and title affinity (from doc_titles), and the fusion with the
     * vector ranking (see ing_doc_fuse() and docs/rag.md).
     */
    int (*keyword)(struct ing_rag_backend *b, const char *text, size_t want, const int64_t *docs,
                   size_t ndocs, struct ing_rag_scored *out, size_t *nout, inngest_error *err);

    /* How many vectors the store holds (sizes the in-memory index before loading). */
    int (*count_vectors)(struct ing_rag_backend *b, size_t *n, inngest_error *err);

    /* Streams the int8 codes of every vector (doc_id 0) or of one document's vectors to
     * `fn`, in any order. Codes whose length is not `stride` are INNGEST_EPARSE. */
    int (*load_codes)(struct ing_rag_backend *b, int64_t doc_id, size_t stride, ing_rag_codes_fn fn,
                      void *user, inngest_error *err);

    /* The float32 vectors of chunks ids[0..n) into `out` (n * dim floats), for rescoring;
     * have[i] = 1 for each found with `dim` floats (zeroed by the caller). */
    int (*load_vectors)(struct ing_rag_backend *b, const int64_t *ids, size_t n, int dim,
                        float *out, unsigned char *have, inngest_error *err);

    /* What a hit shows of chunk `id`: fills h->position and the malloc'd h->text,
     * h->doc_key, h->source, h->title (freed by the caller even on failure).
     * INNGEST_ENOTFOUND when the chunk is gone. */
    int (*read_chunk)(struct ing_rag_backend *b, int64_t id, inngest_rag_hit *h,
                      inngest_error *err);

    /* The titles of documents docs[0..n) (distinct, ascending): fn(user, i, title) for each one
     * that exists, in any order; a document that is gone is skipped. */
    int (*doc_titles)(struct ing_rag_backend *b, const int64_t *docs, size_t n,
                      void (*fn)(void *user, size_t i, const char *title), void *user,
                      inngest_error *err);

    /* The first document (in key order) whose key starts with `prefix` (a folder and a
     * name: ".../perl/File::stat.") and has no '/' after it (a page in that folder, not in
     * a folder below it), with its lead chunk (position 0) and its title (malloc'd, freed
     * by the caller). INNGEST_ENOTFOUND when there is none. */
    int (*named_doc)(struct ing_rag_backend *b, const char *prefix, int64_t *doc,
                     int64_t *lead_chunk, char **title, inngest_error *err);

    /* Optional (NULL: none). Bracket a run of reads the generic store makes under one
     * hold of its backend lock (the hits of a search), so a backend can serve them from
     * one snapshot or transaction instead of one per read. read_begin returns a token
     * (non-zero when it opened something) that read_end receives. */
    int (*read_begin)(struct ing_rag_backend *b);
    void (*read_end)(struct ing_rag_backend *b, int token);

    /*
     * Parallel searches, optional (neither: every search call is serialised with the rest).
     * concurrent_reads non-zero: filter, keyword, doc_titles, named_doc, load_vectors,
     * read_chunk, read_begin and read_end may be called from several threads at once, and
     * while any other function runs (a backend with a pool of connections).
     * open_reader non-NULL: opens another instance over the same store (SQLite: another
     * connection to the file) that the generic store uses for those reads only, from one
     * thread at a time, alongside the main instance's calls; it is closed with close().
     * When it fails with INNGEST_EINVAL (the store can have none), every later search
     * goes through the main instance, serialised; after any other failure the searches
     * of the next second do, then opening one is tried again.
     */
    int concurrent_reads;
    int (*open_reader)(struct ing_rag_backend *b, struct ing_rag_backend **out,
                       inngest_error *err);

    /* Optional (NULL: nothing to do): called once the generic store is open and
     * b->store is set, before the store is returned to its caller. A backend that runs
     * threads of its own (a listener for changes made by other writers) starts them here.
     * A failure closes the store. */
    int (*attach)(struct ing_rag_backend *b, inngest_error *err);

    /* Optional (NULL: no other process shares this store). Sends `msg` (checked by the
     * generic store: 1..INNGEST_RAG_MESSAGE_MAX bytes, no NUL) to the other processes
     * that have the store open; they pass it to ing_rag_store_deliver(), and this process
     * does not. Called WITHOUT the generic store's backend mutex, from any thread, so it
     * must be thread-safe on its own. */
    int (*publish)(struct ing_rag_backend *b, const char *msg, size_t len, inngest_error *err);

    /* Closes the store and frees `b`. */
    void (*close)(struct ing_rag_backend *b);
};

/* A backend instance: implementations embed it as their first member. */
struct ing_rag_backend {
    const struct ing_rag_backend_ops *ops;
    /* The generic store over this backend, set by inngest_rag_store_create() once the
     * backend is open: a backend that learns of changes made by other writers passes them
     * to ing_rag_store_apply_change(). */
    inngest_rag_store *store;
};

/* ---- backends -------------------------------------------------------------------------- */

/*
 * The SQLite backend (store_sqlite.c, the only file that includes sqlite3.h): one file
 * in WAL mode, created when absent. `fast_sync` non-zero sets synchronous=NORMAL instead
 * of FULL.
 */
int ing_rag_sqlite_open(const char *path, int fast_sync, struct ing_rag_backend **out,
                        inngest_error *err);

/*
 * The PostgreSQL backend (store_pg.c, the only file that includes libpq-fe.h; built when
 * libpq is found, INNGEST_HAVE_LIBPQ): `url` is a libpq connection URI (postgresql://...
 * or postgres://...), `pool_size` the most connections it opens (0: 8). Creates or
 * upgrades its tables on its first connection, under an advisory lock. Its attach() starts
 * a thread that listens for other writers' changes and applies them with
 * ing_rag_store_apply_change(), and after a lost connection reloads the index with
 * ing_rag_store_reload(). With `lazy`, a server that cannot be reached is not an error:
 * the backend opens unconnected (its calls fail with INNGEST_EUNAVAILABLE) and the
 * listener connects, migrates and reloads the index once the server answers.
 */
int ing_rag_pg_open(const char *url, int pool_size, int lazy, struct ing_rag_backend **out,
                    inngest_error *err);

/* ---- for backends: changes made elsewhere ---------------------------------------------- */

/*
 * Brings the in-memory index up to date after another writer changed the store: the
 * vectors of document `old_doc` (0: none) are dropped and those of `new_doc` (0: none)
 * loaded from the backend. A replaced document is (old id, new id), an added one
 * (0, new id), a deleted one (old id, 0); (0, id) reloads document `id` whatever happened
 * to it (a deleted one's vectors are dropped). Applying a change twice, or one this store
 * made itself, is harmless. An unbound store rereads its binding first.
 * Call it from any thread that is not inside a backend function (it takes the store's
 * locks and calls the backend).
 */
int ing_rag_store_apply_change(inngest_rag_store *s, int64_t old_doc, int64_t new_doc,
                               inngest_error *err);

/*
 * Rebuilds the whole in-memory index from the backend (binding included, when the store
 * was unbound), for a backend that may have missed changes (its listener lost its
 * connection). Searches go on with the old index while the new one loads, so memory
 * briefly holds both. INNGEST_EMISMATCH when the backend is now bound to another
 * embedder (the old index stays). Same threads rule as ing_rag_store_apply_change().
 */
int ing_rag_store_reload(inngest_rag_store *s, inngest_error *err);

/* Hands a message another process published (see the publish op) to the store's
 * subscriber, if any. `msg` is NUL-terminated. Any thread. */
void ing_rag_store_deliver(inngest_rag_store *s, const char *msg, size_t len);

#endif
