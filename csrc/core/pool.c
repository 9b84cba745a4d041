/*
 * A small pthread pool that runs one kernel at a time on all its threads:
 * fn(a, ith, nth) for ith in [0, nth), the calling thread taking ith = 0.
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
#include <unistd.h>

#include "featx.h"

struct fx_pool {
    int n; /* threads, the caller included */
    pthread_t *workers;
    pthread_mutex_t busy; /* held by the caller running a job */
    pthread_mutex_t lock; /* guards the fields below */
    pthread_cond_t start, done;
    uint64_t generation;
    int pending, stop;
    fx_kernel_fn fn;
    const fx_kargs *args;
    pid_t owner;
    atomic_llong serial_below; /* see fx_pool_serial_below */
};

typedef struct worker_arg {
    fx_pool *pool;
    int ith;
    uint64_t seen; /* the generation when spawned: jobs after it are new */
} worker_arg;

static void *
worker_main(void *p)
{
    worker_arg w = *(worker_arg *)p;
    fx_pool *pool = w.pool;
    uint64_t seen = w.seen;

    free(p);
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        fx_kernel_fn fn;
        const fx_kargs *args;

        while (pool->generation == seen && !pool->stop) {
            pthread_cond_wait(&pool->start, &pool->lock);
        }
        if (pool->stop) {
            break;
        }
        seen = pool->generation;
        fn = pool->fn;
        args = pool->args;
        pthread_mutex_unlock(&pool->lock);
        fn(args, w.ith, pool->n);
        pthread_mutex_lock(&pool->lock);
        if (--pool->pending == 0) {
            pthread_cond_signal(&pool->done);
        }
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

/* Stops and joins the workers (the pool must not be running a job). */
static void
stop_workers(fx_pool *p)
{
    int i;

    pthread_mutex_lock(&p->lock);
    p->stop = 1;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->lock);
    for (i = 0; i < p->n - 1; i++) {
        pthread_join(p->workers[i], NULL);
    }
    free(p->workers);
    p->workers = NULL;
    p->n = 1;
    p->stop = 0;
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
        w->ith = i + 1;
        w->seen = p->generation; /* stable: no job runs while resizing */
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
    pthread_mutex_lock(&p->lock);
    p->fn = fn;
    p->args = a;
    p->pending = p->n - 1;
    p->generation++;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->lock);
    fn(a, 0, p->n);
    pthread_mutex_lock(&p->lock);
    while (p->pending > 0) {
        pthread_cond_wait(&p->done, &p->lock);
    }
    pthread_mutex_unlock(&p->lock);
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
