/*
 * kernels/activation_avx2.c - the pointwise activations of
 * ops/activation.c with AVX2+FMA, 8 floats at a time (the vector forms
 * and their accuracy: kernels/activation_avx2.h). The last partial vector
 * goes through the same code with masked loads and stores, so every
 * element is computed alike whatever its position and the thread count.
 * Compiled with -mavx2 -mfma only.
 *
 *   x: any shape   y: like x
 *
 * Work split (ith, nth): contiguous element ranges.
 */
#include <immintrin.h>

#include "kernels/activation_avx2.h"

void fx_f32_hardswish__avx2(const fx_kargs *a, int ith, int nth);
void fx_f32_hardsigmoid__avx2(const fx_kargs *a, int ith, int nth);
void fx_f32_relu6__avx2(const fx_kargs *a, int ith, int nth);
void fx_f32_sigmoid__avx2(const fx_kargs *a, int ith, int nth);
void fx_f32_silu__avx2(const fx_kargs *a, int ith, int nth);
void fx_f32_gelu__avx2(const fx_kargs *a, int ith, int nth);

/* Lane mask of the first n (0..8) lanes. */
FX_INLINE __m256i
first_lanes(int64_t n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* y = fn(x) elementwise over this thread's part (inlined with fn). */
FX_INLINE void
pointwise(const fx_kargs *a, int ith, int nth, __m256 (*fn)(__m256))
{
    const float *x = a->in[0].data;
    float *y = a->out->data;
    int64_t i, begin, end;

    fx__split(fx_tensor_numel(a->out), ith, nth, &begin, &end);
    for (i = begin; i + 8 <= end; i += 8) {
        _mm256_storeu_ps(y + i, fn(_mm256_loadu_ps(x + i)));
    }
    if (i < end) {
        const __m256i m = first_lanes(end - i);

        _mm256_maskstore_ps(y + i, m, fn(_mm256_maskload_ps(x + i, m)));
    }
}

void
fx_f32_hardswish__avx2(const fx_kargs *a, int ith, int nth)
{
    pointwise(a, ith, nth, fx__v_hardswish);
}

void
fx_f32_hardsigmoid__avx2(const fx_kargs *a, int ith, int nth)
{
    pointwise(a, ith, nth, fx__v_hardsigmoid);
}

void
fx_f32_relu6__avx2(const fx_kargs *a, int ith, int nth)
{
    pointwise(a, ith, nth, fx__v_relu6);
}

void
fx_f32_sigmoid__avx2(const fx_kargs *a, int ith, int nth)
{
    pointwise(a, ith, nth, fx__v_sigmoid);
}

void
fx_f32_silu__avx2(const fx_kargs *a, int ith, int nth)
{
    pointwise(a, ith, nth, fx__v_silu);
}

void
fx_f32_gelu__avx2(const fx_kargs *a, int ith, int nth)
{
    const fx_gelu_params *p = a->params;

    if (p->approximate == 0) {
        pointwise(a, ith, nth, fx__v_gelu_erf);
    } else {
        pointwise(a, ith, nth, fx__v_gelu_tanh);
    }
}
