/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the embeddings answer parser (inngest_ai_embeddings_parse). Input: one
 * byte for the number of inputs (1-4), one for the expected dimension (0 = "take the
 * server's", else 1-64), then the answer body (JSON: float arrays or base64 float32).
 * Properties: success fills every one of the n vectors with finite numbers and reports a
 * positive dimension; failure is EPARSE, EMISMATCH or EUPSTREAM with a message.
 */
#include "fmacros.h"

#include <math.h>
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "inngest/ai.h"

#define MAX_DIM 65536 /* the parser's own limit */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2)
        return 0;
    size_t n = 1 + data[0] % 4;
    int dim = data[1] % 65; /* 0..64 */
    json_t *root = json_loadb((const char *)data + 2, size - 2, 0, NULL);
    size_t cap = n * (size_t)(dim ? dim : MAX_DIM);
    float *out = malloc(cap * sizeof(float));
    if (!out) {
        json_decref(root);
        return 0;
    }
    /* A sentinel that no successful parse may leave behind. */
    for (size_t i = 0; i < cap; i++)
        out[i] = NAN;
    int dim_out = -1;
    inngest_error err;
    inngest_error_clear(&err);
    int rc = inngest_ai_embeddings_parse(root, n, dim, out, &dim_out, &err);
    if (rc == INNGEST_OK) {
        FUZZ_ASSERT(dim_out > 0 && dim_out <= MAX_DIM);
        FUZZ_ASSERT(dim == 0 || dim_out == dim);
        for (size_t i = 0; i < n * (size_t)dim_out; i++)
            FUZZ_ASSERT(isfinite(out[i]));
    } else {
        FUZZ_ASSERT(rc == INNGEST_EPARSE || rc == INNGEST_EMISMATCH || rc == INNGEST_EUPSTREAM ||
                    rc == INNGEST_ENOMEM);
        FUZZ_ASSERT(err.message[0] != '\0');
    }
    free(out);
    json_decref(root);
    return 0;
}
