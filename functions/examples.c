/* SPDX-License-Identifier: MIT */
/*
 * The example functions of the seed app, written against the public API only.
 *
 * hello-world   (test/hello.world): sleeps a second, then greets event.data.email.
 * process-data  (data/process):     validates then processes the event data in two steps.
 */
#define _POSIX_C_SOURCE 200809L /* gmtime_r */

#include "examples.h"

#include "define.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static int hello_world(inngest_ctx *ctx, json_t **result) {
    INNGEST_STEP(inngest_step_sleep(ctx, "wait-a-moment", "1s"));
    json_t *email = json_object_get(json_object_get(inngest_ctx_event(ctx), "data"), "email");
    char msg[512];
    snprintf(msg, sizeof(msg), "Hello %s!",
             json_is_string(email) ? json_string_value(email) : "there");
    *result = json_pack("{s:s}", "message", msg);
    return *result ? INNGEST_OK : INNGEST_ENOMEM;
}

static int validate_data(inngest_ctx *ctx, void *arg, json_t **out, inngest_error *err) {
    (void)arg;
    json_t *data = json_object_get(inngest_ctx_event(ctx), "data");
    *out = json_pack("{s:b,s:O}", "valid", json_is_object(data), "data", data ? data : json_null());
    return *out ? INNGEST_OK : inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
}

static int process(inngest_ctx *ctx, void *arg, json_t **out, inngest_error *err) {
    (void)ctx;
    json_t *validated = arg;
    *out = json_pack("{s:b,s:O}", "processed", 1, "result", json_object_get(validated, "data"));
    return *out ? INNGEST_OK : inngest_error_set(err, INNGEST_ENOMEM, "out of memory");
}

static int process_data(inngest_ctx *ctx, json_t **result) {
    json_t *validated, *processed;
    INNGEST_STEP(inngest_step_run(ctx, "validate-data", validate_data, NULL, &validated));
    if (!json_is_true(json_object_get(validated, "valid"))) {
        *result = json_pack("{s:s}", "error", "Invalid data");
        return INNGEST_OK;
    }
    INNGEST_STEP(inngest_step_run(ctx, "process-data", process, validated, &processed));

    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
    *result = json_pack("{s:s,s:O,s:s}", "status", "success", "result",
                        json_object_get(processed, "result"), "processedAt", when);
    return *result ? INNGEST_OK : INNGEST_ENOMEM;
}

int examples_register(inngest_app *app, inngest_error *err) {
    int rc = functions_add(app, "hello-world", "Hello World", "test/hello.world", hello_world, NULL,
                           err);
    return rc ? rc
              : functions_add(app, "process-data", "Process Data", "data/process", process_data,
                              NULL, err);
}
