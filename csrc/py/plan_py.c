/*
 * Plan: the executable form of a pruned graph.
 *
 * A plan is a list of steps over numbered value slots. A kernel step runs
 * one registered op on parameters parsed once at construction (its inputs
 * are slots or constant arrays such as weights, borrowed from the model);
 * a Python step calls a callable with its argument template, where
 * featx._op.SlotRef objects stand for slot values (user leaf modules,
 * Python operators, mode-dependent layers). Each slot is released right
 * after its last reader. A Plan is immutable after construction, so one
 * plan can run in several threads at once (all per-run state lives in
 * plan_run's frame); kernels run with the GIL released.
 *
 * Memory: an elementwise kernel step (fx_op_elementwise) writes into the
 * buffer of an input slot when, decided at construction, this step is
 * the slot's last reader, the slot is not returned and a kernel step made
 * it (so it is a plan-made array, never a user's input, a weight or a
 * Python step's result), and, checked at run time, the value is a
 * float32 C-contiguous writeable array owning its data with the output's
 * shape, referenced by the slot alone (a Python step may have kept it).
 *
 * Arenas: the output of a kernel step that is not returned and that no
 * Python step reads (in_arena: only kernels ever see it, so nothing
 * outlives the run's reference to it) and every kernel step's scratch
 * live in one block, an arena, at offsets laid out from their lifetimes
 * (from the writing step to the last reader) and the largest size each
 * had in earlier runs (arena_layout), so repeated calls write into
 * memory already paged in instead of fresh allocations (ResNet-50 batch
 * 1, only 'fc' returned: 3060 page faults per run -> 0). An elementwise
 * step's output takes the region of the input it may overwrite (the rule
 * above, decided when laying out). The first run of a plan, or one where
 * an output or scratch outgrew its region (a larger input), allocates
 * what does not fit as before and notes the sizes; the next run lays the
 * arena out again (sizes only grow) and reallocates it if it grew.
 * Returned values, values a Python step reads and Python steps' results
 * are never in an arena. A plan keeps N_ARENAS arenas, each lent to one
 * run at a time under the plan's lock (a run that finds all lent
 * allocates as the first run does), so it retains at most N_ARENAS
 * times its largest intermediates live at once plus scratch (ResNet-50,
 * batch 8, 224 x 224: 55 MiB each), freed with the plan; Plan(...,
 * reuse=False) keeps none. Without an arena, a run keeps one kernel
 * scratch buffer for all its steps (fxpy_bufs). Writing a kernel's
 * output into the value released last (of the same shape) raised page
 * faults: not done.
 */
#include "binding.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { STEP_KERNEL = 0, STEP_PYTHON = 1 };

#define MAX_REUSE 4 /* input slots a step may write into, tried in order */

typedef struct step {
    int kind;
    int32_t out;
    const fx_op_info *op;
    unsigned char params[FX_MAX_PARAMS];
    PyObject *inputs; /* kernel: tuple of int slot | array | None */
    PyObject *fn, *args, *kwargs; /* python */
    /* python: the slot of each SlotRef in args then kwargs, in the order
     * walk_slots (and substitute) visit them, read once at construction */
    int32_t *refs;
    int32_t n_refs;
    int32_t *frees; /* slots whose last reader is this step */
    int32_t n_frees;
    int snapshot; /* out is returned and a later Python step reads it */
    int32_t reuse[MAX_REUSE]; /* input slots the output may take over */
    int n_reuse;
    int in_arena;        /* out may live in a run's arena (header) */
    int32_t end;         /* the last step reading out (this one if none) */
    int32_t in_place_of; /* in_arena step whose region out may take over
                          * (one of reuse), or -1 */
    PyObject *name; /* the node's name, for error messages */
} step;

/* The memory one run lends its steps, kept by the plan between runs. */
typedef struct arena {
    PyObject *block;  /* uint8 array holding the regions, or NULL */
    char *base;       /* its first 64-byte aligned address */
    size_t cap;       /* bytes usable from base */
    size_t size;      /* bytes the layout uses */
    /* per item: step j's output is item j, its kernel scratch item
     * n_steps + j; its region (room 0: none) and its largest size in the
     * runs since the layout was made */
    size_t *at, *room, *seen;
    int stale;        /* an item did not fit its region: lay out again */
} arena;

#define N_ARENAS 2 /* arenas a plan keeps: concurrent runs served */

typedef struct PlanObject {
    PyObject_HEAD
    unsigned isa_mask;
    int32_t n_slots;
    PyObject *input_slots; /* tuple of int */
    PyObject *outputs;     /* tuple of (key, slot) */
    PyObject *slotref_type;
    step *steps;
    int32_t n_steps;
    /* the only state that changes after construction: arenas lent to
     * one run at a time, taken and given back under lock */
    PyThread_type_lock lock;
    arena *arenas[N_ARENAS];
    int busy[N_ARENAS];
} PlanObject;

/* ---- construction ---------------------------------------------------- */

/* Calls visit(slot, ctx) for every SlotRef in a template. */
static int
walk_slots(PyObject *o, PyObject *slotref_type,
           int (*visit)(int32_t, void *), void *ctx)
{
    if (Py_TYPE(o) == (PyTypeObject *)slotref_type) {
        PyObject *idx = PyObject_GetAttrString(o, "index");
        long v = idx ? PyLong_AsLong(idx) : -1;

        Py_XDECREF(idx);
        if (v == -1 && PyErr_Occurred()) {
            return -1;
        }
        return visit((int32_t)v, ctx);
    }
    if (PyTuple_Check(o) || PyList_Check(o)) {
        Py_ssize_t i;

        for (i = 0; i < PySequence_Fast_GET_SIZE(o); i++) {
            if (walk_slots(PySequence_Fast_GET_ITEM(o, i), slotref_type,
                           visit, ctx) < 0) {
                return -1;
            }
        }
    }
    else if (PyDict_Check(o)) {
        Py_ssize_t pos = 0;
        PyObject *k, *v;

        while (PyDict_Next(o, &pos, &k, &v)) {
            if (walk_slots(v, slotref_type, visit, ctx) < 0) {
                return -1;
            }
        }
    }
    else if (PySlice_Check(o)) {
        PySliceObject *s = (PySliceObject *)o;

        if (walk_slots(s->start, slotref_type, visit, ctx) < 0
            || walk_slots(s->stop, slotref_type, visit, ctx) < 0
            || walk_slots(s->step, slotref_type, visit, ctx) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Appends a template's slot to its step's refs. */
static int
collect_ref(int32_t slot, void *p)
{
    step *s = p;
    int32_t *refs = PyMem_Realloc(s->refs,
                                  sizeof(int32_t) * (size_t)(s->n_refs + 1));

    if (refs == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    s->refs = refs;
    s->refs[s->n_refs++] = slot;
    return 0;
}

typedef struct reader_ctx {
    int32_t *last_reader; /* per slot: index of the last step reading it */
    int32_t *py_reader;   /* per slot: 1 if a Python step reads it */
    int32_t n_slots;
    int32_t step;
    int python;
} reader_ctx;

static int
note_reader(int32_t slot, void *p)
{
    reader_ctx *c = p;

    if (slot < 0 || slot >= c->n_slots) {
        PyErr_Format(PyExc_ValueError, "Plan: slot %d out of range [0, %d)",
                     (int)slot, (int)c->n_slots);
        return -1;
    }
    c->last_reader[slot] = c->step;
    if (c->python) {
        c->py_reader[slot] = 1;
    }
    return 0;
}

static int
note_kernel_inputs(PyObject *inputs, reader_ctx *c)
{
    Py_ssize_t i;

    for (i = 0; i < PyTuple_GET_SIZE(inputs); i++) {
        PyObject *o = PyTuple_GET_ITEM(inputs, i);

        if (PyLong_Check(o)) {
            long v = PyLong_AsLong(o);

            if (v == -1 && PyErr_Occurred()) {
                return -1;
            }
            if (note_reader((int32_t)v, c) < 0) {
                return -1;
            }
        }
    }
    return 0;
}

static void
step_clear(step *s)
{
    Py_CLEAR(s->inputs);
    Py_CLEAR(s->fn);
    Py_CLEAR(s->args);
    Py_CLEAR(s->kwargs);
    Py_CLEAR(s->name);
    PyMem_Free(s->frees);
    s->frees = NULL;
    PyMem_Free(s->refs);
    s->refs = NULL;
}

/* Parses one step tuple:
 *   (out, "kernel", op_name, inputs_tuple, attrs_dict, node_name)
 *   (out, "python", fn, args_tuple, kwargs_dict, node_name) */
static int
parse_step(PlanObject *self, PyObject *spec, step *s)
{
    int out;
    const char *kind;
    PyObject *a, *b, *c, *name;

    memset(s, 0, sizeof(*s));
    if (!PyArg_ParseTuple(spec, "isOOOU:Plan step", &out, &kind, &a, &b, &c,
                          &name)) {
        return -1;
    }
    s->name = Py_NewRef(name);
    if (out < 0 || out >= self->n_slots) {
        PyErr_Format(PyExc_ValueError, "Plan: step output slot %d out of "
                     "range [0, %d)", out, (int)self->n_slots);
        return -1;
    }
    s->out = out;
    if (strcmp(kind, "kernel") == 0) {
        const char *op_name = PyUnicode_AsUTF8(a);

        if (op_name == NULL) {
            return -1;
        }
        s->kind = STEP_KERNEL;
        s->op = fx_op_find(op_name);
        if (s->op == NULL) {
            PyErr_Format(PyExc_ValueError, "Plan: unknown op '%s'", op_name);
            return -1;
        }
        if (!PyTuple_Check(b) || !PyDict_Check(c)) {
            PyErr_SetString(PyExc_TypeError,
                            "Plan: kernel step needs (inputs tuple, attrs "
                            "dict)");
            return -1;
        }
        if (fxpy_parse_attrs(s->op, c, s->params) < 0) {
            return -1;
        }
        s->inputs = Py_NewRef(b);
        return 0;
    }
    if (strcmp(kind, "python") == 0) {
        if (!PyCallable_Check(a) || !PyTuple_Check(b) || !PyDict_Check(c)) {
            PyErr_SetString(PyExc_TypeError,
                            "Plan: python step needs (callable, args tuple, "
                            "kwargs dict)");
            return -1;
        }
        s->kind = STEP_PYTHON;
        s->fn = Py_NewRef(a);
        s->args = Py_NewRef(b);
        s->kwargs = Py_NewRef(c);
        if (walk_slots(b, self->slotref_type, collect_ref, s) < 0
            || walk_slots(c, self->slotref_type, collect_ref, s) < 0) {
            return -1;
        }
        return 0;
    }
    PyErr_Format(PyExc_ValueError, "Plan: step kind must be 'kernel' or "
                 "'python', got '%s'", kind);
    return -1;
}

static int
is_output_slot(PlanObject *self, int32_t slot)
{
    Py_ssize_t i;

    for (i = 0; i < PyTuple_GET_SIZE(self->outputs); i++) {
        PyObject *pair = PyTuple_GET_ITEM(self->outputs, i);

        if (PyLong_AsLong(PyTuple_GET_ITEM(pair, 1)) == slot) {
            return 1;
        }
    }
    return 0;
}

/* Whether slot is one of a kernel step's inputs. */
static int
is_kernel_input(PyObject *inputs, int32_t slot)
{
    Py_ssize_t i;

    for (i = 0; i < PyTuple_GET_SIZE(inputs); i++) {
        PyObject *o = PyTuple_GET_ITEM(inputs, i);

        if (PyLong_Check(o) && PyLong_AsLong(o) == slot) {
            return 1;
        }
    }
    return 0;
}

/* Computes, per step, the slots to release after it, which outputs a
 * later Python step could modify (those are snapshot when produced), and
 * the input slots an elementwise step may write into. */
static int
plan_liveness(PlanObject *self, int reuse)
{
    int32_t n = self->n_slots, i, j;
    int32_t *last = PyMem_Malloc(sizeof(int32_t) * (size_t)(n + 1));
    int32_t *py = PyMem_Calloc((size_t)n + 1, sizeof(int32_t));
    int32_t *producer = PyMem_Malloc(sizeof(int32_t) * (size_t)(n + 1));
    int32_t *writes = PyMem_Calloc((size_t)n + 1, sizeof(int32_t));
    reader_ctx ctx = {last, py, n, 0, 0};
    int rc = -1;

    if (last == NULL || py == NULL || producer == NULL || writes == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (i = 0; i < n; i++) {
        last[i] = -1;
        producer[i] = -1;
    }
    for (i = 0; i < self->n_steps; i++) {
        step *s = &self->steps[i];

        ctx.step = i;
        ctx.python = s->kind == STEP_PYTHON;
        if (s->kind == STEP_KERNEL) {
            if (note_kernel_inputs(s->inputs, &ctx) < 0) {
                goto done;
            }
        }
        else {
            int32_t k;

            for (k = 0; k < s->n_refs; k++) {
                if (note_reader(s->refs[k], &ctx) < 0) {
                    goto done;
                }
            }
        }
        producer[s->out] = i;
        writes[s->out]++;
    }
    for (j = 0; j < n; j++) {
        step *s;

        if (last[j] < 0 || is_output_slot(self, j)) {
            continue;
        }
        s = &self->steps[last[j]];
        s->frees = PyMem_Realloc(s->frees,
                                 sizeof(int32_t) * (size_t)(s->n_frees + 1));
        if (s->frees == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        s->frees[s->n_frees++] = j;
    }
    for (j = 0; j < n; j++) {
        if (producer[j] >= 0 && py[j] && is_output_slot(self, j)) {
            self->steps[producer[j]].snapshot = 1;
        }
    }
    for (i = 0; i < self->n_steps; i++) {
        step *s = &self->steps[i];
        int32_t k;

        s->end = last[s->out] > i ? last[s->out] : i;
        s->in_arena = reuse && s->kind == STEP_KERNEL && !py[s->out]
                      && writes[s->out] == 1 && !is_output_slot(self, s->out);
        s->in_place_of = -1;
        if (!reuse || s->kind != STEP_KERNEL || !fx_op_elementwise(s->op)) {
            continue;
        }
        /* the slots this step frees are exactly those it reads last and
         * that are not returned */
        for (k = 0; k < s->n_frees && s->n_reuse < MAX_REUSE; k++) {
            const int32_t slot = s->frees[k];

            if (producer[slot] >= 0
                && self->steps[producer[slot]].kind == STEP_KERNEL
                && is_kernel_input(s->inputs, slot)) {
                s->reuse[s->n_reuse++] = slot;
                if (s->in_arena && s->in_place_of < 0
                    && self->steps[producer[slot]].in_arena) {
                    s->in_place_of = producer[slot];
                }
            }
        }
    }
    rc = 0;
done:
    PyMem_Free(last);
    PyMem_Free(py);
    PyMem_Free(producer);
    PyMem_Free(writes);
    return rc;
}

PyDoc_STRVAR(plan_doc,
"Plan(n_slots, input_slots, steps, outputs, slotref_type, isa_mask, *,\n"
"     reuse=True)\n\n"
"An executable pruned graph. steps: tuples (out, 'kernel', op, inputs,\n"
"attrs) or (out, 'python', fn, args, kwargs); outputs: tuples (key, slot).\n"
"reuse=False (private, for comparisons) never runs a step in place nor\n"
"keeps arenas. A plan keeps memory between runs: up to 2 arenas, each as\n"
"large as the most the intermediates of one run took at once.\n"
"Built by featx.fx.graph_module; not meant to be used directly.");

static arena *arena_new(int32_t n_steps);

static PyObject *
plan_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"n_slots", "input_slots", "steps", "outputs",
                             "slotref_type", "isa_mask", "reuse", NULL};
    int n_slots, reuse = 1;
    unsigned int isa_mask;
    PyObject *inputs, *steps, *outputs, *slotref_type;
    PlanObject *self;
    Py_ssize_t i;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "iO!O!O!OI|$p:Plan", kwlist,
                                     &n_slots, &PyTuple_Type, &inputs,
                                     &PyList_Type, &steps, &PyTuple_Type,
                                     &outputs, &slotref_type, &isa_mask,
                                     &reuse)) {
        return NULL;
    }
    if (n_slots < 0 || !PyType_Check(slotref_type)) {
        PyErr_SetString(PyExc_ValueError,
                        "Plan: n_slots must be >= 0 and slotref_type a type");
        return NULL;
    }
    self = (PlanObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->lock = PyThread_allocate_lock();
    if (self->lock == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    self->isa_mask = isa_mask;
    self->n_slots = n_slots;
    self->input_slots = Py_NewRef(inputs);
    self->outputs = Py_NewRef(outputs);
    self->slotref_type = Py_NewRef(slotref_type);
    self->steps = PyMem_Calloc((size_t)PyList_GET_SIZE(steps) + 1,
                               sizeof(step));
    if (self->steps == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    for (i = 0; i < PyList_GET_SIZE(steps); i++) {
        if (parse_step(self, PyList_GET_ITEM(steps, i),
                       &self->steps[i]) < 0) {
            step_clear(&self->steps[i]);
            Py_DECREF(self);
            return NULL;
        }
        self->n_steps++;
    }
    for (i = 0; i < PyTuple_GET_SIZE(outputs); i++) {
        PyObject *pair = PyTuple_GET_ITEM(outputs, i);
        long slot;

        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2
            || !PyLong_Check(PyTuple_GET_ITEM(pair, 1))) {
            PyErr_SetString(PyExc_TypeError,
                            "Plan: outputs must be (key, slot) pairs");
            Py_DECREF(self);
            return NULL;
        }
        slot = PyLong_AsLong(PyTuple_GET_ITEM(pair, 1));
        if (slot < 0 || slot >= n_slots) {
            PyErr_Format(PyExc_ValueError, "Plan: output slot %ld out of "
                         "range [0, %d)", slot, n_slots);
            Py_DECREF(self);
            return NULL;
        }
    }
    if (plan_liveness(self, reuse) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    /* made now, so that their small blocks do not pin freed memory of a
     * run in the C heap */
    for (i = 0; reuse && i < N_ARENAS; i++) {
        self->arenas[i] = arena_new(self->n_steps);
        if (self->arenas[i] == NULL) {
            Py_DECREF(self);
            return PyErr_NoMemory();
        }
    }
    return (PyObject *)self;
}

static int
plan_traverse(PlanObject *self, visitproc visit, void *arg)
{
    int32_t i;

    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->input_slots);
    Py_VISIT(self->outputs);
    Py_VISIT(self->slotref_type);
    for (i = 0; i < self->n_steps; i++) {
        Py_VISIT(self->steps[i].inputs);
        Py_VISIT(self->steps[i].fn);
        Py_VISIT(self->steps[i].args);
        Py_VISIT(self->steps[i].kwargs);
        Py_VISIT(self->steps[i].name);
    }
    return 0;
}

static int
plan_clear(PlanObject *self)
{
    int32_t i;

    Py_CLEAR(self->input_slots);
    Py_CLEAR(self->outputs);
    Py_CLEAR(self->slotref_type);
    for (i = 0; i < self->n_steps; i++) {
        step_clear(&self->steps[i]);
    }
    return 0;
}

static void arena_free(arena *a);

static void
plan_dealloc(PlanObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    int i;

    PyObject_GC_UnTrack(self);
    plan_clear(self);
    for (i = 0; i < N_ARENAS; i++) {
        arena_free(self->arenas[i]);
    }
    if (self->lock != NULL) {
        PyThread_free_lock(self->lock);
    }
    PyMem_Free(self->steps);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

/* ---- arenas --------------------------------------------------------- */

static void
arena_free(arena *a)
{
    if (a == NULL) {
        return;
    }
    Py_XDECREF(a->block);
    PyMem_Free(a->at);
    PyMem_Free(a->room);
    PyMem_Free(a->seen);
    PyMem_Free(a);
}

static arena *
arena_new(int32_t n_steps)
{
    arena *a = PyMem_Calloc(1, sizeof(arena));
    size_t n = 2 * (size_t)n_steps + 1;

    if (a == NULL) {
        return NULL;
    }
    a->at = PyMem_Calloc(n, sizeof(size_t));
    a->room = PyMem_Calloc(n, sizeof(size_t));
    a->seen = PyMem_Calloc(n, sizeof(size_t));
    a->stale = 1;
    if (a->at == NULL || a->room == NULL || a->seen == NULL) {
        arena_free(a);
        return NULL;
    }
    return a;
}

/* Items sharing one region (in_arena outputs written in place one after
 * the other, or one step's scratch): live from step `start` to `end`. */
typedef struct group {
    int32_t start, end;
    size_t size, at;
} group;

static int
by_size(const void *x, const void *y)
{
    const group *a = *(group *const *)x, *b = *(group *const *)y;

    if (a->size != b->size) {
        return a->size < b->size ? 1 : -1;
    }
    return (a->start > b->start) - (a->start < b->start);
}

static int
by_offset(const void *x, const void *y)
{
    const group *a = *(group *const *)x, *b = *(group *const *)y;

    return (a->at > b->at) - (a->at < b->at);
}

/* Lays the items out in a->size bytes: each gets the largest size it
 * had (a->room, a->seen), rounded up to 64 bytes; an elementwise step's
 * output shares the region of the input it may overwrite when their
 * sizes are equal; then, largest first, each group takes the lowest
 * offset where it overlaps no group live at the same time. Returns 0, or
 * -1 with MemoryError. */
static int
arena_layout(PlanObject *self, arena *a)
{
    int32_t n = self->n_steps, n_groups = 0, i, k;
    size_t n_items = 2 * (size_t)n + 1;
    group *groups = PyMem_Calloc(n_items, sizeof(group));
    group **order = PyMem_Calloc(n_items, sizeof(group *));
    group **live = PyMem_Calloc(n_items, sizeof(group *));
    int32_t *of = PyMem_Calloc(n_items, sizeof(int32_t));
    size_t *size = a->seen;
    int rc = -1;

    if (groups == NULL || order == NULL || live == NULL || of == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (i = 0; i < 2 * n; i++) {
        const step *s = &self->steps[i % n];
        const int32_t p = i < n ? s->in_place_of : -1;

        of[i] = -1;
        size[i] = a->room[i] > size[i] ? a->room[i] : size[i];
        if (!(i < n ? s->in_arena : s->kind == STEP_KERNEL) || size[i] == 0) {
            continue;
        }
        if (p >= 0 && of[p] >= 0 && size[p] == size[i]) {
            of[i] = of[p];
            groups[of[i]].end = s->end;
            continue;
        }
        of[i] = n_groups;
        groups[n_groups].start = i % n;
        groups[n_groups].end = i < n ? s->end : i - n;
        groups[n_groups].size = (size[i] + 63) / 64 * 64;
        order[n_groups] = &groups[n_groups];
        n_groups++;
    }
    qsort(order, (size_t)n_groups, sizeof(group *), by_size);
    a->size = 0;
    for (i = 0; i < n_groups; i++) {
        group *g = order[i];
        int32_t n_live = 0;

        for (k = 0; k < i; k++) {
            if (order[k]->start <= g->end && g->start <= order[k]->end) {
                live[n_live++] = order[k];
            }
        }
        qsort(live, (size_t)n_live, sizeof(group *), by_offset);
        g->at = 0;
        for (k = 0; k < n_live && live[k]->at < g->at + g->size; k++) {
            if (live[k]->at + live[k]->size > g->at) {
                g->at = live[k]->at + live[k]->size;
            }
        }
        if (g->at + g->size > a->size) {
            a->size = g->at + g->size;
        }
    }
    for (i = 0; i < 2 * n; i++) {
        a->at[i] = of[i] >= 0 ? groups[of[i]].at : 0;
        a->room[i] = of[i] >= 0 ? groups[of[i]].size : 0;
        a->seen[i] = 0;
    }
    a->stale = 0;
    rc = 0;
done:
    PyMem_Free(groups);
    PyMem_Free(order);
    PyMem_Free(live);
    PyMem_Free(of);
    return rc;
}

/* Lends the caller a free arena with its layout and block ready, or NULL
 * in *out when all are lent (or reuse is off). Returns 0, or -1 with an
 * exception set. */
static int
arena_take(PlanObject *self, arena **out)
{
    arena *a = NULL;
    int i;

    *out = NULL;
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    for (i = 0; i < N_ARENAS && (self->arenas[i] == NULL || self->busy[i]);
         i++) {
    }
    if (i < N_ARENAS) {
        self->busy[i] = 1;
        a = self->arenas[i];
    }
    PyThread_release_lock(self->lock);
    if (a == NULL) {
        return 0;
    }
    if (a->stale && arena_layout(self, a) < 0) {
        goto fail;
    }
    if (a->size > a->cap) {
        npy_intp bytes = (npy_intp)(a->size + 64);

        Py_CLEAR(a->block);
        a->cap = 0;
        a->block = PyArray_SimpleNew(1, &bytes, NPY_UINT8);
        if (a->block == NULL) {
            if (PyErr_ExceptionMatches(PyExc_MemoryError)) {
                PyErr_Format(PyExc_MemoryError,
                             "Plan.run: cannot allocate %zd bytes for the "
                             "intermediate values", (Py_ssize_t)bytes);
            }
            goto fail;
        }
        a->base = (char *)(((uintptr_t)PyArray_BYTES(
                                (PyArrayObject *)a->block) + 63)
                           & ~(uintptr_t)63);
        a->cap = a->size;
    }
    *out = a;
    return 0;
fail:
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    self->busy[i] = 0;
    PyThread_release_lock(self->lock);
    return -1;
}

/* Gives an arena taken by arena_take back to the plan. */
static void
arena_give(PlanObject *self, arena *a)
{
    int i;

    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    for (i = 0; i < N_ARENAS; i++) {
        if (self->arenas[i] == a) {
            self->busy[i] = 0;
        }
    }
    PyThread_release_lock(self->lock);
}

/* ---- running --------------------------------------------------------- */

/* A template's SlotRefs, in visiting order, and the next one to read. */
typedef struct refs_cursor {
    const int32_t *refs;
    int32_t n, next;
} refs_cursor;

/* Returns the template with every SlotRef replaced by its slot value
 * (new reference). The slots come from the step's refs, in the order
 * walk_slots visited the same (private, never modified) template. */
static PyObject *
substitute(PlanObject *self, PyObject *o, PyObject **values, refs_cursor *c)
{
    if (Py_TYPE(o) == (PyTypeObject *)self->slotref_type) {
        int32_t v;

        if (c->next >= c->n) {
            PyErr_SetString(PyExc_SystemError, "internal error in featx "
                            "core; please report: template changed");
            return NULL;
        }
        v = c->refs[c->next++];
        if (values[v] == NULL) {
            PyErr_Format(PyExc_SystemError, "internal error in featx core; "
                         "please report: slot %d read before it was "
                         "written", (int)v);
            return NULL;
        }
        return Py_NewRef(values[v]);
    }
    if (PyTuple_Check(o) || PyList_Check(o)) {
        Py_ssize_t i, n = PySequence_Fast_GET_SIZE(o);
        int is_tuple = PyTuple_Check(o);
        PyObject *res = is_tuple ? PyTuple_New(n) : PyList_New(n);

        for (i = 0; res != NULL && i < n; i++) {
            PyObject *item =
                substitute(self, PySequence_Fast_GET_ITEM(o, i), values, c);

            if (item == NULL) {
                Py_CLEAR(res);
                break;
            }
            if (is_tuple) {
                PyTuple_SET_ITEM(res, i, item);
            }
            else {
                PyList_SET_ITEM(res, i, item);
            }
        }
        return res;
    }
    if (PyDict_Check(o)) {
        PyObject *res = PyDict_New(), *k, *v;
        Py_ssize_t pos = 0;

        while (res != NULL && PyDict_Next(o, &pos, &k, &v)) {
            PyObject *item = substitute(self, v, values, c);

            if (item == NULL || PyDict_SetItem(res, k, item) < 0) {
                Py_XDECREF(item);
                Py_CLEAR(res);
                break;
            }
            Py_DECREF(item);
        }
        return res;
    }
    if (PySlice_Check(o)) {
        PySliceObject *s = (PySliceObject *)o;
        PyObject *a = substitute(self, s->start, values, c);
        PyObject *b = a ? substitute(self, s->stop, values, c) : NULL;
        PyObject *d = b ? substitute(self, s->step, values, c) : NULL;
        PyObject *res = d ? PySlice_New(a, b, d) : NULL;

        Py_XDECREF(a);
        Py_XDECREF(b);
        Py_XDECREF(d);
        return res;
    }
    return Py_NewRef(o);
}

/* Whether o is a float32 C-contiguous writeable array owning its data,
 * referenced once (by the caller): a buffer a kernel may write into. */
static int
is_private_array(PyObject *o)
{
    PyArrayObject *arr = (PyArrayObject *)o;

    return o != NULL && PyArray_CheckExact(o) && Py_REFCNT(o) == 1
           && PyArray_TYPE(arr) == NPY_FLOAT32 && PyArray_ISCARRAY(arr)
           && PyArray_ISNOTSWAPPED(arr)
           && PyArray_CHKFLAGS(arr, NPY_ARRAY_OWNDATA)
           && PyArray_BASE(arr) == NULL;
}

/* One run's state: slot values, snapshots, its arena (NULL when all
 * are lent or the plan has reuse off) and buffers. */
typedef struct run_state {
    PyObject **values, **snaps;
    arena *arena;
    fxpy_bufs bufs;
} run_state;

/* Notes that item i of a run took `bytes`. */
static void
note_size(arena *a, int32_t i, size_t bytes)
{
    if (bytes > a->seen[i]) {
        a->seen[i] = bytes;
        a->stale |= bytes > a->room[i];
    }
}

static PyObject *
run_step(PlanObject *self, int32_t j, run_state *r)
{
    PyObject **values = r->values;
    step *s = &self->steps[j];
    arena *ar = r->arena;
    const int32_t w = self->n_steps + j; /* the scratch's item */

    if (s->kind == STEP_KERNEL) {
        Py_ssize_t i, n = PyTuple_GET_SIZE(s->inputs);
        PyArrayObject *cands[MAX_REUSE];
        PyObject *ins = PyTuple_New(n), *res;
        int k, n_cands = 0;

        /* candidate outputs: dead inputs of an elementwise step (see
         * plan_liveness) */
        for (k = 0; k < s->n_reuse; k++) {
            if (is_private_array(values[s->reuse[k]])) {
                cands[n_cands++] = (PyArrayObject *)values[s->reuse[k]];
            }
        }
        for (i = 0; ins != NULL && i < n; i++) {
            PyObject *o = PyTuple_GET_ITEM(s->inputs, i);

            if (PyLong_Check(o)) {
                o = values[PyLong_AsLong(o)];
                if (o == NULL) {
                    Py_DECREF(ins);
                    PyErr_SetString(PyExc_SystemError,
                                    "internal error in featx core; please "
                                    "report: kernel input not yet computed");
                    return NULL;
                }
            }
            PyTuple_SET_ITEM(ins, i, Py_NewRef(o));
        }
        if (ins == NULL) {
            return NULL;
        }
        r->bufs.room = ar != NULL && s->in_arena ? ar->room[j] : 0;
        r->bufs.at = r->bufs.room > 0 ? ar->base + ar->at[j] : NULL;
        r->bufs.owner = ar != NULL ? ar->block : NULL;
        r->bufs.ws_room = ar != NULL ? ar->room[w] : 0;
        r->bufs.ws_at = r->bufs.ws_room > 0 ? ar->base + ar->at[w] : NULL;
        r->bufs.out = cands;
        r->bufs.n_out = n_cands;
        res = fxpy_run_into(s->op, self->isa_mask,
                            fxpy_state_of_type(Py_TYPE(self))->pool,
                            s->params, ins, &r->bufs);
        Py_DECREF(ins);
        if (res != NULL && ar != NULL) {
            note_size(ar, j, s->in_arena ? r->bufs.need : 0);
            note_size(ar, w, r->bufs.ws_need);
        }
        return res;
    }
    {
        refs_cursor c = {s->refs, s->n_refs, 0};
        PyObject *a = substitute(self, s->args, values, &c);
        PyObject *kw = a ? substitute(self, s->kwargs, values, &c) : NULL;
        PyObject *res = kw ? PyObject_Call(s->fn, a, kw) : NULL;

        Py_XDECREF(a);
        Py_XDECREF(kw);
        return res;
    }
}

/* Adds the node's name to a ValueError/TypeError/OpError raised by its
 * step, so users see which layer rejected their input (other subclasses
 * keep their own message format). */
static void
name_failed_node(step *s)
{
    PyObject *type, *value, *tb, *op_error;

    if (!PyErr_ExceptionMatches(PyExc_ValueError)
        && !PyErr_ExceptionMatches(PyExc_TypeError)) {
        return;
    }
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    op_error = fxpy_op_error();
    if (type == PyExc_ValueError || type == PyExc_TypeError
        || (op_error != NULL && type == op_error)) {
        PyErr_Format(type, "node '%U': %S", s->name, value);
        Py_XDECREF(op_error);
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
        return;
    }
    Py_XDECREF(op_error);
    PyErr_Restore(type, value, tb);
}

PyDoc_STRVAR(run_doc,
"run(inputs) -> dict\n\n"
"Runs the plan on a tuple of input values (one per placeholder) and returns\n"
"a new dict {key: value} in output order.");

static PyObject *
plan_run(PlanObject *self, PyObject *inputs)
{
    run_state r = {0};
    PyObject *result = NULL;
    Py_ssize_t i, n_in = PyTuple_GET_SIZE(self->input_slots);
    int32_t j;

    if (!PyTuple_Check(inputs) || PyTuple_GET_SIZE(inputs) != n_in) {
        PyErr_Format(PyExc_TypeError, "Plan.run expects a tuple of %zd "
                     "inputs", n_in);
        return NULL;
    }
    r.values = PyMem_Calloc((size_t)self->n_slots + 1, sizeof(PyObject *));
    r.snaps = PyMem_Calloc((size_t)self->n_slots + 1, sizeof(PyObject *));
    if (r.values == NULL || r.snaps == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    if (arena_take(self, &r.arena) < 0) {
        goto done;
    }

    for (i = 0; i < n_in; i++) {
        long slot = PyLong_AsLong(PyTuple_GET_ITEM(self->input_slots, i));

        if (slot < 0 || slot >= self->n_slots) {
            PyErr_SetString(PyExc_ValueError, "Plan: bad input slot");
            goto done;
        }
        Py_XSETREF(r.values[slot], Py_NewRef(PyTuple_GET_ITEM(inputs, i)));
    }
    for (j = 0; j < self->n_steps; j++) {
        step *s = &self->steps[j];
        PyObject *v = run_step(self, j, &r);
        int32_t k;

        if (v == NULL) {
            name_failed_node(s);
            goto done;
        }
        Py_XSETREF(r.values[s->out], v);
        if (s->snapshot && PyArray_Check(v)) {
            Py_XSETREF(r.snaps[s->out],
                       PyArray_NewCopy((PyArrayObject *)v, NPY_CORDER));
            if (r.snaps[s->out] == NULL) {
                goto done;
            }
        }
        for (k = 0; k < s->n_frees; k++) {
            Py_CLEAR(r.values[s->frees[k]]);
        }
    }
    result = PyDict_New();
    for (i = 0; result != NULL && i < PyTuple_GET_SIZE(self->outputs); i++) {
        PyObject *pair = PyTuple_GET_ITEM(self->outputs, i);
        long slot = PyLong_AsLong(PyTuple_GET_ITEM(pair, 1));
        PyObject *v = r.snaps[slot] ? r.snaps[slot] : r.values[slot];

        if (v == NULL) {
            PyErr_SetString(PyExc_SystemError,
                            "internal error in featx core; please report: "
                            "output not computed");
            Py_CLEAR(result);
            break;
        }
        if (PyDict_SetItem(result, PyTuple_GET_ITEM(pair, 0), v) < 0) {
            Py_CLEAR(result);
        }
    }
done:
    if (r.values != NULL && r.snaps != NULL) {
        for (j = 0; j < self->n_slots; j++) {
            Py_XDECREF(r.values[j]);
            Py_XDECREF(r.snaps[j]);
        }
    }
    if (r.arena != NULL) {
        arena_give(self, r.arena);
    }
    free(r.bufs.ws_raw);
    PyMem_Free(r.values);
    PyMem_Free(r.snaps);
    return result;
}

/* Appends item (a new reference, or NULL after a failure) to *list and
 * drops the reference; on failure clears *list and returns -1. */
static int
append_new(PyObject **list, PyObject *item)
{
    const int rc = item == NULL ? -1 : PyList_Append(*list, item);

    Py_XDECREF(item);
    if (rc < 0) {
        Py_CLEAR(*list);
    }
    return rc;
}

PyDoc_STRVAR(kernels_doc,
"kernels() -> list of (output slot, op, kernel name), one per kernel step");

static PyObject *
plan_kernels(PlanObject *self, PyObject *noargs)
{
    PyObject *list = PyList_New(0);
    int32_t i;

    for (i = 0; list != NULL && i < self->n_steps; i++) {
        step *s = &self->steps[i];
        PyObject *item;

        if (s->kind != STEP_KERNEL) {
            continue;
        }
        item = Py_BuildValue("(iss)", (int)s->out, s->op->name,
                             fx_op_kernel_name(s->op, self->isa_mask));
        if (append_new(&list, item) < 0) {
            break;
        }
    }
    return list;
}

PyDoc_STRVAR(reuse_doc,
"_reuse() -> list of (output slot, tuple of input slots), one per kernel\n"
"step that may write into the buffer of one of those (dead) inputs.");

static PyObject *
plan_reuse(PlanObject *self, PyObject *noargs)
{
    PyObject *list = PyList_New(0);
    int32_t i;
    int k;

    for (i = 0; list != NULL && i < self->n_steps; i++) {
        step *s = &self->steps[i];
        PyObject *slots, *item;

        if (s->n_reuse == 0) {
            continue;
        }
        slots = PyTuple_New(s->n_reuse);
        for (k = 0; slots != NULL && k < s->n_reuse; k++) {
            PyObject *v = PyLong_FromLong(s->reuse[k]);

            if (v == NULL) {
                Py_CLEAR(slots);
                break;
            }
            PyTuple_SET_ITEM(slots, k, v);
        }
        item = slots ? Py_BuildValue("(iN)", (int)s->out, slots) : NULL;
        if (append_new(&list, item) < 0) {
            break;
        }
    }
    return list;
}

PyDoc_STRVAR(arenas_doc,
"_arenas() -> list of (bytes laid out, bytes allocated), one per arena the\n"
"plan keeps for its runs (at most 2).");

static PyObject *
plan_arenas(PlanObject *self, PyObject *noargs)
{
    PyObject *list = PyList_New(0);
    int i;

    for (i = 0; list != NULL && i < N_ARENAS; i++) {
        PyObject *item;
        arena *a;

        PyThread_acquire_lock(self->lock, WAIT_LOCK);
        a = self->arenas[i];
        item = a == NULL ? NULL
                         : Py_BuildValue("(nn)", (Py_ssize_t)a->size,
                                         (Py_ssize_t)a->cap);
        PyThread_release_lock(self->lock);
        if (a == NULL) {
            continue;
        }
        if (append_new(&list, item) < 0) {
            break;
        }
    }
    return list;
}

static PyMethodDef plan_methods[] = {
    {"run", (PyCFunction)plan_run, METH_O, run_doc},
    {"_arenas", (PyCFunction)plan_arenas, METH_NOARGS, arenas_doc},
    {"_reuse", (PyCFunction)plan_reuse, METH_NOARGS, reuse_doc},
    {"kernels", (PyCFunction)plan_kernels, METH_NOARGS, kernels_doc},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot plan_slots[] = {
    {Py_tp_doc, (void *)plan_doc},
    {Py_tp_new, plan_new},
    {Py_tp_dealloc, plan_dealloc},
    {Py_tp_traverse, plan_traverse},
    {Py_tp_clear, plan_clear},
    {Py_tp_methods, plan_methods},
    {0, NULL},
};

static PyType_Spec plan_spec = {
    .name = "featx._core.Plan",
    .basicsize = sizeof(PlanObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
             | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = plan_slots,
};

int
fxpy_plan_exec(PyObject *m)
{
    fxpy_state *st = fxpy_state_of_module(m);

    st->plan_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &plan_spec,
                                                             NULL);
    if (st->plan_type == NULL) {
        return -1;
    }
    return PyModule_AddType(m, st->plan_type);
}
