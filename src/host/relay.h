/* SPDX-License-Identifier: MIT */
/*
 * The token relay: text a run generates in this process (handle-chat's generate-response
 * in CHAT_GENERATE_MODE=run), keyed by the triggering event's id, for the result stream
 * (GET /api/chat/inngest/stream) to forward as `delta` events while the run goes on.
 *
 * A preview only: the run's saved result stays the answer. Memory is bounded: at most
 * `max_keys` keys of at most `max_bytes` each (text beyond that is dropped and the reader
 * waits for the result); a finished key is dropped `ttl_ms` after it ended, and when the
 * table is full the oldest key (finished ones first) makes room. Only this process sees
 * it, unless it is shared through a store several replicas have open (host_relay_share:
 * PostgreSQL), so that a stream served by another replica gets the deltas too
 * (docs/design.md).
 *
 * Thread-safety: every call may come from any thread.
 */
#ifndef HOST_RELAY_H
#define HOST_RELAY_H

#include <stddef.h>

#include <inngest/rag.h>

#include "chat.h"

typedef struct host_relay host_relay;

/* 0 for any limit means its default: 64 keys, 128 KiB per key, 60 s after the end.
 * Returns NULL when memory runs out. */
host_relay *host_relay_create(size_t max_keys, size_t max_bytes, long ttl_ms);
void host_relay_destroy(host_relay *r);

/* A generation of text starts for `key` (at most 79 bytes; longer keys are ignored).
 * Text from an earlier generation (a retried step) is discarded: readers are told to
 * start over. */
void host_relay_begin(host_relay *r, const char *key);
/* Appends text to the current generation of `key` (ignored when none was begun). */
void host_relay_append(host_relay *r, const char *key, const char *text, size_t len);
/* The generation ended (the step finished or failed); the TTL starts. */
void host_relay_end(host_relay *r, const char *key);

/* Where a reader is: zero it before the first read. */
typedef struct host_relay_cursor {
    unsigned long gen; /* generation read so far (0: none yet) */
    size_t offset;     /* bytes of it already read */
} host_relay_cursor;

/*
 * Waits up to `wait_ms` for text of `key` beyond `cur`, then copies at most `cap` bytes of
 * it (whole UTF-8 characters) into `buf`. Returns the byte count (0 when nothing came in
 * time); sets *restart when a new generation began since the last read (the reader drops
 * what it showed). Never waits for longer than `wait_ms`.
 */
size_t host_relay_read(host_relay *r, const char *key, host_relay_cursor *cur, char *buf,
                       size_t cap, int wait_ms, int *restart);

/* Shares the relay with the other replicas that have `store` open: its changes are
 * published through the store, theirs applied here. Does nothing for a store no other
 * process shares (SQLite). NULL stops sharing; call it before the store is destroyed.
 * Not concurrently with itself. */
void host_relay_share(host_relay *r, inngest_rag_store *store);

/* Applies one message another replica published ("b KEY", "e KEY", or "a OFFSET KEY\n"
 * followed by text, which is appended only where it continues what this relay holds).
 * Returns 1 when the message is well formed, 0 when it is ignored. host_relay_share()
 * feeds it; exposed for tests. */
int host_relay_apply(host_relay *r, const char *msg, size_t len);

/* Fills `out` so that handle-chat's streamed text goes to `r` (chat_env.tokens). */
void host_relay_chat_tokens(host_relay *r, struct chat_tokens *out);

#endif
