"""Write ``featx/models/weights.json``: the facts of torchvision's classification weights.

Run with the oracle virtual environment (torch + torchvision installed)::

    /work/main/.venv-oracle/bin/python tools/make_weights_meta.py

For every model of ``torchvision.models.list_models(module=torchvision.models)`` (the ImageNet
classification models) it reads ``torchvision.models.get_model_weights(name)`` and records, per
weights enum class and member: the URL, the file name, the SHA-256 hash prefix in the file name
(torch.hub's convention ``<name>-<hexprefix>.<ext>``, the first match of ``-([a-f0-9]*)\\.``),
``meta`` (``num_params``, ``min_size``, ``_metrics``, ``_ops`` (GFLOPS), ``_file_size`` (MB),
``recipe``, ``license``, ``_docs`` with whitespace collapsed, and ``categories`` as an index into
the shared ``category_lists``), the preset's parameters (crop_size, resize_size in pixels,
interpolation, mean, std), which member ``DEFAULT`` aliases, and the weights that the legacy
``pretrained=True`` stands for. Only data is written; no torchvision code is copied.

The output is deterministic (sorted keys where order carries no meaning, enum member order
kept), so re-running it on the same torchvision gives the same bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import Any

HASH_REGEX = re.compile(r"-([a-f0-9]*)\.")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(ROOT, "featx", "models", "weights.json")


def _legacy_default(builder: Any) -> str | None:
    """Member name that ``builder(pretrained=True)`` means, read from the legacy decorator."""
    from torchvision.models._api import WeightsEnum

    seen: set[int] = set()
    stack = [builder]
    while stack:
        fn = stack.pop()
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        for cell in getattr(fn, "__closure__", None) or ():
            try:
                value = cell.cell_contents
            except ValueError:  # empty cell
                continue
            if callable(value) and hasattr(value, "__closure__"):
                stack.append(value)
            if isinstance(value, dict) and "weights" in value:
                entry = value["weights"]
                if isinstance(entry, tuple) and len(entry) == 2:
                    default = entry[1]
                    if callable(default) and not isinstance(default, WeightsEnum):
                        default = default({"pretrained": True})
                    if isinstance(default, WeightsEnum):
                        return default.name
    return None


def _transforms(member: Any) -> dict[str, Any]:
    preset = (
        member.transforms()
    )  # torchvision's ImageClassification with every value filled
    crop = list(preset.crop_size)
    resize = list(preset.resize_size)
    return {
        "crop_size": int(crop[0]),
        "resize_size": int(resize[0]),
        "interpolation": str(preset.interpolation.value),
        "mean": [float(v) for v in preset.mean],
        "std": [float(v) for v in preset.std],
    }


def collect() -> dict[str, Any]:
    import torch
    import torchvision
    from torchvision import models

    category_lists: list[list[str]] = []
    enums: dict[str, Any] = {}
    model_to_enum: dict[str, str] = {}
    for model_name in models.list_models(module=models):
        enum_cls = models.get_model_weights(model_name)
        model_to_enum[model_name] = enum_cls.__name__
        if enum_cls.__name__ in enums:
            enums[enum_cls.__name__]["models"].append(model_name)
            continue
        members: dict[str, Any] = {}
        default_alias = None
        for member_name, member in enum_cls.__members__.items():
            if member_name != member.name:  # an alias such as DEFAULT
                if member_name == "DEFAULT":
                    default_alias = member.name
                continue
            file_name = os.path.basename(member.url)
            m = HASH_REGEX.search(file_name)
            meta = dict(member.meta)
            cats = meta.pop("categories", None)
            if cats is not None:
                cats = list(cats)
                if cats not in category_lists:
                    category_lists.append(cats)
                cats = category_lists.index(cats)
            out_meta: dict[str, Any] = {"categories": cats}
            for key, value in meta.items():
                if key == "_docs":
                    value = " ".join(str(value).split())
                elif key == "min_size":
                    value = list(value)
                out_meta[key] = value
            members[member_name] = {
                "url": member.url,
                "file_name": file_name,
                "hash_prefix": m.group(1) if m else None,
                "transforms": _transforms(member),
                "meta": out_meta,
            }
        enums[enum_cls.__name__] = {
            "models": [model_name],
            "members": members,
            "DEFAULT": default_alias,
            "legacy_pretrained": _legacy_default(models.get_model_builder(model_name)),
        }
    return {
        "_comment": (
            "Facts about torchvision's classification weights, written by "
            "tools/make_weights_meta.py; do not edit by hand."
        ),
        "torchvision_version": torchvision.__version__,
        "torch_version": torch.__version__,
        "models": dict(sorted(model_to_enum.items())),
        "enums": dict(sorted(enums.items())),
        "category_lists": category_lists,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=DEFAULT_OUT, help="output JSON path")
    args = parser.parse_args(argv)
    data = collect()
    text = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, args.out)
    n = sum(len(e["members"]) for e in data["enums"].values())
    print(
        f"wrote {args.out}: {len(data['enums'])} enums, {n} weights, "
        f"{len(data['models'])} models, {len(text)} bytes",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
