/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the call-body parser (ing_call_parse) and the saved-step unwrapping the
 * engine applies to every entry of "steps". Input: a raw POST body.
 * Properties: success fills every normalised field; failure leaves the call empty and
 * says why; whatever the fast path (ing_json_load_simple) accepts, json_loadb accepts
 * with JSON_REJECT_DUPLICATES and parses to the same tree, keys in the same order.
 */
#include "fmacros.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/proto.h"
#include "fuzz.h"

static void check_fast_path(const uint8_t *data, size_t size) {
    json_t *fast = ing_json_load_simple((const char *)data, size);
    if (!fast)
        return;
    json_t *ref = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    FUZZ_ASSERT(ref != NULL);
    char *a = json_dumps(fast, JSON_COMPACT), *b = json_dumps(ref, JSON_COMPACT);
    FUZZ_ASSERT(a && b && strcmp(a, b) == 0);
    free(a);
    free(b);
    json_decref(fast);
    json_decref(ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    check_fast_path(data, size);
    struct ing_call call;
    inngest_error err;
    inngest_error_clear(&err);
    int rc = ing_call_parse((const char *)data, size, &call, &err);
    if (rc != INNGEST_OK) {
        FUZZ_ASSERT(rc == INNGEST_EPARSE);
        FUZZ_ASSERT(call.root == NULL && err.message[0] != '\0');
        ing_call_cleanup(&call);
        return 0;
    }
    FUZZ_ASSERT(json_is_object(call.root));
    FUZZ_ASSERT(json_is_object(call.event));
    FUZZ_ASSERT(json_is_array(call.events) && json_array_size(call.events) > 0);
    FUZZ_ASSERT(json_is_object(call.steps));
    FUZZ_ASSERT(call.run_id != NULL && call.attempt >= 0);
    FUZZ_ASSERT(call.version == -1 || call.version == 1 || call.version == 2);
    FUZZ_ASSERT(call.stack == NULL || json_is_array(call.stack));

    const char *key;
    json_t *saved;
    json_object_foreach(call.steps, key, saved) {
        int is_error = -1;
        json_t *x = ing_memo_unwrap(saved, &is_error);
        FUZZ_ASSERT(is_error == 0 || is_error == 1);
        if (x) {
            char *text = json_dumps(x, JSON_COMPACT | JSON_ENCODE_ANY);
            free(text);
        }
    }
    ing_call_cleanup(&call);
    FUZZ_ASSERT(call.root == NULL);
    return 0;
}
