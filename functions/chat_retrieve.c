/* SPDX-License-Identifier: MIT */
/*
 * retrieve-context: the passages a chat answer may quote. Hybrid (or, without an embedder,
 * keyword) search of the RAG store on the last user message, restricted to the
 * selectedFilePathnames when given, after any ragContext the caller passed. handle-chat's
 * step and the host's direct mode both call chat_retrieve().
 * Public headers and the C library only.
 */
#include "chat.h"
#include "chat_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Passages retrieved when env->top_k is 0. */
#define DEFAULT_TOP_K 5
/* Room for a passage id: "context:N", or a document key, '#' and the chunk's position
 * (a longer key is cut; the id only labels the passage). */
#define CONTEXT_ID_BYTES 32
#define HIT_ID_BYTES     1200
/* The score of a passage that has none (the caller's own context). */
#define NO_SCORE (-1.0)

/* Borrowed: the content of the last user message of a checked request. */
static const char *last_user_content(json_t *request) {
    json_t *msgs = json_object_get(request, "messages");
    for (size_t i = json_array_size(msgs); i-- > 0;) {
        json_t *m = json_array_get(msgs, i);
        if (!strcmp(chat_str(m, "role", ""), "user"))
            return chat_str(m, "content", NULL);
    }
    return NULL;
}

/* Appends a passage. `score` < 0 means none (NO_SCORE). */
static int add_passage(json_t *passages, const char *id, const char *title, const char *source,
                       double score, const char *text) {
    json_t *p = json_pack("{s:s,s:s,s:s,s:o,s:s}", "id", id, "title", title ? title : "", "source",
                          source ? source : "", "score", score < 0 ? json_null() : json_real(score),
                          "text", text ? text : "");
    return p ? json_array_append_new(passages, p) : -1;
}

/* The ragContext of a request (a string or an array of strings) as passages. */
static int add_given_context(json_t *passages, json_t *rag) {
    size_t n = json_is_array(rag) ? json_array_size(rag) : json_is_string(rag) ? 1 : 0;
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_is_array(rag) ? json_array_get(rag, i) : rag;
        const char *text = json_string_value(s);
        if (!text || chat_is_blank(text))
            continue;
        char id[CONTEXT_ID_BYTES];
        snprintf(id, sizeof(id), "context:%zu", i + 1);
        if (add_passage(passages, id, "Context given with the request", "request", NO_SCORE, text))
            return -1;
    }
    return 0;
}

/* Searches the store; with a source filter it embeds the query itself, because
 * inngest_rag_search() takes no filter. */
static int search(const struct chat_env *env, const char *query, const char *const *sources,
                  size_t nsources, inngest_rag_results *out, inngest_error *err) {
    int k = env->top_k > 0 ? env->top_k : DEFAULT_TOP_K;
    inngest_rag_embedder *e = env->embedder;
    inngest_rag_mode mode = e ? INNGEST_RAG_HYBRID : INNGEST_RAG_KEYWORD;
    if (!nsources)
        return inngest_rag_search(env->store, e, query, k, mode, out, err);
    float *v = NULL;
    int rc = INNGEST_OK;
    if (e) {
        if ((rc = inngest_rag_store_check(env->store, e->id, e->dim, err)))
            return rc;
        if (!(v = malloc((size_t)e->dim * sizeof(float))))
            return chat_oom(err);
        rc = inngest_rag_embed(e, &query, 1, v, err);
    }
    if (!rc) {
        inngest_rag_query q = {.text = query,
                               .vector = v,
                               .embedder_id = e ? e->id : NULL,
                               .dim = e ? e->dim : 0,
                               .k = k,
                               .mode = mode,
                               .sources = sources,
                               .source_count = nsources};
        rc = inngest_rag_store_search(env->store, &q, out, err);
    }
    free(v);
    return rc;
}

/* Appends the hits of the store for `query`. */
static int add_store_passages(const struct chat_env *env, json_t *request, const char *query,
                              json_t *passages, inngest_error *err) {
    json_t *sel = json_object_get(request, "selectedFilePathnames");
    size_t nsel = json_array_size(sel);
    const char **sources = NULL;
    inngest_rag_results res = {0};
    if (nsel && !(sources = calloc(nsel, sizeof(*sources))))
        return chat_oom(err);
    for (size_t i = 0; i < nsel; i++)
        sources[i] = json_string_value(json_array_get(sel, i));
    int rc = search(env, query, sources, nsel, &res, err);
    if (rc) {
        /* Vectors of another embedder: no retry can fix the configuration. */
        if (rc == INNGEST_EMISMATCH && err)
            err->no_retry = 1;
        goto cleanup;
    }
    for (size_t i = 0; i < res.count; i++) {
        const inngest_rag_hit *h = &res.hits[i];
        char id[HIT_ID_BYTES];
        snprintf(id, sizeof(id), "%s#%d", h->doc_key ? h->doc_key : "", h->position);
        if (add_passage(passages, id, h->title, h->source, h->score, h->text)) {
            rc = chat_oom(err);
            goto cleanup;
        }
    }
cleanup:
    inngest_rag_results_cleanup(&res);
    free(sources);
    return rc;
}

json_t *chat_retrieve(const struct chat_env *env, json_t *request, inngest_error *err) {
    const char *bad = chat_check_request(request);
    if (bad) {
        inngest_error_set(err, INNGEST_EINVAL, "%s", bad);
        if (err)
            err->no_retry = 1;
        return NULL;
    }
    const char *query = last_user_content(request);
    const char *mode = "none";       /* no store: only the caller's context */
    json_t *passages = json_array(); /* new reference, released at the end */
    json_t *out = NULL;
    if (!passages || add_given_context(passages, json_object_get(request, "ragContext"))) {
        chat_oom(err);
    } else if (env->store && add_store_passages(env, request, query, passages, err)) {
        /* err is filled */
    } else {
        if (env->store)
            mode = env->embedder ? "hybrid" : "keyword";
        out = json_pack("{s:s,s:O,s:s}", "query", query, "passages", passages, "mode", mode);
        if (!out)
            chat_oom(err);
    }
    json_decref(passages);
    return out;
}

json_t *chat_sources(json_t *context) {
    json_t *out = json_array(); /* new reference: returned */
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(context, "passages"), i, p) {
        json_t *score = json_object_get(p, "score");
        json_t *s = json_pack("{s:s,s:s,s:O}", "id", chat_str(p, "id", ""), "title",
                              chat_str(p, "title", ""), "score", score ? score : json_null());
        if (!s || json_array_append_new(out, s)) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}
