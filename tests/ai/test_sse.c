/* SPDX-License-Identifier: MIT */
/*
 * The SSE parser and the chat-stream accumulator as pure functions: lines split across
 * reads, LF / CRLF / CR, comments, multi-line data, the usage chunk, [DONE], errors inside
 * a stream, and every possible split point of a recorded stream.
 */
#include "fmacros.h"

#include <string.h>

#include "ai/ai_internal.h"
#include "testutil.h"

struct events {
    char buf[8192];
    size_t len;
    int count;
};

/* Records each event as "name=data|". */
static int record(void *user, const char *event, const char *data, size_t len) {
    struct events *e = user;
    int n = snprintf(e->buf + e->len, sizeof(e->buf) - e->len, "%s=%.*s|", event, (int)len, data);
    e->len += (size_t)n;
    e->count++;
    return 0;
}

static void feed_in_pieces(const char *text, size_t piece, struct events *ev) {
    struct ing_sse p;
    ing_sse_init(&p, record, ev);
    size_t len = strlen(text);
    for (size_t i = 0; i < len; i += piece)
        CHECK_EQ_INT(ing_sse_feed(&p, text + i, len - i < piece ? len - i : piece), 0);
    CHECK_EQ_INT(ing_sse_finish(&p), 0);
    ing_sse_cleanup(&p);
}

TEST_CASE(basic_events) {
    struct events ev = {0};
    feed_in_pieces("data: one\n\ndata:two\n\n: keep-alive\n\nevent: ping\ndata: x\n\n", 1000, &ev);
    CHECK_STR(ev.buf, "message=one|message=two|ping=x|");
}

TEST_CASE(line_endings_and_multiline_data) {
    struct events ev = {0};
    feed_in_pieces("data: a\r\ndata: b\r\n\r\ndata: c\rdata: d\r\r", 1000, &ev);
    CHECK_STR(ev.buf, "message=a\nb|message=c\nd|");
}

TEST_CASE(every_split_point_gives_the_same_events) {
    const char *stream = "\xef\xbb\xbf"
                         "data: {\"a\":1}\r\n\r\n: comment\n\nid: 7\ndata: {\"b\":\r\ndata: 2}\n\n"
                         "data:[DONE]\r\n\r\n";
    struct events whole = {0};
    feed_in_pieces(stream, 100000, &whole);
    CHECK_STR(whole.buf, "message={\"a\":1}|message={\"b\":\n2}|message=[DONE]|");
    for (size_t piece = 1; piece < strlen(stream); piece++) {
        struct events ev = {0};
        feed_in_pieces(stream, piece, &ev);
        CHECK_STR(ev.buf, whole.buf);
    }
}

TEST_CASE(event_without_final_blank_line_is_flushed_at_finish) {
    struct events ev = {0};
    feed_in_pieces("data: partial", 3, &ev);
    CHECK_STR(ev.buf, "message=partial|");
}

TEST_CASE(field_without_colon_and_empty_data) {
    struct events ev = {0};
    feed_in_pieces("data\n\ndata:\n\nretry: 10\n\n", 1000, &ev);
    /* Two events with empty data; the retry-only block dispatches nothing. */
    CHECK_STR(ev.buf, "message=|message=|");
}

/* ---- chat chunks ------------------------------------------------------------------------ */

struct acc_ctx {
    struct ing_chat_stream s;
    char deltas[1024];
    int rc;
};

static int on_delta(void *user, const char *t, size_t len) {
    struct acc_ctx *a = user;
    strncat(a->deltas, t, len);
    strcat(a->deltas, "|");
    return 0;
}

static int apply(void *user, const char *event, const char *data, size_t len) {
    (void)event;
    struct acc_ctx *a = user;
    a->rc = ing_chat_stream_apply(&a->s, data, len, on_delta, a);
    return a->rc == 1 ? 1 : 0;
}

/* A stream in the exact shape OpenAI sends, usage chunk included. */
static const char *openai_stream =
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":"
    "\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
    "\"finish_reason\":null}],\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":"
    "\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"finish_reason\":"
    "null}],\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":"
    "\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo \\u00e9\"},"
    "\"finish_reason\":null}],\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":"
    "\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],"
    "\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":"
    "\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":3,"
    "\"total_tokens\":12}}\n\n"
    "data: [DONE]\n\n";

TEST_CASE(chat_stream_accumulates_text_usage_and_done) {
    for (size_t piece = 1; piece <= strlen(openai_stream); piece += 7) {
        struct acc_ctx a = {0};
        struct ing_sse p;
        ing_sse_init(&p, apply, &a);
        size_t len = strlen(openai_stream);
        for (size_t i = 0; i < len; i += piece)
            CHECK_EQ_INT(ing_sse_feed(&p, openai_stream + i, len - i < piece ? len - i : piece),
                         0);
        ing_sse_finish(&p);
        ing_sse_cleanup(&p);
        CHECK_STR(a.s.content.data, "Hello \xc3\xa9");
        CHECK_STR(a.deltas, "Hel|lo \xc3\xa9|");
        CHECK_STR(a.s.finish_reason, "stop");
        CHECK_STR(a.s.id, "chatcmpl-1");
        CHECK_EQ_INT(a.s.has_usage, 1);
        CHECK_EQ_INT(a.s.total_tokens, 12);
        CHECK_EQ_INT(a.s.done, 1);
        ing_chat_stream_cleanup(&a.s);
    }
}

TEST_CASE(usage_chunk_with_null_choices_as_vllm_sends) {
    struct ing_chat_stream s = {0};
    const char *c = "{\"id\":\"x\",\"choices\":null,\"usage\":{\"prompt_tokens\":1,"
                    "\"completion_tokens\":2,\"total_tokens\":3}}";
    CHECK_EQ_INT(ing_chat_stream_apply(&s, c, strlen(c), NULL, NULL), 0);
    CHECK_EQ_INT(s.completion_tokens, 2);
    ing_chat_stream_cleanup(&s);
}

TEST_CASE(error_object_inside_stream) {
    struct acc_ctx a = {0};
    struct ing_sse p;
    ing_sse_init(&p, apply, &a);
    const char *t = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n"
                    "data: {\"error\":{\"message\":\"The server had an error\",\"type\":"
                    "\"server_error\",\"code\":null}}\n\n"
                    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"never\"}}]}\n\n";
    CHECK_EQ_INT(ing_sse_feed(&p, t, strlen(t)), 1); /* the callback stopped the parser */
    CHECK_EQ_INT(a.s.error, 1);
    CHECK_STR(a.s.err_message, "The server had an error");
    CHECK_STR(a.s.err_type, "server_error");
    CHECK_STR(a.s.content.data, "Hi");
    ing_sse_cleanup(&p);
    ing_chat_stream_cleanup(&a.s);
}

TEST_CASE(non_json_event_is_a_broken_stream) {
    struct ing_chat_stream s = {0};
    CHECK_EQ_INT(ing_chat_stream_apply(&s, "{\"choices\":[", 12, NULL, NULL), -1);
    CHECK_EQ_INT(ing_chat_stream_apply(&s, "  [DONE]", 8, NULL, NULL), 0);
    CHECK_EQ_INT(s.done, 1);
    ing_chat_stream_cleanup(&s);
}

/* An event's data is capped like a line: many short data lines cannot add up to an
 * unbounded event (the stream is refused once they pass the cap). */
TEST_CASE(event_data_is_capped) {
    struct events ev = {0};
    struct ing_sse p;
    ing_sse_init(&p, record, &ev);
    p.max_line = 64;
    int rc = 0;
    for (int i = 0; i < 100 && !rc; i++)
        rc = ing_sse_feed(&p, "data: 0123456789\n", 17);
    CHECK_EQ_INT(rc, -1);
    CHECK_EQ_INT(ev.count, 0);
    ing_sse_cleanup(&p);
    ing_sse_init(&p, record, &ev); /* within the cap, nothing changes */
    p.max_line = 64;
    CHECK_EQ_INT(ing_sse_feed(&p, "data: 0123456789\ndata: 0123456789\n\n", 36), 0);
    CHECK_EQ_INT(ev.count, 1);
    ing_sse_cleanup(&p);
}
