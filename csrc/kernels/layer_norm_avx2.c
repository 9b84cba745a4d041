/*
 * kernels/layer_norm_avx2.c - layer_norm (ops/layer_norm.c) with AVX2:
 * per row of D floats, the reference's two passes in double, 16 floats a
 * step into four 4-lane sums (sum, then the sum of squared deviations
 * from the mean), then y = (x - mean) * rstd [* w] [+ b] in float32 with
 * the reference's operations (no FMA), 8 lanes at a time. Only the order of the double
 * sums differs from the reference. Rows go two at a time, side by side
 * (each with its own sums: the same bits as one at a time), as a row's
 * statistics are one long chain of dependent operations. Compiled with
 * -mavx2 -mfma only.
 *
 *   x: (*, D1, .., Dk)   w, b: (D1, .., Dk) optional   y: like x
 *
 * Work split (ith, nth): rows, as the reference. channels_first: x
 * (N, C, ...) is moved into y's rows 8 pixels at a time by 8 x 8
 * transposes in registers (the permute kernel's), each row then
 * normalised in place while in L1 by the same row code; work items:
 * (image, band of 8 pixels).
 */
#include <immintrin.h>
#include <math.h>

#include "kernels/transpose_avx2.h"
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

/* *a0, *a1 += the 8 floats at x widened to double (sq = 0), or their
 * squared deviations from m (sq = 1), as two 4-lane halves. */
FX_INLINE void
acc8(const float *x, __m256d m, const int sq, __m256d *a0, __m256d *a1)
{
    const __m256 v = _mm256_loadu_ps(x);
    __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
    __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));

    if (sq) {
        lo = _mm256_sub_pd(lo, m);
        hi = _mm256_sub_pd(hi, m);
        *a0 = _mm256_fmadd_pd(lo, lo, *a0);
        *a1 = _mm256_fmadd_pd(hi, hi, *a1);
    } else {
        *a0 = _mm256_add_pd(*a0, lo);
        *a1 = _mm256_add_pd(*a1, hi);
    }
}

/* That sum over x[r][0..*end) for each of the R rows (R = 1 or 2, a
 * constant where this is inlined; *end: n rounded down to a multiple of
 * 8), in four 4-lane partial sums per row, 16 floats a step, so that the
 * chains of dependent additions of a short row (ConvNeXt's 96 channels)
 * are short; two rows side by side give the core two independent chains
 * (each row's sums are the same operations in the same order as alone).
 * m[r]: row r's mean (sq = 1). */
FX_INLINE void
vector_sums(const int R, const float *const *x, int64_t n, const double *m,
            const int sq, double *sum, int64_t *end)
{
    __m256d s[2][4], mv[2];
    int64_t i;
    int r, u;

    for (r = 0; r < R; r++) {
        mv[r] = _mm256_set1_pd(m[r]);
        for (u = 0; u < 4; u++) {
            s[r][u] = _mm256_setzero_pd();
        }
    }
    for (i = 0; i + 16 <= n; i += 16) {
        for (r = 0; r < R; r++) {
            acc8(x[r] + i, mv[r], sq, &s[r][0], &s[r][1]);
            acc8(x[r] + i + 8, mv[r], sq, &s[r][2], &s[r][3]);
        }
    }
    if (i + 8 <= n) {
        for (r = 0; r < R; r++) {
            acc8(x[r] + i, mv[r], sq, &s[r][0], &s[r][1]);
        }
        i += 8;
    }
    *end = i;
    for (r = 0; r < R; r++) {
        sum[r] = hsum_pd(_mm256_add_pd(_mm256_add_pd(s[r][0], s[r][1]),
                                       _mm256_add_pd(s[r][2], s[r][3])));
    }
}

/* mean and sum((x - mean)^2) of each row x[r][0..n), r < R, in double. */
FX_INLINE void
row_stats(const int R, const float *const *x, int64_t n, double *mean,
          double *sq)
{
    const double zero[2] = {0.0, 0.0};
    double sum[2];
    int64_t i, i0;
    int r;

    vector_sums(R, x, n, zero, 0, sum, &i0);
    for (r = 0; r < R; r++) {
        for (i = i0; i < n; i++) {
            sum[r] += x[r][i];
        }
        mean[r] = sum[r] / (double)n;
    }
    vector_sums(R, x, n, mean, 1, sq, &i0);
    for (r = 0; r < R; r++) {
        for (i = i0; i < n; i++) {
            const double c = (double)x[r][i] - mean[r];

            sq[r] += c * c;
        }
    }
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

/* R rows (1 or 2, see vector_sums): y[r][0..n) = the layer norm of
 * xs[r][0..n) (y[r] may be xs[r]). */
FX_INLINE void
norm_rows(const int R, const float *const *xs, float *const *y,
          int64_t inner, double eps, const float *w, const float *b)
{
    const __m256i none = _mm256_setzero_si256();
    double mean[2], sq[2];
    int64_t i;
    int r;

    row_stats(R, xs, inner, mean, sq);
    for (r = 0; r < R; r++) {
        const __m256 vm = _mm256_set1_ps((float)mean[r]);
        const __m256 vr = _mm256_set1_ps(
            (float)(1.0 / sqrt(sq[r] / (double)inner + eps)));

        for (i = 0; i + 8 <= inner; i += 8) {
            _mm256_storeu_ps(y[r] + i,
                             normalize8(_mm256_loadu_ps(xs[r] + i), vm, vr,
                                        w, b, i, none, 1));
        }
        if (i < inner) {
            const __m256i m = _mm256_cmpgt_epi32(
                _mm256_set1_epi32((int)(inner - i)),
                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));

            _mm256_maskstore_ps(
                y[r] + i, m,
                normalize8(_mm256_maskload_ps(xs[r] + i, m), vm, vr, w, b, i,
                           m, 0));
        }
    }
}

/* Rows [r0, r1) of the inner-long rows at x into y (y may be x), two at
 * a time. */
static void
norm_range(const float *x, float *y, int64_t r0, int64_t r1, int64_t inner,
           double eps, const float *w, const float *b)
{
    int64_t r;

    for (r = r0; r + 2 <= r1; r += 2) {
        const float *xs[2] = {x + r * inner, x + (r + 1) * inner};
        float *ys[2] = {y + r * inner, y + (r + 1) * inner};

        norm_rows(2, xs, ys, inner, eps, w, b);
    }
    if (r < r1) {
        const float *xs[1] = {x + r * inner};
        float *ys[1] = {y + r * inner};

        norm_rows(1, xs, ys, inner, eps, w, b);
    }
}

void
fx_f32_layer_norm__avx2(const fx_kargs *a, int ith, int nth)
{
    const fx_layer_norm_params *p = a->params;
    const float *x = a->in[0].data;
    const float *w = a->n_in > 1 ? a->in[1].data : NULL;
    const float *b = a->n_in > 2 ? a->in[2].data : NULL;
    int64_t c, rows, s, bands, item, begin, end, q, q0, q1, k;

    fx__layer_norm_rows(a, &c, &rows);
    if (!p->channels_first || rows == 0) {
        fx__split(rows, ith, nth, &begin, &end);
        norm_range(x, a->out->data, begin, end, c, p->eps, w, b);
        return;
    }
    s = rows / a->in[0].shape[0];
    bands = (s + 7) / 8;
    fx__split(a->in[0].shape[0] * bands, ith, nth, &begin, &end);
    for (item = begin; item < end; item++) {
        const float *xn = x + item / bands * c * s;
        float *yn = a->out->data + item / bands * c * s;

        q0 = item % bands * 8;
        q1 = q0 + 8 < s ? q0 + 8 : s;
        k = 0;
        if (q1 - q0 == 8) {
            for (; k + 8 <= c; k += 8) {
                fx__transpose8(xn + k * s + q0, s, yn + q0 * c + k, c);
            }
        }
        for (q = q0; q < q1; q++) {
            int64_t j;

            for (j = k; j < c; j++) {
                yn[q * c + j] = xn[j * s + q];
            }
        }
        norm_range(yn, yn, q0, q1, c, p->eps, w, b);
    }
}
