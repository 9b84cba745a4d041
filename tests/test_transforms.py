"""featx.transforms: image loading, mode conversion and torchvision's ImageNet preset."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

import featx.transforms as T

MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])


def _random_rgb(w: int, h: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), mode="RGB")


def _reference(img: Image.Image, crop: int, resize: int) -> np.ndarray:
    """float64 re-implementation: torchvision's size rule, PIL resize, crop, normalise."""
    w, h = img.size
    if w <= h:
        nw, nh = resize, int(resize * h / w)
    else:
        nw, nh = int(resize * w / h), resize
    if (nw, nh) != (w, h):
        img = img.resize((nw, nh), Image.BILINEAR)
    a = np.asarray(img.convert("RGB"), dtype=np.float64)
    if crop > nh or crop > nw:  # zero padding, left/top get the smaller half
        ph, pw = max(crop - nh, 0), max(crop - nw, 0)
        a = np.pad(a, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
        nh, nw = a.shape[:2]
    top = int(round((nh - crop) / 2.0))
    left = int(round((nw - crop) / 2.0))
    a = a[top : top + crop, left : left + crop]
    return ((a / 255.0 - MEAN) / STD).transpose(2, 0, 1)


# --------------------------------------------------------------------------- shapes and values


def test_single_image_shape_dtype_and_contiguity():
    x = T.ImageClassification()(_random_rgb(451, 300))
    assert x.shape == (3, 224, 224)
    assert x.dtype == np.float32
    assert x.flags.c_contiguous


def test_list_and_batch_give_nchw():
    t = T.ImageClassification(crop_size=64, resize_size=72)
    imgs = [_random_rgb(100, 80, 1), _random_rgb(80, 100, 2), _random_rgb(72, 72, 3)]
    b = t(imgs)
    assert b.shape == (3, 3, 64, 64) and b.dtype == np.float32
    np.testing.assert_array_equal(b, t.batch(imgs))
    for i, im in enumerate(imgs):
        np.testing.assert_array_equal(b[i], t(im))
    assert t.batch(imgs[0]).shape == (1, 3, 64, 64)
    assert t(tuple(imgs)).shape == (3, 3, 64, 64)
    assert t.batch([]).shape == (0, 3, 64, 64)


@pytest.mark.parametrize(
    "size",
    [
        (451, 300),
        (300, 451),
        (256, 256),
        (257, 1000),
        (1000, 257),
        (100, 80),
        (224, 224),
        (225, 223),
    ],
)
@pytest.mark.parametrize(
    "crop,resize", [(224, 256), (224, 224), (299, 342), (300, 256)]
)
def test_matches_float64_reference(size, crop, resize):
    img = _random_rgb(*size, seed=size[0] * 7 + size[1])
    x = T.ImageClassification(crop_size=crop, resize_size=resize)(img)
    assert x.shape == (3, crop, crop)
    np.testing.assert_allclose(x, _reference(img, crop, resize), rtol=0, atol=2e-6)


@pytest.mark.parametrize(
    "w,h,expected",
    [
        (451, 300, (384, 256)),
        (300, 451, (256, 384)),
        (256, 256, (256, 256)),
        (1000, 257, (996, 256)),  # int(256 * 1000 / 257) = int(996.1...)
        (257, 1000, (256, 996)),
        (10, 300, (256, 7680)),
        (3, 2, (384, 256)),
    ],
)
def test_resized_size_follows_torchvision_rule(w, h, expected):
    assert T.resized_size(w, h, 256) == expected
    assert T.resize_shorter_side(Image.new("RGB", (w, h)), 256).size == expected


def test_resize_is_skipped_when_size_already_matches():
    img = _random_rgb(256, 300)
    assert T.resize_shorter_side(img, 256) is img


@pytest.mark.parametrize(
    "h,crop,top",
    [
        (224, 224, 0),
        (225, 224, 0),  # 0.5 rounds to 0 (half to even)
        (226, 224, 1),
        (227, 224, 2),  # 1.5 rounds to 2
        (229, 224, 2),  # 2.5 rounds to 2
        (231, 224, 4),  # 3.5 rounds to 4
    ],
)
def test_center_crop_rounding(h, crop, top):
    # row r of the image holds value r, so the crop's first row tells the offset
    rows = np.repeat(np.arange(h, dtype=np.uint8)[:, None], h, axis=1)
    img = Image.fromarray(rows, mode="L")
    out = np.asarray(T.center_crop(img, crop))
    assert out.shape == (crop, crop)
    assert out[0, 0] == top
    assert np.asarray(T.center_crop(img.transpose(Image.TRANSPOSE), crop))[0, 0] == top


def test_center_crop_pads_with_zeros_when_image_is_smaller():
    img = Image.new("RGB", (5, 3), (255, 255, 255))
    out = np.asarray(T.center_crop(img, (6, 8)))  # (height, width)
    assert out.shape == (6, 8, 3)
    # left pad (8 - 5) // 2 = 1, right 2; top pad (6 - 3) // 2 = 1, bottom 2
    white = out[..., 0] == 255
    assert white[1:4, 1:6].all()
    assert white.sum() == 15


def test_black_and_white_images_give_normalised_extremes():
    t = T.ImageClassification(crop_size=32, resize_size=32)
    lo = t(Image.new("RGB", (40, 32), (0, 0, 0)))
    hi = t(Image.new("RGB", (40, 32), (255, 255, 255)))
    for c in range(3):
        np.testing.assert_allclose(lo[c], -MEAN[c] / STD[c], rtol=1e-6)
        np.testing.assert_allclose(hi[c], (1 - MEAN[c]) / STD[c], rtol=1e-6)
    x = t(_random_rgb(40, 32))
    assert x.min() >= lo.min() - 1e-6 and x.max() <= hi.max() + 1e-6


def test_custom_mean_std_and_identity_normalisation():
    t = T.ImageClassification(
        crop_size=16, resize_size=16, mean=(0, 0, 0), std=(1, 1, 1)
    )
    img = _random_rgb(16, 16)
    np.testing.assert_allclose(
        t(img),
        np.asarray(img, np.float64).transpose(2, 0, 1) / 255.0,
        rtol=0,
        atol=1e-7,
    )


def test_input_image_is_not_modified():
    img = Image.new("RGBA", (300, 200), (10, 20, 30, 40))
    before = img.tobytes()
    T.ImageClassification()(img)
    assert img.mode == "RGBA" and img.size == (300, 200) and img.tobytes() == before


# --------------------------------------------------------------------------- image modes


def _pixel(img: Image.Image) -> tuple[int, ...]:
    """The RGB value featx sees at (0, 0), read back from the normalised output."""
    x = T.ImageClassification(
        crop_size=4, resize_size=4, mean=(0, 0, 0), std=(1, 1, 1)
    )(img)
    return tuple(int(round(float(v) * 255)) for v in x[:, 0, 0])


def test_grayscale_is_replicated_to_three_channels():
    assert _pixel(Image.new("L", (4, 4), 77)) == (77, 77, 77)
    x = T.ImageClassification(crop_size=4, resize_size=4)(Image.new("L", (4, 4), 77))
    assert x.shape == (3, 4, 4)


def test_bilevel_image():
    assert _pixel(Image.new("1", (4, 4), 1)) == (255, 255, 255)
    assert _pixel(Image.new("1", (4, 4), 0)) == (0, 0, 0)


@pytest.mark.parametrize(
    "mode,value", [("RGBA", (10, 20, 30, 0)), ("LA", (99, 0)), ("RGBX", (1, 2, 3, 4))]
)
def test_alpha_is_dropped_not_composited(mode, value):
    expected = (value[0],) * 3 if mode == "LA" else value[:3]
    assert _pixel(Image.new(mode, (4, 4), value)) == expected


def test_palette_image_is_looked_up():
    img = Image.new("P", (4, 4), 1)
    img.putpalette([0, 0, 0, 200, 100, 50] + [0] * (256 * 3 - 6))
    assert _pixel(img) == (200, 100, 50)
    img.info["transparency"] = 1  # transparency is dropped too
    assert _pixel(img) == (200, 100, 50)


def test_cmyk_uses_pillows_conversion():
    assert _pixel(Image.new("CMYK", (4, 4), (0, 0, 0, 0))) == (255, 255, 255)
    assert _pixel(Image.new("CMYK", (4, 4), (0, 0, 0, 255))) == (0, 0, 0)
    img = Image.new("CMYK", (4, 4), (30, 60, 90, 20))
    assert _pixel(img) == tuple(int(v) for v in np.asarray(img.convert("RGB"))[0, 0])


@pytest.mark.parametrize("value", [0, 255, 256, 1000, 32768, 65535])
def test_16bit_grayscale_is_scaled_not_clipped(value):
    img = Image.fromarray(np.full((4, 4), value, np.uint16))
    assert img.mode.startswith("I;16")
    assert _pixel(img) == (value >> 8,) * 3
    assert _pixel(img.convert("I")) == (value >> 8,) * 3


def test_16bit_png_file_round_trip(tmp_path):
    a = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1024).astype(np.uint16)
    path = tmp_path / "gray16.png"
    Image.fromarray(a).save(path)
    img = T.load_image(path)
    assert img.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(img)[..., 1], (a >> 8).astype(np.uint8))


def test_other_modes_convert(tmp_path):
    for mode in ("YCbCr", "HSV", "LAB", "F", "La", "RGBa", "PA"):
        img = Image.new(mode, (4, 4))
        assert T.to_rgb(img).mode == "RGB", mode
        assert T.ImageClassification(crop_size=4, resize_size=4)(img).shape == (3, 4, 4)


def test_to_rgb_returns_rgb_input_unchanged_and_rejects_non_images():
    img = Image.new("RGB", (2, 2))
    assert T.to_rgb(img) is img
    with pytest.raises(TypeError, match="PIL.Image.Image.*load_image"):
        T.to_rgb("photo.jpg")
    # an array was told to use load_image(path), which reads files
    want = (r"^expected a PIL.Image.Image, got a NumPy array of shape \(2, 2, 3\) "
            r"\(uint8\); for an \(H, W, 3\) uint8 RGB array use "
            r"PIL.Image.fromarray\(array\) first$")
    with pytest.raises(TypeError, match=want):
        T.to_rgb(np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(TypeError, match=want):
        T.ImageClassification()(np.zeros((2, 2, 3), np.uint8))


# --------------------------------------------------------------------------- EXIF and files


def _exif_rotated_jpeg(path: str, orientation: int) -> None:
    # stored as 40 x 20: left half red, right half blue
    a = np.zeros((20, 40, 3), np.uint8)
    a[:, :20, 0] = 255
    a[:, 20:, 2] = 255
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(a).save(path, "JPEG", quality=95, exif=exif)


def test_load_image_applies_exif_orientation(tmp_path):
    path = str(tmp_path / "rotated.jpg")
    _exif_rotated_jpeg(path, 6)  # 6: display after rotating 90 degrees clockwise
    img = T.load_image(path)
    assert img.size == (20, 40) and img.mode == "RGB"
    a = np.asarray(img).astype(int)
    assert a[5, 10, 0] > 200 and a[5, 10, 2] < 50  # top is the stored left (red)
    assert a[35, 10, 2] > 200 and a[35, 10, 0] < 50  # bottom is the stored right (blue)
    raw = T.load_image(path, exif_transpose=False)
    assert raw.size == (40, 20)


def test_exif_orientation_flip(tmp_path):
    path = str(tmp_path / "mirrored.jpg")
    _exif_rotated_jpeg(path, 2)  # 2: mirrored left-right
    a = np.asarray(T.load_image(path)).astype(int)
    assert a.shape == (20, 40, 3)
    assert a[10, 5, 2] > 200 and a[10, 35, 0] > 200


def test_load_image_converts_to_rgb_and_is_usable_after_close(tmp_path):
    path = tmp_path / "rgba.png"
    Image.new("RGBA", (30, 20), (1, 2, 3, 4)).save(path)
    img = T.load_image(path)
    assert img.mode == "RGB" and img.getpixel((0, 0)) == (1, 2, 3)
    path = tmp_path / "rgb.png"
    Image.new("RGB", (30, 20), (5, 6, 7)).save(path)
    img = T.load_image(str(path))
    assert img.getpixel((29, 19)) == (5, 6, 7)
    assert T.ImageClassification(crop_size=8, resize_size=8)(img).shape == (3, 8, 8)


def test_load_image_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        T.load_image(tmp_path / "missing.jpg")
    with pytest.raises(IsADirectoryError, match="directory"):
        T.load_image(tmp_path)
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"this is not an image\n" * 10)
    with pytest.raises(ValueError, match="junk.jpg.*not an image format"):
        T.load_image(junk)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.png"):
        T.load_image(empty)


def test_load_image_truncated_file(tmp_path):
    buf = io.BytesIO()
    _random_rgb(200, 200).save(buf, "JPEG", quality=95)
    path = tmp_path / "truncated.jpg"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 3])
    with pytest.raises(ValueError, match="truncated.jpg"):
        T.load_image(path)


def test_sample_image():
    path = T.sample_image_path()
    assert os.path.isfile(path)
    assert os.path.getsize(path) < 60_000
    img = T.load_image(path)
    assert img.size == (451, 300) and img.mode == "RGB"
    x = T.ImageClassification()(img)
    assert x.shape == (3, 224, 224) and np.isfinite(x).all()
    assert os.path.isfile(os.path.join(os.path.dirname(path), "README.md"))


# --------------------------------------------------------------------------- arguments


# Arguments torchvision's preset refuses too (at construction or at the first call; its
# exception types vary: TypeError, ValueError, KeyError, RuntimeError), with featx's error.
_BAD_ARGUMENTS = [
    ({"resize_size": -1}, ValueError, "resize_size must be a positive number of pixels, got -1"),
    ({"resize_size": 256.0}, TypeError,
     "resize_size must be an int number of pixels, got 256.0 (float)"),
    ({"resize_size": None}, TypeError,
     "resize_size must be an int number of pixels, got None (NoneType)"),
    ({"crop_size": "224"}, TypeError,
     "crop_size must be an int number of pixels, got '224' (str)"),
    ({"crop_size": (224, 200)}, TypeError,
     "crop_size must be an int number of pixels, got (224, 200) (tuple)"),
    ({"mean": 0.5}, TypeError,
     "mean must be a sequence of 3 numbers (R, G, B), got 0.5 (float)"),
    ({"std": "abc"}, TypeError, "std must be a sequence of 3 numbers (R, G, B), got 'abc' (str)"),
    ({"std": ("a", "b", "c")}, TypeError, "std must hold numbers, got 'a' (str) in ('a', 'b', "),
    ({"mean": (0.1, 0.2, 0.3, 0.4)}, ValueError,
     "mean needs 3 values (R, G, B) or 1 for all channels, got 4: (0.1, 0.2, 0.3, 0.4)"),
    ({"std": (0.2, 0.0, 0.2)}, ValueError,
     "std must be non-zero in float32 (it divides), got (0.2, 0.0, 0.2)"),
    ({"std": (0.2, 1e-50, 0.2)}, ValueError, "std must be non-zero in float32"),
    ({"interpolation": "cubic-ish"}, ValueError, "unknown interpolation 'cubic-ish'"),
    ({"interpolation": None}, TypeError, "interpolation must be a name, a torchvision "
     "InterpolationMode or a Pillow filter constant, got None (NoneType)"),
    ({"interpolation": 12345}, ValueError, "unknown interpolation 12345; expected one of "
     "['bicubic', 'bilinear', 'box', 'hamming', 'lanczos', 'nearest'], a torchvision "
     "InterpolationMode or a Pillow filter"),
]
# Arguments torchvision takes and featx refuses: a fractional or float size (torchvision
# truncates 224.5 to 224), a bool size (True is a 1-pixel crop there), a 0-pixel crop.
_REFUSED_ONLY_BY_FEATX = [
    ({"crop_size": 0}, ValueError, "crop_size must be a positive number of pixels, got 0"),
    ({"crop_size": 224.0}, TypeError,
     "crop_size must be an int number of pixels, got 224.0 (float)"),
    ({"crop_size": 22.5}, TypeError, "crop_size must be an int number of pixels, got 22.5"),
    ({"crop_size": True}, TypeError, "crop_size must be an int number of pixels, got True"),
]


@pytest.mark.parametrize("kwargs,error,message", _BAD_ARGUMENTS + _REFUSED_ONLY_BY_FEATX)
def test_invalid_arguments(kwargs, error, message):
    with pytest.raises(error) as e:
        T.ImageClassification(**kwargs)
    assert str(e.value).startswith(message), str(e.value)


def test_one_mean_or_std_value_is_used_for_all_channels():
    img = _random_rgb(64, 48)
    np.testing.assert_array_equal(
        T.ImageClassification(crop_size=32, resize_size=40, mean=(0.5,), std=[0.25])(img),
        T.ImageClassification(crop_size=32, resize_size=40, mean=(0.5,) * 3,
                              std=np.full(3, 0.25))(img))


def test_antialias_false_warns_that_it_has_no_effect():
    with pytest.warns(UserWarning, match=r"antialias=False\) has no effect"):
        T.ImageClassification(antialias=False)
    with pytest.raises(TypeError, match="antialias must be a bool or None, got 'yes'"):
        T.ImageClassification(antialias="yes")


@pytest.mark.parametrize("call,error,message", [
    (lambda img: T.center_crop(img, 4.0), TypeError,
     "size must be an int number of pixels, got 4.0 (float)"),
    (lambda img: T.center_crop(img, (4, 0)), ValueError,
     "size[1] (width) must be a positive number of pixels, got 0"),
    (lambda img: T.center_crop(img, (4, 4, 4)), ValueError,
     "size must be (height, width) or one int, got (4, 4, 4)"),
    (lambda img: T.resize_shorter_side(img, "8"), TypeError,
     "size must be an int number of pixels, got '8' (str)"),
    (lambda img: T.resize_shorter_side(img, 8, interpolation=2.0), TypeError,
     "interpolation must be a name"),
])
def test_function_arguments(call, error, message):
    with pytest.raises(error) as e:
        call(Image.new("RGB", (6, 5)))
    assert str(e.value).startswith(message), str(e.value)


@pytest.mark.oracle
def test_oracle_torchvision_refuses_the_same_arguments():
    presets = pytest.importorskip("torchvision.transforms._presets")
    img = _random_rgb(64, 48)
    for kwargs, _, _ in _BAD_ARGUMENTS:
        with pytest.raises((TypeError, ValueError, KeyError, RuntimeError)):
            presets.ImageClassification(**{"crop_size": 32, **kwargs})(img)
    for kwargs, _, _ in _REFUSED_ONLY_BY_FEATX:
        presets.ImageClassification(**{"crop_size": 32, **kwargs})(img)


def test_interpolation_choices():
    img = _random_rgb(451, 300)

    class Mode:  # stands for torchvision's InterpolationMode (a str Enum)
        value = "bicubic"

    bicubic = T.ImageClassification(interpolation="BICUBIC")(img)
    np.testing.assert_array_equal(
        bicubic, T.ImageClassification(interpolation=Mode())(img)
    )
    np.testing.assert_array_equal(
        bicubic, T.ImageClassification(interpolation=int(Image.BICUBIC))(img)
    )
    np.testing.assert_array_equal(  # Pillow's IntEnum (it has a .value, an int)
        bicubic, T.ImageClassification(interpolation=Image.Resampling.BICUBIC)(img)
    )
    with pytest.raises(TypeError, match=r"interpolation must be .*got True \(bool\)"):
        T.ImageClassification(interpolation=True)
    assert not np.array_equal(bicubic, T.ImageClassification()(img))
    assert "crop_size=224" in repr(T.ImageClassification())


# --------------------------------------------------------------------------- torchvision oracle


@pytest.mark.oracle
@pytest.mark.parametrize("size", [(451, 300), (300, 451), (225, 223), (100, 80)])
@pytest.mark.parametrize("crop,resize", [(224, 256), (300, 256)])
def test_bit_identical_to_torchvision_on_pil_images(size, crop, resize):
    presets = pytest.importorskip("torchvision.transforms._presets")
    img = _random_rgb(*size)
    expected = presets.ImageClassification(crop_size=crop, resize_size=resize)(
        img
    ).numpy()
    np.testing.assert_array_equal(
        T.ImageClassification(crop_size=crop, resize_size=resize)(img), expected
    )


def test_batch_takes_any_iterable_of_images():
    t = T.ImageClassification(crop_size=8, resize_size=8)
    imgs = [_random_rgb(9, 12), _random_rgb(12, 9)]
    want = t.batch(imgs)
    np.testing.assert_array_equal(t.batch(im for im in imgs), want)
    np.testing.assert_array_equal(t.batch(tuple(imgs)), want)
    for bad in (5, "photo.jpg", np.zeros((2, 8, 8, 3), np.uint8)):
        with pytest.raises(TypeError, match=r"^batch: expected a PIL image or an iterable of "
                           rf"PIL images, got {type(bad).__name__}; use load_image\(path\)"):
            t.batch(bad)


@pytest.mark.parametrize("bad,says", [
    (None, "got NoneType; for an open file"),
    (Image.new("RGB", (2, 2)), "got Image; it is decoded already: featx.transforms.to_rgb"),
    (3, "got int; for an open file"),
])
def test_load_image_needs_a_path(bad, says):
    with pytest.raises(TypeError) as e:
        T.load_image(bad)
    assert str(e.value).startswith(
        "load_image: expected a file path (str or os.PathLike), " + says), str(e.value)


def test_load_image_takes_an_open_files_name_not_the_file(tmp_path):
    path = tmp_path / "a.png"
    Image.new("RGB", (3, 2)).save(path)
    assert T.load_image(path).size == T.load_image(str(path)).size == (3, 2)
    with open(path, "rb") as f, pytest.raises(TypeError, match="got BufferedReader; for an "
                                              r"open file, pass PIL\.Image\.open\(f\)"):
        T.load_image(f)
