/*
 * kernels/gemm_avx2.c - packed single-precision GEMM with an AVX2+FMA
 * 6x16 register tile, and the conv2d / linear kernels built on it.
 * Compiled with -mavx2 -mfma only; every helper is static, only the
 * kernels listed in kernels.def are exported.
 *
 * GEMM:  C (M x N, row stride ldc) += A (M x K, row stride lda) * B (K x N)
 *
 *   B is packed one block at a time into the calling thread's own
 *   workspace slot ((char *)workspace + ith * workspace_size): the block
 *   of K rows [k0, k0 + kc) (kc = min(KC, K - k0)) and 16-column panels
 *   [pb, pe) (at most NB of them) is stored panel after panel, panel p at
 *   slot + (p - pb)*kc*16, each kc rows of 16 floats (columns past N are
 *   zero). Slot size: min(K, KC) * min(panels, NB) * 16 floats, at most
 *   128 KiB (fx__gemm_workspace), whatever K and N. A is read in place
 *   (its rows are broadcast one element at a time, so it needs no
 *   packing).
 *
 *   Loops, outermost first: blocks of NB 16-column panels, K blocks of KC
 *   (that KC x NB*16 block of B is packed right here, so it is in L2 for
 *   its use), M blocks of MC (A block in L2), panels (B micro-panel in
 *   L1), 6-row tiles -> micro-kernel (specialised per tile height, so a
 *   GEMM with few rows, e.g. a conv with 2 output channels, does only its
 *   own FMAs).
 *
 *   Summation order: every C element gets, per K block in increasing k0,
 *   the FMA chain over that block's kc terms (in k order, from zero)
 *   added to it; so results depend on KC only, not on the N/M blocking
 *   or the thread count.
 *
 * conv2d: per image and group, B = im2col(x) (or the x plane itself for a
 * 1x1 / stride 1 / no padding conv) packed directly into panels, A = the
 * group's weights (OC/G x C/G*KH*KW), C = the output plane (OC/G x OH*OW),
 * pre-filled with the bias. linear: A = x (rows x IN), B = w^T, C = y,
 * pre-filled with the bias.
 *
 * Work split (ith, nth): by 16-column panels of the output; each thread
 * packs and computes only its own panels, in its own workspace slot, so
 * threads share nothing.
 */
#include <immintrin.h>
#include <string.h>

#include "kernels/activation_avx2.h"
#include "ops/ops.h"

#define MR 6
#define NR FX__GEMM_NR
#define KC FX__GEMM_KC
#define MC 72
#define NB FX__GEMM_NB

/* C[0:mr, 0:nr] += A[0:mr, 0:kc] * Bpanel[0:kc, 0:16], 1 <= mr <= 6.
 * Twelve named accumulators (an array made gcc spill them). Inlined with
 * a constant mr (see ukernel), so rows past mr cost nothing. */
FX_INLINE void
ukernel_mr(const int mr, int64_t kc, const float *FX_RESTRICT a,
           int64_t lda, const float *FX_RESTRICT b, float *FX_RESTRICT c,
           int64_t ldc, int nr)
{
    const float *a0 = a;
    const float *a1 = a + (mr > 1 ? 1 : 0) * lda;
    const float *a2 = a + (mr > 2 ? 2 : mr - 1) * lda;
    const float *a3 = a + (mr > 3 ? 3 : mr - 1) * lda;
    const float *a4 = a + (mr > 4 ? 4 : mr - 1) * lda;
    const float *a5 = a + (mr > 5 ? 5 : mr - 1) * lda;
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    __m256 acc[MR][2];
    int64_t k;
    int i, j;

    for (k = 0; k < kc; k++) {
        const __m256 b0 = _mm256_load_ps(b);
        const __m256 b1 = _mm256_load_ps(b + 8);
        __m256 av;

        b += NR;
        av = _mm256_broadcast_ss(a0 + k);
        c00 = _mm256_fmadd_ps(av, b0, c00);
        c01 = _mm256_fmadd_ps(av, b1, c01);
        if (mr > 1) {
            av = _mm256_broadcast_ss(a1 + k);
            c10 = _mm256_fmadd_ps(av, b0, c10);
            c11 = _mm256_fmadd_ps(av, b1, c11);
        }
        if (mr > 2) {
            av = _mm256_broadcast_ss(a2 + k);
            c20 = _mm256_fmadd_ps(av, b0, c20);
            c21 = _mm256_fmadd_ps(av, b1, c21);
        }
        if (mr > 3) {
            av = _mm256_broadcast_ss(a3 + k);
            c30 = _mm256_fmadd_ps(av, b0, c30);
            c31 = _mm256_fmadd_ps(av, b1, c31);
        }
        if (mr > 4) {
            av = _mm256_broadcast_ss(a4 + k);
            c40 = _mm256_fmadd_ps(av, b0, c40);
            c41 = _mm256_fmadd_ps(av, b1, c41);
        }
        if (mr > 5) {
            av = _mm256_broadcast_ss(a5 + k);
            c50 = _mm256_fmadd_ps(av, b0, c50);
            c51 = _mm256_fmadd_ps(av, b1, c51);
        }
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
    if (nr == NR) {
        for (i = 0; i < mr; i++) {
            float *ci = c + i * ldc;

            _mm256_storeu_ps(ci, _mm256_add_ps(_mm256_loadu_ps(ci),
                                               acc[i][0]));
            _mm256_storeu_ps(ci + 8, _mm256_add_ps(_mm256_loadu_ps(ci + 8),
                                                   acc[i][1]));
        }
    } else {
        float tmp[NR];

        for (i = 0; i < mr; i++) {
            float *ci = c + i * ldc;

            _mm256_storeu_ps(tmp, acc[i][0]);
            _mm256_storeu_ps(tmp + 8, acc[i][1]);
            for (j = 0; j < nr; j++) {
                ci[j] += tmp[j];
            }
        }
    }
}

static void
ukernel(int mr, int64_t kc, const float *FX_RESTRICT a, int64_t lda,
        const float *FX_RESTRICT b, float *FX_RESTRICT c, int64_t ldc,
        int nr)
{
    switch (mr) {
    case 1:
        ukernel_mr(1, kc, a, lda, b, c, ldc, nr);
        break;
    case 2:
        ukernel_mr(2, kc, a, lda, b, c, ldc, nr);
        break;
    case 3:
        ukernel_mr(3, kc, a, lda, b, c, ldc, nr);
        break;
    case 4:
        ukernel_mr(4, kc, a, lda, b, c, ldc, nr);
        break;
    case 5:
        ukernel_mr(5, kc, a, lda, b, c, ldc, nr);
        break;
    default:
        ukernel_mr(6, kc, a, lda, b, c, ldc, nr);
        break;
    }
}

/* Where B comes from: one of the three packers. */
typedef struct conv_geom conv_geom;
typedef struct bsource {
    int kind; /* BSRC_ROWS, BSRC_COLS, BSRC_IM2COL */
    const float *src;
    int64_t ld;
    const conv_geom *geom;
} bsource;

enum { BSRC_ROWS, BSRC_COLS, BSRC_IM2COL };

static void pack_block(const bsource *bs, int64_t n, int64_t k0, int64_t kc,
                       float *blk, int64_t p0, int64_t p1);

/* Optional per-row epilogue applied once C is complete:
 * C[i, j] = act(C[i, j] * alpha[i] + beta[i]), act an fx_act. */
typedef struct gemm_epilogue {
    const float *alpha, *beta;
    int64_t act;
} gemm_epilogue;

static void
apply_epilogue(const gemm_epilogue *e, float *c, int64_t m, int64_t ldc,
               int64_t j0, int64_t j1)
{
    int64_t i, j;

    for (i = 0; i < m; i++) {
        const __m256 al = _mm256_set1_ps(e->alpha[i]);
        const __m256 be = _mm256_set1_ps(e->beta[i]);
        float *ci = c + i * ldc;

        for (j = j0; j + 8 <= j1; j += 8) {
            _mm256_storeu_ps(ci + j, fx__v_bn_act(e->act, _mm256_loadu_ps(
                                                      ci + j), al, be));
        }
        if (j < j1) { /* the same arithmetic on the last lanes */
            const __m256i mask = _mm256_cmpgt_epi32(
                _mm256_set1_epi32((int)(j1 - j)),
                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));

            _mm256_maskstore_ps(ci + j, mask, fx__v_bn_act(
                e->act, _mm256_maskload_ps(ci + j, mask), al, be));
        }
    }
}

/* C += A * B over the panels [p0, p1) (see the file comment), then the
 * epilogue (if any) on those columns. Each (panel block, K block) of B is
 * packed into bp, the calling thread's slot, just before it is used, so
 * it is still in L2 for the micro-kernels. */
static void
gemm_panels(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
            const bsource *bs, float *bp, float *c, int64_t ldc, int64_t p0,
            int64_t p1, const gemm_epilogue *epi)
{
    int64_t pb, k0, i0, p, i;

    for (pb = p0; pb < p1; pb += NB) {
        const int64_t pe = pb + NB < p1 ? pb + NB : p1;

        for (k0 = 0; k0 < k; k0 += KC) {
            const int64_t kc = k - k0 < KC ? k - k0 : KC;

            pack_block(bs, n, k0, kc, bp, pb, pe);
            for (i0 = 0; i0 < m; i0 += MC) {
                const int64_t ie = i0 + MC < m ? i0 + MC : m;

                for (p = pb; p < pe; p++) {
                    const float *panel = bp + (p - pb) * kc * NR;
                    const int nr = (int)(n - p * NR < NR ? n - p * NR : NR);
                    float *cp = c + p * NR;

                    for (i = i0; i < ie; i += MR) {
                        const int mr = (int)(ie - i < MR ? ie - i : MR);

                        ukernel(mr, kc, a + i * lda + k0, lda, panel,
                                cp + i * ldc, ldc, nr);
                    }
                }
            }
        }
        if (epi != NULL) {
            apply_epilogue(epi, c, m, ldc, pb * NR,
                           pe * NR < n ? pe * NR : n);
        }
    }
}

/* Fills columns [j0, j1) of the m x ldc matrix c with row_bias[i] (if
 * non-NULL), else col_bias[j] (if non-NULL), else 0. */
static void
fill_bias(float *c, int64_t m, int64_t ldc, int64_t j0, int64_t j1,
          const float *row_bias, const float *col_bias)
{
    int64_t i, j;

    for (i = 0; i < m; i++) {
        float *ci = c + i * ldc;

        if (col_bias != NULL) {
            memcpy(ci + j0, col_bias + j0, (size_t)(j1 - j0) * sizeof(float));
        } else {
            const float v = row_bias != NULL ? row_bias[i] : 0.0f;

            for (j = j0; j < j1; j++) {
                ci[j] = v;
            }
        }
    }
}

/* ---- B packing ------------------------------------------------------ */

/* Each packer fills K block [k0, k0 + kc) of panels [p0, p1) into blk,
 * panel p at blk + (p - p0)*kc*NR. */

/* B(k, j) = src[k * ld + j]. */
static void
pack_b_rows(const float *src, int64_t ld, int64_t n, int64_t k0, int64_t kc,
            float *blk, int64_t p0, int64_t p1)
{
    int64_t kk, p;

    for (kk = 0; kk < kc; kk++) {
        const float *row = src + (k0 + kk) * ld;

        for (p = p0; p < p1; p++) {
            float *d = blk + (p - p0) * kc * NR + kk * NR;
            const int64_t cols = n - p * NR < NR ? n - p * NR : NR;

            if (cols == NR) {
                _mm256_store_ps(d, _mm256_loadu_ps(row + p * NR));
                _mm256_store_ps(d + 8, _mm256_loadu_ps(row + p * NR + 8));
            } else {
                memcpy(d, row + p * NR, (size_t)cols * sizeof(float));
                memset(d + cols, 0, (size_t)(NR - cols) * sizeof(float));
            }
        }
    }
}

/* B(k, j) = src[j * ld + k] (a transposed source, e.g. linear weights). */
static void
pack_b_cols(const float *src, int64_t ld, int64_t n, int64_t k0, int64_t kc,
            float *blk, int64_t p0, int64_t p1)
{
    int64_t kk, p, jj;

    for (p = p0; p < p1; p++) {
        float *d = blk + (p - p0) * kc * NR;
        const int64_t cols = n - p * NR < NR ? n - p * NR : NR;

        for (jj = 0; jj < cols; jj++) {
            const float *col = src + (p * NR + jj) * ld + k0;

            for (kk = 0; kk < kc; kk++) {
                d[kk * NR + jj] = col[kk];
            }
        }
        for (; jj < NR; jj++) {
            for (kk = 0; kk < kc; kk++) {
                d[kk * NR + jj] = 0.0f;
            }
        }
    }
}

struct conv_geom {
    int64_t h, w, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw;
};

/* One row of the implicit im2col matrix of input channel plane x at tap
 * (u, v): columns [j, j + cnt) of it (all in output row i, starting at
 * output column jx), written to d. */
FX_INLINE void
im2col_run(const float *x, const conv_geom *g, int64_t u, int64_t v,
           int64_t i, int64_t jx, int64_t cnt, float *d)
{
    const int64_t yi = i * g->sh - g->ph + u * g->dh;
    const int64_t x0 = jx * g->sw - g->pw + v * g->dw;
    int64_t t, lo, hi;

    if (yi < 0 || yi >= g->h) {
        memset(d, 0, (size_t)cnt * sizeof(float));
        return;
    }
    /* valid t: 0 <= x0 + t*sw < w (no division when sw == 1: this runs
     * once per 16 packed floats) */
    if (g->sw == 1) {
        lo = x0 >= 0 ? 0 : -x0;
        hi = x0 >= g->w ? 0 : g->w - x0;
    } else {
        lo = x0 >= 0 ? 0 : (-x0 + g->sw - 1) / g->sw;
        hi = x0 >= g->w ? 0 : (g->w - 1 - x0) / g->sw + 1;
    }
    if (hi > cnt) {
        hi = cnt;
    }
    if (lo > hi) {
        lo = hi;
    }
    for (t = 0; t < lo; t++) {
        d[t] = 0.0f;
    }
    x += yi * g->w + x0;
    if (g->sw == 1 && lo == 0 && hi == NR) {
        /* a whole interior panel row: two vector copies */
        _mm256_storeu_ps(d, _mm256_loadu_ps(x));
        _mm256_storeu_ps(d + 8, _mm256_loadu_ps(x + 8));
        return;
    }
    if (g->sw == 1) {
        memcpy(d + lo, x + lo, (size_t)(hi - lo) * sizeof(float));
    } else {
        for (t = lo; t < hi; t++) {
            d[t] = x[t * g->sw];
        }
    }
    for (t = hi; t < cnt; t++) {
        d[t] = 0.0f;
    }
}

/* B = im2col(x) for C/G channels: B((c*KH + u)*KW + v, i*OW + j).
 * p1 - p0 <= NB. The divisions are hoisted: (c, u, v) advance with kk,
 * and each panel's first (output row, column) is computed once. */
static void
pack_b_im2col(const float *x, const conv_geom *g, int64_t k0, int64_t kc,
              float *blk, int64_t p0, int64_t p1)
{
    const int64_t n = g->oh * g->ow;
    int64_t row0[NB], col0[NB];
    int64_t kk, p, v = k0 % g->kw, u = (k0 / g->kw) % g->kh;
    int64_t c = k0 / (g->kw * g->kh);

    for (p = p0; p < p1; p++) {
        row0[p - p0] = p * NR / g->ow;
        col0[p - p0] = p * NR % g->ow;
    }
    for (kk = 0; kk < kc; kk++) {
        const float *xc = x + c * g->h * g->w;

        for (p = p0; p < p1; p++) {
            float *d = blk + (p - p0) * kc * NR + kk * NR;
            int64_t j = p * NR, jj = 0;
            int64_t i = row0[p - p0], jx = col0[p - p0];

            while (jj < NR && j < n) {
                int64_t cnt = g->ow - jx;

                if (cnt > NR - jj) {
                    cnt = NR - jj;
                }
                if (cnt > n - j) {
                    cnt = n - j;
                }
                im2col_run(xc, g, u, v, i, jx, cnt, d + jj);
                jj += cnt;
                j += cnt;
                jx = 0;
                i++;
            }
            for (; jj < NR; jj++) {
                d[jj] = 0.0f;
            }
        }
        if (++v == g->kw) {
            v = 0;
            if (++u == g->kh) {
                u = 0;
                c++;
            }
        }
    }
}

static void
pack_block(const bsource *bs, int64_t n, int64_t k0, int64_t kc, float *blk,
           int64_t p0, int64_t p1)
{
    switch (bs->kind) {
    case BSRC_ROWS:
        pack_b_rows(bs->src, bs->ld, n, k0, kc, blk, p0, p1);
        break;
    case BSRC_COLS:
        pack_b_cols(bs->src, bs->ld, n, k0, kc, blk, p0, p1);
        break;
    default:
        pack_b_im2col(bs->src, bs->geom, k0, kc, blk, p0, p1);
        break;
    }
}

/* ---- exported kernels ----------------------------------------------- */

void fx_f32_conv2d_gemm_6x16__avx2(const fx_kargs *a, int ith, int nth);
void fx_f32_conv2d_bn_gemm_6x16__avx2(const fx_kargs *a, int ith, int nth);
void fx_f32_linear_gemm_6x16__avx2(const fx_kargs *a, int ith, int nth);

/* The calling thread's workspace slot. */
FX_INLINE float *
thread_slot(const fx_kargs *a, int ith)
{
    return (float *)((char *)a->workspace + (size_t)ith * a->workspace_size);
}

/* 1 if the n floats at p are all finite (no inf, no NaN): v * 0 is 0
 * for a finite v and NaN otherwise, and NaN survives the sum. One read of
 * the array, negligible next to the convolution that follows. */
static int
all_finite(const float *p, int64_t n)
{
    const __m256 zero = _mm256_setzero_ps();
    __m256 acc = zero;
    float tail = 0.0f;
    int64_t i;

    for (i = 0; i + 8 <= n; i += 8) {
        acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_loadu_ps(p + i), zero));
    }
    for (; i < n; i++) {
        tail += p[i] * 0.0f;
    }
    return _mm256_movemask_ps(_mm256_cmp_ps(acc, zero, _CMP_EQ_OQ)) == 0xff
           && tail == 0.0f;
}

/*
 * conv2d on a->params read as fx_conv2d_params (conv2d_bn's params start
 * with one), with epilogue alpha/beta (OC each, or NULL) applied to the
 * finished output; bp: the thread's packing block.
 *
 * x: (N, C, H, W)  w: (OC, C/G, KH, KW)  b: (OC)  y: (N, OC, OH, OW)
 * OH = (H + 2*PH - DH*(KH-1) - 1)/SH + 1, OW likewise.
 */
static void
conv2d_gemm(const fx_kargs *a, int ith, int nth, float *bp,
            const float *alpha, const float *beta, int64_t act)
{
    const fx_conv2d_params *p = a->params;
    const fx_tensor *x = &a->in[0], *w = &a->in[1];
    const float *bias = a->n_in > 2 ? a->in[2].data : NULL;
    const int64_t n_batch = x->shape[0], c_in = x->shape[1];
    const int64_t oc = w->shape[0], cg = w->shape[1];
    const int64_t groups = p->groups, ocg = oc / groups;
    conv_geom g;
    bsource bs;
    gemm_epilogue epi;
    int64_t k, n, npanels, p0, p1, b, gi;
    int pointwise;

    g.h = x->shape[2];
    g.w = x->shape[3];
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
    k = cg * g.kh * g.kw;
    n = g.oh * g.ow;
    if (fx__conv2d_winograd_ok(p, x, w, g.oh, g.ow)
        && all_finite(x->data, fx_tensor_numel(x))
        && all_finite(w->data, fx_tensor_numel(w))) {
        /* 3x3 stride 1: Winograd F(4x4, 3x3), kernels/winograd_avx2.c.
         * Its transforms mix the values of a whole tile, so an inf or NaN
         * would reach outputs whose window never sees it (and inf - inf
         * turns inf into NaN): such inputs take the direct path, which
         * gives the reference's non-finite pattern exactly. */
        fx__f32_conv2d_winograd__avx2(a, ith, nth, bp, alpha, beta, act);
        return;
    }
    if (cg == 1 && ocg == 1) {
        /* depthwise: a GEMM would have one row; the direct kernel
         * (kernels/dwconv2d_avx2.c) computes (n, c) planes instead, each
         * followed by the epilogue while it is in cache */
        fx__split(n_batch * oc, ith, nth, &p0, &p1);
        epi.act = act;
        for (b = p0; b < p1; b++) {
            fx__f32_dwconv2d__avx2(a, b);
            if (alpha != NULL) {
                epi.alpha = alpha + b % oc;
                epi.beta = beta + b % oc;
                apply_epilogue(&epi, a->out->data + b * n, 1, n, 0, n);
            }
        }
        return;
    }
    npanels = (n + NR - 1) / NR;
    fx__split(npanels, ith, nth, &p0, &p1);
    if (p0 >= p1) {
        return;
    }
    pointwise = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1
                && g.ph == 0 && g.pw == 0;
    for (b = 0; b < n_batch; b++) {
        for (gi = 0; gi < groups; gi++) {
            const float *xg = x->data + (b * c_in + gi * cg) * g.h * g.w;
            float *y = a->out->data + (b * oc + gi * ocg) * n;
            const int64_t j1 = p1 * NR < n ? p1 * NR : n;

            epi.alpha = alpha != NULL ? alpha + gi * ocg : NULL;
            epi.beta = beta != NULL ? beta + gi * ocg : NULL;
            epi.act = act;
            fill_bias(y, ocg, n, p0 * NR, j1,
                      bias != NULL ? bias + gi * ocg : NULL, NULL);
            if (k == 0) {
                if (alpha != NULL) {
                    apply_epilogue(&epi, y, ocg, n, p0 * NR, j1);
                }
                continue;
            }
            bs.kind = pointwise ? BSRC_ROWS : BSRC_IM2COL;
            bs.src = xg;
            bs.ld = n;
            bs.geom = &g;
            gemm_panels(ocg, n, k, w->data + gi * ocg * k, k, &bs, bp, y, n,
                        p0, p1, alpha != NULL ? &epi : NULL);
        }
    }
}

void
fx_f32_conv2d_gemm_6x16__avx2(const fx_kargs *a, int ith, int nth)
{
    conv2d_gemm(a, ith, nth, thread_slot(a, ith), NULL, NULL, 0);
}

/*
 * conv2d_bn: conv2d, then per output channel o
 *   y = act(y * alpha[o] + beta[o]),
 *   alpha = w_bn / sqrt(var + eps), beta = b_bn - mean * alpha,
 * both computed here from the live BN inputs (in double, as batch_norm
 * does) into the start of the thread's slot; the packing block follows
 * (see fx_conv2d_bn_infer). x: (N, C, H, W)  w: (OC, C/G, KH, KW)
 * b, mean, var, w_bn, b_bn: (OC)  y: (N, OC, OH, OW).
 */
void
fx_f32_conv2d_bn_gemm_6x16__avx2(const fx_kargs *a, int ith, int nth)
{
    const fx_conv2d_bn_params *p = a->params;
    const int64_t oc = a->in[1].shape[0];
    float *alpha = thread_slot(a, ith);
    float *bp = (float *)((char *)alpha + fx__conv2d_bn_affine_bytes(oc));

    fx__conv2d_bn_affine(a, alpha, alpha + oc);
    conv2d_gemm(a, ith, nth, bp, alpha, alpha + oc, p->act);
}

/* x: (..., IN)  w: (OUT, IN)  b: (OUT)  y: (..., OUT) */
void
fx_f32_linear_gemm_6x16__avx2(const fx_kargs *a, int ith, int nth)
{
    const fx_tensor *x = &a->in[0], *w = &a->in[1];
    const float *bias = a->n_in > 2 ? a->in[2].data : NULL;
    const int64_t k = w->shape[1], n = w->shape[0];
    const int64_t m = n > 0 ? fx_tensor_numel(a->out) / n : 0;
    const int64_t npanels = (n + NR - 1) / NR;
    bsource bs;
    int64_t p0, p1;
    float *bp = thread_slot(a, ith);

    fx__split(npanels, ith, nth, &p0, &p1);
    if (p0 >= p1 || m == 0) {
        return;
    }
    fill_bias(a->out->data, m, n, p0 * NR, p1 * NR < n ? p1 * NR : n, NULL,
              bias);
    if (k == 0) {
        return;
    }
    bs.kind = BSRC_COLS;
    bs.src = w->data;
    bs.ld = k;
    bs.geom = NULL;
    gemm_panels(m, n, k, x->data, k, &bs, bp, a->out->data, n, p0, p1,
                NULL);
}
