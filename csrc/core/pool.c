/*
 * A small pthread pool that runs one kernel at a time on all its threads:
 * fn(a, ith, nth) for every ith in [0, nth), each part exactly once.
 *
 * Parts are claimed, not assigned: the caller publishes a job, runs part
 * 0 and then claims parts like the workers do, so a worker the OS has not
 * scheduled (the machine is busy, or it is still waking up) costs
 * parallelism but never a wait, and a small job may end on the caller
 * alone. Between jobs workers spin for up to SPIN_NS before they sleep
 * on a condition variable, and the caller spins as long for parts still
 * running on workers, so the back-to-back kernel calls of a plan hand
 * work over in about a microsecond instead of the tens a futex wake-up
 * takes, while an idle pool sleeps.
 *
 * A caller that finds the pool busy (another Python thread is running a
 * kernel on it) runs its kernel on its own thread instead of waiting, so
 * concurrent extractor calls never block each other. In a forked child the
 * pool's threads do not exist, so there too kernels run single-threaded.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <immintrin.h> /* _mm_pause, part of SSE2 */
#endif

#include "featx.h"

/* How long a thread spins before it sleeps, in nanoseconds: longer than
 * the gap between two kernel calls of a plan (microseconds of
 * bookkeeping, tens for a Python step), short enough that an idle pool
 * soon stops taking CPU time from other processes. */
#define SPIN_NS 50000

/* job packs the job's generation (bits 16 and up) with the next part to
 * claim (bits 0-15; FX_MAX_THREADS < 2^16): one compare-and-swap claims a
 * part of exactly the job its claimer saw. */
#define JOB_GEN(j) ((j) >> 16)
#define JOB_NEXT(j) ((int)((j) & 0xffff))

/*
 * A thread about to sleep announces it (sleepers, waiting) and then
 * re-checks under the lock; the other side checks the announcement after
 * its own update. All four accesses are sequentially consistent, so one
 * of the two sides sees the other and no wake-up is lost.
 */
struct fx_pool {
    int n; /* threads, the caller included */
    pthread_t *workers;
    pthread_mutex_t busy; /* held by the caller running a job */
    pthread_mutex_t lock; /* guards the sleeps on start and done */
    pthread_cond_t start, done;
    atomic_uint_least64_t job; /* generation << 16 | next part */
    atomic_int remaining; /* parts of the current job not yet finished */
    atomic_int sleepers;  /* workers asleep (or about to be) on start */
    atomic_int waiting;   /* the caller is asleep (or about to be) on done */
    atomic_int stop;
    fx_kernel_fn fn;      /* the current job, written before it is */
    const fx_kargs *args; /* published in job */
    pid_t owner;
    atomic_llong serial_below; /* see fx_pool_serial_below */
};

static void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
    _mm_pause();
#elif defined(__aarch64__) && defined(__GNUC__)
    __asm__ __volatile__("yield");
#endif
}

static int64_t
now_ns(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Spins until done(p, arg), for up to SPIN_NS. Returns 1 if it held. */
static int
spin_until(int (*done)(fx_pool *, uint64_t), fx_pool *p, uint64_t arg)
{
    int64_t t0 = 0;
    int i;

    for (i = 1;; i++) {
        if (done(p, arg)) {
            return 1;
        }
        if (i % 64 == 0) { /* read the clock now and then */
            if (t0 == 0) {
                t0 = now_ns();
            }
            else if (now_ns() - t0 > SPIN_NS) {
                return 0;
            }
        }
        cpu_relax();
    }
}

/* spin_until conditions: a job after generation gen was published; every
 * part of the current job has finished. */
static int
job_after(fx_pool *p, uint64_t gen)
{
    return JOB_GEN(atomic_load_explicit(&p->job, memory_order_acquire))
           != gen;
}

static int
parts_done(fx_pool *p, uint64_t unused)
{
    (void)unused;
    return atomic_load_explicit(&p->remaining, memory_order_acquire) == 0;
}

/* Claims and runs parts of the job of generation gen until none is left.
 * After a thread's last part ends the caller may return, so job data is
 * read only while holding an unfinished part. */
static void
run_parts(fx_pool *p, uint64_t gen)
{
    uint64_t j = atomic_load(&p->job);

    while (JOB_GEN(j) == gen && JOB_NEXT(j) < p->n) {
        if (atomic_compare_exchange_weak(&p->job, &j, j + 1)) {
            p->fn(p->args, JOB_NEXT(j), p->n);
            if (atomic_fetch_sub(&p->remaining, 1) == 1
                && atomic_load(&p->waiting)) {
                pthread_mutex_lock(&p->lock);
                pthread_cond_signal(&p->done);
                pthread_mutex_unlock(&p->lock);
            }
            j = atomic_load(&p->job);
        }
    }
}

typedef struct worker_arg {
    fx_pool *pool;
    uint64_t seen; /* the generation when spawned: jobs after it are new */
} worker_arg;

static void *
worker_main(void *arg)
{
    worker_arg w = *(worker_arg *)arg;
    fx_pool *p = w.pool;
    uint64_t seen = w.seen;

    free(arg);
    for (;;) {
        if (!spin_until(job_after, p, seen)) {
            pthread_mutex_lock(&p->lock);
            atomic_fetch_add(&p->sleepers, 1);
            while (JOB_GEN(atomic_load(&p->job)) == seen) {
                pthread_cond_wait(&p->start, &p->lock);
            }
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->lock);
        }
        if (atomic_load(&p->stop)) {
            break;
        }
        seen = JOB_GEN(atomic_load(&p->job));
        run_parts(p, seen);
    }
    return NULL;
}

/* Publishes a new generation: a job whose parts from `first` on are
 * unclaimed or, with stop set, the end. */
static uint64_t
publish(fx_pool *p, int first)
{
    uint64_t gen = JOB_GEN(atomic_load(&p->job)) + 1;

    atomic_store(&p->job, gen << 16 | (uint64_t)first);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->start);
        pthread_mutex_unlock(&p->lock);
    }
    return gen;
}

/* Stops and joins the workers (the pool must not be running a job). */
static void
stop_workers(fx_pool *p)
{
    int i;

    atomic_store(&p->stop, 1);
    (void)publish(p, 0);
    for (i = 0; i < p->n - 1; i++) {
        pthread_join(p->workers[i], NULL);
    }
    free(p->workers);
    p->workers = NULL;
    p->n = 1;
    atomic_store(&p->stop, 0);
}

/* Starts n - 1 workers. On failure keeps the ones that started. */
static fx_status
start_workers(fx_pool *p, int n, fx_error *err)
{
    int i;

    p->workers = calloc((size_t)(n > 1 ? n - 1 : 1), sizeof(pthread_t));
    if (p->workers == NULL) {
        return fx_error_set(err, FX_ERR_NOMEM, "out of memory for %d threads",
                            n);
    }
    for (i = 0; i < n - 1; i++) {
        worker_arg *w = malloc(sizeof(*w));

        if (w == NULL) {
            return fx_error_set(err, FX_ERR_NOMEM, "out of memory");
        }
        w->pool = p;
        /* stable: no job runs while resizing */
        w->seen = JOB_GEN(atomic_load(&p->job));
        if (pthread_create(&p->workers[i], NULL, worker_main, w) != 0) {
            free(w);
            return fx_error_set(err, FX_ERR_STATE,
                                "could not start thread %d of %d", i + 2, n);
        }
        p->n = i + 2;
    }
    return FX_OK;
}

fx_pool *
fx_pool_new(void)
{
    fx_pool *p = calloc(1, sizeof(fx_pool));

    if (p == NULL) {
        return NULL;
    }
    p->n = 1;
    p->owner = getpid();
    atomic_init(&p->job, 0);
    atomic_init(&p->remaining, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->waiting, 0);
    atomic_init(&p->stop, 0);
    atomic_init(&p->serial_below, FX_POOL_SERIAL_BELOW);
    pthread_mutex_init(&p->busy, NULL);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->start, NULL);
    pthread_cond_init(&p->done, NULL);
    return p;
}

fx_status
fx_pool_resize(fx_pool *p, int n, fx_error *err)
{
    fx_status s;

    if (n < 1 || n > FX_MAX_THREADS) {
        return fx_error_set(err, FX_ERR_ARG,
                            "number of threads must be in [1, %d], got %d",
                            FX_MAX_THREADS, n);
    }
    if (p->owner != getpid()) {
        return fx_error_set(err, FX_ERR_STATE,
                            "the thread pool cannot be resized in a forked "
                            "child process");
    }
    pthread_mutex_lock(&p->busy);
    stop_workers(p);
    s = start_workers(p, n, err);
    pthread_mutex_unlock(&p->busy);
    return s;
}

int
fx_pool_size(const fx_pool *p)
{
    return p == NULL ? 1 : p->n;
}

int64_t
fx_pool_serial_below(const fx_pool *p)
{
    return p == NULL ? 0
                     : (int64_t)atomic_load_explicit(&p->serial_below,
                                                     memory_order_relaxed);
}

void
fx_pool_set_serial_below(fx_pool *p, int64_t floats)
{
    if (p != NULL) {
        atomic_store_explicit(&p->serial_below, (long long)floats,
                              memory_order_relaxed);
    }
}

void
fx_pool_run(fx_pool *p, fx_kernel_fn fn, const fx_kargs *a)
{
    fx_pool_run_max(p, FX_MAX_THREADS, fn, a);
}

void
fx_pool_run_max(fx_pool *p, int max_threads, fx_kernel_fn fn,
                const fx_kargs *a)
{
    uint64_t gen;

    if (p == NULL || p->n == 1 || p->owner != getpid()
        || pthread_mutex_trylock(&p->busy) != 0) {
        fn(a, 0, 1);
        return;
    }
    /* p->n is stable while we hold busy (fx_pool_resize takes it) */
    if (p->n > max_threads) {
        pthread_mutex_unlock(&p->busy);
        fn(a, 0, 1);
        return;
    }
    p->fn = fn;
    p->args = a;
    atomic_store(&p->remaining, p->n);
    /* Part 0 is always the caller's, so that with two threads each keeps
     * working on the same part of the data from one kernel to the next
     * (in its own core's cache) rather than whichever it wins; then the
     * caller takes any part no worker has started. */
    gen = publish(p, 1);
    fn(a, 0, p->n);
    atomic_fetch_sub(&p->remaining, 1);
    run_parts(p, gen);
    if (!spin_until(parts_done, p, 0)) {
        pthread_mutex_lock(&p->lock);
        atomic_store(&p->waiting, 1);
        while (atomic_load(&p->remaining) > 0) {
            pthread_cond_wait(&p->done, &p->lock);
        }
        atomic_store(&p->waiting, 0);
        pthread_mutex_unlock(&p->lock);
    }
    pthread_mutex_unlock(&p->busy);
}

void
fx_pool_free(fx_pool *p)
{
    if (p == NULL) {
        return;
    }
    if (p->owner == getpid()) {
        pthread_mutex_lock(&p->busy);
        stop_workers(p);
        pthread_mutex_unlock(&p->busy);
        pthread_mutex_destroy(&p->busy);
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->start);
        pthread_cond_destroy(&p->done);
    }
    free(p->workers);
    free(p);
}
