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
 *
 * channels_first (default 0; needs k = 1 and x at least 2-D): x is
 * (N, C, d2, .., dm) and y = layer_norm of x.permute(0, 2, .., m, 1),
 * shape (N, d2, .., dm, C), w and b (C): the permute NCHW -> NHWC in
 * front of ConvNeXt's LayerNorm (featx.fx.graph_module._fuse), without
 * the permuted array. Each row is the row the unfused permute gives, and
 * is normalised by the same code, so the results are equal bit for bit.
 */
#include <math.h>
#include <stddef.h>

#include "ops/ops.h"

const fx_attr_def fx_layer_norm_attrs[FX__NATTRS_LAYER_NORM + 1] = {
    {"normalized_ndim", FX_ATTR_INT, 0,
     offsetof(fx_layer_norm_params, normalized_ndim), 0},
    {"eps", FX_ATTR_FLOAT, 0, offsetof(fx_layer_norm_params, eps), 0},
    {"channels_first", FX_ATTR_BOOL, 0,
     offsetof(fx_layer_norm_params, channels_first), 1},
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
    if (p->channels_first && (k != 1 || x->ndim < 2)) {
        return fx_error_set(err, FX_ERR_ARG,
                            "layer_norm: channels_first needs "
                            "normalized_ndim 1 and an input (N, C, ...) of "
                            "at least 2 dimensions, got normalized_ndim "
                            "%lld and shape %s",
                            (long long)k, fx__shape_str(x, s1, sizeof(s1)));
    }
    *out = *x;
    out->data = NULL;
    if (p->channels_first) {
        for (d = 1; d < x->ndim - 1; d++) {
            out->shape[d] = x->shape[d + 1];
        }
        out->shape[x->ndim - 1] = x->shape[1];
    }
    for (i = 1; i < n_in; i++) {
        int ok = in[i].ndim == k;

        if (in[i].ndim == -1) {
            continue; /* absent weight / bias */
        }
        for (d = 0; ok && d < k; d++) {
            ok = in[i].shape[d] == out->shape[out->ndim - k + d];
        }
        if (!ok) {
            return fx_error_set(err, FX_ERR_SHAPE,
                                "layer_norm: %s must have the shape of the "
                                "last %lld dims of the %sinput %s, got %s",
                                ln_names[i], (long long)k,
                                p->channels_first ? "permuted " : "",
                                fx__shape_str(out, s1, sizeof(s1)),
                                fx__shape_str(&in[i], s2, sizeof(s2)));
        }
    }
    *workspace = 0;
    return FX_OK;
}

/* The row length (D) and the number of rows of layer_norm's output. */
void
fx__layer_norm_rows(const fx_kargs *a, int64_t *inner, int64_t *rows)
{
    const fx_layer_norm_params *p = a->params;
    const fx_tensor *y = a->out;
    int32_t d;

    *inner = 1;
    for (d = y->ndim - (int32_t)p->normalized_ndim; d < y->ndim; d++) {
        *inner *= y->shape[d];
    }
    *rows = *inner > 0 ? fx_tensor_numel(y) / *inner : 0;
}

/* Work items: rows (the product of the leading dims of y). With
 * channels_first, row r (pixel q = r % S of image r / S, S pixels per
 * image) is first gathered from x into y, then normalised in place. */
void
fx_layer_norm_ref(const fx_kargs *a, int ith, int nth)
{
    const fx_layer_norm_params *p = a->params;
    const float *w = a->n_in > 1 ? a->in[1].data : NULL;
    const float *b = a->n_in > 2 ? a->in[2].data : NULL;
    int64_t inner, rows, s, r, i, begin, end;

    fx__layer_norm_rows(a, &inner, &rows);
    s = rows > 0 ? rows / a->in[0].shape[0] : 1;
    fx__split(rows, ith, nth, &begin, &end);
    for (r = begin; r < end; r++) {
        float *y = a->out->data + r * inner;
        const float *xs = a->in[0].data + r * inner;
        double sum = 0.0, sq = 0.0, mean;
        float fmean, rstd;

        if (p->channels_first) {
            const float *xn = a->in[0].data + r / s * inner * s + r % s;

            for (i = 0; i < inner; i++) {
                y[i] = xn[i * s];
            }
            xs = y;
        }
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
