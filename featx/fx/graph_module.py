"""The feature extractor: pruned train/eval graphs compiled to C plans.

Counterpart of torchvision's ``DualGraphModule``. Differences, all on
purpose (SPEC sections 5-6): switching the extractor's mode never changes
the original model's mode flags (each graph runs its layers in the mode it
was traced in), and graphs run in featx's C executor, not as generated
Python code.
"""
from __future__ import annotations

import copy
import html
import operator
import warnings
from collections.abc import Collection
from typing import Any, NamedTuple

import numpy as np

from .. import _core, _rng
from .._env import user_stacklevel
from .._errors import OpError
from .._op import (CONV_BN_ACTS, LINEAR_ACTS, MacCounter, OpSpec, SlotRef,
                   as_meta, conv2d_bn_spec, linear_act_spec,
                   layer_norm_channels_first_spec,
                   mlp_channels_first_spec, mlp_scale_spec, mlp_spec)
from .._tensor_methods import METHODS
from ..nn import Module, Parameter
from ..nn.functional import _pair  # an op attr (int or 2-tuple) as a pair
from ..nn.module import _check_train_mode


class NodeInfo(NamedTuple):
    """One kept node: its name, op kind (``placeholder``, ``call_module``,
    ``call_function``, ``call_method``, ``get_attr``), target and the names
    of its inputs."""

    name: str
    op: str
    target: str
    inputs: tuple[str, ...]


class ModeGraph:
    """The pruned graph of one mode: picklable node records.

    Attributes:
        nodes: kept nodes in execution order, as tuples
            ``(index, name, kind, target, args, kwargs, inputs)`` where traced
            values in args/kwargs are :class:`featx._op.SlotRef`.
        placeholders: node indices of the ``forward`` arguments, in order.
        outputs: ``(output key, node index)`` pairs in execution order.
        n_nodes: size of the unpruned graph (slot count).
    """

    def __init__(self, nodes: list[tuple], placeholders: list[int],
                 outputs: list[tuple[str, int]], n_nodes: int) -> None:
        self.nodes = nodes
        self.placeholders = placeholders
        self.outputs = outputs
        self.n_nodes = n_nodes

    def info(self) -> list[NodeInfo]:
        names = {n[0]: n[1] for n in self.nodes}
        return [NodeInfo(name, kind, _target_str(target),
                         tuple(names[i] for i in inputs))
                for _, name, kind, target, _, _, inputs in self.nodes]

    def __str__(self) -> str:
        rows = self.info()
        width = max((len(r.name) for r in rows), default=0)
        lines = [f"{r.name:<{width}}  {r.op:<13}  {r.target}"
                 f"({', '.join(r.inputs)})" for r in rows]
        by_index = {n[0]: n[1] for n in self.nodes}
        lines.append("return {" + ", ".join(
            f"{k!r}: {by_index[i]}" for k, i in self.outputs) + "}")
        return "\n".join(lines)

    __repr__ = __str__


def _target_str(target: Any) -> str:
    if isinstance(target, str):
        return target
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__qualname__", None) or repr(target)
    return f"{module}.{name}" if module else name


def export_graph(graph: "_core.Graph", keep: list[int],
                 outputs: list[tuple[str, int]]) -> ModeGraph:
    """Copies the kept nodes of a traced graph into a :class:`ModeGraph`,
    replacing traced values in arguments by :class:`SlotRef`."""
    nodes, placeholders = [], []
    for i in keep:
        name, kind, target, args, kwargs, inputs = graph.node(i)
        if kind == "placeholder":
            placeholders.append(i)
        nodes.append((i, name, kind, target, _refs(args), _refs(kwargs),
                      tuple(inputs)))
    return ModeGraph(nodes, placeholders, list(outputs), len(graph))


def _refs(value: Any) -> Any:
    if isinstance(value, _core.Proxy):
        return SlotRef(value._fx_index)
    if isinstance(value, tuple):
        return tuple(_refs(v) for v in value)
    if isinstance(value, list):
        return [_refs(v) for v in value]
    if isinstance(value, dict):
        return {k: _refs(v) for k, v in value.items()}
    if isinstance(value, slice):
        return slice(_refs(value.start), _refs(value.stop), _refs(value.step))
    return value


def _subst(value: Any, consts: dict[int, Any]) -> Any:
    """Replaces SlotRefs of the nodes in ``consts`` (parameters, or every
    computed node in :func:`meta_run`) by their values."""
    if isinstance(value, SlotRef):
        return consts.get(value.index, value)
    if isinstance(value, tuple):
        return tuple(_subst(v, consts) for v in value)
    if isinstance(value, list):
        return [_subst(v, consts) for v in value]
    if isinstance(value, dict):
        return {k: _subst(v, consts) for k, v in value.items()}
    if isinstance(value, slice):
        return slice(_subst(value.start, consts), _subst(value.stop, consts),
                     _subst(value.step, consts))
    return value


def mode_view(module: Module, training: bool,
              memo: dict[int, Module] | None = None) -> Module:
    """A shallow copy of ``module`` (and of its submodules) whose mode is
    fixed to ``training``; the user's modules are never touched, and
    parameters and buffers are shared, so running statistics updated
    through the view land in the original. A module reachable by several
    paths gets one view (``memo``), so the view's ``named_modules`` lists
    the same paths as the original's."""
    memo = {} if memo is None else memo
    view = memo.get(id(module))
    if view is not None:
        return view
    view = copy.copy(module)
    memo[id(module)] = view
    view.__dict__["training"] = training
    view.__dict__["_modules"] = type(module._modules)(
        (k, None if c is None else mode_view(c, training, memo))
        for k, c in module._modules.items())
    return view


class _Method:
    """Calls tensor method ``name`` with featx's torch semantics."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, obj: Any, *args: Any, **kwargs: Any) -> Any:
        fn = METHODS.get(self.name)
        if fn is not None and isinstance(obj, np.ndarray):
            return fn(obj, *args, **kwargs)
        return getattr(obj, self.name)(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<method {self.name}>"


def _identity(x: Any) -> Any:
    return x


def _kernel_step(index: int, spec: Any) -> tuple | None:
    """The plan step of a lowered op, or None if it cannot run as one
    kernel call (its inputs are not graph values or arrays)."""
    if not isinstance(spec, OpSpec):
        return None
    inputs: list[Any] = []
    for v in spec.inputs:
        if isinstance(v, SlotRef):
            inputs.append(v.index)
        elif v is None or isinstance(v, np.ndarray):
            inputs.append(v)
        else:
            return None
    if any(isinstance(v, SlotRef) for v in spec.attrs.values()):
        return None
    return (index, "kernel", spec.name, tuple(inputs), dict(spec.attrs))


def _leaf_steps(index: int, fn: Any, args: tuple, kwargs: dict,
                new_slot: Any) -> list[tuple] | None:
    """The kernel steps of a featx.ops leaf block (``_plan_steps``: e.g.
    Conv2dNormActivation, SqueezeExcitation) called on one graph value:
    the kernel calls its eager forward makes on a kernel's result (a fresh
    float32 array), the last writing slot ``index`` and the others fresh
    slots after the graph's (``new_slot``); [] if the block returns its
    input unchanged (StochasticDepth in eval mode); None if it runs as a
    Python step."""
    plan_steps = getattr(fn, "_plan_steps", None)
    if (plan_steps is None or kwargs or len(args) != 1
            or not isinstance(args[0], SlotRef)):
        return None
    lowered = plan_steps(args[0], new_slot)
    if not lowered:
        return lowered
    steps = []
    for k, (slot, spec) in enumerate(lowered):
        step = _kernel_step(index if k == len(lowered) - 1 else slot.index,
                            spec)
        if step is None:
            return None
        steps.append(step)
    return steps


def _lowerable(module: Module) -> bool:
    """Whether a leaf module may be lowered from its ``forward``: a featx
    layer, or a featx.ops module without submodules (Permute,
    StochasticDepth). Composite ops (Conv2dNormActivation) are not tried:
    their forward would run submodules (a train-mode BatchNorm updates its
    statistics) before finding that it is not one kernel call."""
    name = type(module).__module__
    return name.startswith("featx.nn") or (name.startswith("featx.ops")
                                           and not module._modules)


def _lower(fn: Any, args: tuple, kwargs: dict) -> Any:
    try:
        return fn(*args, **kwargs)
    except Exception:  # not lowerable: it inspects its inputs; run it as is
        return None


# Python operators lowered to a C kernel when both operands are outputs of
# kernel steps (so always fresh float32 arrays: NumPy's float32 result,
# bit for bit, with the same broadcasting), or one of them is and the other
# a float32 parameter or buffer (e.g. ConvNeXt's layer scale), passed by
# reference as the weights are.
_OPERATOR_KERNELS = ((operator.add, "add"), (operator.sub, "sub"),
                     (operator.mul, "mul"), (operator.truediv, "div"))


def _operator_step(index: int, target: Any, args: tuple, kwargs: dict,
                   kernel_slots: set[int]) -> tuple | None:
    """The kernel step of ``a + b`` (``-``, ``*``, ``/``) on two values
    made by kernel steps, or on one and a float32 array constant; or
    None."""
    op = next((name for fn, name in _OPERATOR_KERNELS if fn is target), None)
    if op is None or kwargs or len(args) != 2:
        return None
    made = [isinstance(a, SlotRef) and a.index in kernel_slots for a in args]
    const = [type(a) in (np.ndarray, Parameter) and a.dtype == np.float32
             and a.ndim > 0 for a in args]
    if not (all(made) or (made[0] and const[1]) or (const[0] and made[1])):
        return None
    return (index, "kernel", op,
            tuple(a.index if m else a for a, m in zip(args, made)), {})


class _Readers:
    """Who reads each slot among the plan steps: the number of uses
    (Python steps' templates included) and, for kernel steps, the step
    reading it as input 0."""

    def __init__(self, steps: list[tuple], wanted: set[int]) -> None:
        self.steps, self.wanted = steps, wanted
        self.uses: dict[int, int] = {}
        self.first_input: dict[int, int] = {}
        self.any_input: dict[int, int] = {}
        for pos, st in enumerate(steps):
            if st[1] == "kernel":
                for v in st[3]:
                    if isinstance(v, int):
                        self.uses[v] = self.uses.get(v, 0) + 1
                        self.any_input[v] = pos
                if st[3] and isinstance(st[3][0], int):
                    self.first_input[st[3][0]] = pos
            else:
                self._count((st[3], st[4]))

    def _count(self, v: Any) -> None:
        if isinstance(v, SlotRef):
            self.uses[v.index] = self.uses.get(v.index, 0) + 1
        elif isinstance(v, (tuple, list)):
            for x in v:
                self._count(x)
        elif isinstance(v, dict):
            for x in v.values():
                self._count(x)
        elif isinstance(v, slice):
            self._count((v.start, v.stop, v.step))

    def sole_reader(self, pos: int, ops: Collection[str],
                    any_input: bool = False) -> int | None:
        """The position of the only reader of step ``pos``'s value if that
        is a kernel step of one of ``ops`` reading it as input 0 (any
        input if ``any_input``) and the value is not returned; else None.
        Fusing the two never hides a value the user asked for or another
        step reads."""
        slot = self.steps[pos][0]
        nxt = (self.any_input if any_input else self.first_input).get(slot)
        if (slot in self.wanted or self.uses.get(slot) != 1 or nxt is None
                or self.steps[nxt][2] not in ops):
            return None
        return nxt


def _fuse(steps: list[tuple], wanted: set[int],
          training: bool) -> list[tuple]:
    """Fuses kernel-step chains:

    * in eval mode, conv2d -> batch_norm (-> relu, relu6, hardswish or
      silu) becomes one conv2d_bn step (BN affine and activation in the
      GEMM epilogue; the BN arrays are passed by reference, so in-place
      updates stay visible);
    * in eval mode, a remaining batch_norm -> activation (pre-activation
      blocks, as DenseNet's) becomes one batch_norm step with that "act";
    * add -> relu (a residual connection) becomes one add_relu step;
    * linear -> relu, relu6, hardswish, silu or exact gelu becomes one
      linear step with that "act" (applied in the GEMM's epilogue);
    * linear -> exact gelu -> linear (an MLP over tokens, as ConvNeXt's)
      becomes one mlp step (the hidden activations never exist as one
      array, see csrc/ops/mlp.c), unless the second linear has an
      activation of its own to fuse; with a permute back to channels
      first after it (-> a per-channel scale: ConvNeXt's
      ``permute -> layer_scale *``) fused too;
    * permute NCHW -> NHWC -> layer_norm over C (ConvNeXt's blocks and
      LayerNorm2d) becomes one channels-first layer_norm step (the
      permuted array never exists).

    A link is fused only if the producer is not a returned output and its
    slot has exactly one use among all steps (Python steps' templates
    included), the next step of the chain (:meth:`_Readers.sole_reader`).
    The fused step takes the last node's slot and place, and the first
    node's name (for errors).
    """
    readers = _Readers(steps, wanted)
    out, drop = list(steps), set()

    def linear_act(pos: int) -> tuple[int, OpSpec] | None:
        """The activation step fused into linear step ``pos`` and the
        fused call, if any."""
        act = readers.sole_reader(pos, LINEAR_ACTS)
        if act is None:
            return None
        fused = linear_act_spec(OpSpec(*steps[pos][2:5]),
                                OpSpec(*steps[act][2:5]))
        return None if fused is None else (act, fused)

    def mlp_tail(chain: list[int], mlp: OpSpec) -> OpSpec:
        """mlp (the last step of chain) with the permute back to channels
        first and then the per-channel scale that follow it, if they do;
        their positions are appended to chain."""
        perm = readers.sole_reader(chain[-1], ("permute",))
        if perm is None:
            return mlp
        spec = mlp_channels_first_spec(mlp, OpSpec(*steps[perm][2:5]))
        if spec is None:
            return mlp
        chain.append(perm)
        mul = readers.sole_reader(perm, ("mul",), any_input=True)
        scaled = None if mul is None else mlp_scale_spec(
            spec, steps[perm][0], len(steps[perm][4]["dims"]),
            OpSpec(*steps[mul][2:5]))
        if mul is None or scaled is None:
            return spec
        chain.append(mul)
        return scaled

    for pos, st in enumerate(steps):
        if st[1] != "kernel":
            continue
        if st[2] == "conv2d" and not training:
            bn = readers.sole_reader(pos, ("batch_norm",))
            if bn is None:
                continue
            act = readers.sole_reader(bn, CONV_BN_ACTS)
            fused = conv2d_bn_spec(OpSpec(*st[2:5]), OpSpec(*steps[bn][2:5]),
                                   None if act is None
                                   else OpSpec(*steps[act][2:5]))
            if fused is None:
                continue
            last = act if act is not None else bn
            out[last] = (steps[last][0], "kernel", fused.name, fused.inputs,
                         fused.attrs, st[5])
            drop.update({pos, bn} - {last})
        elif st[2] == "permute" and pos not in drop:
            ln = readers.sole_reader(pos, ("layer_norm",))
            spec = None if ln is None else layer_norm_channels_first_spec(
                OpSpec(*st[2:5]), OpSpec(*steps[ln][2:5]))
            if ln is not None and spec is not None:
                out[ln] = (steps[ln][0], "kernel", spec.name, spec.inputs,
                           spec.attrs, st[5])
                drop.add(pos)
        elif st[2] == "add":
            relu = readers.sole_reader(pos, ("relu",))
            if relu is not None:
                out[relu] = (steps[relu][0], "kernel", "add_relu", st[3], {},
                             st[5])
                drop.add(pos)
        elif st[2] == "linear":
            chain = linear_act(pos)
            if chain is None:
                continue
            act_pos, fused = chain
            nxt = readers.sole_reader(act_pos, ("linear",))
            mlp = (mlp_spec(fused, OpSpec(*steps[nxt][2:5]))
                   if nxt is not None and linear_act(nxt) is None else None)
            if nxt is not None and mlp is not None:
                fused_pos = [pos, act_pos, nxt]
                mlp = mlp_tail(fused_pos, mlp)
                last = fused_pos[-1]
                out[last] = (steps[last][0], "kernel", "mlp", mlp.inputs,
                             mlp.attrs, st[5])
                drop.update(fused_pos[:-1])
            else:
                out[act_pos] = (steps[act_pos][0], "kernel", "linear",
                                fused.inputs, fused.attrs, st[5])
                drop.add(pos)
    if not training:
        for pos, st in enumerate(out):
            if (pos in drop or st[1] != "kernel" or st[2] != "batch_norm"
                    or st[4]["act"]):
                continue
            act = readers.sole_reader(pos, CONV_BN_ACTS)
            if act is None or steps[act][4]:
                continue
            out[act] = (steps[act][0], "kernel", "batch_norm", st[3],
                        dict(st[4], act=CONV_BN_ACTS[steps[act][2]]), st[5])
            drop.add(pos)
    return [st for pos, st in enumerate(out) if pos not in drop]


def _cat_batch_norm(steps: list[tuple], wanted: set[int]) -> list[tuple]:
    """In eval mode, cat along dim 1 -> batch_norm (with its fused
    activation) becomes one cat_batch_norm step, which normalises each
    channel plane read from the cat's input holding it, so the
    concatenation is never stored (DenseNet's dense layers: norm1 on the
    cat of all earlier feature maps); the same float ops per element as
    the two steps. Only when the cat is not returned and the batch_norm is
    its only reader, and the cat's inputs fit in one step (at most 60);
    only a cat along dim 1 as given (a negative dim's meaning depends on
    the rank, not known while planning).
    The batch_norm must have its weight and bias (DenseNet's have). The
    fused step takes the batch_norm's slot and place, and the cat's name.
    """
    readers = _Readers(steps, wanted)
    out, drop = list(steps), set()
    for pos, st in enumerate(steps):
        if (st[1] != "kernel" or st[2] != "cat" or st[4]["dim"] != 1
                or len(st[3]) > 60):
            continue
        bn = readers.sole_reader(pos, ("batch_norm",))
        if bn is None or len(steps[bn][3]) != 5 or any(
                v is None for v in steps[bn][3]):
            continue
        b = steps[bn]
        out[bn] = (b[0], "kernel", "cat_batch_norm",
                   tuple(b[3][1:]) + tuple(st[3]), b[4], st[5])
        drop.add(pos)
    return [st for pos, st in enumerate(out) if pos not in drop]


def _pool_first(steps: list[tuple], wanted: set[int]) -> list[tuple]:
    """Swaps a 1x1 convolution and the average pool that alone reads it
    (DenseNet's transitions: conv -> avg_pool2d 2x2): each output pixel
    of the convolution is a linear function of its input pixel, so
    averaging its outputs over a window equals applying it to the window's
    average, and the convolution then runs on kh*kw times fewer pixels.
    Only pools that average whole windows without padding (padding 0,
    stride = kernel, no ceil_mode, no divisor_override) and stride-1
    dilation-1 convolutions qualify; the conv's slot must not be returned.
    The results are not the unfused plan's bit for bit: both orders round
    once per sum, to errors of the same size (the tests bound both against
    float64). The pool step takes the conv's slot, the conv the pool's.
    """
    readers = _Readers(steps, wanted)
    out = list(steps)
    for pos, st in enumerate(steps):
        if (st[1] != "kernel" or st[2] != "conv2d"
                or not isinstance(st[3][0], int)):
            continue
        a = st[4]
        w = st[3][1]
        if (not isinstance(w, np.ndarray) or w.ndim != 4
                or w.shape[2:] != (1, 1) or _pair(a["stride"]) != (1, 1)
                or _pair(a["padding"]) != (0, 0)):
            continue
        pool = readers.sole_reader(pos, ("avg_pool2d",))
        if pool is None:
            continue
        p = steps[pool][4]
        k = _pair(p["kernel_size"])
        if (_pair(p["stride"]) != k or _pair(p["padding"]) != (0, 0)
                or p["ceil_mode"] or p["divisor_override"]
                or k[0] * k[1] < 2):
            continue
        out[pos] = (st[0], "kernel", "avg_pool2d", (st[3][0],), p,
                    steps[pool][5])
        out[pool] = (steps[pool][0], "kernel", "conv2d",
                     (st[0],) + tuple(st[3][1:]), a, st[5])
    return out


# The blocked layout "nchw8c" (csrc/ops/nchw8c.c): an (N, C, H, W) value
# with C % 8 == 0 stored as the C-contiguous (N, C/8, H, W, 8) array, so
# pointwise and depthwise convs keep 8 channels in a vector's lanes.
_BLOCK = 8

# Kernel ops that compute each element from the elements at the same place
# only (and broadcast as NumPy does), so they give the same values in any
# layout when all their slot operands share it.
_LAYOUT_UNARY = frozenset(("relu", "relu6", "hardswish", "hardsigmoid",
                           "silu", "sigmoid", "gelu"))
_LAYOUT_BINARY = frozenset(("add", "sub", "mul", "div", "add_relu"))


def _conv_kind(st: tuple) -> str | None:
    """"pointwise" or "depthwise" if kernel step ``st`` is a conv2d_bn call
    conv2d_bn_nchw8c runs (1x1, groups 1, stride 1, padding 0; or groups
    == input channels == output channels), both channel counts multiples
    of 8 by its weights' shape; else None."""
    if st[2] != "conv2d_bn" or not isinstance(st[3][0], int):
        return None
    w, attrs = st[3][1], st[4]
    oc, cg, kh, kw = w.shape
    if oc % _BLOCK or attrs["groups"] * cg % _BLOCK:
        return None
    if ((kh, kw) == (1, 1) and attrs["groups"] == 1
            and tuple(attrs["stride"]) == (1, 1)
            and tuple(attrs["padding"]) == (0, 0)):
        return "pointwise"
    return "depthwise" if cg == 1 and attrs["groups"] == oc else None


def _out_channels(st: tuple, channels: dict[int, int]) -> int | None:
    """The channels C of kernel step ``st``'s value if it is provably a 4-D
    (N, C, H, W) array whenever the step succeeds, from its weights' shape
    or from its slot inputs' entries in ``channels``; else None."""
    op, ins = st[2], st[3]
    if op in ("conv2d", "conv2d_bn") and isinstance(ins[1], np.ndarray):
        return int(ins[1].shape[0])
    known = [channels.get(v) if isinstance(v, int) else None for v in ins]
    if op in _LAYOUT_UNARY or op in ("batch_norm", "adaptive_avg_pool2d"):
        return known[0]
    if op in _LAYOUT_BINARY and known[0] is not None and known[0] == known[1]:
        return known[0]
    return None


def lowered_channels(lowered: list[tuple]) -> int | None:
    """The channels of the value of a featx.ops block lowered to kernel
    steps (:func:`_leaf_steps`) whatever its input, as
    :func:`_out_channels` proves them (e.g. a Conv2dNormActivation's
    output channels)."""
    channels: dict[int, int] = {}
    for st in lowered:
        c = _out_channels(st, channels)
        if c is not None:
            channels[st[0]] = c
    return channels.get(lowered[-1][0]) if lowered else None


def _blocked_layout(steps: list[tuple], wanted: set[int],
                    new_slot: Any, proven: dict[int, int]) -> list[tuple]:
    """Runs chains of pointwise and depthwise convs in the nchw8c layout.

    Which steps run blocked, in step order: a conv2d_bn that
    conv2d_bn_nchw8c runs (:func:`_conv_kind`) whose input is blocked or
    provably (N, C, H, W) with the C its weights expect (then converted
    with to_nchw8c); a unary elementwise step (:data:`_LAYOUT_UNARY`) of a
    blocked value; a binary one (:data:`_LAYOUT_BINARY`) of a blocked
    value and a blocked or convertible one provably of the same shape
    (same channels, N, H and W from the same value through shape-keeping
    steps), so that it cannot fail where the plain step would have
    succeeded or fail otherwise; the channel scale of a
    squeeze-and-excitation block, x * gate with x blocked and the gate
    provably (N, C, 1, 1) from a global average pool of x (the gate is
    reshaped to (N, C/8, 1, 1, 8), same memory); and a global average pool
    of a blocked value (adaptive_avg_pool2d_nchw8c, whose output is
    plain). Steps joined by blocked values form chains; a chain is kept
    only if it has a depthwise conv (where the layout pays most) and at
    least twice as many convs as conversions, so ResNet, DenseNet and
    ConvNeXt keep their plain plans. The blocked ops equal the plain ones
    bit for bit (csrc/ops/nchw8c.c), so results never change, and a conv
    that fails names its node with the plain op's message.

    A blocked step keeps its node's name and writes a fresh slot; its
    own slot gets the plain value from one from_nchw8c, before the first
    reader that needs it (a step that does not run blocked, a Python step)
    or, for a returned node, right after it, so users and Python steps see
    what they saw before. Each value is converted at most once each way.
    ``add`` of a blocked conv's value read by nothing else becomes the
    conv's ``residual`` input. ``proven``: slots of Python steps whose
    channels are known (:func:`lowered_channels`).
    """
    readers = _Readers(steps, wanted)
    producer = {st[0]: pos for pos, st in enumerate(steps)}
    channels = dict(proven)
    # same[v]: a slot whose value has v's N, H and W (v's own if unknown)
    same: dict[int, int] = {}

    def gate_of(slot: Any) -> int | None:
        """x if ``slot`` is provably (N, C, 1, 1) with x's N and C, made by
        1x1 convs and elementwise steps from adaptive_avg_pool2d(x, 1)."""
        c = None
        while isinstance(slot, int):
            pos = producer.get(slot)
            if pos is None or steps[pos][1] != "kernel":
                return None
            op, ins, attrs = steps[pos][2:5]
            if op == "adaptive_avg_pool2d":
                x = ins[0]
                ok = (tuple(attrs["output_size"]) == (1, 1)
                      and x in channels and c in (None, channels[x]))
                return x if ok else None
            if op in ("conv2d", "conv2d_bn"):
                if (not isinstance(ins[1], np.ndarray)  # a computed weight
                        or ins[1].shape[2:] != (1, 1)
                        or tuple(attrs["padding"]) != (0, 0)):
                    return None
                c = int(ins[1].shape[0]) if c is None else c
            elif op not in _LAYOUT_UNARY:
                return None
            slot = ins[0]
        return None

    for st in steps:
        if st[1] != "kernel":
            continue
        op, ins, attrs = st[2:5]
        c = _out_channels(st, channels)
        if c is not None:
            channels[st[0]] = c
        keeps = op in _LAYOUT_UNARY or op == "batch_norm"
        if op in ("conv2d", "conv2d_bn") and isinstance(ins[1], np.ndarray):
            k, d, p = ins[1].shape[2:], attrs["dilation"], attrs["padding"]
            keeps = tuple(attrs["stride"]) == (1, 1) and all(
                2 * p[i] == d[i] * (k[i] - 1) for i in (0, 1))
        elif op in _LAYOUT_BINARY and len(ins) == 2:
            a, b = (same.get(v, v) if isinstance(v, int) else None
                    for v in ins)
            keeps = a is not None and a == b
            for x, g in (ins, ins[::-1]):
                if isinstance(x, int) and gate_of(g) == x:
                    same[st[0]] = same.get(x, x)
        if keeps and st[0] not in same and isinstance(ins[0], int):
            same[st[0]] = same.get(ins[0], ins[0])

    # decide, in step order; parent: union-find of the chains' steps
    blocked: set[int] = set()          # slots whose producer runs blocked
    kind: dict[int, str] = {}          # pos -> how it runs blocked
    parent: dict[int, int] = {}

    def root(pos: int) -> int:
        while parent[pos] != pos:
            parent[pos] = parent[parent[pos]]
            pos = parent[pos]
        return pos

    for pos, st in enumerate(steps):
        if st[1] != "kernel":
            continue
        op, ins = st[2], st[3]
        how = None
        slots = [v for v in ins if isinstance(v, int)]
        if op == "conv2d_bn":
            conv = _conv_kind(st)
            if conv is not None and channels.get(ins[0]) == (
                    st[4]["groups"] * ins[1].shape[1]):
                how = conv
        elif op in _LAYOUT_UNARY:
            how = "elementwise" if slots[:1] == [ins[0]] and (
                ins[0] in blocked) else None
        elif op in _LAYOUT_BINARY and len(slots) == 2:
            x, g = ins if ins[0] in blocked else ins[::-1]
            shapes = {(channels.get(v), same.get(v, v)) for v in ins}
            if op == "mul" and x in blocked and gate_of(g) == x:
                how = "scale"
            elif x in blocked and len(shapes) == 1:
                how = "elementwise"
        elif op == "adaptive_avg_pool2d":
            if (slots[:1] == [ins[0]] and ins[0] in blocked
                    and tuple(st[4]["output_size"]) == (1, 1)):
                how = "pool"
        if how is None:
            continue
        kind[pos] = how
        parent[pos] = pos
        if how != "pool":
            blocked.add(st[0])
        for v in slots:
            if v in blocked and v != st[0]:
                parent[root(producer[v])] = root(pos)

    def layout_inputs(pos: int) -> list[int]:
        """The slots step ``pos`` reads in the blocked layout."""
        ins = steps[pos][3]
        if kind[pos] == "scale":
            return [v for v in ins if v in blocked]
        if kind[pos] in ("pointwise", "depthwise", "pool"):
            return [ins[0]]
        return [v for v in ins if isinstance(v, int)]

    # plain readers of each blocked slot, and the chains' costs
    plain_reader: dict[int, int] = {}
    for pos, st in enumerate(steps):
        reads = (set(v for v in st[3] if isinstance(v, int))
                 if st[1] == "kernel" else _template_slots((st[3], st[4])))
        if pos in kind:
            reads -= set(layout_inputs(pos))
        for v in reads:
            if v in blocked and v not in plain_reader:
                plain_reader[v] = pos
    chains: dict[int, list[int]] = {}
    for pos in kind:
        chains.setdefault(root(pos), []).append(pos)
    keep: set[int] = set()
    for members in chains.values():
        convs = sum(kind[p] in ("pointwise", "depthwise") for p in members)
        made = {steps[p][0] for p in members if kind[p] != "pool"}
        to = {v for p in members for v in layout_inputs(p)} - made
        back = {v for v in made if v in wanted or v in plain_reader}
        if (any(kind[p] == "depthwise" for p in members)
                and 2 * (len(to) + len(back)) <= convs):
            keep.update(members)
    if not keep:
        return steps
    kind = {p: k for p, k in kind.items() if p in keep}
    blocked = {steps[p][0] for p in kind if kind[p] != "pool"}

    # fresh slots of blocked values, conversions and reshaped gates
    out: list[tuple] = []
    fresh: dict[int, int] = {}
    before: dict[int, list[tuple]] = {}
    after: dict[int, list[tuple]] = {}

    def blocked_slot(v: int) -> int:
        """The slot of v's blocked value; if v is plain, converted by a
        to_nchw8c step appended to out now (before its first blocked
        reader), named after v's node."""
        if v not in fresh:
            fresh[v] = new_slot().index
            out.append((fresh[v], "kernel", "to_nchw8c", (v,), {},
                        steps[producer[v]][5]))
        return fresh[v]

    for v in sorted(blocked, key=producer.__getitem__):
        fresh[v] = new_slot().index
        pos = producer[v]
        if v in plain_reader or v in wanted:
            where = plain_reader.get(v)
            convert: tuple = (v, "kernel", "from_nchw8c", (fresh[v],), {},
                              steps[pos][5])
            if where is None:
                after.setdefault(pos, []).append(convert)
            else:
                before.setdefault(where, []).append(convert)
    gates: dict[int, int] = {}
    # add (pos) of a conv's value read by nothing else: (conv pos, other)
    residual: dict[int, tuple[int, int]] = {}
    fused: set[int] = set()
    for pos, how in kind.items():
        st = steps[pos]
        for a, b in ((st[3], st[3][::-1])
                     if how == "elementwise" and st[2] == "add" else ()):
            made_by = producer[a]
            if (kind.get(made_by) in ("pointwise", "depthwise")
                    and len(steps[made_by][3]) == 7 and a not in wanted
                    and readers.uses.get(a) == 1 and made_by not in fused):
                residual[pos] = (made_by, b)
                fused.add(made_by)
                break
    for pos, st in enumerate(steps):
        out.extend(before.get(pos, ()))
        how = kind.get(pos)
        if how is None:
            out.append(st)
        elif how in ("pointwise", "depthwise"):
            if pos not in fused:
                out.append((fresh[st[0]], "kernel", "conv2d_bn_nchw8c",
                            (blocked_slot(st[3][0]),) + st[3][1:],
                            st[4], st[5]))
        elif pos in residual:
            made_by, b = residual[pos]
            cs = steps[made_by]
            r = blocked_slot(b)
            out.append((fresh[st[0]], "kernel", "conv2d_bn_nchw8c",
                        (blocked_slot(cs[3][0]),) + cs[3][1:7] + (r,),
                        cs[4], cs[5]))
        elif how == "pool":
            out.append((st[0], "kernel", "adaptive_avg_pool2d_nchw8c",
                        (blocked_slot(st[3][0]),), st[4], st[5]))
        elif how == "scale":
            ins = []
            for v in st[3]:
                if v in blocked:
                    ins.append(fresh[v])
                    continue
                if v not in gates:  # (N, C, 1, 1) -> (N, C/8, 1, 1, 8)
                    gates[v] = new_slot().index
                    out.append((gates[v], "kernel", "reshape", (v,),
                                {"shape": (-1, channels[st[0]] // _BLOCK,
                                           1, 1, _BLOCK)}, st[5]))
                ins.append(gates[v])
            out.append((fresh[st[0]], "kernel", st[2], tuple(ins), st[4],
                        st[5]))
        else:
            out.append((fresh[st[0]], "kernel", st[2],
                        tuple(blocked_slot(v) if isinstance(v, int)
                              else v for v in st[3]), st[4], st[5]))
        out.extend(after.get(pos, ()))
    return out


def _template_slots(template: Any) -> set[int]:
    """The slots a Python step's argument template reads."""
    counter = _Readers([], set())
    counter._count(template)
    return set(counter.uses)


def compile_plan(graph: ModeGraph, root: Module, training: bool,
                 isa_mask: int, fuse: bool = True,
                 blocked: bool = True) -> "_core.Plan":
    """Lowers a :class:`ModeGraph` to a ``featx._core.Plan``
    (:func:`plan_steps`)."""
    steps, n_slots = plan_steps(graph, root, training, fuse, blocked)
    return _core.Plan(
        n_slots=n_slots, input_slots=tuple(graph.placeholders),
        steps=steps, outputs=tuple(graph.outputs), slotref_type=SlotRef,
        isa_mask=isa_mask)


def plan_steps(graph: ModeGraph, root: Module, training: bool,
               fuse: bool = True,
               blocked: bool = True) -> tuple[list[tuple], int]:
    """The steps of a :class:`ModeGraph`'s plan and its number of slots.

    featx layers and featx array functions whose work is one C kernel call
    become kernel steps (weights passed by reference), and so do featx.ops
    leaf blocks that list their kernel calls (``_plan_steps``: eval-mode
    ``Conv2dNormActivation``, ``SqueezeExcitation``, an identity
    ``StochasticDepth``) when their input is another kernel's result;
    everything else (user leaf modules, Python operators, mode-dependent
    layers in train mode) becomes a Python step. Leaf modules run as views
    fixed to the graph's mode. ``a + b`` (``-``, ``*``, ``/``) on two kernel results
    becomes a kernel step too. Unless ``fuse`` is False (a private switch
    for tests), add -> relu, linear -> activation and, in eval mode,
    conv2d -> batch_norm (-> activation) chains become one step
    (:func:`_fuse`), a 1x1 conv2d -> avg_pool2d pair runs pool first
    (:func:`_pool_first`), in eval mode cat -> batch_norm becomes one step
    (:func:`_cat_batch_norm`), and then, in eval mode unless ``blocked`` is False
    (private, for comparisons), chains of pointwise and depthwise convs
    run in the nchw8c layout (:func:`_blocked_layout`).
    """
    consts: dict[int, Any] = {}
    steps: list[tuple] = []
    kernel_slots: set[int] = set()
    proven: dict[int, int] = {}  # Python steps' values' known channels
    wanted = {i for _, i in graph.outputs}
    n_slots = graph.n_nodes

    def new_slot() -> SlotRef:
        nonlocal n_slots
        n_slots += 1
        return SlotRef(n_slots - 1)

    for index, name, kind, target, args, kwargs, _ in graph.nodes:
        if kind == "placeholder":
            continue
        if kind == "get_attr":
            consts[index] = _get_path(root, target)
            if index in wanted:
                steps.append((index, "python", np.array, (consts[index],), {},
                              name))
            continue
        args, kwargs = _subst(args, consts), _subst(kwargs, consts)
        step = None
        fn = node_callable(root, kind, target, training)
        if kind == "call_module":
            lowered = _leaf_steps(index, fn, args, kwargs, new_slot)
            spec = None
            if lowered == []:
                spec = args[0]
            elif lowered is not None and args[0].index in kernel_slots:
                kernel_slots.update(st[0] for st in lowered)
                steps.extend(st + (name,) for st in lowered)
                continue
            elif lowered is not None:
                # on a user's input, which may be anything, the block stays
                # a Python step (with its own errors); its value is still a
                # fresh array from the same kernels
                kernel_slots.add(index)
                c = lowered_channels(lowered)
                if c is not None:
                    proven[index] = c
            elif _lowerable(fn):
                spec = _lower(fn.forward, args, kwargs)
            if isinstance(spec, SlotRef):
                # an identity: its readers read its input; a step only if
                # it is returned
                consts[index] = spec
                if index not in wanted:
                    continue
                fn, args, kwargs = _identity, (spec,), {}
            elif spec is not None:
                step = _kernel_step(index, spec)
        else:
            spec_fn = getattr(target, "__featx_spec__", None)
            if kind == "call_function" and spec_fn is not None:
                step = _kernel_step(index, _lower(spec_fn, args, kwargs))
            elif kind == "call_function":
                step = _operator_step(index, target, args, kwargs,
                                      kernel_slots)
        if step is None:
            step = (index, "python", fn, tuple(args), dict(kwargs))
        elif step[1] == "kernel":
            kernel_slots.add(index)
        steps.append(step + (name,))
    if fuse:
        steps = _fuse(steps, wanted, training)
        steps = _pool_first(steps, wanted)
        if not training:
            steps = _cat_batch_norm(steps, wanted)
    if fuse and blocked and not training:
        steps = _blocked_layout(steps, wanted, new_slot, proven)
    return steps, n_slots


def node_callable(root: Module, kind: str, target: Any,
                  training: bool) -> Any:
    """What a ``call_module`` / ``call_function`` / ``call_method`` node
    calls: the module (as a view fixed to the mode), the function, or the
    tensor method with torch's meaning."""
    if kind == "call_module":
        view = mode_view(root.get_submodule(target), training)
        view.__dict__["_featx_path"] = target  # full paths in errors
        return view
    if kind == "call_function":
        return target
    return _Method(target) if target is not None else operator.call


def value_shape(value: Any) -> Any:
    """The shape of a node's value: a tuple of ints for an array, a tuple
    of such tuples for a non-empty tuple or list of arrays, else None."""
    if isinstance(value, np.ndarray):
        return tuple(value.shape)
    if isinstance(value, (tuple, list)) and value and all(
            isinstance(v, np.ndarray) for v in value):
        return tuple(tuple(v.shape) for v in value)
    return None


def op_label(root: Module, kind: str, target: Any) -> str:
    """A node's op for tables: the module class name (``Conv2d``) for a
    ``call_module`` node, the function or method name (``add``,
    ``flatten``, ``getattr``) for a call, else the node kind
    (``placeholder``, ``get_attr``)."""
    if kind == "call_module":
        return type(root.get_submodule(target)).__name__
    if kind == "call_function":
        return getattr(target, "__name__", None) or _target_str(target)
    if kind == "call_method":
        return str(target)
    return kind


def meta_run(graph: ModeGraph, root: Module, training: bool,
             inputs: dict[int, Any], counter: MacCounter) -> list[tuple]:
    """Runs every node of ``graph`` on :class:`featx._op.MetaArray` values:
    shapes and multiply-adds without computing any array.

    featx ops take their output shapes from C shape inference; leaf modules
    and Python functions are called on the zero stand-ins (array results
    become stand-ins again). Nothing the run does is kept: BatchNorm
    statistics are not updated and featx's random generator is restored.

    Args:
        graph: nodes to run, in execution order.
        root: module that owns the graph's submodules and parameters.
        training: the graph's mode.
        inputs: placeholder node index -> value (MetaArrays for arrays).
        counter: counts the multiply-adds of the run.

    Returns:
        ``(value, macs)`` per node of ``graph.nodes``.

    Raises:
        ValueError, TypeError: a node rejected its inputs; the message
            starts with ``node '<name>': ``.
    """
    values, result = dict(inputs), []
    generator = _rng.default_generator().bit_generator
    state = generator.state
    try:
        for index, name, kind, target, args, kwargs, _ in graph.nodes:
            before = counter.macs
            if kind == "placeholder":
                value = values[index]
            elif kind == "get_attr":
                value = _get_path(root, target)
            else:
                fn = node_callable(root, kind, target, training)
                try:
                    value = as_meta(fn(*_subst(args, values),
                                       **_subst(kwargs, values)), counter)
                except (ValueError, TypeError) as e:
                    cls = (OpError if isinstance(e, OpError) else TypeError
                           if isinstance(e, TypeError) else ValueError)
                    raise cls(f"node {name!r}: {e}") from e
            values[index] = value
            result.append((value, counter.macs - before))
    finally:
        generator.state = state
    return result


def _get_path(root: Module, target: str) -> Any:
    *parents, name = target.split(".")
    module = root.get_submodule(".".join(parents)) if parents else root
    return getattr(module, name)


def _mode_dependent(module: Module) -> bool:
    """Whether a leaf module may act differently in train and eval mode:
    it or a submodule has a ``forward`` that reads ``self.training``
    (BatchNorm, Dropout, StochasticDepth, a user's module), unless its
    class says otherwise (``_mode_dependent = False``)."""
    for m in module.modules():
        flag = getattr(type(m), "_mode_dependent", None)
        if flag is None:
            code = getattr(type(m).forward, "__code__", None)
            flag = code is not None and "training" in code.co_names
        if flag:
            return True
    return False


def _install(root: Module, path: str, value: Any) -> None:
    """Registers a module or parameter of the original model at the same
    dotted path under ``root`` (plain containers in between)."""
    *parents, name = path.split(".")
    node = root
    for part in parents:
        child = node._modules.get(part)
        if child is None:
            child = Module()
            node.add_module(part, child)
        node = child
    if isinstance(value, Module):
        node.add_module(name, value)
    else:
        node.register_parameter(name, value)


class FeatureExtractor(Module):
    """Returns intermediate outputs of a model as a dict of arrays.

    Made by :func:`featx.feature_extraction.create_feature_extractor`; the
    counterpart of torchvision's ``DualGraphModule``. Call it like the
    original model; it runs the train graph or the eval graph according to
    its own mode (``.train()`` / ``.eval()``), which never changes the
    original model's flags.

    Its submodules and parameters are the original model's objects that the
    kept graphs use, at their original paths, so ``state_dict()`` has the
    original keys and shares the arrays.
    """

    def __init__(self, model: Module, graphs: dict[str, ModeGraph],
                 signature: Any, training: bool,
                 concrete_args: dict[str, Any] | None = None) -> None:
        super().__init__()
        owners: dict[str, Module] = {}
        leaves: list[Module] = []
        for g in graphs.values():
            for _, _, kind, target, _, _, _ in g.nodes:
                if kind == "call_module" and not _has_path(self, target):
                    leaf = model.get_submodule(target)
                    if _mode_dependent(leaf):
                        leaves.append(leaf)
                    _install(self, target, leaf)
                elif kind == "get_attr" and target not in owners:
                    parent = target.rpartition(".")[0]
                    owners[target] = (model.get_submodule(parent) if parent
                                      else model)
        # Parameters read by traced-through modules: their owners are not
        # in this module's tree, so they are re-read from the owners.
        self.__dict__["_param_owners"] = owners
        self.__dict__["_graphs"] = graphs
        concrete = dict(concrete_args or {})
        self.__dict__["_arg_names"] = list(signature.parameters)
        self.__dict__["_concrete"] = concrete
        self.__dict__["_signature"] = signature.replace(parameters=[
            p for name, p in signature.parameters.items()
            if name not in concrete])
        self.__dict__["training"] = bool(training)
        # the shared mode-dependent leaves, whose own flags forward compares
        # with its mode (warning on model.eval() after creation, or a frozen
        # BatchNorm)
        self.__dict__["_leaves"] = leaves
        modes = self._shared_modes()
        self.__dict__["_leaf_modes"] = (
            modes if all(m == self.training for m in modes) else ())
        self._compile()

    def _compile(self) -> None:
        for target, owner in self._param_owners.items():
            _install(self, target, getattr(owner, target.rpartition(".")[2]))
        isa = _core.isa_mask()
        self.__dict__["_plans"] = {
            mode: compile_plan(g, self, mode == "train", isa)
            for mode, g in self._graphs.items()}
        # the extractor's own version is kept apart: a (self, version)
        # pair would make it reference itself, so a deleted extractor
        # (and its plans' arenas) would live on until a garbage collection
        used = [m for m in (*self.modules(), *self._param_owners.values())
                if m is not self]
        self.__dict__["_stamps"] = [(m, m.__dict__.get("_version", 0))
                                    for m in used]
        self.__dict__["_own_stamp"] = self.__dict__.get("_version", 0)

    def _plan(self) -> "_core.Plan":
        """The current mode's plan, re-planned first if a module it uses
        changed since (e.g. ``model.fc.weight = Parameter(...)``,
        ``model.bn1.eps = 1e-3``)."""
        if (self.__dict__.get("_version", 0) != self._own_stamp
                or any(m.__dict__.get("_version", 0) != v
                       for m, v in self._stamps)):
            self._compile()
        return self._plans[self._mode]

    def _shared_modes(self) -> tuple[bool, ...]:
        return tuple(m.training for m in self._leaves)

    def _warn_if_model_switched(self) -> None:
        """Warns when the shared leaves' flags changed since the extractor's
        creation or its last ``.train()``/``.eval()`` and some are now in a
        mode it does not run (``model.eval()`` after creation), or were so at
        creation (a BatchNorm set to eval in a training model):
        torchvision's leaves follow their own flags."""
        modes = self._shared_modes()
        if modes == self._leaf_modes:
            return
        self.__dict__["_leaf_modes"] = modes
        other = sum(m != self.training for m in modes)
        if other:
            warnings.warn(
                f"{other} of the model's {len(modes)} mode-dependent modules "
                f"that the extractor calls (BatchNorm, Dropout, ...) are in "
                f"{'eval' if self.training else 'train'} mode, but the "
                f"extractor runs its {self._mode} graph: its mode is its "
                f"own (set when it was created, or by its .train()/.eval()); "
                f"call extractor.{'eval' if self.training else 'train'}() "
                "to switch it (in torchvision the model's modules would "
                "follow their own flags)", UserWarning,
                stacklevel=user_stacklevel())

    @property
    def _mode(self) -> str:
        return "train" if self.training else "eval"

    @property
    def graph(self) -> ModeGraph:
        """The pruned graph of the current mode; ``print()`` it for one line
        per node (name, op, target and inputs)."""
        return self._graphs[self._mode]

    @property
    def return_nodes(self) -> dict[str, str]:
        """Output key -> node name, for the current mode."""
        names = {n[0]: n[1] for n in self.graph.nodes}
        return {k: names[i] for k, i in self.graph.outputs}

    def train(self, mode: bool = True) -> "FeatureExtractor":
        """Selects the train graph (``mode=True``) or the eval graph. Unlike
        ``torch.nn.Module.train``, the original model's flags stay as they
        are."""
        _check_train_mode(mode)
        self.__dict__["training"] = mode
        self.__dict__["_leaf_modes"] = self._shared_modes()
        return self

    def eval(self) -> "FeatureExtractor":
        """Selects the eval graph (see :meth:`train`)."""
        return self.train(False)

    def forward(self, *args: Any, **kwargs: Any) -> dict[str, np.ndarray]:
        """Runs the current mode's graph.

        Args:
            *args, **kwargs: the original ``forward``'s arguments, e.g. one
                float array of shape (N, C, H, W). float16/float64 arrays are
                converted to float32; integer, bool and complex arrays raise.

        Returns:
            A new dict {output key: value} in execution order. Arrays are
            float32, never alias each other, the input or model buffers.

        Raises:
            TypeError: a non-float input array, or wrong arguments.
            ValueError: a shape the model cannot take; the message names the
                node.
        """
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"feature extractor: {e}; expected arguments "
                            f"{self._signature}") from None
        bound.apply_defaults()
        given = {**self._concrete, **bound.arguments}
        params = self._signature.parameters
        for name, value in bound.arguments.items():
            if name not in self._concrete and _not_an_input(
                    value, params[name].default):
                raise TypeError(
                    f"feature extractor: input '{name}' must be a float "
                    "array, e.g. float32 of shape (N, C, H, W), got "
                    f"{value!r:.60} ({type(value).__name__})")
        values = tuple(_as_input(name, given[name])
                       for name in self._arg_names)
        self._warn_if_model_switched()
        with np.errstate(all="ignore"):  # inf/nan propagate as in torch
            out = _detach(self._plan().run(values), values)
        self.__dict__["_last_shapes"] = (self._mode, {
            k: value_shape(v) for k, v in out.items()})
        return out

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_plans"], state["_stamps"], state["_own_stamp"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._compile()

    def extra_repr(self) -> str:
        return (f"mode={self._mode}, "
                f"return_nodes={list(self.return_nodes)}")

    def _repr_html_(self) -> str:
        """An HTML table of the current mode's returned nodes for Jupyter:
        output key, node name, op and the output shape of the last call in
        this mode ("not run yet" before the first one)."""
        mode, shapes = self.__dict__.get("_last_shapes", (None, {}))
        if mode != self._mode:
            shapes = {}
        nodes = {n[0]: n for n in self.graph.nodes}
        rows = []
        for key, index in self.graph.outputs:
            _, name, kind, target, _, _, _ = nodes[index]
            shape = shapes.get(key, "not run yet")
            cells = (key, name, op_label(self, kind, target),
                     "-" if shape is None else shape)
            rows.append("<tr>" + "".join(
                f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
        when = ("output shapes of the last call" if shapes
                else "shapes appear after the first call")
        return (
            "<table><caption>FeatureExtractor, "
            f"{html.escape(self._mode)} mode, {len(rows)} returned "
            f"node{'' if len(rows) == 1 else 's'} "
            f"({when})</caption><thead><tr><th>key</th><th>node</th>"
            "<th>op</th><th>shape</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def _has_path(root: Module, path: str) -> bool:
    node: Any = root
    for part in path.split("."):
        children = getattr(node, "_modules", {})
        if part in children:
            node = children[part]
        elif part in getattr(node, "_parameters", {}):
            return True
        else:
            return False
    return True


def _not_an_input(value: Any, default: Any) -> bool:
    """None (unless it is the argument's default) or a string: values no
    forward argument of an array model takes, refused before any node
    runs so the error names the input, not a fused op inside."""
    if value is None:
        return default is not None
    return isinstance(value, (str, bytes))


def _as_input(name: str, value: Any) -> Any:
    """Converts one extractor input as SPEC section 7 says: a private
    float32 C-contiguous copy of any float array."""
    if not isinstance(value, np.ndarray):
        return value
    kind = value.dtype.kind
    if kind != "f":
        what = {"b": "bool", "i": "integer", "u": "integer",
                "c": "complex"}.get(kind, str(value.dtype))
        raise TypeError(
            f"input '{name}' has dtype {value.dtype} ({what}); expected a "
            "float array (float32; float16/float64 are converted). To turn "
            "images into float arrays, use featx.transforms "
            "(e.g. ImageClassification)")
    return np.array(value, dtype=np.float32, order="C", copy=True)


def _detach(out: dict[str, Any], inputs: tuple) -> dict[str, Any]:
    """Copies any returned array (also inside a returned tuple or list)
    that could alias another returned array, an input or an internal
    buffer."""
    seen: set[int] = {id(v) for v in inputs}

    def own(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            if id(value) in seen or not value.flags.owndata:
                value = value.copy()
            seen.add(id(value))
        elif isinstance(value, list):
            value = [own(v) for v in value]
        elif isinstance(value, tuple):
            items = [own(v) for v in value]
            value = (type(value)(*items) if hasattr(value, "_fields")
                     else tuple(items))
        return value

    return {key: own(value) for key, value in out.items()}


__all__ = ["FeatureExtractor", "ModeGraph", "NodeInfo"]
