/* SPDX-License-Identifier: MIT */
#include "fmacros.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rag_testlib.h"

static char dir[512];
static pid_t owner;

static void remove_tree(const char *path) {
    DIR *d = opendir(path);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            char p[1024];
            snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
            remove_tree(p);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static void cleanup(void) {
    if (dir[0] && getpid() == owner) /* forked children leave it to the parent */
        remove_tree(dir);
}

const char *rag_test_dir(void) {
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof(dir), "%s/inngest-rag-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            abort();
        }
        owner = getpid();
        atexit(cleanup);
    }
    return dir;
}

char *rag_test_path(const char *name, char *out, size_t size) {
    snprintf(out, size, "%s/%s", rag_test_dir(), name);
    return out;
}
