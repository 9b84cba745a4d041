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
* otherwise it runs now: the spec's kernel is called through
  ``featx._core.call``, with the GIL released around the kernel.

A spec builder must not inspect its tensor inputs (shapes are checked by the
op's C shape inference); it may instead compute the result itself and
return it, in which case the node is never lowered and always runs through
Python.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

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


def _has(kind: type, args: tuple, kwargs: dict) -> bool:
    for a in (*args, *kwargs.values()):
        if isinstance(a, kind):
            return True
        if isinstance(a, (list, tuple)) and any(isinstance(b, kind) for b in a):
            return True
    return False


def op(spec_fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorates a spec builder into a traceable, eagerly runnable function."""

    @functools.wraps(spec_fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _has(_core.Proxy, args, kwargs):
            return _core.record_function(wrapper, args, kwargs)
        if _has(SlotRef, args, kwargs):
            return spec_fn(*args, **kwargs)
        spec = spec_fn(*args, **kwargs)
        if isinstance(spec, OpSpec):
            return _core.call(spec.name, spec.inputs, spec.attrs)
        return spec

    wrapper.__featx_spec__ = spec_fn  # type: ignore[attr-defined]
    return wrapper


# The activations the conv2d_bn op can apply after its BN affine: op name
# -> its "act" attribute (fx_act in csrc/ops/ops.h).
CONV_BN_ACTS = {"relu": 1, "relu6": 2, "hardswish": 3, "silu": 4}


def conv2d_bn_spec(conv: OpSpec, bn: OpSpec,
                   act: OpSpec | None = None) -> OpSpec | None:
    """The one conv2d_bn call equal to ``conv``, then eval-mode ``bn`` on
    its output, then ``act`` (if given) on that; None if the ops are not
    such a chain (the caller checks that each reads the previous one's
    output, inputs[0], and nothing else does)."""
    if (conv.name != "conv2d" or bn.name != "batch_norm" or bn.attrs["act"]
            or any(isinstance(v, (int, SlotRef)) for v in bn.inputs[1:])):
        return None
    if act is not None and (act.name not in CONV_BN_ACTS or act.attrs):
        return None
    x, w, b = (tuple(conv.inputs) + (None,) * 3)[:3]
    mean, var, bw, bb = (tuple(bn.inputs[1:]) + (None,) * 4)[:4]
    return OpSpec("conv2d_bn", (x, w, b, mean, var, bw, bb),
                  dict(conv.attrs, eps=bn.attrs["eps"],
                       act=0 if act is None else CONV_BN_ACTS[act.name]))
