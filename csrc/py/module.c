/* featx._core: module definition, state and the error mapping. */
#define FXPY_IMPORT_ARRAY
#include "binding.h"

fxpy_state *
fxpy_state_of_module(PyObject *module)
{
    return (fxpy_state *)PyModule_GetState(module);
}

static int
module_traverse(PyObject *m, visitproc visit, void *arg)
{
    fxpy_state *st = fxpy_state_of_module(m);

    Py_VISIT(st->graph_type);
    Py_VISIT(st->proxy_type);
    Py_VISIT(st->plan_type);
    Py_VISIT(st->method_type);
    return 0;
}

static int
module_clear(PyObject *m)
{
    fxpy_state *st = fxpy_state_of_module(m);

    Py_CLEAR(st->graph_type);
    Py_CLEAR(st->proxy_type);
    Py_CLEAR(st->plan_type);
    Py_CLEAR(st->method_type);
    return 0;
}

static void
module_free(void *m)
{
    fxpy_state *st = fxpy_state_of_module((PyObject *)m);

    module_clear((PyObject *)m);
    fx_pool_free(st->pool);
    st->pool = NULL;
}

PyObject *
fxpy_op_error(void)
{
    PyObject *mod = PyImport_ImportModule("featx._errors");
    PyObject *cls = mod != NULL ? PyObject_GetAttrString(mod, "OpError")
                                : NULL;

    Py_XDECREF(mod);
    if (cls == NULL) {
        PyErr_Clear();
    }
    return cls;
}

/* Sets OpError (fxpy_op_error) with msg, or ValueError if that class
 * cannot be had. */
static void
set_op_error(const char *msg)
{
    PyObject *cls = fxpy_op_error();

    PyErr_SetString(cls != NULL ? cls : PyExc_ValueError, msg);
    Py_XDECREF(cls);
}

PyObject *
fxpy_raise(const fx_error *err)
{
    switch (err->code) {
    case FX_ERR_DTYPE:
        PyErr_SetString(PyExc_TypeError, err->msg);
        break;
    case FX_ERR_NOMEM:
        PyErr_NoMemory();
        break;
    case FX_ERR_UNSUPPORTED:
        PyErr_SetString(PyExc_NotImplementedError, err->msg);
        break;
    case FX_ERR_STATE:
        PyErr_SetString(PyExc_RuntimeError, err->msg);
        break;
    case FX_ERR_INTERNAL:
        PyErr_Format(PyExc_SystemError,
                     "internal error in featx core; please report: %s",
                     err->msg);
        break;
    case FX_ERR_ARG:
    case FX_ERR_SHAPE:
        set_op_error(err->msg);
        break;
    default: /* NOT_FOUND */
        PyErr_SetString(PyExc_ValueError, err->msg);
        break;
    }
    return NULL;
}

static int
module_exec(PyObject *m)
{
    fxpy_state *st = fxpy_state_of_module(m);

    import_array1(-1);
    st->isa_mask = fx_cpu_isa_mask();
    st->pool = fx_pool_new();
    if (st->pool == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    if (fxpy_ops_exec(m) < 0 || fxpy_graph_exec(m) < 0
        || fxpy_plan_exec(m) < 0) {
        return -1;
    }
    return 0;
}

static PyObject *
set_num_threads(PyObject *module, PyObject *arg)
{
    fxpy_state *st = fxpy_state_of_module(module);
    long n = PyLong_AsLong(arg);
    fx_error err = {FX_OK, ""};
    fx_status s;

    if (n == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (n < 1 || n > FX_MAX_THREADS) {
        return PyErr_Format(PyExc_ValueError,
                            "set_num_threads: the number of threads must be "
                            "in [1, %d], got %ld", FX_MAX_THREADS, n);
    }
    Py_BEGIN_ALLOW_THREADS
    s = fx_pool_resize(st->pool, (int)n, &err);
    Py_END_ALLOW_THREADS
    if (s != FX_OK) {
        return fxpy_raise(&err);
    }
    Py_RETURN_NONE;
}

static PyObject *
get_num_threads(PyObject *module, PyObject *unused)
{
    return PyLong_FromLong(fx_pool_size(fxpy_state_of_module(module)->pool));
}

static PyObject *
set_serial_below(PyObject *module, PyObject *arg)
{
    long long n = PyLong_AsLongLong(arg);

    if (n == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (n < 0) {
        return PyErr_Format(PyExc_ValueError, "_set_serial_below: expected "
                            "a number of floats >= 0, got %lld", n);
    }
    fx_pool_set_serial_below(fxpy_state_of_module(module)->pool, n);
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"set_num_threads", set_num_threads, METH_O,
     "set_num_threads(n)\n\nThreads that run each kernel (the caller "
     "included)."},
    {"get_num_threads", get_num_threads, METH_NOARGS,
     "get_num_threads() -> int"},
    {"_set_serial_below", set_serial_below, METH_O,
     "_set_serial_below(floats)\n\nKernel calls whose work (fx_op_cost, "
     "in elementwise floats) is below this run on the calling thread "
     "(default FX_POOL_SERIAL_BELOW). Private; tests set 0 so every "
     "thread split runs."},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
#ifdef Py_mod_multiple_interpreters
    {Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED},
#endif
    {0, NULL},
};

PyDoc_STRVAR(module_doc,
"featx's C core: op kernels, the traced graph and its executor.\n\n"
"Private; use the featx package.");

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "featx._core",
    .m_doc = module_doc,
    .m_size = sizeof(fxpy_state),
    .m_slots = module_slots,
    .m_methods = module_methods,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC PyInit__core(void);

PyMODINIT_FUNC
PyInit__core(void)
{
    return PyModuleDef_Init(&module_def);
}

fxpy_state *
fxpy_state_of_type(PyTypeObject *tp)
{
    return (fxpy_state *)PyType_GetModuleState(tp);
}
