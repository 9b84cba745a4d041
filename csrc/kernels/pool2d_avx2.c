/*
 * kernels/pool2d_avx2.c - max_pool2d and avg_pool2d with AVX2, for any
 * kernel size, stride, padding, dilation and ceil_mode (semantics: see
 * ops/pool2d.c). Compiled with -mavx2 -mfma only.
 *
 * Per output row, the columns whose whole window lies inside the input
 * row are computed 8 at a time: each tap loads 8 input values at the
 * output stride (stride 1: one load; stride 2: two loads and a
 * de-interleave; larger strides: a gather). A last partial block is
 * recomputed overlapping the previous one (pure outputs, so harmless).
 * Border columns (padding, ceil_mode overhang) and narrow rows use the
 * reference row function, so they are the reference by construction.
 *
 * Results equal the reference bit for bit: the taps are visited in the
 * same (row, column) order; max keeps the running value unless the tap is
 * greater or NaN (the last NaN wins, as in the reference), and avg adds
 * from 0 in tap order and divides by the same divisor.
 *
 * adaptive_avg_pool2d to one value per plane (global pooling) sums each
 * plane in fx__plane_sum's order with four accumulators (see plane_sum);
 * other output sizes run the reference kernel.
 *
 * Work split (ith, nth): by (n, c) planes, as the reference.
 */
#include <immintrin.h>
#include <limits.h>
#include <math.h>

#include "ops/ops.h"

/* 8 values p[0], p[sw], ..., p[7*sw], reading no element past p[7*sw]. */
static inline __m256
load8(const float *p, int64_t sw, __m256i vidx)
{
    if (sw == 1) {
        return _mm256_loadu_ps(p);
    }
    if (sw == 2) {
        /* a = p[0..7], b = p[7..14]: evens of a, odds of b */
        const __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 7);
        const __m256 s = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 2, 0));

        return _mm256_castpd_ps(_mm256_permute4x64_pd(
            _mm256_castps_pd(s), _MM_SHUFFLE(3, 1, 2, 0)));
    }
    return _mm256_i32gather_ps(p, vidx, 4);
}

/* The reference's running max: m unless v > m or v is NaN. */
static inline __m256
max_step(__m256 m, __m256 v)
{
    /* maxps returns its second operand when either is NaN or both are
     * equal, so a NaN m stays; a NaN v is then blended in */
    const __m256 t = _mm256_max_ps(v, m);

    return _mm256_blendv_ps(t, v, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
}

/* Columns [*jlo, *jhi) of the output whose window (kw taps, dilation dw)
 * lies inside an input row of width w; jhi <= jlo if none. */
static void
interior(int64_t w, int64_t ow, int64_t kw, int64_t sw, int64_t pw,
         int64_t dw, int64_t *jlo, int64_t *jhi)
{
    const int64_t last = w - 1 + pw - (kw - 1) * dw; /* j*sw <= last */

    *jlo = (pw + sw - 1) / sw;
    *jhi = last >= 0 ? last / sw + 1 : 0;
    if (*jhi > ow) {
        *jhi = ow;
    }
}

/* Whether the vector path applies: a gather index 7*sw fits an int. */
static int
vector_ok(int64_t sw)
{
    return sw <= INT_MAX / 8;
}

void fx_f32_max_pool2d__avx2(const fx_kargs *a, int ith, int nth);
void fx_f32_avg_pool2d__avx2(const fx_kargs *a, int ith, int nth);
void fx_f32_adaptive_avg_pool2d__avx2(const fx_kargs *a, int ith, int nth);

void
fx_f32_max_pool2d__avx2(const fx_kargs *a, int ith, int nth)
{
    const fx_max_pool2d_params *p = a->params;
    const int64_t kh = p->kernel_size.v[0], kw = p->kernel_size.v[1];
    const int64_t sh = p->stride.v[0], sw = p->stride.v[1];
    const int64_t ph = p->padding.v[0], pw = p->padding.v[1];
    const int64_t dh = p->dilation.v[0], dw = p->dilation.v[1];
    int64_t planes, h, w, oh, ow, pl, i, j, u, v, begin, end, jlo, jhi;
    __m256i vidx;

    fx__pool_planes(a, &planes, &h, &w, &oh, &ow);
    fx__split(planes, ith, nth, &begin, &end);
    interior(w, ow, kw, sw, pw, dw, &jlo, &jhi);
    if (jhi - jlo < 8 || !vector_ok(sw)) {
        jlo = jhi = ow; /* all columns by the reference */
    }
    vidx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                              _mm256_set1_epi32(vector_ok(sw) ? (int)sw : 0));
    for (pl = begin; pl < end; pl++) {
        const float *x = a->in[0].data + pl * h * w;

        for (i = 0; i < oh; i++) {
            float *y = a->out->data + (pl * oh + i) * ow;

            fx__max_pool2d_row(p, x, h, w, y, i, 0, jlo);
            for (j = jlo; j < jhi; j += 8) {
                const int64_t jb = j + 8 <= jhi ? j : jhi - 8;
                __m256 m = _mm256_set1_ps(-INFINITY);

                for (u = 0; u < kh; u++) {
                    const int64_t yi = i * sh - ph + u * dh;
                    const float *r;

                    if (yi < 0 || yi >= h) {
                        continue;
                    }
                    r = x + yi * w + jb * sw - pw;
                    for (v = 0; v < kw; v++) {
                        m = max_step(m, load8(r + v * dw, sw, vidx));
                    }
                }
                _mm256_storeu_ps(y + jb, m);
            }
            fx__max_pool2d_row(p, x, h, w, y, i, jhi, ow);
        }
    }
}

void
fx_f32_avg_pool2d__avx2(const fx_kargs *a, int ith, int nth)
{
    const fx_avg_pool2d_params *p = a->params;
    const int64_t kh = p->kernel_size.v[0], kw = p->kernel_size.v[1];
    const int64_t sh = p->stride.v[0], sw = p->stride.v[1];
    const int64_t ph = p->padding.v[0], pw = p->padding.v[1];
    int64_t planes, h, w, oh, ow, pl, i, j, u, v, begin, end, jlo, jhi;
    __m256i vidx;

    fx__pool_planes(a, &planes, &h, &w, &oh, &ow);
    fx__split(planes, ith, nth, &begin, &end);
    interior(w, ow, kw, sw, pw, 1, &jlo, &jhi);
    if (jhi - jlo < 8 || !vector_ok(sw)) {
        jlo = jhi = ow;
    }
    vidx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                              _mm256_set1_epi32(vector_ok(sw) ? (int)sw : 0));
    for (pl = begin; pl < end; pl++) {
        const float *x = a->in[0].data + pl * h * w;

        for (i = 0; i < oh; i++) {
            float *y = a->out->data + (pl * oh + i) * ow;
            /* the row window, as the reference computes it; interior
             * columns have kw taps inside the input and kw padded ones */
            int64_t h0 = i * sh - ph;
            int64_t h1 = h0 + kh < h + ph ? h0 + kh : h + ph;
            const int64_t pad_h = h1 - h0;
            int64_t div;
            __m256 vdiv;

            h0 = h0 > 0 ? h0 : 0;
            h1 = h1 < h ? h1 : h;
            if (p->divisor_override != 0) {
                div = p->divisor_override;
            } else if (p->count_include_pad) {
                div = pad_h * kw;
            } else {
                div = (h1 - h0) * kw;
            }
            vdiv = _mm256_set1_ps((float)div);
            fx__avg_pool2d_row(p, x, h, w, y, i, 0, jlo);
            for (j = jlo; j < jhi; j += 8) {
                const int64_t jb = j + 8 <= jhi ? j : jhi - 8;
                __m256 sum = _mm256_setzero_ps();

                for (u = h0; u < h1; u++) {
                    const float *r = x + u * w + jb * sw - pw;

                    for (v = 0; v < kw; v++) {
                        sum = _mm256_add_ps(sum, load8(r + v, sw, vidx));
                    }
                }
                _mm256_storeu_ps(y + jb, div > 0 ? _mm256_div_ps(sum, vdiv)
                                                 : _mm256_setzero_ps());
            }
            fx__avg_pool2d_row(p, x, h, w, y, i, jhi, ow);
        }
    }
}

/* fx__plane_sum with four 8-lane accumulators: lane l of accumulator q
 * is partial sum 8q + l. The last partial block is loaded masked: its
 * missing lanes add +0, which changes no partial sum (one starting at +0
 * and adding floats in round-to-nearest is never -0). */
static float
plane_sum(const float *x, int64_t n)
{
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256 acc[4];
    __m128 v;
    int64_t k;
    int q;

    for (q = 0; q < 4; q++) {
        acc[q] = _mm256_setzero_ps();
    }
    for (k = 0; k + FX__SUM_LANES <= n; k += FX__SUM_LANES) {
        for (q = 0; q < 4; q++) {
            acc[q] = _mm256_add_ps(acc[q], _mm256_loadu_ps(x + k + 8 * q));
        }
    }
    for (q = 0; q < 4 && k + 8 * q < n; q++) {
        const __m256i m = _mm256_cmpgt_epi32(
            _mm256_set1_epi32((int)(n - k - 8 * q)), lane);

        acc[q] = _mm256_add_ps(acc[q], _mm256_maskload_ps(x + k + 8 * q, m));
    }
    acc[0] = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]),
                           _mm256_add_ps(acc[2], acc[3]));
    v = _mm_add_ps(_mm256_castps256_ps128(acc[0]),
                   _mm256_extractf128_ps(acc[0], 1));
    v = _mm_add_ps(v, _mm_movehl_ps(v, v));
    return _mm_cvtss_f32(_mm_add_ss(v, _mm_shuffle_ps(v, v, 1)));
}

/* Global pooling (OH = OW = 1) with plane_sum, bit for bit the
 * reference; other output sizes are the reference kernel itself. */
void
fx_f32_adaptive_avg_pool2d__avx2(const fx_kargs *a, int ith, int nth)
{
    int64_t planes, h, w, oh, ow, pl, begin, end;

    fx__pool_planes(a, &planes, &h, &w, &oh, &ow);
    if (oh != 1 || ow != 1) {
        fx_adaptive_avg_pool2d_ref(a, ith, nth);
        return;
    }
    fx__split(planes, ith, nth, &begin, &end);
    for (pl = begin; pl < end; pl++) {
        a->out->data[pl] = plane_sum(a->in[0].data + pl * h * w, h * w)
                           / (float)(h * w);
    }
}
