/* SPDX-License-Identifier: MIT */
/* Signatures and key hashing against the official SDKs' test vectors. */
#include "fmacros.h"

#include "core/sig.h"
#include "inngest/error.h"
#include "testutil.h"

#define KEY_TEST  "signkey-test-8ee2262a15e8d3c42d6a840db7af3de2aab08ef632b32a37a687f24b34dba3ff"
#define KEY_FALLB "signkey-test-00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

TEST_CASE(hmac_vector_prod) {
    char s[65];
    CHECK_EQ_INT(ing_sig_compute("signkey-prod-12345678", "{\"hello\":\"world\"}", 17,
                                 1705586504, s),
                 INNGEST_OK);
    CHECK_STR(s, "b3dc3bec9cf5570147523d4e9ac765d962adcc12d8dff88ca29c2b6066613c40");
}

TEST_CASE(hmac_vector_empty_body_fallback_key) {
    char s[65];
    CHECK_EQ_INT(ing_sig_compute(KEY_FALLB, "", 0, 1732400000, s), INNGEST_OK);
    CHECK_STR(s, "2e7a205219c8811f1ddb26c9b7809e06d9fecc9684868d96df9b19eb4d91fbe3");
}

TEST_CASE(hmac_vector_branch_key) {
    char s[65];
    const char *body = "{\"url\":\"https://my-app.example.com/api/inngest\"}";
    CHECK_EQ_INT(ing_sig_compute("signkey-branch-abcdef0123456789abcdef0123456789abcdef0123456789"
                                 "abcdef0123456789",
                                 body, strlen(body), 1732400123, s),
                 INNGEST_OK);
    CHECK_STR(s, "87614083684ebd681bba1b253606b6b428f537e5e81cd8069f0a451820ccf4d8");
}

TEST_CASE(hmac_vector_key_without_prefix) {
    char s[65];
    CHECK_EQ_INT(ing_sig_compute("abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789",
                                 "{\"hello\":\"world\"}", 17, 1732400000, s),
                 INNGEST_OK);
    CHECK_STR(s, "c4c1e5e66c34a8cf812e51dac9bb9af474cbf52025fe8b19166c84e8b134c74d");
}

TEST_CASE(bearer_hashes) {
    char out[160];
    CHECK_EQ_INT(ing_sig_hash_key("signkey-prod-12345678", out, sizeof(out)), INNGEST_OK);
    CHECK_STR(out, "signkey-prod-b2ed992186a5cb19f6668aade821f502c1d00970dfd0e35128d51bac4649916c");
    CHECK_EQ_INT(ing_sig_hash_key(KEY_TEST, out, sizeof(out)), INNGEST_OK);
    CHECK_STR(out, "signkey-test-e4bf4a2e7f55c7eb954b6e72f8f69628fbc409fe7da6d0f6958770987dcf0e02");
    CHECK_EQ_INT(ing_sig_hash_key(KEY_FALLB, out, sizeof(out)), INNGEST_OK);
    CHECK_STR(out, "signkey-test-4773d12e2371bb935b9a0f5439b4a1c3ad3f2414b86980f8418d1cfabdfadfef");
}

TEST_CASE(event_key_hash) {
    char out[65];
    ing_sha256_hex("test-event-key-123", 18, out);
    CHECK_STR(out, "489b0fa1ff46afec035a3e018cd11d260ba52b607e878064dd37e5c408bf0679");
}

TEST_CASE(step_id_hashes) {
    char out[41];
    ing_sha1_hex("first step", 10, out);
    CHECK_STR(out, "98bf98df193bcce7c33e6bc50927cf2ac21206cb");
    ing_sha1_hex("same-id:1", 9, out);
    CHECK_STR(out, "5be312e38fa79927b66c04d8d8f55152bf0822c8");
}

static int verify(const char *header, const char *body, int64_t now, int *which) {
    const char *keys[2] = {KEY_TEST, KEY_FALLB};
    char why[128];
    return ing_sig_verify(header, body, strlen(body), now, keys, which, why, sizeof(why));
}

TEST_CASE(verify_window_and_keys) {
    char hdr[ING_SIG_HEADER_MAX];
    const char *body = "{\"a\":1}";
    int which = -1;
    CHECK_EQ_INT(ing_sig_header(KEY_TEST, body, strlen(body), 1000000, hdr), INNGEST_OK);
    CHECK_EQ_INT(verify(hdr, body, 1000000, &which), INNGEST_OK);
    CHECK_EQ_INT(which, 0);
    CHECK_EQ_INT(verify(hdr, body, 1000000 + 300, &which), INNGEST_OK);
    CHECK_EQ_INT(verify(hdr, body, 1000000 + 301, &which), INNGEST_ESIG); /* expired */
    CHECK_EQ_INT(verify(hdr, body, 1000000 - 200, &which), INNGEST_OK);   /* future, inside */
    CHECK_EQ_INT(verify(hdr, body, 1000000 - 400, &which), INNGEST_ESIG); /* too far ahead */
    CHECK_EQ_INT(verify(hdr, "{\"a\":2}", 1000000, &which), INNGEST_ESIG); /* tampered */
    /* The fields are split at '&' as sent: a space makes "s" another field's name. */
    char spaced[ING_SIG_HEADER_MAX + 1];
    const char *amp = strchr(hdr, '&');
    CHECK(amp != NULL);
    snprintf(spaced, sizeof(spaced), "%.*s& %s", (int)(amp - hdr), hdr, amp + 1);
    CHECK_EQ_INT(verify(spaced, body, 1000000, &which), INNGEST_ESIG);

    CHECK_EQ_INT(ing_sig_header(KEY_FALLB, body, strlen(body), 1000000, hdr), INNGEST_OK);
    CHECK_EQ_INT(verify(hdr, body, 1000000, &which), INNGEST_OK);
    CHECK_EQ_INT(which, 1);
}

TEST_CASE(verify_malformed_headers) {
    int which;
    CHECK_EQ_INT(verify(NULL, "", 1000, &which), INNGEST_ESIG);
    CHECK_EQ_INT(verify("", "", 1000, &which), INNGEST_ESIG);
    CHECK_EQ_INT(verify("t=1000", "", 1000, &which), INNGEST_ESIG);
    CHECK_EQ_INT(verify("s=abcd", "", 1000, &which), INNGEST_ESIG);
    CHECK_EQ_INT(verify("t=abc&s=abcd", "", 1000, &which), INNGEST_ESIG);
    CHECK_EQ_INT(verify("t=1000&s=", "", 1000, &which), INNGEST_ESIG);
    CHECK_EQ_INT(verify("garbage", "", 1000, &which), INNGEST_ESIG);
}
