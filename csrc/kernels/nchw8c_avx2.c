/*
 * kernels/nchw8c_avx2.c - the nchw8c layout's kernels (ops/nchw8c.c)
 * with AVX2+FMA: one vector holds one pixel's 8 channels of a block.
 * Compiled with -mavx2 -mfma only.
 *
 * Reorders: 8 x 8 transposes in registers between a block's 8 planes and
 * its pixels; a copy, so the results are the reference's.
 *
 * conv2d_bn_nchw8c, pointwise: y[n, ob, p] (8 output channels) =
 *   epilogue(bias + sum_c x[n, c, p] * w[ob*8 .. ob*8+7, c]), as a tile
 *   of up to 6 pixels by 16 output channels (two blocks) in 12
 *   accumulators: per input channel, the pixels' values are broadcast
 *   from x in place (the blocked input needs no packing) and multiplied
 *   into the channel's 16 weights, which are repacked per call into the
 *   thread's workspace slot, [KC channels][16] per pair of output blocks,
 *   FX__NCHW8C_OCB output channels (a chunk) at a time. The summation is
 *   the plain layout's GEMM's (kernels/gemm_avx2.c): per K block of
 *   FX__GEMM_KC input channels an FMA chain from zero in channel order,
 *   added to the bias (first block) or to the partial sum stored in y;
 *   after the last block the batch_norm op's multiply and add and the
 *   activation kernel's arithmetic (fx__v_bn_act), then the residual
 *   (one add). So y equals conv2d_bn on the plain layout bit for bit.
 *   Work split: units of (pixel tile, pair of output blocks), chunk by
 *   chunk, tile-major within a chunk; each thread takes a contiguous
 *   run of units (so batch 1 splits evenly by pixels and channels) and
 *   packs only the chunks it touches.
 *
 * conv2d_bn_nchw8c, depthwise: per 8-channel block and output row, 4
 *   output pixels at a time (8 FMA chains: two kernel rows' taps
 *   interleaved); each pixel's taps of the even kernel rows and of the
 *   odd ones are two FMA chains in (row, column) order, added, plus the
 *   bias: the plain layout's vector kernel's arithmetic
 *   (kernels/dwconv2d_avx2.c), so the results are its results. 3x3 and
 *   5x5 kernels of stride 1 or 2 (fk_row; 1.2-1.6x less CPU time than
 *   the general loop on mobilenet_v3_large's 3x3 layers at batch 1)
 *   copy each input row once into a ring of zero-padded rows in the
 *   thread's slot (fx__dwconv_nchw8c_ring), then take 4 pixels at a time
 *   fully unrolled, every tap's input the FMA's memory operand (a 3x3
 *   kernel's 9 weights stay in registers for the row), with the
 *   epilogue and residual before the store. Otherwise rows
 *   narrower than FX__NCHW8C_PAD_OW read the block from a zero-padded
 *   copy in the thread's slot (the plain kernel adds the same exact
 *   zeros), so every pixel takes every tap; wider ones read x itself,
 *   the interior pixels every tap, the border ones one at a time
 *   skipping the taps outside (a padding tap, fma(w, 0, s), gives s
 *   back, but for the sign of a zero s; the bias then turns a zero sum
 *   into +0, so only a bias of exactly -0 can tell the two apart: the
 *   sign of a zero output). A channel whose weights are not all finite, or a conv of
 *   stride above 2 along the width, takes the plain kernel's scalar
 *   formula instead (one sum over the taps in order, a multiply and an
 *   add each), lane by lane. One difference remains: the plain kernel
 *   also takes that formula for rows too wide for its row ring (W + 2*PW
 *   from about 8000 pixels, less for tall or dilated kernels); there the
 *   two differ by rounding (both within the reference's float32 bound).
 *   Work split: by (n, block, output row); the block's taps (and padded
 *   copy) are made when the block changes, its ring rows as the output
 *   rows need them.
 *
 * adaptive_avg_pool2d_nchw8c: the 32 partial sums of fx__plane_sum, 8
 *   channels a vector, 8 partial sums at a time; the same operations in
 *   the same order, so the reference's (and the plain op's) bits.
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels/activation_avx2.h"
#include "kernels/transpose_avx2.h"
#include "ops/ops.h"

void fx_f32_to_nchw8c__avx2(const fx_kargs *a, int ith, int nth);
void fx_f32_from_nchw8c__avx2(const fx_kargs *a, int ith, int nth);
void fx_f32_conv2d_bn_nchw8c__avx2(const fx_kargs *a, int ith, int nth);
void fx_f32_adaptive_avg_pool2d_nchw8c__avx2(const fx_kargs *a, int ith,
                                             int nth);

#define MR 6           /* pixels per pointwise tile */
#define KC FX__GEMM_KC /* input channels per K block (the GEMM's) */
#define OCB FX__NCHW8C_OCB
#define RUN 512        /* pixels per work item of the reorders */
#define FK_MAX 5       /* the largest kernel of the unrolled depthwise */

/* ---- reorders -------------------------------------------------------- */

/* Work items of a reorder of the plain tensor t (N, C, H, W): runs of
 * up to RUN pixels of one (n, c/8) block; [begin, end) of them, and the
 * runs per block. */
static void
reorder_items(const fx_tensor *t, int ith, int nth, int64_t *begin,
              int64_t *end, int64_t *runs)
{
    const int64_t hw = t->shape[2] * t->shape[3];

    *runs = (hw + RUN - 1) / RUN;
    fx__split(t->shape[0] * (t->shape[1] / 8) * *runs, ith, nth, begin, end);
}

void
fx_f32_to_nchw8c__avx2(const fx_kargs *a, int ith, int nth)
{
    const fx_tensor *x = &a->in[0];
    const int64_t hw = x->shape[2] * x->shape[3];
    int64_t item, begin, end, runs, p, l;

    reorder_items(x, ith, nth, &begin, &end, &runs);
    for (item = begin; item < end; item++) {
        const int64_t blk = item / runs, p0 = item % runs * RUN;
        const int64_t p1 = p0 + RUN < hw ? p0 + RUN : hw;
        const float *src = x->data + blk * 8 * hw;
        float *dst = a->out->data + blk * hw * 8;

        for (p = p0; p + 8 <= p1; p += 8) {
            fx__transpose8(src + p, hw, dst + p * 8, 8);
        }
        for (; p < p1; p++) {
            for (l = 0; l < 8; l++) {
                dst[p * 8 + l] = src[l * hw + p];
            }
        }
    }
}

void
fx_f32_from_nchw8c__avx2(const fx_kargs *a, int ith, int nth)
{
    const fx_tensor *y = a->out;
    const int64_t hw = y->shape[2] * y->shape[3];
    int64_t item, begin, end, runs, p, l;

    reorder_items(y, ith, nth, &begin, &end, &runs);
    for (item = begin; item < end; item++) {
        const int64_t blk = item / runs, p0 = item % runs * RUN;
        const int64_t p1 = p0 + RUN < hw ? p0 + RUN : hw;
        const float *src = a->in[0].data + blk * hw * 8;
        float *dst = y->data + blk * 8 * hw;

        for (p = p0; p + 8 <= p1; p += 8) {
            fx__transpose8(src + p * 8, 8, dst + p, hw);
        }
        for (; p < p1; p++) {
            for (l = 0; l < 8; l++) {
                dst[l * hw + p] = src[p * 8 + l];
            }
        }
    }
}

/* ---- pointwise ------------------------------------------------------- */

/* One pointwise call's operands. */
typedef struct pw_args {
    const float *x, *res, *bias, *alpha, *beta;
    float *y;
    int64_t hw;  /* pixels per image */
    int64_t cbn; /* input channel blocks */
    int64_t obn; /* output channel blocks */
} pw_args;

/* One tile: pixels [p, p + mr) of image n, output blocks ob (and ob + 1
 * if nb == 2), K block of kc channels from k0 (first / last of the
 * conv); wp: the pair's packed weights, [kc][16]. */
typedef struct pw_tile {
    int64_t n, p, ob, k0, kc;
    const float *wp;
    int first, last;
} pw_tile;

/* The tile's stores: v = prev + acc, prev the bias (first K block) or
 * the partial sum in y; in the last block the BN epilogue, the act, the
 * residual. act, mr, nb: constants where inlined. */
FX_INLINE void
pw_store(const int64_t act, const int mr, const int nb, const pw_args *g,
         const pw_tile *t, const __m256 acc[MR][2])
{
    int r, b;

    for (b = 0; b < nb; b++) {
        const int64_t o = (t->ob + b) * 8;
        const int64_t off = ((t->n * g->obn + t->ob + b) * g->hw + t->p) * 8;
        float *y = g->y + off;
        const __m256 bias = g->bias != NULL ? _mm256_loadu_ps(g->bias + o)
                                            : _mm256_setzero_ps();
        const __m256 al = _mm256_loadu_ps(g->alpha + o);
        const __m256 be = _mm256_loadu_ps(g->beta + o);

        for (r = 0; r < mr; r++) {
            __m256 v = _mm256_add_ps(
                t->first ? bias : _mm256_loadu_ps(y + r * 8), acc[r][b]);

            if (t->last) {
                v = fx__v_bn_act(act, v, al, be);
                if (g->res != NULL) {
                    v = _mm256_add_ps(v, _mm256_loadu_ps(g->res + off
                                                         + r * 8));
                }
            }
            _mm256_storeu_ps(y + r * 8, v);
        }
    }
}

/* The tile's sums: 6 x 2 named accumulators (an indexed array of them
 * made gcc spill). */
FX_INLINE void
pw_tile_run(const int64_t act, const int mr, const int nb, const pw_args *g,
            const pw_tile *t)
{
    const float *x = g->x + ((t->n * g->cbn + t->k0 / 8) * g->hw + t->p) * 8;
    const float *w = t->wp;
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    __m256 acc[MR][2];
    int64_t c8;
    int l;

    for (c8 = 0; c8 < t->kc; c8 += 8) {
        for (l = 0; l < 8; l++) {
            const __m256 w0 = _mm256_loadu_ps(w);
            const __m256 w1 = nb == 2 ? _mm256_loadu_ps(w + 8) : w0;
            __m256 av;

            w += 16;
#define PW_ROW(R, A0, A1)                                                  \
    if (mr > R) {                                                          \
        av = _mm256_broadcast_ss(x + R * 8 + l);                           \
        A0 = _mm256_fmadd_ps(av, w0, A0);                                  \
        if (nb == 2) {                                                     \
            A1 = _mm256_fmadd_ps(av, w1, A1);                              \
        }                                                                  \
    }
            PW_ROW(0, c00, c01)
            PW_ROW(1, c10, c11)
            PW_ROW(2, c20, c21)
            PW_ROW(3, c30, c31)
            PW_ROW(4, c40, c41)
            PW_ROW(5, c50, c51)
#undef PW_ROW
        }
        x += g->hw * 8;
    }
    acc[0][0] = c00;
    acc[0][1] = c01;
    acc[1][0] = c10;
    acc[1][1] = c11;
    acc[2][0] = c20;
    acc[2][1] = c21;
    acc[3][0] = c30;
    acc[3][1] = c31;
    acc[4][0] = c40;
    acc[4][1] = c41;
    acc[5][0] = c50;
    acc[5][1] = c51;
    pw_store(act, mr, nb, g, t, acc);
}

/* pw_tile_run with constant mr (1..6) and nb (1, 2). */
FX_INLINE void
pw_tile_any(const int64_t act, int mr, int nb, const pw_args *g,
            const pw_tile *t)
{
    switch (mr * 2 + nb - 1) {
#define PW_CASE(M)                                                         \
    case M * 2:                                                            \
        pw_tile_run(act, M, 1, g, t);                                      \
        break;                                                             \
    case M * 2 + 1:                                                        \
        pw_tile_run(act, M, 2, g, t);                                      \
        break;
        PW_CASE(1)
        PW_CASE(2)
        PW_CASE(3)
        PW_CASE(4)
        PW_CASE(5)
        PW_CASE(6)
#undef PW_CASE
    default:
        break;
    }
}

/* Packs output blocks [ob0, ob1) (a chunk), K block [k0, k0 + kc), of
 * w (OC x C) into wp: pair q of the chunk at wp + q*kc*16, [kc][16]
 * (a lone last block fills the first 8 columns). */
static void
pw_pack(const float *w, int64_t c, int64_t ob0, int64_t ob1, int64_t k0,
        int64_t kc, float *wp)
{
    int64_t ob, k;

    for (ob = ob0; ob < ob1; ob++) {
        const int64_t q = (ob - ob0) / 2, half = (ob - ob0) % 2;

        for (k = 0; k < kc; k += 8) {
            fx__transpose8(w + ob * 8 * c + k0 + k, c,
                           wp + (q * kc + k) * 16 + half * 8, 16);
        }
    }
}

/* The pointwise conv with activation act (a constant where inlined). */
FX_INLINE void
pw_run(const int64_t act, const pw_args *g, const float *w, int64_t n_img,
       float *wp, int ith, int nth)
{
    const int64_t c = g->cbn * 8;
    const int64_t nt = (g->hw + MR - 1) / MR;          /* tiles per image */
    const int64_t pairs = (g->obn + 1) / 2;
    const int64_t cpairs = OCB / 16;                   /* pairs per chunk */
    const int64_t tiles = n_img * nt;
    int64_t u0, u1, base, q0, k0, u;
    pw_tile t;

    fx__split(tiles * pairs, ith, nth, &u0, &u1);
    /* chunk q0.. covers units [base, base + tiles * npc) */
    for (q0 = 0, base = 0; q0 < pairs && base < u1; q0 += cpairs) {
        const int64_t npc = pairs - q0 < cpairs ? pairs - q0 : cpairs;
        const int64_t end = base + tiles * npc;
        const int64_t lo = u0 > base ? u0 : base, hi = u1 < end ? u1 : end;

        if (lo < hi) {
            for (k0 = 0; k0 < c; k0 += KC) {
                t.kc = c - k0 < KC ? c - k0 : KC;
                t.k0 = k0;
                t.first = k0 == 0;
                t.last = k0 + t.kc >= c;
                pw_pack(w, c, q0 * 2,
                        (q0 + npc) * 2 < g->obn ? (q0 + npc) * 2 : g->obn,
                        k0, t.kc, wp);
                for (u = lo; u < hi; u++) {
                    const int64_t tile = (u - base) / npc;
                    const int64_t q = (u - base) % npc;
                    const int64_t ti = tile % nt;
                    const int64_t p = ti * g->hw / nt;

                    t.n = tile / nt;
                    t.p = p;
                    t.ob = (q0 + q) * 2;
                    t.wp = wp + q * t.kc * 16;
                    pw_tile_any(act, (int)((ti + 1) * g->hw / nt - p),
                                t.ob + 1 < g->obn ? 2 : 1, g, &t);
                }
            }
        }
        base = end;
    }
}

static void
pointwise(const fx_kargs *a, int ith, int nth, const float *alpha,
          const float *beta, float *wp)
{
    const fx_conv2d_bn_params *p = a->params;
    const fx_tensor *x = &a->in[0];
    pw_args g;

    g.x = x->data;
    g.y = a->out->data;
    g.res = a->n_in > 7 ? a->in[7].data : NULL;
    g.bias = a->n_in > 2 ? a->in[2].data : NULL;
    g.alpha = alpha;
    g.beta = beta;
    g.hw = x->shape[2] * x->shape[3];
    g.cbn = x->shape[1];
    g.obn = a->out->shape[1];
    switch (p->act) {
    case FX_ACT_RELU:
        pw_run(FX_ACT_RELU, &g, a->in[1].data, x->shape[0], wp, ith, nth);
        break;
    case FX_ACT_RELU6:
        pw_run(FX_ACT_RELU6, &g, a->in[1].data, x->shape[0], wp, ith, nth);
        break;
    case FX_ACT_HARDSWISH:
        pw_run(FX_ACT_HARDSWISH, &g, a->in[1].data, x->shape[0], wp, ith,
               nth);
        break;
    case FX_ACT_SILU:
        pw_run(FX_ACT_SILU, &g, a->in[1].data, x->shape[0], wp, ith, nth);
        break;
    case FX_ACT_GELU:
        pw_run(FX_ACT_GELU, &g, a->in[1].data, x->shape[0], wp, ith, nth);
        break;
    default:
        pw_run(FX_ACT_NONE, &g, a->in[1].data, x->shape[0], wp, ith, nth);
        break;
    }
}

/* ---- depthwise ------------------------------------------------------- */

/* One depthwise call's geometry and the current block's operands. */
typedef struct dw_args {
    int64_t h, w, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw;
    const float *x;  /* the block's input planes, (H, W, 8) */
    /* where the vector sums read the block: pixel (i, j)'s tap (u, v)
     * at src[((i*SH + roff + u*DH)*ld + j*SW + coff + v*DW)*8]: x itself
     * (roff -PH, coff -PW, ld W) or its zero-padded copy (0, 0, W+2PW) */
    const float *src;
    int64_t roff, coff, ld;
    /* the ring (3x3 and 5x5 kernels of stride 1 or 2, or NULL):
     * padded input row t (x's row t - PH) of the block at ring row
     * t mod ring_rows (a power of 2), of ring_ld pixels (W + 2*PW) */
    float *ring;
    int64_t ring_rows, ring_ld;
    const float *wt; /* the block's taps, [KH*KW][8] */
    const float *res;
    float *y;        /* the block's output row, (OW, 8) */
    __m256 bias, al, be;
} dw_args;

/* The taps of kernel rows u (into acc0) and, if two, u + 1 (into acc1),
 * columns [v0, v1), for np pixels from (i, j); the two rows' FMAs
 * interleaved (8 chains in flight for 4 pixels), each chain in column
 * order. */
FX_INLINE void
dw_tap_rows(const int np, const int two, const dw_args *d, int64_t i,
            int64_t j, int64_t u, int64_t v0, int64_t v1, __m256 *acc0,
            __m256 *acc1)
{
    const int64_t r0 = (i * d->sh + d->roff + u * d->dh) * d->ld
                       + j * d->sw + d->coff;
    const int64_t r1 = r0 + d->dh * d->ld;
    int64_t v;
    int k;

    for (v = v0; v < v1; v++) {
        const __m256 w0 = _mm256_loadu_ps(d->wt + (u * d->kw + v) * 8);
        const __m256 w1 = two ? _mm256_loadu_ps(d->wt
                                                + ((u + 1) * d->kw + v) * 8)
                              : w0;
        const float *p0 = d->src + (r0 + v * d->dw) * 8;
        const float *p1 = d->src + (r1 + v * d->dw) * 8;

        for (k = 0; k < np; k++) {
            acc0[k] = _mm256_fmadd_ps(
                w0, _mm256_loadu_ps(p0 + k * d->sw * 8), acc0[k]);
            if (two) {
                acc1[k] = _mm256_fmadd_ps(
                    w1, _mm256_loadu_ps(p1 + k * d->sw * 8), acc1[k]);
            }
        }
    }
}

/* The sums of np (1..4) pixels j, j+1, .. of output row i over kernel
 * rows [u0, u1) and columns [v0, v1), plus the bias: the taps of the
 * even kernel rows and of the odd ones in two chains, each in (row,
 * column) order, added. */
FX_INLINE void
dw_sums(const int np, const dw_args *d, int64_t i, int64_t j, int64_t u0,
        int64_t u1, int64_t v0, int64_t v1, __m256 out[4])
{
    __m256 ev[4], od[4];
    int64_t u = u0;
    int k;

    for (k = 0; k < np; k++) {
        ev[k] = _mm256_setzero_ps();
        od[k] = _mm256_setzero_ps();
    }
    if (u < u1 && u % 2 != 0) {
        dw_tap_rows(np, 0, d, i, j, u, v0, v1, od, od);
        u++;
    }
    for (; u + 1 < u1; u += 2) {
        dw_tap_rows(np, 1, d, i, j, u, v0, v1, ev, od);
    }
    if (u < u1) {
        dw_tap_rows(np, 0, d, i, j, u, v0, v1, ev, ev);
    }
    for (k = 0; k < np; k++) {
        out[k] = _mm256_add_ps(_mm256_add_ps(ev[k], od[k]), d->bias);
    }
}

/* The plain kernel's scalar formula for pixel (i, j) in lanes where
 * lane_vec is 0, into out (whose other lanes are kept). */
static void
dw_scalar(const dw_args *d, const float *bias, const int *lane_vec,
          int64_t i, int64_t j, __m256 *out)
{
    float s[8];
    int64_t u, v;
    int l;

    _mm256_storeu_ps(s, *out);
    for (l = 0; l < 8; l++) {
        float acc = 0.0f;

        if (lane_vec[l]) {
            continue;
        }
        for (u = 0; u < d->kh; u++) {
            const int64_t r = i * d->sh - d->ph + u * d->dh;

            for (v = 0; v < d->kw && r >= 0 && r < d->h; v++) {
                const int64_t q = j * d->sw - d->pw + v * d->dw;

                if (q >= 0 && q < d->w) {
                    acc += d->wt[(u * d->kw + v) * 8 + l]
                           * d->x[(r * d->w + q) * 8 + l];
                }
            }
        }
        s[l] = acc + bias[l];
    }
    *out = _mm256_loadu_ps(s);
}

/* The epilogue and store of pixels [j, j + np) of the row. */
FX_INLINE void
dw_out(const int64_t act, const int np, const dw_args *d, int64_t j,
       const __m256 s[4])
{
    int k;

    for (k = 0; k < np; k++) {
        __m256 v = fx__v_bn_act(act, s[k], d->al, d->be);

        if (d->res != NULL) {
            v = _mm256_add_ps(v, _mm256_loadu_ps(d->res + (j + k) * 8));
        }
        _mm256_storeu_ps(d->y + (j + k) * 8, v);
    }
}

/* Pixels [j0, j1) of row i, 4 at a time, over the taps' rows [u0, u1)
 * and all their columns (each inside src). */
FX_INLINE void
dw_span(const int64_t act, const dw_args *d, int64_t i, int64_t j0,
        int64_t j1, int64_t u0, int64_t u1)
{
    __m256 s[4];
    int64_t j;

    for (j = j0; j + 4 <= j1; j += 4) {
        dw_sums(4, d, i, j, u0, u1, 0, d->kw, s);
        dw_out(act, 4, d, j, s);
    }
    switch (j1 - j) {
    case 3:
        dw_sums(3, d, i, j, u0, u1, 0, d->kw, s);
        dw_out(act, 3, d, j, s);
        break;
    case 2:
        dw_sums(2, d, i, j, u0, u1, 0, d->kw, s);
        dw_out(act, 2, d, j, s);
        break;
    case 1:
        dw_sums(1, d, i, j, u0, u1, 0, d->kw, s);
        dw_out(act, 1, d, j, s);
        break;
    default:
        break;
    }
}

/* [lo, hi) of the taps t (< k) with 0 <= base + t*step < n. */
FX_INLINE void
tap_range(int64_t base, int64_t step, int64_t k, int64_t n, int64_t *lo,
          int64_t *hi)
{
    *lo = 0;
    while (*lo < k && base + *lo * step < 0) {
        (*lo)++;
    }
    *hi = *lo;
    while (*hi < k && base + *hi * step < n) {
        (*hi)++;
    }
}

/* Output row i of the block (act a constant where inlined); lane_vec
 * NULL: every lane by the vector sums. From the padded copy (or x of an
 * unpadded conv), every pixel takes all taps; from x, the interior
 * columns do, and the border ones skip the taps outside the input. */
FX_INLINE void
dw_row(const int64_t act, const dw_args *d, int64_t i, const int *lane_vec,
       const float *bias)
{
    /* every tap inside src: roff alone is 0 for x with padding (0, PW) */
    const int all_taps = d->roff == 0 && d->coff == 0;
    int64_t u0, u1, v0, v1, j, jlo, jhi;
    __m256 s[4];

    if (all_taps && lane_vec == NULL) {
        dw_span(act, d, i, 0, d->ow, 0, d->kh);
        return;
    }
    tap_range(i * d->sh - d->ph, d->dh, d->kh, d->h, &u0, &u1);
    /* interior columns: every tap column inside the row */
    jlo = (d->pw + d->sw - 1) / d->sw;
    jhi = d->w - 1 - (d->kw - 1) * d->dw + d->pw >= 0
              ? (d->w - 1 - (d->kw - 1) * d->dw + d->pw) / d->sw + 1
              : 0;
    jhi = jhi < d->ow ? jhi : d->ow;
    jlo = jlo < jhi ? jlo : jhi;
    for (j = 0; j < d->ow; j++) {
        if (j == jlo && lane_vec == NULL && !all_taps) {
            dw_span(act, d, i, jlo, jhi, u0, u1);
            j = jhi;
            if (j >= d->ow) {
                break;
            }
        }
        if (all_taps) {
            dw_sums(1, d, i, j, 0, d->kh, 0, d->kw, s);
        } else {
            tap_range(j * d->sw - d->pw, d->dw, d->kw, d->w, &v0, &v1);
            dw_sums(1, d, i, j, u0, u1, v0, v1, s);
        }
        if (lane_vec != NULL) {
            dw_scalar(d, bias, lane_vec, i, j, &s[0]);
        }
        dw_out(act, 1, d, j, s);
    }
}

/* The sums of np pixels t of one output row (plus the bias), a k x k
 * kernel of stride s (constants): pixel t's tap (u, v) at
 * rows[u][(t*s + v) * 8], in dw_sums' two chains and order, each tap's
 * input the FMA's memory operand. The weights in registers: all 9 of a
 * 3x3 kernel (w), a kernel row's 5 of a 5x5 one (np <= 4). */
FX_INLINE void
fk_sums(const int k, const int s, const int np, const float *const *rows,
        const __m256 *w, const float *wt, __m256 bias, __m256 *out)
{
    __m256 ev[4], od[4], wv[FK_MAX];
    int u, v, t;

    for (t = 0; t < np; t++) {
        ev[t] = _mm256_setzero_ps();
        od[t] = _mm256_setzero_ps();
    }
    for (u = 0; u < k; u++) {
        for (v = 0; v < k; v++) {
            wv[v] = k == 3 ? w[u * 3 + v]
                           : _mm256_loadu_ps(wt + (u * k + v) * 8);
        }
        for (t = 0; t < np; t++) {
            for (v = 0; v < k; v++) {
                const __m256 xv = _mm256_loadu_ps(rows[u] + (t * s + v) * 8);

                if (u % 2 == 0) {
                    ev[t] = _mm256_fmadd_ps(wv[v], xv, ev[t]);
                } else {
                    od[t] = _mm256_fmadd_ps(wv[v], xv, od[t]);
                }
            }
        }
    }
    for (t = 0; t < np; t++) {
        out[t] = _mm256_add_ps(_mm256_add_ps(ev[t], od[t]), bias);
    }
}

/* Pixels [j, j + np) of output row i: fk_sums, then the epilogue and the
 * residual, stored. All taps come from the ring, where the padding's
 * zeros add exact +0s to sums that are never -0, as in the plain
 * kernel. */
FX_INLINE void
fk_pixels(const int64_t act, const int k, const int s, const int np,
          const dw_args *d, const __m256 *w, int64_t i, int64_t j)
{
    const float *rows[FK_MAX];
    __m256 sum[4];
    int u;

    for (u = 0; u < k; u++) {
        rows[u] = d->ring
                  + (((i * s + u) & (d->ring_rows - 1)) * d->ring_ld + j * s)
                        * 8;
    }
    fk_sums(k, s, np, rows, w, d->wt, d->bias, sum);
    dw_out(act, np, d, j, sum);
}

/* Output row i, a k x k kernel of stride s (every lane's weights
 * finite), with activation act (constants): 4 pixels at a time, then
 * the rest. */
FX_INLINE void
fk_row(const int64_t act, const int k, const int s, const dw_args *d,
       int64_t i)
{
    __m256 w[9];
    int64_t j;
    int t;

    for (t = 0; t < 9 && k == 3; t++) {
        w[t] = _mm256_loadu_ps(d->wt + t * 8);
    }
    for (j = 0; j + 4 <= d->ow; j += 4) {
        fk_pixels(act, k, s, 4, d, w, i, j);
    }
    switch (d->ow - j) {
    case 3:
        fk_pixels(act, k, s, 3, d, w, i, j);
        break;
    case 2:
        fk_pixels(act, k, s, 2, d, w, i, j);
        break;
    case 1:
        fk_pixels(act, k, s, 1, d, w, i, j);
        break;
    default:
        break;
    }
}

/* fk_row for the kernel size and stride of d (a ring's). */
FX_INLINE void
fk_row_any(const int64_t act, const dw_args *d, int64_t i)
{
    switch (d->kh * 4 + d->sh) {
    case 3 * 4 + 1:
        fk_row(act, 3, 1, d, i);
        break;
    case 3 * 4 + 2:
        fk_row(act, 3, 2, d, i);
        break;
    case 5 * 4 + 1:
        fk_row(act, 5, 1, d, i);
        break;
    default:
        fk_row(act, 5, 2, d, i);
        break;
    }
}

/* Padded input row t (x's row t - PH, or zeros outside x) of the block
 * into its ring row, whose PW pixels on either side stay zero. */
static void
fk_fill(const dw_args *d, int64_t t)
{
    const int64_t r = t - d->ph;
    float *dst = d->ring + ((t & (d->ring_rows - 1)) * d->ring_ld + d->pw) * 8;

    int64_t q;

    for (q = 0; q < d->w; q++) {
        _mm256_storeu_ps(dst + q * 8,
                         r >= 0 && r < d->h
                             ? _mm256_loadu_ps(d->x + (r * d->w + q) * 8)
                             : _mm256_setzero_ps());
    }
}

/* Rows [r0, r1) of all (n, block, row) rows, with activation act; pad:
 * the padded copy (its borders zeroed here), or NULL. */
FX_INLINE void
dw_run(const int64_t act, const fx_kargs *a, dw_args *d, const float *alpha,
       const float *beta, float *wt, float *pad, int64_t r0, int64_t r1)
{
    const fx_tensor *x = &a->in[0], *w = &a->in[1];
    const float *bias = a->n_in > 2 ? a->in[2].data : NULL;
    const int64_t cbn = x->shape[1], kk = d->kh * d->kw;
    int64_t r, blk = -1, t, next = 0;
    int lane_vec[8], all_vec = 1, l;
    float bv[8];

    d->wt = wt;
    if (pad != NULL && r0 < r1) {
        memset(pad, 0,
               (size_t)((d->h + 2 * d->ph) * d->ld * 8) * sizeof(float));
    }
    for (t = 0; d->ring != NULL && r0 < r1 && t < d->ring_rows; t++) {
        float *row = d->ring + t * d->ring_ld * 8;

        memset(row, 0, (size_t)(d->pw * 8) * sizeof(float));
        memset(row + (d->pw + d->w) * 8, 0,
               (size_t)((d->ring_ld - d->pw - d->w) * 8) * sizeof(float));
    }
    for (r = r0; r < r1; r++) {
        if (r / d->oh != blk) {
            const int64_t cb = r / d->oh % cbn;

            blk = r / d->oh;
            all_vec = 1;
            for (l = 0; l < 8; l++) {
                const float *wl = w->data + (cb * 8 + l) * kk;

                lane_vec[l] = d->sw <= 2;
                for (t = 0; t < kk; t++) {
                    wt[t * 8 + l] = wl[t];
                    lane_vec[l] &= isfinite(wl[t]) != 0;
                }
                all_vec &= lane_vec[l];
                bv[l] = bias != NULL ? bias[cb * 8 + l] : 0.0f;
            }
            d->bias = _mm256_loadu_ps(bv);
            d->al = _mm256_loadu_ps(alpha + cb * 8);
            d->be = _mm256_loadu_ps(beta + cb * 8);
            d->x = x->data + blk * d->h * d->w * 8;
            d->src = d->x;
            if (pad != NULL) {
                for (t = 0; t < d->h; t++) {
                    memcpy(pad + ((t + d->ph) * d->ld + d->pw) * 8,
                           d->x + t * d->w * 8,
                           (size_t)(d->w * 8) * sizeof(float));
                }
                d->src = pad;
            }
            next = r % d->oh * d->sh;
        }
        d->y = a->out->data + r * d->ow * 8;
        d->res = a->n_in > 7 && a->in[7].data != NULL
                     ? a->in[7].data + r * d->ow * 8
                     : NULL;
        if (all_vec && d->ring != NULL) {
            for (; next < r % d->oh * d->sh + d->kh; next++) {
                fk_fill(d, next);
            }
            fk_row_any(act, d, r % d->oh);
        } else {
            dw_row(act, d, r % d->oh, all_vec ? NULL : lane_vec, bv);
        }
    }
}

static void
depthwise(const fx_kargs *a, int ith, int nth, const float *alpha,
          const float *beta, float *wt)
{
    const fx_conv2d_bn_params *p = a->params;
    const fx_tensor *x = &a->in[0], *w = &a->in[1];
    float *pad = NULL;
    dw_args d;
    int64_t r0, r1, ring;

    d.h = x->shape[2];
    d.w = x->shape[3];
    d.kh = w->shape[2];
    d.kw = w->shape[3];
    d.oh = a->out->shape[2];
    d.ow = a->out->shape[3];
    d.sh = p->conv.stride.v[0];
    d.sw = p->conv.stride.v[1];
    d.ph = p->conv.padding.v[0];
    d.pw = p->conv.padding.v[1];
    d.dh = p->conv.dilation.v[0];
    d.dw = p->conv.dilation.v[1];
    d.roff = -d.ph;
    d.coff = -d.pw;
    d.ld = d.w;
    ring = fx__dwconv_nchw8c_ring(&p->conv, x, w);
    d.ring = NULL;
    d.ring_ld = d.w + 2 * d.pw;
    d.ring_rows = ring / (d.ring_ld * 8);
    if (ring != 0) {
        d.ring = wt + (d.kh * d.kw * 8 + 15) / 16 * 16;
    } else if (fx__dwconv_nchw8c_padded(&p->conv, x, d.ow)) {
        pad = wt + (d.kh * d.kw * 8 + 15) / 16 * 16;
        d.roff = 0;
        d.coff = 0;
        d.ld = d.w + 2 * d.pw;
    }
    fx__split(x->shape[0] * x->shape[1] * d.oh, ith, nth, &r0, &r1);
    switch (p->act) {
    case FX_ACT_RELU:
        dw_run(FX_ACT_RELU, a, &d, alpha, beta, wt, pad, r0, r1);
        break;
    case FX_ACT_RELU6:
        dw_run(FX_ACT_RELU6, a, &d, alpha, beta, wt, pad, r0, r1);
        break;
    case FX_ACT_HARDSWISH:
        dw_run(FX_ACT_HARDSWISH, a, &d, alpha, beta, wt, pad, r0, r1);
        break;
    case FX_ACT_SILU:
        dw_run(FX_ACT_SILU, a, &d, alpha, beta, wt, pad, r0, r1);
        break;
    case FX_ACT_GELU:
        dw_run(FX_ACT_GELU, a, &d, alpha, beta, wt, pad, r0, r1);
        break;
    default:
        dw_run(FX_ACT_NONE, a, &d, alpha, beta, wt, pad, r0, r1);
        break;
    }
}

void
fx_f32_conv2d_bn_nchw8c__avx2(const fx_kargs *a, int ith, int nth)
{
    const fx_conv2d_bn_params *p = a->params;
    const int64_t oc = a->in[1].shape[0];
    float *alpha = (float *)((char *)a->workspace
                             + (size_t)ith * a->workspace_size);
    float *rest = (float *)((char *)alpha + fx__conv2d_bn_affine_bytes(oc));

    if (fx_tensor_numel(a->out) == 0) {
        return;
    }
    fx__conv2d_bn_affine(a, alpha, alpha + oc);
    if (fx__conv2d_nchw8c_pointwise(&p->conv, &a->in[1])) {
        pointwise(a, ith, nth, alpha, alpha + oc, rest);
    } else {
        depthwise(a, ith, nth, alpha, alpha + oc, rest);
    }
}

/* ---- global average pooling ------------------------------------------ */

void
fx_f32_adaptive_avg_pool2d_nchw8c__avx2(const fx_kargs *a, int ith, int nth)
{
    const fx_tensor *x = &a->in[0];
    const int64_t hw = x->shape[2] * x->shape[3];
    const __m256 div = _mm256_set1_ps((float)hw);
    int64_t b, begin, end, k;
    int l, g;

    fx__split(x->shape[0] * x->shape[1], ith, nth, &begin, &end);
    for (b = begin; b < end; b++) {
        const float *xb = x->data + b * hw * 8;
        __m256 part[FX__SUM_LANES], s8[8];

        /* partial sum l gets pixels l, l + 32, ..., in order; 8 of them
         * at a time, one pass over the plane each */
        for (g = 0; g < FX__SUM_LANES; g += 8) {
            __m256 acc[8];

            for (l = 0; l < 8; l++) {
                acc[l] = _mm256_setzero_ps();
            }
            for (k = g; k + 8 <= hw; k += FX__SUM_LANES) {
                for (l = 0; l < 8; l++) {
                    acc[l] = _mm256_add_ps(acc[l], _mm256_loadu_ps(
                                                       xb + (k + l) * 8));
                }
            }
            for (l = 0; l < 8 && k + l < hw; l++) {
                acc[l] = _mm256_add_ps(acc[l],
                                       _mm256_loadu_ps(xb + (k + l) * 8));
            }
            for (l = 0; l < 8; l++) {
                part[g + l] = acc[l];
            }
        }
        for (l = 0; l < 8; l++) {
            s8[l] = _mm256_add_ps(_mm256_add_ps(part[l], part[l + 8]),
                                  _mm256_add_ps(part[l + 16], part[l + 24]));
        }
        for (l = 0; l < 4; l++) {
            s8[l] = _mm256_add_ps(s8[l], s8[l + 4]);
        }
        for (l = 0; l < 2; l++) {
            s8[l] = _mm256_add_ps(s8[l], s8[l + 2]);
        }
        _mm256_storeu_ps(a->out->data + b * 8,
                         _mm256_div_ps(_mm256_add_ps(s8[0], s8[1]), div));
    }
}
