/*
 * kernels/winograd_avx2.c - 3x3, stride 1 convolution by Winograd's
 * minimal filtering F(4x4, 3x3), AVX2+FMA. Called by the AVX2 conv2d and
 * conv2d_bn kernels (kernels/gemm_avx2.c) when fx__conv2d_winograd_ok
 * accepts the shapes (ops/conv2d.c has the heuristic and its numbers).
 *
 *   x: (N, C, H, W)   w: (OC, C, 3, 3)   b: (OC) optional
 *   y: (N, OC, OH, OW), OH = H + 2*PH - 2, OW = W + 2*PW - 2
 *
 * The math. Cut y into 4x4 output tiles; tile (ti, tj) of image n needs
 * the 6x6 input patch d starting at input row 4*ti - PH, column 4*tj - PW
 * (zero outside the input). With the 6x6 / 6x3 / 4x6 matrices
 *
 *   B^T = [4  0 -5  0  1  0]   G = [ 1/4    0     0  ]   A^T = [1 1  1 1  1 0]
 *         [0 -4 -4  1  1  0]       [-1/6 -1/6  -1/6  ]         [0 1 -1 2 -2 0]
 *         [0  4 -4 -1  1  0]       [-1/6  1/6  -1/6  ]         [0 1  1 4  4 0]
 *         [0 -2 -1  2  1  0]       [1/24 1/12   1/6  ]         [0 1 -1 8 -8 1]
 *         [0  2 -1 -2  1  0]       [1/24 -1/12  1/6  ]
 *         [0  4  0 -5  0  1]       [ 0     0     1   ]
 *
 * (interpolation at 0, +-1, +-2 and infinity) the 4x4 cross-correlation
 * of d with a 3x3 kernel g is A^T [(G g G^T) .* (B^T d B)] A, where .* is
 * the element-wise product of two 6x6 matrices. Summed over the input
 * channels, with U[xi] = (G w[o, c] G^T)[xi] and V[xi] = (B^T d_c B)[xi]
 * for each of the 36 positions xi of a 6x6 matrix,
 *
 *   M[xi][o][t] = sum_c U[xi][o][c] * V[xi][c][t]      (36 GEMMs)
 *   y tile (o, t) = A^T M[.][o][t] A
 *
 * so the 9 multiply-adds per output of the direct conv become 36/16 =
 * 2.25 (4x fewer), plus the three transforms. Each 2-D transform is two
 * passes of the 1-D one (rows, then columns), written out below with the
 * common sub-expressions; all of them are exact in real arithmetic, the
 * float32 rounding error grows with the transform's coefficients (up to
 * 8 in A^T, 5 in B^T), which is why the tile stops at 4x4.
 *
 * Schedule (per thread; the thread takes a contiguous range of the
 * N * ceil(OH/4) * ceil(OW/4) tiles, numbered image by image, row by
 * row, or a range of the output channels (see the driver), and processes
 * its tiles in blocks of at most T, T from fx__winograd_tile_block(C)):
 *
 *   for each block of tiles:
 *     V = input transform of the block, all C channels      36 x C x T
 *     for each block of OB output channels (16 for few tiles):
 *       for each block of KC input channels:
 *         U = weight transform of (OB, KC)                  36 x KC x OB
 *         M[.][T][OB] (+)= V[xi]^T (T x KC) * U[xi] (KC x OB), each xi
 *       y = output transform of M, + bias, then the epilogue
 *
 * The weights are transformed per call (they are the user's arrays) and
 * again per tile block: about 10 cycles per 3x3 kernel, against 36*T/16
 * for its GEMM work, which is why T is as large as a ~4 MiB V allows and
 * why few tiles (batch 1 at 7x7: 4) cost about as much in the weight
 * transform as in the GEMM. Every buffer is a part of the thread's
 * workspace slot (offsets as in fx__winograd_workspace).
 *
 * Layouts (floats):
 *   V[xi][c][ld]       tile t of the block in column t, ld = the
 *                      thread's largest block rounded up to 8 (xi planes
 *                      padded by 16 floats, see the driver)
 *   U[p][xi][KC][16]   panel p of 16 output channels: row c - c0 holds
 *                      channels 16p..16p+15 (planes padded, UXI)
 *   M[t][xi][OB]       so the output transform of tile t reads one
 *                      contiguous block
 *   bands[q][6][bw]    per run q of the block's tiles in one tile row, the
 *                      zero-padded 6-row strip of one input channel that
 *                      holds their patches
 *
 * Vectorisation: the input transform works on 8 consecutive tiles of the
 * block at a time (one AVX lane per tile, from one band or, when the 8
 * cross a tile row, several, so small planes fill every lane): the
 * strided patch columns are pulled out of the bands with in-register
 * transposes. The GEMM is a 6x16 register tile: 6 tiles (broadcast from
 * V) x 16 output channels (two vectors of U), accumulating over KC input
 * channels. The weight and output transforms work on 8 output channels
 * at a time (one per lane): the weights of 8 channels (C*9 floats apart)
 * are transposed into lanes, and each output tile goes back to its 8
 * channel planes with 4x8 transposes (scalar copies only for a tile cut
 * by the right edge or the last channels).
 *
 * Summation order: each M element is one FMA chain over the input
 * channels in order (a KC block starts from the previous blocks' stored
 * sum); every tile's result depends only on its own data, not on the
 * block or thread it falls in, so any thread count gives the same bits.
 *
 * NaN/inf and huge values: a (tile, channel) whose outputs hold an inf
 * or NaN before the epilogue is recomputed by the reference formula, so
 * the NaN and inf positions are the reference kernel's (see
 * output_tiles); the weights are not scanned beforehand (the caller
 * sends inputs with inf, NaN or huge values to the GEMM path instead,
 * as their tiles could be too many to recompute one by one).
 */
#include <immintrin.h>
#include <string.h>

#include "kernels/activation_avx2.h"
#include "kernels/transpose_avx2.h"
#include "ops/ops.h"

#define KC FX__WINO_KC
#define OB FX__WINO_OB
#define NR 16
#define MR 6
/* U layout: panel of NR output channels, then xi, then input channel:
 * floats between xi planes (padded by 16 so that the 36 planes' rows
 * fall in different cache sets) and between panels */
#define UXI (KC * NR + 16)
#define UOP (36 * UXI)
/* The weight transform reads 8 output channels' kernels, C*9 floats
 * apart: it prefetches each one PF floats (16 kernels) ahead, which the
 * hardware does not do for 8-16 interleaved strided streams. */
#define PF 144

/* ---- 1-D transforms (one lane per tile or channel) -------------------- */

/* (t0..t5) = B^T (d0..d5) */
FX_INLINE void
in_1d(const __m256 d[6], __m256 t[6])
{
    const __m256 four = _mm256_set1_ps(4.0f), five = _mm256_set1_ps(5.0f);
    const __m256 two = _mm256_set1_ps(2.0f);
    const __m256 a = _mm256_fnmadd_ps(four, d[2], d[4]); /* d4 - 4 d2 */
    const __m256 b = _mm256_fnmadd_ps(four, d[1], d[3]); /* d3 - 4 d1 */
    const __m256 c = _mm256_sub_ps(d[4], d[2]);
    const __m256 e = _mm256_mul_ps(two, _mm256_sub_ps(d[3], d[1]));

    t[0] = _mm256_fmadd_ps(four, d[0], _mm256_fnmadd_ps(five, d[2], d[4]));
    t[1] = _mm256_add_ps(a, b);
    t[2] = _mm256_sub_ps(a, b);
    t[3] = _mm256_add_ps(c, e);
    t[4] = _mm256_sub_ps(c, e);
    t[5] = _mm256_fmadd_ps(four, d[1], _mm256_fnmadd_ps(five, d[3], d[5]));
}

/* (u0..u5) = G (g0, g1, g2) */
FX_INLINE void
w_1d(__m256 g0, __m256 g1, __m256 g2, __m256 u[6])
{
    const __m256 p = _mm256_mul_ps(_mm256_add_ps(g0, g2),
                                   _mm256_set1_ps(-1.0f / 6.0f));
    const __m256 q = _mm256_mul_ps(g1, _mm256_set1_ps(1.0f / 6.0f));
    const __m256 r = _mm256_fmadd_ps(
        g0, _mm256_set1_ps(1.0f / 24.0f),
        _mm256_mul_ps(g2, _mm256_set1_ps(1.0f / 6.0f)));
    const __m256 s = _mm256_mul_ps(g1, _mm256_set1_ps(1.0f / 12.0f));

    u[0] = _mm256_mul_ps(g0, _mm256_set1_ps(0.25f));
    u[1] = _mm256_sub_ps(p, q);
    u[2] = _mm256_add_ps(p, q);
    u[3] = _mm256_add_ps(r, s);
    u[4] = _mm256_sub_ps(r, s);
    u[5] = g2;
}

/* (y0..y3) = A^T (m0..m5) */
FX_INLINE void
out_1d(const __m256 m[6], __m256 y[4])
{
    const __m256 s1 = _mm256_add_ps(m[1], m[2]);
    const __m256 d1 = _mm256_sub_ps(m[1], m[2]);
    const __m256 s2 = _mm256_add_ps(m[3], m[4]);
    const __m256 d2 = _mm256_sub_ps(m[3], m[4]);

    y[0] = _mm256_add_ps(_mm256_add_ps(m[0], s1), s2);
    y[1] = _mm256_fmadd_ps(_mm256_set1_ps(2.0f), d2, d1);
    y[2] = _mm256_fmadd_ps(_mm256_set1_ps(4.0f), s2, s1);
    y[3] = _mm256_add_ps(_mm256_fmadd_ps(_mm256_set1_ps(8.0f), d2, d1),
                         m[5]);
}

/* ---- GEMM micro-kernel ------------------------------------------------ */

/*
 * C[0:mr, 0:16] = (add ? C : 0) + A[0:mr, 0:kc] * B[0:kc, 0:16], where
 * A(i, k) = a[k*lda + i] (broadcast), B(k, j) = b[k*ldb + j] (two vector
 * loads per k), C(i, j) = c[i*ldc + j]. Inlined with a constant mr.
 */
FX_INLINE void
ukernel_mr(const int mr, int64_t kc, const float *FX_RESTRICT a,
           int64_t lda, const float *FX_RESTRICT b, int64_t ldb,
           float *FX_RESTRICT c, int64_t ldc, int add)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    int64_t k;

    if (add) {
        c00 = _mm256_loadu_ps(c);
        c01 = _mm256_loadu_ps(c + 8);
        if (mr > 1) {
            c10 = _mm256_loadu_ps(c + ldc);
            c11 = _mm256_loadu_ps(c + ldc + 8);
        }
        if (mr > 2) {
            c20 = _mm256_loadu_ps(c + 2 * ldc);
            c21 = _mm256_loadu_ps(c + 2 * ldc + 8);
        }
        if (mr > 3) {
            c30 = _mm256_loadu_ps(c + 3 * ldc);
            c31 = _mm256_loadu_ps(c + 3 * ldc + 8);
        }
        if (mr > 4) {
            c40 = _mm256_loadu_ps(c + 4 * ldc);
            c41 = _mm256_loadu_ps(c + 4 * ldc + 8);
        }
        if (mr > 5) {
            c50 = _mm256_loadu_ps(c + 5 * ldc);
            c51 = _mm256_loadu_ps(c + 5 * ldc + 8);
        }
    }
    for (k = 0; k < kc; k++) {
        const __m256 b0 = _mm256_loadu_ps(b);
        const __m256 b1 = _mm256_loadu_ps(b + 8);
        __m256 av;

        b += ldb;
        av = _mm256_broadcast_ss(a);
        c00 = _mm256_fmadd_ps(av, b0, c00);
        c01 = _mm256_fmadd_ps(av, b1, c01);
        if (mr > 1) {
            av = _mm256_broadcast_ss(a + 1);
            c10 = _mm256_fmadd_ps(av, b0, c10);
            c11 = _mm256_fmadd_ps(av, b1, c11);
        }
        if (mr > 2) {
            av = _mm256_broadcast_ss(a + 2);
            c20 = _mm256_fmadd_ps(av, b0, c20);
            c21 = _mm256_fmadd_ps(av, b1, c21);
        }
        if (mr > 3) {
            av = _mm256_broadcast_ss(a + 3);
            c30 = _mm256_fmadd_ps(av, b0, c30);
            c31 = _mm256_fmadd_ps(av, b1, c31);
        }
        if (mr > 4) {
            av = _mm256_broadcast_ss(a + 4);
            c40 = _mm256_fmadd_ps(av, b0, c40);
            c41 = _mm256_fmadd_ps(av, b1, c41);
        }
        if (mr > 5) {
            av = _mm256_broadcast_ss(a + 5);
            c50 = _mm256_fmadd_ps(av, b0, c50);
            c51 = _mm256_fmadd_ps(av, b1, c51);
        }
        a += lda;
    }
    _mm256_storeu_ps(c, c00);
    _mm256_storeu_ps(c + 8, c01);
    if (mr > 1) {
        _mm256_storeu_ps(c + ldc, c10);
        _mm256_storeu_ps(c + ldc + 8, c11);
    }
    if (mr > 2) {
        _mm256_storeu_ps(c + 2 * ldc, c20);
        _mm256_storeu_ps(c + 2 * ldc + 8, c21);
    }
    if (mr > 3) {
        _mm256_storeu_ps(c + 3 * ldc, c30);
        _mm256_storeu_ps(c + 3 * ldc + 8, c31);
    }
    if (mr > 4) {
        _mm256_storeu_ps(c + 4 * ldc, c40);
        _mm256_storeu_ps(c + 4 * ldc + 8, c41);
    }
    if (mr > 5) {
        _mm256_storeu_ps(c + 5 * ldc, c50);
        _mm256_storeu_ps(c + 5 * ldc + 8, c51);
    }
}

static void
ukernel(int mr, int64_t kc, const float *FX_RESTRICT a, int64_t lda,
        const float *FX_RESTRICT b, int64_t ldb, float *FX_RESTRICT c,
        int64_t ldc, int add)
{
    switch (mr) {
    case 1:
        ukernel_mr(1, kc, a, lda, b, ldb, c, ldc, add);
        break;
    case 2:
        ukernel_mr(2, kc, a, lda, b, ldb, c, ldc, add);
        break;
    case 3:
        ukernel_mr(3, kc, a, lda, b, ldb, c, ldc, add);
        break;
    case 4:
        ukernel_mr(4, kc, a, lda, b, ldb, c, ldc, add);
        break;
    case 5:
        ukernel_mr(5, kc, a, lda, b, ldb, c, ldc, add);
        break;
    default:
        ukernel_mr(6, kc, a, lda, b, ldb, c, ldc, add);
        break;
    }
}

/* ---- the problem ------------------------------------------------------ */

typedef struct wino {
    const fx_kargs *args; /* the conv's: x, w, bias and params */
    const float *x, *w, *bias, *alpha, *beta;
    float *y;
    int64_t c, h, wd, oc, oh, ow, ph, pw;
    int64_t th, tw; /* tile rows and columns of one image */
    int64_t act; /* fx_act, applied after alpha/beta */
    /* this thread's buffers (see the file comment) */
    float *band, *v, *u, *m;
    int64_t ld, bw; /* row length of V; of a band */
    int64_t vxi; /* floats between the xi planes of V */
} wino;

/* The run of tiles that starts at global tile t and stays in its tile
 * row, cut at t_end: image *n, tile row *ti, first column *tj; returns
 * its length. */
FX_INLINE int64_t
tile_run(const wino *p, int64_t t, int64_t t_end, int64_t *n, int64_t *ti,
         int64_t *tj)
{
    const int64_t per_image = p->th * p->tw, r = t % per_image;
    const int64_t len = p->tw - r % p->tw;

    *n = t / per_image;
    *ti = r / p->tw;
    *tj = r % p->tw;
    return len < t_end - t ? len : t_end - t;
}

FX_INLINE int64_t
round16(int64_t v)
{
    return (v + 15) / 16 * 16;
}

/* ---- weight transform ------------------------------------------------- */

/* g[k] = lane l: element k (0..8) of the 3x3 kernel src + l*stride,
 * l < 8. */
FX_INLINE void
load_kernels8(const float *src, int64_t stride, __m256 g[9])
{
    int l;

    for (l = 0; l < 8; l++) {
        g[l] = _mm256_loadu_ps(src + l * stride);
    }
    fx__transpose8_regs(g);
    g[8] = _mm256_setr_ps(src[8], src[stride + 8], src[2 * stride + 8],
                          src[3 * stride + 8], src[4 * stride + 8],
                          src[5 * stride + 8], src[6 * stride + 8],
                          src[7 * stride + 8]);
}

/* Stores row (a, b, c) G^T of U = G g G^T (8 kernels, one per lane) at
 * dst + q*UXI, q < 6. */
FX_INLINE void
w_row(__m256 a, __m256 b, __m256 c, float *dst)
{
    __m256 u[6];
    int q;

    w_1d(a, b, c, u);
    for (q = 0; q < 6; q++) {
        _mm256_storeu_ps(dst + q * UXI, u[q]);
    }
}

/* U = G g G^T of 8 kernels (g[k] = tap k of each, one per lane), row i
 * of it stored at dst + 6*i*UXI: the rows of G g one at a time (each one
 * through w_1d, as G's column pass would compute it, so only the taps and
 * two rows' partial sums are live). */
FX_INLINE void
w_kernels8(const __m256 g[9], float *dst)
{
    const __m256 sixth = _mm256_set1_ps(1.0f / 6.0f);
    const __m256 msixth = _mm256_set1_ps(-1.0f / 6.0f);
    const __m256 c24 = _mm256_set1_ps(1.0f / 24.0f);
    const __m256 c12 = _mm256_set1_ps(1.0f / 12.0f);
    const __m256 quarter = _mm256_set1_ps(0.25f);
    __m256 p[3], s[3];
    int q;

    w_row(_mm256_mul_ps(g[0], quarter), _mm256_mul_ps(g[1], quarter),
          _mm256_mul_ps(g[2], quarter), dst);
    for (q = 0; q < 3; q++) {
        p[q] = _mm256_mul_ps(_mm256_add_ps(g[q], g[6 + q]), msixth);
        s[q] = _mm256_mul_ps(g[3 + q], sixth);
    }
    w_row(_mm256_sub_ps(p[0], s[0]), _mm256_sub_ps(p[1], s[1]),
          _mm256_sub_ps(p[2], s[2]), dst + 6 * UXI);
    w_row(_mm256_add_ps(p[0], s[0]), _mm256_add_ps(p[1], s[1]),
          _mm256_add_ps(p[2], s[2]), dst + 12 * UXI);
    for (q = 0; q < 3; q++) {
        p[q] = _mm256_fmadd_ps(g[q], c24, _mm256_mul_ps(g[6 + q], sixth));
        s[q] = _mm256_mul_ps(g[3 + q], c12);
    }
    w_row(_mm256_add_ps(p[0], s[0]), _mm256_add_ps(p[1], s[1]),
          _mm256_add_ps(p[2], s[2]), dst + 18 * UXI);
    w_row(_mm256_sub_ps(p[0], s[0]), _mm256_sub_ps(p[1], s[1]),
          _mm256_sub_ps(p[2], s[2]), dst + 24 * UXI);
    w_row(g[6], g[7], g[8], dst + 30 * UXI);
}

/* U for output channels [o0, o0 + ob) and input channels [c0, c0 + kc):
 * panel o / NR holds, for each xi and j < kc, the NR values
 * G w[o0 + o, c0 + j] G^T [xi] at xi*UXI + j*NR (0 for o >= ob). 8
 * output channels per step, one per lane. */
static void
weight_transform(const wino *p, int64_t o0, int64_t ob, int64_t c0,
                 int64_t kc)
{
    const int64_t stride = p->c * 9;
    int64_t o, j, h, l;

    for (o = 0; o < ob; o += NR) {
        const float *src = p->w + ((o0 + o) * p->c + c0) * 9;
        float *dst = p->u + o / NR * UOP;

        /* both halves of a panel row in turn: each line of U is written
         * whole while it is in L1 */
        for (j = 0; j < kc; j++) {
            for (h = 0; h < NR; h += 8) {
                const float *sh = src + h * stride + j * 9;
                __m256 g[9];

                if (ob - o - h >= 8) {
                    for (l = 0; l < 8; l++) {
                        _mm_prefetch((const char *)(sh + l * stride + PF),
                                     _MM_HINT_T0);
                    }
                    load_kernels8(sh, stride, g);
                }
                else {
                    /* channels past ob: zero weights */
                    float tmp[72] = {0};

                    for (l = 0; l < ob - o - h; l++) {
                        memcpy(tmp + 9 * l, sh + l * stride,
                               9 * sizeof(float));
                    }
                    load_kernels8(tmp, 9, g);
                }
                w_kernels8(g, dst + j * NR + h);
            }
        }
    }
}

/* ---- input transform -------------------------------------------------- */

/* s[m] = lane l: src[4*l + m], m < 6 (reads src[0..33]). */
FX_INLINE void
load_cols(const float *src, __m256 s[6])
{
    const __m256 q0 = _mm256_loadu_ps(src), q1 = _mm256_loadu_ps(src + 8);
    const __m256 q2 = _mm256_loadu_ps(src + 16);
    const __m256 q3 = _mm256_loadu_ps(src + 24);
    /* r0 = tiles (0 | 4), r1 = (1 | 5), r2 = (2 | 6), r3 = (3 | 7), each
     * four consecutive floats; then a 4x4 transpose per 128-bit half */
    const __m256 r0 = _mm256_permute2f128_ps(q0, q2, 0x20);
    const __m256 r1 = _mm256_permute2f128_ps(q0, q2, 0x31);
    const __m256 r2 = _mm256_permute2f128_ps(q1, q3, 0x20);
    const __m256 r3 = _mm256_permute2f128_ps(q1, q3, 0x31);
    const __m256 t0 = _mm256_unpacklo_ps(r0, r1);
    const __m256 t1 = _mm256_unpackhi_ps(r0, r1);
    const __m256 t2 = _mm256_unpacklo_ps(r2, r3);
    const __m256 t3 = _mm256_unpackhi_ps(r2, r3);
    /* columns 4 and 5 of tile l are columns 0 and 1 of tile l + 1 */
    const __m256i next = _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 0);

    s[0] = _mm256_shuffle_ps(t0, t2, 0x44);
    s[1] = _mm256_shuffle_ps(t0, t2, 0xEE);
    s[2] = _mm256_shuffle_ps(t1, t3, 0x44);
    s[3] = _mm256_shuffle_ps(t1, t3, 0xEE);
    s[4] = _mm256_blend_ps(_mm256_permutevar8x32_ps(s[0], next),
                           _mm256_broadcast_ss(src + 32), 0x80);
    s[5] = _mm256_blend_ps(_mm256_permutevar8x32_ps(s[1], next),
                           _mm256_broadcast_ss(src + 33), 0x80);
}

/* Two 4-float rows, p (low half) and q (high half). */
FX_INLINE __m256
load_halves(const float *p, const float *q)
{
    return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(p)),
                                _mm_loadu_ps(q), 1);
}

/* Four 2-float pairs: a and b (low half), c and d (high half). */
FX_INLINE __m256
load_pairs(const float *a, const float *b, const float *c, const float *d)
{
    const __m128 z = _mm_setzero_ps();

    return _mm256_insertf128_ps(
        _mm256_castps128_ps256(_mm_loadh_pi(
            _mm_loadl_pi(z, (const __m64 *)a), (const __m64 *)b)),
        _mm_loadh_pi(_mm_loadl_pi(z, (const __m64 *)c), (const __m64 *)d),
        1);
}

/* s[m] = lane l: src[l][off + m], m < 6: load_cols for 8 patches
 * anywhere (reads src[l][off .. off + 5]). */
FX_INLINE void
load_cols8(const float *const src[8], int64_t off, __m256 s[6])
{
    /* r0 = tiles (0 | 4), r1 = (1 | 5), r2 = (2 | 6), r3 = (3 | 7): columns
     * 0..3; then a 4x4 transpose per 128-bit half */
    const __m256 r0 = load_halves(src[0] + off, src[4] + off);
    const __m256 r1 = load_halves(src[1] + off, src[5] + off);
    const __m256 r2 = load_halves(src[2] + off, src[6] + off);
    const __m256 r3 = load_halves(src[3] + off, src[7] + off);
    const __m256 t0 = _mm256_unpacklo_ps(r0, r1);
    const __m256 t1 = _mm256_unpackhi_ps(r0, r1);
    const __m256 t2 = _mm256_unpacklo_ps(r2, r3);
    const __m256 t3 = _mm256_unpackhi_ps(r2, r3);
    /* columns 4 and 5: pairs (c4, c5) of tiles (0, 1 | 4, 5) and
     * (2, 3 | 6, 7), then even and odd elements */
    const __m256 y0 = load_pairs(src[0] + off + 4, src[1] + off + 4,
                                 src[4] + off + 4, src[5] + off + 4);
    const __m256 y1 = load_pairs(src[2] + off + 4, src[3] + off + 4,
                                 src[6] + off + 4, src[7] + off + 4);

    s[0] = _mm256_shuffle_ps(t0, t2, 0x44);
    s[1] = _mm256_shuffle_ps(t0, t2, 0xEE);
    s[2] = _mm256_shuffle_ps(t1, t3, 0x44);
    s[3] = _mm256_shuffle_ps(t1, t3, 0xEE);
    s[4] = _mm256_shuffle_ps(y0, y1, 0x88);
    s[5] = _mm256_shuffle_ps(y0, y1, 0xDD);
}

/* V[xi] for 8 tiles, lane l the tile whose patch row r starts at
 * src[l] + r*bw (contig: src[l] = src[0] + 4*l, one load_cols per row):
 * stored at dst + xi * stride, 8 floats each. */
FX_INLINE void
input_group(const float *const src[8], const int contig, int64_t bw,
            float *dst, int64_t stride)
{
    __m256 h[6][6], d[6], t[6], s[6];
    int r, i, j;

    for (r = 0; r < 6; r++) {
        if (contig) {
            load_cols(src[0] + r * bw, s);
        }
        else {
            load_cols8(src, r * bw, s);
        }
        in_1d(s, h[r]); /* along the row: h[r][j] = (d B)[r][j] */
    }
    for (j = 0; j < 6; j++) {
        for (r = 0; r < 6; r++) {
            d[r] = h[r][j];
        }
        in_1d(d, t); /* down the column: (B^T d B)[i][j] */
        for (i = 0; i < 6; i++) {
            _mm256_storeu_ps(dst + (i * 6 + j) * stride, t[i]);
        }
    }
}

/* dst[r][k] = x[4*ti - PH + r][4*tj - PW + k] (0 outside the input) for
 * r < 6 (rows p->bw floats apart), k < 4*len + 2: the patches of tiles
 * tj .. tj + len - 1 of one tile row. Whole vectors: zeros at [0, 8)
 * first, the copy (its last vector overlapping the one before it), then
 * zeros from hi on (the rows have room for them). */
static void
fill_band(const wino *p, const float *plane, int64_t ti, int64_t tj,
          int64_t len, float *dst)
{
    const int64_t width = 4 * len + 2, col0 = 4 * tj - p->pw;
    const int64_t lo = col0 < 0 ? -col0 : 0;
    const __m256 zero = _mm256_setzero_ps();
    int64_t hi = p->wd - col0, r, k;

    if (hi > width) {
        hi = width;
    }
    for (r = 0; r < 6; r++) {
        const int64_t row = 4 * ti - p->ph + r;
        float *d = dst + r * p->bw;

        if (row < 0 || row >= p->h || hi <= lo) {
            for (k = 0; k < width; k += 8) {
                _mm256_storeu_ps(d + k, zero);
            }
            continue;
        }
        {
            const float *src = plane + row * p->wd + col0;

            _mm256_storeu_ps(d, zero);
            if (hi - lo >= 8) {
                for (k = lo; k < hi - 8; k += 8) {
                    _mm256_storeu_ps(d + k, _mm256_loadu_ps(src + k));
                }
                _mm256_storeu_ps(d + hi - 8, _mm256_loadu_ps(src + hi - 8));
            }
            else {
                for (k = lo; k < hi; k++) {
                    d[k] = src[k];
                }
            }
            for (k = hi; k < width; k += 8) {
                _mm256_storeu_ps(d + k, zero);
            }
        }
    }
}

/* V for tiles [t0, t0 + nt), all channels. The block's tiles lie in runs
 * of consecutive tiles of one tile row each; per channel, each run's
 * patches are copied into a band of their own (6*bw floats each), then 8
 * consecutive tiles at a time are transformed, from one band or several
 * (so that planes of few tiles per row still fill all 8 lanes). Lanes
 * past nt land in the rows' 8 spare columns. */
static void
input_transform(const wino *p, const float *x, int64_t t0, int64_t nt)
{
    int64_t run_n[FX__WINO_TMAX], run_ti[FX__WINO_TMAX];
    int64_t run_tj[FX__WINO_TMAX], run_len[FX__WINO_TMAX];
    int64_t off[FX__WINO_TMAX]; /* tile k's patch: p->band + off[k] */
    int64_t nruns = 0, t = t0, k = 0, c, g, l;

    while (t < t0 + nt) {
        const int64_t len = tile_run(p, t, t0 + nt, &run_n[nruns],
                                     &run_ti[nruns], &run_tj[nruns]);

        run_len[nruns] = len;
        for (l = 0; l < len; l++) {
            off[k + l] = nruns * 6 * p->bw + 4 * l;
        }
        nruns++;
        t += len;
        k += len;
    }
    for (c = 0; c < p->c; c++) {
        for (l = 0; l < nruns; l++) {
            fill_band(p, x + (run_n[l] * p->c + c) * p->h * p->wd,
                      run_ti[l], run_tj[l], run_len[l],
                      p->band + l * 6 * p->bw);
        }
        for (g = 0; g < nt; g += 8) {
            const float *src[8];
            float *dst = p->v + c * p->ld + g;

            for (l = 0; l < 8; l++) {
                src[l] = p->band + off[g + l < nt ? g + l : nt - 1];
            }
            if (g + 8 <= nt && off[g + 7] == off[g] + 28) {
                input_group(src, 1, p->bw, dst, p->vxi);
            }
            else {
                input_group(src, 0, p->bw, dst, p->vxi);
            }
        }
    }
}

/* ---- output transform ------------------------------------------------- */

/* 8 floats from src (n of them, the rest 0). */
FX_INLINE __m256
load_part(const float *src, int64_t n)
{
    float tmp[8] = {0};

    if (n >= 8) {
        return _mm256_loadu_ps(src);
    }
    memcpy(tmp, src, (size_t)n * sizeof(float));
    return _mm256_loadu_ps(tmp);
}

/* Writes row r of one tile for 8 output channels (y[j] = column j, lane
 * l = channel l) to dst + l*plane, for the first nch channels and the
 * first cols columns, via a 4x8 transpose. */
FX_INLINE void
store_tile_row(const __m256 y[4], float *dst, int64_t plane, int nch,
               int cols)
{
    const __m256 t0 = _mm256_unpacklo_ps(y[0], y[1]);
    const __m256 t1 = _mm256_unpackhi_ps(y[0], y[1]);
    const __m256 t2 = _mm256_unpacklo_ps(y[2], y[3]);
    const __m256 t3 = _mm256_unpackhi_ps(y[2], y[3]);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44); /* channels 0 | 4 */
    const __m256 u1 = _mm256_shuffle_ps(t0, t2, 0xEE); /* 1 | 5 */
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44); /* 2 | 6 */
    const __m256 u3 = _mm256_shuffle_ps(t1, t3, 0xEE); /* 3 | 7 */
    float tmp[8][4];
    int l;

    if (nch == 8 && cols == 4) {
        _mm_storeu_ps(dst, _mm256_castps256_ps128(u0));
        _mm_storeu_ps(dst + plane, _mm256_castps256_ps128(u1));
        _mm_storeu_ps(dst + 2 * plane, _mm256_castps256_ps128(u2));
        _mm_storeu_ps(dst + 3 * plane, _mm256_castps256_ps128(u3));
        _mm_storeu_ps(dst + 4 * plane, _mm256_extractf128_ps(u0, 1));
        _mm_storeu_ps(dst + 5 * plane, _mm256_extractf128_ps(u1, 1));
        _mm_storeu_ps(dst + 6 * plane, _mm256_extractf128_ps(u2, 1));
        _mm_storeu_ps(dst + 7 * plane, _mm256_extractf128_ps(u3, 1));
        return;
    }
    /* a tile cut by the right edge, or the last channels */
    _mm256_storeu2_m128(tmp[4], tmp[0], u0);
    _mm256_storeu2_m128(tmp[5], tmp[1], u1);
    _mm256_storeu2_m128(tmp[6], tmp[2], u2);
    _mm256_storeu2_m128(tmp[7], tmp[3], u3);
    for (l = 0; l < nch; l++) {
        memcpy(dst + l * plane, tmp[l], (size_t)cols * sizeof(float));
    }
}

/* Lanes `lanes` (bit l: channel o0 + l) of the 4x4 outputs y[r][i] of
 * tile (ti, tj) of image n, before the epilogue, recomputed by the
 * reference formula (fx__conv2d_ref_at); outputs past the plane's edge
 * are left as they are. The cold path of output_tiles. */
static __attribute__((noinline)) void
direct_tile(const wino *p, int64_t n, int64_t ti, int64_t tj, int64_t o0,
            int lanes, __m256 y[4][4])
{
    float v[4][4][8];
    int64_t l, r, i;

    for (r = 0; r < 4; r++) {
        for (i = 0; i < 4; i++) {
            _mm256_storeu_ps(v[r][i], y[r][i]);
        }
    }
    for (l = 0; l < 8; l++) {
        for (r = 0; r < 4 && 4 * ti + r < p->oh && (lanes >> l & 1); r++) {
            for (i = 0; i < 4 && 4 * tj + i < p->ow; i++) {
                v[r][i][l] = fx__conv2d_ref_at(p->args, n, o0 + l, 4 * ti + r,
                                               4 * tj + i);
            }
        }
    }
    for (r = 0; r < 4; r++) {
        for (i = 0; i < 4; i++) {
            y[r][i] = _mm256_loadu_ps(v[r][i]);
        }
    }
}

/* y for output channels [o0, o0 + ob) of tiles [t0, t0 + nt), from M:
 * tile by tile (reading each tile's M in order), 8 channels at a time
 * (one per lane); bn: apply alpha/beta and act. Inlined with constant bn
 * (and act for the common ones), so the epilogue is straight code.
 *
 * A channel's tile holding an inf or NaN before the epilogue (an inf or
 * NaN in its input patch or weights, or an overflow in the transforms,
 * which scale values by up to 100 and 361) is recomputed by the direct
 * formula (direct_tile): Winograd spreads such a value over the tile and
 * can turn inf into NaN, or overflow where the direct sum does not. The
 * reverse cannot happen: a non-finite input or weight makes some entry
 * of V or U non-finite (B and G have full rank), hence an entry of M, of
 * every channel or every tile it meets, and that entry reaches some
 * output of the tile (each column of A^T has a non-zero); so the check
 * is on the 16 values of the tile, including those past the plane's
 * edge. Each is checked by one FMA, v * 0 + nf, which is NaN once any v
 * was. */
FX_INLINE void
output_tiles(const wino *p, int64_t t0, int64_t nt, int64_t o0, int64_t ob,
             const int bn, const int64_t act)
{
    const int64_t plane = p->oh * p->ow;
    int64_t t = t0, k = 0;

    while (t < t0 + nt) {
        int64_t n, ti, tj, j, o;
        const int64_t len = tile_run(p, t, t0 + nt, &n, &ti, &tj);
        const int64_t rows = p->oh - 4 * ti < 4 ? p->oh - 4 * ti : 4;
        float *yrow = p->y + (n * p->oc + o0) * plane + 4 * ti * p->ow;

        for (j = 0; j < len; j++) {
            const int64_t cl = p->ow - 4 * (tj + j);
            const int cols = (int)(cl < 4 ? cl : 4);

            for (o = 0; o < ob; o += 8) {
                const float *mk = p->m + (k + j) * 36 * OB + o;
                const int nch = (int)(ob - o < 8 ? ob - o : 8);
                const __m256 bias = p->bias != NULL
                                        ? load_part(p->bias + o0 + o, nch)
                                        : _mm256_setzero_ps();
                const __m256 zero = _mm256_setzero_ps();
                __m256 mm[6], a[6][4], col[6], y[4][4];
                __m256 al = bias, be = bias, nf = zero;
                int r, i, bad;

                /* along the rows of M: a[r][.] = (M A)[r][.] */
                for (r = 0; r < 6; r++) {
                    for (i = 0; i < 6; i++) {
                        mm[i] = _mm256_loadu_ps(mk + (r * 6 + i) * OB);
                    }
                    out_1d(mm, a[r]);
                }
                if (bn) {
                    al = load_part(p->alpha + o0 + o, nch);
                    be = load_part(p->beta + o0 + o, nch);
                }
                /* then the columns: y = A^T M A, + bias */
                for (i = 0; i < 4; i++) {
                    __m256 yc[4];

                    for (r = 0; r < 6; r++) {
                        col[r] = a[r][i];
                    }
                    out_1d(col, yc);
                    for (r = 0; r < 4; r++) {
                        y[r][i] = _mm256_add_ps(yc[r], bias);
                        nf = _mm256_fmadd_ps(y[r][i], zero, nf);
                    }
                }
                bad = _mm256_movemask_ps(_mm256_cmp_ps(nf, nf, _CMP_UNORD_Q))
                      & ((1 << nch) - 1);
                if (bad) {
                    direct_tile(p, n, ti, tj + j, o0 + o, bad, y);
                }
                for (i = 0; i < 4 && bn; i++) {
                    for (r = 0; r < 4; r++) {
                        /* as the GEMM path's epilogue, bit for bit */
                        y[r][i] = fx__v_bn_act(act, y[r][i], al, be);
                    }
                }
                for (r = 0; r < rows; r++) {
                    store_tile_row(y[r],
                                   yrow + o * plane + r * p->ow
                                       + 4 * (tj + j),
                                   plane, nch, cols);
                }
            }
        }
        t += len;
        k += len;
    }
}

static void
output_transform(const wino *p, int64_t t0, int64_t nt, int64_t o0,
                 int64_t ob)
{
    if (p->alpha == NULL) {
        output_tiles(p, t0, nt, o0, ob, 0, FX_ACT_NONE);
    }
    else if (p->act == FX_ACT_NONE) {
        output_tiles(p, t0, nt, o0, ob, 1, FX_ACT_NONE);
    }
    else if (p->act == FX_ACT_RELU) {
        output_tiles(p, t0, nt, o0, ob, 1, FX_ACT_RELU);
    }
    else {
        output_tiles(p, t0, nt, o0, ob, 1, p->act);
    }
}

/* ---- driver ----------------------------------------------------------- */

/*
 * Work split (ith, nth): by tiles, each thread transforming every weight
 * (once per block of tiles) for its share of the tiles; or by output
 * channels (in NR-channel panels), each thread transforming every input
 * tile and only its own channels' weights. With few tiles per thread
 * (batch 1 at 14x14 and below) the tile split repeats the whole weight
 * transform on every thread, so the channel split is cheaper there; with
 * many tiles the tile split is (the input transform is not repeated).
 * split_by_channels compares the two with the per-thread cost below, in
 * units of one GEMM multiply-add, and takes the channel split when it is
 * 10% cheaper. WINO_WT, the cost of transforming one 3x3 kernel, and
 * WINO_IT, one 6x6 input patch, were measured at 1 thread (C = OC = 256,
 * 7x7, batch 1: about 11 cycles a kernel, 16 multiply-adds a cycle; the
 * input transform at 14x14, C = 128).
 */
#define WINO_WT 180
#define WINO_IT 250

/* Per-thread cost of t tiles in blocks of at most tmax, o channels. */
static int64_t
wino_cost(int64_t t, int64_t o, int64_t tmax)
{
    const int64_t nb = (t + tmax - 1) / tmax;
    const int64_t rows = nb * ((t + nb - 1) / nb + MR - 1) / MR * MR;

    return 36 * round16(o) * rows + WINO_WT * o * nb + WINO_IT * t;
}

static int
split_by_channels(int64_t tiles, int64_t oc, int64_t tmax, int nth)
{
    const int64_t units = (oc + NR - 1) / NR;

    /* the model is rough: switch only when it promises 10% */
    return nth > 1
           && 10 * wino_cost(tiles, (units + nth - 1) / nth * NR, tmax)
                  < 9 * wino_cost((tiles + nth - 1) / nth, oc, tmax);
}

void
fx__f32_conv2d_winograd__avx2(const fx_kargs *a, int ith, int nth,
                              float *ws, const float *alpha,
                              const float *beta, int64_t act)
{
    const fx_conv2d_params *prm = a->params;
    const fx_tensor *x = &a->in[0], *w = &a->in[1];
    const int64_t n_batch = x->shape[0];
    const int64_t tmax = fx__winograd_tile_block(x->shape[1]);
    wino p;
    int64_t ntiles, t0, t1, oc0, oc1, nblocks, bmax, blk, obs;

    p.args = a;
    p.x = x->data;
    p.w = w->data;
    p.bias = a->n_in > 2 ? a->in[2].data : NULL;
    p.alpha = alpha;
    p.beta = beta;
    p.act = act;
    p.y = a->out->data;
    p.c = x->shape[1];
    p.h = x->shape[2];
    p.wd = x->shape[3];
    p.oc = w->shape[0];
    p.oh = a->out->shape[2];
    p.ow = a->out->shape[3];
    p.ph = prm->padding.v[0];
    p.pw = prm->padding.v[1];
    p.th = (p.oh + 3) / 4;
    p.tw = (p.ow + 3) / 4;
    ntiles = n_batch * p.th * p.tw;
    if (split_by_channels(ntiles, p.oc, tmax, nth)) {
        t0 = 0;
        t1 = ntiles;
        fx__split((p.oc + NR - 1) / NR, ith, nth, &oc0, &oc1);
        oc0 *= NR;
        oc1 = oc1 * NR < p.oc ? oc1 * NR : p.oc;
    }
    else {
        fx__split(ntiles, ith, nth, &t0, &t1);
        oc0 = 0;
        oc1 = p.oc;
    }
    if (t0 >= t1 || oc0 >= oc1) {
        return;
    }
    nblocks = (t1 - t0 + tmax - 1) / tmax;
    bmax = (t1 - t0 + nblocks - 1) / nblocks;
    /* V's rows as long as this thread's largest block (<= T) needs, so
     * that few tiles make a compact V; the bands as wide as its runs */
    p.ld = (bmax + 7) / 8 * 8;
    p.bw = 4 * (p.tw < bmax ? p.tw : bmax) + 10;
    /* the slot, as fx__winograd_workspace lays it out (V may be shorter) */
    /* xi planes 64 bytes more than a multiple of their size apart: the
     * 36 stores of one transform then hit 36 different cache sets
     * (planes a multiple of 4 KiB apart made the weight transform's
     * stores thrash one L1 set) */
    p.vxi = round16(p.c * p.ld) + 16;
    p.band = ws;
    p.v = p.band + round16(FX__WINO_BANDS(tmax));
    p.u = p.v + 36 * p.vxi;
    p.m = p.u + OB / NR * UOP;
    /* Output channels per U block: OB, or one panel for blocks of fewer
     * than 16 tiles (batch 1 at 7x7: 4), where each U value serves a few
     * multiply-adds only and U's 442 KiB at OB = 48, next to V, left L2:
     * with 147 KiB resnet50's 512-channel 7x7 convs took 8% less CPU
     * time (1 thread; no change with 16 tiles). */
    obs = bmax < 16 ? NR : OB;
    for (blk = 0; blk < nblocks; blk++) {
        const int64_t b0 = t0 + (t1 - t0) * blk / nblocks;
        const int64_t nt = t0 + (t1 - t0) * (blk + 1) / nblocks - b0;
        int64_t o0, c0, xi, t, op;

        input_transform(&p, p.x, b0, nt);
        for (o0 = oc0; o0 < oc1; o0 += obs) {
            const int64_t ob = oc1 - o0 < obs ? oc1 - o0 : obs;

            for (c0 = 0; c0 < p.c; c0 += KC) {
                const int64_t kc = p.c - c0 < KC ? p.c - c0 : KC;

                weight_transform(&p, o0, ob, c0, kc);
                for (xi = 0; xi < 36; xi++) {
                    const float *uxi = p.u + xi * UXI;
                    const float *vxi = p.v + xi * p.vxi + c0 * p.ld;

                    for (t = 0; t < nt; t += MR) {
                        for (op = 0; op < ob; op += NR) {
                            ukernel((int)(nt - t < MR ? nt - t : MR), kc,
                                    vxi + t, p.ld, uxi + op / NR * UOP, NR,
                                    p.m + (t * 36 + xi) * OB + op, 36 * OB,
                                    c0 > 0);
                        }
                    }
                }
            }
            output_transform(&p, b0, nt, o0, ob);
        }
    }
}
