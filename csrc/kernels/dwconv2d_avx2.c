/*
 * kernels/dwconv2d_avx2.c - direct depthwise conv2d with AVX2+FMA, used by
 * the conv2d AVX2 kernel (kernels/gemm_avx2.c) when every group has one
 * input and one output channel (groups == C == OC), where a GEMM would
 * have a single row. Compiled with -mavx2 -mfma only.
 *
 *   x: (N, C, H, W)   w: (C, 1, KH, KW)   b: (C) optional
 *   y: (N, C, OH, OW), OH = (H + 2*PH - DH*(KH-1) - 1)/SH + 1, OW likewise
 *   y[n, c, i, j] = b[c] + sum_{p, q} w[c, 0, p, q]
 *                   * x[n, c, i*SH - PH + p*DH, j*SW - PW + q*DW]
 *
 * Per output row, each kernel tap adds w * (a row of x) to the row over
 * the output columns where the tap lands inside the input (so padding
 * costs nothing); taps in (p, q) order like the reference, bias last.
 * Stride-1 rows are 8-wide FMAs; other strides are scalar.
 *
 * Work split (ith, nth): by (n, c) planes.
 */
#include <immintrin.h>
#include <string.h>

#include "ops/ops.h"

/* Adds wv * x[j*sw + off] to y[j] for j in [j0, j1). */
static void
tap_row(float *FX_RESTRICT y, const float *FX_RESTRICT xr, int64_t off,
        int64_t sw, float wv, int64_t j0, int64_t j1)
{
    int64_t j = j0;

    if (sw == 1) {
        const __m256 vw = _mm256_set1_ps(wv);

        for (; j + 8 <= j1; j += 8) {
            __m256 acc = _mm256_loadu_ps(y + j);

            acc = _mm256_fmadd_ps(vw, _mm256_loadu_ps(xr + (j + off)), acc);
            _mm256_storeu_ps(y + j, acc);
        }
        for (; j < j1; j++) {
            y[j] += wv * xr[j + off];
        }
        return;
    }
    for (; j < j1; j++) {
        y[j] += wv * xr[j * sw + off];
    }
}

void
fx__f32_dwconv2d__avx2(const fx_kargs *a, int ith, int nth)
{
    const fx_conv2d_params *p = a->params;
    const fx_tensor *x = &a->in[0], *w = &a->in[1];
    const float *bias = a->n_in > 2 ? a->in[2].data : NULL;
    const int64_t c_n = x->shape[1], h = x->shape[2], wd = x->shape[3];
    const int64_t kh = w->shape[2], kw = w->shape[3];
    const int64_t oh = a->out->shape[2], ow = a->out->shape[3];
    const int64_t sh = p->stride.v[0], sw = p->stride.v[1];
    const int64_t ph = p->padding.v[0], pw = p->padding.v[1];
    const int64_t dh = p->dilation.v[0], dw = p->dilation.v[1];
    int64_t item, begin, end, i, j, u, v;

    fx__split(x->shape[0] * c_n, ith, nth, &begin, &end);
    for (item = begin; item < end; item++) {
        const int64_t c = item % c_n;
        const float *xs = x->data + item * h * wd;
        const float *wc = w->data + c * kh * kw;
        const float b = bias != NULL ? bias[c] : 0.0f;
        float *y = a->out->data + item * oh * ow;

        for (i = 0; i < oh; i++) {
            float *yr = y + i * ow;

            memset(yr, 0, (size_t)ow * sizeof(float));
            for (u = 0; u < kh; u++) {
                const int64_t yi = i * sh - ph + u * dh;

                if (yi < 0 || yi >= h) {
                    continue;
                }
                for (v = 0; v < kw; v++) {
                    /* input column of output column j: j*sw + off */
                    const int64_t off = v * dw - pw;
                    const int64_t j0 = off >= 0 ? 0 : (-off + sw - 1) / sw;
                    int64_t j1 = wd - off <= 0 ? 0 : (wd - off + sw - 1) / sw;

                    if (j1 > ow) {
                        j1 = ow;
                    }
                    if (j0 < j1) {
                        tap_row(yr, xs + yi * wd, off, sw, wc[u * kw + v],
                                j0, j1);
                    }
                }
            }
            for (j = 0; j < ow; j++) {
                yr[j] += b;
            }
        }
    }
}
