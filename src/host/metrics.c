/* SPDX-License-Identifier: MIT */
/* A small Prometheus registry: a list of series under one mutex. Few series, rare
 * renders: simplicity beats lock-free cleverness here. */
#include "fmacros.h"

#include "host/metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

static const struct meta {
    const char *name;
    const char *type;
    const char *help;
} metas[] = {
    {"inngest_host_http_requests_total", "counter", "HTTP requests by route, method and status."},
    {"inngest_host_http_request_duration_seconds", "histogram", "HTTP request latency by route."},
    {"inngest_host_chat_requests_total", "counter", "Chat requests by mode and outcome."},
    {"inngest_host_chat_latency_seconds", "histogram", "Chat answer latency by mode."},
    {"inngest_host_model_calls_total", "counter", "Model API calls by kind and outcome."},
    {"inngest_host_model_tokens_total", "counter", "Model tokens by kind (prompt, completion)."},
    {"inngest_host_model_errors_total", "counter",
     "Failed model API calls by kind and provider HTTP status (0: no answer)."},
    {"inngest_host_rag_documents_ingested_total", "counter",
     "Documents ingested by way (startup, http, cli) and status."},
    {"inngest_host_rag_chunks_ingested_total", "counter",
     "Chunks embedded and stored, by way (startup, http, cli)."},
    {"inngest_host_rag_documents", "gauge", "Documents in the RAG store."},
    {"inngest_host_rag_chunks", "gauge", "Chunks in the RAG store."},
    {"inngest_host_events_sent_total", "counter", "Events sent to Inngest by outcome."},
    {"inngest_host_step_executions_total", "counter",
     "Protocol calls answered, by function and first op (or result)."},
    {"inngest_host_syncs_total", "counter", "Sync requests by HTTP status."},
};

static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                 0.25,  0.5,    1,     2.5,  5,     10,   30};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct series {
    const struct meta *meta;
    char *labels;
    double value;              /* counters: value; histograms: sum */
    unsigned long long count;  /* histograms */
    unsigned long long bucket[NBUCKETS];
    struct series *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct series *head;

static const struct meta *find_meta(const char *name) {
    for (size_t i = 0; i < sizeof(metas) / sizeof(metas[0]); i++)
        if (!strcmp(metas[i].name, name))
            return &metas[i];
    return NULL;
}

/* Finds or creates a series; call with the lock held. */
static struct series *get(const char *name, const char *labels) {
    const struct meta *m = find_meta(name);
    if (!m)
        return NULL;
    for (struct series *s = head; s; s = s->next)
        if (s->meta == m && !strcmp(s->labels, labels))
            return s;
    struct series *s = calloc(1, sizeof(*s));
    if (!s || !(s->labels = strdup(labels))) {
        free(s);
        return NULL;
    }
    s->meta = m;
    /* Keep series of one metric together, in first-seen order. */
    struct series **pp = &head, **last_same = NULL;
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->meta == m)
            last_same = &(*pp)->next;
    if (last_same) {
        s->next = *last_same;
        *last_same = s;
    } else {
        *pp = s;
    }
    return s;
}

static void update(const char *name, const char *labels, double v, int replace) {
    pthread_mutex_lock(&lock);
    struct series *s = get(name, labels);
    if (s)
        s->value = replace ? v : s->value + v;
    pthread_mutex_unlock(&lock);
}

void metrics_add(const char *name, const char *labels, double v) {
    update(name, labels, v, 0);
}

void metrics_set(const char *name, const char *labels, double v) {
    update(name, labels, v, 1);
}

void metrics_observe(const char *name, const char *labels, double v) {
    pthread_mutex_lock(&lock);
    struct series *s = get(name, labels);
    if (s) {
        s->value += v;
        s->count++;
        for (size_t i = 0; i < NBUCKETS; i++)
            if (v <= buckets[i])
                s->bucket[i]++;
    }
    pthread_mutex_unlock(&lock);
}

void metrics_escape(const char *in, char *out, size_t out_len) {
    size_t o = 0;
    for (; *in && o + 3 < out_len; in++) {
        if (*in == '"' || *in == '\\') {
            out[o++] = '\\';
            out[o++] = *in;
        } else if (*in == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = *in;
        }
    }
    out[o] = '\0';
}

/* "{a,b}" from two label lists, either possibly empty. */
static void join_labels(char *out, size_t n, const char *a, const char *b) {
    if (!*a && !*b)
        out[0] = '\0';
    else
        snprintf(out, n, "{%s%s%s}", a, *a && *b ? "," : "", b);
}

char *metrics_render(size_t *len) {
    struct ing_buf b;
    ing_buf_init(&b, 0);
    int rc = 0;
    pthread_mutex_lock(&lock);
    const struct meta *prev = NULL;
    for (struct series *s = head; s && !rc; s = s->next) {
        char lab[600], le[32];
        if (s->meta != prev) {
            rc = ing_buf_appendf(&b, "# HELP %s %s\n# TYPE %s %s\n", s->meta->name,
                                 s->meta->help, s->meta->name, s->meta->type);
            prev = s->meta;
        }
        if (strcmp(s->meta->type, "histogram") != 0) {
            join_labels(lab, sizeof(lab), s->labels, "");
            rc = rc ? rc : ing_buf_appendf(&b, "%s%s %.17g\n", s->meta->name, lab, s->value);
            continue;
        }
        for (size_t i = 0; i < NBUCKETS && !rc; i++) {
            snprintf(le, sizeof(le), "le=\"%g\"", buckets[i]);
            join_labels(lab, sizeof(lab), s->labels, le);
            rc = ing_buf_appendf(&b, "%s_bucket%s %llu\n", s->meta->name, lab, s->bucket[i]);
        }
        join_labels(lab, sizeof(lab), s->labels, "le=\"+Inf\"");
        rc = rc ? rc : ing_buf_appendf(&b, "%s_bucket%s %llu\n", s->meta->name, lab, s->count);
        join_labels(lab, sizeof(lab), s->labels, "");
        rc = rc ? rc : ing_buf_appendf(&b, "%s_sum%s %.17g\n", s->meta->name, lab, s->value);
        rc = rc ? rc : ing_buf_appendf(&b, "%s_count%s %llu\n", s->meta->name, lab, s->count);
    }
    pthread_mutex_unlock(&lock);
    if (rc) {
        ing_buf_cleanup(&b);
        return NULL;
    }
    return ing_buf_steal(&b, len);
}
