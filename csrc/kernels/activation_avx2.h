/*
 * kernels/activation_avx2.h - 8-wide AVX2+FMA forms of the pointwise
 * activations (ops/activation.c gives the formulas), shared by the
 * activation kernels (kernels/activation_avx2.c), the conv2d_bn epilogue
 * (kernels/gemm_avx2.c, kernels/dwconv2d_avx2.c) and batch_norm
 * (kernels/batch_norm_avx2.c), so a fused activation rounds exactly as
 * the standalone op. Include only from *_avx2.c files.
 *
 * relu, relu6, hardsigmoid and hardswish round exactly as the reference
 * kernels (same operations; max/min operands ordered so that NaN and -0
 * come through as the reference's comparisons let them). sigmoid, silu
 * and gelu use float32 polynomials: within 4 float32 ulp of the exact
 * value (the references are correctly rounded from double), 32 for the
 * tanh form of gelu far below 0, where exp(-2u) magnifies the rounding of
 * u, and 3e-6 relative (25 ulp) for the erf form on (-8.37439, -7.3],
 * where |gelu| < 1e-11 (the fit's error there; the reference's 1 + erf
 * cancels in double and is further off than that); results smaller than FLT_MIN in magnitude may be flushed to 0, and
 * so may silu(x) from x <= -88.3763 on (|silu| < 3e-37; see
 * fx__v_div_1pexp).
 */
#ifndef FX_ACTIVATION_AVX2_H
#define FX_ACTIVATION_AVX2_H

#include <immintrin.h>

#include "ops/ops.h"

/* max(0, v) that keeps NaN and -0 (relu's "v < 0 ? 0 : v"). */
FX_INLINE __m256
fx__v_relu(__m256 v)
{
    return _mm256_max_ps(_mm256_setzero_ps(), v);
}

/* min(max(v, 0), 6), NaN kept. */
FX_INLINE __m256
fx__v_relu6(__m256 v)
{
    return _mm256_min_ps(_mm256_set1_ps(6.0f), fx__v_relu(v));
}

/* u / 6 correctly rounded (as a division rounds it) for u = 0, NaN and
 * every u from 2^-120 on, without a division (one per 8 floats took
 * longer than the rest of hardswish): q = u * c with c = RN(1/6) is
 * within an ulp of u / 6, the remainder u - 6q is exact in an FMA, and
 * q + (u - 6q) * c rounds to the quotient. Checked against u / 6.0f for
 * every finite float u >= 0: only quotients below FLT_MIN (u < 2^-120)
 * may differ, and hardsigmoid never divides those (x + 3 is 0 or at
 * least 2^-22). */
FX_INLINE __m256
fx__v_div6(__m256 u)
{
    const __m256 c = _mm256_set1_ps(1.0f / 6.0f);
    const __m256 q = _mm256_mul_ps(u, c);

    return _mm256_fmadd_ps(_mm256_fnmadd_ps(q, _mm256_set1_ps(6.0f), u), c,
                           q);
}

/* min(max(v + 3, 0), 6) / 6, NaN kept. */
FX_INLINE __m256
fx__v_hardsigmoid(__m256 v)
{
    return fx__v_div6(fx__v_relu6(_mm256_add_ps(v, _mm256_set1_ps(3.0f))));
}

FX_INLINE __m256
fx__v_hardswish(__m256 v)
{
    return _mm256_mul_ps(v, fx__v_hardsigmoid(v));
}

/* The two halves of fx__v_exp. fx__v_exp_split returns 2^n and sets
 * *r = v - n ln 2 (two-part ln 2, |r| <= ln 2 / 2), n = round(v / ln 2),
 * for v in [-87.33654, 88.7] or NaN; n is rounded by adding
 * 1.5 * 2^23 + 127, which leaves n + 127 in the low bits, so 2^n is
 * those bits shifted into the exponent field (from v = 88.3763 on, n =
 * 128, whose exponent bits make 2^n +inf). fx__v_exp_poly returns
 * p(r) ~ exp(r): 1 + r + r^2 q(r), q a degree-4 least-squares fit
 * (relative error of p < 0.04 ulp). */
FX_INLINE __m256
fx__v_exp_split(__m256 v, __m256 *r)
{
    const __m256 magic = _mm256_set1_ps(12582912.0f + 127.0f);
    __m256 n = _mm256_fmadd_ps(v, _mm256_set1_ps(1.44269504088896341f),
                               magic);
    const __m256 scale = _mm256_castsi256_ps(
        _mm256_slli_epi32(_mm256_castps_si256(n), 23));

    n = _mm256_sub_ps(n, magic);
    *r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), v);
    *r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), *r);
    return scale;
}

FX_INLINE __m256
fx__v_exp_poly(__m256 r)
{
    __m256 q = _mm256_set1_ps(1.3814611593261361e-3f);

    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(8.368710055947304e-3f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(4.166838899254799e-2f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.666652113199234e-1f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(4.999999403953552e-1f));
    return _mm256_fmadd_ps(_mm256_mul_ps(q, r), r,
                           _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
}

/* exp(v) = 2^n p(r) (fx__v_exp_split, fx__v_exp_poly), NaN kept. v is
 * clamped to [-87.33654, 88.7]: below, exp(-87.33654) ~ FLT_MIN instead
 * of a subnormal or 0; from v = 88.3763 on +inf, also where exp(v) is
 * still below FLT_MAX. */
FX_INLINE __m256
fx__v_exp(__m256 v)
{
    const __m256 x = _mm256_min_ps(_mm256_set1_ps(88.7f),
                                   _mm256_max_ps(_mm256_set1_ps(-87.33654f),
                                                 v)); /* NaN kept */
    __m256 r;
    const __m256 scale = fx__v_exp_split(x, &r);

    return _mm256_mul_ps(fx__v_exp_poly(r), scale);
}

/* u / (1 + exp(-v)), one division: 1 + exp(-v) never cancels, and where
 * exp(-v) is +inf (v <= -88.3763) the result is u / inf: 0 for finite
 * u, NaN for infinite u (as u * sigmoid(v) = inf * 0 is). */
FX_INLINE __m256
fx__v_div_1pexp(__m256 u, __m256 v)
{
    const __m256 e = fx__v_exp(_mm256_xor_ps(v, _mm256_set1_ps(-0.0f)));

    return _mm256_div_ps(u, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

FX_INLINE __m256
fx__v_sigmoid(__m256 v)
{
    return fx__v_div_1pexp(_mm256_set1_ps(1.0f), v);
}

/* v * sigmoid(v) as v / (1 + exp(-v)), one rounding fewer. */
FX_INLINE __m256
fx__v_silu(__m256 v)
{
    return fx__v_div_1pexp(v, v);
}

/* Horner's rule for c[0] + c[1] t + ... + c[n-1] t^(n-1). */
FX_INLINE __m256
fx__v_poly(__m256 t, const float *c, int n)
{
    __m256 p = _mm256_set1_ps(c[n - 1]);
    int i;

    for (i = n - 2; i >= 0; i--) {
        p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(c[i]));
    }
    return p;
}

/* gelu's far negative tail: y, but -0 where -inf < x <= cut (where the
 * reference's 1 + erf or 1 + tanh rounds to 0) and NaN at x = -inf (the
 * reference's -inf * 0, as torch's). */
FX_INLINE __m256
fx__v_gelu_tail(__m256 x, float cut, __m256 y)
{
    const __m256 ninf = _mm256_set1_ps(-__builtin_inff());

    y = _mm256_blendv_ps(y, _mm256_set1_ps(-0.0f),
                         _mm256_cmp_ps(x, _mm256_set1_ps(cut), _CMP_LE_OQ));
    return _mm256_blendv_ps(y, _mm256_set1_ps(__builtin_nanf("")),
                            _mm256_cmp_ps(x, ninf, _CMP_EQ_OQ));
}

/* x * Phi(x), Phi the standard normal CDF = (1 + erf(x / sqrt 2)) / 2,
 * from Q(a) = Phi(-a) = exp(-a^2 / 2) S(a) for a = |x|: Phi = Q for
 * x < 0, 1 - Q above (Q <= 1/2 never cancels there). S = exp(z^2)
 * erfc(z) / 2, z = a / sqrt 2, is a degree-8 fit in t = 1 / (1 + z/2)
 * (relative error < 7e-8 on [0, 7] with these float32 coefficients,
 * < 3e-6 up to 8.5, where |x| Q(a) < 1e-20; one branch for every x).
 * a^2 / 2 is split exactly into hi + lo and lo is folded into exp's
 * reduced argument, as exp(-a^2/2) would magnify any rounding of a^2.
 * a is clamped to 8.5 (x^2 stays far from exp's clamps; past 8.5,
 * 1 - Q rounds to 1). The sign bit of x selects Q (so -0 and 0 give
 * Q = 1 - Q = 1/2). From x <= -8.37439 on, where the reference's
 * 1 + erf rounds to 0 in double, Phi is +0: x * Phi is -0 there, and
 * NaN at x = -inf (the reference's -inf * 0, as torch's). */
FX_INLINE __m256
fx__v_gelu_erf(__m256 x)
{
    static const float s_fit[9] = {
        -0.00015401665586978197f, 0.14378605782985687f, 0.12000211328268051f,
        0.21464890241622925f,     -0.15510012209415436f, 0.4459434449672699f,
        -0.39592233300209045f,    0.14750561118125916f,
        -0.020709646865725517f};
    const __m256 one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 xa = _mm256_min_ps(_mm256_set1_ps(8.5f),
                                    _mm256_andnot_ps(sign, x)); /* NaN kept */
    const __m256 xh = _mm256_mul_ps(half, xa);
    const __m256 hi = _mm256_mul_ps(xa, xh);
    const __m256 lo = _mm256_fmsub_ps(xa, xh, hi);
    const __m256 t = _mm256_div_ps(
        one, _mm256_fmadd_ps(xa, _mm256_set1_ps(0.35355339059327373f), one));
    __m256 r, q;
    const __m256 scale = fx__v_exp_split(_mm256_xor_ps(hi, sign), &r);

    q = _mm256_mul_ps(fx__v_exp_poly(_mm256_sub_ps(r, lo)), scale);
    q = _mm256_mul_ps(q, fx__v_poly(t, s_fit, 9));
    q = _mm256_blendv_ps(_mm256_sub_ps(one, q), q, x);
    q = _mm256_andnot_ps(
        _mm256_cmp_ps(x, _mm256_set1_ps(-8.37439f), _CMP_LE_OQ), q);
    return _mm256_mul_ps(x, q);
}

/* x/2 (1 + tanh(u)) = x * sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3);
 * -0 from x <= -7.1888056 on (the reference's 1 + tanh is 0 there). */
FX_INLINE __m256
fx__v_gelu_tanh(__m256 x)
{
    const __m256 c1 = _mm256_set1_ps(1.5957691216057308f);  /* 2 sqrt(2/pi) */
    const __m256 c3 = _mm256_set1_ps(0.07135481627159369f); /* c1 * 0.044715 */
    const __m256 u2 = _mm256_mul_ps(
        x, _mm256_fmadd_ps(c3, _mm256_mul_ps(x, x), c1));

    return fx__v_gelu_tail(x, -7.1888056f, fx__v_div_1pexp(x, u2));
}

/* Activation act (fx_act) of v, as the fused ops (batch_norm,
 * conv2d_bn, linear) apply it after their affine or bias. */
FX_INLINE __m256
fx__v_act(int64_t act, __m256 v)
{
    switch (act) {
    case FX_ACT_RELU:
        return fx__v_relu(v);
    case FX_ACT_RELU6:
        return fx__v_relu6(v);
    case FX_ACT_HARDSWISH:
        return fx__v_hardswish(v);
    case FX_ACT_SILU:
        return fx__v_silu(v);
    case FX_ACT_GELU:
        return fx__v_gelu_erf(v);
    default:
        return v;
    }
}

/* The fused BN epilogue: v * al + be (separate multiply and add, no FMA:
 * the batch_norm op's rounding), then activation act, so fusion does not
 * change results. */
FX_INLINE __m256
fx__v_bn_act(int64_t act, __m256 v, __m256 al, __m256 be)
{
    return fx__v_act(act, _mm256_add_ps(_mm256_mul_ps(v, al), be));
}

/* y[i] = act(x[i] * alpha + beta) for i < n (fx__v_bn_act; y may be
 * x), 8 floats at a time, the last ones by masked loads and stores (act:
 * a constant at the call sites). */
FX_INLINE void
fx__bn_act_n(const float *x, float *y, int64_t n, float alpha, float beta,
             const int64_t act)
{
    const __m256 al = _mm256_set1_ps(alpha), be = _mm256_set1_ps(beta);
    int64_t i;

    for (i = 0; i + 8 <= n; i += 8) {
        _mm256_storeu_ps(y + i,
                         fx__v_bn_act(act, _mm256_loadu_ps(x + i), al, be));
    }
    if (i < n) {
        const __m256i m = _mm256_cmpgt_epi32(
            _mm256_set1_epi32((int)(n - i)),
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));

        _mm256_maskstore_ps(
            y + i, m,
            fx__v_bn_act(act, _mm256_maskload_ps(x + i, m), al, be));
    }
}

/* fx__bn_act_n for any act, one loop per activation. */
FX_INLINE void
fx__bn_act_run(const float *x, float *y, int64_t n, float alpha, float beta,
               int64_t act)
{
    switch (act) {
    case FX_ACT_RELU:
        fx__bn_act_n(x, y, n, alpha, beta, FX_ACT_RELU);
        break;
    case FX_ACT_RELU6:
        fx__bn_act_n(x, y, n, alpha, beta, FX_ACT_RELU6);
        break;
    case FX_ACT_HARDSWISH:
        fx__bn_act_n(x, y, n, alpha, beta, FX_ACT_HARDSWISH);
        break;
    case FX_ACT_SILU:
        fx__bn_act_n(x, y, n, alpha, beta, FX_ACT_SILU);
        break;
    case FX_ACT_GELU:
        fx__bn_act_n(x, y, n, alpha, beta, FX_ACT_GELU);
        break;
    default:
        fx__bn_act_n(x, y, n, alpha, beta, FX_ACT_NONE);
        break;
    }
}

#endif /* FX_ACTIVATION_AVX2_H */
