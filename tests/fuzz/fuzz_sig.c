/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the X-Inngest-Signature header check (ing_sig_verify) and signing-key
 * parsing. Input: the header value up to the first newline, then the body bytes.
 * Property: a header that verifies names a key that exists.
 */
#include "fmacros.h"

#include <string.h>

#include "core/sig.h"
#include "fuzz.h"
#include "inngest/error.h"

#define KEY    "signkey-test-8ee2262a15e8d3c42d6a840db7af3de2aab08ef632b32a37a687f24b34dba3ff"
#define KEY_FB "signkey-prod-00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define NOW_S  1732400000LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nl = memchr(data, '\n', size);
    size_t hlen = nl ? (size_t)(nl - data) : size;
    char *header = malloc(hlen + 1);
    if (!header)
        return 0;
    memcpy(header, data, hlen);
    header[hlen] = '\0';
    size_t blen = nl ? size - hlen - 1 : 0;
    /* Exact-size copy of the body so that reading past it is caught. */
    char *body = blen ? malloc(blen) : NULL;
    if (blen && !body) {
        free(header);
        return 0;
    }
    if (blen)
        memcpy(body, nl + 1, blen);

    const char *both[2] = {KEY, KEY_FB};
    const char *fallback_only[2] = {NULL, KEY_FB};
    const char *none[2] = {NULL, NULL};
    const char *const *sets[3] = {both, fallback_only, none};
    for (int i = 0; i < 3; i++) {
        char why[128];
        int matched = -1;
        int rc = ing_sig_verify(header, body, blen, NOW_S, sets[i], &matched, why, sizeof(why));
        FUZZ_ASSERT(rc == INNGEST_OK || rc == INNGEST_ESIG);
        if (rc == INNGEST_OK)
            FUZZ_ASSERT(matched >= 0 && matched <= 1 && sets[i][matched] != NULL);
        else
            FUZZ_ASSERT(memchr(why, '\0', sizeof(why)) != NULL);
    }
    /* Also NULL header (a request without the header). */
    if (hlen == 0) {
        char why[128];
        int matched = -1;
        FUZZ_ASSERT(ing_sig_verify(NULL, body, blen, NOW_S, both, &matched, why, sizeof(why)) ==
                    INNGEST_ESIG);
    }

    /* The header text read as a signing key: prefix detection and the bearer form. */
    size_t plen = ing_sig_prefix_len(header);
    FUZZ_ASSERT(plen <= hlen);
    char bearer[256];
    if (ing_sig_hash_key(header, bearer, sizeof(bearer)) == INNGEST_OK)
        FUZZ_ASSERT(strlen(bearer) < sizeof(bearer));

    free(header);
    free(body);
    return 0;
}
