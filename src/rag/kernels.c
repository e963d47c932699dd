/* SPDX-License-Identifier: MIT */
/*
 * Dot-product kernels for the exact scan: int8 x int8 (AVX-512 VNNI, AVX2, portable C)
 * and float32 (AVX-512, AVX2+FMA, portable C). Chosen at run time with
 * __builtin_cpu_supports, so one binary runs on any x86-64 (and other architectures use
 * the portable code). The scan reads 1.5 KB per 1536-d vector and does little work per
 * byte: the SIMD kernels exist to keep it bound by memory bandwidth, not by the core.
 */
#include "fmacros.h"

#include <stdlib.h>
#include <string.h>

#include "inngest/env.h"
#include "rag/rag_internal.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define ING_X86 1
#include <immintrin.h>
#endif

void ing_dot_i8_scalar(const int8_t *codes, size_t stride, size_t count, const int8_t *q,
                       const uint8_t *qu, const int32_t *sums, int32_t *out) {
    (void)qu;
    (void)sums;
    for (size_t i = 0; i < count; i++) {
        const int8_t *c = codes + i * stride;
        int32_t acc = 0;
        for (size_t j = 0; j < stride; j++)
            acc += (int32_t)q[j] * (int32_t)c[j];
        out[i] = acc;
    }
}

float ing_dot_f32_scalar(const float *a, const float *b, size_t n) {
    /* Eight independent sums: the compiler may not reorder a float reduction itself. */
    float s[8] = {0};
    size_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int k = 0; k < 8; k++)
            s[k] += a[j + k] * b[j + k];
    float t = 0;
    for (; j < n; j++)
        t += a[j] * b[j];
    return t + ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

#ifdef ING_X86

__attribute__((target("avx2"))) static inline int32_t hsum256_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

/* AVX2: |q| times (c with q's sign) through maddubs; |q|, |c| <= 127 so the 16-bit pair
 * sums (at most 2 * 127 * 127) never saturate. */
__attribute__((target("avx2"))) static void dot_i8_avx2(const int8_t *codes, size_t stride,
                                                        size_t count, const int8_t *q,
                                                        const uint8_t *qu, const int32_t *sums,
                                                        int32_t *out) {
    (void)qu;
    (void)sums;
    const __m256i ones = _mm256_set1_epi16(1);
    size_t i = 0;
    for (; i + 2 <= count; i += 2) {
        const int8_t *c0 = codes + i * stride, *c1 = c0 + stride;
        __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256();
        for (size_t j = 0; j < stride; j += 32) {
            __m256i qv = _mm256_loadu_si256((const __m256i *)(q + j));
            __m256i qa = _mm256_abs_epi8(qv);
            __m256i v0 = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(c0 + j)), qv);
            __m256i v1 = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(c1 + j)), qv);
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_maddubs_epi16(qa, v0), ones));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_maddubs_epi16(qa, v1), ones));
        }
        out[i] = hsum256_epi32(a0);
        out[i + 1] = hsum256_epi32(a1);
    }
    for (; i < count; i++) {
        const int8_t *c0 = codes + i * stride;
        __m256i a0 = _mm256_setzero_si256();
        for (size_t j = 0; j < stride; j += 32) {
            __m256i qv = _mm256_loadu_si256((const __m256i *)(q + j));
            __m256i v0 = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(c0 + j)), qv);
            a0 = _mm256_add_epi32(
                a0, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(qv), v0), ones));
        }
        out[i] = hsum256_epi32(a0);
    }
}

/* AVX-512 VNNI: vpdpbusd multiplies unsigned by signed bytes into 32-bit sums in one
 * instruction; the query is shifted to unsigned (q + 128) and the shift removed with the
 * vector's precomputed code sum. Four vectors per pass share each query load. */
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static void
dot_i8_vnni(const int8_t *codes, size_t stride, size_t count, const int8_t *q, const uint8_t *qu,
            const int32_t *sums, int32_t *out) {
    (void)q;
    size_t i = 0;
    for (; i + 4 <= count; i += 4) {
        const int8_t *c0 = codes + i * stride;
        __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512(),
                a2 = _mm512_setzero_si512(), a3 = _mm512_setzero_si512();
        for (size_t j = 0; j < stride; j += 64) {
            __m512i qv = _mm512_loadu_si512((const void *)(qu + j));
            a0 = _mm512_dpbusd_epi32(a0, qv, _mm512_loadu_si512((const void *)(c0 + j)));
            a1 = _mm512_dpbusd_epi32(a1, qv, _mm512_loadu_si512((const void *)(c0 + stride + j)));
            a2 = _mm512_dpbusd_epi32(a2, qv,
                                     _mm512_loadu_si512((const void *)(c0 + 2 * stride + j)));
            a3 = _mm512_dpbusd_epi32(a3, qv,
                                     _mm512_loadu_si512((const void *)(c0 + 3 * stride + j)));
        }
        out[i] = _mm512_reduce_add_epi32(a0) - 128 * sums[i];
        out[i + 1] = _mm512_reduce_add_epi32(a1) - 128 * sums[i + 1];
        out[i + 2] = _mm512_reduce_add_epi32(a2) - 128 * sums[i + 2];
        out[i + 3] = _mm512_reduce_add_epi32(a3) - 128 * sums[i + 3];
    }
    for (; i < count; i++) {
        const int8_t *c0 = codes + i * stride;
        __m512i a0 = _mm512_setzero_si512();
        for (size_t j = 0; j < stride; j += 64)
            a0 = _mm512_dpbusd_epi32(a0, _mm512_loadu_si512((const void *)(qu + j)),
                                     _mm512_loadu_si512((const void *)(c0 + j)));
        out[i] = _mm512_reduce_add_epi32(a0) - 128 * sums[i];
    }
}

__attribute__((target("avx2,fma"))) static float dot_f32_avx2(const float *a, const float *b,
                                                              size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(),
           s3 = _mm256_setzero_ps();
    size_t j = 0;
    for (; j + 32 <= n; j += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j + 8), _mm256_loadu_ps(b + j + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j + 16), _mm256_loadu_ps(b + j + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j + 24), _mm256_loadu_ps(b + j + 24), s3);
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    float t = _mm_cvtss_f32(h);
    for (; j < n; j++)
        t += a[j] * b[j];
    return t;
}

__attribute__((target("avx512f"))) static float dot_f32_avx512(const float *a, const float *b,
                                                               size_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t j = 0;
    for (; j + 32 <= n; j += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + j), _mm512_loadu_ps(b + j), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + j + 16), _mm512_loadu_ps(b + j + 16), s1);
    }
    float t = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
    for (; j < n; j++)
        t += a[j] * b[j];
    return t;
}
#endif /* ING_X86 */

ing_dot_i8_fn ing_kernel_dot_i8(const char **name) {
    const char *force = inngest_env_get(NULL, NULL, "INNGEST_RAG_KERNEL");
#ifdef ING_X86
    __builtin_cpu_init();
    if ((!force || !strcmp(force, "avx512vnni")) && __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni")) {
        if (name)
            *name = "avx512vnni";
        return dot_i8_vnni;
    }
    if ((!force || strcmp(force, "scalar")) && __builtin_cpu_supports("avx2")) {
        if (name)
            *name = "avx2";
        return dot_i8_avx2;
    }
#endif
    (void)force;
    if (name)
        *name = "scalar";
    return ing_dot_i8_scalar;
}

ing_dot_f32_fn ing_kernel_dot_f32(void) {
#ifdef ING_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return dot_f32_avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return dot_f32_avx2;
#endif
    return ing_dot_f32_scalar;
}
