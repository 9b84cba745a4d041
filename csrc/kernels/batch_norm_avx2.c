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
 * Work split (ith, nth): (n, c) planes. cat_batch_norm likewise, over the
 * planes of its inputs' concatenation.
 */
#include <immintrin.h>

#include "kernels/activation_avx2.h"

void fx_f32_batch_norm__avx2(const fx_kargs *a, int ith, int nth);

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
        fx__bn_act_run(xs, y, inner, alpha, beta, p->act);
    }
}

/* cat_batch_norm: the same per plane, each plane read from the input of
 * the concatenation holding it. */
void fx_f32_cat_batch_norm__avx2(const fx_kargs *a, int ith, int nth);

void
fx_f32_cat_batch_norm__avx2(const fx_kargs *a, int ith, int nth)
{
    fx__cat_batch_norm_planes(a, ith, nth, fx__bn_act_run);
}
