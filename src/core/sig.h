/* SPDX-License-Identifier: MIT */
/*
 * Request signatures and key hashing: the only module that uses OpenSSL.
 *
 * Signature: "t=<unix seconds>&s=<hex HMAC-SHA256(key, body || decimal t)>", where the key
 * is the signing key's text after its "signkey-<env>-" prefix (not hex-decoded).
 * Bearer token: "<prefix>" + hex(SHA-256(hex-decode(key without prefix))).
 */
#ifndef ING_SIG_H
#define ING_SIG_H

#include <stddef.h>
#include <stdint.h>

#define ING_SIG_WINDOW_S 300
#define ING_SIG_HEADER_MAX 96

/* Length of the "signkey-<word>-" prefix of `key` (0 when it has none). */
size_t ing_sig_prefix_len(const char *key);

/* Writes the lowercase hex HMAC of body||t under `key` into out (65 bytes). */
int ing_sig_compute(const char *key, const void *body, size_t len, int64_t t, char out[65]);

/* Builds the header value for a response body signed at `now_s`. */
int ing_sig_header(const char *key, const void *body, size_t len, int64_t now_s,
                   char out[ING_SIG_HEADER_MAX]);

/* A signature header that passed the cheap checks: its timestamp and its "s" value. */
struct ing_sig_parsed {
    int64_t t;
    char s[80];
};

/*
 * The checks that need no body: the header is present, has "t" and "s", and t is within
 * ING_SIG_WINDOW_S of now_s. Returns INNGEST_OK with `out` filled, or INNGEST_ESIG with a
 * reason in `why`. Costs nothing per body byte, so it runs before a body is read.
 */
int ing_sig_parse(const char *header, int64_t now_s, struct ing_sig_parsed *out, char *why,
                  size_t why_len);

/* Compares a parsed signature with the HMAC of `body` under keys[0], then keys[1] (either
 * may be NULL), in constant time. INNGEST_OK with *matched set, or INNGEST_ESIG. */
int ing_sig_match(const struct ing_sig_parsed *sig, const void *body, size_t len,
                  const char *const keys[2], int *matched);

/*
 * Verifies `header` over the raw body bytes (ing_sig_parse, then ing_sig_match). Tries keys[0] then keys[1] (either may be
 * NULL). On success returns INNGEST_OK and sets *matched to the index of the key that
 * verified. Otherwise returns INNGEST_ESIG with a reason in `why` (at least 96 bytes):
 * missing header, malformed header, expired or future timestamp, or mismatch.
 */
int ing_sig_verify(const char *header, const void *body, size_t len, int64_t now_s,
                   const char *const keys[2], int *matched, char *why, size_t why_len);

/* The bearer form of a signing key (see above). Returns INNGEST_OK, or INNGEST_ETOOBIG
 * when `out_len` is too small (prefix length + 65 always suffices). */
int ing_sig_hash_key(const char *key, char *out, size_t out_len);

/* Lowercase hex digests. */
void ing_sha256_hex(const void *data, size_t len, char out[65]);
void ing_sha1_hex(const void *data, size_t len, char out[41]);

/* Constant-time comparison of two equal-length strings; different lengths compare
 * unequal. Returns 1 when equal. */
int ing_ct_equal(const char *a, const char *b);

/* Fills `buf` with cryptographically random bytes. Returns INNGEST_OK or
 * INNGEST_EINTERNAL. */
int ing_random_bytes(void *buf, size_t len);

#endif
