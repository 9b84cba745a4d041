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
 *   then optionally y = act(y * alpha[c] + beta[c]) (conv2d_bn).
 *
 * One call computes a range of (n, c) planes. Input rows are copied, as
 * they are first needed, into a ring of zero-padded rows on the stack (PW
 * zeros on the left, at least PW + 16 on the right; stride 2: the even
 * padded columns, then the odd ones, so that 8 outputs' taps are 8
 * consecutive floats), each stored twice so that the tap rows of an
 * output row are consecutive ring rows; a tap row outside x is a row of
 * zeros. Output rows are computed two at a time, in blocks of 8 or 16
 * columns whose sums over all taps stay in registers; the epilogue
 * follows every few rows, while they are in L1. A padding zero adds an
 * exact +0 to a sum (fma(w, 0, s) == s for finite w, and no sum is -0),
 * so the results are those of skipping padded taps, as the reference
 * does; a plane whose weights are not all finite (inf * 0 is NaN) takes
 * the scalar formula instead, as do strides above 2 and rows too wide
 * for the ring.
 *
 * Every column sums the taps of the even tap rows p and those of the odd
 * ones in two chains, each in (p, q) order, one FMA per tap, then adds
 * the two and the bias; so a row's last block may overlap the previous
 * one and store the same values.
 */
#include <immintrin.h>
#include <string.h>

#include "kernels/activation_avx2.h"
#include "kernels/transpose_avx2.h"
#include "ops/ops.h"

#define RING_FLOATS 16384 /* the padded-row ring (64 KiB of stack) */
#define EPI_FLOATS 512    /* output floats per epilogue pass */
#define CB_IN 8192        /* channel-blocked padded input (32 KiB) */
#define CB_OUT 256        /* output pixels per plane, channel-blocked */
#define CB_TAPS 64        /* taps per plane, channel-blocked */

/* One conv's geometry and its ring. */
typedef struct dw_geom {
    int64_t h, wd, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw;
    int64_t kr;   /* ring rows, a power of 2; each is stored twice */
    int64_t pwid; /* floats per ring row, a multiple of 16 */
    int64_t half; /* stride 2: where a ring row's odd columns start */
    float *ring;  /* input row r at rows r mod kr and kr + r mod kr */
} dw_geom;

/* One plane and its epilogue (when epi is set). */
typedef struct dw_plane {
    const float *x; /* (H, W) */
    const float *w; /* (KH, KW) */
    float *y;       /* (OH, OW) */
    float *end;     /* the end of the call's last plane */
    float bias, alpha, beta;
    int epi;
    int64_t act;
} dw_plane;

/* The even lanes of (lo, hi) in *ev, the odd ones in *od. */
FX_INLINE void
deinterleave(__m256 lo, __m256 hi, __m256 *ev, __m256 *od)
{
    /* (lo0 lo2 hi0 hi2 | lo4 lo6 hi4 hi6) -> (lo0 lo2 lo4 lo6 hi0 .. hi6) */
    const __m256 e = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
    const __m256 o = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));

    *ev = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e),
                                                 _MM_SHUFFLE(3, 1, 2, 0)));
    *od = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o),
                                                 _MM_SHUFFLE(3, 1, 2, 0)));
}

/* The lanes below n. */
FX_INLINE __m256i
first_lanes(int64_t n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n < 8 ? n : 8)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* v at d[k] and d2[k]. */
FX_INLINE void
store2(float *d, float *d2, int64_t k, __m256 v)
{
    _mm256_storeu_ps(d + k, v);
    _mm256_storeu_ps(d2 + k, v);
}

/* Input row x (W floats, or zeros if x is NULL) into ring rows d and d2:
 * padded column t = PW + s at d[t] (stride 1), or at d[t / 2] (t even) /
 * d[half + t / 2] (t odd), 8 or 16 columns at a time (stride 2: from an
 * even t on), the last ones by masked loads whose zeros are stored over
 * the right padding (at least 8 floats, in each half). */
FX_INLINE void
copy_row(const dw_geom *g, const float *FX_RESTRICT x, float *FX_RESTRICT d,
         float *FX_RESTRICT d2)
{
    int64_t s = 0, t;
    __m256 ev, od;

    if (x == NULL) {
        for (t = 0; t < g->pwid; t += 8) {
            store2(d, d2, t, _mm256_setzero_ps());
        }
    } else if (g->sw == 1) {
        for (; s + 8 <= g->wd; s += 8) {
            store2(d, d2, g->pw + s, _mm256_loadu_ps(x + s));
        }
        if (s < g->wd) {
            store2(d, d2, g->pw + s,
                   _mm256_maskload_ps(x + s, first_lanes(g->wd - s)));
        }
    } else {
        if (g->pw % 2 != 0) {
            d[g->half + g->pw / 2] = x[0];
            d2[g->half + g->pw / 2] = x[0];
            s = 1;
        }
        for (; s < g->wd; s += 16) {
            t = (g->pw + s) / 2;
            if (s + 16 <= g->wd) {
                deinterleave(_mm256_loadu_ps(x + s),
                             _mm256_loadu_ps(x + s + 8), &ev, &od);
            } else {
                deinterleave(
                    _mm256_maskload_ps(x + s, first_lanes(g->wd - s)),
                    _mm256_maskload_ps(x + s + 8, first_lanes(g->wd - s - 8)),
                    &ev, &od);
            }
            store2(d, d2, t, ev);
            store2(d, d2, g->half + t, od);
        }
    }
}

/* The taps' shape: constants where plane_rows is called with them. */
typedef struct dw_taps {
    int64_t kh, kw, sh, sw, dh, dw;
} dw_taps;

/* The taps of tap row u for the output rows r < nr and vectors b < nv
 * (see tile) added to acc[r][b]. */
FX_INLINE void
tap_row(const dw_plane *p, const dw_geom *g, const dw_taps t,
        const float *b0, const int64_t *jv, int64_t u, __m256 acc[2][2],
        const int nr, const int nv)
{
    int64_t v;
    int r, b;

    for (v = 0; v < t.kw; v++) {
        const __m256 wv = _mm256_broadcast_ss(p->w + u * t.kw + v);
        const int64_t q = v * t.dw;
        const int64_t off = t.sw == 1 ? q : (q % 2) * g->half + q / 2;

        for (r = 0; r < nr; r++) {
            const float *row = b0 + (r * t.sh + u * t.dh) * g->pwid + off;

            for (b = 0; b < nv; b++) {
                acc[r][b] = _mm256_fmadd_ps(
                    wv, _mm256_loadu_ps(row + jv[b]), acc[r][b]);
            }
        }
    }
}

/*
 * Output rows i + r, r < nr (1 or 2), columns [j0, j0 + 8) and (nv == 2)
 * [j1, j1 + 8), into y (row i); b0: the ring row of row i's first tap
 * row, the others following it. Rows shorter than 8 are stored with the
 * next ones' first columns, which are stored later, or masked at the end
 * of the planes of the call.
 */
FX_INLINE void
tile(const dw_plane *p, const dw_geom *g, const dw_taps t, const float *b0,
     int64_t j0, int64_t j1, float *y, const int nr, const int nv)
{
    __m256 ev[2][2], od[2][2]; /* [row][vector], even / odd tap rows */
    const int64_t jv[2] = {j0, j1};
    int64_t u;
    int r, b;

    for (r = 0; r < nr; r++) {
        for (b = 0; b < nv; b++) {
            ev[r][b] = _mm256_setzero_ps();
            od[r][b] = _mm256_setzero_ps();
        }
    }
    for (u = 0; u + 1 < t.kh; u += 2) {
        tap_row(p, g, t, b0, jv, u, ev, nr, nv);
        tap_row(p, g, t, b0, jv, u + 1, od, nr, nv);
    }
    if (u < t.kh) {
        tap_row(p, g, t, b0, jv, u, ev, nr, nv);
    }
    for (r = 0; r < nr; r++) {
        for (b = 0; b < nv; b++) {
            const __m256 s = _mm256_add_ps(_mm256_add_ps(ev[r][b], od[r][b]),
                                           _mm256_set1_ps(p->bias));

            if (g->ow >= 8 || y + r * g->ow + 8 <= p->end) {
                _mm256_storeu_ps(y + r * g->ow + jv[b], s);
            } else {
                _mm256_maskstore_ps(y + r * g->ow, first_lanes(g->ow), s);
            }
        }
    }
}

/* Every column of output rows i + r, r < nr (see tile). */
FX_INLINE void
row_cols(const dw_plane *p, const dw_geom *g, const dw_taps t,
         const float *b0, float *y, const int nr)
{
    int64_t j;

    for (j = 0; j + 16 <= g->ow; j += 16) {
        tile(p, g, t, b0, j, j + 8, y, nr, 2);
    }
    if (g->ow - j > 8) {
        tile(p, g, t, b0, j, g->ow - 8, y, nr, 2);
    } else if (j < g->ow) {
        tile(p, g, t, b0, g->ow < 8 ? 0 : g->ow - 8, 0, y, nr, 1);
    }
}

/* Input row r (zeros outside x) into both of its ring rows. */
FX_INLINE void
fill_row(const dw_plane *p, const dw_geom *g, int64_t r)
{
    float *d = g->ring + (r & (g->kr - 1)) * g->pwid;

    copy_row(g, r >= 0 && r < g->h ? p->x + r * g->wd : NULL, d,
             d + g->kr * g->pwid);
}

/* The whole plane; the epilogue follows the rows, every EPI_FLOATS or
 * more floats and at the end, while they are in L1. */
FX_INLINE void
plane_rows(const dw_plane *p, const dw_geom *g, const dw_taps t)
{
    const float *b0;
    int64_t i, nr, first, last, next = -g->ph, done = 0, n;

    for (i = 0; i < g->oh; i += nr) {
        nr = g->oh - i >= 2 ? 2 : 1;
        /* the tap rows of output rows i, i + 1 not yet in the ring;
         * earlier ones are not needed again */
        first = i * t.sh - g->ph;
        last = first + (nr - 1) * t.sh + (t.kh - 1) * t.dh;
        if (next < first) {
            next = first;
        }
        for (; next <= last; next++) {
            fill_row(p, g, next);
        }
        b0 = g->ring + (first & (g->kr - 1)) * g->pwid;
        if (nr == 2) {
            row_cols(p, g, t, b0, p->y + i * g->ow, 2);
        } else {
            row_cols(p, g, t, b0, p->y + i * g->ow, 1);
        }
        n = (i + nr) * g->ow - done; /* finished, without the epilogue */
        if (p->epi && (i + nr == g->oh || n >= EPI_FLOATS)) {
            n = i + nr == g->oh ? n : n / 8 * 8;
            fx__bn_act_run(p->y + done, p->y + done, n, p->alpha, p->beta,
                           p->act);
            done += n;
        }
    }
}

/* plane_rows for a k x k kernel, stride s, no dilation. */
FX_INLINE void
square_rows(const dw_plane *p, const dw_geom *g, const int64_t k,
            const int64_t s)
{
    const dw_taps t = {k, k, s, s, 1, 1};

    plane_rows(p, g, t);
}

/* The formula for the whole plane, then its epilogue. */
FX_INLINE void
scalar_plane(const dw_plane *p, const dw_geom *g)
{
    const int64_t n = g->oh * g->ow;
    int64_t i, j, u, v;

    for (i = 0; i < g->oh; i++) {
        for (j = 0; j < g->ow; j++) {
            float acc = 0.0f;

            for (u = 0; u < g->kh; u++) {
                const int64_t r = i * g->sh - g->ph + u * g->dh;

                for (v = 0; v < g->kw && r >= 0 && r < g->h; v++) {
                    const int64_t c = j * g->sw - g->pw + v * g->dw;

                    if (c >= 0 && c < g->wd) {
                        acc += p->w[u * g->kw + v] * p->x[r * g->wd + c];
                    }
                }
            }
            p->y[i * g->ow + j] = acc + p->bias;
        }
    }
    if (p->epi) {
        fx__bn_act_run(p->y, p->y, n, p->alpha, p->beta, p->act);
    }
}

/* The 4 output pixels of one row of pad-blocked planes from column j of
 * output row i on (stride 1, no dilation, a constant k x k kernel; pr:
 * padded row length) into out, with cb_planes' chains and order. Fully
 * unrolled over a row of taps, so that the input vector under tap v of
 * pixel t is loaded once for all (v, t) with the same v + t: 10 loads
 * and 7 weights for 28 FMAs a row of 7 taps, instead of 35 loads. */
FX_INLINE void
cb_row4(const float *pad, const float *wt, __m256 bias, int64_t pr,
        int64_t i, int64_t j, int64_t ow, float *out, const int k)
{
    const float *base = pad + (i * pr + j) * 8;
    __m256 ev[4], od[4];
    int u, v, t;

    for (t = 0; t < 4; t++) {
        ev[t] = _mm256_setzero_ps();
        od[t] = _mm256_setzero_ps();
    }
    for (u = 0; u < k; u++) {
        const float *row = base + u * pr * 8;

        for (v = 0; v < k; v++) {
            const __m256 wv = _mm256_loadu_ps(wt + (u * k + v) * 8);

            for (t = 0; t < 4; t++) {
                const __m256 xv = _mm256_loadu_ps(row + (v + t) * 8);

                if (u % 2 == 0) {
                    ev[t] = _mm256_fmadd_ps(wv, xv, ev[t]);
                } else {
                    od[t] = _mm256_fmadd_ps(wv, xv, od[t]);
                }
            }
        }
    }
    for (t = 0; t < 4; t++) {
        _mm256_storeu_ps(out + (i * ow + j + t) * 8,
                         _mm256_add_ps(_mm256_add_ps(ev[t], od[t]), bias));
    }
}

/*
 * Planes q0 .. q0 + 7 with rows shorter than a vector, one plane per
 * lane: the 8 planes are transposed into pad, (H + 2*PH) x (W + 2*PW)
 * pixels of 8 floats whose borders are zeros, then 4 output pixels at a
 * time sum their taps in the row path's two chains, in its order, so a
 * plane's results do not depend on the path (nor on the thread count,
 * which decides where the blocks of 8 start). A 7x7 stride-1 kernel's
 * 4 pixels are 4 of one output row (cb_row4: 0.7x the CPU time of 4
 * pixels in raster order, 14x14 and 7x7 planes).
 */
static void
cb_planes(const fx_kargs *a, const dw_geom *g, int64_t q0, float *pad,
          const float *alpha, const float *beta, int64_t act)
{
    const fx_tensor *x = &a->in[0], *w = &a->in[1];
    const float *bias = a->n_in > 2 ? a->in[2].data : NULL;
    const int64_t hw = g->h * g->wd, ohw = g->oh * g->ow;
    const int64_t kk = g->kh * g->kw, pr = g->wd + 2 * g->pw;
    const int fast7 = g->kh == 7 && g->kw == 7 && g->sh == 1 && g->sw == 1
                      && g->dh == 1 && g->dw == 1 && g->ow >= 4;
    const float *src = x->data + q0 * hw;
    float *y = a->out->data + q0 * ohw;
    float wt[CB_TAPS * 8], bv[8], out[CB_OUT * 8];
    const float *base[4];
    __m256 r[8], ev[4], od[4];
    int64_t l, k, q, t, u, v, c, row = 0, col = 0;

    for (l = 0; l < 8; l++) {
        c = (q0 + l) % x->shape[1];
        for (k = 0; k < kk; k++) {
            wt[k * 8 + l] = w->data[c * kk + k];
        }
        bv[l] = bias != NULL ? bias[c] : 0.0f;
    }
    for (q = 0; q < hw; q += 8) {
        for (t = 0; t < 8 && q + 8 <= hw; t++) {
            r[t] = _mm256_loadu_ps(src + t * hw + q);
        }
        if (q + 8 <= hw) {
            fx__transpose8_regs(r);
        }
        for (t = 0; t < 8 && q + t < hw; t++) {
            float *d = pad + ((row + g->ph) * pr + col + g->pw) * 8;

            if (q + 8 <= hw) {
                _mm256_storeu_ps(d, r[t]);
            }
            for (l = 0; l < 8 && q + 8 > hw; l++) {
                d[l] = src[l * hw + q + t];
            }
            if (++col == g->wd) { /* pixel q + t + 1 is (row, col) */
                col = 0;
                row++;
            }
        }
    }
    /* 7 x 7, stride 1 (ConvNeXt's): by rows, 4 pixels at a time, the
     * last 4 of a row overlapping the previous ones (the same values) */
    for (row = 0; fast7 && row < g->oh; row++) {
        for (col = 0; col < g->ow; col += 4) {
            cb_row4(pad, wt, _mm256_loadu_ps(bv), pr, row,
                    col + 4 <= g->ow ? col : g->ow - 4, g->ow, out, 7);
        }
    }
    for (q = 0, row = 0, col = 0; !fast7 && q < ohw; q += 4) {
        for (k = 0; k < 4; k++) { /* pixels past the plane: any base */
            base[k] = pad + (row * g->sh * pr + col * g->sw) * 8;
            ev[k] = _mm256_setzero_ps();
            od[k] = _mm256_setzero_ps();
            if (q + k + 1 < ohw && ++col == g->ow) {
                col = 0;
                row++;
            }
        }
        for (u = 0; u < g->kh; u++) {
            for (v = 0; v < g->kw; v++) {
                const __m256 wv = _mm256_loadu_ps(wt + (u * g->kw + v) * 8);
                const int64_t off = (u * g->dh * pr + v * g->dw) * 8;

                for (k = 0; k < 4; k++) {
                    const __m256 xv = _mm256_loadu_ps(base[k] + off);

                    if (u % 2 == 0) {
                        ev[k] = _mm256_fmadd_ps(wv, xv, ev[k]);
                    } else {
                        od[k] = _mm256_fmadd_ps(wv, xv, od[k]);
                    }
                }
            }
        }
        for (k = 0; k < 4 && q + k < ohw; k++) {
            _mm256_storeu_ps(out + (q + k) * 8,
                             _mm256_add_ps(_mm256_add_ps(ev[k], od[k]),
                                           _mm256_loadu_ps(bv)));
        }
    }
    for (q = 0; q < ohw; q += 8) {
        for (t = 0; t < 8 && q + 8 <= ohw; t++) {
            r[t] = _mm256_loadu_ps(out + (q + t) * 8);
        }
        if (q + 8 <= ohw) {
            fx__transpose8_regs(r);
        }
        for (l = 0; l < 8; l++) {
            if (q + 8 <= ohw) {
                _mm256_storeu_ps(y + l * ohw + q, r[l]);
            }
            for (t = 0; q + 8 > ohw && q + t < ohw; t++) {
                y[l * ohw + q + t] = out[(q + t) * 8 + l];
            }
        }
    }
    for (l = 0; l < 8 && alpha != NULL; l++) {
        c = (q0 + l) % x->shape[1];
        fx__bn_act_run(y + l * ohw, y + l * ohw, ohw, alpha[c], beta[c],
                       act);
    }
}

/* The smallest power of 2 >= n. */
static int64_t
pow2_ceil(int64_t n)
{
    int64_t k = 1;

    while (k < n) {
        k *= 2;
    }
    return k;
}

void
fx__f32_dwconv2d__avx2(const fx_kargs *a, int64_t p0, int64_t p1,
                       const float *alpha, const float *beta, int64_t act,
                       int finite)
{
    const fx_conv2d_params *cp = a->params;
    const fx_tensor *x = &a->in[0], *w = &a->in[1];
    const float *bias = a->n_in > 2 ? a->in[2].data : NULL;
    float ring[RING_FLOATS], pad[CB_IN];
    dw_geom g;
    dw_plane p;
    dw_taps taps;
    int64_t plane, c, t;
    int vec, square, cb;

    g.h = x->shape[2];
    g.wd = x->shape[3];
    g.kh = w->shape[2];
    g.kw = w->shape[3];
    g.oh = a->out->shape[2];
    g.ow = a->out->shape[3];
    g.sh = cp->stride.v[0];
    g.sw = cp->stride.v[1];
    g.ph = cp->padding.v[0];
    g.pw = cp->padding.v[1];
    g.dh = cp->dilation.v[0];
    g.dw = cp->dilation.v[1];
    /* ring rows: those of two output rows' taps; each with PW zeros, the
     * row, and room for the widest block's loads past it (see the file
     * comment). The vector path only when the ring fits its buffer, each
     * term bounded first, so that a huge stride, dilation or padding
     * (up to 2^62) cannot overflow the sizes */
    vec = g.sw <= 2 && g.sh < RING_FLOATS
          && g.dh * (g.kh - 1) < RING_FLOATS
          && g.wd + 2 * g.pw < RING_FLOATS;
    g.kr = vec ? pow2_ceil(g.sh + g.dh * (g.kh - 1) + 1) : 1;
    g.pwid = (g.wd + 2 * g.pw + 31) / 16 * 16;
    g.half = g.pwid / 2;
    g.ring = ring;
    vec = vec && 2 * g.kr * g.pwid <= RING_FLOATS
          && 8 * g.sw + (g.kw - 1) * g.dw <= g.pwid;
    if (vec) {
        memset(ring, 0, (size_t)(2 * g.kr * g.pwid) * sizeof(float));
    }
    /* rows shorter than a vector, or than two with stride 1 and 5+ taps
     * a row: blocks of 8 planes with the channels in the lanes, when the
     * vector path would take them (CPU time against it: 14x14 -> 7x7 5x5
     * x0.76, 7x7 x0.6-0.75, 14x14 5x5 x0.85-0.95; not taken: 14x14 3x3
     * x1.02, 28x28 -> 14x14 3x3 x1.6) */
    cb = vec && finite
         && (g.ow < 8
             || (g.ow < 16 && g.sh == 1 && g.sw == 1 && g.kw >= 5))
         && g.oh * g.ow <= CB_OUT
         && g.kh * g.kw <= CB_TAPS
         && (g.h + 2 * g.ph) * (g.wd + 2 * g.pw) * 8 <= CB_IN;
    if (cb) {
        memset(pad, 0,
               (size_t)((g.h + 2 * g.ph) * (g.wd + 2 * g.pw) * 8)
                   * sizeof(float));
    }
    taps.kh = g.kh;
    taps.kw = g.kw;
    taps.sh = g.sh;
    taps.sw = g.sw;
    taps.dh = g.dh;
    taps.dw = g.dw;
    square = g.kh == g.kw && g.sh == g.sw && g.dh == 1 && g.dw == 1;
    p.end = a->out->data + p1 * g.oh * g.ow;
    p.epi = alpha != NULL;
    p.act = act;
    for (plane = p0; cb && plane + 8 <= p1; plane += 8) {
        cb_planes(a, &g, plane, pad, alpha, beta, act);
    }
    for (; plane < p1; plane++) {
        int ok = vec && finite;

        c = plane % x->shape[1];
        p.x = x->data + plane * g.h * g.wd;
        p.w = w->data + c * g.kh * g.kw;
        p.y = a->out->data + plane * g.oh * g.ow;
        p.bias = bias != NULL ? bias[c] : 0.0f;
        p.alpha = alpha != NULL ? alpha[c] : 0.0f;
        p.beta = beta != NULL ? beta[c] : 0.0f;
        if (vec && !finite) {
            ok = 1;
            for (t = 0; t < g.kh * g.kw; t++) {
                ok &= isfinite(p.w[t]) != 0;
            }
        }
        if (!ok) {
            scalar_plane(&p, &g);
            continue;
        }
        switch (square ? g.kh * 4 + g.sw : 0) {
        case 3 * 4 + 1:
            square_rows(&p, &g, 3, 1);
            break;
        case 3 * 4 + 2:
            square_rows(&p, &g, 3, 2);
            break;
        case 5 * 4 + 1:
            square_rows(&p, &g, 5, 1);
            break;
        case 5 * 4 + 2:
            square_rows(&p, &g, 5, 2);
            break;
        case 7 * 4 + 1:
            square_rows(&p, &g, 7, 1);
            break;
        default:
            plane_rows(&p, &g, taps);
            break;
        }
    }
}
