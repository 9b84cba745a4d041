/*
 * ops/linear.c - fully connected layer.
 *
 *   x: (..., IN)   w: (OUT, IN)   b: (OUT) optional   y: (..., OUT)
 *   y[r, o] = act(b[o] + sum_i x[r, i] * w[o, i])   (r runs over the
 *   leading dims of x; a 1-D x gives a 1-D y)
 *   act (fx_act, default 0 none): the activation after the bias, as the
 *   activation op's kernel of the same ISA computes it (the fused form of
 *   linear -> act, equal to it bit for bit)
 *
 * torch equivalent: act(torch.nn.functional.linear(x, w, b)).
 * Fast path: the packed GEMM in kernels/gemm_avx2.c (workspace reserved
 * here).
 */
#include <stddef.h>

#include "ops/ops.h"

const fx_attr_def fx_linear_attrs[FX__NATTRS_LINEAR + 1] = {
    {"act", FX_ATTR_INT, 0, offsetof(fx_linear_params, act), 0},
    {NULL, FX_ATTR_INT, 0, 0, 0},
};

fx_status
fx__linear_shapes(const char *op, const fx_tensor *x, const fx_tensor *w,
                  const fx_tensor *b, fx_tensor *out, fx_error *err)
{
    char s1[160], s2[160];
    int32_t i;

    if (x->ndim < 1) {
        return fx_error_set(err, FX_ERR_SHAPE,
                            "%s: expected an input with at least 1 "
                            "dimension (..., in_features), got shape %s",
                            op, fx__shape_str(x, s1, sizeof(s1)));
    }
    if (w->ndim != 2) {
        return fx_error_set(err, FX_ERR_SHAPE,
                            "%s: expected a 2-D weight (out_features, "
                            "in_features), got shape %s",
                            op, fx__shape_str(w, s1, sizeof(s1)));
    }
    if (x->shape[x->ndim - 1] != w->shape[1]) {
        return fx_error_set(err, FX_ERR_SHAPE,
                            "%s: input of shape %s has %lld features, "
                            "weight of shape %s expects %lld",
                            op, fx__shape_str(x, s1, sizeof(s1)),
                            (long long)x->shape[x->ndim - 1],
                            fx__shape_str(w, s2, sizeof(s2)),
                            (long long)w->shape[1]);
    }
    if (b != NULL && b->ndim != -1
        && (b->ndim != 1 || b->shape[0] != w->shape[0])) {
        return fx_error_set(err, FX_ERR_SHAPE,
                            "%s: expected bias of shape (%lld,), got "
                            "shape %s",
                            op, (long long)w->shape[0],
                            fx__shape_str(b, s1, sizeof(s1)));
    }
    out->ndim = x->ndim;
    for (i = 0; i < x->ndim - 1; i++) {
        out->shape[i] = x->shape[i];
    }
    out->shape[x->ndim - 1] = w->shape[0];
    return FX_OK;
}

fx_status
fx_linear_infer(const void *params, int32_t n_in, const fx_tensor *in,
                fx_tensor *out, size_t *workspace, fx_error *err)
{
    const fx_linear_params *p = params;
    const fx_tensor *w = &in[1];
    fx_status st = fx__act_check("linear", p->act, err);

    if (st == FX_OK) {
        st = fx__linear_shapes("linear", &in[0], w, n_in > 2 ? &in[2] : NULL,
                               out, err);
    }
    if (st != FX_OK) {
        return st;
    }
    *workspace = fx__gemm_workspace(w->shape[1], w->shape[0]);
    return FX_OK;
}

/* Work (fx_cost_fn): the GEMM's multiply-adds, the weights read once. */
double
fx_linear_cost(const void *params, int32_t n_in, const fx_tensor *in,
               const fx_tensor *out)
{
    const fx_tensor *w = &in[1];

    return fx__io_floats(n_in, in, out)
           + (FX__COST_WEIGHT - 1.0) * (double)fx_tensor_numel(w)
           + FX__COST_GEMM_MADD * (double)fx_tensor_numel(out)
                 * (double)w->shape[1];
}

void
fx__linear_row(const float *x, const float *w, const float *b, int64_t k,
               int64_t n, int64_t act, float *y)
{
    int64_t o, i;

    for (o = 0; o < n; o++) {
        const float *wo = w + o * k;
        float acc = 0.0f;

        for (i = 0; i < k; i++) {
            acc += x[i] * wo[i];
        }
        y[o] = fx__act1(act, acc + (b != NULL ? b[o] : 0.0f));
    }
}

/* Reference: one output row per work item. */
void
fx_linear_ref(const fx_kargs *a, int ith, int nth)
{
    const fx_linear_params *p = a->params;
    const fx_tensor *x = &a->in[0], *w = &a->in[1];
    const float *bias = a->n_in > 2 ? a->in[2].data : NULL;
    const int64_t k = w->shape[1], n_out = w->shape[0];
    const int64_t rows = k > 0 ? fx_tensor_numel(x) / k
                               : fx_tensor_numel(a->out) / (n_out ? n_out : 1);
    int64_t r, begin, end;

    fx__split(rows, ith, nth, &begin, &end);
    for (r = begin; r < end; r++) {
        fx__linear_row(x->data + r * k, w->data, bias, k, n_out, p->act,
                       a->out->data + r * n_out);
    }
}
