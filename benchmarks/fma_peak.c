/* Measured single-precision FMA peak of this machine (AVX2 + FMA).
 *
 * Each thread runs 12 independent chains acc = acc * a + b of 256-bit FMAs
 * (8 floats, 2 FLOPs per lane) whose accumulators stay in ymm registers:
 * 12 chains cover the FMA latency (4-5 cycles) times the number of FMA
 * pipes (2) of current x86 cores. Keeping the accumulators in an array
 * instead makes gcc spill them to memory and measures ~4x too low.
 *
 * Build: gcc -O2 -mavx2 -mfma -pthread benchmarks/fma_peak.c -o fma_peak
 * Usage: fma_peak [threads ...]       (default: 1 2)
 * Prints one line per thread count:
 *     threads <T> gflops <G> wall_gflops <W>
 * G sums each thread's FLOPs over its own CPU time (CLOCK_THREAD_CPUTIME_ID),
 * so it is the machine's peak even while other processes share the cores;
 * W is the aggregate FLOPs over wall time (G on an idle machine). Each is
 * the best of several trials.
 */
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHAINS 12
#define ITERS 50000000L /* per thread and trial: 12 * 16 * 5e7 = 9.6 GFLOP, ~0.1 s */
#define TRIALS 5

static double seconds(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define FLOP_PER_THREAD ((double)ITERS * CHAINS * 8 * 2)

static volatile float sink;

/* arg: a double that receives this thread's GFLOP/s over its CPU time. */
static void *fma_chains(void *arg)
{
    double t0 = seconds(CLOCK_THREAD_CPUTIME_ID);
    const __m256 a = _mm256_set1_ps(0.999999f);
    const __m256 b = _mm256_set1_ps(1e-6f);
    __m256 c0 = _mm256_set1_ps(1.0f), c1 = _mm256_set1_ps(1.1f);
    __m256 c2 = _mm256_set1_ps(1.2f), c3 = _mm256_set1_ps(1.3f);
    __m256 c4 = _mm256_set1_ps(1.4f), c5 = _mm256_set1_ps(1.5f);
    __m256 c6 = _mm256_set1_ps(1.6f), c7 = _mm256_set1_ps(1.7f);
    __m256 c8 = _mm256_set1_ps(1.8f), c9 = _mm256_set1_ps(1.9f);
    __m256 c10 = _mm256_set1_ps(2.0f), c11 = _mm256_set1_ps(2.1f);
    for (long i = 0; i < ITERS; i++) {
        c0 = _mm256_fmadd_ps(c0, a, b);
        c1 = _mm256_fmadd_ps(c1, a, b);
        c2 = _mm256_fmadd_ps(c2, a, b);
        c3 = _mm256_fmadd_ps(c3, a, b);
        c4 = _mm256_fmadd_ps(c4, a, b);
        c5 = _mm256_fmadd_ps(c5, a, b);
        c6 = _mm256_fmadd_ps(c6, a, b);
        c7 = _mm256_fmadd_ps(c7, a, b);
        c8 = _mm256_fmadd_ps(c8, a, b);
        c9 = _mm256_fmadd_ps(c9, a, b);
        c10 = _mm256_fmadd_ps(c10, a, b);
        c11 = _mm256_fmadd_ps(c11, a, b);
    }
    /* Use every chain, so none is optimised away. */
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1),
                                           _mm256_add_ps(c2, c3)),
                             _mm256_add_ps(_mm256_add_ps(c4, c5),
                                           _mm256_add_ps(c6, c7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(c8, c9),
                                       _mm256_add_ps(c10, c11)));
    float out[8];
    _mm256_storeu_ps(out, s);
    sink = out[0];
    *(double *)arg = FLOP_PER_THREAD / (seconds(CLOCK_THREAD_CPUTIME_ID) - t0)
                     / 1e9;
    return NULL;
}

/* `threads` threads run the chains at once: sets the sum of their CPU-time
 * GFLOP/s and the aggregate wall-time GFLOP/s. */
static void run(int threads, double *cpu_gflops, double *wall_gflops)
{
    pthread_t tid[64];
    double rate[64];
    double t0 = seconds(CLOCK_MONOTONIC);
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&tid[i], NULL, fma_chains, &rate[i]) != 0) {
            perror("pthread_create");
            exit(1);
        }
    }
    *cpu_gflops = 0.0;
    for (int i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        *cpu_gflops += rate[i];
    }
    *wall_gflops = threads * FLOP_PER_THREAD
                   / (seconds(CLOCK_MONOTONIC) - t0) / 1e9;
}

int main(int argc, char **argv)
{
    int counts[64], n = 0;
    for (int i = 1; i < argc && n < 64; i++) {
        counts[n] = atoi(argv[i]);
        if (counts[n] < 1 || counts[n] > 64) {
            fprintf(stderr, "thread counts must be in [1, 64]\n");
            return 2;
        }
        n++;
    }
    if (n == 0) {
        counts[n++] = 1;
        counts[n++] = 2;
    }
    for (int k = 0; k < n; k++) {
        double best = 0.0, best_wall = 0.0;
        for (int t = 0; t < TRIALS; t++) {
            double g, w;
            run(counts[k], &g, &w);
            best = g > best ? g : best;
            best_wall = w > best_wall ? w : best_wall;
        }
        printf("threads %d gflops %.1f wall_gflops %.1f\n", counts[k], best,
               best_wall);
        fflush(stdout);
    }
    return 0;
}
