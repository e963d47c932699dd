/* SPDX-License-Identifier: MIT */
/*
 * Internals of the inngest_ai library (src/ai): base64, the Server-Sent Events parser, the
 * chat stream accumulator and the retry policy (byte buffers and UTF-8 come from the
 * core: core/buf.h, core/utf8.h). Everything here
 * is pure (no sockets, no clock) so the unit tests drive it directly. Standard library
 * and jansson only.
 */
#ifndef ING_AI_INTERNAL_H
#define ING_AI_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Growable buffers: struct ing_buf of the core (core/buf.h); a zeroed one is empty and
 * unbounded. */
#include "core/buf.h"

/* UTF-8 checks, cuts and repair: core/utf8.h. */
#include "core/utf8.h"

/* ---- base64 ----------------------------------------------------------------------------- */

/* Decodes standard base64 (padding optional, no whitespace). Returns the decoded length,
 * or -1 on a bad character. `out` needs room for 3 * (len / 4) + 3 bytes. */
long ing_base64_decode(const char *in, size_t len, unsigned char *out);

/* ---- Server-Sent Events ----------------------------------------------------------------- */

/*
 * An incremental text/event-stream parser: feed it the bytes in whatever pieces the
 * network delivers; it calls `on_event` once per complete event (a blank line ends one).
 * Handles LF, CRLF and lone CR line ends (also split across feeds), "data:" with or
 * without the space, several data lines (joined with "\n"), comment lines (":"),
 * "event:" and "id:" fields, and a byte-order mark at the very start.
 */
typedef int (*ing_sse_event_fn)(void *user, const char *event, const char *data, size_t data_len);

struct ing_sse {
    struct ing_buf line; /* the current, unfinished line */
    struct ing_buf data; /* data lines of the current event */
    char event[64];      /* "event:" field of the current event */
    int has_data;        /* a data line was seen */
    int last_was_cr;     /* the previous feed ended in CR (a CRLF may be split) */
    int started;         /* past the optional BOM */
    int bom_matched;     /* bytes of a BOM seen so far at the very start */
    size_t max_line;     /* longest line, and longest event data, accepted (default 8 MiB) */
    ing_sse_event_fn on_event;
    void *user;
};

void ing_sse_init(struct ing_sse *p, ing_sse_event_fn on_event, void *user);
/* Returns 0; the callback's non-zero return; or -1 (out of memory, line too long). */
int ing_sse_feed(struct ing_sse *p, const char *data, size_t len);
/* End of input: dispatches a final event that lacked its blank line (as browsers do not,
 * but a truncated stream is reported by the caller, who knows whether [DONE] came). */
int ing_sse_finish(struct ing_sse *p);
void ing_sse_cleanup(struct ing_sse *p);

/* ---- chat stream accumulation (pure) ---------------------------------------------------- */

/* What a chat.completion.chunk stream has delivered so far. */
struct ing_chat_stream {
    struct ing_buf content;
    char *id, *model, *finish_reason;
    long prompt_tokens, completion_tokens, total_tokens;
    int has_usage;
    int done;   /* [DONE] seen */
    int error;  /* an error object arrived */
    int deltas; /* content deltas delivered */
    char err_message[400];
    char err_type[64];
    char err_code[64];
};

/* Applies one SSE data payload. Returns 0; 1 when it held an error object (err_* filled);
 * -1 when it was not JSON (a broken stream). `on_delta` may be NULL; its non-zero return
 * is passed back as 2. */
int ing_chat_stream_apply(struct ing_chat_stream *s, const char *data, size_t len,
                          int (*on_delta)(void *user, const char *text, size_t len), void *user);
void ing_chat_stream_cleanup(struct ing_chat_stream *s);

/* ---- retry policy (pure) ---------------------------------------------------------------- */

struct ing_retry_in {
    int attempt; /* 0 for the first retry decision */
    int max_retries;
    int status;                 /* HTTP status; 0 for a connection failure or timeout */
    const char *retry_after_ms; /* header values or NULL */
    const char *retry_after;
    const char *should_retry; /* x-should-retry */
    const char *error_code;   /* error.code of the body, or NULL */
    double rand01;            /* jitter in [0, 1) */
    long now_s;               /* wall clock, for an HTTP-date retry-after */
};

/* The server's retry-after in ms, or -1 when absent or unparsable. */
long ing_retry_after_ms(const char *retry_after_ms, const char *retry_after, long now_s);

/* Non-zero when the failure may succeed on another try (ignoring the attempt count). */
int ing_retry_retriable(int status, const char *should_retry, const char *error_code);

/* How long to wait before the next attempt, or -1 for "do not retry". */
long ing_retry_delay_ms(const struct ing_retry_in *in);

#endif
