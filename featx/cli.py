"""The ``featx`` command: list a model's graph nodes, or extract features from a photo.

``featx nodes resnet18`` prints the names that ``get_graph_node_names`` gives (train and eval
mode); ``featx nodes resnet18 --input-size 224 224`` prints a table of every node's op, output
shape, parameters and FLOPs (``get_graph_node_info``, shape inference only).
``featx extract resnet18 --nodes layer1 layer4`` preprocesses an image (the bundled
sample photo by default) as torchvision's ImageNet preset does, runs
``create_feature_extractor``, prints one line of statistics per returned node and saves the
arrays to an ``.npz`` file whose keys are the node names. ``featx extract resnet18 photos/
--nodes layer4`` (files, folders, globs as INPUT arguments) streams a whole collection through
:func:`featx.extract.write_features` in batches, to ``.npz`` or one ``.npy`` per node, skipping
unreadable files and continuing an interrupted run.

Errors a user can cause (unknown model or node, unreadable image or weights file) print one
line, ``featx: error: ...``, on stderr and exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import sys
import time
from collections.abc import Iterator, Sequence
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


#: Builders that warn (FutureWarning, as torchvision's do) unless ``init_weights``
#: is given, an argument the command line has no option for.
_INIT_WEIGHTS_MODELS = ("googlenet", "inception_v3")


def _get_model(name: str, init_weights: bool = True, num_classes: int | None = None) -> Any:
    """``get_model(name)``; ``init_weights`` (googlenet, inception_v3 only): their
    truncated-normal initialisation (torchvision's current default), or a fast
    default one where the values do not matter (``featx nodes``); ``num_classes``: the
    classifier's outputs (--num-classes), the builder's default if None."""
    from featx import models
    from featx.models._api import unknown_model_message

    kwargs: dict[str, Any] = (
        {"init_weights": init_weights} if name.lower() in _INIT_WEIGHTS_MODELS else {}
    )
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    try:
        return models.get_model(name, **kwargs)
    except ValueError:
        if name.lower() in models.list_models():  # the model's own error
            raise
        raise CLIError(unknown_model_message(name, "Run 'featx models'")) from None
    except MemoryError:
        if num_classes is None:
            raise
        raise CLIError(
            f"--num-classes {num_classes}: the model's classifier for that many classes does "
            f"not fit in memory; expected the number of classes of the checkpoint"
        ) from None


# --------------------------------------------------------------------------- featx models


def _cmd_models(args: argparse.Namespace) -> int:
    from featx import models

    for name in models.list_models():
        print(name)
    return 0


# --------------------------------------------------------------------------- featx nodes


def _cmd_nodes(args: argparse.Namespace) -> int:
    from featx.models.feature_extraction import get_graph_node_names

    model = _get_model(args.model, init_weights=False)  # names and shapes only
    train, evaluation = get_graph_node_names(model, suppress_diff_warning=True)
    if args.input_size is not None:
        return _print_node_tables(args, model, list(train) == list(evaluation))
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


def _input_shape(sizes: list[int]) -> tuple[int, int, int, int]:
    """--input-size H [W] -> (1, 3, H, W)."""
    if len(sizes) > 2 or any(s < 1 for s in sizes):
        raise CLIError(
            "--input-size takes one or two positive ints, H W (H alone means H H), got "
            + " ".join(str(s) for s in sizes)
        )
    h, w = (sizes[0], sizes[-1])
    return (1, 3, h, w)


def _human(n: int) -> str:
    """1234 -> '1.2K', 4089184256 -> '4.1G'; below 1000 the number itself."""
    for unit, scale in (("E", 10**18), ("P", 10**15), ("T", 10**12),
                        ("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if n >= scale:
            return f"{n / scale:.1f}{unit}"
    return str(n)


def _shape_text(shape: Any) -> str:
    if shape is None:
        return "-"
    if shape and isinstance(shape[0], tuple):  # a tuple of arrays
        return ", ".join(_shape_text(s) for s in shape)
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _print_node_tables(args: argparse.Namespace, model: Any, same: bool) -> int:
    """The --input-size table(s): node, op, output shape, params, FLOPs, and totals."""
    from featx.models.feature_extraction import get_graph_node_info

    shape = _input_shape(args.input_size)
    if args.mode != "both":
        modes = [args.mode]
    elif same:
        modes = ["eval"]
    else:
        modes = ["train", "eval"]
        print(f"# {args.model}: train and eval mode differ; one table per mode")
    failed = []
    for mode in modes:
        try:
            rows = get_graph_node_info(model, shape, mode=mode)
        except ValueError as exc:
            if len(modes) == 1:
                raise
            # the other mode's table is still worth printing
            failed.append(f"{mode} mode: {exc}")
            continue
        note = ", the same in train and eval mode" if args.mode == "both" and same else ""
        print(f"# {args.model}, input {shape}, {mode} mode: {len(rows)} nodes{note}")
        table = [("node", "op", "output shape", "params", "FLOPs")]
        table += [
            (r.name, r.op, _shape_text(r.shape), _human(r.params), _human(r.flops))
            for r in rows
        ]
        params, flops = sum(r.params for r in rows), sum(r.flops for r in rows)
        table.append(("total", "", "", _human(params), _human(flops)))
        widths = [max(len(row[i]) for row in table) for i in range(5)]
        for row in table:
            left = "  ".join(row[i].ljust(widths[i]) for i in range(3))
            right = "  ".join(row[i].rjust(widths[i]) for i in (3, 4))
            print(f"{left}  {right}")
        print(
            f"# total: {params:,} parameters, {flops:,} FLOPs (multiply-adds of "
            "convolutions, linear layers and matmul, each counted as one)"
        )
    if failed:
        raise CLIError("; ".join(failed))
    return 0


# --------------------------------------------------------------------------- featx extract


@contextlib.contextmanager
def _node_hint(model: str, nodes: list[str], module: Any) -> Iterator[None]:
    """An unknown --nodes name that is an existing file or a glob was most likely meant as
    an input: --nodes takes every following word, so inputs go before it. A name that only
    the train graph has (GoogLeNet's aux1) is named as such: the command runs eval mode. The
    library's advice for Python callers (get_graph_node_names, train_return_nodes) becomes
    'featx nodes MODEL'."""
    from featx.feature_extraction import UnknownNodeError

    try:
        yield
    except UnknownNodeError as e:
        from featx.models.feature_extraction import get_graph_node_names

        train, evaluation = get_graph_node_names(module, suppress_diff_warning=True)

        def has(names: Any, q: str) -> bool:
            return any(n == q or n.startswith(q + ".") for n in names)

        for q in nodes:
            if has(train, q) and not has(evaluation, q):
                raise CLIError(
                    f"node {q!r} exists only in {model}'s train-mode graph (it runs in "
                    f"train mode only); featx extract runs the model in eval mode: "
                    f"choose a node that 'featx nodes {model} --mode eval' lists"
                ) from None
        paths = [n for n in nodes if os.path.exists(n) or glob.has_magic(n)]
        if paths:
            raise CLIError(
                f"{e.detail} ({paths[0]!r} is a path: --nodes takes every word after it, "
                f"so give the inputs first, e.g. 'featx extract {model} {paths[0]} --nodes "
                f"{' '.join(n for n in nodes if n not in paths) or 'NODE'}')"
            ) from None
        raise CLIError(
            f"{e.detail} 'featx nodes {model}' lists the node names"
        ) from None


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
    from featx.hub import looks_like_checkpoint, refuse_folder

    enum_cls = _weights_enum(model_name)
    if looks_like_checkpoint(spec):
        try:
            refuse_folder(spec, "--weights")
        except IsADirectoryError as e:
            raise CLIError(f"{e}; or a weights name such as DEFAULT") from None
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
    prefix = _wrapper_prefix(model, state)
    if prefix:
        state = {k[len(prefix):]: v for k, v in state.items()}
        print(f"featx: {path}: keys read without their {prefix!r} prefix (a model saved "
              f"inside a wrapper such as DataParallel)", file=sys.stderr)
    try:
        model.load_state_dict(state)
    except (KeyError, ValueError, RuntimeError, TypeError) as e:
        raise CLIError(
            f"weights {path!r} do not fit the model: {_one_line(e)}{_classes_hint(model, state)}"
        ) from None


def _wrapper_prefix(model: Any, state: Any) -> str:
    """The first key component plus '.' that every key of ``state`` has and none of the
    model's (``module.`` of DataParallel) when, without it, the keys are the model's; else
    ''. The command line cannot rename keys as Python code would."""
    if not isinstance(state, dict) or not state:
        return ""
    prefix = str(next(iter(state))).split(".", 1)[0] + "."
    own = set(model.state_dict())
    if any(k.startswith(prefix) for k in own):
        return ""
    stripped = {str(k)[len(prefix):] for k in state if str(k).startswith(prefix)}
    return prefix if len(stripped) == len(state) and stripped == own else ""


def _classes_hint(model: Any, state: Any) -> str:
    """'; ... --num-classes N' when the checkpoint has the model's keys and differs only in the
    first size of some arrays, all N there (a classifier fine-tuned to N classes), else ''."""
    import numpy as np

    own = model.state_dict()
    if not isinstance(state, dict) or set(state) != set(own):
        return ""
    shapes = {k: (np.shape(state[k]), np.shape(own[k])) for k in own}
    differ = [theirs for theirs, ours in shapes.values() if theirs != ours]
    if not differ or any(
        len(theirs) != len(ours) or theirs[1:] != ours[1:] for theirs, ours in shapes.values()
    ):
        return ""
    sizes = {theirs[0] for theirs in differ}
    if len(sizes) != 1:
        return ""
    n = sizes.pop()
    return f"; the checkpoint's classifier has {n} outputs: give --num-classes {n}"


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
    """Seeds featx's generator with ``seed`` (if given) and returns the seed in use.

    Only the seeds featx prints are accepted, 0..2**64-1: ``featx.manual_seed`` maps a
    negative seed as torch does (-1 is 2**64-1), but typed on a command line -1 more
    often means "any seed", so it is refused rather than echoed back as 2**64-1.
    """
    import featx

    if seed is not None and not 0 <= seed < 1 << 64:
        raise CLIError(
            f"--seed must be in 0..{(1 << 64) - 1}, got {seed} (omit --seed for a fresh "
            "seed, which is printed)")
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
    for given in (path, path + ".npz"):  # /dev/null would become /dev/null.npz, in /dev
        if os.path.exists(given) and not (os.path.isfile(given) or os.path.isdir(given)):
            raise CLIError(
                f"--out {given!r} is a device, pipe or socket; expected a .npz file name")
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


def _check_nodes_and_sizes(args: argparse.Namespace) -> None:
    from featx.hub import looks_like_checkpoint

    if args.num_classes is not None:
        if args.num_classes < 1:
            raise CLIError(
                f"--num-classes must be a number of classes >= 1, got {args.num_classes}"
            )
        if args.weights is not None and not looks_like_checkpoint(args.weights):
            raise CLIError(
                f"--num-classes works with random weights or a checkpoint file; torchvision's "
                f"weights {args.weights!r} fix the classifier's outputs"
            )
    twice = next((n for i, n in enumerate(args.nodes) if n in args.nodes[:i]), None)
    if twice is not None:
        raise CLIError(f"--nodes names {twice!r} more than once; give each node once")
    for option, value in (("--input-size", args.input_size),
                          ("--resize-size", args.resize_size)):
        if value is not None and not 1 <= value <= MAX_SIDE:
            raise CLIError(
                f"{option} must be a number of pixels in [1, {MAX_SIDE}], got {value}"
            )


def _build_model(args: argparse.Namespace, member: Any, weights_path: str | None) -> Any:
    """The model in eval mode, with --weights loaded (or random from the seed)."""
    if member is not None and weights_path is None:
        model = _build_pretrained(args.model, member)
    else:
        model = _get_model(args.model, num_classes=args.num_classes)
        if weights_path is not None:
            _load_weights(model, weights_path)
    model.eval()
    return model


def _build_transform(args: argparse.Namespace, member: Any) -> Any:
    """The weights' own preset (resize, crop, interpolation, mean/std) when known, else
    ImageNet's; an explicit --input-size / --resize-size overrides it."""
    from featx.transforms import ImageClassification

    sizes: dict[str, Any] = {}
    if args.input_size is not None:
        sizes["crop_size"] = args.input_size
        sizes["resize_size"] = int(args.input_size * 256 / 224)
    if args.resize_size is not None:
        sizes["resize_size"] = args.resize_size
    if member is not None:
        return member.transforms(**sizes)
    return ImageClassification(**sizes)


def _print_weights_line(args: argparse.Namespace, member: Any, weights_path: str | None,
                        seed: int) -> None:
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


def _describe_transform(transform: Any, member: Any) -> str:
    from featx.transforms import IMAGENET_MEAN, IMAGENET_STD

    norm = (
        "ImageNet mean/std"
        if (tuple(transform.mean), tuple(transform.std))
        == (IMAGENET_MEAN, IMAGENET_STD)
        else f"mean {tuple(transform.mean)}, std {tuple(transform.std)}"
    )
    interp = transform.interpolation
    interp = "" if interp == "bilinear" else f", {getattr(interp, 'value', interp)}"
    preset = "; the weights' preset" if member is not None else ""
    return (
        f"resize {transform.resize_size}, center crop "
        f"{transform.crop_size}{interp}, {norm}{preset}"
    )


#: Options that only the streaming mode (INPUT arguments) uses: (dest, option, default).
_STREAM_OPTIONS = (
    ("batch_size", "--batch-size", None),
    ("format", "--format", None),
    ("pool", "--pool", None),
    ("flatten", "--flatten", False),
    ("save_grid", "--save-grid", None),
    ("workers", "--workers", 2),
)


def _cmd_extract(args: argparse.Namespace) -> int:
    import numpy as np

    from featx.extract import reduce_features, save_npz
    from featx.models.feature_extraction import create_feature_extractor
    from featx.transforms import load_image, sample_image_path

    if args.threads is not None:
        _set_threads(args.threads)
    if args.inputs:
        if args.image:
            raise CLIError("give images either as INPUT arguments or with --image, not both")
        return _cmd_extract_many(args)
    for dest, option, default in _STREAM_OPTIONS:
        if getattr(args, dest) != default:
            raise CLIError(
                f"{option} works on INPUT files, folders or globs given after MODEL, "
                f"e.g. featx extract {args.model} photos/ --nodes ... {option} ..."
            )
    _check_nodes_and_sizes(args)
    member, weights_path = (
        _resolve_weights(args.model, args.weights) if args.weights else (None, None)
    )

    out = _output_path("features.npz" if args.out is None else args.out)

    image_paths = args.image or [sample_image_path()]
    images = []
    for p in image_paths:
        try:
            images.append(load_image(p))
        except IsADirectoryError as e:
            raise CLIError(f"{_one_line(e)}; give folders and glob patterns as INPUT "
                           f"arguments after MODEL: featx extract {args.model} {p} "
                           "--nodes ...") from None
        except (OSError, ValueError) as e:
            raise CLIError(_one_line(e)) from None

    seed = _seed(args.seed)
    model = _build_model(args, member, weights_path)
    transform = _build_transform(args, member)
    x = transform.batch(images)

    # With categorised weights, also run the model's final node (its classifier) for top-5.
    categories = member.meta.get("categories") if member is not None else None
    head = _final_node(model) if categories else None
    return_nodes = list(args.nodes)
    if head is not None and head not in return_nodes:
        return_nodes.append(head)

    t0 = time.perf_counter()
    # Only the eval graph runs here, so a train/eval difference needs no warning.
    with _node_hint(args.model, args.nodes, model):
        extractor = create_feature_extractor(
            model, return_nodes=return_nodes, suppress_diff_warning=True
        )
    t1 = time.perf_counter()
    try:  # one array per node, batch on axis 0 (a tuple node is refused)
        features = reduce_features(extractor(x))
    except ValueError as e:
        raise CLIError(_one_line(e)) from None
    t2 = time.perf_counter()
    logits = features.get(head) if head is not None else None
    if head is not None and head not in args.nodes:
        features = {k: v for k, v in features.items() if k != head}

    print(f"model:   {args.model} (eval mode)")
    _print_weights_line(args, member, weights_path, seed)
    for p, im in zip(image_paths, images):
        print(f"image:   {p} ({im.width}x{im.height})")
    print(f"input:   {_fmt_shape(x.shape)} float32 ({_describe_transform(transform, member)})")
    print(f"time:    trace {1e3 * (t1 - t0):.1f} ms, run {1e3 * (t2 - t1):.1f} ms")

    rows = [("node", "shape", "min", "mean", "max")]
    for name, arr in features.items():
        a = np.asarray(arr)
        if a.size:
            # Four significant digits, not four decimals: deep nodes of some randomly
            # initialised models (EfficientNet, as in torchvision) are around 1e-13.
            stats = (f"{a.min():.4g}", f"{a.mean(dtype=np.float64):.4g}", f"{a.max():.4g}")
        else:
            stats = ("-", "-", "-")
        rows.append((name, _fmt_shape(a.shape), *stats))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1])]
        cells += [c.rjust(w) for c, w in zip(r[2:], widths[2:])]
        print("  ".join(cells).rstrip())

    try:
        save_npz(out, features)
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


def _set_threads(n: int) -> None:
    import featx

    try:
        featx.set_num_threads(n)
    except (ValueError, TypeError) as e:
        raise CLIError(f"--threads: {_one_line(e)}") from None


def _stream_output(args: argparse.Namespace) -> tuple[str, str]:
    """(output, work folder holding progress.json) of the streaming mode, checked early."""
    fmt = args.format or "npz"
    if fmt == "npz":
        out = _output_path("features.npz" if args.out is None else args.out)
        return out, out + ".parts"
    out = "features" if args.out is None else args.out
    if not out.strip():
        raise CLIError(f"--out needs a folder name, got {out!r}")
    if os.path.exists(out) and not os.path.isdir(out):
        raise CLIError(f"cannot write {out!r}: it exists and is not a folder")
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        raise CLIError(f"cannot write {out!r}: its parent folder does not exist")
    return out, out


def _recorded_seed(work: str) -> int | None:
    """The seed an earlier run into ``work`` used, so that a re-run continues with it."""
    import json

    from featx.extract import PROGRESS_FILE

    try:
        with open(os.path.join(work, PROGRESS_FILE), encoding="utf-8") as f:
            state = json.load(f)
        seed = state["settings"]["config"].get("seed")
        return None if seed is None else int(seed)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _cmd_extract_many(args: argparse.Namespace) -> int:
    """featx extract MODEL INPUT... : stream files, folders and globs to npz / npy-dir."""
    from tqdm import tqdm  # type: ignore[import-untyped]

    from featx.extract import BatchInfo, FeatureStream, list_images, write_features
    from featx.models.feature_extraction import create_feature_extractor

    _check_nodes_and_sizes(args)
    if args.batch_size is not None and args.batch_size < 1:
        raise CLIError(f"--batch-size must be a positive number of images, got {args.batch_size}")
    if args.workers < 0:
        raise CLIError(f"--workers must be a number of threads >= 0, got {args.workers}")
    member, weights_path = (
        _resolve_weights(args.model, args.weights) if args.weights else (None, None)
    )
    out, work = _stream_output(args)
    fmt = args.format or "npz"
    try:
        files = list_images(args.inputs)
    except (OSError, ValueError) as e:
        raise CLIError(_one_line(e)) from None
    grid_dir = args.save_grid
    if grid_dir is not None:
        try:
            os.makedirs(grid_dir, exist_ok=True)
        except OSError as e:
            raise CLIError(f"--save-grid {grid_dir!r}: {_one_line(e)}") from None

    random_weights = args.weights is None
    seed_arg = args.seed
    if random_weights and seed_arg is None:
        seed_arg = _recorded_seed(work)
    seed = _seed(seed_arg)
    model = _build_model(args, member, weights_path)
    transform = _build_transform(args, member)
    with _node_hint(args.model, args.nodes, model):
        extractor = create_feature_extractor(
            model, return_nodes=list(args.nodes), suppress_diff_warning=True
        )
    config = {
        "model": args.model,
        "nodes": list(args.nodes),
        "weights": args.weights,
        "seed": seed if random_weights else None,
        "transform": repr(transform),
    }
    if args.num_classes is not None:  # only then, so records made without the option still fit
        config["num_classes"] = args.num_classes
    pool = args.pool or "none"

    print(f"model:   {args.model} (eval mode)")
    _print_weights_line(args, member, weights_path, seed)
    print(f"inputs:  {len(files)} file{'s' if len(files) != 1 else ''} "
          f"(sorted by path; {_describe_transform(transform, member)})")

    bar: Any = None
    t0 = time.perf_counter()

    def on_start(stream: FeatureStream, rows_done: int) -> None:
        nonlocal bar
        if stream.position:
            print(f"resume:  {stream.position} of {len(files)} files done ({rows_done} rows) "
                  f"in {work}", flush=True)
        sys.stdout.flush()
        bar = tqdm(total=len(files), initial=stream.position, unit="img", file=sys.stderr,
                   dynamic_ncols=True, smoothing=0.1)

    reported: set[str] = set()

    def on_skip(path: str, reason: str) -> None:
        reported.add(path)
        message = f"featx: skipped {path}: {reason}"
        if bar is not None:
            bar.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr)

    grids_written = 0

    def on_batch(info: BatchInfo) -> None:
        nonlocal grids_written
        if grid_dir is not None:
            grids_written += _save_grids(grid_dir, info)
        if bar is not None:
            bar.update(info.files_done - bar.n)

    try:
        result = write_features(
            extractor, files, out, format=fmt, transform=transform,
            batch_size=args.batch_size or 32, pool=pool, flatten=args.flatten,
            num_workers=args.workers, config=config,
            on_batch=on_batch, on_skip=on_skip, on_start=on_start,
        )
    except OSError as e:  # images that cannot be read are skipped, not raised
        raise CLIError(f"cannot write {out!r}: {_one_line(e)}") from None
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - t0
    if result.was_complete:
        print(f"resume:  {work} is already complete; nothing to do")
    for path, reason in result.skipped:
        if path not in reported:  # skipped by an earlier, interrupted run
            print(f"featx: skipped {path}: {reason} (earlier run)", file=sys.stderr)
    done_now = result.rows - result.resumed_rows
    skipped = len(result.skipped)
    rate = f", {done_now / seconds:.1f} images/s" if done_now and seconds > 0 else ""
    print(f"images:  {result.rows} read, {skipped} skipped (unreadable"
          f"{'; listed on stderr' if skipped else ''}){rate}")
    if result.rows == 0:
        raise CLIError(f"none of the {len(files)} files is a readable image")
    rows = [("node", "shape")] + [(k, _fmt_shape(v)) for k, v in result.shapes.items()]
    width = max(len(r[0]) for r in rows)
    for name, shape in rows:
        print(f"{name.ljust(width)}  {shape}")
    n = len(result.shapes)
    what = "keys = node names" if fmt == "npz" else "one .npy per node"
    print(f"wrote:   {out} ({n} array{'s' if n != 1 else ''}, {what}); "
          f"row i is line i of {result.files_index}")
    if grid_dir is not None:
        if grids_written:
            print(f"grids:   {grid_dir} ({grids_written} PNG"
                  f"{'s' if grids_written != 1 else ''}, one per image and 4-D node)")
        elif result.was_complete or result.rows == result.resumed_rows:
            print("grids:   none written (no image was read in this run)")
        else:
            print("grids:   none written: no requested node gives an (N, C, H, W) map")
    return 0


def _save_grids(grid_dir: str, info: Any) -> int:
    """One PNG of the channels per image and 4-D feature: ROW_STEM_NODE.png; returns
    how many were written."""
    from featx.extract import _safe_name
    from featx.utils import feature_grid

    written = 0
    for i, path in enumerate(info.paths):
        stem = _safe_name(os.path.splitext(os.path.basename(path))[0])
        for key, arr in info.features.items():
            if getattr(arr, "ndim", 0) == 4:
                name = f"{info.first_row + i:06d}_{stem}_{_safe_name(key)}.png"
                feature_grid(arr[i]).save(os.path.join(grid_dir, name))
                written += 1
    return written


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
        help="print a model's graph node names (get_graph_node_names), or with "
        "--input-size a table of shapes, parameters and FLOPs",
        description=(
            "Print the node names that can be requested from MODEL, one per line. With "
            "--input-size H W, print a table instead: node, op, output shape for an input "
            "of shape (1, 3, H, W), parameters, FLOPs (multiply-adds counted as one, as "
            "torchvision's GFLOPS), with totals; found by shape inference without "
            "running the model (get_graph_node_info)."
        ),
    )
    p.add_argument("model", metavar="MODEL", help="model name, e.g. resnet18")
    p.add_argument(
        "--mode",
        choices=("train", "eval", "both"),
        default="both",
        help="which trace to list; 'both' (default) says whether they differ (with "
        "--input-size: one table if they do not, else one per mode)",
    )
    p.add_argument(
        "--input-size",
        type=int,
        nargs="+",
        default=None,
        metavar=("H", "W"),
        help="print the table for an input of shape (1, 3, H, W) pixels; H alone means H H",
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
        "inputs",
        nargs="*",
        default=[],  # else argparse calls INPUT required in its usage errors
        metavar="INPUT",
        help="image files, folders (searched recursively for image files) or glob patterns, "
        "before --nodes; streamed in batches, in sorted path order, to --out with one row "
        "per readable image (unreadable files are skipped and listed); a re-run with the "
        "same --out continues an interrupted one",
    )
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
        "--num-classes",
        type=int,
        default=None,
        metavar="N",
        help="outputs of the model's classifier, for a checkpoint fine-tuned to N classes "
        "(default: the model's, 1000 for ImageNet models)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of the random initialisation, 0..2**64-1 (default: a fresh one, printed)",
    )
    p.add_argument(
        "--out",
        default=None,
        metavar="PATH",
        help="output .npz file (default: features.npz), or folder with --format npy-dir "
        "(default: features)",
    )
    p.add_argument(
        "--format",
        choices=("npz", "npy-dir"),
        default=None,
        help="with INPUTs: one .npz (default; PATH.files.txt names the rows) or a folder "
        "with one .npy per node and files.txt",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=None,
        metavar="N",
        help="with INPUTs: images per batch (default 32)",
    )
    p.add_argument(
        "--pool",
        choices=("none", "avg", "max"),
        default=None,
        help="with INPUTs: global average or max over H and W of (N, C, H, W) features",
    )
    p.add_argument(
        "--flatten",
        action="store_true",
        help="with INPUTs: reshape each image's features to one vector",
    )
    p.add_argument(
        "--save-grid",
        default=None,
        metavar="DIR",
        help="with INPUTs: write a PNG of the channels of each (N, C, H, W) node per image",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="threads per kernel (featx.set_num_threads; default: the usable CPUs)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=2,
        metavar="N",
        help="with INPUTs: threads that decode images (default 2)",
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
