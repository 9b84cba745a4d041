/*
 * ops/nchw8c.c - the channel-blocked layout "nchw8c" and the ops that
 * work in it, so that chains of layers (mobile nets' pointwise and
 * depthwise convs) keep 8 channels in the lanes of a vector between
 * layers and need no packing of their input.
 *
 * Layout: an (N, C, H, W) tensor with C % 8 == 0 is stored as the
 * C-contiguous (N, C/8, H, W, 8) array: element (n, c, h, w) is at
 * [n, c / 8, h, w, c % 8]. (N, C/8, 1, 1, 8) has the memory of
 * (N, C, 1, 1).
 *
 * to_nchw8c:    x (N, C, H, W), C % 8 == 0  ->  y (N, C/8, H, W, 8)
 * from_nchw8c:  x (N, C/8, H, W, 8)         ->  y (N, C, H, W)
 *
 * conv2d_bn_nchw8c: conv2d_bn (ops/conv2d_bn.c: the same inputs,
 *   attributes and act codes) with x and y in nchw8c, plus an optional
 *   eighth input `residual` of y's shape added last:
 *     inputs (x, w, b, mean, var, w_bn, b_bn, residual), b, w_bn, b_bn,
 *     residual optional
 *     x: (N, C/8, H, W, 8)   y: (N, OC/8, OH, OW, 8)
 *     y = to_nchw8c(conv2d_bn(from_nchw8c(x), w, ...)) [+ residual]
 *   Two kinds of conv only: pointwise (1x1 kernel, groups 1, stride 1,
 *   padding 0; C and OC multiples of 8) and depthwise (groups == C ==
 *   OC, any kernel size, stride, padding and dilation).
 *   Each output element is computed with the arithmetic of conv2d_bn's
 *   kernel of the same ISA, in its order, so with the same ISA the
 *   result equals conv2d_bn on the plain layout bit for bit (then + the
 *   residual: the add op's one rounding). The reference kernel below is
 *   conv2d_bn's reference formula (one float sum over (c, p, q), then
 *   the bias, the BN multiply and add, the activation).
 *
 * adaptive_avg_pool2d_nchw8c: global average pooling, output_size (1, 1)
 *   only: x (N, C/8, H, W, 8) -> y (N, C, 1, 1), each channel's plane
 *   summed in fx__plane_sum's order and divided by H*W as
 *   adaptive_avg_pool2d does, so the results are its results bit for
 *   bit.
 *
 * torch equivalents: y = x.reshape(N, C/8, 8, H, W).permute(0, 1, 3, 4,
 * 2) for to_nchw8c, its inverse for from_nchw8c.
 *
 * Work split (ith, nth): the reorders by (n, c/8, h) rows; the conv's
 * reference by (n, o/8, i) output rows; the pool by (n, c/8) blocks.
 */
#include <stddef.h>

#include "ops/ops.h"

const fx_attr_def fx_to_nchw8c_attrs[FX__NATTRS_TO_NCHW8C + 1] = {
    {NULL, FX_ATTR_INT, 0, 0, 0}};
const fx_attr_def fx_from_nchw8c_attrs[FX__NATTRS_FROM_NCHW8C + 1] = {
    {NULL, FX_ATTR_INT, 0, 0, 0}};

/* conv2d_bn's schema (ops/conv2d_bn.c), over the same params struct */
const fx_attr_def
    fx_conv2d_bn_nchw8c_attrs[FX__NATTRS_CONV2D_BN_NCHW8C + 1] = {
        {"stride", FX_ATTR_INTS, 2,
         offsetof(fx_conv2d_bn_params, conv.stride), 0},
        {"padding", FX_ATTR_INTS, 2,
         offsetof(fx_conv2d_bn_params, conv.padding), 0},
        {"dilation", FX_ATTR_INTS, 2,
         offsetof(fx_conv2d_bn_params, conv.dilation), 0},
        {"groups", FX_ATTR_INT, 0, offsetof(fx_conv2d_bn_params, conv.groups),
         0},
        {"eps", FX_ATTR_FLOAT, 0, offsetof(fx_conv2d_bn_params, eps), 0},
        {"act", FX_ATTR_INT, 0, offsetof(fx_conv2d_bn_params, act), 0},
        {NULL, FX_ATTR_INT, 0, 0, 0},
};

const fx_attr_def fx_adaptive_avg_pool2d_nchw8c_attrs
    [FX__NATTRS_ADAPTIVE_AVG_POOL2D_NCHW8C + 1] = {
        {"output_size", FX_ATTR_INTS, 2,
         offsetof(fx_adaptive_avg_pool2d_params, output_size), 0},
        {NULL, FX_ATTR_INT, 0, 0, 0},
};

fx_status
fx__nchw8c_check(const char *op, const char *name, const fx_tensor *t,
                 fx_error *err)
{
    char s1[160];

    if (t->ndim != 5 || t->shape[4] != 8) {
        return fx_error_set(err, FX_ERR_SHAPE,
                            "%s: expected %s in the nchw8c layout, a 5-D "
                            "array (N, C/8, H, W, 8), got shape %s",
                            op, name, fx__shape_str(t, s1, sizeof(s1)));
    }
    return FX_OK;
}

void
fx__nchw8c_plain(const fx_tensor *t, fx_tensor *plain)
{
    *plain = *t;
    plain->ndim = 4;
    plain->shape[1] = t->shape[1] * 8;
    plain->shape[4] = 0;
}

/* ---- reorders -------------------------------------------------------- */

fx_status
fx_to_nchw8c_infer(const void *params, int32_t n_in, const fx_tensor *in,
                   fx_tensor *out, size_t *workspace, fx_error *err)
{
    const fx_tensor *x = &in[0];
    char s1[160];

    *workspace = 0;
    if (x->ndim != 4 || x->shape[1] % 8 != 0) {
        return fx_error_set(err, FX_ERR_SHAPE,
                            "to_nchw8c: expected a 4-D input (N, C, H, W) "
                            "with C a multiple of 8, got shape %s",
                            fx__shape_str(x, s1, sizeof(s1)));
    }
    out->ndim = 5;
    out->data = NULL;
    out->shape[0] = x->shape[0];
    out->shape[1] = x->shape[1] / 8;
    out->shape[2] = x->shape[2];
    out->shape[3] = x->shape[3];
    out->shape[4] = 8;
    return FX_OK;
}

fx_status
fx_from_nchw8c_infer(const void *params, int32_t n_in, const fx_tensor *in,
                     fx_tensor *out, size_t *workspace, fx_error *err)
{
    *workspace = 0;
    if (fx__nchw8c_check("from_nchw8c", "the input", &in[0], err) != FX_OK) {
        return FX_ERR_SHAPE;
    }
    fx__nchw8c_plain(&in[0], out);
    out->data = NULL;
    return FX_OK;
}

/* The rows (n, c/8, h) of x's blocked form, [begin, end) of them. */
static void
reorder_rows(const fx_tensor *plain, int ith, int nth, int64_t *begin,
             int64_t *end)
{
    fx__split(plain->shape[0] * (plain->shape[1] / 8) * plain->shape[2], ith,
              nth, begin, end);
}

void
fx_to_nchw8c_ref(const fx_kargs *a, int ith, int nth)
{
    const fx_tensor *x = &a->in[0];
    const int64_t h = x->shape[2], w = x->shape[3];
    int64_t r, j, l, begin, end;

    reorder_rows(x, ith, nth, &begin, &end);
    for (r = begin; r < end; r++) {
        /* row r: block b = r / h (of all images), input row r % h */
        const float *src = x->data + ((r / h) * 8 * h + r % h) * w;
        float *dst = a->out->data + r * w * 8;

        for (j = 0; j < w; j++) {
            for (l = 0; l < 8; l++) {
                dst[j * 8 + l] = src[l * h * w + j];
            }
        }
    }
}

void
fx_from_nchw8c_ref(const fx_kargs *a, int ith, int nth)
{
    const fx_tensor *y = a->out;
    const int64_t h = y->shape[2], w = y->shape[3];
    int64_t r, j, l, begin, end;

    reorder_rows(y, ith, nth, &begin, &end);
    for (r = begin; r < end; r++) {
        const float *src = a->in[0].data + r * w * 8;
        float *dst = y->data + ((r / h) * 8 * h + r % h) * w;

        for (j = 0; j < w; j++) {
            for (l = 0; l < 8; l++) {
                dst[l * h * w + j] = src[j * 8 + l];
            }
        }
    }
}

/* ---- conv2d_bn_nchw8c ------------------------------------------------ */

int
fx__conv2d_nchw8c_pointwise(const fx_conv2d_params *p, const fx_tensor *w)
{
    return p->groups == 1 && w->shape[2] == 1 && w->shape[3] == 1
           && p->stride.v[0] == 1 && p->stride.v[1] == 1
           && p->padding.v[0] == 0 && p->padding.v[1] == 0;
}

int
fx__dwconv_nchw8c_padded(const fx_conv2d_params *p, const fx_tensor *x,
                         int64_t ow)
{
    /* padding and the plane each at most FX__NCHW8C_PAD_MAX, so the
     * product cannot overflow */
    const int64_t ph = p->padding.v[0], pw = p->padding.v[1];
    const int64_t h = x->shape[2], wd = x->shape[3];

    return ow < FX__NCHW8C_PAD_OW && ph <= FX__NCHW8C_PAD_MAX
           && pw <= FX__NCHW8C_PAD_MAX && h <= FX__NCHW8C_PAD_MAX
           && wd <= FX__NCHW8C_PAD_MAX
           && (h + 2 * ph) * (wd + 2 * pw) * 8 <= FX__NCHW8C_PAD_MAX;
}

int64_t
fx__dwconv_nchw8c_ring(const fx_conv2d_params *p, const fx_tensor *x,
                       const fx_tensor *w)
{
    const int64_t k = w->shape[2], s = p->stride.v[0];
    const int64_t pw = p->padding.v[1], wd = x->shape[3];

    if (w->shape[3] != k || (k != 3 && k != 5) || p->stride.v[1] != s
        || s > 2 || p->dilation.v[0] != 1 || p->dilation.v[1] != 1
        || pw > FX__NCHW8C_RING_MAX || wd > FX__NCHW8C_RING_MAX) {
        return 0;
    }
    /* 4 or 8 rows (a power of 2 above K), each (W + 2*PW) x 8 */
    return (wd + 2 * pw) * 8 * 8 <= FX__NCHW8C_RING_MAX
               ? (wd + 2 * pw) * 8 * (k == 3 ? 4 : 8)
               : 0;
}

size_t
fx__conv2d_bn_nchw8c_workspace(const fx_conv2d_params *p, const fx_tensor *x,
                               const fx_tensor *w, int64_t ow)
{
    const int64_t oc = w->shape[0];
    size_t floats;

    if (fx__conv2d_nchw8c_pointwise(p, w)) {
        /* one packed block: KC input channels by OCB output channels */
        const int64_t c = x->shape[1] * 8;
        const int64_t kc = c < FX__GEMM_KC ? c : FX__GEMM_KC;
        /* whole pairs of 8-channel output blocks */
        const int64_t ob = oc < FX__NCHW8C_OCB ? (oc + 15) / 16 * 16
                                               : FX__NCHW8C_OCB;

        floats = (size_t)(kc * ob);
    } else {
        /* one 8-channel block's taps, then its ring or padded planes */
        const int64_t ring = fx__dwconv_nchw8c_ring(p, x, w);

        floats = (size_t)((w->shape[2] * w->shape[3] * 8 + 15) / 16 * 16);
        if (ring != 0) {
            floats += (size_t)ring;
        } else if (fx__dwconv_nchw8c_padded(p, x, ow)) {
            floats += (size_t)((x->shape[2] + 2 * p->padding.v[0])
                               * (x->shape[3] + 2 * p->padding.v[1]) * 8);
        }
    }
    return fx__conv2d_bn_affine_bytes(oc)
           + (floats * sizeof(float) + 63) / 64 * 64;
}

fx_status
fx_conv2d_bn_nchw8c_infer(const void *params, int32_t n_in,
                          const fx_tensor *in, fx_tensor *out,
                          size_t *workspace, fx_error *err)
{
    const fx_conv2d_bn_params *p = params;
    const fx_tensor *w = &in[1];
    fx_tensor plain[7], y;
    char s1[160], s2[160];
    size_t ws = 0;
    int32_t i;
    fx_status st;

    if (fx__nchw8c_check("conv2d_bn_nchw8c", "the input", &in[0], err)
        != FX_OK) {
        return FX_ERR_SHAPE;
    }
    for (i = 0; i < n_in && i < 7; i++) {
        plain[i] = in[i];
    }
    fx__nchw8c_plain(&in[0], &plain[0]);
    st = fx_conv2d_bn_infer(params, n_in < 7 ? n_in : 7, plain, &y, &ws,
                            err);
    if (st != FX_OK) {
        return st;
    }
    if (w->shape[0] % 8 != 0) {
        return fx_error_set(err, FX_ERR_SHAPE,
                            "conv2d_bn_nchw8c: the output channels must be "
                            "a multiple of 8, got weight shape %s",
                            fx__shape_str(w, s1, sizeof(s1)));
    }
    if (!fx__conv2d_nchw8c_pointwise(&p->conv, w)
        && !(p->conv.groups == plain[0].shape[1]
             && w->shape[0] == p->conv.groups)) {
        return fx_error_set(
            err, FX_ERR_UNSUPPORTED,
            "conv2d_bn_nchw8c: only pointwise convs (1x1 kernel, groups 1, "
            "stride 1, padding 0) and depthwise ones (groups == input "
            "channels == output channels) are supported, got weight shape "
            "%s, groups %lld, stride (%lld, %lld), padding (%lld, %lld) for "
            "%lld input channels",
            fx__shape_str(w, s1, sizeof(s1)), (long long)p->conv.groups,
            (long long)p->conv.stride.v[0], (long long)p->conv.stride.v[1],
            (long long)p->conv.padding.v[0], (long long)p->conv.padding.v[1],
            (long long)plain[0].shape[1]);
    }
    out->ndim = 5;
    out->data = NULL;
    out->shape[0] = y.shape[0];
    out->shape[1] = y.shape[1] / 8;
    out->shape[2] = y.shape[2];
    out->shape[3] = y.shape[3];
    out->shape[4] = 8;
    if (n_in > 7 && in[7].ndim != -1) {
        const fx_tensor *r = &in[7];
        int same = r->ndim == 5;

        for (i = 0; i < 5 && same; i++) {
            same = r->shape[i] == out->shape[i];
        }
        if (!same) {
            return fx_error_set(err, FX_ERR_SHAPE,
                                "conv2d_bn_nchw8c: expected residual of the "
                                "output's shape %s, got shape %s",
                                fx__shape_str(out, s1, sizeof(s1)),
                                fx__shape_str(r, s2, sizeof(s2)));
        }
    }
    *workspace = fx__conv2d_bn_nchw8c_workspace(&p->conv, &in[0], w,
                                                out->shape[3]);
    return FX_OK;
}

/* Work (fx_cost_fn): conv2d_bn's, whose formula reads the same shapes. */
double
fx_conv2d_bn_nchw8c_cost(const void *params, int32_t n_in,
                         const fx_tensor *in, const fx_tensor *out)
{
    return fx_conv2d_bn_cost(params, n_in, in, out);
}

/* Reference: conv2d_bn's formula, one (n, o/8, i) output row of 8
 * channels per work item. */
void
fx_conv2d_bn_nchw8c_ref(const fx_kargs *a, int ith, int nth)
{
    const fx_conv2d_bn_params *p = a->params;
    const fx_tensor *x = &a->in[0], *wt = &a->in[1];
    const float *bias = a->n_in > 2 ? a->in[2].data : NULL;
    const float *res = a->n_in > 7 ? a->in[7].data : NULL;
    const int64_t cb = x->shape[1], h = x->shape[2], wd = x->shape[3];
    const int64_t oc = wt->shape[0], cg = wt->shape[1];
    const int64_t kh = wt->shape[2], kw = wt->shape[3];
    const int64_t ob = oc / 8, oh = a->out->shape[2], ow = a->out->shape[3];
    const int64_t sh = p->conv.stride.v[0], sw = p->conv.stride.v[1];
    const int64_t ph = p->conv.padding.v[0], pw = p->conv.padding.v[1];
    const int64_t dh = p->conv.dilation.v[0], dw = p->conv.dilation.v[1];
    const int64_t ocg = oc / p->conv.groups;
    int64_t item, begin, end;

    fx__split(a->out->shape[0] * ob * oh, ith, nth, &begin, &end);
    for (item = begin; item < end; item++) {
        const int64_t n = item / (ob * oh), i = item % oh;
        const int64_t o0 = (item / oh) % ob * 8;
        const float *xn = x->data + n * cb * h * wd * 8;
        float *y = a->out->data + item * ow * 8;
        float alpha[8], beta[8];
        int64_t j, l, c, u, v;

        for (l = 0; l < 8; l++) {
            fx__bn_affine(&a->in[3], (a->n_in < 7 ? a->n_in : 7) - 3,
                          p->eps, o0 + l, &alpha[l], &beta[l]);
        }
        for (j = 0; j < ow; j++) {
            for (l = 0; l < 8; l++) {
                const int64_t o = o0 + l, c0 = o / ocg * cg;
                const float *wo = wt->data + o * cg * kh * kw;
                float acc = 0.0f;

                for (c = 0; c < cg; c++) {
                    const float *xc = xn + (c0 + c) / 8 * h * wd * 8
                                      + (c0 + c) % 8;

                    for (u = 0; u < kh; u++) {
                        const int64_t yi = i * sh - ph + u * dh;

                        if (yi < 0 || yi >= h) {
                            continue;
                        }
                        for (v = 0; v < kw; v++) {
                            const int64_t xj = j * sw - pw + v * dw;

                            if (xj < 0 || xj >= wd) {
                                continue;
                            }
                            acc += wo[(c * kh + u) * kw + v]
                                   * xc[(yi * wd + xj) * 8];
                        }
                    }
                }
                acc = acc + (bias != NULL ? bias[o] : 0.0f);
                acc = acc * alpha[l];
                acc = acc + beta[l];
                y[j * 8 + l] = fx__act1(p->act, acc);
                if (res != NULL) {
                    y[j * 8 + l] = y[j * 8 + l] + res[item * ow * 8 + j * 8
                                                      + l];
                }
            }
        }
    }
}

/* ---- adaptive_avg_pool2d_nchw8c -------------------------------------- */

fx_status
fx_adaptive_avg_pool2d_nchw8c_infer(const void *params, int32_t n_in,
                                    const fx_tensor *in, fx_tensor *out,
                                    size_t *workspace, fx_error *err)
{
    const fx_adaptive_avg_pool2d_params *p = params;
    const fx_tensor *x = &in[0];
    char s1[160];

    *workspace = 0;
    if (fx__nchw8c_check("adaptive_avg_pool2d_nchw8c", "the input", x, err)
        != FX_OK) {
        return FX_ERR_SHAPE;
    }
    if (p->output_size.v[0] != 1 || p->output_size.v[1] != 1) {
        return fx_error_set(err, FX_ERR_UNSUPPORTED,
                            "adaptive_avg_pool2d_nchw8c: only output_size "
                            "(1, 1) is supported, got (%lld, %lld)",
                            (long long)p->output_size.v[0],
                            (long long)p->output_size.v[1]);
    }
    if (x->shape[2] < 1 || x->shape[3] < 1) {
        return fx_error_set(err, FX_ERR_SHAPE,
                            "adaptive_avg_pool2d_nchw8c: input of shape %s "
                            "has an empty spatial size",
                            fx__shape_str(x, s1, sizeof(s1)));
    }
    fx__nchw8c_plain(x, out);
    out->data = NULL;
    out->shape[2] = 1;
    out->shape[3] = 1;
    return FX_OK;
}

void
fx_adaptive_avg_pool2d_nchw8c_ref(const fx_kargs *a, int ith, int nth)
{
    const fx_tensor *x = &a->in[0];
    const int64_t hw = x->shape[2] * x->shape[3];
    int64_t b, begin, end;
    int l;

    fx__split(x->shape[0] * x->shape[1], ith, nth, &begin, &end);
    for (b = begin; b < end; b++) {
        for (l = 0; l < 8; l++) {
            a->out->data[b * 8 + l] = fx__plane_sum_strided(
                                          x->data + b * hw * 8 + l, hw, 8)
                                      / (float)hw;
        }
    }
}
