/*
 * kernels/binary_avx2.c - add, sub, mul, div and add_relu (ops/binary.c)
 * with AVX2, 8 floats at a time: the same IEEE float32 operations as the
 * reference kernels, so the results are bit for bit theirs (add_relu's
 * relu as fx__v_relu, which keeps NaN and -0 as "s < 0 ? 0 : s" does).
 * Broadcasting and the work split are the reference's (fx__binary_run);
 * this file gives only the loop over one run of the output, whose last
 * n % 8 elements are done one by one (AMD's masked stores are
 * microcoded). One broadcast has its own loop (block_run): an input
 * repeated over a run of middle dims in blocks of a multiple of 8
 * elements, as the nchw8c layout's channel scale (N, C/8, H, W, 8) *
 * (N, C/8, 1, 1, 8) (ops/nchw8c.c), where the reference's runs would be
 * 8 floats each. Compiled with -mavx2 -mfma only.
 *
 *   a: shape A   b: shape B   y: broadcast(A, B)
 */
#include <immintrin.h>

#include "kernels/activation_avx2.h"

void fx_f32_add__avx2(const fx_kargs *a, int ith, int nth);
void fx_f32_sub__avx2(const fx_kargs *a, int ith, int nth);
void fx_f32_mul__avx2(const fx_kargs *a, int ith, int nth);
void fx_f32_div__avx2(const fx_kargs *a, int ith, int nth);
void fx_f32_add_relu__avx2(const fx_kargs *a, int ith, int nth);

FX_INLINE __m256
vapply(fx__binop op, __m256 x, __m256 z)
{
    switch (op) {
    case FX__BINOP_ADD:
        return _mm256_add_ps(x, z);
    case FX__BINOP_SUB:
        return _mm256_sub_ps(x, z);
    case FX__BINOP_MUL:
        return _mm256_mul_ps(x, z);
    case FX__BINOP_ADD_RELU:
        return fx__v_relu(_mm256_add_ps(x, z));
    default:
        return _mm256_div_ps(x, z);
    }
}

/* y[i] = x[i*sx] op z[i*sz], i < n (sx, sz 0 or 1); y may be x or z. */
FX_INLINE void
vrow(fx__binop op, const float *x, int64_t sx, const float *z, int64_t sz,
     float *y, int64_t n)
{
    int64_t i = 0;

    if (sx == 1 && sz == 1) {
        for (; i + 8 <= n; i += 8) {
            _mm256_storeu_ps(y + i, vapply(op, _mm256_loadu_ps(x + i),
                                           _mm256_loadu_ps(z + i)));
        }
    } else if (sx == 1) {
        const __m256 zv = _mm256_set1_ps(z[0]);

        for (; i + 8 <= n; i += 8) {
            _mm256_storeu_ps(y + i, vapply(op, _mm256_loadu_ps(x + i), zv));
        }
    } else if (sz == 1) {
        const __m256 xv = _mm256_set1_ps(x[0]);

        for (; i + 8 <= n; i += 8) {
            _mm256_storeu_ps(y + i, vapply(op, xv, _mm256_loadu_ps(z + i)));
        }
    } else {
        const __m256 v = vapply(op, _mm256_set1_ps(x[0]),
                                _mm256_set1_ps(z[0]));

        for (; i + 8 <= n; i += 8) {
            _mm256_storeu_ps(y + i, v);
        }
    }
    for (; i < n; i++) {
        y[i] = fx__binop_apply(op, x[i * sx], z[i * sz]);
    }
}

/* Whether y = full op part (or part op full) is an inner-block
 * broadcast: full has the output's shape, and part's dims (aligned from
 * the right, missing ones 1) are the output's but for one run of 1s
 * (where the output's are not) followed by dims of b elements in all, b
 * a multiple of 8. Then the output is r groups of m blocks of b floats,
 * block j of group i being full's block (i*m + j) op part's block i;
 * sets *r, *m, *b. */
static int
block_bcast(const fx_tensor *full, const fx_tensor *part,
            const fx_tensor *out, int64_t *r, int64_t *m, int64_t *b)
{
    int32_t i;
    int state = 0; /* 0: before the run, 1: in it, 2: after it */

    if (full->ndim != out->ndim || part->ndim > out->ndim) {
        return 0;
    }
    *r = *m = *b = 1;
    for (i = 0; i < out->ndim; i++) {
        const int32_t ip = i - (out->ndim - part->ndim);
        const int64_t d = out->shape[i];
        const int64_t e = ip >= 0 ? part->shape[ip] : 1;

        if (full->shape[i] != d) {
            return 0;
        }
        if (d == 1) {
            continue;
        }
        if (e == 1) {
            if (state == 2) {
                return 0;
            }
            state = 1;
            *m *= d;
        } else if (state == 0) {
            *r *= d;
        } else {
            state = 2;
            *b *= d;
        }
    }
    return state == 2 && *b % 8 == 0;
}

/* The inner-block broadcast's loop (see block_bcast) over the blocks
 * [begin, end) of all r*m, part_right: y = full op part, else part op
 * full. */
FX_INLINE void
block_loop(fx__binop op, const float *full, const float *part, float *y,
           int64_t m, int64_t b, int64_t begin, int64_t end,
           const int part_right)
{
    int64_t blk = begin, k, stop;

    while (blk < end) {
        const float *pp = part + blk / m * b;

        stop = (blk / m + 1) * m < end ? (blk / m + 1) * m : end;
        for (; blk < stop; blk++) {
            const float *f = full + blk * b;
            float *yb = y + blk * b;

            for (k = 0; k < b; k += 8) {
                const __m256 fv = _mm256_loadu_ps(f + k);
                const __m256 pv = _mm256_loadu_ps(pp + k);

                _mm256_storeu_ps(yb + k, part_right ? vapply(op, fv, pv)
                                                    : vapply(op, pv, fv));
            }
        }
    }
}

/* Runs the op's share (ith, nth: by blocks) if it is an inner-block
 * broadcast and returns 1, else returns 0. */
FX_INLINE int
block_run(fx__binop op, const fx_kargs *a, int ith, int nth)
{
    const fx_tensor *x = &a->in[0], *z = &a->in[1];
    int64_t r, m, b, begin, end;

    if (block_bcast(x, z, a->out, &r, &m, &b)) {
        fx__split(r * m, ith, nth, &begin, &end);
        block_loop(op, x->data, z->data, a->out->data, m, b, begin, end, 1);
        return 1;
    }
    if (block_bcast(z, x, a->out, &r, &m, &b)) {
        fx__split(r * m, ith, nth, &begin, &end);
        block_loop(op, z->data, x->data, a->out->data, m, b, begin, end, 0);
        return 1;
    }
    return 0;
}

#define DEFINE_BINARY(NAME, OP)                                            \
    static void NAME##_row(const float *x, int64_t sx, const float *z,     \
                           int64_t sz, float *y, int64_t n)                \
    {                                                                      \
        vrow(OP, x, sx, z, sz, y, n);                                      \
    }                                                                      \
    void fx_f32_##NAME##__avx2(const fx_kargs *a, int ith, int nth)        \
    {                                                                      \
        if (!block_run(OP, a, ith, nth)) {                                 \
            fx__binary_run(a, ith, nth, NAME##_row);                       \
        }                                                                  \
    }

FX__BINOPS(DEFINE_BINARY)
