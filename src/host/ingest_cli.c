/* SPDX-License-Identifier: MIT */
/* The ingest command: files and folders into the RAG store, with progress. */
#include "fmacros.h"

#include "host/ingest_cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/ai_setup.h"
#include "host/log.h"
#include "host/routes.h"

struct progress {
    int tty;
    struct host_ai *ai;
};

static void usage(FILE *to) {
    fprintf(to,
            "usage: inngest-host ingest [--store PATH] [--force] PATH...\n"
            "       inngest-host ingest [--store PATH] --list\n"
            "       inngest-host ingest [--store PATH] --delete KEY\n"
            "  PATH            a file, or a folder: every .md, .markdown, .txt, .text and .rst\n"
            "                  file under it (hidden entries skipped); keys are the paths\n"
            "  --store PATH    the store: a file, sqlite:PATH, or postgresql://... (env\n"
            "                  RAG_STORE_URL or RAG_STORE_PATH, default data/rag-<embedder>.db)\n"
            "  --force         re-embed documents whose text did not change\n"
            "  --list          list the documents in the store\n"
            "  --delete KEY    remove the document with this key\n"
            "Embeddings: OpenAI (OPENAI_API_KEY, OPENAI_BASE_URL, OPENAI_EMBEDDING_MODEL) when a\n"
            "key is set, else the offline hashing embedder; RAG_EMBEDDER=hash|openai forces one.\n"
            "A running host on the same SQLite file reads documents added here when it\n"
            "restarts (POST /api/rag/documents adds them at once); hosts on the same\n"
            "PostgreSQL database see them within a second.\n");
}

static void on_progress(void *user, const inngest_rag_progress *p) {
    struct progress *pr = user;
    if (p->status == 0 && !pr->tty)
        return;
    if (!pr->tty) {
        if (p->status > 0)
            fprintf(stderr, "%-9s %s\n", inngest_rag_status_name(p->status), p->path);
        else
            fprintf(stderr, "%-9s %s: %s\n", "failed", p->path,
                    p->error ? p->error : inngest_strerror(p->status));
        return;
    }
    enum { WIDTH = 28 };
    double frac = p->bytes_total   ? (double)p->bytes_done / (double)p->bytes_total
                  : p->files_total ? (double)p->files_done / p->files_total
                                   : 1;
    int fill = (int)(frac * WIDTH + 0.5);
    char bar[WIDTH + 1];
    for (int i = 0; i < WIDTH; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[WIDTH] = '\0';
    const char *name = p->path ? p->path : "";
    size_t len = strlen(name);
    if (len > 40)
        name += len - 40;
    fprintf(stderr, "\r\033[K[%s] %3d%%  %zu/%zu files  %zu chunks  %s", bar, (int)(frac * 100),
            p->files_done, p->files_total, p->chunks, name);
    if (p->status < 0)
        fprintf(stderr, "\r\033[Kfailed    %s: %s\n", p->path,
                p->error ? p->error : inngest_strerror(p->status));
    fflush(stderr);
}

static int list_documents(struct host_ai *ai) {
    inngest_error err;
    json_t *list = inngest_rag_store_list(ai->store, &err);
    if (!list) {
        fprintf(stderr, "inngest-host ingest: %s\n", err.message);
        return 1;
    }
    size_t i;
    json_t *d;
    json_array_foreach(list, i, d) {
        printf("%-50s %5lld chunks %8lld bytes  %s\n", json_string_value(json_object_get(d, "key")),
               (long long)json_integer_value(json_object_get(d, "chunks")),
               (long long)json_integer_value(json_object_get(d, "bytes")),
               json_string_value(json_object_get(d, "title"))
                   ? json_string_value(json_object_get(d, "title"))
                   : "");
    }
    inngest_rag_store_info info;
    if (inngest_rag_store_get_info(ai->store, &info, &err)) {
        fprintf(stderr, "%s\n", err.message);
        json_decref(list);
        return 1;
    }
    printf("%zu documents, %zu chunks in %s (embedder %s, %d dimensions)\n", info.documents,
           info.chunks, ai->store_path, info.embedder_id[0] ? info.embedder_id : ai->embedder->id,
           info.dim ? info.dim : ai->embedder->dim);
    json_decref(list);
    return 0;
}

static int delete_document(struct host_ai *ai, const char *key) {
    inngest_error err;
    int rc = inngest_rag_store_delete(ai->store, key, &err);
    if (rc == INNGEST_ENOTFOUND) {
        fprintf(stderr, "inngest-host ingest: no document has the key %s (see --list)\n", key);
        return 1;
    }
    if (rc) {
        fprintf(stderr, "inngest-host ingest: %s\n", err.message);
        return 1;
    }
    printf("deleted %s from %s\n", key, ai->store_path);
    return 0;
}

static int ingest_paths(struct host_ai *ai, char **paths, int n, int force) {
    struct progress pr = {.tty = isatty(STDERR_FILENO), .ai = ai};
    inngest_rag_ingest_opts opts = {.force = force, .progress = on_progress, .progress_user = &pr};
    inngest_rag_ingest_stats total = {0};
    double t0 = host_mono_s();
    int failed_paths = 0;
    for (int i = 0; i < n; i++) {
        inngest_rag_ingest_stats st = {0};
        inngest_error err;
        inngest_error_clear(&err);
        int rc = inngest_rag_ingest_path(ai->store, ai->embedder, paths[i], &opts, &st, &err);
        if (pr.tty)
            fprintf(stderr, "\r\033[K");
        if (rc) {
            failed_paths++;
            fprintf(stderr, "inngest-host ingest: %s: %s\n", paths[i], err.message);
        }
        if (rc && st.files == 0)
            total.failed++; /* the path itself could not be read */
        total.files += st.files;
        total.added += st.added;
        total.replaced += st.replaced;
        total.unchanged += st.unchanged;
        total.failed += st.failed;
        total.chunks += st.chunks;
        total.bytes += st.bytes;
    }
    printf("%zu files: %zu added, %zu replaced, %zu unchanged, %zu failed; %zu chunks in %.2f s "
           "(%s)\n",
           total.files, total.added, total.replaced, total.unchanged, total.failed, total.chunks,
           host_mono_s() - t0, ai->store_path);
    return failed_paths || total.failed ? 1 : 0;
}

int host_ingest_main(int argc, char **argv) {
    static const struct option longopts[] = {
        {"store", required_argument, NULL, 's'}, {"force", no_argument, NULL, 'f'},
        {"list", no_argument, NULL, 'l'},        {"delete", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0}};
    const char *store = NULL, *del = NULL;
    int force = 0, list = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
            case 's':
                store = optarg;
                break;
            case 'f':
                force = 1;
                break;
            case 'l':
                list = 1;
                break;
            case 'd':
                del = optarg;
                break;
            case 'h':
                usage(stdout);
                return 0;
            default:
                usage(stderr);
                return 2;
        }
    }
    int paths = argc - optind;
    if ((list || del) + (paths > 0) != 1 || (list && del)) {
        fprintf(stderr, "inngest-host ingest: give paths to ingest, or --list, or --delete KEY\n");
        usage(stderr);
        return 2;
    }
    struct host_ai ai;
    inngest_error err;
    inngest_error_clear(&err);
    if (host_ai_open(&ai, store, 0, &err) != INNGEST_OK) {
        fprintf(stderr, "inngest-host ingest: %s\n", err.message);
        return 1;
    }
    int rc;
    if (list)
        rc = list_documents(&ai);
    else if (del)
        rc = delete_document(&ai, del);
    else {
        fprintf(stderr, "ingesting into %s with embedder %s (%d dimensions)\n", ai.store_path,
                ai.embedder->id, ai.embedder->dim);
        rc = ingest_paths(&ai, argv + optind, paths, force);
    }
    host_ai_close(&ai);
    return rc;
}
