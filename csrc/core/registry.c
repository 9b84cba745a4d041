/*
 * core/registry.c - the op registry and kernel dispatch, both expanded
 * from the X-macro tables ops/ops.def and kernels/kernels.def; plus the
 * small core utilities (fx_error_set, fx_tensor_numel, shape strings).
 * Everything here is static const: no mutable state.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ops/ops.h"

static const fx_op_info op_table[FX_OP_COUNT] = {
#define FX_OP(ID, NAME, NMIN, NMAX, PREFIX, COST)                          \
    [FX_OP_##ID] = {NAME,                                                  \
                    NMIN,                                                  \
                    NMAX,                                                  \
                    sizeof(PREFIX##_params),                               \
                    PREFIX##_attrs,                                        \
                    FX__NATTRS_##ID,                                       \
                    PREFIX##_infer,                                        \
                    PREFIX##_ref,                                          \
                    COST},
#include "ops/ops.def"
#undef FX_OP
};

/* Every op's params struct must fit the caller's buffer. */
#define FX_OP(ID, NAME, NMIN, NMAX, PREFIX, COST)                          \
    _Static_assert(sizeof(PREFIX##_params) <= FX_MAX_PARAMS,               \
                   "params of " NAME " exceed FX_MAX_PARAMS");             \
    _Static_assert(NMAX <= FX_MAX_INPUTS && NMIN <= NMAX,                  \
                   "bad input counts for " NAME);
#include "ops/ops.def"
#undef FX_OP

const fx_op_info *
fx_op_get(fx_op op)
{
    if ((int)op < 0 || op >= FX_OP_COUNT) {
        return NULL;
    }
    return &op_table[op];
}

const fx_op_info *
fx_op_find(const char *name)
{
    int i;

    if (name == NULL) {
        return NULL;
    }
    for (i = 0; i < FX_OP_COUNT; i++) {
        if (strcmp(op_table[i].name, name) == 0) {
            return &op_table[i];
        }
    }
    return NULL;
}

int
fx_op_elementwise(const fx_op_info *op)
{
    switch ((fx_op)(op - op_table)) {
    case FX_OP_RELU:
    case FX_OP_BATCH_NORM:
    case FX_OP_ADD:
    case FX_OP_SUB:
    case FX_OP_MUL:
    case FX_OP_DIV:
    case FX_OP_ADD_RELU:
    case FX_OP_DROPOUT:
    case FX_OP_HARDSWISH:
    case FX_OP_HARDSIGMOID:
    case FX_OP_RELU6:
    case FX_OP_SILU:
    case FX_OP_SIGMOID:
    case FX_OP_GELU:
        return 1;
    default:
        return 0;
    }
}

double
fx__io_floats(int32_t n_in, const fx_tensor *in, const fx_tensor *out)
{
    double floats = (double)fx_tensor_numel(out);
    int32_t i;

    for (i = 0; i < n_in; i++) {
        if (in[i].ndim >= 0) {
            floats += (double)fx_tensor_numel(&in[i]);
        }
    }
    return floats;
}

double
fx_op_cost(const fx_op_info *op, const void *params, int32_t n_in,
           const fx_tensor *in, const fx_tensor *out)
{
    if (op->cost != NULL) {
        return op->cost(params, n_in, in, out);
    }
    return fx__io_floats(n_in, in, out);
}

/* ---- kernel dispatch ------------------------------------------------ */

typedef struct kernel_entry {
    fx_op op;
    fx_isa isa;
    fx_kernel_fn fn;
    const char *name;
} kernel_entry;

#ifdef FX_HAVE_X86_KERNELS
#define FX_KERNEL(OPID, ISA, SYMBOL)                                       \
    void SYMBOL(const fx_kargs *a, int ith, int nth);
#include "kernels/kernels.def"
#undef FX_KERNEL

static const kernel_entry kernel_table[] = {
#define FX_KERNEL(OPID, ISA, SYMBOL) {FX_OP_##OPID, ISA, SYMBOL, #SYMBOL},
#include "kernels/kernels.def"
#undef FX_KERNEL
    {FX_OP_COUNT, FX_ISA_SCALAR, NULL, NULL},
};
#else
static const kernel_entry kernel_table[] = {
    {FX_OP_COUNT, FX_ISA_SCALAR, NULL, NULL},
};
#endif

static const char *const ref_names[FX_OP_COUNT] = {
#define FX_OP(ID, NAME, NMIN, NMAX, PREFIX, COST)                          \
    [FX_OP_##ID] = #PREFIX "_ref",
#include "ops/ops.def"
#undef FX_OP
};

static const kernel_entry *
best_kernel(const fx_op_info *op, unsigned isa_mask)
{
    const kernel_entry *best = NULL;
    fx_op id = (fx_op)(op - op_table);
    size_t i;

    for (i = 0; kernel_table[i].fn != NULL; i++) {
        const kernel_entry *e = &kernel_table[i];

        if (e->op == id && (isa_mask & FX_ISA_BIT(e->isa))
            && (best == NULL || e->isa > best->isa)) {
            best = e;
        }
    }
    return best;
}

fx_kernel_fn
fx_op_kernel(const fx_op_info *op, unsigned isa_mask)
{
    const kernel_entry *e = best_kernel(op, isa_mask);

    return e != NULL ? e->fn : op->ref;
}

const char *
fx_op_kernel_name(const fx_op_info *op, unsigned isa_mask)
{
    const kernel_entry *e = best_kernel(op, isa_mask);

    return e != NULL ? e->name : ref_names[op - op_table];
}

/* ---- utilities ------------------------------------------------------ */

fx_status
fx_error_set(fx_error *err, fx_status code, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL) {
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

int64_t
fx_tensor_numel(const fx_tensor *t)
{
    int64_t n = 1;
    int32_t i;

    for (i = 0; i < t->ndim; i++) {
        n *= t->shape[i];
    }
    return n;
}

fx_status
fx__check_pair(const char *op, const char *name, const int64_t *v,
               int64_t lo, int64_t hi, fx_error *err)
{
    char range[64];

    if (v[0] >= lo && v[0] <= hi && v[1] >= lo && v[1] <= hi) {
        return FX_OK;
    }
    if (hi == INT64_MAX) {
        snprintf(range, sizeof(range), ">= %lld", (long long)lo);
    }
    else if (hi == FX_MAX_NUMEL) {
        snprintf(range, sizeof(range), "in [%lld, 2**48]", (long long)lo);
    }
    else {
        snprintf(range, sizeof(range), "in [%lld, %lld]", (long long)lo,
                 (long long)hi);
    }
    return fx_error_set(err, FX_ERR_ARG,
                        "%s: %s must be %s in both dimensions, got %s "
                        "(%lld, %lld)",
                        op, name, range, name, (long long)v[0],
                        (long long)v[1]);
}

const char *
fx__shape_str(const fx_tensor *t, char *buf, size_t size)
{
    size_t used = 0;
    int32_t i;

    buf[0] = '\0';
    if (t->ndim == 0) {
        snprintf(buf, size, "()");
        return buf;
    }
    for (i = 0; i < t->ndim && used < size; i++) {
        int w = snprintf(buf + used, size - used, i ? ", %lld" : "(%lld",
                         (long long)t->shape[i]);

        if (w < 0) {
            break;
        }
        used += (size_t)w;
    }
    if (used < size) {
        snprintf(buf + used, size - used, t->ndim == 1 ? ",)" : ")");
    }
    return buf;
}

fx_status
fx_tensor_check_numel(const char *op, const fx_tensor *t, fx_error *err)
{
    char s[160];
    int64_t n = 1;
    int32_t i;

    for (i = 0; i < t->ndim; i++) {
        if (t->shape[i] == 0) {
            return FX_OK;
        }
    }
    for (i = 0; i < t->ndim; i++) {
        if (t->shape[i] > FX_MAX_NUMEL / n) {
            return fx_error_set(err, FX_ERR_SHAPE,
                                "%s: the output would have shape %s, more "
                                "than the 2**48 elements featx can hold",
                                op, fx__shape_str(t, s, sizeof(s)));
        }
        n *= t->shape[i];
    }
    return FX_OK;
}

int64_t
fx__window_out(int64_t in, int64_t kernel, int64_t stride, int64_t pad,
               int64_t dilation, int ceil_mode)
{
    int64_t num, out;

    /* A dilated kernel longer than 2^50 (> in + 2 * pad for any input
     * featx can hold) fits nowhere; checked before the product, which
     * could overflow. */
    if (kernel > 1 && dilation > (FX_MAX_NUMEL << 2) / (kernel - 1)) {
        return 0;
    }
    /* A stride longer than in + 2 * pad gives one window (or none) however
     * long it is: clamped, so that adding it cannot overflow. */
    if (stride > (FX_MAX_NUMEL << 2)) {
        stride = FX_MAX_NUMEL << 2;
    }
    num = in + 2 * pad - dilation * (kernel - 1) - 1
          + (ceil_mode ? stride - 1 : 0);

    /* floor division, as torch's pooling_output_shape: with ceil_mode an
     * input smaller than the window still gives one (clipped) window */
    out = (num >= 0 ? num / stride : -((-num + stride - 1) / stride)) + 1;
    if (out <= 0) {
        return 0;
    }
    /* ceil_mode: the last window must start inside the input or the
     * left padding. */
    if (ceil_mode && (out - 1) * stride >= in + pad) {
        out--;
    }
    return out;
}
