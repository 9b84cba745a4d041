"""The ``featx`` command line, run end to end as ``python -m featx`` in a subprocess."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest

import featx
from featx.transforms import sample_image_path

# The featx that this test session imports, also for the subprocess (in-place builds included).
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(featx.__file__)))


def run(
    *args: str, cwd: str | os.PathLike[str] | None = None
) -> subprocess.CompletedProcess:
    env = dict(os.environ)
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
            lo, mean, hi = (float(v) for v in rows[name][1:])
            assert lo == pytest.approx(float(a.min()), abs=1e-4)
            assert mean == pytest.approx(float(a.mean(dtype=np.float64)), abs=1e-4)
            assert hi == pytest.approx(float(a.max()), abs=1e-4)
            assert lo <= mean <= hi


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
    _assert_one_line_error(proc, "layer9")
    assert not (tmp_path / "features.npz").exists()


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
        "not an .npz file",
    )
    single = tmp_path / "w.npy"
    np.save(single, np.zeros(3, np.float32))
    _assert_one_line_error(
        run("extract", "resnet18", "--nodes", "layer1", "--weights", str(single)),
        "not an .npz file",
    )


def test_unwritable_output_fails_before_running(tmp_path):
    out = str(tmp_path / "missing_dir" / "f.npz")
    proc = run("extract", "resnet18", "--nodes", "layer1", "--out", out)
    _assert_one_line_error(proc, "missing_dir", "does not exist")
    assert proc.stdout == ""


def test_duplicate_node_and_bad_sizes():
    _assert_one_line_error(
        run("extract", "resnet18", "--nodes", "layer1", "layer1"), "more than once"
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
