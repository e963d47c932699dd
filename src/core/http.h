/* SPDX-License-Identifier: MIT */
/*
 * Small HTTP helpers shared by the core: query-string lookup with percent-decoding and
 * URL assembly. Standard library only.
 */
#ifndef ING_HTTP_H
#define ING_HTTP_H

#include <stddef.h>

/* Finds `name` in the query string `query` (no leading '?'), percent-decodes its value
 * into `out` (at most `out_len` bytes including the NUL). Returns 1 when found, 0 when
 * absent, -1 when the value does not fit or is badly encoded. */
int ing_query_get(const char *query, const char *name, char *out, size_t out_len);

/* The value of a hex digit, or -1. */
int ing_hexval(char c);

/* Percent-encodes `s` for use in a query value. Returns malloc'd text or NULL. */
char *ing_url_encode(const char *s);

/* Splits a request target "/path?query" into a malloc'd path; `*query` points into
 * `target` after the '?', or to "" when there is none. */
char *ing_split_target(const char *target, const char **query);

#endif
