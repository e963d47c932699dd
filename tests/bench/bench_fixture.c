/* SPDX-License-Identifier: MIT */
/* bench-many-steps: see bench_fixture.h. Public API only. */
#include "fmacros.h"

#include "bench_fixture.h"

#include <stdint.h>
#include <stdio.h>

static int many_step(inngest_ctx *ctx, void *arg, json_t **out, inngest_error *err) {
    (void)ctx;
    (void)err;
    *out = json_pack("{s:i,s:b}", "i", (int)(intptr_t)arg, "ok", 1);
    return *out ? INNGEST_OK : INNGEST_ENOMEM;
}

static int many_steps(inngest_ctx *ctx, json_t **result) {
    json_t *n = json_object_get(json_object_get(inngest_ctx_event(ctx), "data"), "n");
    int count = json_is_integer(n) ? (int)json_integer_value(n) : 1000;
    json_t *last = NULL;
    for (int i = 0; i < count; i++) {
        char id[32];
        snprintf(id, sizeof(id), "s-%d", i);
        INNGEST_STEP(inngest_step_run(ctx, id, many_step, (void *)(intptr_t)i, &last));
    }
    *result = json_pack("{s:i,s:O?}", "steps", count, "last", last);
    return *result ? INNGEST_OK : INNGEST_ENOMEM;
}

int bench_fixture_register(inngest_app *app, inngest_error *err) {
    inngest_function *f = inngest_function_create("bench-many-steps", many_steps, err);
    if (!f)
        return err ? err->code : INNGEST_ENOMEM;
    int rc = inngest_function_add_event_trigger(f, "bench/many-steps", NULL);
    if (rc) {
        inngest_function_destroy(f);
        return inngest_error_set(err, rc, "cannot define bench-many-steps");
    }
    rc = inngest_app_add_function(app, f);
    return rc ? inngest_error_set(err, rc, "cannot add bench-many-steps") : INNGEST_OK;
}
