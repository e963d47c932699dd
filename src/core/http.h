/* SPDX-License-Identifier: MIT */
/*
 * Small HTTP helpers shared by the core: name=value lists, query-string lookup with
 * percent-decoding and URL assembly. Standard library only.
 */
#ifndef ING_HTTP_H
#define ING_HTTP_H

#include <stddef.h>

/* Pairs `name=value` in a list separated by one character: a query string ('&'), the
 * X-Inngest-Signature header ('&'), a Cookie header (';'). Flags: */
#define ING_PAIR_BARE 1 /* a bare `name` (no '=') is present with an empty value */
#define ING_PAIR_OWS  2 /* spaces at the start of a pair are skipped ("a=1; b=2") */

/* The raw value of the first pair named `name` (not decoded, not NUL-terminated, `*vlen`
 * bytes), or NULL when there is none. */
const char *ing_pair_find(const char *list, char sep, int flags, const char *name, size_t *vlen);

/* Copies that raw value into `out` (`out_len` bytes with the NUL). Returns 1 when found,
 * 0 when absent, -1 when it does not fit. */
int ing_pair_get(const char *list, char sep, int flags, const char *name, char *out,
                 size_t out_len);

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
