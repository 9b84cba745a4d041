/*
 * ops/batch_norm.c - batch normalisation with given statistics (torch's
 * eval mode; training statistics are computed by the Python caller).
 *
 *   x: (N, C, ...)   mean, var: (C)   w, b: (C) optional   y: like x
 *   y = act((x - mean[c]) / sqrt(var[c] + eps) * w[c] + b[c])
 *   act (fx_act): 0 none, 1 relu, 2 relu6, 3 hardswish, 4 silu, 5 gelu,
 *   as the activation op's kernel of the same ISA (the fused form of
 *   bn -> act, equal to it bit for bit)
 *
 * Computed as y = x * alpha[c] + beta[c] with alpha = w / sqrt(var + eps)
 * and beta = b - mean * alpha (per-channel constants in double, the
 * per-element multiply-add in float32), as torch's CPU kernel does.
 * torch equivalent: act(torch.nn.functional.batch_norm(x, mean, var, w, b,
 * training=False, eps=eps)).
 */
#include <math.h>
#include <stddef.h>

#include "ops/ops.h"

const fx_attr_def fx_batch_norm_attrs[FX__NATTRS_BATCH_NORM + 1] = {
    {"eps", FX_ATTR_FLOAT, 0, offsetof(fx_batch_norm_params, eps), 0},
    {"act", FX_ATTR_INT, 0, offsetof(fx_batch_norm_params, act), 0},
    {NULL, FX_ATTR_INT, 0, 0, 0},
};

static const char *const bn_names[5] = {"input", "running_mean",
                                        "running_var", "weight", "bias"};

fx_status
fx_batch_norm_infer(const void *params, int32_t n_in, const fx_tensor *in,
                    fx_tensor *out, size_t *workspace, fx_error *err)
{
    const fx_batch_norm_params *p = params;
    const fx_tensor *x = &in[0];
    char s1[160], s2[160];
    int32_t i;

    if (x->ndim < 2) {
        return fx_error_set(err, FX_ERR_SHAPE,
                            "batch_norm: expected an input with at least 2 "
                            "dimensions (N, C, ...), got shape %s",
                            fx__shape_str(x, s1, sizeof(s1)));
    }
    if (!(p->eps >= 0.0)) {
        return fx_error_set(err, FX_ERR_ARG,
                            "batch_norm: eps must be non-negative, got %g",
                            p->eps);
    }
    if (fx__act_check("batch_norm", p->act, err) != FX_OK) {
        return FX_ERR_ARG;
    }
    for (i = 1; i < n_in; i++) {
        if (in[i].ndim == -1 && i >= 3) {
            continue; /* absent weight / bias */
        }
        if (in[i].ndim != 1 || in[i].shape[0] != x->shape[1]) {
            return fx_error_set(err, FX_ERR_SHAPE,
                                "batch_norm: %s must have shape (%lld,) "
                                "for an input of shape %s, got %s",
                                bn_names[i], (long long)x->shape[1],
                                fx__shape_str(x, s1, sizeof(s1)),
                                in[i].ndim == -1
                                    ? "None"
                                    : fx__shape_str(&in[i], s2, sizeof(s2)));
        }
    }
    *out = *x;
    out->data = NULL;
    *workspace = 0;
    return FX_OK;
}

void
fx__bn_affine(const fx_tensor *st, int32_t n_st, double eps, int64_t c,
              float *alpha, float *beta)
{
    const float *mean = st[0].data, *var = st[1].data;
    const float *w = n_st > 2 ? st[2].data : NULL;
    const float *b = n_st > 3 ? st[3].data : NULL;
    const double inv = 1.0 / sqrt((double)var[c] + eps);
    const double al = (w != NULL ? (double)w[c] : 1.0) * inv;

    *alpha = (float)al;
    *beta = (float)((b != NULL ? (double)b[c] : 0.0) - (double)mean[c] * al);
}

/* Work items: (n, c) planes. */
void
fx_batch_norm_ref(const fx_kargs *a, int ith, int nth)
{
    const fx_batch_norm_params *p = a->params;
    const fx_tensor *x = &a->in[0];
    const int64_t c_n = x->shape[1];
    const int64_t planes = x->shape[0] * c_n;
    const int64_t inner = planes > 0 ? fx_tensor_numel(x) / planes : 0;
    int64_t item, i, begin, end;

    fx__split(planes, ith, nth, &begin, &end);
    for (item = begin; item < end; item++) {
        const float *xs = x->data + item * inner;
        float *y = a->out->data + item * inner;
        float alpha, beta;

        fx__bn_affine(&a->in[1], a->n_in - 1, p->eps, item % c_n, &alpha,
                      &beta);
        if (p->act == FX_ACT_NONE) {
            for (i = 0; i < inner; i++) {
                y[i] = xs[i] * alpha + beta;
            }
        } else {
            for (i = 0; i < inner; i++) {
                y[i] = fx__act1(p->act, xs[i] * alpha + beta);
            }
        }
    }
}
