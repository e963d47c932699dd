/* SPDX-License-Identifier: MIT */
#include "fmacros.h"

#include <ctype.h>
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

int rag_test_on_pg(void) {
    const char *d = getenv("INNGEST_TEST_PG_DIR");
    return d && *d;
}

char *rag_test_pg_server(char *out, size_t size) {
    if (!rag_test_on_pg())
        return NULL;
    char path[1024];
    snprintf(path, sizeof(path), "%s/url", getenv("INNGEST_TEST_PG_DIR"));
    FILE *f = fopen(path, "r");
    if (!f || !fgets(out, (int)size, f)) {
        fprintf(stderr, "rag_testlib: cannot read %s (is the pg fixture running?)\n", path);
        abort();
    }
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    return out;
}

/* Databases made by this process, dropped at exit. */
#define MAX_DBS 64
static char dbs[MAX_DBS][64];
static int ndbs;
static char server[512];

/* Runs an SQL command on the server's maintenance database through psql. */
static int psql(const char *sql) {
    char base[600], cmd[1400];
    snprintf(base, sizeof(base), "%s", server);
    char *slash = strrchr(base, '/');
    if (slash)
        snprintf(slash, sizeof(base) - (size_t)(slash - base), "/postgres");
    snprintf(cmd, sizeof(cmd), "psql -X -q -v ON_ERROR_STOP=1 -d '%s' -c '%s' >/dev/null", base,
             sql);
    return system(cmd);
}

static void drop_dbs(void) {
    if (getpid() != owner)
        return;
    for (int i = 0; i < ndbs; i++) {
        char sql[128];
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS \"%.63s\" WITH (FORCE)", dbs[i]);
        psql(sql);
    }
}

char *rag_test_store_url(const char *name, char *out, size_t size) {
    if (!rag_test_on_pg())
        return rag_test_path(name, out, size);
    rag_test_dir(); /* sets `owner` */
    if (!server[0])
        rag_test_pg_server(server, sizeof(server));
    char db[64];
    int n = snprintf(db, sizeof(db), "t%ld_", (long)getpid());
    for (const char *p = name; *p && n < (int)sizeof(db) - 1; p++)
        db[n++] = isalnum((unsigned char)*p) ? (char)tolower((unsigned char)*p) : '_';
    db[n] = '\0';
    int known = 0;
    for (int i = 0; i < ndbs; i++)
        known |= !strcmp(dbs[i], db);
    if (!known) {
        char sql[128];
        snprintf(sql, sizeof(sql), "CREATE DATABASE \"%s\"", db);
        if (psql(sql) != 0 || ndbs == MAX_DBS) {
            fprintf(stderr, "rag_testlib: cannot create database %s on %s\n", db, server);
            abort();
        }
        if (!ndbs)
            atexit(drop_dbs);
        snprintf(dbs[ndbs++], sizeof(dbs[0]), "%s", db);
    }
    char base[600];
    snprintf(base, sizeof(base), "%s", server);
    char *slash = strrchr(base, '/');
    if (slash)
        *slash = '\0';
    snprintf(out, size, "%s/%s", base, db);
    return out;
}
