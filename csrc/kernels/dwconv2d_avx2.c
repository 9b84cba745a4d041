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
 * One call computes one (n, c) plane. Input rows are copied, as they are
 * first needed, into a ring of zero-padded rows on the stack (PW zeros on
 * the left, at least PW + 16 on the right), so every output row is
 * computed in blocks of 8 columns whose sum over all taps stays in a
 * register, with plain loads (stride 2: the even lanes of 16 floats).
 * Tap rows outside x are skipped. A padding zero adds an exact +0 to a
 * sum (fma(w, 0, s) == s for finite w), so the results are those of
 * skipping padded taps, as the reference does; a plane whose weights are
 * not all finite (inf * 0 is NaN) takes the scalar formula instead, as do
 * strides above 2 and rows or kernels too large for the ring.
 *
 * Every column sums the taps of the even tap rows p (from the first one
 * inside x) and those of the odd ones in two chains, each in (p, q) order,
 * one FMA per tap, then adds the two and the bias; so a row's last block
 * may overlap the previous one and store the same values.
 */
#include <immintrin.h>
#include <string.h>

#include "ops/ops.h"

#define RING_FLOATS 16384 /* the padded-row ring (64 KiB of stack) */
#define MAX_KH 16          /* taps per column on the vector path */

typedef struct dw_plane {
    const float *x; /* (H, W) */
    const float *w; /* (KH, KW) */
    float *y;       /* (OH, OW) */
    float bias;
    int64_t h, wd, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw;
} dw_plane;

/* 8 columns p[k*sw], k = 0..7, for sw 1 or 2 (reads p[0..8*sw)). */
FX_INLINE __m256
load_cols(const float *p, int64_t sw)
{
    __m256 lo, hi, e;

    if (sw == 1) {
        return _mm256_loadu_ps(p);
    }
    lo = _mm256_loadu_ps(p);
    hi = _mm256_loadu_ps(p + 8);
    /* (lo0 lo2 hi0 hi2 | lo4 lo6 hi4 hi6) -> (lo0 lo2 lo4 lo6 hi0 .. hi6) */
    e = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e),
                                                  _MM_SHUFFLE(3, 1, 2, 0)));
}

/* The taps of tap row u for 8 columns at p added to acc. */
FX_INLINE __m256
tap_row(const float *p, const float *wu, int64_t dw, const int64_t kw,
        const int64_t sw, __m256 acc)
{
    int64_t v;

    for (v = 0; v < kw; v++) {
        acc = _mm256_fmadd_ps(_mm256_broadcast_ss(wu + v),
                              load_cols(p + v * dw, sw), acc);
    }
    return acc;
}

/* Output columns [j, j+8) of a row whose padded tap rows are rp[u],
 * u in [u0, u1): the sums over the tap rows u0, u0 + 2, .. and over
 * u0 + 1, u0 + 3, .. (two chains of FMAs, so that one's latency hides
 * behind the other's), added, plus the bias. */
FX_INLINE __m256
block(const dw_plane *g, const float *const *rp, int64_t u0, int64_t u1,
      int64_t j, const int64_t kw, const int64_t sw)
{
    __m256 even = _mm256_setzero_ps(), odd = _mm256_setzero_ps();
    int64_t u;

    for (u = u0; u + 1 < u1; u += 2) {
        even = tap_row(rp[u] + j * sw, g->w + u * kw, g->dw, kw, sw, even);
        odd = tap_row(rp[u + 1] + j * sw, g->w + (u + 1) * kw, g->dw, kw, sw,
                      odd);
    }
    if (u < u1) {
        even = tap_row(rp[u] + j * sw, g->w + u * kw, g->dw, kw, sw, even);
    }
    return _mm256_add_ps(_mm256_add_ps(even, odd), _mm256_set1_ps(g->bias));
}

/* block() for columns [j, j+16): four chains. */
FX_INLINE void
block2(const dw_plane *g, const float *const *rp, int64_t u0, int64_t u1,
       int64_t j, const int64_t kw, const int64_t sw, float *FX_RESTRICT yr)
{
    const __m256 vb = _mm256_set1_ps(g->bias);
    const int64_t j8 = j + 8;
    __m256 e0 = _mm256_setzero_ps(), o0 = _mm256_setzero_ps();
    __m256 e1 = _mm256_setzero_ps(), o1 = _mm256_setzero_ps();
    int64_t u;

    for (u = u0; u + 1 < u1; u += 2) {
        const float *w0 = g->w + u * kw, *w1 = w0 + kw;

        e0 = tap_row(rp[u] + j * sw, w0, g->dw, kw, sw, e0);
        e1 = tap_row(rp[u] + j8 * sw, w0, g->dw, kw, sw, e1);
        o0 = tap_row(rp[u + 1] + j * sw, w1, g->dw, kw, sw, o0);
        o1 = tap_row(rp[u + 1] + j8 * sw, w1, g->dw, kw, sw, o1);
    }
    if (u < u1) {
        e0 = tap_row(rp[u] + j * sw, g->w + u * kw, g->dw, kw, sw, e0);
        e1 = tap_row(rp[u] + j8 * sw, g->w + u * kw, g->dw, kw, sw, e1);
    }
    _mm256_storeu_ps(yr + j, _mm256_add_ps(_mm256_add_ps(e0, o0), vb));
    _mm256_storeu_ps(yr + j8, _mm256_add_ps(_mm256_add_ps(e1, o1), vb));
}

/* The input rows of output row i: tap rows u in [*u0, *u1) are inside x,
 * the first being row i*SH - PH + u0*DH. */
static void
row_taps(const dw_plane *g, int64_t i, int64_t *u0, int64_t *u1)
{
    const int64_t yi0 = i * g->sh - g->ph;

    *u0 = yi0 >= 0 ? 0 : (-yi0 + g->dh - 1) / g->dh;
    *u1 = g->h - yi0 <= 0 ? 0 : (g->h - yi0 + g->dh - 1) / g->dh;
    if (*u1 > g->kh) {
        *u1 = g->kh;
    }
}

/* Every output row from a ring of kr padded rows of pwid floats (kw, sw:
 * constants at the call sites, SW 1 or 2). */
FX_INLINE void
rows(const dw_plane *g, float *ring, int64_t kr, int64_t pwid,
     const int64_t kw, const int64_t sw)
{
    const float *rp[MAX_KH];
    int64_t i, j, u, u0, u1, r, next = 0;

    memset(ring, 0, (size_t)(kr * pwid) * sizeof(float));
    for (i = 0; i < g->oh; i++) {
        const int64_t yi0 = i * g->sh - g->ph;
        float *yr = g->y + i * g->ow;

        row_taps(g, i, &u0, &u1);
        if (u0 < u1) {
            /* rows are needed in increasing order, within kr of each
             * other: copy the new ones over the oldest. Rows from yi0 on
             * may be needed (by this or a later output row, when the
             * padding is not a multiple of the dilation); rows before it
             * never again. */
            r = yi0 < 0 ? 0 : yi0;
            if (next < r) {
                next = r;
            }
            for (; next <= yi0 + (u1 - 1) * g->dh; next++) {
                memcpy(ring + (next % kr) * pwid + g->pw,
                       g->x + next * g->wd, (size_t)g->wd * sizeof(float));
            }
        }
        for (u = u0; u < u1; u++) {
            rp[u] = ring + ((yi0 + u * g->dh) % kr) * pwid;
        }
        for (j = 0; j + 16 <= g->ow; j += 16) {
            block2(g, rp, u0, u1, j, kw, sw, yr);
        }
        for (; j + 8 <= g->ow; j += 8) {
            _mm256_storeu_ps(yr + j, block(g, rp, u0, u1, j, kw, sw));
        }
        if (j < g->ow && g->ow >= 8) {
            _mm256_storeu_ps(yr + g->ow - 8,
                             block(g, rp, u0, u1, g->ow - 8, kw, sw));
        } else if (j < g->ow && (i * g->ow + 8 <= g->oh * g->ow)) {
            /* past the row: the start of the next rows of the plane,
             * stored after this */
            _mm256_storeu_ps(yr, block(g, rp, u0, u1, 0, kw, sw));
        } else if (j < g->ow) {
            const __m256i mask = _mm256_cmpgt_epi32(
                _mm256_set1_epi32((int)g->ow),
                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));

            _mm256_maskstore_ps(yr, mask, block(g, rp, u0, u1, 0, kw, sw));
        }
    }
}

/* The formula for the whole plane. */
static void
scalar_plane(const dw_plane *g)
{
    int64_t i, j, u, v, u0, u1;

    for (i = 0; i < g->oh; i++) {
        const int64_t yi0 = i * g->sh - g->ph;

        row_taps(g, i, &u0, &u1);
        for (j = 0; j < g->ow; j++) {
            float acc = 0.0f;

            for (u = u0; u < u1; u++) {
                const float *xr = g->x + (yi0 + u * g->dh) * g->wd;

                for (v = 0; v < g->kw; v++) {
                    const int64_t c = j * g->sw - g->pw + v * g->dw;

                    if (c >= 0 && c < g->wd) {
                        acc += g->w[u * g->kw + v] * xr[c];
                    }
                }
            }
            g->y[i * g->ow + j] = acc + g->bias;
        }
    }
}

void
fx__f32_dwconv2d__avx2(const fx_kargs *a, int64_t plane)
{
    const fx_conv2d_params *p = a->params;
    const fx_tensor *x = &a->in[0], *w = &a->in[1];
    const int64_t c = plane % x->shape[1];
    float ring[RING_FLOATS];
    dw_plane g;
    int64_t kr, pwid, t;
    int finite = 1;

    g.h = x->shape[2];
    g.wd = x->shape[3];
    g.kh = w->shape[2];
    g.kw = w->shape[3];
    g.oh = a->out->shape[2];
    g.ow = a->out->shape[3];
    g.sh = p->stride.v[0];
    g.sw = p->stride.v[1];
    g.ph = p->padding.v[0];
    g.pw = p->padding.v[1];
    g.dh = p->dilation.v[0];
    g.dw = p->dilation.v[1];
    g.x = x->data + plane * g.h * g.wd;
    g.w = w->data + c * g.kh * g.kw;
    g.y = a->out->data + plane * g.oh * g.ow;
    g.bias = a->n_in > 2 && a->in[2].data != NULL ? a->in[2].data[c] : 0.0f;
    for (t = 0; t < g.kh * g.kw; t++) {
        finite &= isfinite(g.w[t]) != 0;
    }
    /* ring rows: the rows a column's taps span; each with PW zeros, the
     * row, and room for the widest block's loads past it (see the file
     * comment) */
    kr = g.dh * (g.kh - 1) + 1;
    pwid = g.wd + 2 * g.pw + 16;
    if (!finite || g.sw > 2 || g.kh > MAX_KH || kr * pwid > RING_FLOATS
        || 8 * g.sw + (g.kw - 1) * g.dw > pwid) {
        scalar_plane(&g);
        return;
    }
    switch (g.kw * 4 + g.sw) {
    case 3 * 4 + 1:
        rows(&g, ring, kr, pwid, 3, 1);
        break;
    case 3 * 4 + 2:
        rows(&g, ring, kr, pwid, 3, 2);
        break;
    case 5 * 4 + 1:
        rows(&g, ring, kr, pwid, 5, 1);
        break;
    case 5 * 4 + 2:
        rows(&g, ring, kr, pwid, 5, 2);
        break;
    case 7 * 4 + 1:
        rows(&g, ring, kr, pwid, 7, 1);
        break;
    default:
        rows(&g, ring, kr, pwid, g.kw, g.sw);
        break;
    }
}
