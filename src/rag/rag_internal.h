/* SPDX-License-Identifier: MIT */
/*
 * Internals of the RAG half of inngest_ai: the int8 vector index held in memory, its scan
 * kernels, document-level fusion and the keyword-query builder. Pure and socket-free;
 * the generic store (store.c) adds locking around them, and a backend (backend.h) keeps
 * the documents.
 */
#ifndef ING_RAG_INTERNAL_H
#define ING_RAG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* ---- hashing ---------------------------------------------------------------------------- */

/* 64-bit FNV-1a (embed_hash.c): feature hashing and document content hashes. */
uint64_t ing_fnv1a64(const void *data, size_t len, uint64_t seed);
#define ING_FNV_OFFSET 0xcbf29ce484222325ULL

/* ---- kernels ---------------------------------------------------------------------------- */

/*
 * Scores `count` int8 vectors laid out `stride` bytes apart (stride is a multiple of 64,
 * zero-padded) against the query: out[i] = sum_j q[j] * codes[i][j]. `qu` is q + 128 as
 * unsigned bytes and `sums[i]` the sum of vector i's codes; the VNNI kernel, which
 * multiplies unsigned by signed bytes, needs both (q.c = (q+128).c - 128 * sum(c)).
 */
typedef void (*ing_dot_i8_fn)(const int8_t *codes, size_t stride, size_t count, const int8_t *q,
                              const uint8_t *qu, const int32_t *sums, int32_t *out);
typedef float (*ing_dot_f32_fn)(const float *a, const float *b, size_t n);

/* The fastest kernels this CPU runs (AVX-512 VNNI, AVX2 or portable C), chosen once.
 * `name` (optional) receives "avx512vnni", "avx2" or "scalar". INNGEST_RAG_KERNEL=scalar
 * (or avx2) in the environment forces a slower one, for tests and comparisons. */
ing_dot_i8_fn ing_kernel_dot_i8(const char **name);
ing_dot_f32_fn ing_kernel_dot_f32(void);
/* The portable versions, for tests that compare kernels. */
void ing_dot_i8_scalar(const int8_t *codes, size_t stride, size_t count, const int8_t *q,
                       const uint8_t *qu, const int32_t *sums, int32_t *out);
float ing_dot_f32_scalar(const float *a, const float *b, size_t n);

/* ---- quantisation ----------------------------------------------------------------------- */

/* The padded row length for `dim` int8 codes. */
size_t ing_stride(int dim);

/* int8 codes with one scale per vector: codes = round(v / scale), scale = max|v| / 127,
 * so v ~ codes * scale. Writes `stride` bytes (zero padding). Returns the sum of codes. */
int32_t ing_quantize(const float *v, int dim, size_t stride, int8_t *codes, float *scale);

/* Scales `v` to unit length (no-op for a zero vector). */
void ing_l2_normalize(float *v, int dim);

/* ---- the in-memory index ---------------------------------------------------------------- */

/* An open-addressing map int64 id (> 0) -> uint32, linear probing; key 0 = empty. */
struct ing_idmap {
    int64_t *keys;
    uint32_t *vals;
    size_t cap, n;
};

struct ing_vindex {
    int dim;
    size_t stride;
    size_t n, cap;
    int8_t *codes;  /* n * stride */
    float *scales;  /* n */
    int32_t *sums;  /* n */
    int64_t *ids;   /* n: chunk ids */
    int64_t *docs;  /* n: document ids (for source filters) */
    struct ing_idmap slots;      /* chunk id -> slot */
    struct ing_idmap doc_chunks; /* document id -> its chunks in the index */
};

struct ing_cand {
    int64_t id;
    int64_t doc;  /* its document id */
    float score; /* approximate cosine from the int8 codes */
};

int ing_vindex_init(struct ing_vindex *ix, int dim);
void ing_vindex_cleanup(struct ing_vindex *ix);
int ing_vindex_reserve(struct ing_vindex *ix, size_t n);
/* Adds a vector given as codes (stride bytes) and scale. Ids must be > 0 and new.
 * Returns 0, or -1 when memory runs out. */
int ing_vindex_add_codes(struct ing_vindex *ix, int64_t id, int64_t doc, const int8_t *codes,
                         float scale);
int ing_vindex_add(struct ing_vindex *ix, int64_t id, int64_t doc, const float *v);
/* Removes a vector (the last one moves into its slot). Returns 0, or -1 when absent. */
int ing_vindex_remove(struct ing_vindex *ix, int64_t id);
/* Removes every vector of document `doc`. Returns how many. */
size_t ing_vindex_remove_doc(struct ing_vindex *ix, int64_t doc);
/* How many vectors (chunks) of document `doc` the index holds: 0 when none, or when
 * `doc` is not > 0 (the ids every backend gives). */
size_t ing_vindex_doc_chunks(const struct ing_vindex *ix, int64_t doc);

/*
 * The `c` best vectors for the unit query `q` by approximate (int8) cosine, best first,
 * into `out` (room for c). `docs`, when non-NULL, keeps only vectors whose document id is
 * in the sorted array docs[0..ndocs). `threads` > 1 splits the scan. Returns the count.
 */
size_t ing_vindex_search(const struct ing_vindex *ix, const float *q, size_t c,
                         const int64_t *docs, size_t ndocs, int threads, struct ing_cand *out);

/* qsort/bsearch order of int64_t values, ascending. */
int ing_cmp_i64(const void *a, const void *b);

/* ---- fusion ----------------------------------------------------------------------------- */

/* A chunk of the final ranking. */
struct ing_fused {
    int64_t id;
    double score;
    int rank_a, rank_b; /* 1-based rank in each list, 0 when absent */
};

/* One chunk of a ranking (keyword or vector), best first. Higher scores are better. */
struct ing_rag_scored {
    int64_t id;     /* chunk id */
    int64_t doc_id; /* its document */
    int position;   /* its chunk number in the document (keyword rankings; 0 = the lead
                       chunk); -1 when unknown */
    double score;
};

/* How much more the first chunk of a document counts in keyword ranking: it introduces
 * the page (a name, a synopsis, an abstract), so a question about the page as a whole
 * matches it best. Measured on the dev splits of docs/rag.md's sets. */
#define ING_LEAD_BOOST 1.5
/* The document length prior: a document's keyword evidence is divided by
 * 1 + ING_DOC_PRIOR * ln(its chunks). Its best chunk is the best of more draws when it has
 * more chunks, so long pages (tables of contents, module lists, FAQs) that mention a bit
 * of everything won the questions meant for the short page about one thing. Measured on
 * the dev splits of docs/rag.md's sets. */
#define ING_DOC_PRIOR 0.05
/* The weight of a document's title affinity (ing_title_affinity(), 0..1) next to its
 * keyword evidence (0..1 after division by the query's best) in keyword and hybrid
 * ranking, and the part of the affinity that is the title's own coverage. Measured on the
 * dev splits of docs/rag.md's sets. */
#define ING_TITLE_WEIGHT 0.5
#define ING_TITLE_COVER 0.3
/* At most this many file name extensions are left out of a title's own letters. */
#define ING_TITLE_EXTENSIONS 2
/* Chunks of one document given before the next document's: 1, so k hits show k pages;
 * a second pass fills up to k with the other chunks, in document order. */
#define ING_PER_DOC 1

/* What the store knows of a keyword hit's document besides the hit. */
struct ing_doc_evidence {
    int chunks;   /* its chunk count; 0 = unknown (no length prior) */
    double title; /* ing_title_affinity() of its title and the query */
};

/* At most this many words of a question count for titles and anchors. */
#define ING_QUERY_WORDS 16

/* The words of a question that titles and anchors count: 3 or more characters, not
 * stopwords, each once, lowercased (63 bytes at most each). */
struct ing_query_words {
    int n;
    size_t len[ING_QUERY_WORDS];
    char w[ING_QUERY_WORDS][64];
};

/* Fills `out` with the words of `query`. Pure. */
void ing_query_words(const char *query, struct ing_query_words *out);

/*
 * How much of the query a document's title spells, 0..1. Reference pages are named
 * after what they describe, in abbreviations and compounds that the words of a question
 * do not match whole ("calculate time difference" and difftime, "complex exponential"
 * and cexp, "temporary file" and File::Temp). Each query word of 3 or more characters
 * that is not a stopword counts 1 when its first 4 characters (all of a 3-character
 * word) occur inside the title, 1/2 when only its first 3 do. The affinity is
 *     (1 - ING_TITLE_COVER) * (credit / words) + ING_TITLE_COVER * (covered / letters)
 * where covered/letters is the share of the title's letters those matches spell (of a
 * file name, "difftime.3.txt", without its extensions: up to ING_TITLE_EXTENSIONS last
 * segments of 5 characters or fewer after a dot). Case-insensitive, ASCII.
 * Pure.
 */
double ing_title_affinity(const struct ing_query_words *query, const char *title);

/*
 * Anchor text. Index pages (a table of contents, a module list, a "see also" section)
 * quote each page's one-line description next to its name, so a question that is such a
 * description finds the index before the page it describes. The store looks at the
 * ING_ANCHOR_CHUNKS best keyword chunks: when the line of one that matches the question
 * best holds at least ING_ANCHOR_COVER_NUM/ING_ANCHOR_COVER_DEN of the question's words
 * and opens with the name of a document stored beside it (a file of that name and any
 * extensions in the same folder), that document gets the chunk's keyword score as well.
 */
#define ING_ANCHOR_CHUNKS 3
#define ING_ANCHOR_COVER_NUM 3
#define ING_ANCHOR_COVER_DEN 4

/* The name that opens the line of `text` matching the most of the question's words
 * `query` (a token matches a word it equals or shares 5 leading characters with), when
 * that line matches at least ING_ANCHOR_COVER_NUM/DEN of them and there are 2 or more
 * (with fewer the store reads no chunk for anchors): the line's first run of letters,
 * digits and "_:.-+", without trailing ".:-+", copied into name[0..size). Returns 1 when
 * there is one (2 bytes or more, shorter than size), else 0. Pure. */
int ing_anchor_name(const struct ing_query_words *query, const char *text, char *name,
                    size_t size);

/*
 * Document-level fusion of a keyword ranking `kl` and a vector ranking `vl` (either may be
 * empty). Each document scores
 *     K(d) / max K  +  ING_TITLE_WEIGHT * T(d)
 *                   +  vector_weight * (V(d) - min V) / (max V - min V)
 * where K(d) is the best keyword score of its chunks (the lead chunk's times
 * ING_LEAD_BOOST), divided by 1 + ING_DOC_PRIOR * ln(n) when its document has n > 1
 * chunks, T(d) its title affinity (ev[i].chunks and ev[i].title for kl[i]; ev NULL: no
 * prior and no title evidence), and V(d) the best cosine of its chunks, min and max over
 * the documents of each list (a document absent from a list gets 0 for it). Documents are
 * ordered by that score (ties: the better single rank, then the lower id); the output
 * lists their chunks that appear in either ranking, best chunk first, at most ING_PER_DOC
 * per document before the next one, then the remaining chunks in document order, up to
 * `max`. out[i].score is the document's fused score, rank_a the chunk's 1-based rank in
 * `vl` and rank_b in `kl` (0 = absent). `out` needs room for `max` entries. Returns the
 * count, or (size_t)-1 when memory runs out. Pure.
 */
size_t ing_doc_fuse(const struct ing_rag_scored *kl, const struct ing_doc_evidence *ev, size_t nk,
                    const struct ing_rag_scored *vl, size_t nv, double vector_weight, size_t max,
                    struct ing_fused *out);

/* The weight of the vector ranking in hybrid search for vectors of `embedder_id`: low for
 * the hashing embedder ("hash-*", which matches words as keyword search does, but
 * without idf), 1 for a semantic embedding model. */
double ing_vector_weight(const char *embedder_id);

/* ---- keyword queries -------------------------------------------------------------------- */

/* The most terms a keyword query keeps: a question has far fewer, and each OR branch costs
 * FTS5 a pass over its postings (a 100 KB message of distinct words took seconds). */
#define ING_FTS_MAX_TERMS 64

/* Turns free text into an FTS5 query: every word becomes a quoted term (a word with inner
 * punctuation, like X-Inngest-Signature or INNGEST_EPARSE, a quoted phrase of its parts),
 * joined with OR; common English stopwords and repeated terms are dropped, and only the
 * first ING_FTS_MAX_TERMS distinct terms are kept. Returns a malloc'd string ("" when
 * nothing is left), or NULL when memory runs out. */
char *ing_fts_query(const char *text);

/* Non-zero for a common English stopword (lowercase ASCII input). */
int ing_is_stopword(const char *w, size_t len);

#endif
