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
    text = " ".join(text.split()) or type(exc).__name__
    if len(text) > 1200:  # e.g. every key of a mismatched checkpoint
        text = text[:1200] + " ... (truncated)"
    return text


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


_CHECKPOINT_EXTS = (".pth", ".pt", ".bin", ".ckpt", ".safetensors", ".npz", ".tar")


def _is_weights_path(spec: str) -> bool:
    """Whether --weights names a file (it exists, has a directory part or a checkpoint
    extension) rather than a weights enum member such as ``DEFAULT``."""
    if os.path.exists(spec):
        return True
    seps = [os.sep] + ([os.altsep] if os.altsep else [])
    return any(sep in spec for sep in seps) or spec.lower().endswith(_CHECKPOINT_EXTS)


def _weights_enum(model_name: str) -> Any:
    """The model's weights enum class, or None if featx knows no pretrained weights for it."""
    from featx.models import get_model_weights

    try:
        return get_model_weights(model_name)
    except ValueError:
        return None


def _resolve_weights(model_name: str, spec: str) -> tuple[Any, str | None]:
    """--weights -> (enum member or None, local file or None).

    A file whose name is that of one of the model's torchvision weights (e.g. a copy of
    ``resnet50-0676ba61.pth``) also gives that member, for its preset and categories.
    """
    enum_cls = _weights_enum(model_name)
    if _is_weights_path(spec):
        if not os.path.isfile(spec):
            raise CLIError(f"weights file not found: {spec!r}")
        base = os.path.basename(spec)
        member = None
        if enum_cls is not None:
            member = next((m for m in enum_cls if m.file_name == base), None)
        return member, spec
    if enum_cls is None:
        raise CLIError(
            f"no pretrained weights are known for {model_name!r}; --weights takes a "
            f"checkpoint file (.pth, .pt, .safetensors, .npz) for it"
        )
    try:
        return enum_cls.verify(spec), None
    except ValueError as e:
        raise CLIError(
            f"{_one_line(e)}, or a checkpoint file (.pth, .pt, .safetensors, .npz)"
        ) from None


def _load_weights(model: Any, path: str) -> None:
    """Loads a checkpoint file (torch .pth/.pt, .safetensors, .npz) into ``model``."""
    import pickle

    from featx.hub import load_state_dict_file

    try:
        state = load_state_dict_file(path)
    except (OSError, ValueError, KeyError, ImportError, pickle.UnpicklingError) as e:
        msg = _one_line(e)
        if path not in msg:
            msg = f"{path!r}: {msg}"
        raise CLIError(f"cannot read weights {msg}") from None
    try:
        model.load_state_dict(state)
    except (KeyError, ValueError, RuntimeError, TypeError) as e:
        raise CLIError(
            f"weights {path!r} do not fit the model: {_one_line(e)}"
        ) from None


def _build_pretrained(model_name: str, member: Any) -> Any:
    """``get_model(model_name, weights=member)``: from torch's cache or downloaded into it."""
    from featx import models

    try:
        return models.get_model(model_name, weights=member)
    except (
        RuntimeError
    ) as e:  # a corrupt download (ChecksumError), a file that does not fit
        raise CLIError(f"cannot load {member!r}: {_one_line(e)}") from None


def _final_node(model: Any) -> str | None:
    """The last node of the model's eval graph (``fc``, ``classifier.6``, ...), or None."""
    from featx.models.feature_extraction import get_graph_node_names

    try:
        _, nodes = get_graph_node_names(model, suppress_diff_warning=True)
    except (ValueError, NotImplementedError):
        return None
    return str(nodes[-1]) if nodes else None


def _print_top5(
    logits: Any, categories: Sequence[str], image_names: Sequence[str], node: str
) -> None:
    """Softmax over the classes; one block of five ``probability  category`` lines per image."""
    import numpy as np

    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    for name, row in zip(image_names, p):
        print(f"top-5:   {name} (softmax of {node!r})")
        for i in np.argsort(-row, kind="stable")[:5]:
            print(f"         {100 * row[i]:6.2f}%  {categories[i]}")


def _seed(seed: int | None) -> int:
    """Seeds featx's generator with ``seed`` (if given) and returns the seed in use."""
    import featx

    if seed is not None:
        featx.manual_seed(seed)
    return int(featx.initial_seed())


def _fmt_shape(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(int(s)) for s in shape) + ")"


#: Largest --input-size / --resize-size accepted, in pixels.
MAX_SIDE = 8192


def _output_path(path: str) -> str:
    """The .npz path to write, checked before any work is done."""
    if not path.strip() or os.path.basename(path) in ("", ".npz"):
        raise CLIError(f"--out needs a file name, got {path!r}")
    out = path if path.endswith(".npz") else path + ".npz"
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        raise CLIError(f"cannot write {out!r}: its directory does not exist")
    if os.path.isdir(out):
        raise CLIError(f"cannot write {out!r}: it is a directory")
    if not os.access(parent, os.W_OK) or (
            os.path.exists(out) and not os.access(out, os.W_OK)):
        raise CLIError(f"cannot write {out!r}: permission denied")
    return out


def _cmd_extract(args: argparse.Namespace) -> int:
    import numpy as np

    from featx.models.feature_extraction import create_feature_extractor
    from featx.transforms import (
        IMAGENET_MEAN,
        IMAGENET_STD,
        ImageClassification,
        load_image,
        sample_image_path,
    )

    for option, value in (("--input-size", args.input_size),
                          ("--resize-size", args.resize_size)):
        if value is not None and not 1 <= value <= MAX_SIDE:
            raise CLIError(
                f"{option} must be a number of pixels in [1, {MAX_SIDE}], got {value}"
            )
    member, weights_path = (
        _resolve_weights(args.model, args.weights) if args.weights else (None, None)
    )

    out = _output_path(args.out)

    image_paths = args.image or [sample_image_path()]
    images = []
    for p in image_paths:
        try:
            images.append(load_image(p))
        except (OSError, ValueError) as e:
            raise CLIError(_one_line(e)) from None

    seed = _seed(args.seed)
    if member is not None and weights_path is None:
        model = _build_pretrained(args.model, member)
    else:
        model = _get_model(args.model)
        if weights_path is not None:
            _load_weights(model, weights_path)
    model.eval()

    # The weights' own preset (resize, crop, interpolation, mean/std) when known; an explicit
    # --input-size / --resize-size overrides it.
    sizes: dict[str, Any] = {}
    if args.input_size is not None:
        sizes["crop_size"] = args.input_size
        sizes["resize_size"] = int(args.input_size * 256 / 224)
    if args.resize_size is not None:
        sizes["resize_size"] = args.resize_size
    if sizes.get("resize_size", 1) <= 0:
        raise CLIError(
            f"--resize-size must be a positive number of pixels, got {sizes['resize_size']}"
        )
    if member is not None:
        transform = member.transforms(**sizes)
    else:
        transform = ImageClassification(**sizes)
    x = transform.batch(images)

    # With categorised weights, also run the model's final node (its classifier) for top-5.
    categories = member.meta.get("categories") if member is not None else None
    head = _final_node(model) if categories else None
    return_nodes = list(args.nodes)
    if head is not None and head not in return_nodes:
        return_nodes.append(head)

    t0 = time.perf_counter()
    # Only the eval graph runs here, so a train/eval difference needs no warning.
    extractor = create_feature_extractor(
        model, return_nodes=return_nodes, suppress_diff_warning=True
    )
    t1 = time.perf_counter()
    features = extractor(x)
    t2 = time.perf_counter()
    logits = features.get(head) if head is not None else None
    if head is not None and head not in args.nodes:
        features = {k: v for k, v in features.items() if k != head}

    print(f"model:   {args.model} (eval mode)")
    if member is not None and weights_path is None:
        from featx.hub.download import get_dir

        cached = os.path.join(get_dir(), "checkpoints", member.file_name)
        print(f"weights: {member!r} ({cached})")
    elif member is not None:
        print(f"weights: {weights_path} (= {member!r})")
    elif args.weights:
        print(f"weights: {args.weights}")
    else:
        print(
            f"weights: none (randomly initialised, seed {seed}; features are not meaningful)"
        )
    for p, im in zip(image_paths, images):
        print(f"image:   {p} ({im.width}x{im.height})")
    norm = (
        "ImageNet mean/std"
        if (tuple(transform.mean), tuple(transform.std))
        == (IMAGENET_MEAN, IMAGENET_STD)
        else f"mean {tuple(transform.mean)}, std {tuple(transform.std)}"
    )
    interp = transform.interpolation
    interp = "" if interp == "bilinear" else f", {getattr(interp, 'value', interp)}"
    preset = "; the weights' preset" if member is not None else ""
    print(
        f"input:   {_fmt_shape(x.shape)} float32 (resize {transform.resize_size}, center crop "
        f"{transform.crop_size}{interp}, {norm}{preset})"
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
    if logits is not None and categories:
        shape: tuple[int, ...] = tuple(getattr(logits, "shape", ()))
        if len(shape) == 2 and shape[1] == len(categories):
            names = [os.path.basename(str(p)) for p in image_paths]
            _print_top5(logits, categories, names, str(head))
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
        action="extend",
        required=True,
        metavar="NODE",
        help="node names or module paths (see 'featx nodes MODEL'), e.g. layer1 layer4",
    )
    p.add_argument(
        "--image",
        nargs="+",
        action="extend",
        metavar="PATH",
        help="image file(s), stacked into one batch (default: the bundled sample photo)",
    )
    p.add_argument(
        "--input-size",
        type=int,
        default=None,
        metavar="PIXELS",
        help="side of the center crop fed to the model (default: the weights' preset, else 224)",
    )
    p.add_argument(
        "--resize-size",
        type=int,
        default=None,
        metavar="PIXELS",
        help="shorter side after resizing, before the crop (default: the weights' preset, "
        "else input size * 256 / 224)",
    )
    p.add_argument(
        "--weights",
        metavar="NAME_OR_PATH",
        help="torchvision weights of MODEL (e.g. DEFAULT, IMAGENET1K_V1, "
        "ResNet50_Weights.IMAGENET1K_V2; read from torch's cache "
        "$TORCH_HOME/hub/checkpoints or downloaded there), or a checkpoint file "
        "(.pth, .pt, .safetensors, .npz; keys as in model.state_dict()); "
        "default: random initialisation",
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
    except MemoryError:
        print("featx: error: out of memory; try a smaller --input-size or fewer images",
              file=sys.stderr)
    except KeyboardInterrupt:
        print("featx: interrupted", file=sys.stderr)
        return 130
    return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
