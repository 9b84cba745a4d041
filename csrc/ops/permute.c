/*
 * ops/permute.c - dimension permutation, written as a contiguous copy.
 *
 *   x: (d0, .., d{n-1})   dims: a permutation of 0..n-1 (negative values
 *   count from the end)   y: (d[dims[0]], .., d[dims[n-1]])
 *   y[i0, .., i{n-1}] = x[j] with j[dims[k]] = ik.
 *
 * A permutation that is a batched 2-D transpose once runs of adjacent
 * dims are merged (NCHW <-> NHWC among others) is copied in 16 x 16
 * tiles, so both sides stay in cache; any other, one output row at a time.
 * Fast path: kernels/permute_avx2.c (the transposes in registers).
 * torch equivalent: torch.permute(x, dims).contiguous().
 */
#include <stddef.h>
#include <string.h>

#include "ops/ops.h"

const fx_attr_def fx_permute_attrs[FX__NATTRS_PERMUTE + 1] = {
    {"dims", FX_ATTR_INTS, 0, offsetof(fx_permute_params, dims), 0},
    {NULL, FX_ATTR_INT, 0, 0, 0},
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
                            "permute: dims must name each of the %d dims "
                            "of the input of shape %s once, got %d dims",
                            (int)x->ndim, fx__shape_str(x, s1, sizeof(s1)),
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

#define TILE 16 /* transpose tile: TILE x TILE floats */

/*
 * If the permutation, once size-1 dims are dropped and runs of input dims
 * kept together and in order are merged, is a batched 2-D transpose
 * x: (A, R, S) -> y: (A, S, R), sets *a_n, *r_n, *s_n and returns 1.
 */
int
fx__permute_as_transpose(const fx_permute_params *p, const fx_tensor *x,
                         int64_t *a_n, int64_t *r_n, int64_t *s_n)
{
    const int32_t nd = x->ndim;
    int64_t size[FX_MAX_DIMS], first[FX_MAX_DIMS];
    int64_t prev = -2;
    int32_t d, g = 0;

    for (d = 0; d < nd; d++) {
        const int64_t src = p->dims.v[d] < 0 ? p->dims.v[d] + nd
                                             : p->dims.v[d];

        if (x->shape[src] == 1) {
            continue;
        }
        if (g > 0 && src == prev + 1) {
            size[g - 1] *= x->shape[src];
        } else if (g == 3) {
            return 0;
        } else {
            first[g] = src;
            size[g++] = x->shape[src];
        }
        prev = src;
    }
    if (g == 2 && first[0] > first[1]) { /* (R, S) -> (S, R) */
        *a_n = 1;
        *s_n = size[0];
        *r_n = size[1];
        return 1;
    }
    if (g == 3 && first[0] < first[2] && first[2] < first[1]) {
        *a_n = size[0];
        *s_n = size[1];
        *r_n = size[2];
        return 1;
    }
    return 0;
}

/* y[a, s, r] = x[a, r, s] over TILE x TILE tiles; work items: (a, TILE
 * output rows). */
static void
transpose(const float *FX_RESTRICT x, float *FX_RESTRICT y, int64_t a_n,
          int64_t r_n, int64_t s_n, int ith, int nth)
{
    const int64_t bands = (s_n + TILE - 1) / TILE;
    int64_t item, begin, end, r0, s, r;

    fx__split(a_n * bands, ith, nth, &begin, &end);
    for (item = begin; item < end; item++) {
        const int64_t a = item / bands, s0 = item % bands * TILE;
        const int64_t s1 = s0 + TILE < s_n ? s0 + TILE : s_n;
        const float *xa = x + a * r_n * s_n;
        float *ya = y + a * r_n * s_n;

        for (r0 = 0; r0 < r_n; r0 += TILE) {
            const int64_t r1 = r0 + TILE < r_n ? r0 + TILE : r_n;

            for (s = s0; s < s1; s++) {
                for (r = r0; r < r1; r++) {
                    ya[s * r_n + r] = xa[r * s_n + s];
                }
            }
        }
    }
}

/* Work items: output rows (all output dims but the last), or transpose's
 * bands. */
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
    int64_t rows = 1, row, inner, begin, end, i, rem, ta, tr, ts;
    int32_t d;

    if (nd == 0) {
        if (ith == 0) {
            out->data[0] = x->data[0];
        }
        return;
    }
    if (fx__permute_as_transpose(p, x, &ta, &tr, &ts)) {
        transpose(x->data, out->data, ta, tr, ts, ith, nth);
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
