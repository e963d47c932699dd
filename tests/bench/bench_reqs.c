/* SPDX-License-Identifier: MIT */
/* The benchmark request mix: see bench_reqs.h. */
#include "fmacros.h"

#include "bench_reqs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/jcs.h"
#include "core/sig.h"
#include "inngest/testing.h"

/* Name, value pairs. */
/* clang-format off */
const char *const bench_call_headers[] = {
    "Content-Type", "application/json",
    "X-Inngest-Req-Version", "2",
    "X-Inngest-Step-ID", "step",
    "X-Run-ID", "01JDRUNBENCH00000000000001",
    "X-Request-ID", "01JDREQBENCH00000000000001",
    "X-Inngest-Job-ID", "01JDJOBBENCH00000000000001",
    "Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    NULL};
/* clang-format on */

/* The executor's body: ctx (stack = the saved ids in order), event, events, steps. */
static json_t *call_body(json_t *event, json_t *steps, json_t *stack) {
    return json_pack("{s:{s:i,s:b,s:s,s:i,s:s,s:{s:I,s:O},s:s,s:b},s:{},s:O,s:[O],s:O,s:b,s:i}",
                     "ctx", "attempt", 0, "disable_immediate_execution", 0, "env", "",
                     "max_attempts", 4, "run_id", "01JDRUNBENCH00000000000001", "stack", "current",
                     (json_int_t)json_array_size(stack), "stack", stack, "step_id", "step",
                     "use_api", 0, "defers", "event", event, "events", event, "steps", steps,
                     "use_api", 0, "version", 2);
}

static void save_step(json_t *steps, json_t *stack, const char *id, json_t *data) {
    char h[41];
    inngest_step_hash(id, h);
    json_object_set_new(steps, h, json_pack("{s:o}", "data", data));
    json_array_append_new(stack, json_string(h));
}

static json_t *process_data_body(int memoized) {
    json_t *data = json_pack("{s:i,s:[s,s]}", "orderId", 42, "items", "tea", "cake");
    json_t *event =
        json_pack("{s:O,s:s,s:s,s:I,s:{}}", "data", data, "id", "01JDEVBENCH000000000000001",
                  "name", "data/process", "ts", (json_int_t)1732400000000LL, "user");
    json_t *steps = json_object(), *stack = json_array();
    if (memoized) {
        save_step(steps, stack, "validate-data", json_pack("{s:b,s:O}", "valid", 1, "data", data));
        save_step(steps, stack, "process-data",
                  json_pack("{s:b,s:O}", "processed", 1, "result", data));
    }
    json_t *body = call_body(event, steps, stack);
    json_decref(data);
    json_decref(event);
    json_decref(steps);
    json_decref(stack);
    return body;
}

static json_t *many_steps_body(int n) {
    json_t *event =
        json_pack("{s:{s:i},s:s,s:s,s:I,s:{}}", "data", "n", n, "id", "01JDEVBENCH000000000000002",
                  "name", "bench/many-steps", "ts", (json_int_t)1732400000000LL, "user");
    json_t *steps = json_object(), *stack = json_array();
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof(id), "s-%d", i);
        save_step(steps, stack, id, json_pack("{s:i,s:b}", "i", i, "ok", 1));
    }
    json_t *body = call_body(event, steps, stack);
    json_decref(event);
    json_decref(steps);
    json_decref(stack);
    return body;
}

int bench_req_build(enum bench_scenario s, const char *app_id, const char *signing_key,
                    int64_t now_s, struct bench_req *out) {
    static const char *const names[BENCH_SCENARIOS] = {"introspect", "discovery", "memoized",
                                                       "many100",    "many1000",  "signed"};
    memset(out, 0, sizeof(*out));
    out->name = names[s];
    out->method = s == BENCH_INTROSPECT ? "GET" : "POST";
    out->expect_status = s == BENCH_DISCOVERY ? 206 : 200;
    json_t *body = NULL;
    const char *fn = "process-data";
    switch (s) {
        case BENCH_INTROSPECT:
            break;
        case BENCH_DISCOVERY:
            body = process_data_body(0);
            break;
        case BENCH_MEMOIZED:
        case BENCH_SIGNED:
            body = process_data_body(1);
            break;
        case BENCH_MANY_100:
        case BENCH_MANY_1000:
            body = many_steps_body(s == BENCH_MANY_100 ? 100 : 1000);
            fn = "bench-many-steps";
            break;
        default:
            return -1;
    }
    if (s == BENCH_INTROSPECT)
        snprintf(out->path, sizeof(out->path), "/api/inngest");
    else
        snprintf(out->path, sizeof(out->path), "/api/inngest?fnId=%s-%s&stepId=step", app_id, fn);
    if (body) {
        out->body = ing_jcs_dump(body, &out->body_len);
        json_decref(body);
        if (!out->body)
            return -1;
    }
    if (s == BENCH_SIGNED) {
        out->signed_req = 1;
        if (!signing_key ||
            ing_sig_header(signing_key, out->body, out->body_len, now_s, out->signature) != 0)
            return -1;
    }
    return 0;
}

void bench_req_cleanup(struct bench_req *r) {
    free(r->body);
    memset(r, 0, sizeof(*r));
}
