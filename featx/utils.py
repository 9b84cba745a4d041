"""Small helpers around features: a picture of a feature map's channels.

Example:
    >>> import numpy as np
    >>> img = feature_grid(np.random.rand(1, 6, 4, 5).astype(np.float32), padding=1)
    >>> img.mode, img.size   # 3 columns x 2 rows of 5 x 4 pixel tiles, 1 pixel apart
    ('L', (19, 11))
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from PIL import Image

from ._args import int_arg

__all__ = ["feature_grid"]


def feature_grid(
    array: Any,
    max_channels: int | None = 64,
    padding: int = 1,
    ncols: int | None = None,
    pad_value: int = 0,
    index: int | None = None,
) -> Image.Image:
    """A grayscale picture of the channels of one feature map, tiled in a grid.

    Each channel is min-max normalised on its own to 0..255 (a constant channel becomes 0),
    then the channels are laid out row by row, left to right.

    Args:
        array: one feature map, shape (C, H, W), or a batch of shape (N, C, H, W) (an
            extractor's output) together with ``index``; (1, C, H, W) needs no index. Any
            real dtype. NaN counts as the channel's minimum.
        max_channels: show at most this many channels (the first ones); None: all.
        padding: gap between tiles and around the grid, in pixels (>= 0).
        ncols: tiles per row; default ``ceil(sqrt(number of channels shown))``.
        pad_value: gray level of the gaps, 0..255.
        index: for an (N, C, H, W) batch, which map to draw: 0..N-1 (negative counts from
            the end). Required when N > 1.

    Returns:
        A PIL image of mode ``"L"``, width ``ncols * W + (ncols + 1) * padding`` and height
        ``nrows * H + (nrows + 1) * padding`` pixels, ``nrows = ceil(shown / ncols)``.

    Raises:
        TypeError: a complex or non-numeric array; ``max_channels``, ``padding``, ``ncols``,
            ``pad_value`` or ``index`` not an int (``1.0`` neither).
        ValueError: a shape other than (C, H, W) or (N, C, H, W), N > 1 without ``index``,
            ``index`` out of range or given for a (C, H, W) map, an empty map, or
            ``max_channels``, ``ncols`` < 1, ``padding`` < 0, ``pad_value`` outside 0..255.
    """
    a = np.asarray(array)
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_) or np.iscomplexobj(a):
        raise TypeError(f"feature_grid needs a real-valued array, got dtype {a.dtype}")
    if max_channels is not None:
        max_channels = int_arg("max_channels", max_channels, 1)
    if ncols is not None:
        ncols = int_arg("ncols", ncols, 1)
    padding = int_arg("padding", padding, 0)
    pad_value = int_arg("pad_value", pad_value, 0, 255)
    if a.ndim == 4:
        n = a.shape[0]
        if n == 0:
            raise ValueError(
                f"feature_grid got an empty batch (0 feature maps), shape {a.shape}; "
                "there is no map to draw")
        if index is None:
            if n != 1:
                raise ValueError(
                    f"feature_grid got a batch of {n} feature maps, shape {a.shape}; give "
                    f"index=0..{n - 1} to choose the one to draw (or pass array[i])"
                )
            index = 0
        index = int_arg("index", index, -n, n - 1, of=f" for a batch of {n} feature maps")
        a = a[index]
    elif index is not None:
        raise ValueError(
            f"index selects a map of an (N, C, H, W) batch; the array has shape "
            f"{a.shape}, got index={index!r}"
        )
    if a.ndim != 3:
        raise ValueError(
            f"feature_grid needs one feature map of shape (C, H, W), or an (N, C, H, W) "
            f"batch with index=i, got shape {np.shape(array)}"
        )
    if a.size == 0:
        raise ValueError(f"feature_grid got an empty feature map of shape {a.shape}")
    c = a.shape[0] if max_channels is None else min(a.shape[0], max_channels)
    cols = min(ncols or math.ceil(math.sqrt(c)), c)
    rows = math.ceil(c / cols)
    h, w = a.shape[1], a.shape[2]

    x = np.clip(a[:c].astype(np.float64), -1e300, 1e300)  # +-inf -> large finite
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN channel
        lo = np.nanmin(x, axis=(1, 2), keepdims=True)
    x = np.where(np.isnan(x), lo, x)  # NaN -> the channel minimum
    span = x.max(axis=(1, 2), keepdims=True) - lo
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        scaled = np.where(span > 0, (x - lo) / np.where(span > 0, span, 1.0), 0.0)
    tiles = np.rint(scaled * 255.0).astype(np.uint8)

    out = np.full(
        (rows * h + (rows + 1) * padding, cols * w + (cols + 1) * padding),
        pad_value,
        dtype=np.uint8,
    )
    for i in range(c):
        r, k = divmod(i, cols)
        top, left = padding + r * (h + padding), padding + k * (w + padding)
        out[top : top + h, left : left + w] = tiles[i]
    return Image.fromarray(out, mode="L")
