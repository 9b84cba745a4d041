/*
 * kernels/batch_norm_avx2.c - eval-mode batch_norm (ops/batch_norm.c)
 * with its fused activation, AVX2, 8 floats at a time: per (n, c) plane
 * y = act(x * alpha[c] + beta[c]) with the reference's alpha and beta, a
 * float multiply then add (no FMA, as the reference rounds) and the
 * activation of kernels/activation_avx2.h. The last partial vector of a
 * plane uses masked loads and stores. Compiled with -mavx2 -mfma only.
 *
 *   x: (N, C, ...)   mean, var: (C)   w, b: (C) optional   y: like x
 *
 * Work split (ith, nth): (n, c) planes.
 */
#include <immintrin.h>

#include "kernels/activation_avx2.h"

void fx_f32_batch_norm__avx2(const fx_kargs *a, int ith, int nth);

/* One plane of n floats (act: a constant at the call sites). */
FX_INLINE void
plane(const float *x, float *y, int64_t n,
      float alpha, float beta, const int64_t act)
{
    const __m256 al = _mm256_set1_ps(alpha), be = _mm256_set1_ps(beta);
    int64_t i;

    for (i = 0; i + 8 <= n; i += 8) {
        _mm256_storeu_ps(y + i,
                         fx__v_bn_act(act, _mm256_loadu_ps(x + i), al, be));
    }
    if (i < n) {
        const __m256i m = _mm256_cmpgt_epi32(
            _mm256_set1_epi32((int)(n - i)),
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));

        _mm256_maskstore_ps(
            y + i, m,
            fx__v_bn_act(act, _mm256_maskload_ps(x + i, m), al, be));
    }
}

void
fx_f32_batch_norm__avx2(const fx_kargs *a, int ith, int nth)
{
    const fx_batch_norm_params *p = a->params;
    const fx_tensor *x = &a->in[0];
    const int64_t c_n = x->shape[1];
    const int64_t planes = x->shape[0] * c_n;
    const int64_t inner = planes > 0 ? fx_tensor_numel(x) / planes : 0;
    int64_t item, begin, end;

    fx__split(planes, ith, nth, &begin, &end);
    for (item = begin; item < end; item++) {
        const float *xs = x->data + item * inner;
        float *y = a->out->data + item * inner;
        float alpha, beta;

        fx__bn_affine(&a->in[1], a->n_in - 1, p->eps, item % c_n, &alpha,
                      &beta);
        switch (p->act) {
        case FX_ACT_RELU:
            plane(xs, y, inner, alpha, beta, FX_ACT_RELU);
            break;
        case FX_ACT_RELU6:
            plane(xs, y, inner, alpha, beta, FX_ACT_RELU6);
            break;
        case FX_ACT_HARDSWISH:
            plane(xs, y, inner, alpha, beta, FX_ACT_HARDSWISH);
            break;
        case FX_ACT_SILU:
            plane(xs, y, inner, alpha, beta, FX_ACT_SILU);
            break;
        case FX_ACT_GELU:
            plane(xs, y, inner, alpha, beta, FX_ACT_GELU);
            break;
        default:
            plane(xs, y, inner, alpha, beta, FX_ACT_NONE);
            break;
        }
    }
}
