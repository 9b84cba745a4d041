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
} fx_conv2d_params;

typedef struct fx_linear_params {
    int64_t unused_; /* no attributes */
} fx_linear_params;

typedef struct fx_batch_norm_params {
    double eps;
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

/* ---- per-op declarations, from ops.def ------------------------------ */

/* Number of attributes of each op. The attrs arrays are declared with
 * this size (+1 for the {NULL} terminator), so the compiler rejects an op
 * file whose schema disagrees. */
#define FX__NATTRS_CONV2D 4
#define FX__NATTRS_LINEAR 0
#define FX__NATTRS_BATCH_NORM 1
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

#define FX_OP(ID, NAME, NMIN, NMAX, PREFIX)                                \
    extern const fx_attr_def PREFIX##_attrs[FX__NATTRS_##ID + 1];          \
    fx_status PREFIX##_infer(const void *params, int32_t n_in,             \
                             const fx_tensor *in, fx_tensor *out,          \
                             size_t *workspace, fx_error *err);            \
    void PREFIX##_ref(const fx_kargs *a, int ith, int nth);
#include "ops/ops.def"
#undef FX_OP

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

/* Output size of a sliding window along one dim (torch's pooling/conv
 * rule); returns <= 0 if the window does not fit. */
int64_t fx__window_out(int64_t in, int64_t kernel, int64_t stride,
                       int64_t pad, int64_t dilation, int ceil_mode);

/* Workspace (bytes) of the packed GEMM used by conv2d and linear for a
 * K x N right-hand side (see kernels/gemm_avx2.c). */
size_t fx__gemm_workspace(int64_t k, int64_t n);

#endif /* FX_OPS_H */
