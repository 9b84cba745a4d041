/*
 * kernels/pool2d_avx2.c - max_pool2d and avg_pool2d with AVX2, for any
 * kernel size, stride, padding, dilation and ceil_mode (semantics: see
 * ops/pool2d.c). Compiled with -mavx2 -mfma only.
 *
 * Per output row, the columns whose whole window lies inside the input
 * row are computed 8 at a time: each tap loads 8 input values at the
 * output stride (stride 1: one load; stride 2: two loads and a
 * de-interleave; larger strides: a gather). A last partial block is
 * recomputed overlapping the previous one (pure outputs, so harmless);
 * fewer than 8 such columns (a 7x7 output row, as densenet's 2x2
 * average pools on 14x14 planes give) are one block whose loads and
 * store are masked to them, so no element outside their windows is
 * read. Border columns (padding, ceil_mode overhang) use the reference
 * row function, so they are the reference by construction.
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

/* Which columns a block computes: all 8 (whole), or the first n < 8 (a
 * row with fewer interior columns), whose loads are then masked: lane
 * masks of the loads at p (m0) and at p + 7 (m1, stride 2's second),
 * and of the store (out). */
typedef struct block_mask {
    int whole;
    __m256i m0, m1, out;
} block_mask;

/* Lanes l < n set. */
static inline __m256i
lanes_below(int64_t n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n < 0 ? 0 : n)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* The masks of a block of n interior columns at stride sw. */
static block_mask
block_of(int64_t n, int64_t sw)
{
    block_mask b;

    b.whole = n >= 8;
    b.out = lanes_below(n);
    /* stride 2 reads p[0..7] and p[7..14] for p[2l], l < n */
    b.m0 = sw == 2 ? lanes_below(2 * n - 1) : b.out;
    b.m1 = lanes_below(2 * n - 8);
    return b;
}

/* load8 of the block's columns only (b: not whole): lanes past them are
 * 0 and their elements are not read. */
static inline __m256
load8_part(const float *p, int64_t sw, __m256i vidx, const block_mask *b)
{
    if (sw == 1) {
        return _mm256_maskload_ps(p, b->m0);
    }
    if (sw == 2) {
        const __m256 a = _mm256_maskload_ps(p, b->m0);
        const __m256 c = _mm256_maskload_ps(p + 7, b->m1);
        const __m256 s = _mm256_shuffle_ps(a, c, _MM_SHUFFLE(3, 1, 2, 0));

        return _mm256_castpd_ps(_mm256_permute4x64_pd(
            _mm256_castps_pd(s), _MM_SHUFFLE(3, 1, 2, 0)));
    }
    return _mm256_mask_i32gather_ps(_mm256_setzero_ps(), p, vidx,
                                    _mm256_castsi256_ps(b->m0), 4);
}

/* The block's load: load8, or load8_part for a partial block. */
static inline __m256
load_block(const float *p, int64_t sw, __m256i vidx, const block_mask *b)
{
    return b->whole ? load8(p, sw, vidx) : load8_part(p, sw, vidx, b);
}

static inline void
store_block(float *y, __m256 v, const block_mask *b)
{
    if (b->whole) {
        _mm256_storeu_ps(y, v);
    }
    else {
        _mm256_maskstore_ps(y, b->out, v);
    }
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
    block_mask blk;
    __m256i vidx;

    fx__pool_planes(a, &planes, &h, &w, &oh, &ow);
    fx__split(planes, ith, nth, &begin, &end);
    interior(w, ow, kw, sw, pw, dw, &jlo, &jhi);
    if (jhi <= jlo || !vector_ok(sw)) {
        jlo = jhi = ow; /* all columns by the reference */
    }
    blk = block_of(jhi - jlo, sw);
    vidx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                              _mm256_set1_epi32(vector_ok(sw) ? (int)sw : 0));
    for (pl = begin; pl < end; pl++) {
        const float *x = a->in[0].data + pl * h * w;

        for (i = 0; i < oh; i++) {
            float *y = a->out->data + (pl * oh + i) * ow;

            fx__max_pool2d_row(p, x, h, w, y, i, 0, jlo);
            for (j = jlo; j < jhi; j += 8) {
                const int64_t jb = j + 8 <= jhi || !blk.whole ? j : jhi - 8;
                __m256 m = _mm256_set1_ps(-INFINITY);

                for (u = 0; u < kh; u++) {
                    const int64_t yi = i * sh - ph + u * dh;
                    const float *r;

                    if (yi < 0 || yi >= h) {
                        continue;
                    }
                    r = x + yi * w + jb * sw - pw;
                    for (v = 0; v < kw; v++) {
                        m = max_step(m, load_block(r + v * dw, sw, vidx,
                                                   &blk));
                    }
                }
                store_block(y + jb, m, &blk);
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
    block_mask blk;
    __m256i vidx;

    fx__pool_planes(a, &planes, &h, &w, &oh, &ow);
    fx__split(planes, ith, nth, &begin, &end);
    interior(w, ow, kw, sw, pw, 1, &jlo, &jhi);
    if (jhi <= jlo || !vector_ok(sw)) {
        jlo = jhi = ow;
    }
    blk = block_of(jhi - jlo, sw);
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
                const int64_t jb = j + 8 <= jhi || !blk.whole ? j : jhi - 8;
                __m256 sum = _mm256_setzero_ps();

                for (u = h0; u < h1; u++) {
                    const float *r = x + u * w + jb * sw - pw;

                    for (v = 0; v < kw; v++) {
                        sum = _mm256_add_ps(sum, load_block(r + v, sw, vidx,
                                                            &blk));
                    }
                }
                store_block(y + jb,
                            div > 0 ? _mm256_div_ps(sum, vdiv)
                                    : _mm256_setzero_ps(),
                            &blk);
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
