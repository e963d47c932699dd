/* SPDX-License-Identifier: MIT */
/*
 * ingest-document: adds a document to the RAG store in resumable steps, so a long
 * document embedded batch by batch survives a crash or a failed embedding call without
 * paying again for the batches already done.
 *
 *   chunk            the same chunker as inngest_rag_ingest_document(); notes whether the
 *                    store already has this content for the key
 *   embed-batch…     one step per batch of chunks: embed and stage the vectors in the store
 *   store            inngest_rag_store_put_staged(): the staged vectors (embedding any
 *                    that are missing) and the document, in one transaction
 *
 * The stored result is the one inngest_rag_ingest_document() gives for the same document:
 * same chunks, same vectors (the embedder sees the same batches), same title and hash.
 * Public headers and the C library only.
 */
#define _POSIX_C_SOURCE 200809L /* strndup */

#include "chat_internal.h"

#include <stdlib.h>
#include <string.h>

#define MAX_SOURCE_BYTES 4096
#define DEFAULT_BATCH    64

/* The document of an event, pointing into its data (borrowed). */
struct document {
    const char *key, *source, *title, *text;
    size_t text_len;
};

/* Returns NULL when `data` is a valid rag/document.added payload, else why not (static). */
static const char *check_document(json_t *data) {
    if (!json_is_object(data))
        return "the event data must be an object {source, text, title?, key?, metadata?}";
    json_t *source = json_object_get(data, "source");
    if (!json_is_string(source) || !json_string_length(source) ||
        json_string_length(source) > MAX_SOURCE_BYTES)
        return "source must be a non-empty string of at most 4096 bytes";
    json_t *text = json_object_get(data, "text");
    if (!json_is_string(text))
        return "text must be a string";
    json_t *title = json_object_get(data, "title");
    if (title && !json_is_null(title) && !json_is_string(title))
        return "title must be a string";
    json_t *key = json_object_get(data, "key");
    if (key && !json_is_null(key) &&
        (!json_is_string(key) || !json_string_length(key) ||
         json_string_length(key) > MAX_SOURCE_BYTES))
        return "key must be a non-empty string of at most 4096 bytes";
    json_t *meta = json_object_get(data, "metadata");
    if (meta && !json_is_null(meta) && !json_is_object(meta))
        return "metadata must be an object";
    return NULL;
}

/* Reads a checked payload. The key defaults to the source, as in the store. */
static struct document document_of(json_t *data) {
    struct document d = {0};
    d.source = json_string_value(json_object_get(data, "source"));
    d.key = json_string_value(json_object_get(data, "key"));
    if (!d.key || !*d.key)
        d.key = d.source;
    d.title = json_string_value(json_object_get(data, "title"));
    json_t *text = json_object_get(data, "text");
    d.text = json_string_value(text);
    d.text_len = json_string_length(text);
    return d;
}

/* The store's view of a document (borrowing from `d`). */
static inngest_rag_document rag_document_of(const struct document *d, const char *metadata) {
    return (inngest_rag_document){.key = d->key,
                                  .source = d->source,
                                  .title = d->title,
                                  .text = d->text,
                                  .text_len = d->text_len,
                                  .metadata = metadata};
}

/* Fills `err` for a store or embedder failure: a mismatch cannot be retried away. */
static int store_error(int rc, inngest_error *err) {
    if (rc == INNGEST_EMISMATCH && err)
        err->no_retry = 1;
    return rc;
}

/* Fills `err` with a non-retriable error and returns `code`. */
static int for_good(inngest_error *err, int code, const char *message) {
    inngest_error_set(err, code, "%s", message);
    if (err)
        err->no_retry = 1;
    return code;
}

static int need_store(const struct chat_env *env, inngest_error *err) {
    if (env->store && env->embedder)
        return INNGEST_OK;
    return for_good(err, INNGEST_ECONFIG, "this host has no RAG store or embedder");
}

/* The chunk list of a chunk-step result as structs; checks every range against the text.
 * `*out` is malloc'd. */
static int chunks_of(json_t *chunked, const struct document *d, inngest_rag_chunk **out, size_t *n,
                     inngest_error *err) {
    json_t *list = json_object_get(chunked, "chunks");
    size_t count = json_array_size(list);
    inngest_rag_chunk *c = malloc((count ? count : 1) * sizeof(*c));
    if (!c)
        return chat_oom(err);
    for (size_t i = 0; i < count; i++) {
        json_t *item = json_array_get(list, i);
        json_int_t off = json_integer_value(json_object_get(item, "offset"));
        json_int_t len = json_integer_value(json_object_get(item, "len"));
        if (off < 0 || len <= 0 || (size_t)off > d->text_len ||
            (size_t)len > d->text_len - (size_t)off) {
            free(c);
            return for_good(err, INNGEST_EPARSE, "a chunk is outside the text");
        }
        c[i].offset = (size_t)off;
        c[i].len = (size_t)len;
    }
    *out = c;
    *n = count;
    return INNGEST_OK;
}

/* Embeds chunks `idx[0..n)` of `d` into `out` (n * dim floats, unit length). */
static int embed_chunks(inngest_rag_embedder *e, const struct document *d,
                        const inngest_rag_chunk *chunks, const size_t *idx, size_t n, float *out,
                        inngest_error *err) {
    char **texts = calloc(n ? n : 1, sizeof(*texts));
    int rc = texts ? INNGEST_OK : chat_oom(err);
    for (size_t i = 0; !rc && i < n; i++) {
        const inngest_rag_chunk *c = &chunks[idx[i]];
        if (!(texts[i] = strndup(d->text + c->offset, c->len)))
            rc = chat_oom(err);
    }
    if (!rc && n)
        rc = inngest_rag_embed(e, (const char *const *)texts, n, out, err);
    for (size_t i = 0; texts && i < n; i++)
        free(texts[i]);
    free(texts);
    return rc;
}

/* ---- steps -------------------------------------------------------------------------------- */

static int chunk_step(inngest_ctx *ctx, void *arg, json_t **out, inngest_error *err) {
    const struct chat_env *env = inngest_ctx_userdata(ctx);
    struct document d = document_of(arg);
    inngest_rag_chunk *chunks = NULL;
    size_t n = 0;
    json_t *list = NULL; /* new reference, released at cleanup */
    int rc = need_store(env, err);
    if (!rc)
        rc = store_error(
            inngest_rag_store_check(env->store, env->embedder->id, env->embedder->dim, err), err);
    inngest_rag_document doc = rag_document_of(&d, NULL);
    inngest_rag_presence presence;
    if (!rc)
        rc = inngest_rag_store_presence(env->store, &doc, &presence, err);
    if (rc)
        goto cleanup;
    char hash[17];
    inngest_rag_content_hash(d.text, d.text_len, hash);
    int existed = presence != INNGEST_RAG_ABSENT, unchanged = presence == INNGEST_RAG_CURRENT;
    if ((rc = inngest_rag_chunk_text(d.text, d.text_len, NULL, &chunks, &n, err)))
        goto cleanup;
    if (!(list = json_array())) {
        rc = chat_oom(err);
        goto cleanup;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_pack("{s:I,s:I}", "offset", (json_int_t)chunks[i].offset, "len",
                              (json_int_t)chunks[i].len);
        if (!c || json_array_append_new(list, c)) {
            rc = chat_oom(err);
            goto cleanup;
        }
    }
    *out = json_pack("{s:s,s:s,s:O,s:I,s:b,s:b}", "key", d.key, "hash", hash, "chunks", list,
                     "count", (json_int_t)n, "unchanged", unchanged, "existed", existed);
    if (!*out)
        rc = chat_oom(err);
cleanup:
    json_decref(list);
    free(chunks);
    return rc;
}

struct batch_args {
    json_t *data;    /* borrowed: the event data */
    json_t *chunked; /* borrowed: the chunk step's result */
    size_t first, count;
};

/* What the embed-batch and store steps work on: the document, its content hash and its
 * chunks (malloc'd), read back from the event and the chunk step's result. */
struct step_input {
    struct document d;
    const char *hash;
    inngest_rag_chunk *chunks;
    size_t n;
};

static int step_input_load(const struct chat_env *env, const struct batch_args *a,
                           struct step_input *in, inngest_error *err) {
    in->d = document_of(a->data);
    in->hash = json_string_value(json_object_get(a->chunked, "hash"));
    int rc = need_store(env, err);
    if (!rc)
        rc = chunks_of(a->chunked, &in->d, &in->chunks, &in->n, err);
    if (!rc && (!in->hash || a->first + a->count > in->n))
        rc = for_good(err, INNGEST_EPARSE, "the chunk step's result is malformed");
    return rc;
}

static int embed_batch_step(inngest_ctx *ctx, void *arg, json_t **out, inngest_error *err) {
    const struct chat_env *env = inngest_ctx_userdata(ctx);
    const struct batch_args *a = arg;
    inngest_rag_embedder *e = env->embedder;
    struct step_input in = {0};
    size_t *idx = NULL;
    float *vecs = NULL;
    int rc = step_input_load(env, a, &in, err);
    if (rc)
        goto cleanup;
    idx = malloc((a->count ? a->count : 1) * sizeof(*idx));
    vecs = malloc((a->count ? a->count : 1) * (size_t)e->dim * sizeof(float));
    if (!idx || !vecs) {
        rc = chat_oom(err);
        goto cleanup;
    }
    for (size_t i = 0; i < a->count; i++)
        idx[i] = a->first + i;
    if ((rc = embed_chunks(e, &in.d, in.chunks, idx, a->count, vecs, err)))
        goto cleanup;
    inngest_rag_document doc = rag_document_of(&in.d, NULL);
    rc = store_error(
        inngest_rag_store_stage(env->store, &doc, a->first, a->count, vecs, e->id, e->dim, err),
        err);
    if (rc)
        goto cleanup;
    *out = json_pack("{s:I,s:I}", "first", (json_int_t)a->first, "count", (json_int_t)a->count);
    if (!*out)
        rc = chat_oom(err);
cleanup:
    free(vecs);
    free(idx);
    free(in.chunks);
    return rc;
}

static int store_step(inngest_ctx *ctx, void *arg, json_t **out, inngest_error *err) {
    const struct chat_env *env = inngest_ctx_userdata(ctx);
    const struct batch_args *a = arg;
    struct step_input in = {0};
    char *metadata = NULL;
    inngest_rag_status status = INNGEST_RAG_UNCHANGED;
    int rc = step_input_load(env, a, &in, err);
    if (rc)
        goto cleanup;
    json_t *meta = json_object_get(a->data, "metadata");
    if (json_is_object(meta) && !(metadata = json_dumps(meta, JSON_COMPACT))) {
        rc = chat_oom(err);
        goto cleanup;
    }
    /* Staged vectors are used, missing ones embedded; nothing is written when the store
     * holds this content already. */
    inngest_rag_document doc = rag_document_of(&in.d, metadata);
    rc = store_error(inngest_rag_store_put_staged(env->store, env->embedder, &doc, in.chunks, in.n,
                                                  &status, err),
                     err);
    if (rc)
        goto cleanup;
    /* Unchanged now but not at the chunk step: an earlier attempt of this step put it and
     * failed before its result was saved. */
    if (status == INNGEST_RAG_UNCHANGED && !json_is_true(json_object_get(a->chunked, "unchanged")))
        status = json_is_true(json_object_get(a->chunked, "existed")) ? INNGEST_RAG_REPLACED
                                                                      : INNGEST_RAG_ADDED;
    *out = json_pack("{s:s,s:s,s:I}", "key", in.d.key, "status", inngest_rag_status_name(status),
                     "chunks", (json_int_t)in.n);
    if (!*out)
        rc = chat_oom(err);
cleanup:
    free(metadata);
    free(in.chunks);
    return rc;
}

/* ---- the function ------------------------------------------------------------------------- */

int chat_ingest_document(inngest_ctx *ctx, json_t **result) {
    const struct chat_env *env = inngest_ctx_userdata(ctx);
    json_t *data = json_object_get(inngest_ctx_event(ctx), "data");
    const char *bad = check_document(data);
    if (bad)
        return inngest_ctx_fail(ctx, INNGEST_FAIL_NO_RETRY, "invalid rag/document.added data: %s",
                                bad);
    json_t *chunked = NULL, *done = NULL, *stored = NULL; /* borrowed from the engine */
    INNGEST_STEP(inngest_step_run(ctx, "chunk", chunk_step, data, &chunked));

    struct batch_args a = {.data = data, .chunked = chunked};
    size_t n = (size_t)json_integer_value(json_object_get(chunked, "count"));
    /* The embedder's own batch size, so the vectors are those of a one-shot ingestion. */
    size_t batch =
        env->embedder && env->embedder->max_batch ? env->embedder->max_batch : DEFAULT_BATCH;
    if (!json_is_true(json_object_get(chunked, "unchanged"))) {
        for (a.first = 0; a.first < n; a.first += batch) {
            a.count = n - a.first < batch ? n - a.first : batch;
            /* Repeats become embed-batch:1, embed-batch:2… */
            INNGEST_STEP(inngest_step_run(ctx, "embed-batch", embed_batch_step, &a, &done));
        }
    }
    a.first = a.count = 0; /* the store step takes every chunk */
    INNGEST_STEP(inngest_step_run(ctx, "store", store_step, &a, &stored));
    *result = json_incref(stored);
    return INNGEST_OK;
}
