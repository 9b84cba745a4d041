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
    fx__batch_norm_planes(a, ith, nth, fx__bn_act_run, 0);
}

/* cat_batch_norm: the same per plane, each plane read from the input of
 * the concatenation holding it. */
void fx_f32_cat_batch_norm__avx2(const fx_kargs *a, int ith, int nth);

void
fx_f32_cat_batch_norm__avx2(const fx_kargs *a, int ith, int nth)
{
    fx__batch_norm_planes(a, ith, nth, fx__bn_act_run, 1);
}
