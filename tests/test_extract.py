"""Features from image collections: featx.extract (API, writer, resume), featx.utils.feature_grid
and `featx extract MODEL INPUT...` end to end on real photographs mixed with unreadable files."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
from PIL import Image

import featx
from featx.extract import (
    LOCK_FILE,
    SkippedImageWarning,
    extract,
    list_images,
    reduce_features,
    write_features,
)
from featx.models.feature_extraction import create_feature_extractor
from featx.transforms import ImageClassification, load_image, sample_image_path
from featx.utils import feature_grid

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(featx.__file__)))
PHOTOS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "photos")
NODES = ["layer2", "fc"]
BAD = ("broken.jpg", "notes.png", "truncated.jpg")  # unreadable files inside the folder


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, env.get("PYTHONPATH")) if p)
    return env


def run(*args: str, cwd: str | os.PathLike[str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "featx", *args], cwd=cwd, env=_env(), check=False,
        capture_output=True, text=True, timeout=600,
    )


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    """A folder of real photos (RGB, grayscale JPEG, grayscale PNG, RGBA PNG, one in a
    subfolder) with a corrupt JPEG, a truncated JPEG and a text file named .png, plus
    a text file beside it (given explicitly, as it has no image extension)."""
    root = tmp_path_factory.mktemp("collection")
    d = root / "photos"
    (d / "sub").mkdir(parents=True)
    for name in ("astronaut.jpg", "camera.jpg", "rocket.jpg"):
        shutil.copy(os.path.join(PHOTOS, name), d / name)
    shutil.copy(sample_image_path(), d / "sub" / "chelsea.jpg")
    coffee = Image.open(os.path.join(PHOTOS, "coffee.jpg")).convert("RGB")
    coffee.convert("L").save(d / "gray.png")
    rgba = coffee.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(coffee.size))
    rgba.save(d / "rgba.png")
    with open(os.path.join(PHOTOS, "rocket.jpg"), "rb") as f:
        data = f.read()
    (d / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4)
    (d / "notes.png").write_text("not a picture\n")
    (d / "readme.txt").write_text("ignored by the folder search\n")
    text = root / "notes.txt"
    text.write_text("a text file given explicitly\n")
    return root, d, text


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """resnet18 weights in a file, and the same model in eval mode."""
    featx.manual_seed(123)
    model = featx.models.get_model("resnet18")
    path = tmp_path_factory.mktemp("weights") / "r18.npz"
    np.savez(path, **{k: np.asarray(v) for k, v in model.state_dict().items()})
    return str(path), model.eval()


def _good_files(d) -> list[str]:
    return sorted(str(p) for p in (
        d / "astronaut.jpg", d / "camera.jpg", d / "gray.png", d / "rgba.png",
        d / "rocket.jpg", d / "sub" / "chelsea.jpg"))


def _concat(stream) -> tuple[list[str], dict[str, np.ndarray]]:
    paths, parts = [], {}
    for p, feats in stream:
        paths += p
        for k, v in feats.items():
            parts.setdefault(k, []).append(v)
    return paths, {k: np.concatenate(v) for k, v in parts.items()}


# --------------------------------------------------------------------------- listing


def test_list_images_sorted_recursive_globs_and_explicit_files(collection):
    root, d, text = collection
    listed = list_images([str(d), str(text)])
    expected = sorted(_good_files(d) + [str(d / b) for b in BAD] + [str(text)])
    assert listed == expected
    assert str(d / "readme.txt") not in listed  # a folder search keeps image extensions
    assert list_images(str(d / "*.png")) == [str(d / n) for n in ("gray.png", "notes.png",
                                                                  "rgba.png")]
    assert list_images(str(root / "**" / "chelsea.jpg")) == [str(d / "sub" / "chelsea.jpg")]
    assert list_images([str(d / "camera.jpg"), str(d / "camera.jpg")]) == [str(d / "camera.jpg")]
    with pytest.raises(FileNotFoundError, match="nope"):
        list_images(str(root / "nope"))
    with pytest.raises(FileNotFoundError, match="pattern"):
        list_images(str(root / "*.bmp"))
    (root / "empty").mkdir(exist_ok=True)
    with pytest.raises(ValueError, match="no image files"):
        list_images(str(root / "empty"))
    # an empty list said "no image files in  (extensions: ...)"; a generator's
    # items were consumed before the message named them
    with pytest.raises(ValueError, match="no inputs given"):
        list_images([])
    with pytest.raises(ValueError, match=re.escape(f"no image files in {str(root / 'empty')!r}")):
        list_images(p for p in [str(root / "empty")])
    assert list_images(p for p in [str(d / "camera.jpg")]) == [str(d / "camera.jpg")]


# --------------------------------------------------------------------------- API


def test_extract_skips_each_bad_file_once_and_matches_the_extractor(collection, weights):
    _, d, text = collection
    _, model = weights
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stream = extract(model, [str(d), str(text)], NODES, batch_size=4, num_workers=3)
        paths, feats = _concat(stream)
    assert paths == _good_files(d)
    assert [p for p, _ in stream.skipped] == sorted([str(d / b) for b in BAD] + [str(text)])
    skipped_warnings = [w for w in caught if issubclass(w.category, SkippedImageWarning)]
    assert len(skipped_warnings) == 4
    for (path, reason), w in zip(stream.skipped, skipped_warnings):
        assert repr(path) in str(w.message) and reason in str(w.message)
    assert stream.rows == 6 and stream.position == len(stream.files) == 10

    x = ImageClassification().batch([load_image(p) for p in paths])
    direct = create_feature_extractor(model, return_nodes=NODES)(x)
    assert list(feats) == NODES
    for k in NODES:
        assert feats[k].shape == direct[k].shape and feats[k].dtype == np.float32
        np.testing.assert_allclose(feats[k], direct[k], rtol=0, atol=1e-5)


def test_extract_pool_flatten_and_model_name(weights):
    _, model = weights
    img = sample_image_path()
    (_, raw), = list(extract(model, img, ["layer3", "fc"]))
    (_, avg), = list(extract(model, img, ["layer3", "fc"], pool="avg"))
    (_, mx), = list(extract(model, img, ["layer3", "fc"], pool="max"))
    (_, flat), = list(extract(model, img, ["layer3", "fc"], flatten=True))
    assert raw["layer3"].shape == (1, 256, 14, 14)
    np.testing.assert_array_equal(avg["layer3"], raw["layer3"].mean(axis=(2, 3)))
    np.testing.assert_array_equal(mx["layer3"], raw["layer3"].max(axis=(2, 3)))
    np.testing.assert_array_equal(flat["layer3"], raw["layer3"].reshape(1, -1))
    for out in (avg, mx, flat):
        np.testing.assert_array_equal(out["fc"], raw["fc"])  # 2-D: untouched
    extractor = create_feature_extractor(model, return_nodes={"layer1": "early"})
    (paths, feats), = list(extract(extractor, img))
    assert paths == [img] and list(feats) == ["early"]
    with pytest.raises(ValueError, match="return_nodes"):
        extract(model, img)
    with pytest.raises(ValueError, match="pool"):
        extract(model, img, ["fc"], pool="mean")
    with pytest.raises(ValueError, match="batch_size"):
        extract(model, img, ["fc"], batch_size=0)
    with pytest.raises(ValueError, match="pool"):
        reduce_features({"a": np.zeros((1, 2, 3, 3))}, pool="sum")


@pytest.mark.parametrize("kwargs,error,message", [
    ({"batch_size": 0}, ValueError, "batch_size must be a positive number of images, got 0"),
    ({"batch_size": 2.0}, TypeError, "batch_size must be an int number of images, got 2.0 (float)"),
    ({"batch_size": True}, TypeError, "batch_size must be an int number of images, got True"),
    ({"num_workers": -1}, ValueError, "num_workers must be >= 0, got -1"),
    ({"num_workers": 1.5}, TypeError, "num_workers must be an int number of threads, got 1.5"),
    ({"start": 1.0}, TypeError, "start must be an int, got 1.0 (float)"),
    ({"start": 2}, ValueError, "start must be in 0..1 (the 1 files found), got 2"),
    ({"inputs": None}, TypeError, "inputs must be a path, a glob pattern or a list of them, got "
     "NoneType None"),
])
def test_extract_argument_types_and_ranges(kwargs, error, message):
    model = featx.models.resnet18().eval()
    kwargs = {"inputs": sample_image_path(), **kwargs}
    with pytest.raises(error) as e:
        list(extract(model, return_nodes=["fc"], **kwargs))
    assert str(e.value).startswith(message), str(e.value)


# --------------------------------------------------------------------------- writer + resume


@pytest.mark.parametrize("fmt", ["npy-dir", "npz"])
def test_write_features_resumes_after_an_interruption(collection, weights, tmp_path, fmt):
    _, d, text = collection
    _, model = weights
    inputs = [str(d), str(text)]
    suffix = ".npz" if fmt == "npz" else ""
    kw = {"format": fmt, "batch_size": 2, "pool": "avg", "on_skip": lambda p, r: None}
    whole = write_features(model, inputs, str(tmp_path / ("whole" + suffix)), NODES, **kw)
    assert whole.rows == 6 and len(whole.skipped) == 4 and whole.resumed_rows == 0

    class Stop(Exception):
        pass

    def stop_after_two(info):
        if info.first_row + len(info.paths) >= 4:
            raise Stop

    part = str(tmp_path / ("part" + suffix))
    with pytest.raises(Stop):
        write_features(model, inputs, part, NODES, on_batch=stop_after_two, **kw)
    work = part if fmt == "npy-dir" else part + ".parts"
    with open(os.path.join(work, "progress.json"), encoding="utf-8") as f:
        state = json.load(f)
    assert state["rows_done"] == 4 and not state["complete"]
    with pytest.raises(ValueError, match="different settings"):
        write_features(model, inputs, part, NODES, **{**kw, "pool": "max"})
    resumed = write_features(model, inputs, part, NODES, **kw)
    assert resumed.resumed_rows == 4 and resumed.rows == 6
    assert sorted(resumed.skipped) == sorted(whole.skipped)  # none lost or doubled
    with open(resumed.files_index) as f1, open(whole.files_index) as f2:
        resumed_index, whole_index = f1.read(), f2.read()
    assert resumed_index == whole_index
    assert whole_index.splitlines() == _good_files(d)
    for k in NODES:
        a, b = _load(whole.out, fmt, k), _load(part, fmt, k)
        assert a.shape[0] == 6
        np.testing.assert_array_equal(a, b)
    if fmt == "npz":  # the chunks are gone; only the record of the run stays
        assert set(os.listdir(part + ".parts")) <= {"progress.json", LOCK_FILE}
    again = write_features(model, inputs, part, NODES, **kw)
    assert again.was_complete and again.rows == 6 and again.resumed_rows == 6
    for k in NODES:
        np.testing.assert_array_equal(_load(part, fmt, k), _load(whole.out, fmt, k))


@pytest.mark.parametrize("fmt", ["npy-dir", "npz"])
def test_cli_rerun_of_a_finished_extraction_does_nothing(weights, tmp_path, fmt):
    # README: the same command continues where it stopped, for both formats
    wpath, _ = weights
    out = tmp_path / ("feats.npz" if fmt == "npz" else "feats")
    cmd = ("extract", "resnet18", sample_image_path(), "--nodes", "layer1",
           "--weights", wpath, "--format", fmt, "--out", str(out))
    first = run(*cmd)
    assert first.returncode == 0, first.stderr
    again = run(*cmd)
    assert again.returncode == 0, again.stderr
    assert "already complete; nothing to do" in again.stdout
    if fmt == "npz":
        os.remove(out)
        gone = run(*cmd)
        assert gone.returncode == 2 and "is gone" in gone.stderr


def _load(out: str, fmt: str, key: str) -> np.ndarray:
    if fmt == "npz":
        with np.load(out) as z:
            return z[key]
    return np.load(os.path.join(out, key + ".npy"))


def test_write_features_refuses_a_foreign_folder(tmp_path, weights):
    _, model = weights
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("x")
    with pytest.raises(ValueError, match="non-empty folder"):
        write_features(model, sample_image_path(), str(tmp_path / "mine"), ["fc"])


def test_special_files_and_dangling_links_are_skipped_not_fatal(tmp_path, weights):
    _, model = weights
    d = tmp_path / "imgs"
    d.mkdir()
    shutil.copy(sample_image_path(), d / "a.jpg")
    os.mkfifo(d / "b.png")                      # would block a reader forever
    os.symlink(tmp_path / "missing.png", d / "c.png")
    with pytest.warns(SkippedImageWarning) as record:
        batches = list(extract(model, str(d), ["fc"]))
    assert [p for paths, _ in batches for p in paths] == [str(d / "a.jpg")]
    reasons = " ".join(str(w.message) for w in record)
    assert "special file" in reasons and "c.png" in reasons


def test_write_features_never_mixes_two_models(tmp_path, weights):
    _, model = weights
    out = str(tmp_path / "feats")
    write_features(model, sample_image_path(), out, ["fc"])
    featx.manual_seed(7)
    other = featx.models.get_model("resnet18").eval()
    with pytest.raises(ValueError, match="different settings"):
        write_features(other, sample_image_path(), out, ["fc"])


def test_write_features_resumes_only_with_the_same_nodes_and_transform(tmp_path, weights):
    # Without config=, the nodes and the transform were not part of the recorded
    # settings: a finished output was returned for other nodes, and an interrupted one
    # continued with another preprocessing. The message names what differs.
    _, model = weights
    out = str(tmp_path / "feats")
    write_features(model, sample_image_path(), out, ["fc"])
    with pytest.raises(ValueError, match=re.escape("nodes: ['fc'] there, ['layer4'] now")):
        write_features(model, sample_image_path(), out, ["layer4"])
    with pytest.raises(ValueError, match=r"transform: None there, '.*<lambda>' now"):
        write_features(model, sample_image_path(), out, ["fc"], transform=lambda im: im)
    with pytest.raises(ValueError, match=r"pool: 'none' there, 'avg' now"):
        write_features(model, sample_image_path(), out, ["fc"], pool="avg")
    with pytest.raises(ValueError, match=r"a different file list \(1 there, 2 now\)"):
        write_features(model, [sample_image_path(), os.path.join(PHOTOS, "camera.jpg")],
                       out, ["fc"])
    assert write_features(model, sample_image_path(), out, ["fc"]).was_complete


@pytest.mark.parametrize("fmt", ["npy-dir", "npz"])
def test_a_failed_write_features_leaves_nothing_in_the_way(tmp_path, fmt):
    # A call that failed on its model name or nodes recorded its settings, so the
    # corrected call was refused as "an extraction of different settings".
    out = str(tmp_path / "feats")
    with pytest.raises(ValueError, match="Unknown model"):
        write_features("resnet999", sample_image_path(), out, ["fc"], format=fmt)
    with pytest.raises(ValueError, match="not present"):
        write_features("resnet18", sample_image_path(), out, ["fc9"], format=fmt)
    result = write_features("resnet18", sample_image_path(), out, ["fc"], format=fmt)
    assert result.rows == 1 and result.shapes == {"fc": (1, 1000)}


def test_a_transform_giving_two_shapes_names_the_files(weights):
    # It was NumPy's "all input arrays must have the same shape" from np.stack.
    _, model = weights
    camera = os.path.join(PHOTOS, "camera.jpg")
    files = sorted([sample_image_path(), camera])

    def uncropped(img):
        return np.zeros((3, img.size[1], img.size[0]), np.float32)

    with pytest.raises(ValueError, match=r"transform gave an array of shape \(3, \d+, \d+\) "
                       r"for .* but \(3, \d+, \d+\) for .*; the images of a batch"):
        list(extract(model, files, ["fc"], transform=uncropped))


def test_npz_output_is_never_overwritten_silently(tmp_path, weights):
    _, model = weights
    out = tmp_path / "precious"
    (tmp_path / "precious.npz").write_bytes(b"my data")
    with pytest.raises(ValueError, match="already exists"):
        write_features(model, sample_image_path(), str(out), ["fc"], format="npz")
    assert (tmp_path / "precious.npz").read_bytes() == b"my data"


def test_npz_output_without_extension_is_written_to_name_npz(tmp_path, weights):
    # The name without .npz is checked as name.npz, so that is the file written; a file
    # at the bare name (the user's own) is never replaced.
    _, model = weights
    out = tmp_path / "mydata"
    out.write_bytes(b"my data")
    result = write_features(model, sample_image_path(), str(out), ["fc"], format="npz")
    assert out.read_bytes() == b"my data"
    assert result.out == str(out) + ".npz"
    with np.load(result.out) as z:
        assert z["fc"].shape == (1, 1000)
    again = write_features(model, sample_image_path(), str(out), ["fc"], format="npz")
    assert again.was_complete and out.read_bytes() == b"my data"


def test_extract_runs_eval_mode_and_leaves_the_models_mode_flags(weights):
    _, model = weights
    featx.manual_seed(5)
    trained = featx.models.get_model("resnet18")
    trained.load_state_dict(model.state_dict())
    trained.train()
    trained.layer1.eval()  # a mixed mode, as a user may have set it
    before = {name: m.training for name, m in trained.named_modules()}
    stats = np.array(trained.bn1.running_mean, copy=True)
    _, feats = _concat(extract(trained, sample_image_path(), ["fc"]))
    assert {name: m.training for name, m in trained.named_modules()} == before
    np.testing.assert_array_equal(trained.bn1.running_mean, stats)  # eval: no update
    x = ImageClassification()(load_image(sample_image_path()))[None]
    np.testing.assert_allclose(feats["fc"], model(x), rtol=0, atol=1e-5)


@pytest.mark.parametrize("key", ["file", "allow_pickle", "a/b"])
def test_npz_output_keys_that_are_savez_parameter_names(tmp_path, weights, key):
    # np.savez(f, **arrays) takes "file" and "allow_pickle" as its own parameters.
    _, model = weights
    result = write_features(model, sample_image_path(), str(tmp_path / "feats"),
                            {"fc": key}, format="npz")
    with np.load(result.out) as z:
        assert z.files == [key]
        assert z[key].shape == (1, 1000)


@pytest.mark.parametrize("fmt", ["npy-dir", "npz"])
def test_a_name_with_a_line_break_is_skipped_not_misaligned(tmp_path, weights, fmt):
    # Row i is line i of the files index: a name holding "\n" took two lines.
    _, model = weights
    d = tmp_path / "in"
    d.mkdir()
    for name in ("a\nb.jpg", "c.jpg", "d\re.jpg"):
        shutil.copy(sample_image_path(), d / name)
    skipped = []
    result = write_features(model, str(d), str(tmp_path / "out"), ["fc"], format=fmt,
                            on_skip=lambda p, r: skipped.append((p, r)))
    assert result.rows == 1
    with open(result.files_index, encoding="utf-8", newline="") as f:
        assert f.read() == str(d / "c.jpg") + "\n"
    assert sorted(p for p, _ in skipped) == [str(d / "a\nb.jpg"), str(d / "d\re.jpg")]
    assert all("line break" in r for _, r in skipped)
    # extract() has no files index: it reads such files
    _, feats = _concat(extract(model, str(d), ["fc"]))
    assert feats["fc"].shape == (3, 1000)


def test_tuple_valued_node_is_refused_not_stacked(tmp_path):
    # shufflenet's chunk returns a tuple: np.asarray stacked it with the tuple index on
    # axis 0, so extract() yielded (2, N, ...) and write_features wrote 2 "rows" per batch.
    model = featx.models.shufflenet_v2_x0_5()
    with pytest.raises(ValueError, match=r"'stage2.1.chunk' is a tuple of 2 values.*getitem"):
        _concat(extract(model, [sample_image_path()] * 1, ["stage2.1.chunk"]))
    with pytest.raises(ValueError, match=r"'c' is a tuple of 2 values"):
        reduce_features({"c": (np.zeros((1, 2)), np.zeros((1, 2)))})
    d = tmp_path / "in"
    d.mkdir()
    for i in range(4):
        shutil.copy(sample_image_path(), d / f"{i}.jpg")
    with pytest.raises(ValueError, match="chunk"):
        write_features(model, str(d), str(tmp_path / "out"), ["stage2.1.chunk"], batch_size=2)
    _, feats = _concat(extract(model, str(d), ["stage2.1.getitem_1"], batch_size=3))
    assert feats["stage2.1.getitem_1"].shape[0] == 4


def test_two_runs_cannot_write_one_output(tmp_path, weights):
    _, model = weights
    out = str(tmp_path / "feats")
    held = []

    def second_run(*args):  # called while the first run holds the output
        if not held:
            held.append(True)
            with pytest.raises(ValueError, match="another featx run"):
                write_features(model, sample_image_path(), out, ["fc"])

    write_features(model, sample_image_path(), out, ["fc"], on_batch=second_run)
    assert held


# --------------------------------------------------------------------------- CLI


def _skipped_lines(stderr: str) -> list[str]:
    return [line[line.index("featx: skipped"):] for line in stderr.splitlines()
            if "featx: skipped" in line]


def test_cli_folder_to_features_end_to_end(collection, weights, tmp_path):
    _, d, text = collection
    wpath, model = weights
    out = tmp_path / "feats.npz"
    proc = run("extract", "resnet18", str(d), str(text), "--nodes", *NODES, "--weights",
               wpath, "--batch-size", "4", "--threads", "2", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "images:  6 read, 4 skipped" in proc.stdout
    bad = sorted([str(d / b) for b in BAD] + [str(text)])
    skipped = _skipped_lines(proc.stderr)
    assert [s.split(": ")[1] for s in skipped] == [f"skipped {b}" for b in bad]
    assert "img/s" in proc.stderr  # the progress bar
    index = tmp_path / "feats.files.txt"
    assert index.read_text().splitlines() == _good_files(d)

    stream = extract(model, [str(d), str(text)], NODES, batch_size=4, on_skip=lambda *a: None)
    paths, api = _concat(stream)
    assert paths == _good_files(d)
    x = ImageClassification().batch([load_image(p) for p in paths])
    extractor = create_feature_extractor(model, return_nodes=NODES)
    direct = extractor(x)  # one batch of 6
    same_batches = [extractor(x[:4]), extractor(x[4:])]  # as the CLI ran them
    with np.load(out) as got:
        assert list(got.files) == NODES
        for k in NODES:
            assert got[k].shape[0] == 6
            np.testing.assert_array_equal(got[k], api[k])
            np.testing.assert_array_equal(got[k], np.concatenate([b[k] for b in same_batches]))
            np.testing.assert_allclose(got[k], direct[k], rtol=0, atol=1e-5)

    # npy-dir, pooled and flattened, with channel grids
    outdir, grids = tmp_path / "npy", tmp_path / "grids"
    proc = run("extract", "resnet18", str(d / "*.jpg"), str(d / "sub"), "--nodes", "layer2",
               "--weights", wpath, "--format", "npy-dir", "--pool", "max", "--flatten",
               "--out", str(outdir), "--save-grid", str(grids), "--batch-size", "2")
    assert proc.returncode == 0, proc.stderr
    assert "images:  4 read, 2 skipped" in proc.stdout
    files = (outdir / "files.txt").read_text().splitlines()
    assert files == sorted([str(d / n) for n in ("astronaut.jpg", "camera.jpg", "rocket.jpg")]
                           + [str(d / "sub" / "chelsea.jpg")])
    pooled = np.load(outdir / "layer2.npy")
    rows = [paths.index(f) for f in files]
    np.testing.assert_array_equal(pooled, api["layer2"][rows].max(axis=(2, 3)))
    pngs = sorted(os.listdir(grids))
    assert pngs == ["000000_astronaut_layer2.png", "000001_camera_layer2.png",
                    "000002_rocket_layer2.png", "000003_chelsea_layer2.png"]
    grid = Image.open(grids / pngs[0])
    assert grid.mode == "L"
    assert grid.size == feature_grid(api["layer2"][rows[0]]).size
    assert f"grids:   {grids} (4 PNGs, one per image and 4-D node)" in proc.stdout
    # Only 2-D nodes: the summary said PNGs were written although none was.
    proc = run("extract", "resnet18", str(d / "sub"), "--nodes", "fc", "--weights", wpath,
               "--out", str(tmp_path / "fc.npz"), "--save-grid", str(tmp_path / "g2"))
    assert proc.returncode == 0, proc.stderr
    assert "grids:   none written: no requested node gives an (N, C, H, W) map" in proc.stdout
    assert os.listdir(tmp_path / "g2") == []


def test_cli_stream_options_need_inputs_and_bad_values_are_one_line_errors(tmp_path):
    for extra in (["--pool", "avg"], ["--format", "npy-dir"], ["--batch-size", "4"]):
        proc = run("extract", "resnet18", "--nodes", "fc", *extra, cwd=tmp_path)
        assert proc.returncode == 2
        assert proc.stderr.startswith("featx: error: ") and "INPUT" in proc.stderr
    proc = run("extract", "resnet18", str(tmp_path / "missing"), "--nodes", "fc", cwd=tmp_path)
    assert proc.returncode == 2 and "missing" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = run("extract", "resnet18", sample_image_path(), "--nodes", "fc",
               "--batch-size", "0", cwd=tmp_path)
    assert proc.returncode == 2 and "--batch-size" in proc.stderr
    # it said "num_workers must be ...", after the header lines
    proc = run("extract", "resnet18", sample_image_path(), "--nodes", "fc",
               "--workers", "-1", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == "featx: error: --workers must be a number of threads >= 0, got -1\n"
    (tmp_path / "bad.jpg").write_bytes(b"nothing")
    proc = run("extract", "resnet18", str(tmp_path / "bad.jpg"), "--nodes", "fc",
               "--seed", "0", cwd=tmp_path)
    assert proc.returncode == 2 and "none of the 1 files" in proc.stderr


@pytest.mark.parametrize("fmt", ["npy-dir", "npz"])
def test_cli_killed_run_continues_to_the_uninterrupted_result(collection, weights, tmp_path,
                                                               fmt):
    _, d, _ = collection
    wpath, _ = weights
    many = tmp_path / "many"
    many.mkdir()
    for i in range(4):  # 16 readable photos and 3 unreadable files
        for name in ("astronaut.jpg", "camera.jpg", "rgba.png", "rocket.jpg"):
            shutil.copy(d / name, many / f"{i}_{name}")
    for b in BAD:
        shutil.copy(d / b, many / b)
    suffix = ".npz" if fmt == "npz" else ""
    common = ["extract", "resnet18", str(many), "--nodes", "layer3", "fc", "--weights",
              wpath, "--format", fmt, "--batch-size", "1", "--threads", "1"]

    full = tmp_path / ("full" + suffix)
    proc = run(*common, "--out", str(full))
    assert proc.returncode == 0, proc.stderr

    out = tmp_path / ("killed" + suffix)
    progress = (out if fmt == "npy-dir" else tmp_path / ("killed" + suffix + ".parts")) \
        / "progress.json"
    child = subprocess.Popen([sys.executable, "-m", "featx", *common, "--out", str(out)],
                             env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        rows = 0
        while time.monotonic() < deadline and child.poll() is None:
            try:
                rows = json.loads(progress.read_text())["rows_done"]
            except (OSError, ValueError):
                rows = 0  # not written yet
            if rows >= 2:
                break
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait()
    state = json.loads(progress.read_text())
    assert child.returncode == -signal.SIGKILL
    assert 2 <= state["rows_done"] < 16 and not state["complete"]

    proc = run(*common, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert f"resume:  {state['files_done']} of 19 files done" in proc.stdout
    assert "images:  16 read, 3 skipped" in proc.stdout
    skipped = _skipped_lines(proc.stderr)  # each bad file reported once over both runs
    assert sorted(s.split(": ")[1] for s in skipped) == [f"skipped {many / b}" for b in BAD]
    if fmt == "npz":
        index_a, index_b = tmp_path / "full.files.txt", tmp_path / "killed.files.txt"
        with np.load(full) as a, np.load(out) as b:
            assert list(a.files) == list(b.files) == ["layer3", "fc"]
            for k in a.files:
                assert a[k].shape[0] == 16
                np.testing.assert_array_equal(a[k], b[k])
    else:
        index_a, index_b = full / "files.txt", out / "files.txt"
        for k in ("layer3", "fc"):
            a, b = np.load(full / f"{k}.npy"), np.load(out / f"{k}.npy")
            assert a.shape[0] == 16
            np.testing.assert_array_equal(a, b)
    assert index_a.read_text() == index_b.read_text()
    assert len(index_b.read_text().splitlines()) == 16


# --------------------------------------------------------------------------- feature_grid


def test_feature_grid_shape_dtype_and_normalisation():
    rng = np.random.default_rng(0)
    fmap = rng.normal(size=(1, 10, 7, 5)).astype(np.float32)
    fmap[0, 1] = 3.0  # a constant channel
    img = feature_grid(fmap, max_channels=8, padding=2)
    assert isinstance(img, Image.Image) and img.mode == "L"
    # 8 channels -> 3 columns x 3 rows of 5 x 7 pixel tiles, 2 pixels around and between
    assert img.size == (3 * 5 + 4 * 2, 3 * 7 + 4 * 2)
    a = np.asarray(img)
    assert a.dtype == np.uint8

    def tile(r: int, c: int) -> np.ndarray:
        return a[2 + r * 9: 2 + r * 9 + 7, 2 + c * 7: 2 + c * 7 + 5]

    ch0 = tile(0, 0).astype(np.float64)
    assert ch0.min() == 0 and ch0.max() == 255
    expected = (fmap[0, 0] - fmap[0, 0].min()) / np.ptp(fmap[0, 0]) * 255
    np.testing.assert_allclose(ch0, np.rint(expected), atol=1)
    assert (tile(0, 1) == 0).all()  # a constant channel is black
    assert (a[:2] == 0).all() and (a[:, :2] == 0).all()  # the padding
    assert (tile(2, 2) == 0).all()  # 9th slot: no channel 8 (max_channels=8)
    assert feature_grid(fmap[0], max_channels=None, padding=0, ncols=5).size == (25, 14)
    assert feature_grid(fmap[0, :1]).size == (7, 9)
    batch = np.stack([fmap[0] * 0, fmap[0]])
    with pytest.raises(ValueError) as e:
        feature_grid(batch)
    assert "batch of 2 feature maps, shape (2, 10, 7, 5)" in str(e.value)
    assert "index=0..1" in str(e.value)
    np.testing.assert_array_equal(np.asarray(feature_grid(batch, index=1)),
                                  np.asarray(feature_grid(fmap[0])))
    assert feature_grid(batch, index=-1).size == feature_grid(fmap).size
    with pytest.raises(ValueError, match=r"^index must be in -2\.\.1 for a batch of 2 feature "
                       r"maps, got 2$"):
        feature_grid(batch, index=2)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\) batch.*got index=0"):
        feature_grid(fmap[0], index=0)
    with pytest.raises(ValueError, match=r"got shape \(3, 4\)"):
        feature_grid(np.zeros((3, 4)))
    for index in (None, 0):  # an empty batch (it asked for index=0..-1)
        with pytest.raises(ValueError, match=r"empty batch \(0 feature maps\), shape \(0, 3"):
            feature_grid(np.zeros((0, 3, 4, 4), np.float32), index=index)
    with pytest.raises(ValueError, match="^padding must be >= 0, got -1$"):
        feature_grid(fmap, padding=-1)


@pytest.mark.parametrize("kwargs,error,message", [
    ({"max_channels": 2.5}, TypeError, "max_channels must be an int, got 2.5 (float)"),
    ({"max_channels": 0}, ValueError, "max_channels must be >= 1, got 0"),
    ({"padding": "1"}, TypeError, "padding must be an int, got '1' (str)"),
    ({"ncols": 0.5}, TypeError, "ncols must be an int, got 0.5 (float)"),
    ({"ncols": 0}, ValueError, "ncols must be >= 1, got 0"),
    ({"pad_value": 1.5}, TypeError, "pad_value must be an int, got 1.5 (float)"),
    ({"pad_value": 256}, ValueError, "pad_value must be in 0..255, got 256"),
    ({"index": 1.0}, TypeError, "index must be an int, got 1.0 (float)"),
    ({"index": True}, TypeError, "index must be an int, got True (bool)"),
    ({"array": np.zeros((2, 3, 4, 4), complex), "index": 0}, TypeError,
     "feature_grid needs a real-valued array, got dtype complex128"),
    ({"array": np.full((3, 4, 4), "a")}, TypeError,
     "feature_grid needs a real-valued array, got dtype <U1"),
])
def test_feature_grid_argument_types_and_ranges(kwargs, error, message):
    kwargs = {"array": np.zeros((2, 3, 4, 4), np.float32), "index": 1, **kwargs}
    with pytest.raises(error) as e:
        feature_grid(**kwargs)
    assert str(e.value) == message
