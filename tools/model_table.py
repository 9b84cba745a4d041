"""Prints the README's table of supported models (markdown).

For every model with committed torchvision golden names, it builds the featx
model, lists its node names in train and eval mode and compares them (and the
state_dict layout) with torchvision's. Needs only featx, not torch::

    python tools/model_table.py > /tmp/table.md
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

import featx.models
from featx.models.feature_extraction import get_graph_node_names

GOLDEN = Path(__file__).resolve().parent.parent / "tests" / "golden"


def main() -> None:
    print("| model | nodes (train / eval) | parameters | names, state_dict = torchvision |")
    print("|---|---|---|---|")
    for path in sorted((GOLDEN / "names").glob("*.json"), key=lambda p: p.stem):
        name = path.stem
        want = json.loads(path.read_text(encoding="utf-8"))
        layout = json.loads((GOLDEN / "state_dict" / f"{name}.json").read_text(
            encoding="utf-8"))
        model = featx.models.get_model(name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            train, eval_ = get_graph_node_names(model)
        sd = model.state_dict()
        same_layout = [[k, list(np.shape(v))] for k, v in sd.items()] == [
            [k, s] for k, s, _ in layout]
        same = train == want["train"] and eval_ == want["eval"] and same_layout
        params = sum(p.size for p in model.parameters())
        print(f"| `{name}` | {len(train)} / {len(eval_)} | {params:,} | "
              f"{'yes' if same else 'NO'} |")
        del model


if __name__ == "__main__":
    main()
