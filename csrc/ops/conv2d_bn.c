/*
 * ops/conv2d_bn.c - conv2d followed by eval-mode batch norm and an
 * optional activation, in one pass (the fused form of conv -> bn -> act
 * that featx.fx.graph_module.compile_plan and Conv2dNormActivation emit).
 *
 *   inputs (x, w, b, mean, var, w_bn, b_bn), b/w_bn/b_bn may be None:
 *   x: (N, C, H, W)   w: (OC, C/G, KH, KW)   b: (OC) optional
 *   mean, var: (OC) required   w_bn, b_bn: (OC) optional
 *   y: (N, OC, OH, OW), OH/OW as conv2d
 *   z = conv2d(x, w, b, stride, padding, dilation, groups)
 *   y[n, o] = act(z[n, o] * alpha[o] + beta[o])
 *   alpha = w_bn / sqrt(var + eps),  beta = b_bn - mean * alpha
 *   act (fx_act): 0 none, 1 relu, 2 relu6, 3 hardswish, 4 silu, 5 gelu
 *
 * torch equivalent: act(batch_norm(conv2d(x, w, b, ...), mean, var,
 * w_bn, b_bn, training=False, eps=eps)).
 *
 * The BN inputs are read when the kernel runs (never folded into a copy
 * of the weights), so in-place updates of the model's arrays are seen.
 * alpha/beta are computed exactly as the batch_norm op does (double,
 * rounded to float, then a float multiply and a separate add) and act as
 * the activation op's kernel of the same ISA does, so the fused result
 * equals conv2d -> batch_norm -> act bit for bit.
 * Workspace per thread: alpha and beta, then conv2d's GEMM block.
 */
#include <stddef.h>

#include "ops/ops.h"

const fx_attr_def fx_conv2d_bn_attrs[FX__NATTRS_CONV2D_BN + 1] = {
    {"stride", FX_ATTR_INTS, 2, offsetof(fx_conv2d_bn_params, conv.stride), 0},
    {"padding", FX_ATTR_INTS, 2,
     offsetof(fx_conv2d_bn_params, conv.padding), 0},
    {"dilation", FX_ATTR_INTS, 2,
     offsetof(fx_conv2d_bn_params, conv.dilation), 0},
    {"groups", FX_ATTR_INT, 0, offsetof(fx_conv2d_bn_params, conv.groups), 0},
    {"eps", FX_ATTR_FLOAT, 0, offsetof(fx_conv2d_bn_params, eps), 0},
    {"act", FX_ATTR_INT, 0, offsetof(fx_conv2d_bn_params, act), 0},
    {NULL, FX_ATTR_INT, 0, 0, 0},
};

static const char *const bn_names[4] = {"running_mean", "running_var",
                                        "bn_weight", "bn_bias"};

size_t
fx__conv2d_bn_affine_bytes(int64_t oc)
{
    return ((size_t)(2 * oc) * sizeof(float) + 63) / 64 * 64;
}

void
fx__conv2d_bn_affine(const fx_kargs *a, float *alpha, float *beta)
{
    const fx_conv2d_bn_params *p = a->params;
    const int64_t oc = a->in[1].shape[0];
    int64_t o;

    for (o = 0; o < oc; o++) {
        fx__bn_affine(&a->in[3], a->n_in - 3, p->eps, o, &alpha[o], &beta[o]);
    }
}

fx_status
fx_conv2d_bn_infer(const void *params, int32_t n_in, const fx_tensor *in,
                   fx_tensor *out, size_t *workspace, fx_error *err)
{
    const fx_conv2d_bn_params *p = params;
    char s1[160];
    size_t ws = 0;
    int64_t oc;
    int32_t i;
    fx_status st;

    st = fx_conv2d_infer(&p->conv, n_in < 3 ? n_in : 3, in, out, &ws, err);
    if (st != FX_OK) {
        return st;
    }
    if (!(p->eps >= 0.0)) {
        return fx_error_set(err, FX_ERR_ARG,
                            "conv2d_bn: eps must be non-negative, got %g",
                            p->eps);
    }
    if (fx__act_check("conv2d_bn", p->act, err) != FX_OK) {
        return FX_ERR_ARG;
    }
    oc = in[1].shape[0];
    if (n_in < 5) {
        return fx_error_set(err, FX_ERR_ARG, "conv2d_bn: %s is required",
                            bn_names[n_in < 4 ? 0 : 1]);
    }
    for (i = 3; i < n_in; i++) {
        const fx_tensor *t = &in[i];

        if (t->ndim == -1) {
            if (i < 5) {
                return fx_error_set(err, FX_ERR_ARG,
                                    "conv2d_bn: %s is required",
                                    bn_names[i - 3]);
            }
            continue;
        }
        if (t->ndim != 1 || t->shape[0] != oc) {
            return fx_error_set(err, FX_ERR_SHAPE,
                                "conv2d_bn: expected %s of shape (%lld,) "
                                "(one per output channel), got shape %s",
                                bn_names[i - 3], (long long)oc,
                                fx__shape_str(t, s1, sizeof(s1)));
        }
    }
    *workspace = fx__conv2d_bn_affine_bytes(oc) + ws;
    return FX_OK;
}

/* Work (fx_cost_fn): conv2d's; the epilogue is in its stores. */
double
fx_conv2d_bn_cost(const void *params, int32_t n_in, const fx_tensor *in,
                  const fx_tensor *out)
{
    const fx_conv2d_bn_params *p = params;

    return fx_conv2d_cost(&p->conv, n_in, in, out);
}

/* Reference: conv2d's reference kernel, then the affine and act on the
 * same (n, o) planes (conv2d_ref splits N*OC planes the same way). */
void
fx_conv2d_bn_ref(const fx_kargs *a, int ith, int nth)
{
    const fx_conv2d_bn_params *p = a->params;
    const int64_t oc = a->in[1].shape[0];
    const int64_t plane = a->out->shape[2] * a->out->shape[3];
    int64_t item, i, begin, end;

    fx_conv2d_ref(a, ith, nth);
    fx__split(a->out->shape[0] * oc, ith, nth, &begin, &end);
    for (item = begin; item < end; item++) {
        float *FX_RESTRICT y = a->out->data + item * plane;
        float alpha, beta;

        fx__bn_affine(&a->in[3], a->n_in - 3, p->eps, item % oc, &alpha,
                      &beta);
        for (i = 0; i < plane; i++) {
            float v = y[i] * alpha;

            v = v + beta;
            y[i] = fx__act1(p->act, v);
        }
    }
}
