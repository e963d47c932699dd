/* SPDX-License-Identifier: MIT */
/*
 * The wire shapes of the serve protocol: the call request envelope sent by the executor,
 * serialized errors, and op objects. Includes jansson and the public headers only.
 */
#ifndef ING_PROTO_H
#define ING_PROTO_H

#include <stdint.h>

#include <jansson.h>

#include "inngest/error.h"

/* A parsed call request. Every json_t is owned by `root`. */
struct ing_call {
    json_t *root;
    json_t *event;  /* object; {} when absent */
    json_t *events; /* array; [event] when absent or empty */
    json_t *steps;  /* object: hashed id -> saved value */
    json_t *stack;  /* array of hashed ids (may be empty) */
    const char *run_id;
    int attempt;
    int max_attempts; /* 0 when the request did not say */
    int disable_immediate_execution;
    int use_api;
    int version; /* -1 new run, 1, 2; 0 is refused */
};

/* Parses the raw body. On failure returns INNGEST_EPARSE with a message. `call` is empty
 * afterwards. Release with ing_call_cleanup(). */
int ing_call_parse(const char *body, size_t len, struct ing_call *call, inngest_error *err);
void ing_call_cleanup(struct ing_call *call);

/* A JSON string from text that may not be valid UTF-8 (a message cut short by a fixed
 * buffer, bytes quoted from a request): each byte that does not start a valid sequence
 * becomes '?'. Returns a new reference, NULL only when memory runs out. */
json_t *ing_json_text(const char *s);

/* A serialized error {name, message, stack}; the strings go through ing_json_text().
 * Returns a new reference. */
json_t *ing_error_json(const char *name, const char *message, const char *stack);

/* How a saved step value reads: {"data":x} -> x, {"error":e} -> e (is_error = 1),
 * {"input":…} alone -> not saved (returns NULL), anything else -> the value itself.
 * Returns a borrowed reference. */
json_t *ing_memo_unwrap(json_t *saved, int *is_error);

/* Parses an Inngest duration ("1h30m", "90s", "2d", "1w", "500ms") into milliseconds.
 * Returns INNGEST_OK or INNGEST_EINVAL. */
int ing_duration_parse(const char *s, int64_t *ms);

/* Formats milliseconds with the greatest units among w, d, h, m, s ("1h30m"); sub-second
 * remainders round up to a whole second. `out` needs 64 bytes. */
void ing_duration_format(int64_t ms, char out[64]);

/* Checks an RFC 3339 timestamp ("2030-01-01T00:00:00Z", offsets and fractions allowed). */
int ing_rfc3339_valid(const char *s);

/* Formats `ms` since the epoch as "2030-01-01T00:00:00.000Z". `out` needs 32 bytes. */
void ing_iso_time(int64_t ms, char out[32]);

#endif
