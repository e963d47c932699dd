/* SPDX-License-Identifier: MIT */
/* Signatures, key hashing and digests. The only OpenSSL user in the project. */
#include "fmacros.h"

#include "core/alloc.h"
#include "core/sig.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/core_names.h>
#include <openssl/sha.h>

#include "core/http.h"
#include "inngest/error.h"

static void to_hex(const unsigned char *in, size_t n, char *out) {
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int is_word(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_';
}

size_t ing_sig_prefix_len(const char *key) {
    static const char pfx[] = "signkey-";
    if (strncmp(key, pfx, sizeof(pfx) - 1) != 0)
        return 0;
    /* Greedy \w+ followed by '-', as the official SDKs' regex ^signkey-\w+- does. */
    const char *p = key + sizeof(pfx) - 1, *q = p;
    while (is_word(*q))
        q++;
    if (q == p || *q != '-')
        return 0;
    return (size_t)(q + 1 - key);
}

/* Fetching an algorithm by name takes a lock and a lookup on every call; signature checks
 * and step-id hashes are on every request, so each is fetched once per process. Racing
 * first callers may each fetch one; the losers free theirs. */
static EVP_MAC *hmac_mac(void) {
    static EVP_MAC *_Atomic mac;
    EVP_MAC *m = atomic_load_explicit(&mac, memory_order_acquire);
    if (m)
        return m;
    EVP_MAC *fresh = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!fresh)
        return NULL;
    if (!atomic_compare_exchange_strong(&mac, &m, fresh)) {
        EVP_MAC_free(fresh);
        return m;
    }
    return fresh;
}

/* An HMAC-SHA256 context without a key, made once: passing "digest" to every
 * EVP_MAC_init fetched SHA-256 by name each time (two per signed request); a duplicate of
 * this one already holds the digest. */
static EVP_MAC_CTX *hmac_sha256_proto(void) {
    static EVP_MAC_CTX *_Atomic proto;
    EVP_MAC_CTX *p = atomic_load_explicit(&proto, memory_order_acquire);
    if (p)
        return p;
    EVP_MAC *m = hmac_mac();
    EVP_MAC_CTX *fresh = m ? EVP_MAC_CTX_new(m) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0),
                           OSSL_PARAM_construct_end()};
    if (!fresh || !EVP_MAC_CTX_set_params(fresh, params)) {
        EVP_MAC_CTX_free(fresh);
        return NULL;
    }
    if (!atomic_compare_exchange_strong(&proto, &p, fresh)) {
        EVP_MAC_CTX_free(fresh);
        return p;
    }
    return fresh;
}

int ing_sig_compute(const char *key, const void *body, size_t len, int64_t t, char out[65]) {
    const char *k = key + ing_sig_prefix_len(key);
    char ts[24];
    int tl = snprintf(ts, sizeof(ts), "%lld", (long long)t);
    unsigned char mac[EVP_MAX_MD_SIZE];
    EVP_MAC_CTX *proto = hmac_sha256_proto();
    EVP_MAC_CTX *c = proto ? EVP_MAC_CTX_dup(proto) : NULL;
    int ok = c && EVP_MAC_init(c, (const unsigned char *)k, strlen(k), NULL) &&
             EVP_MAC_update(c, body ? body : (const void *)"", len) &&
             EVP_MAC_update(c, (const unsigned char *)ts, (size_t)tl);
    size_t outl = 0;
    ok = ok && EVP_MAC_final(c, mac, &outl, sizeof(mac));
    EVP_MAC_CTX_free(c);
    if (!ok || outl != 32)
        return INNGEST_EINTERNAL;
    to_hex(mac, 32, out);
    return INNGEST_OK;
}

int ing_sig_header(const char *key, const void *body, size_t len, int64_t now_s,
                   char out[ING_SIG_HEADER_MAX]) {
    char s[65];
    int rc = ing_sig_compute(key, body, len, now_s, s);
    if (rc)
        return rc;
    snprintf(out, ING_SIG_HEADER_MAX, "t=%lld&s=%s", (long long)now_s, s);
    return INNGEST_OK;
}

int ing_ct_equal(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb)
        return 0;
    return CRYPTO_memcmp(a, b, la) == 0;
}

int ing_sig_parse(const char *header, int64_t now_s, struct ing_sig_parsed *out, char *why,
                  size_t why_len) {
    char t[24];
    if (!header || !*header) {
        snprintf(why, why_len, "missing X-Inngest-Signature header");
        return INNGEST_ESIG;
    }
    /* "t=<unix seconds>&s=<hex>": a missing, bare or oversized field is malformed. */
    if (ing_pair_get(header, '&', 0, "t", t, sizeof(t)) != 1 ||
        ing_pair_get(header, '&', 0, "s", out->s, sizeof(out->s)) != 1) {
        snprintf(why, why_len, "malformed X-Inngest-Signature header");
        return INNGEST_ESIG;
    }
    char *endp = NULL;
    long long ts = strtoll(t, &endp, 10);
    if (!*t || *endp || ts <= 0) {
        snprintf(why, why_len, "malformed signature timestamp");
        return INNGEST_ESIG;
    }
    long long delta = (long long)now_s - ts;
    if (delta > ING_SIG_WINDOW_S || delta < -ING_SIG_WINDOW_S) {
        snprintf(why, why_len, "signature timestamp outside the %d s window",
                 ING_SIG_WINDOW_S);
        return INNGEST_ESIG;
    }
    out->t = ts;
    return INNGEST_OK;
}

int ing_sig_match(const struct ing_sig_parsed *sig, const void *body, size_t len,
                  const char *const keys[2], int *matched) {
    for (int i = 0; i < 2; i++) {
        char want[65];
        if (!keys[i] || !*keys[i])
            continue;
        if (ing_sig_compute(keys[i], body, len, sig->t, want) != INNGEST_OK)
            continue;
        if (ing_ct_equal(want, sig->s)) {
            *matched = i;
            return INNGEST_OK;
        }
    }
    return INNGEST_ESIG;
}

int ing_sig_verify(const char *header, const void *body, size_t len, int64_t now_s,
                   const char *const keys[2], int *matched, char *why, size_t why_len) {
    struct ing_sig_parsed sig;
    int rc = ing_sig_parse(header, now_s, &sig, why, why_len);
    if (rc)
        return rc;
    if (ing_sig_match(&sig, body, len, keys, matched) == INNGEST_OK)
        return INNGEST_OK;
    snprintf(why, why_len, "signature does not match");
    return INNGEST_ESIG;
}

int ing_sig_hash_key(const char *key, char *out, size_t out_len) {
    size_t pl = ing_sig_prefix_len(key);
    const char *hex = key + pl;
    size_t hl = strlen(hex);
    if (out_len < pl + 65)
        return INNGEST_ETOOBIG;
    unsigned char *raw = ing_malloc(hl / 2 + 1);
    if (!raw)
        return INNGEST_ENOMEM;
    /* Decode hex pairs up to the first non-hex character, like Node's Buffer.from(hex). */
    size_t n = 0;
    for (size_t i = 0; i + 1 < hl; i += 2) {
        int a = ing_hexval(hex[i]), b = ing_hexval(hex[i + 1]);
        if (a < 0 || b < 0)
            break;
        raw[n++] = (unsigned char)(a * 16 + b);
    }
    memcpy(out, key, pl);
    ing_sha256_hex(raw, n, out + pl);
    ing_free(raw);
    return INNGEST_OK;
}

void ing_sha256_hex(const void *data, size_t len, char out[65]) {
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256(data ? data : (const void *)"", len, d);
    to_hex(d, sizeof(d), out);
}

/* SHA1() looks the algorithm up by name on every call (EVP_Q_digest), a third of the cost
 * of hashing a step id; fetch it once instead (see hmac_mac()). */
static EVP_MD *sha1_md(void) {
    static EVP_MD *_Atomic md;
    EVP_MD *m = atomic_load_explicit(&md, memory_order_acquire);
    if (m)
        return m;
    EVP_MD *fresh = EVP_MD_fetch(NULL, "SHA1", NULL);
    if (!fresh)
        return NULL;
    if (!atomic_compare_exchange_strong(&md, &m, fresh)) {
        EVP_MD_free(fresh);
        return m;
    }
    return fresh;
}

void ing_sha1_hex(const void *data, size_t len, char out[41]) {
    unsigned char d[EVP_MAX_MD_SIZE];
    const void *p = data ? data : (const void *)"";
    EVP_MD *md = sha1_md();
    if (!md || !EVP_Digest(p, len, d, NULL, md, NULL))
        SHA1(p, len, d);
    to_hex(d, SHA_DIGEST_LENGTH, out);
}

int ing_random_bytes(void *buf, size_t len) {
    return RAND_bytes(buf, (int)len) == 1 ? INNGEST_OK : INNGEST_EINTERNAL;
}
