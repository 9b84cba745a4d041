/*
 * kernels/layer_norm_avx2.c - layer_norm (ops/layer_norm.c) with AVX2:
 * per row of D floats, the reference's two passes in double, 4 lanes at
 * a time (sum, then the sum of squared deviations from the mean), then
 * y = (x - mean) * rstd [* w] [+ b] in float32 with the reference's
 * operations (no FMA), 8 lanes at a time. Only the order of the double
 * sums differs from the reference. Compiled with -mavx2 -mfma only.
 *
 *   x: (*, D1, .., Dk)   w, b: (D1, .., Dk) optional   y: like x
 *
 * Work split (ith, nth): rows, as the reference.
 */
#include <immintrin.h>
#include <math.h>

#include "ops/ops.h"

void fx_f32_layer_norm__avx2(const fx_kargs *a, int ith, int nth);

/* The sum of the 4 lanes of v. */
FX_INLINE double
hsum_pd(__m256d v)
{
    const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v),
                                 _mm256_extractf128_pd(v, 1));

    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

/* mean and sum((x - mean)^2) of x[0..n), in double. */
static void
row_stats(const float *x, int64_t n, double *mean, double *sq)
{
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    __m256d m, q0, q1;
    double sum, mu, tail;
    int64_t i;

    for (i = 0; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);

        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    }
    sum = hsum_pd(_mm256_add_pd(s0, s1));
    for (; i < n; i++) {
        sum += x[i];
    }
    mu = sum / (double)n;
    m = _mm256_set1_pd(mu);
    q0 = _mm256_setzero_pd();
    q1 = _mm256_setzero_pd();
    for (i = 0; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        const __m256d c0 = _mm256_sub_pd(
            _mm256_cvtps_pd(_mm256_castps256_ps128(v)), m);
        const __m256d c1 = _mm256_sub_pd(
            _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), m);

        q0 = _mm256_fmadd_pd(c0, c0, q0);
        q1 = _mm256_fmadd_pd(c1, c1, q1);
    }
    tail = hsum_pd(_mm256_add_pd(q0, q1));
    for (; i < n; i++) {
        const double c = (double)x[i] - mu;

        tail += c * c;
    }
    *mean = mu;
    *sq = tail;
}

/* y = (x - mean) * rstd, then * w[i] and + b[i] where given. */
FX_INLINE __m256
normalize8(__m256 v, __m256 mean, __m256 rstd, const float *w,
           const float *b, int64_t i, __m256i mask, int full)
{
    v = _mm256_mul_ps(_mm256_sub_ps(v, mean), rstd);
    if (w != NULL) {
        v = _mm256_mul_ps(v, full ? _mm256_loadu_ps(w + i)
                                  : _mm256_maskload_ps(w + i, mask));
    }
    if (b != NULL) {
        v = _mm256_add_ps(v, full ? _mm256_loadu_ps(b + i)
                                  : _mm256_maskload_ps(b + i, mask));
    }
    return v;
}

void
fx_f32_layer_norm__avx2(const fx_kargs *a, int ith, int nth)
{
    const fx_layer_norm_params *p = a->params;
    const fx_tensor *x = &a->in[0];
    const float *w = a->n_in > 1 ? a->in[1].data : NULL;
    const float *b = a->n_in > 2 ? a->in[2].data : NULL;
    const __m256i none = _mm256_setzero_si256();
    int64_t inner = 1, rows, r, i, begin, end;
    int32_t d;

    for (d = x->ndim - (int32_t)p->normalized_ndim; d < x->ndim; d++) {
        inner *= x->shape[d];
    }
    rows = inner > 0 ? fx_tensor_numel(x) / inner : 0;
    fx__split(rows, ith, nth, &begin, &end);
    for (r = begin; r < end; r++) {
        const float *xs = x->data + r * inner;
        float *y = a->out->data + r * inner;
        double mean, sq;
        __m256 vm, vr;

        row_stats(xs, inner, &mean, &sq);
        vm = _mm256_set1_ps((float)mean);
        vr = _mm256_set1_ps((float)(1.0 / sqrt(sq / (double)inner + p->eps)));
        for (i = 0; i + 8 <= inner; i += 8) {
            _mm256_storeu_ps(y + i, normalize8(_mm256_loadu_ps(xs + i), vm,
                                               vr, w, b, i, none, 1));
        }
        if (i < inner) {
            const __m256i m = _mm256_cmpgt_epi32(
                _mm256_set1_epi32((int)(inner - i)),
                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));

            _mm256_maskstore_ps(y + i, m,
                                normalize8(_mm256_maskload_ps(xs + i, m), vm,
                                           vr, w, b, i, m, 0));
        }
    }
}
