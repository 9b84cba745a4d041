/*
 * kernels/binary_avx2.c - add, sub, mul, div and add_relu (ops/binary.c)
 * with AVX2, 8 floats at a time: the same IEEE float32 operations as the
 * reference kernels, so the results are bit for bit theirs (add_relu's
 * relu as fx__v_relu, which keeps NaN and -0 as "s < 0 ? 0 : s" does).
 * Broadcasting and the work split are the reference's (fx__binary_run);
 * this file gives only the loop over one run of the output, whose last
 * n % 8 elements are done one by one (AMD's masked stores are
 * microcoded). Compiled with -mavx2 -mfma only.
 *
 *   a: shape A   b: shape B   y: broadcast(A, B)
 */
#include <immintrin.h>

#include "kernels/activation_avx2.h"

void fx_f32_add__avx2(const fx_kargs *a, int ith, int nth);
void fx_f32_sub__avx2(const fx_kargs *a, int ith, int nth);
void fx_f32_mul__avx2(const fx_kargs *a, int ith, int nth);
void fx_f32_div__avx2(const fx_kargs *a, int ith, int nth);
void fx_f32_add_relu__avx2(const fx_kargs *a, int ith, int nth);

FX_INLINE __m256
vapply(fx__binop op, __m256 x, __m256 z)
{
    switch (op) {
    case FX__BINOP_ADD:
        return _mm256_add_ps(x, z);
    case FX__BINOP_SUB:
        return _mm256_sub_ps(x, z);
    case FX__BINOP_MUL:
        return _mm256_mul_ps(x, z);
    case FX__BINOP_ADD_RELU:
        return fx__v_relu(_mm256_add_ps(x, z));
    default:
        return _mm256_div_ps(x, z);
    }
}

/* y[i] = x[i*sx] op z[i*sz], i < n (sx, sz 0 or 1); y may be x or z. */
FX_INLINE void
vrow(fx__binop op, const float *x, int64_t sx, const float *z, int64_t sz,
     float *y, int64_t n)
{
    int64_t i = 0;

    if (sx == 1 && sz == 1) {
        for (; i + 8 <= n; i += 8) {
            _mm256_storeu_ps(y + i, vapply(op, _mm256_loadu_ps(x + i),
                                           _mm256_loadu_ps(z + i)));
        }
    } else if (sx == 1) {
        const __m256 zv = _mm256_set1_ps(z[0]);

        for (; i + 8 <= n; i += 8) {
            _mm256_storeu_ps(y + i, vapply(op, _mm256_loadu_ps(x + i), zv));
        }
    } else if (sz == 1) {
        const __m256 xv = _mm256_set1_ps(x[0]);

        for (; i + 8 <= n; i += 8) {
            _mm256_storeu_ps(y + i, vapply(op, xv, _mm256_loadu_ps(z + i)));
        }
    } else {
        const __m256 v = vapply(op, _mm256_set1_ps(x[0]),
                                _mm256_set1_ps(z[0]));

        for (; i + 8 <= n; i += 8) {
            _mm256_storeu_ps(y + i, v);
        }
    }
    for (; i < n; i++) {
        y[i] = fx__binop_apply(op, x[i * sx], z[i * sz]);
    }
}

#define DEFINE_BINARY(NAME, OP)                                            \
    static void NAME##_row(const float *x, int64_t sx, const float *z,     \
                           int64_t sz, float *y, int64_t n)                \
    {                                                                      \
        vrow(OP, x, sx, z, sz, y, n);                                      \
    }                                                                      \
    void fx_f32_##NAME##__avx2(const fx_kargs *a, int ith, int nth)        \
    {                                                                      \
        fx__binary_run(a, ith, nth, NAME##_row);                           \
    }

FX__BINOPS(DEFINE_BINARY)
