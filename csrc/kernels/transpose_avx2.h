/*
 * kernels/transpose_avx2.h - an 8 x 8 float transpose in AVX2 registers,
 * shared by the kernels that move data between row and column order
 * (the GEMM's packing of transposed weights, permute). Include only from
 * files compiled with -mavx2.
 */
#ifndef FX_TRANSPOSE_AVX2_H
#define FX_TRANSPOSE_AVX2_H

#include <immintrin.h>

#include "ops/ops.h"

/* r[t] (lane l) becomes the old r[l] (lane t), for l, t < 8: the rows
 * are interleaved in pairs, then in fours, then the 128-bit halves
 * swapped into place. */
FX_INLINE void
fx__transpose8_regs(__m256 r[8])
{
    __m256 u[8], v[8];
    int t;

    for (t = 0; t < 8; t += 2) {
        u[t] = _mm256_unpacklo_ps(r[t], r[t + 1]);
        u[t + 1] = _mm256_unpackhi_ps(r[t], r[t + 1]);
    }
    for (t = 0; t < 8; t += 4) {
        v[t] = _mm256_shuffle_ps(u[t], u[t + 2], _MM_SHUFFLE(1, 0, 1, 0));
        v[t + 1] = _mm256_shuffle_ps(u[t], u[t + 2], _MM_SHUFFLE(3, 2, 3, 2));
        v[t + 2] = _mm256_shuffle_ps(u[t + 1], u[t + 3],
                                     _MM_SHUFFLE(1, 0, 1, 0));
        v[t + 3] = _mm256_shuffle_ps(u[t + 1], u[t + 3],
                                     _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (t = 0; t < 4; t++) {
        r[t] = _mm256_permute2f128_ps(v[t], v[t + 4], 0x20);
        r[t + 4] = _mm256_permute2f128_ps(v[t], v[t + 4], 0x31);
    }
}

/* d[t * ldd + r] = s[r * lds + t] for r, t < 8. */
FX_INLINE void
fx__transpose8(const float *s, int64_t lds, float *d, int64_t ldd)
{
    __m256 r[8];
    int t;

    for (t = 0; t < 8; t++) {
        r[t] = _mm256_loadu_ps(s + t * lds);
    }
    fx__transpose8_regs(r);
    for (t = 0; t < 8; t++) {
        _mm256_storeu_ps(d + t * ldd, r[t]);
    }
}

#endif /* FX_TRANSPOSE_AVX2_H */
