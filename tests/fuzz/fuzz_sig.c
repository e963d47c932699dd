/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the X-Inngest-Signature header check (ing_sig_verify) and signing-key
 * parsing. Input: the header value up to the first newline, then the body bytes.
 * Properties: a header that verifies names a key that exists; a header that does not gets
 * a reason that says why: one of the fixed reasons (never text taken from the header, nor
 * anything of a key), "missing" exactly when the header is empty, and, for a well-formed
 * header within the time window, "does not match".
 */
#include "fmacros.h"

#include <string.h>

#include "core/sig.h"
#include "fuzz.h"
#include "inngest/error.h"

#define KEY    "signkey-test-8ee2262a15e8d3c42d6a840db7af3de2aab08ef632b32a37a687f24b34dba3ff"
#define KEY_FB "signkey-prod-00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define NOW_S  1732400000LL

static const char *const REASONS[] = {
    "missing X-Inngest-Signature header", "malformed X-Inngest-Signature header",
    "malformed signature timestamp", "signature timestamp outside the 300 s window",
    "signature does not match"};

/* The reason `why` for a failed check of `header`. */
static void check_reason(const char *header, const char *why, size_t why_size) {
    FUZZ_ASSERT(memchr(why, '\0', why_size) != NULL);
    int known = -1;
    for (int i = 0; i < (int)(sizeof REASONS / sizeof *REASONS); i++)
        if (!strcmp(why, REASONS[i]))
            known = i;
    if (known < 0)
        fprintf(stderr, "unexpected reason \"%s\" for header \"%s\"\n", why, header);
    FUZZ_ASSERT(known >= 0);
    FUZZ_ASSERT((known == 0) == (header[0] == '\0'));
    /* "t=<now>&s=<1..79 bytes without &>" is well formed and fresh: only the comparison
     * can have failed. */
    static const char fresh[] = "t=1732400000&s=";
    const char *sv = header + sizeof fresh - 1;
    if (!strncmp(header, fresh, sizeof fresh - 1) && *sv && !strchr(sv, '&') && strlen(sv) < 80)
        FUZZ_ASSERT(known == 4);
}

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
            check_reason(header, why, sizeof(why));
    }
    /* Also NULL header (a request without the header). */
    if (hlen == 0) {
        char why[128];
        int matched = -1;
        FUZZ_ASSERT(ing_sig_verify(NULL, body, blen, NOW_S, both, &matched, why, sizeof(why)) ==
                    INNGEST_ESIG);
        FUZZ_ASSERT(!strcmp(why, REASONS[0]));
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
