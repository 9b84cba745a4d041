/*
 * ops/activation.c - pointwise activations, elementwise on any shape
 * (x: any shape, y: like x). NaN stays NaN.
 *
 * hardswish(x)   = x * min(max(x + 3, 0), 6) / 6
 *                  torch: torch.nn.functional.hardswish(x)
 * hardsigmoid(x) = min(max(x + 3, 0), 6) / 6
 *                  torch: torch.nn.functional.hardsigmoid(x)
 * relu6(x)       = min(max(x, 0), 6)
 *                  torch: torch.nn.functional.relu6(x)
 * sigmoid(x)     = 1 / (1 + exp(-x))
 *                  torch: torch.sigmoid(x)
 * silu(x)        = x * sigmoid(x)
 *                  torch: torch.nn.functional.silu(x)
 * gelu(x)        = x/2 * (1 + erf(x / sqrt(2)))                 approximate 0
 *                = x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))   1
 *                  torch: torch.nn.functional.gelu(x, approximate=
 *                  "none" | "tanh")
 *
 * The transcendental ones are evaluated in double and rounded once, so
 * every result is within one float32 ulp of the exact value.
 */
#include <math.h>
#include <stddef.h>

#include "ops/ops.h"

/* ---- shared ---------------------------------------------------------- */

#define FX__NO_ATTRS(PREFIX, ID)                                           \
    const fx_attr_def PREFIX##_attrs[FX__NATTRS_##ID + 1] = {              \
        {NULL, FX_ATTR_INT, 0, 0, 0},                                      \
    }

/* Output = input shape; no workspace. */
static fx_status
same_shape(const fx_tensor *in, fx_tensor *out, size_t *workspace)
{
    *out = in[0];
    out->data = NULL;
    *workspace = 0;
    return FX_OK;
}

FX_INLINE float
sigmoid1(float x)
{
    return (float)(1.0 / (1.0 + exp(-(double)x)));
}

/* Defines the infer and reference kernel of a pointwise op from an
 * expression EXPR in the float variable v. */
#define FX__POINTWISE(PREFIX, EXPR)                                        \
    fx_status PREFIX##_infer(const void *params, int32_t n_in,             \
                             const fx_tensor *in, fx_tensor *out,          \
                             size_t *workspace, fx_error *err)             \
    {                                                                      \
        return same_shape(in, out, workspace);                             \
    }                                                                      \
                                                                           \
    void PREFIX##_ref(const fx_kargs *a, int ith, int nth)                 \
    {                                                                      \
        const float *x = a->in[0].data;                                    \
        float *y = a->out->data;                                           \
        int64_t i, begin, end;                                             \
                                                                           \
        fx__split(fx_tensor_numel(a->out), ith, nth, &begin, &end);        \
        for (i = begin; i < end; i++) {                                    \
            const float v = x[i];                                          \
                                                                           \
            y[i] = (EXPR);                                                 \
        }                                                                  \
    }

/* ---- hardswish, hardsigmoid, relu6 ---------------------------------- */

FX__NO_ATTRS(fx_hardswish, HARDSWISH);
FX__POINTWISE(fx_hardswish, fx__hardswish1(v))

FX__NO_ATTRS(fx_hardsigmoid, HARDSIGMOID);
FX__POINTWISE(fx_hardsigmoid, fx__hardsigmoid1(v))

FX__NO_ATTRS(fx_relu6, RELU6);
FX__POINTWISE(fx_relu6, fx__relu6_1(v))

/* ---- sigmoid, silu --------------------------------------------------- */

FX__NO_ATTRS(fx_sigmoid, SIGMOID);
FX__POINTWISE(fx_sigmoid, sigmoid1(v))

FX__NO_ATTRS(fx_silu, SILU);
FX__POINTWISE(fx_silu, fx__silu1(v))

/* ---- gelu ------------------------------------------------------------ */

const fx_attr_def fx_gelu_attrs[FX__NATTRS_GELU + 1] = {
    {"approximate", FX_ATTR_INT, 0, offsetof(fx_gelu_params, approximate), 0},
    {NULL, FX_ATTR_INT, 0, 0, 0},
};

fx_status
fx_gelu_infer(const void *params, int32_t n_in, const fx_tensor *in,
              fx_tensor *out, size_t *workspace, fx_error *err)
{
    const fx_gelu_params *p = params;

    if (p->approximate != 0 && p->approximate != 1) {
        return fx_error_set(err, FX_ERR_ARG,
                            "gelu: approximate must be 0 (exact, 'none') "
                            "or 1 ('tanh'), got %lld",
                            (long long)p->approximate);
    }
    return same_shape(in, out, workspace);
}

void
fx_gelu_ref(const fx_kargs *a, int ith, int nth)
{
    const fx_gelu_params *p = a->params;
    const float *x = a->in[0].data;
    float *y = a->out->data;
    const double sqrt_2_over_pi = 0.79788456080286535588;
    int64_t i, begin, end;

    fx__split(fx_tensor_numel(a->out), ith, nth, &begin, &end);
    if (p->approximate == 0) {
        for (i = begin; i < end; i++) {
            y[i] = fx__gelu1(x[i]);
        }
    } else {
        for (i = begin; i < end; i++) {
            const double v = x[i];
            const double u = sqrt_2_over_pi * (v + 0.044715 * v * v * v);

            y[i] = (float)(0.5 * v * (1.0 + tanh(u)));
        }
    }
}

/* ---- the fused ops' "act" attribute --------------------------------- */

fx_status
fx__act_check(const char *op, int64_t act, fx_error *err)
{
    if (act < 0 || act >= FX_ACT_COUNT) {
        return fx_error_set(err, FX_ERR_ARG,
                            "%s: act must be 0 (none), 1 (relu), 2 (relu6), "
                            "3 (hardswish), 4 (silu) or 5 (gelu), got %lld",
                            op, (long long)act);
    }
    return FX_OK;
}
