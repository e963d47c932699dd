/* SPDX-License-Identifier: MIT */
/*
 * Retrieval-augmented generation: a durable local store of document chunks with their
 * embeddings, a chunker, embedders, and hybrid (vector + keyword) search.
 *
 * The store is one SQLite file in WAL mode: documents, chunks, float32 vectors, int8
 * codes and an FTS5 (BM25) index, written in one transaction per document, so a document
 * whose put returned INNGEST_OK survives a crash (kill -9) at any later moment. On open
 * every vector's int8 codes (one scale per vector) are loaded into memory; a query scans
 * them all (exact top-k, SIMD), then rescores the best candidates with the float32
 * vectors. Keyword search is FTS5's BM25; hybrid search fuses both rankings with
 * reciprocal rank fusion, so exact names and error codes are found as well as meaning.
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

#define INNGEST_RAG_CHUNK_CHARS 1000
#define INNGEST_RAG_CHUNK_OVERLAP 200

typedef struct inngest_rag_chunk_opts {
    size_t max_chars;     /* target (and maximum) bytes per chunk; 0 = 1000 */
    size_t overlap_chars; /* bytes repeated from the previous chunk; 0 = 200; at most half */
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

typedef struct inngest_rag_store_opts {
    /* 0: synchronous=FULL, every acknowledged document is on disk (survives power loss).
     * 1: synchronous=NORMAL, faster; survives a process crash, may lose the last
     *    documents on power loss. */
    int fast_sync;
    int threads;   /* scan threads per query; 0 = INNGEST_RAG_THREADS or the CPU count */
    int rescore;   /* float32 rescoring candidates; 0 = max(5k, 50); -1 = none */
} inngest_rag_store_opts;

/* Opens (creating when absent) the store at `path`. Returns NULL and fills `err` when the
 * file cannot be opened, is not a store, or is from a newer schema. */
INNGEST_API inngest_rag_store *inngest_rag_store_open(const char *path,
                                                      const inngest_rag_store_opts *opts,
                                                      inngest_error *err);

/* Closes the store. NULL is a no-op. */
INNGEST_API void inngest_rag_store_close(inngest_rag_store *s);

typedef struct inngest_rag_store_info {
    char embedder_id[128]; /* "" while the store is empty and unbound */
    int dim;               /* 0 while unbound */
    size_t documents;
    size_t chunks;
    const char *kernel;    /* the scan kernel in use: "avx512vnni", "avx2" or "scalar" */
} inngest_rag_store_info;

INNGEST_API void inngest_rag_store_get_info(inngest_rag_store *s, inngest_rag_store_info *out);

/* INNGEST_OK when vectors of (`embedder_id`, `dim`) may be added to or searched in the
 * store; INNGEST_EMISMATCH with a message naming both embedders otherwise. An unbound
 * (never written) store accepts any. */
INNGEST_API int inngest_rag_store_check(inngest_rag_store *s, const char *embedder_id, int dim,
                                        inngest_error *err);

typedef struct inngest_rag_document {
    const char *key;      /* unique id; NULL = `source` */
    const char *source;   /* where it came from (path, URL); required */
    const char *title;    /* NULL = the first Markdown heading, else the source's file name */
    const char *text;     /* UTF-8 (invalid bytes are replaced) */
    size_t text_len;      /* 0 = strlen(text) */
    const char *metadata; /* optional JSON text, stored as is */
} inngest_rag_document;

/* What a put did. */
#define INNGEST_RAG_ADDED 1
#define INNGEST_RAG_REPLACED 2
#define INNGEST_RAG_UNCHANGED 3

/*
 * Adds a document with its chunks and their vectors (count * dim floats, any length: they
 * are normalised), replacing any document with the same key, in one durable transaction.
 * Binds an unbound store to (`embedder_id`, `dim`). `*status_out` (optional) receives
 * INNGEST_RAG_ADDED or INNGEST_RAG_REPLACED.
 */
INNGEST_API int inngest_rag_store_put(inngest_rag_store *s, const inngest_rag_document *doc,
                                      const inngest_rag_chunk *chunks, size_t count,
                                      const float *vectors, const char *embedder_id, int dim,
                                      int *status_out, inngest_error *err);

/* Deletes a document and its chunks. INNGEST_ENOTFOUND when there is none. */
INNGEST_API int inngest_rag_store_delete(inngest_rag_store *s, const char *key,
                                         inngest_error *err);

/* The content hash the store keeps for `key` (16 hex digits) into `out`, or
 * INNGEST_ENOTFOUND. */
INNGEST_API int inngest_rag_store_doc_hash(inngest_rag_store *s, const char *key,
                                           char out[17]);

/* Every document as [{key, source, title, chunks, bytes, hash, updatedAt, metadata}].
 * Returns a new reference, or NULL with `err` filled. */
INNGEST_API json_t *inngest_rag_store_list(inngest_rag_store *s, inngest_error *err);

/* The content hash of a document text (FNV-1a 64, 16 hex digits): how the store spots an
 * unchanged document. Pure. */
INNGEST_API void inngest_rag_content_hash(const char *text, size_t len, char out[17]);

/*
 * Staging, for ingestion in resumable steps: vectors of a document version (key + content
 * hash) saved batch by batch before the document itself is put. Putting the document
 * clears its staged vectors.
 */
INNGEST_API int inngest_rag_store_stage(inngest_rag_store *s, const char *key, const char *hash,
                                        size_t first, size_t count, const float *vectors,
                                        const char *embedder_id, int dim, inngest_error *err);

/* Loads staged vectors first..first+count into `out`; have[i] is set to 1 for each one
 * found, 0 otherwise. */
INNGEST_API int inngest_rag_store_load_staged(inngest_rag_store *s, const char *key,
                                              const char *hash, size_t first, size_t count,
                                              int dim, float *out, unsigned char *have,
                                              inngest_error *err);

/* ---- search ----------------------------------------------------------------------------- */

typedef enum inngest_rag_mode {
    INNGEST_RAG_HYBRID = 0, /* vector and keyword rankings fused (needs text and vector) */
    INNGEST_RAG_VECTOR,     /* cosine similarity only (needs vector) */
    INNGEST_RAG_KEYWORD,    /* BM25 only (needs text) */
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
    double score;        /* hybrid: the fused RRF score; vector: cosine; keyword: -bm25 */
    double vector_score; /* float32 cosine (vector and hybrid modes), else 0 */
    double keyword_score;/* -bm25 (higher is better), 0 when not matched */
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
    int status;         /* INNGEST_RAG_ADDED/REPLACED/UNCHANGED for a finished file, or 0 for
                           "starting", or a negative error code */
    const char *error;  /* with a negative status: why the file failed (borrowed, valid
                           during the callback), else NULL */
} inngest_rag_progress;

typedef void (*inngest_rag_progress_fn)(void *user, const inngest_rag_progress *p);

typedef struct inngest_rag_ingest_opts {
    inngest_rag_chunk_opts chunk;
    int force;                        /* re-embed even when the content hash is unchanged */
    inngest_rag_progress_fn progress; /* optional */
    void *progress_user;
    const char *key_prefix;           /* prefixed to each file's relative path to make keys */
} inngest_rag_ingest_opts;

typedef struct inngest_rag_ingest_stats {
    size_t files, added, replaced, unchanged, failed, chunks, bytes;
} inngest_rag_ingest_stats;

/* Chunks, embeds and puts one document (skipping it when its content hash is unchanged
 * unless opts->force). `*status_out` receives INNGEST_RAG_ADDED/REPLACED/UNCHANGED and
 * `*chunks_out` the chunk count (both optional). */
INNGEST_API int inngest_rag_ingest_document(inngest_rag_store *s, inngest_rag_embedder *e,
                                            const inngest_rag_document *doc,
                                            const inngest_rag_ingest_opts *opts,
                                            int *status_out, size_t *chunks_out,
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

/* The title a document gets when none is given: its first Markdown heading ("# Title"),
 * else the last path component of `source`. Writes at most size - 1 bytes. Pure. */
INNGEST_API void inngest_rag_derive_title(const char *text, size_t len, const char *source,
                                          char *out, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* INNGEST_RAG_H */
