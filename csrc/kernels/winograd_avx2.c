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
 * row, and processes it in blocks of T tiles, T from
 * fx__winograd_tile_block(C)):
 *
 *   for each block of T tiles:
 *     V = input transform of the block, all C channels      36 x C x T
 *     for each block of OB output channels:
 *       for each block of KC input channels:
 *         U = weight transform of (OB, KC)                  36 x OB x KC
 *         M[.][OB][T] (+)= U[xi] (OB x KC) * V[xi] (KC x T), for each xi
 *       y = output transform of M, + bias, then the epilogue
 *
 * The weights are transformed per call (they are the user's arrays) and
 * again per tile block: its cost is about 1/T of the GEMMs', which is why
 * T is as large as a ~1 MiB V allows. Every buffer is a part of the
 * thread's workspace slot (offsets as in fx__winograd_workspace).
 *
 * Layouts (floats; ld = T + 8 is the row length of V and M):
 *   V[xi][c][ld]       tile t of the block in column t (xi planes
 *                      padded by 16 floats, see the driver)
 *   U[xi][o][KC]       row o, input channel c - c0 in column c - c0
 *                      (same plane padding)
 *   M[o][xi][ld]       so the output transform of (o, t) reads 36 rows
 *   band[6][4*T + 64]  one zero-padded 6-row strip of one input channel:
 *                      the patches of a run of tiles of one tile row
 *
 * Vectorisation: the input and output transforms work on 8 tiles of one
 * tile row at a time (one AVX lane per tile): the strided patch columns
 * are pulled out of the band with in-register 4x8 transposes, and the
 * output tiles go back with the inverse transposes (scalar stores only
 * for a tile cut by the right edge). The weight transform works on 8
 * input channels at a time (an 8x8 transpose of their 3x3 kernels). The
 * GEMM is a 6x16 register tile: 6 output channels (broadcast from U) x 16
 * tiles (two vectors of V), accumulating over KC channels.
 *
 * Summation order: per KC block, each M element is an FMA chain over the
 * block's channels in order, added to the previous blocks' sum; every
 * tile's result depends only on its own data, not on the block or thread
 * it falls in, so any thread count gives the same bits.
 *
 * NaN/inf: a NaN or inf in an input patch makes the M entries of its
 * tile NaN/inf, so every output of the tile that depends on that input is
 * NaN (inf may become NaN through inf - inf), and possibly other outputs
 * of the same 4x4 tile too. Kernels never fail: nothing is checked here.
 */
#include <immintrin.h>
#include <string.h>

#include "kernels/activation_avx2.h"
#include "ops/ops.h"

#define KC FX__WINO_KC
#define OB FX__WINO_OB
#define NR 16
#define MR 6

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
 * A(i, k) = a[i*lda + k] (broadcast), B(k, j) = b[k*ldb + j] (two vector
 * loads per k), C(i, j) = c[i*ldc + j]. Inlined with a constant mr.
 */
FX_INLINE void
ukernel_mr(const int mr, int64_t kc, const float *FX_RESTRICT a,
           int64_t lda, const float *FX_RESTRICT b, int64_t ldb,
           float *FX_RESTRICT c, int64_t ldc, int add)
{
    const float *a0 = a;
    const float *a1 = a + (mr > 1 ? 1 : 0) * lda;
    const float *a2 = a + (mr > 2 ? 2 : 0) * lda;
    const float *a3 = a + (mr > 3 ? 3 : 0) * lda;
    const float *a4 = a + (mr > 4 ? 4 : 0) * lda;
    const float *a5 = a + (mr > 5 ? 5 : 0) * lda;
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
    const float *x, *w, *bias, *alpha, *beta;
    float *y;
    int64_t c, h, wd, oc, oh, ow, ph, pw;
    int64_t th, tw; /* tile rows and columns of one image */
    int64_t act; /* fx_act, applied after alpha/beta */
    /* this thread's buffers (see the file comment) */
    float *band, *v, *u, *m;
    int64_t ld, bw; /* row length of V and M; of the band */
    int64_t vxi, uxi; /* floats between the xi planes of V and U */
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

/* ---- weight transform ------------------------------------------------- */

/* g[k] = lane l: element k (0..8) of the 3x3 kernel src + 9*l, l < 8. */
FX_INLINE void
load_kernels8(const float *src, __m256 g[9])
{
    const __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + 9);
    const __m256 r2 = _mm256_loadu_ps(src + 18);
    const __m256 r3 = _mm256_loadu_ps(src + 27);
    const __m256 r4 = _mm256_loadu_ps(src + 36);
    const __m256 r5 = _mm256_loadu_ps(src + 45);
    const __m256 r6 = _mm256_loadu_ps(src + 54);
    const __m256 r7 = _mm256_loadu_ps(src + 63);
    /* 8x8 transpose: pairs, then quads, then 128-bit halves */
    const __m256 t0 = _mm256_unpacklo_ps(r0, r1);
    const __m256 t1 = _mm256_unpackhi_ps(r0, r1);
    const __m256 t2 = _mm256_unpacklo_ps(r2, r3);
    const __m256 t3 = _mm256_unpackhi_ps(r2, r3);
    const __m256 t4 = _mm256_unpacklo_ps(r4, r5);
    const __m256 t5 = _mm256_unpackhi_ps(r4, r5);
    const __m256 t6 = _mm256_unpacklo_ps(r6, r7);
    const __m256 t7 = _mm256_unpackhi_ps(r6, r7);
    const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44);
    const __m256 s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44);
    const __m256 s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44);
    const __m256 s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44);
    const __m256 s7 = _mm256_shuffle_ps(t5, t7, 0xEE);

    g[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    g[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    g[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    g[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    g[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    g[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    g[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    g[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
    g[8] = _mm256_setr_ps(src[8], src[17], src[26], src[35], src[44],
                          src[53], src[62], src[71]);
}

/* U[xi][o][j] for o < ob, j < kc: G w[o0 + o, c0 + j] G^T, 8 input
 * channels per step (lanes past kc are written, into the row's padding:
 * KC is a multiple of 8). */
static void
weight_transform(const wino *p, int64_t o0, int64_t ob, int64_t c0,
                 int64_t kc)
{
    int64_t o, j;
    int i, q;

    for (o = 0; o < ob; o++) {
        const float *wo = p->w + ((o0 + o) * p->c + c0) * 9;

        for (j = 0; j < kc; j += 8) {
            __m256 g[9], col[3][6], u[6];
            float tmp[72];

            if (kc - j >= 8) {
                load_kernels8(wo + j * 9, g);
            } else {
                memset(tmp, 0, sizeof(tmp));
                memcpy(tmp, wo + j * 9, (size_t)(kc - j) * 9 * sizeof(float));
                load_kernels8(tmp, g);
            }
            /* columns of g (kernel column q: g[q], g[3 + q], g[6 + q]) */
            for (q = 0; q < 3; q++) {
                w_1d(g[q], g[3 + q], g[6 + q], col[q]);
            }
            /* then rows: U[i][.] = G (row i of G g) */
            for (i = 0; i < 6; i++) {
                w_1d(col[0][i], col[1][i], col[2][i], u);
                for (q = 0; q < 6; q++) {
                    _mm256_storeu_ps(p->u + (i * 6 + q) * p->uxi + o * KC + j,
                                     u[q]);
                }
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

/* V[xi] for 8 consecutive tiles whose patches start at band columns
 * 0, 4, ..., 28 of src: stored at dst + xi * stride, 8 floats each. */
FX_INLINE void
input_group(const float *src, int64_t bw, float *dst, int64_t stride)
{
    __m256 h[6][6], d[6], t[6], s[6];
    int r, i, j;

    for (r = 0; r < 6; r++) {
        load_cols(src + r * bw, s);
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

/* band[r][k] = x[4*ti - PH + r][4*tj - PW + k] (0 outside the input) for
 * r < 6, k < 4*len + 2: the patches of tiles tj .. tj + len - 1. */
static void
fill_band(const wino *p, const float *plane, int64_t ti, int64_t tj,
          int64_t len)
{
    const int64_t width = 4 * len + 2, col0 = 4 * tj - p->pw;
    const int64_t lo = col0 < 0 ? -col0 : 0;
    int64_t hi = p->wd - col0, r;

    if (hi > width) {
        hi = width;
    }
    for (r = 0; r < 6; r++) {
        const int64_t row = 4 * ti - p->ph + r;
        float *d = p->band + r * p->bw;

        if (row < 0 || row >= p->h || hi <= lo) {
            memset(d, 0, (size_t)width * sizeof(float));
            continue;
        }
        memset(d, 0, (size_t)lo * sizeof(float));
        memcpy(d + lo, plane + row * p->wd + col0 + lo,
               (size_t)(hi - lo) * sizeof(float));
        memset(d + hi, 0, (size_t)(width - hi) * sizeof(float));
    }
}

/* V for tiles [t0, t0 + nt), all channels. A group of 8 writes all 8
 * lanes; lanes past a run are overwritten by the next run of the same
 * channel, or land in the row's 8 spare columns. */
static void
input_transform(const wino *p, const float *x, int64_t t0, int64_t nt)
{
    int64_t c;

    for (c = 0; c < p->c; c++) {
        int64_t t = t0, k = 0;

        while (t < t0 + nt) {
            int64_t n, ti, tj, j;
            const int64_t len = tile_run(p, t, t0 + nt, &n, &ti, &tj);

            fill_band(p, x + ((n * p->c) + c) * p->h * p->wd, ti, tj, len);
            for (j = 0; j < len; j += 8) {
                input_group(p->band + 4 * j, p->bw,
                            p->v + c * p->ld + k + j, p->vxi);
            }
            t += len;
            k += len;
        }
    }
}

/* ---- output transform ------------------------------------------------- */

/* Writes output row r of 8 tiles (y[j] = column j, lane = tile) to dst:
 * the first nfull tiles whole (4 floats each), via an 8x4 transpose. */
FX_INLINE void
store_row(const __m256 y[4], float *dst, int nfull)
{
    const __m256 t0 = _mm256_unpacklo_ps(y[0], y[1]);
    const __m256 t1 = _mm256_unpackhi_ps(y[0], y[1]);
    const __m256 t2 = _mm256_unpacklo_ps(y[2], y[3]);
    const __m256 t3 = _mm256_unpackhi_ps(y[2], y[3]);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44); /* tiles 0 | 4 */
    const __m256 u1 = _mm256_shuffle_ps(t0, t2, 0xEE); /* 1 | 5 */
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44); /* 2 | 6 */
    const __m256 u3 = _mm256_shuffle_ps(t1, t3, 0xEE); /* 3 | 7 */
    __m256 o[4];
    int q;

    o[0] = _mm256_permute2f128_ps(u0, u1, 0x20); /* tiles 0, 1 */
    o[1] = _mm256_permute2f128_ps(u2, u3, 0x20); /* 2, 3 */
    o[2] = _mm256_permute2f128_ps(u0, u1, 0x31); /* 4, 5 */
    o[3] = _mm256_permute2f128_ps(u2, u3, 0x31); /* 6, 7 */
    for (q = 0; q < nfull / 2; q++) {
        _mm256_storeu_ps(dst + 8 * q, o[q]);
    }
    if (nfull & 1) {
        _mm_storeu_ps(dst + 8 * q, _mm256_castps256_ps128(o[q]));
    }
}

/* y for output channels [o0, o0 + ob) of tiles [t0, t0 + nt), from M. */
static void
output_transform(const wino *p, int64_t t0, int64_t nt, int64_t o0,
                 int64_t ob)
{
    const int64_t plane = p->oh * p->ow;
    int64_t o;

    for (o = 0; o < ob; o++) {
        const int64_t oo = o0 + o;
        const float *mo = p->m + o * 36 * p->ld;
        const __m256 bias = _mm256_set1_ps(p->bias != NULL ? p->bias[oo]
                                                           : 0.0f);
        const __m256 al = _mm256_set1_ps(p->alpha != NULL ? p->alpha[oo]
                                                          : 1.0f);
        const __m256 be = _mm256_set1_ps(p->beta != NULL ? p->beta[oo]
                                                         : 0.0f);
        int64_t t = t0, k = 0;

        while (t < t0 + nt) {
            int64_t n, ti, tj, j;
            const int64_t len = tile_run(p, t, t0 + nt, &n, &ti, &tj);
            float *yp = p->y + (n * p->oc + oo) * plane;
            const int64_t rows = p->oh - 4 * ti < 4 ? p->oh - 4 * ti : 4;

            for (j = 0; j < len; j += 8) {
                const int nv = (int)(len - j < 8 ? len - j : 8);
                /* tiles wholly inside the output width come first */
                int64_t whole = p->ow / 4 - (tj + j);
                const int nfull = (int)(whole < 0    ? 0
                                        : whole > nv ? nv
                                                     : whole);
                __m256 mm[6], a[6][4], col[6], y[4][4];
                int r, i, l;

                /* along the rows of M: a[r][.] = (M A)[r][.] */
                for (r = 0; r < 6; r++) {
                    for (i = 0; i < 6; i++) {
                        mm[i] = _mm256_loadu_ps(mo + (r * 6 + i) * p->ld + k
                                                + j);
                    }
                    out_1d(mm, a[r]);
                }
                /* then the columns: y = A^T M A, + bias, epilogue */
                for (i = 0; i < 4; i++) {
                    __m256 yc[4];

                    for (r = 0; r < 6; r++) {
                        col[r] = a[r][i];
                    }
                    out_1d(col, yc);
                    for (r = 0; r < 4; r++) {
                        __m256 v = _mm256_add_ps(yc[r], bias);

                        if (p->alpha != NULL) {
                            /* as the GEMM path's epilogue, bit for bit */
                            v = fx__v_bn_act(p->act, v, al, be);
                        }
                        y[r][i] = v;
                    }
                }
                for (r = 0; r < rows; r++) {
                    float *dst = yp + (4 * ti + r) * p->ow + 4 * (tj + j);

                    store_row(y[r], dst, nfull);
                    if (nfull < nv) {
                        /* a tile cut by the right edge (at most one) */
                        float tmp[4][8];

                        for (i = 0; i < 4; i++) {
                            _mm256_storeu_ps(tmp[i], y[r][i]);
                        }
                        for (l = nfull; l < nv; l++) {
                            for (i = 0; i < 4 && 4 * (tj + j + l) + i < p->ow;
                                 i++) {
                                dst[4 * l + i] = tmp[i][l];
                            }
                        }
                    }
                }
            }
            t += len;
            k += len;
        }
    }
}

/* ---- driver ----------------------------------------------------------- */

FX_INLINE int64_t
round16(int64_t v)
{
    return (v + 15) / 16 * 16;
}

/*
 * Work split (ith, nth): by tiles, each thread transforming every weight
 * (once per block of tiles) for its share of the tiles; or by output
 * channels (in MR-row units), each thread transforming every input tile
 * and only its own channels' weights. With few tiles per thread (batch 1
 * at 14x14 and below) the tile split leaves the 16-tile GEMM panels half
 * empty and repeats the whole weight transform on every thread, so the
 * channel split is cheaper there; with many tiles the tile split is (the
 * input transform is not repeated). split_by_channels compares the two
 * with the per-thread cost below, in units of one GEMM multiply-add, and
 * takes the channel split when it is 10% cheaper.
 * WINO_WT, the cost of transforming one 3x3 kernel, was measured at 1
 * thread (C = OC = 64, 14x14, batch 1 vs 2: 250-275); the input
 * transform's WINO_IT (per 6x6 patch) is taken to be alike.
 */
#define WINO_WT 250
#define WINO_IT 250

/* Per-thread cost of t tiles in blocks of at most tmax, o channels. */
static int64_t
wino_cost(int64_t t, int64_t o, int64_t tmax)
{
    const int64_t nb = (t + tmax - 1) / tmax;
    const int64_t cols = nb * round16((t + nb - 1) / nb);

    return 36 * o * cols + WINO_WT * o * nb + WINO_IT * t;
}

static int
split_by_channels(int64_t tiles, int64_t oc, int64_t tmax, int nth)
{
    const int64_t units = (oc + MR - 1) / MR;

    /* the model is rough: switch only when it promises 10% */
    return nth > 1
           && 10 * wino_cost(tiles, (units + nth - 1) / nth * MR, tmax)
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
    int64_t ntiles, t0, t1, oc0, oc1, nblocks, blk;

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
    p.ld = tmax + 8;
    p.bw = 4 * tmax + 64;
    /* the slot, as fx__winograd_workspace lays it out */
    /* xi planes 64 bytes more than a multiple of their size apart: the
     * 36 stores of one transform then hit 36 different cache sets
     * (planes a multiple of 4 KiB apart made the weight transform's
     * stores thrash one L1 set) */
    p.vxi = round16(p.c * p.ld) + 16;
    p.uxi = OB * KC + 16;
    p.band = ws;
    p.v = p.band + round16(6 * p.bw);
    p.u = p.v + 36 * p.vxi;
    p.m = p.u + 36 * p.uxi;

    ntiles = n_batch * p.th * p.tw;
    if (split_by_channels(ntiles, p.oc, tmax, nth)) {
        t0 = 0;
        t1 = ntiles;
        fx__split((p.oc + MR - 1) / MR, ith, nth, &oc0, &oc1);
        oc0 *= MR;
        oc1 = oc1 * MR < p.oc ? oc1 * MR : p.oc;
    }
    else {
        fx__split(ntiles, ith, nth, &t0, &t1);
        oc0 = 0;
        oc1 = p.oc;
    }
    if (t0 >= t1 || oc0 >= oc1) {
        return;
    }
    /* Spare columns are read by the lanes of partial groups (results
     * thrown away): zero them once so they hold no NaN or denormal. */
    memset(p.band, 0, (size_t)(6 * p.bw) * sizeof(float));
    memset(p.m, 0, (size_t)(OB * 36 * p.ld) * sizeof(float));
    nblocks = (t1 - t0 + tmax - 1) / tmax;
    for (blk = 0; blk < nblocks; blk++) {
        const int64_t b0 = t0 + (t1 - t0) * blk / nblocks;
        const int64_t nt = t0 + (t1 - t0) * (blk + 1) / nblocks - b0;
        const int64_t ntp = (nt + NR - 1) / NR;
        int64_t o0, c0, row, xi, tp, op;

        if (nt < ntp * NR) {
            /* GEMM columns past the block's tiles: zero */
            for (xi = 0; xi < 36; xi++) {
                for (row = 0; row < p.c; row++) {
                    memset(p.v + xi * p.vxi + row * p.ld + nt, 0,
                           (size_t)(ntp * NR - nt) * sizeof(float));
                }
            }
        }
        input_transform(&p, p.x, b0, nt);
        for (o0 = oc0; o0 < oc1; o0 += OB) {
            const int64_t ob = oc1 - o0 < OB ? oc1 - o0 : OB;

            for (c0 = 0; c0 < p.c; c0 += KC) {
                const int64_t kc = p.c - c0 < KC ? p.c - c0 : KC;

                weight_transform(&p, o0, ob, c0, kc);
                for (xi = 0; xi < 36; xi++) {
                    const float *uxi = p.u + xi * p.uxi;
                    const float *vxi = p.v + xi * p.vxi + c0 * p.ld;

                    for (tp = 0; tp < ntp; tp++) {
                        for (op = 0; op < ob; op += MR) {
                            ukernel((int)(ob - op < MR ? ob - op : MR), kc,
                                    uxi + op * KC, KC, vxi + tp * NR, p.ld,
                                    p.m + (op * 36 + xi) * p.ld + tp * NR,
                                    36 * p.ld, c0 > 0);
                        }
                    }
                }
            }
            output_transform(&p, b0, nt, o0, ob);
        }
    }
}
