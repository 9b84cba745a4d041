/*
 * ops/relu.c - rectified linear unit, elementwise on any shape.
 *
 *   y = max(x, 0); NaN stays NaN.
 *
 * torch equivalent: torch.nn.functional.relu(x).
 *
 * y[i] depends on x[i] only, so y may be x's buffer (in-place runs).
 */
#include <stddef.h>

#include "ops/ops.h"

const fx_attr_def fx_relu_attrs[FX__NATTRS_RELU + 1] = {
    {NULL, FX_ATTR_INT, 0, 0, 0},
};

fx_status
fx_relu_infer(const void *params, int32_t n_in, const fx_tensor *in,
              fx_tensor *out, size_t *workspace, fx_error *err)
{
    *out = in[0];
    out->data = NULL;
    *workspace = 0;
    return FX_OK;
}

void
fx_relu_ref(const fx_kargs *a, int ith, int nth)
{
    const float *x = a->in[0].data;
    float *y = a->out->data;
    int64_t i, begin, end;

    fx__split(fx_tensor_numel(a->out), ith, nth, &begin, &end);
    for (i = begin; i < end; i++) {
        y[i] = fx__relu1(x[i]);
    }
}
