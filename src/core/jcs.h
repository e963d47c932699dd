/* SPDX-License-Identifier: MIT */
/*
 * JSON Canonicalization Scheme (RFC 8785) over jansson values: sorted keys (by UTF-16 code
 * units), no whitespace, minimal string escapes, numbers in ECMAScript form. The Inngest
 * executor canonicalises call bodies this way before signing them. Includes jansson only.
 */
#ifndef ING_JCS_H
#define ING_JCS_H

#include <stddef.h>

#include <jansson.h>

/* Returns the canonical text (malloc'd, NUL-terminated) and its length, or NULL when
 * memory runs out or `v` holds a non-finite number. */
char *ing_jcs_dump(const json_t *v, size_t *len);

/* Formats a finite double as ECMAScript's Number.prototype.toString does (shortest
 * round-trip digits). `out` needs 32 bytes. */
void ing_jcs_format_double(double d, char out[32]);

#endif
