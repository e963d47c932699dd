/* SPDX-License-Identifier: MIT */
/* A program outside the project that uses the installed library. */
#include <inngest/inngest.h>
#include <stdio.h>

static int hello(inngest_ctx *ctx, json_t **result) {
    (void)ctx;
    *result = json_string("hi");
    return INNGEST_OK;
}

int main(void) {
    inngest_app_opts o = {.app_id = "consumer", .mode = INNGEST_MODE_DEV};
    inngest_error err;
    inngest_app *app = inngest_app_create(&o, &err);
    if (!app)
        return 1;
    inngest_function *fn = inngest_function_create("hello", hello, &err);
    if (!fn || inngest_function_add_event_trigger(fn, "consumer/hello", NULL) != INNGEST_OK ||
        inngest_app_add_function(app, fn) != INNGEST_OK) /* the app owns fn from here */
        return 1;
    inngest_app_freeze(app);
    inngest_test_opts t = {.function_id = "hello"};
    inngest_test_result r;
    /* The test engine's call is the executor's, which allows checkpointing (the default):
     * a finished run answers 206 [{"op":"RunComplete","data":…}]. */
    int ok = inngest_test_call(app, &t, &r) == INNGEST_OK && r.status == 206 &&
             json_is_string(json_object_get(json_array_get(r.ops, 0), "data"));
    inngest_test_result_cleanup(&r);
    inngest_app_destroy(app);
    printf("%s %s\n", INNGEST_SDK_HEADER, ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
