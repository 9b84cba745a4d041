"""Feature extraction: node names and extractors, as in torchvision.

Mirrors ``torchvision.models.feature_extraction``: the same functions,
arguments, defaults and node names (SPEC sections 1-6), with the
documented improvements: module paths are never rewritten, overlapping
queries each get their own node, the model's mode flags are never changed,
clearer errors. :func:`get_graph_node_info` (shapes, parameters and
multiply-adds per node, without running the model) is featx's own.
"""
from __future__ import annotations

import inspect
import operator
import warnings
from typing import Any, Mapping, NamedTuple

import numpy as np

from ._op import MacCounter, SlotRef, meta_array
from ._suggest import did_you_mean
from ._tensor_methods import METHODS, is_inplace, unsupported_method_message
from .fx.graph_module import (FeatureExtractor, export_graph, meta_run,
                              mode_view, op_label, value_shape)
from .fx.tracer import Tracer
from .nn import Module

__all__ = ["create_feature_extractor", "get_graph_node_names",
           "get_graph_node_info", "GraphNodeInfo"]

_TRACER_KEYS = ("leaf_modules", "autowrap_modules", "autowrap_functions")


def _check_model(model: Any) -> None:
    if isinstance(model, FeatureExtractor):
        raise TypeError(
            "model is already a feature extractor; build the new extractor "
            "from the original model (its node names are the same)")
    if not isinstance(model, Module):
        t = type(model)
        name = (t.__qualname__ if t.__module__ == "builtins"
                else f"{t.__module__}.{t.__qualname__}")
        hint = ""
        if any(c.__module__.split(".")[0] in ("torch", "torchvision")
               for c in t.__mro__):
            hint = ("; featx does not trace torch models. Build the featx "
                    "model of the same name, e.g. featx.models.get_model("
                    "'resnet50', weights='DEFAULT') or weights='model.pth' "
                    "for your own checkpoint, or call model.load_state_dict("
                    "{k: v.numpy() for k, v in "
                    "torch_model.state_dict().items()}) on it")
        raise TypeError(
            f"model must be a featx.nn.Module, got {name}{hint}")
    if type(model).forward is Module.forward:
        model.forward()  # raises: the class defines no forward


def _make_tracer(tracer_kwargs: Mapping[str, Any] | None) -> Tracer:
    if tracer_kwargs is not None and not isinstance(tracer_kwargs, Mapping):
        raise TypeError(
            f"tracer_kwargs must be a dict, got {type(tracer_kwargs).__name__}")
    kwargs = dict(tracer_kwargs or {})
    unknown = sorted(set(kwargs) - set(_TRACER_KEYS))
    if unknown:
        raise TypeError(
            f"tracer_kwargs got unknown key(s) {unknown}; accepted keys are "
            f"{list(_TRACER_KEYS)}")
    return Tracer(**kwargs)


def _trace_both(model: Module, tracer: Tracer,
                concrete_args: Mapping[str, Any] | None) -> tuple:
    """Traces in train mode, then eval mode. Each trace runs on a view of
    the model whose mode is fixed (:func:`mode_view`): the model's own mode
    flags are never written, so a direct ``model(x)`` in another thread
    keeps the mode the user set while the model is being traced."""
    _check_model(model)
    if concrete_args is not None and not isinstance(concrete_args, Mapping):
        raise TypeError(
            "concrete_args must be a dict mapping forward argument names to "
            f"values, got {type(concrete_args).__name__}: {concrete_args!r}")
    train_graph = tracer.trace(mode_view(model, True),
                               dict(concrete_args or {}))
    eval_graph = tracer.trace(mode_view(model, False),
                              dict(concrete_args or {}))
    return train_graph, eval_graph


#: Names of methods on the non-array values a traced node can hold
#: (``x.shape`` is a tuple); they run as Python's own methods.
_PLAIN_METHODS = frozenset(
    n for t in (tuple, list, dict, str, int, float) for n in dir(t)
    if not n.startswith("_") and not hasattr(np.ndarray, n))


def _check_methods(graph: Any) -> None:
    """Refuses, before anything runs, a ``call_method`` node of the kept
    graph that featx cannot run with torch's meaning: a tensor method
    missing from ``featx._tensor_methods.METHODS``."""
    for _, name, kind, target, _, _, _ in graph.nodes:
        if (kind == "call_method" and isinstance(target, str)
                and target not in METHODS and target not in _PLAIN_METHODS):
            raise NotImplementedError(unsupported_method_message(name,
                                                                 target))


def _check_inplace(graph: Any) -> None:
    """Refuses an in-place method (``add_``) whose argument is read by any
    other node or returned, in the whole traced graph: featx runs it out of
    place, so that other use would see the old value (pruning may even
    drop the call when only its argument is used)."""
    users: dict[int, list[int]] = {}
    for index, _, _, _, _, _, inputs in graph.nodes:
        for i in inputs:
            users.setdefault(i, []).append(index)
    returned = {i for _, i in graph.outputs}
    names = {n[0]: n[1] for n in graph.nodes}
    for index, name, kind, target, args, _, _ in graph.nodes:
        if (kind != "call_method" or not isinstance(target, str)
                or not is_inplace(target) or not args
                or not isinstance(args[0], SlotRef)):
            continue
        j = args[0].index
        others = [u for u in users.get(j, []) if u != index]
        if j in returned or others:
            seen = (f"node {names[others[0]]!r} also reads it" if others
                    else "it is also returned")
            raise NotImplementedError(
                f"node {name!r}: in-place tensor method '{target}' changes "
                f"{names.get(j, 'its input')!r}, and {seen}; featx runs "
                f"'{target}' out of place, so that use would see the old "
                f"value. Use the out-of-place form "
                f"(y = x.{target[:-1]}(...)) and use y")


def _is_subsequence(short: list[str], long: list[str]) -> bool:
    it = iter(long)
    return all(name in it for name in short)


def _warn_if_different(train: list[str], eval_: list[str]) -> None:
    if train == eval_:
        return
    if _is_subsequence(eval_, train):
        how = "the eval node names are a subsequence of the train node names"
    elif _is_subsequence(train, eval_):
        how = "the train node names are a subsequence of the eval node names"
    else:
        how = "the train and eval node names differ"
    warnings.warn(
        f"NOTE: the model's graph differs between train and eval mode: {how}. "
        "When choosing nodes, check both lists returned by "
        "get_graph_node_names, and give train_return_nodes and "
        "eval_return_nodes separately if needed.", UserWarning, stacklevel=3)


def get_graph_node_names(
        model: Module, tracer_kwargs: Mapping[str, Any] | None = None,
        suppress_diff_warning: bool = False,
        concrete_args: Mapping[str, Any] | None = None,
) -> tuple[list[str], list[str]]:
    """Lists the names of a model's nodes in train and in eval mode.

    Mirrors ``torchvision.models.feature_extraction.get_graph_node_names``:
    the model is traced once in train mode and once in eval mode, and every
    recorded node (inputs, leaf-module calls, functions, operators, methods,
    parameter reads) is listed by its qualified name, in execution order.

    Args:
        model: a featx.nn.Module. Its mode flags are unchanged afterwards.
        tracer_kwargs: ``leaf_modules`` (classes recorded as single nodes),
            ``autowrap_modules``, ``autowrap_functions``.
        suppress_diff_warning: do not warn when the lists differ.
        concrete_args: ``forward`` arguments fixed to Python values for both
            traces (control flow on them follows the value).

    Returns:
        ``(train_names, eval_names)``, two lists of str.

    Raises:
        featx.fx.TraceError: the model needs concrete values while tracing.
        TypeError: unknown ``tracer_kwargs`` key, or ``model`` is not a
            featx module.

    Example:
        >>> import featx
        >>> train, eval_ = get_graph_node_names(featx.models.resnet18())
        >>> eval_[:3]
        ['x', 'conv1', 'bn1']
    """
    tracer = _make_tracer(tracer_kwargs)
    train_graph, eval_graph = _trace_both(model, tracer, concrete_args)
    train_names, eval_names = train_graph.names(), eval_graph.names()
    if not suppress_diff_warning:
        _warn_if_different(train_names, eval_names)
    return train_names, eval_names


class GraphNodeInfo(NamedTuple):
    """One row of :func:`get_graph_node_info`.

    Attributes:
        name: the node name, as :func:`get_graph_node_names` lists it.
        op: the leaf module's class name for a module call (``Conv2d``),
            the function or method name for a call (``add``, ``flatten``,
            ``getattr``), ``placeholder`` for an input, ``get_attr`` for a
            parameter read.
        shape: the output shape as a tuple of ints, e.g. (N, C, H, W);
            for a tuple or list of arrays (``chunk``), a tuple of their
            shapes; ``None`` for anything else (ints from ``size``, the
            tuple from ``x.shape``, ...).
        params: number of parameter elements this node brings in: all
            parameters of a leaf module (its submodules' included) at its
            first call, the parameter of a ``get_attr`` node; 0 for a
            repeated call, a function or an input. Each parameter is
            counted once, so the sum is the number of parameters the
            graph uses. Buffers (BatchNorm statistics) are not counted.
        flops: multiply-adds of the node (a multiply and an add count as
            one, as torchvision's GFLOPS figures do): convolutions,
            linear layers and ``@`` (matmul), also inside leaf modules;
            element-wise ops, normalisation and pooling count 0.
    """

    name: str
    op: str
    shape: Any
    params: int
    flops: int


# NumPy's limit for an array's element count is 2**63 - 1; far below it,
# intermediate shapes of a model would overflow first.
_MAX_META_ELEMENTS = 2 ** 48


def _check_input_shape(input_shape: Any) -> tuple[int, ...]:
    if isinstance(input_shape, (str, bytes)) or not isinstance(
            input_shape, (tuple, list)):
        raise TypeError(
            "input_shape must be a tuple of ints such as (1, 3, 224, 224) "
            f"(N, C, H, W), got {type(input_shape).__name__}: "
            f"{input_shape!r}")
    if any(isinstance(d, bool) or not isinstance(d, (int, np.integer))
           for d in input_shape):
        raise TypeError(
            "input_shape must hold ints such as (1, 3, 224, 224) "
            f"(N, C, H, W), got {tuple(input_shape)!r}")
    if not input_shape or any(d < 1 for d in input_shape):
        raise ValueError(
            "input_shape must be a non-empty tuple of positive ints such "
            f"as (1, 3, 224, 224) (N, C, H, W), got {tuple(input_shape)!r}")
    numel = 1
    for d in input_shape:
        numel *= int(d)
    if numel > _MAX_META_ELEMENTS:
        raise ValueError(
            f"input_shape {tuple(input_shape)!r} has {numel} elements, more "
            f"than the {_MAX_META_ELEMENTS} (2**48) featx can describe")
    return tuple(int(d) for d in input_shape)


def get_graph_node_info(
        model: Module, input_shape: Any = (1, 3, 224, 224),
        mode: str = "eval", tracer_kwargs: Mapping[str, Any] | None = None,
        concrete_args: Mapping[str, Any] | None = None,
) -> list[GraphNodeInfo]:
    """Every node of a model with its op, output shape, parameters and
    multiply-adds, found by shape inference without running the model.

    featx's own; torchvision has no such function (the closest are its
    ``get_graph_node_names`` plus a FLOP counter such as fvcore's or
    ptflops'). The model is traced as :func:`get_graph_node_names` does;
    then each featx op computes only its output shape (the C kernels'
    shape inference, no arrays are allocated), so any input size is cheap.
    Leaf modules and Python functions that are not featx ops are called on
    read-only zero arrays of the right shape (no memory per element): the
    shapes are right unless a user leaf module's output shape depends on
    its input values. Nothing is changed: the model's mode flags,
    BatchNorm statistics and featx's random generator are as before.

    Args:
        model: a featx.nn.Module.
        input_shape: shape of the (first) ``forward`` argument, positive
            ints, e.g. (N, C, H, W) = (1, 3, 224, 224) for the zoo models.
            Other ``forward`` arguments take their defaults or
            ``concrete_args``.
        mode: ``"eval"`` or ``"train"``: the graph to describe.
        tracer_kwargs, concrete_args: as in :func:`get_graph_node_names`.

    Returns:
        A list of :class:`GraphNodeInfo` (name, op, shape, params, flops),
        one per node, in the order and with the names
        ``get_graph_node_names(model)`` gives for ``mode``. At 224 x 224 the
        flops of the torchvision zoo sum to its weights' GFLOPS figure.

    Raises:
        TypeError: ``input_shape`` is not a tuple/list of ints, a required
            ``forward`` argument has no value, or an unknown
            ``tracer_kwargs`` key.
        ValueError: a non-positive size, over 2**48 elements, an unknown ``mode``, or an input
            shape the model cannot take; the message names the node that
            rejected it (``node 'maxpool': ...``).
        featx.fx.TraceError: the model needs concrete values while tracing.

    Example:
        >>> import featx
        >>> rows = get_graph_node_info(featx.models.resnet18(), (1, 3, 224, 224))
        >>> rows[1]  # doctest: +NORMALIZE_WHITESPACE
        GraphNodeInfo(name='conv1', op='Conv2d', shape=(1, 64, 112, 112), params=9408,
                      flops=118013952)
        >>> round(sum(r.flops for r in rows) / 1e9, 3)  # ResNet18_Weights: 1.814
        1.814
    """
    shape = _check_input_shape(input_shape)
    if mode not in ("train", "eval"):
        raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")
    tracer = _make_tracer(tracer_kwargs)
    train_graph, eval_graph = _trace_both(model, tracer, concrete_args)
    traced = train_graph if mode == "train" else eval_graph
    graph = export_graph(traced, list(range(len(traced))), [])
    _check_methods(graph)
    counter = MacCounter()
    concrete = dict(concrete_args or {})
    params = inspect.signature(model.forward).parameters
    inputs: dict[int, Any] = {}
    free = [p for p in params if p not in concrete]
    for slot, (pname, p) in zip(graph.placeholders, params.items()):
        if pname in concrete:
            inputs[slot] = concrete[pname]
        elif pname == free[0]:
            inputs[slot] = meta_array(shape, counter)
        elif p.default is not inspect.Parameter.empty:
            inputs[slot] = p.default
        else:
            raise TypeError(
                f"get_graph_node_info gives input_shape to '{free[0]}'; "
                f"forward argument '{pname}' needs a value: give it in "
                "concrete_args")
    try:
        results = meta_run(graph, model, mode == "train", inputs, counter)
    except ValueError as e:
        raise ValueError(
            f"input_shape {shape} does not fit {type(model).__name__} in "
            f"{mode} mode: {e}") from None
    rows, seen = [], set()
    for (_, name, kind, target, _, _, _), (value, macs) in zip(graph.nodes,
                                                               results):
        n_params = 0
        if kind in ("call_module", "get_attr"):
            owned = (model.get_submodule(target).parameters()
                     if kind == "call_module" else [value])
            for param in owned:
                if id(param) not in seen:
                    seen.add(id(param))
                    n_params += int(param.size)
        rows.append(GraphNodeInfo(name, op_label(model, kind, target),
                                  value_shape(value), n_params, macs))
    return rows


def _normalize_spec(spec: Any, what: str) -> dict[str, str]:
    """A list or mapping of queries -> {query: output key} (str)."""
    if isinstance(spec, list):
        pairs = [(str(q), str(q)) for q in spec]
    elif isinstance(spec, Mapping):
        pairs = [(str(q), str(k)) for q, k in spec.items()]
    else:
        raise TypeError(
            f"{what} must be a list of node names or a dict mapping node "
            f"names to output names, got {type(spec).__name__}: {spec!r}")
    result: dict[str, str] = {}
    for query, key in pairs:
        if query in result:
            raise ValueError(
                f"{what} names node {query!r} more than once; each node may "
                "be requested once")
        result[query] = key
    keys = list(result.values())
    for key in keys:
        if keys.count(key) > 1:
            queries = [q for q, k in result.items() if k == key]
            raise ValueError(
                f"{what} maps {queries} to the same output name {key!r}; "
                "output names must be unique")
    return result


#: Targets that only compute metadata or scalars from their inputs: a
#: guard fed by them alone is cheap to keep.
_CHEAP = {getattr, operator.getitem, operator.eq, operator.ne, operator.lt,
          operator.le, operator.gt, operator.ge, operator.not_,
          operator.and_, operator.or_, operator.add, operator.sub,
          operator.mul, operator.floordiv, operator.truediv, operator.mod,
          operator.neg, len}
_CHEAP_METHODS = {"size", "dim"}


def _is_guard(target: Any) -> bool:
    return getattr(target, "__featx_guard__", False) is True


def _prune(graph: Any, outputs: list[int]) -> list[int]:
    """The nodes the outputs need, plus every guard (assert) whose inputs
    are already computed or follow from them by cheap shape arithmetic
    (SPEC section 6: a guard never keeps expensive work alive, but still
    checks what is computed anyway)."""
    keep = set(graph.prune(outputs))
    nodes = [graph.node(i) for i in range(len(graph))]
    cheap: dict[int, bool] = {}

    def free(i: int) -> bool:
        if i in keep:
            return True
        if i not in cheap:
            _, kind, target, _, _, inputs = nodes[i]
            ok = (kind == "call_function" and target in _CHEAP) or (
                kind == "call_method" and target in _CHEAP_METHODS)
            cheap[i] = ok and all(free(j) for j in inputs)
        return cheap[i]

    def add(i: int) -> None:
        if i not in keep:
            keep.add(i)
            for j in nodes[i][5]:
                add(j)

    for i, (_, kind, target, _, _, inputs) in enumerate(nodes):
        if kind == "call_function" and _is_guard(target) and i not in keep \
                and all(free(j) for j in inputs):
            add(i)
    return sorted(keep)


def _alias_hint(model: Module, graph: Any, query: str) -> str:
    """When ``query`` starts with the second name of a module registered under
    two names (``self.b = self.a``) and the first name gives a node, a
    sentence naming it (the graph uses the first name); else ''."""
    first: dict[int, str] = {}
    for name, module in model.named_modules(remove_duplicate=False):
        canonical = first.setdefault(id(module), name)
        if name and canonical != name and (query == name
                                           or query.startswith(name + ".")):
            renamed = canonical + query[len(name):]
            try:
                graph.resolve(renamed)
            except ValueError:
                return ""
            return (f" {name!r} is the module {canonical!r} registered a second "
                    f"time; its nodes carry the first name: ask for {renamed!r}.")
    return ""


def _leaf_hint(graph: Any, query: str) -> str:
    """When ``query`` names something inside a leaf module (one the tracer
    calls as a single node, without tracing its forward), a sentence naming
    that module's node; else ''."""
    leaves: dict[str, str] = {}
    for i in range(len(graph)):
        name, kind, target, _, _, _ = graph.node(i)
        if kind == "call_module":
            leaves.setdefault(target, name)
    parts = query.split(".")
    for k in range(len(parts) - 1, 0, -1):
        path = ".".join(parts[:k])
        if path in leaves:
            return (f" {path!r} is a leaf module: the graph calls it as one "
                    f"node, {leaves[path]!r}, and has no nodes inside it.")
    return ""


class UnknownNodeError(ValueError):
    """A return node that the graph does not have. ``detail`` is the message
    without its last sentence, the advice for Python callers (the command
    line gives its own)."""

    def __init__(self, detail: str, advice: str) -> None:
        super().__init__(f"{detail} {advice}")
        self.detail, self.advice = detail, advice

    def __reduce__(self) -> tuple:  # pickle (multiprocessing) calls __init__ with both parts
        return type(self), (self.detail, self.advice)


def _resolve(graph: Any, spec: dict[str, str], mode: str,
             model: Module) -> list:
    """(output key, node index) pairs in execution order."""
    names = graph.names()
    candidates = sorted({".".join(n.split(".")[:k]) for n in names
                         for k in range(1, n.count(".") + 2)})
    chosen = []
    for order, (query, key) in enumerate(spec.items()):
        try:
            index = graph.resolve(query)
        except ValueError:
            close = did_you_mean(query, candidates)
            hint = (_alias_hint(model, graph, query)
                    or _leaf_hint(graph, query)
                    or (f" {close[0].upper()}{close[1:]}" if close else ""))
            raise UnknownNodeError(
                f"node {query!r} is not present in the model's {mode}-mode "
                f"graph.{hint}",
                "Call get_graph_node_names(model) to list the node names, "
                "and give train_return_nodes and eval_return_nodes "
                "separately if a node exists in one mode only.") from None
        chosen.append((index, order, key))
    chosen.sort()
    return [(key, index) for index, _, key in chosen]


def create_feature_extractor(
        model: Module, return_nodes: Any = None,
        train_return_nodes: Any = None, eval_return_nodes: Any = None,
        tracer_kwargs: Mapping[str, Any] | None = None,
        suppress_diff_warning: bool = False,
        concrete_args: Mapping[str, Any] | None = None,
) -> FeatureExtractor:
    """Builds a module that returns chosen intermediate outputs of a model.

    Mirrors ``torchvision.models.feature_extraction.create_feature_extractor``.
    A query selects the node of that exact name, or the output of the module
    at that dotted path (``"layer1"``); each query is resolved on its own.
    Only the nodes the outputs need are kept and run.

    Args:
        model: a featx.nn.Module; never modified.
        return_nodes: list of queries, or dict {query: output key}, used in
            both modes.
        train_return_nodes, eval_return_nodes: the same, per mode; give both
            or neither, and not together with ``return_nodes``.
        tracer_kwargs, suppress_diff_warning, concrete_args: as in
            :func:`get_graph_node_names`.

    Returns:
        A :class:`featx.fx.graph_module.FeatureExtractor` (a featx.nn.Module)
        in the model's current mode; calling it on a float32 array of shape
        (N, C, H, W) returns a new dict {output key: array}, ordered by
        execution.

    Raises:
        ValueError: missing or conflicting node specs, a repeated query or
            output key, or a query that names no node (the message lists
            close names).
        TypeError: a spec that is not a list or dict, or an unknown
            ``tracer_kwargs`` key.
        featx.fx.TraceError: the model needs concrete values while tracing.

    Example:
        >>> import featx, numpy as np
        >>> ex = create_feature_extractor(featx.models.resnet18(), ["layer1"])
        >>> ex(np.zeros((1, 3, 64, 64), np.float32))["layer1"].shape
        (1, 64, 16, 16)
    """
    _check_model(model)
    if return_nodes is None and train_return_nodes is None \
            and eval_return_nodes is None:
        raise ValueError(
            "give either return_nodes, or both train_return_nodes and "
            "eval_return_nodes")
    if (train_return_nodes is None) != (eval_return_nodes is None):
        raise ValueError(
            "train_return_nodes and eval_return_nodes must be given together "
            f"(got train_return_nodes={train_return_nodes!r}, "
            f"eval_return_nodes={eval_return_nodes!r})")
    if return_nodes is not None and train_return_nodes is not None:
        raise ValueError(
            "return_nodes and train_return_nodes/eval_return_nodes are "
            "mutually exclusive; give return_nodes alone, or the pair")
    if return_nodes is not None:
        spec = _normalize_spec(return_nodes, "return_nodes")
        specs = {"train": spec, "eval": spec}
    else:
        specs = {"train": _normalize_spec(train_return_nodes,
                                          "train_return_nodes"),
                 "eval": _normalize_spec(eval_return_nodes,
                                         "eval_return_nodes")}
    tracer = _make_tracer(tracer_kwargs)
    training = model.training
    train_graph, eval_graph = _trace_both(model, tracer, concrete_args)
    if not suppress_diff_warning:
        _warn_if_different(train_graph.names(), eval_graph.names())
    graphs = {}
    order = [("train", train_graph), ("eval", eval_graph)]
    if not training:  # report an unknown node for the mode the user is in
        order.reverse()
    for mode, graph in order:
        outputs = _resolve(graph, specs[mode], mode, model)
        _check_inplace(export_graph(graph, list(range(len(graph))), outputs))
        keep = _prune(graph, [index for _, index in outputs])
        graphs[mode] = export_graph(graph, keep, outputs)
        _check_methods(graphs[mode])
    graphs = {mode: graphs[mode] for mode in ("train", "eval")}
    return FeatureExtractor(model, graphs, inspect.signature(model.forward),
                            training, dict(concrete_args or {}))
