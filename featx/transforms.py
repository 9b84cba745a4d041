"""Image loading and torchvision's ImageNet classification preprocessing, on Pillow and NumPy.

This mirrors ``torchvision.transforms._presets.ImageClassification`` (the ``transforms()`` of
every torchvision classification weight) on PIL images, without torch:

1. convert the image to RGB (:func:`to_rgb`);
2. resize so that the shorter side is ``resize_size`` pixels; the longer side becomes
   ``int(resize_size * long / short)`` (torchvision's rule, truncating);
3. center-crop ``crop_size`` x ``crop_size`` pixels, the top-left corner at
   ``int(round((H - crop) / 2.0))`` (Python's round: halves go to the even neighbour); an image
   smaller than the crop is first padded with zeros, as torchvision does;
4. scale uint8 to [0, 1] (divide by 255) and normalise per channel, ``(x - mean) / std``, all in
   float32 and in that order, so that the result is bit-identical to torchvision's given the same
   resized pixels.

The resize is ``PIL.Image.resize`` with the chosen filter, which is what torchvision itself runs on
a PIL image (PIL always antialiases when it downscales with bilinear or bicubic).

Deliberate differences from ``Image.open(path).convert("RGB")``, torchvision's PIL path, both in
:func:`load_image` / :func:`to_rgb`:

- the EXIF orientation tag is applied (``PIL.ImageOps.exif_transpose``), so a phone photo is
  upright as a person sees it;
- 16-bit grayscale images (modes ``I;16*`` and ``I``) are scaled to 8 bits (``v >> 8``, as
  torchvision's ``convert_image_dtype`` does from uint16 to uint8) instead of being clipped at 255,
  which turns almost every 16-bit photo white.

Example:
    >>> from PIL import Image
    >>> t = ImageClassification(crop_size=224)
    >>> x = t(Image.new("RGB", (320, 240), (255, 128, 0)))
    >>> x.shape, x.dtype.name
    ((3, 224, 224), 'float32')
    >>> t.batch([Image.new("L", (300, 300))] * 2).shape
    (2, 3, 224, 224)
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from typing import Any, cast

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ._args import int_arg

__all__ = [
    "ImageClassification",
    "center_crop",
    "load_image",
    "resize_shorter_side",
    "resized_size",
    "sample_image_path",
    "to_rgb",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_Resampling = getattr(Image, "Resampling", Image)  # Pillow >= 9.1 has the enum
_FILTERS = {
    "nearest": _Resampling.NEAREST,
    "bilinear": _Resampling.BILINEAR,
    "bicubic": _Resampling.BICUBIC,
    "box": _Resampling.BOX,
    "hamming": _Resampling.HAMMING,
    "lanczos": _Resampling.LANCZOS,
}
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def sample_image_path() -> str:
    """Path of the bundled sample photo, ``featx/data/chelsea.jpg``.

    Returns:
        Absolute path of a 451 x 300 pixel RGB JPEG (CC0, see ``featx/data/README.md``).

    Example:
        >>> load_image(sample_image_path()).size
        (451, 300)
    """
    return os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "data", "chelsea.jpg"
    )


def load_image(
    path: str | os.PathLike[str], exif_transpose: bool = True
) -> Image.Image:
    """Read an image file fully into memory and convert it to RGB.

    Args:
        path: file to read; any format Pillow can decode.
        exif_transpose: rotate/flip the image as its EXIF orientation tag says (a **[featx]**
            default; torchvision's ``Image.open(path).convert("RGB")`` ignores the tag).

    Returns:
        A decoded PIL image of mode ``"RGB"``, ``size == (width, height)`` in pixels.

    Raises:
        TypeError: ``path`` is not a path (an open file, a PIL image, None, ...).
        FileNotFoundError: ``path`` does not exist.
        IsADirectoryError: ``path`` is a directory.
        ValueError: the file exists but is not a decodable image (unknown format, truncated or
            corrupt data, too many pixels for Pillow's decompression-bomb limit); the message
            names the file.
    """
    if not isinstance(path, (str, bytes, os.PathLike)):
        hint = ("it is decoded already: featx.transforms.to_rgb(img) converts it to RGB, "
                "ImageClassification takes it as it is" if isinstance(path, Image.Image)
                else "for an open file, pass PIL.Image.open(f) to the transform instead")
        raise TypeError(
            f"load_image: expected a file path (str or os.PathLike), got "
            f"{type(path).__name__}; {hint}")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"image file not found: {path!r}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"expected an image file, got a directory: {path!r}")
    if not os.path.isfile(path):  # a FIFO or device would block or never end
        raise ValueError(f"expected an image file, got a special file: {path!r}")
    try:
        with Image.open(path) as img:
            img.load()  # decode now, so that truncated data fails here, not later
            out = ImageOps.exif_transpose(img) if exif_transpose else img
            out = to_rgb(out if out is not None else img)
            # Leaving the block closes the opened image; return an independent copy of it.
            return out.copy() if out is img else out
    except UnidentifiedImageError:
        raise ValueError(
            f"cannot read image {path!r}: not an image format Pillow can decode"
        ) from None
    except Image.DecompressionBombError as e:
        raise ValueError(f"cannot read image {path!r}: {e}") from None
    except (OSError, SyntaxError, ValueError) as e:
        # Pillow reports corrupt or truncated data as OSError (sometimes SyntaxError).
        raise ValueError(f"cannot read image {path!r}: {e}") from None


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert a PIL image of any mode to mode ``"RGB"``.

    Every mode goes through ``img.convert("RGB")`` (what torchvision's PIL path does: alpha is
    dropped, not composited; palette images are looked up; CMYK uses Pillow's naive formula),
    except 16-bit grayscale (``I;16``, ``I;16L``, ``I;16B``, ``I;16N``, ``I``): its values
    (0..65535) are shifted right by 8 bits first, then clipped to 0..255 **[featx]**.

    Args:
        img: a PIL image.

    Returns:
        The image itself if it is already RGB, else a new RGB image of the same size.

    Raises:
        TypeError: ``img`` is not a PIL image.
        ValueError: Pillow cannot convert the mode to RGB.
    """
    if not isinstance(img, Image.Image):
        if isinstance(img, np.ndarray):
            raise TypeError(
                f"expected a PIL.Image.Image, got a NumPy array of shape {img.shape} "
                f"({img.dtype}); for an (H, W, 3) uint8 RGB array use "
                f"PIL.Image.fromarray(array) first"
            )
        raise TypeError(
            f"expected a PIL.Image.Image, got {type(img).__name__}; "
            "use featx.transforms.load_image(path) to read a file"
        )
    if img.mode == "RGB":
        return img
    if img.mode in _SIXTEEN_BIT_MODES:
        a = np.asarray(img).astype(np.int64) >> 8
        return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), mode="L").convert(
            "RGB"
        )
    # Premultiplied "La" has no direct path to RGB in Pillow; "LA" has.
    for via in ((), ("RGBA",), ("LA",)):
        try:
            out = img
            for mode in via:
                out = out.convert(mode)
            return out.convert("RGB")
        except ValueError:
            continue
    raise ValueError(f"cannot convert an image of mode {img.mode!r} to RGB")


def resized_size(width: int, height: int, size: int) -> tuple[int, int]:
    """The (width, height) torchvision resizes to when the shorter side must be ``size`` pixels.

    Args:
        width: image width in pixels.
        height: image height in pixels.
        size: target length of the shorter side in pixels.

    Returns:
        ``(new_width, new_height)`` in pixels; the longer side is ``int(size * long / short)``.

    Example:
        >>> resized_size(451, 300, 256)
        (384, 256)
    """
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    return (new_short, new_long) if width <= height else (new_long, new_short)


def resize_shorter_side(
    img: Image.Image, size: int, interpolation: str = "bilinear"
) -> Image.Image:
    """Resize so that the shorter side is ``size`` pixels, keeping the aspect ratio.

    Args:
        img: a PIL image.
        size: target length of the shorter side in pixels.
        interpolation: ``"bilinear"`` (default), ``"bicubic"``, ``"nearest"``, ``"box"``,
            ``"hamming"`` or ``"lanczos"`` (Pillow's filters; Pillow antialiases when
            downscaling).

    Returns:
        The resized image (``img`` itself when it already has that size, as in torchvision).

    Raises:
        TypeError: ``size`` is not an int. ValueError: ``size`` < 1, unknown interpolation.
    """
    new_size = resized_size(img.width, img.height, int_arg("size", size, 1, unit="pixels"))
    if new_size == img.size:
        return img
    return img.resize(new_size, _pil_filter(interpolation))


def center_crop(img: Image.Image, size: int | tuple[int, int]) -> Image.Image:
    """Crop the center ``size`` region, padding with zeros first if the image is smaller.

    Args:
        img: a PIL image.
        size: crop (height, width) in pixels; an int means a square.

    Raises:
        TypeError: a size that is not an int. ValueError: a size < 1, or not 1 or 2 of them.

    Returns:
        A PIL image of ``size``. The top-left corner is ``int(round((H - h) / 2.0))``,
        ``int(round((W - w) / 2.0))``; padding puts ``(w - W) // 2`` pixels on the left and
        ``(h - H) // 2`` on top, the rest right and bottom, as torchvision does.
    """
    if isinstance(size, (tuple, list)) and len(size) == 2:
        ch = int_arg("size[0] (height)", size[0], 1, unit="pixels")
        cw = int_arg("size[1] (width)", size[1], 1, unit="pixels")
    elif isinstance(size, (tuple, list)):
        raise ValueError(f"size must be (height, width) or one int, got {size!r}")
    else:
        ch = cw = int_arg("size", size, 1, unit="pixels")
    w, h = img.size
    if cw > w or ch > h:
        left = (cw - w) // 2 if cw > w else 0
        top = (ch - h) // 2 if ch > h else 0
        right = (cw - w + 1) // 2 if cw > w else 0
        bottom = (ch - h + 1) // 2 if ch > h else 0
        padded = Image.new(img.mode, (w + left + right, h + top + bottom))
        padded.paste(img, (left, top))
        img = padded
        w, h = img.size
        if (cw, ch) == (w, h):
            return img
    top = int(round((h - ch) / 2.0))
    left = int(round((w - cw) / 2.0))
    return img.crop((left, top, left + cw, top + ch))


def _channel_values(name: str, values: Any) -> tuple[float, float, float]:
    """``mean`` / ``std``: 3 numbers (R, G, B), or 1 used for all three (torch broadcasts it)."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise TypeError(
            f"{name} must be a sequence of 3 numbers (R, G, B), got {values!r} "
            f"({type(values).__name__})"
        )
    if len(values) not in (1, 3):
        raise ValueError(
            f"{name} needs 3 values (R, G, B) or 1 for all channels, got {len(values)}: "
            f"{tuple(values)}"
        )
    out = []
    for v in values:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.number)):
            raise TypeError(f"{name} must hold numbers, got {v!r} ({type(v).__name__}) "
                            f"in {tuple(values)}")
        out.append(float(v))
    return (out[0], out[0], out[0]) if len(out) == 1 else (out[0], out[1], out[2])


def _pil_filter(interpolation: Any) -> int:
    # Accepts a name, torchvision's InterpolationMode (its .value is the name) or a Pillow
    # filter: an int constant or a member of Pillow's Resampling IntEnum (which has a .value
    # too, an int, so ints are told apart first).
    expected = f"one of {sorted(_FILTERS)}, a torchvision InterpolationMode or a Pillow filter"
    if isinstance(interpolation, (int, np.integer)) and not isinstance(
        interpolation, (bool, np.bool_)
    ):
        if int(interpolation) not in {int(v) for v in _FILTERS.values()}:
            raise ValueError(f"unknown interpolation {interpolation!r}; expected {expected}")
        return int(interpolation)
    if isinstance(interpolation, str) or hasattr(interpolation, "value"):
        name = str(getattr(interpolation, "value", interpolation)).lower()
        if name not in _FILTERS:
            raise ValueError(f"unknown interpolation {interpolation!r}; expected {expected}")
        return int(_FILTERS[name])
    raise TypeError(
        f"interpolation must be a name, a torchvision InterpolationMode or a Pillow "
        f"filter constant, got {interpolation!r} ({type(interpolation).__name__})"
    )


class ImageClassification:
    """torchvision's ImageNet classification preset (resize, center crop, normalise) on Pillow.

    Args:
        crop_size: side of the square output in pixels (224 for most torchvision weights).
        resize_size: length of the shorter side after resizing, in pixels.
        mean: per-channel mean subtracted after scaling to [0, 1] (R, G, B), unitless; one
            value means the same for all three channels.
        std: per-channel divisor applied after the mean (R, G, B), unitless, non-zero; one
            value means the same for all three channels.
        interpolation: resize filter name (``"bilinear"`` default), a torchvision
            ``InterpolationMode`` or a Pillow filter constant.
        antialias: accepted for signature compatibility only. As torchvision documents, PIL
            images are always antialiased when downscaled with bilinear or bicubic;
            ``False`` warns once that it has no effect.

    Shape:
        One image -> (3, crop_size, crop_size) float32; a list of N images, or :meth:`batch`
        -> (N, 3, crop_size, crop_size) float32, NCHW.

    Raises:
        TypeError: a size that is not an int (``224.0`` too: torchvision truncates it), mean
            or std not a sequence of numbers, an interpolation of another type.
        ValueError: a size < 1, mean or std of a length other than 3 (or 1, which torch
            broadcasts to the three channels), a zero std, an unknown interpolation name or
            Pillow constant.

    Example:
        >>> from PIL import Image
        >>> x = ImageClassification(crop_size=224)(Image.new("RGB", (451, 300)))
        >>> x.shape
        (3, 224, 224)
        >>> round(float(x[0, 0, 0]), 4)  # black pixel, red channel: (0 - 0.485) / 0.229
        -2.1179
    """

    def __init__(
        self,
        crop_size: int = 224,
        resize_size: int = 256,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        interpolation: Any = "bilinear",
        antialias: bool | None = True,
    ) -> None:
        self.crop_size = int_arg("crop_size", crop_size, 1, unit="pixels")
        self.resize_size = int_arg("resize_size", resize_size, 1, unit="pixels")
        self.mean = _channel_values("mean", mean)
        self.std = _channel_values("std", std)
        if np.any(np.asarray(self.std, dtype=np.float32) == 0):
            raise ValueError(
                f"std must be non-zero in float32 (it divides), got {tuple(std)}"
            )
        self.interpolation = interpolation
        self._filter = _pil_filter(interpolation)
        if antialias is not None and not isinstance(antialias, (bool, np.bool_)):
            raise TypeError(f"antialias must be a bool or None, got {antialias!r}")
        if antialias is False:
            warnings.warn(
                "ImageClassification(antialias=False) has no effect: Pillow always "
                "antialiases when it downscales with bilinear or bicubic filters (torchvision "
                "ignores the argument for PIL images too, with a warning per call)",
                UserWarning, stacklevel=2)
        self.antialias = antialias
        # float32 constants, as torch builds them from the Python floats
        self._mean32 = np.asarray(self.mean, dtype=np.float32).reshape(3, 1, 1)
        self._std32 = np.asarray(self.std, dtype=np.float32).reshape(3, 1, 1)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(crop_size={self.crop_size}, resize_size={self.resize_size}, "
            f"mean={self.mean}, std={self.std}, interpolation={self.interpolation!r})"
        )

    def __call__(self, img: Image.Image | Sequence[Image.Image]) -> np.ndarray:
        """Preprocess one image to (3, H, W), or a list/tuple of images to (N, 3, H, W)."""
        if isinstance(img, (list, tuple)):
            return self.batch(img)
        return self._one(cast(Image.Image, img))  # to_rgb checks what it is

    def batch(self, images: Image.Image | Iterable[Image.Image]) -> np.ndarray:
        """Preprocess images into one float32 batch of shape (N, 3, crop_size, crop_size).

        ``images``: one image (N = 1) or any iterable of them (a list, a generator, ...); an
        empty one gives shape (0, 3, crop_size, crop_size).
        """
        if isinstance(images, Image.Image):
            images = [images]
        elif not isinstance(images, Iterable) or isinstance(images, (str, bytes, np.ndarray)):
            raise TypeError(
                f"batch: expected a PIL image or an iterable of PIL images, got "
                f"{type(images).__name__}; use load_image(path) to read files")
        images = list(images)
        n, size = len(images), self.crop_size
        out: np.ndarray = np.empty((n, 3, size, size), dtype=np.float32)
        for i, im in enumerate(images):
            out[i] = self._one(im)
        return out

    def _one(self, img: Image.Image) -> np.ndarray:
        img = to_rgb(img)
        new_size = resized_size(img.width, img.height, self.resize_size)
        if new_size != img.size:
            img = img.resize(new_size, self._filter)
        img = center_crop(img, self.crop_size)
        hwc = np.asarray(img, dtype=np.uint8)
        x = hwc.transpose(2, 0, 1).astype(np.float32, order="C")
        x /= np.float32(255.0)
        x -= self._mean32
        x /= self._std32
        return x
