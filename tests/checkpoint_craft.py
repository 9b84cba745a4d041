"""Hand-built torch-like checkpoints for featx's checkpoint-reader tests.

Shared by ``tests/test_checkpoint.py`` and
``tools/make_checkpoint_fixtures.py``.
Needs no torch: pickles are written opcode by opcode (protocol 2), so a test
can name any global, including ones that must never run, without creating
the object. Only plain ints/dicts/lists are ever passed to ``pickle.dumps``.
"""
from __future__ import annotations

import json
import pickle
import struct
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

NONE = b"N"
FALSE = b"\x89"


def p_global(module: str, name: str) -> bytes:
    """GLOBAL opcode: pushes ``module.name`` (resolved by find_class)."""
    return b"c" + f"{module}\n{name}\n".encode()


def p_stack_global(module: str, name: str) -> bytes:
    """STACK_GLOBAL opcode (protocol 4) for the same."""
    return p_str(module) + p_str(name) + b"\x93"


def p_str(s: str) -> bytes:
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def p_int(i: int) -> bytes:
    """BININT for 32-bit values, else LONG1 (any size)."""
    if -2**31 <= i < 2**31:
        return b"J" + struct.pack("<i", i)
    b = i.to_bytes((i.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(b)]) + b


def p_tuple(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"t"


def p_reduce(func: bytes, *args: bytes) -> bytes:
    """``func(*args)``."""
    return func + p_tuple(*args) + b"R"


def p_dict(items: Iterable[tuple[bytes, bytes]]) -> bytes:
    return b"}(" + b"".join(k + v for k, v in items) + b"u"


def p_pickle(body: bytes, proto: int = 2) -> bytes:
    return bytes([0x80, proto]) + body + b"."


def p_storage(storage_type: str, key: str, numel: int,
              legacy: bool = False) -> bytes:
    """A ``('storage', torch.<storage_type>, key, 'cpu', numel)`` id."""
    fields = [p_str("storage"), p_global("torch", storage_type), p_str(key),
              p_str("cpu"), p_int(numel)]
    if legacy:
        fields.append(NONE)
    return p_tuple(*fields) + b"Q"


def p_tensor(storage: bytes, offset: int, size: tuple[int, ...],
             stride: tuple[int, ...]) -> bytes:
    """``torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
    False, OrderedDict())``."""
    return p_reduce(p_global("torch._utils", "_rebuild_tensor_v2"), storage,
                    p_int(offset), p_tuple(*map(p_int, size)),
                    p_tuple(*map(p_int, stride)), FALSE,
                    p_reduce(p_global("collections", "OrderedDict")))


def payload_pickle(module: str, name: str, *args: str,
                   stack_global: bool = False) -> bytes:
    """``{"weight": module.name(*args)}``: a state dict whose value is a
    call of an arbitrary global."""
    g = (p_stack_global if stack_global else p_global)(module, name)
    body = p_dict([(p_str("weight"),
                    p_reduce(g, *(p_str(a) for a in args)))])
    return p_pickle(body, proto=4 if stack_global else 2)


def write_torch_zip(path: Path, data_pkl: bytes,
                    storages: dict[str, bytes] | None = None,
                    byteorder: str | None = "little",
                    prefix: str = "archive") -> None:
    """A zip laid out like torch.save's (stored, ``<prefix>/...`` records),
    byte-reproducible (fixed timestamps)."""
    records = {f"{prefix}/data.pkl": data_pkl}
    if byteorder is not None:
        records[f"{prefix}/byteorder"] = byteorder.encode()
    for key, data in (storages or {}).items():
        records[f"{prefix}/data/{key}"] = data
    records[f"{prefix}/version"] = b"3\n"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, data in records.items():
            zf.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data)


def write_torch_legacy(path: Path, obj_pkl: bytes,
                       storages: dict[str, tuple[int, bytes]] | None = None,
                       little_endian: bool = True) -> None:
    """A legacy (non-zip) torch file; ``storages`` maps key to
    (element count, raw bytes), written in that order."""
    storages = storages or {}
    info = {"protocol_version": 1001, "little_endian": little_endian,
            "type_sizes": {"short": 2, "int": 4, "long": 8}}
    order = "<" if little_endian else ">"
    parts = [pickle.dumps(LEGACY_MAGIC, protocol=2),
             pickle.dumps(1001, protocol=2), pickle.dumps(info, protocol=2),
             obj_pkl, pickle.dumps(list(storages), protocol=2)]
    for count, data in storages.values():
        parts.append(struct.pack(order + "q", count) + data)
    path.write_bytes(b"".join(parts))


def write_safetensors(path: Path, tensors: dict[str, np.ndarray],
                      bf16: tuple[str, ...] = ()) -> None:
    """A .safetensors file (8-byte header length, JSON header, data).
    Names in ``bf16`` are uint16 arrays of bfloat16 bits, stored as BF16."""
    codes = {"float32": "F32", "float64": "F64", "float16": "F16",
             "int64": "I64", "int32": "I32", "int16": "I16", "int8": "I8",
             "uint8": "U8", "bool": "BOOL"}
    header: dict[str, object] = {}
    blobs = []
    pos = 0
    for name, arr in tensors.items():
        data = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<"))
        raw = data.tobytes()
        code = "BF16" if name in bf16 else codes[arr.dtype.name]
        header[name] = {"dtype": code,
                        "shape": list(arr.shape),
                        "data_offsets": [pos, pos + len(raw)]}
        blobs.append(raw)
        pos += len(raw)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    path.write_bytes(struct.pack("<Q", len(head)) + head + b"".join(blobs))
