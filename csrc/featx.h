/*
 * featx.h - the C core's API.
 *
 * The core knows nothing about Python. It has two halves:
 *
 *   1. The op registry (ops/ops.def) and the kernels. An op is described by
 *      an fx_op_info: its public name, how many tensor inputs it takes, an
 *      attribute schema that fills a typed params struct, a shape inference
 *      function that validates everything, a reference kernel that
 *      cannot fail and, optionally, an estimate of a call's work (which
 *      decides whether the call is worth splitting among threads).
 *      Faster kernels for an ISA are listed in kernels/kernels.def and
 *      picked at run time by fx_op_kernel().
 *
 *          const fx_op_info *op = fx_op_find("relu");
 *          unsigned char params[FX_MAX_PARAMS];   // filled from op->attrs
 *          fx_tensor out;
 *          size_t ws = 0;
 *          if (op->infer(params, 1, &x, &out, &ws, &err) != FX_OK) ...
 *          out.data = <caller-allocated, shape from infer>;
 *          ws = (ws + 63) / 64 * 64;     // per thread, keeps slots aligned
 *          workspace = <nth * ws bytes, 64-byte aligned>;
 *          fx_kargs a = {params, 1, &x, &out, workspace, ws};
 *          fx_op_kernel(op, isa_mask)(&a, 0, 1);
 *
 *   2. The graph (graph.c): nodes in execution order, torchvision-style
 *      qualified names, query resolution and pruning. See fx_graph below.
 *
 * Errors: every fallible function returns fx_status and takes a
 * caller-owned fx_error *err last (may be NULL). Messages name the op or
 * node, the argument, the expected and the actual value. Nothing in the
 * core aborts, exits or prints.
 *
 * Ownership: tensors are borrowed; kernels never allocate. The core has no
 * mutable global state, so everything here is safe to call from several
 * threads on distinct data.
 */
#ifndef FEATX_H
#define FEATX_H

#include <stddef.h>
#include <stdint.h>

#define FX_MAX_DIMS 8
#define FX_MAX_PARAMS 512 /* bytes; every op params struct fits */
#define FX_MAX_INPUTS 64  /* cat takes a list */

typedef enum fx_status {
    FX_OK = 0,
    FX_ERR_ARG,
    FX_ERR_SHAPE,
    FX_ERR_DTYPE,
    FX_ERR_NOMEM,
    FX_ERR_UNSUPPORTED,
    FX_ERR_NOT_FOUND,
    FX_ERR_STATE,
    FX_ERR_INTERNAL
} fx_status;

typedef struct fx_error {
    fx_status code;
    char msg[1024];
} fx_error;

/* Sets err (if non-NULL) and returns code. */
fx_status fx_error_set(fx_error *err, fx_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* A float32, C-contiguous, borrowed n-d array. */
typedef struct fx_tensor {
    int32_t ndim;
    int64_t shape[FX_MAX_DIMS];
    float *data;
} fx_tensor;

int64_t fx_tensor_numel(const fx_tensor *t);

/* The most elements an array featx makes may have (also the limit of
 * get_graph_node_info's shapes). Window attributes (stride, padding,
 * dilation, kernel_size) are bounded by it too, so that shape arithmetic
 * cannot overflow. */
#define FX_MAX_NUMEL ((int64_t)1 << 48)

/* FX_OK if t has at most FX_MAX_NUMEL elements (counted without overflow),
 * else FX_ERR_SHAPE with a message naming op and the output shape t. */
fx_status fx_tensor_check_numel(const char *op, const fx_tensor *t,
                                fx_error *err);

/* ---- attribute schema ------------------------------------------------ */

typedef enum fx_attr_kind {
    FX_ATTR_INT,   /* int64_t */
    FX_ATTR_INTS,  /* fx_ints: a Python int or sequence of ints */
    FX_ATTR_FLOAT, /* double */
    FX_ATTR_BOOL   /* int, 0 or 1 */
} fx_attr_kind;

typedef struct fx_ints {
    int32_t n;
    int64_t v[FX_MAX_DIMS];
} fx_ints;

/*
 * One attribute of an op. An attribute is required unless `optional`:
 * an optional one left out keeps its field zero (the params struct is
 * zeroed first), so its zero must be the usual choice; the Python wrappers
 * supply torch's defaults for the required ones. For FX_ATTR_INTS,
 * `count` > 0 means exactly that many values, and a single int is
 * broadcast to `count` values (torch's _pair); count == 0 means any number
 * from 0 to FX_MAX_DIMS.
 */
typedef struct fx_attr_def {
    const char *name;
    fx_attr_kind kind;
    int32_t count;
    size_t offset; /* offsetof(<op params struct>, field) */
    int32_t optional;
} fx_attr_def;

/* ---- ops ------------------------------------------------------------- */

typedef struct fx_kargs {
    const void *params;  /* the op's typed params struct */
    int32_t n_in;
    const fx_tensor *in; /* n_in inputs; an absent optional one: data NULL */
    fx_tensor *out;      /* one output, shape from infer */
    /* Scratch: one slot of workspace_size bytes per thread, 64-byte
     * aligned. The kernel call (ith, nth) uses only its own slot,
     * (char *)workspace + ith * workspace_size, so the caller provides
     * nth * workspace_size bytes. workspace_size is at least infer's
     * *workspace and a multiple of 64, so every slot is aligned (0: no
     * scratch; workspace may be NULL). */
    void *workspace;
    size_t workspace_size; /* bytes per thread */
} fx_kargs;

/* Kernels cannot fail and never allocate. They process the part of the
 * work selected by (ith, nth); nth == 1 means all of it. */
typedef void (*fx_kernel_fn)(const fx_kargs *a, int ith, int nth);

/*
 * Validates params and inputs and sets out->ndim/out->shape (not data) and
 * *workspace: the scratch bytes PER THREAD (a kernel run on nth threads
 * needs nth such slots; see fx_kargs). It is bounded: blocked kernels
 * (the GEMM) need a fixed-size block per thread, not a copy of an
 * operand. An optional input is passed with ndim = -1.
 */
typedef fx_status (*fx_infer_fn)(const void *params, int32_t n_in,
                                 const fx_tensor *in, fx_tensor *out,
                                 size_t *workspace, fx_error *err);

/*
 * The work of one kernel call whose params and shapes infer has accepted
 * (out: infer's shape; an absent optional input: ndim -1), in units of
 * one float read or written by an elementwise kernel (about 0.06 ns on
 * one core of a 2020s x86 CPU): the floats the call reads and writes,
 * plus its arithmetic and the cost of reading weights that are not in
 * cache, in those units. An estimate for the thread pool's serial rule
 * (fx_op_cost, fx_pool_serial_below), not a promise.
 */
typedef double (*fx_cost_fn)(const void *params, int32_t n_in,
                             const fx_tensor *in, const fx_tensor *out);

typedef struct fx_op_info {
    const char *name;
    int32_t n_in_min, n_in_max;
    size_t params_size;
    const fx_attr_def *attrs;
    int32_t n_attrs;
    fx_infer_fn infer;
    fx_kernel_fn ref;
    fx_cost_fn cost; /* NULL: the floats read and written */
} fx_op_info;

typedef enum fx_op {
#define FX_OP(ID, NAME, NMIN, NMAX, PREFIX, COST) FX_OP_##ID,
#include "ops/ops.def"
#undef FX_OP
    FX_OP_COUNT
} fx_op;

/* The registry entry of an op, or NULL. */
const fx_op_info *fx_op_get(fx_op op);
const fx_op_info *fx_op_find(const char *name);

/* Whether op is elementwise: every kernel of it (every ISA) computes each
 * output element from the input elements at the same index only (plus
 * per-op constants), reading them before writing it, so the output may
 * be the buffer of an input that has the output's shape. The plan runs
 * such ops in place on dead intermediates. A kernel of such an op must
 * not, e.g., recompute an overlapping tail block from its input. */
int fx_op_elementwise(const fx_op_info *op);

/* op->cost(params, n_in, in, out), or the floats in and out hold if op
 * has none (see fx_cost_fn). */
double fx_op_cost(const fx_op_info *op, const void *params, int32_t n_in,
                  const fx_tensor *in, const fx_tensor *out);

/* ---- CPU dispatch ---------------------------------------------------- */

typedef enum fx_isa {
    FX_ISA_SCALAR = 0,
    FX_ISA_AVX2 = 1,
    FX_ISA_AVX512 = 2
} fx_isa;

#define FX_ISA_BIT(isa) (1u << (isa))

/* Pure: the ISAs this CPU and OS support, as a mask of FX_ISA_BIT. */
unsigned fx_cpu_isa_mask(void);

/* The fastest kernel for op allowed by isa_mask (the reference if none).
 * Never NULL. */
fx_kernel_fn fx_op_kernel(const fx_op_info *op, unsigned isa_mask);
/* Name of that kernel (e.g. "fx_f32_conv2d_gemm__avx2"). */
const char *fx_op_kernel_name(const fx_op_info *op, unsigned isa_mask);


/* ---- threads --------------------------------------------------------- */
/*
 * fx_pool runs one kernel at a time on n threads: fn(a, ith, n) once for
 * every ith, each part run by whichever thread claims it first (the
 * caller included). Kernels split their work by (ith, nth) into disjoint
 * parts, so results do not depend on n nor on which thread runs a part.
 * Handing a part to a thread costs about a microsecond while the pool's
 * threads are spinning (for 50 us after each job), a futex wake-up
 * (tens of microseconds) after that.
 */
#define FX_MAX_THREADS 256

typedef struct fx_pool fx_pool;

/* Returns a new pool of one thread (the caller), or NULL when out of
 * memory. Free with fx_pool_free. */
fx_pool *fx_pool_new(void);
void fx_pool_free(fx_pool *p);

/* Sets the number of threads, the caller included; waits for a running
 * job first. @return FX_OK, FX_ERR_ARG (n outside [1, FX_MAX_THREADS]),
 * FX_ERR_NOMEM, FX_ERR_STATE (threads could not start; the pool keeps
 * those that did, or in a forked child). */
fx_status fx_pool_resize(fx_pool *p, int n, fx_error *err);
int fx_pool_size(const fx_pool *p);

/* Kernel calls whose work (fx_op_cost, in elementwise floats; 2^17 is
 * about 7 us on one Zen3 core) is below this run on the calling thread
 * alone. Handing a part to a spinning thread costs about a microsecond
 * (a 16-float relu took 2.3-3.1 us on 1 thread, 3.6-3.7 us on 2), to a
 * sleeping one 5-10 us more; and on a machine busy with other processes
 * a thread preempted inside its part holds its kernel up, which many
 * small split calls make likelier (MobileNetV3-Large at batch 1, 2
 * threads, median of 25 runs on a busy machine: 68 / 38 / 36 ms with 0
 * / 2^12 / 2^17). Per op (batch 1, 2 threads, min of 30 runs, busy
 * machine), 2^16 split 10-19 more calls of 4-12 us per model, saving
 * 20-50 us of CPU time on the busier thread but losing as much wall time
 * to the hand-overs. Kernels give the same results on any thread count,
 * so the rule changes speed only; tests set it to 0 to run every split. */
#define FX_POOL_SERIAL_BELOW ((int64_t)1 << 17)
int64_t fx_pool_serial_below(const fx_pool *p);
void fx_pool_set_serial_below(fx_pool *p, int64_t floats);

/* Runs fn on all threads of p and returns when every part is done. If p is
 * NULL, busy with another caller's job, or owned by a parent process, runs
 * fn(a, 0, 1) on the calling thread instead. Call without the GIL. */
void fx_pool_run(fx_pool *p, fx_kernel_fn fn, const fx_kargs *a);

/* As fx_pool_run, but also runs fn(a, 0, 1) on the calling thread when
 * the pool has more than max_threads threads. A caller that sized a
 * per-thread workspace with fx_pool_size() passes that size, so a
 * concurrent fx_pool_resize can never give a kernel an ith past its
 * slots. */
void fx_pool_run_max(fx_pool *p, int max_threads, fx_kernel_fn fn,
                     const fx_kargs *a);

/* ---- the traced graph ------------------------------------------------ */
/*
 * fx_graph holds the nodes recorded while tracing, in execution order, and
 * gives each a unique qualified name (SPEC section 3):
 *
 *   stem  = module path               for FX_NODE_CALL_MODULE
 *         = scope + "." + base        otherwise ("base" at the root)
 *   name  = stem, or stem_k with k one more than the last suffix used for
 *           that stem, skipping names already taken (module paths are never
 *           rewritten).
 *
 * It also records each module call (path, first and last node, the node it
 * returned), resolves user queries to nodes (SPEC section 4) and prunes the
 * graph to what the requested nodes need (SPEC section 6).
 *
 * The builder is not thread-safe; a finished graph can be read from any
 * number of threads.
 */
typedef enum fx_node_kind {
    FX_NODE_PLACEHOLDER = 0,
    FX_NODE_CALL_MODULE,
    FX_NODE_CALL_FUNCTION,
    FX_NODE_CALL_METHOD,
    FX_NODE_GET_ATTR
} fx_node_kind;

typedef struct fx_graph fx_graph;

/* Returns a new empty graph, or NULL when out of memory. Free with
 * fx_graph_free. */
fx_graph *fx_graph_new(void);
void fx_graph_free(fx_graph *g);

/*
 * Appends a node. `scope` is the dotted path of the innermost running
 * module ("" at the root); `raw` is the module path for call_module nodes,
 * else the raw target name (function/method/parameter/placeholder name),
 * which is turned into a base by fx_name_base. inputs are earlier node
 * indices. Copies every string. Sets *index.
 * @return FX_OK, FX_ERR_ARG (bad input index), FX_ERR_NOMEM.
 */
fx_status fx_graph_add_node(fx_graph *g, fx_node_kind kind, const char *scope,
                            const char *raw, int32_t n_in,
                            const int32_t *inputs, int32_t *index,
                            fx_error *err);

/* Records one finished call of a traced-through module: the nodes
 * [first, last] were recorded inside it (last < first if none) and it
 * returned node `returned` (-1 unless it returned one traced value). */
fx_status fx_graph_add_module_call(fx_graph *g, const char *path,
                                   int32_t first, int32_t last,
                                   int32_t returned, fx_error *err);

int32_t fx_graph_size(const fx_graph *g);
/* Borrowed; valid until the graph is freed. NULL if i is out of range. */
const char *fx_graph_node_name(const fx_graph *g, int32_t i);
fx_node_kind fx_graph_node_kind(const fx_graph *g, int32_t i);
/* Node i's inputs: sets *n and returns a borrowed array. */
const int32_t *fx_graph_node_inputs(const fx_graph *g, int32_t i, int32_t *n);

/*
 * Resolves a user query to a node (SPEC section 4): an exact name; else
 * the last call of the module at that path (the node it returned, else
 * the last node recorded inside it); else the last node whose name has
 * the query as a dotted prefix.
 * @return FX_OK, FX_ERR_NOT_FOUND.
 */
fx_status fx_graph_resolve(const fx_graph *g, const char *query,
                           int32_t *node, fx_error *err);

/* Sets keep[i] = 1 for every node the outputs need (and placeholders),
 * else 0. keep has fx_graph_size(g) entries. */
fx_status fx_graph_prune(const fx_graph *g, int32_t n_out,
                         const int32_t *outputs, uint8_t *keep,
                         fx_error *err);

/* Checks the invariants: inputs precede their users, names unique and
 * non-empty. @return FX_OK or FX_ERR_INTERNAL naming the bad node. */
fx_status fx_graph_lint(const fx_graph *g, fx_error *err);

/* Turns a raw target name into a name base, as torch.fx does: strips a
 * __dunder__, snake_cases CamelCase, maps runs of characters outside
 * [A-Za-z0-9_] to one "_", and prefixes "_" to a leading digit. Writes at
 * most cap bytes (NUL included) to out. */
void fx_name_base(const char *raw, char *out, size_t cap);

#endif /* FEATX_H */
