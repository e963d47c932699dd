/* SPDX-License-Identifier: MIT */
/*
 * Process metrics in the Prometheus text format (version 0.0.4). Counters and histograms
 * keyed by a metric name and a preformatted label set; thread-safe.
 */
#ifndef HOST_METRICS_H
#define HOST_METRICS_H

#include <stddef.h>

/* Adds `v` to a counter. `labels` is the inside of {…}, e.g. "route=\"/healthz\"",
 * or "" for none. Names must be listed in metrics.c. */
void metrics_add(const char *name, const char *labels, double v);

/* Sets a gauge to `v`. */
void metrics_set(const char *name, const char *labels, double v);

/* Records one observation in a histogram (seconds-based buckets). */
void metrics_observe(const char *name, const char *labels, double v);

/* Renders every series. Returns malloc'd text, or NULL when memory runs out. */
char *metrics_render(size_t *len);

/* Escapes a label value into `out` (quotes, backslashes, newlines). */
void metrics_escape(const char *in, char *out, size_t out_len);

#endif
