/* SPDX-License-Identifier: MIT */
/*
 * A test engine for functions written with libinngest, in the spirit of @inngest/test:
 * run one function call with chosen step results and look at what it would answer,
 * without an Inngest server or sockets.
 *
 *     inngest_test_opts o = {.function_id = "process-data", .event = ev};
 *     inngest_test_result r;
 *     inngest_test_call(app, &o, &r);
 *     // checkpointing (the default): r.status == 206, r.ops = [{"op":"RunComplete",…}],
 *     //   r.checkpoints = [{"op":"StepRun","name":"validate-data",…}, …]
 *     // checkpointing off: r.status == 206, r.ops = [{"op":"StepRun","name":"validate-data",…}]
 *     inngest_test_result_cleanup(&r);
 *
 * Under the hood it builds the same request the server sends (the executor's ctx, fn_id
 * and qi_id included) and runs it through the app's handler, so what you test is what runs
 * in production. Checkpoints go to the test engine instead of the Inngest API.
 */
#ifndef INNGEST_TESTING_H
#define INNGEST_TESTING_H

#include <jansson.h>

#include "inngest/app.h"
#include "inngest/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct inngest_test_opts {
    const char *function_id; /* local id ("process-data") or composite id */
    json_t *event;           /* the trigger event (borrowed); NULL = {"name":"test","data":{}} */
    json_t *events;          /* optional batch (borrowed); defaults to [event] */
    /* Saved step results keyed by the step id as you wrote it ("validate-data", or
     * "same-id:1" for a repeat), each value in the server's shape: {"data": …},
     * {"error": {…}}, null for a finished sleep, or the matched event. Borrowed. */
    json_t *steps;
    const char *target_step;         /* run only this step (its id as written), or NULL */
    int attempt;                     /* default 0 */
    int max_attempts;                /* default 5 */
    int disable_immediate_execution; /* as after parallel steps */
    const char *run_id;              /* default "01TESTRUN0000000000000000000" */
} inngest_test_opts;

typedef struct inngest_test_result {
    int status;           /* HTTP status: 200 done, 206 ops, 400/500 failed */
    json_t *body;         /* new reference: the parsed body (the output, ops or error) */
    json_t *ops;          /* borrowed from body: the op array when status is 206, else NULL */
    int no_retry;         /* X-Inngest-No-Retry was "true" */
    char retry_after[40]; /* Retry-After header, or "" */
    /* New reference: the steps the call saved through the checkpoint API (which the test
     * engine answers itself), in order, each as sent ({"id","op":"StepRun","data",…});
     * NULL when it saved none. */
    json_t *checkpoints;
} inngest_test_result;

/* Runs one call. Returns INNGEST_OK when a response was produced (whatever its status),
 * or a negative code for bad options. The app must be frozen. */
INNGEST_API INNGEST_NODISCARD int inngest_test_call(inngest_app *app, const inngest_test_opts *opts,
                                                    inngest_test_result *result);

/* Runs the function to completion the way the server would: each StepRun/StepPlanned is
 * saved or executed, sleeps finish at once, and waits/invokes/AI calls take their result
 * from `async_results` (keyed by step id as written; borrowed; missing = null); steps saved
 * through the checkpoint API are saved too. Stops at the first 200/400/500 or RunComplete,
 * or after `max_calls`. `result` holds the last answer; `*steps_out`
 * (optional, new reference) the final saved state keyed by hashed id. */
INNGEST_API INNGEST_NODISCARD int
inngest_test_run_to_end(inngest_app *app, const inngest_test_opts *opts, json_t *async_results,
                        int max_calls, inngest_test_result *result, json_t **steps_out);

INNGEST_API void inngest_test_result_cleanup(inngest_test_result *result);

/* Lowercase hex SHA-1 of a step id, the key the server uses: writes 41 bytes. */
INNGEST_API void inngest_step_hash(const char *step_id, char out[41]);

#ifdef __cplusplus
}
#endif

#endif /* INNGEST_TESTING_H */
