/*
 * ops/shape.c - shape ops that copy their input into the output:
 *
 * flatten(x, start_dim, end_dim): dims [start, end] (negative counts from
 *   the end) merged into one; a 0-d input gives shape (1,).
 *   torch: torch.flatten(x, start_dim, end_dim).
 * reshape(x, shape): same elements in C order, new shape; at most one -1
 *   (inferred). torch: torch.reshape(x, shape).
 * cat(x0, x1, ..., dim): concatenation along dim (negative allowed); all
 *   inputs have the same rank and equal sizes except along dim.
 *   torch: torch.cat([x0, x1, ...], dim).
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "ops/ops.h"

const fx_attr_def fx_flatten_attrs[FX__NATTRS_FLATTEN + 1] = {
    {"start_dim", FX_ATTR_INT, 0, offsetof(fx_flatten_params, start_dim), 0},
    {"end_dim", FX_ATTR_INT, 0, offsetof(fx_flatten_params, end_dim), 0},
    {NULL, FX_ATTR_INT, 0, 0, 0},
};

const fx_attr_def fx_reshape_attrs[FX__NATTRS_RESHAPE + 1] = {
    {"shape", FX_ATTR_INTS, 0, offsetof(fx_reshape_params, shape), 0},
    {NULL, FX_ATTR_INT, 0, 0, 0},
};

const fx_attr_def fx_cat_attrs[FX__NATTRS_CAT + 1] = {
    {"dim", FX_ATTR_INT, 0, offsetof(fx_cat_params, dim), 0},
    {NULL, FX_ATTR_INT, 0, 0, 0},
};

/* Copies the input (any shape) into the output (same numel). */
static void
copy_ref(const fx_kargs *a, int ith, int nth)
{
    int64_t begin, end;

    fx__split(fx_tensor_numel(a->out), ith, nth, &begin, &end);
    if (end > begin) {
        memcpy(a->out->data + begin, a->in[0].data + begin,
               (size_t)(end - begin) * sizeof(float));
    }
}

/* dim normalised into [0, nd), or -1 if out of range. */
static int64_t
wrap_dim(int64_t dim, int64_t nd)
{
    if (dim < -nd || dim >= nd) {
        return -1;
    }
    return dim < 0 ? dim + nd : dim;
}

/* ---- flatten -------------------------------------------------------- */

fx_status
fx_flatten_infer(const void *params, int32_t n_in, const fx_tensor *in,
                 fx_tensor *out, size_t *workspace, fx_error *err)
{
    const fx_flatten_params *p = params;
    const fx_tensor *x = &in[0];
    const int64_t nd = x->ndim > 0 ? x->ndim : 1;
    const int64_t s = wrap_dim(p->start_dim, nd);
    const int64_t e = wrap_dim(p->end_dim, nd);
    int64_t i, merged = 1;

    *workspace = 0;
    if (s < 0 || e < 0) {
        return fx_error_set(err, FX_ERR_ARG,
                            "flatten: %s %lld is out of range for a %d-D "
                            "input (expected in [%lld, %lld])",
                            s < 0 ? "start_dim" : "end_dim",
                            (long long)(s < 0 ? p->start_dim : p->end_dim),
                            (int)x->ndim, (long long)-nd,
                            (long long)(nd - 1));
    }
    if (s > e) {
        return fx_error_set(err, FX_ERR_ARG,
                            "flatten: start_dim (%lld) cannot come after "
                            "end_dim (%lld) for a %d-D input",
                            (long long)p->start_dim, (long long)p->end_dim,
                            (int)x->ndim);
    }
    out->data = NULL;
    if (x->ndim == 0) {
        out->ndim = 1;
        out->shape[0] = 1;
        return FX_OK;
    }
    out->ndim = (int32_t)(x->ndim - (e - s));
    for (i = 0; i < s; i++) {
        out->shape[i] = x->shape[i];
    }
    for (i = s; i <= e; i++) {
        merged *= x->shape[i];
    }
    out->shape[s] = merged;
    for (i = e + 1; i < x->ndim; i++) {
        out->shape[i - (e - s)] = x->shape[i];
    }
    return FX_OK;
}

void
fx_flatten_ref(const fx_kargs *a, int ith, int nth)
{
    copy_ref(a, ith, nth);
}

/* ---- reshape -------------------------------------------------------- */

fx_status
fx_reshape_infer(const void *params, int32_t n_in, const fx_tensor *in,
                 fx_tensor *out, size_t *workspace, fx_error *err)
{
    const fx_reshape_params *p = params;
    const fx_tensor *x = &in[0];
    const int64_t numel = fx_tensor_numel(x);
    char s1[160], s2[200];
    int64_t known = 1;
    int32_t i, infer_at = -1;
    size_t used = 0;

    *workspace = 0;
    /* the requested shape, for messages */
    s2[0] = '\0';
    for (i = 0; i < p->shape.n; i++) {
        int w = snprintf(s2 + used, sizeof(s2) - used, i ? ", %lld" : "(%lld",
                         (long long)p->shape.v[i]);

        used += w > 0 ? (size_t)w : 0;
        if (used >= sizeof(s2)) {
            used = sizeof(s2) - 1;
        }
    }
    snprintf(s2 + used, sizeof(s2) - used,
             p->shape.n == 0 ? "()" : (p->shape.n == 1 ? ",)" : ")"));
    for (i = 0; i < p->shape.n; i++) {
        const int64_t d = p->shape.v[i];

        if (d == -1) {
            if (infer_at >= 0) {
                return fx_error_set(err, FX_ERR_ARG,
                                    "reshape: only one dimension can be -1, "
                                    "got shape %s",
                                    s2);
            }
            infer_at = i;
        } else if (d < 0) {
            return fx_error_set(err, FX_ERR_ARG,
                                "reshape: invalid size %lld in shape %s",
                                (long long)d, s2);
        } else {
            known *= d;
        }
    }
    out->ndim = p->shape.n;
    out->data = NULL;
    for (i = 0; i < p->shape.n; i++) {
        out->shape[i] = p->shape.v[i];
    }
    if (infer_at >= 0) {
        if (known == 0 || numel % known != 0) {
            return fx_error_set(err, FX_ERR_SHAPE,
                                "reshape: shape %s is invalid for an input "
                                "of shape %s (%lld elements)",
                                s2, fx__shape_str(x, s1, sizeof(s1)),
                                (long long)numel);
        }
        out->shape[infer_at] = numel / known;
    } else if (known != numel) {
        return fx_error_set(err, FX_ERR_SHAPE,
                            "reshape: shape %s is invalid for an input of "
                            "shape %s (%lld elements)",
                            s2, fx__shape_str(x, s1, sizeof(s1)),
                            (long long)numel);
    }
    return FX_OK;
}

void
fx_reshape_ref(const fx_kargs *a, int ith, int nth)
{
    copy_ref(a, ith, nth);
}

/* ---- cat ------------------------------------------------------------ */

fx_status
fx_cat_infer(const void *params, int32_t n_in, const fx_tensor *in,
             fx_tensor *out, size_t *workspace, fx_error *err)
{
    const fx_cat_params *p = params;
    const fx_tensor *x0 = &in[0];
    char s1[160], s2[160];
    int64_t dim, total = 0;
    int32_t i, d;

    *workspace = 0;
    if (x0->ndim == 0) {
        return fx_error_set(err, FX_ERR_SHAPE,
                            "cat: input 0 is 0-d; zero-dimensional arrays "
                            "cannot be concatenated");
    }
    dim = wrap_dim(p->dim, x0->ndim);
    if (dim < 0) {
        return fx_error_set(err, FX_ERR_ARG,
                            "cat: dim %lld out of range for %d-D inputs "
                            "(expected in [%d, %d])",
                            (long long)p->dim, (int)x0->ndim,
                            (int)-x0->ndim, (int)x0->ndim - 1);
    }
    for (i = 0; i < n_in; i++) {
        const fx_tensor *xi = &in[i];

        if (xi->ndim != x0->ndim) {
            return fx_error_set(err, FX_ERR_SHAPE,
                                "cat: input %d has %d dims (shape %s), "
                                "input 0 has %d (shape %s)",
                                (int)i, (int)xi->ndim,
                                fx__shape_str(xi, s1, sizeof(s1)),
                                (int)x0->ndim,
                                fx__shape_str(x0, s2, sizeof(s2)));
        }
        for (d = 0; d < x0->ndim; d++) {
            if (d != dim && xi->shape[d] != x0->shape[d]) {
                return fx_error_set(
                    err, FX_ERR_SHAPE,
                    "cat: sizes must match except in dim %lld; input %d "
                    "has size %lld in dim %d (shape %s), expected %lld "
                    "(shape of input 0: %s)",
                    (long long)dim, (int)i, (long long)xi->shape[d], (int)d,
                    fx__shape_str(xi, s1, sizeof(s1)),
                    (long long)x0->shape[d],
                    fx__shape_str(x0, s2, sizeof(s2)));
            }
        }
        total += xi->shape[dim];
    }
    *out = *x0;
    out->data = NULL;
    out->shape[dim] = total;
    return FX_OK;
}

/* Work split: the output's floats in equal contiguous ranges (across
 * inputs and outer rows, so one image still spreads over threads). */
void
fx_cat_ref(const fx_kargs *a, int ith, int nth)
{
    const fx_cat_params *p = a->params;
    const fx_tensor *out = a->out;
    const int64_t dim = wrap_dim(p->dim, out->ndim);
    int64_t outer = 1, inner = 1, row, begin, end, o, at;
    int32_t d, i;

    for (d = 0; d < dim; d++) {
        outer *= out->shape[d];
    }
    for (d = (int32_t)dim + 1; d < out->ndim; d++) {
        inner *= out->shape[d];
    }
    /* the thread's share of the output's floats, each output row o (one
     * chunk per input) copied piecewise */
    row = out->shape[dim] * inner;
    fx__split(outer * row, ith, nth, &begin, &end);
    for (o = row > 0 ? begin / row : outer; o < outer && o * row < end; o++) {
        at = o * row;
        for (i = 0; i < a->n_in && at < end; i++) {
            const int64_t chunk = a->in[i].shape[dim] * inner;
            const int64_t c0 = begin > at ? begin - at : 0;
            const int64_t c1 = end < at + chunk ? end - at : chunk;

            if (c0 < c1) {
                memcpy(out->data + at + c0, a->in[i].data + o * chunk + c0,
                       (size_t)(c1 - c0) * sizeof(float));
            }
            at += chunk;
        }
    }
}
