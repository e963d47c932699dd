/* SPDX-License-Identifier: MIT */
/*
 * The benchmark's request mix, built the way the Inngest executor sends calls: JCS
 * (RFC 8785) bodies with ctx, event, events, steps (hashed ids, in stack order) and
 * version 2, and the executor's headers. Shared by bench_mkreq (files for wrk) and
 * bench_engine (in-process timing).
 */
#ifndef BENCH_REQS_H
#define BENCH_REQS_H

#include <stddef.h>
#include <stdint.h>

enum bench_scenario {
    BENCH_INTROSPECT, /* GET: introspection */
    BENCH_DISCOVERY,  /* process-data, no saved steps: runs validate-data at once (206) */
    BENCH_MEMOIZED,   /* process-data, both steps saved: returns (200) */
    BENCH_MANY_100,   /* bench-many-steps, n=100, all saved (200) */
    BENCH_MANY_1000,  /* bench-many-steps, n=1000, all saved (200) */
    BENCH_SIGNED,     /* BENCH_MEMOIZED with X-Inngest-Signature (cloud mode, 200) */
    BENCH_SCENARIOS
};

struct bench_req {
    const char *name; /* file-friendly: "memoized" */
    const char *method;
    char path[256]; /* "/api/inngest?fnId=…&stepId=step" */
    char *body;     /* malloc'd JCS text, NULL for GET */
    size_t body_len;
    int expect_status;
    int signed_req;      /* needs the cloud-mode server */
    char signature[128]; /* X-Inngest-Signature value when signed_req */
};

/* Builds one scenario for app `app_id`. `signing_key` (the full "signkey-…" text) is used
 * for BENCH_SIGNED, signed at `now_s`. Returns 0, or -1 when memory runs out. */
int bench_req_build(enum bench_scenario s, const char *app_id, const char *signing_key,
                    int64_t now_s, struct bench_req *out);
void bench_req_cleanup(struct bench_req *r);

/* The executor's fixed headers on every call (besides the signature): a NULL-terminated
 * list of "Name", "value" pairs. */
extern const char *const bench_call_headers[];

#endif
