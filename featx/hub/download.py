"""Downloading checkpoints into torch's cache, without torch (``torch.hub``'s download half).

Files live where torch keeps them, so a file a user already downloaded with torchvision is found
and never fetched again: ``<hub dir>/checkpoints/<file name>``, where the hub directory is
(:func:`get_dir`, the same order as ``torch.hub.get_dir``):

1. the directory given to :func:`set_dir`, if any;
2. ``$TORCH_HOME/hub``;
3. ``$XDG_CACHE_HOME/torch/hub``;
4. ``~/.cache/torch/hub``.

A download (:func:`download_url_to_file`) streams into a temporary file in the destination's
own directory, hashes it with SHA-256 on the way, checks the byte count against the server's
``Content-Length`` and the digest against the expected prefix, and only then renames it onto
the final name with ``os.replace`` (atomic on POSIX and Windows). Any failure, including
Ctrl-C, removes the temporary file: a file under the final name is always complete.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import numpy as np

__all__ = [
    "ChecksumError",
    "DownloadError",
    "download_url_to_file",
    "get_dir",
    "hash_prefix_from_file_name",
    "load_state_dict_from_url",
    "set_dir",
]

ENV_TORCH_HOME = "TORCH_HOME"
ENV_XDG_CACHE_HOME = "XDG_CACHE_HOME"
DEFAULT_CACHE_DIR = "~/.cache"
#: torch.hub's convention: the hash prefix is the first ``-<hex>.`` of the file name.
HASH_REGEX = re.compile(r"-([a-f0-9]*)\.")
#: Bytes read per chunk while downloading.
CHUNK_SIZE = 1 << 16
#: Seconds without data before a download gives up.
DEFAULT_TIMEOUT = 60.0

# The only module-level mutable state: set_dir()'s override (torch.hub keeps the same).
_hub_dir: str | None = None


class DownloadError(OSError):
    """A file could not be fetched (no network, HTTP error, connection cut mid-file).

    The message names the URL and the exact path where a manually downloaded copy must be put.
    torch.hub lets ``urllib.error.URLError`` (also an ``OSError``) through instead.
    """


class ChecksumError(RuntimeError):
    """A downloaded file's SHA-256 digest does not start with the expected prefix.

    A ``RuntimeError``, as torch.hub raises for it; nothing is left under the final name.
    """


def set_dir(d: str | os.PathLike[str]) -> None:
    """Use ``d`` as the hub directory instead of the environment (``torch.hub.set_dir``).

    Args:
        d: directory; checkpoints go to ``d/checkpoints``. ``~`` is expanded.
    """
    global _hub_dir
    _hub_dir = os.path.expanduser(os.fspath(d))


def get_dir() -> str:
    """The hub directory, resolved as ``torch.hub.get_dir`` does (see the module doc).

    Returns:
        Path of the hub directory (it need not exist yet); checkpoints are in its
        ``checkpoints`` subdirectory.
    """
    if _hub_dir is not None:
        return _hub_dir
    torch_home = os.getenv(ENV_TORCH_HOME)
    if torch_home is None:
        cache = os.getenv(ENV_XDG_CACHE_HOME, DEFAULT_CACHE_DIR)
        torch_home = os.path.join(cache, "torch")
    return os.path.join(os.path.expanduser(torch_home), "hub")


def hash_prefix_from_file_name(file_name: str) -> str | None:
    """The SHA-256 prefix torch.hub expects from a file name (``resnet50-0676ba61.pth``).

    Args:
        file_name: a base name.

    Returns:
        The hex digits after the first ``-`` that are followed by a ``.``, e.g. ``"0676ba61"``;
        None if the name has no such part.
    """
    m = HASH_REGEX.search(file_name)
    return m.group(1) if m else None


def _manual_hint(url: str, dst: str) -> str:
    return (
        f"to use the file without network, download {url} by other means and save it as "
        f"{dst} (or pass that local path as the weights)"
    )


def _progress_bar(total: int | None, enabled: bool) -> Any:
    """A tqdm bar on stderr, or a no-op object when disabled or tqdm is missing."""
    if enabled:
        try:
            from tqdm import tqdm  # type: ignore[import-untyped]

            return tqdm(
                total=total, disable=False, unit="B", unit_scale=True, unit_divisor=1024
            )
        except ImportError:
            pass

    class _NoBar:
        def update(self, n: int) -> None:
            pass

        def close(self) -> None:
            pass

    return _NoBar()


def download_url_to_file(
    url: str,
    dst: str | os.PathLike[str],
    hash_prefix: str | None = None,
    progress: bool = True,
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> None:
    """Download ``url`` to ``dst`` atomically (``torch.hub.download_url_to_file``).

    The body goes to a temporary file next to ``dst`` (same directory, so the final rename
    cannot cross file systems); it replaces ``dst`` only after the whole body arrived, its
    length matches ``Content-Length`` (when the server sent one) and its SHA-256 digest starts
    with ``hash_prefix`` (when given). On any error or interrupt the temporary file is removed
    and ``dst`` is left as it was.

    Args:
        url: ``http(s)://`` or ``file://`` URL.
        dst: destination file path; its directory must exist.
        hash_prefix: expected leading hex digits of the SHA-256 digest (any length, lower
            case), or None to skip the check.
        progress: show a tqdm progress bar (bytes) on stderr.
        timeout: seconds to wait for the connection and for each chunk of data.

    Raises:
        DownloadError: the server is unreachable, answers with an HTTP error, or the
            connection ends before ``Content-Length`` bytes arrived. An ``OSError``.
        ChecksumError: the digest does not start with ``hash_prefix``. A ``RuntimeError``.
        IsADirectoryError, FileNotFoundError: ``dst`` is a folder or its folder does not
            exist (checked before connecting).
        OSError: the temporary file cannot be created or renamed.
    """
    dst = os.path.abspath(os.path.expanduser(os.fspath(dst)))
    dst_dir = os.path.dirname(dst)
    # Checked before the download, which would otherwise fail only at its end, naming
    # the temporary file.
    if os.path.isdir(dst):
        raise IsADirectoryError(f"cannot save {url} as {dst}: it is a folder; give a "
                                f"file path")
    if not os.path.isdir(dst_dir):
        raise FileNotFoundError(f"cannot save {url} as {dst}: the folder {dst_dir} does "
                                f"not exist")
    req = urllib.request.Request(url, headers={"User-Agent": "featx.hub"})
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = (
            exc
            if isinstance(exc, urllib.error.HTTPError)
            else (getattr(exc, "reason", None) or exc)
        )
        raise DownloadError(
            f"cannot download {url}: {reason}; {_manual_hint(url, dst)}"
        ) from exc

    try:
        fd, tmp = tempfile.mkstemp(
            prefix="." + os.path.basename(dst) + ".", suffix=".partial", dir=dst_dir
        )
    except BaseException:
        resp.close()
        raise
    bar = None
    try:
        with resp, os.fdopen(fd, "wb") as f:
            length = resp.headers.get("Content-Length") if resp.headers else None
            total = int(length) if length and length.isdigit() else None
            sha256 = hashlib.sha256()
            bar = _progress_bar(total, progress)
            received = 0
            while True:
                try:
                    chunk = resp.read(CHUNK_SIZE)
                except (
                    OSError,
                    ValueError,
                ) as exc:  # http.client.IncompleteRead, resets
                    raise DownloadError(
                        f"download of {url} failed after {received} bytes: {exc!r}; "
                        f"{_manual_hint(url, dst)}"
                    ) from exc
                if not chunk:
                    break
                f.write(chunk)
                sha256.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
            bar.close()
            if total is not None and received != total:
                raise DownloadError(
                    f"download of {url} incomplete: got {received} of {total} bytes (the "
                    f"connection was closed early); {_manual_hint(url, dst)}"
                )
        if hash_prefix is not None:
            digest = sha256.hexdigest()
            if digest[: len(hash_prefix)] != hash_prefix:
                raise ChecksumError(
                    f"SHA-256 of {url}: expected a digest starting with {hash_prefix!r}, got "
                    f"{digest!r}; the file was not saved as {dst}"
                )
        os.replace(tmp, dst)
    except BaseException:
        if bar is not None:
            bar.close()
        try:
            os.remove(tmp)
        except FileNotFoundError:
            pass
        raise


def load_state_dict_from_url(
    url: str,
    model_dir: str | os.PathLike[str] | None = None,
    map_location: Any = None,
    progress: bool = True,
    check_hash: bool = False,
    file_name: str | None = None,
    weights_only: bool = True,
) -> dict[str, np.ndarray]:
    """Load a state dict from the cache, downloading it first if needed (torch.hub's name).

    The cached file is ``<model_dir>/<file_name>``: ``model_dir`` defaults to
    ``get_dir()/checkpoints`` (``~/.cache/torch/hub/checkpoints``, the directory torch uses)
    and ``file_name`` to the last component of the URL path. If that file exists it is read
    and the network is not touched (its hash is not re-checked, as in torch).

    Args:
        url: where to download the file from.
        model_dir: cache directory; created if missing.
        map_location: accepted for torch compatibility; arrays are always NumPy (CPU).
        progress: show a download progress bar on stderr.
        check_hash: require the downloaded file's SHA-256 to start with the hash prefix of
            its file name (``name-<hexprefix>.ext``, :func:`hash_prefix_from_file_name`).
        file_name: name of the cached file, if not the URL's.
        weights_only: accepted for torch compatibility; featx never runs pickled code.

    Returns:
        dict from parameter/buffer name to ndarray, from ``featx.hub.load_state_dict_file``
        (.pth/.pt zip or legacy, .safetensors, .npz).

    Raises:
        DownloadError: the file is not cached and cannot be downloaded; the message names the
            URL and the path where to put the file by hand. An ``OSError``.
        ChecksumError: ``check_hash`` and the digest does not match. A ``RuntimeError``.
        ValueError: the URL has no file name and ``file_name`` is None; ``check_hash`` but
            the file name carries no hash prefix, or the file is
            not a readable checkpoint (see ``featx.hub.load_state_dict_file``); for a file
            found already in the cache, the message says so and names the file to delete.
    """
    if model_dir is None:
        model_dir = os.path.join(get_dir(), "checkpoints")
    model_dir = os.path.expanduser(os.fspath(model_dir))
    if file_name is None:
        file_name = os.path.basename(urllib.parse.urlparse(url).path)
        if not file_name:
            raise ValueError(
                f"load_state_dict_from_url: the URL {url!r} ends without a file name; "
                f"expected a URL such as https://host/resnet18-f37072fd.pth, or "
                f"file_name= to name the cached file")
    cached_file = os.path.join(model_dir, file_name)
    was_cached = os.path.exists(cached_file)
    if not was_cached:
        hash_prefix = None
        if check_hash:
            hash_prefix = hash_prefix_from_file_name(file_name)
            if hash_prefix is None:
                raise ValueError(
                    f"check_hash=True needs a file name of the form name-<sha256 prefix>.ext, "
                    f"got {file_name!r}"
                )
        try:
            os.makedirs(model_dir, exist_ok=True)
        except OSError as exc:
            raise DownloadError(
                f"cannot create the cache directory {model_dir} ({exc}); "
                f"{_manual_hint(url, cached_file)}"
            ) from exc
        sys.stderr.write(f"featx: downloading {url} into {cached_file}\n")
        download_url_to_file(url, cached_file, hash_prefix, progress=progress)

    from . import CheckpointFormatError, load_state_dict_file

    try:
        return load_state_dict_file(cached_file)
    except CheckpointFormatError as exc:
        if not was_cached:
            raise
        raise CheckpointFormatError(
            f"{exc}; the file was already in the cache (not downloaded now), so it may be an "
            f"interrupted or corrupted earlier copy: delete {cached_file} to download it again"
        ) from exc
