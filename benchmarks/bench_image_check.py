"""Benchmark: start-up cost of the image check on a dataset of 10,000 images, default versus full mode.

Builds a ``HierImageFolder`` of 10,000 small JPEGs (100 leaves under 10 parents, 80 train and 20 test
images each; generated once under ``--root``) and times what a run does with its images before the
first training step: the dataset read with its image check, then the engine's
:func:`~hgclip.datasets.image_check.check_dataset_images` call. Two configs, in one run:

* ``DATASET.CHECK_IMAGES exists`` (the default): one ``os.stat`` per image, no image opened;
* ``DATASET.CHECK_IMAGES decode``: every image decoded (8 threads), which is what every start paid
  before by default (``DATASET.VERIFY_IMAGES True`` decoded every train/val/test image).

Files are read from the page cache in both (the generation, then alternating repeats, warm it);
on a cold or network disk the decode pass costs far more. Usage::

    python -m hgclip.benchmarks.bench_image_check [--root /tmp/hgclip_bench_images] [--repeats 3]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import time

import numpy as np
from PIL import Image

from ..datasets.image_check import check_dataset_images
from ..project import get_cfg
from ..runtime.dassl_api import build_dataset

FOLDER = "bench_10k"
PARENTS, LEAVES_PER_PARENT, TRAIN, TEST = 10, 10, 80, 20  # 100 leaves x 100 images = 10,000


def leaf_name(parent: int, leaf: int) -> str:
    return f"leaf{parent:02d}{leaf:02d}"


def make_dataset(root: str) -> int:
    """Write the image folder under ``root`` once (a marker file says it is complete); returns its image count."""
    target = os.path.join(root, FOLDER)
    count = PARENTS * LEAVES_PER_PARENT * (TRAIN + TEST)
    marker = os.path.join(target, ".complete")
    if os.path.isfile(marker):
        return count
    rng = np.random.RandomState(0)
    lines = ["levels: group > class"]
    for parent in range(PARENTS):
        for leaf in range(LEAVES_PER_PARENT):
            name = leaf_name(parent, leaf)
            lines.append(f"group{parent:02d} > {name}")
            for split, number in (("train", TRAIN), ("test", TEST)):
                folder = os.path.join(target, "images", split, name)
                os.makedirs(folder, exist_ok=True)
                for index in range(number):
                    pixels = rng.randint(0, 255, (32, 32, 3), dtype=np.uint8)
                    Image.fromarray(pixels).save(os.path.join(folder, f"{index:03d}.jpg"), quality=90)
    with open(os.path.join(target, "hierarchy.txt"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    open(marker, "w").close()
    return count


def start_up_seconds(root: str, mode: str) -> float:
    """Seconds to read the dataset with ``DATASET.CHECK_IMAGES mode`` and run the engine's image check."""
    cfg = get_cfg()
    cfg.DATASET.NAME = "HierImageFolder"
    cfg.DATASET.ROOT = root
    cfg.DATASET.HIERIMAGEFOLDER.DIR = FOLDER
    cfg.DATASET.CHECK_IMAGES = mode
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        dataset = build_dataset(cfg)
        check_dataset_images(cfg, dataset)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default="/tmp/hgclip_bench_images", help="where the 10,000 images are generated")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    images = make_dataset(args.root)
    times: dict[str, list[float]] = {"exists": [], "decode": []}
    for _ in range(max(1, args.repeats)):
        for mode in times:
            times[mode].append(start_up_seconds(args.root, mode))
    default, full = statistics.median(times["exists"]), statistics.median(times["decode"])
    print(f"{images:,} images, median of {len(times['exists'])} runs:")
    print(f"  before (every image decoded, the old default DATASET.VERIFY_IMAGES True): {full:.2f} s")
    print(f"  after  (DATASET.CHECK_IMAGES exists, the default: no image opened):       {default:.2f} s")
    print(f"  the default start-up check is {full / default:.1f}x faster")


if __name__ == "__main__":
    main()
