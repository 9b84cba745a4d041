/*
 * ops/ops.h - internal (fx__) declarations shared by the op files, the
 * registry and the ISA kernels: every op's typed params struct, attribute
 * schema, shape inference and reference kernel, all generated from
 * ops/ops.def, plus small helpers.
 *
 * The params structs are public to the core (the planner may read them,
 * e.g. to fold batch_norm into conv2d); they are filled by the binding
 * from the attribute schema and validated by the op's infer function.
 */
#ifndef FX_OPS_H
#define FX_OPS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "featx.h"

#if defined(__GNUC__)
#define FX_INLINE static inline __attribute__((always_inline))
#define FX_RESTRICT __restrict__
#elif defined(_MSC_VER)
#define FX_INLINE static __forceinline
#define FX_RESTRICT __restrict
#else
#define FX_INLINE static inline
#define FX_RESTRICT restrict
#endif
#define FX_UNUSED(x) ((void)(x))

/* ---- params structs (one per op family) ------------------------------ */

typedef struct fx_conv2d_params {
    fx_ints stride, padding, dilation; /* (H, W), pixels */
    int64_t groups;
    /* Optional, 0 if omitted; 1: the direct formula only, never Winograd
     * (whose larger rounding error batch-statistics BatchNorm can
     * magnify: nn.Conv2d asks for it in train mode). */
    int direct;
} fx_conv2d_params;

typedef struct fx_linear_params {
    int64_t act; /* fx_act, applied after the bias */
} fx_linear_params;

typedef struct fx_batch_norm_params {
    double eps;
    int64_t act; /* fx_act, applied after the affine */
} fx_batch_norm_params;

typedef struct fx_relu_params {
    int64_t unused_;
} fx_relu_params;

typedef struct fx_max_pool2d_params {
    fx_ints kernel_size, stride, padding, dilation;
    int ceil_mode;
} fx_max_pool2d_params;

typedef struct fx_avg_pool2d_params {
    fx_ints kernel_size, stride, padding;
    int ceil_mode, count_include_pad;
    int64_t divisor_override; /* 0 = none */
} fx_avg_pool2d_params;

typedef struct fx_adaptive_avg_pool2d_params {
    fx_ints output_size;
} fx_adaptive_avg_pool2d_params;

typedef struct fx_binary_params {
    int64_t unused_;
} fx_binary_params;
typedef fx_binary_params fx_add_params;
typedef fx_binary_params fx_sub_params;
typedef fx_binary_params fx_mul_params;
typedef fx_binary_params fx_div_params;
typedef fx_binary_params fx_add_relu_params;

typedef struct fx_flatten_params {
    int64_t start_dim, end_dim;
} fx_flatten_params;

typedef struct fx_reshape_params {
    fx_ints shape;
} fx_reshape_params;

typedef struct fx_cat_params {
    int64_t dim;
} fx_cat_params;

typedef struct fx_dropout_params {
    double p;
    int64_t seed;
} fx_dropout_params;

typedef struct fx_unary_params {
    int64_t unused_; /* no attributes */
} fx_unary_params;
typedef fx_unary_params fx_hardswish_params;
typedef fx_unary_params fx_hardsigmoid_params;
typedef fx_unary_params fx_relu6_params;
typedef fx_unary_params fx_silu_params;
typedef fx_unary_params fx_sigmoid_params;

typedef struct fx_gelu_params {
    int64_t approximate; /* 0 = exact (erf), 1 = tanh */
} fx_gelu_params;

typedef struct fx_layer_norm_params {
    int64_t normalized_ndim; /* normalise over the last k dims */
    double eps;
    int channels_first; /* x (N, C, ...) read as its permute (N, ..., C) */
} fx_layer_norm_params;

typedef struct fx_permute_params {
    fx_ints dims;
} fx_permute_params;

/* The activation batch_norm and conv2d_bn apply after the BN affine, and
 * linear after its bias (attribute "act"). */
typedef enum fx_act {
    FX_ACT_NONE = 0,
    FX_ACT_RELU = 1,
    FX_ACT_RELU6 = 2,
    FX_ACT_HARDSWISH = 3,
    FX_ACT_SILU = 4,
    FX_ACT_GELU = 5, /* gelu's exact (erf) form, approximate 0 */
    FX_ACT_COUNT
} fx_act;

/* mlp: linear -> act -> linear in one op (ops/mlp.c) */
typedef struct fx_mlp_params {
    int64_t act; /* fx_act, applied after the first linear's bias */
    int channels_first; /* y (N, OUT, ...) from x (N, ..., C) */
} fx_mlp_params;

/* conv2d_bn: conv2d's params first, so conv2d kernels can read them */
typedef struct fx_conv2d_bn_params {
    fx_conv2d_params conv;
    double eps;
    int64_t act; /* fx_act */
} fx_conv2d_bn_params;

/* The nchw8c layout's ops (ops/nchw8c.c) */
typedef fx_unary_params fx_to_nchw8c_params;
typedef fx_unary_params fx_from_nchw8c_params;
typedef fx_conv2d_bn_params fx_conv2d_bn_nchw8c_params;
typedef fx_adaptive_avg_pool2d_params fx_adaptive_avg_pool2d_nchw8c_params;
typedef fx_batch_norm_params fx_cat_batch_norm_params;

/* ---- per-op declarations, from ops.def ------------------------------ */

/* Number of attributes of each op. The attrs arrays are declared with
 * this size (+1 for the {NULL} terminator), so the compiler rejects an op
 * file whose schema disagrees. */
#define FX__NATTRS_CONV2D 5
#define FX__NATTRS_LINEAR 1
#define FX__NATTRS_BATCH_NORM 2
#define FX__NATTRS_RELU 0
#define FX__NATTRS_MAX_POOL2D 5
#define FX__NATTRS_AVG_POOL2D 6
#define FX__NATTRS_ADAPTIVE_AVG_POOL2D 1
#define FX__NATTRS_ADD 0
#define FX__NATTRS_SUB 0
#define FX__NATTRS_MUL 0
#define FX__NATTRS_DIV 0
#define FX__NATTRS_FLATTEN 2
#define FX__NATTRS_RESHAPE 1
#define FX__NATTRS_CAT 1
#define FX__NATTRS_DROPOUT 2
#define FX__NATTRS_HARDSWISH 0
#define FX__NATTRS_HARDSIGMOID 0
#define FX__NATTRS_RELU6 0
#define FX__NATTRS_SILU 0
#define FX__NATTRS_SIGMOID 0
#define FX__NATTRS_GELU 1
#define FX__NATTRS_LAYER_NORM 3
#define FX__NATTRS_PERMUTE 1
#define FX__NATTRS_CONV2D_BN 6
#define FX__NATTRS_ADD_RELU 0
#define FX__NATTRS_MLP 2
#define FX__NATTRS_TO_NCHW8C 0
#define FX__NATTRS_FROM_NCHW8C 0
#define FX__NATTRS_CONV2D_BN_NCHW8C 6
#define FX__NATTRS_ADAPTIVE_AVG_POOL2D_NCHW8C 1
#define FX__NATTRS_CAT_BATCH_NORM 2

#define FX_OP(ID, NAME, NMIN, NMAX, PREFIX, COST)                          \
    extern const fx_attr_def PREFIX##_attrs[FX__NATTRS_##ID + 1];          \
    fx_status PREFIX##_infer(const void *params, int32_t n_in,             \
                             const fx_tensor *in, fx_tensor *out,          \
                             size_t *workspace, fx_error *err);            \
    void PREFIX##_ref(const fx_kargs *a, int ith, int nth);
#include "ops/ops.def"
#undef FX_OP

/* ---- work estimates (fx_cost_fn, featx.h) --------------------------- */

/* The floats of out and of every input present (ndim >= 0). */
double fx__io_floats(int32_t n_in, const fx_tensor *in, const fx_tensor *out);

/* Units of work (fx_cost_fn) of the arithmetic ops, measured with the
 * AVX2 kernels on batch-1 layers of mobilenet_v3_large, efficientnet_b0,
 * densenet121 and resnet18 (one Zen3 core; an elementwise float took
 * 0.055 ns): a multiply-add of the packed GEMM or Winograd path (conv2d,
 * linear) costs about half a unit (0.011-0.03 ns), one of the direct
 * depthwise kernel two (0.1-0.25 ns), a window tap of a pooling kernel
 * four (0.2-0.35 ns, 2x2 and 3x3 windows of stride 2); a weight float is
 * read once per call, mostly from memory, so it counts eight in all
 * (0.35-0.9 ns per weight in the 1x1 convs on 1x1 planes of
 * squeeze-excitation blocks, whose work is reading their weights). */
#define FX__COST_GEMM_MADD 0.5
#define FX__COST_DW_MADD 2.0
#define FX__COST_POOL_TAP 4.0
#define FX__COST_WEIGHT 8.0

double fx_conv2d_cost(const void *params, int32_t n_in, const fx_tensor *in,
                      const fx_tensor *out);
double fx_conv2d_bn_cost(const void *params, int32_t n_in,
                         const fx_tensor *in, const fx_tensor *out);
double fx_linear_cost(const void *params, int32_t n_in, const fx_tensor *in,
                      const fx_tensor *out);
double fx_mlp_cost(const void *params, int32_t n_in, const fx_tensor *in,
                   const fx_tensor *out);
double fx_max_pool2d_cost(const void *params, int32_t n_in,
                          const fx_tensor *in, const fx_tensor *out);
double fx_avg_pool2d_cost(const void *params, int32_t n_in,
                          const fx_tensor *in, const fx_tensor *out);
double fx_conv2d_bn_nchw8c_cost(const void *params, int32_t n_in,
                                const fx_tensor *in, const fx_tensor *out);

/* ---- helpers -------------------------------------------------------- */

/* [begin, end) of the ith of nth near-equal parts of n items. */
FX_INLINE void
fx__split(int64_t n, int ith, int nth, int64_t *begin, int64_t *end)
{
    *begin = n * ith / nth;
    *end = n * (ith + 1) / nth;
}

/* Writes a tensor shape as "AxBxC" into buf (for messages). */
const char *fx__shape_str(const fx_tensor *t, char *buf, size_t size);

/* FX_OK if both values of the window attribute `name` of `op` (stride,
 * padding, dilation, kernel_size: (H, W)) lie in [lo, hi]; else an
 * FX_ERR_ARG naming that attribute, its range and the pair seen. hi ==
 * INT64_MAX means no upper bound. */
fx_status fx__check_pair(const char *op, const char *name, const int64_t *v,
                         int64_t lo, int64_t hi, fx_error *err);

/* The reference kernels' scalar activations (ops/activation.c has the
 * formulas); conv2d_bn's reference applies the same ones. NaN stays NaN. */
FX_INLINE float
fx__relu1(float v)
{
    return v < 0.0f ? 0.0f : v;
}

FX_INLINE float
fx__relu6_1(float v)
{
    return v < 0.0f ? 0.0f : (v > 6.0f ? 6.0f : v);
}

FX_INLINE float
fx__hardsigmoid1(float v)
{
    float t = v + 3.0f;

    if (t < 0.0f) {
        t = 0.0f;
    } else if (t > 6.0f) {
        t = 6.0f;
    }
    return t / 6.0f;
}

FX_INLINE float
fx__hardswish1(float v)
{
    return v * fx__hardsigmoid1(v);
}

FX_INLINE float
fx__silu1(float v)
{
    return (float)((double)v / (1.0 + exp(-(double)v)));
}

/* x/2 * (1 + erf(x / sqrt 2)) in double, rounded once. */
FX_INLINE float
fx__gelu1(float v)
{
    const double x = v;

    return (float)(0.5 * x * (1.0 + erf(x * 0.70710678118654752440)));
}

FX_INLINE float
fx__act1(int64_t act, float v)
{
    switch (act) {
    case FX_ACT_RELU:
        return fx__relu1(v);
    case FX_ACT_RELU6:
        return fx__relu6_1(v);
    case FX_ACT_HARDSWISH:
        return fx__hardswish1(v);
    case FX_ACT_SILU:
        return fx__silu1(v);
    case FX_ACT_GELU:
        return fx__gelu1(v);
    default:
        return v;
    }
}

/* Permute (ops/permute.c): 1 if the permutation of x is a batched 2-D
 * transpose x: (A, R, S) -> y: (A, S, R) once size-1 dims are dropped and
 * runs of dims kept in order merged, with *a_n, *r_n, *s_n set. */
int fx__permute_as_transpose(const fx_permute_params *p, const fx_tensor *x,
                             int64_t *a_n, int64_t *r_n, int64_t *s_n);

/* FX_OK if act is an fx_act, else FX_ERR_ARG with a message naming op. */
fx_status fx__act_check(const char *op, int64_t act, fx_error *err);

/* Output size of a sliding window along one dim (torch's pooling/conv
 * rule); returns <= 0 if the window does not fit. in, pad and dilation
 * are at most FX_MAX_NUMEL, kernel at most 2^62, stride any positive
 * int64. */
int64_t fx__window_out(int64_t in, int64_t kernel, int64_t stride,
                       int64_t pad, int64_t dilation, int ceil_mode);

/* Pooling (ops/pool2d.c): the number of (H, W) planes of a pooling
 * kernel's input and the plane sizes; and the reference computation of
 * outputs [j0, j1) of output row i of one plane (x: the input plane, y:
 * the output row), which the ISA kernels use for the border columns. */
void fx__pool_planes(const fx_kargs *a, int64_t *planes, int64_t *h,
                     int64_t *w, int64_t *oh, int64_t *ow);
void fx__max_pool2d_row(const fx_max_pool2d_params *p, const float *x,
                        int64_t h, int64_t w, float *y, int64_t i,
                        int64_t j0, int64_t j1);
void fx__avg_pool2d_row(const fx_avg_pool2d_params *p, const float *x,
                        int64_t h, int64_t w, float *y, int64_t i,
                        int64_t j0, int64_t j1);

/* The sum of x[0..n) in a fixed order (ops/pool2d.c, global average
 * pooling): x[k] is added to partial sum k % FX__SUM_LANES (each from
 * +0, in k order); then, for l < 8, s8[l] = (p[l] + p[l+8]) + (p[l+16] +
 * p[l+24]); s4[l] = s8[l] + s8[l+4]; s2[l] = s4[l] + s4[l+2]; the sum is
 * s2[0] + s2[1]. Vector kernels (four 8-lane accumulators) give the
 * same bits. */
#define FX__SUM_LANES 32
float fx__plane_sum(const float *x, int64_t n);

/* The same sum of x[0], x[stride], ..., x[(n-1)*stride] (one channel of
 * the nchw8c layout, for its global pooling). */
float fx__plane_sum_strided(const float *x, int64_t n, int64_t stride);

/* Blocking of the packed GEMM used by conv2d and linear (see
 * kernels/gemm_avx2.c): the right-hand side B (K x N) is packed per thread
 * in blocks of at most FX__GEMM_KC rows by FX__GEMM_NB panels of
 * FX__GEMM_NR columns. KC also fixes the order of summation over K
 * (partial sums of KC terms added to C), so it is part of the results. */
#define FX__GEMM_NR 16
#define FX__GEMM_KC 256
#define FX__GEMM_NB 8

/* Workspace (bytes PER THREAD, a multiple of 64) of that GEMM for a K x N
 * right-hand side: one packed KC x NB*NR block, bounded by 128 KiB
 * whatever K and N are. */
size_t fx__gemm_workspace(int64_t k, int64_t n);

/* linear (ops/linear.c): shape checks and output shape of
 * linear(x, w, b) (b NULL or ndim -1 if absent); messages start with op. */
fx_status fx__linear_shapes(const char *op, const fx_tensor *x,
                            const fx_tensor *w, const fx_tensor *b,
                            fx_tensor *out, fx_error *err);

/* One row of the linear reference: y[o] = act(acc + b[o]) for o < n,
 * acc = x[0]*w[o, 0] + ... + x[k-1]*w[o, k-1] summed from 0 in that order
 * (b may be NULL: 0); w: (n, k). */
void fx__linear_row(const float *x, const float *w, const float *b,
                    int64_t k, int64_t n, int64_t act, float *y);

/* layer_norm (ops/layer_norm.c): the row length D and the number of
 * rows of the output (its leading dims; channels_first: N * pixels). */
void fx__layer_norm_rows(const fx_kargs *a, int64_t *inner, int64_t *rows);

/* mlp (ops/mlp.c): the AVX2 kernel's rows per block for C input and OUT
 * output features: a multiple of FX__GEMM_NR, at most FX__MLP_ROWS, and
 * less when C + OUT is large, to bound the workspace (see mlp.c). */
#define FX__MLP_ROWS 128
int64_t fx__mlp_block_rows(int64_t c, int64_t n_out);
/* mlp: the pixels per image (1 unless channels_first; see ops/mlp.c). */
int64_t fx__mlp_pixels(const fx_kargs *a);

/* The binary ops (ops/binary.c), and one element of each as the reference
 * computes it (the AVX2 kernels' tails use it too, so both round alike). */
typedef enum fx__binop {
    FX__BINOP_ADD,
    FX__BINOP_SUB,
    FX__BINOP_MUL,
    FX__BINOP_DIV,
    FX__BINOP_ADD_RELU
} fx__binop;

/* X(name, op) for each binary op: the kernel files define theirs with it. */
#define FX__BINOPS(X)                                                      \
    X(add, FX__BINOP_ADD)                                                  \
    X(sub, FX__BINOP_SUB)                                                  \
    X(mul, FX__BINOP_MUL)                                                  \
    X(div, FX__BINOP_DIV)                                                  \
    X(add_relu, FX__BINOP_ADD_RELU)

FX_INLINE float
fx__binop_apply(fx__binop op, float x, float z)
{
    switch (op) {
    case FX__BINOP_ADD:
        return x + z;
    case FX__BINOP_SUB:
        return x - z;
    case FX__BINOP_MUL:
        return x * z;
    case FX__BINOP_ADD_RELU: {
        const float s = x + z;

        return s < 0.0f ? 0.0f : s;
    }
    default:
        return x / z;
    }
}

/* One run of a binary op's output (ops/binary.c): y[i] = x[i*sx] op
 * z[i*sz] for i < n, sx and sz 0 or 1; y may be x or z. */
typedef void (*fx__binary_row)(const float *x, int64_t sx, const float *z,
                               int64_t sz, float *y, int64_t n);

/* A binary op's kernel (ops/binary.c): broadcasting and the work split
 * (ith, nth), with `row` computing each run. */
void fx__binary_run(const fx_kargs *a, int ith, int nth, fx__binary_row row);

/* Direct depthwise conv2d (groups == C == OC) with AVX2+FMA
 * (kernels/dwconv2d_avx2.c), called by the AVX2 conv2d kernel for the
 * (n, c) output planes p0 <= n*C + c < p1 of its share, each followed by
 * the epilogue y = act(y * alpha[c] + beta[c]) (act an fx_act) when
 * alpha is non-NULL; finite: every weight is known to be finite. No
 * workspace. */
void fx__f32_dwconv2d__avx2(const fx_kargs *a, int64_t p0, int64_t p1,
                            const float *alpha, const float *beta,
                            int64_t act, int finite);

/* Eval-mode batch norm of channel c as the affine y = x*alpha + beta:
 * alpha = w[c] / sqrt(var[c] + eps), beta = b[c] - mean[c] * alpha, in
 * double, rounded to float (ops/batch_norm.c). st: mean, var, then the
 * optional w and b (n_st of them given; absent ones have data NULL). */
void fx__bn_affine(const fx_tensor *st, int32_t n_st, double eps, int64_t c,
                   float *alpha, float *beta);

/* cat_batch_norm (ops/batch_norm.c): the inputs in[FX__CAT_BN_X0..n_in) are
 * concatenated along dim 1. fx__batch_norm_planes: the kernel body of
 * batch_norm (cat 0) and cat_batch_norm (cat 1) shared by the reference
 * and AVX2 kernels, which differ only in `run`, y = act(x * alpha + beta)
 * over one (n, c) plane of n floats. */
#define FX__CAT_BN_X0 4
typedef void (*fx__bn_plane_fn)(const float *x, float *y, int64_t n,
                                float alpha, float beta, int64_t act);
void fx__batch_norm_planes(const fx_kargs *a, int ith, int nth,
                           fx__bn_plane_fn run, int cat);

/* Winograd F(4x4, 3x3) convolution (kernels/winograd_avx2.c), used by
 * the AVX2 conv2d and conv2d_bn kernels for 3x3 / stride 1 / dilation 1 /
 * groups 1 convs that fx__conv2d_winograd_ok accepts (a pure function of
 * the shapes, so infer and the kernels agree, and results do not depend
 * on the thread count). Per-thread workspace: fx__winograd_workspace(C,
 * OC) bytes (a multiple of 64), bounded by about 5.5 MiB whatever the
 * shapes (C is at most FX__WINO_CMAX, tiles are processed in blocks).
 * The output tile is 4x4; the GEMMs run over blocks of FX__WINO_KC input
 * and FX__WINO_OB output channels (a multiple of 16), which does not
 * change the summation order. */
#define FX__WINO_KC 64
#define FX__WINO_OB 48
#define FX__WINO_CMAX 1024
/* At most this many tiles per block; the bands of input rows of a block
 * of t tiles take at most FX__WINO_BANDS(t) floats. */
#define FX__WINO_TMAX 128
#define FX__WINO_BANDS(t) (6 * (22 * (t) + 20))
/* Output (n, o, i, j) of conv2d on a->params (read as fx_conv2d_params)
 * and a's x, w and optional bias, by the reference formula: the float
 * sum over (c, u, v), in that order, of the taps inside the input, then
 * + bias. fx_conv2d_ref computes every output so; the AVX2 kernels
 * recompute the few outputs where their algorithm would give another
 * inf/NaN pattern. */
float fx__conv2d_ref_at(const fx_kargs *a, int64_t n, int64_t o, int64_t i,
                        int64_t j);
int fx__conv2d_winograd_ok(const fx_conv2d_params *p, const fx_tensor *x,
                           const fx_tensor *w, int64_t oh, int64_t ow);
/* Tiles per block (a multiple of 16) for C input channels. */
int64_t fx__winograd_tile_block(int64_t c);
size_t fx__winograd_workspace(int64_t c, int64_t oc);
/* Runs the convolution of a (conv2d params first in a->params) with the
 * epilogue y = act(y * alpha[o] + beta[o]) (act an fx_act) when alpha
 * is non-NULL; ws: the thread's scratch, fx__winograd_workspace bytes. */
void fx__f32_conv2d_winograd__avx2(const fx_kargs *a, int ith, int nth,
                                   float *ws, const float *alpha,
                                   const float *beta, int64_t act);

/* conv2d_bn (ops/conv2d_bn.c): the per-channel affine of the fused
 * eval-mode batch norm, read from the kernel's live inputs: for every
 * output channel o, alpha[o] = w_bn[o] / sqrt(var[o] + eps) and
 * beta[o] = b_bn[o] - mean[o] * alpha[o] (double, rounded to float, as
 * the batch_norm op). A kernel keeps both arrays at the start of its
 * workspace slot: fx__conv2d_bn_affine_bytes(OC) bytes (a multiple of
 * 64), followed by the conv's GEMM block. */
size_t fx__conv2d_bn_affine_bytes(int64_t oc);
void fx__conv2d_bn_affine(const fx_kargs *a, float *alpha, float *beta);

/* The nchw8c layout (ops/nchw8c.c): (N, C/8, H, W, 8), element
 * (n, c, h, w) at [n, c / 8, h, w, c % 8].
 * fx__nchw8c_check: FX_OK if t (`name`, for the message) is a 5-D array
 * whose last dim is 8, else FX_ERR_SHAPE naming op and t's shape.
 * fx__nchw8c_plain: the (N, C, H, W) shape of the nchw8c array t (data
 * kept). */
fx_status fx__nchw8c_check(const char *op, const char *name,
                           const fx_tensor *t, fx_error *err);
void fx__nchw8c_plain(const fx_tensor *t, fx_tensor *plain);

/* conv2d_bn_nchw8c: 1 if the conv is its pointwise kind (1x1 kernel,
 * groups 1, stride 1, padding 0), else it is depthwise. The per-thread
 * workspace (output width ow): fx__conv2d_bn_affine_bytes(OC) bytes of
 * alpha and beta, then (pointwise) one block of packed weights, at most
 * FX__GEMM_KC input channels by FX__NCHW8C_OCB output channels (see
 * kernels/nchw8c_avx2.c), or (depthwise) one 8-channel block's taps,
 * KH*KW*8 floats rounded up to 16, then either a ring of
 * fx__dwconv_nchw8c_ring floats if that is not 0 (a 3x3 or 5x5 kernel
 * of stride 1 or 2, no dilation, and 8 rows of at most
 * FX__NCHW8C_RING_MAX floats: 4 or 8 zero-padded input rows of the
 * block, (W + 2*PW) pixels of 8 floats), or, if
 * fx__dwconv_nchw8c_padded, the block's zero-padded input planes,
 * (H + 2*PH) x (W + 2*PW) pixels of 8 floats: for output rows narrower
 * than FX__NCHW8C_PAD_OW (whose borders are a large share) and planes of
 * at most FX__NCHW8C_PAD_MAX floats. */
#define FX__NCHW8C_OCB 64
#define FX__NCHW8C_PAD_OW 32
#define FX__NCHW8C_PAD_MAX 32768
#define FX__NCHW8C_RING_MAX 1048576
int fx__conv2d_nchw8c_pointwise(const fx_conv2d_params *p,
                                const fx_tensor *w);
int64_t fx__dwconv_nchw8c_ring(const fx_conv2d_params *p, const fx_tensor *x,
                               const fx_tensor *w);
int fx__dwconv_nchw8c_padded(const fx_conv2d_params *p, const fx_tensor *x,
                             int64_t ow);
size_t fx__conv2d_bn_nchw8c_workspace(const fx_conv2d_params *p,
                                      const fx_tensor *x, const fx_tensor *w,
                                      int64_t ow);

#endif /* FX_OPS_H */
