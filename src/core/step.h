/* SPDX-License-Identifier: MIT */
/*
 * The step engine: one replay of a function for one call request. Each step call looks
 * up its saved result; the first step without one is run now (immediate execution, or
 * because the server targeted it) or reported as an op, and the function stops.
 * Includes jansson and the public headers only.
 */
#ifndef ING_STEP_H
#define ING_STEP_H

#include <stdint.h>

#include <jansson.h>

#include "core/app.h"
#include "core/proto.h"
#include "inngest/step.h"

#define ING_MAX_OUTPUT_BYTES (4u * 1024u * 1024u)

enum ing_step_kind {
    ING_KIND_RUN,        /* step.run and sendEvent: runs code on this host */
    ING_KIND_SLEEP,
    ING_KIND_WAIT,
    ING_KIND_INVOKE,
    ING_KIND_AI,
};

/* A step found without a saved result during this replay. */
struct ing_found {
    char hash[41];
    enum ing_step_kind kind;
    json_t *op;        /* the op to report when it is not run now */
    inngest_step_fn fn; /* run-kind only */
    void *arg;
};

struct ing_cp_sink; /* checkpoint.h */

struct inngest_ctx {
    inngest_app *app;
    const struct ing_fn_entry *entry;
    struct ing_call *call;
    const char *target; /* hashed step id the server asked for, or NULL */
    int max_attempts;

    json_t *id_counts; /* user id -> times seen, for "id:n" de-duplication */
    json_t *used_ids;  /* final ids already taken */

    struct ing_found *found; /* new steps of the current parallel group */
    size_t nfound, found_cap;
    int in_group;
    int in_step;       /* a step callback is running: nested steps are refused */
    int stopped;       /* ops are decided; every further step call is pending */
    int target_found;
    json_t *found_list; /* [{id,name,displayName}] of unsaved steps, for not-found errors */

    json_t *ops;        /* ops to answer with 206 */
    int ops_no_retry;   /* X-Inngest-No-Retry for a StepError/StepFailed op, -1 = none */
    char ops_retry_after[40];

    int failed;         /* inngest_ctx_fail() was called */
    inngest_error fail;
    json_t *step_error; /* last saved step error handed to the function (borrowed) */

    struct ing_checkpoint {
        int active;                   /* this call runs step.run bodies inline */
        inngest_checkpoint_opts opts; /* resolved: every field set */
        int64_t started_ms;           /* when the call began, by the app's clock */
        int64_t buffered_since_ms;    /* when the oldest buffered step finished */
        json_t *buffer;               /* StepRun ops run but not saved yet */
        int ran;                      /* steps this call ran inline */
        const char *request_id;       /* the executor's x-request-id, or NULL */
        int64_t generation_id;        /* x-inngest-generation-id, -1 when absent */
        const struct ing_cp_sink *sink; /* NULL: the Inngest API (see checkpoint.h) */
    } cp;
};

/* Prepares a context; `call` and `entry` are borrowed for the context's lifetime. */
int ing_ctx_init(struct inngest_ctx *ctx, inngest_app *app, const struct ing_fn_entry *entry,
                 struct ing_call *call, const char *target);
void ing_ctx_cleanup(struct inngest_ctx *ctx);

/* Hashes a step id: lowercase hex SHA-1. */
void ing_step_hash(const char *id, char out[41]);

#endif
