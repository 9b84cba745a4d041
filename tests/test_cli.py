"""The ``featx`` command line, run end to end as ``python -m featx`` in a subprocess."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import featx
from featx.transforms import sample_image_path

# The featx that this test session imports, also for the subprocess (in-place builds included).
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(featx.__file__)))


def run(
    *args: str,
    cwd: str | os.PathLike[str] | None = None,
    env_extra: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update(env_extra or {})
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, env.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-m", "featx", *args],
        cwd=cwd,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _stat_lines(stdout: str) -> dict[str, list[str]]:
    """The `name  shape  min  mean  max` rows, keyed by name."""
    rows = {}
    for line in stdout.splitlines():
        m = re.match(r"^(\S+)\s+(\([\d, ]*\))\s+(\S+)\s+(\S+)\s+(\S+)$", line)
        if m and m.group(1) != "node":
            rows[m.group(1)] = [m.group(2), m.group(3), m.group(4), m.group(5)]
    return rows


def _assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    err = proc.stderr.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("featx: error: ")
    for f in fragments:
        assert f in err, err


# --------------------------------------------------------------------------- extract


@pytest.fixture(scope="module")
def resnet18_run(tmp_path_factory):
    """`featx extract resnet18 --nodes layer1 layer4` on the sample photo, run once."""
    cwd = tmp_path_factory.mktemp("extract")
    proc = run(
        "extract", "resnet18", "--nodes", "layer1", "layer4", "--seed", "0", cwd=cwd
    )
    return proc, cwd


def test_extract_prints_one_line_per_node_and_writes_npz(resnet18_run):
    proc, cwd = resnet18_run
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert (
        "weights: none (randomly initialised, seed 0; features are not meaningful)"
        in out
    )
    assert "chelsea.jpg (451x300)" in out
    assert "(1, 3, 224, 224) float32" in out
    rows = _stat_lines(out)
    assert list(rows) == ["layer1", "layer4"]
    assert rows["layer1"][0] == "(1, 64, 56, 56)"
    assert rows["layer4"][0] == "(1, 512, 7, 7)"

    path = os.path.join(cwd, "features.npz")
    assert "features.npz" in out
    with np.load(path) as data:
        assert list(data.files) == ["layer1", "layer4"]
        assert data["layer1"].shape == (1, 64, 56, 56)
        assert data["layer4"].shape == (1, 512, 7, 7)
        for name in data.files:
            a = data[name]
            assert a.dtype == np.float32 and np.isfinite(a).all()
            _assert_stats_row(rows[name], a)


def _assert_stats_row(row: list[str], a: np.ndarray) -> None:
    """The printed min, mean and max are those of ``a`` to four significant digits."""
    lo, mean, hi = (float(v) for v in row[1:])
    for got, want in ((lo, a.min()), (mean, a.mean(dtype=np.float64)), (hi, a.max())):
        assert got == pytest.approx(float(want), rel=5e-4, abs=1e-30), row
    assert lo <= mean <= hi


def test_tiny_values_are_printed_to_four_significant_digits(tmp_path):
    # Random init shrinks EfficientNet's deep nodes to ~1e-13 (torchvision's init does
    # the same); four decimals printed them as 0.0000.
    out = tmp_path / "e.npz"
    proc = run("extract", "efficientnet_b0", "--nodes", "features.1", "features.7",
               "--input-size", "64", "--seed", "0", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    rows = _stat_lines(proc.stdout)
    with np.load(out) as z:
        assert 0 < np.abs(z["features.7"]).max() < 1e-6
        for name in ("features.1", "features.7"):
            _assert_stats_row(rows[name], z[name])


def test_extract_same_seed_gives_same_features(resnet18_run, tmp_path):
    _, cwd = resnet18_run
    again = run(
        "extract",
        "resnet18",
        "--nodes",
        "layer1",
        "layer4",
        "--seed",
        "0",
        "--out",
        str(tmp_path / "again.npz"),
    )
    assert again.returncode == 0, again.stderr
    with (
        np.load(os.path.join(cwd, "features.npz")) as a,
        np.load(tmp_path / "again.npz") as b,
    ):
        for k in ("layer1", "layer4"):
            np.testing.assert_array_equal(a[k], b[k])


def test_extract_with_weights_matches_in_process_extractor(tmp_path):
    from featx.models import get_model
    from featx.models.feature_extraction import create_feature_extractor
    from featx.transforms import ImageClassification, load_image

    model = get_model("resnet18")
    weights = tmp_path / "w.npz"
    np.savez(weights, **{k: np.asarray(v) for k, v in model.state_dict().items()})

    proc = run(
        "extract",
        "resnet18",
        "--nodes",
        "layer2",
        "fc",
        "--weights",
        str(weights),
        "--out",
        str(tmp_path / "out"),  # .npz is appended
    )
    assert proc.returncode == 0, proc.stderr
    assert f"weights: {weights}" in proc.stdout
    assert "randomly initialised" not in proc.stdout
    assert list(_stat_lines(proc.stdout)) == ["layer2", "fc"]

    model.eval()
    x = ImageClassification().batch([load_image(sample_image_path())])
    expected = create_feature_extractor(model, return_nodes=["layer2", "fc"])(x)
    with np.load(tmp_path / "out.npz") as got:
        assert list(got.files) == ["layer2", "fc"]
        assert got["fc"].shape == (1, 1000)
        for k in ("layer2", "fc"):
            np.testing.assert_allclose(got[k], expected[k], rtol=0, atol=1e-5)


def test_checkpoint_saved_inside_a_wrapper_loads_without_its_prefix(tmp_path):
    # DataParallel's 'module.' prefix: Python code renames the keys (load_state_dict says
    # how); the command line cannot, so it drops the prefix itself and says so.
    from featx.models import get_model

    state = {k: np.asarray(v) for k, v in get_model("resnet18").state_dict().items()}
    plain, wrapped = tmp_path / "plain.npz", tmp_path / "wrapped.npz"
    np.savez(plain, **state)
    np.savez(wrapped, **{"module." + k: v for k, v in state.items()})
    got = {}
    for path in (plain, wrapped):
        proc = run("extract", "resnet18", "--nodes", "fc", "--weights", str(path),
                   "--input-size", "32", "--out", str(tmp_path / f"{path.stem}.out.npz"))
        assert proc.returncode == 0, proc.stderr
        with np.load(tmp_path / f"{path.stem}.out.npz") as z:
            got[path.stem] = z["fc"]
        assert ("without their 'module.' prefix" in proc.stderr) == (path == wrapped)
    np.testing.assert_array_equal(got["wrapped"], got["plain"])
    del state["fc.bias"]  # then the prefix is not the only difference: the usual error
    np.savez(wrapped, **{"module." + k: v for k, v in state.items()})
    _assert_one_line_error(run("extract", "resnet18", "--nodes", "fc", "--weights",
                               str(wrapped)), "do not fit the model")


def test_checkpoint_fine_tuned_to_other_classes_needs_num_classes(tmp_path):
    from featx.models import get_model
    from featx.models.feature_extraction import create_feature_extractor
    from featx.transforms import ImageClassification, load_image

    model = get_model("resnet18", num_classes=10).eval()
    weights = tmp_path / "ft10.npz"
    np.savez(weights, **{k: np.asarray(v) for k, v in model.state_dict().items()})
    common = ("extract", "resnet18", "--nodes", "fc", "--weights", str(weights),
              "--input-size", "32")
    _assert_one_line_error(run(*common, cwd=tmp_path),
                           "the checkpoint's classifier has 10 outputs: give --num-classes 10")
    # also when another number was given (not 'add' an option that is there)
    _assert_one_line_error(run(*common, "--num-classes", "11"),
                           "the model expects (11, 512)",
                           "the checkpoint's classifier has 10 outputs: give --num-classes 10")
    proc = run(*common, "--num-classes", "10", "--out", str(tmp_path / "f.npz"))
    assert proc.returncode == 0, proc.stderr
    x = ImageClassification(crop_size=32, resize_size=36).batch(
        [load_image(sample_image_path())])
    want = create_feature_extractor(model, ["fc"])(x)["fc"]
    with np.load(tmp_path / "f.npz") as got:
        np.testing.assert_allclose(got["fc"], want, rtol=0, atol=1e-5)
    # random weights with 7 outputs; nonsense is refused before any work
    proc = run("extract", "resnet18", "--nodes", "fc", "--num-classes", "7", "--input-size",
               "32", "--out", str(tmp_path / "r.npz"))
    assert proc.returncode == 0, proc.stderr
    assert _stat_lines(proc.stdout)["fc"][0] == "(1, 7)"
    _assert_one_line_error(run("extract", "resnet18", "--nodes", "fc", "--num-classes", "0"),
                           "--num-classes must be a number of classes >= 1, got 0")
    # a size too large to allocate names the option, not the input size or images
    _assert_one_line_error(
        run("extract", "resnet18", "--nodes", "fc", "--num-classes", "1000000000000000"),
        "--num-classes 1000000000000000: the model's classifier for that many classes does not "
        "fit in memory")
    # a folder run records it: resuming with another number of classes is refused
    folder = ("extract", "resnet18", sample_image_path(), "--nodes", "fc", "--seed", "1",
              "--input-size", "32", "--out", str(tmp_path / "many"))
    assert run(*folder, "--num-classes", "5").returncode == 0
    _assert_one_line_error(run(*folder, "--num-classes", "6"),
                           "different settings (num_classes: 5 there, 6 now)")
    _assert_one_line_error(
        run("extract", "resnet18", "--nodes", "fc", "--num-classes", "7", "--weights",
            "DEFAULT"), "--num-classes works with random weights or a checkpoint file")


def test_googlenet_and_inception_without_the_init_weights_future_warning(tmp_path):
    # The builders' FutureWarning asks for init_weights, which the command line cannot
    # give: the CLI passes it, keeping torchvision's current (truncated-normal) init.
    import warnings

    from featx.models import get_model
    from featx.models.feature_extraction import create_feature_extractor
    from featx.transforms import ImageClassification, load_image

    for name in ("googlenet", "inception_v3"):
        proc = run("nodes", name)
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    proc = run("extract", "googlenet", "--nodes", "conv1", "--seed", "3", "--input-size", "64",
               "--out", str(tmp_path / "g.npz"))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    featx.manual_seed(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model = get_model("googlenet").eval()  # init_weights=None: truncated normal
    x = ImageClassification(crop_size=64, resize_size=73).batch(
        [load_image(sample_image_path())])
    want = create_feature_extractor(model, ["conv1"], suppress_diff_warning=True)(x)["conv1"]
    with np.load(tmp_path / "g.npz") as got:
        np.testing.assert_allclose(got["conv1"], want, rtol=0, atol=1e-5)


def test_extract_batch_of_images_and_input_size(tmp_path):
    img = sample_image_path()
    proc = run(
        "extract",
        "resnet18",
        "--nodes",
        "layer1.0.relu_1",
        "--image",
        img,
        img,
        "--input-size",
        "128",
        "--out",
        str(tmp_path / "f.npz"),
    )
    assert proc.returncode == 0, proc.stderr
    assert "(2, 3, 128, 128) float32 (resize 146, center crop 128" in proc.stdout
    with np.load(tmp_path / "f.npz") as data:
        a = data["layer1.0.relu_1"]
        assert a.shape == (2, 64, 32, 32)
        np.testing.assert_array_equal(a[0], a[1])


# --------------------------------------------------------------------------- nodes


def test_nodes_resnet18_lists_train_and_eval_names():
    from featx.models import get_model
    from featx.models.feature_extraction import get_graph_node_names

    proc = run("nodes", "resnet18")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    train, evaluation = get_graph_node_names(get_model("resnet18"))
    assert train == evaluation
    assert lines[0].startswith("# resnet18: ") and "same in train and eval" in lines[0]
    assert lines[1:] == list(train)
    for name in ("x", "conv1", "layer1.1.relu_1", "layer4.1.relu_1", "flatten", "fc"):
        assert name in lines[1:]


def test_nodes_single_mode_prints_names_only():
    proc = run("nodes", "resnet18", "--mode", "eval")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "x" and lines[-1] == "fc"
    assert not any(line.startswith("#") for line in lines)


_TABLE_ROW = re.compile(r"^(\S+)\s+(\S+)\s+(\(.*\)|-)\s+(\S+)\s+(\S+)$")


def _table_rows(stdout: str) -> list[tuple[str, ...]]:
    """The `node  op  output shape  params  FLOPs` rows of `featx nodes --input-size`."""
    rows = []
    for line in stdout.splitlines():
        m = _TABLE_ROW.match(line)
        if m and m.group(1) not in ("node", "total"):
            rows.append(m.groups())
    return rows


def test_nodes_table_resnet50_shapes_equal_the_extractors():
    from featx.models import get_model
    from featx.models.feature_extraction import (
        create_feature_extractor,
        get_graph_node_names,
    )

    proc = run("nodes", "resnet50", "--input-size", "224", "224")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == (
        "# resnet50, input (1, 3, 224, 224), eval mode: 176 nodes, "
        "the same in train and eval mode"
    )
    assert lines[1].split() == ["node", "op", "output", "shape", "params", "FLOPs"]
    assert lines[-2].split() == ["total", "25.6M", "4.1G"]
    assert lines[-1].startswith("# total: 25,557,032 parameters, 4,089,184,256 FLOPs")
    rows = _table_rows(proc.stdout)
    model = get_model("resnet50").eval()
    _, names = get_graph_node_names(model)
    assert [r[0] for r in rows] == names
    out = create_feature_extractor(model, return_nodes=names)(
        np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    )
    shapes = {k: "(" + ", ".join(map(str, v.shape)) + ")" for k, v in out.items()}
    assert [(r[0], r[2]) for r in rows] == list(shapes.items())
    by_name = {r[0]: r for r in rows}
    assert by_name["conv1"] == ("conv1", "Conv2d", "(1, 64, 112, 112)", "9.4K", "118.0M")
    assert by_name["layer1.0.add"][1:] == ("add", "(1, 256, 56, 56)", "0", "0")
    assert by_name["fc"][1:] == ("Linear", "(1, 1000)", "2.0M", "2.0M")


@pytest.mark.filterwarnings("ignore::FutureWarning")  # googlenet init_weights
def test_nodes_table_modes_and_square_size(capsys):
    from featx import cli

    assert cli.main(["nodes", "googlenet", "--input-size", "64"]) == 0
    out = capsys.readouterr().out
    heads = [line for line in out.splitlines() if line.startswith("# googlenet")]
    assert heads == [
        "# googlenet: train and eval mode differ; one table per mode",
        "# googlenet, input (1, 3, 64, 64), train mode: 216 nodes",
        "# googlenet, input (1, 3, 64, 64), eval mode: 198 nodes",
    ]
    assert cli.main(["nodes", "shufflenet_v2_x0_5", "--input-size", "64", "80",
                     "--mode", "train"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == (
        "# shufflenet_v2_x0_5, input (1, 3, 64, 80), train mode: 368 nodes"
    )
    rows = {r[0]: r for r in _table_rows(out)}
    assert rows["stage2.0.size"][2] == "-"  # an int, not an array
    chunk = [line for line in out.splitlines() if line.startswith("stage2.1.chunk ")]
    assert "(1, 24, 8, 10), (1, 24, 8, 10)" in chunk[0]


def test_nodes_table_errors():
    _assert_one_line_error(
        run("nodes", "alexnet", "--input-size", "8", "8"),
        "input_shape (1, 3, 8, 8) does not fit AlexNet in eval mode",
        "node 'features.2': max_pool2d: output size would be 0x0",
    )
    _assert_one_line_error(
        run("nodes", "resnet18", "--input-size", "0", "8"),
        "--input-size takes one or two positive ints, H W", "got 0 8",
    )
    _assert_one_line_error(
        run("nodes", "resnet18", "--input-size", "8", "8", "8"), "got 8 8 8"
    )


def test_nodes_both_modes_prints_the_mode_that_fits():
    """inception_v3 at 75x75: the eval graph fits, the train graph's
    auxiliary head does not; the eval table is printed, then the error."""
    proc = run("nodes", "inception_v3", "--input-size", "75")
    assert proc.returncode == 2
    assert "# inception_v3, input (1, 3, 75, 75), eval mode:" in proc.stdout
    assert "train mode:" not in proc.stdout
    err = [line for line in proc.stderr.splitlines() if line.startswith("featx:")]
    assert err == [err[0]] and err[0].startswith("featx: error: train mode: ")
    assert "node 'AuxLogits.avg_pool2d'" in err[0]


def test_human_units():
    from featx.cli import _human

    assert [_human(n) for n in (0, 999, 1000, 9408, 25557032, 4089184256, 2 * 10**12,
                                3 * 10**15, 8 * 10**19)] == [
        "0", "999", "1.0K", "9.4K", "25.6M", "4.1G", "2.0T", "3.0P", "80.0E"
    ]


def test_models_lists_resnet18():
    proc = run("models")
    assert proc.returncode == 0, proc.stderr
    assert "resnet18" in proc.stdout.split()


def test_version():
    proc = run("--version")
    assert proc.returncode == 0
    assert re.match(r"^featx \S+$", proc.stdout.strip())


# --------------------------------------------------------------------------- errors


def test_unknown_model(tmp_path):
    proc = run("extract", "resnet81", "--nodes", "layer1", cwd=tmp_path)
    _assert_one_line_error(proc, "'resnet81'", "resnet18")
    assert "unknown model" in proc.stderr.lower()
    assert not (tmp_path / "features.npz").exists()
    _assert_one_line_error(run("nodes", "not_a_model"), "not_a_model")


def test_unknown_node(tmp_path):
    proc = run("extract", "resnet18", "--nodes", "layer1", "layer9", cwd=tmp_path)
    _assert_one_line_error(proc, "layer9", "'featx nodes resnet18' lists the node names")
    assert not (tmp_path / "features.npz").exists()
    # The library's advice for Python callers is no option on the command line.
    assert "get_graph_node_names" not in proc.stderr
    assert "train_return_nodes" not in proc.stderr


def test_node_inside_a_leaf_module_names_the_leaf(tmp_path):
    # An SE block is one node (as in torchvision): its fc1 has no node of its own.
    proc = run("extract", "efficientnet_b0", "--nodes", "features.1.0.block.1.fc1",
               "--input-size", "32", cwd=tmp_path)
    _assert_one_line_error(proc, "'features.1.0.block.1' is a leaf module",
                           "'featx nodes efficientnet_b0' lists the node names")
    assert "get_graph_node_names" not in proc.stderr


def test_train_only_node_says_the_command_runs_eval_mode(tmp_path):
    # The library's message suggests train_return_nodes, which the CLI cannot take.
    for inputs in ([], [sample_image_path()]):
        proc = run("extract", "googlenet", *inputs, "--nodes", "conv1", "aux1.fc2",
                   "--input-size", "64", cwd=tmp_path)
        _assert_one_line_error(proc, "'aux1.fc2' exists only in googlenet's train-mode graph",
                               "'featx nodes googlenet --mode eval'")
        assert "train_return_nodes" not in proc.stderr
    _assert_one_line_error(run("extract", "googlenet", "--nodes", "aux9", cwd=tmp_path),
                           "'aux9' is not present")


def test_unreadable_image(tmp_path):
    junk = tmp_path / "junk.jpg"
    junk.write_text("not an image")
    _assert_one_line_error(
        run(
            "extract",
            "resnet18",
            "--nodes",
            "layer1",
            "--image",
            str(junk),
            cwd=tmp_path,
        ),
        "junk.jpg",
    )
    _assert_one_line_error(
        run(
            "extract",
            "resnet18",
            "--nodes",
            "layer1",
            "--image",
            str(tmp_path / "nope.png"),
        ),
        "not found",
        "nope.png",
    )


def test_bad_weights_file(tmp_path):
    bad = tmp_path / "w.npz"
    np.savez(bad, nonsense=np.zeros(3, np.float32))
    _assert_one_line_error(
        run("extract", "resnet18", "--nodes", "layer1", "--weights", str(bad)),
        "w.npz",
        "do not fit the model",
    )
    missing = str(tmp_path / "no.npz")
    _assert_one_line_error(
        run("extract", "resnet18", "--nodes", "layer1", "--weights", missing),
        "not found",
    )
    text = tmp_path / "w.txt"
    text.write_text("conv1.weight = 1\n")
    _assert_one_line_error(
        run("extract", "resnet18", "--nodes", "layer1", "--weights", str(text)),
        "cannot read weights",
        "w.txt",
    )
    single = tmp_path / "w.npy"
    np.save(single, np.zeros(3, np.float32))
    _assert_one_line_error(
        run("extract", "resnet18", "--nodes", "layer1", "--weights", str(single)),
        "cannot read weights",
        "w.npy",
    )


def test_unknown_weights_name():
    _assert_one_line_error(
        run("extract", "resnet18", "--nodes", "layer1", "--weights", "IMAGENET1K_V9"),
        "IMAGENET1K_V9",
        "IMAGENET1K_V1, DEFAULT",
    )


def test_unwritable_output_fails_before_running(tmp_path):
    out = str(tmp_path / "missing_dir" / "f.npz")
    proc = run("extract", "resnet18", "--nodes", "layer1", "--out", out)
    _assert_one_line_error(proc, "missing_dir", "does not exist")
    assert proc.stdout == ""


def test_duplicate_node_and_bad_sizes():
    _assert_one_line_error(
        run("extract", "resnet18", "--nodes", "layer1", "layer1"),
        "--nodes names 'layer1' more than once",
    )
    _assert_one_line_error(
        run("extract", "resnet18", "--nodes", "layer1", "--input-size", "0"),
        "--input-size",
    )


def test_usage_errors_exit_2():
    proc = run("extract", "resnet18")  # --nodes missing: argparse's own message
    assert (
        proc.returncode == 2
        and "--nodes" in proc.stderr
        and "Traceback" not in proc.stderr
    )
    assert run().returncode == 2
    # INPUT is optional: argparse listed it as required ("MODEL, INPUT, --nodes")
    proc = run("extract")
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1] == (
        "featx extract: error: the following arguments are required: MODEL, --nodes")


def test_nodes_says_when_train_and_eval_differ(monkeypatch, capsys):
    # In process, with a model whose train graph has an extra (aux) branch.
    import featx.models.feature_extraction as fe
    from featx import cli

    train = ["x", "conv", "aux.fc", "fc"]
    monkeypatch.setattr(
        fe, "get_graph_node_names", lambda m, **kw: (train, ["x", "conv", "fc"])
    )
    assert cli.main(["nodes", "resnet18"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "train and eval mode differ" in lines[0]
    assert "1 only in train, 0 only in eval" in lines[0]
    assert lines[1:] == [
        "# train mode: 4 nodes",
        *train,
        "# eval mode: 3 nodes",
        "x",
        "conv",
        "fc",
    ]
    assert cli.main(["nodes", "resnet18", "--mode", "train"]) == 0
    assert capsys.readouterr().out.splitlines() == train


# --------------------------------------------------------------------------- pretrained weights


@pytest.fixture(scope="module")
def torch_home_with_resnet18(tmp_path_factory):
    """A $TORCH_HOME whose cache holds resnet18's IMAGENET1K_V1 file (hand-made, torch zip
    format) with fc = 0 and fc.bias = 0, 1, ..., 999 / 100: every image's top-5 is the last
    five categories, with known probabilities."""
    from test_weights import write_torch_state_dict

    from featx.models import ResNet18_Weights, get_model

    home = tmp_path_factory.mktemp("torch_home")
    ckpt = home / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    sd = {k: np.array(v) for k, v in get_model("resnet18").state_dict().items()}
    sd["fc.weight"][...] = 0
    sd["fc.bias"] = np.arange(1000, dtype=np.float32) / 100
    write_torch_state_dict(ckpt / ResNet18_Weights.IMAGENET1K_V1.file_name, sd)
    return home


def _expected_top5() -> list[tuple[str, float]]:
    from featx.models import ResNet18_Weights

    z = np.arange(1000, dtype=np.float64) / 100
    p = np.exp(z - z.max())
    p /= p.sum()
    cats = ResNet18_Weights.IMAGENET1K_V1.meta["categories"]
    return [(cats[i], 100 * p[i]) for i in range(999, 994, -1)]


def _top5_lines(stdout: str) -> list[tuple[str, float]]:
    out = []
    for line in stdout.splitlines():
        m = re.match(r"^\s+(\d+\.\d+)%  (.+)$", line)
        if m:
            out.append((m.group(2), float(m.group(1))))
    return out


def test_extract_with_pretrained_weights_name_prints_top5(
    torch_home_with_resnet18, tmp_path
):
    proc = run(
        "extract",
        "resnet18",
        "--nodes",
        "layer4",
        "--weights",
        "DEFAULT",
        "--out",
        str(tmp_path / "f.npz"),
        env_extra={"TORCH_HOME": str(torch_home_with_resnet18)},
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "weights: ResNet18_Weights.IMAGENET1K_V1 (" in out
    assert "resnet18-f37072fd.pth)" in out
    assert "randomly initialised" not in out
    assert (
        "(resize 256, center crop 224, ImageNet mean/std; the weights' preset)" in out
    )
    assert "top-5:   chelsea.jpg (softmax of 'fc')" in out
    got = _top5_lines(out)
    want = _expected_top5()
    assert [c for c, _ in got] == [c for c, _ in want]
    for (_, g), (_, w) in zip(got, want):
        assert g == pytest.approx(w, abs=0.006)
    # fc ran for the top-5 but was not asked for: neither printed as a row nor saved
    assert list(_stat_lines(out)) == ["layer4"]
    with np.load(tmp_path / "f.npz") as data:
        assert data.files == ["layer4"]
    assert "downloading" not in proc.stderr  # read from the cache


def test_extract_with_torchvision_file_path_knows_its_categories(
    torch_home_with_resnet18, tmp_path
):
    path = torch_home_with_resnet18 / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    proc = run(
        "extract",
        "resnet18",
        "--nodes",
        "fc",
        "--weights",
        str(path),
        "--out",
        str(tmp_path / "f.npz"),
    )
    assert proc.returncode == 0, proc.stderr
    assert f"weights: {path} (= ResNet18_Weights.IMAGENET1K_V1)" in proc.stdout
    assert [c for c, _ in _top5_lines(proc.stdout)] == [c for c, _ in _expected_top5()]
    assert list(_stat_lines(proc.stdout)) == ["fc"]
    # Under another name the same file is just a checkpoint: no categories, no top-5.
    other = tmp_path / "mine.pth"
    other.write_bytes(path.read_bytes())
    proc = run(
        "extract",
        "resnet18",
        "--nodes",
        "fc",
        "--weights",
        str(other),
        "--out",
        str(tmp_path / "g.npz"),
    )
    assert proc.returncode == 0, proc.stderr
    assert f"weights: {other}" in proc.stdout and "top-5" not in proc.stdout


def test_extract_uses_the_weights_preset_and_size_overrides(
    torch_home_with_resnet18, monkeypatch, capsys, tmp_path
):
    from featx import cli
    from featx.hub import download
    from featx.models import ResNet18_Weights
    from featx.models._weights import _Preset

    monkeypatch.setenv("TORCH_HOME", str(torch_home_with_resnet18))
    monkeypatch.setattr(download, "_hub_dir", None)
    value = ResNet18_Weights.IMAGENET1K_V1.value
    keywords = dict(value.transforms.keywords, resize_size=232, interpolation="bicubic")
    monkeypatch.setattr(value, "transforms", _Preset(keywords))
    out = str(tmp_path / "f.npz")
    base = ["extract", "resnet18", "--nodes", "layer1", "--weights", "IMAGENET1K_V1"]
    assert cli.main([*base, "--out", out]) == 0
    assert (
        "(resize 232, center crop 224, bicubic, ImageNet mean/std; the weights' preset)"
        in (capsys.readouterr().out)
    )
    assert cli.main([*base, "--out", out, "--input-size", "112"]) == 0
    assert "(1, 3, 112, 112) float32 (resize 128, center crop 112, bicubic" in (
        capsys.readouterr().out
    )
    assert cli.main([*base, "--out", out, "--resize-size", "300"]) == 0
    assert "(resize 300, center crop 224, bicubic" in capsys.readouterr().out


def test_extract_offline_says_where_to_put_the_file(tmp_path, monkeypatch, capsys):
    import socket

    from featx import cli
    from featx.hub import download
    from featx.models import ResNet18_Weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_home"))
    monkeypatch.setattr(download, "_hub_dir", None)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    member = ResNet18_Weights.IMAGENET1K_V1
    monkeypatch.setattr(
        member.value, "url", f"http://127.0.0.1:{port}/{member.file_name}"
    )
    code = cli.main(
        [
            "extract",
            "resnet18",
            "--nodes",
            "layer1",
            "--weights",
            "DEFAULT",
            "--out",
            str(tmp_path / "f.npz"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("featx: error: ")
    expected_path = tmp_path / "empty_home" / "hub" / "checkpoints" / member.file_name
    assert str(expected_path) in err
    assert not (tmp_path / "f.npz").exists()


# ---------------------------------------------------------- options given twice, bad sizes


def test_repeated_nodes_and_images_are_combined(tmp_path):
    out = tmp_path / "f.npz"
    sample = featx.transforms.sample_image_path()
    proc = run("extract", "resnet18", "--nodes", "layer1", "--nodes", "layer4",
               "--image", sample, "--image", sample, "--seed", "0", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    with np.load(out) as z:
        assert sorted(z.files) == ["layer1", "layer4"]
        assert z["layer1"].shape[0] == 2


@pytest.mark.parametrize("option,value", [("--input-size", "100000"),
                                          ("--resize-size", "99999999999"),
                                          ("--input-size", "0")])
def test_out_of_range_sizes_are_one_line_errors(tmp_path, option, value):
    proc = run("extract", "resnet18", "--nodes", "layer1", option, value,
               "--out", str(tmp_path / "f.npz"))
    _assert_one_line_error(proc, option, value, "8192")


@pytest.mark.parametrize("make_out", [lambda p: p / "missing" / "f.npz",
                                      lambda p: p / "d.npz", lambda p: ""])
def test_bad_output_path_is_reported_before_any_work(tmp_path, make_out):
    target = make_out(tmp_path)
    if str(target).endswith("d.npz"):
        target.mkdir()
    proc = run("extract", "resnet18", "--nodes", "layer1", "--out", str(target))
    _assert_one_line_error(proc, "--out" if target == "" else "cannot write")
    assert "layer1" not in proc.stdout  # nothing ran


def test_extract_refuses_a_tuple_node_instead_of_stacking_it(tmp_path):
    # shufflenet's chunk returns two arrays; np.asarray would stack them into one
    # (2, N, ...) array whose axis 0 is not the batch.
    out = tmp_path / "s.npz"
    proc = run("extract", "shufflenet_v2_x0_5", "--nodes", "stage2.1.chunk", "--seed", "0",
               "--input-size", "64", "--out", str(out))
    assert proc.returncode != 0
    assert "stage2.1.chunk" in proc.stderr and "getitem" in proc.stderr, proc.stderr
    assert "'featx nodes MODEL'" in proc.stderr, proc.stderr
    assert not out.exists()


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_extract_names_the_output_it_cannot_write():
    # /proc exists, but no folder can be made in it: the OSError comes from the writer.
    out = "/proc/featx-cannot-write-here"
    proc = run("extract", "resnet18", str(Path(sample_image_path()).parent), "--nodes", "layer1",
               "--seed", "0", "--input-size", "32", "--format", "npy-dir", "--out", out)
    assert proc.returncode == 2
    assert f"featx: error: cannot write '{out}': " in proc.stderr, proc.stderr


@pytest.mark.parametrize("value", ["-1", str(2**64)])
@pytest.mark.parametrize("folder", [False, True])
def test_seed_outside_the_printed_range_is_a_one_line_error(tmp_path, value, folder):
    # featx.manual_seed(-1) wraps to 2**64-1 as torch does; the command takes only the
    # seeds it prints, so that the one printed is the one typed.
    inputs = [featx.transforms.sample_image_path()] if folder else []
    proc = run("extract", "resnet18", *inputs, "--nodes", "layer1", "--seed", value,
               "--input-size", "32", "--out", str(tmp_path / "f.npz"))
    _assert_one_line_error(proc, "--seed", f"got {value}", f"0..{2**64 - 1}")
    assert not (tmp_path / "f.npz").exists()


def test_largest_seed_is_accepted_and_printed(tmp_path):
    proc = run("extract", "resnet18", "--nodes", "layer1", "--seed", str(2**64 - 1),
               "--input-size", "32", "--out", str(tmp_path / "f.npz"))
    assert proc.returncode == 0, proc.stderr
    assert f"seed {2**64 - 1};" in proc.stdout


def test_out_that_is_a_device_is_refused_not_suffixed(tmp_path):
    # '--out /dev/null' wrote /dev/null.npz (a new file in /dev) before.
    assert not os.path.isfile(os.devnull)
    proc = run("extract", "resnet18", "--nodes", "layer1", "--input-size", "32",
               "--out", os.devnull, cwd=tmp_path)
    _assert_one_line_error(proc, f"--out {os.devnull!r} is a device, pipe or socket; "
                           "expected a .npz file name")
    assert not os.path.exists(os.devnull + ".npz")
