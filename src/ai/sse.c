/* SPDX-License-Identifier: MIT */
/*
 * The Server-Sent Events parser (text/event-stream, as the WHATWG spec defines it) and the
 * accumulation of OpenAI chat.completion.chunk payloads. Pure: bytes in, callbacks out.
 */
#include "fmacros.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/ai_internal.h"
#include "core/alloc.h"

void ing_sse_init(struct ing_sse *p, ing_sse_event_fn on_event, void *user) {
    memset(p, 0, sizeof(*p));
    p->on_event = on_event;
    p->user = user;
    p->max_line = 8u << 20;
}

void ing_sse_cleanup(struct ing_sse *p) {
    ing_buf_cleanup(&p->line);
    ing_buf_cleanup(&p->data);
}

static int dispatch(struct ing_sse *p) {
    int rc = 0;
    if (p->has_data) {
        const char *d = p->data.data ? p->data.data : "";
        rc = p->on_event(p->user, p->event[0] ? p->event : "message", d, p->data.len);
    }
    p->data.len = 0;
    if (p->data.data)
        p->data.data[0] = '\0';
    p->has_data = 0;
    p->event[0] = '\0';
    return rc;
}

/* One complete line (without its terminator). */
static int process_line(struct ing_sse *p, const char *line, size_t len) {
    if (len == 0)
        return dispatch(p);
    if (line[0] == ':')
        return 0; /* comment / keep-alive */
    const char *colon = memchr(line, ':', len);
    size_t nlen = colon ? (size_t)(colon - line) : len;
    const char *v = colon ? colon + 1 : line + len;
    size_t vlen = (size_t)(line + len - v);
    if (vlen > 0 && v[0] == ' ') {
        v++;
        vlen--;
    }
    if (nlen == 4 && !memcmp(line, "data", 4)) {
        /* An event's data is capped like a line: many data lines must not add up to an
         * unbounded event. */
        if (p->data.len + vlen + 1 > p->max_line)
            return -1;
        if (p->has_data && ing_buf_append(&p->data, "\n", 1))
            return -1;
        if (ing_buf_append(&p->data, v, vlen))
            return -1;
        p->has_data = 1;
    } else if (nlen == 5 && !memcmp(line, "event", 5)) {
        size_t n = vlen < sizeof(p->event) - 1 ? vlen : sizeof(p->event) - 1;
        memcpy(p->event, v, n);
        p->event[n] = '\0';
    }
    /* "id", "retry" and unknown fields are ignored: a chat stream needs neither. */
    return 0;
}

int ing_sse_feed(struct ing_sse *p, const char *data, size_t len) {
    size_t i = 0;
    /* Nothing to do; returning early also keeps a CR that ended the previous feed paired
     * with an LF that starts the next one. */
    if (len == 0)
        return 0;
    /* A UTF-8 byte-order mark may open the stream, possibly split across feeds. */
    static const char bom[] = "\xef\xbb\xbf";
    while (!p->started && i < len) {
        if (data[i] == bom[p->bom_matched]) {
            i++;
            if (++p->bom_matched == 3)
                p->started = 1;
        } else {
            /* Not a BOM after all: the bytes taken so far are text. */
            p->started = 1;
            if (p->bom_matched && ing_buf_append(&p->line, bom, (size_t)p->bom_matched))
                return -1;
        }
    }
    if (p->last_was_cr && i < len && data[i] == '\n')
        i++; /* second half of a CRLF split across feeds */
    p->last_was_cr = 0;
    while (i < len) {
        /* Find the next line end in this feed. */
        size_t j = i;
        while (j < len && data[j] != '\n' && data[j] != '\r')
            j++;
        if (j == len) {
            if (p->line.len + (j - i) > p->max_line)
                return -1;
            return ing_buf_append(&p->line, data + i, j - i) ? -1 : 0;
        }
        int rc;
        if (p->line.len) {
            if (ing_buf_append(&p->line, data + i, j - i))
                return -1;
            rc = process_line(p, p->line.data, p->line.len);
            p->line.len = 0;
            p->line.data[0] = '\0';
        } else {
            rc = process_line(p, data + i, j - i);
        }
        if (data[j] == '\r') {
            if (j + 1 < len && data[j + 1] == '\n')
                j++;
            else if (j + 1 == len)
                p->last_was_cr = 1;
        }
        i = j + 1;
        if (rc)
            return rc;
    }
    return 0;
}

int ing_sse_finish(struct ing_sse *p) {
    int rc = 0;
    if (p->line.len) {
        rc = process_line(p, p->line.data, p->line.len);
        p->line.len = 0;
    }
    return rc ? rc : dispatch(p);
}

/* ---- chat.completion.chunk accumulation ------------------------------------------------- */

static void set_str(char **dst, json_t *v) {
    if (json_is_string(v) && !*dst)
        *dst = ing_strdup(json_string_value(v));
}

static void copy_str(char *dst, size_t size, json_t *v) {
    if (json_is_string(v))
        snprintf(dst, size, "%s", json_string_value(v));
}

int ing_chat_stream_apply(struct ing_chat_stream *s, const char *data, size_t len,
                          int (*on_delta)(void *user, const char *text, size_t len), void *user) {
    /* Skip leading whitespace to spot the sentinel. */
    while (len && (*data == ' ' || *data == '\t')) {
        data++;
        len--;
    }
    if (len == 6 && !memcmp(data, "[DONE]", 6)) {
        s->done = 1;
        return 0;
    }
    json_error_t jerr;
    json_t *chunk = json_loadb(data, len, 0, &jerr);
    if (!json_is_object(chunk)) {
        json_decref(chunk);
        return -1;
    }
    int rc = 0;
    json_t *error = json_object_get(chunk, "error");
    if (error && !json_is_null(error)) {
        s->error = 1;
        if (json_is_object(error)) {
            copy_str(s->err_message, sizeof(s->err_message), json_object_get(error, "message"));
            copy_str(s->err_type, sizeof(s->err_type), json_object_get(error, "type"));
            copy_str(s->err_code, sizeof(s->err_code), json_object_get(error, "code"));
        } else if (json_is_string(error)) {
            copy_str(s->err_message, sizeof(s->err_message), error);
        }
        if (!s->err_message[0])
            snprintf(s->err_message, sizeof(s->err_message), "error inside the stream");
        json_decref(chunk);
        return 1;
    }
    set_str(&s->id, json_object_get(chunk, "id"));
    set_str(&s->model, json_object_get(chunk, "model"));
    json_t *usage = json_object_get(chunk, "usage");
    if (json_is_object(usage)) {
        s->prompt_tokens = (long)json_integer_value(json_object_get(usage, "prompt_tokens"));
        s->completion_tokens =
            (long)json_integer_value(json_object_get(usage, "completion_tokens"));
        s->total_tokens = (long)json_integer_value(json_object_get(usage, "total_tokens"));
        s->has_usage = 1;
    }
    /* choices may be [] or null (the usage chunk: vLLM sends null). */
    json_t *choices = json_object_get(chunk, "choices");
    size_t i;
    json_t *ch;
    json_array_foreach(choices, i, ch) {
        json_t *idx = json_object_get(ch, "index");
        if (idx && json_integer_value(idx) != 0)
            continue; /* n > 1 is not used: only the first choice is kept */
        json_t *delta = json_object_get(ch, "delta");
        json_t *content = json_object_get(delta, "content");
        if (json_is_string(content) && json_string_length(content) > 0) {
            const char *t = json_string_value(content);
            size_t tl = json_string_length(content);
            if (ing_buf_append(&s->content, t, tl)) {
                rc = -1;
                break;
            }
            s->deltas++;
            if (on_delta && on_delta(user, t, tl)) {
                rc = 2;
                break;
            }
        }
        json_t *fr = json_object_get(ch, "finish_reason");
        if (json_is_string(fr)) {
            ing_free(s->finish_reason);
            s->finish_reason = ing_strdup(json_string_value(fr));
        }
    }
    json_decref(chunk);
    return rc;
}

void ing_chat_stream_cleanup(struct ing_chat_stream *s) {
    ing_buf_cleanup(&s->content);
    ing_free(s->id);
    ing_free(s->model);
    ing_free(s->finish_reason);
    memset(s, 0, sizeof(*s));
}
