"""Contact sheet: a trained snapshot beside the embedded default and the data it learned from.

Usage: ``python checkpoints/compare_trained.py DATA.zip RUN_DIR OUT.png`` — row 1: eight images spread over the
dataset; row 2: the embedded default (seeds 0-7, psi 1); row 3: RUN_DIR's newest snapshot, same seeds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from musicvideo.generator import load_generator
from musicvideo.train import ImageZipDataset

THUMB = 96
SEEDS = range(8)


def samples(path: Path | None) -> list[Image.Image]:
    """Eight images of a generator (None = the embedded default), one per seed, as thumbnails."""
    G = load_generator(path)
    z = torch.from_numpy(np.stack([np.random.RandomState(s).randn(G.z_dim) for s in SEEDS])).float()
    with torch.no_grad():
        img = G.synthesis(G.mapping(z, truncation_psi=1.0), noise_mode="const")
    img = ((img.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    return [Image.fromarray(i).resize((THUMB, THUMB), Image.LANCZOS) for i in img]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("run")
    parser.add_argument("output")
    args = parser.parse_args()
    snapshot = sorted(Path(args.run).glob("network-snapshot-*.safetensors"))[-1]
    data = ImageZipDataset(args.data)
    picks = np.linspace(0, len(data) - 1, len(SEEDS)).astype(int)
    real = [Image.fromarray(data[int(i)][0].permute(1, 2, 0).numpy()).resize((THUMB, THUMB), Image.LANCZOS)
            for i in picks]
    rows = [(f"data ({Path(args.data).name})", real), ("embedded default (hand-tuned, untrained)", samples(None)),
            (f"{snapshot.name}", samples(snapshot))]
    label = 16
    sheet = Image.new("RGB", (len(SEEDS) * (THUMB + 4), len(rows) * (THUMB + label + 4)), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (name, images) in enumerate(rows):
        y = r * (THUMB + label + 4)
        draw.text((4, y + 2), name, fill="black")
        for c, image in enumerate(images):
            sheet.paste(image, (c * (THUMB + 4) + 2, y + label))
    sheet.save(args.output, optimize=True)
    print(args.output)


if __name__ == "__main__":
    main()
