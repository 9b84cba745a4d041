/* Shared declarations of the thin CPython binding (csrc/py/). */
#ifndef FXPY_BINDING_H
#define FXPY_BINDING_H

#include "py_numpy.h"
#include "featx.h"

/* Per-module state (no C globals). */
typedef struct fxpy_state {
    PyTypeObject *graph_type;
    PyTypeObject *proxy_type;
    PyTypeObject *method_type;
    PyTypeObject *plan_type;
    unsigned isa_mask;     /* detected once at import */
    fx_pool *pool;         /* the kernel thread pool */
} fxpy_state;

fxpy_state *fxpy_state_of_module(PyObject *module);
fxpy_state *fxpy_state_of_type(PyTypeObject *tp);

/* Raises the Python exception that matches err->code (STYLE.md table),
 * with err->msg verbatim. Returns NULL. */
PyObject *fxpy_raise(const fx_error *err);

/* featx._errors.OpError (new reference; looked up each call, so the
 * module keeps no global), or NULL with no exception set if it cannot be
 * imported. fxpy_raise raises it for FX_ERR_ARG and FX_ERR_SHAPE. */
PyObject *fxpy_op_error(void);

/* Parses an attrs dict against op's schema into params (FX_MAX_PARAMS
 * bytes, zeroed first). Returns 0, or -1 with an exception set. */
int fxpy_parse_attrs(const fx_op_info *op, PyObject *attrs, void *params);

/* Converts obj to a float32 C-contiguous aligned array (new reference) and
 * fills t (data borrowed from the array). None gives ndim = -1 and
 * *array = NULL. Returns 0, or -1 with an exception set. */
int fxpy_tensor_from(PyObject *obj, const char *opname, int index,
                     PyArrayObject **array, fx_tensor *t);

/* Runs one op eagerly: parse, infer, allocate, release the GIL, kernel.
 * inputs is a sequence; returns a new float32 ndarray. */
PyObject *fxpy_run_op(const fx_op_info *op, unsigned isa_mask,
                      fx_pool *pool, PyObject *inputs, PyObject *attrs);

/* Runs one op on already-parsed params: converts inputs (a sequence of
 * arrays or None), infers, allocates the output, releases the GIL around
 * the kernel. Returns a new float32 ndarray. */
PyObject *fxpy_run_parsed(const fx_op_info *op, unsigned isa_mask,
                          fx_pool *pool, const void *params,
                          PyObject *inputs);

/* Buffers a plan run lends its kernel steps, one per run (the regions
 * are in an arena lent to that run alone, so concurrent runs share
 * nothing). */
typedef struct fxpy_bufs {
    /* The output's planned region (NULL: none): `room` bytes at `at`
     * inside the memory of `owner`. The kernel writes there when the
     * output fits and the region overlaps no input, except an input of
     * the output's shape at the same address for an op for which
     * fx_op_elementwise() holds (in place); the array returned is a
     * view on it holding a reference to owner. */
    char *at;
    size_t room;
    PyObject *owner;
    /* Else candidate outputs, tried in order: the kernel writes into the
     * first with the output's shape, which is returned (new reference)
     * instead of a new array. Each must be a float32 C-contiguous
     * aligned writeable array that nothing else can observe, and only an
     * op for which fx_op_elementwise() holds may be given one of its
     * inputs. */
    PyArrayObject *const *out;
    int n_out;
    /* The kernel scratch's planned region (NULL: none), used when the
     * step's scratch fits in ws_room bytes. */
    char *ws_at;
    size_t ws_room;
    /* Else scratch kept from step to step (malloc'd; the run frees
     * ws_raw) and grown when a step needs more, so steps do not allocate
     * and page in fresh scratch each time. */
    void *ws_raw;
    size_t ws_cap; /* bytes */
    /* Set by the call: the bytes of its output and of its scratch. */
    size_t need, ws_need;
} fxpy_bufs;

/* As fxpy_run_parsed, with a plan run's buffers (NULL: none). */
PyObject *fxpy_run_into(const fx_op_info *op, unsigned isa_mask,
                        fx_pool *pool, const void *params, PyObject *inputs,
                        fxpy_bufs *bufs);

/* Each file's part of module exec: add its functions/types to m. */
int fxpy_ops_exec(PyObject *m);
int fxpy_graph_exec(PyObject *m);
int fxpy_plan_exec(PyObject *m);

#endif
