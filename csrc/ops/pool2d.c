/*
 * ops/pool2d.c - 2-D pooling over the last two dims of a (N, C, H, W) or
 * (C, H, W) input.
 *
 * max_pool2d: y[.., i, j] = max over taps (p, q) < (KH, KW) of
 *   x[.., i*SH - PH + p*DH, j*SW - PW + q*DW], taps outside the input
 *   skipped (implicit -inf padding); NaN propagates.
 *   OH = floor or ceil((H + 2*PH - DH*(KH-1) - 1) / SH) + 1; with
 *   ceil_mode the last window must start inside the input or the left
 *   padding ((OH-1)*SH < H + PH), else OH is reduced by one. PH <=
 *   KH / 2, the undilated kernel (torch checks both this and the
 *   dilated PH <= (DH*(KH-1) + 1) / 2, which it implies).
 *   torch: F.max_pool2d(x, k, s, p, d, ceil_mode).
 *
 * avg_pool2d: window rows [i*SH - PH, min(i*SH - PH + KH, H + PH)), cols
 *   likewise (clipped to the padded input: a ceil_mode overhang is never
 *   counted). Sum over its part inside the input, divided by
 *   divisor_override if non-zero, else by the padded-window size if
 *   count_include_pad, else by the in-input size. OH as for max_pool2d
 *   with D = 1; PH <= KH / 2. torch: F.avg_pool2d(x, k, s, p, ceil_mode,
 *   count_include_pad, divisor_override or None).
 *
 * adaptive_avg_pool2d: bin i covers rows [floor(i*H/OH),
 *   ceil((i+1)*H/OH)), cols likewise; y = mean over the bin: the sum in
 *   row-major order, divided by the bin's size. A whole-plane bin
 *   (OH = OW = 1, global pooling) is summed in the order of
 *   fx__plane_sum (32 interleaved partial sums), which a vector kernel
 *   follows exactly and which rounds less than one running sum.
 *   torch: F.adaptive_avg_pool2d(x, (OH, OW)).
 */
#include <math.h>
#include <stddef.h>

#include "ops/ops.h"

const fx_attr_def fx_max_pool2d_attrs[FX__NATTRS_MAX_POOL2D + 1] = {
    {"kernel_size", FX_ATTR_INTS, 2,
     offsetof(fx_max_pool2d_params, kernel_size), 0},
    {"stride", FX_ATTR_INTS, 2, offsetof(fx_max_pool2d_params, stride), 0},
    {"padding", FX_ATTR_INTS, 2, offsetof(fx_max_pool2d_params, padding), 0},
    {"dilation", FX_ATTR_INTS, 2, offsetof(fx_max_pool2d_params, dilation),
     0},
    {"ceil_mode", FX_ATTR_BOOL, 0, offsetof(fx_max_pool2d_params, ceil_mode),
     0},
    {NULL, FX_ATTR_INT, 0, 0, 0},
};

const fx_attr_def fx_avg_pool2d_attrs[FX__NATTRS_AVG_POOL2D + 1] = {
    {"kernel_size", FX_ATTR_INTS, 2,
     offsetof(fx_avg_pool2d_params, kernel_size), 0},
    {"stride", FX_ATTR_INTS, 2, offsetof(fx_avg_pool2d_params, stride), 0},
    {"padding", FX_ATTR_INTS, 2, offsetof(fx_avg_pool2d_params, padding), 0},
    {"ceil_mode", FX_ATTR_BOOL, 0, offsetof(fx_avg_pool2d_params, ceil_mode),
     0},
    {"count_include_pad", FX_ATTR_BOOL, 0,
     offsetof(fx_avg_pool2d_params, count_include_pad), 0},
    {"divisor_override", FX_ATTR_INT, 0,
     offsetof(fx_avg_pool2d_params, divisor_override), 0},
    {NULL, FX_ATTR_INT, 0, 0, 0},
};

const fx_attr_def
    fx_adaptive_avg_pool2d_attrs[FX__NATTRS_ADAPTIVE_AVG_POOL2D + 1] = {
        {"output_size", FX_ATTR_INTS, 2,
         offsetof(fx_adaptive_avg_pool2d_params, output_size), 0},
        {NULL, FX_ATTR_INT, 0, 0, 0},
};

/* Shared checks of a pooling op; sets out (N, C, OH, OW) or (C, OH, OW). */
static fx_status
pool_infer(const char *op, const fx_tensor *x, const fx_ints *ks,
           const fx_ints *st, const fx_ints *pad, const int64_t *dil,
           int ceil_mode, fx_tensor *out, fx_error *err)
{
    char s1[160];
    int64_t o[2];
    int i;

    if (x->ndim != 3 && x->ndim != 4) {
        return fx_error_set(err, FX_ERR_SHAPE,
                            "%s: expected a 3-D (C, H, W) or 4-D (N, C, H, "
                            "W) input, got shape %s",
                            op, fx__shape_str(x, s1, sizeof(s1)));
    }
    for (i = x->ndim - 3; i < x->ndim; i++) {
        if (x->shape[i] < 1) {
            return fx_error_set(err, FX_ERR_SHAPE,
                                "%s: expected non-empty (C, H, W) dims, got "
                                "input shape %s",
                                op, fx__shape_str(x, s1, sizeof(s1)));
        }
    }
    if (fx__check_pair(op, "kernel_size", ks->v, 1, FX_MAX_NUMEL, err)
        || fx__check_pair(op, "stride", st->v, 1, INT64_MAX, err)
        || fx__check_pair(op, "dilation", dil, 1, FX_MAX_NUMEL, err)) {
        return FX_ERR_ARG;
    }
    /* torch's limit is half the kernel_size itself, dilation not counted
     * (for max_pool2d it checks the dilated size too, which is larger) */
    for (i = 0; i < 2; i++) {
        if (pad->v[i] < 0 || pad->v[i] > ks->v[i] / 2) {
            return fx_error_set(
                err, FX_ERR_ARG,
                "%s: padding should be non-negative and at most half of "
                "kernel_size (dilation not counted), but got padding "
                "(%lld, %lld), kernel_size (%lld, %lld) and dilation "
                "(%lld, %lld); the largest padding allowed is (%lld, %lld)",
                op, (long long)pad->v[0], (long long)pad->v[1],
                (long long)ks->v[0], (long long)ks->v[1], (long long)dil[0],
                (long long)dil[1], (long long)(ks->v[0] / 2),
                (long long)(ks->v[1] / 2));
        }
    }
    for (i = 0; i < 2; i++) {
        o[i] = fx__window_out(x->shape[x->ndim - 2 + i], ks->v[i], st->v[i],
                              pad->v[i], dil[i], ceil_mode);
    }
    if (o[0] < 1 || o[1] < 1) {
        return fx_error_set(
            err, FX_ERR_SHAPE,
            "%s: output size would be %lldx%lld for input %lldx%lld, "
            "kernel_size (%lld, %lld), stride (%lld, %lld), padding "
            "(%lld, %lld)",
            op, (long long)(o[0] > 0 ? o[0] : 0),
            (long long)(o[1] > 0 ? o[1] : 0),
            (long long)x->shape[x->ndim - 2],
            (long long)x->shape[x->ndim - 1], (long long)ks->v[0],
            (long long)ks->v[1], (long long)st->v[0], (long long)st->v[1],
            (long long)pad->v[0], (long long)pad->v[1]);
    }
    *out = *x;
    out->data = NULL;
    out->shape[x->ndim - 2] = o[0];
    out->shape[x->ndim - 1] = o[1];
    return FX_OK;
}

/* Number of (H, W) planes and their sizes (see ops.h). */
void
fx__pool_planes(const fx_kargs *a, int64_t *planes, int64_t *h, int64_t *w,
                int64_t *oh, int64_t *ow)
{
    const fx_tensor *x = &a->in[0];
    const int32_t nd = x->ndim;

    *h = x->shape[nd - 2];
    *w = x->shape[nd - 1];
    *oh = a->out->shape[nd - 2];
    *ow = a->out->shape[nd - 1];
    *planes = (*h) * (*w) > 0 ? fx_tensor_numel(x) / ((*h) * (*w))
                              : fx_tensor_numel(a->out) / ((*oh) * (*ow));
}

/* Work of a windowed pooling op (fx_cost_fn): every window tap of every
 * output. */
static double
pool_cost(const fx_ints *ks, int32_t n_in, const fx_tensor *in,
          const fx_tensor *out)
{
    return fx__io_floats(n_in, in, out)
           + FX__COST_POOL_TAP * (double)fx_tensor_numel(out)
                 * (double)(ks->v[0] * ks->v[1]);
}

/* ---- max_pool2d ----------------------------------------------------- */

fx_status
fx_max_pool2d_infer(const void *params, int32_t n_in, const fx_tensor *in,
                    fx_tensor *out, size_t *workspace, fx_error *err)
{
    const fx_max_pool2d_params *p = params;

    *workspace = 0;
    return pool_infer("max_pool2d", &in[0], &p->kernel_size, &p->stride,
                      &p->padding, p->dilation.v, p->ceil_mode, out, err);
}

double
fx_max_pool2d_cost(const void *params, int32_t n_in, const fx_tensor *in,
                   const fx_tensor *out)
{
    const fx_max_pool2d_params *p = params;

    return pool_cost(&p->kernel_size, n_in, in, out);
}

/* One output row i, columns [j0, j1), of one plane (see ops.h). */
void
fx__max_pool2d_row(const fx_max_pool2d_params *p, const float *x, int64_t h,
                   int64_t w, float *y, int64_t i, int64_t j0, int64_t j1)
{
    const int64_t kh = p->kernel_size.v[0], kw = p->kernel_size.v[1];
    const int64_t sh = p->stride.v[0], sw = p->stride.v[1];
    const int64_t ph = p->padding.v[0], pw = p->padding.v[1];
    const int64_t dh = p->dilation.v[0], dw = p->dilation.v[1];
    int64_t j, u, v;

    for (j = j0; j < j1; j++) {
        float m = -INFINITY;

        for (u = 0; u < kh; u++) {
            const int64_t yi = i * sh - ph + u * dh;

            if (yi < 0 || yi >= h) {
                continue;
            }
            for (v = 0; v < kw; v++) {
                const int64_t xj = j * sw - pw + v * dw;
                float val;

                if (xj < 0 || xj >= w) {
                    continue;
                }
                val = x[yi * w + xj];
                if (val > m || isnan(val)) {
                    m = val;
                }
            }
        }
        y[j] = m;
    }
}

void
fx_max_pool2d_ref(const fx_kargs *a, int ith, int nth)
{
    int64_t planes, h, w, oh, ow, pl, i, begin, end;

    fx__pool_planes(a, &planes, &h, &w, &oh, &ow);
    fx__split(planes, ith, nth, &begin, &end);
    for (pl = begin; pl < end; pl++) {
        for (i = 0; i < oh; i++) {
            fx__max_pool2d_row(a->params, a->in[0].data + pl * h * w, h, w,
                               a->out->data + (pl * oh + i) * ow, i, 0, ow);
        }
    }
}

/* ---- avg_pool2d ----------------------------------------------------- */

fx_status
fx_avg_pool2d_infer(const void *params, int32_t n_in, const fx_tensor *in,
                    fx_tensor *out, size_t *workspace, fx_error *err)
{
    const fx_avg_pool2d_params *p = params;
    const int64_t dil[2] = {1, 1};

    *workspace = 0;
    if (p->divisor_override < 0) {
        return fx_error_set(err, FX_ERR_ARG,
                            "avg_pool2d: divisor_override must be positive "
                            "(or 0 for none), got %lld",
                            (long long)p->divisor_override);
    }
    return pool_infer("avg_pool2d", &in[0], &p->kernel_size, &p->stride,
                      &p->padding, dil, p->ceil_mode, out, err);
}

double
fx_avg_pool2d_cost(const void *params, int32_t n_in, const fx_tensor *in,
                   const fx_tensor *out)
{
    const fx_avg_pool2d_params *p = params;

    return pool_cost(&p->kernel_size, n_in, in, out);
}

/* One output row i, columns [j0, j1), of one plane (see ops.h). */
void
fx__avg_pool2d_row(const fx_avg_pool2d_params *p, const float *x, int64_t h,
                   int64_t w, float *y, int64_t i, int64_t j0, int64_t j1)
{
    const int64_t kh = p->kernel_size.v[0], kw = p->kernel_size.v[1];
    const int64_t sh = p->stride.v[0], sw = p->stride.v[1];
    const int64_t ph = p->padding.v[0], pw = p->padding.v[1];
    int64_t h0 = i * sh - ph;
    int64_t h1 = h0 + kh < h + ph ? h0 + kh : h + ph;
    const int64_t pad_h = h1 - h0;
    int64_t j, u, v;

    h0 = h0 > 0 ? h0 : 0;
    h1 = h1 < h ? h1 : h;
    for (j = j0; j < j1; j++) {
        int64_t w0 = j * sw - pw;
        int64_t w1 = w0 + kw < w + pw ? w0 + kw : w + pw;
        const int64_t pool = pad_h * (w1 - w0);
        int64_t div;
        float sum = 0.0f;

        w0 = w0 > 0 ? w0 : 0;
        w1 = w1 < w ? w1 : w;
        for (u = h0; u < h1; u++) {
            for (v = w0; v < w1; v++) {
                sum += x[u * w + v];
            }
        }
        if (p->divisor_override != 0) {
            div = p->divisor_override;
        } else if (p->count_include_pad) {
            div = pool;
        } else {
            div = (h1 - h0) * (w1 - w0);
        }
        y[j] = div > 0 ? sum / (float)div : 0.0f;
    }
}

void
fx_avg_pool2d_ref(const fx_kargs *a, int ith, int nth)
{
    int64_t planes, h, w, oh, ow, pl, i, begin, end;

    fx__pool_planes(a, &planes, &h, &w, &oh, &ow);
    fx__split(planes, ith, nth, &begin, &end);
    for (pl = begin; pl < end; pl++) {
        for (i = 0; i < oh; i++) {
            fx__avg_pool2d_row(a->params, a->in[0].data + pl * h * w, h, w,
                               a->out->data + (pl * oh + i) * ow, i, 0, ow);
        }
    }
}

/* ---- adaptive_avg_pool2d -------------------------------------------- */

fx_status
fx_adaptive_avg_pool2d_infer(const void *params, int32_t n_in,
                             const fx_tensor *in, fx_tensor *out,
                             size_t *workspace, fx_error *err)
{
    const fx_adaptive_avg_pool2d_params *p = params;
    const fx_tensor *x = &in[0];
    char s1[160];

    *workspace = 0;
    if (x->ndim != 3 && x->ndim != 4) {
        return fx_error_set(err, FX_ERR_SHAPE,
                            "adaptive_avg_pool2d: expected a 3-D (C, H, W) "
                            "or 4-D (N, C, H, W) input, got shape %s",
                            fx__shape_str(x, s1, sizeof(s1)));
    }
    if (p->output_size.v[0] < 1 || p->output_size.v[1] < 1) {
        return fx_error_set(err, FX_ERR_ARG,
                            "adaptive_avg_pool2d: output_size must be "
                            "positive, got (%lld, %lld)",
                            (long long)p->output_size.v[0],
                            (long long)p->output_size.v[1]);
    }
    if (x->shape[x->ndim - 2] < 1 || x->shape[x->ndim - 1] < 1) {
        return fx_error_set(err, FX_ERR_SHAPE,
                            "adaptive_avg_pool2d: input of shape %s has an "
                            "empty spatial size",
                            fx__shape_str(x, s1, sizeof(s1)));
    }
    *out = *x;
    out->data = NULL;
    out->shape[x->ndim - 2] = p->output_size.v[0];
    out->shape[x->ndim - 1] = p->output_size.v[1];
    return FX_OK;
}

float
fx__plane_sum_strided(const float *x, int64_t n, int64_t stride)
{
    float part[FX__SUM_LANES], s8[8], s4[4], s2[2];
    int64_t k;
    int l;

    for (l = 0; l < FX__SUM_LANES; l++) {
        part[l] = 0.0f;
    }
    for (k = 0; k < n; k++) {
        part[k % FX__SUM_LANES] += x[k * stride];
    }
    for (l = 0; l < 8; l++) {
        s8[l] = (part[l] + part[l + 8]) + (part[l + 16] + part[l + 24]);
    }
    for (l = 0; l < 4; l++) {
        s4[l] = s8[l] + s8[l + 4];
    }
    for (l = 0; l < 2; l++) {
        s2[l] = s4[l] + s4[l + 2];
    }
    return s2[0] + s2[1];
}

float
fx__plane_sum(const float *x, int64_t n)
{
    return fx__plane_sum_strided(x, n, 1);
}

void
fx_adaptive_avg_pool2d_ref(const fx_kargs *a, int ith, int nth)
{
    int64_t planes, h, w, oh, ow, pl, i, j, u, v, begin, end;

    fx__pool_planes(a, &planes, &h, &w, &oh, &ow);
    fx__split(planes, ith, nth, &begin, &end);
    for (pl = begin; pl < end; pl++) {
        const float *x = a->in[0].data + pl * h * w;
        float *y = a->out->data + pl * oh * ow;

        if (oh == 1 && ow == 1) {
            y[0] = fx__plane_sum(x, h * w) / (float)(h * w);
            continue;
        }
        for (i = 0; i < oh; i++) {
            const int64_t h0 = i * h / oh;
            const int64_t h1 = ((i + 1) * h + oh - 1) / oh;

            for (j = 0; j < ow; j++) {
                const int64_t w0 = j * w / ow;
                const int64_t w1 = ((j + 1) * w + ow - 1) / ow;
                float sum = 0.0f;

                for (u = h0; u < h1; u++) {
                    for (v = w0; v < w1; v++) {
                        sum += x[u * w + v];
                    }
                }
                y[i * ow + j] = sum / (float)((h1 - h0) * (w1 - w0));
            }
        }
    }
}
