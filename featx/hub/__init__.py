"""Reading checkpoint files into NumPy state dicts, with no torch installed.

:func:`load_state_dict_file` reads torchvision's own ``.pth`` files (and any
``torch.save`` output, zip or legacy), ``.safetensors`` (optional extra:
``pip install safetensors``) and ``.npz``. Torch checkpoints are read by a
restricted unpickler (:mod:`featx.hub.torch_pickle`) that refuses every
global outside a short allowlist, so a malicious file cannot run code.
"""
from __future__ import annotations

import json
import math
import os
import zipfile
import zlib
from typing import Any

import numpy as np

from .download import (ChecksumError, DownloadError, download_url_to_file,
                       get_dir, load_state_dict_from_url, set_dir)
from .torch_pickle import CheckpointFormatError, UnsafeCheckpointError
from .torch_pickle import load as load_torch_file

__all__ = ["ChecksumError", "DownloadError", "download_url_to_file", "get_dir",
           "load_state_dict_from_url", "set_dir",
           "CheckpointFormatError", "UnsafeCheckpointError",
           "CHECKPOINT_EXTENSIONS", "load_state_dict_file", "load_torch_file",
           "looks_like_checkpoint", "refuse_folder"]

#: Entries of a checkpoint dict searched, in order, for the state dict.
STATE_DICT_KEYS = ("state_dict", "model")

#: File name endings of the checkpoints featx reads: ``torch.save`` files
#: (the five usual ones; any other name is read as one too), safetensors, npz.
CHECKPOINT_EXTENSIONS = (".pth", ".pt", ".bin", ".ckpt", ".tar", ".safetensors",
                         ".npz")


def looks_like_checkpoint(spec: str) -> bool:
    """Whether ``spec``, a ``weights=`` / ``--weights`` value, names a file
    (it exists, has a folder part or a checkpoint ending) rather than
    pretrained weights such as ``"DEFAULT"``."""
    if os.path.exists(spec):
        return True
    seps = (os.sep, os.altsep) if os.altsep else (os.sep,)
    return (any(sep in spec for sep in seps)
            or spec.lower().endswith(CHECKPOINT_EXTENSIONS))


def refuse_folder(path: str, arg: str) -> None:
    """Raises ``IsADirectoryError`` naming ``arg`` if ``path`` is a folder.

    The one message for a folder given where a checkpoint file is expected
    (``load_state_dict_file``, ``weights=``, ``featx extract --weights``);
    it names the checkpoint files directly inside the folder, if any.
    """
    if not os.path.isdir(path):
        return
    try:
        inside = sorted(n for n in os.listdir(path)
                        if n.lower().endswith(CHECKPOINT_EXTENSIONS))
    except OSError:
        inside = []
    more = f", ... ({len(inside)} files)" if len(inside) > 3 else ""
    hint = (f"; the folder holds {', '.join(inside[:3])}{more}" if inside
            else "")
    raise IsADirectoryError(
        f"{arg}={path!r} is a folder; expected a checkpoint file "
        f"({', '.join(CHECKPOINT_EXTENSIONS)}){hint}")


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, dict) and all(
        isinstance(k, str) and isinstance(v, np.ndarray)
        for k, v in obj.items())


def _describe(obj: Any) -> str:
    if isinstance(obj, dict):
        keys = list(obj)
        more = f", ... ({len(keys)} keys)" if len(keys) > 8 else ""
        return f"a dict with keys {keys[:8]}{more}"
    return f"a {type(obj).__name__}"


def _pick_state_dict(obj: Any, path: str, key: str | None) -> dict[str,
                                                                   np.ndarray]:
    if key is not None:
        if not isinstance(obj, dict) or key not in obj:
            raise KeyError(f"{path}: no entry {key!r}; the file holds "
                           f"{_describe(obj)}")
        if not _is_state_dict(obj[key]):
            raise ValueError(f"{path}: entry {key!r} is not a state dict "
                             f"(str -> array), it is {_describe(obj[key])}")
        return dict(obj[key])
    if _is_state_dict(obj):
        return dict(obj)
    if isinstance(obj, dict):
        for k in STATE_DICT_KEYS:
            if k in obj and _is_state_dict(obj[k]):
                return dict(obj[k])
    raise ValueError(f"{path}: holds {_describe(obj)}, not a state dict "
                     f"(str -> tensor) nor a dict with a "
                     f"{' or '.join(map(repr, STATE_DICT_KEYS))} entry that "
                     f"is one; pass key= to choose an entry")


def _load_npz(path: str) -> dict[str, np.ndarray]:
    with open(path, "rb") as f:
        head = f.read(6)
    # np.load takes any other content for a pickle and suggests allow_pickle=True
    if not head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        what = ("an empty file" if not head else "an .npy file (one array)"
                if head.startswith(b"\x93NUMPY") else f"the file starts with {head!r}")
        raise CheckpointFormatError(f"{path}: not an .npz archive (a zip of .npy "
                                    f"arrays): {what}")
    try:
        z = np.load(path, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise CheckpointFormatError(f"{path}: not an .npz archive")
        with z:
            return {k: z[k] for k in z.files}
    except CheckpointFormatError:
        raise
    except (zipfile.BadZipFile, EOFError, ValueError, KeyError,
            NotImplementedError, zlib.error, RuntimeError, OSError) as exc:
        # RuntimeError: zipfile's "encrypted" (a flipped flag bit here);
        # OSError: a seek to a corrupted, negative record offset (EINVAL)
        raise CheckpointFormatError(f"{path}: corrupted .npz ({exc})"
                                    ) from None


def _safetensors_bf16(path: str) -> dict[str, tuple[list[int], int]]:
    """The BF16 entries of a .safetensors header: name -> (shape, absolute
    byte offset). The format: an 8-byte little-endian header length, a JSON
    header ``{name: {"dtype", "shape", "data_offsets": [begin, end]}}`` with
    offsets relative to the end of the header, then the data."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        raw = f.read(8)
        n = int.from_bytes(raw, "little") if len(raw) == 8 else -1
        if not 0 <= n <= size - 8:
            raise CheckpointFormatError(
                f"{path}: bad .safetensors header length (file has {size} "
                f"bytes)")
        try:
            header = json.loads(f.read(n))
        except ValueError as exc:  # JSON and Unicode errors
            raise CheckpointFormatError(
                f"{path}: bad .safetensors header ({exc})") from None
    if not isinstance(header, dict):
        raise CheckpointFormatError(f"{path}: .safetensors header is not a "
                                    f"JSON object")
    out: dict[str, tuple[list[int], int]] = {}
    for name, e in header.items():
        if (name == "__metadata__" or not isinstance(e, dict)
                or e.get("dtype") != "BF16"):
            continue
        shape: Any = e.get("shape")
        offs: Any = e.get("data_offsets")
        ok = (isinstance(shape, list) and isinstance(offs, list)
              and len(offs) == 2
              and all(type(v) is int and v >= 0 for v in shape + offs))
        if not ok or offs[1] - offs[0] != 2 * math.prod(shape) \
                or 8 + n + offs[1] > size:
            raise CheckpointFormatError(
                f"{path}: bad .safetensors entry {name!r}: {e!r:.100}")
        out[name] = (shape, 8 + n + offs[0])
    return out


def _read_bf16(path: str, shape: list[int], offset: int) -> np.ndarray:
    bits = np.fromfile(path, dtype="<u2", count=math.prod(shape),
                       offset=offset)
    # bfloat16 is the top half of a float32: widen exactly.
    return (bits.astype(np.uint32) << 16).view(np.float32).reshape(shape)


def _load_safetensors(path: str) -> dict[str, np.ndarray]:
    try:
        # safetensors ships no type stubs.
        from safetensors import safe_open  # type: ignore
        from safetensors.numpy import load_file  # type: ignore
    except ImportError as exc:
        raise ImportError(
            f"{path}: reading .safetensors files needs the optional "
            f"'safetensors' package: pip install safetensors") from exc
    # safetensors.numpy cannot make bfloat16 arrays: featx reads those
    # itself and returns float32, as for torch files.
    bf16 = _safetensors_bf16(path)
    try:
        if not bf16:
            return dict(load_file(path))
        out: dict[str, np.ndarray] = {}
        with safe_open(path, framework="np") as f:
            for name in f.keys():  # noqa: SIM118  not a dict
                out[name] = (_read_bf16(path, *bf16[name]) if name in bf16
                             else f.get_tensor(name))
        return out
    except OSError:
        raise
    except Exception as exc:  # noqa: BLE001  SafetensorError and friends
        raise CheckpointFormatError(
            f"{path}: cannot read .safetensors ({type(exc).__name__}: "
            f"{exc})") from None


def load_state_dict_file(path: str | os.PathLike[str], *,
                         key: str | None = None) -> dict[str, np.ndarray]:
    """Reads a checkpoint file into a state dict of NumPy arrays.

    The format is chosen from the name: ``.safetensors`` and ``.npz`` by
    extension; anything else (``.pth``, ``.pt``, ``.bin``, ...) is read as a
    ``torch.save`` file, zip or legacy, told apart by its first bytes. The
    torch counterpart is ``torch.load(path, map_location="cpu",
    weights_only=True)`` (or ``safetensors.torch.load_file``) followed by
    picking the state dict.

    Args:
        path: the checkpoint file.
        key: the entry of a checkpoint dict that holds the state dict, e.g.
            ``"model_ema"``. By default the file's top-level object is used
            if it is a state dict (every key a str, every value a tensor),
            else its ``"state_dict"`` entry, else its ``"model"`` entry
            (:data:`STATE_DICT_KEYS`), the first that is a state dict.

    Returns:
        dict from parameter/buffer name (as in ``module.state_dict()``) to a
        C-contiguous, native-byte-order ndarray, in file order. dtypes are
        kept, except bfloat16 which becomes float32 (exact; NumPy has no
        bfloat16), in torch and safetensors files alike.

    Raises:
        TypeError: ``path`` is not a path, or ``key`` not a str.
        UnsafeCheckpointError: a torch file's pickle names a global outside
            featx's allowlist (a pickled model class, ``os.system``, ...);
            nothing in it was run. A ``pickle.UnpicklingError``.
        CheckpointFormatError: the file is truncated, corrupted or in no
            supported format; the message names the file and the fault.
            A ``ValueError``.
        ValueError: the file loads but holds no state dict where looked.
        KeyError: ``key`` is not an entry of the checkpoint.
        ImportError: a ``.safetensors`` file without the ``safetensors``
            package installed.
        IsADirectoryError: ``path`` is a folder (the message names the
            checkpoint files in it). An ``OSError``.
        OSError: the file cannot be opened.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "weights.npz")
        >>> np.savez(path, **{"conv1.weight": np.ones((4, 3, 3, 3), "f4")})
        >>> sd = load_state_dict_file(path)  # or "resnet18-f37072fd.pth"
        >>> sd["conv1.weight"].shape, sd["conv1.weight"].dtype
        ((4, 3, 3, 3), dtype('float32'))
    """
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(
            f"load_state_dict_file: expected a file path (str or os.PathLike), got "
            f"{type(path).__name__} {path!r}")
    if key is not None and not isinstance(key, str):
        raise TypeError(
            f"load_state_dict_file: key must be the name (str) of a checkpoint entry such "
            f"as 'model_ema', got {type(key).__name__} {key!r}")
    path = os.fsdecode(path)
    refuse_folder(path, "path")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".safetensors":
        return _pick_state_dict(_load_safetensors(path), path, key)
    if ext == ".npz":
        return _pick_state_dict(_load_npz(path), path, key)
    return _pick_state_dict(load_torch_file(path), path, key)
