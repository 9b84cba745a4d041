"""Regenerate the checkpoint fixtures in ``tests/golden/checkpoints``.

Runs only with the oracle interpreter, which has torch (never a featx
dependency)::

    .venv-oracle/bin/python tools/make_checkpoint_fixtures.py

Writes (all small; the total stays well under 300 KB):

``tensors_zip.pth`` / ``tensors_legacy.pth``
    One ``torch.save`` dict, zip and legacy (``_use_new_zipfile_serialization
    =False``) format: a tensor of every dtype, a parameter, a 0-d and an
    empty tensor, views of one storage with offsets and strides (sharing that
    storage), and one tensor saved under two names.
``nested_zip.pth`` / ``nested_legacy.pth``
    ``{"model": <a small module's state_dict()>, "epoch": 3, ...}`` and
    ``{"state_dict": ..., "meta": ...}``.
``big_endian.pth``
    Hand-built zip with ``byteorder`` = ``big`` and byte-swapped storages.
``malicious_zip.pth`` / ``malicious_legacy.pth``
    Hand-built pickles calling ``os.system`` (must be refused).
``out_of_bounds.pth``
    Hand-built zip whose tensor reads past its storage.
``tiny.npz`` / ``tiny.safetensors``
    A two-array state dict in each format.
``expected.npz``
    ``<fixture stem>/<key>``: the arrays each fixture must load as, made with
    ``tensor.numpy()`` (``tensor.float().numpy()`` for bfloat16, which featx
    returns as float32).

The hand-built files are byte-reproducible; the legacy-format torch files are
not (their storage keys are object addresses), so rerunning changes those
bytes but not their content.
"""
from __future__ import annotations

import struct
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import checkpoint_craft as cc  # noqa: E402 (found through the sys.path line above)

OUT = ROOT / "tests" / "golden" / "checkpoints"


def _np(t: torch.Tensor) -> np.ndarray:
    t = t.detach()
    if t.dtype == torch.bfloat16:
        t = t.float()
    return t.numpy().copy()


def tensors_dict() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    d: dict[str, torch.Tensor] = {}
    for dt in (torch.float32, torch.float64, torch.float16, torch.bfloat16,
               torch.complex64):
        d[f"dtype_{str(dt)[6:]}"] = torch.randn(3, 4, generator=g).to(dt)
    for dt, lo, hi in ((torch.int64, -2**62, 2**62), (torch.int32, -2**31,
                       2**31 - 1), (torch.int16, -2**15, 2**15 - 1),
                       (torch.int8, -128, 127), (torch.uint8, 0, 255)):
        d[f"dtype_{str(dt)[6:]}"] = torch.randint(lo, hi, (2, 5), dtype=dt,
                                                  generator=g)
    d["dtype_uint16"] = torch.tensor([0, 1, 65535, 1234], dtype=torch.uint16)
    d["dtype_bool"] = torch.rand(7, generator=g) > 0.5
    d["param"] = torch.nn.Parameter(torch.randn(2, 3, generator=g))
    d["scalar_0d"] = torch.tensor(2.5)
    d["empty"] = torch.zeros(0, 3)
    base = torch.arange(24, dtype=torch.float32)
    d["base"] = base
    d["view_offset"] = base[5:17].view(3, 4)
    d["view_transposed"] = base.view(4, 6).t()
    d["view_step"] = base[1::3]
    d["view_expand"] = base[2:5].view(3, 1).expand(3, 4)
    d["tied_a"] = d["tied_b"] = torch.randn(4, generator=g)
    return d


class Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.bn = torch.nn.BatchNorm2d(4)
        self.fc = torch.nn.Linear(4, 2)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.iterdir():
        old.unlink()
    expected: dict[str, np.ndarray] = {}

    d = tensors_dict()
    torch.save(d, OUT / "tensors_zip.pth")
    torch.save(d, OUT / "tensors_legacy.pth",
               _use_new_zipfile_serialization=False)
    for stem in ("tensors_zip", "tensors_legacy"):
        for k, v in d.items():
            expected[f"{stem}/{k}"] = _np(v)

    torch.manual_seed(1)
    sd = Tiny().state_dict()
    torch.save({"model": sd, "epoch": 3, "args": [1, 2.5, "x", None, (1, 2)],
                "best": {"acc": 0.5}}, OUT / "nested_zip.pth")
    torch.save({"state_dict": sd, "meta": {"epoch": 3}},
               OUT / "nested_legacy.pth",
               _use_new_zipfile_serialization=False)
    for stem in ("nested_zip", "nested_legacy"):
        for k, v in sd.items():
            expected[f"{stem}/{k}"] = _np(v)

    # Big-endian: a float32 (3, 2) view with offset 1 and an int64 vector.
    f32 = np.arange(8, dtype=np.float32) * 1.5 - 3
    i64 = np.array([1, -2, 2**40, -2**50], dtype=np.int64)
    pkl = cc.p_pickle(cc.p_dict([
        (cc.p_str("w"), cc.p_tensor(cc.p_storage("FloatStorage", "0", 8), 1,
                                    (3, 2), (2, 1))),
        (cc.p_str("n"), cc.p_tensor(cc.p_storage("LongStorage", "1", 4), 0,
                                    (4,), (1,)))]))
    cc.write_torch_zip(OUT / "big_endian.pth", pkl,
                       {"0": f32.astype(">f4").tobytes(),
                        "1": i64.astype(">i8").tobytes()}, byteorder="big")
    expected["big_endian/w"] = f32[1:7].reshape(3, 2)
    expected["big_endian/n"] = i64

    evil = cc.payload_pickle("os", "system", "echo featx-payload-ran")
    cc.write_torch_zip(OUT / "malicious_zip.pth", evil)
    cc.write_torch_legacy(OUT / "malicious_legacy.pth", evil)

    oob = cc.p_pickle(cc.p_dict([(cc.p_str("w"), cc.p_tensor(
        cc.p_storage("FloatStorage", "0", 4), 1, (2, 2), (2, 1)))]))
    cc.write_torch_zip(OUT / "out_of_bounds.pth", oob,
                       {"0": struct.pack("<4f", 1, 2, 3, 4)})

    tiny = OrderedDict(a=np.arange(6, dtype=np.float32).reshape(2, 3),
                       b=np.array([1, 2, 3], dtype=np.int64))
    np.savez(OUT / "tiny.npz", **tiny)
    cc.write_safetensors(OUT / "tiny.safetensors", tiny)
    for stem in ("tiny_npz", "tiny_safetensors"):
        for k, v in tiny.items():
            expected[f"{stem}/{k}"] = v

    np.savez(OUT / "expected.npz", **expected)
    total = 0
    for p in sorted(OUT.iterdir()):
        total += p.stat().st_size
        print(f"{p.stat().st_size:8d}  {p.relative_to(ROOT)}")
    print(f"{total:8d}  total")


if __name__ == "__main__":
    main()
