"""Containers: ``Sequential``, ``ModuleList``, ``ModuleDict`` (torch.nn)."""
from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Optional, Union

from .module import Module, _addindent

__all__ = ["Sequential", "ModuleList", "ModuleDict"]


def _index(fn: str, idx: int, n: int) -> int:
    idx = operator.index(idx)
    if not -n <= idx < n:
        raise IndexError(f"index {idx} is out of range")
    return idx % n if n else idx


class Sequential(Module):
    """Runs its children in order, feeding each the previous output.

    ``Sequential(m0, m1, ...)`` registers children ``"0"``, ``"1"``, ...;
    ``Sequential(OrderedDict(name=module, ...))`` uses the given names.
    Supports ``len``, iteration, integer/slice indexing (a slice gives a new
    Sequential sharing the modules), item assignment/deletion, ``append``,
    ``extend``, ``insert`` and ``pop`` (``torch.nn.Sequential``).

    Shape:
        Whatever its children do.
    """

    def __init__(self, *args: Any) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for key, module in args[0].items():
                self.add_module(key, module)
        else:
            for idx, module in enumerate(args):
                self.add_module(str(idx), module)

    def __getitem__(self, idx: Union[int, slice]) -> Any:
        if isinstance(idx, slice):
            return self.__class__(OrderedDict(list(self._modules.items())[idx]))
        keys = list(self._modules)
        return self._modules[keys[_index("Sequential", idx, len(keys))]]

    def __setitem__(self, idx: int, module: Module) -> None:
        keys = list(self._modules)
        setattr(self, keys[_index("Sequential", idx, len(keys))], module)

    def __delitem__(self, idx: Union[int, slice]) -> None:
        keys = list(self._modules)
        if isinstance(idx, slice):
            for key in keys[idx]:
                delattr(self, key)
        else:
            delattr(self, keys[_index("Sequential", idx, len(keys))])
        # torch renumbers the remaining children
        items = list(self._modules.items())
        self._modules.clear()
        for i, (_, m) in enumerate(items):
            self._modules[str(i)] = m

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __add__(self, other: "Sequential") -> "Sequential":
        if not isinstance(other, Sequential):
            raise ValueError(
                f"Sequential + x: expected x to be a Sequential, got "
                f"{type(other).__name__}")
        ret = Sequential()
        for m in [*self, *other]:
            ret.append(m)
        return ret

    def append(self, module: Module) -> "Sequential":
        """Adds ``module`` at the end, named ``str(len(self))``."""
        self.add_module(str(len(self)), module)
        return self

    def extend(self, sequential: Iterable[Module]) -> "Sequential":
        """Appends every module of ``sequential``."""
        for m in sequential:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> "Sequential":
        """Inserts ``module`` before position ``index`` and renumbers."""
        if not isinstance(module, Module):
            raise AssertionError(
                f"Sequential.insert: expected a featx.nn.Module, got "
                f"{type(module).__name__}")
        n = len(self._modules)
        if not -n <= index <= n:
            raise IndexError(
                f"Sequential.insert: index expected in [{-n}, {n}] for "
                f"{n} modules, got {index}")
        if index < 0:
            index += n
        mods = list(self._modules.values())
        mods.insert(index, module)
        self._modules.clear()
        for i, m in enumerate(mods):
            self._modules[str(i)] = m
        return self

    def pop(self, key: Union[int, slice]) -> Module:
        """Removes and returns the module at ``key``."""
        v = self[key]
        del self[key]
        return v

    def __dir__(self) -> list:
        return [k for k in super().__dir__() if not k.isdigit()]

    def forward(self, input: Any) -> Any:
        for module in self:
            input = module(input)
        return input


class ModuleList(Module):
    """A list of registered modules (``torch.nn.ModuleList``).

    Children are named ``"0"``, ``"1"``, ...; supports ``len``, iteration,
    indexing (a slice gives a new ModuleList), assignment, deletion (with
    renumbering), ``append``, ``extend``, ``insert``, ``+`` and ``+=``. It
    has no ``forward``.
    """

    def __init__(self, modules: Optional[Iterable[Module]] = None) -> None:
        super().__init__()
        if modules is not None:
            self += modules

    def __getitem__(self, idx: Union[int, slice]) -> Any:
        if isinstance(idx, slice):
            return self.__class__(list(self._modules.values())[idx])
        return self._modules[str(_index("ModuleList", idx,
                                        len(self._modules)))]

    def __setitem__(self, idx: int, module: Module) -> None:
        setattr(self, str(_index("ModuleList", idx, len(self._modules))),
                module)

    def __delitem__(self, idx: Union[int, slice]) -> None:
        if isinstance(idx, slice):
            for k in range(len(self._modules))[idx]:
                delattr(self, str(k))
        else:
            delattr(self, str(_index("ModuleList", idx, len(self._modules))))
        mods = list(self._modules.values())
        self._modules.clear()
        for i, m in enumerate(mods):
            self._modules[str(i)] = m

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __iadd__(self, modules: Iterable[Module]) -> "ModuleList":
        return self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> "ModuleList":
        combined = ModuleList()
        for m in [*self, *other]:
            combined.append(m)
        return combined

    def insert(self, index: int, module: Module) -> None:
        """Inserts ``module`` before position ``index``."""
        mods = list(self._modules.values())
        mods.insert(index, module)
        self._modules.clear()
        for i, m in enumerate(mods):
            self.add_module(str(i), m)

    def append(self, module: Module) -> "ModuleList":
        """Adds ``module`` at the end."""
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> "ModuleList":
        """Appends every module of ``modules``.

        Raises:
            TypeError: ``modules`` is not iterable.
        """
        if not isinstance(modules, Iterable):
            raise TypeError(
                f"ModuleList.extend: expected an iterable of modules, got "
                f"{type(modules).__name__}")
        offset = len(self)
        for i, module in enumerate(modules):
            self.add_module(str(offset + i), module)
        return self

    def pop(self, key: Union[int, slice]) -> Module:
        """Removes and returns the module at ``key``."""
        v = self[key]
        del self[key]
        return v

    def __dir__(self) -> list:
        return [k for k in super().__dir__() if not k.isdigit()]

    def __repr__(self) -> str:
        # torch compresses runs of identical children: "(0-2): 3 x ReLU()"
        reprs = [repr(m) for m in self]
        if not reprs:
            return self._get_name() + "()"
        runs: list = []
        for i, r in enumerate(reprs):
            if runs and runs[-1][2] == r:
                runs[-1][1] = i
            else:
                runs.append([i, i, r])
        lines = []
        for start, end, r in runs:
            head = (f"({start})" if start == end
                    else f"({start}-{end}): {end - start + 1} x")
            sep = ": " if start == end else " "
            lines.append(_addindent(head + sep + r, 2))
        return (self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)")


class ModuleDict(Module):
    """An ordered dict of registered modules (``torch.nn.ModuleDict``).

    Supports ``[]``, ``in``, ``len``, iteration over keys, ``keys``,
    ``values``, ``items``, ``update``, ``pop`` and ``clear``. It has no
    ``forward``.
    """

    def __init__(self, modules: Optional[Mapping[str, Module]] = None
                 ) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def clear(self) -> None:
        """Removes every module."""
        self._modules.clear()

    def pop(self, key: str) -> Module:
        """Removes and returns the module under ``key``."""
        v = self[key]
        del self[key]
        return v

    def keys(self) -> Iterable[str]:
        return self._modules.keys()

    def items(self) -> Iterable[tuple[str, Module]]:
        return self._modules.items()

    def values(self) -> Iterable[Module]:
        return self._modules.values()

    def update(self, modules: Any) -> None:
        """Adds the modules of a mapping or of an iterable of pairs.

        Raises:
            TypeError: ``modules`` is neither.
        """
        if isinstance(modules, Mapping):
            for key, module in modules.items():
                self[key] = module
            return
        if not isinstance(modules, Iterable):
            raise TypeError(
                f"ModuleDict.update: expected a mapping or an iterable of "
                f"(name, module) pairs, got {type(modules).__name__}")
        for j, m in enumerate(modules):
            if not isinstance(m, (list, tuple)) or len(m) != 2:
                raise ValueError(
                    f"ModuleDict.update: item {j} expected a (name, module) "
                    f"pair, got {m!r}")
            self[m[0]] = m[1]



