/*
 * py/ops_py.c - the eager op binding: attribute and array conversion
 * (shared with the graph/plan binding through binding.h) and the module
 * functions call(), infer(), op_names(), cpu_features(), kernel_name(),
 * isa_mask(), _set_isa_mask().
 *
 * The binding never switches on op names: attributes are converted
 * generically against the op's fx_attr_def schema, and every check of
 * shapes and values is the op's infer function.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "binding.h"

/* ---- attributes ----------------------------------------------------- */

static int
parse_int(const fx_op_info *op, const char *key, PyObject *v, int64_t *out)
{
    PyObject *idx;
    long long r;

    if (PyFloat_Check(v) || !PyNumber_Check(v)) {
        PyErr_Format(PyExc_TypeError,
                     "%s: attribute '%s' must be an int, got %.100s",
                     op->name, key, Py_TYPE(v)->tp_name);
        return -1;
    }
    idx = PyNumber_Index(v);
    if (idx == NULL) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError,
                     "%s: attribute '%s' must be an int, got %.100s",
                     op->name, key, Py_TYPE(v)->tp_name);
        return -1;
    }
    r = PyLong_AsLongLong(idx);
    Py_DECREF(idx);
    if (r == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError,
                     "%s: attribute '%s' is out of the 64-bit range",
                     op->name, key);
        return -1;
    }
    *out = (int64_t)r;
    return 0;
}

static int
parse_ints(const fx_op_info *op, const fx_attr_def *def, PyObject *v,
           fx_ints *out)
{
    PyObject *seq = NULL;
    Py_ssize_t n, i;
    int rc = -1;

    if (PyLong_Check(v) || PyIndex_Check(v)) {
        int64_t x;

        if (parse_int(op, def->name, v, &x) < 0) {
            return -1;
        }
        out->n = def->count > 0 ? def->count : 1;
        for (i = 0; i < out->n; i++) {
            out->v[i] = x;
        }
        return 0;
    }
    seq = PySequence_Fast(v, "");
    if (seq == NULL) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError,
                     "%s: attribute '%s' must be an int or a sequence of "
                     "ints, got %.100s",
                     op->name, def->name, Py_TYPE(v)->tp_name);
        return -1;
    }
    n = PySequence_Fast_GET_SIZE(seq);
    if (def->count > 0 ? (n != def->count && n != 1) : n > FX_MAX_DIMS) {
        if (def->count > 0) {
            PyErr_Format(PyExc_ValueError,
                         "%s: attribute '%s' must be an int or %d ints, "
                         "got %zd values",
                         op->name, def->name, (int)def->count, n);
        } else {
            PyErr_Format(PyExc_ValueError,
                         "%s: attribute '%s' has %zd values, at most %d "
                         "are supported",
                         op->name, def->name, n, FX_MAX_DIMS);
        }
        goto done;
    }
    out->n = def->count > 0 ? def->count : (int32_t)n;
    for (i = 0; i < out->n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, n == 1 ? 0 : i);

        if (parse_int(op, def->name, item, &out->v[i]) < 0) {
            goto done;
        }
    }
    rc = 0;
done:
    Py_XDECREF(seq);
    return rc;
}

static int
parse_one(const fx_op_info *op, const fx_attr_def *def, PyObject *v,
          char *params)
{
    void *field = params + def->offset;

    switch (def->kind) {
    case FX_ATTR_INT: {
        int64_t x;

        if (parse_int(op, def->name, v, &x) < 0) {
            return -1;
        }
        memcpy(field, &x, sizeof(x));
        return 0;
    }
    case FX_ATTR_INTS:
        return parse_ints(op, def, v, (fx_ints *)field);
    case FX_ATTR_FLOAT: {
        double x;

        if (!PyFloat_Check(v) && !PyLong_Check(v) && !PyNumber_Check(v)) {
            PyErr_Format(PyExc_TypeError,
                         "%s: attribute '%s' must be a float, got %.100s",
                         op->name, def->name, Py_TYPE(v)->tp_name);
            return -1;
        }
        x = PyFloat_AsDouble(v);
        if (x == -1.0 && PyErr_Occurred()) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError,
                         "%s: attribute '%s' must be a float, got %.100s",
                         op->name, def->name, Py_TYPE(v)->tp_name);
            return -1;
        }
        memcpy(field, &x, sizeof(x));
        return 0;
    }
    case FX_ATTR_BOOL: {
        int x = PyObject_IsTrue(v);

        if (x < 0) {
            return -1;
        }
        memcpy(field, &x, sizeof(x));
        return 0;
    }
    }
    PyErr_Format(PyExc_SystemError, "%s: attribute '%s' has a bad kind",
                 op->name, def->name);
    return -1;
}

int
fxpy_parse_attrs(const fx_op_info *op, PyObject *attrs, void *params)
{
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    int32_t i;

    memset(params, 0, FX_MAX_PARAMS);
    if (attrs == NULL || attrs == Py_None) {
        for (i = 0; i < op->n_attrs; i++) {
            if (!op->attrs[i].optional) {
                PyErr_Format(PyExc_TypeError,
                             "%s: missing attribute '%s'", op->name,
                             op->attrs[i].name);
                return -1;
            }
        }
        return 0;
    }
    if (!PyDict_Check(attrs)) {
        PyErr_Format(PyExc_TypeError, "%s: attrs must be a dict, got %.100s",
                     op->name, Py_TYPE(attrs)->tp_name);
        return -1;
    }
    /* unknown keys first, so a misspelt key is named as such */
    while (PyDict_Next(attrs, &pos, &key, &value)) {
        const char *k = PyUnicode_Check(key) ? PyUnicode_AsUTF8(key) : NULL;
        int found = 0;

        if (k == NULL) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError,
                         "%s: attribute names must be str, got %.100s",
                         op->name, Py_TYPE(key)->tp_name);
            return -1;
        }
        for (i = 0; i < op->n_attrs && !found; i++) {
            found = strcmp(op->attrs[i].name, k) == 0;
        }
        if (!found) {
            PyErr_Format(PyExc_TypeError, "%s: unknown attribute '%s'",
                         op->name, k);
            return -1;
        }
    }
    for (i = 0; i < op->n_attrs; i++) {
        const fx_attr_def *def = &op->attrs[i];
        PyObject *v = PyDict_GetItemString(attrs, def->name); /* borrowed */

        if (v == NULL && def->optional) {
            continue;
        }
        if (v == NULL) {
            PyErr_Format(PyExc_TypeError, "%s: missing attribute '%s'",
                         op->name, def->name);
            return -1;
        }
        if (parse_one(op, def, v, params) < 0) {
            return -1;
        }
    }
    return 0;
}

/* ---- arrays --------------------------------------------------------- */

int
fxpy_tensor_from(PyObject *obj, const char *opname, int index,
                 PyArrayObject **array, fx_tensor *t)
{
    PyArrayObject *arr;
    int i, nd;

    *array = NULL;
    memset(t, 0, sizeof(*t));
    if (obj == Py_None) {
        t->ndim = -1;
        return 0;
    }
    if (PyArray_Check(obj) || PyArray_IsScalar(obj, Generic)) {
        PyArray_Descr *d = PyArray_Check(obj)
                               ? PyArray_DESCR((PyArrayObject *)obj)
                               : NULL;
        char kind = 'f';

        if (d != NULL) {
            kind = d->kind;
        } else if (PyArray_IsScalar(obj, Integer)) {
            kind = 'i';
        } else if (PyArray_IsScalar(obj, Bool)) {
            kind = 'b';
        } else if (PyArray_IsScalar(obj, ComplexFloating)) {
            kind = 'c';
        }
        if (kind != 'f') {
            PyObject *dt = PyObject_GetAttrString(obj, "dtype");
            PyObject *s = dt != NULL ? PyObject_Str(dt) : NULL;
            const char *name = s != NULL ? PyUnicode_AsUTF8(s) : NULL;

            PyErr_Clear();
            PyErr_Format(PyExc_TypeError,
                         "%s: input %d has dtype %s; float arrays are "
                         "expected (float32, or float16/float64 which are "
                         "converted; convert images with "
                         "featx.transforms)",
                         opname, index, name != NULL ? name : "?");
            Py_XDECREF(s);
            Py_XDECREF(dt);
            return -1;
        }
    }
    arr = (PyArrayObject *)PyArray_FROM_OTF(
        obj, NPY_FLOAT32,
        NPY_ARRAY_IN_ARRAY | NPY_ARRAY_ENSUREARRAY | NPY_ARRAY_FORCECAST);
    if (arr == NULL) {
        return -1;
    }
    nd = PyArray_NDIM(arr);
    if (nd > FX_MAX_DIMS) {
        PyErr_Format(PyExc_ValueError,
                     "%s: input %d has %d dimensions, at most %d are "
                     "supported",
                     opname, index, nd, FX_MAX_DIMS);
        Py_DECREF(arr);
        return -1;
    }
    t->ndim = nd;
    for (i = 0; i < nd; i++) {
        t->shape[i] = (int64_t)PyArray_DIM(arr, i);
    }
    t->data = (float *)PyArray_DATA(arr);
    *array = arr;
    return 0;
}

/* ---- eager run ------------------------------------------------------ */

/* Whether array r has exactly the shape of t. */
static int
has_shape(PyArrayObject *r, const fx_tensor *t)
{
    int i;

    if (PyArray_NDIM(r) != t->ndim) {
        return 0;
    }
    for (i = 0; i < t->ndim; i++) {
        if ((int64_t)PyArray_DIM(r, i) != t->shape[i]) {
            return 0;
        }
    }
    return 1;
}

/* 0 if op takes n inputs, else -1 with a ValueError naming the op, the
 * number it takes and n. */
static int
check_arity(const fx_op_info *op, Py_ssize_t n)
{
    if (n >= op->n_in_min && n <= op->n_in_max) {
        return 0;
    }
    if (op->n_in_min == op->n_in_max) {
        PyErr_Format(PyExc_ValueError, "%s: expected %d input%s, got %zd",
                     op->name, (int)op->n_in_min,
                     op->n_in_min == 1 ? "" : "s", n);
    } else {
        PyErr_Format(PyExc_ValueError, "%s: expected %d to %d inputs, got %zd",
                     op->name, (int)op->n_in_min, (int)op->n_in_max, n);
    }
    return -1;
}

/* op's shape inference for inputs in: fills out and the workspace bytes
 * *ws. An output of more than FX_MAX_NUMEL elements is refused here, for
 * every op, before anything is allocated. Returns 0, or -1 with an
 * exception set. */
static int
infer(const fx_op_info *op, const void *params, Py_ssize_t n,
      const fx_tensor *in, fx_tensor *out, size_t *ws)
{
    fx_error err;

    memset(out, 0, sizeof(*out));
    err.code = FX_OK;
    err.msg[0] = '\0';
    if (op->infer(params, (int32_t)n, in, out, ws, &err) != FX_OK
        || fx_tensor_check_numel(op->name, out, &err) != FX_OK) {
        fxpy_raise(&err);
        return -1;
    }
    return 0;
}

/* 1 if the call's work (fx_op_cost) is below the pool's
 * fx_pool_serial_below, so that it runs on the calling thread. */
static int
small_work(const fx_op_info *op, const void *params, const fx_pool *pool,
           const fx_tensor *in, Py_ssize_t n, const fx_tensor *out)
{
    return fx_op_cost(op, params, (int32_t)n, in, out)
           < (double)fx_pool_serial_below(pool);
}

/* Whether the output (bufs->need bytes at bufs->at) may be written
 * there: it overlaps no input but one of its own shape at the same
 * address, read by an elementwise op (in place). */
static int
region_free(const fx_op_info *op, const fxpy_bufs *bufs,
            PyArrayObject *const *arrays, Py_ssize_t n, const fx_tensor *out)
{
    const char *lo = bufs->at, *hi = bufs->at + bufs->need;
    Py_ssize_t i;

    for (i = 0; i < n; i++) {
        const char *a, *b;

        if (arrays[i] == NULL) {
            continue;
        }
        a = PyArray_BYTES(arrays[i]);
        b = a + PyArray_NBYTES(arrays[i]);
        if (a < hi && lo < b
            && !(a == lo && has_shape(arrays[i], out)
                 && fx_op_elementwise(op))) {
            return 0;
        }
    }
    return 1;
}

/* A float32 C-contiguous array of shape dims on bufs->at, keeping
 * bufs->owner alive (new reference), or NULL with an exception set. */
static PyArrayObject *
view_on(const fxpy_bufs *bufs, int ndim, npy_intp *dims)
{
    PyObject *v = PyArray_NewFromDescr(&PyArray_Type,
                                       PyArray_DescrFromType(NPY_FLOAT32),
                                       ndim, dims, NULL, bufs->at,
                                       NPY_ARRAY_CARRAY, NULL);

    if (v == NULL) {
        return NULL;
    }
    if (PyArray_SetBaseObject((PyArrayObject *)v,
                              Py_NewRef(bufs->owner)) < 0) {
        Py_DECREF(v);
        return NULL;
    }
    return (PyArrayObject *)v;
}

PyObject *
fxpy_run_parsed(const fx_op_info *op, unsigned isa_mask, fx_pool *pool,
                const void *params, PyObject *inputs)
{
    return fxpy_run_into(op, isa_mask, pool, params, inputs, NULL);
}

/* Copies params into an aligned buffer (callers may keep them in a
 * byte array), so kernels read typed fields safely. */
PyObject *
fxpy_run_into(const fx_op_info *op, unsigned isa_mask, fx_pool *pool,
              const void *params, PyObject *inputs, fxpy_bufs *bufs)
{
    PyArrayObject *arrays[FX_MAX_INPUTS] = {NULL};
    fx_tensor in[FX_MAX_INPUTS];
    _Alignas(16) unsigned char pbuf[FX_MAX_PARAMS];
    npy_intp dims[FX_MAX_DIMS];
    PyObject *seq = NULL, *result = NULL;
    PyArrayObject *out_arr = NULL;
    fx_tensor out;
    size_t ws = 0;
    void *ws_raw = NULL, *ws_aligned = NULL;
    size_t ws_need;
    Py_ssize_t n = 0, i;
    fx_kernel_fn kernel;
    fx_kargs k;
    int nth;

    memcpy(pbuf, params, op->params_size);
    seq = PySequence_Fast(inputs, "");
    if (seq == NULL) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError,
                     "%s: inputs must be a sequence of arrays, got %.100s",
                     op->name, Py_TYPE(inputs)->tp_name);
        return NULL;
    }
    n = PySequence_Fast_GET_SIZE(seq);
    if (check_arity(op, n) < 0) {
        n = 0;
        goto fail;
    }
    for (i = 0; i < n; i++) {
        PyObject *obj = PySequence_Fast_GET_ITEM(seq, i);

        if (obj == Py_None && i < op->n_in_min) {
            PyErr_Format(PyExc_TypeError,
                         "%s: input %zd is required, got None", op->name, i);
            goto fail;
        }
        if (fxpy_tensor_from(obj, op->name, (int)i, &arrays[i], &in[i]) < 0) {
            goto fail;
        }
    }
    if (infer(op, pbuf, n, in, &out, &ws) < 0) {
        goto fail;
    }
    for (i = 0; i < out.ndim; i++) {
        dims[i] = (npy_intp)out.shape[i];
    }
    if (bufs != NULL) {
        bufs->need = (size_t)fx_tensor_numel(&out) * sizeof(float);
        bufs->ws_need = 0;
        if (bufs->at != NULL && bufs->need <= bufs->room
            && region_free(op, bufs, arrays, n, &out)) {
            out_arr = view_on(bufs, out.ndim, dims);
            if (out_arr == NULL) {
                goto fail;
            }
        }
    }
    for (i = 0; bufs != NULL && out_arr == NULL && i < bufs->n_out; i++) {
        if (has_shape(bufs->out[i], &out)) {
            out_arr = (PyArrayObject *)Py_NewRef((PyObject *)bufs->out[i]);
        }
    }
    if (out_arr == NULL) {
        out_arr = (PyArrayObject *)PyArray_SimpleNew(out.ndim, dims,
                                                     NPY_FLOAT32);
    }
    if (out_arr == NULL) {
        goto fail;
    }
    out.data = (float *)PyArray_DATA(out_arr);
    if (fx_tensor_numel(&out) > 0) {
        /* infer gives scratch bytes per thread: one aligned slot each */
        nth = small_work(op, pbuf, pool, in, n, &out) ? 1
                                                      : fx_pool_size(pool);
        if (ws > 0) {
            if (ws > (SIZE_MAX - 128) / (size_t)nth) {
                PyErr_NoMemory();
                goto fail;
            }
            ws = (ws + 63) / 64 * 64;
            ws_need = (size_t)nth * ws + 64;
            if (bufs == NULL) {
                ws_aligned = ws_raw = malloc(ws_need);
            }
            else if (bufs->ws_room >= ws_need) {
                ws_aligned = bufs->ws_at;
            }
            else if (bufs->ws_cap >= ws_need) {
                ws_aligned = bufs->ws_raw;
            }
            else {
                free(bufs->ws_raw);
                ws_aligned = bufs->ws_raw = malloc(ws_need);
                bufs->ws_cap = ws_aligned != NULL ? ws_need : 0;
            }
            if (ws_aligned == NULL) {
                PyErr_Format(PyExc_MemoryError,
                             "%s: cannot allocate %zu bytes of scratch",
                             op->name, ws_need);
                goto fail;
            }
            if (bufs != NULL) {
                bufs->ws_need = ws_need;
            }
            ws_aligned =
                (void *)(((uintptr_t)ws_aligned + 63) & ~(uintptr_t)63);
        }
        kernel = fx_op_kernel(op, isa_mask);
        k.params = pbuf;
        k.n_in = (int32_t)n;
        k.in = in;
        k.out = &out;
        k.workspace = ws_aligned;
        k.workspace_size = ws;
        Py_BEGIN_ALLOW_THREADS
        /* at most nth threads: the pool may be resized meanwhile */
        fx_pool_run_max(pool, nth, kernel, &k);
        Py_END_ALLOW_THREADS
    }
    result = (PyObject *)out_arr;
    out_arr = NULL;
fail:
    free(ws_raw);
    Py_XDECREF(out_arr);
    for (i = 0; i < n; i++) {
        Py_XDECREF(arrays[i]);
    }
    Py_XDECREF(seq);
    return result;
}

PyObject *
fxpy_run_op(const fx_op_info *op, unsigned isa_mask, fx_pool *pool,
            PyObject *inputs, PyObject *attrs)
{
    _Alignas(16) unsigned char params[FX_MAX_PARAMS];

    if (fxpy_parse_attrs(op, attrs, params) < 0) {
        return NULL;
    }
    return fxpy_run_parsed(op, isa_mask, pool, params, inputs);
}

/* ---- module functions ----------------------------------------------- */

static const fx_op_info *
find_op(PyObject *name)
{
    const char *s = PyUnicode_AsUTF8(name);
    const fx_op_info *op;
    PyObject *names = NULL, *sep = NULL, *joined = NULL;
    int i;

    if (s == NULL) {
        return NULL;
    }
    op = fx_op_find(s);
    if (op != NULL) {
        return op;
    }
    names = PyList_New(0);
    for (i = 0; names != NULL && i < FX_OP_COUNT; i++) {
        PyObject *u = PyUnicode_FromString(fx_op_get((fx_op)i)->name);

        if (u == NULL || PyList_Append(names, u) < 0) {
            Py_XDECREF(u);
            Py_CLEAR(names);
            break;
        }
        Py_DECREF(u);
    }
    sep = PyUnicode_FromString(", ");
    if (names != NULL && sep != NULL) {
        joined = PyUnicode_Join(sep, names);
    }
    if (joined != NULL) {
        PyErr_Format(PyExc_ValueError, "unknown op '%s'; known ops: %U", s,
                     joined);
    } else if (!PyErr_Occurred()) {
        PyErr_Format(PyExc_ValueError, "unknown op '%s'", s);
    }
    Py_XDECREF(joined);
    Py_XDECREF(sep);
    Py_XDECREF(names);
    return NULL;
}

/* The ISA mask for an explicit isa= argument (None: the module's). */
static int
isa_arg(PyObject *module, const char *isa, unsigned *mask)
{
    unsigned want;

    if (isa == NULL) {
        *mask = fxpy_state_of_module(module)->isa_mask;
        return 0;
    }
    if (strcmp(isa, "scalar") == 0) {
        want = FX_ISA_BIT(FX_ISA_SCALAR);
    } else if (strcmp(isa, "avx2") == 0) {
        want = FX_ISA_BIT(FX_ISA_SCALAR) | FX_ISA_BIT(FX_ISA_AVX2);
    } else if (strcmp(isa, "avx512") == 0) {
        want = FX_ISA_BIT(FX_ISA_SCALAR) | FX_ISA_BIT(FX_ISA_AVX2)
               | FX_ISA_BIT(FX_ISA_AVX512);
    } else {
        PyErr_Format(PyExc_ValueError,
                     "isa must be None, 'scalar', 'avx2' or 'avx512', got "
                     "'%s'",
                     isa);
        return -1;
    }
    *mask = want & fx_cpu_isa_mask();
    return 0;
}

PyDoc_STRVAR(call_doc,
"call(name, inputs, attrs, *, isa=None)\n--\n\n"
"Runs op `name` on `inputs` (a sequence of arrays, None for an absent\n"
"optional input) with attribute dict `attrs`; returns a new float32\n"
"ndarray. isa: None (module setting), 'scalar', 'avx2' or 'avx512',\n"
"capped by the CPU. Private; use featx.nn.functional.");

static PyObject *
fxpy_call(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"name", "inputs", "attrs", "isa", NULL};
    PyObject *name, *inputs, *attrs;
    const char *isa = NULL;
    const fx_op_info *op;
    unsigned mask;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "UOO|$z:call", kwlist,
                                     &name, &inputs, &attrs, &isa)) {
        return NULL;
    }
    op = find_op(name);
    if (op == NULL || isa_arg(module, isa, &mask) < 0) {
        return NULL;
    }
    return fxpy_run_op(op, mask, fxpy_state_of_module(module)->pool, inputs,
                       attrs);
}

PyDoc_STRVAR(workspace_bytes_doc,
"_workspace_bytes(name, inputs, attrs)\n--\n\n"
"The scratch bytes PER THREAD that op `name`'s infer reserves for these\n"
"inputs (arrays, or None for an absent optional input) and attrs; call()\n"
"allocates that times the thread count. Runs no kernel. Private; for\n"
"tests of the workspace bound.");

static PyObject *
fxpy_workspace_bytes(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"name", "inputs", "attrs", NULL};
    _Alignas(16) unsigned char params[FX_MAX_PARAMS];
    PyArrayObject *arrays[FX_MAX_INPUTS] = {NULL};
    fx_tensor in[FX_MAX_INPUTS], out;
    PyObject *name, *inputs, *attrs, *seq = NULL, *result = NULL;
    const fx_op_info *op;
    Py_ssize_t n = 0, i;
    size_t ws = 0;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "UOO:_workspace_bytes",
                                     kwlist, &name, &inputs, &attrs)) {
        return NULL;
    }
    op = find_op(name);
    if (op == NULL || fxpy_parse_attrs(op, attrs, params) < 0) {
        return NULL;
    }
    seq = PySequence_Fast(inputs, "_workspace_bytes: inputs must be a "
                                  "sequence");
    if (seq == NULL) {
        return NULL;
    }
    n = PySequence_Fast_GET_SIZE(seq);
    if (check_arity(op, n) < 0) {
        n = 0;
        goto done;
    }
    for (i = 0; i < n; i++) {
        if (fxpy_tensor_from(PySequence_Fast_GET_ITEM(seq, i), op->name,
                             (int)i, &arrays[i], &in[i]) < 0) {
            goto done;
        }
    }
    if (infer(op, params, n, in, &out, &ws) < 0) {
        goto done;
    }
    result = PyLong_FromSize_t(ws);
done:
    for (i = 0; i < n; i++) {
        Py_XDECREF(arrays[i]);
    }
    Py_XDECREF(seq);
    return result;
}

/* One input shape for infer(): None (an absent optional input, ndim -1)
 * or a sequence of at most FX_MAX_DIMS non-negative ints, at most
 * FX_MAX_NUMEL elements. Fills t with data NULL. Returns 0, or -1 with an
 * exception set. */
static int
shape_from(const fx_op_info *op, Py_ssize_t index, PyObject *obj,
           fx_tensor *t)
{
    PyObject *seq = NULL;
    Py_ssize_t n, i;
    fx_error err;
    int rc = -1;

    memset(t, 0, sizeof(*t));
    if (obj == Py_None) {
        t->ndim = -1;
        return 0;
    }
    seq = PySequence_Fast(obj, "");
    if (seq == NULL) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError,
                     "%s: input shape %zd must be a tuple of ints or None, "
                     "got %.100s",
                     op->name, index, Py_TYPE(obj)->tp_name);
        return -1;
    }
    n = PySequence_Fast_GET_SIZE(seq);
    if (n > FX_MAX_DIMS) {
        PyErr_Format(PyExc_ValueError,
                     "%s: input shape %zd has %zd dimensions, at most %d "
                     "are supported",
                     op->name, index, n, FX_MAX_DIMS);
        goto done;
    }
    for (i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        long long d;

        if (PyBool_Check(item) || !PyIndex_Check(item)) {
            PyErr_Format(PyExc_TypeError,
                         "%s: input shape %zd must hold ints, got %.100s",
                         op->name, index, Py_TYPE(item)->tp_name);
            goto done;
        }
        d = PyLong_AsLongLong(item);
        if (d == -1 && PyErr_Occurred()) {
            goto done;
        }
        if (d < 0) {
            PyErr_Format(PyExc_ValueError,
                         "%s: input shape %zd has a negative size %lld",
                         op->name, index, d);
            goto done;
        }
        t->shape[i] = (int64_t)d;
    }
    t->ndim = (int32_t)n;
    if (fx_tensor_check_numel(op->name, t, &err) != FX_OK) {
        PyErr_Format(PyExc_ValueError,
                     "%s: input shape %zd has more than the 2**48 elements "
                     "featx can hold", op->name, index);
        goto done;
    }
    rc = 0;
done:
    Py_DECREF(seq);
    return rc;
}

PyDoc_STRVAR(infer_doc,
"infer(name, input_shapes, attrs)\n--\n\n"
"The output shape (a tuple of ints) of op `name` for inputs of these\n"
"shapes (tuples of ints, None for an absent optional input) and the\n"
"attribute dict `attrs` (parsed as call() parses it), computed by the\n"
"op's shape inference alone: no array is allocated and no kernel runs.\n"
"Raises what call() raises for the same shapes. Private; used by\n"
"featx.feature_extraction.get_graph_node_info.");

static PyObject *
fxpy_infer(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"name", "input_shapes", "attrs", NULL};
    _Alignas(16) unsigned char params[FX_MAX_PARAMS];
    fx_tensor in[FX_MAX_INPUTS], out;
    PyObject *name, *shapes, *attrs, *seq = NULL, *result = NULL;
    const fx_op_info *op;
    Py_ssize_t n, i;
    size_t ws = 0;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "UOO:infer", kwlist,
                                     &name, &shapes, &attrs)) {
        return NULL;
    }
    op = find_op(name);
    if (op == NULL || fxpy_parse_attrs(op, attrs, params) < 0) {
        return NULL;
    }
    seq = PySequence_Fast(shapes, "");
    if (seq == NULL) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError,
                     "%s: input_shapes must be a sequence of shapes, got "
                     "%.100s",
                     op->name, Py_TYPE(shapes)->tp_name);
        return NULL;
    }
    n = PySequence_Fast_GET_SIZE(seq);
    if (check_arity(op, n) < 0) {
        goto done;
    }
    for (i = 0; i < n; i++) {
        PyObject *obj = PySequence_Fast_GET_ITEM(seq, i);

        if (obj == Py_None && i < op->n_in_min) {
            PyErr_Format(PyExc_TypeError,
                         "%s: input %zd is required, got None", op->name, i);
            goto done;
        }
        if (shape_from(op, i, obj, &in[i]) < 0) {
            goto done;
        }
    }
    if (infer(op, params, n, in, &out, &ws) < 0) {
        goto done;
    }
    result = PyTuple_New(out.ndim);
    for (i = 0; result != NULL && i < out.ndim; i++) {
        PyObject *d = PyLong_FromLongLong((long long)out.shape[i]);

        if (d == NULL) {
            Py_CLEAR(result);
            break;
        }
        PyTuple_SET_ITEM(result, i, d);
    }
done:
    Py_DECREF(seq);
    return result;
}

PyDoc_STRVAR(op_names_doc,
"op_names()\n--\n\nThe names of all ops, in registry order.");

static PyObject *
fxpy_op_names(PyObject *module, PyObject *unused)
{
    PyObject *t = PyTuple_New(FX_OP_COUNT);
    int i;

    if (t == NULL) {
        return NULL;
    }
    for (i = 0; i < FX_OP_COUNT; i++) {
        PyObject *s = PyUnicode_FromString(fx_op_get((fx_op)i)->name);

        if (s == NULL) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, s);
    }
    return t;
}

PyDoc_STRVAR(cpu_features_doc,
"cpu_features()\n--\n\n"
"The kernel levels this CPU and OS support, e.g. {'scalar': True,\n"
"'avx2': True, 'fma': True, 'avx512': False}. 'fma' is part of the avx2\n"
"level (featx's AVX2 kernels require it).");

static PyObject *
fxpy_cpu_features(PyObject *module, PyObject *unused)
{
    const unsigned m = fx_cpu_isa_mask();
    const int avx2 = (m & FX_ISA_BIT(FX_ISA_AVX2)) != 0;

    return Py_BuildValue("{s:O,s:O,s:O,s:O}", "scalar", Py_True, "avx2",
                         avx2 ? Py_True : Py_False, "fma",
                         avx2 ? Py_True : Py_False, "avx512",
                         (m & FX_ISA_BIT(FX_ISA_AVX512)) ? Py_True
                                                          : Py_False);
}

PyDoc_STRVAR(kernel_name_doc,
"kernel_name(name, isa=None)\n--\n\n"
"The C kernel that call() would run for op `name` at that ISA setting.");

static PyObject *
fxpy_kernel_name(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"name", "isa", NULL};
    PyObject *name;
    const char *isa = NULL;
    const fx_op_info *op;
    unsigned mask;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "U|z:kernel_name", kwlist,
                                     &name, &isa)) {
        return NULL;
    }
    op = find_op(name);
    if (op == NULL || isa_arg(module, isa, &mask) < 0) {
        return NULL;
    }
    return PyUnicode_FromString(fx_op_kernel_name(op, mask));
}

PyDoc_STRVAR(isa_mask_doc,
"isa_mask()\n--\n\n"
"The module's ISA mask (bit 0 scalar, 1 avx2, 2 avx512) used when\n"
"isa=None.");

static PyObject *
fxpy_isa_mask(PyObject *module, PyObject *unused)
{
    return PyLong_FromUnsignedLong(fxpy_state_of_module(module)->isa_mask);
}

PyDoc_STRVAR(set_isa_mask_doc,
"_set_isa_mask(mask)\n--\n\n"
"Caps the module's ISA mask (applied once from FEATX_ISA by featx);\n"
"bits the CPU lacks are dropped and scalar is always kept. Returns the\n"
"resulting mask.");

static PyObject *
fxpy_set_isa_mask(PyObject *module, PyObject *arg)
{
    unsigned long m = PyLong_AsUnsignedLong(arg);
    fxpy_state *st = fxpy_state_of_module(module);

    if (m == (unsigned long)-1 && PyErr_Occurred()) {
        return NULL;
    }
    st->isa_mask = ((unsigned)m & fx_cpu_isa_mask())
                   | FX_ISA_BIT(FX_ISA_SCALAR);
    return PyLong_FromUnsignedLong(st->isa_mask);
}

static PyMethodDef ops_methods[] = {
    {"call", (PyCFunction)(void (*)(void))fxpy_call,
     METH_VARARGS | METH_KEYWORDS, call_doc},
    {"_workspace_bytes", (PyCFunction)(void (*)(void))fxpy_workspace_bytes,
     METH_VARARGS | METH_KEYWORDS, workspace_bytes_doc},
    {"infer", (PyCFunction)(void (*)(void))fxpy_infer,
     METH_VARARGS | METH_KEYWORDS, infer_doc},
    {"op_names", fxpy_op_names, METH_NOARGS, op_names_doc},
    {"cpu_features", fxpy_cpu_features, METH_NOARGS, cpu_features_doc},
    {"kernel_name", (PyCFunction)(void (*)(void))fxpy_kernel_name,
     METH_VARARGS | METH_KEYWORDS, kernel_name_doc},
    {"isa_mask", fxpy_isa_mask, METH_NOARGS, isa_mask_doc},
    {"_set_isa_mask", fxpy_set_isa_mask, METH_O, set_isa_mask_doc},
    {NULL, NULL, 0, NULL},
};

int
fxpy_ops_exec(PyObject *m)
{
    return PyModule_AddFunctions(m, ops_methods);
}
