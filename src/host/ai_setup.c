/* SPDX-License-Identifier: MIT */
/* The model client, embedder and RAG store of the host and of its ingest command. */
#include "fmacros.h"

#include "host/ai_setup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <inngest/env.h>

#include "host/log.h"
#include "host/metrics.h"

/* The table written by src/ai/embed_corpus.cmake (target inngest_ai_corpus). */
struct inngest_ai_corpus_file {
    const char *name;
    const char *text;
    size_t len;
};
extern const struct inngest_ai_corpus_file inngest_ai_corpus[];
extern const size_t inngest_ai_corpus_count;

static const char *env_or(const char *name, const char *fallback) {
    const char *v = inngest_env_get(NULL, NULL, name);
    return v ? v : fallback;
}

/* The folder of a store given as a path or a sqlite: URI is created when missing; other
 * URIs name no folder. */
static int make_parent(const char *uri, inngest_error *err) {
    char dir[4096];
    const char *path = uri;
    if (!strncmp(uri, "sqlite:", strlen("sqlite:"))) {
        path = uri + strlen("sqlite:");
        if (!strncmp(path, "//", 2))
            path += 2;
    } else if (strstr(uri, "://")) {
        return INNGEST_OK;
    }
    snprintf(dir, sizeof(dir), "%.*s", (int)strcspn(path, path == uri ? "" : "?"), path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return INNGEST_OK;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0755) != 0 && errno != EEXIST)
            return inngest_error_set(err, INNGEST_EIO, "cannot create the folder %s: %s", dir,
                                     strerror(errno));
        *p = '/';
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return inngest_error_set(err, INNGEST_EIO, "cannot create the folder %s: %s", dir,
                                 strerror(errno));
    return INNGEST_OK;
}

/* data/rag-<id>.db, the id reduced to [A-Za-z0-9._-] ("openai:x" -> "openai-x"), plus
 * "-<dim>d" when the dimension is not the model's usual one. */
static void default_store_path(const inngest_rag_embedder *e, char *out, size_t n) {
    char id[sizeof(e->id)];
    size_t o = 0;
    for (const char *p = e->id; *p && o + 1 < sizeof(id); p++) {
        int ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                 *p == '.' || *p == '-' || *p == '_';
        id[o++] = ok ? *p : '-';
    }
    id[o] = '\0';
    int usual = !strncmp(e->id, "openai:", 7) ? inngest_ai_embedding_model_dim(e->id + 7) : 1536;
    if (usual && e->dim != usual)
        snprintf(out, n, "data/rag-%s-%dd.db", id, e->dim);
    else
        snprintf(out, n, "data/rag-%s.db", id);
}

/* `url` with its password (user:PASSWORD@ or password=...) replaced by ***, for logs and
 * answers. */
static void redact_url(const char *url, char *out, size_t n) {
    size_t o = 0;
    const char *at = NULL, *colon = NULL, *start = strstr(url, "://");
    if (start) {
        start += 3;
        size_t auth = strcspn(start, "/?");
        for (const char *p = start; p < start + auth; p++)
            if (*p == '@')
                at = p;
        if (at)
            colon = memchr(start, ':', (size_t)(at - start));
    }
    for (const char *p = url; *p && o + 1 < n;) {
        if (colon && p == colon + 1) {
            o += (size_t)snprintf(out + o, n - o, "***");
            p = at;
            continue;
        }
        if (p > url && (p[-1] == '?' || p[-1] == '&') && !strncmp(p, "password=", 9)) {
            o += (size_t)snprintf(out + o, n - o, "password=***");
            p += 9;
            while (*p && *p != '&')
                p++;
            continue;
        }
        out[o++] = *p++;
    }
    out[o < n ? o : n - 1] = '\0';
}

static int create_embedder(struct host_ai *ai, inngest_error *err) {
    const char *want = env_or("RAG_EMBEDDER", "auto");
    int openai;
    if (!strcmp(want, "auto"))
        openai = inngest_ai_client_has_key(ai->client);
    else if (!strcmp(want, "openai") || !strcmp(want, "hash"))
        openai = !strcmp(want, "openai");
    else
        return inngest_error_set(err, INNGEST_ECONFIG,
                                 "RAG_EMBEDDER must be auto, openai or hash (got \"%s\")", want);
    if (openai && !inngest_ai_client_has_key(ai->client))
        return inngest_error_set(err, INNGEST_ECONFIG,
                                 "RAG_EMBEDDER=openai needs OPENAI_API_KEY (or unset it for "
                                 "the offline hashing embedder)");
    ai->embedder_kind = openai ? "openai" : "hash";
    ai->embedder = openai ? inngest_rag_openai_embedder_create(ai->client, 0, err)
                          : inngest_rag_hash_embedder_create(0, err);
    return ai->embedder ? INNGEST_OK : (err && err->code ? err->code : INNGEST_ECONFIG);
}

int host_ai_open(struct host_ai *ai, const char *store_path, int wait_for_store,
                 inngest_error *err) {
    memset(ai, 0, sizeof(*ai));
    inngest_ai_opts o = {0}; /* every field from OPENAI_* */
    ai->client = inngest_ai_client_create(&o, err);
    int rc =
        ai->client ? create_embedder(ai, err) : (err && err->code ? err->code : INNGEST_ECONFIG);
    if (rc)
        goto fail;
    /* Where: --store, else RAG_STORE_URL, else RAG_STORE_PATH, else a file named after
     * the embedder. */
    char where[sizeof(ai->store_path)];
    const char *url = env_or("RAG_STORE_URL", NULL), *path = env_or("RAG_STORE_PATH", NULL);
    if (store_path && *store_path)
        snprintf(where, sizeof(where), "%s", store_path);
    else if (url)
        snprintf(where, sizeof(where), "%s", url);
    else if (path)
        snprintf(where, sizeof(where), "%s", path);
    else
        default_store_path(ai->embedder, where, sizeof(where));
    /* A URL may hold a password: only the redacted form is kept and shown. */
    redact_url(where, ai->store_path, sizeof(ai->store_path));
    rc = make_parent(where, err);
    if (rc)
        goto fail;
    inngest_rag_store_opts so = {.open_unavailable = wait_for_store};
    ai->store = inngest_rag_store_create(where, &so, err);
    memset(where, 0, sizeof(where));
    if (!ai->store) {
        char why[sizeof(err->message)];
        snprintf(why, sizeof(why), "%s", err ? err->message : "");
        /* Kept: "unavailable" (the database is down) is worth retrying, unlike EIO. */
        int code = err && err->code == INNGEST_EUNAVAILABLE ? INNGEST_EUNAVAILABLE : INNGEST_EIO;
        rc = inngest_error_set(err, code, "cannot open the RAG store %s: %s", ai->store_path, why);
        goto fail;
    }
    inngest_error cerr;
    if (inngest_rag_store_check(ai->store, ai->embedder->id, ai->embedder->dim, &cerr)) {
        inngest_rag_store_info info;
        inngest_rag_store_get_info(ai->store, &info, NULL); /* the binding is always filled */
        rc = inngest_error_set(
            err, INNGEST_EMISMATCH,
            "the RAG store %s was built with embedder %s (%d dimensions), "
            "but this configuration embeds with %s (%d dimensions). Point "
            "RAG_STORE_PATH (or RAG_STORE_URL, or --store) at another file or database "
            "(unset, it defaults to a file named after the embedder), or delete %s and "
            "re-ingest, or "
            "restore the settings it was built with",
            ai->store_path, info.embedder_id, info.dim, ai->embedder->id, ai->embedder->dim,
            ai->store_path);
        goto fail;
    }
    host_ai_update_gauges(ai);
    return INNGEST_OK;
fail:
    host_ai_close(ai);
    return rc;
}

void host_ai_close(struct host_ai *ai) {
    inngest_rag_store_destroy(ai->store);
    inngest_rag_embedder_destroy(ai->embedder);
    inngest_ai_client_destroy(ai->client);
    memset(ai, 0, sizeof(*ai));
}

void host_ai_log(const struct host_ai *ai, const char *generate_mode) {
    inngest_rag_store_info info;
    inngest_rag_store_get_info(ai->store, &info, NULL); /* counts of 0 when they cannot be read */
    int key = inngest_ai_client_has_key(ai->client);
    log_json(LOG_INFO, "chat",
             json_pack("{s:s,s:s,s:s,s:s,s:b,s:s,s:s,s:i,s:s,s:I,s:I,s:s}", "mode",
                       key ? "model" : "offline", "model",
                       key ? inngest_ai_client_chat_model(ai->client) : "offline", "base_url",
                       inngest_ai_client_base_url(ai->client), "generate",
                       generate_mode ? generate_mode : "", "api_key_set", key, "embedder",
                       ai->embedder->id, "embedder_kind", ai->embedder_kind, "dim",
                       ai->embedder->dim, "store", ai->store_path, "documents",
                       (json_int_t)info.documents, "chunks", (json_int_t)info.chunks, "kernel",
                       info.kernel ? info.kernel : ""));
    if (!key)
        log_msg(LOG_INFO, "no OPENAI_API_KEY: direct-mode answers quote the retrieved passages "
                          "without calling a model (set OPENAI_API_KEY for model answers)");
}

void host_ai_update_gauges(struct host_ai *ai) {
    if (!ai || !ai->store)
        return;
    inngest_rag_store_info info;
    if (inngest_rag_store_get_info(ai->store, &info, NULL))
        return; /* keep the last known counts */
    metrics_set("inngest_host_rag_documents", "", (double)info.documents);
    metrics_set("inngest_host_rag_chunks", "", (double)info.chunks);
}

void host_ai_count_ingest(struct host_ai *ai, const char *via, int status, size_t chunks) {
    char labels[96];
    snprintf(labels, sizeof(labels), "via=\"%s\",status=\"%s\"", via,
             inngest_rag_status_name(status));
    metrics_add("inngest_host_rag_documents_ingested_total", labels, 1);
    snprintf(labels, sizeof(labels), "via=\"%s\"", via);
    metrics_add("inngest_host_rag_chunks_ingested_total", labels, (double)chunks);
    host_ai_update_gauges(ai);
}

int host_ai_seed(struct host_ai *ai, size_t *docs, size_t *chunks, inngest_error *err) {
    size_t d = 0, c = 0;
    inngest_rag_store_info info;
    int rc = inngest_rag_store_get_info(ai->store, &info, err);
    for (size_t i = 0; info.documents == 0 && i < inngest_ai_corpus_count && !rc; i++) {
        const struct inngest_ai_corpus_file *f = &inngest_ai_corpus[i];
        inngest_rag_document doc = {.key = f->name,
                                    .source = f->name,
                                    .text = f->text,
                                    .text_len = f->len,
                                    .metadata = "{\"corpus\":\"built-in\"}"};
        inngest_rag_status status = 0;
        size_t n = 0;
        rc = f->len ? inngest_rag_ingest_document(ai->store, ai->embedder, &doc, NULL, &status, &n,
                                                  err)
                    : INNGEST_OK;
        if (!f->len)
            continue;
        host_ai_count_ingest(ai, "startup", rc ? rc : (int)status, n);
        d += !rc;
        c += n;
    }
    if (docs)
        *docs = d;
    if (chunks)
        *chunks = c;
    return rc;
}
