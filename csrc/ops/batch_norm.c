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
 *
 * cat_batch_norm(mean, var, w, b, x0, x1, ...): batch_norm (same attrs,
 * same float ops per element) of the concatenation of x0, x1, ... along
 * dim 1, read from the inputs (the concatenation is never stored): the
 * fused form of cat -> batch_norm (-> act), DenseNet's pre-activation of
 * all earlier feature maps. w and b are required (the plan fuses only an
 * affine batch_norm).
 *   x_i: (N, C_i, ...), equal except C_i   mean, var, w, b: (sum C_i)
 *   torch: act(batch_norm(torch.cat([x0, x1, ...], 1), mean, var, w, b,
 *   training=False, eps=eps)).
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

/* y = act(x * alpha + beta) over one plane of n floats. */
static void
bn_plane_ref(const float *xs, float *y, int64_t n, float alpha, float beta,
             int64_t act)
{
    int64_t i;

    if (act == FX_ACT_NONE) {
        for (i = 0; i < n; i++) {
            y[i] = xs[i] * alpha + beta;
        }
    } else {
        for (i = 0; i < n; i++) {
            y[i] = fx__act1(act, xs[i] * alpha + beta);
        }
    }
}

void
fx_batch_norm_ref(const fx_kargs *a, int ith, int nth)
{
    fx__batch_norm_planes(a, ith, nth, bn_plane_ref, 0);
}

/* ---- cat_batch_norm -------------------------------------------------- */

const fx_attr_def fx_cat_batch_norm_attrs[FX__NATTRS_CAT_BATCH_NORM + 1] = {
    {"eps", FX_ATTR_FLOAT, 0, offsetof(fx_cat_batch_norm_params, eps), 0},
    {"act", FX_ATTR_INT, 0, offsetof(fx_cat_batch_norm_params, act), 0},
    {NULL, FX_ATTR_INT, 0, 0, 0},
};

fx_status
fx_cat_batch_norm_infer(const void *params, int32_t n_in,
                        const fx_tensor *in, fx_tensor *out,
                        size_t *workspace, fx_error *err)
{
    const fx_cat_batch_norm_params *p = params;
    const fx_tensor *x0 = &in[FX__CAT_BN_X0];
    char s1[160], s2[160];
    int64_t total = 0;
    int32_t i, d;

    *workspace = 0;
    for (i = FX__CAT_BN_X0; i < n_in; i++) {
        const fx_tensor *xi = &in[i];

        if (xi->ndim < 2 || xi->ndim != x0->ndim) {
            return fx_error_set(err, FX_ERR_SHAPE,
                                "cat_batch_norm: input %d has shape %s, "
                                "expected %d dimensions (N, C, ...) as "
                                "input %d (shape %s), at least 2",
                                (int)i, fx__shape_str(xi, s1, sizeof(s1)),
                                (int)x0->ndim, FX__CAT_BN_X0,
                                fx__shape_str(x0, s2, sizeof(s2)));
        }
        for (d = 0; d < x0->ndim; d++) {
            if (d != 1 && xi->shape[d] != x0->shape[d]) {
                return fx_error_set(
                    err, FX_ERR_SHAPE,
                    "cat_batch_norm: sizes must match except in dim 1; "
                    "input %d has size %lld in dim %d (shape %s), "
                    "expected %lld (shape of input %d: %s)",
                    (int)i, (long long)xi->shape[d], (int)d,
                    fx__shape_str(xi, s1, sizeof(s1)),
                    (long long)x0->shape[d], FX__CAT_BN_X0,
                    fx__shape_str(x0, s2, sizeof(s2)));
            }
        }
        total += xi->shape[1];
    }
    *out = *x0;
    out->data = NULL;
    out->shape[1] = total;
    for (i = 0; i < FX__CAT_BN_X0; i++) {
        if (in[i].ndim != 1 || in[i].shape[0] != total) {
            return fx_error_set(err, FX_ERR_SHAPE,
                                "cat_batch_norm: %s must have shape "
                                "(%lld,) for the concatenation of shape "
                                "%s, got %s",
                                bn_names[i + 1], (long long)total,
                                fx__shape_str(out, s1, sizeof(s1)),
                                fx__shape_str(&in[i], s2, sizeof(s2)));
        }
    }
    if (!(p->eps >= 0.0)) {
        return fx_error_set(err, FX_ERR_ARG,
                            "cat_batch_norm: eps must be non-negative, "
                            "got %g",
                            p->eps);
    }
    return fx__act_check("cat_batch_norm", p->act, err) != FX_OK
               ? FX_ERR_ARG
               : FX_OK;
}

static const float *
cat_plane(int32_t n_in, const fx_tensor *in, int64_t n, int64_t c,
          int64_t inner)
{
    int32_t i = FX__CAT_BN_X0;

    while (i + 1 < n_in && c >= in[i].shape[1]) {
        c -= in[i].shape[1];
        i++;
    }
    return in[i].data + (n * in[i].shape[1] + c) * inner;
}

/* Work items: the output's (n, c) planes, each one run(plane of x, plane
 * of y, ...) with its channel's affine; cat: cat_batch_norm's inputs
 * (statistics first, the plane read from the input holding it), else
 * batch_norm's (x first). */
void
fx__batch_norm_planes(const fx_kargs *a, int ith, int nth,
                      fx__bn_plane_fn run, int cat)
{
    const fx_batch_norm_params *p = a->params;
    const int64_t c_n = a->out->shape[1];
    const int64_t planes = a->out->shape[0] * c_n;
    const int64_t inner = planes > 0 ? fx_tensor_numel(a->out) / planes : 0;
    const fx_tensor *st = cat ? a->in : &a->in[1];
    const int32_t n_st = cat ? FX__CAT_BN_X0 : a->n_in - 1;
    int64_t item, begin, end;

    fx__split(planes, ith, nth, &begin, &end);
    for (item = begin; item < end; item++) {
        float alpha, beta;

        fx__bn_affine(st, n_st, p->eps, item % c_n, &alpha, &beta);
        run(cat ? cat_plane(a->n_in, a->in, item / c_n, item % c_n, inner)
                : a->in[0].data + item * inner,
            a->out->data + item * inner, inner, alpha, beta, p->act);
    }
}

void
fx_cat_batch_norm_ref(const fx_kargs *a, int ith, int nth)
{
    fx__batch_norm_planes(a, ith, nth, bn_plane_ref, 1);
}
