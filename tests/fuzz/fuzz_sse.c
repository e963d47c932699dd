/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the Server-Sent Events parser (src/ai/sse.c) and the chat stream
 * accumulator fed by it. Input: one byte k (number of cut points, 0-15), k two-byte cut
 * offsets, then the stream bytes. The stream is parsed three ways: in one piece, cut at the
 * fuzzer's points (empty pieces included), and one byte at a time.
 * Properties: all three give the same events in the same order (the transcript of event
 * names and data, byte for byte), and the same accumulated chat answer (content bytes, id,
 * model, finish reason, usage, error); the deltas handed out, joined, are exactly the
 * accumulated content; nothing crashes, leaks or reads out of bounds.
 */
#include "fmacros.h"

#include <stdlib.h>
#include <string.h>

#include "ai/ai_internal.h"
#include "fuzz.h"

struct run {
    struct ing_buf transcript; /* "event\x01data\x02" per event */
    struct ing_chat_stream chat;
    struct ing_buf deltas; /* every delta handed out, joined */
    int stopped; /* the accumulator reported an error or a broken chunk */
};

static int on_delta(void *user, const char *text, size_t len) {
    struct run *r = user;
    FUZZ_ASSERT(len > 0 && text != NULL);
    FUZZ_ASSERT(ing_buf_append(&r->deltas, text, len) == 0);
    return 0;
}

static int on_event(void *user, const char *event, const char *data, size_t len) {
    struct run *r = user;
    FUZZ_ASSERT(event != NULL && event[0] != '\0' && data != NULL);
    FUZZ_ASSERT(data[len] == '\0');
    if (ing_buf_appends(&r->transcript, event) || ing_buf_append(&r->transcript, "\x01", 1) ||
        ing_buf_append(&r->transcript, data, len) || ing_buf_append(&r->transcript, "\x02", 1))
        return -1;
    if (!r->stopped && !r->chat.done && !strcmp(event, "message")) {
        int rc = ing_chat_stream_apply(&r->chat, data, len, on_delta, r);
        FUZZ_ASSERT(rc == 0 || rc == 1 || rc == -1);
        if (rc != 0)
            r->stopped = 1;
    }
    return 0;
}

/* Parses `text` in the pieces that end at cuts[0..ncuts) (sorted, <= len). */
static void parse(struct run *r, const char *text, size_t len, const size_t *cuts, size_t ncuts) {
    memset(r, 0, sizeof(*r));
    struct ing_sse p;
    ing_sse_init(&p, on_event, r);
    size_t at = 0;
    int rc = 0;
    for (size_t i = 0; i <= ncuts && !rc; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        rc = ing_sse_feed(&p, text + at, end - at);
        at = end;
    }
    if (!rc)
        rc = ing_sse_finish(&p);
    FUZZ_ASSERT(rc == 0); /* no callback fails and no line nears the 8 MiB limit */
    ing_sse_cleanup(&p);
    FUZZ_ASSERT(r->deltas.len == r->chat.content.len);
    FUZZ_ASSERT(r->deltas.len == 0 || !memcmp(r->deltas.data, r->chat.content.data, r->deltas.len));
}

static int cmp_size(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

static int same_bytes(const struct ing_buf *a, const struct ing_buf *b) {
    return a->len == b->len && (a->len == 0 || !memcmp(a->data, b->data, a->len));
}

static int same_str(const char *a, const char *b) {
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static void same(const struct run *a, const struct run *b) {
    FUZZ_ASSERT(same_bytes(&a->transcript, &b->transcript));
    FUZZ_ASSERT(same_bytes(&a->chat.content, &b->chat.content));
    FUZZ_ASSERT(same_str(a->chat.id, b->chat.id) && same_str(a->chat.model, b->chat.model) &&
                same_str(a->chat.finish_reason, b->chat.finish_reason));
    FUZZ_ASSERT(a->chat.has_usage == b->chat.has_usage &&
                a->chat.prompt_tokens == b->chat.prompt_tokens &&
                a->chat.completion_tokens == b->chat.completion_tokens &&
                a->chat.total_tokens == b->chat.total_tokens);
    FUZZ_ASSERT(a->chat.done == b->chat.done && a->chat.error == b->chat.error);
    FUZZ_ASSERT(!strcmp(a->chat.err_message, b->chat.err_message) &&
                !strcmp(a->chat.err_type, b->chat.err_type) &&
                !strcmp(a->chat.err_code, b->chat.err_code));
    FUZZ_ASSERT(a->chat.deltas == b->chat.deltas);
}

static void run_cleanup(struct run *r) {
    ing_buf_cleanup(&r->transcript);
    ing_buf_cleanup(&r->deltas);
    ing_chat_stream_cleanup(&r->chat);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    size_t ncuts = data[0] % 16;
    if (size < 1 + 2 * ncuts)
        return 0;
    const char *text = (const char *)data + 1 + 2 * ncuts;
    size_t len = size - 1 - 2 * ncuts;
    size_t cuts[16];
    for (size_t i = 0; i < ncuts; i++) {
        size_t v = (size_t)data[1 + 2 * i] | (size_t)data[2 + 2 * i] << 8;
        cuts[i] = len ? v % (len + 1) : 0;
    }
    qsort(cuts, ncuts, sizeof(cuts[0]), cmp_size);

    struct run whole, split, bytes;
    parse(&whole, text, len, NULL, 0);
    parse(&split, text, len, cuts, ncuts);
    same(&whole, &split);
    if (len <= 4096) {
        size_t *every = malloc((len ? len : 1) * sizeof(size_t));
        if (every) {
            for (size_t i = 0; i < len; i++)
                every[i] = i + 1;
            parse(&bytes, text, len, every, len);
            same(&whole, &bytes);
            run_cleanup(&bytes);
            free(every);
        }
    }
    run_cleanup(&whole);
    run_cleanup(&split);
    return 0;
}
