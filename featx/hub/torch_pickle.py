"""Read ``torch.save`` checkpoint files without torch (``torch.load`` with
``weights_only=True``, minus torch).

Two on-disk formats are understood:

* **zip** (what ``torch.save`` writes since torch 1.6): a stored (uncompressed)
  zip archive whose records share one top-level folder ``<prefix>/``:
  ``data.pkl`` (the object pickle), ``data/<key>`` (one raw storage per key),
  ``byteorder`` (``little`` or ``big``; absent means little) and version
  records, which are ignored.
* **legacy** (``_use_new_zipfile_serialization=False``): five pickles in a row
  (magic number, protocol version 1001, a sys-info dict with
  ``little_endian``, the object pickle, the list of storage keys) followed,
  for each key in that order, by an 8-byte element count and the storage's
  raw bytes.

In both, a tensor is pickled as a call of ``torch._utils._rebuild_tensor_v2``
(or ``_rebuild_tensor``/``_rebuild_tensor_v3``) on a storage reference (a
pickle *persistent id* ``('storage', storage_type, key, location, numel)``),
an element offset, a size and an element stride. Parameters wrap a tensor in
``torch._utils._rebuild_parameter``.

Safety: the pickles are read by :class:`_RestrictedUnpickler`, whose
``find_class`` returns only featx's own stand-ins for the few torch rebuild
functions, storage types and dtypes, plus ``collections.OrderedDict`` and a
handful of harmless builtins. Any other global (``os.system``, a model class,
``builtins.eval``, ``getattr``, ...) raises :class:`UnsafeCheckpointError`
the moment the pickle names it, before anything it asks for can run. The
stand-ins are sealed, so a pickle cannot alter them for later loads (BUILD).
Torch is never imported.

Tensors are first recorded as placeholders while unpickling; only after the
whole pickle has loaded are storages read, one at a time, straight from the
file into a fresh buffer (``readinto`` at the record's offset; zip records
are CRC-32 checked), each tensor is checked against its storage's size, then
copied out with
``np.lib.stride_tricks.as_strided``. A tensor that is the only user of a
storage and covers it exactly, contiguously, takes the buffer itself without
a copy. Peak memory is therefore about the size of the result plus the
largest single storage.

dtypes: float32, float64, float16, bfloat16, complex64, complex128, int64,
int32, int16, int8, uint8, uint16, uint32, uint64 and bool come back as the
same NumPy dtype, except **bfloat16, which comes back as float32** (NumPy has
no bfloat16; the widening is exact). Arrays are always native byte order and
C-contiguous.
"""
from __future__ import annotations

import collections
import io
import math
import os
import pickle
import re
import pickletools
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, cast

import numpy as np

__all__ = ["CheckpointFormatError", "UnsafeCheckpointError", "is_torch_zip",
           "load"]

#: First pickle of a legacy (non-zip) torch file.
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
#: Second pickle of a legacy torch file.
LEGACY_PROTOCOL = 1001

_MAX_NDIM = 64
# A tensor can hold more elements than its storage only through zero or
# overlapping strides (``expand``). Such a tensor is copied out in full, so
# a tiny file could ask for terabytes: refuse one larger than this many
# times its storage (and larger than _EXPANSION_FLOOR bytes).
_MAX_EXPANSION = 64
_EXPANSION_FLOOR = 1 << 26


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint's pickle names a global featx does not allow.

    Raised before the global is called, so nothing the pickle asks for has
    run. Torch's counterpart is the ``UnpicklingError`` from
    ``torch.load(..., weights_only=True)``.
    """


class CheckpointFormatError(ValueError):
    """A checkpoint file is truncated, corrupted or not in a supported format.

    The message names the file and what was wrong. Nothing is returned from a
    file that raised it (never a partial dict).
    """


class _Corrupt(Exception):
    """Internal: a format problem; re-raised as CheckpointFormatError with the
    file name."""


# --------------------------------------------------------------------------
# dtypes and storage types


class _Sealed:
    """Base of the stand-ins :meth:`_RestrictedUnpickler.find_class` hands
    out. They are shared by every load, so a pickle must not change them
    (pickle's BUILD opcode sets state or attributes on any object)."""

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        raise _Corrupt(f"pickle tries to modify {self!r}")

    def __delattr__(self, name: str) -> None:
        raise _Corrupt(f"pickle tries to modify {self!r}")

    def __setstate__(self, state: Any) -> None:
        raise _Corrupt(f"pickle tries to modify {self!r}")


class _DType(_Sealed):
    """A torch dtype: ``code`` is the NumPy type code of its bytes on disk
    (without byte order); bfloat16 is read as ``u2`` and widened."""

    __slots__ = ("code", "itemsize", "name")
    name: str
    code: str
    itemsize: int

    def __init__(self, name: str, code: str) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "code", code)
        object.__setattr__(self, "itemsize", np.dtype(code).itemsize)

    def __repr__(self) -> str:
        return f"torch.{self.name}"


_DTYPES = {d.name: d for d in (
    _DType("float32", "f4"), _DType("float64", "f8"), _DType("float16", "f2"),
    _DType("bfloat16", "u2"), _DType("complex64", "c8"),
    _DType("complex128", "c16"), _DType("int64", "i8"), _DType("int32", "i4"),
    _DType("int16", "i2"), _DType("int8", "i1"), _DType("uint8", "u1"),
    _DType("uint16", "u2"), _DType("uint32", "u4"), _DType("uint64", "u8"),
    _DType("bool", "b1"))}

# torch's aliases for the same dtypes (torch.float is torch.float32, ...).
_DTYPE_ALIASES = {"float": "float32", "double": "float64", "half": "float16",
                  "cfloat": "complex64", "cdouble": "complex128",
                  "long": "int64", "int": "int32", "short": "int16"}

# Legacy typed storage classes, ``torch.<Name>Storage``.
_STORAGE_DTYPES = {
    "FloatStorage": "float32", "DoubleStorage": "float64",
    "HalfStorage": "float16", "BFloat16Storage": "bfloat16",
    "ComplexFloatStorage": "complex64", "ComplexDoubleStorage": "complex128",
    "LongStorage": "int64", "IntStorage": "int32", "ShortStorage": "int16",
    "CharStorage": "int8", "ByteStorage": "uint8", "BoolStorage": "bool"}


class _StorageType(_Sealed):
    """Stand-in for a torch storage class named by a pickle. ``dtype`` is
    uint8 for ``UntypedStorage``, whose persistent id counts bytes."""

    __slots__ = ("dtype", "name")
    name: str
    dtype: _DType

    def __init__(self, name: str, dtype: _DType) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "dtype", dtype)

    def __repr__(self) -> str:
        return f"torch.{self.name}"


class _Function(_Sealed):
    """Stand-in for an allowed torch function: calls featx's own ``fn``."""

    __slots__ = ("fn",)
    fn: Callable[..., Any]

    def __init__(self, fn: Callable[..., Any]) -> None:
        object.__setattr__(self, "fn", fn)

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args)

    def __repr__(self) -> str:
        return f"<featx stand-in {self.fn.__name__}>"


@dataclass
class _StorageRef:
    """A storage named by a persistent id: ``key`` is the zip record
    ``data/<key>`` or the legacy key; ``nbytes`` its declared size. Legacy
    views address ``root`` at byte offset ``root_offset``."""

    key: str
    dtype: _DType
    nbytes: int
    root: str
    root_offset: int = 0

    def __setstate__(self, state: Any) -> None:
        raise _Corrupt("pickle tries to set state on a storage")


@dataclass(eq=False)
class _TensorRef:
    """A tensor waiting for its storage: offset and strides in elements."""

    storage: _StorageRef
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: _DType

    def __setstate__(self, state: Any) -> None:
        raise _Corrupt("pickle tries to set state on a tensor")


# --------------------------------------------------------------------------
# the allowed globals


def _int_tuple(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)) or len(value) > _MAX_NDIM:
        raise _Corrupt(f"tensor {what} must be a tuple of at most "
                       f"{_MAX_NDIM} ints, got {value!r:.80}")
    for v in value:
        if type(v) is not int or v < 0:
            raise _Corrupt(f"tensor {what} must hold non-negative ints, "
                           f"got {value!r:.80}")
    return tuple(value)


def _make_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any,
                 dtype: _DType) -> _TensorRef:
    if not isinstance(storage, _StorageRef):
        raise _Corrupt(f"tensor rebuilt from a {type(storage).__name__}, "
                       f"not a storage")
    if type(storage_offset) is not int or storage_offset < 0:
        raise _Corrupt(f"tensor storage offset must be a non-negative int, "
                       f"got {storage_offset!r:.80}")
    size_t = _int_tuple(size, "size")
    stride_t = _int_tuple(stride, "stride")
    if len(size_t) != len(stride_t):
        raise _Corrupt(f"tensor size {size_t} and stride {stride_t} differ "
                       f"in length")
    return _TensorRef(storage, storage_offset, size_t, stride_t, dtype)


def _rebuild_tensor(storage: Any, storage_offset: Any, size: Any,
                    stride: Any) -> _TensorRef:
    """Stand-in for ``torch._utils._rebuild_tensor``."""
    dtype = getattr(storage, "dtype", None)
    if not isinstance(dtype, _DType):
        raise _Corrupt("tensor rebuilt from something that is not a storage")
    return _make_tensor(storage, storage_offset, size, stride, dtype)


def _rebuild_tensor_v2(storage: Any, storage_offset: Any, size: Any,
                       stride: Any, requires_grad: Any = False,
                       backward_hooks: Any = None,
                       metadata: Any = None) -> _TensorRef:
    """Stand-in for ``torch._utils._rebuild_tensor_v2`` (dtype from the
    storage type); autograd flags, hooks and metadata are dropped."""
    return _rebuild_tensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v3(storage: Any, storage_offset: Any, size: Any,
                       stride: Any, requires_grad: Any, backward_hooks: Any,
                       dtype: Any, metadata: Any = None) -> _TensorRef:
    """Stand-in for ``torch._utils._rebuild_tensor_v3`` (explicit dtype, used
    by torch for dtypes without a typed storage class, e.g. uint16)."""
    if not isinstance(dtype, _DType):
        raise _Corrupt(f"_rebuild_tensor_v3 needs a torch dtype, got "
                       f"{dtype!r:.80}")
    return _make_tensor(storage, storage_offset, size, stride, dtype)


def _rebuild_parameter(data: Any, requires_grad: Any = False,
                       backward_hooks: Any = None,
                       state: Any = None) -> _TensorRef:
    """Stand-in for ``torch._utils._rebuild_parameter`` (and
    ``_rebuild_parameter_with_state``): a parameter is its tensor."""
    if not isinstance(data, _TensorRef):
        raise _Corrupt(f"parameter rebuilt from a {type(data).__name__}, "
                       f"not a tensor")
    return data


def _codecs_encode(obj: Any, encoding: str = "utf-8") -> bytes:
    """Stand-in for ``_codecs.encode``, which protocol-2 pickles use for
    ``bytes``; only text encodings of a ``str`` are allowed."""
    if not isinstance(obj, str) or encoding not in ("latin1", "latin-1",
                                                    "utf-8", "utf8"):
        raise _Corrupt(f"_codecs.encode allowed only on str with latin1 or "
                       f"utf-8, got {type(obj).__name__}/{encoding!r:.40}")
    return obj.encode(encoding)


def _allowed_globals() -> dict[tuple[str, str], Any]:
    allowed: dict[tuple[str, str], Any] = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch", "Size"): tuple,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "complex"): complex,
        ("_codecs", "encode"): _Function(_codecs_encode),
    }
    for name, fn in (("_rebuild_tensor", _rebuild_tensor),
                     ("_rebuild_tensor_v2", _rebuild_tensor_v2),
                     ("_rebuild_tensor_v3", _rebuild_tensor_v3),
                     ("_rebuild_parameter", _rebuild_parameter),
                     ("_rebuild_parameter_with_state", _rebuild_parameter)):
        allowed[("torch._utils", name)] = _Function(fn)
    untyped = _StorageType("UntypedStorage", _DTYPES["uint8"])
    allowed[("torch", "UntypedStorage")] = untyped
    allowed[("torch.storage", "UntypedStorage")] = untyped
    for name, dt in _STORAGE_DTYPES.items():
        st = _StorageType(name, _DTYPES[dt])
        allowed[("torch", name)] = st
        allowed[("torch.cuda", name)] = st  # legacy CUDA saves; same bytes
    for dname, dtype in _DTYPES.items():
        allowed[("torch", dname)] = dtype
    for alias, dname in _DTYPE_ALIASES.items():
        allowed[("torch", alias)] = _DTYPES[dname]
    return allowed


_ALLOWED = _allowed_globals()


# torch dtypes featx has no NumPy counterpart for (float8, quantized, bit and
# sub-byte integer dtypes, complex32), named as torch.<name>.
_UNREAD_DTYPE = re.compile(
    r"float8_\w+|float4_\w+|q?u?int\d+x\d+|qu?int\d+|bits\w+|u?int[1-7]|"
    r"complex32|chalf")


def _refusal(module: str, name: str) -> str:
    """Why :class:`_RestrictedUnpickler` refuses the global ``module.name``:
    a tensor featx cannot read (a dtype, or a quantized / sparse / other
    non-dense tensor), else any other global."""
    if (module == "torch" and isinstance(name, str)
            and _UNREAD_DTYPE.fullmatch(name)):
        return (f"refusing global {module}.{name}: the checkpoint holds "
                f"tensors of dtype {name}, which featx cannot read; expected "
                f"one of {', '.join(_DTYPES)}: re-save the state dict with "
                f"float tensors ({{k: v.float() for k, v in sd.items()}})")
    if module == "torch._utils" and str(name).startswith("_rebuild_"):
        return (f"refusing global {module}.{name}: the checkpoint holds a "
                f"kind of tensor featx cannot read ({name[9:]}); expected "
                f"dense CPU tensors: re-save them as such (v.dequantize(), "
                f"v.to_dense(), v.cpu())")
    return (f"refusing global {module}.{name}: featx loads only tensors and "
            f"plain containers (dict, list, tuple, OrderedDict, numbers, "
            f"strings) and never runs code named by a checkpoint; if this is "
            f"a whole pickled model, re-save it with "
            f"torch.save(model.state_dict(), path)")


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only :data:`_ALLOWED` globals and
    ``('storage', ...)`` persistent ids; records the storages it meets."""

    def __init__(self, file: IO[bytes], storages: dict[str, _StorageRef],
                 legacy: bool) -> None:
        super().__init__(file, encoding="utf-8")  # as torch.load
        self._storages = storages
        self._legacy = legacy

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except (KeyError, TypeError):
            pass
        raise UnsafeCheckpointError(_refusal(module, name))

    def persistent_load(self, pid: Any) -> Any:
        n = 6 if self._legacy else 5
        if (not isinstance(pid, tuple) or len(pid) != n
                or pid[0] != "storage"):
            raise UnsafeCheckpointError(
                f"refusing persistent id {pid!r:.80}: only ('storage', ...) "
                f"tuples of length {n} are allowed")
        _, stype, key, _location, numel = pid[:5]
        if not isinstance(stype, _StorageType):
            raise _Corrupt(f"storage type {stype!r:.80} is not a torch "
                           f"storage class")
        if not isinstance(key, str) or type(numel) is not int or numel < 0:
            raise _Corrupt(f"bad storage key/size {key!r:.40}/{numel!r:.40}")
        root = self._register(key, stype.dtype, numel * stype.dtype.itemsize)
        view = pid[5] if self._legacy else None
        if view is None:
            return root
        # Legacy storage views: (view_key, element offset, element count).
        if (not isinstance(view, tuple) or len(view) != 3
                or not isinstance(view[0], str)
                or any(type(v) is not int or v < 0 for v in view[1:])):
            raise _Corrupt(f"bad storage view metadata {view!r:.80}")
        isz = stype.dtype.itemsize
        if (view[1] + view[2]) * isz > root.nbytes:
            raise _Corrupt(f"storage view {view[0]!r} runs past the end of "
                           f"storage {key!r}")
        return self._register(view[0], stype.dtype, view[2] * isz, root=key,
                              root_offset=view[1] * isz)

    def _register(self, key: str, dtype: _DType, nbytes: int,
                  root: str | None = None,
                  root_offset: int = 0) -> _StorageRef:
        ref = _StorageRef(key, dtype, nbytes, root or key, root_offset)
        old = self._storages.setdefault(key, ref)
        if old != ref:
            raise _Corrupt(f"storage {key!r} is declared twice, as {old} "
                           f"and as {ref}")
        return old


def _unpickle(file: IO[bytes], storages: dict[str, _StorageRef],
              legacy: bool, what: str) -> Any:
    # The C unpickler allocates a BYTEARRAY8 buffer of the length the file
    # claims before reading it, and CPython 3.11's bytearray constructor,
    # when that allocation fails, frees an object whose export count was
    # never set: a "SystemError: deallocated bytearray object has exported
    # buffers" line on stderr besides the MemoryError. pickletools' reader
    # checks every counted length against the bytes present first (reads
    # capped at the end of the file, so a huge length allocates nothing).
    start = file.tell()
    left = file.seek(0, io.SEEK_END) - start
    file.seek(start)

    class Capped:
        def read(self, n: int) -> bytes:
            nonlocal left
            data = file.read(min(n, left))
            left -= len(data)
            return data

        def readline(self) -> bytes:
            nonlocal left
            data = file.readline()
            left -= len(data)
            return data

    try:
        for _ in pickletools.genops(cast(IO[bytes], Capped())):
            pass
    except Exception as exc:  # noqa: BLE001  any malformed pickle
        raise _Corrupt(f"{what} is not a valid pickle "
                       f"({type(exc).__name__}: {exc})") from None
    file.seek(start)
    try:
        return _RestrictedUnpickler(file, storages, legacy).load()
    except (UnsafeCheckpointError, _Corrupt):
        raise
    except RecursionError:
        raise _Corrupt(f"{what} nests too deeply") from None
    except Exception as exc:  # noqa: BLE001  any malformed pickle; nothing ran
        raise _Corrupt(f"{what} is not a valid pickle "
                       f"({type(exc).__name__}: {exc})") from None


# --------------------------------------------------------------------------
# walking the unpickled object


def _collect(obj: Any, path: str, found: dict[int, tuple[str, _TensorRef]],
             seen: set[int]) -> None:
    if isinstance(obj, _TensorRef):
        found.setdefault(id(obj), (path or "<root>", obj))
        return
    if isinstance(obj, (_StorageRef, _StorageType, _DType)):
        return
    if id(obj) in seen:
        return
    if isinstance(obj, dict):
        seen.add(id(obj))
        for k, v in obj.items():
            _collect(v, f"{path}.{k}" if path else str(k), found, seen)
    elif isinstance(obj, (list, tuple)):
        seen.add(id(obj))
        for i, v in enumerate(obj):
            _collect(v, f"{path}[{i}]", found, seen)
    elif isinstance(obj, (set, frozenset)) and any(
            isinstance(v, _TensorRef) for v in obj):
        raise _Corrupt("a set holds tensors")


def _replace(obj: Any, arrays: dict[int, np.ndarray],
             memo: dict[int, Any]) -> Any:
    if isinstance(obj, _TensorRef):
        return arrays[id(obj)]
    if isinstance(obj, (_StorageRef, _StorageType, _DType)):
        raise _Corrupt(f"a bare {type(obj).__name__.lstrip('_')} outside a "
                       f"tensor is not supported")
    if id(obj) in memo:
        return memo[id(obj)]
    if isinstance(obj, dict):  # OrderedDict too: becomes a plain dict
        out: Any = {}
        memo[id(obj)] = out
        for k, v in obj.items():
            out[k] = _replace(v, arrays, memo)
        return out
    if isinstance(obj, list):
        out = []
        memo[id(obj)] = out
        out.extend(_replace(v, arrays, memo) for v in obj)
        return out
    if isinstance(obj, tuple):
        out = tuple(_replace(v, arrays, memo) for v in obj)
        memo[id(obj)] = out
        return out
    return obj


# --------------------------------------------------------------------------
# storages -> arrays


def _read_exact(f: IO[bytes], offset: int, nbytes: int,
                what: str) -> np.ndarray:
    buf = np.empty(nbytes, np.uint8)
    f.seek(offset)
    got = f.readinto(buf.data)  # type: ignore[attr-defined]
    if got != nbytes:
        raise _Corrupt(f"{what} is truncated: needs {nbytes} bytes at offset "
                       f"{offset}, file has {max(got or 0, 0)}")
    return buf


def _tensor_from_buffer(name: str, t: _TensorRef, buf: np.ndarray,
                        big_endian: bool, sole_user: bool) -> np.ndarray:
    st = t.storage
    isz = t.dtype.itemsize
    nelem = st.nbytes // isz
    file_dtype = np.dtype(t.dtype.code).newbyteorder(
        ">" if big_endian else "<")
    desc = (f"tensor {name!r} (size {list(t.size)}, stride "
            f"{list(t.stride)}, offset {t.offset}, {t.dtype.name})")
    numel = math.prod(t.size)
    if 0 in t.size:
        if any(n > 2**40 for n in t.size):
            raise _Corrupt(f"{desc} has an absurd size")
        out = np.empty(t.size, file_dtype)
    else:
        last = t.offset + sum((n - 1) * s for n, s in zip(t.size, t.stride))
        if last >= nelem:
            raise _Corrupt(f"{desc} reads element {last} but storage "
                           f"{st.key!r} holds only {nelem}")
        if numel * isz > max(_MAX_EXPANSION * st.nbytes, _EXPANSION_FLOOR):
            raise _Corrupt(f"{desc} would expand its {st.nbytes}-byte "
                           f"storage to {numel * isz} bytes")
        contiguous = t.offset == 0 and t.stride == tuple(
            math.prod(t.size[i + 1:]) for i in range(len(t.size)))
        if (sole_user and contiguous and st.root_offset == 0
                and numel * isz == buf.size):
            out = buf.view(file_dtype).reshape(t.size)  # takes the buffer
        else:
            region = buf[st.root_offset:st.root_offset + nelem * isz]
            typed = region.view(file_dtype)[t.offset:]
            # A size-1 dim may carry any stride; it is never stepped.
            strides = [0 if n == 1 else s * isz
                       for n, s in zip(t.size, t.stride)]
            view = np.lib.stride_tricks.as_strided(
                typed, shape=t.size, strides=strides, writeable=False)
            out = view.copy(order="C")
    if t.dtype.name == "bfloat16":
        # bfloat16 is the top half of a float32: widen exactly.
        return (out.astype(np.uint32) << 16).view(np.float32)
    if big_endian and out.dtype.itemsize > 1:
        out = out.byteswap().view(out.dtype.newbyteorder("="))
    return out.astype(out.dtype.newbyteorder("="), copy=False)


def _materialize(obj: Any, storages: dict[str, _StorageRef],
                 read_root: Callable[[str, int], np.ndarray],
                 big_endian: bool) -> Any:
    """Reads each root storage once (``read_root(key, nbytes)``), copies its
    tensors out and drops it before the next one."""
    found: dict[int, tuple[str, _TensorRef]] = {}
    try:
        _collect(obj, "", found, set())
    except RecursionError:
        raise _Corrupt("the checkpoint object nests too deeply") from None
    by_root: dict[str, list[tuple[str, _TensorRef]]] = {}
    for name, t in found.values():
        by_root.setdefault(t.storage.root, []).append((name, t))
    arrays: dict[int, np.ndarray] = {}
    for root, tensors in by_root.items():
        buf = read_root(root, storages[root].nbytes)
        for name, t in tensors:
            arrays[id(t)] = _tensor_from_buffer(
                name, t, buf, big_endian, sole_user=len(tensors) == 1)
        del buf
    try:
        return _replace(obj, arrays, {})
    except RecursionError:
        raise _Corrupt("the checkpoint object nests too deeply") from None


# --------------------------------------------------------------------------
# zip format


def is_torch_zip(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a zip archive holding a ``<prefix>/data.pkl``.

    Args:
        path: file to test.

    Returns:
        True for torch's zip checkpoint format (not for ``.npz``).
    """
    try:
        with zipfile.ZipFile(path) as zf:
            return any(_is_data_pkl(n) for n in zf.namelist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError,
            NotImplementedError):
        return False


def _is_data_pkl(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and parts[1] == "data.pkl" and parts[0] != ""


def _load_zip(f: IO[bytes], file_size: int) -> Any:
    try:
        zf = zipfile.ZipFile(f)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError,
            NotImplementedError) as exc:
        raise _Corrupt(f"not a valid zip archive, truncated or corrupted "
                       f"({exc})") from None
    with zf:
        pkls = [n for n in zf.namelist() if _is_data_pkl(n)]
        if len(pkls) != 1:
            raise _Corrupt(f"expected one '<prefix>/data.pkl' record, found "
                           f"{len(pkls)}: not a torch checkpoint")
        prefix = pkls[0][:-len("data.pkl")]

        def read_record(name: str) -> bytes:
            try:
                return zf.read(name)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError,
                    zlib.error, NotImplementedError, RuntimeError) as exc:
                # NotImplementedError: a version or compression method that
                # zipfile does not know; RuntimeError: the encryption flag
                # (torch never encrypts); i.e. a corrupted header here.
                raise _Corrupt(f"record {name!r} is corrupted ({exc})"
                               ) from None

        big_endian = False
        if prefix + "byteorder" in zf.namelist():
            order = read_record(prefix + "byteorder")
            if order not in (b"little", b"big"):
                raise _Corrupt(f"byteorder record is {order[:20]!r}, "
                               f"expected b'little' or b'big'")
            big_endian = order == b"big"
        storages: dict[str, _StorageRef] = {}
        obj = _unpickle(io.BytesIO(read_record(pkls[0])), storages,
                        legacy=False, what=f"record {pkls[0]!r}")

        def read_root(key: str, nbytes: int) -> np.ndarray:
            name = f"{prefix}data/{key}"
            try:
                info = zf.getinfo(name)
            except KeyError:
                raise _Corrupt(f"missing storage record {name!r}") from None
            if info.file_size < nbytes:
                raise _Corrupt(f"storage record {name!r} holds "
                               f"{info.file_size} bytes, the pickle declares "
                               f"{nbytes}")
            if info.compress_type != zipfile.ZIP_STORED:
                data = read_record(name)
                return np.frombuffer(data, np.uint8)[:nbytes].copy()
            # Stored record: read it in place, from its local header on.
            f.seek(info.header_offset)
            head = f.read(30)
            if len(head) != 30 or head[:4] != b"PK\x03\x04":
                raise _Corrupt(f"bad local header for record {name!r}")
            n_name, n_extra = struct.unpack("<HH", head[26:30])
            start = info.header_offset + 30 + n_name + n_extra
            if start + info.file_size > file_size:
                raise _Corrupt(f"storage record {name!r} runs past the end "
                               f"of the file")
            buf = _read_exact(f, start, info.file_size, f"record {name!r}")
            if zlib.crc32(buf.data) != info.CRC:
                raise _Corrupt(f"storage record {name!r} fails its CRC-32 "
                               f"check (corrupted data)")
            return buf if buf.size == nbytes else buf[:nbytes].copy()

        return _materialize(obj, storages, read_root, big_endian)


# --------------------------------------------------------------------------
# legacy format


def _load_legacy(f: IO[bytes], file_size: int) -> Any:
    head = f.read(512)
    if len(head) >= 262 and head[257:262] == b"ustar":
        raise _Corrupt("tar-based checkpoint (torch < 0.4) is not supported")
    if not head.startswith(b"\x80"):
        raise _Corrupt("neither a zip archive nor a legacy torch pickle "
                       "(bad magic)")
    f.seek(0)
    storages: dict[str, _StorageRef] = {}
    magic = _unpickle(f, storages, legacy=True, what="magic-number pickle")
    if magic != LEGACY_MAGIC:
        raise _Corrupt(f"bad magic number {magic!r:.40}: not a torch "
                       f"checkpoint")
    proto = _unpickle(f, storages, legacy=True, what="protocol pickle")
    if proto != LEGACY_PROTOCOL:
        raise _Corrupt(f"unsupported legacy protocol {proto!r:.40}, expected "
                       f"{LEGACY_PROTOCOL}")
    info = _unpickle(f, storages, legacy=True, what="sys-info pickle")
    if not isinstance(info, dict):
        raise _Corrupt("sys-info pickle is not a dict")
    big_endian = not info.get("little_endian", True)
    obj = _unpickle(f, storages, legacy=True, what="object pickle")
    keys = _unpickle(f, storages, legacy=True, what="storage-key pickle")
    if not isinstance(keys, list) or not all(isinstance(k, str)
                                             for k in keys):
        raise _Corrupt("storage-key pickle is not a list of str")
    # Locate each storage: an 8-byte element count, then its bytes.
    where: dict[str, int] = {}
    pos = f.tell()
    for key in keys:
        ref = storages.get(key)
        if ref is None or ref.root != key:
            raise _Corrupt(f"storage {key!r} is listed but never declared")
        f.seek(pos)
        raw = f.read(8)
        if len(raw) != 8:
            raise _Corrupt(f"truncated before storage {key!r} (offset {pos}, "
                           f"file has {file_size} bytes)")
        count = struct.unpack(">q" if big_endian else "<q", raw)[0]
        if count * ref.dtype.itemsize != ref.nbytes:
            declared = ref.nbytes // ref.dtype.itemsize
            raise _Corrupt(f"storage {key!r} records {count} elements, the "
                           f"pickle declares {declared}")
        where[key] = pos + 8
        pos += 8 + ref.nbytes
        if pos > file_size:
            raise _Corrupt(f"truncated in storage {key!r}: needs bytes up to "
                           f"{pos}, file has {file_size}")
    missing = sorted({r.root for r in storages.values()} - set(where))
    if missing:
        raise _Corrupt(f"storages {missing[:5]} are declared but have no "
                       f"data")

    def read_root(key: str, nbytes: int) -> np.ndarray:
        return _read_exact(f, where[key], nbytes, f"storage {key!r}")

    return _materialize(obj, storages, read_root, big_endian)


# --------------------------------------------------------------------------


def load(path: str | os.PathLike[str]) -> Any:
    """Loads a ``torch.save`` file (zip or legacy) without torch.

    The torch counterpart is ``torch.load(path, weights_only=True,
    map_location="cpu")``, with every tensor and parameter replaced by a NumPy
    array and every ``OrderedDict`` by a plain ``dict`` (same order; a state
    dict's ``_metadata`` attribute is dropped).

    Args:
        path: checkpoint file (``.pth``, ``.pt``, ``.bin``, ... any name).

    Returns:
        The saved object: nested dicts, lists and tuples of C-contiguous,
        native-byte-order ndarrays and plain Python values. bfloat16 tensors
        come back as float32 (exact); other dtypes keep theirs. Tensors
        sharing a storage come back as independent copies; a tensor saved
        twice comes back as one array under both names.

    Raises:
        UnsafeCheckpointError: the pickle names a global outside featx's
            allowlist (a model class, ``os.system``, ...); nothing was run.
        CheckpointFormatError: the file is truncated, corrupted or not a
            torch checkpoint (bad zip, bad magic, CRC mismatch, missing or
            short storage, tensor out of its storage's bounds, a zero-stride
            tensor more than 64x its storage and over 64 MiB, ...). Names the
            file.
        OSError: the file cannot be opened.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        file_size = os.fstat(f.fileno()).st_size
        try:
            if f.read(4) == b"PK\x03\x04":
                f.seek(0)
                return _load_zip(f, file_size)
            f.seek(0)
            return _load_legacy(f, file_size)
        except _Corrupt as exc:
            raise CheckpointFormatError(f"{path}: {exc}") from None
        except UnsafeCheckpointError as exc:
            raise UnsafeCheckpointError(f"{path}: {exc}") from None
