/*
 * ops/permute.c - dimension permutation, written as a contiguous copy.
 *
 *   x: (d0, .., d{n-1})   dims: a permutation of 0..n-1 (negative values
 *   count from the end)   y: (d[dims[0]], .., d[dims[n-1]])
 *   y[i0, .., i{n-1}] = x[j] with j[dims[k]] = ik.
 *
 * torch equivalent: torch.permute(x, dims).contiguous().
 */
#include <stddef.h>
#include <string.h>

#include "ops/ops.h"

const fx_attr_def fx_permute_attrs[FX__NATTRS_PERMUTE + 1] = {
    {"dims", FX_ATTR_INTS, 0, offsetof(fx_permute_params, dims)},
    {NULL, FX_ATTR_INT, 0, 0},
};

fx_status
fx_permute_infer(const void *params, int32_t n_in, const fx_tensor *in,
                 fx_tensor *out, size_t *workspace, fx_error *err)
{
    const fx_permute_params *p = params;
    const fx_tensor *x = &in[0];
    char s1[160];
    int seen[FX_MAX_DIMS] = {0};
    int32_t i;

    *workspace = 0;
    if (p->dims.n != x->ndim) {
        return fx_error_set(err, FX_ERR_ARG,
                            "permute: number of dims don't match: the input "
                            "of shape %s has %d dims, got %d dims",
                            fx__shape_str(x, s1, sizeof(s1)), (int)x->ndim,
                            (int)p->dims.n);
    }
    out->ndim = x->ndim;
    out->data = NULL;
    for (i = 0; i < x->ndim; i++) {
        int64_t d = p->dims.v[i];

        if (d < -(int64_t)x->ndim || d >= x->ndim) {
            return fx_error_set(err, FX_ERR_ARG,
                                "permute: dim %lld out of range for a %d-D "
                                "input (expected in [%d, %d])",
                                (long long)d, (int)x->ndim, -(int)x->ndim,
                                (int)x->ndim - 1);
        }
        if (d < 0) {
            d += x->ndim;
        }
        if (seen[d]) {
            return fx_error_set(err, FX_ERR_ARG,
                                "permute: dim %lld is repeated in dims",
                                (long long)d);
        }
        seen[d] = 1;
        out->shape[i] = x->shape[d];
    }
    return FX_OK;
}

/* Work items: output rows (all output dims but the last). */
void
fx_permute_ref(const fx_kargs *a, int ith, int nth)
{
    const fx_permute_params *p = a->params;
    const fx_tensor *x = &a->in[0];
    const fx_tensor *out = a->out;
    const int32_t nd = out->ndim;
    int64_t xstride[FX_MAX_DIMS]; /* in elements, x's dims */
    int64_t step[FX_MAX_DIMS];    /* x stride of each output dim */
    int64_t idx[FX_MAX_DIMS];
    int64_t rows = 1, row, inner, begin, end, i, rem;
    int32_t d;

    if (nd == 0) {
        if (ith == 0) {
            out->data[0] = x->data[0];
        }
        return;
    }
    xstride[nd - 1] = 1;
    for (d = nd - 2; d >= 0; d--) {
        xstride[d] = xstride[d + 1] * x->shape[d + 1];
    }
    for (d = 0; d < nd; d++) {
        const int64_t src = p->dims.v[d] < 0 ? p->dims.v[d] + nd
                                             : p->dims.v[d];

        step[d] = xstride[src];
    }
    for (d = 0; d < nd - 1; d++) {
        rows *= out->shape[d];
    }
    inner = out->shape[nd - 1];
    fx__split(rows, ith, nth, &begin, &end);
    for (row = begin; row < end; row++) {
        const float *FX_RESTRICT xs = x->data;
        float *FX_RESTRICT y = out->data + row * inner;
        const int64_t last = step[nd - 1];

        rem = row;
        for (d = nd - 2; d >= 0; d--) {
            idx[d] = rem % out->shape[d];
            rem /= out->shape[d];
        }
        for (d = 0; d < nd - 1; d++) {
            xs += idx[d] * step[d];
        }
        if (last == 1) {
            if (inner > 0) {
                memcpy(y, xs, (size_t)inner * sizeof(float));
            }
        } else {
            for (i = 0; i < inner; i++) {
                y[i] = xs[i * last];
            }
        }
    }
}
