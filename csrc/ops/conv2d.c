/*
 * ops/conv2d.c - 2-D convolution (cross-correlation), NCHW, zero padding.
 *
 *   x: (N, C, H, W)   w: (OC, C/G, KH, KW)   b: (OC) optional
 *   y: (N, OC, OH, OW)
 *   OH = floor((H + 2*PH - DH*(KH-1) - 1) / SH) + 1, OW likewise
 *   y[n, o, i, j] = b[o] + sum_{c, p, q} w[o, c, p, q]
 *                   * x[n, g*C/G + c, i*SH - PH + p*DH, j*SW - PW + q*DW]
 *   with g = o / (OC/G) and x = 0 outside the input.
 *
 * torch equivalent: torch.nn.functional.conv2d(x, w, b, stride, padding,
 * dilation, groups) (padding as numbers, zeros mode).
 *
 * The reference kernel below is the literal formula (float accumulation
 * in (c, p, q) order). The fast path is the packed GEMM in
 * kernels/gemm_avx2.c; its per-thread workspace (fx__gemm_workspace, one
 * bounded packed block) is reserved here, in infer, because infer does
 * not know which kernel will run. The reference kernel uses none.
 */
#include <stddef.h>
#include <string.h>

#include "ops/ops.h"

const fx_attr_def fx_conv2d_attrs[FX__NATTRS_CONV2D + 1] = {
    {"stride", FX_ATTR_INTS, 2, offsetof(fx_conv2d_params, stride), 0},
    {"padding", FX_ATTR_INTS, 2, offsetof(fx_conv2d_params, padding), 0},
    {"dilation", FX_ATTR_INTS, 2, offsetof(fx_conv2d_params, dilation), 0},
    {"groups", FX_ATTR_INT, 0, offsetof(fx_conv2d_params, groups), 0},
    {"direct", FX_ATTR_BOOL, 0, offsetof(fx_conv2d_params, direct), 1},
    {NULL, FX_ATTR_INT, 0, 0, 0},
};

size_t
fx__gemm_workspace(int64_t k, int64_t n)
{
    /* One packed block per thread: min(K, KC) rows of min(panels, NB)
     * 16-column panels (see kernels/gemm_avx2.c), whatever K and N. */
    const int64_t kc = k < FX__GEMM_KC ? k : FX__GEMM_KC;
    const int64_t panels = (n + FX__GEMM_NR - 1) / FX__GEMM_NR;
    const int64_t nb = panels < FX__GEMM_NB ? panels : FX__GEMM_NB;
    const size_t bytes = (size_t)(kc * nb * FX__GEMM_NR) * sizeof(float);

    return (bytes + 63) / 64 * 64;
}

/* ---- Winograd F(4x4, 3x3) dispatch and workspace ------------------- */

/* Bytes of V (the transformed input of one tile block) that pick the tile
 * block size. Every block transforms all the weights again (about 11
 * cycles a 3x3 kernel against 2.25 per tile for its GEMM work: 30% more
 * with 16 tiles), so blocks are as large as a V of 4 MiB allows, which
 * lives in L3 while the 36 GEMMs read it: at batch 8 on 1 thread
 * resnet50's 3x3 convs took 9-12% less CPU time than with 1 MiB (16
 * tiles at 256 channels, now 112). */
#define WINO_V_BUDGET (4 << 20)

int
fx__conv2d_winograd_ok(const fx_conv2d_params *p, const fx_tensor *x,
                       const fx_tensor *w, int64_t oh, int64_t ow)
{
    const int64_t c = x->shape[1], oc = w->shape[0];

    if (p->direct || p->groups != 1 || w->shape[2] != 3 || w->shape[3] != 3
        || p->stride.v[0] != 1 || p->stride.v[1] != 1
        || p->dilation.v[0] != 1 || p->dilation.v[1] != 1) {
        return 0;
    }
    /* Measured (1 thread, CPU time, best of 3, against the GEMM path
     * (direct=True); the machine was shared, so +-20%): Winograd wins
     * from 2 tiles on: 4 tiles (7x7, batch 1) x0.29 (C 128, OC 32) to
     * x0.71 (512, 512), 256@6x6 x0.66, 2 tiles (4x4, batch 2, C 256)
     * x0.93; with 1 tile the weight transform is not amortised (4x4,
     * C 256: x1.57; 3x3, C 512: x1.88). With 16+ tiles it ran at
     * 85-150 GFLOP/s (direct-conv FLOPs) against the GEMM's 60-70.
     * C or OC below 16 leaves the GEMM too short to pay for the
     * transforms (C = OC = 16 at 56x56 still won x2.8). Above
     * FX__WINO_CMAX channels the workspace bound would grow. */
    const int64_t tiles = x->shape[0] * ((oh + 3) / 4) * ((ow + 3) / 4);

    return c >= 16 && oc >= 16 && c <= FX__WINO_CMAX && tiles >= 2;
}

int64_t
fx__winograd_tile_block(int64_t c)
{
    int64_t t = WINO_V_BUDGET / (36 * 4 * (c > 0 ? c : 1)) / 16 * 16;

    return t < 16 ? 16 : t > FX__WINO_TMAX ? FX__WINO_TMAX : t;
}

/* Per-thread slot, in floats, each part rounded to 16 floats (64 bytes):
 *   bands: FX__WINO_BANDS(T)   zero-padded strips of one input channel
 *   V:     36 x C x T          transformed input tiles (+ 16 per plane)
 *   U:     36 x OB x KC        transformed weights of one (OC, C) block
 *                              (+ 16 per plane of each 16-channel panel)
 *   M:     T x 36 x OB         products, before the output transform
 * (kernels/winograd_avx2.c computes the same offsets; its V and bands may
 * be shorter, for blocks of fewer tiles). */
size_t
fx__winograd_workspace(int64_t c, int64_t oc)
{
    const int64_t t = fx__winograd_tile_block(c);
    const int64_t band = FX__WINO_BANDS(t);
    /* V and U: 36 planes, each padded by 16 floats (see the kernel) */
    const int64_t v = 36 * ((c * t + 15) / 16 * 16 + 16);
    const int64_t u = FX__WINO_OB / 16 * 36 * (FX__WINO_KC * 16 + 16);
    const int64_t m = t * 36 * FX__WINO_OB;
    const int64_t floats = (band + 15) / 16 * 16 + v + u + m;

    FX_UNUSED(oc);
    return (size_t)floats * sizeof(float);
}

fx_status
fx_conv2d_infer(const void *params, int32_t n_in, const fx_tensor *in,
                fx_tensor *out, size_t *workspace, fx_error *err)
{
    const fx_conv2d_params *p = params;
    const fx_tensor *x = &in[0], *w = &in[1];
    const fx_tensor *b = n_in > 2 ? &in[2] : NULL;
    char s1[160], s2[160];
    int64_t g = p->groups, oh, ow;

    if (x->ndim != 4) {
        return fx_error_set(err, FX_ERR_SHAPE,
                            "conv2d: expected a 4-D input (N, C, H, W), "
                            "got shape %s",
                            fx__shape_str(x, s1, sizeof(s1)));
    }
    if (w->ndim != 4) {
        return fx_error_set(err, FX_ERR_SHAPE,
                            "conv2d: expected a 4-D weight "
                            "(OC, C/groups, KH, KW), got shape %s",
                            fx__shape_str(w, s1, sizeof(s1)));
    }
    if (g < 1) {
        return fx_error_set(err, FX_ERR_ARG,
                            "conv2d: groups must be positive, got %lld",
                            (long long)g);
    }
    if (fx__check_pair("conv2d", "stride", p->stride.v, 1, INT64_MAX, err)
        || fx__check_pair("conv2d", "padding", p->padding.v, 0, FX_MAX_NUMEL,
                          err)
        || fx__check_pair("conv2d", "dilation", p->dilation.v, 1,
                          FX_MAX_NUMEL, err)) {
        return FX_ERR_ARG;
    }
    if (x->shape[1] % g != 0 || w->shape[0] % g != 0) {
        return fx_error_set(err, FX_ERR_SHAPE,
                            "conv2d: input channels (%lld) and output "
                            "channels (%lld) must both be divisible by "
                            "groups (%lld)",
                            (long long)x->shape[1], (long long)w->shape[0],
                            (long long)g);
    }
    if (w->shape[1] * g != x->shape[1]) {
        return fx_error_set(err, FX_ERR_SHAPE,
                            "conv2d: weight of shape %s expects %lld input "
                            "channels (groups=%lld), but the input of "
                            "shape %s has %lld channels",
                            fx__shape_str(w, s1, sizeof(s1)),
                            (long long)(w->shape[1] * g), (long long)g,
                            fx__shape_str(x, s2, sizeof(s2)),
                            (long long)x->shape[1]);
    }
    if (w->shape[2] < 1 || w->shape[3] < 1) {
        return fx_error_set(err, FX_ERR_SHAPE,
                            "conv2d: kernel size must be positive, got "
                            "weight shape %s",
                            fx__shape_str(w, s1, sizeof(s1)));
    }
    if (b != NULL && b->ndim != -1
        && (b->ndim != 1 || b->shape[0] != w->shape[0])) {
        return fx_error_set(err, FX_ERR_SHAPE,
                            "conv2d: expected bias of shape (%lld,), got "
                            "shape %s",
                            (long long)w->shape[0],
                            fx__shape_str(b, s1, sizeof(s1)));
    }
    oh = fx__window_out(x->shape[2], w->shape[2], p->stride.v[0],
                        p->padding.v[0], p->dilation.v[0], 0);
    ow = fx__window_out(x->shape[3], w->shape[3], p->stride.v[1],
                        p->padding.v[1], p->dilation.v[1], 0);
    if (oh < 1 || ow < 1) {
        return fx_error_set(
            err, FX_ERR_SHAPE,
            "conv2d: output size would be %lldx%lld for input %lldx%lld, "
            "kernel_size (%lld, %lld), stride (%lld, %lld), padding "
            "(%lld, %lld), dilation (%lld, %lld)",
            (long long)(oh > 0 ? oh : 0), (long long)(ow > 0 ? ow : 0),
            (long long)x->shape[2], (long long)x->shape[3],
            (long long)w->shape[2], (long long)w->shape[3],
            (long long)p->stride.v[0], (long long)p->stride.v[1],
            (long long)p->padding.v[0], (long long)p->padding.v[1],
            (long long)p->dilation.v[0], (long long)p->dilation.v[1]);
    }
    out->ndim = 4;
    out->shape[0] = x->shape[0];
    out->shape[1] = w->shape[0];
    out->shape[2] = oh;
    out->shape[3] = ow;
    if (fx_tensor_check_numel("conv2d", out, err) != FX_OK) {
        return FX_ERR_SHAPE;
    }
    /* the GEMM's columns: every image's output pixels */
    *workspace = fx__gemm_workspace(w->shape[1] * w->shape[2] * w->shape[3],
                                    x->shape[0] * oh * ow);
    if (fx__conv2d_winograd_ok(p, x, w, oh, ow)) {
        const size_t wino = fx__winograd_workspace(x->shape[1], w->shape[0]);

        *workspace = wino > *workspace ? wino : *workspace;
    }
    return FX_OK;
}

/* Work (fx_cost_fn): multiply-adds at the rate of the kernel the shapes
 * pick (the direct depthwise one or a GEMM), the weights read once. */
double
fx_conv2d_cost(const void *params, int32_t n_in, const fx_tensor *in,
               const fx_tensor *out)
{
    const fx_conv2d_params *p = params;
    const fx_tensor *w = &in[1];
    const int depthwise = w->shape[1] == 1 && w->shape[0] == p->groups;
    const double madds = (double)fx_tensor_numel(out)
                         * (double)(w->shape[1] * w->shape[2] * w->shape[3]);

    return fx__io_floats(n_in, in, out)
           + (FX__COST_WEIGHT - 1.0) * (double)fx_tensor_numel(w)
           + madds * (depthwise ? FX__COST_DW_MADD : FX__COST_GEMM_MADD);
}

float
fx__conv2d_ref_at(const fx_kargs *a, int64_t n, int64_t o, int64_t i,
                  int64_t j)
{
    const fx_conv2d_params *p = a->params;
    const fx_tensor *x = &a->in[0], *w = &a->in[1];
    const float *bias = a->n_in > 2 ? a->in[2].data : NULL;
    const int64_t h = x->shape[2], wd = x->shape[3];
    const int64_t cg = w->shape[1], kh = w->shape[2], kw = w->shape[3];
    const int64_t g = o / (w->shape[0] / p->groups);
    const float *xg = x->data + (n * x->shape[1] + g * cg) * h * wd;
    const float *wo = w->data + o * cg * kh * kw;
    float acc = 0.0f;
    int64_t c, u, v;

    for (c = 0; c < cg; c++) {
        for (u = 0; u < kh; u++) {
            const int64_t yi = i * p->stride.v[0] - p->padding.v[0]
                               + u * p->dilation.v[0];

            if (yi < 0 || yi >= h) {
                continue;
            }
            for (v = 0; v < kw; v++) {
                const int64_t xj = j * p->stride.v[1] - p->padding.v[1]
                                   + v * p->dilation.v[1];

                if (xj < 0 || xj >= wd) {
                    continue;
                }
                acc += wo[(c * kh + u) * kw + v] * xg[(c * h + yi) * wd + xj];
            }
        }
    }
    return acc + (bias != NULL ? bias[o] : 0.0f);
}

/* Reference: the formula (fx__conv2d_ref_at), one (n, o) output plane
 * per work item. */
void
fx_conv2d_ref(const fx_kargs *a, int ith, int nth)
{
    const int64_t oc = a->in[1].shape[0];
    const int64_t oh = a->out->shape[2], ow = a->out->shape[3];
    int64_t item, begin, end, i, j;

    fx__split(a->in[0].shape[0] * oc, ith, nth, &begin, &end);
    for (item = begin; item < end; item++) {
        float *y = a->out->data + item * oh * ow;

        for (i = 0; i < oh; i++) {
            for (j = 0; j < ow; j++) {
                y[i * ow + j] = fx__conv2d_ref_at(a, item / oc, item % oc, i,
                                                  j);
            }
        }
    }
}
