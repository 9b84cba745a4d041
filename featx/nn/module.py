"""``featx.nn.Module``: the base class of every featx layer and model.

Counterpart of ``torch.nn.Module`` on NumPy float32 arrays: parameters,
buffers and child modules are registered by attribute assignment and found
again by ``named_modules``/``state_dict``/``load_state_dict`` in torch's order
and with torch's rules. There is no autograd, no device and no dtype
conversion (everything is float32 on the CPU).

Two hooks connect a module to the tracer (``featx.fx``): ``__call__`` hands
the call to the active tracer, and reading a parameter attribute while a
trace runs goes through ``tracer.get_attr`` so that it can be recorded.
"""
from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple, NoReturn, Optional, TypeVar

import numpy as np

from .._errors import OpError
from ..fx import _context
from .parameter import Parameter

__all__ = ["Module"]

#: ``dry`` is True while load_state_dict checks a state dict without writing it.
_LOADING = threading.local()

T = TypeVar("T", bound="Module")

#: The devices ``Module.to`` accepts: torch's names of the CPU.
_CPU_DEVICE = re.compile(r"cpu(:\d+)?")


class _IncompatibleKeys(NamedTuple):
    """What ``load_state_dict`` did not match (torch's named tuple)."""

    missing_keys: list
    unexpected_keys: list



def _addindent(s: str, num_spaces: int) -> str:
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    first = lines.pop(0)
    return first + "\n" + "\n".join(num_spaces * " " + line
                                    for line in lines)


def _typename(obj: Any) -> str:
    t = type(obj)
    return t.__name__ if t.__module__ == "builtins" else (
        f"{t.__module__}.{t.__qualname__}")


def _size_arg(owner: str, name: str, value: Any) -> int:
    """A layer's size argument (channels, features, kernel extent) as an int
    >= 0; a bool, float or negative value is refused naming ``owner``'s
    argument ``name``, before NumPy would raise its own message."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{owner} {name}: expected an int >= 0, got "
                        f"{value!r} ({_typename(value)})")
    if value < 0:
        raise ValueError(f"{owner} {name}: expected an int >= 0, got {value}")
    return int(value)


def _before_init(module: Any, kind: str, name: Any) -> AttributeError:
    """The error for a parameter/buffer/submodule set before ``Module.__init__``."""
    return AttributeError(
        f"{type(module).__name__}: {kind} {name!r} set before "
        f"Module.__init__() ran; expected super().__init__() to be called "
        f"first in __init__")


def _wrong_type(kind: str, name: str, value: Any, expected: str) -> TypeError:
    """The error for a value of the wrong type stored as a parameter,
    buffer or submodule."""
    return TypeError(f"{kind} {name!r}: expected {expected} or None, got "
                     f"{_typename(value)}")


def _check_new_name(module: Any, kind: str, name: Any,
                    own: Mapping[str, Any]) -> None:
    """The one check of a name given to ``register_buffer``,
    ``register_parameter`` and ``add_module``.

    Raises:
        TypeError: ``name`` is not a str.
        KeyError: ``name`` is empty, has a dot, or is an attribute of
            ``module`` other than one of ``own`` (its entries of that kind).
    """
    if not isinstance(name, str):
        raise TypeError(f"{kind} name: expected a str, got {_typename(name)}")
    if name == "":
        raise KeyError(f"{kind} name: expected a non-empty string, got ''")
    if "." in name:
        raise KeyError(f"{kind} name {name!r}: expected no '.' (dots "
                       f"separate the levels of state_dict keys)")
    if hasattr(module, name) and name not in own:
        raise KeyError(f"{kind} name {name!r}: {type(module).__name__} "
                       f"already has an attribute of that name; expected a "
                       f"new name")


def _require_attr(fn: str, target: str, mod: Any, name: str,
                  walked: list[str]) -> None:
    """Raises ``AttributeError`` unless ``mod`` (reached from the root by
    ``walked``) has ``name``; the one check of ``get_submodule``,
    ``get_parameter`` and ``get_buffer``."""
    if not hasattr(mod, name):
        where = f"at {'.'.join(walked)!r}" if walked else "(the root)"
        raise AttributeError(
            f"{fn}({target!r}): the {type(mod).__name__} {where} has no "
            f"attribute {name!r}")


def _check_train_mode(mode: Any) -> None:
    """The one check of ``train(mode)``'s argument (``Module`` and feature
    extractors)."""
    if not isinstance(mode, bool):
        raise ValueError(f"train(mode): expected True or False, got "
                         f"{type(mode).__name__} {mode!r}")


def _is_array(value: Any) -> bool:
    return isinstance(value, np.ndarray)


def _name_failing_module(caller: "Module", error: BaseException) -> None:
    """Prefixes a plain ValueError/TypeError raised inside ``caller`` with
    the path of the innermost module it came from, relative to ``caller``
    (each enclosing call redoes it, so the outermost call leaves the full
    path: "in module 'features.5' (MaxPool2d): ..."). Only on the error
    path; subclasses with their own message format are left alone."""
    if type(error) not in (ValueError, TypeError, OpError) \
            or len(error.args) != 1:
        return
    state = error.__dict__.setdefault(
        "_featx_origin", (caller, str(error.args[0])))
    origin, message = state
    # a leaf module run by an extractor is a view that knows its own path
    root = caller.__dict__.get("_featx_path")
    for path, module in caller.named_modules():
        if module is origin:
            if path and root:
                path = f"{root}.{path}"
            if path:
                error.args = (f"in module '{path}' ({type(origin).__name__}): "
                              f"{message}",)
            return


def _no_hooks(module: Any, method: str) -> NotImplementedError:
    return NotImplementedError(
        f"{type(module).__name__}.{method}: featx modules have no hooks. To get the outputs "
        f"of inner modules, use featx.feature_extraction.create_feature_extractor(model, "
        f"return_nodes=[...]) with their names (module paths such as 'layer1' work; "
        f"get_graph_node_names(model) lists them all)")


def _prefix_hint(missing: list, unexpected: list) -> str:
    """A sentence when every missing key is among the unexpected ones under one extra
    first component (a model saved inside a wrapper, such as DataParallel's
    ``module.``), else ''."""
    firsts = {k.split(".", 1)[0] for k in unexpected}
    if not missing or len(firsts) != 1:
        return ""
    prefix = firsts.pop() + "."
    if not set(missing) <= {k[len(prefix):] for k in unexpected}:
        return ""
    return (f"The {len(unexpected)} unexpected keys all start with {prefix!r}, and "
            f"without it they hold every missing key (a model saved inside a wrapper "
            f"such as DataParallel): load {{k.removeprefix({prefix!r}): v for k, v in "
            f"state_dict.items()}}.")


class Module:
    """Base class for featx layers and models (``torch.nn.Module``).

    Subclasses call ``super().__init__()`` first, then assign
    :class:`~featx.nn.Parameter` objects, ndarrays registered with
    :meth:`register_buffer` and child modules as attributes, and define
    ``forward``. Calling the module runs ``forward`` (or, while a trace is
    active, lets the tracer record the call).

    Attributes:
        training: ``True`` in training mode (the default), ``False`` after
            :meth:`eval`.
    """

    training: bool
    _parameters: dict
    _buffers: dict
    _non_persistent_buffers_set: set
    _modules: dict

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args or kwargs:
            raise TypeError(
                f"{type(self).__name__}.__init__() got unexpected arguments "
                f"{args!r} {kwargs!r}")
        setattr_ = object.__setattr__
        setattr_(self, "training", True)
        setattr_(self, "_parameters", {})
        setattr_(self, "_buffers", {})
        setattr_(self, "_non_persistent_buffers_set", set())
        setattr_(self, "_modules", {})

    # ---- calling ---------------------------------------------------------

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Computes the module's output; every subclass defines it."""
        raise NotImplementedError(
            f"{type(self).__name__} has no forward(); expected every "
            f"featx.nn.Module subclass to define forward(...)")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        t = _context.current()
        if t is not None:
            return t.call_module(self, args, kwargs)
        try:
            return self.forward(*args, **kwargs)
        except (ValueError, TypeError) as e:
            _name_failing_module(self, e)
            raise

    # ---- registration ----------------------------------------------------

    def register_buffer(self, name: str, tensor: Optional[np.ndarray],
                        persistent: bool = True) -> None:
        """Registers an array that is state but not a parameter.

        Args:
            name: attribute name, without dots.
            tensor: an ndarray (kept as given, any dtype) or ``None``.
            persistent: whether ``state_dict()`` includes it.

        Raises:
            AttributeError: called before ``Module.__init__``.
            KeyError: bad name, or an attribute of that name exists.
            TypeError: ``tensor`` is neither an ndarray nor ``None``.
        """
        if "_buffers" not in self.__dict__:
            raise _before_init(self, "buffer", name)
        _check_new_name(self, "buffer", name, self._buffers)
        if tensor is not None and not _is_array(tensor):
            raise _wrong_type("buffer", name, tensor, "a numpy.ndarray")
        self._touch()
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def register_parameter(self, name: str,
                           param: Optional[Parameter]) -> None:
        """Registers a :class:`Parameter` (or ``None``) under ``name``.

        Raises:
            AttributeError: called before ``Module.__init__``.
            KeyError: bad name, or an attribute of that name exists.
            TypeError: ``param`` is neither a Parameter nor ``None``.
        """
        if "_parameters" not in self.__dict__:
            raise _before_init(self, "parameter", name)
        _check_new_name(self, "parameter", name, self._parameters)
        if param is not None and not isinstance(param, Parameter):
            raise _wrong_type("parameter", name, param,
                              "a featx.nn.Parameter")
        self._touch()
        self._parameters[name] = param

    def add_module(self, name: str, module: Optional["Module"]) -> None:
        """Registers ``module`` (or ``None``) as the child ``name``.

        Raises:
            TypeError: ``module`` is not a Module, or ``name`` not a str.
            KeyError: bad name, or an attribute of that name exists.
        """
        if not isinstance(module, Module) and module is not None:
            raise _wrong_type("child module", str(name), module,
                              "a featx.nn.Module")
        _check_new_name(self, "child module", name, self._modules)
        self._touch()
        self._modules[name] = module

    register_module = add_module

    # ---- attribute protocol ----------------------------------------------

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        params = d.get("_parameters")
        if params is not None and name in params:
            value = params[name]
            if value is not None:
                t = _context.current()
                if t is not None:
                    return t.get_attr(self, name, value)
            return value
        buffers = d.get("_buffers")
        if buffers is not None and name in buffers:
            return buffers[name]
        modules = d.get("_modules")
        if modules is not None and name in modules:
            return modules[name]
        raise AttributeError(
            f"'{type(self).__name__}' object has no attribute '{name}'")

    def _touch(self) -> None:
        """Bumps the module's version stamp. Feature extractors compare
        stamps before each call and re-plan when a module they use changed
        (a reassigned weight, buffer, submodule or setting)."""
        d = self.__dict__
        d["_version"] = d.get("_version", 0) + 1

    def __setattr__(self, name: str, value: Any) -> None:
        if name != "training":
            self._touch()
        d = self.__dict__

        def remove_from(*containers: Any) -> None:
            for c in containers:
                if name in c:
                    if isinstance(c, dict):
                        del c[name]
                    else:
                        c.discard(name)

        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise _before_init(self, "parameter", name)
            remove_from(d, self._buffers, self._modules,
                        self._non_persistent_buffers_set)
            self.register_parameter(name, value)
            return
        if params is not None and name in params:
            if value is not None:
                raise _wrong_type("parameter", name, value,
                                  "a featx.nn.Parameter")
            self.register_parameter(name, value)
            return
        modules = d.get("_modules")
        if isinstance(value, Module):
            if modules is None:
                raise _before_init(self, "child module", name)
            remove_from(d, self._parameters, self._buffers,
                        self._non_persistent_buffers_set)
            modules[name] = value
            return
        if modules is not None and name in modules:
            if value is not None:
                raise _wrong_type("child module", name, value,
                                  "a featx.nn.Module")
            modules[name] = value
            return
        buffers = d.get("_buffers")
        if buffers is not None and name in buffers:
            if value is not None and not _is_array(value):
                raise _wrong_type("buffer", name, value, "a numpy.ndarray")
            buffers[name] = value
            return
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._touch()
        if name in self._parameters:
            del self._parameters[name]
        elif name in self._buffers:
            del self._buffers[name]
            self._non_persistent_buffers_set.discard(name)
        elif name in self._modules:
            del self._modules[name]
        else:
            object.__delattr__(self, name)

    def __dir__(self) -> list:
        keys = (dir(self.__class__) + list(self.__dict__) +
                list(self._parameters) + list(self._modules) +
                list(self._buffers))
        return sorted(k for k in set(keys) if not k[0].isdigit())

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.__dict__.setdefault("_non_persistent_buffers_set", set())

    # ---- iteration -------------------------------------------------------

    def named_modules(self, memo: Optional[set] = None, prefix: str = "",
                      remove_duplicate: bool = True
                      ) -> Iterator[tuple[str, "Module"]]:
        """Yields ``(dotted_name, module)`` for this module and all below.

        Pre-order, children in registration order. With
        ``remove_duplicate`` a module registered several times is listed
        once, under the first name reached.
        """
        if memo is None:
            memo = set()
        if self in memo:
            return
        if remove_duplicate:
            memo.add(self)
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from module.named_modules(memo, sub, remove_duplicate)

    def modules(self) -> Iterator["Module"]:
        """Yields every module in the tree, this one first, no repeats."""
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        """Yields ``(name, child)`` for direct children, no repeats."""
        memo: set = set()
        for name, module in self._modules.items():
            if module is not None and module not in memo:
                memo.add(module)
                yield name, module

    def children(self) -> Iterator["Module"]:
        """Yields the direct children, no repeats."""
        for _, m in self.named_children():
            yield m

    def _named_members(self, get_members: Callable[["Module"], Any],
                       prefix: str = "", recurse: bool = True,
                       remove_duplicate: bool = True
                       ) -> Iterator[tuple[str, Any]]:
        memo: set = set()
        mods = (self.named_modules(prefix=prefix,
                                   remove_duplicate=remove_duplicate)
                if recurse else [(prefix, self)])
        for module_prefix, module in mods:
            for k, v in get_members(module):
                if v is None or id(v) in memo:
                    continue
                if remove_duplicate:
                    memo.add(id(v))
                yield module_prefix + ("." if module_prefix else "") + k, v

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True
                         ) -> Iterator[tuple[str, Parameter]]:
        """Yields ``(dotted_name, parameter)``; shared ones once."""
        return self._named_members(lambda m: m._parameters.items(), prefix,
                                   recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Yields every parameter once."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True
                      ) -> Iterator[tuple[str, np.ndarray]]:
        """Yields ``(dotted_name, buffer)``, persistent or not."""
        return self._named_members(lambda m: m._buffers.items(), prefix,
                                   recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[np.ndarray]:
        """Yields every buffer once."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> "Module":
        """The module at dotted path ``target`` (``""`` is this module).

        Raises:
            AttributeError: a path component is missing or not a Module.
        """
        if target == "":
            return self
        mod: Module = self
        walked: list[str] = []
        for item in target.split("."):
            _require_attr("get_submodule", target, mod, item, walked)
            mod = getattr(mod, item)
            walked.append(item)
            if not isinstance(mod, Module):
                raise AttributeError(
                    f"get_submodule({target!r}): {'.'.join(walked)!r} is a "
                    f"{_typename(mod)}; expected a featx.nn.Module")
        return mod

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at dotted path ``target`` (``"layer1.0.conv1.weight"``).

        Raises:
            AttributeError: no such module or attribute, or not a Parameter.
        """
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        _require_attr("get_parameter", target, mod, name,
                      module_path.split(".") if module_path else [])
        param = mod._parameters.get(name)
        if not isinstance(param, Parameter):
            raise AttributeError(
                f"get_parameter({target!r}): {name!r} of "
                f"{type(mod).__name__} is a {_typename(getattr(mod, name))}"
                f"; expected a featx.nn.Parameter")
        return param

    def get_buffer(self, target: str) -> np.ndarray:
        """The buffer at dotted path ``target``.

        Raises:
            AttributeError: no such module or attribute, or not a buffer.
        """
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        _require_attr("get_buffer", target, mod, name,
                      module_path.split(".") if module_path else [])
        if name not in mod._buffers:
            raise AttributeError(
                f"get_buffer({target!r}): {name!r} of {type(mod).__name__} "
                f"is a {_typename(getattr(mod, name))}, not one of its "
                f"registered buffers; expected a buffer name")
        return mod._buffers[name]

    # ---- state -----------------------------------------------------------

    def _save_to_state_dict(self, destination: dict, prefix: str,
                            keep_vars: bool) -> None:
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param
        for name, buf in self._buffers.items():
            if buf is not None and (
                    name not in self._non_persistent_buffers_set):
                destination[prefix + name] = buf

    def state_dict(self, *, destination: Optional[dict] = None,
                   prefix: str = "", keep_vars: bool = False
                   ) -> dict[str, np.ndarray]:
        """Maps dotted names to the module's parameters and persistent buffers.

        Order is torch's: a module's own parameters, then its buffers, then
        each child's entries. The values are the module's own arrays (not
        copies), so writing into them changes the model. A child registered
        under two names appears under both.

        Args:
            destination: a dict to fill and return instead of a new one.
            prefix: prepended to every key.
            keep_vars: accepted for torch compatibility (no effect).

        Returns:
            ``OrderedDict`` of name -> ndarray (float32 parameters and
            buffers; ``num_batches_tracked`` is an int64 0-d array).
        """
        if destination is None:
            destination = OrderedDict()
        assert destination is not None
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination=destination,
                                  prefix=prefix + name + ".",
                                  keep_vars=keep_vars)
        return destination

    def _load_from_state_dict(self, state_dict: Mapping[str, Any],
                              prefix: str, missing_keys: list,
                              unexpected_keys: list,
                              error_msgs: list) -> None:
        persistent = {k: v for k, v in self._buffers.items()
                      if k not in self._non_persistent_buffers_set}
        local_state = {k: v for k, v in
                       [*self._parameters.items(), *persistent.items()]
                       if v is not None}
        for name, param in local_state.items():
            key = prefix + name
            if key not in state_dict:
                missing_keys.append(key)
                continue
            value = state_dict[key]
            if isinstance(value, Parameter):
                value = value.view(np.ndarray)
            if not hasattr(value, "shape") or not hasattr(value, "dtype"):
                error_msgs.append(
                    f"{key}: expected an array in the state dict, got "
                    f"{_typename(value)}")
                continue
            value = np.asarray(value)
            if param.ndim == 0 and value.shape == (1,):
                value = value[0]
            if value.shape != param.shape:
                error_msgs.append(
                    f"{key}: the state dict has shape {tuple(value.shape)}, "
                    f"the model expects {tuple(param.shape)}")
                continue
            try:
                if value.dtype.kind not in "biuf":
                    raise TypeError(f"unsupported dtype {value.dtype}")
                if not getattr(_LOADING, "dry", False):
                    param[...] = value
            except Exception as ex:
                error_msgs.append(
                    f"{key}: the state dict's {value.dtype} array of shape "
                    f"{tuple(value.shape)} cannot be copied into the model's "
                    f"{param.dtype} array of shape {tuple(param.shape)}; "
                    f"expected a bool, integer or float array ({ex})")
        for key in state_dict:
            if not key.startswith(prefix):
                continue
            input_name = key[len(prefix):].split(".", 1)
            if len(input_name) > 1:
                if input_name[0] not in self._modules:
                    unexpected_keys.append(key)
            elif input_name[0] not in local_state:
                unexpected_keys.append(key)

    def load_state_dict(self, state_dict: Mapping[str, Any],
                        strict: bool = True,
                        assign: bool = False) -> _IncompatibleKeys:
        """Copies parameters and buffers from ``state_dict`` in place.

        Values are written into the existing arrays (``param[...] = v``,
        converted to the array's dtype), so anything holding a parameter
        sees the new weights. float16/float64/integer arrays are accepted.
        The whole state dict is checked before anything is written: when it
        raises, the module is left exactly as it was (torch has copied the
        entries that fit by then).

        Args:
            state_dict: mapping of dotted name -> array, as ``state_dict()``
                gives (also torchvision's keys, loaded without torch).
            strict: raise if keys are missing or unexpected.
            assign: not supported; must be ``False``.

        Returns:
            ``(missing_keys, unexpected_keys)`` named tuple.

        Raises:
            RuntimeError: a shape mismatch or unusable value (always), or
                missing/unexpected keys when ``strict``; the message lists
                all of them, like torch.
            TypeError: ``state_dict`` is not a mapping.
            NotImplementedError: ``assign=True``.
        """
        if not isinstance(state_dict, Mapping):
            hint = ("; to read a checkpoint file, pass "
                    "featx.hub.load_state_dict_file(path)"
                    if isinstance(state_dict, (str, os.PathLike)) else "")
            raise TypeError(
                f"load_state_dict: expected a mapping of names to arrays "
                f"(e.g. a dict), got {_typename(state_dict)}{hint}")
        bad = [k for k in state_dict if not isinstance(k, str)]
        if bad:
            raise TypeError(
                f"state_dict keys must be str (dotted names such as "
                f"'conv1.weight'), got {bad[0]!r} ({type(bad[0]).__name__})")
        if assign:
            raise NotImplementedError(
                "load_state_dict(assign=True) is not supported; featx always "
                "copies in place")
        missing: list = []
        unexpected: list = []
        errors: list = []

        def load(module: Module, local: Mapping[str, Any],
                 prefix: str) -> None:
            module._load_from_state_dict(local, prefix, missing, unexpected,
                                         errors)
            for name, child in module._modules.items():
                if child is not None:
                    child_prefix = prefix + name + "."
                    child_local = {k: v for k, v in local.items()
                                   if k.startswith(child_prefix)}
                    load(child, child_local, child_prefix)

        def check() -> None:
            if strict:
                if unexpected:
                    errors.insert(0, (
                        f"{len(unexpected)} unexpected (in the state dict, "
                        f"not in the model): "
                        + ", ".join(repr(k) for k in unexpected)))
                if missing:
                    errors.insert(0, (
                        f"{len(missing)} missing (in the model, not in the "
                        f"state dict): " + ", ".join(repr(k) for k in missing)))
                hint = _prefix_hint(missing, unexpected)
                if hint:
                    errors.insert(0, hint)
            if errors:
                raise RuntimeError(
                    f"{type(self).__name__}.load_state_dict: the state dict "
                    f"does not fit (nothing was loaded):\n  "
                    + "\n  ".join(errors))

        # First every check, writing nothing, so a bad state dict never
        # leaves the module half loaded; then the copy.
        was_dry = getattr(_LOADING, "dry", False)
        _LOADING.dry = True
        try:
            load(self, state_dict, "")
        finally:
            _LOADING.dry = was_dry
        check()
        missing.clear()
        unexpected.clear()
        load(self, state_dict, "")
        check()
        return _IncompatibleKeys(missing, unexpected)

    # ---- modes and utilities ---------------------------------------------

    def train(self: T, mode: bool = True) -> T:
        """Sets ``training`` on this module and every descendant.

        Raises:
            ValueError: ``mode`` is not a bool (as torch).
        """
        _check_train_mode(mode)
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self: T) -> T:
        """Same as ``train(False)``."""
        return self.train(False)

    def apply(self: T, fn: Callable[["Module"], Any]) -> T:
        """Calls ``fn`` on every child (recursively), then on this module."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def to(self: T, *args: Any, **kwargs: Any) -> T:
        """Accepts ``to("cpu")``, ``to(np.float32)``, ``to(device="cpu",
        dtype="float32")`` for torch compatibility and returns ``self``.

        Raises:
            NotImplementedError: any other device or dtype (featx runs
                float32 on the CPU only).
        """
        for value in (*args, *kwargs.values()):
            if value is None or isinstance(value, bool):
                continue
            if isinstance(value, str) and (
                    value in ("float32", "float") or _CPU_DEVICE.fullmatch(value)):
                continue
            try:
                if np.dtype(value) == np.float32:
                    continue
            except TypeError:
                pass
            shown = (f"{value.__module__}.{value.__qualname__}"
                     if isinstance(value, type) else repr(value))
            raise self._unsupported(f"to({shown})")
        return self

    def _unsupported(self, call: str) -> NotImplementedError:
        """The error of every device or dtype change featx cannot make."""
        return NotImplementedError(
            f"{type(self).__name__}.{call}: featx runs float32 on the CPU only; "
            f"what it accepts (returning the module unchanged) is .to('cpu'), "
            f".to(np.float32), .cpu() and .float()")

    def cpu(self: T) -> T:
        """Returns ``self``; featx always runs on the CPU."""
        return self

    def float(self: T) -> T:
        """Returns ``self``; featx parameters are always float32."""
        return self

    def half(self) -> NoReturn:
        """Raises ``NotImplementedError``: featx has float32 kernels only."""
        raise self._unsupported("half()")

    def bfloat16(self) -> NoReturn:
        """Raises ``NotImplementedError``: featx has float32 kernels only."""
        raise self._unsupported("bfloat16()")

    def double(self) -> NoReturn:
        """Raises ``NotImplementedError``: featx has float32 kernels only."""
        raise self._unsupported("double()")

    def cuda(self, device: Any = None) -> NoReturn:
        """Raises ``NotImplementedError``: featx runs on the CPU only."""
        raise self._unsupported("cuda()" if device is None else f"cuda({device!r})")

    def requires_grad_(self: T, requires_grad: bool = True) -> T:
        """Accepted for torch compatibility; featx has no autograd."""
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Accepted for torch compatibility; featx has no autograd."""

    def register_forward_hook(self, hook: Any, *args: Any, **kwargs: Any) -> NoReturn:
        """Raises ``NotImplementedError``: featx modules have no hooks; an extractor
        (``create_feature_extractor``) returns what a forward hook would capture."""
        raise _no_hooks(self, "register_forward_hook")

    def register_forward_pre_hook(self, hook: Any, *args: Any, **kwargs: Any) -> NoReturn:
        """Raises ``NotImplementedError``: featx modules have no hooks."""
        raise _no_hooks(self, "register_forward_pre_hook")

    def extra_repr(self) -> str:
        """One-line description of the module's settings for ``repr``."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({key}): " + _addindent(repr(module), 2)
                       for key, module in self._modules.items()]
        lines = extra_lines + child_lines
        main = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                main += extra_lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"
