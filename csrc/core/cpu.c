/*
 * core/cpu.c - runtime CPU feature detection (x86-64: cpuid leaves 1 and
 * 7 plus xgetbv for OS register-state support). A pure function: the
 * caller stores the result (module state, plan options); nothing is
 * cached here. On other architectures only the scalar path exists.
 */
#include "featx.h"

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)           \
    || defined(_M_IX86)
#define FX_CPU_X86 1
#if defined(_MSC_VER)
#include <immintrin.h>
#include <intrin.h>
#endif

static void
cpuid(unsigned leaf, unsigned sub, unsigned r[4])
{
#if defined(_MSC_VER)
    int v[4];

    __cpuidex(v, (int)leaf, (int)sub);
    r[0] = (unsigned)v[0];
    r[1] = (unsigned)v[1];
    r[2] = (unsigned)v[2];
    r[3] = (unsigned)v[3];
#else
    __asm__ __volatile__("cpuid"
                         : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
                         : "a"(leaf), "c"(sub));
#endif
}

static unsigned long long
xgetbv0(void)
{
#if defined(_MSC_VER)
    return _xgetbv(0);
#else
    unsigned lo, hi;

    __asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
#endif
}
#endif

unsigned
fx_cpu_isa_mask(void)
{
    unsigned mask = FX_ISA_BIT(FX_ISA_SCALAR);
#ifdef FX_CPU_X86
    unsigned r[4], max_leaf;
    int fma, osxsave, avx, avx2, f, dq, bw, vl;
    unsigned long long xcr0;

    cpuid(0, 0, r);
    max_leaf = r[0];
    if (max_leaf < 1) {
        return mask;
    }
    cpuid(1, 0, r);
    fma = (r[2] >> 12) & 1;
    osxsave = (r[2] >> 27) & 1;
    avx = (r[2] >> 28) & 1;
    if (!osxsave || !avx || max_leaf < 7) {
        return mask;
    }
    xcr0 = xgetbv0();
    cpuid(7, 0, r);
    avx2 = (r[1] >> 5) & 1;
    f = (r[1] >> 16) & 1;
    dq = (r[1] >> 17) & 1;
    bw = (r[1] >> 30) & 1;
    vl = (r[1] >> 31) & 1;
    /* XCR0 bits 1-2: SSE and YMM state saved by the OS. */
    if ((xcr0 & 0x6) != 0x6) {
        return mask;
    }
    if (avx2 && fma) {
        mask |= FX_ISA_BIT(FX_ISA_AVX2);
    }
    /* Bits 5-7: opmask, ZMM_Hi256 and Hi16_ZMM state. */
    if (f && dq && bw && vl && fma && (xcr0 & 0xe0) == 0xe0) {
        mask |= FX_ISA_BIT(FX_ISA_AVX512);
    }
#endif
    return mask;
}
