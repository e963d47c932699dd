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
    const char *fn_id; /* ctx.fn_id, the server's function UUID; NULL when absent */
    const char *qi_id; /* ctx.qi_id, the queue item being run; NULL when absent */
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

/* The fast path of ing_call_parse(): parses the common subset of JSON that the executor
 * sends (a top-level object or array; strings without escapes, valid UTF-8; integers of at
 * most 18 digits; true, false, null; nesting up to 64 levels; no duplicate keys) in one
 * pass, and returns NULL for everything else, valid or not, so that the caller falls back
 * to json_loadb(), which then gives the value or the error. What it accepts, jansson
 * accepts with JSON_REJECT_DUPLICATES and parses to the same tree, keys in the same order
 * (the fuzz target "call" checks this). jansson's own lexer costs ~100 instructions per
 * byte (a call and a one-byte memcpy per character); this path, none of that. */
json_t *ing_json_load_simple(const char *buf, size_t len);

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
