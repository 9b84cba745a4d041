/*
 * kernels/gemm_avx2.c - packed single-precision GEMM with an AVX2+FMA
 * 6x16 register tile, and the conv2d / linear kernels built on it.
 * Compiled with -mavx2 -mfma only; every helper is static, only the
 * kernels listed in kernels.def are exported.
 *
 * GEMM:  C (M x N) = bias + A (M x K, row stride lda) * B (K x N), then
 *        an optional epilogue act(C * alpha + beta) (alpha, beta per
 *        row) or act(C)
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
 *   Columns may come from several images: column j is pixel j % hw of
 *   image j / hw, each image's B source and C at its own offset (a panel
 *   that straddles images is cut into runs, see col_runs).
 *
 *   Loops, outermost first: blocks of NB 16-column panels, K blocks of KC
 *   (that KC x NB*16 block of B is packed right here, so it is in L2 for
 *   its use), M blocks of MC (A block in L2), panels (B micro-panel in
 *   L1), tiles of at most 6 rows, the M block's rows shared evenly
 *   among them (tile_rows) -> micro-kernel (specialised per tile height,
 *   so a GEMM with few rows, e.g. a conv with 2 output channels, does
 *   only its own FMAs). A panel with one real column (a 7x7 plane's
 *   last, a 1x1 plane) has its rows in vector lanes instead, 16 or 8 at
 *   a time (column_rows), the rows left over in tiles. A K block of at
 *   most SHORT_K rows (a 1x1 conv from few channels, as mobile nets'
 *   expansions over large planes) swaps the last two loops: tiles, then
 *   panels, so its stores run along C's rows (its B block is small).
 *
 *   Stores: C is never pre-filled nor post-processed in a pass of its
 *   own. The first K block's micro-kernel stores bias + its sums, later
 *   blocks add theirs to C, and the last block applies the epilogue to
 *   the tile while it is still in registers (see gemm_out).
 *
 *   Summation order: every C element is bias (0 if none) plus, per K
 *   block in increasing k0, the FMA chain over that block's kc terms (in
 *   k order, from zero), added in that order; the epilogue is the
 *   batch_norm op's multiply then add (if any), and the activation
 *   kernel's arithmetic (fx__v_bn_act, fx__v_act). So results depend on
 *   KC only, not on the N/M blocking, the batch or the thread count; the
 *   fused conv2d_bn equals conv2d -> batch_norm -> activation, and linear
 *   with an act linear -> activation, bit for bit.
 *
 * conv2d: per group, B = im2col(x) (or the x planes themselves for a
 * 1x1 / stride 1 / no padding conv) of every image, packed directly into
 * panels, A = the group's weights (OC/G x C/G*KH*KW), C = the output
 * planes (OC/G x N*OH*OW), bias per row. linear: A = x (rows x IN),
 * B = w^T, C = y, bias per column. mlp (linear -> act -> linear): per
 * block of rows, transposed, A = the weights and B = the rows (see
 * mlp_block); the same arithmetic per element as two linear calls.
 *
 * Work split (ith, nth): by 16-column panels of the output (all images
 * together, so a batch of small planes splits evenly); each thread packs
 * and computes only its own panels, in its own workspace slot, so
 * threads share nothing. A conv with too few panels to share evenly is
 * split by output channels instead (split_work).
 */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "kernels/activation_avx2.h"
#include "kernels/transpose_avx2.h"
#include "ops/ops.h"

#define MR 6
#define NR FX__GEMM_NR
#define KC FX__GEMM_KC
#define MC 72
#define NB FX__GEMM_NB
#define SHORT_K 64 /* K blocks up to this long: tiles by rows first */

/* Runs of columns of one 16-column panel that stay within one image:
 * GEMM column j is pixel q = j % hw of image j / hw (hw = N for a plain
 * matrix), so a panel splits into at most NR runs, usually one. row/col:
 * q's output row and column when the image is ow wide. */
typedef struct col_runs {
    int n;                /* runs */
    int nr;               /* columns that exist (< NR: the last panel) */
    int off[NR], len[NR]; /* the run's first column in the panel, count */
    int64_t img[NR], q[NR], row[NR], col[NR];
} col_runs;

static void
panel_runs(int64_t p, int64_t n, int64_t hw, int64_t ow, col_runs *r)
{
    const int64_t j0 = p * NR, end = j0 + NR < n ? j0 + NR : n;
    int64_t j = j0;

    r->n = 0;
    r->nr = (int)(end - j0);
    while (j < end) {
        const int64_t q = j % hw;
        const int64_t len = hw - q < end - j ? hw - q : end - j;

        r->off[r->n] = (int)(j - j0);
        r->len[r->n] = (int)len;
        r->img[r->n] = j / hw;
        r->q[r->n] = q;
        r->row[r->n] = q / ow;
        r->col[r->n] = q % ow;
        r->n++;
        j += len;
    }
}

/* Optional epilogue: C[i, j] = act(C[i, j] * alpha[i] + beta[i]), or
 * act(C[i, j]) if alpha is NULL; act an fx_act. */
typedef struct gemm_epilogue {
    const float *alpha, *beta;
    int64_t act;
} gemm_epilogue;

/* Where C lives and what its stores do. C(i, j) is at
 * c + (j / hw) * img + i * ldc + j % hw. The first K block stores
 * bias + (its sum), bias = row_bias[i] or col_bias[j] (at most one is
 * non-NULL) or 0; each later block adds its sum to C; the last block then
 * applies the epilogue (if epi is non-NULL) to the tile before storing
 * it, so C is written once per K block and never re-read afterwards. */
typedef struct gemm_out {
    float *c;
    int64_t ldc, hw, img;
    const float *row_bias, *col_bias;
    const gemm_epilogue *epi;
} gemm_out;

/* One micro-tile's destination: rows [i, i + mr) of a panel (runs r)
 * whose first column is j0, in K block first/last or neither. */
typedef struct tile_dst {
    const gemm_out *o;
    const col_runs *r;
    int64_t i, j0;
    int first, last;
} tile_dst;

/* Address of C(i, first column of run s). */
FX_INLINE float *
run_c(const gemm_out *o, const col_runs *r, int s, int64_t i)
{
    return o->c + r->img[s] * o->img + i * o->ldc + r->q[s];
}

/* The first K block's start for row t->i + row of a whole panel: the
 * column biases of its 16 columns, or the row's bias, or 0. */
FX_INLINE void
first_prev(const tile_dst *t, int row, __m256 *p0, __m256 *p1)
{
    const gemm_out *o = t->o;

    if (o->col_bias != NULL) {
        *p0 = _mm256_loadu_ps(o->col_bias + t->j0);
        *p1 = _mm256_loadu_ps(o->col_bias + t->j0 + 8);
    } else {
        *p0 = _mm256_set1_ps(o->row_bias != NULL ? o->row_bias[t->i + row]
                                                 : 0.0f);
        *p1 = *p0;
    }
}

/* The epilogue of one row's vector v (row i of C). */
FX_INLINE __m256
epi_vec(const int64_t act, const gemm_epilogue *e, int64_t i, __m256 v)
{
    if (e->alpha == NULL) {
        return fx__v_act(act, v);
    }
    return fx__v_bn_act(act, v, _mm256_set1_ps(e->alpha[i]),
                        _mm256_set1_ps(e->beta[i]));
}

/* The stores of a panel cut into runs or by the right edge (in any K
 * block, the last one with its epilogue). Each row's 16 previous values
 * (or biases) are gathered into v, combined with the row's sums
 * acc[row*16 ..] by the same vector operations as the other stores
 * (lanes past the panel's columns are zero and are not written back),
 * then scattered. act: the epilogue's activation, a constant where this
 * is inlined (see tile_store). */
FX_INLINE void
tile_store_act(const int64_t act, const float *acc, int mr,
               const tile_dst *t)
{
    const gemm_out *o = t->o;
    const col_runs *r = t->r;
    int row, s;

    for (row = 0; row < mr; row++) {
        const int64_t i = t->i + row;
        float v[NR];
        __m256 v0, v1;

        memset(v, 0, sizeof(v));
        if (t->first) {
            if (o->col_bias != NULL) {
                memcpy(v, o->col_bias + t->j0,
                       (size_t)r->nr * sizeof(float));
            } else if (o->row_bias != NULL) {
                for (s = 0; s < NR; s++) {
                    v[s] = o->row_bias[i];
                }
            }
        } else {
            for (s = 0; s < r->n; s++) {
                memcpy(v + r->off[s], run_c(o, r, s, i),
                       (size_t)r->len[s] * sizeof(float));
            }
        }
        v0 = _mm256_add_ps(_mm256_loadu_ps(v),
                           _mm256_loadu_ps(acc + row * NR));
        v1 = _mm256_add_ps(_mm256_loadu_ps(v + 8),
                           _mm256_loadu_ps(acc + row * NR + 8));
        if (t->last && o->epi != NULL) {
            v0 = epi_vec(act, o->epi, i, v0);
            v1 = epi_vec(act, o->epi, i, v1);
        }
        _mm256_storeu_ps(v, v0);
        _mm256_storeu_ps(v + 8, v1);
        for (s = 0; s < r->n; s++) {
            memcpy(run_c(o, r, s, i), v + r->off[s],
                   (size_t)r->len[s] * sizeof(float));
        }
    }
}

/* tile_store_act with the activation (if this block applies it) switched
 * once per tile, as tile_store_epi does. */
static void
tile_store(const float *acc, int mr, const tile_dst *t)
{
    switch (t->last && t->o->epi != NULL ? t->o->epi->act : FX_ACT_NONE) {
    case FX_ACT_RELU:
        tile_store_act(FX_ACT_RELU, acc, mr, t);
        break;
    case FX_ACT_RELU6:
        tile_store_act(FX_ACT_RELU6, acc, mr, t);
        break;
    case FX_ACT_HARDSWISH:
        tile_store_act(FX_ACT_HARDSWISH, acc, mr, t);
        break;
    case FX_ACT_SILU:
        tile_store_act(FX_ACT_SILU, acc, mr, t);
        break;
    case FX_ACT_GELU:
        tile_store_act(FX_ACT_GELU, acc, mr, t);
        break;
    default:
        tile_store_act(FX_ACT_NONE, acc, mr, t);
        break;
    }
}

/* Rows of a whole panel in the last K block, with the epilogue:
 * C = epilogue(prev + acc), prev = C or (first block) first_prev; act a
 * constant where this is inlined (see tile_store_epi). */
FX_INLINE void
tile_rows_epi(const int64_t act, const float *acc, int mr, const tile_dst *t)
{
    const gemm_out *o = t->o;
    float *c = run_c(o, t->r, 0, t->i);
    int row;

    for (row = 0; row < mr; row++) {
        float *ci = c + row * o->ldc;
        __m256 p0, p1;

        if (t->first) {
            first_prev(t, row, &p0, &p1);
        } else {
            p0 = _mm256_loadu_ps(ci);
            p1 = _mm256_loadu_ps(ci + 8);
        }
        p0 = _mm256_add_ps(p0, _mm256_loadu_ps(acc + row * NR));
        p1 = _mm256_add_ps(p1, _mm256_loadu_ps(acc + row * NR + 8));
        _mm256_storeu_ps(ci, epi_vec(act, o->epi, t->i + row, p0));
        _mm256_storeu_ps(ci + 8, epi_vec(act, o->epi, t->i + row, p1));
    }
}

/* tile_rows_epi with the activation switched once per tile. */
static void
tile_store_epi(const float *acc, int mr, const tile_dst *t)
{
    switch (t->o->epi->act) {
    case FX_ACT_RELU:
        tile_rows_epi(FX_ACT_RELU, acc, mr, t);
        break;
    case FX_ACT_RELU6:
        tile_rows_epi(FX_ACT_RELU6, acc, mr, t);
        break;
    case FX_ACT_GELU: /* ConvNeXt's MLP: every tile of its first linear */
        tile_rows_epi(FX_ACT_GELU, acc, mr, t);
        break;
    case FX_ACT_SILU: /* EfficientNet's expansions: x2 the time with the
                       * switch per vector */
        tile_rows_epi(FX_ACT_SILU, acc, mr, t);
        break;
    case FX_ACT_HARDSWISH: /* MobileNetV3's */
        tile_rows_epi(FX_ACT_HARDSWISH, acc, mr, t);
        break;
    default:
        tile_rows_epi(FX_ACT_NONE, acc, mr, t);
        break;
    }
}

/* C[i:i+mr, panel] (see tile_dst) gets A[0:mr, 0:kc] * Bpanel[0:kc, 0:16],
 * 1 <= mr <= 6. Twelve named accumulators (an array made gcc spill them).
 * Inlined with a constant mr (see ukernel), so rows past mr cost nothing.
 * The common store (a whole panel in one image, no epilogue in this
 * block) is done here from the registers, a whole panel's with the
 * epilogue by tile_store_epi, the others by tile_store. */
FX_INLINE void
ukernel_mr(const int mr, const int half, int64_t kc,
           const float *FX_RESTRICT a, int64_t lda,
           const float *FX_RESTRICT b, const tile_dst *t)
{
    const gemm_out *o = t->o;
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
    int i;

    for (k = 0; k < kc; k++) {
        const __m256 b0 = _mm256_load_ps(b);
        const __m256 b1 = half ? b0 : _mm256_load_ps(b + 8);
        __m256 av;

        b += NR;
        av = _mm256_broadcast_ss(a0 + k);
        c00 = _mm256_fmadd_ps(av, b0, c00);
        if (!half) {
            c01 = _mm256_fmadd_ps(av, b1, c01);
        }
        if (mr > 1) {
            av = _mm256_broadcast_ss(a1 + k);
            c10 = _mm256_fmadd_ps(av, b0, c10);
            if (!half) {
            c11 = _mm256_fmadd_ps(av, b1, c11);
        }
        }
        if (mr > 2) {
            av = _mm256_broadcast_ss(a2 + k);
            c20 = _mm256_fmadd_ps(av, b0, c20);
            if (!half) {
            c21 = _mm256_fmadd_ps(av, b1, c21);
        }
        }
        if (mr > 3) {
            av = _mm256_broadcast_ss(a3 + k);
            c30 = _mm256_fmadd_ps(av, b0, c30);
            if (!half) {
            c31 = _mm256_fmadd_ps(av, b1, c31);
        }
        }
        if (mr > 4) {
            av = _mm256_broadcast_ss(a4 + k);
            c40 = _mm256_fmadd_ps(av, b0, c40);
            if (!half) {
            c41 = _mm256_fmadd_ps(av, b1, c41);
        }
        }
        if (mr > 5) {
            av = _mm256_broadcast_ss(a5 + k);
            c50 = _mm256_fmadd_ps(av, b0, c50);
            if (!half) {
            c51 = _mm256_fmadd_ps(av, b1, c51);
        }
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
    if (t->r->n == 1 && t->r->nr == NR && !(t->last && o->epi != NULL)) {
        float *c = run_c(o, t->r, 0, t->i);

        for (i = 0; i < mr; i++) {
            float *ci = c + i * o->ldc;
            __m256 p0, p1;

            if (t->first) {
                first_prev(t, i, &p0, &p1);
            } else {
                p0 = _mm256_loadu_ps(ci);
                p1 = _mm256_loadu_ps(ci + 8);
            }
            _mm256_storeu_ps(ci, _mm256_add_ps(p0, acc[i][0]));
            _mm256_storeu_ps(ci + 8, _mm256_add_ps(p1, acc[i][1]));
        }
    } else {
        float spill[MR * NR];

        for (i = 0; i < mr; i++) {
            _mm256_storeu_ps(spill + i * NR, acc[i][0]);
            _mm256_storeu_ps(spill + i * NR + 8, acc[i][1]);
        }
        if (t->r->n == 1 && t->r->nr == NR) {
            tile_store_epi(spill, mr, t);
        } else {
            tile_store(spill, mr, t);
        }
    }
}

/* ukernel_mr with constant mr and half = (the panel has at most 8 real
 * columns: e.g. the last panel of a 7x7 plane, 49 = 3*16 + 1), so that
 * such a panel costs half the FMAs. */
static void
ukernel(int mr, int nr, int64_t kc, const float *FX_RESTRICT a, int64_t lda,
        const float *FX_RESTRICT b, const tile_dst *t)
{
#define FX_UKERNEL_CASE(m)                                                \
    case m:                                                               \
        if (nr <= 8) {                                                    \
            ukernel_mr(m, 1, kc, a, lda, b, t);                           \
        } else {                                                          \
            ukernel_mr(m, 0, kc, a, lda, b, t);                           \
        }                                                                 \
        break;
    switch (mr) {
    FX_UKERNEL_CASE(1)
    FX_UKERNEL_CASE(2)
    FX_UKERNEL_CASE(3)
    FX_UKERNEL_CASE(4)
    FX_UKERNEL_CASE(5)
    default:
        FX_UKERNEL_CASE(6)
    }
#undef FX_UKERNEL_CASE
}

/* Rows [i, i + 8) of a panel with one real column (t->r->nr == 1), whose
 * sums are the lanes of acc: stored as tile_store stores them, lane by
 * lane the same arithmetic. */
static void
column_store(__m256 acc, int64_t i, const tile_dst *t)
{
    const gemm_out *o = t->o;
    float *c = run_c(o, t->r, 0, i);
    float v[8];
    __m256 p;
    int u;

    if (!t->first) {
        for (u = 0; u < 8; u++) {
            v[u] = c[u * o->ldc];
        }
        p = _mm256_loadu_ps(v);
    } else if (o->col_bias != NULL) {
        p = _mm256_set1_ps(o->col_bias[t->j0]);
    } else if (o->row_bias != NULL) {
        p = _mm256_loadu_ps(o->row_bias + i);
    } else {
        p = _mm256_setzero_ps();
    }
    p = _mm256_add_ps(p, acc);
    if (t->last && o->epi != NULL) {
        const gemm_epilogue *e = o->epi;

        p = e->alpha == NULL
                ? fx__v_act(e->act, p)
                : fx__v_bn_act(e->act, p, _mm256_loadu_ps(e->alpha + i),
                               _mm256_loadu_ps(e->beta + i));
    }
    _mm256_storeu_ps(v, p);
    for (u = 0; u < 8; u++) {
        c[u * o->ldc] = v[u];
    }
}

/* acc += the 8 x 8 block of A at a (rows a + u*lda, 8 columns from
 * there) transposed, times B's 8 values from b (stride NR): 8 FMAs, in k
 * order. */
FX_INLINE __m256
column_block(__m256 acc, const float *a, int64_t lda, const float *b)
{
    __m256 r[8];
    int u;

    for (u = 0; u < 8; u++) {
        r[u] = _mm256_loadu_ps(a + u * lda);
    }
    fx__transpose8_regs(r);
    for (u = 0; u < 8; u++) {
        acc = _mm256_fmadd_ps(r[u], _mm256_broadcast_ss(b + u * NR), acc);
    }
    return acc;
}

/* A panel with one real column: the last one of a 7x7 plane at batch 1
 * (49 = 3*16 + 1) or a 1x1 plane (squeeze-and-excitation convs), where
 * ukernel_mr would spend 8 lanes and a 4-cycle FMA latency per row on
 * one value. Here rows [t->i, t->i + 8g) of C are the lanes of g
 * accumulators instead, from 8 x 8 blocks of A transposed in registers:
 * lane by lane the same FMA chain as ukernel_mr's (A(i, k) * B(k, j) in k
 * order from zero), so results do not depend on which kernel ran. The
 * two halves of each 16-float line of A are used one after the other
 * (with lda a multiple of 1 KiB, the rows' lines share a few L1 sets, so
 * a line would not survive until a later pass). g = 1 or 2 (see
 * column_rows). */
FX_INLINE void
column_tile(const int g, int64_t kc, const float *FX_RESTRICT a,
            int64_t lda, const float *FX_RESTRICT b, const tile_dst *t)
{
    __m256 acc[2];
    int64_t k;
    int q, u;

    for (q = 0; q < g; q++) {
        acc[q] = _mm256_setzero_ps();
    }
    for (k = 0; k + 16 <= kc; k += 16) {
        for (q = 0; q < g; q++) {
            acc[q] = column_block(acc[q], a + q * 8 * lda + k, lda,
                                  b + k * NR);
            acc[q] = column_block(acc[q], a + q * 8 * lda + k + 8, lda,
                                  b + (k + 8) * NR);
        }
    }
    if (k + 8 <= kc) {
        for (q = 0; q < g; q++) {
            acc[q] = column_block(acc[q], a + q * 8 * lda + k, lda,
                                  b + k * NR);
        }
        k += 8;
    }
    for (; k < kc; k++) {
        for (q = 0; q < g; q++) {
            float col[8];

            for (u = 0; u < 8; u++) {
                col[u] = a[(q * 8 + u) * lda + k];
            }
            acc[q] = _mm256_fmadd_ps(_mm256_loadu_ps(col),
                                     _mm256_broadcast_ss(b + k * NR), acc[q]);
        }
    }
    for (q = 0; q < g; q++) {
        column_store(acc[q], t->i + q * 8, t);
    }
}

/* Rows [i0, ie) of a one-column panel (B panel b, A rows at a + i*lda)
 * 16 at a time (two accumulators hide the FMA latency; four lost more
 * to L1 set conflicts at lda = 2048 than they gained), then 8; returns
 * the first row left (fewer than 8, for ukernel_mr). */
static int64_t
column_rows(int64_t i0, int64_t ie, int64_t kc, const float *a, int64_t lda,
            const float *b, tile_dst *t)
{
    int64_t i = i0;

    for (; ie - i >= 16; i += 16) {
        t->i = i;
        column_tile(2, kc, a + i * lda, lda, b, t);
    }
    if (ie - i >= 8) {
        t->i = i;
        column_tile(1, kc, a + i * lda, lda, b, t);
        i += 8;
    }
    return i;
}

/* Where B comes from: one of the three packers. Column j of B belongs to
 * image j / hw, whose source starts img floats after the previous one's
 * (see col_runs). */
typedef struct conv_geom {
    int64_t h, w, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw;
    uintptr_t x_begin, x_end; /* the input's bytes (im2col's loads) */
} conv_geom;

typedef struct bsource {
    int kind; /* BSRC_ROWS, BSRC_COLS, BSRC_IM2COL */
    const float *src;
    int64_t ld, img;
    const conv_geom *geom;
} bsource;

enum { BSRC_ROWS, BSRC_COLS, BSRC_IM2COL };

static void pack_block(const bsource *bs, const col_runs *runs, int64_t n,
                       int64_t k0, int64_t kc, float *blk, int64_t p0,
                       int64_t p1);

/* The depthwise path's epilogue over columns [j0, j1) of an m-row C,
 * C[i, j] = act(C[i, j] * alpha[i] + beta[i]), once C is complete. */
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

/* The height of the next tile when rows are left: the block's rows are
 * shared evenly among ceil(rows / MR) tiles (49 = 5*5 + 4*6, not
 * 8*6 + 1), since a tile of 1 to 3 rows has too few independent FMA
 * chains to hide their latency and takes about as long as one of 4. */
FX_INLINE int
tile_rows(int64_t rows)
{
    return (int)(rows / ((rows + MR - 1) / MR));
}

/* One packed K block times A: C[0:m, panels pb..pe) gets A[0:m, 0:kc] *
 * the block (kc rows; panel p at blk + (p - pb)*kc*NR, its columns
 * runs[p - pb]), as K block t->first / t->last of the GEMM (see
 * gemm_out). a: A's first element of the block (row stride lda). M
 * blocks of MC rows (A block in L2), panels (B micro-panel in L1),
 * tiles; for a block of at most SHORT_K rows, tiles then panels. */
static void
gemm_block(int64_t m, int64_t kc, const float *a, int64_t lda,
           const float *blk, const col_runs *runs, int64_t pb, int64_t pe,
           tile_dst *t)
{
    int64_t i0, p, i;
    int mr;

    for (i0 = 0; i0 < m; i0 += MC) {
        const int64_t ie = i0 + MC < m ? i0 + MC : m;

        for (p = pb; p < pe; p++) {
            const float *b = blk + (p - pb) * kc * NR;

            t->r = &runs[p - pb];
            t->j0 = p * NR;
            i = i0;
            if (t->r->nr == 1) {
                i = column_rows(i0, ie, kc, a, lda, b, t);
            } else if (kc <= SHORT_K) {
                continue; /* below, by rows */
            }
            for (; i < ie; i += mr) {
                mr = tile_rows(ie - i);
                t->i = i;
                ukernel(mr, t->r->nr, kc, a + i * lda, lda, b, t);
            }
        }
        /* short K: each tile of rows over all the block's panels in
         * turn, so that its stores run along its rows (the stores of all
         * rows to one panel's columns, one line per row, left each store
         * waiting for its line) */
        for (i = i0; i < ie && kc <= SHORT_K; i += mr) {
            mr = tile_rows(ie - i);
            t->i = i;
            for (p = pb; p < pe; p++) {
                t->r = &runs[p - pb];
                t->j0 = p * NR;
                if (t->r->nr != 1) {
                    ukernel(mr, t->r->nr, kc, a + i * lda, lda,
                            blk + (p - pb) * kc * NR, t);
                }
            }
        }
    }
}

/* C = bias + A * B over the panels [p0, p1) of the n columns, then the
 * epilogue (see gemm_out). Each (panel block, K block) of B is packed into
 * bp, the calling thread's slot, just before it is used, so it is still
 * in L2 for the micro-kernels. K = 0 is one empty block (bias and
 * epilogue only). */
static void
gemm_panels(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
            const bsource *bs, float *bp, const gemm_out *out, int64_t p0,
            int64_t p1)
{
    const int64_t ow = bs->geom != NULL ? bs->geom->ow : out->hw;
    col_runs runs[NB];
    tile_dst t;
    int64_t pb, k0, p;

    t.o = out;
    for (pb = p0; pb < p1; pb += NB) {
        const int64_t pe = pb + NB < p1 ? pb + NB : p1;

        for (p = pb; p < pe; p++) {
            panel_runs(p, n, out->hw, ow, &runs[p - pb]);
        }
        for (k0 = 0;; k0 += KC) {
            const int64_t kc = k - k0 < KC ? k - k0 : KC;

            if (kc > 0) {
                pack_block(bs, runs, n, k0, kc, bp, pb, pe);
            }
            t.first = k0 == 0;
            t.last = k0 + kc >= k;
            gemm_block(m, kc, a + k0, lda, bp, runs, pb, pe, &t);
            if (t.last) {
                break;
            }
        }
    }
}

/* ---- B packing ------------------------------------------------------ */

/* Each packer fills K block [k0, k0 + kc) of panels [p0, p1) into blk,
 * panel p at blk + (p - p0)*kc*NR (runs[p - p0]: its columns). */

/* B(k, j) = src[(j / hw) * img + k * ld + j % hw]. The loop over the
 * panels of a row of B is kept tight (this copy is bound by memory, and
 * the fewer instructions per cache line, the more misses the core keeps
 * in flight): whole panels inside one image are one vector pair each at
 * a precomputed offset; the others copy their runs. A block with a
 * partial panel (the last of a 14x14 plane: 4 columns) still copies its
 * whole panels by vector pairs: run by run they cost as much as a
 * sixth more panels (1x1 conv, 832 -> 128 channels on 14x14). */
static void
pack_b_rows(const bsource *bs, const col_runs *runs, int64_t k0,
            int64_t kc, float *blk, int64_t p0, int64_t p1)
{
    int64_t off[NB];
    int64_t kk, p;
    int s, whole = 1;

    for (p = p0; p < p1; p++) {
        const col_runs *r = &runs[p - p0];

        off[p - p0] = r->img[0] * bs->img + r->q[0];
        whole = whole && r->n == 1 && r->nr == NR;
    }
    for (kk = 0; kk < kc; kk++) {
        const float *row = bs->src + (k0 + kk) * bs->ld;
        float *d = blk + kk * NR;

        if (whole) {
            for (p = 0; p < p1 - p0; p++) {
                _mm256_store_ps(d, _mm256_loadu_ps(row + off[p]));
                _mm256_store_ps(d + 8, _mm256_loadu_ps(row + off[p] + 8));
                d += kc * NR;
            }
            continue;
        }
        for (p = p0; p < p1; p++) {
            const col_runs *r = &runs[p - p0];

            if (r->n == 1 && r->nr == NR) { /* a whole one, as above */
                _mm256_store_ps(d, _mm256_loadu_ps(row + off[p - p0]));
                _mm256_store_ps(d + 8,
                                _mm256_loadu_ps(row + off[p - p0] + 8));
                d += kc * NR;
                continue;
            }
            for (s = 0; s < r->n; s++) {
                memcpy(d + r->off[s], row + r->img[s] * bs->img + r->q[s],
                       (size_t)r->len[s] * sizeof(float));
            }
            memset(d + r->nr, 0, (size_t)(NR - r->nr) * sizeof(float));
            d += kc * NR;
        }
    }
}

/* B(k, j) = src[j * ld + k] (a transposed source, e.g. linear weights):
 * 8 x 8 blocks transposed in registers, the edges element by element. */
static void
pack_b_cols(const float *src, int64_t ld, int64_t n, int64_t k0, int64_t kc,
            float *blk, int64_t p0, int64_t p1)
{
    int64_t kk, p, jj;

    for (p = p0; p < p1; p++) {
        float *d = blk + (p - p0) * kc * NR;
        const int64_t cols = n - p * NR < NR ? n - p * NR : NR;
        const int64_t kc8 = kc & ~(int64_t)7;

        for (jj = 0; jj + 8 <= cols; jj += 8) {
            const float *s = src + (p * NR + jj) * ld + k0;

            for (kk = 0; kk < kc8; kk += 8) {
                fx__transpose8(s + kk, ld, d + kk * NR + jj, NR);
            }
        }
        for (jj = 0; jj < cols; jj++) {
            const float *col = src + (p * NR + jj) * ld + k0;

            for (kk = jj < (cols & ~(int64_t)7) ? kc8 : 0; kk < kc; kk++) {
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

/* A piece of one panel that lies in one output row: panel lanes
 * [lane, lane + cnt) are output pixels (row, col) .. (row, col + cnt - 1)
 * of the image whose input starts img floats into the source. */
typedef struct im2col_seg {
    int lane, cnt;
    int64_t img, row, col;
} im2col_seg;

/* The segments of the np panels of runs (output rows ow wide, images img
 * floats apart): panel p's are seg[first[p]] .. seg[first[p + 1] - 1], in
 * lane order. A panel has at most NR of them. */
static void
im2col_segments(const col_runs *runs, int64_t np, int64_t ow, int64_t img,
                im2col_seg *seg, int *first)
{
    int64_t p;
    int s, n = 0;

    for (p = 0; p < np; p++) {
        const col_runs *r = &runs[p];

        first[p] = n;
        for (s = 0; s < r->n; s++) {
            int64_t row = r->row[s], col = r->col[s];
            int lane = r->off[s], left = r->len[s];

            while (left > 0) {
                const int cnt = ow - col < left ? (int)(ow - col) : left;

                seg[n++] = (im2col_seg){lane, cnt, r->img[s] * img, row, col};
                lane += cnt;
                left -= cnt;
                col = 0;
                row++;
            }
        }
    }
    first[np] = n;
}

/* The lanes t in [0, cnt) whose input column x0 + t*s lies in [0, w):
 * [*lo, *hi), empty when lo == hi. Inlined with a constant s of 1 or 2,
 * so that the divisions are shifts. */
FX_INLINE void
valid_cols(int64_t x0, int64_t w, int64_t s, int64_t cnt, int64_t *lo,
           int64_t *hi)
{
    int64_t a = x0 >= 0 ? 0 : (-x0 + s - 1) / s;
    int64_t b = x0 >= w ? 0 : (w - 1 - x0) / s + 1;

    b = b < cnt ? b : cnt;
    *lo = a < b ? a : b;
    *hi = b;
}

/* All-ones in the lanes whose index (in idx) is in [a, b), 0 <= a <= b <= NR;
 * zero elsewhere. */
FX_INLINE __m256i
lanes_in(__m256i idx, int64_t a, int64_t b)
{
    return _mm256_andnot_si256(
        _mm256_cmpgt_epi32(_mm256_set1_epi32((int)a), idx),
        _mm256_cmpgt_epi32(_mm256_set1_epi32((int)b), idx));
}

/* The 8 floats at p in the lanes of mask (all-ones or zero each), zero
 * in the others. inside: all 8 lie in the input (a plain load, then the
 * mask, is faster); else a masked load, which never touches the lanes
 * left out, so it may start before the input or end past it. */
FX_INLINE __m256
load_lanes(const float *p, __m256i mask, int inside)
{
    return inside ? _mm256_and_ps(_mm256_loadu_ps(p),
                                  _mm256_castsi256_ps(mask))
                  : _mm256_maskload_ps(p, mask);
}

/* The even elements of v0 then v1, in order. */
FX_INLINE __m256
even_lanes(__m256 v0, __m256 v1)
{
    /* shuffle_ps takes elements 0, 2 of each 128-bit half of v0 and v1;
     * permute4x64 puts the four pairs in order */
    return _mm256_castpd_ps(_mm256_permute4x64_pd(
        _mm256_castps_pd(_mm256_shuffle_ps(v0, v1, _MM_SHUFFLE(2, 0, 2, 0))),
        _MM_SHUFFLE(3, 1, 2, 0)));
}

/* One 16-float row of a panel of the implicit im2col matrix: the tap
 * whose input row is output row * SH + yoff and column output column * S
 * + xoff, of the channel plane xc, over the panel's ns segments; zero
 * where the tap falls in the padding and past the panel's columns. S is
 * the column stride, 1 or 2 (a constant where this is inlined). Each
 * segment is two loads (S = 2: four, then deinterleaved) of the lanes in
 * its valid range, from the address where lane 0 would be (see
 * load_lanes: the lanes outside are zero, so the loads may reach past
 * the input row or before it). The lanes of the segments are disjoint and
 * OR-ed together, then stored as two whole vectors. */
FX_INLINE void
im2col_row_vec(const int64_t S, const float *xc, const conv_geom *g,
               int64_t yoff, int64_t xoff, const im2col_seg *seg, int ns,
               float *d)
{
    const __m256i idx0 = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i idx1 = _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15);
    /* S = 2: the lane of each element of the source's 32 (odd ones: -1,
     * outside every range, so never loaded) */
    const __m256i h0 = _mm256_setr_epi32(0, -1, 1, -1, 2, -1, 3, -1);
    const __m256i h1 = _mm256_setr_epi32(4, -1, 5, -1, 6, -1, 7, -1);
    const __m256i h2 = _mm256_setr_epi32(8, -1, 9, -1, 10, -1, 11, -1);
    const __m256i h3 = _mm256_setr_epi32(12, -1, 13, -1, 14, -1, 15, -1);
    __m256 r0 = _mm256_setzero_ps(), r1 = _mm256_setzero_ps();
    int q;

    for (q = 0; q < ns; q++) {
        const im2col_seg *sg = &seg[q];
        const int64_t yi = sg->row * g->sh + yoff;
        const int64_t x0 = sg->col * S + xoff;
        int64_t lo, hi, a, b;
        const float *src;
        int inside;

        if (yi < 0 || yi >= g->h) {
            continue;
        }
        valid_cols(x0, g->w, S, sg->cnt, &lo, &hi);
        a = sg->lane + lo;
        b = sg->lane + hi;
        /* lane L reads src[L * S] */
        src = xc + sg->img + yi * g->w + x0 - sg->lane * S;
        inside = (uintptr_t)src >= g->x_begin
                 && (uintptr_t)src + (uintptr_t)(16 * S) * sizeof(float)
                        <= g->x_end;
        if (S == 1) {
            r0 = _mm256_or_ps(r0, load_lanes(src, lanes_in(idx0, a, b),
                                             inside));
            r1 = _mm256_or_ps(r1, load_lanes(src + 8, lanes_in(idx1, a, b),
                                             inside));
        } else {
            r0 = _mm256_or_ps(
                r0, even_lanes(load_lanes(src, lanes_in(h0, a, b), inside),
                               load_lanes(src + 8, lanes_in(h1, a, b),
                                          inside)));
            r1 = _mm256_or_ps(
                r1, even_lanes(
                        load_lanes(src + 16, lanes_in(h2, a, b), inside),
                        load_lanes(src + 24, lanes_in(h3, a, b), inside)));
        }
    }
    _mm256_store_ps(d, r0);
    _mm256_store_ps(d + 8, r1);
}

/* im2col_row_vec for any column stride, element by element. */
static void
im2col_row_any(const float *xc, const conv_geom *g, int64_t yoff,
               int64_t xoff, const im2col_seg *seg, int ns, float *d)
{
    int64_t lo, hi, t;
    int q;

    memset(d, 0, NR * sizeof(float));
    for (q = 0; q < ns; q++) {
        const im2col_seg *sg = &seg[q];
        const int64_t yi = sg->row * g->sh + yoff;
        const int64_t x0 = sg->col * g->sw + xoff;
        const float *x = xc + sg->img + yi * g->w + x0;

        if (yi < 0 || yi >= g->h) {
            continue;
        }
        valid_cols(x0, g->w, g->sw, sg->cnt, &lo, &hi);
        for (t = lo; t < hi; t++) {
            d[sg->lane + t] = x[t * g->sw];
        }
    }
}

/* B = im2col(x) for C/G channels of every image:
 * B((c*KH + u)*KW + v, j), column j as in col_runs. The panels' segments
 * (their pieces in one output row) are found once per block; (c, u, v)
 * advance with kk. */
static void
pack_b_im2col(const bsource *bs, const col_runs *runs, int64_t k0,
              int64_t kc, float *blk, int64_t p0, int64_t p1)
{
    const conv_geom *g = bs->geom;
    int64_t kk, p, v = k0 % g->kw, u = (k0 / g->kw) % g->kh;
    int64_t c = k0 / (g->kw * g->kh);
    im2col_seg seg[NB * NR];
    int first[NB + 1];

    im2col_segments(runs, p1 - p0, g->ow, bs->img, seg, first);
    for (kk = 0; kk < kc; kk++) {
        const float *xc = bs->src + c * g->h * g->w;
        const int64_t yoff = u * g->dh - g->ph, xoff = v * g->dw - g->pw;

        for (p = 0; p < p1 - p0; p++) {
            const im2col_seg *s = seg + first[p];
            const int ns = first[p + 1] - first[p];
            float *d = blk + p * kc * NR + kk * NR;

            if (g->sw == 1) {
                im2col_row_vec(1, xc, g, yoff, xoff, s, ns, d);
            } else if (g->sw == 2) {
                im2col_row_vec(2, xc, g, yoff, xoff, s, ns, d);
            } else {
                im2col_row_any(xc, g, yoff, xoff, s, ns, d);
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
pack_block(const bsource *bs, const col_runs *runs, int64_t n, int64_t k0,
           int64_t kc, float *blk, int64_t p0, int64_t p1)
{
    switch (bs->kind) {
    case BSRC_ROWS:
        pack_b_rows(bs, runs, k0, kc, blk, p0, p1);
        break;
    case BSRC_COLS:
        pack_b_cols(bs->src, bs->ld, n, k0, kc, blk, p0, p1);
        break;
    default:
        pack_b_im2col(bs, runs, k0, kc, blk, p0, p1);
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

/* Inputs below this magnitude rarely overflow Winograd's transforms,
 * which scale a tile by up to 100 (input) and 361 (output) around the
 * channel sum (with weights below 2^48 too, 1024 channels stay under
 * 2^122, far from float's 2^128), so few tiles need recomputing. */
#define WINO_ABS_MAX 0x1p48f

/* 1 if each of the n floats at p is below limit in magnitude (so none is
 * inf or NaN: a NaN compares false). One read of the array, negligible
 * next to the convolution that follows. */
static int
all_below(const float *p, int64_t n, float limit)
{
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 lim = _mm256_set1_ps(limit);
    __m256 ok = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
    int64_t i;

    for (i = 0; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_and_ps(_mm256_loadu_ps(p + i), abs_mask);

        ok = _mm256_and_ps(ok, _mm256_cmp_ps(v, lim, _CMP_LT_OQ));
    }
    for (; i < n; i++) {
        if (!(p[i] < limit && p[i] > -limit)) {
            return 0;
        }
    }
    return _mm256_movemask_ps(ok) == 0xff;
}

/* ---- work split ------------------------------------------------------ */

/* The micro-kernels' work on panels [p0, p1) of n columns, in columns
 * (16 a whole panel): a last panel of at most 8 columns takes the half
 * tiles (8), one of 1 column column_rows (about 2). */
static int64_t
panel_cols(int64_t n, int64_t p0, int64_t p1)
{
    const int64_t last = n - (p1 - 1) * NR;

    if (p0 >= p1) {
        return 0;
    }
    if (last >= NR) {
        return (p1 - p0) * NR;
    }
    return (p1 - p0 - 1) * NR + (last == 1 ? 2 : last <= 8 ? 8 : NR);
}

/* Packing one float of B, in multiply-adds: about half a cycle at 16 a
 * cycle (either packer). */
#define PACK_MADDS 8

/* One thread's share of a GEMM: rows [m0, m1) of panels [p0, p1). */
typedef struct work_piece {
    int64_t m0, m1, p0, p1;
} work_piece;

/*
 * Work split of C = A (m x k) * B (k x n) among nth threads, into at most
 * 3 pieces per thread (returned; 0 if the thread has none).
 *
 * By panels: the panels, each cut into groups of 8 rows, are shared as
 * a run of (panel, row group) units in panel order, so a thread takes
 * whole panels plus, where the panels do not divide evenly, some rows of
 * the panel at either end of its run (packing that panel too). A 14x14
 * plane's 13 panels then give each of 2 threads 6.5, where whole panels
 * gave one 7 (its part took 17% longer, 1x1 conv 832 -> 128; a last
 * panel of 4 columns costs about as much as a full one). Or, when the
 * panels are too few to share evenly (a 7x7 plane at batch 1 is 3 panels
 * and one of a single column: 2 panels against 1.1), by rows of C in
 * groups of 8, each thread packing every panel. The row split is taken
 * when the busiest thread's cost (multiply-adds plus packing) is 10%
 * lower with it. Results do not depend on the split (see the summation
 * order above).
 */
static int
split_work(int64_t m, int64_t n, int64_t k, int ith, int nth,
           work_piece pc[3])
{
    const int64_t np = (n + NR - 1) / NR, groups = (m + 7) / 8;
    const int64_t rows = (groups + nth - 1) / nth * 8;
    int64_t by_panels = 0, by_rows, b, e, c, pb, pe, gb, ge;
    int t, npc = 0;

    for (t = 0; t < nth; t++) {
        fx__split(np, t, nth, &b, &e);
        c = m * k * panel_cols(n, b, e) + PACK_MADDS * k * NR * (e - b);
        by_panels = c > by_panels ? c : by_panels;
    }
    by_rows = (rows < m ? rows : m) * k * panel_cols(n, 0, np)
              + PACK_MADDS * k * NR * np;
    if (nth > 1 && 10 * by_rows < 9 * by_panels) {
        fx__split(groups, ith, nth, &b, &e);
        pc[0].m0 = b * 8 < m ? b * 8 : m;
        pc[0].m1 = e * 8 < m ? e * 8 : m;
        pc[0].p0 = 0;
        pc[0].p1 = np;
        return pc[0].m0 < pc[0].m1;
    }
    /* units [b, e): panel u / groups, row group u % groups */
    fx__split(np * groups, ith, nth, &b, &e);
    if (b >= e) {
        return 0;
    }
    pb = b / groups;
    gb = b % groups;
    pe = (e - 1) / groups;
    ge = (e - 1) % groups + 1; /* row groups [0, ge) of panel pe */
    if (pb == pe) {
        pc[0] = (work_piece){gb * 8, ge * 8 < m ? ge * 8 : m, pb, pb + 1};
        return 1;
    }
    if (gb > 0) { /* the end of panel pb */
        pc[npc++] = (work_piece){gb * 8, m, pb, pb + 1};
        pb++;
    }
    if (ge < groups) { /* the start of panel pe */
        pe--;
    }
    if (pb <= pe) {
        pc[npc++] = (work_piece){0, m, pb, pe + 1};
    }
    if (ge < groups) {
        pc[npc++] = (work_piece){0, ge * 8, pe + 1, pe + 2};
    }
    return npc;
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
    gemm_out out;
    gemm_epilogue epi;
    int64_t k, n, p0, p1, b, gi;
    work_piece pc[3];
    int depthwise, npc, q;

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
    g.x_begin = (uintptr_t)x->data;
    g.x_end = (uintptr_t)(x->data + fx_tensor_numel(x));
    k = cg * g.kh * g.kw;
    n = g.oh * g.ow;
    if (fx__conv2d_winograd_ok(p, x, w, g.oh, g.ow)
        && all_below(x->data, fx_tensor_numel(x), WINO_ABS_MAX)) {
        /* 3x3 stride 1: Winograd F(4x4, 3x3), kernels/winograd_avx2.c.
         * It recomputes by the reference formula the tiles where an inf
         * or NaN (or an overflow in its transforms) would make its
         * outputs differ from the reference's non-finite pattern, so the
         * weights need no scan; an input holding inf, NaN or huge values
         * (a corrupt image: every later tile could be NaN, too many to
         * recompute one by one) takes the GEMM path, which gives the
         * reference's pattern at its own speed. */
        fx__f32_conv2d_winograd__avx2(a, ith, nth, bp, alpha, beta, act);
        return;
    }
    depthwise = cg == 1 && ocg == 1;
    if (depthwise) {
        /* a GEMM would have one row: the direct kernel
         * (kernels/dwconv2d_avx2.c), with the epilogue in its stores */
        fx__split(n_batch * oc, ith, nth, &p0, &p1);
        if (p0 < p1) { /* else nothing to zero, scan or compute */
            fx__f32_dwconv2d__avx2(
                a, p0, p1, alpha, beta, act,
                all_below(w->data, fx_tensor_numel(w), __builtin_inff()));
        }
        return;
    }
    if ((g.ph != 0 || g.pw != 0)
        && !all_below(w->data, fx_tensor_numel(w), __builtin_inff())) {
        /* an inf or NaN weight would meet im2col's padding zeros
         * (inf * 0 is NaN) where the reference skips padded taps: the
         * reference's formula computes the (n, o) planes, each followed
         * by the epilogue */
        fx__split(n_batch * oc, ith, nth, &p0, &p1);
        fx_conv2d_ref(a, ith, nth);
        epi.act = act;
        for (b = p0; b < p1 && alpha != NULL; b++) {
            epi.alpha = alpha + b % oc;
            epi.beta = beta + b % oc;
            apply_epilogue(&epi, a->out->data + b * n, 1, n, 0, n);
        }
        return;
    }
    /* the GEMM's columns are every image's output pixels, image after
     * image (see col_runs), so small planes still fill whole panels and
     * the threads' shares of a batch are even */
    npc = split_work(ocg, n_batch * n, k, ith, nth, pc);
    if (npc == 0) {
        return;
    }
    bs.kind = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0
                      && g.pw == 0
                  ? BSRC_ROWS
                  : BSRC_IM2COL;
    bs.ld = n;
    bs.img = c_in * g.h * g.w;
    bs.geom = &g;
    out.ldc = n;
    out.hw = n;
    out.img = oc * n;
    out.col_bias = NULL;
    out.epi = alpha != NULL ? &epi : NULL;
    epi.act = act;
    for (gi = 0; gi < groups; gi++) {
        bs.src = x->data + gi * cg * g.h * g.w;
        for (q = 0; q < npc; q++) {
            const int64_t o = gi * ocg + pc[q].m0; /* the piece's row 0 */

            out.c = a->out->data + o * n;
            out.row_bias = bias != NULL ? bias + o : NULL;
            epi.alpha = alpha != NULL ? alpha + o : NULL;
            epi.beta = beta != NULL ? beta + o : NULL;
            gemm_panels(pc[q].m1 - pc[q].m0, n_batch * n, k, w->data + o * k,
                        k, &bs, bp, &out, pc[q].p0, pc[q].p1);
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

/* x: (..., IN)  w: (OUT, IN)  b: (OUT)  y: (..., OUT), act in the
 * epilogue. */
void
fx_f32_linear_gemm_6x16__avx2(const fx_kargs *a, int ith, int nth)
{
    const fx_linear_params *p = a->params;
    const fx_tensor *x = &a->in[0], *w = &a->in[1];
    const float *bias = a->n_in > 2 ? a->in[2].data : NULL;
    const int64_t k = w->shape[1], n = w->shape[0];
    const int64_t m = n > 0 ? fx_tensor_numel(a->out) / n : 0;
    const int64_t npanels = (n + NR - 1) / NR;
    bsource bs;
    gemm_out out;
    gemm_epilogue epi;
    int64_t p0, p1;
    float *bp = thread_slot(a, ith);

    bs.kind = BSRC_COLS;
    bs.ld = k;
    bs.img = 0;
    bs.geom = NULL;
    epi.alpha = NULL;
    epi.beta = NULL;
    epi.act = p->act;
    out.epi = p->act != FX_ACT_NONE ? &epi : NULL;
    if (m == 1 && k % 1024 != 0) {
        /* one input row (a classifier at batch 1): y^T = w x^T, one
         * column, so w is read in place, 16 rows at a time in vector
         * lanes (column_rows), not packed transposed for a single use;
         * the same FMA chains (w[o, i] * x[i] in i order), so the same
         * bits. C(o, 0) = y[o]: ldc 1; rows split between threads. Not
         * when w's rows are a multiple of 4 KiB apart: then they share
         * one L1 set and the packed path was faster (K = 1024, 2048). */
        fx__split(n, ith, nth, &p0, &p1);
        if (p0 >= p1) {
            return;
        }
        bs.src = x->data;
        out.c = a->out->data + p0;
        out.ldc = 1;
        out.hw = 1;
        out.img = n;
        out.row_bias = bias != NULL ? bias + p0 : NULL;
        out.col_bias = NULL;
        gemm_panels(p1 - p0, 1, k, w->data + p0 * k, k, &bs, bp, &out, 0,
                    1);
        return;
    }
    fx__split(npanels, ith, nth, &p0, &p1);
    if (p0 >= p1 || m == 0) {
        return;
    }
    bs.src = w->data;
    out.c = a->out->data;
    out.ldc = n;
    out.hw = n;
    out.img = 0;
    out.row_bias = NULL;
    out.col_bias = bias;
    gemm_panels(m, n, k, x->data, k, &bs, bp, &out, p0, p1);
}

/* ---- mlp: linear -> act -> linear ------------------------------------ */

void fx_f32_mlp_gemm_6x16__avx2(const fx_kargs *a, int ith, int nth);

/* The operands of one mlp call (see fx_f32_mlp_gemm_6x16__avx2); s:
 * pixels per image (fx__mlp_pixels). */
typedef struct mlp_args {
    const float *x, *w1, *w2, *b1, *b2, *scale;
    int64_t c, h, n_out, act, s;
    float *y;
} mlp_args;

/* The scale of output o: v * scale[o] (the mul op's one rounding), or v
 * without a scale. */
FX_INLINE __m256
scaled(const mlp_args *m, int64_t o, __m256 v)
{
    return m->scale != NULL ? _mm256_mul_ps(v, _mm256_set1_ps(m->scale[o]))
                            : v;
}

FX_INLINE float
scaled1(const mlp_args *m, int64_t o, float v)
{
    return m->scale != NULL ? v * m->scale[o] : v;
}

/* Rows [r0, r0 + n) of y from y^T (yt, row stride ldt), scaled. Rows
 * last (s == 1): y[r, o] = yt[o, r - r0], 8 x 8 blocks transposed in
 * registers, the edges element by element. Channels first: each output
 * row o's run of pixels within one image is one contiguous copy. */
static void
mlp_store(const mlp_args *m, int64_t r0, int64_t n, const float *yt,
          int64_t ldt)
{
    int64_t j, o, r, len;
    int u;

    if (m->s == 1) {
        float *y = m->y + r0 * m->n_out;

        for (o = 0; o + 8 <= m->n_out; o += 8) {
            for (j = 0; j + 8 <= n; j += 8) {
                __m256 v[8];

                for (u = 0; u < 8; u++) {
                    v[u] = scaled(m, o + u,
                                  _mm256_loadu_ps(yt + (o + u) * ldt + j));
                }
                fx__transpose8_regs(v);
                for (u = 0; u < 8; u++) {
                    _mm256_storeu_ps(y + (j + u) * m->n_out + o, v[u]);
                }
            }
            for (; j < n; j++) {
                for (u = 0; u < 8; u++) {
                    y[j * m->n_out + o + u] = scaled1(m, o + u,
                                                      yt[(o + u) * ldt + j]);
                }
            }
        }
        for (; o < m->n_out; o++) {
            for (j = 0; j < n; j++) {
                y[j * m->n_out + o] = scaled1(m, o, yt[o * ldt + j]);
            }
        }
        return;
    }
    for (r = r0; r < r0 + n; r += len) {
        const int64_t q = r % m->s;
        float *y = m->y + (r / m->s) * m->n_out * m->s + q;

        len = m->s - q < r0 + n - r ? m->s - q : r0 + n - r;
        for (o = 0; o < m->n_out; o++) {
            const float *src = yt + o * ldt + (r - r0);
            float *dst = y + o * m->s;

            for (j = 0; j + 8 <= len; j += 8) {
                _mm256_storeu_ps(dst + j,
                                 scaled(m, o, _mm256_loadu_ps(src + j)));
            }
            for (; j < len; j++) {
                dst[j] = scaled1(m, o, src[j]);
            }
        }
    }
}

/*
 * Rows [r0, r0 + n) of the mlp, n <= the block rows (at most NB panels),
 * in the thread's slot: xt (x^T packed, every K block of C), ht (one
 * packed K block of H^T, KC hidden units) and yt (y^T, n_out rows of
 * ldt = panels*NR floats).
 *
 *   H^T = act(b1 + w1 x^T)   (h x n)      y^T = b2 + w2 H^T   (n_out x n)
 *
 * The weights are the GEMMs' A, read in place (never packed), and the
 * rows the columns. H^T is made KC hidden units at a time by the first
 * GEMM straight into the packed layout of w2's K block (C(i, j) at
 * ht + (j / NR)*hc*NR + i*NR + j % NR: hw = NR, one image per panel),
 * which the second GEMM consumes at once, adding its partial sums to y^T
 * in K-block order; y^T is transposed into y at the end, scaled
 * (mlp_store), or copied plane by plane with channels_first. Element by
 * element this is the linear kernel's arithmetic (an FMA's product does
 * not depend on the order of its factors, and a row bias is added as a
 * column bias is), so y equals linear(act) -> linear bit for bit.
 */
_Static_assert(FX__MLP_ROWS <= NB * NR, "an mlp block is one panel block");

static void
mlp_block(const mlp_args *m, int64_t r0, int64_t n, float *xt, float *ht,
          float *yt)
{
    const int64_t np = (n + NR - 1) / NR, ldt = np * NR;
    col_runs runs1[NB], runs2[NB];
    gemm_out o1, o2;
    tile_dst t1, t2;
    int64_t p, k0, h0, kc, hc;

    for (p = 0; p < np; p++) {
        panel_runs(p, n, NR, NR, &runs1[p]);
        panel_runs(p, n, n, n, &runs2[p]);
    }
    for (k0 = 0; k0 < m->c; k0 += KC) {
        kc = m->c - k0 < KC ? m->c - k0 : KC;
        pack_b_cols(m->x + r0 * m->c, m->c, n, k0, kc, xt + k0 * ldt, 0, np);
    }
    o1.c = ht;
    o1.ldc = NR;
    o1.hw = NR;
    o1.col_bias = NULL;
    o1.epi = NULL;
    o2.c = yt;
    o2.ldc = ldt;
    o2.hw = n;
    o2.img = 0;
    o2.row_bias = m->b2;
    o2.col_bias = NULL;
    o2.epi = NULL;
    t1.o = &o1;
    t2.o = &o2;
    for (h0 = 0;; h0 += KC) {
        hc = m->h - h0 < KC ? m->h - h0 : KC;
        if (hc > 0) {
            /* the last panel's columns past n are never stored: zeros,
             * so that the second GEMM's unused lanes read no garbage */
            if (n % NR != 0) {
                memset(ht + (np - 1) * hc * NR, 0,
                       (size_t)(hc * NR) * sizeof(float));
            }
            o1.img = hc * NR;
            o1.row_bias = m->b1 != NULL ? m->b1 + h0 : NULL;
            for (k0 = 0;; k0 += KC) {
                kc = m->c - k0 < KC ? m->c - k0 : KC;
                t1.first = k0 == 0;
                t1.last = k0 + kc >= m->c;
                gemm_block(hc, kc, m->w1 + h0 * m->c + k0, m->c,
                           xt + k0 * ldt, runs1, 0, np, &t1);
                if (t1.last) {
                    break;
                }
            }
            /* the activation in one pass over the block (v * 1 + -0 is
             * v), not per tile in the GEMM's stores: GELU's many
             * registers there took 1/5 of the time at C = 96 */
            fx__bn_act_run(ht, ht, np * hc * NR, 1.0f, -0.0f, m->act);
        }
        t2.first = h0 == 0;
        t2.last = h0 + hc >= m->h;
        gemm_block(m->n_out, hc, m->w2 + h0, m->h, ht, runs2, 0, np, &t2);
        if (t2.last) {
            break;
        }
    }
    mlp_store(m, r0, n, yt, ldt);
}

/*
 * x: (..., C)  w1: (H, C)  w2: (OUT, H)  b1: (H)  b2: (OUT)  scale: (OUT)
 * y: (..., OUT) = linear(act(linear(x, w1, b1)), w2, b2) * scale, or
 * (N, OUT, ...) with channels_first (see ops/mlp.c), in blocks of
 * fx__mlp_block_rows(C, OUT) rows (mlp_block). Work split: by groups of
 * NR / 2 rows (half a panel of the block GEMMs: a last panel of at most
 * 8 columns takes the half tiles), each thread its own consecutive
 * groups, in blocks, in its own slot: 196 rows (a 14x14 plane) on 2
 * threads are 6.5 panels each, where whole panels gave one thread 7.
 * The blocks' size and place change no result.
 */
void
fx_f32_mlp_gemm_6x16__avx2(const fx_kargs *a, int ith, int nth)
{
    const fx_mlp_params *p = a->params;
    const fx_tensor *w1 = &a->in[1], *w2 = &a->in[2];
    const int64_t rb = fx__mlp_block_rows(w1->shape[1], w2->shape[0]);
    float *xt = thread_slot(a, ith);
    float *ht = xt + w1->shape[1] * rb;
    float *yt = ht + (w1->shape[0] < KC ? w1->shape[0] : KC) * rb;
    mlp_args m;
    int64_t rows, g0, g1, r0, r1, nb, bs;

    m.x = a->in[0].data;
    m.w1 = w1->data;
    m.w2 = w2->data;
    m.b1 = a->n_in > 3 ? a->in[3].data : NULL;
    m.b2 = a->n_in > 4 ? a->in[4].data : NULL;
    m.scale = a->n_in > 5 ? a->in[5].data : NULL;
    m.s = fx__mlp_pixels(a);
    m.c = w1->shape[1];
    m.h = w1->shape[0];
    m.n_out = w2->shape[0];
    m.act = p->act;
    m.y = a->out->data;
    rows = m.n_out > 0 ? fx_tensor_numel(a->out) / m.n_out : 0;
    fx__split((rows + NR / 2 - 1) / (NR / 2), ith, nth, &g0, &g1);
    r0 = g0 * (NR / 2);
    r1 = g1 * (NR / 2) < rows ? g1 * (NR / 2) : rows;
    if (r0 >= r1) {
        return;
    }
    /* the fewest blocks, of even whole panels: 392 rows are 112, 112, 112
     * and 56, not 128, 128, 128 and 8 (a block streams all the weights,
     * 19 MB at C = 768, whatever its rows) */
    nb = (r1 - r0 + rb - 1) / rb;
    bs = ((r1 - r0 + nb - 1) / nb + NR - 1) / NR * NR;
    for (; r0 < r1; r0 += bs) {
        mlp_block(&m, r0, r1 - r0 < bs ? r1 - r0 : bs, xt, ht, yt);
    }
}
