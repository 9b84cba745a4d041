"""Features from image collections: list files, decode in threads, extract in batches, write.

:func:`extract` streams batches ``(paths, {node: array})`` from files, folders (searched
recursively for image extensions) and glob patterns, in sorted path order. Images are decoded
with Pillow and preprocessed in a few worker threads while the extractor runs on the previous
batch. A file that cannot be read (corrupt, truncated, not an image) is skipped with one
:class:`SkippedImageWarning` naming the file and the reason; the run goes on.

:func:`write_features` runs :func:`extract` and streams the rows to disk with bounded memory,
as one ``.npy`` per node in a directory (``format="npy-dir"``) or one ``.npz``
(``format="npz"``), plus ``files.txt``: line ``i`` is the file of row ``i``. After each batch
is on disk, a progress record (``progress.json``) is replaced atomically, so a run that is
killed continues where it stopped when it is started again with the same output: rows already
written are neither lost nor written twice.

Example:
    >>> import featx
    >>> from featx.extract import extract
    >>> from featx.transforms import sample_image_path
    >>> model = featx.models.resnet18()
    >>> for paths, feats in extract(model, [sample_image_path()], ["layer4"], pool="avg"):
    ...     print(len(paths), feats["layer4"].shape)
    1 (1, 512)
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import json
import os
import re
import shutil
import warnings
import zipfile
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from ._args import int_arg

__all__ = [
    "IMAGE_EXTENSIONS",
    "BatchInfo",
    "FeatureStream",
    "SkippedImageWarning",
    "WriteResult",
    "extract",
    "list_images",
    "reduce_features",
    "write_features",
]

#: File name endings (lower case) that a folder search collects.
IMAGE_EXTENSIONS = (
    ".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp",
    ".ppm", ".pgm", ".pbm", ".pnm",
)
POOLS = ("none", "avg", "max")
FORMATS = ("npy-dir", "npz")
PROGRESS_FILE = "progress.json"
LOCK_FILE = ".lock"
FILES_FILE = "files.txt"
_GLOB_CHARS = re.compile(r"[*?\[]")


class SkippedImageWarning(UserWarning):
    """A file was skipped because it could not be decoded as an image."""


# --------------------------------------------------------------------------- listing


def list_images(inputs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[str]:
    """The files that ``inputs`` name, sorted and without duplicates.

    Args:
        inputs: one or several of: a file (kept whatever its extension, so that an unreadable
            one is reported, not silently dropped); a folder (searched recursively for files
            whose name ends in one of :data:`IMAGE_EXTENSIONS`, case-insensitive, hidden
            files and folders skipped); a glob pattern (``*``, ``?``, ``[...]``; ``**`` matches
            folders recursively; matched files are kept, matched folders searched).

    Returns:
        Normalised paths (``os.path.normpath``, relative paths stay relative), sorted by
        their string value.

    Raises:
        FileNotFoundError: a path that is not a glob pattern does not exist, or a pattern
            matches nothing.
        ValueError: ``inputs`` is empty or names no image file at all.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    elif isinstance(inputs, Iterable):
        inputs = list(inputs)
    else:
        raise TypeError(f"inputs must be a path, a glob pattern or a list of them, got "
                        f"{type(inputs).__name__} {inputs!r}")
    if not inputs:  # (a generator is read once: kept for the message below)
        raise ValueError("no inputs given: expected image files, folders or glob patterns")
    found: set[str] = set()
    for item in inputs:
        spec = os.fspath(item)
        if os.path.lexists(spec):  # a dangling link is listed, then skipped
            matches = [spec]
        elif _GLOB_CHARS.search(spec):
            matches = glob.glob(spec, recursive=True)
            if not matches:
                raise FileNotFoundError(f"no file matches the pattern {spec!r}")
        else:
            raise FileNotFoundError(f"no such file or folder: {spec!r}")
        for m in matches:
            if os.path.isdir(m):
                found.update(_images_in(m))
            else:
                found.add(os.path.normpath(m))
    if not found:
        names = ", ".join(repr(os.fspath(i)) for i in inputs)
        raise ValueError(
            f"no image files in {names} (extensions: {' '.join(IMAGE_EXTENSIONS)})"
        )
    return sorted(found)


def _images_in(folder: str) -> list[str]:
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS):
                out.append(os.path.normpath(os.path.join(root, name)))
    return out


# --------------------------------------------------------------------------- reduction


def reduce_features(
    features: Mapping[str, Any], pool: str = "none", flatten: bool = False
) -> dict[str, np.ndarray]:
    """Global pooling over the spatial axes and flattening of a batch of features.

    Args:
        features: {key: array}; each array has the batch on axis 0.
        pool: ``"none"``; ``"avg"`` (mean) or ``"max"`` over H and W of every 4-D (N, C, H, W)
            array, giving (N, C). Arrays of other ranks (logits (N, K), tokens (N, L, D)) are
            not pooled.
        flatten: reshape every array of rank > 2 to (N, -1), after pooling.

    Returns:
        A new dict with the same keys and order, C-contiguous arrays.

    Raises:
        ValueError: unknown ``pool``; a value that is a tuple or list of arrays (a node
            such as ``chunk``), which has no batch axis: request its elements (the
            ``getitem`` nodes) instead.

    Example:
        >>> x = np.arange(8, dtype=np.float32).reshape(1, 2, 2, 2)
        >>> reduce_features({"a": x}, pool="max")["a"]
        array([[3., 7.]], dtype=float32)
    """
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
    out: dict[str, np.ndarray] = {}
    for key, value in features.items():
        if isinstance(value, (tuple, list)):
            raise ValueError(
                f"output {key!r} is a {type(value).__name__} of {len(value)} values, not one "
                "array with the batch on axis 0; request its elements instead, the getitem "
                "nodes that follow it in the node list (get_graph_node_names(model), or "
                "'featx nodes MODEL')")
        a = np.asarray(value)
        if pool != "none" and a.ndim == 4:
            a = a.mean(axis=(2, 3)) if pool == "avg" else a.max(axis=(2, 3))
        if flatten and a.ndim > 2:
            a = a.reshape(a.shape[0], -1)
        out[key] = np.ascontiguousarray(a)
    return out


# --------------------------------------------------------------------------- streaming


def _resolve(
    model_or_extractor: Any, return_nodes: Any, weights: Any, transform: Any
) -> tuple[Any, Any]:
    """(extractor, transform) from extract()'s arguments."""
    from featx.fx.graph_module import FeatureExtractor
    from featx.models import WeightsEnum, get_model, get_model_weights
    from featx.models.feature_extraction import create_feature_extractor
    from featx.transforms import ImageClassification

    member = weights if isinstance(weights, WeightsEnum) else None
    if isinstance(model_or_extractor, str):
        if isinstance(weights, str):
            try:
                member = get_model_weights(model_or_extractor).verify(weights)
            except ValueError:
                member = None  # a checkpoint file: get_model reads it, no preset
        model = get_model(model_or_extractor, weights=weights)
    elif weights is not None and member is None:
        raise TypeError(
            "weights given with a model or extractor must be a weights enum member "
            f"(its preset is used), got {weights!r}"
        )
    else:
        model = model_or_extractor
    if isinstance(model, FeatureExtractor):
        if return_nodes is not None:
            raise ValueError("return_nodes must be None when an extractor is given")
        extractor = model
    else:
        if return_nodes is None:
            raise ValueError("return_nodes is needed with a model (or pass an extractor)")
        # The extractor's mode is its own: eval here, the model's flags untouched.
        extractor = create_feature_extractor(
            model, return_nodes=return_nodes, suppress_diff_warning=True
        ).eval()
    if transform is None:
        transform = member.transforms() if member is not None else ImageClassification()
    return extractor, transform


def _decode(path: str) -> tuple[Any, str | None]:
    """(RGB image, None) or (None, reason). Runs in a worker thread."""
    from featx.transforms import load_image

    try:
        return load_image(path), None
    except Exception as e:  # noqa: BLE001 - a decoder may raise anything on corrupt data
        reason = " ".join(str(e).split()) or type(e).__name__
        return None, reason.removeprefix(f"cannot read image {path!r}: ")


def _load(path: str, transform: Callable[[Any], Any]) -> tuple[np.ndarray | None, str | None]:
    img, reason = _decode(path)
    if img is None:
        return None, reason
    return np.asarray(transform(img), dtype=np.float32), None


class FeatureStream:
    """An iterable of batches ``(paths, {key: array})``; made by :func:`extract`.

    Attributes:
        files: every listed file, sorted; rows follow this order, without skipped files.
        position: how many of ``files`` have been consumed (read into a batch or skipped);
            after a batch is yielded, every file up to it is accounted for.
        rows: number of images yielded so far (in this stream).
        skipped: ``(path, reason)`` of every file skipped so far.
    """

    def __init__(
        self,
        files: Sequence[str],
        extractor: Any,
        transform: Callable[[Any], Any],
        batch_size: int,
        pool: str,
        flatten: bool,
        num_workers: int,
        start: int,
        on_skip: Callable[[str, str], None] | None,
    ) -> None:
        self.files = list(files)
        self.extractor = extractor
        self.transform = transform
        self.batch_size = batch_size
        self.pool = pool
        self.flatten = flatten
        self.num_workers = num_workers
        self.position = start
        self.rows = 0
        self.skipped: list[tuple[str, str]] = []
        self._on_skip = on_skip
        self._started = False
        #: path -> reason to skip it without reading it, or None (write_features: names
        #: that its files index cannot hold).
        self._reject: Callable[[str], str | None] | None = None

    def __len__(self) -> int:
        """Number of listed files (an upper bound on the rows)."""
        return len(self.files)

    def _skip(self, path: str, reason: str) -> None:
        self.skipped.append((path, reason))
        if self._on_skip is not None:
            self._on_skip(path, reason)
        else:
            warnings.warn(f"skipped {path!r}: {reason}", SkippedImageWarning, stacklevel=3)

    def __iter__(self) -> Iterator[tuple[list[str], dict[str, np.ndarray]]]:
        if self._started:
            raise RuntimeError("a FeatureStream can be iterated only once")
        self._started = True
        return self._run()

    def _run(self) -> Iterator[tuple[list[str], dict[str, np.ndarray]]]:
        files, n = self.files, len(self.files)
        ahead = max(2 * self.batch_size, self.num_workers)  # decoded images held, at most
        pending: deque[tuple[int, Future[Any]]] = deque()
        executor = ThreadPoolExecutor(max(1, self.num_workers), thread_name_prefix="featx-decode")
        nxt = self.position

        def fill() -> None:
            nonlocal nxt
            while nxt < n and len(pending) < ahead:
                reason = self._reject(files[nxt]) if self._reject is not None else None
                if reason is not None:
                    done: Future[Any] = Future()
                    done.set_result((None, reason))
                    pending.append((nxt, done))
                else:
                    pending.append((nxt, executor.submit(_load, files[nxt], self.transform)))
                nxt += 1

        paths: list[str] = []
        arrays: list[np.ndarray] = []
        try:
            fill()
            while pending:
                i, fut = pending.popleft()
                x, reason = fut.result()
                if x is None:
                    self._skip(files[i], str(reason))
                else:
                    if arrays and x.shape != arrays[0].shape:
                        raise ValueError(
                            f"the transform gave an array of shape {x.shape} for "
                            f"{files[i]!r} but {arrays[0].shape} for {paths[0]!r}; the "
                            "images of a batch must have one shape (crop them to one "
                            "size, as ImageClassification does)")
                    paths.append(files[i])
                    arrays.append(x)
                fill()  # keep the workers busy while the extractor runs
                if paths and (len(paths) == self.batch_size or i + 1 == n):
                    out = self.extractor(np.stack(arrays))
                    feats = reduce_features(out, self.pool, self.flatten)
                    for key, a in feats.items():
                        if a.ndim == 0 or a.shape[0] != len(paths):
                            raise ValueError(
                                f"output {key!r} has shape {a.shape} for a batch of "
                                f"{len(paths)} images: its axis 0 is not the batch, so it "
                                "cannot be split into one row per image")
                    self.position = i + 1
                    self.rows += len(paths)
                    batch, paths, arrays = paths, [], []
                    yield batch, feats
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
        self.position = n


def _check_options(batch_size: Any, pool: Any, num_workers: Any) -> None:
    int_arg("batch_size", batch_size, 1, unit="images")
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
    int_arg("num_workers", num_workers, 0, unit="threads")


def extract(
    model_or_extractor: Any,
    inputs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    return_nodes: Any = None,
    *,
    weights: Any = None,
    transform: Callable[[Any], Any] | None = None,
    batch_size: int = 32,
    pool: str = "none",
    flatten: bool = False,
    num_workers: int = 2,
    start: int = 0,
    on_skip: Callable[[str, str], None] | None = None,
) -> FeatureStream:
    """Features of every image in files, folders and glob patterns, in batches.

    Args:
        model_or_extractor: a model name for ``featx.models.get_model``, a featx model
            (its extractor runs in eval mode; the model's own mode flags are left as they
            are) or an extractor from ``create_feature_extractor``.
        inputs: files, folders and glob patterns, as :func:`list_images` takes them.
        return_nodes: as in ``create_feature_extractor``; needed with a model or model name,
            None with an extractor.
        weights: with a model name, the weights to build it with (enum member, its name such
            as ``"DEFAULT"``, or a checkpoint file); with a model or extractor, a weights enum
            member whose preset is used. Default: random weights (model name).
        transform: PIL image (RGB) -> (3, H, W) float32 array, called from the worker
            threads (so it must be thread-safe; featx's presets are); default: the weights'
            preset (``weights.transforms()``), else ``featx.transforms.ImageClassification()``.
        batch_size: images per batch (readable ones; skipped files do not count).
        pool: ``"none"``, ``"avg"`` or ``"max"``: global pooling over H and W of 4-D
            features (see :func:`reduce_features`).
        flatten: reshape features of rank > 2 to (N, -1).
        num_workers: threads that decode and preprocess images (0 or 1: one thread).
        start: index into the sorted file list to begin at (to resume).
        on_skip: called as ``on_skip(path, reason)`` for each unreadable file instead of
            warning.

    Returns:
        A :class:`FeatureStream`: iterate it for ``(paths, {key: array})``, each array with
        ``len(paths)`` rows on axis 0. Files are listed and the extractor is built now;
        images are read while iterating.

    Raises:
        FileNotFoundError, ValueError: see :func:`list_images`; bad ``batch_size``, ``pool``,
            ``start`` or ``return_nodes``.
        TypeError: ``weights`` that is not an enum member with a model or extractor.

    Warns:
        SkippedImageWarning: once per file that cannot be decoded (unless ``on_skip``).
    """
    _check_options(batch_size, pool, num_workers)
    files = list_images(inputs)
    return _make_stream(files, model_or_extractor, return_nodes, weights, transform,
                        batch_size, pool, flatten, num_workers, start, on_skip)


def _make_stream(files: list[str], model_or_extractor: Any, return_nodes: Any, weights: Any,
                 transform: Any, batch_size: int, pool: str, flatten: bool, num_workers: int,
                 start: int, on_skip: Callable[[str, str], None] | None) -> FeatureStream:
    start = int_arg("start", start, 0, len(files), of=f" (the {len(files)} files found)")
    extractor, transform = _resolve(model_or_extractor, return_nodes, weights, transform)
    return FeatureStream(
        files, extractor, transform, batch_size, pool, flatten, num_workers, start, on_skip
    )


# --------------------------------------------------------------------------- writing


class BatchInfo(NamedTuple):
    """What :func:`write_features` passes to ``on_batch`` after a batch is on disk."""

    paths: list[str]
    features: dict[str, np.ndarray]  # before pooling / flattening
    first_row: int
    files_done: int
    files_total: int


@dataclass
class WriteResult:
    """Summary of :func:`write_features`.

    Attributes:
        out: the output (directory for ``npy-dir``, ``.npz`` file for ``npz``).
        format: ``"npy-dir"`` or ``"npz"``.
        files: number of listed files.
        rows: rows in the output (readable images).
        skipped: ``(path, reason)`` of every unreadable file, also from an earlier run.
        shapes: {key: shape of the whole array}.
        resumed_rows: rows that an earlier, interrupted run had written (0: a fresh start).
        files_index: the file whose line ``i`` names the image of row ``i``.
        was_complete: the output was already complete; nothing was run.
    """

    out: str
    format: str
    files: int
    rows: int
    skipped: list[tuple[str, str]] = field(default_factory=list)
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    resumed_rows: int = 0
    files_index: str = ""
    was_complete: bool = False


def _safe_name(key: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]", "_", key).lstrip(".") or "_"
    return name


def _unrecordable_name(path: str) -> str | None:
    """Why ``path`` cannot be a line of the files index (row i = line i), or None."""
    if "\n" in path or "\r" in path:
        return ("its name holds a line break, which the files index (one name per line) "
                "cannot record; rename the file")
    return None


def _write_json_atomic(path: str, obj: Any) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _data_offset(path: str) -> tuple[int, int]:
    """(bytes before the header text, bytes before the data) of an .npy file."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        prefix = f.tell() + (2 if version == (1, 0) else 4)
        if version == (1, 0):
            np.lib.format.read_array_header_1_0(f)
        else:
            np.lib.format.read_array_header_2_0(f)
        return prefix, f.tell()


class _NpyRows:
    """An .npy file of a fixed capacity in rows, written row block by row block."""

    def __init__(self, path: str, dtype: np.dtype, row_shape: tuple[int, ...],
                 capacity: int, create: bool) -> None:
        self.path, self.dtype, self.row_shape = path, np.dtype(dtype), tuple(row_shape)
        self.row_bytes = int(np.prod(row_shape, dtype=np.int64)) * self.dtype.itemsize
        if create:
            mm = np.lib.format.open_memmap(
                path, mode="w+", dtype=self.dtype, shape=(capacity, *self.row_shape)
            )
            del mm  # a sparse file of the full size, header written
        self.prefix, self.offset = _data_offset(path)
        self._f = open(path, "r+b")  # noqa: SIM115 - closed in close()

    def write(self, row: int, block: np.ndarray) -> None:
        self._f.seek(self.offset + row * self.row_bytes)
        self._f.write(np.ascontiguousarray(block, dtype=self.dtype).tobytes())

    def sync(self) -> None:
        self._f.flush()
        os.fsync(self._f.fileno())

    def finish(self, rows: int) -> None:
        """Shrink to ``rows`` rows: rewrite the header's shape (same length) and truncate."""
        header = repr({
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": (rows, *self.row_shape),
        }).encode("latin1")
        room = self.offset - self.prefix - 1
        if len(header) > room:  # cannot happen: the row count only gets shorter
            raise RuntimeError(f"{self.path}: no room for the final .npy header")
        self._f.seek(self.prefix)
        self._f.write(header + b" " * (room - len(header)) + b"\n")
        self._f.truncate(self.offset + rows * self.row_bytes)
        self.sync()

    def close(self) -> None:
        self._f.close()


def write_features(
    model_or_extractor: Any,
    inputs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    return_nodes: Any = None,
    *,
    format: str = "npy-dir",  # the CLI option's name, shadowing the builtin
    weights: Any = None,
    transform: Callable[[Any], Any] | None = None,
    batch_size: int = 32,
    pool: str = "none",
    flatten: bool = False,
    num_workers: int = 2,
    config: Mapping[str, Any] | None = None,
    on_batch: Callable[[BatchInfo], None] | None = None,
    on_skip: Callable[[str, str], None] | None = None,
    on_start: Callable[[FeatureStream, int], None] | None = None,
) -> WriteResult:
    """Run :func:`extract` and stream the rows to disk; continue an interrupted run.

    Layout, ``format="npy-dir"``: ``out/`` holds ``<key>.npy`` per returned key (characters
    other than letters, digits, ``.``, ``_``, ``-`` replaced by ``_``; ``progress.json`` maps
    keys to files), ``files.txt`` (line ``i``: the file of row ``i``) and ``progress.json``.
    ``format="npz"``: ``out`` is one ``.npz`` (keys = returned keys; ``.npz`` is appended to a
    name without it, as ``np.savez`` does) written at the end from
    the parts in ``out + ".parts/"`` (removed afterwards), plus ``files.txt`` next to it as
    ``<out without .npz>.files.txt``.

    Each array is created with one row per listed file (an upper bound), filled batch by
    batch and truncated to the readable rows at the end; memory use is a few batches.

    Resume: ``progress.json`` (replaced atomically after every batch is flushed to disk)
    records the listed files' digest, ``config``, ``pool``, ``flatten``, ``files_done``,
    ``rows_done`` and the skipped files. A new call with the same output, the same file list
    and settings continues at ``files_done``; rows past ``rows_done`` (from a batch that was
    not recorded) are overwritten. A finished output is returned as it is (for ``npz``,
    ``out + ".parts/progress.json"`` stays as the record; if the ``.npz`` is gone, the call
    says so: remove the ``.parts`` folder to extract afresh).

    Args:
        model_or_extractor, inputs, return_nodes, weights, transform, batch_size, pool,
            flatten, num_workers, on_skip: as in :func:`extract`.
        out: output directory (``npy-dir``) or ``.npz`` file (``npz``).
        format: ``"npy-dir"`` or ``"npz"``.
        config: JSON-serialisable settings that must match to resume (model name, nodes,
            weights, image size, ...); the caller knows what defines its features.
            Default: the model (its name, or its class and a checksum of its state_dict),
            ``return_nodes`` (an extractor's returned nodes), ``weights`` and ``transform``
            (its repr, or a function's qualified name).
        on_batch: called with a :class:`BatchInfo` after each batch is on disk.
        on_start: called as ``on_start(stream, rows_done)`` before the first batch.

    Returns:
        A :class:`WriteResult`.

    Raises:
        ValueError: unknown format; ``out`` holds another extraction (different files or
            settings: the message names each setting that differs) or is a non-empty folder
            that featx did not write.
        FileNotFoundError: see :func:`list_images`.
        OSError: the output cannot be written.
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    _check_options(batch_size, pool, num_workers)
    out = os.fspath(out)
    if format == "npz" and not out.endswith(".npz"):
        out += ".npz"  # as np.savez names it; never the bare path, which may be another file
    work = out if format == "npy-dir" else out + ".parts"
    files_index = (
        os.path.join(work, FILES_FILE) if format == "npy-dir"
        else os.path.splitext(out)[0] + ".files.txt"
    )
    files = list_images(inputs)
    digest = hashlib.sha256("\n".join(files).encode("utf-8", "surrogateescape")).hexdigest()
    if config is None:
        config = _fingerprint(model_or_extractor, return_nodes, weights, transform)
    settings = {"pool": pool, "flatten": bool(flatten),
                "config": json.loads(json.dumps(dict(config)))}
    progress_path = os.path.join(work, PROGRESS_FILE)

    state: dict[str, Any] | None = None
    if os.path.isfile(progress_path):
        with open(progress_path, encoding="utf-8") as f:
            state = json.load(f)
        if state.get("files_sha256") != digest:
            what = (f"a different file list ({state.get('files_total')} there, "
                    f"{len(files)} now)")
        elif state.get("settings") != settings:
            what = f"different settings ({_settings_diff(state.get('settings'), settings)})"
        else:
            what = ""
        if what:
            raise ValueError(
                f"{work!r} holds an extraction of {what}; remove it or "
                "choose another output to start afresh"
            )
    elif os.path.isdir(work) and set(os.listdir(work)) - {LOCK_FILE}:
        raise ValueError(f"{work!r} is a non-empty folder without {PROGRESS_FILE}; "
                         "choose an empty or new output")
    elif os.path.exists(work) and not os.path.isdir(work):
        raise ValueError(f"cannot write to {work!r}: it exists and is not a folder")
    if state is None and format == "npz":
        for path in (out, files_index):
            if os.path.lexists(path):
                raise ValueError(f"{path!r} already exists; remove it or choose "
                                 "another output")
    os.makedirs(work, exist_ok=True)
    lock = _lock(work)
    try:
        return _write_locked(state, progress_path, work, files_index, files, digest,
                             settings, format, out, model_or_extractor, return_nodes,
                             weights, transform, batch_size, flatten, pool, num_workers,
                             on_batch, on_skip, on_start)
    finally:
        os.close(lock)


def _lock(work: str) -> int:
    """Holds an exclusive lock on ``work`` for this process (released when the
    process ends, also when it is killed), so two runs never write one output."""
    fd = os.open(os.path.join(work, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ValueError(f"another featx run is writing to {work!r}; wait for it to "
                         "finish or choose another output") from None
    return fd


def _fingerprint(model_or_extractor: Any, return_nodes: Any, weights: Any,
                 transform: Any) -> dict[str, Any]:
    """What defines the features when the caller gives no ``config``, so that a resume
    never mixes two models', node sets' or preprocessings' rows: the model's class or
    name, the returned nodes, the weights spec, the transform and a checksum of the
    model's state_dict."""
    nodes = return_nodes
    if nodes is None:  # an extractor: the nodes it returns
        nodes = getattr(model_or_extractor, "return_nodes", None)
    if isinstance(nodes, Mapping):
        nodes = {str(k): str(v) for k, v in nodes.items()}
    elif isinstance(nodes, list):
        nodes = [str(q) for q in nodes]
    elif nodes is not None:
        nodes = str(nodes)  # the extractor refuses it
    config = {"model": model_or_extractor, "nodes": nodes, "weights": str(weights),
              "transform": None if transform is None else _describe_callable(transform)}
    if not isinstance(model_or_extractor, str):
        crc = 0
        for key, value in model_or_extractor.state_dict().items():
            crc = zlib.crc32(key.encode(), crc)
            crc = zlib.crc32(np.ascontiguousarray(value).view(np.uint8).data, crc)
        config["model"] = type(model_or_extractor).__name__
        config["state_dict_crc32"] = crc
    return config


def _describe_callable(fn: Any) -> str:
    """A transform's description that is the same in every process: its repr when its
    class defines one (featx's presets), else its qualified name (a default repr holds
    a memory address)."""
    if hasattr(fn, "__qualname__"):  # a function or class
        return f"{getattr(fn, '__module__', None)}.{fn.__qualname__}"
    if type(fn).__repr__ is object.__repr__:
        return f"{type(fn).__module__}.{type(fn).__qualname__}"
    return repr(fn)


def _settings_diff(old: Any, new: dict[str, Any]) -> str:
    """'name: value there, value now' for each setting that differs."""
    def flat(settings: Any) -> dict[str, Any]:
        settings = settings if isinstance(settings, dict) else {}
        config = settings.get("config")
        return {"pool": settings.get("pool"), "flatten": settings.get("flatten"),
                **(config if isinstance(config, dict) else {})}

    a, b = flat(old), flat(new)
    return "; ".join(f"{k}: {a.get(k)!r} there, {b.get(k)!r} now"
                     for k in dict.fromkeys([*a, *b]) if a.get(k) != b.get(k))


def _write_locked(state: dict[str, Any] | None, progress_path: str, work: str,
                  files_index: str, files: list[str], digest: str,
                  settings: dict[str, Any], format: str, out: str,
                  model_or_extractor: Any, return_nodes: Any, weights: Any,
                  transform: Any, batch_size: int, flatten: bool, pool: str,
                  num_workers: int, on_batch: Any, on_skip: Any,
                  on_start: Any) -> "WriteResult":
    if state is None:
        state = {"version": 1, "files_sha256": digest, "files_total": len(files),
                 "settings": settings, "format": format, "files_done": 0, "rows_done": 0,
                 "files_bytes": 0, "skipped": [], "nodes": {}, "complete": False}
    resumed_rows = int(state["rows_done"])
    was_complete = bool(state["complete"])
    if not was_complete:
        _run_into(state, progress_path, work, files_index if format == "npy-dir"
                  else os.path.join(work, FILES_FILE), model_or_extractor, files,
                  return_nodes, weights, transform, batch_size, flatten, pool, num_workers,
                  on_batch, on_skip, on_start)
    shapes = {k: (state["rows_done"], *v["row_shape"]) for k, v in state["nodes"].items()}
    if format == "npz":
        if not state.get("assembled"):
            _assemble_npz(state, progress_path, work, out, files_index)
        elif not (os.path.isfile(out) and os.path.isfile(files_index)):
            raise ValueError(
                f"{work!r} records a finished extraction, but {out!r} or "
                f"{files_index!r} is gone; remove {work!r} to extract afresh")
    return WriteResult(
        out=out, format=format, files=len(files), rows=int(state["rows_done"]),
        skipped=[(p, r) for p, r in state["skipped"]], shapes=shapes,
        resumed_rows=resumed_rows, files_index=files_index, was_complete=was_complete,
    )


def _run_into(state: dict[str, Any], progress_path: str, work: str, index_path: str,
              model_or_extractor: Any, files: list[str], return_nodes: Any, weights: Any,
              transform: Any, batch_size: int, flatten: bool, pool: str, num_workers: int,
              on_batch: Callable[[BatchInfo], None] | None,
              on_skip: Callable[[str, str], None] | None,
              on_start: Callable[[FeatureStream, int], None] | None) -> None:
    stream = _make_stream(files, model_or_extractor, return_nodes, weights, transform,
                          batch_size, "none", False, num_workers, int(state["files_done"]),
                          on_skip)
    stream._reject = _unrecordable_name
    # Recorded only now that the model, nodes and start are known to be good, so a call
    # that fails on them leaves nothing that a corrected call would refuse.
    _write_json_atomic(progress_path, state)
    # Rows and index lines past the last progress record belong to an unrecorded batch.
    with open(index_path, "ab") as idx:
        idx.truncate(int(state["files_bytes"]))
    writers: dict[str, _NpyRows] = {}
    for key, info in state["nodes"].items():
        writers[key] = _NpyRows(os.path.join(work, info["file"]), np.dtype(info["dtype"]),
                                tuple(info["row_shape"]), len(files), create=False)
    if on_start is not None:
        on_start(stream, int(state["rows_done"]))
    recorded = len(state["skipped"])
    try:
        with open(index_path, "ab") as idx:
            for paths, raw in stream:
                feats = reduce_features(raw, pool, flatten)
                row = int(state["rows_done"])
                if not writers:
                    used: set[str] = set()
                    for key, a in feats.items():
                        name = _safe_name(key)
                        while name.lower() in used:
                            name = "_" + name
                        used.add(name.lower())
                        state["nodes"][key] = {"file": name + ".npy", "dtype": a.dtype.str,
                                               "row_shape": list(a.shape[1:])}
                        writers[key] = _NpyRows(os.path.join(work, name + ".npy"), a.dtype,
                                                a.shape[1:], len(files), create=True)
                if list(feats) != list(writers):
                    raise ValueError(f"the extractor returned keys {list(feats)}, the output "
                                     f"holds {list(writers)}")
                for key, a in feats.items():
                    w = writers[key]
                    if tuple(a.shape[1:]) != w.row_shape:
                        raise ValueError(f"{key!r}: rows of shape {a.shape[1:]}, the output "
                                         f"holds rows of shape {w.row_shape}")
                    w.write(row, a)
                    w.sync()
                idx.write("".join(p + "\n" for p in paths).encode("utf-8", "surrogateescape"))
                idx.flush()
                os.fsync(idx.fileno())
                state["rows_done"] = row + len(paths)
                state["files_done"] = stream.position
                state["files_bytes"] = idx.tell()
                state["skipped"].extend([p, r] for p, r in stream.skipped[recorded:])
                recorded = len(stream.skipped)
                _write_json_atomic(progress_path, state)
                if on_batch is not None:
                    on_batch(BatchInfo(paths, dict(raw), row, stream.position, len(files)))
        for w in writers.values():
            w.finish(int(state["rows_done"]))
        state["skipped"].extend([p, r] for p, r in stream.skipped[recorded:])
        state["files_done"] = len(files)
        state["complete"] = True
        _write_json_atomic(progress_path, state)
    finally:
        for w in writers.values():
            w.close()


def save_npz(f: Any, arrays: Mapping[str, np.ndarray]) -> None:
    """``np.savez(f, **arrays)`` for any keys: np.savez takes its own ``file`` and
    ``allow_pickle`` parameters from the keywords, so an output key of that name raised
    TypeError or was swallowed (an empty archive). Arrays are written in chunks."""
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, a in arrays.items():
            with zf.open(key + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(a), allow_pickle=False)


def _assemble_npz(state: dict[str, Any], progress_path: str, work: str, out: str,
                  files_index: str) -> None:
    """Writes the .npz and its files index from the chunks in ``work``, then
    deletes the chunks; ``work`` keeps only progress.json (marked assembled),
    so re-running the same command finds the extraction complete."""
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        arrays = {k: np.load(os.path.join(work, v["file"]), mmap_mode="r")
                  for k, v in state["nodes"].items()}
        save_npz(f, arrays)  # written in chunks, not loaded whole
        del arrays
        f.flush()
        os.fsync(f.fileno())
    shutil.copyfile(os.path.join(work, FILES_FILE), files_index + ".tmp")
    os.replace(files_index + ".tmp", files_index)
    os.replace(tmp, out)
    state["assembled"] = True
    _write_json_atomic(progress_path, state)
    for name in os.listdir(work):
        if name not in (PROGRESS_FILE, LOCK_FILE):
            path = os.path.join(work, name)
            if os.path.isdir(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
