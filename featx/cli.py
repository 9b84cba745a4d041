"""The ``featx`` command: list a model's graph nodes, or extract features from a photo.

``featx nodes resnet18`` prints the names that ``get_graph_node_names`` gives (train and eval
mode). ``featx extract resnet18 --nodes layer1 layer4`` preprocesses an image (the bundled
sample photo by default) as torchvision's ImageNet preset does, runs
``create_feature_extractor``, prints one line of statistics per returned node and saves the
arrays to an ``.npz`` file whose keys are the node names.

Errors a user can cause (unknown model or node, unreadable image or weights file) print one
line, ``featx: error: ...``, on stderr and exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

EXIT_USAGE = 2


class CLIError(Exception):
    """A user-facing error: printed as one line on stderr, exit status 2."""


def _version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("featx")
    except PackageNotFoundError:
        import featx

        return str(getattr(featx, "__version__", "unknown"))


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, KeyError) and len(exc.args) == 1:
        text = str(exc.args[0])  # KeyError's str() adds quotes
    return " ".join(text.split()) or type(exc).__name__


def _get_model(name: str) -> Any:
    from featx import models

    return models.get_model(name)  # an unknown name is a ValueError naming close names


# --------------------------------------------------------------------------- featx models


def _cmd_models(args: argparse.Namespace) -> int:
    from featx import models

    for name in models.list_models():
        print(name)
    return 0


# --------------------------------------------------------------------------- featx nodes


def _cmd_nodes(args: argparse.Namespace) -> int:
    from featx.models.feature_extraction import get_graph_node_names

    model = _get_model(args.model)
    train, evaluation = get_graph_node_names(model, suppress_diff_warning=True)
    if args.mode == "train":
        names: list[str] = list(train)
    elif args.mode == "eval":
        names = list(evaluation)
    else:
        if list(train) == list(evaluation):
            print(
                f"# {args.model}: {len(train)} nodes, the same in train and eval mode"
            )
            names = list(train)
        else:
            only_train = set(train) - set(evaluation)
            only_eval = set(evaluation) - set(train)
            print(
                f"# {args.model}: train and eval mode differ "
                f"({len(only_train)} only in train, {len(only_eval)} only in eval); "
                "give create_feature_extractor train_return_nodes and eval_return_nodes"
            )
            print(f"# train mode: {len(train)} nodes")
            for n in train:
                print(n)
            print(f"# eval mode: {len(evaluation)} nodes")
            names = list(evaluation)
    for n in names:
        print(n)
    return 0


# --------------------------------------------------------------------------- featx extract


def _load_weights(model: Any, path: str) -> None:
    import zipfile

    import numpy as np

    if not os.path.isfile(path):
        raise CLIError(f"weights file not found: {path!r}")
    if not zipfile.is_zipfile(path):
        raise CLIError(
            f"weights file {path!r} is not an .npz file (np.savez of a state dict)"
        )
    try:
        with zipfile.ZipFile(path) as z:
            members = z.namelist()
        if any(m.endswith("data.pkl") for m in members):
            raise CLIError(
                f"weights file {path!r} is a PyTorch checkpoint, which this version cannot "
                "read; convert it once with torch: np.savez(path, **{k: v.numpy() for k, v "
                "in torch.load(pth).items()})"
            )
        with np.load(path, allow_pickle=False) as data:
            if not all(m.endswith(".npy") for m in members):
                raise CLIError(f"weights file {path!r} holds non-array members")
            state = {k: data[k] for k in data.files}
    except CLIError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        msg = _one_line(e)
        raise CLIError(
            f"cannot read weights {path!r} as an .npz state dict: {msg}"
        ) from None
    try:
        model.load_state_dict(state)
    except (KeyError, ValueError, RuntimeError, TypeError) as e:
        raise CLIError(
            f"weights {path!r} do not fit the model: {_one_line(e)}"
        ) from None


def _seed(seed: int | None) -> int:
    """Seeds featx's generator with ``seed`` (if given) and returns the seed in use."""
    import featx

    if seed is not None:
        featx.manual_seed(seed)
    return int(featx.initial_seed())


def _fmt_shape(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(int(s)) for s in shape) + ")"


def _cmd_extract(args: argparse.Namespace) -> int:
    import numpy as np

    from featx.models.feature_extraction import create_feature_extractor
    from featx.transforms import ImageClassification, load_image, sample_image_path

    if args.input_size <= 0:
        raise CLIError(
            f"--input-size must be a positive number of pixels, got {args.input_size}"
        )
    resize = (
        args.resize_size
        if args.resize_size is not None
        else int(args.input_size * 256 / 224)
    )
    if resize <= 0:
        raise CLIError(
            f"--resize-size must be a positive number of pixels, got {resize}"
        )

    out = args.out if args.out.endswith(".npz") else args.out + ".npz"
    if not os.path.isdir(os.path.dirname(os.path.abspath(out))):
        raise CLIError(f"cannot write {out!r}: its directory does not exist")

    image_paths = args.image or [sample_image_path()]
    images = []
    for p in image_paths:
        try:
            images.append(load_image(p))
        except (OSError, ValueError) as e:
            raise CLIError(_one_line(e)) from None

    seed = _seed(args.seed)
    model = _get_model(args.model)
    if args.weights:
        _load_weights(model, args.weights)
    model.eval()

    transform = ImageClassification(crop_size=args.input_size, resize_size=resize)
    x = transform.batch(images)

    t0 = time.perf_counter()
    # Only the eval graph runs here, so a train/eval difference needs no warning.
    extractor = create_feature_extractor(
        model, return_nodes=list(args.nodes), suppress_diff_warning=True
    )
    t1 = time.perf_counter()
    features = extractor(x)
    t2 = time.perf_counter()

    print(f"model:   {args.model} (eval mode)")
    if args.weights:
        print(f"weights: {args.weights}")
    else:
        print(
            f"weights: none (randomly initialised, seed {seed}; features are not meaningful)"
        )
    for p, im in zip(image_paths, images):
        print(f"image:   {p} ({im.width}x{im.height})")
    print(
        f"input:   {_fmt_shape(x.shape)} float32 (resize {resize}, center crop "
        f"{args.input_size}, ImageNet mean/std)"
    )
    print(f"time:    trace {1e3 * (t1 - t0):.1f} ms, run {1e3 * (t2 - t1):.1f} ms")

    rows = [("node", "shape", "min", "mean", "max")]
    for name, arr in features.items():
        a = np.asarray(arr)
        if a.size:
            stats = (
                f"{a.min():.4f}",
                f"{a.mean(dtype=np.float64):.4f}",
                f"{a.max():.4f}",
            )
        else:
            stats = ("-", "-", "-")
        rows.append((name, _fmt_shape(a.shape), *stats))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1])]
        cells += [c.rjust(w) for c, w in zip(r[2:], widths[2:])]
        print("  ".join(cells).rstrip())

    try:
        np.savez(out, **{k: np.asarray(v) for k, v in features.items()})
    except OSError as e:
        raise CLIError(f"cannot write {out!r}: {_one_line(e)}") from None
    n = len(features)
    print(f"wrote:   {out} ({n} array{'s' if n != 1 else ''}, keys = node names)")
    return 0


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``featx`` command (also used by the tests)."""
    parser = argparse.ArgumentParser(
        prog="featx",
        description="torchvision-style feature extraction on NumPy, without PyTorch.",
    )
    parser.add_argument("--version", action="version", version=f"featx {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("models", help="list the model names get_model() accepts")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser(
        "nodes",
        help="print a model's graph node names (get_graph_node_names)",
        description="Print the node names that can be requested from MODEL, one per line.",
    )
    p.add_argument("model", metavar="MODEL", help="model name, e.g. resnet18")
    p.add_argument(
        "--mode",
        choices=("train", "eval", "both"),
        default="both",
        help="which trace to list; 'both' (default) says whether they differ",
    )
    p.set_defaults(func=_cmd_nodes)

    p = sub.add_parser(
        "extract",
        help="run a feature extractor on an image and save the arrays to .npz",
        description=(
            "Preprocess an image like torchvision's ImageNet preset (resize, center crop, "
            "normalise), run create_feature_extractor(MODEL, return_nodes=NODES) in eval mode, "
            "print min/mean/max per node and save the arrays (keys = node names)."
        ),
    )
    p.add_argument("model", metavar="MODEL", help="model name, e.g. resnet18")
    p.add_argument(
        "--nodes",
        nargs="+",
        required=True,
        metavar="NODE",
        help="node names or module paths (see 'featx nodes MODEL'), e.g. layer1 layer4",
    )
    p.add_argument(
        "--image",
        nargs="+",
        metavar="PATH",
        help="image file(s), stacked into one batch (default: the bundled sample photo)",
    )
    p.add_argument(
        "--input-size",
        type=int,
        default=224,
        metavar="PIXELS",
        help="side of the center crop fed to the model (default: 224)",
    )
    p.add_argument(
        "--resize-size",
        type=int,
        default=None,
        metavar="PIXELS",
        help="shorter side after resizing, before the crop (default: input size * 256 / 224)",
    )
    p.add_argument(
        "--weights",
        metavar="PATH",
        help=".npz state dict (keys as in model.state_dict()); default: random initialisation",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of the random initialisation (default: a fresh one, printed)",
    )
    p.add_argument(
        "--out",
        default="features.npz",
        metavar="PATH",
        help="output .npz file (default: features.npz)",
    )
    p.set_defaults(func=_cmd_extract)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``featx`` command line; returns the exit status.

    Args:
        argv: arguments without the program name; ``None`` means ``sys.argv[1:]``.

    Returns:
        0 on success, 2 on a usage or input error (one line on stderr).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except CLIError as e:
        print(f"featx: error: {e}", file=sys.stderr)
    except BrokenPipeError:
        # The reader went away (`featx nodes resnet50 | head`): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (ValueError, OSError, NotImplementedError) as e:
        # Unknown nodes, tracing limits, shape errors from the library: all user-facing.
        print(f"featx: error: {_one_line(e)}", file=sys.stderr)
    except KeyboardInterrupt:
        print("featx: interrupted", file=sys.stderr)
        return 130
    return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
