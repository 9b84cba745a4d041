/*
 * ops/mlp.c - two linear layers with an activation between them, in one
 * op: the fused form of linear -> act -> linear that
 * featx.fx.graph_module._fuse makes of ConvNeXt's MLP blocks.
 *
 *   inputs (x, w1, w2, b1, b2, scale), b1, b2 and scale optional (None
 *   or left out):
 *   x: (..., C)   w1: (H, C)   w2: (OUT, H)   b1: (H)   b2: (OUT)
 *   scale: (OUT) or (OUT, 1, .., 1)
 *   y: (..., OUT), or (N, OUT, ...) if channels_first
 *   h[r] = act(linear(x[r], w1, b1))   z[r] = linear(h[r], w2, b2)
 *   y[r, o] = z[r, o] * scale[o]  (z[r, o] without scale)
 *   (r runs over the leading dims of x; a 1-D x gives a 1-D y)
 *   act (fx_act, default 0 none): as the linear op's attribute
 *   channels_first (default 0): x is (N, ..., C), at least 2-D, and
 *   y[n, o, ...] = the result of x[n, ..., :], i.e. y comes permuted
 *   channels-first, NHWC -> NCHW as ConvNeXt's blocks permute it back
 *
 * torch equivalent: linear(act(linear(x, w1, b1)), w2, b2) * scale, with
 * channels_first .permute(0, n-1, 1, .., n-2) before the scale (which
 * then has shape (OUT, 1, .., 1): ConvNeXt's layer_scale).
 *
 * Each kernel computes both layers as the linear op's kernel of the same
 * ISA does, and the scale as one float multiply (as the mul op), so the
 * result equals linear (with act) -> linear (-> permute) (-> mul) bit
 * for bit;
 * but the hidden rows h never exist as one (..., H) array: each thread
 * holds only the rows it is working on, in its workspace. That is the
 * point of the op: for ConvNeXt's first stage at batch 8 the hidden array
 * is 25088 x 384 floats (38.5 MB) written and read back per block.
 * Workspace per thread: the reference's hidden and output rows (H + OUT
 * floats), or
 * the AVX2 kernel's blocks (see kernels/gemm_avx2.c), whichever is
 * larger: fx__mlp_block_rows(C, OUT) rows of x^T, of min(H, 256) hidden
 * units and of y^T, at most 768 KiB for the x^T and y^T parts unless
 * C + OUT > 12288.
 */
#include <stddef.h>

#include "ops/ops.h"

/* The floats of the x^T and y^T blocks of the AVX2 kernel, at most (the
 * block shrinks, down to one 16-row panel, to stay under it): 768 KiB,
 * which with the hidden block (128 KiB) keeps a thread's working set
 * near Zen3's 512 KiB L2 at ConvNeXt-tiny's C = OUT = 768 (128 rows). */
#define BLOCK_FLOATS (192 * 1024)

const fx_attr_def fx_mlp_attrs[FX__NATTRS_MLP + 1] = {
    {"act", FX_ATTR_INT, 0, offsetof(fx_mlp_params, act), 0},
    {"channels_first", FX_ATTR_BOOL, 0,
     offsetof(fx_mlp_params, channels_first), 1},
    {NULL, FX_ATTR_INT, 0, 0, 0},
};

int64_t
fx__mlp_block_rows(int64_t c, int64_t n_out)
{
    int64_t rows = FX__MLP_ROWS;

    while (rows > FX__GEMM_NR && (c + n_out) * rows > BLOCK_FLOATS) {
        rows -= FX__GEMM_NR;
    }
    return rows;
}

fx_status
fx_mlp_infer(const void *params, int32_t n_in, const fx_tensor *in,
             fx_tensor *out, size_t *workspace, fx_error *err)
{
    const fx_mlp_params *p = params;
    const fx_tensor *w1 = &in[1], *w2 = &in[2];
    const fx_tensor *scale = n_in > 5 && in[5].ndim != -1 ? &in[5] : NULL;
    fx_tensor hidden;
    int64_t rows, c, h, n_out;
    int32_t i;
    size_t ref, fast;
    char s1[160];
    fx_status st = fx__act_check("mlp", p->act, err);

    if (st == FX_OK) {
        st = fx__linear_shapes("mlp (first linear)", &in[0], w1,
                               n_in > 3 ? &in[3] : NULL, &hidden, err);
    }
    if (st == FX_OK) {
        st = fx__linear_shapes("mlp (second linear)", &hidden, w2,
                               n_in > 4 ? &in[4] : NULL, out, err);
    }
    if (st != FX_OK) {
        return st;
    }
    c = w1->shape[1];
    h = w1->shape[0];
    n_out = w2->shape[0];
    if (scale != NULL
        && (scale->ndim < 1 || scale->shape[0] != n_out
            || fx_tensor_numel(scale) != n_out)) {
        return fx_error_set(err, FX_ERR_SHAPE,
                            "mlp: expected scale of shape (%lld,) or "
                            "(%lld, 1, ..., 1), got shape %s",
                            (long long)n_out, (long long)n_out,
                            fx__shape_str(scale, s1, sizeof(s1)));
    }
    if (p->channels_first) {
        if (in[0].ndim < 2) {
            return fx_error_set(err, FX_ERR_SHAPE,
                                "mlp: channels_first needs an input (N, "
                                "..., C) of at least 2 dimensions, got "
                                "shape %s",
                                fx__shape_str(&in[0], s1, sizeof(s1)));
        }
        for (i = out->ndim - 1; i > 1; i--) {
            out->shape[i] = out->shape[i - 1];
        }
        out->shape[1] = n_out;
    }
    rows = fx__mlp_block_rows(c, n_out);
    ref = (size_t)(h + n_out) * sizeof(float);
    fast = (size_t)(rows * (c + (h < FX__GEMM_KC ? h : FX__GEMM_KC) + n_out))
           * sizeof(float);
    *workspace = ((ref > fast ? ref : fast) + 63) / 64 * 64;
    return FX_OK;
}

/* Work (fx_cost_fn): both GEMMs' multiply-adds, the weights read once. */
double
fx_mlp_cost(const void *params, int32_t n_in, const fx_tensor *in,
            const fx_tensor *out)
{
    const fx_tensor *w1 = &in[1], *w2 = &in[2];
    const int64_t n_out = w2->shape[0];
    const double rows = n_out > 0 ? (double)(fx_tensor_numel(out) / n_out)
                                  : 0.0;

    return fx__io_floats(n_in, in, out)
           + (FX__COST_WEIGHT - 1.0)
                 * (double)(fx_tensor_numel(w1) + fx_tensor_numel(w2))
           + FX__COST_GEMM_MADD * rows
                 * (double)(fx_tensor_numel(w1) + fx_tensor_numel(w2));
}

/* The pixels per image of an mlp with channels_first (x: (N, ..., C)),
 * 1 without: y[r, o] is at y + (r / s) * OUT * s + o * s + r % s. */
int64_t
fx__mlp_pixels(const fx_kargs *a)
{
    const fx_tensor *x = &a->in[0];
    const fx_mlp_params *p = a->params;
    int64_t s = 1;
    int32_t i;

    for (i = 1; p->channels_first && i < x->ndim - 1; i++) {
        s *= x->shape[i];
    }
    return s;
}

/* Reference: one row per work item, its hidden and output rows in the
 * thread's workspace; each layer as the linear reference computes it,
 * the scale as the mul op's reference. */
void
fx_mlp_ref(const fx_kargs *a, int ith, int nth)
{
    const fx_mlp_params *p = a->params;
    const fx_tensor *x = &a->in[0], *w1 = &a->in[1], *w2 = &a->in[2];
    const float *b1 = a->n_in > 3 ? a->in[3].data : NULL;
    const float *b2 = a->n_in > 4 ? a->in[4].data : NULL;
    const float *scale = a->n_in > 5 ? a->in[5].data : NULL;
    const int64_t c = w1->shape[1], h = w1->shape[0], n_out = w2->shape[0];
    const int64_t rows = n_out > 0 ? fx_tensor_numel(a->out) / n_out : 0;
    const int64_t s = fx__mlp_pixels(a);
    float *hid = (float *)((char *)a->workspace
                           + (size_t)ith * a->workspace_size);
    float *z = hid + h;
    int64_t r, o, begin, end;

    fx__split(rows, ith, nth, &begin, &end);
    for (r = begin; r < end; r++) {
        float *y = a->out->data + r / s * n_out * s + r % s;

        fx__linear_row(x->data + r * c, w1->data, b1, c, h, p->act, hid);
        fx__linear_row(hid, w2->data, b2, h, n_out, FX_ACT_NONE, z);
        for (o = 0; o < n_out; o++) {
            y[o * s] = scale != NULL
                           ? fx__binop_apply(FX__BINOP_MUL, z[o], scale[o])
                           : z[o];
        }
    }
}
