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

/* d[t * ldd + r] = s[r * lds + t] for r, t < 8. The rows are interleaved
 * in pairs, then in fours, then the 128-bit halves swapped into place. */
FX_INLINE void
fx__transpose8(const float *s, int64_t lds, float *d, int64_t ldd)
{
    __m256 r[8], u[8], v[8];
    int t;

    for (t = 0; t < 8; t++) {
        r[t] = _mm256_loadu_ps(s + t * lds);
    }
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
        _mm256_storeu_ps(d + t * ldd,
                         _mm256_permute2f128_ps(v[t], v[t + 4], 0x20));
        _mm256_storeu_ps(d + (t + 4) * ldd,
                         _mm256_permute2f128_ps(v[t], v[t + 4], 0x31));
    }
}

#endif /* FX_TRANSPOSE_AVX2_H */
