"""featx.hub: reading torch/npz/safetensors checkpoints without torch.

Fixtures in ``tests/golden/checkpoints`` come from
``tools/make_checkpoint_fixtures.py`` (oracle venv); ``expected.npz`` holds
what torch's ``tensor.numpy()`` gave for each. The oracle test at the end
round-trips through a live torch and is skipped without it::

    .venv-oracle/bin/python -m pytest tests/test_checkpoint.py
"""
from __future__ import annotations

import importlib.util
import os
import pickle
import pickletools
import shutil
import struct
import sys
import zipfile
from pathlib import Path

import checkpoint_craft as cc
import numpy as np
import pytest

import featx
from featx.hub import (
    CheckpointFormatError,
    UnsafeCheckpointError,
    load_state_dict_file,
    load_torch_file,
)

CKPT = Path(__file__).resolve().parent / "golden" / "checkpoints"
HAVE_SAFETENSORS = importlib.util.find_spec("safetensors") is not None

FIXTURES = {  # expected.npz prefix -> file
    "tensors_zip": "tensors_zip.pth",
    "tensors_legacy": "tensors_legacy.pth",
    "nested_zip": "nested_zip.pth",
    "nested_legacy": "nested_legacy.pth",
    "big_endian": "big_endian.pth",
    "tiny_npz": "tiny.npz",
    "tiny_safetensors": "tiny.safetensors",
}
TORCH_FILES = ["tensors_zip.pth", "tensors_legacy.pth", "nested_zip.pth",
               "nested_legacy.pth", "big_endian.pth"]


@pytest.fixture(scope="module")
def expected() -> dict[str, dict[str, np.ndarray]]:
    out: dict[str, dict[str, np.ndarray]] = {}
    with np.load(CKPT / "expected.npz") as z:
        for name in z.files:
            stem, key = name.split("/", 1)
            out.setdefault(stem, {})[key] = z[name]
    return out


def assert_bit_exact(got: dict[str, np.ndarray],
                     want: dict[str, np.ndarray]) -> None:
    assert list(got) == list(want)
    for k, w in want.items():
        g = got[k]
        assert isinstance(g, np.ndarray), k
        assert g.dtype == w.dtype, (k, g.dtype, w.dtype)
        assert g.shape == w.shape, (k, g.shape, w.shape)
        assert g.dtype.isnative, k
        assert g.flags.c_contiguous and g.flags.writeable, k
        assert g.tobytes() == w.tobytes(), k


# --------------------------------------------------------------------------
# good files


@pytest.mark.parametrize("stem", list(FIXTURES))
def test_fixture_loads_bit_exact(stem, expected):
    if stem == "tiny_safetensors" and not HAVE_SAFETENSORS:
        pytest.skip("safetensors is not installed (optional extra)")
    got = load_state_dict_file(CKPT / FIXTURES[stem])
    assert_bit_exact(got, expected[stem])


def test_fixture_sizes_stay_small():
    total = sum(p.stat().st_size for p in CKPT.iterdir())
    assert total < 300_000, total


@pytest.mark.parametrize("name", ["tensors_zip.pth", "tensors_legacy.pth"])
def test_every_dtype_shape_and_view(name):
    sd = load_state_dict_file(CKPT / name)
    dtypes = {k[len("dtype_"):]: v.dtype.name for k, v in sd.items()
              if k.startswith("dtype_")}
    assert dtypes == {
        "float32": "float32", "float64": "float64", "float16": "float16",
        "bfloat16": "float32", "complex64": "complex64", "int64": "int64",
        "int32": "int32", "int16": "int16", "int8": "int8", "uint8": "uint8",
        "uint16": "uint16", "bool": "bool"}
    assert sd["scalar_0d"].shape == () and sd["scalar_0d"] == 2.5
    assert sd["empty"].shape == (0, 3)
    base = np.arange(24, dtype=np.float32)
    np.testing.assert_array_equal(sd["base"], base)
    np.testing.assert_array_equal(sd["view_offset"], base[5:17].reshape(3, 4))
    np.testing.assert_array_equal(sd["view_transposed"],
                                  base.reshape(4, 6).T)
    np.testing.assert_array_equal(sd["view_step"], base[1::3])
    np.testing.assert_array_equal(
        sd["view_expand"], np.broadcast_to(base[2:5, None], (3, 4)))
    # Views of one storage come out as independent arrays...
    sd["view_offset"][0, 0] = -1
    assert sd["base"][5] == 5
    # ...and one tensor saved under two names as one array.
    assert sd["tied_a"] is sd["tied_b"]


def test_nested_checkpoint_keeps_plain_values(expected):
    ckpt = load_torch_file(CKPT / "nested_zip.pth")
    assert list(ckpt) == ["model", "epoch", "args", "best"]
    assert ckpt["epoch"] == 3
    assert ckpt["args"] == [1, 2.5, "x", None, (1, 2)]
    assert ckpt["best"] == {"acc": 0.5}
    assert type(ckpt["model"]) is dict  # OrderedDict -> dict, same order
    assert_bit_exact(ckpt["model"], expected["nested_zip"])
    assert ckpt["model"]["bn.num_batches_tracked"].shape == ()


def test_state_dict_selection(expected):
    legacy = CKPT / "nested_legacy.pth"
    assert_bit_exact(load_state_dict_file(legacy), expected["nested_legacy"])
    assert_bit_exact(load_state_dict_file(legacy, key="state_dict"),
                     expected["nested_legacy"])
    with pytest.raises(KeyError, match="'model_ema'"):
        load_state_dict_file(legacy, key="model_ema")
    with pytest.raises(ValueError, match="'meta' is not a state dict"):
        load_state_dict_file(legacy, key="meta")


def test_no_state_dict_is_a_value_error(tmp_path):
    path = tmp_path / "list.pth"
    cc.write_torch_zip(path, cc.p_pickle(cc.p_tuple(cc.p_int(1))))
    assert load_torch_file(path) == (1,)
    with pytest.raises(ValueError, match="not a state dict"):
        load_state_dict_file(path)


@pytest.mark.parametrize("name", ["weights", "resnet18.pth"])
def test_folder_is_named_with_what_is_expected(tmp_path, name):
    folder = tmp_path / name
    folder.mkdir()
    for path in (folder, str(folder)):  # torch.load raises IsADirectoryError too
        with pytest.raises(IsADirectoryError) as e:
            load_state_dict_file(path)
        msg = str(e.value)
        assert msg == (f"path={str(folder)!r} is a folder; expected a checkpoint file "
                       "(.pth, .pt, .bin, .ckpt, .tar, .safetensors, .npz)")
        assert "Errno" not in msg
    for f in ("model.safetensors", "b.PTH", "c.bin", "d.npz", "notes.txt"):
        (folder / f).touch()
    with pytest.raises(IsADirectoryError, match=r"; the folder holds b\.PTH, c\.bin, "
                       r"d\.npz, \.\.\. \(4 files\)$"):
        load_state_dict_file(folder)
    # weights= and 'featx extract --weights' say the same, with their own argument name
    with pytest.raises(IsADirectoryError, match=r"^weights='.*' is a folder; expected a "
                       r"checkpoint file \(\.pth, .*; the folder holds b\.PTH"):
        featx.models.resnet18(weights=folder)


def test_path_and_key_types(tmp_path):
    path = tmp_path / "w.npz"
    np.savez(path, **{"a.weight": np.ones(3, "f4")})
    assert list(load_state_dict_file(os.fsencode(path))) == ["a.weight"]  # as open() does
    for bad in (None, 3):
        with pytest.raises(TypeError) as e:
            load_state_dict_file(bad)
        assert str(e.value) == ("load_state_dict_file: expected a file path (str or "
                                f"os.PathLike), got {type(bad).__name__} {bad!r}")
    with pytest.raises(TypeError, match=r"^load_state_dict_file: key must be the name \(str\) "
                       r"of a checkpoint entry such as 'model_ema', got int 5$"):
        load_state_dict_file(path, key=5)
    with pytest.raises(TypeError, match=r"got str; to read a checkpoint file, pass "
                       r"featx\.hub\.load_state_dict_file\(path\)$"):
        featx.nn.Linear(3, 2).load_state_dict(str(path))


def test_torch_file_with_any_extension_and_prefix(tmp_path):
    pkl = cc.p_pickle(cc.p_dict([(cc.p_str("w"), cc.p_tensor(
        cc.p_storage("IntStorage", "7", 3), 0, (3,), (1,)))]))
    path = tmp_path / "weights.bin"
    data = np.array([5, -6, 7], np.int32).tobytes()
    cc.write_torch_zip(path, pkl, {"7": data}, byteorder=None,
                       prefix="resnet18-f37072fd")
    np.testing.assert_array_equal(load_state_dict_file(path)["w"], [5, -6, 7])


# --------------------------------------------------------------------------
# unsafe files


@pytest.mark.parametrize("name", ["malicious_zip.pth",
                                  "malicious_legacy.pth"])
def test_committed_malicious_fixture_is_refused(name):
    with pytest.raises(UnsafeCheckpointError, match=r"os\.system") as info:
        load_state_dict_file(CKPT / name)
    assert isinstance(info.value, pickle.UnpicklingError)
    assert name in str(info.value)


def _marker_payloads(marker: Path) -> list[bytes]:
    return [cc.payload_pickle("builtins", "open", str(marker), "w"),
            cc.payload_pickle("os", "system", f"touch '{marker}'"),
            cc.payload_pickle("builtins", "open", str(marker), "w",
                              stack_global=True)]


def test_marker_payload_is_live(tmp_path):
    # Control: plain pickle would run the payload and create the marker.
    marker = tmp_path / "control"
    pickle.loads(_marker_payloads(marker)[0])["weight"].close()
    assert marker.exists()


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
@pytest.mark.parametrize("which", range(3))
def test_payload_never_runs(tmp_path, fmt, which):
    marker = tmp_path / "pwned"
    payload = _marker_payloads(marker)[which]
    path = tmp_path / "evil.pth"
    if fmt == "zip":
        cc.write_torch_zip(path, payload)
    else:
        cc.write_torch_legacy(path, payload)
    with pytest.raises(UnsafeCheckpointError):
        load_state_dict_file(path)
    assert not marker.exists()


@pytest.mark.parametrize("module,name", [
    ("builtins", "eval"), ("builtins", "exec"), ("builtins", "getattr"),
    ("builtins", "__import__"), ("os", "system"), ("posix", "system"),
    ("subprocess", "Popen"), ("torch.nn.modules.conv", "Conv2d"),
    ("torch", "_utils"), ("torch", "load"), ("copyreg", "_reconstructor"),
    ("numpy.core.multiarray", "_reconstruct"), ("collections", "namedtuple"),
    ("torch._utils", "_rebuild_device_tensor_from_numpy"),
])
def test_forbidden_globals(tmp_path, module, name):
    path = tmp_path / "evil.pth"
    cc.write_torch_zip(path, cc.payload_pickle(module, name))
    with pytest.raises(UnsafeCheckpointError, match=f"{module}.{name}"):
        load_torch_file(path)


@pytest.mark.parametrize("module, name, says", [
    # these said "featx loads only tensors and plain containers ...; if this
    # is a whole pickled model, re-save it with torch.save(model.state_dict()
    # ...)", which is no help for a state dict of float8 or quantized tensors
    ("torch", "float8_e4m3fn", "the checkpoint holds tensors of dtype "
     "float8_e4m3fn, which featx cannot read; expected one of float32, "),
    ("torch", "qint8", "tensors of dtype qint8, which featx cannot read"),
    ("torch", "complex32", "tensors of dtype complex32, which featx"),
    ("torch._utils", "_rebuild_qtensor", "the checkpoint holds a kind of "
     "tensor featx cannot read (qtensor); expected dense CPU tensors: re-save "
     "them as such (v.dequantize(), v.to_dense(), v.cpu())"),
    ("torch._utils", "_rebuild_sparse_tensor", "cannot read (sparse_tensor)"),
])
def test_unreadable_tensor_kinds_are_named(tmp_path, module, name, says):
    path = tmp_path / "odd.pth"
    cc.write_torch_zip(path, cc.payload_pickle(module, name))
    with pytest.raises(UnsafeCheckpointError) as e:
        load_torch_file(path)
    assert f"refusing global {module}.{name}: " in str(e.value)
    assert says in str(e.value)
    assert "whole pickled model" not in str(e.value)


def test_only_storage_persistent_ids(tmp_path):
    path = tmp_path / "pid.pth"
    pid = cc.p_tuple(cc.p_str("module"), cc.p_str("x"), cc.p_int(1),
                     cc.p_str("cpu"), cc.p_int(1)) + b"Q"
    cc.write_torch_zip(path, cc.p_pickle(pid))
    with pytest.raises(UnsafeCheckpointError, match="persistent id"):
        load_torch_file(path)


# --------------------------------------------------------------------------
# truncated and corrupted files


def _record_span(path: Path, name: str) -> tuple[int, int]:
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
    raw = path.read_bytes()
    h = info.header_offset
    start = h + 30 + int.from_bytes(raw[h + 26:h + 28], "little") + \
        int.from_bytes(raw[h + 28:h + 30], "little")
    return start, info.file_size


def _rezip(src: Path, dst: Path, drop: str = "",
           replace: dict[str, bytes] | None = None) -> None:
    with zipfile.ZipFile(src) as zin, \
            zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            if info.filename == drop:
                continue
            data = (replace or {}).get(info.filename, zin.read(info))
            zout.writestr(info.filename, data)


@pytest.mark.parametrize("name", TORCH_FILES)
def test_cut_in_half(tmp_path, name):
    raw = (CKPT / name).read_bytes()
    path = tmp_path / name
    path.write_bytes(raw[:len(raw) // 2])
    with pytest.raises(CheckpointFormatError, match=name):
        load_state_dict_file(path)


@pytest.mark.parametrize("name", ["tensors_zip.pth", "tensors_legacy.pth"])
def test_every_truncation_is_a_format_error(tmp_path, name):
    raw = (CKPT / name).read_bytes()
    path = tmp_path / name
    for n in list(range(0, len(raw), 37)) + [len(raw) - 1]:
        path.write_bytes(raw[:n])
        with pytest.raises(CheckpointFormatError):
            load_torch_file(path)


def test_zip_flipped_pickle_byte_fails_crc(tmp_path):
    src = CKPT / "tensors_zip.pth"
    start, size = _record_span(src, "tensors_zip/data.pkl")
    raw = bytearray(src.read_bytes())
    raw[start + size // 2] ^= 0xFF
    path = tmp_path / "flipped.pth"
    path.write_bytes(raw)
    with pytest.raises(CheckpointFormatError, match="data.pkl"):
        load_torch_file(path)


def test_zip_flipped_storage_byte_fails_crc(tmp_path):
    src = CKPT / "tensors_zip.pth"
    start, _size = _record_span(src, "tensors_zip/data/0")
    raw = bytearray(src.read_bytes())
    raw[start] ^= 0x01
    path = tmp_path / "flipped.pth"
    path.write_bytes(raw)
    with pytest.raises(CheckpointFormatError, match="CRC"):
        load_torch_file(path)


def test_zip_bad_pickle_with_good_crc(tmp_path):
    src = CKPT / "tensors_zip.pth"
    with zipfile.ZipFile(src) as zf:
        pkl = bytearray(zf.read("tensors_zip/data.pkl"))
    pkl[2] = 0xFF  # not an opcode
    path = tmp_path / "badpkl.pth"
    _rezip(src, path, replace={"tensors_zip/data.pkl": bytes(pkl)})
    with pytest.raises(CheckpointFormatError, match="not a valid pickle"):
        load_torch_file(path)


def _patch_central_header(raw: bytearray, name: str, offset: int, value: int) -> None:
    """Writes a 2-byte field of ``name``'s central-directory header."""
    at = raw.find(b"PK\x01\x02")
    while at >= 0:
        n_name = int.from_bytes(raw[at + 28:at + 30], "little")
        if raw[at + 46:at + 46 + n_name] == name.encode():
            raw[at + offset:at + offset + 2] = value.to_bytes(2, "little")
            return
        at = raw.find(b"PK\x01\x02", at + 4)
    raise AssertionError(f"no central header for {name}")


@pytest.mark.parametrize("field, value", [(6, 211), (10, 99)])  # version, method
def test_zip_header_zipfile_cannot_handle_is_a_format_error(tmp_path, field, value):
    # zipfile raises NotImplementedError ("zip file version 21.1", "compression method
    # is not supported") for such headers: a corrupted file, not a missing feature.
    for src, record in ((CKPT / "tensors_zip.pth", "tensors_zip/data.pkl"),
                        (CKPT / "tiny.npz", None)):
        raw = bytearray(src.read_bytes())
        if record is None:
            with zipfile.ZipFile(src) as zf:
                record = zf.namelist()[0]
        _patch_central_header(raw, record, field, value)
        path = tmp_path / src.name
        path.write_bytes(raw)
        with pytest.raises(CheckpointFormatError, match="corrupted"):
            load_state_dict_file(path)


def test_zip_missing_storage_record(tmp_path):
    path = tmp_path / "dropped.pth"
    _rezip(CKPT / "tensors_zip.pth", path, drop="tensors_zip/data/3")
    with pytest.raises(CheckpointFormatError,
                       match="missing storage record 'tensors_zip/data/3'"):
        load_torch_file(path)


def test_zip_short_storage_record(tmp_path):
    src = CKPT / "tensors_zip.pth"
    with zipfile.ZipFile(src) as zf:
        data = zf.read("tensors_zip/data/0")
    path = tmp_path / "short.pth"
    _rezip(src, path, replace={"tensors_zip/data/0": data[:-4]})
    with pytest.raises(CheckpointFormatError, match="holds .* bytes"):
        load_torch_file(path)


def test_tensor_outside_its_storage():
    with pytest.raises(CheckpointFormatError,
                       match=r"'w' .* reads element 4 .* holds only 4"):
        load_torch_file(CKPT / "out_of_bounds.pth")


@pytest.mark.parametrize("offset,size,stride", [
    (0, (5,), (1,)), (4, (1,), (1,)), (0, (2, 2), (3, 1)),
    (0, (2, 2), (0, 4)), (3, (2,), (1,)), (0, (2, 1), (100, 3))])
def test_out_of_bounds_views_are_refused(tmp_path, offset, size, stride):
    pkl = cc.p_pickle(cc.p_dict([(cc.p_str("w"), cc.p_tensor(
        cc.p_storage("FloatStorage", "0", 4), offset, size, stride))]))
    path = tmp_path / "oob.pth"
    cc.write_torch_zip(path, pkl, {"0": np.ones(4, np.float32).tobytes()})
    with pytest.raises(CheckpointFormatError, match="reads element"):
        load_torch_file(path)


@pytest.mark.parametrize("offset,size,stride,want", [
    (3, (2,), (0,), [[3, 3]]), (0, (1, 2), (100, 3), [[0, 3]]),
    (1, (2, 2), (2, 0), [[1, 1], [3, 3]]), (4, (0, 5), (9, 9), [])])
def test_edge_views_inside_storage(tmp_path, offset, size, stride, want):
    # Size-1 dims may have any stride; size-0 tensors read nothing.
    pkl = cc.p_pickle(cc.p_dict([(cc.p_str("w"), cc.p_tensor(
        cc.p_storage("FloatStorage", "0", 4), offset, size, stride))]))
    path = tmp_path / "edge.pth"
    cc.write_torch_zip(path, pkl,
                       {"0": np.arange(4, dtype=np.float32).tobytes()})
    got = load_torch_file(path)["w"]
    assert got.shape == size
    np.testing.assert_array_equal(got.reshape(-1),
                                  np.array(want, np.float32).reshape(-1))


def test_storage_declared_larger_than_record(tmp_path):
    pkl = cc.p_pickle(cc.p_dict([(cc.p_str("w"), cc.p_tensor(
        cc.p_storage("FloatStorage", "0", 1000), 0, (1000,), (1,)))]))
    path = tmp_path / "big.pth"
    cc.write_torch_zip(path, pkl, {"0": b"\0" * 16})
    with pytest.raises(CheckpointFormatError, match="holds 16 bytes"):
        load_torch_file(path)


def test_zip_record_flagged_encrypted(tmp_path):  # .pth and .npz
    # A flipped "encrypted" bit made zipfile raise RuntimeError ("File ... is
    # encrypted, password required for extraction"), not featx's error.
    raw = bytearray((CKPT / "tensors_zip.pth").read_bytes())
    central = raw.find(b"PK\x01\x02")  # the first record's central entry
    raw[central + 8] |= 0x01
    path = tmp_path / "encrypted.pth"
    path.write_bytes(raw)
    with pytest.raises(CheckpointFormatError, match="encrypted"):
        load_torch_file(path)
    raw = bytearray((CKPT / "tiny.npz").read_bytes())
    raw[raw.find(b"PK\x01\x02") + 8] |= 0x01
    path = tmp_path / "encrypted.npz"
    path.write_bytes(raw)
    with pytest.raises(CheckpointFormatError, match="encrypted"):
        load_state_dict_file(path)


def test_npz_record_offset_before_the_file(tmp_path):
    # An end record whose central-directory offset is too large shifts every
    # record before the start of the file: zipfile's seek raised a bare
    # "OSError: [Errno 22] Invalid argument" (found by byte-flip fuzzing).
    raw = bytearray((CKPT / "tiny.npz").read_bytes())
    end = raw.rfind(b"PK\x05\x06")
    offset = struct.unpack_from("<I", raw, end + 16)[0]
    struct.pack_into("<I", raw, end + 16, offset + 1000)
    path = tmp_path / "shifted.npz"
    path.write_bytes(raw)
    with pytest.raises(CheckpointFormatError, match=r"shifted.npz: corrupted .npz"):
        load_state_dict_file(path)


def _legacy_pickle_spans(raw: bytes) -> list[tuple[int, int]]:
    import io
    f = io.BytesIO(raw)
    spans = []
    for _ in range(5):
        start = f.tell()
        for _op in pickletools.genops(f):
            pass
        spans.append((start, f.tell()))
    return spans


def test_legacy_bad_magic(tmp_path):
    raw = bytearray((CKPT / "tensors_legacy.pth").read_bytes())
    raw[5] ^= 0xFF  # inside the magic number
    path = tmp_path / "magic.pth"
    path.write_bytes(raw)
    with pytest.raises(CheckpointFormatError, match="bad magic"):
        load_torch_file(path)


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("hello")
    with pytest.raises(CheckpointFormatError, match="bad magic"):
        load_torch_file(path)


def test_legacy_bad_opcode(tmp_path):
    raw = bytearray((CKPT / "tensors_legacy.pth").read_bytes())
    start, _ = _legacy_pickle_spans(bytes(raw))[3]
    raw[start + 2] = 0xFF
    path = tmp_path / "opcode.pth"
    path.write_bytes(raw)
    with pytest.raises(CheckpointFormatError,
                       match="object pickle is not a valid pickle"):
        load_torch_file(path)


def test_legacy_flipped_bytes_never_crash(tmp_path):
    # Every single-byte flip in the pickles either still loads or raises
    # one of the two documented errors; never anything else.
    src = (CKPT / "tensors_legacy.pth").read_bytes()
    path = tmp_path / "fuzz.pth"
    end = _legacy_pickle_spans(src)[-1][1]
    for pos in range(0, end, 3):
        raw = bytearray(src)
        raw[pos] ^= 0x55
        path.write_bytes(raw)
        try:
            load_torch_file(path)
        except (CheckpointFormatError, UnsafeCheckpointError):
            pass


_HUGE_BYTEARRAY = r"""
import sys
from featx.hub import CheckpointFormatError, load_torch_file
for path in sys.argv[1:]:
    for _ in range(20):
        # freed 56-byte blocks full of non-zero words: where CPython 3.11's
        # bytearray, failing to allocate, reads its unset export count
        junk = [bytes([1]) * 21 for _ in range(200)]
        del junk
        try:
            load_torch_file(path)
        except CheckpointFormatError as exc:
            msg = str(exc)
    print(msg)
"""


def test_huge_bytearray_length_is_a_clean_error(tmp_path):
    # A BYTEARRAY8 opcode claiming 2**62 bytes made the C unpickler's failed
    # allocation print "SystemError: deallocated bytearray object has
    # exported buffers" on stderr next to featx's own error.
    import os
    import subprocess

    import featx
    pkl = b"\x80\x02\x96" + struct.pack("<Q", 1 << 62) + b"."
    cc.write_torch_zip(tmp_path / "z.pth", pkl)
    cc.write_torch_legacy(tmp_path / "l.pth", pkl)
    root = os.path.dirname(os.path.dirname(os.path.abspath(featx.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (root, os.environ.get("PYTHONPATH")) if p))
    proc = subprocess.run(
        [sys.executable, "-c", _HUGE_BYTEARRAY, str(tmp_path / "z.pth"),
         str(tmp_path / "l.pth")],
        env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.count("bytearray8, but only") == 2


def test_legacy_storage_count_mismatch(tmp_path):
    pkl = cc.p_pickle(cc.p_dict([(cc.p_str("w"), cc.p_tensor(
        cc.p_storage("FloatStorage", "k", 4, legacy=True), 0, (4,), (1,)))]))
    path = tmp_path / "count.pth"
    cc.write_torch_legacy(path, pkl, {"k": (3, b"\0" * 12)})
    with pytest.raises(CheckpointFormatError, match="records 3 elements"):
        load_torch_file(path)


@pytest.mark.parametrize("content,what", [
    (b"hello", "the file starts with b'hello'"),
    (b"", "an empty file"),
    (b"\x93NUMPY\x01\x00", "an .npy file (one array)"),
])
def test_npz_that_is_not_a_zip(tmp_path, content, what):
    # NumPy took any non-zip .npz for a pickle and suggested allow_pickle=True.
    path = tmp_path / "weights.npz"
    path.write_bytes(content)
    with pytest.raises(CheckpointFormatError) as e:
        load_state_dict_file(path)
    assert str(e.value) == f"{path}: not an .npz archive (a zip of .npy arrays): {what}"


def test_npz_cut_in_half(tmp_path):
    raw = (CKPT / "tiny.npz").read_bytes()
    path = tmp_path / "tiny.npz"
    path.write_bytes(raw[:len(raw) // 2])
    with pytest.raises(CheckpointFormatError, match="tiny.npz"):
        load_state_dict_file(path)


def test_safetensors_missing_package(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    path = tmp_path / "x.safetensors"
    shutil.copy(CKPT / "tiny.safetensors", path)
    with pytest.raises(ImportError, match="pip install safetensors"):
        load_state_dict_file(path)
    # The command line's one line reads as a sentence (it was "cannot read weights
    # reading PATH needs ...").
    import featx
    from featx.cli import CLIError, _load_weights
    with pytest.raises(CLIError) as e:
        _load_weights(featx.models.resnet18(), str(path))
    assert str(e.value) == (f"cannot read weights {path}: reading .safetensors files needs "
                            "the optional 'safetensors' package: pip install safetensors")


@pytest.mark.skipif(not HAVE_SAFETENSORS, reason="safetensors not installed")
def test_safetensors_corrupted(tmp_path):
    raw = (CKPT / "tiny.safetensors").read_bytes()
    path = tmp_path / "cut.safetensors"
    path.write_bytes(raw[:len(raw) // 2])
    with pytest.raises(CheckpointFormatError, match="cut.safetensors"):
        load_state_dict_file(path)


# --------------------------------------------------------------------------
# oracle


@pytest.mark.oracle
@pytest.mark.parametrize("legacy", [False, True])
def test_oracle_round_trip(tmp_path, legacy):
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(1234)
    tensors = {}
    for dt in (torch.float32, torch.float64, torch.float16, torch.bfloat16,
               torch.complex64, torch.complex128):
        tensors[str(dt)] = torch.randn(5, 7, generator=g).to(dt)
    for dt in (torch.int64, torch.int32, torch.int16, torch.int8,
               torch.uint8):
        info = torch.iinfo(dt)
        tensors[str(dt)] = torch.randint(info.min, info.max, (3, 4, 2),
                                         dtype=dt, generator=g)
    for dt in (torch.uint16, torch.uint32, torch.uint64):
        tensors[str(dt)] = torch.randint(0, 2**15, (6,), generator=g).to(dt)
    tensors["bool"] = torch.rand(9, generator=g) > 0.5
    base = torch.randn(10, 12, generator=g)
    tensors["base"] = base
    tensors["slice"] = base[2:7, 3:11:2]
    tensors["t"] = base.t()
    tensors["row"] = base[4]
    tensors["elem"] = base[3, 5]
    tensors["narrow_empty"] = base[:, 5:5]
    tensors["param"] = torch.nn.Parameter(torch.randn(3, generator=g))
    path = tmp_path / "rt.pth"
    torch.save(tensors, path, _use_new_zipfile_serialization=not legacy)
    got = load_state_dict_file(path)
    assert list(got) == list(tensors)
    for k, t in tensors.items():
        t = t.detach()
        want = (t.float() if t.dtype == torch.bfloat16 else t).numpy()
        assert got[k].dtype == want.dtype, k
        assert got[k].shape == want.shape, k
        assert got[k].tobytes() == np.ascontiguousarray(want).tobytes(), k


@pytest.mark.oracle
@pytest.mark.parametrize("legacy", [False, True])
def test_oracle_torchvision_checkpoint_runs_in_featx(tmp_path, legacy):
    # A torchvision resnet50 checkpoint as torchvision's hub ships them
    # (a torch.save'd state_dict), read without torch; every key matches
    # and featx's extractor gives torchvision's extractor outputs.
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    from synthetic import assert_close
    from torchvision.models import feature_extraction as tv_fe

    import featx.models
    from featx.models.feature_extraction import create_feature_extractor

    torch.manual_seed(0)
    tv = torchvision.models.resnet50(weights=None).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics
        for m in tv.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    path = tmp_path / "resnet50-0123abcd.pth"
    torch.save(tv.state_dict(), path,
               _use_new_zipfile_serialization=not legacy)
    sd = load_state_dict_file(path)
    want_sd = tv.state_dict()
    assert list(sd) == list(want_sd)
    for k, t in want_sd.items():
        assert sd[k].tobytes() == t.numpy().tobytes(), k
    model = featx.models.resnet50()
    missing, unexpected = model.load_state_dict(sd)
    assert missing == [] and unexpected == []
    model.eval()
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 64),
                                                 dtype=np.float32)
    nodes = ["layer1", "layer3", "layer4", "fc"]
    with torch.no_grad():
        want = tv_fe.create_feature_extractor(tv, nodes)(torch.from_numpy(x))
    got = create_feature_extractor(model, nodes)(x)
    for k in nodes:
        assert_close(got[k], want[k].numpy(), f"resnet50 {k}")


@pytest.mark.parametrize("target,state", [
    (("torch", "float32"), cc.p_dict([(cc.p_str("code"), cc.p_str("f8"))])),
    (("torch", "FloatStorage"), cc.p_tuple(cc.NONE, cc.p_dict(
        [(cc.p_str("dtype"), cc.p_str("x"))]))),
    (("torch._utils", "_rebuild_tensor_v2"), cc.p_tuple(cc.NONE, cc.p_dict(
        [(cc.p_str("__defaults__"), cc.p_tuple())]))),
    (("_codecs", "encode"), cc.p_dict([(cc.p_str("fn"), cc.NONE)])),
])
def test_pickle_cannot_modify_the_allowlist(tmp_path, target, state):
    # BUILD (b"b") sets state/attributes on the object below it: the shared
    # stand-ins must refuse, and later loads must be unaffected.
    path = tmp_path / "poison.pth"
    cc.write_torch_zip(path, cc.p_pickle(cc.p_global(*target) + state + b"b"))
    with pytest.raises(CheckpointFormatError, match="tries to modify"):
        load_torch_file(path)
    sd = load_state_dict_file(CKPT / "tensors_zip.pth")
    assert sd["dtype_float32"].dtype == np.float32
    np.testing.assert_array_equal(sd["view_step"],
                                  np.arange(24, dtype=np.float32)[1::3])


@pytest.mark.skipif(not HAVE_SAFETENSORS, reason="safetensors not installed")
def test_safetensors_bfloat16_becomes_float32(tmp_path):
    want = np.array([[1.0, -2.5, 2.0**100], [0.0, -0.0, 1.0 / 128]],
                    np.float32)
    bits = (want.view(np.uint32) >> 16).astype(np.uint16)  # exact in bf16
    path = tmp_path / "bf16.safetensors"
    cc.write_safetensors(path, {"a": np.arange(3, dtype=np.int16),
                                "w": bits}, bf16=("w",))
    sd = load_state_dict_file(path)
    assert sorted(sd) == ["a", "w"]
    assert sd["w"].dtype == np.float32 and sd["w"].shape == (2, 3)
    assert sd["w"].tobytes() == want.tobytes()
    np.testing.assert_array_equal(sd["a"], [0, 1, 2])


@pytest.mark.skipif(not HAVE_SAFETENSORS, reason="safetensors not installed")
def test_safetensors_bad_bfloat16_entry(tmp_path):
    path = tmp_path / "bad.safetensors"
    cc.write_safetensors(path, {"w": np.zeros(4, np.uint16)}, bf16=("w",))
    raw = path.read_bytes()
    path.write_bytes(raw[:-2])  # data shorter than the header says
    with pytest.raises(CheckpointFormatError, match="'w'"):
        load_state_dict_file(path)


@pytest.mark.parametrize("size,stride,match", [
    ((2**40, 2**40), (0, 0), "would expand"),
    ((1, 2), (2**70, 1), None),  # size-1 dim: stride never used
    ((0, 2**62), (1, 1), "absurd size"),
])
def test_hostile_sizes_and_strides(tmp_path, size, stride, match):
    pkl = cc.p_pickle(cc.p_dict([(cc.p_str("w"), cc.p_tensor(
        cc.p_storage("FloatStorage", "0", 4), 0, size, stride))]))
    path = tmp_path / "hostile.pth"
    cc.write_torch_zip(path, pkl, {"0": np.ones(4, np.float32).tobytes()})
    if match is None:
        np.testing.assert_array_equal(load_torch_file(path)["w"], [[1, 1]])
    else:
        with pytest.raises(CheckpointFormatError, match=match):
            load_torch_file(path)


def test_deep_nesting_is_a_format_error(tmp_path):
    depth = 100_000  # pickle builds it without recursion; walking it would
    path = tmp_path / "deep.pth"
    cc.write_torch_zip(path, cc.p_pickle(b"]" * depth + b"a" * (depth - 1)))
    with pytest.raises(CheckpointFormatError, match="nests too deeply"):
        load_torch_file(path)
