/*
 * ops/binary.c - elementwise add, sub, mul, div with NumPy/torch
 * broadcasting (one shared implementation, four ops).
 *
 *   a: shape A, b: shape B (either may be 0-d)
 *   y: broadcast(A, B): dims aligned from the right, each pair equal or
 *   one of them 1 (a missing dim counts as 1).
 *   y[idx] = a[idx mod A] op b[idx mod B], float32 IEEE arithmetic.
 *
 * add_relu: y = relu(a + b) (relu as ops/relu.c: NaN stays NaN), the
 * plan's fusion of a residual add and the ReLU reading it.
 *
 * torch equivalent: torch.add / sub / mul / div (true division) on
 * float32 tensors; add_relu: torch.relu(a + b).
 *
 * Every output element is computed from the input elements at the same
 * index only, so the output may be an input's buffer when that input has
 * the output's shape (the plan runs these ops in place).
 *
 * The broadcasting and work split (fx__binary_run) are shared with the
 * vector kernels (kernels/binary_avx2.c), which supply only the loop over
 * one run of the output (fx__binary_row).
 */
#include <stddef.h>

#include "ops/ops.h"

const fx_attr_def fx_add_attrs[FX__NATTRS_ADD + 1] = {
    {NULL, FX_ATTR_INT, 0, 0, 0}};
const fx_attr_def fx_sub_attrs[FX__NATTRS_SUB + 1] = {
    {NULL, FX_ATTR_INT, 0, 0, 0}};
const fx_attr_def fx_mul_attrs[FX__NATTRS_MUL + 1] = {
    {NULL, FX_ATTR_INT, 0, 0, 0}};
const fx_attr_def fx_div_attrs[FX__NATTRS_DIV + 1] = {
    {NULL, FX_ATTR_INT, 0, 0, 0}};
const fx_attr_def fx_add_relu_attrs[FX__NATTRS_ADD_RELU + 1] = {
    {NULL, FX_ATTR_INT, 0, 0, 0}};

static const char *const binop_names[5] = {"add", "sub", "mul", "div",
                                           "add_relu"};

static fx_status
binary_infer(fx__binop op, const fx_tensor *in, fx_tensor *out, fx_error *err)
{
    const fx_tensor *a = &in[0], *b = &in[1];
    const int32_t nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    char s1[160], s2[160];
    int32_t i;

    out->ndim = nd;
    out->data = NULL;
    for (i = 0; i < nd; i++) {
        const int32_t ia = a->ndim - nd + i, ib = b->ndim - nd + i;
        const int64_t da = ia >= 0 ? a->shape[ia] : 1;
        const int64_t db = ib >= 0 ? b->shape[ib] : 1;

        if (da != db && da != 1 && db != 1) {
            return fx_error_set(err, FX_ERR_SHAPE,
                                "%s: shapes %s and %s cannot be broadcast "
                                "together (dim %d: %lld vs %lld)",
                                binop_names[op],
                                fx__shape_str(a, s1, sizeof(s1)),
                                fx__shape_str(b, s2, sizeof(s2)), (int)i,
                                (long long)da, (long long)db);
        }
        out->shape[i] = da == 1 ? db : da;
    }
    return FX_OK;
}

/* Element strides of t viewed with the output's nd dims (0 where t is
 * broadcast). */
static void
bcast_strides(const fx_tensor *t, const fx_tensor *out, int64_t *st)
{
    int64_t s = 1;
    int32_t i;

    for (i = out->ndim - 1; i >= 0; i--) {
        const int32_t it = t->ndim - out->ndim + i;
        const int64_t d = it >= 0 ? t->shape[it] : 1;

        st[i] = d == 1 ? 0 : s;
        s *= d;
    }
}

/* Inner loop over n elements with strides (0 or 1) sa, sb. y may be a
 * or b (same index), so no restrict. */
FX_INLINE void
run_row(fx__binop op, const float *a, int64_t sa, const float *b, int64_t sb,
        float *y, int64_t n)
{
    int64_t i;

    if (sa == 1 && sb == 1) {
        for (i = 0; i < n; i++) {
            y[i] = fx__binop_apply(op, a[i], b[i]);
        }
    } else if (sa == 1) {
        const float bv = b[0];

        for (i = 0; i < n; i++) {
            y[i] = fx__binop_apply(op, a[i], bv);
        }
    } else if (sb == 1) {
        const float av = a[0];

        for (i = 0; i < n; i++) {
            y[i] = fx__binop_apply(op, av, b[i]);
        }
    } else {
        const float v = fx__binop_apply(op, a[0], b[0]);

        for (i = 0; i < n; i++) {
            y[i] = v;
        }
    }
}

/* The output's dims with neighbours merged where neither input switches
 * between broadcast (stride 0) and not, and size-1 dims dropped: a
 * merged dim is one run in memory for each input, whose element stride
 * is its innermost dim's (so 0 or 1 for the last one). E.g. SE's
 * (N, C, 1, 1) * (N, C, H, W) becomes (N*C, H*W). Sets shape, sa, sb
 * (from bcast_strides) and returns the number of dims, at least 1. */
static int32_t
coalesce(const fx_tensor *out, int64_t *shape, int64_t *sa, int64_t *sb)
{
    int32_t i, nd = 0;

    for (i = 0; i < out->ndim; i++) {
        if (out->shape[i] == 1) {
            continue;
        }
        if (nd > 0 && (sa[nd - 1] == 0) == (sa[i] == 0)
            && (sb[nd - 1] == 0) == (sb[i] == 0)) {
            shape[nd - 1] *= out->shape[i];
        } else {
            shape[nd++] = out->shape[i];
        }
        sa[nd - 1] = sa[i];
        sb[nd - 1] = sb[i];
    }
    if (nd == 0) {
        shape[0] = 1;
        sa[0] = sb[0] = 0;
        nd = 1;
    }
    return nd;
}

/* Whether t has the output's shape (no broadcasting). */
static int
same_shape(const fx_tensor *t, const fx_tensor *out)
{
    int32_t i;

    if (t->ndim != out->ndim) {
        return 0;
    }
    for (i = 0; i < t->ndim; i++) {
        if (t->shape[i] != out->shape[i]) {
            return 0;
        }
    }
    return 1;
}

/* Work split: blocks of 16 elements when no input is broadcast, else
 * rows of the last merged dim (see coalesce). */
void
fx__binary_run(const fx_kargs *a, int ith, int nth, fx__binary_row row)
{
    const fx_tensor *out = a->out;
    int64_t sa[FX_MAX_DIMS], sb[FX_MAX_DIMS], idx[FX_MAX_DIMS];
    int64_t shape[FX_MAX_DIMS];
    int64_t inner, rows, r, begin, end, rem;
    int32_t i, nd = out->ndim;

    if (nd == 0) {
        if (ith == 0) {
            row(a->in[0].data, 0, a->in[1].data, 0, out->data, 1);
        }
        return;
    }
    if (same_shape(&a->in[0], out) && same_shape(&a->in[1], out)) {
        const int64_t n = fx_tensor_numel(out);

        fx__split((n + 15) / 16, ith, nth, &begin, &end);
        begin *= 16;
        end = end * 16 < n ? end * 16 : n;
        if (begin < end) {
            row(a->in[0].data + begin, 1, a->in[1].data + begin, 1,
                out->data + begin, end - begin);
        }
        return;
    }
    bcast_strides(&a->in[0], out, sa);
    bcast_strides(&a->in[1], out, sb);
    if (fx_tensor_numel(out) == 0) {
        return;
    }
    nd = coalesce(out, shape, sa, sb);
    inner = shape[nd - 1];
    rows = fx_tensor_numel(out) / inner;
    fx__split(rows, ith, nth, &begin, &end);
    if (begin >= end) {
        return;
    }
    /* multi-index of row `begin` over dims [0, nd - 1) */
    rem = begin;
    for (i = nd - 2; i >= 0; i--) {
        idx[i] = rem % shape[i];
        rem /= shape[i];
    }
    for (r = begin; r < end; r++) {
        int64_t oa = 0, ob = 0;

        for (i = 0; i < nd - 1; i++) {
            oa += idx[i] * sa[i];
            ob += idx[i] * sb[i];
        }
        row(a->in[0].data + oa, sa[nd - 1], a->in[1].data + ob, sb[nd - 1],
            out->data + r * inner, inner);
        for (i = nd - 2; i >= 0; i--) {
            if (++idx[i] < shape[i]) {
                break;
            }
            idx[i] = 0;
        }
    }
}

#define DEFINE_BINARY(NAME, OP)                                            \
    static void NAME##_row(const float *x, int64_t sx, const float *z,     \
                           int64_t sz, float *y, int64_t n)                \
    {                                                                      \
        run_row(OP, x, sx, z, sz, y, n);                                   \
    }                                                                      \
    fx_status fx_##NAME##_infer(const void *params, int32_t n_in,          \
                                const fx_tensor *in, fx_tensor *out,       \
                                size_t *workspace, fx_error *err)          \
    {                                                                      \
        *workspace = 0;                                                    \
        return binary_infer(OP, in, out, err);                             \
    }                                                                      \
    void fx_##NAME##_ref(const fx_kargs *a, int ith, int nth)              \
    {                                                                      \
        fx__binary_run(a, ith, nth, NAME##_row);                           \
    }

FX__BINOPS(DEFINE_BINARY)
