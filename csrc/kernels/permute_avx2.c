/*
 * kernels/permute_avx2.c - permute's batched 2-D transposes (NCHW <->
 * NHWC among others, see ops/permute.c) as 8 x 8 transposes in AVX2
 * registers; any other permutation is the reference kernel's. A copy
 * either way, so the results equal the reference's. Compiled with
 * -mavx2 -mfma only.
 */
#include "kernels/transpose_avx2.h"
#include "ops/ops.h"

void fx_f32_permute__avx2(const fx_kargs *a, int ith, int nth);

/* x: (A, R, S) -> y: (A, S, R); work items: (a, band of 8 output rows s),
 * each walking all of R in 8 x 8 blocks (the edges element by element). */
void
fx_f32_permute__avx2(const fx_kargs *a, int ith, int nth)
{
    const fx_tensor *x = &a->in[0];
    int64_t a_n, r_n, s_n, bands, item, begin, end, r0, r, s;

    if (a->out->ndim == 0
        || !fx__permute_as_transpose(a->params, x, &a_n, &r_n, &s_n)) {
        fx_permute_ref(a, ith, nth);
        return;
    }
    bands = (s_n + 7) / 8;
    fx__split(a_n * bands, ith, nth, &begin, &end);
    for (item = begin; item < end; item++) {
        const int64_t s0 = item % bands * 8;
        const int64_t s1 = s0 + 8 < s_n ? s0 + 8 : s_n;
        const float *xa = x->data + item / bands * r_n * s_n;
        float *ya = a->out->data + item / bands * r_n * s_n;

        r0 = 0;
        if (s1 - s0 == 8) {
            for (; r0 + 8 <= r_n; r0 += 8) {
                fx__transpose8(xa + r0 * s_n + s0, s_n, ya + s0 * r_n + r0,
                               r_n);
            }
        }
        for (s = s0; s < s1; s++) {
            for (r = r0; r < r_n; r++) {
                ya[s * r_n + r] = xa[r * s_n + s];
            }
        }
    }
}
