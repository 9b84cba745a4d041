/*
 * ops/dropout.c - dropout with a stateless counter-based RNG.
 *
 *   x: any shape   y: like x
 *   u[i] = uniform [0, 1) from splitmix64(splitmix64(seed) + i)
 *   y[i] = u[i] < p ? 0 : x[i] * (1 / (1 - p));   p = 1 gives zeros.
 *
 * The mask depends only on (seed, i), so a (seed, shape) pair is
 * deterministic and the op has no state; the Python caller passes a fresh
 * seed per call. torch equivalent: torch.nn.functional.dropout(x, p,
 * training=True) (same distribution, different random stream).
 */
#include <stddef.h>

#include "ops/ops.h"

const fx_attr_def fx_dropout_attrs[FX__NATTRS_DROPOUT + 1] = {
    {"p", FX_ATTR_FLOAT, 0, offsetof(fx_dropout_params, p), 0},
    {"seed", FX_ATTR_INT, 0, offsetof(fx_dropout_params, seed), 0},
    {NULL, FX_ATTR_INT, 0, 0, 0},
};

FX_INLINE uint64_t
mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

fx_status
fx_dropout_infer(const void *params, int32_t n_in, const fx_tensor *in,
                 fx_tensor *out, size_t *workspace, fx_error *err)
{
    const fx_dropout_params *p = params;

    *workspace = 0;
    if (!(p->p >= 0.0 && p->p <= 1.0)) {
        return fx_error_set(err, FX_ERR_ARG,
                            "dropout: p is the probability of zeroing an "
                            "element, expected a value in [0, 1], got %g",
                            p->p);
    }
    *out = in[0];
    out->data = NULL;
    return FX_OK;
}

void
fx_dropout_ref(const fx_kargs *a, int ith, int nth)
{
    const fx_dropout_params *p = a->params;
    const float *x = a->in[0].data;
    float *y = a->out->data;
    const uint64_t key = mix64((uint64_t)p->seed);
    const float scale = p->p < 1.0 ? (float)(1.0 / (1.0 - p->p)) : 0.0f;
    int64_t i, begin, end;

    fx__split(fx_tensor_numel(a->out), ith, nth, &begin, &end);
    for (i = begin; i < end; i++) {
        const double u = (double)(mix64(key + (uint64_t)i) >> 11)
                         * (1.0 / 9007199254740992.0);

        y[i] = u < p->p ? 0.0f : x[i] * scale;
    }
}
