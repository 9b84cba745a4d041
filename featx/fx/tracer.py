"""Symbolic tracing of featx modules into a ``featx._core.Graph``.

The tracer runs a model's ``forward`` on traced values (``featx._core.Proxy``)
instead of arrays. Every featx array function, Python operator, method call,
leaf-module call and parameter read on a traced value appends a node to the
graph; the C core names each node as torchvision does (SPEC section 3).

Counterpart: ``torch.fx.Tracer`` with torchvision's ``NodePathTracer`` and
``LeafModuleAwareTracer`` (module-path tracking, leaf modules).
"""
from __future__ import annotations

import dis
import functools
import inspect
import math
import sys
import types
from typing import Any, Callable, Iterable, Iterator

from .. import _core
from . import _context


class TraceError(ValueError):
    """A model does something that needs a concrete value while tracing.

    Raised for ``bool()`` of a traced value (data-dependent ``if``/``while``),
    ``len()``, ``int()``/``float()``, iteration of unknown length and item
    assignment. Mirrors ``torch.fx.proxy.TraceError``. The message names the
    module where it happened and the remedies: ``leaf_modules``,
    ``autowrap_functions`` or ``concrete_args``.
    """


def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Makes ``fn`` a single node when it is called on traced values.

    Use as a decorator on a module-level function whose body cannot be traced
    (it calls ``int()`` on a shape, branches on values, ...). Called on
    arrays it simply runs. Mirrors ``torch.fx.wrap`` (used as a decorator).

    Args:
        fn: any callable.

    Returns:
        A callable with the same name that records one ``call_function``
        node (stem: ``fn.__name__``) whenever an argument is traced.

    Raises:
        TypeError: ``fn`` is not callable, e.g. ``torch.fx.wrap``'s string
            form ``wrap("helper")``, which would otherwise wrap nothing.
    """
    if not callable(fn):
        raise TypeError(
            f"featx.fx.wrap takes the function itself (@featx.fx.wrap on its "
            f"definition, or helper = featx.fx.wrap(helper)), got "
            f"{type(fn).__name__} {fn!r:.60}; torch.fx.wrap's string form "
            f"is not supported")
    if getattr(fn, "__featx_wrapped__", None) is not None:
        return fn

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _has_proxy(args) or _has_proxy(tuple(kwargs.values())):
            return _core.record_function(wrapper, args, kwargs)
        return fn(*args, **kwargs)

    wrapper.__featx_wrapped__ = fn  # type: ignore[attr-defined]
    return wrapper


def _has_proxy(values: Iterable[Any]) -> bool:
    for v in values:
        if isinstance(v, _core.Proxy):
            return True
        if isinstance(v, (list, tuple)) and _has_proxy(v):
            return True
        if isinstance(v, dict) and _has_proxy(tuple(v.values())):
            return True
    return False


def guard(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Marks a wrapped check as a guard: the extractor runs it when its
    inputs are computed anyway, and never keeps work alive just for it."""
    wrapped = wrap(fn)
    wrapped.__featx_guard__ = True  # type: ignore[attr-defined]
    return wrapped


@guard
def _assert(condition: Any, message: str) -> None:
    """Raises AssertionError(message) unless condition holds; a guard node
    when traced (``torch._assert``)."""
    if not condition:
        raise AssertionError(message)


@guard
def _assert_is_none(value: Any, message: str) -> None:
    """Guard recorded for a ``concrete_args`` entry that is ``None``."""
    if value is not None:
        raise AssertionError(message)


def _record_returned(value: Any) -> None:
    """Records every traced value ``forward`` returns (in tuples, lists and
    dict values, in order): a data attribute read such as ``x.shape`` gets
    its node at first use, and being returned is a use, as torch.fx's
    output node makes it."""
    if isinstance(value, _core.Proxy):
        value._fx_index  # noqa: B018 (reading the index records the node)
    elif isinstance(value, (tuple, list)):
        for item in value:
            _record_returned(item)
    elif isinstance(value, dict):
        for item in value.values():
            _record_returned(item)


def _iter_hook(proxy: Any) -> Iterator[Any]:
    """``iter()`` of a traced value: allowed only for tuple unpacking with a
    known count (``n, c, h, w = x.shape``), as in current torch.fx."""
    frame = sys._getframe(1)
    for inst in dis.get_instructions(frame.f_code):
        if inst.offset == frame.f_lasti:
            if inst.opname == "UNPACK_SEQUENCE":
                return iter([proxy[i] for i in range(inst.argval)])
            break
    graph = proxy._fx_graph
    where = f"module '{graph.scope}'" if graph.scope else "the root module"
    raise TraceError(
        f"iteration over a traced value in {where}: its length is not known "
        "while tracing (only tuple unpacking such as 'n, c, h, w = x.shape' "
        "works). Make that module a leaf (tracer_kwargs={'leaf_modules': "
        "[...]}), wrap the function (tracer_kwargs={'autowrap_functions': "
        "[...]}), or fix the argument with concrete_args")


def _in_package(cls: type, package: str) -> bool:
    return cls.__module__ == package or cls.__module__.startswith(package + ".")


def _is_featx_layer(module: Any) -> bool:
    """Leaves by default, as torchvision's tracer decides for torch.nn and
    torchvision.ops: a featx.nn layer whose own class is defined in featx.nn
    (not a container; a subclass defined elsewhere is traced through), and
    an instance of any featx.ops class, subclasses included (torchvision
    lists the torchvision.ops classes as leaf_modules, checked with
    isinstance, e.g. RegNet's SimpleStemIN(Conv2dNormActivation))."""
    from ..nn import ModuleDict, ModuleList, Sequential

    if any(_in_package(cls, "featx.ops") for cls in type(module).__mro__):
        return True
    if not _in_package(type(module), "featx.nn"):
        return False
    return not isinstance(module, (Sequential, ModuleList, ModuleDict))


def _describe(value: Any) -> str:
    """A short description of a value for error messages."""
    if isinstance(value, type):
        return f"the class {value.__name__}"
    return f"a {type(value).__name__} instance"


class Tracer:
    """Records a featx module's ``forward`` into a graph.

    Args:
        leaf_modules: module classes whose instances are recorded as single
            ``call_module`` nodes instead of being traced through (subclasses
            included).
        autowrap_modules: modules whose public functions, when called by
            their bare name from a traced ``forward`` (``from math import
            sqrt``), become single nodes. ``math`` is always included.
        autowrap_functions: functions treated the same way.

    Mirrors torchvision's ``NodePathTracer``: the same constructor keywords
    as ``tracer_kwargs`` of ``create_feature_extractor``.
    """

    def __init__(self, leaf_modules: Iterable[type] = (),
                 autowrap_modules: Iterable[types.ModuleType] = (math,),
                 autowrap_functions: Iterable[Callable[..., Any]] = ()) -> None:
        if isinstance(leaf_modules, type) or not isinstance(
                leaf_modules, (list, tuple, set, frozenset)):
            raise TypeError(
                "tracer_kwargs['leaf_modules'] must be a list of module "
                f"classes, got {_describe(leaf_modules)}")
        self.leaf_modules = tuple(leaf_modules)
        for cls in self.leaf_modules:
            if not isinstance(cls, type):
                raise TypeError(
                    "tracer_kwargs['leaf_modules'] must hold module classes "
                    f"(e.g. [MyBlock]), got {_describe(cls)}")
        for key, value, ok, what in (
                ("autowrap_modules", autowrap_modules,
                 lambda v: isinstance(v, types.ModuleType), "modules (e.g. [math])"),
                ("autowrap_functions", autowrap_functions, callable,
                 "functions (e.g. [my_helper])")):
            if not isinstance(value, (list, tuple, set, frozenset)):
                raise TypeError(f"tracer_kwargs[{key!r}] must be a list of {what}, "
                                f"got {_describe(value)}")
            for item in value:
                if not ok(item):
                    raise TypeError(f"tracer_kwargs[{key!r}] must hold {what}, "
                                    f"got {_describe(item)}")
        modules = list(autowrap_modules)
        if math not in modules:
            modules.append(math)
        self.autowrap_modules = tuple(modules)
        self.autowrap_functions = tuple(autowrap_functions)
        self._wrapped_ids = {
            id(f): f for m in self.autowrap_modules for n, f in vars(m).items()
            if callable(f) and not n.startswith("_")}
        self._wrapped_ids.update((id(f), f) for f in self.autowrap_functions)

    # -- the policy -------------------------------------------------------

    def is_leaf_module(self, module: Any, path: str) -> bool:
        """True if ``module`` (at ``path``) is recorded as one node."""
        if self.leaf_modules and isinstance(module, self.leaf_modules):
            return True
        return _is_featx_layer(module)

    # -- tracing ----------------------------------------------------------

    def trace(self, root: Any, concrete_args: dict[str, Any] | None = None
              ) -> "_core.Graph":
        """Traces ``root.forward`` once, in the module's current mode.

        Returns:
            The ``featx._core.Graph``: nodes in execution order with their
            torchvision names.

        Raises:
            TraceError: the model needs concrete values (see the class).
            TypeError: a ``concrete_args`` key is not a ``forward`` argument.
        """
        self._graph = _core.Graph(trace_error=TraceError, iter_hook=_iter_hook)
        self._paths: dict[int, str] = {}
        for name, m in root.named_modules():
            self._paths.setdefault(id(m), name)
        self._params: dict[int, Any] = {}
        self._patches: list[tuple[dict, str, Any]] = []
        self._patched_globals: set[int] = set()
        args, kwargs = self._placeholders(root, dict(concrete_args or {}))
        token = _context.activate(self)
        try:
            self._autowrap(root.forward)
            _record_returned(root.forward(*args, **kwargs))
        finally:
            _context.deactivate(token)
            self._unpatch()
        self._graph.lint()
        graph, self._graph = self._graph, None
        return graph

    def _placeholders(self, root: Any, concrete: dict[str, Any]
                      ) -> tuple[list[Any], dict[str, Any]]:
        """One placeholder per ``forward`` parameter; returns the positional
        and the keyword-only values to call ``forward`` with."""
        sig = inspect.signature(root.forward)
        unknown = sorted(set(concrete) - set(sig.parameters))
        if unknown:
            raise TypeError(
                f"concrete_args names {unknown}, which are not arguments of "
                f"{type(root).__name__}.forward{sig}")
        values: list[Any] = []
        keywords: dict[str, Any] = {}
        for name, p in sig.parameters.items():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise TraceError(
                    f"{type(root).__name__}.forward takes *{name}; give its "
                    "arguments explicitly or fix them with concrete_args")
            node = self._graph.create_node("placeholder", name, (), {}, name)
            if name not in concrete:
                if p.kind == p.KEYWORD_ONLY:
                    keywords[name] = node
                else:
                    values.append(node)
                continue
            value = concrete[name]
            message = (f"argument {name!r} was fixed to {value!r} by "
                       f"concrete_args when tracing; expected that value at "
                       f"every call")
            if value is None:
                _assert_is_none(node, message)
            elif isinstance(value, (bool, int, float, str)):
                _assert(node == value, message)
            if p.kind == p.KEYWORD_ONLY:
                keywords[name] = value
            else:
                values.append(value)
        return values, keywords

    def call_module(self, module: Any, args: tuple, kwargs: dict) -> Any:
        """Called by ``Module.__call__`` while tracing."""
        path = self._paths.get(id(module))
        if path is None:
            raise NameError(
                f"a {type(module).__name__} module was called in forward but "
                "is not a submodule of the traced model; register it as an "
                "attribute so it has a path")
        graph = self._graph
        outer = graph.scope
        if self.is_leaf_module(module, path):
            graph.scope = path
            try:
                return graph.create_node("call_module", path, tuple(args),
                                         dict(kwargs), path)
            finally:
                graph.scope = outer
        graph.scope = path
        first = len(graph)
        try:
            self._autowrap(module.forward)
            out = module.forward(*args, **kwargs)
        finally:
            graph.scope = outer
        returned = out._fx_index if isinstance(out, _core.Proxy) else -1
        graph.add_module_call(path, first, len(graph) - 1, returned)
        return out

    def get_attr(self, module: Any, name: str, value: Any) -> Any:
        """Called by ``Module.__getattr__`` for a parameter read while
        tracing: one ``get_attr`` node per parameter per trace."""
        proxy = self._params.get(id(value))
        if proxy is None:
            prefix = self._paths.get(id(module), "")
            target = f"{prefix}.{name}" if prefix else name
            proxy = self._graph.create_node("get_attr", target, (), {},
                                            target.replace(".", "_"))
            self._params[id(value)] = proxy
        return proxy

    # -- autowrap ---------------------------------------------------------

    def _autowrap(self, forward: Any) -> None:
        """Patches bare-name references to autowrapped functions in the
        globals of a forward about to be traced (undone after the trace)."""
        fn_globals = getattr(getattr(forward, "__func__", forward),
                             "__globals__", None)
        if fn_globals is None or id(fn_globals) in self._patched_globals:
            return
        self._patched_globals.add(id(fn_globals))
        for name, value in list(fn_globals.items()):
            if id(value) in self._wrapped_ids and not hasattr(
                    value, "__featx_wrapped__"):
                self._patches.append((fn_globals, name, value))
                fn_globals[name] = wrap(value)

    def _unpatch(self) -> None:
        for fn_globals, name, value in reversed(self._patches):
            fn_globals[name] = value
        self._patches = []
        self._patched_globals = set()
