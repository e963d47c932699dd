/* SPDX-License-Identifier: MIT */
/*
 * Ingestion: document -> chunks -> embeddings -> store, for one text and for files and
 * folders. The CLI, the HTTP route and the library all come through here.
 */
#include "fmacros.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "core/utf8.h"
#include "inngest/rag.h"

#define MAX_FILE_BYTES (64u << 20)

int inngest_rag_ingest_document(inngest_rag_store *s, inngest_rag_embedder *e,
                                const inngest_rag_document *doc,
                                const inngest_rag_ingest_opts *opts,
                                inngest_rag_status *status_out,
                                size_t *chunks_out, inngest_error *err) {
    if (!doc || !doc->text || !doc->source || !*doc->source)
        return inngest_error_set(err, INNGEST_EINVAL, "a document needs a source and a text");
    const char *key = doc->key && *doc->key ? doc->key : doc->source;
    size_t len = doc->text_len ? doc->text_len : strlen(doc->text);
    /* The store repairs bad bytes in the text and title, but the key and source are the
     * document's identity and come back as JSON (listing, sources): one file name that is
     * not UTF-8 broke the listing of every document. */
    if (!ing_utf8_valid(key, strlen(key)) || !ing_utf8_valid(doc->source, strlen(doc->source)))
        return inngest_error_set(err, INNGEST_EINVAL,
                                 "the key or source of a document is not valid UTF-8 (rename "
                                 "the file, or give a UTF-8 key)");
    /* SQLite would keep the text only up to its first NUL: a binary file, not text. */
    if (memchr(doc->text, '\0', len))
        return inngest_error_set(err, INNGEST_EINVAL, "%s holds NUL bytes: a binary file, not text",
                                 key);
    int rc = inngest_rag_store_check(s, e->id, e->dim, err);
    if (rc)
        return rc;
    if (!opts || !opts->force) {
        inngest_rag_presence now;
        if ((rc = inngest_rag_store_presence(s, doc, &now, err)))
            return rc;
        if (now == INNGEST_RAG_CURRENT) {
            if (status_out)
                *status_out = INNGEST_RAG_UNCHANGED;
            if (chunks_out)
                *chunks_out = 0;
            return INNGEST_OK;
        }
    }
    inngest_rag_chunk *chunks = NULL;
    size_t n = 0;
    rc = inngest_rag_chunk_text(doc->text, len, opts ? &opts->chunk : NULL, &chunks, &n, err);
    if (rc)
        return rc;
    char **texts = calloc(n ? n : 1, sizeof(*texts));
    float *vecs = malloc((n ? n : 1) * (size_t)e->dim * sizeof(float));
    if (!texts || !vecs) {
        rc = inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        texts[i] = strndup(doc->text + chunks[i].offset, chunks[i].len);
        if (!texts[i]) {
            rc = inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
            goto done;
        }
    }
    if (n)
        rc = inngest_rag_embed(e, (const char *const *)texts, n, vecs, err);
    if (!rc) {
        inngest_rag_document d = *doc;
        d.key = key;
        d.text_len = len;
        rc = inngest_rag_store_put(s, &d, chunks, n, vecs, e->id, e->dim, status_out, err);
    }
    if (!rc && chunks_out)
        *chunks_out = n;
done:
    for (size_t i = 0; texts && i < n; i++)
        free(texts[i]);
    free(texts);
    free(vecs);
    free(chunks);
    return rc;
}

/* ---- files and folders ------------------------------------------------------------------ */

struct file_entry {
    char *path;
    size_t size;
};

struct file_list {
    struct file_entry *v;
    size_t n, cap;
};

static int text_file(const char *name) {
    static const char *const exts[] = {".md", ".markdown", ".txt", ".text", ".rst"};
    const char *dot = strrchr(name, '.');
    if (!dot)
        return 0;
    for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++)
        if (!strcasecmp(dot, exts[i]))
            return 1;
    return 0;
}

static int list_add(struct file_list *l, const char *path, size_t size) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct file_entry *v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n].path = strdup(path);
    if (!l->v[l->n].path)
        return -1;
    l->v[l->n++].size = size;
    return 0;
}

static int walk(const char *dir, struct file_list *l, int depth) {
    if (depth > 32)
        return 0; /* a symlink loop, most likely */
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        size_t n = strlen(dir) + strlen(de->d_name) + 2;
        char *p = malloc(n);
        if (!p) {
            rc = -1;
            break;
        }
        snprintf(p, n, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", de->d_name);
        struct stat st;
        if (stat(p, &st) == 0) {
            if (S_ISDIR(st.st_mode))
                rc = walk(p, l, depth + 1);
            else if (S_ISREG(st.st_mode) && text_file(de->d_name))
                rc = list_add(l, p, (size_t)st.st_size);
        }
        free(p);
    }
    closedir(d);
    return rc;
}

static int cmp_entry(const void *a, const void *b) {
    return strcmp(((const struct file_entry *)a)->path, ((const struct file_entry *)b)->path);
}

static void list_free(struct file_list *l) {
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].path);
    free(l->v);
}

static char *read_file(const char *path, size_t *len, inngest_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        inngest_error_set(err, INNGEST_EIO, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    struct ing_buf b = {0};
    char chunk[65536];
    size_t n;
    int rc = ing_buf_append(&b, "", 0);
    while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (b.len + n > MAX_FILE_BYTES) {
            inngest_error_set(err, INNGEST_ETOOBIG, "%s is larger than %u MiB", path,
                              MAX_FILE_BYTES >> 20);
            rc = 1;
            break;
        }
        if (ing_buf_append(&b, chunk, n)) {
            inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
            rc = 1;
        }
    }
    if (rc == 0 && ferror(f)) {
        inngest_error_set(err, INNGEST_EIO, "cannot read %s: %s", path, strerror(errno));
        rc = 1;
    }
    fclose(f);
    if (rc) {
        ing_buf_cleanup(&b);
        return NULL;
    }
    *len = b.len;
    return b.data;
}

int inngest_rag_ingest_path(inngest_rag_store *s, inngest_rag_embedder *e, const char *path,
                            const inngest_rag_ingest_opts *opts, inngest_rag_ingest_stats *stats,
                            inngest_error *err) {
    inngest_rag_ingest_stats local = {0};
    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof(*stats));
    struct stat st;
    if (stat(path, &st) != 0)
        return inngest_error_set(err, INNGEST_ENOTFOUND, "cannot read %s: %s", path,
                                 strerror(errno));
    struct file_list l = {0};
    int rc = INNGEST_OK;
    if (S_ISDIR(st.st_mode)) {
        if (walk(path, &l, 0))
            rc = inngest_error_set(err, INNGEST_EIO, "cannot list %s: %s", path,
                                   strerror(errno));
    } else if (list_add(&l, path, (size_t)st.st_size)) {
        rc = inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
    }
    if (rc) {
        list_free(&l);
        return rc;
    }
    /* Sorted: a deterministic order, and progress that reads well. */
    if (l.n)
        qsort(l.v, l.n, sizeof(*l.v), cmp_entry);
    inngest_rag_progress p = {.files_total = l.n};
    for (size_t i = 0; i < l.n; i++)
        p.bytes_total += l.v[i].size;
    int first_rc = INNGEST_OK;
    for (size_t i = 0; i < l.n; i++) {
        p.path = l.v[i].path;
        p.status = 0;
        p.error = NULL;
        if (opts && opts->progress)
            opts->progress(opts->progress_user, &p);
        inngest_error ferr;
        inngest_error_clear(&ferr);
        size_t len = 0, nchunks = 0;
        inngest_rag_status status = 0;
        char *text = read_file(l.v[i].path, &len, &ferr);
        int frc = text ? INNGEST_OK : ferr.code;
        if (text) {
            char key[4096];
            snprintf(key, sizeof(key), "%s%s", opts && opts->key_prefix ? opts->key_prefix : "",
                     l.v[i].path);
            inngest_rag_document d = {
                .key = key, .source = l.v[i].path, .text = text, .text_len = len};
            frc = inngest_rag_ingest_document(s, e, &d, opts, &status, &nchunks, &ferr);
            free(text);
        }
        stats->files++;
        p.files_done++;
        p.bytes_done += l.v[i].size;
        if (frc == INNGEST_OK) {
            stats->bytes += len;
            stats->chunks += nchunks;
            p.chunks += nchunks;
            stats->added += status == INNGEST_RAG_ADDED;
            stats->replaced += status == INNGEST_RAG_REPLACED;
            stats->unchanged += status == INNGEST_RAG_UNCHANGED;
            p.status = status;
        } else {
            stats->failed++;
            p.status = frc;
            p.error = ferr.message;
            if (first_rc == INNGEST_OK) {
                first_rc = frc;
                if (err)
                    *err = ferr;
            }
            /* A mismatched embedder fails every file the same way: stop at once. */
            if (frc == INNGEST_EMISMATCH) {
                if (opts && opts->progress)
                    opts->progress(opts->progress_user, &p);
                break;
            }
        }
        if (opts && opts->progress)
            opts->progress(opts->progress_user, &p);
    }
    list_free(&l);
    return first_rc;
}
