/*
 * The traced graph: nodes in execution order, torchvision-style names,
 * module calls, query resolution and pruning (see featx.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "featx.h"

/* ---- a string -> int32 hash map (open addressing, owned keys) ---------- */

typedef struct strmap {
    char **keys;
    int32_t *vals;
    size_t cap; /* power of two, 0 when empty */
    size_t len;
} strmap;

static uint64_t
str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */

    for (; *s; s++) {
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    }
    return h;
}

static size_t
strmap_slot(const strmap *m, const char *key)
{
    size_t i = (size_t)str_hash(key) & (m->cap - 1);

    while (m->keys[i] != NULL && strcmp(m->keys[i], key) != 0) {
        i = (i + 1) & (m->cap - 1);
    }
    return i;
}

/* Returns 1 and sets *val if key is present. */
static int
strmap_get(const strmap *m, const char *key, int32_t *val)
{
    size_t i;

    if (m->cap == 0) {
        return 0;
    }
    i = strmap_slot(m, key);
    if (m->keys[i] == NULL) {
        return 0;
    }
    *val = m->vals[i];
    return 1;
}

static fx_status
strmap_grow(strmap *m)
{
    strmap bigger = {NULL, NULL, m->cap ? m->cap * 2 : 64, 0};
    size_t i;

    bigger.keys = calloc(bigger.cap, sizeof(char *));
    bigger.vals = calloc(bigger.cap, sizeof(int32_t));
    if (bigger.keys == NULL || bigger.vals == NULL) {
        free(bigger.keys);
        free(bigger.vals);
        return FX_ERR_NOMEM;
    }
    for (i = 0; i < m->cap; i++) {
        if (m->keys[i] != NULL) {
            size_t j = strmap_slot(&bigger, m->keys[i]);

            bigger.keys[j] = m->keys[i];
            bigger.vals[j] = m->vals[i];
            bigger.len++;
        }
    }
    free(m->keys);
    free(m->vals);
    *m = bigger;
    return FX_OK;
}

/* Inserts or overwrites; copies key. */
static fx_status
strmap_put(strmap *m, const char *key, int32_t val)
{
    size_t i;

    if ((m->len + 1) * 2 > m->cap && strmap_grow(m) != FX_OK) {
        return FX_ERR_NOMEM;
    }
    i = strmap_slot(m, key);
    if (m->keys[i] == NULL) {
        m->keys[i] = malloc(strlen(key) + 1);
        if (m->keys[i] == NULL) {
            return FX_ERR_NOMEM;
        }
        strcpy(m->keys[i], key);
        m->len++;
    }
    m->vals[i] = val;
    return FX_OK;
}

static void
strmap_deinit(strmap *m)
{
    size_t i;

    for (i = 0; i < m->cap; i++) {
        free(m->keys[i]);
    }
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof(*m));
}

/* ---- the graph --------------------------------------------------------- */

typedef struct fx_node {
    fx_node_kind kind;
    char *name;
    int32_t n_in;
    int32_t *inputs;
} fx_node;

typedef struct module_call {
    char *path;
    int32_t first, last, returned;
} module_call;

struct fx_graph {
    fx_node *nodes;
    int32_t n_nodes, cap_nodes;
    module_call *calls;
    int32_t n_calls, cap_calls;
    strmap names;       /* name -> node index */
    strmap last_suffix; /* stem -> last suffix given (0: the bare stem) */
};

fx_graph *
fx_graph_new(void)
{
    return calloc(1, sizeof(fx_graph));
}

void
fx_graph_free(fx_graph *g)
{
    int32_t i;

    if (g == NULL) {
        return;
    }
    for (i = 0; i < g->n_nodes; i++) {
        free(g->nodes[i].name);
        free(g->nodes[i].inputs);
    }
    for (i = 0; i < g->n_calls; i++) {
        free(g->calls[i].path);
    }
    free(g->nodes);
    free(g->calls);
    strmap_deinit(&g->names);
    strmap_deinit(&g->last_suffix);
    free(g);
}

static char *
str_printf(const char *a, const char *sep, const char *b)
{
    size_t n = strlen(a) + strlen(sep) + strlen(b) + 1;
    char *s = malloc(n);

    if (s != NULL) {
        snprintf(s, n, "%s%s%s", a, sep, b);
    }
    return s;
}

/* Picks the unique name for a stem (SPEC section 3, rules 2 and 3).
 * Returns a new string or NULL when out of memory. */
static char *
unique_name(fx_graph *g, const char *stem)
{
    int32_t k = 0, unused;
    char suffix[24];
    char *name;

    if (!strmap_get(&g->names, stem, &unused)) {
        if (!strmap_get(&g->last_suffix, stem, &k)
            && strmap_put(&g->last_suffix, stem, 0) != FX_OK) {
            return NULL;
        }
        return str_printf(stem, "", "");
    }
    if (!strmap_get(&g->last_suffix, stem, &k)) {
        k = 0; /* the stem is a real name that was never suffixed */
    }
    for (;;) {
        k++;
        snprintf(suffix, sizeof(suffix), "_%d", (int)k);
        name = str_printf(stem, suffix, "");
        if (name == NULL || !strmap_get(&g->names, name, &unused)) {
            break;
        }
        free(name);
    }
    if (name != NULL && strmap_put(&g->last_suffix, stem, k) != FX_OK) {
        free(name);
        return NULL;
    }
    return name;
}

fx_status
fx_graph_add_node(fx_graph *g, fx_node_kind kind, const char *scope,
                  const char *raw, int32_t n_in, const int32_t *inputs,
                  int32_t *index, fx_error *err)
{
    fx_node *node;
    char *stem = NULL, *name = NULL, *base = NULL;
    size_t base_cap = strlen(raw) * 2 + 16;
    int32_t i;

    for (i = 0; i < n_in; i++) {
        if (inputs[i] < 0 || inputs[i] >= g->n_nodes) {
            return fx_error_set(err, FX_ERR_ARG,
                                "node '%s': input %d refers to node %d, but "
                                "the graph has %d nodes",
                                raw, (int)i, (int)inputs[i],
                                (int)g->n_nodes);
        }
    }
    if (g->n_nodes == g->cap_nodes) {
        int32_t cap = g->cap_nodes ? g->cap_nodes * 2 : 64;
        fx_node *grown = realloc(g->nodes, (size_t)cap * sizeof(fx_node));

        if (grown == NULL) {
            goto nomem;
        }
        g->nodes = grown;
        g->cap_nodes = cap;
    }
    if (kind == FX_NODE_CALL_MODULE) {
        stem = str_printf(raw, "", "");
    }
    else {
        base = malloc(base_cap);
        if (base == NULL) {
            goto nomem;
        }
        fx_name_base(raw, base, base_cap);
        stem = str_printf(scope, scope[0] ? "." : "", base);
    }
    if (stem == NULL || (name = unique_name(g, stem)) == NULL) {
        goto nomem;
    }
    node = &g->nodes[g->n_nodes];
    node->kind = kind;
    node->name = name;
    node->n_in = n_in;
    node->inputs = NULL;
    if (n_in > 0) {
        node->inputs = malloc((size_t)n_in * sizeof(int32_t));
        if (node->inputs == NULL) {
            goto nomem;
        }
        memcpy(node->inputs, inputs, (size_t)n_in * sizeof(int32_t));
    }
    if (strmap_put(&g->names, name, g->n_nodes) != FX_OK) {
        free(node->inputs);
        goto nomem;
    }
    *index = g->n_nodes++;
    free(stem);
    free(base);
    return FX_OK;

nomem:
    free(stem);
    free(base);
    free(name);
    return fx_error_set(err, FX_ERR_NOMEM, "out of memory adding node '%s'",
                        raw);
}

fx_status
fx_graph_add_module_call(fx_graph *g, const char *path, int32_t first,
                         int32_t last, int32_t returned, fx_error *err)
{
    module_call *c;

    if (g->n_calls == g->cap_calls) {
        int32_t cap = g->cap_calls ? g->cap_calls * 2 : 64;
        module_call *grown =
            realloc(g->calls, (size_t)cap * sizeof(module_call));

        if (grown == NULL) {
            return fx_error_set(err, FX_ERR_NOMEM, "out of memory");
        }
        g->calls = grown;
        g->cap_calls = cap;
    }
    c = &g->calls[g->n_calls];
    c->path = str_printf(path, "", "");
    if (c->path == NULL) {
        return fx_error_set(err, FX_ERR_NOMEM, "out of memory");
    }
    c->first = first;
    c->last = last;
    c->returned = returned;
    g->n_calls++;
    return FX_OK;
}

int32_t
fx_graph_size(const fx_graph *g)
{
    return g->n_nodes;
}

const char *
fx_graph_node_name(const fx_graph *g, int32_t i)
{
    return (i >= 0 && i < g->n_nodes) ? g->nodes[i].name : NULL;
}

fx_node_kind
fx_graph_node_kind(const fx_graph *g, int32_t i)
{
    return g->nodes[i].kind;
}

const int32_t *
fx_graph_node_inputs(const fx_graph *g, int32_t i, int32_t *n)
{
    *n = g->nodes[i].n_in;
    return g->nodes[i].inputs;
}

static int
has_dotted_prefix(const char *name, const char *prefix, size_t plen)
{
    return strncmp(name, prefix, plen) == 0 && name[plen] == '.';
}

fx_status
fx_graph_resolve(const fx_graph *g, const char *query, int32_t *node,
                 fx_error *err)
{
    size_t qlen = strlen(query);
    int32_t i;

    if (strmap_get(&g->names, query, node)) {
        return FX_OK;
    }
    for (i = g->n_calls - 1; i >= 0; i--) {
        const module_call *c = &g->calls[i];

        if (strcmp(c->path, query) != 0) {
            continue;
        }
        if (c->returned >= 0) {
            *node = c->returned;
            return FX_OK;
        }
        if (c->last >= c->first) {
            *node = c->last;
            return FX_OK;
        }
        break;
    }
    for (i = g->n_nodes - 1; i >= 0; i--) {
        if (has_dotted_prefix(g->nodes[i].name, query, qlen)) {
            *node = i;
            return FX_OK;
        }
    }
    return fx_error_set(err, FX_ERR_NOT_FOUND, "node '%s' is not present",
                        query);
}

fx_status
fx_graph_prune(const fx_graph *g, int32_t n_out, const int32_t *outputs,
               uint8_t *keep, fx_error *err)
{
    int32_t i, j;

    memset(keep, 0, (size_t)g->n_nodes);
    for (i = 0; i < n_out; i++) {
        if (outputs[i] < 0 || outputs[i] >= g->n_nodes) {
            return fx_error_set(err, FX_ERR_ARG,
                                "output %d refers to node %d, but the graph "
                                "has %d nodes",
                                (int)i, (int)outputs[i], (int)g->n_nodes);
        }
        keep[outputs[i]] = 1;
    }
    for (i = g->n_nodes - 1; i >= 0; i--) {
        const fx_node *n = &g->nodes[i];

        if (n->kind == FX_NODE_PLACEHOLDER) {
            keep[i] = 1;
        }
        if (!keep[i]) {
            continue;
        }
        for (j = 0; j < n->n_in; j++) {
            keep[n->inputs[j]] = 1;
        }
    }
    return FX_OK;
}

fx_status
fx_graph_lint(const fx_graph *g, fx_error *err)
{
    int32_t i, j, found;

    for (i = 0; i < g->n_nodes; i++) {
        const fx_node *n = &g->nodes[i];

        if (n->name == NULL || n->name[0] == '\0') {
            return fx_error_set(err, FX_ERR_INTERNAL, "node %d has no name",
                                (int)i);
        }
        if (!strmap_get(&g->names, n->name, &found) || found != i) {
            return fx_error_set(err, FX_ERR_INTERNAL,
                                "node %d: name '%s' is not unique", (int)i,
                                n->name);
        }
        for (j = 0; j < n->n_in; j++) {
            if (n->inputs[j] < 0 || n->inputs[j] >= i) {
                return fx_error_set(err, FX_ERR_INTERNAL,
                                    "node '%s': input %d (node %d) does not "
                                    "precede it",
                                    n->name, (int)j, (int)n->inputs[j]);
            }
        }
    }
    return FX_OK;
}
