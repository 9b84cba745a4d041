"""Regenerate featx's golden data under ``tests/golden`` from torchvision.

Runs only with the oracle interpreter, which has torch and torchvision (never a featx
dependency)::

    .venv-oracle/bin/python tools/make_golden.py              # everything
    .venv-oracle/bin/python tools/make_golden.py --only names # one part:
        # names | state_dict | outputs | scenarios (repeatable)
    .venv-oracle/bin/python tools/make_golden.py --models resnet18 resnet50
    .venv-oracle/bin/python tools/make_golden.py --check      # regenerate in a temp dir
        # and report files that would change, without writing tests/golden

Output (all deterministic; re-running gives byte-identical JSON and identical arrays):

``tests/golden/names/<model>.json``
    ``{"train": [...], "eval": [...]}`` from
    ``torchvision.models.feature_extraction.get_graph_node_names(model)``, model built with
    ``weights=None``. Models: :data:`NAME_MODELS`.
``tests/golden/state_dict/<model>.json``
    ``[[key, shape, dtype], ...]`` in ``model.state_dict()`` order, dtype as a NumPy name.
``tests/golden/outputs/<model>.npz`` (models in :data:`OUTPUT_MODELS`)
    Synthetic weights (``tests/synthetic.py``, seed :data:`WEIGHT_SEED`) loaded, eval mode,
    ``input`` = ``synthetic_input(<the model's input shape>, seed=INPUT_SEED)``, and one
    float32 array per return node of that model (:data:`OUTPUT_MODELS`; the last is the
    logits) from ``create_feature_extractor``. For the models in :data:`TRAIN_MODELS` also
    ``train/<node>`` (fresh model, train mode, BatchNorm batch statistics, same input) and
    ``train_state/<key>``: selected BatchNorm running statistics after that single
    train-mode forward (torch updates them in place).
``tests/golden/manifest.json``
    Versions, seeds, shapes, return nodes and a fingerprint of the synthetic weights per
    output model, so a test can tell "weights generator changed" from "featx differs".
``tests/golden/scenarios.json``
    Train/eval node names of small modules modelled on torchvision's own feature-extraction
    tests (see :data:`SCENARIOS`), each with a description and the torch source used, so
    ``tests/test_tv_scenarios.py`` can rebuild the same structure with ``featx.nn``.

To add a model, append it to :data:`NAME_MODELS` (and to :data:`OUTPUT_MODELS` for value
goldens; keep each ``.npz`` below ~2 MB) and re-run.
"""
from __future__ import annotations

import argparse
import filecmp
import inspect
import json
import os
import re
import shutil
import sys
import tempfile
import textwrap
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from synthetic import (fingerprint, state_dict_shapes, synthetic_input,  # noqa: E402
                       synthetic_state_dict)

try:
    import torch
    import torch.fx
    import torchvision
    from torch import nn
    from torchvision.models.feature_extraction import (create_feature_extractor,
                                                       get_graph_node_names)
except ImportError as exc:  # pragma: no cover
    sys.exit(f"make_golden.py needs torch + torchvision (use .venv-oracle/bin/python): {exc}")

GOLDEN = REPO / "tests" / "golden"

#: Models whose node names and state_dict layout are recorded.
NAME_MODELS: list[str] = [
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnext50_32x4d",
    "resnext101_32x8d",
    "resnext101_64x4d",
    "wide_resnet50_2",
    "wide_resnet101_2",
    # issue 4: the classification CNN zoo
    "alexnet",
    "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
    "squeezenet1_0", "squeezenet1_1",
    "densenet121", "densenet161", "densenet169", "densenet201",
    "googlenet", "inception_v3",
    "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large",
    "mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3",
    "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0",
    "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3",
    "efficientnet_b4", "efficientnet_b5", "efficientnet_b6", "efficientnet_b7",
    "efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l",
    "regnet_y_400mf", "regnet_y_800mf", "regnet_y_1_6gf", "regnet_y_3_2gf", "regnet_y_8gf",
    "regnet_y_16gf", "regnet_y_32gf", "regnet_y_128gf",
    "regnet_x_400mf", "regnet_x_800mf", "regnet_x_1_6gf", "regnet_x_3_2gf", "regnet_x_8gf",
    "regnet_x_16gf", "regnet_x_32gf",
    "convnext_tiny", "convnext_small", "convnext_base", "convnext_large",
]

#: Nodes extracted for the value goldens of the ResNet family.
RESNET_NODES: list[str] = ["x", "conv1", "layer1", "layer2.0.downsample", "layer3.1.relu_1",
                           "layer4", "flatten", "fc"]

#: Models whose extractor outputs on synthetic weights are recorded (eval mode), one or two
#: per family: model -> (return nodes in execution order, the last being the logits; input
#: shape).
OUTPUT_MODELS: dict[str, tuple[list[str], tuple[int, ...]]] = {
    "resnet18": (RESNET_NODES, (2, 3, 64, 64)),
    "resnet50": (RESNET_NODES, (2, 3, 64, 64)),
    "alexnet": (["features.2", "features", "avgpool", "flatten", "classifier.6"],
                (2, 3, 64, 64)),
    "vgg11_bn": (["features.3", "features", "flatten", "classifier.6"], (2, 3, 32, 32)),
    "squeezenet1_1": (["features.3", "features", "classifier", "flatten"], (2, 3, 64, 64)),
    "densenet121": (["features.denseblock1", "features.transition2", "features.norm5",
                     "flatten", "classifier"], (2, 3, 64, 64)),
    "googlenet": (["maxpool2", "inception3a", "inception4e", "flatten", "fc"],
                  (2, 3, 64, 64)),
    "inception_v3": (["Conv2d_4a_3x3", "Mixed_5b", "Mixed_6e", "Mixed_7c", "flatten", "fc"],
                     (2, 3, 96, 96)),
    "mobilenet_v2": (["features.1", "features.7", "features", "flatten", "classifier.1"],
                     (2, 3, 64, 64)),
    "mobilenet_v3_small": (["features.1", "features.6", "features", "flatten",
                            "classifier.3"], (2, 3, 64, 64)),
    "mnasnet0_5": (["layers.7", "layers", "mean", "classifier.1"], (2, 3, 64, 64)),
    "shufflenet_v2_x0_5": (["maxpool", "stage2", "stage3", "conv5", "mean", "fc"],
                           (2, 3, 64, 64)),
    "efficientnet_b0": (["features.1", "features.4", "features", "flatten", "classifier.1"],
                        (2, 3, 64, 64)),
    "regnet_y_400mf": (["stem", "trunk_output.block1", "trunk_output", "flatten", "fc"],
                       (2, 3, 64, 64)),
    "regnet_x_400mf": (["stem", "trunk_output.block2", "trunk_output", "flatten", "fc"],
                       (2, 3, 64, 64)),
    "convnext_tiny": (["features.1", "features.4", "features", "classifier.1",
                       "classifier.2"], (2, 3, 64, 64)),
}

#: Models whose train-mode outputs (BatchNorm batch statistics) are recorded too.
TRAIN_MODELS: list[str] = ["resnet18"]

#: BatchNorm running statistics recorded after the train-mode forward.
TRAIN_STATE_KEYS: list[str] = [
    "bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked",
    "layer2.0.downsample.1.running_mean", "layer2.0.downsample.1.running_var",
    "layer4.1.bn2.running_mean", "layer4.1.bn2.running_var",
]

WEIGHT_SEED = 0
INPUT_SEED = 1


# --------------------------------------------------------------------------- helpers

def build(name: str) -> "nn.Module":
    return getattr(torchvision.models, name)(weights=None)


def graph_names(model, **kw) -> dict[str, list[str]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train, eval_ = get_graph_node_names(model, **kw)
    return {"train": list(train), "eval": list(eval_)}


def dump_json(path: Path, obj, compact_lists: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if compact_lists:  # one entry per line, diff-friendly
        lines = ",\n".join("  " + json.dumps(e) for e in obj)
        text = "[\n" + lines + "\n]\n"
    else:
        text = json.dumps(obj, indent=1) + "\n"
        # keep short all-number lists (shapes) on one line
        text = re.sub(r"\[\s*(-?[0-9.e+-]+(?:,\s*-?[0-9.e+-]+)*)\s*\]",
                      lambda m: "[" + ", ".join(m.group(1).split()).replace(",,", ",") + "]",
                      text)
    path.write_text(text, encoding="utf-8")


def dtype_name(t: "torch.Tensor") -> str:
    return str(t.dtype).replace("torch.", "")


def load_synthetic(model) -> dict[str, np.ndarray]:
    current = model.state_dict()
    sd = synthetic_state_dict(state_dict_shapes(current), seed=WEIGHT_SEED)
    tensors = type(current)((k, torch.from_numpy(v.copy())) for k, v in sd.items())
    tensors._metadata = current._metadata  # mnasnet checks its version record
    model.load_state_dict(tensors)
    return sd


def out_of_place(fx):
    """torchvision's in-place ReLUs (``nn.ReLU(inplace=True)``, ``F.relu(x, inplace=True)``)
    overwrite the value of the node before them, which would then be recorded wrongly
    (featx never changes a returned value). Make every op of the extractor out-of-place."""
    for module in fx.modules():
        if getattr(module, "inplace", False) is True:
            module.inplace = False
    for graph in (fx.train_graph, fx.eval_graph):
        for node in graph.nodes:
            if node.kwargs.get("inplace") is True:
                node.kwargs = {**node.kwargs, "inplace": False}
    fx.recompile()
    return fx


def to_numpy(v) -> np.ndarray:
    if isinstance(v, torch.Tensor):
        return v.detach().cpu().numpy()
    return np.asarray(v)


# --------------------------------------------------------------------------- parts

def make_names(out: Path, models: list[str]) -> None:
    for name in models:
        m = build(name)
        dump_json(out / "names" / f"{name}.json", graph_names(m))
        print(f"names/{name}.json")


def make_state_dict(out: Path, models: list[str]) -> None:
    for name in models:
        sd = build(name).state_dict()
        rows = [[k, list(v.shape), dtype_name(v)] for k, v in sd.items()]
        dump_json(out / "state_dict" / f"{name}.json", rows, compact_lists=True)
        print(f"state_dict/{name}.json ({len(rows)} entries)")


def make_outputs(out: Path, models: list[str]) -> dict:
    manifest = {}
    for name in models:
        if name not in OUTPUT_MODELS:
            continue
        return_nodes, input_shape = OUTPUT_MODELS[name]
        x_np = synthetic_input(input_shape, seed=INPUT_SEED)
        arrays = {"input": x_np}
        entry = {"return_nodes": return_nodes, "logits_node": return_nodes[-1],
                 "input_shape": list(input_shape),
                 "input_seed": INPUT_SEED, "weight_seed": WEIGHT_SEED}
        for mode in (["eval", "train"] if name in TRAIN_MODELS else ["eval"]):
            torch.manual_seed(0)
            m = build(name)
            sd = load_synthetic(m)
            entry["weights_fingerprint"] = fingerprint(sd)
            m.train(mode == "train")
            fx = out_of_place(create_feature_extractor(m, return_nodes=return_nodes,
                                                       suppress_diff_warning=True))
            with torch.no_grad():
                res = fx(torch.from_numpy(x_np.copy()))
            prefix = "" if mode == "eval" else "train/"
            for k, v in res.items():
                arrays[prefix + k] = to_numpy(v).astype(np.float32)
            if mode == "eval":
                with torch.no_grad():
                    logits = m(torch.from_numpy(x_np.copy()))
                diff = float((logits - res[return_nodes[-1]]).abs().max())
                assert diff == 0.0, f"{name}: eager logits differ from extractor fc by {diff}"
            else:
                state = m.state_dict()
                for k in TRAIN_STATE_KEYS:
                    arrays["train_state/" + k] = to_numpy(state[k])
            entry[f"{mode}_shapes"] = {k: list(v.shape) for k, v in res.items()}
            entry[f"{mode}_max_abs"] = {k: float(np.abs(to_numpy(v)).max())
                                        for k, v in res.items()}
        if name in TRAIN_MODELS:
            entry["train_state_keys"] = TRAIN_STATE_KEYS
        path = out / "outputs" / f"{name}.npz"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, **arrays)
        manifest[name] = entry
        print(f"outputs/{name}.npz ({path.stat().st_size / 1e6:.2f} MB, {len(arrays)} arrays)")
    return manifest


# --------------------------------------------------------------------------- scenarios
# Small modules modelled on the ideas of torchvision's TestFxFeatureExtraction tests
# (our own code). Each SCENARIOS entry: builder, get_graph_node_names kwargs, description.

class NamingSub(nn.Module):
    """(a) inner: `+ 1` twice, then one ReLU module called twice."""

    def __init__(self):
        super().__init__()
        self.relu = nn.ReLU()

    def forward(self, x):
        x = x + 1
        x = x + 1
        x = self.relu(x)
        return self.relu(x)


class NamingTop(nn.Module):
    """(a) outer: the submodule, then the same four ops again at the root."""

    def __init__(self):
        super().__init__()
        self.submodule = NamingSub()
        self.relu = nn.ReLU()

    def forward(self, x):
        x = self.submodule(x)
        x = x + 1
        x = x + 1
        x = self.relu(x)
        return self.relu(x)


class DropoutNet(nn.Module):
    """(b) Linear(4, 8) -> Dropout(0.5) -> ReLU -> Linear(8, 2); no control flow."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.dropout = nn.Dropout(p=0.5)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc2(self.relu(self.dropout(self.fc1(x))))


class OpaqueBlock(nn.Module):
    """(c) leaf module: int() of a traced shape would fail if it were traced through."""

    def forward(self, x):
        int(x.shape[0])
        return nn.functional.relu(x + 4)


def opaque_fn(n):
    """(c) leaf function: int() of a traced value, autowrapped via tracer_kwargs."""
    return int(n)


torch.fx.wrap("opaque_fn")


class LeafNet(nn.Module):
    """(c) opaque_fn(x.shape[0]) (result unused), Conv2d(3, 1, 3), the leaf block."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 3)
        self.leaf_module = OpaqueBlock()

    def forward(self, x):
        opaque_fn(x.shape[0])
        x = self.conv(x)
        return self.leaf_module(x)


class DigitNames(nn.Module):
    """(d) leaf modules whose names end in _<digits>: ln_1, fc_1, ln_2, then fc called twice."""

    def __init__(self):
        super().__init__()
        self.ln_1 = nn.LayerNorm(8)
        self.fc_1 = nn.Linear(8, 8)
        self.ln_2 = nn.LayerNorm(8)
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        x = self.ln_1(x)
        x = self.fc_1(x)
        x = self.ln_2(x)
        x = self.fc(x)
        return self.fc(x)


class TrainEvalNet(nn.Module):
    """(e) Dropout(p=1.0), then `+= 100` in train mode / `*= 0` in eval mode, then `-= 0`."""

    def __init__(self):
        super().__init__()
        self.dropout = nn.Dropout(p=1.0)

    def forward(self, x):
        x = self.dropout(x)
        if self.training:
            x += 100
        else:
            x *= 0
        x -= 0
        return x


class FlattenStems(nn.Module):
    """(f) method x.flatten(1) and function torch.flatten(x, 1) share the stem `flatten`;
    a function named like a module (F.relu next to a `relu` leaf)."""

    def __init__(self):
        super().__init__()
        self.relu = nn.ReLU()

    def forward(self, x):
        a = x.flatten(1)
        b = torch.flatten(x, 1)
        c = self.relu(a)
        d = nn.functional.relu(b)
        return c + d


class SharedModule(nn.Module):
    """(g) one ReLU instance registered as `a` and `b`; called through `b` then `a`."""

    def __init__(self):
        super().__init__()
        self.a = nn.ReLU()
        self.b = self.a

    def forward(self, x):
        x = self.b(x)
        return self.a(x)


class Repeated(nn.Module):
    """(h) a traced-through block (Linear, relu function, *2) called twice, next to a
    sibling block of the same class: counters are per dotted stem."""

    def __init__(self):
        super().__init__()
        self.blk = Blk()
        self.other = Blk()

    def forward(self, x):
        x = self.blk(x)
        x = self.blk(x)
        return self.other(x)


class Blk(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        return 2 * torch.relu(self.lin(x))


SCENARIOS = {
    "naming_conventions": dict(
        build=NamingTop, classes=[NamingSub, NamingTop], kwargs={},
        description="(a) torchvision test_node_name_conventions idea: submodule does x+1, x+1, "
                    "relu module twice; the root repeats the same four ops.",
        featx_expected="same"),
    "dropout": dict(
        build=DropoutNet, classes=[DropoutNet], kwargs={},
        description="(b) Linear(4,8) -> Dropout(p=0.5) -> ReLU -> Linear(8,2); Dropout is a "
                    "leaf, so train and eval lists are identical.",
        featx_expected="same"),
    "leaf_module_and_function": dict(
        build=LeafNet, classes=[OpaqueBlock, LeafNet], functions=[opaque_fn],
        kwargs={"tracer_kwargs": {"leaf_modules": ["OpaqueBlock"],
                                  "autowrap_functions": ["opaque_fn"]}},
        description="(c) torchvision test_leaf_module_and_function idea: leaf function "
                    "called on x.shape[0] (result unused), Conv2d(3,1,3), then a user leaf "
                    "module whose forward calls int() on a shape. tracer_kwargs names refer "
                    "to the classes/functions in 'source'.",
        featx_expected="same"),
    "digit_suffixed_modules": dict(
        build=DigitNames, classes=[DigitNames], kwargs={},
        description="(d) leaf modules ln_1, fc_1, ln_2, fc (fc called twice). torchvision "
                    "strips a trailing _<digits> from module paths; featx keeps module paths "
                    "(SPEC 3, rule 3).",
        featx_expected={"train": ["x", "ln_1", "fc_1", "ln_2", "fc", "fc_2"],
                        "eval": ["x", "ln_1", "fc_1", "ln_2", "fc", "fc_2"]}),
    "train_eval_control_flow": dict(
        build=TrainEvalNet, classes=[TrainEvalNet], kwargs={},
        description="(e) torchvision test_train_eval idea: Dropout(p=1.0), "
                    "`x += 100` if self.training else `x *= 0`, then `x -= 0`.",
        featx_expected="same"),
    "flatten_stems": dict(
        build=FlattenStems, classes=[FlattenStems], kwargs={},
        description="(f) method and function flatten share one counter; a relu function "
                    "after a relu leaf module gets relu_1.",
        featx_expected="same"),
    "shared_module": dict(
        build=SharedModule, classes=[SharedModule], kwargs={},
        description="(g) one module object registered as a and b: reported under the first "
                    "name named_modules() gives.",
        featx_expected="same"),
    "repeated_block": dict(
        build=Repeated, classes=[Blk, Repeated], kwargs={},
        description="(h) non-leaf block called twice plus a sibling of the same class.",
        featx_expected="same"),
}


def _resolve_kwargs(kwargs: dict) -> dict:
    tk = kwargs.get("tracer_kwargs")
    if not tk:
        return dict(kwargs)
    g = globals()
    resolved = {k: [g[n] for n in v] for k, v in tk.items()}
    return {**kwargs, "tracer_kwargs": resolved}


def make_scenarios(out: Path) -> None:
    result = {"_about": "torchvision.models.feature_extraction.get_graph_node_names on small "
                        "torch modules; generated by tools/make_golden.py. 'torchvision' is "
                        "what torchvision gives; 'featx_expected' is 'same' or featx's own "
                        "expected lists (where SPEC marks featx as different)."}
    for key, sc in SCENARIOS.items():
        names = graph_names(sc["build"](), **_resolve_kwargs(sc["kwargs"]))
        src = [textwrap.dedent(inspect.getsource(c)) for c in sc["classes"]]
        src += [textwrap.dedent(inspect.getsource(f)) for f in sc.get("functions", [])]
        result[key] = {
            "description": sc["description"],
            "source": "\n".join(src),
            "kwargs": sc["kwargs"],
            "torchvision": names,
            "featx_expected": sc["featx_expected"],
        }
        print(f"scenario {key}: train={names['train']} eval={names['eval']}")
    dump_json(out / "scenarios.json", result)


# --------------------------------------------------------------------------- main

PARTS = ("names", "state_dict", "outputs", "scenarios")


def generate(out: Path, parts, models) -> None:
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    manifest_path = out / "manifest.json"
    if "names" in parts:
        make_names(out, models)
    if "state_dict" in parts:
        make_state_dict(out, models)
    if "outputs" in parts:
        manifest = {}
        if manifest_path.exists():
            manifest = json.loads(manifest_path.read_text())
        outputs = dict(manifest.get("outputs", {}))
        outputs.update(make_outputs(out, models))
        manifest = {
            "generator": "tools/make_golden.py",
            "torch": torch.__version__.split("+")[0],
            "torchvision": torchvision.__version__.split("+")[0],
            "numpy": np.__version__,
            "tolerance": "max|featx - golden| <= 1e-4 * max|golden| per output (SPEC 7)",
            "outputs": {k: outputs[k] for k in sorted(outputs)},
        }
        dump_json(manifest_path, manifest)
    if "scenarios" in parts:
        make_scenarios(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append", choices=PARTS,
                    help="generate only this part (repeatable)")
    ap.add_argument("--models", nargs="+", default=None,
                    help=f"restrict to these models (default: NAME_MODELS = {NAME_MODELS})")
    ap.add_argument("--out", type=Path, default=GOLDEN, help="output directory")
    ap.add_argument("--check", action="store_true",
                    help="generate into a temp dir and list files differing from --out")
    args = ap.parse_args(argv)
    parts = args.only or PARTS
    models = args.models or NAME_MODELS
    unknown = [m for m in models if m not in NAME_MODELS]
    if unknown:
        ap.error(f"not in NAME_MODELS: {unknown}")
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}")
    if not args.check:
        generate(args.out, parts, models)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if (args.out / "manifest.json").exists():
            shutil.copy(args.out / "manifest.json", tmp / "manifest.json")
        generate(tmp, parts, models)
        changed = []
        for f in sorted(p for p in tmp.rglob("*") if p.is_file()):
            rel = f.relative_to(tmp)
            ref = args.out / rel
            if not ref.exists():
                changed.append(f"new: {rel}")
            elif f.suffix == ".npz":
                a, b = np.load(f), np.load(ref)
                if sorted(a.files) != sorted(b.files) or any(
                        not np.array_equal(a[k], b[k]) for k in a.files):
                    changed.append(f"changed: {rel}")
            elif not filecmp.cmp(f, ref, shallow=False):
                changed.append(f"changed: {rel}")
        print("\n".join(changed) if changed else "golden data is up to date")
        return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
