"""How a featx array function runs: eagerly, traced, or lowered to a kernel.

Every public array function (``featx.nn.functional.relu``, ``featx.flatten``,
...) is written once as a *spec builder* decorated with :func:`op`::

    @op
    def relu(input, inplace=False):
        return OpSpec("relu", (input,), {})

The decorator gives it three behaviours, chosen by its arguments:

* an argument is a traced value (``featx._core.Proxy``): a ``call_function``
  node is recorded and a new traced value is returned (torch.fx's
  ``__torch_function__`` path);
* an argument is a :class:`SlotRef` (the plan compiler is lowering a node):
  the :class:`OpSpec` is returned without running, so the plan can run the C
  kernel directly;
* an argument is a :class:`MetaArray` (a shape-only run, see
  :func:`featx.feature_extraction.get_graph_node_info`): the output shape
  comes from the op's C shape inference (``featx._core.infer``), the op's
  multiply-adds are added to the run's :class:`MacCounter`, and a new
  :class:`MetaArray` is returned; no kernel runs;
* otherwise it runs now: the spec's kernel is called through
  ``featx._core.call``, with the GIL released around the kernel.

A spec builder must not inspect its tensor inputs (shapes are checked by the
op's C shape inference); it may instead compute the result itself and
return it, in which case the node is never lowered and always runs through
Python.
"""
from __future__ import annotations

import functools
import math
from typing import Any, Callable, NamedTuple

import numpy as np

from . import _core


class OpSpec(NamedTuple):
    """One C kernel call: op name, inputs (arrays, ``None`` for an absent
    optional input, or :class:`SlotRef`), and the op's attributes."""

    name: str
    inputs: tuple
    attrs: dict


class SlotRef:
    """Stands for the value of graph node ``index`` while a plan is built."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index

    def __repr__(self) -> str:
        return f"SlotRef({self.index})"


class MacCounter:
    """Multiply-adds counted during one shape-only run (a multiply and
    an add count as one, as torchvision's GFLOPS figures do)."""

    __slots__ = ("macs",)

    def __init__(self) -> None:
        self.macs = 0


class MetaArray(np.ndarray):
    """A float array whose values are never computed: zeros with zero
    strides (no memory per element), standing for a value of known shape
    in a shape-only run. featx ops given one compute only their output
    shape and multiply-adds; NumPy element-wise ufuncs (``+``, ``*``, ...)
    only broadcast shapes; other NumPy functions run on the zeros (their
    array results become MetaArrays again in featx ops and between nodes).

    Attributes:
        counter: the :class:`MacCounter` of the run, shared by every
            MetaArray derived from this one.
    """

    counter: MacCounter | None

    def __array_finalize__(self, obj: Any) -> None:
        self.counter = getattr(obj, "counter", None)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any,
                        **kwargs: Any) -> Any:
        out = kwargs.pop("out", None)
        if method != "__call__" or (ufunc.signature is not None
                                    and ufunc is not np.matmul):
            plain = [np.asarray(v) if isinstance(v, MetaArray) else v
                     for v in inputs]
            if out is not None:
                kwargs["out"] = out
            return as_meta(getattr(ufunc, method)(*plain, **kwargs),
                           self.counter)
        shapes = [np.shape(v) for v in inputs]
        if ufunc is np.matmul:
            shape, macs = _matmul(*shapes)
            if self.counter is not None:
                self.counter.macs += macs
        else:
            shape = np.broadcast_shapes(*shapes)
        # the result dtype: the same ufunc on one zero of each input dtype
        core = (1, 1) if ufunc is np.matmul else ()
        one = ufunc(*(np.zeros(core, v.dtype) if isinstance(v, np.ndarray)
                      else v for v in inputs), **kwargs)
        if out is not None:  # in place (x += y): the values stay zeros
            for o in out:
                if o.shape != shape:
                    raise ValueError(
                        f"{ufunc.__name__}: output of shape {o.shape} "
                        f"cannot hold the result of shape {shape}")
            return out[0] if len(out) == 1 else out
        if isinstance(one, tuple):
            return tuple(meta_array(shape, self.counter, o.dtype)
                         for o in one)
        return meta_array(shape, self.counter, np.asarray(one).dtype)


def _matmul(a: tuple, b: tuple) -> tuple[tuple, int]:
    """Output shape and multiply-adds of ``A @ B`` (NumPy's rules)."""
    if not a or not b:
        raise ValueError(
            f"matmul: operands need at least 1 dimension, got shapes {a} "
            f"and {b}")
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b + (1,) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise ValueError(
            f"matmul: shapes {a} and {b} do not fit: {a2[-1]} != "
            f"{b2[-2]} in the contracted dimension")
    batch = np.broadcast_shapes(a2[:-2], b2[:-2])
    shape = batch + a2[-2:-1] * (len(a) > 1) + b2[-1:] * (len(b) > 1)
    return shape, math.prod(batch) * a2[-2] * a2[-1] * b2[-1]


def meta_array(shape: tuple, counter: MacCounter | None,
               dtype: Any = np.float32) -> MetaArray:
    """A read-only :class:`MetaArray` of ``shape`` (zeros, zero strides)
    that counts into ``counter``."""
    m = np.broadcast_to(np.zeros((), dtype), tuple(shape)).view(MetaArray)
    m.counter = counter
    return m


def as_meta(value: Any, counter: MacCounter | None) -> Any:
    """``value`` with every array (also inside tuples and lists) replaced
    by a :class:`MetaArray` of its shape and dtype."""
    if isinstance(value, np.ndarray) and not (
            isinstance(value, MetaArray) and value.counter is counter):
        return meta_array(value.shape, counter, value.dtype)
    if isinstance(value, (tuple, list)):
        items = [as_meta(v, counter) for v in value]
        # a named tuple (max/min/sort's (values, indices)) takes its fields
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    return value


def _macs(name: str, shapes: list, out: tuple) -> int:
    """Multiply-adds of kernel op ``name``: conv2d (weight (OC, C/groups,
    KH, KW)) and linear (weight (OUT, IN)); every other op counts 0."""
    if name in ("conv2d", "linear"):
        return math.prod(out) * math.prod(shapes[1][1:])
    return 0


_SPECIAL = (_core.Proxy, SlotRef, MetaArray)


def _special(args: tuple, kwargs: dict) -> Any:
    """The first traced value, SlotRef or MetaArray among the arguments
    (or inside a list/tuple argument), else None."""
    for a in (*args, *kwargs.values()):
        if isinstance(a, _SPECIAL):
            return a
        if isinstance(a, (list, tuple)):
            for b in a:
                if isinstance(b, _SPECIAL):
                    return b
    return None


def op(spec_fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorates a spec builder into a traceable, eagerly runnable function."""

    @functools.wraps(spec_fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        special = _special(args, kwargs)
        if isinstance(special, _core.Proxy):
            return _core.record_function(wrapper, args, kwargs)
        if isinstance(special, SlotRef):
            return spec_fn(*args, **kwargs)
        spec = spec_fn(*args, **kwargs)
        if isinstance(special, MetaArray):
            counter = special.counter
            if not isinstance(spec, OpSpec):
                return as_meta(spec, counter)
            shapes = [None if v is None else np.shape(v)
                      for v in spec.inputs]
            out = _core.infer(spec.name, shapes, spec.attrs)
            if counter is not None:
                counter.macs += _macs(spec.name, shapes, out)
            return meta_array(out, counter)
        if isinstance(spec, OpSpec):
            return _core.call(spec.name, spec.inputs, spec.attrs)
        return spec

    wrapper.__featx_spec__ = spec_fn  # type: ignore[attr-defined]
    return wrapper


# The activations the conv2d_bn op can apply after its BN affine: op name
# -> its "act" attribute (fx_act in csrc/ops/ops.h).
CONV_BN_ACTS = {"relu": 1, "relu6": 2, "hardswish": 3, "silu": 4}


# The activations the linear op can apply after its bias (its "act"
# codes): CONV_BN_ACTS, and gelu's exact form.
LINEAR_ACTS = {**CONV_BN_ACTS, "gelu": 5}


def linear_act_spec(linear: OpSpec, act: OpSpec) -> OpSpec | None:
    """The one linear call equal to ``linear``, then ``act`` on its output;
    None if ``act`` is no activation linear can apply (the caller checks
    that act reads linear's output, inputs[0], and nothing else does)."""
    if linear.name != "linear" or linear.attrs["act"]:
        return None
    exact_gelu = act.name == "gelu" and act.attrs == {"approximate": 0}
    if act.name not in LINEAR_ACTS or (act.attrs and not exact_gelu):
        return None
    return OpSpec("linear", linear.inputs, {"act": LINEAR_ACTS[act.name]})


# The hidden-layer activations for which linear -> act -> linear becomes
# one mlp call: exact gelu, the MLPs over tokens (ConvNeXt's blocks), whose
# many rows the mlp kernel shares between threads. Classifier heads
# (relu, hardswish) run on one row per image, which its split by rows
# would leave to one thread, so they stay two linear calls.
MLP_ACTS = {"gelu": LINEAR_ACTS["gelu"]}


def mlp_spec(first: OpSpec, second: OpSpec) -> OpSpec | None:
    """The one mlp call equal to ``first`` (a linear call with an
    activation of MLP_ACTS, as linear_act_spec makes it), then the
    activation-free linear ``second`` on its output; None if the calls are
    no such pair (the caller checks that second reads first's output,
    inputs[0], and nothing else does)."""
    if (first.name != "linear" or second.name != "linear"
            or first.attrs["act"] not in MLP_ACTS.values()
            or second.attrs["act"]):
        return None
    x, w1, b1 = (tuple(first.inputs) + (None,))[:3]
    w2, b2 = (tuple(second.inputs[1:]) + (None,))[:2]
    return OpSpec("mlp", (x, w1, w2, b1, b2), {"act": first.attrs["act"]})


def mlp_channels_first_spec(mlp: OpSpec, permute: OpSpec) -> OpSpec | None:
    """The one mlp call equal to ``mlp`` (without channels_first), then
    ``permute`` moving the last dim to dim 1 (NHWC -> NCHW); None if
    ``permute`` is another permutation."""
    dims = tuple(permute.attrs["dims"])
    n = len(dims)
    if (permute.name != "permute" or mlp.attrs.get("channels_first")
            or n < 2 or tuple(d % n for d in dims)
            != (0, n - 1) + tuple(range(1, n - 1))):
        return None
    return OpSpec("mlp", mlp.inputs, dict(mlp.attrs, channels_first=1))


def layer_norm_channels_first_spec(permute: OpSpec,
                                   ln: OpSpec) -> OpSpec | None:
    """The one layer_norm call equal to ``permute`` moving dim 1 last
    (NCHW -> NHWC), then ``ln`` over that last dim on its output; None if
    the calls are no such pair (the caller checks that ln reads permute's
    output, inputs[0], and nothing else does)."""
    dims = tuple(permute.attrs["dims"])
    n = len(dims)
    if (permute.name != "permute" or ln.name != "layer_norm"
            or ln.attrs.get("channels_first") or n < 2
            or ln.attrs["normalized_ndim"] != 1
            or tuple(d % n for d in dims)
            != (0,) + tuple(range(2, n)) + (1,)):
        return None
    return OpSpec("layer_norm", (permute.inputs[0],) + tuple(ln.inputs[1:]),
                  dict(ln.attrs, channels_first=1))


def mlp_scale_spec(mlp: OpSpec, slot: int, ndim: int,
                   mul: OpSpec) -> OpSpec | None:
    """The one mlp call equal to channels-first ``mlp`` (whose ndim-D value
    is in ``slot``), then ``mul`` of that value by a float32 array of shape
    (OUT, 1, .., 1) with ndim - 1 dims, a per-channel scale (ConvNeXt's
    layer_scale; passed by reference); None if ``mul`` is no such product
    or mlp has a scale already."""
    w2, ins = mlp.inputs[2], list(mul.inputs)
    mine = [isinstance(v, int) and v == slot for v in ins]
    if (mul.name != "mul" or len(mlp.inputs) > 5 or len(ins) != 2
            or not mlp.attrs.get("channels_first") or sum(mine) != 1
            or not isinstance(w2, np.ndarray)):
        return None
    scale = ins[1] if mine[0] else ins[0]
    if (not isinstance(scale, np.ndarray) or scale.dtype != np.float32
            or scale.shape != (w2.shape[0],) + (1,) * (ndim - 2)):
        return None
    return OpSpec("mlp", tuple(mlp.inputs) + (scale,), mlp.attrs)


def conv2d_bn_spec(conv: OpSpec, bn: OpSpec,
                   act: OpSpec | None = None) -> OpSpec | None:
    """The one conv2d_bn call equal to ``conv``, then eval-mode ``bn`` on
    its output, then ``act`` (if given) on that; None if the ops are not
    such a chain (the caller checks that each reads the previous one's
    output, inputs[0], and nothing else does)."""
    if (conv.name != "conv2d" or "direct" in conv.attrs
            or bn.name != "batch_norm" or bn.attrs["act"]
            or any(isinstance(v, (int, SlotRef)) for v in bn.inputs[1:])):
        return None
    if act is not None and (act.name not in CONV_BN_ACTS or act.attrs):
        return None
    x, w, b = (tuple(conv.inputs) + (None,) * 3)[:3]
    mean, var, bw, bb = (tuple(bn.inputs[1:]) + (None,) * 4)[:4]
    return OpSpec("conv2d_bn", (x, w, b, mean, var, bw, bb),
                  dict(conv.attrs, eps=bn.attrs["eps"],
                       act=0 if act is None else CONV_BN_ACTS[act.name]))
