/*
 * ops/layer_norm.c - layer normalisation over the last k dims.
 *
 *   x: (*, D1, .., Dk)   w, b: (D1, .., Dk) optional   y: like x
 *   for each of the rows r (the leading dims), over its D = D1*..*Dk
 *   elements:  mean = sum(x) / D,  var = sum((x - mean)^2) / D (biased),
 *   y = (x - mean) / sqrt(var + eps) * w + b
 *
 * Statistics are accumulated in double (two passes); the per-element
 * scale/shift is applied in float32. k = normalized_ndim >= 1.
 * torch equivalent: torch.nn.functional.layer_norm(x, x.shape[-k:], w, b,
 * eps).
 */
#include <math.h>
#include <stddef.h>

#include "ops/ops.h"

const fx_attr_def fx_layer_norm_attrs[FX__NATTRS_LAYER_NORM + 1] = {
    {"normalized_ndim", FX_ATTR_INT, 0,
     offsetof(fx_layer_norm_params, normalized_ndim), 0},
    {"eps", FX_ATTR_FLOAT, 0, offsetof(fx_layer_norm_params, eps), 0},
    {NULL, FX_ATTR_INT, 0, 0, 0},
};

static const char *const ln_names[3] = {"input", "weight", "bias"};

fx_status
fx_layer_norm_infer(const void *params, int32_t n_in, const fx_tensor *in,
                    fx_tensor *out, size_t *workspace, fx_error *err)
{
    const fx_layer_norm_params *p = params;
    const fx_tensor *x = &in[0];
    char s1[160], s2[160];
    int32_t i, d;
    int64_t k = p->normalized_ndim;

    if (k < 1 || k > x->ndim) {
        return fx_error_set(err, FX_ERR_ARG,
                            "layer_norm: normalized_ndim must be in [1, %d] "
                            "for an input of shape %s, got %lld",
                            (int)x->ndim, fx__shape_str(x, s1, sizeof(s1)),
                            (long long)k);
    }
    if (!(p->eps >= 0.0)) {
        return fx_error_set(err, FX_ERR_ARG,
                            "layer_norm: eps must be non-negative, got %g",
                            p->eps);
    }
    for (i = 1; i < n_in; i++) {
        int ok = in[i].ndim == k;

        if (in[i].ndim == -1) {
            continue; /* absent weight / bias */
        }
        for (d = 0; ok && d < k; d++) {
            ok = in[i].shape[d] == x->shape[x->ndim - k + d];
        }
        if (!ok) {
            return fx_error_set(err, FX_ERR_SHAPE,
                                "layer_norm: %s must have the shape of the "
                                "last %lld dims of the input %s, got %s",
                                ln_names[i], (long long)k,
                                fx__shape_str(x, s1, sizeof(s1)),
                                fx__shape_str(&in[i], s2, sizeof(s2)));
        }
    }
    *out = *x;
    out->data = NULL;
    *workspace = 0;
    return FX_OK;
}

/* Work items: rows (the product of the leading dims). */
void
fx_layer_norm_ref(const fx_kargs *a, int ith, int nth)
{
    const fx_layer_norm_params *p = a->params;
    const fx_tensor *x = &a->in[0];
    const float *w = a->n_in > 1 ? a->in[1].data : NULL;
    const float *b = a->n_in > 2 ? a->in[2].data : NULL;
    int64_t inner = 1, rows, r, i, begin, end;
    int32_t d;

    for (d = x->ndim - (int32_t)p->normalized_ndim; d < x->ndim; d++) {
        inner *= x->shape[d];
    }
    rows = inner > 0 ? fx_tensor_numel(x) / inner : 0;
    fx__split(rows, ith, nth, &begin, &end);
    for (r = begin; r < end; r++) {
        const float *FX_RESTRICT xs = x->data + r * inner;
        float *FX_RESTRICT y = a->out->data + r * inner;
        double sum = 0.0, sq = 0.0, mean;
        float fmean, rstd;

        for (i = 0; i < inner; i++) {
            sum += xs[i];
        }
        mean = sum / (double)inner;
        for (i = 0; i < inner; i++) {
            const double c = (double)xs[i] - mean;

            sq += c * c;
        }
        rstd = (float)(1.0 / sqrt(sq / (double)inner + p->eps));
        fmean = (float)mean;
        for (i = 0; i < inner; i++) {
            float v = (xs[i] - fmean) * rstd;

            if (w != NULL) {
                v *= w[i];
            }
            if (b != NULL) {
                v += b[i];
            }
            y[i] = v;
        }
    }
}
