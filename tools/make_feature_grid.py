"""Regenerates docs/feature_grid.png, the feature-grid picture in the README.

The folder-to-features recipe's ``--save-grid`` writes pictures like this one. featx ships
no pretrained weights and this script downloads none, so the model is resnet18 with featx's
random initialisation (``featx.manual_seed(0)``): the channels are the responses to the first
32 of 64 random 7x7 filters (``conv1``, each channel min-max scaled by ``feature_grid``), i.e.
the photo's structure seen through untrained filters, not learned features. Run from the
repository root:

    python tools/make_feature_grid.py            # writes docs/feature_grid.png
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from PIL import Image

import featx
from featx.feature_extraction import create_feature_extractor
from featx.transforms import ImageClassification, load_image
from featx.utils import feature_grid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PHOTO = os.path.join(ROOT, "tests", "data", "photos", "astronaut.jpg")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "feature_grid.png"))
    parser.add_argument("--node", default="conv1")
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--scale", type=float, default=0.6, help="final resize factor")
    args = parser.parse_args()

    featx.manual_seed(0)
    model = featx.models.resnet18().eval()
    preset = ImageClassification(crop_size=224)
    image = load_image(PHOTO)
    x = preset.batch([image])  # (1, 3, 224, 224) float32
    features = create_feature_extractor(model, [args.node])(x)[args.node]
    grid = feature_grid(features[0], max_channels=args.channels, padding=2, ncols=8)
    # The input crop (what the model saw) on the left, at the grid's height.
    rgb = x[0].transpose(1, 2, 0) * np.array(preset.std) + np.array(preset.mean)
    photo = Image.fromarray(np.clip(rgb * 255, 0, 255).round().astype(np.uint8))
    photo = photo.resize((grid.height, grid.height), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (photo.width + 8 + grid.width, grid.height), (255, 255, 255))
    canvas.paste(photo, (0, 0))
    canvas.paste(grid.convert("RGB"), (photo.width + 8, 0))
    # Kept small for the repository (< 150 KB): resized, 128-colour palette.
    size = (round(canvas.width * args.scale), round(canvas.height * args.scale))
    canvas = canvas.resize(size, Image.Resampling.LANCZOS)
    canvas = canvas.quantize(128, Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    canvas.save(args.out, optimize=True)
    print(f"wrote {args.out}: {canvas.width}x{canvas.height}, "
          f"{os.path.getsize(args.out)} bytes; {args.node} {tuple(features.shape)}")


if __name__ == "__main__":
    main()
