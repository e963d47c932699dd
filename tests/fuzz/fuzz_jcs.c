/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the JSON canonicalizer (RFC 8785). Input: any bytes, parsed with jansson
 * (any value, NUL allowed); what parses is canonicalized with ing_jcs_dump.
 * Properties: the canonical text is valid JSON, and canonicalizing it again gives the same
 * bytes (it is a fixed point). Integers are re-read as doubles, as a JavaScript reader
 * would, since canonical numbers beyond 2^63 do not fit jansson's integers.
 */
#include "fmacros.h"

#include <string.h>

#include <jansson.h>

#include "core/jcs.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_error_t jerr;
    json_t *v = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!v)
        return 0;
    size_t len1 = 0;
    char *c1 = ing_jcs_dump(v, &len1);
    json_decref(v);
    if (!c1) /* non-finite numbers or nesting beyond the limit */
        return 0;
    FUZZ_ASSERT(strlen(c1) <= len1 && c1[len1] == '\0');

    json_t *again =
        json_loadb(c1, len1, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &jerr);
    if (!again)
        fprintf(stderr, "canonical text does not parse (%s): %.*s\n", jerr.text,
                (int)(len1 > 400 ? 400 : len1), c1);
    FUZZ_ASSERT(again != NULL);
    size_t len2 = 0;
    char *c2 = ing_jcs_dump(again, &len2);
    json_decref(again);
    FUZZ_ASSERT(c2 != NULL);
    if (len1 != len2 || memcmp(c1, c2, len1) != 0)
        fprintf(stderr, "not a fixed point:\n  first:  %.*s\n  second: %.*s\n",
                (int)(len1 > 400 ? 400 : len1), c1, (int)(len2 > 400 ? 400 : len2), c2);
    FUZZ_ASSERT(len1 == len2 && memcmp(c1, c2, len1) == 0);
    free(c1);
    free(c2);
    return 0;
}
