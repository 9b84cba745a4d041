/*
 * Graph and Proxy: the Python face of fx_graph while a model is traced.
 *
 * A Proxy stands for the value of one graph node. Python operators on it
 * (number, comparison, subscript slots), attribute reads and method calls
 * append nodes to its graph; operations that need a concrete value (bool,
 * len, int, item assignment, ...) raise featx.fx.TraceError. The Graph keeps,
 * per node, (kind, target, args, kwargs) as Python objects for the plan
 * compiler; names, resolution and pruning are the core's (graph.c).
 */
#include "binding.h"

#include <string.h>

static const char *const KIND_NAMES[] = {
    "placeholder", "call_module", "call_function", "call_method", "get_attr",
};
#define N_KINDS ((int)(sizeof(KIND_NAMES) / sizeof(KIND_NAMES[0])))

typedef struct GraphObject {
    PyObject_HEAD
    fx_graph *g;
    PyObject *nodes;       /* list of (kind, target, args, kwargs) */
    PyObject *scope;       /* str: dotted path of the running module */
    PyObject *trace_error; /* exception type raised for untraceable uses */
    PyObject *iter_hook;   /* callable(proxy) -> iterator, for unpacking */
    PyObject *operator_module;
} GraphObject;

typedef struct ProxyObject {
    PyObject_HEAD
    PyObject *graph; /* GraphObject */
    int32_t index;   /* -1 while a data attribute read is pending */
    /* A data attribute read (x.shape) records its getattr node only when
     * the value is first used, as torch.fx does: an unused read leaves no
     * node, and a later use is recorded there, so names and order match
     * torchvision's. NULL once recorded (or for any other proxy). */
    PyObject *attr_of; /* the Proxy read from */
    PyObject *attr;    /* the attribute name */
} ProxyObject;

static int proxy_node(ProxyObject *p, int32_t *index);

typedef struct MethodObject {
    PyObject_HEAD
    PyObject *proxy;
    PyObject *name;
} MethodObject;

static int
is_proxy(PyObject *o, fxpy_state *st)
{
    return Py_IS_TYPE(o, st->proxy_type);
}

/* ---- collecting the proxies in an argument structure ----------------- */

/* Appends the node index of every Proxy in o (recursing into tuples,
 * lists, dict values and slices) to *idx. Returns 0 or -1. */
static int
collect_inputs(PyObject *o, fxpy_state *st, PyObject *graph, int32_t **idx,
               int32_t *n, int32_t *cap)
{
    if (is_proxy(o, st)) {
        ProxyObject *p = (ProxyObject *)o;

        if (p->graph != graph) {
            PyErr_SetString(PyExc_ValueError,
                            "a traced value from another trace was used; "
                            "values cannot cross traces");
            return -1;
        }
        if (*n == *cap) {
            int32_t c = *cap ? *cap * 2 : 8;
            int32_t *grown = PyMem_Realloc(*idx, (size_t)c * sizeof(int32_t));

            if (grown == NULL) {
                PyErr_NoMemory();
                return -1;
            }
            *idx = grown;
            *cap = c;
        }
        if (proxy_node(p, &(*idx)[*n]) < 0) {
            return -1;
        }
        (*n)++;
        return 0;
    }
    if (PyTuple_Check(o) || PyList_Check(o)) {
        Py_ssize_t i, len = PySequence_Fast_GET_SIZE(o);

        for (i = 0; i < len; i++) {
            if (collect_inputs(PySequence_Fast_GET_ITEM(o, i), st, graph, idx,
                               n, cap) < 0) {
                return -1;
            }
        }
        return 0;
    }
    if (PyDict_Check(o)) {
        Py_ssize_t pos = 0;
        PyObject *k, *v;

        while (PyDict_Next(o, &pos, &k, &v)) {
            if (collect_inputs(v, st, graph, idx, n, cap) < 0) {
                return -1;
            }
        }
        return 0;
    }
    if (PySlice_Check(o)) {
        PySliceObject *s = (PySliceObject *)o;

        if (collect_inputs(s->start, st, graph, idx, n, cap) < 0
            || collect_inputs(s->stop, st, graph, idx, n, cap) < 0
            || collect_inputs(s->step, st, graph, idx, n, cap) < 0) {
            return -1;
        }
    }
    return 0;
}

/* ---- Graph ----------------------------------------------------------- */

static PyObject *
new_proxy(GraphObject *g, int32_t index)
{
    fxpy_state *st = fxpy_state_of_type(Py_TYPE(g));
    ProxyObject *p = PyObject_GC_New(ProxyObject, st->proxy_type);

    if (p == NULL) {
        return NULL;
    }
    p->graph = Py_NewRef((PyObject *)g);
    p->index = index;
    p->attr_of = NULL;
    p->attr = NULL;
    PyObject_GC_Track(p);
    return (PyObject *)p;
}

/* Appends a node and returns its Proxy. Borrows every argument. */
static PyObject *
graph_add(GraphObject *g, fx_node_kind kind, PyObject *target, PyObject *args,
          PyObject *kwargs, const char *raw)
{
    fxpy_state *st = fxpy_state_of_type(Py_TYPE(g));
    int32_t *idx = NULL, n = 0, cap = 0, index = -1;
    PyObject *entry = NULL, *proxy = NULL;
    const char *scope;
    fx_error err = {FX_OK, ""};
    fx_status s;

    if (collect_inputs(args, st, (PyObject *)g, &idx, &n, &cap) < 0
        || collect_inputs(kwargs, st, (PyObject *)g, &idx, &n, &cap) < 0) {
        goto done;
    }
    scope = PyUnicode_AsUTF8(g->scope);
    if (scope == NULL) {
        goto done;
    }
    entry = Py_BuildValue("(iOOO)", (int)kind, target, args, kwargs);
    if (entry == NULL || PyList_Append(g->nodes, entry) < 0) {
        goto done;
    }
    s = fx_graph_add_node(g->g, kind, scope, raw, n, idx, &index, &err);
    if (s != FX_OK) {
        /* keep the Python side in step with the core */
        PyList_SetSlice(g->nodes, PyList_GET_SIZE(g->nodes) - 1,
                        PyList_GET_SIZE(g->nodes), NULL);
        fxpy_raise(&err);
        goto done;
    }
    proxy = new_proxy(g, index);
done:
    PyMem_Free(idx);
    Py_XDECREF(entry);
    return proxy;
}

/* The raw name of a callable target: its __name__, else its type's. */
static PyObject *
callable_name(PyObject *fn)
{
    PyObject *name = PyObject_GetAttrString(fn, "__name__");

    if (name != NULL && PyUnicode_Check(name)) {
        return name;
    }
    Py_XDECREF(name);
    PyErr_Clear();
    return PyUnicode_FromString(Py_TYPE(fn)->tp_name);
}

static PyObject *
record_call(GraphObject *g, PyObject *fn, PyObject *args, PyObject *kwargs)
{
    PyObject *name = callable_name(fn), *res;
    const char *raw;

    if (name == NULL || (raw = PyUnicode_AsUTF8(name)) == NULL) {
        Py_XDECREF(name);
        return NULL;
    }
    res = graph_add(g, FX_NODE_CALL_FUNCTION, fn, args, kwargs, raw);
    Py_DECREF(name);
    return res;
}

/* Records operator.<opname>(*args) for a Python operator on a Proxy. */
static PyObject *
record_operator(PyObject *proxy, const char *opname, PyObject *args)
{
    GraphObject *g = (GraphObject *)((ProxyObject *)proxy)->graph;
    PyObject *fn, *kwargs, *res = NULL;

    fn = PyObject_GetAttrString(g->operator_module, opname);
    kwargs = PyDict_New();
    if (fn != NULL && kwargs != NULL) {
        res = record_call(g, fn, args, kwargs);
    }
    Py_XDECREF(fn);
    Py_XDECREF(kwargs);
    return res;
}

static PyObject *
graph_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"trace_error", "iter_hook", NULL};
    PyObject *trace_error, *iter_hook;
    GraphObject *self;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO:Graph", kwlist,
                                     &trace_error, &iter_hook)) {
        return NULL;
    }
    self = (GraphObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->g = fx_graph_new();
    self->nodes = PyList_New(0);
    self->scope = PyUnicode_FromString("");
    self->operator_module = PyImport_ImportModule("operator");
    self->trace_error = Py_NewRef(trace_error);
    self->iter_hook = Py_NewRef(iter_hook);
    if (self->g == NULL || self->nodes == NULL || self->scope == NULL
        || self->operator_module == NULL) {
        Py_DECREF(self);
        return PyErr_Occurred() ? NULL : PyErr_NoMemory();
    }
    return (PyObject *)self;
}

static int
graph_traverse(GraphObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->nodes);
    Py_VISIT(self->scope);
    Py_VISIT(self->trace_error);
    Py_VISIT(self->iter_hook);
    Py_VISIT(self->operator_module);
    return 0;
}

static int
graph_clear(GraphObject *self)
{
    Py_CLEAR(self->nodes);
    Py_CLEAR(self->scope);
    Py_CLEAR(self->trace_error);
    Py_CLEAR(self->iter_hook);
    Py_CLEAR(self->operator_module);
    return 0;
}

static void
graph_dealloc(GraphObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);

    PyObject_GC_UnTrack(self);
    graph_clear(self);
    fx_graph_free(self->g);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static int
kind_from_name(PyObject *name)
{
    int k;

    for (k = 0; k < N_KINDS; k++) {
        if (PyUnicode_CompareWithASCIIString(name, KIND_NAMES[k]) == 0) {
            return k;
        }
    }
    PyErr_Format(PyExc_ValueError,
                 "node kind must be one of placeholder, call_module, "
                 "call_function, call_method, get_attr; got %R",
                 name);
    return -1;
}

PyDoc_STRVAR(create_node_doc,
"create_node(kind, target, args, kwargs, raw) -> Proxy\n\n"
"Appends a node; raw is the module path (call_module) or the raw name its\n"
"base is derived from.");

static PyObject *
graph_create_node(GraphObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"kind", "target", "args", "kwargs", "raw", NULL};
    PyObject *kind, *target, *a, *kw;
    const char *raw;
    int k;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "UOO!O!s:create_node",
                                     kwlist, &kind, &target, &PyTuple_Type,
                                     &a, &PyDict_Type, &kw, &raw)) {
        return NULL;
    }
    k = kind_from_name(kind);
    if (k < 0) {
        return NULL;
    }
    return graph_add(self, (fx_node_kind)k, target, a, kw, raw);
}

static PyObject *
graph_add_module_call(GraphObject *self, PyObject *args)
{
    const char *path;
    int first, last, returned;
    fx_error err = {FX_OK, ""};

    if (!PyArg_ParseTuple(args, "siii:add_module_call", &path, &first, &last,
                          &returned)) {
        return NULL;
    }
    if (fx_graph_add_module_call(self->g, path, first, last, returned, &err)
        != FX_OK) {
        return fxpy_raise(&err);
    }
    Py_RETURN_NONE;
}

static PyObject *
graph_names(GraphObject *self, PyObject *noargs)
{
    int32_t i, n = fx_graph_size(self->g);
    PyObject *list = PyList_New(n);

    for (i = 0; list != NULL && i < n; i++) {
        PyObject *s = PyUnicode_FromString(fx_graph_node_name(self->g, i));

        if (s == NULL) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, i, s);
    }
    return list;
}

static int
check_index(GraphObject *self, int i)
{
    if (i < 0 || i >= fx_graph_size(self->g)) {
        PyErr_Format(PyExc_IndexError, "node index %d out of range [0, %d)",
                     i, (int)fx_graph_size(self->g));
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(node_doc,
"node(i) -> (name, kind, target, args, kwargs, inputs)");

static PyObject *
graph_node(GraphObject *self, PyObject *arg)
{
    int i = PyLong_AsLong(arg);
    int32_t n_in, j;
    const int32_t *in;
    PyObject *entry, *inputs, *res;

    if ((i == -1 && PyErr_Occurred()) || check_index(self, i) < 0) {
        return NULL;
    }
    entry = PyList_GET_ITEM(self->nodes, i);
    in = fx_graph_node_inputs(self->g, i, &n_in);
    inputs = PyList_New(n_in);
    for (j = 0; inputs != NULL && j < n_in; j++) {
        PyObject *v = PyLong_FromLong(in[j]);

        if (v == NULL) {
            Py_CLEAR(inputs);
            break;
        }
        PyList_SET_ITEM(inputs, j, v);
    }
    if (inputs == NULL) {
        return NULL;
    }
    res = Py_BuildValue(
        "(ssOOON)", fx_graph_node_name(self->g, i),
        KIND_NAMES[PyLong_AsLong(PyTuple_GET_ITEM(entry, 0))],
        PyTuple_GET_ITEM(entry, 1), PyTuple_GET_ITEM(entry, 2),
        PyTuple_GET_ITEM(entry, 3), inputs);
    return res;
}

static PyObject *
graph_resolve(GraphObject *self, PyObject *arg)
{
    const char *q = PyUnicode_AsUTF8(arg);
    int32_t node = -1;
    fx_error err = {FX_OK, ""};

    if (q == NULL) {
        return NULL;
    }
    if (fx_graph_resolve(self->g, q, &node, &err) != FX_OK) {
        return fxpy_raise(&err);
    }
    return PyLong_FromLong(node);
}

PyDoc_STRVAR(prune_doc,
"prune(outputs) -> list of the node indices the outputs need, in order");

static PyObject *
graph_prune(GraphObject *self, PyObject *arg)
{
    PyObject *seq = PySequence_Fast(arg, "prune() takes a sequence of ints");
    int32_t n = fx_graph_size(self->g), i, n_out;
    int32_t *outs = NULL;
    uint8_t *keep = NULL;
    PyObject *res = NULL;
    fx_error err = {FX_OK, ""};

    if (seq == NULL) {
        return NULL;
    }
    n_out = (int32_t)PySequence_Fast_GET_SIZE(seq);
    outs = PyMem_Malloc((size_t)(n_out + 1) * sizeof(int32_t));
    keep = PyMem_Malloc((size_t)n + 1);
    if (outs == NULL || keep == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (i = 0; i < n_out; i++) {
        outs[i] = (int32_t)PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, i));
        if (outs[i] == -1 && PyErr_Occurred()) {
            goto done;
        }
    }
    if (fx_graph_prune(self->g, n_out, outs, keep, &err) != FX_OK) {
        fxpy_raise(&err);
        goto done;
    }
    res = PyList_New(0);
    for (i = 0; res != NULL && i < n; i++) {
        PyObject *v;

        if (!keep[i]) {
            continue;
        }
        v = PyLong_FromLong(i);
        if (v == NULL || PyList_Append(res, v) < 0) {
            Py_XDECREF(v);
            Py_CLEAR(res);
            break;
        }
        Py_DECREF(v);
    }
done:
    PyMem_Free(outs);
    PyMem_Free(keep);
    Py_DECREF(seq);
    return res;
}

static PyObject *
graph_lint(GraphObject *self, PyObject *noargs)
{
    fx_error err = {FX_OK, ""};

    if (fx_graph_lint(self->g, &err) != FX_OK) {
        return fxpy_raise(&err);
    }
    Py_RETURN_NONE;
}

static Py_ssize_t
graph_len(GraphObject *self)
{
    return fx_graph_size(self->g);
}

static PyObject *
graph_get_scope(GraphObject *self, void *closure)
{
    return Py_NewRef(self->scope);
}

static int
graph_set_scope(GraphObject *self, PyObject *value, void *closure)
{
    if (value == NULL || !PyUnicode_Check(value)) {
        PyErr_SetString(PyExc_TypeError, "Graph.scope must be a str");
        return -1;
    }
    Py_SETREF(self->scope, Py_NewRef(value));
    return 0;
}

static PyMethodDef graph_methods[] = {
    {"create_node", (PyCFunction)(void (*)(void))graph_create_node,
     METH_VARARGS | METH_KEYWORDS, create_node_doc},
    {"add_module_call", (PyCFunction)graph_add_module_call, METH_VARARGS,
     "add_module_call(path, first, last, returned)"},
    {"names", (PyCFunction)graph_names, METH_NOARGS,
     "names() -> list of node names in execution order"},
    {"node", (PyCFunction)graph_node, METH_O, node_doc},
    {"resolve", (PyCFunction)graph_resolve, METH_O,
     "resolve(query) -> node index (ValueError if none)"},
    {"prune", (PyCFunction)graph_prune, METH_O, prune_doc},
    {"lint", (PyCFunction)graph_lint, METH_NOARGS,
     "lint() -> None; SystemError if an invariant is broken"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef graph_getset[] = {
    {"scope", (getter)graph_get_scope, (setter)graph_set_scope,
     "dotted path of the module whose forward is running", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot graph_slots[] = {
    {Py_tp_doc, "Graph(trace_error, iter_hook): a graph being traced. "
                "Not thread-safe."},
    {Py_tp_new, graph_new},
    {Py_tp_dealloc, graph_dealloc},
    {Py_tp_traverse, graph_traverse},
    {Py_tp_clear, graph_clear},
    {Py_tp_methods, graph_methods},
    {Py_tp_getset, graph_getset},
    {Py_mp_length, graph_len},
    {0, NULL},
};

static PyType_Spec graph_spec = {
    .name = "featx._core.Graph",
    .basicsize = sizeof(GraphObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
             | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = graph_slots,
};

/* ---- Proxy ----------------------------------------------------------- */

/* Raises TraceError: "<what> in module '<scope>'" plus the remedies. */
static void *
trace_error(PyObject *proxy, const char *what)
{
    GraphObject *g = (GraphObject *)((ProxyObject *)proxy)->graph;
    const char *scope = PyUnicode_AsUTF8(g->scope);

    if (scope == NULL) {
        return NULL;
    }
    PyErr_Format(
        g->trace_error,
        "%s in %s%s%s: a traced value has no concrete value while tracing. "
        "Make that module a leaf (tracer_kwargs={'leaf_modules': [...]}), "
        "wrap the function that needs the value "
        "(tracer_kwargs={'autowrap_functions': [...]}), or fix the argument "
        "with concrete_args",
        what, scope[0] ? "module '" : "the root module", scope,
        scope[0] ? "'" : "");
    return NULL;
}

static int
proxy_traverse(ProxyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->graph);
    Py_VISIT(self->attr_of);
    Py_VISIT(self->attr);
    return 0;
}

static int
proxy_clear(ProxyObject *self)
{
    Py_CLEAR(self->graph);
    Py_CLEAR(self->attr_of);
    Py_CLEAR(self->attr);
    return 0;
}

/* The node index of p in *index, recording its pending attribute read
 * first (getattr(attr_of, attr), in the scope of this first use). 0 or -1
 * with an exception set. */
static int
proxy_node(ProxyObject *p, int32_t *index)
{
    PyObject *builtins, *getattr_fn = NULL, *args = NULL, *kw = NULL;
    PyObject *res = NULL;

    if (p->attr_of == NULL) {
        *index = p->index;
        return 0;
    }
    builtins = PyImport_ImportModule("builtins");
    if (builtins != NULL) {
        getattr_fn = PyObject_GetAttrString(builtins, "getattr");
    }
    args = PyTuple_Pack(2, p->attr_of, p->attr);
    kw = PyDict_New();
    if (getattr_fn != NULL && args != NULL && kw != NULL) {
        res = record_call((GraphObject *)p->graph, getattr_fn, args, kw);
    }
    Py_XDECREF(builtins);
    Py_XDECREF(getattr_fn);
    Py_XDECREF(args);
    Py_XDECREF(kw);
    if (res == NULL) {
        return -1;
    }
    p->index = ((ProxyObject *)res)->index;
    Py_DECREF(res);
    Py_CLEAR(p->attr_of);
    Py_CLEAR(p->attr);
    *index = p->index;
    return 0;
}

static void
proxy_dealloc(ProxyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);

    PyObject_GC_UnTrack(self);
    proxy_clear(self);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyObject *
proxy_repr(ProxyObject *self)
{
    GraphObject *g = (GraphObject *)self->graph;

    if (self->attr_of != NULL) {
        return PyUnicode_FromFormat("Proxy(%R.%U)", self->attr_of,
                                    self->attr);
    }
    return PyUnicode_FromFormat("Proxy(%s)",
                                fx_graph_node_name(g->g, self->index));
}

static Py_hash_t
proxy_hash(PyObject *self)
{
    Py_hash_t h = (Py_hash_t)((uintptr_t)self >> 4);

    return h == -1 ? -2 : h;
}

/* True if o is a Proxy (works without the module state, so the reflected
 * operand order 2 * x is recognised too). */
static int
is_proxy_obj(PyObject *o)
{
    return Py_TYPE(o)->tp_dealloc == (destructor)proxy_dealloc;
}

static PyObject *
binary_op(PyObject *a, PyObject *b, const char *opname)
{
    PyObject *args = PyTuple_Pack(2, a, b), *res;
    PyObject *proxy = is_proxy_obj(a) ? a : b;

    if (args == NULL) {
        return NULL;
    }
    res = record_operator(proxy, opname, args);
    Py_DECREF(args);
    return res;
}

#define DEFINE_BINARY(NAME, OP)                                            \
    static PyObject *proxy_##NAME(PyObject *a, PyObject *b)                \
    {                                                                      \
        return binary_op(a, b, OP);                                        \
    }
DEFINE_BINARY(add, "add")
DEFINE_BINARY(sub, "sub")
DEFINE_BINARY(mul, "mul")
DEFINE_BINARY(truediv, "truediv")
DEFINE_BINARY(floordiv, "floordiv")
DEFINE_BINARY(mod, "mod")
DEFINE_BINARY(matmul, "matmul")
DEFINE_BINARY(lshift, "lshift")
DEFINE_BINARY(rshift, "rshift")
DEFINE_BINARY(and, "and_")
DEFINE_BINARY(or, "or_")
DEFINE_BINARY(xor, "xor")
#undef DEFINE_BINARY

static PyObject *
proxy_pow(PyObject *a, PyObject *b, PyObject *mod)
{
    if (mod != Py_None) {
        return trace_error(a, "pow() with a modulus");
    }
    return binary_op(a, b, "pow");
}

static PyObject *
unary_op(PyObject *a, const char *opname)
{
    PyObject *args = PyTuple_Pack(1, a), *res;

    if (args == NULL) {
        return NULL;
    }
    res = record_operator(a, opname, args);
    Py_DECREF(args);
    return res;
}

static PyObject *
proxy_neg(PyObject *a)
{
    return unary_op(a, "neg");
}

static PyObject *
proxy_pos(PyObject *a)
{
    return unary_op(a, "pos");
}

static PyObject *
proxy_invert(PyObject *a)
{
    return unary_op(a, "invert");
}

static PyObject *
proxy_abs(PyObject *a)
{
    return unary_op(a, "abs");
}

static int
proxy_bool(PyObject *a)
{
    trace_error(a, "bool() of a traced value (data-dependent if/while)");
    return -1;
}

static PyObject *
proxy_int(PyObject *a)
{
    return trace_error(a, "int()/index() of a traced value");
}

static PyObject *
proxy_float(PyObject *a)
{
    return trace_error(a, "float() of a traced value");
}

static Py_ssize_t
proxy_len(PyObject *a)
{
    trace_error(a, "len() of a traced value");
    return -1;
}

static int
proxy_contains(PyObject *a, PyObject *b)
{
    trace_error(a, "'in' on a traced value");
    return -1;
}

static PyObject *
proxy_getitem(PyObject *a, PyObject *key)
{
    PyObject *args = PyTuple_Pack(2, a, key), *res;

    if (args == NULL) {
        return NULL;
    }
    res = record_operator(a, "getitem", args);
    Py_DECREF(args);
    return res;
}

static int
proxy_setitem(PyObject *a, PyObject *key, PyObject *value)
{
    trace_error(a, "item assignment on a traced value");
    return -1;
}

static PyObject *
proxy_iter(PyObject *a)
{
    GraphObject *g = (GraphObject *)((ProxyObject *)a)->graph;

    return PyObject_CallOneArg(g->iter_hook, a);
}

static PyObject *
proxy_richcompare(PyObject *a, PyObject *b, int op)
{
    static const char *const names[] = {"lt", "le", "eq", "ne", "gt", "ge"};

    return binary_op(a, b, names[op]);
}

static PyObject *
proxy_call(PyObject *self, PyObject *args, PyObject *kwargs)
{
    GraphObject *g = (GraphObject *)((ProxyObject *)self)->graph;
    PyObject *full, *kw, *res;
    Py_ssize_t i, n = PyTuple_GET_SIZE(args);

    full = PyTuple_New(n + 1);
    if (full == NULL) {
        return NULL;
    }
    PyTuple_SET_ITEM(full, 0, Py_NewRef(self));
    for (i = 0; i < n; i++) {
        PyTuple_SET_ITEM(full, i + 1, Py_NewRef(PyTuple_GET_ITEM(args, i)));
    }
    kw = kwargs ? Py_NewRef(kwargs) : PyDict_New();
    res = kw ? graph_add(g, FX_NODE_CALL_METHOD, Py_None, full, kw, "__call__")
             : NULL;
    Py_XDECREF(kw);
    Py_DECREF(full);
    return res;
}

/* Attributes of a tensor that are values, not methods: reading one
 * records getattr(x, name). Anything else is taken as a method. "values"
 * and "indices" are the fields of x.max(dim) / x.sort() results. */
static const char *const DATA_ATTRS[] = {
    "shape", "dtype", "ndim", "T", "mT", "data", "device", "real", "imag",
    "is_cuda", "itemsize", "nbytes", "size_in_bytes", "values", "indices",
    NULL,
};

static int
is_data_attr(const char *name)
{
    int i;

    for (i = 0; DATA_ATTRS[i] != NULL; i++) {
        if (strcmp(DATA_ATTRS[i], name) == 0) {
            return 1;
        }
    }
    return 0;
}

static PyObject *
proxy_getattro(PyObject *self, PyObject *name)
{
    const char *s = PyUnicode_AsUTF8(name);
    fxpy_state *st = fxpy_state_of_type(Py_TYPE(self));
    GraphObject *g = (GraphObject *)((ProxyObject *)self)->graph;

    if (s == NULL) {
        return NULL;
    }
    if (s[0] == '_') {
        return PyObject_GenericGetAttr(self, name);
    }
    if (is_data_attr(s)) {
        ProxyObject *res = (ProxyObject *)new_proxy(g, -1);

        if (res != NULL) {
            res->attr_of = Py_NewRef(self);
            res->attr = Py_NewRef(name);
        }
        return (PyObject *)res;
    }
    {
        MethodObject *m = PyObject_GC_New(MethodObject, st->method_type);

        if (m == NULL) {
            return NULL;
        }
        m->proxy = Py_NewRef(self);
        m->name = Py_NewRef(name);
        PyObject_GC_Track(m);
        return (PyObject *)m;
    }
}

static PyObject *
proxy_get_index(ProxyObject *self, void *closure)
{
    int32_t index;

    if (proxy_node(self, &index) < 0) {
        return NULL;
    }
    return PyLong_FromLong(index);
}

static PyObject *
proxy_get_graph(ProxyObject *self, void *closure)
{
    return Py_NewRef(self->graph);
}

static PyGetSetDef proxy_getset[] = {
    {"_fx_index", (getter)proxy_get_index, NULL, "node index", NULL},
    {"_fx_graph", (getter)proxy_get_graph, NULL, "the Graph", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot proxy_slots[] = {
    {Py_tp_doc, "A traced value: stands for one graph node's value."},
    {Py_tp_dealloc, proxy_dealloc},
    {Py_tp_traverse, proxy_traverse},
    {Py_tp_clear, proxy_clear},
    {Py_tp_repr, proxy_repr},
    {Py_tp_hash, proxy_hash},
    {Py_tp_getattro, proxy_getattro},
    {Py_tp_getset, proxy_getset},
    {Py_tp_richcompare, proxy_richcompare},
    {Py_tp_iter, proxy_iter},
    {Py_tp_call, proxy_call},
    {Py_nb_add, proxy_add},
    {Py_nb_subtract, proxy_sub},
    {Py_nb_multiply, proxy_mul},
    {Py_nb_true_divide, proxy_truediv},
    {Py_nb_floor_divide, proxy_floordiv},
    {Py_nb_remainder, proxy_mod},
    {Py_nb_power, proxy_pow},
    {Py_nb_matrix_multiply, proxy_matmul},
    {Py_nb_lshift, proxy_lshift},
    {Py_nb_rshift, proxy_rshift},
    {Py_nb_and, proxy_and},
    {Py_nb_or, proxy_or},
    {Py_nb_xor, proxy_xor},
    {Py_nb_negative, proxy_neg},
    {Py_nb_positive, proxy_pos},
    {Py_nb_invert, proxy_invert},
    {Py_nb_absolute, proxy_abs},
    {Py_nb_bool, proxy_bool},
    {Py_nb_int, proxy_int},
    {Py_nb_index, proxy_int},
    {Py_nb_float, proxy_float},
    {Py_mp_length, proxy_len},
    {Py_sq_length, proxy_len},
    {Py_sq_contains, proxy_contains},
    {Py_mp_subscript, proxy_getitem},
    {Py_mp_ass_subscript, proxy_setitem},
    {0, NULL},
};

static PyType_Spec proxy_spec = {
    .name = "featx._core.Proxy",
    .basicsize = sizeof(ProxyObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
             | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = proxy_slots,
};

/* ---- bound method recorder ------------------------------------------- */

static int
method_traverse(MethodObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->proxy);
    Py_VISIT(self->name);
    return 0;
}

static int
method_clear(MethodObject *self)
{
    Py_CLEAR(self->proxy);
    Py_CLEAR(self->name);
    return 0;
}

static void
method_dealloc(MethodObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);

    PyObject_GC_UnTrack(self);
    method_clear(self);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyObject *
method_call(MethodObject *self, PyObject *args, PyObject *kwargs)
{
    GraphObject *g = (GraphObject *)((ProxyObject *)self->proxy)->graph;
    Py_ssize_t i, n = PyTuple_GET_SIZE(args);
    PyObject *full = PyTuple_New(n + 1), *kw, *res;
    const char *raw = PyUnicode_AsUTF8(self->name);

    if (full == NULL || raw == NULL) {
        Py_XDECREF(full);
        return NULL;
    }
    PyTuple_SET_ITEM(full, 0, Py_NewRef(self->proxy));
    for (i = 0; i < n; i++) {
        PyTuple_SET_ITEM(full, i + 1, Py_NewRef(PyTuple_GET_ITEM(args, i)));
    }
    kw = kwargs ? Py_NewRef(kwargs) : PyDict_New();
    res = kw ? graph_add(g, FX_NODE_CALL_METHOD, self->name, full, kw, raw)
             : NULL;
    Py_XDECREF(kw);
    Py_DECREF(full);
    return res;
}

static PyObject *
method_repr(MethodObject *self)
{
    return PyUnicode_FromFormat("<traced method %U of %R>", self->name,
                                self->proxy);
}

static PyType_Slot method_slots[] = {
    {Py_tp_doc, "A method of a traced value; calling it records a "
                "call_method node."},
    {Py_tp_dealloc, method_dealloc},
    {Py_tp_traverse, method_traverse},
    {Py_tp_clear, method_clear},
    {Py_tp_call, method_call},
    {Py_tp_repr, method_repr},
    {0, NULL},
};

static PyType_Spec method_spec = {
    .name = "featx._core.ProxyMethod",
    .basicsize = sizeof(MethodObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
             | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = method_slots,
};

/* ---- module functions ------------------------------------------------ */

static PyObject *
find_proxy(PyObject *o, fxpy_state *st)
{
    Py_ssize_t i;

    if (is_proxy(o, st)) {
        return o;
    }
    if (PyTuple_Check(o) || PyList_Check(o)) {
        for (i = 0; i < PySequence_Fast_GET_SIZE(o); i++) {
            PyObject *p = find_proxy(PySequence_Fast_GET_ITEM(o, i), st);

            if (p != NULL) {
                return p;
            }
        }
    }
    else if (PyDict_Check(o)) {
        Py_ssize_t pos = 0;
        PyObject *k, *v;

        while (PyDict_Next(o, &pos, &k, &v)) {
            PyObject *p = find_proxy(v, st);

            if (p != NULL) {
                return p;
            }
        }
    }
    return NULL;
}

PyDoc_STRVAR(record_function_doc,
"record_function(fn, args, kwargs) -> Proxy\n\n"
"Records a call_function node for fn on the graph of the first traced\n"
"value found in args/kwargs.");

static PyObject *
record_function(PyObject *module, PyObject *args)
{
    fxpy_state *st = fxpy_state_of_module(module);
    PyObject *fn, *a, *kw, *proxy;

    if (!PyArg_ParseTuple(args, "OO!O!:record_function", &fn, &PyTuple_Type,
                          &a, &PyDict_Type, &kw)) {
        return NULL;
    }
    proxy = find_proxy(a, st);
    if (proxy == NULL) {
        proxy = find_proxy(kw, st);
    }
    if (proxy == NULL) {
        PyErr_SetString(PyExc_ValueError,
                        "record_function: no traced value in the arguments");
        return NULL;
    }
    return record_call((GraphObject *)((ProxyObject *)proxy)->graph, fn, a,
                       kw);
}

static PyMethodDef graph_module_methods[] = {
    {"record_function", record_function, METH_VARARGS, record_function_doc},
    {NULL, NULL, 0, NULL},
};

static int
add_type(PyObject *m, PyType_Spec *spec, PyTypeObject **slot)
{
    *slot = (PyTypeObject *)PyType_FromModuleAndSpec(m, spec, NULL);
    if (*slot == NULL) {
        return -1;
    }
    return PyModule_AddType(m, *slot);
}

int
fxpy_graph_exec(PyObject *m)
{
    fxpy_state *st = fxpy_state_of_module(m);

    if (add_type(m, &graph_spec, &st->graph_type) < 0
        || add_type(m, &proxy_spec, &st->proxy_type) < 0
        || add_type(m, &method_spec, &st->method_type) < 0) {
        return -1;
    }
    return PyModule_AddFunctions(m, graph_module_methods);
}
