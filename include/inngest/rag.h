/* SPDX-License-Identifier: MIT */
/*
 * Retrieval-augmented generation: a durable local store of document chunks with their
 * embeddings, a chunker, embedders, and hybrid (vector + keyword) search.
 *
 * A store keeps documents, chunks, float32 vectors and int8 codes in a backend named by a
 * URI ("sqlite:PATH", or a plain path: one SQLite file; see docs/rag.md for the backends
 * and their options), one transaction per document, so a document whose put returned
 * INNGEST_OK survives a crash (kill -9) at any later moment. On create every vector's int8
 * codes (one scale per vector) are loaded into memory; a query scans them all (exact
 * top-k, SIMD), then rescores the best candidates with the float32 vectors. Keyword
 * search is the backend's full-text ranking (BM25 for SQLite); hybrid search fuses both
 * rankings at the level of documents, weighting the vectors by how informative the
 * embedder is, so exact names and error codes are found as well as meaning. Hits come one
 * per document first.
 *
 * A store records the embedder (id and dimension) that built it and refuses vectors from
 * another one with INNGEST_EMISMATCH: vectors of two models do not share a space.
 *
 * Thread-safety: a store may be used from many threads at once (searches run in parallel;
 * writes are serialised). Embedders are thread-safe.
 */
#ifndef INNGEST_RAG_H
#define INNGEST_RAG_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "inngest/ai.h"
#include "inngest/error.h"
#include "inngest/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- embedders -------------------------------------------------------------------------- */

/*
 * An embedder turns texts into vectors of `dim` floats. `id` names the vector space
 * ("hash-v1", "openai:text-embedding-3-small"): two embedders with the same id and dim
 * must produce comparable vectors. Implementations embed this struct as first member.
 */
typedef struct inngest_rag_embedder inngest_rag_embedder;
struct inngest_rag_embedder {
    char id[128];
    int dim;
    size_t max_batch; /* texts per embed call the implementation prefers */
    /* Writes n * dim floats (any length; callers normalise). Returns INNGEST_OK or a
     * negative code with `err` filled (err->no_retry when retrying cannot help). */
    int (*embed)(inngest_rag_embedder *self, const char *const *texts, size_t n, float *out,
                 inngest_error *err);
    void (*destroy)(inngest_rag_embedder *self);
};

/*
 * The offline embedder: deterministic feature hashing (lowercased words and word pairs,
 * FNV-1a into `dim` signed buckets, 1 + ln(tf) weights). No model, no network, the same
 * vector for the same text on every machine. It matches words, not meaning: use it for
 * tests and when no API key is set. `dim` 0 means 1536.
 */
INNGEST_API inngest_rag_embedder *inngest_rag_hash_embedder_create(int dim, inngest_error *err);

/*
 * Embeddings from an OpenAI-compatible server through `client` (borrowed; it must outlive
 * the embedder). `dim` 0 means the model's known dimension (or OPENAI_EMBEDDING_DIMENSIONS);
 * for an unknown model the dimension is asked from the server with one probe request.
 */
INNGEST_API inngest_rag_embedder *inngest_rag_openai_embedder_create(inngest_ai_client *client,
                                                                     int dim, inngest_error *err);

/* Embeds `n` texts in batches of e->max_batch into `out` (n * e->dim floats), each scaled
 * to unit length. */
INNGEST_API int inngest_rag_embed(inngest_rag_embedder *e, const char *const *texts, size_t n,
                                  float *out, inngest_error *err);

/* NULL is a no-op. */
INNGEST_API void inngest_rag_embedder_destroy(inngest_rag_embedder *e);

/* ---- chunking --------------------------------------------------------------------------- */

#define INNGEST_RAG_CHUNK_BYTES 1000
#define INNGEST_RAG_CHUNK_OVERLAP_BYTES 200

/* Chunking options: a zeroed struct (or NULL) means the defaults. Sizes are in bytes of
 * UTF-8 text, not characters. */
typedef struct inngest_rag_chunk_opts {
    size_t max_bytes;     /* target (and maximum) bytes per chunk; 0 = 1000; at least 16 */
    size_t overlap_bytes; /* bytes repeated from the previous chunk; 0 = 200; at most half */
} inngest_rag_chunk_opts;

typedef struct inngest_rag_chunk {
    size_t offset; /* byte offset in the text */
    size_t len;    /* byte length; never splits a UTF-8 character */
} inngest_rag_chunk;

/* Splits `text` into chunks (see the chunker's rules in docs/rag.md). `*out` is malloc'd
 * (free() it); an empty or all-blank text gives 0 chunks. Pure. */
INNGEST_API int inngest_rag_chunk_text(const char *text, size_t len,
                                       const inngest_rag_chunk_opts *opts,
                                       inngest_rag_chunk **out, size_t *count,
                                       inngest_error *err);

/* ---- the store -------------------------------------------------------------------------- */

typedef struct inngest_rag_store inngest_rag_store;

/* inngest_rag_store_opts.rescore: rank by the int8 scores alone. */
#define INNGEST_RAG_RESCORE_OFF (-1)

/* Options of a store. A zeroed struct (or NULL) means every default; 0 is each field's
 * default. What belongs to one backend (SQLite's synchronous mode...) is in its URI. */
typedef struct inngest_rag_store_opts {
    int threads; /* scan threads per query; 0 = INNGEST_RAG_THREADS or the CPU count */
    int rescore; /* float32 rescoring candidates; 0 = max(5k, 50); INNGEST_RAG_RESCORE_OFF */
    /* Non-zero: a store on a server that cannot be reached now (a PostgreSQL URL; what
     * would fail with INNGEST_EUNAVAILABLE) opens anyway, empty and unbound. Its calls
     * answer INNGEST_EUNAVAILABLE until the server answers; then it creates or upgrades
     * its tables and loads itself. 0: inngest_rag_store_create() fails. SQLite ignores it. */
    int open_unavailable;
} inngest_rag_store_opts;

/*
 * Opens the store `uri` names, creating it when absent:
 *   sqlite:PATH[?synchronous=full|normal]   a SQLite file (WAL mode); synchronous=full (the
 *                                           default) makes every acknowledged document
 *                                           survive power loss, normal is faster and
 *                                           survives a process crash
 *   PATH                                    the same file, without parameters
 * Any other "scheme://" is INNGEST_EINVAL when this build has no backend for it. Returns
 * NULL and fills `err` when the store cannot be opened, is not a store, or has a newer
 * schema. Release it with inngest_rag_store_destroy().
 */
INNGEST_API inngest_rag_store *inngest_rag_store_create(const char *uri,
                                                        const inngest_rag_store_opts *opts,
                                                        inngest_error *err);

/* Closes the store. NULL is a no-op. */
INNGEST_API void inngest_rag_store_destroy(inngest_rag_store *s);

typedef struct inngest_rag_store_info {
    char embedder_id[128]; /* "" while the store is empty and unbound */
    int dim;               /* 0 while unbound */
    size_t documents;
    size_t chunks;
    const char *kernel;    /* the scan kernel in use: "avx512vnni", "avx2" or "scalar" */
    const char *backend;   /* "sqlite" */
} inngest_rag_store_info;

/* Fills `out` (zeroed first). The counts come from the backend, so this can fail
 * (INNGEST_EIO); the other fields are filled even then. */
INNGEST_API int inngest_rag_store_get_info(inngest_rag_store *s, inngest_rag_store_info *out,
                                           inngest_error *err);

/* INNGEST_OK when vectors of (`embedder_id`, `dim`) may be added to or searched in the
 * store; INNGEST_EMISMATCH with a message naming both embedders otherwise. An unbound
 * (never written) store accepts any. */
INNGEST_API int inngest_rag_store_check(inngest_rag_store *s, const char *embedder_id, int dim,
                                        inngest_error *err);

/* ---- messages between the processes that share a store ---------------------------------- */

/* The longest message inngest_rag_store_publish() takes, in bytes. */
#define INNGEST_RAG_MESSAGE_MAX 7900

/* Receives one message another process published: `len` bytes at `msg`, NUL-terminated,
 * borrowed for the call. Called from a thread of the store's; it must not call
 * inngest_rag_store_subscribe() or destroy the store. */
typedef void (*inngest_rag_message_fn)(void *user, const char *msg, size_t len);

/* 1 when other processes can open this store at the same time and hear what this one
 * publishes (PostgreSQL: every replica on one database), 0 when not (SQLite). */
INNGEST_API int inngest_rag_store_is_shared(const inngest_rag_store *s);

/*
 * Sends `msg` (at most INNGEST_RAG_MESSAGE_MAX bytes of UTF-8 without NUL) to the
 * subscriber of every other process that has the store open (PostgreSQL: NOTIFY on a
 * channel of the store's, in the order sent). Best effort: a process whose listener is
 * reconnecting misses it, and nothing is stored. With a store no other process shares,
 * nobody hears it and it succeeds. Any thread; it does not wait for the store's other
 * calls. INNGEST_EINVAL for a message too long or with a NUL, INNGEST_EUNAVAILABLE when
 * the database cannot be reached.
 */
INNGEST_API int inngest_rag_store_publish(inngest_rag_store *s, const char *msg, size_t len,
                                          inngest_error *err);

/* Sets the one function that receives other processes' messages (NULL: none). When it
 * returns, the previous function is not running and will not be called again. */
INNGEST_API void inngest_rag_store_subscribe(inngest_rag_store *s, inngest_rag_message_fn fn,
                                             void *user);

typedef struct inngest_rag_document {
    const char *key;      /* unique id; NULL = `source` */
    const char *source;   /* where it came from (path, URL); required */
    const char *title;    /* NULL = the first Markdown heading, else the source's file name */
    const char *text;     /* UTF-8 (invalid bytes are replaced) */
    size_t text_len;      /* 0 = strlen(text) */
    const char *metadata; /* optional JSON text, stored as is */
} inngest_rag_document;

/* What a put or an ingestion did with a document. Its own values (from 0x200), equal to no
 * status code and no flag. */
typedef enum inngest_rag_status {
    INNGEST_RAG_ADDED = 0x200, /* new key */
    INNGEST_RAG_REPLACED,      /* the key held other content */
    INNGEST_RAG_UNCHANGED,     /* the key held this content already: nothing written */
} inngest_rag_status;

/* "added", "replaced", "unchanged"; "failed" for a negative error code, "starting" for 0
 * (progress callbacks), "unknown" otherwise. Never NULL. */
INNGEST_API const char *inngest_rag_status_name(int status);

/*
 * Adds a document with its chunks and their vectors (count * dim floats, any length: they
 * are normalised), replacing any document with the same key, in one durable transaction.
 * Binds an unbound store to (`embedder_id`, `dim`). `*status_out` (optional) receives
 * INNGEST_RAG_ADDED or INNGEST_RAG_REPLACED.
 */
INNGEST_API int inngest_rag_store_put(inngest_rag_store *s, const inngest_rag_document *doc,
                                      const inngest_rag_chunk *chunks, size_t count,
                                      const float *vectors, const char *embedder_id, int dim,
                                      inngest_rag_status *status_out, inngest_error *err);

/* Deletes a document and its chunks. INNGEST_ENOTFOUND when there is none. */
INNGEST_API int inngest_rag_store_delete(inngest_rag_store *s, const char *key,
                                         inngest_error *err);

/* Every document as [{key, source, title, chunks, bytes, hash, updatedAt, metadata}].
 * Returns a new reference, or NULL with `err` filled. */
INNGEST_API json_t *inngest_rag_store_list(inngest_rag_store *s, inngest_error *err);

/* The content hash of a document text (FNV-1a 64, 16 hex digits; the "hash" of a listing):
 * how the store spots an unchanged document. Pure. */
INNGEST_API void inngest_rag_content_hash(const char *text, size_t len, char out[17]);

/* ---- resumable ingestion ---------------------------------------------------------------- */

/* How a document compares with what the store holds under its key. */
typedef enum inngest_rag_presence {
    INNGEST_RAG_ABSENT = 0, /* no document with the key */
    INNGEST_RAG_STALE,      /* the key holds other content */
    INNGEST_RAG_CURRENT,    /* the key holds this content */
} inngest_rag_presence;

INNGEST_API int inngest_rag_store_presence(inngest_rag_store *s, const inngest_rag_document *doc,
                                           inngest_rag_presence *out, inngest_error *err);

/*
 * For ingestion in resumable steps (each step may run in another process): saves the
 * vectors of chunks first..first+count of this version of `doc` (its key and content)
 * durably, for a later inngest_rag_store_put_staged(). Vectors are kept as given.
 */
INNGEST_API int inngest_rag_store_stage(inngest_rag_store *s, const inngest_rag_document *doc,
                                        size_t first, size_t count, const float *vectors,
                                        const char *embedder_id, int dim, inngest_error *err);

/*
 * Puts `doc` with its chunks, taking each chunk's vector from what was staged for this
 * version of the document and embedding the others with `e` (in one inngest_rag_embed()
 * call, so in e->max_batch batches). Idempotent: when the store already holds this
 * content under the key, nothing is embedded or written and `*status_out` (optional) is
 * INNGEST_RAG_UNCHANGED. The put clears the key's staged vectors.
 */
INNGEST_API int inngest_rag_store_put_staged(inngest_rag_store *s, inngest_rag_embedder *e,
                                             const inngest_rag_document *doc,
                                             const inngest_rag_chunk *chunks, size_t count,
                                             inngest_rag_status *status_out,
                                             inngest_error *err);

/* ---- search ----------------------------------------------------------------------------- */

typedef enum inngest_rag_mode {
    INNGEST_RAG_HYBRID = 0, /* vector and keyword rankings fused (needs text and vector) */
    INNGEST_RAG_VECTOR,     /* cosine similarity only (needs vector) */
    INNGEST_RAG_KEYWORD,    /* keyword ranking only (needs text) */
} inngest_rag_mode;

typedef struct inngest_rag_query {
    const char *text;          /* the question (keyword and hybrid modes) */
    const float *vector;       /* its embedding (vector and hybrid modes), dim floats */
    const char *embedder_id;   /* who made `vector`: checked against the store */
    int dim;
    int k;                     /* results wanted; 0 = 5 */
    inngest_rag_mode mode;
    const char *const *sources; /* optional filter: only documents with these keys or */
    size_t source_count;        /* sources */
} inngest_rag_query;

typedef struct inngest_rag_hit {
    char *doc_key, *source, *title, *text; /* owned */
    int position;        /* chunk number within the document, from 0 */
    int64_t chunk_id;
    double score;        /* hybrid and keyword: the fused score of the hit's document
                            (keyword evidence over the query's best, plus the weighted
                            vector evidence; see docs/rag.md); vector: cosine */
    double vector_score; /* cosine (vector and hybrid modes), else 0: float32, or the int8
                            estimate in hybrid with the hashing embedder */
    double keyword_score;/* the backend's keyword score, higher is better (SQLite: -BM25);
                            0 when not matched */
    int vector_rank, keyword_rank; /* 1-based ranks in each list; 0 = absent */
} inngest_rag_hit;

typedef struct inngest_rag_results {
    inngest_rag_hit *hits;
    size_t count;
} inngest_rag_results;

/* Runs a query. `out` is zeroed first; release it with inngest_rag_results_cleanup(). */
INNGEST_API int inngest_rag_store_search(inngest_rag_store *s, const inngest_rag_query *q,
                                         inngest_rag_results *out, inngest_error *err);

/* Embeds `text` with `e` and searches (vector and hybrid modes), or searches keywords. */
INNGEST_API int inngest_rag_search(inngest_rag_store *s, inngest_rag_embedder *e,
                                   const char *text, int k, inngest_rag_mode mode,
                                   inngest_rag_results *out, inngest_error *err);

INNGEST_API void inngest_rag_results_cleanup(inngest_rag_results *r);

/* ---- ingestion -------------------------------------------------------------------------- */

typedef struct inngest_rag_progress {
    const char *path;   /* the file being ingested */
    size_t files_done;  /* files finished so far */
    size_t files_total; /* files found */
    size_t bytes_done;  /* bytes of finished files */
    size_t bytes_total;
    size_t chunks;      /* chunks stored so far */
    int status;         /* an inngest_rag_status for a finished file, 0 when starting one,
                           or a negative error code (inngest_rag_status_name() names all) */
    const char *error;  /* with a negative status: why the file failed (borrowed, valid
                           during the callback), else NULL */
} inngest_rag_progress;

typedef void (*inngest_rag_progress_fn)(void *user, const inngest_rag_progress *p);

/* Options of an ingestion: a zeroed struct (or NULL) means every default. */
typedef struct inngest_rag_ingest_opts {
    inngest_rag_chunk_opts chunk;
    int force;                        /* non-zero: re-embed even an unchanged document */
    inngest_rag_progress_fn progress; /* optional */
    void *progress_user;
    const char *key_prefix;           /* prefixed to each file's relative path to make keys */
} inngest_rag_ingest_opts;

typedef struct inngest_rag_ingest_stats {
    size_t files, added, replaced, unchanged, failed, chunks, bytes;
} inngest_rag_ingest_stats;

/* Chunks, embeds and puts one document (skipping it when its content hash is unchanged
 * unless opts->force). `*status_out` receives what was done and `*chunks_out` the chunk
 * count (both optional). */
INNGEST_API int inngest_rag_ingest_document(inngest_rag_store *s, inngest_rag_embedder *e,
                                            const inngest_rag_document *doc,
                                            const inngest_rag_ingest_opts *opts,
                                            inngest_rag_status *status_out, size_t *chunks_out,
                                            inngest_error *err);

/*
 * Ingests a file, or every text file under a folder (.md, .markdown, .txt, .rst, .text;
 * hidden entries skipped), in sorted order. Keys are the path given plus the relative
 * path. A file that fails is counted in stats->failed and reported through the progress
 * callback; the others go on. Returns INNGEST_OK when every file succeeded, else the
 * first error (with `err` filled).
 */
INNGEST_API int inngest_rag_ingest_path(inngest_rag_store *s, inngest_rag_embedder *e,
                                        const char *path, const inngest_rag_ingest_opts *opts,
                                        inngest_rag_ingest_stats *stats, inngest_error *err);

/* The title a document gets when none is given: its first Markdown heading ("# Title":
 * 1 to 6 '#' and a space, within the first 40 lines), else the last path component of
 * `source`. Writes at most size - 1 bytes. Pure. */
INNGEST_API void inngest_rag_derive_title(const char *text, size_t len, const char *source,
                                          char *out, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* INNGEST_RAG_H */
